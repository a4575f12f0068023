//! The store: the durable per-agent event logs, the agent records and the
//! named config documents (agent templates, system prompts), in SQLite (the
//! default, a file in the data dir) or PostgreSQL.
//!
//! One [`Store`] type serves both databases through one `sqlx::AnyPool` code
//! path and one set of `$1`-style SQL. Only two things differ: the
//! migrations (`host/migrations/sqlite/`, `host/migrations/postgres/`,
//! embedded in the binary and applied on [`Store::open`]), and the append,
//! which PostgreSQL runs as one statement (see Throughput).
//!
//! # Durability
//! [`Store::append`] returns once the event is committed: the caller acts on
//! a step only after its event is stored, so a host killed at any point
//! (`kill -9` included) restarts knowing exactly where each agent stood.
//!
//! SQLite runs in WAL mode with `synchronous = NORMAL`. A commit appends the
//! transaction to the WAL file with `write(2)` before it returns; the bytes
//! are then in the operating system's page cache, which outlives the
//! process, so a crash or `kill -9` of the host loses nothing committed. What
//! `NORMAL` gives up against `FULL` is the `fsync` per commit: only a power
//! loss or kernel crash can lose the last commits, and even then WAL keeps
//! the database consistent (never corrupt). PostgreSQL keeps its default
//! `synchronous_commit = on` (WAL flushed to disk before the commit returns).
//!
//! # Gapless sequences and concurrency
//! Each append is atomic (a transaction, or one statement): it first moves the agent row's
//! `last_seq` from `seq - 1` to `seq` (`UPDATE … WHERE last_seq = seq - 1`,
//! together with the denormalised status and usage totals the event
//! changes) and then inserts the event. Two appends racing for the same
//! `seq` serialise on the agent row: the second finds `last_seq` moved and
//! fails with [`StoreError::SeqConflict`]; `(agent_id, seq)` is the events'
//! primary key as a second guard. Appends to different agents touch
//! different rows and run concurrently on PostgreSQL. SQLite has a single
//! writer anyway: the store queues its writers on an in-process lock (rather
//! than letting them spin in SQLite's busy handler, whose sleeps ruin
//! throughput under contention), begins them with `BEGIN IMMEDIATE`, and
//! keeps a busy timeout for other processes using the same file.
//!
//! # Throughput
//! Measured with the `concurrent_appends_to_many_agents` test (each task
//! creates its agent, then appends its events one by one; run it with
//! `--nocapture` to see the figure) on a 2-core machine, debug build, the
//! database on the same machine: 50 tasks × 41 events, about 3,000–3,500
//! appends/s on SQLite and 2,500–4,700 on PostgreSQL; 500 tasks × 17 events,
//! about 5,600/s on SQLite and 4,700/s on PostgreSQL. On PostgreSQL a single
//! append is one statement (a data-modifying CTE), one round trip.
//! [`Store::append_batch`] amortises the commit over many events.

use chrono::{DateTime, Utc};
use paddock_protocol::agent::AgentConfig;
use paddock_protocol::events::{AgentStatus, ErrorCode, Event, EventBody};
use paddock_protocol::identity::LOCAL_USER;
use serde::{Deserialize, Serialize};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::pool::PoolConnection;
use sqlx::{AnyConnection, AnyPool, Connection, Row, SqlSafeStr};
use std::borrow::Cow;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

mod accounts;
pub mod cluster;
mod environments;
mod evals;
mod policy;
mod secrets;
#[cfg(test)]
mod tests;
mod usage;
mod users;
mod workflows;

pub use cluster::{Claimed, Fence, HostRecord, HostRequest, Listener, Notification, RequestState};
pub use environments::StoredEnvironment;
pub use evals::{EvalRunRecord, NewEvalRun};
pub use paddock_protocol::policy::ApprovalStatus;
pub use policy::{ApprovalRecord, AuditEntry, AuditQuery, NewApproval, NewAudit};
pub use secrets::{KeyChange, SealedSecret, StoredProvider};
pub use usage::UsageRecord;
pub use users::{AgentShare, GroupRecord, NewToken, NewUser, TokenRecord, UserPatch, UserRecord};
pub use workflows::{NewWorkflowRun, WorkflowRunRecord};

/// The migrations, oldest first: (version, description, SQLite SQL,
/// PostgreSQL SQL). A released migration is never edited: add a new one.
///
/// They are embedded with `include_str!` and handed to
/// [`Migrator::with_migrations`] (the same checksums `sqlx::migrate!` would
/// record), which spares the build sqlx's proc-macro crate and a second,
/// host-side compile of the bundled SQLite.
const MIGRATIONS: &[(i64, &str, &str, &str)] = &[
    (
        1,
        "init",
        include_str!("../migrations/sqlite/0001_init.sql"),
        include_str!("../migrations/postgres/0001_init.sql"),
    ),
    (
        2,
        "policy",
        include_str!("../migrations/sqlite/0002_policy.sql"),
        include_str!("../migrations/postgres/0002_policy.sql"),
    ),
    (
        3,
        "usage index",
        include_str!("../migrations/sqlite/0003_usage_index.sql"),
        include_str!("../migrations/postgres/0003_usage_index.sql"),
    ),
    (
        4,
        "secrets and providers",
        include_str!("../migrations/sqlite/0004_secrets_providers.sql"),
        include_str!("../migrations/postgres/0004_secrets_providers.sql"),
    ),
    (
        5,
        "status reason",
        include_str!("../migrations/sqlite/0005_status_reason.sql"),
        include_str!("../migrations/postgres/0005_status_reason.sql"),
    ),
    (
        6,
        "environments",
        include_str!("../migrations/sqlite/0006_environments.sql"),
        include_str!("../migrations/postgres/0006_environments.sql"),
    ),
    (
        7,
        "users",
        include_str!("../migrations/sqlite/0007_users.sql"),
        include_str!("../migrations/postgres/0007_users.sql"),
    ),
    (
        8,
        "hosts",
        include_str!("../migrations/sqlite/0008_hosts.sql"),
        include_str!("../migrations/postgres/0008_hosts.sql"),
    ),
    (
        9,
        "workflows",
        include_str!("../migrations/sqlite/0009_workflows.sql"),
        include_str!("../migrations/postgres/0009_workflows.sql"),
    ),
    (
        10,
        "evals",
        include_str!("../migrations/sqlite/0010_evals.sql"),
        include_str!("../migrations/postgres/0010_evals.sql"),
    ),
];

/// How long a SQLite writer waits for a lock held by another process.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long an operation waits for a connection before the store counts
/// as unavailable (the API then answers 503 and agents wait and retry),
/// rather than hanging while the database is away.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);
/// Connections of a SQLite pool (WAL readers run in parallel; writers queue).
const SQLITE_MAX_CONNECTIONS: u32 = 8;
/// Connections of a PostgreSQL pool.
const POSTGRES_MAX_CONNECTIONS: u32 = 16;

/// The database behind a [`Store`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    /// A SQLite file.
    Sqlite,
    /// A PostgreSQL database.
    Postgres,
}

/// What went wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL names no supported database.
    #[error("unsupported database URL {0:?}: expected sqlite://PATH or postgres://…")]
    InvalidUrl(String),
    /// The database failed or is unreachable ([`StoreError::is_unavailable`]
    /// tells which).
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The database could not be opened at start.
    #[error("cannot open {target}: {cause}")]
    Open {
        /// What was opened: the SQLite file, or PostgreSQL's host, port
        /// and database.
        target: String,
        /// Why, in plain words.
        cause: String,
    },
    /// The migrations could not be applied.
    #[error("applying the store's migrations failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The data directory could not be created.
    #[error("creating {path}: {source}")]
    Io {
        /// The directory.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// An agent with this id exists already.
    #[error("agent {0} already exists")]
    Conflict(String),
    /// No such agent (never created, or purged).
    #[error("unknown agent {0}")]
    UnknownAgent(String),
    /// The append was made under a lease another host has taken since
    /// (see [`cluster::Fence`]): this host must stop writing to the agent.
    #[error(
        "agent {agent}: this host no longer holds its lease (held by {holder}); nothing was written"
    )]
    Fenced {
        /// The agent.
        agent: String,
        /// Who holds it now (`no host` when it was released).
        holder: String,
    },
    /// The event's `seq` is not the agent's next one.
    #[error("agent {agent}: expected event seq {expected}, got {got}")]
    SeqConflict {
        /// The agent.
        agent: String,
        /// The next free seq (`last_seq + 1`).
        expected: u64,
        /// The seq offered.
        got: u64,
    },
    /// Live-only events (`message.delta`) are never stored.
    #[error("{0} events are live only and never stored")]
    NotDurable(&'static str),
    /// The event or record cannot be stored as it is.
    #[error("cannot store this: {0}")]
    Invalid(String),
    /// A stored event no longer parses.
    #[error("stored event {seq} of agent {agent} is corrupt: {reason}")]
    Corrupt {
        /// The agent.
        agent: String,
        /// The event.
        seq: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// A stored agent or document row no longer parses.
    #[error("stored {what} is corrupt: {reason}")]
    CorruptRecord {
        /// Which row (`agent ID`, `doc KIND/NAME`).
        what: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl StoreError {
    /// Whether the database is away or cannot write for now (down,
    /// refusing or dropping connections, every connection busy, a full
    /// disk, an I/O error): the same operation may well succeed later.
    /// Other errors (a bad record, a conflict) would fail again.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Database(e) => sqlx_unavailable(e),
            StoreError::Migrate(sqlx::migrate::MigrateError::Execute(e)) => sqlx_unavailable(e),
            _ => false,
        }
    }
}

fn sqlx_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(d) => {
            if let Some(pg) = d.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
                let code = pg.code();
                // Connection exceptions, insufficient resources (disk
                // full, too many connections), the server shutting down or
                // starting, system I/O errors, and transactions the server
                // aborted to resolve a conflict.
                ["08", "53", "57P", "58"]
                    .iter()
                    .any(|class| code.starts_with(class))
                    || matches!(code, "40001" | "40P01")
            } else {
                // SQLite's primary result codes BUSY, LOCKED, IOERR, FULL,
                // CANTOPEN.
                sqlite_code(d.as_ref()).is_some_and(|c| matches!(c, 5 | 6 | 10 | 13 | 14))
            }
        }
        _ => false,
    }
}

/// SQLite's primary result code of an error (the extended code's low
/// byte), if it is SQLite's.
fn sqlite_code(d: &dyn sqlx::error::DatabaseError) -> Option<i32> {
    d.try_downcast_ref::<sqlx::sqlite::SqliteError>()?;
    d.code()?.parse::<i32>().ok().map(|c| c & 0xff)
}

/// [`StoreError::Open`] of `target` for this error.
fn open_error(target: &str, e: &sqlx::Error) -> StoreError {
    StoreError::Open {
        target: target.to_string(),
        cause: open_cause(e),
    }
}

/// What went wrong opening a database, in plain words (the connection
/// refused, authentication failed, the file is not a database).
fn open_cause(e: &sqlx::Error) -> String {
    if let sqlx::Error::Io(io) = e {
        return match io.kind() {
            std::io::ErrorKind::ConnectionRefused => {
                "connection refused (is the database server running and listening there?)".into()
            }
            std::io::ErrorKind::TimedOut => "the connection timed out".into(),
            _ => io.to_string(),
        };
    }
    if let sqlx::Error::Database(d) = e {
        match sqlite_code(d.as_ref()) {
            Some(26) => {
                return "the file is not a database (is it a SQLite file? it may be corrupt or encrypted)".into();
            }
            Some(11) => {
                return "the database file is corrupt (database disk image is malformed)".into();
            }
            _ => {}
        }
        return d.message().to_string();
    }
    e.to_string()
}

/// The kinds of named config documents.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocKind {
    /// An agent template (`config/agent-templates`).
    AgentTemplate,
    /// A system prompt (`config/system-prompts`).
    SystemPrompt,
    /// An MCP server added through the API (`mcp/servers`).
    McpServer,
    /// A setting changed through the API (e.g. `budgets`).
    Setting,
    /// A workspace (`workspaces`), by id.
    Workspace,
    /// A workspace backup, by id.
    WorkspaceBackup,
    /// A dashboard session, by the SHA-256 of its cookie.
    Session,
    /// A workflow definition saved through the API (`workflows`), by name.
    Workflow,
}

impl DocKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            DocKind::AgentTemplate => "agent_template",
            DocKind::SystemPrompt => "system_prompt",
            DocKind::McpServer => "mcp_server",
            DocKind::Setting => "setting",
            DocKind::Workspace => "workspace",
            DocKind::WorkspaceBackup => "workspace_backup",
            DocKind::Session => "session",
            DocKind::Workflow => "workflow",
        }
    }
}

/// A named config document.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Doc {
    /// Its kind.
    pub kind: DocKind,
    /// Its name, unique within the kind.
    pub name: String,
    /// Its content.
    pub body: serde_json::Value,
    /// When it was first stored.
    pub created_at: DateTime<Utc>,
    /// When it was last stored.
    pub updated_at: DateTime<Utc>,
}

/// An agent to create.
#[derive(Clone, Debug, PartialEq)]
pub struct NewAgent {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its configuration (the same as its `agent.created` event's).
    pub config: AgentConfig,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// With several hosts: the host that runs it, which holds its lease
    /// from the start (generation 1).
    pub lease: Option<NewLease>,
}

/// The first lease of a new agent.
#[derive(Clone, Debug, PartialEq)]
pub struct NewLease {
    /// The host that runs it.
    pub host: String,
    /// How long the lease lasts before it is renewed, in milliseconds.
    pub ttl_ms: i64,
}

/// An agent's token, cost and tool totals over its life.
#[derive(Clone, Debug, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct UsageTotals {
    /// Model calls (`usage` events).
    pub model_calls: u64,
    /// Prompt tokens (including cached).
    pub input_tokens: u64,
    /// Completion tokens.
    pub output_tokens: u64,
    /// Cached prompt tokens.
    pub cached_tokens: u64,
    /// Cost in USD.
    pub cost_usd: f64,
    /// Tool calls that finished (`tool.result` events).
    pub tool_calls: u64,
    /// Of those, the failed ones.
    pub tool_failures: u64,
}

/// A stored agent, with the denormalised state of its log.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AgentRecord {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its configuration.
    pub config: AgentConfig,
    /// The status of its last `agent.status` event (`idle` before any).
    pub status: AgentStatus,
    /// That event's reason (why it failed, hit a limit, was interrupted
    /// or retried).
    pub status_reason: Option<String>,
    /// That event's error code (with `error` and `limited`).
    pub status_code: Option<ErrorCode>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When its record last changed (its last event's time, or its deletion).
    pub updated_at: DateTime<Utc>,
    /// When it was deleted, if it was.
    pub deleted_at: Option<DateTime<Utc>>,
    /// The id of the user it belongs to.
    pub owner: String,
    /// With several hosts: the host that holds its lease (none: no host
    /// runs it now, or there is a single host).
    pub host: Option<String>,
    /// The seq of its last event.
    pub last_seq: u64,
    /// Its usage totals.
    pub usage: UsageTotals,
}

/// The durable store. Cheap to clone: clones share one connection pool.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// PostgreSQL's URL, for the cluster's listening connection.
    url: Option<String>,
    /// Queues SQLite writers in-process (see the module doc); unused on
    /// PostgreSQL.
    write_lock: Arc<Mutex<()>>,
}

/// A write transaction on a pooled connection, holding the SQLite writer
/// lock while it lives.
///
/// It is begun and ended with plain `BEGIN`/`COMMIT`/`ROLLBACK`, and a
/// connection whose transaction did not end cleanly (a failed commit or
/// rollback, a full disk, a dropped future) is closed rather than returned
/// to the pool: a connection left inside a transaction would refuse every
/// later writer ("attempted to call begin_with at non-zero transaction
/// depth") until a restart.
struct WriteTx {
    tx: PoolConnection<sqlx::Any>,
    /// Between `BEGIN` and a successful `COMMIT`/`ROLLBACK`.
    open: bool,
    _writer: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl WriteTx {
    /// Commits; on failure the connection is closed (which rolls back
    /// whatever the database kept of the transaction).
    async fn commit(mut self) -> Result<(), StoreError> {
        sqlx::query("COMMIT").execute(&mut *self.tx).await?;
        self.open = false;
        Ok(())
    }

    /// Commits on success; on an error, rolls back before releasing the
    /// SQLite writer lock (so the next writer does not wait for it).
    async fn finish<T>(mut self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        match result {
            Ok(v) => {
                self.commit().await?;
                Ok(v)
            }
            Err(e) => {
                match sqlx::query("ROLLBACK").execute(&mut *self.tx).await {
                    Ok(_) => self.open = false,
                    Err(rollback) => {
                        tracing::warn!(error = %rollback, "store: rollback failed; closing the connection")
                    }
                }
                Err(e)
            }
        }
    }
}

impl Drop for WriteTx {
    fn drop(&mut self) {
        if self.open {
            self.tx.close_on_drop();
        }
    }
}

impl Store {
    /// Opens the store at `url` — `sqlite://PATH` (the file is created if
    /// missing, in an existing directory; [`Store::open_sqlite`] creates the
    /// directory too) or `postgres://…` (an existing database) — and applies
    /// the migrations it lacks.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        if let Some(rest) = url.strip_prefix("sqlite://") {
            let (path, params) = match rest.split_once('?') {
                Some((p, q)) => (p, Some(q)),
                None => (rest, None),
            };
            if path.is_empty() || path == ":memory:" || params.is_some_and(|q| q.contains("memory"))
            {
                // An in-memory database is neither durable nor shared
                // between the pool's connections.
                return Err(StoreError::InvalidUrl(url.to_string()));
            }
            let url = match params {
                Some(q) if q.split('&').any(|kv| kv.starts_with("mode=")) => url.to_string(),
                Some(_) => format!("{url}&mode=rwc"),
                None => format!("{url}?mode=rwc"),
            };
            Store::open_sqlite_url(&url).await
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Store::open_postgres(url).await
        } else {
            Err(StoreError::InvalidUrl(url.to_string()))
        }
    }

    /// The store a configuration names: `database_url` when set, else SQLite
    /// in `data_dir/paddock.db` (created if missing).
    pub async fn open_configured(
        database_url: Option<&str>,
        data_dir: &Path,
    ) -> Result<Store, StoreError> {
        match database_url {
            Some(url) => Store::open(url).await,
            None => Store::open_sqlite(&data_dir.join("paddock.db")).await,
        }
    }

    /// Opens (creating it and its directory if missing) the SQLite store in
    /// the file at `path`.
    pub async fn open_sqlite(path: &Path) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
                path: dir.display().to_string(),
                source,
            })?;
        }
        let text = path
            .to_str()
            .ok_or_else(|| StoreError::InvalidUrl(path.display().to_string()))?;
        // The URL's path is percent-decoded: escape what would end it.
        let mut encoded = String::with_capacity(text.len());
        for c in text.chars() {
            match c {
                '%' => encoded.push_str("%25"),
                '?' => encoded.push_str("%3F"),
                '#' => encoded.push_str("%23"),
                c => encoded.push(c),
            }
        }
        Store::open_sqlite_url(&format!("sqlite://{encoded}?mode=rwc")).await
    }

    async fn open_sqlite_url(url: &str) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let file = url
            .strip_prefix("sqlite://")
            .unwrap_or(url)
            .split('?')
            .next()
            .unwrap_or_default();
        let target = format!("the SQLite file {file}");
        // One connection first, so that a file that is not a database (or
        // cannot be opened) is reported at once, with its cause, instead of
        // the pool retrying until it times out. It also sets WAL, a
        // property of the file, before anyone else uses it.
        let opened = async {
            let mut conn = AnyConnection::connect(url).await?;
            let mode: String = sqlx::query_scalar("PRAGMA journal_mode = WAL")
                .fetch_one(&mut conn)
                .await?;
            conn.close().await?;
            Ok::<_, sqlx::Error>(mode)
        }
        .await;
        let mode = opened.map_err(|e| open_error(&target, &e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Invalid(format!(
                "SQLite refused WAL mode (journal_mode is {mode})"
            )));
        }
        let busy_ms = SQLITE_BUSY_TIMEOUT.as_millis();
        let pool = AnyPoolOptions::new()
            .max_connections(SQLITE_MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    sqlx::query("PRAGMA synchronous = NORMAL")
                        .execute(&mut *conn)
                        .await?;
                    sqlx::query("PRAGMA foreign_keys = ON")
                        .execute(&mut *conn)
                        .await?;
                    // PRAGMA takes no bound parameters.
                    let busy = format!("PRAGMA busy_timeout = {busy_ms}");
                    sqlx::query(sqlx::AssertSqlSafe(busy))
                        .execute(&mut *conn)
                        .await?;
                    Ok(())
                })
            })
            .connect(url)
            .await
            .map_err(|e| open_error(&target, &e))?;
        let store = Store {
            pool,
            url: None,
            backend: Backend::Sqlite,
            write_lock: Arc::new(Mutex::new(())),
        };
        store.migrate().await?;
        tracing::info!(url, "store opened (SQLite)");
        Ok(store)
    }

    async fn open_postgres(url: &str) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let target = match url.parse::<sqlx::postgres::PgConnectOptions>() {
            Ok(o) => format!(
                "PostgreSQL at {}:{} (database {}, user {})",
                o.get_host(),
                o.get_port(),
                o.get_database().unwrap_or(o.get_username()),
                o.get_username()
            ),
            Err(e) => {
                return Err(StoreError::Open {
                    target: "PostgreSQL".into(),
                    cause: format!("the database URL is not valid: {e}"),
                });
            }
        };
        // One connection first: a server that is down, a wrong password or
        // a missing database is reported at once, with its cause.
        let opened = async {
            let conn = AnyConnection::connect(url).await?;
            conn.close().await
        }
        .await;
        opened.map_err(|e| open_error(&target, &e))?;
        let pool = AnyPoolOptions::new()
            .max_connections(POSTGRES_MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect(url)
            .await
            .map_err(|e| open_error(&target, &e))?;
        let store = Store {
            pool,
            url: Some(url.to_string()),
            backend: Backend::Postgres,
            write_lock: Arc::new(Mutex::new(())),
        };
        store.migrate().await?;
        tracing::info!("store opened (PostgreSQL)");
        Ok(store)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let migrations = MIGRATIONS
            .iter()
            .map(|&(version, description, sqlite, postgres)| {
                let sql = match self.backend {
                    Backend::Sqlite => sqlite,
                    Backend::Postgres => postgres,
                };
                Migration::new(
                    version,
                    Cow::Borrowed(description),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    false,
                )
            })
            .collect();
        Migrator::with_migrations(migrations)
            .run(&self.pool)
            .await?;
        Ok(())
    }

    /// The database behind this store.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Closes the pool's connections (waits for the ones in use).
    /// On SQLite, first moves the WAL's content into the database file
    /// and truncates the WAL (a clean shutdown leaves one file, not two).
    pub async fn close(&self) {
        if self.backend == Backend::Sqlite
            && let Err(e) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(&self.pool)
                .await
        {
            tracing::warn!(error = %e, "store: the WAL checkpoint at shutdown failed");
        }
        self.pool.close().await;
    }

    /// Whether the database answers now (an error when it does not).
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn begin_write(&self) -> Result<WriteTx, StoreError> {
        let (writer, begin) = match self.backend {
            Backend::Sqlite => (
                Some(self.write_lock.clone().lock_owned().await),
                "BEGIN IMMEDIATE",
            ),
            Backend::Postgres => (None, "BEGIN"),
        };
        // Open from before `BEGIN`: should this future be dropped while
        // the `BEGIN` runs (it still completes), the connection is closed,
        // not returned to the pool inside a transaction.
        let mut w = WriteTx {
            tx: self.pool.acquire().await?,
            open: true,
            _writer: writer,
        };
        sqlx::query(begin).execute(&mut *w.tx).await?;
        Ok(w)
    }

    // ---- agents ----

    /// Stores a new agent and its first event (`agent.created`, seq 1, the
    /// same configuration) in one transaction. An existing id (deleted or
    /// not) is a [`StoreError::Conflict`].
    pub async fn create_agent(&self, agent: &NewAgent, first: &Event) -> Result<(), StoreError> {
        match &first.body {
            EventBody::AgentCreated { config } if **config == agent.config => {}
            EventBody::AgentCreated { .. } => {
                return Err(StoreError::Invalid(
                    "the agent.created event's config differs from the agent's".into(),
                ));
            }
            other => {
                return Err(StoreError::Invalid(format!(
                    "an agent's first event must be agent.created, not {}",
                    other.type_name()
                )));
            }
        }
        if first.seq != 1 || first.agent_id != agent.id {
            return Err(StoreError::Invalid(format!(
                "an agent's first event is seq 1 of that agent, not seq {} of {}",
                first.seq, first.agent_id
            )));
        }
        let config = serde_json::to_string(&agent.config)
            .map_err(|e| StoreError::Invalid(format!("agent config: {e}")))?;
        let created_at = nanos(agent.created_at)?;
        let ts = nanos(first.ts)?;
        let data = first.body.data().to_string();

        let mut w = self.begin_write().await?;
        let (lease_host, lease_gen, ttl) = match &agent.lease {
            Some(l) if self.backend == Backend::Postgres => (Some(l.host.as_str()), 1i64, l.ttl_ms),
            Some(_) => {
                return Err(StoreError::Invalid(
                    "a lease needs PostgreSQL (several hosts)".into(),
                ));
            }
            None => (None, 0, 0),
        };
        let expires = if lease_host.is_some() {
            "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT + $10"
        } else {
            "$10"
        };
        let sql = format!(
            "INSERT INTO agents (id, name, config, status, created_at, updated_at, last_seq, owner, \
             lease_host, lease_gen, lease_expires) VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $8, $9, {expires})"
        );
        let inserted = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&agent.id)
            .bind(&agent.name)
            .bind(config)
            .bind(AgentStatus::Idle.as_str())
            .bind(created_at)
            .bind(ts.max(created_at))
            .bind(agent.config.owner.as_deref().unwrap_or(LOCAL_USER))
            .bind(lease_host)
            .bind(lease_gen)
            .bind(ttl)
            .execute(&mut *w.tx)
            .await;
        if let Err(e) = inserted {
            let e = if is_unique_violation(&e) {
                StoreError::Conflict(agent.id.clone())
            } else {
                e.into()
            };
            return w.finish(Err(e)).await;
        }
        sqlx::query(
            "INSERT INTO events (agent_id, seq, ts, type, data) VALUES ($1, 1, $2, $3, $4)",
        )
        .bind(&agent.id)
        .bind(ts)
        .bind(first.body.type_name())
        .bind(data)
        .execute(&mut *w.tx)
        .await?;
        w.commit().await?;
        tracing::debug!(agent = %agent.id, "agent stored");
        Ok(())
    }

    /// The agent with this id (deleted ones included), if any.
    pub async fn get_agent(&self, id: &str) -> Result<Option<AgentRecord>, StoreError> {
        let sql = format!("SELECT {AGENT_COLUMNS} FROM agents WHERE id = $1");
        let row = match sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
        {
            Ok(row) => row,
            Err(e) if sqlx_unavailable(&e) => return Err(e.into()),
            // The driver cannot read the row (text that is not UTF-8).
            Err(e) => {
                return Err(StoreError::CorruptRecord {
                    what: format!("agent {id}"),
                    reason: e.to_string(),
                });
            }
        };
        row.as_ref().map(agent_from_row).transpose()
    }

    /// The agents, oldest first; deleted ones only if asked. An agent
    /// whose row no longer parses is left out (see
    /// [`Store::scan_agents`]), so one damaged row does not hide the rest.
    pub async fn list_agents(&self, include_deleted: bool) -> Result<Vec<AgentRecord>, StoreError> {
        Ok(self.scan_agents(include_deleted).await?.0)
    }

    /// The agents, oldest first (deleted ones only if asked), and the ids
    /// of those whose rows no longer parse (bad UTF-8, a configuration
    /// this version cannot read), each with why: quarantined, so that the
    /// others can still be loaded.
    pub async fn scan_agents(
        &self,
        include_deleted: bool,
    ) -> Result<(Vec<AgentRecord>, Vec<(String, StoreError)>), StoreError> {
        let filter = if include_deleted {
            ""
        } else {
            "WHERE deleted_at IS NULL"
        };
        let sql = format!("SELECT {AGENT_COLUMNS} FROM agents {filter} ORDER BY created_at, id");
        let mut good = Vec::new();
        let mut bad = Vec::new();
        match sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await
        {
            Ok(rows) => {
                for (i, row) in rows.iter().enumerate() {
                    match agent_from_row(row) {
                        Ok(a) => good.push(a),
                        Err(e) => {
                            let id = row
                                .try_get::<String, _>("id")
                                .unwrap_or_else(|_| format!("#{i}"));
                            bad.push((id, e));
                        }
                    }
                }
            }
            Err(e) if sqlx_unavailable(&e) => return Err(e.into()),
            // A row the driver cannot even read (text that is not UTF-8
            // fails the whole query): read the agents one by one.
            Err(whole) => {
                tracing::warn!(error = %whole, "reading the agents failed; reading them one by one");
                let ids_sql = format!("SELECT id FROM agents {filter} ORDER BY created_at, id");
                let ids: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(ids_sql))
                    .fetch_all(&self.pool)
                    .await?;
                for id in ids {
                    match self.get_agent(&id).await {
                        Ok(Some(a)) => good.push(a),
                        Ok(None) => {}
                        Err(e) if e.is_unavailable() => return Err(e),
                        Err(e) => bad.push((id, e)),
                    }
                }
            }
        }
        Ok((good, bad))
    }

    /// Marks the agent deleted, keeping its record and its log. False if no
    /// such agent or if it was deleted already.
    pub async fn mark_deleted(&self, id: &str, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let at = nanos(at)?;
        let mut w = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE agents SET deleted_at = $1, updated_at = $1 \
             WHERE id = $2 AND deleted_at IS NULL",
        )
        .bind(at)
        .bind(id)
        .execute(&mut *w.tx)
        .await?;
        w.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    /// Removes the agent's record and its whole log. False if no such agent.
    pub async fn purge_agent(&self, id: &str) -> Result<bool, StoreError> {
        let mut w = self.begin_write().await?;
        sqlx::query("DELETE FROM events WHERE agent_id = $1")
            .bind(id)
            .execute(&mut *w.tx)
            .await?;
        // Its approvals and shares go with its history; the audit log stays.
        sqlx::query("DELETE FROM approvals WHERE agent_id = $1")
            .bind(id)
            .execute(&mut *w.tx)
            .await?;
        sqlx::query("DELETE FROM agent_shares WHERE agent_id = $1")
            .bind(id)
            .execute(&mut *w.tx)
            .await?;
        let done = sqlx::query("DELETE FROM agents WHERE id = $1")
            .bind(id)
            .execute(&mut *w.tx)
            .await?;
        w.commit().await?;
        if done.rows_affected() > 0 {
            tracing::info!(agent = id, "agent purged");
        }
        Ok(done.rows_affected() > 0)
    }

    // ---- events ----

    /// Stores one event. Its `seq` must be the agent's `last_seq + 1`
    /// ([`StoreError::SeqConflict`] otherwise); the agent must exist (deleted
    /// agents still take events until purged); live-only events are refused.
    /// The agent's status, usage totals and `last_seq` change in the same
    /// transaction.
    pub async fn append(&self, event: &Event) -> Result<(), StoreError> {
        self.append_under(event, None).await
    }

    /// [`Store::append`] under a lease (several hosts): stored only while
    /// `fence` still holds the agent's lease ([`StoreError::Fenced`]
    /// otherwise), in the same statement, and announced to the other hosts
    /// (`paddock_events`) when it commits. Without a fence, as `append`.
    pub async fn append_under(
        &self,
        event: &Event,
        fence: Option<&Fence>,
    ) -> Result<(), StoreError> {
        let prepared = Prepared::new(event)?.under(fence, self.backend)?;
        match self.backend {
            Backend::Sqlite => {
                let mut w = self.begin_write().await?;
                let appended = append_in(&mut w.tx, self.backend, &prepared).await;
                w.finish(appended).await?;
            }
            // One statement, atomic on its own: no BEGIN/COMMIT round trips.
            Backend::Postgres => {
                let mut conn = self.pool.acquire().await?;
                append_in(&mut conn, self.backend, &prepared).await?;
            }
        }
        Ok(())
    }

    /// Stores events in one transaction, each under the rules of
    /// [`Store::append`] (they may be for several agents; an agent's events
    /// must come in seq order). If any is refused, none is stored.
    pub async fn append_batch(&self, events: &[Event]) -> Result<(), StoreError> {
        let prepared = events
            .iter()
            .map(Prepared::new)
            .collect::<Result<Vec<_>, _>>()?;
        if prepared.is_empty() {
            return Ok(());
        }
        let mut w = self.begin_write().await?;
        let mut appended = Ok(());
        for p in &prepared {
            appended = append_in(&mut w.tx, self.backend, p).await;
            if appended.is_err() {
                break;
            }
        }
        w.finish(appended).await
    }

    /// Up to `limit` of the agent's events with a seq above `after`, in seq
    /// order (none for an unknown agent).
    pub async fn events_after(
        &self,
        agent_id: &str,
        after: u64,
        limit: u32,
    ) -> Result<Vec<Event>, StoreError> {
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        let rows = sqlx::query(
            "SELECT seq, ts, type, data FROM events \
             WHERE agent_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(agent_id)
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| event_from_row(agent_id, r)).collect()
    }

    /// The agent's event with this seq, if stored.
    pub async fn event_at(&self, agent_id: &str, seq: u64) -> Result<Option<Event>, StoreError> {
        let Some(before) = seq.checked_sub(1) else {
            return Ok(None);
        };
        Ok(self
            .events_after(agent_id, before, 1)
            .await?
            .into_iter()
            .find(|e| e.seq == seq))
    }

    /// The seq of the agent's last event (0 if it has none or is unknown).
    pub async fn last_seq(&self, agent_id: &str) -> Result<u64, StoreError> {
        let last: Option<i64> = sqlx::query_scalar("SELECT last_seq FROM agents WHERE id = $1")
            .bind(agent_id)
            .fetch_optional(&self.pool)
            .await?;
        match last {
            None => Ok(0),
            Some(n) => u64::try_from(n).map_err(|_| StoreError::CorruptRecord {
                what: format!("agent {agent_id}"),
                reason: format!("negative last_seq {n}"),
            }),
        }
    }

    // ---- docs ----

    /// Stores the document, replacing one of the same kind and name (whose
    /// `created_at` is kept); returns it as stored.
    pub async fn put_doc(
        &self,
        kind: DocKind,
        name: &str,
        body: &serde_json::Value,
    ) -> Result<Doc, StoreError> {
        let now = Utc::now();
        let at = nanos(now)?;
        let text = body.to_string();
        let mut w = self.begin_write().await?;
        let created: i64 = sqlx::query_scalar(
            "INSERT INTO docs (kind, name, body, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $4) \
             ON CONFLICT (kind, name) DO UPDATE SET body = excluded.body, \
             updated_at = excluded.updated_at \
             RETURNING created_at",
        )
        .bind(kind.as_str())
        .bind(name)
        .bind(text)
        .bind(at)
        .fetch_one(&mut *w.tx)
        .await?;
        w.commit().await?;
        Ok(Doc {
            kind,
            name: name.to_string(),
            body: body.clone(),
            created_at: DateTime::from_timestamp_nanos(created),
            updated_at: now,
        })
    }

    /// The document of this kind and name, if any.
    pub async fn get_doc(&self, kind: DocKind, name: &str) -> Result<Option<Doc>, StoreError> {
        let row = sqlx::query(
            "SELECT name, body, created_at, updated_at FROM docs WHERE kind = $1 AND name = $2",
        )
        .bind(kind.as_str())
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(|r| doc_from_row(kind, r)).transpose()
    }

    /// The documents of this kind, by name.
    pub async fn list_docs(&self, kind: DocKind) -> Result<Vec<Doc>, StoreError> {
        let rows = sqlx::query(
            "SELECT name, body, created_at, updated_at FROM docs WHERE kind = $1 ORDER BY name",
        )
        .bind(kind.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| doc_from_row(kind, r)).collect()
    }

    /// Removes the document. False if there was none.
    pub async fn delete_doc(&self, kind: DocKind, name: &str) -> Result<bool, StoreError> {
        let mut w = self.begin_write().await?;
        let done = sqlx::query("DELETE FROM docs WHERE kind = $1 AND name = $2")
            .bind(kind.as_str())
            .bind(name)
            .execute(&mut *w.tx)
            .await?;
        w.commit().await?;
        Ok(done.rows_affected() > 0)
    }
}

/// The columns [`agent_from_row`] reads.
const AGENT_COLUMNS: &str = "id, name, config, status, status_reason, status_code, created_at, \
     updated_at, deleted_at, owner, lease_host, \
     last_seq, model_calls, input_tokens, output_tokens, cached_tokens, cost_usd, tool_calls, \
     tool_failures";

/// An event checked and turned into column values, with the changes it makes
/// to its agent's row.
struct Prepared<'a> {
    agent_id: &'a str,
    seq: u64,
    ts: i64,
    type_name: &'static str,
    data: String,
    status: Option<&'static str>,
    /// With `status`: its reason and error code.
    status_reason: Option<&'a str>,
    status_code: Option<&'static str>,
    model_calls: i64,
    input_tokens: i64,
    output_tokens: i64,
    cached_tokens: i64,
    cost_usd: f64,
    tool_calls: i64,
    tool_failures: i64,
    /// The lease the append is made under, if any.
    fence: Option<&'a Fence>,
}

impl<'a> Prepared<'a> {
    /// The same, conditional on `fence` (PostgreSQL only).
    fn under(mut self, fence: Option<&'a Fence>, backend: Backend) -> Result<Self, StoreError> {
        if fence.is_some() && backend != Backend::Postgres {
            return Err(StoreError::Invalid(
                "a fenced append needs PostgreSQL (several hosts)".into(),
            ));
        }
        self.fence = fence;
        Ok(self)
    }

    fn new(event: &'a Event) -> Result<Prepared<'a>, StoreError> {
        if !event.body.is_durable() {
            return Err(StoreError::NotDurable(event.body.type_name()));
        }
        if event.seq == 0 || i64::try_from(event.seq).is_err() {
            return Err(StoreError::Invalid(format!(
                "event seq {} out of range",
                event.seq
            )));
        }
        let mut p = Prepared {
            agent_id: &event.agent_id,
            seq: event.seq,
            ts: nanos(event.ts)?,
            type_name: event.body.type_name(),
            data: event.body.data().to_string(),
            status: None,
            status_reason: None,
            status_code: None,
            model_calls: 0,
            input_tokens: 0,
            output_tokens: 0,
            cached_tokens: 0,
            cost_usd: 0.0,
            tool_calls: 0,
            tool_failures: 0,
            fence: None,
        };
        match &event.body {
            EventBody::AgentCreated { .. } => {
                return Err(StoreError::Invalid(
                    "agent.created is stored by create_agent".into(),
                ));
            }
            EventBody::AgentStatus {
                status,
                reason,
                code,
            } => {
                p.status = Some(status.as_str());
                p.status_reason = reason.as_deref();
                p.status_code = code.map(ErrorCode::as_str);
            }
            EventBody::Usage {
                input_tokens,
                output_tokens,
                cached_tokens,
                cost_usd,
                ..
            } => {
                if !cost_usd.is_finite() || *cost_usd < 0.0 {
                    return Err(StoreError::Invalid(format!("usage cost {cost_usd}")));
                }
                p.model_calls = 1;
                p.input_tokens = count(*input_tokens)?;
                p.output_tokens = count(*output_tokens)?;
                p.cached_tokens = count(*cached_tokens)?;
                p.cost_usd = *cost_usd;
            }
            EventBody::ToolResult { success, .. } => {
                p.tool_calls = 1;
                p.tool_failures = i64::from(!*success);
            }
            _ => {}
        }
        Ok(p)
    }
}

/// The agent-row half of an append: moves `last_seq` from `seq - 1` to `seq`
/// and applies the event's changes to status and totals.
macro_rules! move_agent_sql {
    () => {
        "UPDATE agents SET last_seq = $1, updated_at = $2, status = COALESCE($3, status), \
         model_calls = model_calls + $4, input_tokens = input_tokens + $5, \
         output_tokens = output_tokens + $6, cached_tokens = cached_tokens + $7, \
         cost_usd = cost_usd + $8, tool_calls = tool_calls + $9, \
         tool_failures = tool_failures + $10, \
         status_reason = CASE WHEN $3 IS NULL THEN status_reason ELSE $13 END, \
         status_code = CASE WHEN $3 IS NULL THEN status_code ELSE $14 END \
         WHERE id = $11 AND last_seq = $12"
    };
}

/// Appends one prepared event: inside a write transaction on SQLite (two
/// statements); on PostgreSQL as one statement (a data-modifying CTE),
/// atomic by itself or inside a batch's transaction.
async fn append_in(
    conn: &mut AnyConnection,
    backend: Backend,
    p: &Prepared<'_>,
) -> Result<(), StoreError> {
    // seq fits in i64 (checked by Prepared::new) and is at least 1.
    let seq = p.seq as i64;
    let sql = match (backend, p.fence) {
        (Backend::Sqlite, _) => move_agent_sql!(),
        (Backend::Postgres, None) => concat!(
            "WITH moved AS (",
            move_agent_sql!(),
            " RETURNING id) INSERT INTO events (agent_id, seq, ts, type, data) \
             SELECT id, $1, $2, $15, $16 FROM moved"
        ),
        // Moved only under the lease; announced at commit.
        (Backend::Postgres, Some(_)) => concat!(
            "WITH moved AS (",
            move_agent_sql!(),
            " AND lease_host = $17 AND lease_gen = $18 RETURNING id), \
             ins AS (INSERT INTO events (agent_id, seq, ts, type, data) \
             SELECT id, $1, $2, $15, $16 FROM moved RETURNING agent_id) \
             SELECT pg_notify('paddock_events', agent_id || ' ' || CAST($1 AS TEXT)) FROM ins"
        ),
    };
    let mut query = sqlx::query(sql)
        .bind(seq)
        .bind(p.ts)
        .bind(p.status)
        .bind(p.model_calls)
        .bind(p.input_tokens)
        .bind(p.output_tokens)
        .bind(p.cached_tokens)
        .bind(p.cost_usd)
        .bind(p.tool_calls)
        .bind(p.tool_failures)
        .bind(p.agent_id)
        .bind(seq - 1)
        .bind(p.status_reason)
        .bind(p.status_code);
    if backend == Backend::Postgres {
        query = query.bind(p.type_name).bind(&p.data);
    }
    if let Some(fence) = p.fence {
        query = query.bind(&fence.host).bind(fence.generation);
    }
    let moved = match query.execute(&mut *conn).await {
        Ok(done) => done,
        Err(e) if is_unique_violation(&e) => return Err(refusal(conn, p).await),
        Err(e) => return Err(e.into()),
    };
    if moved.rows_affected() == 0 {
        return Err(refusal(conn, p).await);
    }
    if backend == Backend::Postgres {
        return Ok(());
    }
    let inserted = sqlx::query(
        "INSERT INTO events (agent_id, seq, ts, type, data) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(p.agent_id)
    .bind(seq)
    .bind(p.ts)
    .bind(p.type_name)
    .bind(&p.data)
    .execute(&mut *conn)
    .await;
    match inserted {
        Ok(_) => Ok(()),
        Err(e) if is_unique_violation(&e) => Err(refusal(conn, p).await),
        Err(e) => Err(e.into()),
    }
}

/// Why an append was refused: the agent is unknown or its `last_seq` is not
/// `seq - 1`.
async fn refusal(conn: &mut AnyConnection, p: &Prepared<'_>) -> StoreError {
    let row = sqlx::query("SELECT last_seq, lease_host, lease_gen FROM agents WHERE id = $1")
        .bind(p.agent_id)
        .fetch_optional(&mut *conn)
        .await;
    let row = match row {
        Err(e) => return e.into(),
        Ok(None) => return StoreError::UnknownAgent(p.agent_id.to_string()),
        Ok(Some(row)) => row,
    };
    let read = || -> Result<(i64, Option<String>, i64), sqlx::Error> {
        Ok((
            row.try_get("last_seq")?,
            row.try_get("lease_host")?,
            row.try_get("lease_gen")?,
        ))
    };
    let (last, holder, generation) = match read() {
        Ok(v) => v,
        Err(e) => return e.into(),
    };
    if let Some(fence) = p.fence
        && (holder.as_deref() != Some(fence.host.as_str()) || generation != fence.generation)
    {
        return StoreError::Fenced {
            agent: p.agent_id.to_string(),
            holder: holder.unwrap_or_else(|| "no host".into()),
        };
    }
    StoreError::SeqConflict {
        agent: p.agent_id.to_string(),
        expected: u64::try_from(last).unwrap_or(0).saturating_add(1),
        got: p.seq,
    }
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_unique_violation())
}

/// A time as integer nanoseconds since the epoch: exact on both databases
/// for the years 1677–2262.
fn nanos(t: DateTime<Utc>) -> Result<i64, StoreError> {
    t.timestamp_nanos_opt()
        .ok_or_else(|| StoreError::Invalid(format!("time {t} out of range")))
}

fn count(n: u64) -> Result<i64, StoreError> {
    i64::try_from(n).map_err(|_| StoreError::Invalid(format!("count {n} out of range")))
}

fn event_from_row(agent_id: &str, row: &AnyRow) -> Result<Event, StoreError> {
    let seq: i64 = row.try_get("seq")?;
    let corrupt = |reason: String| StoreError::Corrupt {
        agent: agent_id.to_string(),
        seq: u64::try_from(seq).unwrap_or(0),
        reason,
    };
    let seq = u64::try_from(seq).map_err(|_| corrupt(format!("negative seq {seq}")))?;
    let ts: i64 = row.try_get("ts")?;
    let type_name: String = row.try_get("type")?;
    let data: String = row.try_get("data")?;
    let data: serde_json::Value =
        serde_json::from_str(&data).map_err(|e| corrupt(format!("data is not JSON: {e}")))?;
    let body = EventBody::from_parts(&type_name, data)
        .map_err(|e| corrupt(format!("not a valid {type_name} event: {e}")))?;
    Ok(Event {
        seq,
        agent_id: agent_id.to_string(),
        ts: DateTime::from_timestamp_nanos(ts),
        body,
    })
}

fn agent_from_row(row: &AnyRow) -> Result<AgentRecord, StoreError> {
    let id: String = row.try_get("id")?;
    let corrupt = |reason: String| StoreError::CorruptRecord {
        what: format!("agent {id}"),
        reason,
    };
    let unsigned = |column: &str| -> Result<u64, StoreError> {
        let v: i64 = row.try_get(column)?;
        u64::try_from(v).map_err(|_| corrupt(format!("negative {column} {v}")))
    };
    let config: String = row.try_get("config")?;
    let config: AgentConfig =
        serde_json::from_str(&config).map_err(|e| corrupt(format!("config: {e}")))?;
    let status: String = row.try_get("status")?;
    let status: AgentStatus = serde_json::from_value(serde_json::Value::String(status))
        .map_err(|e| corrupt(format!("status: {e}")))?;
    let deleted_at: Option<i64> = row.try_get("deleted_at")?;
    let status_code: Option<String> = row.try_get("status_code")?;
    let status_code: Option<ErrorCode> = status_code
        .map(|c| serde_json::from_value(serde_json::Value::String(c)))
        .transpose()
        .map_err(|e| corrupt(format!("status_code: {e}")))?;
    Ok(AgentRecord {
        name: row.try_get("name")?,
        config,
        status,
        status_reason: row.try_get("status_reason")?,
        status_code,
        created_at: DateTime::from_timestamp_nanos(row.try_get("created_at")?),
        updated_at: DateTime::from_timestamp_nanos(row.try_get("updated_at")?),
        deleted_at: deleted_at.map(DateTime::from_timestamp_nanos),
        owner: row
            .try_get::<Option<String>, _>("owner")?
            .unwrap_or_else(|| LOCAL_USER.to_string()),
        host: row.try_get("lease_host")?,
        last_seq: unsigned("last_seq")?,
        usage: UsageTotals {
            model_calls: unsigned("model_calls")?,
            input_tokens: unsigned("input_tokens")?,
            output_tokens: unsigned("output_tokens")?,
            cached_tokens: unsigned("cached_tokens")?,
            cost_usd: row.try_get("cost_usd")?,
            tool_calls: unsigned("tool_calls")?,
            tool_failures: unsigned("tool_failures")?,
        },
        id,
    })
}

fn doc_from_row(kind: DocKind, row: &AnyRow) -> Result<Doc, StoreError> {
    let name: String = row.try_get("name")?;
    let body: String = row.try_get("body")?;
    let body = serde_json::from_str(&body).map_err(|e| StoreError::CorruptRecord {
        what: format!("doc {}/{name}", kind.as_str()),
        reason: format!("body is not JSON: {e}"),
    })?;
    Ok(Doc {
        kind,
        body,
        created_at: DateTime::from_timestamp_nanos(row.try_get("created_at")?),
        updated_at: DateTime::from_timestamp_nanos(row.try_get("updated_at")?),
        name,
    })
}
