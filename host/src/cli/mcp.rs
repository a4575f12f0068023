//! `paddock mcp …`: list the MCP servers and test one.

use super::common::{ConfigArgs, McpFileArgs, Usage, data_dir, load_config};
use crate::Cli;
use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use std::process::ExitCode;

/// What every `paddock mcp` command takes.
#[derive(Args)]
pub(crate) struct McpCmdArgs {
    #[command(flatten)]
    pub(crate) mcp: McpFileArgs,
    #[command(flatten)]
    pub(crate) config: ConfigArgs,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Subcommand)]
pub(crate) enum McpCmd {
    /// List the MCP servers with their transport and whether their entry is valid.
    List(McpCmdArgs),
    /// Start/connect to one server, list its tools and time a round trip; exit 0 when healthy,
    /// 1 with the reason otherwise.
    Test {
        /// The server's name.
        name: String,
        #[command(flatten)]
        args: McpCmdArgs,
    },
}

/// Runs `paddock mcp …`.
pub(crate) async fn run(cli: &Cli, cmd: &McpCmd) -> Result<ExitCode> {
    let (McpCmd::List(args) | McpCmd::Test { args, .. }) = cmd;
    let json = args.json;
    let config = load_config(cli, &args.config)?;
    let store =
        paddock_store::Store::open_configured(config.database_url.as_deref(), &data_dir(cli)?)
            .await?;
    let manager =
        paddock_mcp::McpManager::open(Some(&args.mcp.source()), Some(store.clone()), None).await?;
    let code = match cmd {
        McpCmd::List(_) => {
            let servers = manager.list();
            if json {
                out!("{}", serde_json::to_string_pretty(&servers)?);
            } else if servers.is_empty() {
                out!("no MCP servers (add them to mcpServers.json or through the API)");
            } else {
                for s in servers {
                    let target = match (s.config.get("command"), s.config.get("url")) {
                        (Some(c), _) => {
                            let args: Vec<&str> = s.config["args"]
                                .as_array()
                                .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
                                .unwrap_or_default();
                            format!("{} {}", c.as_str().unwrap_or_default(), args.join(" "))
                        }
                        (None, Some(u)) => u.as_str().unwrap_or_default().to_string(),
                        (None, None) => String::new(),
                    };
                    let kind = s.transport.map_or("?", |t| t.as_str());
                    let source = match s.source {
                        paddock_mcp::Source::File => "file",
                        paddock_mcp::Source::Api => "api",
                    };
                    match &s.config_error {
                        Some(e) => out!("{}	{kind}	{source}	INVALID: {e}", s.name),
                        None => out!("{}	{kind}	{source}	{}", s.name, target.trim_end()),
                    }
                }
            }
            ExitCode::SUCCESS
        }
        McpCmd::Test { name, .. } => {
            let report = match manager.test(name).await {
                Ok(r) => r,
                Err(e @ paddock_mcp::McpError::UnknownServer(_)) => bail!(Usage(e.to_string())),
                Err(e) => return Err(e.into()),
            };
            if json {
                out!("{}", serde_json::to_string_pretty(&report)?);
            } else if report.ok {
                out!(
                    "{name}: ok — connected in {:.1} ms, {} tools listed in {:.1} ms, ping {:.2} ms",
                    report.connect_ms.unwrap_or_default(),
                    report.tools.len(),
                    report.list_ms.unwrap_or_default(),
                    report.ping_ms.unwrap_or_default()
                );
                for t in &report.tools {
                    out!("  {t}");
                }
            } else {
                eprintln!(
                    "{name}: FAILED: {}",
                    report.error.as_deref().unwrap_or("unknown error")
                );
            }
            if report.ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
    };
    store.close().await;
    Ok(code)
}
