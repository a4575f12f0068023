//! Write Paddock lifecycle hooks in Rust.
//!
//! A hook is a WebAssembly component of the `hooks` world of
//! `paddock:plugin@0.2.0`. It names the lifecycle events it wants
//! ([`EventKind`]) and the host hands it each such [`Event`] of every agent;
//! it answers with an [`Answer`]: add context to a model call, allow, ask,
//! deny or rewrite a tool call, redact or annotate a tool result, or
//! [`Answer::Proceed`] (no opinion). The WIT file
//! (`wit/v0.2.0/hooks.wit`) documents each event's payload and which
//! answers it takes.
//!
//! ```
//! use paddock_sdk::hooks::{Answer, Event, EventKind};
//!
//! const EVENTS: &[EventKind] = &[EventKind::BeforeToolCall, EventKind::AfterToolResult];
//!
//! fn on_event(event: Event) -> Answer {
//!     match event {
//!         Event::BeforeToolCall(call) if call.tool == "execute_bash" => {
//!             match call.str_field("command") {
//!                 Some(cmd) if cmd.contains("deploy") => Answer::Deny("no deploys from agents".into()),
//!                 _ => Answer::Proceed,
//!             }
//!         }
//!         Event::AfterToolResult { content, .. } if content.contains("INTERNAL") => {
//!             Answer::Redact(content.replace("INTERNAL", "[redacted]"))
//!         }
//!         _ => Answer::Proceed,
//!     }
//! }
//!
//! paddock_sdk::export_hooks!(EVENTS, on_event);
//! # fn main() {
//! # let call = paddock_sdk::assessor::ToolCall::new("execute_bash", paddock_sdk::serde_json::json!({"command": "deploy"}));
//! # assert_eq!(on_event(Event::BeforeToolCall(call)), Answer::Deny("no deploys from agents".into()));
//! # }
//! ```
//!
//! How the host runs hooks (all in the WIT file): in name order, each in a
//! fresh instance under its own limits; hooks only make things stricter (an
//! [`Answer::Allow`] loosens nothing); a hook that traps, hangs, runs out of
//! memory or answers what its event does not take counts as the strictest
//! answer for that event (a tool call asks a human, a result is withheld).

use crate::assessor::ToolCall;
use crate::hooks_bindings::exports::paddock::plugin::hook as wit;
use serde_json::Value;

pub use wit::EventKind;

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunEnd {
    /// The model finished.
    Done,
    /// A user interrupted it.
    Interrupted,
    /// It stopped on an error or a limit.
    Failed,
}

/// One lifecycle event (see `wit/v0.2.0/hooks.wit` for every field).
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// An agent starts a run.
    AgentStarted {
        /// The agent.
        agent_id: String,
        /// Its model.
        model: String,
        /// The latest user message (the task or a follow-up).
        message: String,
    },
    /// An agent's run ended.
    AgentFinished {
        /// The agent.
        agent_id: String,
        /// How.
        end: RunEnd,
    },
    /// The agent is about to call the model ([`Answer::AddContext`]).
    BeforeModelCall {
        /// The agent.
        agent_id: String,
        /// The model.
        model: String,
        /// Model calls this run, counting this one.
        turn: u32,
        /// The latest user message.
        last_user_message: String,
    },
    /// The model answered.
    AfterModelAnswer {
        /// The agent.
        agent_id: String,
        /// The answer's text.
        text: Option<String>,
        /// The tool calls it asks for.
        tool_calls: Vec<ToolCall>,
        /// Why the model stopped.
        finish_reason: String,
    },
    /// A tool call is about to be judged and run ([`Answer::Allow`],
    /// [`Answer::Ask`], [`Answer::Deny`], [`Answer::Rewrite`]).
    BeforeToolCall(ToolCall),
    /// A tool call's result before the model sees it ([`Answer::Redact`],
    /// [`Answer::Annotate`]).
    AfterToolResult {
        /// The call as it ran.
        call: ToolCall,
        /// Whether it succeeded.
        success: bool,
        /// What the model is about to see.
        content: String,
    },
    /// A tool call waits for a human.
    ApprovalRequested {
        /// The call.
        call: ToolCall,
        /// Why the policy asks.
        reasons: Vec<String>,
    },
    /// An approval was decided.
    ApprovalDecided {
        /// The call.
        call: ToolCall,
        /// Whether it runs.
        approved: bool,
        /// Who decided.
        by: String,
        /// Their reason.
        reason: Option<String>,
    },
    /// A tool call that may write ran.
    WorkspaceChanged {
        /// The call.
        call: ToolCall,
        /// Whether it succeeded.
        success: bool,
    },
}

/// A hook's answer. Which event takes which answer is on each case;
/// [`Answer::Proceed`] is always right.
#[derive(Clone, Debug, PartialEq)]
pub enum Answer {
    /// No opinion.
    Proceed,
    /// `BeforeModelCall`: a note added at the end of this model call's input.
    AddContext(String),
    /// `BeforeToolCall`: no objection (loosens nothing).
    Allow,
    /// `BeforeToolCall`: a human must approve; the reason is shown to them.
    Ask(String),
    /// `BeforeToolCall`: refuse; the reason is what the model is told.
    Deny(String),
    /// `BeforeToolCall`: run with these arguments (a JSON object) instead.
    Rewrite(Value),
    /// `AfterToolResult`: replace the content the model sees.
    Redact(String),
    /// `AfterToolResult`: append a note to it.
    Annotate(String),
}

/// The glue [`export_hooks!`](crate::export_hooks) expands to. Not for
/// plugin authors.
#[doc(hidden)]
pub mod raw {
    use super::*;
    use crate::assessor::raw::RawToolCall;

    /// The typed call; a call whose input is not a JSON object keeps it as
    /// `null` (the host always sends an object).
    fn call(raw: RawToolCall) -> ToolCall {
        let input = serde_json::from_str(&raw.input).unwrap_or(Value::Null);
        ToolCall {
            tool: raw.tool,
            input,
            agent_id: raw.agent_id,
            call_id: raw.call_id,
        }
    }

    /// The typed event.
    pub fn event_from_raw(e: wit::Event) -> Event {
        match e {
            wit::Event::AgentStarted(a) => Event::AgentStarted {
                agent_id: a.agent_id,
                model: a.model,
                message: a.message,
            },
            wit::Event::AgentFinished(a) => Event::AgentFinished {
                agent_id: a.agent_id,
                end: match a.end {
                    wit::RunEnd::Done => RunEnd::Done,
                    wit::RunEnd::Interrupted => RunEnd::Interrupted,
                    wit::RunEnd::Failed => RunEnd::Failed,
                },
            },
            wit::Event::BeforeModelCall(b) => Event::BeforeModelCall {
                agent_id: b.agent_id,
                model: b.model,
                turn: b.turn,
                last_user_message: b.last_user_message,
            },
            wit::Event::AfterModelAnswer(m) => Event::AfterModelAnswer {
                agent_id: m.agent_id,
                text: m.text,
                tool_calls: m.tool_calls.into_iter().map(call).collect(),
                finish_reason: m.finish_reason,
            },
            wit::Event::BeforeToolCall(c) => Event::BeforeToolCall(call(c)),
            wit::Event::AfterToolResult(r) => Event::AfterToolResult {
                call: call(r.call),
                success: r.success,
                content: r.content,
            },
            wit::Event::ApprovalRequested(a) => Event::ApprovalRequested {
                call: call(a.call),
                reasons: a.reasons,
            },
            wit::Event::ApprovalDecided(a) => Event::ApprovalDecided {
                call: call(a.call),
                approved: a.approved,
                by: a.by,
                reason: a.reason,
            },
            wit::Event::WorkspaceChanged(w) => Event::WorkspaceChanged {
                call: call(w.call),
                success: w.success,
            },
        }
    }

    /// The contract's form of an answer.
    pub fn answer_to_raw(a: Answer) -> wit::Answer {
        match a {
            Answer::Proceed => wit::Answer::Proceed,
            Answer::AddContext(t) => wit::Answer::AddContext(t),
            Answer::Allow => wit::Answer::Allow,
            Answer::Ask(r) => wit::Answer::Ask(r),
            Answer::Deny(r) => wit::Answer::Deny(r),
            Answer::Rewrite(v) => wit::Answer::Rewrite(v.to_string()),
            Answer::Redact(t) => wit::Answer::Redact(t),
            Answer::Annotate(t) => wit::Answer::Annotate(t),
        }
    }

    pub use wit::{Answer as RawAnswer, Event as RawEvent, EventKind as RawEventKind};
}

/// Exports a hook: `EVENTS` (a `&[EventKind]`) are the events it wants and
/// `handler` (a `fn(Event) -> Answer`) answers each.
///
/// ```ignore
/// paddock_sdk::export_hooks!(EVENTS, on_event);
/// ```
#[macro_export]
macro_rules! export_hooks {
    ($events:expr, $handler:expr $(,)?) => {
        // Keeps the function "used" in native builds, where nothing is
        // exported.
        #[doc(hidden)]
        #[allow(dead_code)]
        fn __paddock_sdk_on_event(event: $crate::hooks::Event) -> $crate::hooks::Answer {
            ($handler)(event)
        }

        #[doc(hidden)]
        #[allow(dead_code)]
        fn __paddock_sdk_events() -> ::std::vec::Vec<$crate::hooks::EventKind> {
            let events: &[$crate::hooks::EventKind] = $events;
            events.to_vec()
        }

        #[cfg(target_family = "wasm")]
        #[doc(hidden)]
        #[allow(non_camel_case_types)]
        struct __paddock_sdk_HooksPlugin;

        #[cfg(target_family = "wasm")]
        impl $crate::hooks_bindings::exports::paddock::plugin::hook::Guest
            for __paddock_sdk_HooksPlugin
        {
            fn events() -> ::std::vec::Vec<$crate::hooks::raw::RawEventKind> {
                __paddock_sdk_events()
            }

            fn on_event(event: $crate::hooks::raw::RawEvent) -> $crate::hooks::raw::RawAnswer {
                $crate::hooks::raw::answer_to_raw(__paddock_sdk_on_event(
                    $crate::hooks::raw::event_from_raw(event),
                ))
            }
        }

        #[cfg(target_family = "wasm")]
        $crate::hooks_bindings::export!(__paddock_sdk_HooksPlugin with_types_in $crate::hooks_bindings);
    };
}

#[cfg(test)]
mod tests {
    use super::raw::*;
    use super::*;
    use crate::assessor::raw::RawToolCall;

    #[test]
    fn events_and_answers_cross_the_contract() {
        let raw = RawEvent::BeforeToolCall(RawToolCall {
            tool: "write_file".into(),
            input: r#"{"path":"a.txt"}"#.into(),
            agent_id: "ag".into(),
            call_id: "c1".into(),
        });
        let Event::BeforeToolCall(call) = event_from_raw(raw) else {
            panic!("wrong event");
        };
        assert_eq!(call.str_field("path"), Some("a.txt"));
        assert_eq!(
            answer_to_raw(Answer::Rewrite(serde_json::json!({"path": "b.txt"}))),
            RawAnswer::Rewrite(r#"{"path":"b.txt"}"#.into())
        );
        assert_eq!(answer_to_raw(Answer::Proceed), RawAnswer::Proceed);
    }
}
