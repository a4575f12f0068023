//! Evaluations: tasks in the SWE-bench instance format, what one run of an
//! agent configuration over them is asked to do ([`EvalSpec`]), what each
//! instance came to ([`InstanceResult`]), a run's view for the API and the
//! dashboard ([`EvalRunView`]), and the comparison of two runs
//! ([`EvalComparison`]). The core runs them (`paddock_core::eval`), the
//! store keeps them, `paddock eval` and the API show them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;

/// An evaluation run's id (a UUID in text form).
pub type EvalRunId = String;

/// One task, as a line of a SWE-bench JSONL file. Fields the official set
/// has and Paddock does not use (`hints_text`, `version`, `patch`, …) are
/// ignored. `FAIL_TO_PASS` and `PASS_TO_PASS` are read as a JSON list or
/// as a string holding one (the Hugging Face dataset's form).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EvalTask {
    /// The instance's id (`owner__repo-1234`); unique in a file.
    pub instance_id: String,
    /// The repository: `owner/name` (looked up under the run's
    /// repositories directory) or a local path.
    pub repo: String,
    /// The commit the agent starts from.
    pub base_commit: String,
    /// The issue the agent is to resolve.
    pub problem_statement: String,
    /// Tests that fail at `base_commit` and must pass with the patch.
    #[serde(rename = "FAIL_TO_PASS", deserialize_with = "test_list")]
    pub fail_to_pass: Vec<String>,
    /// Tests that pass at `base_commit` and must still pass.
    #[serde(rename = "PASS_TO_PASS", default, deserialize_with = "test_list")]
    pub pass_to_pass: Vec<String>,
    /// The tests' patch the official set applies before the tests run
    /// (local evaluation applies it too, after the model's patch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_patch: Option<String>,
    /// The Paddock environment (`[[environments]]`) the agent and the
    /// tests run in; the host's default sandbox when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// How to run one test (local evaluation): a shell command, run once
    /// per test with the test's name for `{test}` (shell-quoted), or
    /// appended when there is no `{test}`; exit 0 is a pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_cmd: Option<String>,
}

/// A list of test names, or a string holding a JSON list of them.
fn test_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        List(Vec<String>),
        Text(String),
    }
    match Either::deserialize(d)? {
        Either::List(l) => Ok(l),
        Either::Text(t) => serde_json::from_str(&t).map_err(|e| {
            serde::de::Error::custom(format!("a string holding a JSON list of test names: {e}"))
        }),
    }
}

/// How patches are checked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum Evaluation {
    /// Not checked: the predictions are written, no instance is resolved.
    #[default]
    None,
    /// `FAIL_TO_PASS` and `PASS_TO_PASS` run with the task's `test_cmd`
    /// in its sandbox, on a clean checkout plus the patch.
    Local,
    /// `predictions.jsonl` handed to the official `swebench` harness
    /// (Docker and the dataset needed); its report read back.
    Swebench,
}

/// What an evaluation run was asked to do (kept with it; a rerun with the
/// same output directory continues it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EvalSpec {
    /// The tasks file (JSONL), as given.
    pub tasks_file: String,
    /// How many tasks it held (after `--instances` filtering).
    pub instances: u32,
    /// The agent template.
    pub template: String,
    /// The model (`provider/model` or a model of the template's
    /// provider), when not the template's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The router, when one routes the model calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub router: Option<String>,
    /// `model_name_or_path` in the predictions: the model, else the router,
    /// else the template's model.
    pub model_name: String,
    /// Instances run at once.
    pub workers: u32,
    /// Attempts per instance (best-of-N: the first passing one is kept).
    pub attempts: u32,
    /// Model calls per attempt.
    pub max_steps: u32,
    /// Dollars per attempt.
    pub max_cost_per_instance_usd: f64,
    /// Seconds per attempt.
    pub max_wall_time_secs: u64,
    /// Dollars for the whole run: no instance starts once it is spent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_cost_usd: Option<f64>,
    /// How patches are checked.
    pub evaluation: Evaluation,
    /// Where the repositories named `owner/name` are looked up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repos_dir: Option<String>,
    /// The output directory (`predictions.jsonl`, `results.jsonl`,
    /// `summary.json`).
    pub out_dir: String,
}

/// An evaluation run's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum EvalRunStatus {
    /// Its process is running instances (it heartbeats).
    Running,
    /// Its process stopped before every instance finished (killed, or
    /// its heartbeat is older than a minute); a rerun continues it.
    Interrupted,
    /// Stopped because the whole-run budget was spent.
    BudgetSpent,
    /// Every instance has a result.
    Finished,
}

/// What an instance came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum InstanceStatus {
    /// Its patch made every `FAIL_TO_PASS` and `PASS_TO_PASS` test pass.
    Resolved,
    /// It was evaluated and some test failed (or it made no patch).
    Unresolved,
    /// It made a patch; no evaluation was asked.
    NotEvaluated,
    /// A limit (steps, cost, time) ended its agent before an answer.
    LimitHit,
    /// It could not be run or evaluated (see `error_kind`); not counted
    /// in the resolved rate's denominator.
    Error,
}

/// Why an instance is an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum EvalErrorKind {
    /// Its repository was not found.
    RepoMissing,
    /// Its `base_commit` is not in the repository.
    CommitMissing,
    /// Its environment is unknown or could not start.
    Environment,
    /// Its agent ended in an error (the model failed after its retries, …).
    Agent,
    /// The evaluation could not run (no `test_cmd`, the patch did not
    /// apply to a clean checkout, the harness failed).
    Evaluation,
    /// Anything else on the host's side (the store, the sandbox).
    Host,
}

/// Which limit ended an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum EvalLimit {
    /// `max_steps` model calls.
    Steps,
    /// The per-instance cost.
    Cost,
    /// The per-instance wall time.
    Time,
}

/// The tests an evaluation ran, by name: passed or not.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TestOutcomes {
    /// `FAIL_TO_PASS`.
    #[serde(rename = "FAIL_TO_PASS")]
    pub fail_to_pass: BTreeMap<String, bool>,
    /// `PASS_TO_PASS`.
    #[serde(rename = "PASS_TO_PASS")]
    pub pass_to_pass: BTreeMap<String, bool>,
}

/// One attempt at an instance (there are `attempts` of them at most).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AttemptResult {
    /// 1-based.
    pub attempt: u32,
    /// Its agent.
    pub agent_id: String,
    /// Its worktree (a Paddock workspace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_id: Option<String>,
    /// What it came to (the instance's status is the kept attempt's).
    pub status: InstanceStatus,
    /// Why it is an error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<EvalErrorKind>,
    /// Which limit ended it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<EvalLimit>,
    /// A line on why it is not resolved (error, limit, failing tests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Its patch (`git diff` of its worktree against `base_commit`).
    pub patch: String,
    /// Tokens in (prompt) over its model calls.
    pub input_tokens: u64,
    /// Tokens out.
    pub output_tokens: u64,
    /// Dollars.
    pub cost_usd: f64,
    /// Model calls.
    pub turns: u32,
    /// Milliseconds from start to evaluated.
    pub wall_ms: u64,
    /// The tests, when evaluated locally.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tests: Option<TestOutcomes>,
}

/// What one instance came to: one line of `results.jsonl`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InstanceResult {
    /// The instance.
    pub instance_id: String,
    /// What it came to (its kept attempt's).
    pub status: InstanceStatus,
    /// Why it is an error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<EvalErrorKind>,
    /// Which limit ended it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<EvalLimit>,
    /// A line on why it is not resolved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// How it was checked.
    pub evaluation: Evaluation,
    /// The kept attempt (1-based): the first that resolved, else the last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kept_attempt: Option<u32>,
    /// Its attempts, in order.
    #[serde(default)]
    pub attempts: Vec<AttemptResult>,
    /// Tokens in over all its attempts.
    pub input_tokens: u64,
    /// Tokens out over all its attempts.
    pub output_tokens: u64,
    /// Dollars over all its attempts.
    pub cost_usd: f64,
    /// Model calls over all its attempts.
    pub turns: u32,
    /// Milliseconds over all its attempts (wall time, from the first
    /// start to the last evaluation).
    pub wall_ms: u64,
    /// Bytes of the kept patch.
    pub patch_bytes: u64,
    /// When it finished.
    pub finished_at: DateTime<Utc>,
}

/// Counts and sums of a run so far.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EvalTotals {
    /// Instances in the run.
    pub instances: u32,
    /// Instances with a result.
    pub finished: u32,
    /// Resolved.
    pub resolved: u32,
    /// Unresolved.
    pub unresolved: u32,
    /// Made a patch, not evaluated.
    pub not_evaluated: u32,
    /// Ended by a limit.
    pub limit_hit: u32,
    /// Errors (not in the rate's denominator).
    pub errors: u32,
    /// `resolved / (finished - errors)`, when that is not zero.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_rate: Option<f64>,
    /// Dollars.
    pub cost_usd: f64,
    /// Tokens in.
    pub input_tokens: u64,
    /// Tokens out.
    pub output_tokens: u64,
}

/// An evaluation run, for the API and the dashboard.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EvalRunView {
    /// Its id.
    pub id: EvalRunId,
    /// Its name (`--name`, else `<template>-<first 8 of its id>`).
    pub name: String,
    /// Who ran it.
    pub owner: String,
    /// Its status.
    pub status: EvalRunStatus,
    /// What it was asked to do.
    pub spec: EvalSpec,
    /// Counts and sums so far.
    pub totals: EvalTotals,
    /// When it started.
    pub created_at: DateTime<Utc>,
    /// Its last heartbeat or result.
    pub updated_at: DateTime<Utc>,
    /// When every instance had a result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    /// Its results (in `GET /api/evals/{id}`; left out of lists).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub results: Option<Vec<InstanceResult>>,
}

/// A resolved rate with its 95 % Wilson score interval.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RateInterval {
    /// Resolved.
    pub resolved: u32,
    /// Counted (finished minus errors).
    pub counted: u32,
    /// `resolved / counted`.
    pub rate: f64,
    /// The interval's lower end.
    pub low: f64,
    /// Its upper end.
    pub high: f64,
}

/// One side of a comparison.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ComparedRun {
    /// The run.
    pub id: EvalRunId,
    /// Its name.
    pub name: String,
    /// Its model (`model_name_or_path`).
    pub model_name: String,
    /// How it was evaluated.
    pub evaluation: Evaluation,
    /// Its resolved rate over the instances both runs finished.
    pub rate: RateInterval,
    /// Dollars over those instances.
    pub cost_usd: f64,
    /// Dollars per resolved instance (none resolved: absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_per_resolved_usd: Option<f64>,
    /// Tokens in.
    pub input_tokens: u64,
    /// Tokens out.
    pub output_tokens: u64,
    /// Errors among those instances.
    pub errors: u32,
}

/// How one instance fared in each run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InstanceComparison {
    /// The instance.
    pub instance_id: String,
    /// Its status in A.
    pub a: InstanceStatus,
    /// Its status in B.
    pub b: InstanceStatus,
    /// Dollars in A.
    pub a_cost_usd: f64,
    /// Dollars in B.
    pub b_cost_usd: f64,
}

/// Two runs compared over the instances both finished.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EvalComparison {
    /// Run A.
    pub a: ComparedRun,
    /// Run B.
    pub b: ComparedRun,
    /// Instances both finished (the basis of every figure).
    pub common: u32,
    /// Instances only one of them has a result for.
    pub only_in_a: Vec<String>,
    /// Ditto for B.
    pub only_in_b: Vec<String>,
    /// Resolved in A, not in B.
    pub wins: Vec<String>,
    /// Resolved in B, not in A.
    pub losses: Vec<String>,
    /// Resolved rate of B minus A, with a 95 % interval (Newcombe's
    /// method 10: from the two Wilson intervals).
    pub difference: RateDifference,
    /// Every common instance.
    pub instances: Vec<InstanceComparison>,
}

/// A difference of two rates with its 95 % interval.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RateDifference {
    /// B's rate minus A's.
    pub delta: f64,
    /// The interval's lower end.
    pub low: f64,
    /// Its upper end.
    pub high: f64,
}

/// A line of `predictions.jsonl`, exactly as the official harness reads it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// The instance.
    pub instance_id: String,
    /// The model (or router, or configuration) that made it.
    pub model_name_or_path: String,
    /// The patch (`git diff`; empty when it made none).
    pub model_patch: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tasks_read_test_lists_in_both_forms() {
        let a: EvalTask = serde_json::from_str(
            r#"{"instance_id":"a__b-1","repo":"a/b","base_commit":"abc","problem_statement":"p",
                "FAIL_TO_PASS":"[\"t1\", \"t2\"]","PASS_TO_PASS":["t3"],"version":"1.0"}"#,
        )
        .unwrap();
        assert_eq!(a.fail_to_pass, ["t1", "t2"]);
        assert_eq!(a.pass_to_pass, ["t3"]);
        let bad = serde_json::from_str::<EvalTask>(
            r#"{"instance_id":"x","repo":"a/b","base_commit":"abc","problem_statement":"p","FAIL_TO_PASS":"t1"}"#,
        )
        .unwrap_err();
        assert!(bad.to_string().contains("JSON list"), "{bad}");
    }
}
