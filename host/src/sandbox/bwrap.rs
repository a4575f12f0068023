//! The bubblewrap backend: each command runs in a fresh namespace jail
//! (system directories read-only, workspace read-write, private `/tmp`, all
//! namespaces unshared, network only when granted), with rlimits and cgroup
//! limits when the host allows them.

use super::{Backend, BackendKind, Sandbox, SandboxConfig, SandboxError, SandboxSpec};
use crate::plugins::BoxFuture;
use std::sync::Arc;

/// Makes bubblewrap sandboxes.
pub struct BwrapBackend {
    _config: SandboxConfig,
    _host_id: String,
}

impl BwrapBackend {
    /// A backend for this configuration; `host_id` names this data dir's
    /// host (cgroups are named after it so a restarted host can reap them).
    pub fn new(config: &SandboxConfig, host_id: &str) -> BwrapBackend {
        BwrapBackend {
            _config: config.clone(),
            _host_id: host_id.to_string(),
        }
    }
}

impl Backend for BwrapBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Bwrap
    }
    fn probe(&self) -> BoxFuture<'_, Result<(), SandboxError>> {
        Box::pin(async {
            Err(SandboxError::Unavailable(
                "bwrap backend not built yet".into(),
            ))
        })
    }
    fn create(&self, _spec: SandboxSpec) -> BoxFuture<'_, Result<Arc<dyn Sandbox>, SandboxError>> {
        Box::pin(async {
            Err(SandboxError::Unavailable(
                "bwrap backend not built yet".into(),
            ))
        })
    }
    fn reap_orphans(&self) -> BoxFuture<'_, Result<usize, SandboxError>> {
        Box::pin(async { Ok(0) })
    }
}
