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
    /// The caller's user id (`local`: the local account, as the service
    /// tokens, the login link and `--unsafe-no-auth` act).
    pub user_id: String,
    /// The caller's user name.
    pub user_name: String,
    /// The caller's role.
    pub role: super::auth::Role,
    /// The scope of the caller's credential.
    pub scope: super::auth::Scope,
    /// Whether the caller may use the admin routes (an admin with scope
    /// `admin`).
    pub admin: bool,
    /// Whether the caller may change things (a member or admin with scope
    /// `write` or more).
    pub can_write: bool,
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
        admin: caller.is_admin(),
        can_write: caller.may_write(),
        role: caller.role,
        scope: caller.scope,
        user_id: caller.user_id,
        user_name: caller.user_name,
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
