//! Workflow runs and their event logs (`paddock_core::workflow`): a run's
//! row (its status, reason and last seq, kept by its appends) and its
//! gapless log. Appends are atomic and ordered per run, like an agent's: an
//! append moves the run's `last_seq` from `seq - 1` to `seq` and inserts
//! the event in one transaction.
//!
//! With several hosts, an unfinished run has a driver (the host running
//! it) and a generation raised by each claim: the driver's appends are
//! fenced by both ([`Store::append_workflow_event_under`]), so a host that
//! lost a run writes nothing to it.

use super::{Fence, Store, StoreError, count, is_unique_violation, nanos};
use chrono::{DateTime, Utc};
use paddock_protocol::workflow::{WorkflowEvent, WorkflowEventBody, WorkflowRunStatus};
use sqlx::Row;
use sqlx::any::AnyRow;
use std::collections::BTreeMap;

/// A run's row.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkflowRunRecord {
    /// Its id.
    pub id: String,
    /// Its name (`<workflow>-<first 8 of its id>`).
    pub name: String,
    /// The workflow's name.
    pub workflow: String,
    /// The user it belongs to.
    pub owner: String,
    /// Its status, as its last status-changing event left it.
    pub status: WorkflowRunStatus,
    /// Why it failed or was cancelled.
    pub reason: Option<String>,
    /// Its inputs.
    pub inputs: BTreeMap<String, String>,
    /// When it started.
    pub created_at: DateTime<Utc>,
    /// When its last event was stored.
    pub updated_at: DateTime<Utc>,
    /// The seq of its last event.
    pub last_seq: u64,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// The host that runs it (several hosts; None: no host, or one host).
    pub driver: Option<String>,
    /// Raised by each claim of the run.
    pub driver_gen: i64,
}

/// A run to create.
#[derive(Clone, Debug, PartialEq)]
pub struct NewWorkflowRun {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The workflow's name.
    pub workflow: String,
    /// The user it belongs to.
    pub owner: String,
    /// Its inputs.
    pub inputs: BTreeMap<String, String>,
    /// The host that runs it (several hosts), generation 0.
    pub driver: Option<String>,
}

/// The status a run has after `body` (None: unchanged), with the reason.
fn status_after(body: &WorkflowEventBody) -> Option<(WorkflowRunStatus, Option<&str>)> {
    match body {
        WorkflowEventBody::WorkflowStarted { .. }
        | WorkflowEventBody::StepStarted { .. }
        | WorkflowEventBody::GateDecided { .. } => Some((WorkflowRunStatus::Running, None)),
        WorkflowEventBody::GateRequested { .. } => Some((WorkflowRunStatus::WaitingGate, None)),
        WorkflowEventBody::WorkflowFinished { status, reason } => {
            Some((*status, reason.as_deref()))
        }
        _ => None,
    }
}

const RUN_COLUMNS: &str = "id, name, workflow, owner, status, reason, inputs, created_at, \
     updated_at, last_seq, finished_at, driver, driver_gen";

fn run_from_row(r: &AnyRow) -> Result<WorkflowRunRecord, StoreError> {
    let id: String = r.try_get("id")?;
    let corrupt = |reason: String| StoreError::CorruptRecord {
        what: format!("workflow run {id}"),
        reason,
    };
    let status: String = r.try_get("status")?;
    let status = WorkflowRunStatus::parse(&status)
        .ok_or_else(|| corrupt(format!("unknown status `{status}`")))?;
    let inputs: String = r.try_get("inputs")?;
    let inputs = serde_json::from_str(&inputs).map_err(|e| corrupt(format!("inputs: {e}")))?;
    let last_seq: i64 = r.try_get("last_seq")?;
    Ok(WorkflowRunRecord {
        name: r.try_get("name")?,
        workflow: r.try_get("workflow")?,
        owner: r.try_get("owner")?,
        status,
        reason: r.try_get("reason")?,
        inputs,
        created_at: DateTime::from_timestamp_nanos(r.try_get::<i64, _>("created_at")?),
        updated_at: DateTime::from_timestamp_nanos(r.try_get::<i64, _>("updated_at")?),
        last_seq: u64::try_from(last_seq)
            .map_err(|_| corrupt(format!("negative last_seq {last_seq}")))?,
        finished_at: r
            .try_get::<Option<i64>, _>("finished_at")?
            .map(DateTime::from_timestamp_nanos),
        driver: r.try_get("driver")?,
        driver_gen: r.try_get("driver_gen")?,
        id,
    })
}

fn event_from_row(run_id: &str, row: &AnyRow) -> Result<WorkflowEvent, StoreError> {
    let seq: i64 = row.try_get("seq")?;
    let corrupt = |reason: String| StoreError::CorruptRecord {
        what: format!("workflow run {run_id} event {seq}"),
        reason,
    };
    let seq = u64::try_from(seq).map_err(|_| corrupt(format!("negative seq {seq}")))?;
    let ts: i64 = row.try_get("ts")?;
    let type_name: String = row.try_get("type")?;
    let data: String = row.try_get("data")?;
    let data: serde_json::Value =
        serde_json::from_str(&data).map_err(|e| corrupt(format!("data is not JSON: {e}")))?;
    let body: WorkflowEventBody =
        serde_json::from_value(serde_json::json!({"type": type_name, "data": data}))
            .map_err(|e| corrupt(format!("not a valid {type_name} event: {e}")))?;
    Ok(WorkflowEvent {
        seq,
        run_id: run_id.to_string(),
        ts: DateTime::from_timestamp_nanos(ts),
        body,
    })
}

/// The `data` of an event's body, as stored.
fn data_of(body: &WorkflowEventBody) -> Result<String, StoreError> {
    let v = serde_json::to_value(body)
        .map_err(|e| StoreError::Invalid(format!("workflow event: {e}")))?;
    Ok(v.get("data")
        .cloned()
        .unwrap_or(serde_json::Value::Null)
        .to_string())
}

impl Store {
    /// Stores a new run and its first event (`workflow.started`, seq 1) in
    /// one transaction; returns the event as stored. An existing id is a
    /// [`StoreError::Conflict`].
    pub async fn create_workflow_run(
        &self,
        run: &NewWorkflowRun,
        first: WorkflowEventBody,
    ) -> Result<WorkflowEvent, StoreError> {
        if !matches!(first, WorkflowEventBody::WorkflowStarted { .. }) {
            return Err(StoreError::Invalid(format!(
                "a workflow run's first event is workflow.started, not {}",
                first.type_name()
            )));
        }
        let now = Utc::now();
        let at = nanos(now)?;
        let inputs = serde_json::to_string(&run.inputs)
            .map_err(|e| StoreError::Invalid(format!("inputs: {e}")))?;
        let data = data_of(&first)?;
        let mut w = self.begin_write().await?;
        let done = async {
            let inserted = sqlx::query(
                "INSERT INTO workflow_runs (id, name, workflow, owner, status, inputs, \
                 created_at, updated_at, last_seq, driver) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $7, 1, $8)",
            )
            .bind(&run.id)
            .bind(&run.name)
            .bind(&run.workflow)
            .bind(&run.owner)
            .bind(WorkflowRunStatus::Running.as_str())
            .bind(inputs)
            .bind(at)
            .bind(run.driver.as_deref())
            .execute(&mut *w.tx)
            .await;
            if let Err(e) = inserted {
                return Err(if is_unique_violation(&e) {
                    StoreError::Conflict(format!("workflow run {}", run.id))
                } else {
                    e.into()
                });
            }
            sqlx::query(
                "INSERT INTO workflow_events (run_id, seq, ts, type, data) \
                 VALUES ($1, 1, $2, $3, $4)",
            )
            .bind(&run.id)
            .bind(at)
            .bind(first.type_name())
            .bind(data)
            .execute(&mut *w.tx)
            .await?;
            Ok(())
        }
        .await;
        w.finish(done).await?;
        Ok(WorkflowEvent {
            seq: 1,
            run_id: run.id.clone(),
            ts: now,
            body: first,
        })
    }

    /// Appends an event to a run's log as its next seq (atomic: the run's
    /// `last_seq`, status and reason change in the same transaction);
    /// returns the event as stored. Refused for an unknown run, and after
    /// `workflow.finished` ([`StoreError::Invalid`]: a finished run's log is
    /// closed). Unfenced: what any host records for a run (a gate's
    /// decision, a cancel), and all appends with one host.
    pub async fn append_workflow_event(
        &self,
        run_id: &str,
        body: WorkflowEventBody,
    ) -> Result<WorkflowEvent, StoreError> {
        self.append_workflow_event_under(run_id, body, None).await
    }

    /// As [`Store::append_workflow_event`], by the run's driver: with a
    /// fence, the append is made only while `fence` still names the run's
    /// driver and generation (checked in the statement that moves its
    /// `last_seq`), and is [`StoreError::Fenced`] otherwise, writing
    /// nothing.
    pub async fn append_workflow_event_under(
        &self,
        run_id: &str,
        body: WorkflowEventBody,
        fence: Option<&Fence>,
    ) -> Result<WorkflowEvent, StoreError> {
        if matches!(body, WorkflowEventBody::WorkflowStarted { .. }) {
            return Err(StoreError::Invalid(
                "workflow.started is only a run's first event".into(),
            ));
        }
        let now = Utc::now();
        let at = nanos(now)?;
        let data = data_of(&body)?;
        let status = status_after(&body);
        let finished = matches!(body, WorkflowEventBody::WorkflowFinished { .. });
        let mut w = self.begin_write().await?;
        let done = async {
            // PostgreSQL: lock the row, so that concurrent appends queue
            // (SQLite has one writer anyway).
            let lock = match self.backend {
                super::Backend::Postgres => " FOR UPDATE",
                super::Backend::Sqlite => "",
            };
            let sql = format!(
                "SELECT last_seq, finished_at, driver, driver_gen FROM workflow_runs \
                 WHERE id = $1{lock}"
            );
            let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(run_id)
                .fetch_optional(&mut *w.tx)
                .await?
                .ok_or_else(|| StoreError::Invalid(format!("unknown workflow run {run_id}")))?;
            let last: i64 = row.try_get("last_seq")?;
            let ended: Option<i64> = row.try_get("finished_at")?;
            if ended.is_some() {
                return Err(StoreError::Invalid(format!(
                    "workflow run {run_id} has finished: its log takes no more events"
                )));
            }
            let driver: Option<String> = row.try_get("driver")?;
            let fenced = || StoreError::Fenced {
                agent: format!("workflow run {run_id}"),
                holder: driver.clone().unwrap_or_else(|| "no host".into()),
            };
            if let Some(f) = fence {
                let generation: i64 = row.try_get("driver_gen")?;
                if driver.as_deref() != Some(f.host.as_str()) || generation != f.generation {
                    return Err(fenced());
                }
            }
            let seq = u64::try_from(last).unwrap_or(0).saturating_add(1);
            let seq_i = count(seq)?;
            let check = if fence.is_some() {
                " AND driver = $8 AND driver_gen = $9"
            } else {
                ""
            };
            let sql = format!(
                "UPDATE workflow_runs SET last_seq = $1, updated_at = $2, \
                 status = COALESCE(CAST($3 AS TEXT), status), \
                 reason = CASE WHEN CAST($3 AS TEXT) IS NULL THEN reason ELSE CAST($4 AS TEXT) END, \
                 finished_at = CASE WHEN $5 = 1 THEN $2 ELSE finished_at END \
                 WHERE id = $6 AND last_seq = $7{check}"
            );
            let mut update = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(seq_i)
            .bind(at)
            .bind(status.map(|(s, _)| s.as_str()))
            .bind(status.and_then(|(_, r)| r))
            .bind(i64::from(finished))
            .bind(run_id)
            .bind(last);
            if let Some(f) = fence {
                update = update.bind(&f.host).bind(f.generation);
            }
            let moved = update.execute(&mut *w.tx).await?;
            if moved.rows_affected() != 1 {
                if fence.is_some() {
                    return Err(fenced());
                }
                return Err(StoreError::SeqConflict {
                    agent: format!("workflow run {run_id}"),
                    expected: seq,
                    got: seq,
                });
            }
            sqlx::query(
                "INSERT INTO workflow_events (run_id, seq, ts, type, data) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(run_id)
            .bind(seq_i)
            .bind(at)
            .bind(body.type_name())
            .bind(&data)
            .execute(&mut *w.tx)
            .await?;
            Ok(seq)
        }
        .await;
        let seq = w.finish(done).await?;
        Ok(WorkflowEvent {
            seq,
            run_id: run_id.to_string(),
            ts: now,
            body,
        })
    }

    /// Up to `limit` of the run's events with a seq above `after`, in seq
    /// order (none for an unknown run).
    pub async fn workflow_events_after(
        &self,
        run_id: &str,
        after: u64,
        limit: u32,
    ) -> Result<Vec<WorkflowEvent>, StoreError> {
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        let rows = sqlx::query(
            "SELECT seq, ts, type, data FROM workflow_events \
             WHERE run_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(run_id)
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| event_from_row(run_id, r)).collect()
    }

    /// The run with this id, if any.
    pub async fn get_workflow_run(
        &self,
        id: &str,
    ) -> Result<Option<WorkflowRunRecord>, StoreError> {
        let sql = format!("SELECT {RUN_COLUMNS} FROM workflow_runs WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(run_from_row).transpose()
    }

    /// The runs, newest first; only unfinished ones if asked.
    pub async fn list_workflow_runs(
        &self,
        unfinished_only: bool,
    ) -> Result<Vec<WorkflowRunRecord>, StoreError> {
        let filter = if unfinished_only {
            "WHERE finished_at IS NULL"
        } else {
            ""
        };
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM workflow_runs {filter} ORDER BY created_at DESC, id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(run_from_row).collect()
    }

    /// Makes `host` the run's driver, raising its generation — only while
    /// the run is unfinished and still has the driver and generation
    /// `from` says (a compare-and-set: of hosts claiming it at once, one
    /// wins). The new generation; None when the run moved on.
    pub async fn claim_workflow_run(
        &self,
        run_id: &str,
        host: &str,
        from: (Option<&str>, i64),
    ) -> Result<Option<i64>, StoreError> {
        let mut w = self.begin_write().await?;
        let done = async {
            let moved = sqlx::query(
                "UPDATE workflow_runs SET driver = $1, driver_gen = driver_gen + 1 \
                 WHERE id = $2 AND finished_at IS NULL AND driver_gen = $3 \
                 AND (driver = CAST($4 AS TEXT) OR (driver IS NULL AND CAST($4 AS TEXT) IS NULL))",
            )
            .bind(host)
            .bind(run_id)
            .bind(from.1)
            .bind(from.0)
            .execute(&mut *w.tx)
            .await?;
            Ok(if moved.rows_affected() == 1 {
                Some(from.1.saturating_add(1))
            } else {
                None
            })
        }
        .await;
        w.finish(done).await
    }

    /// Gives up driving every unfinished run `host` drives (a drain): no
    /// host drives them until another claims them, which it may at once.
    /// How many.
    pub async fn release_workflow_runs(&self, host: &str) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE workflow_runs SET driver = NULL WHERE driver = $1 AND finished_at IS NULL",
        )
        .bind(host)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// The unfinished runs `host` may claim (several hosts, PostgreSQL
    /// only): its own (it runs them again after a restart), those without
    /// a driver, and those driven by a host that is not `live` in the
    /// hosts table or whose heartbeat is older than `lease_ms` — each with
    /// its driver and generation, to claim ([`Store::claim_workflow_run`]);
    /// oldest first.
    pub async fn workflow_runs_to_drive(
        &self,
        host: &str,
        lease_ms: i64,
    ) -> Result<Vec<(String, Option<String>, i64)>, StoreError> {
        self.cluster_only()?;
        let sql = format!(
            "SELECT id, driver, driver_gen FROM workflow_runs WHERE finished_at IS NULL \
             AND (driver IS NULL OR driver = $1 OR driver NOT IN (SELECT id FROM hosts \
             WHERE state = 'live' AND heartbeat_at >= {} - $2)) ORDER BY created_at, id",
            super::cluster::NOW_MS
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(host)
            .bind(lease_ms)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("id")?,
                    r.try_get("driver")?,
                    r.try_get("driver_gen")?,
                ))
            })
            .collect()
    }
}
