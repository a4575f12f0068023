//! The store's tests: every case runs against a real SQLite file and a real,
//! throwaway PostgreSQL database (`PADDOCK_TEST_POSTGRES_URL`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`, names the server; the
//! tests fail when it is unreachable).

use super::*;
use paddock_protocol::agent::AgentLimits;
use paddock_protocol::agent::ModelRef;
use paddock_protocol::llm::ToolCallRequest;
use serde_json::json;
use sqlx::migrate::MigrateDatabase;
use std::future::Future;
use std::path::PathBuf;

/// A database for one test: a SQLite file in a temp dir, or a PostgreSQL
/// database created for the test and dropped (even on panic) afterwards.
struct TestDb {
    url: String,
    _dir: Option<tempfile::TempDir>,
    drop_pg: bool,
}

impl TestDb {
    fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("data/paddock.db").display());
        std::fs::create_dir_all(dir.path().join("data")).unwrap();
        TestDb {
            url,
            _dir: Some(dir),
            drop_pg: false,
        }
    }

    async fn postgres() -> TestDb {
        let admin = std::env::var("PADDOCK_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let mut url = reqwest::Url::parse(&admin).unwrap();
        let name = format!(
            "paddock_test_{}_{:016x}",
            std::process::id(),
            rand::random::<u64>()
        );
        url.set_path(&format!("/{name}"));
        let url = url.to_string();
        sqlx::any::install_default_drivers();
        if let Err(e) = sqlx::Any::create_database(&url).await {
            panic!(
                "PostgreSQL at {admin} is unreachable or refused to create a test database \
                 ({e}); the store tests run against both SQLite and PostgreSQL — start \
                 PostgreSQL or point PADDOCK_TEST_POSTGRES_URL at one"
            );
        }
        TestDb {
            url,
            _dir: None,
            drop_pg: true,
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if !self.drop_pg {
            return;
        }
        let url = self.url.clone();
        // Best effort, on a runtime of its own (this may run while a test
        // panics, inside or outside the test's runtime).
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                let _ = rt.block_on(sqlx::Any::force_drop_database(&url));
            }
        })
        .join();
    }
}

pub(crate) async fn on_sqlite<F, Fut>(case: F)
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = ()>,
{
    let db = TestDb::sqlite();
    case(db.url.clone()).await;
}

pub(crate) async fn on_postgres<F, Fut>(case: F)
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = ()>,
{
    let db = TestDb::postgres().await;
    case(db.url.clone()).await;
}

/// Runs the case `async fn NAME(url: String)` as `NAME::sqlite` and
/// `NAME::postgres`.
macro_rules! both_backends {
    ($($case:ident),* $(,)?) => {$(
        mod $case {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                super::on_sqlite(super::$case).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                super::on_postgres(super::$case).await;
            }
        }
    )*};
}

both_backends!(
    users_groups_tokens_and_shares,
    secrets_providers_and_settings,
    every_event_kind_round_trips,
    seq_must_be_gapless,
    racing_appends_exactly_one_wins,
    batch_is_all_or_nothing,
    events_after_pages,
    denormalised_status_usage_and_last_seq,
    delete_keeps_history_and_purge_removes_it,
    docs_crud,
    reopening_sees_everything,
    concurrent_appends_to_many_agents,
    corrupt_rows_are_reported,
    survives_kill_9,
    approvals_are_decided_once_and_the_audit_only_grows,
    policy_rules_keep_their_order,
    usage_between_reads_a_time_range,
    usage_of_owners_and_owned_secrets,
);

fn asked(agent: &str, seq: u64, call: &str) -> (Event, NewApproval) {
    let body = EventBody::ApprovalRequested {
        call_id: call.into(),
        tool: "write_file".into(),
        arguments: json!({"path": ".env"}),
        level: paddock_protocol::policy::RiskLevel::Medium,
        reasons: vec![],
        diff: None,
        remember: paddock_protocol::events::RememberRules {
            agent: "allow write_file(path=.env)".into(),
            always: "allow write_file(path=.env)".into(),
        },
        expires_at: None,
    };
    let request = body.data();
    (
        event(agent, seq, body),
        NewApproval {
            call_id: call.into(),
            tool: "write_file".into(),
            request,
            expires_at: None,
        },
    )
}

async fn approvals_are_decided_once_and_the_audit_only_grows(url: String) {
    let store = Store::open(&url).await.unwrap();
    create(&store, "p").await;
    create(&store, "q").await;
    let (e, a) = asked("p", 2, "c1");
    store.request_approval(&e, &a).await.unwrap();
    // A request at the wrong seq stores neither the event nor the approval.
    let (bad, bad_a) = asked("p", 9, "c9");
    assert!(matches!(
        store.request_approval(&bad, &bad_a).await,
        Err(StoreError::SeqConflict { .. })
    ));
    assert!(store.latest_approval("p", "c9").await.unwrap().is_none());
    let pending = store.pending_approvals(None).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!((pending[0].seq, pending[0].call_id.as_str()), (2, "c1"));
    assert_eq!(pending[0].status, ApprovalStatus::Pending);
    assert_eq!(
        pending[0].request["remember"]["agent"],
        "allow write_file(path=.env)"
    );
    assert!(store.pending_approvals(Some("q")).await.unwrap().is_empty());
    // Twelve deciders race: exactly one wins.
    let tasks: Vec<_> = (0..12)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let status = if i % 2 == 0 {
                    ApprovalStatus::Approved
                } else {
                    ApprovalStatus::Denied
                };
                let by = format!("client {i}");
                let r = store
                    .decide_approval(
                        "p",
                        "c1",
                        status,
                        &by,
                        Some("why"),
                        Some("agent"),
                        Utc::now(),
                    )
                    .await
                    .unwrap();
                (i, r)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for t in tasks {
        if let (i, Some(r)) = t.await.unwrap() {
            winners.push((i, r));
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    let (i, won) = &winners[0];
    assert_eq!(
        won.decided_by.as_deref(),
        Some(format!("client {i}").as_str())
    );
    assert_eq!(won.remember.as_deref(), Some("agent"));
    assert_eq!(
        store.latest_approval("p", "c1").await.unwrap().as_ref(),
        Some(won)
    );
    assert_eq!(store.approval("p", 2).await.unwrap().as_ref(), Some(won));
    assert!(store.pending_approvals(None).await.unwrap().is_empty());
    assert!(matches!(
        store
            .decide_approval(
                "p",
                "c1",
                ApprovalStatus::Pending,
                "x",
                None,
                None,
                Utc::now()
            )
            .await,
        Err(StoreError::Invalid(_))
    ));

    // The audit log: filters by agent, time and id; pages.
    let t0 = Utc::now();
    for (agent, action) in [("p", "ask"), ("q", "allow"), ("p", "approved")] {
        store
            .audit(&NewAudit {
                agent_id: agent.into(),
                call_id: Some("c1".into()),
                tool: Some("write_file".into()),
                kind: "decision".into(),
                action: action.into(),
                actor: "policy".into(),
                reason: "because".into(),
                detail: json!({"n": 1}),
                ..NewAudit::default()
            })
            .await
            .unwrap();
    }
    let all = store
        .audit_log(&AuditQuery {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 3);
    assert!(all.windows(2).all(|w| w[0].id < w[1].id));
    assert!(
        all.iter()
            .all(|e| e.ts >= t0 - chrono::Duration::seconds(1))
    );
    let p: Vec<String> = store
        .audit_log(&AuditQuery {
            agent: Some("p".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(p, ["ask", "approved"]);
    let page = store
        .audit_log(&AuditQuery {
            after_id: Some(all[0].id),
            limit: 1,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].id, all[1].id);
    let future = store
        .audit_log(&AuditQuery {
            since: Some(Utc::now() + chrono::Duration::hours(1)),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(future.is_empty());
    // Purging an agent removes its approvals, never the audit.
    store.purge_agent("p").await.unwrap();
    assert!(store.latest_approval("p", "c1").await.unwrap().is_none());
    assert_eq!(
        store
            .audit_log(&AuditQuery {
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap()
            .len(),
        3
    );
}

async fn policy_rules_keep_their_order(url: String) {
    use paddock_protocol::policy::{RuleSpec, Scope};
    let store = Store::open(&url).await.unwrap();
    let spec = |rule: &str, scope: Scope| RuleSpec {
        rule: rule.into(),
        scope,
        matches: vec![json!("git push")],
        not_matches: vec![json!({"command": "ls"})],
    };
    let a = store
        .add_rule(
            &spec("ask execute_bash(git push*)", Scope::Global),
            "api",
            "admin (REST)",
        )
        .await
        .unwrap();
    let b = store
        .add_rule(
            &spec("deny x", Scope::Agent("a1".into())),
            "approval",
            "user (WebSocket)",
        )
        .await
        .unwrap();
    let listed = store.list_rules().await.unwrap();
    assert_eq!(
        listed,
        vec![a.clone(), b.clone()]
            .into_iter()
            .map(|mut r| {
                // Times come back at the stored (nanosecond) precision.
                r.created_at = listed.iter().find(|l| l.id == r.id).unwrap().created_at;
                r
            })
            .collect::<Vec<_>>()
    );
    assert_eq!(listed[1].spec.scope, Scope::Agent("a1".into()));
    assert_eq!(listed[0].spec.not_matches, vec![json!({"command": "ls"})]);
    assert!(store.remove_rule(&a.id).await.unwrap());
    assert!(!store.remove_rule(&a.id).await.unwrap());
    let left = store.list_rules().await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].id, b.id);
}

fn config(name: &str) -> AgentConfig {
    AgentConfig {
        name: name.into(),
        system_prompt: "You are careful.".into(),
        model: ModelRef {
            provider: "scripted".into(),
            model: "m1".into(),
        },
        router: None,
        temperature: Some(0.25),
        max_tokens: Some(1000),
        reasoning_effort: None,
        verbosity: None,
        workspace: PathBuf::from("/tmp/ws"),
        workspace_id: None,
        tools: Some(vec!["read_file".into()]),
        mcp_servers: Vec::new(),
        network: Default::default(),
        environment: None,
        limits: AgentLimits::default(),
        template: Some("reviewer".into()),
        approval_mode: paddock_protocol::policy::ApprovalMode::AskAll,
        approval_timeout_secs: Some(60),
        rules: vec!["deny execute_bash(rm -rf /*)".into()],
        read_only: false,
        delegation: None,
        parent: None,
        owner: None,
    }
}

fn event(agent: &str, seq: u64, body: EventBody) -> Event {
    Event {
        seq,
        agent_id: agent.into(),
        ts: Utc::now(),
        body,
    }
}

fn user(agent: &str, seq: u64, text: &str) -> Event {
    event(agent, seq, EventBody::MessageUser { text: text.into() })
}

fn status(agent: &str, seq: u64, s: AgentStatus) -> Event {
    event(
        agent,
        seq,
        EventBody::AgentStatus {
            status: s,
            reason: None,
            code: None,
        },
    )
}

/// Creates agent `id`; returns its `agent.created` event.
async fn create(store: &Store, id: &str) -> Event {
    let cfg = config(id);
    let first = event(
        id,
        1,
        EventBody::AgentCreated {
            config: Box::new(cfg.clone()),
        },
    );
    store
        .create_agent(
            &NewAgent {
                id: id.into(),
                name: id.into(),
                config: cfg,
                created_at: Utc::now(),
                lease: None,
            },
            &first,
        )
        .await
        .unwrap();
    first
}

fn all_durable_bodies() -> Vec<EventBody> {
    vec![
        EventBody::AgentStatus {
            status: AgentStatus::Thinking,
            reason: None,
            code: None,
        },
        EventBody::MessageUser {
            text: "fix the bug — ünïcödé ✓".into(),
        },
        EventBody::MessageAssistant {
            text: Some("Let me look.".into()),
            tool_calls: vec![ToolCallRequest {
                id: "call_1".into(),
                name: "read_file".into(),
                arguments: r#"{"path":"src/lib.rs"}"#.into(),
            }],
            finish_reason: "tool_calls".into(),
            reasoning: Vec::new(),
        },
        EventBody::MessageAssistant {
            text: None,
            tool_calls: vec![],
            finish_reason: "length".into(),
            reasoning: Vec::new(),
        },
        EventBody::AgentStatus {
            status: AgentStatus::ExecutingTool,
            reason: Some("read_file".into()),
            code: None,
        },
        EventBody::ToolCall {
            call_id: "call_1".into(),
            tool: "read_file".into(),
            arguments: json!({"path": "src/lib.rs", "n": [1, 2.5, null]}),
            read_only: true,
            sandbox: Some("bwrap".into()),
        },
        EventBody::ToolOutput {
            call_id: "call_1".into(),
            stream: "stdout".into(),
            chunk: "line 1\nline 2\n".into(),
        },
        EventBody::ToolResult {
            call_id: "call_1".into(),
            tool: "read_file".into(),
            success: true,
            content: "fn main() {}".into(),
            duration_ms: 12,
            truncated_bytes: 3,
            stripped_chars: 0,
            exit_code: None,
            approval_wait_ms: None,
        },
        EventBody::Usage {
            provider: "scripted".into(),
            model: "m1".into(),
            input_tokens: 1200,
            output_tokens: 80,
            cached_tokens: 1024,
            cost_usd: 0.0125,
            duration_ms: 900,
            attempts: 2,
            masked_tokens_saved: 17,
            route: None,
            price_known: true,
            ttft_ms: None,
            reasoning_tokens: 0,
            failover: Vec::new(),
        },
        EventBody::Error {
            code: paddock_protocol::events::ErrorCode::ModelRetry,
            message: "429 Too Many Requests".into(),
            recoverable: true,
            attempt: None,
            max_attempts: None,
            retry_in_ms: None,
        },
        EventBody::AgentStatus {
            status: AgentStatus::WaitingApproval,
            reason: None,
            code: None,
        },
        EventBody::AgentStatus {
            status: AgentStatus::Error,
            reason: Some("model_failed".into()),
            code: None,
        },
        EventBody::PolicyDecision {
            call_id: "c2".into(),
            tool: "execute_bash".into(),
            decision: paddock_protocol::policy::Decision {
                action: paddock_protocol::policy::Action::Ask,
                level: paddock_protocol::policy::RiskLevel::High,
                reasons: vec!["default-assessor (high): sudo".into()],
                rule: Some("ask execute_bash(sudo*)".into()),
                rule_scope: Some("global".into()),
                mode: paddock_protocol::policy::ApprovalMode::AskRisky,
                verdicts: vec![paddock_protocol::policy::Verdict {
                    assessor: "default-assessor".into(),
                    level: paddock_protocol::policy::RiskLevel::High,
                    action: paddock_protocol::policy::Action::Ask,
                    reason: "sudo".into(),
                    failed: false,
                    duration_us: 120,
                }],
            },
        },
        EventBody::ApprovalRequested {
            call_id: "c2".into(),
            tool: "write_file".into(),
            arguments: json!({"path": ".env", "content": "A=1"}),
            level: paddock_protocol::policy::RiskLevel::Medium,
            reasons: vec!["secret file".into()],
            diff: Some("--- a/.env\n+++ b/.env\n+A=1\n".into()),
            remember: paddock_protocol::events::RememberRules {
                agent: "allow write_file(path=.env)".into(),
                always: "allow write_file(path=.env)".into(),
            },
            expires_at: Some(DateTime::from_timestamp(2_000_000_000, 0).unwrap()),
        },
        EventBody::ApprovalDecided {
            call_id: "c2".into(),
            tool: "write_file".into(),
            approved: false,
            status: ApprovalStatus::Denied,
            by: "admin (REST)".into(),
            reason: Some("no".into()),
            rule: Some("deny write_file(path=.env)".into()),
            rule_scope: Some("agent:a1".into()),
        },
        EventBody::AgentStatus {
            status: AgentStatus::Stopped,
            reason: None,
            code: None,
        },
    ]
}

async fn every_event_kind_round_trips(url: String) {
    let store = Store::open(&url).await.unwrap();
    let first = create(&store, "a1").await;
    let mut expected = vec![first];
    for (i, body) in all_durable_bodies().into_iter().enumerate() {
        let e = event("a1", i as u64 + 2, body);
        store.append(&e).await.unwrap();
        expected.push(e);
    }
    let back = store.events_after("a1", 0, 1000).await.unwrap();
    // Exact, timestamps (nanoseconds) included.
    assert_eq!(back, expected);

    let delta = event("a1", 15, EventBody::MessageDelta { text: "x".into() });
    assert!(matches!(
        store.append(&delta).await,
        Err(StoreError::NotDurable("message.delta"))
    ));
    // agent.created only through create_agent.
    let again = event(
        "a1",
        15,
        EventBody::AgentCreated {
            config: Box::new(config("a1")),
        },
    );
    assert!(matches!(
        store.append(&again).await,
        Err(StoreError::Invalid(_))
    ));
    assert_eq!(store.last_seq("a1").await.unwrap(), expected.len() as u64);
    assert_eq!(store.last_seq("nobody").await.unwrap(), 0);
    assert!(
        store
            .events_after("nobody", 0, 10)
            .await
            .unwrap()
            .is_empty()
    );

    // Creation rules: duplicate id, wrong first event.
    let dup = NewAgent {
        id: "a1".into(),
        name: "again".into(),
        config: config("a1"),
        created_at: Utc::now(),
        lease: None,
    };
    let first = event(
        "a1",
        1,
        EventBody::AgentCreated {
            config: Box::new(config("a1")),
        },
    );
    assert!(matches!(
        store.create_agent(&dup, &first).await,
        Err(StoreError::Conflict(id)) if id == "a1"
    ));
    let new = NewAgent {
        id: "a2".into(),
        ..dup
    };
    assert!(matches!(
        store.create_agent(&new, &user("a2", 1, "hi")).await,
        Err(StoreError::Invalid(_))
    ));
    let created_a2_at_seq_2 = event(
        "a2",
        2,
        EventBody::AgentCreated {
            config: Box::new(config("a1")),
        },
    );
    assert!(matches!(
        store.create_agent(&new, &created_a2_at_seq_2).await,
        Err(StoreError::Invalid(_))
    ));
    assert!(store.get_agent("a2").await.unwrap().is_none());
}

async fn seq_must_be_gapless(url: String) {
    let store = Store::open(&url).await.unwrap();
    create(&store, "a").await;
    store.append(&user("a", 2, "one")).await.unwrap();
    // Duplicate.
    match store.append(&user("a", 2, "dup")).await {
        Err(StoreError::SeqConflict {
            agent,
            expected,
            got,
        }) => assert_eq!((agent.as_str(), expected, got), ("a", 3, 2)),
        other => panic!("duplicate seq accepted: {other:?}"),
    }
    // Skipped.
    match store.append(&user("a", 4, "skip")).await {
        Err(StoreError::SeqConflict { expected, got, .. }) => assert_eq!((expected, got), (3, 4)),
        other => panic!("skipped seq accepted: {other:?}"),
    }
    // Going back to 1.
    assert!(matches!(
        store.append(&user("a", 1, "back")).await,
        Err(StoreError::SeqConflict {
            expected: 3,
            got: 1,
            ..
        })
    ));
    assert!(matches!(
        store.append(&user("a", 0, "zero")).await,
        Err(StoreError::Invalid(_))
    ));
    // Unknown agent.
    assert!(matches!(
        store.append(&user("ghost", 1, "boo")).await,
        Err(StoreError::UnknownAgent(id)) if id == "ghost"
    ));
    store.append(&user("a", 3, "two")).await.unwrap();
    let texts: Vec<_> = store
        .events_after("a", 1, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.seq, e.body))
        .collect();
    assert_eq!(
        texts,
        vec![
            (2, EventBody::MessageUser { text: "one".into() }),
            (3, EventBody::MessageUser { text: "two".into() }),
        ]
    );
}

async fn racing_appends_exactly_one_wins(url: String) {
    let store = Store::open(&url).await.unwrap();
    create(&store, "r").await;
    for round in 0..5u64 {
        let seq = round + 2;
        let tasks: Vec<_> = (0..12)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    let e = user("r", seq, &format!("round {round} task {i}"));
                    (i, store.append(&e).await)
                })
            })
            .collect();
        let mut winners = Vec::new();
        for t in tasks {
            let (i, r) = t.await.unwrap();
            match r {
                Ok(()) => winners.push(i),
                Err(StoreError::SeqConflict { expected, got, .. }) => {
                    assert_eq!((expected, got), (seq + 1, seq))
                }
                Err(e) => panic!("unexpected error: {e}"),
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: winners {winners:?}");
        let stored = store.events_after("r", seq - 1, 10).await.unwrap();
        assert_eq!(stored.len(), 1);
        assert_eq!(
            stored[0].body,
            EventBody::MessageUser {
                text: format!("round {round} task {}", winners[0])
            }
        );
    }
    assert_eq!(store.last_seq("r").await.unwrap(), 6);
}

async fn batch_is_all_or_nothing(url: String) {
    let store = Store::open(&url).await.unwrap();
    create(&store, "b").await;
    create(&store, "c").await;
    let usage = |seq| {
        event(
            "b",
            seq,
            EventBody::Usage {
                provider: "p".into(),
                model: "m".into(),
                input_tokens: 10,
                output_tokens: 5,
                cached_tokens: 0,
                cost_usd: 0.5,
                duration_ms: 1,
                attempts: 1,
                masked_tokens_saved: 0,
                route: None,
                price_known: true,
                ttft_ms: None,
                reasoning_tokens: 0,
                failover: Vec::new(),
            },
        )
    };
    let before = store.get_agent("b").await.unwrap().unwrap();

    // A seq gap in the middle.
    let bad = vec![
        status("b", 2, AgentStatus::Thinking),
        usage(3),
        user("c", 2, "other agent"),
        user("b", 5, "gap"),
        user("b", 6, "after"),
    ];
    assert!(matches!(
        store.append_batch(&bad).await,
        Err(StoreError::SeqConflict {
            expected: 4,
            got: 5,
            ..
        })
    ));
    // An unknown agent in the middle.
    let bad = vec![usage(2), user("nobody", 1, "x"), usage(3)];
    assert!(matches!(
        store.append_batch(&bad).await,
        Err(StoreError::UnknownAgent(_))
    ));
    // A live-only event in the middle (refused before touching the database).
    let bad = vec![
        usage(2),
        event("b", 3, EventBody::MessageDelta { text: "d".into() }),
    ];
    assert!(matches!(
        store.append_batch(&bad).await,
        Err(StoreError::NotDurable(_))
    ));

    // Nothing of any of them is stored, denormalised state included.
    assert_eq!(store.get_agent("b").await.unwrap().unwrap(), before);
    assert_eq!(store.events_after("b", 0, 100).await.unwrap().len(), 1);
    assert_eq!(store.last_seq("c").await.unwrap(), 1);

    // A good batch over two agents lands whole.
    let good = vec![
        status("b", 2, AgentStatus::Thinking),
        usage(3),
        user("c", 2, "other agent"),
        user("b", 4, "next"),
    ];
    store.append_batch(&good).await.unwrap();
    store.append_batch(&[]).await.unwrap();
    let b = store.get_agent("b").await.unwrap().unwrap();
    assert_eq!(b.last_seq, 4);
    assert_eq!(b.status, AgentStatus::Thinking);
    assert_eq!(b.usage.model_calls, 1);
    assert_eq!(b.usage.cost_usd, 0.5);
    assert_eq!(store.last_seq("c").await.unwrap(), 2);
    let stored: Vec<_> = store.events_after("b", 1, 100).await.unwrap();
    assert_eq!(
        stored,
        vec![good[0].clone(), good[1].clone(), good[3].clone()]
    );
}

async fn events_after_pages(url: String) {
    let store = Store::open(&url).await.unwrap();
    create(&store, "p").await;
    create(&store, "q").await;
    let batch: Vec<_> = (2..=25).map(|s| user("p", s, &format!("m{s}"))).collect();
    store.append_batch(&batch).await.unwrap();
    store.append(&user("q", 2, "q's")).await.unwrap();

    let mut seen = Vec::new();
    let mut after = 0;
    let mut pages = Vec::new();
    loop {
        let page = store.events_after("p", after, 10).await.unwrap();
        if page.is_empty() {
            break;
        }
        pages.push(page.len());
        after = page.last().unwrap().seq;
        seen.extend(page);
    }
    assert_eq!(pages, vec![10, 10, 5]);
    assert_eq!(
        seen.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=25).collect::<Vec<_>>()
    );
    assert!(seen.iter().all(|e| e.agent_id == "p"));
    assert_eq!(&seen[1..], &batch[..]);
    assert!(store.events_after("p", 25, 10).await.unwrap().is_empty());
    assert!(
        store
            .events_after("p", u64::MAX, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let tail = store.events_after("p", 23, 10).await.unwrap();
    assert_eq!(tail.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![24, 25]);
    assert!(store.events_after("p", 0, 0).await.unwrap().is_empty());
}

async fn denormalised_status_usage_and_last_seq(url: String) {
    let store = Store::open(&url).await.unwrap();
    create(&store, "d").await;
    let fresh = store.get_agent("d").await.unwrap().unwrap();
    assert_eq!(fresh.status, AgentStatus::Idle);
    assert_eq!(fresh.last_seq, 1);
    assert_eq!(fresh.usage, UsageTotals::default());
    assert_eq!(fresh.config, config("d"));
    assert_eq!(fresh.name, "d");
    assert!(fresh.deleted_at.is_none());

    let usage = |seq, input, output, cached, cost| {
        event(
            "d",
            seq,
            EventBody::Usage {
                provider: "p".into(),
                model: "m".into(),
                input_tokens: input,
                output_tokens: output,
                cached_tokens: cached,
                cost_usd: cost,
                duration_ms: 10,
                attempts: 1,
                masked_tokens_saved: 0,
                route: None,
                price_known: true,
                ttft_ms: None,
                reasoning_tokens: 0,
                failover: Vec::new(),
            },
        )
    };
    let result = |seq, success| {
        event(
            "d",
            seq,
            EventBody::ToolResult {
                call_id: format!("c{seq}"),
                tool: "t".into(),
                success,
                content: String::new(),
                duration_ms: 1,
                truncated_bytes: 0,
                stripped_chars: 0,
                exit_code: None,
                approval_wait_ms: None,
            },
        )
    };
    store
        .append(&status("d", 2, AgentStatus::Thinking))
        .await
        .unwrap();
    store.append(&usage(3, 1000, 100, 800, 0.25)).await.unwrap();
    store
        .append(&status("d", 4, AgentStatus::ExecutingTool))
        .await
        .unwrap();
    store.append(&result(5, true)).await.unwrap();
    store.append(&result(6, false)).await.unwrap();
    let last = status("d", 7, AgentStatus::WaitingApproval);
    store.append(&last).await.unwrap();
    store.append(&usage(8, 500, 50, 0, 0.125)).await.unwrap();
    store.append(&user("d", 9, "more")).await.unwrap();

    let d = store.get_agent("d").await.unwrap().unwrap();
    assert_eq!(d.status, AgentStatus::WaitingApproval);
    assert_eq!(d.last_seq, 9);
    assert_eq!(
        d.usage,
        UsageTotals {
            model_calls: 2,
            input_tokens: 1500,
            output_tokens: 150,
            cached_tokens: 800,
            cost_usd: 0.375,
            tool_calls: 2,
            tool_failures: 1,
        }
    );
    assert!(d.updated_at >= last.ts);
    assert_eq!(store.last_seq("d").await.unwrap(), 9);
    assert_eq!((d.status_reason.as_deref(), d.status_code), (None, None));
    // The last status's reason and code are kept until the next status.
    let failed = event(
        "d",
        10,
        EventBody::AgentStatus {
            status: AgentStatus::Limited,
            reason: Some("the run used its 3 turns".into()),
            code: Some(ErrorCode::LimitTurns),
        },
    );
    store.append(&failed).await.unwrap();
    store.append(&user("d", 11, "again")).await.unwrap();
    let d = store.get_agent("d").await.unwrap().unwrap();
    assert_eq!(d.status, AgentStatus::Limited);
    assert_eq!(
        (d.status_reason.as_deref(), d.status_code),
        (
            Some("the run used its 3 turns"),
            Some(ErrorCode::LimitTurns)
        )
    );
    // The list carries the same record, without replaying anything.
    let listed = store.list_agents(false).await.unwrap();
    assert_eq!(listed, vec![d]);
    store
        .append(&status("d", 12, AgentStatus::Thinking))
        .await
        .unwrap();
    let d = store.get_agent("d").await.unwrap().unwrap();
    assert_eq!((d.status_reason, d.status_code), (None, None));
}

async fn delete_keeps_history_and_purge_removes_it(url: String) {
    let store = Store::open(&url).await.unwrap();
    for id in ["x1", "x2", "x3"] {
        create(&store, id).await;
        store.append(&user(id, 2, "hello")).await.unwrap();
    }
    let ids = |v: Vec<AgentRecord>| v.into_iter().map(|a| a.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.list_agents(false).await.unwrap()),
        ["x1", "x2", "x3"]
    );

    let at = Utc::now();
    assert!(store.mark_deleted("x2", at).await.unwrap());
    assert!(!store.mark_deleted("x2", at).await.unwrap());
    assert!(!store.mark_deleted("nobody", at).await.unwrap());
    assert_eq!(ids(store.list_agents(false).await.unwrap()), ["x1", "x3"]);
    assert_eq!(
        ids(store.list_agents(true).await.unwrap()),
        ["x1", "x2", "x3"]
    );
    let x2 = store.get_agent("x2").await.unwrap().unwrap();
    assert_eq!(x2.deleted_at, Some(at));
    assert_eq!(store.events_after("x2", 0, 10).await.unwrap().len(), 2);
    // A deleted agent still records its stop.
    store
        .append(&status("x2", 3, AgentStatus::Stopped))
        .await
        .unwrap();

    assert!(store.purge_agent("x2").await.unwrap());
    assert!(!store.purge_agent("x2").await.unwrap());
    assert!(store.get_agent("x2").await.unwrap().is_none());
    assert!(store.events_after("x2", 0, 10).await.unwrap().is_empty());
    assert_eq!(store.last_seq("x2").await.unwrap(), 0);
    assert!(matches!(
        store.append(&user("x2", 4, "late")).await,
        Err(StoreError::UnknownAgent(_))
    ));
    assert!(matches!(
        store.append(&user("x2", 1, "late")).await,
        Err(StoreError::UnknownAgent(_))
    ));
    assert_eq!(ids(store.list_agents(true).await.unwrap()), ["x1", "x3"]);
    // The others are untouched.
    assert_eq!(store.events_after("x1", 0, 10).await.unwrap().len(), 2);
    assert_eq!(store.events_after("x3", 0, 10).await.unwrap().len(), 2);
}

async fn docs_crud(url: String) {
    let store = Store::open(&url).await.unwrap();
    assert!(
        store
            .get_doc(DocKind::AgentTemplate, "coder")
            .await
            .unwrap()
            .is_none()
    );
    let v1 = json!({"model": {"provider": "p", "model": "m"}, "tools": ["read_file"]});
    let put1 = store
        .put_doc(DocKind::AgentTemplate, "coder", &v1)
        .await
        .unwrap();
    assert_eq!(put1.body, v1);
    assert_eq!(put1.created_at, put1.updated_at);
    let got = store
        .get_doc(DocKind::AgentTemplate, "coder")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, put1);

    // Same name, other kind: a separate document.
    let prompt = json!({"text": "Be brief."});
    store
        .put_doc(DocKind::SystemPrompt, "coder", &prompt)
        .await
        .unwrap();
    store
        .put_doc(DocKind::AgentTemplate, "architect", &json!({}))
        .await
        .unwrap();

    tokio::time::sleep(Duration::from_millis(5)).await;
    let v2 = json!({"model": {"provider": "p", "model": "m2"}});
    let put2 = store
        .put_doc(DocKind::AgentTemplate, "coder", &v2)
        .await
        .unwrap();
    assert_eq!(put2.created_at, put1.created_at);
    assert!(put2.updated_at > put1.updated_at);
    let got = store
        .get_doc(DocKind::AgentTemplate, "coder")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, put2);

    let names = |v: Vec<Doc>| v.into_iter().map(|d| d.name).collect::<Vec<_>>();
    assert_eq!(
        names(store.list_docs(DocKind::AgentTemplate).await.unwrap()),
        ["architect", "coder"]
    );
    let prompts = store.list_docs(DocKind::SystemPrompt).await.unwrap();
    assert_eq!(prompts.len(), 1);
    assert_eq!(prompts[0].body, prompt);

    assert!(
        store
            .delete_doc(DocKind::AgentTemplate, "coder")
            .await
            .unwrap()
    );
    assert!(
        !store
            .delete_doc(DocKind::AgentTemplate, "coder")
            .await
            .unwrap()
    );
    assert_eq!(
        names(store.list_docs(DocKind::AgentTemplate).await.unwrap()),
        ["architect"]
    );
    assert!(
        store
            .get_doc(DocKind::SystemPrompt, "coder")
            .await
            .unwrap()
            .is_some()
    );
}

async fn reopening_sees_everything(url: String) {
    let store = Store::open(&url).await.unwrap();
    create(&store, "o1").await;
    create(&store, "o2").await;
    store
        .append(&status("o1", 2, AgentStatus::Thinking))
        .await
        .unwrap();
    store.append(&user("o2", 2, "hi")).await.unwrap();
    store.mark_deleted("o2", Utc::now()).await.unwrap();
    let doc = store
        .put_doc(DocKind::SystemPrompt, "short", &json!("Be short."))
        .await
        .unwrap();
    let mut agents = store.list_agents(true).await.unwrap();
    let mut o1_events = store.events_after("o1", 0, 100).await.unwrap();
    store.close().await;
    drop(store);

    for _ in 0..2 {
        let store = Store::open(&url).await.unwrap();
        assert_eq!(store.list_agents(true).await.unwrap(), agents);
        assert_eq!(store.events_after("o1", 0, 100).await.unwrap(), o1_events);
        assert_eq!(
            store
                .get_doc(DocKind::SystemPrompt, "short")
                .await
                .unwrap()
                .unwrap(),
            doc
        );
        // And it carries on where it stopped.
        let next = store.last_seq("o1").await.unwrap() + 1;
        store.append(&user("o1", next, "again")).await.unwrap();
        agents = store.list_agents(true).await.unwrap();
        o1_events = store.events_after("o1", 0, 100).await.unwrap();
        store.close().await;
    }
    let store = Store::open(&url).await.unwrap();
    assert_eq!(store.last_seq("o1").await.unwrap(), 4);
    let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
        .fetch_one(&store.pool)
        .await
        .unwrap();
    assert_eq!(applied, MIGRATIONS.len() as i64);
}

async fn concurrent_appends_to_many_agents(url: String) {
    const AGENTS: usize = 50;
    const EVENTS: u64 = 40;
    let store = Store::open(&url).await.unwrap();
    let start = std::time::Instant::now();
    let tasks: Vec<_> = (0..AGENTS)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let id = format!("agent-{i:02}");
                create(&store, &id).await;
                for seq in 2..=EVENTS + 1 {
                    let body = if seq % 4 == 0 {
                        EventBody::ToolResult {
                            call_id: format!("c{seq}"),
                            tool: "t".into(),
                            success: seq % 8 != 0,
                            content: "ok".into(),
                            duration_ms: 1,
                            truncated_bytes: 0,
                            stripped_chars: 0,
                            exit_code: None,
                            approval_wait_ms: None,
                        }
                    } else {
                        EventBody::MessageUser {
                            text: format!("{id} #{seq}"),
                        }
                    };
                    store.append(&event(&id, seq, body)).await.unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let elapsed = start.elapsed();
    let appends = AGENTS as u64 * (EVENTS + 1);
    println!(
        "{:?}: {appends} appends from {AGENTS} tasks in {elapsed:.2?} = {:.0} appends/s",
        store.backend(),
        appends as f64 / elapsed.as_secs_f64()
    );

    let agents = store.list_agents(false).await.unwrap();
    assert_eq!(agents.len(), AGENTS);
    for a in &agents {
        assert_eq!(a.last_seq, EVENTS + 1);
        assert_eq!(a.usage.tool_calls, EVENTS / 4);
        assert_eq!(a.usage.tool_failures, EVENTS / 8);
        let events = store.events_after(&a.id, 0, 1000).await.unwrap();
        assert_eq!(
            events.iter().map(|e| e.seq).collect::<Vec<_>>(),
            (1..=EVENTS + 1).collect::<Vec<_>>()
        );
        assert!(events.iter().all(|e| e.agent_id == a.id));
    }
}

async fn corrupt_rows_are_reported(url: String) {
    let store = Store::open(&url).await.unwrap();
    create(&store, "z").await;
    for seq in 2..=4 {
        store.append(&user("z", seq, "fine")).await.unwrap();
    }
    sqlx::query("UPDATE events SET data = $1 WHERE agent_id = $2 AND seq = $3")
        .bind("{\"text\": ")
        .bind("z")
        .bind(3i64)
        .execute(&store.pool)
        .await
        .unwrap();
    // Pages before the bad row still read.
    assert_eq!(store.events_after("z", 0, 2).await.unwrap().len(), 2);
    match store.events_after("z", 0, 10).await {
        Err(StoreError::Corrupt { agent, seq, reason }) => {
            assert_eq!((agent.as_str(), seq), ("z", 3));
            assert!(reason.contains("JSON"), "{reason}");
        }
        other => panic!("corrupt row read as {other:?}"),
    }
    // Valid JSON of the wrong shape, and an unknown type.
    sqlx::query("UPDATE events SET data = $1 WHERE agent_id = $2 AND seq = $3")
        .bind("{\"words\": 1}")
        .bind("z")
        .bind(3i64)
        .execute(&store.pool)
        .await
        .unwrap();
    sqlx::query("UPDATE events SET type = $1 WHERE agent_id = $2 AND seq = $3")
        .bind("message.telepathy")
        .bind("z")
        .bind(4i64)
        .execute(&store.pool)
        .await
        .unwrap();
    assert!(matches!(
        store.events_after("z", 2, 1).await,
        Err(StoreError::Corrupt { seq: 3, .. })
    ));
    assert!(matches!(
        store.events_after("z", 3, 10).await,
        Err(StoreError::Corrupt { seq: 4, .. })
    ));

    // A corrupt agent row.
    sqlx::query("UPDATE agents SET status = $1 WHERE id = $2")
        .bind("dancing")
        .bind("z")
        .execute(&store.pool)
        .await
        .unwrap();
    assert!(matches!(
        store.get_agent("z").await,
        Err(StoreError::CorruptRecord { .. })
    ));
    // The list leaves it out (quarantined) and names it; the others stay.
    create(&store, "y").await;
    let listed: Vec<String> = store
        .list_agents(true)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.id)
        .collect();
    assert_eq!(listed, ["y"]);
    let (good, bad) = store.scan_agents(false).await.unwrap();
    assert_eq!(good.len(), 1);
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0].0, "z");
    assert!(matches!(bad[0].1, StoreError::CorruptRecord { .. }));
    if store.backend() == Backend::Sqlite {
        // Text that is not UTF-8 (SQLite stores what it is given): the
        // driver cannot read the row at all, yet only that agent is out.
        create(&store, "x").await;
        sqlx::query("UPDATE agents SET name = CAST(X'66ff6f' AS TEXT) WHERE id = $1")
            .bind("x")
            .execute(&store.pool)
            .await
            .unwrap();
        let (good, bad) = store.scan_agents(false).await.unwrap();
        let good: Vec<&str> = good.iter().map(|a| a.id.as_str()).collect();
        let mut bad: Vec<&str> = bad.iter().map(|(id, _)| id.as_str()).collect();
        bad.sort();
        assert_eq!(good, ["y"]);
        assert_eq!(bad, ["x", "z"]);
    }
}

#[tokio::test]
async fn urls() {
    assert!(matches!(
        Store::open("mysql://x").await,
        Err(StoreError::InvalidUrl(_))
    ));
    assert!(matches!(
        Store::open("sqlite::memory:").await,
        Err(StoreError::InvalidUrl(_))
    ));
    assert!(matches!(
        Store::open("sqlite://:memory:").await,
        Err(StoreError::InvalidUrl(_))
    ));
    // open_sqlite creates the directory and copes with URL-special names.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a dir/odd?#%name.db");
    let store = Store::open_sqlite(&path).await.unwrap();
    assert_eq!(store.backend(), Backend::Sqlite);
    create(&store, "u").await;
    store.close().await;
    assert!(path.is_file());
    let store = Store::open_sqlite(&path).await.unwrap();
    assert_eq!(store.last_seq("u").await.unwrap(), 1);
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&store.pool)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    // 1 = NORMAL (see the module doc); busy timeout in milliseconds.
    let mut conn = store.pool.acquire().await.unwrap();
    let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(sync, 1);
    let busy: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(busy, SQLITE_BUSY_TIMEOUT.as_millis() as i64);
}

/// The child side of `survives_kill_9`: appends to agent `k` of the store at
/// `PADDOCK_STORE_KILL9_URL` until it is killed, printing each seq once its
/// append has returned (committed).
#[tokio::test]
#[ignore = "run in a child process by the survives_kill_9 tests"]
async fn kill9_child() {
    use std::io::Write;
    let url = std::env::var("PADDOCK_STORE_KILL9_URL")
        .expect("kill9_child is run by the survives_kill_9 tests");
    let store = Store::open(&url).await.unwrap();
    let mut seq = store.last_seq("k").await.unwrap();
    loop {
        seq += 1;
        store
            .append(&user("k", seq, &format!("k #{seq}")))
            .await
            .unwrap();
        let mut out = std::io::stdout().lock();
        writeln!(out, "committed {seq}").unwrap();
        out.flush().unwrap();
    }
}

/// A host killed with SIGKILL in the middle of appending loses no event
/// whose append had returned, and leaves a gapless log.
async fn survives_kill_9(url: String) {
    use tokio::io::AsyncBufReadExt;
    let store = Store::open(&url).await.unwrap();
    create(&store, "k").await;
    store.close().await;
    drop(store);

    let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "tests::kill9_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("PADDOCK_STORE_KILL9_URL", &url)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut committed = 0u64;
    while committed < 300 {
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .expect("the child stopped appending")
            .unwrap()
            .expect("the child exited before it was killed");
        if let Some(n) = line.strip_prefix("committed ") {
            committed = n.parse().unwrap();
        }
    }
    // SIGKILL, mid-append.
    child.kill().await.unwrap();

    let store = Store::open(&url).await.unwrap();
    let last = store.last_seq("k").await.unwrap();
    assert!(last >= committed, "committed {committed}, stored {last}");
    let events = store.events_after("k", 0, 100_000).await.unwrap();
    assert_eq!(
        events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=last).collect::<Vec<_>>()
    );
    for e in &events[1..] {
        assert_eq!(
            e.body,
            EventBody::MessageUser {
                text: format!("k #{}", e.seq)
            }
        );
    }
    // And the log carries on.
    store.append(&user("k", last + 1, "after")).await.unwrap();
}

fn usage_at(agent: &str, seq: u64, ts: DateTime<Utc>, model: &str, cost: f64) -> Event {
    Event {
        seq,
        agent_id: agent.into(),
        ts,
        body: EventBody::Usage {
            provider: "p".into(),
            model: model.into(),
            input_tokens: 100,
            output_tokens: 10,
            cached_tokens: 40,
            cost_usd: cost,
            duration_ms: 7,
            attempts: 1,
            masked_tokens_saved: 0,
            route: None,
            price_known: true,
            ttft_ms: None,
            reasoning_tokens: 0,
            failover: Vec::new(),
        },
    }
}

async fn usage_between_reads_a_time_range(url: String) {
    let store = Store::open(&url).await.unwrap();
    let (a, b) = ("ua".to_string(), "ub".to_string());
    create(&store, &a).await;
    create(&store, &b).await;
    let day = chrono::Duration::days(1);
    let t0 = Utc::now() - chrono::Duration::days(3);
    store
        .append_batch(&[
            usage_at(&a, 2, t0, "m1", 0.5),
            user(&a, 3, "not usage"),
            usage_at(&a, 4, t0 + day, "m2", 0.25),
            usage_at(&b, 2, t0 + day * 2, "m1", 1.0),
        ])
        .await
        .unwrap();
    let all = store.usage_between(t0, t0 + day * 3, None).await.unwrap();
    let costs: Vec<f64> = all
        .iter()
        .filter(|u| u.agent_id == a || u.agent_id == b)
        .map(|u| u.cost_usd)
        .collect();
    assert_eq!(costs, [0.5, 0.25, 1.0]);
    // [from, to): the end is excluded, the start included.
    let middle = store
        .usage_between(t0 + day, t0 + day * 2, None)
        .await
        .unwrap();
    assert!(middle.iter().any(|u| u.agent_id == a && u.model == "m2"));
    assert!(!middle.iter().any(|u| u.agent_id == b));
    let only_b = store
        .usage_between(t0, t0 + day * 3, Some(&b))
        .await
        .unwrap();
    assert_eq!(only_b.len(), 1);
    assert_eq!(
        (
            only_b[0].input_tokens,
            only_b[0].cached_tokens,
            only_b[0].duration_ms
        ),
        (100, 40, 7)
    );
    // Up to now: a's spend since t0, and none since t0 + 2 days.
    let now = Utc::now() + chrono::Duration::seconds(1);
    let since = store.usage_between(t0, now, Some(&a)).await.unwrap();
    assert_eq!(since.iter().map(|u| u.cost_usd).sum::<f64>(), 0.75);
    let late = store
        .usage_between(t0 + day * 2, now, Some(&a))
        .await
        .unwrap();
    assert!(late.is_empty(), "{late:?}");
}

async fn usage_of_owners_and_owned_secrets(url: String) {
    let store = Store::open(&url).await.unwrap();
    let suffix = uuid::Uuid::new_v4().to_string();
    let (alice, bob) = (format!("alice-{suffix}"), format!("bob-{suffix}"));
    let agent_of = |owner: &str, id: &str| {
        let mut cfg = config(id);
        cfg.owner = Some(owner.to_string());
        cfg
    };
    let mut ids = Vec::new();
    for (owner, n) in [(&alice, 2), (&bob, 1)] {
        for i in 0..n {
            let id = format!("{owner}-a{i}");
            let cfg = agent_of(owner, &id);
            let first = event(
                &id,
                1,
                EventBody::AgentCreated {
                    config: Box::new(cfg.clone()),
                },
            );
            store
                .create_agent(
                    &NewAgent {
                        id: id.clone(),
                        name: id.clone(),
                        config: cfg,
                        created_at: Utc::now(),
                        lease: None,
                    },
                    &first,
                )
                .await
                .unwrap();
            ids.push(id);
        }
    }
    let t0 = Utc::now() - chrono::Duration::hours(1);
    store
        .append_batch(&[
            usage_at(&ids[0], 2, t0, "m", 0.5),
            usage_at(&ids[1], 2, t0, "m", 0.25),
            usage_at(&ids[2], 2, t0, "m", 1.0),
        ])
        .await
        .unwrap();
    let now = Utc::now() + chrono::Duration::seconds(1);
    // An agent and its sub-agents, by id.
    let tree = store
        .usage_of_agents(t0, now, &[ids[0].clone(), ids[2].clone()])
        .await
        .unwrap();
    let got: Vec<(&str, f64)> = tree
        .iter()
        .map(|u| (u.agent_id.as_str(), u.cost_usd))
        .collect();
    assert_eq!(got.len(), 2);
    assert!(got.contains(&(ids[0].as_str(), 0.5)) && got.contains(&(ids[2].as_str(), 1.0)));
    assert!(
        store
            .usage_of_agents(t0, now, &[])
            .await
            .unwrap()
            .is_empty()
    );
    let hers = store
        .usage_of_owners(t0, now, std::slice::from_ref(&alice))
        .await
        .unwrap();
    let got: Vec<(&str, &str, f64)> = hers
        .iter()
        .map(|(o, u)| (o.as_str(), u.agent_id.as_str(), u.cost_usd))
        .collect();
    assert_eq!(
        got,
        [
            (alice.as_str(), ids[0].as_str(), 0.5),
            (alice.as_str(), ids[1].as_str(), 0.25)
        ]
    );
    let both = store
        .usage_of_owners(t0, now, &[alice.clone(), bob.clone()])
        .await
        .unwrap();
    assert_eq!(both.len(), 3);
    assert!(both.iter().any(|(o, u)| *o == bob && u.cost_usd == 1.0));
    assert!(
        store
            .usage_of_owners(t0, now, &[])
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .usage_of_owners(
                t0 - chrono::Duration::hours(2),
                t0,
                std::slice::from_ref(&alice)
            )
            .await
            .unwrap()
            .is_empty(),
        "[from, to): before the calls"
    );

    // Owned secrets: listed per owner, removed only by their owner.
    let name = format!("user:{alice}:provider:p");
    assert!(
        !store
            .put_owned_secret(&sealed(&name, "c1"), &alice)
            .await
            .unwrap()
    );
    assert!(
        store
            .put_owned_secret(&sealed(&name, "c2"), &alice)
            .await
            .unwrap(),
        "a second put rotates"
    );
    store
        .put_secret(&sealed(&format!("team-{suffix}"), "t"))
        .await
        .unwrap();
    let mine = store.owned_secrets(&alice).await.unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].ciphertext, "c2");
    assert!(store.owned_secrets(&bob).await.unwrap().is_empty());
    let all = store.all_owned_secrets().await.unwrap();
    assert!(all.iter().any(|(o, s)| *o == alice && s.name == name));
    assert!(
        !all.iter().any(|(_, s)| s.name == format!("team-{suffix}")),
        "the team's secrets have no owner"
    );
    assert!(
        !store.delete_owned_secret(&name, &bob).await.unwrap(),
        "not bob's"
    );
    assert!(store.get_secret(&name).await.unwrap().is_some());
    assert!(store.delete_owned_secret(&name, &alice).await.unwrap());
    assert!(store.get_secret(&name).await.unwrap().is_none());
}

/// A write whose future is dropped while its `BEGIN IMMEDIATE` runs (an
/// HTTP client that went away mid-request) leaves no transaction behind on
/// a pooled connection. Such a connection kept SQLite's write lock: every
/// other writer waited out the busy timeout and failed ("database is
/// locked"), and the next user of that connection failed with "cannot
/// start a transaction within a transaction". Another connection holding
/// the write lock keeps the store's `BEGIN` waiting until it is dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_dropped_during_its_begin_leaves_no_transaction_behind() {
    let db = TestDb::sqlite();
    let store = Store::open(&db.url).await.unwrap();
    let mut holder = AnyConnection::connect(&db.url).await.unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut holder)
        .await
        .unwrap();
    let dropped = tokio::time::timeout(Duration::from_millis(300), store.begin_write()).await;
    assert!(
        dropped.is_err(),
        "the store's BEGIN did not wait for the lock"
    );
    sqlx::query("ROLLBACK").execute(&mut holder).await.unwrap();
    // The dropped BEGIN goes on once the lock is free (SQLite's busy
    // handler retries within 100 ms); then the lock must be free again.
    tokio::time::sleep(Duration::from_secs(1)).await;
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut holder)
        .await
        .expect("the write lock is free again (within sqlx's 5 s busy timeout)");
    sqlx::query("ROLLBACK").execute(&mut holder).await.unwrap();
    holder.close().await.unwrap();
    // And no connection of the pool is left inside a transaction.
    for n in 0..SQLITE_MAX_CONNECTIONS {
        tokio::time::timeout(Duration::from_secs(5), create(&store, &format!("a{n}")))
            .await
            .expect("a write after the dropped one is not kept waiting");
    }
    store.close().await;
}

fn sealed(name: &str, text: &str) -> SealedSecret {
    SealedSecret {
        name: name.into(),
        nonce: "bm9uY2U=".into(),
        ciphertext: text.into(),
        key_id: "k1".into(),
        updated_at: DateTime::from_timestamp_nanos(1_000),
    }
}

async fn secrets_providers_and_settings(url: String) {
    let store = Store::open(&url).await.unwrap();
    assert_eq!(store.get_secret("a").await.unwrap(), None);
    store.put_secret(&sealed("a", "c1")).await.unwrap();
    store.put_secret(&sealed("a", "c2")).await.unwrap();
    assert_eq!(
        store.get_secret("a").await.unwrap().unwrap().ciphertext,
        "c2"
    );

    let config = json!({"name": "p", "base_url": "http://x/v1"});
    let key = sealed("provider:p", "k");
    store
        .create_provider("p", &config, Some(&key))
        .await
        .unwrap();
    let Err(StoreError::Conflict(_)) = store.create_provider("p", &config, None).await else {
        panic!("a second provider of the same name");
    };
    let listed = store.list_providers().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].config, config);
    assert_eq!(store.list_secrets().await.unwrap().len(), 2);

    // Keep, replace, remove the key.
    let changed = json!({"name": "p", "base_url": "http://y/v1"});
    let kept = store
        .update_provider("p", &changed, "provider:p", &KeyChange::Keep)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept.config, changed);
    assert_eq!(kept.created_at, listed[0].created_at);
    assert!(store.get_secret("provider:p").await.unwrap().is_some());
    store
        .update_provider(
            "p",
            &changed,
            "provider:p",
            &KeyChange::Set(sealed("provider:p", "k2")),
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .get_secret("provider:p")
            .await
            .unwrap()
            .unwrap()
            .ciphertext,
        "k2"
    );
    store
        .update_provider("p", &changed, "provider:p", &KeyChange::Remove)
        .await
        .unwrap();
    assert_eq!(store.get_secret("provider:p").await.unwrap(), None);
    assert_eq!(
        store
            .update_provider("nope", &changed, "provider:nope", &KeyChange::Keep)
            .await
            .unwrap(),
        None
    );

    // Resealing is all or nothing.
    store.put_secret(&sealed("b", "c3")).await.unwrap();
    let err = store
        .reseal_secrets(|s| {
            if s.name == "b" {
                Err("cannot".into())
            } else {
                Ok(SealedSecret {
                    ciphertext: "new".into(),
                    ..s
                })
            }
        })
        .await;
    assert!(
        matches!(err, Err(StoreError::Invalid(ref m)) if m == "cannot"),
        "{err:?}"
    );
    assert_eq!(
        store.get_secret("a").await.unwrap().unwrap().ciphertext,
        "c2"
    );
    let n = store
        .reseal_secrets(|s| {
            Ok(SealedSecret {
                ciphertext: format!("{}+", s.ciphertext),
                ..s
            })
        })
        .await
        .unwrap();
    assert_eq!(n, 2);
    assert_eq!(
        store.get_secret("b").await.unwrap().unwrap().ciphertext,
        "c3+"
    );

    // Deleting a provider deletes its key.
    store.put_secret(&sealed("provider:p", "k3")).await.unwrap();
    assert!(store.delete_provider("p", "provider:p").await.unwrap());
    assert!(!store.delete_provider("p", "provider:p").await.unwrap());
    assert_eq!(store.get_secret("provider:p").await.unwrap(), None);
    assert!(store.list_providers().await.unwrap().is_empty());

    assert_eq!(store.get_setting("default_model").await.unwrap(), None);
    let v = json!({"provider": "p", "model": "m"});
    store.put_setting("default_model", &v).await.unwrap();
    store.put_setting("default_model", &v).await.unwrap();
    assert_eq!(store.get_setting("default_model").await.unwrap(), Some(v));
    assert!(store.delete_setting("default_model").await.unwrap());
    assert!(!store.delete_setting("default_model").await.unwrap());
}

/// Users, groups, tokens and shares: the built-in local admin, unique
/// names and identities, patches, membership, token lookups by hash,
/// revocation, and agents' owners and shares.
async fn users_groups_tokens_and_shares(url: String) {
    use crate::{AgentShare, NewToken, NewUser, UserPatch};
    use paddock_protocol::identity::{Role, Scope, ShareKind};
    let store = Store::open(&url).await.unwrap();
    let local = store.get_user("local").await.unwrap().unwrap();
    assert_eq!((local.role, local.name.as_str()), (Role::Admin, "local"));
    assert_eq!(store.count_team_users().await.unwrap(), 0);

    let alice = store
        .create_user(&NewUser {
            name: "alice".into(),
            password_hash: Some("$argon2id$x".into()),
            ..NewUser::default()
        })
        .await
        .unwrap();
    assert_eq!(alice.role, Role::Member, "member by default");
    assert!(matches!(
        store
            .create_user(&NewUser {
                name: "alice".into(),
                ..NewUser::default()
            })
            .await,
        Err(StoreError::Conflict(_))
    ));
    let bob = store
        .create_user(&NewUser {
            name: "bob".into(),
            role: Some(Role::Viewer),
            oidc: Some(("https://idp".into(), "sub-1".into())),
            ..NewUser::default()
        })
        .await
        .unwrap();
    assert!(matches!(
        store
            .create_user(&NewUser {
                name: "bob2".into(),
                oidc: Some(("https://idp".into(), "sub-1".into())),
                ..NewUser::default()
            })
            .await,
        Err(StoreError::Conflict(_))
    ));
    let found = store
        .find_user_by_oidc("https://idp", "sub-1")
        .await
        .unwrap();
    assert_eq!(found.map(|u| u.id), Some(bob.id.clone()));
    assert_eq!(store.count_team_users().await.unwrap(), 2);
    let names: Vec<String> = store
        .list_users()
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.name)
        .collect();
    assert_eq!(names, ["alice", "bob", "local"]);

    let patched = store
        .update_user(
            &alice.id,
            &UserPatch {
                role: Some(Role::Admin),
                disabled: Some(true),
                max_running_agents: Some(Some(3)),
                password_hash: Some(None),
                ..UserPatch::default()
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (patched.role, patched.disabled, patched.max_running_agents),
        (Role::Admin, true, Some(3))
    );
    assert_eq!(patched.password_hash, None);
    assert!(
        store
            .update_user("nope", &UserPatch::default())
            .await
            .unwrap()
            .is_none()
    );

    let g = store.create_group("team").await.unwrap();
    assert!(matches!(
        store.create_group("team").await,
        Err(StoreError::Conflict(_))
    ));
    assert!(
        store
            .set_group_members(&g.id, &[alice.id.clone(), bob.id.clone(), alice.id.clone()])
            .await
            .unwrap()
    );
    let mut want = vec![alice.id.clone(), bob.id.clone()];
    want.sort();
    assert_eq!(store.get_group(&g.id).await.unwrap().unwrap().members, want);
    assert_eq!(store.groups_of(&bob.id).await.unwrap(), vec![g.id.clone()]);
    assert_eq!(store.list_groups().await.unwrap()[0].members, want);
    assert!(!store.set_group_members("nope", &[]).await.unwrap());

    let t = store
        .create_token(&NewToken {
            user_id: bob.id.clone(),
            name: "ci".into(),
            hash: "h1".into(),
            prefix: "pdk_abc".into(),
            scope: Scope::Read,
            expires_at: Some(Utc::now() + chrono::Duration::days(1)),
        })
        .await
        .unwrap();
    let by_hash = store.token_by_hash("h1").await.unwrap().unwrap();
    assert_eq!(
        (by_hash.id.as_str(), by_hash.scope),
        (t.id.as_str(), Scope::Read)
    );
    assert!(by_hash.is_live(Utc::now()));
    assert!(
        !by_hash.is_live(Utc::now() + chrono::Duration::days(2)),
        "expired"
    );
    store.touch_token(&t.id, Utc::now()).await.unwrap();
    assert!(
        store
            .get_token(&t.id)
            .await
            .unwrap()
            .unwrap()
            .last_used_at
            .is_some()
    );
    assert!(store.revoke_token(&t.id, Utc::now()).await.unwrap());
    assert!(
        !store.revoke_token(&t.id, Utc::now()).await.unwrap(),
        "once"
    );
    assert!(
        !store
            .token_by_hash("h1")
            .await
            .unwrap()
            .unwrap()
            .is_live(Utc::now())
    );
    assert_eq!(store.list_tokens(&bob.id).await.unwrap().len(), 1);

    // Agents belong to the owner their config names (local when none).
    let mut owned = config("owned");
    owned.owner = Some(alice.id.clone());
    let now = Utc::now();
    for (id, config) in [("a1", owned), ("a2", config("legacy"))] {
        store
            .create_agent(
                &NewAgent {
                    id: id.into(),
                    name: id.into(),
                    config: config.clone(),
                    created_at: now,
                    lease: None,
                },
                &Event {
                    seq: 1,
                    agent_id: id.into(),
                    ts: now,
                    body: EventBody::AgentCreated {
                        config: Box::new(config),
                    },
                },
            )
            .await
            .unwrap();
    }
    assert_eq!(
        store.get_agent("a1").await.unwrap().unwrap().owner,
        alice.id
    );
    assert_eq!(store.get_agent("a2").await.unwrap().unwrap().owner, "local");
    for (kind, principal) in [
        (ShareKind::User, bob.id.clone()),
        (ShareKind::Group, g.id.clone()),
    ] {
        store
            .share_agent(&AgentShare {
                agent_id: "a1".into(),
                kind,
                principal,
                shared_by: alice.id.clone(),
                shared_at: now,
            })
            .await
            .unwrap();
    }
    assert_eq!(store.shares_of("a1").await.unwrap().len(), 2);
    assert_eq!(
        store.agents_shared_with(&bob.id, &[]).await.unwrap(),
        ["a1"]
    );
    assert_eq!(
        store
            .agents_shared_with("x", std::slice::from_ref(&g.id))
            .await
            .unwrap(),
        ["a1"]
    );
    assert!(
        store
            .unshare_agent("a1", ShareKind::User, &bob.id)
            .await
            .unwrap()
    );
    assert!(
        store
            .agents_shared_with(&bob.id, &[])
            .await
            .unwrap()
            .is_empty()
    );

    // Deleting a group or a user takes its memberships and shares along.
    assert!(store.delete_group(&g.id).await.unwrap());
    assert!(store.shares_of("a1").await.unwrap().is_empty());
    assert!(store.delete_user(&bob.id).await.unwrap());
    assert!(store.list_tokens(&bob.id).await.unwrap().is_empty());
    assert!(!store.delete_user(&bob.id).await.unwrap());
    assert!(store.purge_agent("a1").await.unwrap());
}

/// Several hosts (PostgreSQL only): a claim raises the generation; an
/// append under a lease another host took is refused (`Fenced`) and
/// writes nothing; heartbeats renew only the leases a host holds; a
/// released agent is an orphan at once; requests are taken by the host
/// that runs their agent, once, and answered; notifications arrive.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn leases_fence_appends_and_requests_reach_the_agents_host() {
    use crate::cluster::{EVENTS_CHANNEL, REPLIES_CHANNEL};
    use crate::{Fence, HostRequest, RequestState};
    use paddock_protocol::cluster::HostState;
    let db = TestDb::postgres().await;
    let store = Store::open(&db.url).await.unwrap();
    let mut listener = store.listen().await.unwrap();
    store.register_host("a", None, "0", 10).await.unwrap();
    store
        .register_host("b", Some("http://b:7700"), "0", 10)
        .await
        .unwrap();
    create(&store, "x").await;
    // Never leased: an orphan, claimed by `a` (generation 1).
    let orphans = store.orphans(10).await.unwrap();
    assert_eq!(
        orphans.iter().map(|o| o.0.as_str()).collect::<Vec<_>>(),
        ["x"]
    );
    let a = store.claim("x", "a", 60_000).await.unwrap().unwrap();
    assert_eq!(
        (
            a.fence.generation,
            a.previous.as_deref(),
            a.previous_generation
        ),
        (1, None, 0)
    );
    assert!(
        store.claim("x", "b", 60_000).await.unwrap().is_none(),
        "a holds it"
    );
    assert!(store.orphans(10).await.unwrap().is_empty());
    store
        .append_under(&user("x", 2, "under a's lease"), Some(&a.fence))
        .await
        .unwrap();
    // The append announced itself.
    let n = tokio::time::timeout(Duration::from_secs(5), listener.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (n.channel.as_str(), n.payload.as_str()),
        (EVENTS_CHANNEL, "x 2")
    );
    let held = store.heartbeat("a", HostState::Live, 60_000).await.unwrap();
    assert_eq!(held, vec![("x".to_string(), 1)]);
    // `a`'s lease runs out (it paused): `b` takes the agent over.
    store.heartbeat("a", HostState::Live, -1).await.unwrap();
    let b = store.claim("x", "b", 60_000).await.unwrap().unwrap();
    assert_eq!((b.fence.generation, b.previous.as_deref()), (2, Some("a")));
    assert_eq!(b.agent.host.as_deref(), Some("b"));
    // `a` wakes: nothing it appends lands, neither alone nor with an approval.
    let refused = store
        .append_under(&user("x", 3, "from the past"), Some(&a.fence))
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, StoreError::Fenced { holder, .. } if holder == "b"),
        "{refused:?}"
    );
    let (asked, approval) = asked("x", 3, "c1");
    assert!(matches!(
        store
            .request_approval_under(&asked, &approval, Some(&a.fence))
            .await,
        Err(StoreError::Fenced { .. })
    ));
    assert_eq!(store.last_seq("x").await.unwrap(), 2, "nothing was written");
    assert!(
        store
            .heartbeat("a", HostState::Live, 60_000)
            .await
            .unwrap()
            .is_empty()
    );
    // `b` goes on; a wrong generation of `b` is refused as well.
    store
        .append_under(&user("x", 3, "b's"), Some(&b.fence))
        .await
        .unwrap();
    let stale_b = Fence {
        host: "b".into(),
        generation: 1,
    };
    assert!(matches!(
        store
            .append_under(&user("x", 4, "stale"), Some(&stale_b))
            .await,
        Err(StoreError::Fenced { .. })
    ));
    // Requests for `x` are `b`'s, taken once, answered, read back.
    let request = HostRequest {
        id: "r1".into(),
        agent_id: Some("x".into()),
        host_id: None,
        kind: "message".into(),
        body: json!({"text": "hi"}),
        from_host: "a".into(),
    };
    store.post_request(&request).await.unwrap();
    assert!(
        store.take_requests("a").await.unwrap().is_empty(),
        "not a's agent"
    );
    assert_eq!(store.take_requests("b").await.unwrap(), vec![request]);
    assert!(
        store.take_requests("b").await.unwrap().is_empty(),
        "taken once"
    );
    assert!(
        !store.cancel_request("r1").await.unwrap(),
        "taken: too late to withdraw"
    );
    store
        .answer_request("r1", &json!({"ok": {"seq": 4}}))
        .await
        .unwrap();
    assert_eq!(
        store.request_state("r1").await.unwrap(),
        Some(RequestState::Done(json!({"ok": {"seq": 4}})))
    );
    loop {
        let n = tokio::time::timeout(Duration::from_secs(5), listener.recv())
            .await
            .unwrap()
            .unwrap();
        if n.channel == REPLIES_CHANNEL {
            assert_eq!(n.payload, "r1");
            break;
        }
    }
    // A request naming a host goes to that host only.
    let placed = HostRequest {
        id: "r2".into(),
        agent_id: None,
        host_id: Some("a".into()),
        kind: "create".into(),
        body: json!({}),
        from_host: "b".into(),
    };
    store.post_request(&placed).await.unwrap();
    assert!(store.take_requests("b").await.unwrap().is_empty());
    assert!(
        store.cancel_request("r2").await.unwrap(),
        "pending: withdrawn"
    );
    assert!(
        store.take_requests("a").await.unwrap().is_empty(),
        "withdrawn"
    );
    // The hosts as listed: `b` holds `x`.
    let hosts = store.hosts(60_000).await.unwrap();
    let b_row = hosts.iter().find(|h| h.id == "b").unwrap();
    assert_eq!(
        (b_row.agents.clone(), b_row.capacity),
        (vec!["x".to_string()], 10)
    );
    assert_eq!(b_row.advertise_url.as_deref(), Some("http://b:7700"));
    // `b` hands `x` over: an orphan at once, with no previous host.
    assert!(store.release("x", &b.fence).await.unwrap());
    assert!(!store.release("x", &b.fence).await.unwrap(), "once");
    let c = store.claim("x", "a", 60_000).await.unwrap().unwrap();
    assert_eq!(
        (
            c.fence.generation,
            c.previous.as_deref(),
            c.previous_generation
        ),
        (3, None, 2)
    );
    // A host may reach the database over TLS.
    let tls = Store::open(&format!("{}?sslmode=require", db.url))
        .await
        .unwrap();
    let ssl: bool = sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .fetch_one(&tls.pool)
        .await
        .unwrap();
    assert!(ssl, "sslmode=require connects over TLS");
    // Leases need PostgreSQL.
    let lite = TestDb::sqlite();
    let sqlite = Store::open(&lite.url).await.unwrap();
    assert!(matches!(
        sqlite.claim("x", "a", 1).await,
        Err(StoreError::Invalid(_))
    ));
}

// ---- workflow runs ----

use crate::workflows::NewWorkflowRun;
use paddock_protocol::workflow::{StepOutcome, WorkflowDef, WorkflowEventBody, WorkflowRunStatus};
use std::collections::BTreeMap;

both_backends!(workflow_runs_and_their_logs, workflow_appends_stay_gapless);

fn wf_def() -> WorkflowDef {
    serde_json::from_value(serde_json::json!({
        "name": "w", "steps": [{"id": "m", "merge": true}]
    }))
    .unwrap()
}

fn wf_started() -> WorkflowEventBody {
    WorkflowEventBody::WorkflowStarted {
        workflow: "w".into(),
        name: "w-1".into(),
        definition: wf_def(),
        inputs: BTreeMap::from([("task".to_string(), "x".to_string())]),
        workspace_id: None,
    }
}

fn wf_new_run(id: &str) -> NewWorkflowRun {
    NewWorkflowRun {
        driver: None,
        id: id.into(),
        name: format!("w-{id}"),
        workflow: "w".into(),
        owner: "alice".into(),
        inputs: BTreeMap::from([("task".to_string(), "x".to_string())]),
    }
}

async fn workflow_runs_and_their_logs(url: String) {
    let store = Store::open(&url).await.unwrap();
    let first = store
        .create_workflow_run(&wf_new_run("r1"), wf_started())
        .await
        .unwrap();
    assert_eq!(first.seq, 1);
    assert!(matches!(
        store
            .create_workflow_run(&wf_new_run("r1"), wf_started())
            .await,
        Err(StoreError::Conflict(_))
    ));
    let e = store
        .append_workflow_event(
            "r1",
            WorkflowEventBody::GateRequested {
                step: "g".into(),
                message: "ok?".into(),
                diff: String::new(),
            },
        )
        .await
        .unwrap();
    assert_eq!(e.seq, 2);
    let run = store.get_workflow_run("r1").await.unwrap().unwrap();
    assert_eq!(run.status, WorkflowRunStatus::WaitingGate);
    assert_eq!(run.last_seq, 2);
    assert_eq!(run.owner, "alice");
    assert_eq!(run.inputs["task"], "x");
    store
        .append_workflow_event(
            "r1",
            WorkflowEventBody::StepFinished {
                step: "g".into(),
                status: StepOutcome::Failed,
                output: None,
                cost_usd: 0.0,
                reason: Some("rejected".into()),
            },
        )
        .await
        .unwrap();
    assert_eq!(store.list_workflow_runs(true).await.unwrap().len(), 1);
    store
        .append_workflow_event(
            "r1",
            WorkflowEventBody::WorkflowFinished {
                status: WorkflowRunStatus::Failed,
                reason: Some("step g failed".into()),
            },
        )
        .await
        .unwrap();
    let run = store.get_workflow_run("r1").await.unwrap().unwrap();
    assert_eq!(run.status, WorkflowRunStatus::Failed);
    assert_eq!(run.reason.as_deref(), Some("step g failed"));
    assert!(run.finished_at.is_some());
    assert!(store.list_workflow_runs(true).await.unwrap().is_empty());
    // A finished run's log is closed.
    assert!(matches!(
        store
            .append_workflow_event(
                "r1",
                WorkflowEventBody::WorkflowFinished {
                    status: WorkflowRunStatus::Cancelled,
                    reason: None
                }
            )
            .await,
        Err(StoreError::Invalid(_))
    ));
    let events = store.workflow_events_after("r1", 0, 100).await.unwrap();
    assert_eq!(
        events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![1, 2, 3, 4]
    );
    assert_eq!(events[0].body, wf_started());
    assert_eq!(
        store.workflow_events_after("r1", 2, 1).await.unwrap().len(),
        1
    );
    assert!(
        store
            .append_workflow_event(
                "nope",
                WorkflowEventBody::StepRetry {
                    step: "a".into(),
                    attempt: 2,
                    reason: "x".into()
                }
            )
            .await
            .is_err()
    );
}

async fn workflow_appends_stay_gapless(url: String) {
    let store = Store::open(&url).await.unwrap();
    store
        .create_workflow_run(&wf_new_run("r2"), wf_started())
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..20u32 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .append_workflow_event(
                    "r2",
                    WorkflowEventBody::StepRetry {
                        step: "a".into(),
                        attempt: i,
                        reason: "x".into(),
                    },
                )
                .await
                .unwrap()
                .seq
        }));
    }
    let mut seqs = Vec::new();
    for t in tasks {
        seqs.push(t.await.unwrap());
    }
    seqs.sort();
    assert_eq!(seqs, (2..=21).collect::<Vec<u64>>());
}

both_backends!(workflow_claims_fence_the_drivers_appends);

fn wf_gate(step: &str) -> WorkflowEventBody {
    WorkflowEventBody::GateRequested {
        step: step.into(),
        message: "ok?".into(),
        diff: String::new(),
    }
}

/// A run's driver: a claim is a compare-and-set on the driver and
/// generation (raising it); an append under a fence the run moved past
/// is refused (`Fenced`) and writes nothing; unfenced appends (a gate's
/// decision from any host) go on; a release clears the driver.
async fn workflow_claims_fence_the_drivers_appends(url: String) {
    use crate::Fence;
    let store = Store::open(&url).await.unwrap();
    let mut new = wf_new_run("r3");
    new.driver = Some("a".into());
    store.create_workflow_run(&new, wf_started()).await.unwrap();
    let run = store.get_workflow_run("r3").await.unwrap().unwrap();
    assert_eq!((run.driver.as_deref(), run.driver_gen), (Some("a"), 0));
    let a0 = Fence {
        host: "a".into(),
        generation: 0,
    };
    let e = store
        .append_workflow_event_under("r3", wf_gate("g1"), Some(&a0))
        .await
        .unwrap();
    assert_eq!(e.seq, 2);
    // A claim from a stale driver or generation loses.
    assert_eq!(
        store
            .claim_workflow_run("r3", "b", (None, 0))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .claim_workflow_run("r3", "b", (Some("a"), 5))
            .await
            .unwrap(),
        None
    );
    // `b` takes it over: generation 1; `a`'s appends are fenced and
    // write nothing.
    assert_eq!(
        store
            .claim_workflow_run("r3", "b", (Some("a"), 0))
            .await
            .unwrap(),
        Some(1)
    );
    assert_eq!(
        store
            .claim_workflow_run("r3", "c", (Some("a"), 0))
            .await
            .unwrap(),
        None,
        "of two claims from the same state, one wins"
    );
    let refused = store
        .append_workflow_event_under("r3", wf_gate("g2"), Some(&a0))
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, StoreError::Fenced { holder, .. } if holder == "b"),
        "{refused:?}"
    );
    // The same host under its old generation (a former process) too.
    let b0 = Fence {
        host: "b".into(),
        generation: 0,
    };
    assert!(matches!(
        store
            .append_workflow_event_under("r3", wf_gate("g2"), Some(&b0))
            .await,
        Err(StoreError::Fenced { .. })
    ));
    let run = store.get_workflow_run("r3").await.unwrap().unwrap();
    assert_eq!(run.last_seq, 2);
    assert_eq!(
        store
            .workflow_events_after("r3", 0, 100)
            .await
            .unwrap()
            .len(),
        2
    );
    let b1 = Fence {
        host: "b".into(),
        generation: 1,
    };
    let e = store
        .append_workflow_event_under("r3", wf_gate("g2"), Some(&b1))
        .await
        .unwrap();
    assert_eq!(e.seq, 3);
    // Unfenced (a decision recorded by any host) goes on.
    let e = store
        .append_workflow_event(
            "r3",
            WorkflowEventBody::GateDecided {
                step: "g2".into(),
                approved: true,
                reason: None,
                by: "alice".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(e.seq, 4);
    // A drain clears the driver: `b`'s appends are fenced (no host holds
    // it), and another host claims it from no driver.
    assert_eq!(store.release_workflow_runs("b").await.unwrap(), 1);
    assert!(matches!(
        store
            .append_workflow_event_under("r3", wf_gate("g3"), Some(&b1))
            .await,
        Err(StoreError::Fenced { holder, .. }) if holder == "no host"
    ));
    assert_eq!(
        store
            .claim_workflow_run("r3", "c", (None, 1))
            .await
            .unwrap(),
        Some(2)
    );
    // A finished run is claimed by no one.
    let c2 = Fence {
        host: "c".into(),
        generation: 2,
    };
    store
        .append_workflow_event_under(
            "r3",
            WorkflowEventBody::WorkflowFinished {
                status: WorkflowRunStatus::Succeeded,
                reason: None,
            },
            Some(&c2),
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .claim_workflow_run("r3", "a", (Some("c"), 2))
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.release_workflow_runs("c").await.unwrap(), 0);
    let events = store.workflow_events_after("r3", 0, 100).await.unwrap();
    assert_eq!(
        events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5]
    );
}

/// Several hosts (PostgreSQL only): a host may claim its own runs, runs
/// without a driver, and those of a host that is not live (stopped, or
/// its heartbeat older than a lease) — not those of a live host, nor
/// finished ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn workflow_runs_to_drive_skip_live_drivers() {
    use paddock_protocol::cluster::HostState;
    let db = TestDb::postgres().await;
    let store = Store::open(&db.url).await.unwrap();
    store.register_host("a", None, "0", 10).await.unwrap();
    store.register_host("b", None, "0", 10).await.unwrap();
    store.register_host("gone", None, "0", 10).await.unwrap();
    for (id, driver) in [
        ("r-a", Some("a")),
        ("r-b", Some("b")),
        ("r-none", None),
        ("r-gone", Some("gone")),
        ("r-unknown", Some("never-registered")),
    ] {
        let mut new = wf_new_run(id);
        new.driver = driver.map(str::to_string);
        store.create_workflow_run(&new, wf_started()).await.unwrap();
    }
    store
        .set_host_state("gone", HostState::Stopped)
        .await
        .unwrap();
    let ids = |v: Vec<(String, Option<String>, i64)>| {
        let mut ids: Vec<String> = v.into_iter().map(|r| r.0).collect();
        ids.sort();
        ids
    };
    // For `a`: its own, the driverless, the stopped host's and the
    // unknown host's; not live `b`'s.
    assert_eq!(
        ids(store.workflow_runs_to_drive("a", 60_000).await.unwrap()),
        ["r-a", "r-gone", "r-none", "r-unknown"]
    );
    // A heartbeat older than the lease: not live (only the database's
    // clock counts).
    store.heartbeat("b", HostState::Live, 60_000).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert!(ids(store.workflow_runs_to_drive("a", 1).await.unwrap()).contains(&"r-b".to_string()));
    // `a` claims `b`'s run; then `b`'s claim from what it held loses, and
    // `b`'s own run is `a`'s now (no more `b`'s to take back).
    let runs = store.workflow_runs_to_drive("a", 1).await.unwrap();
    let (_, driver, generation) = runs.iter().find(|r| r.0 == "r-b").unwrap().clone();
    assert_eq!(
        store
            .claim_workflow_run("r-b", "a", (driver.as_deref(), generation))
            .await
            .unwrap(),
        Some(1)
    );
    assert_eq!(
        store
            .claim_workflow_run("r-b", "b", (Some("b"), 0))
            .await
            .unwrap(),
        None
    );
    assert!(
        !ids(store.workflow_runs_to_drive("b", 60_000).await.unwrap()).contains(&"r-b".to_string())
    );
    // A finished run is not listed.
    store
        .append_workflow_event(
            "r-none",
            WorkflowEventBody::WorkflowFinished {
                status: WorkflowRunStatus::Cancelled,
                reason: None,
            },
        )
        .await
        .unwrap();
    assert!(
        !ids(store.workflow_runs_to_drive("a", 60_000).await.unwrap())
            .contains(&"r-none".to_string())
    );
    // SQLite has no hosts: the call names PostgreSQL.
    let dir = tempfile::tempdir().unwrap();
    let lite = Store::open(&format!("sqlite://{}", dir.path().join("p.db").display()))
        .await
        .unwrap();
    assert!(lite.workflow_runs_to_drive("a", 1).await.is_err());
}
