//! `/api/me/keys…`: a user's personal provider keys. Write-only: the list
//! says which providers have one, when it was set and at most its last four
//! characters; no route shows a key, nor another user's list, to anyone —
//! admins included. A key is used only for its owner's agents' calls to
//! its provider (`paddock_core::agent::Providers::get_for`). Every set,
//! rotation and removal is audited with who did it (never the key); so are
//! the changes of the shared keys of `/api/config/providers`
//! ([`audit_shared_key`]).

use super::AppState;
use super::auth::Caller;
use super::error::{ApiError, ApiJson, ApiPath};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use paddock_core::provider_admin::PersonalKeyView;
use paddock_store::NewAudit;
use serde::Deserialize;
use utoipa::ToSchema;

/// `PUT /api/me/keys/{provider}`: the key.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PersonalKeyBody {
    /// The API key, sealed under the master key and never shown again;
    /// used for your agents' calls to this provider instead of the shared
    /// key. Printable ASCII without spaces.
    #[schema(min_length = 1, max_length = 4096, pattern = "^[!-~]+$")]
    pub api_key: String,
}

/// The audit entry of a key change: `kind` `key`, `action` `set`,
/// `rotated` or `removed`, the provider as the tool, and who did it; the
/// detail says whose key (`personal` with its owner, or `shared`), never
/// the key.
fn key_audit(caller: &Caller, provider: &str, action: &str, personal: bool) -> NewAudit {
    let whose = if personal {
        format!("{}'s personal key", caller.user_name)
    } else {
        "the shared key".to_string()
    };
    NewAudit {
        agent_id: String::new(),
        call_id: None,
        tool: Some(provider.to_string()),
        kind: "key".into(),
        action: action.into(),
        actor: caller.actor("REST"),
        reason: format!("{whose} for provider `{provider}` was {action}"),
        detail: serde_json::json!({
            "provider": provider,
            "scope": if personal { "personal" } else { "shared" },
            "owner": personal.then(|| caller.user_id.clone()),
        }),
        user_id: Some(caller.user_id.clone()),
        token_id: caller.token_id.clone(),
    }
}

/// Records who set, rotated or removed the shared key of `provider`
/// (`action`: `set`, `rotated`, `removed`). A failure to record is logged:
/// the change itself is made.
pub async fn audit_shared_key(state: &AppState, caller: &Caller, provider: &str, action: &str) {
    if let Err(e) = state
        .store
        .audit(&key_audit(caller, provider, action, false))
        .await
    {
        tracing::error!(provider, action, error = %e, "cannot audit a change of a shared provider key");
    }
}

/// Your personal provider keys (never the keys: whether set, when, and the
/// last four characters of a key of at least 12).
#[utoipa::path(get, path = "/api/me/keys", tag = "account", operation_id = "list_my_keys",
    responses((status = 200, body = [PersonalKeyView])))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<PersonalKeyView>>, ApiError> {
    Ok(Json(state.providers.personal_keys(&caller.user_id).await?))
}

/// Sets (or rotates) your personal key for a provider: your agents' calls
/// to it use this key from their next call; nobody else's do.
#[utoipa::path(put, path = "/api/me/keys/{provider}", tag = "account", operation_id = "put_my_key",
    params(("provider" = String, Path, description = "The provider's name.")),
    request_body = PersonalKeyBody,
    responses((status = 200, body = PersonalKeyView), (status = 400, body = super::error::ErrorBody),
        (status = 404, description = "No provider of this name", body = super::error::ErrorBody)))]
pub async fn put(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(provider): ApiPath<String>,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> Result<Json<PersonalKeyView>, ApiError> {
    // Whatever the body holds, a key typed here is a secret at once, even
    // when the request is refused.
    if let Some(k) = body.get("api_key").and_then(|k| k.as_str())
        && !k.is_empty()
    {
        state.manager.deps().redactor.add(k);
    }
    let body: PersonalKeyBody = super::error::Fields::try_from(body)
        .and_then(|f| f.rest())
        .map_err(ApiError::invalid)?;
    let (view, how) = state
        .providers
        .set_personal_key(&caller.user_id, &provider, body.api_key)
        .await?;
    state
        .store
        .audit(&key_audit(&caller, &provider, how.as_str(), true))
        .await?;
    Ok(Json(view))
}

/// Removes your personal key for a provider: your agents use the shared
/// key from their next call.
#[utoipa::path(delete, path = "/api/me/keys/{provider}", tag = "account", operation_id = "delete_my_key",
    params(("provider" = String, Path, description = "The provider's name.")),
    responses((status = 204, description = "Removed"),
        (status = 404, description = "You have no key for this provider", body = super::error::ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(provider): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    if !state
        .providers
        .remove_personal_key(&caller.user_id, &provider)
        .await?
    {
        return Err(ApiError::not_found(format!(
            "you have no personal key for provider `{provider}`"
        )));
    }
    state
        .store
        .audit(&key_audit(&caller, &provider, "removed", true))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
