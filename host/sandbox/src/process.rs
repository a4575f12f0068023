//! Runs one child process the way every backend that forks needs it: in its
//! own session (so its whole process group can be killed), with rlimits, a
//! cgroup and (for a sandbox with a network of its own) namespaces joined
//! between fork and exec, stdin written, stdout and stderr
//! read concurrently into capped [`Capture`]s (streamed to the sink), and
//! the whole tree killed at the timeout, on cancellation and when the
//! future is dropped.
//!
//! When the main process exits, whatever it left in its process group is
//! killed, and output still buffered in the pipes is drained for a moment
//! ([`DRAIN`]): a background child that keeps a pipe open cannot make the
//! command hang.

use super::cgroup::CommandCgroup;
use super::{Capture, ExecOutcome, ExecSpec, OutputSink, SandboxError, SandboxLimits, StreamKind};
use paddock_sandboxd::server::{RlimitResource, capped_rlimits};
use std::os::fd::RawFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

/// How long output is still read once the main process has exited.
pub const DRAIN: Duration = Duration::from_millis(500);
/// How long to wait for a killed process to be reaped before giving up
/// on its exit status.
const KILL_GRACE: Duration = Duration::from_secs(10);
/// How long a jail's monitor has to exit by itself once what it runs was
/// killed, before it is killed too.
const JAIL_GRACE: Duration = Duration::from_secs(3);

/// Per-process rlimits applied between fork and exec (inherited by
/// everything the child starts). `RLIMIT_CORE` is always 0.
///
/// There is no `RLIMIT_NPROC` here on purpose: set outside a user
/// namespace it caps *all* of the user's processes on the host (and a user
/// namespace made under it keeps it as the cap on that total), so a
/// non-root user with more processes than the limit could not even start
/// `bwrap`; for root the kernel ignores it. The bubblewrap backend sets it
/// inside the sandbox's user namespace, where it counts only the sandbox's
/// processes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rlimits {
    /// `RLIMIT_AS`, bytes.
    pub address_space: Option<u64>,
    /// `RLIMIT_FSIZE`, bytes.
    pub file_size: Option<u64>,
    /// `RLIMIT_CPU`, seconds (SIGXCPU there, SIGKILL a second later).
    pub cpu_secs: Option<u64>,
}

impl Rlimits {
    /// The rlimits for a sandbox's limits (a zero limit means none).
    pub fn for_limits(limits: &SandboxLimits) -> Rlimits {
        let some = |v: u64| (v > 0).then_some(v);
        Rlimits {
            address_space: some(limits.memory_mb).map(|m| m.saturating_mul(1024 * 1024)),
            file_size: some(limits.file_size_mb).map(|m| m.saturating_mul(1024 * 1024)),
            cpu_secs: some(limits.cpu_time_secs),
        }
    }
}

/// A user namespace and a network namespace (owned by it) that a child
/// joins before exec: a sandbox's own network ([`super::net`]). The file
/// descriptors must stay open until the child has been spawned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Join {
    /// An open `/proc/<pid>/ns/user`.
    pub user: RawFd,
    /// An open `/proc/<pid>/ns/net`.
    pub net: RawFd,
}

impl Join {
    /// Joins both namespaces; for a pre-exec hook (async-signal-safe: two
    /// `setns` calls). The user namespace comes first: joining a network
    /// namespace needs `CAP_SYS_ADMIN` in the namespace the caller is in,
    /// which an unprivileged caller has only in the user namespace it made.
    ///
    /// # Safety
    /// Only between fork and exec (joining a user namespace needs a
    /// single-threaded caller).
    pub unsafe fn enter(self) -> std::io::Result<()> {
        // SAFETY: setns only reads its arguments.
        unsafe {
            if libc::setns(self.user, libc::CLONE_NEWUSER) != 0
                || libc::setns(self.net, libc::CLONE_NEWNET) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(())
    }
}

/// How a command ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ending {
    Exited,
    TimedOut,
    Cancelled,
}

/// One command to run.
#[derive(Debug)]
pub struct Run {
    /// The program, arguments, environment and working directory (stdio
    /// and the pre-exec hook are set here).
    pub command: std::process::Command,
    /// Written to stdin, which is then closed; stdin is `/dev/null` if none.
    pub stdin: Option<String>,
    /// Wall-clock limit.
    pub timeout: Duration,
    /// Bytes kept of stdout and of stderr each.
    pub max_output_bytes: usize,
    /// Where output is streamed as it arrives.
    pub sink: Option<OutputSink>,
    /// Rlimits for the child and all it starts.
    pub rlimits: Option<Rlimits>,
    /// A cgroup the child joins before exec; killed and removed at the end.
    pub cgroup: Option<CommandCgroup>,
    /// Namespaces the child joins before exec (after the cgroup, which it
    /// joins with the host's view of it).
    pub join: Option<Join>,
    /// Cancelled when the sandbox is destroyed: the tree is killed.
    pub cancel: Option<CancellationToken>,
    /// The child is a jail's monitor (`bwrap --as-pid-1`): it is stopped by
    /// killing what it runs (its child, the jail's init, whose death ends
    /// the pid namespace and everything in it), after which it reaps that
    /// child and exits by itself. Killing the monitor first would orphan
    /// the init, and an orphan is left a zombie (still counted by the
    /// cgroup's `pids`) wherever pid 1 does not reap. The monitor, its
    /// process group and the cgroup are killed only if it has not exited a
    /// few seconds later.
    pub jailed: bool,
}

/// The child's process tree: its process group (it leads its own session)
/// and its cgroup. Killed on drop unless the leader has been reaped (after
/// that its id may be reused).
struct Tree {
    leader: libc::pid_t,
    reaped: bool,
    jailed: bool,
    cgroup: Option<CommandCgroup>,
}

impl Tree {
    /// Kills the tree: for a jail, what its monitor runs (the monitor then
    /// exits by itself); otherwise everything at once.
    fn stop(&self) {
        if self.reaped || self.leader <= 0 {
            return;
        }
        if !self.jailed {
            return self.kill_all();
        }
        let children = children_of(self.leader);
        for &pid in &children {
            // SAFETY: kill(2) has no memory-safety preconditions.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        if let Some(cg) = &self.cgroup {
            cg.kill_except(self.leader);
        }
        if children.is_empty() {
            // The jail is not up (or already gone): nothing to orphan.
            self.kill_all();
        }
    }

    /// SIGKILLs the process group (while the leader is not reaped) and
    /// everything in the cgroup.
    fn kill_all(&self) {
        if !self.reaped && self.leader > 0 {
            // SAFETY: kill(2) has no memory-safety preconditions.
            unsafe { libc::kill(-self.leader, libc::SIGKILL) };
        }
        if let Some(cg) = &self.cgroup {
            cg.kill();
        }
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        if self.reaped || !self.jailed {
            // The cgroup, dropped with us, kills what is left and goes.
            return self.kill_all();
        }
        self.stop();
        // Give the monitor a moment to reap the jail before the cgroup
        // (and the monitor with it) is killed and removed.
        if let Some(cg) = self.cgroup.take()
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            rt.spawn(async move {
                tokio::time::sleep(JAIL_GRACE).await;
                cg.remove().await;
            });
        }
    }
}

/// The children of a process: from `/proc/<pid>/task/<pid>/children`
/// where the kernel has it, else by scanning every process's parent.
pub fn children_of(pid: libc::pid_t) -> Vec<libc::pid_t> {
    let parse = |s: &str| -> Vec<libc::pid_t> {
        s.split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect()
    };
    match std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")) {
        Ok(list) => parse(&list),
        Err(_) => children_by_scan(pid),
    }
}

/// The children of a process, from every process's `stat`.
fn children_by_scan(pid: libc::pid_t) -> Vec<libc::pid_t> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let child: libc::pid_t = e.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            // pid (comm) state ppid …; comm may hold spaces and parentheses.
            let ppid = stat.rsplit_once(')')?.1.split_whitespace().nth(1)?;
            (ppid.parse::<libc::pid_t>().ok()? == pid).then_some(child)
        })
        .collect()
}

/// Sets the pre-exec hook every sandboxed child gets: join `cgroup`, a
/// session of its own, `rlimits`, then the namespaces of `join`. The files
/// returned (the cgroup's `cgroup.procs`) must stay open until the child
/// has been spawned.
pub fn prepare(
    command: &mut std::process::Command,
    cgroup: Option<&CommandCgroup>,
    rlimits: Option<Rlimits>,
    join: Option<Join>,
) -> std::io::Result<Vec<std::fs::File>> {
    let procs = match cgroup {
        Some(cg) => cg.open_procs()?,
        None => Vec::new(),
    };
    let join_fds: Vec<libc::c_int> = procs.iter().map(std::os::fd::AsRawFd::as_raw_fd).collect();
    let limits = rlimit_table(rlimits);
    // SAFETY: the hook only makes async-signal-safe calls (write, setsid,
    // setrlimit, setns) on data prepared before fork, and allocates nothing.
    unsafe {
        command.pre_exec(move || {
            for &fd in &join_fds {
                if libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            if libc::setsid() == -1 {
                return Err(std::io::Error::last_os_error());
            }
            for (resource, limit) in &limits {
                if libc::setrlimit(*resource, limit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            if let Some(join) = join {
                join.enter()?;
            }
            Ok(())
        });
    }
    Ok(procs)
}

/// Runs the command to its end, its timeout or cancellation. Errors are
/// failures to start it (the program missing, a cgroup that cannot be
/// joined) or to wait for it.
pub async fn run(run: Run) -> std::io::Result<ExecOutcome> {
    let Run {
        mut command,
        stdin,
        timeout,
        max_output_bytes,
        sink,
        rlimits,
        cgroup,
        join,
        cancel,
        jailed,
    } = run;
    let procs = prepare(&mut command, cgroup.as_ref(), rlimits, join)?;
    command
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut command = tokio::process::Command::from(command);
    // A jail's monitor is stopped through what it runs (see `Run::jailed`);
    // once dropped, the runtime still reaps it.
    command.kill_on_drop(!jailed);
    let started = Instant::now();
    let mut child = command.spawn()?;
    drop(procs);
    let mut tree = Tree {
        leader: child.id().map_or(0, |id| id as libc::pid_t),
        reaped: false,
        jailed,
        cgroup,
    };

    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let mut out = Capture::new(StreamKind::Stdout, max_output_bytes, sink.clone());
    let mut err = Capture::new(StreamKind::Stderr, max_output_bytes, sink);
    let stdin_pipe = child.stdin.take();
    let mut feed = std::pin::pin!(async move {
        if let (Some(mut pipe), Some(data)) = (stdin_pipe, stdin) {
            // A command that exits without reading its input is fine.
            let _ = pipe.write_all(data.as_bytes()).await;
            let _ = pipe.shutdown().await;
        }
    });
    let cancelled = async {
        match &cancel {
            Some(token) => token.cancelled().await,
            None => std::future::pending().await,
        }
    };
    let mut cancelled = std::pin::pin!(cancelled);

    let deadline = tokio::time::Instant::now() + timeout;
    let mut ending: Option<Ending> = None;
    let mut status: Option<ExitStatus> = None;
    let mut stop_at: Option<tokio::time::Instant> = None;
    let mut kill_all_at: Option<tokio::time::Instant> = None;
    let (mut fed, mut out_buf, mut err_buf) = (false, vec![0u8; 64 * 1024], vec![0u8; 64 * 1024]);
    loop {
        if stdout.is_none() && stderr.is_none() && status.is_some() {
            break;
        }
        let kill_reason = tokio::select! {
            read = read_some(&mut stdout, &mut out_buf) => {
                match read {
                    Some(n) => out.push(&out_buf[..n]),
                    None => stdout = None,
                }
                None
            }
            read = read_some(&mut stderr, &mut err_buf) => {
                match read {
                    Some(n) => err.push(&err_buf[..n]),
                    None => stderr = None,
                }
                None
            }
            () = &mut feed, if !fed => {
                fed = true;
                None
            }
            exit = child.wait(), if status.is_none() => {
                status = Some(exit?);
                // Whatever the command left in its group or cgroup goes
                // with it.
                tree.kill_all();
                tree.reaped = true;
                ending.get_or_insert(Ending::Exited);
                stop_at.get_or_insert(tokio::time::Instant::now() + DRAIN);
                None
            }
            () = tokio::time::sleep_until(deadline), if ending.is_none() => Some(Ending::TimedOut),
            () = &mut cancelled, if ending.is_none() => Some(Ending::Cancelled),
            () = sleep_until_opt(kill_all_at), if status.is_none() => {
                tree.kill_all();
                kill_all_at = None;
                None
            }
            () = sleep_until_opt(stop_at) => break,
        };
        if let Some(reason) = kill_reason {
            tree.stop();
            ending = Some(reason);
            let now = tokio::time::Instant::now();
            kill_all_at = jailed.then_some(now + JAIL_GRACE);
            stop_at = Some(now + KILL_GRACE);
        }
    }
    let duration_ms = started.elapsed().as_millis() as u64;
    if let Some(cg) = tree.cgroup.take() {
        cg.remove().await;
    }
    drop(tree);

    let truncated = out.truncated() || err.truncated();
    let mut stderr_text = err.text();
    let ending = ending.unwrap_or(Ending::Exited);
    let note = match ending {
        Ending::TimedOut => Some(format!(
            "[timed out after {}: killed with everything it started]",
            human_duration(timeout)
        )),
        Ending::Cancelled => Some("[killed: the sandbox was destroyed]".to_string()),
        Ending::Exited => status
            .and_then(|s| s.signal())
            .map(|sig| format!("[killed by signal {sig}{}]", signal_name(sig))),
    };
    append_note(&mut stderr_text, note);
    Ok(ExecOutcome {
        exit_code: if ending == Ending::Exited {
            status.and_then(|s| s.code())
        } else {
            None
        },
        stdout: out.text(),
        stderr: stderr_text,
        truncated,
        timed_out: ending == Ending::TimedOut,
        duration_ms,
    })
}

/// Puts a note (a timeout, a kill) on its own line after a command's
/// stderr.
pub(crate) fn append_note(stderr: &mut String, note: Option<String>) {
    if let Some(note) = note {
        if !stderr.is_empty() && !stderr.ends_with('\n') {
            stderr.push('\n');
        }
        stderr.push_str(&note);
    }
}

/// Reads some bytes from a pipe that may be closed already (then waits
/// forever, so the other branches decide). `None` at end of file or on a
/// read error.
async fn read_some<R: tokio::io::AsyncRead + Unpin>(
    pipe: &mut Option<R>,
    buf: &mut [u8],
) -> Option<usize> {
    match pipe {
        Some(p) => match p.read(buf).await {
            Ok(0) | Err(_) => None,
            Ok(n) => Some(n),
        },
        None => std::future::pending().await,
    }
}

/// Sleeps until `at`, or forever without one.
pub(crate) async fn sleep_until_opt(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The `setrlimit` calls for the pre-exec hook, capped at the current hard
/// limits (an unprivileged process cannot raise them).
fn rlimit_table(rlimits: Option<Rlimits>) -> Vec<(RlimitResource, libc::rlimit)> {
    let Some(r) = rlimits else {
        return Vec::new();
    };
    capped_rlimits([
        (libc::RLIMIT_AS, r.address_space, 0),
        (libc::RLIMIT_FSIZE, r.file_size, 0),
        (libc::RLIMIT_CPU, r.cpu_secs, 1),
        (libc::RLIMIT_CORE, Some(0), 0),
    ])
}

/// ` (SIGKILL: …)` for the common signals, for the note on a killed command.
pub fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGHUP => " (SIGHUP)",
        libc::SIGINT => " (SIGINT)",
        libc::SIGQUIT => " (SIGQUIT)",
        libc::SIGILL => " (SIGILL)",
        libc::SIGABRT => " (SIGABRT: aborted)",
        libc::SIGBUS => " (SIGBUS)",
        libc::SIGFPE => " (SIGFPE)",
        libc::SIGKILL => " (SIGKILL: killed, e.g. out of memory)",
        libc::SIGSEGV => " (SIGSEGV: segmentation fault)",
        libc::SIGPIPE => " (SIGPIPE)",
        libc::SIGALRM => " (SIGALRM)",
        libc::SIGTERM => " (SIGTERM)",
        libc::SIGXCPU => " (SIGXCPU: CPU time limit exceeded)",
        libc::SIGXFSZ => " (SIGXFSZ: file size limit exceeded)",
        _ => "",
    }
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

/// Where a command's working directory is, inside a sandbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SandboxPath {
    /// `/workspace/<rel>` (`rel` empty for `/workspace` itself).
    Workspace(PathBuf),
    /// `/tmp/<rel>`.
    Tmp(PathBuf),
}

/// Checks an absolute sandbox path (`.` and `..` resolved lexically) and
/// says where it is; only `/workspace` and `/tmp` and below are allowed.
pub fn sandbox_path(path: &str) -> Result<SandboxPath, SandboxError> {
    if !path.starts_with('/') {
        return Err(SandboxError::Invalid(format!(
            "the working directory must be an absolute path under /workspace, not `{path}`"
        )));
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    let rel: PathBuf = parts.iter().skip(1).collect();
    match parts.first() {
        Some(&"workspace") => Ok(SandboxPath::Workspace(rel)),
        Some(&"tmp") => Ok(SandboxPath::Tmp(rel)),
        _ => Err(SandboxError::Invalid(format!(
            "the working directory must be /workspace or below (or /tmp), not `{path}`"
        ))),
    }
}

/// Checks what the OS would refuse or misread: an empty argv, NUL bytes,
/// environment names that are empty or hold `=`.
pub fn validate(cmd: &ExecSpec) -> Result<(), SandboxError> {
    let invalid = |m: String| Err(SandboxError::Invalid(m));
    if cmd.argv.is_empty() || cmd.argv[0].is_empty() {
        return invalid("the command is empty".into());
    }
    if cmd.argv.iter().any(|a| a.contains('\0')) || cmd.cwd.contains('\0') {
        return invalid("the command contains a NUL byte".into());
    }
    for (name, value) in &cmd.env {
        if name.is_empty() || name.contains(['=', '\0']) || value.contains('\0') {
            return invalid(format!(
                "invalid environment variable name or value: `{name}`"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> std::process::Command {
        let mut c = std::process::Command::new("/bin/sh");
        c.arg("-c").arg(script);
        c
    }

    fn run_of(script: &str, timeout: Duration) -> Run {
        Run {
            command: sh(script),
            stdin: None,
            timeout,
            max_output_bytes: 1 << 20,
            sink: None,
            rlimits: None,
            cgroup: None,
            join: None,
            cancel: None,
            jailed: false,
        }
    }

    #[tokio::test]
    async fn captures_output_exit_code_and_stdin() {
        let mut r = run_of("cat; echo err >&2; exit 3", Duration::from_secs(60));
        r.stdin = Some("hello".into());
        let o = run(r).await.unwrap();
        assert_eq!(o.exit_code, Some(3));
        assert_eq!(o.stdout, "hello");
        assert_eq!(o.stderr, "err\n");
        assert!(!o.timed_out && !o.truncated);
    }

    #[tokio::test]
    async fn a_signal_death_has_no_exit_code_and_a_note() {
        let o = run(run_of("kill -XFSZ $$", Duration::from_secs(60)))
            .await
            .unwrap();
        assert_eq!(o.exit_code, None);
        assert!(
            o.stderr.contains("killed by signal 25 (SIGXFSZ"),
            "{}",
            o.stderr
        );
    }

    #[tokio::test]
    async fn the_timeout_kills_the_group_and_keeps_output() {
        let o = run(run_of(
            "echo before; sleep 1000 & sleep 1000; echo never",
            Duration::from_millis(500),
        ))
        .await
        .unwrap();
        assert!(o.timed_out);
        assert_eq!(o.exit_code, None);
        assert_eq!(o.stdout, "before\n");
        assert!(o.stderr.contains("timed out after 0.5s"), "{}", o.stderr);
    }

    #[tokio::test]
    async fn a_background_child_holding_the_pipe_does_not_hang_us() {
        // setsid puts the child out of our process group: only the drain
        // limit stops the reading.
        let o = run(run_of(
            "setsid sleep 30 & echo $!",
            Duration::from_secs(600),
        ))
        .await
        .unwrap();
        assert_eq!(o.exit_code, Some(0));
        let pid: i32 = o.stdout.trim().parse().unwrap();
        unsafe { libc::kill(pid, libc::SIGKILL) };
        assert!(o.duration_ms < 20_000, "{}", o.duration_ms);
    }

    #[tokio::test]
    async fn cancellation_kills() {
        let token = CancellationToken::new();
        let mut r = run_of("sleep 1000", Duration::from_secs(600));
        r.cancel = Some(token.clone());
        let task = tokio::spawn(run(r));
        tokio::time::sleep(Duration::from_millis(100)).await;
        token.cancel();
        let o = task.await.unwrap().unwrap();
        assert_eq!(o.exit_code, None);
        assert!(!o.timed_out);
        assert!(o.stderr.contains("sandbox was destroyed"));
    }

    #[test]
    fn finds_children() {
        let mut parent = sh("sleep 30 & sleep 30 & wait").spawn().unwrap();
        let pid = parent.id() as libc::pid_t;
        let mut found = Vec::new();
        for _ in 0..600 {
            found = children_of(pid);
            if found.len() == 2 {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let mut scanned = children_by_scan(pid);
        found.sort_unstable();
        scanned.sort_unstable();
        assert_eq!(found.len(), 2);
        assert_eq!(found, scanned);
        unsafe { libc::kill(pid, libc::SIGKILL) };
        for child in found {
            unsafe { libc::kill(child, libc::SIGKILL) };
        }
        parent.wait().unwrap();
        assert!(children_of(pid).is_empty());
    }

    #[test]
    fn working_directories() {
        use SandboxPath::*;
        assert_eq!(sandbox_path("/workspace"), Ok(Workspace(PathBuf::new())));
        assert_eq!(
            sandbox_path("/workspace/a/./b/"),
            Ok(Workspace("a/b".into()))
        );
        assert_eq!(sandbox_path("/tmp/x/../y"), Ok(Tmp("y".into())));
        assert_eq!(sandbox_path("/workspace/../tmp"), Ok(Tmp(PathBuf::new())));
        for bad in ["workspace", "/", "/etc", "/workspace/../etc", "/workspacex"] {
            assert!(
                matches!(sandbox_path(bad), Err(SandboxError::Invalid(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn rlimits_from_limits() {
        let r = Rlimits::for_limits(&SandboxLimits {
            memory_mb: 256,
            file_size_mb: 0,
            cpu_time_secs: 10,
            ..SandboxLimits::default()
        });
        assert_eq!(r.address_space, Some(256 << 20));
        assert_eq!(r.file_size, None);
        assert_eq!(r.cpu_secs, Some(10));
        let table = rlimit_table(Some(r));
        assert_eq!(table.len(), 3);
        assert!(
            table
                .iter()
                .any(|(res, l)| *res == libc::RLIMIT_CORE && l.rlim_max == 0)
        );
        assert_eq!(human_duration(Duration::from_secs(120)), "2m");
    }
}
