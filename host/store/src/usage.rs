//! Model usage across agents: the `usage` events of a time range, read for
//! the usage and cost endpoints and for budgets.

use super::{Store, StoreError, event_from_row, nanos};
use chrono::{DateTime, Utc};
use paddock_protocol::events::{Event, EventBody};

/// One model call's usage, as its `usage` event recorded it.
#[derive(Clone, Debug, PartialEq)]
pub struct UsageRecord {
    /// The agent.
    pub agent_id: String,
    /// When the call ended.
    pub ts: DateTime<Utc>,
    /// The provider.
    pub provider: String,
    /// The model.
    pub model: String,
    /// Prompt tokens (cached included).
    pub input_tokens: u64,
    /// Completion tokens.
    pub output_tokens: u64,
    /// Cached prompt tokens.
    pub cached_tokens: u64,
    /// Output tokens spent reasoning (part of `output_tokens`).
    pub reasoning_tokens: u64,
    /// Cost in USD (0 when the price is unknown).
    pub cost_usd: f64,
    /// Whether the model's price was known.
    pub price_known: bool,
    /// Wall time of the call.
    pub duration_ms: u64,
    /// Time to the first streamed text.
    pub ttft_ms: Option<u64>,
    /// For an agent on a model router: the tier chosen and why.
    pub route: Option<paddock_protocol::events::RouteInfo>,
    /// The failover targets that did not serve the call.
    pub failover: Vec<paddock_protocol::events::SkippedTarget>,
}

impl UsageRecord {
    /// The usage a `usage` event records (None for other events).
    pub fn of(event: &Event) -> Option<UsageRecord> {
        let EventBody::Usage {
            provider,
            model,
            input_tokens,
            output_tokens,
            cached_tokens,
            reasoning_tokens,
            cost_usd,
            price_known,
            duration_ms,
            ttft_ms,
            route,
            failover,
            ..
        } = &event.body
        else {
            return None;
        };
        Some(UsageRecord {
            agent_id: event.agent_id.clone(),
            ts: event.ts,
            provider: provider.clone(),
            model: model.clone(),
            input_tokens: *input_tokens,
            output_tokens: *output_tokens,
            cached_tokens: *cached_tokens,
            reasoning_tokens: *reasoning_tokens,
            cost_usd: *cost_usd,
            price_known: *price_known,
            duration_ms: *duration_ms,
            ttft_ms: *ttft_ms,
            route: route.clone(),
            failover: failover.clone(),
        })
    }
}

impl Store {
    /// The usage of every model call in `[from, to)`, of one agent or all,
    /// oldest first.
    pub async fn usage_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        agent: Option<&str>,
    ) -> Result<Vec<UsageRecord>, StoreError> {
        Ok(self
            .events_of_type_between("usage", from, to, agent)
            .await?
            .iter()
            .filter_map(UsageRecord::of)
            .collect())
    }

    /// The usage of every model call in `[from, to)` by the agents that
    /// any of `owners` (user ids) own, each with its agent's owner, oldest
    /// first (deleted agents' calls count too).
    pub async fn usage_of_owners(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        owners: &[String],
    ) -> Result<Vec<(String, UsageRecord)>, StoreError> {
        if owners.is_empty() {
            return Ok(Vec::new());
        }
        let marks: Vec<String> = (0..owners.len()).map(|i| format!("${}", i + 3)).collect();
        let sql = format!(
            "SELECT e.agent_id, e.seq, e.ts, e.type, e.data, a.owner FROM events e \
             JOIN agents a ON a.id = e.agent_id \
             WHERE e.type = 'usage' AND e.ts >= $1 AND e.ts < $2 AND a.owner IN ({}) \
             ORDER BY e.ts, e.agent_id, e.seq",
            marks.join(", ")
        );
        // Only placeholders are formatted in; every value is bound.
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(nanos(from)?)
            .bind(nanos(to)?);
        for o in owners {
            query = query.bind(o.as_str());
        }
        let rows = query.fetch_all(&self.pool).await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let agent_id: String = sqlx::Row::try_get(row, "agent_id")?;
            let owner: String = sqlx::Row::try_get(row, "owner")?;
            if let Some(u) = UsageRecord::of(&event_from_row(&agent_id, row)?) {
                out.push((owner, u));
            }
        }
        Ok(out)
    }

    /// The usage of every model call in `[from, to)` by the agents `ids`
    /// (an agent and its sub-agents, for a budget that covers them),
    /// oldest first (deleted agents' calls count too).
    pub async fn usage_of_agents(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        ids: &[String],
    ) -> Result<Vec<UsageRecord>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let marks: Vec<String> = (0..ids.len()).map(|i| format!("${}", i + 3)).collect();
        let sql = format!(
            "SELECT agent_id, seq, ts, type, data FROM events \
             WHERE type = 'usage' AND ts >= $1 AND ts < $2 AND agent_id IN ({}) \
             ORDER BY ts, agent_id, seq",
            marks.join(", ")
        );
        // Only placeholders are formatted in; every value is bound.
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(nanos(from)?)
            .bind(nanos(to)?);
        for id in ids {
            query = query.bind(id.as_str());
        }
        let rows = query.fetch_all(&self.pool).await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let agent_id: String = sqlx::Row::try_get(row, "agent_id")?;
            if let Some(u) = UsageRecord::of(&event_from_row(&agent_id, row)?) {
                out.push(u);
            }
        }
        Ok(out)
    }

    /// The events of one type in `[from, to)`, of one agent or all, oldest
    /// first.
    pub async fn events_of_type_between(
        &self,
        type_name: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        agent: Option<&str>,
    ) -> Result<Vec<Event>, StoreError> {
        let rows = sqlx::query(
            "SELECT agent_id, seq, ts, type, data FROM events \
             WHERE type = $1 AND ts >= $2 AND ts < $3 AND ($4 = '' OR agent_id = $4) \
             ORDER BY ts, agent_id, seq",
        )
        .bind(type_name)
        .bind(nanos(from)?)
        .bind(nanos(to)?)
        .bind(agent.unwrap_or(""))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let agent_id: String = sqlx::Row::try_get(row, "agent_id")?;
                event_from_row(&agent_id, row)
            })
            .collect()
    }
}
