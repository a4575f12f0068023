//! `none`: commands run directly on the host, only behind
//! `--unsafe-no-sandbox`. Flagged on the agent and in its events.

use super::{Backend, BackendKind, Sandbox, SandboxConfig, SandboxError, SandboxSpec};
use crate::plugins::BoxFuture;
use std::sync::Arc;

/// Runs commands without a sandbox.
pub struct UnsandboxedBackend {
    _config: SandboxConfig,
    _host_id: String,
}

impl UnsandboxedBackend {
    /// A backend for this configuration; `host_id` names this data dir's
    /// host (cgroups are named after it so a restarted host can reap them).
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
        Box::pin(async {
            Err(SandboxError::Unavailable(
                "unsandboxed backend not built yet".into(),
            ))
        })
    }
    fn create(&self, _spec: SandboxSpec) -> BoxFuture<'_, Result<Arc<dyn Sandbox>, SandboxError>> {
        Box::pin(async {
            Err(SandboxError::Unavailable(
                "unsandboxed backend not built yet".into(),
            ))
        })
    }
    fn reap_orphans(&self) -> BoxFuture<'_, Result<usize, SandboxError>> {
        Box::pin(async { Ok(0) })
    }
}
