//! `/api/config/budgets`: the budgets in force — global, per user and per
//! group — and what was spent against the global ones (GET; a member sees
//! their own and their groups' caps only), and replacing them (PUT, admin
//! only; stored, so they outlive a restart and override `[budgets]` of
//! `paddock.toml`).

use super::AppState;
use super::auth::Caller;
use super::error::{ApiError, ApiJson};
use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use paddock_core::agent::cost::Spend;
use paddock_core::config::{Budgets, SpendCap};
use paddock_protocol::agent::{day_start, month_start};
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// The budgets and the spend against the global ones.
#[derive(Serialize, ToSchema)]
pub struct BudgetsView {
    /// Dollars per UTC day over all agents (null: no cap).
    pub daily_usd: Option<f64>,
    /// Dollars per calendar month (UTC) over all agents (null: no cap).
    pub monthly_usd: Option<f64>,
    /// Caps per user, by user id: over all of the user's agents (an admin
    /// sees every user's; others their own).
    pub users: BTreeMap<String, SpendCap>,
    /// Caps per group, by group id: over all agents of the group's members
    /// together (an admin sees every group's; others their groups').
    pub groups: BTreeMap<String, SpendCap>,
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

async fn view(state: &AppState, caller: &Caller) -> Result<BudgetsView, ApiError> {
    let (budgets, from_api) = state.manager.deps().budgets.get();
    let now = Utc::now();
    let spend = Spend::read(&state.store, None, true, now).await?;
    let all = caller.sees_everything();
    Ok(BudgetsView {
        daily_usd: budgets.daily_usd,
        monthly_usd: budgets.monthly_usd,
        users: budgets
            .users
            .into_iter()
            .filter(|(id, _)| all || *id == caller.user_id)
            .collect(),
        groups: budgets
            .groups
            .into_iter()
            .filter(|(id, _)| all || caller.groups.contains(id))
            .collect(),
        source: if from_api { "api" } else { "config" }.into(),
        spent_today_usd: spend.all_today,
        spent_this_month_usd: spend.all_month,
        day_start: day_start(now),
        month_start: month_start(now),
    })
}

/// The budgets in force (global, and the user and group caps the caller
/// may see) and what all agents spent today and this month (UTC).
#[utoipa::path(get, path = "/api/config/budgets", tag = "config", operation_id = "get_budgets",
    responses((status = 200, body = BudgetsView)))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<BudgetsView>, ApiError> {
    Ok(Json(view(&state, &caller).await?))
}

/// The caps of `budgets.users` and `budgets.groups` keyed by id: each key
/// may be an id or a name, which must exist; the error names the field.
async fn by_id(state: &AppState, budgets: Budgets) -> Result<Budgets, ApiError> {
    let mut users = BTreeMap::new();
    for (key, cap) in budgets.users {
        let user = match state.store.get_user(&key).await? {
            Some(u) => Some(u),
            None => state.store.get_user_by_name(&key).await?,
        };
        let Some(user) = user else {
            return Err(ApiError::invalid(format!(
                "users.{key}: no user with this id or name"
            )));
        };
        if users.insert(user.id.clone(), cap).is_some() {
            return Err(ApiError::invalid(format!(
                "users.{key}: user `{}` is given twice",
                user.name
            )));
        }
    }
    let mut groups = BTreeMap::new();
    for (key, cap) in budgets.groups {
        let group = match state.store.get_group(&key).await? {
            Some(g) => Some(g),
            None => state.store.get_group_by_name(&key).await?,
        };
        let Some(group) = group else {
            return Err(ApiError::invalid(format!(
                "groups.{key}: no group with this id or name"
            )));
        };
        if groups.insert(group.id.clone(), cap).is_some() {
            return Err(ApiError::invalid(format!(
                "groups.{key}: group `{}` is given twice",
                group.name
            )));
        }
    }
    Ok(Budgets {
        users,
        groups,
        ..budgets
    })
}

/// Replace the budgets (admin only): global, per user (`users`, by user
/// id or name) and per group (`groups`, by group id or name). Omitted or
/// null fields mean no cap. Stored: they override `[budgets]` of
/// paddock.toml from now on, across restarts.
#[utoipa::path(put, path = "/api/config/budgets", tag = "config", operation_id = "put_budgets", security(("admin" = [])), request_body = Budgets,
    responses((status = 200, body = BudgetsView), (status = 400, body = super::error::ErrorBody),
        (status = 401, body = super::error::ErrorBody)))]
pub async fn put(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> Result<Json<BudgetsView>, ApiError> {
    // An object only (serde would also read a struct from an array), with
    // errors naming the field.
    let budgets: Budgets = super::error::Fields::try_from(body)
        .and_then(|f| f.rest())
        .map_err(ApiError::invalid)?;
    budgets.validate("").map_err(ApiError::invalid)?;
    let budgets = by_id(&state, budgets).await?;
    state
        .manager
        .deps()
        .budgets
        .replace(&state.store, budgets)
        .await?;
    Ok(Json(view(&state, &caller).await?))
}
