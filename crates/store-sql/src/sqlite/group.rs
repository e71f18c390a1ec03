//! Group commit for `/mapping` on SQLite.
//!
//! SQLite has one writer, and every call into a connection is a round trip to that
//! connection's thread; on a busy machine each round trip waits for a CPU. So callers
//! queue their gateways and one task writes whatever is queued (up to [`MAX_GROUP`])
//! as a single statement list sent in one call:
//! `BEGIN IMMEDIATE; INSERT clients …; INSERT channels …; INSERT connections …;
//! INSERT bootstrap_configs …; COMMIT`, each INSERT carrying the rows of every gateway
//! of the group. A caller hears "done" only after COMMIT.
//!
//! If that list fails (one gateway's external id is taken, a trigger refuses a row),
//! it is rolled back whole and the group is written again gateway by gateway, each in
//! its own SAVEPOINT: the failing gateway gets its own error, the others commit.

use sqlx::{Connection, QueryBuilder, Sqlite, SqlitePool, pool::PoolConnection};
use switchyard_store::{ProvisionPlan, Result, StoreError};
use tokio::sync::{mpsc, oneshot};

use crate::{Dialect, bootstrap::push_plans, connections, entity};
use switchyard_domain::{Channel, Client};

/// Gateways committed together at most.
pub(crate) const MAX_GROUP: usize = 64;
/// Queued gateways at most; callers wait for room beyond that.
const QUEUE: usize = 1024;
/// The savepoint of each gateway on the slow path (sqlx's own are `_sqlx_*`).
const SAVEPOINT: &str = "sy_gateway";

struct Job {
    plan: ProvisionPlan,
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

    /// Whether `plan` can go through the group: each of its tables fits one INSERT,
    /// and it issues no certificates.
    pub(crate) fn takes(&self, plan: &ProvisionPlan) -> bool {
        plan.certs.is_empty() && Rows::default().add(plan)
    }

    /// Writes `plan` in the next group; returns once it committed or failed.
    pub(crate) async fn submit(&self, plan: ProvisionPlan) -> Result<()> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Job { plan, done })
            .await
            .map_err(|_| stopped())?;
        wait.await.map_err(|_| stopped())?
    }
}

fn stopped() -> StoreError {
    StoreError::Other("the SQLite group writer has stopped".into())
}

/// Row counts per table of a group being gathered.
#[derive(Default)]
struct Rows {
    clients: usize,
    channels: usize,
    connections: usize,
}

/// The rows one group may carry: each multi-row INSERT stays under SQLite's 32,766
/// bound parameters per statement.
fn max_rows() -> Rows {
    Rows {
        clients: entity::chunk::<Sqlite, Client>(),
        channels: entity::chunk::<Sqlite, Channel>(),
        connections: connections::CHUNK,
    }
}

impl Rows {
    /// Adds `p` if the group's INSERTs still fit [`MAX_ROWS`] with it.
    fn add(&mut self, p: &ProvisionPlan) -> bool {
        let next = Rows {
            clients: self.clients + p.clients.len(),
            channels: self.channels + p.channels.len(),
            connections: self.connections + p.connections.len(),
        };
        let max = max_rows();
        if next.clients > max.clients
            || next.channels > max.channels
            || next.connections > max.connections
        {
            return false;
        }
        *self = next;
        true
    }
}

async fn run(writer: SqlitePool, mut rx: mpsc::Receiver<Job>) {
    let mut jobs = Vec::with_capacity(MAX_GROUP);
    // A job taken from the queue that did not fit the previous group.
    let mut carried: Option<Job> = None;
    loop {
        let first = match carried.take() {
            Some(j) => j,
            None => match rx.recv().await {
                Some(j) => j,
                None => return,
            },
        };
        // The first always fits: `takes` let it in.
        let mut rows = Rows::default();
        rows.add(&first.plan);
        jobs.push(first);
        while jobs.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(j) if rows.add(&j.plan) => jobs.push(j),
                Ok(j) => {
                    carried = Some(j);
                    break;
                }
                Err(_) => break,
            }
        }
        commit_group(&writer, &mut jobs).await;
    }
}

async fn commit_group(writer: &SqlitePool, jobs: &mut Vec<Job>) {
    let mut conn = match writer.acquire().await {
        Ok(c) => c,
        Err(e) => return fail_all(jobs, &e.to_string()),
    };
    let plans: Vec<&ProvisionPlan> = jobs.iter().map(|j| &j.plan).collect();
    let mut qb = QueryBuilder::<Sqlite>::new("BEGIN IMMEDIATE; ");
    push_plans(&mut qb, &plans);
    qb.push("COMMIT");
    let fast = qb.build().execute(&mut *conn).await;
    if fast.is_ok() {
        for j in jobs.drain(..) {
            let _ = j.done.send(Ok(()));
        }
        return;
    }
    // Undo whatever of the list ran; "no transaction is active" (BEGIN itself
    // failed) is fine. Anything else leaves the connection in an unknown state: it is
    // closed, and the pool opens a fresh one.
    if let Err(e) = sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await
        && !e.to_string().contains("no transaction is active")
    {
        tracing::warn!(error = %e, "sqlite group commit: rollback failed");
        conn.close_on_drop();
        drop(conn);
        return fail_all(jobs, &e.to_string());
    }
    one_by_one(conn, jobs).await;
}

/// The slow path: the group again, each gateway in its own savepoint.
async fn one_by_one(mut conn: PoolConnection<Sqlite>, jobs: &mut Vec<Job>) {
    let mut tx = match conn.begin_with(Sqlite::BEGIN_WRITE).await {
        Ok(t) => t,
        Err(e) => return fail_all(jobs, &e.to_string()),
    };
    let mut outcomes: Vec<Result<()>> = Vec::with_capacity(jobs.len());
    for j in jobs.iter() {
        let mut qb = QueryBuilder::<Sqlite>::new(format!("SAVEPOINT {SAVEPOINT}; "));
        push_plans(&mut qb, &[&j.plan]);
        qb.push(format!("RELEASE {SAVEPOINT}"));
        match qb.build().execute(&mut *tx).await {
            Ok(_) => outcomes.push(Ok(())),
            Err(e) => {
                // Undo this gateway's statements only; the transaction goes on.
                let undo = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "ROLLBACK TO {SAVEPOINT}; RELEASE {SAVEPOINT}"
                )))
                .execute(&mut *tx)
                .await;
                if let Err(u) = undo {
                    // The transaction is in an unknown state: fail the whole group
                    // (dropping `tx` rolls it back).
                    tracing::warn!(error = %u, "sqlite group commit: rollback to savepoint failed");
                    drop(tx);
                    return fail_all(jobs, &u.to_string());
                }
                outcomes.push(Err(Sqlite::err(e)));
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

fn fail_all(jobs: &mut Vec<Job>, msg: &str) {
    for j in jobs.drain(..) {
        let _ = j.done.send(Err(StoreError::Other(msg.to_string())));
    }
}
