//! `paddock run`: one agent headless on a task — its events printed as they
//! happen (replayed from the store, then followed live), approvals asked on
//! the terminal, the final answer and a usage summary; exit 0 when it
//! finished, 1 otherwise.

use super::common::{
    ConfigArgs, McpFileArgs, NetworkArgs, SandboxArgs, Usage, data_dir, ended_badly, load_config,
    open_app,
};
use crate::Cli;
use anyhow::{Result, bail};
use clap::Args;
use paddock_core::agent::follow::Follow;
use paddock_core::agent::resolve::{AgentRequest, AgentTemplate, ResolveError, Resolver};
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
    #[command(flatten)]
    pub(crate) net: NetworkArgs,
    /// The directory the agent works in (seen by tools at /workspace).
    #[arg(long)]
    pub(crate) workspace: PathBuf,
    /// An OpenAI-compatible API base (e.g. http://127.0.0.1:8080/v1); key from $OPENAI_API_KEY.
    #[arg(long)]
    pub(crate) model_url: Option<String>,
    /// The wire API of --model-url: chat (Chat Completions) or responses (OpenAI's Responses API).
    #[arg(long, value_enum, default_value_t = paddock_protocol::llm::WireApi::Chat, requires = "model_url")]
    pub(crate) api: paddock_protocol::llm::WireApi,
    /// How hard a reasoning model thinks (Responses API).
    #[arg(long, value_enum)]
    pub(crate) reasoning_effort: Option<paddock_protocol::llm::ReasoningEffort>,
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
    pub(crate) approval_mode: Option<paddock_core::policy::ApprovalMode>,
    /// A policy rule for this agent, e.g. 'allow execute_bash(cargo test*)' (repeatable).
    #[arg(long = "rule")]
    pub(crate) rules: Vec<String>,
    /// Print events as JSON lines.
    #[arg(long)]
    pub(crate) json: bool,
    /// The task.
    pub(crate) task: String,
}

/// What the printer is in the middle of.
#[derive(Debug, Default)]
struct Printing {
    /// The model's reasoning summary is streaming (its line is open).
    thinking: bool,
    /// Whether the current answer's thinking was shown live.
    thought: bool,
    /// The answer's text is streaming (its line is open).
    streaming: bool,
}

/// Prints one event of a headless run.
fn print_event(event: &paddock_protocol::events::Event, json: bool, state: &mut Printing) {
    write_event(&mut std::io::stdout().lock(), event, json, state);
}

/// Writes one event as `paddock run` shows it (`json`: each stored event
/// as a JSON line); `state` says what is being streamed. The model's
/// thinking (its reasoning summary) is shown as `  ~ ` lines, live when it
/// streams, else from the stored answer. A failed write (a closed pipe) is
/// not an error.
fn write_event(
    stdout: &mut dyn std::io::Write,
    event: &paddock_protocol::events::Event,
    json: bool,
    state: &mut Printing,
) {
    use paddock_protocol::events::EventBody as B;
    if json {
        if event.body.is_durable()
            && let Ok(line) = serde_json::to_string(event)
        {
            let _ = writeln!(stdout, "{line}");
        }
        return;
    }
    match &event.body {
        B::MessageReasoning { text } => {
            if !state.thinking {
                let _ = write!(stdout, "  ~ ");
                state.thinking = true;
                state.thought = true;
            }
            let _ = write!(stdout, "{}", text.replace('\n', "\n  ~ "));
            let _ = stdout.flush();
        }
        B::MessageDelta { text } => {
            if std::mem::take(&mut state.thinking) {
                let _ = writeln!(stdout);
            }
            state.streaming = true;
            let _ = write!(stdout, "{text}");
            let _ = stdout.flush();
        }
        B::MessageAssistant {
            text,
            tool_calls,
            reasoning,
            ..
        } => {
            if std::mem::take(&mut state.thinking) {
                let _ = writeln!(stdout);
            }
            // Thinking that did not stream (a replayed log) is written
            // from the stored answer, before its text.
            if !std::mem::take(&mut state.thought) {
                for part in reasoning.iter().flat_map(|r| &r.summary) {
                    for line in part.lines() {
                        let _ = writeln!(stdout, "  ~ {line}");
                    }
                }
            }
            if std::mem::take(&mut state.streaming) {
                let _ = writeln!(stdout);
            } else if let Some(t) = text {
                let _ = writeln!(stdout, "{t}");
            }
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
        B::EnvironmentSetup {
            environment,
            step,
            command,
            output,
            cached,
            duration_ms,
            detail,
            ..
        } => {
            use paddock_protocol::events::SetupStep as S;
            let ms = duration_ms.unwrap_or_default();
            match step {
                S::Started => {
                    let _ = writeln!(stdout, "  ⚙ preparing environment {environment}");
                }
                S::Command => {
                    let _ = writeln!(stdout, "  ⚙ {}", command.as_deref().unwrap_or(""));
                }
                S::Output => {
                    for line in output.as_deref().unwrap_or("").lines() {
                        let _ = writeln!(stdout, "  │ {line}");
                    }
                }
                S::CommandDone => {}
                S::Finished => {
                    let how = if *cached == Some(true) {
                        " (cached)"
                    } else {
                        ""
                    };
                    let _ = writeln!(
                        stdout,
                        "  ⚙ environment {environment} ready{how} in {ms} ms"
                    );
                }
                S::Failed => {
                    let _ = writeln!(
                        stdout,
                        "  ! environment {environment} failed: {}",
                        detail.as_deref().unwrap_or("")
                    );
                }
            }
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
            if decision.action != paddock_core::policy::Action::Allow =>
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
        B::NetworkConnection(c) => {
            let target = paddock_core::policy::network::authority(&c.host, c.port);
            let _ = match c.verdict {
                paddock_protocol::network::NetworkVerdict::Allowed => writeln!(
                    stdout,
                    "  ⇄ {target}: allowed, {} B sent, {} B received",
                    c.bytes_sent, c.bytes_received
                ),
                paddock_protocol::network::NetworkVerdict::Refused => {
                    writeln!(stdout, "  ⇄ {target}: refused: {}", c.reason)
                }
            };
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
    use paddock_protocol::events::{AgentStatus, EventBody};
    let mut config = load_config(cli, &args.config)?;
    let model = if let Some(url) = &args.model_url {
        let key_env = std::env::var_os("OPENAI_API_KEY").map(|_| "OPENAI_API_KEY");
        let mut provider = paddock_core::config::ProviderConfig::new("cli", url, key_env);
        provider.api = args.api;
        let name = args
            .model
            .clone()
            .ok_or_else(|| Usage("--model is required with --model-url".into()))?;
        // Priced when Paddock knows the model's list price, else unpriced.
        provider
            .models
            .push(paddock_core::config::ModelConfig::named(&name));
        config.providers.retain(|p| p.name != "cli");
        config.providers.insert(0, provider);
        paddock_core::agent::ModelRef {
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
        paddock_core::agent::ModelRef {
            provider: provider.name.clone(),
            model,
        }
    };
    let workspace = std::fs::canonicalize(&args.workspace)
        .map_err(|e| Usage(format!("--workspace {}: {e}", args.workspace.display())))?;
    // Only a --max-turns replaces the configured limits.
    let limits = args.max_turns.map(|t| paddock_core::config::AgentLimits {
        max_turns: t,
        ..config.agents.limits.clone()
    });
    let request = AgentRequest {
        name: Some(args.name.clone()),
        template: None,
        fields: AgentTemplate {
            system_prompt: Some(args.system_prompt.clone()),
            model: Some(model),
            workspace: Some(workspace),
            mcp_servers: Some(args.mcp_servers.clone()),
            network: Some(args.net.network()),
            limits,
            reasoning_effort: args.reasoning_effort,
            approval_mode: args.approval_mode,
            rules: Some(args.rules.clone()),
            ..AgentTemplate::default()
        },
        // Posted once the printer listens (below).
        task: None,
    };
    let app = open_app(cli, config, false, &args.sandbox, &args.mcp, None).await?;
    // The directory is the user's own: it need not lie under the roots
    // that bound the API's callers.
    let agent_config = Resolver::new(app.manager.deps(), app.default_model().as_ref())
        .anywhere()
        .resolve(request)
        .await
        .map_err(|e| match e {
            ResolveError::Invalid(m) => Usage(m).into(),
            other => anyhow::Error::from(other),
        })?
        .config;
    if let Err(e) = app.manager.validate(&agent_config) {
        bail!(Usage(e.to_string()));
    }
    let (agent, _) = app.manager.create_here(agent_config, None).await?;
    let id = agent.id().to_string();
    // Listening before the task is posted: nothing is missed.
    let mut events = Follow::subscribe(app.store.clone(), &app.bus, &id, 0);
    let task_seq = agent.post_message(args.task.clone()).await?.seq;
    if !args.json {
        eprintln!("agent {id} (data in {})", data_dir(cli)?.display());
    }
    let mut printing = Printing::default();
    let mut final_text: Option<String> = None;
    let mut outcome: Option<(AgentStatus, Option<String>)> = None;
    let mut totals = (0u64, 0u64, 0u64, 0f64, 0u64);
    let mut reasoning_tokens = 0u64;
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    let mut interrupting = false;
    while outcome.is_none() {
        let next = tokio::select! {
            next = events.next() => next?,
            // Once: the signal's future is done after it fires.
            _ = &mut interrupted, if !interrupting => {
                interrupting = true;
                agent.interrupt();
                eprintln!("interrupting…");
                continue;
            }
        };
        let event = match &next {
            // A lag is healed by the stream itself (from the store).
            Some(followed) => match followed.event() {
                Some(e) => e,
                None => continue,
            },
            None => bail!("the agent's event stream closed"),
        };
        print_event(event, args.json, &mut printing);
        match &event.body {
            EventBody::MessageAssistant { text: Some(t), .. } => final_text = Some(t.clone()),
            EventBody::ApprovalRequested {
                call_id,
                tool,
                arguments,
                ..
            } => {
                // A network approval names the host it would open.
                let what = match (
                    tool.as_str(),
                    arguments["host"].as_str(),
                    arguments["port"].as_u64(),
                ) {
                    ("network", Some(host), Some(port)) => {
                        format!("network access to {host}:{port}")
                    }
                    _ => tool.clone(),
                };
                let (approved, by, reason) = ask_terminal(&what).await;
                if let Err(e) = app
                    .manager
                    .decide(
                        &id,
                        call_id,
                        approved,
                        reason,
                        Default::default(),
                        &paddock_core::agent::Actor::named(by),
                    )
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
                reasoning_tokens: reasoned,
                failover,
                provider,
                ..
            } => {
                reasoning_tokens += reasoned;
                if !failover.is_empty() && !args.json {
                    let passed: Vec<String> = failover
                        .iter()
                        .map(|s| format!("{} ({})", s.provider, s.message))
                        .collect();
                    eprintln!(
                        "  failover: served by {provider} after {}",
                        passed.join("; ")
                    );
                }
                totals.0 += input_tokens;
                totals.1 += output_tokens;
                totals.2 += cached_tokens;
                totals.3 += cost_usd;
                totals.4 += masked_tokens_saved;
            }
            EventBody::AgentStatus { status, reason, .. }
                if event.seq > task_seq && status.ends_run() =>
            {
                outcome = Some((*status, reason.clone()));
            }
            _ => {}
        }
    }
    // With several hosts, the agent's lease goes to the servers, which
    // keep it (idle) for the dashboard and for more messages.
    app.manager.drain().await;
    // The run's sandbox (a container, a cgroup) goes with it.
    app.sandbox.shutdown().await;
    app.mcp.shutdown().await;
    let reasoned = if reasoning_tokens > 0 {
        format!(" ({reasoning_tokens} reasoning)")
    } else {
        String::new()
    };
    let summary = format!(
        "usage: {} input tokens ({} cached), {} output tokens{reasoned}, ${:.4}; {} input tokens saved by masking",
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
            Ok(ended_badly(status.as_str(), reason))
        }
        None => bail!("the run ended without a status"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use paddock_protocol::events::{Event, EventBody};

    fn event(seq: u64, body: EventBody) -> Event {
        Event {
            seq,
            agent_id: "a".into(),
            ts: chrono::DateTime::from_timestamp(0, 0).unwrap(),
            body,
        }
    }

    /// What `paddock run` writes for these events.
    fn shown(events: &[EventBody], json: bool) -> String {
        let mut out = Vec::new();
        let mut state = Printing::default();
        for (i, body) in events.iter().enumerate() {
            write_event(
                &mut out,
                &event(i as u64 + 1, body.clone()),
                json,
                &mut state,
            );
        }
        String::from_utf8(out).unwrap()
    }

    fn answer(text: Option<&str>, tool: Option<&str>) -> EventBody {
        EventBody::MessageAssistant {
            text: text.map(str::to_string),
            tool_calls: tool
                .map(|t| paddock_llm::ToolCallRequest {
                    id: "c1".into(),
                    name: t.into(),
                    arguments: r#"{"path":"a.txt"}"#.into(),
                })
                .into_iter()
                .collect(),
            finish_reason: "stop".into(),
            reasoning: Vec::new(),
        }
    }

    fn delta(text: &str) -> EventBody {
        EventBody::MessageDelta { text: text.into() }
    }

    #[test]
    fn a_streamed_answer_is_written_once_then_its_tool_calls() {
        let events = [
            EventBody::MessageUser {
                text: "Make it blue".into(),
            },
            delta("Let me "),
            delta("look."),
            answer(Some("Let me look."), Some("read_file")),
            // An answer that was not streamed is written whole.
            answer(Some("Done."), None),
        ];
        assert_eq!(
            shown(&events, false),
            "> Make it blue\nLet me look.\n→ read_file {\"path\":\"a.txt\"}\nDone.\n"
        );
    }

    #[test]
    fn thinking_is_shown_once_live_or_from_the_stored_answer() {
        let thought = |text: &str| EventBody::MessageAssistant {
            text: Some(text.into()),
            tool_calls: Vec::new(),
            finish_reason: "stop".into(),
            reasoning: vec![paddock_protocol::llm::ReasoningItem {
                id: "rs_1".into(),
                summary: vec!["Read it first.\nThen edit.".into()],
                encrypted_content: Some("opaque".into()),
            }],
        };
        let live = [
            EventBody::MessageReasoning {
                text: "Read it".into(),
            },
            EventBody::MessageReasoning {
                text: " first.\nThen edit.".into(),
            },
            delta("Reading."),
            thought("Reading."),
        ];
        assert_eq!(
            shown(&live, false),
            "  ~ Read it first.\n  ~ Then edit.\nReading.\n"
        );
        // Replayed from the store: no live pieces.
        assert_eq!(
            shown(&[thought("Reading.")], false),
            "  ~ Read it first.\n  ~ Then edit.\nReading.\n"
        );
        // Live thinking is not a stored event.
        assert_eq!(shown(&live[..1], true), "");
    }

    #[test]
    fn tool_output_results_and_errors_are_one_line_each() {
        let events = [
            EventBody::ToolCall {
                call_id: "c1".into(),
                tool: "execute_bash".into(),
                arguments: serde_json::json!({"command": "ls"}),
                read_only: false,
                sandbox: Some("none".into()),
            },
            EventBody::ToolOutput {
                call_id: "c1".into(),
                stream: "stdout".into(),
                chunk: "a.txt\nb.txt\n".into(),
            },
            EventBody::ToolResult {
                call_id: "c1".into(),
                tool: "execute_bash".into(),
                success: true,
                content: "a.txt\nb.txt".into(),
                duration_ms: 12,
                truncated_bytes: 0,
                stripped_chars: 0,
                exit_code: None,
                approval_wait_ms: None,
            },
            EventBody::ToolResult {
                call_id: "c2".into(),
                tool: "read_file".into(),
                success: false,
                content: "not found".into(),
                duration_ms: 3,
                truncated_bytes: 0,
                stripped_chars: 0,
                exit_code: None,
                approval_wait_ms: None,
            },
            EventBody::Error {
                code: paddock_protocol::events::ErrorCode::ModelFailed,
                message: "the model failed".into(),
                recoverable: true,
                attempt: None,
                max_attempts: None,
                retry_in_ms: None,
            },
            // Not shown: confined commands, statuses.
            EventBody::ToolCall {
                call_id: "c3".into(),
                tool: "execute_bash".into(),
                arguments: serde_json::json!({"command": "ls"}),
                read_only: false,
                sandbox: Some("bwrap".into()),
            },
            EventBody::AgentStatus {
                status: paddock_protocol::events::AgentStatus::Idle,
                reason: None,
                code: None,
            },
        ];
        assert_eq!(
            shown(&events, false),
            "  ! execute_bash: commands run with sandbox `none` (not confined)\n\
             \x20 │ a.txt\n\
             \x20 │ b.txt\n\
             \x20 ✓ execute_bash (12 ms): a.txt\n\
             \x20 ✗ read_file (3 ms): not found\n\
             ! model_failed: the model failed\n"
        );
    }

    #[test]
    fn json_lines_are_the_stored_events_only() {
        let events = [
            EventBody::MessageUser { text: "hi".into() },
            delta("He"),
            answer(Some("Hello"), None),
        ];
        let text = shown(&events, true);
        let lines: Vec<Event> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(
            lines,
            [event(1, events[0].clone()), event(3, events[2].clone())]
        );
    }
}
