//! Evaluation runs and their per-instance results (`paddock_core::eval`,
//! `paddock eval run`): a run's row (its name, owner, spec, status and
//! heartbeat) and one result per instance, upserted as instances finish
//! (a rerun that redoes an instance replaces its result). The spec and the
//! results are stored as JSON: their shapes are the protocol's
//! ([`EvalSpec`], [`InstanceResult`]).

use super::{Store, StoreError, is_unique_violation, nanos};
use chrono::{DateTime, Utc};
use paddock_protocol::eval::{EvalRunStatus, EvalSpec, InstanceResult};
use sqlx::Row;
use sqlx::any::AnyRow;

/// A run's row.
#[derive(Clone, Debug, PartialEq)]
pub struct EvalRunRecord {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The user who ran it.
    pub owner: String,
    /// What it was asked to do.
    pub spec: EvalSpec,
    /// Its status as its process last set it (a `running` run whose
    /// heartbeat stopped is still `running` here: the views call it
    /// interrupted).
    pub status: EvalRunStatus,
    /// When it started.
    pub created_at: DateTime<Utc>,
    /// Its last heartbeat, result or status change.
    pub updated_at: DateTime<Utc>,
    /// When it finished (status `finished`).
    pub finished_at: Option<DateTime<Utc>>,
}

/// A run to create.
#[derive(Clone, Debug, PartialEq)]
pub struct NewEvalRun {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The user who runs it.
    pub owner: String,
    /// What it is asked to do.
    pub spec: EvalSpec,
}

/// The stored name of a status.
fn status_str(s: EvalRunStatus) -> &'static str {
    match s {
        EvalRunStatus::Running => "running",
        EvalRunStatus::Interrupted => "interrupted",
        EvalRunStatus::BudgetSpent => "budget_spent",
        EvalRunStatus::Finished => "finished",
    }
}

fn parse_status(s: &str) -> Option<EvalRunStatus> {
    Some(match s {
        "running" => EvalRunStatus::Running,
        "interrupted" => EvalRunStatus::Interrupted,
        "budget_spent" => EvalRunStatus::BudgetSpent,
        "finished" => EvalRunStatus::Finished,
        _ => return None,
    })
}

const RUN_COLUMNS: &str = "id, name, owner, spec, status, created_at, updated_at, finished_at";

fn run_from_row(r: &AnyRow) -> Result<EvalRunRecord, StoreError> {
    let id: String = r.try_get("id")?;
    let corrupt = |reason: String| StoreError::CorruptRecord {
        what: format!("eval run {id}"),
        reason,
    };
    let status: String = r.try_get("status")?;
    let status =
        parse_status(&status).ok_or_else(|| corrupt(format!("unknown status `{status}`")))?;
    let spec: String = r.try_get("spec")?;
    let spec = serde_json::from_str(&spec).map_err(|e| corrupt(format!("spec: {e}")))?;
    Ok(EvalRunRecord {
        name: r.try_get("name")?,
        owner: r.try_get("owner")?,
        spec,
        status,
        created_at: DateTime::from_timestamp_nanos(r.try_get::<i64, _>("created_at")?),
        updated_at: DateTime::from_timestamp_nanos(r.try_get::<i64, _>("updated_at")?),
        finished_at: r
            .try_get::<Option<i64>, _>("finished_at")?
            .map(DateTime::from_timestamp_nanos),
        id,
    })
}

impl Store {
    /// Stores a new run, `running`; returns it as stored. An existing id
    /// is a [`StoreError::Conflict`].
    pub async fn create_eval_run(&self, run: &NewEvalRun) -> Result<EvalRunRecord, StoreError> {
        let now = Utc::now();
        let at = nanos(now)?;
        let spec = serde_json::to_string(&run.spec)
            .map_err(|e| StoreError::Invalid(format!("eval spec: {e}")))?;
        let mut w = self.begin_write().await?;
        let done = sqlx::query(
            "INSERT INTO eval_runs (id, name, owner, spec, status, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6)",
        )
        .bind(&run.id)
        .bind(&run.name)
        .bind(&run.owner)
        .bind(spec)
        .bind(status_str(EvalRunStatus::Running))
        .bind(at)
        .execute(&mut *w.tx)
        .await
        .map(|_| ())
        .map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::Conflict(format!("eval run {}", run.id))
            } else {
                e.into()
            }
        });
        w.finish(done).await?;
        Ok(EvalRunRecord {
            id: run.id.clone(),
            name: run.name.clone(),
            owner: run.owner.clone(),
            spec: run.spec.clone(),
            status: EvalRunStatus::Running,
            created_at: DateTime::from_timestamp_nanos(at),
            updated_at: DateTime::from_timestamp_nanos(at),
            finished_at: None,
        })
    }

    /// The run with this id, if any.
    pub async fn get_eval_run(&self, id: &str) -> Result<Option<EvalRunRecord>, StoreError> {
        let sql = format!("SELECT {RUN_COLUMNS} FROM eval_runs WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(run_from_row).transpose()
    }

    /// Every run, newest first.
    pub async fn list_eval_runs(&self) -> Result<Vec<EvalRunRecord>, StoreError> {
        let sql = format!("SELECT {RUN_COLUMNS} FROM eval_runs ORDER BY created_at DESC, id");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(run_from_row).collect()
    }

    /// Stores an instance's result, replacing any it had in this run, and
    /// counts as the run's heartbeat. Refused for an unknown run
    /// ([`StoreError::Invalid`]).
    pub async fn put_eval_result(
        &self,
        run_id: &str,
        result: &InstanceResult,
    ) -> Result<(), StoreError> {
        let at = nanos(Utc::now())?;
        let text = serde_json::to_string(result)
            .map_err(|e| StoreError::Invalid(format!("eval result: {e}")))?;
        let mut w = self.begin_write().await?;
        let done = async {
            let touched = sqlx::query("UPDATE eval_runs SET updated_at = $1 WHERE id = $2")
                .bind(at)
                .bind(run_id)
                .execute(&mut *w.tx)
                .await?;
            if touched.rows_affected() != 1 {
                return Err(StoreError::Invalid(format!("unknown eval run {run_id}")));
            }
            sqlx::query(
                "INSERT INTO eval_results (run_id, instance_id, result, updated_at) \
                 VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (run_id, instance_id) DO UPDATE SET result = excluded.result, \
                 updated_at = excluded.updated_at",
            )
            .bind(run_id)
            .bind(&result.instance_id)
            .bind(text)
            .bind(at)
            .execute(&mut *w.tx)
            .await?;
            Ok(())
        }
        .await;
        w.finish(done).await
    }

    /// The run's results, by instance id (none for an unknown run).
    pub async fn eval_results(&self, run_id: &str) -> Result<Vec<InstanceResult>, StoreError> {
        let rows = sqlx::query(
            "SELECT instance_id, result FROM eval_results WHERE run_id = $1 ORDER BY instance_id",
        )
        .bind(run_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let instance: String = r.try_get("instance_id")?;
                let text: String = r.try_get("result")?;
                serde_json::from_str(&text).map_err(|e| StoreError::CorruptRecord {
                    what: format!("eval run {run_id} result {instance}"),
                    reason: e.to_string(),
                })
            })
            .collect()
    }

    /// Sets the run's status (and its heartbeat): `finished` records when
    /// it finished, any other status clears that (a rerun continues it).
    /// Refused for an unknown run ([`StoreError::Invalid`]).
    pub async fn set_eval_run_status(
        &self,
        id: &str,
        status: EvalRunStatus,
    ) -> Result<(), StoreError> {
        let at = nanos(Utc::now())?;
        let finished = status == EvalRunStatus::Finished;
        let mut w = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE eval_runs SET status = $1, updated_at = $2, \
             finished_at = CASE WHEN $3 = 1 THEN $2 ELSE NULL END WHERE id = $4",
        )
        .bind(status_str(status))
        .bind(at)
        .bind(i64::from(finished))
        .bind(id)
        .execute(&mut *w.tx)
        .await
        .map_err(StoreError::from)
        .and_then(|d| {
            if d.rows_affected() == 1 {
                Ok(())
            } else {
                Err(StoreError::Invalid(format!("unknown eval run {id}")))
            }
        });
        w.finish(done).await
    }

    /// The run's heartbeat: its `updated_at` is now. Refused for an
    /// unknown run ([`StoreError::Invalid`]).
    pub async fn touch_eval_run(&self, id: &str) -> Result<(), StoreError> {
        let at = nanos(Utc::now())?;
        let mut w = self.begin_write().await?;
        let done = sqlx::query("UPDATE eval_runs SET updated_at = $1 WHERE id = $2")
            .bind(at)
            .bind(id)
            .execute(&mut *w.tx)
            .await
            .map_err(StoreError::from)
            .and_then(|d| {
                if d.rows_affected() == 1 {
                    Ok(())
                } else {
                    Err(StoreError::Invalid(format!("unknown eval run {id}")))
                }
            });
        w.finish(done).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::{on_postgres, on_sqlite};
    use paddock_protocol::eval::{Evaluation, InstanceStatus};

    fn spec() -> EvalSpec {
        EvalSpec {
            tasks_file: "tasks.jsonl".into(),
            instances: 2,
            template: "coder".into(),
            model: Some("scripted/m".into()),
            router: None,
            model_name: "scripted/m".into(),
            workers: 2,
            attempts: 1,
            max_steps: 250,
            max_cost_per_instance_usd: 3.0,
            max_wall_time_secs: 1800,
            max_cost_usd: None,
            evaluation: Evaluation::Local,
            repos_dir: None,
            out_dir: "/tmp/out".into(),
        }
    }

    fn result(id: &str, status: InstanceStatus, cost: f64) -> InstanceResult {
        InstanceResult {
            instance_id: id.into(),
            status,
            error_kind: None,
            limit: None,
            message: None,
            evaluation: Evaluation::Local,
            kept_attempt: Some(1),
            attempts: vec![],
            input_tokens: 10,
            output_tokens: 5,
            cost_usd: cost,
            turns: 2,
            wall_ms: 100,
            patch_bytes: 42,
            finished_at: DateTime::from_timestamp_nanos(1_700_000_000_000_000_000),
        }
    }

    async fn runs_and_results(url: String) {
        let store = Store::open(&url).await.unwrap();
        let new = NewEvalRun {
            id: "e1".into(),
            name: "coder-e1".into(),
            owner: "local".into(),
            spec: spec(),
        };
        let created = store.create_eval_run(&new).await.unwrap();
        assert_eq!(created.status, EvalRunStatus::Running);
        assert!(matches!(
            store.create_eval_run(&new).await,
            Err(StoreError::Conflict(_))
        ));
        let got = store.get_eval_run("e1").await.unwrap().unwrap();
        assert_eq!(got, created);
        assert_eq!(store.get_eval_run("nope").await.unwrap(), None);

        store
            .put_eval_result("e1", &result("b", InstanceStatus::Unresolved, 0.5))
            .await
            .unwrap();
        store
            .put_eval_result("e1", &result("a", InstanceStatus::Unresolved, 0.25))
            .await
            .unwrap();
        // An upsert replaces.
        store
            .put_eval_result("e1", &result("a", InstanceStatus::Resolved, 0.75))
            .await
            .unwrap();
        let results = store.eval_results("e1").await.unwrap();
        assert_eq!(
            results,
            vec![
                result("a", InstanceStatus::Resolved, 0.75),
                result("b", InstanceStatus::Unresolved, 0.5)
            ]
        );
        assert!(matches!(
            store
                .put_eval_result("nope", &result("a", InstanceStatus::Resolved, 0.0))
                .await,
            Err(StoreError::Invalid(_))
        ));
        assert!(store.eval_results("nope").await.unwrap().is_empty());

        let before = store.get_eval_run("e1").await.unwrap().unwrap().updated_at;
        store.touch_eval_run("e1").await.unwrap();
        let after = store.get_eval_run("e1").await.unwrap().unwrap();
        assert!(after.updated_at >= before);
        assert!(store.touch_eval_run("nope").await.is_err());

        store
            .set_eval_run_status("e1", EvalRunStatus::Finished)
            .await
            .unwrap();
        let done = store.get_eval_run("e1").await.unwrap().unwrap();
        assert_eq!(done.status, EvalRunStatus::Finished);
        assert!(done.finished_at.is_some());
        store
            .set_eval_run_status("e1", EvalRunStatus::Running)
            .await
            .unwrap();
        let again = store.get_eval_run("e1").await.unwrap().unwrap();
        assert_eq!(again.status, EvalRunStatus::Running);
        assert_eq!(again.finished_at, None);
        assert!(matches!(
            store
                .set_eval_run_status("nope", EvalRunStatus::Finished)
                .await,
            Err(StoreError::Invalid(_))
        ));

        let second = NewEvalRun {
            id: "e2".into(),
            ..new
        };
        store.create_eval_run(&second).await.unwrap();
        let ids: Vec<String> = store
            .list_eval_runs()
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(ids, ["e2", "e1"]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn eval_runs_and_results_on_sqlite() {
        on_sqlite(runs_and_results).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn eval_runs_and_results_on_postgres() {
        on_postgres(runs_and_results).await;
    }
}
