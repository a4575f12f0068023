//! Lifecycle hooks as the event log records them: which events a `hooks`
//! plugin can subscribe to ([`HookEvent`]) and what one did
//! ([`HookRecord`], the body of a `hook` event).

use serde::{Deserialize, Serialize};

/// A lifecycle event a `hooks` plugin can subscribe to (the WIT
/// `event-kind`, `paddock:plugin@0.2.0`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum HookEvent {
    /// An agent starts a run.
    AgentStarted,
    /// An agent's run ended.
    AgentFinished,
    /// Before each model call (may add context).
    BeforeModelCall,
    /// After the model answered.
    AfterModelAnswer,
    /// Before a tool call is judged and run (may allow, ask, deny, rewrite).
    BeforeToolCall,
    /// After a tool result, before the model sees it (may redact, annotate).
    AfterToolResult,
    /// A tool call waits for approval.
    ApprovalRequested,
    /// An approval was decided.
    ApprovalDecided,
    /// A tool call that may write ran.
    WorkspaceChanged,
}

impl HookEvent {
    /// Every event, in lifecycle order.
    pub const ALL: [HookEvent; 9] = [
        HookEvent::AgentStarted,
        HookEvent::AgentFinished,
        HookEvent::BeforeModelCall,
        HookEvent::AfterModelAnswer,
        HookEvent::BeforeToolCall,
        HookEvent::AfterToolResult,
        HookEvent::ApprovalRequested,
        HookEvent::ApprovalDecided,
        HookEvent::WorkspaceChanged,
    ];

    /// The snake_case name (`before_tool_call`…).
    pub fn as_str(self) -> &'static str {
        match self {
            HookEvent::AgentStarted => "agent_started",
            HookEvent::AgentFinished => "agent_finished",
            HookEvent::BeforeModelCall => "before_model_call",
            HookEvent::AfterModelAnswer => "after_model_answer",
            HookEvent::BeforeToolCall => "before_tool_call",
            HookEvent::AfterToolResult => "after_tool_result",
            HookEvent::ApprovalRequested => "approval_requested",
            HookEvent::ApprovalDecided => "approval_decided",
            HookEvent::WorkspaceChanged => "workspace_changed",
        }
    }
}

impl std::fmt::Display for HookEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a hook did that changed something (answers of "no opinion" are not
/// recorded).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum HookOutcome {
    /// Text added to this model call's input.
    ContextAdded {
        /// The text.
        text: String,
    },
    /// A human must approve the tool call.
    Asked {
        /// Why.
        reason: String,
    },
    /// The tool call is refused.
    Denied {
        /// Why (the model is told).
        reason: String,
    },
    /// The tool call runs with other arguments.
    Rewrote {
        /// The arguments before this hook.
        #[cfg_attr(feature = "openapi", schema(value_type = Object))]
        original: serde_json::Value,
        /// The arguments it runs with.
        #[cfg_attr(feature = "openapi", schema(value_type = Object))]
        arguments: serde_json::Value,
    },
    /// The tool result's content was replaced (the stored `tool.result`
    /// holds the replacement; the original is not kept).
    Redacted,
    /// A note was appended to the tool result.
    Annotated {
        /// The note.
        note: String,
    },
    /// The hook failed (trap, timeout, out of memory, an answer its event
    /// does not allow); `consequence` is the stricter outcome applied.
    Failed {
        /// What went wrong.
        error: String,
        /// What the host did instead (`asks a human`, `result withheld`,
        /// `no context added`, `nothing changed`).
        consequence: String,
    },
}

/// The body of a `hook` event: one hook's effect on one lifecycle event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HookRecord {
    /// The hook plugin.
    pub hook: String,
    /// The event it answered.
    pub event: HookEvent,
    /// The tool call concerned, for tool and approval events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_id: Option<String>,
    /// What it did.
    #[serde(flatten)]
    pub outcome: HookOutcome,
    /// How long the hook ran, in microseconds.
    pub duration_us: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_the_wire_form() {
        for e in HookEvent::ALL {
            assert_eq!(
                serde_json::to_value(e).unwrap(),
                serde_json::Value::String(e.as_str().into())
            );
        }
    }

    #[test]
    fn a_record_round_trips_flat() {
        let r = HookRecord {
            hook: "audit".into(),
            event: HookEvent::BeforeToolCall,
            call_id: Some("c1".into()),
            outcome: HookOutcome::Rewrote {
                original: serde_json::json!({"a": 1}),
                arguments: serde_json::json!({"a": 2}),
            },
            duration_us: 5,
        };
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["outcome"], "rewrote");
        assert_eq!(v["arguments"]["a"], 2);
        assert_eq!(serde_json::from_value::<HookRecord>(v).unwrap(), r);
    }
}
