//! `paddock workflow …`: `run` one workflow headless — its steps printed as
//! they happen (the run's log replayed from the store, then followed
//! live), its human gates and its agents' approvals asked on the terminal
//! (refused without one), exit 0 when it succeeded, 1 when it failed or
//! was cancelled, 2 on a usage error —, `list` the definitions, and
//! `check` a definition file.

use super::common::{
    ConfigArgs, McpFileArgs, SandboxArgs, Usage, data_dir, ended_badly, load_config, open_app,
};
use crate::Cli;
use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use paddock_core::workflow::{DefFormat, WorkflowError, Workflows};
use paddock_protocol::workflow::{
    StepOutcome, WorkflowEvent, WorkflowEventBody as W, WorkflowRunStatus,
};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Subcommand)]
pub(crate) enum WorkflowCmd {
    /// Run a workflow headless: print its steps as they happen, ask its gates and approvals on
    /// the terminal; exit 0 if it succeeded, 1 if it failed or was cancelled.
    Run(WorkflowRunArgs),
    /// List the workflow definitions (built-in, files, paddock.toml, the API's).
    List {
        #[command(flatten)]
        config: ConfigArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check a workflow definition file (YAML, or TOML by its `.toml` extension) against this
    /// data dir (its agent templates); exit 2 naming the field that is wrong.
    Check {
        #[command(flatten)]
        config: ConfigArgs,
        /// The definition file.
        file: PathBuf,
    },
}

#[derive(Args)]
pub(crate) struct WorkflowRunArgs {
    #[command(flatten)]
    pub(crate) config: ConfigArgs,
    #[command(flatten)]
    pub(crate) mcp: McpFileArgs,
    #[command(flatten)]
    pub(crate) sandbox: SandboxArgs,
    /// An input of the run, `NAME=VALUE` (repeatable).
    #[arg(long = "input", value_name = "NAME=VALUE", value_parser = parse_input)]
    pub(crate) inputs: Vec<(String, String)>,
    /// A directory under which the run's repository and its agents' directories may lie
    /// (repeatable; replaces `[workspaces] roots`; default: none, only the data dir's own
    /// workspaces).
    #[arg(long = "workspace-root", value_name = "DIR")]
    pub(crate) workspace_roots: Vec<PathBuf>,
    /// Print the run's events as JSON lines.
    #[arg(long)]
    pub(crate) json: bool,
    /// The workflow's name.
    pub(crate) name: String,
}

fn parse_input(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("`{s}` is not NAME=VALUE")),
    }
}

/// Runs `paddock workflow …`.
pub(crate) async fn run(cli: &Cli, cmd: &WorkflowCmd) -> Result<ExitCode> {
    match cmd {
        WorkflowCmd::Run(args) => run_one(cli, args).await,
        WorkflowCmd::List { config, json } => list(cli, config, *json).await,
        WorkflowCmd::Check { config, file } => check(cli, config, file).await,
    }
}

/// A usage error for what the caller got wrong, any other failure as is.
fn usage_or(e: WorkflowError) -> anyhow::Error {
    match e {
        WorkflowError::Invalid(m) | WorkflowError::NotFound(m) => Usage(m).into(),
        other => other.into(),
    }
}

/// The workflows of the data dir, without running anything: no stored run
/// is resumed.
async fn open_definitions(cli: &Cli, config: &ConfigArgs) -> Result<Arc<Workflows>> {
    let config = load_config(cli, config)?;
    let app = open_app(
        cli,
        config,
        false,
        &SandboxArgs {
            sandbox: None,
            unsafe_no_sandbox: false,
        },
        &McpFileArgs { mcp_config: None },
        None,
    )
    .await?;
    Ok(app.workflows.clone())
}

async fn list(cli: &Cli, config: &ConfigArgs, json: bool) -> Result<ExitCode> {
    let workflows = open_definitions(cli, config).await?;
    let defs = workflows.definitions().await?;
    if json {
        out!("{}", serde_json::to_string_pretty(&defs)?);
        return Ok(ExitCode::SUCCESS);
    }
    for d in defs {
        let source = serde_json::to_value(d.source)?;
        out!(
            "{}\t{}\t{}",
            d.name,
            source.as_str().unwrap_or_default(),
            d.description.lines().next().unwrap_or_default()
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn check(cli: &Cli, config: &ConfigArgs, file: &std::path::Path) -> Result<ExitCode> {
    let text =
        std::fs::read_to_string(file).map_err(|e| Usage(format!("{}: {e}", file.display())))?;
    let format = if file.extension().is_some_and(|e| e == "toml") {
        DefFormat::Toml
    } else {
        DefFormat::Yaml
    };
    let def = Workflows::parse(&text, format)
        .map_err(|e| Usage(format!("{}: {}", file.display(), message(e))))?;
    let workflows = open_definitions(cli, config).await?;
    workflows.check(&def).await.map_err(|e| match e {
        WorkflowError::Invalid(m) => Usage(format!("{}: {m}", file.display())).into(),
        other => anyhow::Error::from(other),
    })?;
    out!("{}: workflow `{}` is valid", file.display(), def.name);
    Ok(ExitCode::SUCCESS)
}

/// The text of an error the caller caused.
fn message(e: WorkflowError) -> String {
    match e {
        WorkflowError::Invalid(m) | WorkflowError::NotFound(m) => m,
        other => other.to_string(),
    }
}

/// One question on the terminal at a time (gates and approvals of parallel
/// agents may come together).
type Asking = Arc<tokio::sync::Mutex<()>>;

/// Asks `question` on the terminal; without one, answers no with `why`.
async fn ask(asking: &Asking, question: String) -> (bool, String, Option<String>) {
    use std::io::IsTerminal as _;
    if !std::io::stdin().is_terminal() {
        return (
            false,
            "paddock workflow run (no terminal)".into(),
            Some("a headless run has nobody to ask".into()),
        );
    }
    let _one = asking.lock().await;
    let answer = tokio::task::spawn_blocking(move || {
        use std::io::Write as _;
        eprint!("{question} [y/N] ");
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map(|_| line)
    })
    .await;
    let yes = matches!(answer, Ok(Ok(l)) if matches!(l.trim(), "y" | "Y" | "yes"));
    (yes, "paddock workflow run (terminal)".into(), None)
}

/// Asks each approval one step agent requests, on the terminal, until the
/// agent's stream ends (the command exits).
async fn approvals_of(app: paddock_api::app::App, agent: String, asking: Asking) {
    use paddock_protocol::events::EventBody;
    let mut events =
        paddock_core::agent::follow::Follow::subscribe(app.store.clone(), &app.bus, &agent, 0);
    loop {
        let event = match events.next().await {
            Ok(Some(f)) => match f.event() {
                Some(e) => e.clone(),
                None => continue,
            },
            Ok(None) | Err(_) => return,
        };
        let EventBody::ApprovalRequested {
            call_id,
            tool,
            arguments,
            ..
        } = &event.body
        else {
            continue;
        };
        let (approved, by, reason) = ask(
            &asking,
            format!("agent {agent}: approve {tool} {arguments}?"),
        )
        .await;
        if let Err(e) = app
            .manager
            .decide(
                &agent,
                call_id,
                approved,
                reason,
                Default::default(),
                &paddock_core::agent::Actor::named(by),
            )
            .await
        {
            // Decided meanwhile by someone else: their decision stands.
            if !matches!(e, paddock_core::agent::AgentError::Conflict(_)) {
                eprintln!("cannot decide the approval: {e}");
            }
        }
    }
}

/// Writes one event of a run as `paddock workflow run` shows it.
fn write_event(out: &mut dyn std::io::Write, event: &WorkflowEvent) {
    match &event.body {
        W::WorkflowStarted { workflow, name, .. } => {
            let _ = writeln!(out, "workflow {workflow}: run {name} ({})", event.run_id);
        }
        W::WorkflowWorkspace { path, .. } => {
            let _ = writeln!(out, "  workspace {path}");
        }
        W::StepStarted {
            step,
            attempt,
            iteration,
        } => {
            let again = if *iteration > 1 {
                format!(" (pass {iteration})")
            } else {
                String::new()
            };
            if *attempt <= 1 {
                let _ = writeln!(out, "▶ {step}{again}");
            }
        }
        W::StepAgent {
            step,
            agent_id,
            item_text,
            ..
        } => match item_text {
            Some(item) => {
                let _ = writeln!(out, "  {step}: agent {agent_id} on {item}");
            }
            None => {
                let _ = writeln!(out, "  {step}: agent {agent_id}");
            }
        },
        W::StepPrompted { .. } => {}
        W::VerifyStarted {
            step,
            command,
            rerun,
            ..
        } => {
            let again = if *rerun {
                " (again: a restart cut the last one)"
            } else {
                ""
            };
            let _ = writeln!(out, "  {step}: verify `{command}`{again}");
        }
        W::VerifyFinished {
            step,
            exit_code,
            output,
            ..
        } => {
            let (mark, how) = match exit_code {
                Some(0) => ("✓", "passed".to_string()),
                Some(c) => ("✗", format!("failed (exit {c})")),
                None => ("✗", "did not finish".to_string()),
            };
            let _ = writeln!(out, "  {mark} {step}: verify {how}");
            if *exit_code != Some(0) {
                let lines: Vec<&str> = output.lines().collect();
                for line in &lines[lines.len().saturating_sub(10)..] {
                    let _ = writeln!(out, "  │ {line}");
                }
            }
        }
        W::StepRetry {
            step,
            attempt,
            reason,
        } => {
            let _ = writeln!(out, "  ↻ {step}: attempt {attempt}: {reason}");
        }
        W::AttemptStarted {
            step,
            attempt,
            agent_id,
            ..
        } => {
            let _ = writeln!(out, "  {step} #{attempt}: agent {agent_id}");
        }
        W::AttemptVerifyStarted {
            step,
            attempt,
            command,
            ..
        } => {
            let _ = writeln!(out, "  {step} #{attempt}: verify `{command}`");
        }
        W::AttemptVerifyFinished { .. } => {}
        W::AttemptRetry {
            step,
            attempt,
            round,
            reason,
        } => {
            let _ = writeln!(out, "  ↻ {step} #{attempt}: round {round}: {reason}");
        }
        W::AttemptFinished {
            step,
            attempt,
            passed,
            cost_usd,
            reason,
            ..
        } => {
            let (mark, how) = if *passed {
                ("✓", "passed".to_string())
            } else {
                (
                    "✗",
                    format!("did not pass: {}", reason.as_deref().unwrap_or("")),
                )
            };
            let _ = writeln!(out, "  {mark} {step} #{attempt} {how} (${cost_usd:.4})");
        }
        W::AttemptKept {
            step,
            attempt,
            workspace_id,
            ..
        } => {
            let _ = writeln!(
                out,
                "  ★ {step}: kept attempt #{attempt} (workspace {workspace_id}: merge it with `POST /api/workspaces/{workspace_id}/merge`)"
            );
        }
        W::StepGoto { step, to, count } => {
            let _ = writeln!(out, "  ↩ {step} failed: back to {to} (jump {count})");
        }
        W::GateRequested {
            step,
            message,
            diff,
        } => {
            let _ = writeln!(out, "  ? {step}: {message}");
            for line in diff.lines() {
                let _ = writeln!(out, "  │ {line}");
            }
        }
        W::GateDecided {
            step,
            approved,
            reason,
            by,
        } => {
            let how = if *approved { "approved" } else { "rejected" };
            let why = reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default();
            let _ = writeln!(out, "  ? {step}: {how} by {by}{why}");
        }
        W::StepFinished {
            step,
            status,
            output,
            cost_usd,
            reason,
        } => {
            let (mark, how) = match status {
                StepOutcome::Succeeded => ("✓", "succeeded"),
                StepOutcome::Failed => ("✗", "failed"),
                StepOutcome::Skipped => ("-", "skipped"),
            };
            let why = reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default();
            let _ = writeln!(out, "{mark} {step} {how} (${cost_usd:.4}){why}");
            if *status == StepOutcome::Succeeded
                && let Some(first) = output.as_deref().and_then(|o| o.lines().next())
            {
                let _ = writeln!(out, "  │ {first}");
            }
        }
        W::WorkflowFinished { status, reason } => {
            let why = reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default();
            let _ = writeln!(out, "workflow {}{why}", status.as_str());
        }
    }
}

/// Runs `paddock workflow run`.
async fn run_one(cli: &Cli, args: &WorkflowRunArgs) -> Result<ExitCode> {
    let mut inputs = BTreeMap::new();
    for (k, v) in &args.inputs {
        if inputs.insert(k.clone(), v.clone()).is_some() {
            bail!(Usage(format!("--input {k}: given twice")));
        }
    }
    let mut config = load_config(cli, &args.config)?;
    if !args.workspace_roots.is_empty() {
        let mut roots = Vec::new();
        for root in &args.workspace_roots {
            roots.push(
                std::fs::canonicalize(root)
                    .map_err(|e| Usage(format!("--workspace-root {}: {e}", root.display())))?,
            );
        }
        config.workspaces.roots = roots;
    }
    let app = open_app(cli, config, false, &args.sandbox, &args.mcp, None).await?;
    let workflows = app.workflows.clone();
    let run = workflows
        .start(&args.name, inputs, paddock_protocol::identity::LOCAL_USER)
        .await
        .map_err(usage_or)?;
    let id = run.id.clone();
    if !args.json {
        eprintln!("workflow run {id} (data in {})", data_dir(cli)?.display());
    }
    let asking: Asking = Arc::default();
    let mut followers = Vec::new();
    let mut events = workflows.follow(&id, 0);
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    let mut cancelling = false;
    let mut finished: Option<(WorkflowRunStatus, Option<String>)> = None;
    while finished.is_none() {
        let next = tokio::select! {
            next = events.next() => next?,
            _ = &mut interrupted, if !cancelling => {
                cancelling = true;
                eprintln!("cancelling…");
                if let Err(e) = workflows.cancel(&id).await {
                    eprintln!("cannot cancel the run: {e}");
                }
                continue;
            }
        };
        let Some(event) = next else {
            bail!("the run's event stream closed");
        };
        if args.json {
            if let Ok(line) = serde_json::to_string(&event) {
                out!("{line}");
            }
        } else {
            write_event(&mut std::io::stdout().lock(), &event);
        }
        match &event.body {
            W::StepAgent { agent_id, .. } => {
                followers.push(tokio::spawn(approvals_of(
                    app.clone(),
                    agent_id.clone(),
                    asking.clone(),
                )));
            }
            W::GateRequested { step, message, .. } => {
                let (approved, by, reason) =
                    ask(&asking, format!("gate {step}: {message} — approve?")).await;
                let actor = paddock_core::agent::Actor::named(by);
                match workflows
                    .decide_gate(&id, step, approved, reason, &actor)
                    .await
                {
                    // Decided already (the run was cancelled meanwhile).
                    Ok(_) | Err(WorkflowError::Conflict(_)) => {}
                    Err(e) => eprintln!("cannot decide the gate: {e}"),
                }
            }
            W::WorkflowFinished { status, reason } => {
                finished = Some((*status, reason.clone()));
            }
            _ => {}
        }
    }
    for f in followers {
        f.abort();
    }
    app.manager.drain().await;
    app.sandbox.shutdown().await;
    app.mcp.shutdown().await;
    let run = workflows.run(&id).await?;
    if !args.json {
        eprintln!("cost: ${:.4}", run.cost_usd);
    }
    match finished {
        Some((WorkflowRunStatus::Succeeded, _)) => Ok(ExitCode::SUCCESS),
        Some((status, reason)) => Ok(ended_badly(status.as_str(), reason)),
        None => bail!("the run ended without a status"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(body: W) -> String {
        let mut out = Vec::new();
        write_event(
            &mut out,
            &WorkflowEvent {
                seq: 1,
                run_id: "r".into(),
                ts: chrono::DateTime::from_timestamp(0, 0).unwrap(),
                body,
            },
        );
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn inputs_are_name_equals_value() {
        assert_eq!(
            parse_input("task=fix it = now").unwrap(),
            ("task".into(), "fix it = now".into())
        );
        assert_eq!(parse_input("empty=").unwrap(), ("empty".into(), "".into()));
        assert!(parse_input("novalue").is_err());
        assert!(parse_input("=x").is_err());
    }

    #[test]
    fn a_failed_verify_shows_its_last_lines_and_a_step_its_outcome() {
        let text = shown(W::VerifyFinished {
            step: "test".into(),
            attempt: 1,
            exit_code: Some(1),
            output: "a\nb\nFAIL: done.txt missing".into(),
        });
        assert_eq!(
            text,
            "  ✗ test: verify failed (exit 1)\n  │ a\n  │ b\n  │ FAIL: done.txt missing\n"
        );
        let text = shown(W::StepFinished {
            step: "plan".into(),
            status: StepOutcome::Succeeded,
            output: Some("1. do it\n2. test it".into()),
            cost_usd: 0.5,
            reason: None,
        });
        assert_eq!(text, "✓ plan succeeded ($0.5000)\n  │ 1. do it\n");
        let text = shown(W::WorkflowFinished {
            status: WorkflowRunStatus::Failed,
            reason: Some("step test failed".into()),
        });
        assert_eq!(text, "workflow failed: step test failed\n");
    }
}
