//! PostgreSQL backend: `uuid` ids, `timestamptz` times, `jsonb` tags and metadata with a
//! GIN index for containment. Every multi-row write is one transaction (`BEGIN`, the
//! server's default READ COMMITTED); bulk inserts are multi-row statements.

mod bootstrap;
mod certs;
mod channels;
mod clients;
mod connections;
mod domains;
mod list;
mod metadata;
mod users;

use std::str::FromStr;

use async_trait::async_trait;
use sqlx::{
    Connection, Executor, PgPool, Postgres, Transaction,
    postgres::{PgConnectOptions, PgConnection, PgPoolOptions},
};
use switchyard_domain::{Metadata, Timestamp};
use switchyard_store::{ConflictKind, Result, Store, StoreError};
use uuid::Uuid;

pub use metadata::push_contains;

/// PostgreSQL allows at most 65535 bind parameters per statement.
pub(crate) const MAX_BINDS: usize = 65_535;

#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user@host/db`) and applies the
    /// migrations.
    pub async fn open(url: &str) -> Result<PostgresStore> {
        let opts = PgConnectOptions::from_str(url).map_err(other)?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .connect_with(opts)
            .await
            .map_err(other)?;
        let store = PostgresStore { pool };
        store.migrate().await?;
        Ok(store)
    }

    pub async fn migrate(&self) -> Result<()> {
        sqlx::migrate!("./migrations")
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Other(format!("migration failed: {e}")))
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    async fn write_tx(&self) -> Result<Transaction<'static, Postgres>> {
        self.pool.begin().await.map_err(map_err)
    }
}

#[async_trait]
impl Store for PostgresStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }
    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(map_err)
    }
}

/// Creates a uniquely named, empty database (`switchyard_test_<uuid>`) on the server
/// reached by `admin_url` and returns its URL and name. For tests: one database each.
pub async fn create_test_database(admin_url: &str) -> Result<(String, String)> {
    let name = format!("switchyard_test_{}", Uuid::new_v4().simple());
    let mut conn = PgConnection::connect(admin_url).await.map_err(other)?;
    // The name is generated above (letters, digits, underscore): safe to inline.
    conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .await
        .map_err(map_err)?;
    conn.close().await.map_err(other)?;
    Ok((with_database(admin_url, &name), name))
}

/// Drops a database made by [`create_test_database`], closing what still uses it.
pub async fn drop_test_database(admin_url: &str, name: &str) -> Result<()> {
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(StoreError::Other(format!(
            "refusing to drop database {name:?}"
        )));
    }
    let mut conn = PgConnection::connect(admin_url).await.map_err(other)?;
    conn.execute(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
    )))
    .await
    .map_err(map_err)?;
    conn.close().await.map_err(other)?;
    Ok(())
}

/// `url` with its database path replaced by `name` (query string kept).
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let root = match base[authority_start..].find('/') {
        Some(i) => &base[..authority_start + i],
        None => base,
    };
    match query {
        Some(q) => format!("{root}/{name}?{q}"),
        None => format!("{root}/{name}"),
    }
}

pub(crate) fn other(e: impl std::fmt::Display) -> StoreError {
    StoreError::Other(e.to_string())
}

/// The one place sqlx errors become store errors.
pub(crate) fn map_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::RowNotFound => StoreError::NotFound,
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            let kind = match db.constraint().unwrap_or_default() {
                "users_email_key" => ConflictKind::UserEmail,
                "users_username_key" => ConflictKind::Username,
                "users_pkey" => ConflictKind::UserId,
                "domains_route_key" => ConflictKind::DomainRoute,
                "domains_pkey" => ConflictKind::DomainId,
                "clients_pkey" => ConflictKind::ClientId,
                "clients_domain_secret_key" => ConflictKind::ClientSecret,
                "channels_pkey" => ConflictKind::ChannelId,
                "channels_domain_route_key" => ConflictKind::ChannelRoute,
                "bootstrap_configs_external_id_key" => ConflictKind::ExternalId,
                _ => ConflictKind::Other,
            };
            StoreError::Conflict { kind, index: None }
        }
        _ => StoreError::Other(e.to_string()),
    }
}

pub(crate) fn json_map(v: sqlx::types::Json<Metadata>) -> Metadata {
    v.0
}

pub(crate) fn json_tags(v: sqlx::types::Json<Vec<String>>) -> Vec<String> {
    v.0
}

/// Encodes a value as `jsonb`.
pub(crate) fn to_json<T: serde::Serialize + ?Sized>(v: &T) -> sqlx::types::Json<&T> {
    sqlx::types::Json(v)
}

pub(crate) fn sort_at(created: Timestamp, updated: Option<Timestamp>) -> Timestamp {
    updated.unwrap_or(created)
}

/// Affected-rows check: zero rows means the entity was not there.
pub(crate) fn one(res: sqlx::postgres::PgQueryResult) -> Result<()> {
    if res.rows_affected() == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn database_in_url() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgres://u:p@h/db?sslmode=disable", "x"),
            "postgres://u:p@h/x?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://h:5432", "x"),
            "postgres://h:5432/x"
        );
    }
}
