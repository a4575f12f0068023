//! One connection to one MCP server: starting it (a child process, streamable
//! HTTP or legacy SSE), initialising, listing its tools, calling them with a
//! timeout and cancellation, and turning their results into tool results.

use super::config::Transport;
use super::sse::SseTransport;
use rmcp::model::{CallToolRequestParams, ClientCapabilities, ClientConfig, Implementation};
use rmcp::service::{ClientLifecycleMode, ClientServiceExt};
use rmcp::service::{NotificationContext, RunningService};
use rmcp::{ClientHandler, RoleClient};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncBufReadExt;
use tokio_util::sync::CancellationToken;

/// Variables of the host's environment a stdio server inherits; everything
/// else it gets only from its `env` entry (the host's secrets stay home).
pub const INHERITED_ENV: &[&str] = &[
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR",
    "TERM",
];

/// Lines of a server's stderr kept to explain a failure.
const STDERR_TAIL_LINES: usize = 12;
/// Longest stderr line logged.
const STDERR_LINE_MAX: usize = 2048;

/// Why a connection or call failed.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum ClientError {
    /// The program could not be started.
    #[error("cannot start `{command}`: {reason}")]
    Spawn {
        /// The program.
        command: String,
        /// Why.
        reason: String,
    },
    /// Connecting or initialising failed.
    #[error("{0}")]
    Connect(String),
    /// Start-up took too long.
    #[error("did not finish starting within {0:?}{1}")]
    StartTimeout(Duration, String),
    /// A request failed.
    #[error("{0}")]
    Request(String),
    /// A call took longer than the server's tool timeout.
    #[error("timed out after {0:?} (the server was told to cancel the call)")]
    CallTimeout(Duration),
    /// The agent was interrupted; the server was told to cancel.
    #[error("cancelled (the server was told to cancel the call)")]
    Cancelled,
    /// The connection is gone.
    #[error("the connection to the server closed{0}")]
    Closed(String),
}

/// What a server tells us between calls.
#[derive(Clone, Debug, PartialEq)]
pub enum Notice {
    /// `notifications/tools/list_changed`.
    ToolsChanged,
}

/// The client side of the protocol: our name, and where notifications go.
pub struct Handler {
    server: String,
    notices: tokio::sync::mpsc::UnboundedSender<Notice>,
}

impl Handler {
    /// A handler for `server` sending its notices to `notices`.
    pub fn new(server: &str, notices: tokio::sync::mpsc::UnboundedSender<Notice>) -> Handler {
        Handler {
            server: server.to_string(),
            notices,
        }
    }
}

impl ClientHandler for Handler {
    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("paddock", env!("CARGO_PKG_VERSION")),
        )
    }

    fn on_tool_list_changed(
        &self,
        _context: NotificationContext<RoleClient>,
    ) -> impl Future<Output = ()> + Send + '_ {
        tracing::info!(server = %self.server, "MCP server's tool list changed");
        // The supervisor may be gone (server being removed): nothing to do.
        let _ = self.notices.send(Notice::ToolsChanged);
        std::future::ready(())
    }
}

/// A running connection.
pub type Service = RunningService<RoleClient, Handler>;

/// The last lines a child wrote to stderr.
#[derive(Clone, Default)]
pub struct StderrTail(Arc<Mutex<VecDeque<String>>>);

impl StderrTail {
    fn push(&self, line: String) {
        if let Ok(mut q) = self.0.lock() {
            if q.len() == STDERR_TAIL_LINES {
                q.pop_front();
            }
            q.push_back(line);
        }
    }

    /// `"; its stderr ended with: …"`, or nothing when it wrote none.
    pub fn explain(&self) -> String {
        let lines: Vec<String> = self
            .0
            .lock()
            .map(|q| q.iter().cloned().collect())
            .unwrap_or_default();
        if lines.is_empty() {
            String::new()
        } else {
            format!("; its stderr ended with: {}", lines.join(" | "))
        }
    }
}

/// A started connection.
pub struct Connected {
    /// The service (drop or cancel it to disconnect; a child is killed).
    pub service: Service,
    /// The child's stderr tail (stdio servers).
    pub stderr: StderrTail,
}

fn stdio_command(
    command: &str,
    args: &[String],
    env: &std::collections::BTreeMap<String, String>,
    cwd: Option<&std::path::Path>,
) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(command);
    cmd.args(args).env_clear();
    for name in INHERITED_ENV {
        if let Some(v) = std::env::var_os(name) {
            cmd.env(name, v);
        }
    }
    cmd.envs(env);
    if let Some(dir) = cwd {
        cmd.current_dir(dir);
    }
    cmd
}

/// Starts and initialises a connection, within `timeout`. The handshake
/// is `initialize`, which every server speaks (rmcp's default first probes
/// `server/discover`, and a server that ignores it costs a 10 s wait).
pub async fn connect(
    server: &str,
    transport: &Transport,
    handler: Handler,
    timeout: Duration,
) -> Result<Connected, ClientError> {
    let stderr = StderrTail::default();
    let started = tokio::time::timeout(timeout, async {
        match transport {
            Transport::Stdio {
                command,
                args,
                env,
                cwd,
            } => {
                if let Some(dir) = cwd
                    && !dir.is_dir()
                {
                    return Err(ClientError::Spawn {
                        command: command.clone(),
                        reason: format!("its cwd `{}` is not a directory", dir.display()),
                    });
                }
                let mut wrap = process_wrap::tokio::CommandWrap::from(stdio_command(
                    command,
                    args,
                    env,
                    cwd.as_deref(),
                ));
                // Its own process group, so `npx`/`uvx` wrappers and their
                // children die with it.
                wrap.wrap(process_wrap::tokio::ProcessGroup::leader());
                wrap.wrap(process_wrap::tokio::KillOnDrop);
                let (child, err) = rmcp::transport::TokioChildProcess::builder(wrap)
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .map_err(|e| ClientError::Spawn {
                        command: command.clone(),
                        reason: if e.kind() == std::io::ErrorKind::NotFound {
                            "command not found (is it installed and on PATH?)".to_string()
                        } else {
                            e.to_string()
                        },
                    })?;
                if let Some(err) = err {
                    let tail = stderr.clone();
                    let server = server.to_string();
                    tokio::spawn(async move {
                        let mut lines = tokio::io::BufReader::new(err).lines();
                        while let Ok(Some(mut line)) = lines.next_line().await {
                            if line.len() > STDERR_LINE_MAX {
                                let mut cut = STDERR_LINE_MAX;
                                while !line.is_char_boundary(cut) {
                                    cut -= 1;
                                }
                                line.truncate(cut);
                            }
                            tracing::info!(target: "paddock::mcp::stderr", server = %server, "{line}");
                            tail.push(line);
                        }
                    });
                }
                handler
                    .serve_with_lifecycle(child, ClientLifecycleMode::Initialize)
                    .await
                    .map_err(|e| ClientError::Connect(init_error(&e.to_string())))
            }
            Transport::StreamableHttp { url, headers } => {
                let mut custom = std::collections::HashMap::new();
                for (k, v) in headers {
                    if let (Ok(k), Ok(v)) = (
                        http::HeaderName::from_bytes(k.as_bytes()),
                        http::HeaderValue::from_str(v),
                    ) {
                        custom.insert(k, v);
                    }
                }
                let config = rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig::with_uri(url.as_str())
                    .custom_headers(custom);
                let t = rmcp::transport::StreamableHttpClientTransport::from_config(config);
                handler
                    .serve_with_lifecycle(t, ClientLifecycleMode::Initialize)
                    .await
                    .map_err(|e| ClientError::Connect(init_error(&e.to_string())))
            }
            Transport::Sse { url, headers } => {
                let t = SseTransport::connect(url, headers, timeout)
                    .await
                    .map_err(|e| ClientError::Connect(e.to_string()))?;
                handler
                    .serve_with_lifecycle(t, ClientLifecycleMode::Initialize)
                    .await
                    .map_err(|e| ClientError::Connect(init_error(&e.to_string())))
            }
        }
    })
    .await;
    match started {
        Ok(Ok(service)) => Ok(Connected { service, stderr }),
        Ok(Err(ClientError::Connect(m))) => {
            // A child that died during start-up explains itself on stderr;
            // give its reader a moment to catch the last lines.
            tokio::time::sleep(Duration::from_millis(50)).await;
            Err(ClientError::Connect(format!("{m}{}", stderr.explain())))
        }
        Ok(Err(e)) => Err(e),
        Err(_) => Err(ClientError::StartTimeout(timeout, stderr.explain())),
    }
}

/// rmcp's initialisation errors, in words a user can act on.
fn init_error(raw: &str) -> String {
    if raw.contains("connection closed") {
        format!("the server closed the connection during initialisation ({raw})")
    } else {
        format!("initialisation failed: {raw}")
    }
}

/// Calls `tool` with `arguments` (a JSON object); the result as the MCP
/// `CallToolResult` JSON. On timeout or cancellation the request is dropped,
/// which sends `notifications/cancelled` to the server.
pub async fn call_tool(
    peer: &rmcp::Peer<RoleClient>,
    tool: &str,
    arguments: serde_json::Map<String, serde_json::Value>,
    timeout: Duration,
    cancel: &CancellationToken,
) -> Result<serde_json::Value, ClientError> {
    let params = CallToolRequestParams::new(tool.to_string()).with_arguments(arguments);
    let call = tokio::time::timeout(timeout, peer.call_tool_once(params));
    let response = tokio::select! {
        r = call => match r {
            Ok(r) => r.map_err(service_error)?,
            Err(_) => return Err(ClientError::CallTimeout(timeout)),
        },
        () = cancel.cancelled() => return Err(ClientError::Cancelled),
    };
    match response {
        rmcp::model::CallToolResponse::Complete(result) => serde_json::to_value(result)
            .map_err(|e| ClientError::Request(format!("unreadable result: {e}"))),
        other => Err(ClientError::Request(format!(
            "the server answered with an interaction Paddock does not support yet ({})",
            response_kind(&other)
        ))),
    }
}

fn response_kind(r: &rmcp::model::CallToolResponse) -> &'static str {
    match r {
        rmcp::model::CallToolResponse::Complete(_) => "result",
        rmcp::model::CallToolResponse::InputRequired(_) => "input required",
        _ => "a task",
    }
}

/// An rmcp error in words.
pub fn service_error(e: rmcp::ServiceError) -> ClientError {
    match e {
        rmcp::ServiceError::McpError(data) => ClientError::Request(format!(
            "the server returned error {}: {}",
            data.code.0, data.message
        )),
        rmcp::ServiceError::TransportClosed => ClientError::Closed(String::new()),
        rmcp::ServiceError::Timeout { timeout } => ClientError::CallTimeout(timeout),
        other => ClientError::Request(other.to_string()),
    }
}

/// A tool result for the model from a `CallToolResult`: the text of every
/// content block in order (images and audio described, not inlined; resource
/// links and embedded resources by URI), the structured content when there
/// is no text, and whether the server flagged it as an error.
pub fn result_text(result: &serde_json::Value) -> (bool, String) {
    let is_error = result
        .get("isError")
        .and_then(serde_json::Value::as_bool)
        .unwrap_or(false);
    let mut parts: Vec<String> = Vec::new();
    let blocks = result
        .get("content")
        .and_then(serde_json::Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let s = |v: &serde_json::Value, k: &str| {
        v.get(k)
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    for b in blocks {
        match b.get("type").and_then(serde_json::Value::as_str) {
            Some("text") => parts.push(s(b, "text")),
            Some(kind @ ("image" | "audio")) => {
                let data = s(b, "data");
                // base64: 4 characters carry 3 bytes.
                let bytes = data.trim_end_matches('=').len() * 3 / 4;
                parts.push(format!(
                    "[{kind}: {}, {bytes} bytes, not shown to the model]",
                    s(b, "mimeType")
                ));
            }
            Some("resource_link") => {
                let mut line = format!("[resource link: {}", s(b, "uri"));
                for (k, label) in [("name", "name"), ("mimeType", "type")] {
                    let v = s(b, k);
                    if !v.is_empty() {
                        line.push_str(&format!(", {label}: {v}"));
                    }
                }
                let d = s(b, "description");
                if !d.is_empty() {
                    line.push_str(&format!(" — {d}"));
                }
                line.push(']');
                parts.push(line);
            }
            Some("resource") => {
                let r = b.get("resource").cloned().unwrap_or_default();
                let uri = s(&r, "uri");
                match r.get("text").and_then(serde_json::Value::as_str) {
                    Some(text) => parts.push(format!("[resource {uri}]\n{text}")),
                    None => {
                        let bytes = s(&r, "blob").trim_end_matches('=').len() * 3 / 4;
                        parts.push(format!(
                            "[resource {uri}: {}, {bytes} bytes, not shown to the model]",
                            s(&r, "mimeType")
                        ));
                    }
                }
            }
            _ => parts.push(b.to_string()),
        }
    }
    if parts.is_empty()
        && let Some(sc) = result.get("structuredContent")
    {
        parts.push(sc.to_string());
    }
    (is_error, parts.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn results_become_text_faithfully() {
        let (err, text) = result_text(&json!({
            "content": [
                {"type": "text", "text": "hello"},
                {"type": "image", "data": "aGVsbG8h", "mimeType": "image/png"},
                {"type": "resource_link", "uri": "file:///a.txt", "name": "a", "mimeType": "text/plain", "description": "the file"},
                {"type": "resource", "resource": {"uri": "mem://x", "text": "inner"}},
                {"type": "resource", "resource": {"uri": "mem://b", "blob": "AAAA", "mimeType": "application/octet-stream"}},
                {"type": "audio", "data": "AAAAAA==", "mimeType": "audio/wav"}
            ]
        }));
        assert!(!err);
        assert_eq!(
            text,
            "hello\n[image: image/png, 6 bytes, not shown to the model]\n\
             [resource link: file:///a.txt, name: a, type: text/plain — the file]\n\
             [resource mem://x]\ninner\n\
             [resource mem://b: application/octet-stream, 3 bytes, not shown to the model]\n\
             [audio: audio/wav, 4 bytes, not shown to the model]"
        );
    }

    #[test]
    fn errors_and_structured_content() {
        let (err, text) =
            result_text(&json!({"content": [{"type": "text", "text": "boom"}], "isError": true}));
        assert!(err);
        assert_eq!(text, "boom");
        let (err, text) = result_text(&json!({"content": [], "structuredContent": {"sum": 3}}));
        assert!(!err);
        assert_eq!(text, r#"{"sum":3}"#);
    }

    #[test]
    fn stderr_tail_keeps_the_last_lines() {
        let t = StderrTail::default();
        assert_eq!(t.explain(), "");
        for i in 0..20 {
            t.push(format!("l{i}"));
        }
        let e = t.explain();
        assert!(e.starts_with("; its stderr ended with: l8 | "), "{e}");
        assert!(e.ends_with("l19"));
    }
}
