//! `/api/users…` and `/api/groups…` (admin): local accounts and single
//! sign-on users, their roles, passwords, caps and tokens, and the groups
//! agents can be shared with. Every change is audited (kind `user`,
//! `group` or `token`, naming who did it) and drops what the auth cache
//! holds of the users it touched.
//!
//! Refused (409 `conflict`): removing, disabling or demoting the built-in
//! `local` account, yourself, or the last enabled admin.

use super::AppState;
use super::audit::account as audit;
use super::auth::{Caller, LOCAL_USER, Role};
use super::error::{ApiError, ApiJson, ApiPath};
use super::me::{CreatedToken, NewTokenRequest, check_password, hash, make_token};
pub use super::refs::{GroupRef, UserRef};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use paddock_store::{GroupRecord, NewUser, StoreError, UserPatch, UserRecord};
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use utoipa::ToSchema;

/// A user as admins see it (never its password hash).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct UserView {
    /// Its id (`local` for the built-in local account).
    pub id: String,
    /// Its sign-in name.
    pub name: String,
    /// How it is shown (may be empty).
    pub display_name: String,
    /// Its e-mail address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// What it may do.
    pub role: Role,
    /// A disabled user cannot sign in; its tokens and sessions fail.
    pub disabled: bool,
    /// Whether it is a single sign-on identity.
    pub sso: bool,
    /// Whether it has a password (can sign in with one).
    pub has_password: bool,
    /// Its own cap on agents running at once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_running_agents: Option<u32>,
    /// The groups it is in.
    pub groups: Vec<GroupRef>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last signed in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_sign_in_at: Option<DateTime<Utc>>,
}

/// `POST /api/users`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserRequest {
    /// Its sign-in name: 1 to 64 letters, digits, `.`, `_` or `-`,
    /// starting with a letter or digit.
    #[schema(pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// How it is shown.
    #[serde(default)]
    #[schema(max_length = 200)]
    pub display_name: Option<String>,
    /// Its e-mail address (`local@domain`, no spaces).
    #[serde(default)]
    #[schema(
        max_length = 254,
        pattern = r"^[^@\t-\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]+@[^\t-\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]+$"
    )]
    pub email: Option<String>,
    /// A password to sign in with: 12 to 1024 characters (none: tokens or
    /// single sign-on only).
    #[serde(default)]
    #[schema(min_length = 12, max_length = 1024)]
    pub password: Option<String>,
}

/// A field that may be absent (unchanged), `null` (removed) or a value.
fn some_or_null<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// `PATCH /api/users/{id}`: each field given replaces the stored one.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatchRequest {
    /// New display name.
    #[serde(default)]
    #[schema(max_length = 200)]
    pub display_name: Option<String>,
    /// New e-mail address (`null` removes it).
    #[serde(default, deserialize_with = "some_or_null")]
    #[schema(value_type = Option<String>, nullable, max_length = 254, pattern = r"^[^@\t-\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]+@[^\t-\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]+$")]
    pub email: Option<Option<String>>,
    /// New role.
    #[serde(default)]
    pub role: Option<Role>,
    /// Disable (true) or enable (false).
    #[serde(default)]
    pub disabled: Option<bool>,
    /// New password: 12 to 1024 characters.
    #[serde(default)]
    #[schema(min_length = 12, max_length = 1024)]
    pub password: Option<String>,
    /// New cap on its running agents (`null` removes it).
    #[serde(default, deserialize_with = "some_or_null")]
    #[schema(value_type = Option<u32>, nullable, minimum = 0)]
    pub max_running_agents: Option<Option<u32>>,
}

/// A group with its members.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct GroupView {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its members.
    pub members: Vec<UserRef>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// `POST /api/groups`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewGroupRequest {
    /// Its name: 1 to 64 letters, digits, `.`, `_` or `-`, starting with a
    /// letter or digit.
    #[schema(pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    pub name: String,
    /// Its members, by user id or name.
    #[serde(default)]
    pub members: Option<Vec<String>>,
}

/// `PUT /api/groups/{id}`: a new name, new members, or both.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupPatchRequest {
    /// Its new name.
    #[serde(default)]
    #[schema(pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    pub name: Option<String>,
    /// Its members (replacing them all), by user id or name.
    #[serde(default)]
    pub members: Option<Vec<String>>,
}

/// Checks a user or group name (the error names `field`).
pub fn check_name(field: &str, name: &str) -> Result<(), ApiError> {
    if paddock_protocol::is_plain_name(name) {
        Ok(())
    } else {
        Err(ApiError::invalid(format!(
            "{field}: `{}` is not a valid name: 1 to 64 letters, digits, `.`, `_` or `-`, \
             starting with a letter or digit",
            name.escape_debug()
        )))
    }
}

fn check_display_name(v: &str) -> Result<(), ApiError> {
    if v.chars().count() > 200 {
        return Err(ApiError::invalid("display_name: at most 200 characters"));
    }
    Ok(())
}

/// An e-mail address as the document's pattern says: something without
/// `@`, `@`, something; no white space; at most 254 characters.
fn check_email(v: &str) -> Result<(), ApiError> {
    let ok = v.chars().count() <= 254
        && v.split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty())
        && !v.chars().any(char::is_whitespace);
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(format!(
            "email: `{}` is not an e-mail address",
            v.escape_debug()
        )))
    }
}

/// The user `id_or_name` (its id, else its name); 404 naming it.
pub async fn lookup_user(state: &AppState, id_or_name: &str) -> Result<UserRecord, ApiError> {
    if let Some(u) = state.store.get_user(id_or_name).await? {
        return Ok(u);
    }
    state
        .store
        .get_user_by_name(id_or_name)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no user `{id_or_name}`")))
}

async fn lookup_group(state: &AppState, id_or_name: &str) -> Result<GroupRecord, ApiError> {
    if let Some(g) = state.store.get_group(id_or_name).await? {
        return Ok(g);
    }
    state
        .store
        .get_group_by_name(id_or_name)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no group `{id_or_name}`")))
}

fn view(u: UserRecord, groups: &[GroupRecord]) -> UserView {
    UserView {
        groups: groups
            .iter()
            .filter(|g| g.members.contains(&u.id))
            .map(|g| GroupRef {
                id: g.id.clone(),
                name: g.name.clone(),
            })
            .collect(),
        sso: u.oidc.is_some(),
        has_password: u.password_hash.is_some(),
        id: u.id,
        name: u.name,
        display_name: u.display_name,
        email: u.email,
        role: u.role,
        disabled: u.disabled,
        max_running_agents: u.max_running_agents,
        created_at: u.created_at,
        last_sign_in_at: u.last_sign_in_at,
    }
}

async fn user_view(state: &AppState, u: UserRecord) -> Result<UserView, ApiError> {
    let groups = state.store.list_groups().await?;
    Ok(view(u, &groups))
}

fn user_json(u: &UserRecord) -> serde_json::Value {
    serde_json::json!({"id": u.id, "name": u.name, "role": u.role, "disabled": u.disabled})
}

/// Whether `user` is an enabled admin other than `local` and no other
/// enabled admin (besides `local`) is left: removing, disabling or
/// demoting it would leave the team without one.
async fn is_last_admin(state: &AppState, user: &UserRecord) -> Result<bool, ApiError> {
    if user.role != Role::Admin || user.disabled || user.id == LOCAL_USER {
        return Ok(false);
    }
    let others = state
        .store
        .list_users()
        .await?
        .into_iter()
        .filter(|u| u.id != user.id && u.id != LOCAL_USER && u.role == Role::Admin && !u.disabled)
        .count();
    Ok(others == 0)
}

fn last_admin(name: &str) -> ApiError {
    ApiError::conflict(format!(
        "`{name}` is the last enabled admin: make another user admin first"
    ))
}

/// Every user, by name (the built-in `local` included).
#[utoipa::path(get, path = "/api/users", tag = "users", operation_id = "list_users",
    responses((status = 200, body = Vec<UserView>)))]
pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<UserView>>, ApiError> {
    let users = state.store.list_users().await?;
    let groups = state.store.list_groups().await?;
    Ok(Json(users.into_iter().map(|u| view(u, &groups)).collect()))
}

/// Creates a local account (with a password, or for tokens only).
#[utoipa::path(post, path = "/api/users", tag = "users", operation_id = "create_user",
    request_body = NewUserRequest,
    responses((status = 201, body = UserView), (status = 400, body = super::error::ErrorBody),
        (status = 409, body = super::error::ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<NewUserRequest>,
) -> Result<(StatusCode, Json<UserView>), ApiError> {
    check_name("name", &req.name)?;
    if let Some(d) = &req.display_name {
        check_display_name(d)?;
    }
    if let Some(e) = &req.email {
        check_email(e)?;
    }
    let password_hash = match req.password {
        Some(p) => {
            check_password("password", &p)?;
            Some(hash(p).await?)
        }
        None => None,
    };
    let user = state
        .store
        .create_user(&NewUser {
            name: req.name.clone(),
            display_name: req.display_name.unwrap_or_default(),
            email: req.email,
            role: Some(req.role),
            password_hash,
            oidc: None,
        })
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => {
                ApiError::conflict(format!("name: a user `{}` exists already", req.name))
            }
            e => e.into(),
        })?;
    audit(
        &state,
        Some(&caller),
        "user",
        "created",
        format!("user {} ({})", user.name, user.role.as_str()),
        serde_json::json!({"user": user_json(&user)}),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(user_view(&state, user).await?)))
}

/// One user (by id, or by name).
#[utoipa::path(get, path = "/api/users/{id}", tag = "users", operation_id = "get_user",
    params(("id" = String, Path, description = "The user's id (or name).")),
    responses((status = 200, body = UserView), (status = 404, body = super::error::ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<UserView>, ApiError> {
    let user = lookup_user(&state, &id).await?;
    Ok(Json(user_view(&state, user).await?))
}

/// Changes a user: display name, e-mail, role, disabled, password, cap.
#[utoipa::path(patch, path = "/api/users/{id}", tag = "users", operation_id = "update_user",
    params(("id" = String, Path, description = "The user's id (or name).")),
    request_body = UserPatchRequest,
    responses((status = 200, body = UserView), (status = 400, body = super::error::ErrorBody),
        (status = 404, body = super::error::ErrorBody), (status = 409, body = super::error::ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<UserPatchRequest>,
) -> Result<Json<UserView>, ApiError> {
    let user = lookup_user(&state, &id).await?;
    if let Some(d) = &req.display_name {
        check_display_name(d)?;
    }
    if let Some(Some(e)) = &req.email {
        check_email(e)?;
    }
    if let Some(p) = &req.password {
        check_password("password", p)?;
    }
    let demoted = req.role.is_some_and(|r| r != Role::Admin);
    let disabled = req.disabled == Some(true);
    if user.id == LOCAL_USER && (demoted || disabled || req.password.is_some()) {
        return Err(ApiError::conflict(
            "the built-in `local` account (the service tokens and the login link act as it) \
             keeps its role, stays enabled and has no password",
        ));
    }
    if user.id == caller.user_id && (demoted || disabled) {
        return Err(ApiError::conflict(
            "you may not disable or demote yourself: ask another admin",
        ));
    }
    if user.oidc.is_some() && req.password.is_some() {
        return Err(ApiError::conflict(
            "password: this user signs in with single sign-on",
        ));
    }
    if (demoted || disabled) && is_last_admin(&state, &user).await? {
        return Err(last_admin(&user.name));
    }
    let password_hash = match req.password {
        Some(p) => Some(Some(hash(p).await?)),
        None => None,
    };
    let changed: Vec<&str> = [
        ("display_name", req.display_name.is_some()),
        ("email", req.email.is_some()),
        ("role", req.role.is_some()),
        ("disabled", req.disabled.is_some()),
        ("password", password_hash.is_some()),
        ("max_running_agents", req.max_running_agents.is_some()),
    ]
    .into_iter()
    .filter_map(|(f, on)| on.then_some(f))
    .collect();
    let updated = state
        .store
        .update_user(
            &user.id,
            &UserPatch {
                display_name: req.display_name,
                email: req.email,
                role: req.role,
                password_hash,
                disabled: req.disabled,
                max_running_agents: req.max_running_agents,
            },
        )
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no user `{id}`")))?;
    state.auth.forget_user(&updated.id);
    let action = match req.disabled {
        Some(true) if !user.disabled => "disabled",
        Some(false) if user.disabled => "enabled",
        _ => "updated",
    };
    audit(
        &state,
        Some(&caller),
        "user",
        action,
        format!("user {}: {}", updated.name, changed.join(", ")),
        serde_json::json!({"user": user_json(&updated), "changed": changed}),
    )
    .await?;
    Ok(Json(user_view(&state, updated).await?))
}

/// Removes a user with its tokens and group memberships (its agents
/// stay, for admins). Not `local`, not yourself, not the last enabled
/// admin.
#[utoipa::path(delete, path = "/api/users/{id}", tag = "users", operation_id = "delete_user",
    params(("id" = String, Path, description = "The user's id (or name).")),
    responses((status = 204, description = "Removed"), (status = 404, body = super::error::ErrorBody),
        (status = 409, body = super::error::ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let user = lookup_user(&state, &id).await?;
    if user.id == LOCAL_USER {
        return Err(ApiError::conflict(
            "the built-in `local` account cannot be removed",
        ));
    }
    if user.id == caller.user_id {
        return Err(ApiError::conflict("you may not remove yourself"));
    }
    if is_last_admin(&state, &user).await? {
        return Err(last_admin(&user.name));
    }
    let tokens = state.store.list_tokens(&user.id).await?;
    if !state.store.delete_user(&user.id).await? {
        return Err(ApiError::not_found(format!("no user `{id}`")));
    }
    state.auth.forget_user(&user.id);
    for t in &tokens {
        state.auth.forget_token(&t.id);
    }
    audit(
        &state,
        Some(&caller),
        "user",
        "removed",
        format!("user {} ({})", user.name, user.role.as_str()),
        serde_json::json!({"user": user_json(&user), "tokens_removed": tokens.len()}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Makes a personal access token for a user (a script's account); its
/// secret is in the answer and nowhere else.
#[utoipa::path(post, path = "/api/users/{id}/tokens", tag = "users", operation_id = "create_user_token",
    params(("id" = String, Path, description = "The user's id (or name).")),
    request_body = NewTokenRequest,
    responses((status = 201, body = CreatedToken), (status = 400, body = super::error::ErrorBody),
        (status = 404, body = super::error::ErrorBody), (status = 409, body = super::error::ErrorBody)))]
pub async fn create_token(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<NewTokenRequest>,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    let user = lookup_user(&state, &id).await?;
    if user.disabled {
        return Err(ApiError::conflict(format!(
            "`{}` is disabled: enable it first",
            user.name
        )));
    }
    let created = make_token(&state, &caller, &user.id, &user.name, req).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

// ---- groups ----

/// The user ids of `members` (ids or names), each once; 400 naming the
/// first unknown one.
async fn resolve_members(state: &AppState, members: &[String]) -> Result<Vec<String>, ApiError> {
    let users = state.store.list_users().await?;
    let mut ids = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, m) in members.iter().enumerate() {
        let found = users
            .iter()
            .find(|u| u.id == *m)
            .or_else(|| users.iter().find(|u| u.name == *m))
            .ok_or_else(|| ApiError::invalid(format!("members[{i}]: no user `{m}`")))?;
        if seen.insert(found.id.clone()) {
            ids.push(found.id.clone());
        }
    }
    Ok(ids)
}

async fn group_view(state: &AppState, g: GroupRecord) -> Result<GroupView, ApiError> {
    let names: BTreeMap<String, String> = state
        .store
        .list_users()
        .await?
        .into_iter()
        .map(|u| (u.id, u.name))
        .collect();
    Ok(group_view_with(&names, g))
}

fn group_view_with(names: &BTreeMap<String, String>, g: GroupRecord) -> GroupView {
    GroupView {
        members: g
            .members
            .iter()
            .map(|id| UserRef {
                id: id.clone(),
                name: names.get(id).cloned().unwrap_or_else(|| id.clone()),
            })
            .collect(),
        id: g.id,
        name: g.name,
        created_at: g.created_at,
    }
}

fn group_json(g: &GroupView) -> serde_json::Value {
    serde_json::json!({"id": g.id, "name": g.name,
        "members": g.members.iter().map(|m| &m.name).collect::<Vec<_>>()})
}

/// Every group, by name, with its members.
#[utoipa::path(get, path = "/api/groups", tag = "users", operation_id = "list_groups",
    responses((status = 200, body = Vec<GroupView>)))]
pub async fn list_groups(State(state): State<AppState>) -> Result<Json<Vec<GroupView>>, ApiError> {
    let names: BTreeMap<String, String> = state
        .store
        .list_users()
        .await?
        .into_iter()
        .map(|u| (u.id, u.name))
        .collect();
    let groups = state.store.list_groups().await?;
    Ok(Json(
        groups
            .into_iter()
            .map(|g| group_view_with(&names, g))
            .collect(),
    ))
}

/// Creates a group (with members, by user id or name).
#[utoipa::path(post, path = "/api/groups", tag = "users", operation_id = "create_group",
    request_body = NewGroupRequest,
    responses((status = 201, body = GroupView), (status = 400, body = super::error::ErrorBody),
        (status = 409, body = super::error::ErrorBody)))]
pub async fn create_group(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<NewGroupRequest>,
) -> Result<(StatusCode, Json<GroupView>), ApiError> {
    check_name("name", &req.name)?;
    let members = resolve_members(&state, req.members.as_deref().unwrap_or_default()).await?;
    let mut group = state
        .store
        .create_group(&req.name)
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => {
                ApiError::conflict(format!("name: a group `{}` exists already", req.name))
            }
            e => e.into(),
        })?;
    if !members.is_empty() {
        state.store.set_group_members(&group.id, &members).await?;
        group = lookup_group(&state, &group.id).await?;
    }
    state.auth.forget_users();
    let view = group_view(&state, group).await?;
    audit(
        &state,
        Some(&caller),
        "group",
        "created",
        format!("group {} ({} members)", view.name, view.members.len()),
        serde_json::json!({"group": group_json(&view)}),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// One group (by id, or by name).
#[utoipa::path(get, path = "/api/groups/{id}", tag = "users", operation_id = "get_group",
    params(("id" = String, Path, description = "The group's id (or name).")),
    responses((status = 200, body = GroupView), (status = 404, body = super::error::ErrorBody)))]
pub async fn get_group(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<GroupView>, ApiError> {
    let group = lookup_group(&state, &id).await?;
    Ok(Json(group_view(&state, group).await?))
}

/// Renames a group, replaces its members, or both.
#[utoipa::path(put, path = "/api/groups/{id}", tag = "users", operation_id = "update_group",
    params(("id" = String, Path, description = "The group's id (or name).")),
    request_body = GroupPatchRequest,
    responses((status = 200, body = GroupView), (status = 400, body = super::error::ErrorBody),
        (status = 404, body = super::error::ErrorBody), (status = 409, body = super::error::ErrorBody)))]
pub async fn update_group(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<GroupPatchRequest>,
) -> Result<Json<GroupView>, ApiError> {
    let group = lookup_group(&state, &id).await?;
    if let Some(name) = &req.name {
        check_name("name", name)?;
    }
    let members = match &req.members {
        Some(m) => Some(resolve_members(&state, m).await?),
        None => None,
    };
    if let Some(name) = &req.name
        && *name != group.name
    {
        state
            .store
            .rename_group(&group.id, name)
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => {
                    ApiError::conflict(format!("name: a group `{name}` exists already"))
                }
                e => e.into(),
            })?;
    }
    if let Some(members) = &members {
        state.store.set_group_members(&group.id, members).await?;
    }
    state.auth.forget_users();
    let updated = lookup_group(&state, &group.id).await?;
    let view = group_view(&state, updated).await?;
    audit(
        &state,
        Some(&caller),
        "group",
        "updated",
        format!("group {} ({} members)", view.name, view.members.len()),
        serde_json::json!({"group": group_json(&view), "was": group.name}),
    )
    .await?;
    Ok(Json(view))
}

/// Removes a group (the agents shared with it are no longer).
#[utoipa::path(delete, path = "/api/groups/{id}", tag = "users", operation_id = "delete_group",
    params(("id" = String, Path, description = "The group's id (or name).")),
    responses((status = 204, description = "Removed"), (status = 404, body = super::error::ErrorBody)))]
pub async fn delete_group(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let group = lookup_group(&state, &id).await?;
    if !state.store.delete_group(&group.id).await? {
        return Err(ApiError::not_found(format!("no group `{id}`")));
    }
    state.auth.forget_users();
    audit(
        &state,
        Some(&caller),
        "group",
        "removed",
        format!("group {}", group.name),
        serde_json::json!({"group": {"id": group.id, "name": group.name, "members": group.members}}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_fields_are_checked_by_name() {
        assert!(check_name("name", "alice.b-c_1").is_ok());
        for bad in ["", ".x", "a b", "é", &"x".repeat(65)] {
            let e = check_name("name", bad).unwrap_err();
            assert!(e.message.starts_with("name: "), "{}", e.message);
        }
        assert!(check_email("a@b.example").is_ok());
        for bad in [
            "nope",
            "@b",
            "a@",
            "a b@c",
            "a@b\u{2028}",
            &format!("{}@b", "x".repeat(260)),
        ] {
            assert!(
                check_email(bad).unwrap_err().message.starts_with("email: "),
                "{bad}"
            );
        }
        assert!(check_display_name("Alice B.").is_ok());
        assert!(check_display_name(&"x".repeat(201)).is_err());
    }

    /// The document's e-mail pattern is [`check_email`], case for case.
    #[test]
    fn the_email_pattern_is_the_check() {
        let doc: serde_json::Value = serde_json::from_str(&crate::openapi_json()).unwrap();
        let schemas = &doc["components"]["schemas"];
        let pattern = schemas["NewUserRequest"]["properties"]["email"]["pattern"]
            .as_str()
            .unwrap();
        let re = regex::Regex::new(pattern).unwrap();
        let mut samples: Vec<String> = [
            "a@b",
            "a@b@c",
            "@b",
            "a@",
            "",
            "ab",
            "a b@c",
            "a@b c",
            "é@ü.example",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for c in (0..=0x3100u32).filter_map(char::from_u32) {
            samples.push(format!("a{c}@b"));
            samples.push(format!("a@b{c}"));
        }
        for s in samples {
            assert_eq!(re.is_match(&s), check_email(&s).is_ok(), "{s:?}");
        }
        let patch = &schemas["UserPatchRequest"]["properties"]["email"];
        assert!(
            patch.to_string().contains(&pattern.replace('\\', "\\\\")),
            "{patch}"
        );
    }

    #[test]
    fn a_patch_tells_absent_from_null() {
        let p: UserPatchRequest = serde_json::from_str(r#"{"max_running_agents": null}"#).unwrap();
        assert_eq!(p.max_running_agents, Some(None));
        assert_eq!(p.email, None);
        let p: UserPatchRequest =
            serde_json::from_str(r#"{"max_running_agents": 3, "email": "a@b"}"#).unwrap();
        assert_eq!(p.max_running_agents, Some(Some(3)));
        assert_eq!(p.email, Some(Some("a@b".into())));
        assert!(serde_json::from_str::<UserPatchRequest>(r#"{"nope": 1}"#).is_err());
    }
}
