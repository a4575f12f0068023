//! The real binary: `paddock mcp list|test` against real and broken
//! entries; `paddock serve` with `--mcp-config`: the MCP API (list, add,
//! test, delete, catalogue, health; file entries read-only; API entries
//! surviving a restart), and an agent on the scripted model calling a tool
//! of `@modelcontextprotocol/server-everything` end to end.

use crate::common::mcp_servers::server_everything;
use crate::common::scripted::*;
use crate::common::{ADMIN_TOKEN, Paddock, Server, describe, scripted_config, stderr, stdout};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

fn write_servers(dir: &Path, servers: Value) -> PathBuf {
    let path = dir.join("mcpServers.json");
    std::fs::write(&path, json!({"mcpServers": servers}).to_string()).unwrap();
    path
}

#[test]
fn cli_lists_and_tests_servers_with_clear_errors() {
    let p = Paddock::new();
    let dir = tempfile::tempdir().unwrap();
    let file = write_servers(
        dir.path(),
        json!({
            "everything": {"command": server_everything()},
            "missing": {"command": "paddock-no-such-command-xyz"},
            "unset": {"command": "x", "env": {"T": "${PADDOCK_TEST_SURELY_UNSET}"}},
            "typo": {"url": "http://127.0.0.1:1/mcp", "transport": "websocket"},
            "refused": {"url": "http://127.0.0.1:1/mcp", "startupTimeoutMs": 3000},
        }),
    );
    let f = file.to_str().unwrap();
    let out = p.cmd(["mcp", "list", "--mcp-config", f]);
    assert!(out.status.success(), "{}", describe(&out));
    let list = stdout(&out);
    let everything = server_everything();
    assert!(
        list.contains(&format!(
            "everything\tstdio\tfile\t{}",
            everything.display()
        )),
        "{list}"
    );
    assert!(
        list.contains("unset\tstdio\tfile\tINVALID: MCP server `unset`: environment variable `PADDOCK_TEST_SURELY_UNSET` is not set (used in env.T)"),
        "{list}"
    );
    assert!(list.contains("typo\t?\tfile\tINVALID:"), "{list}");
    assert!(list.contains("websocket"), "{list}");

    let out = p.cmd(["mcp", "test", "everything", "--mcp-config", f]);
    assert!(out.status.success(), "{}", describe(&out));
    let text = stdout(&out);
    assert!(text.starts_with("everything: ok — connected in "), "{text}");
    assert!(text.contains("\n  echo\n"), "{text}");

    for (name, want) in [
        ("missing", "command not found"),
        ("unset", "PADDOCK_TEST_SURELY_UNSET"),
        ("typo", "unknown variant `websocket`"),
        ("refused", "FAILED"),
    ] {
        let out = p.cmd(["mcp", "test", name, "--mcp-config", f]);
        assert_eq!(out.status.code(), Some(1), "{name}: {}", describe(&out));
        assert!(stderr(&out).contains(want), "{name}: {}", describe(&out));
    }
    let out = p.cmd(["mcp", "test", "nope", "--mcp-config", f]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(stderr(&out).contains("no MCP server named `nope`"));

    // Whole-file errors.
    let out = p.cmd([
        "mcp",
        "list",
        "--mcp-config",
        "/nonexistent/mcpServers.json",
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("cannot read /nonexistent/mcpServers.json"),
        "{}",
        describe(&out)
    );
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{\"mcpServers\": ").unwrap();
    let out = p.cmd(["mcp", "list", "--mcp-config", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("not valid JSON"),
        "{}",
        describe(&out)
    );
}

const ECHO_SCRIPT: &str = r#"
model: scripted
tokens_per_second: 0
turns:
  - text: "Asking the MCP server."
    tool_calls: [{name: everything__echo, arguments: {message: "hello from mcp"}}]
  - when: {tool: "hello from mcp"}
    text: "The server echoed it."
"#;

async fn post(http: &reqwest::Client, url: String, body: Value, admin: bool) -> (u16, Value) {
    let mut r = http.post(url).json(&body);
    if admin {
        r = r.bearer_auth(ADMIN_TOKEN);
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_manages_servers_and_an_agent_calls_an_mcp_tool() {
    let model = model(ECHO_SCRIPT).await;
    let p = Paddock::new();
    let config = scripted_config(p.data_dir(), &model.base_url(), "");
    let dir = tempfile::tempdir().unwrap();
    let file = write_servers(
        dir.path(),
        json!({"everything": {"command": server_everything()}}),
    );
    let args = ["--mcp-config", file.to_str().unwrap()];
    let mut server = Server::start_with_args(&p, &config, None, &[], &args);
    let http = crate::common::client();

    // Listed, lazy: not started until an agent needs it.
    let list = get_json(&http, &server.url("/api/mcp/servers")).await;
    assert_eq!(list[0]["name"], "everything");
    assert_eq!(list[0]["source"], "file");
    assert_eq!(list[0]["transport"], "stdio");
    assert_eq!(list[0]["health"]["state"], "idle");

    let catalog = get_json(&http, &server.url("/api/mcp/catalog")).await;
    let github = catalog
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "github")
        .unwrap();
    assert_eq!(
        github["variables"][0]["name"],
        "GITHUB_PERSONAL_ACCESS_TOKEN"
    );
    assert_eq!(github["variables"][0]["secret"], true);

    let (status, report) = post(
        &http,
        server.url("/api/mcp/servers/everything/test"),
        json!({}),
        false,
    )
    .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["ok"], true, "{report}");
    assert!(
        report["tools"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t == "echo")
    );
    assert!(report["ping_ms"].as_f64().unwrap() > 0.0);

    // Adding is for admins, checked, and stored.
    let added = json!({"name": "added", "command": server_everything(), "env": {"LITERAL": "s3cr3t-value"}});
    let (status, _) = post(&http, server.url("/api/mcp/servers"), added.clone(), false).await;
    assert_eq!(status, 403, "the user token is not the admin's");
    let (status, view) = post(&http, server.url("/api/mcp/servers"), added.clone(), true).await;
    assert_eq!(status, 201, "{view}");
    assert_eq!(view["source"], "api");
    assert_eq!(
        view["config"]["env"]["LITERAL"], "[hidden]",
        "literal values are not echoed"
    );
    for (body, code, want) in [
        (added.clone(), 409, "already exists"),
        (
            json!({"name": "everything", "command": "x"}),
            409,
            "from mcpServers.json",
        ),
        (
            json!({"name": "bad", "url": "http://h/x", "transport": "websocket"}),
            400,
            "websocket",
        ),
        (
            json!({"name": "a.b", "command": "x"}),
            400,
            "may only contain",
        ),
        (json!({"command": "x"}), 400, "name: missing"),
        (
            json!({"name": "u", "command": "x", "args": ["${PADDOCK_TEST_SURELY_UNSET}"]}),
            400,
            "PADDOCK_TEST_SURELY_UNSET",
        ),
    ] {
        let (status, err) = post(&http, server.url("/api/mcp/servers"), body.clone(), true).await;
        assert_eq!(status, code, "{body}: {err}");
        assert!(
            err["error"]["message"].as_str().unwrap().contains(want),
            "{body}: {err}"
        );
    }
    let r = http
        .delete(server.url("/api/mcp/servers/everything"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409, "file entries are read-only");

    // An agent with the server gets its tools and calls one.
    let workspace = tempfile::tempdir().unwrap();
    let (status, bad) = post(
        &http,
        server.url("/api/agents"),
        json!({"name": "m", "workspace": workspace.path(), "mcp_servers": ["nope"]}),
        false,
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        bad["error"]["message"]
            .as_str()
            .unwrap()
            .contains("mcp_servers[0]"),
        "{bad}"
    );
    let (status, agent) = post(
        &http,
        server.url("/api/agents"),
        json!({"name": "m", "workspace": workspace.path(), "mcp_servers": ["everything"],
               "task": "Echo something through MCP."}),
        false,
    )
    .await;
    assert_eq!(status, 201, "{agent}");
    let id = agent["id"].as_str().unwrap();
    let evs = wait_status(&http, &server, id, 0, &["idle", "error"]).await;
    let calls = matching!(evs, EventBody::ToolCall { tool, arguments, .. } => (tool, arguments));
    assert_eq!(calls.len(), 1, "{}", summary(&evs));
    assert_eq!(calls[0].0, "everything__echo");
    assert_eq!(calls[0].1["message"], "hello from mcp");
    let results =
        matching!(evs, EventBody::ToolResult { success, content, .. } => (*success, content));
    assert!(results[0].0, "{}", summary(&evs));
    assert!(results[0].1.contains("hello from mcp"), "{}", summary(&evs));
    assert_eq!(last_text(&evs), "The server echoed it.");
    // The model was offered the server's tools with their schemas.
    let requests = model.requests();
    let tools = requests[0]["tools"].as_array().unwrap();
    let echo = tools
        .iter()
        .find(|t| t["function"]["name"] == "everything__echo")
        .expect("everything__echo offered");
    assert_eq!(echo["function"]["parameters"]["type"], "object");

    let health = get_json(&http, &server.url("/api/metrics/mcp-health")).await;
    assert_eq!(health["everything"]["state"], "running", "{health}");
    assert!(
        health["everything"]["calls_ok"].as_u64().unwrap() >= 1,
        "{health}"
    );
    assert!(
        health["everything"]["latency_p50_ms"].as_f64().is_some(),
        "{health}"
    );

    // API entries survive a restart; deleting one removes it.
    server.kill9();
    let server = Server::start_with_args(&p, &config, None, &[], &args);
    let view = get_json(&http, &server.url("/api/mcp/servers/added")).await;
    assert_eq!(view["source"], "api", "{view}");
    let r = http
        .delete(server.url("/api/mcp/servers/added"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = http
        .get(server.url("/api/mcp/servers/added"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}
