//! End-to-end: the built-in offline demo (`POST /api/demo`) in the real
//! `paddock serve`, with an empty data dir and no model provider: the demo
//! agent streams, reads, runs the failing tests, edits the bug away, runs
//! them again, asks before deleting `build/` (approved through the API
//! across a `kill -9` and restart of the host), and ends with a summary;
//! the workspace's diff is the fix. After the restart the demo provider is
//! back and a second demo runs (its approval denied this time). The demo
//! model refuses requests without its key.

use crate::common;

use common::events::{AgentStatus, Event, EventBody, event, last_text, matching};
use common::scripted::{DEADLINE, events, get_json, summary, wait_status};
use common::{Paddock, Server};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Starts `paddock serve` on `p` with an empty configuration: no provider.
fn serve(p: &Paddock) -> Server {
    let config = p.data_dir().join("paddock.toml");
    std::fs::write(&config, "").unwrap();
    Server::start(p, &config, None, &[])
}

async fn start_demo(http: &reqwest::Client, server: &Server) -> (String, String, String) {
    let r = http.post(server.url("/api/demo")).send().await.unwrap();
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, 201, "{body}");
    (
        body["agent_id"].as_str().unwrap().to_string(),
        body["workspace_id"].as_str().unwrap().to_string(),
        body["workspace_name"].as_str().unwrap().to_string(),
    )
}

/// The agent's pending approval (waits for it).
async fn pending(http: &reqwest::Client, server: &Server, id: &str) -> Value {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let list = get_json(http, &server.url(&format!("/api/approvals?agent={id}"))).await;
        if let Some(first) = list["approvals"].as_array().and_then(|a| a.first()) {
            return first.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no approval pending for {id}: {}",
            summary(&events(http, server, id).await)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn decide(http: &reqwest::Client, server: &Server, id: &str, call: &str, approved: bool) {
    let r = http
        .post(server.url(&format!("/api/agents/{id}/approvals/{call}")))
        .json(&json!({"approved": approved}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

/// The demo provider as `/api/config/providers` lists it.
async fn demo_provider(http: &reqwest::Client, server: &Server) -> Value {
    let list = get_json(http, &server.url("/api/config/providers")).await;
    let demo: Vec<&Value> = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["source"] == "demo")
        .collect();
    assert_eq!(demo.len(), 1, "{list}");
    demo[0].clone()
}

/// Live events of `id` over the WebSocket until its first approval is
/// requested: how long after `since` the first text delta came, and how
/// many deltas came.
async fn watch_until_approval(server: &Server, id: &str, since: Instant) -> (Duration, usize) {
    let (mut ws, _) = tokio_tungstenite::connect_async(server.ws_url())
        .await
        .unwrap();
    ws.send(tokio_tungstenite::tungstenite::Message::text(
        json!({"op": "subscribe", "agent_id": id, "after": 0}).to_string(),
    ))
    .await
    .unwrap();
    let deadline = tokio::time::Instant::now() + DEADLINE;
    let mut first = None;
    let mut deltas = 0;
    loop {
        let msg = tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("events in time")
            .expect("the socket stays open")
            .unwrap();
        let tokio_tungstenite::tungstenite::Message::Text(text) = msg else {
            continue;
        };
        let v: Value = serde_json::from_str(&text).unwrap();
        if v["op"] != "event" {
            assert_ne!(v["op"], "error", "{v}");
            continue;
        }
        match event(&v["event"]).body {
            EventBody::MessageDelta { .. } => {
                deltas += 1;
                first.get_or_insert_with(|| since.elapsed());
            }
            EventBody::ApprovalRequested { .. } => {
                return (first.expect("text streamed before the approval"), deltas);
            }
            _ => {}
        }
    }
}

/// The tool calls' (tool, arguments) and their results' contents, in order.
fn calls_and_results(evs: &[Event]) -> (Vec<(String, String)>, Vec<String>) {
    let calls =
        matching!(evs, EventBody::MessageAssistant { tool_calls, .. } => tool_calls.clone())
            .into_iter()
            .flatten()
            .map(|c| (c.name.clone(), c.arguments.clone()))
            .collect();
    let results = matching!(evs, EventBody::ToolResult { content, .. } => content.clone());
    (calls, results)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_offline_demo_runs_without_a_provider_and_survives_a_restart() {
    let p = Paddock::new();
    let mut server = serve(&p);
    let http = common::client();

    // No provider is usable: the dashboard would show its setup.
    let info = get_json(&http, &server.url("/api/info")).await;
    assert_eq!(info["providers_ready"], false, "{info}");
    assert_eq!(info["default_model"], Value::Null, "{info}");
    let demo = demo_provider(&http, &server).await;
    assert_eq!(demo["name"], "demo");
    assert_eq!(demo["available"], true);
    assert_eq!(demo["models"][0]["name"], "paddock-demo");
    assert_eq!(demo["models"][0]["price"]["input_per_mtok"], 0.0);

    // The demo model answers only with its key.
    let base = demo["base_url"].as_str().unwrap().to_string();
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    let plain = reqwest::Client::new();
    let ask = json!({"model": "paddock-demo", "messages": [{"role": "user", "content": "hi"}]});
    for key in [None, Some("wrong"), Some(common::USER_TOKEN)] {
        let mut req = plain.post(format!("{base}/chat/completions")).json(&ask);
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 401, "{key:?}");
    }

    // One click: an agent on a new workspace.
    let started = Instant::now();
    let (id, ws_id, ws_name) = start_demo(&http, &server).await;
    assert_eq!(ws_name, "demo");
    let (first_token, deltas) = watch_until_approval(&server, &id, started).await;
    assert!(deltas > 10, "the answers stream in pieces: {deltas}");
    let approval = pending(&http, &server, &id).await;
    let to_approval = started.elapsed();
    assert_eq!(approval["request"]["tool"], "execute_bash", "{approval}");
    assert_eq!(
        approval["request"]["arguments"]["command"], "rm -rf build/",
        "{approval}"
    );
    let agent = get_json(&http, &server.url(&format!("/api/agents/{id}"))).await;
    assert_eq!(agent["status"], "waiting_approval");
    assert_eq!(agent["config"]["model"]["provider"], "demo");
    let ws = get_json(&http, &server.url(&format!("/api/workspaces/{ws_id}"))).await;
    let ws_path = std::path::PathBuf::from(ws["path"].as_str().unwrap());
    assert!(
        ws_path.join("build/lib/stats.py").exists(),
        "not deleted yet"
    );

    // A crash with the approval pending; the demo provider is back after
    // the restart, and the agent goes on once approved.
    server.kill9();
    let server = serve(&p);
    let demo = demo_provider(&http, &server).await;
    assert_eq!(demo["available"], true);
    let info = get_json(&http, &server.url("/api/info")).await;
    assert_eq!(info["providers_ready"], false, "{info}");
    let approval = pending(&http, &server, &id).await;
    let call = approval["call_id"].as_str().unwrap().to_string();
    decide(&http, &server, &id, &call, true).await;
    let evs = wait_status(&http, &server, &id, 0, &["idle", "error"]).await;
    let statuses: Vec<AgentStatus> =
        matching!(evs, EventBody::AgentStatus { status, .. } => *status);
    assert_eq!(
        statuses.last(),
        Some(&AgentStatus::Idle),
        "{}",
        summary(&evs)
    );

    let (calls, results) = calls_and_results(&evs);
    let tools: Vec<&str> = calls.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        tools,
        [
            "read_file",
            "execute_bash",
            "edit_file",
            "execute_bash",
            "execute_bash"
        ],
        "{}",
        summary(&evs)
    );
    assert_eq!(results.len(), 5, "{}", summary(&evs));
    assert!(results[0].contains("def median"), "{}", results[0]);
    assert!(results[1].contains("exit_code: 1"), "{}", results[1]);
    assert!(results[1].contains("FAILED (failures=1)"), "{}", results[1]);
    assert!(results[3].contains("exit_code: 0"), "{}", results[3]);
    assert!(results[3].contains("OK"), "{}", results[3]);
    assert!(results[4].contains("exit_code: 0"), "{}", results[4]);
    let summary_text = last_text(&evs);
    assert!(summary_text.starts_with("## Fixed"), "{summary_text}");
    assert!(
        summary_text.contains("removed the stale `build/`"),
        "{summary_text}"
    );
    assert!(!ws_path.join("build").exists(), "build/ was deleted");

    // The workspace's diff is the fix, and only the fix.
    let diff = get_json(&http, &server.url(&format!("/api/workspaces/{ws_id}/diff"))).await;
    let files: Vec<&str> = diff["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(files, ["stats.py"], "{diff}");
    let text = diff["patch"].as_str().unwrap_or_default();
    assert!(
        text.contains("-    return (ordered[mid] + ordered[mid + 1]) / 2")
            && text.contains("+    return (ordered[mid - 1] + ordered[mid]) / 2"),
        "{diff}"
    );
    // The sample is a git repository with its first commit.
    assert_eq!(
        common::git(&ws_path, &["log", "--format=%s"]),
        "stats: mean and median"
    );

    // A second demo after the restart: a new workspace, and this time the
    // deletion is denied — the model is told and still sums up.
    let second = Instant::now();
    let (id2, _, ws2) = start_demo(&http, &server).await;
    assert_eq!(ws2, "demo-2");
    let approval = pending(&http, &server, &id2).await;
    let call = approval["call_id"].as_str().unwrap().to_string();
    decide(&http, &server, &id2, &call, false).await;
    let evs = wait_status(&http, &server, &id2, 0, &["idle", "error"]).await;
    let whole = second.elapsed();
    let text = last_text(&evs);
    assert!(
        text.contains("you declined deleting `build/`"),
        "{}",
        summary(&evs)
    );

    println!(
        "demo: first token {:.0} ms after POST /api/demo ({deltas} deltas), approval asked after {:.1} s; \
         a whole demo (its approval decided at once) {:.1} s",
        first_token.as_secs_f64() * 1000.0,
        to_approval.as_secs_f64(),
        whole.as_secs_f64()
    );
}
