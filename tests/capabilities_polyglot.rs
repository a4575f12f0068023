//! End-to-end: the capability matrix of `tests/capabilities.rs` (fs, net,
//! env, exec, memory, deadline, a fresh instance per call) against the
//! Python and the JavaScript probe (net: a raw TCP connection from Python, an
//! HTTP request through the JavaScript SDK's `net`) (`plugins/testing/py-probe`, `js-probe`,
//! built with componentize-py and componentize-js through the SDKs): grants,
//! limits and instance isolation hold for them exactly as for Rust plugins.
//!
//! As there, every check first shows the operation working WITH the grant
//! (or within the limit), then failing without it.

use crate::common;
use crate::sdk_polyglot::{Lang, staged_probe};

use common::{Paddock, describe, stderr, stdout};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Output;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The probes' limits, as in their manifests.
const TIMEOUT_MS: u64 = 4_000;
const MEMORY_MB: u64 = 96;
/// Upper bound for a call stopped at its deadline: starting the binary,
/// loading a large component from the cache and the deadline itself, on a
/// loaded 2-core machine.
const DEADLINE_BOUND: Duration = Duration::from_secs(40);

/// A probe installed (enabled, no grants) in a fresh data dir, with a
/// workspace `ws` inside a scratch dir `root`.
struct Probe {
    name: &'static str,
    paddock: Paddock,
    root: tempfile::TempDir,
}

impl Probe {
    /// The probe of `lang`; its manifest's `net` list is `net` when given.
    fn install(lang: Lang, net: &[String]) -> Probe {
        let name = match lang {
            Lang::Python => "py-probe",
            Lang::Js => "js-probe",
        };
        let stage = staged_probe(lang);
        if !net.is_empty() {
            let path = stage.path().join("paddock-plugin.toml");
            let manifest = std::fs::read_to_string(&path).expect("read the manifest");
            let list: Vec<String> = net.iter().map(|s| format!("{s:?}")).collect();
            let replaced: Vec<String> = manifest
                .lines()
                .map(|l| {
                    if l.starts_with("net = ") {
                        format!("net = [{}]", list.join(", "))
                    } else {
                        l.to_string()
                    }
                })
                .collect();
            std::fs::write(&path, replaced.join("\n") + "\n").expect("write the manifest");
        }
        let root = tempfile::tempdir().expect("scratch");
        std::fs::create_dir(root.path().join("ws")).expect("workspace");
        let paddock = Paddock::new();
        let out = paddock.cmd([
            "plugin".as_ref(),
            "install".as_ref(),
            stage.path().as_os_str(),
        ]);
        assert!(out.status.success(), "install {name}:\n{}", describe(&out));
        assert!(
            stdout(&out).contains(&format!("installed {name} 0.1.0")),
            "{}",
            describe(&out)
        );
        let probe = Probe {
            name,
            paddock,
            root,
        };
        probe.admin(&["plugin", "enable", name]);
        probe
    }

    fn workspace(&self) -> std::path::PathBuf {
        self.root.path().join("ws")
    }

    fn admin(&self, args: &[&str]) {
        let out = self.paddock.cmd(args);
        assert!(
            out.status.success(),
            "`{}`:\n{}",
            args.join(" "),
            describe(&out)
        );
    }

    fn grant(&self, cap: &str) {
        self.admin(&["plugin", "grant", self.name, cap]);
    }

    fn revoke(&self, cap: &str) {
        self.admin(&["plugin", "revoke", self.name, cap]);
    }

    fn call_env(&self, tool: &str, input: &Value, env: &[(&str, &str)]) -> Output {
        let mut cmd = self.paddock.command();
        cmd.args(["tool", "call", tool, "--workspace"])
            .arg(self.workspace())
            .args(["--input", &input.to_string()]);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().expect("run paddock tool call")
    }

    fn call(&self, tool: &str, input: Value) -> Output {
        self.call_env(tool, &input, &[])
    }

    /// A call that must succeed; returns its content.
    fn ok(&self, tool: &str, input: Value) -> String {
        let out = self.call(tool, input);
        assert!(
            out.status.success(),
            "{} {tool}:\n{}",
            self.name,
            describe(&out)
        );
        let text = stdout(&out);
        text.strip_suffix('\n').unwrap_or(&text).to_string()
    }

    /// A call that must end as a tool error; returns stderr.
    fn tool_error(&self, tool: &str, input: Value) -> String {
        assert_tool_error(&self.call(tool, input), &format!("{} {tool}", self.name))
    }

    fn assert_still_works(&self) {
        let out = self.ok("probe_echo", json!({}));
        assert!(
            out.starts_with("ok"),
            "{}: probe_echo said {out}",
            self.name
        );
        assert!(out.contains("workspace=/workspace"), "{out}");
    }
}

fn assert_tool_error(out: &Output, what: &str) -> String {
    assert_eq!(
        out.status.code(),
        Some(1),
        "`{what}` should be a tool error:\n{}",
        describe(out)
    );
    let err = stderr(out);
    assert!(err.contains("error: "), "`{what}`:\n{}", describe(out));
    err
}

fn assert_plugin_fault(err: &str, what: &str) {
    assert!(
        err.contains("error: plugin: "),
        "`{what}` should be reported as `error: plugin: ...`:\n{err}"
    );
}

// ---------------------------------------------------------------- checks

fn files(lang: Lang) {
    let probe = Probe::install(lang, &[]);
    std::fs::write(probe.workspace().join("inside.txt"), "inside text").expect("write");
    std::fs::write(probe.root.path().join("outside.txt"), "outside text 2").expect("write");

    // Nothing granted: not even the workspace.
    let err = probe.tool_error("probe_read", json!({"path": "/workspace/inside.txt"}));
    assert!(!err.contains("inside text"), "{err}");

    // Read-only: reads and lists, no writes, no escapes.
    probe.grant("fs:/workspace:ro");
    assert_eq!(
        probe.ok("probe_read", json!({"path": "/workspace/inside.txt"})),
        "inside text"
    );
    assert_eq!(
        probe.ok("probe_list", json!({"path": "/workspace"})),
        "inside.txt"
    );
    probe.tool_error(
        "probe_write",
        json!({"path": "/workspace/inside.txt", "content": "changed"}),
    );
    assert_eq!(
        std::fs::read_to_string(probe.workspace().join("inside.txt")).expect("read"),
        "inside text"
    );
    for path in ["/workspace/../outside.txt", "/etc/passwd"] {
        let out = probe.call("probe_read", json!({"path": path}));
        assert_tool_error(&out, path);
        assert!(!stdout(&out).contains("outside text 2") && !stdout(&out).contains("root:"));
    }

    // Read-write: the same write succeeds, still only inside.
    probe.revoke("fs:/workspace:ro");
    probe.grant("fs:/workspace:rw");
    probe.ok(
        "probe_write",
        json!({"path": "/workspace/inside.txt", "content": "changed"}),
    );
    assert_eq!(
        std::fs::read_to_string(probe.workspace().join("inside.txt")).expect("read"),
        "changed"
    );
    probe.tool_error(
        "probe_write",
        json!({"path": "/workspace/../escaped.txt", "content": "x"}),
    );
    assert!(!probe.root.path().join("escaped.txt").exists());
    probe.assert_still_works();
}

/// A TCP listener that greets and closes every connection, reporting each;
/// with `http`, it reads the request's head first and greets as an HTTP
/// response.
fn listener(http: bool) -> (String, mpsc::Receiver<()>) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr").to_string();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in l.incoming() {
            let Ok(mut s) = stream else { continue };
            const HELLO: &str = "hello from the test listener\n";
            if http {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && s.read(&mut byte).is_ok_and(|n| n == 1) {
                    head.push(byte[0]);
                }
                let _ = write!(
                    s,
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{HELLO}",
                    HELLO.len()
                );
            } else {
                let _ = s.write_all(HELLO.as_bytes());
            }
            drop(s);
            if tx.send(()).is_err() {
                break;
            }
        }
    });
    (addr, rx)
}

fn network(lang: Lang) {
    // Python opens a socket; JavaScript has no socket API (componentize-js
    // cannot bind `wasi:sockets`), its SDK's `net` speaks HTTP.
    let http = lang == Lang::Js;
    let (addr, accepted) = listener(http);
    let probe = Probe::install(lang, std::slice::from_ref(&addr));
    let (tool, connect) = if http {
        ("probe_http", json!({"url": format!("http://{addr}/")}))
    } else {
        ("probe_connect", json!({"addr": addr}))
    };

    probe.tool_error(tool, connect.clone());
    assert!(
        accepted.recv_timeout(Duration::from_millis(300)).is_err(),
        "a connection arrived without a grant"
    );

    probe.grant(&format!("net:{addr}"));
    let text = probe.ok(tool, connect.clone());
    assert!(text.contains("hello from the test listener"), "{text}");
    accepted
        .recv_timeout(Duration::from_secs(5))
        .expect("no connection reached the listener");

    probe.revoke(&format!("net:{addr}"));
    probe.tool_error(tool, connect);
    assert!(
        accepted.recv_timeout(Duration::from_millis(300)).is_err(),
        "a connection arrived after revoking"
    );
    probe.assert_still_works();
}

fn environment(lang: Lang) {
    const SECRET: &str = "s3cret-value-polyglot";
    const ALLOWED: &str = "allowed-value-polyglot";
    let probe = Probe::install(lang, &[]);
    let env = [("PROBE_SECRET", SECRET), ("PROBE_ALLOWED", ALLOWED)];
    let read = |name: &str| probe.call_env("probe_env", &json!({"name": name}), &env);

    probe.grant("env:PROBE_ALLOWED");
    let out = read("PROBE_ALLOWED");
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(stdout(&out).trim_end(), ALLOWED);
    let out = read("PROBE_SECRET");
    assert_tool_error(&out, "probe_env PROBE_SECRET without the grant");
    assert!(!stdout(&out).contains(SECRET) && !stderr(&out).contains(SECRET));
    assert_tool_error(&read("PATH"), "probe_env PATH");

    probe.grant("env:PROBE_SECRET");
    let out = read("PROBE_SECRET");
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(stdout(&out).trim_end(), SECRET);
}

fn exec(lang: Lang) {
    let probe = Probe::install(lang, &[]);
    let run = json!({"argv": ["sh", "-c", "echo ran in $PWD"]});
    let err = probe.tool_error("probe_exec", run.clone());
    assert!(
        err.contains("error: denied: ") && err.contains("exec denied"),
        "exec without the grant should be the tool error `denied`:\n{err}"
    );
    probe.grant("exec");
    assert_eq!(probe.ok("probe_exec", run), "exit 0\nran in /workspace");
}

fn memory(lang: Lang) {
    let probe = Probe::install(lang, &[]);
    let text = probe.ok("probe_alloc", json!({"bytes": 8u64 << 20}));
    assert!(
        text.starts_with(&format!("allocated {} bytes", 8u64 << 20)),
        "{text}"
    );
    // Past the limit the memory cannot grow: the language's own error
    // (Python's MemoryError, JavaScript's "out of memory", which the SDKs
    // make `failed` tool errors) or a trap the host reports as a `plugin`
    // error; either way the call fails, naming memory.
    let bytes = (MEMORY_MB + 32) << 20;
    let err = probe.tool_error("probe_alloc", json!({"bytes": bytes}));
    assert!(
        err.contains("error: plugin: ") || err.contains("error: failed: probe_alloc: "),
        "probe_alloc past the limit: {err}"
    );
    assert!(err.to_lowercase().contains("memory"), "{err}");
    probe.assert_still_works();
}

fn assert_deadline(probe: &Probe, tool: &str, input: Value) {
    let start = Instant::now();
    let out = probe.call(tool, input);
    let took = start.elapsed();
    let err = assert_tool_error(&out, tool);
    assert_plugin_fault(&err, tool);
    assert!(err.contains("timed out"), "{tool}: {err}");
    assert!(
        took >= Duration::from_millis(TIMEOUT_MS * 9 / 10),
        "{tool} ended after {took:?}, before its deadline: {err}"
    );
    assert!(took < DEADLINE_BOUND, "{tool} took {took:?}");
}

fn deadline(lang: Lang) {
    let probe = Probe::install(lang, &[]);
    assert_eq!(probe.ok("probe_sleep", json!({"ms": 10})), "slept 10 ms");
    assert_deadline(&probe, "probe_spin", json!({}));
    assert_deadline(&probe, "probe_sleep", json!({"ms": 60_000}));
    probe.assert_still_works();
}

fn isolation_and_errors(lang: Lang) {
    let probe = Probe::install(lang, &[]);
    for _ in 0..3 {
        assert_eq!(probe.ok("probe_counter", json!({})), "1");
    }
    // The SDK checks the input against the schema, naming the field.
    let err = probe.tool_error("probe_read", json!({"path": 7}));
    assert!(
        err.contains("error: invalid-input: ") && err.contains("probe_read.path"),
        "{err}"
    );
    let err = probe.tool_error("probe_read", json!({}));
    assert!(err.contains("missing field `path`"), "{err}");
    // An exception in the tool is a `failed` tool error with its message.
    let err = probe.tool_error("probe_raise", json!({"message": "raised 5e1d"}));
    assert!(
        err.contains("error: failed: ") && err.contains("raised 5e1d"),
        "{err}"
    );
    // Output past max_output_kb is refused by the host.
    let err = probe.tool_error("probe_big_output", json!({"bytes": 128 * 1024}));
    assert_plugin_fault(&err, "probe_big_output");
    probe.assert_still_works();
}

/// The matrix for one language, as the tests `capabilities_polyglot::LANG::CHECK`.
macro_rules! matrix {
    ($module:ident, $lang:expr $(, $extra:ident)*) => {
        mod $module {
            use super::Lang;
            $(
                #[test]
                fn $extra() {
                    super::$extra($lang);
                }
            )*

            #[test]
            fn files() {
                super::files($lang);
            }
            #[test]
            fn environment() {
                super::environment($lang);
            }
            #[test]
            fn exec() {
                super::exec($lang);
            }
            #[test]
            fn memory() {
                super::memory($lang);
            }
            #[test]
            fn deadline() {
                super::deadline($lang);
            }
            #[test]
            fn isolation_and_errors() {
                super::isolation_and_errors($lang);
            }
        }
    };
}

matrix!(python, Lang::Python, network);
matrix!(js, Lang::Js, network);
