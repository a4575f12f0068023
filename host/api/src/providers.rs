//! `/api/config/providers…` and `/api/config/default-model`: the model
//! providers (the file's, read-only here, and those added here, stored
//! with their keys sealed), testing one for real (saved or not), and the
//! default model. Keys are write-only: a view says where a key comes from
//! and at most its last four characters. Writes and tests are admin-only
//! and every change is in the audit log with who made it (and what became
//! of the key, never the key); any signed-in caller may read.

use super::AppState;
use super::audit::{Act, record};
use super::auth::Caller;
use super::error::{ApiError, ApiJson, ApiPath};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use paddock_core::agent::ModelRef;
use paddock_core::config::ProviderConfig;
use paddock_core::provider_admin::{
    AdminError, DefaultModelSource, KeyState, KeyUpdate, KeyView, ProviderEntry, ProviderSource,
};
use paddock_llm::ProbeReport;
use serde::Serialize;
use utoipa::ToSchema;

impl From<AdminError> for ApiError {
    fn from(e: AdminError) -> ApiError {
        match e {
            AdminError::Invalid(m) => ApiError::invalid(m),
            AdminError::NotFound(_) => ApiError::not_found(e.to_string()),
            AdminError::Exists(_) => ApiError::conflict(e.to_string()),
            AdminError::ReadOnly(_) => {
                ApiError::new(StatusCode::CONFLICT, "read_only", e.to_string())
            }
            AdminError::Store(s) => super::error::store_error("the store failed", &s),
            AdminError::Secret(_) => ApiError::internal("a stored secret cannot be opened", &e),
        }
    }
}

/// A model a provider serves, with its prices.
#[derive(Serialize, ToSchema)]
pub struct ModelView {
    /// Its name at the provider.
    pub name: String,
    /// Its context window in tokens.
    pub context_window: u64,
    /// Its prices (configured, or the list price of a model Paddock
    /// knows); null when unknown: its calls are counted as unpriced.
    pub price: Option<paddock_core::config::Price>,
    /// Whether it reasons (its encrypted reasoning and summaries are asked
    /// for over the Responses API).
    pub reasoning: bool,
    /// Where its calls go when this provider fails, in order.
    pub failover: Vec<ModelRef>,
}

/// A model provider. The key itself is never shown.
#[derive(Serialize, ToSchema)]
pub struct ProviderView {
    /// The name agents refer to it by.
    pub name: String,
    /// The API base.
    pub base_url: String,
    /// The wire API it speaks.
    pub api: paddock_protocol::llm::WireApi,
    /// The environment variable holding the API key.
    pub api_key_env: Option<String>,
    /// Whether it has a key: a stored one, or its variable is set (and not
    /// empty) on the host.
    pub api_key_set: bool,
    /// Its key: where it comes from (`none`, `env`, `stored`), whether it
    /// is set, and its last four characters (only for a key of 12 or more).
    pub key: KeyView,
    /// Where it is configured: `config` (paddock.toml) or `api`.
    pub source: ProviderSource,
    /// Whether it can be changed here (false for paddock.toml's).
    pub read_only: bool,
    /// Whether agents can use it now (its client is set up).
    pub available: bool,
    /// Why it is not available, if it is not (a missing key variable, a
    /// name paddock.toml uses too…).
    pub error: Option<String>,
    /// While its circuit breaker is open (it failed repeatedly, so failover
    /// passes it over): milliseconds until it is tried again.
    pub circuit_open_ms: Option<u64>,
    /// Its models.
    pub models: Vec<ModelView>,
    /// Its configuration as `[[providers]]` has it (no key): what a `PUT`
    /// takes back.
    pub config: ProviderConfig,
}

/// `POST /api/config/providers` (and `…/test`): a `[[providers]]` entry of
/// `paddock.toml` as JSON (`name` and `base_url` required, the rest with
/// the file's defaults) plus the write-only `api_key`. For `PUT`, `name`
/// comes from the path; `api_key` absent keeps the stored key and `""`
/// removes it.
#[derive(ToSchema)]
pub struct ProviderBody {
    /// The entry.
    #[serde(flatten)]
    pub config: ProviderConfig,
    /// The API key, stored sealed under the master key; never shown again.
    /// It wins over `api_key_env` when both are given.
    pub api_key: Option<String>,
}

/// The default model and where it comes from.
#[derive(Serialize, ToSchema)]
pub struct DefaultModelView {
    /// Its provider (null when there is no default model).
    pub provider: Option<String>,
    /// Its model.
    pub model: Option<String>,
    /// `setting` (set here), `first_provider` (unset: the first model of
    /// the first usable provider) or `none`.
    pub source: DefaultModelSource,
}

fn view(state: &AppState, e: ProviderEntry) -> ProviderView {
    let registry = &state.manager.deps().providers;
    let available = e.error.is_none() && registry.contains(&e.config.name);
    let live = available.then(|| registry.get(&e.config.name)).flatten();
    let p = e.config;
    ProviderView {
        name: p.name.clone(),
        base_url: p.base_url.clone(),
        api: p.api,
        api_key_env: p.api_key_env.clone(),
        api_key_set: e.key.set,
        key: e.key,
        source: e.source,
        read_only: e.source != ProviderSource::Api,
        available,
        error: e.error,
        circuit_open_ms: live
            .and_then(|l| l.breaker.check().err())
            .map(|open| open.remaining.as_millis() as u64),
        models: p
            .models
            .iter()
            .map(|m| ModelView {
                name: m.name.clone(),
                context_window: m.context_window,
                price: m.price(),
                reasoning: m.is_reasoning(),
                failover: m.failover_refs().collect(),
            })
            .collect(),
        config: p,
    }
}

/// The body's configuration and `api_key`; `path_name` is the name from
/// the path (a `PUT`), which a `name` in the body must match.
fn read_body(
    body: serde_json::Value,
    path_name: Option<&str>,
) -> Result<(ProviderConfig, Option<String>), ApiError> {
    let serde_json::Value::Object(mut fields) = body else {
        return Err(ApiError::invalid("expected a JSON object"));
    };
    let api_key = match fields.remove("api_key") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(k)) => Some(k),
        Some(_) => return Err(ApiError::invalid("api_key: expected a string")),
    };
    if let Some(name) = path_name {
        match fields.get("name") {
            None => {
                fields.insert("name".into(), name.into());
            }
            Some(n) if n.as_str() == Some(name) => {}
            Some(_) => {
                return Err(ApiError::invalid(format!(
                    "name: must be the name in the path (`{name}`); to rename, add the provider again and delete the old one"
                )));
            }
        }
    }
    let config = serde_path_to_error::deserialize(serde_json::Value::Object(fields)).map_err(
        |e: serde_path_to_error::Error<serde_json::Error>| {
            let path = e.path().to_string();
            let inner = e.inner().to_string();
            // "missing field `x`" at the top names the field first.
            if let Some(field) = inner
                .strip_prefix("missing field `")
                .and_then(|r| r.split('`').next())
            {
                let at = if path == "." {
                    field.to_string()
                } else {
                    format!("{path}.{field}")
                };
                return ApiError::invalid(format!("{at}: missing field"));
            }
            if path == "." || path.contains('?') {
                ApiError::invalid(inner)
            } else {
                ApiError::invalid(format!("{path}: {inner}"))
            }
        },
    )?;
    Ok((config, api_key))
}

/// Every provider, paddock.toml's (read-only here) and those added through
/// the API, sorted by name.
#[utoipa::path(get, path = "/api/config/providers", tag = "config", operation_id = "list_providers",
    responses((status = 200, body = [ProviderView])))]
pub async fn list(State(state): State<AppState>) -> Json<Vec<ProviderView>> {
    let mut out: Vec<ProviderView> = state
        .providers
        .list()
        .into_iter()
        .map(|e| view(&state, e))
        .collect();
    out.sort_by(|a, b| {
        a.name
            .cmp(&b.name)
            .then(a.read_only.cmp(&b.read_only).reverse())
    });
    Json(out)
}

/// Add a provider (usable at once, no restart). Its `api_key` is stored
/// sealed under the master key.
#[utoipa::path(post, path = "/api/config/providers", tag = "config", operation_id = "create_provider", security(("admin" = [])),
    request_body = ProviderBody,
    responses((status = 201, body = ProviderView), (status = 400, body = super::error::ErrorBody),
        (status = 409, description = "`conflict`: the name exists; `read_only`: paddock.toml has it", body = super::error::ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> Result<(StatusCode, Json<ProviderView>), ApiError> {
    let (config, api_key) = read_body(body, None)?;
    let name = config.name.clone();
    let key = key_change(&KeyUpdate::of(api_key.clone()));
    let entry = state.providers.create(config, api_key).await?;
    audit_provider(&state, &caller, &name, "added", key).await?;
    if entry.key.state == KeyState::Stored {
        super::keys::audit_shared_key(&state, &caller, &entry.config.name, "set").await;
    }
    Ok((StatusCode::CREATED, Json(view(&state, entry))))
}

/// Whether the provider `name` has a key stored through the API.
fn has_stored_key(state: &AppState, name: &str) -> bool {
    state.providers.list().iter().any(|e| {
        e.config.name == name && e.source == ProviderSource::Api && e.key.state == KeyState::Stored
    })
}

/// What a request did to a provider's stored key, for the audit log
/// (never the key).
fn key_change(update: &KeyUpdate) -> &'static str {
    match update {
        KeyUpdate::Keep => "kept",
        KeyUpdate::Remove => "removed",
        KeyUpdate::Set(_) => "set",
    }
}

/// Records a change to provider `name` (and what became of its key) in
/// the audit log.
async fn audit_provider(
    state: &AppState,
    caller: &Caller,
    name: &str,
    action: &str,
    key: &str,
) -> Result<(), ApiError> {
    record(
        state,
        caller,
        Act {
            agent_id: "",
            kind: "provider",
            action,
            reason: format!("provider `{name}` {action} (key {key})"),
            detail: serde_json::json!({ "name": name, "key": key }),
        },
    )
    .await
}

/// Replace a provider added through the API (agents' next calls use the
/// new settings). `api_key` absent keeps the stored key, `""` removes it.
#[utoipa::path(put, path = "/api/config/providers/{name}", tag = "config", operation_id = "put_provider", security(("admin" = [])),
    params(("name" = String, Path, description = "The provider")),
    request_body = ProviderBody,
    responses((status = 200, body = ProviderView), (status = 400, body = super::error::ErrorBody),
        (status = 404, body = super::error::ErrorBody),
        (status = 409, description = "`read_only`: a provider of paddock.toml", body = super::error::ErrorBody)))]
pub async fn put(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> Result<Json<ProviderView>, ApiError> {
    let (config, api_key) = read_body(body, Some(&name))?;
    let had = has_stored_key(&state, &name);
    let update = KeyUpdate::of(api_key);
    let key = key_change(&update);
    let action = match (&update, had) {
        (KeyUpdate::Set(_), true) => Some("rotated"),
        (KeyUpdate::Set(_), false) => Some("set"),
        (KeyUpdate::Remove, true) => Some("removed"),
        _ => None,
    };
    let entry = state.providers.update(config, update).await?;
    audit_provider(&state, &caller, &name, "updated", key).await?;
    if let Some(action) = action {
        super::keys::audit_shared_key(&state, &caller, &name, action).await;
    }
    Ok(Json(view(&state, entry)))
}

/// Remove a provider added through the API, and its stored key. Agents on
/// it fail their next model call, saying the provider is not configured.
#[utoipa::path(delete, path = "/api/config/providers/{name}", tag = "config", operation_id = "delete_provider", security(("admin" = [])),
    params(("name" = String, Path, description = "The provider")),
    responses((status = 204, description = "Removed"), (status = 404, body = super::error::ErrorBody),
        (status = 409, description = "`read_only`: a provider of paddock.toml", body = super::error::ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let had = has_stored_key(&state, &name);
    state.providers.delete(&name).await?;
    audit_provider(&state, &caller, &name, "removed", "removed").await?;
    if had {
        super::keys::audit_shared_key(&state, &caller, &name, "removed").await;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Test a configured provider for real: `GET {base_url}/models` with its
/// key, or (404/405 there) a one-token request to its first model. An
/// upstream failure is `ok: false` with the server's status and message.
#[utoipa::path(post, path = "/api/config/providers/{name}/test", tag = "config", operation_id = "test_provider", security(("admin" = [])),
    params(("name" = String, Path, description = "The provider")),
    responses((status = 200, body = ProbeReport), (status = 404, body = super::error::ErrorBody)))]
pub async fn test(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<ProbeReport>, ApiError> {
    Ok(Json(state.providers.test(&name).await?))
}

/// Test a provider before saving it (the body of a `POST`). Without
/// `api_key`, the key stored for a provider of that name is used.
#[utoipa::path(post, path = "/api/config/providers/test", tag = "config", operation_id = "test_unsaved_provider", security(("admin" = [])),
    request_body = ProviderBody,
    responses((status = 200, body = ProbeReport), (status = 400, body = super::error::ErrorBody)))]
pub async fn test_unsaved(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> Result<Json<ProbeReport>, ApiError> {
    let (config, api_key) = read_body(body, None)?;
    Ok(Json(state.providers.test_unsaved(config, api_key).await?))
}

fn default_view(state: &AppState) -> DefaultModelView {
    let (model, source) = state.providers.default_model();
    DefaultModelView {
        provider: model.as_ref().map(|m| m.provider.clone()),
        model: model.map(|m| m.model),
        source,
    }
}

/// The model an agent gets when it names none.
#[utoipa::path(get, path = "/api/config/default-model", tag = "config", operation_id = "get_default_model",
    responses((status = 200, body = DefaultModelView)))]
pub async fn get_default(State(state): State<AppState>) -> Json<DefaultModelView> {
    Json(default_view(&state))
}

/// Set the default model (persisted); its provider must be usable.
#[utoipa::path(put, path = "/api/config/default-model", tag = "config", operation_id = "put_default_model", security(("admin" = [])),
    request_body = ModelRef,
    responses((status = 200, body = DefaultModelView), (status = 400, body = super::error::ErrorBody)))]
pub async fn put_default(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(model): ApiJson<ModelRef>,
) -> Result<Json<DefaultModelView>, ApiError> {
    let detail = serde_json::json!({ "provider": model.provider, "model": model.model });
    let reason = format!("default model set to {}/{}", model.provider, model.model);
    state.providers.set_default_model(model).await?;
    audit_default(&state, &caller, "set", reason, detail).await?;
    Ok(Json(default_view(&state)))
}

/// Records a change of the default model in the audit log.
async fn audit_default(
    state: &AppState,
    caller: &Caller,
    action: &str,
    reason: String,
    detail: serde_json::Value,
) -> Result<(), ApiError> {
    record(
        state,
        caller,
        Act {
            agent_id: "",
            kind: "default_model",
            action,
            reason,
            detail,
        },
    )
    .await
}

/// Unset the default model: the first model of the first usable provider
/// is used again.
#[utoipa::path(delete, path = "/api/config/default-model", tag = "config", operation_id = "delete_default_model", security(("admin" = [])),
    responses((status = 200, body = DefaultModelView)))]
pub async fn delete_default(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<DefaultModelView>, ApiError> {
    state.providers.clear_default_model().await?;
    let reason = "default model unset".to_string();
    audit_default(&state, &caller, "cleared", reason, serde_json::json!({})).await?;
    Ok(Json(default_view(&state)))
}
