//! `paddock serve`: one server per data dir, the API (REST + WebSocket)
//! and the dashboard, until SIGINT or SIGTERM.

use super::common::{ConfigArgs, McpFileArgs, SandboxArgs, Usage, data_dir, load_config, open_app};
use crate::Cli;
use anyhow::{Context, Result, bail};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
pub(crate) struct ServeArgs {
    #[command(flatten)]
    pub(crate) config: ConfigArgs,
    #[command(flatten)]
    pub(crate) mcp: McpFileArgs,
    #[command(flatten)]
    pub(crate) sandbox: SandboxArgs,
    /// Address to listen on (default 127.0.0.1:7700). Every request needs
    /// credentials (a token, or the dashboard's session), loopback included.
    #[arg(long, env = "PADDOCK_BIND")]
    pub(crate) bind: Option<String>,
    /// Let any local process use the API without credentials when bound to
    /// loopback (the old behaviour). Unsafe: an agent's sandbox, another
    /// user or a web page can then drive Paddock. Announced at every start.
    #[arg(long)]
    pub(crate) unsafe_no_auth: bool,
    /// A directory under which workspaces may lie (repeatable; replaces
    /// `[workspaces] roots`; default: none, only the data dir's own workspaces).
    #[arg(long = "workspace-root", value_name = "DIR")]
    pub(crate) workspace_roots: Vec<PathBuf>,
    /// A file holding the master key (base64 of 32 bytes) that seals the
    /// provider keys stored through the API. Default: $PADDOCK_MASTER_KEY
    /// when set, else <data-dir>/master.key (created with mode 0600 on
    /// first start). Keep it out of database backups.
    #[arg(long, env = "PADDOCK_MASTER_KEY_FILE", value_name = "FILE")]
    pub(crate) master_key_file: Option<PathBuf>,
}

/// What start-up says when no model provider is usable.
pub(crate) const NO_PROVIDER: &str = "no model provider is usable yet: open the dashboard (link below) to add one or try the offline demo, or set OPENAI_API_KEY (or the api_key_env of a [[providers]] entry) / edit paddock.toml and restart";

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

/// Runs `paddock serve`.
pub(crate) async fn run(cli: &Cli, args: &ServeArgs) -> Result<ExitCode> {
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
    let app = open_app(
        cli,
        config.clone(),
        true,
        &args.sandbox,
        &args.mcp,
        args.master_key_file.as_deref(),
    )
    .await?;
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
    if let paddock_core::secrets::KeySource::DataDir {
        path,
        created: true,
    } = &app.key_source
    {
        out!(
            "master key: created {} (it seals the provider keys stored in the database; back it up apart from the database)",
            path.display()
        );
    }
    let no_provider = !app.providers.any_usable();
    for n in notices {
        // Said just before the sign-in link, where the eye goes.
        if no_provider && n.0.starts_with("open the dashboard") {
            out!("{NO_PROVIDER}");
        }
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
