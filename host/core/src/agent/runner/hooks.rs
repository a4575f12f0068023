//! Lifecycle hooks in the agent loop: which `hooks` plugins run at each
//! point, in what order, and what their answers (or failures) do.
//!
//! Hooks subscribed to an event run one after another in name order; each
//! sees what the earlier ones did (a rewritten call, a redacted result).
//! Everything a hook changes, and every failure, is recorded as a `hook`
//! event before it takes effect. Hooks only ever make things stricter:
//!
//! | event | answers it takes | a failing hook means |
//! | --- | --- | --- |
//! | `before_tool_call` | allow (no objection), ask, deny, rewrite | ask: a human decides |
//! | `after_tool_result` | redact, annotate | the result is withheld from the model |
//! | `before_model_call` | add context (this call only) | no context added |
//! | the others | — (notifications) | nothing changes; the failure is recorded |
//!
//! A `deny` ends the `before_tool_call` round (nothing is stricter); the
//! policy judges the call with its final (possibly rewritten) arguments and
//! [`tighten`] lays the hooks' asks and denies over its decision: a hook's
//! `allow` never overrides a rule's, an assessor's or the mode's `ask` or
//! `deny`.

use super::{Agent, AgentError};
use crate::policy::{Action, Decision};
use paddock_llm::ToolCallRequest;
use paddock_plugins::{HookAnswer, HookCall, HookPayload};
use paddock_protocol::events::EventBody;
use paddock_protocol::hooks::{HookEvent, HookOutcome, HookRecord};
use std::time::Instant;

/// One hook's answer, or why it failed.
pub(super) type Answered = Result<HookAnswer, String>;

/// What the `before_tool_call` hooks said together.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct ToolHooks {
    /// The arguments after every rewrite (`None`: not rewritten).
    pub rewritten: Option<serde_json::Value>,
    /// Why hooks ask (`hook: reason`).
    pub asks: Vec<String>,
    /// Why a hook denies (`hook: reason`); at most one, it ends the round.
    pub denies: Vec<String>,
}

impl ToolHooks {
    /// Takes hook `hook`'s answer about a call whose arguments are now
    /// `current`; returns what to record (nothing for "no opinion").
    pub fn take(
        &mut self,
        hook: &str,
        answered: Answered,
        current: &serde_json::Value,
    ) -> Option<HookOutcome> {
        match answered {
            Ok(HookAnswer::Proceed | HookAnswer::Allow) => None,
            Ok(HookAnswer::Ask(reason)) => {
                self.asks.push(format!("hook `{hook}` asks: {reason}"));
                Some(HookOutcome::Asked { reason })
            }
            Ok(HookAnswer::Deny(reason)) => {
                self.denies.push(format!("hook `{hook}` denies: {reason}"));
                Some(HookOutcome::Denied { reason })
            }
            Ok(HookAnswer::Rewrite(arguments)) => {
                if &arguments == current {
                    return None;
                }
                self.rewritten = Some(arguments.clone());
                Some(HookOutcome::Rewrote {
                    original: current.clone(),
                    arguments,
                })
            }
            // `check_answer` refuses these for this event; a failure.
            Ok(other) => self.take(
                hook,
                Err(format!("answered {other:?} to before_tool_call")),
                current,
            ),
            Err(error) => {
                self.asks
                    .push(format!("hook `{hook}` failed, so a human decides: {error}"));
                Some(HookOutcome::Failed {
                    error,
                    consequence: "asks a human".into(),
                })
            }
        }
    }

    /// Whether no later hook can change the outcome.
    pub fn settled(&self) -> bool {
        !self.denies.is_empty()
    }
}

/// Lays the hooks' verdict over the policy's decision: a deny denies, an
/// ask (or failure) turns `allow` into `ask`; nothing is loosened.
pub(super) fn tighten(decision: &mut Decision, hooks: &ToolHooks) {
    if !hooks.denies.is_empty() {
        decision.action = Action::Deny;
        decision.reasons.extend(hooks.denies.iter().cloned());
        return;
    }
    if !hooks.asks.is_empty() {
        if decision.action == Action::Allow {
            decision.action = Action::Ask;
        }
        decision.reasons.extend(hooks.asks.iter().cloned());
    }
}

/// What one `after_tool_result` answer does to the content.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum ResultStep {
    /// Nothing.
    Keep,
    /// Replace the content.
    Replace(String),
    /// Append a note.
    Append(String),
    /// Withhold the result (the hook failed); the text replaces it.
    Withhold(String),
}

/// The step and the record of hook `hook`'s `after_tool_result` answer.
pub(super) fn result_step(hook: &str, answered: Answered) -> (ResultStep, Option<HookOutcome>) {
    match answered {
        Ok(HookAnswer::Proceed) => (ResultStep::Keep, None),
        Ok(HookAnswer::Redact(text)) => (ResultStep::Replace(text), Some(HookOutcome::Redacted)),
        Ok(HookAnswer::Annotate(note)) => (
            ResultStep::Append(format!("\n\n[note from hook `{hook}`] {note}")),
            Some(HookOutcome::Annotated { note }),
        ),
        Ok(other) => result_step(
            hook,
            Err(format!("answered {other:?} to after_tool_result")),
        ),
        Err(error) => (
            ResultStep::Withhold(format!(
                "result withheld: hook `{hook}`, which checks tool results, failed: {error}"
            )),
            Some(HookOutcome::Failed {
                error,
                consequence: "result withheld".into(),
            }),
        ),
    }
}

/// The context of hook `hook`'s `before_model_call` answer and its record.
pub(super) fn context_step(
    hook: &str,
    answered: Answered,
) -> (Option<String>, Option<HookOutcome>) {
    match answered {
        Ok(HookAnswer::Proceed) => (None, None),
        Ok(HookAnswer::AddContext(text)) => (
            Some(format!("[context from hook `{hook}`]\n{text}")),
            Some(HookOutcome::ContextAdded { text }),
        ),
        Ok(other) => context_step(
            hook,
            Err(format!("answered {other:?} to before_model_call")),
        ),
        Err(error) => (
            None,
            Some(HookOutcome::Failed {
                error,
                consequence: "no context added".into(),
            }),
        ),
    }
}

impl Agent {
    /// The hook call of a tool call with `arguments`.
    pub(super) fn hook_call(&self, call: &ToolCallRequest, arguments: &str) -> HookCall {
        HookCall {
            tool: call.name.clone(),
            input: arguments.to_string(),
            agent_id: self.id.clone(),
            call_id: call.id.clone(),
        }
    }

    /// The enabled hooks subscribed to `event`, in order, or why they
    /// cannot be listed (logged). Where hooks can make things stricter, a
    /// registry that cannot be read counts as a failing hook.
    fn hooks_for(&self, event: HookEvent) -> Result<Vec<String>, String> {
        self.deps.plugins.hooks_for(event).map_err(|e| {
            tracing::error!(event = event.as_str(), error = %e, "cannot list the hooks");
            format!("the hooks could not be listed: {e}")
        })
    }

    /// Runs hook `hook` on `payload`: its answer or why it failed, and how
    /// long it took.
    async fn run_hook(&self, hook: &str, payload: &HookPayload) -> (Answered, u64) {
        let started = Instant::now();
        let answered = self
            .deps
            .plugins
            .call_hook(hook, payload)
            .await
            .map_err(|e| e.to_string());
        if let Err(e) = &answered {
            tracing::warn!(hook, event = payload.kind().as_str(), error = %e, "hook failed");
        }
        (answered, started.elapsed().as_micros() as u64)
    }

    /// Records what hook `hook` did about `payload`.
    async fn record_hook(
        &self,
        hook: &str,
        payload: &HookPayload,
        outcome: HookOutcome,
        duration_us: u64,
    ) -> Result<(), AgentError> {
        self.append(EventBody::Hook(HookRecord {
            hook: hook.to_string(),
            event: payload.kind(),
            call_id: payload.call_id().map(str::to_string),
            outcome,
            duration_us,
        }))
        .await?;
        Ok(())
    }

    /// Tells every hook subscribed to a notification-only event; their
    /// failures are recorded and change nothing.
    pub(super) async fn notify_hooks(&self, payload: HookPayload) -> Result<(), AgentError> {
        for hook in self.hooks_for(payload.kind()).unwrap_or_default() {
            let (answered, us) = self.run_hook(&hook, &payload).await;
            let error = match answered {
                Ok(HookAnswer::Proceed) => continue,
                Ok(other) => format!(
                    "answered {other:?} to {}, which takes no answer",
                    payload.kind()
                ),
                Err(e) => e,
            };
            let outcome = HookOutcome::Failed {
                error,
                consequence: "nothing changed".into(),
            };
            self.record_hook(&hook, &payload, outcome, us).await?;
        }
        Ok(())
    }

    /// `before_model_call`: the system notes the hooks add to this call.
    pub(super) async fn hooks_before_model(
        &self,
        payload: HookPayload,
    ) -> Result<Vec<String>, AgentError> {
        let mut notes = Vec::new();
        for hook in self
            .hooks_for(HookEvent::BeforeModelCall)
            .unwrap_or_default()
        {
            let (answered, us) = self.run_hook(&hook, &payload).await;
            let (note, outcome) = context_step(&hook, answered);
            if let Some(outcome) = outcome {
                self.record_hook(&hook, &payload, outcome, us).await?;
            }
            notes.extend(note);
        }
        Ok(notes)
    }

    /// `before_tool_call`: runs the hooks on `call` (with its parsed
    /// `arguments`), each on the arguments the previous left, and records
    /// what they did before the policy sees the call.
    pub(super) async fn hooks_before_tool(
        &self,
        call: &ToolCallRequest,
        arguments: &serde_json::Value,
    ) -> Result<ToolHooks, AgentError> {
        let mut hooks = ToolHooks::default();
        let names = match self.hooks_for(HookEvent::BeforeToolCall) {
            Ok(names) => names,
            Err(error) => {
                hooks.asks.push(format!("{error}, so a human decides"));
                return Ok(hooks);
            }
        };
        for hook in names {
            let current = hooks.rewritten.clone().unwrap_or_else(|| arguments.clone());
            let payload = HookPayload::BeforeToolCall(self.hook_call(call, &current.to_string()));
            let (answered, us) = self.run_hook(&hook, &payload).await;
            if let Some(outcome) = hooks.take(&hook, answered, &current) {
                self.record_hook(&hook, &payload, outcome, us).await?;
            }
            if hooks.settled() {
                break;
            }
        }
        Ok(hooks)
    }

    /// `after_tool_result`: lets the hooks redact or annotate `result` (a
    /// `tool.result`) before it is stored and shown to the model. Hooks see
    /// the content as it will be stored (secrets redacted).
    pub(super) async fn hooks_after_result(
        &self,
        call: &ToolCallRequest,
        arguments: &str,
        result: EventBody,
    ) -> Result<EventBody, AgentError> {
        let listed = self.hooks_for(HookEvent::AfterToolResult);
        if listed.as_ref().is_ok_and(Vec::is_empty) {
            return Ok(result);
        }
        let mut result = self.deps.redactor.redact_event(result);
        let EventBody::ToolResult {
            success, content, ..
        } = &mut result
        else {
            return Ok(result);
        };
        let names = match listed {
            Ok(names) => names,
            Err(error) => {
                *content = format!("result withheld: {error}");
                *success = false;
                return Ok(result);
            }
        };
        for hook in names {
            let payload = HookPayload::AfterToolResult {
                call: self.hook_call(call, arguments),
                success: *success,
                content: content.clone(),
            };
            let (answered, us) = self.run_hook(&hook, &payload).await;
            let (step, outcome) = result_step(&hook, answered);
            if let Some(outcome) = outcome {
                self.record_hook(&hook, &payload, outcome, us).await?;
            }
            match step {
                ResultStep::Keep => {}
                ResultStep::Replace(text) => *content = text,
                ResultStep::Append(note) => content.push_str(&note),
                ResultStep::Withhold(text) => {
                    *content = text;
                    *success = false;
                    break;
                }
            }
        }
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{ApprovalMode, RiskLevel};
    use serde_json::json;

    fn decision(action: Action) -> Decision {
        Decision {
            action,
            level: RiskLevel::Low,
            reasons: vec!["rule".into()],
            rule: None,
            rule_scope: None,
            mode: ApprovalMode::Auto,
            verdicts: Vec::new(),
        }
    }

    #[test]
    fn hooks_only_tighten_the_policy() {
        let allow = ToolHooks::default();
        for action in [Action::Allow, Action::Ask, Action::Deny] {
            let mut d = decision(action);
            tighten(&mut d, &allow);
            assert_eq!(d.action, action, "no opinion changes nothing");
        }
        let ask = ToolHooks {
            asks: vec!["hook `a` asks: why".into()],
            ..Default::default()
        };
        let mut d = decision(Action::Allow);
        tighten(&mut d, &ask);
        assert_eq!(d.action, Action::Ask);
        assert!(d.reasons.iter().any(|r| r.contains("hook `a`")));
        let mut d = decision(Action::Deny);
        tighten(&mut d, &ask);
        assert_eq!(d.action, Action::Deny, "an ask never loosens a deny");
        let deny = ToolHooks {
            denies: vec!["hook `b` denies: no".into()],
            ..Default::default()
        };
        for action in [Action::Allow, Action::Ask, Action::Deny] {
            let mut d = decision(action);
            tighten(&mut d, &deny);
            assert_eq!(d.action, Action::Deny);
        }
    }

    #[test]
    fn a_hook_allow_is_no_opinion_and_a_failure_asks() {
        let args = json!({"a": 1});
        let mut h = ToolHooks::default();
        assert_eq!(h.take("a", Ok(HookAnswer::Allow), &args), None);
        assert_eq!(h, ToolHooks::default());
        let rec = h.take("b", Err("plugin `b` timed out after 10 ms".into()), &args);
        assert!(
            matches!(rec, Some(HookOutcome::Failed { ref consequence, .. }) if consequence == "asks a human")
        );
        let mut d = decision(Action::Allow);
        tighten(&mut d, &h);
        assert_eq!(d.action, Action::Ask, "a failing hook makes a human decide");
        // An answer the event does not take is a failure too.
        let mut h = ToolHooks::default();
        h.take("c", Ok(HookAnswer::Redact("x".into())), &args);
        assert_eq!(h.asks.len(), 1);
    }

    #[test]
    fn rewrites_chain_and_record_both_versions_and_a_deny_settles() {
        let mut h = ToolHooks::default();
        let first = json!({"path": "a"});
        let rec = h.take("a", Ok(HookAnswer::Rewrite(json!({"path": "b"}))), &first);
        assert_eq!(
            rec,
            Some(HookOutcome::Rewrote {
                original: json!({"path": "a"}),
                arguments: json!({"path": "b"})
            })
        );
        assert_eq!(h.rewritten, Some(json!({"path": "b"})));
        // Rewriting to the same arguments records nothing.
        assert_eq!(
            h.take(
                "b",
                Ok(HookAnswer::Rewrite(json!({"path": "b"}))),
                &json!({"path": "b"})
            ),
            None
        );
        assert!(!h.settled());
        h.take(
            "c",
            Ok(HookAnswer::Deny("no".into())),
            &json!({"path": "b"}),
        );
        assert!(h.settled());
    }

    #[test]
    fn a_failing_result_hook_withholds_the_result() {
        assert_eq!(
            result_step("a", Ok(HookAnswer::Proceed)),
            (ResultStep::Keep, None)
        );
        let (step, rec) = result_step("a", Ok(HookAnswer::Redact("[redacted]".into())));
        assert_eq!(step, ResultStep::Replace("[redacted]".into()));
        assert_eq!(rec, Some(HookOutcome::Redacted));
        let (step, _) = result_step("a", Ok(HookAnswer::Annotate("checked".into())));
        assert!(matches!(step, ResultStep::Append(ref n) if n.contains("checked")));
        for failed in [
            Err("plugin `a` ran out of memory".to_string()),
            Ok(HookAnswer::Deny("wrong event".into())),
        ] {
            let (step, rec) = result_step("a", failed);
            assert!(
                matches!(step, ResultStep::Withhold(ref t) if t.starts_with("result withheld"))
            );
            assert!(matches!(rec, Some(HookOutcome::Failed { .. })));
        }
    }

    #[test]
    fn a_failing_context_hook_adds_nothing() {
        let (note, rec) = context_step("a", Ok(HookAnswer::AddContext("use tabs".into())));
        assert!(note.is_some_and(|n| n.contains("use tabs")));
        assert_eq!(
            rec,
            Some(HookOutcome::ContextAdded {
                text: "use tabs".into()
            })
        );
        let (note, rec) = context_step("a", Err("trap".into()));
        assert_eq!(note, None);
        assert!(matches!(rec, Some(HookOutcome::Failed { .. })));
    }
}
