//! `/api/config/budgets`: the global budgets in force and what was spent
//! against them (GET), and replacing them (PUT, admin only; stored, so they
//! outlive a restart and override `[budgets]` of `paddock.toml`).

use super::AppState;
use super::error::{ApiError, ApiJson};
use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use paddock_core::agent::cost::Spend;
use paddock_core::config::Budgets;
use paddock_protocol::agent::{day_start, month_start};
use serde::Serialize;
use utoipa::ToSchema;

/// The global budgets and the spend against them.
#[derive(Serialize, ToSchema)]
pub struct BudgetsView {
    /// Dollars per UTC day over all agents (null: no cap).
    pub daily_usd: Option<f64>,
    /// Dollars per calendar month (UTC) over all agents (null: no cap).
    pub monthly_usd: Option<f64>,
    /// Where they come from: `config` (`[budgets]` of paddock.toml) or
    /// `api` (set with PUT, stored).
    pub source: String,
    /// Dollars spent by all agents since `day_start`.
    pub spent_today_usd: f64,
    /// Dollars spent by all agents since `month_start`.
    pub spent_this_month_usd: f64,
    /// The start of the current UTC day.
    pub day_start: DateTime<Utc>,
    /// The start of the current UTC month.
    pub month_start: DateTime<Utc>,
}

async fn view(state: &AppState) -> Result<BudgetsView, ApiError> {
    let (budgets, from_api) = state.manager.deps().budgets.get();
    let now = Utc::now();
    let spend = Spend::read(&state.store, None, true, now).await?;
    Ok(BudgetsView {
        daily_usd: budgets.daily_usd,
        monthly_usd: budgets.monthly_usd,
        source: if from_api { "api" } else { "config" }.into(),
        spent_today_usd: spend.all_today,
        spent_this_month_usd: spend.all_month,
        day_start: day_start(now),
        month_start: month_start(now),
    })
}

/// The global budgets in force and what all agents spent today and this
/// month (UTC).
#[utoipa::path(get, path = "/api/config/budgets", tag = "config", operation_id = "get_budgets",
    responses((status = 200, body = BudgetsView)))]
pub async fn get(State(state): State<AppState>) -> Result<Json<BudgetsView>, ApiError> {
    Ok(Json(view(&state).await?))
}

/// Replace the global budgets (admin only). Omitted or null fields mean
/// no cap. Stored: they override `[budgets]` of paddock.toml from now on,
/// across restarts.
#[utoipa::path(put, path = "/api/config/budgets", tag = "config", operation_id = "put_budgets", security(("admin" = [])), request_body = Budgets,
    responses((status = 200, body = BudgetsView), (status = 400, body = super::error::ErrorBody),
        (status = 401, body = super::error::ErrorBody)))]
pub async fn put(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> Result<Json<BudgetsView>, ApiError> {
    // An object only (serde would also read a struct from an array), with
    // errors naming the field.
    let budgets: Budgets = super::error::Fields::try_from(body)
        .and_then(|f| f.rest())
        .map_err(ApiError::invalid)?;
    budgets.validate("").map_err(ApiError::invalid)?;
    state
        .manager
        .deps()
        .budgets
        .replace(&state.store, budgets)
        .await?;
    Ok(Json(view(&state).await?))
}
