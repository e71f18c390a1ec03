//! SQLite backend: WAL, foreign keys on, `BEGIN IMMEDIATE` for every write
//! transaction, `synchronous=NORMAL` (a committed write survives a process crash; the
//! last transactions may be lost on power failure — documented in the README).

mod bootstrap;
mod certs;
mod channels;
mod clients;
mod connections;
mod domains;
mod group;
mod list;
mod metadata;
mod users;

use std::{str::FromStr, sync::Arc, time::Duration};

use async_trait::async_trait;
use sqlx::{
    Sqlite, SqlitePool, Transaction,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};
use switchyard_domain::{Metadata, Timestamp};
use switchyard_store::{ConflictKind, Result, Store, StoreError};
use uuid::Uuid;

pub use metadata::push_contains;

#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// One connection for every write: writers queue in process (FIFO) instead of
    /// sleeping in SQLite's busy-handler backoff, which gave long write tails.
    writer: SqlitePool,
    /// The background WAL checkpointer; stops when the last clone of the store goes.
    _checkpoints: Option<Arc<TaskGuard>>,
    /// Group commit of gateway-sized `/mapping` writes (file databases only).
    group: Option<group::GroupWriter>,
}

/// Aborts its task when dropped.
struct TaskGuard(tokio::task::JoinHandle<()>);

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url` (`sqlite://path` or
    /// `sqlite::memory:`) and applies the migrations.
    pub async fn open(url: &str) -> Result<SqliteStore> {
        let opts = SqliteConnectOptions::from_str(url)
            .map_err(other)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            // Checkpoints run in the background (below), not inside a writer's commit,
            // so a commit never pays for copying the WAL back into the database.
            .pragma("wal_autocheckpoint", "0")
            // Up to 64 MiB of page cache per connection (SQLite's default is 2 MiB):
            // random-key indexes (UUID ids, secrets) of a large fleet otherwise miss it
            // on most inserts and lookups and read their pages back from the OS. The
            // cache fills only as pages are touched, so an idle server stays small.
            .pragma("cache_size", "-65536");
        // No ping before handing out a connection: an in-process SQLite connection
        // cannot have gone away, and the ping is a round trip to its thread on every
        // acquire.
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .min_connections(1)
            .test_before_acquire(false)
            .connect_with(opts.clone())
            .await
            .map_err(other)?;
        // An in-memory database exists per connection: there, reads and writes share one pool.
        let writer = if url.contains(":memory:") {
            pool.clone()
        } else {
            SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .test_before_acquire(false)
                .acquire_timeout(Duration::from_secs(30))
                .connect_with(opts)
                .await
                .map_err(other)?
        };
        let checkpoints = if url.contains(":memory:") {
            None
        } else {
            let p = pool.clone();
            Some(Arc::new(TaskGuard(tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_millis(500));
                loop {
                    tick.tick().await;
                    // PASSIVE never blocks readers or the writer.
                    if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                        .execute(&p)
                        .await
                    {
                        tracing::debug!(error = %e, "background checkpoint");
                    }
                }
            }))))
        };
        let group = (!url.contains(":memory:")).then(|| {
            group::GroupWriter::start(writer.clone(), bootstrap::GROUP_ROWS, bootstrap::push_plans)
        });
        let store = SqliteStore {
            pool,
            writer,
            _checkpoints: checkpoints,
            group,
        };
        store.migrate().await?;
        Ok(store)
    }

    pub async fn migrate(&self) -> Result<()> {
        sqlx::migrate!("./migrations")
            .run(&self.writer)
            .await
            .map_err(|e| StoreError::Other(format!("migration failed: {e}")))
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    async fn write_tx(&self) -> Result<Transaction<'static, Sqlite>> {
        self.writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(map_err)
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }
    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.writer)
            .await
            .map(|_| ())
            .map_err(map_err)
    }
}

pub(crate) fn other(e: impl std::fmt::Display) -> StoreError {
    StoreError::Other(e.to_string())
}

/// The one place sqlx errors become store errors.
pub(crate) fn map_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::RowNotFound => StoreError::NotFound,
        sqlx::Error::Database(db) => {
            let msg = db.message();
            if let Some(cols) = msg.strip_prefix("UNIQUE constraint failed: ") {
                let kind = match cols {
                    "users.email" => ConflictKind::UserEmail,
                    "users.username" => ConflictKind::Username,
                    "users.id" => ConflictKind::UserId,
                    "domains.route" => ConflictKind::DomainRoute,
                    "domains.id" => ConflictKind::DomainId,
                    "clients.id" => ConflictKind::ClientId,
                    "clients.domain_id, clients.secret" => ConflictKind::ClientSecret,
                    "channels.id" => ConflictKind::ChannelId,
                    "channels.domain_id, channels.route" => ConflictKind::ChannelRoute,
                    "bootstrap_configs.external_id" => ConflictKind::ExternalId,
                    _ => ConflictKind::Other,
                };
                StoreError::Conflict { kind, index: None }
            } else if msg.contains("PRIMARY KEY") || msg.contains("constraint failed: users.id") {
                StoreError::Conflict {
                    kind: ConflictKind::Other,
                    index: None,
                }
            } else {
                StoreError::Other(e.to_string())
            }
        }
        _ => StoreError::Other(e.to_string()),
    }
}

pub(crate) fn ts(t: Timestamp) -> i64 {
    // i64 nanoseconds cover the years 1677..2262; the zero time never reaches the store.
    i64::try_from(t.unix_timestamp_nanos()).unwrap_or(i64::MAX)
}

pub(crate) fn ts_opt(t: Option<Timestamp>) -> Option<i64> {
    t.map(ts)
}

pub(crate) fn from_ts(n: i64) -> Timestamp {
    Timestamp::from_unix_timestamp_nanos(i128::from(n)).unwrap_or(Timestamp::UNIX_EPOCH)
}

pub(crate) fn from_ts_opt(n: Option<i64>) -> Option<Timestamp> {
    n.map(from_ts)
}

pub(crate) fn id(s: &str) -> Result<Uuid> {
    Uuid::parse_str(s).map_err(other)
}

pub(crate) fn id_opt(s: Option<String>) -> Result<Option<Uuid>> {
    s.as_deref().map(id).transpose()
}

pub(crate) fn json_map(s: &str) -> Result<Metadata> {
    serde_json::from_str(s).map_err(other)
}

pub(crate) fn json_tags(s: &str) -> Result<Vec<String>> {
    serde_json::from_str(s).map_err(other)
}

pub(crate) fn to_json<T: serde::Serialize + ?Sized>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

pub(crate) fn sort_at(created: Timestamp, updated: Option<Timestamp>) -> i64 {
    ts(updated.unwrap_or(created))
}

/// Affected-rows check: zero rows means the entity was not there.
pub(crate) fn one(res: sqlx::sqlite::SqliteQueryResult) -> Result<()> {
    if res.rows_affected() == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}
