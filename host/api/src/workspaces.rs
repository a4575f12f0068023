//! `/api/workspaces` and `/api/backups`: make, list, inspect and delete
//! workspaces; read their files; their diff; commit and merge worktrees;
//! back up and restore.
//!
//! Each workspace belongs to the user who made it (records made before
//! there were users: the local account). Its owner and admins see and
//! change it; a user who may see an agent working in it sees it too, read
//! only (its record, files, diff and backups: what the agent shows them
//! anyway). A backup belongs to its workspace's owner and is seen by whoever
//! sees that workspace. Lists show only what the caller may see; a direct
//! route answers 404 for the rest, and 403 to a caller who sees but may not
//! change it. Agents are created only on workspaces the caller owns (or
//! any, for an admin), and a restored backup belongs to whoever restored it.

use super::AppState;
use super::auth::Caller;
use super::error::{ApiError, ApiJson, ApiPath, ApiQuery, ErrorDetail};
use super::ownership::Need;
use super::shares::{Names, UserRef};
use super::visibility::VisibleIds;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use paddock_core::agent::AgentConfig;
use paddock_core::workspace::git::Conflict;
use paddock_core::workspace::{
    AgentUse, Backup, Committed, Diff, FilesView, MergeOutcome, Merged, NewWorkspace, Workspace,
    WorkspaceError,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// A workspace as the API shows it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct WorkspaceView {
    /// Its record.
    #[serde(flatten)]
    pub workspace: Workspace,
    /// The user it belongs to.
    pub owner: UserRef,
    /// Whether its directory still exists.
    pub exists: bool,
    /// Bytes of its files (symlinks not followed).
    pub size_bytes: u64,
    /// Its files.
    pub file_count: u64,
    /// The (not deleted) agents working in it that the caller may see.
    pub agents: Vec<AgentUse>,
}

/// Whether the caller owns `ws` (or is an admin, who owns everything).
fn owns(caller: &Caller, owner: &str) -> bool {
    caller.sees_everything() || owner == caller.user_id
}

/// Whether `visible` holds one of `agents`.
fn any_visible(visible: &VisibleIds, agents: &[AgentUse]) -> bool {
    agents.iter().any(|a| visible.agent_id(&a.id))
}

/// The views of `list` for `caller`: only the agents they may see.
async fn views(
    state: &AppState,
    visible: &VisibleIds,
    list: Vec<Workspace>,
) -> Result<Vec<WorkspaceView>, ApiError> {
    let names = Names::load(state).await?;
    Ok(state
        .workspaces
        .views(list)
        .await?
        .into_iter()
        .map(|v| WorkspaceView {
            owner: names.user(v.workspace.owner_id()),
            agents: v
                .agents
                .into_iter()
                .filter(|a| visible.agent_id(&a.id))
                .collect(),
            workspace: v.workspace,
            exists: v.exists,
            size_bytes: v.size_bytes,
            file_count: v.file_count,
        })
        .collect())
}

/// The view of one workspace for `caller`.
async fn view(state: &AppState, caller: &Caller, ws: Workspace) -> Result<WorkspaceView, ApiError> {
    let visible = VisibleIds::of(state, caller).await?;
    views(state, &visible, vec![ws])
        .await?
        .pop()
        .ok_or_else(|| ApiError::not_found("no workspace"))
}

/// The workspace `id` (or name) if the caller may see it (`Need::See`) or
/// change it (`Need::Drive`): 404 when they may not see it, 403 when they
/// see it (through an agent) but may not change it.
pub async fn workspace_for(
    state: &AppState,
    caller: &Caller,
    id: &str,
    need: Need,
) -> Result<Workspace, ApiError> {
    let ws = state.workspaces.get(id).await?;
    let mine = owns(caller, ws.owner_id());
    if mine && (need == Need::See || caller.may_write()) {
        return Ok(ws);
    }
    let seen = mine || {
        let visible = VisibleIds::of(state, caller).await?;
        any_visible(&visible, &state.workspaces.agents_using(&ws).await?)
    };
    if !seen {
        return Err(ApiError::not_found(format!("no workspace `{id}`")));
    }
    match need {
        Need::See => Ok(ws),
        Need::Drive => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "workspace `{}` belongs to someone else: only its owner or an admin may change it",
                ws.name
            ),
        )),
    }
}

/// The backup `id` if the caller may see it (it is theirs, or they see its
/// workspace) or change it (it is theirs): 404 / 403 as [`workspace_for`].
async fn backup_for(
    state: &AppState,
    caller: &Caller,
    id: &str,
    need: Need,
) -> Result<Backup, ApiError> {
    let b = state.workspaces.backup_of(id).await?;
    let mine = owns(caller, b.owner_id());
    if mine && (need == Need::See || caller.may_write()) {
        return Ok(b);
    }
    let seen = mine
        || match state.workspaces.get(&b.workspace_id).await {
            Ok(ws) => workspace_for(state, caller, &ws.id, Need::See)
                .await
                .is_ok(),
            Err(_) => false,
        };
    if !seen {
        return Err(ApiError::not_found(format!("no backup `{id}`")));
    }
    match need {
        Need::See => Ok(b),
        Need::Drive => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "backup `{id}` belongs to someone else: only its owner or an admin may change it"
            ),
        )),
    }
}

/// Refuses to create an agent for `caller` with `config` on a workspace
/// they do not own (by `workspace_id`, or a directory inside one); `field`
/// is the request's field that named it (or `template`).
pub async fn check_usable(
    state: &AppState,
    caller: &Caller,
    config: &AgentConfig,
    field: &str,
) -> Result<(), ApiError> {
    if caller.sees_everything() {
        return Ok(());
    }
    let ws = match &config.workspace_id {
        Some(id) => Some(state.workspaces.get(id).await?),
        None => state.workspaces.containing(&config.workspace).await?,
    };
    let Some(ws) = ws else {
        return Ok(());
    };
    if ws.owner_id() == caller.user_id {
        return Ok(());
    }
    Err(ApiError::invalid(match (field, &config.workspace_id) {
        ("workspace_id", Some(id)) => format!("workspace_id: no workspace `{id}`"),
        ("template", _) => {
            "template: its workspace is not one you may use (give `workspace`, `workspace_id` or `worktree`)".to_string()
        }
        (field, _) => format!("{field}: not a directory you may use"),
    }))
}

impl From<WorkspaceError> for ApiError {
    fn from(e: WorkspaceError) -> ApiError {
        match e {
            WorkspaceError::NotFound(m) => ApiError::not_found(m),
            WorkspaceError::Invalid(m) => ApiError::invalid(m),
            WorkspaceError::Outside(m) => {
                ApiError::new(StatusCode::FORBIDDEN, "outside_workspace", m)
            }
            WorkspaceError::Conflict { code, message } => {
                ApiError::new(StatusCode::CONFLICT, code, message)
            }
            WorkspaceError::Git(m) => {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "git_failed", m)
            }
            WorkspaceError::Corrupt(m) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "backup_corrupt", m)
            }
            e @ WorkspaceError::Io { .. } => ApiError::internal("a workspace operation failed", &e),
            WorkspaceError::TooLarge(m) => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", m)
            }
            WorkspaceError::Store(s) => s.into(),
        }
    }
}

/// What a failure of an operation on `ws` is for the client: when the
/// workspace was deleted while the request waited for it (its files and
/// baseline gone under the request), a 404 like any request after the
/// deletion, not the 500 the missing files would give.
async fn gone_or(
    state: &AppState,
    ws: &paddock_core::workspace::Workspace,
    e: WorkspaceError,
) -> ApiError {
    if matches!(e, WorkspaceError::NotFound(_)) {
        return e.into();
    }
    match state.workspaces.get(&ws.id).await {
        Err(gone @ WorkspaceError::NotFound(_)) => gone.into(),
        _ => e.into(),
    }
}

/// Every workspace the caller may see, with its size and the agents using
/// it.
#[utoipa::path(get, path = "/api/workspaces", tag = "workspaces", operation_id = "list_workspaces",
    responses((status = 200, body = Vec<WorkspaceView>)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<WorkspaceView>>, ApiError> {
    let w = &state.workspaces;
    let visible = VisibleIds::of(&state, &caller).await?;
    let all = w.list().await?;
    let users = w.agents_using_each(&all).await?;
    let seen = all
        .into_iter()
        .zip(users)
        .filter(|(ws, users)| owns(&caller, ws.owner_id()) || any_visible(&visible, users))
        .map(|(ws, _)| ws)
        .collect();
    Ok(Json(views(&state, &visible, seen).await?))
}

/// Make a workspace: a worktree of `repo` on a new branch, the directory
/// `path` (in place, or copied with `copy`), or an empty directory. Every
/// directory named must lie under an allowed root.
#[utoipa::path(post, path = "/api/workspaces", tag = "workspaces", operation_id = "create_workspace", request_body = NewWorkspace,
    responses((status = 201, body = WorkspaceView), (status = 400, body = super::error::ErrorBody),
        (status = 403, body = super::error::ErrorBody), (status = 409, body = super::error::ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<NewWorkspace>,
) -> Result<(StatusCode, Json<WorkspaceView>), ApiError> {
    let ws = state
        .workspaces
        .create(NewWorkspace {
            owner: Some(caller.user_id.clone()),
            ..req
        })
        .await?;
    Ok((StatusCode::CREATED, Json(view(&state, &caller, ws).await?)))
}

/// One workspace (by id or name) with its size and the agents using it.
#[utoipa::path(get, path = "/api/workspaces/{id}", tag = "workspaces", operation_id = "get_workspace",
    params(("id" = String, Path, description = "The workspace's id or name.")),
    responses((status = 200, body = WorkspaceView), (status = 404, body = super::error::ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<WorkspaceView>, ApiError> {
    let ws = workspace_for(&state, &caller, &id, Need::See).await?;
    Ok(Json(view(&state, &caller, ws).await?))
}

/// `DELETE /api/workspaces/{id}` parameters.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeleteParams {
    /// Also delete its directory (a worktree is removed from its
    /// repository; a directory used in place is never deleted).
    #[serde(default)]
    pub remove_files: bool,
    /// Also delete a worktree's branch (with `remove_files`).
    #[serde(default)]
    pub delete_branch: bool,
}

/// Forget a workspace; refused (409 `in_use`) while an agent uses it.
#[utoipa::path(delete, path = "/api/workspaces/{id}", tag = "workspaces", operation_id = "delete_workspace", params(("id" = String, Path, description = "The workspace's id or name."), DeleteParams),
    responses((status = 204), (status = 404, body = super::error::ErrorBody),
        (status = 409, body = super::error::ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(p): ApiQuery<DeleteParams>,
) -> Result<StatusCode, ApiError> {
    let ws = workspace_for(&state, &caller, &id, Need::Drive).await?;
    state
        .workspaces
        .delete(&ws, p.remove_files, p.delete_branch)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/workspaces/{id}/files` parameters.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct FilesParams {
    /// A path from the workspace root (default: the root); no NUL byte.
    #[serde(default)]
    #[param(pattern = r"^[^\x00]*$")]
    pub path: String,
    /// List what `.gitignore` files leave out too (flagged `ignored`).
    #[serde(default)]
    pub include_ignored: bool,
}

/// A directory's entries (`.gitignore` respected) or a file's content
/// (up to `[workspaces] max_file_bytes`; binary files are not returned).
/// Paths leaving the workspace, through `..` or a symlink, are refused.
#[utoipa::path(get, path = "/api/workspaces/{id}/files", tag = "workspaces", operation_id = "workspace_files", params(("id" = String, Path, description = "The workspace's id or name."), FilesParams),
    responses((status = 200, body = FilesView),
        (status = 400, description = "The path names something that is neither a regular file nor a directory", body = super::error::ErrorBody),
        (status = 403, body = super::error::ErrorBody),
        (status = 404, body = super::error::ErrorBody)))]
pub async fn files(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(p): ApiQuery<FilesParams>,
) -> Result<Json<FilesView>, ApiError> {
    let ws = workspace_for(&state, &caller, &id, Need::See).await?;
    match state
        .workspaces
        .files(&ws, &p.path, p.include_ignored)
        .await
    {
        Ok(files) => Ok(Json(files)),
        Err(e) => Err(gone_or(&state, &ws, e).await),
    }
}

/// The workspace's changes: for a worktree, against where its branch meets
/// its base branch (uncommitted and untracked files included); for others,
/// against the files as the workspace was made.
#[utoipa::path(get, path = "/api/workspaces/{id}/diff", tag = "workspaces", operation_id = "workspace_diff",
    params(("id" = String, Path, description = "The workspace's id or name.")),
    responses((status = 200, body = Diff), (status = 404, body = super::error::ErrorBody)))]
pub async fn diff(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Diff>, ApiError> {
    let ws = workspace_for(&state, &caller, &id, Need::See).await?;
    match state.workspaces.diff(&ws).await {
        Ok(diff) => Ok(Json(diff)),
        Err(e) => Err(gone_or(&state, &ws, e).await),
    }
}

/// `POST /api/workspaces/{id}/commit`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommitRequest {
    /// The commit message: not blank, without NUL, at most 64 KiB.
    #[schema(
        pattern = r"^[^\x00]*[^\x00\t-\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000][^\x00]*$"
    )]
    pub message: String,
}

/// Commit every change of a worktree workspace on its branch.
#[utoipa::path(post, path = "/api/workspaces/{id}/commit", tag = "workspaces", operation_id = "commit_workspace",
    params(("id" = String, Path, description = "The workspace's id or name.")),
    request_body = CommitRequest,
    responses((status = 201, body = Committed), (status = 409, body = super::error::ErrorBody)))]
pub async fn commit(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<CommitRequest>,
) -> Result<(StatusCode, Json<Committed>), ApiError> {
    let ws = workspace_for(&state, &caller, &id, Need::Drive).await?;
    match state.workspaces.commit(&ws, &req.message).await {
        Ok(c) => Ok((StatusCode::CREATED, Json(c))),
        Err(e) => Err(gone_or(&state, &ws, e).await),
    }
}

/// `POST /api/workspaces/{id}/merge`.
#[derive(Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeRequest {
    /// The merge commit's message, when one is needed: not blank, without
    /// NUL, at most 64 KiB.
    #[serde(default)]
    #[schema(
        pattern = r"^[^\x00]*[^\x00\t-\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000][^\x00]*$"
    )]
    pub message: Option<String>,
}

/// A merge refused (409): nothing was changed. For conflicts (code
/// `merge_conflict`) with the files that conflict; for others (such as
/// `not_a_worktree`) the error alone.
#[derive(Serialize, ToSchema)]
pub struct MergeConflicts {
    /// `merge_conflict`, `not_a_worktree`, …
    pub error: ErrorDetail,
    /// The files that conflict (with `merge_conflict`).
    #[schema(required = false)]
    pub conflicts: Vec<Conflict>,
}

/// Merge a worktree's branch into the branch it came from: fast-forward
/// when possible, else a merge commit. Conflicts are reported file by
/// file (409 `merge_conflict`) and nothing is changed.
#[utoipa::path(post, path = "/api/workspaces/{id}/merge", tag = "workspaces", operation_id = "merge_workspace",
    params(("id" = String, Path, description = "The workspace's id or name.")),
    request_body(content = Option<MergeRequest>, description = "Optional: an empty body (or `null`) takes the defaults"),
    responses((status = 200, body = Merged), (status = 409, body = MergeConflicts)))]
pub async fn merge(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    body: Option<ApiJson<Option<MergeRequest>>>,
) -> Result<Response, ApiError> {
    // The body is optional: an empty one (or `null`) takes the defaults.
    let req = body.and_then(|b| b.0).unwrap_or_default();
    let ws = workspace_for(&state, &caller, &id, Need::Drive).await?;
    let outcome = match state.workspaces.merge(&ws, req.message.as_deref()).await {
        Ok(o) => o,
        Err(e) => return Err(gone_or(&state, &ws, e).await),
    };
    match outcome {
        MergeOutcome::Merged(m) => Ok(Json(m).into_response()),
        MergeOutcome::Conflicts(conflicts) => {
            let message = format!(
                "merging `{}` into `{}` conflicts in {}; nothing was changed",
                ws.branch.as_deref().unwrap_or(""),
                ws.base_branch.as_deref().unwrap_or(""),
                conflicts
                    .iter()
                    .map(|c| c.path.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            Ok((
                StatusCode::CONFLICT,
                Json(MergeConflicts {
                    error: ErrorDetail {
                        code: "merge_conflict".into(),
                        message,
                    },
                    conflicts,
                }),
            )
                .into_response())
        }
    }
}

/// Back up a workspace's files (tar.zst with its SHA-256, in the data
/// dir); the oldest backups beyond `[workspaces] backup_retention` go.
#[utoipa::path(post, path = "/api/workspaces/{id}/backup", tag = "workspaces", operation_id = "backup_workspace",
    params(("id" = String, Path, description = "The workspace's id or name.")),
    responses((status = 201, body = Backup), (status = 404, body = super::error::ErrorBody)))]
pub async fn backup(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<(StatusCode, Json<Backup>), ApiError> {
    let ws = workspace_for(&state, &caller, &id, Need::Drive).await?;
    match state.workspaces.backup(&ws).await {
        Ok(b) => Ok((StatusCode::CREATED, Json(b))),
        Err(e) => Err(gone_or(&state, &ws, e).await),
    }
}

/// A workspace's backups, newest first.
#[utoipa::path(get, path = "/api/workspaces/{id}/backups", tag = "workspaces", operation_id = "workspace_backups",
    params(("id" = String, Path, description = "The workspace's id or name.")),
    responses((status = 200, body = Vec<Backup>), (status = 404, body = super::error::ErrorBody)))]
pub async fn backups_of(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Vec<Backup>>, ApiError> {
    let ws = workspace_for(&state, &caller, &id, Need::See).await?;
    Ok(Json(state.workspaces.backups(Some(&ws.id)).await?))
}

/// Every backup the caller may see, newest first (those of deleted
/// workspaces included).
#[utoipa::path(get, path = "/api/backups", tag = "workspaces", operation_id = "list_backups",
    responses((status = 200, body = Vec<Backup>)))]
pub async fn backups(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<Backup>>, ApiError> {
    let all = state.workspaces.backups(None).await?;
    if caller.sees_everything() {
        return Ok(Json(all));
    }
    let mut out = Vec::new();
    for b in all {
        if b.owner_id() == caller.user_id
            || backup_for(&state, &caller, &b.id, Need::See).await.is_ok()
        {
            out.push(b);
        }
    }
    Ok(Json(out))
}

/// `POST /api/backups/{id}/restore`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RestoreRequest {
    /// The new workspace's name: 1 to 64 letters, digits, `.`, `_` or `-`,
    /// starting with a letter or digit.
    #[schema(pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    pub name: String,
}

/// Restore a backup as a new workspace, after checking the archive's
/// SHA-256 (422 `backup_corrupt` when it changed).
#[utoipa::path(post, path = "/api/backups/{id}/restore", tag = "workspaces", operation_id = "restore_backup",
    params(("id" = String, Path, description = "The backup's id.")),
    request_body = RestoreRequest,
    responses((status = 201, body = WorkspaceView), (status = 404, body = super::error::ErrorBody),
        (status = 409, description = "A workspace has that name", body = super::error::ErrorBody),
        (status = 422, body = super::error::ErrorBody)))]
pub async fn restore(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<RestoreRequest>,
) -> Result<(StatusCode, Json<WorkspaceView>), ApiError> {
    let b = backup_for(&state, &caller, &id, Need::Drive).await?;
    let ws = state
        .workspaces
        .restore_for(&b, &req.name, Some(&caller.user_id))
        .await?;
    Ok((StatusCode::CREATED, Json(view(&state, &caller, ws).await?)))
}

/// Delete a backup and its archive.
#[utoipa::path(delete, path = "/api/backups/{id}", tag = "workspaces",
    params(("id" = String, Path, description = "The backup's id.")),
    responses((status = 204), (status = 404, body = super::error::ErrorBody)))]
pub async fn delete_backup(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let b = backup_for(&state, &caller, &id, Need::Drive).await?;
    state.workspaces.remove_backup(&b).await?;
    Ok(StatusCode::NO_CONTENT)
}
