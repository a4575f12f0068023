//! `--evaluate swebench`: hands a run's `predictions.jsonl` to the official
//! SWE-bench harness (`python -m swebench.harness.run_evaluation`, from the
//! `swebench` package on PyPI, 5.0.2 as pinned by
//! `scripts/eval-tools/requirements.txt`) and reads its report back.
//!
//! The harness builds and runs Docker containers, so before it starts this
//! checks that the Python named by the options imports the package and
//! that the Docker engine answers, and says which of them is missing. The
//! harness runs in the run's output directory (its logs go to
//! `logs/run_evaluation/<run id>/…` there, and a rerun with the same run id
//! skips the instances it already graded); its output goes to
//! `swebench-harness.log`; its report is
//! `<model_name_or_path with / as __>.<run id>.json` (5.0.2's
//! `make_run_report`), whose id lists become a [`SwebenchReport`], which
//! [`apply_report`] puts on each instance's result.

use paddock_protocol::eval::{EvalErrorKind, InstanceResult, InstanceStatus, Prediction};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tracing::{Instrument, info, info_span};

/// The harness's module.
const HARNESS_MODULE: &str = "swebench.harness.run_evaluation";
/// How long the Docker engine has to answer the check.
const DOCKER_CHECK_TIMEOUT: Duration = Duration::from_secs(5);
/// The harness's output, in the output directory.
pub const HARNESS_LOG: &str = "swebench-harness.log";

/// How the harness is run.
#[derive(Clone, Debug, PartialEq)]
pub struct SwebenchOptions {
    /// The Python that has the `swebench` package (see
    /// [`SwebenchOptions::default_python`]).
    pub python: PathBuf,
    /// The dataset: a Hugging Face name (`SWE-bench/SWE-bench_Lite`, which
    /// must be in the local cache when there is no network) or a local
    /// `.json`/`.jsonl`/`.parquet` file of instances.
    pub dataset: String,
    /// The dataset's split.
    pub split: String,
    /// Instances graded at once (`--max_workers`).
    pub max_workers: u32,
    /// The harness's run id (its logs and report are named by it).
    pub run_id: String,
    /// Seconds for one instance's tests (`--timeout`).
    pub timeout_secs: u64,
    /// The Docker engine (`unix:///…`, `tcp://…`); `DOCKER_HOST` or the
    /// default socket when absent. Given to the harness as `DOCKER_HOST`.
    pub docker_host: Option<String>,
}

impl SwebenchOptions {
    /// The harness's defaults (SWE-bench Lite's test split, 4 workers,
    /// 1800 s an instance) with the default Python, for `run_id`.
    pub fn new(run_id: impl Into<String>) -> SwebenchOptions {
        SwebenchOptions {
            python: SwebenchOptions::default_python(),
            dataset: "SWE-bench/SWE-bench_Lite".into(),
            split: "test".into(),
            max_workers: 4,
            run_id: run_id.into(),
            timeout_secs: 1800,
            docker_host: None,
        }
    }

    /// `$PADDOCK_SWEBENCH_PYTHON`, else the venv `scripts/eval-tools.sh`
    /// installs next to the build (`<target>/eval-tools/.venv/bin/python`,
    /// the target dir being the one above this binary's) when it exists,
    /// else `python3`.
    pub fn default_python() -> PathBuf {
        if let Some(p) = std::env::var_os("PADDOCK_SWEBENCH_PYTHON").filter(|p| !p.is_empty()) {
            return PathBuf::from(p);
        }
        let venv = std::env::current_exe().ok().and_then(|exe| {
            let target = exe.parent()?.parent()?.to_path_buf();
            let python = target.join("eval-tools/.venv/bin/python");
            python.is_file().then_some(python)
        });
        venv.unwrap_or_else(|| PathBuf::from("python3"))
    }
}

/// What the harness made of each prediction.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SwebenchReport {
    /// Its patch made the instance's tests pass.
    pub resolved: BTreeSet<String>,
    /// Graded, and some test failed.
    pub unresolved: BTreeSet<String>,
    /// The harness could not grade it (the patch did not apply, the
    /// container failed, no report).
    pub errors: BTreeSet<String>,
    /// Its patch was empty: not graded.
    pub empty_patch: BTreeSet<String>,
    /// Among the unresolved and the errors, those the harness's logs show
    /// failed for the environment's sake (5.0.2's `infra_failure_ids`).
    pub infra_failure: BTreeSet<String>,
    /// Why, for those the harness could classify (`failure_reasons`).
    pub failure_reasons: BTreeMap<String, String>,
    /// The report file.
    pub report_path: PathBuf,
}

/// One instance's outcome in a [`SwebenchReport`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HarnessOutcome {
    /// Resolved.
    Resolved,
    /// Graded, not resolved.
    Unresolved,
    /// Not graded: the harness failed on it.
    Error,
    /// Not graded: its patch was empty.
    EmptyPatch,
    /// Not in the report.
    Missing,
}

impl SwebenchReport {
    /// What the harness made of `instance_id`.
    pub fn outcome(&self, instance_id: &str) -> HarnessOutcome {
        if self.resolved.contains(instance_id) {
            HarnessOutcome::Resolved
        } else if self.unresolved.contains(instance_id) {
            HarnessOutcome::Unresolved
        } else if self.errors.contains(instance_id) {
            HarnessOutcome::Error
        } else if self.empty_patch.contains(instance_id) {
            HarnessOutcome::EmptyPatch
        } else {
            HarnessOutcome::Missing
        }
    }
}

/// Puts the harness's verdict on an instance's result (and on its kept
/// attempt): resolved; unresolved (with the harness's reason when it gave
/// one); an empty patch is unresolved with a message saying the harness did
/// not grade it; a harness error, or an instance missing from the report,
/// is an `error` of kind `evaluation` (not counted in the resolved rate).
/// `harness_run_id` names the harness's logs in the message.
pub fn apply_report(result: &mut InstanceResult, report: &SwebenchReport, harness_run_id: &str) {
    let id = result.instance_id.clone();
    let logs = format!("logs/run_evaluation/{harness_run_id}/…/{id}");
    let reason = report.failure_reasons.get(&id);
    let infra = if report.infra_failure.contains(&id) {
        " (the harness's logs show an environment failure, not the patch's)"
    } else {
        ""
    };
    let (status, kind, message) = match report.outcome(&id) {
        HarnessOutcome::Resolved => (InstanceStatus::Resolved, None, None),
        HarnessOutcome::Unresolved => (
            InstanceStatus::Unresolved,
            None,
            Some(match reason {
                Some(r) => format!("the SWE-bench harness graded it unresolved: {r}{infra}"),
                None => format!(
                    "the SWE-bench harness graded it unresolved: some of its FAIL_TO_PASS or                      PASS_TO_PASS tests failed{infra} (see {logs})"
                ),
            }),
        ),
        HarnessOutcome::EmptyPatch => (
            InstanceStatus::Unresolved,
            None,
            Some("its patch was empty: the SWE-bench harness did not grade it".to_string()),
        ),
        HarnessOutcome::Error => (
            InstanceStatus::Error,
            Some(EvalErrorKind::Evaluation),
            Some(format!(
                "the SWE-bench harness could not grade it: {}{infra} (see {logs})",
                reason.map_or(
                    "its patch did not apply or its container failed",
                    String::as_str
                )
            )),
        ),
        HarnessOutcome::Missing => (
            InstanceStatus::Error,
            Some(EvalErrorKind::Evaluation),
            Some(format!(
                "the SWE-bench harness's report {} does not name it (is the instance in the \
                 dataset?)",
                report.report_path.display()
            )),
        ),
    };
    result.status = status;
    result.error_kind = kind;
    result.limit = None;
    result.message = message.clone();
    if let Some(k) = result.kept_attempt
        && let Some(a) = result.attempts.iter_mut().find(|a| a.attempt == k)
    {
        a.status = status;
        a.error_kind = kind;
        a.limit = None;
        a.message = message;
    }
}

/// Why the harness could not be used, or failed.
#[derive(Debug, thiserror::Error)]
pub enum SwebenchError {
    /// The Python does not run.
    #[error(
        "the SWE-bench harness is unavailable: cannot run Python {} ({why}); install the \
         evaluation tools with scripts/eval-tools.sh or set PADDOCK_SWEBENCH_PYTHON",
        python.display()
    )]
    PythonMissing {
        /// The Python.
        python: PathBuf,
        /// Why.
        why: String,
    },
    /// The Python does not import the package.
    #[error(
        "the SWE-bench harness is unavailable: Python {} cannot import {HARNESS_MODULE} \
         (the `swebench` package): {output}; install it with scripts/eval-tools.sh (swebench==5.0.2) \
         or point PADDOCK_SWEBENCH_PYTHON at a Python that has it",
        python.display()
    )]
    PackageMissing {
        /// The Python.
        python: PathBuf,
        /// What the import said (its last lines).
        output: String,
    },
    /// The Docker engine does not answer.
    #[error(
        "the SWE-bench harness is unavailable: it needs Docker, and the engine at {endpoint} does \
         not answer ({why}); start Docker or point DOCKER_HOST at an engine"
    )]
    DockerUnavailable {
        /// The engine's address.
        endpoint: String,
        /// Why.
        why: String,
    },
    /// The options or the predictions are not usable.
    #[error("swebench evaluation: {0}")]
    Invalid(String),
    /// A file could not be read or written.
    #[error("swebench evaluation: {what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Why it failed.
        source: std::io::Error,
    },
    /// The harness exited with an error.
    #[error(
        "the SWE-bench harness failed ({status}); its output is in {}; its last lines:\n{tail}",
        log.display()
    )]
    HarnessFailed {
        /// Its exit status.
        status: String,
        /// Its output's file.
        log: PathBuf,
        /// Its last lines.
        tail: String,
    },
    /// The harness finished without writing its report.
    #[error(
        "the SWE-bench harness wrote no report at {}; its output is in {}; its last lines:\n{tail}",
        path.display(), log.display()
    )]
    NoReport {
        /// Where the report should be.
        path: PathBuf,
        /// Its output's file.
        log: PathBuf,
        /// Its last lines.
        tail: String,
    },
    /// The report is not in the harness's format.
    #[error("{}: not a SWE-bench harness report: {why}", path.display())]
    BadReport {
        /// The report.
        path: PathBuf,
        /// Why.
        why: String,
    },
}

/// The harness's report (5.0.2's `make_run_report`) as far as it is read:
/// the id lists. The four first lists are in every version's report; the
/// others came with `schema_version` 2.
#[derive(Deserialize)]
struct ReportFile {
    resolved_ids: Vec<String>,
    unresolved_ids: Vec<String>,
    error_ids: Vec<String>,
    empty_patch_ids: Vec<String>,
    #[serde(default)]
    infra_failure_ids: Vec<String>,
    #[serde(default)]
    failure_reasons: BTreeMap<String, String>,
}

/// Reads a harness report.
pub fn read_report(path: &Path) -> Result<SwebenchReport, SwebenchError> {
    let text = std::fs::read_to_string(path).map_err(|source| SwebenchError::Io {
        what: format!("cannot read the harness's report {}", path.display()),
        source,
    })?;
    let r: ReportFile = serde_json::from_str(&text).map_err(|e| SwebenchError::BadReport {
        path: path.to_path_buf(),
        why: e.to_string(),
    })?;
    let set = |v: Vec<String>| v.into_iter().collect::<BTreeSet<_>>();
    Ok(SwebenchReport {
        resolved: set(r.resolved_ids),
        unresolved: set(r.unresolved_ids),
        errors: set(r.error_ids),
        empty_patch: set(r.empty_patch_ids),
        infra_failure: set(r.infra_failure_ids),
        failure_reasons: r.failure_reasons,
        report_path: path.to_path_buf(),
    })
}

/// The report's file name: the first prediction's `model_name_or_path`
/// with `/` as `__`, then `.<run id>.json` (as 5.0.2 names it).
pub fn report_file_name(model_name_or_path: &str, run_id: &str) -> String {
    format!("{}.{run_id}.json", model_name_or_path.replace('/', "__"))
}

/// Checks that `python` imports the harness.
pub async fn check_package(python: &Path) -> Result<(), SwebenchError> {
    let out = tokio::process::Command::new(python)
        .args(["-c", &format!("import {HARNESS_MODULE}")])
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| SwebenchError::PythonMissing {
            python: python.to_path_buf(),
            why: e.to_string(),
        })?;
    if out.status.success() {
        return Ok(());
    }
    let mut text = String::from_utf8_lossy(&out.stderr).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stdout));
    let output = tail(&text, 3);
    Err(SwebenchError::PackageMissing {
        python: python.to_path_buf(),
        output: if output.is_empty() {
            format!("it exited with {}", out.status)
        } else {
            output
        },
    })
}

/// Checks that the Docker engine (`docker_host`, else `DOCKER_HOST`, else
/// the default socket) answers; its address.
pub async fn check_docker(docker_host: Option<&str>) -> Result<String, SwebenchError> {
    let config = paddock_sandbox::SandboxConfig {
        docker_host: docker_host.map(str::to_string),
        ..Default::default()
    };
    let endpoint = paddock_sandbox::docker::docker_endpoint(&config);
    let specs = paddock_sandbox::engines::EngineSpec::from_config(&config).map_err(|e| {
        SwebenchError::DockerUnavailable {
            endpoint: endpoint.clone(),
            why: e.to_string(),
        }
    })?;
    let pool = paddock_sandbox::engines::EnginePool::connect(specs, DOCKER_CHECK_TIMEOUT).await;
    match pool.status().into_iter().next() {
        Some(s) if s.healthy => Ok(endpoint),
        Some(s) => Err(SwebenchError::DockerUnavailable {
            endpoint,
            why: s.error.unwrap_or_else(|| "no answer".into()),
        }),
        None => Err(SwebenchError::DockerUnavailable {
            endpoint,
            why: "no engine is configured".into(),
        }),
    }
}

/// The harness's arguments for these options (after `python`).
pub fn harness_args(
    opts: &SwebenchOptions,
    predictions: &Path,
    report_dir: &Path,
) -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = Vec::new();
    let mut push = |flag: &str, value: std::ffi::OsString| {
        args.push(flag.into());
        args.push(value);
    };
    push("-m", HARNESS_MODULE.into());
    push("--dataset_name", opts.dataset.clone().into());
    push("--split", opts.split.clone().into());
    push("--predictions_path", predictions.as_os_str().to_owned());
    push("--max_workers", opts.max_workers.to_string().into());
    push("--timeout", opts.timeout_secs.to_string().into());
    push("--run_id", opts.run_id.clone().into());
    push("--report_dir", report_dir.as_os_str().to_owned());
    args
}

/// Grades `predictions` (a `predictions.jsonl`) with the official harness
/// in `out_dir`, and reads its report back. Fails, before anything runs,
/// when the package or Docker is missing (saying which).
pub async fn evaluate(
    opts: &SwebenchOptions,
    predictions: &Path,
    out_dir: &Path,
) -> Result<SwebenchReport, SwebenchError> {
    let span = info_span!("swebench_evaluate", run_id = %opts.run_id, dataset = %opts.dataset);
    async move {
        if opts.run_id.trim().is_empty() {
            return Err(SwebenchError::Invalid("the run id is empty".into()));
        }
        if opts.max_workers == 0 {
            return Err(SwebenchError::Invalid("max_workers must be at least 1".into()));
        }
        let abs = |p: &Path, what: &str| {
            std::path::absolute(p).map_err(|source| SwebenchError::Io {
                what: format!("cannot resolve the {what} {}", p.display()),
                source,
            })
        };
        let predictions = abs(predictions, "predictions file")?;
        let out_dir = abs(out_dir, "output directory")?;
        if predictions.extension().and_then(|e| e.to_str()) != Some("jsonl") {
            return Err(SwebenchError::Invalid(format!(
                "the predictions file {} must end in .jsonl (the harness reads the format by the name)",
                predictions.display()
            )));
        }
        let first = first_prediction(&predictions)?;

        check_package(&opts.python).await?;
        let endpoint = check_docker(opts.docker_host.as_deref()).await?;

        std::fs::create_dir_all(&out_dir).map_err(|source| SwebenchError::Io {
            what: format!("cannot create {}", out_dir.display()),
            source,
        })?;
        let log_path = out_dir.join(HARNESS_LOG);
        let log = std::fs::File::create(&log_path).map_err(|source| SwebenchError::Io {
            what: format!("cannot create {}", log_path.display()),
            source,
        })?;
        let log_err = log.try_clone().map_err(|source| SwebenchError::Io {
            what: format!("cannot open {} twice", log_path.display()),
            source,
        })?;
        let report_path =
            out_dir.join(report_file_name(&first.model_name_or_path, &opts.run_id));
        // A report of an earlier grading must not pass for this one's.
        match std::fs::remove_file(&report_path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(SwebenchError::Io {
                    what: format!("cannot remove the old report {}", report_path.display()),
                    source,
                });
            }
        }

        info!(python = %opts.python.display(), docker = %endpoint, "running the SWE-bench harness");
        let mut cmd = tokio::process::Command::new(&opts.python);
        cmd.args(harness_args(opts, &predictions, &out_dir))
            .current_dir(&out_dir)
            .env("DOCKER_HOST", &endpoint)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .kill_on_drop(true);
        let status = cmd
            .status()
            .await
            .map_err(|e| SwebenchError::PythonMissing {
                python: opts.python.clone(),
                why: e.to_string(),
            })?;
        let log_tail = || {
            std::fs::read_to_string(&log_path)
                .map(|t| tail(&t, 15))
                .unwrap_or_default()
        };
        if !status.success() {
            return Err(SwebenchError::HarnessFailed {
                status: status.to_string(),
                log: log_path.clone(),
                tail: log_tail(),
            });
        }
        if !report_path.is_file() {
            return Err(SwebenchError::NoReport {
                path: report_path,
                log: log_path.clone(),
                tail: log_tail(),
            });
        }
        let report = read_report(&report_path)?;
        info!(
            resolved = report.resolved.len(),
            unresolved = report.unresolved.len(),
            errors = report.errors.len(),
            empty_patch = report.empty_patch.len(),
            "the SWE-bench harness graded the predictions"
        );
        Ok(report)
    }
    .instrument(span)
    .await
}

/// The first prediction of a `predictions.jsonl` (the report is named by
/// its model); none is an error (the harness cannot name its report).
fn first_prediction(path: &Path) -> Result<Prediction, SwebenchError> {
    let text = std::fs::read_to_string(path).map_err(|source| SwebenchError::Io {
        what: format!("cannot read the predictions {}", path.display()),
        source,
    })?;
    let (i, line) = text
        .lines()
        .enumerate()
        .find(|(_, l)| !l.trim().is_empty())
        .ok_or_else(|| {
            SwebenchError::Invalid(format!(
                "{} holds no prediction: there is nothing to grade",
                path.display()
            ))
        })?;
    serde_json::from_str(line).map_err(|e| {
        SwebenchError::Invalid(format!(
            "{}, line {}: not a prediction: {e}",
            path.display(),
            i + 1
        ))
    })
}

/// The last `n` non-blank lines of `text`.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A report as swebench 5.0.2's `make_run_report` writes it (its keys and
    /// their order, `json.dumps(report, indent=4)`), with a Docker client.
    const REPORT: &str = r#"{
    "total_instances": 6,
    "submitted_instances": 5,
    "completed_instances": 3,
    "resolved_instances": 2,
    "unresolved_instances": 1,
    "infra_failure_instances": 1,
    "ambiguous_failure_instances": 0,
    "empty_patch_instances": 1,
    "error_instances": 1,
    "completed_ids": [
        "a__b-1",
        "a__b-2",
        "a__b-3"
    ],
    "incomplete_ids": [
        "a__b-6"
    ],
    "empty_patch_ids": [
        "a__b-4"
    ],
    "submitted_ids": [
        "a__b-1",
        "a__b-2",
        "a__b-3",
        "a__b-4",
        "a__b-5"
    ],
    "resolved_ids": [
        "a__b-1",
        "a__b-2"
    ],
    "unresolved_ids": [
        "a__b-3"
    ],
    "infra_failure_ids": [
        "a__b-5"
    ],
    "ambiguous_failure_ids": [],
    "failure_reasons": {
        "a__b-5": "docker: no space left on device"
    },
    "error_ids": [
        "a__b-5"
    ],
    "schema_version": 2,
    "unstopped_instances": 0,
    "unstopped_containers": [],
    "unremoved_images": []
}
"#;

    #[test]
    fn reads_the_harness_report() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir
            .path()
            .join(report_file_name("prov/model-x", "paddock-1"));
        assert!(path.ends_with("prov__model-x.paddock-1.json"));
        std::fs::write(&path, REPORT).unwrap();
        let r = read_report(&path).unwrap();
        let ids = |s: &BTreeSet<String>| s.iter().cloned().collect::<Vec<_>>();
        assert_eq!(ids(&r.resolved), ["a__b-1", "a__b-2"]);
        assert_eq!(ids(&r.unresolved), ["a__b-3"]);
        assert_eq!(ids(&r.errors), ["a__b-5"]);
        assert_eq!(ids(&r.empty_patch), ["a__b-4"]);
        assert_eq!(ids(&r.infra_failure), ["a__b-5"]);
        assert_eq!(
            r.failure_reasons["a__b-5"],
            "docker: no space left on device"
        );
        assert_eq!(r.report_path, path);
        assert_eq!(r.outcome("a__b-2"), HarnessOutcome::Resolved);
        assert_eq!(r.outcome("a__b-3"), HarnessOutcome::Unresolved);
        assert_eq!(r.outcome("a__b-5"), HarnessOutcome::Error);
        assert_eq!(r.outcome("a__b-4"), HarnessOutcome::EmptyPatch);
        assert_eq!(r.outcome("a__b-6"), HarnessOutcome::Missing);

        // An older report (schema 1: no infra lists) reads too.
        std::fs::write(
            &path,
            r#"{"resolved_ids":["x"],"unresolved_ids":[],"error_ids":[],"empty_patch_ids":[]}"#,
        )
        .unwrap();
        assert_eq!(
            read_report(&path).unwrap().outcome("x"),
            HarnessOutcome::Resolved
        );
        // Something else does not.
        std::fs::write(&path, r#"{"resolved":["x"]}"#).unwrap();
        let e = read_report(&path).unwrap_err();
        assert!(
            e.to_string().contains("missing field `resolved_ids`"),
            "{e}"
        );
    }

    fn not_evaluated(id: &str) -> InstanceResult {
        let attempt = |k: u32| paddock_protocol::eval::AttemptResult {
            attempt: k,
            agent_id: format!("agent-{k}"),
            workspace_id: None,
            status: InstanceStatus::NotEvaluated,
            error_kind: None,
            limit: None,
            message: None,
            patch: "diff --git a/x b/x\n".into(),
            input_tokens: 10,
            output_tokens: 1,
            cost_usd: 0.5,
            turns: 2,
            wall_ms: 3,
            tests: None,
        };
        InstanceResult {
            instance_id: id.into(),
            status: InstanceStatus::NotEvaluated,
            error_kind: None,
            limit: None,
            message: None,
            evaluation: paddock_protocol::eval::Evaluation::Swebench,
            kept_attempt: Some(2),
            attempts: vec![attempt(1), attempt(2)],
            input_tokens: 20,
            output_tokens: 2,
            cost_usd: 1.0,
            turns: 4,
            wall_ms: 6,
            patch_bytes: 19,
            finished_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn the_report_goes_onto_each_result_and_its_kept_attempt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(report_file_name("m", "r1"));
        std::fs::write(&path, REPORT).unwrap();
        let report = read_report(&path).unwrap();
        let graded = |id: &str| {
            let mut r = not_evaluated(id);
            apply_report(&mut r, &report, "r1");
            // The sums and the first attempt are left alone.
            assert_eq!((r.cost_usd, r.turns, r.input_tokens), (1.0, 4, 20));
            assert_eq!(r.attempts[0].status, InstanceStatus::NotEvaluated);
            let kept = &r.attempts[1];
            assert_eq!(
                (kept.status, kept.error_kind, &kept.message),
                (r.status, r.error_kind, &r.message)
            );
            r
        };

        let r = graded("a__b-1");
        assert_eq!(
            (r.status, r.error_kind, r.message),
            (InstanceStatus::Resolved, None, None)
        );

        let r = graded("a__b-3");
        assert_eq!((r.status, r.error_kind), (InstanceStatus::Unresolved, None));
        let m = r.message.unwrap();
        assert!(
            m.starts_with("the SWE-bench harness graded it unresolved"),
            "{m}"
        );
        assert!(m.contains("logs/run_evaluation/r1/"), "{m}");

        let r = graded("a__b-4");
        assert_eq!((r.status, r.error_kind), (InstanceStatus::Unresolved, None));
        assert_eq!(
            r.message.as_deref(),
            Some("its patch was empty: the SWE-bench harness did not grade it")
        );

        let r = graded("a__b-5");
        assert_eq!(
            (r.status, r.error_kind),
            (InstanceStatus::Error, Some(EvalErrorKind::Evaluation))
        );
        let m = r.message.unwrap();
        assert!(
            m.contains("could not grade it: docker: no space left on device"),
            "{m}"
        );
        assert!(m.contains("environment failure"), "{m}");

        // Not in the report: an evaluation error naming the report.
        let r = graded("a__b-6");
        assert_eq!(
            (r.status, r.error_kind),
            (InstanceStatus::Error, Some(EvalErrorKind::Evaluation))
        );
        assert!(r.message.unwrap().contains("does not name it"));

        // The totals count the evaluation errors out of the rate: 2 of 4.
        let all: Vec<InstanceResult> = ["a__b-1", "a__b-2", "a__b-3", "a__b-4", "a__b-5"]
            .into_iter()
            .map(graded)
            .collect();
        let t = crate::eval::totals(5, &all);
        assert_eq!((t.resolved, t.unresolved, t.errors), (2, 2, 1));
        assert_eq!(t.resolved_rate, Some(0.5));
    }

    #[test]
    fn harness_arguments_are_the_harness_s() {
        let mut opts = SwebenchOptions::new("r1");
        opts.python = "py".into();
        let args = harness_args(&opts, Path::new("/o/predictions.jsonl"), Path::new("/o"));
        let args: Vec<String> = args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            args.join(" "),
            "-m swebench.harness.run_evaluation --dataset_name SWE-bench/SWE-bench_Lite \
             --split test --predictions_path /o/predictions.jsonl --max_workers 4 \
             --timeout 1800 --run_id r1 --report_dir /o"
        );
    }

    fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    fn predictions(dir: &Path) -> PathBuf {
        let p = dir.join("predictions.jsonl");
        std::fs::write(
            &p,
            "{\"instance_id\":\"a__b-1\",\"model_name_or_path\":\"m\",\"model_patch\":\"\"}\n",
        )
        .unwrap();
        p
    }

    #[tokio::test]
    async fn says_which_piece_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let preds = predictions(dir.path());
        let mut opts = SwebenchOptions::new("r1");

        // No Python at all.
        opts.python = dir.path().join("no-such-python");
        let e = evaluate(&opts, &preds, dir.path()).await.unwrap_err();
        assert!(matches!(e, SwebenchError::PythonMissing { .. }), "{e}");
        assert!(e.to_string().contains("scripts/eval-tools.sh"), "{e}");

        // A Python without the package (what `import` says on one).
        opts.python = script(
            dir.path(),
            "python-without",
            "echo \"ModuleNotFoundError: No module named 'swebench'\" >&2; exit 1",
        );
        let e = evaluate(&opts, &preds, dir.path()).await.unwrap_err();
        assert!(matches!(e, SwebenchError::PackageMissing { .. }), "{e}");
        assert!(e.to_string().contains("No module named 'swebench'"), "{e}");

        // The package imports (the stand-in says yes), Docker does not answer.
        opts.python = script(dir.path(), "python-with", "exit 0");
        let socket = dir.path().join("no-docker.sock");
        opts.docker_host = Some(format!("unix://{}", socket.display()));
        let e = evaluate(&opts, &preds, dir.path()).await.unwrap_err();
        match &e {
            SwebenchError::DockerUnavailable { endpoint, .. } => {
                assert!(endpoint.contains("no-docker.sock"), "{e}")
            }
            other => panic!("not DockerUnavailable: {other}"),
        }
        assert!(e.to_string().contains("needs Docker"), "{e}");
        // Nothing ran: no harness log.
        assert!(!dir.path().join(HARNESS_LOG).exists());
    }

    #[tokio::test]
    async fn refuses_unusable_predictions() {
        let dir = tempfile::tempdir().unwrap();
        let mut opts = SwebenchOptions::new("r1");
        opts.python = dir.path().join("no-such-python");
        let empty = dir.path().join("predictions.jsonl");
        std::fs::write(&empty, "\n").unwrap();
        let e = evaluate(&opts, &empty, dir.path()).await.unwrap_err();
        assert!(e.to_string().contains("holds no prediction"), "{e}");
        let json = dir.path().join("predictions.txt");
        std::fs::write(&json, "{}").unwrap();
        let e = evaluate(&opts, &json, dir.path()).await.unwrap_err();
        assert!(e.to_string().contains("must end in .jsonl"), "{e}");
        std::fs::write(&empty, "{\"instance_id\":\"x\"}\n").unwrap();
        let e = evaluate(&opts, &empty, dir.path()).await.unwrap_err();
        assert!(e.to_string().contains("line 1: not a prediction"), "{e}");
        opts.run_id = " ".into();
        let e = evaluate(&opts, &empty, dir.path()).await.unwrap_err();
        assert!(e.to_string().contains("run id is empty"), "{e}");
    }
}
