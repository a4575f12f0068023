//! What each route needs of its caller: one table, read by the
//! authorization middleware (`auth::authorize`), by the OpenAPI document
//! (each operation's `x-paddock-access`) and by the isolation tests, so a
//! route cannot be added without saying who may call it.
//!
//! Access to a route is about the *kind* of caller (role and token
//! scope). Which agents, workspaces and approvals a caller may see or
//! drive is decided by the handlers (`ownership`), which answer 404 for
//! what the caller may not see.

use axum::http::Method;
use paddock_protocol::identity::{Role, Scope};
use serde::Serialize;

/// The kind of caller a route needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// Any signed-in caller: viewers and read-scoped tokens too.
    Read,
    /// A member or admin with a token of scope `write` or more: changes
    /// within what the caller owns or was given.
    Write,
    /// Any signed-in user acting on their own account (sign out, their own
    /// tokens and keys), with a token of scope `write` or more.
    Account,
    /// An admin, any scope: host-wide figures (Prometheus metrics).
    AdminRead,
    /// An admin with a token of scope `admin`: plugins, grants, global
    /// rules, budgets, providers, users.
    Admin,
}

impl Access {
    /// Whether a caller of this role, with a credential of this scope,
    /// may call a route of this access.
    pub fn allows(self, role: Role, scope: Scope) -> bool {
        match self {
            Access::Read => true,
            Access::Write => role >= Role::Member && scope >= Scope::Write,
            Access::Account => scope >= Scope::Write,
            Access::AdminRead => role == Role::Admin,
            Access::Admin => role == Role::Admin && scope == Scope::Admin,
        }
    }

    /// Its name in the OpenAPI document.
    pub fn as_str(self) -> &'static str {
        match self {
            Access::Read => "read",
            Access::Write => "write",
            Access::Account => "account",
            Access::AdminRead => "admin_read",
            Access::Admin => "admin",
        }
    }

    /// What a refused caller is told it needs.
    pub fn needs(self) -> &'static str {
        match self {
            Access::Read => "a signed-in caller",
            Access::Write => "a member or admin, with a token of scope `write` or `admin`",
            Access::Account => "a token of scope `write` or `admin`",
            Access::AdminRead => "an admin",
            Access::Admin => "an admin, with a token of scope `admin`",
        }
    }
}

use Access::{Account, Admin, AdminRead, Read, Write};

/// Every authenticated route: (method, path as routed, access). The
/// WebSocket (`GET /api/ws`) is `Read`; each of its operations is checked
/// as the REST route that does the same.
pub const ROUTES: &[(&str, &str, Access)] = &[
    ("get", "/api/agents", Read),
    ("post", "/api/agents", Write),
    ("get", "/api/agents/{id}", Read),
    ("delete", "/api/agents/{id}", Write),
    ("post", "/api/agents/{id}/messages", Write),
    ("post", "/api/agents/{id}/interrupt", Write),
    ("post", "/api/agents/{id}/retry", Write),
    ("get", "/api/agents/{id}/diff", Read),
    ("get", "/api/agents/{id}/events", Read),
    ("get", "/api/agents/{id}/shares", Read),
    ("put", "/api/agents/{id}/shares", Write),
    ("post", "/api/agents/{id}/approvals/{call_id}", Write),
    ("post", "/api/demo", Write),
    ("get", "/api/approvals", Read),
    ("get", "/api/audit", Read),
    ("get", "/api/policy/rules", Read),
    ("post", "/api/policy/rules", Admin),
    ("delete", "/api/policy/rules/{id}", Admin),
    ("post", "/api/policy/assess", Read),
    ("get", "/api/config/agent-templates", Read),
    ("post", "/api/config/agent-templates", Write),
    ("get", "/api/config/agent-templates/{name}", Read),
    ("put", "/api/config/agent-templates/{name}", Write),
    ("delete", "/api/config/agent-templates/{name}", Write),
    ("get", "/api/config/system-prompts", Read),
    ("post", "/api/config/system-prompts", Write),
    ("get", "/api/config/system-prompts/{name}", Read),
    ("put", "/api/config/system-prompts/{name}", Write),
    ("delete", "/api/config/system-prompts/{name}", Write),
    ("get", "/api/config/providers", Read),
    ("post", "/api/config/providers", Admin),
    ("post", "/api/config/providers/test", Admin),
    ("put", "/api/config/providers/{name}", Admin),
    ("delete", "/api/config/providers/{name}", Admin),
    ("post", "/api/config/providers/{name}/test", Admin),
    ("get", "/api/config/default-model", Read),
    ("put", "/api/config/default-model", Admin),
    ("delete", "/api/config/default-model", Admin),
    ("get", "/api/config/environments", Read),
    ("post", "/api/config/environments", Admin),
    ("put", "/api/config/environments/{name}", Admin),
    ("delete", "/api/config/environments/{name}", Admin),
    ("get", "/api/config/routers", Read),
    ("get", "/api/config/budgets", Read),
    ("put", "/api/config/budgets", Admin),
    ("get", "/api/info", Read),
    ("get", "/api/hosts", Read),
    ("get", "/api/tools", Read),
    ("get", "/api/plugins", Admin),
    ("post", "/api/plugins", Admin),
    ("get", "/api/plugins/{name}", Admin),
    ("delete", "/api/plugins/{name}", Admin),
    ("put", "/api/plugins/{name}/grants", Admin),
    ("post", "/api/plugins/{name}/enable", Admin),
    ("post", "/api/plugins/{name}/disable", Admin),
    ("get", "/api/plugins/{name}/update", Admin),
    ("post", "/api/plugins/{name}/update", Admin),
    ("delete", "/api/plugins/{name}/update", Admin),
    ("post", "/api/plugins/{name}/update/accept", Admin),
    ("post", "/api/oci/install", Admin),
    ("get", "/api/oci/settings", Admin),
    ("get", "/api/oci/updates", Admin),
    ("get", "/api/mcp/servers", Read),
    ("post", "/api/mcp/servers", Admin),
    ("get", "/api/mcp/servers/{name}", Read),
    ("delete", "/api/mcp/servers/{name}", Admin),
    ("post", "/api/mcp/servers/{name}/test", Write),
    ("get", "/api/mcp/catalog", Read),
    ("get", "/api/metrics/mcp-health", Read),
    ("get", "/api/metrics/agents", Read),
    ("get", "/api/metrics/agents/{id}", Read),
    ("get", "/api/metrics/usage", Read),
    ("get", "/api/metrics/cost-analysis", Read),
    ("get", "/api/me/keys", Read),
    ("put", "/api/me/keys/{provider}", Account),
    ("delete", "/api/me/keys/{provider}", Account),
    ("get", "/api/workspaces", Read),
    ("post", "/api/workspaces", Write),
    ("get", "/api/workspaces/{id}", Read),
    ("delete", "/api/workspaces/{id}", Write),
    ("get", "/api/workspaces/{id}/files", Read),
    ("get", "/api/workspaces/{id}/diff", Read),
    ("post", "/api/workspaces/{id}/commit", Write),
    ("post", "/api/workspaces/{id}/merge", Write),
    ("post", "/api/workspaces/{id}/backup", Write),
    ("get", "/api/workspaces/{id}/backups", Read),
    ("get", "/api/backups", Read),
    ("delete", "/api/backups/{id}", Write),
    ("post", "/api/backups/{id}/restore", Write),
    ("get", "/api/workflows", Read),
    ("post", "/api/workflows", Write),
    ("post", "/api/workflows/check", Read),
    ("get", "/api/workflows/{name}", Read),
    ("put", "/api/workflows/{name}", Write),
    ("delete", "/api/workflows/{name}", Write),
    ("get", "/api/workflow-runs", Read),
    ("post", "/api/workflow-runs", Write),
    ("get", "/api/workflow-runs/{id}", Read),
    ("post", "/api/workflow-runs/{id}/cancel", Write),
    ("post", "/api/workflow-runs/{id}/gates/{step}", Write),
    ("get", "/api/workflow-runs/{id}/events", Read),
    ("get", "/api/evals", Read),
    ("get", "/api/evals/{id}", Read),
    ("get", "/api/evals/{id}/compare/{other}", Read),
    ("get", "/api/evals/{id}/predictions", Read),
    ("get", "/metrics", AdminRead),
    ("get", "/api/ws", Read),
    ("get", "/api/openapi.json", Read),
    ("delete", "/api/session", Account),
    ("get", "/api/me", Read),
    ("put", "/api/me/password", Account),
    ("get", "/api/me/tokens", Read),
    ("post", "/api/me/tokens", Account),
    ("delete", "/api/me/tokens/{id}", Account),
    ("get", "/api/users", Admin),
    ("post", "/api/users", Admin),
    ("get", "/api/users/{id}", Admin),
    ("patch", "/api/users/{id}", Admin),
    ("delete", "/api/users/{id}", Admin),
    ("post", "/api/users/{id}/tokens", Admin),
    ("get", "/api/groups", Admin),
    ("post", "/api/groups", Admin),
    ("get", "/api/groups/{id}", Admin),
    ("put", "/api/groups/{id}", Admin),
    ("delete", "/api/groups/{id}", Admin),
];

/// The routes that need no credentials: signing in (with a token or a
/// password, or with single sign-on: the list of methods, the provider's
/// round trip). They live in the `sign_in` router, outside `authorize`,
/// and carry no `x-paddock-access` in the OpenAPI document.
pub const PUBLIC_ROUTES: &[(&str, &str)] = &[
    ("post", "/api/session"),
    ("get", "/api/auth/methods"),
    ("get", "/auth/oidc/{name}/login"),
    ("get", "/auth/oidc/{name}/callback"),
    ("get", "/healthz"),
    ("get", "/readyz"),
];

/// The access a route needs: `method` as the request has it (HEAD is
/// GET's), `path` as routed (`/api/agents/{id}`). None for a route that
/// is not in the table: the middleware refuses it (fail closed).
pub fn access_of(method: &Method, path: &str) -> Option<Access> {
    let method = if *method == Method::HEAD {
        "get".to_string()
    } else {
        method.as_str().to_ascii_lowercase()
    };
    ROUTES
        .iter()
        .find(|(m, p, _)| *m == method && *p == path)
        .map(|(_, _, a)| *a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_follow_role_and_scope() {
        use Role::*;
        use Scope::{Admin as S_ADMIN, Read as S_READ, Write as S_WRITE};
        assert!(Read.allows(Viewer, S_READ));
        assert!(!Write.allows(Viewer, S_ADMIN), "a viewer changes nothing");
        assert!(
            !Write.allows(Member, S_READ),
            "a read token changes nothing"
        );
        assert!(Write.allows(Member, S_WRITE));
        assert!(Account.allows(Viewer, S_WRITE));
        assert!(!Account.allows(Admin, S_READ));
        assert!(!AdminRead.allows(Member, S_ADMIN));
        assert!(AdminRead.allows(Admin, S_READ));
        assert!(
            !Access::Admin.allows(Admin, S_WRITE),
            "the user token is no admin"
        );
        assert!(Access::Admin.allows(Admin, S_ADMIN));
        assert!(!Access::Admin.allows(Member, S_ADMIN));
    }

    #[test]
    fn the_table_has_each_route_once() {
        let mut seen = std::collections::BTreeSet::new();
        for (m, p, _) in ROUTES {
            assert!(seen.insert((m, p)), "{m} {p} is listed twice");
        }
        assert_eq!(access_of(&Method::HEAD, "/api/agents"), Some(Read));
        assert_eq!(access_of(&Method::GET, "/api/nope"), None);
    }

    /// Every operation of the OpenAPI document has an access level, and
    /// every level belongs to a documented operation (or to the WebSocket
    /// and sign-out, documented apart).
    #[test]
    fn every_documented_operation_has_its_level() {
        let doc: serde_json::Value = serde_json::from_str(&crate::openapi_json()).unwrap();
        let mut documented = std::collections::BTreeSet::new();
        let mut public = std::collections::BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let m = Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap();
                let want = access_of(&m, path);
                if PUBLIC_ROUTES.contains(&(method.as_str(), path.as_str())) {
                    assert_eq!(want, None, "{method} {path} needs no credentials");
                    assert!(op.get("x-paddock-access").is_none(), "{method} {path}");
                    public.insert((method.clone(), path.clone()));
                    continue;
                }
                let want = want.unwrap_or_else(|| panic!("{method} {path} has no access level"));
                assert_eq!(op["x-paddock-access"], want.as_str(), "{method} {path}");
                documented.insert((method.clone(), path.clone()));
            }
        }
        // Every public route is documented, and is nothing else.
        for (m, p) in PUBLIC_ROUTES {
            assert!(
                public.contains(&(m.to_string(), p.to_string())),
                "{m} {p} is public but not documented"
            );
        }
        for (m, p, _) in ROUTES {
            if *p == "/api/ws" {
                continue;
            }
            assert!(
                documented.contains(&(m.to_string(), p.to_string())),
                "{m} {p} is in the access table but not documented"
            );
        }
    }
}
