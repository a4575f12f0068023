//! The model client against an in-process scripted model: streaming, tool
//! call assembly, retries (429 with Retry-After, 500, cut streams, hangs),
//! the retry budget, cancellation, usage and what goes on the wire.

use paddock_core::config::ProviderConfig;
use paddock_llm::scripted::{RunningModel, Script, ScriptedModel};
use paddock_llm::{
    ChatMessage, ChatRequest, FinishReason, LlmError, ModelClient, RetryBudget, StreamNote, ToolDef,
};
use std::time::{Duration, Instant};

async fn serve(script: &str) -> RunningModel {
    let script = Script::from_yaml_str(script).unwrap();
    ScriptedModel::start(script, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

fn client(model: &RunningModel, tweak: impl FnOnce(&mut ProviderConfig)) -> ModelClient {
    let mut p = ProviderConfig::new("scripted", &model.base_url(), None);
    p.initial_backoff_ms = 20;
    p.max_backoff_ms = 5_000;
    p.idle_timeout_ms = 5_000;
    tweak(&mut p);
    ModelClient::new(&p).unwrap()
}

fn request(task: &str) -> ChatRequest {
    ChatRequest {
        model: "scripted".into(),
        messages: vec![
            ChatMessage::System {
                content: "You are a test.".into(),
            },
            ChatMessage::User {
                content: task.into(),
            },
        ],
        tools: vec![ToolDef {
            name: "read_file".into(),
            description: "Reads a file.".into(),
            parameters: serde_json::json!({"type": "object", "properties": {"path": {"type": "string"}}}),
        }],
        temperature: None,
        max_tokens: None,
        prompt_cache_key: Some("agent-42".into()),
        reasoning: false,
        reasoning_effort: None,
        verbosity: None,
    }
}

/// Runs one request, collecting the notes.
async fn complete(
    c: &ModelClient,
    req: &ChatRequest,
    budget: &RetryBudget,
) -> (Result<paddock_llm::Completion, LlmError>, Vec<StreamNote>) {
    let mut notes = Vec::new();
    let r = c
        .complete(req, budget, &mut |n: StreamNote| notes.push(n))
        .await;
    (r, notes)
}

fn retries(notes: &[StreamNote]) -> Vec<(u32, u64, String)> {
    notes
        .iter()
        .filter_map(|n| match n {
            StreamNote::Retrying {
                attempt,
                wait_ms,
                reason,
            } => Some((*attempt, *wait_ms, reason.clone())),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn streams_text_with_usage_and_sends_tools_and_cache_key() {
    let m = serve(
        r#"
turns:
  - text: "Hello there, general Kenobi."
    usage: {prompt_tokens: 120, completion_tokens: 7, cached_tokens: 64}
"#,
    )
    .await;
    let c = client(&m, |_| {});
    let budget = RetryBudget::new(5);
    let (r, notes) = complete(&c, &request("hi"), &budget).await;
    let done = r.unwrap();
    assert_eq!(
        done.content.as_deref(),
        Some("Hello there, general Kenobi.")
    );
    assert_eq!(done.finish_reason, FinishReason::Stop);
    assert_eq!(done.attempts, 1);
    assert!(done.tool_calls.is_empty());
    assert_eq!(done.usage.input_tokens, 120);
    assert_eq!(done.usage.output_tokens, 7);
    assert_eq!(done.usage.cached_tokens, 64);
    let deltas: Vec<&str> = notes
        .iter()
        .filter_map(|n| match n {
            StreamNote::Delta(d) => Some(d.as_str()),
            _ => None,
        })
        .collect();
    assert!(
        deltas.len() >= 4,
        "text should arrive in pieces: {deltas:?}"
    );
    assert_eq!(deltas.concat(), "Hello there, general Kenobi.");
    assert_eq!(budget.remaining(), 5);

    let sent = m.requests();
    assert_eq!(sent.len(), 1);
    let body = &sent[0];
    assert_eq!(body["prompt_cache_key"], "agent-42");
    assert_eq!(body["stream"], true);
    assert_eq!(body["stream_options"]["include_usage"], true);
    assert_eq!(body["tools"][0]["type"], "function");
    assert_eq!(body["tools"][0]["function"]["name"], "read_file");
    assert_eq!(body["messages"][1]["content"], "hi");
}

#[tokio::test]
async fn assembles_parallel_tool_calls_split_across_chunks() {
    let m = serve(
        r#"
turns:
  - text: "Let me look."
    tool_calls:
      - name: read_file
        arguments: {path: "src/some/rather/long/path/main.rs"}
      - name: list_dir
        arguments: {path: ".", depth: 2}
      - name: read_file
        raw_arguments: '{"path": "unterminated'
"#,
    )
    .await;
    let c = client(&m, |_| {});
    let (r, _) = complete(&c, &request("look"), &RetryBudget::new(0)).await;
    let done = r.unwrap();
    assert_eq!(done.finish_reason, FinishReason::ToolCalls);
    assert_eq!(done.content.as_deref(), Some("Let me look."));
    assert_eq!(done.tool_calls.len(), 3);
    let names: Vec<&str> = done.tool_calls.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["read_file", "list_dir", "read_file"]);
    let a: serde_json::Value = serde_json::from_str(&done.tool_calls[0].arguments).unwrap();
    assert_eq!(a["path"], "src/some/rather/long/path/main.rs");
    let b: serde_json::Value = serde_json::from_str(&done.tool_calls[1].arguments).unwrap();
    assert_eq!(b["depth"], 2);
    // Malformed arguments come back raw, not as an error.
    assert_eq!(done.tool_calls[2].arguments, r#"{"path": "unterminated"#);
    let mut ids: Vec<&str> = done.tool_calls.iter().map(|t| t.id.as_str()).collect();
    assert!(ids.iter().all(|i| i.starts_with("call_")));
    ids.dedup();
    assert_eq!(ids.len(), 3, "distinct ids");
}

#[tokio::test]
async fn honours_retry_after_on_429_then_succeeds() {
    let m = serve(
        r#"
turns:
  - text: "finally"
    fault: {type: rate_limit, retry_after: 1, times: 1}
"#,
    )
    .await;
    let c = client(&m, |_| {});
    let budget = RetryBudget::new(3);
    let started = Instant::now();
    let (r, notes) = complete(&c, &request("rate"), &budget).await;
    let done = r.unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited only {:?}",
        started.elapsed()
    );
    assert_eq!(done.attempts, 2);
    assert_eq!(done.content.as_deref(), Some("finally"));
    let r = retries(&notes);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].0, 1);
    assert!(r[0].1 >= 1000, "{r:?}");
    assert!(
        r[0].2.contains("429") && r[0].2.contains("Retry-After"),
        "{r:?}"
    );
    assert_eq!(budget.remaining(), 2);
}

#[tokio::test]
async fn retry_after_longer_than_the_cap_is_capped_and_said() {
    let m = serve(
        r#"
turns:
  - text: "ok"
    fault: {type: rate_limit, retry_after: 30, times: 1}
"#,
    )
    .await;
    let c = client(&m, |p| p.max_backoff_ms = 200);
    let started = Instant::now();
    let (r, notes) = complete(&c, &request("cap"), &RetryBudget::new(3)).await;
    assert_eq!(r.unwrap().attempts, 2);
    assert!(started.elapsed() < Duration::from_secs(20));
    let r = retries(&notes);
    assert_eq!(r[0].1, 200);
    assert!(r[0].2.contains("capped"), "{r:?}");
}

#[tokio::test]
async fn retries_a_500() {
    let m = serve(
        r#"
turns:
  - text: "recovered"
    fault: {type: server_error, times: 2}
"#,
    )
    .await;
    let c = client(&m, |_| {});
    let (r, notes) = complete(&c, &request("500"), &RetryBudget::new(5)).await;
    let done = r.unwrap();
    assert_eq!(done.attempts, 3);
    assert_eq!(done.content.as_deref(), Some("recovered"));
    let r = retries(&notes);
    assert_eq!(r.len(), 2);
    assert!(r[0].2.contains("500"), "{r:?}");
    assert_eq!(m.stats().requests, 3);
}

#[tokio::test]
async fn a_stream_cut_mid_tool_call_is_retried_whole() {
    let m = serve(
        r#"
turns:
  - tool_calls:
      - name: read_file
        arguments: {path: "a.txt"}
      - name: read_file
        arguments: {path: "b.txt"}
    fault: {type: cut, times: 1}
"#,
    )
    .await;
    let c = client(&m, |_| {});
    let (r, notes) = complete(&c, &request("cut"), &RetryBudget::new(5)).await;
    let done = r.unwrap();
    assert_eq!(done.attempts, 2);
    assert_eq!(m.stats().streams_cut, 1);
    // Exactly one complete set of calls.
    assert_eq!(done.tool_calls.len(), 2);
    let paths: Vec<String> = done
        .tool_calls
        .iter()
        .map(|t| {
            let v: serde_json::Value = serde_json::from_str(&t.arguments).unwrap();
            v["path"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(paths, ["a.txt", "b.txt"]);
    let r = retries(&notes);
    assert_eq!(r.len(), 1);
    assert!(r[0].2.contains("stream"), "{r:?}");
}

#[tokio::test]
async fn budget_exhaustion_is_a_clear_error() {
    let m = serve(
        r#"
turns:
  - text: "never"
    fault: {type: server_error}
"#,
    )
    .await;
    let c = client(&m, |_| {});
    let budget = RetryBudget::new(2);
    let (r, notes) = complete(&c, &request("budget"), &budget).await;
    let e = r.unwrap_err();
    assert!(
        matches!(e, LlmError::BudgetExhausted { attempts: 3, .. }),
        "{e:?}"
    );
    let msg = e.to_string();
    assert!(msg.contains("retry budget is exhausted"), "{msg}");
    assert!(msg.contains("500"), "{msg}");
    assert!(e.retryable());
    assert_eq!(retries(&notes).len(), 2);
    assert_eq!(budget.remaining(), 0);
    assert_eq!(m.stats().requests, 3);

    // The provider's own limit, with budget to spare.
    let c = client(&m, |p| p.max_retries = 1);
    let (r, _) = complete(&c, &request("budget 2"), &RetryBudget::new(10)).await;
    let e = r.unwrap_err();
    assert!(
        matches!(
            e,
            LlmError::RetriesExhausted {
                attempts: 2,
                max_retries: 1,
                ..
            }
        ),
        "{e:?}"
    );
}

#[tokio::test]
async fn a_4xx_is_not_retried() {
    let m = serve("turns:\n  - text: only the first turn\n").await;
    let c = client(&m, |_| {});
    let mut req = request("x");
    // Two assistant messages: the script has no turn for that, so the
    // scripted model answers 400.
    for _ in 0..2 {
        req.messages.push(ChatMessage::Assistant {
            content: Some("a".into()),
            tool_calls: vec![],
            reasoning: vec![],
        });
    }
    let (r, notes) = complete(&c, &req, &RetryBudget::new(5)).await;
    let e = r.unwrap_err();
    match &e {
        LlmError::Rejected {
            status, attempts, ..
        } => {
            assert_eq!(*status, 400);
            assert_eq!(*attempts, 1);
        }
        e => panic!("{e:?}"),
    }
    assert!(
        e.to_string().contains("no turn of the script matches"),
        "{e}"
    );
    assert!(!e.retryable());
    assert!(retries(&notes).is_empty());
}

#[tokio::test]
async fn a_silent_stream_times_out_and_is_retried() {
    let m = serve(
        r#"
turns:
  - text: "awake"
    fault: {type: hang, times: 1}
"#,
    )
    .await;
    let c = client(&m, |p| p.idle_timeout_ms = 300);
    let started = Instant::now();
    let (r, notes) = complete(&c, &request("hang"), &RetryBudget::new(5)).await;
    let done = r.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(done.attempts, 2);
    assert_eq!(done.content.as_deref(), Some("awake"));
    let r = retries(&notes);
    assert!(r[0].2.contains("silent for 300 ms"), "{r:?}");
}

#[tokio::test]
async fn dropping_the_future_closes_the_stream() {
    let m = serve(
        r#"
turns:
  - text: "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty"
    tokens_per_second: 10
"#,
    )
    .await;
    let c = client(&m, |_| {});
    let req = request("slow");
    let budget = RetryBudget::new(5);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let fut = async {
        let mut note = move |n: StreamNote| {
            let _ = tx.send(n);
        };
        c.complete(&req, &budget, &mut note).await
    };
    tokio::select! {
        r = fut => panic!("the slow stream finished first: {r:?}"),
        _ = async {
            // Cancel once the stream is flowing.
            rx.recv().await;
            rx.recv().await;
        } => {}
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let s = m.stats();
        if s.streams_abandoned == 1 && s.active_streams == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the server still streams: {s:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(m.stats().streams_finished, 0);
}

#[tokio::test]
async fn missing_key_variable_is_named() {
    let p = ProviderConfig::new(
        "openai",
        "https://api.openai.com/v1",
        Some("PADDOCK_TEST_UNSET_API_KEY"),
    );
    let e = ModelClient::new(&p).unwrap_err();
    assert!(e.to_string().contains("PADDOCK_TEST_UNSET_API_KEY"), "{e}");
}

#[tokio::test]
async fn stamped_tokens_carry_their_send_time() {
    let m = serve("turns:\n  - stamp_tokens: 5\n    tokens_per_second: 50\n    text: end\n").await;
    let c = client(&m, |_| {});
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros();
    let (r, _) = complete(&c, &request("stamps"), &RetryBudget::new(0)).await;
    let after = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros();
    let text = r.unwrap().content.unwrap();
    let words: Vec<&str> = text.split_whitespace().collect();
    assert_eq!(words.len(), 6, "{text}");
    assert_eq!(words[5], "end");
    let stamps: Vec<u128> = words[..5]
        .iter()
        .map(|w| w.strip_prefix('t').unwrap().parse().unwrap())
        .collect();
    for pair in stamps.windows(2) {
        assert!(
            pair[0] < pair[1],
            "stamps increase with the pace: {stamps:?}"
        );
    }
    assert!(stamps[0] >= before && stamps[4] <= after, "{stamps:?}");
}
