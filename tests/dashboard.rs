//! The dashboard end to end, in real Chromium: this test prepares the world
//! (a scripted model, a workspace, and a data dir holding 200 agents, one
//! of them with a 10,000-event log, written through Paddock's own store),
//! then runs `tests/dashboard/e2e.mjs`, which starts and restarts the real
//! `paddock serve` and drives Debian's Chromium through playwright-core.
//! Screenshots land in `target/dashboard-e2e/`.

use crate::common;

use chrono::Utc;
use common::{ADMIN_TOKEN, mcp_servers, paddock_bin, shared_cache_dir, test_plugins_dir};
use paddock_core::agent::AgentConfig;
use paddock_llm::ToolCallRequest;
use paddock_protocol::events::{AgentStatus, Event, EventBody};
use paddock_store::{NewAgent, Store};
use serde_json::json;
use std::path::Path;

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
            {"name": "burst", "match": "make a burst", "turns": [
                {"tool_calls": burst},
                {"text": "Burst done."}
            ]},
            {"name": "hello", "turns": [{"text": "Hello from the scripted model."}]}
        ]
    })
    .to_string()
}

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

/// Writes the agents through Paddock's own store, as a host would have.
async fn seed(data_dir: &Path, ws: &Path) -> String {
    let store = Store::open_configured(None, data_dir)
        .await
        .expect("open the store");
    let mut big = String::new();
    for i in 0..AGENTS {
        let id = uuid::Uuid::new_v4().to_string();
        let name = if i == 0 {
            "big-log".to_string()
        } else {
            format!("fleet-{i:03}")
        };
        let config = config_for(ws, &name);
        let first = event(
            &id,
            1,
            EventBody::AgentCreated {
                config: config.clone(),
            },
        );
        let new = NewAgent {
            id: id.clone(),
            name,
            config,
            created_at: Utc::now(),
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
        }
    }
    store.close().await;
    big
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
             input_per_mtok = 1.0\noutput_per_mtok = 2.0\ncached_input_per_mtok = 0.5\n",
            model.base_url()
        ),
    )
    .expect("write paddock.toml");
    let big = seed(data.path(), ws.path()).await;

    let target = paddock_bin()
        .parent()
        .and_then(|p| p.parent())
        .map(Path::to_path_buf)
        .expect("the target dir");
    let artifacts = target.join("dashboard-e2e");
    let _ = std::fs::remove_dir_all(&artifacts);
    std::fs::create_dir_all(&artifacts).expect("create the artefacts dir");

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
