//! End-to-end: the `probe` test plugin (plugins/testing/probe) tries to escape
//! its grants and to break the host; every attempt must fail as a tool error,
//! and the next normal call must still succeed.
//!
//! Every check first shows the operation working WITH the grant (or within
//! the limit), then failing without it, so that a test fails if the
//! enforcement it checks were removed, not only if the probe were broken.
//!
//! Needs the probe staged in `target/test-plugins/probe/` (`make` does it).

use crate::common;

use common::{Paddock, describe, stderr, stdout, wasm_in};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The probe's limits, as in its manifest.
const TIMEOUT_MS: u64 = 2_000;
const MAX_OUTPUT_BYTES: usize = 64 * 1024;
/// Upper bound for a call that must be stopped at the 2 s deadline, generous
/// for a loaded 2-core machine (it includes starting the binary and loading
/// the component).
const DEADLINE_BOUND: Duration = Duration::from_secs(20);

fn staged_probe() -> PathBuf {
    let dir = common::test_plugins_dir().join("probe");
    assert!(
        dir.join("paddock-plugin.toml").is_file(),
        "the probe plugin is not staged in {} (run `make test-plugins`, or build \
         paddock-test-probe for wasm32-wasip2 and copy its manifest and .wasm there)",
        dir.display()
    );
    dir
}

/// A data dir with the probe installed (and enabled, no grants), and a
/// workspace dir `ws` inside a scratch dir `root`, so that `root/outside.txt`
/// is what `/workspace/../outside.txt` would reach if the host let it.
struct Probe {
    paddock: Paddock,
    root: tempfile::TempDir,
    _manifest_dir: Option<tempfile::TempDir>,
}

impl Probe {
    /// The probe as staged.
    fn install() -> Probe {
        Probe::install_with(&[], &[])
    }

    /// The probe with a manifest that also requests the `fs` entries in
    /// `extra_fs` and exactly the `net` entries in `net` (if not empty).
    fn install_with(extra_fs: &[String], net: &[String]) -> Probe {
        let staged = staged_probe();
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("ws")).unwrap();
        let (source, manifest_dir) = if extra_fs.is_empty() && net.is_empty() {
            (staged, None)
        } else {
            let dir = tempfile::tempdir().unwrap();
            let manifest = std::fs::read_to_string(staged.join("paddock-plugin.toml")).unwrap();
            let mut fs: Vec<String> = vec!["/workspace:rw".into()];
            fs.extend(extra_fs.iter().cloned());
            let manifest = replace_line(&manifest, "fs = ", &format!("fs = {}", toml_list(&fs)));
            let manifest = if net.is_empty() {
                manifest
            } else {
                replace_line(&manifest, "net = ", &format!("net = {}", toml_list(net)))
            };
            std::fs::write(dir.path().join("paddock-plugin.toml"), manifest).unwrap();
            let wasm = wasm_in(&staged);
            std::fs::copy(&wasm, dir.path().join(wasm.file_name().unwrap())).unwrap();
            (dir.path().to_path_buf(), Some(dir))
        };
        let paddock = Paddock::new();
        let out = paddock.cmd(["plugin".as_ref(), "install".as_ref(), source.as_os_str()]);
        assert_success(&out, "plugin install");
        assert!(
            stdout(&out).contains("installed probe 0.1.0"),
            "{}",
            describe(&out)
        );
        let probe = Probe {
            paddock,
            root,
            _manifest_dir: manifest_dir,
        };
        probe.admin(&["plugin", "enable", "probe"]);
        probe
    }

    fn workspace(&self) -> PathBuf {
        self.root.path().join("ws")
    }

    /// Runs an admin command that must succeed.
    fn admin(&self, args: &[&str]) {
        let out = self.paddock.cmd(args);
        assert_success(&out, &args.join(" "));
    }

    fn grant(&self, cap: &str) {
        self.admin(&["plugin", "grant", "probe", cap]);
    }

    fn revoke(&self, cap: &str) {
        self.admin(&["plugin", "revoke", "probe", cap]);
    }

    /// `paddock tool call TOOL --workspace WS --input INPUT`.
    fn call(&self, tool: &str, input: Value) -> Output {
        self.call_env(tool, input, &[])
    }

    fn call_env(&self, tool: &str, input: Value, env: &[(&str, &str)]) -> Output {
        let mut cmd = self.paddock.command();
        cmd.args(["tool", "call", tool, "--workspace"])
            .arg(self.workspace())
            .args(["--input", &input.to_string()]);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    }

    /// A call that must succeed; returns its stdout.
    fn ok(&self, tool: &str, input: Value) -> String {
        let out = self.call(tool, input);
        assert_success(&out, tool);
        content(&out)
    }

    /// A call that must end as a tool error (exit 1, `error: KIND: ...`);
    /// returns stderr.
    fn tool_error(&self, tool: &str, input: Value) -> String {
        let out = self.call(tool, input);
        assert_tool_error(&out, tool)
    }

    /// After a fault, an ordinary call on the same data dir still works.
    fn assert_still_works(&self) {
        let out = self.ok("probe_echo", json!({}));
        assert!(out.starts_with("ok"), "probe_echo said: {out}");
        assert!(
            out.contains("workspace=/workspace"),
            "probe_echo said: {out}"
        );
    }
}

fn replace_line(text: &str, prefix: &str, with: &str) -> String {
    let mut found = false;
    let lines: Vec<String> = text
        .lines()
        .map(|l| {
            if l.starts_with(prefix) {
                found = true;
                with.to_string()
            } else {
                l.to_string()
            }
        })
        .collect();
    assert!(
        found,
        "no line starting with `{prefix}` in the probe manifest"
    );
    lines.join("\n") + "\n"
}

fn toml_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("{s:?}")).collect();
    format!("[{}]", quoted.join(", "))
}

/// A tool's content as `tool call` printed it (it ends the line when the
/// content does not; no probe content ends with a newline).
fn content(out: &Output) -> String {
    let text = stdout(out);
    text.strip_suffix('\n').unwrap_or(&text).to_string()
}

fn assert_success(out: &Output, what: &str) {
    assert!(out.status.success(), "`{what}` failed:\n{}", describe(out));
}

/// Exit code 1 (not a crash, not a signal) with `error: <kind>: ...` on
/// stderr; returns stderr.
fn assert_tool_error(out: &Output, what: &str) -> String {
    assert_eq!(
        out.status.code(),
        Some(1),
        "`{what}` should be a tool error:\n{}",
        describe(out)
    );
    let err = stderr(out);
    assert!(
        err.contains("error: "),
        "`{what}`: no `error: <kind>: <message>` line:\n{}",
        describe(out)
    );
    err
}

/// The host logs (on stderr, at its default level) the capability a plugin
/// tried to use without a grant.
fn assert_logged_missing(stderr: &str, capability: &str) {
    assert!(
        stderr.contains(capability),
        "the host should log the missing capability `{capability}`:\n{stderr}"
    );
}

/// A host-side failure (trap, timeout, memory, malformed or oversized
/// result) is reported with the kind `plugin`.
fn assert_plugin_fault(err: &str, what: &str) {
    assert!(
        err.contains("error: plugin: "),
        "`{what}` should be reported as `error: plugin: ...`:\n{err}"
    );
}

// ---------------------------------------------------------------- files

#[test]
fn reads_stay_inside_the_granted_directories() {
    let secret_dir = tempfile::tempdir().unwrap();
    let secret_dir_path = secret_dir.path().to_str().unwrap().to_string();
    std::fs::write(secret_dir.path().join("secret.txt"), "host secret 1").unwrap();
    let probe = Probe::install_with(&[format!("{secret_dir_path}:ro")], &[]);
    std::fs::write(probe.workspace().join("inside.txt"), "inside text").unwrap();
    std::fs::write(probe.root.path().join("outside.txt"), "outside text 2").unwrap();
    let secret = format!("{secret_dir_path}/secret.txt");

    // Nothing granted: not even the workspace is readable.
    let err = probe.tool_error("probe_read", json!({"path": "/workspace/inside.txt"}));
    assert!(!err.contains("inside text"), "{err}");

    // The workspace, granted read-only, is readable...
    probe.grant("fs:/workspace:ro");
    let text = probe.ok("probe_read", json!({"path": "/workspace/inside.txt"}));
    assert_eq!(text, "inside text");
    assert_eq!(
        probe.ok("probe_list", json!({"path": "/workspace"})),
        "inside.txt"
    );

    // ...but a host file outside it is not, by absolute path...
    let err = probe.tool_error("probe_read", json!({"path": secret}));
    assert!(!err.contains("host secret 1"), "{err}");
    // ...nor by climbing out of the workspace...
    for path in [
        "/workspace/../outside.txt",
        "/workspace/../../outside.txt",
        "/workspace/./../outside.txt",
    ] {
        let out = probe.call("probe_read", json!({"path": path}));
        assert_tool_error(&out, path);
        assert!(!stdout(&out).contains("outside text 2"), "{path}");
        assert!(!stderr(&out).contains("outside text 2"), "{path}");
    }
    let out = probe.call("probe_list", json!({"path": "/workspace/.."}));
    assert_tool_error(&out, "probe_list /workspace/..");
    assert!(!stdout(&out).contains("outside.txt"), "{}", describe(&out));
    // ...nor through the root.
    let out = probe.call("probe_read", json!({"path": "/etc/passwd"}));
    assert_tool_error(&out, "probe_read /etc/passwd");
    assert!(!stdout(&out).contains("root:"), "{}", describe(&out));

    // Granting that host directory (requested by this manifest) makes the
    // very same absolute-path read work: the denial above was enforcement.
    probe.grant(&format!("fs:{secret_dir_path}:ro"));
    assert_eq!(
        probe.ok("probe_read", json!({"path": secret})),
        "host secret 1"
    );
    // Revoking it closes it again.
    probe.revoke(&format!("fs:{secret_dir_path}:ro"));
    let err = probe.tool_error("probe_read", json!({"path": secret}));
    assert!(!err.contains("host secret 1"), "{err}");

    probe.assert_still_works();
}

#[test]
fn writes_need_a_read_write_grant() {
    let probe = Probe::install();
    let file = probe.workspace().join("f.txt");
    std::fs::write(&file, "original").unwrap();

    probe.grant("fs:/workspace:ro");
    // The grant is in force (reads work)...
    assert_eq!(
        probe.ok("probe_read", json!({"path": "/workspace/f.txt"})),
        "original"
    );
    // ...but it is read-only: overwriting and creating both fail.
    probe.tool_error(
        "probe_write",
        json!({"path": "/workspace/f.txt", "content": "changed"}),
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "original");
    probe.tool_error(
        "probe_write",
        json!({"path": "/workspace/new.txt", "content": "new"}),
    );
    assert!(!probe.workspace().join("new.txt").exists());

    // Read-write: the same writes succeed.
    probe.revoke("fs:/workspace:ro");
    probe.grant("fs:/workspace:rw");
    probe.ok(
        "probe_write",
        json!({"path": "/workspace/f.txt", "content": "changed"}),
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "changed");
    probe.ok(
        "probe_write",
        json!({"path": "/workspace/new.txt", "content": "new"}),
    );
    assert_eq!(
        std::fs::read_to_string(probe.workspace().join("new.txt")).unwrap(),
        "new"
    );
    // Read-write on the workspace still does not reach beyond it.
    probe.tool_error(
        "probe_write",
        json!({"path": "/workspace/../escaped.txt", "content": "x"}),
    );
    assert!(!probe.root.path().join("escaped.txt").exists());
}

// ---------------------------------------------------------------- network

/// A TCP listener on 127.0.0.1 that reports each connection it accepts and
/// answers with `reply(request_head)`.
struct Listener {
    addr: String,
    accepted: mpsc::Receiver<String>,
}

impl Listener {
    fn start(reply: fn(&str) -> String) -> Listener {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let peer = stream
                    .peer_addr()
                    .map(|a| a.to_string())
                    .unwrap_or_default();
                let head = read_head(&mut stream);
                let _ = stream.write_all(reply(&head).as_bytes());
                let _ = stream.flush();
                drop(stream);
                if tx.send(peer).is_err() {
                    break;
                }
            }
        });
        Listener { addr, accepted: rx }
    }

    fn port(&self) -> u16 {
        self.addr.rsplit_once(':').unwrap().1.parse().unwrap()
    }

    /// No connection arrived (the call that might have made one has already
    /// returned; allow a moment for the accept thread).
    fn assert_untouched(&self, what: &str) {
        if let Ok(peer) = self.accepted.recv_timeout(Duration::from_millis(300)) {
            panic!(
                "{what}: the listener on {} saw a connection from {peer}",
                self.addr
            );
        }
    }

    fn assert_touched(&self, what: &str) {
        self.accepted
            .recv_timeout(Duration::from_secs(5))
            .unwrap_or_else(|_| panic!("{what}: no connection reached {}", self.addr));
    }
}

/// Reads an HTTP request head, or whatever arrives within a short time.
fn read_head(stream: &mut TcpStream) -> String {
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

fn greeting(_head: &str) -> String {
    "hello from the test listener\n".to_string()
}

fn http_reply(head: &str) -> String {
    let body = if head.starts_with("GET /probe ") {
        "hello over http"
    } else {
        "unexpected request"
    };
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

#[test]
fn sockets_reach_only_granted_addresses() {
    let target = Listener::start(greeting);
    let other = Listener::start(greeting);
    let net = [
        format!("127.0.0.1:{}", target.port()),
        format!("127.0.0.1:{}", other.port()),
    ];
    let probe = Probe::install_with(&[], &net);
    let connect = json!({"addr": target.addr});

    // No grant at all. The host logs the capability that was missing.
    let err = probe.tool_error("probe_connect", connect.clone());
    target.assert_untouched("connect without any net grant");
    assert_logged_missing(&err, &format!("net:{}", target.addr));

    // Another address granted: that one works, the target still does not.
    probe.grant(&format!("net:{}", other.addr));
    let text = probe.ok("probe_connect", json!({"addr": other.addr}));
    assert!(text.contains("hello from the test listener"), "{text}");
    other.assert_touched("connect to the granted address");
    probe.tool_error("probe_connect", connect.clone());
    target.assert_untouched("connect with only another port granted");

    // The exact address granted: it connects.
    probe.grant(&format!("net:{}", target.addr));
    let text = probe.ok("probe_connect", connect.clone());
    assert!(text.contains("hello from the test listener"), "{text}");
    target.assert_touched("connect to the granted address");

    // And revoked: closed again.
    probe.revoke(&format!("net:{}", target.addr));
    probe.tool_error("probe_connect", connect);
    target.assert_untouched("connect after revoking");
    probe.assert_still_works();
}

#[test]
fn http_requests_reach_only_granted_addresses() {
    let target = Listener::start(http_reply);
    let other = Listener::start(http_reply);
    let net = [
        format!("127.0.0.1:{}", target.port()),
        format!("127.0.0.1:{}", other.port()),
    ];
    let probe = Probe::install_with(&[], &net);
    let get = json!({"url": format!("http://{}/probe", target.addr)});

    let err = probe.tool_error("probe_http", get.clone());
    target.assert_untouched("http without any net grant");
    assert_logged_missing(&err, &format!("net:{}", target.addr));

    probe.grant(&format!("net:{}", other.addr));
    probe.tool_error("probe_http", get.clone());
    target.assert_untouched("http with only another port granted");

    probe.grant(&format!("net:{}", target.addr));
    let text = probe.ok("probe_http", get);
    assert!(text.starts_with("status 200"), "{text}");
    assert!(text.contains("hello over http"), "{text}");
    target.assert_touched("http to the granted address");
    probe.assert_still_works();
}

#[test]
fn name_lookups_need_a_net_grant() {
    // The host turns on `wasi:sockets/ip-name-lookup` only for a plugin
    // granted some host *name* (grants of IP addresses need no lookups). The
    // granted name need not resolve; `localhost` resolves from /etc/hosts.
    let named = "lookup-probe.invalid:443".to_string();
    let probe = Probe::install_with(&[], std::slice::from_ref(&named));

    let err = probe.tool_error("probe_resolve", json!({"name": "localhost"}));
    assert!(!err.contains("127.0.0.1"), "{err}");

    probe.grant(&format!("net:{named}"));
    let text = probe.ok("probe_resolve", json!({"name": "localhost"}));
    assert!(
        text.lines().any(|l| l == "127.0.0.1" || l == "::1"),
        "localhost resolved to: {text}"
    );
    probe.assert_still_works();
}

// ---------------------------------------------------------------- environment

#[test]
fn environment_variables_need_a_grant() {
    const SECRET: &str = "s3cret-value-e2e";
    const ALLOWED: &str = "allowed-value-e2e";
    let probe = Probe::install();
    let env = [("PROBE_SECRET", SECRET), ("PROBE_ALLOWED", ALLOWED)];
    let read = |name: &str| probe.call_env("probe_env", json!({"name": name}), &env);

    // Only PROBE_ALLOWED granted: it is visible, PROBE_SECRET is not.
    probe.grant("env:PROBE_ALLOWED");
    let out = read("PROBE_ALLOWED");
    assert_success(&out, "probe_env PROBE_ALLOWED");
    assert_eq!(content(&out), ALLOWED);
    let out = read("PROBE_SECRET");
    assert_tool_error(&out, "probe_env PROBE_SECRET without the grant");
    assert!(!stdout(&out).contains(SECRET) && !stderr(&out).contains(SECRET));
    // Variables the plugin never requested are never visible.
    let out = probe.call_env("probe_env", json!({"name": "PATH"}), &env);
    assert_tool_error(&out, "probe_env PATH");

    // Granted: readable.
    probe.grant("env:PROBE_SECRET");
    let out = read("PROBE_SECRET");
    assert_success(&out, "probe_env PROBE_SECRET with the grant");
    assert_eq!(content(&out), SECRET);
}

// ---------------------------------------------------------------- exec

#[test]
fn exec_without_the_grant_is_denied() {
    let probe = Probe::install();
    let run = json!({"argv": ["echo", "hello"]});
    let err = probe.tool_error("probe_exec", run.clone());
    assert!(
        err.contains("exec-error denied"),
        "exec without the grant should be `denied`:\n{err}"
    );
    probe.assert_still_works();

    // With the grant the command runs in the agent's sandbox (bubblewrap
    // here). It takes longer than the plugin's own 2 s limit: time spent
    // waiting for a command does not count against the plugin's clock.
    probe.grant("exec");
    let out = probe.call(
        "probe_exec",
        json!({"argv": ["sh", "-c", "sleep 3; echo slept in $PWD"]}),
    );
    assert_success(&out, "probe_exec with the grant");
    assert_eq!(stdout(&out).trim(), "exit Some(0)\nslept in /workspace");
}

// ---------------------------------------------------------------- faults

/// Runs `tool call` but kills it (and fails the test) if it is still running
/// after `limit`, so that a missing deadline fails the test instead of
/// hanging it.
fn call_with_watchdog(probe: &Probe, tool: &str, input: Value, limit: Duration) -> Output {
    let mut cmd = probe.paddock.command();
    cmd.args(["tool", "call", tool, "--workspace"])
        .arg(probe.workspace())
        .args(["--input", &input.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = pipe.read_to_end(&mut buf);
            buf
        })
    };
    let out_reader = drain(Box::new(child.stdout.take().unwrap()));
    let err_reader = drain(Box::new(child.stderr.take().unwrap()));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`{tool}` was still running after {limit:?}: no deadline stopped it");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Output {
        status,
        stdout: out_reader.join().unwrap(),
        stderr: err_reader.join().unwrap(),
    }
}

fn assert_deadline(probe: &Probe, tool: &str, input: Value) {
    let start = Instant::now();
    let out = call_with_watchdog(probe, tool, input, DEADLINE_BOUND * 3);
    let took = start.elapsed();
    let err = assert_tool_error(&out, tool);
    assert_plugin_fault(&err, tool);
    assert!(err.contains("timed out"), "{tool}: {err}");
    assert!(
        took >= Duration::from_millis(TIMEOUT_MS * 9 / 10),
        "{tool} ended after {took:?}, before its {TIMEOUT_MS} ms deadline: {err}"
    );
    assert!(
        took < DEADLINE_BOUND,
        "{tool} took {took:?}, far past its {TIMEOUT_MS} ms deadline"
    );
}

#[test]
fn a_runaway_loop_is_stopped_at_the_deadline() {
    let probe = Probe::install();
    assert_deadline(&probe, "probe_spin", json!({}));
    probe.assert_still_works();
}

#[test]
fn a_blocking_host_call_is_stopped_at_the_deadline() {
    let probe = Probe::install();
    // A short sleep finishes normally: sleeping itself works.
    assert_eq!(probe.ok("probe_sleep", json!({"ms": 10})), "slept 10 ms");
    assert_deadline(&probe, "probe_sleep", json!({"ms": 60_000}));
    probe.assert_still_works();
}

#[test]
fn memory_past_the_limit_is_a_tool_error() {
    let probe = Probe::install();
    for bytes in [1u64 << 20, 16 << 20] {
        let text = probe.ok("probe_alloc", json!({"bytes": bytes}));
        assert!(
            text.starts_with(&format!("allocated {bytes} bytes")),
            "{text}"
        );
    }
    for bytes in [64u64 << 20, 4 << 30] {
        let err = probe.tool_error("probe_alloc", json!({"bytes": bytes}));
        assert_plugin_fault(&err, "probe_alloc");
        assert!(
            err.to_lowercase().contains("memory"),
            "allocating {bytes} bytes: {err}"
        );
        probe.assert_still_works();
    }
}

#[test]
fn a_panic_is_a_tool_error_with_its_message() {
    let probe = Probe::install();
    let err = probe.tool_error("probe_panic", json!({"message": "probe panic 7f3a"}));
    assert_plugin_fault(&err, "probe_panic");
    assert!(err.contains("probe panic 7f3a"), "{err}");
    probe.assert_still_works();
}

#[test]
fn a_malformed_result_is_a_tool_error() {
    let probe = Probe::install();
    let err = probe.tool_error("probe_bad_utf8", json!({}));
    assert_plugin_fault(&err, "probe_bad_utf8");
    probe.assert_still_works();
}

#[test]
fn output_past_the_cap_is_a_tool_error() {
    let probe = Probe::install();
    let small = probe.ok("probe_big_output", json!({"bytes": 1000}));
    assert_eq!(small.len(), 1000);
    let half = probe.ok("probe_big_output", json!({"bytes": MAX_OUTPUT_BYTES / 2}));
    assert_eq!(half.len(), MAX_OUTPUT_BYTES / 2);

    let out = probe.call("probe_big_output", json!({"bytes": MAX_OUTPUT_BYTES * 2}));
    let err = assert_tool_error(&out, "probe_big_output");
    assert_plugin_fault(&err, "probe_big_output");
    assert!(err.contains("too large"), "{err}");
    assert!(
        out.stdout.len() < MAX_OUTPUT_BYTES,
        "the oversized output was printed"
    );
    probe.assert_still_works();
}

#[test]
fn every_call_gets_a_fresh_instance() {
    let probe = Probe::install();
    for _ in 0..3 {
        assert_eq!(probe.ok("probe_counter", json!({})), "1");
    }
}

#[test]
fn unknown_tools_and_bad_input_are_tool_errors() {
    let probe = Probe::install();
    let out = probe.call("probe_read", json!({"path": 7}));
    let err = assert_tool_error(&out, "probe_read with a bad input");
    assert!(err.contains("error: invalid-input: "), "{err}");
    probe.assert_still_works();
}

// NOT covered here: that the host survives these faults within ONE process
// (a long-lived `PluginHost` serving call after call). Each `tool call` above
// is a fresh process; that check belongs with the host library's own tests of
// `paddock_plugins::PluginHost`.
