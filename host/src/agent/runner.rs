//! One agent: its log (append = redact, store, broadcast), its status, and
//! the loop that runs it — model call, tool calls in order, repeat — until
//! the model answers without tool calls, a limit is hit, the user interrupts
//! or something fails. Every step is stored before it takes effect, so a
//! restarted host picks the agent up where the log says it stood.

use super::config::AgentConfig;
use super::context::{Step, Transcript, truncate_output};
use super::redact::Redactor;
use crate::config::{AgentDefaults, ModelConfig, ProviderConfig};
use crate::events::{AgentStatus, Bus, Event, EventBody};
use crate::llm::{ChatRequest, StreamNote, ToolCallRequest, ToolDef};
use crate::llm::{ModelClient, RetryBudget};
use crate::mcp::McpManager;
use crate::plugins::capability::effective;
use crate::plugins::{CallTarget, Capability, PluginHost, ToolCallFailure};
use crate::sandbox::{OutputChunk, SandboxManager};
use crate::store::{Store, StoreError};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// Why an agent operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// No such agent.
    #[error("no agent with id `{0}`")]
    NotFound(String),
    /// The request is not valid (the message says which field).
    #[error("{0}")]
    Invalid(String),
    /// The agent was deleted or stopped.
    #[error("agent `{0}` is stopped and takes no more messages")]
    Stopped(String),
    /// The store failed.
    #[error("the event store failed: {0}")]
    Store(#[from] StoreError),
}

/// A configured provider: its settings and its client.
#[derive(Clone)]
pub struct Provider {
    /// Its configuration.
    pub config: ProviderConfig,
    /// Its client.
    pub client: ModelClient,
}

/// What every agent shares: the store, the bus, the tools, the models.
pub struct AgentDeps {
    /// The durable log.
    pub store: Store,
    /// Live events.
    pub bus: Arc<Bus>,
    /// The tools.
    pub plugins: Arc<PluginHost>,
    /// Model providers by name.
    pub providers: HashMap<String, Provider>,
    /// Secret redaction.
    pub redactor: Redactor,
    /// Rules for every agent.
    pub defaults: AgentDefaults,
    /// Where commands of plugins granted `exec` run.
    pub sandbox: Arc<SandboxManager>,
    /// MCP servers and their tools.
    pub mcp: Arc<McpManager>,
}

/// One agent, shared by its task and the API.
pub struct Agent {
    id: String,
    config: AgentConfig,
    deps: Arc<AgentDeps>,
    /// Serialises appends; holds the last stored seq.
    log: tokio::sync::Mutex<u64>,
    /// The last stored seq, readable without the lock (for deltas).
    last_seq: AtomicU64,
    status: watch::Sender<AgentStatus>,
    wake: Notify,
    run_token: Mutex<CancellationToken>,
    stopped: AtomicBool,
    budget: RetryBudget,
    /// Its live channel.
    live: tokio::sync::broadcast::Sender<Arc<Event>>,
}

/// How a run ended.
#[derive(Debug, PartialEq)]
enum Outcome {
    Done,
    Interrupted,
    Failed,
}

impl Agent {
    /// An agent whose log ends at `last_seq` with `status`.
    pub fn new(
        id: String,
        config: AgentConfig,
        deps: Arc<AgentDeps>,
        last_seq: u64,
        status: AgentStatus,
    ) -> Arc<Agent> {
        let budget = RetryBudget::new(config.limits.retry_budget);
        let live = deps.bus.sender(&id);
        Arc::new(Agent {
            id,
            config,
            deps,
            log: tokio::sync::Mutex::new(last_seq),
            last_seq: AtomicU64::new(last_seq),
            status: watch::channel(status).0,
            wake: Notify::new(),
            run_token: Mutex::new(CancellationToken::new()),
            stopped: AtomicBool::new(status == AgentStatus::Stopped),
            budget,
            live,
        })
    }

    /// Its id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Its configuration.
    pub fn config(&self) -> &AgentConfig {
        &self.config
    }

    /// Its current status.
    pub fn status(&self) -> AgentStatus {
        *self.status.borrow()
    }

    /// Watches its status.
    pub fn watch_status(&self) -> watch::Receiver<AgentStatus> {
        self.status.subscribe()
    }

    /// The last stored seq.
    pub fn last_seq(&self) -> u64 {
        self.last_seq.load(Ordering::Acquire)
    }

    /// Redacts, stores and broadcasts one event; returns it as stored.
    pub async fn append(&self, body: EventBody) -> Result<Arc<Event>, AgentError> {
        let body = self.deps.redactor.redact_event(body);
        let mut last = self.log.lock().await;
        let event = Arc::new(Event {
            seq: *last + 1,
            agent_id: self.id.clone(),
            ts: chrono::Utc::now(),
            body,
        });
        self.deps.store.append(&event).await?;
        *last = event.seq;
        self.last_seq.store(event.seq, Ordering::Release);
        if let EventBody::AgentStatus { status, .. } = &event.body {
            self.status.send_replace(*status);
        }
        let _ = self.live.send(event.clone());
        Ok(event)
    }

    /// Broadcasts a live-only text delta (redacted, never stored).
    fn delta(&self, text: &str) {
        let _ = self.live.send(Arc::new(Event {
            seq: self.last_seq(),
            agent_id: self.id.clone(),
            ts: chrono::Utc::now(),
            body: EventBody::MessageDelta {
                text: self.deps.redactor.redact(text),
            },
        }));
    }

    async fn set_status(
        &self,
        status: AgentStatus,
        reason: Option<String>,
    ) -> Result<(), AgentError> {
        if self.status() == status && reason.is_none() {
            return Ok(());
        }
        if self.status() == AgentStatus::Stopped {
            // Stopped is final: a run ending after a deletion changes nothing.
            return Ok(());
        }
        self.append(EventBody::AgentStatus { status, reason })
            .await?;
        Ok(())
    }

    /// Stores a user message and wakes the agent. Messages sent while it
    /// runs are seen by the model at its next turn.
    pub async fn post_message(&self, text: String) -> Result<Arc<Event>, AgentError> {
        if self.stopped.load(Ordering::Acquire) {
            return Err(AgentError::Stopped(self.id.clone()));
        }
        let event = self.append(EventBody::MessageUser { text }).await?;
        self.wake.notify_one();
        Ok(event)
    }

    /// Interrupts the running model call or tool sequence; returns whether
    /// the agent was busy.
    pub fn interrupt(&self) -> bool {
        let busy = !matches!(
            self.status(),
            AgentStatus::Idle | AgentStatus::Error | AgentStatus::Stopped
        );
        if let Ok(token) = self.run_token.lock() {
            token.cancel();
        }
        busy
    }

    /// Stops the agent for good (deletion); records `stopped`.
    pub async fn stop(&self, reason: &str) -> Result<(), AgentError> {
        self.stopped.store(true, Ordering::Release);
        if let Ok(token) = self.run_token.lock() {
            token.cancel();
        }
        self.wake.notify_one();
        self.set_status(AgentStatus::Stopped, Some(reason.to_string()))
            .await
    }

    fn new_run_token(&self) -> CancellationToken {
        let token = CancellationToken::new();
        if let Ok(mut current) = self.run_token.lock() {
            *current = token.clone();
        }
        token
    }

    /// The agent's task: waits for work, runs, repeats until stopped.
    /// `resume` runs at once (the host restarted while the agent was busy).
    pub async fn task(self: Arc<Agent>, mut resume: bool) {
        let span = tracing::info_span!("agent", agent = %self.id, name = %self.config.name);
        async move {
            loop {
                if !resume {
                    self.wake.notified().await;
                }
                resume = false;
                if self.stopped.load(Ordering::Acquire) {
                    break;
                }
                let token = self.new_run_token();
                if let Err(e) = self.run(token).await {
                    tracing::error!(error = %e, "agent run failed");
                    // The store failed: nothing more can be recorded safely;
                    // show the state live and wait for the next message.
                    self.status.send_replace(AgentStatus::Error);
                }
                if self.stopped.load(Ordering::Acquire) {
                    break;
                }
            }
            tracing::debug!("agent task ended");
        }
        .instrument(span)
        .await
    }

    async fn load_transcript(&self) -> Result<Transcript, AgentError> {
        let mut transcript = Transcript::new(&self.config.system_prompt);
        let mut after = 0;
        loop {
            let page = self.deps.store.events_after(&self.id, after, 1000).await?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            for e in &page {
                transcript.push_event(&e.body);
            }
        }
        Ok(transcript)
    }

    /// Runs until there is nothing to do. Errors are store failures; every
    /// other failure is recorded in the log.
    async fn run(&self, token: CancellationToken) -> Result<(), AgentError> {
        let mut transcript = self.load_transcript().await?;
        if transcript.next_step() == Step::Idle {
            if !matches!(self.status(), AgentStatus::Idle | AgentStatus::Error) {
                self.set_status(AgentStatus::Idle, None).await?;
            }
            return Ok(());
        }
        let outcome = self.steps(&mut transcript, &token).await?;
        if self.stopped.load(Ordering::Acquire) {
            // Deleted mid-run: `stop` recorded the final status.
            return self
                .close_open_calls(&mut transcript, "not run: the agent was deleted")
                .await;
        }
        match outcome {
            Outcome::Done => self.set_status(AgentStatus::Idle, None).await,
            Outcome::Interrupted => {
                self.close_open_calls(&mut transcript, "not run: the user interrupted the agent")
                    .await?;
                self.set_status(AgentStatus::Idle, Some("interrupted by the user".into()))
                    .await
            }
            Outcome::Failed => {
                self.close_open_calls(&mut transcript, "not run: the agent stopped on an error")
                    .await?;
                Ok(())
            }
        }
    }

    /// Records a failed result for every unresolved call of the latest
    /// answer, so the conversation stays valid for the next run.
    async fn close_open_calls(
        &self,
        transcript: &mut Transcript,
        why: &str,
    ) -> Result<(), AgentError> {
        while let Step::RunTool { call, .. } = transcript.next_step() {
            let e = self.append(failed_result(&call, why.to_string())).await?;
            transcript.push_event(&e.body);
        }
        Ok(())
    }

    async fn fail(&self, code: &str, message: String) -> Result<Outcome, AgentError> {
        tracing::info!(code, %message, "agent run stopped");
        self.append(EventBody::Error {
            code: code.into(),
            message: message.clone(),
            recoverable: false,
        })
        .await?;
        self.set_status(AgentStatus::Error, Some(message)).await?;
        Ok(Outcome::Failed)
    }

    async fn steps(
        &self,
        transcript: &mut Transcript,
        token: &CancellationToken,
    ) -> Result<Outcome, AgentError> {
        let limits = &self.config.limits;
        let started = Instant::now();
        let deadline = limits
            .max_wall_time_secs
            .map(|s| tokio::time::Instant::now() + Duration::from_secs(s));
        let mut turns = 0u32;
        let mut spent = match self.deps.store.get_agent(&self.id).await? {
            Some(r) => r.usage.cost_usd,
            None => 0.0,
        };
        let mut repeats = RepeatTracker::default();
        let Some(provider) = self.deps.providers.get(&self.config.model.provider) else {
            return self
                .fail(
                    "model_failed",
                    format!(
                        "provider `{}` is not configured (see [[providers]] in paddock.toml)",
                        self.config.model.provider
                    ),
                )
                .await;
        };
        let model = provider
            .config
            .model(&self.config.model.model)
            .cloned()
            .unwrap_or_else(|| unpriced(&self.config.model.model));
        let tools = self.tool_defs().await;
        let tools_bytes = serde_json::to_string(&tools).map_or(0, |s| s.len());
        loop {
            if token.is_cancelled() {
                return Ok(Outcome::Interrupted);
            }
            if let Some(max) = limits.max_wall_time_secs
                && started.elapsed() >= Duration::from_secs(max)
            {
                return self
                    .fail(
                        "limit_time",
                        format!("the run reached its wall-time limit of {max} s"),
                    )
                    .await;
            }
            match transcript.next_step() {
                Step::Idle => return Ok(Outcome::Done),
                Step::CallModel => {
                    if turns >= limits.max_turns {
                        return self
                            .fail(
                                "limit_turns",
                                format!(
                                    "the run reached its limit of {} model calls",
                                    limits.max_turns
                                ),
                            )
                            .await;
                    }
                    if let Some(max) = limits.max_cost_usd
                        && spent >= max
                    {
                        return self
                            .fail(
                                "limit_cost",
                                format!("the agent has spent ${spent:.4}, its limit is ${max:.4}"),
                            )
                            .await;
                    }
                    turns += 1;
                    self.set_status(AgentStatus::Thinking, None).await?;
                    let budget_tokens =
                        (model.context_window as f64 * self.deps.defaults.mask_threshold) as u64;
                    let prepared = transcript.prepare(budget_tokens, tools_bytes);
                    let request = ChatRequest {
                        model: self.config.model.model.clone(),
                        messages: prepared.messages,
                        tools: tools.clone(),
                        temperature: self.config.temperature,
                        max_tokens: self.config.max_tokens,
                        prompt_cache_key: Some(format!("paddock-{}", self.id)),
                    };
                    match self
                        .call_model(
                            provider,
                            &model,
                            &request,
                            prepared.tokens_saved,
                            token,
                            deadline,
                        )
                        .await?
                    {
                        ModelResult::Answer(events, cost, input_tokens) => {
                            spent += cost;
                            transcript.calibrate(prepared.bytes + tools_bytes, input_tokens);
                            for e in events {
                                transcript.push_event(&e.body);
                            }
                        }
                        ModelResult::Interrupted => return Ok(Outcome::Interrupted),
                        ModelResult::Failed(code, message) => {
                            return self.fail(code, message).await;
                        }
                    }
                }
                Step::RunTool {
                    call,
                    started: true,
                    read_only: false,
                } => {
                    // The host stopped while this call ran: it may or may not
                    // have taken effect. Never run it again silently.
                    let message = format!(
                        "the host restarted while `{}` was running; it may or may not have taken effect. \
                         Check its effects before calling it again.",
                        call.name
                    );
                    self.append(EventBody::Error {
                        code: "host_restarted".into(),
                        message: message.clone(),
                        recoverable: true,
                    })
                    .await?;
                    let e = self.append(failed_result(&call, message)).await?;
                    transcript.push_event(&e.body);
                }
                Step::RunTool { call, started, .. } => {
                    if started {
                        // Read-only: safe to run again after a restart.
                        self.append(EventBody::Error {
                            code: "host_restarted".into(),
                            message: format!(
                                "the host restarted while `{}` was running; running this read-only call again",
                                call.name
                            ),
                            recoverable: true,
                        })
                        .await?;
                    }
                    self.set_status(AgentStatus::ExecutingTool, None).await?;
                    let (result, failed_with) = self.run_tool(&call, token).await?;
                    transcript.push_event(&result.body);
                    if let Some(message) = failed_with {
                        if repeats.failed(&call) >= self.deps.defaults.max_repeated_failures {
                            return self
                                .fail(
                                    "repeated_tool_failure",
                                    format!(
                                        "the model called `{}` with the same arguments {} times in a row and it failed each time ({message}); stopping",
                                        call.name,
                                        repeats.count
                                    ),
                                )
                                .await;
                        }
                    } else {
                        repeats.succeeded();
                    }
                }
            }
        }
    }

    /// Tools offered to the model: enabled plugin tools and the tools of its
    /// MCP servers that the agent may use, sorted by name so the prompt
    /// prefix is stable.
    async fn tool_defs(&self) -> Vec<ToolDef> {
        let mut tools: Vec<ToolDef> = match self.deps.plugins.tools() {
            Ok(tools) => tools
                .into_iter()
                .filter(|t| self.may_use(&t.spec.name))
                .map(|t| ToolDef {
                    name: t.spec.name,
                    description: t.spec.description,
                    parameters: t.spec.input_schema,
                })
                .collect(),
            Err(e) => {
                tracing::warn!(error = %e, "cannot list tools");
                Vec::new()
            }
        };
        if !self.config.mcp_servers.is_empty() {
            let mcp = self.deps.mcp.tools_for(&self.config.mcp_servers).await;
            tools.extend(
                mcp.into_iter()
                    .filter(|t| self.may_use(&t.name))
                    .map(|t| ToolDef {
                        name: t.name,
                        description: t.description,
                        parameters: t.input_schema,
                    }),
            );
        }
        tools.sort_by(|a, b| a.name.cmp(&b.name));
        tools
    }

    fn may_use(&self, tool: &str) -> bool {
        self.config
            .tools
            .as_ref()
            .is_none_or(|allowed| allowed.iter().any(|t| t == tool))
    }

    async fn call_model(
        &self,
        provider: &Provider,
        model: &ModelConfig,
        request: &ChatRequest,
        tokens_saved: u64,
        token: &CancellationToken,
        deadline: Option<tokio::time::Instant>,
    ) -> Result<ModelResult, AgentError> {
        let started = Instant::now();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<StreamNote>();
        let mut on_note = move |n: StreamNote| {
            let _ = tx.send(n);
        };
        // Boxed so that dropping it on interrupt closes the HTTP stream at
        // once, not when this function returns.
        let mut call = Box::pin(
            provider
                .client
                .complete(request, &self.budget, &mut on_note),
        );
        let far = tokio::time::Instant::now() + Duration::from_secs(365 * 24 * 3600);
        let timeout = tokio::time::sleep_until(deadline.unwrap_or(far));
        tokio::pin!(timeout);
        let mut partial = String::new();
        let result = loop {
            tokio::select! {
                biased;
                _ = token.cancelled() => {
                    drop(call);
                    if !partial.is_empty() {
                        // Keep what the user already saw.
                        self.append(EventBody::MessageAssistant {
                            text: Some(partial),
                            tool_calls: Vec::new(),
                            finish_reason: "interrupted".into(),
                        })
                        .await?;
                    }
                    return Ok(ModelResult::Interrupted);
                }
                _ = &mut timeout => {
                    return Ok(ModelResult::Failed("limit_time", "the run reached its wall-time limit during a model call".into()));
                }
                Some(note) = rx.recv() => self.on_note(note, &mut partial).await?,
                result = call.as_mut() => break result,
            }
        };
        while let Ok(note) = rx.try_recv() {
            self.on_note(note, &mut partial).await?;
        }
        let completion = match result {
            Ok(c) => c,
            Err(e) => {
                return Ok(ModelResult::Failed(
                    "model_failed",
                    format!("the model call failed: {e}"),
                ));
            }
        };
        let cost = model.cost(&completion.usage);
        let mut events = Vec::new();
        events.push(
            self.append(EventBody::MessageAssistant {
                text: completion.content.clone(),
                tool_calls: completion.tool_calls.clone(),
                finish_reason: completion.finish_reason.as_str().to_string(),
            })
            .await?,
        );
        self.append(EventBody::Usage {
            provider: provider.config.name.clone(),
            model: request.model.clone(),
            input_tokens: completion.usage.input_tokens,
            output_tokens: completion.usage.output_tokens,
            cached_tokens: completion.usage.cached_tokens,
            cost_usd: cost,
            duration_ms: started.elapsed().as_millis() as u64,
            attempts: completion.attempts,
            masked_tokens_saved: tokens_saved,
        })
        .await?;
        Ok(ModelResult::Answer(
            events,
            cost,
            completion.usage.input_tokens,
        ))
    }

    async fn on_note(&self, note: StreamNote, partial: &mut String) -> Result<(), AgentError> {
        match note {
            StreamNote::Delta(text) => {
                partial.push_str(&text);
                self.delta(&text);
            }
            StreamNote::Retrying {
                attempt,
                wait_ms,
                reason,
            } => {
                partial.clear();
                self.append(EventBody::Error {
                    code: "model_retry".into(),
                    message: format!(
                        "model attempt {attempt} failed ({reason}); retrying in {wait_ms} ms (text streamed so far is discarded)"
                    ),
                    recoverable: true,
                })
                .await?;
            }
        }
        Ok(())
    }

    /// The MCP server of a tool name, when it is one of the agent's.
    fn mcp_server_of<'a>(&self, tool: &'a str) -> Option<&'a str> {
        let (server, _) = tool.split_once("__")?;
        self.config
            .mcp_servers
            .iter()
            .any(|s| s == server)
            .then_some(server)
    }

    /// Runs one tool call (a plugin tool, or an MCP tool which `token`
    /// cancels at its server); returns its stored result and, if it failed,
    /// why.
    async fn run_tool(
        &self,
        call: &ToolCallRequest,
        token: &CancellationToken,
    ) -> Result<(Arc<Event>, Option<String>), AgentError> {
        let started = Instant::now();
        let failure = |content: String| failed_result(call, content);
        if !self.may_use(&call.name) {
            let msg = format!(
                "unknown tool `{}`: it is not among this agent's tools",
                call.name
            );
            return Ok((self.append(failure(msg.clone())).await?, Some(msg)));
        }
        let is_mcp = self.mcp_server_of(&call.name).is_some();
        let (read_only, uses_exec) = if is_mcp {
            // A tool its server has not listed (yet) is called anyway: the
            // answer explains why it is unavailable.
            let listed = self.deps.mcp.find_tool(&call.name);
            (listed.is_some_and(|t| t.read_only), false)
        } else {
            match self.deps.plugins.find_tool(&call.name) {
                Ok((record, spec)) => (
                    spec.read_only,
                    effective(&record.requested, &record.granted).contains(&Capability::Exec),
                ),
                Err(e) => {
                    let msg = format!("unknown tool `{}`: {e}", call.name);
                    return Ok((self.append(failure(msg.clone())).await?, Some(msg)));
                }
            }
        };
        let arguments: serde_json::Value = match serde_json::from_str(&call.arguments) {
            Ok(v @ serde_json::Value::Object(_)) => v,
            Ok(_) => {
                let msg = "invalid arguments: expected a JSON object".to_string();
                return Ok((self.append(failure(msg.clone())).await?, Some(msg)));
            }
            Err(e) => {
                let msg = format!("invalid arguments: not valid JSON ({e})");
                return Ok((self.append(failure(msg.clone())).await?, Some(msg)));
            }
        };
        self.append(EventBody::ToolCall {
            call_id: call.id.clone(),
            tool: call.name.clone(),
            arguments: arguments.clone(),
            read_only,
            // Tools that run commands say where (`none` flags an
            // unsandboxed host).
            sandbox: uses_exec.then(|| {
                self.deps
                    .sandbox
                    .kind()
                    .map_or("unavailable", |k| k.as_str())
                    .to_string()
            }),
        })
        .await?;
        let (success, raw) = if is_mcp {
            match self.deps.mcp.call(&call.name, arguments, token).await {
                Ok(out) => (!out.is_error, out.text),
                Err(e) => (false, e.to_string()),
            }
        } else {
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            let run = async {
                // The target owns the only sender: when the call ends, the
                // output stream ends.
                let target = CallTarget {
                    agent_id: self.id.clone(),
                    call_id: call.id.clone(),
                    workspace: Some(self.config.workspace.clone()),
                    network: self.config.network,
                    output: uses_exec.then_some(tx),
                };
                self.deps
                    .plugins
                    .call_tool(&call.name, &call.arguments, &target)
                    .await
            };
            let (result, streamed) = tokio::join!(run, self.stream_output(&call.id, rx));
            streamed?;
            match result {
                Ok(out) => (true, out.content),
                Err(ToolCallFailure::Call(e)) => (false, e.to_string()),
                Err(ToolCallFailure::Host(e)) => (false, e.to_string()),
            }
        };
        let (content, cut) = truncate_output(&raw, self.deps.defaults.tool_output_max_bytes);
        let event = self
            .append(EventBody::ToolResult {
                call_id: call.id.clone(),
                tool: call.name.clone(),
                success,
                content: content.clone(),
                duration_ms: started.elapsed().as_millis() as u64,
                truncated_bytes: cut,
            })
            .await?;
        Ok((event, (!success).then_some(content)))
    }
}

/// Most bytes of one `tool.output` event: chunks that arrive together are
/// coalesced up to this size.
const OUTPUT_EVENT_BYTES: usize = 16 * 1024;

impl Agent {
    /// Stores the output a running command streams, as `tool.output`
    /// events, until the call ends.
    async fn stream_output(
        &self,
        call_id: &str,
        mut rx: tokio::sync::mpsc::UnboundedReceiver<OutputChunk>,
    ) -> Result<(), AgentError> {
        while let Some(first) = rx.recv().await {
            let stream = first.stream;
            let mut text = first.text;
            let mut next = None;
            while text.len() < OUTPUT_EVENT_BYTES {
                match rx.try_recv() {
                    Ok(c) if c.stream == stream => text.push_str(&c.text),
                    Ok(c) => {
                        next = Some(c);
                        break;
                    }
                    Err(_) => break,
                }
            }
            for (stream, text) in
                std::iter::once((stream, text)).chain(next.map(|c| (c.stream, c.text)))
            {
                self.append(EventBody::ToolOutput {
                    call_id: call_id.to_string(),
                    stream: stream.as_str().to_string(),
                    chunk: text,
                })
                .await?;
            }
        }
        Ok(())
    }
}

/// The result of a call that did not run (or whose outcome is unknown).
fn failed_result(call: &ToolCallRequest, content: String) -> EventBody {
    EventBody::ToolResult {
        call_id: call.id.clone(),
        tool: call.name.clone(),
        success: false,
        content,
        duration_ms: 0,
        truncated_bytes: 0,
    }
}

enum ModelResult {
    Answer(Vec<Arc<Event>>, f64, u64),
    Interrupted,
    Failed(&'static str, String),
}

fn unpriced(name: &str) -> ModelConfig {
    ModelConfig {
        name: name.to_string(),
        context_window: 128_000,
        input_per_mtok: 0.0,
        output_per_mtok: 0.0,
        cached_input_per_mtok: None,
    }
}

/// Counts identical failing calls in a row.
#[derive(Default)]
struct RepeatTracker {
    last: Option<(String, String)>,
    count: u32,
}

impl RepeatTracker {
    /// Records a failed call; returns how many identical failures in a row.
    fn failed(&mut self, call: &ToolCallRequest) -> u32 {
        let key = (call.name.clone(), canonical(&call.arguments));
        if self.last.as_ref() == Some(&key) {
            self.count += 1;
        } else {
            self.last = Some(key);
            self.count = 1;
        }
        self.count
    }

    fn succeeded(&mut self) {
        self.last = None;
        self.count = 0;
    }
}

/// Arguments in a canonical form (sorted keys), or as sent if not JSON.
fn canonical(arguments: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(arguments) {
        Ok(v) => v.to_string(),
        Err(_) => arguments.trim().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_count_identical_failures_in_a_row() {
        let call = |args: &str| ToolCallRequest {
            id: "x".into(),
            name: "read_file".into(),
            arguments: args.into(),
        };
        let mut r = RepeatTracker::default();
        assert_eq!(r.failed(&call(r#"{"path":"a","n":1}"#)), 1);
        assert_eq!(
            r.failed(&call(r#"{"n":1, "path":"a"}"#)),
            2,
            "same arguments, other order"
        );
        assert_eq!(r.failed(&call(r#"{"path":"b"}"#)), 1);
        r.succeeded();
        assert_eq!(r.failed(&call(r#"{"path":"b"}"#)), 1);
    }
}
