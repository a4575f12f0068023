//! The scripted model's HTTP side: the OpenAI-compatible routes, the exact
//! chunk and error wire format, pacing, fault injection, the request log
//! and the counters tests read.

use super::script::{Conversation, Deltas, Fault, Script, Turn};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State as AxState;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Request bodies kept for `/v1/_scripted/requests`.
pub const REQUEST_LOG_LEN: usize = 200;

/// What the server has seen, for tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// `POST /v1/chat/completions` requests received.
    pub requests: u64,
    /// Streams sent to the end (`[DONE]`).
    pub streams_finished: u64,
    /// Streams the client went away from before the end.
    pub streams_abandoned: u64,
    /// Streams cut on purpose (`cut` faults).
    pub streams_cut: u64,
    /// Streams being sent now.
    pub active_streams: u64,
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    finished: AtomicU64,
    abandoned: AtomicU64,
    cut: AtomicU64,
    active: AtomicU64,
}

/// The server's shared state.
pub(super) struct State {
    script: Script,
    log: Mutex<VecDeque<Value>>,
    asks: Mutex<HashMap<(u64, usize, usize), u32>>,
    counters: Counters,
    pub(super) cancel: CancellationToken,
}

impl State {
    pub(super) fn new(script: Script) -> State {
        State {
            script,
            log: Mutex::new(VecDeque::new()),
            asks: Mutex::new(HashMap::new()),
            counters: Counters::default(),
            cancel: CancellationToken::new(),
        }
    }

    pub(super) fn stats(&self) -> Stats {
        let c = &self.counters;
        Stats {
            requests: c.requests.load(Ordering::Acquire),
            streams_finished: c.finished.load(Ordering::Acquire),
            streams_abandoned: c.abandoned.load(Ordering::Acquire),
            streams_cut: c.cut.load(Ordering::Acquire),
            active_streams: c.active.load(Ordering::Acquire),
        }
    }

    pub(super) fn requests(&self) -> Vec<Value> {
        self.log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .cloned()
            .collect()
    }
}

pub(super) fn router(state: Arc<State>) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/v1/models", get(models))
        .route("/v1/_scripted/requests", get(requests))
        .fallback(not_found)
        // Long conversations (thousands of tool results) make large
        // requests; real providers take tens of MB.
        .layer(axum::extract::DefaultBodyLimit::max(MAX_REQUEST_BODY))
        .with_state(state)
}

/// Largest request body the scripted model reads.
pub const MAX_REQUEST_BODY: usize = 64 * 1024 * 1024;

fn openai_error(
    status: StatusCode,
    kind: &str,
    code: Option<&str>,
    param: Option<&str>,
    message: &str,
) -> Response {
    let body = json!({"error": {"message": message, "type": kind, "param": param, "code": code}});
    (status, axum::Json(body)).into_response()
}

fn bad_request(param: Option<&str>, message: &str) -> Response {
    openai_error(
        StatusCode::BAD_REQUEST,
        "invalid_request_error",
        None,
        param,
        message,
    )
}

async fn not_found() -> Response {
    openai_error(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        Some("unknown_url"),
        None,
        "Unknown request URL. The scripted model serves POST /v1/chat/completions, GET /v1/models and GET /v1/_scripted/requests.",
    )
}

async fn models(AxState(st): AxState<Arc<State>>) -> Response {
    axum::Json(json!({
        "object": "list",
        "data": [{"id": st.script.model, "object": "model", "created": 0, "owned_by": "paddock"}]
    }))
    .into_response()
}

async fn requests(AxState(st): AxState<Arc<State>>) -> Response {
    axum::Json(Value::Array(st.requests())).into_response()
}

fn now_micros() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or(0)
}

fn conversation_key(first_user: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    first_user.hash(&mut h);
    h.finish()
}

async fn chat(AxState(st): AxState<Arc<State>>, body: Bytes) -> Response {
    st.counters.requests.fetch_add(1, Ordering::AcqRel);
    let v: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return bad_request(
                None,
                &format!("We could not parse the JSON body of your request: {e}"),
            );
        }
    };
    {
        let mut log = st.log.lock().unwrap_or_else(|e| e.into_inner());
        if log.len() == REQUEST_LOG_LEN {
            log.pop_front();
        }
        log.push_back(v.clone());
    }
    let Some(model) = v.get("model").and_then(Value::as_str) else {
        return bad_request(Some("model"), "you must provide a model parameter");
    };
    let Some(messages) = v
        .get("messages")
        .and_then(Value::as_array)
        .filter(|m| !m.is_empty())
    else {
        return bad_request(
            Some("messages"),
            "you must provide a non-empty messages array",
        );
    };
    let stream = v.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let include_usage = v
        .pointer("/stream_options/include_usage")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let convo = Conversation::from_messages(messages);
    let Some(sel) = st.script.select(&convo) else {
        let first: String = convo.first_user.chars().take(80).collect();
        return bad_request(
            Some("messages"),
            &format!(
                "scripted model: no turn of the script matches this conversation ({} assistant messages; first user message {first:?})",
                convo.assistant_turns
            ),
        );
    };
    let key = conversation_key(&convo.first_user);
    let asked = {
        let mut asks = st.asks.lock().unwrap_or_else(|e| e.into_inner());
        let n = asks.entry((key, sel.scenario, sel.index)).or_insert(0);
        let asked = *n;
        *n = n.saturating_add(1);
        asked
    };
    let fault = sel
        .turn
        .fault
        .clone()
        .filter(|f| f.times().is_none_or(|k| asked < k));
    tracing::debug!(turn = %sel.turn.label, asked, ?fault, "scripted model answers");
    match fault {
        Some(Fault::RateLimit { retry_after, .. }) => {
            let mut r = openai_error(
                StatusCode::TOO_MANY_REQUESTS,
                "requests",
                Some("rate_limit_exceeded"),
                None,
                &format!(
                    "Rate limit reached for {model} (scripted). Please try again in {retry_after}s."
                ),
            );
            if let Ok(v) = header::HeaderValue::from_str(&retry_after.to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return r;
        }
        Some(Fault::ServerError { .. }) => {
            return openai_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                None,
                None,
                "The server had an error while processing your request (scripted).",
            );
        }
        _ => {}
    }
    let plan = Plan::new(sel.turn, model, key, sel.index, body.len(), include_usage);
    let (cut_at, hang) = match &fault {
        Some(Fault::Cut { at_chunk, .. }) => (Some(at_chunk.unwrap_or(plan.default_cut())), None),
        Some(Fault::Hang {
            seconds, at_chunk, ..
        }) => (None, Some((at_chunk.unwrap_or(1), *seconds))),
        _ => (None, None),
    };
    if let Some((0, seconds)) = hang {
        // Silence before even the headers.
        if !silence(&st, seconds, None).await {
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    }
    if !stream {
        if let Some((at, seconds)) = hang
            && at > 0
            && !silence(&st, seconds, None).await
        {
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
        if cut_at.is_some() {
            st.counters.cut.fetch_add(1, Ordering::AcqRel);
            let broken = futures::stream::once(async {
                Err::<Bytes, _>(std::io::Error::new(
                    std::io::ErrorKind::ConnectionAborted,
                    "scripted cut",
                ))
            });
            return Response::new(Body::from_stream(broken));
        }
        return axum::Json(plan.whole()).into_response();
    }
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(16);
    let hang = hang.filter(|(at, _)| *at > 0);
    tokio::spawn(produce(st.clone(), plan, cut_at, hang, tx));
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        ))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// Waits `seconds` (forever when `None`); `false` when the server shuts
/// down or the client goes away first.
async fn silence(
    st: &State,
    seconds: Option<f64>,
    tx: Option<&mpsc::Sender<Result<Bytes, std::io::Error>>>,
) -> bool {
    let sleep = async {
        match seconds {
            Some(s) => tokio::time::sleep(Duration::from_secs_f64(s)).await,
            None => std::future::pending().await,
        }
    };
    let closed = async {
        match tx {
            Some(tx) => tx.closed().await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = sleep => true,
        _ = closed => false,
        _ = st.cancel.cancelled() => false,
    }
}

struct ActiveGuard(Arc<State>);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.counters.active.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Sends the plan's chunks, paced, with the fault if any.
async fn produce(
    st: Arc<State>,
    plan: Plan,
    cut_at: Option<usize>,
    hang: Option<(usize, Option<f64>)>,
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
) {
    st.counters.active.fetch_add(1, Ordering::AcqRel);
    let _guard = ActiveGuard(st.clone());
    let abandoned = || {
        st.counters.abandoned.fetch_add(1, Ordering::AcqRel);
    };
    let start = Instant::now();
    let mut tokens = 0u64;
    let finish_at = plan.finish_index();
    let cut_at = cut_at.map(|c| c.min(finish_at));
    let hang = hang.map(|(at, s)| (at.min(plan.pieces.len()), s));
    for i in 0..=plan.pieces.len() {
        if cut_at == Some(i) {
            st.counters.cut.fetch_add(1, Ordering::AcqRel);
            let _ = tx
                .send(Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionAborted,
                    "scripted cut",
                )))
                .await;
            return;
        }
        if let Some((at, seconds)) = hang
            && at == i
            && !silence(&st, seconds, Some(&tx)).await
        {
            if tx.is_closed() {
                abandoned();
            }
            return;
        }
        let data = match plan.pieces.get(i) {
            Some(piece) => {
                if piece.is_token() && plan.pace > 0.0 {
                    tokens += 1;
                    let due = start + Duration::from_secs_f64(tokens as f64 / plan.pace);
                    tokio::select! {
                        _ = tokio::time::sleep_until(due.into()) => {}
                        _ = tx.closed() => { abandoned(); return; }
                        _ = st.cancel.cancelled() => return,
                    }
                }
                plan.render(piece).to_string()
            }
            None => "[DONE]".to_string(),
        };
        if tx
            .send(Ok(Bytes::from(format!("data: {data}\n\n"))))
            .await
            .is_err()
        {
            abandoned();
            return;
        }
    }
    st.counters.finished.fetch_add(1, Ordering::AcqRel);
}

/// One piece of a streamed answer.
#[derive(Debug)]
enum Piece {
    Role,
    Text(String),
    Stamp,
    CallStart {
        index: usize,
        id: String,
        name: String,
    },
    Args {
        index: usize,
        fragment: String,
    },
    Finish,
    Usage,
}

impl Piece {
    fn is_token(&self) -> bool {
        matches!(self, Piece::Text(_) | Piece::Stamp | Piece::Args { .. })
    }
}

/// A turn's answer, laid out as chunks.
struct Plan {
    id: String,
    created: u64,
    model: String,
    pace: f64,
    pieces: Vec<Piece>,
    finish_reason: String,
    include_usage: bool,
    prompt_tokens: u64,
    completion_tokens: u64,
    cached_tokens: u64,
    text: Option<String>,
    stamps: u32,
    calls: Vec<(String, String, String)>,
}

/// Splits text into words, each with the whitespace after it.
fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_space = false;
    for ch in text.chars() {
        if !ch.is_whitespace() && in_space {
            out.push(std::mem::take(&mut cur));
            in_space = false;
        }
        if ch.is_whitespace() {
            in_space = true;
        }
        cur.push(ch);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Splits text into pieces of 4 characters.
fn fours(text: &str) -> Vec<String> {
    sized(text, 4, 4)
}

/// Splits text into pieces of `min`, `min + 1`, …, `max`, `min`, …
/// characters (each at least 1).
fn sized(text: &str, min: usize, max: usize) -> Vec<String> {
    let (min, max) = (min.max(1), max.max(min.max(1)));
    let mut sizes = (min..=max).cycle();
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while chars.peek().is_some() {
        let n = sizes.next().unwrap_or(min);
        out.push(chars.by_ref().take(n).collect());
    }
    out
}

impl Plan {
    fn new(
        turn: &Turn,
        model: &str,
        key: u64,
        index: usize,
        request_bytes: usize,
        include_usage: bool,
    ) -> Plan {
        let mut pieces = vec![Piece::Role];
        pieces.extend((0..turn.stamp_tokens).map(|_| Piece::Stamp));
        if let Some(t) = &turn.text {
            let split = match turn.deltas {
                Deltas::Words => words(t),
                Deltas::Chars { min, max } => sized(t, min, max),
            };
            pieces.extend(split.into_iter().map(Piece::Text));
        }
        let mut calls = Vec::new();
        for (i, c) in turn.tool_calls.iter().enumerate() {
            let id = format!("call_{:016x}_{index}_{i}", key);
            pieces.push(Piece::CallStart {
                index: i,
                id: id.clone(),
                name: c.name.clone(),
            });
            pieces.extend(
                fours(&c.arguments)
                    .into_iter()
                    .map(|fragment| Piece::Args { index: i, fragment }),
            );
            calls.push((id, c.name.clone(), c.arguments.clone()));
        }
        pieces.push(Piece::Finish);
        if include_usage {
            pieces.push(Piece::Usage);
        }
        let streamed = pieces
            .iter()
            .filter(|p| p.is_token() || matches!(p, Piece::CallStart { .. }))
            .count() as u64;
        let created = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Plan {
            id: format!("chatcmpl-{}", uuid::Uuid::new_v4().simple()),
            created,
            model: model.to_string(),
            pace: turn.tokens_per_second,
            pieces,
            finish_reason: turn.finish_reason.clone(),
            include_usage,
            prompt_tokens: turn
                .usage
                .prompt_tokens
                .unwrap_or((request_bytes as u64).div_ceil(4)),
            completion_tokens: turn.usage.completion_tokens.unwrap_or(streamed),
            cached_tokens: turn.usage.cached_tokens.unwrap_or(0),
            text: turn.text.clone(),
            stamps: turn.stamp_tokens,
            calls,
        }
    }

    fn finish_index(&self) -> usize {
        self.pieces
            .iter()
            .position(|p| matches!(p, Piece::Finish))
            .unwrap_or(self.pieces.len())
    }

    /// Through the first argument fragment of the first tool call; without
    /// tool calls, half the text.
    fn default_cut(&self) -> usize {
        match self
            .pieces
            .iter()
            .position(|p| matches!(p, Piece::Args { .. }))
        {
            Some(i) => i + 1,
            None => (self.finish_index() / 2).max(1),
        }
    }

    fn usage(&self) -> Value {
        json!({
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
            "prompt_tokens_details": {"cached_tokens": self.cached_tokens, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0
            }
        })
    }

    fn chunk(&self, choices: Value, usage: Option<Value>) -> Value {
        let mut c = json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": "fp_scripted",
            "choices": choices,
        });
        if self.include_usage {
            c["usage"] = usage.unwrap_or(Value::Null);
        }
        c
    }

    fn delta(&self, delta: Value, finish: Option<&str>) -> Value {
        self.chunk(
            json!([{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]),
            None,
        )
    }

    fn render(&self, piece: &Piece) -> Value {
        match piece {
            Piece::Role => {
                let content = if self.text.is_none() && self.stamps == 0 {
                    Value::Null
                } else {
                    json!("")
                };
                self.delta(
                    json!({"role": "assistant", "content": content, "refusal": null}),
                    None,
                )
            }
            Piece::Text(t) => self.delta(json!({"content": t}), None),
            Piece::Stamp => self.delta(json!({"content": format!("t{} ", now_micros())}), None),
            Piece::CallStart { index, id, name } => self.delta(
                json!({"tool_calls": [{"index": index, "id": id, "type": "function",
                    "function": {"name": name, "arguments": ""}}]}),
                None,
            ),
            Piece::Args { index, fragment } => self.delta(
                json!({"tool_calls": [{"index": index, "function": {"arguments": fragment}}]}),
                None,
            ),
            Piece::Finish => self.delta(json!({}), Some(&self.finish_reason)),
            Piece::Usage => self.chunk(json!([]), Some(self.usage())),
        }
    }

    /// The non-streaming `chat.completion`.
    fn whole(&self) -> Value {
        let mut text: Option<String> = None;
        if self.stamps > 0 || self.text.is_some() {
            let mut t = String::new();
            for _ in 0..self.stamps {
                t.push_str(&format!("t{} ", now_micros()));
            }
            t.push_str(self.text.as_deref().unwrap_or(""));
            text = Some(t);
        }
        let mut message = json!({"role": "assistant", "content": text, "refusal": null});
        if !self.calls.is_empty() {
            message["tool_calls"] = self
                .calls
                .iter()
                .map(|(id, name, args)| {
                    json!({"id": id, "type": "function", "function": {"name": name, "arguments": args}})
                })
                .collect();
        }
        json!({
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": "fp_scripted",
            "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": self.finish_reason}],
            "usage": self.usage(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_keep_their_spaces() {
        assert_eq!(
            words("Hello big  world\n"),
            vec!["Hello ", "big  ", "world\n"]
        );
        assert_eq!(words(" lead"), vec![" ", "lead"]);
        assert_eq!(fours("{\"a\": 1}"), vec!["{\"a\"", ": 1}"]);
        assert_eq!(
            sized("CANARYq7Zp3xé", 1, 3),
            vec!["C", "AN", "ARY", "q", "7Z", "p3x", "é"]
        );
        assert_eq!(sized("abcde", 2, 2), vec!["ab", "cd", "e"]);
        assert_eq!(words("").len(), 0);
    }
}
