//! The host's end of persistent sandboxes (`[sandbox] mode =
//! "persistent"`, the default): finding the statically linked
//! `paddock-sandboxd` that runs inside each sandbox, the run directory its
//! socket lives in, and running one command through it.
//!
//! One connection is one command ([`paddock_sandboxd::proto`]): the request,
//! stdin, then output streamed into capped [`Capture`]s (and the sink) until
//! the exit. The timeout and the caps stay on the host; at the deadline, on
//! the sandbox's destruction or when the future is dropped the command is
//! killed (a `Kill` frame, or the connection closing), and the server kills
//! its whole session. A connection that ends before the exit means the
//! server died ([`RunError::Lost`]): the backend makes a new one for the
//! next command.

use crate::{Capture, ExecOutcome, ExecSpec, OutputSink, SandboxConfig, SandboxError, StreamKind};
use paddock_sandboxd::proto::{self, ErrorCode, ErrorReply, Exit, Kind, Request};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio_util::sync::CancellationToken;

pub use paddock_sandboxd::proto::{
    EGRESS_IN_SANDBOX, EGRESS_PORT, READY_LINE, RUN_DIR_IN_SANDBOX, SOCKET_IN_SANDBOX,
};

/// The server's file name, next to the `paddock` executable.
pub const SANDBOXD: &str = "paddock-sandboxd";
/// Where the server binary is mounted inside a sandbox (read-only).
pub const SANDBOXD_IN_SANDBOX: &str = "/run/paddock-bin/sandboxd";
/// How long a new server has to say it is ready.
pub const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a killed command has to report its exit.
const KILL_GRACE: Duration = Duration::from_secs(10);

/// Finds `paddock-sandboxd`: `[sandbox] sandboxd_path`, else next to the
/// running executable, else one directory up (a test binary in
/// `target/debug/deps` finds `target/debug/paddock-sandboxd`).
pub fn find_sandboxd(config: &SandboxConfig) -> Result<PathBuf, SandboxError> {
    if let Some(path) = &config.sandboxd_path {
        return if path.is_file() {
            Ok(path.clone())
        } else {
            Err(SandboxError::Unavailable(format!(
                "[sandbox] sandboxd_path = {} is not a file; build the command server with \
                 `make sandboxd` or point sandboxd_path at it",
                path.display()
            )))
        };
    }
    let exe = std::env::current_exe().ok();
    let dirs: Vec<PathBuf> = exe
        .iter()
        .flat_map(|e| e.ancestors().skip(1).take(2))
        .map(Path::to_path_buf)
        .collect();
    dirs.iter()
        .map(|d| d.join(SANDBOXD))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            SandboxError::Unavailable(format!(
                "the sandbox command server `{SANDBOXD}` was not found (looked in {}); build it \
                 with `make sandboxd` (a statically linked binary next to `paddock`), set \
                 [sandbox] sandboxd_path, or set [sandbox] mode = \"per-command\"",
                dirs.iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
}

/// The host directory of one sandbox's sockets, mounted at
/// [`RUN_DIR_IN_SANDBOX`]: `<tmp>/paddock-<uid>/<host_id>-<sandbox>-<random>`.
/// The parent is private to this user; the directory itself is writable by
/// anyone (the sandbox's user may be another uid, e.g. under a rootless
/// engine), which the parent keeps to us. Removed when dropped.
#[derive(Debug)]
pub struct RunDir {
    dir: tempfile::TempDir,
}

/// The parent of every run directory of this user.
fn run_root() -> PathBuf {
    // SAFETY: getuid cannot fail.
    let uid = unsafe { libc::getuid() };
    std::env::temp_dir().join(format!("paddock-{uid}"))
}

/// The name prefix of this host's run directories.
fn run_prefix(host_id: &str) -> String {
    let clean: String = host_id
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(16)
        .collect();
    format!("{clean}-")
}

impl RunDir {
    /// Makes one.
    pub fn create(host_id: &str, sandbox: &str) -> Result<RunDir, SandboxError> {
        use std::os::unix::fs::PermissionsExt;
        let failed = |e: std::io::Error| {
            SandboxError::Failed(format!("cannot make the sandbox's run directory: {e}"))
        };
        let root = run_root();
        std::fs::create_dir_all(&root).map_err(failed)?;
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o700)).map_err(failed)?;
        let name: String = sandbox
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(12)
            .collect();
        let dir = tempfile::Builder::new()
            .prefix(&format!("{}{name}-", run_prefix(host_id)))
            .tempdir_in(&root)
            .map_err(failed)?;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777))
            .map_err(failed)?;
        Ok(RunDir { dir })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The server's socket, on the host.
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("cmd.sock")
    }

    /// Removes the run directories a killed host process of `host_id` left.
    pub fn reap_orphans(host_id: &str) -> usize {
        let prefix = run_prefix(host_id);
        let Ok(entries) = std::fs::read_dir(run_root()) else {
            return 0;
        };
        entries
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
            .filter(|e| std::fs::remove_dir_all(e.path()).is_ok())
            .count()
    }
}

/// The descriptor a bubblewrap jail's server gets its listening socket on.
pub const LISTEN_FD: i32 = 3;

/// How a server gets its socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listen {
    /// It makes [`SOCKET_IN_SANDBOX`] (Docker: the run directory is
    /// mounted).
    Socket,
    /// The host made the socket and passes it as [`LISTEN_FD`]
    /// (bubblewrap: nothing of it is in the sandbox's file system).
    Fd,
}

/// The arguments of `paddock-sandboxd` for a sandbox with these limits.
pub fn server_args(listen: Listen, limits: &crate::SandboxLimits, egress: bool) -> Vec<String> {
    let mut a = match listen {
        Listen::Socket => vec!["--socket".to_string(), SOCKET_IN_SANDBOX.to_string()],
        Listen::Fd => vec!["--listen-fd".to_string(), LISTEN_FD.to_string()],
    };
    let mb = |m: u64| m.saturating_mul(1024 * 1024).to_string();
    for (flag, value) in [
        (
            "--nproc",
            (limits.pids > 0).then(|| limits.pids.to_string()),
        ),
        (
            "--rlimit-as",
            (limits.memory_mb > 0).then(|| mb(limits.memory_mb)),
        ),
        (
            "--rlimit-fsize",
            (limits.file_size_mb > 0).then(|| mb(limits.file_size_mb)),
        ),
        (
            "--rlimit-cpu",
            (limits.cpu_time_secs > 0).then(|| limits.cpu_time_secs.to_string()),
        ),
    ] {
        if let Some(v) = value {
            a.push(flag.into());
            a.push(v);
        }
    }
    if egress {
        a.push("--egress".into());
        a.push(EGRESS_IN_SANDBOX.into());
    }
    a
}

/// Why a command through the server did not give an outcome.
#[derive(Debug)]
pub enum RunError {
    /// The server is not there (cannot connect, or it closed the
    /// connection before the command started): start one and try again.
    NotRunning(String),
    /// The connection ended after the command started and before its
    /// exit: the server died mid-command.
    Lost(String),
    /// The command was refused (e.g. no such working directory).
    Sandbox(SandboxError),
}

/// Who must be listening on a socket (checked with `SO_PEERCRED`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peer {
    /// A child of this host pid (a container's init).
    ChildOf(u32),
}

impl Peer {
    /// Checks the peer of a connected socket.
    fn check(self, conn: &UnixStream) -> Result<(), String> {
        let cred = conn
            .peer_cred()
            .map_err(|e| format!("cannot read the command socket's peer: {e}"))?;
        let Peer::ChildOf(parent) = self;
        let pid = cred.pid().unwrap_or(0);
        let ppid = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|stat| {
                stat.rsplit_once(')')?
                    .1
                    .split_whitespace()
                    .nth(1)?
                    .parse::<u32>()
                    .ok()
            });
        if pid > 0 && ppid == Some(parent) {
            Ok(())
        } else {
            Err(format!(
                "the sandbox's command socket is not served by its command server (pid {pid}, \
                 parent {ppid:?}, expected a child of {parent}): a command may have replaced it"
            ))
        }
    }
}

/// How the command ended on the host's side.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ending {
    Exited,
    TimedOut,
    Cancelled,
}

/// Runs one command through the server listening on `socket`.
pub async fn run(
    socket: &Path,
    peer: Option<Peer>,
    cmd: &ExecSpec,
    sink: Option<OutputSink>,
    cancel: &CancellationToken,
) -> Result<ExecOutcome, RunError> {
    let started = Instant::now();
    let mut conn = UnixStream::connect(socket).await.map_err(|e| {
        RunError::NotRunning(format!(
            "cannot reach the sandbox's command server at {}: {e}",
            socket.display()
        ))
    })?;
    if let Some(peer) = peer {
        peer.check(&conn).map_err(RunError::Lost)?;
    }
    let req = Request {
        argv: cmd.argv.clone(),
        cwd: cmd.cwd.clone(),
        env: cmd.env.clone(),
        background: cmd.background,
        stdin: cmd.stdin.is_some(),
    };
    let mut out = proto::encode_frame(Kind::Run, &req.encode());
    if let Some(stdin) = &cmd.stdin {
        for chunk in stdin.as_bytes().chunks(proto::MAX_FRAME) {
            out.extend(proto::encode_frame(Kind::Stdin, chunk));
        }
        out.extend(proto::encode_frame(Kind::StdinEof, &[]));
    }
    // The server reads its socket whatever the command does, so this cannot
    // block on a command that does not read its stdin.
    conn.write_all(&out).await.map_err(|e| {
        RunError::NotRunning(format!("the sandbox's command server went away: {e}"))
    })?;

    let mut stdout = Capture::new(StreamKind::Stdout, cmd.max_output_bytes, sink.clone());
    let mut stderr = Capture::new(StreamKind::Stderr, cmd.max_output_bytes, sink);
    let deadline = tokio::time::Instant::now() + cmd.timeout;
    let mut ending = Ending::Exited;
    let mut give_up: Option<tokio::time::Instant> = None;
    let mut inbox: Vec<u8> = Vec::with_capacity(64 * 1024);
    let mut buf = vec![0u8; 64 * 1024];
    // Until the server says the command started, a closed connection means
    // it never ran (e.g. the server died between our connect and its
    // accept): the backend may start a new server and run it there.
    let mut began = false;
    let exit: Exit = 'read: loop {
        while let Some((kind, payload)) = proto::take_frame(&mut inbox).map_err(|e| {
            RunError::Lost(format!("the sandbox's command server sent garbage: {e}"))
        })? {
            match kind {
                Kind::Stdout => stdout.push(&payload),
                Kind::Stderr => stderr.push(&payload),
                Kind::Started => began = true,
                Kind::Exit => {
                    break 'read Exit::decode(&payload).map_err(|e| {
                        RunError::Lost(format!("the sandbox's command server sent garbage: {e}"))
                    })?;
                }
                Kind::Error => {
                    let e = ErrorReply::decode(&payload).map_err(|e| {
                        RunError::Lost(format!("the sandbox's command server sent garbage: {e}"))
                    })?;
                    return Err(RunError::Sandbox(match e.code {
                        ErrorCode::NoCwd | ErrorCode::BadRequest => {
                            SandboxError::Invalid(e.message)
                        }
                        ErrorCode::Failed => SandboxError::Failed(e.message),
                    }));
                }
                other => {
                    return Err(RunError::Lost(format!(
                        "the sandbox's command server sent an unexpected {other:?} frame"
                    )));
                }
            }
        }
        let kill = tokio::select! {
            read = conn.read(&mut buf) => match read {
                Ok(0) | Err(_) if !began => {
                    return Err(RunError::NotRunning(
                        "the sandbox's command server closed the connection before the command \
                         started"
                            .into(),
                    ));
                }
                Ok(0) | Err(_) => {
                    let note = match ending {
                        Ending::Exited => String::new(),
                        _ => " (after it was killed)".into(),
                    };
                    return Err(RunError::Lost(format!(
                        "the sandbox's command server stopped while the command ran{note}"
                    )));
                }
                Ok(n) => {
                    inbox.extend_from_slice(&buf[..n]);
                    None
                }
            },
            () = tokio::time::sleep_until(deadline), if give_up.is_none() => Some(Ending::TimedOut),
            () = cancel.cancelled(), if give_up.is_none() => Some(Ending::Cancelled),
            () = crate::process::sleep_until_opt(give_up) => {
                return Err(RunError::Lost(
                    "the sandbox's command server did not end a killed command".into(),
                ));
            }
        };
        if let Some(why) = kill {
            ending = why;
            give_up = Some(tokio::time::Instant::now() + KILL_GRACE);
            let _ = conn.write_all(&proto::encode_frame(Kind::Kill, &[])).await;
        }
    };
    tracing::debug!(
        user_usec = exit.user_usec,
        system_usec = exit.system_usec,
        max_rss_kib = exit.max_rss_kib,
        "command resources"
    );
    let mut stderr_text = stderr.text();
    let note = match ending {
        Ending::TimedOut => Some(format!(
            "[timed out after {}: killed with everything it started]",
            human_duration(cmd.timeout)
        )),
        Ending::Cancelled => Some("[killed: the sandbox was destroyed]".to_string()),
        Ending::Exited => exit.signal.map(|sig| {
            format!(
                "[exit status {}: killed by signal {sig}{}]",
                128 + sig,
                crate::process::signal_name(sig)
            )
        }),
    };
    crate::process::append_note(&mut stderr_text, note);
    Ok(ExecOutcome {
        // A command killed by a signal shows as a shell shows it: 128 + N.
        exit_code: if ending == Ending::Exited {
            exit.code.or(exit.signal.map(|sig| 128 + sig))
        } else {
            None
        },
        truncated: stdout.truncated() || stderr.truncated(),
        stdout: stdout.text(),
        stderr: stderr_text,
        timed_out: ending == Ending::TimedOut,
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    })
}

/// `5s`, `1.5s`, `2m`…
fn human_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(60_000) && ms > 0 {
        format!("{}m", ms / 60_000)
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

/// Reads the server's first line from its stdout: ready, or why not (its
/// stderr, read by the caller).
pub async fn wait_ready(stdout: &mut (impl tokio::io::AsyncRead + Unpin)) -> Result<(), String> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    let read = async {
        loop {
            match stdout.read(&mut byte).await {
                Ok(0) | Err(_) => return false,
                Ok(_) if byte[0] == b'\n' => return line == READY_LINE.as_bytes(),
                Ok(_) if line.len() < 256 => line.push(byte[0]),
                Ok(_) => return false,
            }
        }
    };
    match tokio::time::timeout(START_TIMEOUT, read).await {
        Ok(true) => Ok(()),
        Ok(false) => Err("it exited before it was ready".into()),
        Err(_) => Err(format!(
            "it did not say it was ready within {} s",
            START_TIMEOUT.as_secs()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_arguments_carry_the_limits() {
        let limits = crate::SandboxLimits {
            pids: 64,
            memory_mb: 1,
            file_size_mb: 0,
            cpu_time_secs: 5,
            ..crate::SandboxLimits::default()
        };
        let a = server_args(Listen::Fd, &limits, true);
        assert_eq!(
            a,
            [
                "--listen-fd",
                "3",
                "--nproc",
                "64",
                "--rlimit-as",
                "1048576",
                "--rlimit-cpu",
                "5",
                "--egress",
                EGRESS_IN_SANDBOX
            ]
        );
        assert!(
            !server_args(Listen::Socket, &limits, false)
                .iter()
                .any(|x| x == "--egress")
        );
    }

    #[test]
    fn run_dirs_are_private_and_reaped() {
        use std::os::unix::fs::PermissionsExt;
        let host = format!("t{}", std::process::id());
        let d = RunDir::create(&host, "agent/1").unwrap();
        let root_mode = std::fs::metadata(run_root()).unwrap().permissions().mode();
        assert_eq!(root_mode & 0o777, 0o700);
        assert!(d.socket().starts_with(d.path()));
        assert!(
            d.path().to_string_lossy().len() < 90,
            "{}",
            d.path().display()
        );
        let path = d.path().to_path_buf();
        std::mem::forget(d);
        assert!(path.is_dir());
        assert_eq!(RunDir::reap_orphans(&host), 1);
        assert!(!path.exists());
    }

    #[test]
    fn a_missing_server_says_how_to_build_it() {
        let config = SandboxConfig {
            sandboxd_path: Some("/nonexistent/paddock-sandboxd".into()),
            ..SandboxConfig::default()
        };
        let e = find_sandboxd(&config).unwrap_err().to_string();
        assert!(e.contains("make sandboxd"), "{e}");
    }
}
