//! The `exec` import: how plugins granted `exec` run commands in the agent's
//! sandbox. The sandbox itself lives in [`paddock_sandbox`];
//! this module defines the host-side contract and the two implementations of
//! the import: one for plugins granted `exec`, which forwards to the
//! configured [`ExecBackend`], and one for every other plugin, which refuses.

use crate::OutputSink;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

/// A command, as the host sees it (version-independent).
#[derive(Clone, Debug)]
pub struct ExecRequest {
    /// The agent whose sandbox runs it.
    pub agent_id: String,
    /// The tool call it belongs to.
    pub call_id: String,
    /// The agent's workspace on the host (mounted at `/workspace`).
    pub workspace: Option<PathBuf>,
    /// What the agent's sandbox may reach.
    pub network: crate::Network,
    /// Host directories its sandbox mounts read-only at the same path.
    pub read_only: Vec<PathBuf>,
    /// Where output goes while the command runs.
    pub output: Option<OutputSink>,
    /// Program and arguments.
    pub argv: Vec<String>,
    /// Working directory in the sandbox.
    pub cwd: Option<String>,
    /// Extra environment.
    pub env: Vec<(String, String)>,
    /// Deadline in milliseconds.
    pub timeout_ms: Option<u64>,
    /// Output cap per stream.
    pub max_output_bytes: Option<u64>,
    /// Standard input.
    pub stdin: Option<String>,
}

/// A finished command.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExecOutcome {
    /// Exit status, none when killed.
    pub exit_code: Option<i32>,
    /// Captured stdout.
    pub stdout: String,
    /// Captured stderr.
    pub stderr: String,
    /// Whether output was cut.
    pub truncated: bool,
    /// Whether the deadline killed it.
    pub timed_out: bool,
    /// Run time in milliseconds.
    pub duration_ms: u64,
}

impl ExecOutcome {
    /// The command read as a check (a workflow's verify, an evaluation's
    /// test): its exit code, none when the deadline of `timeout_secs`
    /// killed it, and its output, stdout then stderr on a line of its own,
    /// with the timeout said.
    pub fn into_check(self, timeout_secs: u64) -> (Option<i32>, String) {
        let mut text = self.stdout;
        if !self.stderr.is_empty() {
            if !text.is_empty() && !text.ends_with('\n') {
                text.push('\n');
            }
            text.push_str(&self.stderr);
        }
        if self.timed_out {
            text.push_str(&format!("\n(timed out after {timeout_secs} s)"));
        }
        (if self.timed_out { None } else { self.exit_code }, text)
    }
}

/// A background job's state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JobState {
    /// Still running.
    pub running: bool,
    /// Output so far.
    pub output: ExecOutcome,
}

/// Why a command did not run.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExecFailure {
    /// Not granted.
    #[error("denied: {0}")]
    Denied(String),
    /// No sandbox.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// Bad request.
    #[error("invalid: {0}")]
    Invalid(String),
    /// The sandbox failed.
    #[error("failed: {0}")]
    Failed(String),
}

/// A boxed future, for object-safe async traits.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Runs commands for plugins granted `exec`.
pub trait ExecBackend: Send + Sync + 'static {
    /// Run to completion.
    fn run(&self, req: ExecRequest) -> BoxFuture<'_, Result<ExecOutcome, ExecFailure>>;
    /// Start in the background.
    fn spawn(&self, req: ExecRequest) -> BoxFuture<'_, Result<String, ExecFailure>>;
    /// Read a job.
    fn poll(&self, agent_id: &str, job: &str) -> BoxFuture<'_, Result<JobState, ExecFailure>>;
    /// Kill a job.
    fn kill(&self, agent_id: &str, job: &str) -> BoxFuture<'_, Result<JobState, ExecFailure>>;
}

/// What a plugin granted `exec` is told while no sandbox backend is
/// configured: commands are refused, never run unsandboxed.
pub const NO_SANDBOX: &str = "this Paddock host has no sandbox backend configured, so commands \
                              cannot run; an admin must enable a sandbox (docker or bwrap)";

/// Shared handle to the configured backend.
pub type SharedExec = Arc<dyn ExecBackend>;

#[cfg(test)]
mod tests {
    use super::ExecOutcome;

    #[test]
    fn a_check_reads_the_code_and_both_outputs_and_says_a_timeout() {
        let ran = ExecOutcome {
            exit_code: Some(1),
            stdout: "out".into(),
            stderr: "err\n".into(),
            ..ExecOutcome::default()
        };
        assert_eq!(ran.into_check(5), (Some(1), "out\nerr\n".to_string()));
        let killed = ExecOutcome {
            exit_code: Some(137),
            stdout: "half\n".into(),
            timed_out: true,
            ..ExecOutcome::default()
        };
        assert_eq!(
            killed.into_check(5),
            (None, "half\n\n(timed out after 5 s)".to_string())
        );
    }
}
