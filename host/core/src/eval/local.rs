//! Local evaluation (`--evaluate local`): a clean worktree of the task's
//! repository at its base commit (not the agent's worktree), the model's
//! patch applied (`git apply`), then the task's `test_patch` if any, then
//! each `FAIL_TO_PASS` and `PASS_TO_PASS` test run with the task's
//! `test_cmd` in the sandbox — the attempt's agent's sandbox, so the
//! task's environment, with no network — each with a timeout; exit 0 is a
//! pass, and the instance is resolved when every test passes. The clean
//! worktree is removed afterwards (its branch too).

use super::EvalError;
use crate::agent::Manager;
use crate::workspace::NewWorkspace;
use paddock_protocol::eval::{EvalErrorKind, EvalTask, TestOutcomes};
use paddock_protocol::network::Network;
use paddock_sandbox::exec::{ExecBackend, ExecRequest};
use std::path::Path;
use tracing::Instrument;

/// Seconds one test may run.
pub const TEST_TIMEOUT_SECS: u64 = 600;

/// What a local evaluation came to.
#[derive(Clone, Debug, PartialEq)]
pub enum LocalOutcome {
    /// The tests ran: resolved iff all passed.
    Tested {
        /// By name.
        tests: TestOutcomes,
        /// The last lines of the first failing test's output, if one failed.
        failure: Option<String>,
    },
    /// The evaluation could not run (kind `evaluation`, or `environment`,
    /// `host`): why.
    Failed(EvalErrorKind, String),
}

impl LocalOutcome {
    /// Whether every test passed.
    pub fn resolved(&self) -> bool {
        match self {
            LocalOutcome::Tested { tests, .. } => {
                tests.fail_to_pass.values().all(|p| *p) && tests.pass_to_pass.values().all(|p| *p)
            }
            LocalOutcome::Failed(..) => false,
        }
    }
}

/// A name quoted for `sh` (single quotes).
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The command that runs `test` with `test_cmd`: `{test}` replaced by the
/// quoted name, or the quoted name appended.
pub fn test_command(test_cmd: &str, test: &str) -> String {
    let quoted = shell_quote(test);
    if test_cmd.contains("{test}") {
        test_cmd.replace("{test}", &quoted)
    } else {
        format!("{test_cmd} {quoted}")
    }
}

/// Applies `patch` (if not empty) in `dir` with `git apply`; the error
/// output when it does not apply.
async fn apply(dir: &Path, patch: &str, what: &str) -> Result<Result<(), String>, EvalError> {
    if patch.trim().is_empty() {
        return Ok(Ok(()));
    }
    let scratch = tempfile::tempdir().map_err(|e| EvalError::Host(format!("a temp dir: {e}")))?;
    let file = scratch.path().join(format!("{what}.diff"));
    std::fs::write(&file, patch).map_err(|e| EvalError::io(&file, e))?;
    let out = tokio::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["apply", "--whitespace=nowarn", "--binary"])
        .arg(&file)
        .output()
        .await
        .map_err(|e| EvalError::Host(format!("cannot run git apply: {e}")))?;
    if out.status.success() {
        Ok(Ok(()))
    } else {
        Ok(Err(String::from_utf8_lossy(&out.stderr).trim().to_string()))
    }
}

/// What `evaluate` needs of the instance.
pub struct Checkout<'a> {
    /// The repository.
    pub repo: &'a Path,
    /// The branch at the base commit ([`super::repos::base_branch`]).
    pub base_branch: &'a str,
    /// The name of the clean worktree (a workspace name).
    pub name: String,
    /// Whose it is.
    pub owner: &'a str,
}

/// Evaluates `patch` for `task` on a clean worktree, running the tests in
/// `agent`'s sandbox.
pub async fn evaluate(
    manager: &Manager,
    task: &EvalTask,
    checkout: Checkout<'_>,
    agent: &str,
    patch: &str,
) -> Result<LocalOutcome, EvalError> {
    let Some(test_cmd) = task.test_cmd.as_deref().filter(|c| !c.trim().is_empty()) else {
        return Ok(LocalOutcome::Failed(
            EvalErrorKind::Evaluation,
            "test_cmd: the task has none, and local evaluation runs its tests with it".into(),
        ));
    };
    if task.fail_to_pass.is_empty() && task.pass_to_pass.is_empty() {
        return Ok(LocalOutcome::Failed(
            EvalErrorKind::Evaluation,
            "FAIL_TO_PASS, PASS_TO_PASS: the task names no test to run".into(),
        ));
    }
    let workspaces = &manager.deps().workspaces;
    // A clean worktree left by a run killed in the middle goes first.
    if let Ok(old) = workspaces.get(&checkout.name).await
        && let Err(e) = workspaces.delete(&old, true, true).await
    {
        return Err(EvalError::Host(format!(
            "cannot remove the old evaluation worktree {}: {e}",
            checkout.name
        )));
    }
    let ws = workspaces
        .create(NewWorkspace {
            name: checkout.name.clone(),
            repo: Some(checkout.repo.to_path_buf()),
            base: Some(checkout.base_branch.to_string()),
            owner: Some(checkout.owner.to_string()),
            ..NewWorkspace::default()
        })
        .await
        .map_err(|e| EvalError::Host(format!("the evaluation's worktree: {e}")))?;
    let span = tracing::info_span!("eval.local", instance = %task.instance_id, agent);
    let outcome = run_tests(manager, task, test_cmd, &ws.path, &ws.id, agent, patch)
        .instrument(span)
        .await;
    if let Err(e) = workspaces.delete(&ws, true, true).await {
        tracing::warn!(workspace = %ws.name, error = %e, "could not remove the evaluation's worktree");
    }
    outcome
}

async fn run_tests(
    manager: &Manager,
    task: &EvalTask,
    test_cmd: &str,
    dir: &Path,
    ws_id: &str,
    agent: &str,
    patch: &str,
) -> Result<LocalOutcome, EvalError> {
    if let Err(why) = apply(dir, patch, "model").await? {
        return Ok(LocalOutcome::Failed(
            EvalErrorKind::Evaluation,
            format!("the patch did not apply to a clean checkout of base_commit: {why}"),
        ));
    }
    if let Some(tp) = &task.test_patch
        && let Err(why) = apply(dir, tp, "test").await?
    {
        return Ok(LocalOutcome::Failed(
            EvalErrorKind::Evaluation,
            format!("test_patch did not apply after the patch: {why}"),
        ));
    }
    let deps = manager.deps();
    let read_only = deps.workspaces.sandbox_mounts(Some(ws_id)).await;
    let mut tests = TestOutcomes::default();
    let mut failure = None;
    for (list, f2p) in [(&task.fail_to_pass, true), (&task.pass_to_pass, false)] {
        for test in list {
            let command = test_command(test_cmd, test);
            let req = ExecRequest {
                agent_id: agent.to_string(),
                call_id: format!("eval-test-{}", uuid::Uuid::new_v4()),
                workspace: Some(dir.to_path_buf()),
                network: Network::Off,
                read_only: read_only.clone(),
                output: None,
                argv: vec!["sh".into(), "-c".into(), command.clone()],
                cwd: None,
                env: Vec::new(),
                timeout_ms: Some(TEST_TIMEOUT_SECS * 1000),
                max_output_bytes: Some(256 * 1024),
                stdin: None,
            };
            tracing::debug!(test = %test, command = %command, "running a test");
            let ran = ExecBackend::run(&*deps.sandbox, req).await.map_err(|e| {
                EvalError::Host(format!("the sandbox could not run `{command}`: {e}"))
            });
            let (passed, text) = match ran {
                Ok(o) => {
                    let (code, text) = o.into_check(TEST_TIMEOUT_SECS);
                    (code == Some(0), text)
                }
                Err(e) => {
                    return Ok(LocalOutcome::Failed(
                        EvalErrorKind::Environment,
                        e.to_string(),
                    ));
                }
            };
            if !passed && failure.is_none() {
                let lines: Vec<&str> = text.lines().collect();
                let tail = lines[lines.len().saturating_sub(5)..].join(" | ");
                failure = Some(format!("{test} failed: {}", deps.redactor.redact(&tail)));
            }
            let map = if f2p {
                &mut tests.fail_to_pass
            } else {
                &mut tests.pass_to_pass
            };
            map.insert(test.clone(), passed);
        }
    }
    Ok(LocalOutcome::Tested { tests, failure })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tests_are_quoted_into_the_command() {
        assert_eq!(
            test_command("python3 -m pytest {test} -q", "t.py::a[x y]"),
            "python3 -m pytest 't.py::a[x y]' -q"
        );
        assert_eq!(
            test_command("node check.js", "it's"),
            r"node check.js 'it'\''s'"
        );
        let all = |f: &[(&str, bool)], p: &[(&str, bool)]| LocalOutcome::Tested {
            tests: TestOutcomes {
                fail_to_pass: f.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
                pass_to_pass: p.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            },
            failure: None,
        };
        assert!(all(&[("a", true)], &[("b", true)]).resolved());
        assert!(!all(&[("a", true)], &[("b", false)]).resolved());
        assert!(!all(&[("a", false)], &[]).resolved());
        assert!(!LocalOutcome::Failed(EvalErrorKind::Evaluation, "x".into()).resolved());
    }
}
