//! The bubblewrap backend: a namespace jail (system directories
//! read-only, a selective read-only `/etc`, the workspace read-write at
//! `/workspace`, a private `/tmp` and `/dev/shm` each capped at
//! `tmp_size_mb`, a read-only private `/dev`, all namespaces unshared, a
//! non-root uid inside), with rlimits and, when the host allows them,
//! cgroup limits ([`super::cgroup`]).
//!
//! **Persistent** (`[sandbox] mode = "persistent"`, the default): one jail
//! per agent, started when the sandbox is made, whose pid 1 is
//! `paddock-sandboxd` (bound read-only at `/run/paddock-bin/sandboxd`). Its
//! listening socket is made by the host in a private run directory and
//! passed as descriptor 3, so nothing of it is in the jail. Each command is
//! one connection ([`super::persistent`]): the server forks it in a session
//! of its own with the rlimits (`RLIMIT_NPROC` counted inside the user
//! namespace), kills that session at the timeout, on destruction or when
//! the future is dropped, and when a foreground command ends kills what it
//! left (background jobs, [`ExecSpec::background`], are spared). `/tmp`
//! lives as long as the jail. The jail sits in one child of the sandbox's
//! cgroup. A jail whose server died (the pid namespace ends with its pid 1)
//! is replaced on the next command.
//!
//! **Per command** (`mode = "per-command"`, kept to compare): a fresh jail
//! per command, whose init (pid 1, a shell running the command as its
//! child) exits with the command, after which the kernel kills everything
//! left in the namespace; each command joins a cgroup of its own. A
//! timeout or cancellation kills that init (the outer `bwrap` then reaps
//! it and exits, so no zombie is left behind).
//!
//! Without the network, the jail's network namespace is its own and empty
//! (loopback only); so it is with an egress allow-list
//! ([`SandboxSpec::egress`]), where the proxy's socket is bound at
//! `/run/paddock/egress.sock` and the server bridges `127.0.0.1:3128` to it.
//! With the network, the sandbox has a network namespace of its own for
//! its whole life ([`super::net::SandboxNet`]: outbound NAT by slirp4netns,
//! the host's loopback and addresses refused), which each jail is started
//! in and keeps; the host's network is never shared.
//!
//! `--die-with-parent` takes the jail down if Paddock dies; it follows the
//! *thread* that forked `bwrap`, so jails are forked on the runtime's
//! worker threads (never a caller's blocking thread), and a restarted host
//! removes the cgroups and run directories a killed one left.

use super::cgroup::{Cgroups, ResourceUsage, SandboxCgroup};
use super::net::{NetPrograms, SandboxNet};
use super::process::{self, Rlimits, Run};
use super::{
    Backend, BackendKind, ExecOutcome, ExecSpec, Network, OutputSink, Sandbox, SandboxConfig,
    SandboxError, SandboxLimits, SandboxSpec,
};
use crate::exec::BoxFuture;
use crate::persistent::{self, RunDir};
use crate::{SandboxMode, cgroup::CommandCgroup};
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// `PATH` inside the sandbox.
const SANDBOX_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// Top-level system directories that are bound read-only (or recreated as
/// symlinks where the host has merged them into `/usr`).
const SYSTEM_DIRS: [&str; 6] = ["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"];
/// What programs need from `/etc`, bound read-only when present. Never the
/// secrets: no `shadow`, `gshadow`, `sudoers`, `ssh`, `ssl/private`, no
/// package-manager credentials (`npmrc`, `pip.conf`), no `environment`.
const ETC_FILES: &[&str] = &[
    "passwd",
    "group",
    "hosts",
    "nsswitch.conf",
    "host.conf",
    "gai.conf",
    "services",
    "protocols",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "ssl/certs",
    "ssl/openssl.cnf",
    "ca-certificates",
    "ca-certificates.conf",
    "pki/ca-trust",
    "pki/tls/certs",
    "pki/tls/openssl.cnf",
    "crypto-policies",
    "alternatives",
    "localtime",
    "timezone",
    "profile",
    "profile.d",
    "bash.bashrc",
    "bashrc",
    "inputrc",
    "gitconfig",
    "mime.types",
    "os-release",
    "lsb-release",
    "debian_version",
    "locale.alias",
    "locale.conf",
    "terminfo",
    "magic",
];
/// What to do when bubblewrap cannot make a sandbox.
const HINTS: &str = "install the `bubblewrap` package (or set [sandbox] bwrap_path); if it is \
     installed but cannot create namespaces, enable unprivileged user namespaces \
     (`sysctl kernel.unprivileged_userns_clone=1` on Debian-like kernels; on Ubuntu 24.04+ \
     `sysctl kernel.apparmor_restrict_unprivileged_userns=0` or an AppArmor profile that \
     allows `userns` for bwrap; `user.max_user_namespaces` must be above 0), or use the \
     docker backend";

/// How `/bin`, `/lib`… look on this host: a symlink into `/usr` (merged
/// `/usr`) or a directory of its own.
#[derive(Clone, Debug, PartialEq, Eq)]
enum SystemDir {
    Symlink { path: String, target: PathBuf },
    Dir(String),
}

/// The host's system layout, read once.
#[derive(Clone, Debug, PartialEq, Eq)]
struct HostLayout {
    system: Vec<SystemDir>,
}

impl HostLayout {
    /// Reads the layout of the host under `root` (`/` but in tests).
    fn scan(root: &Path) -> HostLayout {
        let system = SYSTEM_DIRS
            .iter()
            .filter_map(|dir| {
                let host = root.join(dir.trim_start_matches('/'));
                let meta = std::fs::symlink_metadata(&host).ok()?;
                if meta.file_type().is_symlink() {
                    let target = std::fs::read_link(&host).ok()?;
                    Some(SystemDir::Symlink {
                        path: dir.to_string(),
                        target,
                    })
                } else if meta.is_dir() {
                    Some(SystemDir::Dir(dir.to_string()))
                } else {
                    None
                }
            })
            .collect();
        HostLayout { system }
    }
}

/// Everything a jail is built from that does not change per command.
#[derive(Debug)]
struct Jailer {
    bwrap: PathBuf,
    /// `sandbox.slirp4netns_path`.
    slirp4netns: Option<PathBuf>,
    layout: HostLayout,
    cgroups: Cgroups,
    /// Whether Paddock runs as root (then `--cap-drop ALL` too).
    as_root: bool,
    uid: u32,
    gid: u32,
    mode: SandboxMode,
    /// The command server, for persistent sandboxes.
    sandboxd: Result<PathBuf, SandboxError>,
    host_id: String,
}

/// What a persistent jail runs instead of one command: `paddock-sandboxd`
/// as its pid 1 (its listening socket is passed as a descriptor, so nothing
/// of it is in the jail) and, with an allow-list, the egress proxy's socket.
#[derive(Debug)]
struct Server<'a> {
    /// The static server binary on the host (bound read-only).
    sandboxd: &'a Path,
    /// The egress proxy's socket on the host, at `/run/paddock/egress.sock`.
    egress: Option<&'a Path>,
}

/// One command's jail (or a persistent jail's), as bwrap arguments.
#[derive(Debug)]
struct Jail<'a> {
    layout: &'a HostLayout,
    /// `--cap-drop ALL`: bwrap keeps its capabilities in the jail when it
    /// runs as root, in the host's user namespace (Paddock as root) or in
    /// a sandbox's own (with the network).
    drop_caps: bool,
    uid: u32,
    gid: u32,
    workspace: &'a Path,
    /// Host directories bound read-only at the same path.
    read_only: &'a [PathBuf],
    /// With the network: the jail keeps the network namespace bwrap is
    /// started in (the sandbox's own, never the host's), with this file as
    /// its `/etc/resolv.conf`.
    network: Option<&'a Path>,
    limits: &'a SandboxLimits,
    /// The agent's prepared environment (its variables and mounts).
    environment: Option<&'a super::environment::PreparedEnvironment>,
    /// Absolute, inside the sandbox.
    cwd: &'a str,
    env: &'a [(String, String)],
    argv: &'a [String],
    /// A persistent jail: the server runs in it instead of `argv`.
    server: Option<Server<'a>>,
}

impl Jail<'_> {
    /// The arguments of `bwrap`, the command included.
    fn args(&self) -> Vec<OsString> {
        fn push<S: AsRef<OsStr> + ?Sized>(a: &mut Vec<OsString>, items: &[&S]) {
            a.extend(items.iter().map(|i| i.as_ref().to_os_string()));
        }
        let mut a = Vec::new();
        push(
            &mut a,
            &[
                "--die-with-parent",
                "--as-pid-1",
                "--new-session",
                "--unshare-all",
                "--unshare-user",
                "--disable-userns",
            ],
        );
        if self.network.is_some() {
            push(&mut a, &["--share-net"]);
        }
        let (uid, gid) = (self.uid.to_string(), self.gid.to_string());
        push(
            &mut a,
            &["--uid", &uid, "--gid", &gid, "--hostname", "paddock"],
        );
        if self.drop_caps {
            push(&mut a, &["--cap-drop", "ALL"]);
        }
        push(&mut a, &["--ro-bind", "/usr", "/usr"]);
        for dir in &self.layout.system {
            match dir {
                SystemDir::Symlink { path, target } => {
                    push(
                        &mut a,
                        &[OsStr::new("--symlink"), target.as_os_str(), path.as_ref()],
                    );
                }
                SystemDir::Dir(path) => push(&mut a, &["--ro-bind", path, path]),
            }
        }
        for file in ETC_FILES {
            let path = format!("/etc/{file}");
            push(&mut a, &["--ro-bind-try", &path, &path]);
        }
        if let Some(resolv) = self.network {
            push(
                &mut a,
                &[
                    OsStr::new("--ro-bind"),
                    resolv.as_os_str(),
                    OsStr::new("/etc/resolv.conf"),
                ],
            );
        }
        push(&mut a, &["--proc", "/proc", "--dev", "/dev"]);
        let tmp_size = self
            .limits
            .tmp_size_mb
            .saturating_mul(1024 * 1024)
            .to_string();
        for tmpfs in ["/tmp", "/dev/shm"] {
            push(
                &mut a,
                &["--perms", "1777", "--size", &tmp_size, "--tmpfs", tmpfs],
            );
        }
        push(
            &mut a,
            &[
                OsStr::new("--bind"),
                self.workspace.as_os_str(),
                OsStr::new("/workspace"),
            ],
        );
        for dir in self.read_only {
            push(
                &mut a,
                &[OsStr::new("--ro-bind"), dir.as_os_str(), dir.as_os_str()],
            );
        }
        // An environment's directories (its setup results at
        // /opt/paddock-env: writable only while its setup runs).
        for m in self
            .environment
            .map(|e| e.mounts.as_slice())
            .unwrap_or_default()
        {
            let how = if m.writable { "--bind" } else { "--ro-bind" };
            push(
                &mut a,
                &[OsStr::new(how), m.source.as_os_str(), OsStr::new(&m.target)],
            );
        }
        if let Some(server) = &self.server {
            push(
                &mut a,
                &[
                    OsStr::new("--ro-bind"),
                    server.sandboxd.as_os_str(),
                    OsStr::new(persistent::SANDBOXD_IN_SANDBOX),
                ],
            );
            if let Some(egress) = server.egress {
                push(
                    &mut a,
                    &[
                        OsStr::new("--bind"),
                        egress.as_os_str(),
                        OsStr::new(persistent::EGRESS_IN_SANDBOX),
                    ],
                );
            }
        }
        // /dev is a private tmpfs: read-only so that it cannot hold files
        // past the /tmp cap (its device nodes stay usable).
        push(&mut a, &["--remount-ro", "/dev", "--remount-ro", "/"]);
        push(&mut a, &["--chdir", self.cwd, "--clearenv"]);
        let defaults = [
            ("PATH", SANDBOX_PATH),
            ("HOME", "/tmp"),
            ("LANG", "C.UTF-8"),
            ("TERM", "dumb"),
        ];
        let prepared = self
            .environment
            .map(|e| e.env.as_slice())
            .unwrap_or_default();
        let proxy = match &self.server {
            Some(Server {
                egress: Some(_), ..
            }) => crate::egress::proxy_env(),
            _ => Vec::new(),
        };
        let env = defaults
            .into_iter()
            .chain(prepared.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .chain(proxy.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .chain(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        for (k, v) in env {
            push(&mut a, &["--setenv", k, v]);
        }
        if let Some(server) = &self.server {
            // The server is the jail's pid 1 and forks each command; it sets
            // the per-process limits (RLIMIT_NPROC too, counted inside the
            // user namespace) in each command's child.
            push(&mut a, &["--", persistent::SANDBOXD_IN_SANDBOX]);
            let egress = server.egress.is_some();
            a.extend(
                persistent::server_args(persistent::Listen::Fd, self.limits, egress)
                    .into_iter()
                    .map(OsString::from),
            );
            return a;
        }
        // The jail's init is a shell that runs the command as its child
        // (pid 2, with ordinary signal handling) and exits with its status;
        // the namespace, and everything left in it, ends with the shell.
        // RLIMIT_NPROC is set here, inside the user namespace, where it
        // counts only the sandbox's processes (see process::Rlimits for why
        // not outside); bash spells it -u, dash -p.
        let n = self.limits.pids;
        let script = if n > 0 {
            format!("ulimit -u {n} 2>/dev/null || ulimit -p {n} 2>/dev/null; \"$@\"")
        } else {
            "\"$@\"".to_string()
        };
        push(&mut a, &["--", "/bin/sh", "-c", &script, "sh"]);
        a.extend(self.argv.iter().map(OsString::from));
        a
    }
}

/// Makes bubblewrap sandboxes.
pub struct BwrapBackend {
    jailer: Arc<Jailer>,
    limits: SandboxLimits,
}

impl BwrapBackend {
    /// A backend for this configuration; `host_id` names this data dir's
    /// host (cgroups are named after it so a restarted host can reap them).
    /// Finds bwrap, the host's layout and the usable cgroups (logged once).
    pub fn new(config: &SandboxConfig, host_id: &str) -> BwrapBackend {
        let bwrap = config
            .bwrap_path
            .clone()
            .or_else(|| find_in_path("bwrap"))
            .unwrap_or_else(|| PathBuf::from("bwrap"));
        // The uid inside is what commands see; on the host they act as the
        // user running Paddock (user namespace), whatever it is. `auto` (the
        // default, which the docker backend reads as the workspace owner)
        // is 1000:1000 here.
        let (uid, gid) = match config.user.as_str() {
            "auto" => (1000, 1000),
            user => parse_user(user).unwrap_or_else(|| {
                tracing::warn!(user = %user,
                    "[sandbox] user is not a non-root `uid:gid`; bubblewrap sandboxes run as 1000:1000");
                (1000, 1000)
            }),
        };
        BwrapBackend {
            jailer: Arc::new(Jailer {
                bwrap,
                slirp4netns: config.slirp4netns_path.clone(),
                layout: HostLayout::scan(Path::new("/")),
                cgroups: Cgroups::detect(host_id),
                // SAFETY: geteuid cannot fail.
                as_root: unsafe { libc::geteuid() } == 0,
                uid,
                gid,
                mode: config.mode,
                sandboxd: match config.mode {
                    SandboxMode::Persistent => persistent::find_sandboxd(config),
                    SandboxMode::PerCommand => Err(SandboxError::Invalid(
                        "per-command mode has no server".into(),
                    )),
                },
                host_id: host_id.to_string(),
            }),
            limits: config.limits.clone(),
        }
    }

    /// The cgroups sandboxes get on this host.
    pub fn cgroups(&self) -> &Cgroups {
        &self.jailer.cgroups
    }

    /// Makes one agent's sandbox (what [`Backend::create`] returns, with
    /// its concrete type: [`BwrapSandbox::usage`]). With the network, its
    /// network namespace and slirp4netns too; when they cannot be had (e.g.
    /// slirp4netns is not installed) the sandbox is refused, never given
    /// the host's network.
    pub async fn create_sandbox(&self, spec: SandboxSpec) -> Result<BwrapSandbox, SandboxError> {
        if !spec.workspace.is_dir() {
            return Err(SandboxError::Invalid(format!(
                "the workspace {} is not a directory",
                spec.workspace.display()
            )));
        }
        if spec.egress.is_some() && self.jailer.mode != SandboxMode::Persistent {
            return Err(SandboxError::Invalid(
                "a network allow-list reaches the egress proxy through the sandbox's command \
                 server: it needs [sandbox] mode = \"persistent\""
                    .into(),
            ));
        }
        let net = if spec.network == Network::Open && spec.egress.is_none() {
            let programs = NetPrograms::find(self.jailer.slirp4netns.as_deref())?;
            Some(SandboxNet::create(&programs, &spec.agent_id).await?)
        } else {
            None
        };
        let cgroup = match self.jailer.cgroups.create(&spec.agent_id, &spec.limits) {
            Ok(group) => group,
            Err(e) => {
                tracing::warn!(agent = %spec.agent_id, error = %e,
                    "could not make the sandbox's cgroup; its commands run with rlimits only");
                None
            }
        };
        let sandbox = BwrapSandbox {
            spec,
            jailer: self.jailer.clone(),
            net,
            cgroup,
            cancel: CancellationToken::new(),
            running: tokio::sync::RwLock::new(()),
            server: tokio::sync::Mutex::new(None),
        };
        if self.jailer.mode == SandboxMode::Persistent {
            sandbox.server().await?;
        }
        Ok(sandbox)
    }

    async fn probe_sandbox(&self) -> Result<(), SandboxError> {
        let j = &self.jailer;
        let unavailable = |why: String| SandboxError::Unavailable(format!("{why}; {HINTS}"));
        let dir = tempfile::tempdir()
            .map_err(|e| SandboxError::Failed(format!("cannot make a probe directory: {e}")))?;
        let jail = Jail {
            layout: &j.layout,
            drop_caps: j.as_root,
            uid: j.uid,
            gid: j.gid,
            workspace: dir.path(),
            read_only: &[],
            network: None,
            limits: &self.limits,
            environment: None,
            cwd: "/workspace",
            env: &[],
            argv: &["true".to_string()],
            server: None,
        };
        if j.mode == SandboxMode::Persistent {
            j.sandboxd.as_ref().map_err(Clone::clone)?;
        }
        let outcome = process::run(Run {
            command: bwrap_command(&j.bwrap, jail.args()),
            stdin: None,
            timeout: Duration::from_secs(60),
            max_output_bytes: 16 * 1024,
            sink: None,
            rlimits: Some(Rlimits::for_limits(&self.limits)),
            cgroup: None,
            join: None,
            cancel: None,
            jailed: true,
        })
        .await
        .map_err(|e| spawn_error(&j.bwrap, e))?;
        if outcome.exit_code == Some(0) {
            return Ok(());
        }
        let said = outcome.stderr.trim();
        Err(unavailable(format!(
            "bubblewrap ({}) cannot make a sandbox on this host: {}",
            j.bwrap.display(),
            if said.is_empty() { "no message" } else { said }
        )))
    }
}

impl Backend for BwrapBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Bwrap
    }
    fn probe(&self) -> BoxFuture<'_, Result<(), SandboxError>> {
        Box::pin(self.probe_sandbox())
    }
    fn create(&self, spec: SandboxSpec) -> BoxFuture<'_, Result<Arc<dyn Sandbox>, SandboxError>> {
        Box::pin(async move { Ok(Arc::new(self.create_sandbox(spec).await?) as Arc<dyn Sandbox>) })
    }
    fn reap_orphans(&self) -> BoxFuture<'_, Result<usize, SandboxError>> {
        Box::pin(async move {
            // A killed host's jails died with it (`--die-with-parent`);
            // their cgroups and run directories are left.
            RunDir::reap_orphans(&self.jailer.host_id);
            Ok(self.jailer.cgroups.reap_orphans().await)
        })
    }
}

/// One agent's bubblewrap sandbox: a workspace, limits, (when the host
/// allows) a cgroup every command joins and (when granted) its network.
pub struct BwrapSandbox {
    spec: SandboxSpec,
    jailer: Arc<Jailer>,
    /// Present exactly when the network was granted.
    net: Option<Arc<SandboxNet>>,
    cgroup: Option<SandboxCgroup>,
    /// Cancelled by `destroy`: running commands are killed, new ones refused.
    cancel: CancellationToken,
    /// Held (shared) by every running command; `destroy` takes it to wait
    /// for them to be gone before it removes the cgroup.
    running: tokio::sync::RwLock<()>,
    /// The persistent jail and its command server, while it runs.
    server: tokio::sync::Mutex<Option<JailServer>>,
}

/// A persistent jail: `bwrap` (the monitor, our child) whose pid 1 is
/// `paddock-sandboxd`. Dropping it kills the jail.
struct JailServer {
    monitor: tokio::process::Child,
    run: RunDir,
    /// The jail's cgroup (a child of the sandbox's), killed with it.
    group: Option<CommandCgroup>,
}

impl JailServer {
    /// The server's socket on the host.
    fn socket(&self) -> PathBuf {
        self.run.socket()
    }

    /// Whether the jail still runs.
    fn alive(&mut self) -> bool {
        matches!(self.monitor.try_wait(), Ok(None))
    }

    /// Kills the server (the jail's pid 1: the pid namespace and everything
    /// in it go with it), lets the monitor reap it and exit, then kills
    /// what is left.
    async fn stop(mut self) {
        self.kill_jail();
        let _ = tokio::time::timeout(Duration::from_secs(3), self.monitor.wait()).await;
        let _ = self.monitor.start_kill();
        let _ = self.monitor.wait().await;
        if let Some(group) = self.group.take() {
            group.remove().await;
        }
    }

    fn kill_jail(&self) {
        if let Some(pid) = self.monitor.id() {
            for child in process::children_of(pid as libc::pid_t) {
                // SAFETY: kill(2) has no memory-safety preconditions.
                unsafe { libc::kill(child, libc::SIGKILL) };
            }
        }
    }
}

impl Drop for JailServer {
    fn drop(&mut self) {
        // The monitor (kill_on_drop) and the cgroup go when dropped.
        self.kill_jail();
    }
}

impl BwrapSandbox {
    /// Current resource use of all its commands (from its cgroup; `None`
    /// without one).
    pub fn usage(&self) -> Option<ResourceUsage> {
        self.cgroup.as_ref()?.usage()
    }

    /// The process id of its slirp4netns (with the network, while it runs).
    pub fn nat_pid(&self) -> Option<u32> {
        self.net.as_ref()?.nat_pid()
    }

    /// How many tasks the idle sandbox itself holds in its cgroup: none
    /// per command; a persistent jail's monitor and its server's threads
    /// (the main one, the reaper, and the egress bridge with an allow-list).
    pub fn jail_pids(&self) -> u64 {
        match self.jailer.mode {
            SandboxMode::PerCommand => 0,
            SandboxMode::Persistent => 3 + u64::from(self.spec.egress.is_some()),
        }
    }

    /// The host pid of its persistent jail's command server (the jail's
    /// pid 1), while one runs.
    pub async fn server_pid(&self) -> Option<u32> {
        let slot = self.server.lock().await;
        let monitor = slot.as_ref()?.monitor.id()?;
        process::children_of(monitor as libc::pid_t)
            .first()
            .map(|&p| p as u32)
    }

    /// Its cgroup's name, when it has one.
    pub fn cgroup_name(&self) -> Option<&str> {
        self.cgroup.as_ref().map(SandboxCgroup::name)
    }

    async fn run(
        &self,
        cmd: ExecSpec,
        sink: Option<OutputSink>,
    ) -> Result<ExecOutcome, SandboxError> {
        let _running = self.running.read().await;
        if self.cancel.is_cancelled() {
            return Err(SandboxError::Failed("this sandbox was destroyed".into()));
        }
        process::validate(&cmd)?;
        let cwd = match process::sandbox_path(&cmd.cwd)? {
            process::SandboxPath::Workspace(rel) => {
                if !self.spec.workspace.join(&rel).is_dir() {
                    return Err(SandboxError::Invalid(format!(
                        "the working directory {} does not exist in the sandbox",
                        cmd.cwd
                    )));
                }
                if rel.as_os_str().is_empty() {
                    PathBuf::from("/workspace")
                } else {
                    Path::new("/workspace").join(rel)
                }
            }
            process::SandboxPath::Tmp(rel) if rel.as_os_str().is_empty() => PathBuf::from("/tmp"),
            // A persistent sandbox's /tmp lives as long as it does: its
            // server checks the directory.
            process::SandboxPath::Tmp(rel) if self.jailer.mode == SandboxMode::Persistent => {
                Path::new("/tmp").join(rel)
            }
            process::SandboxPath::Tmp(_) => {
                return Err(SandboxError::Invalid(format!(
                    "the working directory {} does not exist in the sandbox (each command \
                     gets a fresh, empty /tmp)",
                    cmd.cwd
                )));
            }
        };
        let j = &self.jailer;
        let cwd = cwd.to_string_lossy();
        if j.mode == SandboxMode::Persistent {
            let cmd = ExecSpec {
                cwd: cwd.into_owned(),
                ..cmd
            };
            return self.run_persistent(cmd, sink).await;
        }
        // With the network, the routes must follow the host's addresses
        // before anything runs.
        let resolv = match &self.net {
            Some(net) => {
                net.refresh().await?;
                Some(net.resolv_conf().map_err(|e| {
                    SandboxError::Failed(format!("cannot write the sandbox's resolv.conf: {e}"))
                })?)
            }
            None => None,
        };
        let jail = Jail {
            layout: &j.layout,
            drop_caps: j.as_root || self.net.is_some(),
            uid: j.uid,
            gid: j.gid,
            workspace: &self.spec.workspace,
            read_only: &self.spec.read_only,
            network: resolv.as_deref(),
            limits: &self.spec.limits,
            environment: self.spec.environment.as_ref(),
            cwd: &cwd,
            env: &cmd.env,
            argv: &cmd.argv,
            server: None,
        };
        let cgroup = match &self.cgroup {
            Some(group) => Some(group.command().map_err(|e| {
                SandboxError::Failed(format!("could not make the command's cgroup: {e}"))
            })?),
            None => None,
        };
        let mut outcome = process::run(Run {
            command: bwrap_command(&j.bwrap, jail.args()),
            stdin: cmd.stdin,
            timeout: cmd.timeout,
            max_output_bytes: cmd.max_output_bytes,
            sink,
            rlimits: Some(Rlimits::for_limits(&self.spec.limits)),
            cgroup,
            join: self.net.as_ref().map(|net| net.join()),
            cancel: Some(self.cancel.clone()),
            jailed: true,
        })
        .await
        .map_err(|e| spawn_error(&j.bwrap, e))?;
        // bwrap reports a command killed by signal N as exit status 128 + N.
        if let Some(code) = outcome.exit_code
            && code > 128
            && !process::signal_name(code - 128).is_empty()
        {
            if !outcome.stderr.is_empty() && !outcome.stderr.ends_with('\n') {
                outcome.stderr.push('\n');
            }
            outcome.stderr.push_str(&format!(
                "[exit status {code}: probably killed by signal {}{}]",
                code - 128,
                process::signal_name(code - 128)
            ));
        }
        Ok(outcome)
    }

    /// Runs a command through the persistent jail's server, starting the
    /// jail when it is not running (first use, or its server died).
    async fn run_persistent(
        &self,
        cmd: ExecSpec,
        sink: Option<OutputSink>,
    ) -> Result<ExecOutcome, SandboxError> {
        if let Some(net) = &self.net {
            net.refresh().await?;
        }
        for attempt in 1..=2 {
            let socket = self.server().await?;
            match persistent::run(&socket, None, &cmd, sink.clone(), &self.cancel).await {
                Ok(outcome) => return Ok(outcome),
                Err(persistent::RunError::Sandbox(e)) => return Err(e),
                Err(persistent::RunError::NotRunning(why)) => {
                    self.forget_server(&socket).await;
                    if attempt == 2 {
                        return Err(SandboxError::Failed(why));
                    }
                }
                Err(persistent::RunError::Lost(why)) => {
                    self.forget_server(&socket).await;
                    return Err(SandboxError::Failed(format!(
                        "{why}; a new sandbox is started for the next command"
                    )));
                }
            }
        }
        Err(SandboxError::Failed(
            "the sandbox's command server cannot be reached".into(),
        ))
    }

    /// The socket of the running jail's server, starting the jail first
    /// when there is none (or it died).
    async fn server(&self) -> Result<PathBuf, SandboxError> {
        let mut slot = self.server.lock().await;
        if self.cancel.is_cancelled() {
            return Err(SandboxError::Failed("this sandbox was destroyed".into()));
        }
        if let Some(server) = slot.as_mut() {
            if server.alive() {
                return Ok(server.socket());
            }
            tracing::warn!(agent = %self.spec.agent_id, "the sandbox's command server stopped; starting a new one");
            if let Some(old) = slot.take() {
                old.stop().await;
            }
        }
        let server = self.start_server().await?;
        let socket = server.socket();
        *slot = Some(server);
        Ok(socket)
    }

    /// Drops the jail whose server listens on `socket` (it stopped
    /// answering), if it is still the current one.
    async fn forget_server(&self, socket: &Path) {
        let mut slot = self.server.lock().await;
        if slot.as_ref().is_some_and(|s| s.socket() == socket)
            && let Some(old) = slot.take()
        {
            old.stop().await;
        }
    }

    /// Starts the persistent jail with `paddock-sandboxd` as its pid 1 and
    /// waits until it listens.
    async fn start_server(&self) -> Result<JailServer, SandboxError> {
        let j = &self.jailer;
        let sandboxd = j.sandboxd.as_ref().map_err(Clone::clone)?;
        let run = RunDir::create(&j.host_id, &self.spec.agent_id)?;
        let resolv = match &self.net {
            Some(net) => Some(net.resolv_conf().map_err(|e| {
                SandboxError::Failed(format!("cannot write the sandbox's resolv.conf: {e}"))
            })?),
            None => None,
        };
        let jail = Jail {
            layout: &j.layout,
            drop_caps: j.as_root || self.net.is_some(),
            uid: j.uid,
            gid: j.gid,
            workspace: &self.spec.workspace,
            read_only: &self.spec.read_only,
            network: resolv.as_deref(),
            limits: &self.spec.limits,
            environment: self.spec.environment.as_ref(),
            cwd: "/workspace",
            env: &[],
            argv: &[],
            server: Some(Server {
                sandboxd,
                egress: self.spec.egress.as_deref(),
            }),
        };
        let group = match &self.cgroup {
            Some(group) => Some(group.command().map_err(|e| {
                SandboxError::Failed(format!("could not make the jail's cgroup: {e}"))
            })?),
            None => None,
        };
        let mut command = bwrap_command(&j.bwrap, jail.args());
        let join = self.net.as_ref().map(|net| net.join());
        let procs = process::prepare(&mut command, group.as_ref(), None, join)
            .map_err(|e| SandboxError::Failed(format!("cannot prepare the jail: {e}")))?;
        // The server's socket is made here, in the host's private run
        // directory, and handed to it as descriptor 3: a command in the
        // jail can neither reach nor replace it.
        let listener = std::os::unix::net::UnixListener::bind(run.socket()).map_err(|e| {
            SandboxError::Failed(format!("cannot make the sandbox's command socket: {e}"))
        })?;
        let listen_fd = std::os::fd::AsRawFd::as_raw_fd(&listener);
        // SAFETY: the hook runs after `prepare`'s (which used its own
        // descriptors) and only calls dup2/fcntl, async-signal-safe.
        unsafe {
            use std::os::unix::process::CommandExt;
            command.pre_exec(move || {
                let target = persistent::LISTEN_FD;
                if listen_fd == target {
                    if libc::fcntl(target, libc::F_SETFD, 0) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                } else if libc::dup2(listen_fd, target) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        command
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut command = tokio::process::Command::from(command);
        command.kill_on_drop(true);
        // `--die-with-parent` follows the thread that forks bwrap: fork on
        // one of the runtime's worker threads, never on a caller's thread
        // that may end first (a plugin call's blocking thread).
        let spawned = tokio::spawn(async move {
            let child = command.spawn();
            drop(procs);
            drop(listener);
            child
        })
        .await
        .map_err(|e| SandboxError::Failed(format!("cannot start the jail: {e}")))?;
        let mut monitor = spawned.map_err(|e| spawn_error(&j.bwrap, e))?;
        let mut server = JailServer {
            run,
            group,
            monitor: {
                let stdout = monitor.stdout.take();
                let stderr = monitor.stderr.take();
                let ready = match stdout {
                    Some(mut out) => {
                        let r = persistent::wait_ready(&mut out).await;
                        // Kept open: the server's stdout is never read again.
                        tokio::spawn(async move {
                            let mut sink = tokio::io::sink();
                            let _ = tokio::io::copy(&mut out, &mut sink).await;
                        });
                        r
                    }
                    None => Err("no stdout".into()),
                };
                if let Err(why) = ready {
                    let mut said = String::new();
                    if let Some(mut err) = stderr {
                        use tokio::io::AsyncReadExt;
                        let _ = monitor.start_kill();
                        let _ = tokio::time::timeout(
                            Duration::from_secs(2),
                            err.read_to_string(&mut said),
                        )
                        .await;
                    }
                    let _ = monitor.kill().await;
                    return Err(SandboxError::Unavailable(format!(
                        "the sandbox's command server did not start ({why}): {}; {HINTS}",
                        said.trim()
                    )));
                }
                if let Some(err) = stderr {
                    let agent = self.spec.agent_id.clone();
                    tokio::spawn(async move {
                        use tokio::io::AsyncBufReadExt;
                        let mut lines = tokio::io::BufReader::new(err).lines();
                        while let Ok(Some(line)) = lines.next_line().await {
                            tracing::warn!(agent = %agent, "sandbox: {line}");
                        }
                    });
                }
                monitor
            },
        };
        tracing::debug!(agent = %self.spec.agent_id, pid = ?server.monitor.id(), alive = server.alive(), "persistent jail started");
        Ok(server)
    }

    async fn teardown(&self) -> Result<(), SandboxError> {
        self.cancel.cancel();
        // Running commands stop at once; waiting for them lets each jail's
        // monitor reap its jail (the cgroup kill below is the second net).
        let _ = tokio::time::timeout(Duration::from_secs(10), self.running.write()).await;
        if let Some(server) = self.server.lock().await.take() {
            server.stop().await;
        }
        if let Some(net) = &self.net {
            net.close().await;
        }
        if let Some(group) = &self.cgroup {
            group.destroy().await.map_err(|e| {
                SandboxError::Failed(format!("could not remove the sandbox's cgroup: {e}"))
            })?;
        }
        Ok(())
    }
}

impl Sandbox for BwrapSandbox {
    fn spec(&self) -> &SandboxSpec {
        &self.spec
    }
    fn exec(
        &self,
        cmd: ExecSpec,
        sink: Option<OutputSink>,
    ) -> BoxFuture<'_, Result<ExecOutcome, SandboxError>> {
        Box::pin(self.run(cmd, sink))
    }
    fn destroy(&self) -> BoxFuture<'_, Result<(), SandboxError>> {
        Box::pin(self.teardown())
    }
    fn resource_usage(&self) -> BoxFuture<'_, Option<ResourceUsage>> {
        Box::pin(async move { self.usage() })
    }
}

impl Drop for BwrapSandbox {
    /// A sandbox dropped without `destroy` still kills its commands (its
    /// cgroup goes with it).
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// The `bwrap` process: no environment of ours (the jail sets its own) and
/// `/` as its working directory.
fn bwrap_command(bwrap: &Path, args: Vec<OsString>) -> std::process::Command {
    let mut c = std::process::Command::new(bwrap);
    c.args(args).env_clear().current_dir("/");
    c
}

fn spawn_error(bwrap: &Path, e: std::io::Error) -> SandboxError {
    if e.kind() == std::io::ErrorKind::NotFound || !bwrap.is_file() {
        SandboxError::Unavailable(format!(
            "bubblewrap was not found ({}); {HINTS}",
            bwrap.display()
        ))
    } else {
        SandboxError::Failed(format!("could not start {}: {e}", bwrap.display()))
    }
}

/// A program on `PATH`, as an absolute path.
fn find_in_path(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// `uid:gid`, neither 0.
fn parse_user(user: &str) -> Option<(u32, u32)> {
    let (u, g) = user.split_once(':')?;
    let (u, g) = (u.trim().parse().ok()?, g.trim().parse().ok()?);
    (u != 0 && g != 0).then_some((u, g))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args_of(network: Option<&Path>, drop_caps: bool, pids: u64) -> Vec<String> {
        let layout = HostLayout {
            system: vec![
                SystemDir::Symlink {
                    path: "/bin".into(),
                    target: "usr/bin".into(),
                },
                SystemDir::Dir("/lib".into()),
            ],
        };
        let limits = SandboxLimits {
            tmp_size_mb: 8,
            pids,
            ..SandboxLimits::default()
        };
        let env = [("FOO".to_string(), "bar baz".to_string())];
        let argv = ["echo".to_string(), "hi".to_string()];
        Jail {
            layout: &layout,
            drop_caps,
            uid: 1000,
            gid: 1001,
            workspace: Path::new("/srv/ws"),
            read_only: &[],
            network,
            limits: &limits,
            environment: None,
            cwd: "/workspace/sub",
            env: &env,
            argv: &argv,
            server: None,
        }
        .args()
        .into_iter()
        .map(|a| a.into_string().unwrap())
        .collect()
    }

    fn has(args: &[String], seq: &[&str]) -> bool {
        args.windows(seq.len()).any(|w| w == seq)
    }

    #[test]
    fn the_jail_unshares_everything_and_binds_only_what_it_should() {
        let a = args_of(None, true, 64);
        for seq in [
            &["--unshare-all", "--unshare-user", "--disable-userns"][..],
            &["--die-with-parent", "--as-pid-1", "--new-session"],
            &["--uid", "1000", "--gid", "1001"],
            &["--cap-drop", "ALL"],
            &["--ro-bind", "/usr", "/usr"],
            &["--symlink", "usr/bin", "/bin"],
            &["--ro-bind", "/lib", "/lib"],
            &["--ro-bind-try", "/etc/passwd", "/etc/passwd"],
            &["--perms", "1777", "--size", "8388608", "--tmpfs", "/tmp"],
            &["--proc", "/proc", "--dev", "/dev"],
            &["--bind", "/srv/ws", "/workspace"],
            &["--remount-ro", "/dev", "--remount-ro", "/"],
            &["--chdir", "/workspace/sub", "--clearenv"],
            &["--setenv", "HOME", "/tmp"],
            &["--setenv", "FOO", "bar baz"],
        ] {
            assert!(has(&a, seq), "{seq:?} missing from {a:?}");
        }
        assert!(!a.iter().any(|x| x == "--share-net"));
        for secret in [
            "shadow",
            "gshadow",
            "sudoers",
            "ssh",
            "private",
            "resolv.conf",
        ] {
            assert!(!a.iter().any(|x| x.contains(secret)), "{secret} in {a:?}");
        }
        assert!(
            !a.iter()
                .any(|x| x.starts_with("/root") || x.starts_with("/home"))
        );
        // The command comes last, run by the jail's init shell after the
        // in-namespace NPROC limit.
        let tail = &a[a.iter().position(|x| x == "--").unwrap() + 1..];
        assert_eq!(tail[0], "/bin/sh");
        assert_eq!(
            tail[2],
            "ulimit -u 64 2>/dev/null || ulimit -p 64 2>/dev/null; \"$@\""
        );
        assert_eq!(&tail[3..], ["sh", "echo", "hi"]);
    }

    #[test]
    fn network_and_user_variants() {
        let a = args_of(Some(Path::new("/run/x/resolv.conf")), false, 0);
        // The jail keeps the namespace bwrap starts in: the sandbox's own.
        assert!(has(&a, &["--unshare-all", "--unshare-user"]));
        assert!(has(&a, &["--share-net"]));
        assert!(has(
            &a,
            &["--ro-bind", "/run/x/resolv.conf", "/etc/resolv.conf"]
        ));
        // Never the host's resolver (it may be on the host's loopback).
        assert!(!has(
            &a,
            &["--ro-bind-try", "/etc/resolv.conf", "/etc/resolv.conf"]
        ));
        assert!(!a.iter().any(|x| x == "--cap-drop"));
        let tail = &a[a.iter().position(|x| x == "--").unwrap() + 1..];
        assert_eq!(tail, ["/bin/sh", "-c", "\"$@\"", "sh", "echo", "hi"]);
    }

    #[test]
    fn reads_the_host_layout() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("usr")).unwrap();
        std::fs::create_dir(root.path().join("sbin")).unwrap();
        std::os::unix::fs::symlink("usr/bin", root.path().join("bin")).unwrap();
        let layout = HostLayout::scan(root.path());
        assert_eq!(
            layout.system,
            vec![
                SystemDir::Symlink {
                    path: "/bin".into(),
                    target: "usr/bin".into()
                },
                SystemDir::Dir("/sbin".into()),
            ]
        );
    }

    #[test]
    fn users() {
        assert_eq!(parse_user("1000:1000"), Some((1000, 1000)));
        assert_eq!(parse_user("0:0"), None);
        assert_eq!(parse_user("nobody"), None);
    }
}
