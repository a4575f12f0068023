//! `/api/agents`: create (from a template or not), list, get, delete,
//! messages, interrupt and the event log.

use super::AppState;
use super::error::{ApiError, ApiJson, ApiPath, ApiQuery, Fields};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use paddock_core::agent::{AgentConfig, ModelRef};
use paddock_core::config::AgentLimits;
use paddock_protocol::events::{AgentStatus, Event};
use paddock_sandbox::BackendKind;
use paddock_store::{AgentRecord, DocKind};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
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
}

impl AgentView {
    fn new(r: AgentRecord, state: &AppState) -> AgentView {
        AgentView {
            sandbox: state.manager.deps().sandbox.kind(),
            id: r.id,
            name: r.name,
            status: r.status,
            config: r.config,
            usage: r.usage,
            last_seq: r.last_seq,
            created_at: r.created_at,
            updated_at: r.updated_at,
            deleted_at: r.deleted_at,
        }
    }
}

/// The fields an agent template may set (all optional; a creation request
/// overrides them).
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentTemplate {
    /// What the template is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The system prompt text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_prompt: Option<String>,
    /// Or the name of a stored system prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_prompt_name: Option<String>,
    /// The model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<ModelRef>,
    /// Or a model router of `paddock.toml` (`[[routers]]`), which picks a
    /// cheap or a strong model for each call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub router: Option<String>,
    /// Sampling temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 2)]
    pub temperature: Option<f64>,
    /// Cap on each answer's tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// The workspace directory (under an allowed root). Give one of
    /// `workspace`, `workspace_id` and `worktree`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub workspace: Option<PathBuf>,
    /// Or a workspace of `/api/workspaces`, by id or name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_id: Option<String>,
    /// Or a new git worktree of this repository, made for the agent and
    /// named after it (branch `paddock/<agent name>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worktree: Option<WorktreeRequest>,
    /// Tools it may use (default: all enabled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<String>>,
    /// MCP servers whose tools it gets (default: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcp_servers: Option<Vec<String>>,
    /// Whether its sandbox may reach the network (default: no).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<bool>,
    /// Limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<AgentLimits>,
    /// Approval mode (default: `[policy] default_mode`, `ask-risky`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_mode: Option<paddock_core::policy::ApprovalMode>,
    /// Seconds a pending approval waits before the call is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1)]
    pub approval_timeout_secs: Option<u64>,
    /// The agent's own policy rules, tried before all others.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules: Option<Vec<String>>,
}

/// Fields of which a template or a creation request gives at most one: the
/// place to work, the model or router, the prompt as text or by name.
pub const EXCLUSIVE: [&[&str]; 3] = [
    &["workspace", "workspace_id", "worktree"],
    &["model", "router"],
    &["system_prompt", "system_prompt_name"],
];

impl AgentTemplate {
    /// Checks the fields' own ranges and [`EXCLUSIVE`], as the document
    /// states them, so that a stored template is one an agent can start
    /// from; whether the things it names exist is checked when an agent is
    /// made from it.
    pub fn check(&self) -> Result<(), ApiError> {
        let given = [
            self.workspace.is_some(),
            self.workspace_id.is_some(),
            self.worktree.is_some(),
        ];
        if given.iter().filter(|g| **g).count() > 1 {
            return Err(ApiError::invalid(
                "workspace, workspace_id, worktree: give one of them",
            ));
        }
        if self.model.is_some() && self.router.is_some() {
            return Err(ApiError::invalid("model, router: give one or the other"));
        }
        if self.system_prompt.is_some() && self.system_prompt_name.is_some() {
            return Err(ApiError::invalid(
                "system_prompt, system_prompt_name: give one or the other",
            ));
        }
        if let Some(t) = self.temperature
            && !(0.0..=2.0).contains(&t)
        {
            return Err(ApiError::invalid("temperature: must be between 0 and 2"));
        }
        if self.approval_timeout_secs == Some(0) {
            return Err(ApiError::invalid(
                "approval_timeout_secs: must be at least 1",
            ));
        }
        if let Some(limits) = &self.limits {
            limits.validate("limits.").map_err(ApiError::invalid)?;
            if limits.max_turns == 0 {
                return Err(ApiError::invalid("limits.max_turns: must be at least 1"));
            }
        }
        Ok(())
    }
}

/// A worktree made for an agent.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorktreeRequest {
    /// A local git repository under an allowed root.
    #[schema(value_type = String)]
    pub repo: PathBuf,
    /// The branch to start from and merge into (default: the one checked
    /// out in `repo`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
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

/// Builds an agent's configuration from a request, its template and the
/// host's defaults. When it asks for a worktree, that is returned too, and
/// the configuration's workspace is left empty until it is made.
pub async fn resolve_config(
    state: &AppState,
    req: CreateAgent,
) -> Result<(AgentConfig, Option<WorktreeRequest>), ApiError> {
    let mut merged = AgentTemplate::default();
    let mut name = req.name.clone();
    if let Some(t) = &req.template {
        let doc = state
            .store
            .get_doc(DocKind::AgentTemplate, t)
            .await?
            .ok_or_else(|| ApiError::invalid(format!("template: no agent template named `{t}`")))?;
        merged = serde_json::from_value(doc.body).map_err(|e| {
            ApiError::invalid(format!("template: stored template `{t}` is not valid: {e}"))
        })?;
        name = name.or_else(|| Some(t.clone()));
    }
    let f = req.fields;
    if f.system_prompt.is_some() && f.system_prompt_name.is_some() {
        return Err(ApiError::invalid(
            "system_prompt, system_prompt_name: give one or the other",
        ));
    }
    // The request's prompt (text or name) wins over the template's.
    let system_prompt = if let Some(text) = f.system_prompt {
        text
    } else if let Some(n) = &f.system_prompt_name {
        prompt_text(state, n).await?
    } else if let Some(text) = merged.system_prompt.take() {
        text
    } else if let Some(n) = &merged.system_prompt_name {
        prompt_text(state, n).await?
    } else {
        String::new()
    };
    macro_rules! take {
        ($field:ident) => {
            if f.$field.is_some() {
                merged.$field = f.$field;
            }
        };
    }
    if f.model.is_some() && f.router.is_some() {
        return Err(ApiError::invalid("model, router: give one or the other"));
    }
    // The request's model or router wins over the template's either.
    if f.model.is_some() {
        merged.router = None;
    }
    if f.router.is_some() {
        merged.model = None;
    }
    take!(model);
    take!(router);
    take!(temperature);
    take!(max_tokens);
    // The request's place to work wins over the template's.
    if f.workspace.is_some() || f.workspace_id.is_some() || f.worktree.is_some() {
        merged.workspace = None;
        merged.workspace_id = None;
        merged.worktree = None;
    }
    take!(workspace);
    take!(workspace_id);
    take!(worktree);
    take!(tools);
    take!(mcp_servers);
    take!(network);
    take!(limits);
    take!(approval_mode);
    take!(approval_timeout_secs);
    take!(rules);
    merged.check()?;
    let router = match merged.router {
        Some(r) => Some(
            state
                .manager
                .deps()
                .routers
                .get(&r)
                .ok_or_else(|| {
                    let mut known: Vec<&str> = state
                        .manager
                        .deps()
                        .routers
                        .keys()
                        .map(String::as_str)
                        .collect();
                    known.sort();
                    ApiError::invalid(format!(
                        "router: no router named `{r}` (configured: {})",
                        if known.is_empty() {
                            "none".to_string()
                        } else {
                            known.join(", ")
                        }
                    ))
                })?
                .clone(),
        ),
        None => None,
    };
    let model = match (merged.model, &router) {
        (Some(m), None) => m,
        (_, Some(r)) => r.strong.clone(),
        (None, None) => state
            .default_model
            .clone()
            .ok_or_else(|| ApiError::invalid("model: required (no default model is configured)"))?,
    };
    let (workspace, workspace_id) = match (merged.workspace, merged.workspace_id, &merged.worktree)
    {
        (Some(path), None, None) => {
            state.workspaces.roots().check("workspace", &path)?;
            (path, None)
        }
        (None, Some(id), None) => {
            let ws = state.workspaces.get(&id).await.map_err(|e| match e {
                paddock_core::workspace::WorkspaceError::NotFound(m) => {
                    ApiError::invalid(format!("workspace_id: {m}"))
                }
                other => other.into(),
            })?;
            (ws.path, Some(ws.id))
        }
        // Made once everything else checked out (see `create`).
        (None, None, Some(_)) => (PathBuf::new(), None),
        (None, None, None) => {
            return Err(ApiError::invalid(
                "workspace: required (or workspace_id, or worktree)",
            ));
        }
        _ => {
            return Err(ApiError::invalid(
                "workspace, workspace_id, worktree: give one of them",
            ));
        }
    };
    let config = AgentConfig {
        name: name.unwrap_or_else(|| "agent".into()),
        system_prompt,
        model,
        router: router.map(|r| r.name),
        // Checked above, so the narrowing cannot leave the range.
        temperature: merged.temperature.map(|t| t as f32),
        max_tokens: merged.max_tokens,
        workspace,
        workspace_id,
        tools: merged.tools,
        mcp_servers: merged.mcp_servers.unwrap_or_default(),
        network: merged.network.unwrap_or(false),
        limits: merged
            .limits
            .unwrap_or_else(|| state.manager.deps().defaults.limits.clone()),
        template: req.template.clone(),
        approval_mode: merged
            .approval_mode
            .unwrap_or(state.manager.deps().policy.config().default_mode),
        approval_timeout_secs: merged.approval_timeout_secs,
        rules: merged.rules.unwrap_or_default(),
    };
    Ok((config, merged.worktree))
}

async fn prompt_text(state: &AppState, name: &str) -> Result<String, ApiError> {
    let doc = state
        .store
        .get_doc(DocKind::SystemPrompt, name)
        .await?
        .ok_or_else(|| {
            ApiError::invalid(format!(
                "system_prompt_name: no system prompt named `{name}`"
            ))
        })?;
    doc.body
        .get("text")
        .and_then(|t| t.as_str())
        .map(str::to_string)
        .ok_or_else(|| ApiError::invalid(format!("system prompt `{name}` has no text")))
}

/// Create an agent.
#[utoipa::path(post, path = "/api/agents", tag = "agents", operation_id = "create_agent", request_body = CreateAgent,
    responses((status = 201, body = AgentView), (status = 400, body = super::error::ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<CreateAgent>,
) -> Result<(StatusCode, Json<AgentView>), ApiError> {
    let task = req.task.clone();
    if let Some(t) = &task {
        // The manager's words name the message's field, `text`.
        paddock_core::agent::manager::check_message(t).map_err(|e| match e {
            paddock_core::agent::AgentError::Invalid(m) => {
                ApiError::invalid(m.replacen("text", "task", 1))
            }
            other => other.into(),
        })?;
    }
    let (mut config, worktree) = resolve_config(&state, req).await?;
    // A worktree named after the agent, made last so that a request that
    // fails its checks leaves none behind (and removed if creation fails).
    let made = match worktree {
        Some(w) => {
            let name = state
                .workspaces
                .free_name(&paddock_core::workspace::slug(&config.name))
                .await?;
            let ws = state
                .workspaces
                .create(paddock_core::workspace::NewWorkspace {
                    name: name.clone(),
                    repo: Some(w.repo),
                    base: w.base,
                    branch: None,
                    path: None,
                    copy: false,
                })
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
        Ok((_, record)) => Ok((StatusCode::CREATED, Json(AgentView::new(record, &state)))),
        Err(e) => {
            if let Some(ws) = made
                && let Err(undo) = state.workspaces.delete(&ws, true, true).await
            {
                tracing::warn!(workspace = %ws.id, error = %undo, "could not remove the worktree of an agent that was not created");
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
}

/// List agents with their status.
#[utoipa::path(get, path = "/api/agents", tag = "agents", operation_id = "list_agents", params(ListParams),
    responses((status = 200, body = Vec<AgentView>)))]
pub async fn list(
    State(state): State<AppState>,
    ApiQuery(p): ApiQuery<ListParams>,
) -> Result<Json<Vec<AgentView>>, ApiError> {
    let records = state.store.list_agents(p.include_deleted).await?;
    Ok(Json(
        records
            .into_iter()
            .map(|r| AgentView::new(r, &state))
            .collect(),
    ))
}

async fn record(state: &AppState, id: &str) -> Result<AgentRecord, ApiError> {
    state
        .store
        .get_agent(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no agent with id `{id}`")))
}

/// One agent with its configuration and usage.
#[utoipa::path(get, path = "/api/agents/{id}", tag = "agents", operation_id = "get_agent",
    params(("id" = String, Path, description = "The agent's id.")),
    responses((status = 200, body = AgentView), (status = 404, body = super::error::ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<AgentView>, ApiError> {
    Ok(Json(AgentView::new(record(&state, &id).await?, &state)))
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
    ApiPath(id): ApiPath<String>,
    ApiQuery(p): ApiQuery<DeleteParams>,
) -> Result<StatusCode, ApiError> {
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
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<PostMessage>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    live_or_stopped(&state, &id).await?;
    let event = state.manager.post_message(&id, req.text).await?;
    Ok((StatusCode::ACCEPTED, Json(Accepted { seq: event.seq })))
}

/// 404 for unknown agents, 409 for deleted ones.
async fn live_or_stopped(state: &AppState, id: &str) -> Result<(), ApiError> {
    if state.manager.get(id).is_ok() {
        return Ok(());
    }
    match state.store.get_agent(id).await? {
        Some(_) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "agent_stopped",
            format!("agent `{id}` is deleted and takes no more messages"),
        )),
        None => Err(ApiError::not_found(format!("no agent with id `{id}`"))),
    }
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
    ApiPath(id): ApiPath<String>,
) -> Result<(StatusCode, Json<Interrupted>), ApiError> {
    live_or_stopped(&state, &id).await?;
    let interrupted = state.manager.interrupt(&id)?;
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
    ApiPath(id): ApiPath<String>,
    ApiQuery(p): ApiQuery<EventsParams>,
) -> Result<Json<EventPage>, ApiError> {
    let limit = p.limit.unwrap_or(500);
    if limit == 0 || limit > 5000 {
        return Err(ApiError::invalid("limit: must be between 1 and 5000"));
    }
    let record = record(&state, &id).await?;
    let events = state.store.events_after(&id, p.after, limit).await?;
    Ok(Json(EventPage {
        events,
        last_seq: record.last_seq,
    }))
}
