//! The `paddock` command line.

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use paddock::plugins::{
    CallTarget, Capability, InstallSource, PluginHost, PluginInfo, ToolCallFailure,
};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "paddock",
    version,
    about = "A self-hosted host for coding agents"
)]
struct Cli {
    /// Where Paddock keeps its state (default: the platform data dir, e.g. ~/.local/share/paddock).
    #[arg(long, global = true, env = "PADDOCK_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Directory of built-in plugins to install on first start (default: `plugins/` next to or
    /// above the binary, as `make build` lays them out).
    #[arg(long, global = true, env = "PADDOCK_BUILTIN_PLUGINS")]
    builtin_plugins: Option<PathBuf>,
    /// Cache of compiled plugin components (default: <data-dir>/cache/components).
    #[arg(long, global = true, env = "PADDOCK_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Install, grant, enable, disable and remove plugins.
    #[command(subcommand)]
    Plugin(PluginCmd),
    /// List and call the tools of enabled plugins.
    #[command(subcommand)]
    Tool(ToolCmd),
    /// Measure Paddock's overheads against a baseline measured in the same run.
    #[command(subcommand)]
    Bench(BenchCmd),
    /// Serve an OpenAI-compatible model that replays a script (tests, benchmarks, demos).
    ScriptedModel(paddock::llm::scripted::ScriptedModelArgs),
}

#[derive(Subcommand)]
enum PluginCmd {
    /// List installed plugins with their requested and granted capabilities.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one plugin.
    Show {
        /// The plugin.
        name: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Install a plugin from a directory (paddock-plugin.toml + .wasm) or a .wasm file.
    Install {
        /// A directory or a .wasm component.
        path: PathBuf,
        /// The manifest, when not `paddock-plugin.toml` beside the component.
        #[arg(long)]
        manifest: Option<PathBuf>,
    },
    /// Grant capabilities: fs:/workspace:ro|rw, fs:/host/dir:ro|rw, net:HOST:PORT, env:NAME, exec.
    Grant {
        /// The plugin.
        name: String,
        /// Capabilities to grant.
        #[arg(required = true)]
        caps: Vec<String>,
    },
    /// Revoke capabilities granted before.
    Revoke {
        /// The plugin.
        name: String,
        /// Capabilities to revoke.
        #[arg(required = true)]
        caps: Vec<String>,
    },
    /// Offer the plugin's tools to agents again.
    Enable {
        /// The plugin.
        name: String,
    },
    /// Stop offering the plugin's tools.
    Disable {
        /// The plugin.
        name: String,
    },
    /// Uninstall the plugin.
    Remove {
        /// The plugin.
        name: String,
    },
}

#[derive(Subcommand)]
enum ToolCmd {
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
struct ToolCallArgs {
    /// The tool's name.
    name: String,
    /// The workspace the tool sees at /workspace.
    #[arg(long)]
    workspace: PathBuf,
    /// The input, a JSON object.
    #[arg(long, default_value = "{}")]
    input: String,
    /// The agent id passed to the tool.
    #[arg(long, default_value = "cli")]
    agent_id: String,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum BenchCmd {
    /// Fresh-instance call overhead of read_file vs a native read, and plugin load times.
    Plugins(paddock::bench::PluginBenchArgs),
}

/// Prints a line to stdout; a closed pipe (`paddock … | head`) is not an error.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// An error that is the caller's fault: exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Usage(String);

fn data_dir(cli: &Cli) -> Result<PathBuf> {
    if let Some(d) = &cli.data_dir {
        return Ok(d.clone());
    }
    Ok(dirs::data_dir()
        .context("cannot find the platform data directory; pass --data-dir")?
        .join("paddock"))
}

fn builtin_dir(cli: &Cli) -> Option<PathBuf> {
    if let Some(d) = &cli.builtin_plugins {
        return Some(d.clone());
    }
    let exe = std::env::current_exe().ok()?;
    let exe_dir = exe.parent()?;
    [exe_dir.join("plugins"), exe_dir.join("../plugins")]
        .into_iter()
        .find(|p| p.is_dir())
}

async fn open_host(cli: &Cli) -> Result<PluginHost> {
    let data_dir = data_dir(cli)?;
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("cannot create data dir {}", data_dir.display()))?;
    let cache_dir = cli
        .cache_dir
        .clone()
        .unwrap_or_else(|| data_dir.join("cache").join("components"));
    Ok(PluginHost::open(paddock::plugins::HostOptions {
        data_dir,
        builtin_dir: builtin_dir(cli),
        cache_dir: Some(cache_dir),
    })
    .await?)
}

fn print_plugin(p: &PluginInfo) {
    let r = &p.record;
    let join = |set: &std::collections::BTreeSet<Capability>| {
        if set.is_empty() {
            "-".to_string()
        } else {
            set.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" ")
        }
    };
    out!(
        "{} {} [{}] {}{}",
        r.name,
        r.version,
        r.world,
        if r.enabled { "enabled" } else { "disabled" },
        if r.builtin { " (built-in)" } else { "" }
    );
    out!("  sha256:    {}", r.sha256);
    out!("  requested: {}", join(&r.requested));
    out!("  granted:   {}", join(&r.granted));
    out!("  effective: {}", join(&p.effective));
    if !r.tools.is_empty() {
        out!(
            "  tools:     {}",
            r.tools
                .iter()
                .map(|t| t.name.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
}

fn parse_caps(caps: &[String]) -> Result<Vec<Capability>> {
    caps.iter()
        .map(|c| {
            c.parse::<Capability>()
                .map_err(|e| Usage(e.to_string()).into())
        })
        .collect()
}

async fn plugin_cmd(cli: &Cli, cmd: &PluginCmd) -> Result<ExitCode> {
    let host = open_host(cli).await?;
    match cmd {
        PluginCmd::List { json } => {
            let plugins = host.list()?;
            if *json {
                out!("{}", serde_json::to_string_pretty(&plugins)?);
            } else if plugins.is_empty() {
                out!("no plugins installed");
            } else {
                plugins.iter().for_each(print_plugin);
            }
        }
        PluginCmd::Show { name, json } => {
            let p = host.get(name)?;
            if *json {
                out!("{}", serde_json::to_string_pretty(&p)?);
            } else {
                print_plugin(&p);
            }
        }
        PluginCmd::Install { path, manifest } => {
            let p = host
                .install(&InstallSource {
                    path: path.clone(),
                    manifest: manifest.clone(),
                })
                .await?;
            out!(
                "installed {} {} (sha256 {})",
                p.record.name,
                p.record.version,
                p.record.sha256
            );
            if !p.missing.is_empty() {
                let missing: Vec<String> = p.missing.iter().map(ToString::to_string).collect();
                out!(
                    "it requests capabilities not granted yet; to grant them: paddock plugin grant {} {}",
                    p.record.name,
                    missing.join(" ")
                );
            }
        }
        PluginCmd::Grant { name, caps } => {
            let p = host.grant(name, &parse_caps(caps)?)?;
            print_plugin(&p);
        }
        PluginCmd::Revoke { name, caps } => {
            let p = host.revoke(name, &parse_caps(caps)?)?;
            print_plugin(&p);
        }
        PluginCmd::Enable { name } => {
            host.set_enabled(name, true)?;
            out!("enabled {name}");
        }
        PluginCmd::Disable { name } => {
            host.set_enabled(name, false)?;
            out!("disabled {name}");
        }
        PluginCmd::Remove { name } => {
            host.remove(name)?;
            out!("removed {name}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn tool_cmd(cli: &Cli, cmd: &ToolCmd) -> Result<ExitCode> {
    let host = open_host(cli).await?;
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
            let target = CallTarget {
                agent_id: args.agent_id.clone(),
                call_id: format!("cli-{}-{nanos:x}", std::process::id()),
                workspace: Some(workspace),
            };
            match host.call_tool(&args.name, &args.input, &target).await {
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

async fn run(cli: Cli) -> Result<ExitCode> {
    match &cli.command {
        Command::Plugin(cmd) => plugin_cmd(&cli, cmd).await,
        Command::Tool(cmd) => tool_cmd(&cli, cmd).await,
        Command::Bench(BenchCmd::Plugins(args)) => {
            let builtin =
                builtin_dir(&cli).context("built-in plugins not found: run `make build` first")?;
            paddock::bench::plugins(args, &builtin).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::ScriptedModel(args) => {
            paddock::llm::scripted::run(args).await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PADDOCK_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(run(cli));
    // A plugin call abandoned past its deadline may still hold a blocking
    // thread (e.g. stuck opening a FIFO); do not wait for it on exit.
    runtime.shutdown_background();
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            if e.downcast_ref::<Usage>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}
