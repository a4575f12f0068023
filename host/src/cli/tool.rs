//! `paddock tool …`: list the tools of enabled plugins and call one once.

use super::common::{
    ConfigArgs, NetworkArgs, SandboxArgs, Usage, data_dir, load_config, open_host,
};
use crate::Cli;
use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use paddock_plugins::{CallTarget, ToolCallFailure};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Subcommand)]
pub(crate) enum ToolCmd {
    /// List the tools of every enabled plugin with their JSON Schemas.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Call a tool once and print its output (exit 1 on a tool error, 2 on bad usage).
    Call(ToolCallArgs),
}

#[derive(Args)]
pub(crate) struct ToolCallArgs {
    /// The tool's name.
    pub(crate) name: String,
    /// The workspace the tool sees at /workspace.
    #[arg(long)]
    pub(crate) workspace: PathBuf,
    /// The input, a JSON object.
    #[arg(long, default_value = "{}")]
    pub(crate) input: String,
    /// The agent id passed to the tool.
    #[arg(long, default_value = "cli")]
    pub(crate) agent_id: String,
    /// paddock.toml (for its [sandbox] section; default: <data-dir>/paddock.toml when it exists).
    #[arg(long, env = "PADDOCK_CONFIG")]
    pub(crate) config: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) sandbox: SandboxArgs,
    #[command(flatten)]
    pub(crate) net: NetworkArgs,
    /// Print the result as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Runs `paddock tool …`.
pub(crate) async fn run(cli: &Cli, cmd: &ToolCmd) -> Result<ExitCode> {
    let mut host = open_host(cli).await?;
    match cmd {
        ToolCmd::List { json } => {
            let tools = host.tools()?;
            if *json {
                out!("{}", serde_json::to_string_pretty(&tools)?);
            } else if tools.is_empty() {
                out!("no tools: no enabled plugin offers any");
            } else {
                for t in &tools {
                    let ro = if t.spec.read_only { " (read-only)" } else { "" };
                    out!("{} [{}]{ro}", t.spec.name, t.plugin);
                    out!(
                        "  {}",
                        t.spec.description.lines().next().unwrap_or_default()
                    );
                    out!(
                        "  input schema: {}",
                        serde_json::to_string(&t.spec.input_schema)?
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        ToolCmd::Call(args) => {
            let workspace = std::fs::canonicalize(&args.workspace)
                .map_err(|e| Usage(format!("workspace {}: {e}", args.workspace.display())))?;
            if !workspace.is_dir() {
                bail!(Usage(format!(
                    "workspace {} is not a directory",
                    workspace.display()
                )));
            }
            match serde_json::from_str::<serde_json::Value>(&args.input) {
                Ok(v) if v.is_object() => {}
                Ok(_) => bail!(Usage("--input must be a JSON object".into())),
                Err(e) => bail!(Usage(format!("--input is not valid JSON: {e}"))),
            }
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
            let config = load_config(
                cli,
                &ConfigArgs {
                    config: args.config.clone(),
                    database_url: None,
                },
            )?;
            let sandbox = std::sync::Arc::new(
                paddock_sandbox::SandboxManager::open(
                    &config.sandbox,
                    args.sandbox.sandbox,
                    args.sandbox.unsafe_no_sandbox,
                    &data_dir(cli)?,
                )
                .await?,
            );
            host.set_exec_backend(sandbox.clone());
            let target = CallTarget {
                agent_id: args.agent_id.clone(),
                call_id: format!("cli-{}-{nanos:x}", std::process::id()),
                workspace: Some(workspace),
                network: args.net.network(),
                read_only: Vec::new(),
                output: None,
            };
            let result = host.call_tool(&args.name, &args.input, &target).await;
            sandbox.shutdown().await;
            match result {
                Ok(out) => {
                    if args.json {
                        out!("{}", serde_json::to_string(&out)?);
                    } else {
                        if out.content.ends_with('\n') {
                            use std::io::Write as _;
                            let _ = std::io::stdout().lock().write_all(out.content.as_bytes());
                        } else {
                            out!("{}", out.content);
                        }
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(ToolCallFailure::Host(e)) => bail!(Usage(e.to_string())),
                Err(ToolCallFailure::Call(e)) => {
                    if args.json {
                        let body = serde_json::json!({"error": {"kind": e.kind(), "message": e.message()}});
                        out!("{body}");
                    }
                    eprintln!("error: {}: {}", e.kind(), e.message());
                    Ok(ExitCode::from(1))
                }
            }
        }
    }
}
