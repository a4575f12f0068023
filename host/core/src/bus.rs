//! The in-process event bus: one broadcast channel per agent, through which
//! an agent's events reach the API's WebSocket, `paddock run`'s printer and
//! the metrics as soon as they are stored.

use paddock_protocol::events::{AgentId, Event};

/// Capacity of each agent's live channel. A subscriber that falls this far
/// behind is told to resume from the store.
pub const BUS_CAPACITY: usize = 1024;

/// The in-process bus: one broadcast channel per agent, created on first
/// use. Publishing never blocks; slow receivers lag instead of slowing the
/// agent down.
#[derive(Debug, Default)]
pub struct Bus {
    channels: std::sync::Mutex<
        std::collections::HashMap<AgentId, tokio::sync::broadcast::Sender<std::sync::Arc<Event>>>,
    >,
}

impl Bus {
    /// A new, empty bus.
    pub fn new() -> Bus {
        Bus::default()
    }

    /// The agent's channel (created on first use); an agent keeps it to
    /// publish without going through the bus's lock.
    pub fn sender(&self, agent: &str) -> tokio::sync::broadcast::Sender<std::sync::Arc<Event>> {
        let mut channels = match self.channels.lock() {
            Ok(c) => c,
            Err(poisoned) => poisoned.into_inner(),
        };
        channels
            .entry(agent.to_string())
            .or_insert_with(|| tokio::sync::broadcast::channel(BUS_CAPACITY).0)
            .clone()
    }

    /// Sends an event to the agent's current subscribers.
    pub fn publish(&self, event: std::sync::Arc<Event>) {
        let _ = self.sender(&event.agent_id).send(event);
    }

    /// Subscribes to an agent's events from now on.
    pub fn subscribe(
        &self,
        agent: &str,
    ) -> tokio::sync::broadcast::Receiver<std::sync::Arc<Event>> {
        self.sender(agent).subscribe()
    }

    /// Forgets an agent's channel (its subscribers see the channel close).
    pub fn remove(&self, agent: &str) {
        let mut channels = match self.channels.lock() {
            Ok(c) => c,
            Err(poisoned) => poisoned.into_inner(),
        };
        channels.remove(agent);
    }
}
