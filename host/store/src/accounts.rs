//! What account administration needs of the store beyond the users module:
//! renaming a group.

use super::{Store, StoreError, is_unique_violation, nanos};
use chrono::Utc;

impl Store {
    /// Renames a group; false if there is no such group, a
    /// [`StoreError::Conflict`] if another group has the name.
    pub async fn rename_group(&self, id: &str, name: &str) -> Result<bool, StoreError> {
        let now = nanos(Utc::now())?;
        let mut w = self.begin_write().await?;
        let done = sqlx::query("UPDATE user_groups SET name = $1, updated_at = $2 WHERE id = $3")
            .bind(name)
            .bind(now)
            .bind(id)
            .execute(&mut *w.tx)
            .await
            .map(|r| r.rows_affected() > 0)
            .map_err(|e| {
                if is_unique_violation(&e) {
                    StoreError::Conflict(format!("group `{name}`"))
                } else {
                    e.into()
                }
            });
        w.finish(done).await
    }
}
