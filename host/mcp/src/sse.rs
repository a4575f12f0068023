//! The legacy HTTP+SSE MCP transport (protocol 2024-11-05): a GET opens the
//! event stream, its `endpoint` event names where to POST messages.
//!
//! rmcp dropped its client for this transport, so this is ours, on rmcp's
//! [`Transport`] trait: [`SseTransport::connect`] opens the stream and waits
//! for the `endpoint` event, then the transport is handed to
//! `rmcp::ServiceExt::serve`. Each client message is POSTed as JSON to the
//! endpoint (which must be on the SSE URL's origin, so the configured
//! headers never go elsewhere); the server's messages arrive as `message`
//! events. When the event stream ends or breaks, [`Transport::receive`]
//! returns `None`, which ends the rmcp service.
//!
//! Nothing the server sends can make this panic: malformed events are logged
//! and skipped, and an event larger than [`MAX_EVENT_BYTES`] ends the stream.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt as _;
use futures::stream::BoxStream;
use reqwest::header::{ACCEPT, CACHE_CONTROL, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use reqwest::{StatusCode, Url};
use rmcp::RoleClient;
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use rmcp::transport::Transport;
use tokio::time::Instant;

/// The largest event accepted from a server (its field lines, as received).
pub const MAX_EVENT_BYTES: usize = 16 * 1024 * 1024;

/// How long one POST of a client message may take. A legacy server answers
/// a POST at once (`202 Accepted`; the reply comes on the event stream).
pub const POST_TIMEOUT: Duration = Duration::from_secs(60);

/// How much of an error response's body is quoted in an error.
const BODY_SNIPPET_BYTES: usize = 512;

/// How many redirects (all on the URL's own origin) are followed.
const MAX_REDIRECTS: usize = 5;

/// Why the transport could not be set up, or a message not be sent.
///
/// URLs in messages are shown without their query (which may hold a session
/// id or a key); header values are never shown.
#[derive(Debug, thiserror::Error)]
pub enum SseError {
    /// The SSE URL is not an absolute `http(s)` URL.
    #[error("bad MCP SSE URL {url:?}: {reason}")]
    BadUrl {
        /// The URL as given (cut to 200 characters).
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A configured header cannot be sent.
    #[error("bad header {name:?} for the MCP SSE server: {reason}")]
    BadHeader {
        /// The header's name.
        name: String,
        /// What is wrong with it (its value is not shown).
        reason: String,
    },
    /// The HTTP client could not be built.
    #[error("cannot set up the HTTP client for the MCP SSE server: {0}")]
    Client(String),
    /// No connection could be made (refused, DNS, TLS, …).
    #[error("cannot connect to the MCP SSE server at {url}: {reason}")]
    Connect {
        /// The SSE URL.
        url: String,
        /// The cause, e.g. "Connection refused".
        reason: String,
    },
    /// The server did not answer the GET within the timeout.
    #[error("the MCP SSE server at {url} did not answer within {timeout:?}")]
    ConnectTimeout {
        /// The SSE URL.
        url: String,
        /// The connect timeout.
        timeout: Duration,
    },
    /// The GET was answered with a non-2xx status.
    #[error(
        "the MCP SSE server at {url} answered HTTP {status}{}",
        snippet_suffix(body)
    )]
    Status {
        /// The SSE URL.
        url: String,
        /// The status code and reason.
        status: String,
        /// The start of the response's body.
        body: String,
    },
    /// The GET was answered, but not with an event stream.
    #[error(
        "{url} is not an MCP SSE endpoint: it answered with Content-Type {content_type:?}, not text/event-stream"
    )]
    NotEventStream {
        /// The SSE URL.
        url: String,
        /// The response's content type ("" when there was none).
        content_type: String,
    },
    /// The event stream gave no `endpoint` event within the timeout.
    #[error("the MCP SSE server at {url} sent no endpoint event within {timeout:?}")]
    NoEndpoint {
        /// The SSE URL.
        url: String,
        /// The connect timeout.
        timeout: Duration,
    },
    /// The `endpoint` event names an unusable or foreign URL.
    #[error("the MCP SSE server at {url} sent an unusable endpoint {endpoint:?}: {reason}")]
    BadEndpoint {
        /// The SSE URL.
        url: String,
        /// The endpoint event's data (cut to 200 characters).
        endpoint: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The event stream ended (or broke) before its `endpoint` event.
    #[error(
        "the event stream of the MCP SSE server at {url} ended before its endpoint event{}",
        reason_suffix(reason)
    )]
    StreamEnded {
        /// The SSE URL.
        url: String,
        /// Why, when it broke ("" when it just ended).
        reason: String,
    },
    /// An event exceeded [`MAX_EVENT_BYTES`].
    #[error("the MCP SSE server at {url} sent an event larger than {max} bytes")]
    EventTooLarge {
        /// The SSE URL.
        url: String,
        /// The limit.
        max: usize,
    },
    /// A client message could not be encoded.
    #[error("cannot encode a message for the MCP SSE server: {0}")]
    Encode(String),
    /// A POST could not be made or got no answer.
    #[error("POST to the MCP SSE server at {url} failed: {reason}")]
    Post {
        /// The endpoint URL.
        url: String,
        /// The cause.
        reason: String,
    },
    /// A POST was answered with a non-2xx status.
    #[error(
        "POST to the MCP SSE server at {url} answered HTTP {status}{}",
        snippet_suffix(body)
    )]
    PostStatus {
        /// The endpoint URL.
        url: String,
        /// The status code and reason.
        status: String,
        /// The start of the response's body.
        body: String,
    },
    /// The transport was closed.
    #[error("the MCP SSE transport is closed")]
    Closed,
}

fn snippet_suffix(body: &str) -> String {
    if body.is_empty() {
        String::new()
    } else {
        format!(": {body:?}")
    }
}

fn reason_suffix(reason: &str) -> String {
    if reason.is_empty() {
        String::new()
    } else {
        format!(": {reason}")
    }
}

/// A client of one legacy HTTP+SSE MCP server: the open event stream and
/// the endpoint messages are POSTed to.
pub struct SseTransport {
    client: reqwest::Client,
    headers: HeaderMap,
    /// The SSE URL, as shown in logs and errors.
    shown_url: String,
    /// Where client messages are POSTed.
    post_url: Url,
    /// The event stream; `None` once it ended, broke or was closed.
    stream: Option<BoxStream<'static, reqwest::Result<Bytes>>>,
    parser: EventParser,
    closed: bool,
}

impl std::fmt::Debug for SseTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SseTransport")
            .field("url", &self.shown_url)
            .field("post_url", &shown(&self.post_url))
            .field("open", &self.stream.is_some())
            .finish_non_exhaustive()
    }
}

impl SseTransport {
    /// Opens the event stream and waits (at most `timeout`) for the endpoint.
    ///
    /// The GET carries `Accept: text/event-stream` and `headers`; so does
    /// every POST. A relative endpoint is resolved against the SSE URL (after
    /// redirects, which are followed only on the same origin); an endpoint
    /// on another origin is refused.
    pub async fn connect(
        url: &str,
        headers: &BTreeMap<String, String>,
        timeout: Duration,
    ) -> Result<SseTransport, SseError> {
        let sse_url = parse_sse_url(url)?;
        let shown_url = shown(&sse_url);
        let headers = header_map(headers)?;
        let client = reqwest::Client::builder()
            .connect_timeout(timeout)
            .redirect(same_origin_redirects())
            .build()
            .map_err(|e| SseError::Client(reqwest_reason(e)))?;
        let deadline = Instant::now() + timeout;

        tracing::debug!(url = %shown_url, "opening the MCP SSE event stream");
        let mut get_headers = headers.clone();
        get_headers.insert(ACCEPT, HeaderValue::from_static("text/event-stream"));
        get_headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        let request = client.get(sse_url.clone()).headers(get_headers).send();
        let response = match tokio::time::timeout_at(deadline, request).await {
            Err(_) => {
                return Err(SseError::ConnectTimeout {
                    url: shown_url,
                    timeout,
                });
            }
            Ok(Err(e)) => {
                return Err(SseError::Connect {
                    url: shown_url,
                    reason: reqwest_reason(e),
                });
            }
            Ok(Ok(response)) => response,
        };
        let status = response.status();
        if !status.is_success() {
            let mut body = String::new();
            if status.is_redirection()
                && let Some(location) = response.headers().get(reqwest::header::LOCATION)
            {
                body = format!(
                    "a redirect to {:?}, not followed (only redirects on the same origin are)",
                    String::from_utf8_lossy(location.as_bytes())
                );
            }
            if body.is_empty() {
                body = tokio::time::timeout_at(deadline, body_snippet(response))
                    .await
                    .unwrap_or_default();
            }
            return Err(SseError::Status {
                url: shown_url,
                status: status_text(status),
                body,
            });
        }
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default();
        if !is_event_stream(&content_type) {
            return Err(SseError::NotEventStream {
                url: shown_url,
                content_type,
            });
        }
        let base = response.url().clone();
        let mut stream = response.bytes_stream().boxed();
        let mut parser = EventParser::new(MAX_EVENT_BYTES);

        let endpoint = 'found: loop {
            while let Some(event) = parser.next_event() {
                if event.event == "endpoint" {
                    break 'found event.data;
                }
                tracing::warn!(
                    url = %shown_url,
                    event = %event.event,
                    "an MCP SSE server sent an event before its endpoint; ignored"
                );
            }
            let chunk = match tokio::time::timeout_at(deadline, stream.next()).await {
                Err(_) => {
                    return Err(SseError::NoEndpoint {
                        url: shown_url,
                        timeout,
                    });
                }
                Ok(None) => {
                    return Err(SseError::StreamEnded {
                        url: shown_url,
                        reason: String::new(),
                    });
                }
                Ok(Some(Err(e))) => {
                    return Err(SseError::StreamEnded {
                        url: shown_url,
                        reason: reqwest_reason(e),
                    });
                }
                Ok(Some(Ok(chunk))) => chunk,
            };
            if parser.feed(&chunk).is_err() {
                return Err(SseError::EventTooLarge {
                    url: shown_url,
                    max: MAX_EVENT_BYTES,
                });
            }
        };
        let post_url =
            resolve_endpoint(&base, &endpoint).map_err(|reason| SseError::BadEndpoint {
                url: shown_url.clone(),
                endpoint: cut(endpoint.trim(), 200),
                reason,
            })?;
        tracing::debug!(
            url = %shown_url,
            endpoint = %shown(&post_url),
            "MCP SSE event stream open"
        );
        Ok(SseTransport {
            client,
            headers,
            shown_url,
            post_url,
            stream: Some(stream),
            parser,
            closed: false,
        })
    }

    /// The URL client messages are POSTed to (from the `endpoint` event).
    pub fn endpoint(&self) -> &Url {
        &self.post_url
    }
}

impl Transport<RoleClient> for SseTransport {
    type Error = SseError;

    fn name() -> std::borrow::Cow<'static, str> {
        "sse".into()
    }

    fn send(
        &mut self,
        item: ClientJsonRpcMessage,
    ) -> impl Future<Output = Result<(), SseError>> + Send + 'static {
        let closed = self.closed;
        let client = self.client.clone();
        let mut headers = self.headers.clone();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let url = self.post_url.clone();
        let body = serde_json::to_vec(&item);
        async move {
            if closed {
                return Err(SseError::Closed);
            }
            let body = body.map_err(|e| SseError::Encode(e.to_string()))?;
            let response = client
                .post(url.clone())
                .headers(headers)
                .timeout(POST_TIMEOUT)
                .body(body)
                .send()
                .await
                .map_err(|e| SseError::Post {
                    url: shown(&url),
                    reason: if e.is_timeout() {
                        format!("no answer within {POST_TIMEOUT:?}")
                    } else {
                        reqwest_reason(e)
                    },
                })?;
            let status = response.status();
            if !status.is_success() {
                return Err(SseError::PostStatus {
                    url: shown(&url),
                    status: status_text(status),
                    body: body_snippet(response).await,
                });
            }
            Ok(())
        }
    }

    async fn receive(&mut self) -> Option<ServerJsonRpcMessage> {
        // Cancel-safe: the parser only changes after a chunk has been taken
        // from the stream, and `next()` itself loses nothing when dropped.
        loop {
            while let Some(event) = self.parser.next_event() {
                match event.event.as_str() {
                    "message" => match serde_json::from_str::<ServerJsonRpcMessage>(&event.data) {
                        Ok(message) => return Some(message),
                        Err(e) => tracing::warn!(
                            url = %self.shown_url,
                            error = %e,
                            data = %cut(&event.data, 200),
                            "an MCP SSE server sent a message that is not JSON-RPC; ignored"
                        ),
                    },
                    "endpoint" => tracing::debug!(
                        url = %self.shown_url,
                        "an MCP SSE server sent a second endpoint event; ignored"
                    ),
                    other => tracing::debug!(
                        url = %self.shown_url,
                        event = %other,
                        "an MCP SSE server sent an event of an unknown type; ignored"
                    ),
                }
            }
            let stream = self.stream.as_mut()?;
            match stream.next().await {
                Some(Ok(chunk)) => {
                    if self.parser.feed(&chunk).is_err() {
                        tracing::warn!(
                            url = %self.shown_url,
                            max = MAX_EVENT_BYTES,
                            "an MCP SSE server sent an event larger than the limit; the connection is dropped"
                        );
                        self.stream = None;
                    }
                }
                Some(Err(e)) => {
                    tracing::info!(
                        url = %self.shown_url,
                        error = %reqwest_reason(e),
                        "the event stream of an MCP SSE server broke"
                    );
                    self.stream = None;
                }
                None => {
                    tracing::info!(url = %self.shown_url, "the event stream of an MCP SSE server ended");
                    self.stream = None;
                }
            }
        }
    }

    async fn close(&mut self) -> Result<(), SseError> {
        // Dropping the stream closes the GET, which ends the server's session.
        self.closed = true;
        self.stream = None;
        self.parser = EventParser::new(MAX_EVENT_BYTES);
        Ok(())
    }
}

/// Parses the SSE URL: absolute, `http` or `https`, with a host.
fn parse_sse_url(url: &str) -> Result<Url, SseError> {
    let bad = |reason: String| SseError::BadUrl {
        url: cut(url, 200),
        reason,
    };
    let parsed = Url::parse(url.trim()).map_err(|e| bad(e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(bad(format!(
            "the scheme is {:?}, not http or https",
            parsed.scheme()
        )));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(bad("it has no host".into()));
    }
    Ok(parsed)
}

/// The configured headers as a [`HeaderMap`].
fn header_map(headers: &BTreeMap<String, String>) -> Result<HeaderMap, SseError> {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        let bad = |reason: &str| SseError::BadHeader {
            name: cut(name, 100),
            reason: reason.into(),
        };
        let header_name =
            HeaderName::from_bytes(name.as_bytes()).map_err(|_| bad("not a valid header name"))?;
        let mut header_value = HeaderValue::from_str(value)
            .map_err(|_| bad("its value is not a valid header value"))?;
        header_value.set_sensitive(true);
        map.append(header_name, header_value);
    }
    Ok(map)
}

/// Follows redirects only on the original URL's origin, so the configured
/// headers never reach another server.
fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let same_origin = attempt
            .previous()
            .first()
            .is_some_and(|first| first.origin() == attempt.url().origin());
        if attempt.previous().len() > MAX_REDIRECTS {
            attempt.error(format!("more than {MAX_REDIRECTS} redirects"))
        } else if same_origin {
            attempt.follow()
        } else {
            attempt.stop()
        }
    })
}

/// Resolves the `endpoint` event's data against the SSE URL; the result
/// must be on the same origin (scheme, host and port).
fn resolve_endpoint(sse_url: &Url, data: &str) -> Result<Url, String> {
    let data = data.trim();
    if data.is_empty() {
        return Err("it is empty".into());
    }
    let url = sse_url.join(data).map_err(|e| e.to_string())?;
    if url.origin() != sse_url.origin() {
        return Err(format!(
            "it is on another origin ({}) than the SSE URL ({})",
            url.origin().ascii_serialization(),
            sse_url.origin().ascii_serialization()
        ));
    }
    Ok(url)
}

/// Whether a Content-Type is `text/event-stream` (any parameters).
fn is_event_stream(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("text/event-stream"))
}

/// A URL as shown in logs and errors: without credentials, query or fragment.
fn shown(url: &Url) -> String {
    let mut url = url.clone();
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.set_query(None);
    url.set_fragment(None);
    url.to_string()
}

/// "404 Not Found".
fn status_text(status: StatusCode) -> String {
    match status.canonical_reason() {
        Some(reason) => format!("{} {reason}", status.as_u16()),
        None => status.as_u16().to_string(),
    }
}

/// The start of a response's body, as one trimmed line of text (read no
/// further than needed).
async fn body_snippet(response: reqwest::Response) -> String {
    let mut bytes = Vec::new();
    let mut stream = response.bytes_stream();
    while bytes.len() < BODY_SNIPPET_BYTES {
        match stream.next().await {
            Some(Ok(chunk)) => bytes.extend_from_slice(&chunk),
            _ => break,
        }
    }
    let truncated = bytes.len() > BODY_SNIPPET_BYTES;
    bytes.truncate(BODY_SNIPPET_BYTES);
    let text = String::from_utf8_lossy(&bytes);
    let mut text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if truncated {
        text.push('…');
    }
    text
}

/// A reqwest error's causes, without its URL (whose query may hold a
/// secret; the errors name the URL themselves).
fn reqwest_reason(error: reqwest::Error) -> String {
    error_chain(&error.without_url())
}

/// An error and its causes, "a: b: c" (reqwest puts the useful part, such
/// as "Connection refused", in the causes).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = vec![error.to_string()];
    let mut source = error.source();
    while let Some(e) = source {
        let text = e.to_string();
        if parts.last().is_none_or(|last| !last.contains(&text)) {
            parts.push(text);
        }
        source = e.source();
    }
    parts.join(": ")
}

/// At most `max` characters of `text`, with "…" when cut.
fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

/// One dispatched server-sent event.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Event {
    /// The event type (`message` when the event named none).
    event: String,
    /// The data lines, joined with `\n`.
    data: String,
}

/// The event stream's size limit was exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TooLarge;

/// An incremental parser of `text/event-stream` (the WHATWG rules): `\n`,
/// `\r\n` and `\r` line ends split anywhere across chunks, comments, a
/// leading BOM, multi-line data; `id` and `retry` are not needed here and
/// are ignored. Every event, with its unfinished line, is bounded by `max`.
#[derive(Debug)]
struct EventParser {
    max: usize,
    /// The unfinished line.
    line: Vec<u8>,
    /// The previous chunk ended with `\r`: a `\n` first in the next one
    /// belongs to the same line end.
    after_cr: bool,
    /// Nothing has been read yet (a BOM may come).
    at_start: bool,
    /// The current event's type ("" until an `event` field).
    event: String,
    /// The current event's data, each line followed by `\n`.
    data: String,
    /// Bytes of the current event's lines so far.
    size: usize,
    /// Dispatched events not taken yet.
    ready: VecDeque<Event>,
}

impl EventParser {
    fn new(max: usize) -> EventParser {
        EventParser {
            max,
            line: Vec::new(),
            after_cr: false,
            at_start: true,
            event: String::new(),
            data: String::new(),
            size: 0,
            ready: VecDeque::new(),
        }
    }

    /// Feeds bytes of the stream; complete events queue up for
    /// [`EventParser::next_event`].
    fn feed(&mut self, mut chunk: &[u8]) -> Result<(), TooLarge> {
        if self.at_start && !chunk.is_empty() {
            // A BOM may be split over chunks: wait for three bytes.
            let mut head = std::mem::take(&mut self.line);
            head.extend_from_slice(chunk);
            if head.len() < 3 && b"\xEF\xBB\xBF".starts_with(&head) {
                self.line = head;
                return Ok(());
            }
            self.at_start = false;
            let rest = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&head).to_vec();
            return self.feed_lines(&rest);
        }
        if self.after_cr {
            self.after_cr = false;
            if let Some(rest) = chunk.strip_prefix(b"\n") {
                chunk = rest;
            }
        }
        self.feed_lines(chunk)
    }

    fn feed_lines(&mut self, mut chunk: &[u8]) -> Result<(), TooLarge> {
        while let Some(end) = chunk.iter().position(|&b| b == b'\n' || b == b'\r') {
            self.line.extend_from_slice(&chunk[..end]);
            self.check()?;
            let line = std::mem::take(&mut self.line);
            self.line_done(&line);
            let mut next = end + 1;
            if chunk[end] == b'\r' {
                match chunk.get(next) {
                    Some(b'\n') => next += 1,
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
            chunk = &chunk[next..];
        }
        self.line.extend_from_slice(chunk);
        self.check()
    }

    fn check(&self) -> Result<(), TooLarge> {
        if self.size.saturating_add(self.line.len()) > self.max {
            Err(TooLarge)
        } else {
            Ok(())
        }
    }

    fn line_done(&mut self, line: &[u8]) {
        if line.is_empty() {
            self.dispatch();
            return;
        }
        if line[0] == b':' {
            return; // a comment
        }
        self.size = self.size.saturating_add(line.len() + 1);
        let line = String::from_utf8_lossy(line);
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (&line[..], ""),
        };
        match field {
            "event" => self.event = value.to_string(),
            "data" => {
                self.data.push_str(value);
                self.data.push('\n');
            }
            _ => {} // id, retry and unknown fields
        }
    }

    fn dispatch(&mut self) {
        let mut data = std::mem::take(&mut self.data);
        let event = std::mem::take(&mut self.event);
        self.size = 0;
        if data.is_empty() {
            return; // no data field: nothing to dispatch
        }
        data.pop(); // the last line's `\n`
        let event = if event.is_empty() {
            "message".to_string()
        } else {
            event
        };
        self.ready.push_back(Event { event, data });
    }

    /// The next complete event, if any.
    fn next_event(&mut self) -> Option<Event> {
        self.ready.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn relative_endpoints_resolve_against_the_sse_url() {
        let sse = url("http://127.0.0.1:3001/sse");
        assert_eq!(
            resolve_endpoint(&sse, "/message?sessionId=abc").unwrap(),
            url("http://127.0.0.1:3001/message?sessionId=abc")
        );
        let nested = url("https://example.com/mcp/v1/sse?key=1");
        assert_eq!(
            resolve_endpoint(&nested, "messages/?session_id=x").unwrap(),
            url("https://example.com/mcp/v1/messages/?session_id=x")
        );
        assert_eq!(
            resolve_endpoint(&nested, " /root?s=1\n").unwrap(),
            url("https://example.com/root?s=1")
        );
        // Absolute on the same origin, default port spelled out.
        assert_eq!(
            resolve_endpoint(&nested, "https://example.com:443/m").unwrap(),
            url("https://example.com/m")
        );
    }

    #[test]
    fn endpoints_on_another_origin_are_refused() {
        let sse = url("http://127.0.0.1:3001/sse");
        for foreign in [
            "http://evil.example/message",
            "http://127.0.0.1:3002/message",
            "https://127.0.0.1:3001/message",
            "//evil.example/message",
            "http://localhost:3001/message",
            "file:///etc/passwd",
            "javascript:alert(1)",
        ] {
            let err = resolve_endpoint(&sse, foreign).unwrap_err();
            assert!(err.contains("another origin"), "{foreign}: {err}");
        }
        assert!(resolve_endpoint(&sse, "  ").unwrap_err().contains("empty"));
        assert!(resolve_endpoint(&sse, "http://[::1").is_err());
    }

    #[test]
    fn sse_urls_must_be_absolute_http() {
        assert!(parse_sse_url("http://127.0.0.1:1/sse").is_ok());
        assert!(parse_sse_url("https://example.com/sse").is_ok());
        for bad in [
            "",
            "not a url",
            "/sse",
            "ftp://example.com/sse",
            "unix:/tmp/s",
        ] {
            let err = parse_sse_url(bad).unwrap_err();
            assert!(matches!(err, SseError::BadUrl { .. }), "{bad}: {err}");
            assert!(err.to_string().starts_with("bad MCP SSE URL"), "{err}");
        }
    }

    #[test]
    fn bad_headers_are_named_without_their_value() {
        let mut h = BTreeMap::new();
        h.insert("Authorization".to_string(), "Bearer secret\n".to_string());
        let err = header_map(&h).unwrap_err().to_string();
        assert!(
            err.contains("Authorization") && !err.contains("secret"),
            "{err}"
        );
        let mut h = BTreeMap::new();
        h.insert("bad name".to_string(), "v".to_string());
        assert!(header_map(&h).unwrap_err().to_string().contains("bad name"));
        let mut h = BTreeMap::new();
        h.insert("X-Key".to_string(), "v".to_string());
        assert_eq!(header_map(&h).unwrap()["x-key"], "v");
    }

    #[test]
    fn shown_urls_have_no_query_or_credentials() {
        assert_eq!(
            shown(&url("http://user:pw@host:8/p/sse?key=secret#f")),
            "http://host:8/p/sse"
        );
    }

    #[test]
    fn content_types() {
        assert!(is_event_stream("text/event-stream"));
        assert!(is_event_stream("Text/Event-Stream; charset=utf-8"));
        assert!(!is_event_stream("text/html"));
        assert!(!is_event_stream(""));
    }

    fn parse_all(chunks: &[&[u8]]) -> Vec<Event> {
        let mut p = EventParser::new(MAX_EVENT_BYTES);
        for c in chunks {
            p.feed(c).unwrap();
        }
        std::iter::from_fn(|| p.next_event()).collect()
    }

    fn ev(event: &str, data: &str) -> Event {
        Event {
            event: event.into(),
            data: data.into(),
        }
    }

    #[test]
    fn events_split_anywhere_with_any_line_end() {
        let text: &[u8] = b"\xEF\xBB\xBFevent: endpoint\r\ndata: /message?sessionId=1\r\n\r\n: keep-alive\n\ndata: {\"a\":1}\rdata:x\r\rid: 7\nretry: 10\nevent: message\ndata\n\nevent: other\ndata: y\n\nevent: nodata\n\ndata: unfinished";
        let want = vec![
            ev("endpoint", "/message?sessionId=1"),
            ev("message", "{\"a\":1}\nx"),
            ev("message", ""),
            ev("other", "y"),
        ];
        for split in 0..=text.len() {
            assert_eq!(
                parse_all(&[&text[..split], &text[split..]]),
                want,
                "split at {split}"
            );
        }
        let bytes: Vec<&[u8]> = text.chunks(1).collect();
        assert_eq!(parse_all(&bytes), want);
    }

    #[test]
    fn oversized_events_and_lines_are_refused() {
        let mut p = EventParser::new(64);
        p.feed(b"data: small\n\n").unwrap();
        assert_eq!(p.next_event(), Some(ev("message", "small")));
        // Many lines of one event.
        let mut p = EventParser::new(64);
        let line = b"data: 0123456789\n";
        let res = (0..10).try_for_each(|_| p.feed(line));
        assert_eq!(res, Err(TooLarge));
        // One endless line, no line end ever.
        let mut p = EventParser::new(64);
        let res = (0..10).try_for_each(|_| p.feed(b"data: 0123456789"));
        assert_eq!(res, Err(TooLarge));
        // The limit is per event: many small events are fine.
        let mut p = EventParser::new(64);
        for _ in 0..100 {
            p.feed(b"data: 0123456789\n\n").unwrap();
        }
        assert_eq!(p.ready.len(), 100);
    }

    #[test]
    fn invalid_utf8_does_not_panic() {
        let got = parse_all(&[b"event: \xff\xfe\ndata: \xc3\n\n"]);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].data, "\u{fffd}");
    }

    #[test]
    fn error_text() {
        let e = SseError::Status {
            url: "http://h/sse".into(),
            status: status_text(StatusCode::NOT_FOUND),
            body: "Cannot GET /sse".into(),
        };
        assert_eq!(
            e.to_string(),
            "the MCP SSE server at http://h/sse answered HTTP 404 Not Found: \"Cannot GET /sse\""
        );
        assert_eq!(cut("héllo", 2), "hé…");
        assert_eq!(cut("hé", 2), "hé");
    }
}
