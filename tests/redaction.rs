//! End-to-end: secrets that stream in pieces never go out, whole or split.
//! A model streams a secret value and a token in 1–3-character deltas (as
//! real providers stream), then a command prints them in three writes that
//! cut both; a WebSocket subscriber and the store (SQLite, PostgreSQL) see
//! only `[REDACTED]` — the deltas put together are exactly the stored,
//! redacted answer, the `tool.output` chunks exactly the redacted output.

use crate::common;

use common::postgres::PgDb;
use common::scripted::*;
use common::{Server, describe};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};

/// A secret value, given to the host in `agents.secret_env`.
const CANARY: &str = "CANARYq7Zp3xW9vK2mT8";
/// A token shape.
const TOKEN: &str = "ghp_abcdefghijklmnopqrstuvwxyz0123456789";
/// Pieces of either secret that must never be seen anywhere (the cuts of
/// the command's writes fall between them).
const FRAGMENTS: &[&str] = &[
    "CANA",
    "RYq7",
    "Zp3x",
    "W9vK",
    "2mT8",
    "ghp_abc",
    "klmno",
    "pqrst",
    "0123456789",
];

/// The answer the model streams, in 1–3-character deltas.
fn answer() -> String {
    format!("The key is {CANARY} and the token {TOKEN}, as asked. Printing them now.")
}

/// The command: the secrets file in three writes, a second apart, cut
/// inside the value and inside the token.
const COMMAND: &str = "cut -c1-10 s.txt | tr -d '\\n'; sleep 1; cut -c11-40 s.txt | tr -d '\\n'; sleep 1; cut -c41- s.txt";

async fn start(env: &[(&str, &str)]) -> Setup {
    let script = format!(
        r#"
turns:
  - text: "Ready."
  - text: "{}"
    delta_chars: [1, 3]
    tool_calls: [{{name: execute_bash, arguments: {{command: "{}"}}}}]
  - text: "Done."
"#,
        answer(),
        COMMAND.replace('\\', "\\\\").replace('"', "\\\"")
    );
    let mut all_env = vec![("PADDOCK_TEST_CANARY", CANARY)];
    all_env.extend_from_slice(env);
    let s = setup(
        &script,
        "[agents]\nsecret_env = [\"PADDOCK_TEST_CANARY\"]\n[sandbox]\nbackend = \"bwrap\"\n",
        &all_env,
    )
    .await;
    std::fs::write(
        s.workspace.path().join("s.txt"),
        format!("{CANARY} {TOKEN}\n"),
    )
    .unwrap();
    s
}

/// One WebSocket subscription to one agent: the one place the tests here
/// speak the WebSocket protocol.
struct Subscriber {
    ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    agent: String,
    /// Every event received, deltas included.
    events: Vec<Event>,
}

impl Subscriber {
    /// Subscribes to `agent`'s events after seq `after`; returns once the
    /// subscription is in place, so no delta that follows is missed.
    async fn open(server: &Server, agent: &str, after: u64) -> Subscriber {
        let (ws, _) = tokio_tungstenite::connect_async(server.ws_url())
            .await
            .unwrap();
        let mut sub = Subscriber {
            ws,
            agent: agent.to_string(),
            events: Vec::new(),
        };
        sub.send(json!({"op": "subscribe", "after": after})).await;
        loop {
            let v = sub.frame().await;
            if v["op"] == "subscribed" {
                return sub;
            }
        }
    }

    /// Sends an operation on the agent (`agent_id` is added).
    async fn send(&mut self, mut op: Value) {
        use tokio_tungstenite::tungstenite::Message;
        op["agent_id"] = json!(self.agent);
        self.ws.send(Message::text(op.to_string())).await.unwrap();
    }

    /// The next frame; an error or a lag notice fails the test.
    async fn frame(&mut self) -> Value {
        use tokio_tungstenite::tungstenite::Message;
        loop {
            let msg = tokio::time::timeout(DEADLINE, self.ws.next())
                .await
                .unwrap_or_else(|_| panic!("nothing in time after: {}", summary(&self.events)))
                .expect("the socket stays open")
                .unwrap();
            if let Message::Text(frame) = msg {
                let v: Value = serde_json::from_str(&frame).unwrap();
                assert!(v["op"] != "error" && v["op"] != "lagged", "{v}");
                return v;
            }
        }
    }

    /// The next event (kept in `events`).
    async fn event(&mut self) -> Event {
        loop {
            let v = self.frame().await;
            if v["op"] == "event" {
                let e = event(&v["event"]);
                self.events.push(e.clone());
                return e;
            }
        }
    }

    /// Reads events until the agent is idle after a final answer (one
    /// without tool calls, or an interrupted one).
    async fn until_answered(&mut self) {
        let mut answered = false;
        loop {
            match self.event().await.body {
                EventBody::MessageAssistant { tool_calls, .. } if tool_calls.is_empty() => {
                    answered = true;
                }
                EventBody::AgentStatus {
                    status: AgentStatus::Idle,
                    ..
                } if answered => return,
                _ => {}
            }
        }
    }
}

/// Creates an agent on `task`, waits until it has answered, and subscribes
/// to what follows.
async fn ready_agent(s: &Setup) -> (String, Subscriber) {
    let id = s
        .create_with("get ready", json!({"approval_mode": "auto"}))
        .await;
    let before = s.wait_status(&id, 0, &["idle", "error"]).await;
    assert_eq!(last_text(&before), "Ready.", "{}", summary(&before));
    let after = before.last().unwrap().seq;
    let sub = Subscriber::open(&s.server, &id, after).await;
    (id, sub)
}

/// The `data.text` of the deltas, in order.
fn deltas(evs: &[Event]) -> Vec<String> {
    matching!(evs, EventBody::MessageDelta { text } => text.clone())
}

/// The `tool.output` chunks of one stream, in order.
fn output_chunks(evs: &[Event], stream: &str) -> Vec<String> {
    matching!(evs, EventBody::ToolOutput { stream: s, chunk, .. } if s == stream => chunk.clone())
}

/// Fails naming where a secret, or a piece of one, was found, and what
/// surrounds it.
fn assert_no_secret(what: &str, text: &str) {
    for piece in [CANARY, TOKEN].iter().chain(FRAGMENTS) {
        if let Some(at) = text.find(piece) {
            let from = (0..=at.saturating_sub(80))
                .rev()
                .find(|&i| text.is_char_boundary(i))
                .unwrap_or(0);
            let around: String = text[from..].chars().take(200).collect();
            panic!("{what} holds `{piece}`, here: {around:?}");
        }
    }
}

/// Runs the conversation; checks what the subscriber saw and what the
/// API reads from the store; returns the stored events.
async fn secrets_stream_redacted(s: &Setup) -> Vec<Event> {
    let (id, mut sub) = ready_agent(s).await;
    sub.send(json!({"op": "message", "text": "print the secrets"}))
        .await;
    sub.until_answered().await;
    let live = sub.events;
    let stored = s.events(&id).await;

    // The model really streamed tiny deltas.
    let streamed = deltas(&live);
    assert!(
        streamed.len() >= answer().chars().count() / 4,
        "{} deltas: {streamed:?}",
        streamed.len()
    );
    // No delta holds a secret or a piece of one, and put together they are
    // exactly the stored (redacted) answer.
    for d in &streamed {
        assert_no_secret("a delta", d);
    }
    let answers = matching!(stored, EventBody::MessageAssistant { text, .. } => text.as_deref());
    let redacted_answer =
        "The key is [REDACTED] and the token [REDACTED], as asked. Printing them now.";
    assert_eq!(answers[1], Some(redacted_answer), "{}", summary(&stored));
    let joined: String = streamed.concat();
    assert_eq!(
        joined,
        format!("{redacted_answer}Done."),
        "deltas: {streamed:?}"
    );

    // The command ran and printed in several writes…
    let result = matching!(stored, EventBody::ToolResult { .. });
    assert_eq!(result.len(), 1, "{}", summary(&stored));
    assert!(
        matches!(result[0].body, EventBody::ToolResult { success: true, .. }),
        "{:?}",
        result[0]
    );
    // …and neither the subscriber nor the store has a piece of a secret:
    // the chunks put together are the redacted output.
    for (what, evs) in [("live", &live), ("stored", &stored)] {
        let chunks = output_chunks(evs, "stdout");
        for c in &chunks {
            assert_no_secret(&format!("a {what} tool.output chunk"), c);
        }
        assert_eq!(
            chunks.concat(),
            "[REDACTED] [REDACTED]\n",
            "{what} chunks: {chunks:?}"
        );
    }
    assert_no_secret("the events", &serde_json::to_string(&stored).unwrap());
    assert_no_secret(
        "what the model was sent after the command",
        &serde_json::to_string(&s.model.requests().last()).unwrap(),
    );
    stored
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_split_across_deltas_and_writes_never_go_out_sqlite() {
    let s = start(&[]).await;
    secrets_stream_redacted(&s).await;
    // Nor are they in the database files.
    for entry in std::fs::read_dir(s.paddock.data_dir()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name.starts_with("paddock.db") {
            let bytes = std::fs::read(&path).unwrap();
            assert_no_secret(&name, &String::from_utf8_lossy(&bytes));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_split_across_deltas_and_writes_never_go_out_postgres() {
    let db = PgDb::create("paddock_redaction_test").await;
    let s = start(&[("PADDOCK_DATABASE_URL", &db.url)]).await;
    let stored = secrets_stream_redacted(&s).await;
    // The events are in PostgreSQL, not in a SQLite file…
    assert!(
        !s.paddock.data_dir().join("paddock.db").exists(),
        "{}",
        describe_dir(&s)
    );
    let dump = db.dump().await;
    assert!(
        !matching!(stored, EventBody::ToolOutput { .. }).is_empty() && dump.contains("tool.output"),
        "{dump}"
    );
    // …and nothing there holds a secret or a piece of one.
    assert_no_secret("the PostgreSQL database", &dump);
}

fn describe_dir(s: &Setup) -> String {
    let out = std::process::Command::new("ls")
        .arg("-la")
        .arg(s.paddock.data_dir())
        .output()
        .unwrap();
    describe(&out)
}

/// The deltas' text after the last event matching `mark` (all of them
/// when none does), and before it.
fn deltas_around(evs: &[Event], mark: impl Fn(&Event) -> bool) -> (String, String) {
    let cut = evs.iter().rposition(mark).map_or(0, |i| i + 1);
    (deltas(&evs[..cut]).concat(), deltas(&evs[cut..]).concat())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_answer_never_shows_the_piece_of_a_secret_it_was_cut_in() {
    // The first attempt is cut after "The key is CANA" (the role chunk,
    // then one chunk per character); the second streams it all.
    let s = setup(
        &format!(
            r#"
turns:
  - text: "Ready."
  - text: "The key is {CANARY}, here."
    delta_chars: 1
    fault: {{type: cut, at_chunk: 16, times: 1}}
"#
        ),
        "[agents]\nsecret_env = [\"PADDOCK_TEST_CANARY\"]\n",
        &[("PADDOCK_TEST_CANARY", CANARY)],
    )
    .await;
    let (id, mut sub) = ready_agent(&s).await;
    sub.send(json!({"op": "message", "text": "tell me"})).await;
    sub.until_answered().await;
    let (cut, retried) = deltas_around(
        &sub.events,
        |e| matches!(&e.body, EventBody::Error { code, .. } if *code == paddock_protocol::events::ErrorCode::ModelRetry),
    );
    // The cut attempt's text went out up to where a secret may begin; the
    // piece of the secret it held back was dropped with the attempt.
    assert_eq!(cut, "The key is ", "{}", summary(&sub.events));
    assert_no_secret("the cut attempt's deltas", &cut);
    let stored = s.events(&id).await;
    assert_eq!(last_text(&stored), "The key is [REDACTED], here.");
    assert_eq!(retried, last_text(&stored));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupt_lets_out_what_was_held_back_redacted() {
    let token = format!("sk-proj-{}", "a1B2c3D4e5".repeat(20));
    let s = setup(
        &format!(
            r#"
turns:
  - text: "Ready."
  - text: "The token: {token} and more."
    delta_chars: 1
    tokens_per_second: 40
"#
        ),
        "",
        &[],
    )
    .await;
    let (id, mut sub) = ready_agent(&s).await;
    sub.send(json!({"op": "message", "text": "tell me slowly"}))
        .await;
    // Once the token has begun, wait a second (40 more characters of it,
    // held back), then interrupt.
    while !deltas(&sub.events).concat().ends_with("The token: ") {
        sub.event().await;
    }
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    sub.send(json!({"op": "interrupt"})).await;
    sub.until_answered().await;
    let stored = s.events(&id).await;
    let answers = matching!(stored, EventBody::MessageAssistant { text, finish_reason, .. }
        => (text.as_deref(), finish_reason.as_str()));
    let partial = answers.last().unwrap();
    assert_eq!(partial.1, "interrupted", "{partial:?}");
    // What was held back went out at the interrupt, redacted: the deltas
    // are exactly the stored partial answer.
    assert_eq!(
        partial.0,
        Some("The token: [REDACTED]"),
        "{}",
        summary(&stored)
    );
    assert_eq!(deltas(&sub.events).concat(), "The token: [REDACTED]");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_printed_in_writes_that_cut_a_character_is_redacted_whole() {
    // Two writes, the first ending inside the `ä` (0xC3 | 0xA4).
    let secret = "pässwörd-Zürich-42";
    let s = setup(
        r#"
turns:
  - text: "Ready."
  - tool_calls: [{name: execute_bash, arguments: {command: "head -c 2 p.txt; sleep 1; tail -c +3 p.txt"}}]
  - text: "Done."
"#,
        "[agents]\nsecret_env = [\"PADDOCK_TEST_PASS\"]\n[sandbox]\nbackend = \"bwrap\"\n",
        &[("PADDOCK_TEST_PASS", secret)],
    )
    .await;
    std::fs::write(s.workspace.path().join("p.txt"), format!("{secret}\n")).unwrap();
    let (id, mut sub) = ready_agent(&s).await;
    sub.send(json!({"op": "message", "text": "print it"})).await;
    sub.until_answered().await;
    let stored = s.events(&id).await;
    for (what, evs) in [("live", &sub.events), ("stored", &stored)] {
        let chunks = output_chunks(evs, "stdout");
        assert_eq!(chunks.concat(), "[REDACTED]\n", "{what} chunks: {chunks:?}");
    }
    let all = serde_json::to_string(&stored).unwrap();
    assert!(
        !all.contains("sswörd") && !all.contains('\u{FFFD}'),
        "{all}"
    );
}
