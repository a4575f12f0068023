//! End-to-end: lifecycle hooks (`hooks` world, `paddock:plugin@0.2.0`) in
//! the real `paddock serve`, agents on the scripted model, with the
//! `hook-probe` test plugin: a tool call denied, another's arguments
//! rewritten (the tool sees the new ones, the log keeps both), a result
//! redacted before the model and the log see it, context added to every
//! model call, the notification events delivered; a hook that traps, hangs
//! or runs out of memory makes a human decide or withholds the result,
//! never lets more through; and a `0.1.0` plugin runs beside `0.2.0` ones.

use crate::common;

use common::scripted::*;
use common::{Paddock, describe, test_plugins_dir};
use paddock_protocol::hooks::{HookEvent, HookOutcome, HookRecord};
use serde_json::{Value, json};
use std::time::Duration;

const SCRIPT: &str = r#"
scenarios:
  - match: "^hooks at work"
    turns:
      - tool_calls: [{name: write_file, arguments: {path: forbidden.txt, content: "x"}}]
      - tool_calls: [{name: write_file, arguments: {path: draft.txt, content: "hello"}}]
      - tool_calls: [{name: read_file, arguments: {path: plan.txt}}]
      - text: "done"
  - match: "^faults HOOK-TRAP"
    turns:
      - tool_calls: [{name: write_file, arguments: {path: t1.txt, content: "x", hook: trap}}]
      - tool_calls: [{name: write_file, arguments: {path: t2.txt, content: "x", hook: hang}}]
      - tool_calls: [{name: write_file, arguments: {path: t3.txt, content: "x", hook: alloc}}]
      - tool_calls: [{name: read_file, arguments: {path: trap.txt}}]
      - text: "survived"
  - match: "^old and new"
    turns:
      - tool_calls: [{name: probe_echo, arguments: {}}]
      - tool_calls: [{name: read_file, arguments: {path: note.txt}}]
      - text: "both ran"
"#;

/// Installs a staged test plugin into the server's data dir.
fn install(p: &Paddock, name: &str) {
    let out = p.cmd([
        "plugin",
        "install",
        test_plugins_dir().join(name).to_str().unwrap(),
    ]);
    assert!(out.status.success(), "install {name}: {}", describe(&out));
    let out = p.cmd(["plugin", "enable", name]);
    assert!(out.status.success(), "enable {name}: {}", describe(&out));
}

/// The `hook` events of an agent.
fn hook_records(evs: &[Event]) -> Vec<HookRecord> {
    evs.iter()
        .filter_map(|e| match &e.body {
            EventBody::Hook(r) => Some(r.clone()),
            _ => None,
        })
        .collect()
}

/// The `tool.result` of call `call_id`: (success, content).
fn result_of(evs: &[Event], call_id: &str) -> (bool, String) {
    evs.iter()
        .find_map(|e| match &e.body {
            EventBody::ToolResult {
                call_id: c,
                success,
                content,
                ..
            } if c == call_id => Some((*success, content.clone())),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no result for {call_id}:\n{}", summary(evs)))
}

/// The call ids of the agent's model answers' tool calls, in order.
fn call_ids(evs: &[Event]) -> Vec<String> {
    evs.iter()
        .flat_map(|e| match &e.body {
            EventBody::MessageAssistant { tool_calls, .. } => {
                tool_calls.iter().map(|c| c.id.clone()).collect()
            }
            _ => Vec::new(),
        })
        .collect()
}

fn seq_of(evs: &[Event], f: impl Fn(&EventBody) -> bool) -> u64 {
    evs.iter()
        .find(|e| f(&e.body))
        .map(|e| e.seq)
        .unwrap_or_else(|| panic!("no such event:\n{}", summary(evs)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hook_denies_rewrites_redacts_and_adds_context_through_an_agent() {
    let s = setup(SCRIPT, "", &[]).await;
    install(&s.paddock, "hook-probe");
    std::fs::write(
        s.workspace.path().join("plan.txt"),
        "the SECRET-PLAN is here\n",
    )
    .unwrap();
    let id = s
        .create_with("hooks at work", json!({"approval_mode": "auto"}))
        .await;
    let evs = s.wait_status(&id, 0, &["idle", "error"]).await;
    assert_eq!(s.agent(&id).await["status"], "idle", "{}", summary(&evs));
    let calls = call_ids(&evs);
    assert_eq!(calls.len(), 3, "{}", summary(&evs));
    let hooks = hook_records(&evs);

    // 1. Denied: never ran, the model is told the hook's reason.
    assert!(!s.workspace.path().join("forbidden.txt").exists());
    let (ok, content) = result_of(&evs, &calls[0]);
    assert!(
        !ok && content.contains("probe: forbidden path"),
        "{content}"
    );
    assert!(hooks.iter().any(|h| h.call_id.as_deref() == Some(&calls[0])
        && matches!(&h.outcome, HookOutcome::Denied { reason } if reason == "probe: forbidden path")));
    let decision = evs
        .iter()
        .find_map(|e| match &e.body {
            EventBody::PolicyDecision {
                call_id, decision, ..
            } if *call_id == calls[0] => Some(decision.clone()),
            _ => None,
        })
        .expect("a decision on the denied call");
    assert_eq!(decision.action.as_str(), "deny", "{decision:?}");

    // 2. Rewritten: the tool wrote the new path; the log has both, the
    // rewrite before the call.
    assert!(!s.workspace.path().join("draft.txt").exists());
    assert_eq!(
        std::fs::read_to_string(s.workspace.path().join("rewritten.txt")).unwrap(),
        "hello"
    );
    let rewrite = hooks
        .iter()
        .find(|h| h.call_id.as_deref() == Some(&calls[1]))
        .expect("a hook record on the rewritten call");
    match &rewrite.outcome {
        HookOutcome::Rewrote {
            original,
            arguments,
        } => {
            assert_eq!(original["path"], "draft.txt");
            assert_eq!(arguments["path"], "rewritten.txt");
        }
        other => panic!("not a rewrite: {other:?}"),
    }
    let rewrite_seq = seq_of(
        &evs,
        |b| matches!(b, EventBody::Hook(h) if h.call_id.as_deref() == Some(&calls[1])),
    );
    let call_seq = seq_of(&evs, |b| {
        matches!(b, EventBody::ToolCall { call_id, arguments, .. }
            if *call_id == calls[1] && arguments["path"] == "rewritten.txt")
    });
    assert!(rewrite_seq < call_seq, "{}", summary(&evs));

    // 3. Redacted: neither the stored result nor the model saw the secret.
    let (ok, content) = result_of(&evs, &calls[2]);
    assert!(ok, "{content}");
    assert!(content.contains("[hidden by hook-probe]"), "{content}");
    assert!(!content.contains("SECRET-PLAN"), "{content}");
    assert!(
        hooks
            .iter()
            .any(|h| h.call_id.as_deref() == Some(&calls[2]) && h.outcome == HookOutcome::Redacted)
    );
    let requests = s.model.requests();
    assert_eq!(requests.len(), 4);
    let sent = serde_json::to_string(&requests).unwrap();
    assert!(!sent.contains("SECRET-PLAN"), "the model saw the secret");
    assert!(sent.contains("[hidden by hook-probe]"));

    // 4. Context: each model call got the hook's note, as the last message,
    // without it joining the stored conversation.
    for (n, request) in requests.iter().enumerate() {
        let last = request["messages"].as_array().unwrap().last().unwrap();
        assert_eq!(last["role"], "system", "{last}");
        let text = last["content"].as_str().unwrap();
        assert!(
            text.contains(&format!("hook-probe context: turn {}", n + 1)),
            "{text}"
        );
        assert_eq!(
            sent.matches(&format!("turn {}\"", n + 1)).count(),
            1,
            "the note of turn {} is sent once",
            n + 1
        );
    }
    assert_eq!(
        hooks
            .iter()
            .filter(|h| matches!(h.outcome, HookOutcome::ContextAdded { .. }))
            .count(),
        4
    );

    // 5. The notification events reached the hook (its answers, which they
    // do not take, are recorded as failures that change nothing).
    for event in [
        HookEvent::AgentStarted,
        HookEvent::AfterModelAnswer,
        HookEvent::WorkspaceChanged,
        HookEvent::AgentFinished,
    ] {
        assert!(
            hooks.iter().any(|h| h.event == event
                && matches!(&h.outcome, HookOutcome::Failed { consequence, .. } if consequence == "nothing changed")),
            "{event} never reached the hook:\n{}",
            summary(&evs)
        );
    }
}

/// Waits for the agent's pending approval; returns its call id.
async fn pending_call(s: &Setup, id: &str) -> String {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let list = s.get(&format!("/api/approvals?agent={id}")).await;
        if let Some(first) = list["approvals"].as_array().and_then(|a| a.first()) {
            return first["call_id"].as_str().unwrap().to_string();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no approval pending for {id}: {}",
            summary(&s.events(id).await)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_hook_makes_things_stricter_never_looser() {
    let s = setup(SCRIPT, "", &[]).await;
    install(&s.paddock, "hook-probe");
    std::fs::write(
        s.workspace.path().join("trap.txt"),
        "HOOK-TRAP body 7f3a9c\n",
    )
    .unwrap();
    // Auto mode: without the hook every one of these calls would run.
    let id = s
        .create_with("faults HOOK-TRAP", json!({"approval_mode": "auto"}))
        .await;
    for (file, needle) in [
        ("t1.txt", "crashed"),
        ("t2.txt", "timed out"),
        ("t3.txt", "memory"),
    ] {
        let call = pending_call(&s, &id).await;
        let evs = s.events(&id).await;
        let failed = hook_records(&evs)
            .into_iter()
            .find(|h| h.call_id.as_deref() == Some(&call))
            .unwrap_or_else(|| panic!("{file}: no hook record:\n{}", summary(&evs)));
        match &failed.outcome {
            HookOutcome::Failed { error, consequence } => {
                assert!(error.contains(needle), "{file}: {error}");
                assert_eq!(consequence, "asks a human");
            }
            other => panic!("{file}: {other:?}"),
        }
        let r = s
            .http
            .post(s.server.url(&format!("/api/agents/{id}/approvals/{call}")))
            .json(&json!({"approved": false, "reason": "hook failed"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        assert!(
            !s.workspace.path().join(file).exists(),
            "{file} was written"
        );
    }
    let evs = s.wait_status(&id, 0, &["idle", "error"]).await;
    assert_eq!(s.agent(&id).await["status"], "idle", "{}", summary(&evs));
    // A result hook that traps: the result is withheld from the model.
    let calls = call_ids(&evs);
    let (ok, content) = result_of(&evs, &calls[3]);
    assert!(!ok && content.starts_with("result withheld"), "{content}");
    let sent = serde_json::to_string(&s.model.requests()).unwrap();
    assert!(!sent.contains("7f3a9c"), "the model saw a withheld result");
    // A context hook that traps adds nothing; the calls went on.
    assert!(!sent.contains("hook-probe context"));
    let hooks = hook_records(&evs);
    assert!(hooks.iter().any(|h| h.event == HookEvent::BeforeModelCall
        && matches!(&h.outcome, HookOutcome::Failed { consequence, .. } if consequence == "no context added")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_0_1_0_plugin_runs_beside_0_2_0_ones() {
    let s = setup(SCRIPT, "", &[]).await;
    install(&s.paddock, "hook-probe");
    install(&s.paddock, "probe");
    std::fs::write(s.workspace.path().join("note.txt"), "ANNOTATE-ME\n").unwrap();
    let out = s.paddock.cmd(["plugin", "list", "--json"]);
    assert!(out.status.success(), "{}", describe(&out));
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    let version = |name: &str| {
        list.as_array()
            .or_else(|| list["plugins"].as_array())
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{name} not listed: {list}"))["api_version"]
            .clone()
    };
    assert_eq!(version("probe"), "0.1.0");
    assert_eq!(version("fs-tools"), "0.2.0");
    assert_eq!(version("hook-probe"), "0.2.0");
    let id = s
        .create_with("old and new", json!({"approval_mode": "auto"}))
        .await;
    let evs = s.wait_status(&id, 0, &["idle", "error"]).await;
    assert_eq!(s.agent(&id).await["status"], "idle", "{}", summary(&evs));
    let calls = call_ids(&evs);
    let (ok, content) = result_of(&evs, &calls[0]);
    assert!(ok && content.starts_with("ok\nagent_id="), "{content}");
    let (ok, content) = result_of(&evs, &calls[1]);
    assert!(ok, "{content}");
    assert!(
        content.contains("ANNOTATE-ME")
            && content.contains("[note from hook `hook-probe`] checked by hook-probe"),
        "{content}"
    );
}
