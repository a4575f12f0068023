//! The model client over the Responses API against a tiny local HTTP
//! server that replays a recorded stream byte for byte: split at every
//! byte boundary and at many random ones, cut before `response.completed`
//! (retried), failed (retried, the key redacted) — and Chat Completions
//! through the same reading loop.

// The helpers outside the `#[tokio::test]` functions are test code too.
#![allow(clippy::unwrap_used)]

use paddock_llm::config::ProviderConfig;
use paddock_llm::{
    ChatMessage, ChatRequest, Completion, FinishReason, ModelClient, RetryBudget, StreamNote,
    TokenUsage, ToolCallRequest, ToolDef,
};
use paddock_protocol::llm::{ReasoningEffort, ReasoningItem, WireApi};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

/// A recorded stream: a reasoning item, a message whose text interleaves
/// with the arguments of two parallel function calls, and the completed
/// response. Shapes and order as OpenAI sends them.
const RECORDED: &str = concat!(
    "event: response.created\n",
    r#"data: {"type":"response.created","sequence_number":0,"response":{"id":"resp_1","object":"response","created_at":1767000000,"status":"in_progress","model":"gpt-5-2025-08-07","output":[],"usage":null,"error":null,"incomplete_details":null}}"#,
    "\n\n",
    "event: response.in_progress\n",
    r#"data: {"type":"response.in_progress","sequence_number":1,"response":{"id":"resp_1","object":"response","status":"in_progress","output":[]}}"#,
    "\n\n",
    ": keep-alive\n\n",
    "event: response.output_item.added\n",
    r#"data: {"type":"response.output_item.added","sequence_number":2,"output_index":0,"item":{"id":"rs_1","type":"reasoning","summary":[]}}"#,
    "\n\n",
    "event: response.reasoning_summary_part.added\n",
    r#"data: {"type":"response.reasoning_summary_part.added","sequence_number":3,"item_id":"rs_1","output_index":0,"summary_index":0,"part":{"type":"summary_text","text":""}}"#,
    "\n\n",
    "event: response.reasoning_summary_text.delta\n",
    r#"data: {"type":"response.reasoning_summary_text.delta","sequence_number":4,"item_id":"rs_1","output_index":0,"summary_index":0,"delta":"**Reading the files**\n\nThe user wants a and b"}"#,
    "\n\n",
    "event: response.reasoning_summary_text.delta\n",
    r#"data: {"type":"response.reasoning_summary_text.delta","sequence_number":5,"item_id":"rs_1","output_index":0,"summary_index":0,"delta":"; I'll read both at once."}"#,
    "\n\n",
    "event: response.reasoning_summary_text.done\n",
    r#"data: {"type":"response.reasoning_summary_text.done","sequence_number":6,"item_id":"rs_1","output_index":0,"summary_index":0,"text":"**Reading the files**\n\nThe user wants a and b; I'll read both at once."}"#,
    "\n\n",
    "event: response.reasoning_summary_part.done\n",
    r#"data: {"type":"response.reasoning_summary_part.done","sequence_number":7,"item_id":"rs_1","output_index":0,"summary_index":0,"part":{"type":"summary_text","text":"**Reading the files**\n\nThe user wants a and b; I'll read both at once."}}"#,
    "\n\n",
    "event: response.output_item.done\n",
    r#"data: {"type":"response.output_item.done","sequence_number":8,"output_index":0,"item":{"id":"rs_1","type":"reasoning","summary":[{"type":"summary_text","text":"**Reading the files**\n\nThe user wants a and b; I'll read both at once."}],"encrypted_content":"gAAAAABo-ENCRYPTED-REASONING=="}}"#,
    "\n\n",
    "event: response.output_item.added\n",
    r#"data: {"type":"response.output_item.added","sequence_number":9,"output_index":1,"item":{"id":"msg_1","type":"message","status":"in_progress","content":[],"role":"assistant"}}"#,
    "\n\n",
    "event: response.content_part.added\n",
    r#"data: {"type":"response.content_part.added","sequence_number":10,"item_id":"msg_1","output_index":1,"content_index":0,"part":{"type":"output_text","annotations":[],"logprobs":[],"text":""}}"#,
    "\n\n",
    "event: response.output_text.delta\n",
    r#"data: {"type":"response.output_text.delta","sequence_number":11,"item_id":"msg_1","output_index":1,"content_index":0,"delta":"Reading a and b — ","logprobs":[],"obfuscation":"x1"}"#,
    "\n\n",
    "event: response.output_item.added\n",
    r#"data: {"type":"response.output_item.added","sequence_number":12,"output_index":2,"item":{"id":"fc_1","type":"function_call","status":"in_progress","arguments":"","call_id":"call_A1","name":"read_file"}}"#,
    "\n\n",
    "event: response.function_call_arguments.delta\n",
    r#"data: {"type":"response.function_call_arguments.delta","sequence_number":13,"item_id":"fc_1","output_index":2,"delta":"{\"path\":","obfuscation":"q"}"#,
    "\n\n",
    "event: response.output_text.delta\n",
    r#"data: {"type":"response.output_text.delta","sequence_number":14,"item_id":"msg_1","output_index":1,"content_index":0,"delta":"naïve café ✓","logprobs":[]}"#,
    "\n\n",
    "event: response.output_item.added\n",
    r#"data: {"type":"response.output_item.added","sequence_number":15,"output_index":3,"item":{"id":"fc_2","type":"function_call","status":"in_progress","arguments":"","call_id":"call_B2","name":"read_file"}}"#,
    "\n\n",
    "event: response.function_call_arguments.delta\n",
    r#"data: {"type":"response.function_call_arguments.delta","sequence_number":16,"item_id":"fc_2","output_index":3,"delta":"{\"path\":\"b.txt\"}"}"#,
    "\n\n",
    "event: response.function_call_arguments.delta\n",
    r#"data: {"type":"response.function_call_arguments.delta","sequence_number":17,"item_id":"fc_1","output_index":2,"delta":"\"a.txt\"}"}"#,
    "\n\n",
    "event: response.output_text.done\n",
    r#"data: {"type":"response.output_text.done","sequence_number":18,"item_id":"msg_1","output_index":1,"content_index":0,"text":"Reading a and b — naïve café ✓","logprobs":[]}"#,
    "\n\n",
    "event: response.content_part.done\n",
    r#"data: {"type":"response.content_part.done","sequence_number":19,"item_id":"msg_1","output_index":1,"content_index":0,"part":{"type":"output_text","annotations":[],"logprobs":[],"text":"Reading a and b — naïve café ✓"}}"#,
    "\n\n",
    "event: response.output_item.done\n",
    r#"data: {"type":"response.output_item.done","sequence_number":20,"output_index":1,"item":{"id":"msg_1","type":"message","status":"completed","content":[{"type":"output_text","annotations":[],"logprobs":[],"text":"Reading a and b — naïve café ✓"}],"role":"assistant"}}"#,
    "\n\n",
    "event: response.function_call_arguments.done\n",
    r#"data: {"type":"response.function_call_arguments.done","sequence_number":21,"item_id":"fc_2","output_index":3,"arguments":"{\"path\":\"b.txt\"}"}"#,
    "\n\n",
    "event: response.output_item.done\n",
    r#"data: {"type":"response.output_item.done","sequence_number":22,"output_index":3,"item":{"id":"fc_2","type":"function_call","status":"completed","arguments":"{\"path\":\"b.txt\"}","call_id":"call_B2","name":"read_file"}}"#,
    "\n\n",
    "event: response.function_call_arguments.done\n",
    r#"data: {"type":"response.function_call_arguments.done","sequence_number":23,"item_id":"fc_1","output_index":2,"arguments":"{\"path\":\"a.txt\"}"}"#,
    "\n\n",
    "event: response.output_item.done\n",
    r#"data: {"type":"response.output_item.done","sequence_number":24,"output_index":2,"item":{"id":"fc_1","type":"function_call","status":"completed","arguments":"{\"path\":\"a.txt\"}","call_id":"call_A1","name":"read_file"}}"#,
    "\n\n",
    "event: response.completed\n",
    r#"data: {"type":"response.completed","sequence_number":25,"response":{"id":"resp_1","object":"response","created_at":1767000000,"status":"completed","error":null,"incomplete_details":null,"model":"gpt-5-2025-08-07","output":[{"id":"rs_1","type":"reasoning","summary":[{"type":"summary_text","text":"**Reading the files**\n\nThe user wants a and b; I'll read both at once."}],"encrypted_content":"gAAAAABo-ENCRYPTED-REASONING=="},{"id":"msg_1","type":"message","status":"completed","content":[{"type":"output_text","annotations":[],"logprobs":[],"text":"Reading a and b — naïve café ✓"}],"role":"assistant"},{"id":"fc_1","type":"function_call","status":"completed","arguments":"{\"path\":\"a.txt\"}","call_id":"call_A1","name":"read_file"},{"id":"fc_2","type":"function_call","status":"completed","arguments":"{\"path\":\"b.txt\"}","call_id":"call_B2","name":"read_file"}],"parallel_tool_calls":true,"store":false,"usage":{"input_tokens":1234,"input_tokens_details":{"cached_tokens":1024},"output_tokens":321,"output_tokens_details":{"reasoning_tokens":256},"total_tokens":1555}}}"#,
    "\n\n",
);

fn expected(attempts: u32) -> Completion {
    Completion {
        content: Some("Reading a and b — naïve café ✓".into()),
        tool_calls: vec![
            ToolCallRequest {
                id: "call_A1".into(),
                name: "read_file".into(),
                arguments: "{\"path\":\"a.txt\"}".into(),
            },
            ToolCallRequest {
                id: "call_B2".into(),
                name: "read_file".into(),
                arguments: "{\"path\":\"b.txt\"}".into(),
            },
        ],
        reasoning: vec![ReasoningItem {
            id: "rs_1".into(),
            summary: vec![
                "**Reading the files**\n\nThe user wants a and b; I'll read both at once.".into(),
            ],
            encrypted_content: Some("gAAAAABo-ENCRYPTED-REASONING==".into()),
        }],
        finish_reason: FinishReason::ToolCalls,
        usage: TokenUsage {
            input_tokens: 1234,
            output_tokens: 321,
            cached_tokens: 1024,
            reasoning_tokens: 256,
        },
        attempts,
    }
}

/// What the server does with one request.
#[derive(Clone)]
struct Reply {
    /// The body's pieces, each sent as one HTTP chunk.
    pieces: Vec<Vec<u8>>,
    /// Close the connection after the pieces without ending the body.
    abort: bool,
}

impl Reply {
    fn split(body: &[u8], cuts: &[usize]) -> Reply {
        let mut pieces = Vec::new();
        let mut from = 0;
        for &c in cuts {
            if c > from && c < body.len() {
                pieces.push(body[from..c].to_vec());
                from = c;
            }
        }
        pieces.push(body[from..].to_vec());
        Reply {
            pieces,
            abort: false,
        }
    }
}

/// A local HTTP server answering each request with the next reply (the
/// last one over and over), recording the request heads and bodies.
struct Server {
    base_url: String,
    requests: Arc<Mutex<Vec<(String, serde_json::Value)>>>,
}

async fn serve(replies: Vec<Reply>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}/v1", listener.local_addr().unwrap());
    let requests = Arc::new(Mutex::new(Vec::new()));
    let log = requests.clone();
    tokio::spawn(async move {
        let mut n = 0;
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                return;
            };
            let reply = replies[n.min(replies.len() - 1)].clone();
            n += 1;
            let log = log.clone();
            tokio::spawn(async move {
                let _ = answer(sock, reply, log).await;
            });
        }
    });
    Server { base_url, requests }
}

async fn answer(
    mut sock: TcpStream,
    reply: Reply,
    log: Arc<Mutex<Vec<(String, serde_json::Value)>>>,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let head_end = loop {
        let mut b = [0u8; 4096];
        let n = sock.read(&mut b).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&b[..n]);
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    while buf.len() < head_end + len {
        let mut b = [0u8; 4096];
        let n = sock.read(&mut b).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&b[..n]);
    }
    let body = serde_json::from_slice(&buf[head_end..head_end + len]).unwrap_or_default();
    log.lock().unwrap().push((head, body));
    sock.write_all(
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n",
    )
    .await?;
    for p in &reply.pieces {
        if p.is_empty() {
            continue;
        }
        let mut chunk = format!("{:x}\r\n", p.len()).into_bytes();
        chunk.extend_from_slice(p);
        chunk.extend_from_slice(b"\r\n");
        sock.write_all(&chunk).await?;
        sock.flush().await?;
    }
    if !reply.abort {
        sock.write_all(b"0\r\n\r\n").await?;
    }
    sock.shutdown().await
}

fn client(server: &Server, key_env: Option<&str>) -> ModelClient {
    let mut p = ProviderConfig::new("openai", &server.base_url, key_env);
    p.api = WireApi::Responses;
    p.initial_backoff_ms = 1;
    p.max_backoff_ms = 5;
    p.idle_timeout_ms = 5_000;
    p.max_retries = 3;
    ModelClient::new(&p).unwrap()
}

fn request() -> ChatRequest {
    ChatRequest {
        model: "gpt-5".into(),
        messages: vec![
            ChatMessage::System {
                content: "You are a test.".into(),
            },
            ChatMessage::User {
                content: "Read a.txt and b.txt".into(),
            },
        ],
        tools: vec![ToolDef {
            name: "read_file".into(),
            description: "Reads a file.".into(),
            parameters: serde_json::json!({"type": "object", "properties": {"path": {"type": "string"}}}),
        }],
        temperature: None,
        max_tokens: Some(4096),
        prompt_cache_key: Some("agent-7".into()),
        reasoning: true,
        reasoning_effort: Some(ReasoningEffort::Medium),
        verbosity: None,
    }
}

async fn complete(c: &ModelClient) -> (Completion, Vec<StreamNote>) {
    let mut notes = Vec::new();
    let r = c
        .complete(&request(), &RetryBudget::new(10), &mut |n| notes.push(n))
        .await
        .unwrap();
    (r, notes)
}

/// Concatenated text and reasoning notes of the last attempt, and the
/// retry reasons.
fn live(notes: &[StreamNote]) -> (String, String, Vec<String>) {
    let (mut text, mut reasoning, mut retries) = (String::new(), String::new(), Vec::new());
    for n in notes {
        match n {
            StreamNote::Delta(t) => text.push_str(t),
            StreamNote::Reasoning(t) => reasoning.push_str(t),
            StreamNote::Retrying { reason, .. } => {
                text.clear();
                reasoning.clear();
                retries.push(reason.clone());
            }
        }
    }
    (text, reasoning, retries)
}

/// A small deterministic generator, so a failing split can be replayed.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self, below: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % below as u64) as usize
    }
}

#[tokio::test]
async fn the_chunks_reach_the_client_as_sent() {
    // Guards the test itself: each piece must arrive as its own read, or
    // the splits below would test nothing.
    let pieces: Vec<Vec<u8>> = (0..50).map(|i| vec![b'a' + (i % 26) as u8]).collect();
    let server = serve(vec![Reply {
        pieces: pieces.clone(),
        abort: false,
    }])
    .await;
    let resp = reqwest::Client::new()
        .post(format!("{}/responses", server.base_url))
        .body("{}")
        .send()
        .await
        .unwrap();
    let mut stream = resp.bytes_stream();
    let mut frames = Vec::new();
    use futures::StreamExt as _;
    while let Some(b) = stream.next().await {
        frames.push(b.unwrap().to_vec());
    }
    assert_eq!(frames, pieces);
}

#[tokio::test]
async fn a_recorded_stream_split_anywhere_assembles_exactly() {
    let body = RECORDED.as_bytes();
    let mut replies = vec![
        Reply::split(body, &[]),
        // Every byte boundary at once: one byte per read.
        Reply::split(body, &(1..body.len()).collect::<Vec<_>>()),
    ];
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    for _ in 0..300 {
        let n = 1 + rng.next(40);
        let mut cuts: Vec<usize> = (0..n).map(|_| 1 + rng.next(body.len() - 1)).collect();
        cuts.sort_unstable();
        replies.push(Reply::split(body, &cuts));
    }
    let count = replies.len();
    let server = serve(replies.clone()).await;
    let c = client(&server, None);
    for (i, reply) in replies.iter().enumerate().take(count) {
        let (got, notes) = complete(&c).await;
        let sizes: Vec<usize> = reply.pieces.iter().map(Vec::len).collect();
        assert_eq!(got, expected(1), "reply {i}, pieces {sizes:?}");
        let (text, reasoning, retries) = live(&notes);
        assert!(retries.is_empty(), "reply {i}: {retries:?}");
        assert_eq!(text, "Reading a and b — naïve café ✓", "reply {i}");
        assert_eq!(
            reasoning, "**Reading the files**\n\nThe user wants a and b; I'll read both at once.",
            "reply {i}"
        );
    }
    let requests = server.requests.lock().unwrap();
    assert_eq!(requests.len(), count);
    let (head, body) = &requests[0];
    assert!(
        head.starts_with("POST /v1/responses HTTP/1.1\r\n"),
        "{head}"
    );
    assert!(
        head.to_ascii_lowercase()
            .contains("accept: text/event-stream"),
        "{head}"
    );
    assert_eq!(body["model"], "gpt-5");
    assert_eq!(body["store"], false);
    assert_eq!(body["stream"], true);
    assert_eq!(
        body["include"],
        serde_json::json!(["reasoning.encrypted_content"])
    );
    assert_eq!(
        body["reasoning"],
        serde_json::json!({"summary": "auto", "effort": "medium"})
    );
    assert_eq!(body["input"][0]["role"], "developer");
    assert_eq!(body["tools"][0]["name"], "read_file");
}

#[tokio::test]
async fn a_cut_stream_is_retried_and_surfaces_nothing() {
    let body = RECORDED.as_bytes();
    let completed = RECORDED.find("event: response.completed").unwrap();
    // Attempt 1: the connection drops in the middle of the first call's
    // arguments. Attempt 2: the body ends cleanly, but before
    // `response.completed` — every call was whole by then. Attempt 3: whole.
    let args = RECORDED.find("\\\"a.txt").unwrap();
    let server = serve(vec![
        Reply {
            pieces: vec![body[..args].to_vec()],
            abort: true,
        },
        Reply::split(&body[..completed], &[completed / 2]),
        Reply::split(body, &[completed, completed + 10]),
    ])
    .await;
    let c = client(&server, None);
    let (got, notes) = complete(&c).await;
    assert_eq!(got, expected(3));
    let (text, _, retries) = live(&notes);
    assert_eq!(text, "Reading a and b — naïve café ✓");
    assert_eq!(retries.len(), 2, "{retries:?}");
    assert!(retries[0].contains("the stream broke"), "{retries:?}");
    assert!(
        retries[1].contains("before the response was complete"),
        "{retries:?}"
    );
    assert_eq!(server.requests.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn failed_responses_and_errors_are_retried_without_the_key() {
    // A variable every test environment has; its value is the "key".
    let key = std::env::var("PATH").unwrap();
    let key = key.trim();
    let failed = format!(
        "event: response.failed\ndata: {}\n\n",
        serde_json::json!({"type": "response.failed", "sequence_number": 3, "response": {
            "id": "resp_1", "status": "failed",
            "error": {"code": "server_error", "message": format!("bad key {key}")}}})
    );
    let error = format!(
        "event: error\ndata: {}\n\n",
        serde_json::json!({"type": "error", "sequence_number": 1, "code": "rate_limit_exceeded",
            "message": format!("slow down, {key}"), "param": null})
    );
    let head_end = RECORDED.find("event: response.output_item.added").unwrap();
    let server = serve(vec![
        Reply::split(format!("{}{failed}", &RECORDED[..head_end]).as_bytes(), &[]),
        Reply::split(error.as_bytes(), &[]),
        Reply::split(RECORDED.as_bytes(), &[]),
    ])
    .await;
    let c = client(&server, Some("PATH"));
    let (got, notes) = complete(&c).await;
    assert_eq!(got, expected(3));
    let (_, _, retries) = live(&notes);
    assert_eq!(retries.len(), 2, "{retries:?}");
    assert!(
        retries[0].starts_with("the response failed: bad key <redacted> (server_error)"),
        "{retries:?}"
    );
    assert!(
        retries[1].starts_with("error in the stream: slow down, <redacted> (rate_limit_exceeded)"),
        "{retries:?}"
    );
    for r in &retries {
        assert!(!r.contains(key), "{r}");
    }
    let head = &server.requests.lock().unwrap()[0].0;
    assert!(head.contains("authorization: Bearer ") || head.contains("Authorization: Bearer "));
}

/// The same client over Chat Completions (the default API), which shares
/// the reading loop: a recorded chunk stream split one byte per read, and
/// one that ends without `[DONE]` or a finish reason (retried).
#[tokio::test]
async fn chat_completions_still_stream_through_the_shared_loop() {
    let chunks = [
        r#"{"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}"#,
        r#"{"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"naïve "},"finish_reason":null}]}"#,
        r#"{"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"read_file","arguments":"{\"pa"}}]},"finish_reason":null}]}"#,
        r#"{"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"th\":\"a\"}"}}]},"finish_reason":null}]}"#,
        r#"{"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
        r#"{"id":"c1","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15,"prompt_tokens_details":{"cached_tokens":2}}}"#,
    ];
    let mut stream: String = chunks.iter().map(|c| format!("data: {c}\n\n")).collect();
    let cut = stream.len() - chunks[4].len() - chunks[5].len() - 16;
    stream.push_str("data: [DONE]\n\n");
    let body = stream.as_bytes();
    let server = serve(vec![
        Reply::split(&body[..cut], &[]),
        Reply::split(body, &(1..body.len()).collect::<Vec<_>>()),
    ])
    .await;
    let mut p = ProviderConfig::new("local", &server.base_url, None);
    p.initial_backoff_ms = 1;
    p.max_backoff_ms = 5;
    let c = ModelClient::new(&p).unwrap();
    let mut req = request();
    req.reasoning = false;
    let mut notes = Vec::new();
    let got = c
        .complete(&req, &RetryBudget::new(10), &mut |n| notes.push(n))
        .await
        .unwrap();
    assert_eq!(
        got,
        Completion {
            content: Some("naïve ".into()),
            tool_calls: vec![ToolCallRequest {
                id: "call_1".into(),
                name: "read_file".into(),
                arguments: "{\"path\":\"a\"}".into(),
            }],
            reasoning: vec![],
            finish_reason: FinishReason::ToolCalls,
            usage: TokenUsage {
                input_tokens: 10,
                output_tokens: 5,
                cached_tokens: 2,
                reasoning_tokens: 0,
            },
            attempts: 2,
        }
    );
    let (text, _, retries) = live(&notes);
    assert_eq!(text, "naïve ");
    assert_eq!(retries.len(), 1);
    assert!(
        retries[0].contains("no finish_reason, no [DONE]"),
        "{retries:?}"
    );
    let requests = server.requests.lock().unwrap();
    assert!(
        requests[0]
            .0
            .starts_with("POST /v1/chat/completions HTTP/1.1\r\n")
    );
    assert_eq!(requests[0].1["messages"][0]["role"], "system");
}
