//! This host's share of the agents when several hosts run on one
//! PostgreSQL database: the loops that renew its leases (and step down
//! from the agents whose lease another host took), take over agents no
//! live host runs (a dead host's, a drained host's, ones never leased),
//! carry out what other hosts ask of its agents, and drain it on
//! `SIGTERM`.
//!
//! A takeover resumes an agent exactly as a restart does (the manager's
//! `adopt`): a model call is asked again, a started tool that is not
//! read-only is reported and not run again, a pending approval stays
//! pending. An agent handed over cleanly (a drain, at a safe point) is
//! resumed without an error event.

use super::actor::Actor;
use super::manager::Manager;
use super::remote::reply_error;
use super::runner::AgentError;
use crate::cluster::{Cluster, Reply, RequestKind};
use paddock_protocol::agent::AgentConfig;
use paddock_store::{HostRequest, StoreError};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// How often the takeover loop looks for agents without a host (it is
/// also woken when a host hands agents over).
const TAKEOVER_EVERY: Duration = Duration::from_millis(1000);
/// How often requests are looked for without a notification.
const REQUESTS_EVERY: Duration = Duration::from_secs(2);
/// How long a takeover waits for the previous host's sandbox to go.
const REAP_WAIT: Duration = Duration::from_secs(10);
/// Answered requests are kept this long.
const REQUESTS_KEPT_SECS: i64 = 3600;

/// Starts the loops of `manager` when it shares its store with other
/// hosts (nothing otherwise): with `serve`, it takes its share of the
/// agents no host runs; without (a headless run), it keeps its own
/// agent's lease and answers requests for it, and takes no other agent.
pub fn start(manager: &Arc<Manager>, serve: bool) {
    let Some(cluster) = manager.cluster().cloned() else {
        return;
    };
    let manager = manager.clone();
    tokio::spawn(cluster.clone().listen());
    tokio::spawn(beat(manager.clone(), cluster.clone()));
    tokio::spawn(serve_requests(manager.clone(), cluster.clone()));
    if serve {
        tokio::spawn(take_over(manager, cluster));
    }
}

/// Renews this host's leases every third of a lease; steps down from the
/// agents whose lease it no longer holds (taken by another host while
/// this one was paused or cut off) without recording anything.
async fn beat(manager: Arc<Manager>, cluster: Arc<Cluster>) {
    let mut every = tokio::time::interval(cluster.beat_every());
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut pruned = tokio::time::Instant::now();
    loop {
        every.tick().await;
        let store = &manager.deps().store;
        // Only agents taken up before the heartbeat read the leases.
        let before = manager.local_agents();
        match store
            .heartbeat(cluster.host(), cluster.state(), cluster.lease_ms())
            .await
        {
            Ok(held) => {
                cluster.beat_ok();
                let held: HashMap<String, i64> = held.into_iter().collect();
                for agent in before {
                    let Some(fence) = agent.fence() else { continue };
                    if agent.is_lost() || held.get(agent.id()) != Some(&fence.generation) {
                        step_down(&manager, &cluster, agent.id()).await;
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "the heartbeat failed: this host's leases are not renewed");
            }
        }
        if pruned.elapsed() > Duration::from_secs(60) {
            pruned = tokio::time::Instant::now();
            if let Err(e) = store.prune_requests(REQUESTS_KEPT_SECS).await {
                tracing::debug!(error = %e, "pruning answered requests failed");
            }
        }
    }
}

/// Stops running `id` here at once, recording nothing (another host
/// holds its lease): its run is cancelled, its sandbox removed, and
/// whoever follows it here goes on through the relay.
async fn step_down(manager: &Manager, cluster: &Cluster, id: &str) {
    let Some(agent) = manager.remove(id) else {
        return;
    };
    agent.lose();
    cluster.relay_from(id, agent.last_seq());
    if let Err(e) = manager.deps().sandbox.destroy(id).await {
        tracing::warn!(agent = %id, error = %e, "could not remove the sandbox of an agent this host stepped down from");
    }
}

/// Takes over the agents no live host runs: this host's fair share of
/// them (the agents of the live hosts and the orphans, spread evenly),
/// within its capacity — and any that waited longer than a lease, when it
/// has room (another host may be full).
async fn take_over(manager: Arc<Manager>, cluster: Arc<Cluster>) {
    let mut quarantined: std::collections::HashSet<String> = Default::default();
    loop {
        tokio::select! {
            _ = cluster.orphans.notified() => {}
            _ = tokio::time::sleep(TAKEOVER_EVERY) => {}
        }
        if cluster.is_draining() {
            continue;
        }
        if let Err(e) = take_share(&manager, &cluster, &mut quarantined).await {
            tracing::warn!(error = %e, "taking over agents failed; trying again");
        }
    }
}

async fn take_share(
    manager: &Manager,
    cluster: &Cluster,
    quarantined: &mut std::collections::HashSet<String>,
) -> Result<(), AgentError> {
    let store = &manager.deps().store;
    let orphans: Vec<(String, i64)> = store
        .orphans(200)
        .await?
        .into_iter()
        // Its own agents whose lease ran out while the store was away are
        // still its own: the heartbeat renews them.
        .filter(|(id, _)| !quarantined.contains(id) && !cluster.runs(id))
        .collect();
    if orphans.is_empty() {
        return Ok(());
    }
    let hosts = cluster.hosts().await?;
    // The hosts that take agents: live, with a capacity.
    let fresh = |h: &paddock_store::HostRecord| cluster.is_live(h) && h.capacity > 0;
    let live = hosts.iter().filter(|h| fresh(h)).count().max(1);
    let held: usize = hosts
        .iter()
        .filter(|h| fresh(h))
        .map(|h| h.agents.len())
        .sum();
    let mine = cluster.running_count();
    let capacity = cluster.config().capacity as usize;
    let room = capacity.saturating_sub(mine);
    let fair = (held + orphans.len()).div_ceil(live);
    let mut want = fair.saturating_sub(mine).min(room);
    // Orphans nobody took within a lease: whoever has room takes them.
    let stale = orphans
        .iter()
        .filter(|(_, waited)| *waited > cluster.lease_ms())
        .count();
    want = want.max(stale.min(room));
    for (id, _) in orphans.into_iter().take(want) {
        let claimed = match store.claim(&id, cluster.host(), cluster.lease_ms()).await {
            Ok(Some(c)) => c,
            Ok(None) => continue,
            Err(e @ StoreError::CorruptRecord { .. }) => {
                tracing::error!(agent = %id, error = %e, "this agent's stored record is damaged: it is quarantined (not taken over)");
                quarantined.insert(id);
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let status = claimed.agent.status;
        let crash = match (&claimed.previous, claimed.previous_generation) {
            // Handed over cleanly at a safe point.
            (None, g) if g > 0 => None,
            // This host's own, left by its previous process.
            (Some(prev), _) if prev == cluster.host() => Some(format!(
                "the host restarted while the agent was {}; resuming where the log stands",
                status.as_str()
            )),
            (Some(prev), _) => Some(format!(
                "host {prev} stopped answering while the agent was {} (its lease expired); host {} took it over and resumes where the log stands",
                status.as_str(),
                cluster.host()
            )),
            (None, _) => Some(format!(
                "the host restarted while the agent was {}; resuming where the log stands",
                status.as_str()
            )),
        };
        tracing::info!(agent = %id, previous = ?claimed.previous, generation = claimed.fence.generation, "took the agent over");
        // What its previous host left running on shared engines goes
        // first (it holds a place there, and may still be running a
        // command the log says nothing more of).
        if claimed.previous.is_some() {
            let sandbox = &manager.deps().sandbox;
            match tokio::time::timeout(REAP_WAIT, sandbox.reap_agent(&id)).await {
                Ok(Ok(0)) => {}
                Ok(Ok(n)) => {
                    tracing::info!(agent = %id, removed = n, "removed the sandbox its previous host left")
                }
                Ok(Err(e)) => {
                    tracing::warn!(agent = %id, error = %e, "cannot remove the sandbox its previous host left")
                }
                Err(_) => {
                    tracing::warn!(agent = %id, "removing the sandbox its previous host left takes too long; going on")
                }
            }
        }
        let fence = claimed.fence.clone();
        if let Err(e) = manager
            .adopt(claimed.agent, Some(fence.clone()), crash)
            .await
        {
            tracing::error!(agent = %id, error = %e, "could not take the agent up; releasing it");
            if let Some(agent) = manager.remove(&id) {
                agent.lose();
            }
            let _ = store.release(&id, &fence).await;
        }
    }
    Ok(())
}

/// Carries out what other hosts ask of this host's agents (and of this
/// host), oldest first.
async fn serve_requests(manager: Arc<Manager>, cluster: Arc<Cluster>) {
    loop {
        tokio::select! {
            _ = cluster.requests.notified() => {}
            _ = tokio::time::sleep(REQUESTS_EVERY) => {}
        }
        let store = &manager.deps().store;
        let taken = match store.take_requests(cluster.host()).await {
            Ok(t) => t,
            Err(e) => {
                tracing::debug!(error = %e, "reading requests failed");
                continue;
            }
        };
        for request in taken {
            // One taken for an agent this host no longer runs goes back.
            if let Some(agent) = &request.agent_id
                && manager.get(agent).is_err()
            {
                if let Err(e) = store.return_request(&request.id).await {
                    tracing::warn!(error = %e, "cannot put a request back");
                }
                continue;
            }
            let reply = carry_out(&manager, &request).await;
            let answer = serde_json::to_value(&reply).unwrap_or_default();
            if let Err(e) = store.answer_request(&request.id, &answer).await {
                tracing::warn!(request = %request.id, error = %e, "cannot answer a request");
            }
        }
    }
}

/// Does what one request asks, here.
async fn carry_out(manager: &Manager, request: &HostRequest) -> Reply {
    let body = &request.body;
    let agent = request.agent_id.as_deref().unwrap_or_default();
    let text = |k: &str| body.get(k).and_then(|v| v.as_str()).map(str::to_string);
    let actor = || {
        body.get("by")
            .cloned()
            .and_then(|b| serde_json::from_value::<Actor>(b).ok())
            .unwrap_or_else(|| Actor::named(format!("host {}", request.from_host)))
    };
    let done = match RequestKind::parse(&request.kind) {
        Some(RequestKind::Create) => {
            let config = body
                .get("config")
                .cloned()
                .map(serde_json::from_value::<AgentConfig>);
            match config {
                Some(Ok(config)) => manager
                    .create_here(config, text("task"))
                    .await
                    .map(|(a, _)| serde_json::json!({"agent_id": a.id()})),
                _ => Err(AgentError::Invalid(
                    "config: the request carries no valid agent configuration".into(),
                )),
            }
        }
        Some(RequestKind::Message) => manager
            .post_message_here(agent, text("text").unwrap_or_default())
            .await
            .map(|e| serde_json::json!({"seq": e.seq})),
        Some(RequestKind::Retry) => manager
            .retry_here(agent, &actor())
            .await
            .map(|e| serde_json::json!({"seq": e.seq})),
        Some(RequestKind::Interrupt) => manager
            .get(agent)
            .map(|a| serde_json::json!({"interrupted": a.interrupt()})),
        Some(RequestKind::Delete) => {
            let purge = body.get("purge").and_then(|p| p.as_bool()).unwrap_or(false);
            manager
                .delete_here(agent, purge)
                .await
                .map(|existed| serde_json::json!({"existed": existed}))
        }
        Some(RequestKind::ApprovalDecided) => manager.get(agent).map(|a| {
            a.approval_decided_by(&text("call_id").unwrap_or_default(), actor());
            serde_json::json!({})
        }),
        None => Err(AgentError::Invalid(format!(
            "kind: `{}` is not a request this host knows",
            request.kind
        ))),
    };
    match done {
        Ok(v) => Reply::Ok(v),
        Err(e) => reply_error(&e),
    }
}

impl Manager {
    /// Drains this host (`SIGTERM`, or the end of a headless run): it takes
    /// no more agents, each agent stops at its next safe point (idle,
    /// waiting for an approval, or between a recorded step and the next)
    /// and its lease is released at once for another host to resume it
    /// without an error; those still busy after `[cluster]
    /// drain_timeout_secs` are stopped and released as they stand (their
    /// next host resumes them as after a restart). Returns how many agents
    /// were handed over at a safe point and how many were cut short.
    pub async fn drain(self: &Arc<Self>) -> (usize, usize) {
        let Some(cluster) = self.cluster().cloned() else {
            return (0, 0);
        };
        cluster.start_draining();
        let store = self.deps().store.clone();
        if let Err(e) = store
            .set_host_state(
                cluster.host(),
                paddock_protocol::cluster::HostState::Draining,
            )
            .await
        {
            tracing::warn!(error = %e, "cannot record that this host drains");
        }
        let agents = self.local_agents();
        tracing::info!(
            agents = agents.len(),
            "draining: handing the agents over at their next safe point"
        );
        let timeout = Duration::from_secs(cluster.config().drain_timeout_secs);
        let mut handed = Vec::new();
        for agent in agents {
            agent.hand_over();
            let manager = self.clone();
            let store = store.clone();
            handed.push(tokio::spawn(async move {
                let clean = tokio::time::timeout(timeout, agent.finished())
                    .await
                    .is_ok();
                manager.remove(agent.id());
                if !clean {
                    agent.lose();
                }
                if let Some(fence) = agent.fence()
                    && let Err(e) = store.release(agent.id(), fence).await
                {
                    tracing::warn!(agent = %agent.id(), error = %e, "cannot release the agent's lease; it is taken over when the lease expires");
                }
                clean
            }));
        }
        let (mut clean, mut cut) = (0, 0);
        for h in handed {
            match h.await {
                Ok(true) => clean += 1,
                _ => cut += 1,
            }
        }
        cluster.set_stopped();
        if let Err(e) = store
            .set_host_state(
                cluster.host(),
                paddock_protocol::cluster::HostState::Stopped,
            )
            .await
        {
            tracing::warn!(error = %e, "cannot record that this host stopped");
        }
        tracing::info!(handed_over = clean, cut_short = cut, "drained");
        (clean, cut)
    }
}
