//! The in-process event bus: one broadcast channel per agent, through which
//! an agent's events reach the API's WebSocket, `paddock run`'s printer and
//! the metrics as soon as they are stored.
//!
//! Each channel also keeps the answer in progress: the text (and reasoning
//! summary) of the live-only deltas published since the last event that
//! ends an answer ([`ends_partial`]). A subscriber that joins mid-answer
//! ([`Bus::join`]) gets that text together with its receiver, both taken
//! under the lock every publish holds, so the snapshot holds exactly the
//! deltas sent before the receiver existed: no gap, no duplicate.

use paddock_protocol::events::{AgentId, ErrorCode, Event, EventBody};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::broadcast;

/// Capacity of each agent's live channel. A subscriber that falls this far
/// behind is told to resume from the store.
pub const BUS_CAPACITY: usize = 1024;

/// Whether a stored event ends the answer in progress (its deltas are
/// dropped from the partial): the answer itself, a status change (a model
/// call starts, the run ends), or an `error` (the attempt is retried,
/// failed over or failed). A `store_unavailable` note is not one: the
/// store was away, the answer goes on.
pub fn ends_partial(body: &EventBody) -> bool {
    match body {
        EventBody::MessageAssistant { .. } | EventBody::AgentStatus { .. } => true,
        EventBody::Error { code, .. } => *code != ErrorCode::StoreUnavailable,
        _ => false,
    }
}

/// The answer in progress on one channel.
#[derive(Debug, Default)]
struct Partial {
    /// The seq of the last stored event published.
    last: u64,
    /// The answer's text so far (redacted, as the deltas were).
    text: String,
    /// Its reasoning summary so far.
    reasoning: String,
}

/// One agent's live channel and its answer in progress.
#[derive(Debug)]
pub struct Channel {
    agent: AgentId,
    tx: broadcast::Sender<Arc<Event>>,
    partial: Mutex<Partial>,
}

/// A receiver of an agent's channel and the answer in progress when it was
/// taken.
#[derive(Debug)]
pub struct Joined {
    /// Every event published after the snapshot.
    pub rx: broadcast::Receiver<Arc<Event>>,
    /// The answer so far, as live-only events carrying the seq of the last
    /// stored event published before them (`message.reasoning` first, then
    /// `message.delta`; none when no answer is in progress). A follower
    /// delivers them right after that stored event.
    pub partial: Vec<Arc<Event>>,
}

impl Channel {
    fn new(agent: &str) -> Channel {
        Channel {
            agent: agent.to_string(),
            tx: broadcast::channel(BUS_CAPACITY).0,
            partial: Mutex::new(Partial::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Partial> {
        match self.partial.lock() {
            Ok(p) => p,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Sends an event to the current subscribers and keeps the answer in
    /// progress up to date.
    pub fn send(&self, event: Arc<Event>) {
        let mut partial = self.lock();
        match &event.body {
            EventBody::MessageDelta { text } => partial.text.push_str(text),
            EventBody::MessageReasoning { text } => partial.reasoning.push_str(text),
            body => {
                partial.last = partial.last.max(event.seq);
                if ends_partial(body) {
                    partial.text.clear();
                    partial.reasoning.clear();
                }
            }
        }
        let _ = self.tx.send(event);
    }

    /// A receiver of what is sent from now on, and the answer in progress.
    pub fn join(&self) -> Joined {
        let partial = self.lock();
        let rx = self.tx.subscribe();
        let event = |body: EventBody| {
            Arc::new(Event {
                seq: partial.last,
                agent_id: self.agent.clone(),
                ts: chrono::Utc::now(),
                body,
            })
        };
        let mut events = Vec::new();
        if !partial.reasoning.is_empty() {
            events.push(event(EventBody::MessageReasoning {
                text: partial.reasoning.clone(),
            }));
        }
        if !partial.text.is_empty() {
            events.push(event(EventBody::MessageDelta {
                text: partial.text.clone(),
            }));
        }
        Joined {
            rx,
            partial: events,
        }
    }
}

/// The in-process bus: one channel per agent, created on first use.
/// Publishing never blocks; slow receivers lag instead of slowing the
/// agent down.
#[derive(Debug, Default)]
pub struct Bus {
    channels: Mutex<std::collections::HashMap<AgentId, Arc<Channel>>>,
}

impl Bus {
    /// A new, empty bus.
    pub fn new() -> Bus {
        Bus::default()
    }

    /// The agent's channel (created on first use); an agent keeps it to
    /// publish without going through the bus's lock.
    pub fn channel(&self, agent: &str) -> Arc<Channel> {
        let mut channels = match self.channels.lock() {
            Ok(c) => c,
            Err(poisoned) => poisoned.into_inner(),
        };
        channels
            .entry(agent.to_string())
            .or_insert_with(|| Arc::new(Channel::new(agent)))
            .clone()
    }

    /// Sends an event to the agent's current subscribers.
    pub fn publish(&self, event: Arc<Event>) {
        self.channel(&event.agent_id).send(event);
    }

    /// Subscribes to an agent's events from now on.
    pub fn subscribe(&self, agent: &str) -> broadcast::Receiver<Arc<Event>> {
        self.channel(agent).tx.subscribe()
    }

    /// Subscribes to an agent's events from now on, with its answer in
    /// progress (see [`Channel::join`]).
    pub fn join(&self, agent: &str) -> Joined {
        self.channel(agent).join()
    }

    /// Whether someone on this host follows the agent.
    pub fn watched(&self, agent: &str) -> bool {
        let channels = match self.channels.lock() {
            Ok(c) => c,
            Err(poisoned) => poisoned.into_inner(),
        };
        channels
            .get(agent)
            .is_some_and(|c| c.tx.receiver_count() > 0)
    }

    /// The agents someone on this host follows.
    pub fn watched_agents(&self) -> Vec<String> {
        let channels = match self.channels.lock() {
            Ok(c) => c,
            Err(poisoned) => poisoned.into_inner(),
        };
        channels
            .iter()
            .filter(|(_, c)| c.tx.receiver_count() > 0)
            .map(|(a, _)| a.clone())
            .collect()
    }

    /// Forgets an agent's channel (its subscribers see the channel close
    /// once the agent lets go of it).
    pub fn remove(&self, agent: &str) {
        let mut channels = match self.channels.lock() {
            Ok(c) => c,
            Err(poisoned) => poisoned.into_inner(),
        };
        channels.remove(agent);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use paddock_protocol::events::AgentStatus;

    fn event(seq: u64, body: EventBody) -> Arc<Event> {
        Arc::new(Event {
            seq,
            agent_id: "a1".into(),
            ts: chrono::Utc::now(),
            body,
        })
    }

    fn delta(seq: u64, text: &str) -> Arc<Event> {
        event(seq, EventBody::MessageDelta { text: text.into() })
    }

    fn texts(events: &[Arc<Event>]) -> Vec<(u64, &'static str, String)> {
        events
            .iter()
            .map(|e| match &e.body {
                EventBody::MessageDelta { text } => (e.seq, "delta", text.clone()),
                EventBody::MessageReasoning { text } => (e.seq, "reasoning", text.clone()),
                other => (e.seq, other.type_name(), String::new()),
            })
            .collect()
    }

    fn status(seq: u64) -> Arc<Event> {
        event(
            seq,
            EventBody::AgentStatus {
                status: AgentStatus::Thinking,
                reason: None,
                code: None,
            },
        )
    }

    #[test]
    fn a_late_subscriber_gets_the_answer_so_far_and_only_what_follows_live() {
        let bus = Bus::new();
        let ch = bus.channel("a1");
        ch.send(status(4));
        ch.send(event(
            5,
            EventBody::MessageReasoning {
                text: "plan".into(),
            },
        ));
        ch.send(delta(4, "Hello, "));
        ch.send(delta(4, "wor"));
        let joined = bus.join("a1");
        assert_eq!(
            texts(&joined.partial),
            [
                (4, "reasoning", "plan".to_string()),
                (4, "delta", "Hello, wor".to_string())
            ]
        );
        let mut rx = joined.rx;
        ch.send(delta(4, "ld"));
        let next = rx.try_recv().unwrap();
        assert_eq!(texts(&[next]), [(4, "delta", "ld".to_string())]);
        assert!(rx.try_recv().is_err(), "nothing sent before the join");
    }

    #[test]
    fn the_answer_the_status_or_a_retry_ends_the_partial_and_a_store_outage_does_not() {
        let answer = EventBody::MessageAssistant {
            text: Some("x".into()),
            tool_calls: Vec::new(),
            reasoning: Vec::new(),
            finish_reason: "stop".into(),
        };
        let retry = EventBody::Error {
            code: ErrorCode::ModelRetry,
            message: "m".into(),
            recoverable: true,
            attempt: Some(1),
            max_attempts: Some(3),
            retry_in_ms: Some(10),
        };
        let outage = EventBody::Error {
            code: ErrorCode::StoreUnavailable,
            message: "m".into(),
            recoverable: true,
            attempt: None,
            max_attempts: None,
            retry_in_ms: None,
        };
        let user = EventBody::MessageUser { text: "hi".into() };
        for (body, ends) in [
            (answer, true),
            (retry, true),
            (outage, false),
            (user, false),
        ] {
            let ch = Channel::new("a1");
            ch.send(delta(1, "partial"));
            let name = body.type_name();
            ch.send(event(2, body));
            let left = ch.join().partial;
            assert_eq!(left.is_empty(), ends, "{name}");
            if !ends {
                assert_eq!(left[0].seq, 2, "it follows the last stored event");
            }
        }
        assert!(ends_partial(&status(1).body));
    }

    #[test]
    fn no_answer_in_progress_joins_with_nothing() {
        let bus = Bus::new();
        assert!(bus.join("a1").partial.is_empty());
    }
}
