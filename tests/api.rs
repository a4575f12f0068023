//! The HTTP API end to end, against the real `paddock serve`: bad requests
//! on every route (always the JSON error shape with the right status, never
//! a 500, nothing stored; the one test here that runs the app in this
//! process and calls its router directly), auth on loopback and beyond, the plugin
//! management API, templates and system prompts, the OpenAPI document, the
//! WebSocket (gapless, duplicate-free event streams with resumption) and a
//! restart on PostgreSQL.

use crate::common;

use common::events::{AgentStatus, Event, EventBody, event, events, matching, seqs};
use common::in_process::Api;
use common::{
    ADMIN_TOKEN, Paddock, Server, USER_TOKEN, scripted_config, session_cookie, test_plugins_dir,
    wasm_in,
};
use futures::{SinkExt, StreamExt};
use paddock_llm::scripted::{RunningModel, Script, ScriptedModel};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// How long any one wait may take before the test fails.
const DEADLINE: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// A scripted model whose scenarios the tests share, streamed slowly (40
/// tokens/s): a one-turn answer, and a multi-turn run with file tool calls.
const SCRIPT: &str = r#"
model: scripted
tokens_per_second: 40
scenarios:
  - name: slow-tools
    match: "^build"
    turns:
      - text: "I will write the notes file first."
        tool_calls:
          - name: write_file
            arguments: {path: "notes.txt", content: "hello from the agent\n"}
      - text: "Now I read it back to check it."
        tool_calls:
          - name: read_file
            arguments: {path: "notes.txt"}
      - text: "And I list the workspace once."
        tool_calls:
          - name: list_dir
            arguments: {path: "."}
      - text: "All done: the notes file is written and checked."
      - when: {user: "^thanks"}
        text: "You are welcome, glad to help."
turns:
  - text: "Hello, I am done."
"#;

async fn model() -> RunningModel {
    ScriptedModel::start(
        Script::from_yaml_str(SCRIPT).unwrap(),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap()
}

/// A server with a scripted provider at `model_url`.
fn serve(p: &Paddock, model_url: &str, bind: Option<&str>, env: &[(&str, &str)]) -> Server {
    let config = scripted_config(p.data_dir(), model_url, "");
    Server::start(p, &config, bind, env)
}

/// A server whose provider points nowhere (for tests that never run a model).
fn serve_offline(p: &Paddock) -> Server {
    serve(p, "http://127.0.0.1:9/v1", None, &[])
}

/// A client with the user token (as the CLI and scripts use the data
/// dir's `api-token`).
fn client() -> reqwest::Client {
    common::client_with(USER_TOKEN)
}

/// A client with no credentials at all.
fn bare_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// Sends a JSON request (with the admin token when `admin`), returns the
/// status and the body parsed as JSON (Null when empty).
async fn call(
    c: &reqwest::Client,
    s: &Server,
    method: Method,
    path: &str,
    body: Option<Value>,
    admin: bool,
) -> (u16, Value) {
    let mut rb = c.request(method, s.url(path));
    if admin {
        rb = rb.bearer_auth(ADMIN_TOKEN);
    }
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let resp = rb.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    let value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{path}: response is not JSON ({e}): {text}"))
    };
    (status, value)
}

/// Asserts the API's error shape, `{"error": {"code", "message"}}` and
/// nothing else, and returns the message.
fn error_message(body: &Value, what: &str) -> String {
    let obj = body
        .as_object()
        .unwrap_or_else(|| panic!("{what}: error body is not an object: {body}"));
    assert_eq!(obj.len(), 1, "{what}: error body has other keys: {body}");
    let err = obj["error"]
        .as_object()
        .unwrap_or_else(|| panic!("{what}: no `error` object: {body}"));
    assert_eq!(err.len(), 2, "{what}: error has other keys: {body}");
    assert!(err["code"].is_string(), "{what}: code: {body}");
    err["message"]
        .as_str()
        .unwrap_or_else(|| panic!("{what}: message: {body}"))
        .to_string()
}

/// Polls `f` until it returns Some, failing after the deadline.
async fn poll<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let end = Instant::now() + DEADLINE;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < end, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// All of an agent's stored events, through the REST API.
async fn all_events(c: &reqwest::Client, s: &Server, id: &str) -> Vec<Event> {
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let (st, page) = call(
            c,
            s,
            Method::GET,
            &format!("/api/agents/{id}/events?after={after}&limit=100"),
            None,
            false,
        )
        .await;
        assert_eq!(st, 200, "{page}");
        let events = events(&page);
        let Some(last) = events.last() else {
            return out;
        };
        after = last.seq;
        out.extend(events);
    }
}

/// Whether these events end with the agent idle after a final answer (an
/// assistant message without tool calls).
fn finished(events: &[Event]) -> bool {
    let mut final_answer = false;
    for e in events {
        match &e.body {
            EventBody::MessageAssistant { tool_calls, .. } => final_answer = tool_calls.is_empty(),
            EventBody::MessageUser { .. } => final_answer = false,
            EventBody::AgentStatus {
                status: AgentStatus::Idle,
                ..
            } if final_answer => return true,
            _ => {}
        }
    }
    false
}

/// Waits until the agent is idle after a final answer; returns its events.
async fn run_to_idle(c: &reqwest::Client, s: &Server, id: &str) -> Vec<Event> {
    poll("the agent to finish", || async {
        let events = all_events(c, s, id).await;
        finished(&events).then_some(events)
    })
    .await
}

// ---------------------------------------------------------------------------
// 1. Bad requests
// ---------------------------------------------------------------------------

enum Body {
    None,
    Json(String),
    Typed(&'static str, String),
}

struct Case {
    method: &'static str,
    path: String,
    body: Body,
    status: u16,
    code: &'static str,
    /// A piece the message must contain (the offending field).
    needle: &'static str,
}

fn case(
    method: &'static str,
    path: &str,
    body: Body,
    status: u16,
    code: &'static str,
    needle: &'static str,
) -> Case {
    Case {
        method,
        path: path.to_string(),
        body,
        status,
        code,
        needle,
    }
}

fn json(s: &str) -> Body {
    Body::Json(s.to_string())
}

/// In this process (the routes' answers need no listener nor child process):
/// the app as `paddock serve` opens it, its router called directly.
#[tokio::test]
async fn bad_requests_on_every_route_are_json_errors_and_store_nothing() {
    let p = Paddock::new();
    let api = Api::open(
        &p,
        &scripted_config(p.data_dir(), "http://127.0.0.1:9/v1", ""),
    )
    .await;
    let ws = tempfile::tempdir().unwrap();
    let ws_path = ws.path().display().to_string();
    let big = format!(r#"{{"text": "{}"}}"#, "a".repeat(super_size()));
    let big_agent = format!(
        r#"{{"workspace": "{ws_path}", "task": "{}"}}"#,
        "a".repeat(super_size())
    );
    use Body::{None as NoBody, Typed};
    let inv = "invalid_request";
    let nf = "not_found";
    let cases = vec![
        // --- POST /api/agents
        case(
            "POST",
            "/api/agents",
            json(&format!(r#"{{"workspace": "{ws_path}", "bogus": 1}}"#)),
            400,
            inv,
            "bogus",
        ),
        case(
            "POST",
            "/api/agents",
            json(r#"{"workspace": 5}"#),
            400,
            inv,
            "workspace",
        ),
        case(
            "POST",
            "/api/agents",
            json(&format!(
                r#"{{"workspace": "{ws_path}", "temperature": "hot"}}"#
            )),
            400,
            inv,
            "temperature",
        ),
        case(
            "POST",
            "/api/agents",
            json(&format!(r#"{{"workspace": "{ws_path}", "task": 7}}"#)),
            400,
            inv,
            "task",
        ),
        case(
            "POST",
            "/api/agents",
            json(&format!(r#"{{"workspace": "{ws_path}", "name": ["x"]}}"#)),
            400,
            inv,
            "name",
        ),
        case(
            "POST",
            "/api/agents",
            json(&format!(
                r#"{{"workspace": "{ws_path}", "limits": {{"max_turns": "many"}}}}"#
            )),
            400,
            inv,
            "max_turns",
        ),
        case(
            "POST",
            "/api/agents",
            json(&format!(
                r#"{{"workspace": "{ws_path}", "model": {{"provider": "scripted"}}}}"#
            )),
            400,
            inv,
            "model",
        ),
        case("POST", "/api/agents", json("{}"), 400, inv, "workspace"),
        case(
            "POST",
            "/api/agents",
            json(r#"{"workspace": "relative/dir"}"#),
            400,
            inv,
            "workspace",
        ),
        case(
            "POST",
            "/api/agents",
            json(r#"{"workspace": "/no/such/dir/anywhere"}"#),
            400,
            inv,
            "workspace",
        ),
        case(
            "POST",
            "/api/agents",
            json(&format!(
                r#"{{"workspace": "{ws_path}", "temperature": 9}}"#
            )),
            400,
            inv,
            "temperature",
        ),
        case(
            "POST",
            "/api/agents",
            json(&format!(
                r#"{{"workspace": "{ws_path}", "template": "nope"}}"#
            )),
            400,
            inv,
            "template",
        ),
        case(
            "POST",
            "/api/agents",
            json(&format!(
                r#"{{"workspace": "{ws_path}", "system_prompt_name": "nope"}}"#
            )),
            400,
            inv,
            "system_prompt_name",
        ),
        case(
            "POST",
            "/api/agents",
            json(&format!(
                r#"{{"workspace": "{ws_path}", "model": {{"provider": "nope", "model": "m"}}}}"#
            )),
            400,
            inv,
            "model.provider",
        ),
        case(
            "POST",
            "/api/agents",
            json(&format!(
                r#"{{"workspace": "{ws_path}", "tools": ["no_such_tool"]}}"#
            )),
            400,
            inv,
            "tools",
        ),
        case(
            "POST",
            "/api/agents",
            json(&format!(r#"{{"workspace": "{ws_path}", "task": "   "}}"#)),
            400,
            inv,
            "task",
        ),
        case(
            "POST",
            "/api/agents",
            json(r#"{"workspace": "#),
            400,
            inv,
            "JSON",
        ),
        case("POST", "/api/agents", json("[1, 2]"), 400, inv, ""),
        case(
            "POST",
            "/api/agents",
            json(&format!(
                r#"{{"workspace": "{ws_path}", "router": "nope"}}"#
            )),
            400,
            inv,
            "router: no router named `nope`",
        ),
        case(
            "POST",
            "/api/agents",
            json(&format!(r#"{{"workspace": "{ws_path}", "router": ["a"]}}"#)),
            400,
            inv,
            "router",
        ),
        case(
            "POST",
            "/api/agents",
            json(&format!(
                r#"{{"workspace": "{ws_path}", "router": "r", "model": {{"provider": "scripted", "model": "scripted"}}}}"#
            )),
            400,
            inv,
            "model, router",
        ),
        case(
            "POST",
            "/api/agents",
            json(&format!(
                r#"{{"workspace": "{ws_path}", "limits": {{"daily_usd": -0.5}}}}"#
            )),
            400,
            inv,
            "limits.daily_usd",
        ),
        case(
            "POST",
            "/api/agents",
            json(&format!(
                r#"{{"workspace": "{ws_path}", "limits": {{"monthly_usd": "lots"}}}}"#
            )),
            400,
            inv,
            "monthly_usd",
        ),
        // --- PUT /api/config/budgets (admin)
        case(
            "PUT",
            "/api/config/budgets",
            json(r#"{"daily": 1}"#),
            400,
            inv,
            "daily",
        ),
        case(
            "PUT",
            "/api/config/budgets",
            json(r#"{"daily_usd": "1"}"#),
            400,
            inv,
            "daily_usd",
        ),
        case(
            "PUT",
            "/api/config/budgets",
            json(r#"{"monthly_usd": -3}"#),
            400,
            inv,
            "monthly_usd",
        ),
        case(
            "PUT",
            "/api/config/budgets",
            json(r#"{"daily_usd": "#),
            400,
            inv,
            "JSON",
        ),
        case("PUT", "/api/config/budgets", json("[1]"), 400, inv, ""),
        case(
            "POST",
            "/api/config/budgets",
            json("{}"),
            405,
            "method_not_allowed",
            "",
        ),
        case(
            "POST",
            "/api/agents",
            Typed("text/plain", format!(r#"{{"workspace": "{ws_path}"}}"#)),
            415,
            "unsupported_media_type",
            "Content-Type",
        ),
        case(
            "POST",
            "/api/agents",
            NoBody,
            415,
            "unsupported_media_type",
            "Content-Type",
        ),
        case(
            "POST",
            "/api/agents",
            Body::Json(big_agent),
            413,
            "payload_too_large",
            "",
        ),
        // --- workspaces
        case(
            "POST",
            "/api/workspaces",
            json(r#"{"name": "x", "bogus": 1}"#),
            400,
            inv,
            "bogus",
        ),
        case("POST", "/api/workspaces", json("{}"), 400, inv, "name"),
        case(
            "POST",
            "/api/workspaces",
            json(r#"{"name": "a b"}"#),
            400,
            inv,
            "name",
        ),
        case(
            "POST",
            "/api/workspaces",
            json(r#"{"name": "x", "copy": "yes"}"#),
            400,
            inv,
            "copy",
        ),
        case(
            "POST",
            "/api/workspaces",
            json(r#"{"name": "x", "path": "rel"}"#),
            400,
            inv,
            "path",
        ),
        case(
            "POST",
            "/api/workspaces",
            json(&format!(r#"{{"name": "x", "repo": "{ws_path}"}}"#)),
            400,
            inv,
            "not a git repository",
        ),
        case(
            "POST",
            "/api/workspaces",
            json(r#"{"name": "x", "path": "/etc"}"#),
            403,
            "outside_workspace",
            "/etc",
        ),
        case("GET", "/api/workspaces/nope", NoBody, 404, nf, "nope"),
        case("DELETE", "/api/workspaces/nope", NoBody, 404, nf, "nope"),
        case(
            "DELETE",
            "/api/workspaces/nope?remove_files=perhaps",
            NoBody,
            400,
            inv,
            "remove_files",
        ),
        case(
            "GET",
            "/api/workspaces/nope/files?bogus=1",
            NoBody,
            400,
            inv,
            "bogus",
        ),
        case("GET", "/api/workspaces/nope/files", NoBody, 404, nf, "nope"),
        case("GET", "/api/workspaces/nope/diff", NoBody, 404, nf, "nope"),
        case(
            "POST",
            "/api/workspaces/nope/commit",
            json("{}"),
            400,
            inv,
            "message",
        ),
        case(
            "POST",
            "/api/workspaces/nope/commit",
            json(r#"{"message": "m"}"#),
            404,
            nf,
            "nope",
        ),
        case(
            "POST",
            "/api/workspaces/nope/merge",
            json(r#"{"x": 1}"#),
            400,
            inv,
            "x",
        ),
        case(
            "POST",
            "/api/workspaces/nope/merge",
            NoBody,
            404,
            nf,
            "nope",
        ),
        case(
            "POST",
            "/api/workspaces/nope/backup",
            NoBody,
            404,
            nf,
            "nope",
        ),
        case(
            "GET",
            "/api/workspaces/nope/backups",
            NoBody,
            404,
            nf,
            "nope",
        ),
        case(
            "POST",
            "/api/backups/nope/restore",
            json("{}"),
            400,
            inv,
            "name",
        ),
        case(
            "POST",
            "/api/backups/nope/restore",
            json(r#"{"name": "x"}"#),
            404,
            nf,
            "nope",
        ),
        case("DELETE", "/api/backups/nope", NoBody, 404, nf, "nope"),
        case(
            "POST",
            "/api/agents",
            json(&format!(
                r#"{{"workspace": "{ws_path}", "workspace_id": "x"}}"#
            )),
            400,
            inv,
            "workspace, workspace_id, worktree",
        ),
        case(
            "POST",
            "/api/agents",
            json(r#"{"workspace_id": "nope"}"#),
            400,
            inv,
            "workspace_id",
        ),
        case(
            "POST",
            "/api/agents",
            json(&format!(r#"{{"worktree": {{"repo": "{ws_path}"}}}}"#)),
            400,
            inv,
            "worktree.repo",
        ),
        case(
            "POST",
            "/api/agents",
            json(r#"{"worktree": {"repo": "/tmp", "bogus": 1}}"#),
            400,
            inv,
            "bogus",
        ),
        case(
            "POST",
            "/api/agents",
            json(r#"{"workspace": "/etc"}"#),
            403,
            "outside_workspace",
            "/etc",
        ),
        // --- GET /api/agents
        case(
            "GET",
            "/api/agents?include_deleted=maybe",
            NoBody,
            400,
            inv,
            "include_deleted",
        ),
        case("GET", "/api/agents?bogus=1", NoBody, 400, inv, "bogus"),
        case("PUT", "/api/agents", NoBody, 405, "method_not_allowed", ""),
        case(
            "DELETE",
            "/api/agents",
            NoBody,
            405,
            "method_not_allowed",
            "",
        ),
        // --- /api/agents/{id}
        case("GET", "/api/agents/nope", NoBody, 404, nf, "nope"),
        case("DELETE", "/api/agents/nope", NoBody, 404, nf, "nope"),
        case(
            "DELETE",
            "/api/agents/nope?purge=perhaps",
            NoBody,
            400,
            inv,
            "purge",
        ),
        case(
            "PATCH",
            "/api/agents/nope",
            NoBody,
            405,
            "method_not_allowed",
            "",
        ),
        case(
            "POST",
            "/api/agents/nope",
            json("{}"),
            405,
            "method_not_allowed",
            "",
        ),
        // --- messages
        case(
            "POST",
            "/api/agents/nope/messages",
            json(r#"{"text": "hi"}"#),
            404,
            nf,
            "nope",
        ),
        case(
            "POST",
            "/api/agents/nope/messages",
            json(r#"{"text": "hi", "bogus": true}"#),
            400,
            inv,
            "bogus",
        ),
        case(
            "POST",
            "/api/agents/nope/messages",
            json(r#"{"text": 42}"#),
            400,
            inv,
            "text",
        ),
        case(
            "POST",
            "/api/agents/nope/messages",
            json("{}"),
            400,
            inv,
            "text",
        ),
        case(
            "POST",
            "/api/agents/nope/messages",
            json("{\"text\": \"hi\""),
            400,
            inv,
            "JSON",
        ),
        case(
            "POST",
            "/api/agents/nope/messages",
            Typed("application/x-www-form-urlencoded", "text=hi".into()),
            415,
            "unsupported_media_type",
            "Content-Type",
        ),
        case(
            "POST",
            "/api/agents/nope/messages",
            Body::Json(big.clone()),
            413,
            "payload_too_large",
            "",
        ),
        case(
            "GET",
            "/api/agents/nope/messages",
            NoBody,
            405,
            "method_not_allowed",
            "",
        ),
        // --- interrupt
        case(
            "POST",
            "/api/agents/nope/interrupt",
            NoBody,
            404,
            nf,
            "nope",
        ),
        case(
            "GET",
            "/api/agents/nope/interrupt",
            NoBody,
            405,
            "method_not_allowed",
            "",
        ),
        // --- events
        case("GET", "/api/agents/nope/events", NoBody, 404, nf, "nope"),
        case(
            "GET",
            "/api/agents/nope/events?after=abc",
            NoBody,
            400,
            inv,
            "after",
        ),
        case(
            "GET",
            "/api/agents/nope/events?after=-1",
            NoBody,
            400,
            inv,
            "after",
        ),
        case(
            "GET",
            "/api/agents/nope/events?limit=0",
            NoBody,
            400,
            inv,
            "limit",
        ),
        case(
            "GET",
            "/api/agents/nope/events?limit=5001",
            NoBody,
            400,
            inv,
            "limit",
        ),
        case(
            "GET",
            "/api/agents/nope/events?limit=ten",
            NoBody,
            400,
            inv,
            "limit",
        ),
        case(
            "GET",
            "/api/agents/nope/events?before=3",
            NoBody,
            400,
            inv,
            "before",
        ),
        case(
            "POST",
            "/api/agents/nope/events",
            json("{}"),
            405,
            "method_not_allowed",
            "",
        ),
        // --- agent templates
        case(
            "POST",
            "/api/config/agent-templates",
            json(r#"{"name": "t", "bogus": 1}"#),
            400,
            inv,
            "bogus",
        ),
        case(
            "POST",
            "/api/config/agent-templates",
            json(r#"{"name": "t", "temperature": "hot"}"#),
            400,
            inv,
            "temperature",
        ),
        case(
            "POST",
            "/api/config/agent-templates",
            json(r#"{"name": 3}"#),
            400,
            inv,
            "name",
        ),
        case(
            "POST",
            "/api/config/agent-templates",
            json(r#"{"description": "no name"}"#),
            400,
            inv,
            "name",
        ),
        case(
            "POST",
            "/api/config/agent-templates",
            json(r#"{"name": "../etc"}"#),
            400,
            inv,
            "name",
        ),
        case(
            "POST",
            "/api/config/agent-templates",
            json(r#"{"name": ""}"#),
            400,
            inv,
            "name",
        ),
        case(
            "POST",
            "/api/config/agent-templates",
            json(r#"{"name": "#),
            400,
            inv,
            "JSON",
        ),
        case(
            "POST",
            "/api/config/agent-templates",
            Typed("text/plain", r#"{"name": "t"}"#.into()),
            415,
            "unsupported_media_type",
            "Content-Type",
        ),
        case(
            "POST",
            "/api/config/agent-templates",
            Body::Json(big.clone()),
            413,
            "payload_too_large",
            "",
        ),
        case(
            "DELETE",
            "/api/config/agent-templates",
            NoBody,
            405,
            "method_not_allowed",
            "",
        ),
        case(
            "GET",
            "/api/config/agent-templates/nope",
            NoBody,
            404,
            nf,
            "nope",
        ),
        case(
            "DELETE",
            "/api/config/agent-templates/nope",
            NoBody,
            404,
            nf,
            "nope",
        ),
        case(
            "PUT",
            "/api/config/agent-templates/t",
            json(r#"{"bogus": 1}"#),
            400,
            inv,
            "bogus",
        ),
        case(
            "PUT",
            "/api/config/agent-templates/t",
            json(r#"{"max_tokens": -5}"#),
            400,
            inv,
            "max_tokens",
        ),
        case(
            "PUT",
            "/api/config/agent-templates/t",
            json(r#"{"tools": "read_file"}"#),
            400,
            inv,
            "tools",
        ),
        case(
            "PUT",
            "/api/config/agent-templates/-bad",
            json("{}"),
            400,
            inv,
            "name",
        ),
        case(
            "PUT",
            "/api/config/agent-templates/t",
            json("nope"),
            400,
            inv,
            "JSON",
        ),
        case(
            "PUT",
            "/api/config/agent-templates/t",
            Typed("text/plain", "{}".into()),
            415,
            "unsupported_media_type",
            "Content-Type",
        ),
        case(
            "PUT",
            "/api/config/agent-templates/t",
            Body::Json(big.clone()),
            413,
            "payload_too_large",
            "",
        ),
        case(
            "POST",
            "/api/config/agent-templates/t",
            json("{}"),
            405,
            "method_not_allowed",
            "",
        ),
        // --- system prompts
        case(
            "POST",
            "/api/config/system-prompts",
            json(r#"{"name": "p", "text": "x", "bogus": 1}"#),
            400,
            inv,
            "bogus",
        ),
        case(
            "POST",
            "/api/config/system-prompts",
            json(r#"{"name": "p", "text": 1}"#),
            400,
            inv,
            "text",
        ),
        case(
            "POST",
            "/api/config/system-prompts",
            json(r#"{"name": "p"}"#),
            400,
            inv,
            "text",
        ),
        case(
            "POST",
            "/api/config/system-prompts",
            json(r#"{"text": "x"}"#),
            400,
            inv,
            "name",
        ),
        case(
            "POST",
            "/api/config/system-prompts",
            json(r#"{"name": "a b", "text": "x"}"#),
            400,
            inv,
            "name",
        ),
        case(
            "POST",
            "/api/config/system-prompts",
            json("{"),
            400,
            inv,
            "JSON",
        ),
        case(
            "POST",
            "/api/config/system-prompts",
            Typed("text/plain", "{}".into()),
            415,
            "unsupported_media_type",
            "Content-Type",
        ),
        case(
            "POST",
            "/api/config/system-prompts",
            Body::Json(big.clone()),
            413,
            "payload_too_large",
            "",
        ),
        case(
            "PATCH",
            "/api/config/system-prompts",
            NoBody,
            405,
            "method_not_allowed",
            "",
        ),
        case(
            "GET",
            "/api/config/system-prompts/nope",
            NoBody,
            404,
            nf,
            "nope",
        ),
        case(
            "DELETE",
            "/api/config/system-prompts/nope",
            NoBody,
            404,
            nf,
            "nope",
        ),
        case(
            "PUT",
            "/api/config/system-prompts/p",
            json(r#"{"text": "x", "bogus": 1}"#),
            400,
            inv,
            "bogus",
        ),
        case(
            "PUT",
            "/api/config/system-prompts/p",
            json(r#"{"text": "x", "description": 5}"#),
            400,
            inv,
            "description",
        ),
        case(
            "PUT",
            "/api/config/system-prompts/p",
            json("{}"),
            400,
            inv,
            "text",
        ),
        case(
            "PUT",
            "/api/config/system-prompts/p%20q",
            json(r#"{"text": "x"}"#),
            400,
            inv,
            "name",
        ),
        case(
            "PUT",
            "/api/config/system-prompts/p",
            Body::Json(big.clone()),
            413,
            "payload_too_large",
            "",
        ),
        case(
            "POST",
            "/api/config/system-prompts/p",
            json("{}"),
            405,
            "method_not_allowed",
            "",
        ),
        // --- plugins (with the admin token)
        case("GET", "/api/plugins/nope", NoBody, 404, nf, "nope"),
        case("DELETE", "/api/plugins/nope", NoBody, 404, nf, "nope"),
        case("POST", "/api/plugins/nope/enable", NoBody, 404, nf, "nope"),
        case("POST", "/api/plugins/nope/disable", NoBody, 404, nf, "nope"),
        // --- plugins from OCI registries
        case(
            "POST",
            "/api/oci/install",
            json(r#"{"reference": "https://ghcr.io/a/b:1"}"#),
            400,
            inv,
            "reference",
        ),
        case(
            "POST",
            "/api/oci/install",
            json("{}"),
            400,
            inv,
            "reference",
        ),
        case(
            "POST",
            "/api/oci/install",
            json(r#"{"reference": "oci://127.0.0.1:9/a/b:1", "bogus": 1}"#),
            400,
            inv,
            "bogus",
        ),
        case(
            "GET",
            "/api/plugins/fs-tools/update",
            NoBody,
            404,
            nf,
            "no update waiting",
        ),
        case("GET", "/api/plugins/nope/update", NoBody, 404, nf, "nope"),
        case(
            "POST",
            "/api/plugins/fs-tools/update",
            json("{}"),
            400,
            inv,
            "not installed from a registry",
        ),
        case(
            "POST",
            "/api/plugins/fs-tools/update/accept",
            NoBody,
            404,
            nf,
            "no update waiting",
        ),
        case(
            "DELETE",
            "/api/plugins/nope/update",
            NoBody,
            404,
            nf,
            "nope",
        ),
        case(
            "PUT",
            "/api/plugins/nope/grants",
            json(r#"{"grants": []}"#),
            404,
            nf,
            "nope",
        ),
        case(
            "PUT",
            "/api/plugins/fs-tools/grants",
            json(r#"{"grants": "exec"}"#),
            400,
            inv,
            "grants",
        ),
        case(
            "PUT",
            "/api/plugins/fs-tools/grants",
            json(r#"{"grants": ["exec"], "bogus": 1}"#),
            400,
            inv,
            "bogus",
        ),
        case(
            "PUT",
            "/api/plugins/fs-tools/grants",
            json("{}"),
            400,
            inv,
            "grants",
        ),
        case(
            "PUT",
            "/api/plugins/fs-tools/grants",
            json(r#"{"grants": ["fs:/workspace:ro", "teleport"]}"#),
            400,
            inv,
            "grants[1]",
        ),
        case(
            "PUT",
            "/api/plugins/fs-tools/grants",
            json(r#"{"grants": [1]}"#),
            400,
            inv,
            "grants",
        ),
        case(
            "PUT",
            "/api/plugins/fs-tools/grants",
            json(r#"{"grants": [}"#),
            400,
            inv,
            "JSON",
        ),
        case(
            "PUT",
            "/api/plugins/fs-tools/grants",
            Typed("text/plain", r#"{"grants": []}"#.into()),
            415,
            "unsupported_media_type",
            "Content-Type",
        ),
        case(
            "PUT",
            "/api/plugins/fs-tools/grants",
            Body::Json(format!(r#"{{"grants": ["{}"]}}"#, "a".repeat(super_size()))),
            413,
            "payload_too_large",
            "",
        ),
        case(
            "POST",
            "/api/plugins",
            json(r#"{"manifest": "x"}"#),
            415,
            "unsupported_media_type",
            "multipart/form-data",
        ),
        case(
            "POST",
            "/api/plugins",
            NoBody,
            415,
            "unsupported_media_type",
            "multipart/form-data",
        ),
        case(
            "POST",
            "/api/plugins",
            Typed("multipart/form-data; boundary=XYZ", "garbage".into()),
            400,
            inv,
            "multipart",
        ),
        case("PUT", "/api/plugins", NoBody, 405, "method_not_allowed", ""),
        case(
            "POST",
            "/api/plugins/fs-tools",
            NoBody,
            405,
            "method_not_allowed",
            "",
        ),
        case(
            "GET",
            "/api/plugins/fs-tools/grants",
            NoBody,
            405,
            "method_not_allowed",
            "",
        ),
        case(
            "GET",
            "/api/plugins/fs-tools/enable",
            NoBody,
            405,
            "method_not_allowed",
            "",
        ),
        case(
            "DELETE",
            "/api/plugins/fs-tools/disable",
            NoBody,
            405,
            "method_not_allowed",
            "",
        ),
        // --- MCP servers
        case("POST", "/api/mcp/servers", json("[]"), 400, inv, "object"),
        case(
            "POST",
            "/api/mcp/servers",
            json(r#"{"name": 5}"#),
            400,
            inv,
            "name",
        ),
        case(
            "POST",
            "/api/mcp/servers",
            json(r#"{"command": "x"}"#),
            400,
            inv,
            "name",
        ),
        case(
            "POST",
            "/api/mcp/servers",
            json(r#"{"name": "m", "command": "x", "args": "notalist"}"#),
            400,
            inv,
            "args",
        ),
        case(
            "POST",
            "/api/mcp/servers",
            json(r#"{"name": "m", "command": "x", "bogus": 1}"#),
            400,
            inv,
            "bogus",
        ),
        case(
            "POST",
            "/api/mcp/servers",
            json(r#"{"name": "m", "url": "http://h/x", "transport": "carrier-pigeon"}"#),
            400,
            inv,
            "carrier-pigeon",
        ),
        case(
            "POST",
            "/api/mcp/servers",
            json(r#"{"name": "m", "url": "file:///etc/passwd"}"#),
            400,
            inv,
            "scheme",
        ),
        case(
            "POST",
            "/api/mcp/servers",
            json(r#"{"name": "m"}"#),
            400,
            inv,
            "command",
        ),
        case(
            "POST",
            "/api/mcp/servers",
            Typed("text/plain", "x".into()),
            415,
            "unsupported_media_type",
            "",
        ),
        case("GET", "/api/mcp/servers/nope", NoBody, 404, nf, "nope"),
        case("DELETE", "/api/mcp/servers/nope", NoBody, 404, nf, "nope"),
        case(
            "POST",
            "/api/mcp/servers/nope/test",
            NoBody,
            404,
            nf,
            "nope",
        ),
        case(
            "PUT",
            "/api/mcp/servers/nope",
            json("{}"),
            405,
            "method_not_allowed",
            "",
        ),
        case(
            "POST",
            "/api/mcp/catalog",
            json("{}"),
            405,
            "method_not_allowed",
            "",
        ),
        case(
            "POST",
            "/api/agents",
            json(&format!(
                r#"{{"workspace": "{ws_path}", "mcp_servers": "x"}}"#
            )),
            400,
            inv,
            "mcp_servers",
        ),
        case(
            "POST",
            "/api/agents",
            json(&format!(
                r#"{{"workspace": "{ws_path}", "mcp_servers": ["nope"]}}"#
            )),
            400,
            inv,
            "mcp_servers[0]",
        ),
        // --- agents' policy fields
        case(
            "POST",
            "/api/agents",
            json(&format!(
                r#"{{"workspace": "{ws_path}", "approval_mode": "yolo"}}"#
            )),
            400,
            inv,
            "approval_mode",
        ),
        case(
            "POST",
            "/api/agents",
            json(&format!(
                r#"{{"workspace": "{ws_path}", "rules": ["permit read_file"]}}"#
            )),
            400,
            inv,
            "rules[0]",
        ),
        case(
            "POST",
            "/api/agents",
            json(&format!(
                r#"{{"workspace": "{ws_path}", "approval_timeout_secs": 0}}"#
            )),
            400,
            inv,
            "approval_timeout_secs",
        ),
        // --- approvals, audit, rules, assess
        case(
            "POST",
            "/api/agents/nope/approvals/c1",
            json(r#"{"approved": true}"#),
            404,
            nf,
            "nope",
        ),
        case(
            "POST",
            "/api/agents/nope/approvals/c1",
            json(r#"{"approved": "yes"}"#),
            400,
            inv,
            "approved",
        ),
        case(
            "POST",
            "/api/agents/nope/approvals/c1",
            json(r#"{"approved": true, "remember": "forever"}"#),
            400,
            inv,
            "remember",
        ),
        case(
            "POST",
            "/api/agents/nope/approvals/c1",
            json(r#"{"approved": true, "bogus": 1}"#),
            400,
            inv,
            "bogus",
        ),
        case(
            "GET",
            "/api/audit?since=yesterday",
            NoBody,
            400,
            inv,
            "since",
        ),
        case("GET", "/api/audit?limit=0", NoBody, 400, inv, "limit"),
        case("GET", "/api/audit?bogus=1", NoBody, 400, inv, "bogus"),
        // --- metrics
        case(
            "GET",
            "/api/metrics/usage?from=yesterday",
            NoBody,
            400,
            inv,
            "from",
        ),
        case(
            "GET",
            "/api/metrics/usage?to=2026-13-40",
            NoBody,
            400,
            inv,
            "to",
        ),
        case(
            "GET",
            "/api/metrics/usage?from=2026-02-01&to=2026-01-01",
            NoBody,
            400,
            inv,
            "before",
        ),
        case(
            "GET",
            "/api/metrics/usage?from=2000-01-01&to=2026-01-01",
            NoBody,
            400,
            inv,
            "at most",
        ),
        case(
            "GET",
            "/api/metrics/usage?group_by=week",
            NoBody,
            400,
            inv,
            "week",
        ),
        case(
            "GET",
            "/api/metrics/usage?agent=nope",
            NoBody,
            404,
            nf,
            "nope",
        ),
        case(
            "GET",
            "/api/metrics/usage?bogus=1",
            NoBody,
            400,
            inv,
            "bogus",
        ),
        case(
            "GET",
            "/api/metrics/agents?include_deleted=maybe",
            NoBody,
            400,
            inv,
            "include_deleted",
        ),
        case("GET", "/api/metrics/agents/nope", NoBody, 404, nf, "nope"),
        case(
            "POST",
            "/api/metrics/usage",
            json("{}"),
            405,
            "method_not_allowed",
            "",
        ),
        case(
            "POST",
            "/metrics",
            json("{}"),
            405,
            "method_not_allowed",
            "",
        ),
        case(
            "DELETE",
            "/api/audit",
            NoBody,
            405,
            "method_not_allowed",
            "",
        ),
        case("GET", "/api/approvals?bogus=1", NoBody, 400, inv, "bogus"),
        case(
            "POST",
            "/api/policy/rules",
            json(r#"{"rule": "permit read_file"}"#),
            400,
            inv,
            "permit",
        ),
        case(
            "POST",
            "/api/policy/rules",
            json(r#"{"rule": "ask execute_bash(git push*)", "match": ["git pull"]}"#),
            400,
            inv,
            "does not match its own example",
        ),
        case(
            "POST",
            "/api/policy/rules",
            json(r#"{"rule": "allow read_file", "scope": "nowhere"}"#),
            400,
            inv,
            "scope",
        ),
        case(
            "POST",
            "/api/policy/rules",
            json(r#"{"rule": "deny x(", "match": []}"#),
            400,
            inv,
            "closed",
        ),
        case("DELETE", "/api/policy/rules/nope", NoBody, 404, nf, "nope"),
        case(
            "POST",
            "/api/policy/assess",
            json(r#"{"tool": "x", "input": [1]}"#),
            400,
            inv,
            "input",
        ),
        case(
            "POST",
            "/api/policy/assess",
            json(r#"{"tool": "x", "input": {}, "mode": "yolo"}"#),
            400,
            inv,
            "mode",
        ),
        case(
            "POST",
            "/api/policy/assess",
            json(r#"{"tool": "x", "input": {}, "agent": "nope"}"#),
            404,
            nf,
            "nope",
        ),
        case(
            "POST",
            "/api/policy/assess",
            json(r#"{"tool": " ", "input": {}}"#),
            400,
            inv,
            "tool",
        ),
        // --- tools, openapi, ws
        case(
            "POST",
            "/api/tools",
            json("{}"),
            405,
            "method_not_allowed",
            "",
        ),
        case(
            "DELETE",
            "/api/openapi.json",
            NoBody,
            405,
            "method_not_allowed",
            "",
        ),
        case("POST", "/api/ws", NoBody, 405, "method_not_allowed", ""),
        case("GET", "/api/ws", NoBody, 400, inv, "WebSocket"),
        // --- unknown routes
        case("GET", "/api/nope", NoBody, 404, nf, ""),
        case("GET", "/api", NoBody, 404, nf, ""),
        case("GET", "/metrics/nope", NoBody, 404, nf, ""),
        case("POST", "/agents", json("{}"), 405, "method_not_allowed", ""),
        case("GET", "/assets/missing-0000.js", NoBody, 404, nf, ""),
        case(
            "POST",
            "/api/agents/nope/approvals/x/y",
            json("{}"),
            404,
            nf,
            "",
        ),
        case(
            "GET",
            "/api/agents/nope/approvals/x",
            NoBody,
            405,
            "method_not_allowed",
            "",
        ),
        case("GET", "/api/config", NoBody, 404, nf, ""),
        case(
            "GET",
            "/api/config/agent-templates/a/b",
            NoBody,
            404,
            nf,
            "",
        ),
    ];
    let mut failures = Vec::new();
    for k in &cases {
        let body = match &k.body {
            Body::None => None,
            Body::Json(b) => Some(("application/json", b.clone())),
            Body::Typed(t, b) => Some((*t, b.clone())),
        };
        let what = format!("{} {}", k.method, k.path);
        let resp = api.request(k.method, &k.path, ADMIN_TOKEN, body).await;
        let (status, ctype, text) = (resp.status, resp.content_type, resp.body);
        let Ok(body) = serde_json::from_str::<Value>(&text) else {
            failures.push(format!(
                "{what}: {status} with a body that is not JSON ({ctype}): {text}"
            ));
            continue;
        };
        if status != k.status {
            failures.push(format!(
                "{what}: status {status}, expected {}: {body}",
                k.status
            ));
            continue;
        }
        if !ctype.starts_with("application/json") {
            failures.push(format!("{what}: content type `{ctype}`"));
        }
        let message = error_message(&body, &what);
        if body["error"]["code"] != k.code {
            failures.push(format!(
                "{what}: code {}, expected {}",
                body["error"]["code"], k.code
            ));
        }
        if !message.contains(k.needle) {
            failures.push(format!(
                "{what}: message does not name `{}`: {message}",
                k.needle
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );

    // Nothing was stored.
    for path in [
        "/api/agents?include_deleted=true",
        "/api/config/agent-templates",
        "/api/config/system-prompts",
    ] {
        let (st, body) = api.get_json(path).await;
        assert_eq!(st, 200, "{path}: {body}");
        assert_eq!(body, json!([]), "{path}");
    }
    let (st, budgets) = api.get_json("/api/config/budgets").await;
    assert_eq!(st, 200, "{budgets}");
    assert_eq!(budgets["source"], "config", "budgets unchanged");
    let r = api.request("GET", "/api/plugins", ADMIN_TOKEN, None).await;
    assert_eq!(r.status, 200);
    let plugins: Value = serde_json::from_str(&r.body).unwrap();
    let fs = plugins
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "fs-tools")
        .expect("the built-in fs-tools plugin");
    assert_eq!(
        fs["granted"],
        json!(["fs:/workspace:rw"]),
        "grants unchanged"
    );
    api.close().await;
}

/// Just over the 1 MiB JSON body limit.
fn super_size() -> usize {
    1024 * 1024 + 16
}

// ---------------------------------------------------------------------------
// 2. Auth
// ---------------------------------------------------------------------------

#[tokio::test]
async fn loopback_needs_credentials_too_admin_routes_need_the_admin_and_foreign_hosts_are_refused()
{
    let p = Paddock::new();
    let s = serve_offline(&p);
    let bare = bare_client();
    let c = client();
    for path in [
        "/api/agents",
        "/api/config/agent-templates",
        "/api/config/system-prompts",
        "/api/tools",
        "/api/openapi.json",
        "/api/info",
        "/api/approvals",
        "/metrics",
    ] {
        let r = bare.get(s.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 401, "{path} without a token on loopback");
        let b: Value = r.json().await.unwrap();
        error_message(&b, path);
        assert_eq!(b["error"]["code"], "unauthorized");
        // `?token=` is for the WebSocket upgrade only.
        let r = bare
            .get(s.url(&format!("{path}?token={USER_TOKEN}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{path} with ?token=");
        let r = c.get(s.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path} with the user token");
    }
    let admin_routes: [(&str, &str); 7] = [
        ("PUT", "/api/config/budgets"),
        ("GET", "/api/plugins"),
        ("GET", "/api/plugins/fs-tools"),
        ("PUT", "/api/plugins/fs-tools/grants"),
        ("POST", "/api/plugins/fs-tools/disable"),
        ("POST", "/api/plugins/fs-tools/enable"),
        ("DELETE", "/api/plugins/fs-tools"),
    ];
    for (m, path) in admin_routes {
        let method = Method::from_bytes(m.as_bytes()).unwrap();
        let body = json!({"grants": []});
        let r = bare
            .request(method.clone(), s.url(path))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{m} {path} without a token");
        let b: Value = r.json().await.unwrap();
        error_message(&b, path);
        assert_eq!(b["error"]["code"], "unauthorized");
        let r = bare
            .request(method.clone(), s.url(path))
            .bearer_auth("not-the-admin-token")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{m} {path} with a wrong token");
        let r = c
            .request(method, s.url(path))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{m} {path} with the user token");
        let b: Value = r.json().await.unwrap();
        error_message(&b, path);
        assert_eq!(b["error"]["code"], "forbidden");
    }
    // The plugin survived all of that.
    let (st, fs) = call(&c, &s, Method::GET, "/api/plugins/fs-tools", None, true).await;
    assert_eq!(st, 200);
    assert_eq!(fs["enabled"], true);

    // DNS rebinding: a foreign Host on a loopback server.
    for path in ["/api/agents", "/api/plugins", "/api/openapi.json"] {
        let r = c
            .get(s.url(path))
            .header("host", "evil.example")
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{path} with Host: evil.example");
        let b: Value = r.json().await.unwrap();
        error_message(&b, path);
    }
    let port = s.base.rsplit(':').next().unwrap();
    let r = c
        .get(s.url("/api/agents"))
        .header("host", format!("localhost:{port}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "Host: localhost is fine");
}

#[tokio::test]
async fn the_printed_link_and_tokens_open_sessions_that_survive_a_restart_and_end_on_sign_out() {
    let p = Paddock::new();
    let port = common::mcp_servers::free_port();
    let bind = format!("127.0.0.1:{port}");
    let config = scripted_config(p.data_dir(), "http://127.0.0.1:9/v1", "");
    let mut s = Server::start(&p, &config, Some(&bind), &[]);
    use std::os::unix::fs::PermissionsExt;
    let link = s.login_link();
    assert!(
        link.starts_with(&format!("http://127.0.0.1:{port}/login?code=")),
        "{link}"
    );
    // No connection pool: the server is killed and restarted below.
    let bare = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    // The link: once.
    let r = bare.get(&link).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/");
    let cookie = session_cookie(&r);
    let csrf = common::csrf_token(&r);
    assert!(
        cookie.starts_with(&format!("paddock_session_{port}=")),
        "{cookie}"
    );
    let again = bare.get(&link).send().await.unwrap();
    assert_eq!(again.status(), 303);
    assert_eq!(again.headers()["location"], "/?login=failed");
    assert!(again.headers().get("set-cookie").is_none());
    let wrong = bare.get(s.url("/login?code=nope")).send().await.unwrap();
    assert_eq!(wrong.headers()["location"], "/?login=failed");
    let info_url = s.url("/api/info");
    let info = |cookie: String| {
        let bare = bare.clone();
        let url = info_url.clone();
        async move {
            let r = bare.get(url).header("cookie", cookie).send().await.unwrap();
            let st = r.status().as_u16();
            (st, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (st, v) = info(cookie.clone()).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        (&v["user_id"], &v["role"], &v["scope"], &v["admin"]),
        (
            &json!("local"),
            &json!("admin"),
            &json!("admin"),
            &json!(true)
        ),
        "the printed link is the operator's: the local admin"
    );
    assert_eq!(v["auth_required"], true);
    // A session from a token has the token's role; a wrong token none.
    let r = bare
        .post(s.url("/api/session"))
        .json(&json!({"token": "nope"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().get("set-cookie").is_none());
    let r = bare
        .post(s.url("/api/session"))
        .json(&json!({"token": USER_TOKEN}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let user_cookie = session_cookie(&r);
    assert_eq!(r.json::<Value>().await.unwrap()["scope"], "write");
    let v = info(user_cookie.clone()).await.1;
    assert_eq!((&v["scope"], &v["admin"]), (&json!("write"), &json!(false)));
    let r = bare
        .get(s.url("/api/plugins"))
        .header("cookie", &user_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "a user session is not an admin");
    // Sessions are stored hashed: the cookie's value is nowhere in the data dir.
    let value = cookie.split_once('=').unwrap().1.to_string();
    for entry in std::fs::read_dir(p.data_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let bytes = std::fs::read(&path).unwrap();
            assert!(
                !bytes.windows(value.len()).any(|w| w == value.as_bytes()),
                "{} holds a session cookie in clear",
                path.display()
            );
        }
    }
    // A restart on the same address keeps the sessions (the dashboard
    // reconnects), and prints a new link.
    s.kill9();
    let s2 = Server::start(&p, &config, Some(&bind), &[]);
    assert_ne!(s2.login_link(), link);
    assert_eq!(info(cookie.clone()).await.0, 200);
    // Signing out ends the session and clears the cookie.
    let r = bare
        .delete(s2.url("/api/session"))
        .header("cookie", &cookie)
        .header("x-paddock-request", "1")
        .header("x-paddock-csrf", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let cleared = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    assert_eq!(info(cookie).await.0, 401, "the session ended");
    assert_eq!(info(user_cookie).await.0, 200, "other sessions go on");
    // The tests give the tokens; a server without them generates the API
    // token into the data dir for the CLI and scripts, mode 0600.
    assert!(
        !p.data_dir().join("api-token").exists(),
        "PADDOCK_TOKEN was given: no file"
    );
    drop(s2);
    let fresh = Paddock::new();
    let mut cmd = fresh.command();
    cmd.args(["serve", "--bind", "127.0.0.1:0", "--config"])
        .arg(&config)
        .stdout(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let token_file = fresh.data_dir().join("api-token");
    let t0 = Instant::now();
    while !token_file.exists() && t0.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    let m = std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777;
    assert_eq!(m, 0o600, "the API token file is private");
}

#[tokio::test]
async fn unsafe_no_auth_is_loopback_only_and_says_so() {
    let p = Paddock::new();
    let s = Server::start_with_args(
        &p,
        &scripted_config(p.data_dir(), "http://127.0.0.1:9/v1", ""),
        None,
        &[],
        &["--unsafe-no-auth"],
    );
    assert!(
        s.banner
            .iter()
            .any(|l| l.starts_with("WARNING: --unsafe-no-auth")),
        "{:?}",
        s.banner
    );
    let r = bare_client().get(s.url("/api/info")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!((&v["scope"], &v["admin"]), (&json!("write"), &json!(false)));
    assert_eq!(v["auth_required"], false);
    // Still no admin without the admin token, and still no cross-site writes.
    let r = bare_client()
        .get(s.url("/api/plugins"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = bare_client()
        .post(s.url("/api/config/system-prompts"))
        .header("origin", "http://evil.example")
        .header("content-type", "text/plain")
        .body(r#"{"name":"p","text":"x"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let out = p.cmd([
        "serve",
        "--unsafe-no-auth",
        "--bind",
        "0.0.0.0:0",
        "--config",
        p.data_dir().join("paddock.toml").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", common::describe(&out));
    assert!(
        common::stderr(&out).contains("--unsafe-no-auth only applies to a loopback bind"),
        "{}",
        common::describe(&out)
    );
}

#[tokio::test]
async fn cross_site_requests_change_nothing() {
    // A worktree workspace with a commit to merge, and an agent.
    let p = Paddock::new();
    let s = serve_offline(&p);
    let repo = tempfile::tempdir().unwrap();
    common::git(repo.path(), &["init", "-q", "-b", "main"]);
    std::fs::write(repo.path().join("f.txt"), "one\n").unwrap();
    common::git(repo.path(), &["add", "."]);
    common::git(
        repo.path(),
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-qm",
            "one",
        ],
    );
    let c = client();
    let (st, ws) = call(
        &c,
        &s,
        Method::POST,
        "/api/workspaces",
        Some(json!({"name": "w", "repo": repo.path()})),
        false,
    )
    .await;
    assert_eq!(st, 201, "{ws}");
    let id = ws["id"].as_str().unwrap().to_string();
    std::fs::write(
        std::path::Path::new(ws["path"].as_str().unwrap()).join("f.txt"),
        "two\n",
    )
    .unwrap();
    let (st, v) = call(
        &c,
        &s,
        Method::POST,
        &format!("/api/workspaces/{id}/commit"),
        Some(json!({"message": "two"})),
        false,
    )
    .await;
    assert_eq!(st, 201, "{v}");
    let main_before = common::git(repo.path(), &["rev-parse", "main"]);
    // A browser session, as the dashboard has.
    let r = bare_client()
        .post(s.url("/api/session"))
        .json(&json!({"token": USER_TOKEN}))
        .send()
        .await
        .unwrap();
    let cookie = session_cookie(&r);
    let csrf = common::csrf_token(&r);
    let host = s.base.trim_start_matches("http://").to_string();
    let bare = bare_client();
    let attempt = |path: String, headers: Vec<(&'static str, String)>| {
        let bare = bare.clone();
        let cookie = cookie.clone();
        let url = s.url(&path);
        async move {
            let mut rb = bare.post(url).header("cookie", cookie).body("");
            for (k, v) in headers {
                rb = rb.header(k, v);
            }
            let r = rb.send().await.unwrap();
            let st = r.status().as_u16();
            (st, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let forms: Vec<Vec<(&'static str, String)>> = vec![
        // A form (or fetch without CORS) from another site.
        vec![
            ("origin", "http://evil.example".into()),
            ("content-type", "text/plain".into()),
        ],
        // Another port of the same host is another origin.
        vec![
            ("origin", "http://127.0.0.1:1".into()),
            ("x-paddock-request", "1".into()),
        ],
        vec![
            ("sec-fetch-site", "cross-site".into()),
            ("content-type", "text/plain".into()),
        ],
        // No origin at all, but nothing a cross-site form could not send.
        vec![("content-type", "application/x-www-form-urlencoded".into())],
    ];
    for headers in &forms {
        for path in [
            format!("/api/workspaces/{id}/merge"),
            format!("/api/workspaces/{id}/backup"),
            "/api/agents/nope/interrupt".to_string(),
        ] {
            let (st, v) = attempt(path.clone(), headers.clone()).await;
            assert_eq!(st, 403, "{path} {headers:?}: {v}");
            assert_eq!(v["error"]["code"], "cross_site_request", "{v}");
        }
    }
    assert_eq!(
        common::git(repo.path(), &["rev-parse", "main"]),
        main_before,
        "main moved"
    );
    let (_, backups) = call(
        &c,
        &s,
        Method::GET,
        &format!("/api/workspaces/{id}/backups"),
        None,
        false,
    )
    .await;
    assert_eq!(backups, json!([]), "a backup was made");
    // The dashboard's own requests pass (with the session's CSRF token).
    let (st, v) = attempt(
        format!("/api/workspaces/{id}/backup"),
        vec![
            ("origin", format!("http://{host}")),
            ("x-paddock-request", "1".to_string()),
        ],
    )
    .await;
    assert_eq!(
        (st, v["error"]["code"].clone()),
        (403, json!("csrf_failed")),
        "{v}"
    );
    let own = vec![
        ("origin", format!("http://{host}")),
        ("x-paddock-request", "1".to_string()),
        ("x-paddock-csrf", csrf.clone()),
    ];
    let (st, v) = attempt(format!("/api/workspaces/{id}/backup"), own.clone()).await;
    assert_eq!(st, 201, "{v}");
    let (st, v) = attempt(format!("/api/workspaces/{id}/merge"), own).await;
    assert_eq!(st, 200, "{v}");
    assert_ne!(
        common::git(repo.path(), &["rev-parse", "main"]),
        main_before
    );
}

/// Opens a WebSocket with extra headers; the HTTP status of a refusal.
async fn ws_open(url: &str, headers: &[(&str, &str)]) -> Result<Ws, u16> {
    let mut req = url.into_client_request().unwrap();
    for (k, v) in headers {
        req.headers_mut().insert(
            tungstenite::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok((ws, _)) => Ok(ws),
        Err(tungstenite::Error::Http(resp)) => Err(resp.status().as_u16()),
        Err(e) => panic!("WebSocket to {url}: {e}"),
    }
}

#[tokio::test]
async fn beyond_loopback_every_route_and_the_websocket_need_the_token() {
    let p = Paddock::new();
    let s = serve(
        &p,
        "http://127.0.0.1:9/v1",
        Some("0.0.0.0:0"),
        &[("PADDOCK_TOKEN", "user-token-abc")],
    );
    let c = bare_client();
    let user_routes: [(&str, &str); 6] = [
        ("GET", "/api/agents"),
        ("GET", "/api/config/agent-templates"),
        ("GET", "/api/config/system-prompts"),
        ("GET", "/api/tools"),
        ("GET", "/api/openapi.json"),
        ("GET", "/api/agents/nope/events"),
    ];
    for (m, path) in user_routes {
        let method = Method::from_bytes(m.as_bytes()).unwrap();
        let r = c.request(method.clone(), s.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 401, "{path} without a token");
        let b: Value = r.json().await.unwrap();
        error_message(&b, path);
        let r = c
            .request(method.clone(), s.url(path))
            .bearer_auth("wrong")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{path} with a wrong token");
        let expected = if path.contains("nope") { 404 } else { 200 };
        for token in ["user-token-abc", ADMIN_TOKEN] {
            let r = c
                .request(method.clone(), s.url(path))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), expected, "{path} with token {token}");
        }
    }
    // Writes too.
    let r = c
        .post(s.url("/api/config/system-prompts"))
        .json(&json!({"name": "p", "text": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = c
        .post(s.url("/api/config/system-prompts"))
        .bearer_auth("user-token-abc")
        .json(&json!({"name": "p", "text": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    // The user token is not an admin token.
    let r = c
        .get(s.url("/api/plugins"))
        .bearer_auth("user-token-abc")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = c
        .get(s.url("/api/plugins"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // The WebSocket.
    let url = s.ws_url_plain();
    assert_eq!(ws_open(&url, &[]).await.err(), Some(401), "no token");
    assert_eq!(
        ws_open(&format!("{url}?token=wrong"), &[]).await.err(),
        Some(401),
        "wrong token"
    );
    let mut ws = ws_open(&format!("{url}?token=user-token-abc"), &[])
        .await
        .expect("token in the query");
    ws_send(&mut ws, json!({"op": "subscribe", "agent_id": "nope"})).await;
    let m = ws_recv(&mut ws).await;
    assert_eq!(m["op"], "error");
    ws_open(&url, &[("authorization", "Bearer user-token-abc")])
        .await
        .expect("token in the header");
    let host = s.base.trim_start_matches("http://").to_string();
    assert_eq!(
        ws_open(
            &format!("{url}?token=user-token-abc"),
            &[("origin", "http://evil.example")]
        )
        .await
        .err(),
        Some(403),
        "foreign origin"
    );
    ws_open(
        &format!("{url}?token=user-token-abc"),
        &[("origin", &format!("http://{host}"))],
    )
    .await
    .expect("own origin");
}

// ---------------------------------------------------------------------------
// 3. Plugins
// ---------------------------------------------------------------------------

/// A `multipart/form-data` body with these parts (name, bytes).
fn multipart(parts: &[(&str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "paddock-test-boundary-7d1f3a";
    let mut body = Vec::new();
    for (name, bytes) in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        body.extend_from_slice(
            format!(
                "Content-Disposition: form-data; name=\"{name}\"; filename=\"{name}\"\r\n\
                 Content-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn upload(
    c: &reqwest::Client,
    s: &Server,
    parts: &[(&str, &[u8])],
    token: Option<&str>,
) -> (u16, Value) {
    let (ctype, body) = multipart(parts);
    let mut rb = c
        .post(s.url("/api/plugins"))
        .header("content-type", ctype)
        .body(body);
    if let Some(t) = token {
        rb = rb.bearer_auth(t);
    }
    let r = rb.send().await.unwrap();
    let st = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        st,
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}")),
    )
}

fn probe_plugin() -> (Vec<u8>, Vec<u8>) {
    let dir = test_plugins_dir().join("probe");
    let manifest = std::fs::read(dir.join("paddock-plugin.toml")).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run ./scripts/build-plugins.sh first",
            dir.display()
        )
    });
    let wasm = std::fs::read(wasm_in(&dir)).unwrap();
    (manifest, wasm)
}

async fn tool_plugins(c: &reqwest::Client, s: &Server) -> BTreeSet<String> {
    let (st, tools) = call(c, s, Method::GET, "/api/tools", None, false).await;
    assert_eq!(st, 200);
    tools
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            assert!(t["name"].is_string(), "{t}");
            t["plugin"].as_str().unwrap().to_string()
        })
        .collect()
}

#[tokio::test]
async fn plugins_install_grant_disable_enable_delete_through_the_api() {
    let p = Paddock::new();
    let s = serve_offline(&p);
    let c = client();
    let (manifest, wasm) = probe_plugin();
    let parts: [(&str, &[u8]); 2] = [("manifest", &manifest), ("component", &wasm)];

    // Refused without the admin token, and nothing installed. (A small
    // body: the server answers before reading it, and a client still
    // writing a large one would see the connection close.)
    let small: [(&str, &[u8]); 2] = [("manifest", &manifest), ("component", b"\0asm")];
    let (st, b) = upload(&bare_client(), &s, &small, None).await;
    assert_eq!(st, 401, "{b}");
    error_message(&b, "upload without a token");
    let (st, b) = upload(&c, &s, &small, Some("wrong")).await;
    assert_eq!(st, 401, "{b}");
    let (st, b) = upload(&c, &s, &small, Some(USER_TOKEN)).await;
    assert_eq!(st, 403, "the user token is not the admin's: {b}");
    let (st, _) = call(&c, &s, Method::GET, "/api/plugins/probe", None, true).await;
    assert_eq!(st, 404);

    // Bad uploads.
    let (st, b) = upload(
        &c,
        &s,
        &[
            ("manifest", &manifest),
            ("component", b"not a wasm component"),
        ],
        Some(ADMIN_TOKEN),
    )
    .await;
    assert_eq!(st, 400, "{b}");
    let m = error_message(&b, "garbage component");
    assert!(
        m.to_lowercase().contains("component") || m.contains("wasm"),
        "the message says what is wrong: {m}"
    );
    let (st, b) = upload(&c, &s, &[("manifest", &manifest)], Some(ADMIN_TOKEN)).await;
    assert_eq!(st, 400, "{b}");
    assert!(error_message(&b, "no component").contains("component"));
    let (st, b) = upload(&c, &s, &[("component", &wasm)], Some(ADMIN_TOKEN)).await;
    assert_eq!(st, 400, "{b}");
    assert!(error_message(&b, "no manifest").contains("manifest"));
    let (st, b) = upload(
        &c,
        &s,
        &[("manifest", b"name = [broken"), ("component", &wasm)],
        Some(ADMIN_TOKEN),
    )
    .await;
    assert_eq!(st, 400, "{b}");
    assert!(error_message(&b, "bad manifest").contains("manifest"));
    let (st, b) = upload(
        &c,
        &s,
        &[
            ("manifest", &manifest),
            ("component", &wasm),
            ("extra", b"x"),
        ],
        Some(ADMIN_TOKEN),
    )
    .await;
    assert_eq!(st, 400, "{b}");
    assert!(error_message(&b, "extra part").contains("extra"));
    let (st, _) = call(&c, &s, Method::GET, "/api/plugins/probe", None, true).await;
    assert_eq!(st, 404, "no bad upload installed anything");

    // Install.
    let (st, info) = upload(&c, &s, &parts, Some(ADMIN_TOKEN)).await;
    assert_eq!(st, 201, "{info}");
    assert_eq!(info["name"], "probe");
    assert_eq!(info["granted"], json!([]), "nothing granted on install");
    assert!(!info["requested"].as_array().unwrap().is_empty());
    let (st, got) = call(&c, &s, Method::GET, "/api/plugins/probe", None, true).await;
    assert_eq!(st, 200);
    assert_eq!(got["sha256"], info["sha256"]);
    assert_eq!(got["enabled"], true);
    let (st, list) = call(&c, &s, Method::GET, "/api/plugins", None, true).await;
    assert_eq!(st, 200);
    let names: BTreeSet<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains("probe") && names.contains("fs-tools"),
        "{names:?}"
    );
    assert!(tool_plugins(&c, &s).await.contains("probe"));

    // Grants.
    let (st, g) = call(
        &c,
        &s,
        Method::PUT,
        "/api/plugins/probe/grants",
        Some(json!({"grants": ["fs:/workspace:ro", "exec"]})),
        true,
    )
    .await;
    assert_eq!(st, 200, "{g}");
    let granted: BTreeSet<&str> = g["granted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(granted, BTreeSet::from(["fs:/workspace:ro", "exec"]));
    for bad in [
        json!({"grants": ["exec", "fs:/workspace:sideways"]}),
        json!({"grants": ["exec", "net:nohost"]}),
        json!({"grants": ["exec", ""]}),
    ] {
        let (st, b) = call(
            &c,
            &s,
            Method::PUT,
            "/api/plugins/probe/grants",
            Some(bad.clone()),
            true,
        )
        .await;
        assert_eq!(st, 400, "{bad}: {b}");
        let m = error_message(&b, "bad grant");
        assert!(m.contains("grants[1]"), "{bad}: {m}");
    }
    let (_, got) = call(&c, &s, Method::GET, "/api/plugins/probe", None, true).await;
    assert_eq!(
        got["granted"], g["granted"],
        "a refused PUT changes nothing"
    );

    // Disable, enable.
    let (st, d) = call(
        &c,
        &s,
        Method::POST,
        "/api/plugins/probe/disable",
        None,
        true,
    )
    .await;
    assert_eq!(st, 200, "{d}");
    assert_eq!(d["enabled"], false);
    let plugins = tool_plugins(&c, &s).await;
    assert!(!plugins.contains("probe"), "{plugins:?}");
    assert!(plugins.contains("fs-tools"));
    let (st, e) = call(
        &c,
        &s,
        Method::POST,
        "/api/plugins/probe/enable",
        None,
        true,
    )
    .await;
    assert_eq!(st, 200, "{e}");
    assert_eq!(e["enabled"], true);
    assert!(tool_plugins(&c, &s).await.contains("probe"));

    // Every admin route refuses the anonymous and the wrong token.
    for (m, path) in [
        (Method::GET, "/api/plugins/probe"),
        (Method::PUT, "/api/plugins/probe/grants"),
        (Method::POST, "/api/plugins/probe/disable"),
        (Method::POST, "/api/plugins/probe/enable"),
        (Method::DELETE, "/api/plugins/probe"),
    ] {
        let (st, b) = call(
            &bare_client(),
            &s,
            m.clone(),
            path,
            Some(json!({"grants": []})),
            false,
        )
        .await;
        assert_eq!(st, 401, "{path}: {b}");
        let (st, b) = call(&c, &s, m.clone(), path, Some(json!({"grants": []})), false).await;
        assert_eq!(st, 403, "{path} with the user token: {b}");
    }
    let (_, got) = call(&c, &s, Method::GET, "/api/plugins/probe", None, true).await;
    assert_eq!(got["granted"], g["granted"]);

    // Delete.
    let (st, b) = call(&c, &s, Method::DELETE, "/api/plugins/probe", None, true).await;
    assert_eq!(st, 204, "{b}");
    let (st, b) = call(&c, &s, Method::GET, "/api/plugins/probe", None, true).await;
    assert_eq!(st, 404, "{b}");
    error_message(&b, "deleted plugin");
    let (st, _) = call(&c, &s, Method::DELETE, "/api/plugins/probe", None, true).await;
    assert_eq!(st, 404);
    assert!(!tool_plugins(&c, &s).await.contains("probe"));
}

// ---------------------------------------------------------------------------
// 4. Templates and system prompts
// ---------------------------------------------------------------------------

#[tokio::test]
async fn templates_and_prompts_crud_and_agents_from_templates() {
    let m = model().await;
    let p = Paddock::new();
    let s = serve(&p, &m.base_url(), None, &[]);
    let c = client();
    let ws1 = tempfile::tempdir().unwrap();
    let ws2 = tempfile::tempdir().unwrap();

    for (kind, body, replacement) in [
        (
            "system-prompts",
            json!({"name": "careful", "text": "Be careful.", "description": "d"}),
            json!({"text": "Be very careful."}),
        ),
        (
            "agent-templates",
            json!({"name": "tmp", "description": "x", "temperature": 0.5}),
            json!({"max_tokens": 100}),
        ),
    ] {
        let base = format!("/api/config/{kind}");
        let one = format!("{base}/{}", body["name"].as_str().unwrap());
        let (st, created) = call(&c, &s, Method::POST, &base, Some(body.clone()), false).await;
        assert_eq!(st, 201, "{kind}: {created}");
        assert_eq!(created["name"], body["name"]);
        assert!(created["created_at"].is_string());
        let (st, dup) = call(&c, &s, Method::POST, &base, Some(body.clone()), false).await;
        assert_eq!(st, 409, "{kind}: {dup}");
        assert_eq!(dup["error"]["code"], "conflict");
        let (st, got) = call(&c, &s, Method::GET, &one, None, false).await;
        assert_eq!(st, 200);
        for (k, v) in body.as_object().unwrap() {
            assert_eq!(&got[k], v, "{kind}.{k}");
        }
        let (st, put) = call(&c, &s, Method::PUT, &one, Some(replacement.clone()), false).await;
        assert_eq!(st, 200, "{put}");
        let (_, got) = call(&c, &s, Method::GET, &one, None, false).await;
        for (k, v) in replacement.as_object().unwrap() {
            assert_eq!(&got[k], v, "{kind}.{k} after PUT");
        }
        assert!(got.get("description").is_none(), "PUT replaces: {got}");
        let (_, list) = call(&c, &s, Method::GET, &base, None, false).await;
        assert_eq!(list.as_array().unwrap().len(), 1);
        assert_eq!(list[0]["name"], body["name"]);
        let (st, _) = call(&c, &s, Method::DELETE, &one, None, false).await;
        assert_eq!(st, 204);
        let (st, b) = call(&c, &s, Method::GET, &one, None, false).await;
        assert_eq!(st, 404, "{b}");
        let (st, _) = call(&c, &s, Method::DELETE, &one, None, false).await;
        assert_eq!(st, 404);
        let (_, list) = call(&c, &s, Method::GET, &base, None, false).await;
        assert_eq!(list, json!([]));
        // PUT creates too.
        let (st, _) = call(&c, &s, Method::PUT, &one, Some(replacement), false).await;
        assert_eq!(st, 200);
    }

    // An agent from a template naming a stored prompt.
    let (st, _) = call(
        &c,
        &s,
        Method::PUT,
        "/api/config/system-prompts/reviewer",
        Some(json!({"text": "You review code."})),
        false,
    )
    .await;
    assert_eq!(st, 200);
    let (st, b) = call(
        &c,
        &s,
        Method::POST,
        "/api/config/agent-templates",
        Some(json!({
            "name": "t",
            "system_prompt_name": "reviewer",
            "temperature": 0.25,
            "max_tokens": 500,
            "workspace": ws1.path(),
            "tools": ["read_file", "list_dir"],
            "limits": {"max_turns": 7}
        })),
        false,
    )
    .await;
    assert_eq!(st, 201, "{b}");
    let (st, a) = call(
        &c,
        &s,
        Method::POST,
        "/api/agents",
        Some(json!({"template": "t"})),
        false,
    )
    .await;
    assert_eq!(st, 201, "{a}");
    let id = a["id"].as_str().unwrap();
    let (st, a) = call(
        &c,
        &s,
        Method::GET,
        &format!("/api/agents/{id}"),
        None,
        false,
    )
    .await;
    assert_eq!(st, 200);
    let cfg = &a["config"];
    assert_eq!(a["name"], "t", "named after the template");
    assert_eq!(cfg["system_prompt"], "You review code.");
    assert_eq!(cfg["temperature"], 0.25);
    assert_eq!(cfg["max_tokens"], 500);
    assert_eq!(cfg["workspace"], ws1.path().display().to_string());
    assert_eq!(cfg["tools"], json!(["read_file", "list_dir"]));
    assert_eq!(cfg["limits"]["max_turns"], 7);
    assert_eq!(
        cfg["model"],
        json!({"provider": "scripted", "model": "scripted"})
    );

    // Request fields override the template's.
    let (st, b) = call(
        &c,
        &s,
        Method::POST,
        "/api/agents",
        Some(json!({
            "template": "t",
            "name": "mine",
            "system_prompt": "Inline prompt.",
            "temperature": 1.5,
            "workspace": ws2.path(),
            "tools": ["write_file"],
        })),
        false,
    )
    .await;
    assert_eq!(st, 201, "{b}");
    let cfg = &b["config"];
    assert_eq!(b["name"], "mine");
    assert_eq!(cfg["system_prompt"], "Inline prompt.");
    assert_eq!(cfg["temperature"], 1.5);
    assert_eq!(cfg["max_tokens"], 500, "kept from the template");
    assert_eq!(cfg["workspace"], ws2.path().display().to_string());
    assert_eq!(cfg["tools"], json!(["write_file"]));
    assert_eq!(cfg["limits"]["max_turns"], 7);

    // A stored prompt named by the request wins over the template's.
    let (st, _) = call(
        &c,
        &s,
        Method::PUT,
        "/api/config/system-prompts/terse",
        Some(json!({"text": "Be terse."})),
        false,
    )
    .await;
    assert_eq!(st, 200);
    let (st, b) = call(
        &c,
        &s,
        Method::POST,
        "/api/agents",
        Some(json!({"template": "t", "system_prompt_name": "terse"})),
        false,
    )
    .await;
    assert_eq!(st, 201, "{b}");
    assert_eq!(b["config"]["system_prompt"], "Be terse.");

    // Both prompt kinds at once is refused, naming both.
    let (st, b) = call(
        &c,
        &s,
        Method::POST,
        "/api/agents",
        Some(json!({"template": "t", "system_prompt_name": "terse", "system_prompt": "x"})),
        false,
    )
    .await;
    assert_eq!(st, 400);
    let m = error_message(&b, "both prompts");
    assert!(m.contains("system_prompt_name"), "{m}");

    let (_, list) = call(&c, &s, Method::GET, "/api/agents", None, false).await;
    assert_eq!(list.as_array().unwrap().len(), 3);
}

// ---------------------------------------------------------------------------
// 5. OpenAPI
// ---------------------------------------------------------------------------

/// The router's REST routes (host/api/src/lib.rs), with their methods.
const ROUTES: &[(&str, &[&str])] = &[
    ("/api/session", &["post", "delete"]),
    ("/api/auth/methods", &["get"]),
    ("/auth/oidc/{name}/login", &["get"]),
    ("/auth/oidc/{name}/callback", &["get"]),
    ("/api/agents", &["get", "post"]),
    ("/api/agents/{id}", &["get", "delete"]),
    ("/api/agents/{id}/messages", &["post"]),
    ("/api/agents/{id}/interrupt", &["post"]),
    ("/api/agents/{id}/retry", &["post"]),
    ("/api/agents/{id}/diff", &["get"]),
    ("/api/agents/{id}/events", &["get"]),
    ("/api/agents/{id}/shares", &["get", "put"]),
    ("/api/config/agent-templates", &["get", "post"]),
    (
        "/api/config/agent-templates/{name}",
        &["get", "put", "delete"],
    ),
    ("/api/config/system-prompts", &["get", "post"]),
    (
        "/api/config/system-prompts/{name}",
        &["get", "put", "delete"],
    ),
    ("/api/plugins", &["get", "post"]),
    ("/api/plugins/{name}", &["get", "delete"]),
    ("/api/plugins/{name}/grants", &["put"]),
    ("/api/plugins/{name}/enable", &["post"]),
    ("/api/plugins/{name}/disable", &["post"]),
    ("/api/plugins/{name}/update", &["get", "post", "delete"]),
    ("/api/plugins/{name}/update/accept", &["post"]),
    ("/api/oci/install", &["post"]),
    ("/api/oci/settings", &["get"]),
    ("/api/oci/updates", &["get"]),
    ("/api/tools", &["get"]),
    ("/api/mcp/servers", &["get", "post"]),
    ("/api/mcp/servers/{name}", &["get", "delete"]),
    ("/api/mcp/servers/{name}/test", &["post"]),
    ("/api/mcp/catalog", &["get"]),
    ("/api/metrics/mcp-health", &["get"]),
    ("/api/metrics/agents", &["get"]),
    ("/api/metrics/agents/{id}", &["get"]),
    ("/api/metrics/usage", &["get"]),
    ("/api/metrics/cost-analysis", &["get"]),
    ("/metrics", &["get"]),
    ("/api/agents/{id}/approvals/{call_id}", &["post"]),
    ("/api/approvals", &["get"]),
    ("/api/audit", &["get"]),
    ("/api/policy/rules", &["get", "post"]),
    ("/api/policy/rules/{id}", &["delete"]),
    ("/api/policy/assess", &["post"]),
    ("/api/openapi.json", &["get"]),
    ("/api/info", &["get"]),
    ("/api/hosts", &["get"]),
    ("/healthz", &["get"]),
    ("/readyz", &["get"]),
    ("/api/demo", &["post"]),
    ("/api/config/providers", &["get", "post"]),
    ("/api/config/providers/test", &["post"]),
    ("/api/config/providers/{name}", &["put", "delete"]),
    ("/api/config/providers/{name}/test", &["post"]),
    ("/api/config/environments", &["get", "post"]),
    ("/api/config/environments/{name}", &["put", "delete"]),
    ("/api/config/default-model", &["get", "put", "delete"]),
    ("/api/config/routers", &["get"]),
    ("/api/config/budgets", &["get", "put"]),
    ("/api/me/keys", &["get"]),
    ("/api/me/keys/{provider}", &["put", "delete"]),
    ("/api/workspaces", &["get", "post"]),
    ("/api/workspaces/{id}", &["get", "delete"]),
    ("/api/workspaces/{id}/files", &["get"]),
    ("/api/workspaces/{id}/diff", &["get"]),
    ("/api/workspaces/{id}/commit", &["post"]),
    ("/api/workspaces/{id}/merge", &["post"]),
    ("/api/workspaces/{id}/backup", &["post"]),
    ("/api/workspaces/{id}/backups", &["get"]),
    ("/api/backups", &["get"]),
    ("/api/backups/{id}", &["delete"]),
    ("/api/backups/{id}/restore", &["post"]),
    ("/api/me", &["get"]),
    ("/api/me/password", &["put"]),
    ("/api/me/tokens", &["get", "post"]),
    ("/api/me/tokens/{id}", &["delete"]),
    ("/api/users", &["get", "post"]),
    ("/api/users/{id}", &["get", "patch", "delete"]),
    ("/api/users/{id}/tokens", &["post"]),
    ("/api/groups", &["get", "post"]),
    ("/api/groups/{id}", &["get", "put", "delete"]),
    ("/api/workflows", &["get", "post"]),
    ("/api/workflows/check", &["post"]),
    ("/api/workflows/{name}", &["get", "put", "delete"]),
    ("/api/workflow-runs", &["get", "post"]),
    ("/api/workflow-runs/{id}", &["get"]),
    ("/api/workflow-runs/{id}/cancel", &["post"]),
    ("/api/workflow-runs/{id}/events", &["get"]),
    ("/api/workflow-runs/{id}/gates/{step}", &["post"]),
    ("/api/evals", &["get"]),
    ("/api/evals/{id}", &["get"]),
    ("/api/evals/{id}/compare/{other}", &["get"]),
    ("/api/evals/{id}/predictions", &["get"]),
];

/// The dashboard at `/` (any non-API path gets the page, with a strict
/// content security policy), `/api/info` (who is asking) and
/// `/api/config/providers` (keys only as set or unset).
#[tokio::test]
async fn dashboard_info_and_providers() {
    let index = concat!(env!("CARGO_MANIFEST_DIR"), "/../dashboard/dist/index.html");
    assert!(
        std::path::Path::new(index).is_file(),
        "build the dashboard first (make test does)"
    );
    let p = Paddock::new();
    let config = scripted_config(p.data_dir(), "http://127.0.0.1:9/v1", "")
        .to_string_lossy()
        .into_owned();
    // A provider whose key variable is set, and the scripted one without.
    let text = std::fs::read_to_string(&config).unwrap()
        + "\n[[providers]]\nname = \"keyed\"\nbase_url = \"http://127.0.0.1:9/v1\"\n\
           api_key_env = \"PADDOCK_TEST_KEY\"\n[[providers.models]]\nname = \"m\"\n";
    std::fs::write(&config, text).unwrap();
    let s = Server::start(
        &p,
        std::path::Path::new(&config),
        None,
        &[("PADDOCK_TEST_KEY", "sk-secret-value-123")],
    );
    let c = client();
    for path in ["/", "/agents/some-id", "/settings"] {
        let r = c.get(s.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let h = r.headers().clone();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"),
            "{csp}"
        );
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert!(h["content-type"].to_str().unwrap().starts_with("text/html"));
        assert!(r.text().await.unwrap().contains("id=\"root\""), "{path}");
    }
    // The page's script is served, cached by content hash.
    let html = c
        .get(s.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let asset = regex::Regex::new(r#"src="(/assets/[^"]+\.js)""#)
        .unwrap()
        .captures(&html)
        .map(|m| m[1].to_string())
        .expect("index.html names its script");
    let r = c.get(s.url(&asset)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("javascript")
    );

    let (st, info) = call(&c, &s, Method::GET, "/api/info", None, false).await;
    assert_eq!(st, 200);
    assert_eq!(
        (&info["scope"], &info["admin"]),
        (&json!("write"), &json!(false))
    );
    assert_eq!(info["auth_required"], true);
    assert_eq!(info["quarantined_agents"], json!([]));
    assert_eq!(info["default_model"]["provider"], "scripted");
    assert_eq!(info["providers_ready"], true);
    let (_, info) = call(&c, &s, Method::GET, "/api/info", None, true).await;
    assert_eq!(
        (&info["scope"], &info["admin"]),
        (&json!("admin"), &json!(true))
    );

    let r = c.get(s.url("/api/config/providers")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(
        !text.contains("sk-secret-value-123"),
        "the key leaked: {text}"
    );
    let providers: Value = serde_json::from_str(&text).unwrap();
    let names: Vec<&str> = providers
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    // The built-in offline demo's provider is listed, marked as such.
    assert_eq!(names, ["demo", "keyed", "scripted"]);
    assert_eq!(providers[0]["source"], "demo");
    assert_eq!(providers[0]["read_only"], true);
    assert_eq!(providers[0]["api_key_set"], false);
    assert_eq!(providers[1]["source"], "config");
    assert_eq!(providers[2]["source"], "config");
    assert_eq!(providers[1]["api_key_env"], "PADDOCK_TEST_KEY");
    assert_eq!(providers[1]["api_key_set"], true);
    assert_eq!(providers[2]["api_key_set"], false);
    assert_eq!(providers[2]["models"][0]["price"]["input_per_mtok"], 1.0);
    assert_eq!(
        providers[2]["models"][0]["price"]["cached_input_per_mtok"],
        0.5
    );
    // No price configured and none known: unknown, not free.
    assert_eq!(providers[1]["models"][0]["price"], Value::Null);
}

#[tokio::test]
async fn openapi_lists_every_rest_route() {
    let p = Paddock::new();
    let s = serve_offline(&p);
    let c = client();
    let r = c.get(s.url("/api/openapi.json")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    let doc: Value = serde_json::from_str(&text).expect("valid JSON");
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3."),
        "{}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().unwrap();
    let documented: BTreeSet<&str> = paths.keys().map(String::as_str).collect();
    let routed: BTreeSet<&str> = ROUTES.iter().map(|(p, _)| *p).collect();
    assert_eq!(documented, routed, "documented paths vs. routes");
    // The table above is the router's own list (less the WebSocket).
    let source =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/api/src/lib.rs")).unwrap();
    let re = regex::Regex::new(r#"\.route\(\s*"([^"]+)""#).unwrap();
    let in_router: BTreeSet<&str> = re
        .captures_iter(&source)
        .map(|c| c.get(1).unwrap().as_str())
        // The WebSocket, and the sign-in link (a page, not an API route).
        .filter(|p| *p != "/api/ws" && *p != "/login")
        .collect();
    assert_eq!(in_router, routed, "the router's routes vs. the table");
    for (path, methods) in ROUTES {
        let item = paths[*path].as_object().unwrap();
        let got: BTreeSet<&str> = item
            .keys()
            .map(String::as_str)
            .filter(|k| ["get", "post", "put", "delete", "patch"].contains(k))
            .collect();
        let want: BTreeSet<&str> = methods.iter().copied().collect();
        assert_eq!(got, want, "methods of {path}");
    }
    // Every route in the table is really served (not a 404 fallback).
    for (path, methods) in ROUTES {
        let concrete = path
            .replace("{id}", "nope")
            .replace("{name}", "nope")
            .replace("{call_id}", "nope")
            .replace("{step}", "nope");
        for m in *methods {
            let method = Method::from_bytes(m.to_uppercase().as_bytes()).unwrap();
            let r = c
                .request(method, s.url(&concrete))
                .bearer_auth(ADMIN_TOKEN)
                .send()
                .await
                .unwrap();
            let st = r.status().as_u16();
            let b: Value = r.json().await.unwrap_or(Value::Null);
            assert!(
                st != 404 || b["error"]["message"] != "no such route",
                "{m} {concrete} is not routed"
            );
            assert!(st < 500, "{m} {concrete}: {st}");
        }
    }
}

// ---------------------------------------------------------------------------
// 6. WebSocket
// ---------------------------------------------------------------------------

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn ws_send(ws: &mut Ws, v: Value) {
    ws.send(tungstenite::Message::Text(v.to_string().into()))
        .await
        .unwrap();
}

/// The next JSON text message (failing after the deadline).
async fn ws_recv(ws: &mut Ws) -> Value {
    let end = tokio::time::Instant::now() + DEADLINE;
    loop {
        let msg = tokio::time::timeout_at(end, ws.next())
            .await
            .expect("a WebSocket message within the deadline")
            .expect("the WebSocket is open")
            .expect("a WebSocket message");
        match msg {
            tungstenite::Message::Text(t) => return serde_json::from_str(t.as_str()).unwrap(),
            tungstenite::Message::Close(c) => panic!("the server closed the WebSocket: {c:?}"),
            _ => continue,
        }
    }
}

/// A subscriber's view: the events it got and its control messages.
#[derive(Default)]
struct Seen {
    events: Vec<Event>,
    deltas: usize,
    other: Vec<Value>,
}

impl Seen {
    fn take(&mut self, m: Value) {
        if m["op"] == "event" {
            let e = event(&m["event"]);
            if matches!(e.body, EventBody::MessageDelta { .. }) {
                self.deltas += 1;
            } else {
                self.events.push(e);
            }
        } else {
            self.other.push(m);
        }
    }
}

#[tokio::test]
async fn websocket_streams_every_event_once_in_order_and_resumes_after_k() {
    let m = model().await;
    let p = Paddock::new();
    let s = serve(&p, &m.base_url(), None, &[]);
    let c = client();
    let ws_dir = tempfile::tempdir().unwrap();

    let mut ws = ws_open(&s.ws_url(), &[]).await.unwrap();
    // Unknown agent; garbage; the connection stays usable.
    ws_send(
        &mut ws,
        json!({"op": "subscribe", "agent_id": "nope", "after": 0}),
    )
    .await;
    let e = ws_recv(&mut ws).await;
    assert_eq!(e["op"], "error", "{e}");
    assert_eq!(e["code"], "not_found", "{e}");
    assert_eq!(e["agent_id"], "nope", "{e}");
    for garbage in [
        "this is not json",
        r#"{"op": "dance"}"#,
        r#"{"op": "subscribe"}"#,
        r#"{"op": "subscribe", "agent_id": "x", "after": "abc"}"#,
        r#"{"op": "message", "agent_id": "x", "text": "hi", "bogus": 1}"#,
    ] {
        ws.send(tungstenite::Message::Text(garbage.into()))
            .await
            .unwrap();
        let e = ws_recv(&mut ws).await;
        assert_eq!(e["op"], "error", "{garbage}: {e}");
        assert_eq!(e["code"], "invalid_request", "{garbage}: {e}");
    }
    ws.send(tungstenite::Message::Binary(vec![1u8, 2, 3].into()))
        .await
        .unwrap();
    assert_eq!(ws_recv(&mut ws).await["op"], "error");
    for op in [
        json!({"op": "message", "agent_id": "nope", "text": "hi"}),
        json!({"op": "interrupt", "agent_id": "nope"}),
    ] {
        ws_send(&mut ws, op.clone()).await;
        let e = ws_recv(&mut ws).await;
        assert_eq!(e["op"], "error", "{op}: {e}");
        assert_eq!(e["code"], "not_found", "{op}: {e}");
    }

    // An agent whose task runs slowly through several tool calls.
    let (st, a) = call(
        &c,
        &s,
        Method::POST,
        "/api/agents",
        Some(json!({"workspace": ws_dir.path(), "task": "build the notes file"})),
        false,
    )
    .await;
    assert_eq!(st, 201, "{a}");
    let id = a["id"].as_str().unwrap().to_string();
    ws_send(
        &mut ws,
        json!({"op": "subscribe", "agent_id": id, "after": 0}),
    )
    .await;
    let first = ws_recv(&mut ws).await;
    assert_eq!(first["op"], "subscribed", "{first}");
    assert_eq!(first["after"], 0);

    let mut seen = Seen::default();
    let mut second: Option<(Ws, u64)> = None;
    while !finished(&seen.events) {
        let msg = ws_recv(&mut ws).await;
        seen.take(msg);
        if second.is_none()
            && let Some(e) = seen.events.last()
            && matches!(e.body, EventBody::ToolResult { .. })
        {
            // A second subscriber joins mid-run after this event.
            let k = e.seq;
            let mut w2 = ws_open(&s.ws_url(), &[]).await.unwrap();
            ws_send(
                &mut w2,
                json!({"op": "subscribe", "agent_id": id, "after": k}),
            )
            .await;
            second = Some((w2, k));
        }
    }
    assert!(seen.other.is_empty(), "{:?}", seen.other);
    let stored = all_events(&c, &s, &id).await;
    let n = stored.last().unwrap().seq;
    assert_eq!(
        seqs(&seen.events),
        (1..=n).collect::<Vec<_>>(),
        "gapless, once each"
    );
    assert_eq!(
        seen.events, stored,
        "the WebSocket's events are the stored ones"
    );
    assert!(seen.deltas > 0, "message.delta events arrive live");
    let results = matching!(stored, EventBody::ToolResult { .. });
    assert_eq!(results.len(), 3, "{stored:?}");
    assert!(
        matching!(results, EventBody::ToolResult { success, .. } => *success)
            .into_iter()
            .all(|ok| ok),
        "{results:?}"
    );
    assert_eq!(
        std::fs::read_to_string(ws_dir.path().join("notes.txt")).unwrap(),
        "hello from the agent\n"
    );

    let (mut w2, k) = second.expect("a tool result arrived");
    let sub = ws_recv(&mut w2).await;
    assert_eq!(sub["op"], "subscribed", "{sub}");
    assert_eq!(sub["after"], k);
    let mut seen2 = Seen::default();
    while seen2.events.last().is_none_or(|e| e.seq < n) {
        let msg = ws_recv(&mut w2).await;
        seen2.take(msg);
    }
    assert_eq!(seqs(&seen2.events), (k + 1..=n).collect::<Vec<_>>());
    assert!(seen2.other.is_empty(), "{:?}", seen2.other);

    // A message over the WebSocket.
    ws_send(
        &mut ws,
        json!({"op": "message", "agent_id": id, "text": "thanks!"}),
    )
    .await;
    let mut ack = None;
    let mut more = Seen::default();
    while ack.is_none() || !finished(&more.events) {
        let msg = ws_recv(&mut ws).await;
        if msg["op"] == "ack" {
            ack = Some(msg);
        } else {
            more.take(msg);
        }
    }
    let ack = ack.unwrap();
    assert_eq!(ack["for"], "message", "{ack}");
    assert_eq!(ack["agent_id"], id.as_str());
    assert_eq!(ack["seq"], n + 1, "{ack}");
    assert_eq!(
        more.events[0].body,
        EventBody::MessageUser {
            text: "thanks!".into()
        }
    );
    let stored = all_events(&c, &s, &id).await;
    let n2 = stored.last().unwrap().seq;
    assert_eq!(seqs(&more.events), (n + 1..=n2).collect::<Vec<_>>());
    let answers = matching!(stored, EventBody::MessageAssistant { text, .. } => text.as_deref());
    assert_eq!(
        answers.last().unwrap(),
        &Some("You are welcome, glad to help.")
    );
    // The second subscriber got them too.
    let mut seen2b = Seen::default();
    while seen2b.events.last().is_none_or(|e| e.seq < n2) {
        let msg = ws_recv(&mut w2).await;
        seen2b.take(msg);
    }
    assert_eq!(seqs(&seen2b.events), (n + 1..=n2).collect::<Vec<_>>());

    // Interrupt (idle: acknowledged, nothing to stop), unsubscribe.
    ws_send(&mut ws, json!({"op": "interrupt", "agent_id": id})).await;
    let ack = ws_recv(&mut ws).await;
    assert_eq!(ack["op"], "ack", "{ack}");
    assert_eq!(ack["for"], "interrupt");
    ws_send(&mut ws, json!({"op": "unsubscribe", "agent_id": id})).await;
    let ack = ws_recv(&mut ws).await;
    assert_eq!(ack["for"], "unsubscribe", "{ack}");
    // Resubscribing from the end gets nothing old: the next message is ours.
    ws_send(
        &mut ws,
        json!({"op": "subscribe", "agent_id": id, "after": n2}),
    )
    .await;
    assert_eq!(ws_recv(&mut ws).await["op"], "subscribed");
    ws_send(&mut ws, json!({"op": "subscribe", "agent_id": "nope"})).await;
    let e = ws_recv(&mut ws).await;
    assert_eq!(e["code"], "not_found", "{e}");
}

// ---------------------------------------------------------------------------
// 7. PostgreSQL
// ---------------------------------------------------------------------------

use common::postgres::PgDb;

fn serve_pg(p: &Paddock, model_url: &str, db: &PgDb) -> Server {
    let config = scripted_config(p.data_dir(), model_url, "");
    Server::start_with_args(p, &config, None, &[], &["--database-url", &db.url])
}

#[tokio::test]
async fn postgres_keeps_agents_and_events_across_a_restart() {
    let db = PgDb::create("paddock_api_test").await;
    let m = model().await;
    let p = Paddock::new();
    let ws = tempfile::tempdir().unwrap();
    let c = client();
    let (id, before) = {
        let s = serve_pg(&p, &m.base_url(), &db);
        let (st, a) = call(
            &c,
            &s,
            Method::POST,
            "/api/agents",
            Some(json!({"workspace": ws.path(), "task": "say hello"})),
            false,
        )
        .await;
        assert_eq!(st, 201, "{a}");
        let id = a["id"].as_str().unwrap().to_string();
        let events = run_to_idle(&c, &s, &id).await;
        assert_eq!(seqs(&events), (1..=events.len() as u64).collect::<Vec<_>>());
        assert!(
            matching!(events, EventBody::MessageAssistant { text, .. } => text.as_deref())
                .contains(&Some("Hello, I am done.")),
            "{events:?}"
        );
        (id, events)
    };
    // Nothing of the store is in the data dir.
    assert!(!p.data_dir().join("paddock.db").exists());
    let s = serve_pg(&p, &m.base_url(), &db);
    let (st, a) = call(
        &c,
        &s,
        Method::GET,
        &format!("/api/agents/{id}"),
        None,
        false,
    )
    .await;
    assert_eq!(st, 200, "{a}");
    assert_eq!(a["status"], "idle");
    assert_eq!(a["last_seq"], before.len() as u64);
    let after = all_events(&c, &s, &id).await;
    assert_eq!(after, before);
    let (_, list) = call(&c, &s, Method::GET, "/api/agents", None, false).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
}
