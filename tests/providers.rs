//! Providers and keys from the API: added, tested, made the default and
//! used by an agent without a restart; the key sealed at rest (absent from
//! the database files, the logs, the events and every API response, on
//! SQLite and PostgreSQL); a wrong master key stops the start; rotating
//! the master key keeps the keys usable; paddock.toml's providers stay
//! read-only.

use crate::common::postgres::PgDb;
use crate::common::scripted::{self, model, wait_status};
use crate::common::{ADMIN_TOKEN, Paddock, Server, client, client_with, describe, scripted_config};
use paddock_protocol::events::{AgentStatus, EventBody};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The key entered through the API: distinctive, so that finding it
/// anywhere is a leak.
const KEY: &str = "pk-live-Zq8vW3xKp9TmR2cY7bLn4fGh";

/// The model answers with the key in its text: it must come out redacted.
const SCRIPT: &str = r#"
turns:
  - text: "Done. The key you gave me is pk-live-Zq8vW3xKp9TmR2cY7bLn4fGh, keep it safe."
"#;

/// An empty paddock.toml (no provider at all) in the data dir.
fn empty_config(p: &Paddock, extra: &str) -> PathBuf {
    let path = p.data_dir().join("paddock.toml");
    std::fs::write(&path, extra).unwrap();
    path
}

/// A server on `p` whose log goes to `log` (appended).
fn start(p: &Paddock, config: &Path, env: &[(&str, &str)], log: &Path) -> Server {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let mut env = env.to_vec();
    env.push(("PADDOCK_LOG", "debug"));
    Server::start_logging(p, config, None, &env, &[], file.into())
}

/// Every text an API response of the test returned, to look through.
#[derive(Default)]
struct Seen(String);

impl Seen {
    async fn send(&mut self, r: reqwest::RequestBuilder) -> (u16, Value) {
        let r = r.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        self.0.push_str(&text);
        self.0.push('\n');
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

fn provider_body(base_url: &str) -> Value {
    json!({
        "name": "local",
        "base_url": base_url,
        "models": [{"name": "scripted", "context_window": 32000}],
        "initial_backoff_ms": 20,
        "max_backoff_ms": 1000,
        "api_key": KEY,
    })
}

/// Creates an agent naming no model on `server`; waits until it finishes
/// and checks its answer came redacted.
async fn agent_finishes(seen: &mut Seen, server: &Server, workspace: &Path, task: &str) -> String {
    let http = client();
    let (status, created) = seen
        .send(http.post(server.url("/api/agents")).json(&json!({
            "name": "first",
            "workspace": workspace,
            "task": task,
        })))
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(
        created["config"]["model"],
        json!({"provider": "local", "model": "scripted"})
    );
    let evs = wait_status(&http, server, &id, 0, &["idle", "error"]).await;
    let last = evs.iter().rev().find_map(|e| match &e.body {
        EventBody::AgentStatus { status, .. } => Some(*status),
        _ => None,
    });
    assert_eq!(last, Some(AgentStatus::Idle), "{}", scripted::summary(&evs));
    let text = evs
        .iter()
        .rev()
        .find_map(|e| match &e.body {
            EventBody::MessageAssistant { text, .. } => text.clone(),
            _ => None,
        })
        .unwrap();
    assert!(text.starts_with("Done. The key you gave me is "), "{text}");
    assert!(
        !text.contains(KEY),
        "the key echoed by the model is redacted: {text}"
    );
    // Every event as the API serves it.
    seen.send(http.get(server.url(&format!("/api/agents/{id}/events?limit=500"))))
        .await;
    id
}

fn assert_absent(what: &str, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    assert!(!text.contains(KEY), "the key is in {what}");
    // Not even a long piece of it.
    assert!(
        !text.contains(&KEY[4..20]),
        "a piece of the key is in {what}"
    );
}

/// The SQLite files of the data dir (the database, its WAL and shared
/// memory) and the log hold no trace of the key.
fn assert_absent_from_files(p: &Paddock, log: &Path) {
    let mut db_files = 0;
    for entry in std::fs::read_dir(p.data_dir()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name.starts_with("paddock.db") {
            db_files += 1;
            assert_absent(&name, &std::fs::read(&path).unwrap());
        }
    }
    assert!(db_files >= 1, "no database file in the data dir");
    assert_absent("the server's log", &std::fs::read(log).unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_added_through_the_api_serves_agents_without_a_restart() {
    let m = model(SCRIPT).await;
    let p = Paddock::new();
    let config = empty_config(&p, "");
    let log = p.data_dir().join("serve.log");
    let workspace = tempfile::tempdir().unwrap();
    let mut server = start(&p, &config, &[], &log);
    let mut seen = Seen::default();
    seen.0.push_str(&server.banner.join("\n"));
    // With no provider, start-up says what to do, just before the link.
    let hint = server
        .banner
        .iter()
        .position(|l| l.starts_with("no model provider is usable yet: open the dashboard"))
        .unwrap_or_else(|| panic!("no hint in {:?}", server.banner));
    assert!(
        server.banner[hint + 1].starts_with("open the dashboard"),
        "{:?}",
        server.banner
    );
    assert!(
        server
            .banner
            .iter()
            .any(|l| l.starts_with("master key: created ")),
        "{:?}",
        server.banner
    );
    let key_file = p.data_dir().join("master.key");
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let admin = client_with(ADMIN_TOKEN);
    let user = client();
    let (_, d) = seen
        .send(user.get(server.url("/api/config/default-model")))
        .await;
    assert_eq!(
        d,
        json!({"provider": null, "model": null, "source": "none"})
    );
    let body = provider_body(&m.base_url());

    // Writes and tests are the admin's.
    let (status, _) = seen
        .send(user.post(server.url("/api/config/providers")).json(&body))
        .await;
    assert_eq!(status, 403);
    // Tested before it is saved: the models the server lists.
    let (status, report) = seen
        .send(
            admin
                .post(server.url("/api/config/providers/test"))
                .json(&body),
        )
        .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["models"], json!(["scripted"]));
    assert!(report["duration_ms"].is_u64());
    // Saved.
    let (status, view) = seen
        .send(admin.post(server.url("/api/config/providers")).json(&body))
        .await;
    assert_eq!(status, 201, "{view}");
    assert_eq!(view["source"], "api");
    assert_eq!(view["read_only"], false);
    assert_eq!(view["available"], true);
    assert_eq!(
        view["key"],
        json!({"state": "stored", "set": true, "last4": &KEY[KEY.len() - 4..]})
    );
    let (status, again) = seen
        .send(admin.post(server.url("/api/config/providers")).json(&body))
        .await;
    assert_eq!(
        (status, again["error"]["code"].as_str()),
        (409, Some("conflict"))
    );
    // A bad field is named.
    let mut bad = body.clone();
    bad["name"] = json!("other");
    bad["base_url"] = json!("ftp://nowhere");
    let (status, err) = seen
        .send(admin.post(server.url("/api/config/providers")).json(&bad))
        .await;
    assert_eq!(status, 400);
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("base_url:"),
        "{err}"
    );
    let (status, err) = seen
        .send(
            admin
                .post(server.url("/api/config/providers"))
                .json(&json!({"name": "x"})),
        )
        .await;
    assert_eq!(
        (status, err["error"]["message"].as_str()),
        (400, Some("base_url: missing field"))
    );
    let (_, report) = seen
        .send(admin.post(server.url("/api/config/providers/local/test")))
        .await;
    assert_eq!(report["ok"], true, "{report}");
    // The default model.
    let (status, d) = seen
        .send(
            admin
                .put(server.url("/api/config/default-model"))
                .json(&json!({"provider": "local", "model": "scripted"})),
        )
        .await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(d["source"], "setting");
    let (_, info) = seen.send(user.get(server.url("/api/info"))).await;
    assert_eq!(
        info["default_model"],
        json!({"provider": "local", "model": "scripted"})
    );
    // An agent naming no model uses it and finishes.
    agent_finishes(&mut seen, &server, workspace.path(), "say done").await;
    let (_, list) = seen
        .send(user.get(server.url("/api/config/providers")))
        .await;
    // Besides the built-in offline demo's (read-only, never a default).
    let listed: Vec<&Value> = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["source"] != "demo")
        .collect();
    assert_eq!(listed.len(), 1, "{list}");
    assert_eq!(listed[0]["config"]["name"], "local");

    // A restart loads it (and the default) again.
    server.terminate();
    let mut server = start(&p, &config, &[], &log);
    seen.0.push_str(&server.banner.join("\n"));
    assert!(
        !server
            .banner
            .iter()
            .any(|l| l.starts_with("no model provider")),
        "{:?}",
        server.banner
    );
    agent_finishes(&mut seen, &server, workspace.path(), "say done again").await;

    // Rotating the master key while the server runs is refused; stopped, it
    // reseals the secrets and the provider still works after a restart.
    let old_key = std::fs::read_to_string(&key_file).unwrap();
    let busy = p.cmd(["secrets", "rotate-master-key"]);
    assert_eq!(busy.status.code(), Some(2), "{}", describe(&busy));
    server.terminate();
    let rotated = p.cmd(["secrets", "rotate-master-key"]);
    assert!(rotated.status.success(), "{}", describe(&rotated));
    assert!(
        String::from_utf8_lossy(&rotated.stdout).contains("resealed 2 secret(s)"),
        "{}",
        describe(&rotated)
    );
    let new_key = std::fs::read_to_string(&key_file).unwrap();
    assert_ne!(old_key, new_key);
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // The old key no longer opens the database: the start fails, clearly.
    let wrong = start_failing(&p, &config, &[("PADDOCK_MASTER_KEY", old_key.trim())]);
    assert!(
        wrong.contains("the master key from $PADDOCK_MASTER_KEY")
            && wrong.contains("is not the one that sealed this database's secrets")
            && wrong.contains("PADDOCK_MASTER_KEY_FILE"),
        "{wrong}"
    );
    assert!(
        !wrong.contains(old_key.trim()),
        "the key is never printed: {wrong}"
    );
    let server = start(&p, &config, &[], &log);
    seen.0.push_str(&server.banner.join("\n"));
    agent_finishes(
        &mut seen,
        &server,
        workspace.path(),
        "say done after rotation",
    )
    .await;
    // The provider can be deleted; its key goes with it.
    let (status, _) = seen
        .send(admin.delete(server.url("/api/config/providers/local")))
        .await;
    assert_eq!(status, 204);
    let (_, d) = seen
        .send(user.get(server.url("/api/config/default-model")))
        .await;
    assert_eq!(d["source"], "none");
    drop(server);

    assert_absent("the API's responses", seen.0.as_bytes());
    assert_absent_from_files(&p, &log);
}

/// Starts `paddock serve` expecting it to fail at start; its stderr.
fn start_failing(p: &Paddock, config: &Path, env: &[(&str, &str)]) -> String {
    let mut cmd = p.command();
    cmd.arg("serve")
        .arg("--config")
        .arg(config)
        .arg("--bind")
        .arg("127.0.0.1:0")
        .env("PADDOCK_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("PADDOCK_TOKEN", crate::common::USER_TOKEN)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("paddock serve kept running with a wrong master key");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    use std::io::Read as _;
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(!status.success(), "{err}");
    err
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_failure_is_reported_plainly() {
    let p = Paddock::new();
    let config = empty_config(&p, "");
    let server = Server::start(&p, &config, None, &[]);
    let admin = client_with(ADMIN_TOKEN);
    // Nothing listens there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let r: Value = admin
        .post(server.url("/api/config/providers/test"))
        .json(&json!({"name": "gone", "base_url": format!("http://127.0.0.1:{port}/v1"), "api_key": KEY}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["ok"], false, "{r}");
    assert!(r.get("http_status").is_none(), "{r}");
    assert!(
        r["message"].as_str().unwrap().contains("cannot reach"),
        "{r}"
    );
    // A server refusing the key: its status and its own message, the key
    // redacted even when it is echoed back.
    let refusing = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = refusing.local_addr().unwrap();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        while let Ok((mut conn, _)) = refusing.accept().await {
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf).await;
            let body = format!(
                r#"{{"error":{{"message":"Incorrect API key provided: {KEY}.","type":"invalid_request_error","code":"invalid_api_key"}}}}"#
            );
            let _ = conn
                .write_all(
                    format!(
                        "HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    )
                    .as_bytes(),
                )
                .await;
        }
    });
    let text = admin
        .post(server.url("/api/config/providers/test"))
        .json(&json!({"name": "refusing", "base_url": format!("http://{addr}/v1"), "api_key": KEY, "models": [{"name": "m"}]}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let r: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        (r["ok"].as_bool(), r["http_status"].as_u64()),
        (Some(false), Some(401)),
        "{r}"
    );
    let message = r["message"].as_str().unwrap();
    assert!(
        message.contains("HTTP 401") && message.contains("Incorrect API key provided"),
        "{message}"
    );
    assert!(!text.contains(KEY), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paddock_toml_providers_are_read_only_through_the_api() {
    let m = model(SCRIPT).await;
    let p = Paddock::new();
    let config = scripted_config(p.data_dir(), &m.base_url(), "");
    let server = Server::start(&p, &config, None, &[]);
    let admin = client_with(ADMIN_TOKEN);
    let list: Value = client()
        .get(server.url("/api/config/providers"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let file = list
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "scripted")
        .unwrap_or_else(|| panic!("no provider `scripted` in {list}"));
    assert_eq!(file["source"], "config");
    assert_eq!(file["read_only"], true);
    assert_eq!(file["key"], json!({"state": "none", "set": false}));
    let body = json!({"base_url": m.base_url()});
    for r in [
        admin
            .put(server.url("/api/config/providers/scripted"))
            .json(&body),
        admin.delete(server.url("/api/config/providers/scripted")),
        admin
            .post(server.url("/api/config/providers"))
            .json(&json!({"name": "scripted", "base_url": m.base_url()})),
    ] {
        let r = r.send().await.unwrap();
        assert_eq!(r.status(), 409);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["code"], "read_only", "{v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .contains("paddock.toml"),
            "{v}"
        );
    }
    let r = admin
        .put(server.url("/api/config/providers/nope"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let (_, d) = Seen::default()
        .send(client().get(server.url("/api/config/default-model")))
        .await;
    assert_eq!(
        d,
        json!({"provider": "scripted", "model": "scripted", "source": "first_provider"})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_the_stored_key_is_sealed_too() {
    let m = model(SCRIPT).await;
    let db = PgDb::create("paddock_providers_test").await;
    let p = Paddock::new();
    let config = empty_config(&p, "");
    let log = p.data_dir().join("serve.log");
    let workspace = tempfile::tempdir().unwrap();
    let env = [("PADDOCK_DATABASE_URL", db.url.as_str())];
    let mut server = start(&p, &config, &env, &log);
    let mut seen = Seen::default();
    let admin = client_with(ADMIN_TOKEN);
    let (status, view) = seen
        .send(
            admin
                .post(server.url("/api/config/providers"))
                .json(&provider_body(&m.base_url())),
        )
        .await;
    assert_eq!(status, 201, "{view}");
    // Unset default: the first model of the first usable provider.
    agent_finishes(&mut seen, &server, workspace.path(), "say done").await;
    server.terminate();
    let server = start(&p, &config, &env, &log);
    agent_finishes(&mut seen, &server, workspace.path(), "say done again").await;
    drop(server);
    let dump = db.dump().await;
    assert!(
        dump.contains("provider:local"),
        "the sealed key is there: {dump}"
    );
    assert_absent("the PostgreSQL database", dump.as_bytes());
    assert_absent("the API's responses", seen.0.as_bytes());
    assert_absent("the server's log", &std::fs::read(&log).unwrap());
}
