//! Whom things belong to and whom agents are shared with, as the API shows
//! them ([`UserRef`], [`ShareView`], the names behind the ids), and
//! `GET`/`PUT /api/agents/{id}/shares`: the agent's owner (or an admin)
//! shares it with named users and groups, who then see it and — members
//! and admins — drive it (message, interrupt, retry, approve, delete).

use super::AppState;
use super::audit::{Act, record};
use super::auth::Caller;
use super::error::{ApiError, ApiJson, ApiPath};
use super::ownership::{self, Need};
pub use super::refs::UserRef;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use paddock_protocol::identity::ShareKind;
use paddock_store::AgentShare;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};
use utoipa::ToSchema;

/// One user or group an agent is shared with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct ShareView {
    /// A user or a group (every member).
    pub kind: ShareKind,
    /// The user's or group's id.
    pub id: String,
    /// Their name (the id, for one that was deleted).
    pub name: String,
}

/// `PUT /api/agents/{id}/shares`: the whole set of users and groups the
/// agent is shared with (an empty body stops sharing it).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutShares {
    /// Users, by id or name.
    #[serde(default)]
    #[schema(max_items = 1000)]
    pub users: Vec<String>,
    /// Groups, by id or name.
    #[serde(default)]
    #[schema(max_items = 1000)]
    pub groups: Vec<String>,
}

/// Most users and groups in one request.
const MAX_SHARES: usize = 1000;

/// The names of users and groups by id, read once for a response.
pub struct Names {
    users: HashMap<String, String>,
    groups: HashMap<String, String>,
}

impl Names {
    /// Every user's and group's name.
    pub async fn load(state: &AppState) -> Result<Names, ApiError> {
        let users = state
            .store
            .list_users()
            .await?
            .into_iter()
            .map(|u| (u.id, u.name))
            .collect();
        let groups = state
            .store
            .list_groups()
            .await?
            .into_iter()
            .map(|g| (g.id, g.name))
            .collect();
        Ok(Names { users, groups })
    }

    /// The user with this id (named by their id when they were deleted).
    pub fn user(&self, id: &str) -> UserRef {
        UserRef {
            id: id.to_string(),
            name: self
                .users
                .get(id)
                .cloned()
                .unwrap_or_else(|| id.to_string()),
        }
    }

    /// A share as the API shows it.
    pub fn share(&self, share: &AgentShare) -> ShareView {
        let names = match share.kind {
            ShareKind::User => &self.users,
            ShareKind::Group => &self.groups,
        };
        ShareView {
            kind: share.kind,
            id: share.principal.clone(),
            name: names
                .get(&share.principal)
                .cloned()
                .unwrap_or_else(|| share.principal.clone()),
        }
    }

    /// Shares as the API shows them.
    pub fn shares(&self, shares: &[AgentShare]) -> Vec<ShareView> {
        shares.iter().map(|s| self.share(s)).collect()
    }
}

/// Whom the agent is shared with (users and groups).
#[utoipa::path(get, path = "/api/agents/{id}/shares", tag = "agents", operation_id = "agent_shares",
    params(("id" = String, Path, description = "The agent's id.")),
    responses((status = 200, body = Vec<ShareView>), (status = 404, body = super::error::ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Vec<ShareView>>, ApiError> {
    ownership::agent(&state, &caller, &id, Need::See).await?;
    let shares = state.store.shares_of(&id).await?;
    Ok(Json(Names::load(&state).await?.shares(&shares)))
}

/// Share the agent with exactly these users and groups (by id or name),
/// replacing whom it was shared with: they see it, and members among them
/// drive it. Only its owner or an admin may (403 for others who see it).
#[utoipa::path(put, path = "/api/agents/{id}/shares", tag = "agents", operation_id = "put_agent_shares",
    params(("id" = String, Path, description = "The agent's id.")), request_body = PutShares,
    responses((status = 200, body = Vec<ShareView>), (status = 400, body = super::error::ErrorBody),
        (status = 403, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody)))]
pub async fn put(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<PutShares>,
) -> Result<Json<Vec<ShareView>>, ApiError> {
    let agent = ownership::agent(&state, &caller, &id, Need::See).await?;
    if agent.owner != caller.user_id && !caller.sees_everything() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("only the owner of agent `{id}` or an admin may share it"),
        ));
    }
    for (field, list) in [("users", &req.users), ("groups", &req.groups)] {
        if list.len() > MAX_SHARES {
            return Err(ApiError::invalid(format!(
                "{field}: at most {MAX_SHARES} entries"
            )));
        }
    }
    let mut want = BTreeSet::new();
    for (i, u) in req.users.iter().enumerate() {
        let user = match state.store.get_user(u).await? {
            Some(user) => Some(user),
            None => state.store.get_user_by_name(u).await?,
        };
        let user = user.ok_or_else(|| ApiError::invalid(format!("users[{i}]: no user `{u}`")))?;
        want.insert((ShareKind::User, user.id));
    }
    for (i, g) in req.groups.iter().enumerate() {
        let group = match state.store.get_group(g).await? {
            Some(group) => Some(group),
            None => state.store.get_group_by_name(g).await?,
        };
        let group =
            group.ok_or_else(|| ApiError::invalid(format!("groups[{i}]: no group `{g}`")))?;
        want.insert((ShareKind::Group, group.id));
    }
    let had: BTreeSet<(ShareKind, String)> = state
        .store
        .shares_of(&id)
        .await?
        .into_iter()
        .map(|s| (s.kind, s.principal))
        .collect();
    for (kind, principal) in had.difference(&want) {
        state.store.unshare_agent(&id, *kind, principal).await?;
    }
    let now = chrono::Utc::now();
    for (kind, principal) in want.difference(&had) {
        state
            .store
            .share_agent(&AgentShare {
                agent_id: id.clone(),
                kind: *kind,
                principal: principal.clone(),
                shared_by: caller.user_id.clone(),
                shared_at: now,
            })
            .await?;
    }
    let shares = state.store.shares_of(&id).await?;
    let views = Names::load(&state).await?.shares(&shares);
    if had != want {
        record(
            &state,
            &caller,
            Act {
                agent_id: &id,
                kind: "shares",
                action: "changed",
                reason: format!(
                    "agent `{id}` shared with {}",
                    if views.is_empty() {
                        "nobody".to_string()
                    } else {
                        views
                            .iter()
                            .map(|v| format!("{} {}", v.kind.as_str(), v.name))
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                ),
                detail: serde_json::json!({ "shared_with": views }),
            },
        )
        .await?;
    }
    Ok(Json(views))
}
