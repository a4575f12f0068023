//! `paddock run`: one agent headless on a task — its events printed as they
//! happen (replayed from the store, then followed live), approvals asked on
//! the terminal, the final answer and a usage summary; exit 0 when it
//! finished, 1 otherwise.

use super::common::{ConfigArgs, McpFileArgs, SandboxArgs, Usage, data_dir, load_config, open_app};
use crate::Cli;
use anyhow::{Result, bail};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
pub(crate) struct RunArgs {
    #[command(flatten)]
    pub(crate) config: ConfigArgs,
    #[command(flatten)]
    pub(crate) mcp: McpFileArgs,
    /// An MCP server whose tools the agent gets (repeatable).
    #[arg(long = "mcp-server")]
    pub(crate) mcp_servers: Vec<String>,
    #[command(flatten)]
    pub(crate) sandbox: SandboxArgs,
    /// Let the agent's sandbox reach the outside network, never this host's own services (off by default).
    #[arg(long)]
    pub(crate) network: bool,
    /// The directory the agent works in (seen by tools at /workspace).
    #[arg(long)]
    pub(crate) workspace: PathBuf,
    /// An OpenAI-compatible API base (e.g. http://127.0.0.1:8080/v1); key from $OPENAI_API_KEY.
    #[arg(long)]
    pub(crate) model_url: Option<String>,
    /// The model name (default: the provider's first model).
    #[arg(long)]
    pub(crate) model: Option<String>,
    /// A provider of paddock.toml (default: the first one).
    #[arg(long, conflicts_with = "model_url")]
    pub(crate) provider: Option<String>,
    /// The agent's name.
    #[arg(long, default_value = "run")]
    pub(crate) name: String,
    /// The system prompt.
    #[arg(
        long,
        default_value = "You are a careful coding agent. Use the tools to inspect and change files in /workspace."
    )]
    pub(crate) system_prompt: String,
    /// Model calls allowed for the task.
    #[arg(long)]
    pub(crate) max_turns: Option<u32>,
    /// How much the agent may do without asking (default: [policy] default_mode, ask-risky).
    /// Approvals are asked on the terminal; without one, they are refused.
    #[arg(long, value_enum)]
    pub(crate) approval_mode: Option<paddock::policy::ApprovalMode>,
    /// A policy rule for this agent, e.g. 'allow execute_bash(cargo test*)' (repeatable).
    #[arg(long = "rule")]
    pub(crate) rules: Vec<String>,
    /// Print events as JSON lines.
    #[arg(long)]
    pub(crate) json: bool,
    /// The task.
    pub(crate) task: String,
}

/// Prints one event of a headless run.
fn print_event(event: &paddock::events::Event, json: bool, streaming: &mut bool) {
    use paddock::events::EventBody as B;
    use std::io::Write as _;
    if json {
        if event.body.is_durable()
            && let Ok(line) = serde_json::to_string(event)
        {
            out!("{line}");
        }
        return;
    }
    let mut stdout = std::io::stdout().lock();
    match &event.body {
        B::MessageDelta { text } => {
            *streaming = true;
            let _ = write!(stdout, "{text}");
            let _ = stdout.flush();
        }
        B::MessageAssistant {
            text, tool_calls, ..
        } => {
            if *streaming {
                let _ = writeln!(stdout);
            } else if let Some(t) = text {
                let _ = writeln!(stdout, "{t}");
            }
            *streaming = false;
            for c in tool_calls {
                let _ = writeln!(stdout, "→ {} {}", c.name, c.arguments);
            }
        }
        B::MessageUser { text } => {
            let _ = writeln!(stdout, "> {text}");
        }
        B::ToolCall {
            tool,
            sandbox: Some(sandbox),
            ..
        } if sandbox != "docker" && sandbox != "bwrap" => {
            let _ = writeln!(
                stdout,
                "  ! {tool}: commands run with sandbox `{sandbox}` (not confined)"
            );
        }
        B::ToolOutput { chunk, .. } => {
            for line in chunk.lines() {
                let _ = writeln!(stdout, "  │ {line}");
            }
        }
        B::ToolResult {
            tool,
            success,
            content,
            duration_ms,
            ..
        } => {
            let first = content.lines().next().unwrap_or("");
            let mark = if *success { "✓" } else { "✗" };
            let _ = writeln!(stdout, "  {mark} {tool} ({duration_ms} ms): {first}");
        }
        B::Error { code, message, .. } => {
            let _ = writeln!(stdout, "! {code}: {message}");
        }
        B::PolicyDecision { tool, decision, .. }
            if decision.action != paddock::policy::Action::Allow =>
        {
            let _ = writeln!(
                stdout,
                "  ? {tool}: {} ({} risk): {}",
                decision.action.as_str(),
                decision.level.as_str(),
                decision.reasons.join("; ")
            );
        }
        B::ApprovalRequested {
            tool,
            arguments,
            diff,
            ..
        } => {
            let _ = writeln!(stdout, "  ? approval needed: {tool} {arguments}");
            if let Some(d) = diff {
                for line in d.lines() {
                    let _ = writeln!(stdout, "  │ {line}");
                }
            }
        }
        B::ApprovalDecided {
            tool, status, by, ..
        } => {
            let _ = writeln!(stdout, "  ? {tool}: {} by {by}", status.as_str());
        }
        _ => {}
    }
}

/// Asks on the terminal whether to approve a call; without a terminal,
/// refuses (a headless run has nobody to ask).
async fn ask_terminal(tool: &str) -> (bool, String, Option<String>) {
    use std::io::IsTerminal as _;
    if !std::io::stdin().is_terminal() {
        return (
            false,
            "paddock run (no terminal)".into(),
            Some(
                "a headless run has nobody to ask: use --approval-mode auto or --rule 'allow …'"
                    .into(),
            ),
        );
    }
    let prompt = format!("approve {tool}? [y/N] ");
    let answer = tokio::task::spawn_blocking(move || {
        use std::io::Write as _;
        eprint!("{prompt}");
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map(|_| line)
    })
    .await;
    let yes = matches!(answer, Ok(Ok(l)) if matches!(l.trim(), "y" | "Y" | "yes"));
    (yes, "paddock run (terminal)".into(), None)
}

/// Runs `paddock run`.
pub(crate) async fn run(cli: &Cli, args: &RunArgs) -> Result<ExitCode> {
    use paddock::events::{AgentStatus, EventBody};
    let mut config = load_config(cli, &args.config)?;
    let model = if let Some(url) = &args.model_url {
        let key_env = std::env::var_os("OPENAI_API_KEY").map(|_| "OPENAI_API_KEY");
        let mut provider = paddock::config::ProviderConfig::new("cli", url, key_env);
        let name = args
            .model
            .clone()
            .ok_or_else(|| Usage("--model is required with --model-url".into()))?;
        // Priced when Paddock knows the model's list price, else unpriced.
        provider
            .models
            .push(paddock::config::ModelConfig::named(&name));
        config.providers.retain(|p| p.name != "cli");
        config.providers.insert(0, provider);
        paddock::agent::ModelRef {
            provider: "cli".into(),
            model: name,
        }
    } else {
        let provider = match &args.provider {
            Some(p) => config.provider(p).ok_or_else(|| Usage(format!("no provider `{p}` in the configuration")))?,
            None => config.providers.first().ok_or_else(|| {
                Usage("no model provider: pass --model-url and --model, or configure [[providers]] in paddock.toml".into())
            })?,
        };
        let model = match &args.model {
            Some(m) => m.clone(),
            None => provider
                .models
                .first()
                .map(|m| m.name.clone())
                .ok_or_else(|| {
                    Usage(format!(
                        "provider `{}` lists no models; pass --model",
                        provider.name
                    ))
                })?,
        };
        paddock::agent::ModelRef {
            provider: provider.name.clone(),
            model,
        }
    };
    let workspace = std::fs::canonicalize(&args.workspace)
        .map_err(|e| Usage(format!("--workspace {}: {e}", args.workspace.display())))?;
    let mut limits = config.agents.limits.clone();
    if let Some(t) = args.max_turns {
        limits.max_turns = t;
    }
    let agent_config = paddock::agent::AgentConfig {
        name: args.name.clone(),
        system_prompt: args.system_prompt.clone(),
        model,
        router: None,
        temperature: None,
        max_tokens: None,
        workspace,
        workspace_id: None,
        tools: None,
        mcp_servers: args.mcp_servers.clone(),
        network: args.network,
        limits,
        template: None,
        approval_mode: args.approval_mode.unwrap_or(config.policy.default_mode),
        approval_timeout_secs: None,
        rules: args.rules.clone(),
    };
    let app = open_app(cli, config, false, &args.sandbox, &args.mcp).await?;
    if let Err(e) = app.manager.validate(&agent_config) {
        bail!(Usage(e.to_string()));
    }
    let (agent, _) = app.manager.create(agent_config, None).await?;
    let id = agent.id().to_string();
    let mut rx = app.bus.subscribe(&id);
    let task_seq = agent.post_message(args.task.clone()).await?.seq;
    if !args.json {
        eprintln!("agent {id} (data in {})", data_dir(cli)?.display());
    }
    let mut last = 0u64;
    let mut streaming = false;
    let mut final_text: Option<String> = None;
    let mut outcome: Option<(AgentStatus, Option<String>)> = None;
    let mut totals = (0u64, 0u64, 0u64, 0f64, 0u64);
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    let mut pending: Vec<std::sync::Arc<paddock::events::Event>> = app
        .store
        .events_after(&id, 0, 10_000)
        .await?
        .into_iter()
        .map(std::sync::Arc::new)
        .collect();
    loop {
        for event in pending.drain(..) {
            if event.body.is_durable() {
                if event.seq <= last {
                    continue;
                }
                last = event.seq;
            }
            print_event(&event, args.json, &mut streaming);
            match &event.body {
                EventBody::MessageAssistant { text: Some(t), .. } => final_text = Some(t.clone()),
                EventBody::ApprovalRequested { call_id, tool, .. } => {
                    let (approved, by, reason) = ask_terminal(tool).await;
                    if let Err(e) = app
                        .manager
                        .decide(&id, call_id, approved, reason, Default::default(), &by)
                        .await
                    {
                        eprintln!("cannot decide the approval: {e}");
                    }
                }
                EventBody::Usage {
                    input_tokens,
                    output_tokens,
                    cached_tokens,
                    cost_usd,
                    masked_tokens_saved,
                    ..
                } => {
                    totals.0 += input_tokens;
                    totals.1 += output_tokens;
                    totals.2 += cached_tokens;
                    totals.3 += cost_usd;
                    totals.4 += masked_tokens_saved;
                }
                EventBody::AgentStatus { status, reason }
                    if event.seq > task_seq
                        && matches!(
                            status,
                            AgentStatus::Idle | AgentStatus::Error | AgentStatus::Stopped
                        ) =>
                {
                    outcome = Some((*status, reason.clone()));
                }
                _ => {}
            }
        }
        if outcome.is_some() {
            break;
        }
        tokio::select! {
            r = rx.recv() => match r {
                Ok(e) => pending.push(e),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    pending = app.store.events_after(&id, last, 10_000).await?.into_iter().map(std::sync::Arc::new).collect();
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => bail!("the agent's event stream closed"),
            },
            _ = &mut interrupted => {
                agent.interrupt();
                eprintln!("interrupting…");
            }
        }
    }
    // The run's sandbox (a container, a cgroup) goes with it.
    app.sandbox.shutdown().await;
    app.mcp.shutdown().await;
    let summary = format!(
        "usage: {} input tokens ({} cached), {} output tokens, ${:.4}; {} input tokens saved by masking",
        totals.0, totals.2, totals.1, totals.3, totals.4
    );
    match outcome {
        Some((AgentStatus::Idle, None)) => {
            if !args.json {
                eprintln!("{summary}");
                if let Some(t) = final_text {
                    eprintln!("final answer:");
                    out!("{t}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Some((status, reason)) => {
            if !args.json {
                eprintln!("{summary}");
            }
            eprintln!(
                "error: the run ended {}: {}",
                status.as_str(),
                reason.unwrap_or_else(|| "no reason given".into())
            );
            Ok(ExitCode::from(1))
        }
        None => bail!("the run ended without a status"),
    }
}
