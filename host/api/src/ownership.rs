//! Who may see and drive which agent: its owner, the users and groups it
//! is shared with, and admins. Handlers call [`agent`] for a direct route
//! (404 for an agent the caller may not see, never 403: that would say it
//! exists) and [`Visible`] to filter a list.

use super::AppState;
use super::auth::Caller;
use super::error::ApiError;
use paddock_protocol::identity::{Role, ShareKind};
use paddock_store::{AgentRecord, AgentShare};
use std::collections::HashSet;

/// What the caller wants to do with an agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// Read it: its view, events, diff, approvals, usage; subscribe.
    See,
    /// Change it: message, interrupt, retry, delete, decide approvals.
    Drive,
}

/// Whether the caller may see an agent of this owner shared so.
pub fn may_see(caller: &Caller, owner: &str, shares: &[AgentShare]) -> bool {
    caller.sees_everything()
        || caller.user_id == owner
        || shares.iter().any(|s| match s.kind {
            ShareKind::User => s.principal == caller.user_id,
            ShareKind::Group => caller.groups.contains(&s.principal),
        })
}

/// Whether the caller may drive an agent it may see: it may change things
/// at all (a member or admin with a `write` token), and it owns the agent,
/// is an admin, or the agent is shared with it.
pub fn may_drive(caller: &Caller, owner: &str, shares: &[AgentShare]) -> bool {
    caller.may_write() && caller.role >= Role::Member && may_see(caller, owner, shares)
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("no agent with id `{id}`"))
}

/// The agent `id` if the caller may do `need` with it; 404 otherwise
/// (unknown, or not the caller's to see). Seen but not drivable is 403:
/// the caller knows it exists already.
pub async fn agent(
    state: &AppState,
    caller: &Caller,
    id: &str,
    need: Need,
) -> Result<AgentRecord, ApiError> {
    let record = state
        .store
        .get_agent(id)
        .await?
        .ok_or_else(|| not_found(id))?;
    let shares = if caller.sees_everything() || caller.user_id == record.owner {
        Vec::new()
    } else {
        state.store.shares_of(id).await?
    };
    if !may_see(caller, &record.owner, &shares) {
        return Err(not_found(id));
    }
    if need == Need::Drive && !may_drive(caller, &record.owner, &shares) {
        return Err(read_only(id));
    }
    Ok(record)
}

/// Whether the caller may do `need` with agent `id`, answering as
/// [`agent`] does — but without the store when the agent runs on this
/// host and the caller is its owner or an admin (its owner is in its
/// configuration): an interrupt must reach an agent while the store is
/// away.
pub async fn check(
    state: &AppState,
    caller: &Caller,
    id: &str,
    need: Need,
) -> Result<(), ApiError> {
    if let Ok(live) = state.manager.get(id) {
        let owner = live
            .config()
            .owner
            .as_deref()
            .unwrap_or(paddock_protocol::identity::LOCAL_USER);
        if caller.sees_everything() || caller.user_id == owner {
            return if need == Need::See || may_drive(caller, owner, &[]) {
                Ok(())
            } else {
                Err(read_only(id))
            };
        }
    }
    agent(state, caller, id, need).await.map(|_| ())
}

fn read_only(id: &str) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::FORBIDDEN,
        "forbidden",
        format!(
            "agent `{id}` is shared with you to read: only its owner, those it is shared with \
             (members, with a `write` token) and admins may change it"
        ),
    )
}

/// Which agents a caller may see, computed once for a list.
#[derive(Clone, Debug)]
pub struct Visible {
    /// None: every agent (an admin).
    ids: Option<HashSet<String>>,
    /// The caller's own id (its agents are visible without a lookup).
    user_id: String,
}

impl Visible {
    /// The agents the caller may see: all for an admin, else its own and
    /// those shared with it or its groups.
    pub async fn of(state: &AppState, caller: &Caller) -> Result<Visible, ApiError> {
        let ids = if caller.sees_everything() {
            None
        } else {
            Some(
                state
                    .store
                    .agents_shared_with(&caller.user_id, &caller.groups)
                    .await?
                    .into_iter()
                    .collect(),
            )
        };
        Ok(Visible {
            ids,
            user_id: caller.user_id.clone(),
        })
    }

    /// Whether every agent is visible.
    pub fn is_all(&self) -> bool {
        self.ids.is_none()
    }

    /// Whether this agent is visible.
    pub fn agent(&self, record: &AgentRecord) -> bool {
        match &self.ids {
            None => true,
            Some(ids) => record.owner == self.user_id || ids.contains(&record.id),
        }
    }

    /// Whether the agent of this id and owner is visible (when the record
    /// is not at hand, the owner must be: see [`Visible::agent`]).
    pub fn agent_owned(&self, id: &str, owner: &str) -> bool {
        match &self.ids {
            None => true,
            Some(ids) => owner == self.user_id || ids.contains(id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{Scope, Via};
    use chrono::Utc;

    fn caller(id: &str, role: Role, scope: Scope, groups: &[&str]) -> Caller {
        let mut c = Caller::local(scope, Via::AccessToken);
        c.user_id = id.into();
        c.user_name = id.into();
        c.role = role;
        c.groups = groups.iter().map(|g| g.to_string()).collect();
        c
    }

    fn share(kind: ShareKind, principal: &str) -> AgentShare {
        AgentShare {
            agent_id: "a".into(),
            kind,
            principal: principal.into(),
            shared_by: "alice".into(),
            shared_at: Utc::now(),
        }
    }

    #[test]
    fn owners_sharees_and_admins() {
        let alice = caller("alice", Role::Member, Scope::Write, &[]);
        let bob = caller("bob", Role::Member, Scope::Write, &["g1"]);
        let vic = caller("vic", Role::Viewer, Scope::Write, &[]);
        let root = caller("root", Role::Admin, Scope::Read, &[]);
        let none: Vec<AgentShare> = Vec::new();
        assert!(may_see(&alice, "alice", &none) && may_drive(&alice, "alice", &none));
        assert!(!may_see(&bob, "alice", &none));
        assert!(may_see(&root, "alice", &none), "admins see all");
        assert!(
            !may_drive(&root, "alice", &none),
            "a read token drives nothing"
        );
        let to_group = [share(ShareKind::Group, "g1")];
        assert!(may_see(&bob, "alice", &to_group) && may_drive(&bob, "alice", &to_group));
        let to_vic = [share(ShareKind::User, "vic")];
        assert!(may_see(&vic, "alice", &to_vic));
        assert!(!may_drive(&vic, "alice", &to_vic), "viewers change nothing");
        assert!(!may_see(&bob, "alice", &to_vic));
        let alice_read = caller("alice", Role::Member, Scope::Read, &[]);
        assert!(may_see(&alice_read, "alice", &none) && !may_drive(&alice_read, "alice", &none));
    }
}
