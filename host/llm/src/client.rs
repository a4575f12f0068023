//! The model client: one [`ModelClient`] per provider streams an answer
//! over the provider's wire API — Chat Completions from any
//! OpenAI-compatible endpoint, or OpenAI's Responses API
//! ([`super::responses`]) — assembles it, and retries what is worth
//! retrying — within the provider's `max_retries` and the agent's
//! [`RetryBudget`]. Both APIs share everything but the request body and the
//! decoding of the stream's events (`Decoder`): the headers, key
//! redaction, the idle timeout, the retries and the notes.
//!
//! The Chat Completions request body is async-openai's
//! `CreateChatCompletionRequest`; the HTTP is done with reqwest directly.
//! async-openai's streaming call hides the response headers (so
//! `Retry-After` could not be honoured), parses chunks more strictly than
//! compatible servers deserve (see [`super::wire`]), and its client cannot
//! put a deadline on the silence between chunks. Doing the request
//! ourselves also makes every retry ours: reqwest's own retry policy is
//! switched off.
//!
//! Cancel-safety: [`ModelClient::complete`] owns the response stream; dropping
//! its future drops the stream, and reqwest closes a connection whose body
//! was not read to the end instead of returning it to the pool.

pub mod probe;

use super::assemble::{AssembleError, Assembler};
use super::responses::{self, FinishError};
use super::retry::{Backoff, RetryBudget, parse_retry_after};
use super::wire::{self, Chunk, SseDecoder};
use crate::config::ProviderConfig;
use crate::{ChatRequest, Completion, StreamNote};
use futures::StreamExt as _;
use paddock_protocol::llm::WireApi;
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use serde::Deserialize as _;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// What can go wrong talking to a model.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// `api_key_env` names a variable that is not set.
    #[error("provider `{provider}`: the environment variable {var} (its api_key_env) is not set")]
    MissingApiKey {
        /// The provider.
        provider: String,
        /// The variable's name.
        var: String,
    },
    /// The variable's value cannot be an API key.
    #[error(
        "provider `{provider}`: the environment variable {var} does not hold a usable API key (empty, or not printable ASCII)"
    )]
    InvalidApiKey {
        /// The provider.
        provider: String,
        /// The variable's name.
        var: String,
    },
    /// The provider's settings are unusable.
    #[error("provider `{provider}`: {message}")]
    Setup {
        /// The provider.
        provider: String,
        /// What is wrong.
        message: String,
    },
    /// The provider refused the request (a 4xx that retrying cannot fix).
    #[error("provider `{provider}` answered {status}: {message} (attempt {attempts}; not retried)")]
    Rejected {
        /// The provider.
        provider: String,
        /// The HTTP status.
        status: u16,
        /// The provider's error message.
        message: String,
        /// Attempts made.
        attempts: u32,
    },
    /// The provider's answer could not be understood.
    #[error("provider `{provider}`: {message} (attempt {attempts}; not retried)")]
    Protocol {
        /// The provider.
        provider: String,
        /// What was wrong.
        message: String,
        /// Attempts made.
        attempts: u32,
    },
    /// Every attempt the provider's `max_retries` allows failed.
    #[error(
        "provider `{provider}`: giving up after {attempts} attempts (max_retries = {max_retries}); last failure: {last}"
    )]
    RetriesExhausted {
        /// The provider.
        provider: String,
        /// Attempts made.
        attempts: u32,
        /// The provider's limit.
        max_retries: u32,
        /// The last failure.
        last: String,
    },
    /// The agent's retry budget ran out.
    #[error(
        "provider `{provider}`: the agent's retry budget is exhausted after {attempts} attempts of this request; last failure: {last}"
    )]
    BudgetExhausted {
        /// The provider.
        provider: String,
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        last: String,
    },
}

impl LlmError {
    /// Whether the failure was transient, i.e. the same request may succeed
    /// later (rate limits, outages, broken connections).
    pub fn retryable(&self) -> bool {
        matches!(
            self,
            LlmError::RetriesExhausted { .. } | LlmError::BudgetExhausted { .. }
        )
    }

    /// Attempts made (0 when none could be).
    pub fn attempts(&self) -> u32 {
        match self {
            LlmError::Rejected { attempts, .. }
            | LlmError::Protocol { attempts, .. }
            | LlmError::RetriesExhausted { attempts, .. }
            | LlmError::BudgetExhausted { attempts, .. } => *attempts,
            _ => 0,
        }
    }
}

/// An API key: never printed.
#[derive(Clone)]
struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A client of one provider. Cheap to clone; clones share the connection pool.
#[derive(Clone, Debug)]
pub struct ModelClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    provider: String,
    api: WireApi,
    url: String,
    key: Option<Secret>,
    http: reqwest::Client,
    max_retries: u32,
    backoff: Backoff,
    idle: Duration,
}

/// Why one attempt failed.
enum Failure {
    /// Worth another attempt.
    Retry {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// The provider said no.
    Rejected { status: u16, message: String },
    /// The answer made no sense.
    Protocol(String),
}

fn retry(reason: String) -> Failure {
    Failure::Retry {
        reason,
        retry_after: None,
    }
}

/// Statuses worth retrying: timeouts, conflicts, rate limits, server errors.
fn retryable_status(s: StatusCode) -> bool {
    matches!(s.as_u16(), 408 | 409 | 429) || s.is_server_error()
}

/// The most of an error body read.
const ERROR_BODY_LIMIT: usize = 64 * 1024;

impl ModelClient {
    /// A client of `provider`, reading its API key from the environment now.
    pub fn new(provider: &ProviderConfig) -> Result<ModelClient, LlmError> {
        ModelClient::with_key(provider, None)
    }

    /// A client of `provider` with this API key (e.g. one stored through
    /// the API); without one, the key is read from its `api_key_env` now.
    /// A key given here wins over `api_key_env`.
    pub fn with_key(provider: &ProviderConfig, key: Option<&str>) -> Result<ModelClient, LlmError> {
        let name = provider.name.clone();
        let key = match (key, &provider.api_key_env) {
            (Some(value), _) => {
                let value = value.trim().to_string();
                if value.is_empty() || HeaderValue::from_str(&format!("Bearer {value}")).is_err() {
                    return Err(LlmError::Setup {
                        provider: name,
                        message: "its stored API key is not usable (empty, or not printable ASCII)"
                            .into(),
                    });
                }
                Some(Secret(value))
            }
            (None, None) => None,
            (None, Some(var)) => {
                let value = std::env::var(var).map_err(|e| match e {
                    std::env::VarError::NotPresent => LlmError::MissingApiKey {
                        provider: name.clone(),
                        var: var.clone(),
                    },
                    std::env::VarError::NotUnicode(_) => LlmError::InvalidApiKey {
                        provider: name.clone(),
                        var: var.clone(),
                    },
                })?;
                let value = value.trim().to_string();
                if value.is_empty() || HeaderValue::from_str(&format!("Bearer {value}")).is_err() {
                    return Err(LlmError::InvalidApiKey {
                        provider: name,
                        var: var.clone(),
                    });
                }
                Some(Secret(value))
            }
        };
        ModelClient::build(provider, key)
    }

    fn build(provider: &ProviderConfig, key: Option<Secret>) -> Result<ModelClient, LlmError> {
        let name = provider.name.clone();
        let base = provider.base_url.trim_end_matches('/');
        let path = match provider.api {
            WireApi::Chat => "chat/completions",
            WireApi::Responses => "responses",
        };
        let url = format!("{base}/{path}");
        reqwest::Url::parse(&url).map_err(|e| LlmError::Setup {
            provider: name.clone(),
            message: format!("base_url {:?} is not a URL: {e}", provider.base_url),
        })?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(30))
            .retry(reqwest::retry::never())
            .build()
            .map_err(|e| LlmError::Setup {
                provider: name.clone(),
                message: format!("cannot build the HTTP client: {e}"),
            })?;
        Ok(ModelClient {
            inner: Arc::new(Inner {
                provider: name,
                api: provider.api,
                url,
                key,
                http,
                max_retries: provider.max_retries,
                backoff: Backoff {
                    initial_ms: provider.initial_backoff_ms,
                    max_ms: provider.max_backoff_ms,
                },
                idle: Duration::from_millis(provider.idle_timeout_ms.max(1)),
            }),
        })
    }

    /// The provider's name.
    pub fn provider(&self) -> &str {
        &self.inner.provider
    }

    /// Streams one request over the provider's wire API; `notes` receives
    /// text deltas, reasoning-summary deltas and retry notices as they
    /// happen. Retries 429 (honouring `Retry-After`), 408, 409, 5xx,
    /// connection failures and streams that break or fall silent for
    /// `idle_timeout_ms`; each retry takes one from `budget`. The answer
    /// holds only complete tool calls of one finished attempt.
    ///
    /// Cancel-safe: dropping the future drops the HTTP stream at once.
    pub async fn complete(
        &self,
        req: &ChatRequest,
        budget: &RetryBudget,
        notes: &mut (dyn FnMut(StreamNote) + Send),
    ) -> Result<Completion, LlmError> {
        let inner = &*self.inner;
        let body = match inner.api {
            WireApi::Chat => serde_json::to_vec(&wire::request_body(req)),
            WireApi::Responses => serde_json::to_vec(&responses::request_body(req)),
        }
        .map_err(|e| LlmError::Setup {
            provider: inner.provider.clone(),
            message: format!("cannot encode the request: {e}"),
        })?;
        let mut attempt: u32 = 1;
        loop {
            tracing::debug!(provider = %inner.provider, model = %req.model, attempt, "model request");
            let failure = match self.attempt(&body, notes).await {
                Ok(mut c) => {
                    c.attempts = attempt;
                    return Ok(c);
                }
                Err(f) => f,
            };
            let (reason, retry_after) = match failure {
                Failure::Retry {
                    reason,
                    retry_after,
                } => (reason, retry_after),
                Failure::Rejected { status, message } => {
                    return Err(LlmError::Rejected {
                        provider: inner.provider.clone(),
                        status,
                        message,
                        attempts: attempt,
                    });
                }
                Failure::Protocol(message) => {
                    return Err(LlmError::Protocol {
                        provider: inner.provider.clone(),
                        message,
                        attempts: attempt,
                    });
                }
            };
            if attempt > inner.max_retries {
                return Err(LlmError::RetriesExhausted {
                    provider: inner.provider.clone(),
                    attempts: attempt,
                    max_retries: inner.max_retries,
                    last: reason,
                });
            }
            if !budget.try_take() {
                return Err(LlmError::BudgetExhausted {
                    provider: inner.provider.clone(),
                    attempts: attempt,
                    last: reason,
                });
            }
            let wait = inner.backoff.wait(attempt, retry_after);
            let reason = match (retry_after, wait.capped_retry_after) {
                (_, Some(asked)) => format!(
                    "{reason}; the server asked to wait {asked} ms, capped at max_backoff_ms = {} ms",
                    inner.backoff.max_ms
                ),
                (Some(ra), None) => format!("{reason}; Retry-After {} ms", ra.as_millis()),
                (None, None) => reason,
            };
            tracing::warn!(provider = %inner.provider, attempt, wait_ms = wait.ms, %reason, "model request failed; retrying");
            notes(StreamNote::Retrying {
                attempt,
                wait_ms: wait.ms,
                reason,
            });
            tokio::time::sleep(Duration::from_millis(wait.ms)).await;
            attempt += 1;
        }
    }

    /// One attempt: the answer, or why not.
    async fn attempt(
        &self,
        body: &[u8],
        notes: &mut (dyn FnMut(StreamNote) + Send),
    ) -> Result<Completion, Failure> {
        let inner = &*self.inner;
        let idle = inner.idle;
        let idle_ms = idle.as_millis();
        let mut rb = inner
            .http
            .post(&inner.url)
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "text/event-stream")
            .body(body.to_vec());
        if let Some(Secret(key)) = &inner.key {
            let mut v = HeaderValue::from_str(&format!("Bearer {key}"))
                .map_err(|_| Failure::Protocol("the API key is not a valid header".into()))?;
            v.set_sensitive(true);
            rb = rb.header(AUTHORIZATION, v);
        }
        let resp = match tokio::time::timeout(idle, rb.send()).await {
            Err(_) => return Err(retry(format!("no response within {idle_ms} ms"))),
            Ok(Err(e)) if e.is_builder() => {
                return Err(Failure::Protocol(format!("cannot send the request: {e}")));
            }
            Ok(Err(e)) => return Err(retry(format!("request failed: {}", error_chain(&e)))),
            Ok(Ok(r)) => r,
        };
        let status = resp.status();
        if !status.is_success() {
            let retry_after = resp
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, SystemTime::now()));
            let message = self.redact(&error_message(resp, idle).await);
            return Err(if retryable_status(status) {
                Failure::Retry {
                    reason: format!("HTTP {status}: {message}"),
                    retry_after,
                }
            } else {
                Failure::Rejected {
                    status: status.as_u16(),
                    message,
                }
            });
        }
        let mut stream = resp.bytes_stream();
        let mut sse = SseDecoder::default();
        let mut decoder = Decoder::new(inner.api);
        'read: loop {
            let next = match tokio::time::timeout(idle, stream.next()).await {
                Err(_) => return Err(retry(format!("the stream was silent for {idle_ms} ms"))),
                Ok(n) => n,
            };
            let bytes = match next {
                None => break,
                Some(Err(e)) => {
                    return Err(retry(format!("the stream broke: {}", error_chain(&e))));
                }
                Some(Ok(b)) => b,
            };
            for data in sse.feed(&bytes) {
                let data = data.trim();
                if data.is_empty() {
                    continue;
                }
                if decoder.event(data, self, notes)? {
                    break 'read;
                }
            }
        }
        drop(stream);
        decoder.finish()
    }

    /// `text` without the API key, should a server echo it.
    fn redact(&self, text: &str) -> String {
        match &self.inner.key {
            Some(Secret(k)) if k.len() >= 4 => text.replace(k.as_str(), "<redacted>"),
            _ => text.to_string(),
        }
    }
}

/// Decodes one attempt's stream events into an answer: the only part of an
/// attempt that differs between the wire APIs.
enum Decoder {
    /// Chat Completions chunks, up to `[DONE]`.
    Chat {
        /// The answer so far.
        asm: Assembler,
        /// Whether `[DONE]` arrived.
        done: bool,
    },
    /// Responses API events, up to `response.completed` (or
    /// `response.incomplete`).
    Responses(responses::Assembler),
}

impl Decoder {
    fn new(api: WireApi) -> Decoder {
        match api {
            WireApi::Chat => Decoder::Chat {
                asm: Assembler::default(),
                done: false,
            },
            WireApi::Responses => Decoder::Responses(responses::Assembler::default()),
        }
    }

    /// Takes the data of one event (trimmed, not empty); `Ok(true)` when
    /// the answer is complete and nothing more needs reading.
    fn event(
        &mut self,
        data: &str,
        client: &ModelClient,
        notes: &mut (dyn FnMut(StreamNote) + Send),
    ) -> Result<bool, Failure> {
        match self {
            Decoder::Chat { asm, done } => {
                if data == "[DONE]" {
                    *done = true;
                    return Ok(true);
                }
                let v = event_json(data)?;
                if let Some(err) = v.get("error") {
                    let message = client.redact(&provider_message(err));
                    return Err(retry(format!("error in the stream: {message}")));
                }
                let chunk: Chunk = serde_json::from_value(v).map_err(|e| {
                    Failure::Protocol(format!("a stream chunk has an unexpected shape: {e}"))
                })?;
                if let Some(text) = asm.push(chunk) {
                    notes(StreamNote::Delta(text));
                }
                Ok(false)
            }
            Decoder::Responses(asm) => {
                // Not part of the Responses API, but some compatible servers
                // end with it; whether the answer is complete is decided by
                // `finish`.
                if data == "[DONE]" {
                    return Ok(true);
                }
                let v = event_json(data)?;
                let event = match responses::Event::deserialize(&v) {
                    Ok(event) => event,
                    // An error without a `type`, as Chat Completions sends it.
                    Err(_) if v.get("type").is_none() && v.get("error").is_some() => {
                        let message = v.get("error").map(provider_message).unwrap_or_default();
                        let message = client.redact(&message);
                        return Err(retry(format!("error in the stream: {message}")));
                    }
                    Err(e) => {
                        return Err(Failure::Protocol(format!(
                            "a stream event has an unexpected shape ({e}): {}",
                            cut(data)
                        )));
                    }
                };
                match asm.push(event) {
                    Ok(Some(note)) => notes(note),
                    Ok(None) => {}
                    // Redacted before it is cut, so no part of a key survives.
                    Err(f) => return Err(retry(cut(&client.redact(&f.to_string())))),
                }
                Ok(asm.finished())
            }
        }
    }

    /// The answer, once the stream has ended.
    fn finish(self) -> Result<Completion, Failure> {
        match self {
            Decoder::Chat { asm, done } => {
                if !done && !asm.finished() {
                    return Err(retry(
                        "the stream ended before the answer was finished (no finish_reason, no [DONE])"
                            .into(),
                    ));
                }
                asm.finish(0).map_err(|e| match e {
                    AssembleError::Unfinished => {
                        retry("the stream ended ([DONE]) without a finish_reason".into())
                    }
                    e @ AssembleError::NamelessCall { .. } => Failure::Protocol(e.to_string()),
                })
            }
            Decoder::Responses(asm) => asm.finish(0).map_err(|e| match e {
                FinishError::Unfinished => retry(e.to_string()),
                e @ FinishError::NamelessCall { .. } => Failure::Protocol(e.to_string()),
            }),
        }
    }
}

/// An event's data as JSON.
fn event_json(data: &str) -> Result<serde_json::Value, Failure> {
    serde_json::from_str(data)
        .map_err(|e| Failure::Protocol(format!("a stream event is not JSON ({e}): {}", cut(data))))
}

/// The provider's message from an error body (OpenAI's `{"error": {...}}`
/// or plain text), read within the idle timeout and a size cap.
async fn error_message(resp: reqwest::Response, idle: Duration) -> String {
    let mut stream = resp.bytes_stream();
    let mut body = Vec::new();
    while body.len() < ERROR_BODY_LIMIT {
        match tokio::time::timeout(idle, stream.next()).await {
            Ok(Some(Ok(b))) => body.extend_from_slice(&b),
            _ => break,
        }
    }
    let text = String::from_utf8_lossy(&body);
    match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(v) => match v.get("error") {
            Some(e) => provider_message(e),
            None => cut(text.trim()),
        },
        Err(_) if text.trim().is_empty() => "(empty body)".into(),
        Err(_) => cut(text.trim()),
    }
}

/// The message of an OpenAI-style `error` value.
fn provider_message(err: &serde_json::Value) -> String {
    match err {
        serde_json::Value::String(s) => cut(s),
        v => match v.get("message").and_then(|m| m.as_str()) {
            Some(m) => cut(m),
            None => cut(&v.to_string()),
        },
    }
}

/// At most 500 characters of `s`.
fn cut(s: &str) -> String {
    match s.char_indices().nth(500) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// An error with its causes (reqwest's top-level message alone says little).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(c) = source {
        s.push_str(": ");
        s.push_str(&c.to_string());
        source = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_key_names_the_variable() {
        let p = ProviderConfig::new(
            "p",
            "http://127.0.0.1:1/v1",
            Some("PADDOCK_TEST_NO_SUCH_KEY_VAR"),
        );
        let e = ModelClient::new(&p).unwrap_err();
        assert!(matches!(e, LlmError::MissingApiKey { .. }));
        assert!(
            e.to_string().contains("PADDOCK_TEST_NO_SUCH_KEY_VAR"),
            "{e}"
        );
        let p = ProviderConfig::new("p", "http://127.0.0.1:1/v1", None);
        assert!(ModelClient::new(&p).is_ok());
        let p = ProviderConfig::new("p", "not a url", None);
        assert!(matches!(ModelClient::new(&p), Err(LlmError::Setup { .. })));
    }

    #[test]
    fn key_never_in_debug_output() {
        // A variable that is always set, so the test need not set one.
        let var = "PATH";
        let value = std::env::var(var).unwrap();
        let c = ModelClient::new(&ProviderConfig::new(
            "p",
            "http://127.0.0.1:1/v1",
            Some(var),
        ))
        .unwrap();
        let dbg = format!("{c:?}");
        assert!(!dbg.contains(value.trim()), "{dbg}");
        assert!(dbg.contains("redacted"), "{dbg}");
        assert_eq!(
            c.redact(&format!("bad key {}", value.trim())),
            "bad key <redacted>"
        );
    }

    #[test]
    fn which_statuses_are_retried() {
        for s in [408, 409, 429, 500, 502, 503, 504] {
            assert!(retryable_status(StatusCode::from_u16(s).unwrap()), "{s}");
        }
        for s in [400, 401, 403, 404, 413, 422] {
            assert!(!retryable_status(StatusCode::from_u16(s).unwrap()), "{s}");
        }
    }

    #[test]
    fn error_messages_are_read_from_openai_bodies() {
        let v: serde_json::Value =
            serde_json::json!({"message": "Rate limit reached", "type": "requests"});
        assert_eq!(provider_message(&v), "Rate limit reached");
        assert_eq!(provider_message(&serde_json::json!("plain")), "plain");
        assert_eq!(cut(&"x".repeat(600)).chars().count(), 501);
    }
}
