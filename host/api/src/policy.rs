//! Trust: approval decisions (`POST /api/agents/{id}/approvals/{call_id}`),
//! pending approvals across agents, the audit log (read-only: nothing in
//! the API deletes it), policy rules, and a dry-run of the pipeline.
//!
//! Approvals are the agents': deciding one needs the right to drive its
//! agent, and the list shows those of the agents the caller may see, each
//! with the agent's owner. The audit log shows an admin everything, anyone
//! else the entries of the agents they may see and their own acts.

use super::AppState;
use super::audit::{Act, actor, record};
use super::auth::Caller;
use super::error::{ApiError, ApiJson, ApiPath, ApiQuery, query_time};
use super::ownership::{self, Need};
use super::shares::{Names, UserRef};
use super::visibility::VisibleIds;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use paddock_core::agent::Remember;
use paddock_core::policy::{ApprovalMode, Call, Decision, RuleSpec, RuleView, Scope, Subject};
use paddock_store::{ApprovalRecord, AuditEntry, AuditQuery};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// `POST /api/agents/{id}/approvals/{call_id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecideApproval {
    /// Run the call (`true`) or refuse it (`false`).
    pub approved: bool,
    /// Why; a refusal's reason goes back to the model.
    #[serde(default)]
    pub reason: Option<String>,
    /// `once` (default), `agent` or `always`: also store the rule shown in
    /// the request's `remember` (an `allow` rule, or the same pattern as
    /// `deny` when refused) for this agent or for every agent.
    #[serde(default)]
    pub remember: Remember,
}

/// Decide a pending approval. Applied once: a second decision gets 409 with
/// the one that stands.
#[utoipa::path(post, path = "/api/agents/{id}/approvals/{call_id}", tag = "policy", operation_id = "decide_approval",
    params(("id" = String, Path, description = "The agent's id."), ("call_id" = String, Path, description = "The tool call's id.")),
    request_body = DecideApproval,
    responses((status = 200, body = ApprovalRecord), (status = 400, body = super::error::ErrorBody),
        (status = 404, body = super::error::ErrorBody), (status = 409, body = super::error::ErrorBody)))]
pub async fn decide(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, call_id)): ApiPath<(String, String)>,
    ApiJson(req): ApiJson<DecideApproval>,
) -> Result<Json<ApprovalRecord>, ApiError> {
    ownership::agent(&state, &caller, &id, Need::Drive).await?;
    let record = state
        .manager
        .decide(
            &id,
            &call_id,
            req.approved,
            req.reason,
            req.remember,
            &actor(&caller, "REST"),
        )
        .await?;
    Ok(Json(record))
}

/// `GET /api/approvals` parameters.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PendingParams {
    /// Only this agent's.
    #[serde(default)]
    pub agent: Option<String>,
}

/// A pending approval with whom its agent belongs to.
#[derive(Serialize, ToSchema)]
pub struct PendingApproval {
    /// The approval.
    #[serde(flatten)]
    pub approval: ApprovalRecord,
    /// The owner of its agent.
    pub owner: UserRef,
}

/// Pending approvals.
#[derive(Serialize, ToSchema)]
pub struct PendingApprovals {
    /// Oldest first.
    pub approvals: Vec<PendingApproval>,
}

/// Every pending approval of the agents the caller may see, oldest first.
#[utoipa::path(get, path = "/api/approvals", tag = "policy", operation_id = "pending_approvals", params(PendingParams),
    responses((status = 200, body = PendingApprovals)))]
pub async fn pending(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(p): ApiQuery<PendingParams>,
) -> Result<Json<PendingApprovals>, ApiError> {
    let visible = VisibleIds::of(&state, &caller).await?;
    let pending = state.store.pending_approvals(p.agent.as_deref()).await?;
    let names = Names::load(&state).await?;
    let mut owners = std::collections::HashMap::new();
    let mut approvals = Vec::new();
    for approval in pending {
        if !visible.agent_id(&approval.agent_id) {
            continue;
        }
        let owner = match owners.get(&approval.agent_id) {
            Some(o) => Clone::clone(o),
            None => {
                let o = match state.store.get_agent(&approval.agent_id).await? {
                    Some(a) => names.user(&a.owner),
                    None => names.user(paddock_protocol::identity::LOCAL_USER),
                };
                owners.insert(approval.agent_id.clone(), o.clone());
                o
            }
        };
        approvals.push(PendingApproval { approval, owner });
    }
    Ok(Json(PendingApprovals { approvals }))
}

/// `GET /api/audit` parameters.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    /// Only this agent's entries.
    #[serde(default)]
    pub agent: Option<String>,
    /// Only entries at or after this time (RFC 3339).
    #[serde(default)]
    #[param(format = DateTime)]
    pub since: Option<String>,
    /// Only entries with an id above this (paging: the last id seen).
    #[serde(default)]
    pub after_id: Option<i64>,
    /// Only the acts of this user (by id).
    #[serde(default)]
    pub user: Option<String>,
    /// At most this many (default 500, at most 5000).
    #[serde(default)]
    #[param(minimum = 1, maximum = 5000)]
    pub limit: Option<u32>,
}

/// A page of the audit log.
#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    /// Oldest first.
    pub entries: Vec<AuditEntry>,
}

/// The audit log: every policy decision, approval decision, retry, share,
/// rule change and change to plugins, MCP servers, providers and
/// environments (who — the user and token —, when, what, why). An admin
/// reads all of it; anyone else the entries of the agents they may see and
/// their own acts. Never deletable through the API.
#[utoipa::path(get, path = "/api/audit", tag = "policy", operation_id = "audit_log", params(AuditParams),
    responses((status = 200, body = AuditPage), (status = 400, body = super::error::ErrorBody)))]
pub async fn audit(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(p): ApiQuery<AuditParams>,
) -> Result<Json<AuditPage>, ApiError> {
    let limit = p.limit.unwrap_or(500);
    if limit == 0 || limit > 5000 {
        return Err(ApiError::invalid("limit: must be between 1 and 5000"));
    }
    let since = match &p.since {
        None => None,
        Some(s) => Some(query_time("since", s, false)?),
    };
    let visible = VisibleIds::of(&state, &caller).await?;
    let keep = |e: &AuditEntry| {
        visible.is_all()
            || e.user_id.as_deref() == Some(caller.user_id.as_str())
            || (!e.agent_id.is_empty() && visible.agent_id(&e.agent_id))
    };
    // Pages of the store until `limit` entries the caller may read.
    let mut entries = Vec::new();
    let mut after_id = p.after_id;
    loop {
        let page = state
            .store
            .audit_log(&AuditQuery {
                agent: p.agent.clone(),
                since,
                after_id,
                user: p.user.clone(),
                limit,
            })
            .await?;
        let full = page.len() == limit as usize;
        after_id = page.last().map(|e| e.id).or(after_id);
        entries.extend(page.into_iter().filter(|e| keep(e)));
        if !full || entries.len() >= limit as usize {
            break;
        }
    }
    entries.truncate(limit as usize);
    Ok(Json(AuditPage { entries }))
}

/// Policy rules.
#[derive(Serialize, ToSchema)]
pub struct RuleList {
    /// In the order they are tried within each scope (config first).
    pub rules: Vec<RuleView>,
}

/// Every rule: from `paddock.toml` (read-only here) and added through the
/// API or by remembered approvals.
#[utoipa::path(get, path = "/api/policy/rules", tag = "policy",
    responses((status = 200, body = RuleList)))]
pub async fn list_rules(State(state): State<AppState>) -> Json<RuleList> {
    Json(RuleList {
        rules: state.manager.deps().policy.rules(),
    })
}

/// Add a rule (admin). Its `match`/`not_match` examples are checked first.
#[utoipa::path(post, path = "/api/policy/rules", tag = "policy", security(("admin" = [])), request_body = RuleSpec,
    responses((status = 201, body = RuleView), (status = 400, body = super::error::ErrorBody)))]
pub async fn add_rule(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(spec): ApiJson<RuleSpec>,
) -> Result<(StatusCode, Json<RuleView>), ApiError> {
    let by = caller.actor("REST");
    let view = state
        .manager
        .deps()
        .policy
        .add_rule(spec, "api", &by)
        .await?;
    record_rule_change(&state, &caller, &view, "added").await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// Remove a rule added through the API (admin); rules of `paddock.toml`
/// give 409.
#[utoipa::path(delete, path = "/api/policy/rules/{id}", tag = "policy", security(("admin" = [])),
    params(("id" = String, Path, description = "The rule's id.")),
    responses((status = 200, body = RuleView), (status = 404, body = super::error::ErrorBody),
        (status = 409, body = super::error::ErrorBody)))]
pub async fn remove_rule(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<RuleView>, ApiError> {
    let view = state.manager.deps().policy.remove_rule(&id).await?;
    record_rule_change(&state, &caller, &view, "removed").await?;
    Ok(Json(view))
}

async fn record_rule_change(
    state: &AppState,
    caller: &Caller,
    view: &RuleView,
    action: &str,
) -> Result<(), ApiError> {
    let agent_id = match &view.spec.scope {
        Scope::Agent(id) => id.clone(),
        _ => String::new(),
    };
    record(
        state,
        caller,
        Act {
            agent_id: &agent_id,
            kind: "rule",
            action,
            reason: format!("{} ({})", view.spec.rule, view.spec.scope),
            detail: serde_json::to_value(view).unwrap_or_default(),
        },
    )
    .await
}

/// `POST /api/policy/assess`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssessRequest {
    /// The tool's name as offered to the model.
    #[schema(pattern = r"[^\t-\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]")]
    pub tool: String,
    /// Its arguments (a JSON object).
    #[schema(value_type = Object)]
    pub input: serde_json::Value,
    /// The approval mode (default: the agent's, else the host's default).
    #[serde(default)]
    pub mode: Option<ApprovalMode>,
    /// Judge it for this agent (its rules, template and mode).
    #[serde(default)]
    pub agent: Option<String>,
    /// Whether the tool only reads (default: as the tool says, else no).
    #[serde(default)]
    pub read_only: Option<bool>,
}

/// What the pipeline would decide about a call, without running anything
/// or recording a decision.
#[utoipa::path(post, path = "/api/policy/assess", tag = "policy", operation_id = "assess_call", request_body = AssessRequest,
    responses((status = 200, body = Decision), (status = 400, body = super::error::ErrorBody),
        (status = 404, body = super::error::ErrorBody)))]
pub async fn assess(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<AssessRequest>,
) -> Result<Json<Decision>, ApiError> {
    if !req.input.is_object() {
        return Err(ApiError::invalid(
            "input: must be a JSON object of arguments",
        ));
    }
    if req.tool.trim().is_empty() {
        return Err(ApiError::invalid("tool: must not be empty"));
    }
    let deps = state.manager.deps();
    // The agent's own rules, from its record (it may run on another host).
    let agent = match &req.agent {
        Some(id) => {
            let record = ownership::agent(&state, &caller, id, Need::See).await?;
            if record.deleted_at.is_some() {
                return Err(ApiError::not_found(format!("no agent with id `{id}`")));
            }
            let rules = paddock_core::policy::compile_all(&record.config.rules)
                .map_err(|e| ApiError::invalid(format!("agent: its rules no longer parse: {e}")))?;
            Some((record, rules))
        }
        None => None,
    };
    let read_only = req.read_only.unwrap_or_else(|| {
        deps.plugins
            .find_tool(&req.tool)
            .map(|(_, spec)| spec.read_only)
            .ok()
            .or_else(|| deps.mcp.find_tool(&req.tool).map(|t| t.read_only))
            .unwrap_or(false)
    });
    let call = Call {
        tool: &req.tool,
        arguments: &req.input,
        read_only,
        call_id: "assess",
    };
    let decision = match &agent {
        Some((record, rules)) => {
            let mut subject = Subject::of_agent(&record.id, &record.config, rules);
            if let Some(m) = req.mode {
                subject.mode = m;
            }
            deps.policy.decide(&subject, &call).await
        }
        None => {
            let mode = req.mode.unwrap_or(deps.policy.config().default_mode);
            deps.policy.decide(&Subject::no_agent(mode), &call).await
        }
    };
    Ok(Json(decision))
}
