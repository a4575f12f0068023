//! One agent: its log (append = redact, store, broadcast), its status, and
//! the loop that runs it — model call, tool calls in order, repeat — until
//! the model answers without tool calls, a limit is hit, the user interrupts
//! or something fails. Every step is stored before it takes effect, so a
//! restarted host picks the agent up where the log says it stood.

use super::config::AgentConfig;
use super::config::ModelRef;
use super::context::{Gate, Step, Transcript, refusal, truncate_output};
use super::cost::{self, BudgetUse, FailureCounter, GlobalBudgets, RouteInput};
use super::redact::Redactor;
use crate::config::{AgentDefaults, ModelConfig, ProviderConfig, RouterConfig, Tier};
use crate::events::RouteInfo;
use crate::events::{AgentStatus, Bus, Event, EventBody, RememberRules};
use crate::llm::{ChatRequest, StreamNote, ToolCallRequest, ToolDef};
use crate::llm::{ModelClient, RetryBudget};
use crate::mcp::McpManager;
use crate::plugins::capability::effective;
use crate::plugins::{CallTarget, Capability, PluginHost, ToolCallFailure};
use crate::policy::rules::{Rule, exact_allow};
use crate::policy::{Action, Call, Decision, Policy, RiskLevel, RuleSpec, Scope, Subject};
use crate::sandbox::{OutputChunk, SandboxManager};
use crate::store::{ApprovalStatus, NewApproval, NewAudit};
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
    /// The agent has no approval for this call.
    #[error("agent `{agent}` has no approval for tool call `{call}`")]
    NoApproval {
        /// The agent.
        agent: String,
        /// The call.
        call: String,
    },
    /// The request conflicts with the current state (e.g. the approval was
    /// decided already).
    #[error("{0}")]
    Conflict(String),
    /// The store failed.
    #[error("the event store failed: {0}")]
    Store(#[from] StoreError),
    /// The agent is waiting for the store to come back and cannot take a
    /// request that needs its log now.
    #[error("agent `{0}` is waiting for the store to come back")]
    WaitingForStore(String),
}

/// How an append meets a store that is away (down, or unable to write).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Patience {
    /// The agent's own steps: pause, retry with backoff until the event is
    /// stored, then note how long the store was away.
    UntilStored,
    /// A request from outside (a user's message, a deletion): fail at once,
    /// so that the API answers 503 rather than hanging.
    None,
}

/// First pause before retrying a store that is away; doubled up to
/// [`STORE_RETRY_MAX`].
const STORE_RETRY_FIRST: Duration = Duration::from_millis(200);
/// Longest pause between retries of a store that is away.
const STORE_RETRY_MAX: Duration = Duration::from_secs(5);
/// How long a request from outside waits for the agent's log (held by an
/// agent that waits for the store) before it is answered 503.
const LOG_WAIT: Duration = Duration::from_secs(2);

/// A time the store was away, as one agent saw it.
struct Outage {
    since: Instant,
    cause: String,
}

impl Outage {
    /// The recoverable `error` event that records it.
    fn event_body(&self) -> EventBody {
        EventBody::Error {
            code: "store_unavailable".into(),
            message: format!(
                "the store was unavailable for {:.1} s ({}); the agent waited and went on where it stood",
                self.since.elapsed().as_secs_f64(),
                self.cause
            ),
            recoverable: true,
        }
    }
}

/// Waits (with backoff) until the store answers again.
async fn wait_for_store(store: &Store) {
    let mut delay = STORE_RETRY_FIRST;
    while store.ping().await.is_err() {
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(STORE_RETRY_MAX);
    }
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
    /// Rules and risk assessors.
    pub policy: Arc<Policy>,
    /// Counters and per-agent figures, fed by every stored event.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Model routers by name.
    pub routers: HashMap<String, RouterConfig>,
    /// The global budgets in force.
    pub budgets: Arc<GlobalBudgets>,
    /// Workspaces (a worktree's git directory is mounted in its sandbox).
    pub workspaces: Arc<crate::workspace::Workspaces>,
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
    /// Its own policy rules, compiled.
    rules: Vec<Rule>,
    /// Woken when one of its approvals is decided.
    approvals: Notify,
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
        // Checked when the agent was created; should a stricter parser
        // refuse them now, every call asks rather than losing a `deny`.
        let rules = crate::policy::compile_all(&config.rules).unwrap_or_else(|e| {
            tracing::error!(agent = %id, error = %e, "the agent's rules no longer parse; every call will ask");
            Rule::parse("ask *").into_iter().collect()
        });
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
            rules,
            approvals: Notify::new(),
        })
    }

    /// Wakes the agent after one of its approvals was decided in the store.
    pub fn approval_decided(&self) {
        self.approvals.notify_one();
    }

    /// Whom the policy judges its calls for.
    pub fn subject(&self) -> Subject<'_> {
        Subject::of_agent(&self.id, &self.config, &self.rules)
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
    /// While the store is away this waits (the agent pauses) and retries
    /// until the event is stored, then records one recoverable `error`
    /// event saying how long the store was away.
    pub async fn append(&self, body: EventBody) -> Result<Arc<Event>, AgentError> {
        self.store_event(body, None, Patience::UntilStored).await
    }

    /// [`Agent::append`] for a request from outside the agent's task: it
    /// fails at once ([`AgentError::WaitingForStore`], or the store's
    /// error) when the store is away, instead of waiting for it.
    async fn append_now(&self, body: EventBody) -> Result<Arc<Event>, AgentError> {
        self.store_event(body, None, Patience::None).await
    }

    /// Stores and broadcasts one event (redacted), with `approval`
    /// (pending) in the same transaction when given.
    async fn store_event(
        &self,
        body: EventBody,
        approval: Option<&NewApproval>,
        patience: Patience,
    ) -> Result<Arc<Event>, AgentError> {
        let body = self.deps.redactor.redact_event(body);
        let mut last = match patience {
            Patience::UntilStored => self.log.lock().await,
            Patience::None => tokio::time::timeout(LOG_WAIT, self.log.lock())
                .await
                .map_err(|_| AgentError::WaitingForStore(self.id.clone()))?,
        };
        let event = self.next_event(*last, body);
        let outage = self.persist(&event, approval, patience).await?;
        self.published(&mut last, &event);
        if let Some(outage) = outage {
            let note = self.next_event(*last, outage.event_body());
            self.persist(&note, None, Patience::UntilStored).await?;
            self.published(&mut last, &note);
        }
        Ok(event)
    }

    fn next_event(&self, last: u64, body: EventBody) -> Arc<Event> {
        Arc::new(Event {
            seq: last + 1,
            agent_id: self.id.clone(),
            ts: chrono::Utc::now(),
            body,
        })
    }

    /// Stores `event`; with [`Patience::UntilStored`], retries while the
    /// store is away and returns how long that was.
    async fn persist(
        &self,
        event: &Event,
        approval: Option<&NewApproval>,
        patience: Patience,
    ) -> Result<Option<Outage>, StoreError> {
        let store = &self.deps.store;
        let mut outage: Option<Outage> = None;
        let mut delay = STORE_RETRY_FIRST;
        loop {
            let stored = match approval {
                Some(a) => store.request_approval(event, a).await,
                None => store.append(event).await,
            };
            let error = match stored {
                Ok(()) => return Ok(outage),
                // An earlier attempt whose answer was lost with its
                // connection may have been committed: then it is stored.
                Err(e @ StoreError::SeqConflict { .. }) if outage.is_some() => {
                    match store.event_at(&self.id, event.seq).await {
                        Ok(Some(stored)) if stored.body == event.body => return Ok(outage),
                        Ok(_) => return Err(e),
                        Err(check) => check,
                    }
                }
                Err(e) => e,
            };
            if patience == Patience::None || !error.is_unavailable() {
                return Err(error);
            }
            if outage.is_none() {
                tracing::warn!(error = %error, seq = event.seq,
                    "the store is unavailable; the agent waits and retries");
                outage = Some(Outage {
                    since: Instant::now(),
                    cause: error.to_string(),
                });
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(STORE_RETRY_MAX);
        }
    }

    /// After `event` is stored: moves the log on and tells everyone.
    fn published(&self, last: &mut u64, event: &Arc<Event>) {
        *last = event.seq;
        self.last_seq.store(event.seq, Ordering::Release);
        self.deps.metrics.observe(event);
        if let EventBody::AgentStatus { status, .. } = &event.body {
            self.status.send_replace(*status);
        }
        let _ = self.live.send(event.clone());
    }

    /// Broadcasts a live-only text delta, never stored. `text` comes out
    /// of the answer's redacting stream (see [`Agent::call_model`]), so it
    /// is redacted and no secret is split across deltas; empty text is not
    /// sent.
    fn delta(&self, text: String) {
        if text.is_empty() {
            return;
        }
        let _ = self.live.send(Arc::new(Event {
            seq: self.last_seq(),
            agent_id: self.id.clone(),
            ts: chrono::Utc::now(),
            body: EventBody::MessageDelta { text },
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
        let event = self.append_now(EventBody::MessageUser { text }).await?;
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

    /// Stops the agent for good (deletion); records `stopped`. Fails at
    /// once, changing nothing, while the store is away.
    pub async fn stop(&self, reason: &str) -> Result<(), AgentError> {
        if self.status() != AgentStatus::Stopped {
            self.append_now(EventBody::AgentStatus {
                status: AgentStatus::Stopped,
                reason: Some(reason.to_string()),
            })
            .await?;
        }
        self.stopped.store(true, Ordering::Release);
        if let Ok(token) = self.run_token.lock() {
            token.cancel();
        }
        self.wake.notify_one();
        Ok(())
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
            // The run token of a run that the store's absence cut short:
            // the resumed run keeps it, so an interrupt sent meanwhile holds.
            let mut carried: Option<CancellationToken> = None;
            loop {
                if !resume {
                    self.wake.notified().await;
                }
                resume = false;
                if self.stopped.load(Ordering::Acquire) {
                    break;
                }
                let token = carried.take().unwrap_or_else(|| self.new_run_token());
                match self.run(token.clone()).await {
                    Ok(()) => {}
                    // A read failed while the store was away (appends wait
                    // on their own): wait for it, note the outage, and go
                    // on exactly as after a restart.
                    Err(AgentError::Store(e)) if e.is_unavailable() => {
                        tracing::warn!(error = %e, "the store is unavailable; the agent waits for it");
                        let outage = Outage {
                            since: Instant::now(),
                            cause: e.to_string(),
                        };
                        wait_for_store(&self.deps.store).await;
                        if let Err(e) = self.append(outage.event_body()).await {
                            tracing::error!(error = %e, "could not record the store's outage");
                        }
                        carried = Some(token);
                        resume = true;
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "agent run failed");
                        // The store failed for good: nothing more can be
                        // recorded safely; show the state live and wait for
                        // the next message.
                        self.status.send_replace(AgentStatus::Error);
                    }
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
        let mut repeats = RepeatTracker::default();
        // A router chooses each call's model; otherwise it is fixed.
        let router = match &self.config.router {
            Some(name) => match self.deps.routers.get(name) {
                Some(r) => Some(r.clone()),
                None => {
                    return self
                        .fail(
                            "model_failed",
                            format!(
                                "router `{name}` is not configured (see [[routers]] in paddock.toml)"
                            ),
                        )
                        .await;
                }
            },
            None => None,
        };
        let fixed = match &router {
            Some(_) => None,
            None => match self.resolve_model(&self.config.model) {
                Ok(found) => Some(found),
                Err(message) => return self.fail("model_failed", message).await,
            },
        };
        let mut failures = FailureCounter::default();
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
                    turns += 1;
                    let (model_ref, route) = match &router {
                        None => (self.config.model.clone(), None),
                        Some(r) => {
                            let (tier, info) = self.route(r, transcript, failures.settle());
                            let chosen = match tier {
                                Tier::Cheap => r.cheap.clone(),
                                Tier::Strong => r.strong.clone(),
                            };
                            (chosen, Some((tier, info)))
                        }
                    };
                    let (provider, model) = match &fixed {
                        Some((p, m)) => (*p, m.clone()),
                        None => match self.resolve_model(&model_ref) {
                            Ok(found) => found,
                            Err(message) => return self.fail("model_failed", message).await,
                        },
                    };
                    let budget_tokens =
                        (model.context_window as f64 * self.deps.defaults.mask_threshold) as u64;
                    let prepared = transcript.prepare(budget_tokens, tools_bytes);
                    // Budgets are checked before anything is sent.
                    let prompt_tokens = transcript.estimate_tokens(prepared.bytes + tools_bytes);
                    if let Some((code, message)) = self
                        .check_budgets(&model_ref, &model, prompt_tokens)
                        .await?
                    {
                        return self.fail(code, message).await;
                    }
                    self.set_status(AgentStatus::Thinking, None).await?;
                    let request = ChatRequest {
                        model: model_ref.model.clone(),
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
                            (
                                prepared.tokens_saved,
                                route.as_ref().map(|(_, info)| info.clone()),
                            ),
                            token,
                            deadline,
                        )
                        .await?
                    {
                        ModelResult::Answer(events, input_tokens) => {
                            if let Some((tier, _)) = &route {
                                failures.answered(*tier);
                            }
                            transcript.calibrate(prepared.bytes + tools_bytes, input_tokens);
                            for e in events {
                                transcript.push_event(&e.body);
                            }
                        }
                        ModelResult::Interrupted => return Ok(Outcome::Interrupted),
                        ModelResult::Failed(code, message) => {
                            if let Some((Tier::Cheap, info)) = &route
                                && code == "model_failed"
                            {
                                // The cheap model's failures escalate to
                                // the strong one rather than end the run.
                                failures.call_failed(Tier::Cheap);
                                self.append(EventBody::Error {
                                    code: "model_failed".into(),
                                    message: format!(
                                        "{message} (router `{}`: cheap model `{}`, {} failure(s) in a row)",
                                        info.router, model_ref.model, failures.count
                                    ),
                                    recoverable: true,
                                })
                                .await?;
                                continue;
                            }
                            return self.fail(code, message).await;
                        }
                    }
                }
                Step::RunTool {
                    call,
                    started: true,
                    read_only: false,
                    ..
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
                Step::RunTool {
                    call,
                    started,
                    gate,
                    ..
                } => {
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
                    let (result, failed_with) = match self.run_tool(&call, gate, token).await? {
                        ToolRun::Done(result, failed_with) => (result, failed_with),
                        ToolRun::Interrupted => return Ok(Outcome::Interrupted),
                    };
                    transcript.push_event(&result.body);
                    failures.tool_ended(failed_with.is_some());
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
    /// MCP servers that the agent may use and that its rules do not deny
    /// outright, sorted by name so the prompt prefix is stable.
    async fn tool_defs(&self) -> Vec<ToolDef> {
        let subject = self.subject();
        let offered = |name: &str, read_only: bool| {
            self.may_use(name) && !self.deps.policy.denies_tool(&subject, name, read_only)
        };
        let mut tools: Vec<ToolDef> = match self.deps.plugins.tools() {
            Ok(tools) => tools
                .into_iter()
                .filter(|t| offered(&t.spec.name, t.spec.read_only))
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
                    .filter(|t| offered(&t.name, t.read_only))
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

    /// The provider and model entry of `m` (an unlisted model of a
    /// configured provider gets default settings and no price).
    fn resolve_model(&self, m: &ModelRef) -> Result<(&Provider, ModelConfig), String> {
        let provider = self.deps.providers.get(&m.provider).ok_or_else(|| {
            format!(
                "provider `{}` is not configured (see [[providers]] in paddock.toml)",
                m.provider
            )
        })?;
        let model = provider
            .config
            .model(&m.model)
            .cloned()
            .unwrap_or_else(|| ModelConfig::named(&m.model));
        Ok((provider, model))
    }

    /// Whether the tool named `name` only reads and whether it runs
    /// commands (a plugin granted `exec`); the error when no enabled plugin
    /// offers it. An MCP tool its server has not listed (yet) is neither:
    /// it is called anyway, and the answer explains why it is unavailable.
    fn tool_facts(&self, name: &str) -> Result<(bool, bool), String> {
        if self.mcp_server_of(name).is_some() {
            let listed = self.deps.mcp.find_tool(name);
            return Ok((listed.is_some_and(|t| t.read_only), false));
        }
        match self.deps.plugins.find_tool(name) {
            Ok((record, spec)) => Ok((
                spec.read_only,
                effective(&record.requested, &record.granted).contains(&Capability::Exec),
            )),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Whether the tool named `name` only reads (unknown tools do not).
    fn tool_read_only(&self, name: &str) -> bool {
        self.tool_facts(name).is_ok_and(|(read_only, _)| read_only)
    }

    /// The router's choice for the next call, with what the `usage` event
    /// records about it.
    fn route(
        &self,
        router: &RouterConfig,
        transcript: &Transcript,
        cheap_failures: u32,
    ) -> (Tier, RouteInfo) {
        let previous_calls = cost::previous_tools(transcript.items()).map(|names| {
            names
                .into_iter()
                .map(|n| {
                    let read_only = self.tool_read_only(&n);
                    (n, read_only)
                })
                .collect()
        });
        let (tier, reason) = cost::route(
            router,
            &RouteInput {
                previous_calls,
                cheap_failures,
            },
        );
        tracing::debug!(router = %router.name, tier = tier.as_str(), %reason, "routed a model call");
        (
            tier,
            RouteInfo {
                router: router.name.clone(),
                tier: tier.as_str().to_string(),
                reason,
                strong: router.strong.clone(),
            },
        )
    }

    /// The refusal (code and message) when the next call, estimated at
    /// `prompt_tokens` of prompt on `model`, would exceed a budget that
    /// applies to this agent: its lifetime, daily and monthly limits and
    /// the global daily and monthly budgets. A model without a known price
    /// cannot be budgeted: when a budget applies, its calls are refused.
    async fn check_budgets(
        &self,
        m: &ModelRef,
        model: &ModelConfig,
        prompt_tokens: u64,
    ) -> Result<Option<(&'static str, String)>, AgentError> {
        let limits = &self.config.limits;
        let (global, _) = self.deps.budgets.get();
        let caps = [
            limits.max_cost_usd,
            limits.daily_usd,
            limits.monthly_usd,
            global.daily_usd,
            global.monthly_usd,
        ];
        if caps.iter().all(Option::is_none) {
            return Ok(None);
        }
        let Some(price) = model.price() else {
            return Ok(Some((
                "budget_price_unknown",
                format!(
                    "model `{}` of provider `{}` has no known price, so the budgets that apply to this agent cannot be enforced; set its input_per_mtok and output_per_mtok in paddock.toml. Nothing was sent to the model.",
                    m.model, m.provider
                ),
            )));
        };
        let store = &self.deps.store;
        let mut uses = Vec::new();
        let mut add = |name, period, limit: Option<f64>, spent: f64| {
            if let Some(limit) = limit {
                uses.push(BudgetUse {
                    name,
                    period,
                    limit,
                    spent,
                });
            }
        };
        if limits.max_cost_usd.is_some() {
            let spent = store
                .get_agent(&self.id)
                .await?
                .map_or(0.0, |r| r.usage.cost_usd);
            add(
                "agent lifetime budget (limits.max_cost_usd)",
                "over the agent's life",
                limits.max_cost_usd,
                spent,
            );
        }
        let periodic = [
            limits.daily_usd,
            limits.monthly_usd,
            global.daily_usd,
            global.monthly_usd,
        ];
        if periodic.iter().any(Option::is_some) {
            // One read of this month's usage serves every periodic budget;
            // everyone's only when a global budget applies.
            let all = global.daily_usd.is_some() || global.monthly_usd.is_some();
            let spend = cost::Spend::read(store, Some(&self.id), all, chrono::Utc::now()).await?;
            add(
                "agent daily budget (limits.daily_usd)",
                "by this agent today (UTC)",
                limits.daily_usd,
                spend.agent_today,
            );
            add(
                "agent monthly budget (limits.monthly_usd)",
                "by this agent this month (UTC)",
                limits.monthly_usd,
                spend.agent_month,
            );
            add(
                "global daily budget (budgets.daily_usd)",
                "by all agents today (UTC)",
                global.daily_usd,
                spend.all_today,
            );
            add(
                "global monthly budget (budgets.monthly_usd)",
                "by all agents this month (UTC)",
                global.monthly_usd,
                spend.all_month,
            );
        }
        let estimate = cost::estimate_cost(&price, prompt_tokens, self.config.max_tokens);
        Ok(cost::exceeded(&uses, estimate).map(|message| {
            (
                "budget_exceeded",
                format!(
                    "{message} (estimate: {prompt_tokens} prompt tokens on `{}` at ${} per million input tokens{})",
                    m.model,
                    price.input_per_mtok,
                    match self.config.max_tokens {
                        Some(n) => format!(", plus {n} output tokens (max_tokens) at ${} per million", price.output_per_mtok),
                        None => String::new(),
                    }
                ),
            )
        }))
    }

    fn may_use(&self, tool: &str) -> bool {
        self.config
            .tools
            .as_ref()
            .is_none_or(|allowed| allowed.iter().any(|t| t == tool))
    }

    /// Calls the model, streaming deltas live through one redacting stream
    /// (which holds back a tail that could be the start of a secret and
    /// lets it out when the answer ends, is interrupted or — discarded — is
    /// retried); stores the answer and its `usage` event (with the tokens
    /// masking saved and, for a routed call, its route).
    async fn call_model(
        &self,
        provider: &Provider,
        model: &ModelConfig,
        request: &ChatRequest,
        (tokens_saved, route): (u64, Option<RouteInfo>),
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
        let mut live = self.deps.redactor.stream();
        // When the first text arrived (time to first token).
        let mut first_text: Option<Instant> = None;
        let result = loop {
            tokio::select! {
                biased;
                _ = token.cancelled() => {
                    drop(call);
                    self.delta(live.finish());
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
                Some(note) = rx.recv() => {
                    first_text_of(&mut first_text, &note);
                    self.on_note(note, &mut partial, &mut live).await?
                }
                result = call.as_mut() => break result,
            }
        };
        while let Ok(note) = rx.try_recv() {
            first_text_of(&mut first_text, &note);
            self.on_note(note, &mut partial, &mut live).await?;
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
        // The held-back tail goes out before the answer is stored.
        self.delta(live.finish());
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
            cost_usd: cost.unwrap_or(0.0),
            price_known: cost.is_some(),
            duration_ms: started.elapsed().as_millis() as u64,
            ttft_ms: first_text.map(|t| t.duration_since(started).as_millis() as u64),
            attempts: completion.attempts,
            masked_tokens_saved: tokens_saved,
            route,
        })
        .await?;
        Ok(ModelResult::Answer(events, completion.usage.input_tokens))
    }

    /// Handles a note of the model stream: a delta goes into the answer so
    /// far and, through the redacting stream `live`, out to subscribers; a
    /// retry discards both.
    async fn on_note(
        &self,
        note: StreamNote,
        partial: &mut String,
        live: &mut super::redact::RedactStream<'_>,
    ) -> Result<(), AgentError> {
        match note {
            StreamNote::Delta(text) => {
                partial.push_str(&text);
                self.delta(live.push(&text));
            }
            StreamNote::Retrying {
                attempt,
                wait_ms,
                reason,
            } => {
                partial.clear();
                live.discard();
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
    /// cancels at its server) once the policy lets it: judges it (unless
    /// its `gate` says the log already holds a decision), parks it for a
    /// human when the decision is `ask`, and refuses it on `deny`. Returns
    /// its stored result and, if it failed, why.
    async fn run_tool(
        &self,
        call: &ToolCallRequest,
        gate: Option<Gate>,
        token: &CancellationToken,
    ) -> Result<ToolRun, AgentError> {
        let started = Instant::now();
        let failure = |content: String| failed_result(call, content);
        let refuse = async |msg: String| -> Result<ToolRun, AgentError> {
            let event = self.append(failure(msg.clone())).await?;
            Ok(ToolRun::Done(event, Some(msg)))
        };
        if !self.may_use(&call.name) {
            return refuse(format!(
                "unknown tool `{}`: it is not among this agent's tools",
                call.name
            ))
            .await;
        }
        let is_mcp = self.mcp_server_of(&call.name).is_some();
        let (read_only, uses_exec) = match self.tool_facts(&call.name) {
            Ok(facts) => facts,
            Err(e) => return refuse(format!("unknown tool `{}`: {e}", call.name)).await,
        };
        let arguments: serde_json::Value = match serde_json::from_str(&call.arguments) {
            Ok(v @ serde_json::Value::Object(_)) => v,
            Ok(_) => return refuse("invalid arguments: expected a JSON object".into()).await,
            Err(e) => return refuse(format!("invalid arguments: not valid JSON ({e})")).await,
        };
        let (action, level, reasons, asked) = match gate {
            None => {
                let decision = self
                    .deps
                    .policy
                    .decide(
                        &self.subject(),
                        &Call {
                            tool: &call.name,
                            arguments: &arguments,
                            read_only,
                            call_id: &call.id,
                        },
                    )
                    .await;
                self.record_decision(call, &decision).await?;
                (decision.action, decision.level, decision.reasons, false)
            }
            // The host restarted after these steps were stored.
            Some(Gate::Decided {
                action,
                level,
                reasons,
            }) => (action, level, reasons, false),
            Some(Gate::Requested) => (Action::Ask, RiskLevel::default(), Vec::new(), true),
            Some(Gate::Resolved { approved: true, .. }) => {
                (Action::Allow, RiskLevel::default(), Vec::new(), false)
            }
            Some(Gate::Resolved {
                approved: false,
                refusal,
            }) => return refuse(refusal).await,
        };
        match action {
            Action::Allow => {}
            Action::Deny => {
                return refuse(format!("refused by policy: {}", reasons.join("; "))).await;
            }
            Action::Ask => {
                let asked = if asked {
                    self.deps.store.latest_approval(&self.id, &call.id).await?
                } else {
                    None
                };
                let record = match asked {
                    Some(r) => r,
                    None => {
                        self.request_approval(call, &arguments, level, reasons)
                            .await?
                    }
                };
                match self.await_approval(call, &arguments, record, token).await? {
                    Approval::Approved => {}
                    Approval::Refused(msg) => return refuse(msg).await,
                    Approval::Interrupted => return Ok(ToolRun::Interrupted),
                }
            }
        }
        self.set_status(AgentStatus::ExecutingTool, None).await?;
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
            let git_mounts = if uses_exec {
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
                    network: self.config.network,
                    read_only: git_mounts,
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
        // Tool output is untrusted: what a reviewer cannot see never
        // reaches the model.
        let (clean, stripped) = crate::policy::sanitize::strip_invisible(&raw);
        if stripped > 0 {
            tracing::warn!(tool = %call.name, stripped, "removed invisible characters from a tool result");
        }
        let (content, cut) = truncate_output(&clean, self.deps.defaults.tool_output_max_bytes);
        let event = self
            .append(EventBody::ToolResult {
                call_id: call.id.clone(),
                tool: call.name.clone(),
                success,
                content: content.clone(),
                duration_ms: started.elapsed().as_millis() as u64,
                truncated_bytes: cut,
                stripped_chars: stripped,
            })
            .await?;
        Ok(ToolRun::Done(event, (!success).then_some(content)))
    }

    /// Stores a decision (event and audit entry); returns its action.
    async fn record_decision(
        &self,
        call: &ToolCallRequest,
        decision: &Decision,
    ) -> Result<(), AgentError> {
        tracing::info!(
            tool = %call.name,
            call = %call.id,
            action = decision.action.as_str(),
            level = decision.level.as_str(),
            "policy decision"
        );
        self.append(EventBody::PolicyDecision {
            call_id: call.id.clone(),
            tool: call.name.clone(),
            decision: decision.clone(),
        })
        .await?;
        self.audit(
            call,
            "decision",
            decision.action.as_str(),
            "policy",
            decision.reasons.join("; "),
            serde_json::to_value(decision).unwrap_or_default(),
        )
        .await
    }

    async fn audit(
        &self,
        call: &ToolCallRequest,
        kind: &str,
        action: &str,
        actor: &str,
        reason: String,
        detail: serde_json::Value,
    ) -> Result<(), AgentError> {
        self.deps
            .store
            .audit(&NewAudit {
                agent_id: self.id.clone(),
                call_id: Some(call.id.clone()),
                tool: Some(call.name.clone()),
                kind: kind.into(),
                action: action.into(),
                actor: actor.into(),
                reason: self.deps.redactor.redact(&reason),
                detail: {
                    let mut detail = detail;
                    self.deps.redactor.redact_json(&mut detail);
                    detail
                },
            })
            .await?;
        Ok(())
    }

    /// Waits for a human's decision on the call's approval `record`, its
    /// timeout or an interrupt. Decisions are made in the store, where
    /// exactly one decider wins; the agent then records it as
    /// `approval.decided`.
    async fn await_approval(
        &self,
        call: &ToolCallRequest,
        arguments: &serde_json::Value,
        mut record: crate::store::ApprovalRecord,
        token: &CancellationToken,
    ) -> Result<Approval, AgentError> {
        let store = &self.deps.store;
        self.set_status(AgentStatus::WaitingApproval, None).await?;
        loop {
            if record.status != ApprovalStatus::Pending {
                return self.apply_decision(call, arguments, &record).await;
            }
            let far = tokio::time::Instant::now() + Duration::from_secs(365 * 24 * 3600);
            let expiry = match record.expires_at {
                Some(at) => {
                    let left = (at - chrono::Utc::now()).to_std().unwrap_or_default();
                    tokio::time::Instant::now() + left
                }
                None => far,
            };
            let ended = tokio::select! {
                _ = self.approvals.notified() => None,
                _ = token.cancelled() => Some((ApprovalStatus::Cancelled, "interrupt")),
                _ = tokio::time::sleep_until(expiry) => Some((ApprovalStatus::Expired, "timeout")),
            };
            if let Some((status, by)) = ended {
                store
                    .decide_approval(
                        &self.id,
                        &call.id,
                        status,
                        by,
                        None,
                        None,
                        chrono::Utc::now(),
                    )
                    .await?;
            }
            record = match store.approval(&self.id, record.seq).await? {
                Some(r) => r,
                None => {
                    return Ok(Approval::Refused(
                        "not run: its approval record is gone".into(),
                    ));
                }
            };
            if record.status == ApprovalStatus::Cancelled && token.is_cancelled() {
                self.apply_decision(call, arguments, &record).await?;
                return Ok(Approval::Interrupted);
            }
        }
    }

    /// Records `approval.requested` and the pending approval, atomically.
    async fn request_approval(
        &self,
        call: &ToolCallRequest,
        arguments: &serde_json::Value,
        level: RiskLevel,
        reasons: Vec<String>,
    ) -> Result<crate::store::ApprovalRecord, AgentError> {
        let remember_rule = exact_allow(&call.name, arguments);
        let timeout =
            self.config
                .approval_timeout_secs
                .or(self.deps.policy.config().approval_timeout_secs);
        let expires_at = timeout.map(|s| {
            chrono::Utc::now() + chrono::Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX / 2))
        });
        let body = EventBody::ApprovalRequested {
            call_id: call.id.clone(),
            tool: call.name.clone(),
            arguments: arguments.clone(),
            level,
            reasons,
            diff: crate::policy::preview::file_change(
                &self.config.workspace,
                &call.name,
                arguments,
            ),
            remember: RememberRules {
                agent: remember_rule.clone(),
                always: remember_rule,
            },
            expires_at,
        };
        // The approval list shows what the event shows: redacted.
        let request = self.deps.redactor.redact_event(body.clone()).data();
        let approval = NewApproval {
            call_id: call.id.clone(),
            tool: call.name.clone(),
            request,
            expires_at,
        };
        let event = self
            .store_event(body, Some(&approval), Patience::UntilStored)
            .await?;
        tracing::info!(tool = %call.name, call = %call.id, "waiting for approval");
        self.deps
            .store
            .approval(&self.id, event.seq)
            .await?
            .ok_or_else(|| AgentError::Invalid("the approval just stored is missing".into()))
    }

    /// Records a decided approval (`approval.decided`, the audit entry and,
    /// when remembered, the rule) and says what follows.
    async fn apply_decision(
        &self,
        call: &ToolCallRequest,
        arguments: &serde_json::Value,
        record: &crate::store::ApprovalRecord,
    ) -> Result<Approval, AgentError> {
        let approved = record.status == ApprovalStatus::Approved;
        let by = record
            .decided_by
            .clone()
            .unwrap_or_else(|| "unknown".into());
        let mut rule = None;
        let scope = match record.remember.as_deref() {
            Some("agent") => Some(Scope::Agent(self.id.clone())),
            Some("always") => Some(Scope::Global),
            _ => None,
        };
        if let Some(scope) = scope
            && matches!(
                record.status,
                ApprovalStatus::Approved | ApprovalStatus::Denied
            )
        {
            let allow = exact_allow(&call.name, arguments);
            let text = if approved {
                allow
            } else {
                allow.replacen("allow", "deny", 1)
            };
            let spec = RuleSpec {
                rule: text.clone(),
                scope: scope.clone(),
                matches: Vec::new(),
                not_matches: Vec::new(),
            };
            // After a restart the rule may be stored already.
            let exists = self
                .deps
                .policy
                .rules()
                .iter()
                .any(|r| r.spec.rule == text && r.spec.scope == scope);
            if !exists {
                match self.deps.policy.add_rule(spec, "approval", &by).await {
                    Ok(view) => {
                        self.audit(
                            call,
                            "rule",
                            "added",
                            &by,
                            format!("remembered an approval decision ({scope})"),
                            serde_json::to_value(&view).unwrap_or_default(),
                        )
                        .await?;
                    }
                    Err(e) => {
                        tracing::error!(error = %e, rule = %text, "cannot remember the decision")
                    }
                }
            }
            rule = Some((text, scope.to_string()));
        }
        let refusal_text = refusal(record.status.as_str(), &by, record.reason.as_deref());
        self.append(EventBody::ApprovalDecided {
            call_id: call.id.clone(),
            tool: call.name.clone(),
            approved,
            status: record.status,
            by: by.clone(),
            reason: record.reason.clone(),
            rule: rule.as_ref().map(|(t, _)| t.clone()),
            rule_scope: rule.map(|(_, s)| s),
        })
        .await?;
        self.audit(
            call,
            "approval",
            record.status.as_str(),
            &by,
            record.reason.clone().unwrap_or_default(),
            serde_json::to_value(record).unwrap_or_default(),
        )
        .await?;
        Ok(if approved {
            Approval::Approved
        } else {
            Approval::Refused(refusal_text)
        })
    }
}

/// How a tool call step ended.
enum ToolRun {
    /// Its result is stored (with why it failed, if it did).
    Done(Arc<Event>, Option<String>),
    /// The user interrupted while it waited for approval.
    Interrupted,
}

/// How waiting for a human ended.
enum Approval {
    Approved,
    Refused(String),
    Interrupted,
}

/// Most bytes of one `tool.output` event: chunks that arrive together are
/// coalesced up to this size.
const OUTPUT_EVENT_BYTES: usize = 16 * 1024;

impl Agent {
    /// Stores the output a running command streams, as `tool.output`
    /// events, until the call ends. Each stream (stdout, stderr) goes
    /// through a redacting stream of its own, so a secret printed in
    /// several writes is never stored split across events; what it holds
    /// back is stored when the call ends.
    async fn stream_output(
        &self,
        call_id: &str,
        mut rx: tokio::sync::mpsc::UnboundedReceiver<OutputChunk>,
    ) -> Result<(), AgentError> {
        use crate::sandbox::StreamKind;
        let (mut stdout, mut stderr) = (self.deps.redactor.stream(), self.deps.redactor.stream());
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
                let redacted = match stream {
                    StreamKind::Stdout => stdout.push(&text),
                    StreamKind::Stderr => stderr.push(&text),
                };
                store(stream, redacted).await?;
            }
        }
        store(StreamKind::Stdout, stdout.finish()).await?;
        store(StreamKind::Stderr, stderr.finish()).await?;
        Ok(())
    }
}

/// The result of a call that did not run (or whose outcome is unknown).
/// Notes when the answer's first text arrived; a retry starts over.
fn first_text_of(first: &mut Option<Instant>, note: &StreamNote) {
    match note {
        StreamNote::Delta(_) => {
            first.get_or_insert_with(Instant::now);
        }
        StreamNote::Retrying { .. } => *first = None,
    }
}

fn failed_result(call: &ToolCallRequest, content: String) -> EventBody {
    EventBody::ToolResult {
        call_id: call.id.clone(),
        tool: call.name.clone(),
        success: false,
        content,
        duration_ms: 0,
        truncated_bytes: 0,
        stripped_chars: 0,
    }
}

enum ModelResult {
    /// The stored answer and the provider's count of prompt tokens.
    Answer(Vec<Arc<Event>>, u64),
    Interrupted,
    Failed(&'static str, String),
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
