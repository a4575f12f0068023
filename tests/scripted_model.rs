//! `paddock scripted-model` as a real process: the raw wire format a client
//! sees — SSE framing, chunk objects, the tool-call delta layout, the usage
//! chunk, `[DONE]`, OpenAI error bodies with `Retry-After`, `/v1/models`.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// Kills the server when the test ends, however it ends.
struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(script: &str) -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("script.yaml");
    std::fs::write(&path, script).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_paddock"))
        .args(["scripted-model", "--script"])
        .arg(&path)
        .args(["--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut server = Server {
        child,
        base: String::new(),
    };
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    assert!(
        base.starts_with("http://127.0.0.1:") && base.ends_with("/v1"),
        "{base}"
    );
    server.base = base;
    (server, dir)
}

const SCRIPT: &str = r#"
model: scripted-e2e
scenarios:
  - name: limited
    match: "^rate"
    turns:
      - text: "after the wait"
        fault: {type: rate_limit, retry_after: 7, times: 1}
turns:
  - text: "Hello wire world"
    tool_calls:
      - name: read_file
        arguments: {path: "a/long/path/to/file.txt"}
      - name: list_dir
        arguments: {path: "."}
    usage: {cached_tokens: 3}
"#;

/// The `data:` payloads of an SSE body, checking the framing on the way.
fn sse_events(body: &str) -> Vec<String> {
    assert!(body.ends_with("\n\n"), "events end with a blank line");
    body.split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|e| {
            let data = e
                .strip_prefix("data: ")
                .unwrap_or_else(|| panic!("not a data event: {e:?}"));
            assert!(!data.contains('\n'), "one line per event: {e:?}");
            data.to_string()
        })
        .collect()
}

#[tokio::test]
async fn streams_openai_chunks() {
    let (server, _dir) = start(SCRIPT);
    let http = reqwest::Client::new();
    let resp = http
        .post(format!("{}/chat/completions", server.base))
        .json(&json!({
            "model": "gpt-test",
            "stream": true,
            "stream_options": {"include_usage": true},
            "messages": [{"role": "user", "content": "hello"}],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    let body = resp.text().await.unwrap();
    let events = sse_events(&body);
    assert_eq!(events.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    let id = chunks[0]["id"].as_str().unwrap();
    assert!(id.starts_with("chatcmpl-"));
    for c in &chunks {
        assert_eq!(c["id"], id);
        assert_eq!(c["object"], "chat.completion.chunk");
        assert_eq!(c["model"], "gpt-test");
        assert!(c["created"].is_u64());
        assert!(c["system_fingerprint"].is_string());
        assert!(c.as_object().unwrap().contains_key("usage"));
    }
    // The first chunk carries the role.
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(chunks[0]["choices"][0]["index"], 0);
    assert!(chunks[0]["choices"][0]["logprobs"].is_null());
    assert!(chunks[0]["choices"][0]["finish_reason"].is_null());
    // Text in several pieces.
    let text: Vec<&str> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .filter(|s| !s.is_empty())
        .collect();
    assert_eq!(text, ["Hello ", "wire ", "world"]);
    // Tool calls: a first delta with id, type and name, then fragments.
    let deltas: Vec<&Value> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"].as_array())
        .flatten()
        .collect();
    let mut args = ["".to_string(), "".to_string()];
    let mut seen_start = [false, false];
    for d in &deltas {
        let i = d["index"].as_u64().unwrap() as usize;
        if d.get("id").is_some() {
            assert!(!seen_start[i], "one first delta per call");
            seen_start[i] = true;
            assert!(d["id"].as_str().unwrap().starts_with("call_"));
            assert_eq!(d["type"], "function");
            assert!(d["function"]["name"].is_string());
        } else {
            assert!(seen_start[i], "fragments follow the first delta");
            assert!(d.get("type").is_none() && d["function"].get("name").is_none());
        }
        args[i].push_str(d["function"]["arguments"].as_str().unwrap());
    }
    assert!(deltas.len() > 6, "arguments split over many chunks");
    assert_eq!(
        serde_json::from_str::<Value>(&args[0]).unwrap(),
        json!({"path": "a/long/path/to/file.txt"})
    );
    assert_eq!(
        serde_json::from_str::<Value>(&args[1]).unwrap(),
        json!({"path": "."})
    );
    // The finish chunk, then the usage chunk with no choices.
    let n = chunks.len();
    assert_eq!(chunks[n - 2]["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(chunks[n - 2]["choices"][0]["delta"], json!({}));
    assert!(chunks[n - 2]["usage"].is_null());
    let usage = &chunks[n - 1];
    assert_eq!(usage["choices"], json!([]));
    let u = &usage["usage"];
    assert_eq!(
        u["total_tokens"].as_u64().unwrap(),
        u["prompt_tokens"].as_u64().unwrap() + u["completion_tokens"].as_u64().unwrap()
    );
    assert!(u["prompt_tokens"].as_u64().unwrap() > 0);
    assert_eq!(u["prompt_tokens_details"]["cached_tokens"], 3);
    assert!(u["completion_tokens_details"].is_object());

    // Without include_usage: no usage field and no usage chunk.
    let body = http
        .post(format!("{}/chat/completions", server.base))
        .json(&json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": "hello"}]}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let events = sse_events(&body);
    let last: Value = serde_json::from_str(&events[events.len() - 2]).unwrap();
    assert_eq!(last["choices"][0]["finish_reason"], "tool_calls");
    assert!(last.get("usage").is_none());
}

#[tokio::test]
async fn non_streaming_models_errors_and_request_log() {
    let (server, _dir) = start(SCRIPT);
    let http = reqwest::Client::new();
    let url = format!("{}/chat/completions", server.base);

    let whole: Value = http
        .post(&url)
        .json(&json!({"model": "m", "messages": [{"role": "user", "content": "hello"}]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(whole["object"], "chat.completion");
    let msg = &whole["choices"][0]["message"];
    assert_eq!(msg["role"], "assistant");
    assert_eq!(msg["content"], "Hello wire world");
    assert_eq!(msg["tool_calls"][1]["function"]["name"], "list_dir");
    assert_eq!(msg["tool_calls"][1]["type"], "function");
    assert_eq!(whole["choices"][0]["finish_reason"], "tool_calls");
    assert!(whole["usage"]["prompt_tokens"].as_u64().unwrap() > 0);

    // 429 with Retry-After, once for this conversation.
    let body =
        json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": "rate me"}]});
    let resp = http.post(&url).json(&body).send().await.unwrap();
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"].to_str().unwrap(), "7");
    let err: Value = resp.json().await.unwrap();
    let e = &err["error"];
    assert!(e["message"].as_str().unwrap().contains("Rate limit"));
    assert_eq!(e["type"], "requests");
    assert_eq!(e["code"], "rate_limit_exceeded");
    assert!(e.as_object().unwrap().contains_key("param"));
    let resp = http.post(&url).json(&body).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().contains("after "));

    // Bad requests.
    let resp = http
        .post(&url)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let err: Value = resp.json().await.unwrap();
    assert_eq!(err["error"]["type"], "invalid_request_error");
    let resp = http
        .post(&url)
        .json(&json!({"messages": [{"role": "user", "content": "x"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let err: Value = resp.json().await.unwrap();
    assert_eq!(err["error"]["param"], "model");
    let resp = http
        .post(&url)
        .json(&json!({"model": "m"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);

    // Models.
    let models: Value = http
        .get(format!("{}/models", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(models["object"], "list");
    assert_eq!(models["data"][0]["id"], "scripted-e2e");
    assert_eq!(models["data"][0]["object"], "model");

    // The request log holds the parsed bodies (the invalid JSON is not there).
    let log: Vec<Value> = http
        .get(format!("{}/_scripted/requests", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(log.len(), 5);
    assert_eq!(log[1]["messages"][0]["content"], "rate me");
}

#[test]
fn a_bad_script_is_refused_with_its_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(
        &path,
        "turns:\n  - text: a\n  - when: {tool: \"(\"}\n    text: b\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_paddock"))
        .args(["scripted-model", "--script"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("turn 1: `when.tool`"), "{err}");
}
