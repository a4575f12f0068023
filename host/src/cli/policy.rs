//! `paddock policy …`: what the policy pipeline decides for a call, and
//! the rules, without running anything.

use super::common::{ConfigArgs, Usage, data_dir, load_config, open_host};
use crate::Cli;
use anyhow::{Result, bail};
use clap::Subcommand;
use std::process::ExitCode;

#[derive(Subcommand)]
pub(crate) enum PolicyCmd {
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

/// Runs `paddock policy …`.
pub(crate) async fn run(cli: &Cli, cmd: &PolicyCmd) -> Result<ExitCode> {
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
