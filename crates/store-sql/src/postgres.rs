//! PostgreSQL backend: `uuid` ids, `timestamptz` times, `jsonb` tags and metadata with a
//! GIN index for containment. Every multi-row write is one transaction (`BEGIN`, the
//! server's default READ COMMITTED); bulk inserts are multi-row statements.

use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use switchyard_store::{Result, StoreError};

use crate::{PostgresStore, SqlStore};

impl SqlStore<sqlx::Postgres> {
    /// Connects to the database at `url` (`postgres://user@host/db`) and applies the
    /// migrations.
    pub async fn open(url: &str) -> Result<PostgresStore> {
        let opts = PgConnectOptions::from_str(url).map_err(other)?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .connect_with(opts)
            .await
            .map_err(other)?;
        let store = SqlStore {
            writer: pool.clone(),
            pool,
            extra: None,
            fresh: Default::default(),
        };
        store.migrate().await?;
        Ok(store)
    }

    pub async fn migrate(&self) -> Result<()> {
        sqlx::migrate!("./migrations/postgres")
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Other(format!("migration failed: {e}")))
    }
}

fn other(e: impl std::fmt::Display) -> StoreError {
    StoreError::Other(e.to_string())
}
