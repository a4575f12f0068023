//! The Docker backend's pool of engines, for real: two Podman services,
//! each with a store of its own behind a TLS terminator that requires a
//! client certificate (`scripts/podman-engines.sh`), stand in for two
//! machines' `tcp://` Docker engines. Sandboxes spread over both; one
//! engine stopped mid-command fails only its own agents' commands, with an
//! error naming it; new sandboxes go to the other; when it is back its
//! agents' commands run again. Driven through `SandboxManager`, the object
//! the host runs commands through, and through agents of a real server.

use crate::common;

use common::engines::RemoteEngine;
use common::scripted::*;
use paddock_sandbox::exec::{ExecBackend, ExecFailure, ExecOutcome, ExecRequest};
use paddock_sandbox::{
    BackendChoice, EngineConfig, EngineStatus, PathMapping, SandboxConfig, SandboxError,
    SandboxLimits, SandboxManager,
};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn limits() -> SandboxLimits {
    SandboxLimits {
        memory_mb: 256,
        cpus: 0.5,
        pids: 64,
        file_size_mb: 8,
        tmp_size_mb: 16,
        cpu_time_secs: 120,
    }
}

fn engine(url: &str, capacity: u32) -> EngineConfig {
    EngineConfig {
        url: url.to_string(),
        tls: Some(RemoteEngine::tls()),
        ssh_key: None,
        capacity,
        path_map: Vec::new(),
        host_addresses: Vec::new(),
    }
}

/// A workspace owned by uid 1000 (when the tests run as root: commands
/// never run as root).
fn workspace_in(dir: &Path, name: &str) -> PathBuf {
    let ws = dir.join(name);
    std::fs::create_dir_all(&ws).unwrap();
    if unsafe { libc::getuid() } == 0 {
        std::os::unix::fs::chown(&ws, Some(1000), Some(1000)).unwrap();
    }
    ws
}

fn request(agent: &str, workspace: &Path, script: &str) -> ExecRequest {
    ExecRequest {
        agent_id: agent.to_string(),
        call_id: format!("call-{:08x}", rand::random::<u32>()),
        workspace: Some(workspace.to_path_buf()),
        network: false.into(),
        read_only: Vec::new(),
        output: None,
        argv: vec!["sh".into(), "-c".into(), script.into()],
        cwd: None,
        env: Vec::new(),
        timeout_ms: Some(60_000),
        max_output_bytes: None,
        stdin: None,
    }
}

async fn run(
    m: &SandboxManager,
    agent: &str,
    workspace: &Path,
    script: &str,
) -> Result<ExecOutcome, ExecFailure> {
    m.run(request(agent, workspace, script)).await
}

async fn ok(m: &SandboxManager, agent: &str, workspace: &Path, script: &str) -> ExecOutcome {
    let out = run(m, agent, workspace, script)
        .await
        .unwrap_or_else(|e| panic!("{agent}: `{script}` failed: {e}"));
    assert_eq!(out.exit_code, Some(0), "{agent}: `{script}`: {out:?}");
    out
}

fn status_of<'a>(all: &'a [EngineStatus], url: &str) -> &'a EngineStatus {
    all.iter()
        .find(|s| s.url == url)
        .unwrap_or_else(|| panic!("no engine {url} in {all:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandboxes_spread_over_two_tls_engines_and_a_stopped_one_fails_only_its_own() {
    let a = RemoteEngine::start("a");
    let b = RemoteEngine::start("b");
    let dir = tempfile::Builder::new()
        .prefix("paddock-engines-")
        .tempdir()
        .unwrap();
    // Engine A sees the workspaces through `path_map` (its "machine"
    // mounts them elsewhere: a symlink here); B at the host's own path.
    let host_root = dir.path().join("workspaces");
    std::fs::create_dir_all(&host_root).unwrap();
    let engine_view = dir.path().join("engine-view");
    std::os::unix::fs::symlink(&host_root, &engine_view).unwrap();
    let config = SandboxConfig {
        backend: BackendChoice::Docker,
        limits: limits(),
        engines: vec![
            EngineConfig {
                path_map: vec![PathMapping {
                    host: host_root.clone(),
                    engine: engine_view.clone(),
                }],
                ..engine(&a.url, 3)
            },
            engine(&b.url, 3),
        ],
        ..SandboxConfig::default()
    };
    let host_id = format!("eng{:08x}", rand::random::<u32>());
    let m = SandboxManager::start(&config, None, false, &host_id)
        .await
        .expect("the pool starts");
    let engines = m.engines();
    assert_eq!(engines.len(), 2, "{engines:?}");
    assert!(engines.iter().all(|e| e.healthy && !e.local), "{engines:?}");

    // Four agents: least-loaded placement puts two on each engine.
    let agents: Vec<String> = (1..=4).map(|i| format!("agent-{i}")).collect();
    let mut workspaces = Vec::new();
    for agent in &agents {
        let ws = workspace_in(&host_root, agent);
        let out = ok(
            &m,
            agent,
            &ws,
            &format!("echo {agent} > /workspace/hello.txt && id -u"),
        )
        .await;
        assert_eq!(out.stdout.trim(), "1000", "never root: {out:?}");
        // The engine wrote into the host's workspace (a shared path).
        assert_eq!(
            std::fs::read_to_string(ws.join("hello.txt"))
                .unwrap()
                .trim(),
            agent.as_str()
        );
        workspaces.push(ws);
    }
    let engines = m.engines();
    assert_eq!(status_of(&engines, &a.url).sandboxes, 2, "{engines:?}");
    assert_eq!(status_of(&engines, &b.url).sandboxes, 2, "{engines:?}");
    let on_a = a.containers_with(&format!("paddock.host={host_id}")).await;
    let on_b = b.containers_with(&format!("paddock.host={host_id}")).await;
    assert_eq!((on_a.len(), on_b.len()), (2, 2), "{on_a:?} {on_b:?}");
    // A's containers mount the workspace at the path its machine sees.
    let view = engine_view.display().to_string();
    assert!(
        on_a.iter()
            .all(|(_, mounts)| mounts.iter().any(|s| s.starts_with(&view))),
        "{on_a:?}"
    );
    assert!(
        on_b.iter()
            .all(|(_, mounts)| mounts.iter().all(|s| !s.starts_with(&view))),
        "{on_b:?}"
    );

    // Agents 1 and 3 went to A (the first of equal loads), 2 and 4 to B.
    let agents_on = |found: &[(String, Vec<String>)]| -> Vec<String> {
        found.iter().map(|(agent, _)| agent.clone()).collect()
    };
    assert_eq!(agents_on(&on_a), ["agent-1", "agent-3"]);
    assert_eq!(agents_on(&on_b), ["agent-2", "agent-4"]);

    // A command running on B when B goes away fails, naming B.
    let long = {
        let m = &m;
        let ws = workspaces[1].clone();
        async move { run(m, "agent-2", &ws, "echo started; sleep 30; echo finished").await }
    };
    let stop_b = async {
        tokio::time::sleep(Duration::from_secs(3)).await;
        b.stop();
        Instant::now()
    };
    let (result, stopped_at) = tokio::join!(long, stop_b);
    let failed_after = stopped_at.elapsed();
    match &result {
        Err(ExecFailure::Unavailable(m)) => assert!(
            m.contains(&b.url) && m.contains("does not answer") && m.contains("agent-2"),
            "{m}"
        ),
        other => panic!("the command on the stopped engine: {other:?}"),
    }
    assert!(
        failed_after < Duration::from_secs(20),
        "it failed {failed_after:?} after the engine stopped, not when it did"
    );
    eprintln!("command on the stopped engine failed after {failed_after:?}: {result:?}");

    // B's other agent fails too, at once and clearly; A's agents go on.
    let started = Instant::now();
    let err = run(&m, "agent-4", &workspaces[3], "echo hi")
        .await
        .expect_err("agent-4's engine is down");
    assert!(
        matches!(&err, ExecFailure::Unavailable(m) if m.contains(&b.url) && m.contains("sandbox.engines[1]")),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(15), "fails fast");
    for i in [0, 2] {
        let out = ok(&m, &agents[i], &workspaces[i], "cat /workspace/hello.txt").await;
        assert_eq!(out.stdout.trim(), agents[i]);
    }
    let engines = m.engines();
    let down = status_of(&engines, &b.url);
    assert!(!down.healthy && down.error.is_some(), "{engines:?}");
    assert!(status_of(&engines, &a.url).healthy, "{engines:?}");

    // A new sandbox goes to A; once A is full (3) and B down, a clear
    // error says so.
    let ws5 = workspace_in(&host_root, "agent-5");
    ok(&m, "agent-5", &ws5, "true").await;
    assert_eq!(status_of(&m.engines(), &a.url).sandboxes, 3);
    assert_eq!(
        a.containers_with(&format!("paddock.host={host_id}"))
            .await
            .len(),
        3
    );
    let ws6 = workspace_in(&host_root, "agent-6");
    let err = run(&m, "agent-6", &ws6, "true")
        .await
        .expect_err("no engine has room");
    assert!(
        matches!(&err, ExecFailure::Unavailable(m)
            if m.contains("full") && m.contains(&a.url) && m.contains(&b.url)),
        "{err}"
    );

    // B is back (same address; its containers kept running): its agents'
    // commands run again, and agent-6 gets a place on it.
    b.restart();
    // The periodic health check (every 10 s) finds it answering again.
    let back = Instant::now();
    while !status_of(&m.engines(), &b.url).healthy {
        assert!(
            back.elapsed() < Duration::from_secs(30),
            "the restarted engine is still down: {:?}",
            m.engines()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!("engine seen again after {:?}", back.elapsed());
    let out = ok(&m, "agent-4", &workspaces[3], "cat /workspace/hello.txt").await;
    assert_eq!(out.stdout.trim(), "agent-4");
    ok(&m, "agent-6", &ws6, "true").await;
    let engines = m.engines();
    assert!(status_of(&engines, &b.url).healthy, "{engines:?}");
    assert_eq!(status_of(&engines, &b.url).sandboxes, 3, "{engines:?}");

    // A network-enabled sandbox needs the remote machine's addresses.
    let mut open = request("agent-7", &workspace_in(&host_root, "agent-7"), "true");
    open.network = true.into();
    let err = m.run(open).await.expect_err("no engine may take it");
    assert!(
        matches!(&err, ExecFailure::Invalid(m) if m.contains("host_addresses")),
        "{err}"
    );

    m.shutdown().await;
    assert!(
        a.containers_with(&format!("paddock.host={host_id}"))
            .await
            .is_empty()
    );
    assert!(
        b.containers_with(&format!("paddock.host={host_id}"))
            .await
            .is_empty()
    );
    let engines = m.engines();
    assert!(engines.iter().all(|e| e.sandboxes == 0), "{engines:?}");

    // Hosts sharing the engines count each other's sandboxes: host X puts
    // two on A and one on B, so host Y's first goes to B (by its own count
    // alone, A).
    let hx = format!("engx{:08x}", rand::random::<u32>());
    let hy = format!("engy{:08x}", rand::random::<u32>());
    let x = SandboxManager::start(&config, None, false, &hx)
        .await
        .unwrap();
    for agent in ["x-1", "x-2", "x-3"] {
        ok(&x, agent, &workspace_in(&host_root, agent), "true").await;
    }
    assert_eq!(
        a.containers_with(&format!("paddock.host={hx}")).await.len(),
        2
    );
    let y = SandboxManager::start(&config, None, false, &hy)
        .await
        .unwrap();
    ok(&y, "y-1", &workspace_in(&host_root, "y-1"), "true").await;
    assert_eq!(
        b.containers_with(&format!("paddock.host={hy}")).await.len(),
        1,
        "{:?}",
        y.engines()
    );
    let seen = status_of(&y.engines(), &b.url).all_sandboxes;
    assert_eq!(seen, 2, "every host's sandboxes on B: {:?}", y.engines());
    x.shutdown().await;
    y.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_entries_are_checked_and_a_client_without_a_certificate_is_refused() {
    // A tcp:// engine without client certificates is refused, naming the
    // field, whichever backend is asked for (never a silent fall back).
    let bad = SandboxConfig {
        engines: vec![EngineConfig {
            tls: None,
            ..engine("tcp://127.0.0.1:2376", 4)
        }],
        ..SandboxConfig::default()
    };
    for choice in [
        None,
        Some(BackendChoice::Docker),
        Some(BackendChoice::Bwrap),
    ] {
        let err = SandboxManager::start(&bad, choice, false, "t")
            .await
            .err()
            .expect("refused");
        assert!(
            matches!(&err, SandboxError::Invalid(m) if m.contains("`sandbox.engines[0].tls`")),
            "{err}"
        );
    }

    // The stand-in engine really requires the client certificate: a plain
    // TLS client without one gets no answer.
    let a = RemoteEngine::start("tls");
    let tls = RemoteEngine::tls();
    let https = a.url.replacen("tcp://", "https://", 1);
    let curl = |with_cert: bool| {
        let mut c = std::process::Command::new("curl");
        c.args(["-fsS", "--max-time", "5", "--cacert"]).arg(&tls.ca);
        if with_cert {
            c.arg("--cert").arg(&tls.cert).arg("--key").arg(&tls.key);
        }
        c.arg(format!("{https}/_ping")).output().expect("run curl")
    };
    let refused = curl(false);
    assert!(
        !refused.status.success(),
        "answered without a client certificate: {}",
        String::from_utf8_lossy(&refused.stdout)
    );
    let answered = curl(true);
    assert_eq!(String::from_utf8_lossy(&answered.stdout), "OK");
    // With it, it answers.
    let ping = a.docker().await.ping().await.unwrap();
    assert_eq!(ping, "OK");

    // An engine that does not answer is down in the pool, not fatal while
    // another answers; the one that answers takes the sandboxes.
    let config = SandboxConfig {
        backend: BackendChoice::Docker,
        engines: vec![engine("tcp://127.0.0.1:9", 2), engine(&a.url, 2)],
        ..SandboxConfig::default()
    };
    let m = SandboxManager::start(&config, None, false, "tls-t")
        .await
        .expect("one engine answers");
    let engines = m.engines();
    assert!(!engines[0].healthy && engines[1].healthy, "{engines:?}");
    let dir = tempfile::tempdir().unwrap();
    let ws = workspace_in(dir.path(), "w");
    ok(&m, "agent-x", &ws, "true").await;
    assert_eq!(m.engines()[1].sandboxes, 1);
    m.shutdown().await;

    // A pool mixing this machine's engine (unix://) and a remote one: one
    // sandbox each (least-loaded), the local one persistent (the command
    // server is its main process), the remote one an exec per command.
    let local = common::podman::engine();
    let mixed = SandboxConfig {
        backend: BackendChoice::Docker,
        engines: vec![
            // Other tests' sandboxes on the shared local engine count in
            // its load: room for them, and one place on the remote one.
            EngineConfig {
                tls: None,
                ..engine(&local.endpoint, 1000)
            },
            engine(&a.url, 1),
        ],
        ..SandboxConfig::default()
    };
    let host = format!("mix{:08x}", rand::random::<u32>());
    let m = SandboxManager::start(&mixed, None, false, &host)
        .await
        .expect("both engines answer");
    for agent in ["agent-l", "agent-r"] {
        let ws = workspace_in(dir.path(), agent);
        let out = ok(&m, agent, &ws, "echo $((6 * 7))").await;
        assert_eq!(out.stdout.trim(), "42");
    }
    let engines = m.engines();
    assert!(engines[0].local && !engines[1].local, "{engines:?}");
    assert_eq!(
        (engines[0].sandboxes, engines[1].sandboxes),
        (1, 1),
        "{engines:?}"
    );
    let docker = bollard::Docker::connect_with_host(&local.endpoint)
        .unwrap()
        .negotiate_version()
        .await
        .unwrap();
    let filters = std::collections::HashMap::from([(
        "label".to_string(),
        vec![format!("paddock.host={host}")],
    )]);
    let options = bollard::query_parameters::ListContainersOptionsBuilder::default()
        .all(true)
        .filters(&filters)
        .build();
    let on_local = docker.list_containers(Some(options)).await.unwrap();
    assert_eq!(on_local.len(), 1);
    let command = on_local[0].command.clone().unwrap_or_default();
    assert!(
        command.contains("/run/paddock/cmd.sock"),
        "persistent: the command server is the main process: {command}"
    );
    let on_remote = a.containers_with(&format!("paddock.host={host}")).await;
    assert_eq!(on_remote.len(), 1);
    assert!(
        on_remote[0].1.iter().all(|m| !m.contains("sandboxd")),
        "no command server on a remote engine: {on_remote:?}"
    );
    m.shutdown().await;

    // None answers: the Docker backend is unavailable, saying why for each.
    let none = SandboxConfig {
        engines: vec![engine("tcp://127.0.0.1:9", 2)],
        ..SandboxConfig::default()
    };
    let err = SandboxManager::start(&none, Some(BackendChoice::Docker), false, "t")
        .await
        .err()
        .expect("no engine");
    assert!(
        matches!(&err, SandboxError::Unavailable(m) if m.contains("tcp://127.0.0.1:9")),
        "{err}"
    );
}

/// `(success, content)` of each `execute_bash` result.
fn bash_results(evs: &[Event]) -> Vec<(bool, String)> {
    matching!(evs, EventBody::ToolResult { tool, success, content, .. } if tool == "execute_bash"
        => (*success, content.clone()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_of_a_server_run_on_two_engines_and_one_going_away_fails_only_its_agent() {
    let a = RemoteEngine::start("srv-a");
    let b = RemoteEngine::start("srv-b");
    let tls = RemoteEngine::tls();
    let engine_toml = |url: &str| {
        format!(
            "[[sandbox.engines]]\nurl = \"{url}\"\ncapacity = 1\n\
             tls = {{ ca = \"{}\", cert = \"{}\", key = \"{}\" }}\n",
            tls.ca.display(),
            tls.cert.display(),
            tls.key.display()
        )
    };
    let config = format!(
        "[sandbox]\nbackend = \"docker\"\n{}{}",
        engine_toml(&a.url),
        engine_toml(&b.url)
    );
    let script = r#"
model: scripted
turns:
  - tool_calls: [{name: execute_bash, arguments: {command: "echo first-as-$(id -u)"}}]
  - text: "first done"
  - tool_calls: [{name: execute_bash, arguments: {command: "echo second"}}]
  - text: "second done"
"#;
    let s = setup(script, &config, &[]).await;
    // Two agents, each with a workspace of its own (owned by a regular
    // user: commands never run as root); capacity 1 each: one per engine.
    let mut agents = Vec::new();
    let mut dirs = Vec::new();
    for name in ["one", "two"] {
        let dir = tempfile::Builder::new()
            .prefix("paddock-engines-ws-")
            .tempdir()
            .unwrap();
        if unsafe { libc::getuid() } == 0 {
            std::os::unix::fs::chown(dir.path(), Some(1000), Some(1000)).unwrap();
        }
        let id = s
            .create_with(
                "run a command",
                json!({"name": name, "workspace": dir.path()}),
            )
            .await;
        agents.push(id);
        dirs.push(dir);
    }
    for id in &agents {
        let evs = s.wait_status(id, 0, &["idle", "error"]).await;
        let results = bash_results(&evs);
        assert_eq!(results.len(), 1, "{}", summary(&evs));
        assert!(
            results[0].0 && results[0].1.contains("first-as-1000"),
            "{results:?}"
        );
    }
    // One sandbox on each engine.
    let mut on = Vec::new();
    for id in &agents {
        let label = format!("paddock.agent={id}");
        let (na, nb) = (
            a.containers_with(&label).await.len(),
            b.containers_with(&label).await.len(),
        );
        assert_eq!(na + nb, 1, "agent {id}: {na} on A, {nb} on B");
        on.push(if na == 1 { "a" } else { "b" });
    }
    on.sort();
    assert_eq!(on, ["a", "b"], "spread over both engines");
    let on_b = {
        let label = format!("paddock.agent={}", agents[0]);
        if b.containers_with(&label).await.is_empty() {
            1
        } else {
            0
        }
    };
    let on_a = 1 - on_b;

    // B goes away; both agents are asked for another command.
    b.stop();
    let mut seqs = Vec::new();
    for id in &agents {
        let r = s
            .http
            .post(s.server.url(&format!("/api/agents/{id}/messages")))
            .json(&json!({"text": "once more"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
        seqs.push(r.json::<Value>().await.unwrap()["seq"].as_u64().unwrap());
    }
    // A's agent runs it; B's agent gets a failed command naming B.
    let evs = s
        .wait_status(&agents[on_a], seqs[on_a], &["idle", "error"])
        .await;
    let results = bash_results(&evs);
    assert_eq!(results.len(), 2, "{}", summary(&evs));
    assert!(
        results[1].0 && results[1].1.contains("second"),
        "{results:?}"
    );
    let evs = s
        .wait_status(&agents[on_b], seqs[on_b], &["idle", "error"])
        .await;
    let results = bash_results(&evs);
    assert_eq!(results.len(), 2, "{}", summary(&evs));
    assert!(
        !results[1].0 && results[1].1.contains(&b.url) && results[1].1.contains("does not answer"),
        "{results:?}"
    );
    drop(s);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ssh_engine_runs_an_agents_commands() {
    let e = RemoteEngine::start("ssh");
    let url = e.ssh();
    let (key, ssh_bin) = RemoteEngine::ssh_client();
    let config = format!(
        "[sandbox]\nbackend = \"docker\"\n[[sandbox.engines]]\nurl = \"{url}\"\nssh_key = \"{}\"\n",
        key.display()
    );
    let script = r#"
model: scripted
turns:
  - tool_calls: [{name: execute_bash, arguments: {command: "echo via-ssh-as-$(id -u)"}}]
  - text: "done"
"#;
    // The server's `ssh` is the one that knows the test engines' host keys.
    let path = format!(
        "{}:{}",
        ssh_bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // Its ssh masters' control sockets in a directory of the test's own,
    // to close them when it is done (a killed server leaves them).
    let state = tempfile::tempdir().unwrap();
    let state_dir = state.path().display().to_string();
    let s = setup(
        script,
        &config,
        &[
            ("PATH", path.as_str()),
            ("XDG_STATE_HOME", state_dir.as_str()),
        ],
    )
    .await;
    if unsafe { libc::getuid() } == 0 {
        std::os::unix::fs::chown(s.workspace.path(), Some(1000), Some(1000)).unwrap();
    }
    let id = s.create("run a command").await;
    let evs = s.wait_status(&id, 0, &["idle", "error"]).await;
    let results = bash_results(&evs);
    assert_eq!(results.len(), 1, "{}", summary(&evs));
    assert!(
        results[0].0 && results[0].1.contains("via-ssh-as-1000"),
        "{results:?}"
    );
    // Its container is on that engine (seen through its TLS front).
    let mine = e.containers_with(&format!("paddock.agent={id}")).await;
    assert_eq!(mine.len(), 1, "{mine:?}");
    drop(s);
    let masters: Vec<PathBuf> = std::fs::read_dir(state.path())
        .unwrap()
        .flatten()
        .map(|d| d.path().join("master"))
        .filter(|m| m.exists())
        .collect();
    assert!(!masters.is_empty(), "the engine was reached through ssh");
    for master in masters {
        let _ = std::process::Command::new(ssh_bin.join("ssh"))
            .arg("-S")
            .arg(&master)
            .args(["-O", "exit", "engine"])
            .output();
    }
}
