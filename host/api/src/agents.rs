//! `/api/agents`: create (from a template or not), list, get, delete,
//! messages, interrupt and the event log — each for the agents the caller
//! may see ([`ownership`]): a list shows only those, a direct route answers
//! 404 for the others, and changing one (message, interrupt, retry,
//! delete) needs the right to drive it. An agent is created for its caller,
//! on a workspace the caller may use.

use super::AppState;
use super::auth::Caller;
use super::error::{ApiError, ApiJson, ApiPath, ApiQuery, Fields};
use super::ownership::{self, Need};
use super::shares::{Names, ShareView, UserRef};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use paddock_core::agent::AgentConfig;
use paddock_core::agent::resolve::{AgentRequest, ResolveError, Resolved, Resolver};
pub use paddock_core::agent::resolve::{AgentTemplate, EXCLUSIVE, WorktreeRequest};
use paddock_protocol::events::{AgentStatus, ErrorCode, Event};
use paddock_sandbox::BackendKind;
use paddock_store::AgentRecord;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// An agent as the API shows it.
#[derive(Serialize, ToSchema)]
pub struct AgentView {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its status.
    pub status: AgentStatus,
    /// Why it has that status, when the log says (the reason of its last
    /// `agent.status` event: why it failed, hit a limit, was interrupted
    /// or retried).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_reason: Option<String>,
    /// The error code of the `error` that ended its last run (with
    /// `error` and `limited`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<ErrorCode>,
    /// Its configuration.
    pub config: AgentConfig,
    /// Tokens, cost and tool calls so far.
    pub usage: paddock_store::UsageTotals,
    /// The seq of its latest stored event.
    pub last_seq: u64,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// When it was deleted (its history stays until purged).
    pub deleted_at: Option<DateTime<Utc>>,
    /// Where its commands run: `docker`, `bwrap`, `none` (unsandboxed:
    /// `--unsafe-no-sandbox`), or null when no sandbox works on this host.
    #[schema(value_type = Option<String>)]
    pub sandbox: Option<BackendKind>,
    /// The user it belongs to (who created it).
    pub owner: UserRef,
    /// The users and groups it is shared with.
    pub shared_with: Vec<ShareView>,
    /// With several hosts on one database: the host that runs it now
    /// (null: none at this moment — it is being taken over — or a single
    /// host).
    pub host: Option<String>,
    /// The agent that started it with `delegate` (its parent), if one did.
    pub parent: Option<String>,
    /// The ids of the sub-agents it started (not deleted), oldest first.
    pub children: Vec<String>,
}

impl AgentView {
    /// The view of `r`, with its owner's name and shares from `names` and
    /// its children among `all` (the agents not deleted).
    async fn new(
        r: AgentRecord,
        state: &AppState,
        names: &Names,
        all: &[AgentRecord],
    ) -> Result<AgentView, ApiError> {
        let shares = state.store.shares_of(&r.id).await?;
        Ok(AgentView {
            parent: r.config.parent.clone(),
            children: all
                .iter()
                .filter(|c| c.config.parent.as_deref() == Some(r.id.as_str()))
                .map(|c| c.id.clone())
                .collect(),
            owner: names.user(&r.owner),
            shared_with: names.shares(&shares),
            host: r.host.clone(),
            sandbox: state.manager.deps().sandbox.kind(),
            id: r.id,
            name: r.name,
            status: r.status,
            status_reason: r.status_reason,
            error_code: r.status_code,
            config: r.config,
            usage: r.usage,
            last_seq: r.last_seq,
            created_at: r.created_at,
            updated_at: r.updated_at,
            deleted_at: r.deleted_at,
        })
    }

    /// The view of one agent for `caller` (who sees only the children
    /// they may see).
    async fn of(r: AgentRecord, state: &AppState, caller: &Caller) -> Result<AgentView, ApiError> {
        let visible = ownership::Visible::of(state, caller).await?;
        let all: Vec<AgentRecord> = state
            .store
            .list_agents(false)
            .await?
            .into_iter()
            .filter(|c| visible.agent(c))
            .collect();
        AgentView::new(r, state, &Names::load(state).await?, &all).await
    }
}

/// `POST /api/agents`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, try_from = "serde_json::Value")]
pub struct CreateAgent {
    /// A human name (default: the template's name or "agent"): not blank,
    /// at most 200 bytes.
    #[serde(default)]
    #[schema(pattern = r"[^\t-\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]")]
    pub name: Option<String>,
    /// Start from this stored template.
    #[serde(default)]
    pub template: Option<String>,
    /// Everything a template may set, overriding it.
    #[serde(flatten)]
    pub fields: AgentTemplate,
    /// A first user message, posted right away: not blank, at most 256 KiB.
    #[serde(default)]
    #[schema(pattern = r"[^\t-\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]")]
    pub task: Option<String>,
}

impl TryFrom<serde_json::Value> for CreateAgent {
    type Error = String;

    fn try_from(v: serde_json::Value) -> Result<CreateAgent, String> {
        let mut f = Fields::try_from(v)?;
        Ok(CreateAgent {
            name: f.take("name")?,
            template: f.take("template")?,
            task: f.take("task")?,
            fields: f.rest()?,
        })
    }
}

impl From<CreateAgent> for AgentRequest {
    fn from(req: CreateAgent) -> AgentRequest {
        AgentRequest {
            name: req.name,
            template: req.template,
            fields: req.fields,
            task: req.task,
        }
    }
}

impl From<ResolveError> for ApiError {
    fn from(e: ResolveError) -> ApiError {
        match e {
            ResolveError::Invalid(m) => ApiError::invalid(m),
            ResolveError::Workspace(w) => w.into(),
            ResolveError::Store(s) => s.into(),
        }
    }
}

/// Create an agent.
#[utoipa::path(post, path = "/api/agents", tag = "agents", operation_id = "create_agent", request_body = CreateAgent,
    responses((status = 201, body = AgentView), (status = 400, body = super::error::ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<CreateAgent>,
) -> Result<(StatusCode, Json<AgentView>), ApiError> {
    // Which field named the workspace, for a refusal.
    let field = if req.fields.workspace_id.is_some() {
        "workspace_id"
    } else if req.fields.workspace.is_some() {
        "workspace"
    } else if req.fields.worktree.is_some() {
        "worktree"
    } else {
        "template"
    };
    let Resolved {
        mut config,
        worktree,
        task,
    } = Resolver::new(
        state.manager.deps(),
        state.providers.default_model().0.as_ref(),
    )
    .resolve(req.into())
    .await?;
    config.owner = Some(caller.user_id.clone());
    if worktree.is_none() {
        super::workspaces::check_usable(&state, &caller, &config, field).await?;
    }
    // A worktree named after the agent, made last so that a request that
    // fails its checks leaves none behind (and removed if creation fails).
    let made = match worktree {
        Some(w) => {
            let ws = state
                .workspaces
                .make_for_agent(
                    &config.name,
                    paddock_core::workspace::AgentSource::Worktree {
                        repo: w.repo,
                        base: w.base,
                    },
                    Some(caller.user_id.clone()),
                )
                .await
                .map_err(|e| match e {
                    paddock_core::workspace::WorkspaceError::Invalid(m) => {
                        ApiError::invalid(format!("worktree.{m}"))
                    }
                    other => other.into(),
                })?;
            config.workspace = ws.path.clone();
            config.workspace_id = Some(ws.id.clone());
            Some(ws)
        }
        None => None,
    };
    match state.manager.create(config, task).await {
        Ok(record) => Ok((
            StatusCode::CREATED,
            Json(AgentView::of(record, &state, &caller).await?),
        )),
        Err(e) => {
            if let Some(ws) = made {
                state.workspaces.unmake_for_agent(&ws).await;
            }
            Err(e.into())
        }
    }
}

/// `GET /api/agents` parameters.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// Include deleted agents (whose history is kept).
    #[serde(default)]
    pub include_deleted: bool,
    /// Only the sub-agents of this agent (its children).
    #[serde(default)]
    pub parent: Option<String>,
}

/// List the agents the caller may see (their own, those shared with them
/// or their groups; every agent for an admin) with their status.
#[utoipa::path(get, path = "/api/agents", tag = "agents", operation_id = "list_agents", params(ListParams),
    responses((status = 200, body = Vec<AgentView>)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(p): ApiQuery<ListParams>,
) -> Result<Json<Vec<AgentView>>, ApiError> {
    let visible = ownership::Visible::of(&state, &caller).await?;
    let records = state.store.list_agents(p.include_deleted).await?;
    // The children each view lists: those not deleted that the caller
    // may see.
    let live: Vec<AgentRecord> = records
        .iter()
        .filter(|r| r.deleted_at.is_none() && visible.agent(r))
        .cloned()
        .collect();
    let names = Names::load(&state).await?;
    let mut out = Vec::new();
    for r in records.into_iter().filter(|r| visible.agent(r)) {
        if p.parent.is_some() && r.config.parent != p.parent {
            continue;
        }
        out.push(AgentView::new(r, &state, &names, &live).await?);
    }
    Ok(Json(out))
}

/// One agent with its configuration and usage.
#[utoipa::path(get, path = "/api/agents/{id}", tag = "agents", operation_id = "get_agent",
    params(("id" = String, Path, description = "The agent's id.")),
    responses((status = 200, body = AgentView), (status = 404, body = super::error::ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<AgentView>, ApiError> {
    let r = ownership::agent(&state, &caller, &id, Need::See).await?;
    Ok(Json(AgentView::of(r, &state, &caller).await?))
}

/// What the agent changed: for an agent in a git worktree, the
/// worktree's diff (its branch against where it meets its base branch);
/// for every other directory, the files now against the snapshot taken
/// when the agent started (new, deleted and binary files included).
/// 409 `snapshot_too_large` when the directory was too large to snapshot,
/// `no_snapshot` when none was taken, `missing` when it is gone.
#[utoipa::path(get, path = "/api/agents/{id}/diff", tag = "agents", operation_id = "agent_diff",
    params(("id" = String, Path, description = "The agent's id.")),
    responses((status = 200, body = paddock_core::workspace::Diff), (status = 404, body = super::error::ErrorBody),
        (status = 409, body = super::error::ErrorBody)))]
pub async fn diff(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<paddock_core::workspace::Diff>, ApiError> {
    let r = ownership::agent(&state, &caller, &id, Need::See).await?;
    if let Some(ws) = &r.config.workspace_id
        && let Ok(ws) = state.workspaces.get(ws).await
        && ws.kind == paddock_core::workspace::WorkspaceKind::Worktree
    {
        return Ok(Json(state.workspaces.diff(&ws).await?));
    }
    Ok(Json(
        state
            .workspaces
            .agent_diff(&id, &r.config.workspace)
            .await?,
    ))
}

/// `DELETE /api/agents/{id}` parameters.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeleteParams {
    /// Also remove its history.
    #[serde(default)]
    pub purge: bool,
}

/// Stop and delete an agent; its history stays until purged.
#[utoipa::path(delete, path = "/api/agents/{id}", tag = "agents", operation_id = "delete_agent",
    params(("id" = String, Path, description = "The agent's id."), DeleteParams),
    responses((status = 204), (status = 404, body = super::error::ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(p): ApiQuery<DeleteParams>,
) -> Result<StatusCode, ApiError> {
    ownership::agent(&state, &caller, &id, Need::Drive).await?;
    if state.manager.delete(&id, p.purge).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!("no agent with id `{id}`")))
    }
}

/// `POST /api/agents/{id}/messages`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostMessage {
    /// The message: not blank, at most 256 KiB.
    #[schema(pattern = r"[^\t-\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]")]
    pub text: String,
}

/// What was stored.
#[derive(Serialize, ToSchema)]
pub struct Accepted {
    /// The seq of the stored `message.user` event.
    pub seq: u64,
}

/// Send a user message.
#[utoipa::path(post, path = "/api/agents/{id}/messages", tag = "agents", operation_id = "post_message",
    params(("id" = String, Path, description = "The agent's id.")), request_body = PostMessage,
    responses((status = 202, body = Accepted), (status = 404, body = super::error::ErrorBody), (status = 409, body = super::error::ErrorBody)))]
pub async fn post_message(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<PostMessage>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    ownership::agent(&state, &caller, &id, Need::Drive).await?;
    live_or_stopped(&state, &id).await?;
    let seq = state.manager.post_message(&id, req.text).await?;
    Ok((StatusCode::ACCEPTED, Json(Accepted { seq })))
}

/// 404 for unknown agents, 409 for deleted ones.
async fn live_or_stopped(state: &AppState, id: &str) -> Result<(), ApiError> {
    if state.manager.get(id).is_ok() {
        return Ok(());
    }
    match state.store.get_agent(id).await? {
        // Run by another host (several hosts on one database).
        Some(r) if r.deleted_at.is_none() && state.manager.cluster().is_some() => Ok(()),
        Some(_) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "agent_stopped",
            format!("agent `{id}` is deleted and takes no more messages"),
        )),
        None => Err(ApiError::not_found(format!("no agent with id `{id}`"))),
    }
}

/// Re-run the last turn of an agent whose last run failed (`error`) or was
/// stopped by a limit (`limited`): the model is asked again with the stored
/// transcript, without a new user message. Recorded as an `agent.status`
/// `thinking` event with the reason "retry requested by …"; answers with
/// its seq.
#[utoipa::path(post, path = "/api/agents/{id}/retry", tag = "agents", operation_id = "retry_agent",
    params(("id" = String, Path, description = "The agent's id.")),
    responses((status = 202, body = Accepted), (status = 404, body = super::error::ErrorBody),
        (status = 409, description = "The agent is deleted, busy, or its last run did not fail", body = super::error::ErrorBody)))]
pub async fn retry(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    ownership::agent(&state, &caller, &id, Need::Drive).await?;
    live_or_stopped(&state, &id).await?;
    let seq = state
        .manager
        .retry(&id, &super::audit::actor(&caller, "REST"))
        .await?;
    Ok((StatusCode::ACCEPTED, Json(Accepted { seq })))
}

/// The interrupt's effect.
#[derive(Serialize, ToSchema)]
pub struct Interrupted {
    /// Whether the agent was busy (a model call or tool sequence stopped).
    pub interrupted: bool,
}

/// Interrupt the running model call or tool sequence.
#[utoipa::path(post, path = "/api/agents/{id}/interrupt", tag = "agents", operation_id = "interrupt_agent",
    params(("id" = String, Path, description = "The agent's id.")),
    responses((status = 202, body = Interrupted), (status = 404, body = super::error::ErrorBody),
        (status = 409, description = "The agent is deleted", body = super::error::ErrorBody)))]
pub async fn interrupt(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<(StatusCode, Json<Interrupted>), ApiError> {
    ownership::check(&state, &caller, &id, Need::Drive).await?;
    live_or_stopped(&state, &id).await?;
    let interrupted = state.manager.interrupt(&id).await?;
    Ok((StatusCode::ACCEPTED, Json(Interrupted { interrupted })))
}

/// `GET /api/agents/{id}/events` parameters.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EventsParams {
    /// Events with a seq above this (default 0: from the start).
    #[serde(default)]
    pub after: u64,
    /// At most this many (default 500, at most 5000).
    #[serde(default)]
    #[param(minimum = 1, maximum = 5000)]
    pub limit: Option<u32>,
}

/// A page of events.
#[derive(Serialize, ToSchema)]
pub struct EventPage {
    /// The events, by seq.
    pub events: Vec<Event>,
    /// The agent's latest seq (more to fetch when above the last event's).
    pub last_seq: u64,
}

/// The agent's stored events after `after`.
#[utoipa::path(get, path = "/api/agents/{id}/events", tag = "agents", operation_id = "agent_events",
    params(("id" = String, Path, description = "The agent's id."), EventsParams),
    responses((status = 200, body = EventPage), (status = 404, body = super::error::ErrorBody)))]
pub async fn events(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(p): ApiQuery<EventsParams>,
) -> Result<Json<EventPage>, ApiError> {
    let limit = p.limit.unwrap_or(500);
    if limit == 0 || limit > 5000 {
        return Err(ApiError::invalid("limit: must be between 1 and 5000"));
    }
    let record = ownership::agent(&state, &caller, &id, Need::See).await?;
    let events = state.store.events_after(&id, p.after, limit).await?;
    Ok(Json(EventPage {
        events,
        last_seq: record.last_seq,
    }))
}
