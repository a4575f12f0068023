//! Environments added through the API (`/api/environments`): a name and
//! the definition as JSON; the core checks the definition.

use super::{Store, StoreError, nanos};
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;

/// An environment added through the API.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredEnvironment {
    /// Its name.
    pub name: String,
    /// Its definition (JSON).
    pub config: serde_json::Value,
    /// When it was added.
    pub created_at: DateTime<Utc>,
    /// When it was last replaced.
    pub updated_at: DateTime<Utc>,
}

fn from_row(r: &AnyRow) -> Result<StoredEnvironment, StoreError> {
    let name: String = r.try_get("name")?;
    let text: String = r.try_get("config")?;
    let config = serde_json::from_str(&text).map_err(|e| StoreError::CorruptRecord {
        what: format!("environment {name}"),
        reason: e.to_string(),
    })?;
    Ok(StoredEnvironment {
        name,
        config,
        created_at: DateTime::from_timestamp_nanos(r.try_get::<i64, _>("created_at")?),
        updated_at: DateTime::from_timestamp_nanos(r.try_get::<i64, _>("updated_at")?),
    })
}

impl Store {
    /// The environments added through the API, oldest first.
    pub async fn list_environments(&self) -> Result<Vec<StoredEnvironment>, StoreError> {
        let rows = sqlx::query(
            "SELECT name, config, created_at, updated_at FROM environments \
             ORDER BY created_at, name",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// Adds an environment; an existing name is a [`StoreError::Conflict`].
    pub async fn create_environment(
        &self,
        name: &str,
        config: &serde_json::Value,
    ) -> Result<StoredEnvironment, StoreError> {
        let now = Utc::now();
        let at = nanos(now)?;
        let mut w = self.begin_write().await?;
        let done = async {
            let inserted = sqlx::query(
                "INSERT INTO environments (name, config, created_at, updated_at) \
                 VALUES ($1, $2, $3, $3) ON CONFLICT (name) DO NOTHING",
            )
            .bind(name)
            .bind(config.to_string())
            .bind(at)
            .execute(&mut *w.tx)
            .await?;
            if inserted.rows_affected() == 0 {
                return Err(StoreError::Conflict(format!("environment {name}")));
            }
            Ok(StoredEnvironment {
                name: name.to_string(),
                config: config.clone(),
                created_at: now,
                updated_at: now,
            })
        }
        .await;
        w.finish(done).await
    }

    /// Replaces an environment's definition; None when there is none of
    /// that name.
    pub async fn update_environment(
        &self,
        name: &str,
        config: &serde_json::Value,
    ) -> Result<Option<StoredEnvironment>, StoreError> {
        let now = Utc::now();
        let at = nanos(now)?;
        let mut w = self.begin_write().await?;
        let done = async {
            let row = sqlx::query(
                "UPDATE environments SET config = $2, updated_at = $3 WHERE name = $1 \
                 RETURNING created_at",
            )
            .bind(name)
            .bind(config.to_string())
            .bind(at)
            .fetch_optional(&mut *w.tx)
            .await?;
            let Some(row) = row else {
                return Ok(None);
            };
            let created: i64 = row.try_get("created_at")?;
            Ok(Some(StoredEnvironment {
                name: name.to_string(),
                config: config.clone(),
                created_at: DateTime::from_timestamp_nanos(created),
                updated_at: now,
            }))
        }
        .await;
        w.finish(done).await
    }

    /// Removes an environment. False if there was none of that name.
    pub async fn delete_environment(&self, name: &str) -> Result<bool, StoreError> {
        let mut w = self.begin_write().await?;
        let done = sqlx::query("DELETE FROM environments WHERE name = $1")
            .bind(name)
            .execute(&mut *w.tx)
            .await
            .map(|r| r.rows_affected() > 0)
            .map_err(StoreError::from);
        w.finish(done).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn environments_are_added_replaced_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(&dir.path().join("p.db")).await.unwrap();
        let a = serde_json::json!({"image": "i"});
        let b = serde_json::json!({"image": "j"});
        store.create_environment("node", &a).await.unwrap();
        assert!(matches!(
            store.create_environment("node", &a).await,
            Err(StoreError::Conflict(_))
        ));
        let up = store.update_environment("node", &b).await.unwrap().unwrap();
        assert_eq!(up.config, b);
        assert_eq!(store.update_environment("nope", &b).await.unwrap(), None);
        let all = store.list_environments().await.unwrap();
        assert_eq!((all.len(), &all[0].config), (1, &b));
        assert!(store.delete_environment("node").await.unwrap());
        assert!(!store.delete_environment("node").await.unwrap());
        assert!(store.list_environments().await.unwrap().is_empty());
    }
}
