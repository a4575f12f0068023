//! `hook-probe`: a test lifecycle hook whose answers the agent's tool calls
//! and results choose, so the host's hook calls can be checked end to end.
//! It is never installed by default. It subscribes to every event.
//!
//! - `before_tool_call`: a `"path"` containing `forbidden` is denied
//!   (`probe: forbidden path`); `"path": "draft.txt"` is rewritten to
//!   `"path": "rewritten.txt"`; a `"hook"` field of `trap`, `hang` or
//!   `alloc` panics, loops forever or allocates until memory runs out;
//!   anything else: `allow`.
//! - `after_tool_result`: `SECRET-PLAN` in the content is replaced by
//!   `[hidden by hook-probe]`; `HOOK-TRAP` in the content panics; a result
//!   containing `ANNOTATE-ME` gets the note `checked by hook-probe`.
//! - `before_model_call`: adds the context `hook-probe context: turn N`;
//!   panics when the latest user message contains `HOOK-TRAP`.
//! - every other event (notifications, which take no answer): answers
//!   `annotate("saw EVENT")` so the host records that it arrived (as a
//!   failure that changes nothing).

use paddock_sdk::hooks::{Answer, Event, EventKind};
use serde_json::json;

/// Every event.
pub const EVENTS: &[EventKind] = &[
    EventKind::AgentStarted,
    EventKind::AgentFinished,
    EventKind::BeforeModelCall,
    EventKind::AfterModelAnswer,
    EventKind::BeforeToolCall,
    EventKind::AfterToolResult,
    EventKind::ApprovalRequested,
    EventKind::ApprovalDecided,
    EventKind::WorkspaceChanged,
];

/// The probe's answer to `event` (or its fault).
pub fn on_event(event: Event) -> Answer {
    match event {
        Event::BeforeToolCall(call) => {
            match call.str_field("hook") {
                Some("trap") => panic!("hook-probe: trap requested"),
                Some("hang") => spin(),
                Some("alloc") => alloc(),
                _ => {}
            }
            match call.str_field("path") {
                Some(p) if p.contains("forbidden") => Answer::Deny("probe: forbidden path".into()),
                Some("draft.txt") => {
                    let mut input = call.input.clone();
                    input["path"] = json!("rewritten.txt");
                    Answer::Rewrite(input)
                }
                _ => Answer::Allow,
            }
        }
        Event::AfterToolResult { content, .. } => {
            if content.contains("HOOK-TRAP") {
                panic!("hook-probe: trap requested by a result");
            }
            if content.contains("SECRET-PLAN") {
                Answer::Redact(content.replace("SECRET-PLAN", "[hidden by hook-probe]"))
            } else if content.contains("ANNOTATE-ME") {
                Answer::Annotate("checked by hook-probe".into())
            } else {
                Answer::Proceed
            }
        }
        Event::BeforeModelCall {
            turn,
            last_user_message,
            ..
        } => {
            if last_user_message.contains("HOOK-TRAP") {
                panic!("hook-probe: trap requested by the task");
            }
            Answer::AddContext(format!("hook-probe context: turn {turn}"))
        }
        other => Answer::Annotate(format!("saw {}", name(&other))),
    }
}

fn name(event: &Event) -> &'static str {
    match event {
        Event::AgentStarted { .. } => "agent_started",
        Event::AgentFinished { .. } => "agent_finished",
        Event::BeforeModelCall { .. } => "before_model_call",
        Event::AfterModelAnswer { .. } => "after_model_answer",
        Event::BeforeToolCall(_) => "before_tool_call",
        Event::AfterToolResult { .. } => "after_tool_result",
        Event::ApprovalRequested { .. } => "approval_requested",
        Event::ApprovalDecided { .. } => "approval_decided",
        Event::WorkspaceChanged { .. } => "workspace_changed",
    }
}

paddock_sdk::export_hooks!(EVENTS, on_event);

/// Never returns and never calls the host: only an epoch deadline stops it.
fn spin() -> ! {
    let mut counter: u64 = 0;
    loop {
        counter = std::hint::black_box(counter.wrapping_add(1));
    }
}

/// Allocates 1 MiB chunks, touching every page, until allocation fails
/// (Rust then aborts: a trap).
fn alloc() -> ! {
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut chunk = vec![0u8; 1 << 20];
        for i in (0..chunk.len()).step_by(4096) {
            chunk[i] = 1;
        }
        chunks.push(std::hint::black_box(chunk));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use paddock_sdk::assessor::ToolCall;

    #[test]
    fn answers_on_cue() {
        let call = |input| Event::BeforeToolCall(ToolCall::new("write_file", input));
        assert_eq!(
            on_event(call(json!({"path": "forbidden/x"}))),
            Answer::Deny("probe: forbidden path".into())
        );
        assert_eq!(
            on_event(call(json!({"path": "draft.txt", "content": "c"}))),
            Answer::Rewrite(json!({"path": "rewritten.txt", "content": "c"}))
        );
        assert_eq!(on_event(call(json!({"path": "a"}))), Answer::Allow);
        let result = |content: &str| Event::AfterToolResult {
            call: ToolCall::new("read_file", json!({})),
            success: true,
            content: content.into(),
        };
        assert_eq!(
            on_event(result("x SECRET-PLAN y")),
            Answer::Redact("x [hidden by hook-probe] y".into())
        );
        assert_eq!(on_event(result("plain")), Answer::Proceed);
    }
}
