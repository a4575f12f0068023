//! The `paddock` command line: the parser, the dispatch to one module per
//! subcommand (`cli/`), and how an error is printed and which exit code it
//! gives (2 for a usage error, 1 otherwise).

/// The measurements behind `paddock bench …` (the command is `cli::bench`).
mod bench;
mod cli;

use anyhow::Result;
use clap::{Parser, Subcommand};
use cli::{Usage, eval, export, mcp, plugin, policy, run, secrets, serve, tool, user, workflow};
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
    Plugin(plugin::PluginCmd),
    /// List and call the tools of enabled plugins.
    #[command(subcommand)]
    Tool(tool::ToolCmd),
    /// Measure Paddock's overheads against a baseline measured in the same run.
    #[command(subcommand)]
    Bench(cli::bench::BenchCmd),
    /// Start the API server (REST + WebSocket) and run agents.
    Serve(serve::ServeArgs),
    /// Run one agent headless on a task; print its events; exit 0 if it finished.
    Run(run::RunArgs),
    /// Run workflows headless, list them, check a definition file.
    #[command(subcommand)]
    Workflow(workflow::WorkflowCmd),
    /// Evaluate an agent configuration over tasks in the SWE-bench format; list the runs.
    #[command(subcommand)]
    Eval(eval::EvalCmd),
    /// List and test MCP servers (mcpServers.json and those added through the API).
    #[command(subcommand)]
    Mcp(mcp::McpCmd),
    /// The master key that seals the provider keys stored through the API (rotate it).
    #[command(subcommand)]
    Secrets(secrets::SecretsCmd),
    /// The team's accounts: add users and print personal access tokens.
    #[command(subcommand)]
    User(user::UserCmd),
    /// Check what the policy pipeline decides, without running anything.
    #[command(subcommand)]
    Policy(policy::PolicyCmd),
    /// Print a stored run as a scripted-model script, to replay it offline and see where a new
    /// run diverges (turn a bug report into a regression test).
    ExportScript(export::ExportArgs),
    /// Serve an OpenAI-compatible model that replays a script (tests, benchmarks, demos).
    ScriptedModel(paddock_llm::scripted::ScriptedModelArgs),
    /// Print the API's OpenAPI document (the dashboard's types are generated from it).
    Openapi,
}

/// Runs the command given.
async fn dispatch(cli: Cli) -> Result<ExitCode> {
    match &cli.command {
        Command::Plugin(cmd) => plugin::run(&cli, cmd).await,
        Command::Tool(cmd) => tool::run(&cli, cmd).await,
        Command::Serve(args) => serve::run(&cli, args).await,
        Command::Run(args) => run::run(&cli, args).await,
        Command::Workflow(cmd) => workflow::run(&cli, cmd).await,
        Command::Eval(cmd) => eval::run(&cli, cmd).await,
        Command::ExportScript(args) => export::run(&cli, args).await,
        Command::Mcp(cmd) => mcp::run(&cli, cmd).await,
        Command::Policy(cmd) => policy::run(&cli, cmd).await,
        Command::Secrets(cmd) => secrets::run(&cli, cmd).await,
        Command::User(cmd) => user::run(&cli, cmd).await,
        Command::Bench(cmd) => cli::bench::run(&cli, cmd).await,
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
    let result = runtime.block_on(dispatch(cli));
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
