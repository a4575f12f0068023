//! Several hosts on one PostgreSQL database: the hosts and their
//! heartbeats, each agent's fenced lease (which host runs it, the lease's
//! generation, its expiry), the requests one host sends another through the
//! database, and the notifications (`LISTEN/NOTIFY`) that wake them.
//!
//! Every time is the database's clock, in milliseconds ([`NOW_MS`]): hosts'
//! clocks are never compared. A lease is *fenced*: every append of a host
//! to an agent's log is conditional on the host and generation of the lease
//! it holds ([`Fence`]), in the same statement that moves `last_seq`, so a
//! host that lost the lease (paused, cut off, declared dead) cannot write a
//! single event into a log another host now keeps — even one it was about
//! to write when it froze. Claiming raises the generation; renewing does
//! not.

use crate::{AGENT_COLUMNS, AgentRecord, Backend, Store, StoreError, agent_from_row, nanos};
use chrono::{DateTime, Utc};
use paddock_protocol::cluster::HostState;
use sqlx::Row;

/// The database's clock, in milliseconds since the epoch.
pub(crate) const NOW_MS: &str = "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT";

/// The channel that carries `AGENT_ID SEQ` for each appended event.
pub const EVENTS_CHANNEL: &str = "paddock_events";
/// The channel that wakes hosts: a request was posted (`AGENT_ID` or
/// `host:HOST_ID`), or agents need a host (`orphans`).
pub const REQUESTS_CHANNEL: &str = "paddock_requests";
/// The channel that carries the id of each answered request.
pub const REPLIES_CHANNEL: &str = "paddock_replies";

/// The lease an append is made under: the host and the generation it
/// claimed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fence {
    /// The host holding the lease.
    pub host: String,
    /// The lease's generation when the host claimed it.
    pub generation: i64,
}

/// An agent a host has just claimed.
#[derive(Clone, Debug)]
pub struct Claimed {
    /// The agent as stored at the claim.
    pub agent: AgentRecord,
    /// The new lease.
    pub fence: Fence,
    /// The host that held the lease before (none: never held, or handed
    /// over cleanly).
    pub previous: Option<String>,
    /// The generation before the claim (0: the agent was never leased).
    pub previous_generation: i64,
}

/// A stored host.
#[derive(Clone, Debug, PartialEq)]
pub struct HostRecord {
    /// Its id.
    pub id: String,
    /// Where it says it is reached.
    pub advertise_url: Option<String>,
    /// Its Paddock version.
    pub version: String,
    /// How many agents it runs at most.
    pub capacity: u32,
    /// What it last said of itself (a live host whose heartbeat is older
    /// than a lease is shown as unreachable by the caller).
    pub state: HostState,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// Its last heartbeat.
    pub heartbeat_at: DateTime<Utc>,
    /// Milliseconds since that heartbeat, by the database's clock.
    pub heartbeat_age_ms: u64,
    /// The agents whose unexpired lease it holds.
    pub agents: Vec<String>,
    /// Of those, how many are at work.
    pub busy: u32,
}

/// A request for another host to carry out.
#[derive(Clone, Debug, PartialEq)]
pub struct HostRequest {
    /// Its id.
    pub id: String,
    /// The agent it is for (carried out by whoever runs it), if any.
    pub agent_id: Option<String>,
    /// The host it is for, when it names one (a new agent placed there).
    pub host_id: Option<String>,
    /// What to do (the caller's vocabulary).
    pub kind: String,
    /// Its arguments.
    pub body: serde_json::Value,
    /// The host that asked.
    pub from_host: String,
}

/// Where a request stands.
#[derive(Clone, Debug, PartialEq)]
pub enum RequestState {
    /// Not taken yet.
    Pending,
    /// Taken by a host, not answered yet.
    Claimed,
    /// Answered.
    Done(serde_json::Value),
    /// Withdrawn by its sender before anyone took it.
    Cancelled,
}

/// One notification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notification {
    /// Its channel.
    pub channel: String,
    /// Its payload.
    pub payload: String,
}

/// A connection listening to the cluster's channels.
pub struct Listener {
    inner: sqlx::postgres::PgListener,
}

impl Listener {
    /// The next notification. An error means the connection was lost and
    /// notifications may have been missed meanwhile (the listener
    /// reconnects on the next call): the caller repairs by reading.
    pub async fn recv(&mut self) -> Result<Notification, StoreError> {
        let n = self.inner.recv().await?;
        Ok(Notification {
            channel: n.channel().to_string(),
            payload: n.payload().to_string(),
        })
    }
}

impl Store {
    pub(crate) fn cluster_only(&self) -> Result<(), StoreError> {
        match self.backend {
            Backend::Postgres => Ok(()),
            Backend::Sqlite => Err(StoreError::Invalid(
                "several hosts need PostgreSQL (database_url = \"postgres://…\")".into(),
            )),
        }
    }

    /// The database's clock, in milliseconds.
    pub async fn now_ms(&self) -> Result<i64, StoreError> {
        self.cluster_only()?;
        let sql = format!("SELECT {NOW_MS}");
        Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_one(&self.pool)
            .await?)
    }

    /// A connection listening to the events, requests and replies channels.
    pub async fn listen(&self) -> Result<Listener, StoreError> {
        self.cluster_only()?;
        let url = self
            .url
            .as_deref()
            .ok_or_else(|| StoreError::Invalid("the store has no URL to listen with".into()))?;
        let mut inner = sqlx::postgres::PgListener::connect(url).await?;
        inner
            .listen_all([EVENTS_CHANNEL, REQUESTS_CHANNEL, REPLIES_CHANNEL])
            .await?;
        Ok(Listener { inner })
    }

    /// Records this host as live (again), with its heartbeat now.
    pub async fn register_host(
        &self,
        id: &str,
        advertise_url: Option<&str>,
        version: &str,
        capacity: u32,
    ) -> Result<(), StoreError> {
        self.cluster_only()?;
        let sql = format!(
            "INSERT INTO hosts (id, advertise_url, version, capacity, state, started_at, heartbeat_at) \
             VALUES ($1, $2, $3, $4, 'live', {NOW_MS}, {NOW_MS}) \
             ON CONFLICT (id) DO UPDATE SET advertise_url = $2, version = $3, capacity = $4, \
             state = 'live', started_at = {NOW_MS}, heartbeat_at = {NOW_MS}"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .bind(advertise_url)
            .bind(version)
            .bind(i64::from(capacity))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The heartbeat: records the host's state and renews every lease it
    /// holds by `ttl_ms`, in one transaction. Returns the leases it still
    /// holds (agent id, generation): a lease missing from them, or of
    /// another generation, was taken by another host.
    pub async fn heartbeat(
        &self,
        host: &str,
        state: HostState,
        ttl_ms: i64,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        self.cluster_only()?;
        let mut w = self.begin_write().await?;
        let result = async {
            let sql = format!("UPDATE hosts SET heartbeat_at = {NOW_MS}, state = $1 WHERE id = $2");
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(state.as_str())
                .bind(host)
                .execute(&mut *w.tx)
                .await?;
            let sql = format!(
                "UPDATE agents SET lease_expires = {NOW_MS} + $1 WHERE lease_host = $2 \
                 AND deleted_at IS NULL RETURNING id, lease_gen"
            );
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(ttl_ms)
                .bind(host)
                .fetch_all(&mut *w.tx)
                .await?;
            rows.iter()
                .map(|r| Ok((r.try_get("id")?, r.try_get("lease_gen")?)))
                .collect::<Result<Vec<(String, i64)>, StoreError>>()
        }
        .await;
        w.finish(result).await
    }

    /// Expires every lease `host` holds: what a former process with the
    /// same id left is taken over like a dead host's.
    pub async fn expire_leases_of(&self, host: &str) -> Result<u64, StoreError> {
        self.cluster_only()?;
        let done = sqlx::query("UPDATE agents SET lease_expires = 0 WHERE lease_host = $1")
            .bind(host)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    /// Marks the host's state (draining, stopped) at once.
    pub async fn set_host_state(&self, host: &str, state: HostState) -> Result<(), StoreError> {
        self.cluster_only()?;
        let sql = format!("UPDATE hosts SET state = $1, heartbeat_at = {NOW_MS} WHERE id = $2");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(state.as_str())
            .bind(host)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Every host that was heard from in the last `window_ms`, or that
    /// still holds a lease, with the agents whose unexpired leases it
    /// holds; oldest first.
    pub async fn hosts(&self, window_ms: i64) -> Result<Vec<HostRecord>, StoreError> {
        self.cluster_only()?;
        let sql = format!(
            "SELECT id, advertise_url, version, capacity, state, started_at, heartbeat_at, \
             {NOW_MS} - heartbeat_at AS age FROM hosts \
             WHERE heartbeat_at > {NOW_MS} - $1 OR id IN (SELECT lease_host FROM agents \
             WHERE lease_host IS NOT NULL AND deleted_at IS NULL) ORDER BY started_at, id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(window_ms)
            .fetch_all(&self.pool)
            .await?;
        let sql = format!(
            "SELECT id, lease_host, status FROM agents WHERE lease_host IS NOT NULL \
             AND deleted_at IS NULL AND lease_expires > {NOW_MS} ORDER BY created_at, id"
        );
        let leases = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await?;
        let mut hosts = Vec::with_capacity(rows.len());
        for r in &rows {
            let id: String = r.try_get("id")?;
            let state: String = r.try_get("state")?;
            let mut agents = Vec::new();
            let mut busy = 0;
            for l in &leases {
                if l.try_get::<String, _>("lease_host")? == id {
                    let status: String = l.try_get("status")?;
                    if matches!(
                        status.as_str(),
                        "thinking" | "executing_tool" | "waiting_approval"
                    ) {
                        busy += 1;
                    }
                    agents.push(l.try_get("id")?);
                }
            }
            hosts.push(HostRecord {
                state: HostState::parse(&state).ok_or_else(|| StoreError::CorruptRecord {
                    what: format!("host {id}"),
                    reason: format!("unknown state `{state}`"),
                })?,
                advertise_url: r.try_get("advertise_url")?,
                version: r.try_get("version")?,
                capacity: u32::try_from(r.try_get::<i64, _>("capacity")?).unwrap_or(0),
                started_at: millis(r.try_get("started_at")?),
                heartbeat_at: millis(r.try_get("heartbeat_at")?),
                heartbeat_age_ms: u64::try_from(r.try_get::<i64, _>("age")?).unwrap_or(0),
                agents,
                busy,
                id,
            });
        }
        Ok(hosts)
    }

    /// Up to `limit` agents that need a host: not deleted, not stopped,
    /// and leased by no one or by a host whose lease expired — those
    /// waiting longest first. Each with the time since its lease expired
    /// (0 for one never leased or handed over).
    pub async fn orphans(&self, limit: u32) -> Result<Vec<(String, i64)>, StoreError> {
        self.cluster_only()?;
        let sql = format!(
            "SELECT id, CASE WHEN lease_host IS NULL THEN 0 ELSE {NOW_MS} - lease_expires END AS waited \
             FROM agents WHERE deleted_at IS NULL AND status <> 'stopped' \
             AND (lease_host IS NULL OR lease_expires < {NOW_MS}) \
             ORDER BY lease_expires, created_at, id LIMIT $1"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("id")?, r.try_get("waited")?)))
            .collect()
    }

    /// Claims the agent for `host` when no one holds an unexpired lease on
    /// it: raises the generation, sets the expiry `ttl_ms` ahead. None
    /// when another host holds it (or it is deleted or stopped).
    pub async fn claim(
        &self,
        agent: &str,
        host: &str,
        ttl_ms: i64,
    ) -> Result<Option<Claimed>, StoreError> {
        self.cluster_only()?;
        let mut w = self.begin_write().await?;
        let result = async {
            let sql = format!(
                "SELECT lease_host, lease_gen FROM agents WHERE id = $1 AND deleted_at IS NULL \
                 AND status <> 'stopped' AND (lease_host IS NULL OR lease_expires < {NOW_MS}) \
                 FOR UPDATE"
            );
            let Some(before) = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(agent)
                .fetch_optional(&mut *w.tx)
                .await?
            else {
                return Ok(None);
            };
            let previous: Option<String> = before.try_get("lease_host")?;
            let previous_generation: i64 = before.try_get("lease_gen")?;
            let sql = format!(
                "UPDATE agents SET lease_host = $1, lease_gen = lease_gen + 1, \
                 lease_expires = {NOW_MS} + $2 WHERE id = $3 RETURNING lease_gen"
            );
            let generation: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .bind(host)
                .bind(ttl_ms)
                .bind(agent)
                .fetch_one(&mut *w.tx)
                .await?;
            let sql = format!("SELECT {AGENT_COLUMNS} FROM agents WHERE id = $1");
            let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(agent)
                .fetch_one(&mut *w.tx)
                .await?;
            Ok(Some(Claimed {
                agent: agent_from_row(&row)?,
                fence: Fence {
                    host: host.to_string(),
                    generation,
                },
                previous,
                previous_generation,
            }))
        }
        .await;
        w.finish(result).await
    }

    /// Gives a lease up cleanly (a drain, a step down): no host holds the
    /// agent until another claims it, which it may at once. False when the
    /// lease was not this host's any more.
    pub async fn release(&self, agent: &str, fence: &Fence) -> Result<bool, StoreError> {
        self.cluster_only()?;
        let done = sqlx::query(
            "UPDATE agents SET lease_host = NULL, lease_expires = 0 \
             WHERE id = $1 AND lease_host = $2 AND lease_gen = $3",
        )
        .bind(agent)
        .bind(&fence.host)
        .bind(fence.generation)
        .execute(&self.pool)
        .await?;
        self.notify(REQUESTS_CHANNEL, "orphans").await?;
        Ok(done.rows_affected() > 0)
    }

    /// Sends a notification.
    pub async fn notify(&self, channel: &str, payload: &str) -> Result<(), StoreError> {
        self.cluster_only()?;
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(channel)
            .bind(payload)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Stores a request and wakes the hosts.
    pub async fn post_request(&self, request: &HostRequest) -> Result<(), StoreError> {
        self.cluster_only()?;
        let mut w = self.begin_write().await?;
        let result = async {
            sqlx::query(
                "INSERT INTO host_requests (id, agent_id, host_id, kind, body, state, from_host, created_at) \
                 VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7)",
            )
            .bind(&request.id)
            .bind(request.agent_id.as_deref())
            .bind(request.host_id.as_deref())
            .bind(&request.kind)
            .bind(request.body.to_string())
            .bind(&request.from_host)
            .bind(nanos(Utc::now())?)
            .execute(&mut *w.tx)
            .await?;
            let target = match (&request.agent_id, &request.host_id) {
                (_, Some(h)) => format!("host:{h}"),
                (Some(a), None) => a.clone(),
                (None, None) => "orphans".into(),
            };
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(REQUESTS_CHANNEL)
                .bind(target)
                .execute(&mut *w.tx)
                .await?;
            Ok(())
        }
        .await;
        w.finish(result).await
    }

    /// Takes the pending requests that are `host`'s to carry out — those
    /// naming it, and those for agents whose lease it holds — oldest
    /// first; each is taken by one host only.
    pub async fn take_requests(&self, host: &str) -> Result<Vec<HostRequest>, StoreError> {
        self.cluster_only()?;
        let rows = sqlx::query(
            "UPDATE host_requests SET state = 'claimed' WHERE id IN (\
               SELECT r.id FROM host_requests r LEFT JOIN agents a ON a.id = r.agent_id \
               WHERE r.state = 'pending' AND (r.host_id = $1 OR (r.host_id IS NULL AND a.lease_host = $1)) \
               ORDER BY r.created_at LIMIT 200 FOR UPDATE OF r SKIP LOCKED) \
             RETURNING id, agent_id, host_id, kind, body, from_host, created_at",
        )
        .bind(host)
        .fetch_all(&self.pool)
        .await?;
        let mut taken = rows
            .iter()
            .map(|r| {
                let body: String = r.try_get("body")?;
                let created: i64 = r.try_get("created_at")?;
                Ok((
                    created,
                    HostRequest {
                        id: r.try_get("id")?,
                        agent_id: r.try_get("agent_id")?,
                        host_id: r.try_get("host_id")?,
                        kind: r.try_get("kind")?,
                        body: serde_json::from_str(&body).map_err(|e| {
                            StoreError::CorruptRecord {
                                what: "host request".into(),
                                reason: e.to_string(),
                            }
                        })?,
                        from_host: r.try_get("from_host")?,
                    },
                ))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        // RETURNING keeps no order.
        taken.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.id.cmp(&b.1.id)));
        Ok(taken.into_iter().map(|(_, r)| r).collect())
    }

    /// Answers a taken request and tells its sender.
    pub async fn answer_request(
        &self,
        id: &str,
        result: &serde_json::Value,
    ) -> Result<(), StoreError> {
        self.cluster_only()?;
        let mut w = self.begin_write().await?;
        let done = async {
            sqlx::query("UPDATE host_requests SET state = 'done', result = $1 WHERE id = $2")
                .bind(result.to_string())
                .bind(id)
                .execute(&mut *w.tx)
                .await?;
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(REPLIES_CHANNEL)
                .bind(id)
                .execute(&mut *w.tx)
                .await?;
            Ok(())
        }
        .await;
        w.finish(done).await
    }

    /// Puts a taken request back for another host (this one stepped down
    /// from the agent before carrying it out).
    pub async fn return_request(&self, id: &str) -> Result<(), StoreError> {
        self.cluster_only()?;
        sqlx::query(
            "UPDATE host_requests SET state = 'pending' WHERE id = $1 AND state = 'claimed'",
        )
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Withdraws a request no host has taken; false when one has.
    pub async fn cancel_request(&self, id: &str) -> Result<bool, StoreError> {
        self.cluster_only()?;
        let done = sqlx::query(
            "UPDATE host_requests SET state = 'cancelled' WHERE id = $1 AND state = 'pending'",
        )
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Where a request stands (None: no such request).
    pub async fn request_state(&self, id: &str) -> Result<Option<RequestState>, StoreError> {
        self.cluster_only()?;
        let Some(row) = sqlx::query("SELECT state, result FROM host_requests WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        let state: String = row.try_get("state")?;
        Ok(Some(match state.as_str() {
            "pending" => RequestState::Pending,
            "claimed" => RequestState::Claimed,
            "cancelled" => RequestState::Cancelled,
            _ => {
                let result: Option<String> = row.try_get("result")?;
                RequestState::Done(
                    result
                        .and_then(|r| serde_json::from_str(&r).ok())
                        .unwrap_or(serde_json::Value::Null),
                )
            }
        }))
    }

    /// Removes answered and withdrawn requests older than `age_secs`.
    pub async fn prune_requests(&self, age_secs: i64) -> Result<u64, StoreError> {
        self.cluster_only()?;
        let before = nanos(Utc::now() - chrono::Duration::seconds(age_secs))?;
        let done = sqlx::query(
            "DELETE FROM host_requests WHERE state IN ('done', 'cancelled') AND created_at < $1",
        )
        .bind(before)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// How many of `owner`'s agents run on hosts other than `host`: at
    /// work, or with a message posted that their run has not taken up yet
    /// (their last event is the message).
    pub async fn running_elsewhere(&self, owner: &str, host: &str) -> Result<u64, StoreError> {
        self.cluster_only()?;
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM agents a WHERE a.owner = $1 AND a.deleted_at IS NULL \
             AND a.status <> 'stopped' AND (a.lease_host IS NULL OR a.lease_host <> $2) \
             AND (a.status IN ('thinking', 'executing_tool', 'waiting_approval') \
               OR EXISTS (SELECT 1 FROM events e WHERE e.agent_id = a.id AND e.seq = a.last_seq \
                 AND e.type = 'message.user'))",
        )
        .bind(owner)
        .bind(host)
        .fetch_one(&self.pool)
        .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// The last seq of each of these agents (unknown ones left out).
    pub async fn last_seqs(&self, ids: &[String]) -> Result<Vec<(String, u64)>, StoreError> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(200) {
            let marks = (1..=chunk.len())
                .map(|i| format!("${i}"))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!("SELECT id, last_seq FROM agents WHERE id IN ({marks})");
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                q = q.bind(id);
            }
            for r in q.fetch_all(&self.pool).await? {
                let seq: i64 = r.try_get("last_seq")?;
                out.push((r.try_get("id")?, u64::try_from(seq).unwrap_or(0)));
            }
        }
        Ok(out)
    }
}

fn millis(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}
