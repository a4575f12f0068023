//! Calls into `risk-assessor` components: one verdict per tool call, for
//! the policy pipeline ([`paddock_protocol::policy`]).
//!
//! Like a tool call, each assessment runs in a fresh instance with the
//! assessor's memory and time limits and only its effective capabilities,
//! with no workspace. A trap, a timeout or an out-of-memory becomes a
//! [`PluginError`] naming the assessor; the pipeline counts it as `ask`.

use super::bindings::v0_1_0::tool::paddock::plugin::types as wit;
use super::host::{PluginError, PluginHost};
use super::manifest::World;
use super::runtime::{AssessorPre, CallError, CallTarget, LoadedPlugin};
use paddock_protocol::policy::{Action, RiskLevel};
use std::sync::Arc;
use tracing::Instrument;

/// Longest reason kept from an assessor (longer ones are cut).
const REASON_CAP: usize = 1000;

/// An assessor's verdict on one call.
#[derive(Clone, Debug, PartialEq)]
pub struct Assessment {
    /// How risky the call is.
    pub level: RiskLevel,
    /// What the assessor suggests.
    pub action: Action,
    /// Why, in one sentence.
    pub reason: String,
}

fn from_wit(a: wit::Assessment) -> Assessment {
    let level = match a.level {
        wit::RiskLevel::Low => RiskLevel::Low,
        wit::RiskLevel::Medium => RiskLevel::Medium,
        wit::RiskLevel::High => RiskLevel::High,
        wit::RiskLevel::Critical => RiskLevel::Critical,
    };
    let action = match a.action {
        wit::Action::Allow => Action::Allow,
        wit::Action::Ask => Action::Ask,
        wit::Action::Deny => Action::Deny,
    };
    let mut reason = a.reason.trim().to_string();
    if reason.len() > REASON_CAP {
        let mut cut = REASON_CAP;
        while !reason.is_char_boundary(cut) {
            cut -= 1;
        }
        reason.truncate(cut);
        reason.push('…');
    }
    if reason.is_empty() {
        reason = "no reason given".into();
    }
    Assessment {
        level,
        action,
        reason,
    }
}

impl LoadedPlugin {
    /// Runs `assess` in a fresh instance.
    async fn assess(self: &Arc<Self>, call: wit::ToolCall) -> Result<Assessment, CallError> {
        self.off_thread(async move |this| {
            let Some(pre) = this.assessor_pre() else {
                return Err(this.contract(format!(
                    "a `{}` plugin is not a risk assessor",
                    this.world()
                )));
            };
            let target = CallTarget {
                agent_id: call.agent_id.clone(),
                call_id: call.call_id.clone(),
                workspace: None,
                ..Default::default()
            };
            // Both versions share the `types` Rust types (see `bindings`).
            let verdict = match pre {
                AssessorPre::V0_1_0(pre) => {
                    this.with_instance(&target, async |store| {
                        let inst = pre.instantiate_async(&mut *store).await?;
                        inst.paddock_plugin_assessor()
                            .call_assess(&mut *store, &call)
                            .await
                    })
                    .await?
                }
                AssessorPre::V0_2_0(pre) => {
                    this.with_instance(&target, async |store| {
                        let inst = pre.instantiate_async(&mut *store).await?;
                        inst.paddock_plugin_assessor()
                            .call_assess(&mut *store, &call)
                            .await
                    })
                    .await?
                }
            };
            Ok(from_wit(verdict))
        })
        .await
    }
}

impl PluginHost {
    /// Asks assessor `assessor` about a call of `tool` with `input` (a JSON
    /// object's text).
    pub async fn assess(
        &self,
        assessor: &str,
        tool: &str,
        input: &str,
        agent_id: &str,
        call_id: &str,
    ) -> Result<Assessment, PluginError> {
        let plugin = self.load_enabled(assessor, World::RiskAssessor, "a risk assessor")?;
        let call = wit::ToolCall {
            tool: tool.to_string(),
            input: input.to_string(),
            agent_id: agent_id.to_string(),
            call_id: call_id.to_string(),
        };
        let span = tracing::info_span!("risk_assessor", assessor, tool, call = call_id);
        plugin
            .assess(call)
            .instrument(span)
            .await
            .map_err(|e| PluginError::Tool(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_trimmed_capped_and_never_empty() {
        let a = from_wit(wit::Assessment {
            level: wit::RiskLevel::High,
            action: wit::Action::Ask,
            reason: "  ".into(),
        });
        assert_eq!(a.reason, "no reason given");
        assert_eq!((a.level, a.action), (RiskLevel::High, Action::Ask));
        let a = from_wit(wit::Assessment {
            level: wit::RiskLevel::Low,
            action: wit::Action::Allow,
            reason: "é".repeat(2000),
        });
        assert!(a.reason.len() <= REASON_CAP + '…'.len_utf8());
        assert!(a.reason.ends_with('…'));
    }
}
