//! End-to-end: delegation to sub-agents in the real `paddock serve`, every
//! agent on the scripted model (parent and children answered by scenario,
//! matched on each one's first message): parallel children started with
//! `wait: false` and collected together; the depth and live-children
//! limits refusing clearly; a child's spend stopping its parent (and
//! itself) at the parent's budget; interrupting and deleting a parent
//! reaching its children; and `kill -9` while a parent waits on two
//! children, after which no second child is made and the collect finishes.

use crate::common;

use common::Server;
use common::scripted::*;
use paddock_protocol::events::{AgentStatus, ErrorCode};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

fn assert_gapless(evs: &[Event]) {
    let seqs = seqs(evs);
    let want: Vec<u64> = (1..=seqs.len() as u64).collect();
    assert_eq!(seqs, want, "seqs are 1..N without gaps or duplicates");
}

/// The results of the agent's calls of `tool`: (success, content).
fn results(evs: &[Event], tool: &str) -> Vec<(bool, String)> {
    matching!(evs, EventBody::ToolResult { tool: t, success, content, .. } if t == tool
        => (*success, content.clone()))
}

/// The ids of the agents whose parent is `id` (the API's filter).
async fn children(s: &Setup, id: &str) -> Vec<String> {
    let list = s.get(&format!("/api/agents?parent={id}")).await;
    list.as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_string())
        .collect()
}

/// Waits until `id` has `n` children, all with status `status`.
async fn wait_children(s: &Setup, id: &str, n: usize, status: &str) -> Vec<String> {
    let started = Instant::now();
    loop {
        let list = s.get(&format!("/api/agents?parent={id}")).await;
        let all = list.as_array().unwrap();
        if all.len() == n && all.iter().all(|a| a["status"] == status) {
            return all
                .iter()
                .map(|a| a["id"].as_str().unwrap().to_string())
                .collect();
        }
        assert!(
            started.elapsed() < DEADLINE,
            "agent {id} never had {n} children {status}: {list}\n{}",
            summary(&s.events(id).await)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The call id of the agent's pending approval (waits for it).
async fn pending_call(s: &Setup, id: &str) -> String {
    let started = Instant::now();
    loop {
        let list = s.get(&format!("/api/approvals?agent={id}")).await;
        if let Some(first) = list["approvals"].as_array().and_then(|a| a.first()) {
            return first["call_id"].as_str().unwrap().to_string();
        }
        assert!(
            started.elapsed() < DEADLINE,
            "no approval pending for {id}: {}",
            summary(&s.events(id).await)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn post(s: &Setup, path: &str, body: Value) -> u16 {
    s.http
        .post(s.server.url(path))
        .json(&body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// A parent that may delegate (`delegation`), unattended.
async fn parent(s: &Setup, task: &str, delegation: Value, extra: Value) -> String {
    let mut body = json!({"approval_mode": "auto", "delegation": delegation});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    s.create_with(task, body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_children_are_collected_together() {
    let s = setup(
        r#"
scenarios:
  - match: "^lead: fan out"
    turns:
      - tool_calls:
          - {name: delegate, arguments: {task: "child: say alpha", wait: false, name: a}}
          - {name: delegate, arguments: {task: "child: say beta", wait: false, name: b}}
      - tool_calls: [{name: collect, arguments: {}}]
      - text: "Both done."
  - match: "^child: say alpha"
    turns:
      - text: "alpha result"
  - match: "^child: say beta"
    turns:
      - text: "beta result"
"#,
        "",
        &[],
    )
    .await;
    let id = parent(&s, "lead: fan out", json!({"max_children": 2}), json!({})).await;
    let evs = s.wait_status(&id, 2, &["idle", "error", "limited"]).await;
    assert_eq!(last_text(&evs), "Both done.", "{}", summary(&evs));
    assert_gapless(&evs);
    // Two handles at once, then one collect with both results.
    let started = results(&evs, "delegate");
    assert_eq!(started.len(), 2, "{}", summary(&evs));
    let mut ids = Vec::new();
    for (ok, content) in &started {
        assert!(ok, "{content}");
        let r: Value = serde_json::from_str(content).unwrap();
        assert_eq!(r["state"], "started", "{r}");
        ids.push(r["id"].as_str().unwrap().to_string());
    }
    let collected = results(&evs, "collect");
    assert_eq!(collected.len(), 1);
    let c: Value = serde_json::from_str(&collected[0].1).unwrap();
    let got: Vec<(String, String, String)> = c["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_string(),
                r["state"].as_str().unwrap().to_string(),
                r["report"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(got.len(), 2, "{c}");
    assert_eq!(
        (got[0].0.as_str(), got[0].1.as_str()),
        (ids[0].as_str(), "finished")
    );
    assert!(got[0].2.starts_with("alpha result"), "{c}");
    assert_eq!(
        (got[1].0.as_str(), got[1].1.as_str()),
        (ids[1].as_str(), "finished")
    );
    assert!(got[1].2.starts_with("beta result"), "{c}");
    // The collect recorded whom it waited for before waiting.
    let recorded = matching!(evs, EventBody::ToolCall { tool, arguments, .. } if tool == "collect"
        => arguments["child_ids"].clone());
    assert_eq!(recorded, [json!(ids)]);
    // Children are ordinary agents, linked both ways.
    let view = s.agent(&id).await;
    assert_eq!(view["children"], json!(ids), "{view}");
    assert_eq!(children(&s, &id).await, ids);
    for (child, name) in ids.iter().zip(["t/a", "t/b"]) {
        let v = s.agent(child).await;
        assert_eq!(v["parent"], json!(id), "{v}");
        assert_eq!(v["name"], name);
        assert_eq!(v["status"], "idle");
        assert_eq!(v["config"]["parent"], json!(id));
        assert!(v["config"].get("delegation").is_none(), "max_depth 1: {v}");
        assert_gapless(&s.events(child).await);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn depth_and_live_children_limits_refuse_clearly() {
    let s = setup(
        r#"
scenarios:
  - match: "^lead: limits"
    turns:
      - tool_calls: [{name: delegate, arguments: {task: "child: nest", name: nester}}]
      - tool_calls:
          - {name: delegate, arguments: {task: "child: block", wait: false, name: blocker, config: {approval_mode: ask-all}}}
          - {name: delegate, arguments: {task: "child: extra", wait: false, name: extra}}
      - text: "limits seen"
  - match: "^child: nest"
    turns:
      - tool_calls: [{name: delegate, arguments: {task: "grandchild: hi"}}]
      - text: "cannot nest"
  - match: "^child: block"
    turns:
      - tool_calls: [{name: list_dir, arguments: {path: "."}}]
      - text: "listed"
"#,
        "",
        &[],
    )
    .await;
    let id = parent(
        &s,
        "lead: limits",
        json!({"max_depth": 1, "max_children": 1}),
        json!({}),
    )
    .await;
    let evs = s.wait_status(&id, 2, &["idle", "error", "limited"]).await;
    assert_eq!(last_text(&evs), "limits seen", "{}", summary(&evs));
    let r = results(&evs, "delegate");
    assert_eq!(r.len(), 3, "{}", summary(&evs));
    // The nesting child finished (its result came back), the blocker is
    // live, so the third was refused, naming the limit.
    let nested: Value = serde_json::from_str(&r[0].1).unwrap();
    assert_eq!(nested["state"], "finished", "{nested}");
    assert!(
        nested["report"]
            .as_str()
            .unwrap()
            .starts_with("cannot nest"),
        "{nested}"
    );
    assert!(r[1].0, "{}", r[1].1);
    assert!(!r[2].0);
    assert!(
        r[2].1.contains("delegation.max_children = 1") && r[2].1.contains("not started"),
        "{}",
        r[2].1
    );
    // Only two children exist; the nesting child's own delegate was
    // refused (it may not delegate: one level less than max_depth 1).
    let kids = children(&s, &id).await;
    assert_eq!(kids.len(), 2, "{kids:?}");
    let nester = &kids[0];
    let nevs = s.events(nester).await;
    let refused = results(&nevs, "delegate");
    assert_eq!(refused.len(), 1);
    assert!(!refused[0].0);
    assert!(
        refused[0].1.contains("this agent may not delegate"),
        "{}",
        refused[0].1
    );
    assert!(children(&s, nester).await.is_empty());
    let all = s.get("/api/agents").await;
    assert_eq!(all.as_array().unwrap().len(), 3, "no grandchild, no extra");
    // The child was not offered the tool at all.
    let offered_to_child: Vec<bool> = s
        .model
        .requests()
        .iter()
        .filter(|r| {
            r.to_string().contains("child: nest") && !r.to_string().contains("lead: limits")
        })
        .map(|r| {
            r["tools"]
                .as_array()
                .map(|t| t.iter().any(|t| t["function"]["name"] == "delegate"))
                .unwrap_or(false)
        })
        .collect();
    assert!(!offered_to_child.is_empty());
    assert!(offered_to_child.iter().all(|o| !o), "{offered_to_child:?}");
    // The blocker works under its own approval mode, asking a human.
    let blocker = &kids[1];
    pending_call(&s, blocker).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_childs_spend_stops_the_parent_at_its_budget() {
    let s = setup(
        r#"
scenarios:
  - match: "^lead: spend"
    turns:
      - tool_calls: [{name: delegate, arguments: {task: "child: spend a lot", name: spender}}]
      - text: "never reached"
  - match: "^child: spend a lot"
    turns:
      - tool_calls: [{name: list_dir, arguments: {path: "."}}]
        usage: {prompt_tokens: 1000000, completion_tokens: 0}
      - text: "never reached either"
"#,
        "",
        &[],
    )
    .await;
    // One child call costs $1 (1M prompt tokens at $1 per million).
    let id = parent(
        &s,
        "lead: spend",
        json!({}),
        json!({"limits": {"max_cost_usd": 0.5}}),
    )
    .await;
    let evs = s.wait_status(&id, 2, &["idle", "error", "limited"]).await;
    let view = s.agent(&id).await;
    assert_eq!(view["status"], "limited", "{}", summary(&evs));
    assert_eq!(view["error_code"], "budget_exceeded");
    let reason = view["status_reason"].as_str().unwrap();
    assert!(reason.contains("limits.max_cost_usd"), "{reason}");
    // Its own spend is far under the budget: its child's is what stops it.
    assert!(view["usage"]["cost_usd"].as_f64().unwrap() < 0.5, "{view}");
    let kids = children(&s, &id).await;
    assert_eq!(kids.len(), 1);
    let child = s.agent(&kids[0]).await;
    assert_eq!(child["status"], "limited", "{child}");
    assert_eq!(child["error_code"], "budget_exceeded");
    let why = child["status_reason"].as_str().unwrap();
    assert!(
        why.contains(
            "parent agent t's lifetime budget (limits.max_cost_usd), which covers its sub-agents"
        ),
        "{why}"
    );
    assert!(child["usage"]["cost_usd"].as_f64().unwrap() >= 1.0);
    // The parent got the child's outcome as its result.
    let r = results(&evs, "delegate");
    assert_eq!(r.len(), 1);
    let report: Value = serde_json::from_str(&r[0].1).unwrap();
    assert_eq!(report["status"], "limited", "{report}");
    let codes = matching!(evs, EventBody::Error { code, .. } => *code);
    assert_eq!(codes.last(), Some(&ErrorCode::BudgetExceeded));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupting_or_deleting_a_parent_reaches_its_children() {
    let s = setup(
        r#"
scenarios:
  - match: "^lead: wait on one"
    turns:
      - tool_calls: [{name: delegate, arguments: {task: "child: ask first", config: {approval_mode: ask-all}}}]
      - text: "done"
  - match: "^lead: two then collect"
    turns:
      - tool_calls:
          - {name: delegate, arguments: {task: "child: ask second", wait: false, config: {approval_mode: ask-all}}}
          - {name: delegate, arguments: {task: "child: ask third", wait: false, config: {approval_mode: ask-all}}}
      - tool_calls: [{name: collect, arguments: {}}]
      - text: "done"
  - match: "^child: ask"
    turns:
      - tool_calls: [{name: list_dir, arguments: {path: "."}}]
      - text: "listed"
"#,
        "",
        &[],
    )
    .await;
    // Interrupt: the parent waits on a child waiting for an approval.
    let one = parent(&s, "lead: wait on one", json!({}), json!({})).await;
    let kid = wait_children(&s, &one, 1, "waiting_approval")
        .await
        .remove(0);
    assert_eq!(
        post(&s, &format!("/api/agents/{one}/interrupt"), json!({})).await,
        202
    );
    let evs = s.wait_status(&one, 2, &["idle", "error"]).await;
    let reasons = matching!(evs, EventBody::AgentStatus { status, reason, .. }
        if *status == AgentStatus::Idle => reason.clone());
    assert_eq!(
        reasons.last(),
        Some(&Some("interrupted by the user".to_string())),
        "{}",
        summary(&evs)
    );
    let kevs = s.wait_status(&kid, 2, &["idle"]).await;
    let kreasons = matching!(kevs, EventBody::AgentStatus { status, reason, .. }
        if *status == AgentStatus::Idle => reason.clone());
    assert_eq!(
        kreasons.last(),
        Some(&Some("interrupted by the user".to_string())),
        "the child was interrupted too: {}",
        summary(&kevs)
    );
    // Delete: the parent waits in `collect` on two children.
    let two = parent(
        &s,
        "lead: two then collect",
        json!({"max_children": 2}),
        json!({}),
    )
    .await;
    let kids = wait_children(&s, &two, 2, "waiting_approval").await;
    let r = s
        .http
        .delete(s.server.url(&format!("/api/agents/{two}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    for k in &kids {
        let v = s.agent(k).await;
        assert_eq!(v["status"], "stopped", "{v}");
        assert!(v["deleted_at"].is_string(), "{v}");
    }
    let live = s.get("/api/agents").await;
    let ids: Vec<&str> = live
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert!(!ids.contains(&two.as_str()) && kids.iter().all(|k| !ids.contains(&k.as_str())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_while_a_parent_collects_resumes_without_a_second_child() {
    let mut s = setup(
        r#"
scenarios:
  - match: "^lead: survive"
    turns:
      - tool_calls:
          - {name: delegate, arguments: {task: "child: first", wait: false, name: one, config: {approval_mode: ask-all}}}
          - {name: delegate, arguments: {task: "child: second", wait: false, name: two, config: {approval_mode: ask-all}}}
      - tool_calls: [{name: collect, arguments: {wait: all}}]
      - text: "collected both"
  - match: "^child: first"
    turns:
      - tool_calls: [{name: list_dir, arguments: {path: "."}}]
      - text: "first done"
  - match: "^child: second"
    turns:
      - tool_calls: [{name: list_dir, arguments: {path: "."}}]
      - text: "second done"
"#,
        "",
        &[],
    )
    .await;
    let id = parent(&s, "lead: survive", json!({"max_children": 2}), json!({})).await;
    let kids = wait_children(&s, &id, 2, "waiting_approval").await;
    // The parent is in its collect when the host dies.
    let started = Instant::now();
    loop {
        let evs = s.events(&id).await;
        if !matching!(evs, EventBody::ToolCall { tool, .. } if tool == "collect" => ()).is_empty() {
            break;
        }
        assert!(started.elapsed() < DEADLINE, "{}", summary(&evs));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    s.server.kill9();
    s.server = Server::start(&s.paddock, &s.config, None, &[]);
    // The children still wait for their approvals: approve them.
    for k in &kids {
        let call = pending_call(&s, k).await;
        let status = post(
            &s,
            &format!("/api/agents/{k}/approvals/{call}"),
            json!({"approved": true}),
        )
        .await;
        assert_eq!(status, 200);
    }
    let evs = s.wait_status(&id, 2, &["idle", "error", "limited"]).await;
    assert_eq!(last_text(&evs), "collected both", "{}", summary(&evs));
    assert_gapless(&evs);
    // No second child: two delegate calls, each started once.
    assert_eq!(children(&s, &id).await, kids);
    assert_eq!(s.get("/api/agents").await.as_array().unwrap().len(), 3);
    let calls = matching!(evs, EventBody::ToolCall { tool, .. } => tool.clone());
    assert_eq!(
        calls,
        ["delegate", "delegate", "collect"],
        "{}",
        summary(&evs)
    );
    let restarted = matching!(evs, EventBody::Error { code, message, .. }
        if *code == ErrorCode::HostRestarted => message.clone());
    assert!(
        restarted
            .iter()
            .any(|m| m.contains("taking it up again with the sub-agents its log recorded")),
        "the collect was taken up again, not abandoned: {restarted:?}"
    );
    let c = results(&evs, "collect");
    assert_eq!(c.len(), 1);
    let collected: Value = serde_json::from_str(&c[0].1).unwrap();
    let reports: Vec<&str> = collected["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["report"].as_str().unwrap())
        .collect();
    assert_eq!(reports.len(), 2, "{collected}");
    assert!(reports[0].starts_with("first done") && reports[1].starts_with("second done"));
    for k in &kids {
        let kevs = s.events(k).await;
        assert_gapless(&kevs);
        assert_eq!(
            matching!(kevs, EventBody::ToolCall { .. }).len(),
            1,
            "each child's call ran once"
        );
    }
}
