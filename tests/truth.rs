//! End-to-end: what the server tells about an agent is true. A subscriber
//! joining mid-answer gets the answer so far; a command that exits
//! non-zero is a failed result with its exit code; a run stopped by a
//! limit is `limited`, not `error`, and the list says why; a failed run is
//! retried without a new user message; the diff of an agent on a plain
//! directory shows what it changed; the person who opened the printed
//! sign-in link is the admin.

use crate::common;

use common::scripted::*;
use common::{Paddock, Server, scripted_config, session_cookie};
use futures::{SinkExt, StreamExt};
use paddock_protocol::events::ErrorCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A WebSocket subscribed to `id` after `after`.
async fn subscribe(server: &Server, id: &str, after: u64) -> Ws {
    let (mut ws, _) = tokio_tungstenite::connect_async(server.ws_url())
        .await
        .unwrap();
    ws.send(Message::text(
        json!({"op": "subscribe", "agent_id": id, "after": after}).to_string(),
    ))
    .await
    .unwrap();
    ws
}

/// The next event a subscription delivers.
async fn next_event(ws: &mut Ws) -> Event {
    loop {
        let msg = tokio::time::timeout(DEADLINE, ws.next())
            .await
            .expect("an event in time")
            .expect("the socket stays open")
            .unwrap();
        let Message::Text(text) = msg else { continue };
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_ne!(v["op"], "error", "{v}");
        assert_ne!(v["op"], "lagged", "{v}");
        if v["op"] == "event" {
            return event(&v["event"]);
        }
    }
}

/// The text deltas a subscription delivers until the answer is stored,
/// and that answer's text.
async fn deltas_until_answer(ws: &mut Ws) -> (Vec<String>, String) {
    let mut deltas = Vec::new();
    loop {
        match next_event(ws).await.body {
            EventBody::MessageDelta { text } => deltas.push(text),
            EventBody::MessageAssistant { text, .. } => {
                return (deltas, text.unwrap_or_default());
            }
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_joining_mid_answer_gets_the_whole_answer_so_far_then_the_rest() {
    let words: Vec<String> = (0..80).map(|i| format!("word{i} ")).collect();
    let answer = words.concat();
    let s = setup(
        &format!("turns:\n  - text: \"{answer}\"\n    tokens_per_second: 25\n"),
        "",
        &[],
    )
    .await;
    let id = s.create("talk slowly").await;
    // A first subscriber watches the answer start streaming.
    let mut early = subscribe(&s.server, &id, 0).await;
    let mut seen = String::new();
    while !seen.contains("word3 ") {
        if let EventBody::MessageDelta { text } = next_event(&mut early).await.body {
            seen.push_str(&text);
        }
    }
    // A second one joins (a reload) well into the answer.
    let mut late = subscribe(&s.server, &id, 0).await;
    let (late_deltas, stored) = deltas_until_answer(&mut late).await;
    assert!(
        stored.starts_with("word0 ") && stored.contains("word79"),
        "{stored}"
    );
    let first = late_deltas.first().expect("deltas");
    assert!(
        first.starts_with("word0 word1 word2 word3 "),
        "the first delta is the answer so far: {first:?}"
    );
    assert_eq!(
        late_deltas.concat(),
        stored,
        "no gap, no duplicate: {late_deltas:?}"
    );
    let (early_rest, _) = deltas_until_answer(&mut early).await;
    assert_eq!(seen + &early_rest.concat(), stored);
    // Joining after the answer: no partial is sent again.
    let evs = s.wait_status(&id, 0, &["idle"]).await;
    let mut after = subscribe(&s.server, &id, 0).await;
    let mut replayed = 0;
    while replayed < evs.len() {
        let e = next_event(&mut after).await;
        assert!(e.body.is_durable(), "a delta after the answer: {e:?}");
        replayed += 1;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_run_is_retried_without_a_new_message_and_the_list_says_why_it_failed() {
    // The provider tries 7 times (max_retries 6): the first call fails.
    let s = setup(
        "turns:\n  - text: \"Finally.\"\n    fault: {type: server_error, times: 7}\n",
        "",
        &[],
    )
    .await;
    let id = s.create("try hard").await;
    let evs = s.wait_status(&id, 2, &["idle", "error"]).await;
    assert_eq!(last_status(&evs), AgentStatus::Error, "{}", summary(&evs));
    // The retries carry their figures.
    let retries = matching!(evs, EventBody::Error { code, attempt, max_attempts, retry_in_ms, .. }
        if *code == ErrorCode::ModelRetry => (*attempt, *max_attempts, retry_in_ms.is_some()));
    assert_eq!(retries.len(), 6, "{}", summary(&evs));
    for (n, r) in retries.iter().enumerate() {
        assert_eq!(*r, (Some(n as u32 + 1), Some(7), true));
    }
    // The list and the agent say why.
    let list = s.get("/api/agents").await;
    let row = list
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == id.as_str())
        .unwrap();
    assert_eq!(row["status"], "error");
    assert_eq!(row["error_code"], "model_failed", "{row}");
    assert!(
        row["status_reason"]
            .as_str()
            .unwrap()
            .contains("the model call failed"),
        "{row}"
    );
    // Retry: no new user message, the agent finishes.
    let url = s.server.url(&format!("/api/agents/{id}/retry"));
    let r = s.http.post(&url).json(&json!({})).send().await.unwrap();
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());
    let seq = r.json::<Value>().await.unwrap()["seq"].as_u64().unwrap();
    let evs = s.wait_status(&id, seq, &["idle", "error"]).await;
    assert_eq!(last_status(&evs), AgentStatus::Idle, "{}", summary(&evs));
    assert_eq!(last_text(&evs), "Finally.");
    assert_eq!(matching!(evs, EventBody::MessageUser { .. }).len(), 1);
    assert!(
        statuses(&evs)
            .iter()
            .any(|(st, reason)| *st == AgentStatus::Thinking
                && reason.as_deref() == Some("retry requested by user (REST)")),
        "{}",
        summary(&evs)
    );
    let agent = s.agent(&id).await;
    assert_eq!(agent["status"], "idle");
    assert!(agent.get("error_code").is_none(), "{agent}");
    // The audit log names who asked (the service token: the local account).
    let audit = s.get(&format!("/api/audit?agent={id}")).await;
    let retry = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "agent" && e["action"] == "retry")
        .unwrap_or_else(|| panic!("no retry in the audit log: {audit}"));
    assert_eq!(retry["actor"], "user (REST)", "{retry}");
    assert_eq!(retry["user_id"], "local", "{retry}");
    assert_eq!(retry["detail"]["seq"], seq, "{retry}");
    // Nothing to retry now.
    let r = s.http.post(&url).json(&json!({})).send().await.unwrap();
    assert_eq!(r.status(), 409);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "conflict", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("did not fail"),
        "{body}"
    );
    // A deleted agent refuses interrupts and retries; a missing one is 404.
    let r = s
        .http
        .delete(s.server.url(&format!("/api/agents/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    for op in ["interrupt", "retry"] {
        let r = s
            .http
            .post(s.server.url(&format!("/api/agents/{id}/{op}")))
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 409, "{op}");
    }
    let r = s
        .http
        .get(s.server.url("/api/agents/no-such-agent"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found", "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_stopped_by_a_limit_is_limited_and_can_be_retried() {
    let s = setup(
        r#"
turns:
  - tool_calls: [{name: write_file, arguments: {path: a.txt, content: "a\n"}}]
  - text: "Done."
"#,
        "",
        &[],
    )
    .await;
    let id = s
        .create_with("write a", json!({"limits": {"max_turns": 1}}))
        .await;
    let evs = s.wait_status(&id, 2, &["idle", "error", "limited"]).await;
    assert_eq!(last_status(&evs), AgentStatus::Limited, "{}", summary(&evs));
    let agent = s.agent(&id).await;
    assert_eq!(agent["status"], "limited");
    assert_eq!(agent["error_code"], "limit_turns", "{agent}");
    assert!(agent["status_reason"].is_string(), "{agent}");
    // A retry gets a fresh turn budget: the model answers.
    let r = s
        .http
        .post(s.server.url(&format!("/api/agents/{id}/retry")))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let seq = r.json::<Value>().await.unwrap()["seq"].as_u64().unwrap();
    let evs = s.wait_status(&id, seq, &["idle", "error", "limited"]).await;
    assert_eq!(last_text(&evs), "Done.", "{}", summary(&evs));
    assert_eq!(matching!(evs, EventBody::MessageUser { .. }).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_diff_of_an_agent_on_a_plain_directory_shows_what_it_changed() {
    let s = setup(
        r#"
turns:
  - tool_calls:
      - {name: write_file, arguments: {path: new.txt, content: "brand new\n"}}
      - {name: edit_file, arguments: {path: old.txt, old_string: "before", new_string: "after"}}
  - text: "Changed two files."
"#,
        "",
        &[],
    )
    .await;
    let ws = s.workspace.path();
    std::fs::write(ws.join("old.txt"), "before\n").unwrap();
    std::fs::write(ws.join("untouched.txt"), "same\n").unwrap();
    assert!(!ws.join(".git").exists(), "a plain directory");
    let id = s.create("change files").await;
    let evs = s.wait_status(&id, 2, &["idle", "error"]).await;
    assert_eq!(last_status(&evs), AgentStatus::Idle, "{}", summary(&evs));
    let diff = s.get(&format!("/api/agents/{id}/diff")).await;
    let files: Vec<(&str, &str)> = diff["files"]
        .as_array()
        .unwrap_or_else(|| panic!("{diff}"))
        .iter()
        .map(|f| (f["path"].as_str().unwrap(), f["status"].as_str().unwrap()))
        .collect();
    assert!(files.contains(&("new.txt", "added")), "{diff}");
    assert!(files.contains(&("old.txt", "modified")), "{diff}");
    assert!(!files.iter().any(|(p, _)| *p == "untouched.txt"), "{diff}");
    assert!(
        !files.iter().any(|(p, _)| p.starts_with(".paddock")),
        "{diff}"
    );
    let patch = diff["patch"].as_str().unwrap();
    assert!(patch.contains("+brand new"), "{patch}");
    assert!(
        patch.contains("-before") && patch.contains("+after"),
        "{patch}"
    );
    assert_eq!(diff["against"], "the agent started");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tool_result_tells_its_run_time_from_its_wait_for_approval() {
    let s = setup(
        r#"
turns:
  - tool_calls: [{name: write_file, arguments: {path: .env, content: "TOKEN=1\n"}}]
  - text: "Written."
"#,
        "",
        &[],
    )
    .await;
    let id = s.create("write the env file").await;
    // Wait for the approval, then approve it.
    let started = Instant::now();
    let call = loop {
        let list = s.get(&format!("/api/approvals?agent={id}")).await;
        if let Some(a) = list["approvals"].as_array().and_then(|a| a.first()) {
            break a["call_id"].as_str().unwrap().to_string();
        }
        assert!(started.elapsed() < DEADLINE, "no approval asked: {list}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let r = s
        .http
        .post(s.server.url(&format!("/api/agents/{id}/approvals/{call}")))
        .json(&json!({"approved": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let evs = s.wait_status(&id, 2, &["idle", "error"]).await;
    let results = matching!(evs, EventBody::ToolResult { success, approval_wait_ms, exit_code, .. }
        => (*success, approval_wait_ms.is_some(), *exit_code));
    assert_eq!(results, [(true, true, None)], "{}", summary(&evs));
}

#[tokio::test]
async fn the_person_who_opened_the_printed_link_manages_mcp_servers_and_a_user_does_not() {
    let p = Paddock::new();
    let port = common::mcp_servers::free_port();
    let bind = format!("127.0.0.1:{port}");
    let config = scripted_config(p.data_dir(), "http://127.0.0.1:9/v1", "");
    let s = Server::start(&p, &config, Some(&bind), &[]);
    let bare = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = bare.get(s.login_link()).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let cookie = session_cookie(&r);
    let csrf = common::csrf_token(&r);
    let add = |(cookie, csrf): (String, String), name: &'static str| {
        let bare = bare.clone();
        let url = s.url("/api/mcp/servers");
        async move {
            let r = bare
                .post(url)
                .header("cookie", cookie)
                .header("x-paddock-csrf", csrf)
                .json(&json!({"name": name, "command": "/bin/true"}))
                .send()
                .await
                .unwrap();
            let st = r.status().as_u16();
            (st, r.text().await.unwrap())
        }
    };
    let (st, body) = add((cookie.clone(), csrf.clone()), "operator").await;
    assert_eq!(st, 201, "the link's session is the admin: {body}");
    // A session from the user token is not.
    let r = bare
        .post(s.url("/api/session"))
        .json(&json!({"token": common::USER_TOKEN}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let user = (session_cookie(&r), common::csrf_token(&r));
    let (st, body) = add(user, "user").await;
    assert_eq!(st, 403, "{body}");
    assert!(body.contains("\"forbidden\""), "not the CSRF check: {body}");
}
