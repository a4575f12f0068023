//! `/api/me…`: the caller's own account — who it is and what it may do,
//! its password, and its personal access tokens (made here, shown once,
//! kept as their SHA-256 only, scoped, expiring, revocable). Every change
//! is audited (kind `token`, or `user` for a password).

use super::AppState;
use super::audit::account as audit;
use super::auth::{Caller, Role, Scope, Via};
use super::error::{ApiError, ApiJson, ApiPath};
use super::refs::GroupRef;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use paddock_store::{NewToken, TokenRecord, UserPatch};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// How a caller proved who it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ViaName {
    /// `PADDOCK_TOKEN`/`PADDOCK_ADMIN_TOKEN` (or the data dir's token
    /// files): the local account.
    ServiceToken,
    /// A personal access token.
    AccessToken,
    /// The dashboard's session cookie.
    Session,
    /// Nothing (`--unsafe-no-auth` on loopback).
    None,
}

impl From<Via> for ViaName {
    fn from(v: Via) -> ViaName {
        match v {
            Via::ServiceToken => ViaName::ServiceToken,
            Via::AccessToken => ViaName::AccessToken,
            Via::Session => ViaName::Session,
            Via::Nothing => ViaName::None,
        }
    }
}

/// What the caller may do, for a client to show or hide.
#[derive(Clone, Copy, Debug, Serialize, ToSchema)]
pub struct Can {
    /// The admin routes (an admin with scope `admin`).
    pub admin: bool,
    /// Changes (a member or admin with scope `write` or more).
    pub write: bool,
}

/// `GET /api/me`: the caller.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Me {
    /// The user's id (`local` for the service tokens and the login link).
    pub id: String,
    /// The user's sign-in name.
    pub name: String,
    /// How it is shown (may be empty).
    pub display_name: String,
    /// The user's role.
    pub role: Role,
    /// The credential's scope.
    pub scope: Scope,
    /// How the caller proved who it is.
    pub via: ViaName,
    /// The groups the user is in.
    pub groups: Vec<GroupRef>,
    /// What it may do.
    pub can: Can,
}

/// Who is calling.
#[utoipa::path(get, path = "/api/me", tag = "account", operation_id = "get_me",
    responses((status = 200, body = Me)))]
pub async fn get(State(state): State<AppState>, caller: Caller) -> Result<Json<Me>, ApiError> {
    let display_name = state
        .store
        .get_user(&caller.user_id)
        .await?
        .map(|u| u.display_name)
        .unwrap_or_default();
    let groups = if caller.groups.is_empty() {
        Vec::new()
    } else {
        state
            .store
            .list_groups()
            .await?
            .into_iter()
            .filter(|g| caller.groups.contains(&g.id))
            .map(|g| GroupRef {
                id: g.id,
                name: g.name,
            })
            .collect()
    };
    Ok(Json(Me {
        id: caller.user_id.clone(),
        name: caller.user_name.clone(),
        display_name,
        role: caller.role,
        scope: caller.scope,
        via: caller.via.into(),
        groups,
        can: Can {
            admin: caller.is_admin(),
            write: caller.may_write(),
        },
    }))
}

/// `PUT /api/me/password`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    /// The current password.
    #[schema(max_length = 1024)]
    pub current: String,
    /// The new one: 12 to 1024 characters.
    #[schema(min_length = 12, max_length = 1024)]
    pub new: String,
}

/// Checks a new password: 12 to 1024 characters (the error names `field`).
pub fn check_password(field: &str, password: &str) -> Result<(), ApiError> {
    let n = password.chars().count();
    if n < super::credentials::MIN_PASSWORD {
        return Err(ApiError::invalid(format!(
            "{field}: a password needs at least {} characters",
            super::credentials::MIN_PASSWORD
        )));
    }
    if n > 1024 {
        return Err(ApiError::invalid(format!(
            "{field}: a password may have at most 1024 characters"
        )));
    }
    Ok(())
}

/// The argon2id hash of a checked password, computed off the async
/// threads.
pub async fn hash(password: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || super::credentials::hash_password(&password))
        .await
        .map_err(|e| ApiError::internal("cannot hash the password", &e))?
        .map_err(|e| ApiError::internal("cannot hash the password", &e))
}

/// Changes the caller's password (a local account that has one; the
/// current password is required, and wrong guesses count as failed
/// sign-ins).
#[utoipa::path(put, path = "/api/me/password", tag = "account", operation_id = "change_my_password",
    request_body = PasswordChange,
    responses((status = 204, description = "Changed"), (status = 400, body = super::error::ErrorBody),
        (status = 409, body = super::error::ErrorBody)))]
pub async fn change_password(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    let user = state
        .store
        .get_user(&caller.user_id)
        .await?
        .ok_or_else(|| ApiError::not_found("your account no longer exists"))?;
    let Some(current_hash) = user.password_hash.clone() else {
        return Err(ApiError::conflict(if user.oidc.is_some() {
            "this account signs in with single sign-on: its password is the provider's"
        } else {
            "this account has no password: an admin may set one"
        }));
    };
    state.auth.sign_in_failures().check(&user.name)?;
    if !super::credentials::verify_off_thread(body.current, current_hash).await {
        state.auth.sign_in_failures().fail(&user.name);
        return Err(ApiError::invalid(
            "current: this is not your current password",
        ));
    }
    check_password("new", &body.new)?;
    let hashed = hash(body.new).await?;
    state
        .store
        .update_user(
            &user.id,
            &UserPatch {
                password_hash: Some(Some(hashed)),
                ..UserPatch::default()
            },
        )
        .await?;
    state.auth.forget_user(&user.id);
    audit(
        &state,
        Some(&caller),
        "user",
        "password_changed",
        format!("{} changed their password", user.name),
        serde_json::json!({"user": {"id": user.id, "name": user.name}}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A personal access token (never its secret).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct TokenView {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its first characters, to recognise it.
    pub prefix: String,
    /// What it may do (within its user's role).
    pub scope: Scope,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it stops working.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was last used (to the minute).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it was revoked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<TokenRecord> for TokenView {
    fn from(t: TokenRecord) -> TokenView {
        TokenView {
            id: t.id,
            name: t.name,
            prefix: t.prefix,
            scope: t.scope,
            created_at: t.created_at,
            expires_at: t.expires_at,
            last_used_at: t.last_used_at,
            revoked_at: t.revoked_at,
        }
    }
}

/// How long a token lasts when the request does not say.
pub const DEFAULT_TOKEN_DAYS: u32 = 90;

/// The longest a token made through the API may last.
pub const MAX_TOKEN_DAYS: u32 = 365;

/// `POST /api/me/tokens`, `POST /api/users/{id}/tokens`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTokenRequest {
    /// A name for humans ("ci", "laptop"): 1 to 64 characters.
    #[schema(
        max_length = 64,
        pattern = r"[^\t-\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]"
    )]
    pub name: String,
    /// What it may do; no more than the caller's own scope.
    pub scope: Scope,
    /// Days until it expires: 1 to 365 (default 90).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 365)]
    pub expires_in_days: Option<u32>,
}

/// A token just made: its secret, shown this once.
#[derive(Serialize, ToSchema)]
pub struct CreatedToken {
    /// The token.
    pub token: TokenView,
    /// The secret to send as `Authorization: Bearer …` (not kept: it
    /// cannot be shown again).
    pub secret: String,
}

/// Checks a token's name: at most 64 characters, not blank.
pub fn check_token_name(name: &str) -> Result<(), ApiError> {
    if name.trim().is_empty() {
        return Err(ApiError::invalid("name: a token needs a name (not blank)"));
    }
    if name.chars().count() > 64 {
        return Err(ApiError::invalid("name: at most 64 characters"));
    }
    Ok(())
}

/// Makes a token for `user` (id and name) as `caller` asked: checks the
/// request, stores the token's hash, audits it, and returns the secret.
pub async fn make_token(
    state: &AppState,
    caller: &Caller,
    user_id: &str,
    user_name: &str,
    req: NewTokenRequest,
) -> Result<CreatedToken, ApiError> {
    check_token_name(&req.name)?;
    if req.scope > caller.scope {
        return Err(ApiError::invalid(format!(
            "scope: `{}` is more than your own credential's scope `{}`",
            req.scope.as_str(),
            caller.scope.as_str()
        )));
    }
    let days = req.expires_in_days.unwrap_or(DEFAULT_TOKEN_DAYS);
    if !(1..=MAX_TOKEN_DAYS).contains(&days) {
        return Err(ApiError::invalid(format!(
            "expires_in_days: between 1 and {MAX_TOKEN_DAYS}"
        )));
    }
    let minted = super::credentials::mint_token();
    let record = state
        .store
        .create_token(&NewToken {
            user_id: user_id.to_string(),
            name: req.name.trim().to_string(),
            hash: minted.hash,
            prefix: minted.prefix,
            scope: req.scope,
            expires_at: Some(Utc::now() + chrono::Duration::days(i64::from(days))),
        })
        .await?;
    audit(
        state,
        Some(caller),
        "token",
        "created",
        format!(
            "token `{}` ({}…) for {user_name}, scope {}, expires {}",
            record.name,
            record.prefix,
            record.scope.as_str(),
            record
                .expires_at
                .map_or_else(|| "never".to_string(), |t| t.to_rfc3339())
        ),
        serde_json::json!({"token": {"id": record.id, "name": record.name, "prefix": record.prefix,
            "scope": record.scope, "expires_at": record.expires_at},
            "user": {"id": user_id, "name": user_name}}),
    )
    .await?;
    Ok(CreatedToken {
        token: record.into(),
        secret: minted.secret,
    })
}

/// The caller's personal access tokens (revoked and expired ones too).
#[utoipa::path(get, path = "/api/me/tokens", tag = "account", operation_id = "list_my_tokens",
    responses((status = 200, body = Vec<TokenView>)))]
pub async fn list_tokens(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<TokenView>>, ApiError> {
    let tokens = state.store.list_tokens(&caller.user_id).await?;
    Ok(Json(tokens.into_iter().map(TokenView::from).collect()))
}

/// Makes a personal access token for the caller; its secret is in the
/// answer and nowhere else.
#[utoipa::path(post, path = "/api/me/tokens", tag = "account", operation_id = "create_my_token",
    request_body = NewTokenRequest,
    responses((status = 201, body = CreatedToken), (status = 400, body = super::error::ErrorBody)))]
pub async fn create_token(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<NewTokenRequest>,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    let (id, name) = (caller.user_id.clone(), caller.user_name.clone());
    let created = make_token(&state, &caller, &id, &name, req).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Revokes one of the caller's tokens (404 for anyone else's).
#[utoipa::path(delete, path = "/api/me/tokens/{id}", tag = "account", operation_id = "revoke_my_token",
    params(("id" = String, Path, description = "The token's id.")),
    responses((status = 204, description = "Revoked"), (status = 404, body = super::error::ErrorBody)))]
pub async fn revoke_token(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let not_found = || ApiError::not_found(format!("no token with id `{id}`"));
    let token = state
        .store
        .get_token(&id)
        .await?
        .filter(|t| t.user_id == caller.user_id)
        .ok_or_else(not_found)?;
    revoke(&state, &caller, &token, &caller.user_name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Revokes `token` (of the user named `owner`), forgets it, audits it.
/// Revoking a revoked token changes nothing and is not audited again.
pub async fn revoke(
    state: &AppState,
    caller: &Caller,
    token: &TokenRecord,
    owner: &str,
) -> Result<(), ApiError> {
    if token.revoked_at.is_some() {
        return Ok(());
    }
    state.store.revoke_token(&token.id, Utc::now()).await?;
    state.auth.forget_token(&token.id);
    audit(
        state,
        Some(caller),
        "token",
        "revoked",
        format!("token `{}` ({}…) of {owner}", token.name, token.prefix),
        serde_json::json!({"token": {"id": token.id, "name": token.name, "prefix": token.prefix},
            "user": {"id": token.user_id, "name": owner}}),
    )
    .await
}
