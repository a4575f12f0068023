//! The output directory of a run (`--out DIR`): `run.json` (the run's id,
//! so that a rerun with the same directory continues it),
//! `predictions.jsonl` (exactly `instance_id`, `model_name_or_path`,
//! `model_patch` per line, as the official harness reads it: one per
//! finished instance that is not an error, in task order),
//! `results.jsonl` (one [`InstanceResult`] per line, in task order) and
//! `summary.json` (the totals and which evaluation was used). Every file
//! is written whole to a temporary file and renamed over the old one, so a
//! reader (or a `kill -9`) never sees half of one.

use super::EvalError;
use paddock_protocol::eval::{
    EvalTask, EvalTotals, Evaluation, InstanceResult, InstanceStatus, Prediction,
};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::Write as _;
use std::path::Path;

/// `run.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunFile {
    /// The run's id in the store.
    pub id: String,
}

/// `summary.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// The run's id.
    pub run_id: String,
    /// Its name.
    pub name: String,
    /// `model_name_or_path` of its predictions.
    pub model_name: String,
    /// How patches were checked.
    pub evaluation: Evaluation,
    /// The same, in words.
    pub evaluated_by: String,
    /// The official harness's report, when it graded the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swebench_report: Option<String>,
    /// Its counts and sums.
    #[serde(flatten)]
    pub totals: EvalTotals,
}

/// What an evaluation is, in words (the output says it plainly).
pub fn evaluated_by(e: Evaluation) -> &'static str {
    match e {
        Evaluation::None => "not evaluated",
        Evaluation::Local => "evaluated locally with each task's test_cmd",
        Evaluation::Swebench => "evaluated by the official swebench harness",
    }
}

/// Writes `bytes` to `path` atomically (a temporary file in the same
/// directory, synced, renamed over it).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), EvalError> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| EvalError::io(dir, e))?;
    tmp.write_all(bytes).map_err(|e| EvalError::io(path, e))?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| EvalError::io(path, e))?;
    tmp.persist(path)
        .map_err(|e| EvalError::io(path, e.error))?;
    Ok(())
}

/// The run id `run.json` in `dir` names, if there is one.
pub fn read_run_file(dir: &Path) -> Result<Option<RunFile>, EvalError> {
    let path = dir.join("run.json");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(EvalError::io(&path, e)),
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| EvalError::Invalid(format!("{}: not a run file: {e}", path.display())))
}

/// `summary.json` in `dir`, if there is a readable one.
pub fn read_summary(dir: &Path) -> Option<Summary> {
    let text = std::fs::read_to_string(dir.join("summary.json")).ok()?;
    serde_json::from_str(&text).ok()
}

/// Writes `run.json`.
pub fn write_run_file(dir: &Path, run: &RunFile) -> Result<(), EvalError> {
    let text =
        serde_json::to_vec_pretty(run).map_err(|e| EvalError::Host(format!("run.json: {e}")))?;
    write_atomic(&dir.join("run.json"), &text)
}

/// The predictions of `results`, in the order of `tasks`: one per finished
/// instance that is not an error.
pub fn predictions(
    tasks: &[EvalTask],
    results: &HashMap<String, InstanceResult>,
    model_name: &str,
) -> Vec<Prediction> {
    tasks
        .iter()
        .filter_map(|t| results.get(&t.instance_id))
        .filter(|r| r.status != InstanceStatus::Error)
        .map(|r| Prediction {
            instance_id: r.instance_id.clone(),
            model_name_or_path: model_name.to_string(),
            model_patch: kept_patch(r),
        })
        .collect()
}

/// The kept attempt's patch (empty when there is none).
pub fn kept_patch(r: &InstanceResult) -> String {
    r.kept_attempt
        .and_then(|k| r.attempts.iter().find(|a| a.attempt == k))
        .map(|a| a.patch.clone())
        .unwrap_or_default()
}

/// Lines of JSON, one value per line.
fn jsonl<T: Serialize>(items: &[T]) -> Result<Vec<u8>, EvalError> {
    let mut out = Vec::new();
    for item in items {
        let line = serde_json::to_string(item)
            .map_err(|e| EvalError::Host(format!("a JSON line: {e}")))?;
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
    }
    Ok(out)
}

/// Writes `predictions.jsonl`, `results.jsonl` and `summary.json`.
pub fn write_outputs(
    dir: &Path,
    tasks: &[EvalTask],
    results: &HashMap<String, InstanceResult>,
    summary: &Summary,
) -> Result<(), EvalError> {
    let preds = predictions(tasks, results, &summary.model_name);
    write_atomic(&dir.join("predictions.jsonl"), &jsonl(&preds)?)?;
    let ordered: Vec<&InstanceResult> = tasks
        .iter()
        .filter_map(|t| results.get(&t.instance_id))
        .collect();
    write_atomic(&dir.join("results.jsonl"), &jsonl(&ordered)?)?;
    let text = serde_json::to_vec_pretty(summary)
        .map_err(|e| EvalError::Host(format!("summary.json: {e}")))?;
    write_atomic(&dir.join("summary.json"), &text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use paddock_protocol::eval::AttemptResult;

    fn task(id: &str) -> EvalTask {
        serde_json::from_value(serde_json::json!({
            "instance_id": id, "repo": "a/b", "base_commit": "c",
            "problem_statement": "p", "FAIL_TO_PASS": ["t"]
        }))
        .unwrap()
    }

    fn result(id: &str, status: InstanceStatus, patch: &str) -> InstanceResult {
        InstanceResult {
            instance_id: id.into(),
            status,
            error_kind: None,
            limit: None,
            message: None,
            evaluation: Evaluation::None,
            kept_attempt: (status != InstanceStatus::Error).then_some(2),
            attempts: vec![
                AttemptResult {
                    attempt: 1,
                    agent_id: "a1".into(),
                    workspace_id: None,
                    status: InstanceStatus::Unresolved,
                    error_kind: None,
                    limit: None,
                    message: None,
                    patch: "first".into(),
                    input_tokens: 0,
                    output_tokens: 0,
                    cost_usd: 0.0,
                    turns: 0,
                    wall_ms: 0,
                    tests: None,
                },
                AttemptResult {
                    attempt: 2,
                    agent_id: "a2".into(),
                    workspace_id: None,
                    status,
                    error_kind: None,
                    limit: None,
                    message: None,
                    patch: patch.into(),
                    input_tokens: 0,
                    output_tokens: 0,
                    cost_usd: 0.0,
                    turns: 0,
                    wall_ms: 0,
                    tests: None,
                },
            ],
            input_tokens: 0,
            output_tokens: 0,
            cost_usd: 0.0,
            turns: 0,
            wall_ms: 0,
            patch_bytes: patch.len() as u64,
            finished_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn outputs_are_in_task_order_and_errors_make_no_prediction() {
        let dir = tempfile::tempdir().unwrap();
        let tasks = [task("x"), task("y"), task("z"), task("w")];
        let results: HashMap<String, InstanceResult> = [
            result("z", InstanceStatus::NotEvaluated, "pz"),
            result("x", InstanceStatus::Resolved, "px"),
            result("y", InstanceStatus::Error, ""),
        ]
        .into_iter()
        .map(|r| (r.instance_id.clone(), r))
        .collect();
        let summary = Summary {
            run_id: "r".into(),
            name: "n".into(),
            model_name: "m".into(),
            evaluation: Evaluation::None,
            evaluated_by: evaluated_by(Evaluation::None).into(),
            swebench_report: None,
            totals: EvalTotals::default(),
        };
        write_outputs(dir.path(), &tasks, &results, &summary).unwrap();
        let preds = std::fs::read_to_string(dir.path().join("predictions.jsonl")).unwrap();
        assert_eq!(
            preds,
            "{\"instance_id\":\"x\",\"model_name_or_path\":\"m\",\"model_patch\":\"px\"}\n\
             {\"instance_id\":\"z\",\"model_name_or_path\":\"m\",\"model_patch\":\"pz\"}\n"
        );
        let lines: Vec<InstanceResult> = std::fs::read_to_string(dir.path().join("results.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let ids: Vec<&str> = lines.iter().map(|r| r.instance_id.as_str()).collect();
        assert_eq!(ids, ["x", "y", "z"]);
        let s: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join("summary.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(s["evaluated_by"], "not evaluated");
        assert_eq!(s["instances"], 0);

        assert_eq!(read_run_file(dir.path()).unwrap(), None);
        write_run_file(dir.path(), &RunFile { id: "abc".into() }).unwrap();
        assert_eq!(
            read_run_file(dir.path()).unwrap(),
            Some(RunFile { id: "abc".into() })
        );
        std::fs::write(dir.path().join("run.json"), "nope").unwrap();
        assert!(read_run_file(dir.path()).is_err());
    }
}
