//! Events: the types of the durable per-agent log, and the live-only deltas
//! that reach subscribers with them (the bus that carries them is the
//! core's `bus`).

use crate::agent::AgentConfig;
use crate::llm::{ReasoningItem, ToolCallRequest};
use crate::policy::ApprovalStatus;
use crate::policy::{Decision, RiskLevel};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// An agent's id (a UUID in text form).
pub type AgentId = String;

/// One event of an agent's log. `seq` is per agent, starts at 1 and has no
/// gaps; `message.delta` events are live only and carry the `seq` of the last
/// stored event (they are never stored).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Event {
    /// Position in the agent's log.
    pub seq: u64,
    /// The agent.
    pub agent_id: AgentId,
    /// When it happened.
    pub ts: DateTime<Utc>,
    /// What happened (`type` and `data`).
    #[serde(flatten)]
    pub body: EventBody,
}

/// An agent's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AgentStatus {
    /// Waiting for a user message.
    Idle,
    /// A model call is running.
    Thinking,
    /// A tool is running.
    ExecutingTool,
    /// A tool call waits for a human's decision.
    WaitingApproval,
    /// The last run failed; a new message (or a retry) starts again.
    Error,
    /// The last run was stopped by a limit (turns, wall time, budget); a
    /// new message (or a retry) starts again.
    Limited,
    /// Deleted or shut down; takes no more messages.
    Stopped,
}

impl AgentStatus {
    /// Whether a run is over at this status: it answered (idle), failed,
    /// hit a limit or was stopped — not thinking, running a tool or
    /// waiting for a decision.
    pub fn ends_run(self) -> bool {
        matches!(
            self,
            AgentStatus::Idle | AgentStatus::Error | AgentStatus::Limited | AgentStatus::Stopped
        )
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            AgentStatus::Idle => "idle",
            AgentStatus::Thinking => "thinking",
            AgentStatus::ExecutingTool => "executing_tool",
            AgentStatus::WaitingApproval => "waiting_approval",
            AgentStatus::Error => "error",
            AgentStatus::Limited => "limited",
            AgentStatus::Stopped => "stopped",
        }
    }
}

/// What happened, as `{"type": …, "data": {…}}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", content = "data")]
pub enum EventBody {
    /// The agent was created with this configuration.
    #[serde(rename = "agent.created")]
    AgentCreated {
        /// Its configuration.
        // Boxed: by far the largest body.
        config: Box<AgentConfig>,
    },
    /// Its status changed.
    #[serde(rename = "agent.status")]
    AgentStatus {
        /// The new status.
        status: AgentStatus,
        /// Why, when it is not obvious (an error, a limit, an interrupt, a
        /// retry).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        /// The code of the `error` event that ended the run (with `error`
        /// and `limited`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code: Option<ErrorCode>,
    },
    /// A user message.
    #[serde(rename = "message.user")]
    MessageUser {
        /// Its text.
        text: String,
    },
    /// A piece of the model's answer as it streams (live only).
    #[serde(rename = "message.delta")]
    MessageDelta {
        /// The text piece.
        text: String,
    },
    /// A piece of the model's reasoning summary as it streams (live only;
    /// the whole summary is stored with the answer).
    #[serde(rename = "message.reasoning")]
    MessageReasoning {
        /// The text piece.
        text: String,
    },
    /// The model's complete answer.
    #[serde(rename = "message.assistant")]
    MessageAssistant {
        /// Its text, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        text: Option<String>,
        /// The tool calls it asked for.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        tool_calls: Vec<ToolCallRequest>,
        /// Its reasoning items (Responses API): the summaries to show, and
        /// the encrypted reasoning sent back to the model on the next
        /// call, so a restarted host continues the same chain of thought.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        reasoning: Vec<ReasoningItem>,
        /// Why the model stopped (`stop`, `tool_calls`, `length`, …).
        finish_reason: String,
    },
    /// A tool call is about to run.
    #[serde(rename = "tool.call")]
    ToolCall {
        /// The model's call id.
        call_id: String,
        /// The tool.
        tool: String,
        /// The arguments.
        arguments: serde_json::Value,
        /// Whether the tool only reads (safe to run again after a crash).
        read_only: bool,
        /// For tools that run commands: the sandbox backend they run in
        /// (`docker`, `bwrap`; `none` when the host runs unsandboxed;
        /// `unavailable` when no sandbox works).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sandbox: Option<String>,
    },
    /// A chunk of a running tool's output (live streaming of long commands).
    #[serde(rename = "tool.output")]
    ToolOutput {
        /// The call.
        call_id: String,
        /// `stdout` or `stderr`.
        stream: String,
        /// The text.
        chunk: String,
    },
    /// A tool call's result, as fed back to the model.
    #[serde(rename = "tool.result")]
    ToolResult {
        /// The call.
        call_id: String,
        /// The tool.
        tool: String,
        /// Whether it succeeded.
        success: bool,
        /// The content the model sees (truncated, redacted).
        content: String,
        /// The tool's own run time in milliseconds (from `tool.call` to
        /// the result; the wait for a human is `approval_wait_ms`).
        duration_ms: u64,
        /// For a tool that runs a command: its exit code (absent when the
        /// tool reports none, e.g. killed by a signal or timed out). A
        /// non-zero code, a timeout or a kill makes `success` false; the
        /// model sees the same `content` either way.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exit_code: Option<i32>,
        /// How long the call waited for a human's approval, in
        /// milliseconds (absent when it did not wait).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        approval_wait_ms: Option<u64>,
        /// Bytes cut from the middle of the output (0: none).
        #[serde(default)]
        truncated_bytes: u64,
        /// Invisible characters (Unicode tags, zero-width and bidi
        /// controls, terminal escapes) removed before the model saw it.
        #[serde(default, skip_serializing_if = "is_zero")]
        stripped_chars: u64,
    },
    /// The policy pipeline's decision on a tool call, before it runs.
    #[serde(rename = "policy.decision")]
    PolicyDecision {
        /// The call.
        call_id: String,
        /// The tool.
        tool: String,
        /// The decision: action, level, reasons, the rule that decided, the
        /// mode, every assessor's verdict.
        #[serde(flatten)]
        decision: Decision,
    },
    /// A tool call waits for a human: what they are shown.
    #[serde(rename = "approval.requested")]
    ApprovalRequested {
        /// The call (decide it with `POST /api/agents/{id}/approvals/{call_id}`).
        call_id: String,
        /// The tool.
        tool: String,
        /// The arguments shown (those that will run if approved).
        arguments: serde_json::Value,
        /// The risk level.
        level: RiskLevel,
        /// Why it asks.
        reasons: Vec<String>,
        /// For file writes and edits: a unified diff of what would change.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        diff: Option<String>,
        /// The exact rule each "remember" choice would add.
        remember: RememberRules,
        /// When it is refused if nobody decides.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expires_at: Option<DateTime<Utc>>,
    },
    /// A human (or the timeout) decided a pending call.
    #[serde(rename = "approval.decided")]
    ApprovalDecided {
        /// The call.
        call_id: String,
        /// The tool.
        tool: String,
        /// Whether it runs.
        approved: bool,
        /// How it ended (`approved`, `denied`, `expired`, `cancelled`).
        status: ApprovalStatus,
        /// Who decided (`user (REST)`, `admin (WebSocket)`, `timeout`…).
        by: String,
        /// Their reason.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        /// The rule added by "remember", as stored.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rule: Option<String>,
        /// Its scope (`agent:ID` or `global`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rule_scope: Option<String>,
    },
    /// Tokens and cost of one model call.
    #[serde(rename = "usage")]
    Usage {
        /// The provider.
        provider: String,
        /// The model.
        model: String,
        /// Prompt tokens (including cached).
        input_tokens: u64,
        /// Completion tokens.
        output_tokens: u64,
        /// Cached prompt tokens.
        cached_tokens: u64,
        /// Output tokens spent reasoning (part of `output_tokens`).
        #[serde(default, skip_serializing_if = "is_zero")]
        reasoning_tokens: u64,
        /// Cost in USD from the model's price (0 when the price is unknown).
        cost_usd: f64,
        /// Whether the model's price is known; when not, `cost_usd` is 0
        /// and the call is counted as unpriced, not as free.
        #[serde(default = "known")]
        price_known: bool,
        /// Wall time of the call, retries included.
        duration_ms: u64,
        /// Time from sending the request to the first streamed text (none
        /// when the answer had no text).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ttft_ms: Option<u64>,
        /// Attempts the call took.
        attempts: u32,
        /// Prompt tokens saved by masking old tool outputs in this call.
        #[serde(default)]
        masked_tokens_saved: u64,
        /// For an agent on a model router: which model it chose and why
        /// (`provider`/`model` above are the chosen one).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        route: Option<RouteInfo>,
        /// The failover targets tried or passed over before
        /// `provider`/`model` served the call, in order, with why.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        failover: Vec<SkippedTarget>,
    },
    /// A step of preparing the agent's environment (its image, setup
    /// commands and cache) before its sandbox runs anything.
    #[serde(rename = "environment.setup")]
    EnvironmentSetup {
        /// The environment (its name; `devcontainer` for the workspace's).
        environment: String,
        /// Which step this is.
        step: SetupStep,
        /// The phase of the step (`build`, `on_create`, …).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        phase: Option<SetupPhase>,
        /// The command (as it was given, a shell line or an argv joined),
        /// for `command`, `output` and `failed`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        command: Option<String>,
        /// A piece of its output (`output`), or the last of it (`failed`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        output: Option<String>,
        /// `finished`: whether the cached result was used (nothing ran).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cached: Option<bool>,
        /// `finished`, `failed` and `command_done`: milliseconds taken.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        duration_ms: Option<u64>,
        /// `command_done` and `failed`: the command's exit code.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exit_code: Option<i32>,
        /// `started`: the fields of devcontainer.json Paddock ignores.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        ignored: Vec<String>,
        /// `finished`: what the sandbox runs (an image, or the cache
        /// directory of a bubblewrap environment); `failed`: why, in words.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
    /// A connection through the agent's egress proxy (a sandbox whose
    /// network is an allow-list), allowed or refused.
    #[serde(rename = "network.connection")]
    NetworkConnection(crate::network::NetworkConnection),
    /// A lifecycle hook changed something (or failed, and the stricter
    /// outcome was applied).
    #[serde(rename = "hook")]
    Hook(crate::hooks::HookRecord),
    /// Something went wrong.
    #[serde(rename = "error")]
    Error {
        /// A stable code.
        code: ErrorCode,
        /// What happened, for humans.
        message: String,
        /// Whether the agent carries on.
        recoverable: bool,
        /// `model_retry`: the attempt that failed (1 for the first).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        attempt: Option<u32>,
        /// `model_retry`: how many attempts the provider allows in all.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_attempts: Option<u32>,
        /// `model_retry`: milliseconds until the next attempt.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_in_ms: Option<u64>,
    },
}

/// A failover target that did not serve a model call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SkippedTarget {
    /// Its provider.
    pub provider: String,
    /// Its model.
    pub model: String,
    /// Why it did not serve.
    pub why: SkipReason,
    /// What happened, for humans (the last failure, or since when its
    /// circuit is open).
    pub message: String,
}

/// Why a failover target did not serve a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// It was tried and failed past its retries.
    Failed,
    /// Its circuit breaker was open (it failed repeatedly just before), so
    /// it was not tried.
    CircuitOpen,
}

impl SkipReason {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::Failed => "failed",
            SkipReason::CircuitOpen => "circuit_open",
        }
    }
}

fn known() -> bool {
    true
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A step of an environment's preparation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SetupStep {
    /// Preparation began (with the ignored devcontainer.json fields).
    Started,
    /// A command (or an image build) starts.
    Command,
    /// A piece of a command's output.
    Output,
    /// A command ended (its exit code and time).
    CommandDone,
    /// The environment is ready (from the cache or freshly made).
    Finished,
    /// A command or a build failed: the agent stops with
    /// `environment_setup_failed`.
    Failed,
}

/// Which part of an environment a setup step belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SetupPhase {
    /// Building the image from a Dockerfile.
    Build,
    /// `onCreateCommand` (cached).
    OnCreate,
    /// `updateContentCommand` (run for each new sandbox: it fills the
    /// agent's own workspace).
    UpdateContent,
    /// `postCreateCommand` (cached), or an environment's `setup`.
    PostCreate,
}

impl SetupPhase {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            SetupPhase::Build => "build",
            SetupPhase::OnCreate => "on_create",
            SetupPhase::UpdateContent => "update_content",
            SetupPhase::PostCreate => "post_create",
        }
    }
}

/// The rules an approval's "remember" choices would add, shown before the
/// human picks one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RememberRules {
    /// `remember: "agent"`: this rule, for this agent only.
    pub agent: String,
    /// `remember: "always"`: this rule, for every agent.
    pub always: String,
}

impl EventBody {
    /// An `error` event without retry figures.
    pub fn error(code: ErrorCode, message: String, recoverable: bool) -> EventBody {
        EventBody::Error {
            code,
            message,
            recoverable,
            attempt: None,
            max_attempts: None,
            retry_in_ms: None,
        }
    }

    /// The `type` string.
    pub fn type_name(&self) -> &'static str {
        match self {
            EventBody::AgentCreated { .. } => "agent.created",
            EventBody::AgentStatus { .. } => "agent.status",
            EventBody::MessageUser { .. } => "message.user",
            EventBody::MessageDelta { .. } => "message.delta",
            EventBody::MessageReasoning { .. } => "message.reasoning",
            EventBody::MessageAssistant { .. } => "message.assistant",
            EventBody::ToolCall { .. } => "tool.call",
            EventBody::ToolOutput { .. } => "tool.output",
            EventBody::ToolResult { .. } => "tool.result",
            EventBody::Usage { .. } => "usage",
            EventBody::PolicyDecision { .. } => "policy.decision",
            EventBody::ApprovalRequested { .. } => "approval.requested",
            EventBody::ApprovalDecided { .. } => "approval.decided",
            EventBody::EnvironmentSetup { .. } => "environment.setup",
            EventBody::NetworkConnection(_) => "network.connection",
            EventBody::Hook(_) => "hook",
            EventBody::Error { .. } => "error",
        }
    }

    /// Whether the event is stored (everything but deltas).
    pub fn is_durable(&self) -> bool {
        !matches!(
            self,
            EventBody::MessageDelta { .. } | EventBody::MessageReasoning { .. }
        )
    }

    /// The `data` part as JSON.
    pub fn data(&self) -> serde_json::Value {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(mut m)) => {
                m.remove("data").unwrap_or(serde_json::Value::Null)
            }
            _ => serde_json::Value::Null,
        }
    }

    /// Rebuilds a body from its stored `type` and `data`.
    pub fn from_parts(
        type_name: &str,
        data: serde_json::Value,
    ) -> Result<EventBody, serde_json::Error> {
        serde_json::from_value(serde_json::json!({"type": type_name, "data": data}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_shape_is_seq_agent_ts_type_data() {
        let e = Event {
            seq: 3,
            agent_id: "a1".into(),
            ts: DateTime::from_timestamp(0, 0).unwrap(),
            body: EventBody::MessageUser { text: "hi".into() },
        };
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["seq"], 3);
        assert_eq!(v["agent_id"], "a1");
        assert_eq!(v["type"], "message.user");
        assert_eq!(v["data"]["text"], "hi");
        assert_eq!(serde_json::from_value::<Event>(v).unwrap(), e);
    }

    #[test]
    fn parts_round_trip() {
        let b = EventBody::AgentStatus {
            status: AgentStatus::ExecutingTool,
            reason: None,
            code: None,
        };
        assert_eq!(b.type_name(), "agent.status");
        let back = EventBody::from_parts(b.type_name(), b.data()).unwrap();
        assert_eq!(back, b);
        assert!(EventBody::from_parts("nope", serde_json::json!({})).is_err());
    }
}

/// A routed model call: the router, the tier it chose and why, and the
/// router's strong model (what the call would have used without routing).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RouteInfo {
    /// The router's name.
    pub router: String,
    /// `cheap` or `strong`.
    pub tier: crate::agent::Tier,
    /// Why, in words (e.g. "the previous turn only read: read_file").
    pub reason: String,
    /// The router's strong model.
    pub strong: crate::agent::ModelRef,
}

/// The code of an agent's `error` event: a closed set (the metrics count
/// each, from zero).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// A model call failed and is retried (recoverable).
    ModelRetry,
    /// A model call failed for good (or its retries ran out).
    ModelFailed,
    /// A provider failed past its retries and the call goes to the model's
    /// next failover target (recoverable).
    ModelFailover,
    /// The same tool call failed too many times in a row.
    RepeatedToolFailure,
    /// The run used its `max_turns`.
    LimitTurns,
    /// A budget (the agent's or the host's) would be passed.
    BudgetExceeded,
    /// A budget applies but the model's price is unknown.
    BudgetPriceUnknown,
    /// The run used its `max_wall_time_secs`.
    LimitTime,
    /// The host restarted during the run.
    HostRestarted,
    /// The store could not record the agent's steps for a while.
    StoreUnavailable,
    /// The agent's environment could not be prepared (a build or a setup
    /// command failed, or its definition is wrong).
    EnvironmentSetupFailed,
}

impl ErrorCode {
    /// Whether the code is a limit that stopped the run (turns, wall
    /// time, a budget) rather than a failure: the agent's status is then
    /// `limited`, not `error`.
    pub fn is_limit(self) -> bool {
        matches!(
            self,
            ErrorCode::LimitTurns | ErrorCode::LimitTime | ErrorCode::BudgetExceeded
        )
    }

    /// Every code, in a stable order.
    pub const ALL: [ErrorCode; 11] = [
        ErrorCode::ModelRetry,
        ErrorCode::ModelFailed,
        ErrorCode::ModelFailover,
        ErrorCode::RepeatedToolFailure,
        ErrorCode::LimitTurns,
        ErrorCode::BudgetExceeded,
        ErrorCode::BudgetPriceUnknown,
        ErrorCode::LimitTime,
        ErrorCode::HostRestarted,
        ErrorCode::StoreUnavailable,
        ErrorCode::EnvironmentSetupFailed,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::ModelRetry => "model_retry",
            ErrorCode::ModelFailed => "model_failed",
            ErrorCode::ModelFailover => "model_failover",
            ErrorCode::RepeatedToolFailure => "repeated_tool_failure",
            ErrorCode::LimitTurns => "limit_turns",
            ErrorCode::BudgetExceeded => "budget_exceeded",
            ErrorCode::BudgetPriceUnknown => "budget_price_unknown",
            ErrorCode::LimitTime => "limit_time",
            ErrorCode::HostRestarted => "host_restarted",
            ErrorCode::StoreUnavailable => "store_unavailable",
            ErrorCode::EnvironmentSetupFailed => "environment_setup_failed",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod error_code_tests {
    use super::ErrorCode;

    #[test]
    fn wire_names_match_serde_and_are_distinct() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            let json = serde_json::to_value(code).unwrap();
            assert_eq!(json, serde_json::Value::String(code.as_str().into()));
            assert_eq!(serde_json::from_value::<ErrorCode>(json).unwrap(), code);
            assert!(seen.insert(code.as_str()), "{code} twice");
        }
        assert!(serde_json::from_str::<ErrorCode>("\"no_such_code\"").is_err());
    }

    #[test]
    fn only_turns_time_and_budget_are_limits() {
        let limits: Vec<&str> = ErrorCode::ALL
            .into_iter()
            .filter(|c| c.is_limit())
            .map(ErrorCode::as_str)
            .collect();
        assert_eq!(limits, ["limit_turns", "budget_exceeded", "limit_time"]);
    }

    #[test]
    fn old_error_and_tool_result_events_still_read() {
        use super::EventBody;
        let old = EventBody::from_parts(
            "error",
            serde_json::json!({"code": "model_retry", "message": "m", "recoverable": true}),
        )
        .unwrap();
        assert_eq!(
            old,
            EventBody::error(ErrorCode::ModelRetry, "m".into(), true)
        );
        let retry = EventBody::Error {
            code: ErrorCode::ModelRetry,
            message: "m".into(),
            recoverable: true,
            attempt: Some(2),
            max_attempts: Some(4),
            retry_in_ms: Some(750),
        };
        assert_eq!(
            retry.data(),
            serde_json::json!({"code": "model_retry", "message": "m", "recoverable": true,
                "attempt": 2, "max_attempts": 4, "retry_in_ms": 750})
        );
        let result = EventBody::from_parts(
            "tool.result",
            serde_json::json!({"call_id": "c", "tool": "t", "success": true, "content": "x",
                "duration_ms": 3}),
        )
        .unwrap();
        let EventBody::ToolResult {
            exit_code,
            approval_wait_ms,
            ..
        } = &result
        else {
            panic!("not a tool result");
        };
        assert_eq!((*exit_code, *approval_wait_ms), (None, None));
        assert!(result.data().get("exit_code").is_none(), "absent, not null");
    }
}
