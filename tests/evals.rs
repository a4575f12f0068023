//! End-to-end: `paddock eval run` on a task set the tests build (tiny git
//! repositories in Python and JavaScript with a failing test each, see
//! `common::evals`) and the scripted model: local evaluation resolves
//! exactly the right fixes, with exact costs and `predictions.jsonl` lines
//! (which the official `swebench` package's loader accepts);
//! a missing repository and a missing commit are errors, not unresolved;
//! best-of-3 keeps the third attempt and adds up the three, and
//! `paddock eval compare` of it and a one-attempt run by their ids says
//! so; `kill -9` in
//! the middle of a run, then a rerun with the same `--out` that finishes
//! it without redoing finished instances; `--evaluate swebench` refuses to
//! start (exit 2, no agent, no model request) when the harness's package
//! or Docker is missing, naming which.

use crate::common;

use common::evals::{CALL_INPUT, CALL_OUTPUT, CALL_USD, TaskSet, task_set};
use common::scripted::model;
use common::{Paddock, scripted_config};
use paddock_protocol::eval::{
    EvalErrorKind, EvalRunView, Evaluation, InstanceResult, InstanceStatus,
};
use serde_json::Value;
use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

/// How long a run may take.
const DEADLINE: Duration = Duration::from_secs(180);

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

/// `paddock eval run` arguments for the task set, output in `out`.
fn run_args(set: &TaskSet, out: &Path, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "eval".into(),
        "run".into(),
        "--tasks".into(),
        set.tasks.display().to_string(),
        "--template".into(),
        set.template.display().to_string(),
        "--repos".into(),
        set.repos.display().to_string(),
        "--workers".into(),
        "2".into(),
        "--out".into(),
        out.display().to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

fn results(out: &Path) -> Vec<InstanceResult> {
    std::fs::read_to_string(out.join("results.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn by_id<'a>(rs: &'a [InstanceResult], id: &str) -> &'a InstanceResult {
    rs.iter()
        .find(|r| r.instance_id == id)
        .unwrap_or_else(|| panic!("no result for {id}: {rs:?}"))
}

/// Model requests whose conversation is the instance's.
fn requests_of(m: &paddock_llm::scripted::RunningModel, instance: &str) -> usize {
    let tag = format!("[{instance}]");
    m.requests()
        .iter()
        .filter(|r| r.to_string().contains(&tag))
        .count()
}

fn eval_list(p: &Paddock) -> Vec<EvalRunView> {
    let out = p.cmd(["eval", "list", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", common::describe(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn local_evaluation_resolves_the_right_fixes_with_exact_costs_and_predictions() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let set = task_set();
    let m = rt.block_on(model(&set.script));
    let p = Paddock::new();
    scripted_config(p.data_dir(), &m.base_url(), "");
    let out = set.dir.path().join("out");
    let ids = [
        "acme__calc-1",
        "acme__calc-2",
        "acme__greet-1",
        "acme__greet-2",
        "acme__shout-1",
        "acme__nothere-1",
        "acme__calc-9",
    ];
    let instances = ids.join(",");
    let ran = p.cmd(run_args(
        &set,
        &out,
        &[
            "--evaluate",
            "local",
            "--instances",
            &instances,
            "--name",
            "first",
        ],
    ));
    let err = stderr(&ran);
    assert_eq!(ran.status.code(), Some(0), "{}", common::describe(&ran));
    assert!(
        err.contains("evaluated locally with each task's test_cmd"),
        "{err}"
    );
    assert!(err.contains("[7/7] "), "{err}");

    let rs = results(&out);
    // results.jsonl is in task order.
    let order: Vec<&str> = rs.iter().map(|r| r.instance_id.as_str()).collect();
    assert_eq!(order, ids);
    let status = |id: &str| by_id(&rs, id).status;
    assert_eq!(status("acme__calc-1"), InstanceStatus::Resolved, "{rs:#?}");
    assert_eq!(
        status("acme__calc-2"),
        InstanceStatus::Unresolved,
        "{rs:#?}"
    );
    assert_eq!(status("acme__greet-1"), InstanceStatus::Resolved, "{rs:#?}");
    assert_eq!(
        status("acme__greet-2"),
        InstanceStatus::Unresolved,
        "{rs:#?}"
    );
    assert_eq!(status("acme__shout-1"), InstanceStatus::Resolved, "{rs:#?}");
    let missing = by_id(&rs, "acme__nothere-1");
    assert_eq!(missing.status, InstanceStatus::Error);
    assert_eq!(missing.error_kind, Some(EvalErrorKind::RepoMissing));
    let no_commit = by_id(&rs, "acme__calc-9");
    assert_eq!(no_commit.status, InstanceStatus::Error);
    assert_eq!(no_commit.error_kind, Some(EvalErrorKind::CommitMissing));
    assert!(missing.attempts.is_empty() && no_commit.attempts.is_empty());

    // The tests as they ran: the wrong fix fails its FAIL_TO_PASS and
    // keeps its PASS_TO_PASS.
    let wrong = by_id(&rs, "acme__calc-2").attempts[0]
        .tests
        .clone()
        .unwrap();
    assert!(!wrong.fail_to_pass["test_calc.CalcTest.test_mul"]);
    assert!(wrong.pass_to_pass["test_calc.CalcTest.test_sub"]);
    let right = by_id(&rs, "acme__greet-1").attempts[0]
        .tests
        .clone()
        .unwrap();
    assert!(right.fail_to_pass["greet"]);
    assert!(right.pass_to_pass["bye"]);

    // Exact costs, tokens and turns: two model calls per instance that ran.
    for r in rs.iter().filter(|r| r.status != InstanceStatus::Error) {
        assert_eq!(r.turns, 2, "{r:?}");
        assert_eq!(r.input_tokens, 2 * CALL_INPUT, "{r:?}");
        assert_eq!(r.output_tokens, 2 * CALL_OUTPUT, "{r:?}");
        assert!(close(r.cost_usd, 2.0 * CALL_USD), "{r:?}");
        assert_eq!(r.evaluation, Evaluation::Local);
        assert_eq!(r.kept_attempt, Some(1));
    }
    for r in [missing, no_commit] {
        assert_eq!((r.turns, r.cost_usd), (0, 0.0));
    }

    // The summary: 3 resolved of 5 counted (errors are not in the rate).
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["resolved"], 3);
    assert_eq!(summary["unresolved"], 2);
    assert_eq!(summary["errors"], 2);
    assert_eq!(summary["finished"], 7);
    assert!(close(summary["resolved_rate"].as_f64().unwrap(), 0.6));
    assert!(close(
        summary["cost_usd"].as_f64().unwrap(),
        10.0 * CALL_USD
    ));
    assert_eq!(summary["evaluation"], "local");
    assert_eq!(
        summary["evaluated_by"],
        "evaluated locally with each task's test_cmd"
    );

    // predictions.jsonl: exactly three keys a line, one line per instance
    // that is not an error, in task order; each patch applies to a clean
    // checkout of its base commit and makes the repository as the fix.
    let preds: Vec<Value> = std::fs::read_to_string(out.join("predictions.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let pred_ids: Vec<&str> = preds
        .iter()
        .map(|p| p["instance_id"].as_str().unwrap())
        .collect();
    assert_eq!(pred_ids, &ids[..5]);
    // The official swebench package's own predictions loader reads the file.
    common::swebench::assert_predictions_load(&out.join("predictions.jsonl"));
    for pred in &preds {
        let keys: Vec<&str> = pred
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, ["instance_id", "model_name_or_path", "model_patch"]);
        assert_eq!(pred["model_name_or_path"], "scripted/scripted");
    }
    let patch = |id: &str| {
        preds.iter().find(|p| p["instance_id"] == id).unwrap()["model_patch"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let calc = patch("acme__calc-1");
    assert!(
        calc.contains("-    return a - b\n+    return a + b\n"),
        "{calc}"
    );
    assert!(!calc.contains("test_calc.py"), "{calc}");
    let greet = patch("acme__greet-1");
    assert!(
        greet.contains("new file mode") && greet.contains("+exports.comma = ', ';"),
        "{greet}"
    );
    // The new file and the change apply to a clean clone at the base.
    let clone = set.dir.path().join("clone");
    common::git(
        set.dir.path(),
        &[
            "clone",
            "-q",
            &set.repos.join("acme/greet").display().to_string(),
            &clone.display().to_string(),
        ],
    );
    common::git(
        &clone,
        &["checkout", "-q", &set.base_commit("acme__greet-1")],
    );
    std::fs::write(set.dir.path().join("greet.diff"), &greet).unwrap();
    common::git(
        &clone,
        &[
            "apply",
            &set.dir.path().join("greet.diff").display().to_string(),
        ],
    );
    assert_eq!(
        std::fs::read_to_string(clone.join("punct.js")).unwrap(),
        "exports.comma = ', ';\n"
    );
    // The agents' worktrees are gone (not --keep-worktrees), their
    // repositories' own checkouts untouched.
    let status = common::git(&set.repos.join("acme__calc"), &["status", "--porcelain"]);
    assert_eq!(status, "");

    // The run in the store, as `paddock eval list` shows it.
    let runs = eval_list(&p);
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    assert_eq!(run.name, "first");
    assert_eq!(serde_json::to_value(run.status).unwrap(), "finished");
    assert_eq!(run.totals.resolved, 3);
    assert_eq!(run.totals.errors, 2);
    assert!(close(run.totals.cost_usd, 10.0 * CALL_USD));
    let table = p.cmd(["eval", "list"]);
    assert!(
        common::stdout(&table).contains("first"),
        "{}",
        common::describe(&table)
    );
    let run_file: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
    assert_eq!(run_file["id"], run.id.as_str());
}

#[test]
fn best_of_three_keeps_the_third_attempt_adds_up_all_three_and_beats_one_attempt_by_id() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let set = task_set();
    let m = rt.block_on(model(&set.script));
    let p = Paddock::new();
    scripted_config(p.data_dir(), &m.base_url(), "");
    let out = set.dir.path().join("out3");
    let ran = p.cmd(run_args(
        &set,
        &out,
        &[
            "--evaluate",
            "local",
            "--instances",
            "acme__calc-3",
            "--attempts",
            "3",
        ],
    ));
    assert_eq!(ran.status.code(), Some(0), "{}", common::describe(&ran));
    assert!(
        stderr(&ran).contains("(attempt 3 of 3)"),
        "{}",
        stderr(&ran)
    );
    let rs = results(&out);
    assert_eq!(rs.len(), 1);
    let r = &rs[0];
    assert_eq!(r.status, InstanceStatus::Resolved, "{r:#?}");
    assert_eq!(r.kept_attempt, Some(3));
    let statuses: Vec<InstanceStatus> = r.attempts.iter().map(|a| a.status).collect();
    assert_eq!(
        statuses,
        [
            InstanceStatus::Unresolved,
            InstanceStatus::Unresolved,
            InstanceStatus::Resolved
        ]
    );
    // Each attempt its own agent; the sums are the three attempts'.
    let agents: std::collections::BTreeSet<&str> =
        r.attempts.iter().map(|a| a.agent_id.as_str()).collect();
    assert_eq!(agents.len(), 3);
    for a in &r.attempts {
        assert!(close(a.cost_usd, 2.0 * CALL_USD), "{a:?}");
        assert_eq!(a.turns, 2);
    }
    assert!(close(r.cost_usd, 6.0 * CALL_USD), "{r:?}");
    assert_eq!(r.turns, 6);
    assert_eq!(r.input_tokens, 6 * CALL_INPUT);
    assert_eq!(requests_of(&m, "acme__calc-3"), 6);
    // The kept patch is the third attempt's.
    let preds = std::fs::read_to_string(out.join("predictions.jsonl")).unwrap();
    let pred: Value = serde_json::from_str(preds.trim()).unwrap();
    assert!(
        pred["model_patch"]
            .as_str()
            .unwrap()
            .contains("+    return a / b"),
        "{pred}"
    );
    assert_eq!(
        r.patch_bytes,
        pred["model_patch"].as_str().unwrap().len() as u64
    );

    // One attempt on the same instance (its prompt names no attempt: the
    // wrong fix), then `paddock eval compare` of the two runs by their ids
    // in the store, and by id against a directory.
    let out1 = set.dir.path().join("out1");
    let ran = p.cmd(run_args(
        &set,
        &out1,
        &[
            "--evaluate",
            "local",
            "--instances",
            "acme__calc-3",
            "--name",
            "one-attempt",
        ],
    ));
    assert_eq!(ran.status.code(), Some(0), "{}", common::describe(&ran));
    let runs = eval_list(&p);
    let id_of = |dir: &Path| -> String {
        let v: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("run.json")).unwrap()).unwrap();
        v["id"].as_str().unwrap().to_string()
    };
    let (one, three) = (id_of(&out1), id_of(&out));
    assert_eq!(runs.len(), 2);
    assert!(runs.iter().any(|r| r.id == one) && runs.iter().any(|r| r.id == three));
    let compared = p.cmd(["eval", "compare", &one, &three, "--json"]);
    assert_eq!(
        compared.status.code(),
        Some(0),
        "{}",
        common::describe(&compared)
    );
    let c: paddock_protocol::eval::EvalComparison =
        serde_json::from_slice(&compared.stdout).unwrap();
    assert_eq!(
        (c.a.id.as_str(), c.b.id.as_str()),
        (one.as_str(), three.as_str())
    );
    assert_eq!(c.a.name, "one-attempt");
    assert_eq!(c.common, 1);
    assert_eq!((c.a.rate.resolved, c.a.rate.counted), (0, 1));
    assert_eq!((c.b.rate.resolved, c.b.rate.counted), (1, 1));
    assert!(close(c.difference.delta, 1.0));
    assert!(close(c.a.cost_usd, 2.0 * CALL_USD), "{c:?}");
    assert_eq!(c.a.cost_per_resolved_usd, None);
    assert!(close(c.b.cost_usd, 6.0 * CALL_USD), "{c:?}");
    assert!(close(c.b.cost_per_resolved_usd.unwrap(), 6.0 * CALL_USD));
    assert_eq!(
        (c.a.input_tokens, c.b.input_tokens),
        (2 * CALL_INPUT, 6 * CALL_INPUT)
    );
    assert!(c.wins.is_empty());
    assert_eq!(c.losses, ["acme__calc-3"]);
    // An id against an output directory: the same figures, as a table.
    let table = p.cmd(["eval", "compare", &one, &out.display().to_string()]);
    assert_eq!(table.status.code(), Some(0), "{}", common::describe(&table));
    let text = common::stdout(&table);
    for want in [
        "0/1 = 0.0 %",
        "1/1 = 100.0 %",
        "losses (resolved in B, not in A): 1",
        "  acme__calc-3  A unresolved ($0.0024), B resolved ($0.0072)",
    ] {
        assert!(text.contains(want), "{want:?} not in:\n{text}");
    }
    // Neither a directory nor a run's id: named, exit 2.
    let bad = p.cmd(["eval", "compare", &one, "no-such-run"]);
    assert_eq!(bad.status.code(), Some(2), "{}", common::describe(&bad));
    assert!(
        stderr(&bad).contains("RUN_B `no-such-run`: neither an output directory nor the id"),
        "{}",
        stderr(&bad)
    );
}

#[test]
fn a_run_killed_mid_way_continues_without_redoing_finished_instances() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let set = task_set();
    let m = rt.block_on(model(&set.script));
    let p = Paddock::new();
    scripted_config(p.data_dir(), &m.base_url(), "");
    let out = set.dir.path().join("out-kill");
    let args = run_args(
        &set,
        &out,
        &["--instances", "acme__calc-1,acme__greet-1,acme__slow-1"],
    );
    let mut child = p
        .command()
        .args(&args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until two instances have results and the slow one is asking
    // its model, then kill -9.
    let started = Instant::now();
    loop {
        let done = results(&out).len();
        if done == 2 && requests_of(&m, "acme__slow-1") >= 1 {
            break;
        }
        assert!(done < 3, "the slow instance finished before the kill");
        if let Ok(Some(s)) = child.try_wait() {
            panic!("paddock eval run exited early: {s}");
        }
        assert!(started.elapsed() < DEADLINE, "never reached the kill point");
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let first_id: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
    let before = results(&out);
    assert_eq!(before.len(), 2);
    let calc_requests = requests_of(&m, "acme__calc-1");
    let greet_requests = requests_of(&m, "acme__greet-1");
    assert_eq!((calc_requests, greet_requests), (2, 2));
    // Shown as running until its heartbeat is a minute old; rerun now.
    let ran = p.cmd(&args);
    assert_eq!(ran.status.code(), Some(0), "{}", common::describe(&ran));
    let err = stderr(&ran);
    assert!(
        err.contains("[3/3] acme__slow-1 patched (not evaluated)"),
        "{err}"
    );
    assert!(err.contains("not evaluated"), "{err}");
    // The finished instances were not asked again; the slow one was redone
    // with a new agent.
    assert_eq!(requests_of(&m, "acme__calc-1"), 2);
    assert_eq!(requests_of(&m, "acme__greet-1"), 2);
    let after = results(&out);
    assert_eq!(after.len(), 3);
    for b in &before {
        assert_eq!(
            by_id(&after, &b.instance_id),
            b,
            "a finished result changed"
        );
    }
    let slow = by_id(&after, "acme__slow-1");
    assert_eq!(slow.status, InstanceStatus::NotEvaluated);
    assert_eq!(slow.turns, 2);
    assert!(close(slow.cost_usd, 2.0 * CALL_USD));
    let run_id: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
    assert_eq!(run_id, first_id);
    let runs = eval_list(&p);
    assert_eq!(runs.len(), 1, "the rerun continued the same run");
    assert_eq!(serde_json::to_value(runs[0].status).unwrap(), "finished");
    assert_eq!(runs[0].totals.finished, 3);
    assert_eq!(runs[0].totals.not_evaluated, 3);
    let preds = std::fs::read_to_string(out.join("predictions.jsonl")).unwrap();
    assert_eq!(preds.lines().count(), 3);
    // Exactly one agent of the slow instance is left unpurged: the cut
    // one was purged before the redo.
    let slow_agents = agents_named(&p, "/acme__slow-1/");
    assert_eq!(slow_agents, 1, "the cut attempt's agent was not purged");
}

/// Agents (deleted or not, not purged) whose name contains `part`, read
/// from the data dir's database.
fn agents_named(p: &Paddock, part: &str) -> usize {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = paddock_store::Store::open_sqlite(&p.data_dir().join("paddock.db"))
            .await
            .unwrap();
        let n = store
            .list_agents(true)
            .await
            .unwrap()
            .iter()
            .filter(|a| a.name.contains(part))
            .count();
        store.close().await;
        n
    })
}

/// `--evaluate swebench` checks the harness's pieces before any agent runs:
/// with the package there and no Docker engine it exits 2 naming Docker;
/// with a Python that lacks the package it names the package. Neither
/// makes a run, an agent or a model request. (The harness's own grading
/// needs Docker and the SWE-bench images, which the tests do not have.)
#[test]
fn swebench_evaluation_checks_the_harness_and_docker_before_any_agent() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let set = task_set();
    let m = rt.block_on(model(&set.script));
    let p = Paddock::new();
    scripted_config(p.data_dir(), &m.base_url(), "");
    let out = set.dir.path().join("out-swebench");
    let args = run_args(
        &set,
        &out,
        &["--evaluate", "swebench", "--instances", "acme__calc-1"],
    );

    // The package (the eval-tools venv), no Docker.
    let ran = p
        .command()
        .args(&args)
        .env(
            "PADDOCK_SWEBENCH_PYTHON",
            common::swebench::swebench_python(),
        )
        .env("DOCKER_HOST", "unix:///nonexistent.sock")
        .output()
        .unwrap();
    assert_eq!(ran.status.code(), Some(2), "{}", common::describe(&ran));
    let err = stderr(&ran);
    assert!(err.contains("it needs Docker"), "{err}");
    assert!(err.contains("unix:///nonexistent.sock"), "{err}");
    assert!(!err.contains("evaluating 1 instance"), "{err}");

    // A Python without the package (site-packages off), named by the flag.
    let bare = set.dir.path().join("python-bare");
    std::fs::write(&bare, "#!/bin/sh\nexec python3 -S \"$@\"\n").unwrap();
    std::fs::set_permissions(
        &bare,
        <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o755),
    )
    .unwrap();
    let mut with_bare = args.clone();
    with_bare.extend(["--swebench-python".to_string(), bare.display().to_string()]);
    let ran = p
        .command()
        .args(&with_bare)
        .env("DOCKER_HOST", "unix:///nonexistent.sock")
        .output()
        .unwrap();
    assert_eq!(ran.status.code(), Some(2), "{}", common::describe(&ran));
    let err = stderr(&ran);
    assert!(
        err.contains("cannot import swebench.harness.run_evaluation (the `swebench` package)"),
        "{err}"
    );
    assert!(err.contains("No module named 'swebench'"), "{err}");
    assert!(
        !err.contains("Docker"),
        "the package is checked first: {err}"
    );

    // A harness flag without --evaluate swebench is a usage error.
    let mut local = run_args(&set, &out, &["--instances", "acme__calc-1"]);
    local.extend(["--dataset".to_string(), "x.jsonl".to_string()]);
    let ran = p.cmd(&local);
    assert_eq!(ran.status.code(), Some(2), "{}", common::describe(&ran));
    assert!(
        stderr(&ran).contains("--dataset: only with --evaluate swebench"),
        "{}",
        stderr(&ran)
    );

    // Nothing ran: no model request, no run, no agent, no results.
    assert_eq!(m.requests().len(), 0);
    assert!(eval_list(&p).is_empty());
    assert_eq!(agents_named(&p, "acme__calc-1"), 0);
    assert!(!out.join("run.json").exists());
    assert!(!out.join("results.jsonl").exists());
}
