//! End-to-end: workflows on the real `paddock serve` and the scripted
//! model, over the API, the WebSocket and the CLI: the example's shape end
//! to end on a real git repository (a verify that fails once and is
//! retried with its output, a gate approved over REST, the merge landing);
//! `kill -9` of the host in each kind of step, then a restart that carries
//! every run and agent to its end (no second agent for a step, no tool run
//! twice, gapless logs); bad definitions refused with the field named;
//! `paddock workflow run` and `check` headless; and a run's events over the
//! WebSocket after a seq.

use crate::common;

use common::scripted::*;
use common::{Paddock, Server, git, scripted_config};
use futures::{SinkExt, StreamExt};
use paddock_protocol::workflow::{WorkflowEvent, WorkflowEventBody as W};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long a run may take to reach a state.
const RUN_DEADLINE: Duration = Duration::from_secs(120);

/// A run's event from its JSON, which it must be exactly.
fn wf_event(v: &Value) -> WorkflowEvent {
    let e: WorkflowEvent = serde_json::from_value(v.clone())
        .unwrap_or_else(|err| panic!("not a workflow event ({err}): {v}"));
    assert_eq!(
        &serde_json::to_value(&e).unwrap(),
        v,
        "the event does not read back as it came"
    );
    e
}

fn wf_summary(evs: &[WorkflowEvent]) -> String {
    evs.iter()
        .map(|e| format!("{} {}", e.seq, serde_json::to_string(&e.body).unwrap()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A git repository under the temporary directory (an allowed workspace
/// root of the tests' servers), on branch `main` with one commit.
fn repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    git(p, &["init", "-q", "-b", "main"]);
    git(p, &["config", "user.email", "t@example.com"]);
    git(p, &["config", "user.name", "T"]);
    std::fs::write(p.join("README.md"), "a project\n").unwrap();
    git(p, &["add", "."]);
    git(p, &["commit", "-q", "-m", "start"]);
    dir
}

/// A server on the scripted model, with the agent template `wf` (the
/// scripted model, tools without approvals).
struct Wf {
    s: Setup,
}

impl Wf {
    async fn start(script: &str) -> Wf {
        let s = setup(script, "", &[]).await;
        let wf = Wf { s };
        wf.template("wf").await;
        wf
    }

    async fn template(&self, name: &str) {
        let r = self
            .s
            .http
            .post(self.s.server.url("/api/config/agent-templates"))
            .json(&json!({
                "name": name,
                "model": {"provider": "scripted", "model": "scripted"},
                "system_prompt": "You work on a step of a workflow.",
                "approval_mode": "auto",
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    }

    fn url(&self, path: &str) -> String {
        self.s.server.url(path)
    }

    /// POST /api/workflows with a YAML body: (status, body).
    async fn define(&self, yaml: &str) -> (u16, Value) {
        let r = self
            .s
            .http
            .post(self.url("/api/workflows"))
            .header("content-type", "application/yaml")
            .body(yaml.to_string())
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap())
    }

    async fn run(&self, workflow: &str, inputs: Value) -> String {
        let r = self
            .s
            .http
            .post(self.url("/api/workflow-runs"))
            .json(&json!({"workflow": workflow, "inputs": inputs}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        let v: Value = r.json().await.unwrap();
        v["id"].as_str().unwrap().to_string()
    }

    async fn view(&self, id: &str) -> Value {
        self.s.get(&format!("/api/workflow-runs/{id}")).await
    }

    async fn events(&self, id: &str) -> Vec<WorkflowEvent> {
        run_events(&self.s.http, &self.s.server, id).await
    }

    /// Waits until `until` holds of the run's events.
    async fn wait(
        &self,
        id: &str,
        what: &str,
        until: impl Fn(&[WorkflowEvent]) -> bool,
    ) -> Vec<WorkflowEvent> {
        wait_run(&self.s.http, &self.s.server, id, what, until).await
    }

    async fn decide(&self, id: &str, step: &str, approved: bool) -> (u16, Value) {
        let r = self
            .s
            .http
            .post(self.url(&format!("/api/workflow-runs/{id}/gates/{step}")))
            .json(&json!({"approved": approved, "reason": "looks right"}))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap())
    }
}

async fn run_events(http: &reqwest::Client, server: &Server, id: &str) -> Vec<WorkflowEvent> {
    let mut all = Vec::new();
    let mut after = 0;
    loop {
        let url = server.url(&format!(
            "/api/workflow-runs/{id}/events?after={after}&limit=100"
        ));
        let page = get_json(http, &url).await;
        let batch: Vec<WorkflowEvent> = page["events"]
            .as_array()
            .unwrap_or_else(|| panic!("not a page of events: {page}"))
            .iter()
            .map(wf_event)
            .collect();
        let Some(last) = batch.last() else {
            return all;
        };
        after = last.seq;
        all.extend(batch);
    }
}

async fn wait_run(
    http: &reqwest::Client,
    server: &Server,
    id: &str,
    what: &str,
    until: impl Fn(&[WorkflowEvent]) -> bool,
) -> Vec<WorkflowEvent> {
    let started = Instant::now();
    loop {
        let evs = run_events(http, server, id).await;
        if until(&evs) {
            return evs;
        }
        assert!(
            started.elapsed() < RUN_DEADLINE,
            "run {id} never {what}:\n{}",
            wf_summary(&evs)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn finished(evs: &[WorkflowEvent]) -> bool {
    evs.iter()
        .any(|e| matches!(e.body, W::WorkflowFinished { .. }))
}

fn gate_pending(step: &'static str) -> impl Fn(&[WorkflowEvent]) -> bool {
    move |evs| {
        evs.iter()
            .any(|e| matches!(&e.body, W::GateRequested { step: s, .. } if s == step))
    }
}

/// The run's final status, `succeeded`, `failed` or `cancelled`.
fn outcome(evs: &[WorkflowEvent]) -> String {
    evs.iter()
        .rev()
        .find_map(|e| match &e.body {
            W::WorkflowFinished { status, .. } => Some(status.as_str().to_string()),
            _ => None,
        })
        .unwrap_or_default()
}

fn assert_gapless_run(evs: &[WorkflowEvent]) {
    let seqs: Vec<u64> = evs.iter().map(|e| e.seq).collect();
    let want: Vec<u64> = (1..=seqs.len() as u64).collect();
    assert_eq!(seqs, want, "run seqs are 1..N:\n{}", wf_summary(evs));
}

/// Each step's agents, by step, in the order made.
fn agents_by_step(evs: &[WorkflowEvent]) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for e in evs {
        if let W::StepAgent { step, agent_id, .. } = &e.body {
            out.entry(step.clone()).or_default().push(agent_id.clone());
        }
    }
    out
}

/// An agent's log is gapless and ran each of its calls once.
fn assert_agent_log_sound(evs: &[Event]) {
    let seqs = seqs(evs);
    let want: Vec<u64> = (1..=seqs.len() as u64).collect();
    assert_eq!(seqs, want, "agent seqs are 1..N:\n{}", summary(evs));
    let mut calls: BTreeMap<&str, usize> = BTreeMap::new();
    for id in matching!(evs, EventBody::ToolCall { call_id, .. } => call_id.as_str()) {
        *calls.entry(id).or_default() += 1;
    }
    for (id, n) in calls {
        assert_eq!(n, 1, "call {id} started {n} times:\n{}", summary(evs));
    }
}

/// The test command the built-in example's run is given: it fails until
/// `done.txt` exists, saying so.
const TEST_COMMAND: &str =
    "test -f done.txt && echo verified || { echo 'FAIL: done.txt is missing'; exit 1; }";

/// The scripted model for the built-in example's steps (matched by their
/// prompts): the test step's agent first claims success without making
/// `done.txt`, and makes it only when told the verify output.
const EXAMPLE_SCRIPT: &str = r#"
scenarios:
  - match: "^Plan this change"
    turns:
      - text: "1. write impl.txt\n2. write done.txt"
  - match: "^Implement this change"
    turns:
      - tool_calls: [{name: write_file, arguments: {path: impl.txt, content: "implemented\n"}}]
      - text: "Implemented."
  - match: "^Run `"
    turns:
      - text: "It should pass already."
      - when: {turn: 1, user: "FAIL: done.txt is missing"}
        tool_calls: [{name: write_file, arguments: {path: done.txt, content: "done\n"}}]
      - when: {turn: 2}
        text: "Made done.txt."
  - match: "^Review the change"
    turns:
      - text: "Looks good to me."
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_runs_end_to_end_with_a_retried_verify_a_gate_and_a_merge() {
    let wf = Wf::start(EXAMPLE_SCRIPT).await;
    let listed = wf.s.get("/api/workflows/plan-implement-test").await;
    assert_eq!(listed["source"], "builtin", "{listed}");
    let repo = repo();
    let id = wf
        .run(
            "plan-implement-test",
            json!({"task": "ship it", "repo": repo.path(), "test_command": TEST_COMMAND}),
        )
        .await;
    let evs = wf
        .wait(&id, "reached its gate", gate_pending("approve"))
        .await;
    // The verify failed once, and the retry carried its output.
    let verifies = matching_wf(&evs, |b| match b {
        W::VerifyFinished {
            step, exit_code, ..
        } if step == "test" => Some(*exit_code),
        _ => None,
    });
    assert_eq!(verifies, [Some(1), Some(0)], "{}", wf_summary(&evs));
    let retries = matching_wf(&evs, |b| match b {
        W::StepRetry { step, attempt, .. } if step == "test" => Some(*attempt),
        _ => None,
    });
    assert_eq!(retries, [2]);
    let requests = get_json(
        &wf.s.http,
        &format!("{}/_scripted/requests", wf.s.model.base_url()),
    )
    .await;
    let told = requests
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r.to_string().contains("FAIL: done.txt is missing"))
        .count();
    assert!(told >= 1, "the retry's message carried the verify output");
    // One agent per agent step: the retry asked the same agent again.
    let agents = agents_by_step(&evs);
    for step in ["plan", "implement", "test", "review"] {
        assert_eq!(agents[step].len(), 1, "{step}: {agents:?}");
    }
    // Read-only steps got read-only agents.
    for (step, read_only) in [("plan", true), ("implement", false), ("review", true)] {
        let agent = wf.s.agent(&agents[step][0]).await;
        // (`read_only` is left out when false.)
        let got = agent["config"]["read_only"].as_bool().unwrap_or(false);
        assert_eq!(got, read_only, "{step}: {agent}");
        assert!(
            agent["name"]
                .as_str()
                .unwrap()
                .ends_with(&format!("/{step}")),
            "{agent}"
        );
    }
    // The test agent was asked again with the verify's output.
    let test = wf.s.events(&agents["test"][0]).await;
    let asked = matching!(test, EventBody::MessageUser { text } => text.clone());
    assert_eq!(asked.len(), 2, "{asked:?}");
    assert!(asked[1].contains("FAIL: done.txt is missing"), "{asked:?}");
    // The view: the gate pending with the diff so far.
    let view = wf.view(&id).await;
    assert_eq!(view["status"], "waiting_gate", "{view}");
    let gate = view["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "approve")
        .unwrap();
    assert_eq!(gate["status"], "waiting_gate");
    assert!(
        gate["gate"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Merge the change for: ship it?"),
        "{gate}"
    );
    assert!(
        gate["gate"]["diff"].as_str().unwrap().contains("done.txt"),
        "{gate}"
    );
    // A gate that is not pending is a 409; the pending one is decided.
    let (status, body) = wf.decide(&id, "review", true).await;
    assert_eq!(status, 409, "{body}");
    let (status, body) = wf.decide(&id, "nope", true).await;
    assert!(status == 404 || status == 409, "{status} {body}");
    let (status, body) = wf.decide(&id, "approve", true).await;
    assert_eq!(status, 200, "{body}");
    let evs = wf.wait(&id, "finished", finished).await;
    assert_eq!(outcome(&evs), "succeeded", "{}", wf_summary(&evs));
    assert_gapless_run(&evs);
    // The merge landed on main.
    let files = git(repo.path(), &["ls-tree", "--name-only", "main"]);
    assert!(
        files.contains("done.txt") && files.contains("impl.txt"),
        "{files}"
    );
    let view = wf.view(&id).await;
    assert_eq!(view["status"], "succeeded");
    assert!(view["cost_usd"].as_f64().unwrap() > 0.0, "{view}");
    // A second decision is refused.
    let (status, _) = wf.decide(&id, "approve", false).await;
    assert_eq!(status, 409);
}

/// What `f` makes of each event body it accepts.
fn matching_wf<T>(evs: &[WorkflowEvent], f: impl Fn(&W) -> Option<T>) -> Vec<T> {
    evs.iter().filter_map(|e| f(&e.body)).collect()
}

/// Runs in every kind of step at the moment of the crash: an agent in a
/// slow command, a verify command running, a gate pending, a fan-out of
/// two agents waiting on the model.
const CRASH: &str = r#"
name: crash-agent
inputs: [{name: repo}]
workspace: {repo: "{{inputs.repo}}"}
steps:
  - id: work
    template: wf
    prompt: "SLOWTOOL run the slow command"
"#;
const CRASH_VERIFY: &str = r#"
name: crash-verify
inputs: [{name: repo}]
workspace: {repo: "{{inputs.repo}}"}
steps:
  - id: work
    template: wf
    prompt: "QUICK say done"
    verify:
      command: "test -e .verified-once || { touch .verified-once; sleep 60; }; echo verified"
"#;
const CRASH_GATE: &str = r#"
name: crash-gate
inputs: [{name: repo}]
workspace: {repo: "{{inputs.repo}}"}
steps:
  - id: approve
    gate: {message: "Go on?"}
  - id: after
    template: wf
    prompt: "QUICK after the gate"
"#;
const CRASH_FANOUT: &str = r#"
name: crash-fanout
inputs: [{name: repo}]
workspace: {repo: "{{inputs.repo}}"}
steps:
  - id: each
    fanout:
      over: "- alpha\n- beta"
      template: wf
      prompt: "HANG on {{item}}"
      max_parallel: 2
"#;

const CRASH_SCRIPT: &str = r#"
scenarios:
  - match: "^SLOWTOOL"
    turns:
      - tool_calls: [{name: execute_bash, arguments: {command: "sleep 60; echo ran >> ran.txt"}}]
      - when: {tool: "may or may not have taken effect"}
        text: "The command was cut by a restart; not running it again."
  - match: "^QUICK"
    turns:
      - text: "done"
  - match: "^HANG"
    turns:
      - text: "item finished"
        fault: {type: hang, times: 1}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_in_every_kind_of_step_then_every_run_carries_on_to_its_end() {
    let mut wf = Wf::start(CRASH_SCRIPT).await;
    let mut runs = BTreeMap::new();
    let repos: Vec<tempfile::TempDir> = (0..4).map(|_| repo()).collect();
    for ((name, def), repo) in [
        ("crash-agent", CRASH),
        ("crash-verify", CRASH_VERIFY),
        ("crash-gate", CRASH_GATE),
        ("crash-fanout", CRASH_FANOUT),
    ]
    .into_iter()
    .zip(&repos)
    {
        let (status, body) = wf.define(def).await;
        assert_eq!(status, 201, "{body}");
        runs.insert(name, wf.run(name, json!({"repo": repo.path()})).await);
    }
    // Each run at its point: the command started, the verify running, the
    // gate asked, both fan-out agents asking the model.
    let slow = &runs["crash-agent"];
    let evs = wf
        .wait(slow, "made its agent", |e| !agents_by_step(e).is_empty())
        .await;
    let slow_agent = agents_by_step(&evs)["work"][0].clone();
    wait_for(&wf, &slow_agent, "running its command", |evs| {
        !matching!(evs, EventBody::ToolCall { .. }).is_empty()
    })
    .await;
    wf.wait(&runs["crash-verify"], "started its verify", |e| {
        e.iter().any(|e| matches!(e.body, W::VerifyStarted { .. }))
    })
    .await;
    wf.wait(
        &runs["crash-gate"],
        "asked its gate",
        gate_pending("approve"),
    )
    .await;
    let evs = wf
        .wait(&runs["crash-fanout"], "made both agents", |e| {
            agents_by_step(e).get("each").is_some_and(|a| a.len() == 2)
        })
        .await;
    for agent in &agents_by_step(&evs)["each"] {
        wait_for(&wf, agent, "asking the model", |evs| {
            statuses(evs)
                .iter()
                .any(|(s, _)| *s == AgentStatus::Thinking)
        })
        .await;
    }
    // Give the verify's `sleep` and the agents' requests a moment to be
    // under way, then crash.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before: BTreeMap<&str, u64> = {
        let mut m = BTreeMap::new();
        for (name, id) in &runs {
            m.insert(*name, wf.events(id).await.len() as u64);
        }
        m
    };
    wf.s.server.kill9();
    wf.s.server = Server::start(&wf.s.paddock, &wf.s.config, None, &[]);
    // The gate is still pending after the restart, and decided now.
    let evs = wf.events(&runs["crash-gate"]).await;
    assert!(!finished(&evs), "{}", wf_summary(&evs));
    let (status, body) = wf.decide(&runs["crash-gate"], "approve", true).await;
    assert_eq!(status, 200, "{body}");
    let mut all_agents = BTreeSet::new();
    for (name, id) in &runs {
        let evs = wf.wait(id, "finished", finished).await;
        assert_eq!(outcome(&evs), "succeeded", "{name}:\n{}", wf_summary(&evs));
        assert_gapless_run(&evs);
        assert!(evs.len() as u64 > before[name], "{name} went on");
        // No step made a second agent; a fan-out one per item.
        for (step, agents) in agents_by_step(&evs) {
            let want = if step == "each" { 2 } else { 1 };
            assert_eq!(agents.len(), want, "{name} {step}: {agents:?}");
            let distinct: BTreeSet<&String> = agents.iter().collect();
            assert_eq!(distinct.len(), want, "{name} {step}: {agents:?}");
            for a in agents {
                let agent_evs = wf.s.events(&a).await;
                assert_agent_log_sound(&agent_evs);
                all_agents.insert(a);
            }
        }
        if *name == "crash-verify" {
            let reruns = matching_wf(&evs, |b| match b {
                W::VerifyStarted { rerun, .. } => Some(*rerun),
                _ => None,
            });
            assert_eq!(reruns, [false, true], "{}", wf_summary(&evs));
        }
    }
    // The cut command was reported, not run again.
    let evs = wf.s.events(&slow_agent).await;
    assert_eq!(matching!(evs, EventBody::ToolCall { .. }).len(), 1);
    let results = matching!(evs, EventBody::ToolResult { content, .. } => content.clone());
    assert_eq!(results.len(), 1, "{}", summary(&evs));
    assert!(results[0].contains("host restarted"), "{}", results[0]);
    // Every agent there is belongs to a step: none was made twice.
    let listed: Value = wf.s.get("/api/agents").await;
    let listed: BTreeSet<String> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(listed, all_agents, "one agent per step (and per item)");
}

/// Waits until `until` holds of an agent's events.
async fn wait_for(wf: &Wf, agent: &str, what: &str, until: impl Fn(&[Event]) -> bool) {
    let started = Instant::now();
    loop {
        let evs = wf.s.events(agent).await;
        if until(&evs) {
            return;
        }
        assert!(
            started.elapsed() < RUN_DEADLINE,
            "agent {agent} never {what}:\n{}",
            summary(&evs)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_definitions_are_refused_naming_the_field() {
    let wf = Wf::start("turns: [{text: hi}]").await;
    for (yaml, field) in [
        (
            "name: bad1\nsteps:\n  - id: a\n    template: nope\n    prompt: hi\n",
            "steps[0].template",
        ),
        (
            "name: bad2\nsteps:\n  - id: a\n    template: wf\n    prompt: hi\n  - id: b\n    template: wf\n    prompt: \"{{steps.plna.output}}\"\n",
            "steps[1].prompt",
        ),
        (
            "name: bad3\nsteps:\n  - id: a\n    template: wf\n    prompt: hi\n  - id: b\n    template: wf\n    prompt: hi\n    verify: {command: \"false\"}\n    on_failure: {goto: a}\n",
            "steps[1].on_failure",
        ),
        (
            "name: bad4\nsteps:\n  - id: a\n    template: wf\n    prompt: hi\n    on_failure: {goto: zz, max: 2}\n",
            "steps[0].on_failure.goto",
        ),
    ] {
        let (status, body) = wf.define(yaml).await;
        assert_eq!(status, 400, "{yaml}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(field), "{field}: {message}");
        // The check route says the same, and nothing was saved.
        let r =
            wf.s.http
                .post(wf.url("/api/workflows/check"))
                .header("content-type", "application/yaml")
                .body(yaml)
                .send()
                .await
                .unwrap();
        assert_eq!(r.status(), 400);
    }
    let list = wf.s.get("/api/workflows").await;
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert!(!names.iter().any(|n| n.starts_with("bad")), "{names:?}");
    // JSON and TOML bodies; a good one checks; an unknown field is named.
    let r =
        wf.s.http
            .post(wf.url("/api/workflows/check"))
            .json(&json!({"name": "ok", "steps": [{"id": "g", "gate": {"message": "ok?"}}]}))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"ok": true}));
    let r = wf
        .s
        .http
        .post(wf.url("/api/workflows"))
        .json(
            &json!({"name": "j", "steps": [{"id": "g", "gate": {"message": "ok?"}, "colour": 1}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let message = r.json::<Value>().await.unwrap()["error"]["message"].to_string();
    assert!(
        message.contains("steps[0]") && message.contains("colour"),
        "{message}"
    );
    let r =
        wf.s.http
            .post(wf.url("/api/workflows"))
            .header("content-type", "application/toml")
            .body("name = \"t\"\n[[steps]]\nid = \"g\"\ngate = { message = \"ok?\" }\n")
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    // A second with that name is a conflict; a plain-text body a 415; a
    // built-in cannot be deleted.
    let (status, _) = wf
        .define("name: t\nsteps: [{id: g, gate: {message: x}}]\n")
        .await;
    assert_eq!(status, 409);
    let r =
        wf.s.http
            .post(wf.url("/api/workflows"))
            .header("content-type", "text/plain")
            .body("name: x")
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 415);
    let r =
        wf.s.http
            .delete(wf.url("/api/workflows/t"))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 204);
    let r =
        wf.s.http
            .get(wf.url("/api/workflows/t"))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 404);
    // Unknown runs are 404.
    let r =
        wf.s.http
            .get(wf.url("/api/workflow-runs/nope"))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 404);

    // `paddock workflow check FILE`: exit 2 naming the field; 0 when valid.
    let p = Paddock::new();
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "name: bad\nsteps:\n  - id: a\n    template: nope\n    prompt: hi\n",
    )
    .unwrap();
    let out = p.cmd([Path::new("workflow"), Path::new("check"), &bad]);
    assert_eq!(out.status.code(), Some(2), "{}", common::describe(&out));
    assert!(
        common::stderr(&out).contains("steps[0].template"),
        "{}",
        common::describe(&out)
    );
    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        "name = \"good\"\n[[steps]]\nid = \"g\"\ngate = { message = \"ok?\" }\n",
    )
    .unwrap();
    let out = p.cmd([Path::new("workflow"), Path::new("check"), &good]);
    assert_eq!(out.status.code(), Some(0), "{}", common::describe(&out));
}

/// A data dir with the scripted provider in its `paddock.toml` and the
/// workflow files `ok` (an agent step whose verify passes) and `never`
/// (a verify that always fails, retried once).
fn headless_dir(p: &Paddock, base_url: &str, workspace: &Path) -> PathBuf {
    let config = scripted_config(p.data_dir(), base_url, "");
    let dir = p.data_dir().join("workflows");
    std::fs::create_dir_all(&dir).unwrap();
    let agent = format!(
        "{{model: {{provider: scripted, model: scripted}}, workspace: {:?}, approval_mode: auto}}",
        workspace.display().to_string()
    );
    std::fs::write(
        dir.join("ok.yaml"),
        format!(
            "name: ok\ninputs: [{{name: what}}]\nsteps:\n  - id: write\n    agent: {agent}\n    prompt: \"WRITE {{{{inputs.what}}}}\"\n    verify: {{command: \"test -f out.txt\"}}\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("never.toml"),
        format!(
            "name = \"never\"\n[[steps]]\nid = \"try\"\nagent = {}\nprompt = \"TRY\"\nverify = {{ command = \"echo nope; exit 3\" }}\nretries = 1\n",
            toml_inline(workspace)
        ),
    )
    .unwrap();
    config
}

fn toml_inline(workspace: &Path) -> String {
    format!(
        "{{ model = {{ provider = \"scripted\", model = \"scripted\" }}, workspace = {:?}, approval_mode = \"auto\" }}",
        workspace.display().to_string()
    )
}

#[test]
fn paddock_workflow_run_exits_0_when_it_succeeds_and_1_when_it_fails() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let model = rt.block_on(model(
        r#"
scenarios:
  - match: "^WRITE"
    turns:
      - tool_calls: [{name: write_file, arguments: {path: out.txt, content: "out\n"}}]
      - text: "Wrote out.txt."
  - match: "^TRY"
    turns:
      - text: "Tried."
      - text: "Tried again."
"#,
    ));
    let p = Paddock::new();
    let ws = tempfile::tempdir().unwrap();
    headless_dir(&p, &model.base_url(), ws.path());
    let root = std::env::temp_dir();
    let run = |args: &[&str]| {
        p.command()
            .args(["workflow", "run", "--workspace-root"])
            .arg(&root)
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["ok", "--input", "what=out.txt"]);
    assert_eq!(out.status.code(), Some(0), "{}", common::describe(&out));
    let stdout = common::stdout(&out);
    assert!(stdout.contains("✓ write succeeded"), "{stdout}");
    assert!(stdout.contains("workflow succeeded"), "{stdout}");
    assert_eq!(
        std::fs::read_to_string(ws.path().join("out.txt")).unwrap(),
        "out\n"
    );
    let out = run(&["never", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", common::describe(&out));
    let evs: Vec<WorkflowEvent> = common::stdout(&out)
        .lines()
        .map(|l| wf_event(&serde_json::from_str(l).unwrap()))
        .collect();
    assert_gapless_run(&evs);
    let exits = matching_wf(&evs, |b| match b {
        W::VerifyFinished { exit_code, .. } => Some(*exit_code),
        _ => None,
    });
    assert_eq!(exits, [Some(3), Some(3)], "{}", wf_summary(&evs));
    assert_eq!(outcome(&evs), "failed");
    // A usage error: a missing input, an unknown workflow.
    let out = run(&["ok"]);
    assert_eq!(out.status.code(), Some(2), "{}", common::describe(&out));
    assert!(
        common::stderr(&out).contains("what"),
        "{}",
        common::describe(&out)
    );
    let out = run(&["nope"]);
    assert_eq!(out.status.code(), Some(2), "{}", common::describe(&out));
    // `list` shows the files' workflows and the built-in one.
    let out = p.cmd(["workflow", "list"]);
    assert!(out.status.success(), "{}", common::describe(&out));
    let stdout = common::stdout(&out);
    assert!(
        stdout.contains("ok\tfile") && stdout.contains("never\tfile"),
        "{stdout}"
    );
    assert!(stdout.contains("\tbuiltin\t"), "{stdout}");
    drop(model);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_subscriber_gets_a_runs_events_after_a_seq() {
    let wf = Wf::start("turns: [{text: hi}]").await;
    let (status, body) = wf
        .define("name: gated\nsteps:\n  - id: first\n    gate: {message: \"first?\"}\n  - id: second\n    gate: {message: \"second?\"}\n")
        .await;
    assert_eq!(status, 201, "{body}");
    let id = wf.run("gated", json!({})).await;
    let before = wf.wait(&id, "asked", gate_pending("first")).await;
    let after = before[0].seq;
    let (mut ws, _) = tokio_tungstenite::connect_async(wf.s.server.ws_url())
        .await
        .unwrap();
    ws.send(tokio_tungstenite::tungstenite::Message::text(
        json!({"op": "subscribe_workflow_run", "run_id": id, "after": after}).to_string(),
    ))
    .await
    .unwrap();
    // An unknown run is refused with its id.
    ws.send(tokio_tungstenite::tungstenite::Message::text(
        json!({"op": "subscribe_workflow_run", "run_id": "nope", "after": 0}).to_string(),
    ))
    .await
    .unwrap();
    let mut got: Vec<WorkflowEvent> = Vec::new();
    let mut subscribed = false;
    let mut refused = false;
    let mut decided = (false, false);
    let deadline = tokio::time::Instant::now() + RUN_DEADLINE;
    while !(got
        .last()
        .is_some_and(|e| matches!(e.body, W::WorkflowFinished { .. })))
    {
        let msg = tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("events in time")
            .expect("the socket stays open")
            .unwrap();
        let tokio_tungstenite::tungstenite::Message::Text(text) = msg else {
            continue;
        };
        let v: Value = serde_json::from_str(&text).unwrap();
        match v["op"].as_str().unwrap() {
            "workflow_subscribed" => {
                assert_eq!(v["run_id"], id.as_str());
                subscribed = true;
            }
            "error" => {
                assert_eq!(v["run_id"], "nope", "{v}");
                assert_eq!(v["code"], "not_found", "{v}");
                refused = true;
            }
            "workflow_event" => {
                assert_eq!(v["run_id"], id.as_str());
                let e = wf_event(&v["event"]);
                let gate = match &e.body {
                    W::GateRequested { step, .. } => Some(step.clone()),
                    _ => None,
                };
                got.push(e);
                // Decide each gate once it is seen (the first one in the
                // replay: it was asked before the subscription).
                match gate.as_deref() {
                    Some("first") if !decided.0 => {
                        decided.0 = true;
                        assert_eq!(wf.decide(&id, "first", true).await.0, 200);
                    }
                    Some("second") if !decided.1 => {
                        decided.1 = true;
                        assert_eq!(wf.decide(&id, "second", true).await.0, 200);
                    }
                    _ => {}
                }
            }
            other => panic!("unexpected message {other}: {v}"),
        }
    }
    assert!(subscribed && refused);
    let all = wf.events(&id).await;
    assert_eq!(
        got,
        all[after as usize..].to_vec(),
        "exactly the events after {after}"
    );
    assert_eq!(outcome(&all), "succeeded");
}

/// The built-in `best-of-3`'s attempts (matched by the task): each writes
/// `done.txt`; the verify passes only in the worktree of attempt 2 (its
/// branch ends in `-a2`), so exactly one attempt passes.
const BEST_OF_SCRIPT: &str = r#"
scenarios:
  - match: "^Write done.txt"
    turns:
      - tool_calls: [{name: write_file, arguments: {path: done.txt, content: "done\n"}}]
        usage: {prompt_tokens: 1000, completion_tokens: 10}
      - text: "Wrote done.txt."
        usage: {prompt_tokens: 2000, completion_tokens: 5}
  - match: "^HANG"
    turns:
      - text: "finished after the restart"
        fault: {type: hang, times: 1}
"#;

/// The verify of the best-of-3 test: only attempt 2's worktree passes.
const ONLY_A2: &str = "test -f done.txt && git branch --show-current | grep -q -- '-a2$' && echo 'attempt 2 passes' || { echo \"FAIL: not attempt 2 ($(git branch --show-current))\"; exit 1; }";

/// Each attempt's (agent, workspace) by attempt number.
fn attempts_started(evs: &[WorkflowEvent]) -> BTreeMap<u32, (String, String)> {
    let mut out = BTreeMap::new();
    for e in evs {
        if let W::AttemptStarted {
            attempt,
            agent_id,
            workspace_id,
            ..
        } = &e.body
        {
            let before = out.insert(*attempt, (agent_id.clone(), workspace_id.clone()));
            assert!(
                before.is_none(),
                "attempt {attempt} started twice:\n{}",
                wf_summary(evs)
            );
        }
    }
    out
}

/// What an agent's runs cost, read from its log.
async fn agent_cost(wf: &Wf, agent: &str) -> f64 {
    let evs = wf.s.events(agent).await;
    matching!(evs, EventBody::Usage { cost_usd, .. } => *cost_usd)
        .into_iter()
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn best_of_3_keeps_the_passing_attempt_offers_it_for_merge_and_adds_up_the_costs() {
    let wf = Wf::start(BEST_OF_SCRIPT).await;
    let listed = wf.s.get("/api/workflows/best-of-3").await;
    assert_eq!(listed["source"], "builtin", "{listed}");
    assert_eq!(listed["definition"]["steps"][0]["attempts"], 3, "{listed}");
    let repo = repo();
    let id = wf
        .run(
            "best-of-3",
            json!({"task": "Write done.txt", "repo": repo.path(), "test_command": ONLY_A2}),
        )
        .await;
    let evs = wf.wait(&id, "finished", finished).await;
    assert_eq!(outcome(&evs), "succeeded", "{}", wf_summary(&evs));
    assert_gapless_run(&evs);
    let started = attempts_started(&evs);
    assert_eq!(started.keys().copied().collect::<Vec<_>>(), [1, 2, 3]);
    let agents: BTreeSet<&String> = started.values().map(|(a, _)| a).collect();
    let spaces: BTreeSet<&String> = started.values().map(|(_, w)| w).collect();
    assert_eq!((agents.len(), spaces.len()), (3, 3), "{started:?}");
    // Each attempt was verified once; only attempt 2 passed.
    let ended: BTreeMap<u32, (bool, Option<i32>, f64)> = matching_wf(&evs, |b| match b {
        W::AttemptFinished {
            attempt,
            passed,
            exit_code,
            cost_usd,
            ..
        } => Some((*attempt, (*passed, *exit_code, *cost_usd))),
        _ => None,
    })
    .into_iter()
    .collect();
    assert_eq!(ended.len(), 3, "{}", wf_summary(&evs));
    assert_eq!(
        ended
            .iter()
            .map(|(k, e)| (*k, e.0, e.1))
            .collect::<Vec<_>>(),
        [(1, false, Some(1)), (2, true, Some(0)), (3, false, Some(1))]
    );
    let kept = matching_wf(&evs, |b| match b {
        W::AttemptKept {
            attempt,
            workspace_id,
            ..
        } => Some((*attempt, workspace_id.clone())),
        _ => None,
    });
    assert_eq!(kept, [(2, started[&2].1.clone())], "{}", wf_summary(&evs));
    // Costs add up exactly: each attempt's is its agent's, the step's is
    // their sum, and so is the run's.
    let mut sum = 0.0;
    for (k, (agent, _)) in &started {
        let cost = agent_cost(&wf, agent).await;
        assert!(cost > 0.0, "attempt {k} cost something");
        assert_eq!(ended[k].2, cost, "attempt {k}");
        sum += cost;
    }
    let step_cost = matching_wf(&evs, |b| match b {
        W::StepFinished { cost_usd, .. } => Some(*cost_usd),
        _ => None,
    });
    assert_eq!(step_cost, [sum]);
    let view = wf.view(&id).await;
    assert_eq!(view["cost_usd"].as_f64().unwrap(), sum, "{view}");
    let step = &view["steps"][0];
    assert_eq!(step["output"], "Wrote done.txt.", "{step}");
    let tries = step["best_of"].as_array().unwrap();
    assert_eq!(tries.len(), 3, "{step}");
    for (t, want) in tries
        .iter()
        .zip([("failed", false), ("passed", true), ("failed", false)])
    {
        assert_eq!(
            (t["status"].as_str().unwrap(), t["kept"].as_bool().unwrap()),
            want,
            "{t}"
        );
    }
    assert!(
        tries[0]["verify_output"]
            .as_str()
            .unwrap()
            .contains("FAIL: not attempt 2"),
        "{}",
        tries[0]
    );
    assert_eq!(tries[1]["workspace_id"].as_str().unwrap(), started[&2].1);
    // The kept attempt's worktree is offered for merge: committed and
    // merged into the run's branch through the workspace API.
    let run_ws = view["workspace_id"].as_str().unwrap().to_string();
    let run_branch = wf.s.get(&format!("/api/workspaces/{run_ws}")).await["branch"]
        .as_str()
        .unwrap()
        .to_string();
    let kept_ws = &started[&2].1;
    let r =
        wf.s.http
            .post(wf.url(&format!("/api/workspaces/{kept_ws}/commit")))
            .json(&json!({"message": "attempt 2"}))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let r =
        wf.s.http
            .post(wf.url(&format!("/api/workspaces/{kept_ws}/merge")))
            .json(&json!({}))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let merged: Value = r.json().await.unwrap();
    assert_eq!(merged["base_branch"], run_branch.as_str(), "{merged}");
    let files = git(repo.path(), &["ls-tree", "--name-only", &run_branch]);
    assert!(files.contains("done.txt"), "{files}");
    let files = git(repo.path(), &["ls-tree", "--name-only", "main"]);
    assert!(!files.contains("done.txt"), "main is untouched: {files}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn best_of_n_refuses_what_it_cannot_run_naming_the_field() {
    let wf = Wf::start("turns: [{text: hi}]").await;
    for (yaml, field) in [
        (
            "name: b1\nworkspace: {repo: /tmp}\nsteps:\n  - id: a\n    template: wf\n    prompt: hi\n    attempts: 3\n",
            "steps[0].attempts",
        ),
        (
            "name: b2\nsteps:\n  - id: a\n    template: wf\n    prompt: hi\n    attempts: 2\n    verify: {command: \"true\"}\n",
            "steps[0].attempts",
        ),
        (
            "name: b3\nworkspace: {repo: /tmp}\nsteps:\n  - id: a\n    template: wf\n    prompt: hi\n    attempts: 11\n    verify: {command: \"true\"}\n",
            "steps[0].attempts",
        ),
        (
            "name: b4\nworkspace: {repo: /tmp}\nsteps:\n  - id: g\n    gate: {message: ok?}\n    attempts: 2\n",
            "steps[0].attempts",
        ),
        (
            "name: b5\nworkspace: {repo: /tmp}\nsteps:\n  - id: a\n    template: wf\n    prompt: hi\n    attempts: 2\n    max_parallel: 3\n    verify: {command: \"true\"}\n",
            "steps[0].max_parallel",
        ),
    ] {
        let (status, body) = wf.define(yaml).await;
        assert_eq!(status, 400, "{yaml}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(field), "{field}: {message}");
    }
}

/// A best-of-3 step whose three agents all wait on the model when the
/// host is killed: after the restart each attempt carries on with its
/// agent — none is made again.
const CRASH_BEST_OF: &str = r#"
name: crash-best-of
inputs: [{name: repo}]
workspace: {repo: "{{inputs.repo}}"}
steps:
  - id: work
    template: wf
    prompt: "HANG then finish"
    attempts: 3
    max_parallel: 3
    verify: {command: "echo checked"}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_attempts_then_no_attempt_is_made_twice() {
    let mut wf = Wf::start(BEST_OF_SCRIPT).await;
    let (status, body) = wf.define(CRASH_BEST_OF).await;
    assert_eq!(status, 201, "{body}");
    let repo = repo();
    let id = wf.run("crash-best-of", json!({"repo": repo.path()})).await;
    let evs = wf
        .wait(&id, "started its three attempts", |e| {
            attempts_started(e).len() == 3
        })
        .await;
    let before = attempts_started(&evs);
    for (agent, _) in before.values() {
        wait_for(&wf, agent, "asking the model", |evs| {
            statuses(evs)
                .iter()
                .any(|(s, _)| *s == AgentStatus::Thinking)
        })
        .await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    wf.s.server.kill9();
    wf.s.server = Server::start(&wf.s.paddock, &wf.s.config, None, &[]);
    let evs = wf.wait(&id, "finished", finished).await;
    assert_eq!(outcome(&evs), "succeeded", "{}", wf_summary(&evs));
    assert_gapless_run(&evs);
    // The same three attempts, with the same agents and worktrees.
    assert_eq!(attempts_started(&evs), before, "{}", wf_summary(&evs));
    let finished_attempts = matching_wf(&evs, |b| match b {
        W::AttemptFinished {
            attempt, passed, ..
        } => Some((*attempt, *passed)),
        _ => None,
    });
    let mut sorted = finished_attempts.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [(1, true), (2, true), (3, true)],
        "{}",
        wf_summary(&evs)
    );
    // The first passing one by number is kept.
    let kept = matching_wf(&evs, |b| match b {
        W::AttemptKept { attempt, .. } => Some(*attempt),
        _ => None,
    });
    assert_eq!(kept, [1]);
    let mut all_agents = BTreeSet::new();
    for (agent, _) in before.values() {
        let agent_evs = wf.s.events(agent).await;
        assert_agent_log_sound(&agent_evs);
        all_agents.insert(agent.clone());
    }
    let listed: Value = wf.s.get("/api/agents").await;
    let listed: BTreeSet<String> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(listed, all_agents, "one agent per attempt");
}
