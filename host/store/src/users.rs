//! Who uses Paddock: users (local accounts and single sign-on
//! identities), groups and their members, personal access tokens (kept as
//! their SHA-256 only), and whom each agent is shared with.
//!
//! The store checks shapes, not permissions: who may do what is the API's
//! (`paddock_api::auth`).

use super::{Store, StoreError, is_unique_violation, nanos};
use chrono::{DateTime, Utc};
use paddock_protocol::identity::{Role, Scope, ShareKind};
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

/// A stored user.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct UserRecord {
    /// Its id (`local` for the built-in local admin, else a UUID).
    pub id: String,
    /// Its unique sign-in name.
    pub name: String,
    /// How it is shown (may be empty).
    pub display_name: String,
    /// Its e-mail address, when known.
    pub email: Option<String>,
    /// What it may do.
    pub role: Role,
    /// Its argon2id password hash (PHC string), for a local account with a
    /// password. Never leaves the host.
    #[serde(skip)]
    pub password_hash: Option<String>,
    /// The OpenID issuer and subject of a single sign-on identity.
    pub oidc: Option<(String, String)>,
    /// A disabled user cannot sign in and its tokens and sessions fail.
    pub disabled: bool,
    /// Cap on its agents running at once (none: no cap of its own).
    pub max_running_agents: Option<u32>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// When it last signed in.
    pub last_sign_in_at: Option<DateTime<Utc>>,
}

/// A user to create.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NewUser {
    /// Its unique name.
    pub name: String,
    /// How it is shown.
    pub display_name: String,
    /// Its e-mail address.
    pub email: Option<String>,
    /// What it may do (member when None).
    pub role: Option<Role>,
    /// Its argon2id password hash.
    pub password_hash: Option<String>,
    /// The OpenID issuer and subject of a single sign-on identity.
    pub oidc: Option<(String, String)>,
}

/// Changes to a user: each `Some` replaces the stored value.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UserPatch {
    /// New display name.
    pub display_name: Option<String>,
    /// New e-mail (Some(None) removes it).
    pub email: Option<Option<String>>,
    /// New role.
    pub role: Option<Role>,
    /// New password hash (Some(None) removes the password).
    pub password_hash: Option<Option<String>>,
    /// Disable or enable.
    pub disabled: Option<bool>,
    /// New cap on running agents (Some(None) removes it).
    pub max_running_agents: Option<Option<u32>>,
}

/// A stored group with its members.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GroupRecord {
    /// Its id (a UUID).
    pub id: String,
    /// Its unique name.
    pub name: String,
    /// The ids of its members.
    pub members: Vec<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it (or its members) last changed.
    pub updated_at: DateTime<Utc>,
}

/// A personal access token to store (its secret never reaches the store).
#[derive(Clone, Debug, PartialEq)]
pub struct NewToken {
    /// Whose.
    pub user_id: String,
    /// A name for humans ("ci", "laptop").
    pub name: String,
    /// The SHA-256 of the secret, hex.
    pub hash: String,
    /// The secret's first characters, to recognise it in lists.
    pub prefix: String,
    /// What it may do.
    pub scope: Scope,
    /// When it stops working (none: never).
    pub expires_at: Option<DateTime<Utc>>,
}

/// A stored personal access token.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TokenRecord {
    /// Its id.
    pub id: String,
    /// Whose.
    pub user_id: String,
    /// Its name.
    pub name: String,
    /// The secret's first characters.
    pub prefix: String,
    /// What it may do.
    pub scope: Scope,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it stops working.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was last used (kept to the minute).
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl TokenRecord {
    /// Whether it works at `now`: not revoked, not expired.
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|e| e > now)
    }
}

/// Whom an agent is shared with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AgentShare {
    /// The agent.
    pub agent_id: String,
    /// A user or a group.
    pub kind: ShareKind,
    /// The user's or group's id.
    pub principal: String,
    /// Who shared it (a user id).
    pub shared_by: String,
    /// When.
    pub shared_at: DateTime<Utc>,
}

fn time(row: &AnyRow, col: &str) -> Result<DateTime<Utc>, StoreError> {
    Ok(DateTime::from_timestamp_nanos(row.try_get::<i64, _>(col)?))
}

fn opt_time(row: &AnyRow, col: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
    Ok(row
        .try_get::<Option<i64>, _>(col)?
        .map(DateTime::from_timestamp_nanos))
}

fn corrupt(what: String, reason: impl Into<String>) -> StoreError {
    StoreError::CorruptRecord {
        what,
        reason: reason.into(),
    }
}

const USER_COLUMNS: &str = "id, name, display_name, email, role, password_hash, oidc_issuer, \
     oidc_subject, disabled, max_running_agents, created_at, updated_at, last_sign_in_at";

fn user_from_row(row: &AnyRow) -> Result<UserRecord, StoreError> {
    let id: String = row.try_get("id")?;
    let role: String = row.try_get("role")?;
    let role = Role::parse(&role)
        .ok_or_else(|| corrupt(format!("user {id}"), format!("unknown role `{role}`")))?;
    let issuer: Option<String> = row.try_get("oidc_issuer")?;
    let subject: Option<String> = row.try_get("oidc_subject")?;
    let max: Option<i64> = row.try_get("max_running_agents")?;
    Ok(UserRecord {
        name: row.try_get("name")?,
        display_name: row.try_get("display_name")?,
        email: row.try_get("email")?,
        role,
        password_hash: row.try_get("password_hash")?,
        oidc: issuer.zip(subject),
        disabled: row.try_get::<i64, _>("disabled")? != 0,
        max_running_agents: max.map(|m| u32::try_from(m.max(0)).unwrap_or(u32::MAX)),
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
        last_sign_in_at: opt_time(row, "last_sign_in_at")?,
        id,
    })
}

const TOKEN_COLUMNS: &str =
    "id, user_id, name, prefix, scope, created_at, expires_at, last_used_at, revoked_at";

fn token_from_row(row: &AnyRow) -> Result<TokenRecord, StoreError> {
    let id: String = row.try_get("id")?;
    let scope: String = row.try_get("scope")?;
    let scope = Scope::parse(&scope)
        .ok_or_else(|| corrupt(format!("token {id}"), format!("unknown scope `{scope}`")))?;
    Ok(TokenRecord {
        user_id: row.try_get("user_id")?,
        name: row.try_get("name")?,
        prefix: row.try_get("prefix")?,
        scope,
        created_at: time(row, "created_at")?,
        expires_at: opt_time(row, "expires_at")?,
        last_used_at: opt_time(row, "last_used_at")?,
        revoked_at: opt_time(row, "revoked_at")?,
        id,
    })
}

fn share_from_row(row: &AnyRow) -> Result<AgentShare, StoreError> {
    let kind: String = row.try_get("kind")?;
    let agent_id: String = row.try_get("agent_id")?;
    Ok(AgentShare {
        kind: ShareKind::parse(&kind).ok_or_else(|| {
            corrupt(
                format!("share of agent {agent_id}"),
                format!("unknown kind `{kind}`"),
            )
        })?,
        principal: row.try_get("principal")?,
        shared_by: row.try_get("shared_by")?,
        shared_at: time(row, "shared_at")?,
        agent_id,
    })
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn conflict_or(e: sqlx::Error, what: String) -> StoreError {
    if is_unique_violation(&e) {
        StoreError::Conflict(what)
    } else {
        e.into()
    }
}

impl Store {
    // ---- users ----

    /// Creates a user. A name (or single sign-on identity) that exists
    /// already is a [`StoreError::Conflict`] naming it.
    pub async fn create_user(&self, user: &NewUser) -> Result<UserRecord, StoreError> {
        let id = new_id();
        let now = nanos(Utc::now())?;
        let (issuer, subject) = user.oidc.clone().unzip();
        let mut w = self.begin_write().await?;
        let done = sqlx::query(
            "INSERT INTO users (id, name, display_name, email, role, password_hash, oidc_issuer, \
             oidc_subject, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
        )
        .bind(&id)
        .bind(&user.name)
        .bind(&user.display_name)
        .bind(&user.email)
        .bind(user.role.unwrap_or(Role::Member).as_str())
        .bind(&user.password_hash)
        .bind(issuer)
        .bind(subject)
        .bind(now)
        .execute(&mut *w.tx)
        .await
        .map(|_| ())
        .map_err(|e| conflict_or(e, format!("user `{}`", user.name)));
        w.finish(done).await?;
        self.get_user(&id)
            .await?
            .ok_or_else(|| StoreError::Invalid(format!("user {id} vanished after its creation")))
    }

    /// The user with this id.
    pub async fn get_user(&self, id: &str) -> Result<Option<UserRecord>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// The user with this name.
    pub async fn get_user_by_name(&self, name: &str) -> Result<Option<UserRecord>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE name = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// The user of this single sign-on identity.
    pub async fn find_user_by_oidc(
        &self,
        issuer: &str,
        subject: &str,
    ) -> Result<Option<UserRecord>, StoreError> {
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM users WHERE oidc_issuer = $1 AND oidc_subject = $2"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(issuer)
            .bind(subject)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// Every user (the built-in `local` included), by name.
    pub async fn list_users(&self) -> Result<Vec<UserRecord>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY name");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(user_from_row).collect()
    }

    /// How many users there are besides the built-in `local`.
    pub async fn count_team_users(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE id <> 'local'")
            .fetch_one(&self.pool)
            .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Applies `patch` to the user; None if there is no such user.
    pub async fn update_user(
        &self,
        id: &str,
        patch: &UserPatch,
    ) -> Result<Option<UserRecord>, StoreError> {
        let Some(mut u) = self.get_user(id).await? else {
            return Ok(None);
        };
        if let Some(v) = &patch.display_name {
            u.display_name = v.clone();
        }
        if let Some(v) = &patch.email {
            u.email = v.clone();
        }
        if let Some(v) = patch.role {
            u.role = v;
        }
        if let Some(v) = &patch.password_hash {
            u.password_hash = v.clone();
        }
        if let Some(v) = patch.disabled {
            u.disabled = v;
        }
        if let Some(v) = patch.max_running_agents {
            u.max_running_agents = v;
        }
        let mut w = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE users SET display_name = $1, email = $2, role = $3, password_hash = $4, \
             disabled = $5, max_running_agents = $6, updated_at = $7 WHERE id = $8",
        )
        .bind(&u.display_name)
        .bind(&u.email)
        .bind(u.role.as_str())
        .bind(&u.password_hash)
        .bind(i64::from(u.disabled))
        .bind(u.max_running_agents.map(i64::from))
        .bind(nanos(Utc::now())?)
        .bind(id)
        .execute(&mut *w.tx)
        .await
        .map(|_| ())
        .map_err(StoreError::from);
        w.finish(done).await?;
        self.get_user(id).await
    }

    /// Records a sign-in.
    pub async fn touch_sign_in(&self, id: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        let mut w = self.begin_write().await?;
        let done = sqlx::query("UPDATE users SET last_sign_in_at = $1 WHERE id = $2")
            .bind(nanos(at)?)
            .bind(id)
            .execute(&mut *w.tx)
            .await
            .map(|_| ())
            .map_err(StoreError::from);
        w.finish(done).await
    }

    /// Deletes the user, its tokens, its group memberships and the shares
    /// made to it (its agents stay, owned by its id, for admins to see).
    /// False if there was no such user.
    pub async fn delete_user(&self, id: &str) -> Result<bool, StoreError> {
        let mut w = self.begin_write().await?;
        for sql in [
            "DELETE FROM access_tokens WHERE user_id = $1",
            "DELETE FROM group_members WHERE user_id = $1",
            "DELETE FROM agent_shares WHERE kind = 'user' AND principal = $1",
        ] {
            if let Err(e) = sqlx::query(sql).bind(id).execute(&mut *w.tx).await {
                return w.finish(Err(e.into())).await;
            }
        }
        let done = sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(id)
            .execute(&mut *w.tx)
            .await
            .map(|r| r.rows_affected() > 0)
            .map_err(StoreError::from);
        w.finish(done).await
    }

    // ---- groups ----

    /// Creates an empty group; an existing name is a
    /// [`StoreError::Conflict`].
    pub async fn create_group(&self, name: &str) -> Result<GroupRecord, StoreError> {
        let id = new_id();
        let now = nanos(Utc::now())?;
        let mut w = self.begin_write().await?;
        let done = sqlx::query(
            "INSERT INTO user_groups (id, name, created_at, updated_at) VALUES ($1, $2, $3, $3)",
        )
        .bind(&id)
        .bind(name)
        .bind(now)
        .execute(&mut *w.tx)
        .await
        .map(|_| ())
        .map_err(|e| conflict_or(e, format!("group `{name}`")));
        w.finish(done).await?;
        self.get_group(&id)
            .await?
            .ok_or_else(|| StoreError::Invalid(format!("group {id} vanished after its creation")))
    }

    async fn members_of(&self, group_id: &str) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT user_id FROM group_members WHERE group_id = $1 ORDER BY user_id",
        )
        .bind(group_id)
        .fetch_all(&self.pool)
        .await?)
    }

    fn group_from_row(row: &AnyRow, members: Vec<String>) -> Result<GroupRecord, StoreError> {
        Ok(GroupRecord {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            members,
            created_at: time(row, "created_at")?,
            updated_at: time(row, "updated_at")?,
        })
    }

    /// The group with this id, with its members.
    pub async fn get_group(&self, id: &str) -> Result<Option<GroupRecord>, StoreError> {
        let row =
            sqlx::query("SELECT id, name, created_at, updated_at FROM user_groups WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        match row {
            Some(row) => {
                let members = self.members_of(id).await?;
                Ok(Some(Store::group_from_row(&row, members)?))
            }
            None => Ok(None),
        }
    }

    /// The group with this name.
    pub async fn get_group_by_name(&self, name: &str) -> Result<Option<GroupRecord>, StoreError> {
        let id: Option<String> = sqlx::query_scalar("SELECT id FROM user_groups WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        match id {
            Some(id) => self.get_group(&id).await,
            None => Ok(None),
        }
    }

    /// Every group with its members, by name.
    pub async fn list_groups(&self) -> Result<Vec<GroupRecord>, StoreError> {
        let rows =
            sqlx::query("SELECT id, name, created_at, updated_at FROM user_groups ORDER BY name")
                .fetch_all(&self.pool)
                .await?;
        let pairs: Vec<(String, String)> =
            sqlx::query_as("SELECT group_id, user_id FROM group_members ORDER BY user_id")
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|row| {
                let id: String = row.try_get("id")?;
                let members = pairs
                    .iter()
                    .filter(|(g, _)| *g == id)
                    .map(|(_, u)| u.clone())
                    .collect();
                Store::group_from_row(row, members)
            })
            .collect()
    }

    /// Replaces the group's members; false if there is no such group.
    pub async fn set_group_members(
        &self,
        group_id: &str,
        members: &[String],
    ) -> Result<bool, StoreError> {
        let mut w = self.begin_write().await?;
        let found = sqlx::query("UPDATE user_groups SET updated_at = $1 WHERE id = $2")
            .bind(nanos(Utc::now())?)
            .bind(group_id)
            .execute(&mut *w.tx)
            .await;
        match found {
            Ok(r) if r.rows_affected() == 0 => return w.finish(Ok(false)).await,
            Ok(_) => {}
            Err(e) => return w.finish(Err(e.into())).await,
        }
        if let Err(e) = sqlx::query("DELETE FROM group_members WHERE group_id = $1")
            .bind(group_id)
            .execute(&mut *w.tx)
            .await
        {
            return w.finish(Err(e.into())).await;
        }
        let mut unique: Vec<&String> = members.iter().collect();
        unique.sort();
        unique.dedup();
        for user in unique {
            if let Err(e) =
                sqlx::query("INSERT INTO group_members (group_id, user_id) VALUES ($1, $2)")
                    .bind(group_id)
                    .bind(user)
                    .execute(&mut *w.tx)
                    .await
            {
                return w.finish(Err(e.into())).await;
            }
        }
        w.finish(Ok(true)).await
    }

    /// Deletes the group, its memberships and the shares made to it;
    /// false if there was no such group.
    pub async fn delete_group(&self, id: &str) -> Result<bool, StoreError> {
        let mut w = self.begin_write().await?;
        for sql in [
            "DELETE FROM group_members WHERE group_id = $1",
            "DELETE FROM agent_shares WHERE kind = 'group' AND principal = $1",
        ] {
            if let Err(e) = sqlx::query(sql).bind(id).execute(&mut *w.tx).await {
                return w.finish(Err(e.into())).await;
            }
        }
        let done = sqlx::query("DELETE FROM user_groups WHERE id = $1")
            .bind(id)
            .execute(&mut *w.tx)
            .await
            .map(|r| r.rows_affected() > 0)
            .map_err(StoreError::from);
        w.finish(done).await
    }

    /// The ids of the groups the user is in.
    pub async fn groups_of(&self, user_id: &str) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT group_id FROM group_members WHERE user_id = $1 ORDER BY group_id",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?)
    }

    // ---- personal access tokens ----

    /// Stores a new token.
    pub async fn create_token(&self, token: &NewToken) -> Result<TokenRecord, StoreError> {
        let id = new_id();
        let mut w = self.begin_write().await?;
        let done = sqlx::query(
            "INSERT INTO access_tokens (id, user_id, name, hash, prefix, scope, created_at, \
             expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&id)
        .bind(&token.user_id)
        .bind(&token.name)
        .bind(&token.hash)
        .bind(&token.prefix)
        .bind(token.scope.as_str())
        .bind(nanos(Utc::now())?)
        .bind(token.expires_at.map(nanos).transpose()?)
        .execute(&mut *w.tx)
        .await
        .map(|_| ())
        .map_err(|e| conflict_or(e, "a token with this secret".into()));
        w.finish(done).await?;
        self.get_token(&id)
            .await?
            .ok_or_else(|| StoreError::Invalid(format!("token {id} vanished after its creation")))
    }

    /// The token with this id (revoked and expired ones included).
    pub async fn get_token(&self, id: &str) -> Result<Option<TokenRecord>, StoreError> {
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM access_tokens WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(token_from_row).transpose()
    }

    /// The token whose secret hashes to `hash` (revoked and expired ones
    /// included: the caller decides).
    pub async fn token_by_hash(&self, hash: &str) -> Result<Option<TokenRecord>, StoreError> {
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM access_tokens WHERE hash = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(hash)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(token_from_row).transpose()
    }

    /// The user's tokens, newest first (revoked ones included).
    pub async fn list_tokens(&self, user_id: &str) -> Result<Vec<TokenRecord>, StoreError> {
        let sql = format!(
            "SELECT {TOKEN_COLUMNS} FROM access_tokens WHERE user_id = $1 \
             ORDER BY created_at DESC, id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(user_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(token_from_row).collect()
    }

    /// Revokes the token; false if it does not exist or was revoked.
    pub async fn revoke_token(&self, id: &str, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let mut w = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE access_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
        )
        .bind(nanos(at)?)
        .bind(id)
        .execute(&mut *w.tx)
        .await
        .map(|r| r.rows_affected() > 0)
        .map_err(StoreError::from);
        w.finish(done).await
    }

    /// Records that the token was used at `at`.
    pub async fn touch_token(&self, id: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        let mut w = self.begin_write().await?;
        let done = sqlx::query("UPDATE access_tokens SET last_used_at = $1 WHERE id = $2")
            .bind(nanos(at)?)
            .bind(id)
            .execute(&mut *w.tx)
            .await
            .map(|_| ())
            .map_err(StoreError::from);
        w.finish(done).await
    }

    // ---- agent shares ----

    /// Shares the agent with a user or a group (again: no change).
    pub async fn share_agent(&self, share: &AgentShare) -> Result<(), StoreError> {
        let mut w = self.begin_write().await?;
        let done = sqlx::query(
            "INSERT INTO agent_shares (agent_id, kind, principal, shared_by, shared_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (agent_id, kind, principal) DO NOTHING",
        )
        .bind(&share.agent_id)
        .bind(share.kind.as_str())
        .bind(&share.principal)
        .bind(&share.shared_by)
        .bind(nanos(share.shared_at)?)
        .execute(&mut *w.tx)
        .await
        .map(|_| ())
        .map_err(StoreError::from);
        w.finish(done).await
    }

    /// Stops sharing; false if it was not shared so.
    pub async fn unshare_agent(
        &self,
        agent_id: &str,
        kind: ShareKind,
        principal: &str,
    ) -> Result<bool, StoreError> {
        let mut w = self.begin_write().await?;
        let done = sqlx::query(
            "DELETE FROM agent_shares WHERE agent_id = $1 AND kind = $2 AND principal = $3",
        )
        .bind(agent_id)
        .bind(kind.as_str())
        .bind(principal)
        .execute(&mut *w.tx)
        .await
        .map(|r| r.rows_affected() > 0)
        .map_err(StoreError::from);
        w.finish(done).await
    }

    /// Whom the agent is shared with.
    pub async fn shares_of(&self, agent_id: &str) -> Result<Vec<AgentShare>, StoreError> {
        let rows = sqlx::query(
            "SELECT agent_id, kind, principal, shared_by, shared_at FROM agent_shares \
             WHERE agent_id = $1 ORDER BY kind, principal",
        )
        .bind(agent_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(share_from_row).collect()
    }

    /// The ids of the agents shared with this user directly or with one of
    /// these groups.
    pub async fn agents_shared_with(
        &self,
        user_id: &str,
        groups: &[String],
    ) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query("SELECT agent_id, kind, principal FROM agent_shares")
            .fetch_all(&self.pool)
            .await?;
        let mut ids = Vec::new();
        for row in &rows {
            let kind: String = row.try_get("kind")?;
            let principal: String = row.try_get("principal")?;
            let hit = match ShareKind::parse(&kind) {
                Some(ShareKind::User) => principal == user_id,
                Some(ShareKind::Group) => groups.contains(&principal),
                None => false,
            };
            if hit {
                ids.push(row.try_get("agent_id")?);
            }
        }
        ids.sort();
        ids.dedup();
        Ok(ids)
    }
}
