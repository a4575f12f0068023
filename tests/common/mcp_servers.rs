//! The MCP servers the MCP tests run against: the real ones installed by
//! `scripts/mcp-servers.sh` into `tests/mcp-servers/` (server-everything
//! from npm, mcp-server-time from PyPI), the fault
//! fixture `tests/fixtures/mcp/fault_server.py`, and [`Everything`], a
//! server-everything started over HTTP (streamable HTTP or legacy SSE) on a
//! free loopback port and killed on drop.

use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a started server may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// `tests/mcp-servers/`, where the real servers are installed.
pub fn mcp_servers_dir() -> PathBuf {
    super::repo_root().join("tests").join("mcp-servers")
}

/// An installed server's executable, or a panic that says how to install it.
fn installed(relative: &str) -> PathBuf {
    let path = mcp_servers_dir().join(relative);
    if !path.is_file() {
        panic!(
            "{} is missing: the MCP tests need the test MCP servers; install them with \
             `scripts/mcp-servers.sh` (which `make test` runs through scripts/setup-test.sh)",
            path.display()
        );
    }
    path
}

/// `mcp-server-everything` (npm `@modelcontextprotocol/server-everything`):
/// run it with `stdio`, `sse` or `streamableHttp` (port from `$PORT`).
pub fn server_everything() -> PathBuf {
    installed("node_modules/.bin/mcp-server-everything")
}

/// `mcp-server-time` (PyPI), a stdio server with `get_current_time` and
/// `convert_time`.
pub fn mcp_server_time() -> PathBuf {
    installed(".venv/bin/mcp-server-time")
}

/// `tests/fixtures/mcp/fault_server.py`; run it as `python3 PATH MODE`
/// (modes `ok`, `exit-at-start`, `hang-at-start`, `garbage`).
pub fn fault_server() -> PathBuf {
    let path = super::repo_root().join("tests/fixtures/mcp/fault_server.py");
    assert!(path.is_file(), "{} is missing", path.display());
    path
}

/// The HTTP transports server-everything serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HttpMode {
    /// Streamable HTTP, at `/mcp`.
    StreamableHttp,
    /// Legacy HTTP+SSE (2024-11-05): the event stream at `/sse`, POSTs to
    /// `/message?sessionId=…`.
    Sse,
}

impl HttpMode {
    fn arg(self) -> &'static str {
        match self {
            HttpMode::StreamableHttp => "streamableHttp",
            HttpMode::Sse => "sse",
        }
    }

    fn path(self) -> &'static str {
        match self {
            HttpMode::StreamableHttp => "/mcp",
            HttpMode::Sse => "/sse",
        }
    }
}

/// A server-everything listening on a free loopback port over HTTP,
/// killed on drop. Its stderr is collected (see [`Everything::stderr`]).
pub struct Everything {
    child: Child,
    port: u16,
    mode: HttpMode,
    stderr: Arc<Mutex<String>>,
}

impl Everything {
    /// Starts server-everything in `mode` and waits (at most 30 s) until
    /// it accepts connections.
    pub fn start(mode: HttpMode) -> Everything {
        Everything::start_with_env(mode, &[])
    }

    /// Like [`Everything::start`], with more environment variables.
    ///
    /// It picks its port from `$PORT` only, so a free port is chosen here;
    /// should another process take it first, another one is tried.
    pub fn start_with_env(mode: HttpMode, env: &[(&str, &str)]) -> Everything {
        let bin = server_everything();
        let mut last_failure = String::new();
        for _attempt in 0..5 {
            let port = free_port();
            let mut cmd = Command::new(&bin);
            cmd.arg(mode.arg())
                .env("PORT", port.to_string())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped());
            for (k, v) in env {
                cmd.env(k, v);
            }
            let mut child = cmd
                .spawn()
                .unwrap_or_else(|e| panic!("start {} {}: {e}", bin.display(), mode.arg()));
            let stderr = Arc::new(Mutex::new(String::new()));
            if let Some(mut pipe) = child.stderr.take() {
                let sink = Arc::clone(&stderr);
                std::thread::spawn(move || {
                    let mut buf = [0u8; 4096];
                    while let Ok(n) = pipe.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                        sink.lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push_str(&text);
                    }
                });
            }
            let mut server = Everything {
                child,
                port,
                mode,
                stderr,
            };
            match server.wait_listening() {
                Ok(()) => return server,
                Err(failure) => last_failure = failure,
            }
            // Dropping `server` kills it; a port taken meanwhile is retried.
            if !last_failure.contains("in use") {
                break;
            }
        }
        panic!(
            "server-everything ({}) did not start: {last_failure}",
            mode.arg()
        );
    }

    /// Waits until the port accepts connections; the failure otherwise.
    fn wait_listening(&mut self) -> Result<(), String> {
        let started = Instant::now();
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        loop {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                // Let the stderr reader catch up.
                std::thread::sleep(Duration::from_millis(100));
                return Err(format!("it exited ({status}); stderr:\n{}", self.stderr()));
            }
            if started.elapsed() > START_TIMEOUT {
                return Err(format!(
                    "port {} not accepting connections after {START_TIMEOUT:?}; stderr:\n{}",
                    self.port,
                    self.stderr()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The MCP URL: `…/mcp` (streamable HTTP) or `…/sse` (legacy SSE).
    pub fn url(&self) -> String {
        format!("{}{}", self.base(), self.mode.path())
    }

    /// What it printed on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Kills it (SIGKILL) and waits for it; its connections break.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Everything {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("bind a free loopback port")
        .port()
}
