//! End-to-end cost control with the real `paddock serve` and the scripted
//! model (whose usage numbers are fixed per turn, so costs are exact):
//! per-agent budgets stop an agent before the call that would exceed them,
//! global budgets set through the API stop agents and survive a restart,
//! and a model router sends reading turns to the cheap model, editing turns
//! to the strong one, and escalates after the cheap one fails twice.

use crate::common;

use common::scripted::*;
use common::{ADMIN_TOKEN, Paddock, Server, scripted_config};
use paddock_core::agent::ModelRef;
use serde_json::{Value, json};

/// Two more models on the scripted provider and a router over them.
const ROUTED: &str = r#"
[[providers.models]]
name = "mini"
input_per_mtok = 0.15
output_per_mtok = 0.6
cached_input_per_mtok = 0.075

[[providers.models]]
name = "big"
input_per_mtok = 2.5
output_per_mtok = 10.0
cached_input_per_mtok = 1.25

[[routers]]
name = "auto"
cheap = {provider = "scripted", model = "mini"}
strong = {provider = "scripted", model = "big"}
"#;

/// (input, cached, output) USD per million tokens of the configured models.
fn price(model: &str) -> (f64, f64, f64) {
    match model {
        "scripted" => (1.0, 0.5, 2.0),
        "mini" => (0.15, 0.075, 0.6),
        "big" => (2.5, 1.25, 10.0),
        other => panic!("no price for {other}"),
    }
}

/// The cost of a call, computed as the host must: fresh input, cached
/// input and output tokens at their prices.
fn cost(model: &str, input: u64, cached: u64, output: u64) -> f64 {
    let (i, c, o) = price(model);
    ((input - cached) as f64 * i + cached as f64 * c + output as f64 * o) / 1_000_000.0
}

/// The requests the scripted model received, through its HTTP log.
async fn model_requests(s: &Setup) -> Vec<Value> {
    let url = format!("{}/_scripted/requests", s.model.base_url());
    get_json(&s.http, &url).await.as_array().unwrap().clone()
}

/// The requests of one agent (by its prompt cache key).
async fn requests_of(s: &Setup, id: &str) -> Vec<Value> {
    let key = format!("paddock-{id}");
    model_requests(s)
        .await
        .into_iter()
        .filter(|r| r["prompt_cache_key"] == key.as_str())
        .collect()
}

/// An `error` event's data.
#[derive(Debug)]
struct ErrorEvent {
    code: paddock_protocol::events::ErrorCode,
    message: String,
    recoverable: bool,
}

fn the_error(evs: &[Event]) -> ErrorEvent {
    matching!(evs, EventBody::Error { code, message, recoverable, .. } => ErrorEvent {
        code: *code,
        message: message.clone(),
        recoverable: *recoverable,
    })
    .pop()
    .unwrap_or_else(|| panic!("no error event: {}", summary(evs)))
}

/// The latest status and its reason.
fn status_of(evs: &[Event]) -> (AgentStatus, Option<String>) {
    statuses(evs).pop().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_budget_stops_it_before_the_call_that_would_exceed_it() {
    let s = setup(
        r#"
turns:
  - tool_calls: [{name: list_dir, arguments: {path: "."}}]
    usage: {prompt_tokens: 100000, completion_tokens: 50000}
  - text: "Never sent."
"#,
        "",
        &[],
    )
    .await;
    // First call: 100k input at $1/M + 50k output at $2/M = $0.20. The
    // second call's prompt is longer than the first (calibrated on the
    // provider's 100k), so it is estimated above $0.10: over $0.25.
    for (limits, budget) in [
        (json!({"daily_usd": 0.25}), "agent daily budget"),
        (json!({"monthly_usd": 0.25}), "agent monthly budget"),
        (json!({"max_cost_usd": 0.25}), "agent lifetime budget"),
    ] {
        let id = s
            .create_with("look around", json!({"limits": limits}))
            .await;
        let evs = s.wait_status(&id, 2, &["idle", "error", "limited"]).await;
        let err = the_error(&evs);
        assert_eq!(
            err.code,
            paddock_protocol::events::ErrorCode::BudgetExceeded,
            "{}",
            summary(&evs)
        );
        assert!(!err.recoverable);
        let message = err.message.as_str();
        assert!(message.contains(budget), "{message}");
        assert!(message.contains("of $0.250000"), "{message}");
        assert!(message.contains("$0.200000 spent"), "{message}");
        assert!(message.contains("nothing was sent"), "{message}");
        let (status, reason) = status_of(&evs);
        assert_eq!(status, AgentStatus::Limited, "a budget is a limit");
        assert_eq!(reason.as_deref(), Some(message));
        // One call was made and paid; the second was never sent.
        let usage = matching!(evs, EventBody::Usage { cost_usd, .. } => *cost_usd);
        assert_eq!(usage, [cost("scripted", 100_000, 0, 50_000)]);
        assert_eq!(requests_of(&s, &id).await.len(), 1, "{}", summary(&evs));
        assert_eq!(matching!(evs, EventBody::ToolResult { .. }).len(), 1);
        let agent = s.agent(&id).await;
        assert_eq!(agent["status"], "limited");
        assert_eq!(agent["error_code"], "budget_exceeded");
    }
    // A budget with room lets the same run finish.
    let id = s
        .create_with("look around", json!({"limits": {"daily_usd": 1.0}}))
        .await;
    let evs = s.wait_status(&id, 2, &["idle", "error", "limited"]).await;
    assert_eq!(last_text(&evs), "Never sent.", "{}", summary(&evs));
    // Budgets are checked at creation.
    let r = s
        .http
        .post(s.server.url("/api/agents"))
        .json(&json!({"workspace": s.workspace.path(), "limits": {"daily_usd": -1}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("limits.daily_usd"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_without_a_price_cannot_be_budgeted() {
    let s = setup(
        "turns:\n  - text: \"Hi.\"\n",
        "[[providers.models]]\nname = \"local\"\n",
        &[],
    )
    .await;
    let id = s
        .create_with(
            "hello",
            json!({"model": {"provider": "scripted", "model": "local"}, "limits": {"daily_usd": 5}}),
        )
        .await;
    let evs = s.wait_status(&id, 2, &["idle", "error", "limited"]).await;
    let err = the_error(&evs);
    assert_eq!(
        err.code,
        paddock_protocol::events::ErrorCode::BudgetPriceUnknown,
        "{}",
        summary(&evs)
    );
    assert!(err.message.contains("`local`"), "{err:?}");
    assert!(requests_of(&s, &id).await.is_empty());
    // Without a budget the unpriced model runs (recorded as unpriced).
    let id = s
        .create_with(
            "hello",
            json!({"model": {"provider": "scripted", "model": "local"}}),
        )
        .await;
    let evs = s.wait_status(&id, 2, &["idle", "error", "limited"]).await;
    assert_eq!(last_text(&evs), "Hi.", "{}", summary(&evs));
    assert!(!matching!(evs, EventBody::Usage { price_known, .. } => *price_known)[0]);
}

async fn put_budgets(s: &Setup, server: &Server, body: Value, admin: bool) -> reqwest::Response {
    let mut req = s.http.put(server.url("/api/config/budgets")).json(&body);
    if admin {
        req = req.bearer_auth(ADMIN_TOKEN);
    }
    req.send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn global_budgets_set_through_the_api_stop_agents_and_survive_a_restart() {
    let mut s = setup(
        r#"
turns:
  - text: "Hello."
    usage: {prompt_tokens: 100000, completion_tokens: 50000, cached_tokens: 20000}
"#,
        "[budgets]\nmonthly_usd = 100.0\n",
        &[],
    )
    .await;
    let b = s.get("/api/config/budgets").await;
    assert_eq!(b["source"], "config");
    assert_eq!(b["daily_usd"], Value::Null);
    assert_eq!(b["monthly_usd"], 100.0);
    assert_eq!(b["spent_today_usd"], 0.0);

    let first = s.create("hello").await;
    let evs = s
        .wait_status(&first, 2, &["idle", "error", "limited"])
        .await;
    assert_eq!(last_text(&evs), "Hello.", "{}", summary(&evs));
    let spent: f64 = matching!(evs, EventBody::Usage { cost_usd, .. } => cost_usd)
        .into_iter()
        .sum();
    assert_eq!(spent, cost("scripted", 100_000, 20_000, 50_000));
    let b = s.get("/api/config/budgets").await;
    assert_eq!(b["spent_today_usd"].as_f64().unwrap(), spent);
    assert_eq!(b["spent_this_month_usd"].as_f64().unwrap(), spent);

    // Only the admin may change them.
    let r = put_budgets(&s, &s.server, json!({"daily_usd": spent}), false).await;
    assert_eq!(r.status(), 403, "the user token is not the admin's");
    assert_eq!(s.get("/api/config/budgets").await["source"], "config");
    for bad in [
        json!({"daily_usd": -1}),
        json!({"daily": 1}),
        json!({"daily_usd": "1"}),
    ] {
        let r = put_budgets(&s, &s.server, bad.clone(), true).await;
        assert_eq!(r.status(), 400, "{bad}");
    }
    // Today's budget is exactly what was spent: any further call exceeds it.
    let r = put_budgets(
        &s,
        &s.server,
        json!({"daily_usd": spent, "monthly_usd": 50}),
        true,
    )
    .await;
    assert_eq!(r.status(), 200);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["source"], "api");
    assert_eq!(b["daily_usd"].as_f64().unwrap(), spent);
    assert_eq!(b["monthly_usd"], 50.0);

    let second = s.create("hello again").await;
    let evs = s
        .wait_status(&second, 2, &["idle", "error", "limited"])
        .await;
    let err = the_error(&evs);
    assert_eq!(
        err.code,
        paddock_protocol::events::ErrorCode::BudgetExceeded,
        "{}",
        summary(&evs)
    );
    assert!(
        err.message
            .contains("global daily budget (budgets.daily_usd)"),
        "{err:?}"
    );
    assert_eq!(status_of(&evs).0, AgentStatus::Limited);
    assert!(requests_of(&s, &second).await.is_empty());
    assert_eq!(model_requests(&s).await.len(), 1);

    // A restart keeps the API's budgets over the config's, and enforces them.
    s.server.kill9();
    s.server = Server::start(&s.paddock, &s.config, None, &[]);
    let b = s.get("/api/config/budgets").await;
    assert_eq!(b["source"], "api", "{b}");
    assert_eq!(b["daily_usd"].as_f64().unwrap(), spent);
    assert_eq!(b["monthly_usd"], 50.0);
    assert_eq!(b["spent_today_usd"].as_f64().unwrap(), spent);
    let last = s.agent(&second).await["last_seq"].as_u64().unwrap();
    let r = s
        .http
        .post(s.server.url(&format!("/api/agents/{second}/messages")))
        .json(&json!({"text": "try again"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let evs = s.wait_status(&second, last + 1, &["limited"]).await;
    assert_eq!(
        the_error(&evs).code,
        paddock_protocol::events::ErrorCode::BudgetExceeded
    );
    assert_eq!(model_requests(&s).await.len(), 1, "still nothing sent");
    // Lifting the cap lets it run.
    let r = put_budgets(&s, &s.server, json!({}), true).await;
    assert_eq!(r.status(), 200);
    let last = s.agent(&second).await["last_seq"].as_u64().unwrap();
    s.http
        .post(s.server.url(&format!("/api/agents/{second}/messages")))
        .json(&json!({"text": "and again"}))
        .send()
        .await
        .unwrap();
    let evs = s.wait_status(&second, last + 1, &["idle"]).await;
    assert_eq!(last_text(&evs), "Hello.");
}

/// The `route` of each usage event, with its model and cost.
fn routes(evs: &[Event]) -> Vec<(String, String, String, f64)> {
    matching!(evs, EventBody::Usage { model, route, cost_usd, .. } => (
        model.clone(),
        route.as_ref().map_or("-", |r| r.tier.as_str()).to_string(),
        route.as_ref().map_or("-", |r| r.reason.as_str()).to_string(),
        *cost_usd,
    ))
}

fn route(model: &str, tier: &str, reason: &str, cost: f64) -> (String, String, String, f64) {
    (model.into(), tier.into(), reason.into(), cost)
}

fn request_models(reqs: &[Value]) -> Vec<String> {
    reqs.iter()
        .map(|r| r["model"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_router_reads_with_the_cheap_model_and_edits_with_the_strong_one() {
    let s = setup(
        r#"
turns:
  - tool_calls: [{name: read_file, arguments: {path: config.txt}}]
    usage: {prompt_tokens: 1000, completion_tokens: 100, cached_tokens: 200}
  - tool_calls: [{name: write_file, arguments: {path: config.txt, content: "color = blue\n"}}]
    usage: {prompt_tokens: 2000, completion_tokens: 200}
  - text: "Done."
    usage: {prompt_tokens: 3000, completion_tokens: 50, cached_tokens: 1000}
"#,
        ROUTED,
        &[],
    )
    .await;
    std::fs::write(s.workspace.path().join("config.txt"), "color = red\n").unwrap();
    let id = s
        .create_with("make it blue", json!({"router": "auto"}))
        .await;
    let evs = s.wait_status(&id, 2, &["idle", "error", "limited"]).await;
    assert_eq!(last_text(&evs), "Done.", "{}", summary(&evs));
    assert_eq!(
        std::fs::read_to_string(s.workspace.path().join("config.txt")).unwrap(),
        "color = blue\n"
    );
    assert_eq!(
        request_models(&requests_of(&s, &id).await),
        ["mini", "mini", "big"]
    );
    assert_eq!(
        routes(&evs),
        [
            route(
                "mini",
                "cheap",
                "first call of the run (first_call = cheap)",
                cost("mini", 1000, 200, 100)
            ),
            route(
                "mini",
                "cheap",
                "the previous turn only read: read_file",
                cost("mini", 2000, 0, 200)
            ),
            route(
                "big",
                "strong",
                "the previous turn called a tool that is not read-only: write_file",
                cost("big", 3000, 1000, 50)
            ),
        ]
    );
    let usage = matching!(evs, EventBody::Usage { provider, route, price_known, .. }
        => (provider, route, *price_known));
    for (provider, route, price_known) in usage {
        assert_eq!(provider, "scripted");
        let route = route.as_ref().expect("a routed call says how");
        assert_eq!(route.router, "auto");
        assert_eq!(
            route.strong,
            ModelRef {
                provider: "scripted".into(),
                model: "big".into()
            }
        );
        assert!(price_known);
    }
    let total =
        cost("mini", 1000, 200, 100) + cost("mini", 2000, 0, 200) + cost("big", 3000, 1000, 50);
    let agent = s.agent(&id).await;
    assert!((agent["usage"]["cost_usd"].as_f64().unwrap() - total).abs() < 1e-12);
    assert_eq!(agent["config"]["router"], "auto");
    assert_eq!(
        agent["config"]["model"],
        json!({"provider": "scripted", "model": "big"})
    );
    // The cost analysis prices the same tokens on the strong model.
    let ca = s.get("/api/metrics/cost-analysis").await;
    let all_strong =
        cost("big", 1000, 200, 100) + cost("big", 2000, 0, 200) + cost("big", 3000, 1000, 50);
    assert_eq!(ca["routing"]["routed_calls"], 3, "{ca}");
    assert_eq!(ca["routing"]["cheap_calls"], 2);
    assert!((ca["routing"]["cost_usd"].as_f64().unwrap() - total).abs() < 1e-12);
    assert!((ca["routing"]["all_strong_usd"].as_f64().unwrap() - all_strong).abs() < 1e-12);
    assert!(
        (ca["routing"]["saved_usd"].as_f64().unwrap() - (all_strong - total)).abs() < 1e-12,
        "{ca}"
    );
    // The routers, as the dashboard lists them.
    let routers = s.get("/api/config/routers").await;
    assert_eq!(routers[0]["name"], "auto", "{routers}");
    assert_eq!(routers[0]["strong"]["model"], "big");
    assert_eq!(routers[0]["escalate_after_failures"], 2);
    // An agent with a plain model records no route.
    let plain = s.create("make it blue").await;
    let evs = s
        .wait_status(&plain, 2, &["idle", "error", "limited"])
        .await;
    assert!(
        matching!(evs, EventBody::Usage { route, .. } => route.is_none())
            .into_iter()
            .all(|none| none)
    );
    // Unknown routers, and a model with a router, are refused at creation.
    for (body, words) in [
        (json!({"router": "nope"}), "router: no router named `nope`"),
        (
            json!({"router": "auto", "model": {"provider": "scripted", "model": "big"}}),
            "model, router",
        ),
        (json!({"router": 7}), "router"),
    ] {
        let mut body = body;
        body["workspace"] = json!(s.workspace.path());
        let r = s
            .http
            .post(s.server.url("/api/agents"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{body}");
        let v: Value = r.json().await.unwrap();
        assert!(
            v["error"]["message"].as_str().unwrap().contains(words),
            "{v}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_router_escalates_after_two_cheap_turns_whose_tools_all_failed() {
    let s = setup(
        r#"
turns:
  - tool_calls: [{name: read_file, arguments: {path: missing-1.txt}}]
    usage: {prompt_tokens: 500, completion_tokens: 10}
  - tool_calls: [{name: read_file, arguments: {path: missing-2.txt}}]
    usage: {prompt_tokens: 600, completion_tokens: 10}
  - tool_calls: [{name: list_dir, arguments: {path: "."}}]
    usage: {prompt_tokens: 700, completion_tokens: 10}
  - text: "Found nothing."
    usage: {prompt_tokens: 800, completion_tokens: 10}
"#,
        ROUTED,
        &[],
    )
    .await;
    let id = s
        .create_with("find the file", json!({"router": "auto"}))
        .await;
    let evs = s.wait_status(&id, 2, &["idle", "error", "limited"]).await;
    assert_eq!(last_text(&evs), "Found nothing.", "{}", summary(&evs));
    assert_eq!(
        request_models(&requests_of(&s, &id).await),
        ["mini", "mini", "big", "mini"]
    );
    let r = routes(&evs);
    assert_eq!(r[2].1, "strong");
    assert_eq!(
        r[2].2,
        "the cheap model failed 2 times in a row (escalate_after_failures = 2)"
    );
    assert_eq!(r[2].3, cost("big", 700, 0, 10));
    // The strong turn succeeded: reading goes back to the cheap model.
    assert_eq!(
        (r[3].1.as_str(), r[3].2.as_str()),
        ("cheap", "the previous turn only read: list_dir")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_router_escalates_after_two_failed_cheap_model_calls() {
    let model = model(
        r#"
turns:
  - text: "Hello."
    fault: {type: server_error, times: 2}
    usage: {prompt_tokens: 1000, completion_tokens: 10}
"#,
    )
    .await;
    // A provider without retries, so each failed ask is a failed call.
    let extra = format!(
        r#"
[[providers]]
name = "flaky"
base_url = "{}"
max_retries = 0
[[providers.models]]
name = "mini"
input_per_mtok = 0.15
output_per_mtok = 0.6
[[providers.models]]
name = "big"
input_per_mtok = 2.5
output_per_mtok = 10.0

[[routers]]
name = "flaky"
cheap = {{provider = "flaky", model = "mini"}}
strong = {{provider = "flaky", model = "big"}}
"#,
        model.base_url()
    );
    let paddock = Paddock::new();
    let config = scripted_config(paddock.data_dir(), &model.base_url(), &extra);
    let server = Server::start(&paddock, &config, None, &[]);
    let s = Setup {
        paddock,
        server,
        model,
        workspace: tempfile::tempdir().unwrap(),
        config,
        http: common::client(),
    };
    let id = s.create_with("hi", json!({"router": "flaky"})).await;
    let evs = s.wait_status(&id, 2, &["idle", "error", "limited"]).await;
    assert_eq!(last_text(&evs), "Hello.", "{}", summary(&evs));
    assert_eq!(
        request_models(&requests_of(&s, &id).await),
        ["mini", "mini", "big"]
    );
    let failures = matching!(evs, EventBody::Error { code, recoverable, .. }
        if *code == paddock_protocol::events::ErrorCode::ModelFailed => *recoverable);
    assert_eq!(failures.len(), 2, "{}", summary(&evs));
    assert!(failures.iter().all(|recoverable| *recoverable));
    let r = routes(&evs);
    assert_eq!(r.len(), 1);
    assert_eq!(
        r[0],
        route(
            "big",
            "strong",
            "the cheap model failed 2 times in a row (escalate_after_failures = 2)",
            cost("big", 1000, 0, 10)
        )
    );
    assert_eq!(s.agent(&id).await["status"], "idle");
}
