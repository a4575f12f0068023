//! The MCP client against real servers: `@modelcontextprotocol/server-everything`
//! over stdio, streamable HTTP and legacy SSE (its tools: text, sums,
//! long-running operations, images, resource links, structured content,
//! errors; its environment), and the Python `mcp-server-time` over stdio.

use super::faults::manager;
use crate::common::mcp_servers::{Everything, HttpMode, mcp_server_time, server_everything};
use paddock_mcp::McpManager;
use serde_json::{Value, json};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

async fn call(m: &Arc<McpManager>, tool: &str, args: Value) -> (bool, String) {
    let out = m
        .call(tool, args, &CancellationToken::new())
        .await
        .unwrap_or_else(|e| panic!("{tool}: {e}"));
    (out.is_error, out.text)
}

/// The same checks over any transport: `entry` is the server's entry.
async fn exercise(entry: Value) {
    let (_d, m) = manager(json!({"ev": entry})).await;
    let tools = m.tools_for(&["ev".into()]).await;
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();
    for want in [
        "ev__echo",
        "ev__get-sum",
        "ev__trigger-long-running-operation",
        "ev__get-tiny-image",
        "ev__get-resource-links",
        "ev__get-structured-content",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    let echo = tools.iter().find(|t| t.name == "ev__echo").unwrap();
    assert_eq!(echo.input_schema["type"], "object");
    assert!(echo.input_schema["properties"]["message"].is_object());
    let long = tools
        .iter()
        .find(|t| t.name == "ev__trigger-long-running-operation")
        .unwrap();
    assert!(long.read_only, "readOnlyHint is carried over");

    let (err, text) = call(&m, "ev__echo", json!({"message": "hi there"})).await;
    assert!(!err);
    assert!(text.contains("hi there"), "{text}");
    let (_, text) = call(&m, "ev__get-sum", json!({"a": 2, "b": 40})).await;
    assert!(text.contains("42"), "{text}");
    let (_, text) = call(
        &m,
        "ev__trigger-long-running-operation",
        json!({"duration": 1, "steps": 2}),
    )
    .await;
    assert!(text.contains("completed"), "{text}");
    let (_, text) = call(&m, "ev__get-tiny-image", json!({})).await;
    assert!(text.contains("[image: image/png, "), "{text}");
    assert!(text.contains("not shown to the model"), "{text}");
    let (_, text) = call(&m, "ev__get-resource-links", json!({"count": 2})).await;
    assert_eq!(text.matches("[resource link: ").count(), 2, "{text}");
    let (_, text) = call(
        &m,
        "ev__get-structured-content",
        json!({"location": "New York"}),
    )
    .await;
    assert!(!text.is_empty(), "{text}");
    // A tool that fails: an error result, or a protocol error; never a hang.
    match m
        .call(
            "ev__get-resource-reference",
            json!({"resourceType": "bogus", "resourceId": 1}),
            &CancellationToken::new(),
        )
        .await
    {
        Ok(out) => assert!(out.is_error, "{}", out.text),
        Err(e) => assert!(e.to_string().contains("MCP server `ev`"), "{e}"),
    }
    let h = m.view("ev").unwrap().health;
    assert!(h.calls_ok >= 6, "{h:?}");
    m.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_everything_over_stdio() {
    exercise(json!({"command": server_everything()})).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_everything_over_streamable_http() {
    let server = Everything::start(HttpMode::StreamableHttp);
    exercise(json!({"url": server.url()})).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_everything_over_sse() {
    let server = Everything::start(HttpMode::Sse);
    exercise(json!({"url": server.url(), "transport": "sse"})).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdio_servers_get_their_env_and_not_the_hosts() {
    let (_d, m) = manager(json!({"ev": {
        "command": server_everything(),
        "env": {"PADDOCK_GIVEN": "given-value"},
    }}))
    .await;
    m.tools_for(&["ev".into()]).await;
    let (_, text) = call(&m, "ev__get-env", json!({})).await;
    assert!(text.contains("given-value"), "{text}");
    assert!(text.contains("PATH"), "{text}");
    // cargo sets CARGO_MANIFEST_DIR for this test process.
    assert!(std::env::var("CARGO_MANIFEST_DIR").is_ok());
    assert!(
        !text.contains("CARGO_MANIFEST_DIR"),
        "host environment leaked: {text}"
    );
    m.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_time_server_over_stdio() {
    let (_d, m) = manager(json!({"time": {"command": mcp_server_time()}})).await;
    let tools = m.tools_for(&["time".into()]).await;
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();
    assert!(names.contains(&"time__get_current_time"), "{names:?}");
    assert!(names.contains(&"time__convert_time"), "{names:?}");
    let (err, text) = call(&m, "time__get_current_time", json!({"timezone": "UTC"})).await;
    assert!(!err, "{text}");
    assert!(text.contains("UTC"), "{text}");
    let (err, text) = call(
        &m,
        "time__convert_time",
        json!({"source_timezone": "UTC", "time": "12:00", "target_timezone": "Asia/Tokyo"}),
    )
    .await;
    assert!(!err, "{text}");
    assert!(text.contains("21:00"), "{text}");
    // A bad time zone is the server's error, reported as such.
    let out = m
        .call(
            "time__get_current_time",
            json!({"timezone": "Not/AZone"}),
            &CancellationToken::new(),
        )
        .await;
    match out {
        Ok(o) => assert!(o.is_error, "{}", o.text),
        Err(e) => assert!(e.to_string().contains("MCP server `time`"), "{e}"),
    }
    m.shutdown().await;
}
