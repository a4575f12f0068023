//! The isolation matrix, end to end against the real `paddock serve` with
//! agents on the scripted model, generated from the OpenAPI document so
//! that a new route cannot be forgotten: every operation carries its
//! access level (`x-paddock-access`), and every path parameter is looked up
//! in a table of what it names ([`param_kind`]: an unknown one fails the
//! test until it is classified).
//!
//! Users, made with `paddock user add NAME --role R --token`: A and B
//! (members), V (a viewer, with one of A's agents shared with them) and M
//! (an admin). For every operation:
//! - a caller whose role or token scope the access level refuses gets 403,
//!   whatever the path names (viewers change nothing; members call no
//!   admin route);
//! - B gets 404 (never 403, never 200) on every object of A's that a path
//!   names (agent, approval, workspace, backup, token), and nothing of A's
//!   changed afterwards;
//! - V gets 404 on A's agent that is not shared with them, and reads the
//!   shared one; A and M read A's objects;
//! - no list (an operation without path parameters) shows B any id of A's.
//!
//! Every WebSocket operation (from the document's `WsClientMessage`)
//! refuses B on A's agent with the same `not_found` error as an agent that
//! does not exist. Creating an agent on a workspace B may not use fails
//! naming the field. The audit log names who decided, retried, shared and
//! changed rules, and `GET /api/audit` shows members only their part.

use crate::common;

use common::scripted::{DEADLINE, Setup, setup, summary};
use common::{Paddock, describe, stdout};
use futures::{SinkExt, StreamExt};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio_tungstenite::tungstenite;

const SCRIPT: &str = r#"
scenarios:
  - match: "^approve"
    turns:
      - tool_calls: [{name: write_file, arguments: {path: .env, content: "TOKEN=1\n"}}]
      - text: "done"
turns:
  - text: "Hello, I am done."
"#;

/// What a path parameter names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// An agent (`/api/agents/{id}`, `/api/metrics/agents/{id}`).
    Agent,
    /// One of an agent's tool calls (its approval).
    Call,
    /// A workspace, by id or name.
    Workspace,
    /// A backup.
    Backup,
    /// A personal access token of the caller's own.
    Token,
    /// A workflow run.
    Run,
    /// An evaluation run: made by `paddock eval run` on the host (owned by
    /// the local admin), never through the API, so a member has none to
    /// name here; B naming one gets 404 (tests/dashboard_evals.rs checks
    /// a member sees none of the runs and an admin sees them all).
    EvalRun,
    /// Something of the whole host that no member owns (templates,
    /// prompts, providers, environments, plugins, MCP servers, rules,
    /// users, groups), or a key of the caller's own addressed by
    /// provider: nobody else's object can be named.
    Shared,
}

/// What `{name}` in `path` names. Panics on a parameter nobody classified:
/// a new route must say whether it names someone's object.
fn param_kind(path: &str, name: &str) -> Kind {
    match (name, path) {
        ("id", p) if p.starts_with("/api/agents/{id}") => Kind::Agent,
        ("call_id", p) if p.starts_with("/api/agents/{id}/approvals/") => Kind::Call,
        ("id", "/api/metrics/agents/{id}") => Kind::Agent,
        ("id", p) if p.starts_with("/api/workspaces/{id}") => Kind::Workspace,
        ("id", p) if p.starts_with("/api/backups/{id}") => Kind::Backup,
        ("id", "/api/me/tokens/{id}") => Kind::Token,
        ("id", p) if p.starts_with("/api/workflow-runs/{id}") => Kind::Run,
        ("id" | "other", p) if p.starts_with("/api/evals/{id}") => Kind::EvalRun,
        // A step of the run the path names (the run is what is owned).
        ("step", p) if p.starts_with("/api/workflow-runs/{id}/gates/") => Kind::Shared,
        ("name", p) if p.starts_with("/api/workflows/") => Kind::Shared,
        ("provider", p) if p.starts_with("/api/me/keys/") => Kind::Shared,
        ("name", p)
            if p.starts_with("/api/config/")
                || p.starts_with("/api/plugins/")
                || p.starts_with("/api/mcp/servers/") =>
        {
            Kind::Shared
        }
        ("id", "/api/policy/rules/{id}") => Kind::Shared,
        ("id", p) if p.starts_with("/api/users/{id}") || p.starts_with("/api/groups/{id}") => {
            Kind::Shared
        }
        _ => panic!(
            "{path}: path parameter `{name}` is not classified; say what it names in \
             tests/isolation.rs `param_kind` (and make its handler answer 404 for what the \
             caller may not see)"
        ),
    }
}

/// Request bodies of the operations B is sent to with A's objects (so that
/// the refusal is about the object, not a bad body). A documented operation
/// with a required body and an owned path parameter needs one here.
fn body_for(method: &str, path: &str) -> Option<Value> {
    match (method, path) {
        ("post", "/api/agents/{id}/messages") => Some(json!({"text": "let me in"})),
        ("post", "/api/agents/{id}/approvals/{call_id}") => Some(json!({"approved": true})),
        ("put", "/api/agents/{id}/shares") => Some(json!({"users": ["bob"], "groups": []})),
        ("post", "/api/workspaces/{id}/commit") => Some(json!({"message": "mine now"})),
        ("post", "/api/workspaces/{id}/merge") => Some(json!({})),
        ("post", "/api/backups/{id}/restore") => Some(json!({"name": "stolen"})),
        ("post", "/api/workflow-runs/{id}/gates/{step}") => Some(json!({"approved": true})),
        _ => None,
    }
}

/// The access levels of the document, as `access::Access::allows` says.
fn allows(access: &str, role: &str, scope: &str) -> bool {
    let rank = |s: &str| match s {
        "viewer" | "read" => 0,
        "member" | "write" => 1,
        "admin" => 2,
        other => panic!("unknown role or scope `{other}`"),
    };
    match access {
        "read" => true,
        "write" => rank(role) >= 1 && rank(scope) >= 1,
        "account" => rank(scope) >= 1,
        "admin_read" => role == "admin",
        "admin" => role == "admin" && scope == "admin",
        other => panic!("unknown access level `{other}`"),
    }
}

/// A user of the test, with their personal access token.
#[derive(Clone)]
struct User {
    name: &'static str,
    role: &'static str,
    scope: &'static str,
    token: String,
    http: reqwest::Client,
}

/// `paddock user add NAME --role ROLE --token [--scope SCOPE]` against the
/// server's data dir: the token is stdout's last line.
fn add_user(p: &Paddock, name: &'static str, role: &'static str, scope: &'static str) -> User {
    let out = p.cmd([
        "user", "add", name, "--role", role, "--token", "--scope", scope,
    ]);
    assert!(out.status.success(), "user add {name}: {}", describe(&out));
    let token = stdout(&out)
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_else(|| panic!("no token printed: {}", describe(&out)))
        .trim()
        .to_string();
    assert!(token.starts_with("pdk_"), "{token}");
    User {
        name,
        role,
        scope,
        http: common::client_with(&token),
        token,
    }
}

async fn send(
    u: &User,
    s: &Setup,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value, String) {
    let mut req = u.http.request(method, s.server.url(path));
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = tokio::time::timeout(DEADLINE, req.send())
        .await
        .expect("an answer within the deadline")
        .unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::Null),
        text,
    )
}

async fn get(u: &User, s: &Setup, path: &str) -> Value {
    let (st, v, text) = send(u, s, Method::GET, path, None).await;
    assert_eq!(st, 200, "{} GET {path}: {text}", u.name);
    v
}

/// A's objects, by kind.
struct Objects {
    /// A's agent shared with V (idle).
    shared: String,
    /// A's agent waiting for an approval (not shared).
    agent: String,
    /// Its pending call.
    call: String,
    workspace: String,
    workspace_path: String,
    backup: String,
    token: Option<String>,
    /// A's workflow run, waiting at its gate.
    run: String,
}

impl Objects {
    /// The value of a path parameter of `kind` naming A's object (the
    /// unshared agent).
    fn of(&self, kind: Kind) -> Option<String> {
        match kind {
            Kind::Agent => Some(self.agent.clone()),
            Kind::Call => Some(self.call.clone()),
            Kind::Workspace => Some(self.workspace.clone()),
            Kind::Backup => Some(self.backup.clone()),
            Kind::Token => self.token.clone(),
            Kind::Run => Some(self.run.clone()),
            Kind::Shared | Kind::EvalRun => None,
        }
    }

    /// Every id of A's that no list may show B.
    fn ids(&self) -> Vec<&str> {
        let mut ids = vec![
            self.shared.as_str(),
            self.agent.as_str(),
            self.workspace.as_str(),
            self.backup.as_str(),
            self.run.as_str(),
        ];
        ids.extend(self.token.as_deref());
        ids
    }
}

/// An operation of the document.
struct Op {
    method: String,
    path: String,
    access: String,
    params: Vec<(String, Kind)>,
    operation_id: String,
}

fn operations(doc: &Value) -> Vec<Op> {
    let re = regex::Regex::new(r"\{([^}]+)\}").unwrap();
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if !["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                continue;
            }
            let access = match op.get("x-paddock-access").and_then(Value::as_str) {
                Some(a) => a.to_string(),
                // Public: signing in, the sign-in methods, single sign-on,
                // an orchestrator's probes.
                None => {
                    assert!(
                        public(method, path),
                        "{method} {path} has no x-paddock-access and is not a public route"
                    );
                    continue;
                }
            };
            let params = re
                .captures_iter(path)
                .map(|c| {
                    let name = c[1].to_string();
                    let kind = param_kind(path, &name);
                    (name, kind)
                })
                .collect();
            ops.push(Op {
                method: method.clone(),
                path: path.clone(),
                access,
                params,
                operation_id: op["operationId"].as_str().unwrap_or_default().to_string(),
            });
        }
    }
    ops
}

/// The routes that need no credentials.
fn public(method: &str, path: &str) -> bool {
    matches!(
        (method, path),
        ("post", "/api/session")
            | ("get", "/api/auth/methods")
            | ("get", "/healthz")
            | ("get", "/readyz")
    ) || path.starts_with("/auth/oidc/")
}

/// The path with each parameter replaced by A's object of its kind (or
/// `x` for shared things), and whether any of them is owned.
fn concrete(op: &Op, objects: &Objects, agent: &str) -> (String, bool) {
    let mut path = op.path.clone();
    let mut owned = false;
    for (name, kind) in &op.params {
        let value = match kind {
            Kind::Agent => Some(agent.to_string()),
            k => objects.of(*k),
        };
        let value = match value {
            Some(v) => {
                owned = true;
                v
            }
            None if matches!(kind, Kind::Shared | Kind::EvalRun) => "x".to_string(),
            None => panic!("{} {}: no object of A's for `{name}`", op.method, op.path),
        };
        path = path.replace(&format!("{{{name}}}"), &value);
    }
    (path, owned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_isolation_matrix_holds_on_every_route_and_websocket_op() {
    let s = setup(SCRIPT, "", &[]).await;
    let a = add_user(&s.paddock, "alice", "member", "write");
    let b = add_user(&s.paddock, "bob", "member", "write");
    let v = add_user(&s.paddock, "vera", "viewer", "read");
    let m = add_user(&s.paddock, "mary", "admin", "admin");

    // --- A's objects -----------------------------------------------------
    // A directory of A's, used in place (under the allowed roots, so that
    // B naming a directory inside it is refused for being A's).
    let alice_dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(alice_dir.path().join("src")).unwrap();
    let (st, ws, text) = send(
        &a,
        &s,
        Method::POST,
        "/api/workspaces",
        Some(json!({"name": "alice-ws", "path": alice_dir.path()})),
    )
    .await;
    assert_eq!(st, 201, "{text}");
    assert_eq!(ws["owner"]["name"], "alice", "{ws}");
    let workspace = ws["id"].as_str().unwrap().to_string();
    let workspace_path = ws["path"].as_str().unwrap().to_string();
    let (st, backup, text) = send(
        &a,
        &s,
        Method::POST,
        &format!("/api/workspaces/{workspace}/backup"),
        None,
    )
    .await;
    assert_eq!(st, 201, "{text}");
    let backup = backup["id"].as_str().unwrap().to_string();
    let (st, agent, text) = send(
        &a,
        &s,
        Method::POST,
        "/api/agents",
        Some(json!({"name": "a-private", "workspace_id": workspace, "task": "approve the write"})),
    )
    .await;
    assert_eq!(st, 201, "{text}");
    assert_eq!(agent["owner"]["name"], "alice", "{agent}");
    let alice_id = agent["owner"]["id"].as_str().unwrap().to_string();
    let agent = agent["id"].as_str().unwrap().to_string();
    let (st, shared, text) = send(
        &a,
        &s,
        Method::POST,
        "/api/agents",
        Some(json!({"name": "a-shared", "workspace": s.workspace.path(), "task": "hello"})),
    )
    .await;
    assert_eq!(st, 201, "{text}");
    let shared = shared["id"].as_str().unwrap().to_string();
    let (st, shares, text) = send(
        &a,
        &s,
        Method::PUT,
        &format!("/api/agents/{shared}/shares"),
        Some(json!({"users": ["vera"], "groups": []})),
    )
    .await;
    assert_eq!(st, 200, "{text}");
    assert_eq!(shares[0]["kind"], "user", "{shares}");
    assert_eq!(shares[0]["name"], "vera", "{shares}");
    let call = pending_call(&a, &s, &agent).await;
    let token = token_of(&a, &s).await;
    // A's workflow run, waiting at its gate (no agent, no workspace).
    let (st, _, text) = send(
        &a,
        &s,
        Method::POST,
        "/api/workflows",
        Some(
            json!({"name": "alice-flow", "steps": [{"id": "approve", "gate": {"message": "ok?"}}]}),
        ),
    )
    .await;
    assert_eq!(st, 201, "{text}");
    let (st, run, text) = send(
        &a,
        &s,
        Method::POST,
        "/api/workflow-runs",
        Some(json!({"workflow": "alice-flow"})),
    )
    .await;
    assert_eq!(st, 201, "{text}");
    let run = run["id"].as_str().unwrap().to_string();
    let objects = Objects {
        run: run.clone(),
        shared: shared.clone(),
        agent: agent.clone(),
        call: call.clone(),
        workspace: workspace.clone(),
        workspace_path,
        backup: backup.clone(),
        token,
    };
    // A's token is no object of A's to the matrix unless the document has
    // the route that names it.
    let doc = get(&a, &s, "/api/openapi.json").await;
    let ops = operations(&doc);
    assert!(
        objects.token.is_some() || doc["paths"].get("/api/me/tokens/{id}").is_none(),
        "A's token is found when a route names tokens"
    );
    assert!(ops.len() > 60, "{} operations", ops.len());

    // --- Refused by role and scope: 403 whatever the path names -----------
    let mut checked = 0;
    for u in [&a, &b, &v, &m] {
        for op in &ops {
            if allows(&op.access, u.role, u.scope) {
                continue;
            }
            let (path, _) = concrete(op, &objects, &agent);
            let method = Method::from_bytes(op.method.to_uppercase().as_bytes()).unwrap();
            let (st, body, text) = send(u, &s, method, &path, body_for(&op.method, &op.path)).await;
            assert_eq!(
                st, 403,
                "{} ({} {}) {} {path} ({}, access {}): {text}",
                u.name, u.role, u.scope, op.method, op.operation_id, op.access
            );
            assert_eq!(body["error"]["code"], "forbidden", "{text}");
            checked += 1;
        }
    }
    assert!(checked > 40, "{checked} refusals checked");

    // --- B on A's objects: 404, never 403, never 200 ----------------------
    let mut owned_ops = 0;
    for op in &ops {
        if !allows(&op.access, b.role, b.scope) {
            continue;
        }
        let (path, owned) = concrete(op, &objects, &agent);
        if !owned {
            continue;
        }
        owned_ops += 1;
        let method = Method::from_bytes(op.method.to_uppercase().as_bytes()).unwrap();
        let body = body_for(&op.method, &op.path);
        if body.is_none() {
            assert!(
                !required_body(&doc, op),
                "{} {}: add a request body to `body_for` in tests/isolation.rs",
                op.method,
                op.path
            );
        }
        let (st, v404, text) = send(&b, &s, method, &path, body).await;
        assert_eq!(
            st, 404,
            "bob {} {path} ({}): {text}",
            op.method, op.operation_id
        );
        assert_eq!(v404["error"]["code"], "not_found", "{text}");
        for id in objects.ids() {
            // The refusal names what was asked for, nothing more.
            if !path.contains(id) {
                assert!(
                    !text.contains(id),
                    "bob {} {path} leaks `{id}`: {text}",
                    op.method
                );
            }
        }
    }
    assert!(owned_ops >= 20, "{owned_ops} operations naming objects");

    // Nothing of A's changed: the agent waits for the same approval, the
    // workspace and the backup are there, the share is V's alone.
    assert_eq!(pending_call(&a, &s, &agent).await, call);
    get(&a, &s, &format!("/api/workspaces/{workspace}")).await;
    let backups = get(&a, &s, &format!("/api/workspaces/{workspace}/backups")).await;
    assert_eq!(backups.as_array().unwrap().len(), 1, "{backups}");
    let shares = get(&a, &s, &format!("/api/agents/{shared}/shares")).await;
    assert_eq!(shares.as_array().unwrap().len(), 1, "{shares}");
    let run_view = get(&a, &s, &format!("/api/workflow-runs/{run}")).await;
    assert_eq!(run_view["status"], "waiting_gate", "{run_view}");

    // --- V: the shared agent reads, the other is not there -----------------
    for op in &ops {
        if op.method != "get" || !op.params.iter().any(|(_, k)| *k == Kind::Agent) {
            continue;
        }
        if op.params.iter().any(|(_, k)| *k == Kind::Call) {
            continue;
        }
        let (shared_path, _) = concrete(op, &objects, &shared);
        let (st, _, text) = send(&v, &s, Method::GET, &shared_path, None).await;
        assert_eq!(st, 200, "vera GET {shared_path}: {text}");
        let (private_path, _) = concrete(op, &objects, &agent);
        let (st, _, text) = send(&v, &s, Method::GET, &private_path, None).await;
        assert_eq!(st, 404, "vera GET {private_path}: {text}");
        // A and M read both.
        for u in [&a, &m] {
            let (st, _, text) = send(u, &s, Method::GET, &private_path, None).await;
            assert_eq!(st, 200, "{} GET {private_path}: {text}", u.name);
        }
    }
    let listed = get(&v, &s, "/api/agents").await;
    let ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["id"].as_str())
        .collect();
    assert_eq!(ids, vec![shared.as_str()], "vera's list: {listed}");
    let view = get(&v, &s, &format!("/api/agents/{shared}")).await;
    assert_eq!(view["owner"]["id"], alice_id.as_str(), "{view}");
    assert_eq!(view["shared_with"][0]["name"], "vera", "{view}");

    // --- A and M read every object of A's ---------------------------------
    for op in &ops {
        if op.method != "get" {
            continue;
        }
        let (path, owned) = concrete(op, &objects, &agent);
        if !owned {
            continue;
        }
        for u in [&a, &m] {
            let (st, _, text) = send(u, &s, Method::GET, &path, None).await;
            assert_eq!(st, 200, "{} GET {path}: {text}", u.name);
        }
    }

    // --- Lists never show B anything of A's --------------------------------
    let mut leaks = Vec::new();
    for op in &ops {
        if op.method != "get" || !op.params.is_empty() || !allows(&op.access, b.role, b.scope) {
            continue;
        }
        for query in ["", "?agent=AGENT", "?user=ALICE"] {
            let query = query.replace("AGENT", &agent).replace("ALICE", &alice_id);
            let (st, _, text) =
                send(&b, &s, Method::GET, &format!("{}{query}", op.path), None).await;
            if st != 200 {
                // Not every list takes these filters; one that takes an
                // agent says it does not know A's (as its direct route).
                assert!(
                    (st == 400 && !query.is_empty())
                        || (st == 404
                            && query.starts_with("?agent=")
                            && text.contains("not_found")),
                    "bob GET {}{query}: {st} {text}",
                    op.path
                );
                continue;
            }
            for id in objects.ids() {
                if text.contains(id) {
                    leaks.push(format!("GET {}{query} shows bob `{id}`", op.path));
                }
            }
        }
    }
    assert!(leaks.is_empty(), "lists show bob A's objects: {leaks:#?}");
    // ...but they show A and M A's objects.
    let agents_of_a = get(&a, &s, "/api/agents").await.to_string();
    assert!(agents_of_a.contains(&agent) && agents_of_a.contains(&shared));
    let agents_of_m = get(&m, &s, "/api/agents").await.to_string();
    assert!(agents_of_m.contains(&agent) && agents_of_m.contains(&shared));
    let approvals = get(&a, &s, "/api/approvals").await;
    assert_eq!(
        approvals["approvals"][0]["owner"]["name"], "alice",
        "{approvals}"
    );
    assert!(
        get(&a, &s, "/api/workspaces")
            .await
            .to_string()
            .contains(&workspace)
    );
    assert!(
        get(&m, &s, "/api/backups")
            .await
            .to_string()
            .contains(&backup)
    );

    // --- Creating an agent on what B may not use ---------------------------
    for (body, field) in [
        (json!({"workspace_id": workspace}), "workspace_id"),
        (json!({"workspace_id": "alice-ws"}), "workspace_id"),
        (json!({"workspace": objects.workspace_path}), "workspace"),
        (
            json!({"workspace": format!("{}/src", objects.workspace_path)}),
            "workspace",
        ),
    ] {
        let (st, e, text) = send(&b, &s, Method::POST, "/api/agents", Some(body.clone())).await;
        assert!(st == 400 || st == 404, "bob creates on {body}: {text}");
        let message = e["error"]["message"].as_str().unwrap_or_default();
        assert!(message.starts_with(&format!("{field}:")), "{body}: {text}");
    }
    let (st, _, text) = send(
        &a,
        &s,
        Method::POST,
        "/api/config/agent-templates",
        Some(json!({"name": "alice-tpl", "workspace_id": workspace})),
    )
    .await;
    assert_eq!(st, 201, "{text}");
    let (st, e, text) = send(
        &b,
        &s,
        Method::POST,
        "/api/agents",
        Some(json!({"template": "alice-tpl"})),
    )
    .await;
    assert!(st == 400 || st == 404, "{text}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .starts_with("template:"),
        "{text}"
    );
    let none = get(&b, &s, "/api/agents").await;
    assert_eq!(none, json!([]), "nothing was made for bob");

    // --- The WebSocket ------------------------------------------------------
    ws_matrix(&s, &doc, &b, &v, &objects).await;

    // --- The audit log names people -----------------------------------------
    let (st, decided, text) = send(
        &a,
        &s,
        Method::POST,
        &format!("/api/agents/{agent}/approvals/{call}"),
        Some(json!({"approved": true})),
    )
    .await;
    assert_eq!(st, 200, "{text}");
    assert_eq!(decided["decided_by"], "alice (REST)", "{decided}");
    let entry = wait_audit(&a, &s, &agent, "approval").await;
    assert_eq!(entry["user_id"], alice_id.as_str(), "{entry}");
    assert!(
        entry["token_id"].as_str().is_some_and(|t| !t.is_empty()),
        "{entry}"
    );
    let (st, rule, text) = send(
        &m,
        &s,
        Method::POST,
        "/api/policy/rules",
        Some(json!({"rule": "deny execute_bash(rm -rf /srv/isolation)"})),
    )
    .await;
    assert_eq!(st, 201, "{text}");
    let audit_m = get(&m, &s, "/api/audit?limit=5000").await;
    let rule_entry = audit_m["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "rule" && e["detail"]["id"] == rule["id"])
        .unwrap_or_else(|| panic!("no audit entry for the rule: {audit_m}"))
        .clone();
    assert_eq!(rule_entry["actor"], "mary (REST)", "{rule_entry}");
    let mary_id = rule_entry["user_id"].as_str().unwrap().to_string();
    assert_ne!(mary_id, alice_id);
    // Host-wide changes name who made them too.
    let env = json!({"name": "iso-env", "env": {"GREETING": "plain"}});
    let (st, _, text) = send(&m, &s, Method::POST, "/api/config/environments", Some(env)).await;
    assert_eq!(st, 201, "{text}");
    let (st, _, text) = send(
        &m,
        &s,
        Method::DELETE,
        "/api/config/environments/iso-env",
        None,
    )
    .await;
    assert_eq!(st, 204, "{text}");
    let audit_m = get(&m, &s, "/api/audit?limit=5000").await;
    let env_acts: Vec<(&str, &str, &str)> = audit_m["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "environment")
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["actor"].as_str().unwrap(),
                e["user_id"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        env_acts,
        vec![
            ("added", "mary (REST)", mary_id.as_str()),
            ("removed", "mary (REST)", mary_id.as_str())
        ],
        "{audit_m}"
    );
    let shared_entry = audit_m["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "shares" && e["agent_id"] == shared.as_str())
        .unwrap_or_else(|| panic!("no audit entry for the share: {audit_m}"))
        .clone();
    assert_eq!(shared_entry["user_id"], alice_id.as_str(), "{shared_entry}");
    assert_eq!(
        shared_entry["detail"]["shared_with"][0]["name"], "vera",
        "{shared_entry}"
    );
    // Members see their part: A sees their agent's entries, B nothing of
    // A's (neither by agent nor by user), M everything.
    let of_alice = format!("/api/audit?user={alice_id}");
    assert!(
        !get(&a, &s, &of_alice).await["entries"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert!(
        !get(&m, &s, &of_alice).await["entries"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(get(&b, &s, &of_alice).await["entries"], json!([]));
    assert_eq!(get(&b, &s, "/api/audit").await["entries"], json!([]));
    let mine = get(&a, &s, "/api/audit").await;
    assert!(
        mine["entries"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["agent_id"] == agent.as_str()
                || e["agent_id"] == shared.as_str()
                || e["user_id"] == alice_id.as_str()),
        "{mine}"
    );
    assert!(
        !mine.to_string().contains("rm -rf"),
        "a member does not see the admin's global rule: {mine}"
    );
}

/// Whether the operation's request body is required.
fn required_body(doc: &Value, op: &Op) -> bool {
    doc["paths"][&op.path][&op.method]["requestBody"]["required"] == true
}

/// The call id of the agent's pending approval, as `u` sees it (waits).
async fn pending_call(u: &User, s: &Setup, agent: &str) -> String {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let list = get(u, s, &format!("/api/approvals?agent={agent}")).await;
        if let Some(first) = list["approvals"].as_array().and_then(|a| a.first()) {
            return first["call_id"].as_str().unwrap().to_string();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no approval pending for {agent}: {}",
            summary(&s.events(agent).await)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The id of `u`'s token, when the API lists a caller's tokens.
async fn token_of(u: &User, s: &Setup) -> Option<String> {
    let (st, list, _) = send(u, s, Method::GET, "/api/me/tokens", None).await;
    if st != 200 {
        return None;
    }
    list.as_array()?
        .iter()
        .find(|t| t["prefix"].as_str().is_some_and(|p| u.token.starts_with(p)))
        .and_then(|t| t["id"].as_str())
        .map(str::to_string)
}

/// The agent's latest audit entry of `kind`, as `u` sees it (waits).
async fn wait_audit(u: &User, s: &Setup, agent: &str, kind: &str) -> Value {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let log = get(u, s, &format!("/api/audit?agent={agent}&limit=5000")).await;
        if let Some(e) = log["entries"]
            .as_array()
            .unwrap()
            .iter()
            .rev()
            .find(|e| e["kind"] == kind)
        {
            return e.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no {kind} entry: {log}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn ws_open(s: &Setup, u: &User) -> Ws {
    let url = format!("{}?token={}", s.server.ws_url_plain(), u.token);
    tokio_tungstenite::connect_async(url)
        .await
        .unwrap_or_else(|e| panic!("{}'s WebSocket: {e}", u.name))
        .0
}

/// The reply to `msg` (the next message that is not an event or metrics).
async fn ws_ask(ws: &mut Ws, msg: &Value) -> Value {
    ws.send(tungstenite::Message::Text(msg.to_string().into()))
        .await
        .unwrap();
    let end = tokio::time::Instant::now() + DEADLINE;
    loop {
        let next = tokio::time::timeout_at(end, ws.next())
            .await
            .expect("a WebSocket reply within the deadline")
            .expect("the WebSocket is open")
            .expect("a WebSocket message");
        if let tungstenite::Message::Text(t) = next {
            let v: Value = serde_json::from_str(t.as_str()).unwrap();
            if v["op"] != "event" && v["op"] != "metrics.update" {
                return v;
            }
        }
    }
}

/// One message of each WebSocket operation the document lists, about
/// `agent`. Panics on an operation nobody wrote a message for.
fn ws_message(op: &str, agent: &str) -> Option<Value> {
    let m = match op {
        "subscribe" => json!({"op": op, "agent_id": agent, "after": 0}),
        "message" => json!({"op": op, "agent_id": agent, "text": "let me in"}),
        "interrupt" | "retry" => json!({"op": op, "agent_id": agent}),
        "approve" => json!({"op": op, "agent_id": agent, "call_id": "c", "approved": true}),
        "watch_metrics" => json!({"op": op, "agent_id": agent, "interval_ms": 250}),
        // `agent` is a workflow run's id here (see `ws_matrix`).
        "subscribe_workflow_run" => json!({"op": op, "run_id": agent, "after": 0}),
        // Names no agent or run of anyone's: nothing to refuse.
        "unsubscribe" | "unsubscribe_workflow_run" => return None,
        other => panic!(
            "WebSocket op `{other}` has no message in tests/isolation.rs `ws_message`; \
             add one (and make it answer not_found for agents the caller may not see)"
        ),
    };
    Some(m)
}

/// The WebSocket operations the document lists (`WsClientMessage`).
fn ws_ops(doc: &Value) -> Vec<String> {
    let schema = &doc["components"]["schemas"]["WsClientMessage"];
    let variants = schema["oneOf"]
        .as_array()
        .unwrap_or_else(|| panic!("WsClientMessage: {schema}"));
    variants
        .iter()
        .map(|v| {
            let op = &v["properties"]["op"];
            op["enum"][0]
                .as_str()
                .or_else(|| op["const"].as_str())
                .unwrap_or_else(|| panic!("an op without its name: {v}"))
                .to_string()
        })
        .collect()
}

async fn ws_matrix(s: &Setup, doc: &Value, b: &User, v: &User, objects: &Objects) {
    let ops = ws_ops(doc);
    assert!(ops.len() >= 7, "{ops:?}");
    let mut bob = ws_open(s, b).await;
    let mut vera = ws_open(s, v).await;
    let mut refused = BTreeMap::new();
    for op in &ops {
        // A workflow run's op names A's run; there is no shared run.
        let runs = op.ends_with("_workflow_run");
        let target = if runs { &objects.run } else { &objects.agent };
        let Some(on_a) = ws_message(op, target) else {
            continue;
        };
        let Some(on_nothing) = ws_message(op, "ag-does-not-exist") else {
            continue;
        };
        let got = ws_ask(&mut bob, &on_a).await;
        let unknown = ws_ask(&mut bob, &on_nothing).await;
        assert_eq!(got["op"], "error", "bob {op} on A's agent: {got}");
        assert_eq!(got["code"], "not_found", "bob {op}: {got}");
        assert_eq!(
            unknown["code"], "not_found",
            "bob {op} on nothing: {unknown}"
        );
        assert_eq!(
            got["message"].as_str().unwrap().replace(target, "X"),
            unknown["message"]
                .as_str()
                .unwrap()
                .replace("ag-does-not-exist", "X"),
            "bob {op}: A's agent is refused as one that does not exist"
        );
        // V: the agent not shared with them is not there either; the shared
        // one reads, and nothing changes it.
        let got = ws_ask(&mut vera, &on_a).await;
        assert_eq!(
            got["code"], "not_found",
            "vera {op} on A's private agent: {got}"
        );
        // (Watching the shared agent's metrics answers with figures only.)
        if op != "watch_metrics" && !runs {
            let on_shared = ws_message(op, &objects.shared).unwrap();
            let got = ws_ask(&mut vera, &on_shared).await;
            if op == "subscribe" {
                assert_eq!(got["op"], "subscribed", "vera {op}: {got}");
            } else {
                assert_eq!(got["op"], "error", "vera {op} on the shared agent: {got}");
                assert_eq!(got["code"], "forbidden", "vera {op}: {got}");
            }
        }
        refused.insert(op.clone(), got);
    }
    assert!(refused.len() >= 6, "{refused:?}");
    // Every agent's metrics, for B: none of A's.
    bob.send(tungstenite::Message::Text(
        json!({"op": "watch_metrics", "interval_ms": 250})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    let end = tokio::time::Instant::now() + DEADLINE;
    loop {
        let next = tokio::time::timeout_at(end, bob.next())
            .await
            .expect("metrics within the deadline")
            .unwrap()
            .unwrap();
        if let tungstenite::Message::Text(t) = next {
            let v: Value = serde_json::from_str(t.as_str()).unwrap();
            if v["op"] == "metrics.update" {
                assert!(!t.as_str().contains(&objects.agent), "{v}");
                assert!(!t.as_str().contains(&objects.shared), "{v}");
                break;
            }
        }
    }
}
