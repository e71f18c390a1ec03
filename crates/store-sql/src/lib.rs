//! The Switchyard store, written once for SQLite (the embedded default) and PostgreSQL.
//!
//! Every repository is implemented once for [`SqlStore<D>`], generic over the database
//! `D` through the small [`Dialect`] trait (`dialect.rs`, the only place the two differ
//! in binds, decoding, text match, JSON containment and error names). What only one
//! database can do lives in its own module: `sqlite` (pool setup, the WAL checkpointer,
//! the group-commit writer for `/mapping`, JSON containment over JSON1) and `postgres`
//! (pool setup). Every multi-row write is one transaction.

mod access;
mod bootstrap;
mod certs;
mod channels;
mod clients;
mod connections;
pub mod dialect;
mod domains;
mod entity;
mod groups;
mod list;
mod mqtt_sessions;
mod pats;
pub mod postgres;
pub mod sqlite;
mod stats;
mod users;

use std::sync::Arc;

use async_trait::async_trait;
use sqlx::{Pool, Transaction};
use switchyard_domain::Timestamp;
use switchyard_store::{ClusterRepo, Result, Store};

pub use dialect::Dialect;
use dialect::sql;

/// The store on SQLite.
pub type SqliteStore = SqlStore<sqlx::Sqlite>;
/// The store on PostgreSQL.
pub type PostgresStore = SqlStore<sqlx::Postgres>;

/// A store on database `D`: a pool for reads, one for writes (the same pool on
/// PostgreSQL; on SQLite a single connection, so writers queue in process instead of
/// in SQLite's busy handler), and what only that database needs.
pub struct SqlStore<D: Dialect> {
    pool: Pool<D>,
    writer: Pool<D>,
    extra: Option<Arc<sqlite::Extra>>,
    fresh: Arc<stats::Freshness>,
}

impl<D: Dialect> Clone for SqlStore<D> {
    fn clone(&self) -> Self {
        SqlStore {
            pool: self.pool.clone(),
            writer: self.writer.clone(),
            extra: self.extra.clone(),
            fresh: self.fresh.clone(),
        }
    }
}

impl<D: Dialect> SqlStore<D> {
    /// The read pool (tests and the benchmark's raw baselines).
    pub fn pool(&self) -> &Pool<D> {
        &self.pool
    }

    async fn write_tx(&self) -> Result<Transaction<'static, D>> {
        self.writer.begin_with(D::BEGIN_WRITE).await.map_err(D::err)
    }
}

#[async_trait]
impl<D: Dialect> Store for SqlStore<D> {
    fn backend(&self) -> &'static str {
        D::BACKEND
    }
    async fn ping(&self) -> Result<()> {
        sql::<D>("SELECT 1").execute(&self.writer).await.map(|_| ())
    }
    async fn close(&self) {
        if let Some(q) = D::FINAL_CHECKPOINT
            && let Err(e) = sql::<D>(q).execute(&self.writer).await
        {
            tracing::warn!(error = %e, "final checkpoint");
        }
        self.writer.close().await;
        self.pool.close().await;
    }
}

#[async_trait]
impl<D: Dialect> ClusterRepo for SqlStore<D> {
    async fn agree(&self, name: &str, value: &str) -> Result<String> {
        sql::<D>(
            "INSERT INTO cluster_facts (name, value) VALUES ($1, $2) \
             ON CONFLICT (name) DO NOTHING",
        )
        .text(name)
        .text(value)
        .execute(&self.writer)
        .await?;
        let r = sql::<D>("SELECT value FROM cluster_facts WHERE name = $1")
            .text(name)
            .fetch_one(&self.writer)
            .await?;
        D::text(&r, "value")
    }
}

/// The time lists sort "updated" by: the last update, or the creation.
pub(crate) fn sort_at(created: Timestamp, updated: Option<Timestamp>) -> Timestamp {
    updated.unwrap_or(created)
}
