//! Tool orchestration: the path of one tool call, in the order it travels.
//!
//! 1. **Resolve**: the agent may use the tool; an enabled plugin or one of
//!    the agent's MCP servers offers it (which says whether it only reads
//!    and whether it runs commands); its arguments are a JSON object.
//! 2. **Policy**: the rules and risk assessors decide `allow`, `ask` or
//!    `deny` (or, after a restart, the log says what they decided).
//! 3. **Approval**: an `ask` waits for a human (see `approvals`).
//! 4. **Run**: `tool.call` is stored first, then the call goes to its MCP
//!    server or to its plugin — in the agent's sandbox when the plugin runs
//!    commands, whose output streams as `tool.output` events.
//! 5. **Result**: cleaned of invisible characters, cut to size, stored as
//!    `tool.result`. A call refused on the way gets a failed result.
//!
//! Also here: the tool definitions offered to the model.

use super::approvals::{Approval, Standing};
use super::{Agent, AgentError, hooks};
use crate::agent::context::{Gate, truncate_output};
use crate::agent::delegate;
use crate::policy::{Action, Call};
use paddock_llm::{ToolCallRequest, ToolDef};
use paddock_mcp::{CallOutcome, McpError};
use paddock_plugins::capability::effective;
use paddock_plugins::{CallTarget, Capability, HookPayload, ToolCallFailure, ToolOutput};
use paddock_protocol::events::{AgentStatus, Event, EventBody};
use paddock_sandbox::{BackendKind, OutputChunk, StreamKind};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio_util::sync::CancellationToken;

/// How a tool call step ended.
pub(super) enum ToolRun {
    /// Its result is stored (with why it failed, if it did).
    Done(Arc<Event>, Option<String>),
    /// The user interrupted while it waited for approval.
    Interrupted,
}

/// Where a tool call goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ToolKind {
    /// A tool of one of the agent's MCP servers.
    Mcp,
    /// A plugin tool; `exec` when its plugin may run commands (it was
    /// granted the `exec` capability it requested).
    Plugin {
        /// Whether it runs commands in the agent's sandbox.
        exec: bool,
    },
    /// A tool of the host itself (delegation's `delegate` and `collect`).
    Builtin(Builtin),
}

/// The host's own tools, offered to an agent whose configuration allows
/// delegation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Builtin {
    /// `delegate`: start a sub-agent.
    Delegate,
    /// `collect`: the results of sub-agents.
    Collect,
}

impl Builtin {
    /// The built-in tool named `name`, if it is one.
    pub fn named(name: &str) -> Option<Builtin> {
        match name {
            delegate::DELEGATE => Some(Builtin::Delegate),
            delegate::COLLECT => Some(Builtin::Collect),
            _ => None,
        }
    }

    /// What the host knows about it: `collect` only reads, `delegate`
    /// starts an agent.
    pub fn facts(self) -> ToolFacts {
        ToolFacts {
            kind: ToolKind::Builtin(self),
            read_only: self == Builtin::Collect,
        }
    }
}

/// What the host knows about a tool before calling it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct ToolFacts {
    /// Where a call goes.
    pub kind: ToolKind,
    /// Whether it only reads.
    pub read_only: bool,
}

impl ToolFacts {
    /// A tool of one of the agent's MCP servers, `listed` with its
    /// read-only hint, or not (yet) listed: then it is not read-only, and
    /// it is called anyway (the answer explains why it is unavailable).
    pub fn mcp(listed: Option<bool>) -> ToolFacts {
        ToolFacts {
            kind: ToolKind::Mcp,
            read_only: listed.unwrap_or(false),
        }
    }

    /// A plugin tool, `read_only` or not, of a plugin that `requested`
    /// these capabilities and was `granted` these.
    pub fn plugin(
        read_only: bool,
        requested: &BTreeSet<Capability>,
        granted: &BTreeSet<Capability>,
    ) -> ToolFacts {
        ToolFacts {
            kind: ToolKind::Plugin {
                exec: effective(requested, granted).contains(&Capability::Exec),
            },
            read_only,
        }
    }

    /// Whether it runs commands (in the agent's sandbox).
    pub fn uses_exec(self) -> bool {
        self.kind == ToolKind::Plugin { exec: true }
    }
}

impl Agent {
    /// Runs one tool call (a plugin tool, or an MCP tool which `token`
    /// cancels at its server) once the policy lets it: judges it (unless
    /// its `gate` says the log already holds a decision), parks it for a
    /// human when the decision is `ask`, and refuses it on `deny`. Returns
    /// its stored result and, if it failed, why.
    pub(super) async fn run_tool(
        &self,
        call: &ToolCallRequest,
        gate: Option<Gate>,
        started: bool,
        token: &CancellationToken,
    ) -> Result<ToolRun, AgentError> {
        // 1. Resolve.
        let (facts, arguments) = match self.resolve(call) {
            Ok(resolved) => resolved,
            Err(message) => return self.refuse(call, message).await,
        };
        // 2. Hooks (before the policy: it judges the call they leave; a
        // rewrite is recorded, so after a restart the call carries it).
        let mut hook_verdict = None;
        let rewritten;
        let (call, facts, arguments) = match gate {
            Some(_) => (call, facts, arguments),
            None => {
                let verdict = self.hooks_before_tool(call, &arguments).await?;
                let fresh = verdict.rewritten.as_ref().map(|new| ToolCallRequest {
                    arguments: new.to_string(),
                    ..call.clone()
                });
                hook_verdict = Some(verdict);
                match fresh {
                    None => (call, facts, arguments),
                    Some(fresh) => {
                        rewritten = fresh;
                        match self.resolve(&rewritten) {
                            Ok((facts, arguments)) => (&rewritten, facts, arguments),
                            Err(message) => {
                                return self
                                    .refuse(&rewritten, format!("the hook's rewrite: {message}"))
                                    .await;
                            }
                        }
                    }
                }
            }
        };
        // 3. Policy.
        let standing = match gate {
            None => {
                let mut decision = self
                    .deps
                    .policy
                    .decide(
                        &self.subject(),
                        &Call {
                            tool: &call.name,
                            arguments: &arguments,
                            read_only: facts.read_only,
                            call_id: &call.id,
                        },
                    )
                    .await;
                if let Some(verdict) = &hook_verdict {
                    hooks::tighten(&mut decision, verdict);
                }
                self.record_decision(call, &decision).await?;
                Standing::decided(decision)
            }
            // The host restarted after these steps were stored.
            Some(gate) => match Standing::of_gate(gate) {
                Ok(standing) => standing,
                Err(refusal) => return self.refuse(call, refusal).await,
            },
        };
        // 4. Approval (its wait is told apart from the run time).
        let mut approval_wait = None;
        match standing.action {
            Action::Allow => {}
            Action::Deny => return self.refuse(call, denial(&standing.reasons)).await,
            Action::Ask => {
                let asked = Instant::now();
                let approval = self.ask(call, &arguments, standing, token).await?;
                approval_wait = Some(asked.elapsed());
                match approval {
                    Approval::Approved => {}
                    Approval::Refused(message) => return self.refuse(call, message).await,
                    Approval::Interrupted => return Ok(ToolRun::Interrupted),
                }
            }
        }
        // 5. Run (a built-in tool records its own `tool.call`, with the
        // sub-agents it starts or waits for).
        let plugin_exec = match facts.kind {
            ToolKind::Builtin(builtin) => {
                return self
                    .run_builtin(call, builtin, &arguments, started, token)
                    .await;
            }
            ToolKind::Mcp => None,
            ToolKind::Plugin { exec } => Some(exec),
        };
        self.set_status(AgentStatus::ExecutingTool, None).await?;
        // Tools that run commands say where (`none` flags an unsandboxed
        // host).
        let sandbox = facts
            .uses_exec()
            .then(|| sandbox_label(self.deps.sandbox.kind()));
        self.append(EventBody::ToolCall {
            call_id: call.id.clone(),
            tool: call.name.clone(),
            arguments: arguments.clone(),
            read_only: facts.read_only,
            sandbox,
        })
        .await?;
        // What hooks are told the call ran with.
        let arguments_text = arguments.to_string();
        // The run time starts once the call is recorded.
        let started = Instant::now();
        let (outcome, raw) = match plugin_exec {
            None => mcp_outcome(self.deps.mcp.call(&call.name, arguments, token).await),
            Some(exec) => self.call_plugin(call, exec).await?,
        };
        // 6. Result (hooks may redact or annotate it before it is stored).
        let result = tool_result(
            call,
            outcome,
            &raw,
            self.deps.defaults.tool_output_max_bytes,
            (started.elapsed(), approval_wait),
        );
        if let EventBody::ToolResult { stripped_chars, .. } = &result
            && *stripped_chars > 0
        {
            tracing::warn!(tool = %call.name, stripped = *stripped_chars, "removed invisible characters from a tool result");
        }
        // A command that ran and exited non-zero is a failed result, but
        // not a failed call: the model's repeated-failure count only
        // counts calls that failed.
        let result = self
            .hooks_after_result(call, &arguments_text, result)
            .await?;
        let failed_with = if outcome.call_failed {
            failure_of(&result)
        } else {
            None
        };
        let success = matches!(result, EventBody::ToolResult { success: true, .. });
        let event = self.append(result).await?;
        if !facts.read_only {
            self.notify_hooks(HookPayload::WorkspaceChanged {
                call: self.hook_call(call, &arguments_text),
                success,
            })
            .await?;
        }
        Ok(ToolRun::Done(event, failed_with))
    }

    /// Stores the failed result of a call that does not run, saying why.
    pub(super) async fn refuse(
        &self,
        call: &ToolCallRequest,
        message: String,
    ) -> Result<ToolRun, AgentError> {
        let event = self.append(failed_result(call, message.clone())).await?;
        Ok(ToolRun::Done(event, Some(message)))
    }

    /// The tool of `call` and its arguments, or why the call cannot run.
    fn resolve(&self, call: &ToolCallRequest) -> Result<(ToolFacts, serde_json::Value), String> {
        if !self.may_use(&call.name) {
            return Err(format!(
                "unknown tool `{}`: it is not among this agent's tools",
                call.name
            ));
        }
        let facts = self.tool_facts(&call.name).map_err(|e| {
            if Builtin::named(&call.name).is_some() {
                format!(
                    "unknown tool `{}`: this agent may not delegate (its configuration has no `delegation`)",
                    call.name
                )
            } else {
                format!("unknown tool `{}`: {e}", call.name)
            }
        })?;
        if self.config.read_only && !facts.read_only {
            return Err(format!(
                "tool `{}` writes or runs commands, and this agent may only read",
                call.name
            ));
        }
        let arguments = parse_arguments(&call.arguments)?;
        // A built-in tool's arguments are checked before the policy sees
        // them.
        match facts.kind {
            ToolKind::Builtin(Builtin::Delegate) => {
                delegate::parse_delegate(&arguments)?;
            }
            ToolKind::Builtin(Builtin::Collect) => {
                delegate::parse_collect(&arguments)?;
            }
            _ => {}
        }
        Ok((facts, arguments))
    }

    /// Whether it may use the tool named `name`: one of its `tools` (all
    /// when it lists none), or a delegation tool when it may delegate
    /// (those are governed by `delegation`, not by `tools`).
    fn may_use(&self, name: &str) -> bool {
        (self.config.delegation.is_some() && Builtin::named(name).is_some())
            || may_use(self.config.tools.as_deref(), name)
    }

    /// What is known about the tool named `name`; the error when no
    /// enabled plugin offers it. An MCP tool its server has not listed
    /// (yet) is called anyway, and the answer explains why it is
    /// unavailable.
    fn tool_facts(&self, name: &str) -> Result<ToolFacts, String> {
        if self.config.delegation.is_some()
            && let Some(builtin) = Builtin::named(name)
        {
            return Ok(builtin.facts());
        }
        if mcp_server_of(&self.config.mcp_servers, name).is_some() {
            let listed = self.deps.mcp.find_tool(name);
            return Ok(ToolFacts::mcp(listed.map(|t| t.read_only)));
        }
        match self.deps.plugins.find_tool(name) {
            Ok((record, spec)) => Ok(ToolFacts::plugin(
                spec.read_only,
                &record.requested,
                &record.granted,
            )),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Whether the tool named `name` only reads (unknown tools do not).
    pub(super) fn tool_read_only(&self, name: &str) -> bool {
        self.tool_facts(name).is_ok_and(|facts| facts.read_only)
    }

    /// Tools offered to the model: enabled plugin tools and the tools of its
    /// MCP servers that the agent may use and that its rules do not deny
    /// outright, sorted by name so the prompt prefix is stable.
    pub(super) async fn tool_defs(&self) -> Vec<ToolDef> {
        let mut candidates: Vec<(ToolDef, bool)> = match self.deps.plugins.tools() {
            Ok(tools) => tools
                .into_iter()
                .map(|t| {
                    let read_only = t.spec.read_only;
                    (
                        ToolDef {
                            name: t.spec.name,
                            description: t.spec.description,
                            parameters: t.spec.input_schema,
                        },
                        read_only,
                    )
                })
                .collect(),
            Err(e) => {
                tracing::warn!(error = %e, "cannot list tools");
                Vec::new()
            }
        };
        if !self.config.mcp_servers.is_empty() {
            let mcp = self.deps.mcp.tools_for(&self.config.mcp_servers).await;
            candidates.extend(mcp.into_iter().map(|t| {
                (
                    ToolDef {
                        name: t.name,
                        description: t.description,
                        parameters: t.input_schema,
                    },
                    t.read_only,
                )
            }));
        }
        if self.config.delegation.is_some() {
            // The host's own tools, over any plugin tool of the same name.
            candidates.retain(|(t, _)| Builtin::named(&t.name).is_none());
            candidates.extend(delegate::tool_defs().into_iter().map(|t| {
                let read_only = Builtin::named(&t.name).is_some_and(|b| b.facts().read_only);
                (t, read_only)
            }));
        }
        let subject = self.subject();
        offered(candidates, |name, read_only| {
            (read_only || !self.config.read_only)
                && self.may_use(name)
                && !self.deps.policy.denies_tool(&subject, name, read_only)
        })
    }

    /// Calls a plugin tool; one that runs commands does so in the agent's
    /// sandbox (with its workspace's git directory mounted) and streams
    /// their output. Returns whether it succeeded and its raw output.
    async fn call_plugin(
        &self,
        call: &ToolCallRequest,
        exec: bool,
    ) -> Result<(RunOutcome, String), AgentError> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let git_mounts = if exec {
            self.deps
                .workspaces
                .sandbox_mounts(self.config.workspace_id.as_deref())
                .await
        } else {
            Vec::new()
        };
        let run = async {
            // The target owns the only sender: when the call ends, the
            // output stream ends.
            let target = CallTarget {
                agent_id: self.id.clone(),
                call_id: call.id.clone(),
                workspace: Some(self.config.workspace.clone()),
                network: self.config.network.clone(),
                read_only: git_mounts,
                output: exec.then_some(tx),
            };
            self.deps
                .plugins
                .call_tool(&call.name, &call.arguments, &target)
                .await
        };
        let (result, streamed) = tokio::join!(run, self.stream_output(&call.id, rx));
        streamed?;
        Ok(plugin_outcome(result))
    }

    /// Stores the output a running command streams, as `tool.output`
    /// events, until the call ends. Each stream (stdout, stderr) goes
    /// through a redacting stream of its own, so a secret printed in
    /// several writes is never stored split across events; what it holds
    /// back is stored when the call ends.
    async fn stream_output(
        &self,
        call_id: &str,
        mut rx: UnboundedReceiver<OutputChunk>,
    ) -> Result<(), AgentError> {
        let redactor = self.deps.redactor.current();
        let (mut stdout, mut stderr) = (redactor.stream(), redactor.stream());
        let store = async |stream: StreamKind, chunk: String| -> Result<(), AgentError> {
            if !chunk.is_empty() {
                self.append(EventBody::ToolOutput {
                    call_id: call_id.to_string(),
                    stream: stream.as_str().to_string(),
                    chunk,
                })
                .await?;
            }
            Ok(())
        };
        while let Some(first) = rx.recv().await {
            let (batch, next) = coalesce(first, &mut rx);
            for chunk in std::iter::once(batch).chain(next) {
                let redacted = match chunk.stream {
                    StreamKind::Stdout => stdout.push(&chunk.text),
                    StreamKind::Stderr => stderr.push(&chunk.text),
                };
                store(chunk.stream, redacted).await?;
            }
        }
        store(StreamKind::Stdout, stdout.finish()).await?;
        store(StreamKind::Stderr, stderr.finish()).await?;
        Ok(())
    }
}

/// Most bytes of one `tool.output` event: chunks that arrive together are
/// coalesced up to this size.
const OUTPUT_EVENT_BYTES: usize = 16 * 1024;

/// `first` with the chunks of its stream already waiting in `rx` appended,
/// while it is under [`OUTPUT_EVENT_BYTES`]; and the chunk of the other
/// stream that ended the run, if one did.
fn coalesce(
    first: OutputChunk,
    rx: &mut UnboundedReceiver<OutputChunk>,
) -> (OutputChunk, Option<OutputChunk>) {
    let mut batch = first;
    while batch.text.len() < OUTPUT_EVENT_BYTES {
        match rx.try_recv() {
            Ok(c) if c.stream == batch.stream => batch.text.push_str(&c.text),
            Ok(c) => return (batch, Some(c)),
            Err(_) => break,
        }
    }
    (batch, None)
}

/// Whether an agent whose tools are `allowed` (all when not listed) may use
/// `tool`.
fn may_use(allowed: Option<&[String]>, tool: &str) -> bool {
    allowed.is_none_or(|allowed| allowed.iter().any(|t| t == tool))
}

/// The MCP server of a tool name (`SERVER__TOOL`), when it is one of the
/// agent's `servers`.
fn mcp_server_of<'a>(servers: &[String], tool: &'a str) -> Option<&'a str> {
    let (server, _) = tool.split_once("__")?;
    servers.iter().any(|s| s == server).then_some(server)
}

/// A call's arguments, which must be a JSON object; or why they are not.
fn parse_arguments(text: &str) -> Result<serde_json::Value, String> {
    match serde_json::from_str(text) {
        Ok(v @ serde_json::Value::Object(_)) => Ok(v),
        Ok(_) => Err("invalid arguments: expected a JSON object".into()),
        Err(e) => Err(format!("invalid arguments: not valid JSON ({e})")),
    }
}

/// What the model is told about a call the policy denied.
fn denial(reasons: &[String]) -> String {
    format!("refused by policy: {}", reasons.join("; "))
}

/// The tools to offer among `candidates` (with whether each only reads):
/// those `keep` keeps, sorted by name.
fn offered(candidates: Vec<(ToolDef, bool)>, keep: impl Fn(&str, bool) -> bool) -> Vec<ToolDef> {
    let mut tools: Vec<ToolDef> = candidates
        .into_iter()
        .filter(|(t, read_only)| keep(&t.name, *read_only))
        .map(|(t, _)| t)
        .collect();
    tools.sort_by(|a, b| a.name.cmp(&b.name));
    tools
}

/// How `tool.call` names the sandbox of a tool that runs commands.
fn sandbox_label(kind: Option<BackendKind>) -> String {
    kind.map_or("unavailable", BackendKind::as_str).to_string()
}

/// How a call that ran ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct RunOutcome {
    /// The call itself failed (the tool returned an error): what the
    /// model's repeated-failure count counts.
    call_failed: bool,
    /// The command it ran, for a tool that reports one (its structured
    /// output has `exit_code`).
    command: Option<CommandEnd>,
}

impl RunOutcome {
    fn call(succeeded: bool) -> RunOutcome {
        RunOutcome {
            call_failed: !succeeded,
            command: None,
        }
    }

    /// Whether the result is a success: the call succeeded and the
    /// command it ran (if any) exited 0.
    fn success(self) -> bool {
        !self.call_failed && !self.command.is_some_and(|c| c.failed)
    }
}

/// How a command a tool ran ended, from the tool's structured output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct CommandEnd {
    /// Its exit code (none when killed by a signal, timed out or still
    /// running).
    exit_code: Option<i32>,
    /// Whether it failed: a non-zero exit, a timeout, or no exit code
    /// while it is not running (killed).
    failed: bool,
}

/// How the command ended, when a tool's structured output reports one
/// (an object with an `exit_code` key, a number or null, as the shell
/// plugin's `execute_bash` and `job` give; `timed_out` and `running`
/// are read when present).
fn command_end(structured: Option<&serde_json::Value>) -> Option<CommandEnd> {
    let v = structured?.as_object()?;
    let code = v.get("exit_code")?;
    let exit_code = match code {
        serde_json::Value::Null => None,
        n => Some(i32::try_from(n.as_i64()?).ok()?),
    };
    let flag = |key: &str| v.get(key).and_then(serde_json::Value::as_bool) == Some(true);
    let failed = match exit_code {
        Some(code) => code != 0,
        None => !flag("running"),
    } || flag("timed_out");
    Some(CommandEnd { exit_code, failed })
}

/// How an MCP call ended, and its text (or error).
fn mcp_outcome(result: Result<CallOutcome, McpError>) -> (RunOutcome, String) {
    match result {
        Ok(out) => (RunOutcome::call(!out.is_error), out.text),
        Err(e) => (RunOutcome::call(false), e.to_string()),
    }
}

/// How a plugin call ended (with the command it ran, if it says), and its
/// content (or error).
fn plugin_outcome(result: Result<ToolOutput, ToolCallFailure>) -> (RunOutcome, String) {
    match result {
        Ok(out) => (
            RunOutcome {
                call_failed: false,
                command: command_end(out.structured.as_ref()),
            },
            out.content,
        ),
        Err(ToolCallFailure::Call(e)) => (RunOutcome::call(false), e.to_string()),
        Err(ToolCallFailure::Host(e)) => (RunOutcome::call(false), e.to_string()),
    }
}

/// The `tool.result` of a call that ran, with its run time and the time
/// it waited for approval. Tool output is untrusted: what a reviewer
/// cannot see never reaches the model, so invisible characters are
/// removed; then it is cut to `max_bytes`.
fn tool_result(
    call: &ToolCallRequest,
    outcome: RunOutcome,
    raw: &str,
    max_bytes: usize,
    (duration, approval_wait): (Duration, Option<Duration>),
) -> EventBody {
    let (clean, stripped) = crate::policy::sanitize::strip_invisible(raw);
    let (content, cut) = truncate_output(&clean, max_bytes);
    EventBody::ToolResult {
        call_id: call.id.clone(),
        tool: call.name.clone(),
        success: outcome.success(),
        content,
        duration_ms: duration.as_millis() as u64,
        truncated_bytes: cut,
        stripped_chars: stripped,
        exit_code: outcome.command.and_then(|c| c.exit_code),
        approval_wait_ms: approval_wait.map(|w| w.as_millis() as u64),
    }
}

/// The result of a call that did not run (or whose outcome is unknown).
pub(super) fn failed_result(call: &ToolCallRequest, content: String) -> EventBody {
    EventBody::ToolResult {
        call_id: call.id.clone(),
        tool: call.name.clone(),
        success: false,
        content,
        duration_ms: 0,
        truncated_bytes: 0,
        stripped_chars: 0,
        exit_code: None,
        approval_wait_ms: None,
    }
}

/// What the model was told about a failed call: its result's content.
fn failure_of(result: &EventBody) -> Option<String> {
    match result {
        EventBody::ToolResult {
            success: false,
            content,
            ..
        } => Some(content.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::ApprovalMode;
    use crate::policy::{Decision, RiskLevel};
    use paddock_plugins::capability::FsAccess;

    fn call(name: &str, arguments: &str) -> ToolCallRequest {
        ToolCallRequest {
            id: "c1".into(),
            name: name.into(),
            arguments: arguments.into(),
        }
    }

    fn caps(c: &[Capability]) -> BTreeSet<Capability> {
        c.iter().cloned().collect()
    }

    #[test]
    fn a_tool_is_usable_when_the_agent_lists_it_or_lists_none() {
        let listed = ["read_file".to_string(), "srv__search".to_string()];
        assert!(may_use(None, "anything"));
        assert!(may_use(Some(&listed), "read_file"));
        assert!(!may_use(Some(&listed), "write_file"));
        assert!(!may_use(Some(&listed), "read_fil"), "whole names only");
        assert!(
            !may_use(Some(&[]), "read_file"),
            "an empty list allows none"
        );
    }

    #[test]
    fn mcp_tools_are_those_of_the_agents_servers() {
        let servers = ["github".to_string(), "fs".to_string()];
        assert_eq!(
            mcp_server_of(&servers, "github__create_issue"),
            Some("github")
        );
        assert_eq!(
            mcp_server_of(&servers, "fs__read__deep"),
            Some("fs"),
            "split at the first `__`"
        );
        assert_eq!(
            mcp_server_of(&servers, "gitlab__create_issue"),
            None,
            "not its server"
        );
        assert_eq!(mcp_server_of(&servers, "read_file"), None, "a plugin tool");
        assert_eq!(mcp_server_of(&[], "github__x"), None);
    }

    #[test]
    fn tools_are_classified_by_where_they_run() {
        let listed = ToolFacts::mcp(Some(true));
        assert_eq!((listed.kind, listed.read_only), (ToolKind::Mcp, true));
        assert!(!listed.uses_exec(), "MCP tools never run in the sandbox");
        assert!(
            !ToolFacts::mcp(None).read_only,
            "an unlisted MCP tool may write"
        );
        let exec = [Capability::Exec];
        let granted = ToolFacts::plugin(false, &caps(&exec), &caps(&exec));
        assert_eq!(granted.kind, ToolKind::Plugin { exec: true });
        assert!(granted.uses_exec());
        let asked_only = ToolFacts::plugin(false, &caps(&exec), &caps(&[]));
        assert!(!asked_only.uses_exec(), "requested but not granted");
        let granted_only = ToolFacts::plugin(true, &caps(&[]), &caps(&exec));
        assert!(!granted_only.uses_exec(), "granted but not requested");
        assert!(granted_only.read_only);
        let fs = Capability::Fs {
            path: "/workspace".into(),
            access: FsAccess::Rw,
        };
        assert!(
            !ToolFacts::plugin(false, &caps(std::slice::from_ref(&fs)), &caps(&[fs])).uses_exec()
        );
    }

    #[test]
    fn arguments_must_be_a_json_object() {
        assert_eq!(
            parse_arguments(r#"{"path": "a"}"#),
            Ok(serde_json::json!({"path": "a"}))
        );
        assert_eq!(parse_arguments("{}"), Ok(serde_json::json!({})));
        assert_eq!(
            parse_arguments(r#"["a"]"#),
            Err("invalid arguments: expected a JSON object".into())
        );
        assert_eq!(
            parse_arguments("null"),
            Err("invalid arguments: expected a JSON object".into())
        );
        let Err(e) = parse_arguments(r#"{"path": "#) else {
            panic!("cut-off JSON is refused");
        };
        assert!(e.starts_with("invalid arguments: not valid JSON ("), "{e}");
    }

    #[test]
    fn the_log_says_where_a_call_stood_after_a_restart() {
        let decided = Gate::Decided {
            action: Action::Deny,
            level: RiskLevel::High,
            reasons: vec!["rule `deny bash(rm*)`".into()],
        };
        assert_eq!(
            Standing::of_gate(decided),
            Ok(Standing {
                action: Action::Deny,
                level: RiskLevel::High,
                reasons: vec!["rule `deny bash(rm*)`".into()],
                requested: false,
            })
        );
        let requested = Standing::of_gate(Gate::Requested);
        assert_eq!(
            requested.map(|s| (s.action, s.requested)),
            Ok((Action::Ask, true)),
            "waits for the approval already asked, not a new one"
        );
        let approved = Standing::of_gate(Gate::Resolved {
            approved: true,
            refusal: String::new(),
        });
        assert_eq!(approved.map(|s| s.action), Ok(Action::Allow));
        assert_eq!(
            Standing::of_gate(Gate::Resolved {
                approved: false,
                refusal: "not run: denied by alice".into(),
            }),
            Err("not run: denied by alice".into())
        );
    }

    #[test]
    fn a_fresh_decision_has_not_asked_anyone_yet() {
        let decision = Decision {
            action: Action::Ask,
            level: RiskLevel::Medium,
            reasons: vec!["mode ask-risky".into(), "medium risk".into()],
            rule: None,
            rule_scope: None,
            mode: ApprovalMode::AskRisky,
            verdicts: Vec::new(),
        };
        let s = Standing::decided(decision);
        assert_eq!(
            (s.action, s.level, s.requested),
            (Action::Ask, RiskLevel::Medium, false)
        );
        assert_eq!(
            denial(&s.reasons),
            "refused by policy: mode ask-risky; medium risk"
        );
    }

    #[test]
    fn offered_tools_are_filtered_and_sorted_by_name() {
        let def = |name: &str| ToolDef {
            name: name.into(),
            description: String::new(),
            parameters: serde_json::json!({}),
        };
        let candidates = vec![
            (def("write_file"), false),
            (def("read_file"), true),
            (def("srv__search"), true),
            (def("bash"), false),
        ];
        let names = |tools: Vec<ToolDef>| tools.into_iter().map(|t| t.name).collect::<Vec<_>>();
        assert_eq!(
            names(offered(candidates.clone(), |_, _| true)),
            ["bash", "read_file", "srv__search", "write_file"]
        );
        assert_eq!(
            names(offered(candidates, |_, read_only| read_only)),
            ["read_file", "srv__search"]
        );
    }

    #[test]
    fn a_tool_call_names_its_sandbox() {
        assert_eq!(sandbox_label(Some(BackendKind::Bwrap)), "bwrap");
        assert_eq!(sandbox_label(Some(BackendKind::None)), "none");
        assert_eq!(sandbox_label(None), "unavailable");
    }

    #[test]
    fn outcomes_say_whether_the_call_succeeded() {
        assert_eq!(
            mcp_outcome(Ok(CallOutcome {
                is_error: true,
                text: "no such repo".into()
            })),
            (RunOutcome::call(false), "no such repo".into())
        );
        assert_eq!(
            mcp_outcome(Ok(CallOutcome {
                is_error: false,
                text: "ok".into()
            })),
            (RunOutcome::call(true), "ok".into())
        );
        assert_eq!(
            mcp_outcome(Err(McpError::UnknownTool("srv__x".into()))),
            (
                RunOutcome::call(false),
                "unknown MCP tool `srv__x` (its server has not listed it)".into()
            )
        );
        assert_eq!(
            plugin_outcome(Ok(ToolOutput {
                content: "file text".into(),
                structured: None
            })),
            (RunOutcome::call(true), "file text".into())
        );
        let timeout = paddock_plugins::CallError::Timeout {
            plugin: "fs-tools".into(),
            timeout_ms: 5,
        };
        assert_eq!(
            plugin_outcome(Err(ToolCallFailure::Call(timeout))),
            (
                RunOutcome::call(false),
                "plugin `fs-tools` timed out after 5 ms".into()
            )
        );
    }

    #[test]
    fn a_command_that_exits_non_zero_times_out_or_is_killed_failed() {
        use serde_json::json;
        let end = |v: serde_json::Value| command_end(Some(&v));
        let ended = |exit_code, failed| Some(CommandEnd { exit_code, failed });
        assert_eq!(
            end(json!({"exit_code": 0, "timed_out": false})),
            ended(Some(0), false)
        );
        assert_eq!(
            end(json!({"exit_code": 1, "timed_out": false})),
            ended(Some(1), true)
        );
        assert_eq!(
            end(json!({"exit_code": null, "timed_out": true})),
            ended(None, true)
        );
        assert_eq!(
            end(json!({"exit_code": null, "timed_out": false})),
            ended(None, true),
            "killed"
        );
        assert_eq!(
            end(json!({"exit_code": null, "running": true, "job_id": "j1"})),
            ended(None, false),
            "a background job still running"
        );
        assert_eq!(
            end(json!({"job_id": "j1", "timeout_secs": 30})),
            None,
            "a job started"
        );
        assert_eq!(end(json!({"exit_code": "1"})), None, "not a number");
        assert_eq!(command_end(None), None);
        assert_eq!(end(json!([1])), None);
        // The content the model sees is the same; only the flag changes.
        let (outcome, content) = plugin_outcome(Ok(ToolOutput {
            content: "exit_code: 2".into(),
            structured: Some(json!({"exit_code": 2, "timed_out": false})),
        }));
        assert_eq!(content, "exit_code: 2");
        assert!(!outcome.call_failed && !outcome.success());
        let c = call("execute_bash", "{}");
        let result = tool_result(
            &c,
            outcome,
            &content,
            1000,
            (Duration::from_millis(5), Some(Duration::from_millis(900))),
        );
        let EventBody::ToolResult {
            success,
            exit_code,
            duration_ms,
            approval_wait_ms,
            content: seen,
            ..
        } = &result
        else {
            panic!("not a result");
        };
        assert_eq!(
            (
                *success,
                *exit_code,
                *duration_ms,
                *approval_wait_ms,
                seen.as_str()
            ),
            (false, Some(2), 5, Some(900), "exit_code: 2")
        );
    }

    #[test]
    fn results_are_cleaned_cut_and_say_why_they_failed() {
        let c = call("bash", "{}");
        let result = tool_result(
            &c,
            RunOutcome::call(false),
            "exit 1\u{202e}!",
            1000,
            (Duration::from_millis(42), None),
        );
        assert_eq!(
            result,
            EventBody::ToolResult {
                call_id: "c1".into(),
                tool: "bash".into(),
                success: false,
                content: "exit 1!".into(),
                duration_ms: 42,
                truncated_bytes: 0,
                stripped_chars: 1,
                exit_code: None,
                approval_wait_ms: None,
            }
        );
        assert_eq!(failure_of(&result), Some("exit 1!".into()));
        let long = "x".repeat(5000);
        let EventBody::ToolResult {
            content,
            truncated_bytes,
            success,
            ..
        } = tool_result(
            &c,
            RunOutcome::call(true),
            &long,
            1000,
            (Duration::ZERO, None),
        )
        else {
            panic!("not a result");
        };
        assert!(success);
        assert!(content.len() < long.len() && truncated_bytes > 0, "cut");
        let ok = tool_result(
            &c,
            RunOutcome::call(true),
            "fine",
            1000,
            (Duration::ZERO, None),
        );
        assert_eq!(failure_of(&ok), None, "a success is no failure");
        let refused = failed_result(&c, "refused by policy: x".into());
        assert_eq!(failure_of(&refused), Some("refused by policy: x".into()));
        assert!(matches!(
            refused,
            EventBody::ToolResult {
                duration_ms: 0,
                truncated_bytes: 0,
                stripped_chars: 0,
                ..
            }
        ));
    }

    fn chunk(stream: StreamKind, text: &str) -> OutputChunk {
        OutputChunk {
            stream,
            text: text.into(),
        }
    }

    #[test]
    fn output_waiting_together_is_coalesced_per_stream() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        for c in [
            chunk(StreamKind::Stdout, "b"),
            chunk(StreamKind::Stdout, "c"),
            chunk(StreamKind::Stderr, "warn"),
            chunk(StreamKind::Stdout, "d"),
        ] {
            tx.send(c).unwrap();
        }
        let (batch, next) = coalesce(chunk(StreamKind::Stdout, "a"), &mut rx);
        assert_eq!(batch, chunk(StreamKind::Stdout, "abc"));
        assert_eq!(
            next,
            Some(chunk(StreamKind::Stderr, "warn")),
            "another stream ends the batch"
        );
        let (batch, next) = coalesce(chunk(StreamKind::Stdout, "e"), &mut rx);
        assert_eq!((batch, next), (chunk(StreamKind::Stdout, "ed"), None));
    }

    #[test]
    fn a_batch_stops_growing_once_it_reaches_the_event_size() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let half = "x".repeat(OUTPUT_EVENT_BYTES / 2);
        for _ in 0..3 {
            tx.send(chunk(StreamKind::Stdout, &half)).unwrap();
        }
        let (batch, next) = coalesce(chunk(StreamKind::Stdout, &half), &mut rx);
        assert_eq!(
            batch.text.len(),
            OUTPUT_EVENT_BYTES,
            "exactly full: no more"
        );
        assert_eq!(next, None);
        let (batch, _) = coalesce(rx.try_recv().unwrap(), &mut rx);
        assert_eq!(batch.text.len(), OUTPUT_EVENT_BYTES, "the rest");
        assert!(rx.try_recv().is_err());
    }
}
