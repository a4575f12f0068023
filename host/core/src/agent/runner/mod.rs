//! One agent: its log (append = redact, store, broadcast), its status, and
//! its lifecycle — the task that waits for work, runs, is interrupted or
//! stopped. Every step is stored before it takes effect, so a restarted
//! host picks the agent up where the log says it stood.
//!
//! The loop itself lives in rooms of its own, in the order one run meets
//! them:
//! - `turn`: the turn loop — model call, tool calls in order, repeat —
//!   until the model answers without tool calls, a limit is hit, the user
//!   interrupts or something fails;
//! - `budgets`: run limits, cost budgets and the router's choice of model;
//! - `failover`: the targets a model call may go to when its provider
//!   fails, and their circuit breakers;
//! - `tools`: one tool call's path — resolve → policy → approval →
//!   sandbox, plugin or MCP server → result — and its streamed output;
//! - `hooks`: the lifecycle hooks (`hooks` plugins) at each point of a
//!   run, in order, and what their answers and failures do;
//! - `approvals`: asking a human, waiting, applying the decision,
//!   remembering it as a rule, and the audit trail;
//! - `delegation`: the built-in `delegate` and `collect` calls — a
//!   sub-agent recorded, made through the manager, waited for;
//! - `environment`: preparing the agent's environment before its run's
//!   first step (its setup streamed as `environment.setup` events).
//! - `network`: the agent's side of its sandbox's egress proxy — hosts not
//!   on the allow-list judged by the network rules or asked about, and
//!   every connection recorded.

mod approvals;
mod budgets;
mod delegation;
mod environment;
mod failover;
mod hooks;
mod network;
mod tools;
mod turn;

use super::context::{Step, Transcript};
use super::cost::GlobalBudgets;
use super::redact::Redactor;
use crate::agent::actor::Actor;
use crate::agent::config::{AgentDefaults, RouterConfig};
pub(crate) use crate::agent::providers::{Provider, Providers};
use crate::bus::Bus;
use crate::policy::rules::Rule;
use crate::policy::{Policy, Subject};
use paddock_llm::RetryBudget;
use paddock_mcp::McpManager;
use paddock_plugins::{HookPayload, PluginHost, RunEnd};
use paddock_protocol::agent::AgentConfig;
use paddock_protocol::events::ErrorCode;
use paddock_protocol::events::{AgentStatus, Event, EventBody};
use paddock_sandbox::SandboxManager;
use paddock_store::{Fence, NewApproval};
use paddock_store::{Store, StoreError};
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
    /// Starting the run would pass a quota (the message names the cap).
    #[error("{0}")]
    QuotaExceeded(String),
    /// The host that runs the agent could not be reached (several hosts).
    #[error("{0}")]
    HostUnavailable(String),
    /// The agent's run stopped at a safe point to be handed to another
    /// host (a drain); nothing more is recorded here.
    #[error("agent `{0}` was handed over to another host")]
    HandedOver(String),
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

impl Patience {
    /// Whether an append that failed with `error` waits and tries again:
    /// only the agent's own steps do, and only while the store is away (an
    /// error that would fail again is returned at once).
    fn retries(self, error: &StoreError) -> bool {
        self == Patience::UntilStored && error.is_unavailable()
    }
}

/// First pause before retrying a store that is away; doubled up to
/// [`STORE_RETRY_MAX`].
const STORE_RETRY_FIRST: Duration = Duration::from_millis(200);
/// Longest pause between retries of a store that is away.
const STORE_RETRY_MAX: Duration = Duration::from_secs(5);

/// The pause after `delay` while the store stays away: doubled, at most
/// [`STORE_RETRY_MAX`].
fn next_delay(delay: Duration) -> Duration {
    (delay * 2).min(STORE_RETRY_MAX)
}

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
            code: ErrorCode::StoreUnavailable,
            message: format!(
                "the store was unavailable for {:.1} s ({}); the agent waited and went on where it stood",
                self.since.elapsed().as_secs_f64(),
                self.cause
            ),
            recoverable: true,
            attempt: None,
            max_attempts: None,
            retry_in_ms: None,
        }
    }
}

/// Waits (with backoff) until the store answers again.
async fn wait_for_store(store: &Store) {
    let mut delay = STORE_RETRY_FIRST;
    while store.ping().await.is_err() {
        tokio::time::sleep(delay).await;
        delay = next_delay(delay);
    }
}

/// What every agent shares: the store, the bus, the tools, the models.
pub struct AgentDeps {
    /// The durable log.
    pub store: Store,
    /// Live events.
    pub bus: Arc<Bus>,
    /// The tools.
    pub plugins: Arc<PluginHost>,
    /// Model providers by name (changed while agents run: each model
    /// call looks its provider up).
    pub providers: Arc<Providers>,
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
    /// Named environments (prepared before an agent's run).
    pub environments: Arc<crate::environments::Environments>,
    /// Cap on each user's agents running at once, for users without a cap
    /// of their own (`[auth] max_running_agents_per_user`; none: no cap).
    pub max_running_agents_per_user: Option<u32>,
    /// This host among several on one database (PostgreSQL), if so.
    pub cluster: Option<Arc<crate::cluster::Cluster>>,
    /// The manager, as what makes sub-agents for the `delegate` tool (set
    /// by [`crate::agent::Manager::start`]).
    pub delegator: std::sync::OnceLock<std::sync::Weak<dyn crate::agent::delegate::Delegator>>,
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
    /// Its live channel (which keeps the answer in progress for late
    /// subscribers).
    live: Arc<crate::bus::Channel>,
    /// Its own policy rules, compiled.
    rules: Vec<Rule>,
    /// Woken when one of its approvals is decided.
    approvals: Notify,
    /// Who decided its approvals through [`crate::agent::Manager::decide`],
    /// by call id, until the decision is applied (for the audit log).
    deciders: Mutex<HashMap<String, Actor>>,
    /// Its network questions and answers (egress proxy).
    network: network::NetworkAsks,
    /// Runs asked for (messages and retries posted), counted.
    requested: AtomicU64,
    /// Of those, the ones the last ended run had seen when it started.
    served: AtomicU64,
    /// The lease its appends are made under (several hosts).
    fence: Option<Fence>,
    /// Cancelled to hand the agent over at its next safe point (a drain).
    handover: CancellationToken,
    /// Set when another host took its lease: this host writes nothing
    /// more for it.
    lost: AtomicBool,
    /// True once its task has ended.
    finished: watch::Sender<bool>,
}

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Outcome {
    /// The model answered without tool calls: nothing left to do.
    Done,
    /// The user interrupted it.
    Interrupted,
    /// It stopped on an error (already recorded, with the `error` status).
    Failed,
}

/// What a run does after its steps: the result its unresolved tool calls
/// get (if they are closed) and the status it records last (if any).
#[derive(Debug, PartialEq)]
struct Ending {
    /// Why the open calls were not run.
    close: Option<&'static str>,
    /// The final status and its reason.
    status: Option<(AgentStatus, Option<&'static str>)>,
}

impl Ending {
    /// The ending of a run whose steps ended with `outcome`, `stopped` when
    /// the agent was deleted meanwhile (then `stop` recorded the final
    /// status).
    fn of(outcome: Outcome, stopped: bool) -> Ending {
        if stopped {
            return Ending {
                close: Some("not run: the agent was deleted"),
                status: None,
            };
        }
        match outcome {
            Outcome::Done => Ending {
                close: None,
                status: Some((AgentStatus::Idle, None)),
            },
            Outcome::Interrupted => Ending {
                close: Some("not run: the user interrupted the agent"),
                status: Some((AgentStatus::Idle, Some("interrupted by the user"))),
            },
            // `fail` recorded the `error` (or `limited`) status.
            Outcome::Failed => Ending {
                close: Some("not run: the agent stopped on an error"),
                status: None,
            },
        }
    }
}

/// Why a run stops on an error: the `error` event's code and message.
#[derive(Clone, Debug, PartialEq)]
struct Failure {
    /// The error code.
    code: ErrorCode,
    /// What happened, for humans.
    message: String,
}

impl Failure {
    fn new(code: ErrorCode, message: String) -> Failure {
        Failure { code, message }
    }
}

/// Whether recording `status` (with a reason or not) changes anything for
/// an agent whose status is `current`: the same status without a reason
/// is not recorded again, and `stopped` is final.
fn status_changes(current: AgentStatus, status: AgentStatus, has_reason: bool) -> bool {
    current != AgentStatus::Stopped && (current != status || has_reason)
}

/// Whether an agent with `status` is doing something an interrupt stops.
fn is_busy(status: AgentStatus) -> bool {
    !matches!(
        status,
        AgentStatus::Idle | AgentStatus::Error | AgentStatus::Limited | AgentStatus::Stopped
    )
}

/// The status a run stopped by an `error` with `code` leaves: `limited`
/// for a limit (turns, wall time, budget), `error` for a failure.
fn failed_status(code: ErrorCode) -> AgentStatus {
    if code.is_limit() {
        AgentStatus::Limited
    } else {
        AgentStatus::Error
    }
}

impl Agent {
    /// An agent whose log ends at `last_seq` with `status`, written under
    /// `fence` when several hosts share the store.
    pub fn new(
        id: String,
        config: AgentConfig,
        deps: Arc<AgentDeps>,
        last_seq: u64,
        status: AgentStatus,
        fence: Option<Fence>,
    ) -> Arc<Agent> {
        let budget = RetryBudget::new(config.limits.retry_budget);
        let live = deps.bus.channel(&id);
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
            deciders: Mutex::new(HashMap::new()),
            network: network::NetworkAsks::new(),
            requested: AtomicU64::new(0),
            served: AtomicU64::new(0),
            fence,
            handover: CancellationToken::new(),
            lost: AtomicBool::new(false),
            finished: watch::channel(false).0,
        })
    }

    /// The lease it runs under (several hosts).
    pub fn fence(&self) -> Option<&Fence> {
        self.fence.as_ref()
    }

    /// Asks it to stop at its next safe point — idle, waiting for an
    /// approval, or between a recorded step and the next — so that another
    /// host resumes it from the log; its task then ends without recording
    /// anything more.
    pub fn hand_over(&self) {
        self.handover.cancel();
        self.wake.notify_one();
    }

    /// Whether another host took its lease (it writes nothing more here).
    pub fn is_lost(&self) -> bool {
        self.lost.load(Ordering::Acquire)
    }

    /// Stops it at once and for good on this host, recording nothing:
    /// another host holds its lease now. What runs (a model call, a
    /// command) is cancelled.
    pub fn lose(&self) {
        if !self.lost.swap(true, Ordering::AcqRel) {
            tracing::warn!(agent = %self.id, "another host holds this agent's lease now: this host stops running it");
        }
        self.stopped.store(true, Ordering::Release);
        if let Ok(token) = self.run_token.lock() {
            token.cancel();
        }
        self.handover.cancel();
        self.wake.notify_one();
    }

    /// Waits until its task has ended.
    pub async fn finished(&self) {
        let mut rx = self.finished.subscribe();
        let _ = rx.wait_for(|done| *done).await;
    }

    /// Whether it was asked to hand over.
    fn handing_over(&self) -> Result<(), AgentError> {
        if self.handover.is_cancelled() {
            Err(AgentError::HandedOver(self.id.clone()))
        } else {
            Ok(())
        }
    }

    /// Whether it is running or about to: busy, or asked to run (a message
    /// or a retry) by a request its task has not finished with. What the
    /// cap on running agents per user counts.
    pub fn is_running(&self) -> bool {
        if self.stopped.load(Ordering::Acquire) {
            return false;
        }
        is_busy(self.status())
            || self.requested.load(Ordering::Acquire) > self.served.load(Ordering::Acquire)
    }

    /// Notes that a run was asked for and wakes the task.
    fn request_run(&self) {
        self.requested.fetch_add(1, Ordering::AcqRel);
        self.wake.notify_one();
    }

    /// Wakes the agent after one of its approvals was decided in the store.
    pub fn approval_decided(&self) {
        self.approvals.notify_one();
        self.network.decided_somewhere();
    }

    /// Wakes the agent after `by` decided its approval of `call_id` in the
    /// store; the audit entry of the decision names them.
    pub fn approval_decided_by(&self, call_id: &str, by: Actor) {
        if let Ok(mut d) = self.deciders.lock() {
            d.insert(call_id.to_string(), by);
        }
        self.approval_decided();
    }

    /// Who decided the approval of `call_id` through the manager, when this
    /// host knows (not after a restart); forgotten once asked.
    pub(super) fn take_decider(&self, call_id: &str) -> Option<Actor> {
        self.deciders
            .lock()
            .ok()
            .and_then(|mut d| d.remove(call_id))
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
            let fence = self.fence.as_ref();
            let stored = match approval {
                Some(a) => store.request_approval_under(event, a, fence).await,
                None => store.append_under(event, fence).await,
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
            if matches!(error, StoreError::Fenced { .. }) {
                self.lose();
            }
            if !patience.retries(&error) {
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
            delay = next_delay(delay);
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
        self.live.send(event.clone());
    }

    /// Broadcasts a live-only text delta, never stored. `text` comes out
    /// of the answer's redacting stream (see `Agent::call_model`), so it
    /// is redacted and no secret is split across deltas; empty text is not
    /// sent.
    fn delta(&self, text: String) {
        self.live_only(text, |text| EventBody::MessageDelta { text });
    }

    /// Broadcasts a live-only piece of the model's reasoning summary, out
    /// of its own redacting stream like [`Agent::delta`]'s text.
    fn reasoning_delta(&self, text: String) {
        self.live_only(text, |text| EventBody::MessageReasoning { text });
    }

    fn live_only(&self, text: String, body: fn(String) -> EventBody) {
        if text.is_empty() {
            return;
        }
        self.live.send(Arc::new(Event {
            seq: self.last_seq(),
            agent_id: self.id.clone(),
            ts: chrono::Utc::now(),
            body: body(text),
        }));
    }

    async fn set_status(
        &self,
        status: AgentStatus,
        reason: Option<String>,
    ) -> Result<(), AgentError> {
        // Stopped is final: a run ending after a deletion changes nothing.
        if !status_changes(self.status(), status, reason.is_some()) {
            return Ok(());
        }
        self.append(EventBody::AgentStatus {
            status,
            reason,
            code: None,
        })
        .await?;
        Ok(())
    }

    /// Re-runs the last turn of an agent whose last run failed or was
    /// stopped by a limit: the model is asked again with the stored
    /// transcript, no new user message. Recorded first as an
    /// `agent.status` `thinking` with the reason "retry requested by
    /// `by`" (so a host that restarts meanwhile resumes the retry).
    pub async fn retry(&self, by: &str) -> Result<Arc<Event>, AgentError> {
        if self.stopped.load(Ordering::Acquire) {
            return Err(AgentError::Stopped(self.id.clone()));
        }
        let status = self.status();
        if is_busy(status) {
            return Err(AgentError::Conflict(format!(
                "agent `{}` is busy (status `{}`): wait for it, or interrupt it",
                self.id,
                status.as_str()
            )));
        }
        if !matches!(status, AgentStatus::Error | AgentStatus::Limited) {
            return Err(AgentError::Conflict(format!(
                "agent `{}` cannot be retried: its last run did not fail (status `{}`)",
                self.id,
                status.as_str()
            )));
        }
        let event = self
            .append_now(EventBody::AgentStatus {
                status: AgentStatus::Thinking,
                reason: Some(format!("retry requested by {by}")),
                code: None,
            })
            .await?;
        self.wake.notify_one();
        Ok(event)
    }

    /// Stores a user message and wakes the agent. Messages sent while it
    /// runs are seen by the model at its next turn.
    pub async fn post_message(&self, text: String) -> Result<Arc<Event>, AgentError> {
        if self.stopped.load(Ordering::Acquire) {
            return Err(AgentError::Stopped(self.id.clone()));
        }
        let event = self.append_now(EventBody::MessageUser { text }).await?;
        self.request_run();
        Ok(event)
    }

    /// Interrupts the running model call or tool sequence; returns whether
    /// the agent was busy.
    pub fn interrupt(&self) -> bool {
        let busy = is_busy(self.status());
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
                code: None,
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
                    tokio::select! {
                        _ = self.wake.notified() => {}
                        _ = self.handover.cancelled() => {}
                    }
                }
                resume = false;
                if self.stopped.load(Ordering::Acquire) || self.handover.is_cancelled() {
                    break;
                }
                let token = carried.take().unwrap_or_else(|| self.new_run_token());
                let seen = self.requested.load(Ordering::Acquire);
                let ran = self.run(token.clone()).await;
                self.served.fetch_max(seen, Ordering::AcqRel);
                match ran {
                    Ok(()) => {}
                    Err(AgentError::HandedOver(_)) => {
                        tracing::info!("handed over at a safe point");
                        break;
                    }
                    Err(AgentError::Store(StoreError::Fenced { holder, .. })) => {
                        tracing::warn!(%holder, "the agent's lease was taken: stepping down");
                        break;
                    }
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
            self.finished.send_replace(true);
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
            if !matches!(
                self.status(),
                AgentStatus::Idle | AgentStatus::Error | AgentStatus::Limited
            ) {
                self.set_status(AgentStatus::Idle, None).await?;
            }
            return Ok(());
        }
        self.notify_hooks(HookPayload::AgentStarted {
            agent_id: self.id.clone(),
            model: self.config.model.model.clone(),
            message: transcript.last_user_message().unwrap_or_default(),
        })
        .await?;
        let outcome = self.steps(&mut transcript, &token).await?;
        self.notify_hooks(HookPayload::AgentFinished {
            agent_id: self.id.clone(),
            end: match outcome {
                Outcome::Done => RunEnd::Done,
                Outcome::Interrupted => RunEnd::Interrupted,
                Outcome::Failed => RunEnd::Failed,
            },
        })
        .await?;
        let ending = Ending::of(outcome, self.stopped.load(Ordering::Acquire));
        if let Some(why) = ending.close {
            self.close_open_calls(&mut transcript, why).await?;
        }
        if let Some((status, reason)) = ending.status {
            self.set_status(status, reason.map(str::to_string)).await?;
        }
        Ok(())
    }

    /// Records a failed result for every unresolved call of the latest
    /// answer, so the conversation stays valid for the next run.
    async fn close_open_calls(
        &self,
        transcript: &mut Transcript,
        why: &str,
    ) -> Result<(), AgentError> {
        while let Step::RunTool { call, .. } = transcript.next_step() {
            let e = self
                .append(tools::failed_result(&call, why.to_string()))
                .await?;
            transcript.push_event(&e.body);
        }
        Ok(())
    }

    /// Stops the run on `failure`: records it (an unrecoverable `error`
    /// event) and the status it leaves (`limited` for a limit, `error`
    /// otherwise) with its reason and code.
    async fn fail(&self, failure: Failure) -> Result<Outcome, AgentError> {
        let Failure { code, message } = failure;
        tracing::info!(code = code.as_str(), %message, "agent run stopped");
        self.append(EventBody::error(code, message.clone(), false))
            .await?;
        // Stopped is final: a run ending after a deletion changes nothing.
        if self.status() != AgentStatus::Stopped {
            self.append(EventBody::AgentStatus {
                status: failed_status(code),
                reason: Some(message),
                code: Some(code),
            })
            .await?;
        }
        Ok(Outcome::Failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_closes_its_open_calls_and_records_its_last_status() {
        assert_eq!(
            Ending::of(Outcome::Done, false),
            Ending {
                close: None,
                status: Some((AgentStatus::Idle, None)),
            }
        );
        assert_eq!(
            Ending::of(Outcome::Interrupted, false),
            Ending {
                close: Some("not run: the user interrupted the agent"),
                status: Some((AgentStatus::Idle, Some("interrupted by the user"))),
            }
        );
        assert_eq!(
            Ending::of(Outcome::Failed, false),
            Ending {
                close: Some("not run: the agent stopped on an error"),
                status: None,
            },
            "`fail` recorded the error status"
        );
        for outcome in [Outcome::Done, Outcome::Interrupted, Outcome::Failed] {
            assert_eq!(
                Ending::of(outcome, true),
                Ending {
                    close: Some("not run: the agent was deleted"),
                    status: None,
                },
                "deleted during a run that ended {outcome:?}: `stop` recorded `stopped`"
            );
        }
    }

    #[test]
    fn a_status_is_recorded_when_it_changes_and_never_after_stopped() {
        use AgentStatus::*;
        assert!(status_changes(Idle, Thinking, false));
        assert!(!status_changes(Thinking, Thinking, false), "no repeat");
        assert!(
            status_changes(Idle, Idle, true),
            "the same status with a reason is news (`interrupted by the user`)"
        );
        assert!(!status_changes(Stopped, Idle, false), "stopped is final");
        assert!(!status_changes(Stopped, Error, true));
        assert!(status_changes(Error, Idle, false));
    }

    #[test]
    fn only_an_agent_at_work_is_busy() {
        use AgentStatus::*;
        for status in [Idle, Error, Limited, Stopped] {
            assert!(!is_busy(status), "{status:?}");
        }
        for status in [Thinking, ExecutingTool, WaitingApproval] {
            assert!(is_busy(status), "{status:?}");
        }
    }

    #[test]
    fn a_limit_leaves_limited_and_a_failure_error() {
        assert_eq!(failed_status(ErrorCode::LimitTurns), AgentStatus::Limited);
        assert_eq!(failed_status(ErrorCode::LimitTime), AgentStatus::Limited);
        assert_eq!(
            failed_status(ErrorCode::BudgetExceeded),
            AgentStatus::Limited
        );
        assert_eq!(failed_status(ErrorCode::ModelFailed), AgentStatus::Error);
        assert_eq!(
            failed_status(ErrorCode::RepeatedToolFailure),
            AgentStatus::Error
        );
    }

    #[test]
    fn retries_back_off_by_doubling_up_to_the_maximum() {
        let mut delay = STORE_RETRY_FIRST;
        let mut seen = Vec::new();
        for _ in 0..8 {
            seen.push(delay.as_millis());
            delay = next_delay(delay);
        }
        assert_eq!(seen, [200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
    }

    #[test]
    fn only_the_agents_own_steps_wait_and_only_for_a_store_that_is_away() {
        let away = StoreError::Database(sqlx::Error::PoolTimedOut);
        let wrong = StoreError::Invalid("bad".into());
        assert!(away.is_unavailable());
        assert!(Patience::UntilStored.retries(&away));
        assert!(
            !Patience::UntilStored.retries(&wrong),
            "it would fail again"
        );
        assert!(
            !Patience::None.retries(&away),
            "a request from outside is answered at once"
        );
        assert!(!Patience::None.retries(&wrong));
    }

    #[test]
    fn an_outage_is_recorded_as_recoverable_with_its_cause() {
        let outage = Outage {
            since: Instant::now(),
            cause: "pool timed out".into(),
        };
        let EventBody::Error {
            code,
            message,
            recoverable,
            ..
        } = outage.event_body()
        else {
            panic!("not an error event");
        };
        assert_eq!((code.as_str(), recoverable), ("store_unavailable", true));
        assert!(
            message.starts_with("the store was unavailable for 0.")
                && message.contains("(pool timed out)"),
            "{message}"
        );
    }
}
