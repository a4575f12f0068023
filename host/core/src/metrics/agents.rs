//! One agent's figures, reduced from its event log: status and age, turns,
//! conversation length, tokens and cost, model latency (time to first token,
//! tokens per second), tool calls per tool (error rate, durations),
//! approvals (asked, decided, waiting time).

use chrono::{DateTime, Utc};
use paddock_protocol::events::{AgentStatus, Event, EventBody};
use paddock_store::{AgentRecord, UsageRecord};
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// Samples kept per series for percentiles (the most recent ones).
pub const MAX_SAMPLES: usize = 2000;

/// The most recent samples of a series.
#[derive(Clone, Debug, Default)]
pub struct Samples {
    values: std::collections::VecDeque<f64>,
}

impl Samples {
    fn push(&mut self, v: f64) {
        if self.values.len() == MAX_SAMPLES {
            self.values.pop_front();
        }
        self.values.push_back(v);
    }

    /// p50 and p95 (nearest rank), or None without samples.
    pub fn percentiles(&self) -> Option<Percentiles> {
        if self.values.is_empty() {
            return None;
        }
        let mut v: Vec<f64> = self.values.iter().copied().collect();
        v.sort_by(|a, b| a.total_cmp(b));
        let rank = |q: f64| {
            let i = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
            v[i]
        };
        Some(Percentiles {
            p50: rank(0.50),
            p95: rank(0.95),
            samples: v.len() as u64,
        })
    }
}

/// The median and 95th percentile of a series.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, ToSchema)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// Samples they come from (the most recent ones, at most 2000).
    pub samples: u64,
}

#[derive(Clone, Debug, Default)]
struct ToolStats {
    calls: u64,
    failures: u64,
    duration_ms: Samples,
}

/// An agent's figures as they are being reduced.
#[derive(Clone, Debug)]
pub struct AgentStats {
    id: String,
    name: String,
    created_at: DateTime<Utc>,
    deleted_at: Option<DateTime<Utc>>,
    mcp_servers: Vec<String>,
    last_seq: u64,
    last_event_at: Option<DateTime<Utc>>,
    status: AgentStatus,
    user_messages: u64,
    assistant_messages: u64,
    model_calls: u64,
    conversation_tokens: u64,
    input_tokens: u64,
    output_tokens: u64,
    cached_tokens: u64,
    cost_usd: f64,
    unpriced_calls: u64,
    model_ms: Samples,
    ttft_ms: Samples,
    tokens_per_second: Samples,
    tools: BTreeMap<String, ToolStats>,
    asked: BTreeMap<String, DateTime<Utc>>,
    approvals_asked: u64,
    approved: u64,
    denied: u64,
    expired: u64,
    wait_ms: Samples,
    errors: u64,
}

impl AgentStats {
    /// Nothing seen yet of the agent `record`.
    pub fn new(record: &AgentRecord) -> AgentStats {
        AgentStats {
            id: record.id.clone(),
            name: record.name.clone(),
            created_at: record.created_at,
            deleted_at: record.deleted_at,
            mcp_servers: record.config.mcp_servers.clone(),
            last_seq: 0,
            last_event_at: None,
            status: AgentStatus::Idle,
            user_messages: 0,
            assistant_messages: 0,
            model_calls: 0,
            conversation_tokens: 0,
            input_tokens: 0,
            output_tokens: 0,
            cached_tokens: 0,
            cost_usd: 0.0,
            unpriced_calls: 0,
            model_ms: Samples::default(),
            ttft_ms: Samples::default(),
            tokens_per_second: Samples::default(),
            tools: BTreeMap::new(),
            asked: BTreeMap::new(),
            approvals_asked: 0,
            approved: 0,
            denied: 0,
            expired: 0,
            wait_ms: Samples::default(),
            errors: 0,
        }
    }

    /// The seq of the last event applied.
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// Applies the agent's next event; false (and nothing changes) when it
    /// is not the next one.
    pub fn apply(&mut self, event: &Event) -> bool {
        if event.seq != self.last_seq + 1 {
            return false;
        }
        self.last_seq = event.seq;
        self.last_event_at = Some(event.ts);
        match &event.body {
            EventBody::AgentStatus { status, .. } => self.status = *status,
            EventBody::MessageUser { .. } => self.user_messages += 1,
            EventBody::MessageAssistant { .. } => self.assistant_messages += 1,
            EventBody::Usage { .. } => {
                if let Some(u) = UsageRecord::of(event) {
                    self.add_usage(&u);
                }
            }
            EventBody::ToolResult {
                tool,
                success,
                duration_ms,
                ..
            } => {
                let t = self.tools.entry(tool.clone()).or_default();
                t.calls += 1;
                if !success {
                    t.failures += 1;
                }
                t.duration_ms.push(*duration_ms as f64);
            }
            EventBody::ApprovalRequested { call_id, .. } => {
                self.approvals_asked += 1;
                self.asked.insert(call_id.clone(), event.ts);
            }
            EventBody::ApprovalDecided {
                call_id, status, ..
            } => {
                match status {
                    paddock_store::ApprovalStatus::Approved => self.approved += 1,
                    paddock_store::ApprovalStatus::Denied => self.denied += 1,
                    _ => self.expired += 1,
                }
                if let Some(asked) = self.asked.remove(call_id) {
                    self.wait_ms
                        .push((event.ts - asked).num_milliseconds().max(0) as f64);
                }
            }
            EventBody::Error { .. } => self.errors += 1,
            _ => {}
        }
        true
    }

    fn add_usage(&mut self, u: &UsageRecord) {
        self.model_calls += 1;
        // The latest prompt and answer: the conversation as the model saw it.
        self.conversation_tokens = u.input_tokens + u.output_tokens;
        self.input_tokens += u.input_tokens;
        self.output_tokens += u.output_tokens;
        self.cached_tokens += u.cached_tokens;
        self.cost_usd += u.cost_usd;
        if !u.price_known {
            self.unpriced_calls += 1;
        }
        self.model_ms.push(u.duration_ms as f64);
        if let Some(t) = u.ttft_ms {
            self.ttft_ms.push(t as f64);
            let streaming_ms = u.duration_ms.saturating_sub(t);
            if streaming_ms > 0 && u.output_tokens > 0 {
                self.tokens_per_second
                    .push(u.output_tokens as f64 * 1000.0 / streaming_ms as f64);
            }
        }
    }

    /// The figures as the API shows them, at `now`.
    pub fn view(&self, now: DateTime<Utc>, mcp: &[(String, String)]) -> AgentMetrics {
        let end = self.deleted_at.unwrap_or(now);
        AgentMetrics {
            agent_id: self.id.clone(),
            name: self.name.clone(),
            status: self.status,
            uptime_secs: (end - self.created_at).num_seconds().max(0) as u64,
            last_event_at: self.last_event_at,
            events: self.last_seq,
            turns: self.user_messages,
            messages: self.user_messages + self.assistant_messages,
            conversation_tokens: self.conversation_tokens,
            tokens: TokenFigures {
                input: self.input_tokens,
                output: self.output_tokens,
                cached: self.cached_tokens,
                cached_share: share(self.cached_tokens, self.input_tokens),
            },
            cost_usd: self.cost_usd,
            unpriced_calls: self.unpriced_calls,
            model: ModelFigures {
                calls: self.model_calls,
                duration_ms: self.model_ms.percentiles(),
                ttft_ms: self.ttft_ms.percentiles(),
                tokens_per_second: self.tokens_per_second.percentiles(),
            },
            tools: self
                .tools
                .iter()
                .map(|(name, t)| ToolFigures {
                    tool: name.clone(),
                    calls: t.calls,
                    failures: t.failures,
                    error_rate: share(t.failures, t.calls),
                    duration_ms: t.duration_ms.percentiles(),
                })
                .collect(),
            approvals: ApprovalFigures {
                asked: self.approvals_asked,
                approved: self.approved,
                denied: self.denied,
                expired_or_cancelled: self.expired,
                pending: self.asked.len() as u64,
                wait_ms: self.wait_ms.percentiles(),
            },
            errors: self.errors,
            mcp_servers: self
                .mcp_servers
                .iter()
                .map(|name| McpFigures {
                    name: name.clone(),
                    state: mcp
                        .iter()
                        .find(|(n, _)| n == name)
                        .map_or_else(|| "unknown".to_string(), |(_, s)| s.clone()),
                })
                .collect(),
            sandbox: None,
        }
    }
}

fn share(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// Token totals.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct TokenFigures {
    /// Prompt tokens, cached included.
    pub input: u64,
    /// Completion tokens.
    pub output: u64,
    /// Prompt tokens served from the provider's cache.
    pub cached: u64,
    /// cached / input (null before any call).
    pub cached_share: Option<f64>,
}

/// Model calls and their latency.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct ModelFigures {
    /// Calls that returned an answer.
    pub calls: u64,
    /// Wall time per call, retries included.
    pub duration_ms: Option<Percentiles>,
    /// Time to the first streamed text.
    pub ttft_ms: Option<Percentiles>,
    /// Output tokens per second after the first token.
    pub tokens_per_second: Option<Percentiles>,
}

/// One tool's calls.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct ToolFigures {
    /// The tool.
    pub tool: String,
    /// Calls that finished.
    pub calls: u64,
    /// Of those, failed ones.
    pub failures: u64,
    /// failures / calls.
    pub error_rate: Option<f64>,
    /// Wall time per call.
    pub duration_ms: Option<Percentiles>,
}

/// Approvals asked and how they ended.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct ApprovalFigures {
    /// Asked.
    pub asked: u64,
    /// Approved.
    pub approved: u64,
    /// Denied.
    pub denied: u64,
    /// Expired or cancelled.
    pub expired_or_cancelled: u64,
    /// Waiting now.
    pub pending: u64,
    /// Time from asking to deciding.
    pub wait_ms: Option<Percentiles>,
}

/// An MCP server the agent uses, and its state now.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct McpFigures {
    /// The server.
    pub name: String,
    /// Its state (`running`, `backoff`, …; `unknown` when not configured).
    pub state: String,
}

/// One agent's metrics (`GET /api/metrics/agents/{id}`).
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct AgentMetrics {
    /// The agent.
    pub agent_id: String,
    /// Its name.
    pub name: String,
    /// Its status.
    pub status: AgentStatus,
    /// Seconds since it was created (until it was deleted).
    pub uptime_secs: u64,
    /// When its last event happened.
    pub last_event_at: Option<DateTime<Utc>>,
    /// Events in its log.
    pub events: u64,
    /// User messages (runs).
    pub turns: u64,
    /// User and assistant messages.
    pub messages: u64,
    /// The conversation's length in tokens, as of the last model call.
    pub conversation_tokens: u64,
    /// Token totals.
    pub tokens: TokenFigures,
    /// Cost in USD.
    pub cost_usd: f64,
    /// Model calls whose price is unknown (not counted in `cost_usd`).
    pub unpriced_calls: u64,
    /// Model calls and latency.
    pub model: ModelFigures,
    /// Tool calls by tool.
    pub tools: Vec<ToolFigures>,
    /// Approvals.
    pub approvals: ApprovalFigures,
    /// Error events.
    pub errors: u64,
    /// MCP servers it uses.
    pub mcp_servers: Vec<McpFigures>,
    /// What its sandbox uses now (null without one).
    pub sandbox: Option<paddock_sandbox::SandboxUse>,
}
