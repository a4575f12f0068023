//! `/api/mcp/…`: the MCP servers (the file's, read-only, and those added
//! here, stored), a connection test, the catalogue of well-known servers,
//! and `/api/metrics/mcp-health`. Adding and removing servers runs programs
//! on the host, so those two routes are admin-only.

use super::AppState;
use super::error::{ApiError, ApiJson, ApiPath};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use paddock_mcp::catalog::{CATALOG, CatalogEntry};
use paddock_mcp::{Health, McpError, ServerSpec, ServerView, TestReport};
use std::collections::BTreeMap;

impl From<McpError> for ApiError {
    fn from(e: McpError) -> ApiError {
        match &e {
            McpError::UnknownServer(_) | McpError::UnknownTool(_) => {
                ApiError::not_found(e.to_string())
            }
            McpError::Exists { .. } | McpError::ReadOnly(_) => ApiError::conflict(e.to_string()),
            McpError::Config(_) => ApiError::invalid(e.to_string()),
            McpError::Store(s) => super::error::store_error("the store failed", s),
            McpError::Internal(_) => ApiError::internal("MCP failed", &e),
            McpError::Unavailable { .. }
            | McpError::Client { .. }
            | McpError::Adapter { .. }
            | McpError::Refused { .. } => {
                ApiError::new(StatusCode::BAD_GATEWAY, "mcp_unavailable", e.to_string())
            }
        }
    }
}

/// `POST /api/mcp/servers`: a name and an entry as in `mcpServers.json`
/// (the handler reads it field by field, naming the bad one).
#[derive(utoipa::ToSchema)]
pub struct NewMcpServer {
    /// Its name.
    pub name: String,
    /// The entry.
    #[serde(flatten)]
    pub spec: ServerSpec,
}

/// Every MCP server (from `mcpServers.json` and added through the API) with
/// its state, health and tools.
#[utoipa::path(get, path = "/api/mcp/servers", tag = "mcp", operation_id = "list_mcp_servers",
    responses((status = 200, body = Vec<ServerView>)))]
pub async fn list(State(state): State<AppState>) -> Json<Vec<ServerView>> {
    Json(state.mcp.list())
}

/// Add a server: `{"name": …}` plus an entry as in `mcpServers.json`
/// (`command`/`args`/`env`/`cwd`, or `url`/`headers`/`transport`, and the
/// optional `disabled`, `eager`, `startupTimeoutMs`, `toolTimeoutMs`,
/// `adapters`). `${VAR}` references must be set in the host's environment.
#[utoipa::path(post, path = "/api/mcp/servers", tag = "mcp", operation_id = "add_mcp_server", security(("admin" = [])),
    request_body(content = NewMcpServer, description = "an mcpServers.json entry plus its `name`"),
    responses((status = 201, body = ServerView), (status = 400, body = super::error::ErrorBody),
        (status = 409, body = super::error::ErrorBody)))]
pub async fn add(
    State(state): State<AppState>,
    caller: super::auth::Caller,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> Result<(StatusCode, Json<ServerView>), ApiError> {
    let serde_json::Value::Object(mut fields) = body else {
        return Err(ApiError::invalid("expected a JSON object"));
    };
    let name = match fields.remove("name") {
        Some(serde_json::Value::String(n)) => n,
        Some(_) => return Err(ApiError::invalid("name: expected a string")),
        None => return Err(ApiError::invalid("name: missing field")),
    };
    let spec = ServerSpec::from_value(&name, &serde_json::Value::Object(fields))
        .map_err(McpError::from)?;
    let view = state.mcp.add(&name, spec).await?;
    audit_server(&state, &caller, &name, "added").await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// Records that an MCP server was added or removed (its name only: its
/// entry may hold secrets).
async fn audit_server(
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
            kind: "mcp_server",
            action,
            reason: format!("MCP server `{name}` {action}"),
            detail: serde_json::json!({ "name": name }),
        },
    )
    .await
}

/// One server.
#[utoipa::path(get, path = "/api/mcp/servers/{name}", tag = "mcp", operation_id = "get_mcp_server",
    params(("name" = String, Path, description = "The MCP server's name.")),
    responses((status = 200, body = ServerView), (status = 404, body = super::error::ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<ServerView>, ApiError> {
    Ok(Json(state.mcp.view(&name)?))
}

/// Remove a server added through the API (its connection is closed).
/// Servers of `mcpServers.json` are read-only here (409).
#[utoipa::path(delete, path = "/api/mcp/servers/{name}", tag = "mcp", operation_id = "remove_mcp_server",
    params(("name" = String, Path, description = "The MCP server's name.")), security(("admin" = [])),
    responses((status = 204), (status = 404, body = super::error::ErrorBody),
        (status = 409, body = super::error::ErrorBody)))]
pub async fn remove(
    State(state): State<AppState>,
    caller: super::auth::Caller,
    ApiPath(name): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    state.mcp.remove(&name).await?;
    audit_server(&state, &caller, &name, "removed").await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Connect afresh, list the tools, ping once: timings and errors. A failed
/// connection is a 200 with `ok: false` and the reason.
#[utoipa::path(post, path = "/api/mcp/servers/{name}/test", tag = "mcp", operation_id = "test_mcp_server",
    params(("name" = String, Path, description = "The MCP server's name.")),
    responses((status = 200, body = TestReport), (status = 404, body = super::error::ErrorBody)))]
pub async fn test(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<TestReport>, ApiError> {
    Ok(Json(state.mcp.test(&name).await?))
}

/// Well-known servers: what to run and which variables each needs.
#[utoipa::path(get, path = "/api/mcp/catalog", tag = "mcp", operation_id = "mcp_catalog",
    responses((status = 200, body = Vec<CatalogEntry>)))]
pub async fn catalog() -> Json<&'static [CatalogEntry]> {
    Json(CATALOG)
}

/// Health of every MCP server: state, last error, restarts, calls ok and
/// failed, latency percentiles.
#[utoipa::path(get, path = "/api/metrics/mcp-health", tag = "mcp", operation_id = "mcp_health",
    responses((status = 200, body = BTreeMap<String, Health>)))]
pub async fn health(State(state): State<AppState>) -> Json<BTreeMap<String, Health>> {
    Json(state.mcp.health())
}
