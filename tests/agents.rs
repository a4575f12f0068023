//! End-to-end: the real `paddock serve` runs agents against the scripted
//! model with the built-in file tools: a read-edit-verify task, parallel
//! tool calls, every model fault (recovered, no tool run twice), a repeated
//! failing call, an interrupt mid-stream, `kill -9` mid-run and restart,
//! 50 agents at once, secret redaction, context masking, and `paddock run`.

use crate::common;

use common::scripted::*;
use common::{Paddock, Server, scripted_config};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

fn assert_gapless(evs: &[Event]) {
    let seqs = seqs(evs);
    let want: Vec<u64> = (1..=seqs.len() as u64).collect();
    assert_eq!(seqs, want, "seqs are 1..N without gaps or duplicates");
}

/// Every executed call has exactly one `tool.call` and one `tool.result`.
fn assert_each_call_ran_once(evs: &[Event]) {
    let mut calls: BTreeMap<String, usize> = BTreeMap::new();
    for call_id in matching!(evs, EventBody::ToolCall { call_id, .. } => call_id) {
        *calls.entry(call_id.clone()).or_default() += 1;
    }
    for (id, n) in &calls {
        assert_eq!(*n, 1, "call {id} started {n} times:\n{}", summary(evs));
    }
    let mut results: BTreeMap<String, usize> = BTreeMap::new();
    for call_id in matching!(evs, EventBody::ToolResult { call_id, .. } => call_id) {
        *results.entry(call_id.clone()).or_default() += 1;
    }
    for (id, n) in &results {
        assert_eq!(*n, 1, "call {id} has {n} results:\n{}", summary(evs));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_reads_edits_and_verifies_a_file() {
    let s = setup(
        r#"
turns:
  - text: "Let me read the file."
    tool_calls: [{name: read_file, arguments: {path: config.txt}}]
  - tool_calls: [{name: edit_file, arguments: {path: config.txt, old_string: "red", new_string: "blue"}}]
  - tool_calls: [{name: read_file, arguments: {path: config.txt}}]
  - when: {tool: "color = blue"}
    text: "The color is now blue."
"#,
        "",
        &[],
    )
    .await;
    std::fs::write(s.workspace.path().join("config.txt"), "color = red\n").unwrap();
    let id = s.create("Make the color blue").await;
    let evs = s.wait_status(&id, 2, &["idle", "error"]).await;
    assert_eq!(
        last_text(&evs),
        "The color is now blue.",
        "{}",
        summary(&evs)
    );
    assert_eq!(
        std::fs::read_to_string(s.workspace.path().join("config.txt")).unwrap(),
        "color = blue\n"
    );
    assert_gapless(&evs);
    assert_each_call_ran_once(&evs);
    let results = matching!(evs, EventBody::ToolResult { success, .. } => *success);
    assert_eq!(results.len(), 3);
    assert!(results.iter().all(|ok| *ok), "{}", summary(&evs));
    assert_eq!(matching!(evs, EventBody::Usage { .. }).len(), 4);
    let agent = s.agent(&id).await;
    assert_eq!(agent["status"], "idle");
    assert_eq!(agent["usage"]["model_calls"], 4);
    assert_eq!(agent["usage"]["tool_calls"], 3);
    assert!(
        agent["usage"]["cost_usd"].as_f64().unwrap() > 0.0,
        "{agent}"
    );
    // The tools went out sorted, with the per-agent cache key.
    let reqs = s.model.requests();
    assert_eq!(reqs[0]["prompt_cache_key"], format!("paddock-{id}"));
    let names: Vec<&str> = reqs[0]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    assert!(names.contains(&"edit_file"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_tool_calls_all_run_in_order_and_all_answer() {
    let s = setup(
        r#"
turns:
  - tool_calls:
      - {name: read_file, arguments: {path: a.txt}}
      - {name: read_file, arguments: {path: b.txt}}
      - {name: list_dir, arguments: {path: "."}}
  - text: "Read both."
"#,
        "",
        &[],
    )
    .await;
    std::fs::write(s.workspace.path().join("a.txt"), "alpha\n").unwrap();
    std::fs::write(s.workspace.path().join("b.txt"), "beta\n").unwrap();
    let id = s.create("read a and b").await;
    let evs = s.wait_status(&id, 2, &["idle", "error"]).await;
    assert_eq!(last_text(&evs), "Read both.", "{}", summary(&evs));
    assert_each_call_ran_once(&evs);
    let answers = matching!(evs, EventBody::MessageAssistant { tool_calls, .. } => tool_calls);
    let call_ids: Vec<&str> = answers[0].iter().map(|c| c.id.as_str()).collect();
    assert_eq!(call_ids.len(), 3);
    let result_ids: Vec<&str> =
        matching!(evs, EventBody::ToolResult { call_id, .. } => call_id.as_str());
    assert_eq!(result_ids, call_ids, "results in the model's order");
    // The model's second request answers all three calls, in order.
    let second = &s.model.requests()[1];
    let tool_msgs: Vec<&Value> = second["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "tool")
        .collect();
    let answered: Vec<&str> = tool_msgs
        .iter()
        .map(|m| m["tool_call_id"].as_str().unwrap())
        .collect();
    assert_eq!(answered, call_ids);
    assert!(tool_msgs[0]["content"].as_str().unwrap().contains("alpha"));
    assert!(tool_msgs[1]["content"].as_str().unwrap().contains("beta"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_model_fault_is_recovered_and_no_tool_runs_twice() {
    let s = setup(
        r#"
turns:
  - tool_calls: [{name: write_file, arguments: {path: one.txt, content: "one\n"}}]
    fault: {type: rate_limit, retry_after: 1, times: 1}
  - tool_calls: [{name: write_file, arguments: {path: two.txt, content: "two\n"}}]
    fault: {type: cut, times: 1}
  - tool_calls: [{name: edit_file, arguments: {path: two.txt, old_string: "two", new_string: "TWO"}}]
    fault: {type: server_error, times: 2}
  - tool_calls: [{name: read_file, raw_arguments: '{"path": "one.txt"'}]
  - when: {tool: "invalid arguments"}
    text: "Recovered from everything."
    fault: {type: hang, times: 1}
"#,
        "",
        &[],
    )
    .await;
    let id = s.create("survive the faults").await;
    let evs = s.wait_status(&id, 2, &["idle", "error"]).await;
    assert_eq!(
        last_text(&evs),
        "Recovered from everything.",
        "{}",
        summary(&evs)
    );
    assert_gapless(&evs);
    assert_each_call_ran_once(&evs);
    let ws = s.workspace.path();
    assert_eq!(
        std::fs::read_to_string(ws.join("one.txt")).unwrap(),
        "one\n"
    );
    assert_eq!(
        std::fs::read_to_string(ws.join("two.txt")).unwrap(),
        "TWO\n"
    );
    // 429, cut, 500 twice, hang: five retries, each recorded.
    let retries = matching!(evs, EventBody::Error { code, recoverable: true, .. }
        if *code == paddock_protocol::events::ErrorCode::ModelRetry => ())
    .len();
    assert_eq!(retries, 5, "{}", summary(&evs));
    // The malformed call never ran; the model was told why.
    let bad = matching!(evs, EventBody::ToolResult { success: false, content, .. } => content);
    let bad = bad.first().expect("a failed result for the malformed call");
    assert!(bad.contains("invalid arguments"));
    assert_eq!(matching!(evs, EventBody::ToolCall { .. }).len(), 3);
    let stats = s.model.stats();
    assert_eq!(stats.streams_cut, 1);
    // A usage event per answered call, with attempts counted.
    let attempts = matching!(evs, EventBody::Usage { attempts, .. } => *attempts);
    assert_eq!(attempts, [2, 2, 3, 1, 2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_repeating_a_failing_call_is_stopped_with_a_clear_error() {
    let s = setup(
        r#"
turns:
  - when: {user: "loop"}
    tool_calls: [{name: read_file, arguments: {path: missing.txt}}]
  - when: {user: "anything else"}
    text: "ok"
"#,
        "",
        &[],
    )
    .await;
    let id = s.create("loop forever").await;
    let evs = s.wait_status(&id, 2, &["idle", "error"]).await;
    assert_eq!(last_status(&evs), AgentStatus::Error, "{}", summary(&evs));
    let errors = matching!(evs, EventBody::Error { code, message, recoverable, .. }
        if *code == paddock_protocol::events::ErrorCode::RepeatedToolFailure => (message, *recoverable));
    let (message, recoverable) = errors.first().expect("a repeated_tool_failure error");
    assert!(message.contains("read_file"));
    assert!(!recoverable);
    assert_eq!(
        matching!(evs, EventBody::ToolResult { .. }).len(),
        3,
        "stopped at the third failure"
    );
    // The agent takes the next message and answers it.
    let r = s
        .http
        .post(s.server.url(&format!("/api/agents/{id}/messages")))
        .json(&json!({"text": "anything else"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let seq = r.json::<Value>().await.unwrap()["seq"].as_u64().unwrap();
    let evs = s.wait_status(&id, seq, &["idle", "error"]).await;
    assert_eq!(last_text(&evs), "ok", "{}", summary(&evs));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupt_stops_the_stream_promptly_and_keeps_what_was_shown() {
    let words = "word ".repeat(200);
    let s = setup(
        &format!(
            r#"
turns:
  - text: "{words}"
    tokens_per_second: 20
  - text: "Back again."
"#
        ),
        "",
        &[],
    )
    .await;
    let id = s.create("talk slowly").await;
    // Wait until some text has streamed.
    let started = Instant::now();
    while s.model.stats().active_streams == 0 {
        assert!(started.elapsed() < DEADLINE, "the stream never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = s
        .http
        .post(s.server.url(&format!("/api/agents/{id}/interrupt")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(r.json::<Value>().await.unwrap()["interrupted"], true);
    let evs = s.wait_status(&id, 2, &["idle", "error"]).await;
    let (status, reason) = statuses(&evs).pop().unwrap();
    assert_eq!(status, AgentStatus::Idle);
    assert!(reason.unwrap().contains("interrupted"));
    let partial = matching!(evs, EventBody::MessageAssistant { text, finish_reason, .. }
        => (text, finish_reason));
    assert_eq!(partial.len(), 1);
    assert_eq!(partial[0].1, "interrupted");
    let text = partial[0].0.as_deref().unwrap();
    assert!(
        text.starts_with("word") && text.len() < words.len(),
        "{text}"
    );
    // The HTTP stream was dropped, not read to the end.
    let started = Instant::now();
    while s.model.stats().active_streams != 0 {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "stream still open"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(s.model.stats().streams_abandoned, 1);
    assert_eq!(s.model.stats().streams_finished, 0);
    // The conversation is consistent: the next message gets the next turn.
    let r = s
        .http
        .post(s.server.url(&format!("/api/agents/{id}/messages")))
        .json(&json!({"text": "continue"}))
        .send()
        .await
        .unwrap();
    let seq = r.json::<Value>().await.unwrap()["seq"].as_u64().unwrap();
    let evs = s.wait_status(&id, seq, &["idle", "error"]).await;
    assert_eq!(last_text(&evs), "Back again.");
}

/// Subscribes over the WebSocket with `after` and collects events until
/// the agent is idle after a final answer.
async fn ws_collect(server: &Server, id: &str, after: u64) -> Vec<Event> {
    let (mut ws, _) = tokio_tungstenite::connect_async(server.ws_url())
        .await
        .unwrap();
    ws.send(tokio_tungstenite::tungstenite::Message::text(
        json!({"op": "subscribe", "agent_id": id, "after": after}).to_string(),
    ))
    .await
    .unwrap();
    let mut got = Vec::new();
    let mut answered = false;
    let deadline = tokio::time::Instant::now() + DEADLINE;
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
        let e = event(&v["event"]);
        let idle = match &e.body {
            EventBody::MessageDelta { .. } => continue,
            EventBody::MessageAssistant { tool_calls, .. } => {
                answered |= tool_calls.is_empty();
                false
            }
            EventBody::AgentStatus { status, .. } => *status == AgentStatus::Idle,
            _ => false,
        };
        got.push(e);
        if answered && idle {
            return got;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_run_then_restart_resumes_with_one_gapless_history() {
    let slow = "slowly ".repeat(40);
    let s = setup(
        &format!(
            r#"
turns:
  - tool_calls: [{{name: write_file, arguments: {{path: notes.txt, content: "started\n"}}}}]
  - text: "{slow}"
    tokens_per_second: 10
"#
        ),
        "",
        &[],
    )
    .await;
    let mut s = s;
    let id = s.create("write notes then talk").await;
    // Kill the host while the second model call streams.
    s.wait_streaming_after(&id, 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    s.server.kill9();
    let server = Server::start(&s.paddock, &s.config, None, &[]);
    let evs = ws_collect(&server, &id, 0).await;
    assert_gapless(&evs);
    assert_each_call_ran_once(&evs);
    assert_eq!(
        matching!(evs, EventBody::ToolCall { .. }).len(),
        1,
        "the write ran once"
    );
    let restarted = matching!(evs, EventBody::Error { code, recoverable, .. }
        if *code == paddock_protocol::events::ErrorCode::HostRestarted => *recoverable);
    assert_eq!(restarted.first(), Some(&true), "the restart is recorded");
    assert_eq!(last_text(&evs), slow);
    // The REST log is the same history.
    let rest = events(&s.http, &server, &id).await;
    assert_eq!(rest, evs);
    assert_eq!(
        std::fs::read_to_string(s.workspace.path().join("notes.txt")).unwrap(),
        "started\n"
    );
    // A subscriber resuming mid-history gets exactly the rest.
    let tail = ws_collect(&server, &id, 3).await;
    assert_eq!(tail, evs[3..].to_vec());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_agents_run_at_once() {
    let s = setup(
        r#"
tokens_per_second: 200
turns:
  - text: "Looking."
    tool_calls: [{name: list_dir, arguments: {path: "."}}]
  - text: "Done looking around."
"#,
        "",
        &[],
    )
    .await;
    std::fs::write(s.workspace.path().join("file.txt"), "x").unwrap();
    let ids: Vec<String> = futures::future::join_all((0..50).map(|n| s.create_named(n))).await;
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 50);
    let all = futures::future::join_all(
        ids.iter()
            .map(|id| wait_status(&s.http, &s.server, id, 2, &["idle", "error"])),
    )
    .await;
    for evs in &all {
        assert_eq!(last_text(evs), "Done looking around.", "{}", summary(evs));
        assert_gapless(evs);
        assert_each_call_ran_once(evs);
    }
    let list: Value = s.get("/api/agents").await;
    assert_eq!(list.as_array().unwrap().len(), 50);
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .all(|a| a["status"] == "idle")
    );
}

impl Setup {
    async fn create_named(&self, n: usize) -> String {
        self.create(&format!("task number {n}")).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_in_tool_output_never_reach_the_store_or_the_model() {
    let secret = "hunter2-super-secret-value";
    let token = "ghp_abcdefghijklmnopqrstuvwxyz0123456789";
    let s = setup(
        r#"
turns:
  - tool_calls: [{name: read_file, arguments: {path: .env}}]
  - text: "I read it."
"#,
        "[agents]\nsecret_env = [\"PADDOCK_TEST_SECRET\"]\n",
        &[("PADDOCK_TEST_SECRET", secret)],
    )
    .await;
    std::fs::write(
        s.workspace.path().join(".env"),
        format!("PASSWORD={secret}\nGITHUB_TOKEN={token}\n"),
    )
    .unwrap();
    // Reading `.env` asks in the default mode; this agent runs unattended.
    let id = s
        .create_with("read the env file", json!({"approval_mode": "auto"}))
        .await;
    let evs = s.wait_status(&id, 2, &["idle", "error"]).await;
    assert_eq!(last_text(&evs), "I read it.", "{}", summary(&evs));
    let all = serde_json::to_string(&evs).unwrap();
    assert!(!all.contains(secret) && !all.contains(token), "{all}");
    assert!(all.contains("[REDACTED]"));
    let sent = serde_json::to_string(&s.model.requests()).unwrap();
    assert!(!sent.contains(secret) && !sent.contains(token));
    // Not in the database files either.
    for entry in std::fs::read_dir(s.paddock.data_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("paddock.db")
        {
            let bytes = std::fs::read(&path).unwrap();
            let text = String::from_utf8_lossy(&bytes);
            assert!(
                !text.contains(secret),
                "{} holds the secret",
                path.display()
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_tool_outputs_are_masked_near_the_context_window() {
    // A 1,200-token window: three 2 KB reads overflow it.
    let s = setup(
        r#"
turns:
  - tool_calls: [{name: read_file, arguments: {path: big1.txt}}]
  - tool_calls: [{name: read_file, arguments: {path: big2.txt}}]
  - tool_calls: [{name: read_file, arguments: {path: big3.txt}}]
  - tool_calls: [{name: read_file, arguments: {path: big4.txt}}]
  - text: "Read them all."
"#,
        "",
        &[],
    )
    .await;
    let config = std::fs::read_to_string(&s.config)
        .unwrap()
        .replace("context_window = 32000", "context_window = 1200");
    std::fs::write(&s.config, config).unwrap();
    let mut s = s;
    s.server.kill9();
    s.server = Server::start(&s.paddock, &s.config, None, &[]);
    for n in 1..=4 {
        let line = format!("line of file {n} ");
        std::fs::write(
            s.workspace.path().join(format!("big{n}.txt")),
            line.repeat(120),
        )
        .unwrap();
    }
    let id = s.create("THE TASK: read the four files").await;
    let evs = s.wait_status(&id, 2, &["idle", "error"]).await;
    assert_eq!(last_text(&evs), "Read them all.", "{}", summary(&evs));
    let saved: u64 =
        matching!(evs, EventBody::Usage { masked_tokens_saved, .. } => masked_tokens_saved)
            .into_iter()
            .sum();
    assert!(saved > 500, "saved {saved}");
    let last_request = serde_json::to_string(s.model.requests().last().unwrap()).unwrap();
    assert!(
        last_request.contains("THE TASK: read the four files"),
        "the task is never masked"
    );
    assert!(last_request.contains("masked to save context"));
    assert!(
        last_request.contains("line of file 4"),
        "the latest output is kept"
    );
    assert!(
        !last_request.contains("line of file 1"),
        "the oldest output is masked"
    );
}

#[test]
fn paddock_run_prints_the_run_and_records_it_for_serve() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let model = rt.block_on(model(
        r#"
scenarios:
  - match: "fail"
    turns:
      - text: "Trying."
        tool_calls: [{name: read_file, arguments: {path: nope.txt}}]
  - match: "hello|again"
    turns:
      - text: "Checking."
        tool_calls: [{name: read_file, arguments: {path: hello.txt}}]
      - text: "The file says hello."
"#,
    ));
    let p = Paddock::new();
    let ws = tempfile::tempdir().unwrap();
    std::fs::write(ws.path().join("hello.txt"), "hello\n").unwrap();
    let out = p
        .command()
        .args(["run", "--workspace"])
        .arg(ws.path())
        .args([
            "--model-url",
            &model.base_url(),
            "--model",
            "scripted",
            "What does hello.txt say?",
        ])
        .env_remove("OPENAI_API_KEY")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::describe(&out));
    let stdout = common::stdout(&out);
    assert!(stdout.contains("→ read_file"), "{stdout}");
    assert!(
        stdout.trim_end().ends_with("The file says hello."),
        "{stdout}"
    );
    // --json prints one event per line.
    let out = p
        .command()
        .args(["run", "--json", "--workspace"])
        .arg(ws.path())
        .args([
            "--model-url",
            &model.base_url(),
            "--model",
            "scripted",
            "again, please",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::describe(&out));
    let lines: Vec<Event> = common::stdout(&out)
        .lines()
        .map(|l| event(&serde_json::from_str(l).unwrap()))
        .collect();
    assert!(matches!(lines[0].body, EventBody::AgentCreated { .. }));
    assert!(!matching!(lines, EventBody::ToolResult { .. }).is_empty());
    // A failing run exits non-zero with the reason.
    let out = p
        .command()
        .args(["run", "--workspace"])
        .arg(ws.path())
        .args([
            "--model-url",
            &model.base_url(),
            "--model",
            "scripted",
            "fail please",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", common::describe(&out));
    assert!(
        common::stderr(&out).contains("model call failed"),
        "{}",
        common::describe(&out)
    );
    // `paddock serve` on the same data dir shows the three runs.
    let config = p.data_dir().join("serve.toml");
    std::fs::write(&config, "").unwrap();
    let server = Server::start(&p, &config, None, &[]);
    rt.block_on(async {
        let list: Value = common::client()
            .get(server.url("/api/agents"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let list = list.as_array().unwrap();
        assert_eq!(list.len(), 3);
        let first = &list[0];
        assert_eq!(first["status"], "idle");
        assert_eq!(first["usage"]["model_calls"], 2);
        let id = first["id"].as_str().unwrap();
        let evs = events(&common::client(), &server, id).await;
        assert_eq!(last_text(&evs), "The file says hello.");
        assert_gapless(&evs);
    });
    drop(model);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_running_agent_stops_it_and_keeps_its_history_until_purged() {
    let words = "slow ".repeat(100);
    let s = setup(
        &format!("turns:\n  - text: \"{words}\"\n    tokens_per_second: 20\n"),
        "",
        &[],
    )
    .await;
    let id = s.create("talk").await;
    let started = Instant::now();
    while s.model.stats().active_streams == 0 {
        assert!(started.elapsed() < DEADLINE, "the stream never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let url = s.server.url(&format!("/api/agents/{id}"));
    assert_eq!(s.http.delete(&url).send().await.unwrap().status(), 204);
    let evs = s.wait_status(&id, 2, &["stopped"]).await;
    assert_eq!(last_status(&evs), AgentStatus::Stopped);
    // Nothing changes the status after the stop.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = s.events(&id).await;
    assert_eq!(last_status(&after), AgentStatus::Stopped);
    let agent = s.agent(&id).await;
    assert!(agent["deleted_at"].is_string(), "{agent}");
    let r = s
        .http
        .post(s.server.url(&format!("/api/agents/{id}/messages")))
        .json(&json!({"text": "more"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    let list: Value = s.get("/api/agents").await;
    assert!(list.as_array().unwrap().is_empty());
    let list: Value = s.get("/api/agents?include_deleted=true").await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(
        s.http
            .delete(format!("{url}?purge=true"))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(s.http.get(&url).send().await.unwrap().status(), 404);
    let r = s.http.get(format!("{url}/events")).send().await.unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_websocket_client_is_told_to_resume_and_misses_nothing() {
    use tokio_tungstenite::tungstenite::Message;
    let words = "w ".repeat(60_000);
    let s = setup(&format!("turns:\n  - text: \"{words}\"\n"), "", &[]).await;
    // An agent without a task, so the subscriber is in place before it runs.
    let r = s
        .http
        .post(s.server.url("/api/agents"))
        .json(&json!({"workspace": s.workspace.path()}))
        .send()
        .await
        .unwrap();
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    // A client with a tiny receive buffer that reads nothing for a while.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let addr = s.server.base.trim_start_matches("http://").parse().unwrap();
    let stream = socket.connect(addr).await.unwrap();
    let (mut ws, _) = tokio_tungstenite::client_async(s.server.ws_url(), stream)
        .await
        .unwrap();
    let sub = |after: u64| {
        Message::text(json!({"op": "subscribe", "agent_id": id, "after": after}).to_string())
    };
    ws.send(sub(0)).await.unwrap();
    let r = s
        .http
        .post(s.server.url(&format!("/api/agents/{id}/messages")))
        .json(&json!({"text": "stream a lot"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    // The agent is not slowed down by the stuck client.
    let rest = s.wait_status(&id, 2, &["idle", "error"]).await;
    let text = last_text(&rest);
    assert!(
        text.trim_end() == words.trim_end(),
        "the whole answer was stored ({} of {} bytes)",
        text.len(),
        words.len()
    );
    // Now read: a lag notice comes, then resuming gives exactly the rest.
    let mut durable: Vec<Event> = Vec::new();
    let mut lagged = None;
    let mut resubscribed = false;
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let msg = tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("messages in time")
            .expect("socket open")
            .unwrap();
        let Message::Text(text) = msg else { continue };
        let v: Value = serde_json::from_str(&text).unwrap();
        match v["op"].as_str().unwrap() {
            "lagged" => {
                let after = v["resume_after"].as_u64().unwrap();
                assert_eq!(after, durable.last().map_or(0, |e| e.seq));
                lagged = Some(after);
                ws.send(sub(after)).await.unwrap();
                resubscribed = true;
            }
            "event" => {
                let e = event(&v["event"]);
                if matches!(e.body, EventBody::MessageDelta { .. }) {
                    continue;
                }
                durable.push(e);
                if resubscribed && durable.len() == rest.len() {
                    break;
                }
            }
            _ => {}
        }
    }
    assert!(lagged.is_some(), "the slow client was told to resume");
    assert_eq!(durable, rest, "one gapless history, no duplicates");
}

/// Writes an agent's log as a host that died mid-tool-call left it.
async fn died_mid_call(
    store: &paddock_store::Store,
    workspace: &std::path::Path,
    task: &str,
    call: (&str, Value, bool),
) -> String {
    use paddock_core::agent::{AgentConfig, ModelRef};
    use paddock_protocol::events::{AgentStatus, Event, EventBody};
    let id = uuid::Uuid::new_v4().to_string();
    let config = AgentConfig {
        name: task.into(),
        system_prompt: String::new(),
        model: ModelRef {
            provider: "scripted".into(),
            model: "scripted".into(),
        },
        router: None,
        temperature: None,
        max_tokens: None,
        reasoning_effort: None,
        verbosity: None,
        workspace: workspace.to_path_buf(),
        workspace_id: None,
        tools: None,
        mcp_servers: Vec::new(),
        network: false.into(),
        environment: None,
        limits: Default::default(),
        template: None,
        approval_mode: Default::default(),
        approval_timeout_secs: None,
        rules: Vec::new(),
        read_only: false,
        delegation: None,
        parent: None,
        owner: None,
    };
    let ev = |seq: u64, body: EventBody| Event {
        seq,
        agent_id: id.clone(),
        ts: chrono::Utc::now(),
        body,
    };
    let first = ev(
        1,
        EventBody::AgentCreated {
            config: Box::new(config.clone()),
        },
    );
    store
        .create_agent(
            &paddock_store::NewAgent {
                id: id.clone(),
                name: task.into(),
                config,
                created_at: first.ts,
                lease: None,
            },
            &first,
        )
        .await
        .unwrap();
    let (tool, args, read_only) = call;
    let request = paddock_llm::ToolCallRequest {
        id: "call_1".into(),
        name: tool.into(),
        arguments: args.to_string(),
    };
    let rest = [
        EventBody::MessageUser { text: task.into() },
        EventBody::AgentStatus {
            status: AgentStatus::Thinking,
            reason: None,
            code: None,
        },
        EventBody::MessageAssistant {
            text: None,
            tool_calls: vec![request],
            finish_reason: "tool_calls".into(),
            reasoning: Vec::new(),
        },
        EventBody::AgentStatus {
            status: AgentStatus::ExecutingTool,
            reason: None,
            code: None,
        },
        EventBody::ToolCall {
            call_id: "call_1".into(),
            tool: tool.into(),
            arguments: args,
            read_only,
            sandbox: None,
        },
    ];
    for (n, body) in rest.into_iter().enumerate() {
        store.append(&ev(n as u64 + 2, body)).await.unwrap();
    }
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_cut_by_a_crash_is_rerun_only_if_read_only() {
    let model = model(
        r#"
scenarios:
  - match: "task A"
    turns:
      - when: {tool: "alpha"}
        text: "A resumed."
  - match: "task B"
    turns:
      - when: {tool: "may or may not have taken effect"}
        text: "B checked."
"#,
    )
    .await;
    let p = Paddock::new();
    let ws = tempfile::tempdir().unwrap();
    std::fs::write(ws.path().join("a.txt"), "alpha\n").unwrap();
    let store = paddock_store::Store::open_sqlite(&p.data_dir().join("paddock.db"))
        .await
        .unwrap();
    let a = died_mid_call(
        &store,
        ws.path(),
        "task A",
        ("read_file", json!({"path": "a.txt"}), true),
    )
    .await;
    let b = died_mid_call(
        &store,
        ws.path(),
        "task B",
        (
            "write_file",
            json!({"path": "b.txt", "content": "b"}),
            false,
        ),
    )
    .await;
    store.close().await;
    let config = scripted_config(p.data_dir(), &model.base_url(), "");
    let server = Server::start(&p, &config, None, &[]);
    let http = common::client();
    let evs = wait_status(&http, &server, &a, 6, &["idle", "error"]).await;
    assert_eq!(last_text(&evs), "A resumed.", "{}", summary(&evs));
    assert_gapless(&evs);
    assert_eq!(
        matching!(evs, EventBody::ToolCall { .. }).len(),
        2,
        "the read-only call ran again"
    );
    let result = matching!(evs, EventBody::ToolResult { success, .. } => *success);
    assert_eq!(result, [true]);
    let evs = wait_status(&http, &server, &b, 6, &["idle", "error"]).await;
    assert_eq!(last_text(&evs), "B checked.", "{}", summary(&evs));
    assert_gapless(&evs);
    assert_eq!(
        matching!(evs, EventBody::ToolCall { .. }).len(),
        1,
        "the write did not run again"
    );
    let result = matching!(evs, EventBody::ToolResult { success, .. } => *success);
    assert_eq!(result, [false]);
    assert!(!ws.path().join("b.txt").exists());
}

#[test]
fn a_second_server_on_the_same_data_dir_is_refused() {
    let p = Paddock::new();
    let config = p.data_dir().join("empty.toml");
    std::fs::write(&config, "").unwrap();
    let _server = Server::start(&p, &config, None, &[]);
    let out = p
        .command()
        .args(["serve", "--config"])
        .arg(&config)
        .args(["--bind", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", common::describe(&out));
    assert!(
        common::stderr(&out).contains("another `paddock serve`"),
        "{}",
        common::describe(&out)
    );
}
