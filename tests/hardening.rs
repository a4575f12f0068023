//! Regression tests of the holes an outside test found (issue 17), each
//! against the real `paddock serve` (the names' table: the app in this
//! process, its router called directly):
//! - an agent's network-enabled sandbox cannot drive the API (approve its
//!   own risky call, register a host directory and read it) nor reach a
//!   local PostgreSQL;
//! - the store heals: a PostgreSQL outage of 40 s (a private cluster) and
//!   a full disk under SQLite (a small tmpfs) while agents run; the API
//!   answers 503 with `Retry-After` meanwhile, interrupts still work, and
//!   the agents go on without a restart, with one recoverable error event;
//! - start-up errors name their cause at once; a damaged agent row is
//!   quarantined and the others start; a clean shutdown checkpoints the WAL;
//! - the smaller points: names with NUL or control characters, a FIFO in a
//!   backed-up workspace, a huge WebSocket message, a directory too large to
//!   import.

use crate::common;

use common::events::{AgentStatus, EventBody, matching, seqs, statuses};
use common::in_process::Api;
use common::postgres::{PgCluster, PgDb};
use common::scripted::{setup, summary, wait_status};
use common::{Paddock, Server, scripted_config};
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};

const BWRAP: &str = "[sandbox]\nbackend = \"bwrap\"\n";

/// What the sandboxed job tries, as an attacker would: PostgreSQL's port,
/// registering a host directory as a workspace and reading a file of it,
/// and approving every pending approval, for about ten seconds. It writes
/// what happened to `/workspace/escape.log`.
const ESCAPE: &str = r#"
import json, socket, sys, time, urllib.error, urllib.request
base, secret_dir, pg = sys.argv[1], sys.argv[2], int(sys.argv[3])
log = open('/workspace/escape.log', 'a')
def note(*a):
    log.write(' '.join(str(x) for x in a) + '\n'); log.flush()
def req(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    r = urllib.request.Request(base + path, data=data, method=method,
                               headers={'Content-Type': 'application/json'})
    try:
        with urllib.request.urlopen(r, timeout=3) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except Exception as e:
        return 'unreachable', repr(e)
try:
    socket.create_connection(('127.0.0.1', pg), timeout=3).close()
    note('pg connected')
except Exception as e:
    note('pg refused', repr(e))
st, body = req('POST', '/api/workspaces', {'name': 'loot', 'path': secret_dir})
note('register', st, body[:300])
if st == 201:
    ws = json.loads(body)['id']
    note('read', *req('GET', '/api/workspaces/%s/files?path=secret.txt' % ws))
for i in range(40):
    st, body = req('GET', '/api/approvals')
    note('approvals', st, body[:300])
    if st == 200:
        for a in json.loads(body).get('approvals', []):
            st2, b2 = req('POST', '/api/agents/%s/approvals/%s' % (a['agent_id'], a['call_id']),
                          {'approved': True, 'reason': 'approved by the sandbox'})
            note('approve', st2, b2[:300])
    time.sleep(0.25)
note('done')
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_network_enabled_sandbox_cannot_drive_the_api_nor_reach_local_postgres() {
    let script = r#"
model: scripted
turns:
  - tool_calls: [{name: execute_bash, arguments: {command: "python3 /workspace/escape.py \"$(cat /workspace/target)\" \"$(cat /workspace/secret-dir)\" 5432", background: true}}]
  - when: {tool: "job"}
    tool_calls: [{name: execute_bash, arguments: {command: "sudo rm -rf /tmp/nothing"}}]
  - text: "Done."
"#;
    let s = setup(script, BWRAP, &[]).await;
    // A host directory with a secret, under the server's allowed roots.
    let secret = tempfile::tempdir().unwrap();
    std::fs::write(secret.path().join("secret.txt"), "the host's secret").unwrap();
    let ws = s.workspace.path();
    std::fs::write(ws.join("escape.py"), ESCAPE).unwrap();
    std::fs::write(ws.join("target"), &s.server.base).unwrap();
    std::fs::write(ws.join("secret-dir"), secret.path().to_str().unwrap()).unwrap();
    let id = s
        .create_with(
            "take over",
            json!({"network": true, "tools": ["execute_bash"]}),
        )
        .await;
    // The risky call waits for a human.
    let started = Instant::now();
    loop {
        let a = s.get("/api/approvals").await;
        if a["approvals"].as_array().is_some_and(|v| !v.is_empty()) {
            break;
        }
        assert!(
            started.elapsed() < common::scripted::DEADLINE,
            "no approval was asked: {}",
            summary(&s.events(&id).await)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The job runs its ten seconds against the API meanwhile.
    let log = ws.join("escape.log");
    let started = Instant::now();
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("done")
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the job never finished: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let seen = std::fs::read_to_string(&log).unwrap();
    eprintln!("what the sandbox saw:\n{seen}");
    assert!(seen.contains("pg refused"), "{seen}");
    assert!(!seen.contains("pg connected"), "{seen}");
    for line in seen.lines() {
        for (what, bad) in [
            ("register", " 201"),
            ("read", " 200"),
            ("approvals", " 200"),
            ("approve", " 200"),
        ] {
            assert!(
                !(line.starts_with(what) && line[what.len()..].starts_with(bad)),
                "the sandbox got through: {line}"
            );
        }
    }
    assert!(!seen.contains("the host's secret"), "{seen}");
    // The approval is still the human's to give.
    let pending = s.get("/api/approvals").await;
    let a = &pending["approvals"][0];
    assert_eq!(a["status"], "pending", "{pending}");
    let r = s
        .http
        .post(s.server.url(&format!(
            "/api/agents/{id}/approvals/{}",
            a["call_id"].as_str().unwrap()
        )))
        .json(&json!({"approved": false, "reason": "no"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let evs = s.wait_status(&id, 0, &["idle", "error"]).await;
    let decided = matching!(evs, EventBody::ApprovalDecided { approved, .. } => *approved);
    assert_eq!(decided, [false], "{}", summary(&evs));
    let workspaces = s.get("/api/workspaces").await;
    assert_eq!(workspaces, json!([]), "a workspace was registered");
}

// ---------------------------------------------------------------------------
// The store heals
// ---------------------------------------------------------------------------

/// Two agents: `steady` runs a command while the store goes away and must
/// go on as if nothing happened; `stopper` is interrupted meanwhile.
const OUTAGE_SCRIPT: &str = r#"
model: scripted
scenarios:
  - match: "steady"
    turns:
      - tool_calls: [{name: execute_bash, arguments: {command: "echo working; sleep 6; echo worked"}}]
      - when: {tool: "worked"}
        text: "Finished after the outage."
  - match: "stopper"
    turns:
      - tool_calls: [{name: execute_bash, arguments: {command: "echo begun; sleep 30; echo slept", timeout_secs: 120}}]
      - text: "Should not be needed."
"#;

/// The configuration file with `database_url` set (a top-level key: it
/// goes before every table).
fn with_database(config: std::path::PathBuf, url: &str) -> std::path::PathBuf {
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("database_url = \"{url}\"\n{text}")).unwrap();
    config
}

/// Creates `steady` and `stopper` (see [`OUTAGE_SCRIPT`]) and waits until
/// both have started their commands; their ids.
async fn start_both(http: &reqwest::Client, server: &Server, ws: &Path) -> (String, String) {
    let mut ids = Vec::new();
    for name in ["steady", "stopper"] {
        let r = http
            .post(server.url("/api/agents"))
            .json(&json!({"name": name, "workspace": ws, "task": name, "tools": ["execute_bash"]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let id = r.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        ids.push(id);
    }
    for id in &ids {
        until_output(http, server, id).await;
    }
    (ids.remove(0), ids.remove(0))
}

/// Waits until the agent has started its command (its first output).
async fn until_output(http: &reqwest::Client, server: &Server, id: &str) {
    let started = Instant::now();
    loop {
        let evs = common::scripted::events(http, server, id).await;
        if !matching!(evs, EventBody::ToolOutput { .. }).is_empty() {
            return;
        }
        assert!(
            started.elapsed() < common::scripted::DEADLINE,
            "the command never started: {}",
            summary(&evs)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// While the store is away: reads and writes answer 503 with
/// `Retry-After` (quickly: the figure is printed), an interrupt still
/// works.
async fn during_outage(http: &reqwest::Client, server: &Server, stopper: &str) {
    for (method, path, body) in [
        (reqwest::Method::GET, "/api/agents".to_string(), None),
        (
            reqwest::Method::POST,
            format!("/api/agents/{stopper}/messages"),
            Some(json!({"text": "hello?"})),
        ),
        (
            reqwest::Method::POST,
            "/api/agents".to_string(),
            Some(json!({"name": "new", "workspace": std::env::temp_dir()})),
        ),
    ] {
        let t = Instant::now();
        let mut rb = http.request(method.clone(), server.url(&path));
        if let Some(b) = &body {
            rb = rb.json(b);
        }
        let r = rb.send().await.unwrap();
        let ms = t.elapsed().as_millis();
        eprintln!(
            "{method} {path} during the outage: {} in {ms} ms",
            r.status()
        );
        assert_eq!(r.status(), 503, "{method} {path}");
        assert!(r.headers().contains_key("retry-after"), "{method} {path}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["code"], "store_unavailable", "{v}");
    }
    interrupt_reaches(http, server, stopper).await;
}

/// An interrupt is taken (202) and reaches the agent, busy though it waits
/// for the store.
async fn interrupt_reaches(http: &reqwest::Client, server: &Server, id: &str) {
    let r = http
        .post(server.url(&format!("/api/agents/{id}/interrupt")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v["interrupted"], true,
        "the interrupt must reach a waiting agent"
    );
}

/// After the store is back: `steady` finished its work, with its command
/// run once, one recoverable `store_unavailable` event and a gapless log;
/// `stopper` honoured the interrupt.
async fn after_outage(http: &reqwest::Client, server: &Server, steady: &str, stopper: &str) {
    let evs = wait_status(http, server, steady, 3, &["idle", "error"]).await;
    assert_eq!(
        common::scripted::last_text(&evs),
        "Finished after the outage.",
        "{}",
        summary(&evs)
    );
    let results = matching!(evs, EventBody::ToolResult { success, .. } => *success);
    assert_eq!(results.len(), 1, "the command ran once: {}", summary(&evs));
    assert!(results[0], "{}", summary(&evs));
    let outages = matching!(evs, EventBody::Error { code, message, recoverable, .. }
        if *code == paddock_protocol::events::ErrorCode::StoreUnavailable => (message, *recoverable));
    assert_eq!(outages.len(), 1, "{}", summary(&evs));
    let (message, recoverable) = outages[0];
    assert!(recoverable);
    assert!(message.contains(" s ("), "says how long: {message}");
    let seqs = seqs(&evs);
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>(), "gapless");
    let evs = wait_status(http, server, stopper, 3, &["idle", "error"]).await;
    let (status, reason) = statuses(&evs).pop().unwrap();
    assert_eq!(status, AgentStatus::Idle, "{}", summary(&evs));
    assert!(
        reason.unwrap_or_default().contains("interrupted"),
        "{}",
        summary(&evs)
    );
    // And the store takes writes again, through the API too.
    let r = http
        .post(server.url(&format!("/api/agents/{steady}/messages")))
        .json(&json!({"text": "still there?"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_outage_of_40_s_heals_without_a_restart() {
    let pg = PgCluster::start(&[]);
    pg.sql("postgres", "CREATE DATABASE paddock");
    let url = pg.url("postgres", "paddock");
    let model = common::scripted::model(OUTAGE_SCRIPT).await;
    let p = Paddock::new();
    let config = with_database(
        scripted_config(p.data_dir(), &model.base_url(), BWRAP),
        &url,
    );
    let server = Server::start(&p, &config, None, &[]);
    let http = common::client();
    let ws = tempfile::tempdir().unwrap();
    let (steady, stopper) = start_both(&http, &server, ws.path()).await;
    pg.down();
    let down = Instant::now();
    during_outage(&http, &server, &stopper).await;
    // Both commands end while the database is away.
    let left = Duration::from_secs(40).saturating_sub(down.elapsed());
    tokio::time::sleep(left).await;
    pg.up();
    after_outage(&http, &server, &steady, &stopper).await;
}

/// Mounts a tmpfs of `mb` MiB at `dir` (root only), unmounted on drop.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, mb: u32) -> Tmpfs {
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mb}m"), "tmpfs"])
            .arg(dir)
            .output()
            .expect("mount");
        assert!(
            out.status.success(),
            "mounting a tmpfs needs root (CI runs as root): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs(dir.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// Fills the file system of `dir` with `dir/filler` until no byte fits.
fn fill(dir: &Path) {
    use std::io::Write;
    let mut f = std::fs::File::create(dir.join("filler")).unwrap();
    let block = vec![7u8; 64 * 1024];
    loop {
        if f.write_all(&block).is_err() {
            break;
        }
    }
    let _ = f.flush();
    // The last bytes that fit.
    while f.write_all(&[7u8]).is_ok() {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_under_sqlite_heals_when_space_returns() {
    let mnt = tempfile::tempdir().unwrap();
    let tmpfs = Tmpfs::mount(mnt.path(), 16);
    let db = mnt.path().join("paddock.db");
    let model = common::scripted::model(OUTAGE_SCRIPT).await;
    let p = Paddock::new();
    let config = with_database(
        scripted_config(p.data_dir(), &model.base_url(), BWRAP),
        &format!("sqlite://{}", db.display()),
    );
    let server = Server::start(&p, &config, None, &[]);
    let http = common::client();
    let ws = tempfile::tempdir().unwrap();
    let (steady, stopper) = start_both(&http, &server, ws.path()).await;
    fill(mnt.path());
    // Writes fail (reads may still work on a full disk): a message is 503.
    let r = http
        .post(server.url(&format!("/api/agents/{stopper}/messages")))
        .json(&json!({"text": "hello?"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503, "{}", r.text().await.unwrap());
    interrupt_reaches(&http, &server, &stopper).await;
    // Both commands end while nothing can be written.
    tokio::time::sleep(Duration::from_secs(12)).await;
    std::fs::remove_file(mnt.path().join("filler")).unwrap();
    after_outage(&http, &server, &steady, &stopper).await;
    drop(server);
    drop(tmpfs);
}

// ---------------------------------------------------------------------------
// Start-up
// ---------------------------------------------------------------------------

/// `paddock serve` with this configuration, which must fail: its stderr.
fn serve_fails(p: &Paddock, config: &Path) -> String {
    let t = Instant::now();
    let out = p
        .command()
        .args(["serve", "--bind", "127.0.0.1:0", "--config"])
        .arg(config)
        .output()
        .unwrap();
    let err = common::stderr(&out);
    eprintln!("failed in {:?}: {err}", t.elapsed());
    assert!(!out.status.success(), "{}", common::describe(&out));
    // Said once: no `X: X` in the chain.
    let line = err
        .lines()
        .rfind(|l| l.starts_with("error: "))
        .unwrap_or("");
    let parts: Vec<&str> = line.split(": ").collect();
    for w in parts.windows(2) {
        assert_ne!(w[0], w[1], "repeated in {line}");
    }
    // Within seconds, not the pool's 30 s of retries.
    assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());
    err
}

#[tokio::test]
async fn start_up_errors_name_their_cause_at_once() {
    // A SQLite file that is not a database.
    let p = Paddock::new();
    std::fs::write(p.data_dir().join("paddock.db"), vec![b'x'; 8192]).unwrap();
    let config = p.data_dir().join("paddock.toml");
    std::fs::write(&config, "").unwrap();
    let err = serve_fails(&p, &config);
    assert!(err.contains("is not a database"), "{err}");
    assert!(err.contains("paddock.db"), "{err}");

    // PostgreSQL: nobody listening, a wrong password, no such database.
    let pg = PgCluster::start(&["host all secretive 127.0.0.1/32 scram-sha-256"]);
    pg.sql(
        "postgres",
        "CREATE ROLE secretive LOGIN PASSWORD 'right-password'",
    );
    let port = common::mcp_servers::free_port();
    let p = Paddock::new();
    for (url, want) in [
        (
            format!("postgres://postgres@127.0.0.1:{port}/x"),
            vec![
                format!("127.0.0.1:{port}"),
                "connection refused".to_string(),
            ],
        ),
        (
            format!(
                "postgres://secretive:wrong-password@127.0.0.1:{}/postgres",
                pg.port
            ),
            vec![
                format!("127.0.0.1:{}", pg.port),
                "password authentication failed".to_string(),
            ],
        ),
        (
            pg.url("postgres", "nowhere"),
            vec!["database \"nowhere\" does not exist".to_string()],
        ),
    ] {
        std::fs::write(config_of(&p), format!("database_url = \"{url}\"\n")).unwrap();
        let err = serve_fails(&p, &config_of(&p));
        for w in want {
            assert!(err.contains(&w), "{url}: `{w}` not in {err}");
        }
        assert!(
            !err.contains("wrong-password"),
            "the password leaked: {err}"
        );
    }

    // A bad address in the configuration is named as the configuration's.
    std::fs::write(config_of(&p), "[server]\nbind = \"localhost-ish\"\n").unwrap();
    let out = p
        .command()
        .args(["serve", "--config"])
        .arg(config_of(&p))
        .env_remove("PADDOCK_BIND")
        .output()
        .unwrap();
    let err = common::stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("[server] bind `localhost-ish`"), "{err}");
    assert!(!err.contains("--bind"), "{err}");

    // A workspace root over the data dir is refused at start.
    std::fs::write(config_of(&p), "").unwrap();
    let out = p
        .command()
        .args(["serve", "--bind", "127.0.0.1:0", "--workspace-root"])
        .arg(p.data_dir().parent().unwrap())
        .arg("--config")
        .arg(config_of(&p))
        .output()
        .unwrap();
    let err = common::stderr(&out);
    assert!(!out.status.success());
    assert!(err.contains("overlaps the data dir"), "{err}");
}

fn config_of(p: &Paddock) -> std::path::PathBuf {
    p.data_dir().join("paddock.toml")
}

#[tokio::test]
async fn a_damaged_agent_is_quarantined_and_the_others_start() {
    let script = "model: scripted\nturns:\n  - text: \"Hi.\"\n";
    let s = setup(script, "", &[]).await;
    let good = s.create("hello").await;
    let bad = s.create("hello").await;
    s.wait_status(&good, 0, &["idle"]).await;
    s.wait_status(&bad, 0, &["idle"]).await;
    let Setup {
        paddock: p,
        server,
        config,
        http,
        model: _model,
        workspace: _workspace,
    } = s;
    drop(server);
    // Text that is not UTF-8 in one agent's row.
    let url = format!("sqlite://{}", p.data_dir().join("paddock.db").display());
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    sqlx::query("UPDATE agents SET name = CAST(X'66ff6f' AS TEXT) WHERE id = $1")
        .bind(&bad)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let server = Server::start(&p, &config, None, &[]);
    let info = common::scripted::get_json(&http, &server.url("/api/info")).await;
    let q = info["quarantined_agents"].as_array().unwrap();
    assert_eq!(q.len(), 1, "{info}");
    assert_eq!(q[0]["id"], bad.as_str());
    let list = common::scripted::get_json(&http, &server.url("/api/agents")).await;
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [good.as_str()], "{list}");
    // The good one works on.
    let r = http
        .post(server.url(&format!("/api/agents/{good}/messages")))
        .json(&json!({"text": "again"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
}

use common::scripted::Setup;

#[tokio::test]
async fn a_clean_shutdown_checkpoints_the_wal() {
    let script = "model: scripted\nturns:\n  - text: \"Hi.\"\n";
    let s = setup(script, "", &[]).await;
    let id = s.create("hello").await;
    s.wait_status(&id, 0, &["idle"]).await;
    let wal = s.paddock.data_dir().join("paddock.db-wal");
    assert!(
        std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0) > 0,
        "the WAL holds the recent writes"
    );
    let Setup {
        paddock: p,
        mut server,
        config,
        model: _model,
        workspace: _workspace,
        ..
    } = s;
    server.terminate();
    let len = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    assert_eq!(len, 0, "the WAL was not checkpointed at shutdown");
    // And everything is in the database file.
    let server = Server::start(&p, &config, None, &[]);
    let http = common::client();
    let evs = common::scripted::events(&http, &server, &id).await;
    assert_eq!(common::scripted::last_text(&evs), "Hi.");
}

// ---------------------------------------------------------------------------
// The smaller points
// ---------------------------------------------------------------------------

/// In this process: the app as `paddock serve` opens it, its router
/// called directly (what the route answers needs no listener).
async fn nul_and_control_names_are_refused(p: &Paddock, config: &Path) {
    let api = Api::open(p, config).await;
    let ws = tempfile::tempdir().unwrap();
    for name in ["a\u{0}b", "tab\there", "bell\u{7}", "new\nline"] {
        let body = json!({"name": name, "workspace": ws.path()}).to_string();
        let r = api
            .request(
                "POST",
                "/api/agents",
                common::USER_TOKEN,
                Some(("application/json", body)),
            )
            .await;
        assert_eq!(r.status, 400, "{name:?}");
        let v: Value = serde_json::from_str(&r.body).unwrap();
        assert!(
            v["error"]["message"].as_str().unwrap().starts_with("name:"),
            "{v}"
        );
    }
    let (_, list) = api.get_json("/api/agents").await;
    assert_eq!(list, json!([]));
    api.close().await;
}

#[tokio::test]
async fn names_with_nul_or_control_characters_are_a_400_on_both_stores() {
    let p = Paddock::new();
    let config = scripted_config(p.data_dir(), "http://127.0.0.1:9/v1", "");
    nul_and_control_names_are_refused(&p, &config).await;
    let db = PgDb::create("paddock_names").await;
    let p = Paddock::new();
    let config = with_database(
        scripted_config(p.data_dir(), "http://127.0.0.1:9/v1", ""),
        &db.url,
    );
    nul_and_control_names_are_refused(&p, &config).await;
}

#[tokio::test]
async fn a_fifo_in_a_workspace_is_left_out_of_its_backup_and_named() {
    let p = Paddock::new();
    let config = scripted_config(p.data_dir(), "http://127.0.0.1:9/v1", "");
    let server = Server::start(&p, &config, None, &[]);
    let http = common::client();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("kept.txt"), "kept").unwrap();
    let fifo = std::ffi::CString::new(dir.path().join("pipe").to_str().unwrap()).unwrap();
    // SAFETY: a valid, NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
    let r = http
        .post(server.url("/api/workspaces"))
        .json(&json!({"name": "piped", "path": dir.path()}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let ws: Value = r.json().await.unwrap();
    let r = http
        .post(server.url(&format!(
            "/api/workspaces/{}/backup",
            ws["id"].as_str().unwrap()
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["skipped"], json!(["pipe"]), "{b}");
    assert_eq!(b["entries"], 1, "{b}");
}

#[tokio::test]
async fn a_directory_too_large_to_import_is_refused_and_leaves_nothing() {
    let p = Paddock::new();
    let config = scripted_config(
        p.data_dir(),
        "http://127.0.0.1:9/v1",
        "[workspaces]\nmax_import_mb = 1\n",
    );
    let server = Server::start(&p, &config, None, &[]);
    let http = common::client();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("big.bin"), vec![1u8; 2 * 1024 * 1024]).unwrap();
    // Ignored files are not snapshotted in place, but a copy takes them.
    std::fs::create_dir(dir.path().join("small")).unwrap();
    std::fs::write(dir.path().join("small/.gitignore"), "ignored.bin\n").unwrap();
    std::fs::write(
        dir.path().join("small/ignored.bin"),
        vec![1u8; 2 * 1024 * 1024],
    )
    .unwrap();
    for (body, ok) in [
        (json!({"name": "big", "path": dir.path()}), false),
        (
            json!({"name": "bigcopy", "path": dir.path(), "copy": true}),
            false,
        ),
        (
            json!({"name": "small", "path": dir.path().join("small")}),
            true,
        ),
        (
            json!({"name": "smallcopy", "path": dir.path().join("small"), "copy": true}),
            false,
        ),
    ] {
        let r = http
            .post(server.url("/api/workspaces"))
            .json(&body)
            .send()
            .await
            .unwrap();
        let st = r.status();
        let v: Value = r.json().await.unwrap();
        if ok {
            assert_eq!(st, 201, "{body}: {v}");
        } else {
            assert_eq!(st, 413, "{body}: {v}");
            assert_eq!(v["error"]["code"], "too_large");
            assert!(
                v["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("max_import_mb"),
                "{v}"
            );
        }
    }
    let list = common::scripted::get_json(&http, &server.url("/api/workspaces")).await;
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    let managed = std::fs::read_dir(p.data_dir().join("workspaces"))
        .unwrap()
        .count();
    assert_eq!(managed, 0, "a refused copy left files behind");
}

#[tokio::test]
async fn an_oversized_websocket_message_is_refused_with_a_reason() {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
    let p = Paddock::new();
    let config = scripted_config(p.data_dir(), "http://127.0.0.1:9/v1", "");
    let server = Server::start(&p, &config, None, &[]);
    let (mut ws, _) = tokio_tungstenite::connect_async(server.ws_url())
        .await
        .unwrap();
    let big = format!(
        "{{\"op\":\"send_message\",\"agent_id\":\"x\",\"text\":\"{}\"}}",
        "a".repeat(600 * 1024)
    );
    ws.send(Message::Text(big.into())).await.unwrap();
    let frame = loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
            Ok(Some(Ok(Message::Close(frame)))) => break frame,
            Ok(Some(Ok(_))) => continue,
            other => panic!("no close frame: {other:?}"),
        }
    };
    let frame = frame.expect("a close frame with a code");
    assert_eq!(frame.code, CloseCode::Size);
    assert!(frame.reason.contains("512 KiB"), "{}", frame.reason);
}
