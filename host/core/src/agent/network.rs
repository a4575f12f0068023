//! The egress gate of this host ([`NetworkGate`]): what the sandboxes'
//! egress proxies ask about hosts not on an agent's allow-list, and where
//! they record each connection — both handed to the agent the sandbox
//! belongs to (`Agent::judge_network`, `Agent::record_network`).

use super::manager::Manager;
use crate::policy::network::authority;
use paddock_protocol::network::NetworkConnection;
use paddock_sandbox::exec::BoxFuture;
use paddock_sandbox::{EgressGate, GateAnswer};
use std::sync::{Arc, OnceLock, Weak};

/// The gate set on the sandbox manager at start-up, attached to the agent
/// manager once that exists.
#[derive(Default)]
pub struct NetworkGate {
    manager: OnceLock<Weak<Manager>>,
}

impl NetworkGate {
    /// A gate with no agents yet (every question is refused until
    /// [`attach`](Self::attach)).
    pub fn new() -> Arc<NetworkGate> {
        Arc::new(NetworkGate::default())
    }

    /// Hands questions and records to `manager`'s agents.
    pub fn attach(&self, manager: &Arc<Manager>) {
        let _ = self.manager.set(Arc::downgrade(manager));
    }

    fn agent(&self, agent_id: &str) -> Option<Arc<super::Agent>> {
        self.manager.get()?.upgrade()?.get(agent_id).ok()
    }
}

impl EgressGate for NetworkGate {
    fn judge<'a>(
        &'a self,
        agent_id: &'a str,
        host: &'a str,
        port: u16,
    ) -> BoxFuture<'a, GateAnswer> {
        Box::pin(async move {
            match self.agent(agent_id) {
                Some(agent) => agent.judge_network(host, port).await,
                None => GateAnswer::Deny {
                    reason: format!(
                        "{} is not on the allow-list, and agent `{agent_id}` is not running here to ask",
                        authority(host, port)
                    ),
                    asked: false,
                },
            }
        })
    }

    fn record<'a>(&'a self, agent_id: &'a str, connection: NetworkConnection) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if let Some(agent) = self.agent(agent_id) {
                agent.record_network(connection).await;
            }
        })
    }
}
