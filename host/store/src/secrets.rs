//! Sealed secrets, providers added through the API, and host-wide
//! settings. The store never sees a secret in clear: it keeps what
//! `paddock_core::secrets` sealed (a nonce and the AEAD ciphertext, both
//! base64, and the id of the master key that sealed them), so a dump of
//! the database holds no usable key.

use super::{Store, StoreError, nanos};
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;

/// A secret as stored: sealed under the master key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedSecret {
    /// Its name (also the AEAD's associated data).
    pub name: String,
    /// The nonce, base64.
    pub nonce: String,
    /// The ciphertext with its tag, base64.
    pub ciphertext: String,
    /// Which master key sealed it (a fingerprint, not the key).
    pub key_id: String,
    /// When it was last written.
    pub updated_at: DateTime<Utc>,
}

/// A provider added through the API.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredProvider {
    /// Its name.
    pub name: String,
    /// Its configuration (a `[[providers]]` entry as JSON, without any key).
    pub config: serde_json::Value,
    /// When it was added.
    pub created_at: DateTime<Utc>,
    /// When it was last replaced.
    pub updated_at: DateTime<Utc>,
}

/// What an update does to a provider's stored key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyChange {
    /// Leave it as it is.
    Keep,
    /// Remove it.
    Remove,
    /// Store this one instead.
    Set(SealedSecret),
}

fn secret_from_row(r: &AnyRow) -> Result<SealedSecret, StoreError> {
    Ok(SealedSecret {
        name: r.try_get("name")?,
        nonce: r.try_get("nonce")?,
        ciphertext: r.try_get("ciphertext")?,
        key_id: r.try_get("key_id")?,
        updated_at: DateTime::from_timestamp_nanos(r.try_get::<i64, _>("updated_at")?),
    })
}

fn provider_from_row(r: &AnyRow) -> Result<StoredProvider, StoreError> {
    let name: String = r.try_get("name")?;
    let text: String = r.try_get("config")?;
    let config = serde_json::from_str(&text).map_err(|e| StoreError::CorruptRecord {
        what: format!("provider {name}"),
        reason: e.to_string(),
    })?;
    Ok(StoredProvider {
        name,
        config,
        created_at: DateTime::from_timestamp_nanos(r.try_get::<i64, _>("created_at")?),
        updated_at: DateTime::from_timestamp_nanos(r.try_get::<i64, _>("updated_at")?),
    })
}

const UPSERT_SECRET: &str = "INSERT INTO secrets (name, nonce, ciphertext, key_id, updated_at) \
     VALUES ($1, $2, $3, $4, $5) \
     ON CONFLICT (name) DO UPDATE SET nonce = excluded.nonce, \
     ciphertext = excluded.ciphertext, key_id = excluded.key_id, \
     updated_at = excluded.updated_at";

async fn upsert_secret(conn: &mut sqlx::AnyConnection, s: &SealedSecret) -> Result<(), StoreError> {
    sqlx::query(UPSERT_SECRET)
        .bind(s.name.as_str())
        .bind(s.nonce.as_str())
        .bind(s.ciphertext.as_str())
        .bind(s.key_id.as_str())
        .bind(nanos(s.updated_at)?)
        .execute(conn)
        .await?;
    Ok(())
}

impl Store {
    // ---- secrets ----

    /// The sealed secret of this name, if any.
    pub async fn get_secret(&self, name: &str) -> Result<Option<SealedSecret>, StoreError> {
        let row = sqlx::query(
            "SELECT name, nonce, ciphertext, key_id, updated_at FROM secrets WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(secret_from_row).transpose()
    }

    /// Every sealed secret, by name.
    pub async fn list_secrets(&self) -> Result<Vec<SealedSecret>, StoreError> {
        let rows = sqlx::query(
            "SELECT name, nonce, ciphertext, key_id, updated_at FROM secrets ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(secret_from_row).collect()
    }

    /// Stores the secret, replacing one of the same name.
    pub async fn put_secret(&self, secret: &SealedSecret) -> Result<(), StoreError> {
        let mut w = self.begin_write().await?;
        let done = upsert_secret(&mut w.tx, secret).await;
        w.finish(done).await
    }

    /// Stores a secret of `owner` (a user id), replacing one of the same
    /// name. Returns whether one of that name existed already (a rotation).
    pub async fn put_owned_secret(
        &self,
        secret: &SealedSecret,
        owner: &str,
    ) -> Result<bool, StoreError> {
        let mut w = self.begin_write().await?;
        let done = async {
            let existed = sqlx::query("SELECT name FROM secrets WHERE name = $1")
                .bind(secret.name.as_str())
                .fetch_optional(&mut *w.tx)
                .await?
                .is_some();
            sqlx::query(
                "INSERT INTO secrets (name, nonce, ciphertext, key_id, updated_at, owner) \
                 VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (name) DO UPDATE SET nonce = excluded.nonce, \
                 ciphertext = excluded.ciphertext, key_id = excluded.key_id, \
                 updated_at = excluded.updated_at, owner = excluded.owner",
            )
            .bind(secret.name.as_str())
            .bind(secret.nonce.as_str())
            .bind(secret.ciphertext.as_str())
            .bind(secret.key_id.as_str())
            .bind(nanos(secret.updated_at)?)
            .bind(owner)
            .execute(&mut *w.tx)
            .await?;
            Ok(existed)
        }
        .await;
        w.finish(done).await
    }

    /// The sealed secrets of `owner`, by name.
    pub async fn owned_secrets(&self, owner: &str) -> Result<Vec<SealedSecret>, StoreError> {
        let rows = sqlx::query(
            "SELECT name, nonce, ciphertext, key_id, updated_at FROM secrets \
             WHERE owner = $1 ORDER BY name",
        )
        .bind(owner)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(secret_from_row).collect()
    }

    /// Every secret that has an owner, with its owner (the team's, without
    /// one, are left out), by owner and name.
    pub async fn all_owned_secrets(&self) -> Result<Vec<(String, SealedSecret)>, StoreError> {
        let rows = sqlx::query(
            "SELECT name, nonce, ciphertext, key_id, updated_at, owner FROM secrets \
             WHERE owner IS NOT NULL ORDER BY owner, name",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get::<String, _>("owner")?, secret_from_row(r)?)))
            .collect()
    }

    /// Removes `owner`'s secret of this name (another owner's, or the
    /// team's, of the same name is left alone). False if there was none.
    pub async fn delete_owned_secret(&self, name: &str, owner: &str) -> Result<bool, StoreError> {
        let mut w = self.begin_write().await?;
        let done = sqlx::query("DELETE FROM secrets WHERE name = $1 AND owner = $2")
            .bind(name)
            .bind(owner)
            .execute(&mut *w.tx)
            .await
            .map(|r| r.rows_affected() > 0)
            .map_err(StoreError::from);
        w.finish(done).await
    }

    /// Rewrites every secret in one transaction: `reseal` gets each stored
    /// secret and returns its replacement (same name). When it fails for
    /// one, nothing is changed and its message is the error. Returns how
    /// many were rewritten.
    pub async fn reseal_secrets(
        &self,
        mut reseal: impl FnMut(SealedSecret) -> Result<SealedSecret, String>,
    ) -> Result<usize, StoreError> {
        let mut w = self.begin_write().await?;
        let done = async {
            let rows = sqlx::query(
                "SELECT name, nonce, ciphertext, key_id, updated_at FROM secrets ORDER BY name",
            )
            .fetch_all(&mut *w.tx)
            .await?;
            let old = rows
                .iter()
                .map(secret_from_row)
                .collect::<Result<Vec<_>, _>>()?;
            let count = old.len();
            for s in old {
                let name = s.name.clone();
                let new = reseal(s).map_err(StoreError::Invalid)?;
                if new.name != name {
                    return Err(StoreError::Invalid(format!(
                        "secret {name}: resealed under another name"
                    )));
                }
                upsert_secret(&mut w.tx, &new).await?;
            }
            Ok(count)
        }
        .await;
        w.finish(done).await
    }

    // ---- providers ----

    /// The providers added through the API, oldest first.
    pub async fn list_providers(&self) -> Result<Vec<StoredProvider>, StoreError> {
        let rows = sqlx::query(
            "SELECT name, config, created_at, updated_at FROM providers ORDER BY created_at, name",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(provider_from_row).collect()
    }

    /// Adds a provider and, if given, its key, in one transaction. An
    /// existing name is a [`StoreError::Conflict`].
    pub async fn create_provider(
        &self,
        name: &str,
        config: &serde_json::Value,
        key: Option<&SealedSecret>,
    ) -> Result<StoredProvider, StoreError> {
        let now = Utc::now();
        let at = nanos(now)?;
        let mut w = self.begin_write().await?;
        let done = async {
            let inserted = sqlx::query(
                "INSERT INTO providers (name, config, created_at, updated_at) \
                 VALUES ($1, $2, $3, $3) ON CONFLICT (name) DO NOTHING",
            )
            .bind(name)
            .bind(config.to_string())
            .bind(at)
            .execute(&mut *w.tx)
            .await?;
            if inserted.rows_affected() == 0 {
                return Err(StoreError::Conflict(format!("provider {name}")));
            }
            if let Some(key) = key {
                upsert_secret(&mut w.tx, key).await?;
            }
            Ok(StoredProvider {
                name: name.to_string(),
                config: config.clone(),
                created_at: now,
                updated_at: now,
            })
        }
        .await;
        w.finish(done).await
    }

    /// Replaces a provider's configuration and changes its key (stored as
    /// `key_name`) as `key` says, in one transaction. None when there is
    /// no such provider (then nothing changes).
    pub async fn update_provider(
        &self,
        name: &str,
        config: &serde_json::Value,
        key_name: &str,
        key: &KeyChange,
    ) -> Result<Option<StoredProvider>, StoreError> {
        let now = Utc::now();
        let at = nanos(now)?;
        let mut w = self.begin_write().await?;
        let done = async {
            let row = sqlx::query(
                "UPDATE providers SET config = $2, updated_at = $3 WHERE name = $1 \
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
            match key {
                KeyChange::Keep => {}
                KeyChange::Remove => {
                    sqlx::query("DELETE FROM secrets WHERE name = $1")
                        .bind(key_name)
                        .execute(&mut *w.tx)
                        .await?;
                }
                KeyChange::Set(s) => upsert_secret(&mut w.tx, s).await?,
            }
            Ok(Some(StoredProvider {
                name: name.to_string(),
                config: config.clone(),
                created_at: DateTime::from_timestamp_nanos(created),
                updated_at: now,
            }))
        }
        .await;
        w.finish(done).await
    }

    /// Removes a provider and its key (stored as `key_name`) in one
    /// transaction. False if there was no such provider.
    pub async fn delete_provider(&self, name: &str, key_name: &str) -> Result<bool, StoreError> {
        let mut w = self.begin_write().await?;
        let done = async {
            let gone = sqlx::query("DELETE FROM providers WHERE name = $1")
                .bind(name)
                .execute(&mut *w.tx)
                .await?;
            sqlx::query("DELETE FROM secrets WHERE name = $1")
                .bind(key_name)
                .execute(&mut *w.tx)
                .await?;
            Ok(gone.rows_affected() > 0)
        }
        .await;
        w.finish(done).await
    }

    // ---- settings ----

    /// The setting of this name, if set.
    pub async fn get_setting(&self, name: &str) -> Result<Option<serde_json::Value>, StoreError> {
        let row = sqlx::query("SELECT value FROM settings WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let text: String = row.try_get("value")?;
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| StoreError::CorruptRecord {
                what: format!("setting {name}"),
                reason: e.to_string(),
            })
    }

    /// Sets a setting, replacing its value.
    pub async fn put_setting(
        &self,
        name: &str,
        value: &serde_json::Value,
    ) -> Result<(), StoreError> {
        let at = nanos(Utc::now())?;
        let mut w = self.begin_write().await?;
        let done = sqlx::query(
            "INSERT INTO settings (name, value, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value, \
             updated_at = excluded.updated_at",
        )
        .bind(name)
        .bind(value.to_string())
        .bind(at)
        .execute(&mut *w.tx)
        .await
        .map(|_| ())
        .map_err(StoreError::from);
        w.finish(done).await
    }

    /// Unsets a setting. False if it was not set.
    pub async fn delete_setting(&self, name: &str) -> Result<bool, StoreError> {
        let mut w = self.begin_write().await?;
        let done = sqlx::query("DELETE FROM settings WHERE name = $1")
            .bind(name)
            .execute(&mut *w.tx)
            .await
            .map(|r| r.rows_affected() > 0)
            .map_err(StoreError::from);
        w.finish(done).await
    }
}
