//! The command server: listens on a unix socket, runs one command per
//! connection as a fork of itself, and keeps the guarantees the host
//! relies on.
//!
//! - **Each command in a session of its own** (`setsid` between fork and
//!   exec), with the per-process rlimits it was started with
//!   (`--rlimit-*`, `--nproc`) set in the child, `SIGPIPE` and the signal
//!   mask back to their defaults, stdout and stderr as pipes streamed to the
//!   host in [`Kind::Stdout`]/[`Kind::Stderr`] frames, stdin a pipe fed by
//!   the host (or `/dev/null`).
//! - **Killing**: a [`Kind::Kill`] frame or the host closing the connection
//!   SIGKILLs the command's session, round after round until nothing in it
//!   is left (a fork bomb cannot outrun it).
//! - **Nothing left behind**: when a foreground command's main process
//!   exits, every process descended from the server that is not in the
//!   session of another running command or of a background job is killed
//!   (so `cmd &` and `setsid cmd &` do not outlive the command), then output
//!   still in the pipes is read for at most [`DRAIN`]. A background job
//!   ([`Request::background`]) leaves its processes running; its session is
//!   spared until none of them is left.
//! - **Reaping**: the server is the jail's pid 1 (bubblewrap) or a child
//!   subreaper (Docker, under the engine's init): one thread reaps every
//!   child and orphan (`wait4`, with the command's resource use).
//! - **Only the host may connect**: a peer whose pid is visible from inside
//!   the sandbox (a command) is refused; the host, outside the sandbox's
//!   pid namespace, is seen with pid 0 (`--allow-local-peers` lifts this
//!   for tests that run the server without a namespace).
//! - **The egress bridge** (`--egress PATH`): TCP `127.0.0.1:3128` inside
//!   the sandbox, each connection spliced byte for byte to the unix socket
//!   `PATH` (the host's egress proxy).
//!
//! It prints [`READY_LINE`] on stdout once it listens.

use crate::proto::{self, EGRESS_PORT, ErrorCode, ErrorReply, Exit, Kind, READY_LINE, Request};
use std::collections::{HashMap, HashSet};
use std::ffi::{CString, OsString};
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long output is still read once a command's main process exited.
pub const DRAIN: Duration = Duration::from_millis(500);
/// Kill rounds before giving up on a session or the leftovers.
const KILL_ROUNDS: usize = 50;
/// Stack of the server's threads (they only shuffle bytes).
const STACK: usize = 256 * 1024;
/// `PATH` when the environment has none.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The command line.
pub const USAGE: &str = "usage: paddock-sandboxd (--socket PATH | --listen-fd N) [--egress PATH] [--nproc N] \
[--rlimit-as BYTES] [--rlimit-fsize BYTES] [--rlimit-cpu SECS] [--allow-local-peers]";

/// Per-process limits set in each command's child (0 or absent: none).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    /// `RLIMIT_NPROC` (set inside the sandbox's user namespace, where it
    /// counts only the sandbox's processes).
    pub nproc: Option<u64>,
    /// `RLIMIT_AS`, bytes.
    pub address_space: Option<u64>,
    /// `RLIMIT_FSIZE`, bytes.
    pub file_size: Option<u64>,
    /// `RLIMIT_CPU`, seconds (the hard limit one more).
    pub cpu_secs: Option<u64>,
}

/// What the server is started with.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// Where to listen.
    pub listen: Listen,
    /// The egress proxy's unix socket, bridged from `127.0.0.1:3128`.
    pub egress: Option<PathBuf>,
    /// Limits of every command.
    pub limits: Limits,
    /// Accept peers inside our own pid namespace (tests only).
    pub allow_local_peers: bool,
}

impl Options {
    /// Parses the arguments (without the program name).
    pub fn parse(args: &[String]) -> Result<Options, String> {
        let mut o = Options::default();
        let mut listen = None;
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            let mut value = |name: &str| {
                it.next()
                    .cloned()
                    .ok_or_else(|| format!("{name} needs a value"))
            };
            let mut number = |name: &str| -> Result<Option<u64>, String> {
                let v = value(name)?;
                let n: u64 = v
                    .parse()
                    .map_err(|_| format!("{name} must be a number, not `{v}`"))?;
                Ok((n > 0).then_some(n))
            };
            match flag.as_str() {
                "--socket" => listen = Some(Listen::Path(PathBuf::from(value("--socket")?))),
                "--listen-fd" => {
                    let v = value("--listen-fd")?;
                    let fd: RawFd = v.parse().ok().filter(|fd| *fd >= 3).ok_or_else(|| {
                        format!("--listen-fd must be a descriptor >= 3, not `{v}`")
                    })?;
                    listen = Some(Listen::Fd(fd));
                }
                "--egress" => o.egress = Some(PathBuf::from(value("--egress")?)),
                "--nproc" => o.limits.nproc = number("--nproc")?,
                "--rlimit-as" => o.limits.address_space = number("--rlimit-as")?,
                "--rlimit-fsize" => o.limits.file_size = number("--rlimit-fsize")?,
                "--rlimit-cpu" => o.limits.cpu_secs = number("--rlimit-cpu")?,
                "--allow-local-peers" => o.allow_local_peers = true,
                other => return Err(format!("unknown argument `{other}`")),
            }
        }
        o.listen = listen.ok_or("--socket or --listen-fd is required")?;
        Ok(o)
    }
}

/// Where the server listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Listen {
    /// A unix socket it makes at this path (a stale one is replaced).
    Path(PathBuf),
    /// A listening unix socket the host made and passed as this
    /// descriptor: nothing of it is in the sandbox's file system.
    Fd(RawFd),
}

impl Default for Listen {
    fn default() -> Self {
        Listen::Path(PathBuf::new())
    }
}

/// A command the server started.
struct Proc {
    /// Its session id (= its pid).
    background: bool,
    /// Set by the reaper when its main process ended.
    exit: Option<Exit>,
    /// Written to (one byte) when `exit` is set.
    notify: Option<OwnedFd>,
}

/// What every thread shares.
struct Shared {
    limits: Limits,
    /// The server's environment, under each command's own.
    env: Vec<(OsString, OsString)>,
    state: Mutex<State>,
    /// Signalled when a child is started (the reaper waits for one).
    spawned: Condvar,
}

#[derive(Default)]
struct State {
    procs: HashMap<libc::pid_t, Proc>,
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Listens and serves until killed. Errors are failures to set up.
pub fn run(options: Options) -> io::Result<()> {
    // SAFETY: prctl with these options only changes flags of this process.
    unsafe {
        // Orphans of commands come to us (when we are not pid 1) so the
        // reaper can reap them and the clean-up can find them.
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
        // Commands run as our uid: they must not ptrace or read our memory.
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
    }
    let listener = match &options.listen {
        Listen::Path(path) => {
            let _ = std::fs::remove_file(path);
            let listener = UnixListener::bind(path).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("cannot listen on {}: {e}", path.display()),
                )
            })?;
            // Who may reach the socket is decided by its directory on the
            // host; the host may see our uid mapped to another one
            // (rootless engines).
            let mode = CString::new(path.as_os_str().as_bytes())
                .map_err(|_| io::Error::other("the socket path holds a NUL byte"))?;
            // SAFETY: chmod reads a valid C string.
            unsafe { libc::chmod(mode.as_ptr(), 0o666) };
            listener
        }
        Listen::Fd(fd) => {
            // SAFETY: fcntl on a descriptor number; a bad one fails.
            if unsafe { libc::fcntl(*fd, libc::F_SETFD, libc::FD_CLOEXEC) } != 0 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("--listen-fd {fd} is not an open descriptor"),
                ));
            }
            // SAFETY: the host passed us this listening socket to own.
            unsafe { UnixListener::from_raw_fd(*fd) }
        }
    };
    let shared = Arc::new(Shared {
        limits: options.limits,
        env: std::env::vars_os().collect(),
        state: Mutex::new(State::default()),
        spawned: Condvar::new(),
    });
    {
        let shared = shared.clone();
        thread("reaper", move || reap(&shared))?;
    }
    if let Some(egress) = options.egress.clone() {
        let tcp = std::net::TcpListener::bind(("127.0.0.1", EGRESS_PORT)).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot listen on 127.0.0.1:{EGRESS_PORT} for the egress bridge: {e}"),
            )
        })?;
        thread("egress", move || bridge(tcp, egress))?;
    }
    {
        let mut out = io::stdout().lock();
        writeln!(out, "{READY_LINE}")?;
        out.flush()?;
    }
    for conn in listener.incoming() {
        let conn = match conn {
            Ok(c) => c,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                eprintln!("paddock-sandboxd: accept failed: {e}");
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        if !options.allow_local_peers && !from_outside(&conn) {
            // A command of this sandbox: it gets nothing (it could start
            // jobs that escape its clean-up).
            continue;
        }
        let shared = shared.clone();
        if let Err(e) = thread("command", move || serve(conn, &shared)) {
            eprintln!("paddock-sandboxd: cannot start a thread: {e}");
        }
    }
    Ok(())
}

fn thread(name: &str, f: impl FnOnce() + Send + 'static) -> io::Result<()> {
    std::thread::Builder::new()
        .name(name.into())
        .stack_size(STACK)
        .spawn(f)
        .map(drop)
}

/// Whether the peer is outside our pid namespace (the kernel then reports
/// its pid as 0).
fn from_outside(conn: &UnixStream) -> bool {
    let mut cred = libc::ucred {
        pid: -1,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `cred`.
    let ok = unsafe {
        libc::getsockopt(
            conn.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&raw mut cred).cast(),
            &mut len,
        )
    } == 0;
    ok && cred.pid == 0
}

/// Reaps every child (commands and orphans) for as long as the server
/// lives, recording the exit of the commands' main processes.
fn reap(shared: &Shared) {
    loop {
        let mut status = 0;
        // SAFETY: rusage is plain data, filled by wait4.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: wait4 writes into the two locals.
        let pid = unsafe { libc::wait4(-1, &mut status, 0, &mut usage) };
        if pid > 0 {
            let exit = Exit {
                code: libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)),
                signal: libc::WIFSIGNALED(status).then(|| libc::WTERMSIG(status)),
                user_usec: usec(usage.ru_utime),
                system_usec: usec(usage.ru_stime),
                max_rss_kib: u64::try_from(usage.ru_maxrss).unwrap_or(0),
            };
            let mut state = lock(&shared.state);
            if let Some(p) = state.procs.get_mut(&pid) {
                p.exit = Some(exit);
                if let Some(fd) = p.notify.take() {
                    // SAFETY: writes one byte from a valid buffer.
                    unsafe { libc::write(fd.as_raw_fd(), b"x".as_ptr().cast(), 1) };
                }
            }
            continue;
        }
        match io::Error::last_os_error().raw_os_error() {
            Some(libc::EINTR) => {}
            // No child now: wait for one to be started (orphans reparented
            // to us are picked up within the timeout).
            _ => {
                let state = lock(&shared.state);
                let _ = shared
                    .spawned
                    .wait_timeout(state, Duration::from_millis(50));
            }
        }
    }
}

fn usec(t: libc::timeval) -> u64 {
    u64::try_from(t.tv_sec).unwrap_or(0) * 1_000_000 + u64::try_from(t.tv_usec).unwrap_or(0)
}

/// Everything the child needs, made before fork (the child only makes
/// async-signal-safe calls).
struct Prepared {
    path: CString,
    argv: Vec<CString>,
    envp: Vec<CString>,
    cwd: CString,
    rlimits: Vec<(RlimitResource, libc::rlimit)>,
    /// `paddock-sandboxd: cannot run `prog`: `.
    failure: Vec<u8>,
}

/// The type `setrlimit` takes its resource as (glibc's enum, else `int`).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub type RlimitResource = libc::__rlimit_resource_t;
/// The type `setrlimit` takes its resource as (glibc's enum, else `int`).
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub type RlimitResource = libc::c_int;

fn cstring(bytes: &[u8], what: &str) -> Result<CString, String> {
    CString::new(bytes).map_err(|_| format!("{what} contains a NUL byte"))
}

impl Prepared {
    fn new(req: &Request, shared: &Shared) -> Result<Prepared, String> {
        let mut env: Vec<(OsString, OsString)> = shared
            .env
            .iter()
            .filter(|(k, _)| {
                !req.env
                    .iter()
                    .any(|(name, _)| k.as_bytes() == name.as_bytes())
            })
            .cloned()
            .collect();
        env.extend(
            req.env
                .iter()
                .map(|(k, v)| (OsString::from(k), OsString::from(v))),
        );
        let path_var = env
            .iter()
            .find(|(k, _)| k == "PATH")
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| DEFAULT_PATH.into());
        let program = &req.argv[0];
        let path = if program.contains('/') {
            PathBuf::from(program)
        } else {
            std::env::split_paths(&path_var)
                .map(|dir| dir.join(program))
                .find(|p| is_executable(p))
                .unwrap_or_else(|| PathBuf::from(program))
        };
        let envp = env
            .into_iter()
            .map(|(k, v)| {
                let mut kv = k.into_vec();
                kv.push(b'=');
                kv.extend(v.into_vec());
                cstring(&kv, "an environment variable")
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Prepared {
            path: cstring(path.as_os_str().as_bytes(), "the program")?,
            argv: req
                .argv
                .iter()
                .map(|a| cstring(a.as_bytes(), "an argument"))
                .collect::<Result<_, _>>()?,
            envp,
            cwd: cstring(req.cwd.as_bytes(), "the working directory")?,
            rlimits: rlimit_table(&shared.limits),
            failure: format!("paddock-sandboxd: cannot run `{program}`: ").into_bytes(),
        })
    }
}

fn is_executable(p: &Path) -> bool {
    let Ok(c) = CString::new(p.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: access reads a valid C string.
    p.is_file() && unsafe { libc::access(c.as_ptr(), libc::X_OK) } == 0
}

/// The `setrlimit` calls for a command, capped at our hard limits.
fn rlimit_table(l: &Limits) -> Vec<(RlimitResource, libc::rlimit)> {
    capped_rlimits([
        (libc::RLIMIT_NPROC, l.nproc, 0),
        (libc::RLIMIT_AS, l.address_space, 0),
        (libc::RLIMIT_FSIZE, l.file_size, 0),
        (libc::RLIMIT_CPU, l.cpu_secs, 1),
        (libc::RLIMIT_CORE, Some(0), 0),
    ])
}

/// `setrlimit` calls for `(resource, soft limit, hard limit above it)`
/// (a `None` soft limit is left alone), capped at the current hard limits
/// (an unprivileged process cannot raise them). Shared with the host's
/// per-command path, which sets the same limits before exec.
pub fn capped_rlimits(
    wanted: impl IntoIterator<Item = (RlimitResource, Option<u64>, u64)>,
) -> Vec<(RlimitResource, libc::rlimit)> {
    wanted
        .into_iter()
        .filter_map(|(resource, soft, extra)| {
            let soft = soft? as libc::rlim_t;
            let mut current = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            // SAFETY: getrlimit writes into the struct.
            if unsafe { libc::getrlimit(resource, &mut current) } != 0 {
                return None;
            }
            let hard = soft.saturating_add(extra).min(current.rlim_max);
            Some((
                resource,
                libc::rlimit {
                    rlim_cur: soft.min(hard),
                    rlim_max: hard,
                },
            ))
        })
        .collect()
}

/// A pipe, both ends close-on-exec: (read, write).
fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two descriptors into the array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both descriptors are fresh and ours.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Forks and execs the command; returns its pid. The child's stdio are the
/// given descriptors.
fn spawn(p: &Prepared, stdin: RawFd, stdout: RawFd, stderr: RawFd) -> io::Result<libc::pid_t> {
    let mut argv: Vec<*const libc::c_char> = p.argv.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = p.envp.iter().map(|a| a.as_ptr()).collect();
    envp.push(std::ptr::null());
    // SAFETY: after fork the child only calls async-signal-safe functions
    // on memory prepared before the fork, then execs or exits.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid > 0 {
        return Ok(pid);
    }
    // The child.
    // SAFETY: see above; every pointer is valid for the child's life.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        libc::setsid();
        for (resource, limit) in &p.rlimits {
            libc::setrlimit(*resource, limit);
        }
        if libc::dup2(stdin, 0) < 0 || libc::dup2(stdout, 1) < 0 || libc::dup2(stderr, 2) < 0 {
            libc::_exit(126);
        }
        if libc::chdir(p.cwd.as_ptr()) != 0 {
            libc::_exit(125);
        }
        libc::execve(p.path.as_ptr(), argv.as_ptr(), envp.as_ptr());
        let errno = *libc::__errno_location();
        let (why, status): (&[u8], i32) = match errno {
            libc::ENOENT => (b"command not found\n", 127),
            libc::EACCES => (b"permission denied\n", 126),
            libc::ENOEXEC => (b"not an executable\n", 126),
            libc::E2BIG => (b"the arguments are too long\n", 126),
            libc::ENOMEM => (b"out of memory\n", 126),
            _ => (b"cannot execute it\n", 126),
        };
        libc::write(2, p.failure.as_ptr().cast(), p.failure.len());
        libc::write(2, why.as_ptr().cast(), why.len());
        libc::_exit(status);
    }
}

/// Sends a frame; a host that went away is not an error here (the
/// command is killed when its connection closes).
fn send(conn: &UnixStream, kind: Kind, payload: &[u8]) -> bool {
    let mut w = conn;
    proto::write_frame(&mut w, kind, payload).is_ok()
}

fn refuse(conn: &UnixStream, code: ErrorCode, message: String) {
    send(conn, Kind::Error, &ErrorReply { code, message }.encode());
}

/// Serves one connection: one command.
fn serve(conn: UnixStream, shared: &Shared) {
    let req = {
        let mut r = &conn;
        match proto::read_frame(&mut r) {
            Ok(Some((Kind::Run, payload))) => match Request::decode(&payload) {
                Ok(req) => req,
                Err(e) => return refuse(&conn, ErrorCode::BadRequest, e.to_string()),
            },
            Ok(Some((kind, _))) => {
                return refuse(
                    &conn,
                    ErrorCode::BadRequest,
                    format!("the first frame must be a request, not {kind:?}"),
                );
            }
            Ok(None) => return,
            Err(e) => return refuse(&conn, ErrorCode::BadRequest, e.to_string()),
        }
    };
    if !Path::new(&req.cwd).is_dir() {
        return refuse(
            &conn,
            ErrorCode::NoCwd,
            format!(
                "the working directory {} does not exist in the sandbox (or is not a directory)",
                req.cwd
            ),
        );
    }
    if let Err(e) = run_command(&conn, &req, shared) {
        refuse(&conn, ErrorCode::Failed, e);
    }
}

/// An open pipe end we read from or write to, or none.
struct End(Option<OwnedFd>);

impl End {
    fn raw(&self) -> RawFd {
        self.0.as_ref().map_or(-1, AsRawFd::as_raw_fd)
    }
}

fn run_command(conn: &UnixStream, req: &Request, shared: &Shared) -> Result<(), String> {
    let prepared = Prepared::new(req, shared)?;
    let failed = |what: &str, e: io::Error| format!("cannot {what}: {e}");
    let (out_r, out_w) = pipe().map_err(|e| failed("make a pipe", e))?;
    let (err_r, err_w) = pipe().map_err(|e| failed("make a pipe", e))?;
    let (in_r, in_w) = if req.stdin {
        let (r, w) = pipe().map_err(|e| failed("make a pipe", e))?;
        (r, Some(w))
    } else {
        let null = std::fs::File::open("/dev/null").map_err(|e| failed("open /dev/null", e))?;
        (OwnedFd::from(null), None)
    };
    let (note_r, note_w) = pipe().map_err(|e| failed("make a pipe", e))?;
    let pid = {
        // Held across the fork so the reaper cannot see the exit before
        // the command is registered.
        let mut state = lock(&shared.state);
        let pid = spawn(
            &prepared,
            in_r.as_raw_fd(),
            out_w.as_raw_fd(),
            err_w.as_raw_fd(),
        )
        .map_err(|e| failed("start the command", e))?;
        state.procs.insert(
            pid,
            Proc {
                background: req.background,
                exit: None,
                notify: Some(note_w),
            },
        );
        shared.spawned.notify_all();
        pid
    };
    drop((in_r, out_w, err_w));
    send(conn, Kind::Started, &(pid as u32).to_be_bytes());
    let exit = pump(
        conn,
        pid,
        req.background,
        End(Some(out_r)),
        End(Some(err_r)),
        End(in_w),
        note_r,
        shared,
    );
    {
        let mut state = lock(&shared.state);
        if !req.background {
            state.procs.remove(&pid);
        }
    }
    if let Some(exit) = exit {
        send(conn, Kind::Exit, &exit.encode());
    }
    Ok(())
}

/// Moves bytes until the command ended and its output is drained (or the
/// drain time is up): output to the host, the host's stdin to the command;
/// kills it when the host asks or goes away. Returns its exit, `None` when
/// the host is gone.
#[allow(clippy::too_many_arguments, reason = "the descriptors of one command")]
fn pump(
    conn: &UnixStream,
    pid: libc::pid_t,
    background: bool,
    mut out: End,
    mut err: End,
    mut stdin: End,
    note: OwnedFd,
    shared: &Shared,
) -> Option<Exit> {
    let mut inbox: Vec<u8> = Vec::new();
    let mut pending: Vec<u8> = Vec::new();
    let mut stdin_eof = false;
    let mut host_open = true;
    let mut exited: Option<Exit> = None;
    let mut drain_until: Option<Instant> = None;
    let mut buf = vec![0u8; 64 * 1024];
    let mut note = Some(note);
    loop {
        if exited.is_some() && out.0.is_none() && err.0.is_none() {
            break;
        }
        if let Some(until) = drain_until
            && Instant::now() >= until
        {
            break;
        }
        let mut fds = [
            libc::pollfd {
                fd: if host_open { conn.as_raw_fd() } else { -1 },
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: out.raw(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: err.raw(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: if pending.is_empty() { -1 } else { stdin.raw() },
                events: libc::POLLOUT,
                revents: 0,
            },
            libc::pollfd {
                fd: note.as_ref().map_or(-1, AsRawFd::as_raw_fd),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        let timeout = drain_until.map_or(-1, |until| {
            i32::try_from(until.saturating_duration_since(Instant::now()).as_millis())
                .unwrap_or(i32::MAX)
                .max(1)
        });
        // SAFETY: poll reads and writes the array we own.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
        if n < 0 {
            if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            kill_session(pid);
            return None;
        }
        let ready = |i: usize| fds[i].revents != 0;
        if ready(0) {
            // SAFETY: recv writes at most buf.len() bytes into buf.
            let got = unsafe {
                libc::recv(
                    conn.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_DONTWAIT,
                )
            };
            let mut kill = got == 0;
            if got < 0 {
                let e = io::Error::last_os_error();
                kill = !matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                );
            }
            if got > 0 {
                inbox.extend_from_slice(&buf[..got as usize]);
                loop {
                    match proto::take_frame(&mut inbox) {
                        Ok(Some((Kind::Stdin, data))) => pending.extend(data),
                        Ok(Some((Kind::StdinEof, _))) => stdin_eof = true,
                        Ok(Some((Kind::Kill, _))) => kill = true,
                        Ok(Some(_)) | Err(_) => {
                            kill = true;
                            break;
                        }
                        Ok(None) => break,
                    }
                }
            }
            if kill {
                if got <= 0 {
                    host_open = false;
                }
                kill_session(pid);
                if !background {
                    clean_up(pid, shared);
                }
                stdin.0 = None;
                pending.clear();
            }
        }
        for (i, end, kind) in [(1, &mut out, Kind::Stdout), (2, &mut err, Kind::Stderr)] {
            if !ready(i) {
                continue;
            }
            // SAFETY: read writes at most buf.len() bytes into buf.
            let got = unsafe { libc::read(end.raw(), buf.as_mut_ptr().cast(), buf.len()) };
            if got > 0 {
                if host_open && !send(conn, kind, &buf[..got as usize]) {
                    host_open = false;
                    kill_session(pid);
                }
            } else if got == 0 || io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
                end.0 = None;
            }
        }
        if ready(3) {
            // SAFETY: write reads `pending`.
            let wrote = unsafe { libc::write(stdin.raw(), pending.as_ptr().cast(), pending.len()) };
            if wrote > 0 {
                pending.drain(..wrote as usize);
            } else if io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
                // The command closed its stdin: what is left is dropped.
                pending.clear();
                stdin.0 = None;
            }
        }
        if stdin_eof && pending.is_empty() {
            stdin.0 = None;
        }
        if ready(4) {
            note = None;
            exited = lock(&shared.state).procs.get(&pid).and_then(|p| p.exit);
            if !background {
                clean_up(pid, shared);
            }
            drain_until = Some(Instant::now() + DRAIN);
        }
    }
    if host_open { exited } else { None }
}

/// One line of `/proc/<pid>/stat`, the fields we use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stat {
    pid: libc::pid_t,
    state: u8,
    ppid: libc::pid_t,
    session: libc::pid_t,
}

fn parse_stat(pid: libc::pid_t, line: &str) -> Option<Stat> {
    // pid (comm) state ppid pgrp session …; comm may hold spaces and ')'.
    let mut rest = line.rsplit_once(')')?.1.split_whitespace();
    let state = *rest.next()?.as_bytes().first()?;
    let ppid = rest.next()?.parse().ok()?;
    let _pgrp = rest.next()?;
    let session = rest.next()?.parse().ok()?;
    Some(Stat {
        pid,
        state,
        ppid,
        session,
    })
}

/// Every process we can see.
fn processes() -> Vec<Stat> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| {
            let pid: libc::pid_t = e.file_name().to_str()?.parse().ok()?;
            let line = std::fs::read_to_string(e.path().join("stat")).ok()?;
            parse_stat(pid, &line)
        })
        .collect()
}

/// The processes descended from `root` (not `root` itself), by parent.
fn descendants(all: &[Stat], root: libc::pid_t) -> Vec<Stat> {
    let mut children: HashMap<libc::pid_t, Vec<&Stat>> = HashMap::new();
    for s in all {
        children.entry(s.ppid).or_default().push(s);
    }
    let mut out = Vec::new();
    let mut todo = vec![root];
    while let Some(p) = todo.pop() {
        for c in children.get(&p).into_iter().flatten() {
            if c.pid != root {
                out.push(**c);
                todo.push(c.pid);
            }
        }
    }
    out
}

fn sigkill(pid: libc::pid_t) -> bool {
    // SAFETY: kill has no memory preconditions.
    unsafe { libc::kill(pid, libc::SIGKILL) == 0 }
}

/// SIGKILLs a command's session until nothing in it is left alive.
fn kill_session(sid: libc::pid_t) {
    if sid <= 1 {
        return;
    }
    // SAFETY: see sigkill.
    unsafe { libc::kill(-sid, libc::SIGKILL) };
    let me = std::process::id() as libc::pid_t;
    for _ in 0..KILL_ROUNDS {
        let mut killed = false;
        for s in descendants(&processes(), me) {
            if s.session == sid && s.state != b'Z' {
                killed |= sigkill(s.pid);
            }
        }
        if !killed {
            break;
        }
    }
}

/// After a foreground command: kills what it left behind (everything of
/// ours outside other running commands' and background jobs' sessions),
/// and forgets background jobs of which nothing is left.
fn clean_up(sid: libc::pid_t, shared: &Shared) {
    // SAFETY: see sigkill.
    unsafe { libc::kill(-sid, libc::SIGKILL) };
    let me = std::process::id() as libc::pid_t;
    for _ in 0..KILL_ROUNDS {
        let all = processes();
        let ours = descendants(&all, me);
        let keep: HashSet<libc::pid_t> = {
            let mut state = lock(&shared.state);
            let live: HashSet<libc::pid_t> = ours
                .iter()
                .filter(|s| s.state != b'Z')
                .map(|s| s.session)
                .collect();
            // A background job is forgotten once its main process has
            // exited and nothing of its session is left.
            state
                .procs
                .retain(|pid, p| !p.background || p.exit.is_none() || live.contains(pid));
            state
                .procs
                .iter()
                .filter(|(pid, p)| **pid != sid && (p.background || p.exit.is_none()))
                .map(|(pid, _)| *pid)
                .collect()
        };
        let mut killed = false;
        for s in ours {
            // A command's main process is spared by its pid too: between
            // fork and `setsid` it is still in our session.
            if s.state != b'Z' && !keep.contains(&s.session) && !keep.contains(&s.pid) {
                killed |= sigkill(s.pid);
            }
        }
        if !killed {
            break;
        }
    }
}

/// Splices each connection to `127.0.0.1:3128` to the egress proxy's unix
/// socket, byte for byte in both directions.
fn bridge(listener: std::net::TcpListener, egress: PathBuf) {
    for tcp in listener.incoming() {
        let Ok(tcp) = tcp else { continue };
        let egress = egress.clone();
        let _ = thread("egress-conn", move || {
            let unix = match UnixStream::connect(&egress) {
                Ok(u) => u,
                Err(e) => {
                    eprintln!(
                        "paddock-sandboxd: the egress proxy at {} cannot be reached: {e}",
                        egress.display()
                    );
                    return;
                }
            };
            splice(tcp, unix);
        });
    }
}

/// Copies both ways until both directions ended.
fn splice(tcp: std::net::TcpStream, unix: UnixStream) {
    let (Ok(tcp2), Ok(unix2)) = (tcp.try_clone(), unix.try_clone()) else {
        return;
    };
    let up = std::thread::Builder::new()
        .name("egress-up".into())
        .stack_size(STACK)
        .spawn(move || {
            let _ = io::copy(&mut &tcp2, &mut &unix2);
            let _ = unix2.shutdown(std::net::Shutdown::Write);
        });
    let _ = io::copy(&mut &unix, &mut &tcp);
    let _ = tcp.shutdown(std::net::Shutdown::Write);
    if let Ok(up) = up {
        let _ = up.join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments() {
        let args: Vec<String> = [
            "--socket",
            "/run/paddock/cmd.sock",
            "--nproc",
            "64",
            "--rlimit-cpu",
            "0",
            "--egress",
            "/run/paddock/egress.sock",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let o = Options::parse(&args).unwrap();
        assert_eq!(o.listen, Listen::Path("/run/paddock/cmd.sock".into()));
        assert_eq!(o.limits.nproc, Some(64));
        assert_eq!(o.limits.cpu_secs, None);
        assert_eq!(
            o.egress.as_deref(),
            Some(Path::new("/run/paddock/egress.sock"))
        );
        assert!(!o.allow_local_peers);
        assert!(Options::parse(&[]).unwrap_err().contains("--socket"));
        let fd = ["--listen-fd".to_string(), "3".into()];
        assert_eq!(Options::parse(&fd).unwrap().listen, Listen::Fd(3));
        let bad_fd = ["--listen-fd".to_string(), "1".into()];
        assert!(Options::parse(&bad_fd).unwrap_err().contains("--listen-fd"));
        let bad = [
            "--socket".to_string(),
            "x".into(),
            "--nproc".into(),
            "many".into(),
        ];
        assert!(Options::parse(&bad).unwrap_err().contains("--nproc"));
        assert!(Options::parse(&["--bogus".to_string()]).is_err());
    }

    #[test]
    fn stat_lines() {
        let s = parse_stat(42, "42 (a) b) c) S 7 42 40 0 -1").unwrap();
        assert_eq!((s.state, s.ppid, s.session), (b'S', 7, 40));
        assert!(parse_stat(1, "garbage").is_none());
    }

    #[test]
    fn descendants_follow_parents() {
        let st = |pid, ppid| Stat {
            pid,
            state: b'S',
            ppid,
            session: pid,
        };
        let all = [st(1, 0), st(10, 1), st(11, 10), st(12, 11), st(20, 2)];
        let mut d: Vec<_> = descendants(&all, 10).iter().map(|s| s.pid).collect();
        d.sort_unstable();
        assert_eq!(d, [11, 12]);
    }

    #[test]
    fn frames_are_taken_whole() {
        let mut inbox = proto::encode_frame(Kind::Stdin, b"abc");
        inbox.extend(proto::encode_frame(Kind::StdinEof, b""));
        let tail = inbox.split_off(10);
        assert_eq!(
            proto::take_frame(&mut inbox).unwrap(),
            Some((Kind::Stdin, b"abc".to_vec()))
        );
        assert_eq!(proto::take_frame(&mut inbox).unwrap(), None);
        inbox.extend(tail);
        assert_eq!(
            proto::take_frame(&mut inbox).unwrap(),
            Some((Kind::StdinEof, vec![]))
        );
        assert!(inbox.is_empty());
    }
}
