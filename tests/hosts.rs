//! Several `paddock serve` hosts on one PostgreSQL database: agents spread
//! over them; a host killed with `kill -9` mid-run loses its agents to the
//! others, which resume them exactly as a restart does (no tool run twice,
//! pending approvals still decidable from any host, every log gapless)
//! while a WebSocket on a surviving host sees every event in order; a host
//! paused past its lease cannot write a single event when it wakes, and
//! steps down; `SIGTERM` drains a host without an error event.

use crate::common::postgres::PgDb;
use crate::common::scripted::*;
use crate::common::{Paddock, Server, scripted_config};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A lease of 3 s: a dead host's agents move within about 4 s.
const LEASE_SECS: u64 = 3;
/// The master key every host of one database shares.
const MASTER_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

/// Three kinds of agents, told apart by their task.
const SCRIPT: &str = r#"
scenarios:
  - name: model
    match: "^model"
    turns:
      - text: "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty twentyone twentytwo twentythree twentyfour twentyfive twentysix twentyseven twentyeight twentynine thirty"
        tokens_per_second: 6
  - name: tool
    match: "^tool"
    turns:
      - tool_calls: [{name: execute_bash, arguments: {command: "sleep 3; echo ran >> /workspace/ran.log", timeout_secs: 60}}]
      - text: "Tool done."
  - name: approval
    match: "^approval"
    turns:
      - tool_calls: [{name: write_file, arguments: {path: approved.txt, content: "yes\n"}}]
      - text: "Approval done."
  - name: idle
    match: "^idle"
    turns:
      - text: "Idle done."
"#;

/// One host of the cluster.
struct Host {
    id: String,
    _paddock: Paddock,
    server: Server,
    log: PathBuf,
}

/// Starts host `id` on the database at `db`, its log in a file.
fn start_host(id: &str, db: &str, model: &str, extra: &str) -> Host {
    let paddock = Paddock::new();
    let config = scripted_config(
        paddock.data_dir(),
        model,
        &format!("[cluster]\nlease_secs = {LEASE_SECS}\ndrain_timeout_secs = 40\n{extra}"),
    );
    let log = paddock.data_dir().join("serve.log");
    let file = std::fs::File::create(&log).unwrap();
    let server = Server::start_logging(
        &paddock,
        &config,
        None,
        &[
            ("PADDOCK_DATABASE_URL", db),
            ("PADDOCK_MASTER_KEY", MASTER_KEY),
            ("PADDOCK_HOST_ID", id),
            ("PADDOCK_LOG", "info"),
        ],
        &[],
        file.into(),
    );
    Host {
        id: id.to_string(),
        _paddock: paddock,
        server,
        log,
    }
}

/// Creates an agent through `host` on `task` in a workspace of its own.
async fn create(http: &reqwest::Client, host: &Server, task: &str, dir: &Path) -> String {
    std::fs::create_dir_all(dir).unwrap();
    let mut body = json!({"name": task, "workspace": dir, "task": task});
    if task.starts_with("approval") {
        body["approval_mode"] = json!("ask-all");
    }
    let r = http
        .post(host.url("/api/agents"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Every agent's stored record, by id, as `host` lists them.
async fn agents(http: &reqwest::Client, host: &Server) -> BTreeMap<String, Value> {
    let v = get_json(http, &host.url("/api/agents")).await;
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|a| (a["id"].as_str().unwrap().to_string(), a.clone()))
        .collect()
}

/// Approves every pending approval of `ids` through `host`; returns how
/// many it approved.
async fn approve_all(http: &reqwest::Client, host: &Server, ids: &[String]) -> usize {
    let mut n = 0;
    for id in ids {
        let evs = events(http, host, id).await;
        let asked: Vec<String> = evs
            .iter()
            .filter_map(|e| match &e.body {
                EventBody::ApprovalRequested { call_id, .. } => Some(call_id.clone()),
                _ => None,
            })
            .collect();
        for call in asked {
            let r = http
                .post(host.url(&format!("/api/agents/{id}/approvals/{call}")))
                .json(&json!({"approved": true}))
                .send()
                .await
                .unwrap();
            if r.status() == 200 {
                n += 1;
            } else {
                let status = r.status();
                let body = r.text().await.unwrap();
                assert!(
                    status == 409 || status == 404,
                    "deciding {id}/{call}: {status} {body}"
                );
            }
        }
    }
    n
}

/// Waits until every agent of `ids` is idle after its final answer.
async fn wait_all_done(http: &reqwest::Client, host: &Server, ids: &[String], what: &str) {
    let started = Instant::now();
    loop {
        let all = agents(http, host).await;
        let pending: Vec<&String> = ids
            .iter()
            .filter(|id| {
                let a = &all[*id];
                !(a["status"] == "idle" && a["usage"]["model_calls"].as_u64().unwrap_or(0) >= 1)
            })
            .collect();
        if pending.is_empty() {
            // The last answer of each is its final text.
            let mut done = true;
            for id in ids {
                let evs = events(http, host, id).await;
                if !last_text(&evs).ends_with("done.") && !last_text(&evs).ends_with("thirty") {
                    done = false;
                }
            }
            if done {
                return;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "{what}: agents never finished: {pending:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Checks that a log is gapless (seqs 1..=n) and returns it.
fn gapless(id: &str, evs: &[Event]) {
    let seqs = seqs(evs);
    let want: Vec<u64> = (1..=seqs.len() as u64).collect();
    assert_eq!(seqs, want, "agent {id}'s log has a gap: {}", summary(evs));
}

/// A WebSocket subscribed to agents, collecting their stored events.
struct Watcher {
    task: tokio::task::JoinHandle<()>,
    seen: std::sync::Arc<std::sync::Mutex<HashMap<String, Vec<Event>>>>,
}

impl Watcher {
    async fn start(host: &Server, ids: &[String]) -> Watcher {
        let (mut ws, _) = tokio_tungstenite::connect_async(host.ws_url())
            .await
            .unwrap();
        for id in ids {
            ws.send(tokio_tungstenite::tungstenite::Message::text(
                json!({"op": "subscribe", "agent_id": id, "after": 0}).to_string(),
            ))
            .await
            .unwrap();
        }
        let seen = std::sync::Arc::new(std::sync::Mutex::new(HashMap::<String, Vec<Event>>::new()));
        let into = seen.clone();
        let task = tokio::spawn(async move {
            while let Some(Ok(msg)) = ws.next().await {
                let tokio_tungstenite::tungstenite::Message::Text(text) = msg else {
                    continue;
                };
                let v: Value = serde_json::from_str(&text).unwrap();
                assert_ne!(v["op"], "error", "the WebSocket reported an error: {v}");
                assert_ne!(v["op"], "lagged", "the WebSocket lagged: {v}");
                if v["op"] != "event" {
                    continue;
                }
                let e = event(&v["event"]);
                if matches!(
                    e.body,
                    EventBody::MessageDelta { .. } | EventBody::MessageReasoning { .. }
                ) {
                    continue;
                }
                into.lock()
                    .unwrap()
                    .entry(e.agent_id.clone())
                    .or_default()
                    .push(e);
            }
        });
        Watcher { task, seen }
    }

    /// Waits until it has seen, for every agent, exactly its stored log.
    async fn saw_all(&self, http: &reqwest::Client, host: &Server, ids: &[String]) {
        let started = Instant::now();
        loop {
            let mut missing = Vec::new();
            for id in ids {
                let stored = events(http, host, id).await;
                let seen = self
                    .seen
                    .lock()
                    .unwrap()
                    .get(id)
                    .cloned()
                    .unwrap_or_default();
                // In order, each once: never more than stored, never a gap.
                let got = seqs(&seen);
                let want: Vec<u64> = (1..=got.len() as u64).collect();
                assert_eq!(
                    got, want,
                    "the WebSocket saw agent {id}'s events out of order or twice"
                );
                if seen.len() < stored.len() {
                    missing.push(format!("{id}: {}/{}", seen.len(), stored.len()));
                    continue;
                }
                for (a, b) in seen.iter().zip(&stored) {
                    assert_eq!(
                        a.body, b.body,
                        "agent {id} seq {}: the WebSocket saw another event",
                        a.seq
                    );
                }
            }
            if missing.is_empty() {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the WebSocket on a surviving host missed events: {missing:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Lines `ran` in a tool agent's `ran.log` (runs of its command).
fn runs(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("ran.log"))
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_hosts_share_thirty_agents_and_survive_a_kill_9() {
    let db = PgDb::create("hosts").await;
    let model = model(SCRIPT).await;
    let http = crate::common::client();
    // host-1 reaches the database over TLS (`sslmode=require`).
    let tls = format!("{}?sslmode=require", db.url);
    let mut hosts: Vec<Host> = (0..3)
        .map(|i| {
            let url = if i == 1 { &tls } else { &db.url };
            start_host(&format!("host-{i}"), url, &model.base_url(), "")
        })
        .collect();
    // The probes answer without credentials.
    let plain = reqwest::Client::new();
    for h in &hosts {
        let r = plain.get(h.server.url("/healthz")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let r = plain.get(h.server.url("/readyz")).send().await.unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }
    let work = tempfile::tempdir().unwrap();
    let mut ids = Vec::new();
    let mut kinds = HashMap::new();
    let mut dirs = HashMap::new();
    for i in 0..30 {
        // Kinds rotate apart from the host that takes the request.
        let kind = ["model", "tool", "approval"][(i + i / 3) % 3];
        let dir = work.path().join(format!("a{i}"));
        // Created through any host: placement spreads them.
        let id = create(&http, &hosts[i % 3].server, &format!("{kind} {i}"), &dir).await;
        kinds.insert(id.clone(), kind);
        dirs.insert(id.clone(), dir);
        ids.push(id);
    }
    // A WebSocket on a host that survives follows every agent.
    let watcher = Watcher::start(&hosts[1].server, &ids).await;
    // Each host runs about a third of them.
    let listed = get_json(&http, &hosts[2].server.url("/api/hosts")).await;
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 3, "{listed:?}");
    assert_eq!(listed.iter().filter(|h| h["this"] == true).count(), 1);
    let total: u64 = listed.iter().map(|h| h["agents"].as_u64().unwrap()).sum();
    assert_eq!(total, 30, "{listed:?}");
    for h in listed {
        assert_eq!(h["state"], "live", "{h}");
        let n = h["agents"].as_u64().unwrap();
        assert!((5..=15).contains(&n), "placement is uneven: {listed:?}");
    }
    // Kill host-0 while it has a model call streaming, a tool running and
    // an approval pending.
    let started = Instant::now();
    let victims: Vec<String> = loop {
        let all = agents(&http, &hosts[1].server).await;
        let on0: Vec<&Value> = all.values().filter(|a| a["host"] == "host-0").collect();
        let has = |status: &str, kind: &str| {
            on0.iter()
                .any(|a| a["status"] == status && kinds[a["id"].as_str().unwrap()] == kind)
        };
        if has("thinking", "model")
            && has("executing_tool", "tool")
            && has("waiting_approval", "approval")
        {
            break on0
                .iter()
                .map(|a| a["id"].as_str().unwrap().to_string())
                .collect();
        }
        assert!(
            started.elapsed() < DEADLINE,
            "host-0 never had every kind of work at once: {on0:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    hosts[0].server.kill9();
    let killed = Instant::now();
    // Its agents move to the others within the takeover time.
    let moved = loop {
        let all = agents(&http, &hosts[2].server).await;
        if victims.iter().all(|id| {
            let h = &all[id]["host"];
            h == "host-1" || h == "host-2"
        }) {
            break killed.elapsed();
        }
        assert!(
            killed.elapsed() < Duration::from_secs(LEASE_SECS + 12),
            "host-0's agents were not taken over: {:?}",
            victims
                .iter()
                .map(|id| (id, &all[id]["host"]))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    eprintln!(
        "takeover of {} agents after kill -9: {moved:?}",
        victims.len()
    );
    // Pending approvals are decided from a host other than theirs.
    let approvals: Vec<String> = ids
        .iter()
        .filter(|id| kinds[*id] == "approval")
        .cloned()
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut approved = 0;
    while approved < approvals.len() {
        approved += approve_all(&http, &hosts[2].server, &approvals).await;
        assert!(
            Instant::now() < deadline,
            "approvals never all asked: {approved}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    wait_all_done(&http, &hosts[1].server, &ids, "after the kill").await;
    // Every log is gapless; no command that is not read-only ran twice;
    // the interrupted ones were reported, not run again.
    for id in &ids {
        let evs = events(&http, &hosts[2].server, id).await;
        gapless(id, &evs);
        if kinds[id.as_str()] == "tool" {
            let n = runs(&dirs[id]);
            assert!(
                n <= 1,
                "agent {id}'s command ran {n} times: {}",
                summary(&evs)
            );
            let restarted = evs.iter().any(|e| {
                matches!(&e.body, EventBody::Error { code, .. } if code.as_str() == "host_restarted")
            });
            if !victims.contains(id) {
                assert_eq!(n, 1, "agent {id}: {}", summary(&evs));
                assert!(
                    !restarted,
                    "agent {id} was not on the killed host: {}",
                    summary(&evs)
                );
            }
        }
        if victims.contains(id) && kinds[id.as_str()] == "model" {
            let a = &agents(&http, &hosts[2].server).await[id];
            // Asked again after the takeover: two model calls at most
            // (one cut short by the kill, which may not have been counted).
            assert!(a["usage"]["model_calls"].as_u64().unwrap() <= 2, "{a}");
        }
    }
    // The WebSocket on a surviving host saw every event of every agent,
    // in order, each once.
    watcher.saw_all(&http, &hosts[2].server, &ids).await;
    // The killed host is no longer live.
    let listed = get_json(&http, &hosts[1].server.url("/api/hosts")).await;
    for h in listed.as_array().unwrap() {
        if h["id"] == "host-0" {
            assert_ne!(h["state"], "live", "{h}");
            assert_eq!(h["agents"], 0, "{h}");
        }
    }
    for h in &hosts[1..] {
        let log = std::fs::read_to_string(&h.log).unwrap();
        assert!(!log.contains("panicked"), "host {} panicked:\n{log}", h.id);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_host_paused_past_its_lease_writes_nothing_and_steps_down() {
    let db = PgDb::create("hosts_fence").await;
    let model = model(SCRIPT).await;
    let http = crate::common::client();
    let a = start_host("host-a", &db.url, &model.base_url(), "");
    let work = tempfile::tempdir().unwrap();
    let id = create(&http, &a.server, "model fenced", work.path()).await;
    let b = start_host("host-b", &db.url, &model.base_url(), "");
    // host-a streams the answer; pause it past its lease.
    let started = Instant::now();
    while model.stats().active_streams == 0 {
        assert!(started.elapsed() < DEADLINE, "the model call never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    a.server.signal(libc::SIGSTOP);
    let paused = Instant::now();
    loop {
        let all = agents(&http, &b.server).await;
        if all[&id]["host"] == "host-b" {
            break;
        }
        assert!(
            paused.elapsed() < Duration::from_secs(LEASE_SECS + 12),
            "host-b never took the agent over: {}",
            all[&id]
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // host-a wakes with its answer half read: it must not write it.
    a.server.signal(libc::SIGCONT);
    wait_all_done(
        &http,
        &b.server,
        std::slice::from_ref(&id),
        "after the pause",
    )
    .await;
    // Give host-a time to finish its stream and try to append.
    tokio::time::sleep(Duration::from_secs(LEASE_SECS + 5)).await;
    let evs = events(&http, &b.server, &id).await;
    gapless(&id, &evs);
    let answers = matching!(evs, EventBody::MessageAssistant { .. } => ());
    assert_eq!(answers.len(), 1, "one answer, host-b's: {}", summary(&evs));
    let takeovers = matching!(evs, EventBody::Error { code, message, .. }
        if code.as_str() == "host_restarted" => message.clone());
    assert_eq!(takeovers.len(), 1, "{}", summary(&evs));
    assert!(
        takeovers[0].contains("host-a") && takeovers[0].contains("host-b"),
        "{}",
        takeovers[0]
    );
    // host-a stepped down (it is alive, holds nothing, and said why).
    let all = agents(&http, &a.server).await;
    assert_eq!(all[&id]["host"], "host-b");
    let log = std::fs::read_to_string(&a.log).unwrap();
    assert!(
        log.contains("another host holds this agent's lease now")
            || log.contains("no longer holds its lease"),
        "host-a did not step down:\n{log}"
    );
    let listed = get_json(&http, &a.server.url("/api/hosts")).await;
    let me = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["id"] == "host-a")
        .cloned()
        .unwrap();
    assert_eq!(me["agents"], 0, "{me}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_drains_a_host_without_an_error_event() {
    let db = PgDb::create("hosts_drain").await;
    let model = model(SCRIPT).await;
    let http = crate::common::client();
    let mut a = start_host("host-a", &db.url, &model.base_url(), "");
    let work = tempfile::tempdir().unwrap();
    let mut ids = Vec::new();
    let mut dirs = HashMap::new();
    for kind in ["model", "tool", "approval", "idle"] {
        let dir = work.path().join(kind);
        let id = create(&http, &a.server, &format!("{kind} drained"), &dir).await;
        dirs.insert(kind, dir);
        ids.push(id);
    }
    let b = start_host("host-b", &db.url, &model.base_url(), "");
    // Wait for the model call, the command and the approval to be under way.
    let started = Instant::now();
    loop {
        let all = agents(&http, &b.server).await;
        let st = |i: usize| {
            all[&ids[i]]["status"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        };
        if st(0) == "thinking" && st(1) == "executing_tool" && st(2) == "waiting_approval" {
            break;
        }
        assert!(started.elapsed() < DEADLINE, "never all under way: {all:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let draining = Instant::now();
    a.server.signal(libc::SIGTERM);
    // host-a says it drains while its agents finish their steps.
    let r = reqwest::Client::new()
        .get(a.server.url("/readyz"))
        .send()
        .await;
    if let Ok(r) = r {
        assert_eq!(r.status(), 503, "a draining host is not ready");
    }
    while !a.server.exited() {
        assert!(
            draining.elapsed() < Duration::from_secs(40),
            "host-a never exited"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("drained in {:?}", draining.elapsed());
    // Everything is on host-b now, and goes on there.
    let started = Instant::now();
    loop {
        let all = agents(&http, &b.server).await;
        if ids.iter().all(|id| all[id]["host"] == "host-b") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "not all moved: {all:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let pending = &ids[2..3];
    let deadline = Instant::now() + Duration::from_secs(30);
    while approve_all(&http, &b.server, pending).await == 0 {
        assert!(
            Instant::now() < deadline,
            "the approval was never decidable on host-b"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    wait_all_done(&http, &b.server, &ids[..3], "after the drain").await;
    for id in &ids {
        let evs = events(&http, &b.server, id).await;
        gapless(id, &evs);
        let errors = matching!(evs, EventBody::Error { .. });
        assert!(
            errors.is_empty(),
            "agent {id} has error events: {}",
            summary(&evs)
        );
    }
    assert_eq!(
        runs(&dirs["tool"]),
        1,
        "the command ran once, before the handover"
    );
    let log = std::fs::read_to_string(&a.log).unwrap();
    assert!(log.contains("handed_over=4"), "{log}");
    a.server.kill9();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dead_hosts_sandbox_on_a_shared_engine_goes_when_its_agent_is_taken_over() {
    use crate::common::engines::RemoteEngine;
    let engine = RemoteEngine::start("hosts-reap");
    let tls = RemoteEngine::tls();
    let sandbox = format!(
        "[sandbox]\nbackend = \"docker\"\n[[sandbox.engines]]\nurl = \"{}\"\ncapacity = 4\n\
         tls = {{ ca = \"{}\", cert = \"{}\", key = \"{}\" }}\n",
        engine.url,
        tls.ca.display(),
        tls.cert.display(),
        tls.key.display()
    );
    let script = r#"
turns:
  - tool_calls: [{name: execute_bash, arguments: {command: "echo first"}}]
  - text: "first done."
  - tool_calls: [{name: execute_bash, arguments: {command: "echo second"}}]
  - text: "second done."
"#;
    let db = PgDb::create("hosts_reap").await;
    let model = model(script).await;
    let http = crate::common::client();
    let mut a = start_host("host-a", &db.url, &model.base_url(), &sandbox);
    // Commands never run as root: the workspace is a regular user's.
    let dir = tempfile::Builder::new()
        .prefix("paddock-hosts-reap-")
        .tempdir()
        .unwrap();
    if unsafe { libc::getuid() } == 0 {
        std::os::unix::fs::chown(dir.path(), Some(1000), Some(1000)).unwrap();
    }
    let id = create(&http, &a.server, "run a command", dir.path()).await;
    wait_status(&http, &a.server, &id, 0, &["idle", "error"]).await;
    let label = format!("paddock.agent={id}");
    let before = engine.containers_with(&label).await;
    assert_eq!(
        before.len(),
        1,
        "host-a's sandbox on the engine: {before:?}"
    );
    let b = start_host("host-b", &db.url, &model.base_url(), &sandbox);
    a.server.kill9();
    let killed = Instant::now();
    while agents(&http, &b.server).await[&id]["host"] != "host-b" {
        assert!(
            killed.elapsed() < Duration::from_secs(LEASE_SECS + 12),
            "never taken over"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // host-a's container went with the takeover; host-b makes its own.
    let r = http
        .post(b.server.url(&format!("/api/agents/{id}/messages")))
        .json(&json!({"text": "once more"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let seq = r.json::<Value>().await.unwrap()["seq"].as_u64().unwrap();
    let evs = wait_status(&http, &b.server, &id, seq, &["idle", "error"]).await;
    assert_eq!(last_text(&evs), "second done.", "{}", summary(&evs));
    let after = engine.containers_with(&label).await;
    assert_eq!(after.len(), 1, "only host-b's sandbox is left: {after:?}");
    let log = std::fs::read_to_string(&b.log).unwrap();
    assert!(
        log.contains("removed the sandbox its previous host left"),
        "{log}"
    );
}

/// Saves the workflow `definition` through `host` and starts a run of it
/// there (so driven by that host); the run's id.
async fn start_run(http: &reqwest::Client, host: &Server, definition: Value) -> String {
    let r = http
        .post(host.url("/api/workflows"))
        .json(&definition)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let r = http
        .post(host.url("/api/workflow-runs"))
        .json(&json!({"workflow": definition["name"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A workflow run's driver dies: a run started through host-a (so driven
/// by it) waits at its gate; host-a is killed with `kill -9`; host-b
/// claims the run once host-a is no longer live, the gate is approved
/// through host-b, and host-b's runner finishes the run — one gapless log.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_workflow_run_is_taken_over_when_its_driver_is_killed() {
    let db = PgDb::create("hosts_workflow").await;
    let model = model(SCRIPT).await;
    let http = crate::common::client();
    let mut a = start_host("host-a", &db.url, &model.base_url(), "");
    let b = start_host("host-b", &db.url, &model.base_url(), "");
    let run = start_run(
        &http,
        &a.server,
        json!({"name": "handover", "steps": [
            {"id": "approve", "gate": {"message": "ok?"}},
            {"id": "again", "gate": {"message": "and now?"}}
        ]}),
    )
    .await;
    // host-a drives it to its first gate (host-b reads the same store).
    let types = |v: &Value| -> Vec<String> {
        v["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["type"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    let events = |host: &Server| {
        let url = host.url(&format!(
            "/api/workflow-runs/{run}/events?after=0&limit=100"
        ));
        let http = http.clone();
        async move { get_json(&http, &url).await }
    };
    let started = Instant::now();
    while !types(&events(&b.server).await).contains(&"gate.requested".to_string()) {
        assert!(
            started.elapsed() < DEADLINE,
            "the run never reached its gate"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    a.server.kill9();
    // host-b claims it once host-a is no longer live.
    let claimed = |log: &str| {
        log.lines().any(|l| {
            l.contains("driving workflow run") && l.contains(run.as_str()) && l.contains("host-a")
        })
    };
    let killed = Instant::now();
    while !claimed(&std::fs::read_to_string(&b.log).unwrap()) {
        assert!(
            killed.elapsed() < DEADLINE,
            "host-b never took the run over: {}",
            std::fs::read_to_string(&b.log).unwrap()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Both gates approved through host-b; host-b's runner records the rest.
    for step in ["approve", "again"] {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let r = http
                .post(
                    b.server
                        .url(&format!("/api/workflow-runs/{run}/gates/{step}")),
                )
                .json(&json!({"approved": true}))
                .send()
                .await
                .unwrap();
            if r.status() == 200 {
                break;
            }
            assert_eq!(r.status(), 409, "{}", r.text().await.unwrap());
            assert!(
                Instant::now() < deadline,
                "gate `{step}` never waited on host-b"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let started = Instant::now();
    loop {
        let view = get_json(&http, &b.server.url(&format!("/api/workflow-runs/{run}"))).await;
        if view["status"] == "succeeded" {
            break;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "the run never succeeded: {view}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log = events(&b.server).await;
    let seqs: Vec<u64> = log["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    let want: Vec<u64> = (1..=seqs.len() as u64).collect();
    assert_eq!(seqs, want, "the run's log has a gap: {log}");
    let t = types(&log);
    assert_eq!(
        t.iter().filter(|t| *t == "gate.requested").count(),
        2,
        "each gate asked once: {t:?}"
    );
    assert_eq!(
        t.last().map(String::as_str),
        Some("workflow.finished"),
        "{t:?}"
    );
}

/// A drain hands a workflow run over at once: a run driven by host-a
/// waits at its gate; `SIGTERM` stops host-a's runner and clears the run's
/// driver; host-b claims it from no host (not after a lease: host-a is
/// gone cleanly), the gate is approved there and the run succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_drain_hands_a_workflow_run_over() {
    let db = PgDb::create("hosts_workflow_drain").await;
    let model = model(SCRIPT).await;
    let http = crate::common::client();
    let mut a = start_host("host-a", &db.url, &model.base_url(), "");
    let b = start_host("host-b", &db.url, &model.base_url(), "");
    let run = start_run(
        &http,
        &a.server,
        json!({"name": "drained", "steps": [{"id": "approve", "gate": {"message": "ok?"}}]}),
    )
    .await;
    let view_url = b.server.url(&format!("/api/workflow-runs/{run}"));
    let started = Instant::now();
    while get_json(&http, &view_url).await["status"] != "waiting_gate" {
        assert!(
            started.elapsed() < DEADLINE,
            "the run never reached its gate"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    a.server.signal(libc::SIGTERM);
    let draining = Instant::now();
    while !a.server.exited() {
        assert!(
            draining.elapsed() < Duration::from_secs(40),
            "host-a never exited"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let claimed = |log: &str| {
        log.lines().any(|l| {
            l.contains("driving workflow run") && l.contains(run.as_str()) && l.contains("no host")
        })
    };
    while !claimed(&std::fs::read_to_string(&b.log).unwrap()) {
        assert!(
            draining.elapsed() < DEADLINE,
            "host-b never took the drained run over: {}",
            std::fs::read_to_string(&b.log).unwrap()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let r = http
        .post(
            b.server
                .url(&format!("/api/workflow-runs/{run}/gates/approve")),
        )
        .json(&json!({"approved": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let started = Instant::now();
    loop {
        let view = get_json(&http, &view_url).await;
        if view["status"] == "succeeded" {
            break;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "the run never succeeded: {view}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log = std::fs::read_to_string(&a.log).unwrap();
    assert!(log.contains("workflow runs handed over"), "{log}");
    a.server.kill9();
}
