//! `/api/ws`: one WebSocket subscribes to any number of agents and receives
//! their events in order, without gaps or duplicates: each subscription
//! first listens on the bus, then replays the store after the client's
//! `after`, then the answer in progress (one `message.reasoning` and one
//! `message.delta` with the whole text so far, when the agent is
//! mid-answer), then forwards live events, skipping what the replay already sent
//! and filling any gap from the store (the agent layer's
//! [`Follow`](paddock_core::agent::follow::Follow)).
//!
//! Slow consumers never slow agents down: the bus drops what a lagging
//! receiver missed, and each connection's outgoing queue is bounded. A
//! subscription that falls behind either way ends with a `lagged` message
//! carrying the last seq delivered; the client resubscribes with that
//! `after` and misses nothing.
//!
//! Client → server: `{"op":"subscribe","agent_id","after"}`,
//! `{"op":"unsubscribe","agent_id"}`, `{"op":"message","agent_id","text"}`,
//! `{"op":"interrupt","agent_id"}`, `{"op":"retry","agent_id"}` (as `POST
//! /api/agents/{id}/retry`), `{"op":"approve","agent_id","call_id",
//! "approved","reason"?,"remember"?}` (as `POST
//! /api/agents/{id}/approvals/{call_id}`; a second decision gets an error
//! with code `conflict`), `{"op":"watch_metrics","agent_id"?,"interval_ms"}`
//! (250 to 60000; 0 stops), `{"op":"subscribe_workflow_run","run_id","after"}`
//! (a workflow run's events after `after`, then live),
//! `{"op":"unsubscribe_workflow_run","run_id"}`.
//! Server → client: `{"op":"event","event":{…}}`, `{"op":"subscribed",
//! "agent_id","after"}`, `{"op":"lagged","agent_id","resume_after"}`,
//! `{"op":"ack","for","agent_id","seq"?}`, `{"op":"error","code","message",
//! "agent_id"?}`, `{"op":"metrics.update","agent_id"?,"metrics":[…]}`
//! (the figures of `GET /api/metrics/agents`),
//! `{"op":"workflow_event","run_id","event":{…}}` (one event of a run's
//! log, in seq order without gaps), `{"op":"workflow_subscribed","run_id",
//! "after"}`, `{"op":"workflow_unsubscribed","run_id"}`; an error about a
//! run carries its `run_id`.
//!
//! Every operation is checked as the REST route that does the same, for
//! the caller who opened the socket: an agent the caller may not see is
//! refused with the same `not_found` error as one that does not exist
//! (`subscribe`, `watch_metrics`), changing one needs the right to drive it
//! (`message`, `interrupt`, `retry`, `approve`: `forbidden` for a viewer),
//! and every agent's metrics are those of the agents the caller may see.
//! A workflow run is subscribed to as `GET /api/workflow-runs/{id}/events`
//! reads it: only its owner and admins (`not_found` for everyone else).

use super::AppState;
use super::auth::Caller;
use super::error::ApiError;
use super::ownership::{self, Need};
use super::visibility::VisibleIds;
use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade, close_code};
use axum::http::HeaderMap;
use axum::response::Response;
use futures::{SinkExt, StreamExt};
use paddock_core::agent::follow::{Follow, Followed};
use paddock_core::bus::Joined;
use paddock_protocol::events::Event;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Outgoing messages queued per connection before its subscriptions are
/// told they lag.
pub const OUT_CAPACITY: usize = 4096;
/// Messages written before one flush.
const WRITE_BATCH: usize = 64;
/// Subscriptions per connection.
pub const MAX_SUBSCRIPTIONS: usize = 10_000;
/// The key of a connection's metrics task among its subscriptions (agent
/// ids never contain a NUL).
const METRICS_TASK: &str = "\0metrics";
/// The key of a workflow run's subscription among a connection's
/// subscriptions (agent ids never contain a NUL).
fn run_key(run_id: &str) -> String {
    format!("\0run:{run_id}")
}
/// Shortest and longest `watch_metrics` interval.
const MIN_METRICS_MS: u64 = 250;
const MAX_METRICS_MS: u64 = 60_000;

/// Sends one agent's (or every agent's) figures every `every`, skipping a
/// tick when the connection's queue is full.
async fn watch_metrics(
    state: AppState,
    caller: Caller,
    agent: Option<String>,
    every: Duration,
    out: mpsc::Sender<Utf8Bytes>,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        let figures = match &agent {
            Some(id) => super::metrics::one(&state, id).await.map(|m| vec![m]),
            // The agents the caller may see now (shares change).
            None => match VisibleIds::of(&state, &caller).await {
                Ok(visible) => super::metrics::all(&state, false).await.map(|all| {
                    all.into_iter()
                        .filter(|m| visible.agent_id(&m.agent_id))
                        .collect()
                }),
                Err(e) => Err(e),
            },
        };
        let metrics = match figures {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e.message, "metrics for the WebSocket failed");
                continue;
            }
        };
        let msg = encode(&ServerMsg::MetricsUpdate {
            agent_id: agent.as_deref(),
            metrics: &metrics,
        });
        match out.try_send(msg) {
            Ok(()) | Err(mpsc::error::TrySendError::Full(_)) => {}
            Err(mpsc::error::TrySendError::Closed(_)) => return,
        }
    }
}

/// Largest client message.
const MAX_CLIENT_MESSAGE: usize = 512 * 1024;
/// Largest message the protocol layer reads at all (a larger one drops the
/// connection without a close frame).
const PROTOCOL_MAX_MESSAGE: usize = 16 * 1024 * 1024;

/// A close frame's reason: at most 123 bytes, cut at a character boundary.
fn close_reason(text: &str) -> Utf8Bytes {
    let mut end = text.len().min(123);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string().into()
}

/// A WebSocket message from the client.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
#[schema(as = WsClientMessage)]
pub(super) enum ClientMsg {
    Subscribe {
        agent_id: String,
        #[serde(default)]
        after: u64,
    },
    Unsubscribe {
        agent_id: String,
    },
    Message {
        agent_id: String,
        text: String,
    },
    Interrupt {
        agent_id: String,
    },
    /// Re-runs the last turn of a failed or limited agent (as `POST
    /// /api/agents/{id}/retry`).
    Retry {
        agent_id: String,
    },
    Approve {
        agent_id: String,
        call_id: String,
        approved: bool,
        #[serde(default)]
        reason: Option<String>,
        #[serde(default)]
        remember: paddock_core::agent::Remember,
    },
    /// Sends `metrics.update` messages every `interval_ms` (250 to 60000;
    /// 0 stops): one agent's figures, or every agent's without `agent_id`.
    WatchMetrics {
        #[serde(default)]
        agent_id: Option<String>,
        interval_ms: u64,
    },
    /// Sends a workflow run's events with a seq above `after` (its stored
    /// log, then live) as `workflow_event` messages.
    SubscribeWorkflowRun {
        run_id: String,
        #[serde(default)]
        after: u64,
    },
    /// Stops a `subscribe_workflow_run`.
    UnsubscribeWorkflowRun {
        run_id: String,
    },
}

/// A WebSocket message from the server.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(tag = "op", rename_all = "snake_case")]
#[schema(as = WsServerMessage)]
pub(super) enum ServerMsg<'a> {
    Event {
        event: &'a Event,
    },
    Subscribed {
        agent_id: &'a str,
        after: u64,
    },
    Lagged {
        agent_id: &'a str,
        resume_after: u64,
    },
    Ack {
        #[serde(rename = "for")]
        for_op: &'a str,
        agent_id: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        seq: Option<u64>,
    },
    Error {
        code: &'a str,
        message: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        agent_id: Option<&'a str>,
        /// The workflow run the failed op named.
        #[serde(skip_serializing_if = "Option::is_none")]
        run_id: Option<&'a str>,
    },
    /// The figures asked for with `watch_metrics`.
    #[serde(rename = "metrics.update")]
    MetricsUpdate {
        #[serde(skip_serializing_if = "Option::is_none")]
        agent_id: Option<&'a str>,
        metrics: &'a [paddock_core::metrics::AgentMetrics],
    },
    /// One event of a subscribed workflow run.
    WorkflowEvent {
        run_id: &'a str,
        event: &'a paddock_protocol::workflow::WorkflowEvent,
    },
    /// A `subscribe_workflow_run` took effect: events after `after` follow.
    WorkflowSubscribed {
        run_id: &'a str,
        after: u64,
    },
    /// An `unsubscribe_workflow_run` took effect.
    WorkflowUnsubscribed {
        run_id: &'a str,
    },
}

fn encode(msg: &ServerMsg<'_>) -> Utf8Bytes {
    match serde_json::to_string(msg) {
        Ok(s) => s.into(),
        Err(e) => {
            tracing::error!(error = %e, "cannot encode a WebSocket message");
            r#"{"op":"error","code":"internal","message":"encoding failed"}"#.into()
        }
    }
}

/// The upgrade: checks the `Origin`, then serves the connection.
pub async fn upgrade(
    State(state): State<AppState>,
    headers: HeaderMap,
    caller: super::auth::Caller,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    // Messages on the socket change state: only this server's own pages
    // may open it (a GET is not checked by the cross-site rules).
    state.auth.check_origin(&headers)?;
    let ws = ws.map_err(|e| {
        let status = e.status();
        let code = match status {
            axum::http::StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
            axum::http::StatusCode::UPGRADE_REQUIRED => "upgrade_required",
            _ => "invalid_request",
        };
        ApiError::new(
            status,
            code,
            format!("this route takes a WebSocket upgrade: {}", e.body_text()),
        )
    })?;
    Ok(ws
        // Larger than the limit, so that an oversized message is read and
        // refused with a close frame that says why (1009), rather than the
        // connection dropping without a word.
        .max_message_size(PROTOCOL_MAX_MESSAGE)
        .on_upgrade(move |socket| serve(state, socket, caller)))
}

async fn serve(state: AppState, socket: WebSocket, caller: Caller) {
    let (mut sink, mut stream) = socket.split();
    let (out_tx, mut out_rx) = mpsc::channel::<Utf8Bytes>(OUT_CAPACITY);
    // Control messages (lag notices, replies) bypass the bounded queue; there
    // is at most one lag notice per subscription and one reply per request.
    let (ctl_tx, mut ctl_rx) = mpsc::unbounded_channel::<Utf8Bytes>();
    // Why the server ends the connection, when it does.
    let (close_tx, mut close_rx) = tokio::sync::oneshot::channel::<CloseFrame>();
    let writer = tokio::spawn(async move {
        loop {
            let next = tokio::select! {
                biased;
                m = ctl_rx.recv() => m,
                m = out_rx.recv() => m,
            };
            let Some(text) = next else { break };
            // Queue what is already waiting and flush once: one write for
            // a burst of events instead of one per event.
            if sink.feed(Message::Text(text)).await.is_err() {
                break;
            }
            let mut batch = 1;
            while batch < WRITE_BATCH {
                let Ok(text) = ctl_rx.try_recv().or_else(|_| out_rx.try_recv()) else {
                    break;
                };
                if sink.feed(Message::Text(text)).await.is_err() {
                    break;
                }
                batch += 1;
            }
            if sink.flush().await.is_err() {
                break;
            }
        }
        match close_rx.try_recv() {
            Ok(frame) => {
                let _ = sink.send(Message::Close(Some(frame))).await;
            }
            Err(_) => {
                let _ = sink.close().await;
            }
        }
    });
    let mut subs: HashMap<String, JoinHandle<()>> = HashMap::new();
    while let Some(msg) = stream.next().await {
        let text = match msg {
            Ok(Message::Text(t)) if t.len() > MAX_CLIENT_MESSAGE => {
                let _ = close_tx.send(CloseFrame {
                    code: close_code::SIZE,
                    reason: format!(
                        "message of {} bytes is over the limit of {} KiB",
                        t.len(),
                        MAX_CLIENT_MESSAGE / 1024
                    )
                    .into(),
                });
                break;
            }
            Ok(Message::Text(t)) => t,
            Ok(Message::Close(_)) => break,
            Err(e) => {
                let _ = close_tx.send(CloseFrame {
                    code: close_code::PROTOCOL,
                    reason: close_reason(&format!("cannot read this message: {e}")),
                });
                break;
            }
            Ok(Message::Binary(_)) => {
                reply_error(&ctl_tx, "invalid_request", "send JSON text messages", None);
                continue;
            }
            Ok(_) => continue,
        };
        let msg: ClientMsg = match serde_json::from_str(text.as_str()) {
            Ok(m) => m,
            Err(e) => {
                reply_error(
                    &ctl_tx,
                    "invalid_request",
                    &format!("invalid message: {e}"),
                    None,
                );
                continue;
            }
        };
        subs.retain(|_, h| !h.is_finished());
        handle(&state, &caller, msg, &mut subs, &out_tx, &ctl_tx).await;
    }
    for (_, h) in subs {
        h.abort();
    }
    drop(out_tx);
    drop(ctl_tx);
    let _ = writer.await;
}

fn reply_error(
    ctl: &mpsc::UnboundedSender<Utf8Bytes>,
    code: &str,
    message: &str,
    agent: Option<&str>,
) {
    let _ = ctl.send(encode(&ServerMsg::Error {
        code,
        message,
        agent_id: agent,
        run_id: None,
    }));
}

fn reply_run_error(ctl: &mpsc::UnboundedSender<Utf8Bytes>, code: &str, message: &str, run: &str) {
    let _ = ctl.send(encode(&ServerMsg::Error {
        code,
        message,
        agent_id: None,
        run_id: Some(run),
    }));
}

/// The agent the op names, if the caller may see it (`Need::See`) or
/// drive it (`Need::Drive`); else the error is sent and None returned.
async fn allowed(
    state: &AppState,
    caller: &Caller,
    agent_id: &str,
    need: Need,
    ctl: &mpsc::UnboundedSender<Utf8Bytes>,
) -> bool {
    match ownership::check(state, caller, agent_id, need).await {
        Ok(()) => true,
        Err(e) => {
            reply_error(ctl, e.code, &e.message, Some(agent_id));
            false
        }
    }
}

async fn handle(
    state: &AppState,
    caller: &Caller,
    msg: ClientMsg,
    subs: &mut HashMap<String, JoinHandle<()>>,
    out: &mpsc::Sender<Utf8Bytes>,
    ctl: &mpsc::UnboundedSender<Utf8Bytes>,
) {
    // Each op is checked as its REST route: seeing an agent, or driving it.
    let need = match &msg {
        ClientMsg::Subscribe { agent_id, .. } => Some((agent_id, Need::See)),
        ClientMsg::WatchMetrics {
            agent_id: Some(agent_id),
            interval_ms,
        } if *interval_ms != 0 => Some((agent_id, Need::See)),
        ClientMsg::Message { agent_id, .. }
        | ClientMsg::Interrupt { agent_id }
        | ClientMsg::Retry { agent_id }
        | ClientMsg::Approve { agent_id, .. } => Some((agent_id, Need::Drive)),
        ClientMsg::WatchMetrics { .. }
        | ClientMsg::Unsubscribe { .. }
        | ClientMsg::SubscribeWorkflowRun { .. }
        | ClientMsg::UnsubscribeWorkflowRun { .. } => None,
    };
    if let Some((agent_id, need)) = need
        && !allowed(state, caller, agent_id, need, ctl).await
    {
        return;
    }
    match msg {
        ClientMsg::Subscribe { agent_id, after } => {
            if !subs.contains_key(&agent_id) && subs.len() >= MAX_SUBSCRIPTIONS {
                reply_error(
                    ctl,
                    "too_many_subscriptions",
                    "too many subscriptions on one connection",
                    Some(&agent_id),
                );
                return;
            }
            match state.store.get_agent(&agent_id).await {
                Ok(Some(_)) => {}
                Ok(None) => {
                    reply_error(
                        ctl,
                        "not_found",
                        &format!("no agent with id `{agent_id}`"),
                        Some(&agent_id),
                    );
                    return;
                }
                Err(e) => {
                    tracing::error!(error = %e, "store failed on subscribe");
                    reply_error(
                        ctl,
                        "internal",
                        "the store failed; see the server log",
                        Some(&agent_id),
                    );
                    return;
                }
            }
            if let Some(old) = subs.remove(&agent_id) {
                old.abort();
            }
            // Listen before replaying, so nothing falls between the two;
            // the answer in progress comes with the receiver.
            let joined = state.bus.join(&agent_id);
            let _ = ctl.send(encode(&ServerMsg::Subscribed {
                agent_id: &agent_id,
                after,
            }));
            let task = tokio::spawn(forward(
                state.clone(),
                agent_id.clone(),
                after,
                joined,
                out.clone(),
                ctl.clone(),
            ));
            subs.insert(agent_id, task);
        }
        ClientMsg::WatchMetrics {
            agent_id,
            interval_ms,
        } => {
            if let Some(old) = subs.remove(METRICS_TASK) {
                old.abort();
            }
            if interval_ms == 0 {
                return;
            }
            if !(MIN_METRICS_MS..=MAX_METRICS_MS).contains(&interval_ms) {
                reply_error(
                    ctl,
                    "invalid_request",
                    &format!(
                        "interval_ms: {interval_ms} is not between {MIN_METRICS_MS} and {MAX_METRICS_MS} (0 stops)"
                    ),
                    agent_id.as_deref(),
                );
                return;
            }
            if let Some(id) = &agent_id
                && !matches!(state.store.get_agent(id).await, Ok(Some(_)))
            {
                reply_error(
                    ctl,
                    "not_found",
                    &format!("no agent with id `{id}`"),
                    Some(id),
                );
                return;
            }
            let task = tokio::spawn(watch_metrics(
                state.clone(),
                caller.clone(),
                agent_id,
                Duration::from_millis(interval_ms),
                out.clone(),
            ));
            subs.insert(METRICS_TASK.to_string(), task);
        }
        ClientMsg::SubscribeWorkflowRun { run_id, after } => {
            let key = run_key(&run_id);
            if !subs.contains_key(&key) && subs.len() >= MAX_SUBSCRIPTIONS {
                reply_run_error(
                    ctl,
                    "too_many_subscriptions",
                    "too many subscriptions on one connection",
                    &run_id,
                );
                return;
            }
            // Checked as `GET /api/workflow-runs/{id}/events`.
            if let Err(e) = super::workflows::run_for(state, caller, &run_id, Need::See).await {
                reply_run_error(ctl, e.code, &e.message, &run_id);
                return;
            }
            if let Some(old) = subs.remove(&key) {
                old.abort();
            }
            // The follower listens before it replays: nothing falls between.
            let follow = state.workflows.follow(&run_id, after);
            let _ = ctl.send(encode(&ServerMsg::WorkflowSubscribed {
                run_id: &run_id,
                after,
            }));
            let task = tokio::spawn(forward_run(run_id, follow, out.clone()));
            subs.insert(key, task);
        }
        ClientMsg::UnsubscribeWorkflowRun { run_id } => {
            if let Some(h) = subs.remove(&run_key(&run_id)) {
                h.abort();
            }
            let _ = ctl.send(encode(&ServerMsg::WorkflowUnsubscribed { run_id: &run_id }));
        }
        ClientMsg::Unsubscribe { agent_id } => {
            if let Some(h) = subs.remove(&agent_id) {
                h.abort();
            }
            let _ = ctl.send(encode(&ServerMsg::Ack {
                for_op: "unsubscribe",
                agent_id: &agent_id,
                seq: None,
            }));
        }
        ClientMsg::Message { agent_id, text } => {
            match state.manager.post_message(&agent_id, text).await {
                Ok(seq) => {
                    let _ = ctl.send(encode(&ServerMsg::Ack {
                        for_op: "message",
                        agent_id: &agent_id,
                        seq: Some(seq),
                    }));
                }
                Err(e) => {
                    let api: ApiError = e.into();
                    reply_error(ctl, api.code, &api.message, Some(&agent_id));
                }
            }
        }
        ClientMsg::Retry { agent_id } => match state
            .manager
            .retry(&agent_id, &super::audit::actor(caller, "WebSocket"))
            .await
        {
            Ok(seq) => {
                let _ = ctl.send(encode(&ServerMsg::Ack {
                    for_op: "retry",
                    agent_id: &agent_id,
                    seq: Some(seq),
                }));
            }
            Err(e) => {
                let api: ApiError = e.into();
                reply_error(ctl, api.code, &api.message, Some(&agent_id));
            }
        },
        ClientMsg::Interrupt { agent_id } => match state.manager.interrupt(&agent_id).await {
            Ok(_) => {
                let _ = ctl.send(encode(&ServerMsg::Ack {
                    for_op: "interrupt",
                    agent_id: &agent_id,
                    seq: None,
                }));
            }
            Err(e) => {
                let api: ApiError = e.into();
                reply_error(ctl, api.code, &api.message, Some(&agent_id));
            }
        },
        ClientMsg::Approve {
            agent_id,
            call_id,
            approved,
            reason,
            remember,
        } => match state
            .manager
            .decide(
                &agent_id,
                &call_id,
                approved,
                reason,
                remember,
                &super::audit::actor(caller, "WebSocket"),
            )
            .await
        {
            Ok(record) => {
                let _ = ctl.send(encode(&ServerMsg::Ack {
                    for_op: "approve",
                    agent_id: &agent_id,
                    seq: Some(record.seq),
                }));
            }
            Err(e) => {
                let api: ApiError = e.into();
                reply_error(ctl, api.code, &api.message, Some(&agent_id));
            }
        },
    }
}

/// Sends one subscription's events to the connection: the store's after
/// `after`, then the live ones ([`Follow`]). Replayed events wait for room
/// in the queue (a replay does not race agents); a live event finding the
/// queue full, or the bus dropping events, ends the subscription with a
/// `lagged` message carrying the last seq delivered.
async fn forward(
    state: AppState,
    agent: String,
    after: u64,
    joined: Joined,
    out: mpsc::Sender<Utf8Bytes>,
    ctl: mpsc::UnboundedSender<Utf8Bytes>,
) {
    let mut follow = Follow::joined(state.store.clone(), agent, after, joined);
    // The seq of the last stored event sent.
    let mut delivered = after;
    let lagged = loop {
        let item = match follow.next().await {
            Ok(Some(item)) => item,
            // The agent was purged and all it left was sent.
            Ok(None) => break false,
            Err(e) => {
                tracing::error!(error = %e, agent = %follow.agent(), "replay failed");
                break false;
            }
        };
        match item {
            Followed::Stored(event) => {
                let text = encode(&ServerMsg::Event { event: &event });
                if out.send(text).await.is_err() {
                    break false;
                }
                delivered = event.seq;
            }
            Followed::Live(event) => {
                match out.try_send(encode(&ServerMsg::Event { event: &event })) {
                    Ok(()) => {
                        if event.body.is_durable() {
                            delivered = event.seq;
                        }
                    }
                    Err(mpsc::error::TrySendError::Full(_)) => break true,
                    Err(mpsc::error::TrySendError::Closed(_)) => break false,
                }
            }
            Followed::Lagged { .. } => break true,
        }
    };
    if lagged {
        tracing::debug!(agent = %follow.agent(), resume_after = delivered, "subscriber lagged");
        let _ = ctl.send(encode(&ServerMsg::Lagged {
            agent_id: follow.agent(),
            resume_after: delivered,
        }));
    }
}

/// Sends one workflow run's events to the connection: its stored log after
/// the subscription's `after`, then the live ones, in seq order without
/// gaps (the run's [`RunFollow`](paddock_core::workflow::RunFollow) fills
/// what its live channel drops from the store). A run's events are few
/// (steps, not tokens): each waits for room in the connection's queue.
async fn forward_run(
    run_id: String,
    mut follow: paddock_core::workflow::RunFollow,
    out: mpsc::Sender<Utf8Bytes>,
) {
    loop {
        let event = match follow.next().await {
            Ok(Some(event)) => event,
            // The run's log ended (it finished and all of it was sent).
            Ok(None) => return,
            Err(e) => {
                tracing::error!(error = %e, run = %run_id, "workflow run replay failed");
                return;
            }
        };
        let text = encode(&ServerMsg::WorkflowEvent {
            run_id: &run_id,
            event: &event,
        });
        if out.send(text).await.is_err() {
            return;
        }
    }
}
