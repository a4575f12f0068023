//! End-to-end: shell and git through the `exec` capability in a real
//! sandbox (bubblewrap here; the Docker backend has its own tests against
//! Podman): an agent writes a small Python project, runs its test with
//! `execute_bash`, sees it fail, fixes it, sees it pass and commits with
//! `git_operation`; live `tool.output` events; `kill -9` of the host while a
//! command runs leaves nothing behind; backend choice and its errors;
//! the network only when granted, and then the outside world, never the
//! host; background jobs through the manager.

use crate::common;
use crate::common::outside;

use common::scripted::*;
use common::{Paddock, Server, describe, git, scripted_config, stderr, stdout};
use paddock_plugins::{ExecBackend, ExecRequest};
use paddock_sandbox::{BackendChoice, SandboxConfig, SandboxManager};
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};

/// `[sandbox]` for the tests: bubblewrap, whatever engine may be around.
const BWRAP: &str = "[sandbox]\nbackend = \"bwrap\"\n";

/// `(success, content)` of each result of `tool`.
fn results(evs: &[Event], tool: &str) -> Vec<(bool, String)> {
    matching!(evs, EventBody::ToolResult { tool: t, success, content, .. } if t == tool
        => (*success, content.clone()))
}

/// The sandbox each tool call says it runs in.
fn call_sandboxes(evs: &[Event]) -> Vec<(String, Option<String>)> {
    matching!(evs, EventBody::ToolCall { tool, sandbox, .. } => (tool.clone(), sandbox.clone()))
}

/// Whether a command printed `text` (in one `tool.output` chunk).
fn printed(evs: &[Event], text: &str) -> bool {
    matching!(evs, EventBody::ToolOutput { chunk, .. } => chunk)
        .iter()
        .any(|c| c.contains(text))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_runs_a_failing_test_fixes_the_code_and_commits() {
    let script = r#"
model: scripted
turns:
  - text: "Writing the module and its test."
    tool_calls:
      - {name: write_file, arguments: {path: calc.py, content: "def add(a, b):\n    return a - b\n"}}
      - {name: write_file, arguments: {path: test_calc.py, content: "import calc\nassert calc.add(2, 3) == 5, 'add(2, 3) should be 5'\nprint('all tests passed')\n"}}
  - text: "Running the test."
    tool_calls: [{name: execute_bash, arguments: {command: "echo running; python3 -B test_calc.py", timeout_secs: 60}}]
  - when: {tool: "AssertionError"}
    text: "It fails: add subtracts. Fixing."
    tool_calls: [{name: edit_file, arguments: {path: calc.py, old_string: "a - b", new_string: "a + b"}}]
  - text: "Running the test again."
    tool_calls: [{name: execute_bash, arguments: {command: "python3 -B test_calc.py"}}]
  - when: {tool: "all tests passed"}
    text: "Committing."
    tool_calls: [{name: git_operation, arguments: {operation: add, args: [calc.py, test_calc.py]}}]
  - tool_calls: [{name: git_operation, arguments: {operation: commit, args: ["-m", "Fix add and test it"]}}]
  - text: "Done: add is fixed, its test passes, and the fix is committed."
"#;
    let s = setup(script, BWRAP, &[]).await;
    let ws = s.workspace.path();
    git(ws, &["init", "-q", "-b", "main"]);
    let id = s.create("Make add() correct and commit").await;
    let evs = s.wait_status(&id, 0, &["idle", "error", "stopped"]).await;
    assert_eq!(last_status(&evs), AgentStatus::Idle, "{}", summary(&evs));

    let bash = results(&evs, "execute_bash");
    assert_eq!(bash.len(), 2, "{}", summary(&evs));
    let first = &bash[0].1;
    assert!(first.contains("AssertionError"), "{first}");
    assert!(
        first.contains("exit code: 1")
            || first.contains("exit_code: 1")
            || first.contains("\"exit_code\":1"),
        "{first}"
    );
    let second = &bash[1].1;
    assert!(second.contains("all tests passed"), "{second}");
    // The failing run is a failed result with its exit code; the model saw
    // it as it always did and went on (no repeated-failure stop).
    let codes = matching!(evs, EventBody::ToolResult { tool, success, exit_code, .. }
        if tool == "execute_bash" => (*success, *exit_code));
    assert_eq!(codes, [(false, Some(1)), (true, Some(0))]);
    // Commands stream their output while they run.
    let streamed: String =
        matching!(evs, EventBody::ToolOutput { chunk, .. } => chunk.as_str()).concat();
    assert!(streamed.contains("running"), "{}", summary(&evs));
    // Tools that run commands say where.
    for (tool, sandbox) in call_sandboxes(&evs) {
        if tool == "execute_bash" || tool == "git_operation" {
            assert_eq!(sandbox.as_deref(), Some("bwrap"), "{tool}");
        } else {
            assert_eq!(sandbox, None, "{tool}");
        }
    }
    for (success, content) in results(&evs, "git_operation") {
        assert!(success, "{content}");
    }
    let log = git(ws, &["log", "--format=%s"]);
    assert_eq!(log.trim(), "Fix add and test it");
    assert_eq!(
        std::fs::read_to_string(ws.join("calc.py")).unwrap(),
        "def add(a, b):\n    return a + b\n"
    );
    // Everything is committed (the file tools' backups aside).
    let status = git(ws, &["status", "--porcelain"]);
    assert_eq!(status.trim(), "?? .paddock/", "{status}");
    let agent = s.agent(&id).await;
    assert_eq!(agent["sandbox"], "bwrap", "{agent}");
}

/// Processes on this host whose command line contains `marker`.
fn processes_with(marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if text.contains(marker) {
            found.push(format!("{}: {text}", entry.file_name().to_string_lossy()));
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_the_host_while_a_command_runs_leaves_nothing_behind() {
    // A duration no other process uses, to find the command by.
    let marker = format!("{}.{}", 900 + std::process::id() % 97, std::process::id());
    let script = format!(
        r#"
model: scripted
turns:
  - tool_calls: [{{name: execute_bash, arguments: {{command: "echo started; sleep {marker} & sleep {marker}", timeout_secs: 600}}}}]
  - text: "The command was cut off."
"#
    );
    let mut s = setup(&script, BWRAP, &[]).await;
    let id = s.create("run a long command").await;
    let started = Instant::now();
    loop {
        let evs = s.events(&id).await;
        if printed(&evs, "started") && processes_with(&marker).len() >= 2 {
            break;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "the command never started: {}",
            summary(&evs)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    s.server.kill9();
    let killed = Instant::now();
    while !processes_with(&marker).is_empty() {
        assert!(
            killed.elapsed() < Duration::from_secs(20),
            "the sandboxed command outlived its host: {:?}",
            processes_with(&marker)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The next start finds the dead host's owner lock and removes what it
    // left (its cgroups); the agent resumes and is told the call was cut.
    let owners_before: Vec<_> = std::fs::read_dir(s.paddock.data_dir().join("sandboxes"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(owners_before.len(), 1, "{owners_before:?}");
    s.server = Server::start(&s.paddock, &s.config, None, &[]);
    let evs = s.wait_status(&id, 0, &["idle", "error"]).await;
    let r = results(&evs, "execute_bash");
    assert_eq!(r.len(), 1, "{}", summary(&evs));
    assert!(!r[0].0, "{}", summary(&evs));
    let owners_after: Vec<_> = std::fs::read_dir(s.paddock.data_dir().join("sandboxes"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !owners_after.contains(&owners_before[0]),
        "the dead host's sandboxes were not reaped: {owners_after:?}"
    );
    let dead = owners_before[0].trim_end_matches(".lock");
    let mut leftovers = Vec::new();
    for hierarchy in ["pids", "memory", "cpu", "unified", ""] {
        let root = Path::new("/sys/fs/cgroup").join(hierarchy);
        find_named(&root, dead, 6, &mut leftovers);
    }
    assert!(
        leftovers.is_empty(),
        "cgroups of the dead host remain: {leftovers:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_with_the_docker_backend_then_the_next_start_removes_its_container() {
    let engine = common::podman::engine();
    let script = r#"
model: scripted
turns:
  - tool_calls: [{name: execute_bash, arguments: {command: "echo started; sleep 1000", timeout_secs: 600}}]
  - text: "The command was cut off."
"#;
    let config = format!(
        "[sandbox]\nbackend = \"docker\"\ndocker_host = \"{}\"\n",
        engine.endpoint
    );
    let mut s = setup(script, &config, &[]).await;
    // Containers run as the workspace's owner, never root.
    std::os::unix::fs::chown(s.workspace.path(), Some(1000), Some(1000)).unwrap();
    let id = s.create("run a long command").await;
    let started = Instant::now();
    loop {
        let evs = s.events(&id).await;
        if printed(&evs, "started") {
            assert_eq!(call_sandboxes(&evs)[0].1.as_deref(), Some("docker"));
            break;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "the command never started: {}",
            summary(&evs)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mine = [format!("paddock.agent={id}")];
    assert_eq!(common::podman::containers_of(&mine).await.len(), 1);
    s.server.kill9();
    // The engine keeps the container of a killed host...
    assert_eq!(common::podman::containers_of(&mine).await.len(), 1);
    // ...until the next start removes it.
    s.server = Server::start(&s.paddock, &s.config, None, &[]);
    let evs = s.wait_status(&id, 0, &["idle", "error"]).await;
    assert!(!results(&evs, "execute_bash")[0].0);
    assert!(
        common::podman::containers_of(&mine).await.is_empty(),
        "the dead host's container survived the next start"
    );
    assert_eq!(s.agent(&id).await["sandbox"], "docker");
}

/// Directories under `root` (to `depth`) whose name contains `needle`.
fn find_named(root: &Path, needle: &str, depth: usize, out: &mut Vec<String>) {
    if depth == 0 {
        return;
    }
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for e in entries.flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            let p = e.path();
            if e.file_name().to_string_lossy().contains(needle) {
                out.push(p.display().to_string());
            }
            find_named(&p, needle, depth - 1, out);
        }
    }
}

fn tool_call(
    p: &Paddock,
    ws: &Path,
    input: Value,
    extra: &[&str],
    env: &[(&str, &str)],
) -> std::process::Output {
    let mut cmd = p.command();
    cmd.args(["tool", "call", "execute_bash", "--workspace"])
        .arg(ws)
        .arg("--input")
        .arg(input.to_string())
        .args(extra);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run paddock tool call")
}

#[test]
fn the_backend_is_chosen_explicitly_and_never_silently_unsandboxed() {
    let p = Paddock::new();
    let ws = tempfile::tempdir().unwrap();
    let input = json!({"command": "pwd; echo hello"});

    let out = tool_call(&p, ws.path(), input.clone(), &["--sandbox", "bwrap"], &[]);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(stdout(&out).contains("/workspace"), "{}", describe(&out));
    assert!(stdout(&out).contains("hello"), "{}", describe(&out));

    // Docker chosen but no engine answers: a clear error, nothing runs.
    let out = tool_call(
        &p,
        ws.path(),
        input.clone(),
        &["--sandbox", "docker"],
        &[("DOCKER_HOST", "unix:///nonexistent/docker.sock")],
    );
    assert!(!out.status.success(), "{}", describe(&out));
    let err = stderr(&out).to_lowercase();
    assert!(err.contains("docker"), "{}", describe(&out));
    assert!(!stdout(&out).contains("hello"), "{}", describe(&out));

    // A broken bubblewrap is reported, not bypassed.
    let config = p.data_dir().join("broken.toml");
    std::fs::write(&config, "[sandbox]\nbwrap_path = \"/nonexistent/bwrap\"\n").unwrap();
    let config = config.to_string_lossy().into_owned();
    let out = tool_call(
        &p,
        ws.path(),
        input.clone(),
        &["--sandbox", "bwrap", "--config", &config],
        &[],
    );
    assert!(!out.status.success(), "{}", describe(&out));
    assert!(
        stderr(&out).contains("bwrap") || stderr(&out).contains("bubblewrap"),
        "{}",
        describe(&out)
    );
    assert!(!stdout(&out).contains("hello"), "{}", describe(&out));

    // `none` needs the explicit flag.
    let out = tool_call(&p, ws.path(), input.clone(), &["--sandbox", "none"], &[]);
    assert!(!out.status.success(), "{}", describe(&out));
    assert!(
        stderr(&out).contains("--unsafe-no-sandbox"),
        "{}",
        describe(&out)
    );
    let out = tool_call(&p, ws.path(), input, &["--unsafe-no-sandbox"], &[]);
    assert!(out.status.success(), "{}", describe(&out));
    let real = std::fs::canonicalize(ws.path()).unwrap();
    assert!(
        stdout(&out).contains(&*real.to_string_lossy()),
        "{}",
        describe(&out)
    );
}

/// Through the real binary (`paddock tool call --network`): the granted
/// network reaches an outside host (a network namespace of the test's own),
/// never the host's loopback, its other addresses or its PostgreSQL; without
/// the grant, nothing. Paddock run as root and as an ordinary user.
#[test]
fn the_network_reaches_the_outside_only_when_granted_never_the_host() {
    let outside = match outside::OutsideHost::start() {
        Ok(o) => o,
        Err(e) => {
            if std::env::var_os("PADDOCK_TEST_REQUIRE_SANDBOX").is_some() {
                panic!("required but unavailable: an outside host: {e}");
            }
            return eprintln!("SKIPPED: no outside host for the network test: {e}");
        }
    };
    assert!(
        outside::postgres_answers(),
        "PostgreSQL does not answer on 127.0.0.1:5432"
    );
    let host = outside::Listener::any("hello from the host\n");
    let targets = outside::targets(&outside, &host);
    let input = json!({
        "command": outside::probe_script(&targets, host.port, outside::host_gateway())
    });
    let p = Paddock::new();
    let ws = tempfile::tempdir().unwrap();

    let out = tool_call(&p, ws.path(), input.clone(), &["--sandbox", "bwrap"], &[]);
    assert!(out.status.success(), "{}", describe(&out));
    outside::assert_nothing_reached(&stdout(&out), targets.len());

    let out = tool_call(
        &p,
        ws.path(),
        input.clone(),
        &["--sandbox", "bwrap", "--network"],
        &[],
    );
    assert!(out.status.success(), "{}", describe(&out));
    outside::assert_only_outside(&stdout(&out), targets.len());

    // The same with Paddock run by an ordinary user (nobody), not root.
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let (data, cache, ws) = (dirs[0].path(), dirs[1].path(), dirs[2].path());
    let shared = common::shared_cache_dir();
    if shared.is_dir() {
        let copied = std::process::Command::new("cp")
            .arg("-a")
            .arg(shared.join("."))
            .arg(cache)
            .status()
            .unwrap();
        assert!(copied.success());
    }
    for dir in [data, cache, ws] {
        let chowned = std::process::Command::new("chown")
            .args(["-R", "65534:65534"])
            .arg(dir)
            .status()
            .unwrap();
        assert!(chowned.success());
    }
    let out = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(common::paddock_bin())
        .arg("--data-dir")
        .arg(data)
        .args([
            "tool",
            "call",
            "execute_bash",
            "--sandbox",
            "bwrap",
            "--network",
        ])
        .arg("--workspace")
        .arg(ws)
        .arg("--input")
        .arg(input.to_string())
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", data)
        .env("PADDOCK_CACHE_DIR", cache)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    outside::assert_only_outside(&stdout(&out), targets.len());

    assert_eq!(
        host.hits(),
        0,
        "a connection from the sandbox arrived on the host"
    );
    assert_eq!(outside.hits(), 2);
}

/// A host whose resolver is on its own loopback (as systemd-resolved's
/// `127.0.0.53` is): names still resolve in a bubblewrap sandbox granted
/// the network, through slirp4netns's forwarder (port 53 only), while the
/// host's loopback stays out of reach. Paddock runs in a mount namespace
/// whose `/etc/resolv.conf` names `127.0.0.1`, where a small DNS server of
/// the test's own answers every name with `203.0.113.7`.
#[test]
fn names_resolve_through_a_resolver_on_the_hosts_loopback() {
    let skip = |why: &str| {
        if std::env::var_os("PADDOCK_TEST_REQUIRE_SANDBOX").is_some() {
            panic!("required but unavailable: {why}");
        }
        eprintln!("SKIPPED: {why}");
    };
    if unsafe { libc::geteuid() } != 0 {
        return skip("a private /etc/resolv.conf and port 53 need root");
    }
    let dns = match std::net::UdpSocket::bind("127.0.0.1:53") {
        Ok(socket) => socket,
        Err(e) => return skip(&format!("127.0.0.1:53 is taken here: {e}")),
    };
    let queries = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = queries.clone();
    // The port is given back when the test ends, however it ends (the
    // other suites share this process).
    struct Stop(std::sync::Arc<std::sync::atomic::AtomicBool>);
    impl Drop for Stop {
        fn drop(&mut self) {
            self.0.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }
    let stop = Stop(Default::default());
    let stopped = stop.0.clone();
    dns.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        while !stopped.load(std::sync::atomic::Ordering::SeqCst) {
            let Ok((n, from)) = dns.recv_from(&mut buf) else {
                continue;
            };
            // Header, then the question (labels, a zero, type and class).
            let mut end = 12;
            while end < n && buf[end] != 0 {
                end += usize::from(buf[end]) + 1;
            }
            end += 5;
            if end > n {
                continue;
            }
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mut answer = buf[..2].to_vec();
            answer.extend_from_slice(&[0x81, 0x80, buf[4], buf[5], 0, 1, 0, 0, 0, 0]);
            answer.extend_from_slice(&buf[12..end]);
            // A pointer to the question's name, type A, class IN, TTL 60.
            answer.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 203, 0, 113, 7]);
            let _ = dns.send_to(&answer, from);
        }
    });
    let conf = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(conf.path(), "nameserver 127.0.0.1\n").unwrap();
    let p = Paddock::new();
    let ws = tempfile::tempdir().unwrap();
    let inner = p.command();
    let mut cmd = std::process::Command::new("unshare");
    cmd.args([
        "-m",
        "sh",
        "-c",
        "mount --bind \"$0\" /etc/resolv.conf && exec \"$@\"",
    ])
    .arg(conf.path())
    .arg(inner.get_program())
    .args(inner.get_args())
    .args([
        "tool",
        "call",
        "execute_bash",
        "--sandbox",
        "bwrap",
        "--network",
        "--workspace",
    ])
    .arg(ws.path())
    .arg("--input")
    .arg(
        json!({"command": "cat /etc/resolv.conf; getent ahostsv4 paddock-test.example | head -n1"})
            .to_string(),
    );
    for (k, v) in inner.get_envs() {
        if let Some(v) = v {
            cmd.env(k, v);
        }
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let text = stdout(&out);
    assert!(text.contains("nameserver 10.0.2.3"), "{}", describe(&out));
    assert!(
        text.contains("203.0.113.7") && text.contains("paddock-test.example"),
        "{}",
        describe(&out)
    );
    assert!(queries.load(std::sync::atomic::Ordering::SeqCst) >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsandboxed_host_is_flagged_on_the_agent_and_in_its_events() {
    let script = r#"
model: scripted
turns:
  - tool_calls: [{name: execute_bash, arguments: {command: "echo hi"}}]
  - text: "done"
"#;
    let model = model(script).await;
    let paddock = Paddock::new();
    let config = scripted_config(paddock.data_dir(), &model.base_url(), "");
    let server = Server::start_with_args(&paddock, &config, None, &[], &["--unsafe-no-sandbox"]);
    let http = common::client();
    let ws = tempfile::tempdir().unwrap();
    let r = http
        .post(server.url("/api/agents"))
        .json(&json!({"name": "u", "workspace": ws.path(), "task": "say hi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    let id = v["id"].as_str().unwrap().to_string();
    assert_eq!(v["sandbox"], "none", "{v}");
    let evs = wait_status(&http, &server, &id, 0, &["idle", "error"]).await;
    let call = &call_sandboxes(&evs)[0];
    assert_eq!(call.1.as_deref(), Some("none"), "{call:?}");
    assert!(results(&evs, "execute_bash")[0].0, "{}", summary(&evs));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_background_job_outlives_its_call_but_not_its_agent() {
    let marker = format!("{}.{}", 700 + std::process::id() % 83, std::process::id());
    let script = format!(
        r#"
model: scripted
turns:
  - tool_calls: [{{name: execute_bash, arguments: {{command: "echo bg-started; sleep {marker}", background: true}}}}]
  - text: "Started it."
"#
    );
    let s = setup(&script, BWRAP, &[]).await;
    let id = s.create("start a server").await;
    // The call returns at once with a job id (its output is read with
    // `bash_job`, not streamed), and the run ends while the job runs on.
    let evs = s.wait_status(&id, 0, &["idle", "error"]).await;
    let r = results(&evs, "execute_bash");
    assert_eq!(r.len(), 1, "{}", summary(&evs));
    assert!(r[0].0, "{}", summary(&evs));
    assert!(r[0].1.contains("job-"), "{}", summary(&evs));
    let t = Instant::now();
    while processes_with(&marker).is_empty() {
        assert!(t.elapsed() < DEADLINE, "the job never ran");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Deleting the agent destroys its sandbox and its jobs.
    let r = s
        .http
        .delete(s.server.url(&format!("/api/agents/{id}")))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let t = Instant::now();
    while !processes_with(&marker).is_empty() {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "{:?}",
            processes_with(&marker)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn request(agent: &str, ws: &Path, argv: &[&str]) -> ExecRequest {
    ExecRequest {
        agent_id: agent.into(),
        call_id: "c1".into(),
        workspace: Some(ws.to_path_buf()),
        network: false.into(),
        read_only: Vec::new(),
        output: None,
        argv: argv.iter().map(|s| s.to_string()).collect(),
        cwd: None,
        env: Vec::new(),
        timeout_ms: Some(60_000),
        max_output_bytes: None,
        stdin: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_jobs_run_on_are_read_while_running_and_are_killed_with_their_tree() {
    let data = tempfile::tempdir().unwrap();
    let ws = tempfile::tempdir().unwrap();
    let m = SandboxManager::open(
        &SandboxConfig::default(),
        Some(BackendChoice::Bwrap),
        false,
        data.path(),
    )
    .await
    .unwrap();
    let marker = format!("{}.{}", 800 + std::process::id() % 89, std::process::id());
    let script = format!(
        "echo ready; sleep {marker} & for i in $(seq 1000); do echo tick $i; sleep 0.05; done"
    );
    let job = m
        .spawn(request("a1", ws.path(), &["bash", "-c", &script]))
        .await
        .unwrap();
    // A foreground command meanwhile does not disturb it.
    let out = m
        .run(request("a1", ws.path(), &["echo", "foreground"]))
        .await
        .unwrap();
    assert_eq!(out.stdout.trim(), "foreground");
    let started = Instant::now();
    loop {
        let st = m.poll("a1", &job).await.unwrap();
        assert!(st.running, "{st:?}");
        if st.output.stdout.contains("tick 3") {
            assert!(st.output.stdout.starts_with("ready"), "{st:?}");
            break;
        }
        assert!(started.elapsed() < DEADLINE, "no output: {st:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!processes_with(&marker).is_empty());
    let st = m.kill("a1", &job).await.unwrap();
    assert!(!st.running);
    assert_eq!(st.output.exit_code, None);
    let killed = Instant::now();
    while !processes_with(&marker).is_empty() {
        assert!(
            killed.elapsed() < Duration::from_secs(20),
            "{:?}",
            processes_with(&marker)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        m.poll("a1", &job).await.is_err(),
        "a killed job is forgotten"
    );
    assert!(m.poll("a1", "job-nope").await.is_err());
    // Destroying the agent's sandbox kills its jobs too.
    let job = m
        .spawn(request("a1", ws.path(), &["sleep", &marker]))
        .await
        .unwrap();
    let t = Instant::now();
    while processes_with(&marker).is_empty() {
        assert!(t.elapsed() < DEADLINE);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    m.destroy("a1").await.unwrap();
    let t = Instant::now();
    while !processes_with(&marker).is_empty() {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "{:?}",
            processes_with(&marker)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(m.poll("a1", &job).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_checked_before_anything_runs() {
    let data = tempfile::tempdir().unwrap();
    let ws = tempfile::tempdir().unwrap();
    let m = SandboxManager::open(
        &SandboxConfig::default(),
        Some(BackendChoice::Bwrap),
        false,
        data.path(),
    )
    .await
    .unwrap();
    let mut r = request("a2", ws.path(), &["pwd"]);
    r.cwd = Some("../../etc".into());
    assert!(m.run(r).await.is_err());
    let mut r = request("a2", ws.path(), &["pwd"]);
    r.workspace = None;
    assert!(m.run(r).await.is_err());
    let mut r = request("a2", ws.path(), &["env"]);
    r.env = vec![("A=B".into(), "x".into())];
    assert!(m.run(r).await.is_err());
    let mut r = request("a2", ws.path(), &["pwd"]);
    std::fs::create_dir(ws.path().join("sub")).unwrap();
    r.cwd = Some("sub".into());
    assert_eq!(m.run(r).await.unwrap().stdout.trim(), "/workspace/sub");
    // The timeout is capped by the host's maximum; the output by its cap.
    let mut r = request(
        "a2",
        ws.path(),
        &["bash", "-c", "head -c 300000 /dev/zero | tr '\\0' x"],
    );
    r.max_output_bytes = Some(1000);
    let out = m.run(r).await.unwrap();
    assert!(out.truncated);
    assert!(out.stdout.len() < 2000, "{}", out.stdout.len());
    m.shutdown().await;
}
