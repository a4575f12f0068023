//! Calls into `hooks` components (`paddock:plugin@0.2.0`): the events a
//! hook subscribed to (asked once, at install) and one `on-event` call per
//! lifecycle event, each in a fresh instance under the hook's limits and
//! capabilities, with no workspace.
//!
//! This module checks an answer against its event (a `deny` to
//! `after-tool-result` breaks the contract, a rewrite must be a JSON
//! object, texts are capped) and turns every failure into a [`PluginError`]
//! naming the hook. What a failure means for the agent (always something
//! stricter) is decided by the caller, the agent loop.

use super::bindings::v0_1_0::tool::paddock::plugin::types as wit_types;
use super::bindings::v0_2_0::hooks::exports::paddock::plugin::hook as wit;
use super::host::{PluginError, PluginHost};
use super::manifest::World;
use super::runtime::{CallError, CallTarget, LoadedPlugin};
use paddock_protocol::hooks::HookEvent;
use std::sync::Arc;
use tracing::Instrument;

/// Longest reason (ask, deny) kept from a hook; longer ones are cut.
const REASON_CAP: usize = 1000;

/// A tool call as hooks see it.
#[derive(Clone, Debug, PartialEq)]
pub struct HookCall {
    /// The tool's name as offered to the model.
    pub tool: String,
    /// Its arguments, a JSON object's text.
    pub input: String,
    /// The agent making it.
    pub agent_id: String,
    /// The model's id for it.
    pub call_id: String,
}

/// How a run ended (`agent-finished`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunEnd {
    /// The model finished.
    Done,
    /// A user interrupted it.
    Interrupted,
    /// It stopped on an error or a limit.
    Failed,
}

/// One lifecycle event with its payload (see `wit/v0.2.0/hooks.wit`).
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// An agent starts a run.
    AgentStarted {
        /// The agent.
        agent_id: String,
        /// Its model.
        model: String,
        /// The latest user message.
        message: String,
    },
    /// A run ended.
    AgentFinished {
        /// The agent.
        agent_id: String,
        /// How.
        end: RunEnd,
    },
    /// A model call is about to be made.
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
        /// Its text.
        text: Option<String>,
        /// Its tool calls.
        tool_calls: Vec<HookCall>,
        /// Why it stopped.
        finish_reason: String,
    },
    /// A tool call is about to be judged and run.
    BeforeToolCall(HookCall),
    /// A tool call's result, before the model sees it.
    AfterToolResult {
        /// The call as it ran.
        call: HookCall,
        /// Whether it succeeded.
        success: bool,
        /// What the model is about to see.
        content: String,
    },
    /// A call waits for approval.
    ApprovalRequested {
        /// The call.
        call: HookCall,
        /// Why the policy asks.
        reasons: Vec<String>,
    },
    /// An approval was decided.
    ApprovalDecided {
        /// The call.
        call: HookCall,
        /// Whether it runs.
        approved: bool,
        /// Who decided.
        by: String,
        /// Their reason.
        reason: Option<String>,
    },
    /// A call that may write ran.
    WorkspaceChanged {
        /// The call.
        call: HookCall,
        /// Whether it succeeded.
        success: bool,
    },
}

impl Event {
    /// Which event this is.
    pub fn kind(&self) -> HookEvent {
        match self {
            Event::AgentStarted { .. } => HookEvent::AgentStarted,
            Event::AgentFinished { .. } => HookEvent::AgentFinished,
            Event::BeforeModelCall { .. } => HookEvent::BeforeModelCall,
            Event::AfterModelAnswer { .. } => HookEvent::AfterModelAnswer,
            Event::BeforeToolCall(_) => HookEvent::BeforeToolCall,
            Event::AfterToolResult { .. } => HookEvent::AfterToolResult,
            Event::ApprovalRequested { .. } => HookEvent::ApprovalRequested,
            Event::ApprovalDecided { .. } => HookEvent::ApprovalDecided,
            Event::WorkspaceChanged { .. } => HookEvent::WorkspaceChanged,
        }
    }

    /// The agent it concerns.
    pub fn agent_id(&self) -> &str {
        match self {
            Event::AgentStarted { agent_id, .. }
            | Event::AgentFinished { agent_id, .. }
            | Event::BeforeModelCall { agent_id, .. }
            | Event::AfterModelAnswer { agent_id, .. } => agent_id,
            Event::BeforeToolCall(call)
            | Event::AfterToolResult { call, .. }
            | Event::ApprovalRequested { call, .. }
            | Event::ApprovalDecided { call, .. }
            | Event::WorkspaceChanged { call, .. } => &call.agent_id,
        }
    }

    /// The tool call it concerns, if any.
    pub fn call_id(&self) -> Option<&str> {
        match self {
            Event::BeforeToolCall(call)
            | Event::AfterToolResult { call, .. }
            | Event::ApprovalRequested { call, .. }
            | Event::ApprovalDecided { call, .. }
            | Event::WorkspaceChanged { call, .. } => Some(&call.call_id),
            _ => None,
        }
    }
}

/// A hook's (checked) answer to one event.
#[derive(Clone, Debug, PartialEq)]
pub enum HookAnswer {
    /// No opinion.
    Proceed,
    /// Text for this model call (`before-model-call`).
    AddContext(String),
    /// No objection to the call (`before-tool-call`; loosens nothing).
    Allow,
    /// A human must approve the call (`before-tool-call`).
    Ask(String),
    /// Refuse the call (`before-tool-call`).
    Deny(String),
    /// Run the call with these arguments, a JSON object (`before-tool-call`).
    Rewrite(serde_json::Value),
    /// Replace the result's content (`after-tool-result`).
    Redact(String),
    /// Append a note to the result (`after-tool-result`).
    Annotate(String),
}

fn call_to_wit(c: &HookCall) -> wit_types::ToolCall {
    wit_types::ToolCall {
        tool: c.tool.clone(),
        input: c.input.clone(),
        agent_id: c.agent_id.clone(),
        call_id: c.call_id.clone(),
    }
}

fn kind_from_wit(k: wit::EventKind) -> HookEvent {
    match k {
        wit::EventKind::AgentStarted => HookEvent::AgentStarted,
        wit::EventKind::AgentFinished => HookEvent::AgentFinished,
        wit::EventKind::BeforeModelCall => HookEvent::BeforeModelCall,
        wit::EventKind::AfterModelAnswer => HookEvent::AfterModelAnswer,
        wit::EventKind::BeforeToolCall => HookEvent::BeforeToolCall,
        wit::EventKind::AfterToolResult => HookEvent::AfterToolResult,
        wit::EventKind::ApprovalRequested => HookEvent::ApprovalRequested,
        wit::EventKind::ApprovalDecided => HookEvent::ApprovalDecided,
        wit::EventKind::WorkspaceChanged => HookEvent::WorkspaceChanged,
    }
}

fn event_to_wit(e: &Event) -> wit::Event {
    match e {
        Event::AgentStarted {
            agent_id,
            model,
            message,
        } => wit::Event::AgentStarted(wit::AgentStarted {
            agent_id: agent_id.clone(),
            model: model.clone(),
            message: message.clone(),
        }),
        Event::AgentFinished { agent_id, end } => wit::Event::AgentFinished(wit::AgentFinished {
            agent_id: agent_id.clone(),
            end: match end {
                RunEnd::Done => wit::RunEnd::Done,
                RunEnd::Interrupted => wit::RunEnd::Interrupted,
                RunEnd::Failed => wit::RunEnd::Failed,
            },
        }),
        Event::BeforeModelCall {
            agent_id,
            model,
            turn,
            last_user_message,
        } => wit::Event::BeforeModelCall(wit::BeforeModelCall {
            agent_id: agent_id.clone(),
            model: model.clone(),
            turn: *turn,
            last_user_message: last_user_message.clone(),
        }),
        Event::AfterModelAnswer {
            agent_id,
            text,
            tool_calls,
            finish_reason,
        } => wit::Event::AfterModelAnswer(wit::ModelAnswer {
            agent_id: agent_id.clone(),
            text: text.clone(),
            tool_calls: tool_calls.iter().map(call_to_wit).collect(),
            finish_reason: finish_reason.clone(),
        }),
        Event::BeforeToolCall(call) => wit::Event::BeforeToolCall(call_to_wit(call)),
        Event::AfterToolResult {
            call,
            success,
            content,
        } => wit::Event::AfterToolResult(wit::ToolResult {
            call: call_to_wit(call),
            success: *success,
            content: content.clone(),
        }),
        Event::ApprovalRequested { call, reasons } => {
            wit::Event::ApprovalRequested(wit::ApprovalRequested {
                call: call_to_wit(call),
                reasons: reasons.clone(),
            })
        }
        Event::ApprovalDecided {
            call,
            approved,
            by,
            reason,
        } => wit::Event::ApprovalDecided(wit::ApprovalDecided {
            call: call_to_wit(call),
            approved: *approved,
            by: by.clone(),
            reason: reason.clone(),
        }),
        Event::WorkspaceChanged { call, success } => {
            wit::Event::WorkspaceChanged(wit::WorkspaceChanged {
                call: call_to_wit(call),
                success: *success,
            })
        }
    }
}

/// Why an answer is refused.
type Refusal = String;

/// Checks a hook's answer against its event: the cases the event allows,
/// a rewrite that is a JSON object, texts within `cap` bytes (reasons are
/// cut to [`REASON_CAP`] instead).
fn check_answer(event: HookEvent, answer: wit::Answer, cap: usize) -> Result<HookAnswer, Refusal> {
    let allowed = |ok: bool, case: &str| {
        if ok {
            Ok(())
        } else {
            Err(format!(
                "it answered `{case}` to `{event}`, which does not accept it"
            ))
        }
    };
    let text = |t: String, what: &str| {
        if t.len() > cap {
            Err(format!(
                "its {what} is {} bytes, over its output cap of {cap} bytes",
                t.len()
            ))
        } else {
            Ok(t)
        }
    };
    let before_tool = event == HookEvent::BeforeToolCall;
    let after_tool = event == HookEvent::AfterToolResult;
    Ok(match answer {
        wit::Answer::Proceed => HookAnswer::Proceed,
        wit::Answer::AddContext(t) => {
            allowed(event == HookEvent::BeforeModelCall, "add-context")?;
            let t = text(t, "context")?;
            if t.trim().is_empty() {
                HookAnswer::Proceed
            } else {
                HookAnswer::AddContext(t)
            }
        }
        wit::Answer::Allow => {
            allowed(before_tool, "allow")?;
            HookAnswer::Allow
        }
        wit::Answer::Ask(r) => {
            allowed(before_tool, "ask")?;
            HookAnswer::Ask(reason(r))
        }
        wit::Answer::Deny(r) => {
            allowed(before_tool, "deny")?;
            HookAnswer::Deny(reason(r))
        }
        wit::Answer::Rewrite(args) => {
            allowed(before_tool, "rewrite")?;
            let args = text(args, "rewrite")?;
            let value: serde_json::Value =
                serde_json::from_str(&args).map_err(|e| format!("its rewrite is not JSON: {e}"))?;
            if !value.is_object() {
                return Err("its rewrite is not a JSON object".into());
            }
            HookAnswer::Rewrite(value)
        }
        wit::Answer::Redact(t) => {
            allowed(after_tool, "redact")?;
            HookAnswer::Redact(text(t, "redaction")?)
        }
        wit::Answer::Annotate(t) => {
            allowed(after_tool, "annotate")?;
            HookAnswer::Annotate(text(t, "annotation")?)
        }
    })
}

/// A reason trimmed, cut to [`REASON_CAP`] and never empty.
fn reason(r: String) -> String {
    let mut r = r.trim().to_string();
    if r.len() > REASON_CAP {
        let mut cut = REASON_CAP;
        while !r.is_char_boundary(cut) {
            cut -= 1;
        }
        r.truncate(cut);
        r.push('…');
    }
    if r.is_empty() {
        "no reason given".into()
    } else {
        r
    }
}

impl LoadedPlugin {
    fn not_a_hook(&self) -> CallError {
        self.contract(format!("a `{}` plugin is not a hook", self.world()))
    }

    fn output_cap(&self) -> usize {
        usize::try_from(self.limits().max_output_kb.saturating_mul(1024)).unwrap_or(usize::MAX)
    }

    /// Calls `events` in a fresh instance: the events the hook subscribes
    /// to, without duplicates, in lifecycle order.
    pub async fn hook_events(self: &Arc<Self>) -> Result<Vec<HookEvent>, CallError> {
        self.off_thread(async |this| {
            let pre = this.hooks_pre().ok_or_else(|| this.not_a_hook())?;
            let target = CallTarget {
                call_id: "events".into(),
                ..Default::default()
            };
            let kinds = this
                .with_instance(&target, async |store| {
                    let inst = pre.instantiate_async(&mut *store).await?;
                    inst.paddock_plugin_hook().call_events(&mut *store).await
                })
                .await?;
            let wanted: std::collections::BTreeSet<HookEvent> =
                kinds.into_iter().map(kind_from_wit).collect();
            Ok(HookEvent::ALL
                .into_iter()
                .filter(|k| wanted.contains(k))
                .collect())
        })
        .await
    }

    /// Calls `on-event` in a fresh instance and checks the answer.
    async fn on_event(self: &Arc<Self>, event: Event) -> Result<HookAnswer, CallError> {
        self.off_thread(async move |this| {
            let pre = this.hooks_pre().ok_or_else(|| this.not_a_hook())?;
            let target = CallTarget {
                agent_id: event.agent_id().to_string(),
                call_id: event.call_id().unwrap_or_default().to_string(),
                ..Default::default()
            };
            let kind = event.kind();
            let raw = event_to_wit(&event);
            let answer = this
                .with_instance(&target, async |store| {
                    let inst = pre.instantiate_async(&mut *store).await?;
                    inst.paddock_plugin_hook()
                        .call_on_event(&mut *store, &raw)
                        .await
                })
                .await?;
            check_answer(kind, answer, this.output_cap()).map_err(|m| this.contract(m))
        })
        .await
    }
}

impl PluginHost {
    /// The enabled `hooks` plugins subscribed to `event`, in name order
    /// (the order they run in).
    pub fn hooks_for(&self, event: HookEvent) -> Result<Vec<String>, PluginError> {
        // The registry's map is keyed by name: already in name order.
        self.enabled_where(|r| r.world == World::Hooks && r.hook_events.contains(&event))
    }

    /// Lets hook `hook` handle `event` in a fresh instance.
    pub async fn call_hook(&self, hook: &str, event: &Event) -> Result<HookAnswer, PluginError> {
        let plugin = self.load_enabled(hook, World::Hooks, "a hook")?;
        let kind = event.kind();
        let span = tracing::info_span!(
            "hook",
            hook,
            event = kind.as_str(),
            agent = event.agent_id(),
            call = event.call_id().unwrap_or_default()
        );
        plugin
            .on_event(event.clone())
            .instrument(span)
            .await
            .map_err(|e| PluginError::Tool(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_event_accepts_only_its_own_answers() {
        use HookEvent::*;
        let ok = |e, a| check_answer(e, a, 1024);
        assert_eq!(
            ok(AgentStarted, wit::Answer::Proceed),
            Ok(HookAnswer::Proceed)
        );
        assert!(ok(AfterToolResult, wit::Answer::Deny("x".into())).is_err());
        assert!(ok(BeforeModelCall, wit::Answer::Rewrite("{}".into())).is_err());
        assert!(ok(BeforeToolCall, wit::Answer::Redact("x".into())).is_err());
        assert!(ok(ApprovalDecided, wit::Answer::AddContext("x".into())).is_err());
        assert!(ok(WorkspaceChanged, wit::Answer::Allow).is_err());
        assert_eq!(
            ok(BeforeModelCall, wit::Answer::AddContext("note".into())),
            Ok(HookAnswer::AddContext("note".into()))
        );
        assert_eq!(
            ok(AfterToolResult, wit::Answer::Annotate("n".into())),
            Ok(HookAnswer::Annotate("n".into()))
        );
        let e = ok(AfterToolResult, wit::Answer::Ask("x".into())).unwrap_err();
        assert!(
            e.contains("`ask`") && e.contains("after_tool_result"),
            "{e}"
        );
    }

    #[test]
    fn a_rewrite_must_be_a_json_object() {
        let rw = |s: &str| {
            check_answer(
                HookEvent::BeforeToolCall,
                wit::Answer::Rewrite(s.into()),
                1024,
            )
        };
        assert_eq!(
            rw(r#"{"path":"b"}"#),
            Ok(HookAnswer::Rewrite(serde_json::json!({"path": "b"})))
        );
        assert!(rw("[1]").unwrap_err().contains("not a JSON object"));
        assert!(rw("{").unwrap_err().contains("not JSON"));
    }

    #[test]
    fn texts_are_capped_and_reasons_never_empty() {
        let big = "x".repeat(2000);
        assert!(
            check_answer(
                HookEvent::AfterToolResult,
                wit::Answer::Redact(big.clone()),
                1024
            )
            .unwrap_err()
            .contains("over its output cap")
        );
        assert_eq!(
            check_answer(
                HookEvent::BeforeToolCall,
                wit::Answer::Deny("  ".into()),
                1024
            ),
            Ok(HookAnswer::Deny("no reason given".into()))
        );
        match check_answer(HookEvent::BeforeToolCall, wit::Answer::Ask(big), 1024) {
            Ok(HookAnswer::Ask(r)) => assert!(r.len() <= REASON_CAP + '…'.len_utf8()),
            other => panic!("{other:?}"),
        }
        // Blank context adds nothing.
        assert_eq!(
            check_answer(
                HookEvent::BeforeModelCall,
                wit::Answer::AddContext(" ".into()),
                1024
            ),
            Ok(HookAnswer::Proceed)
        );
    }
}
