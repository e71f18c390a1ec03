//! SQLite backend: WAL, foreign keys on, `BEGIN IMMEDIATE` for every write
//! transaction, `synchronous=NORMAL` (a committed write survives a process crash; the
//! last transactions may be lost on power failure — documented in the README).

pub(crate) mod group;
pub mod metadata;
pub(crate) mod search;

use std::{str::FromStr, sync::Arc, time::Duration};

use sqlx::{
    SqlitePool,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};
use switchyard_store::{Result, StoreError};

use crate::{SqlStore, SqliteStore};

pub use metadata::push_contains;

/// What only a SQLite store has: the background WAL checkpointer (stopped when the last
/// clone of the store goes) and the group commit of gateway-sized `/mapping` writes
/// (file databases only).
pub(crate) struct Extra {
    _checkpoints: Option<TaskGuard>,
    pub(crate) group: Option<group::GroupWriter>,
}

/// Aborts its task when dropped.
struct TaskGuard(tokio::task::JoinHandle<()>);

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// How the background checkpointer runs (see [`checkpoints`]).
#[derive(Debug, Clone, Copy)]
struct Checkpointing {
    /// Between two PASSIVE checkpoints.
    every: Duration,
    /// WAL frames (pages) past which the WAL is made to start over.
    restart_frames: i64,
}

/// Every half second; restart past about 32 MiB of WAL at the default 4 KiB page.
const CHECKPOINTING: Checkpointing = Checkpointing {
    every: Duration::from_millis(500),
    restart_frames: 8192,
};

/// The background checkpointer. Every `every`, a PASSIVE checkpoint on a reader
/// connection copies what it can of the WAL into the database, blocking nobody. Since
/// writes keep appending, that alone never lets the WAL start over; so past
/// `restart_frames` a few more passive passes catch up ([`CATCH_UP_PASSES`]) and then
/// a RESTART on the writer connection copies the little left and waits for readers to
/// leave the WAL (at most [`RESTART_WAIT_MS`]), so the next write starts it over.
async fn checkpoints(readers: SqlitePool, writer: SqlitePool, how: Checkpointing) {
    let mut tick = tokio::time::interval(how.every);
    // The WAL length at which the next RESTART is tried, and how much further the one
    // after waits if this one gives up (a reader kept the WAL): doubling each time, so
    // a long reader costs the writer a few short waits, not one every tick.
    let mut next_restart = how.restart_frames;
    let mut backoff = how.restart_frames;
    loop {
        tick.tick().await;
        let Some(mut frames) = passive_checkpoint(&readers).await else {
            continue;
        };
        if frames <= next_restart {
            continue;
        }
        for _ in 0..CATCH_UP_PASSES {
            match passive_checkpoint(&readers).await {
                Some(now) if now - frames >= CAUGHT_UP_FRAMES => frames = now,
                _ => break,
            }
        }
        match restart_checkpoint(&writer).await {
            Ok(true) => {
                next_restart = how.restart_frames;
                backoff = how.restart_frames;
            }
            Ok(false) => {
                backoff = backoff.saturating_mul(2);
                next_restart = frames.saturating_add(backoff);
            }
            Err(e) => tracing::debug!(error = %e, "restart checkpoint"),
        }
    }
}

/// How long a write waits for a lock (only checkpoints and migrations take one).
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the RESTART checkpoint waits for readers to leave the WAL: a long scan must
/// not hold up the writes queued behind it. A RESTART that gives up has still copied
/// the WAL; a later tick tries again.
const RESTART_WAIT_MS: u128 = 50;

/// A RESTART checkpoint on the writer connection; false when it gave up waiting.
async fn restart_checkpoint(writer: &SqlitePool) -> std::result::Result<bool, sqlx::Error> {
    let mut c = writer.acquire().await?;
    let set = |ms: u128| sqlx::AssertSqlSafe(format!("PRAGMA busy_timeout = {ms}"));
    sqlx::query(set(RESTART_WAIT_MS)).execute(&mut *c).await?;
    let r = sqlx::query_as::<_, (i64, i64, i64)>("PRAGMA wal_checkpoint(RESTART)")
        .fetch_one(&mut *c)
        .await;
    sqlx::query(set(BUSY_TIMEOUT.as_millis()))
        .execute(&mut *c)
        .await?;
    r.map(|(busy, _log, _copied)| busy == 0)
}

/// Passive passes before a RESTART, at most.
const CATCH_UP_PASSES: usize = 4;
/// Frames appended during a pass below which the RESTART goes ahead.
const CAUGHT_UP_FRAMES: i64 = 256;

/// A PASSIVE checkpoint; returns the WAL's length in frames.
async fn passive_checkpoint(readers: &SqlitePool) -> Option<i64> {
    match sqlx::query_as::<_, (i64, i64, i64)>("PRAGMA wal_checkpoint(PASSIVE)")
        .fetch_one(readers)
        .await
    {
        Ok((_busy, log, _copied)) => Some(log),
        Err(e) => {
            tracing::debug!(error = %e, "background checkpoint");
            None
        }
    }
}

impl SqlStore<sqlx::Sqlite> {
    /// Opens (creating if missing) the database at `url` (`sqlite://path` or
    /// `sqlite::memory:`) and applies the migrations.
    pub async fn open(url: &str) -> Result<SqliteStore> {
        SqliteStore::open_with(url, CHECKPOINTING).await
    }

    async fn open_with(url: &str, how: Checkpointing) -> Result<SqliteStore> {
        let opts = SqliteConnectOptions::from_str(url)
            .map_err(other)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            // Checkpoints run in the background (below), not inside a writer's commit,
            // so a commit never pays for copying the WAL back into the database.
            .pragma("wal_autocheckpoint", "0")
            // When the WAL starts over, a file grown past this is cut back to it.
            .pragma("journal_size_limit", "67108864")
            // Reads come straight from the OS page cache through a memory map (up to
            // 1 GiB of the file): one copy of each page for all connections, instead of
            // a private page cache per connection that duplicates it. Scans and random
            // lookups in large fleets then cost no read() call and no copy per page. The
            // page cache is left for dirty pages and bookkeeping: 8 MiB.
            .pragma("mmap_size", "1073741824")
            .pragma("cache_size", "-8192");
        private_files(opts.get_filename()).map_err(other)?;
        // No ping before handing out a connection: an in-process SQLite connection
        // cannot have gone away, and the ping is a round trip to its thread on every
        // acquire.
        let pool_of = |n: u32| {
            SqlitePoolOptions::new()
                .max_connections(n)
                .min_connections(1)
                .test_before_acquire(false)
                .acquire_timeout(Duration::from_secs(30))
                .connect_with(opts.clone())
        };
        // The migrations run before any reader connection exists: a connection opened
        // earlier keeps the old schema cached, and its first `SELECT *` of a table a
        // migration altered would come back with more columns than it was prepared for.
        // An in-memory database exists per connection: there, reads and writes share
        // one pool.
        let (pool, writer) = if url.contains(":memory:") {
            let pool = pool_of(8).await.map_err(other)?;
            migrate(&pool).await?;
            (pool.clone(), pool)
        } else {
            let writer = pool_of(1).await.map_err(other)?;
            migrate(&writer).await?;
            (pool_of(8).await.map_err(other)?, writer)
        };
        let memory = url.contains(":memory:");
        let checkpoints = (!memory).then(|| {
            let (p, w) = (pool.clone(), writer.clone());
            TaskGuard(tokio::spawn(checkpoints(p, w, how)))
        });
        let group = (!memory).then(|| group::GroupWriter::start(writer.clone()));
        let store = SqlStore {
            pool,
            writer,
            extra: Some(Arc::new(Extra {
                _checkpoints: checkpoints,
                group,
            })),
            fresh: Default::default(),
        };
        Ok(store)
    }

    pub async fn migrate(&self) -> Result<()> {
        migrate(&self.writer).await
    }
}

async fn migrate(writer: &SqlitePool) -> Result<()> {
    sqlx::migrate!("./migrations/sqlite")
        .run(writer)
        .await
        .map_err(|e| StoreError::Other(format!("migration failed: {e}")))
}

fn other(e: impl std::fmt::Display) -> StoreError {
    StoreError::Other(e.to_string())
}

/// The database is readable by its owner only: created 0600 before SQLite opens it
/// (SQLite gives its -wal and -shm files the database file's mode), and narrowed to
/// 0600 if an older start left it wider.
fn private_files(db: &std::path::Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        if db.as_os_str().is_empty() || db.to_string_lossy().contains(":memory:") {
            return Ok(());
        }
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(db)?;
        let mut names = vec![db.as_os_str().to_owned()];
        for suffix in ["-wal", "-shm"] {
            let mut n = db.as_os_str().to_owned();
            n.push(suffix);
            names.push(n);
        }
        for n in names {
            if std::path::Path::new(&n).exists() {
                std::fs::set_permissions(&n, std::fs::Permissions::from_mode(0o600))?;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = db;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file store that checkpoints every 20 ms and restarts the WAL past 64 frames,
    /// with an empty `filler` table.
    async fn filler_store(dir: &tempfile::TempDir) -> SqliteStore {
        let how = Checkpointing {
            every: Duration::from_millis(20),
            restart_frames: 64,
        };
        let url = format!("sqlite://{}", dir.path().join("f.db").display());
        let store = SqliteStore::open_with(&url, how).await.expect("open");
        sqlx::query("CREATE TABLE filler (x BLOB)")
            .execute(&store.writer)
            .await
            .expect("create");
        store
    }

    /// One write transaction of 16 pages.
    async fn fill(store: &SqliteStore) {
        sqlx::query(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 16) \
             INSERT INTO filler SELECT randomblob(4000) FROM n",
        )
        .execute(&store.writer)
        .await
        .expect("write");
    }

    async fn filler_rows(store: &SqliteStore) -> i64 {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM filler")
            .fetch_one(&store.pool)
            .await
            .expect("count");
        n
    }

    /// Writes keep coming and readers keep reading, as under load: the WAL still
    /// starts over instead of growing without bound.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn wal_stays_bounded_under_continuous_reads_and_writes() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = filler_store(&dir).await;
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let reader = {
            let (store, stop) = (store.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    filler_rows(&store).await;
                }
            })
        };
        let wal = dir.path().join("f.db-wal");
        let mut largest = 0;
        // 400 transactions of 16 pages each: about 26 MB of WAL if it never started over.
        for i in 0..400 {
            fill(&store).await;
            largest = largest.max(std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0));
            if i % 8 == 0 {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        reader.await.expect("reader");
        assert_eq!(filler_rows(&store).await, 400 * 16, "every write is kept");
        assert!(
            largest < 12 * 1024 * 1024,
            "the WAL grew to {largest} bytes; it should start over past 64 frames"
        );
    }

    /// A reader that keeps its snapshot open (a long scan) does not hold up writes:
    /// the RESTART checkpoint waiting for it gives up after a moment.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_long_reader_does_not_stall_writes() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = filler_store(&dir).await;
        fill(&store).await;
        // A read transaction on a snapshot that includes a frame in the WAL.
        let mut reader = store.pool.acquire().await.expect("reader");
        sqlx::raw_sql("BEGIN; SELECT COUNT(*) FROM filler")
            .execute(&mut *reader)
            .await
            .expect("begin read");
        // Enough writes for several RESTART attempts while the reader stays; each may
        // wait RESTART_WAIT_MS at most, not the busy timeout.
        let writes = async {
            for _ in 0..200 {
                fill(&store).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(8), writes)
            .await
            .expect("writes went on while the reader held its snapshot");
        sqlx::raw_sql("COMMIT")
            .execute(&mut *reader)
            .await
            .expect("end read");
        assert_eq!(filler_rows(&store).await, 201 * 16);
    }
}
