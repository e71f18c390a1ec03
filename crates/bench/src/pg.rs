//! Uniquely named PostgreSQL databases, dropped when done (also from Drop, on a thread of
//! its own, so an error or Ctrl-C path leaves nothing behind).

use std::time::Duration;

use sqlx::{AssertSqlSafe, Connection, PgConnection};

const PREFIX: &str = "switchyard_bench_";

async fn connect(admin_url: &str) -> Result<PgConnection, String> {
    match tokio::time::timeout(Duration::from_secs(5), PgConnection::connect(admin_url)).await {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("timed out after 5 s".into()),
    }
}

/// Checks that the server answers; on the way, drops databases left by bench runs whose
/// process no longer exists (killed with SIGKILL, say). Returns the server version.
pub async fn probe(admin_url: &str) -> Result<String, String> {
    let mut c = connect(admin_url).await?;
    let version: String = sqlx::query_scalar("SHOW server_version")
        .fetch_one(&mut c)
        .await
        .map_err(|e| e.to_string())?;
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT datname::text FROM pg_database WHERE datname LIKE 'switchyard\\_bench\\_%'",
    )
    .fetch_all(&mut c)
    .await
    .unwrap_or_default();
    for n in names {
        let pid = n
            .strip_prefix(PREFIX)
            .and_then(|r| r.split('_').next())
            .and_then(|p| p.parse::<u32>().ok());
        if let Some(pid) = pid
            && !std::path::Path::new(&format!("/proc/{pid}")).exists()
        {
            let _ = drop_db_on(&mut c, &n).await;
        }
    }
    let _ = c.close().await;
    Ok(version)
}

async fn drop_db_on(c: &mut PgConnection, name: &str) -> Result<(), String> {
    let forced = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
    if sqlx::query(AssertSqlSafe(forced))
        .execute(&mut *c)
        .await
        .is_ok()
    {
        return Ok(());
    }
    // Before PostgreSQL 13 there is no FORCE.
    let plain = format!("DROP DATABASE IF EXISTS \"{name}\"");
    sqlx::query(AssertSqlSafe(plain))
        .execute(&mut *c)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

async fn drop_db(admin_url: &str, name: &str) -> Result<(), String> {
    let mut c = connect(admin_url).await?;
    let r = drop_db_on(&mut c, name).await;
    let _ = c.close().await;
    r
}

/// The URL of database `name` on the same server as `admin_url`.
pub fn url_for(admin_url: &str, name: &str) -> Result<String, String> {
    let mut u = url::Url::parse(admin_url).map_err(|e| format!("{admin_url}: {e}"))?;
    u.set_path(&format!("/{name}"));
    Ok(u.to_string())
}

/// A database created for one scenario.
pub struct PgDb {
    admin_url: String,
    pub name: String,
    pub url: String,
    dropped: bool,
}

impl PgDb {
    pub async fn create(admin_url: &str, label: &str) -> Result<PgDb, String> {
        let name = format!(
            "{PREFIX}{}_{label}_{}",
            std::process::id(),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let url = url_for(admin_url, &name)?;
        let mut c = connect(admin_url).await?;
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut c)
            .await
            .map_err(|e| format!("CREATE DATABASE {name}: {e}"))?;
        let _ = c.close().await;
        Ok(PgDb {
            admin_url: admin_url.into(),
            name,
            url,
            dropped: false,
        })
    }

    /// `pg_database_size` of this database, in bytes.
    pub async fn size_bytes(&self) -> Result<i64, String> {
        let mut c = connect(&self.url).await?;
        let n = sqlx::query_scalar("SELECT pg_database_size(current_database())")
            .fetch_one(&mut c)
            .await
            .map_err(|e| e.to_string());
        let _ = c.close().await;
        n
    }

    pub async fn drop_now(mut self) -> Result<(), String> {
        self.dropped = true;
        drop_db(&self.admin_url, &self.name).await
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        let (admin, name) = (self.admin_url.clone(), self.name.clone());
        // Drop may run inside the bench's runtime, which must not be blocked on from
        // within: a thread with a runtime of its own does the work.
        let t = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(rt) = rt
                && let Err(e) = rt.block_on(drop_db(&admin, &name))
            {
                eprintln!("warning: could not drop database {name}: {e}");
            }
        });
        let _ = t.join();
    }
}
