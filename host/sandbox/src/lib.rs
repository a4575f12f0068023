//! Sandboxes: where shell work (bash, git, test runners) runs for plugins
//! granted `exec`. One sandbox per agent, created lazily on its first
//! command and destroyed with the agent, with the agent's workspace mounted
//! read-write at `/workspace`.
//!
//! - [`Backend`] / [`Sandbox`]: the contract every backend implements.
//! - [`docker`]: one long-lived container per agent (bollard; Docker or
//!   Podman's Docker-compatible API) whose main process is the command
//!   server `paddock-sandboxd` (or, `mode = "per-command"` and on remote
//!   engines, an `exec` per command).
//! - [`engines`]: the Docker backend's pool of engines (local or remote:
//!   `unix://`, `tcp://` with TLS, `ssh://`), their health, and where each
//!   agent's sandbox goes.
//! - [`bwrap`]: one long-lived bubblewrap jail per agent whose pid 1 is
//!   `paddock-sandboxd` (or a jail per command), with rlimits and cgroup
//!   limits ([`cgroup`]) when the host allows them.
//! - [`persistent`]: the host's end of the command server: finding the
//!   static binary, its socket, running one command through it.
//! - [`net`]: the network of a sandbox granted it — the outside world,
//!   never the host's own services (bubblewrap: a network namespace per
//!   sandbox behind slirp4netns; Docker: routes in the container).
//! - [`egress`]: the proxy that is the only way out of a sandbox whose
//!   network is an allow-list, and the gate ([`EgressGate`]) the policy
//!   answers it through.
//! - [`unsandboxed`]: `none`, only behind `--unsafe-no-sandbox`.
//! - [`manager`]: picks the backend (`auto`), owns each agent's sandbox and
//!   background jobs, and is the plugins' [`ExecBackend`](crate::exec::ExecBackend).
//! - [`output`]: capped capture of a command's output, streamed as it runs.
//! - [`environment`]: what a sandbox runs beyond the plain one (an image or
//!   a Dockerfile, variables, setup commands; devcontainer.json), prepared
//!   once and cached by a hash of what produced it.

pub mod bwrap;
pub mod cgroup;
pub mod config;
pub mod docker;
pub mod egress;
pub mod engines;
pub mod environment;
pub mod exec;
pub mod manager;
pub mod net;
pub mod output;
pub mod persistent;
pub mod process;
pub mod unsandboxed;

pub use cgroup::ResourceUsage;
pub use config::{
    BackendChoice, EngineConfig, EngineTls, PathMapping, SandboxConfig, SandboxLimits, SandboxMode,
};
pub use egress::{EgressGate, EgressProxy, GateAnswer, proxy_env};
pub use engines::EngineStatus;
pub use manager::{SandboxManager, SandboxUse};
pub use output::{Capture, OutputChunk, OutputSink, StreamKind};
pub use paddock_protocol::network::{HostPattern, Network, NetworkConnection, NetworkVerdict};

use crate::exec::BoxFuture;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The backend that actually runs commands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// A container per agent through the Docker API.
    Docker,
    /// A bubblewrap jail per agent (or per command).
    Bwrap,
    /// No sandbox at all (`--unsafe-no-sandbox`).
    None,
}

impl BackendKind {
    /// The name used in config, flags, logs and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::Docker => "docker",
            BackendKind::Bwrap => "bwrap",
            BackendKind::None => "none",
        }
    }

    /// The backend a name (as [`BackendKind::as_str`] writes it) names.
    pub fn parse(name: &str) -> Option<BackendKind> {
        [BackendKind::Docker, BackendKind::Bwrap, BackendKind::None]
            .into_iter()
            .find(|k| k.as_str() == name)
    }
}

impl std::fmt::Display for BackendKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one agent's sandbox is made for.
#[derive(Clone, Debug, PartialEq)]
pub struct SandboxSpec {
    /// The agent (used in names and labels).
    pub agent_id: String,
    /// The host directory mounted read-write at `/workspace`.
    pub workspace: PathBuf,
    /// What the sandbox may reach (off unless the agent's config grants
    /// it): the outside world, never the host's own services ([`net`]),
    /// or only an allow-list of hosts.
    pub network: Network,
    /// Host directories mounted read-only at the same path (a worktree
    /// workspace's git directory, so `git` works in `/workspace`).
    pub read_only: Vec<PathBuf>,
    /// Resource limits.
    pub limits: SandboxLimits,
    /// The agent's prepared environment (image, variables, user, mounts),
    /// if it has one.
    pub environment: Option<environment::PreparedEnvironment>,
    /// The host path of the egress proxy's unix socket, for a sandbox
    /// whose `network` is an allow-list (set by the manager, which starts
    /// the proxy, before `Backend::create`; None otherwise). The backend
    /// mounts it at [`egress::SANDBOX_SOCKET`], where the sandbox's command
    /// server splices [`egress::SANDBOX_PROXY`] to it; the sandbox has no
    /// other route out.
    pub egress: Option<std::path::PathBuf>,
}

/// One command, with every default already applied by the manager.
#[derive(Clone, Debug, PartialEq)]
pub struct ExecSpec {
    /// Program and arguments (never through a shell unless argv says so).
    pub argv: Vec<String>,
    /// Absolute working directory inside the sandbox.
    pub cwd: String,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
    /// Wall-clock limit; at expiry the whole process tree is killed and the
    /// output so far returned with `timed_out`.
    pub timeout: Duration,
    /// Bytes kept of stdout and of stderr each.
    pub max_output_bytes: usize,
    /// Written to stdin, which is then closed (stdin is empty otherwise).
    pub stdin: Option<String>,
    /// A background job: processes it leaves are not cleaned up when it
    /// ends its foreground part (backends that share one long-lived
    /// sandbox between commands must not kill a job when another command
    /// finishes).
    pub background: bool,
}

/// A finished (or killed) command.
pub use exec::ExecOutcome;

/// Why a sandbox could not do what was asked.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SandboxError {
    /// The backend cannot be used on this host; the text says why and what
    /// to do (install bubblewrap, start a Docker engine, …).
    #[error("{0}")]
    Unavailable(String),
    /// The request was malformed.
    #[error("{0}")]
    Invalid(String),
    /// The backend failed while running the command.
    #[error("{0}")]
    Failed(String),
}

/// A backend: makes sandboxes and cleans up after a killed host.
pub trait Backend: Send + Sync + 'static {
    /// Which backend this is.
    fn kind(&self) -> BackendKind;
    /// Checks that the backend works on this host (engine answers, image
    /// present, the kernel lets bubblewrap make namespaces…); the error
    /// says why not and what to do.
    fn probe(&self) -> BoxFuture<'_, Result<(), SandboxError>>;
    /// Makes one agent's sandbox.
    fn create(&self, spec: SandboxSpec) -> BoxFuture<'_, Result<Arc<dyn Sandbox>, SandboxError>>;
    /// Removes what a previous host process of this data dir left behind
    /// (it was killed before it could clean up); returns how many
    /// sandboxes were removed.
    fn reap_orphans(&self) -> BoxFuture<'_, Result<usize, SandboxError>>;
    /// Removes the sandboxes of `agent` that another host made, wherever
    /// this host reaches them (a host that died or lost the agent's lease
    /// left it running): the containers labelled with the agent on the
    /// engines of the Docker backend's pool; nothing for the backends whose
    /// sandboxes live and die with the host that made them. Returns how
    /// many were removed.
    fn reap_agent<'a>(&'a self, agent: &'a str) -> BoxFuture<'a, Result<usize, SandboxError>> {
        let _ = agent;
        Box::pin(async { Ok(0) })
    }
    /// The container engines it places sandboxes on, with their health
    /// and load (the Docker backend; empty for the others).
    fn engines(&self) -> Vec<EngineStatus> {
        Vec::new()
    }
}

/// One agent's sandbox.
pub trait Sandbox: Send + Sync + 'static {
    /// What it was made for.
    fn spec(&self) -> &SandboxSpec;
    /// Runs a command to completion or to its timeout. Output is captured
    /// (capped) and also sent to `sink` as it arrives. Dropping the future
    /// kills the command's whole process tree.
    fn exec(
        &self,
        cmd: ExecSpec,
        sink: Option<OutputSink>,
    ) -> BoxFuture<'_, Result<ExecOutcome, SandboxError>>;
    /// Kills everything still running in it and frees its resources.
    /// Idempotent.
    fn destroy(&self) -> BoxFuture<'_, Result<(), SandboxError>>;
    /// What its processes use now (memory, processes, CPU time so far);
    /// None when the backend cannot tell (no cgroup, no container yet).
    fn resource_usage(&self) -> BoxFuture<'_, Option<ResourceUsage>> {
        Box::pin(async { None })
    }
}

#[cfg(test)]
mod tests {
    use super::BackendKind;

    #[test]
    fn backend_names_round_trip() {
        for k in [BackendKind::Docker, BackendKind::Bwrap, BackendKind::None] {
            assert_eq!(BackendKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(BackendKind::parse("podman"), None);
        assert_eq!(BackendKind::parse(""), None);
    }
}
