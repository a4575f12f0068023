use super::*;
use chrono::Utc;
use paddock_protocol::events::{AgentStatus, Event, EventBody};
use paddock_store::ApprovalStatus;

fn ev(agent: &str, seq: u64, body: EventBody) -> Event {
    Event {
        seq,
        agent_id: agent.into(),
        ts: Utc::now(),
        body,
    }
}

fn usage(model: &str, input: u64, cached: u64, output: u64, cost: f64, known: bool) -> EventBody {
    EventBody::Usage {
        provider: "p".into(),
        model: model.into(),
        input_tokens: input,
        output_tokens: output,
        cached_tokens: cached,
        cost_usd: cost,
        price_known: known,
        duration_ms: 1500,
        ttft_ms: Some(500),
        attempts: 1,
        masked_tokens_saved: 0,
        route: None,
        reasoning_tokens: 0,
        failover: Vec::new(),
    }
}

fn result(tool: &str, ok: bool, ms: u64) -> EventBody {
    EventBody::ToolResult {
        call_id: format!("c-{tool}-{ms}"),
        tool: tool.into(),
        success: ok,
        content: "x".into(),
        duration_ms: ms,
        truncated_bytes: 0,
        stripped_chars: 0,
        exit_code: None,
        approval_wait_ms: None,
    }
}

fn sample_value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[test]
fn counters_add_up_and_render_as_prometheus_text() {
    let m = Metrics::new().unwrap();
    m.observe(&ev("a", 1, usage("m1", 1000, 400, 50, 0.25, true)));
    m.observe(&ev("b", 1, usage("m1", 500, 0, 10, 0.5, true)));
    m.observe(&ev("b", 2, usage("local", 10, 0, 1, 0.0, false)));
    m.observe(&ev("a", 2, result("read_file", true, 3)));
    m.observe(&ev("a", 3, result("read_file", false, 7)));
    m.observe(&ev(
        "a",
        4,
        EventBody::Error {
            code: ErrorCode::ModelRetry,
            message: "x".into(),
            recoverable: true,
            attempt: None,
            max_attempts: None,
            retry_in_ms: None,
        },
    ));
    let text = m
        .render(
            &[AgentStatus::Idle, AgentStatus::Idle, AgentStatus::Thinking],
            &["running".to_string()],
        )
        .unwrap();
    let v = |s: &str| sample_value(&text, s);
    assert_eq!(
        v(r#"paddock_model_calls_total{model="m1",provider="p"}"#),
        Some(2.0)
    );
    assert_eq!(
        v(r#"paddock_model_tokens_total{kind="input",model="m1",provider="p"}"#),
        Some(1500.0)
    );
    assert_eq!(
        v(r#"paddock_model_tokens_total{kind="cached",model="m1",provider="p"}"#),
        Some(400.0)
    );
    assert_eq!(
        v(r#"paddock_model_cost_usd_total{model="m1",provider="p"}"#),
        Some(0.75)
    );
    assert_eq!(
        v(r#"paddock_model_unpriced_calls_total{model="local",provider="p"}"#),
        Some(1.0)
    );
    assert_eq!(
        v(r#"paddock_tool_calls_total{outcome="failure",tool="read_file"}"#),
        Some(1.0)
    );
    assert_eq!(v(r#"paddock_errors_total{code="model_retry"}"#), Some(1.0));
    assert_eq!(v(r#"paddock_agents{status="idle"}"#), Some(2.0));
    assert_eq!(v(r#"paddock_agents{status="stopped"}"#), Some(0.0));
    assert_eq!(v(r#"paddock_mcp_servers{state="running"}"#), Some(1.0));
    assert!(text.contains("# TYPE paddock_model_call_duration_seconds histogram"));
    assert!(!text.contains("agent_id"), "no agent ids as labels");
}

#[test]
fn a_label_never_takes_more_than_the_cap() {
    let m = Metrics::new().unwrap();
    for i in 0..(MAX_LABEL_VALUES + 50) {
        m.observe(&ev("a", 1, result(&format!("tool{i}"), true, 1)));
    }
    let text = m.render(&[], &[]).unwrap();
    let tools = text
        .lines()
        .filter(|l| l.starts_with("paddock_tool_calls_total{"))
        .count();
    assert_eq!(tools, MAX_LABEL_VALUES + 1, "the cap plus `other`");
    assert_eq!(
        sample_value(
            &text,
            r#"paddock_tool_calls_total{outcome="success",tool="other"}"#
        ),
        Some(50.0)
    );
}

fn record(id: &str) -> paddock_store::AgentRecord {
    paddock_store::AgentRecord {
        id: id.into(),
        name: id.into(),
        config: serde_json::from_value(serde_json::json!({
            "name": id,
            "model": {"provider": "p", "model": "m1"},
            "workspace": "/tmp",
            "mcp_servers": ["everything"],
        }))
        .unwrap(),
        status: AgentStatus::Idle,
        status_reason: None,
        status_code: None,
        created_at: Utc::now() - chrono::Duration::seconds(90),
        updated_at: Utc::now(),
        deleted_at: None,
        owner: "local".into(),
        host: None,
        last_seq: 0,
        usage: Default::default(),
    }
}

#[test]
fn agent_stats_reduce_in_order_only() {
    let mut s = agents::AgentStats::new(&record("a"));
    let asked = EventBody::ApprovalRequested {
        call_id: "c1".into(),
        tool: "write_file".into(),
        arguments: serde_json::json!({}),
        level: paddock_protocol::policy::RiskLevel::Medium,
        reasons: vec![],
        diff: None,
        remember: paddock_protocol::events::RememberRules {
            agent: "a".into(),
            always: "b".into(),
        },
        expires_at: None,
    };
    let decided = EventBody::ApprovalDecided {
        call_id: "c1".into(),
        tool: "write_file".into(),
        approved: false,
        status: ApprovalStatus::Denied,
        by: "me".into(),
        reason: None,
        rule: None,
        rule_scope: None,
    };
    let bodies = [
        EventBody::MessageUser { text: "hi".into() },
        usage("m1", 1000, 250, 100, 0.5, true),
        result("read_file", true, 10),
        result("read_file", false, 30),
        asked,
        decided,
        usage("m1", 2000, 1000, 50, 0.25, true),
    ];
    for (i, b) in bodies.into_iter().enumerate() {
        assert!(s.apply(&ev("a", i as u64 + 1, b)));
    }
    assert!(!s.apply(&ev("a", 9, EventBody::MessageUser { text: "gap".into() })));
    let v = s.view(Utc::now(), &[("everything".into(), "running".into())]);
    assert_eq!(v.events, 7);
    assert_eq!(v.turns, 1);
    assert_eq!(v.model.calls, 2);
    assert_eq!(v.tokens.input, 3000);
    assert_eq!(v.tokens.cached_share, Some(1250.0 / 3000.0));
    assert_eq!(v.cost_usd, 0.75);
    assert_eq!(v.conversation_tokens, 2050);
    let ttft = v.model.ttft_ms.unwrap();
    assert_eq!((ttft.p50, ttft.samples), (500.0, 2));
    // 100 tokens in 1 s after the first token, then 50.
    let tps = v.model.tokens_per_second.unwrap();
    assert_eq!((tps.p50, tps.p95), (50.0, 100.0));
    let tool = &v.tools[0];
    assert_eq!(
        (tool.calls, tool.failures, tool.error_rate),
        (2, 1, Some(0.5))
    );
    assert_eq!(tool.duration_ms.unwrap().p95, 30.0);
    assert_eq!(
        (v.approvals.asked, v.approvals.denied, v.approvals.pending),
        (1, 1, 0)
    );
    assert_eq!(v.mcp_servers[0].state, "running");
    assert!(v.uptime_secs >= 90);
}
