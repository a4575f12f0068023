//! The legacy HTTP+SSE transport (`paddock_mcp::sse`): against the real
//! `mcp-server-everything sse` through rmcp (handshake, tools, concurrent
//! calls, the server dying), and against a small fake legacy server for
//! what a real one does not do on demand (headers, malformed and split
//! events, POST errors, foreign endpoints, silence, oversized events).

use crate::common::mcp_servers::{Everything, HttpMode, free_port};
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use paddock_mcp::sse::{SseError, SseTransport};
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, CallToolResult, ClientJsonRpcMessage, JsonRpcMessage};
use rmcp::transport::Transport;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// The connect timeout of the tests.
const CONNECT: Duration = Duration::from_secs(10);
/// How long any one wait may take before a test fails.
const DEADLINE: Duration = Duration::from_secs(30);

fn no_headers() -> BTreeMap<String, String> {
    BTreeMap::new()
}

/// The text of a tool result's content.
fn text_of(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

fn call(name: &'static str, args: Value) -> CallToolRequestParams {
    let Value::Object(args) = args else {
        panic!("arguments must be an object")
    };
    CallToolRequestParams::new(name).with_arguments(args)
}

// ---------------------------------------------------------------------------
// Against the real server-everything (legacy SSE mode)
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_initializes_lists_tools_and_calls_tools_through_rmcp() {
    let server = Everything::start(HttpMode::Sse);
    let transport = SseTransport::connect(&server.url(), &no_headers(), CONNECT)
        .await
        .unwrap_or_else(|e| panic!("connect: {e}\nserver stderr:\n{}", server.stderr()));
    assert_eq!(transport.endpoint().path(), "/message");
    assert!(
        transport
            .endpoint()
            .query()
            .is_some_and(|q| q.starts_with("sessionId=")),
        "{}",
        transport.endpoint()
    );

    let client = tokio::time::timeout(DEADLINE, ().serve(transport))
        .await
        .expect("the handshake took too long")
        .unwrap_or_else(|e| panic!("initialize: {e}\nserver stderr:\n{}", server.stderr()));
    let info = client.peer_info().expect("the server's initialize result");
    let server_info = info.server_info.as_ref().expect("the server's info");
    assert_eq!(server_info.name, "mcp-servers/everything");

    let tools = client.list_all_tools().await.expect("tools/list");
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    for want in [
        "echo",
        "get-sum",
        "get-env",
        "trigger-long-running-operation",
    ] {
        assert!(names.contains(&want), "no {want} in {names:?}");
    }

    let echoed = client
        .call_tool(call("echo", json!({"message": "hello over sse"})))
        .await
        .expect("call echo");
    assert_eq!(text_of(&echoed), "Echo: hello over sse");
    assert_ne!(echoed.is_error, Some(true));

    let sum = client
        .call_tool(call("get-sum", json!({"a": 2, "b": 3})))
        .await
        .expect("call get-sum");
    assert_eq!(text_of(&sum), "The sum of 2 and 3 is 5.");

    // Bad arguments: the server answers with a tool error, not a failure.
    let bad = client
        .call_tool(call("echo", json!({})))
        .await
        .expect("call echo without its argument");
    assert_eq!(bad.is_error, Some(true), "{bad:?}");
    assert!(text_of(&bad).contains("message"), "{}", text_of(&bad));

    client.cancel().await.expect("close the client");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_concurrent_calls_each_get_their_own_answer() {
    let server = Everything::start(HttpMode::Sse);
    let transport = SseTransport::connect(&server.url(), &no_headers(), CONNECT)
        .await
        .expect("connect");
    let client = ().serve(transport).await.expect("initialize");
    let calls = (0..8).map(|i| {
        let client = &client;
        async move {
            let message = format!("call number {i}");
            let result = client
                .call_tool(call("echo", json!({ "message": message })))
                .await
                .expect("call echo");
            (message, text_of(&result))
        }
    });
    let answers = tokio::time::timeout(DEADLINE, futures::future::join_all(calls))
        .await
        .expect("the calls took too long");
    for (message, answer) in answers {
        assert_eq!(answer, format!("Echo: {message}"));
    }
    client.cancel().await.expect("close the client");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_service_ends_when_the_server_dies() {
    let mut server = Everything::start(HttpMode::Sse);
    let transport = SseTransport::connect(&server.url(), &no_headers(), CONNECT)
        .await
        .expect("connect");
    let client = ().serve(transport).await.expect("initialize");
    client.list_all_tools().await.expect("tools/list");

    server.kill();
    let started = Instant::now();
    // The event stream breaks, `receive` returns None, the service ends.
    let ended = tokio::time::timeout(DEADLINE, client.waiting()).await;
    assert!(
        ended.is_ok(),
        "the service still runs {:?} after its server died",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_wrong_paths_of_a_real_server_are_http_errors() {
    let server = Everything::start(HttpMode::Sse);
    let err = SseTransport::connect(&format!("{}/nope", server.base()), &no_headers(), CONNECT)
        .await
        .expect_err("a 404 is no event stream");
    assert!(matches!(err, SseError::Status { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("404") && text.contains("Cannot GET /nope"),
        "{text}"
    );

    // A streamable HTTP server's URL given as SSE.
    let streamable = Everything::start(HttpMode::StreamableHttp);
    let err = SseTransport::connect(&streamable.url(), &no_headers(), CONNECT)
        .await
        .expect_err("a streamable HTTP endpoint is no legacy SSE one");
    let text = err.to_string();
    assert!(
        text.contains("400") && text.contains("No valid session ID"),
        "{text}"
    );
}

#[tokio::test]
async fn sse_refused_port_is_a_connect_error() {
    let url = format!("http://127.0.0.1:{}/sse", free_port());
    let err = SseTransport::connect(&url, &no_headers(), CONNECT)
        .await
        .expect_err("nothing listens there");
    assert!(matches!(err, SseError::Connect { .. }), "{err:?}");
    let text = err.to_string().to_lowercase();
    assert!(
        text.contains("cannot connect") && text.contains("refused"),
        "{text}"
    );
}

#[tokio::test]
async fn sse_bad_urls_and_headers_are_refused_before_connecting() {
    for url in ["", "not a url", "/sse", "ftp://127.0.0.1/sse", "http://"] {
        let err = SseTransport::connect(url, &no_headers(), CONNECT)
            .await
            .expect_err("a bad URL");
        assert!(matches!(err, SseError::BadUrl { .. }), "{url:?}: {err:?}");
        assert!(err.to_string().contains("bad MCP SSE URL"), "{err}");
    }
    let mut headers = BTreeMap::new();
    headers.insert("X-Key".to_string(), "line\nbreak".to_string());
    let err = SseTransport::connect("http://127.0.0.1:1/sse", &headers, CONNECT)
        .await
        .expect_err("a bad header");
    assert!(matches!(err, SseError::BadHeader { .. }), "{err:?}");
}

// ---------------------------------------------------------------------------
// Against a fake legacy server
// ---------------------------------------------------------------------------

/// What the fake answers to the GET.
#[derive(Clone)]
enum GetReply {
    /// An event stream that starts with these bytes; more come by
    /// [`Fake::push`].
    Stream(Vec<u8>),
    /// An event stream of that many bytes of one endless event, then the end.
    Huge(usize),
    /// An HTML page.
    Html,
    /// A redirect.
    Redirect(String),
}

/// One request the fake received.
#[derive(Clone, Debug)]
struct Seen {
    uri: String,
    headers: HeaderMap,
    body: String,
}

struct FakeState {
    get_reply: GetReply,
    post_status: StatusCode,
    post_body: &'static str,
    gets: Mutex<Vec<Seen>>,
    posts: Mutex<Vec<Seen>>,
    streams: Mutex<Vec<mpsc::UnboundedSender<Result<Bytes, Infallible>>>>,
}

/// A fake legacy SSE server on a loopback port, stopped on drop.
struct Fake {
    base: String,
    state: Arc<FakeState>,
    task: tokio::task::JoinHandle<()>,
}

impl Fake {
    async fn start(get_reply: GetReply) -> Fake {
        Fake::start_with_post(get_reply, StatusCode::ACCEPTED, "Accepted").await
    }

    async fn start_with_post(
        get_reply: GetReply,
        post_status: StatusCode,
        post_body: &'static str,
    ) -> Fake {
        let state = Arc::new(FakeState {
            get_reply,
            post_status,
            post_body,
            gets: Mutex::default(),
            posts: Mutex::default(),
            streams: Mutex::default(),
        });
        let app = axum::Router::new()
            .route("/sse", axum::routing::get(fake_get))
            .route("/messages", axum::routing::post(fake_post))
            .with_state(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake");
        let base = format!("http://{}", listener.local_addr().expect("its address"));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Fake { base, state, task }
    }

    fn url(&self) -> String {
        format!("{}/sse", self.base)
    }

    /// Sends bytes on every open event stream.
    fn push(&self, bytes: &[u8]) {
        for tx in self.state.streams.lock().unwrap().iter() {
            let _ = tx.send(Ok(Bytes::copy_from_slice(bytes)));
        }
    }

    /// Ends every open event stream.
    fn end_streams(&self) {
        self.state.streams.lock().unwrap().clear();
    }

    fn gets(&self) -> Vec<Seen> {
        self.state.gets.lock().unwrap().clone()
    }

    fn posts(&self) -> Vec<Seen> {
        self.state.posts.lock().unwrap().clone()
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn fake_get(State(state): State<Arc<FakeState>>, uri: Uri, headers: HeaderMap) -> Response {
    state.gets.lock().unwrap().push(Seen {
        uri: uri.to_string(),
        headers,
        body: String::new(),
    });
    let stream_response = |body: Body| {
        Response::builder()
            .header("content-type", "text/event-stream")
            .body(body)
            .unwrap()
    };
    match state.get_reply.clone() {
        GetReply::Stream(preface) => {
            let (tx, rx) = mpsc::unbounded_channel();
            let _ = tx.send(Ok(Bytes::from(preface)));
            state.streams.lock().unwrap().push(tx);
            stream_response(Body::from_stream(
                tokio_stream::wrappers::UnboundedReceiverStream::new(rx),
            ))
        }
        GetReply::Huge(total) => {
            let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
            let mut chunks = vec![Ok::<_, Infallible>(Bytes::from_static(b"data: "))];
            chunks.extend((0..total / chunk.len()).map(|_| Ok(chunk.clone())));
            stream_response(Body::from_stream(futures::stream::iter(chunks)))
        }
        GetReply::Html => (
            [("content-type", "text/html; charset=utf-8")],
            "<html>hello</html>",
        )
            .into_response(),
        GetReply::Redirect(location) => {
            (StatusCode::FOUND, [("location", location)], "").into_response()
        }
    }
}

async fn fake_post(
    State(state): State<Arc<FakeState>>,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> Response {
    state.posts.lock().unwrap().push(Seen {
        uri: uri.to_string(),
        headers,
        body,
    });
    (state.post_status, state.post_body).into_response()
}

const ENDPOINT: &[u8] = b"event: endpoint\ndata: /messages?session=s1\n\n";

fn ping_request() -> ClientJsonRpcMessage {
    serde_json::from_value(json!({"jsonrpc": "2.0", "id": 7, "method": "ping"}))
        .expect("a ping request")
}

#[tokio::test]
async fn sse_headers_go_with_the_get_and_every_post() {
    let fake = Fake::start(GetReply::Stream(ENDPOINT.to_vec())).await;
    let mut headers = BTreeMap::new();
    headers.insert("Authorization".to_string(), "Bearer t0ken".to_string());
    headers.insert("X-Tenant".to_string(), "blue".to_string());
    let mut transport = SseTransport::connect(&fake.url(), &headers, CONNECT)
        .await
        .expect("connect");
    assert_eq!(
        transport.endpoint().as_str(),
        format!("{}/messages?session=s1", fake.base)
    );

    transport.send(ping_request()).await.expect("POST a ping");
    transport.send(ping_request()).await.expect("POST again");

    let gets = fake.gets();
    assert_eq!(gets.len(), 1);
    assert_eq!(gets[0].headers["accept"], "text/event-stream");
    assert_eq!(gets[0].headers["authorization"], "Bearer t0ken");
    assert_eq!(gets[0].headers["x-tenant"], "blue");

    let posts = fake.posts();
    assert_eq!(posts.len(), 2);
    for post in posts {
        assert_eq!(post.uri, "/messages?session=s1");
        assert_eq!(post.headers["authorization"], "Bearer t0ken");
        assert_eq!(post.headers["x-tenant"], "blue");
        assert_eq!(post.headers["content-type"], "application/json");
        let body: Value = serde_json::from_str(&post.body).expect("a JSON body");
        assert_eq!(body, json!({"jsonrpc": "2.0", "id": 7, "method": "ping"}));
    }
}

#[tokio::test]
async fn sse_messages_arrive_split_anywhere_and_malformed_ones_are_skipped() {
    // The endpoint's event and a first message in the same chunk.
    let mut preface = ENDPOINT.to_vec();
    preface.extend_from_slice(b"event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/tools/list_changed\"}\n\n");
    let fake = Fake::start(GetReply::Stream(preface)).await;
    let mut transport = SseTransport::connect(&fake.url(), &no_headers(), CONNECT)
        .await
        .expect("connect");

    let first = tokio::time::timeout(DEADLINE, transport.receive())
        .await
        .expect("the first message")
        .expect("a message, not the end");
    assert!(
        matches!(first, JsonRpcMessage::Notification(_)),
        "{first:?}"
    );

    // Not JSON, not JSON-RPC, an unknown event type, a comment, then a
    // response split over chunks with CRLF line ends.
    fake.push(b"event: message\ndata: not json\n\n");
    fake.push(b"data: {\"hello\": \"world\"}\n\n");
    fake.push(b"event: surprise\ndata: {}\n\n: a comment\n\n");
    fake.push(b"event: mess");
    fake.push(b"age\r\ndata: {\"jsonrpc\":\"2.0\",");
    fake.push(b"\"id\":3,\"error\":{\"code\":-32601,\"message\":\"no such method\"}}\r");
    fake.push(b"\n\r\n");
    let second = tokio::time::timeout(DEADLINE, transport.receive())
        .await
        .expect("the second message")
        .expect("a message, not the end");
    let JsonRpcMessage::Error(error) = second else {
        panic!("an error response, got {second:?}");
    };
    assert_eq!(error.error.message, "no such method");

    // The stream ends: receive says so, and keeps saying so.
    fake.end_streams();
    let end = tokio::time::timeout(DEADLINE, transport.receive())
        .await
        .expect("the end of the stream");
    assert!(end.is_none(), "{end:?}");
    assert!(transport.receive().await.is_none());
}

#[tokio::test]
async fn sse_close_ends_receive_and_refuses_sends() {
    let fake = Fake::start(GetReply::Stream(ENDPOINT.to_vec())).await;
    let mut transport = SseTransport::connect(&fake.url(), &no_headers(), CONNECT)
        .await
        .expect("connect");
    Transport::<rmcp::RoleClient>::close(&mut transport)
        .await
        .expect("close");
    assert!(transport.receive().await.is_none());
    let err = transport
        .send(ping_request())
        .await
        .expect_err("closed transport");
    assert!(matches!(err, SseError::Closed), "{err:?}");
    assert!(fake.posts().is_empty());
}

#[tokio::test]
async fn sse_post_errors_quote_the_status_and_body() {
    let fake = Fake::start_with_post(
        GetReply::Stream(ENDPOINT.to_vec()),
        StatusCode::INTERNAL_SERVER_ERROR,
        "boom: no such session\n",
    )
    .await;
    let mut transport = SseTransport::connect(&fake.url(), &no_headers(), CONNECT)
        .await
        .expect("connect");
    let err = transport
        .send(ping_request())
        .await
        .expect_err("the POST fails");
    assert!(matches!(err, SseError::PostStatus { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("500 Internal Server Error") && text.contains("boom: no such session"),
        "{text}"
    );
    assert!(
        !text.contains("session=s1"),
        "the query is not shown: {text}"
    );
}

#[tokio::test]
async fn sse_endpoints_on_another_origin_are_refused() {
    let fake = Fake::start(GetReply::Stream(
        b"event: endpoint\ndata: http://127.0.0.1:1/messages\n\n".to_vec(),
    ))
    .await;
    let err = SseTransport::connect(&fake.url(), &no_headers(), CONNECT)
        .await
        .expect_err("a foreign endpoint");
    assert!(matches!(err, SseError::BadEndpoint { .. }), "{err:?}");
    assert!(err.to_string().contains("another origin"), "{err}");
}

#[tokio::test]
async fn sse_redirects_to_another_origin_are_not_followed() {
    let other = Fake::start(GetReply::Stream(ENDPOINT.to_vec())).await;
    let fake = Fake::start(GetReply::Redirect(other.url())).await;
    let mut headers = BTreeMap::new();
    headers.insert("X-Secret".to_string(), "s3cret".to_string());
    let err = SseTransport::connect(&fake.url(), &headers, CONNECT)
        .await
        .expect_err("a redirect elsewhere");
    assert!(matches!(err, SseError::Status { .. }), "{err:?}");
    assert!(err.to_string().contains("302"), "{err}");
    assert!(
        other.gets().is_empty(),
        "the headers went to another origin"
    );
}

#[tokio::test]
async fn sse_non_event_stream_is_refused() {
    let fake = Fake::start(GetReply::Html).await;
    let err = SseTransport::connect(&fake.url(), &no_headers(), CONNECT)
        .await
        .expect_err("HTML is no event stream");
    assert!(matches!(err, SseError::NotEventStream { .. }), "{err:?}");
    assert!(err.to_string().contains("text/html"), "{err}");
}

#[tokio::test]
async fn sse_no_endpoint_within_the_timeout() {
    let fake = Fake::start(GetReply::Stream(
        b": waiting\n\nevent: hello\ndata: x\n\n".to_vec(),
    ))
    .await;
    let started = Instant::now();
    let err = SseTransport::connect(&fake.url(), &no_headers(), Duration::from_millis(500))
        .await
        .expect_err("no endpoint ever comes");
    assert!(matches!(err, SseError::NoEndpoint { .. }), "{err:?}");
    assert!(err.to_string().contains("no endpoint event"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));

    // A stream that ends first says so.
    let fake = Fake::start(GetReply::Stream(b": bye\n\n".to_vec())).await;
    let (url, headers) = (fake.url(), no_headers());
    let connect = SseTransport::connect(&url, &headers, CONNECT);
    let (result, ()) = tokio::join!(connect, async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        fake.end_streams();
    });
    let err = result.expect_err("the stream ended");
    assert!(matches!(err, SseError::StreamEnded { .. }), "{err:?}");
}

#[tokio::test]
async fn sse_oversized_events_are_refused() {
    let fake = Fake::start(GetReply::Huge(17 * 1024 * 1024)).await;
    let err = SseTransport::connect(&fake.url(), &no_headers(), CONNECT)
        .await
        .expect_err("a 17 MiB event");
    assert!(matches!(err, SseError::EventTooLarge { .. }), "{err:?}");
    assert!(
        err.to_string().contains("larger than 16777216 bytes"),
        "{err}"
    );
}
