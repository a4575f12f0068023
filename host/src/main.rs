//! The `paddock` command line.

mod bench;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use paddock_plugins::{
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
    /// Start the API server (REST + WebSocket) and run agents.
    Serve(ServeArgs),
    /// Run one agent headless on a task; print its events; exit 0 if it finished.
    Run(RunArgs),
    /// List and test MCP servers (mcpServers.json and those added through the API).
    #[command(subcommand)]
    Mcp(McpCmd),
    /// Check what the policy pipeline decides, without running anything.
    #[command(subcommand)]
    Policy(PolicyCmd),
    /// Serve an OpenAI-compatible model that replays a script (tests, benchmarks, demos).
    ScriptedModel(paddock_llm::scripted::ScriptedModelArgs),
    /// Print the API's OpenAPI document (the dashboard's types are generated from it).
    Openapi,
}

#[derive(Args, Clone)]
struct ConfigArgs {
    /// paddock.toml (default: <data-dir>/paddock.toml when it exists).
    #[arg(long, env = "PADDOCK_CONFIG")]
    config: Option<PathBuf>,
    /// The store: postgres://… or sqlite://… (default: SQLite in the data dir).
    #[arg(long, env = "PADDOCK_DATABASE_URL")]
    database_url: Option<String>,
}

/// Where shell commands run.
#[derive(Args, Clone)]
struct SandboxArgs {
    /// Sandbox backend: auto (docker when an engine answers, else bwrap), docker or bwrap.
    #[arg(long, env = "PADDOCK_SANDBOX")]
    sandbox: Option<paddock_sandbox::BackendChoice>,
    /// Run commands directly on this host, with no sandbox at all (dangerous; flagged on every
    /// agent and in its events).
    #[arg(long)]
    unsafe_no_sandbox: bool,
}

/// Where the MCP servers are configured.
#[derive(Args, Clone)]
struct McpFileArgs {
    /// mcpServers.json (default: ./mcpServers.json when it exists).
    #[arg(long, env = "PADDOCK_MCP_CONFIG")]
    mcp_config: Option<PathBuf>,
}

impl McpFileArgs {
    fn source(&self) -> paddock_mcp::FileSource {
        match &self.mcp_config {
            Some(path) => paddock_mcp::FileSource {
                path: path.clone(),
                required: true,
            },
            None => paddock_mcp::FileSource {
                path: PathBuf::from("mcpServers.json"),
                required: false,
            },
        }
    }
}

/// What every `paddock mcp` command takes.
#[derive(Args)]
struct McpCmdArgs {
    #[command(flatten)]
    mcp: McpFileArgs,
    #[command(flatten)]
    config: ConfigArgs,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum McpCmd {
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

#[derive(Subcommand)]
enum PolicyCmd {
    /// Judge one tool call with the rules, the enabled risk assessors and an approval mode;
    /// print the decision (action, level, reasons, rule). Nothing runs and nothing is recorded.
    Assess {
        #[command(flatten)]
        config: ConfigArgs,
        /// The tool's name as offered to the model (e.g. execute_bash, everything__echo).
        #[arg(long)]
        tool: String,
        /// The call's arguments, a JSON object (e.g. '{"command": "git push"}').
        #[arg(long)]
        input: String,
        /// The approval mode (default: the agent's, else [policy] default_mode).
        #[arg(long, value_enum)]
        mode: Option<paddock_core::policy::ApprovalMode>,
        /// Judge it for this stored agent (its rules, template and mode).
        #[arg(long)]
        agent: Option<String>,
        /// Treat the tool as read-only (default: as the installed tool says).
        #[arg(long)]
        read_only: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the policy rules (paddock.toml and those added through the API).
    Rules {
        #[command(flatten)]
        config: ConfigArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
struct ServeArgs {
    #[command(flatten)]
    config: ConfigArgs,
    #[command(flatten)]
    mcp: McpFileArgs,
    #[command(flatten)]
    sandbox: SandboxArgs,
    /// Address to listen on (default 127.0.0.1:7700). Every request needs
    /// credentials (a token, or the dashboard's session), loopback included.
    #[arg(long, env = "PADDOCK_BIND")]
    bind: Option<String>,
    /// Let any local process use the API without credentials when bound to
    /// loopback (the old behaviour). Unsafe: an agent's sandbox, another
    /// user or a web page can then drive Paddock. Announced at every start.
    #[arg(long)]
    unsafe_no_auth: bool,
    /// A directory under which workspaces may lie (repeatable; replaces
    /// `[workspaces] roots`; default: none, only the data dir's own workspaces).
    #[arg(long = "workspace-root", value_name = "DIR")]
    workspace_roots: Vec<PathBuf>,
}

#[derive(Args)]
struct RunArgs {
    #[command(flatten)]
    config: ConfigArgs,
    #[command(flatten)]
    mcp: McpFileArgs,
    /// An MCP server whose tools the agent gets (repeatable).
    #[arg(long = "mcp-server")]
    mcp_servers: Vec<String>,
    #[command(flatten)]
    sandbox: SandboxArgs,
    /// Let the agent's sandbox reach the outside network, never this host's own services (off by default).
    #[arg(long)]
    network: bool,
    /// The directory the agent works in (seen by tools at /workspace).
    #[arg(long)]
    workspace: PathBuf,
    /// An OpenAI-compatible API base (e.g. http://127.0.0.1:8080/v1); key from $OPENAI_API_KEY.
    #[arg(long)]
    model_url: Option<String>,
    /// The model name (default: the provider's first model).
    #[arg(long)]
    model: Option<String>,
    /// A provider of paddock.toml (default: the first one).
    #[arg(long, conflicts_with = "model_url")]
    provider: Option<String>,
    /// The agent's name.
    #[arg(long, default_value = "run")]
    name: String,
    /// The system prompt.
    #[arg(
        long,
        default_value = "You are a careful coding agent. Use the tools to inspect and change files in /workspace."
    )]
    system_prompt: String,
    /// Model calls allowed for the task.
    #[arg(long)]
    max_turns: Option<u32>,
    /// How much the agent may do without asking (default: [policy] default_mode, ask-risky).
    /// Approvals are asked on the terminal; without one, they are refused.
    #[arg(long, value_enum)]
    approval_mode: Option<paddock_core::policy::ApprovalMode>,
    /// A policy rule for this agent, e.g. 'allow execute_bash(cargo test*)' (repeatable).
    #[arg(long = "rule")]
    rules: Vec<String>,
    /// Print events as JSON lines.
    #[arg(long)]
    json: bool,
    /// The task.
    task: String,
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
    /// paddock.toml (for its [sandbox] section; default: <data-dir>/paddock.toml when it exists).
    #[arg(long, env = "PADDOCK_CONFIG")]
    config: Option<PathBuf>,
    #[command(flatten)]
    sandbox: SandboxArgs,
    /// Let the sandbox reach the outside network, never this host's own services (off by default).
    #[arg(long)]
    network: bool,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum BenchCmd {
    /// Fresh-instance call overhead of read_file vs a native read, and plugin load times.
    Plugins(crate::bench::PluginBenchArgs),
    /// N concurrent agents streaming to WebSocket subscribers: latency, events/s, CPU, RSS.
    Agents(crate::bench::AgentBenchArgs),
    /// Per sandbox backend: creation + first command, and per-command overhead of `true`.
    Sandbox(crate::bench::SandboxBenchArgs),
    /// MCP tool-call round trip over stdio and HTTP: Paddock vs a direct rmcp client.
    Mcp(crate::bench::McpBenchArgs),
    /// Policy decision latency: 100 rules + the built-in assessor vs its parts.
    Policy(crate::bench::PolicyBenchArgs),
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
    Ok(PluginHost::open(paddock_plugins::HostOptions {
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
                network: args.network,
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

async fn run(cli: Cli) -> Result<ExitCode> {
    match &cli.command {
        Command::Plugin(cmd) => plugin_cmd(&cli, cmd).await,
        Command::Tool(cmd) => tool_cmd(&cli, cmd).await,
        Command::Serve(args) => serve_cmd(&cli, args).await,
        Command::Run(args) => run_cmd(&cli, args).await,
        Command::Mcp(cmd) => mcp_cmd(&cli, cmd).await,
        Command::Policy(cmd) => policy_cmd(&cli, cmd).await,
        Command::Bench(BenchCmd::Plugins(args)) => {
            let builtin =
                builtin_dir(&cli).context("built-in plugins not found: run `make build` first")?;
            crate::bench::plugins(args, &builtin).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench(BenchCmd::Agents(args)) => {
            let cache = match &cli.cache_dir {
                Some(c) => c.clone(),
                None => data_dir(&cli)?.join("cache").join("components"),
            };
            crate::bench::agents(args, builtin_dir(&cli).as_deref(), Some(&cache)).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench(BenchCmd::Mcp(args)) => {
            crate::bench::mcp(args, builtin_dir(&cli).as_deref()).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench(BenchCmd::Policy(args)) => {
            let builtin =
                builtin_dir(&cli).context("built-in plugins not found: run `make build` first")?;
            crate::bench::policy(args, &builtin).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench(BenchCmd::Sandbox(args)) => {
            crate::bench::sandbox(args).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::ScriptedModel(args) => {
            paddock_llm::scripted::run(args).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Openapi => {
            println!("{}", paddock_api::openapi_json());
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The configuration: the file (explicit, or the data dir's if present),
/// then environment and flags.
fn load_config(cli: &Cli, args: &ConfigArgs) -> Result<paddock_core::config::Config> {
    let data_dir = data_dir(cli)?;
    let mut config = match &args.config {
        Some(path) => paddock_core::config::Config::load(path)?,
        None => {
            let path = paddock_core::config::default_path(&data_dir);
            if path.exists() {
                paddock_core::config::Config::load(&path)?
            } else {
                paddock_core::config::Config::default()
            }
        }
    };
    if let Some(url) = &args.database_url {
        config.database_url = Some(url.clone());
    }
    Ok(config)
}

async fn open_app(
    cli: &Cli,
    config: paddock_core::config::Config,
    load_agents: bool,
    sandbox: &SandboxArgs,
    mcp: &McpFileArgs,
) -> Result<paddock_api::app::App> {
    let data_dir = data_dir(cli)?;
    let cache_dir = cli
        .cache_dir
        .clone()
        .unwrap_or_else(|| data_dir.join("cache").join("components"));
    Ok(paddock_api::app::App::open(paddock_api::app::AppOptions {
        data_dir,
        config,
        builtin_plugins: builtin_dir(cli),
        cache_dir: Some(cache_dir),
        load_agents,
        sandbox: sandbox.sandbox,
        unsafe_no_sandbox: sandbox.unsafe_no_sandbox,
        mcp_config: Some(mcp.source()),
    })
    .await?)
}

async fn mcp_cmd(cli: &Cli, cmd: &McpCmd) -> Result<ExitCode> {
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

async fn policy_cmd(cli: &Cli, cmd: &PolicyCmd) -> Result<ExitCode> {
    let (PolicyCmd::Assess { config, json, .. } | PolicyCmd::Rules { config, json }) = cmd;
    let config = load_config(cli, config)?;
    let store =
        paddock_store::Store::open_configured(config.database_url.as_deref(), &data_dir(cli)?)
            .await?;
    let plugins = std::sync::Arc::new(open_host(cli).await?);
    let policy =
        paddock_core::policy::Policy::open(config.policy.clone(), store.clone(), plugins.clone())
            .await?;
    match cmd {
        PolicyCmd::Rules { .. } => {
            let rules = policy.rules();
            if *json {
                out!("{}", serde_json::to_string_pretty(&rules)?);
            } else if rules.is_empty() {
                out!(
                    "no policy rules (add them under [policy] in paddock.toml or through the API)"
                );
            } else {
                for r in rules {
                    out!("{}\t{}\t{}\t{}", r.id, r.source, r.spec.scope, r.spec.rule);
                }
            }
        }
        PolicyCmd::Assess {
            tool,
            input,
            mode,
            agent,
            read_only,
            ..
        } => {
            let arguments: serde_json::Value = serde_json::from_str(input)
                .map_err(|e| Usage(format!("--input: not JSON: {e}")))?;
            if !arguments.is_object() {
                bail!(Usage("--input: must be a JSON object of arguments".into()));
            }
            let stored = match agent {
                Some(id) => Some(
                    store
                        .get_agent(id)
                        .await?
                        .ok_or_else(|| Usage(format!("--agent: no agent with id `{id}`")))?,
                ),
                None => None,
            };
            let rules = match &stored {
                Some(r) => paddock_core::policy::compile_all(&r.config.rules)?,
                None => Vec::new(),
            };
            let mut subject = match &stored {
                Some(r) => paddock_core::policy::Subject::of_agent(&r.id, &r.config, &rules),
                None => paddock_core::policy::Subject::no_agent(config.policy.default_mode),
            };
            if let Some(m) = mode {
                subject.mode = *m;
            }
            let read_only = *read_only
                || plugins
                    .find_tool(tool)
                    .map(|(_, spec)| spec.read_only)
                    .unwrap_or(false);
            let decision = policy
                .decide(
                    &subject,
                    &paddock_core::policy::Call {
                        tool,
                        arguments: &arguments,
                        read_only,
                        call_id: "assess",
                    },
                )
                .await;
            if *json {
                out!("{}", serde_json::to_string_pretty(&decision)?);
            } else {
                out!(
                    "{} ({} risk, mode {})",
                    decision.action.as_str(),
                    decision.level.as_str(),
                    decision.mode.as_str()
                );
                if let Some(rule) = &decision.rule {
                    out!("  rule: {rule}");
                }
                for r in &decision.reasons {
                    out!("  - {r}");
                }
            }
        }
    }
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

async fn serve_cmd(cli: &Cli, args: &ServeArgs) -> Result<ExitCode> {
    let mut config = load_config(cli, &args.config)?;
    // Where the address came from, for an error about it.
    let mut bind_origin = "[server] bind";
    if let Some(bind) = &args.bind {
        config.server.bind = bind.clone();
        bind_origin = "--bind (or $PADDOCK_BIND)";
    }
    if !args.workspace_roots.is_empty() {
        config.workspaces.roots = args.workspace_roots.clone();
    }
    for root in &config.workspaces.roots {
        if !root.is_absolute() {
            bail!(Usage(format!(
                "workspace root `{}` must be an absolute path",
                root.display()
            )));
        }
    }
    let addr: std::net::SocketAddr = config.server.bind.parse().map_err(|e| {
        Usage(format!(
            "{bind_origin} `{}` is not an address like 127.0.0.1:7700: {e}",
            config.server.bind
        ))
    })?;
    // Before the data dir is locked and the host opened.
    paddock_api::auth::check_unsafe_no_auth(args.unsafe_no_auth, addr)
        .map_err(|e| Usage(e.to_string()))?;
    let data_dir = data_dir(cli)?;
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("cannot create data dir {}", data_dir.display()))?;
    // One server per data dir: two would both resume the same agents.
    let lock_path = data_dir.join("serve.lock");
    let lock = std::fs::File::create(&lock_path)
        .with_context(|| format!("cannot create {}", lock_path.display()))?;
    if lock.try_lock().is_err() {
        bail!(Usage(format!(
            "another `paddock serve` is using {}",
            data_dir.display()
        )));
    }
    let app = open_app(cli, config.clone(), true, &args.sandbox, &args.mcp).await?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    let (auth, notices) = paddock_api::auth::Auth::setup(paddock_api::auth::AuthOptions {
        data_dir: &data_dir,
        bound: local,
        allowed_origins: config.server.allowed_origins.clone(),
        unsafe_no_auth: args.unsafe_no_auth,
        store: app.store.clone(),
    })
    .context("cannot set up the API tokens")?;
    auth.purge_expired_sessions().await;
    out!("paddock listening on http://{local}");
    for n in notices {
        out!("{}", n.0);
    }
    let router = paddock_api::router(app.state(auth));
    let served = axum::serve(listener, router)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("the server failed");
    app.sandbox.shutdown().await;
    app.mcp.shutdown().await;
    app.store.close().await;
    served?;
    Ok(ExitCode::SUCCESS)
}

/// Prints one event of a headless run.
fn print_event(event: &paddock_protocol::events::Event, json: bool, streaming: &mut bool) {
    use paddock_protocol::events::EventBody as B;
    use std::io::Write as _;
    if json {
        if event.body.is_durable()
            && let Ok(line) = serde_json::to_string(event)
        {
            out!("{line}");
        }
        return;
    }
    let mut stdout = std::io::stdout().lock();
    match &event.body {
        B::MessageDelta { text } => {
            *streaming = true;
            let _ = write!(stdout, "{text}");
            let _ = stdout.flush();
        }
        B::MessageAssistant {
            text, tool_calls, ..
        } => {
            if *streaming {
                let _ = writeln!(stdout);
            } else if let Some(t) = text {
                let _ = writeln!(stdout, "{t}");
            }
            *streaming = false;
            for c in tool_calls {
                let _ = writeln!(stdout, "→ {} {}", c.name, c.arguments);
            }
        }
        B::MessageUser { text } => {
            let _ = writeln!(stdout, "> {text}");
        }
        B::ToolCall {
            tool,
            sandbox: Some(sandbox),
            ..
        } if sandbox != "docker" && sandbox != "bwrap" => {
            let _ = writeln!(
                stdout,
                "  ! {tool}: commands run with sandbox `{sandbox}` (not confined)"
            );
        }
        B::ToolOutput { chunk, .. } => {
            for line in chunk.lines() {
                let _ = writeln!(stdout, "  │ {line}");
            }
        }
        B::ToolResult {
            tool,
            success,
            content,
            duration_ms,
            ..
        } => {
            let first = content.lines().next().unwrap_or("");
            let mark = if *success { "✓" } else { "✗" };
            let _ = writeln!(stdout, "  {mark} {tool} ({duration_ms} ms): {first}");
        }
        B::Error { code, message, .. } => {
            let _ = writeln!(stdout, "! {code}: {message}");
        }
        B::PolicyDecision { tool, decision, .. }
            if decision.action != paddock_core::policy::Action::Allow =>
        {
            let _ = writeln!(
                stdout,
                "  ? {tool}: {} ({} risk): {}",
                decision.action.as_str(),
                decision.level.as_str(),
                decision.reasons.join("; ")
            );
        }
        B::ApprovalRequested {
            tool,
            arguments,
            diff,
            ..
        } => {
            let _ = writeln!(stdout, "  ? approval needed: {tool} {arguments}");
            if let Some(d) = diff {
                for line in d.lines() {
                    let _ = writeln!(stdout, "  │ {line}");
                }
            }
        }
        B::ApprovalDecided {
            tool, status, by, ..
        } => {
            let _ = writeln!(stdout, "  ? {tool}: {} by {by}", status.as_str());
        }
        _ => {}
    }
}

/// Asks on the terminal whether to approve a call; without a terminal,
/// refuses (a headless run has nobody to ask).
async fn ask_terminal(tool: &str) -> (bool, String, Option<String>) {
    use std::io::IsTerminal as _;
    if !std::io::stdin().is_terminal() {
        return (
            false,
            "paddock run (no terminal)".into(),
            Some(
                "a headless run has nobody to ask: use --approval-mode auto or --rule 'allow …'"
                    .into(),
            ),
        );
    }
    let prompt = format!("approve {tool}? [y/N] ");
    let answer = tokio::task::spawn_blocking(move || {
        use std::io::Write as _;
        eprint!("{prompt}");
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map(|_| line)
    })
    .await;
    let yes = matches!(answer, Ok(Ok(l)) if matches!(l.trim(), "y" | "Y" | "yes"));
    (yes, "paddock run (terminal)".into(), None)
}

async fn run_cmd(cli: &Cli, args: &RunArgs) -> Result<ExitCode> {
    use paddock_protocol::events::{AgentStatus, EventBody};
    let mut config = load_config(cli, &args.config)?;
    let model = if let Some(url) = &args.model_url {
        let key_env = std::env::var_os("OPENAI_API_KEY").map(|_| "OPENAI_API_KEY");
        let mut provider = paddock_core::config::ProviderConfig::new("cli", url, key_env);
        let name = args
            .model
            .clone()
            .ok_or_else(|| Usage("--model is required with --model-url".into()))?;
        // Priced when Paddock knows the model's list price, else unpriced.
        provider
            .models
            .push(paddock_core::config::ModelConfig::named(&name));
        config.providers.retain(|p| p.name != "cli");
        config.providers.insert(0, provider);
        paddock_core::agent::ModelRef {
            provider: "cli".into(),
            model: name,
        }
    } else {
        let provider = match &args.provider {
            Some(p) => config.provider(p).ok_or_else(|| Usage(format!("no provider `{p}` in the configuration")))?,
            None => config.providers.first().ok_or_else(|| {
                Usage("no model provider: pass --model-url and --model, or configure [[providers]] in paddock.toml".into())
            })?,
        };
        let model = match &args.model {
            Some(m) => m.clone(),
            None => provider
                .models
                .first()
                .map(|m| m.name.clone())
                .ok_or_else(|| {
                    Usage(format!(
                        "provider `{}` lists no models; pass --model",
                        provider.name
                    ))
                })?,
        };
        paddock_core::agent::ModelRef {
            provider: provider.name.clone(),
            model,
        }
    };
    let workspace = std::fs::canonicalize(&args.workspace)
        .map_err(|e| Usage(format!("--workspace {}: {e}", args.workspace.display())))?;
    let mut limits = config.agents.limits.clone();
    if let Some(t) = args.max_turns {
        limits.max_turns = t;
    }
    let agent_config = paddock_core::agent::AgentConfig {
        name: args.name.clone(),
        system_prompt: args.system_prompt.clone(),
        model,
        router: None,
        temperature: None,
        max_tokens: None,
        workspace,
        workspace_id: None,
        tools: None,
        mcp_servers: args.mcp_servers.clone(),
        network: args.network,
        limits,
        template: None,
        approval_mode: args.approval_mode.unwrap_or(config.policy.default_mode),
        approval_timeout_secs: None,
        rules: args.rules.clone(),
    };
    let app = open_app(cli, config, false, &args.sandbox, &args.mcp).await?;
    if let Err(e) = app.manager.validate(&agent_config) {
        bail!(Usage(e.to_string()));
    }
    let (agent, _) = app.manager.create(agent_config, None).await?;
    let id = agent.id().to_string();
    let mut rx = app.bus.subscribe(&id);
    let task_seq = agent.post_message(args.task.clone()).await?.seq;
    if !args.json {
        eprintln!("agent {id} (data in {})", data_dir(cli)?.display());
    }
    let mut last = 0u64;
    let mut streaming = false;
    let mut final_text: Option<String> = None;
    let mut outcome: Option<(AgentStatus, Option<String>)> = None;
    let mut totals = (0u64, 0u64, 0u64, 0f64, 0u64);
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    let mut pending: Vec<std::sync::Arc<paddock_protocol::events::Event>> = app
        .store
        .events_after(&id, 0, 10_000)
        .await?
        .into_iter()
        .map(std::sync::Arc::new)
        .collect();
    loop {
        for event in pending.drain(..) {
            if event.body.is_durable() {
                if event.seq <= last {
                    continue;
                }
                last = event.seq;
            }
            print_event(&event, args.json, &mut streaming);
            match &event.body {
                EventBody::MessageAssistant { text: Some(t), .. } => final_text = Some(t.clone()),
                EventBody::ApprovalRequested { call_id, tool, .. } => {
                    let (approved, by, reason) = ask_terminal(tool).await;
                    if let Err(e) = app
                        .manager
                        .decide(&id, call_id, approved, reason, Default::default(), &by)
                        .await
                    {
                        eprintln!("cannot decide the approval: {e}");
                    }
                }
                EventBody::Usage {
                    input_tokens,
                    output_tokens,
                    cached_tokens,
                    cost_usd,
                    masked_tokens_saved,
                    ..
                } => {
                    totals.0 += input_tokens;
                    totals.1 += output_tokens;
                    totals.2 += cached_tokens;
                    totals.3 += cost_usd;
                    totals.4 += masked_tokens_saved;
                }
                EventBody::AgentStatus { status, reason }
                    if event.seq > task_seq
                        && matches!(
                            status,
                            AgentStatus::Idle | AgentStatus::Error | AgentStatus::Stopped
                        ) =>
                {
                    outcome = Some((*status, reason.clone()));
                }
                _ => {}
            }
        }
        if outcome.is_some() {
            break;
        }
        tokio::select! {
            r = rx.recv() => match r {
                Ok(e) => pending.push(e),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    pending = app.store.events_after(&id, last, 10_000).await?.into_iter().map(std::sync::Arc::new).collect();
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => bail!("the agent's event stream closed"),
            },
            _ = &mut interrupted => {
                agent.interrupt();
                eprintln!("interrupting…");
            }
        }
    }
    // The run's sandbox (a container, a cgroup) goes with it.
    app.sandbox.shutdown().await;
    app.mcp.shutdown().await;
    let summary = format!(
        "usage: {} input tokens ({} cached), {} output tokens, ${:.4}; {} input tokens saved by masking",
        totals.0, totals.2, totals.1, totals.3, totals.4
    );
    match outcome {
        Some((AgentStatus::Idle, None)) => {
            if !args.json {
                eprintln!("{summary}");
                if let Some(t) = final_text {
                    eprintln!("final answer:");
                    out!("{t}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Some((status, reason)) => {
            if !args.json {
                eprintln!("{summary}");
            }
            eprintln!(
                "error: the run ended {}: {}",
                status.as_str(),
                reason.unwrap_or_else(|| "no reason given".into())
            );
            Ok(ExitCode::from(1))
        }
        None => bail!("the run ended without a status"),
    }
}

/// An error and its causes on one line, each cause said once: a message
/// that already contains its cause's text (`cannot open the store: database
/// error: X` over `database error: X` over `X`) is not followed by it again.
fn error_chain(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
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
            eprintln!("error: {}", error_chain(&e));
            if e.downcast_ref::<Usage>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}
