//! `none`: commands run directly on the host as Paddock's own user, only
//! behind `--unsafe-no-sandbox` (the manager enforces that). Flagged on the
//! agent and in its events.
//!
//! Nothing is confined: the command sees the whole host. What it does get:
//! the workspace as its working directory (`/workspace` in `cwd` means the
//! real workspace), a small environment (not Paddock's, which may hold API
//! keys), and its process group killed at its timeout, when it ends and
//! when it is interrupted.

use super::process::{self, Run, SandboxPath};
use super::{
    Backend, BackendKind, ExecOutcome, ExecSpec, OutputSink, Sandbox, SandboxConfig, SandboxError,
    SandboxSpec,
};
use crate::exec::BoxFuture;
use std::path::PathBuf;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Runs commands without a sandbox.
pub struct UnsandboxedBackend {
    _config: SandboxConfig,
    _host_id: String,
}

impl UnsandboxedBackend {
    /// A backend for this configuration; `host_id` names this data dir's
    /// host (unused: nothing of ours outlives a command).
    pub fn new(config: &SandboxConfig, host_id: &str) -> UnsandboxedBackend {
        UnsandboxedBackend {
            _config: config.clone(),
            _host_id: host_id.to_string(),
        }
    }
}

impl Backend for UnsandboxedBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::None
    }
    fn probe(&self) -> BoxFuture<'_, Result<(), SandboxError>> {
        Box::pin(async { Ok(()) })
    }
    fn create(&self, spec: SandboxSpec) -> BoxFuture<'_, Result<Arc<dyn Sandbox>, SandboxError>> {
        Box::pin(async move {
            if !spec.workspace.is_dir() {
                return Err(SandboxError::Invalid(format!(
                    "the workspace {} is not a directory",
                    spec.workspace.display()
                )));
            }
            tracing::warn!(agent = %spec.agent_id, workspace = %spec.workspace.display(),
                "commands of this agent run UNSANDBOXED on the host (--unsafe-no-sandbox)");
            Ok(Arc::new(Unsandboxed {
                spec,
                cancel: CancellationToken::new(),
            }) as Arc<dyn Sandbox>)
        })
    }
    fn reap_orphans(&self) -> BoxFuture<'_, Result<usize, SandboxError>> {
        Box::pin(async { Ok(0) })
    }
}

/// One agent's "sandbox": its workspace on the host.
struct Unsandboxed {
    spec: SandboxSpec,
    /// Cancelled by `destroy`: running commands are killed, new ones refused.
    cancel: CancellationToken,
}

impl Unsandboxed {
    async fn run(
        &self,
        cmd: ExecSpec,
        sink: Option<OutputSink>,
    ) -> Result<ExecOutcome, SandboxError> {
        if self.cancel.is_cancelled() {
            return Err(SandboxError::Failed("this sandbox was destroyed".into()));
        }
        process::validate(&cmd)?;
        let cwd = match process::sandbox_path(&cmd.cwd)? {
            SandboxPath::Workspace(rel) => self.spec.workspace.join(rel),
            SandboxPath::Tmp(rel) => PathBuf::from("/tmp").join(rel),
        };
        if !cwd.is_dir() {
            return Err(SandboxError::Invalid(format!(
                "the working directory {} ({}) does not exist",
                cmd.cwd,
                cwd.display()
            )));
        }
        let mut command = std::process::Command::new(&cmd.argv[0]);
        command.args(&cmd.argv[1..]).current_dir(&cwd).env_clear();
        for name in ["PATH", "HOME", "USER", "LOGNAME"] {
            if let Some(value) = std::env::var_os(name) {
                command.env(name, value);
            }
        }
        command
            .env("LANG", "C.UTF-8")
            .env("TERM", "dumb")
            .env("PADDOCK_WORKSPACE", &self.spec.workspace)
            .envs(cmd.env.iter().map(|(k, v)| (k, v)));
        let outcome = process::run(Run {
            command,
            stdin: cmd.stdin,
            timeout: cmd.timeout,
            max_output_bytes: cmd.max_output_bytes,
            sink,
            rlimits: None,
            cgroup: None,
            join: None,
            cancel: Some(self.cancel.clone()),
            jailed: false,
        })
        .await;
        match outcome {
            Ok(outcome) => Ok(outcome),
            // What a shell would say.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ExecOutcome {
                exit_code: Some(127),
                stderr: format!("{}: command not found\n", cmd.argv[0]),
                ..ExecOutcome::default()
            }),
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => Ok(ExecOutcome {
                exit_code: Some(126),
                stderr: format!("{}: {e}\n", cmd.argv[0]),
                ..ExecOutcome::default()
            }),
            Err(e) => Err(SandboxError::Failed(format!(
                "could not start {}: {e}",
                cmd.argv[0]
            ))),
        }
    }
}

impl Sandbox for Unsandboxed {
    fn spec(&self) -> &SandboxSpec {
        &self.spec
    }
    fn exec(
        &self,
        cmd: ExecSpec,
        sink: Option<OutputSink>,
    ) -> BoxFuture<'_, Result<ExecOutcome, SandboxError>> {
        Box::pin(self.run(cmd, sink))
    }
    fn destroy(&self) -> BoxFuture<'_, Result<(), SandboxError>> {
        self.cancel.cancel();
        Box::pin(async { Ok(()) })
    }
}
