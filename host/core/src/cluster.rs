//! Several hosts on one PostgreSQL database: this host's identity and
//! `[cluster]` settings, the requests it sends to the host that runs an
//! agent (and waits for the answers of), placement of new agents, and the
//! relay that feeds this host's bus with the events of agents other hosts
//! run — all through the database (`LISTEN/NOTIFY` to wake, the tables as
//! the truth: a missed notification is repaired by reading).
//!
//! The loops that act on agents (renewing leases, taking orphans over,
//! carrying out requests, draining) are the agent manager's
//! (`agent::hosting`); this module knows nothing of agents beyond their ids.

use crate::bus::Bus;
use paddock_protocol::cluster::{HostState, HostView};
use paddock_store::{Fence, HostRecord, HostRequest, RequestState, Store, StoreError};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

/// `[cluster]`: this host among several on one PostgreSQL database.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// This host's id (default: `$PADDOCK_HOST_ID`, else the one kept in
    /// the data dir's `host-id`, made at the first start from the
    /// machine's name and a random suffix). Two live hosts must not share
    /// one. A host that restarts with its id takes its agents back at
    /// once; with a new id, after their leases expire.
    #[serde(default)]
    pub host_id: Option<String>,
    /// Where this host is reached, shown in `GET /api/hosts`
    /// (`$PADDOCK_ADVERTISE_URL`).
    #[serde(default)]
    pub advertise_url: Option<String>,
    /// The most agents this host runs (default 200): placement and
    /// takeover leave a full host alone.
    #[serde(default = "default_capacity")]
    pub capacity: u32,
    /// How long a lease lasts without renewal, in seconds (default 10):
    /// a host that stops answering loses its agents to the others after
    /// this, plus up to a second.
    #[serde(default = "default_lease_secs")]
    pub lease_secs: u64,
    /// How long `SIGTERM` waits for the host's agents to reach a safe
    /// point before it hands the rest over anyway (default 60).
    #[serde(default = "default_drain_timeout")]
    pub drain_timeout_secs: u64,
}

fn default_capacity() -> u32 {
    200
}
fn default_lease_secs() -> u64 {
    10
}
fn default_drain_timeout() -> u64 {
    60
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            host_id: None,
            advertise_url: None,
            capacity: default_capacity(),
            lease_secs: default_lease_secs(),
            drain_timeout_secs: default_drain_timeout(),
        }
    }
}

impl ClusterConfig {
    /// Checks the values; the message names the field.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(id) = &self.host_id
            && !paddock_protocol::is_plain_name(id)
        {
            return Err(format!(
                "cluster.host_id: `{id}` is not a plain name (1 to 64 of A-Z a-z 0-9 . _ -)"
            ));
        }
        if let Some(url) = &self.advertise_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(format!(
                "cluster.advertise_url: `{url}` must start with http:// or https://"
            ));
        }
        if self.capacity == 0 {
            return Err("cluster.capacity: must be at least 1".into());
        }
        if !(2..=300).contains(&self.lease_secs) {
            return Err("cluster.lease_secs: must be between 2 and 300".into());
        }
        if self.drain_timeout_secs > 3600 {
            return Err("cluster.drain_timeout_secs: must be at most 3600".into());
        }
        Ok(())
    }

    /// The id a server takes: the setting, else the one kept in
    /// `data_dir/host-id` (made and kept there at the first start).
    pub fn server_host_id(&self, data_dir: &std::path::Path) -> Result<String, std::io::Error> {
        if let Some(id) = &self.host_id {
            return Ok(id.clone());
        }
        let path = data_dir.join("host-id");
        match std::fs::read_to_string(&path) {
            Ok(id) if paddock_protocol::is_plain_name(id.trim()) => {
                return Ok(id.trim().to_string());
            }
            Ok(_) => {
                tracing::warn!(path = %path.display(), "the stored host id is not valid: making a new one");
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let id = Self::new_host_id("");
        std::fs::write(&path, format!("{id}\n"))?;
        Ok(id)
    }

    /// The id of a headless run (`paddock run`): always its own, so that
    /// it never takes the id of a server on the same data dir.
    pub fn run_host_id() -> String {
        Self::new_host_id("run-")
    }

    /// A new id: `prefix`, the machine's name and a random suffix.
    fn new_host_id(prefix: &str) -> String {
        let machine = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|h| {
                h.trim()
                    .chars()
                    .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                    .take(40)
                    .collect::<String>()
            })
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "host".into());
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        format!("{prefix}{machine}-{}", &suffix[..6])
    }
}

/// What one host asks of the host that runs an agent (or of a named host).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestKind {
    /// Create an agent here (placement chose this host).
    Create,
    /// Post a user message.
    Message,
    /// Retry the last failed run.
    Retry,
    /// Interrupt the run.
    Interrupt,
    /// Delete (and perhaps purge) the agent.
    Delete,
    /// One of its approvals was decided in the store: wake it.
    ApprovalDecided,
}

impl RequestKind {
    /// Its stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestKind::Create => "create",
            RequestKind::Message => "message",
            RequestKind::Retry => "retry",
            RequestKind::Interrupt => "interrupt",
            RequestKind::Delete => "delete",
            RequestKind::ApprovalDecided => "approval_decided",
        }
    }

    /// Every kind.
    pub const ALL: [RequestKind; 6] = [
        RequestKind::Create,
        RequestKind::Message,
        RequestKind::Retry,
        RequestKind::Interrupt,
        RequestKind::Delete,
        RequestKind::ApprovalDecided,
    ];

    /// Reads a stored name.
    pub fn parse(s: &str) -> Option<RequestKind> {
        RequestKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Why a request failed on the host that carried it out, as sent back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RemoteErrorKind {
    /// No such agent.
    NotFound,
    /// The request is not valid.
    Invalid,
    /// The agent is stopped.
    Stopped,
    /// No such approval.
    NoApproval,
    /// It conflicts with the agent's state.
    Conflict,
    /// It would pass a quota.
    QuotaExceeded,
    /// The store, or the host, could not carry it out now.
    Unavailable,
}

/// A request's answer, as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    /// Done; what it returned.
    Ok(serde_json::Value),
    /// Refused or failed.
    Error {
        /// Which kind of failure.
        kind: RemoteErrorKind,
        /// What happened, for humans.
        message: String,
    },
}

/// Why a request to another host did not get an answer.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The store failed.
    #[error("{0}")]
    Store(#[from] StoreError),
    /// No host took the request in time; it was withdrawn, so nothing was
    /// done.
    #[error(
        "no host took this request within {0} s (the agent's host may be down and not taken over yet); nothing was done: try again"
    )]
    NotTaken(u64),
    /// A host took it but did not answer in time: it may still be done.
    #[error(
        "the agent's host took this request but did not answer within {0} s; it may still take effect"
    )]
    NoAnswer(u64),
}

/// How often the relay compares the agents followed here with the store.
const RELAY_REPAIR: Duration = Duration::from_secs(1);

/// This host's place among the hosts on one database.
pub struct Cluster {
    host: String,
    config: ClusterConfig,
    store: Store,
    bus: Arc<Bus>,
    /// A headless run's cluster: takes no agents, is never chosen.
    headless: bool,
    draining: AtomicBool,
    /// Set once a drain is over: the host is about to exit.
    stopped: AtomicBool,
    /// When the last heartbeat succeeded (ms of the process's clock).
    last_beat: AtomicU64,
    started: std::time::Instant,
    /// The agents this host runs.
    running: Mutex<HashSet<String>>,
    /// Requests sent, waiting for their answers.
    waiting: Mutex<HashMap<String, Arc<Notify>>>,
    /// The last seq relayed to this host's bus, per agent run elsewhere
    /// (none yet: 0); each agent's relays one at a time, agents' at once.
    relayed: Mutex<HashMap<String, Arc<tokio::sync::Mutex<u64>>>>,
    /// Woken when requests may be waiting for this host.
    pub requests: Notify,
    /// Woken when agents may need a host.
    pub orphans: Notify,
}

impl Cluster {
    /// Joins the hosts on `store` (PostgreSQL): records this host as live
    /// and expires any lease a former process with the same id left, so
    /// that its agents are taken over (resumed as after a restart).
    pub async fn join(
        store: Store,
        bus: Arc<Bus>,
        config: ClusterConfig,
        host: String,
        headless: bool,
    ) -> Result<Arc<Cluster>, StoreError> {
        let capacity = if headless { 0 } else { config.capacity };
        store
            .register_host(
                &host,
                config.advertise_url.as_deref(),
                env!("CARGO_PKG_VERSION"),
                capacity,
            )
            .await?;
        store.expire_leases_of(&host).await?;
        tracing::info!(host = %host, headless, "joined the hosts on this database");
        let cluster = Arc::new(Cluster {
            host,
            config,
            store,
            bus,
            headless,
            draining: AtomicBool::new(false),
            stopped: AtomicBool::new(false),
            last_beat: AtomicU64::new(0),
            started: std::time::Instant::now(),
            running: Mutex::default(),
            waiting: Mutex::default(),
            relayed: Mutex::default(),
            requests: Notify::new(),
            orphans: Notify::new(),
        });
        cluster.beat_ok();
        Ok(cluster)
    }

    /// This host's id.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Its settings.
    pub fn config(&self) -> &ClusterConfig {
        &self.config
    }

    /// Whether this is a headless run's (takes no agents but its own).
    pub fn headless(&self) -> bool {
        self.headless
    }

    /// A lease's length, in milliseconds.
    pub fn lease_ms(&self) -> i64 {
        i64::try_from(self.config.lease_secs.saturating_mul(1000)).unwrap_or(i64::MAX)
    }

    /// How often leases are renewed: a third of a lease.
    pub fn beat_every(&self) -> Duration {
        Duration::from_millis(self.config.lease_secs.saturating_mul(1000) / 3)
    }

    /// The fence of a lease of this host's of `generation`.
    pub fn fence(&self, generation: i64) -> Fence {
        Fence {
            host: self.host.clone(),
            generation,
        }
    }

    /// Notes a successful heartbeat.
    pub fn beat_ok(&self) {
        let ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_beat.store(ms.max(1), Ordering::Release);
    }

    /// Whether the lease loop runs and the store answered it within a
    /// lease (what `/readyz` tells), and the host is not draining.
    pub fn ready(&self) -> bool {
        let last = self.last_beat.load(Ordering::Acquire);
        let now = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        !self.is_draining()
            && last > 0
            && now.saturating_sub(last) < self.config.lease_secs.saturating_mul(1000)
    }

    /// Whether it is draining (takes no agents).
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    /// Starts draining: no agent is placed on or taken over by this host.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Release);
    }

    /// Notes that the drain is over (the host exits).
    pub fn set_stopped(&self) {
        self.stopped.store(true, Ordering::Release);
    }

    /// The state this host reports.
    pub fn state(&self) -> HostState {
        if self.stopped.load(Ordering::Acquire) {
            HostState::Stopped
        } else if self.is_draining() {
            HostState::Draining
        } else {
            HostState::Live
        }
    }

    /// Notes that this host runs `agent` (or no longer does).
    pub fn set_running(&self, agent: &str, running: bool) {
        let mut set = self.running.lock().unwrap_or_else(|e| e.into_inner());
        if running {
            set.insert(agent.to_string());
        } else {
            set.remove(agent);
        }
    }

    /// Whether this host runs `agent`.
    pub fn runs(&self, agent: &str) -> bool {
        self.running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(agent)
    }

    /// How many agents this host runs.
    pub fn running_count(&self) -> usize {
        self.running.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// The hosts heard from within two leases (or holding leases).
    pub async fn hosts(&self) -> Result<Vec<HostRecord>, StoreError> {
        self.store.hosts(self.lease_ms().saturating_mul(2)).await
    }

    /// Whether a stored host is live: it says so and its heartbeat is no
    /// older than a lease (a live host past that is unreachable).
    pub fn is_live(&self, h: &HostRecord) -> bool {
        h.state == HostState::Live
            && i64::try_from(h.heartbeat_age_ms).unwrap_or(i64::MAX) <= self.lease_ms()
    }

    /// A stored host as the API shows it, with the agents the caller may
    /// see (`visible`).
    pub fn view(&self, h: &HostRecord, visible: impl Fn(&str) -> bool) -> HostView {
        let state = if h.state == HostState::Live && !self.is_live(h) {
            HostState::Unreachable
        } else {
            h.state
        };
        let agents = u32::try_from(h.agents.len()).unwrap_or(u32::MAX);
        HostView {
            id: h.id.clone(),
            advertise_url: h.advertise_url.clone(),
            version: h.version.clone(),
            state,
            this: h.id == self.host,
            capacity: h.capacity,
            agents,
            busy: h.busy,
            load: load(h),
            started_at: h.started_at,
            heartbeat_at: h.heartbeat_at,
            heartbeat_age_ms: h.heartbeat_age_ms,
            agent_ids: h.agents.iter().filter(|a| visible(a)).cloned().collect(),
        }
    }

    /// Where a new agent goes: the least-loaded live host with room
    /// (`None`: this one — also when it ties, or when no other host
    /// qualifies).
    pub async fn place(&self) -> Result<Option<String>, StoreError> {
        let hosts = self.hosts().await?;
        let mut mine = f64::INFINITY;
        let mut best: Option<(&HostRecord, f64)> = None;
        for h in &hosts {
            // Room left: a host without capacity (a headless run) has none.
            let usable = self.is_live(h) && (h.agents.len() as u64) < u64::from(h.capacity);
            if h.id == self.host {
                if usable && !self.is_draining() && !self.headless {
                    mine = load(h);
                }
                continue;
            }
            if usable && best.is_none_or(|(_, l)| load(h) < l) {
                best = Some((h, load(h)));
            }
        }
        Ok(match best {
            Some((h, l)) if l < mine => Some(h.id.clone()),
            _ => None,
        })
    }

    /// Sends a request to the host that runs `agent` (or to `host`) and
    /// waits for its answer: up to two leases and a few seconds for a
    /// host to take it (a dead host's agents are taken over meanwhile),
    /// then withdraws it; once taken, as long again for the answer.
    pub async fn call(
        &self,
        agent: Option<&str>,
        host: Option<&str>,
        kind: RequestKind,
        body: serde_json::Value,
    ) -> Result<Reply, CallError> {
        let id = uuid::Uuid::new_v4().to_string();
        let answered = Arc::new(Notify::new());
        self.waiting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.clone(), answered.clone());
        let _forget = Forget {
            cluster: self,
            id: &id,
        };
        self.store
            .post_request(&HostRequest {
                id: id.clone(),
                agent_id: agent.map(str::to_string),
                host_id: host.map(str::to_string),
                kind: kind.as_str().to_string(),
                body,
                from_host: self.host.clone(),
            })
            .await?;
        let patience = self.config.lease_secs * 2 + 5;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(patience);
        loop {
            // Woken by the reply's notification, or every second to read
            // (a notification may be lost with a connection).
            let _ = tokio::time::timeout(Duration::from_secs(1), answered.notified()).await;
            let taken = match self.store.request_state(&id).await? {
                Some(RequestState::Done(v)) => {
                    return serde_json::from_value(v).map_err(|e| {
                        CallError::Store(StoreError::CorruptRecord {
                            what: format!("host request {id}"),
                            reason: e.to_string(),
                        })
                    });
                }
                Some(RequestState::Claimed) => true,
                Some(RequestState::Pending) => false,
                Some(RequestState::Cancelled) | None => return Err(CallError::NotTaken(patience)),
            };
            if tokio::time::Instant::now() >= deadline {
                if !taken && self.store.cancel_request(&id).await? {
                    return Err(CallError::NotTaken(patience));
                }
                if taken {
                    return Err(CallError::NoAnswer(patience));
                }
            }
        }
    }

    /// Tells the host that runs `agent` something it need not answer.
    pub async fn tell(
        &self,
        agent: &str,
        kind: RequestKind,
        body: serde_json::Value,
    ) -> Result<(), StoreError> {
        self.store
            .post_request(&HostRequest {
                id: uuid::Uuid::new_v4().to_string(),
                agent_id: Some(agent.to_string()),
                host_id: None,
                kind: kind.as_str().to_string(),
                body,
                from_host: self.host.clone(),
            })
            .await
    }

    /// Handles one notification: wakes a waiting sender, the request
    /// loop, the takeover loop, or relays an agent's new events (in a task
    /// of its own, so that agents' relays do not queue behind each other).
    pub fn notified(self: &Arc<Self>, channel: &str, payload: &str) {
        match channel {
            paddock_store::cluster::REPLIES_CHANNEL => {
                let waiter = self
                    .waiting
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get(payload)
                    .cloned();
                if let Some(w) = waiter {
                    w.notify_one();
                }
            }
            paddock_store::cluster::REQUESTS_CHANNEL => {
                if payload == "orphans" {
                    self.orphans.notify_one();
                } else if payload == format!("host:{}", self.host) || self.runs(payload) {
                    self.requests.notify_one();
                }
            }
            paddock_store::cluster::EVENTS_CHANNEL => {
                let Some((agent, seq)) = payload.split_once(' ') else {
                    return;
                };
                let Ok(seq) = seq.parse::<u64>() else { return };
                if self.runs(agent) || !self.bus.watched(agent) {
                    return;
                }
                let cluster = self.clone();
                let agent = agent.to_string();
                tokio::spawn(async move {
                    if let Err(e) = cluster.relay(&agent, Some(seq)).await {
                        tracing::debug!(agent, error = %e, "relaying an agent's events failed; the repair reads them");
                    }
                });
            }
            _ => {}
        }
    }

    /// Publishes on this host's bus the stored events of `agent` (run
    /// elsewhere) that it has not relayed yet, up to `seq` when known.
    async fn relay(&self, agent: &str, seq: Option<u64>) -> Result<(), StoreError> {
        let slot = self
            .relayed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(agent.to_string())
            .or_default()
            .clone();
        let mut last = slot.lock().await;
        let mut after = match (*last, seq) {
            (l, Some(seq)) if l > 0 && seq <= l => return Ok(()),
            (l, _) if l > 0 => l,
            // First seen: from the event before the one announced (the
            // follower fills any gap before it from the store).
            (_, Some(seq)) => seq.saturating_sub(1),
            (_, None) => self.store.last_seq(agent).await?.saturating_sub(1),
        };
        loop {
            let page = self.store.events_after(agent, after, 500).await?;
            let Some(end) = page.last() else { break };
            after = end.seq;
            for e in page {
                self.bus.publish(Arc::new(e));
            }
        }
        *last = after;
        Ok(())
    }

    /// The relayed seq of `agent` (0: none yet).
    async fn relayed_seq(&self, agent: &str) -> u64 {
        let slot = self
            .relayed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(agent)
            .cloned();
        match slot {
            Some(s) => *s.lock().await,
            None => 0,
        }
    }

    /// Notes where an agent this host stops running stands, so that the
    /// relay goes on from there for those who follow it here.
    pub fn relay_from(&self, agent: &str, last_seq: u64) {
        self.relayed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                agent.to_string(),
                Arc::new(tokio::sync::Mutex::new(last_seq)),
            );
    }

    /// Listens to the channels until the process ends: notifications are
    /// handled as they come, and every second the agents followed here
    /// but run elsewhere are compared with the store (what a lost
    /// notification or a lost connection missed is read).
    pub async fn listen(self: Arc<Cluster>) {
        let mut listener = None;
        let mut repair = tokio::time::interval(RELAY_REPAIR);
        repair.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            if listener.is_none() {
                match self.store.listen().await {
                    Ok(l) => {
                        listener = Some(l);
                        // Whatever was sent while not listening.
                        self.requests.notify_one();
                        self.orphans.notify_one();
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot listen to the other hosts; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                }
            }
            let Some(l) = listener.as_mut() else { continue };
            tokio::select! {
                n = l.recv() => match n {
                    Ok(n) => self.notified(&n.channel, &n.payload),
                    Err(e) => {
                        tracing::warn!(error = %e, "the listening connection failed; reconnecting");
                        listener = None;
                    }
                },
                _ = repair.tick() => self.repair().await,
            }
        }
    }

    /// Relays what the agents followed here but run elsewhere have stored
    /// beyond what was relayed; forgets the ones no one follows.
    async fn repair(&self) {
        let followed: Vec<String> = self
            .bus
            .watched_agents()
            .into_iter()
            .filter(|a| !self.runs(a))
            .collect();
        self.relayed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|a, _| followed.contains(a));
        if followed.is_empty() {
            return;
        }
        let Ok(seqs) = self.store.last_seqs(&followed).await else {
            return;
        };
        for (agent, last) in seqs {
            let behind = self.relayed_seq(&agent).await < last;
            if behind && let Err(e) = self.relay(&agent, Some(last)).await {
                tracing::debug!(agent, error = %e, "the relay's repair failed");
            }
        }
    }
}

/// A stored host's agents over its capacity, 0 to 1 (1: a host without
/// capacity, a headless run's, is full).
fn load(h: &HostRecord) -> f64 {
    if h.capacity == 0 {
        1.0
    } else {
        h.agents.len() as f64 / f64::from(h.capacity)
    }
}

/// Forgets a request's waiter when its sender stops waiting.
struct Forget<'a> {
    cluster: &'a Cluster,
    id: &'a str,
}

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        self.cluster
            .waiting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_settings_are_checked_and_name_the_field() {
        assert!(ClusterConfig::default().validate().is_ok());
        let bad = |c: ClusterConfig, field: &str| {
            let e = c.validate().unwrap_err();
            assert!(e.starts_with(field), "{e}");
        };
        bad(
            ClusterConfig {
                capacity: 0,
                ..Default::default()
            },
            "cluster.capacity",
        );
        bad(
            ClusterConfig {
                lease_secs: 1,
                ..Default::default()
            },
            "cluster.lease_secs",
        );
        bad(
            ClusterConfig {
                host_id: Some("a b".into()),
                ..Default::default()
            },
            "cluster.host_id",
        );
        bad(
            ClusterConfig {
                advertise_url: Some("ftp://x".into()),
                ..Default::default()
            },
            "cluster.advertise_url",
        );
    }

    #[test]
    fn a_servers_host_id_is_kept_in_the_data_dir_and_a_runs_is_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let c = ClusterConfig::default();
        let a = c.server_host_id(dir.path()).unwrap();
        assert!(paddock_protocol::is_plain_name(&a), "{a}");
        assert_eq!(c.server_host_id(dir.path()).unwrap(), a, "kept");
        let other = tempfile::tempdir().unwrap();
        assert_ne!(c.server_host_id(other.path()).unwrap(), a);
        let run = ClusterConfig::run_host_id();
        assert!(run.starts_with("run-") && run != a, "{run}");
        let set = ClusterConfig {
            host_id: Some("pod-0".into()),
            ..Default::default()
        };
        assert_eq!(set.server_host_id(dir.path()).unwrap(), "pod-0");
    }

    #[test]
    fn request_kinds_and_replies_read_back() {
        for k in RequestKind::ALL {
            assert_eq!(RequestKind::parse(k.as_str()), Some(k));
        }
        let r = Reply::Error {
            kind: RemoteErrorKind::QuotaExceeded,
            message: "cap".into(),
        };
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(serde_json::from_value::<Reply>(v).unwrap(), r);
    }
}
