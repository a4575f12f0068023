//! Metrics: what the agents did — tokens, cost, model latency, tool calls,
//! approvals — observed from every stored event as it is appended.
//!
//! - [`Metrics::render`]: the Prometheus text exposition served at
//!   `/metrics`, with bounded labels only (provider, model, tool, outcome,
//!   error code; never agent ids; a label that would take more than
//!   [`MAX_LABEL_VALUES`] values folds the rest into `other`).
//! - [`Metrics::agent`]: one agent's figures for `/api/metrics/agents`
//!   (`agents.rs`), rebuilt from the store on first use and kept current
//!   from then on.
//! - `usage.rs`: usage and cost reports over the store's `usage` events
//!   (`/api/metrics/usage`, `/api/metrics/cost-analysis`).

pub mod agents;
pub mod usage;

pub use agents::{AgentMetrics, Percentiles};

use paddock_protocol::events::{AgentStatus, ErrorCode, Event, EventBody};
use paddock_store::{Store, StoreError, UsageRecord};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

/// MCP server states, each reported (0 when no server is in it).
const MCP_STATES: &[&str] = &[
    "idle", "starting", "running", "backoff", "invalid", "disabled",
];

/// Most distinct values one label takes; later ones count as `other`.
pub const MAX_LABEL_VALUES: usize = 200;

/// Why metrics could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The Prometheus registry refused a metric (a bug).
    #[error("metrics registry: {0}")]
    Registry(#[from] prometheus::Error),
}

/// Label values seen so far, per label, capped.
#[derive(Default)]
struct Bounded {
    seen: HashMap<&'static str, HashSet<String>>,
}

impl Bounded {
    fn value(&mut self, label: &'static str, value: &str) -> String {
        let set = self.seen.entry(label).or_default();
        if set.contains(value) {
            return value.to_string();
        }
        if set.len() >= MAX_LABEL_VALUES {
            return "other".to_string();
        }
        set.insert(value.to_string());
        value.to_string()
    }
}

struct Prom {
    registry: Registry,
    events: IntCounterVec,
    model_calls: IntCounterVec,
    tokens: IntCounterVec,
    cost: prometheus::CounterVec,
    unpriced: IntCounterVec,
    failovers: IntCounterVec,
    model_duration: HistogramVec,
    ttft: HistogramVec,
    tool_calls: IntCounterVec,
    tool_duration: HistogramVec,
    decisions: IntCounterVec,
    approvals: IntCounterVec,
    approval_wait: prometheus::Histogram,
    errors: IntCounterVec,
    agents: IntGaugeVec,
    mcp_servers: IntGaugeVec,
}

/// Latency buckets in seconds: 5 ms to 10 min.
const LATENCY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
];
/// Approval waits in seconds: 1 s to 1 day.
const WAIT_BUCKETS: &[f64] = &[
    1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 900.0, 1800.0, 3600.0, 14400.0, 86400.0,
];

impl Prom {
    fn new() -> Result<Prom, prometheus::Error> {
        let registry = Registry::new_custom(Some("paddock".into()), None)?;
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels)?;
            registry.register(Box::new(c.clone()))?;
            Ok::<_, prometheus::Error>(c)
        };
        let histogram = |name: &str, help: &str, labels: &[&str], buckets: &[f64]| {
            let h = HistogramVec::new(
                HistogramOpts::new(name, help).buckets(buckets.to_vec()),
                labels,
            )?;
            registry.register(Box::new(h.clone()))?;
            Ok::<_, prometheus::Error>(h)
        };
        let gauge = |name: &str, help: &str, labels: &[&str]| {
            let g = IntGaugeVec::new(Opts::new(name, help), labels)?;
            registry.register(Box::new(g.clone()))?;
            Ok::<_, prometheus::Error>(g)
        };
        let cost = prometheus::CounterVec::new(
            Opts::new(
                "model_cost_usd_total",
                "Cost of model calls in USD (calls of models with an unknown price count 0 here and in model_unpriced_calls_total).",
            ),
            &["provider", "model"],
        )?;
        registry.register(Box::new(cost.clone()))?;
        let approval_wait = prometheus::Histogram::with_opts(
            HistogramOpts::new(
                "approval_wait_seconds",
                "Time from an approval request to its decision.",
            )
            .buckets(WAIT_BUCKETS.to_vec()),
        )?;
        registry.register(Box::new(approval_wait.clone()))?;
        Ok(Prom {
            events: counter("events_total", "Events stored, by type.", &["type"])?,
            model_calls: counter(
                "model_calls_total",
                "Model calls that returned an answer.",
                &["provider", "model"],
            )?,
            failovers: counter(
                "model_failovers_total",
                "Model calls a provider did not serve, so that the model's next failover target did: why failed (past its retries) or circuit_open (passed over).",
                &["provider", "model", "why"],
            )?,
            tokens: counter(
                "model_tokens_total",
                "Tokens of model calls: kind input (prompt, cached included), cached (prompt tokens served from the provider's cache), output, or reasoning (output tokens spent reasoning).",
                &["provider", "model", "kind"],
            )?,
            cost,
            unpriced: counter(
                "model_unpriced_calls_total",
                "Model calls of models whose price is unknown.",
                &["provider", "model"],
            )?,
            model_duration: histogram(
                "model_call_duration_seconds",
                "Wall time of model calls, retries included.",
                &["provider", "model"],
                LATENCY_BUCKETS,
            )?,
            ttft: histogram(
                "model_time_to_first_token_seconds",
                "Time from sending a model request to its first streamed text.",
                &["provider", "model"],
                LATENCY_BUCKETS,
            )?,
            tool_calls: counter(
                "tool_calls_total",
                "Tool calls that finished, by outcome (success or failure).",
                &["tool", "outcome"],
            )?,
            tool_duration: histogram(
                "tool_call_duration_seconds",
                "Wall time of tool calls (approval waits included).",
                &["tool"],
                LATENCY_BUCKETS,
            )?,
            decisions: counter(
                "policy_decisions_total",
                "Policy decisions on tool calls, by action (allow, ask, deny).",
                &["action"],
            )?,
            approvals: counter(
                "approvals_total",
                "Approvals decided, by outcome (approved, denied, expired, cancelled).",
                &["outcome"],
            )?,
            approval_wait,
            errors: counter("errors_total", "Error events, by code.", &["code"])?,
            agents: gauge("agents", "Agents, by status (at scrape time).", &["status"])?,
            mcp_servers: gauge(
                "mcp_servers",
                "MCP servers, by state (at scrape time).",
                &["state"],
            )?,
            registry,
        })
    }
}

/// The metrics of one Paddock process.
pub struct Metrics {
    prom: Prom,
    labels: Mutex<Bounded>,
    /// When each pending approval was asked, by (agent, call).
    asked: Mutex<HashMap<(String, String), chrono::DateTime<chrono::Utc>>>,
    agents: Mutex<HashMap<String, agents::AgentStats>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

impl Metrics {
    /// Metrics at zero. Series with a known, small set of label values
    /// (approval outcomes, policy actions, error codes) exist from the
    /// start, so dashboards and alerts see 0 rather than no data.
    pub fn new() -> Result<Metrics, MetricsError> {
        let m = Metrics {
            prom: Prom::new()?,
            labels: Mutex::new(Bounded::default()),
            asked: Mutex::new(HashMap::new()),
            agents: Mutex::new(HashMap::new()),
        };
        for outcome in ["approved", "denied", "expired", "cancelled"] {
            m.prom.approvals.with_label_values(&[outcome]);
        }
        for action in ["allow", "ask", "deny"] {
            m.prom.decisions.with_label_values(&[action]);
        }
        for code in ErrorCode::ALL {
            m.prom
                .errors
                .with_label_values(&[m.label("code", code.as_str()).as_str()]);
        }
        Ok(m)
    }

    /// Starts the per-model series of the configured models at zero.
    pub fn known_models(&self, models: &[(String, String)]) {
        let p = &self.prom;
        for (provider, model) in models {
            let provider = self.label("provider", provider);
            let model = self.label("model", model);
            let pm = [provider.as_str(), model.as_str()];
            p.model_calls.with_label_values(&pm);
            p.cost.with_label_values(&pm);
            p.unpriced.with_label_values(&pm);
            for kind in ["input", "cached", "output"] {
                p.tokens.with_label_values(&[pm[0], pm[1], kind]);
            }
        }
    }

    fn label(&self, label: &'static str, value: &str) -> String {
        lock(&self.labels).value(label, value)
    }

    /// Counts one stored event. Cheap and never blocking on I/O: called on
    /// the agent's append path.
    pub fn observe(&self, event: &Event) {
        let p = &self.prom;
        p.events.with_label_values(&[event.body.type_name()]).inc();
        match &event.body {
            EventBody::Usage { .. } => {
                if let Some(u) = UsageRecord::of(event) {
                    self.observe_usage(&u);
                }
            }
            EventBody::ToolResult {
                tool,
                success,
                duration_ms,
                ..
            } => {
                let tool = self.label("tool", tool);
                let outcome = if *success { "success" } else { "failure" };
                p.tool_calls.with_label_values(&[&tool, outcome]).inc();
                p.tool_duration
                    .with_label_values(&[&tool])
                    .observe(*duration_ms as f64 / 1000.0);
            }
            EventBody::PolicyDecision { decision, .. } => {
                p.decisions
                    .with_label_values(&[decision.action.as_str()])
                    .inc();
            }
            EventBody::ApprovalRequested { call_id, .. } => {
                lock(&self.asked).insert((event.agent_id.clone(), call_id.clone()), event.ts);
            }
            EventBody::ApprovalDecided {
                call_id, status, ..
            } => {
                p.approvals.with_label_values(&[status.as_str()]).inc();
                let key = (event.agent_id.clone(), call_id.clone());
                if let Some(asked) = lock(&self.asked).remove(&key) {
                    let wait = (event.ts - asked).num_milliseconds().max(0) as f64 / 1000.0;
                    p.approval_wait.observe(wait);
                }
            }
            EventBody::Error { code, .. } => {
                let code = self.label("code", code.as_str());
                p.errors.with_label_values(&[&code]).inc();
            }
            _ => {}
        }
        let mut agents = lock(&self.agents);
        if let Some(stats) = agents.get_mut(&event.agent_id)
            && !stats.apply(event)
        {
            // Out of order: rebuilt from the store on next use.
            agents.remove(&event.agent_id);
        }
    }

    fn observe_usage(&self, u: &UsageRecord) {
        let p = &self.prom;
        let provider = self.label("provider", &u.provider);
        let model = self.label("model", &u.model);
        let pm = [provider.as_str(), model.as_str()];
        p.model_calls.with_label_values(&pm).inc();
        for (kind, n) in [
            ("input", u.input_tokens),
            ("cached", u.cached_tokens),
            ("output", u.output_tokens),
            ("reasoning", u.reasoning_tokens),
        ] {
            p.tokens.with_label_values(&[pm[0], pm[1], kind]).inc_by(n);
        }
        p.cost.with_label_values(&pm).inc_by(u.cost_usd.max(0.0));
        if !u.price_known {
            p.unpriced.with_label_values(&pm).inc();
        }
        for skipped in &u.failover {
            p.failovers
                .with_label_values(&[
                    &self.label("provider", &skipped.provider),
                    &self.label("model", &skipped.model),
                    skipped.why.as_str(),
                ])
                .inc();
        }
        p.model_duration
            .with_label_values(&pm)
            .observe(u.duration_ms as f64 / 1000.0);
        if let Some(t) = u.ttft_ms {
            p.ttft.with_label_values(&pm).observe(t as f64 / 1000.0);
        }
    }

    /// The Prometheus text exposition: the counters, plus agents by status
    /// and MCP servers by state as they are now.
    pub fn render(
        &self,
        agent_statuses: &[AgentStatus],
        mcp_states: &[String],
    ) -> Result<String, MetricsError> {
        let p = &self.prom;
        for s in [
            AgentStatus::Idle,
            AgentStatus::Thinking,
            AgentStatus::ExecutingTool,
            AgentStatus::WaitingApproval,
            AgentStatus::Error,
            AgentStatus::Limited,
            AgentStatus::Stopped,
        ] {
            let n = agent_statuses.iter().filter(|x| **x == s).count();
            p.agents.with_label_values(&[s.as_str()]).set(n as i64);
        }
        p.mcp_servers.reset();
        for state in MCP_STATES {
            p.mcp_servers.with_label_values(&[state]).set(0);
        }
        for state in mcp_states {
            p.mcp_servers.with_label_values(&[state.as_str()]).inc();
        }
        let mut out = Vec::new();
        TextEncoder::new().encode(&p.registry.gather(), &mut out)?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    /// One agent's figures: rebuilt from its stored events on first use (or
    /// after events arrived out of order), then kept current by
    /// [`Metrics::observe`].
    pub async fn agent(
        &self,
        store: &Store,
        id: &str,
    ) -> Result<Option<agents::AgentStats>, MetricsError> {
        if let Some(s) = lock(&self.agents).get(id) {
            return Ok(Some(s.clone()));
        }
        let Some(record) = store.get_agent(id).await? else {
            return Ok(None);
        };
        let mut stats = agents::AgentStats::new(&record);
        let mut after = 0;
        loop {
            let page = store.events_after(id, after, 5000).await?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            for e in &page {
                stats.apply(e);
            }
        }
        let mut agents = lock(&self.agents);
        // Events observed meanwhile are in the store too: keep whichever
        // copy has seen more.
        let entry = agents
            .entry(id.to_string())
            .or_insert_with(|| stats.clone());
        if entry.last_seq() < stats.last_seq() {
            *entry = stats;
        }
        Ok(Some(entry.clone()))
    }
}

#[cfg(test)]
mod tests;
