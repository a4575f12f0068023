//! One agent's network gate: what its sandbox's egress proxy is told about
//! a host that is not on the agent's allow-list, and the record of every
//! connection (`network.connection` events).
//!
//! A host not on the list is judged by the policy's network rules
//! ([`crate::policy::network`]): allowed, refused, or asked. Asking parks
//! an approval of the pseudo-tool `network` (arguments `{"host", "port"}`;
//! the same table, API, dashboard and remember scopes as tool approvals,
//! and the agent's approval timeout) while the client's connection waits;
//! it goes on when the approval is granted. One question at a time per
//! agent; an answer holds for that host and port for the agent's life in
//! this process (remembering it stores a rule). When the client goes away
//! first, its approval is cancelled.

use super::approvals::{
    Remembered, decided_body, decided_by, expiry, rule_known, stored_remember, time_left,
};
use super::{Agent, AgentError, Patience};
use crate::policy::network;
use crate::policy::{Action, RiskLevel, RuleSpec, Scope};
use chrono::Utc;
use paddock_llm::ToolCallRequest;
use paddock_protocol::events::{AgentStatus, EventBody, RememberRules};
use paddock_protocol::network::NetworkConnection;
use paddock_protocol::policy::Remember;
use paddock_sandbox::GateAnswer;
use paddock_store::{ApprovalRecord, ApprovalStatus, NewApproval};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// An agent's network questions and answers.
pub(super) struct NetworkAsks {
    /// Answers a human gave in this process: (host, port) → (allowed, why).
    decided: Mutex<HashMap<(String, u16), (bool, String)>>,
    /// One question at a time.
    asking: tokio::sync::Mutex<()>,
    /// Bumped whenever one of the agent's approvals is decided.
    wake: watch::Sender<u64>,
}

impl NetworkAsks {
    pub(super) fn new() -> NetworkAsks {
        NetworkAsks {
            decided: Mutex::new(HashMap::new()),
            asking: tokio::sync::Mutex::new(()),
            wake: watch::channel(0).0,
        }
    }

    /// Wakes a question waiting for its decision.
    pub(super) fn decided_somewhere(&self) {
        self.wake.send_modify(|n| *n = n.wrapping_add(1));
    }

    fn answered(&self, host: &str, port: u16) -> Option<GateAnswer> {
        let decided = self.decided.lock().unwrap_or_else(|p| p.into_inner());
        decided
            .get(&(host.to_string(), port))
            .map(|(allowed, why)| answer(*allowed, why.clone(), true))
    }

    fn remember(&self, host: &str, port: u16, allowed: bool, why: &str) {
        self.decided
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert((host.to_string(), port), (allowed, why.to_string()));
    }
}

fn answer(allowed: bool, reason: String, asked: bool) -> GateAnswer {
    if allowed {
        GateAnswer::Allow { reason, asked }
    } else {
        GateAnswer::Deny { reason, asked }
    }
}

/// Cancels a network approval whose connection went away before it was
/// decided (the proxy dropped the question).
struct CancelOnDrop {
    agent: Arc<Agent>,
    call_id: Option<String>,
    restore: bool,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        let Some(call_id) = self.call_id.take() else {
            return;
        };
        let (agent, restore) = (self.agent.clone(), self.restore);
        tokio::spawn(async move {
            let decided = agent
                .deps
                .store
                .decide_approval(
                    &agent.id,
                    &call_id,
                    ApprovalStatus::Cancelled,
                    "proxy",
                    Some("the connection closed before anyone decided"),
                    None,
                    Utc::now(),
                )
                .await;
            if let Ok(Some(record)) = decided {
                let call = network_call(&call_id, &record.request["arguments"]);
                let _ = agent
                    .append(decided_body(&call, &record, "proxy", None))
                    .await;
            }
            if restore {
                agent.restore_status().await;
            }
        });
    }
}

/// The pseudo tool call of a network approval (for its events and audit).
fn network_call(call_id: &str, arguments: &serde_json::Value) -> ToolCallRequest {
    ToolCallRequest {
        id: call_id.to_string(),
        name: network::TOOL.to_string(),
        arguments: arguments.to_string(),
    }
}

impl Agent {
    /// Judges a connection of this agent's sandbox to `host:port`, which
    /// is not on its allow-list: an earlier answer, the rules, or a human.
    pub async fn judge_network(self: &Arc<Self>, host: &str, port: u16) -> GateAnswer {
        if let Some(a) = self.network.answered(host, port) {
            return a;
        }
        let decision = self.deps.policy.decide_network(&self.subject(), host, port);
        match decision.action {
            Action::Allow => answer(true, decision.reason, false),
            Action::Deny => answer(false, decision.reason, false),
            Action::Ask => match self.ask_network(host, port).await {
                Ok(a) => a,
                Err(e) => {
                    tracing::error!(agent = %self.id, error = %e, "cannot ask about a network host");
                    answer(
                        false,
                        format!("the approval could not be asked: {e}"),
                        false,
                    )
                }
            },
        }
    }

    /// Records one connection of its sandbox as a `network.connection`
    /// event.
    pub async fn record_network(&self, connection: NetworkConnection) {
        if let Err(e) = self.append(EventBody::NetworkConnection(connection)).await {
            tracing::warn!(agent = %self.id, error = %e, "cannot record a network connection");
        }
    }

    /// Cancels the network approvals a previous host process left pending
    /// (their connections died with it; nobody waits for them), recording
    /// `approval.decided` for each. Called when the agent is loaded.
    pub async fn cancel_stale_network_approvals(&self) -> Result<usize, AgentError> {
        let store = &self.deps.store;
        let mut cancelled = 0;
        for stale in store.pending_approvals(Some(&self.id)).await? {
            if stale.tool != network::TOOL {
                continue;
            }
            let reason = "the host restarted: the connection that asked is gone";
            if let Some(record) = store
                .decide_approval(
                    &self.id,
                    &stale.call_id,
                    ApprovalStatus::Cancelled,
                    "restart",
                    Some(reason),
                    None,
                    Utc::now(),
                )
                .await?
            {
                let call = network_call(&record.call_id, &record.request["arguments"]);
                self.append(decided_body(&call, &record, "restart", None))
                    .await?;
                cancelled += 1;
            }
        }
        Ok(cancelled)
    }

    /// Asks a human whether the agent may reach `host:port`, and waits.
    async fn ask_network(
        self: &Arc<Self>,
        host: &str,
        port: u16,
    ) -> Result<GateAnswer, AgentError> {
        let _one = self.network.asking.lock().await;
        // Decided while this one waited its turn?
        if let Some(a) = self.network.answered(host, port) {
            return Ok(a);
        }
        // A rule remembered meanwhile may decide now.
        let decision = match self.deps.policy.decide_network(&self.subject(), host, port) {
            d if d.action == Action::Ask => d,
            d => return Ok(answer(d.action == Action::Allow, d.reason, false)),
        };
        let target = network::authority(host, port);
        let call_id = format!("net-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let arguments = serde_json::json!({ "host": host, "port": port });
        let timeout =
            self.config
                .approval_timeout_secs
                .or(self.deps.policy.config().approval_timeout_secs);
        let expires_at = expiry(timeout, Utc::now());
        let rule = network::exact_rule(Action::Allow, host, port);
        let body = EventBody::ApprovalRequested {
            call_id: call_id.clone(),
            tool: network::TOOL.into(),
            arguments: arguments.clone(),
            level: RiskLevel::Medium,
            reasons: vec![
                format!("the sandbox connects to {target}, which is not on its allow-list"),
                decision.reason,
            ],
            diff: None,
            remember: RememberRules {
                agent: rule.clone(),
                always: rule,
            },
            expires_at,
        };
        let approval = NewApproval {
            call_id: call_id.clone(),
            tool: network::TOOL.into(),
            request: self.deps.redactor.redact_event(body.clone()).data(),
            expires_at,
        };
        let mut wake = self.network.wake.subscribe();
        let event = self
            .store_event(body, Some(&approval), Patience::UntilStored)
            .await?;
        tracing::info!(agent = %self.id, host, port, call = %call_id, "asking about a network host");
        let restore = self.status() == AgentStatus::ExecutingTool;
        if restore {
            self.set_status(AgentStatus::WaitingApproval, None).await?;
        }
        let mut guard = CancelOnDrop {
            agent: self.clone(),
            call_id: Some(call_id.clone()),
            restore,
        };
        let record = self.await_network(event.seq, &call_id, &mut wake).await?;
        guard.call_id = None;
        let call = network_call(&call_id, &arguments);
        let by = decided_by(&record);
        let who = self.take_decider(&call_id);
        let remembered = self.remember_network(&record, host, port, &by).await;
        self.append(decided_body(&call, &record, &by, remembered.as_ref()))
            .await?;
        self.audit(
            &call,
            "approval",
            record.status.as_str(),
            &by,
            who.as_ref(),
            record.reason.clone().unwrap_or_default(),
            serde_json::to_value(&record).unwrap_or_default(),
        )
        .await?;
        if restore {
            self.restore_status().await;
        }
        let allowed = record.status == ApprovalStatus::Approved;
        let why = match (record.status, record.reason.as_deref().map(str::trim)) {
            (ApprovalStatus::Approved, _) => format!("allowed for this agent by {by}"),
            (ApprovalStatus::Denied, Some(r)) if !r.is_empty() => {
                format!("denied by {by}: {r}")
            }
            (ApprovalStatus::Denied, _) => format!("denied by {by}"),
            (ApprovalStatus::Expired, _) => "nobody allowed it in time".to_string(),
            _ => "its approval was cancelled".to_string(),
        };
        // Granted or denied: holds for the agent. Expired or cancelled:
        // the next connection asks again.
        if matches!(
            record.status,
            ApprovalStatus::Approved | ApprovalStatus::Denied
        ) {
            self.network.remember(host, port, allowed, &why);
        }
        Ok(answer(allowed, why, true))
    }

    /// Waits until the network approval stored at `seq` is decided (or
    /// expires: then the agent closes it).
    async fn await_network(
        &self,
        seq: u64,
        call_id: &str,
        wake: &mut watch::Receiver<u64>,
    ) -> Result<ApprovalRecord, AgentError> {
        let store = &self.deps.store;
        loop {
            wake.borrow_and_update();
            let record = store.approval(&self.id, seq).await?.ok_or_else(|| {
                AgentError::Invalid("the network approval just stored is missing".into())
            })?;
            if record.status != ApprovalStatus::Pending {
                return Ok(record);
            }
            let left = time_left(record.expires_at, Utc::now())
                .unwrap_or(Duration::from_secs(365 * 24 * 3600));
            tokio::select! {
                _ = wake.changed() => {}
                _ = tokio::time::sleep(left) => {
                    store
                        .decide_approval(&self.id, call_id, ApprovalStatus::Expired, "timeout", None, None, Utc::now())
                        .await?;
                }
            }
        }
    }

    /// Stores the rule a decision remembered (approved: `allow
    /// network(host:port)`, denied: `deny …`), for this agent or everyone.
    async fn remember_network(
        &self,
        record: &ApprovalRecord,
        host: &str,
        port: u16,
        by: &str,
    ) -> Option<Remembered> {
        let scope = match stored_remember(record.remember.as_deref()) {
            Remember::Once => return None,
            Remember::Agent => Scope::Agent(self.id.clone()),
            Remember::Always => Scope::Global,
        };
        let action = match record.status {
            ApprovalStatus::Approved => Action::Allow,
            ApprovalStatus::Denied => Action::Deny,
            _ => return None,
        };
        let remembered = Remembered {
            rule: network::exact_rule(action, host, port),
            scope,
        };
        if !rule_known(&self.deps.policy.rules(), &remembered) {
            let spec = RuleSpec {
                rule: remembered.rule.clone(),
                scope: remembered.scope.clone(),
                matches: Vec::new(),
                not_matches: Vec::new(),
            };
            if let Err(e) = self.deps.policy.add_rule(spec, "approval", by).await {
                tracing::error!(error = %e, rule = %remembered.rule, "cannot remember the network decision");
                return None;
            }
        }
        Some(remembered)
    }

    /// After a network question: back to `executing_tool` if the agent is
    /// still shown waiting (and no tool approval of its own is pending).
    async fn restore_status(&self) {
        if self.status() != AgentStatus::WaitingApproval {
            return;
        }
        let pending = self
            .deps
            .store
            .pending_approvals(Some(&self.id))
            .await
            .map(|p| !p.is_empty())
            .unwrap_or(false);
        if !pending && let Err(e) = self.set_status(AgentStatus::ExecutingTool, None).await {
            tracing::warn!(agent = %self.id, error = %e, "cannot restore the agent's status");
        }
    }
}
