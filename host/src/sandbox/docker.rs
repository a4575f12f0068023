//! The Docker backend (bollard): one long-lived container per agent, `exec`
//! per command; works against Docker and Podman's Docker-compatible API.

use super::{Backend, BackendKind, Sandbox, SandboxConfig, SandboxError, SandboxSpec};
use crate::plugins::BoxFuture;
use std::sync::Arc;

/// Makes per-agent containers.
pub struct DockerBackend {
    _config: SandboxConfig,
    _host_id: String,
}

impl DockerBackend {
    /// A backend for this configuration; `host_id` names this data dir's
    /// host (cgroups are named after it so a restarted host can reap them).
    pub async fn connect(
        config: &SandboxConfig,
        host_id: &str,
    ) -> Result<DockerBackend, SandboxError> {
        Ok(DockerBackend {
            _config: config.clone(),
            _host_id: host_id.to_string(),
        })
    }
}

impl Backend for DockerBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Docker
    }
    fn probe(&self) -> BoxFuture<'_, Result<(), SandboxError>> {
        Box::pin(async {
            Err(SandboxError::Unavailable(
                "docker backend not built yet".into(),
            ))
        })
    }
    fn create(&self, _spec: SandboxSpec) -> BoxFuture<'_, Result<Arc<dyn Sandbox>, SandboxError>> {
        Box::pin(async {
            Err(SandboxError::Unavailable(
                "docker backend not built yet".into(),
            ))
        })
    }
    fn reap_orphans(&self) -> BoxFuture<'_, Result<usize, SandboxError>> {
        Box::pin(async { Ok(0) })
    }
}
