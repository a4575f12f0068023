//! The policy's tables: rules added through the API, approvals (a pending
//! one survives restarts; a decision is applied once, whoever sends it
//! first), and the append-only audit log.

use super::{Prepared, Store, StoreError, append_in, nanos};
use chrono::{DateTime, Utc};
use paddock_protocol::events::Event;
use paddock_protocol::policy::{ApprovalStatus, RuleSpec, RuleView};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::any::AnyRow;

/// An approval to open, with its `approval.requested` event.
#[derive(Clone, Debug, PartialEq)]
pub struct NewApproval {
    /// The model's call id.
    pub call_id: String,
    /// The tool.
    pub tool: String,
    /// What the human is shown (the `approval.requested` data).
    pub request: serde_json::Value,
    /// When it is refused if nobody decides.
    pub expires_at: Option<DateTime<Utc>>,
}

/// A stored approval.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ApprovalRecord {
    /// The agent.
    pub agent_id: String,
    /// The seq of its `approval.requested` event.
    pub seq: u64,
    /// The model's call id.
    pub call_id: String,
    /// The tool.
    pub tool: String,
    /// What the human is shown: arguments, risk, reasons, diff, and the
    /// rules "remember" would add.
    #[schema(value_type = Object)]
    pub request: serde_json::Value,
    /// Where it stands.
    pub status: ApprovalStatus,
    /// When it was asked.
    pub requested_at: DateTime<Utc>,
    /// When it is refused if nobody decides.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was decided.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<DateTime<Utc>>,
    /// Who decided.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    /// The decider's reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What was remembered (`once`, `agent`, `always`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remember: Option<String>,
}

/// An audit entry to record.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NewAudit {
    /// The agent (empty for host-wide entries such as global rules).
    pub agent_id: String,
    /// The call, if any.
    pub call_id: Option<String>,
    /// The tool, if any.
    pub tool: Option<String>,
    /// `decision` (the pipeline's), `approval` (a human's or a timeout's),
    /// `rule` (a rule added or removed).
    pub kind: String,
    /// What was decided (`allow`, `ask`, `deny`, `approved`, `denied`,
    /// `expired`, `added`, `removed`…).
    pub action: String,
    /// Who: `policy`, `user (REST)`, `admin (WebSocket)`, `timeout`…
    pub actor: String,
    /// Why, for humans.
    pub reason: String,
    /// Everything else (the decision with its verdicts, the rule…).
    pub detail: serde_json::Value,
    /// The user who acted (none for the policy, timeouts, the host).
    pub user_id: Option<String>,
    /// The personal access token they acted with, if any.
    pub token_id: Option<String>,
}

/// A recorded audit entry.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    /// Its position in the log (increasing).
    pub id: i64,
    /// When.
    pub ts: DateTime<Utc>,
    /// The agent (empty for host-wide entries).
    pub agent_id: String,
    /// The call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call_id: Option<String>,
    /// The tool.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// `decision`, `approval` or `rule`.
    pub kind: String,
    /// What was decided.
    pub action: String,
    /// Who.
    pub actor: String,
    /// Why.
    pub reason: String,
    /// The details.
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    /// The id of the user who acted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// The id of the personal access token they acted with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_id: Option<String>,
}

/// Filters of the audit log.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AuditQuery {
    /// Only this agent's entries.
    pub agent: Option<String>,
    /// Only entries of this user's acts.
    pub user: Option<String>,
    /// Only entries at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only entries with an id above this (paging).
    pub after_id: Option<i64>,
    /// At most this many.
    pub limit: u32,
}

/// The approvals' columns, for `concat!` (static SQL only).
macro_rules! approval_columns {
    () => {
        "agent_id, seq, call_id, tool, request, status, requested_at, expires_at, \
         decided_at, decided_by, reason, remember"
    };
}

fn corrupt(what: String, reason: String) -> StoreError {
    StoreError::CorruptRecord { what, reason }
}

fn approval_from_row(row: &AnyRow) -> Result<ApprovalRecord, StoreError> {
    let agent_id: String = row.try_get("agent_id")?;
    let seq: i64 = row.try_get("seq")?;
    let what = || format!("approval {agent_id}/{seq}");
    let request: String = row.try_get("request")?;
    let status: String = row.try_get("status")?;
    let time = |col: &str| -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(row
            .try_get::<Option<i64>, _>(col)?
            .map(DateTime::from_timestamp_nanos))
    };
    Ok(ApprovalRecord {
        seq: u64::try_from(seq).map_err(|_| corrupt(what(), format!("negative seq {seq}")))?,
        call_id: row.try_get("call_id")?,
        tool: row.try_get("tool")?,
        request: serde_json::from_str(&request)
            .map_err(|e| corrupt(what(), format!("request is not JSON: {e}")))?,
        status: ApprovalStatus::parse(&status)
            .ok_or_else(|| corrupt(what(), format!("unknown status `{status}`")))?,
        requested_at: DateTime::from_timestamp_nanos(row.try_get("requested_at")?),
        expires_at: time("expires_at")?,
        decided_at: time("decided_at")?,
        decided_by: row.try_get("decided_by")?,
        reason: row.try_get("reason")?,
        remember: row.try_get("remember")?,
        agent_id,
    })
}

fn rule_from_row(row: &AnyRow) -> Result<RuleView, StoreError> {
    let id: String = row.try_get("id")?;
    let scope: String = row.try_get("scope")?;
    let examples: String = row.try_get("examples")?;
    let bad = |reason: String| corrupt(format!("policy rule {id}"), reason);
    #[derive(Deserialize)]
    struct Examples {
        #[serde(default, rename = "match")]
        matches: Vec<serde_json::Value>,
        #[serde(default, rename = "not_match")]
        not_matches: Vec<serde_json::Value>,
    }
    let examples: Examples =
        serde_json::from_str(&examples).map_err(|e| bad(format!("examples: {e}")))?;
    Ok(RuleView {
        spec: RuleSpec {
            rule: row.try_get("rule")?,
            scope: paddock_protocol::policy::Scope::parse(&scope).map_err(bad)?,
            matches: examples.matches,
            not_matches: examples.not_matches,
        },
        source: row.try_get("source")?,
        created_by: Some(row.try_get("created_by")?),
        created_at: Some(DateTime::from_timestamp_nanos(row.try_get("created_at")?)),
        id,
    })
}

impl Store {
    // ---- rules ----

    /// Stores a rule (already checked) after the others; returns it.
    pub async fn add_rule(
        &self,
        spec: &RuleSpec,
        source: &str,
        created_by: &str,
    ) -> Result<RuleView, StoreError> {
        let id = uuid::Uuid::new_v4().to_string();
        let now = Utc::now();
        let examples = serde_json::json!({"match": spec.matches, "not_match": spec.not_matches});
        let mut w = self.begin_write().await?;
        let inserted = sqlx::query(
            "INSERT INTO policy_rules (id, position, scope, rule, examples, source, created_by, created_at) \
             SELECT $1, COALESCE(MAX(position), 0) + 1, $2, $3, $4, $5, $6, $7 FROM policy_rules",
        )
        .bind(&id)
        .bind(spec.scope.to_string())
        .bind(&spec.rule)
        .bind(examples.to_string())
        .bind(source)
        .bind(created_by)
        .bind(nanos(now)?)
        .execute(&mut *w.tx)
        .await
        .map(|_| ())
        .map_err(StoreError::from);
        w.finish(inserted).await?;
        Ok(RuleView {
            id,
            spec: spec.clone(),
            source: source.to_string(),
            created_by: Some(created_by.to_string()),
            created_at: Some(now),
        })
    }

    /// Stored rules, in the order they were added.
    pub async fn list_rules(&self) -> Result<Vec<RuleView>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, scope, rule, examples, source, created_by, created_at \
             FROM policy_rules ORDER BY position",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(rule_from_row).collect()
    }

    /// Removes a stored rule; false if there was none.
    pub async fn remove_rule(&self, id: &str) -> Result<bool, StoreError> {
        let mut w = self.begin_write().await?;
        let done = sqlx::query("DELETE FROM policy_rules WHERE id = $1")
            .bind(id)
            .execute(&mut *w.tx)
            .await
            .map_err(StoreError::from);
        let done = w.finish(done).await?;
        Ok(done.rows_affected() > 0)
    }

    // ---- approvals ----

    /// Stores an `approval.requested` event and its pending approval in
    /// one transaction (the approval is keyed by the event's seq).
    pub async fn request_approval(
        &self,
        event: &Event,
        approval: &NewApproval,
    ) -> Result<(), StoreError> {
        self.request_approval_under(event, approval, None).await
    }

    /// [`Store::request_approval`] under a lease (see
    /// [`Store::append_under`]).
    pub async fn request_approval_under(
        &self,
        event: &Event,
        approval: &NewApproval,
        fence: Option<&crate::Fence>,
    ) -> Result<(), StoreError> {
        let prepared = Prepared::new(event)?.under(fence, self.backend)?;
        let expires = approval.expires_at.map(nanos).transpose()?;
        let mut w = self.begin_write().await?;
        let result = async {
            append_in(&mut w.tx, self.backend, &prepared).await?;
            sqlx::query(
                "INSERT INTO approvals (agent_id, seq, call_id, tool, request, status, requested_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7)",
            )
            .bind(&event.agent_id)
            .bind(prepared.seq as i64)
            .bind(&approval.call_id)
            .bind(&approval.tool)
            .bind(approval.request.to_string())
            .bind(prepared.ts)
            .bind(expires)
            .execute(&mut *w.tx)
            .await?;
            Ok(())
        }
        .await;
        w.finish(result).await
    }

    /// Decides the agent's pending approval of `call_id`, if there is one:
    /// only one caller wins (the update is conditional on `pending`).
    /// Returns the decided approval, or `None` when none was pending.
    #[allow(clippy::too_many_arguments)]
    pub async fn decide_approval(
        &self,
        agent_id: &str,
        call_id: &str,
        status: ApprovalStatus,
        by: &str,
        reason: Option<&str>,
        remember: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<Option<ApprovalRecord>, StoreError> {
        if status == ApprovalStatus::Pending {
            return Err(StoreError::Invalid("a decision cannot be `pending`".into()));
        }
        let mut w = self.begin_write().await?;
        let row = sqlx::query(concat!(
            "UPDATE approvals SET status = $1, decided_at = $2, decided_by = $3, reason = $4, \
             remember = $5 WHERE agent_id = $6 AND call_id = $7 AND status = 'pending' \
             RETURNING ",
            approval_columns!()
        ))
        .bind(status.as_str())
        .bind(nanos(at)?)
        .bind(by)
        .bind(reason)
        .bind(remember)
        .bind(agent_id)
        .bind(call_id)
        .fetch_optional(&mut *w.tx)
        .await
        .map_err(StoreError::from);
        let row = w.finish(row).await?;
        row.as_ref().map(approval_from_row).transpose()
    }

    /// The approval asked by the agent's event `seq`.
    pub async fn approval(
        &self,
        agent_id: &str,
        seq: u64,
    ) -> Result<Option<ApprovalRecord>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            approval_columns!(),
            " FROM approvals WHERE agent_id = $1 AND seq = $2"
        ))
        .bind(agent_id)
        .bind(i64::try_from(seq).unwrap_or(i64::MAX))
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(approval_from_row).transpose()
    }

    /// The agent's latest approval of `call_id`.
    pub async fn latest_approval(
        &self,
        agent_id: &str,
        call_id: &str,
    ) -> Result<Option<ApprovalRecord>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            approval_columns!(),
            " FROM approvals WHERE agent_id = $1 AND call_id = $2 ORDER BY seq DESC LIMIT 1"
        ))
        .bind(agent_id)
        .bind(call_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(approval_from_row).transpose()
    }

    /// Pending approvals (of one agent, or all), oldest first.
    pub async fn pending_approvals(
        &self,
        agent_id: Option<&str>,
    ) -> Result<Vec<ApprovalRecord>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            approval_columns!(),
            " FROM approvals WHERE status = 'pending' AND ($1 IS NULL OR agent_id = $1) \
             ORDER BY requested_at, agent_id, seq"
        ))
        .bind(agent_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(approval_from_row).collect()
    }

    // ---- audit ----

    /// Appends an audit entry.
    pub async fn audit(&self, entry: &NewAudit) -> Result<(), StoreError> {
        let mut w = self.begin_write().await?;
        let done = sqlx::query(
            "INSERT INTO audit (ts, agent_id, call_id, tool, kind, action, actor, reason, detail, \
             user_id, token_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(nanos(Utc::now())?)
        .bind(&entry.agent_id)
        .bind(&entry.call_id)
        .bind(&entry.tool)
        .bind(&entry.kind)
        .bind(&entry.action)
        .bind(&entry.actor)
        .bind(&entry.reason)
        .bind(entry.detail.to_string())
        .bind(&entry.user_id)
        .bind(&entry.token_id)
        .execute(&mut *w.tx)
        .await
        .map(|_| ())
        .map_err(StoreError::from);
        w.finish(done).await
    }

    /// Audit entries matching `query`, oldest first.
    pub async fn audit_log(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>, StoreError> {
        let since = query.since.map(nanos).transpose()?;
        let rows = sqlx::query(
            "SELECT id, ts, agent_id, call_id, tool, kind, action, actor, reason, detail, user_id, \
             token_id FROM audit \
             WHERE ($1 IS NULL OR agent_id = $1) AND ($2 IS NULL OR ts >= $2) \
             AND ($3 IS NULL OR id > $3) AND ($5 IS NULL OR user_id = $5) ORDER BY id LIMIT $4",
        )
        .bind(query.agent.as_deref())
        .bind(since)
        .bind(query.after_id)
        .bind(i64::from(query.limit))
        .bind(query.user.as_deref())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let id: i64 = row.try_get("id")?;
                let detail: String = row.try_get("detail")?;
                Ok(AuditEntry {
                    ts: DateTime::from_timestamp_nanos(row.try_get("ts")?),
                    agent_id: row.try_get("agent_id")?,
                    call_id: row.try_get("call_id")?,
                    tool: row.try_get("tool")?,
                    kind: row.try_get("kind")?,
                    action: row.try_get("action")?,
                    actor: row.try_get("actor")?,
                    reason: row.try_get("reason")?,
                    user_id: row.try_get("user_id")?,
                    token_id: row.try_get("token_id")?,
                    detail: serde_json::from_str(&detail).map_err(|e| {
                        corrupt(
                            format!("audit entry {id}"),
                            format!("detail is not JSON: {e}"),
                        )
                    })?,
                    id,
                })
            })
            .collect()
    }
}
