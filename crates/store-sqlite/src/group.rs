//! Group commit for `/mapping` on SQLite.
//!
//! SQLite has one writer. Each gateway used to be its own transaction: BEGIN, the
//! inserts, COMMIT, three round trips to the writer connection's thread, with every
//! other caller queued behind them. Here callers build their INSERT batch on their own
//! task and queue it; one task takes whatever is queued (up to [`MAX_GROUP`]) and runs
//! it in ONE transaction, each gateway inside its own SAVEPOINT. A gateway whose batch
//! fails (a taken external id, a failing trigger) is rolled back to its savepoint and
//! gets its own error; the others commit. A caller hears "done" only after COMMIT.

use sqlx::{QueryBuilder, Sqlite, SqlitePool};
use switchyard_store::{Result, StoreError};
use tokio::sync::{mpsc, oneshot};

use crate::map_err;

/// Gateways committed together at most.
pub(crate) const MAX_GROUP: usize = 64;
/// Queued gateways at most; callers wait for room beyond that.
const QUEUE: usize = 1024;
/// The savepoint every batch runs in (the name is ours; sqlx's own are `_sqlx_*`).
pub(crate) const SAVEPOINT: &str = "sy_gateway";

struct Job {
    /// `SAVEPOINT …; INSERT …; …; RELEASE …` as one multi-statement query.
    batch: QueryBuilder<Sqlite>,
    done: oneshot::Sender<Result<()>>,
}

/// The queue into the group-commit task; the task ends when the last sender is gone.
#[derive(Clone)]
pub(crate) struct GroupWriter {
    tx: mpsc::Sender<Job>,
}

impl GroupWriter {
    /// Starts the task on `writer` (the store's one write connection).
    pub(crate) fn start(writer: SqlitePool) -> GroupWriter {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(writer, rx));
        GroupWriter { tx }
    }

    /// Runs `batch` (built by [`wrap`]) in the next group; returns once it committed or
    /// failed.
    pub(crate) async fn submit(&self, batch: QueryBuilder<Sqlite>) -> Result<()> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Job { batch, done })
            .await
            .map_err(|_| StoreError::Other("the SQLite group writer has stopped".into()))?;
        wait.await
            .map_err(|_| StoreError::Other("the SQLite group writer has stopped".into()))?
    }
}

/// A new batch: pushes the opening SAVEPOINT. Push the statements (each followed by
/// `; `), then call [`close`].
pub(crate) fn open() -> QueryBuilder<Sqlite> {
    QueryBuilder::new(format!("SAVEPOINT {SAVEPOINT}; "))
}

/// Ends a batch opened by [`open`].
pub(crate) fn close(qb: &mut QueryBuilder<Sqlite>) {
    qb.push(format!("RELEASE {SAVEPOINT}"));
}

async fn run(writer: SqlitePool, mut rx: mpsc::Receiver<Job>) {
    let mut jobs = Vec::with_capacity(MAX_GROUP);
    while let Some(first) = rx.recv().await {
        jobs.push(first);
        while jobs.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        commit_group(&writer, &mut jobs).await;
    }
}

async fn commit_group(writer: &SqlitePool, jobs: &mut Vec<Job>) {
    let mut tx = match writer.begin_with("BEGIN IMMEDIATE").await {
        Ok(t) => t,
        Err(e) => {
            let msg = e.to_string();
            for j in jobs.drain(..) {
                let _ = j.done.send(Err(StoreError::Other(msg.clone())));
            }
            return;
        }
    };
    let mut outcomes: Vec<Result<()>> = Vec::with_capacity(jobs.len());
    for j in jobs.iter_mut() {
        let r = j.batch.build().execute(&mut *tx).await.map(|_| ());
        match r {
            Ok(()) => outcomes.push(Ok(())),
            Err(e) => {
                // Undo this gateway's statements only; the transaction goes on.
                let undo = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "ROLLBACK TO {SAVEPOINT}; RELEASE {SAVEPOINT}"
                )))
                .execute(&mut *tx)
                .await;
                if let Err(u) = undo {
                    // The transaction is in an unknown state: fail the whole group.
                    tracing::warn!(error = %u, "sqlite group commit: rollback to savepoint failed");
                    drop(tx);
                    let msg = u.to_string();
                    for j in jobs.drain(..) {
                        let _ = j.done.send(Err(StoreError::Other(msg.clone())));
                    }
                    return;
                }
                outcomes.push(Err(map_err(e)));
            }
        }
    }
    let committed = tx.commit().await;
    for (j, o) in jobs.drain(..).zip(outcomes) {
        let o = match (&committed, o) {
            (Ok(()), o) => o,
            (Err(e), Ok(())) => Err(StoreError::Other(e.to_string())),
            (Err(_), Err(e)) => Err(e),
        };
        let _ = j.done.send(o);
    }
}
