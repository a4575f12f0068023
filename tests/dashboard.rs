//! The dashboard end to end, in real Chromium: this test prepares the world
//! (a scripted model, a workspace, and a data dir holding 200 agents, one
//! of them with a 10,000-event log, written through Paddock's own store),
//! then runs `tests/dashboard/e2e.mjs`, which starts and restarts the real
//! `paddock serve` and drives Debian's Chromium through playwright-core.
//! One of the agents (`thinker`) has a stored run over the Responses API:
//! answers with reasoning summaries, reasoning tokens, and calls served by
//! failover. Screenshots land in `target/dashboard-e2e/`.
//!
//! The first day (`first_day_in_chromium`) starts from an empty data dir
//! and reaches a finished agent through the dashboard alone
//! (`tests/dashboard/first-day.mjs`; screenshots in `target/first-day-e2e/`,
//! the agent screen's also in `docs/screenshots/` for the README).
//!
//! The team (`team_in_chromium`) signs people in with passwords and checks
//! the CSRF header, sign-out, the admins' screens, tokens shown once,
//! sharing and isolation (`tests/dashboard/team.mjs`; screenshots in
//! `target/team-e2e/`).

use crate::common;

use chrono::Utc;
use common::{ADMIN_TOKEN, mcp_servers, paddock_bin, shared_cache_dir, test_plugins_dir};
use paddock_core::agent::AgentConfig;
use paddock_llm::ToolCallRequest;
use paddock_protocol::events::{
    AgentStatus, ErrorCode, Event, EventBody, SkipReason, SkippedTarget,
};
use paddock_protocol::llm::ReasoningItem;
use paddock_store::{NewAgent, Store};
use serde_json::json;
use std::path::Path;

/// One Chromium run at a time: every browser test (these and
/// `dashboard_workflows`'s) drives a browser and a host, and the machine
/// may have two cores.
pub(crate) static CHROMIUM: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Events in the big agent's log.
const BIG_EVENTS: u64 = 10_000;
/// Agents in the data dir before the browser opens (the big one included).
const AGENTS: usize = 200;
/// Tool calls in the live burst turn (one `tool.result` event each).
const BURST_CALLS: usize = 1000;

/// The scripted model's script: one scenario per e2e step, chosen by the
/// agent's first message.
fn script() -> String {
    let story = (1..=120)
        .map(|i| format!("word{i}"))
        .collect::<Vec<_>>()
        .join(" ");
    let burst: Vec<_> = (0..BURST_CALLS)
        .map(|i| json!({"name": "no_such_tool", "arguments": {"i": i}}))
        .collect();
    json!({
        "model": "scripted",
        "scenarios": [
            {"name": "edit-secret", "match": "update the env file", "turns": [
                {"text": "I will change the colour in .env now.", "tokens_per_second": 10,
                 "tool_calls": [{"name": "edit_file", "arguments":
                    {"path": ".env", "old_string": "COLOR=red", "new_string": "COLOR=blue"}}]},
                {"text": "Done: .env now says COLOR=blue."}
            ]},
            {"name": "long", "match": "tell me a long story", "turns": [
                {"text": format!("Once upon a time {story}"), "tokens_per_second": 4}
            ]},
            {"name": "restart", "match": "survive a restart", "turns": [
                {"text": format!("Slowly answering {story}"), "tokens_per_second": 8},
                {"text": "Second answer after the restart."}
            ]},
            {"name": "environment", "match": "prepare the environment", "turns": [
                {"text": "The environment is ready."}
            ]},
            {"name": "burst", "match": "make a burst", "turns": [
                {"tool_calls": burst},
                {"text": "Burst done."}
            ]},
            {"name": "hello", "turns": [{"text": "Hello from the scripted model."}]}
        ]
    })
    .to_string()
}

/// The provider over the Responses API in `paddock.toml`: its model
/// `gpt-5` reasons, and fails over to the scripted model. Nothing listens
/// at its address, so every call to it fails (no retry) and its circuit
/// opens for ten minutes after the first failure.
const RESPONSES_PROVIDER: &str = "[[providers]]\nname = \"openai\"\nbase_url = \"http://127.0.0.1:9/v1\"\n\
    api = \"responses\"\nmax_retries = 0\nbreaker_failures = 1\nbreaker_cooldown_ms = 600000\n\
    [[providers.models]]\nname = \"gpt-5\"\nreasoning = true\ninput_per_mtok = 1.25\n\
    output_per_mtok = 10.0\ncached_input_per_mtok = 0.125\n\
    failover = [{ provider = \"scripted\", model = \"scripted\" }]\n";

fn config_for(ws: &Path, name: &str) -> AgentConfig {
    serde_json::from_value(json!({
        "name": name,
        "model": {"provider": "scripted", "model": "scripted"},
        "workspace": ws,
    }))
    .expect("an agent configuration")
}

fn event(agent: &str, seq: u64, body: EventBody) -> Event {
    Event {
        seq,
        agent_id: agent.to_string(),
        ts: Utc::now(),
        body,
    }
}

/// A realistic log of at least `total` events: whole turns of a user
/// message, an answer with a tool call, its result, usage, and status
/// changes.
fn big_log(agent: &str, total: u64) -> Vec<Event> {
    let mut out = Vec::new();
    let mut seq = 1;
    let mut turn = 0;
    while seq < total {
        turn += 1;
        let call_id = format!("call_{turn}");
        let bodies = vec![
            EventBody::MessageUser {
                text: format!("Step {turn}: look at file {turn}.txt"),
            },
            EventBody::AgentStatus {
                status: AgentStatus::Thinking,
                reason: None,
                code: None,
            },
            EventBody::MessageAssistant {
                text: Some(format!("Reading file {turn}.txt.")),
                tool_calls: vec![ToolCallRequest {
                    id: call_id.clone(),
                    name: "read_file".into(),
                    arguments: format!("{{\"path\":\"{turn}.txt\"}}"),
                }],
                finish_reason: "tool_calls".into(),
                reasoning: Vec::new(),
            },
            EventBody::Usage {
                provider: "scripted".into(),
                model: "scripted".into(),
                input_tokens: 1000,
                output_tokens: 20,
                cached_tokens: 800,
                cost_usd: 0.00114,
                duration_ms: 40,
                attempts: 1,
                masked_tokens_saved: 0,
                price_known: true,
                ttft_ms: None,
                route: None,
                reasoning_tokens: 0,
                failover: Vec::new(),
            },
            EventBody::ToolCall {
                call_id: call_id.clone(),
                tool: "read_file".into(),
                arguments: json!({"path": format!("{turn}.txt")}),
                read_only: true,
                sandbox: None,
            },
            EventBody::ToolResult {
                call_id,
                tool: "read_file".into(),
                success: true,
                content: format!("contents of file {turn}\n"),
                duration_ms: 3,
                truncated_bytes: 0,
                stripped_chars: 0,
                exit_code: None,
                approval_wait_ms: None,
            },
            EventBody::MessageAssistant {
                text: Some(format!("File {turn} is fine.")),
                tool_calls: vec![],
                finish_reason: "stop".into(),
                reasoning: Vec::new(),
            },
            EventBody::AgentStatus {
                status: AgentStatus::Idle,
                reason: None,
                code: None,
            },
        ];
        // Whole turns only: the log ends at rest (idle), as a real one would.
        for body in bodies {
            seq += 1;
            out.push(event(agent, seq, body));
        }
    }
    out
}

/// A usage event of the scripted model serving a call for `openai/gpt-5`
/// after failover: `reasoning_tokens` of its 200 output tokens reasoned.
fn served_by_failover(reasoning_tokens: u64, why: SkipReason, message: &str) -> EventBody {
    EventBody::Usage {
        provider: "scripted".into(),
        model: "scripted".into(),
        input_tokens: 1000,
        output_tokens: 200,
        cached_tokens: 400,
        cost_usd: 0.0012,
        duration_ms: 850,
        attempts: 1,
        masked_tokens_saved: 0,
        price_known: true,
        ttft_ms: Some(300),
        route: None,
        reasoning_tokens,
        failover: vec![SkippedTarget {
            provider: "openai".into(),
            model: "gpt-5".into(),
            why,
            message: message.into(),
        }],
    }
}

/// `thinker`'s log (after `agent.created`): two turns over the Responses
/// API with reasoning summaries; the first served by the scripted model
/// after `openai` failed, the second with `openai` passed over (circuit
/// open).
fn thinker_log(agent: &str) -> Vec<Event> {
    let thinking = || EventBody::AgentStatus {
        status: AgentStatus::Thinking,
        reason: None,
        code: None,
    };
    let idle = || EventBody::AgentStatus {
        status: AgentStatus::Idle,
        reason: None,
        code: None,
    };
    let bodies = vec![
        EventBody::MessageUser {
            text: "Why is the build red?".into(),
        },
        thinking(),
        EventBody::Error {
            code: ErrorCode::ModelFailover,
            message:
                "provider `openai` (model `gpt-5`) failed (connection refused); the call goes \
                      to provider `scripted` (model `scripted`) (text streamed so far is discarded)"
                    .into(),
            recoverable: true,
            attempt: None,
            max_attempts: None,
            retry_in_ms: None,
        },
        EventBody::MessageAssistant {
            text: Some("The build is red because the colour test expects blue.".into()),
            tool_calls: vec![],
            finish_reason: "stop".into(),
            reasoning: vec![ReasoningItem {
                id: "rs_1".into(),
                summary: vec![
                    "Reading the CI log: the failing step is the colour test.".into(),
                    "It asserts COLOR=blue, while .env still says red.".into(),
                ],
                encrypted_content: Some("gAAAAB-opaque".into()),
            }],
        },
        served_by_failover(150, SkipReason::Failed, "connection refused"),
        idle(),
        EventBody::MessageUser {
            text: "And the fix?".into(),
        },
        thinking(),
        EventBody::MessageAssistant {
            text: Some("Change .env to COLOR=blue.".into()),
            tool_calls: vec![],
            finish_reason: "stop".into(),
            reasoning: vec![ReasoningItem {
                id: "rs_2".into(),
                summary: vec!["One line in .env is enough.".into()],
                encrypted_content: Some("gAAAAB-opaque-2".into()),
            }],
        },
        served_by_failover(
            40,
            SkipReason::CircuitOpen,
            "its circuit is open after 1 failed calls in a row; it is tried again in 9000 ms",
        ),
        idle(),
    ];
    bodies
        .into_iter()
        .zip(2..)
        .map(|(body, seq)| event(agent, seq, body))
        .collect()
}

/// Writes the agents through Paddock's own store, as a host would have;
/// returns the ids of the big one and of `thinker`.
async fn seed(data_dir: &Path, ws: &Path) -> (String, String) {
    let store = Store::open_configured(None, data_dir)
        .await
        .expect("open the store");
    let mut big = String::new();
    let mut thinker = String::new();
    for i in 0..AGENTS {
        let id = uuid::Uuid::new_v4().to_string();
        let name = match i {
            0 => "big-log".to_string(),
            1 => "thinker".to_string(),
            _ => format!("fleet-{i:03}"),
        };
        let mut config = config_for(ws, &name);
        if i == 1 {
            config = serde_json::from_value(json!({
                "name": name,
                "model": {"provider": "openai", "model": "gpt-5"},
                "workspace": ws,
                "reasoning_effort": "high",
            }))
            .expect("an agent configuration");
        }
        let first = event(
            &id,
            1,
            EventBody::AgentCreated {
                config: Box::new(config.clone()),
            },
        );
        let new = NewAgent {
            id: id.clone(),
            name,
            config,
            created_at: Utc::now(),
            lease: None,
        };
        store
            .create_agent(&new, &first)
            .await
            .expect("create an agent");
        if i == 0 {
            for chunk in big_log(&id, BIG_EVENTS).chunks(1000) {
                store.append_batch(chunk).await.expect("append events");
            }
            big = id;
        } else if i == 1 {
            store
                .append_batch(&thinker_log(&id))
                .await
                .expect("append events");
            thinker = id;
        }
    }
    store.close().await;
    (big, thinker)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_in_chromium() {
    let root = common::repo_root();
    let dist = root.join("dashboard/dist/index.html");
    assert!(
        dist.is_file(),
        "{} is missing: build the dashboard first (`make test` does: npm --prefix dashboard run build)",
        dist.display()
    );
    let model = common::scripted::model(&script()).await;
    let data = common::data_tempdir("paddock-dashboard-");
    let ws = tempfile::tempdir().expect("a workspace");
    std::fs::write(ws.path().join(".env"), "COLOR=red\n").expect("write .env");
    std::fs::write(ws.path().join("README.md"), "# demo\n").expect("write README");
    // A large context window: the burst turn's thousand tool results must
    // reach the model unmasked.
    let config = data.path().join("paddock.toml");
    std::fs::write(
        &config,
        format!(
            "[[providers]]\nname = \"scripted\"\nbase_url = \"{}\"\ninitial_backoff_ms = 20\n\
             [[providers.models]]\nname = \"scripted\"\ncontext_window = 10000000\n\
             input_per_mtok = 1.0\noutput_per_mtok = 2.0\ncached_input_per_mtok = 0.5\n{RESPONSES_PROVIDER}",
            model.base_url()
        ),
    )
    .expect("write paddock.toml");
    let (big, thinker) = seed(data.path(), ws.path()).await;

    let target = paddock_bin()
        .parent()
        .and_then(|p| p.parent())
        .map(Path::to_path_buf)
        .expect("the target dir");
    let artifacts = target.join("dashboard-e2e");
    let _ = std::fs::remove_dir_all(&artifacts);
    std::fs::create_dir_all(&artifacts).expect("create the artefacts dir");

    let _one_browser = CHROMIUM.lock().await;
    let out = tokio::process::Command::new("node")
        .arg(root.join("tests/dashboard/e2e.mjs"))
        .env("PADDOCK_BIN", paddock_bin())
        .env("PADDOCK_CACHE_DIR", shared_cache_dir())
        .env("PADDOCK_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("PADDOCK_TOKEN", common::USER_TOKEN)
        .env("E2E_DATA_DIR", data.path())
        .env("E2E_CONFIG", &config)
        .env("E2E_WORKSPACE", ws.path())
        .env("E2E_BIG_AGENT", &big)
        .env("E2E_THINKER", &thinker)
        .env("E2E_BIG_EVENTS", BIG_EVENTS.to_string())
        .env("E2E_AGENTS", AGENTS.to_string())
        .env("E2E_BURST_CALLS", BURST_CALLS.to_string())
        .env("E2E_ARTIFACTS", &artifacts)
        .env("E2E_TEST_PLUGINS", test_plugins_dir())
        .env("E2E_MCP_TIME", mcp_servers::mcp_server_time())
        .kill_on_drop(true)
        .status()
        .await
        .expect("run node tests/dashboard/e2e.mjs (Node.js is needed)");
    assert!(
        out.success(),
        "the dashboard's end-to-end tests failed (their output is above; screenshots in {})",
        artifacts.display()
    );
    drop(model);
}

/// The first day's scripted model: the first agent fixes `add()` in a plain
/// directory (an edit, then a command), then answers slowly enough for the
/// browser to reload in the middle of it.
fn first_day_script() -> String {
    let rest = (1..=40)
        .map(|i| format!("detail{i}"))
        .collect::<Vec<_>>()
        .join(" ");
    json!({
        "model": "scripted",
        "scenarios": [
            {"name": "first-day", "match": "first-day", "turns": [
                {"text": "I will fix add() first: it subtracts.", "tokens_per_second": 20,
                 "tool_calls": [{"name": "edit_file", "arguments":
                    {"path": "calc.py", "old_string": "return a - b", "new_string": "return a + b"}}]},
                {"text": "Now I check the file.",
                 "tool_calls": [{"name": "execute_bash", "arguments": {"command": "grep -n 'return' calc.py"}}]},
                {"text": format!("All done. add() now returns a + b, and grep shows the line. {rest}"),
                 "tokens_per_second": 6}
            ]}
        ]
    })
    .to_string()
}

/// Every file under `dir` (recursively) whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(bytes) = std::fs::read(&p)
                && bytes.windows(needle.len()).any(|w| w == needle)
            {
                found.push(p.display().to_string());
            }
        }
    }
    found
}

/// The first day from an empty data dir, through the dashboard alone
/// (`tests/dashboard/first-day.mjs`); then the key typed into the setup is
/// absent from every file of the data dir (database, WAL, logs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_day_in_chromium() {
    let root = common::repo_root();
    assert!(
        root.join("dashboard/dist/index.html").is_file(),
        "build the dashboard first (`make test` does)"
    );
    let model = common::scripted::model(&first_day_script()).await;
    let data = common::data_tempdir("paddock-first-day-");
    let dir = tempfile::tempdir().expect("a directory");
    std::fs::write(
        dir.path().join("calc.py"),
        "def add(a, b):\n    return a - b\n",
    )
    .expect("write calc.py");
    let key = format!("sk-first-day-{}", uuid::Uuid::new_v4().simple());
    let target = paddock_bin()
        .parent()
        .and_then(|p| p.parent())
        .map(Path::to_path_buf)
        .expect("the target dir");
    let artifacts = target.join("first-day-e2e");
    let _ = std::fs::remove_dir_all(&artifacts);
    std::fs::create_dir_all(&artifacts).expect("create the artefacts dir");
    let _one_browser = CHROMIUM.lock().await;
    let out = tokio::process::Command::new("node")
        .arg(root.join("tests/dashboard/first-day.mjs"))
        .env("PADDOCK_BIN", paddock_bin())
        .env("PADDOCK_CACHE_DIR", shared_cache_dir())
        .env("E2E_DATA_DIR", data.path())
        .env("E2E_DIRECTORY", dir.path())
        .env("E2E_WORKSPACE_ROOT", std::env::temp_dir())
        .env("E2E_MODEL_URL", model.base_url())
        .env("E2E_PROVIDER_KEY", &key)
        .env("E2E_ARTIFACTS", &artifacts)
        .env("E2E_README_SHOTS", root.join("docs/screenshots"))
        .kill_on_drop(true)
        .status()
        .await
        .expect("run node tests/dashboard/first-day.mjs (Node.js is needed)");
    assert!(
        out.success(),
        "the first-day steps failed (their output is above; screenshots in {})",
        artifacts.display()
    );
    let leaks = files_containing(data.path(), key.as_bytes());
    assert!(
        leaks.is_empty(),
        "the provider key is in clear in {leaks:?}"
    );
    drop(model);
}

/// The team in Chromium (`tests/dashboard/team.mjs`): people made through
/// the API with the admin service token, then the dashboard as each of
/// them — password sign-in, the CSRF header (and a request without it
/// refused), sign-out ending the session, an admin's Users and Groups
/// screens, a token shown once, sharing an agent, a member who sees neither
/// the admin screens nor another member's agent, a viewer's controls off.
/// Screenshots in `target/team-e2e/`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn team_in_chromium() {
    let root = common::repo_root();
    assert!(
        root.join("dashboard/dist/index.html").is_file(),
        "build the dashboard first (`make test` does)"
    );
    let model = common::scripted::model(&first_day_script()).await;
    let data = common::data_tempdir("paddock-team-");
    let ws = tempfile::tempdir().expect("a workspace");
    std::fs::write(ws.path().join("README.md"), "# team\n").expect("write README");
    let config = data.path().join("paddock.toml");
    std::fs::write(
        &config,
        format!(
            "[[providers]]\nname = \"scripted\"\nbase_url = \"{}\"\n\
             [[providers.models]]\nname = \"scripted\"\n",
            model.base_url()
        ),
    )
    .expect("write paddock.toml");
    let target = paddock_bin()
        .parent()
        .and_then(|p| p.parent())
        .map(Path::to_path_buf)
        .expect("the target dir");
    let artifacts = target.join("team-e2e");
    let _ = std::fs::remove_dir_all(&artifacts);
    std::fs::create_dir_all(&artifacts).expect("create the artefacts dir");
    let _one_browser = CHROMIUM.lock().await;
    let out = tokio::process::Command::new("node")
        .arg(root.join("tests/dashboard/team.mjs"))
        .env("PADDOCK_BIN", paddock_bin())
        .env("PADDOCK_CACHE_DIR", shared_cache_dir())
        .env("PADDOCK_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("PADDOCK_TOKEN", common::USER_TOKEN)
        .env("E2E_DATA_DIR", data.path())
        .env("E2E_CONFIG", &config)
        .env("E2E_WORKSPACE", ws.path())
        .env("E2E_ARTIFACTS", &artifacts)
        .kill_on_drop(true)
        .status()
        .await
        .expect("run node tests/dashboard/team.mjs (Node.js is needed)");
    assert!(
        out.success(),
        "the team steps failed (their output is above; screenshots in {})",
        artifacts.display()
    );
    drop(model);
}

/// The hosts' scripted model: a task starting `slow` answers for about a
/// minute (its agent stays at work), any other says hello.
fn hosts_script() -> String {
    let long = (1..=120)
        .map(|i| format!("step{i}"))
        .collect::<Vec<_>>()
        .join(" ");
    json!({
        "model": "scripted",
        "scenarios": [
            {"name": "slow", "match": "^slow", "turns": [
                {"text": format!("Working through it: {long}"), "tokens_per_second": 2}
            ]},
            {"name": "hello", "turns": [{"text": "Hello from the scripted model."}]}
        ]
    })
    .to_string()
}

/// A lease of 4 s in the hosts test: a killed host shows unreachable after
/// about 4 s and its agents move soon after.
const HOSTS_LEASE_SECS: u64 = 4;

/// The Hosts screen in Chromium (`tests/dashboard/hosts.mjs`): two hosts on
/// a throwaway PostgreSQL database with six agents over them, both listed
/// with their state, load, heartbeat, address and agents; one killed with
/// `kill -9` turns unreachable while its agents move to the other; a
/// SQLite host shows the single-host state. Screenshots in
/// `target/hosts-e2e/`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_in_chromium() {
    let root = common::repo_root();
    assert!(
        root.join("dashboard/dist/index.html").is_file(),
        "build the dashboard first (`make test` does)"
    );
    let db = common::postgres::PgDb::create("dashboard_hosts").await;
    let model = common::scripted::model(&hosts_script()).await;
    let a = common::data_tempdir("paddock-hosts-a-");
    let b = common::data_tempdir("paddock-hosts-b-");
    let single = common::data_tempdir("paddock-hosts-single-");
    let ws = tempfile::tempdir().expect("a workspace");
    std::fs::write(ws.path().join("README.md"), "# hosts\n").expect("write README");
    // One configuration for both hosts, as in production; each has its own
    // data dir, id and address (from the environment).
    let conf = tempfile::tempdir().expect("a directory for the configurations");
    let providers = format!(
        "[[providers]]\nname = \"scripted\"\nbase_url = \"{}\"\n\
         [[providers.models]]\nname = \"scripted\"\n",
        model.base_url()
    );
    let cluster_config = conf.path().join("cluster.toml");
    std::fs::write(
        &cluster_config,
        format!("{providers}[cluster]\nlease_secs = {HOSTS_LEASE_SECS}\ncapacity = 20\n"),
    )
    .expect("write the cluster's paddock.toml");
    let single_config = conf.path().join("single.toml");
    std::fs::write(&single_config, &providers).expect("write the single host's paddock.toml");
    let target = paddock_bin()
        .parent()
        .and_then(|p| p.parent())
        .map(Path::to_path_buf)
        .expect("the target dir");
    let artifacts = target.join("hosts-e2e");
    let _ = std::fs::remove_dir_all(&artifacts);
    std::fs::create_dir_all(&artifacts).expect("create the artefacts dir");
    let _one_browser = CHROMIUM.lock().await;
    let out = tokio::process::Command::new("node")
        .arg(root.join("tests/dashboard/hosts.mjs"))
        .env("PADDOCK_BIN", paddock_bin())
        .env("PADDOCK_CACHE_DIR", shared_cache_dir())
        .env("PADDOCK_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("PADDOCK_TOKEN", common::USER_TOKEN)
        .env("E2E_DATABASE_URL", &db.url)
        .env(
            "E2E_MASTER_KEY",
            "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
        )
        .env("E2E_LEASE_SECS", HOSTS_LEASE_SECS.to_string())
        .env("E2E_DATA_A", a.path())
        .env("E2E_DATA_B", b.path())
        .env("E2E_DATA_SINGLE", single.path())
        .env("E2E_CLUSTER_CONFIG", &cluster_config)
        .env("E2E_SINGLE_CONFIG", &single_config)
        .env("E2E_WORKSPACE", ws.path())
        .env("E2E_ARTIFACTS", &artifacts)
        .kill_on_drop(true)
        .status()
        .await
        .expect("run node tests/dashboard/hosts.mjs (Node.js is needed)");
    assert!(
        out.success(),
        "the hosts steps failed (their output is above; screenshots in {})",
        artifacts.display()
    );
    drop(model);
    drop(db);
}
