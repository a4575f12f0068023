//! Which agents a caller may see, by id: for records that name an agent by
//! its id alone (approvals, audit entries, metrics, the agents working in a
//! workspace). Built on [`ownership::Visible`] with every agent's owner read
//! once.

use super::AppState;
use super::auth::Caller;
use super::error::ApiError;
use super::ownership::Visible;
use std::collections::HashSet;

/// The ids of the agents a caller may see (deleted ones included).
#[derive(Clone, Debug)]
pub struct VisibleIds {
    /// None: every agent (an admin).
    ids: Option<HashSet<String>>,
}

impl VisibleIds {
    /// The agents `caller` may see now.
    pub async fn of(state: &AppState, caller: &Caller) -> Result<VisibleIds, ApiError> {
        let visible = Visible::of(state, caller).await?;
        if visible.is_all() {
            return Ok(VisibleIds { ids: None });
        }
        let ids = state
            .store
            .list_agents(true)
            .await?
            .into_iter()
            .filter(|a| visible.agent(a))
            .map(|a| a.id)
            .collect();
        Ok(VisibleIds { ids: Some(ids) })
    }

    /// Whether every agent is visible.
    pub fn is_all(&self) -> bool {
        self.ids.is_none()
    }

    /// Whether the agent with this id is visible.
    pub fn agent_id(&self, id: &str) -> bool {
        self.ids.as_ref().is_none_or(|ids| ids.contains(id))
    }
}
