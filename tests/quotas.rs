//! Quotas and keys per user, against the real binary and the scripted
//! model: a user's daily budget stops their agents and nobody else's, a
//! group's budget counts all its members' agents, the cap on running
//! agents answers 429 `quota_exceeded`, a member's personal provider key is
//! the one the model sees for that member's agents only (the others' use
//! the shared key) and no route shows it to anyone, and usage groups by
//! user.

use crate::common;

use common::scripted::{events, wait_status};
use common::{ADMIN_TOKEN, Paddock, Server, client_with, describe};
use paddock_llm::scripted::{RunningModel, Script, ScriptedModel};
use paddock_protocol::events::{AgentStatus, ErrorCode, EventBody};
use serde_json::{Value, json};

/// The shared key of the provider (from its `api_key_env`).
const SHARED_KEY: &str = "sk-shared-team-key-0123456789";
/// Alice's personal key for the provider.
const PERSONAL_KEY: &str = "sk-alice-own-key-9876543210zz";

/// Every call costs $1: 1000 prompt tokens at $1000 per million.
const SCRIPT: &str = r#"
model: scripted
scenarios:
  - name: hang
    match: "^hang"
    turns:
      - text: "never"
        fault: {type: hang, at_chunk: 1}
turns:
  - text: "done."
    usage: {prompt_tokens: 1000, completion_tokens: 1}
"#;

fn config(p: &Paddock, base_url: &str) -> std::path::PathBuf {
    let path = p.data_dir().join("paddock.toml");
    std::fs::write(
        &path,
        format!(
            r#"[[providers]]
name = "scripted"
base_url = "{base_url}"
api_key_env = "QUOTAS_SHARED_KEY"
initial_backoff_ms = 20
max_backoff_ms = 200
max_retries = 1
idle_timeout_ms = 600000
[[providers.models]]
name = "scripted"
context_window = 32000
input_per_mtok = 1000.0
output_per_mtok = 0.0

[auth]
max_running_agents_per_user = 2
"#
        ),
    )
    .unwrap();
    path
}

/// `paddock user add NAME --role ROLE --token`: the user's id and token.
async fn add_user(p: &Paddock, name: &str, role: &str) -> (String, String) {
    let out = p.cmd([
        "user", "add", name, "--role", role, "--token", "--scope", "write",
    ]);
    assert!(out.status.success(), "{}", describe(&out));
    let token = String::from_utf8_lossy(&out.stdout)
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap()
        .trim()
        .to_string();
    let store = store(p).await;
    let id = store.get_user_by_name(name).await.unwrap().unwrap().id;
    (id, token)
}

async fn store(p: &Paddock) -> paddock_store::Store {
    paddock_store::Store::open_sqlite(&p.data_dir().join("paddock.db"))
        .await
        .unwrap()
}

struct User {
    id: String,
    http: reqwest::Client,
}

struct World {
    p: Paddock,
    server: Server,
    model: RunningModel,
    workspace: tempfile::TempDir,
    admin: reqwest::Client,
}

impl World {
    async fn create(&self, user: &User, task: &str) -> (u16, Value) {
        let r = user
            .http
            .post(self.server.url("/api/agents"))
            .json(&json!({"name": "q", "workspace": self.workspace.path(), "task": task}))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    /// Creates an agent on `task` and waits for its run to end; its id and
    /// the last status with its reason.
    async fn run(&self, user: &User, task: &str) -> (String, AgentStatus, Option<String>) {
        let (status, body) = self.create(user, task).await;
        assert_eq!(status, 201, "{body}");
        let id = body["id"].as_str().unwrap().to_string();
        let evs = wait_status(
            &user.http,
            &self.server,
            &id,
            1,
            &["idle", "limited", "error"],
        )
        .await;
        let (status, reason) = evs
            .iter()
            .rev()
            .find_map(|e| match &e.body {
                EventBody::AgentStatus { status, reason, .. } => Some((*status, reason.clone())),
                _ => None,
            })
            .unwrap();
        (id, status, reason)
    }

    /// Which key (index among [shared, personal]) the model saw for each
    /// request of this agent.
    fn keys_seen(&self, agent: &str) -> Vec<Option<usize>> {
        let marker = format!("paddock-{agent}");
        self.model
            .requests_with_keys()
            .into_iter()
            .filter(|(_, body)| body["prompt_cache_key"] == marker.as_str())
            .map(|(k, _)| k)
            .collect()
    }
}

async fn start() -> (World, User, User, User, User) {
    let script = Script::from_yaml_str(SCRIPT).unwrap();
    let model = ScriptedModel::with_api_keys(
        script,
        vec![SHARED_KEY.to_string(), PERSONAL_KEY.to_string()],
    )
    .serve(([127, 0, 0, 1], 0).into())
    .await
    .unwrap();
    let p = Paddock::new();
    let config = config(&p, &model.base_url());
    // The users exist before the server starts (the CLI writes the store).
    let (alice, alice_token) = add_user(&p, "alice", "member").await;
    let (bob, bob_token) = add_user(&p, "bob", "member").await;
    let (carol, carol_token) = add_user(&p, "carol", "member").await;
    let (dave, dave_token) = add_user(&p, "dave", "member").await;
    let server = Server::start(&p, &config, None, &[("QUOTAS_SHARED_KEY", SHARED_KEY)]);
    let user = |id: String, token: String| User {
        id,
        http: client_with(&token),
    };
    let world = World {
        p,
        server,
        model,
        workspace: tempfile::tempdir().unwrap(),
        admin: client_with(ADMIN_TOKEN),
    };
    (
        world,
        user(alice, alice_token),
        user(bob, bob_token),
        user(carol, carol_token),
        user(dave, dave_token),
    )
}

async fn get(http: &reqwest::Client, url: &str) -> (u16, String) {
    let r = http.get(url).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// Every GET route of the OpenAPI document, its path parameters filled
/// with `id` (an agent's id) and `name` (a provider's name).
async fn every_get_route(
    w: &World,
    http: &reqwest::Client,
    id: &str,
) -> Vec<(String, u16, String)> {
    let doc: Value = w
        .admin
        .get(w.server.url("/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut out = Vec::new();
    let re = regex::Regex::new(r"\{([^}]+)\}").unwrap();
    for (path, item) in doc["paths"].as_object().unwrap() {
        if item.get("get").is_none() || path == "/api/ws" {
            continue;
        }
        let filled = re.replace_all(path, |c: &regex::Captures| match &c[1] {
            "name" | "provider" => "scripted".to_string(),
            _ => id.to_string(),
        });
        let (status, body) = get(http, &w.server.url(&filled)).await;
        out.push((filled.into_owned(), status, body));
    }
    assert!(out.len() > 20, "the document lists the GET routes: {out:?}");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotas_and_personal_keys_per_user() {
    let (w, alice, bob, carol, dave) = start().await;

    // --- A personal key: alice's agents use it, bob's the shared one.
    let r = alice
        .http
        .put(w.server.url("/api/me/keys/scripted"))
        .json(&json!({"api_key": PERSONAL_KEY}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let view: Value = r.json().await.unwrap();
    assert_eq!(view["provider"], "scripted");
    assert_eq!(view["set"], true);
    assert_eq!(view["last4"], "10zz");
    assert!(!view.to_string().contains(PERSONAL_KEY));
    let (a1, status, reason) = w.run(&alice, "hello from alice").await;
    assert_eq!(status, AgentStatus::Idle, "{reason:?}");
    let (b1, status, reason) = w.run(&bob, "hello from bob").await;
    assert_eq!(status, AgentStatus::Idle, "{reason:?}");
    assert_eq!(w.keys_seen(&a1), [Some(1)], "alice's agent sends her key");
    assert_eq!(
        w.keys_seen(&b1),
        [Some(0)],
        "bob's agent sends the shared key"
    );
    let (status, mine) = get(&alice.http, &w.server.url("/api/me/keys")).await;
    assert_eq!(status, 200);
    let mine: Value = serde_json::from_str(&mine).unwrap();
    assert_eq!(mine.as_array().unwrap().len(), 1, "{mine}");
    let (_, theirs) = get(&bob.http, &w.server.url("/api/me/keys")).await;
    assert_eq!(theirs, "[]", "bob has no key, and never sees alice's");

    // The key is in no answer of any GET route, for another member or an
    // admin — nor for alice herself.
    for (who, http) in [
        ("bob", &bob.http),
        ("admin", &w.admin),
        ("alice", &alice.http),
    ] {
        for (route, status, body) in every_get_route(&w, http, &a1).await {
            assert!(
                !body.contains(PERSONAL_KEY) && !body.contains("9876543210"),
                "GET {route} as {who} ({status}) shows alice's key: {body}"
            );
        }
    }
    // Nor in the log of events of her agent (the model never echoed it, but
    // the stored request config must not hold it either), nor the database.
    let db = std::fs::read(w.p.data_dir().join("paddock.db")).unwrap();
    assert!(
        !db.windows(PERSONAL_KEY.len())
            .any(|win| win == PERSONAL_KEY.as_bytes()),
        "the key is stored in clear"
    );
    // The audit names who set it, never the key.
    let (_, audit) = get(&w.admin, &w.server.url("/api/audit?limit=500")).await;
    assert!(audit.contains("\"kind\":\"key\""), "{audit}");
    assert!(audit.contains(&alice.id), "{audit}");
    assert!(!audit.contains(PERSONAL_KEY));

    // --- Usage by user: each owner with their id and name.
    let (status, usage) = get(&w.admin, &w.server.url("/api/metrics/usage?group_by=user")).await;
    assert_eq!(status, 200, "{usage}");
    let usage: Value = serde_json::from_str(&usage).unwrap();
    let rows = usage["rows"].as_array().unwrap();
    let of = |id: &str| {
        rows.iter()
            .find(|r| r["user"]["id"] == id)
            .unwrap_or_else(|| panic!("no row of {id}: {usage}"))
            .clone()
    };
    assert_eq!(of(&alice.id)["user"]["name"], "alice");
    assert_eq!(of(&alice.id)["cost_usd"], 1.0);
    assert_eq!(of(&bob.id)["cost_usd"], 1.0);
    // A member sees only their own agents' usage.
    let (_, hers) = get(
        &alice.http,
        &w.server.url("/api/metrics/usage?group_by=user"),
    )
    .await;
    let hers: Value = serde_json::from_str(&hers).unwrap();
    let users: Vec<&Value> = hers["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["user"]["id"])
        .collect();
    assert_eq!(users, [&json!(alice.id)], "{hers}");
    assert_eq!(hers["total"]["cost_usd"], 1.0);
    let (_, cost) = get(&w.admin, &w.server.url("/api/metrics/cost-analysis")).await;
    let cost: Value = serde_json::from_str(&cost).unwrap();
    let mut spenders: Vec<&str> = cost["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["user"]["name"].as_str().unwrap())
        .collect();
    spenders.sort_unstable();
    assert_eq!(spenders, ["alice", "bob"], "{cost}");

    // --- Budgets: alice's daily budget is what she spent; a group of bob
    // and carol gets what bob spent.
    let store = store(&w.p).await;
    let group = store.create_group("team").await.unwrap();
    store
        .set_group_members(&group.id, &[bob.id.clone(), carol.id.clone()])
        .await
        .unwrap();
    let r = w
        .admin
        .put(w.server.url("/api/config/budgets"))
        .json(&json!({
            "users": {alice.id.clone(): {"daily_usd": 1.0}},
            "groups": {group.id.clone(): {"daily_usd": 1.0}},
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let budgets: Value = r.json().await.unwrap();
    assert_eq!(budgets["users"][&alice.id]["daily_usd"], 1.0, "{budgets}");
    assert_eq!(budgets["groups"][&group.id]["daily_usd"], 1.0, "{budgets}");
    // A member may not set budgets.
    let r = alice
        .http
        .put(w.server.url("/api/config/budgets"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    // Alice's new agent stops before its first call, on her budget (her
    // other agent spent it).
    let (a2, status, reason) = w.run(&alice, "more from alice").await;
    assert_eq!(status, AgentStatus::Limited);
    let reason = reason.unwrap_or_default();
    assert!(reason.contains("user alice's daily budget"), "{reason}");
    let evs = events(&alice.http, &w.server, &a2).await;
    assert!(
        evs.iter().any(|e| matches!(&e.body, EventBody::Error { code, .. } if *code == ErrorCode::BudgetExceeded)),
        "the budget's code"
    );
    assert!(w.keys_seen(&a2).is_empty(), "nothing was sent to the model");
    // Carol spent nothing, but her group's members did: her agent stops.
    let (_, status, reason) = w.run(&carol, "carol starts").await;
    assert_eq!(status, AgentStatus::Limited);
    let reason = reason.unwrap_or_default();
    assert!(reason.contains("group team's daily budget"), "{reason}");
    // Dave is in neither: his agent runs.
    let (_, status, reason) = w.run(&dave, "dave works").await;
    assert_eq!(status, AgentStatus::Idle, "{reason:?}");

    // --- The running cap: dave's own is 1; the host's default is 2.
    store
        .update_user(
            &dave.id,
            &paddock_store::UserPatch {
                max_running_agents: Some(Some(1)),
                ..paddock_store::UserPatch::default()
            },
        )
        .await
        .unwrap();
    let (status, body) = w.create(&dave, "hang on").await;
    assert_eq!(status, 201, "{body}");
    let hanging = body["id"].as_str().unwrap().to_string();
    let (status, body) = w.create(&dave, "hang again").await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"]["code"], "quota_exceeded", "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("at most 1 agent at once"), "{message}");
    // An idle agent of his: a message would start a run.
    let r = dave
        .http
        .post(w.server.url("/api/agents"))
        .json(&json!({"name": "idle", "workspace": w.workspace.path()}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let idle: Value = r.json().await.unwrap();
    let idle = idle["id"].as_str().unwrap().to_string();
    let r = dave
        .http
        .post(w.server.url(&format!("/api/agents/{idle}/messages")))
        .json(&json!({"text": "hang too"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    // Other users are not bound by dave's cap: bob (the default, 2) starts
    // two once the budgets are lifted.
    let r = w
        .admin
        .put(w.server.url("/api/config/budgets"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (status, body) = w.create(&bob, "hang bob 1").await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = w.create(&bob, "hang bob 2").await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = w.create(&bob, "hang bob 3").await;
    assert_eq!(status, 429, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("at most 2 agents"),
        "{body}"
    );
    // Interrupting dave's running agent frees his place.
    let r = dave
        .http
        .post(w.server.url(&format!("/api/agents/{hanging}/interrupt")))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    wait_status(&dave.http, &w.server, &hanging, 1, &["idle"]).await;
    let r = dave
        .http
        .post(w.server.url(&format!("/api/agents/{idle}/messages")))
        .json(&json!({"text": "now it runs"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());

    // --- Removing her key: alice's agents use the shared key again.
    let r = alice
        .http
        .delete(w.server.url("/api/me/keys/scripted"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = alice
        .http
        .delete(w.server.url("/api/me/keys/scripted"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}
