//! The Docker sandbox backend, for real, against Podman's Docker-compatible
//! API: a private Podman service and image store under the cargo target dir
//! (`<target>/podman`, kept between runs), the image built locally by
//! `scripts/sandbox-image.sh`, then the escape/abuse matrix.
//!
//! Podman must be installed (`scripts/setup-test.sh` installs it); the tests
//! fail, not skip, without it.

use crate::common;
use crate::common::outside;

use common::podman::{containers_of, engine};
use paddock_sandbox::docker::{DockerBackend, LABEL_AGENT, LABEL_HOST, LABEL_SANDBOX};
use paddock_sandbox::{
    Backend, ExecOutcome, ExecSpec, OutputChunk, Sandbox, SandboxConfig, SandboxError,
    SandboxLimits, SandboxSpec, StreamKind,
};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn config() -> SandboxConfig {
    SandboxConfig {
        docker_host: Some(engine().endpoint.clone()),
        ..SandboxConfig::default()
    }
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{:08x}", rand::random::<u32>())
}

async fn backend(host_id: &str) -> DockerBackend {
    connect(&config(), host_id).await
}

/// Connects, retrying: `connect` gives an engine two seconds to answer,
/// which a loaded two-core machine (a fork bomb in a parallel test) can
/// exceed.
async fn connect(config: &SandboxConfig, host_id: &str) -> DockerBackend {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match DockerBackend::connect(config, host_id).await {
            Ok(backend) => return backend,
            Err(e) if attempt < 10 => eprintln!("connect attempt {attempt}: {e}"),
            Err(e) => panic!("cannot connect to the podman service: {e}"),
        }
    }
}

fn limits() -> SandboxLimits {
    SandboxLimits {
        memory_mb: 512,
        cpus: 1.0,
        pids: 128,
        file_size_mb: 8,
        tmp_size_mb: 16,
        cpu_time_secs: 120,
    }
}

/// A workspace owned by uid 1000 (when the tests run as root).
fn workspace() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("paddock-ws-")
        .tempdir()
        .unwrap();
    if unsafe { libc::getuid() } == 0 {
        std::os::unix::fs::chown(dir.path(), Some(1000), Some(1000)).unwrap();
    }
    dir
}

struct Fixture {
    sandbox: Arc<dyn Sandbox>,
    workspace: tempfile::TempDir,
    _backend: DockerBackend,
}

impl Fixture {
    async fn new(network: bool, limits: SandboxLimits) -> Fixture {
        Fixture::with_read_only(network, limits, Vec::new()).await
    }

    async fn with_read_only(
        network: bool,
        limits: SandboxLimits,
        read_only: Vec<std::path::PathBuf>,
    ) -> Fixture {
        let backend = backend(&unique("t")).await;
        let workspace = workspace();
        let sandbox = backend
            .create(SandboxSpec {
                agent_id: unique("agent"),
                workspace: workspace.path().to_path_buf(),
                network: network.into(),
                read_only,
                limits,
                environment: None,
                egress: None,
            })
            .await
            .expect("create the sandbox");
        Fixture {
            sandbox,
            workspace,
            _backend: backend,
        }
    }

    async fn sh(&self, script: &str) -> ExecOutcome {
        self.sandbox
            .exec(sh(script), None)
            .await
            .unwrap_or_else(|e| panic!("`{script}` failed to run: {e}"))
    }

    async fn destroy(self) {
        self.sandbox.destroy().await.expect("destroy");
    }
}

fn sh(script: &str) -> ExecSpec {
    ExecSpec {
        argv: vec!["sh".into(), "-c".into(), script.into()],
        cwd: "/workspace".into(),
        env: vec![],
        timeout: Duration::from_secs(120),
        max_output_bytes: 64 * 1024,
        stdin: None,
        background: false,
    }
}

/// The command lines of every process in the sandbox.
async fn processes(f: &Fixture) -> String {
    let out = f.sh("ps -eo pid,ppid,sid,args").await;
    assert_eq!(out.exit_code, Some(0), "{out:?}");
    out.stdout
}

/// Waits (generously) until `pred` holds for the process list.
async fn wait_processes(f: &Fixture, what: &str, pred: impl Fn(&str) -> bool) -> String {
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        let ps = processes(f).await;
        if pred(&ps) {
            return ps;
        }
        assert!(Instant::now() < until, "never {what}; processes:\n{ps}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_commands_as_asked() {
    let f = Fixture::new(false, limits()).await;

    // Exit codes, both streams.
    let out = f.sh("echo out; echo err >&2; exit 3").await;
    assert_eq!(out.exit_code, Some(3), "{out:?}");
    assert_eq!(out.stdout, "out\n");
    assert_eq!(out.stderr, "err\n");
    assert!(!out.timed_out && !out.truncated);
    assert_eq!(f.sh("true").await.exit_code, Some(0));
    assert_eq!(f.sh("kill -9 $$").await.exit_code, Some(137));

    // Argv is not re-parsed by a shell.
    let out = f
        .sandbox
        .exec(
            ExecSpec {
                argv: vec!["printf".into(), "%s|".into(), "a b".into(), "$HOME".into()],
                ..sh("")
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(out.stdout, "a b|$HOME|");

    // Environment, identity, privileges.
    let out = f
        .sandbox
        .exec(
            ExecSpec {
                env: vec![("GREETING".into(), "hello there".into())],
                ..sh("echo \"$GREETING\"; echo $HOME; id -u; id -g; \
                      grep -E '^(NoNewPrivs|CapEff|CapBnd)' /proc/self/status")
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(out.exit_code, Some(0), "{out:?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "hello there");
    assert_eq!(lines[1], "/tmp");
    assert_eq!(lines[2], "1000", "commands run as the workspace's owner");
    assert_eq!(lines[3], "1000");
    assert!(out.stdout.contains("CapEff:\t0000000000000000"), "{out:?}");
    assert!(out.stdout.contains("CapBnd:\t0000000000000000"), "{out:?}");
    assert!(out.stdout.contains("NoNewPrivs:\t1"), "{out:?}");

    // Stdin, small and larger than a pipe buffer.
    let out = f
        .sandbox
        .exec(
            ExecSpec {
                stdin: Some("line one\nline two\n".into()),
                ..sh("cat")
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(out.stdout, "line one\nline two\n");
    let big = "x".repeat(300_000);
    let out = f
        .sandbox
        .exec(
            ExecSpec {
                stdin: Some(big),
                ..sh("wc -c")
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(out.stdout.trim(), "300000");
    // No stdin given: it is empty.
    let out = f.sh("cat; echo end").await;
    assert_eq!(out.stdout, "end\n");

    // Working directory.
    let out = f
        .sandbox
        .exec(
            ExecSpec {
                cwd: "/tmp".into(),
                ..sh("pwd")
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(out.stdout, "/tmp\n");
    f.sh("mkdir -p sub/dir").await;
    let out = f
        .sandbox
        .exec(
            ExecSpec {
                cwd: "/workspace/sub/dir".into(),
                ..sh("pwd")
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(out.stdout, "/workspace/sub/dir\n");
    let err = f
        .sandbox
        .exec(
            ExecSpec {
                cwd: "/nowhere".into(),
                ..sh("pwd")
            },
            None,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SandboxError::Invalid(m) if m.contains("/nowhere")),
        "{err:?}"
    );
    let err = f
        .sandbox
        .exec(
            ExecSpec {
                argv: vec!["/no/such/program".into()],
                ..sh("")
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(err.exit_code, Some(127), "{err:?}");

    // Files written in /workspace show on the host, owned by the user.
    let out = f
        .sh("echo from-the-sandbox > made-inside.txt && ls -ln made-inside.txt")
        .await;
    assert_eq!(out.exit_code, Some(0), "{out:?}");
    let path = f.workspace.path().join("made-inside.txt");
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "from-the-sandbox\n"
    );
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::metadata(&path).unwrap().uid(), 1000);
    // … and files from the host show inside.
    std::fs::write(f.workspace.path().join("from-host.txt"), "host\n").unwrap();
    assert_eq!(f.sh("cat from-host.txt").await.stdout, "host\n");

    f.destroy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_is_capped_and_streamed() {
    let f = Fixture::new(false, limits()).await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<OutputChunk>();
    let out = f
        .sandbox
        .exec(
            ExecSpec {
                max_output_bytes: 1000,
                ..sh("seq 1 100000; echo done >&2")
            },
            Some(tx),
        )
        .await
        .unwrap();
    assert_eq!(out.exit_code, Some(0));
    assert!(out.truncated);
    assert!(out.stdout.starts_with("1\n2\n3\n"), "{}", out.stdout);
    assert!(out.stdout.ends_with("99999\n100000\n"), "{}", out.stdout);
    assert!(out.stdout.contains("bytes of stdout cut"), "{}", out.stdout);
    assert!(out.stdout.len() < 1200);
    assert_eq!(out.stderr, "done\n");
    let (mut streamed_out, mut streamed_err) = (String::new(), String::new());
    while let Ok(chunk) = rx.try_recv() {
        match chunk.stream {
            StreamKind::Stdout => streamed_out.push_str(&chunk.text),
            StreamKind::Stderr => streamed_err.push_str(&chunk.text),
        }
    }
    assert_eq!(
        streamed_out.len(),
        1000,
        "the sink gets the first cap bytes"
    );
    assert!(streamed_out.starts_with("1\n2\n3\n"));
    assert_eq!(streamed_err, "done\n");
    f.destroy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_system_is_contained() {
    let f = Fixture::new(false, limits()).await;

    // Secrets of the image: not readable by the non-root user.
    let out = f.sh("cat /etc/shadow").await;
    assert_ne!(out.exit_code, Some(0));
    assert!(out.stderr.contains("Permission denied"), "{out:?}");

    // The host's files: only the workspace is mounted. A world-readable
    // file outside it does not exist inside; neither the host's home nor
    // any other host directory is a mount point.
    let outside = tempfile::Builder::new()
        .prefix("paddock-secret-")
        .tempdir_in("/var/tmp")
        .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(outside.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let secret = outside.path().join("secret.txt");
    std::fs::write(&secret, "host secret\n").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = f
        .sh(&format!(
            "cat '{}'; cut -d' ' -f2 /proc/mounts",
            secret.display()
        ))
        .await;
    assert!(!out.stdout.contains("host secret"), "{out:?}");
    assert!(out.stderr.contains("No such file"), "{out:?}");
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    let mounts: Vec<&str> = out.stdout.lines().collect();
    assert!(mounts.contains(&"/workspace"), "{mounts:?}");
    assert!(!mounts.contains(&home.as_str()), "{mounts:?}");
    for m in &mounts {
        assert!(
            [
                "/",
                "/workspace",
                "/tmp",
                "/run",
                "/var/tmp",
                "/etc/hosts",
                "/etc/hostname",
                "/etc/resolv.conf",
                "/etc/passwd",
                "/etc/group",
                "/run/.containerenv",
                "/run/podman-init",
                // The command server (read-only) and its socket's directory.
                "/run/paddock-bin/sandboxd",
                "/run/paddock",
            ]
            .contains(m)
                || m.starts_with("/proc")
                || m.starts_with("/sys")
                || m.starts_with("/dev"),
            "unexpected mount {m}: {mounts:?}"
        );
    }
    let out = f.sh(&format!("ls -d '{home}'/* 2>&1; echo $HOME")).await;
    assert!(out.stdout.ends_with("/tmp\n"), "{out:?}");

    // Writes outside /workspace and /tmp fail: the root file system is
    // read-only.
    for path in ["/usr/x", "/etc/x", "/x", "/var/tmp/x", "/run/x", "/root/x"] {
        let out = f.sh(&format!("echo no > {path}")).await;
        assert_ne!(out.exit_code, Some(0), "{path}: {out:?}");
        assert!(
            out.stderr.contains("Read-only file system")
                || out.stderr.contains("Permission denied"),
            "{path}: {out:?}"
        );
    }
    let out = f
        .sh("echo yes > /tmp/x && cat /tmp/x && printf '#!/bin/sh\\necho ran\\n' > /tmp/t.sh && chmod +x /tmp/t.sh && /tmp/t.sh")
        .await;
    assert_eq!(out.exit_code, Some(0), "{out:?}");
    assert_eq!(out.stdout, "yes\nran\n", "/tmp is writable and allows exec");
    f.destroy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disk_limits_hold() {
    let f = Fixture::new(false, limits()).await;
    // One file past file_size_mb (8 MiB).
    let out = f.sh("head -c 20M /dev/zero > big; echo status $?").await;
    assert!(
        out.stderr.contains("File size limit exceeded") || out.stdout.contains("status 153"),
        "{out:?}"
    );
    let size = std::fs::metadata(f.workspace.path().join("big"))
        .unwrap()
        .len();
    assert!(size <= 8 * 1024 * 1024, "{size}");
    // Several files past the 16 MiB of /tmp.
    let out = f
        .sh("for i in 1 2 3 4 5; do head -c 6M /dev/zero > /tmp/f$i || exit 7; done")
        .await;
    assert_eq!(out.exit_code, Some(7), "{out:?}");
    assert!(out.stderr.contains("No space left on device"), "{out:?}");
    let out = f.sh("rm -f /tmp/f*; echo fine").await;
    assert_eq!(out.stdout, "fine\n");
    f.destroy().await;
}

fn outside_host() -> outside::OutsideHost {
    outside::OutsideHost::start()
        .unwrap_or_else(|e| panic!("the network tests need an outside host: {e}"))
}

/// With the network granted, the outside world (a host in a network
/// namespace of the test's own, reached through the bridge and the host's
/// NAT) is reached, and nothing of this host: not a listener on its
/// loopback, nor on any of its addresses, nor the container's gateway (the
/// host's side of the bridge), nor PostgreSQL; names resolve. Without it,
/// nothing, and no interface but loopback.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_network_reaches_the_outside_world_never_the_host() {
    let outside = outside_host();
    assert!(
        outside::postgres_answers(),
        "PostgreSQL does not answer on 127.0.0.1:5432 here: the test needs it"
    );
    let host = outside::Listener::any("host\n");
    let targets = outside::targets(&outside, &host);
    let probe = outside::probe_script(&targets, host.port, outside::host_gateway());

    let f = Fixture::new(true, limits()).await;
    let out = f.sh(&probe).await;
    eprintln!("network granted:\n{}{}", out.stdout, out.stderr);
    assert_eq!(out.exit_code, Some(0), "{out:?}");
    outside::assert_only_outside(&out.stdout, targets.len());
    let name = "deb.debian.org";
    if std::net::ToSocketAddrs::to_socket_addrs(&(name, 443)).is_ok() {
        let out = f
            .sh(&format!(
                "getent ahostsv4 {name} >/dev/null && echo resolved"
            ))
            .await;
        assert_eq!(out.stdout, "resolved\n", "{out:?}");
    } else {
        eprintln!("the host cannot resolve {name}; DNS not compared");
    }
    let out = f.sh("cat /proc/sys/net/ipv6/conf/all/disable_ipv6").await;
    assert_eq!(out.stdout, "1\n", "IPv6 is off: {out:?}");
    f.destroy().await;

    let f = Fixture::new(false, limits()).await;
    let out = f.sh(&probe).await;
    eprintln!("no network:\n{}{}", out.stdout, out.stderr);
    outside::assert_nothing_reached(&out.stdout, targets.len());
    let out = f.sh("cat /proc/net/dev").await;
    let interfaces: Vec<&str> = out
        .stdout
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next())
        .map(str::trim)
        .collect();
    assert_eq!(interfaces, vec!["lo"], "no interface but loopback");
    f.destroy().await;

    assert_eq!(outside.hits(), 1);
    assert_eq!(
        host.hits(),
        0,
        "a connection from a sandbox arrived on the host"
    );
}

/// The commands cannot lift the routes (no capability), and an address the
/// host gets after the container started (the host's side of a new
/// outside host's link) is refused too: by the next command and by one
/// already running. Another sandbox on the same bridge is out of reach.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_routes_hold_and_follow_the_hosts_addresses() {
    let f = Fixture::new(true, limits()).await;
    let host = outside::Listener::any("host\n");
    let out = f.sh("ip -4 route; grep CapEff /proc/self/status").await;
    assert!(out.stdout.contains("prohibit"), "{out:?}");
    assert!(out.stdout.contains("CapEff:\t0000000000000000"), "{out:?}");
    let gateway = out
        .stdout
        .split_whitespace()
        .skip_while(|w| *w != "via")
        .nth(1)
        .expect("a default route")
        .to_string();
    for attempt in [
        format!("ip route del prohibit {gateway}"),
        "ip route flush type prohibit".to_string(),
        "ip addr add 10.9.9.9/32 dev lo".to_string(),
    ] {
        let out = f.sh(&attempt).await;
        assert_ne!(out.exit_code, Some(0), "`{attempt}` worked: {out:?}");
    }
    let running = {
        let sandbox = f.sandbox.clone();
        let port = host.port;
        tokio::spawn(async move {
            let script = format!(
                "while [ ! -s /workspace/addr ]; do sleep 0.1; done; sleep {}; \
                 python3 -c 'import socket,sys; print(socket.create_connection((sys.argv[1], {port}), timeout=5).recv(9))' \
                 $(cat /workspace/addr)",
                paddock_sandbox::net::REFRESH_EVERY.as_secs() * 3
            );
            sandbox.exec(sh(&script), None).await.unwrap()
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let outside = outside_host();
    let addr = outside.host_side.to_string();
    let path = f.workspace.path().join("addr");
    std::fs::write(&path, &addr).unwrap();
    let out = running.await.unwrap();
    assert_ne!(out.exit_code, Some(0), "{out:?}");
    assert!(out.stderr.contains("Permission denied"), "{out:?}");
    let out = f
        .sh(&format!(
            "python3 -c 'import socket; socket.create_connection((\"{addr}\", {}), timeout=5)'",
            host.port
        ))
        .await;
    assert!(out.stderr.contains("Permission denied"), "{out:?}");
    let out = f
        .sh(&format!(
            "python3 -c 'import socket; print(socket.create_connection((\"{}\", {}), timeout=5).recv(9))'",
            outside.addr,
            outside.port()
        ))
        .await;
    assert_eq!(out.stdout, "b'outside\\n'\n", "{out:?}");

    // Another agent's network-enabled sandbox on the same bridge, with a
    // listener: out of this one's reach.
    let other = Fixture::new(true, limits()).await;
    let mut job = sh("python3 -c 'import socket\n\
        s = socket.socket(); s.bind((\"0.0.0.0\", 7000)); s.listen()\n\
        while True: s.accept()[0].sendall(b\"other\\n\")' >/dev/null 2>&1 &");
    job.background = true;
    other.sandbox.exec(job, None).await.unwrap();
    let out = other.sh("ip -4 -o addr show eth0").await;
    let other_ip = out
        .stdout
        .split_whitespace()
        .skip_while(|w| *w != "inet")
        .nth(1)
        .and_then(|a| a.split('/').next())
        .unwrap_or_else(|| panic!("{out:?}"))
        .to_string();
    // (The host cannot check it: the sandbox refuses the gateway, which is
    // where the host's connections come from.)
    let out = other
        .sh("for i in $(seq 100); do python3 -c 'import socket; \
             print(socket.create_connection((\"127.0.0.1\", 7000)).recv(6))' && exit; \
             sleep 0.1; done; exit 1")
        .await;
    assert_eq!(out.stdout, "b'other\\n'\n", "{out:?}");
    let out = f
        .sh(&format!(
            "python3 -c 'import socket; socket.create_connection((\"{other_ip}\", 7000), timeout=5)'"
        ))
        .await;
    assert!(out.stderr.contains("Permission denied"), "{out:?}");
    other.destroy().await;
    f.destroy().await;
    assert_eq!(
        host.hits(),
        0,
        "a connection from the sandbox arrived on the host"
    );
}

/// An image without `ip` cannot be set up to keep the host out: a sandbox
/// granted the network is refused with a clear error and its container
/// removed; one without the network still works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_without_ip_gets_no_network() {
    let engine = engine();
    let image = "localhost/paddock-sandbox-noip:test";
    let podman = |args: &[&str]| {
        let out = Command::new("podman")
            .args(args)
            .envs(engine.env.iter().cloned())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "podman {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let maker = podman(&[
        "create",
        "--user",
        "0:0",
        "paddock-sandbox:latest",
        "sh",
        "-c",
        "rm -f /usr/bin/ip /usr/sbin/ip /bin/ip /sbin/ip",
    ]);
    podman(&["start", "--attach", &maker]);
    podman(&["commit", "-q", &maker, image]);
    podman(&["rm", "-f", &maker]);

    let config = SandboxConfig {
        image: image.into(),
        ..config()
    };
    let host_id = unique("noip");
    let backend = connect(&config, &host_id).await;
    let workspace = workspace();
    let spec = |network: bool| SandboxSpec {
        agent_id: unique("agent"),
        workspace: workspace.path().to_path_buf(),
        network: network.into(),
        read_only: Vec::new(),
        limits: limits(),
        environment: None,
        egress: None,
    };
    let err = match backend.create(spec(true)).await {
        Ok(_) => panic!("a network-enabled sandbox was made from an image without ip"),
        Err(e) => e,
    };
    assert!(matches!(err, SandboxError::Unavailable(_)), "{err:?}");
    for part in ["has no `ip`", "iproute2", image] {
        assert!(err.to_string().contains(part), "{part} missing from: {err}");
    }
    let left = containers_of(&[format!("{LABEL_HOST}={host_id}")]).await;
    assert!(left.is_empty(), "containers left: {left:?}");
    let sandbox = backend.create(spec(false)).await.unwrap();
    let out = sandbox.exec(sh("echo fine"), None).await.unwrap();
    assert_eq!(out.stdout, "fine\n");
    sandbox.destroy().await.unwrap();
    podman(&["rmi", image]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fork_bomb_is_contained() {
    let f = Fixture::new(
        false,
        SandboxLimits {
            pids: 64,
            ..limits()
        },
    )
    .await;
    let out = f
        .sandbox
        .exec(
            ExecSpec {
                timeout: Duration::from_secs(20),
                ..sh("bomb() { bomb | bomb & }; bomb; sleep 5; echo survived")
            },
            None,
        )
        .await
        .unwrap();
    eprintln!(
        "fork bomb: exit {:?}, timed out {}, stderr {} bytes",
        out.exit_code,
        out.timed_out,
        out.stderr.len()
    );
    assert!(
        out.timed_out || out.stderr.contains("Cannot fork"),
        "the pids limit was hit: {out:?}"
    );
    // Usable afterwards, with nothing of the bomb left.
    let ps = wait_processes(&f, "the bomb is gone", |ps| ps.lines().count() < 8).await;
    assert!(!ps.contains("bomb"), "{ps}");
    assert_eq!(f.sh("echo usable").await.stdout, "usable\n");
    f.destroy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_bomb_is_contained() {
    let f = Fixture::new(
        false,
        SandboxLimits {
            memory_mb: 256,
            ..limits()
        },
    )
    .await;
    let out = f
        .sh("python3 -c 'x = []\nwhile True: x.append(bytearray(16 * 2**20))'")
        .await;
    eprintln!(
        "memory bomb: exit {:?}, stderr {:?}",
        out.exit_code,
        out.stderr.lines().last()
    );
    assert_ne!(out.exit_code, Some(0), "{out:?}");
    assert!(
        out.exit_code == Some(137) || out.exit_code.is_none() || out.stderr.contains("MemoryError"),
        "{out:?}"
    );
    assert_eq!(f.sh("echo usable").await.stdout, "usable\n");
    // A dead container is replaced on the next command.
    let ids = containers_of(&[format!("{LABEL_AGENT}={}", f.sandbox.spec().agent_id)]).await;
    assert_eq!(ids.len(), 1);
    let out = Command::new("podman")
        .args(["rm", "-f", "-t", "0", &ids[0]])
        .envs(engine().env.iter().cloned())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let out = f.sh("echo again").await;
    assert_eq!(out.stdout, "again\n", "{out:?}");
    f.destroy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_outlives_its_command() {
    let f = Fixture::new(false, limits()).await;
    // Left behind, in its own session too, with TERM ignored.
    let out = f
        .sh("sleep 1001 & setsid sh -c 'trap \"\" TERM; sleep 1002' & nohup sleep 1003 >/dev/null 2>&1 & echo started")
        .await;
    assert_eq!(out.stdout, "started\n", "{out:?}");
    let ps = processes(&f).await;
    for left in ["sleep 1001", "sleep 1002", "sleep 1003"] {
        assert!(!ps.contains(left), "{left} outlived its command:\n{ps}");
    }
    f.destroy().await;
}

/// The engine's stats: memory, processes and CPU time of the container.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resource_usage_comes_from_the_engine() {
    let f = Fixture::new(false, limits()).await;
    // Busy for a moment, then a process left running to count.
    let out = f
        .sh("i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; echo done")
        .await;
    assert_eq!(out.stdout, "done\n", "{out:?}");
    let usage = f
        .sandbox
        .resource_usage()
        .await
        .expect("stats of a running container");
    assert!(usage.memory_bytes.unwrap_or(0) > 0, "{usage:?}");
    assert!(usage.pids.unwrap_or(0) >= 1, "{usage:?}");
    assert!(
        usage.cpu_usec.unwrap_or(0) > 10_000,
        "a busy loop used CPU: {usage:?}"
    );
    f.destroy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_kill_the_whole_tree() {
    let f = Fixture::new(false, limits()).await;
    let out = f
        .sandbox
        .exec(
            ExecSpec {
                timeout: Duration::from_secs(3),
                ..sh("echo before; echo err-before >&2; sleep 1000")
            },
            None,
        )
        .await
        .unwrap();
    assert!(out.timed_out, "{out:?}");
    assert_eq!(out.exit_code, None);
    assert_eq!(out.stdout, "before\n");
    assert_eq!(
        out.stderr,
        "err-before\n[timed out after 3s: killed with everything it started]"
    );

    let out = f
        .sandbox
        .exec(
            ExecSpec {
                timeout: Duration::from_secs(3),
                ..sh("trap '' TERM INT HUP; echo stubborn; (trap '' TERM; sleep 1001) & sleep 1002")
            },
            None,
        )
        .await
        .unwrap();
    assert!(out.timed_out, "{out:?}");
    assert_eq!(out.exit_code, None);
    assert_eq!(out.stdout, "stubborn\n");
    let ps = processes(&f).await;
    for left in ["sleep 1000", "sleep 1001", "sleep 1002"] {
        assert!(!ps.contains(left), "{left} survived the timeout:\n{ps}");
    }
    f.destroy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_jobs_and_dropped_commands() {
    let f = Arc::new(Fixture::new(false, limits()).await);

    // A background job survives foreground commands ending beside it.
    let job = {
        let f = f.clone();
        tokio::spawn(async move {
            f.sandbox
                .exec(
                    ExecSpec {
                        background: true,
                        timeout: Duration::from_secs(600),
                        ..sh("echo job; sleep 1005 & sleep 1006")
                    },
                    None,
                )
                .await
        })
    };
    wait_processes(&f, "the job started", |ps| {
        ps.contains("sleep 1005") && ps.contains("sleep 1006")
    })
    .await;
    assert_eq!(f.sh("sleep 1007 & true").await.exit_code, Some(0));
    let ps = processes(&f).await;
    assert!(
        ps.contains("sleep 1005") && ps.contains("sleep 1006"),
        "{ps}"
    );
    assert!(!ps.contains("sleep 1007"), "{ps}");

    // Dropping it (the job is killed) kills its whole tree.
    job.abort();
    let _ = job.await;
    wait_processes(&f, "the job's processes are gone", |ps| {
        !ps.contains("sleep 1005") && !ps.contains("sleep 1006")
    })
    .await;

    // So does dropping a foreground command (the agent was interrupted),
    // while another foreground command runs beside it unharmed.
    let fg = {
        let f = f.clone();
        tokio::spawn(async move { f.sh("sleep 1008 & sleep 1009").await })
    };
    wait_processes(&f, "the command started", |ps| ps.contains("sleep 1009")).await;
    fg.abort();
    let _ = fg.await;
    wait_processes(&f, "the dropped command's processes are gone", |ps| {
        !ps.contains("sleep 1008") && !ps.contains("sleep 1009")
    })
    .await;

    let f = Arc::try_unwrap(f).ok().expect("no other user");
    f.destroy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destroy_removes_the_container() {
    let f = Fixture::new(false, limits()).await;
    let agent = format!("{LABEL_AGENT}={}", f.sandbox.spec().agent_id);
    assert_eq!(containers_of(std::slice::from_ref(&agent)).await.len(), 1);
    let sandbox = f.sandbox.clone();
    f.destroy().await;
    assert!(containers_of(&[agent]).await.is_empty());
    assert!(sandbox.exec(sh("true"), None).await.is_err());
    sandbox.destroy().await.expect("destroy is idempotent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reaps_only_its_own_orphans() {
    let host = unique("reap");
    let other = unique("other");
    let spec = |ws: &tempfile::TempDir| SandboxSpec {
        agent_id: unique("agent"),
        workspace: ws.path().to_path_buf(),
        network: false.into(),
        read_only: Vec::new(),
        limits: limits(),
        environment: None,
        egress: None,
    };
    let (ws1, ws2, ws3) = (workspace(), workspace(), workspace());
    {
        // A host that is "killed": its sandboxes are never destroyed.
        let dying = backend(&host).await;
        let a = dying.create(spec(&ws1)).await.unwrap();
        let b = dying.create(spec(&ws2)).await.unwrap();
        assert_eq!(a.exec(sh("true"), None).await.unwrap().exit_code, Some(0));
        drop((a, b));
    }
    let neighbour = backend(&other).await;
    let kept = neighbour.create(spec(&ws3)).await.unwrap();

    let restarted = backend(&host).await;
    assert_eq!(restarted.reap_orphans().await.unwrap(), 2);
    assert!(
        containers_of(&[format!("{LABEL_SANDBOX}=1"), format!("{LABEL_HOST}={host}")])
            .await
            .is_empty()
    );
    assert_eq!(restarted.reap_orphans().await.unwrap(), 0);
    assert_eq!(
        containers_of(&[format!("{LABEL_HOST}={other}")])
            .await
            .len(),
        1,
        "another host's container is left alone"
    );
    assert_eq!(
        kept.exec(sh("echo alive"), None).await.unwrap().stdout,
        "alive\n"
    );
    kept.destroy().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_connect_and_user_checks() {
    let b = backend(&unique("t")).await;
    b.probe().await.expect("engine and image present");
    eprintln!("negotiated API {} at {}", b.api_version(), b.endpoint());

    let missing = connect(
        &SandboxConfig {
            image: "paddock-sandbox:not-built".into(),
            ..config()
        },
        "t",
    )
    .await;
    let err = missing.probe().await.unwrap_err();
    assert!(
        matches!(&err, SandboxError::Unavailable(m) if m.contains("scripts/sandbox-image.sh")),
        "{err}"
    );

    let started = Instant::now();
    let err = DockerBackend::connect(
        &SandboxConfig {
            docker_host: Some("unix:///nonexistent/docker.sock".into()),
            ..SandboxConfig::default()
        },
        "t",
    )
    .await
    .err()
    .expect("no engine there");
    assert!(
        matches!(&err, SandboxError::Unavailable(m) if m.contains("does not exist")),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(60), "no hang");
    // A socket that never answers: given up on after about two seconds.
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("silent.sock");
    let _silent = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let err = DockerBackend::connect(
        &SandboxConfig {
            docker_host: Some(format!("unix://{}", socket.display())),
            ..SandboxConfig::default()
        },
        "t",
    )
    .await
    .err()
    .expect("nothing answers there");
    assert!(
        matches!(&err, SandboxError::Unavailable(m) if m.contains("within 2 s")),
        "{err}"
    );

    // Root is refused: an explicit root user, and a root-owned workspace
    // with the default `auto`.
    let ws = workspace();
    for user in ["0:0", "root", "0"] {
        let b = connect(
            &SandboxConfig {
                user: user.into(),
                ..config()
            },
            "t",
        )
        .await;
        let err = b
            .create(SandboxSpec {
                agent_id: "a".into(),
                workspace: ws.path().to_path_buf(),
                network: false.into(),
                read_only: Vec::new(),
                limits: limits(),
                environment: None,
                egress: None,
            })
            .await
            .err()
            .expect("root refused");
        assert!(
            matches!(&err, SandboxError::Invalid(m) if m.contains("root")),
            "{err}"
        );
    }
    if unsafe { libc::getuid() } == 0 {
        let root_owned = tempfile::tempdir().unwrap();
        let err = b
            .create(SandboxSpec {
                agent_id: "a".into(),
                workspace: root_owned.path().to_path_buf(),
                network: false.into(),
                read_only: Vec::new(),
                limits: limits(),
                environment: None,
                egress: None,
            })
            .await
            .err()
            .expect("root-owned workspace refused");
        assert!(
            matches!(&err, SandboxError::Invalid(m) if m.contains("owned by root")),
            "{err}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_overhead() {
    let f = Fixture::new(false, limits()).await;
    f.sh("true").await;
    let mut times = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        let out = f.sh("true").await;
        times.push(started.elapsed());
        assert_eq!(out.exit_code, Some(0));
    }
    times.sort();
    let mean = times.iter().sum::<Duration>() / times.len() as u32;
    eprintln!(
        "per-exec overhead of `true` over {} runs: median {:.1} ms, mean {:.1} ms, max {:.1} ms",
        times.len(),
        times[times.len() / 2].as_secs_f64() * 1000.0,
        mean.as_secs_f64() * 1000.0,
        times[times.len() - 1].as_secs_f64() * 1000.0
    );
    f.destroy().await;
}

/// A read-only mount (a worktree's git directory) is readable at its host
/// path inside the container and cannot be written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_mounts_keep_their_path_and_refuse_writes() {
    let ro = workspace();
    let dir = ro.path().join("repo/.git");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("HEAD"), "ref: refs/heads/main\n").unwrap();
    if unsafe { libc::getuid() } == 0 {
        for p in [ro.path().join("repo"), dir.clone(), dir.join("HEAD")] {
            std::os::unix::fs::chown(&p, Some(1000), Some(1000)).unwrap();
        }
    }
    let f = Fixture::with_read_only(false, limits(), vec![dir.clone()]).await;
    let d = dir.display();
    let out = f
        .sh(&format!(
            "cat {d}/HEAD; touch {d}/new 2>/dev/null && echo written || echo refused"
        ))
        .await;
    assert_eq!(out.exit_code, Some(0), "{out:?}");
    assert!(out.stdout.contains("ref: refs/heads/main"), "{out:?}");
    assert!(out.stdout.contains("refused"), "{out:?}");
    assert!(!dir.join("new").exists());
    f.destroy().await;
}

/// The container's command server killed from inside the engine (the
/// container stops with its main process) is replaced: the next command
/// runs in a new container.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_command_server_is_replaced() {
    let f = Fixture::new(false, limits()).await;
    assert_eq!(f.sh("echo one").await.stdout, "one\n");
    let label = format!("{LABEL_AGENT}={}", f.sandbox.spec().agent_id);
    let ids = containers_of(std::slice::from_ref(&label)).await;
    assert_eq!(ids.len(), 1);
    let before = ids[0].clone();
    // Killed from the host: the server is the child of the container's init.
    let out = Command::new("podman")
        .envs(engine().env.iter().cloned())
        .args(["inspect", "--format", "{{.State.Pid}}", &before])
        .output()
        .unwrap();
    let init: u32 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    let children = std::fs::read_to_string(format!("/proc/{init}/task/{init}/children")).unwrap();
    let server: i32 = children.split_whitespace().next().unwrap().parse().unwrap();
    assert!(
        std::fs::read_to_string(format!("/proc/{server}/cmdline"))
            .unwrap()
            .contains("sandboxd")
    );
    unsafe { libc::kill(server, libc::SIGKILL) };
    let mut after = None;
    for _ in 0..3 {
        let o = f.sandbox.exec(sh("echo two"), None).await;
        if let Ok(o) = o {
            assert_eq!(o.stdout, "two\n", "{o:?}");
            let ids = containers_of(std::slice::from_ref(&label)).await;
            assert_eq!(ids.len(), 1, "{ids:?}");
            after = ids.first().cloned();
            break;
        }
    }
    let after = after.expect("a command ran after the crash");
    assert_ne!(after, before, "the dead container was reused");
    f.destroy().await;
}

/// The socket directory is writable from inside (Docker cannot pass a
/// descriptor): a socket a command puts in the server's place is refused
/// (its peer is not the container init's child), and the sandbox recovers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_cannot_impersonate_the_command_server() {
    let f = Arc::new(Fixture::new(false, limits()).await);
    let fake = "import socket, os\n\
                os.unlink('/run/paddock/cmd.sock')\n\
                s = socket.socket(socket.AF_UNIX)\n\
                s.bind('/run/paddock/cmd.sock')\n\
                s.listen(8)\n\
                print('listening', flush=True)\n\
                while True:\n\
                \x20   c, _ = s.accept()\n\
                \x20   c.sendall(b'O\\x00\\x00\\x00\\x04evilX\\x00\\x00\\x00\\x1d' + bytes(29))\n";
    let job = {
        let f = f.clone();
        let fake = fake.to_string();
        tokio::spawn(async move {
            let mut cmd = sh("");
            cmd.argv = vec!["python3".into(), "-c".into(), fake];
            cmd.background = true;
            f.sandbox.exec(cmd, None).await
        })
    };
    wait_processes(&f, "the fake server listens", |ps| ps.contains("python3")).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = f.sandbox.exec(sh("echo real"), None).await;
    match r {
        Ok(o) => assert!(!o.stdout.contains("evil"), "{o:?}"),
        Err(e) => assert!(e.to_string().contains("not served by"), "{e}"),
    }
    job.abort();
    let _ = job.await;
    let o = f.sh("echo recovered").await;
    assert_eq!(o.stdout, "recovered\n", "{o:?}");
    let f = Arc::try_unwrap(f).ok().expect("no other user");
    f.destroy().await;
}

/// With an egress allow-list the container has no network; `127.0.0.1:3128`
/// inside is spliced to the proxy's unix socket, and commands get the proxy
/// variables.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_egress_bridge_reaches_the_proxy_and_nothing_else() {
    use std::io::{BufRead, Write};
    use std::os::unix::fs::PermissionsExt;
    let proxy_dir = tempfile::tempdir().unwrap();
    let egress = proxy_dir.path().join("egress.sock");
    let listener = std::os::unix::net::UnixListener::bind(&egress).unwrap();
    std::fs::set_permissions(&egress, std::fs::Permissions::from_mode(0o666)).unwrap();
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
    let backend = backend(&unique("t")).await;
    let ws = workspace();
    let sandbox = backend
        .create(SandboxSpec {
            agent_id: unique("agent"),
            workspace: ws.path().to_path_buf(),
            network: false.into(),
            read_only: Vec::new(),
            limits: limits(),
            environment: None,
            egress: Some(egress),
        })
        .await
        .expect("create the sandbox");
    let o = sandbox
        .exec(
            sh("echo $HTTPS_PROXY; python3 -c \"import socket; s = socket.create_connection(('127.0.0.1', 3128)); s.sendall(b'CONNECT example.org:443\\n'); print(s.makefile().readline(), end='')\""),
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        o.stdout, "http://127.0.0.1:3128\nproxy got: CONNECT example.org:443\n",
        "{o:?}"
    );
    let o = sandbox
        .exec(
            sh("python3 -c \"import socket; socket.create_connection(('1.1.1.1', 80), timeout=3); print('connected')\""),
            None,
        )
        .await
        .unwrap();
    assert!(!o.stdout.contains("connected"), "{o:?}");
    sandbox.destroy().await.unwrap();
}
