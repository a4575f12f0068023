//! `paddock user …`: the team's accounts from the command line — adding a
//! user (and printing a personal access token for scripts and tests).
//! Works on the data dir's store, also while `paddock serve` runs (which
//! sees a change within seconds).

use super::common::{ConfigArgs, Usage, data_dir, load_config};
use crate::Cli;
use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use paddock_api::credentials::mint_token;
use paddock_protocol::identity::{Role, Scope};
use paddock_store::{NewToken, NewUser, Store, StoreError};
use std::process::ExitCode;

#[derive(Subcommand)]
pub(crate) enum UserCmd {
    /// Add a user (a local account), optionally printing a new personal
    /// access token for it (the last line of the output, alone).
    Add(AddArgs),
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
    if args.token {
        let scope = args.scope.unwrap_or(if args.role == Role::Admin {
            Scope::Admin
        } else {
            Scope::Write
        });
        let minted = mint_token();
        let token = store
            .create_token(&NewToken {
                user_id: user.id.clone(),
                name: "cli".into(),
                hash: minted.hash,
                prefix: minted.prefix,
                scope,
                expires_at: Some(
                    chrono::Utc::now() + chrono::Duration::days(i64::from(args.expires_days)),
                ),
            })
            .await?;
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
    }
    store.close().await;
    Ok(ExitCode::SUCCESS)
}
