//! Approvals: what the policy decided about a call, recorded (event and
//! audit entry); a call the policy sends to a human, asked
//! (`approval.requested` and the pending approval, in one transaction),
//! awaited (a decision, its timeout or an interrupt), and applied —
//! `approval.decided`, the audit entry and, when the decider chose to
//! remember it, the exact rule for this agent or for everyone.
//!
//! Decisions are made in the store, where exactly one decider wins (see
//! `Manager::decide`); this room only reads what won.

use super::{Agent, AgentError, Patience};
use crate::agent::actor::Actor;
use crate::agent::context::{Gate, refusal};
use crate::policy::rules::exact_rule;
use crate::policy::{Action, Decision, RiskLevel, RuleSpec, RuleView, Scope};
use chrono::{DateTime, Utc};
use paddock_llm::ToolCallRequest;
use paddock_plugins::HookPayload;
use paddock_protocol::events::{AgentStatus, EventBody, RememberRules};
use paddock_protocol::policy::Remember;
use paddock_store::{ApprovalRecord, ApprovalStatus, NewApproval, NewAudit};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How waiting for a human ended.
#[derive(Debug, PartialEq)]
pub(super) enum Approval {
    /// Approved: the call runs.
    Approved,
    /// Not approved: the call is refused with this message.
    Refused(String),
    /// The user interrupted the agent while it waited.
    Interrupted,
}

/// Where a call stands with the policy before it runs.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Standing {
    /// What the policy decided.
    pub action: Action,
    /// The risk level it saw.
    pub level: RiskLevel,
    /// Why.
    pub reasons: Vec<String>,
    /// Whether an approval was requested already (before a restart).
    pub requested: bool,
}

impl Standing {
    /// A decision the policy just made.
    pub(super) fn decided(decision: Decision) -> Standing {
        Standing {
            action: decision.action,
            level: decision.level,
            reasons: decision.reasons,
            requested: false,
        }
    }

    /// Where the log says the call stood when the host restarted; the
    /// refusal the model is told when a human refused it.
    pub(super) fn of_gate(gate: Gate) -> Result<Standing, String> {
        let standing = |action, requested| Standing {
            action,
            level: RiskLevel::default(),
            reasons: Vec::new(),
            requested,
        };
        match gate {
            Gate::Decided {
                action,
                level,
                reasons,
            } => Ok(Standing {
                action,
                level,
                reasons,
                requested: false,
            }),
            Gate::Requested => Ok(standing(Action::Ask, true)),
            Gate::Resolved { approved: true, .. } => Ok(standing(Action::Allow, false)),
            Gate::Resolved {
                approved: false,
                refusal,
            } => Err(refusal),
        }
    }
}

impl Agent {
    /// Stores a decision (event and audit entry).
    pub(super) async fn record_decision(
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
            None,
            decision.reasons.join("; "),
            serde_json::to_value(decision).unwrap_or_default(),
        )
        .await
    }

    /// Asks a human about `call` — or, when `standing` says it was asked
    /// before a restart, goes on waiting for that approval — and waits for
    /// the answer.
    pub(super) async fn ask(
        &self,
        call: &ToolCallRequest,
        arguments: &serde_json::Value,
        standing: Standing,
        token: &CancellationToken,
    ) -> Result<Approval, AgentError> {
        let asked = if standing.requested {
            self.deps.store.latest_approval(&self.id, &call.id).await?
        } else {
            None
        };
        let record = match asked {
            Some(r) => r,
            None => {
                self.request_approval(call, arguments, standing.level, standing.reasons)
                    .await?
            }
        };
        self.await_approval(call, arguments, record, token).await
    }

    /// Records `approval.requested` and the pending approval, atomically.
    async fn request_approval(
        &self,
        call: &ToolCallRequest,
        arguments: &serde_json::Value,
        level: RiskLevel,
        reasons: Vec<String>,
    ) -> Result<ApprovalRecord, AgentError> {
        let timeout =
            self.config
                .approval_timeout_secs
                .or(self.deps.policy.config().approval_timeout_secs);
        let expires_at = expiry(timeout, Utc::now());
        let body = EventBody::ApprovalRequested {
            call_id: call.id.clone(),
            tool: call.name.clone(),
            arguments: arguments.clone(),
            level,
            reasons: reasons.clone(),
            diff: crate::policy::preview::file_change(
                &self.config.workspace,
                &call.name,
                arguments,
            ),
            remember: remember_rules(&call.name, arguments),
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
        self.notify_hooks(HookPayload::ApprovalRequested {
            call: self.hook_call(call, &arguments.to_string()),
            reasons,
        })
        .await?;
        self.deps
            .store
            .approval(&self.id, event.seq)
            .await?
            .ok_or_else(|| AgentError::Invalid("the approval just stored is missing".into()))
    }

    /// Waits for a human's decision on the call's approval `record`, its
    /// timeout or an interrupt. Decisions are made in the store, where
    /// exactly one decider wins; the agent then records it as
    /// `approval.decided`.
    async fn await_approval(
        &self,
        call: &ToolCallRequest,
        arguments: &serde_json::Value,
        mut record: ApprovalRecord,
        token: &CancellationToken,
    ) -> Result<Approval, AgentError> {
        let store = &self.deps.store;
        self.set_status(AgentStatus::WaitingApproval, None).await?;
        loop {
            if record.status != ApprovalStatus::Pending {
                return self.apply_decision(call, arguments, &record).await;
            }
            let expiry = match time_left(record.expires_at, Utc::now()) {
                Some(left) => tokio::time::Instant::now() + left,
                None => tokio::time::Instant::now() + Duration::from_secs(365 * 24 * 3600),
            };
            // Decisions reach the store from any host: read it now and
            // then even without a wake-up.
            let recheck = tokio::time::Instant::now() + APPROVAL_RECHECK;
            let woken = tokio::select! {
                _ = self.approvals.notified() => Wakeup::Decided,
                _ = token.cancelled() => Wakeup::Interrupted,
                _ = tokio::time::sleep_until(expiry) => Wakeup::TimedOut,
                _ = tokio::time::sleep_until(recheck) => Wakeup::Decided,
                // A safe point: the approval is stored; another host waits
                // for it as well.
                _ = self.handover.cancelled() => return Err(AgentError::HandedOver(self.id.clone())),
            };
            if let Some((status, by)) = woken.closes() {
                store
                    .decide_approval(&self.id, &call.id, status, by, None, None, Utc::now())
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

    /// Records a decided approval (`approval.decided`, the audit entry and,
    /// when remembered, the rule) and says what follows.
    async fn apply_decision(
        &self,
        call: &ToolCallRequest,
        arguments: &serde_json::Value,
        record: &ApprovalRecord,
    ) -> Result<Approval, AgentError> {
        let by = decided_by(record);
        let who = self.take_decider(&call.id);
        let remembered = remembered(
            &self.id,
            record.status,
            stored_remember(record.remember.as_deref()),
            &call.name,
            arguments,
        );
        // After a restart the rule may be stored already.
        if let Some(r) = &remembered
            && !rule_known(&self.deps.policy.rules(), r)
        {
            let spec = RuleSpec {
                rule: r.rule.clone(),
                scope: r.scope.clone(),
                matches: Vec::new(),
                not_matches: Vec::new(),
            };
            match self.deps.policy.add_rule(spec, "approval", &by).await {
                Ok(view) => {
                    self.audit(
                        call,
                        "rule",
                        "added",
                        &by,
                        who.as_ref(),
                        format!("remembered an approval decision ({})", r.scope),
                        serde_json::to_value(&view).unwrap_or_default(),
                    )
                    .await?;
                }
                Err(e) => {
                    tracing::error!(error = %e, rule = %r.rule, "cannot remember the decision")
                }
            }
        }
        self.append(decided_body(call, record, &by, remembered.as_ref()))
            .await?;
        self.notify_hooks(HookPayload::ApprovalDecided {
            call: self.hook_call(call, &arguments.to_string()),
            approved: record.status == ApprovalStatus::Approved,
            by: by.clone(),
            reason: record.reason.clone(),
        })
        .await?;
        self.audit(
            call,
            "approval",
            record.status.as_str(),
            &by,
            who.as_ref(),
            record.reason.clone().unwrap_or_default(),
            serde_json::to_value(record).unwrap_or_default(),
        )
        .await?;
        Ok(outcome(record, &by))
    }

    /// Adds an audit entry about `call` (redacted), by `actor` — the user
    /// and token of `who` when a person acted through the manager.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn audit(
        &self,
        call: &ToolCallRequest,
        kind: &str,
        action: &str,
        actor: &str,
        who: Option<&Actor>,
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
                user_id: who.and_then(|w| w.user_id.clone()),
                token_id: who.and_then(|w| w.token_id.clone()),
            })
            .await?;
        Ok(())
    }
}

/// How often an agent waiting for an approval reads it again on its own
/// (a decision made on another host wakes it through the database; this
/// covers a lost wake-up).
const APPROVAL_RECHECK: Duration = Duration::from_secs(5);

/// What woke an agent waiting for an approval.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wakeup {
    /// Someone decided it (or says so): read the record.
    Decided,
    /// The user interrupted the agent.
    Interrupted,
    /// Its time ran out.
    TimedOut,
}

impl Wakeup {
    /// The decision the agent itself makes in the store (if no human was
    /// first): its status and who made it.
    fn closes(self) -> Option<(ApprovalStatus, &'static str)> {
        match self {
            Wakeup::Decided => None,
            Wakeup::Interrupted => Some((ApprovalStatus::Cancelled, "interrupt")),
            Wakeup::TimedOut => Some((ApprovalStatus::Expired, "timeout")),
        }
    }
}

/// When an approval asked at `now` expires after `timeout_secs`: never
/// without a timeout, nor with one that ends past the last date a
/// timestamp can hold (some 260,000 years away).
pub(super) fn expiry(timeout_secs: Option<u64>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let seconds = i64::try_from(timeout_secs?).ok()?;
    now.checked_add_signed(chrono::Duration::try_seconds(seconds)?)
}

/// How long until an approval expiring at `expires_at` times out, at
/// `now` (zero when it is past); none when it never expires.
pub(super) fn time_left(expires_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Option<Duration> {
    expires_at.map(|at| (at - now).to_std().unwrap_or_default())
}

/// The rules `approval.requested` shows a human, that remembering an
/// approval would add for this agent or for everyone.
fn remember_rules(tool: &str, arguments: &serde_json::Value) -> RememberRules {
    let rule = exact_rule(Action::Allow, tool, arguments);
    RememberRules {
        agent: rule.clone(),
        always: rule,
    }
}

/// What a decider chose to remember, as the store holds it (`agent`,
/// `always`; nothing, or anything else, is this call only).
pub(super) fn stored_remember(stored: Option<&str>) -> Remember {
    match stored {
        Some("agent") => Remember::Agent,
        Some("always") => Remember::Always,
        _ => Remember::Once,
    }
}

/// A rule that remembering a decision adds.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Remembered {
    /// The rule, e.g. `deny bash(git push --force)`.
    pub(super) rule: String,
    /// Whom it applies to.
    pub(super) scope: Scope,
}

/// The rule that a decision with `status`, remembered as `remember`, adds
/// for agent `agent_id`'s call of `tool` with `arguments`: approved calls
/// are allowed, denied ones denied, for this agent or for everyone. An
/// approval that expired or was cancelled decides nothing to remember.
fn remembered(
    agent_id: &str,
    status: ApprovalStatus,
    remember: Remember,
    tool: &str,
    arguments: &serde_json::Value,
) -> Option<Remembered> {
    let scope = match remember {
        Remember::Once => return None,
        Remember::Agent => Scope::Agent(agent_id.to_string()),
        Remember::Always => Scope::Global,
    };
    let action = match status {
        ApprovalStatus::Approved => Action::Allow,
        ApprovalStatus::Denied => Action::Deny,
        ApprovalStatus::Pending | ApprovalStatus::Expired | ApprovalStatus::Cancelled => {
            return None;
        }
    };
    Some(Remembered {
        rule: exact_rule(action, tool, arguments),
        scope,
    })
}

/// Whether `rules` hold the remembered rule already (same text and scope).
pub(super) fn rule_known(rules: &[RuleView], remembered: &Remembered) -> bool {
    rules
        .iter()
        .any(|r| r.spec.rule == remembered.rule && r.spec.scope == remembered.scope)
}

/// Who decided `record` (`unknown` when the store does not say).
pub(super) fn decided_by(record: &ApprovalRecord) -> String {
    record
        .decided_by
        .clone()
        .unwrap_or_else(|| "unknown".into())
}

/// The `approval.decided` event of `record`, decided `by`, with the rule
/// it remembered.
pub(super) fn decided_body(
    call: &ToolCallRequest,
    record: &ApprovalRecord,
    by: &str,
    remembered: Option<&Remembered>,
) -> EventBody {
    EventBody::ApprovalDecided {
        call_id: call.id.clone(),
        tool: call.name.clone(),
        approved: record.status == ApprovalStatus::Approved,
        status: record.status,
        by: by.to_string(),
        reason: record.reason.clone(),
        rule: remembered.map(|r| r.rule.clone()),
        rule_scope: remembered.map(|r| r.scope.to_string()),
    }
}

/// What a decided `record` (decided `by`) means for the call: it runs, or
/// the model is told why not.
fn outcome(record: &ApprovalRecord, by: &str) -> Approval {
    if record.status == ApprovalStatus::Approved {
        Approval::Approved
    } else {
        Approval::Refused(refusal(
            record.status.as_str(),
            by,
            record.reason.as_deref(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::AgentConfig;
    use crate::policy::ApprovalMode;
    use chrono::TimeZone;
    use paddock_protocol::events::Event;
    use paddock_store::{NewAgent, Store};
    use serde_json::json;

    fn call(name: &str) -> ToolCallRequest {
        ToolCallRequest {
            id: "c1".into(),
            name: name.into(),
            arguments: String::new(),
        }
    }

    fn record(status: ApprovalStatus, by: Option<&str>, reason: Option<&str>) -> ApprovalRecord {
        ApprovalRecord {
            agent_id: "a1".into(),
            seq: 2,
            call_id: "c1".into(),
            tool: "execute_bash".into(),
            request: json!({}),
            status,
            requested_at: Utc::now(),
            expires_at: None,
            decided_at: None,
            decided_by: by.map(str::to_string),
            reason: reason.map(str::to_string),
            remember: None,
        }
    }

    fn push() -> serde_json::Value {
        json!({"command": "git push origin main"})
    }

    #[test]
    fn a_remembered_decision_becomes_an_exact_rule_of_its_action() {
        let approved = remembered(
            "a1",
            ApprovalStatus::Approved,
            Remember::Agent,
            "execute_bash",
            &push(),
        );
        assert_eq!(
            approved,
            Some(Remembered {
                rule: "allow execute_bash(git push origin main)".into(),
                scope: Scope::Agent("a1".into()),
            })
        );
        let denied = remembered(
            "a1",
            ApprovalStatus::Denied,
            Remember::Always,
            "execute_bash",
            &push(),
        );
        assert_eq!(
            denied,
            Some(Remembered {
                rule: "deny execute_bash(git push origin main)".into(),
                scope: Scope::Global,
            })
        );
    }

    #[test]
    fn only_a_human_decision_remembered_beyond_once_adds_a_rule() {
        for status in [ApprovalStatus::Approved, ApprovalStatus::Denied] {
            assert_eq!(
                remembered("a1", status, Remember::Once, "execute_bash", &push()),
                None
            );
        }
        for status in [
            ApprovalStatus::Expired,
            ApprovalStatus::Cancelled,
            ApprovalStatus::Pending,
        ] {
            assert_eq!(
                remembered("a1", status, Remember::Always, "execute_bash", &push()),
                None,
                "{status:?} decides nothing"
            );
        }
    }

    #[test]
    fn a_denying_rule_changes_only_the_action() {
        // An argument that itself says "allow" keeps it.
        let args = json!({"path": "allow.txt"});
        assert_eq!(
            exact_rule(Action::Allow, "write_file", &args),
            "allow write_file(path=allow.txt)"
        );
        assert_eq!(
            exact_rule(Action::Deny, "write_file", &args),
            "deny write_file(path=allow.txt)"
        );
        assert_eq!(
            exact_rule(Action::Deny, "allow_list", &json!({"path": "x"})),
            "deny allow_list(path=x)",
            "only the leading action is replaced"
        );
        let rule =
            crate::policy::rules::Rule::parse(&exact_rule(Action::Deny, "write_file", &args));
        assert!(
            rule.is_ok_and(|r| r.action == Action::Deny && r.matches("write_file", &args)),
            "it parses and matches its call"
        );
        let shown = remember_rules("write_file", &args);
        assert_eq!(shown.agent, "allow write_file(path=allow.txt)");
        assert_eq!(shown.always, shown.agent);
    }

    #[test]
    fn the_stored_remember_scopes_are_read_back() {
        assert_eq!(stored_remember(None), Remember::Once);
        assert_eq!(stored_remember(Some("agent")), Remember::Agent);
        assert_eq!(stored_remember(Some("always")), Remember::Always);
        assert_eq!(stored_remember(Some("once")), Remember::Once);
        assert_eq!(
            stored_remember(Some("Agent")),
            Remember::Once,
            "exact names only"
        );
        for r in [Remember::Agent, Remember::Always] {
            assert_eq!(
                stored_remember(Some(r.as_str())),
                r,
                "what the manager stores"
            );
        }
    }

    #[test]
    fn a_rule_is_known_by_its_text_and_scope() {
        let r = Remembered {
            rule: "allow bash(ls)".into(),
            scope: Scope::Agent("a1".into()),
        };
        let view = |rule: &str, scope: Scope| RuleView {
            id: "r1".into(),
            spec: RuleSpec {
                rule: rule.into(),
                scope,
                matches: Vec::new(),
                not_matches: Vec::new(),
            },
            source: "approval".into(),
            created_by: None,
            created_at: None,
        };
        assert!(!rule_known(&[], &r));
        assert!(rule_known(
            &[
                view("deny x", Scope::Global),
                view("allow bash(ls)", Scope::Agent("a1".into()))
            ],
            &r
        ));
        assert!(
            !rule_known(&[view("allow bash(ls)", Scope::Global)], &r),
            "another scope"
        );
        assert!(
            !rule_known(&[view("allow bash(ls)", Scope::Agent("a2".into()))], &r),
            "another agent"
        );
    }

    #[test]
    fn a_decision_says_whether_the_call_runs_and_what_is_recorded() {
        let approved = record(ApprovalStatus::Approved, Some("alice"), None);
        assert_eq!(outcome(&approved, "alice"), Approval::Approved);
        let denied = record(ApprovalStatus::Denied, Some("bob"), Some(" too risky "));
        assert_eq!(
            outcome(&denied, "bob"),
            Approval::Refused("not run: denied by bob: too risky".into())
        );
        let expired = record(ApprovalStatus::Expired, None, None);
        assert_eq!(decided_by(&expired), "unknown");
        assert_eq!(
            outcome(&expired, "timeout"),
            Approval::Refused("not run: nobody approved it in time".into())
        );
        let rule = Remembered {
            rule: "deny execute_bash(rm -rf x)".into(),
            scope: Scope::Agent("a1".into()),
        };
        assert_eq!(
            decided_body(&call("execute_bash"), &denied, "bob", Some(&rule)),
            EventBody::ApprovalDecided {
                call_id: "c1".into(),
                tool: "execute_bash".into(),
                approved: false,
                status: ApprovalStatus::Denied,
                by: "bob".into(),
                reason: Some(" too risky ".into()),
                rule: Some("deny execute_bash(rm -rf x)".into()),
                rule_scope: Some("agent:a1".into()),
            }
        );
        let EventBody::ApprovalDecided {
            approved,
            rule,
            rule_scope,
            ..
        } = decided_body(&call("execute_bash"), &approved, "alice", None)
        else {
            panic!("not approval.decided");
        };
        assert_eq!((approved, rule, rule_scope), (true, None, None));
    }

    #[test]
    fn the_agent_closes_an_approval_only_on_interrupt_or_timeout() {
        assert_eq!(Wakeup::Decided.closes(), None);
        assert_eq!(
            Wakeup::Interrupted.closes(),
            Some((ApprovalStatus::Cancelled, "interrupt"))
        );
        assert_eq!(
            Wakeup::TimedOut.closes(),
            Some((ApprovalStatus::Expired, "timeout"))
        );
    }

    #[test]
    fn approvals_expire_after_their_timeout() {
        let now = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
        assert_eq!(expiry(None, now), None, "no timeout: never");
        let at = expiry(Some(90), now);
        assert_eq!(
            at,
            Some(Utc.with_ymd_and_hms(2026, 3, 1, 12, 1, 30).unwrap())
        );
        assert_eq!(time_left(at, now), Some(Duration::from_secs(90)));
        assert_eq!(
            time_left(at, now + chrono::Duration::seconds(90)),
            Some(Duration::ZERO),
            "exactly at its expiry"
        );
        assert_eq!(
            time_left(at, now + chrono::Duration::seconds(3600)),
            Some(Duration::ZERO),
            "past it"
        );
        assert_eq!(time_left(None, now), None);
    }

    #[test]
    fn a_timeout_past_the_last_date_never_expires() {
        let now = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
        let year = 366 * 24 * 3600;
        assert!(
            expiry(Some(100_000 * year), now).is_some_and(|at| at > now),
            "a hundred thousand years still fit"
        );
        // Past chrono's last date, past its longest duration, past i64:
        // each panicked before (the agent's task died while asking).
        for secs in [300_000 * year, i64::MAX as u64 / 1000 + 1, u64::MAX] {
            assert_eq!(expiry(Some(secs), now), None, "{secs} s");
        }
    }

    fn config() -> AgentConfig {
        AgentConfig {
            approval_mode: ApprovalMode::AskAll,
            ..crate::agent::fixtures::config("a1", std::path::PathBuf::from("/tmp/ws"))
        }
    }

    fn event(seq: u64, body: EventBody) -> Event {
        Event {
            seq,
            agent_id: "a1".into(),
            ts: Utc::now(),
            body,
        }
    }

    /// What the manager stores as a decision's `remember` is what this
    /// room reads back, through a real store.
    #[tokio::test]
    async fn a_decision_remembered_through_the_store_adds_its_rule() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(&dir.path().join("paddock.db"))
            .await
            .unwrap();
        store
            .create_agent(
                &NewAgent {
                    id: "a1".into(),
                    name: "a1".into(),
                    config: config(),
                    created_at: Utc::now(),
                    lease: None,
                },
                &event(
                    1,
                    EventBody::AgentCreated {
                        config: Box::new(config()),
                    },
                ),
            )
            .await
            .unwrap();
        let args = push();
        for (seq, call_id, remember) in [(2, "c1", Remember::Always), (3, "c2", Remember::Once)] {
            let body = EventBody::ApprovalRequested {
                call_id: call_id.into(),
                tool: "execute_bash".into(),
                arguments: args.clone(),
                level: RiskLevel::High,
                reasons: Vec::new(),
                diff: None,
                remember: remember_rules("execute_bash", &args),
                expires_at: None,
            };
            let approval = NewApproval {
                call_id: call_id.into(),
                tool: "execute_bash".into(),
                request: body.data(),
                expires_at: None,
            };
            store
                .request_approval(&event(seq, body), &approval)
                .await
                .unwrap();
            // As `Manager::decide` stores it.
            let stored = (remember != Remember::Once).then_some(remember.as_str());
            store
                .decide_approval(
                    "a1",
                    call_id,
                    ApprovalStatus::Denied,
                    "alice",
                    None,
                    stored,
                    Utc::now(),
                )
                .await
                .unwrap();
        }
        let read = |r: ApprovalRecord| {
            remembered(
                "a1",
                r.status,
                stored_remember(r.remember.as_deref()),
                &r.tool,
                &args,
            )
        };
        let always = store.approval("a1", 2).await.unwrap().unwrap();
        assert_eq!(decided_by(&always), "alice");
        assert_eq!(
            read(always),
            Some(Remembered {
                rule: "deny execute_bash(git push origin main)".into(),
                scope: Scope::Global,
            })
        );
        let once = store.approval("a1", 3).await.unwrap().unwrap();
        assert_eq!(once.status, ApprovalStatus::Denied);
        assert_eq!(read(once), None, "once remembers nothing");
    }
}
