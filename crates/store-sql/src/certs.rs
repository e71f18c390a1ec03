use async_trait::async_trait;
use sqlx::QueryBuilder;
use switchyard_domain::{Page, Timestamp};
use switchyard_store::{CertQuery, CertRecord, CertRepo, Result, StoreError};
use uuid::Uuid;

use crate::{
    SqlStore,
    dialect::{Dialect, Ex, Val, sql},
    list::{Listing, push_limit},
};

fn row_cert<D: Dialect>(r: &D::Row) -> Result<CertRecord> {
    Ok(CertRecord {
        serial: D::text(r, "serial")?,
        domain_id: D::id(r, "domain_id")?,
        client_id: D::id(r, "client_id")?,
        certificate: D::text(r, "certificate")?,
        sealed_key: D::text(r, "sealed_key")?,
        expires_at: D::time(r, "expires_at")?,
        revoked_at: D::opt_time(r, "revoked_at")?,
        created_by: D::id(r, "created_by")?,
        created_at: D::time(r, "created_at")?,
    })
}

fn push_filters<D: Dialect>(qb: &mut QueryBuilder<D>, domain: Uuid, q: &CertQuery) {
    qb.push(" WHERE t.domain_id = ");
    D::push_bind(qb, Val::Id(domain));
    if let Some(c) = q.client_id {
        qb.push(" AND t.client_id = ");
        D::push_bind(qb, Val::Id(c));
    }
    if let Some(u) = q.owner {
        qb.push(
            " AND EXISTS (SELECT 1 FROM clients c WHERE c.id = t.client_id AND c.created_by = ",
        );
        D::push_bind(qb, Val::Id(u));
        qb.push(")");
    }
}

/// Inserts one certificate record on an open transaction or the pool.
pub(crate) async fn insert_cert<D: Dialect>(ex: Ex<'_, D>, c: &CertRecord) -> Result<()> {
    sql::<D>(
        "INSERT INTO certs (serial, domain_id, client_id, certificate, sealed_key, expires_at, \
         revoked_at, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .text(&c.serial)
    .id(c.domain_id)
    .id(c.client_id)
    .text(&c.certificate)
    .text(&c.sealed_key)
    .time(c.expires_at)
    .opt_time(c.revoked_at)
    .id(c.created_by)
    .time(c.created_at)
    .execute(ex)
    .await
    .map(|_| ())
}

#[async_trait]
impl<D: Dialect> CertRepo for SqlStore<D> {
    async fn create_cert(&self, c: &CertRecord) -> Result<()> {
        insert_cert::<D>(Ex::Pool(&self.writer), c).await
    }

    async fn cert(&self, domain: Uuid, serial: &str) -> Result<CertRecord> {
        let r = sql::<D>("SELECT * FROM certs WHERE serial = $1 AND domain_id = $2")
            .text(serial)
            .id(domain)
            .fetch_one(&self.pool)
            .await?;
        row_cert::<D>(&r)
    }

    async fn cert_by_serial(&self, serial: &str) -> Result<CertRecord> {
        let r = sql::<D>("SELECT * FROM certs WHERE serial = $1")
            .text(serial)
            .fetch_one(&self.pool)
            .await?;
        row_cert::<D>(&r)
    }

    async fn list_certs(&self, domain: Uuid, q: &CertQuery) -> Result<Page<CertRecord>> {
        Listing::window(
            &self.pool,
            "certs t",
            "t.*",
            q.offset,
            q.limit,
            q.limit == 0,
        )
        .run(
            |qb| push_filters(qb, domain, q),
            |qb| {
                qb.push(" ORDER BY t.created_at DESC, t.serial DESC");
                push_limit(qb, q.limit, q.offset);
            },
            |r| row_cert::<D>(r),
        )
        .await
    }

    async fn revoke_cert(&self, domain: Uuid, serial: &str, at: Timestamp) -> Result<()> {
        sql::<D>(
            "UPDATE certs SET revoked_at = COALESCE(revoked_at, $1) \
             WHERE serial = $2 AND domain_id = $3",
        )
        .time(at)
        .text(serial)
        .id(domain)
        .execute_one(&self.writer)
        .await
    }

    async fn revoke_client_certs(&self, domain: Uuid, client: Uuid, at: Timestamp) -> Result<u64> {
        sql::<D>(
            "UPDATE certs SET revoked_at = $1 \
             WHERE domain_id = $2 AND client_id = $3 AND revoked_at IS NULL",
        )
        .time(at)
        .id(domain)
        .id(client)
        .execute(&self.writer)
        .await
    }

    async fn renew_cert(&self, old: &str, new: &CertRecord, at: Timestamp) -> Result<()> {
        let mut tx = self.write_tx().await?;
        let changed = sql::<D>(
            "UPDATE certs SET revoked_at = $1 \
             WHERE serial = $2 AND domain_id = $3 AND revoked_at IS NULL",
        )
        .time(at)
        .text(old)
        .id(new.domain_id)
        .execute(&mut tx)
        .await?;
        if changed == 0 {
            return Err(StoreError::NotFound);
        }
        insert_cert::<D>(Ex::from(&mut tx), new).await?;
        tx.commit().await.map_err(D::err)
    }

    async fn revoked_certs(&self, at: Timestamp) -> Result<Vec<(String, Timestamp)>> {
        let rows = sql::<D>(
            "SELECT serial, revoked_at FROM certs \
             WHERE revoked_at IS NOT NULL AND expires_at > $1 ORDER BY serial",
        )
        .time(at)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((D::text(r, "serial")?, D::time(r, "revoked_at")?)))
            .collect()
    }
}
