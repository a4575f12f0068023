//! `/api/workflows` and `/api/workflow-runs`: workflow definitions (list,
//! read, and — for those saved through the API — create, replace, delete;
//! check without saving), and runs of them (start with inputs, list, read,
//! cancel, the event log after a seq, decide a human gate). Definitions
//! are the host's: anyone signed in reads them, writing them needs what
//! writing agent templates needs. A run belongs to the user who started it:
//! only they and admins see it (404 for everyone else, as for agents), and
//! changing it (cancel, a gate) needs the right to drive it.

use super::AppState;
use super::auth::Caller;
use super::error::{ApiError, ApiJson, ApiPath, ApiQuery};
use super::ownership;
use axum::Json;
use axum::extract::{FromRequest, Request, State};
use axum::http::{StatusCode, header};
use paddock_core::workflow::{DefFormat, WorkflowError};
use paddock_protocol::workflow::{
    WorkflowDef, WorkflowDefinitionView, WorkflowEvent, WorkflowRunView,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};

/// The name `POST /api/workflows/check` takes: no workflow saved through
/// the API may have it (its `GET` would be that route's).
pub const RESERVED_NAME: &str = "check";

impl From<WorkflowError> for ApiError {
    fn from(e: WorkflowError) -> ApiError {
        match e {
            WorkflowError::Invalid(m) => ApiError::invalid(m),
            WorkflowError::NotFound(m) => ApiError::not_found(m),
            WorkflowError::Conflict(m) => ApiError::conflict(m),
            WorkflowError::Agent(a) => a.into(),
            WorkflowError::Store(s) => s.into(),
            WorkflowError::Workspace(w) => w.into(),
        }
    }
}

/// A workflow definition in a request body: JSON (`application/json`),
/// YAML (`application/yaml`, `text/yaml`) or TOML (`application/toml`),
/// all of the same shape. A field of the wrong type or an unknown one is a
/// 400 naming it; another content type is a 415.
pub struct DefinitionBody(pub WorkflowDef);

/// The formats a definition may be sent in, by content type.
fn body_format(content_type: Option<&str>) -> Option<Option<DefFormat>> {
    let essence = content_type?
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "application/json" => Some(None),
        "application/yaml" | "application/x-yaml" | "text/yaml" | "text/x-yaml" => {
            Some(Some(DefFormat::Yaml))
        }
        "application/toml" | "text/toml" => Some(Some(DefFormat::Toml)),
        e if e.ends_with("+json") => Some(None),
        _ => None,
    }
}

impl<S: Send + Sync> FromRequest<S> for DefinitionBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let Some(format) = body_format(content_type.as_deref()) else {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the definition as JSON (`Content-Type: application/json`), YAML \
                 (`application/yaml`) or TOML (`application/toml`)",
            ));
        };
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| {
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "payload_too_large",
                        "the request body is over the size limit",
                    )
                } else {
                    ApiError::invalid(format!("cannot read the request body: {e}"))
                }
            })?;
        match format {
            None => {
                let mut de = serde_json::Deserializer::from_slice(&bytes);
                serde_path_to_error::deserialize(&mut de)
                    .map(DefinitionBody)
                    .map_err(|e| {
                        let path = e.path().to_string();
                        if path == "." || path.contains('?') {
                            ApiError::invalid(format!("invalid request body: {}", e.inner()))
                        } else {
                            ApiError::invalid(format!(
                                "invalid request body: {path}: {}",
                                e.inner()
                            ))
                        }
                    })
            }
            Some(format) => {
                let text = std::str::from_utf8(&bytes).map_err(|e| {
                    ApiError::invalid(format!("the request body is not UTF-8 text: {e}"))
                })?;
                Ok(DefinitionBody(paddock_core::workflow::Workflows::parse(
                    text, format,
                )?))
            }
        }
    }
}

/// Refuses a name no definition of the API may take.
fn check_api_name(name: &str) -> Result<(), ApiError> {
    if name == RESERVED_NAME {
        return Err(ApiError::invalid(format!(
            "name: `{RESERVED_NAME}` is reserved (POST /api/workflows/{RESERVED_NAME} checks a definition)"
        )));
    }
    Ok(())
}

/// List the workflow definitions: built-in, from the data dir's
/// `workflows/` files, from `paddock.toml`, and saved through the API.
#[utoipa::path(get, path = "/api/workflows", tag = "workflows", operation_id = "list_workflows",
    responses((status = 200, body = Vec<WorkflowDefinitionView>)))]
pub async fn list(
    State(state): State<AppState>,
) -> Result<Json<Vec<WorkflowDefinitionView>>, ApiError> {
    Ok(Json(state.workflows.definitions().await?))
}

/// Save a new workflow definition (body: JSON, or YAML or TOML text with
/// its content type). Everything is checked first — names, steps, that
/// each template exists, each `{{reference}}`, that every jump back has a
/// bound — and a refusal names the field (`steps[2].template: …`). 409
/// when a definition of that name exists (replace one of the API's with
/// PUT; the built-in, file and `paddock.toml` ones cannot be shadowed).
#[utoipa::path(post, path = "/api/workflows", tag = "workflows", operation_id = "create_workflow",
    request_body(content(
        (WorkflowDef = "application/json"),
        (String = "application/yaml"),
        (String = "application/toml"),
    ), description = "A workflow definition: JSON, or YAML or TOML text of the same shape"),
    responses((status = 201, body = WorkflowDefinitionView), (status = 400, body = super::error::ErrorBody),
        (status = 409, body = super::error::ErrorBody), (status = 415, body = super::error::ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    DefinitionBody(def): DefinitionBody,
) -> Result<(StatusCode, Json<WorkflowDefinitionView>), ApiError> {
    check_api_name(&def.name)?;
    match state.workflows.definition(&def.name).await {
        Ok(existing) => {
            return Err(ApiError::conflict(format!(
                "name: a workflow named `{}` exists ({}); use PUT to replace one saved through the API",
                existing.name,
                source_name(&existing)
            )));
        }
        Err(WorkflowError::NotFound(_)) => {}
        Err(e) => return Err(e.into()),
    }
    let view = state.workflows.save(def, &caller.user_id).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// Where a definition comes from, in words.
fn source_name(view: &WorkflowDefinitionView) -> &'static str {
    use paddock_protocol::workflow::DefinitionSource as S;
    match view.source {
        S::Builtin => "built in",
        S::File => "a file of the data dir",
        S::Config => "paddock.toml",
        S::Api => "saved through the API",
    }
}

/// Check a workflow definition without saving it: 200 `{"ok": true}`, or
/// 400 naming the first field that is wrong.
#[utoipa::path(post, path = "/api/workflows/check", tag = "workflows", operation_id = "check_workflow",
    request_body(content(
        (WorkflowDef = "application/json"),
        (String = "application/yaml"),
        (String = "application/toml"),
    ), description = "A workflow definition: JSON, or YAML or TOML text of the same shape"),
    responses((status = 200, body = CheckResult), (status = 400, body = super::error::ErrorBody),
        (status = 415, body = super::error::ErrorBody)))]
pub async fn check(
    State(state): State<AppState>,
    DefinitionBody(def): DefinitionBody,
) -> Result<Json<CheckResult>, ApiError> {
    state.workflows.check(&def).await?;
    Ok(Json(CheckResult { ok: true }))
}

/// A definition passed its checks.
#[derive(Serialize, ToSchema)]
pub struct CheckResult {
    /// Always true (a refusal is a 400).
    pub ok: bool,
}

/// One workflow definition.
#[utoipa::path(get, path = "/api/workflows/{name}", tag = "workflows", operation_id = "get_workflow",
    params(("name" = String, Path, description = "The workflow's name.", pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")),
    responses((status = 200, body = WorkflowDefinitionView), (status = 404, body = super::error::ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<WorkflowDefinitionView>, ApiError> {
    Ok(Json(state.workflows.definition(&name).await?))
}

/// Create or replace a workflow definition saved through the API (its
/// `name`, when the body gives one, must be the path's). Checked as `POST
/// /api/workflows` checks; a built-in, file or `paddock.toml` definition
/// of that name cannot be replaced (409).
#[utoipa::path(put, path = "/api/workflows/{name}", tag = "workflows", operation_id = "put_workflow",
    params(("name" = String, Path, description = "The workflow's name.", pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")),
    request_body(content(
        (WorkflowDef = "application/json"),
        (String = "application/yaml"),
        (String = "application/toml"),
    ), description = "A workflow definition: JSON, or YAML or TOML text of the same shape"),
    responses((status = 200, body = WorkflowDefinitionView), (status = 400, body = super::error::ErrorBody),
        (status = 409, body = super::error::ErrorBody), (status = 415, body = super::error::ErrorBody)))]
pub async fn put(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
    DefinitionBody(def): DefinitionBody,
) -> Result<Json<WorkflowDefinitionView>, ApiError> {
    if def.name != name {
        return Err(ApiError::invalid(format!(
            "name: `{}` is not the path's `{name}`",
            def.name
        )));
    }
    check_api_name(&name)?;
    Ok(Json(state.workflows.save(def, &caller.user_id).await?))
}

/// Delete a workflow definition saved through the API (its runs stay).
/// 409 for a built-in, file or `paddock.toml` one.
#[utoipa::path(delete, path = "/api/workflows/{name}", tag = "workflows", operation_id = "delete_workflow",
    params(("name" = String, Path, description = "The workflow's name.", pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")),
    responses((status = 204), (status = 404, body = super::error::ErrorBody), (status = 409, body = super::error::ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    if state.workflows.delete(&name).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!("no workflow named `{name}`")))
    }
}

// --- Runs ------------------------------------------------------------------

fn run_not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("no workflow run with id `{id}`"))
}

/// Whether the caller may see a run of this owner: its owner and admins.
pub fn may_see_run(caller: &Caller, owner: &str) -> bool {
    ownership::may_see(caller, owner, &[])
}

/// The run `id` if the caller may do `need` with it: 404 when it does not
/// exist or is not the caller's to see (never 403: that would say it
/// exists), 403 when they see it but may not change it.
pub async fn run_for(
    state: &AppState,
    caller: &Caller,
    id: &str,
    need: ownership::Need,
) -> Result<WorkflowRunView, ApiError> {
    let run = match state.workflows.run(id).await {
        Ok(r) => r,
        Err(WorkflowError::NotFound(_)) => return Err(run_not_found(id)),
        Err(e) => return Err(e.into()),
    };
    if !may_see_run(caller, &run.owner) {
        return Err(run_not_found(id));
    }
    if need == ownership::Need::Drive && !ownership::may_drive(caller, &run.owner, &[]) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "workflow run `{id}` is yours to read only: changing it needs a member or \
                 admin with a `write` token"
            ),
        ));
    }
    Ok(run)
}

/// `POST /api/workflow-runs`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartRun {
    /// The workflow's name.
    pub workflow: String,
    /// Its inputs, by name (those with a default may be left out).
    #[serde(default)]
    pub inputs: BTreeMap<String, String>,
}

/// Start a run of a workflow, for the caller: its agents are the
/// caller's. 404 for an unknown workflow; 400 naming the input that is
/// missing or unknown.
#[utoipa::path(post, path = "/api/workflow-runs", tag = "workflows", operation_id = "start_workflow_run",
    request_body = StartRun,
    responses((status = 201, body = WorkflowRunView), (status = 400, body = super::error::ErrorBody),
        (status = 404, body = super::error::ErrorBody)))]
pub async fn start(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<StartRun>,
) -> Result<(StatusCode, Json<WorkflowRunView>), ApiError> {
    let run = state
        .workflows
        .start(&req.workflow, req.inputs, &caller.user_id)
        .await?;
    Ok((StatusCode::CREATED, Json(run)))
}

/// The runs the caller may see (their own; every run for an admin), the
/// newest first.
#[utoipa::path(get, path = "/api/workflow-runs", tag = "workflows", operation_id = "list_workflow_runs",
    responses((status = 200, body = Vec<WorkflowRunView>)))]
pub async fn list_runs(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<WorkflowRunView>>, ApiError> {
    let runs = state.workflows.runs().await?;
    Ok(Json(
        runs.into_iter()
            .filter(|r| may_see_run(&caller, &r.owner))
            .collect(),
    ))
}

/// One run, with its steps as its event log tells them.
#[utoipa::path(get, path = "/api/workflow-runs/{id}", tag = "workflows", operation_id = "get_workflow_run",
    params(("id" = String, Path, description = "The run's id.")),
    responses((status = 200, body = WorkflowRunView), (status = 404, body = super::error::ErrorBody)))]
pub async fn get_run(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<WorkflowRunView>, ApiError> {
    Ok(Json(
        run_for(&state, &caller, &id, ownership::Need::See).await?,
    ))
}

/// Cancel a run: its live agents are interrupted and it ends `cancelled`.
/// 409 when it has ended.
#[utoipa::path(post, path = "/api/workflow-runs/{id}/cancel", tag = "workflows", operation_id = "cancel_workflow_run",
    params(("id" = String, Path, description = "The run's id.")),
    responses((status = 200, body = WorkflowRunView), (status = 404, body = super::error::ErrorBody),
        (status = 409, body = super::error::ErrorBody)))]
pub async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<WorkflowRunView>, ApiError> {
    run_for(&state, &caller, &id, ownership::Need::Drive).await?;
    Ok(Json(state.workflows.cancel(&id).await?))
}

/// `POST /api/workflow-runs/{id}/gates/{step}`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GateDecision {
    /// Approve (the run goes on) or reject (the step fails).
    pub approved: bool,
    /// Why (recorded in the run's log).
    #[serde(default)]
    pub reason: Option<String>,
}

/// Decide a run's pending human gate. 409 when that step's gate is not
/// waiting for a decision (not reached, or decided already).
#[utoipa::path(post, path = "/api/workflow-runs/{id}/gates/{step}", tag = "workflows", operation_id = "decide_workflow_gate",
    params(("id" = String, Path, description = "The run's id."), ("step" = String, Path, description = "The gate step's id.")),
    request_body = GateDecision,
    responses((status = 200, body = WorkflowRunView), (status = 404, body = super::error::ErrorBody),
        (status = 409, body = super::error::ErrorBody)))]
pub async fn decide_gate(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, step)): ApiPath<(String, String)>,
    ApiJson(req): ApiJson<GateDecision>,
) -> Result<Json<WorkflowRunView>, ApiError> {
    run_for(&state, &caller, &id, ownership::Need::Drive).await?;
    let run = state
        .workflows
        .decide_gate(
            &id,
            &step,
            req.approved,
            req.reason,
            &super::audit::actor(&caller, "REST"),
        )
        .await?;
    Ok(Json(run))
}

/// `GET /api/workflow-runs/{id}/events` parameters.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RunEventsParams {
    /// Events with a seq above this (default 0: from the start).
    #[serde(default)]
    pub after: u64,
    /// At most this many (default 500, at most 1000).
    #[serde(default)]
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

/// A page of a run's events.
#[derive(Serialize, ToSchema)]
pub struct RunEventPage {
    /// The events, by seq.
    pub events: Vec<WorkflowEvent>,
    /// The run's latest seq (more to fetch when above the last event's).
    pub last_seq: u64,
}

/// A run's stored events after `after`.
#[utoipa::path(get, path = "/api/workflow-runs/{id}/events", tag = "workflows", operation_id = "workflow_run_events",
    params(("id" = String, Path, description = "The run's id."), RunEventsParams),
    responses((status = 200, body = RunEventPage), (status = 404, body = super::error::ErrorBody)))]
pub async fn events(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(p): ApiQuery<RunEventsParams>,
) -> Result<Json<RunEventPage>, ApiError> {
    let limit = p.limit.unwrap_or(500);
    if limit == 0 || limit > 1000 {
        return Err(ApiError::invalid("limit: must be between 1 and 1000"));
    }
    let run = run_for(&state, &caller, &id, ownership::Need::See).await?;
    let events = state.workflows.events_after(&id, p.after, limit).await?;
    Ok(Json(RunEventPage {
        events,
        last_seq: run.last_seq,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definitions_come_as_json_yaml_or_toml() {
        assert!(matches!(
            body_format(Some("application/json; charset=utf-8")),
            Some(None)
        ));
        assert!(matches!(
            body_format(Some("Application/YAML")),
            Some(Some(DefFormat::Yaml))
        ));
        assert!(matches!(
            body_format(Some("text/yaml")),
            Some(Some(DefFormat::Yaml))
        ));
        assert!(matches!(
            body_format(Some("application/toml")),
            Some(Some(DefFormat::Toml))
        ));
        assert!(body_format(Some("text/plain")).is_none());
        assert!(body_format(None).is_none());
    }

    #[test]
    fn the_check_route_name_is_reserved() {
        let e = check_api_name("check").unwrap_err();
        assert!(e.message.starts_with("name:"), "{}", e.message);
        assert!(check_api_name("checks").is_ok());
    }
}
