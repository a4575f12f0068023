//! `/metrics` (Prometheus text, host-wide: admins) and `/api/metrics/…`:
//! per-agent figures, usage by provider, model, agent, user and day, and
//! the cost analysis — each counting only the agents the caller may see
//! (`ownership::Visible`; an agent the caller may not see is "not found").
//! The WebSocket's `watch_metrics` reads [`all`] and [`one`], which do not
//! filter: it checks and filters them for its caller itself.

use super::AppState;
use super::auth::Caller;
use super::error::{ApiError, ApiPath, ApiQuery, query_time, storable};
use super::ownership::Visible;
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{Duration, Utc};
use paddock_core::metrics::usage::{
    CostAnalysis, GroupBy, Scope, UsageReport, UsageUser, cost_analysis, usage_report,
};
use paddock_core::metrics::{AgentMetrics, MetricsError};
use serde::Deserialize;
use utoipa::IntoParams;

impl From<MetricsError> for ApiError {
    fn from(e: MetricsError) -> ApiError {
        match e {
            MetricsError::Store(s) => s.into(),
            MetricsError::Registry(r) => ApiError::internal("metrics failed", &r),
        }
    }
}

/// The states of the MCP servers now (`running`, `backoff`, …).
fn mcp_states(state: &AppState) -> Vec<(String, String)> {
    state
        .mcp
        .list()
        .into_iter()
        .map(|s| {
            let st = serde_json::to_value(s.health.state)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_else(|| "unknown".into());
            (s.name, st)
        })
        .collect()
}

/// Prometheus metrics (text exposition format 0.0.4).
#[utoipa::path(get, path = "/metrics", tag = "metrics", operation_id = "prometheus_metrics",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
pub async fn prometheus(State(state): State<AppState>) -> Result<Response, ApiError> {
    let statuses: Vec<_> = state
        .store
        .list_agents(false)
        .await?
        .into_iter()
        .map(|a| a.status)
        .collect();
    let mcp: Vec<String> = mcp_states(&state).into_iter().map(|(_, s)| s).collect();
    let text = state.metrics.render(&statuses, &mcp)?;
    Ok((
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

/// `GET /api/metrics/agents` parameters.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AgentsParams {
    /// Include deleted agents.
    #[serde(default)]
    pub include_deleted: bool,
}

/// Every agent's figures, unfiltered: the WebSocket's `metrics.update`
/// filters them for its caller.
pub async fn all(state: &AppState, include_deleted: bool) -> Result<Vec<AgentMetrics>, ApiError> {
    figures(state, None, include_deleted).await
}

/// The figures of every agent `caller` may see.
pub async fn all_visible(
    state: &AppState,
    caller: &Caller,
    include_deleted: bool,
) -> Result<Vec<AgentMetrics>, ApiError> {
    let visible = Visible::of(state, caller).await?;
    figures(state, Some(&visible), include_deleted).await
}

/// The figures of every agent (of those `visible` lets through, if given).
async fn figures(
    state: &AppState,
    visible: Option<&Visible>,
    include_deleted: bool,
) -> Result<Vec<AgentMetrics>, ApiError> {
    let now = Utc::now();
    let mcp = mcp_states(state);
    let mut out = Vec::new();
    for a in state.store.list_agents(include_deleted).await? {
        if visible.is_some_and(|v| !v.agent(&a)) {
            continue;
        }
        if let Some(stats) = state.metrics.agent(&state.store, &a.id).await? {
            let mut view = stats.view(now, &mcp);
            view.sandbox = state.manager.deps().sandbox.usage(&a.id).await;
            out.push(view);
        }
    }
    Ok(out)
}

/// One agent's figures, or 404; the caller checks that it may see it.
pub async fn one(state: &AppState, id: &str) -> Result<AgentMetrics, ApiError> {
    match state.metrics.agent(&state.store, id).await? {
        Some(stats) => {
            let mut view = stats.view(Utc::now(), &mcp_states(state));
            view.sandbox = state.manager.deps().sandbox.usage(id).await;
            Ok(view)
        }
        None => Err(ApiError::not_found(format!("no agent with id `{id}`"))),
    }
}

/// Every agent's figures.
#[utoipa::path(get, path = "/api/metrics/agents", tag = "metrics", operation_id = "list_agent_metrics", params(AgentsParams),
    responses((status = 200, body = [AgentMetrics])))]
pub async fn agents(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(p): ApiQuery<AgentsParams>,
) -> Result<Json<Vec<AgentMetrics>>, ApiError> {
    Ok(Json(all_visible(&state, &caller, p.include_deleted).await?))
}

/// One agent's figures.
#[utoipa::path(get, path = "/api/metrics/agents/{id}", tag = "metrics", operation_id = "get_agent_metrics",
    params(("id" = String, Path, description = "The agent's id.")),
    responses((status = 200, body = AgentMetrics), (status = 404, body = super::error::ErrorBody)))]
pub async fn agent(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<AgentMetrics>, ApiError> {
    super::ownership::agent(&state, &caller, &id, super::ownership::Need::See).await?;
    Ok(Json(one(&state, &id).await?))
}

/// The agents `caller` may see (deleted ones too: their calls were spent),
/// each with its owner's id and name.
async fn scope(state: &AppState, caller: &Caller) -> Result<Scope, ApiError> {
    let visible = Visible::of(state, caller).await?;
    let names: std::collections::HashMap<String, String> = state
        .store
        .list_users()
        .await?
        .into_iter()
        .map(|u| (u.id, u.name))
        .collect();
    let agents = state
        .store
        .list_agents(true)
        .await?
        .into_iter()
        .filter(|a| visible.agent(a))
        .map(|a| {
            let name = names
                .get(&a.owner)
                .cloned()
                .unwrap_or_else(|| a.owner.clone());
            (a.id, UsageUser { id: a.owner, name })
        })
        .collect();
    Ok(Scope { agents })
}

/// `GET /api/metrics/usage` parameters.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UsageParams {
    /// Start (included): RFC 3339 or `YYYY-MM-DD` (UTC midnight). Default:
    /// 30 days before `to`. Before `to`, at most 3660 days before it.
    #[serde(default)]
    #[param(schema_with = time_or_date)]
    pub from: Option<String>,
    /// End (excluded): RFC 3339 or `YYYY-MM-DD`. Default: now.
    #[serde(default)]
    #[param(schema_with = time_or_date)]
    pub to: Option<String>,
    /// Group by any of `provider,model,agent,user,day`, comma-separated
    /// (spaces and empty items are ignored; default: none, totals only).
    /// `user` groups by the agents' owner.
    #[serde(default)]
    #[param(
        pattern = r"^[\t-\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*(provider|model|agent|user|day)?[\t-\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*(,[\t-\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*(provider|model|agent|user|day)?[\t-\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*)*$"
    )]
    pub group_by: Option<String>,
    /// Only this agent's calls (404 for an agent the caller may not see).
    #[serde(default)]
    pub agent: Option<String>,
}

/// A time (RFC 3339) or a date (`YYYY-MM-DD`).
fn time_or_date() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::schema::{AnyOfBuilder, KnownFormat, ObjectBuilder, SchemaFormat, Type};
    let string = |f| {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(f)))
    };
    AnyOfBuilder::new()
        .item(string(KnownFormat::DateTime))
        .item(string(KnownFormat::Date))
        .into()
}

/// Longest range one usage request may cover.
const MAX_RANGE_DAYS: i64 = 3660;

/// Tokens and cost by provider, model, agent, user and day in a time
/// range, of the agents the caller may see.
#[utoipa::path(get, path = "/api/metrics/usage", tag = "metrics", operation_id = "usage_report", params(UsageParams),
    responses((status = 200, body = UsageReport), (status = 400, body = super::error::ErrorBody),
        (status = 404, description = "No agent with the id `agent` gives", body = super::error::ErrorBody)))]
pub async fn usage(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(p): ApiQuery<UsageParams>,
) -> Result<Json<UsageReport>, ApiError> {
    let to = match &p.to {
        Some(t) => query_time("to", t, true)?,
        None => Utc::now(),
    };
    let from = match &p.from {
        Some(f) => query_time("from", f, true)?,
        None => storable(to - Duration::days(30)),
    };
    if from >= to {
        return Err(ApiError::invalid(format!(
            "from: {from} is not before to: {to}"
        )));
    }
    if to - from > Duration::days(MAX_RANGE_DAYS) {
        return Err(ApiError::invalid(format!(
            "from/to: a range covers at most {MAX_RANGE_DAYS} days"
        )));
    }
    let group_by =
        GroupBy::parse_list(p.group_by.as_deref().unwrap_or("")).map_err(ApiError::invalid)?;
    let scope = scope(&state, &caller).await?;
    if let Some(a) = &p.agent
        && !scope.has(a)
    {
        return Err(ApiError::not_found(format!("no agent with id `{a}`")));
    }
    let records = state
        .store
        .usage_between(from, to, p.agent.as_deref())
        .await?;
    Ok(Json(usage_report(&records, &scope, from, to, &group_by)))
}

/// Spend to date, burn rate, projection to the month's end, spend by
/// user, the most expensive agents and tools, prompt caching and what
/// routing saved — over the agents the caller may see.
#[utoipa::path(get, path = "/api/metrics/cost-analysis", tag = "metrics", operation_id = "cost_analysis",
    responses((status = 200, body = CostAnalysis)))]
pub async fn cost(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<CostAnalysis>, ApiError> {
    let scope = scope(&state, &caller).await?;
    Ok(Json(
        cost_analysis(&state.store, &state.providers.configs(), &scope, Utc::now()).await?,
    ))
}
