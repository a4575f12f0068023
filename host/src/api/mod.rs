//! The HTTP API (axum): REST routes under `/api`, the WebSocket at
//! `/api/ws`, the OpenAPI document at `/api/openapi.json`, auth, and JSON
//! errors of one shape.

pub mod agents;
pub mod auth;
pub mod config_docs;
pub mod error;
pub mod mcp;
pub mod plugins;
pub mod policy;
pub mod ws;

use crate::agent::{Manager, ModelRef};
use crate::events::Bus;
use crate::mcp::McpManager;
use crate::plugins::PluginHost;
use crate::store::Store;
use auth::Auth;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{delete, get, post, put};
use error::ApiError;
use std::sync::Arc;
use utoipa::OpenApi;

/// Largest JSON request body.
pub const MAX_JSON_BODY: usize = 1024 * 1024;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The agents.
    pub manager: Arc<Manager>,
    /// The store.
    pub store: Store,
    /// The live bus.
    pub bus: Arc<Bus>,
    /// The plugin host.
    pub plugins: Arc<PluginHost>,
    /// MCP servers.
    pub mcp: Arc<McpManager>,
    /// Auth rules.
    pub auth: Arc<Auth>,
    /// The model used when a request names none.
    pub default_model: Option<ModelRef>,
}

/// The OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(title = "Paddock API", description = "Run, watch and administer coding agents. Errors are `{\"error\": {\"code\", \"message\"}}`. Bound beyond loopback, every route needs `Authorization: Bearer <token>`; plugin routes need the admin token. The WebSocket protocol is described in the `ws` module docs."),
    paths(
        agents::create, agents::list, agents::get, agents::delete, agents::post_message,
        agents::interrupt, agents::events,
        config_docs::list_templates, config_docs::create_template, config_docs::get_template,
        config_docs::put_template, config_docs::delete_template,
        config_docs::list_prompts, config_docs::create_prompt, config_docs::get_prompt,
        config_docs::put_prompt, config_docs::delete_prompt,
        plugins::list, plugins::get, plugins::install, plugins::put_grants, plugins::enable,
        plugins::disable, plugins::remove, plugins::tools,
        mcp::list, mcp::add, mcp::get, mcp::remove, mcp::test, mcp::catalog, mcp::health,
        policy::decide, policy::pending, policy::audit, policy::list_rules, policy::add_rule,
        policy::remove_rule, policy::assess,
        openapi,
    ),
    tags((name = "agents"), (name = "config"), (name = "plugins"), (name = "mcp"), (name = "policy"), (name = "meta"))
)]
pub struct ApiDoc;

/// This document.
#[utoipa::path(get, path = "/api/openapi.json", tag = "meta",
    responses((status = 200, description = "The OpenAPI document", body = Object)))]
pub async fn openapi() -> axum::Json<utoipa::openapi::OpenApi> {
    axum::Json(ApiDoc::openapi())
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not take that method",
    )
}

/// The whole router.
pub fn router(state: AppState) -> Router {
    let admin_only =
        || axum::middleware::from_fn_with_state(state.auth.clone(), auth::require_admin);
    let admin = Router::new()
        .route(
            "/api/plugins",
            get(plugins::list)
                .post(plugins::install)
                // Only uploads may be large; the innermost limit wins.
                .layer(DefaultBodyLimit::max(plugins::MAX_UPLOAD)),
        )
        .route(
            "/api/plugins/{name}",
            get(plugins::get).delete(plugins::remove),
        )
        .route("/api/plugins/{name}/grants", put(plugins::put_grants))
        .route("/api/plugins/{name}/enable", post(plugins::enable))
        .route("/api/plugins/{name}/disable", post(plugins::disable))
        .layer(DefaultBodyLimit::max(MAX_JSON_BODY))
        .route_layer(admin_only());
    let user = Router::new()
        .route("/api/agents", get(agents::list).post(agents::create))
        .route("/api/agents/{id}", get(agents::get).delete(agents::delete))
        .route("/api/agents/{id}/messages", post(agents::post_message))
        .route("/api/agents/{id}/interrupt", post(agents::interrupt))
        .route("/api/agents/{id}/events", get(agents::events))
        .route("/api/agents/{id}/approvals/{call_id}", post(policy::decide))
        .route("/api/approvals", get(policy::pending))
        .route("/api/audit", get(policy::audit))
        // Rules loosen or tighten what every agent may do: admin.
        .route(
            "/api/policy/rules",
            get(policy::list_rules).merge(post(policy::add_rule).route_layer(admin_only())),
        )
        .route(
            "/api/policy/rules/{id}",
            delete(policy::remove_rule).route_layer(admin_only()),
        )
        .route("/api/policy/assess", post(policy::assess))
        .route(
            "/api/config/agent-templates",
            get(config_docs::list_templates).post(config_docs::create_template),
        )
        .route(
            "/api/config/agent-templates/{name}",
            get(config_docs::get_template)
                .put(config_docs::put_template)
                .delete(config_docs::delete_template),
        )
        .route(
            "/api/config/system-prompts",
            get(config_docs::list_prompts).post(config_docs::create_prompt),
        )
        .route(
            "/api/config/system-prompts/{name}",
            get(config_docs::get_prompt)
                .put(config_docs::put_prompt)
                .delete(config_docs::delete_prompt),
        )
        .route("/api/tools", get(plugins::tools))
        // Adding and removing MCP servers runs programs on the host: admin.
        .route(
            "/api/mcp/servers",
            get(mcp::list).merge(post(mcp::add).route_layer(admin_only())),
        )
        .route(
            "/api/mcp/servers/{name}",
            get(mcp::get).merge(delete(mcp::remove).route_layer(admin_only())),
        )
        .route("/api/mcp/servers/{name}/test", post(mcp::test))
        .route("/api/mcp/catalog", get(mcp::catalog))
        .route("/api/metrics/mcp-health", get(mcp::health))
        .route("/api/ws", get(ws::upgrade))
        .route("/api/openapi.json", get(openapi))
        .layer(DefaultBodyLimit::max(MAX_JSON_BODY))
        .route_layer(axum::middleware::from_fn_with_state(
            state.auth.clone(),
            auth::require_user,
        ));
    Router::new()
        .merge(admin)
        .merge(user)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}
