//! The scripted model's HTTP side: the OpenAI-compatible routes, the turn
//! selection, replay checks, fault injection, pacing, the request log and
//! the counters tests read — shared by both wire APIs — and the Chat
//! Completions rendering (chunks and `chat.completion`). The Responses-API
//! rendering is in [`super::responses`].

use super::answer::{Answer, Frames, Place, openai_error, stamp};
use super::responses::{self, ResponsesOptions, ResponsesStream};
use super::script::{Conversation, Fault, InputError, Script};
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
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Request bodies kept for `/v1/_scripted/requests`.
pub const REQUEST_LOG_LEN: usize = 200;

/// What the server has seen, for tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// `POST /v1/chat/completions` and `POST /v1/responses` requests received.
    pub requests: u64,
    /// Streams sent to the end (`[DONE]`, or `response.completed` /
    /// `response.incomplete`).
    pub streams_finished: u64,
    /// Streams the client went away from before the end.
    pub streams_abandoned: u64,
    /// Streams cut on purpose (`cut` faults).
    pub streams_cut: u64,
    /// Streams being sent now.
    pub active_streams: u64,
    /// Requests refused because they diverge from a turn's `expect`.
    pub divergences: u64,
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    finished: AtomicU64,
    abandoned: AtomicU64,
    cut: AtomicU64,
    active: AtomicU64,
    divergences: AtomicU64,
}

/// The server's shared state.
pub(super) struct State {
    script: Script,
    log: Mutex<VecDeque<Value>>,
    /// Which of `api_keys` each logged request carried (parallel to `log`).
    key_log: Mutex<VecDeque<Option<usize>>>,
    asks: Mutex<HashMap<(u64, usize, usize), u32>>,
    counters: Counters,
    /// The bearer keys a request may carry (one of them); none: any
    /// request is served.
    api_keys: Vec<String>,
    pub(super) cancel: CancellationToken,
}

impl State {
    pub(super) fn new(script: Script, api_keys: Vec<String>) -> State {
        State {
            script,
            log: Mutex::new(VecDeque::new()),
            key_log: Mutex::new(VecDeque::new()),
            asks: Mutex::new(HashMap::new()),
            counters: Counters::default(),
            api_keys,
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
            divergences: c.divergences.load(Ordering::Acquire),
        }
    }

    /// The logged requests with the index of the key each carried.
    pub(super) fn requests_with_keys(&self) -> Vec<(Option<usize>, Value)> {
        let log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        let keys = self.key_log.lock().unwrap_or_else(|e| e.into_inner());
        keys.iter().copied().zip(log.iter().cloned()).collect()
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
        .route("/v1/responses", post(responses_route))
        .route("/v1/models", get(models))
        .route("/v1/_scripted/requests", get(requests))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            require_key,
        ))
        // Long conversations (thousands of tool results) make large
        // requests; real providers take tens of MB.
        .layer(axum::extract::DefaultBodyLimit::max(MAX_REQUEST_BODY))
        .with_state(state)
}

/// Largest request body the scripted model reads.
pub const MAX_REQUEST_BODY: usize = 64 * 1024 * 1024;

/// Which of the model's keys a served request carried.
#[derive(Clone, Copy, Debug)]
struct KeyIndex(usize);

/// With keys set, a request without `Authorization: Bearer <one of them>`
/// gets OpenAI's 401 (`invalid_api_key`) and is neither logged nor counted;
/// a served request notes which key it carried.
async fn require_key(
    AxState(st): AxState<Arc<State>>,
    mut req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if st.api_keys.is_empty() {
        return next.run(req).await;
    }
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    let found = given.and_then(|g| {
        st.api_keys
            .iter()
            .position(|k| constant_time_eq(g.as_bytes(), k.as_bytes()))
    });
    if let Some(i) = found {
        req.extensions_mut().insert(KeyIndex(i));
        return next.run(req).await;
    }
    openai_error(
        StatusCode::UNAUTHORIZED,
        "invalid_request_error",
        Some("invalid_api_key"),
        None,
        "Incorrect API key provided: this scripted model needs `Authorization: Bearer <its key>`.",
    )
}

/// Compares two byte strings in time that depends only on their lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
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
        "Unknown request URL. The scripted model serves POST /v1/chat/completions, POST /v1/responses, GET /v1/models and GET /v1/_scripted/requests.",
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

fn conversation_key(first_user: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    first_user.hash(&mut h);
    h.finish()
}

async fn chat(
    AxState(st): AxState<Arc<State>>,
    key: Option<axum::Extension<KeyIndex>>,
    body: Bytes,
) -> Response {
    answer(st, body, Route::Chat, key.map(|k| k.0.0)).await
}

async fn responses_route(
    AxState(st): AxState<Arc<State>>,
    key: Option<axum::Extension<KeyIndex>>,
    body: Bytes,
) -> Response {
    answer(st, body, Route::Responses, key.map(|k| k.0.0)).await
}

/// The wire API a request came in on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    /// `POST /v1/chat/completions`.
    Chat,
    /// `POST /v1/responses`.
    Responses,
}

impl Route {
    /// The request parameter holding the conversation.
    fn conversation_param(self) -> &'static str {
        match self {
            Route::Chat => "messages",
            Route::Responses => "input",
        }
    }
}

/// How an answer is rendered: the route and what its request asked for.
enum Shape {
    Chat { include_usage: bool },
    Responses(ResponsesOptions),
}

/// What the shared answering reads of a request.
struct Request {
    model: String,
    stream: bool,
    convo: Conversation,
    shape: Shape,
}

fn refuse(param: &str, message: &str) -> InputError {
    InputError {
        param: param.to_string(),
        message: message.to_string(),
    }
}

/// Validates a Chat Completions request like OpenAI does.
fn read_chat(v: &Value) -> Result<Request, InputError> {
    let Some(model) = v.get("model").and_then(Value::as_str) else {
        return Err(refuse("model", "you must provide a model parameter"));
    };
    let Some(messages) = v
        .get("messages")
        .and_then(Value::as_array)
        .filter(|m| !m.is_empty())
    else {
        return Err(refuse(
            "messages",
            "you must provide a non-empty messages array",
        ));
    };
    Ok(Request {
        model: model.to_string(),
        stream: v.get("stream").and_then(Value::as_bool).unwrap_or(false),
        convo: Conversation::from_messages(messages),
        shape: Shape::Chat {
            include_usage: v
                .pointer("/stream_options/include_usage")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        },
    })
}

/// Validates a Responses request like OpenAI does.
fn read_responses(v: &Value) -> Result<Request, InputError> {
    let Some(model) = v.get("model").and_then(Value::as_str) else {
        return Err(refuse("model", "Missing required parameter: 'model'."));
    };
    let instructions = match v.get("instructions") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.as_str()),
        Some(_) => {
            return Err(refuse(
                "instructions",
                "Invalid type for 'instructions': expected a string.",
            ));
        }
    };
    Ok(Request {
        model: model.to_string(),
        stream: v.get("stream").and_then(Value::as_bool).unwrap_or(false),
        convo: Conversation::from_responses(v.get("input"), instructions)?,
        shape: Shape::Responses(ResponsesOptions::from_request(v)),
    })
}

/// Answers one request of either route: selection, checks and faults are
/// shared; only the reading of the request and the rendering differ.
async fn answer(st: Arc<State>, body: Bytes, route: Route, key: Option<usize>) -> Response {
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
        let mut keys = st.key_log.lock().unwrap_or_else(|e| e.into_inner());
        if log.len() == REQUEST_LOG_LEN {
            log.pop_front();
            keys.pop_front();
        }
        log.push_back(v.clone());
        keys.push_back(key);
    }
    let req = match route {
        Route::Chat => read_chat(&v),
        Route::Responses => read_responses(&v),
    };
    let req = match req {
        Ok(r) => r,
        Err(e) => return bad_request(Some(&e.param), &e.message),
    };
    let convo = &req.convo;
    let Some(sel) = st.script.select(convo) else {
        let first: String = convo.first_user.chars().take(80).collect();
        return bad_request(
            Some(route.conversation_param()),
            &format!(
                "scripted model: no turn of the script matches this conversation ({} assistant turns; first user message {first:?})",
                convo.assistant_turns
            ),
        );
    };
    if let Some(message) = sel.turn.divergence(convo) {
        st.counters.divergences.fetch_add(1, Ordering::AcqRel);
        tracing::warn!(turn = %sel.turn.label, "scripted model: {message}");
        return openai_error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            Some("script_divergence"),
            Some(route.conversation_param()),
            &message,
        );
    }
    if route == Route::Responses
        && sel.turn.requires_reasoning
        && let Some(refusal) = responses::missing_reasoning(&st.script, &sel, convo)
    {
        return refusal;
    }
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
    tracing::debug!(turn = %sel.turn.label, ?route, asked, ?fault, "scripted model answers");
    let model = req.model.as_str();
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
    let answer = Answer::new(
        sel.turn,
        model,
        Place {
            key,
            first_user: &convo.first_user,
            scenario: sel.scenario,
            index: sel.index,
        },
        body.len(),
    );
    let pace = answer.pace;
    let frames: Box<dyn Frames> = match req.shape {
        Shape::Chat { include_usage } => Box::new(ChatStream::new(answer, include_usage)),
        Shape::Responses(options) => Box::new(ResponsesStream::new(answer, options)),
    };
    let (cut_at, hang) = match &fault {
        Some(Fault::Cut { at_chunk, .. }) => (Some(at_chunk.unwrap_or(frames.default_cut())), None),
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
    if !req.stream {
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
        return axum::Json(frames.whole()).into_response();
    }
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(16);
    let hang = hang.filter(|(at, _)| *at > 0);
    tokio::spawn(produce(st.clone(), frames, pace, cut_at, hang, tx));
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

/// Sends the frames, paced, with the fault if any.
async fn produce(
    st: Arc<State>,
    mut frames: Box<dyn Frames>,
    pace: f64,
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
    let count = frames.len();
    let cut_at = cut_at.map(|c| c.min(frames.final_index()));
    let hang = hang.map(|(at, s)| (at.min(count.saturating_sub(1)), s));
    for i in 0..count {
        if cut_at == Some(i) {
            st.counters.cut.fetch_add(1, Ordering::AcqRel);
            // The server drops a connection whose body fails without
            // flushing what it has not written yet: let it take and send
            // every frame before the cut, so the client gets them.
            tokio::select! {
                _ = drained(&tx) => {}
                _ = tx.closed() => { abandoned(); return; }
                _ = st.cancel.cancelled() => return,
            }
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
        if frames.is_token(i) && pace > 0.0 {
            tokens += 1;
            let due = start + Duration::from_secs_f64(tokens as f64 / pace);
            tokio::select! {
                _ = tokio::time::sleep_until(due.into()) => {}
                _ = tx.closed() => { abandoned(); return; }
                _ = st.cancel.cancelled() => return,
            }
        }
        if tx.send(Ok(Bytes::from(frames.render(i)))).await.is_err() {
            abandoned();
            return;
        }
    }
    st.counters.finished.fetch_add(1, Ordering::AcqRel);
}

/// Returns once the body has taken every frame sent, and a moment more
/// for the server to write them out.
async fn drained(tx: &mpsc::Sender<Result<Bytes, std::io::Error>>) {
    while tx.capacity() < tx.max_capacity() {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    tokio::time::sleep(Duration::from_millis(10)).await;
}

/// One chunk of a streamed chat completion.
#[derive(Debug)]
enum Piece {
    Role,
    Text(usize),
    Stamp,
    CallStart(usize),
    Args { index: usize, fragment: usize },
    Finish,
    Usage,
    Done,
}

impl Piece {
    fn is_token(&self) -> bool {
        matches!(self, Piece::Text(_) | Piece::Stamp | Piece::Args { .. })
    }
}

/// A turn's answer as Chat Completions chunks.
struct ChatStream {
    answer: Answer,
    id: String,
    pieces: Vec<Piece>,
    include_usage: bool,
}

impl ChatStream {
    fn new(answer: Answer, include_usage: bool) -> ChatStream {
        let mut pieces = vec![Piece::Role];
        pieces.extend((0..answer.stamps).map(|_| Piece::Stamp));
        pieces.extend((0..answer.text_pieces.len()).map(Piece::Text));
        for (i, c) in answer.calls.iter().enumerate() {
            pieces.push(Piece::CallStart(i));
            pieces.extend((0..c.fragments.len()).map(|f| Piece::Args {
                index: i,
                fragment: f,
            }));
        }
        pieces.push(Piece::Finish);
        if include_usage {
            pieces.push(Piece::Usage);
        }
        pieces.push(Piece::Done);
        ChatStream {
            answer,
            id: format!("chatcmpl-{}", uuid::Uuid::new_v4().simple()),
            pieces,
            include_usage,
        }
    }

    fn usage(&self) -> Value {
        let u = self.answer.usage;
        json!({
            "prompt_tokens": u.prompt,
            "completion_tokens": u.completion,
            "total_tokens": u.prompt + u.completion,
            "prompt_tokens_details": {"cached_tokens": u.cached, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": u.reasoning,
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
            "created": self.answer.created,
            "model": self.answer.model,
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

    fn chunk_of(&self, piece: &Piece) -> Value {
        let a = &self.answer;
        match piece {
            Piece::Role => {
                let content = if a.has_message() {
                    json!("")
                } else {
                    Value::Null
                };
                self.delta(
                    json!({"role": "assistant", "content": content, "refusal": null}),
                    None,
                )
            }
            Piece::Text(k) => self.delta(json!({"content": a.text_pieces.get(*k)}), None),
            Piece::Stamp => self.delta(json!({"content": stamp()}), None),
            Piece::CallStart(i) => {
                let (id, name) = a
                    .calls
                    .get(*i)
                    .map(|c| (c.id.as_str(), c.name.as_str()))
                    .unwrap_or_default();
                self.delta(
                    json!({"tool_calls": [{"index": i, "id": id, "type": "function",
                        "function": {"name": name, "arguments": ""}}]}),
                    None,
                )
            }
            Piece::Args { index, fragment } => {
                let f = a.calls.get(*index).and_then(|c| c.fragments.get(*fragment));
                self.delta(
                    json!({"tool_calls": [{"index": index, "function": {"arguments": f}}]}),
                    None,
                )
            }
            Piece::Finish => self.delta(json!({}), Some(a.finish_reason.as_str())),
            Piece::Usage => self.chunk(json!([]), Some(self.usage())),
            // Rendered as `[DONE]` by `render`.
            Piece::Done => Value::Null,
        }
    }
}

impl Frames for ChatStream {
    fn len(&self) -> usize {
        self.pieces.len()
    }

    fn is_token(&self, i: usize) -> bool {
        self.pieces.get(i).is_some_and(Piece::is_token)
    }

    fn final_index(&self) -> usize {
        self.pieces
            .iter()
            .position(|p| matches!(p, Piece::Finish))
            .unwrap_or(self.pieces.len())
    }

    fn default_cut(&self) -> usize {
        match self
            .pieces
            .iter()
            .position(|p| matches!(p, Piece::Args { .. }))
        {
            Some(i) => i + 1,
            None => (self.final_index() / 2).max(1),
        }
    }

    fn render(&mut self, i: usize) -> String {
        match self.pieces.get(i) {
            None | Some(Piece::Done) => "data: [DONE]\n\n".to_string(),
            Some(p) => format!("data: {}\n\n", self.chunk_of(p)),
        }
    }

    fn whole(&self) -> Value {
        let a = &self.answer;
        let text = a.has_message().then(|| a.full_text());
        let mut message = json!({"role": "assistant", "content": text, "refusal": null});
        if !a.calls.is_empty() {
            message["tool_calls"] = a
                .calls
                .iter()
                .map(|c| {
                    json!({"id": c.id, "type": "function",
                        "function": {"name": c.name, "arguments": c.arguments}})
                })
                .collect();
        }
        json!({
            "id": self.id,
            "object": "chat.completion",
            "created": a.created,
            "model": a.model,
            "system_fingerprint": "fp_scripted",
            "choices": [{"index": 0, "message": message, "logprobs": null,
                "finish_reason": a.finish_reason.as_str()}],
            "usage": self.usage(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scripted::ScriptedModel;
    use futures::StreamExt as _;

    #[tokio::test]
    async fn a_cut_chat_stream_delivers_every_chunk_before_the_cut() {
        let script = Script::from_yaml_str(
            "turns:\n  - text: \"one two\"\n    tool_calls: [{name: f, arguments: {a: \"0123456789\"}}]\n    fault: {type: cut}\n",
        )
        .unwrap();
        let m = ScriptedModel::start(script, ([127, 0, 0, 1], 0).into())
            .await
            .unwrap();
        let resp = reqwest::Client::new()
            .post(format!("{}/chat/completions", m.base_url()))
            .json(&json!({"model": "m", "stream": true,
                "messages": [{"role": "user", "content": "x"}]}))
            .send()
            .await
            .unwrap();
        let mut body = Vec::new();
        let mut stream = resp.bytes_stream();
        let mut broken = false;
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(b) => body.extend_from_slice(&b),
                Err(_) => broken = true,
            }
        }
        assert!(broken);
        let text = String::from_utf8(body).unwrap();
        let chunks: Vec<Value> = text
            .split("\n\n")
            .filter(|f| !f.is_empty())
            .map(|f| serde_json::from_str(f.strip_prefix("data: ").unwrap()).unwrap())
            .collect();
        // Role, two words, the call's first delta, its first fragment.
        assert_eq!(chunks.len(), 5, "{text}");
        assert_eq!(
            chunks[4]["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"],
            "{\"a\""
        );
        assert_eq!(m.stats().streams_cut, 1);
    }

    #[tokio::test]
    async fn a_keyed_server_refuses_requests_without_its_key() {
        let script = Script::from_yaml_str("turns:\n  - text: \"hi\"\n").unwrap();
        let m = ScriptedModel::with_api_key(script, "k-123".into())
            .serve(([127, 0, 0, 1], 0).into())
            .await
            .unwrap();
        let http = reqwest::Client::new();
        let body = json!({"model": "m", "messages": [{"role": "user", "content": "x"}]});
        let url = format!("{}/chat/completions", m.base_url());
        for auth in [
            None,
            Some("Bearer wrong"),
            Some("Bearer k-12"),
            Some("k-123"),
        ] {
            let mut req = http.post(&url).json(&body);
            if let Some(a) = auth {
                req = req.header("authorization", a);
            }
            let resp = req.send().await.unwrap();
            assert_eq!(resp.status(), 401, "{auth:?}");
            let err: Value = resp.json().await.unwrap();
            assert_eq!(err["error"]["code"], "invalid_api_key", "{err}");
        }
        let models = http
            .get(format!("{}/models", m.base_url()))
            .send()
            .await
            .unwrap();
        assert_eq!(models.status(), 401);
        assert_eq!(m.stats().requests, 0, "refused requests are not counted");
        let ok = http
            .post(&url)
            .bearer_auth("k-123")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status(), 200);
        let v: Value = ok.json().await.unwrap();
        assert_eq!(v["choices"][0]["message"]["content"], "hi");
        assert_eq!(m.stats().requests, 1);
    }

    #[tokio::test]
    async fn a_server_with_several_keys_notes_which_one_each_request_carried() {
        let script = Script::from_yaml_str("turns:\n  - text: \"hi\"\n").unwrap();
        let m = ScriptedModel::with_api_keys(script, vec!["k-shared".into(), "k-own".into()])
            .serve(([127, 0, 0, 1], 0).into())
            .await
            .unwrap();
        let http = reqwest::Client::new();
        let url = format!("{}/chat/completions", m.base_url());
        let ask = |key: &'static str, text: &'static str| {
            http.post(&url)
                .bearer_auth(key)
                .json(&json!({"model": "m", "messages": [{"role": "user", "content": text}]}))
        };
        assert_eq!(ask("k-own", "one").send().await.unwrap().status(), 200);
        assert_eq!(ask("k-other", "two").send().await.unwrap().status(), 401);
        assert_eq!(ask("k-shared", "three").send().await.unwrap().status(), 200);
        let seen: Vec<(Option<usize>, Value)> = m
            .requests_with_keys()
            .into_iter()
            .map(|(k, v)| (k, v["messages"][0]["content"].clone()))
            .collect();
        assert_eq!(seen, [(Some(1), json!("one")), (Some(0), json!("three"))]);
    }
}
