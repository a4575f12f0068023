//! `paddock user …`: the team's accounts from the command line — adding,
//! listing, disabling, enabling and removing users, setting a password
//! (read from stdin), and printing personal access tokens for scripts and
//! tests. Changes are audited with the actor `command line`.
//! Works on the data dir's store, also while `paddock serve` runs (which
//! sees a change within seconds).

use super::common::{ConfigArgs, Usage, data_dir, load_config};
use crate::Cli;
use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use paddock_api::credentials::{MIN_PASSWORD, hash_password, mint_token};
use paddock_protocol::identity::{LOCAL_USER, Role, Scope};
use paddock_store::{NewAudit, NewToken, NewUser, Store, StoreError, UserPatch, UserRecord};
use std::process::ExitCode;

#[derive(Subcommand)]
pub(crate) enum UserCmd {
    /// Add a user (a local account), optionally printing a new personal
    /// access token for it (the last line of the output, alone).
    Add(AddArgs),
    /// List the users (never a secret).
    List(ListArgs),
    /// Print a new personal access token for a user (the last line of the
    /// output, alone; shown once).
    Token(TokenArgs),
    /// Set a user's password, read from stdin (its first line).
    Passwd(NameArgs),
    /// Disable a user: it cannot sign in, its tokens and sessions fail.
    Disable(NameArgs),
    /// Enable a disabled user again.
    Enable(NameArgs),
    /// Remove a user with its tokens and group memberships (its agents
    /// stay, for admins).
    Remove(NameArgs),
}

#[derive(Args)]
pub(crate) struct AddArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// Its sign-in name: 1 to 64 of A-Z a-z 0-9 . _ -, starting with a letter or digit.
    name: String,
    /// What it may do.
    #[arg(long, value_enum, default_value = "member")]
    role: Role,
    /// Also make a personal access token and print it (shown once).
    #[arg(long)]
    token: bool,
    /// The token's scope (default: `admin` for an admin, else `write`).
    #[arg(long, value_enum, requires = "token")]
    scope: Option<Scope>,
    /// Days until the token expires.
    #[arg(long, default_value_t = 90, value_parser = clap::value_parser!(u32).range(1..=365), requires = "token")]
    expires_days: u32,
}

/// Runs `paddock user …`.
pub(crate) async fn run(cli: &Cli, cmd: &UserCmd) -> Result<ExitCode> {
    match cmd {
        UserCmd::Add(args) => add(cli, args).await,
        UserCmd::List(args) => list(cli, args).await,
        UserCmd::Token(args) => token(cli, args).await,
        UserCmd::Passwd(args) => passwd(cli, args).await,
        UserCmd::Disable(args) => set_disabled(cli, args, true).await,
        UserCmd::Enable(args) => set_disabled(cli, args, false).await,
        UserCmd::Remove(args) => remove(cli, args).await,
    }
}

/// The store of the data dir and configuration these flags name.
pub(crate) async fn open_store(cli: &Cli, config: &ConfigArgs) -> Result<Store> {
    let data_dir = data_dir(cli)?;
    let config = load_config(cli, config)?;
    Ok(Store::open_configured(config.database_url.as_deref(), &data_dir).await?)
}

async fn add(cli: &Cli, args: &AddArgs) -> Result<ExitCode> {
    if !paddock_protocol::is_plain_name(&args.name) {
        bail!(Usage(format!(
            "NAME: `{}` is not a plain name (1 to 64 of A-Z a-z 0-9 . _ -, starting with a letter or digit)",
            args.name
        )));
    }
    let store = open_store(cli, &args.config).await?;
    let user = match store
        .create_user(&NewUser {
            name: args.name.clone(),
            role: Some(args.role),
            ..NewUser::default()
        })
        .await
    {
        Ok(u) => u,
        Err(StoreError::Conflict(_)) => {
            bail!(Usage(format!(
                "a user named `{}` exists already",
                args.name
            )))
        }
        Err(e) => return Err(e.into()),
    };
    out!(
        "added user {} ({}), role {}",
        user.name,
        user.id,
        user.role.as_str()
    );
    audit(
        &store,
        "user",
        "created",
        format!("user {} ({})", user.name, user.role.as_str()),
        serde_json::json!({"user": {"id": user.id, "name": user.name, "role": user.role}}),
    )
    .await;
    if args.token {
        print_new_token(&store, &user, "cli", args.scope, args.expires_days).await?;
    }
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

#[derive(Args)]
pub(crate) struct ListArgs {
    #[command(flatten)]
    config: ConfigArgs,
}

#[derive(Args)]
pub(crate) struct TokenArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// The user's name.
    name: String,
    /// The token's scope (default: `admin` for an admin, else `write`).
    #[arg(long, value_enum)]
    scope: Option<Scope>,
    /// Days until the token expires.
    #[arg(long, default_value_t = 90, value_parser = clap::value_parser!(u32).range(1..=365))]
    expires_days: u32,
    /// A name for the token, to recognise it in lists.
    #[arg(long = "token-name", default_value = "cli")]
    token_name: String,
}

#[derive(Args)]
pub(crate) struct NameArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// The user's name.
    name: String,
}

/// Who the audit log says made a change from the command line.
const CLI_ACTOR: &str = "command line";

async fn audit(store: &Store, kind: &str, action: &str, reason: String, detail: serde_json::Value) {
    let entry = NewAudit {
        kind: kind.into(),
        action: action.into(),
        actor: CLI_ACTOR.into(),
        reason,
        detail,
        ..NewAudit::default()
    };
    if let Err(e) = store.audit(&entry).await {
        eprintln!("warning: the change is made but could not be audited: {e}");
    }
}

/// The user named `name` (a usage error when there is none).
async fn find_user(store: &Store, name: &str) -> Result<UserRecord> {
    match store.get_user_by_name(name).await? {
        Some(u) => Ok(u),
        None => bail!(Usage(format!(
            "no user named `{name}` (see `paddock user list`)"
        ))),
    }
}

fn not_local(user: &UserRecord, what: &str) -> Result<()> {
    if user.id == LOCAL_USER {
        bail!(Usage(format!(
            "the built-in `local` account (the service tokens and the login link act as it) cannot be {what}"
        )));
    }
    Ok(())
}

async fn list(cli: &Cli, args: &ListArgs) -> Result<ExitCode> {
    let store = open_store(cli, &args.config).await?;
    let users = store.list_users().await?;
    out!(
        "{:<24} {:<7} {:<8} {:<9} {:<20} ID",
        "NAME",
        "ROLE",
        "STATE",
        "SIGN-IN",
        "LAST SIGN-IN"
    );
    for u in users {
        let sign_in = if u.oidc.is_some() {
            "sso"
        } else if u.password_hash.is_some() {
            "password"
        } else {
            "tokens"
        };
        out!(
            "{:<24} {:<7} {:<8} {:<9} {:<20} {}",
            u.name,
            u.role.as_str(),
            if u.disabled { "disabled" } else { "enabled" },
            sign_in,
            u.last_sign_in_at
                .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
                .unwrap_or_else(|| "-".into()),
            u.id
        );
    }
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

/// Makes a token for `user` and prints it alone on stdout's last line.
async fn print_new_token(
    store: &Store,
    user: &UserRecord,
    token_name: &str,
    scope: Option<Scope>,
    expires_days: u32,
) -> Result<()> {
    let scope = scope.unwrap_or(if user.role == Role::Admin {
        Scope::Admin
    } else {
        Scope::Write
    });
    if token_name.trim().is_empty()
        || token_name.chars().count() > 64
        || token_name.chars().any(char::is_control)
    {
        bail!(Usage(
            "--token-name: 1 to 64 characters, no control characters".into()
        ));
    }
    let minted = mint_token();
    let token = store
        .create_token(&NewToken {
            user_id: user.id.clone(),
            name: token_name.trim().into(),
            hash: minted.hash,
            prefix: minted.prefix,
            scope,
            expires_at: Some(chrono::Utc::now() + chrono::Duration::days(i64::from(expires_days))),
        })
        .await?;
    audit(
        store,
        "token",
        "created",
        format!("token `{}` ({}…) for {}, scope {}", token.name, token.prefix, user.name, scope.as_str()),
        serde_json::json!({"token": {"id": token.id, "name": token.name, "prefix": token.prefix,
            "scope": scope, "expires_at": token.expires_at}, "user": {"id": user.id, "name": user.name}}),
    )
    .await;
    eprintln!(
        "personal access token {} (scope {}, expires {}); it is shown once:",
        token.id,
        scope.as_str(),
        token
            .expires_at
            .map(|t| t.format("%Y-%m-%d").to_string())
            .unwrap_or_default()
    );
    out!("{}", minted.secret);
    Ok(())
}

async fn token(cli: &Cli, args: &TokenArgs) -> Result<ExitCode> {
    let store = open_store(cli, &args.config).await?;
    let user = find_user(&store, &args.name).await?;
    if user.disabled {
        bail!(Usage(format!(
            "`{}` is disabled: `paddock user enable {}` first",
            user.name, user.name
        )));
    }
    print_new_token(
        &store,
        &user,
        &args.token_name,
        args.scope,
        args.expires_days,
    )
    .await?;
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

/// Reads a new password from stdin: its first line (a terminal's echo is
/// the operator's business; pipe it in to keep it out of the history).
fn read_password() -> Result<String> {
    use std::io::BufRead;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let password = line.trim_end_matches(['\n', '\r']).to_string();
    if password.chars().count() < MIN_PASSWORD {
        bail!(Usage(format!(
            "the password (read from stdin) needs at least {MIN_PASSWORD} characters"
        )));
    }
    if password.len() > 1024 {
        bail!(Usage(
            "the password (read from stdin) may have at most 1024 bytes".into()
        ));
    }
    Ok(password)
}

async fn passwd(cli: &Cli, args: &NameArgs) -> Result<ExitCode> {
    let store = open_store(cli, &args.config).await?;
    let user = find_user(&store, &args.name).await?;
    not_local(&user, "given a password")?;
    if user.oidc.is_some() {
        bail!(Usage(format!(
            "`{}` signs in with single sign-on: its password is the provider's",
            user.name
        )));
    }
    if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        eprintln!(
            "new password for {} (at least {MIN_PASSWORD} characters), then Enter:",
            user.name
        );
    }
    let password = read_password()?;
    let hash = tokio::task::spawn_blocking(move || hash_password(&password)).await??;
    store
        .update_user(
            &user.id,
            &UserPatch {
                password_hash: Some(Some(hash)),
                ..UserPatch::default()
            },
        )
        .await?;
    audit(
        &store,
        "user",
        "updated",
        format!("user {}: password", user.name),
        serde_json::json!({"user": {"id": user.id, "name": user.name}, "changed": ["password"]}),
    )
    .await;
    out!("password of {} set", user.name);
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

async fn set_disabled(cli: &Cli, args: &NameArgs, disabled: bool) -> Result<ExitCode> {
    let store = open_store(cli, &args.config).await?;
    let user = find_user(&store, &args.name).await?;
    if disabled {
        not_local(&user, "disabled")?;
    }
    store
        .update_user(
            &user.id,
            &UserPatch {
                disabled: Some(disabled),
                ..UserPatch::default()
            },
        )
        .await?;
    let action = if disabled { "disabled" } else { "enabled" };
    audit(
        &store,
        "user",
        action,
        format!("user {}", user.name),
        serde_json::json!({"user": {"id": user.id, "name": user.name}}),
    )
    .await;
    out!("{} {action}", user.name);
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

async fn remove(cli: &Cli, args: &NameArgs) -> Result<ExitCode> {
    let store = open_store(cli, &args.config).await?;
    let user = find_user(&store, &args.name).await?;
    not_local(&user, "removed")?;
    store.delete_user(&user.id).await?;
    audit(
        &store,
        "user",
        "removed",
        format!("user {} ({})", user.name, user.role.as_str()),
        serde_json::json!({"user": {"id": user.id, "name": user.name, "role": user.role}}),
    )
    .await;
    out!(
        "removed {} (its tokens and group memberships; its agents stay)",
        user.name
    );
    store.close().await;
    Ok(ExitCode::SUCCESS)
}
