//! `paddock secrets …`: the master key that seals the provider keys
//! stored through the API — rotating it.

use super::common::{ConfigArgs, Usage, data_dir, load_config};
use crate::Cli;
use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use paddock_core::secrets::{
    KeySource, MASTER_KEY_ENV, MASTER_KEY_FILE_ENV, MASTER_KEY_FILE_NAME, MasterKey, Vault,
};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Subcommand)]
pub(crate) enum SecretsCmd {
    /// Reseal every stored secret under a new, random master key (in one
    /// transaction) and write the new key. Stop `paddock serve` first: it
    /// refuses to run while a server uses the data dir.
    #[command(
        long_about = "Reseal every stored secret (the provider keys entered through the API) under a new, random master key, in one database transaction, and write the new key: to <data-dir>/master.key (replaced atomically, mode 0600) or to --new-key-file. Run it while `paddock serve` is stopped: it refuses while a server uses the data dir. The current key is found as `serve` finds it: $PADDOCK_MASTER_KEY, else --master-key-file / $PADDOCK_MASTER_KEY_FILE, else <data-dir>/master.key."
    )]
    RotateMasterKey(RotateArgs),
}

#[derive(Args)]
pub(crate) struct RotateArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// The current master key's file (as `serve --master-key-file`).
    #[arg(long, env = "PADDOCK_MASTER_KEY_FILE", value_name = "FILE")]
    master_key_file: Option<PathBuf>,
    /// Where to write the new key (default: where the current key came
    /// from when that was a file, else <data-dir>/master.key).
    #[arg(long, value_name = "FILE")]
    new_key_file: Option<PathBuf>,
}

/// Runs `paddock secrets …`.
pub(crate) async fn run(cli: &Cli, cmd: &SecretsCmd) -> Result<ExitCode> {
    match cmd {
        SecretsCmd::RotateMasterKey(args) => rotate(cli, args).await,
    }
}

async fn rotate(cli: &Cli, args: &RotateArgs) -> Result<ExitCode> {
    let data_dir = data_dir(cli)?;
    if !data_dir.is_dir() {
        bail!(Usage(format!(
            "data dir {} does not exist: nothing to rotate",
            data_dir.display()
        )));
    }
    // The server must be stopped: it holds the old key in memory.
    let lock_path = data_dir.join("serve.lock");
    let lock = std::fs::File::create(&lock_path)
        .with_context(|| format!("cannot create {}", lock_path.display()))?;
    if lock.try_lock().is_err() {
        bail!(Usage(format!(
            "a `paddock serve` is using {}: stop it, rotate, then start it again",
            data_dir.display()
        )));
    }
    let from_env = std::env::var_os(MASTER_KEY_ENV).is_some();
    let default_file = data_dir.join(MASTER_KEY_FILE_NAME);
    if !from_env && args.master_key_file.is_none() && !default_file.exists() {
        bail!(Usage(format!(
            "no master key: {MASTER_KEY_ENV} and {MASTER_KEY_FILE_ENV} are not set and {} does not exist (it is created by the first `paddock serve`)",
            default_file.display()
        )));
    }
    let config = load_config(cli, &args.config)?;
    let store =
        paddock_store::Store::open_configured(config.database_url.as_deref(), &data_dir).await?;
    let (old, source) = MasterKey::load(args.master_key_file.as_deref(), &data_dir)?;
    // Refuses a key that is not the one that sealed the secrets.
    let copy = MasterKey::from_base64(&old.to_base64()).map_err(anyhow::Error::msg)?;
    Vault::open(store.clone(), copy, source.clone()).await?;
    let target = match (&args.new_key_file, &source) {
        (Some(f), _) => f.clone(),
        (None, KeySource::File(f)) => f.clone(),
        (None, KeySource::DataDir { path, .. }) => path.clone(),
        (None, KeySource::Env) => default_file.clone(),
    };
    let new = MasterKey::generate();
    // The new key is on disk before any secret is sealed with it.
    let staged = target.with_file_name(format!(
        ".{}.new",
        target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| MASTER_KEY_FILE_NAME.to_string())
    ));
    let _ = std::fs::remove_file(&staged);
    new.create_file(&staged)?;
    let count = match paddock_core::secrets::rotate(&store, &old, &new).await {
        Ok(n) => n,
        Err(e) => {
            let _ = std::fs::remove_file(&staged);
            store.close().await;
            return Err(anyhow::Error::new(e).context("nothing was changed"));
        }
    };
    store.close().await;
    std::fs::rename(&staged, &target).with_context(|| {
        format!(
            "the secrets are now sealed with the new key, which is in {}; move it to {} yourself",
            staged.display(),
            target.display()
        )
    })?;
    out!(
        "resealed {count} secret(s) under a new master key (id {}), written to {}",
        new.id(),
        target.display()
    );
    if from_env {
        out!(
            "{MASTER_KEY_ENV} is set and would still give the old key: set it to the content of {} (or unset it) before starting `paddock serve`",
            target.display()
        );
    } else if args.new_key_file.is_some() && Some(&target) != args.master_key_file.as_ref() {
        out!(
            "start `paddock serve --master-key-file {}` (or set {MASTER_KEY_FILE_ENV}) from now on",
            target.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
