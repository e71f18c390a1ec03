//! A fresh PostgreSQL database per test: created with a unique name on the server the
//! tests are pointed at, and dropped after (closing what still uses it).

use sqlx::{Connection, Executor, postgres::PgConnection};
use switchyard_store::{Result, StoreError};
use uuid::Uuid;

fn other(e: impl std::fmt::Display) -> StoreError {
    StoreError::Other(e.to_string())
}

/// Creates a uniquely named, empty database (`switchyard_test_<uuid>`) on the server
/// reached by `admin_url` and returns its URL and name. For tests: one database each.
pub async fn create_test_database(admin_url: &str) -> Result<(String, String)> {
    let name = format!("switchyard_test_{}", Uuid::new_v4().simple());
    let mut conn = PgConnection::connect(admin_url).await.map_err(other)?;
    // The name is generated above (letters, digits, underscore): safe to inline.
    conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .await
        .map_err(other)?;
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
    .map_err(other)?;
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
