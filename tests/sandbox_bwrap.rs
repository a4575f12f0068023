//! The bubblewrap backend through the library API, against the real
//! `bwrap` and the host's cgroups: an escape and abuse matrix (secrets,
//! the host's home, writes outside the workspace, the network, fork and
//! memory bombs, disk filling, processes left behind, timeouts, signals
//! ignored) where each attempt must be contained with a clear result, the
//! ordinary behaviour (stdin, env, exit codes, cwd, output cap, files in
//! the workspace), the kill paths (timeout, dropped future, destroy) and
//! reaping what a killed host left. Also the unsandboxed backend's kill
//! paths.
//!
//! Tests that need bubblewrap skip with a message when it cannot make a
//! sandbox here, and those that need cgroups when there are none; set
//! `PADDOCK_TEST_REQUIRE_SANDBOX=1` to make such a skip a failure. No
//! timing assertions: every limit is generous.

use paddock_sandbox::bwrap::{BwrapBackend, BwrapSandbox};
use paddock_sandbox::unsandboxed::UnsandboxedBackend;
use paddock_sandbox::{
    Backend, ExecOutcome, ExecSpec, OutputChunk, Sandbox, SandboxConfig, SandboxError,
    SandboxLimits, SandboxSpec,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tempfile::TempDir;
use tokio::sync::mpsc;

use crate::common::outside;

/// A marker unique to this process and call, to find processes by.
fn marker() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{}{:04}",
        std::process::id() % 100_000,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn skip(what: &str) {
    if std::env::var_os("PADDOCK_TEST_REQUIRE_SANDBOX").is_some() {
        panic!("required but unavailable: {what}");
    }
    eprintln!("SKIPPED: {what}");
}

/// A backend whose probe passed, or `None` (skipped).
async fn backend(host_id: &str) -> Option<BwrapBackend> {
    let backend = BwrapBackend::new(&SandboxConfig::default(), host_id);
    match backend.probe().await {
        Ok(()) => Some(backend),
        Err(e) => {
            skip(&format!("bubblewrap cannot make sandboxes here: {e}"));
            None
        }
    }
}

struct Fixture {
    backend: BwrapBackend,
    sandbox: Arc<BwrapSandbox>,
    workspace: TempDir,
}

impl Fixture {
    async fn new(name: &str, limits: SandboxLimits, network: bool) -> Option<Fixture> {
        let backend = backend(&format!("t{}-{name}", std::process::id())).await?;
        let workspace = tempfile::tempdir().unwrap();
        let sandbox = backend
            .create_sandbox(SandboxSpec {
                agent_id: name.into(),
                workspace: workspace.path().to_path_buf(),
                network: network.into(),
                read_only: Vec::new(),
                limits,
                environment: None,
                egress: None,
            })
            .await
            .unwrap();
        Some(Fixture {
            backend,
            sandbox: Arc::new(sandbox),
            workspace,
        })
    }

    fn has_cgroups(&self, test: &str) -> bool {
        if self.sandbox.cgroup_name().is_some() {
            return true;
        }
        skip(&format!(
            "{test}: no cgroups for sandboxes on this host ({})",
            self.backend
                .cgroups()
                .unavailable_reason()
                .unwrap_or("cgroup creation failed")
        ));
        false
    }

    async fn run(&self, script: &str) -> ExecOutcome {
        self.exec(bash(script)).await.unwrap()
    }

    async fn exec(&self, cmd: ExecSpec) -> Result<ExecOutcome, SandboxError> {
        self.sandbox.exec(cmd, None).await
    }
}

fn bash(script: &str) -> ExecSpec {
    ExecSpec {
        argv: vec!["bash".into(), "-c".into(), script.into()],
        cwd: "/workspace".into(),
        env: Vec::new(),
        timeout: Duration::from_secs(120),
        max_output_bytes: 1 << 20,
        stdin: None,
        background: false,
    }
}

fn with_timeout(mut cmd: ExecSpec, secs: u64) -> ExecSpec {
    cmd.timeout = Duration::from_secs(secs);
    cmd
}

/// Pids of live (non-zombie) host processes whose command line holds `marker`.
fn processes_with(marker: &str) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if pid == std::process::id() {
            continue;
        }
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if !cmdline.is_empty() && String::from_utf8_lossy(&cmdline).contains(marker) {
            found.push(pid);
        }
    }
    found
}

/// Waits (generously) for every process holding `marker` to be gone.
async fn all_gone(marker: &str) -> bool {
    for _ in 0..300 {
        if processes_with(marker).is_empty() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("still alive: {:?}", processes_with(marker));
    false
}

/// Waits for a process whose command line holds `marker`. Polled, not read
/// once: while a process `exec`s, its `/proc/PID/cmdline` reads empty for a
/// moment (the new image's arguments are not set up yet), so a shell that
/// just printed and is becoming `sleep` may be missed by a single look.
async fn appears(marker: &str) -> bool {
    for _ in 0..100 {
        if !processes_with(marker).is_empty() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// Waits (generously) for a sandbox's cgroup to count no process but the
/// idle sandbox's own (a persistent jail's monitor and server; a process is
/// counted until its parent has reaped it). True without cgroups.
async fn cgroup_empties(sandbox: &BwrapSandbox) -> bool {
    for _ in 0..300 {
        match sandbox.usage() {
            Some(u) if u.pids.is_some_and(|p| p > sandbox.jail_pids()) => {}
            _ => return true,
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// Waits for a chunk containing `text` on a sink.
async fn wait_for(rx: &mut mpsc::UnboundedReceiver<OutputChunk>, text: &str) {
    let mut seen = String::new();
    while !seen.contains(text) {
        let chunk = tokio::time::timeout(Duration::from_secs(120), rx.recv())
            .await
            .expect("no output in time")
            .expect("sink closed");
        seen.push_str(&chunk.text);
    }
}

#[tokio::test]
async fn secrets_and_the_hosts_home_are_not_visible() {
    let Some(f) = Fixture::new("secrets", SandboxLimits::default(), false).await else {
        return;
    };
    for secret in [
        "/etc/shadow",
        "/etc/gshadow",
        "/etc/sudoers",
        "/etc/ssh",
        "/etc/ssl/private",
    ] {
        let o = f.run(&format!("ls -la {secret}")).await;
        assert_ne!(o.exit_code, Some(0), "{secret} is visible: {o:?}");
        assert!(o.stderr.contains("No such file"), "{secret}: {o:?}");
    }
    let mut homes = vec!["/root".to_string(), "/home".to_string()];
    homes.extend(std::env::var("HOME").ok());
    for home in homes {
        let o = f.run(&format!("ls -A {home}")).await;
        assert_ne!(o.exit_code, Some(0), "{home} is visible: {o:?}");
    }
    // What programs need is there.
    let o = f
        .run("test -r /etc/passwd && test -r /etc/ld.so.cache && id -u && echo $HOME")
        .await;
    assert_eq!(o.exit_code, Some(0), "{o:?}");
    assert_eq!(o.stdout, "1000\n/tmp\n");
}

#[tokio::test]
async fn writes_outside_the_workspace_fail_and_tmp_is_private() {
    let Some(f) = Fixture::new("writes", SandboxLimits::default(), false).await else {
        return;
    };
    for path in ["/usr/x", "/etc/x", "/x", "/bin/x", "/proc/x", "/dev/x"] {
        let o = f.run(&format!("echo x > {path}")).await;
        assert_ne!(o.exit_code, Some(0), "{path} was writable: {o:?}");
        assert!(!Path::new(path).exists(), "{path} appeared on the host");
    }
    let name = format!("paddock-private-{}", marker());
    let o = f
        .run(&format!("echo secret > /tmp/{name} && cat /tmp/{name}"))
        .await;
    assert_eq!(o.exit_code, Some(0), "{o:?}");
    assert_eq!(o.stdout, "secret\n");
    assert!(!Path::new("/tmp").join(&name).exists());
    // The sandbox's /tmp lives as long as it does (like a container's),
    // and only there: another sandbox has its own.
    let o = f.run(&format!("cat /tmp/{name}")).await;
    assert_eq!(o.stdout, "secret\n", "{o:?}");
    let Some(other) = Fixture::new("writes-2", SandboxLimits::default(), false).await else {
        return;
    };
    let o = other.run(&format!("cat /tmp/{name}")).await;
    assert_ne!(o.exit_code, Some(0), "{o:?}");
}

/// With the network granted, the outside world (a host in a network
/// namespace of the test's own) is reached, and nothing of this host: not
/// a listener on its loopback, nor on any of its other addresses, nor
/// PostgreSQL on 127.0.0.1:5432, nor the sandbox's gateway (slirp4netns,
/// the host's loopback otherwise); names resolve. Without it, nothing.
#[tokio::test]
async fn the_network_reaches_the_outside_world_never_the_host() {
    let outside = match outside::OutsideHost::start() {
        Ok(o) => o,
        Err(e) => return skip(&format!("no outside host for the network test: {e}")),
    };
    assert!(
        outside::postgres_answers(),
        "PostgreSQL does not answer on 127.0.0.1:5432 here: the test needs it"
    );
    let host = outside::Listener::any("host\n");
    let targets = outside::targets(&outside, &host);
    let probe = outside::probe_script(&targets, host.port, outside::host_gateway());

    let Some(on) = Fixture::new("net-on", SandboxLimits::default(), true).await else {
        return;
    };
    let o = on.run(&probe).await;
    eprintln!("network granted:\n{}{}", o.stdout, o.stderr);
    assert_eq!(o.exit_code, Some(0), "{o:?}");
    outside::assert_only_outside(&o.stdout, targets.len());
    // A second command (same namespace) still reaches out, and only out.
    let again = format!(
        "exec 3<>/dev/tcp/{}/{} && head -n1 <&3",
        outside.addr,
        outside.port()
    );
    let o = on.run(&again).await;
    assert_eq!(o.stdout, "outside\n", "{o:?}");
    // Names resolve (through slirp4netns's forwarder) as they do on the host.
    let name = "deb.debian.org";
    let host_resolves = std::net::ToSocketAddrs::to_socket_addrs(&(name, 443)).is_ok();
    let o = on
        .run(&format!(
            "getent ahostsv4 {name} >/dev/null && echo resolved"
        ))
        .await;
    if host_resolves {
        assert_eq!(o.stdout, "resolved\n", "{o:?}");
    } else {
        eprintln!("the host cannot resolve {name}; DNS not compared");
    }
    on.sandbox.destroy().await.unwrap();

    let Some(off) = Fixture::new("net-off", SandboxLimits::default(), false).await else {
        return;
    };
    let o = off.run(&probe).await;
    eprintln!("no network:\n{}{}", o.stdout, o.stderr);
    outside::assert_nothing_reached(&o.stdout, targets.len());
    let o = off.run("cat /proc/net/dev").await;
    assert!(
        !o.stdout.contains("eth0") && !o.stdout.contains("tap0"),
        "{o:?}"
    );

    assert!(
        outside.hits() >= 2,
        "the outside host saw {}",
        outside.hits()
    );
    assert_eq!(
        host.hits(),
        0,
        "a connection from a sandbox arrived on the host"
    );
}

/// An address the host gets after the sandbox was made (here the host's
/// side of a new outside host's link) is refused too: by the next command,
/// and by one already running (the routes are refreshed in the background).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn addresses_the_host_gets_later_are_refused_too() {
    if unsafe { libc::geteuid() } != 0 {
        return skip("adding an address to the host needs root");
    }
    let Some(f) = Fixture::new("net-later", SandboxLimits::default(), true).await else {
        return;
    };
    let host = outside::Listener::any("host\n");
    let sandbox = f.sandbox.clone();
    // Started before the address exists; connects once it does, after
    // a few refresh periods.
    let long = {
        let port = host.port;
        tokio::spawn(async move {
            let script = format!(
                "while [ ! -s /workspace/addr ]; do sleep 0.1; done; \
                 sleep {}; exec 3<>/dev/tcp/$(cat /workspace/addr)/{port} && head -n1 <&3",
                paddock_sandbox::net::REFRESH_EVERY.as_secs() * 3
            );
            sandbox.exec(bash(&script), None).await.unwrap()
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let outside = outside::OutsideHost::start().unwrap();
    let new_addr = outside.host_side;
    std::fs::write(f.workspace.path().join("addr"), new_addr.to_string()).unwrap();
    let o = long.await.unwrap();
    assert_ne!(o.exit_code, Some(0), "{o:?}");
    assert!(!o.stdout.contains("host"), "{o:?}");
    let o = f
        .run(&format!(
            "exec 3<>/dev/tcp/{new_addr}/{} && head -n1 <&3",
            host.port
        ))
        .await;
    assert_ne!(o.exit_code, Some(0), "{o:?}");
    assert!(o.stderr.contains("Permission denied"), "{o:?}");
    let o = f
        .run(&format!(
            "exec 3<>/dev/tcp/{}/{} && head -n1 <&3",
            outside.addr,
            outside.port()
        ))
        .await;
    assert_eq!(o.stdout, "outside\n", "{o:?}");
    assert_eq!(
        host.hits(),
        0,
        "a connection from the sandbox arrived on the host"
    );
}

/// Granted the network, a command cannot change its sandbox's routes (it
/// has no capability over its network namespace) nor make a namespace of
/// its own; and the sandbox's slirp4netns ends with the sandbox.
#[tokio::test]
async fn the_sandbox_cannot_undo_its_network_rules_and_they_go_with_it() {
    let Some(f) = Fixture::new("net-rules", SandboxLimits::default(), true).await else {
        return;
    };
    let o = f.run("ip route; cat /proc/self/status | grep CapEff").await;
    assert!(o.stdout.contains("prohibit 10.0.2.0/24"), "{o:?}");
    assert!(o.stdout.contains("CapEff:\t0000000000000000"), "{o:?}");
    for attempt in [
        "ip route del prohibit 10.0.2.0/24",
        "ip route add 10.0.2.2/32 dev tap0",
        "ip addr add 10.9.9.9/32 dev lo",
        "unshare --user --map-root-user --net true",
    ] {
        let o = f.run(attempt).await;
        assert_ne!(o.exit_code, Some(0), "`{attempt}` worked: {o:?}");
    }
    let o = f.run("ip route").await;
    assert!(o.stdout.contains("prohibit 10.0.2.0/24"), "{o:?}");
    let nat = f.sandbox.nat_pid().expect("its slirp4netns");
    let alive = || std::path::Path::new(&format!("/proc/{nat}")).exists();
    assert!(alive());
    f.sandbox.destroy().await.unwrap();
    for _ in 0..100 {
        if !alive() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!alive(), "slirp4netns (pid {nat}) outlived its sandbox");
}

/// Without slirp4netns, a sandbox granted the network is refused with a
/// clear error (never given the host's network); one without the network
/// is made as usual.
#[tokio::test]
async fn without_slirp4netns_the_network_is_refused() {
    let config = SandboxConfig {
        slirp4netns_path: Some("/nonexistent/slirp4netns".into()),
        ..SandboxConfig::default()
    };
    let backend = BwrapBackend::new(&config, &format!("t{}-noslirp", std::process::id()));
    if let Err(e) = backend.probe().await {
        return skip(&format!("bubblewrap cannot make sandboxes here: {e}"));
    }
    let workspace = tempfile::tempdir().unwrap();
    let spec = |network: bool| SandboxSpec {
        agent_id: "noslirp".into(),
        workspace: workspace.path().to_path_buf(),
        network: network.into(),
        read_only: Vec::new(),
        limits: SandboxLimits::default(),
        environment: None,
        egress: None,
    };
    let err = match backend.create_sandbox(spec(true)).await {
        Ok(_) => panic!("a sandbox got the network without slirp4netns"),
        Err(e) => e,
    };
    assert!(matches!(err, SandboxError::Unavailable(_)), "{err:?}");
    let text = err.to_string();
    for part in [
        "/nonexistent/slirp4netns",
        "install",
        "slirp4netns",
        "never the host",
    ] {
        assert!(text.contains(part), "{part} missing from: {text}");
    }
    let sandbox = backend.create_sandbox(spec(false)).await.unwrap();
    let o = sandbox.exec(bash("echo fine"), None).await.unwrap();
    assert_eq!(o.stdout, "fine\n");
    sandbox.destroy().await.unwrap();
}

#[tokio::test]
async fn fork_bombs_are_contained() {
    let limits = SandboxLimits {
        pids: 64,
        ..SandboxLimits::default()
    };
    let Some(f) = Fixture::new("forkbomb", limits, false).await else {
        return;
    };
    let m = marker();
    // Bounded: 200 sleepers against a limit of 64.
    let o = f
        .exec(with_timeout(
            bash(&format!(
                "for i in $(seq 200); do sleep 30.{m} & done; echo forked; wait"
            )),
            20,
        ))
        .await
        .unwrap();
    assert!(
        o.stderr.contains("Resource temporarily unavailable") || o.stderr.contains("retry"),
        "{o:?}"
    );
    assert!(all_gone(&m).await, "sleepers survived the command");
    // The real thing, cut by its timeout if it is still going.
    let o = f
        .exec(with_timeout(bash(":(){ :|:& };:; sleep 5"), 15))
        .await
        .unwrap();
    assert!(
        o.stderr.contains("Resource temporarily unavailable"),
        "{o:?}"
    );
    assert!(cgroup_empties(&f.sandbox).await, "{:?}", f.sandbox.usage());
    // The sandbox, and the host, still work.
    let o = f.run("echo alive").await;
    assert_eq!(o.stdout, "alive\n", "{o:?}");
    assert_eq!(
        std::process::Command::new("true").status().unwrap().code(),
        Some(0)
    );
}

#[tokio::test]
async fn memory_bombs_are_contained() {
    let limits = SandboxLimits {
        memory_mb: 256,
        ..SandboxLimits::default()
    };
    let Some(f) = Fixture::new("membomb", limits, false).await else {
        return;
    };
    // One process: the address-space limit.
    let o = f
        .run("python3 -c 'x = bytearray(2 << 30)'; echo rc=$?")
        .await;
    assert!(o.stderr.contains("MemoryError"), "{o:?}");
    let o = f.run("head -c 3G /dev/zero | tail; echo rc=$?").await;
    assert!(!o.stdout.contains("rc=0"), "{o:?}");
    // Many processes each under the rlimit: the cgroup's limit (no swap).
    if f.has_cgroups("memory bomb across processes") {
        let o = f
            .run(
                "for i in 1 2 3 4 5 6; do python3 -c \"import time; b = b'x' * (150 << 20); \
                 open('/workspace/held$i', 'w'); time.sleep(10)\" & done; wait; echo done",
            )
            .await;
        assert_eq!(o.stdout, "done\n", "{o:?}");
        let held = (1..=6)
            .filter(|i| f.workspace.path().join(format!("held{i}")).exists())
            .count();
        assert!(held < 6, "6 x 150 MiB fit in a 256 MiB cgroup: {o:?}");
    }
    let o = f.run("echo alive").await;
    assert_eq!(o.stdout, "alive\n");
}

#[tokio::test]
async fn disk_filling_hits_the_caps() {
    let limits = SandboxLimits {
        file_size_mb: 8,
        tmp_size_mb: 4,
        ..SandboxLimits::default()
    };
    let Some(f) = Fixture::new("disk", limits, false).await else {
        return;
    };
    let o = f
        .run("dd if=/dev/zero of=/workspace/big bs=1M count=50; echo rc=$?")
        .await;
    assert!(o.stderr.contains("File size limit exceeded"), "{o:?}");
    assert!(!o.stdout.contains("rc=0"), "{o:?}");
    let size = std::fs::metadata(f.workspace.path().join("big"))
        .unwrap()
        .len();
    assert!(size <= 8 << 20, "{size}");
    // Run directly (no shell to say it), the signal is named.
    let mut dd = bash("");
    dd.argv = [
        "dd",
        "if=/dev/zero",
        "of=/workspace/big2",
        "bs=1M",
        "count=50",
    ]
    .map(String::from)
    .to_vec();
    let o = f.exec(dd).await.unwrap();
    assert!(o.stderr.contains("SIGXFSZ"), "{o:?}");

    let o = f
        .run("dd if=/dev/zero of=/tmp/big bs=1M count=50; echo rc=$?")
        .await;
    assert!(o.stderr.contains("No space left on device"), "{o:?}");
    assert!(!o.stdout.contains("rc=0"), "{o:?}");
}

#[tokio::test]
async fn nothing_a_command_starts_outlives_it() {
    let Some(f) = Fixture::new("leftover", SandboxLimits::default(), false).await else {
        return;
    };
    let m = marker();
    let o = f
        .run(&format!("sleep 1000.{m} & nohup sleep 1000.{m} >/dev/null 2>&1 & setsid sleep 1000.{m} & echo started"))
        .await;
    assert_eq!(o.exit_code, Some(0), "{o:?}");
    assert_eq!(o.stdout, "started\n");
    assert!(!o.timed_out);
    assert!(
        all_gone(&m).await,
        "a background process survived its command"
    );
    assert!(cgroup_empties(&f.sandbox).await, "{:?}", f.sandbox.usage());
}

/// A background job of the persistent sandbox survives the foreground
/// commands that run after it (and their clean-up of what they leave), is
/// seen and signalled by them (same agent), never by another agent's
/// sandbox, and dies when its future is dropped.
#[tokio::test]
async fn background_jobs_survive_foreground_clean_up_and_stay_in_their_agent() {
    let Some(f) = Fixture::new("jobs", SandboxLimits::default(), false).await else {
        return;
    };
    let Some(other) = Fixture::new("jobs-other", SandboxLimits::default(), false).await else {
        return;
    };
    let job_m = marker();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let sandbox = f.sandbox.clone();
    let mut job = bash(&format!("sleep 1000.{job_m} & echo started; wait"));
    job.background = true;
    let job = tokio::spawn(async move { sandbox.exec(job, Some(tx)).await });
    wait_for(&mut rx, "started").await;

    // A foreground command's leftovers go; the job stays.
    let left_m = marker();
    let o = f
        .run(&format!(
            "sleep 1000.{left_m} & setsid sleep 1000.{left_m} & echo ok"
        ))
        .await;
    assert_eq!(o.stdout, "ok\n", "{o:?}");
    assert!(
        all_gone(&left_m).await,
        "a foreground command's leftover survived"
    );
    assert!(
        !processes_with(&job_m).is_empty(),
        "the background job was killed"
    );

    // The same agent sees and may signal its job; another agent does not.
    // `^sleep` (cmdline is NUL-separated): never the grep or shell itself.
    let find =
        format!("grep -l '^sleep.1000.{job_m}' /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3");
    let o = f
        .run(&format!(
            "for p in $({find}); do kill -0 $p && echo seen; done"
        ))
        .await;
    assert!(o.stdout.contains("seen"), "{o:?}");
    let o = other
        .run(&format!("{find}; ls /proc | grep -c '^[0-9]'"))
        .await;
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "another agent saw the job: {o:?}");
    let visible: u32 = lines[0].trim().parse().unwrap();
    assert!(
        visible <= 4,
        "another agent sees more than its own processes: {o:?}"
    );

    job.abort();
    let _ = job.await;
    assert!(
        all_gone(&job_m).await,
        "the job survived its dropped future"
    );
    assert!(cgroup_empties(&f.sandbox).await, "{:?}", f.sandbox.usage());
}

/// Killing the command server from outside (the jail dies with it) costs
/// nothing but the jail: the next command starts a new one and runs.
#[tokio::test]
async fn a_crashed_command_server_is_replaced() {
    let Some(f) = Fixture::new("crash", SandboxLimits::default(), false).await else {
        return;
    };
    assert_eq!(f.run("echo one").await.stdout, "one\n");
    // The server's socket is not in the jail: commands cannot reach or
    // replace it.
    let o = f
        .run("ls -a /run/paddock 2>&1; ls -l /proc/1/fd 2>&1 | grep -c socket")
        .await;
    assert!(!o.stdout.contains("cmd.sock"), "{o:?}");
    assert!(o.stdout.trim_end().ends_with('0'), "{o:?}");
    let Some(pid) = f.sandbox.server_pid().await else {
        skip("a_crashed_command_server_is_replaced: per-command mode");
        return;
    };
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    for _ in 0..100 {
        if !Path::new(&format!("/proc/{pid}")).exists()
            || std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z"))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let o = f.run("echo two").await;
    assert_eq!(o.exit_code, Some(0), "{o:?}");
    assert_eq!(o.stdout, "two\n");
    let new = f.sandbox.server_pid().await.unwrap();
    assert_ne!(new, pid);
}

#[tokio::test]
async fn a_timeout_kills_everything_and_keeps_the_output() {
    let Some(f) = Fixture::new("timeout", SandboxLimits::default(), false).await else {
        return;
    };
    let m = marker();
    let o = f
        .exec(with_timeout(
            bash(&format!("echo before; echo oops >&2; sleep 1000.{m}")),
            2,
        ))
        .await
        .unwrap();
    assert!(o.timed_out, "{o:?}");
    assert_eq!(o.exit_code, None);
    assert_eq!(o.stdout, "before\n");
    assert!(o.stderr.starts_with("oops\n"), "{o:?}");
    assert!(o.stderr.contains("timed out"), "{o:?}");
    assert!(all_gone(&m).await);

    // A child that ignores TERM and HUP, in its own session, and `tail -f`.
    let m = marker();
    let o = f
        .exec(with_timeout(
            bash(&format!(
                "trap '' TERM HUP; setsid bash -c \"trap '' TERM HUP; sleep 1000.{m}\" & \
                 tail -f /dev/null --pid=1 -s 1000.{m}"
            )),
            2,
        ))
        .await
        .unwrap();
    assert!(o.timed_out, "{o:?}");
    assert!(all_gone(&m).await, "a child ignoring TERM/HUP survived");
    // Nothing left, not even a zombie (counted by the cgroup until reaped).
    assert!(cgroup_empties(&f.sandbox).await, "{:?}", f.sandbox.usage());
}

#[tokio::test]
async fn dropping_the_future_kills_the_tree() {
    let Some(f) = Fixture::new("drop", SandboxLimits::default(), false).await else {
        return;
    };
    let m = marker();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let sandbox = f.sandbox.clone();
    let script = format!("sleep 1000.{m} & echo started; sleep 1000.{m}");
    let task = tokio::spawn(async move { sandbox.exec(bash(&script), Some(tx)).await });
    wait_for(&mut rx, "started").await;
    assert!(appears(&m).await, "the command is not running");
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    assert!(all_gone(&m).await, "the tree survived its dropped future");
    assert!(cgroup_empties(&f.sandbox).await, "{:?}", f.sandbox.usage());
}

#[tokio::test]
async fn destroy_kills_running_commands_and_refuses_new_ones() {
    let Some(f) = Fixture::new("destroy", SandboxLimits::default(), false).await else {
        return;
    };
    let m = marker();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let sandbox = f.sandbox.clone();
    let script = format!("echo started; sleep 1000.{m}");
    let task = tokio::spawn(async move { sandbox.exec(bash(&script), Some(tx)).await });
    wait_for(&mut rx, "started").await;
    f.sandbox.destroy().await.unwrap();
    let o = task.await.unwrap().unwrap();
    assert_eq!(o.exit_code, None, "{o:?}");
    assert!(o.stderr.contains("destroyed"), "{o:?}");
    assert!(all_gone(&m).await);
    assert!(matches!(
        f.exec(bash("true")).await,
        Err(SandboxError::Failed(_))
    ));
    f.sandbox.destroy().await.unwrap();
    assert_eq!(f.sandbox.usage(), None);
}

/// The sandbox's resource use, as the metrics read it, comes from its
/// cgroup: CPU time used by its commands.
#[tokio::test]
async fn resource_usage_comes_from_the_cgroup() {
    let Some(f) = Fixture::new("usage", SandboxLimits::default(), false).await else {
        return;
    };
    if !f.has_cgroups("resource usage") {
        assert_eq!(Sandbox::resource_usage(f.sandbox.as_ref()).await, None);
        return;
    }
    let o = f
        .run("i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; echo done")
        .await;
    assert_eq!(o.stdout, "done\n", "{o:?}");
    let usage = Sandbox::resource_usage(f.sandbox.as_ref())
        .await
        .expect("a sandbox with a cgroup reports its use");
    assert!(
        usage.cpu_usec.unwrap_or(0) > 10_000,
        "a busy loop used CPU: {usage:?}"
    );
    assert!(
        cgroup_empties(&f.sandbox).await,
        "nothing left running: {usage:?}"
    );
    f.sandbox.destroy().await.unwrap();
}

#[tokio::test]
async fn output_is_capped_keeping_head_and_tail() {
    let Some(f) = Fixture::new("cap", SandboxLimits::default(), false).await else {
        return;
    };
    let mut cmd = bash("seq 1 1000000; echo done >&2");
    cmd.max_output_bytes = 64 * 1024;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let o = f.sandbox.exec(cmd, Some(tx)).await.unwrap();
    assert_eq!(o.exit_code, Some(0));
    assert!(o.truncated);
    assert!(o.stdout.starts_with("1\n2\n3\n"), "{}", &o.stdout[..100]);
    assert!(o.stdout.ends_with("999999\n1000000\n"));
    assert!(o.stdout.contains("bytes of stdout cut"));
    assert!(o.stdout.len() < 70 * 1024);
    assert_eq!(o.stderr, "done\n");
    let mut streamed = 0;
    while let Ok(chunk) = rx.try_recv() {
        streamed += chunk.text.len();
    }
    assert!(streamed <= 64 * 1024 + 5, "{streamed}");
}

#[tokio::test]
async fn stdin_env_exit_codes_signals_and_cwd() {
    let Some(f) = Fixture::new("basics", SandboxLimits::default(), false).await else {
        return;
    };
    let mut cmd = bash("tr a-z A-Z");
    cmd.stdin = Some("hello\n".into());
    assert_eq!(f.exec(cmd).await.unwrap().stdout, "HELLO\n");

    let mut cmd = bash("echo \"$FOO|$HOME|$LANG|$TERM|$PATH\"; env");
    cmd.env = vec![("FOO".into(), "bar baz".into())];
    let o = f.exec(cmd).await.unwrap();
    assert!(
        o.stdout
            .starts_with("bar baz|/tmp|C.UTF-8|dumb|/usr/local/sbin:"),
        "{o:?}"
    );
    // Nothing of the host's environment (which may hold API keys).
    for line in o.stdout.lines().skip(1) {
        let name = line.split('=').next().unwrap();
        assert!(
            ["FOO", "HOME", "LANG", "TERM", "PATH", "PWD", "SHLVL", "_"].contains(&name),
            "{line}"
        );
    }

    assert_eq!(f.run("exit 42").await.exit_code, Some(42));
    let o = f.run("kill -SEGV $$").await;
    assert_eq!(o.exit_code, Some(139));
    assert!(o.stderr.contains("signal 11 (SIGSEGV"), "{o:?}");
    let mut missing = bash("");
    missing.argv = vec!["no-such-program-here".into()];
    let o = f.exec(missing).await.unwrap();
    assert_eq!(o.exit_code, Some(127), "{o:?}");

    std::fs::create_dir_all(f.workspace.path().join("sub/dir")).unwrap();
    let mut cmd = bash("pwd");
    cmd.cwd = "/workspace/sub/dir".into();
    assert_eq!(f.exec(cmd).await.unwrap().stdout, "/workspace/sub/dir\n");
    let mut cmd = bash("pwd");
    cmd.cwd = "/tmp".into();
    assert_eq!(f.exec(cmd).await.unwrap().stdout, "/tmp\n");
    for bad in [
        "/workspace/nope",
        "/etc",
        "relative",
        "/workspace/../etc",
        "/tmp/x",
    ] {
        let mut cmd = bash("pwd");
        cmd.cwd = bad.into();
        assert!(
            matches!(f.exec(cmd).await, Err(SandboxError::Invalid(_))),
            "{bad}"
        );
    }
    let mut empty = bash("");
    empty.argv.clear();
    assert!(matches!(f.exec(empty).await, Err(SandboxError::Invalid(_))));
}

#[tokio::test]
async fn files_written_in_the_workspace_are_on_the_host() {
    let Some(f) = Fixture::new("files", SandboxLimits::default(), false).await else {
        return;
    };
    std::fs::write(f.workspace.path().join("input.txt"), "from the host\n").unwrap();
    let o = f
        .run("cat input.txt; mkdir -p out/deep && printf 'made inside' > out/deep/file.txt && ls -n out/deep")
        .await;
    assert_eq!(o.exit_code, Some(0), "{o:?}");
    assert!(o.stdout.starts_with("from the host\n"));
    let written = std::fs::read_to_string(f.workspace.path().join("out/deep/file.txt")).unwrap();
    assert_eq!(written, "made inside");
}

#[tokio::test]
async fn cgroups_limit_and_measure() {
    let limits = SandboxLimits {
        memory_mb: 300,
        pids: 50,
        ..SandboxLimits::default()
    };
    let Some(f) = Fixture::new("cgroup", limits, false).await else {
        return;
    };
    if !f.has_cgroups("cgroup limits") {
        return;
    }
    let o = f
        .run("cat /sys/fs/cgroup/pids.max /sys/fs/cgroup/memory.max 2>/dev/null; cat /proc/self/cgroup | head -3; yes > /dev/null & sleep 1; kill %1")
        .await;
    assert_eq!(o.exit_code, Some(0), "{o:?}");
    let usage = f.sandbox.usage().expect("usage");
    assert!(cgroup_empties(&f.sandbox).await, "{usage:?}");
    assert!(usage.cpu_usec.is_none_or(|u| u > 0), "{usage:?}");
    assert!(usage.memory_bytes.is_some() || usage.pids.is_some());
}

#[tokio::test]
async fn a_restarted_host_reaps_what_a_killed_one_left() {
    let host_id = format!("t{}-reap", std::process::id());
    let Some(old) = backend(&host_id).await else {
        return;
    };
    let workspace = tempfile::tempdir().unwrap();
    let sandbox = old
        .create_sandbox(SandboxSpec {
            agent_id: "orphan".into(),
            workspace: workspace.path().to_path_buf(),
            network: false.into(),
            read_only: Vec::new(),
            limits: SandboxLimits::default(),
            environment: None,
            egress: None,
        })
        .await
        .unwrap();
    let Some(name) = sandbox.cgroup_name().map(str::to_string) else {
        skip("orphan reaping: no cgroups for sandboxes on this host");
        return;
    };
    // The host "dies" mid-command: neither the command's future nor the
    // sandbox is ever dropped, so nothing of ours cleans up.
    let m = marker();
    let sandbox: Arc<dyn Sandbox> = Arc::new(sandbox);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut running = sandbox.exec(
        bash(&format!("echo started; exec sleep 1000.{m}")),
        Some(tx),
    );
    tokio::select! {
        _ = &mut running => panic!("the command ended"),
        () = wait_for(&mut rx, "started") => {}
    }
    std::mem::forget(running);
    std::mem::forget(sandbox);
    assert!(appears(&m).await, "the orphan's command is not running");
    assert!(!cgroup_dirs(&name).is_empty());

    let new = BwrapBackend::new(&SandboxConfig::default(), &host_id);
    assert_eq!(new.reap_orphans().await.unwrap(), 1);
    assert!(all_gone(&m).await, "the orphan's process survived reaping");
    assert!(cgroup_dirs(&name).is_empty(), "{:?}", cgroup_dirs(&name));
    assert_eq!(new.reap_orphans().await.unwrap(), 0);
    drop(old);
}

/// Directories named `name` under /sys/fs/cgroup (a few levels deep).
fn cgroup_dirs(name: &str) -> Vec<PathBuf> {
    fn walk(dir: &Path, name: &str, depth: usize, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            if entry.file_name() == name {
                out.push(entry.path());
            } else if depth > 0 {
                walk(&entry.path(), name, depth - 1, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(Path::new("/sys/fs/cgroup"), name, 4, &mut out);
    out
}

#[tokio::test]
async fn the_probe_says_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let config = SandboxConfig {
        bwrap_path: Some(dir.path().join("missing/bwrap")),
        ..SandboxConfig::default()
    };
    let e = BwrapBackend::new(&config, "probe")
        .probe()
        .await
        .unwrap_err();
    let SandboxError::Unavailable(text) = e else {
        panic!("{e:?}")
    };
    assert!(text.contains("bubblewrap"), "{text}");
    assert!(text.contains("docker backend"), "{text}");
}

#[tokio::test]
async fn unsandboxed_runs_in_the_workspace_and_kills_its_group() {
    let backend = UnsandboxedBackend::new(&SandboxConfig::default(), "none");
    backend.probe().await.unwrap();
    let workspace = tempfile::tempdir().unwrap();
    std::fs::create_dir(workspace.path().join("sub")).unwrap();
    let sandbox = backend
        .create(SandboxSpec {
            agent_id: "none".into(),
            workspace: workspace.path().to_path_buf(),
            network: false.into(),
            read_only: Vec::new(),
            limits: SandboxLimits::default(),
            environment: None,
            egress: None,
        })
        .await
        .unwrap();
    let mut cmd = bash("pwd; echo $PADDOCK_WORKSPACE; cat");
    cmd.cwd = "/workspace/sub".into();
    cmd.stdin = Some("in".into());
    let o = sandbox.exec(cmd, None).await.unwrap();
    let real = workspace.path().join("sub");
    assert_eq!(
        o.stdout,
        format!("{}\n{}\nin", real.display(), workspace.path().display())
    );

    let m = marker();
    let o = sandbox
        .exec(bash(&format!("sleep 1000.{m} & echo started")), None)
        .await
        .unwrap();
    assert_eq!(o.stdout, "started\n");
    assert!(all_gone(&m).await, "a background process survived");

    let m = marker();
    let o = sandbox
        .exec(
            with_timeout(
                bash(&format!("trap '' TERM HUP; sleep 1000.{m}; echo never")),
                2,
            ),
            None,
        )
        .await
        .unwrap();
    assert!(o.timed_out && o.exit_code.is_none(), "{o:?}");
    assert!(all_gone(&m).await);

    let mut missing = bash("");
    missing.argv = vec!["no-such-program-here".into()];
    // 126 when a directory on PATH cannot be searched (a non-root user
    // with root's PATH), as a shell says.
    let code = sandbox.exec(missing, None).await.unwrap().exit_code;
    assert!(matches!(code, Some(126 | 127)), "{code:?}");
    sandbox.destroy().await.unwrap();
    assert!(sandbox.exec(bash("true"), None).await.is_err());
}

/// A unix-socket "proxy" on the host that answers each connection's first
/// line with `proxy got: <line>`, as the egress proxy's stand-in.
fn fake_egress_proxy(dir: &Path) -> PathBuf {
    use std::io::{BufRead, Write};
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("egress.sock");
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            std::thread::spawn(move || {
                let mut line = String::new();
                let mut reader = std::io::BufReader::new(conn.try_clone().unwrap());
                if reader.read_line(&mut line).is_ok() {
                    let _ = write!(conn, "proxy got: {line}");
                }
            });
        }
    });
    path
}

/// With an egress allow-list the jail has no route out; `127.0.0.1:3128`
/// inside is spliced byte for byte to the proxy's unix socket, and every
/// command gets the proxy variables.
#[tokio::test]
async fn the_egress_bridge_reaches_the_proxy_and_nothing_else() {
    let Some(backend) = backend(&format!("t{}-egress", std::process::id())).await else {
        return;
    };
    let workspace = tempfile::tempdir().unwrap();
    let proxy_dir = tempfile::tempdir().unwrap();
    let egress = fake_egress_proxy(proxy_dir.path());
    let sandbox = backend
        .create_sandbox(SandboxSpec {
            agent_id: "egress".into(),
            workspace: workspace.path().to_path_buf(),
            network: false.into(),
            read_only: Vec::new(),
            limits: SandboxLimits::default(),
            environment: None,
            egress: Some(egress),
        })
        .await
        .unwrap();
    let o = sandbox
        .exec(
            bash(
                "echo $HTTPS_PROXY; exec 3<>/dev/tcp/127.0.0.1/3128 && echo 'CONNECT example.org:443' >&3 && head -n1 <&3",
            ),
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        o.stdout, "http://127.0.0.1:3128\nproxy got: CONNECT example.org:443\n",
        "{o:?}"
    );
    // No other way out.
    let o = sandbox
        .exec(
            bash("exec 3<>/dev/tcp/1.1.1.1/80 && echo connected; ip route 2>/dev/null; true"),
            None,
        )
        .await
        .unwrap();
    assert!(!o.stdout.contains("connected"), "{o:?}");
    sandbox.destroy().await.unwrap();
}
