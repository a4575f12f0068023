//! `/api/info` (who is asking and what this host is),
//! `/api/config/providers` (the model providers, keys shown only as set or
//! unset) and `/api/config/routers` (the model routers): what the dashboard
//! needs to shape itself.

use super::AppState;
use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

/// `GET /api/info`.
#[derive(Serialize, ToSchema)]
pub struct Info {
    /// Paddock's version.
    pub version: String,
    /// Who the caller is: `admin` (the admin token or the login link),
    /// `user` (the user token) or `unauthenticated` (`--unsafe-no-auth`).
    pub role: super::auth::Role,
    /// Whether requests need credentials (always, unless the server runs
    /// with `--unsafe-no-auth`).
    pub auth_required: bool,
    /// Where agents' commands run: `docker`, `bwrap`, `none` (unsandboxed,
    /// `--unsafe-no-sandbox`), or null when no sandbox works on this host.
    pub sandbox: Option<String>,
    /// The model an agent gets when it names none (never the demo's).
    pub default_model: Option<paddock_core::agent::ModelRef>,
    /// Whether a model provider other than the built-in demo is set up
    /// (its client made, the key it needs present). When false the
    /// dashboard opens on its first-run setup; `POST /api/demo` works
    /// either way.
    pub providers_ready: bool,
    /// Agents whose stored records are damaged: quarantined at start (not
    /// loaded, left in the store as they are).
    pub quarantined_agents: Vec<QuarantinedAgent>,
}

/// An agent left out at start because its stored record is damaged.
#[derive(Serialize, ToSchema)]
pub struct QuarantinedAgent {
    /// Its id.
    pub id: String,
    /// What is wrong with its record.
    pub reason: String,
}

/// Who is asking and what this host is.
#[utoipa::path(get, path = "/api/info", tag = "meta",
    responses((status = 200, body = Info)))]
pub async fn info(State(state): State<AppState>, caller: super::auth::Caller) -> Json<Info> {
    Json(Info {
        version: env!("CARGO_PKG_VERSION").to_string(),
        role: caller.role,
        auth_required: state.auth.credentials_required(),
        sandbox: state
            .manager
            .deps()
            .sandbox
            .kind()
            .map(|k| k.as_str().to_string()),
        default_model: state.default_model.clone(),
        providers_ready: super::demo::providers_ready(state.manager.deps()),
        quarantined_agents: state
            .manager
            .quarantined()
            .iter()
            .map(|(id, reason)| QuarantinedAgent {
                id: id.clone(),
                reason: reason.clone(),
            })
            .collect(),
    })
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
    pub failover: Vec<paddock_protocol::agent::ModelRef>,
}

/// A configured model provider. The key itself is never shown.
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
    /// Whether that variable is set (and not empty) on the host.
    pub api_key_set: bool,
    /// Whether its client could be set up.
    pub available: bool,
    /// Whether it is the built-in offline demo (`demo`, model
    /// `paddock-demo`: a script served by this host, free, for
    /// `POST /api/demo`); it does not count as a usable provider.
    pub demo: bool,
    /// While its circuit breaker is open (it failed repeatedly, so failover
    /// passes it over): milliseconds until it is tried again.
    pub circuit_open_ms: Option<u64>,
    /// Its models.
    pub models: Vec<ModelView>,
}

/// The configured model providers, sorted by name.
#[utoipa::path(get, path = "/api/config/providers", tag = "config", operation_id = "list_providers",
    responses((status = 200, body = [ProviderView])))]
pub async fn providers(State(state): State<AppState>) -> Json<Vec<ProviderView>> {
    let deps = state.manager.deps();
    let mut out: Vec<ProviderView> = state
        .providers
        .iter()
        .map(|p| ProviderView {
            name: p.name.clone(),
            base_url: p.base_url.clone(),
            api: p.api,
            api_key_env: p.api_key_env.clone(),
            api_key_set: p
                .api_key_env
                .as_deref()
                .and_then(|v| std::env::var(v).ok())
                .is_some_and(|v| !v.trim().is_empty()),
            available: deps.providers.contains_key(&p.name),
            demo: p.name == super::demo::PROVIDER,
            circuit_open_ms: deps
                .providers
                .get(&p.name)
                .and_then(|live| live.breaker.check().err())
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
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Json(out)
}

/// The configured model routers, sorted by name.
#[utoipa::path(get, path = "/api/config/routers", tag = "config", operation_id = "list_routers",
    responses((status = 200, body = [paddock_core::config::RouterConfig])))]
pub async fn routers(
    State(state): State<AppState>,
) -> Json<Vec<paddock_core::config::RouterConfig>> {
    let mut out: Vec<_> = state.manager.deps().routers.values().cloned().collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Json(out)
}
