//! `paddock export-script`: a stored run as a scripted-model script, to
//! replay it offline (`paddock scripted-model --script` plus `paddock
//! run`) and see where a new run diverges — the way to turn a bug report
//! into a regression test.

use super::common::{ConfigArgs, Usage, data_dir, load_config};
use crate::Cli;
use anyhow::{Context, Result};
use clap::Args;
use paddock_llm::scripted::export::{ExportError, script_from_events};
use std::process::ExitCode;

#[derive(Args)]
pub(crate) struct ExportArgs {
    #[command(flatten)]
    pub(crate) config: ConfigArgs,
    /// The agent whose run to export (its id).
    pub(crate) agent_id: String,
}

/// Events read from the store at a time.
const PAGE: u32 = 1000;

/// Runs `paddock export-script`: the script on stdout.
pub(crate) async fn run(cli: &Cli, args: &ExportArgs) -> Result<ExitCode> {
    let config = load_config(cli, &args.config)?;
    let store =
        paddock_store::Store::open_configured(config.database_url.as_deref(), &data_dir(cli)?)
            .await
            .context("cannot open the store")?;
    if store.get_agent(&args.agent_id).await?.is_none() {
        return Err(Usage(format!("no agent `{}` in the store", args.agent_id)).into());
    }
    let mut events = Vec::new();
    loop {
        let after = events
            .last()
            .map_or(0, |e: &paddock_protocol::events::Event| e.seq);
        let page = store.events_after(&args.agent_id, after, PAGE).await?;
        let done = page.len() < PAGE as usize;
        events.extend(page);
        if done {
            break;
        }
    }
    let exported = script_from_events(&args.agent_id, &events).map_err(|e| match e {
        ExportError::Write(_) => anyhow::Error::from(e),
        other => Usage(format!("agent `{}`: {other}", args.agent_id)).into(),
    })?;
    out!("{}", exported.yaml.trim_end());
    eprintln!(
        "exported {} model answers of agent {} (task: {:?})",
        exported.turns,
        args.agent_id,
        exported.task.lines().next().unwrap_or("")
    );
    Ok(ExitCode::SUCCESS)
}
