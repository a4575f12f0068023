//! Following one agent's events: the store's events after a seq, then the
//! live ones from the bus, in seq order, each stored event once — the one
//! stream behind the WebSocket's subscriptions and `paddock run`'s printer.
//!
//! A [`Follow`] is made from a bus receiver taken *before* it reads the
//! store, so that no event falls between the two. It replays the store
//! after `after` (in pages), then yields the bus's events: a stored event it
//! already yielded is skipped; one that arrives after a gap (seq above the
//! last yielded + 1) comes after the store has filled the gap; a live-only
//! delta (which carries the seq of the last stored event) is passed on once
//! the follower has caught up to that seq, and dropped before.
//!
//! A follower made from a [`Joined`] (the receiver and the answer in
//! progress, taken together under the channel's lock) delivers that
//! partial answer — one `message.reasoning` and one `message.delta`
//! carrying the whole text so far — right after the stored event it
//! follows, before any later stored or live event: a subscriber that
//! joins mid-answer sees the answer so far, then the rest, with no gap and
//! no duplicate.
//!
//! When the bus drops events this follower had not read (it lagged), the
//! next item is [`Followed::Lagged`]; a caller that keeps reading resumes
//! from the store after the last seq yielded, with no gap and no duplicate
//! (the headless printer does that), and one that must tell its own
//! client (the WebSocket) stops there. When the bus closes the agent's
//! channel (the agent was purged), the follower delivers what remains in
//! the store and ends.

use crate::bus::{Bus, Joined};
use paddock_protocol::events::Event;
use paddock_store::{Store, StoreError};
use std::collections::VecDeque;
use std::sync::Arc;
use tokio::sync::broadcast;

/// Events read from the store at once.
const PAGE: u32 = 500;

/// One item of a [`Follow`].
#[derive(Debug)]
pub enum Followed {
    /// A stored event read from the store (the replay, or a gap filled).
    Stored(Arc<Event>),
    /// An event from the bus, as it happened.
    Live(Arc<Event>),
    /// The bus dropped events not yet read. Reading on resumes from the
    /// store after `after`, the last seq yielded.
    Lagged {
        /// The seq of the last stored event yielded.
        after: u64,
    },
}

impl Followed {
    /// The event, unless this is a lag notice.
    pub fn event(&self) -> Option<&Event> {
        match self {
            Followed::Stored(e) | Followed::Live(e) => Some(e),
            Followed::Lagged { .. } => None,
        }
    }
}

/// One agent's events, replayed from the store, then followed live.
pub struct Follow {
    store: Store,
    agent: String,
    rx: broadcast::Receiver<Arc<Event>>,
    /// The seq of the last stored event yielded.
    last: u64,
    /// Read the store after `last` before the bus: up to the given seq, or
    /// to its end (`Some(None)`).
    catch_up: Option<Option<u64>>,
    /// Stored events read and not yet yielded, in seq order.
    ready: VecDeque<Event>,
    /// A live event held until the store has filled the gap before it.
    held: Option<Arc<Event>>,
    /// The bus closed the agent's channel.
    closed: bool,
    /// The answer in progress when the receiver was taken, delivered once
    /// the stored event it follows (their seq) was.
    partial: VecDeque<Arc<Event>>,
}

impl Follow {
    /// Follows `agent` after `after` from `rx`, a receiver of its channel
    /// taken before this is made (see the module doc).
    pub fn new(
        store: Store,
        agent: impl Into<String>,
        after: u64,
        rx: broadcast::Receiver<Arc<Event>>,
    ) -> Follow {
        Follow {
            store,
            agent: agent.into(),
            rx,
            last: after,
            catch_up: Some(None),
            ready: VecDeque::new(),
            held: None,
            closed: false,
            partial: VecDeque::new(),
        }
    }

    /// Follows `agent` after `after` from `joined` (see [`Bus::join`]),
    /// delivering its answer in progress in its place.
    pub fn joined(store: Store, agent: impl Into<String>, after: u64, joined: Joined) -> Follow {
        let mut follow = Follow::new(store, agent, after, joined.rx);
        follow.partial = joined.partial.into();
        follow
    }

    /// Subscribes to `agent` on `bus` and follows it after `after`, its
    /// answer in progress included.
    pub fn subscribe(store: Store, bus: &Bus, agent: &str, after: u64) -> Follow {
        Follow::joined(store, agent, after, bus.join(agent))
    }

    /// The agent followed.
    pub fn agent(&self) -> &str {
        &self.agent
    }

    /// The seq of the last stored event yielded (the `after` given until
    /// one is).
    pub fn last(&self) -> u64 {
        self.last
    }

    /// The next item; `None` once the agent's channel closed and the store
    /// has nothing more. Cancel-safe: dropped while it waits, nothing is
    /// lost and the next call carries on.
    pub async fn next(&mut self) -> Result<Option<Followed>, StoreError> {
        loop {
            // The answer in progress goes right after the stored event it
            // follows; a follower already past it (a later `after`) drops it.
            if let Some(seq) = self.partial.front().map(|e| e.seq) {
                if seq == self.last {
                    if let Some(e) = self.partial.pop_front() {
                        return Ok(Some(Followed::Live(e)));
                    }
                } else if seq < self.last {
                    self.partial.clear();
                }
            }
            if let Some(e) = self.ready.pop_front() {
                self.last = e.seq;
                return Ok(Some(Followed::Stored(Arc::new(e))));
            }
            if let Some(until) = self.catch_up {
                if until.is_some_and(|u| u <= self.last) {
                    self.catch_up = None;
                    continue;
                }
                let page = self
                    .store
                    .events_after(&self.agent, self.last, PAGE)
                    .await?;
                // A short page is the end: what is stored after it was
                // published after `rx` was taken, and comes from the bus.
                let mut done = page.len() < PAGE as usize;
                for e in page {
                    if until.is_some_and(|u| e.seq > u) {
                        done = true;
                        break;
                    }
                    self.ready.push_back(e);
                }
                if done {
                    self.catch_up = None;
                }
                continue;
            }
            if let Some(e) = self.held.take() {
                if e.seq <= self.last {
                    continue;
                }
                self.last = e.seq;
                return Ok(Some(Followed::Live(e)));
            }
            if self.closed {
                return Ok(None);
            }
            match self.rx.recv().await {
                Ok(e) if !e.body.is_durable() => {
                    // Deltas belong to the present: only once caught up.
                    if e.seq <= self.last {
                        return Ok(Some(Followed::Live(e)));
                    }
                }
                Ok(e) if e.seq <= self.last => {}
                Ok(e) if e.seq > self.last + 1 => {
                    self.catch_up = Some(Some(e.seq - 1));
                    self.held = Some(e);
                }
                Ok(e) => {
                    self.last = e.seq;
                    return Ok(Some(Followed::Live(e)));
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    self.catch_up = Some(None);
                    return Ok(Some(Followed::Lagged { after: self.last }));
                }
                Err(broadcast::error::RecvError::Closed) => {
                    // The agent was purged: deliver what remains and end.
                    self.closed = true;
                    self.catch_up = Some(None);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use paddock_protocol::events::EventBody;
    use paddock_store::NewAgent;

    const AGENT: &str = "a1";

    /// A SQLite store holding agent `a1` with its `agent.created` (seq 1).
    async fn store() -> (Store, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(&dir.path().join("paddock.db"))
            .await
            .unwrap();
        let config = crate::agent::fixtures::config("follow", dir.path().to_path_buf());
        let first = event(
            1,
            EventBody::AgentCreated {
                config: Box::new(config.clone()),
            },
        );
        let new = NewAgent {
            id: AGENT.into(),
            name: config.name.clone(),
            config,
            created_at: first.ts,
            lease: None,
        };
        store.create_agent(&new, &first).await.unwrap();
        (store, dir)
    }

    fn event(seq: u64, body: EventBody) -> Event {
        Event {
            seq,
            agent_id: AGENT.into(),
            ts: chrono::Utc::now(),
            body,
        }
    }

    fn user(seq: u64) -> Event {
        event(
            seq,
            EventBody::MessageUser {
                text: format!("m{seq}"),
            },
        )
    }

    fn delta(seq: u64, text: &str) -> Arc<Event> {
        Arc::new(event(seq, EventBody::MessageDelta { text: text.into() }))
    }

    /// Stores the event, then publishes it, as an agent does.
    async fn commit(store: &Store, tx: &broadcast::Sender<Arc<Event>>, e: Event) {
        store.append(&e).await.unwrap();
        let _ = tx.send(Arc::new(e));
    }

    /// What an item is, in short: `s3` stored, `l4` live, `d4:text` a live
    /// delta, `lag3` a lag notice.
    fn label(item: &Followed) -> String {
        match item {
            Followed::Stored(e) => format!("s{}", e.seq),
            Followed::Live(e) => match &e.body {
                EventBody::MessageDelta { text } => format!("d{}:{text}", e.seq),
                _ => format!("l{}", e.seq),
            },
            Followed::Lagged { after } => format!("lag{after}"),
        }
    }

    async fn take(f: &mut Follow, n: usize) -> Vec<String> {
        let mut out = Vec::new();
        for _ in 0..n {
            let item = tokio::time::timeout(std::time::Duration::from_secs(10), f.next())
                .await
                .expect("an item in time")
                .unwrap()
                .expect("not ended");
            out.push(label(&item));
        }
        out
    }

    #[tokio::test]
    async fn replays_after_the_seq_then_follows_live_without_duplicates() {
        let (store, _dir) = store().await;
        let (tx, rx) = broadcast::channel(64);
        for seq in 2..=4 {
            commit(&store, &tx, user(seq)).await;
        }
        let mut f = Follow::new(store.clone(), AGENT, 1, rx);
        // The bus also holds 2..=4, which the replay already gave.
        assert_eq!(take(&mut f, 3).await, ["s2", "s3", "s4"]);
        commit(&store, &tx, user(5)).await;
        assert_eq!(take(&mut f, 1).await, ["l5"]);
        assert_eq!(f.last(), 5);
        // A stale copy of a delivered event is skipped.
        let _ = tx.send(Arc::new(user(5)));
        commit(&store, &tx, user(6)).await;
        assert_eq!(take(&mut f, 1).await, ["l6"]);
    }

    #[tokio::test]
    async fn replays_the_store_in_pages() {
        let (store, _dir) = store().await;
        let (_tx, rx) = broadcast::channel::<Arc<Event>>(4);
        let events: Vec<Event> = (2..=1_203).map(user).collect();
        store.append_batch(&events).await.unwrap();
        let mut f = Follow::new(store, AGENT, 0, rx);
        let got = take(&mut f, 1_203).await;
        let want: Vec<String> = (1..=1_203).map(|s| format!("s{s}")).collect();
        assert_eq!(got, want);
    }

    #[tokio::test]
    async fn deltas_pass_once_caught_up_and_not_before() {
        let (store, _dir) = store().await;
        let (tx, rx) = broadcast::channel(64);
        let mut f = Follow::new(store.clone(), AGENT, 0, rx);
        assert_eq!(take(&mut f, 1).await, ["s1"]);
        // A delta after a stored event the follower has not seen yet is
        // dropped; one after what it has seen is passed on.
        store.append(&user(2)).await.unwrap();
        let _ = tx.send(delta(2, "early"));
        let _ = tx.send(Arc::new(user(2)));
        let _ = tx.send(delta(2, "on time"));
        assert_eq!(take(&mut f, 2).await, ["l2", "d2:on time"]);
    }

    #[tokio::test]
    async fn a_late_joiner_gets_the_answer_so_far_after_the_event_it_follows() {
        let (store, _dir) = store().await;
        let bus = Bus::new();
        let ch = bus.channel(AGENT);
        for seq in 2..=3 {
            store.append(&user(seq)).await.unwrap();
            ch.send(Arc::new(user(seq)));
        }
        ch.send(delta(3, "Hello, "));
        ch.send(delta(3, "wor"));
        let joined = bus.join(AGENT);
        // Stored and published after the join: it comes after the partial.
        commit_on(&store, &ch, user(4)).await;
        ch.send(delta(4, "ld"));
        let mut f = Follow::joined(store.clone(), AGENT, 0, joined);
        assert_eq!(
            take(&mut f, 6).await,
            ["s1", "s2", "s3", "d3:Hello, wor", "s4", "d4:ld"]
        );
        // Joined after the partial's event: delivered first.
        let mut f = Follow::subscribe(store.clone(), &bus, AGENT, 4);
        assert_eq!(take(&mut f, 1).await, ["d4:Hello, world"]);
        // The answer stored ends the partial.
        let answer = event(
            5,
            EventBody::MessageAssistant {
                text: Some("Hello, world".into()),
                tool_calls: Vec::new(),
                reasoning: Vec::new(),
                finish_reason: "stop".into(),
            },
        );
        commit_on(&store, &ch, answer).await;
        let mut f = Follow::subscribe(store.clone(), &bus, AGENT, 3);
        assert_eq!(take(&mut f, 2).await, ["s4", "s5"]);
        let waited = tokio::time::timeout(std::time::Duration::from_millis(50), f.next()).await;
        assert!(waited.is_err(), "no partial after the answer: {waited:?}");
    }

    /// Stores the event, then sends it on the channel, as an agent does.
    async fn commit_on(store: &Store, ch: &crate::bus::Channel, e: Event) {
        store.append(&e).await.unwrap();
        ch.send(Arc::new(e));
    }

    #[tokio::test]
    async fn a_gap_on_the_bus_is_filled_from_the_store_in_order() {
        let (store, _dir) = store().await;
        let (tx, rx) = broadcast::channel(64);
        let mut f = Follow::new(store.clone(), AGENT, 0, rx);
        assert_eq!(take(&mut f, 1).await, ["s1"]);
        // 2..=4 are stored, but only 5 reaches the bus.
        for seq in 2..=4 {
            store.append(&user(seq)).await.unwrap();
        }
        commit(&store, &tx, user(5)).await;
        assert_eq!(take(&mut f, 4).await, ["s2", "s3", "s4", "l5"]);
    }

    #[tokio::test]
    async fn a_lag_is_reported_once_then_resumed_from_the_store() {
        let (store, _dir) = store().await;
        let (tx, rx) = broadcast::channel(4);
        let mut f = Follow::new(store.clone(), AGENT, 0, rx);
        commit(&store, &tx, user(2)).await;
        assert_eq!(take(&mut f, 2).await, ["s1", "s2"]);
        // Read the live copy of 2 first: the follower is now on the bus.
        commit(&store, &tx, user(3)).await;
        assert_eq!(take(&mut f, 1).await, ["l3"]);
        // A burst far over the channel's capacity while nobody reads.
        for seq in 4..=50 {
            commit(&store, &tx, user(seq)).await;
        }
        assert_eq!(take(&mut f, 1).await, ["lag3"]);
        let resumed = take(&mut f, 47).await;
        let want: Vec<String> = (4..=50).map(|s| format!("s{s}")).collect();
        assert_eq!(resumed, want, "the store gives exactly what was missed");
        // What the bus still holds (47..=50) is not given twice; waiting
        // for more and giving up loses nothing.
        let waited = tokio::time::timeout(std::time::Duration::from_millis(100), f.next()).await;
        assert!(waited.is_err(), "nothing new: {waited:?}");
        commit(&store, &tx, user(51)).await;
        assert_eq!(take(&mut f, 1).await, ["l51"]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_slow_reader_of_a_racing_writer_gets_every_event_once_in_order() {
        let (store, _dir) = store().await;
        let (tx, rx) = broadcast::channel(2);
        let mut f = Follow::new(store.clone(), AGENT, 0, rx);
        const LAST: u64 = 600;
        let writer = {
            let store = store.clone();
            tokio::spawn(async move {
                for seq in 2..=LAST {
                    commit(&store, &tx, user(seq)).await;
                    if seq % 7 == 0 {
                        let _ = tx.send(delta(seq, "d"));
                    }
                }
                // The channel closes with the writer: the rest comes from
                // the store, then the stream ends.
            })
        };
        let mut seqs = Vec::new();
        let mut lags = 0;
        loop {
            let item = tokio::time::timeout(std::time::Duration::from_secs(30), f.next())
                .await
                .expect("an item in time")
                .unwrap();
            match item {
                None => break,
                Some(Followed::Lagged { after }) => {
                    assert_eq!(Some(&after), seqs.last());
                    lags += 1;
                }
                Some(item) => {
                    let e = item.event().unwrap();
                    if e.body.is_durable() {
                        seqs.push(e.seq);
                    } else {
                        assert!(e.seq <= *seqs.last().unwrap(), "a delta ahead of its event");
                    }
                }
            }
            if seqs.len() % 50 == 0 {
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            }
        }
        writer.await.unwrap();
        let want: Vec<u64> = (1..=LAST).collect();
        assert_eq!(seqs, want, "no gap and no duplicate ({lags} lags)");
    }

    #[tokio::test]
    async fn a_closed_channel_delivers_the_rest_of_the_store_and_ends() {
        let (store, _dir) = store().await;
        let (tx, rx) = broadcast::channel(8);
        let mut f = Follow::new(store.clone(), AGENT, 0, rx);
        assert_eq!(take(&mut f, 1).await, ["s1"]);
        store.append(&user(2)).await.unwrap();
        drop(tx);
        assert_eq!(take(&mut f, 1).await, ["s2"]);
        assert!(f.next().await.unwrap().is_none());
        assert!(f.next().await.unwrap().is_none());
    }

    #[tokio::test]
    async fn subscribing_on_the_bus_follows_what_is_published_there() {
        let (store, _dir) = store().await;
        let bus = Bus::new();
        let mut f = Follow::subscribe(store.clone(), &bus, AGENT, 0);
        assert_eq!(f.agent(), AGENT);
        assert_eq!(take(&mut f, 1).await, ["s1"]);
        let e = user(2);
        store.append(&e).await.unwrap();
        bus.publish(Arc::new(e));
        assert_eq!(take(&mut f, 1).await, ["l2"]);
    }
}
