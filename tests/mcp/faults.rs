//! Supervision against misbehaving servers (the stdlib-only fault server in
//! `tests/fixtures/mcp/`): a server that exits at start, hangs at start,
//! crashes mid-call, hangs in a call, prints garbage on stdout, or flags an
//! error; interruption cancelling a call; one broken server never blocking
//! another. Each is contained, reported, and restarted where it can be.

use crate::common::mcp_servers::fault_server;
use paddock_mcp::{FileSource, McpError, McpManager, State};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

fn fault(mode: &str, extra: Value) -> Value {
    let mut v = json!({"command": "python3", "args": [fault_server(), mode]});
    if let (Some(v), Value::Object(extra)) = (v.as_object_mut(), extra) {
        v.extend(extra);
    }
    v
}

/// A manager over an mcpServers.json holding `servers` (no store, no
/// adapters).
pub async fn manager(servers: Value) -> (tempfile::TempDir, Arc<McpManager>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mcpServers.json");
    std::fs::write(&path, json!({"mcpServers": servers}).to_string()).unwrap();
    let m = McpManager::open(
        Some(&FileSource {
            path,
            required: true,
        }),
        None,
        None,
    )
    .await
    .unwrap();
    (dir, m)
}

async fn wait_for(m: &McpManager, server: &str, what: impl Fn(&paddock_mcp::Health) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let h = m.view(server).unwrap().health;
        if what(&h) {
            return;
        }
        assert!(Instant::now() < deadline, "{server}: still {h:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn call(m: &Arc<McpManager>, tool: &str, args: Value) -> Result<(bool, String), McpError> {
    m.call(tool, args, &CancellationToken::new())
        .await
        .map(|o| (o.is_error, o.text))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_exits_at_start_is_reported_and_restarted_with_backoff() {
    let (_d, m) = manager(json!({"dead": fault("exit-at-start", json!({}))})).await;
    let started = Instant::now();
    assert!(m.tools_for(&["dead".into()]).await.is_empty());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let h = m.view("dead").unwrap().health;
    let err = h.last_error.unwrap();
    assert!(err.contains("start-up failed"), "{err}");
    assert!(
        err.contains("stderr ended with"),
        "stderr is part of the reason: {err}"
    );
    // A call says why, at once.
    let e = call(&m, "dead__echo", json!({}))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("MCP server `dead` is unavailable"), "{e}");
    // Restarted after 1 s, then 2 s…
    wait_for(&m, "dead", |h| h.restarts >= 2).await;
    assert!(started.elapsed() >= Duration::from_secs(1));
    m.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_hangs_at_start_times_out() {
    let (_d, m) = manager(json!({
        "stuck": fault("hang-at-start", json!({"startupTimeoutMs": 1000})),
        "ok": fault("ok", json!({})),
    }))
    .await;
    let started = Instant::now();
    // One broken server does not hold up the other's tools beyond its own
    // start-up timeout.
    let tools = m.tools_for(&["stuck".into(), "ok".into()]).await;
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();
    assert!(names.contains(&"ok__echo"), "{names:?}");
    assert!(!names.iter().any(|n| n.starts_with("stuck__")), "{names:?}");
    wait_for(&m, "stuck", |h| {
        h.last_error
            .as_deref()
            .is_some_and(|e| e.contains("did not finish starting within 1s"))
    })
    .await;
    m.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_mid_call_is_contained_and_the_server_restarted() {
    let (_d, m) = manager(json!({"ok": fault("ok", json!({}))})).await;
    assert!(!m.tools_for(&["ok".into()]).await.is_empty());
    let (is_error, text) = call(&m, "ok__echo", json!({"message": "before"}))
        .await
        .unwrap();
    assert!(!is_error);
    assert!(text.contains("before"), "{text}");
    let e = call(&m, "ok__crash", json!({}))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("MCP server `ok`"), "{e}");
    wait_for(&m, "ok", |h| h.restarts >= 1 && h.state == State::Running).await;
    let (_, text) = call(&m, "ok__echo", json!({"message": "after"}))
        .await
        .unwrap();
    assert!(text.contains("after"), "{text}");
    let h = m.view("ok").unwrap().health;
    assert!(h.calls_ok >= 2 && h.calls_failed >= 1, "{h:?}");
    assert!(h.latency_p50_ms.is_some() && h.latency_p99_ms.is_some());
    m.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_call_times_out_and_the_server_keeps_serving() {
    let (_d, m) = manager(json!({"ok": fault("ok", json!({"toolTimeoutMs": 1000}))})).await;
    m.tools_for(&["ok".into()]).await;
    let started = Instant::now();
    let e = call(&m, "ok__hang", json!({}))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("timed out after 1s"), "{e}");
    assert!(started.elapsed() < Duration::from_secs(5));
    // The server still answers pings, so it is not restarted.
    let (_, text) = call(&m, "ok__echo", json!({"message": "still here"}))
        .await
        .unwrap();
    assert!(text.contains("still here"));
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(m.view("ok").unwrap().health.restarts, 0);
    m.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupting_cancels_a_running_call() {
    let (_d, m) = manager(json!({"ok": fault("ok", json!({}))})).await;
    m.tools_for(&["ok".into()]).await;
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        t.cancel();
    });
    let started = Instant::now();
    let e = m
        .call("ok__slow", json!({"seconds": 30}), &token)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("cancelled"), "{e}");
    assert!(started.elapsed() < Duration::from_secs(5));
    let (_, text) = call(&m, "ok__echo", json!({"message": "next"}))
        .await
        .unwrap();
    assert!(text.contains("next"));
    m.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_on_stdout_is_skipped_and_error_results_are_flagged() {
    let (_d, m) = manager(json!({"noisy": fault("garbage", json!({}))})).await;
    let tools = m.tools_for(&["noisy".into()]).await;
    assert!(tools.iter().any(|t| t.name == "noisy__echo"), "{tools:?}");
    let (is_error, text) = call(&m, "noisy__echo", json!({"message": "clean"}))
        .await
        .unwrap();
    assert!(!is_error);
    assert!(text.contains("clean"), "{text}");
    let (is_error, _) = call(&m, "noisy__fail", json!({})).await.unwrap();
    assert!(is_error, "isError results are flagged");
    m.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tools_list_changed_refreshes_the_tools() {
    let (_d, m) = manager(json!({"ok": fault("ok", json!({}))})).await;
    let tools = m.tools_for(&["ok".into()]).await;
    assert!(!tools.iter().any(|t| t.name == "ok__grown-1"));
    let (_, text) = call(&m, "ok__grow", json!({})).await.unwrap();
    assert_eq!(text, "grew grown-1");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !m
        .view("ok")
        .unwrap()
        .tools
        .iter()
        .any(|t| t.name == "ok__grown-1")
    {
        assert!(Instant::now() < deadline, "the new tool never appeared");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (_, text) = call(&m, "ok__grown-1", json!({})).await.unwrap();
    assert_eq!(text, "hello from grown-1");
    m.shutdown().await;
}
