//! The HTTP API (axum): REST routes under `/api`, the WebSocket at
//! `/api/ws`, the OpenAPI document at `/api/openapi.json`, auth, and JSON
//! errors of one shape.

pub mod access;
pub mod agents;
pub mod app;
pub mod audit;
pub mod auth;
pub mod budgets;
pub mod config_docs;
pub mod credentials;
pub mod dashboard;
pub mod demo;
pub mod doc;
pub mod environments;
pub mod error;
pub mod evals;
pub mod hosts;
pub mod keys;
pub mod limits;
pub mod mcp;
pub mod me;
pub mod meta;
pub mod metrics;
pub mod oidc;
pub mod ownership;
pub mod plugins;
pub mod policy;
pub mod providers;
pub mod refs;
pub mod shares;
pub mod users;
pub mod visibility;
pub mod workflows;
pub mod workspaces;
pub mod ws;

use auth::Auth;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{delete, get, post, put};
use error::ApiError;
use paddock_core::agent::Manager;
use paddock_core::bus::Bus;
use paddock_mcp::McpManager;
use paddock_plugins::PluginHost;
use paddock_store::Store;
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
    /// Workspaces.
    pub workspaces: Arc<paddock_core::workspace::Workspaces>,
    /// Auth rules.
    pub auth: Arc<Auth>,
    /// The model providers (the file's, read-only, the API's, and the
    /// built-in demo's; including any whose client could not be set up)
    /// and the default model.
    pub providers: Arc<paddock_core::provider_admin::ProviderAdmin>,
    /// The built-in offline demo's model.
    pub demo: Arc<demo::DemoModel>,
    /// Counters and per-agent figures.
    pub metrics: Arc<paddock_core::metrics::Metrics>,
    /// Single sign-on providers and the sign-ins under way.
    pub sso: Arc<oidc::Sso>,
    /// When this host started.
    pub started_at: chrono::DateTime<chrono::Utc>,
    /// Workflow definitions and runs.
    pub workflows: Arc<paddock_core::workflow::Workflows>,
}

/// The OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(title = "Paddock API", description = "Run, watch and administer coding agents. Errors are `{\"error\": {\"code\", \"message\"}}`. Every route needs credentials, on loopback too: `Authorization: Bearer <token>` — a personal access token (`pdk_…`, made with `POST /api/me/tokens` or `paddock user add NAME --token`; scoped `read`, `write` or `admin`, expiring, revocable) or a service token (the data dir's `api-token` or `admin-token`, acting as the built-in `local` admin) — or the dashboard's session cookie (`POST /api/session` with a name and password or a token, or the login link `paddock serve` prints when there are no users). What each route needs of its caller's role and scope is its `x-paddock-access`. A change made with the session cookie must send `X-Paddock-CSRF` (the value of the `paddock_csrf_<port>` cookie). A request that changes state must not be cross-site: its `Origin` (or `Sec-Fetch-Site`) must be this server's, and it must carry `Authorization`, a JSON content type, or `X-Paddock-Request: 1`. Each credential has a request rate (429 `rate_limited` with `Retry-After`). The WebSocket protocol is described in the `ws` module docs."),
    paths(
        agents::create, agents::list, agents::get, agents::delete, agents::post_message,
        agents::interrupt, agents::retry, agents::diff, agents::events, shares::get, shares::put,
        demo::start,
        config_docs::list_templates, config_docs::create_template, config_docs::get_template,
        config_docs::put_template, config_docs::delete_template,
        config_docs::list_prompts, config_docs::create_prompt, config_docs::get_prompt,
        config_docs::put_prompt, config_docs::delete_prompt,
        plugins::list, plugins::get, plugins::install, plugins::put_grants, plugins::enable,
        plugins::disable, plugins::remove, plugins::tools,
        plugins::install_oci, plugins::oci_settings, plugins::list_updates, plugins::update,
        plugins::get_update, plugins::accept_update, plugins::reject_update,
        mcp::list, mcp::add, mcp::get, mcp::remove, mcp::test, mcp::catalog, mcp::health,
        policy::decide, policy::pending, policy::audit, policy::list_rules, policy::add_rule,
        policy::remove_rule, policy::assess,
        meta::info, meta::routers, auth::sign_in, auth::sign_out,
        hosts::list, hosts::healthz, hosts::readyz,
        me::get, me::change_password, me::list_tokens, me::create_token, me::revoke_token,
        users::list, users::create, users::get, users::update, users::delete, users::create_token,
        users::list_groups, users::create_group, users::get_group, users::update_group,
        users::delete_group,
        oidc::methods, oidc::login, oidc::callback,
        providers::list, providers::create, providers::put, providers::delete, providers::test,
        providers::test_unsaved, providers::get_default, providers::put_default,
        providers::delete_default,
        environments::list, environments::create, environments::put, environments::delete,
        metrics::prometheus, metrics::agents, metrics::agent, metrics::usage, metrics::cost,
        budgets::get, budgets::put,
        keys::list, keys::put, keys::delete,
        workspaces::list, workspaces::create, workspaces::get, workspaces::delete,
        workspaces::files, workspaces::diff, workspaces::commit, workspaces::merge,
        workspaces::backup, workspaces::backups_of, workspaces::backups, workspaces::restore,
        workspaces::delete_backup,
        workflows::list, workflows::create, workflows::check, workflows::get, workflows::put,
        workflows::delete, workflows::start, workflows::list_runs, workflows::get_run,
        workflows::cancel, workflows::decide_gate, workflows::events,
        evals::list, evals::get, evals::compare, evals::predictions,
        openapi,
    ),
    components(schemas(ws::ClientMsg, ws::ServerMsg)),
    tags((name = "metrics"), (name = "agents"), (name = "config"), (name = "plugins"), (name = "mcp"), (name = "policy"), (name = "meta"), (name = "workspaces"), (name = "workflows"), (name = "evals"), (name = "account"), (name = "users"))
)]
pub struct ApiDoc;

/// This document.
#[utoipa::path(get, path = "/api/openapi.json", tag = "meta",
    responses((status = 200, description = "The OpenAPI document", body = Object)))]
pub async fn openapi() -> Result<axum::Json<&'static serde_json::Value>, ApiError> {
    document().map(axum::Json)
}

/// The OpenAPI document: what utoipa derives from the route attributes
/// and [`ApiDoc`], made accurate by [`doc::accurate`]. Built once.
pub fn document() -> Result<&'static serde_json::Value, ApiError> {
    static DOC: std::sync::LazyLock<Result<serde_json::Value, String>> =
        std::sync::LazyLock::new(|| doc::accurate(&ApiDoc::openapi()).map_err(|e| e.to_string()));
    DOC.as_ref()
        .map_err(|e| ApiError::internal("the OpenAPI document cannot be built", e))
}

/// The OpenAPI document as pretty JSON, as `paddock openapi` prints it and
/// `dashboard/openapi.json` keeps it.
pub fn openapi_json() -> String {
    document()
        .and_then(|d| {
            serde_json::to_string_pretty(d)
                .map_err(|e| ApiError::internal("the OpenAPI document cannot be encoded", &e))
        })
        .unwrap_or_else(|e| serde_json::json!({"error": e.message}).to_string())
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such route")
}

/// Routes outside `/api` and `/metrics` belong to the dashboard.
async fn fallback(method: axum::http::Method, uri: axum::http::Uri) -> axum::response::Response {
    use axum::response::IntoResponse;
    let path = uri.path();
    let api = path == "/api" || path.starts_with("/api/") || path.starts_with("/metrics/");
    if api {
        return not_found().await.into_response();
    }
    if method != axum::http::Method::GET && method != axum::http::Method::HEAD {
        return method_not_allowed().await.into_response();
    }
    dashboard::serve(uri).await
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
    // Who may call each route is `access::ROUTES`, checked by
    // `auth::authorize` for every route of `api` (a route missing from the
    // table is refused).
    let plugins = Router::new()
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
        .route(
            "/api/plugins/{name}/update",
            get(plugins::get_update)
                .post(plugins::update)
                .delete(plugins::reject_update),
        )
        .route(
            "/api/plugins/{name}/update/accept",
            post(plugins::accept_update),
        )
        .route("/api/oci/install", post(plugins::install_oci))
        .route("/api/oci/settings", get(plugins::oci_settings))
        .route("/api/oci/updates", get(plugins::list_updates))
        .layer(DefaultBodyLimit::max(MAX_JSON_BODY));
    let api = Router::new()
        .route("/api/agents", get(agents::list).post(agents::create))
        .route("/api/agents/{id}", get(agents::get).delete(agents::delete))
        .route("/api/agents/{id}/messages", post(agents::post_message))
        .route("/api/agents/{id}/interrupt", post(agents::interrupt))
        .route("/api/agents/{id}/retry", post(agents::retry))
        .route("/api/agents/{id}/diff", get(agents::diff))
        .route("/api/agents/{id}/events", get(agents::events))
        .route("/api/agents/{id}/shares", get(shares::get).put(shares::put))
        .route("/api/demo", post(demo::start))
        .route("/api/agents/{id}/approvals/{call_id}", post(policy::decide))
        .route("/api/approvals", get(policy::pending))
        .route("/api/audit", get(policy::audit))
        // Rules loosen or tighten what every agent may do: admin.
        .route(
            "/api/policy/rules",
            get(policy::list_rules).post(policy::add_rule),
        )
        .route("/api/policy/rules/{id}", delete(policy::remove_rule))
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
        // Providers: anyone signed in reads; changing and testing them
        // (outbound requests with their keys) is admin.
        .route(
            "/api/config/providers",
            get(providers::list).post(providers::create),
        )
        // `test` is a reserved provider name: a PUT or DELETE here is a 405
        // (`Allow: POST`, as the document says), never the `{name}` routes.
        .route("/api/config/providers/test", post(providers::test_unsaved))
        .route(
            "/api/config/providers/{name}",
            put(providers::put).delete(providers::delete),
        )
        .route("/api/config/providers/{name}/test", post(providers::test))
        .route(
            "/api/config/default-model",
            get(providers::get_default)
                .put(providers::put_default)
                .delete(providers::delete_default),
        )
        // Environments: anyone signed in reads; changing them decides what
        // every agent's sandbox builds and runs: admin.
        .route(
            "/api/config/environments",
            get(environments::list).post(environments::create),
        )
        .route(
            "/api/config/environments/{name}",
            put(environments::put).delete(environments::delete),
        )
        .route("/api/config/routers", get(meta::routers))
        // Budgets bind every agent: changing them is admin.
        .route("/api/config/budgets", get(budgets::get).put(budgets::put))
        .route("/api/info", get(meta::info))
        .route("/api/hosts", get(hosts::list))
        .route("/api/tools", get(plugins::tools))
        // Adding and removing MCP servers runs programs on the host: admin.
        .route("/api/mcp/servers", get(mcp::list).post(mcp::add))
        .route("/api/mcp/servers/{name}", get(mcp::get).delete(mcp::remove))
        .route("/api/mcp/servers/{name}/test", post(mcp::test))
        .route("/api/mcp/catalog", get(mcp::catalog))
        .route("/api/metrics/mcp-health", get(mcp::health))
        .route("/api/metrics/agents", get(metrics::agents))
        .route("/api/metrics/agents/{id}", get(metrics::agent))
        .route("/api/metrics/usage", get(metrics::usage))
        .route("/api/metrics/cost-analysis", get(metrics::cost))
        // A user's own provider keys: nobody else's, admins included.
        .route("/api/me/keys", get(keys::list))
        .route(
            "/api/me/keys/{provider}",
            put(keys::put).delete(keys::delete),
        )
        .route(
            "/api/workspaces",
            get(workspaces::list).post(workspaces::create),
        )
        .route(
            "/api/workspaces/{id}",
            get(workspaces::get).delete(workspaces::delete),
        )
        .route("/api/workspaces/{id}/files", get(workspaces::files))
        .route("/api/workspaces/{id}/diff", get(workspaces::diff))
        .route("/api/workspaces/{id}/commit", post(workspaces::commit))
        .route("/api/workspaces/{id}/merge", post(workspaces::merge))
        .route("/api/workspaces/{id}/backup", post(workspaces::backup))
        .route("/api/workspaces/{id}/backups", get(workspaces::backups_of))
        .route("/api/backups", get(workspaces::backups))
        .route("/api/backups/{id}", delete(workspaces::delete_backup))
        .route("/api/backups/{id}/restore", post(workspaces::restore))
        // Definitions: anyone signed in reads; writing them is what writing
        // agent templates is. Runs: their owner's (and admins').
        .route(
            "/api/workflows",
            get(workflows::list).post(workflows::create),
        )
        .route("/api/workflows/check", post(workflows::check))
        .route(
            "/api/workflows/{name}",
            get(workflows::get)
                .put(workflows::put)
                .delete(workflows::delete),
        )
        .route(
            "/api/workflow-runs",
            get(workflows::list_runs).post(workflows::start),
        )
        .route("/api/workflow-runs/{id}", get(workflows::get_run))
        .route("/api/workflow-runs/{id}/cancel", post(workflows::cancel))
        .route(
            "/api/workflow-runs/{id}/gates/{step}",
            post(workflows::decide_gate),
        )
        .route("/api/workflow-runs/{id}/events", get(workflows::events))
        // Evaluation runs (started by `paddock eval run`): read-only here,
        // their owner's (and admins').
        .route("/api/evals", get(evals::list))
        .route("/api/evals/{id}", get(evals::get))
        .route("/api/evals/{id}/compare/{other}", get(evals::compare))
        .route("/api/evals/{id}/predictions", get(evals::predictions))
        .route("/metrics", get(metrics::prometheus))
        .route("/api/ws", get(ws::upgrade))
        .route("/api/openapi.json", get(openapi))
        .route("/api/session", delete(auth::sign_out))
        .route("/api/me", get(me::get))
        .route("/api/me/password", put(me::change_password))
        .route(
            "/api/me/tokens",
            get(me::list_tokens).post(me::create_token),
        )
        .route("/api/me/tokens/{id}", delete(me::revoke_token))
        .route("/api/users", get(users::list).post(users::create))
        .route(
            "/api/users/{id}",
            get(users::get).patch(users::update).delete(users::delete),
        )
        .route("/api/users/{id}/tokens", post(users::create_token))
        .route(
            "/api/groups",
            get(users::list_groups).post(users::create_group),
        )
        .route(
            "/api/groups/{id}",
            get(users::get_group)
                .put(users::update_group)
                .delete(users::delete_group),
        )
        .layer(DefaultBodyLimit::max(MAX_JSON_BODY))
        .merge(plugins)
        .route_layer(axum::middleware::from_fn_with_state(
            state.auth.clone(),
            auth::authorize,
        ));
    // Signing in is the one thing done without credentials (it checks the
    // host and the cross-site rules itself).
    let sign_in = Router::new()
        .route("/api/session", post(auth::sign_in))
        .route("/login", get(auth::login_link))
        // Single sign-on (`oidc`): the sign-in page's list of methods, and
        // the provider's round trip.
        .route("/api/auth/methods", get(oidc::methods))
        .route("/auth/oidc/{name}/login", get(oidc::login))
        .route("/auth/oidc/{name}/callback", get(oidc::callback))
        // An orchestrator's probes.
        .route("/healthz", get(hosts::healthz))
        .route("/readyz", get(hosts::readyz))
        .layer(DefaultBodyLimit::max(MAX_JSON_BODY));
    Router::new()
        .merge(api)
        .merge(sign_in)
        .fallback(fallback)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    fn document() -> Value {
        serde_json::from_str(&super::openapi_json()).unwrap()
    }

    fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
        let mut out = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                out.push((method.clone(), path.clone(), op));
            }
        }
        out
    }

    /// Generated clients name their functions by operation id.
    #[test]
    fn operation_ids_are_unique() {
        let doc = document();
        let mut seen = std::collections::BTreeMap::new();
        for (method, path, op) in operations(&doc) {
            let id = op["operationId"].as_str().unwrap_or_default().to_string();
            assert!(!id.is_empty(), "{method} {path} has no operation id");
            if let Some(other) = seen.insert(id.clone(), format!("{method} {path}")) {
                panic!("operation id `{id}` is used by {other} and {method} {path}");
            }
        }
    }

    /// Every `{parameter}` of a path is declared as a path parameter, and
    /// nothing else is; every other parameter is in the query.
    #[test]
    fn path_parameters_are_declared_exactly() {
        let doc = document();
        let re = regex::Regex::new(r"\{([^}]+)\}").unwrap();
        for (method, path, op) in operations(&doc) {
            let want: std::collections::BTreeSet<&str> = re
                .captures_iter(&path)
                .map(|c| c.get(1).unwrap().as_str())
                .collect();
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            let declared: std::collections::BTreeSet<&str> = params
                .iter()
                .filter(|p| p["in"] == "path")
                .map(|p| p["name"].as_str().unwrap())
                .collect();
            assert_eq!(declared, want, "path parameters of {method} {path}");
            for p in &params {
                assert!(
                    p["in"] == "path" || p["in"] == "query",
                    "{method} {path}: {p}"
                );
                if p["in"] == "query" {
                    assert_ne!(p["required"], true, "{method} {path}: {p} is optional");
                }
            }
        }
    }

    /// "Not blank" in the document is Rust's `trim().is_empty()`, char for
    /// char, for every field the server checks so.
    #[test]
    fn the_not_blank_pattern_is_rusts_whitespace() {
        let doc = document();
        let schemas = &doc["components"]["schemas"];
        let pattern = schemas["PostMessage"]["properties"]["text"]["pattern"]
            .as_str()
            .unwrap()
            .to_string();
        let re = regex::Regex::new(&pattern).unwrap();
        for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
            let s = c.to_string();
            assert_eq!(re.is_match(&s), !s.trim().is_empty(), "{c:?}");
        }
        for (schema, field) in [
            ("CreateAgent", "task"),
            ("CreateAgent", "name"),
            ("AssessRequest", "tool"),
        ] {
            assert_eq!(
                schemas[schema]["properties"][field]["pattern"],
                pattern.as_str(),
                "{schema}.{field}"
            );
        }
        let commit = schemas["CommitRequest"]["properties"]["message"]["pattern"]
            .as_str()
            .unwrap();
        assert_eq!(
            schemas["MergeRequest"]["properties"]["message"]["pattern"],
            commit
        );
        let commit = regex::Regex::new(commit).unwrap();
        for (message, ok) in [
            ("fix", true),
            (" \n\t", false),
            ("a\0b", false),
            ("\u{3000}x", true),
        ] {
            assert_eq!(commit.is_match(message), ok, "{message:?}");
        }
    }

    /// `group_by`'s pattern is the grammar the server reads.
    #[test]
    fn the_group_by_pattern_is_the_servers_grammar() {
        let doc = document();
        let params = doc["paths"]["/api/metrics/usage"]["get"]["parameters"]
            .as_array()
            .unwrap();
        let p = params.iter().find(|p| p["name"] == "group_by").unwrap();
        let re = regex::Regex::new(p["schema"]["pattern"].as_str().unwrap()).unwrap();
        for text in [
            "",
            "day",
            "model,agent,day",
            " day , model",
            ",,",
            "day,",
            "week",
            "day model",
            "day;model",
            "Day",
            "day\n",
            "\u{3000}agent",
            "provider,\u{feff}day",
            "user",
            "day, user,agent",
            "users",
        ] {
            assert_eq!(
                re.is_match(text),
                paddock_core::metrics::usage::GroupBy::parse_list(text).is_ok(),
                "{text:?}"
            );
        }
    }

    /// The name pattern the document gives says what the server checks.
    #[test]
    fn the_name_pattern_is_the_servers_rule() {
        let doc = document();
        let pattern = doc["components"]["schemas"]["NewTemplate"]["properties"]["name"]["pattern"]
            .as_str()
            .unwrap()
            .to_string();
        let re = regex::Regex::new(&pattern).unwrap();
        let long = "a".repeat(64);
        let too_long = "a".repeat(65);
        for name in [
            "a", "A.b_c-9", "9lives", &long, &too_long, "", ".hidden", "-x", "_x", "a b", "a/b",
            "a\n", "é", "a\u{0}", "a:b",
        ] {
            assert_eq!(
                re.is_match(name),
                paddock_core::config::is_plain_name(name),
                "{name:?} against {pattern}"
            );
        }
        for schema in ["NewSystemPrompt", "NewWorkspace", "RestoreRequest"] {
            assert_eq!(
                doc["components"]["schemas"][schema]["properties"]["name"]["pattern"],
                pattern.as_str(),
                "{schema}"
            );
        }
    }

    /// The dashboard's API types are generated from `dashboard/openapi.json`;
    /// it must be the document this code serves.
    #[test]
    fn dashboard_openapi_json_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../dashboard/openapi.json");
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed.trim() == super::openapi_json().trim(),
            "dashboard/openapi.json is out of date: run `make openapi` and commit it"
        );
    }
}
