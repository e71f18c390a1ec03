//! Runs every contract suite function on SQLite (a temp file each) and on PostgreSQL (a
//! fresh database each, dropped after).
//!
//! PostgreSQL: `SWITCHYARD_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`) must reach a server where the user may
//! create databases. Unreachable means failure, unless `SWITCHYARD_SKIP_POSTGRES=1`, which
//! skips the PostgreSQL half with a note.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{future::Future, pin::Pin, sync::Arc, time::Duration};

use switchyard_store::StoreError;
use switchyard_store_sql::{PostgresStore, SqliteStore};
use switchyard_store_tests::pg::{create_test_database, drop_test_database};

type BoxFut = Pin<Box<dyn Future<Output = ()> + Send>>;

const DEFAULT_PG: &str = "postgres://postgres@127.0.0.1:5432/postgres";

fn pg_admin_url() -> String {
    std::env::var("SWITCHYARD_TEST_POSTGRES_URL")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| DEFAULT_PG.to_string())
}

fn skip_postgres() -> bool {
    std::env::var("SWITCHYARD_SKIP_POSTGRES").is_ok_and(|v| v == "1")
}

async fn on_sqlite(test: &str, f: fn(Arc<SqliteStore>) -> BoxFut) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/x.db", dir.path().display());
    let store = SqliteStore::open(&url)
        .await
        .unwrap_or_else(|e| panic!("{test}: cannot open {url}: {e}"));
    let pool = store.pool().clone();
    f(Arc::new(store)).await;
    pool.close().await;
}

async fn on_postgres(test: &str, f: fn(Arc<PostgresStore>) -> BoxFut) {
    if skip_postgres() {
        eprintln!("{test}: PostgreSQL half skipped (SWITCHYARD_SKIP_POSTGRES=1)");
        return;
    }
    let admin = pg_admin_url();
    let created = tokio::time::timeout(Duration::from_secs(20), create_test_database(&admin))
        .await
        .unwrap_or_else(|_| Err(StoreError::Other("timed out after 20 s".into())));
    let (url, name) = created.unwrap_or_else(|e| {
        panic!(
            "{test}: PostgreSQL at {admin} is unreachable or refuses CREATE DATABASE: {e}\n\
             Start PostgreSQL, point SWITCHYARD_TEST_POSTGRES_URL at a server, or set \
             SWITCHYARD_SKIP_POSTGRES=1 to skip the PostgreSQL half of the contract suite."
        )
    });
    let store = match PostgresStore::open(&url).await {
        Ok(s) => s,
        Err(e) => {
            let _ = drop_test_database(&admin, &name).await;
            panic!("{test}: cannot open the test database {name}: {e}");
        }
    };
    let pool = store.pool().clone();
    // Run on its own task so that a failed assertion still lets us drop the database.
    let outcome = tokio::spawn(f(Arc::new(store))).await;
    pool.close().await;
    if let Err(e) = drop_test_database(&admin, &name).await {
        eprintln!("{test}: could not drop test database {name}: {e}");
    }
    if let Err(e) = outcome {
        match e.try_into_panic() {
            Ok(p) => std::panic::resume_unwind(p),
            Err(e) => panic!("{test}: {e}"),
        }
    }
}

/// One `#[tokio::test]` per suite function and backend: `sqlite::<name>` and
/// `postgres::<name>`.
macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    crate::on_sqlite(stringify!($name), |s| {
                        Box::pin(async move { switchyard_store_tests::$name(&*s).await })
                    })
                    .await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    crate::on_postgres(stringify!($name), |s| {
                        Box::pin(async move { switchyard_store_tests::$name(&*s).await })
                    })
                    .await;
                }
            )*
        }
    };
}

contract!(
    user_create_get_login,
    user_update_and_password,
    user_list_filters,
    sessions,
    domain_create_get_update,
    domain_list_and_membership,
    invitations,
    client_create_get_update_delete,
    client_batch_is_atomic,
    client_list_filters,
    list_filters_follow_writes,
    wide_and_narrow_matches_page_alike,
    channel_create_get_update_delete,
    channel_batch_is_atomic,
    channel_list_filters,
    connect_and_disconnect,
    delete_removes_connections,
    list_by_connection,
    provision_is_all_or_nothing,
    concurrent_provisions_isolate_a_conflict,
    client_by_secret_is_per_domain,
    channel_lookups,
    config_create_get_list_delete,
    config_update_and_connections,
    cert_create_get_list,
    cert_revoke_renew_and_crl,
    mqtt_sessions_kept_and_claimed,
    roles_actions_and_members,
    grants_through_roles_and_groups,
    domain_members,
    group_tree,
    entity_parents_and_group_delete,
    pats_and_scopes,
    api_keys,
    cluster_facts_agree,
);

/// SQLite's containment translation answers exactly as PostgreSQL's `@>`.
#[tokio::test]
async fn metadata_containment_matches_postgres() {
    on_postgres("metadata_containment_matches_postgres", |s| {
        Box::pin(async move {
            switchyard_store_tests::metadata_containment_equivalence(s.pool()).await;
        })
    })
    .await;
}

/// The cases the SQLite translation once got wrong (keys needing JSON escapes,
/// integers beyond i64) answer as `@>` does.
#[tokio::test]
async fn metadata_containment_known_divergences() {
    on_postgres("metadata_containment_known_divergences", |s| {
        Box::pin(async move {
            switchyard_store_tests::metadata_containment_known_divergences(s.pool()).await;
        })
    })
    .await;
}
