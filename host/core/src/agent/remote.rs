//! What is asked of an agent another host runs, or of another host: a
//! request through the database ([`crate::cluster::Cluster::call`]) and
//! its answer as this host's [`AgentError`] — and this host's errors as
//! the answer it sends back.

use super::runner::AgentError;
use crate::cluster::{CallError, Cluster, RemoteErrorKind, Reply, RequestKind};

/// How a request to another host ended, for the caller.
#[derive(Debug)]
pub(crate) enum Called {
    /// No host took it (nothing was done): the caller may do it itself.
    NotTaken(String),
    /// It failed (there, or on its way).
    Failed(AgentError),
}

impl Called {
    /// As an agent error.
    pub(crate) fn into_error(self) -> AgentError {
        match self {
            Called::NotTaken(m) => AgentError::HostUnavailable(m),
            Called::Failed(e) => e,
        }
    }
}

/// Sends a request and turns its answer into a value or an agent error.
pub(crate) async fn call(
    cluster: &Cluster,
    agent: Option<&str>,
    host: Option<&str>,
    kind: RequestKind,
    body: serde_json::Value,
) -> Result<serde_json::Value, Called> {
    match cluster.call(agent, host, kind, body).await {
        Ok(Reply::Ok(v)) => Ok(v),
        Ok(Reply::Error { kind, message }) => Err(Called::Failed(remote_error(
            kind,
            message,
            agent.unwrap_or_default(),
        ))),
        Err(CallError::Store(e)) => Err(Called::Failed(e.into())),
        Err(e @ CallError::NotTaken(_)) => Err(Called::NotTaken(e.to_string())),
        Err(e @ CallError::NoAnswer(_)) => {
            Err(Called::Failed(AgentError::HostUnavailable(e.to_string())))
        }
    }
}

/// An error sent back by another host, as this host's.
fn remote_error(kind: RemoteErrorKind, message: String, agent: &str) -> AgentError {
    match kind {
        RemoteErrorKind::NotFound => AgentError::NotFound(agent.to_string()),
        RemoteErrorKind::Invalid => AgentError::Invalid(message),
        RemoteErrorKind::Stopped => AgentError::Stopped(agent.to_string()),
        RemoteErrorKind::NoApproval => AgentError::Conflict(message),
        RemoteErrorKind::Conflict => AgentError::Conflict(message),
        RemoteErrorKind::QuotaExceeded => AgentError::QuotaExceeded(message),
        RemoteErrorKind::Unavailable => AgentError::HostUnavailable(message),
    }
}

/// This host's error, as sent back.
pub(crate) fn reply_error(e: &AgentError) -> Reply {
    let kind = match e {
        AgentError::NotFound(_) => RemoteErrorKind::NotFound,
        AgentError::Invalid(_) => RemoteErrorKind::Invalid,
        AgentError::Stopped(_) => RemoteErrorKind::Stopped,
        AgentError::NoApproval { .. } => RemoteErrorKind::NoApproval,
        AgentError::Conflict(_) => RemoteErrorKind::Conflict,
        AgentError::QuotaExceeded(_) => RemoteErrorKind::QuotaExceeded,
        AgentError::Store(_)
        | AgentError::WaitingForStore(_)
        | AgentError::HostUnavailable(_)
        | AgentError::HandedOver(_) => RemoteErrorKind::Unavailable,
    };
    Reply::Error {
        kind,
        message: e.to_string(),
    }
}
