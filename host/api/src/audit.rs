//! Audit entries the API writes about what people do (approvals and
//! retries are written by the agent layer, rule changes, plugins, MCP
//! servers, providers, environments here), each naming the user and the
//! access token of the [`Caller`]; and the [`Actor`] a caller is to the
//! agent layer.

use super::AppState;
use super::auth::Caller;
use super::error::ApiError;
use paddock_core::agent::Actor;
use paddock_store::NewAudit;

/// The caller as the agent layer names who acts (`decided_by`, "retry
/// requested by …", audit entries): its name with the channel, its user
/// and its token.
pub fn actor(caller: &Caller, channel: &str) -> Actor {
    Actor {
        name: caller.actor(channel),
        user_id: Some(caller.user_id.clone()),
        token_id: caller.token_id.clone(),
    }
}

/// What was done, for [`record`].
pub struct Act<'a> {
    /// The agent it concerns (empty for host-wide acts).
    pub agent_id: &'a str,
    /// What kind of thing: `rule`, `plugin`, `mcp_server`, `provider`,
    /// `environment`, `shares`, …
    pub kind: &'a str,
    /// What was done to it: `added`, `removed`, `installed`, …
    pub action: &'a str,
    /// For humans: which one, and how.
    pub reason: String,
    /// Everything else (never a secret).
    pub detail: serde_json::Value,
}

/// Records `act`, done by `caller` over REST, in the audit log.
pub async fn record(state: &AppState, caller: &Caller, act: Act<'_>) -> Result<(), ApiError> {
    state
        .store
        .audit(&NewAudit {
            agent_id: act.agent_id.to_string(),
            kind: act.kind.into(),
            action: act.action.into(),
            actor: caller.actor("REST"),
            reason: act.reason,
            detail: act.detail,
            user_id: Some(caller.user_id.clone()),
            token_id: caller.token_id.clone(),
            ..NewAudit::default()
        })
        .await?;
    Ok(())
}

/// Records an account change in the audit log (host-wide: no agent), as
/// done by `caller` (None: the host itself, e.g. the first admin from the
/// environment).
pub async fn account(
    state: &AppState,
    caller: Option<&Caller>,
    kind: &str,
    action: &str,
    reason: String,
    detail: serde_json::Value,
) -> Result<(), ApiError> {
    state
        .store
        .audit(&NewAudit {
            agent_id: String::new(),
            kind: kind.into(),
            action: action.into(),
            actor: caller.map_or_else(|| "host".to_string(), |c| c.actor("REST")),
            reason,
            detail,
            user_id: caller.map(|c| c.user_id.clone()),
            token_id: caller.and_then(|c| c.token_id.clone()),
            ..NewAudit::default()
        })
        .await?;
    Ok(())
}
