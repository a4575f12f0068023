//! What the subcommands share: where the data dir and the built-in plugins
//! are, reading the configuration, opening the plugin host or a whole
//! Paddock, the flags several commands take, and usage errors (exit 2).

use crate::Cli;
use anyhow::{Context, Result};
use clap::Args;
use paddock_plugins::PluginHost;
use std::path::PathBuf;

#[derive(Args, Clone)]
pub(crate) struct ConfigArgs {
    /// paddock.toml (default: <data-dir>/paddock.toml when it exists).
    #[arg(long, env = "PADDOCK_CONFIG")]
    pub(crate) config: Option<PathBuf>,
    /// The store: postgres://… or sqlite://… (default: SQLite in the data dir).
    #[arg(long, env = "PADDOCK_DATABASE_URL")]
    pub(crate) database_url: Option<String>,
}

/// Where shell commands run.
#[derive(Args, Clone)]
pub(crate) struct SandboxArgs {
    /// Sandbox backend: auto (docker when an engine answers, else bwrap), docker or bwrap.
    #[arg(long, env = "PADDOCK_SANDBOX")]
    pub(crate) sandbox: Option<paddock_sandbox::BackendChoice>,
    /// Run commands directly on this host, with no sandbox at all (dangerous; flagged on every
    /// agent and in its events).
    #[arg(long)]
    pub(crate) unsafe_no_sandbox: bool,
}

/// What the sandbox may reach on the network.
#[derive(Args, Clone)]
pub(crate) struct NetworkArgs {
    /// Let the sandbox reach the outside network, never this host's own services (off by default).
    #[arg(long, conflicts_with = "allow_hosts")]
    pub(crate) network: bool,
    /// Let the sandbox reach only this host, through Paddock's egress proxy: `host[:port]`,
    /// `*.domain`, an IP literal or `localhost` (repeatable).
    #[arg(long = "allow-host", value_name = "PATTERN", value_parser = parse_host_pattern)]
    pub(crate) allow_hosts: Vec<paddock_sandbox::HostPattern>,
}

impl NetworkArgs {
    /// The network these flags grant.
    pub(crate) fn network(&self) -> paddock_sandbox::Network {
        if self.allow_hosts.is_empty() {
            self.network.into()
        } else {
            paddock_sandbox::Network::Allow(self.allow_hosts.clone())
        }
    }
}

fn parse_host_pattern(s: &str) -> Result<paddock_sandbox::HostPattern, String> {
    s.parse()
        .map_err(|e: paddock_protocol::network::HostPatternError| e.to_string())
}

/// Where the MCP servers are configured.
#[derive(Args, Clone)]
pub(crate) struct McpFileArgs {
    /// mcpServers.json (default: ./mcpServers.json when it exists).
    #[arg(long, env = "PADDOCK_MCP_CONFIG")]
    pub(crate) mcp_config: Option<PathBuf>,
}

impl McpFileArgs {
    pub(crate) fn source(&self) -> paddock_mcp::FileSource {
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

/// An error that is the caller's fault: exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct Usage(pub(crate) String);

/// The data dir: `--data-dir` (or `$PADDOCK_DATA_DIR`), else the platform's.
pub(crate) fn data_dir(cli: &Cli) -> Result<PathBuf> {
    if let Some(d) = &cli.data_dir {
        return Ok(d.clone());
    }
    Ok(dirs::data_dir()
        .context("cannot find the platform data directory; pass --data-dir")?
        .join("paddock"))
}

/// The built-in plugins: `--builtin-plugins`, else `plugins/` beside or
/// above the binary.
pub(crate) fn builtin_dir(cli: &Cli) -> Option<PathBuf> {
    if let Some(d) = &cli.builtin_plugins {
        return Some(d.clone());
    }
    let exe = std::env::current_exe().ok()?;
    let exe_dir = exe.parent()?;
    [exe_dir.join("plugins"), exe_dir.join("../plugins")]
        .into_iter()
        .find(|p| p.is_dir())
}

/// The plugin host of the data dir (created if missing).
pub(crate) async fn open_host(cli: &Cli) -> Result<PluginHost> {
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

/// The configuration: the file (explicit, or the data dir's if present),
/// then environment and flags.
pub(crate) fn load_config(cli: &Cli, args: &ConfigArgs) -> Result<paddock_core::config::Config> {
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
    // What differs between the hosts of one cluster comes from each
    // host's environment (a pod's name and address).
    for (var, field) in [
        ("PADDOCK_HOST_ID", &mut config.cluster.host_id),
        ("PADDOCK_ADVERTISE_URL", &mut config.cluster.advertise_url),
    ] {
        if let Ok(v) = std::env::var(var)
            && !v.trim().is_empty()
        {
            *field = Some(v.trim().to_string());
        }
    }
    config.cluster.validate().map_err(|e| {
        Usage(format!(
            "{e} (from paddock.toml or $PADDOCK_HOST_ID / $PADDOCK_ADVERTISE_URL)"
        ))
    })?;
    Ok(config)
}

/// A whole Paddock on the data dir; with `load_agents`, its stored agents
/// are loaded (and resumed).
pub(crate) async fn open_app(
    cli: &Cli,
    config: paddock_core::config::Config,
    load_agents: bool,
    sandbox: &SandboxArgs,
    mcp: &McpFileArgs,
    master_key_file: Option<&std::path::Path>,
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
        master_key_file: master_key_file.map(std::path::Path::to_path_buf),
    })
    .await?)
}

/// The exit of a headless run that ended otherwise than it should (a
/// failed, limited or cancelled run): says how and why, exit code 1.
pub(crate) fn ended_badly(status: &str, reason: Option<String>) -> std::process::ExitCode {
    eprintln!(
        "error: the run ended {status}: {}",
        reason.unwrap_or_else(|| "no reason given".into())
    );
    std::process::ExitCode::from(1)
}
