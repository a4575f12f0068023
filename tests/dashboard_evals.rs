//! Evaluation runs through the API and in the dashboard. Two runs of the
//! real `paddock eval run` over the same small task set
//! ([`common::evals`]: tiny repositories in Python and JavaScript, the
//! scripted model fixing some and not others) — run A with one attempt per
//! instance, run B best-of-3, which resolves one more — then:
//!
//! - `evals_api`: `paddock serve` over their data dir: the list (newest
//!   first, without results), one run with its results, the comparison,
//!   the predictions as JSON lines, 404s naming the id, and another user
//!   who sees none of them;
//! - `evals_in_chromium` (`tests/dashboard/evals.mjs`): the Evaluations
//!   screen, run B's page and the comparison in real Chromium, with
//!   screenshots at 1440 and 375 px in `target/evals-e2e/`.

use crate::common;
use crate::dashboard::CHROMIUM;

use common::evals::{TaskSet, task_set};
use common::{
    ADMIN_TOKEN, Paddock, Server, USER_TOKEN, describe, paddock_bin, scripted_config,
    shared_cache_dir,
};
use paddock_llm::scripted::RunningModel;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::path::Path;

/// The instances both runs are asked for: two resolved by any attempt,
/// one never resolved, one whose repository is missing, and the best-of-3
/// one only a third attempt resolves.
const SUBSET: &[&str] = &[
    "acme__calc-1",
    "acme__calc-2",
    "acme__greet-1",
    "acme__nothere-1",
    "acme__calc-3",
];
/// Resolved by B and not by A.
const LOSS: &str = "acme__calc-3";

/// Two finished runs in one data dir, and what made them.
struct TwoRuns {
    paddock: Paddock,
    config: std::path::PathBuf,
    /// One attempt per instance.
    a: String,
    /// Best-of-3.
    b: String,
    _set: TaskSet,
    _models: Vec<RunningModel>,
}

/// `paddock eval run` over [`SUBSET`], on a scripted model of its own (the
/// script counts its matches: each run starts from its first attempt);
/// the run's id, from `DIR/run.json`.
async fn eval_run(p: &Paddock, set: &TaskSet, name: &str, attempts: u32) -> (String, RunningModel) {
    let model = common::scripted::model(&set.script).await;
    // The data dir's paddock.toml, which `eval run` reads.
    scripted_config(p.data_dir(), &model.base_url(), "");
    let out = set.dir.path().join(format!("out-{name}"));
    let done = p
        .command()
        .arg("eval")
        .arg("run")
        .arg("--tasks")
        .arg(&set.tasks)
        .arg("--template")
        .arg(&set.template)
        .arg("--repos")
        .arg(&set.repos)
        .arg("--instances")
        .arg(SUBSET.join(","))
        .arg("--workers")
        .arg("2")
        .arg("--attempts")
        .arg(attempts.to_string())
        .arg("--evaluate")
        .arg("local")
        .arg("--name")
        .arg(name)
        .arg("--out")
        .arg(&out)
        .output()
        .expect("run paddock eval run");
    assert!(
        done.status.success(),
        "eval run {name}: {}",
        describe(&done)
    );
    let run: Value =
        serde_json::from_slice(&std::fs::read(out.join("run.json")).expect("run.json"))
            .expect("run.json is JSON");
    let id = run["id"]
        .as_str()
        .expect("run.json names the run's id")
        .to_string();
    (id, model)
}

async fn two_runs() -> TwoRuns {
    let set = task_set();
    let paddock = Paddock::new();
    let (a, model_a) = eval_run(&paddock, &set, "one-attempt", 1).await;
    let (b, model_b) = eval_run(&paddock, &set, "best-of-3", 3).await;
    // `serve` reads the store; its provider is never called.
    let config = scripted_config(paddock.data_dir(), &model_b.base_url(), "");
    TwoRuns {
        paddock,
        config,
        a,
        b,
        _set: set,
        _models: vec![model_a, model_b],
    }
}

async fn get(c: &reqwest::Client, s: &Server, path: &str) -> (StatusCode, String, Option<String>) {
    let r = c.get(s.url(path)).send().await.expect("GET");
    let status = r.status();
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    (status, r.text().await.expect("the body"), ct)
}

async fn get_json(c: &reqwest::Client, s: &Server, path: &str) -> Value {
    let (st, body, _) = get(c, s, path).await;
    assert_eq!(st, StatusCode::OK, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
}

fn status_of<'a>(run: &'a Value, instance: &str) -> &'a str {
    run["results"]
        .as_array()
        .expect("results")
        .iter()
        .find(|r| r["instance_id"] == instance)
        .and_then(|r| r["status"].as_str())
        .unwrap_or_else(|| panic!("no result for {instance} in {run}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evals_api() {
    let runs = two_runs().await;
    // Another user, made before the server starts, as an operator would.
    let alice = runs
        .paddock
        .cmd(["user", "add", "alice", "--role", "member", "--token"]);
    assert!(alice.status.success(), "{}", describe(&alice));
    let alice = common::stdout(&alice)
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_string();
    let s = Server::start(&runs.paddock, &runs.config, None, &[]);
    let me = common::client_with(USER_TOKEN);

    // The list: newest first, without results.
    let list = get_json(&me, &s, "/api/evals").await;
    let ids: Vec<&str> = list
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert_eq!(ids, [runs.b.as_str(), runs.a.as_str()], "{list}");
    assert!(
        list[0].get("results").is_none(),
        "no results in the list: {}",
        list[0]
    );
    assert_eq!(list[0]["status"], "finished");
    assert_eq!(list[0]["name"], "best-of-3");
    assert_eq!(list[0]["spec"]["evaluation"], "local");
    // 5 instances, one an error (not counted): A resolves 2 of 4, B 3 of 4.
    let totals = |v: &Value| {
        (
            v["totals"]["finished"].clone(),
            v["totals"]["resolved"].clone(),
            v["totals"]["errors"].clone(),
        )
    };
    assert_eq!(
        totals(&list[1]),
        (json!(5), json!(2), json!(1)),
        "{}",
        list[1]
    );
    assert_eq!(
        totals(&list[0]),
        (json!(5), json!(3), json!(1)),
        "{}",
        list[0]
    );

    // One run, with its results.
    let a = get_json(&me, &s, &format!("/api/evals/{}", runs.a)).await;
    assert_eq!(
        a["results"].as_array().map(Vec::len),
        Some(SUBSET.len()),
        "{a}"
    );
    assert_eq!(status_of(&a, "acme__calc-1"), "resolved");
    assert_eq!(status_of(&a, "acme__calc-2"), "unresolved");
    assert_eq!(status_of(&a, LOSS), "unresolved");
    assert_eq!(status_of(&a, "acme__nothere-1"), "error");
    let b = get_json(&me, &s, &format!("/api/evals/{}", runs.b)).await;
    assert_eq!(status_of(&b, LOSS), "resolved");
    let best = b["results"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["instance_id"] == LOSS))
        .expect("the best-of-3 result");
    assert_eq!(best["kept_attempt"], 3, "{best}");
    assert_eq!(best["attempts"].as_array().map(Vec::len), Some(3), "{best}");

    // The comparison: A is the baseline, B the candidate.
    let cmp = get_json(
        &me,
        &s,
        &format!("/api/evals/{}/compare/{}", runs.a, runs.b),
    )
    .await;
    assert_eq!(cmp["a"]["id"], runs.a.as_str());
    assert_eq!(cmp["b"]["id"], runs.b.as_str());
    assert_eq!(cmp["a"]["rate"]["resolved"], 2, "{cmp}");
    assert_eq!(cmp["a"]["rate"]["counted"], 4, "{cmp}");
    assert_eq!(cmp["b"]["rate"]["resolved"], 3, "{cmp}");
    assert_eq!(cmp["losses"], json!([LOSS]), "{cmp}");
    assert_eq!(cmp["wins"], json!([]), "{cmp}");
    let delta = cmp["difference"]["delta"].as_f64().expect("a delta");
    assert!((delta - 0.25).abs() < 1e-9, "{cmp}");
    assert_eq!(
        cmp["instances"].as_array().map(Vec::len),
        Some(SUBSET.len()),
        "{cmp}"
    );

    // The predictions: one JSON line per finished instance that is not an
    // error, with exactly the harness's keys and the kept patch.
    let (st, body, ct) = get(&me, &s, &format!("/api/evals/{}/predictions", runs.b)).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(ct.as_deref(), Some("application/x-ndjson"));
    let lines: Vec<Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let predicted: Vec<&str> = lines
        .iter()
        .filter_map(|l| l["instance_id"].as_str())
        .collect();
    assert_eq!(predicted.len(), SUBSET.len() - 1, "{body}");
    assert!(!predicted.contains(&"acme__nothere-1"), "{body}");
    for l in &lines {
        let mut keys: Vec<&String> = l.as_object().expect("an object").keys().collect();
        keys.sort();
        assert_eq!(
            keys,
            ["instance_id", "model_name_or_path", "model_patch"],
            "{l}"
        );
        assert_eq!(l["model_name_or_path"], b["spec"]["model_name"], "{l}");
    }
    let kept_patch = best["attempts"][2]["patch"].clone();
    assert!(kept_patch.as_str().is_some_and(|p| !p.is_empty()), "{best}");
    let line = lines
        .iter()
        .find(|l| l["instance_id"] == LOSS)
        .expect("its line");
    assert_eq!(line["model_patch"], kept_patch);

    // 404s name the id; so does the comparison with a run that is not there.
    for path in [
        "/api/evals/no-such-run".to_string(),
        "/api/evals/no-such-run/predictions".to_string(),
        format!("/api/evals/{}/compare/no-such-run", runs.a),
    ] {
        let (st, body, _) = get(&me, &s, &path).await;
        assert_eq!(st, StatusCode::NOT_FOUND, "{path}: {body}");
        assert!(
            body.contains("no evaluation run with id `no-such-run`"),
            "{path}: {body}"
        );
    }

    // Another user sees none of them: an empty list, 404 for each.
    let other = common::client_with(&alice);
    let (st, body, _) = get(&other, &s, "/api/me").await;
    assert_eq!(st, StatusCode::OK, "alice signs in: {body}");
    assert_eq!(get_json(&other, &s, "/api/evals").await, json!([]));
    for path in [
        format!("/api/evals/{}", runs.a),
        format!("/api/evals/{}/predictions", runs.a),
        format!("/api/evals/{}/compare/{}", runs.a, runs.b),
    ] {
        let (st, body, _) = get(&other, &s, &path).await;
        assert_eq!(st, StatusCode::NOT_FOUND, "{path} as alice: {body}");
    }
    // An admin sees them all.
    let admin = common::client_with(ADMIN_TOKEN);
    let all = get_json(&admin, &s, "/api/evals").await;
    assert_eq!(all.as_array().map(Vec::len), Some(2), "{all}");
}

/// The story of `tests/dashboard/evals.mjs`; its steps print `ok` or
/// `FAIL` (with a screenshot of the failure in the artefacts).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evals_in_chromium() {
    let root = common::repo_root();
    assert!(
        root.join("dashboard/dist/index.html").is_file(),
        "build the dashboard first (`make test` does)"
    );
    let runs = two_runs().await;
    let target = paddock_bin()
        .parent()
        .and_then(|p| p.parent())
        .map(Path::to_path_buf)
        .expect("the target dir");
    let artifacts = target.join("evals-e2e");
    let _ = std::fs::remove_dir_all(&artifacts);
    std::fs::create_dir_all(&artifacts).expect("create the artefacts dir");
    // What the pages must show: 2 of 4 and 3 of 4 with their 95 % Wilson
    // intervals, B − A = +25 points, the best-of-3 instance B alone resolved.
    let expect = json!({
        "a": {"name": "one-attempt", "rate": "50 % (15–85 %)"},
        "b": {"name": "best-of-3", "rate": "75 % (30.1–95.4 %)"},
        "delta": "+25.0 pts",
        "loss": LOSS,
        "instances": SUBSET.len(),
        "resolved_in_b": 3,
        "predictions": SUBSET.len() - 1,
    });
    let _one_browser = CHROMIUM.lock().await;
    let out = tokio::process::Command::new("node")
        .arg(root.join("tests/dashboard/evals.mjs"))
        .env("PADDOCK_BIN", paddock_bin())
        .env("PADDOCK_CACHE_DIR", shared_cache_dir())
        .env("PADDOCK_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("E2E_DATA_DIR", runs.paddock.data_dir())
        .env("E2E_CONFIG", &runs.config)
        .env("E2E_ARTIFACTS", &artifacts)
        .env("E2E_RUN_A", &runs.a)
        .env("E2E_RUN_B", &runs.b)
        .env("E2E_EXPECT", expect.to_string())
        .kill_on_drop(true)
        .status()
        .await
        .expect("run node tests/dashboard/evals.mjs (Node.js is needed)");
    assert!(
        out.success(),
        "the evaluation steps failed (their output is above; screenshots in {})",
        artifacts.display()
    );
}
