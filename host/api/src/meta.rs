//! `/api/info` (who is asking and what this host is) and
//! `/api/config/routers` (the model routers): what the dashboard needs to
//! shape itself. The providers are in `providers`.

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
        default_model: state.providers.default_model().0,
        providers_ready: state.providers.any_usable(),
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
