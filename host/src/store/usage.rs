//! Model usage across agents: the `usage` events of a time range, read for
//! the usage and cost endpoints and for budgets.

use super::{Store, StoreError, event_from_row, nanos};
use crate::events::EventBody;
use chrono::{DateTime, Utc};

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
    /// Cost in USD.
    pub cost_usd: f64,
    /// Wall time of the call.
    pub duration_ms: u64,
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
        let rows = sqlx::query(
            "SELECT agent_id, seq, ts, type, data FROM events \
             WHERE type = 'usage' AND ts >= $1 AND ts < $2 AND ($3 = '' OR agent_id = $3) \
             ORDER BY ts, agent_id, seq",
        )
        .bind(nanos(from)?)
        .bind(nanos(to)?)
        .bind(agent.unwrap_or(""))
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let agent_id: String = sqlx::Row::try_get(row, "agent_id")?;
            let event = event_from_row(&agent_id, row)?;
            if let EventBody::Usage {
                provider,
                model,
                input_tokens,
                output_tokens,
                cached_tokens,
                cost_usd,
                duration_ms,
                ..
            } = event.body
            {
                out.push(UsageRecord {
                    agent_id,
                    ts: event.ts,
                    provider,
                    model,
                    input_tokens,
                    output_tokens,
                    cached_tokens,
                    cost_usd,
                    duration_ms,
                });
            }
        }
        Ok(out)
    }

    /// Dollars spent in `[from, now)`, by one agent or all.
    pub async fn spent_since(
        &self,
        from: DateTime<Utc>,
        agent: Option<&str>,
    ) -> Result<f64, StoreError> {
        // A second ahead: what was stored in this very instant counts.
        let to = Utc::now() + chrono::Duration::seconds(1);
        Ok(self
            .usage_between(from, to, agent)
            .await?
            .iter()
            .map(|u| u.cost_usd)
            .sum())
    }
}
