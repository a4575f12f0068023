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
    // The first admin, from the environment, when there are no users yet.
    let first_admin = first_admin(&app.store).await?;
    let team = app
        .store
        .count_team_users()
        .await
        .context("cannot count the users")?
        > 0;
    let (mut auth, notices) = paddock_api::auth::Auth::setup(paddock_api::auth::AuthOptions {
        data_dir: &data_dir,
        bound: local,
        allowed_origins: config.server.allowed_origins.clone(),
        unsafe_no_auth: args.unsafe_no_auth,
        store: app.store.clone(),
    })
    .context("cannot set up the API tokens")?;
    auth.configure(&config.server);
    if team {
        // People sign in as themselves: no one-time link for `local`.
        auth.drop_login_code();
    }
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
        if n.0.starts_with("open the dashboard") {
            if no_provider {
                out!("{NO_PROVIDER}");
            }
            for line in &first_admin {
                out!("{line}");
            }
            if team {
                let url = config
                    .server
                    .public_url
                    .clone()
                    .unwrap_or_else(|| paddock_api::auth::local_url(local));
                out!(
                    "open the dashboard and sign in as your user: {}/ (no one-time link: there are users; \
                     the admin token in the data dir's admin-token still works, and `paddock user add` adds users)",
                    url.trim_end_matches('/')
                );
                continue;
            }
        }
        out!("{}", n.0);
    }
    let router = paddock_api::router(app.state(auth));
    // With several hosts, a signal first drains this one: its agents are
    // handed to the others at their next safe point while the API still
    // answers; then the server stops.
    let manager = app.manager.clone();
    let workflows = app.workflows.clone();
    let stopping = async move {
        shutdown_signal().await;
        if manager.cluster().is_some() {
            let runs = workflows.drain().await;
            out!("draining: {runs} workflow run(s) handed over");
            out!("draining: handing this host's agents over to the other hosts");
            let (clean, cut) = manager.drain().await;
            out!("drained: {clean} agent(s) handed over at a safe point, {cut} cut short");
        }
    };
    let served = axum::serve(listener, router)
        .with_graceful_shutdown(stopping)
        .await
        .context("the server failed");
    app.sandbox.shutdown().await;
    app.mcp.shutdown().await;
    app.store.close().await;
    served?;
    Ok(ExitCode::SUCCESS)
}

/// Creates the first admin when `PADDOCK_ADMIN_USER` names one and there
/// are no users yet, with `PADDOCK_ADMIN_PASSWORD` or a generated password
/// (printed once): the lines to print.
async fn first_admin(store: &paddock_store::Store) -> Result<Vec<String>> {
    let name = std::env::var("PADDOCK_ADMIN_USER").unwrap_or_default();
    let name = name.trim();
    if name.is_empty() {
        return Ok(Vec::new());
    }
    if store
        .count_team_users()
        .await
        .context("cannot count the users")?
        > 0
    {
        tracing::info!(
            "PADDOCK_ADMIN_USER is set but there are users already: no first admin is created"
        );
        return Ok(Vec::new());
    }
    if !paddock_protocol::is_plain_name(name) || name == paddock_protocol::identity::LOCAL_USER {
        bail!(Usage(format!(
            "PADDOCK_ADMIN_USER: `{name}` is not a valid user name (1 to 64 of A-Z a-z 0-9 . _ -, \
             starting with a letter or digit; not `local`)"
        )));
    }
    let given = std::env::var("PADDOCK_ADMIN_PASSWORD").unwrap_or_default();
    let min = paddock_api::credentials::MIN_PASSWORD;
    let (password, generated) = if given.is_empty() {
        // 24 of the 40 base62 characters of a fresh token: about 143 bits.
        let minted = paddock_api::credentials::mint_token();
        (
            minted.secret.chars().skip(4).take(24).collect::<String>(),
            true,
        )
    } else if given.chars().count() < min {
        bail!(Usage(format!(
            "PADDOCK_ADMIN_PASSWORD: a password needs at least {min} characters"
        )));
    } else {
        (given, false)
    };
    let to_hash = password.clone();
    let hash =
        tokio::task::spawn_blocking(move || paddock_api::credentials::hash_password(&to_hash))
            .await??;
    let created = store
        .create_user(&paddock_store::NewUser {
            name: name.to_string(),
            role: Some(paddock_protocol::identity::Role::Admin),
            password_hash: Some(hash),
            ..paddock_store::NewUser::default()
        })
        .await;
    let user = match created {
        Ok(user) => user,
        // Several hosts starting together on one database: another made
        // the first admin between the count and the insert.
        Err(paddock_store::StoreError::Conflict(_))
            if store
                .count_team_users()
                .await
                .context("cannot count the users")?
                > 0 =>
        {
            tracing::info!(
                "PADDOCK_ADMIN_USER: another host created the first admin at the same time"
            );
            return Ok(Vec::new());
        }
        Err(e) => return Err(anyhow::Error::from(e).context("cannot create the first admin")),
    };
    store
        .audit(&paddock_store::NewAudit {
            kind: "user".into(),
            action: "created".into(),
            actor: "PADDOCK_ADMIN_USER".into(),
            reason: format!("first admin {}", user.name),
            detail: serde_json::json!({"user": {"id": user.id, "name": user.name, "role": user.role}}),
            ..paddock_store::NewAudit::default()
        })
        .await
        .context("cannot audit the first admin's creation")?;
    let mut lines = vec![format!(
        "first admin `{}` created from $PADDOCK_ADMIN_USER",
        user.name
    )];
    if generated {
        lines.push(format!(
            "first admin `{}`: password (shown once): {password}",
            user.name
        ));
    }
    Ok(lines)
}
