use async_trait::async_trait;
use sqlx::{QueryBuilder, Row, Sqlite, sqlite::SqliteRow};
use switchyard_domain::{Page, Timestamp};
use switchyard_store::{CertQuery, CertRecord, CertRepo, Result, StoreError};
use uuid::Uuid;

use crate::{SqliteStore, from_ts, from_ts_opt, id, map_err, one, ts};

fn row_cert(r: &SqliteRow) -> Result<CertRecord> {
    let g = map_err;
    Ok(CertRecord {
        serial: r.try_get("serial").map_err(g)?,
        domain_id: id(r.try_get::<&str, _>("domain_id").map_err(g)?)?,
        client_id: id(r.try_get::<&str, _>("client_id").map_err(g)?)?,
        certificate: r.try_get("certificate").map_err(g)?,
        sealed_key: r.try_get("sealed_key").map_err(g)?,
        expires_at: from_ts(r.try_get("expires_at").map_err(g)?),
        revoked_at: from_ts_opt(r.try_get("revoked_at").map_err(g)?),
        created_by: id(r.try_get::<&str, _>("created_by").map_err(g)?)?,
        created_at: from_ts(r.try_get("created_at").map_err(g)?),
    })
}

fn push_filters(qb: &mut QueryBuilder<Sqlite>, domain: Uuid, q: &CertQuery) {
    qb.push(" WHERE t.domain_id = ");
    qb.push_bind(domain.to_string());
    if let Some(c) = q.client_id {
        qb.push(" AND t.client_id = ");
        qb.push_bind(c.to_string());
    }
    if let Some(u) = q.owner {
        qb.push(
            " AND EXISTS (SELECT 1 FROM clients c WHERE c.id = t.client_id AND c.created_by = ",
        );
        qb.push_bind(u.to_string());
        qb.push(")");
    }
}

fn clamp(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub(crate) async fn insert_cert(
    conn: &mut sqlx::SqliteConnection,
    c: &CertRecord,
) -> std::result::Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO certs (serial, domain_id, client_id, certificate, sealed_key, expires_at, \
         revoked_at, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&c.serial)
    .bind(c.domain_id.to_string())
    .bind(c.client_id.to_string())
    .bind(&c.certificate)
    .bind(&c.sealed_key)
    .bind(ts(c.expires_at))
    .bind(c.revoked_at.map(ts))
    .bind(c.created_by.to_string())
    .bind(ts(c.created_at))
    .execute(&mut *conn)
    .await
    .map(|_| ())
}

#[async_trait]
impl CertRepo for SqliteStore {
    async fn create_cert(&self, c: &CertRecord) -> Result<()> {
        let mut tx = self.write_tx().await?;
        insert_cert(&mut tx, c).await.map_err(map_err)?;
        tx.commit().await.map_err(map_err)
    }

    async fn cert(&self, domain: Uuid, serial: &str) -> Result<CertRecord> {
        let r = sqlx::query("SELECT * FROM certs WHERE serial = $1 AND domain_id = $2")
            .bind(serial)
            .bind(domain.to_string())
            .fetch_one(&self.pool)
            .await
            .map_err(map_err)?;
        row_cert(&r)
    }

    async fn cert_by_serial(&self, serial: &str) -> Result<CertRecord> {
        let r = sqlx::query("SELECT * FROM certs WHERE serial = $1")
            .bind(serial)
            .fetch_one(&self.pool)
            .await
            .map_err(map_err)?;
        row_cert(&r)
    }

    async fn list_certs(&self, domain: Uuid, q: &CertQuery) -> Result<Page<CertRecord>> {
        let mut count = QueryBuilder::<Sqlite>::new("SELECT COUNT(*) FROM certs t");
        push_filters(&mut count, domain, q);
        let total: i64 = count
            .build_query_scalar()
            .fetch_one(&self.pool)
            .await
            .map_err(map_err)?;
        let mut items = Vec::new();
        if total > 0 && q.limit > 0 {
            let mut qb = QueryBuilder::<Sqlite>::new("SELECT t.* FROM certs t");
            push_filters(&mut qb, domain, q);
            qb.push(" ORDER BY t.created_at DESC, t.serial DESC LIMIT ");
            qb.push_bind(clamp(q.limit));
            qb.push(" OFFSET ");
            qb.push_bind(clamp(q.offset));
            for r in qb.build().fetch_all(&self.pool).await.map_err(map_err)? {
                items.push(row_cert(&r)?);
            }
        }
        Ok(Page {
            total: u64::try_from(total).unwrap_or_default(),
            offset: q.offset,
            limit: q.limit,
            items,
        })
    }

    async fn revoke_cert(&self, domain: Uuid, serial: &str, at: Timestamp) -> Result<()> {
        let res = sqlx::query(
            "UPDATE certs SET revoked_at = COALESCE(revoked_at, $1) \
             WHERE serial = $2 AND domain_id = $3",
        )
        .bind(ts(at))
        .bind(serial)
        .bind(domain.to_string())
        .execute(&self.writer)
        .await
        .map_err(map_err)?;
        one(res)
    }

    async fn revoke_client_certs(&self, domain: Uuid, client: Uuid, at: Timestamp) -> Result<u64> {
        let res = sqlx::query(
            "UPDATE certs SET revoked_at = $1 \
             WHERE domain_id = $2 AND client_id = $3 AND revoked_at IS NULL",
        )
        .bind(ts(at))
        .bind(domain.to_string())
        .bind(client.to_string())
        .execute(&self.writer)
        .await
        .map_err(map_err)?;
        Ok(res.rows_affected())
    }

    async fn renew_cert(&self, old: &str, new: &CertRecord, at: Timestamp) -> Result<()> {
        let mut tx = self.write_tx().await?;
        let res = sqlx::query(
            "UPDATE certs SET revoked_at = $1 \
             WHERE serial = $2 AND domain_id = $3 AND revoked_at IS NULL",
        )
        .bind(ts(at))
        .bind(old)
        .bind(new.domain_id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        if res.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        insert_cert(&mut tx, new).await.map_err(map_err)?;
        tx.commit().await.map_err(map_err)
    }

    async fn revoked_certs(&self, at: Timestamp) -> Result<Vec<(String, Timestamp)>> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT serial, revoked_at FROM certs \
             WHERE revoked_at IS NOT NULL AND expires_at > $1 ORDER BY serial",
        )
        .bind(ts(at))
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(rows.into_iter().map(|(s, t)| (s, from_ts(t))).collect())
    }
}
