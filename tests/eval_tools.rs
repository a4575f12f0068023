//! The evaluation tools against the real binary and the real `swebench`
//! package: `paddock eval compare` on two output directories this test
//! writes itself (in the protocol's formats: `run.json`, `results.jsonl`,
//! `predictions.jsonl`), with exact figures; and the official predictions
//! loader (`common::swebench`) accepting a good file and refusing bad ones.

use crate::common::swebench::{assert_predictions_load, load_predictions};
use crate::common::{Paddock, describe, stdout};
use chrono::{TimeZone, Utc};
use paddock_protocol::eval::{
    EvalComparison, EvalErrorKind, EvalRunStatus, EvalRunView, EvalSpec, EvalTotals, Evaluation,
    InstanceResult, InstanceStatus, Prediction,
};
use std::path::Path;

fn result(id: &str, status: InstanceStatus, cost: f64, tokens: (u64, u64)) -> InstanceResult {
    InstanceResult {
        instance_id: id.into(),
        status,
        error_kind: (status == InstanceStatus::Error).then_some(EvalErrorKind::CommitMissing),
        limit: None,
        message: None,
        evaluation: Evaluation::Local,
        kept_attempt: Some(1),
        attempts: Vec::new(),
        input_tokens: tokens.0,
        output_tokens: tokens.1,
        cost_usd: cost,
        turns: 3,
        wall_ms: 1200,
        patch_bytes: 42,
        finished_at: Utc.with_ymd_and_hms(2026, 3, 4, 5, 6, 7).unwrap(),
    }
}

fn write_jsonl<T: serde::Serialize>(path: &Path, rows: &[T]) {
    let text: String = rows
        .iter()
        .map(|r| serde_json::to_string(r).unwrap() + "\n")
        .collect();
    std::fs::write(path, text).unwrap();
}

fn predictions(results: &[InstanceResult], model: &str) -> Vec<Prediction> {
    results
        .iter()
        .map(|r| Prediction {
            instance_id: r.instance_id.clone(),
            model_name_or_path: model.into(),
            model_patch: "diff --git a/x b/x\n".into(),
        })
        .collect()
}

/// Run A: a full `run.json` (the run's view without its results).
fn write_run_a(dir: &Path) {
    use InstanceStatus::*;
    let results = vec![
        result("i1", Resolved, 0.5, (100, 10)),
        result("i2", Resolved, 0.25, (200, 20)),
        result("i3", Unresolved, 1.0, (300, 30)),
        result("i4", Error, 0.0, (0, 0)),
        result("i5", LimitHit, 3.0, (400, 40)),
        result("only-a", Resolved, 9.0, (9, 9)),
    ];
    let view = EvalRunView {
        id: "aaaaaaaa-1111-2222-3333-444444444444".into(),
        name: "baseline".into(),
        owner: "admin".into(),
        status: EvalRunStatus::Finished,
        spec: EvalSpec {
            tasks_file: "tasks.jsonl".into(),
            instances: 6,
            template: "coder".into(),
            model: Some("scripted/a".into()),
            router: None,
            model_name: "scripted/a".into(),
            workers: 2,
            attempts: 1,
            max_steps: 250,
            max_cost_per_instance_usd: 3.0,
            max_wall_time_secs: 3600,
            max_cost_usd: None,
            evaluation: Evaluation::Local,
            repos_dir: None,
            out_dir: dir.display().to_string(),
        },
        totals: EvalTotals::default(),
        created_at: Utc.with_ymd_and_hms(2026, 3, 4, 5, 0, 0).unwrap(),
        updated_at: Utc.with_ymd_and_hms(2026, 3, 4, 5, 6, 7).unwrap(),
        finished_at: None,
        results: None,
    };
    std::fs::write(
        dir.join("run.json"),
        serde_json::to_string_pretty(&view).unwrap(),
    )
    .unwrap();
    write_jsonl(
        &dir.join("predictions.jsonl"),
        &predictions(&results, "scripted/a"),
    );
    write_jsonl(&dir.join("results.jsonl"), &results);
}

/// Run B: a `run.json` with its id only; the model's name comes from its
/// predictions.
fn write_run_b(dir: &Path) {
    use InstanceStatus::*;
    let results = vec![
        result("i5", Resolved, 0.75, (50, 5)),
        result("i4", Resolved, 0.25, (60, 6)),
        result("i3", Resolved, 0.5, (70, 7)),
        result("i2", Unresolved, 0.5, (80, 8)),
        result("i1", Resolved, 0.25, (90, 9)),
        result("only-b", Unresolved, 9.0, (9, 9)),
    ];
    std::fs::write(dir.join("run.json"), r#"{"id":"bbbbbbbb-run"}"#).unwrap();
    write_jsonl(
        &dir.join("predictions.jsonl"),
        &predictions(&results, "scripted/b"),
    );
    write_jsonl(&dir.join("results.jsonl"), &results);
}

fn close(x: f64, want: f64) {
    assert!((x - want).abs() < 1e-9, "{x} is not {want}");
}

#[test]
fn compare_two_output_directories() {
    let p = Paddock::new();
    let work = tempfile::tempdir().unwrap();
    let (a, b) = (work.path().join("run-a"), work.path().join("run-b"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    write_run_a(&a);
    write_run_b(&b);

    let out = p.cmd([
        "eval".as_ref(),
        "compare".as_ref(),
        a.as_os_str(),
        b.as_os_str(),
        "--json".as_ref(),
    ]);
    assert!(out.status.success(), "{}", describe(&out));
    let c: EvalComparison = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(c.common, 5);
    assert_eq!(c.only_in_a, ["only-a"]);
    assert_eq!(c.only_in_b, ["only-b"]);
    assert_eq!(c.a.name, "baseline");
    assert_eq!(c.a.model_name, "scripted/a");
    assert_eq!(c.b.id, "bbbbbbbb-run");
    assert_eq!(c.b.name, "bbbbbbbb-run");
    assert_eq!(c.b.model_name, "scripted/b");
    assert_eq!(c.b.evaluation, Evaluation::Local);
    // A: 2 of 4 (i4 is an error); B: 4 of 5.
    assert_eq!((c.a.rate.resolved, c.a.rate.counted, c.a.errors), (2, 4, 1));
    assert_eq!((c.b.rate.resolved, c.b.rate.counted, c.b.errors), (4, 5, 0));
    close(c.a.rate.low, 0.150_038_989_152_149_5);
    close(c.a.rate.high, 0.849_961_010_847_850_5);
    close(c.b.rate.low, 0.375_534_629_762_525_3);
    close(c.b.rate.high, 0.963_775_891_367_569_8);
    close(c.difference.delta, 0.3);
    close(c.difference.low, -0.250_130_493_287_261_67);
    close(c.difference.high, 0.686_387_437_304_697_2);
    close(c.a.cost_usd, 4.75);
    close(c.a.cost_per_resolved_usd.unwrap(), 2.375);
    close(c.b.cost_usd, 2.25);
    close(c.b.cost_per_resolved_usd.unwrap(), 0.5625);
    assert_eq!((c.a.input_tokens, c.a.output_tokens), (1000, 100));
    assert_eq!((c.b.input_tokens, c.b.output_tokens), (350, 35));
    assert_eq!(c.wins, ["i2"]);
    assert_eq!(c.losses, ["i3", "i4", "i5"]);
    assert_eq!(c.instances.len(), 5);

    // The table says the same.
    let out = p.cmd([
        "eval".as_ref(),
        "compare".as_ref(),
        a.as_os_str(),
        b.as_os_str(),
    ]);
    assert!(out.status.success(), "{}", describe(&out));
    let table = stdout(&out);
    for want in [
        "2/4 = 50.0 % [15.0 %, 85.0 %]",
        "4/5 = 80.0 % [37.6 %, 96.4 %]",
        "$4.7500",
        "$2.3750",
        "$0.5625",
        "over the 5 instances both runs finished (1 only in A, 1 only in B)",
        "difference (B - A): +30.0 points, 95 % CI [-25.0, +68.6] (Newcombe)",
        "wins (resolved in A, not in B): 1",
        "  i2  A resolved ($0.2500), B unresolved ($0.5000)",
        "losses (resolved in B, not in A): 3",
        "  i4  A error ($0.0000), B resolved ($0.2500)",
    ] {
        assert!(table.contains(want), "{want:?} not in:\n{table}");
    }

    // Bad arguments are named.
    let missing = work.path().join("nowhere");
    let out = p.cmd([
        "eval".as_ref(),
        "compare".as_ref(),
        a.as_os_str(),
        missing.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("RUN_B"),
        "{}",
        describe(&out)
    );
    std::fs::write(b.join("results.jsonl"), "{\"instance_id\": \"i1\"}\n").unwrap();
    let out = p.cmd([
        "eval".as_ref(),
        "compare".as_ref(),
        a.as_os_str(),
        b.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("RUN_B") && err.contains("results.jsonl, line 1") && err.contains("status"),
        "{}",
        describe(&out)
    );
}

#[test]
fn the_official_loader_accepts_good_predictions_and_refuses_bad_ones() {
    let work = tempfile::tempdir().unwrap();
    let good = work.path().join("predictions.jsonl");
    write_jsonl(
        &good,
        &[
            Prediction {
                instance_id: "astropy__astropy-12907".into(),
                model_name_or_path: "openai/gpt-4.1-mini".into(),
                model_patch: "diff --git a/a.py b/a.py\n--- a/a.py\n+++ b/a.py\n".into(),
            },
            Prediction {
                instance_id: "django__django-11099".into(),
                model_name_or_path: "openai/gpt-4.1-mini".into(),
                model_patch: String::new(),
            },
        ],
    );
    assert_predictions_load(&good);
    let loaded = load_predictions(&good).unwrap();
    assert_eq!(loaded[1]["instance_id"], "django__django-11099");
    assert_eq!(loaded[1]["model_patch"], "");

    // A prediction without its instance: the loader's own refusal.
    let no_id = work.path().join("no-id.jsonl");
    std::fs::write(
        &no_id,
        "{\"model_name_or_path\":\"m\",\"model_patch\":\"\"}\n",
    )
    .unwrap();
    let why = load_predictions(&no_id).unwrap_err();
    assert!(
        why.contains("Each prediction must contain 'instance_id'"),
        "{why}"
    );
    // Not JSON lines.
    let not_json = work.path().join("not-json.jsonl");
    std::fs::write(&not_json, "instance_id: x\n").unwrap();
    let why = load_predictions(&not_json).unwrap_err();
    assert!(why.contains("JSONDecodeError"), "{why}");
    // A file the loader cannot tell the format of.
    let txt = work.path().join("predictions.txt");
    std::fs::copy(&good, &txt).unwrap();
    let why = load_predictions(&txt).unwrap_err();
    assert!(
        why.contains("Predictions path must be .json or .jsonl"),
        "{why}"
    );
    // Without the patch the harness reads.
    let no_patch = work.path().join("no-patch.jsonl");
    std::fs::write(
        &no_patch,
        "{\"instance_id\":\"x\",\"model_name_or_path\":\"m\"}\n",
    )
    .unwrap();
    let why = load_predictions(&no_patch).unwrap_err();
    assert!(why.contains("has no 'model_patch'"), "{why}");

    // And the assertion fails on such a file.
    let panicked = std::panic::catch_unwind(|| assert_predictions_load(&no_id)).unwrap_err();
    let message = panicked
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(message.contains("refuses the predictions"), "{message}");
}
