//! Evaluations: an agent configuration run over a set of tasks in the
//! SWE-bench instance format, each instance on a fresh worktree at its
//! `base_commit`, its patch checked (locally with the task's `test_cmd`,
//! or by the official harness), and the results kept in the store and in
//! an output directory the official harness reads.
//!
//! This module owns the error type and the views of runs (for the API, the
//! dashboard and `paddock eval list`); its sub-modules own the parts:
//!
//! - [`tasks`]: reading a tasks file (JSONL).
//! - [`repos`]: finding a task's repository (a path or a mirror) and its
//!   commit, without network.
//! - [`local`]: local evaluation (a clean checkout, the patch, the tests
//!   in the sandbox).
//! - [`files`]: the output directory (`run.json`, `predictions.jsonl`,
//!   `results.jsonl`, `summary.json`), written atomically.
//! - [`runner`]: a whole run: instances in parallel, attempts, budgets,
//!   heartbeats, resumption; and its grading by the official harness.
//! - [`swebench`]: the official SWE-bench harness (checks, its run, its
//!   report onto the results).
//! - [`compare`]: two runs compared.

pub mod compare;
pub mod files;
pub mod local;
pub mod repos;
pub mod runner;
pub mod swebench;
pub mod tasks;

use chrono::{DateTime, Utc};
use paddock_protocol::eval::{
    EvalRunStatus, EvalRunView, EvalTotals, InstanceResult, InstanceStatus,
};
use paddock_store::{EvalRunRecord, Store, StoreError};

/// A `running` run whose heartbeat is older than this is shown as
/// interrupted (its process heartbeats every few seconds).
pub const STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(60);

/// Why an evaluation operation failed.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A line of the tasks file is wrong: the text names the file, the
    /// line and the field.
    #[error("{file}: line {line}: {reason}")]
    Task {
        /// The tasks file.
        file: String,
        /// 1-based.
        line: usize,
        /// What is wrong (starting with the field at fault).
        reason: String,
    },
    /// The request is wrong (a usage error): the text names the option or
    /// field at fault.
    #[error("{0}")]
    Invalid(String),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Something on the host failed (an agent, a worktree, git, the
    /// sandbox) in a way that ends the run, not just an instance.
    #[error("{0}")]
    Host(String),
    /// The official SWE-bench harness is missing or failed.
    #[error(transparent)]
    Swebench(#[from] swebench::SwebenchError),
}

impl EvalError {
    /// An [`EvalError::Io`] for this path.
    pub fn io(path: impl AsRef<std::path::Path>, source: std::io::Error) -> EvalError {
        EvalError::Io {
            path: path.as_ref().display().to_string(),
            source,
        }
    }
}

/// The counts and sums of `results` in a run of `instances` instances.
pub fn totals(instances: u32, results: &[InstanceResult]) -> EvalTotals {
    let mut t = EvalTotals {
        instances,
        ..EvalTotals::default()
    };
    for r in results {
        t.finished = t.finished.saturating_add(1);
        let slot = match r.status {
            InstanceStatus::Resolved => &mut t.resolved,
            InstanceStatus::Unresolved => &mut t.unresolved,
            InstanceStatus::NotEvaluated => &mut t.not_evaluated,
            InstanceStatus::LimitHit => &mut t.limit_hit,
            InstanceStatus::Error => &mut t.errors,
        };
        *slot = slot.saturating_add(1);
        t.cost_usd += r.cost_usd;
        t.input_tokens = t.input_tokens.saturating_add(r.input_tokens);
        t.output_tokens = t.output_tokens.saturating_add(r.output_tokens);
    }
    let counted = t.finished.saturating_sub(t.errors);
    if counted > 0 {
        t.resolved_rate = Some(f64::from(t.resolved) / f64::from(counted));
    }
    t
}

/// The status a run is shown with at `now`: a `running` run whose
/// heartbeat is older than [`STALE_AFTER`] is `interrupted` (its process
/// died without saying so).
pub fn shown_status(run: &EvalRunRecord, now: DateTime<Utc>) -> EvalRunStatus {
    let stale = chrono::Duration::from_std(STALE_AFTER).unwrap_or(chrono::Duration::MAX);
    if run.status == EvalRunStatus::Running && now.signed_duration_since(run.updated_at) > stale {
        EvalRunStatus::Interrupted
    } else {
        run.status
    }
}

/// A run's view from its row and results (`with_results`: the results
/// are in it, else only their totals).
pub fn view_of(
    run: EvalRunRecord,
    results: Vec<InstanceResult>,
    with_results: bool,
    now: DateTime<Utc>,
) -> EvalRunView {
    let status = shown_status(&run, now);
    EvalRunView {
        totals: totals(run.spec.instances, &results),
        id: run.id,
        name: run.name,
        owner: run.owner,
        status,
        spec: run.spec,
        created_at: run.created_at,
        updated_at: run.updated_at,
        finished_at: run.finished_at,
        results: with_results.then_some(results),
    }
}

/// Every run, newest first, with its totals (without its results).
pub async fn list_views(store: &Store) -> Result<Vec<EvalRunView>, EvalError> {
    let now = Utc::now();
    let mut views = Vec::new();
    for run in store.list_eval_runs().await? {
        let results = store.eval_results(&run.id).await?;
        views.push(view_of(run, results, false, now));
    }
    Ok(views)
}

/// The run with this id, with its results if asked; None when unknown.
pub async fn run_view(
    store: &Store,
    id: &str,
    with_results: bool,
) -> Result<Option<EvalRunView>, EvalError> {
    let Some(run) = store.get_eval_run(id).await? else {
        return Ok(None);
    };
    let results = store.eval_results(id).await?;
    Ok(Some(view_of(run, results, with_results, Utc::now())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use paddock_protocol::eval::{EvalSpec, Evaluation};

    pub(crate) fn result(id: &str, status: InstanceStatus, cost: f64) -> InstanceResult {
        InstanceResult {
            instance_id: id.into(),
            status,
            error_kind: None,
            limit: None,
            message: None,
            evaluation: Evaluation::Local,
            kept_attempt: Some(1),
            attempts: vec![],
            input_tokens: 100,
            output_tokens: 10,
            cost_usd: cost,
            turns: 2,
            wall_ms: 5,
            patch_bytes: 1,
            finished_at: Utc::now(),
        }
    }

    fn record(status: EvalRunStatus, updated_at: DateTime<Utc>) -> EvalRunRecord {
        EvalRunRecord {
            id: "r".into(),
            name: "n".into(),
            owner: "local".into(),
            spec: EvalSpec {
                tasks_file: "t.jsonl".into(),
                instances: 5,
                template: "coder".into(),
                model: None,
                router: None,
                model_name: "m".into(),
                workers: 1,
                attempts: 1,
                max_steps: 250,
                max_cost_per_instance_usd: 3.0,
                max_wall_time_secs: 1800,
                max_cost_usd: None,
                evaluation: Evaluation::Local,
                repos_dir: None,
                out_dir: "o".into(),
            },
            status,
            created_at: updated_at,
            updated_at,
            finished_at: None,
        }
    }

    #[test]
    fn totals_count_each_status_and_leave_errors_out_of_the_rate() {
        let results = [
            result("a", InstanceStatus::Resolved, 0.5),
            result("b", InstanceStatus::Unresolved, 0.25),
            result("c", InstanceStatus::Error, 0.125),
            result("d", InstanceStatus::LimitHit, 1.0),
        ];
        let t = totals(5, &results);
        assert_eq!(
            (
                t.instances,
                t.finished,
                t.resolved,
                t.unresolved,
                t.errors,
                t.limit_hit
            ),
            (5, 4, 1, 1, 1, 1)
        );
        assert_eq!(t.resolved_rate, Some(1.0 / 3.0));
        assert_eq!(t.cost_usd, 1.875);
        assert_eq!((t.input_tokens, t.output_tokens), (400, 40));
        let only_errors = totals(1, &[result("e", InstanceStatus::Error, 0.0)]);
        assert_eq!(only_errors.resolved_rate, None);
        assert_eq!(totals(3, &[]).resolved_rate, None);
    }

    #[test]
    fn a_running_run_without_a_heartbeat_for_a_minute_is_interrupted() {
        let now = Utc::now();
        let fresh = record(EvalRunStatus::Running, now - chrono::Duration::seconds(5));
        assert_eq!(shown_status(&fresh, now), EvalRunStatus::Running);
        let stale = record(EvalRunStatus::Running, now - chrono::Duration::seconds(61));
        assert_eq!(shown_status(&stale, now), EvalRunStatus::Interrupted);
        let done = record(EvalRunStatus::Finished, now - chrono::Duration::hours(5));
        assert_eq!(shown_status(&done, now), EvalRunStatus::Finished);
        let view = view_of(
            stale,
            vec![result("a", InstanceStatus::Resolved, 1.0)],
            false,
            now,
        );
        assert_eq!(view.status, EvalRunStatus::Interrupted);
        assert_eq!(view.totals.resolved, 1);
        assert_eq!(view.results, None);
    }
}
