//! Issue 19 end to end: agents over OpenAI's Responses API (against the
//! scripted model's `/v1/responses`) with reasoning carried across turns
//! and across a `kill -9` of the host; faults and an interrupt over that
//! API; failover between providers with a circuit breaker; and a stored run
//! exported as a script, replayed offline, and a divergence reported.

use crate::common::scripted::*;
use crate::common::{self, Paddock, Server};
use paddock_llm::scripted::{RunningModel, Script, ScriptedModel};
use paddock_protocol::events::{ErrorCode, SkipReason, SkippedTarget};
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};

/// A provider section of `paddock.toml`: `name` at `url` speaking `api`,
/// quick retries (`max_retries` of them), model `scripted` priced at $1 /
/// $2 / $0.50 (cached) per million tokens, and `more` lines for the
/// model's entry.
fn provider(name: &str, url: &str, api: &str, max_retries: u32, more: &str) -> String {
    format!(
        r#"[[providers]]
name = "{name}"
base_url = "{url}"
api = "{api}"
max_retries = {max_retries}
initial_backoff_ms = 20
max_backoff_ms = 200
idle_timeout_ms = 800
breaker_failures = 1
breaker_cooldown_ms = 2500
[[providers.models]]
name = "scripted"
context_window = 64000
input_per_mtok = 1.0
output_per_mtok = 2.0
cached_input_per_mtok = 0.5
{more}
"#
    )
}

/// A server whose configuration is `toml`, with `model` as the scripted
/// model the setup holds.
fn setup_with(model: RunningModel, toml: &str) -> Setup {
    let paddock = Paddock::new();
    let config = paddock.data_dir().join("paddock.toml");
    std::fs::write(&config, toml).unwrap();
    let server = Server::start(&paddock, &config, None, &[]);
    Setup {
        paddock,
        server,
        model,
        workspace: tempfile::tempdir().unwrap(),
        config,
        http: common::client(),
    }
}

/// A server with one provider, `scripted`, over the Responses API.
async fn responses_setup(script: &str) -> Setup {
    let model = model(script).await;
    let toml = provider("scripted", &model.base_url(), "responses", 3, "");
    setup_with(model, &toml)
}

/// The `usage` events' (provider, reasoning tokens, cost, failover).
fn usages(evs: &[Event]) -> Vec<(String, u64, f64, Vec<SkippedTarget>)> {
    matching!(evs, EventBody::Usage { provider, reasoning_tokens, cost_usd, failover, .. }
        => (provider.clone(), *reasoning_tokens, *cost_usd, failover.clone()))
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tool_using_run_over_responses_keeps_its_reasoning_across_a_kill_9() {
    let slow = "Summarising slowly ".repeat(30);
    let usage = "usage: {prompt_tokens: 1000, completion_tokens: 200, cached_tokens: 400, reasoning_tokens: 150}";
    let mut s = responses_setup(&format!(
        r#"
turns:
  - reasoning: "The task names a.txt; read it first."
    tool_calls: [{{name: read_file, arguments: {{path: a.txt}}}}]
    {usage}
  - requires_reasoning: true
    reasoning: "It says hello. Edit it, and list the directory in parallel."
    tool_calls:
      - {{name: edit_file, arguments: {{path: a.txt, old_string: hello, new_string: goodbye}}}}
      - {{name: execute_bash, arguments: {{command: "ls"}}}}
    {usage}
  - requires_reasoning: true
    reasoning: "Both done; now I summarise."
    text: "{slow}"
    tokens_per_second: 40
    {usage}
"#
    ))
    .await;
    std::fs::write(s.workspace.path().join("a.txt"), "hello\n").unwrap();
    let id = s
        .create_with(
            "fix a.txt",
            json!({"approval_mode": "auto", "reasoning_effort": "high"}),
        )
        .await;
    // Kill the host while the third answer streams: its reasoning must
    // come from the log of the host that died.
    s.wait_streaming_after(&id, 3).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    s.server.kill9();
    s.server = Server::start(&s.paddock, &s.config, None, &[]);
    let evs = s.wait_status(&id, 0, &["idle", "error"]).await;
    assert_eq!(last_status(&evs), AgentStatus::Idle, "{}", summary(&evs));
    assert_eq!(last_text(&evs), slow);
    assert_eq!(read(s.workspace.path(), "a.txt"), "goodbye\n");
    // Each call ran once; the listing saw the file.
    let calls = matching!(evs, EventBody::ToolCall { tool, .. } => tool.clone());
    assert_eq!(calls, ["read_file", "edit_file", "execute_bash"]);
    let results = matching!(evs, EventBody::ToolResult { tool, success, content, .. }
        => (tool.clone(), *success, content.clone()));
    assert!(results.iter().all(|r| r.1), "{results:?}");
    assert!(results[2].2.contains("a.txt"), "{results:?}");
    // The answers carry their reasoning: summaries to show, ciphertext to
    // send back.
    let answers =
        matching!(evs, EventBody::MessageAssistant { reasoning, .. } => reasoning.clone());
    assert_eq!(answers.len(), 3);
    assert_eq!(
        answers[0][0].summary,
        ["The task names a.txt; read it first."]
    );
    assert!(answers.iter().all(|r| r[0].encrypted_content.is_some()));
    // Every request after the first sent the reasoning back — the last one
    // from the restarted host too (the scripted model refuses a request
    // without it), statelessly.
    let requests = s.model.requests();
    assert!(requests.len() >= 4, "{requests:?}");
    for r in &requests {
        assert_eq!(r["store"], false);
        assert_eq!(r["stream"], true);
        assert_eq!(r["include"], json!(["reasoning.encrypted_content"]));
        assert_eq!(r["reasoning"]["effort"], "high");
        assert!(r.get("previous_response_id").is_none());
    }
    let last = requests.last().unwrap();
    let carried: Vec<&Value> = last["input"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["type"] == "reasoning")
        .collect();
    assert_eq!(carried.len(), 2, "{last}");
    assert_eq!(
        carried[1]["encrypted_content"].as_str(),
        answers[1][0].encrypted_content.as_deref()
    );
    // Usage and cost exactly: 600 fresh + 400 cached input, 200 output.
    let u = usages(&evs);
    assert_eq!(u.len(), 3, "{}", summary(&evs));
    for (provider, reasoning, cost, failover) in &u {
        assert_eq!(provider, "scripted");
        assert_eq!(*reasoning, 150);
        assert!((cost - 0.0012).abs() < 1e-12, "{cost}");
        assert!(failover.is_empty());
    }
    let restarted =
        matching!(evs, EventBody::Error { code, .. } if *code == ErrorCode::HostRestarted => ());
    assert_eq!(restarted.len(), 1, "{}", summary(&evs));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_over_responses_is_retried_and_nothing_runs_twice() {
    let s = responses_setup(
        r#"
turns:
  - tool_calls: [{name: write_file, arguments: {path: one.txt, content: "1\n"}}]
    fault: {type: rate_limit, retry_after: 0, times: 1}
  - tool_calls: [{name: write_file, arguments: {path: two.txt, content: "2\n"}}]
    fault: {type: server_error, times: 1}
  - tool_calls: [{name: write_file, arguments: {path: three.txt, content: "3\n"}}]
    fault: {type: cut, times: 1}
  - tool_calls: [{name: read_file, raw_arguments: "{\"path\": "}]
    fault: {type: hang, times: 1}
  - text: "All done."
"#,
    )
    .await;
    let id = s
        .create_with("write three files", json!({"approval_mode": "auto"}))
        .await;
    let evs = s.wait_status(&id, 0, &["idle", "error"]).await;
    assert_eq!(last_status(&evs), AgentStatus::Idle, "{}", summary(&evs));
    assert_eq!(last_text(&evs), "All done.");
    for (file, content) in [("one.txt", "1\n"), ("two.txt", "2\n"), ("three.txt", "3\n")] {
        assert_eq!(read(s.workspace.path(), file), content);
    }
    let retries = matching!(evs, EventBody::Error { code, message, .. }
        if *code == ErrorCode::ModelRetry => message.clone());
    assert_eq!(retries.len(), 4, "{retries:#?}");
    assert!(retries[0].contains("429"), "{retries:#?}");
    assert!(retries[1].contains("500"), "{retries:#?}");
    assert!(retries[3].contains("silent"), "{retries:#?}");
    // The cut call never surfaced: each write ran once.
    let writes = matching!(evs, EventBody::ToolCall { tool, .. } if tool == "write_file" => ());
    assert_eq!(writes.len(), 3, "{}", summary(&evs));
    // The malformed arguments came back to the model as a failed call.
    let bad = matching!(evs, EventBody::ToolResult { tool, success, .. } if tool == "read_file" => *success);
    assert_eq!(bad, [false]);
    let attempts = matching!(evs, EventBody::Usage { attempts, .. } => *attempts);
    assert_eq!(attempts, [2, 2, 2, 2, 1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupt_over_responses_keeps_the_text_shown_and_the_thinking_streams_live() {
    let words = "word ".repeat(300);
    let s = responses_setup(&format!(
        r#"
turns:
  - reasoning: "Thinking about words at length before answering."
    text: "{words}"
    tokens_per_second: 30
"#
    ))
    .await;
    // An agent without a task yet, so that nothing streams before the
    // subscription.
    let r = s
        .http
        .post(s.server.url("/api/agents"))
        .json(&json!({"name": "t", "workspace": s.workspace.path()}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    // The reasoning summary streams live, before the text, as its own kind.
    let (mut ws, _) = tokio_tungstenite::connect_async(s.server.ws_url())
        .await
        .unwrap();
    use futures::{SinkExt as _, StreamExt as _};
    ws.send(tokio_tungstenite::tungstenite::Message::text(
        json!({"op": "subscribe", "agent_id": id, "after": 0}).to_string(),
    ))
    .await
    .unwrap();
    // Replayed events first: wait for the subscription to be live.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = s
        .http
        .post(s.server.url(&format!("/api/agents/{id}/messages")))
        .json(&json!({"text": "talk slowly"}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let mut thinking = String::new();
    let mut text = String::new();
    let started = Instant::now();
    while text.len() < 40 {
        assert!(started.elapsed() < DEADLINE, "no text streamed");
        let Some(Ok(msg)) = tokio::time::timeout(DEADLINE, ws.next()).await.unwrap() else {
            panic!("the WebSocket closed");
        };
        let Ok(v) = serde_json::from_str::<Value>(msg.to_text().unwrap_or("")) else {
            continue;
        };
        if v["op"] != "event" {
            continue;
        }
        match event(&v["event"]).body {
            EventBody::MessageReasoning { text: t } => thinking.push_str(&t),
            EventBody::MessageDelta { text: t } => {
                assert!(!thinking.is_empty(), "text before the thinking");
                text.push_str(&t);
            }
            _ => {}
        }
    }
    assert_eq!(thinking, "Thinking about words at length before answering.");
    let r = s
        .http
        .post(s.server.url(&format!("/api/agents/{id}/interrupt")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let evs = s.wait_status(&id, 2, &["idle", "error"]).await;
    let kept = matching!(evs, EventBody::MessageAssistant { text, finish_reason, .. }
        => (text.clone().unwrap_or_default(), finish_reason.clone()));
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].1, "interrupted");
    assert!(
        kept[0].0.starts_with(&text) && kept[0].0.len() < words.len(),
        "{kept:?}"
    );
    let started = Instant::now();
    while s.model.stats().active_streams != 0 {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "stream still open"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(s.model.stats().streams_abandoned, 1);
}

/// A server whose model `scripted` is at `primary` (over the Responses
/// API) with failover to a secondary scripted model answering `script`
/// over `api`, both with one retry; an agent on the primary, in auto mode,
/// given `task`.
async fn failover_setup(
    primary: &RunningModel,
    script: &str,
    api: &str,
    task: &str,
) -> (Setup, String) {
    let secondary = model(script).await;
    let toml = provider(
        "primary",
        &primary.base_url(),
        "responses",
        1,
        r#"failover = [{provider = "secondary"}]"#,
    ) + &provider("secondary", &secondary.base_url(), api, 1, "");
    let s = setup_with(secondary, &toml);
    let id = s
        .create_with(
            task,
            json!({"approval_mode": "auto", "model": {"provider": "primary", "model": "scripted"}}),
        )
        .await;
    (s, id)
}

/// A primary provider over the Responses API whose every answer is
/// `fault`, failing over to a secondary over Chat Completions; returns the
/// run's events, the two models and the metrics text.
async fn failover_run(fault: &str) -> (Vec<Event>, RunningModel, RunningModel, String) {
    let primary = model(&format!("turns:\n  - fault: {fault}\n  - fault: {fault}\n")).await;
    let (s, id) = failover_setup(
        &primary,
        r#"
turns:
  - tool_calls: [{name: write_file, arguments: {path: once.txt, content: "once\n"}}]
  - text: "Written by the secondary."
"#,
        "chat",
        "write once",
    )
    .await;
    let evs = s.wait_status(&id, 0, &["idle", "error"]).await;
    let metrics = s
        .http
        .get(s.server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(read(s.workspace.path(), "once.txt"), "once\n");
    let Setup { model, .. } = s;
    (evs, primary, model, metrics)
}

/// What every failover run shows: the secondary served both calls, the
/// first after the primary failed, the second passing the primary over
/// (its circuit open); the write ran once.
fn assert_failed_over(evs: &[Event], primary: &RunningModel, fails_with: &str) {
    assert_eq!(last_status(evs), AgentStatus::Idle, "{}", summary(evs));
    assert_eq!(last_text(evs), "Written by the secondary.");
    let u = usages(evs);
    assert_eq!(u.len(), 2, "{}", summary(evs));
    assert!(u.iter().all(|u| u.0 == "secondary"), "{u:?}");
    assert_eq!(u[0].3.len(), 1);
    assert_eq!(
        (u[0].3[0].provider.as_str(), u[0].3[0].why),
        ("primary", SkipReason::Failed)
    );
    assert!(u[0].3[0].message.contains(fails_with), "{:?}", u[0].3[0]);
    assert_eq!(u[1].3[0].why, SkipReason::CircuitOpen, "{u:?}");
    let notes = matching!(evs, EventBody::Error { code, recoverable, message, .. }
        if *code == ErrorCode::ModelFailover => (*recoverable, message.clone()));
    assert_eq!(notes.len(), 1, "{}", summary(evs));
    assert!(notes[0].0);
    assert!(
        notes[0].1.contains("goes to provider `secondary`"),
        "{notes:?}"
    );
    assert_eq!(
        matching!(evs, EventBody::ToolCall { .. }).len(),
        1,
        "nothing ran twice"
    );
    // The primary was asked twice for the first call (one retry), never
    // for the second.
    assert_eq!(primary.stats().requests, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_primary_that_always_fails_with_500_fails_over_to_the_secondary() {
    let (evs, primary, _secondary, metrics) = failover_run("{type: server_error}").await;
    assert_failed_over(&evs, &primary, "500");
    assert!(
        metrics.contains(
            r#"paddock_model_failovers_total{model="scripted",provider="primary",why="failed"} 1"#
        ) && metrics.contains(
            r#"paddock_model_failovers_total{model="scripted",provider="primary",why="circuit_open"} 1"#
        ),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_primary_that_always_rate_limits_fails_over_to_the_secondary() {
    let (evs, primary, _, _) = failover_run("{type: rate_limit, retry_after: 0}").await;
    assert_failed_over(&evs, &primary, "429");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_primary_that_hangs_fails_over_to_the_secondary() {
    let (evs, primary, _, _) = failover_run("{type: hang}").await;
    assert_failed_over(&evs, &primary, "silent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_primary_that_recovers_is_used_again_after_the_cool_down() {
    let primary = model(
        r#"
turns:
  - tool_calls: [{name: write_file, arguments: {path: p.txt, content: "primary\n"}}]
    fault: {type: server_error, times: 2}
  - text: "The primary's first answer (never asked: its circuit is open)."
  - text: "The primary is back."
"#,
    )
    .await;
    let (s, id) = failover_setup(
        &primary,
        r#"
turns:
  - tool_calls: [{name: write_file, arguments: {path: s.txt, content: "secondary\n"}}]
  - text: "The secondary answered."
  - text: "The secondary again (wrong: the primary has recovered)."
"#,
        "responses",
        "write a file",
    )
    .await;
    let evs = s.wait_status(&id, 0, &["idle", "error"]).await;
    assert_eq!(
        last_text(&evs),
        "The secondary answered.",
        "{}",
        summary(&evs)
    );
    let opened = Instant::now();
    // Past the cool-down (2.5 s), the next call tries the primary again.
    tokio::time::sleep(Duration::from_millis(2700).saturating_sub(opened.elapsed())).await;
    let seq = evs.last().unwrap().seq;
    let r = s
        .http
        .post(s.server.url(&format!("/api/agents/{id}/messages")))
        .json(&json!({"text": "and now?"}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let evs = s.wait_status(&id, seq + 1, &["idle", "error"]).await;
    assert_eq!(last_text(&evs), "The primary is back.", "{}", summary(&evs));
    let u = usages(&evs);
    let served: Vec<(&str, Vec<SkipReason>)> = u
        .iter()
        .map(|u| (u.0.as_str(), u.3.iter().map(|s| s.why).collect()))
        .collect();
    assert_eq!(
        served,
        [
            ("secondary", vec![SkipReason::Failed]),
            ("secondary", vec![SkipReason::CircuitOpen]),
            ("primary", vec![]),
        ]
    );
    assert_eq!(read(s.workspace.path(), "s.txt"), "secondary\n");
    assert!(!s.workspace.path().join("p.txt").exists());
    // The cost of each call is at the price of the provider that served it.
    assert!(u.iter().all(|u| u.2 > 0.0), "{u:?}");
}

/// `paddock run` on `task` in `workspace` against the model at `url` over
/// `api`: its output.
fn paddock_run(
    p: &Paddock,
    url: &str,
    api: &str,
    workspace: &Path,
    task: &str,
) -> std::process::Output {
    p.command()
        .args([
            "run",
            "--approval-mode",
            "auto",
            "--api",
            api,
            "--workspace",
        ])
        .arg(workspace)
        .args(["--model-url", url, "--model", "scripted", task])
        .env_remove("OPENAI_API_KEY")
        .output()
        .unwrap()
}

fn copy_dir(from: &Path, to: &Path) {
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// Every file of `dir` with its content, sorted (directories by name).
fn tree(dir: &Path) -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            match std::fs::read_to_string(e.path()) {
                Ok(text) => (name, text),
                Err(_) => (name, "(a directory)".into()),
            }
        })
        .collect();
    files.sort();
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_run_exported_as_a_script_replays_offline_and_reports_a_divergence() {
    let recorded = model(
        r#"
turns:
  - reasoning: "Look at the file before changing it."
    text: "Reading first."
    tool_calls: [{name: read_file, arguments: {path: a.txt}}]
  - tool_calls:
      - {name: edit_file, arguments: {path: a.txt, old_string: hello, new_string: goodbye}}
      - {name: write_file, arguments: {path: b.txt, content: "made by the agent\n"}}
  - text: "Changed a.txt and wrote b.txt."
"#,
    )
    .await;
    let p = Paddock::new();
    let start = tempfile::tempdir().unwrap();
    std::fs::write(start.path().join("a.txt"), "hello\n").unwrap();
    let original = tempfile::tempdir().unwrap();
    copy_dir(start.path(), original.path());
    let out = paddock_run(
        &p,
        &recorded.base_url(),
        "responses",
        original.path(),
        "fix a.txt",
    );
    assert!(out.status.success(), "{}", common::describe(&out));
    let stderr = common::stderr(&out);
    let id = stderr
        .lines()
        .find_map(|l| {
            l.strip_prefix("agent ")
                .and_then(|r| r.split_whitespace().next())
        })
        .unwrap_or_else(|| panic!("no agent id in: {stderr}"))
        .to_string();
    // Export the run.
    let out = p.cmd(["export-script", id.as_str()]);
    assert!(out.status.success(), "{}", common::describe(&out));
    let yaml = common::stdout(&out);
    assert!(
        yaml.contains("expect:") && yaml.contains("raw_arguments:"),
        "{yaml}"
    );
    let script_path = p.data_dir().join("run.yaml");
    std::fs::write(&script_path, &yaml).unwrap();
    let script = Script::load(&script_path).unwrap();
    let replay = ScriptedModel::start(script, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    // The replay from the same start gives the same workspace.
    let again = tempfile::tempdir().unwrap();
    copy_dir(start.path(), again.path());
    let out = paddock_run(
        &p,
        &replay.base_url(),
        "responses",
        again.path(),
        "fix a.txt",
    );
    assert!(out.status.success(), "{}", common::describe(&out));
    assert_eq!(tree(again.path()), tree(original.path()));
    assert_eq!(read(again.path(), "a.txt"), "goodbye\n");
    assert_eq!(replay.stats().divergences, 0);
    // A changed tool result is reported as a divergence, naming the turn.
    let changed = tempfile::tempdir().unwrap();
    copy_dir(start.path(), changed.path());
    std::fs::write(changed.path().join("a.txt"), "hello, changed\n").unwrap();
    let out = paddock_run(
        &p,
        &replay.base_url(),
        "responses",
        changed.path(),
        "fix a.txt",
    );
    assert_eq!(out.status.code(), Some(1), "{}", common::describe(&out));
    let said = format!("{}{}", common::stdout(&out), common::stderr(&out));
    assert!(
        said.contains("diverges from the script at turn 1"),
        "{said}"
    );
    assert!(said.contains("hello, changed"), "{said}");
    assert_eq!(replay.stats().divergences, 1);
    assert!(
        !changed.path().join("b.txt").exists(),
        "nothing ran past the divergence"
    );
    // So is a changed prompt.
    let out = paddock_run(
        &p,
        &replay.base_url(),
        "responses",
        again.path(),
        "fix b.txt",
    );
    assert_eq!(out.status.code(), Some(1), "{}", common::describe(&out));
    let said = format!("{}{}", common::stdout(&out), common::stderr(&out));
    assert!(
        said.contains("diverges from the script at turn 0"),
        "{said}"
    );
    // An unknown agent is a usage error.
    let out = p.cmd(["export-script", "no-such-agent"]);
    assert_eq!(out.status.code(), Some(2), "{}", common::describe(&out));
}
