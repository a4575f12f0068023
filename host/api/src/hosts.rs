//! The hosts: `GET /api/hosts` (every Paddock host on this database, its
//! state, load and agents) and the probes an orchestrator asks without
//! credentials, `GET /healthz` (the process answers) and `GET /readyz`
//! (the store answers, the lease loop runs, the host is not draining).

use super::AppState;
use super::auth::Caller;
use super::error::ApiError;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use paddock_protocol::cluster::{HostState, HostView};
use serde::Serialize;
use utoipa::ToSchema;

/// The hosts of this database: with one PostgreSQL shared by several
/// hosts, each host's state, capacity, load and the agents it runs (those
/// the caller may see); with SQLite, this host alone.
#[utoipa::path(get, path = "/api/hosts", tag = "meta", operation_id = "list_hosts",
    responses((status = 200, body = [HostView])))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<HostView>>, ApiError> {
    let visible = super::visibility::VisibleIds::of(&state, &caller).await?;
    let Some(cluster) = state.manager.cluster() else {
        return Ok(Json(vec![single(&state, &visible)]));
    };
    let hosts = cluster.hosts().await?;
    Ok(Json(
        hosts
            .iter()
            .map(|h| cluster.view(h, |a| visible.agent_id(a)))
            .collect(),
    ))
}

/// This host, when it is the only one (SQLite).
fn single(state: &AppState, visible: &super::visibility::VisibleIds) -> HostView {
    let agents = state.manager.local_agents();
    let busy = agents.iter().filter(|a| a.is_running()).count();
    let now = chrono::Utc::now();
    // One host has no cap on its agents.
    let capacity = 0;
    let count = u32::try_from(agents.len()).unwrap_or(u32::MAX);
    let mut ids: Vec<String> = agents
        .iter()
        .map(|a| a.id().to_string())
        .filter(|id| visible.agent_id(id))
        .collect();
    ids.sort();
    HostView {
        id: "this host".into(),
        advertise_url: None,
        version: env!("CARGO_PKG_VERSION").into(),
        state: HostState::Live,
        this: true,
        capacity,
        agents: count,
        busy: u32::try_from(busy).unwrap_or(u32::MAX),
        load: if capacity == 0 {
            0.0
        } else {
            f64::from(count) / f64::from(capacity)
        },
        started_at: state.started_at,
        heartbeat_at: now,
        heartbeat_age_ms: 0,
        agent_ids: ids,
    }
}

/// `GET /healthz`.
#[derive(Serialize, ToSchema)]
pub struct Liveness {
    /// `ok`.
    pub status: String,
}

/// Whether the process answers (an orchestrator's liveness probe; no
/// credentials).
#[utoipa::path(get, path = "/healthz", tag = "meta", operation_id = "healthz",
    security(()),
    responses((status = 200, body = Liveness)))]
pub async fn healthz() -> Json<Liveness> {
    Json(Liveness {
        status: "ok".into(),
    })
}

/// `GET /readyz`.
#[derive(Serialize, ToSchema)]
pub struct Readiness {
    /// Whether this host takes requests and agents.
    pub ready: bool,
    /// Whether the store answered just now.
    pub store: bool,
    /// With several hosts: whether the lease loop renewed this host's
    /// leases within a lease (always true with one host).
    pub leases: bool,
    /// Whether the host is draining (it hands its agents over and takes
    /// none).
    pub draining: bool,
}

/// Whether this host is ready (an orchestrator's readiness probe; no
/// credentials): 200 when the store answers, the lease loop runs and the
/// host is not draining, else 503 with what is wrong.
#[utoipa::path(get, path = "/readyz", tag = "meta", operation_id = "readyz",
    security(()),
    responses((status = 200, body = Readiness), (status = 503, body = Readiness)))]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let store = tokio::time::timeout(std::time::Duration::from_secs(2), state.store.ping())
        .await
        .is_ok_and(|r| r.is_ok());
    let (leases, draining) = match state.manager.cluster() {
        Some(c) => (c.ready() || c.is_draining(), c.is_draining()),
        None => (true, false),
    };
    let ready = store && leases && !draining;
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        code,
        Json(Readiness {
            ready,
            store,
            leases,
            draining,
        }),
    )
}
