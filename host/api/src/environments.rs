//! `/api/config/environments…`: the named environments agents may run in —
//! the file's (read-only here), those added here (stored) and, listed for
//! information, each workspace's devcontainer.json. Any signed-in caller
//! reads; adding, changing and removing is admin-only, each change in the
//! audit log with who made it.

use super::AppState;
use super::error::{ApiError, ApiJson, ApiPath};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use paddock_core::environments::{
    EnvironmentAdminError, EnvironmentConfig, EnvironmentInfo, Environments,
};
use serde::Serialize;
use utoipa::ToSchema;

impl From<EnvironmentAdminError> for ApiError {
    fn from(e: EnvironmentAdminError) -> ApiError {
        match e {
            EnvironmentAdminError::Invalid(m) => ApiError::invalid(m),
            EnvironmentAdminError::NotFound(_) => ApiError::not_found(e.to_string()),
            EnvironmentAdminError::Conflict(m) => ApiError::conflict(m),
            EnvironmentAdminError::Store(s) => super::error::store_error("the store failed", &s),
        }
    }
}

/// An environment, where it comes from, and for a workspace's which
/// workspace has it.
#[derive(Serialize, ToSchema)]
pub struct EnvironmentView {
    /// The environment.
    #[serde(flatten)]
    pub info: EnvironmentInfo,
    /// Whether it can be changed here (only those added through the API).
    pub read_only: bool,
    /// For a workspace's devcontainer.json: the workspace's id and name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workspace: Option<WorkspaceRef>,
    /// For a workspace's devcontainer.json that does not parse: why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A workspace, by id and name.
#[derive(Serialize, ToSchema)]
pub struct WorkspaceRef {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
}

fn view(info: EnvironmentInfo) -> EnvironmentView {
    EnvironmentView {
        read_only: info.source != paddock_core::environments::EnvironmentSource::Api,
        info,
        workspace: None,
        error: None,
    }
}

fn environments(state: &AppState) -> &Environments {
    &state.manager.deps().environments
}

/// A body's definition, with the field at fault named on error.
fn read_body(
    body: serde_json::Value,
    path_name: Option<&str>,
) -> Result<EnvironmentConfig, ApiError> {
    let serde_json::Value::Object(fields) = body else {
        return Err(ApiError::invalid("expected a JSON object"));
    };
    if let Some(name) = path_name {
        match fields.get("name") {
            None => {
                return Err(ApiError::invalid(format!(
                    "name: missing field (the name in the path, `{name}`)"
                )));
            }
            Some(n) if n.as_str() == Some(name) => {}
            Some(_) => {
                return Err(ApiError::invalid(format!(
                    "name: must be the name in the path (`{name}`)"
                )));
            }
        }
    }
    serde_path_to_error::deserialize(serde_json::Value::Object(fields)).map_err(
        |e: serde_path_to_error::Error<serde_json::Error>| {
            let path = e.path().to_string();
            let inner = e.inner().to_string();
            if path == "." || path.contains('?') {
                ApiError::invalid(inner)
            } else {
                ApiError::invalid(format!("{path}: {inner}"))
            }
        },
    )
}

#[utoipa::path(get, path = "/api/config/environments", tag = "config", operation_id = "list_environments",
    responses((status = 200, description = "The file's and the API's environments, then each workspace's devcontainer.json", body = [EnvironmentView])))]
/// Lists the environments agents may name, and each workspace's devcontainer.json.
pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<EnvironmentView>>, ApiError> {
    let mut out: Vec<EnvironmentView> = environments(&state).list().into_iter().map(view).collect();
    for ws in state.workspaces.list().await? {
        let (info, error) = match Environments::of_workspace(&ws.path) {
            Ok(Some(info)) => (info, None),
            Ok(None) => continue,
            Err(e) => (
                EnvironmentInfo {
                    name: paddock_core::environments::DEVCONTAINER.into(),
                    source: paddock_core::environments::EnvironmentSource::Workspace,
                    definition: Default::default(),
                    path: None,
                    ignored: Vec::new(),
                },
                Some(e),
            ),
        };
        out.push(EnvironmentView {
            read_only: true,
            info,
            workspace: Some(WorkspaceRef {
                id: ws.id,
                name: ws.name,
            }),
            error,
        });
    }
    Ok(Json(out))
}

#[utoipa::path(post, path = "/api/config/environments", tag = "config", operation_id = "create_environment", security(("admin" = [])),
    request_body = EnvironmentConfig,
    responses((status = 201, body = EnvironmentView), (status = 400, body = super::error::ErrorBody),
        (status = 409, description = "the name exists (or is paddock.toml's, or `devcontainer`)", body = super::error::ErrorBody)))]
/// Adds an environment (stored).
pub async fn create(
    State(state): State<AppState>,
    caller: super::auth::Caller,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> Result<(StatusCode, Json<EnvironmentView>), ApiError> {
    let env = read_body(body, None)?;
    let name = env.name.clone();
    let info = environments(&state).create(env).await?;
    audit_environment(&state, &caller, &name, "added").await?;
    Ok((StatusCode::CREATED, Json(view(info))))
}

/// Records a change to environment `name` in the audit log (its name
/// only: its variables may hold secrets).
async fn audit_environment(
    state: &AppState,
    caller: &super::auth::Caller,
    name: &str,
    action: &str,
) -> Result<(), ApiError> {
    super::audit::record(
        state,
        caller,
        super::audit::Act {
            agent_id: "",
            kind: "environment",
            action,
            reason: format!("environment `{name}` {action}"),
            detail: serde_json::json!({ "name": name }),
        },
    )
    .await
}

#[utoipa::path(put, path = "/api/config/environments/{name}", tag = "config", operation_id = "put_environment", security(("admin" = [])),
    params(("name" = String, Path, description = "The environment")),
    request_body = EnvironmentConfig,
    responses((status = 200, body = EnvironmentView), (status = 400, body = super::error::ErrorBody),
        (status = 404, body = super::error::ErrorBody),
        (status = 409, description = "an environment of paddock.toml", body = super::error::ErrorBody)))]
/// Replaces an environment added through the API.
pub async fn put(
    State(state): State<AppState>,
    caller: super::auth::Caller,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> Result<Json<EnvironmentView>, ApiError> {
    let env = read_body(body, Some(&name))?;
    let info = environments(&state).update(env).await?;
    audit_environment(&state, &caller, &name, "updated").await?;
    Ok(Json(view(info)))
}

#[utoipa::path(delete, path = "/api/config/environments/{name}", tag = "config", operation_id = "delete_environment", security(("admin" = [])),
    params(("name" = String, Path, description = "The environment")),
    responses((status = 204, description = "Removed"), (status = 404, body = super::error::ErrorBody),
        (status = 409, description = "an environment of paddock.toml", body = super::error::ErrorBody)))]
/// Removes an environment added through the API.
pub async fn delete(
    State(state): State<AppState>,
    caller: super::auth::Caller,
    ApiPath(name): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    environments(&state).delete(&name).await?;
    audit_environment(&state, &caller, &name, "removed").await?;
    Ok(StatusCode::NO_CONTENT)
}
