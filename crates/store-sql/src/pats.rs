//! Personal access tokens with their scopes, API key records, and MQTT sessions kept
//! across a restart.

use async_trait::async_trait;
use sqlx::QueryBuilder;
use switchyard_domain::{
    ApiKey, Page, Pat, PatScope, ScopeEntity, ScopeOp, ScopeTarget, Timestamp,
};
use switchyard_store::{KeyRepo, PatRepo, Result, StoreError};
use uuid::Uuid;

use crate::{
    SqlStore,
    dialect::{Dialect, Sql, Val, push_in, push_values, sql},
};

fn row_pat<D: Dialect>(r: &D::Row) -> Result<Pat> {
    Ok(Pat {
        id: D::id(r, "id")?,
        user_id: D::id(r, "user_id")?,
        name: D::text(r, "name")?,
        description: D::text(r, "description")?,
        secret_hash: D::text(r, "secret_hash")?,
        issued_at: D::time(r, "issued_at")?,
        expires_at: D::time(r, "expires_at")?,
        updated_at: D::opt_time(r, "updated_at")?,
        last_used_at: D::opt_time(r, "last_used_at")?,
        revoked: D::small(r, "revoked")? != 0,
        revoked_at: D::opt_time(r, "revoked_at")?,
    })
}

/// The `id` column of every row a statement returns (one statement: atomic).
async fn returned_ids<D: Dialect>(pool: &sqlx::Pool<D>, q: Sql<'static, D>) -> Result<Vec<Uuid>> {
    q.fetch_all(pool)
        .await?
        .iter()
        .map(|r| D::id(r, "id"))
        .collect()
}

fn row_scope<D: Dialect>(r: &D::Row) -> Result<PatScope> {
    let bad = |e: switchyard_domain::Invalid| StoreError::Other(format!("pat scope: {e}"));
    Ok(PatScope {
        id: D::id(r, "id")?,
        pat_id: D::id(r, "pat_id")?,
        domain: D::opt_id(r, "domain_id")?,
        entity_type: ScopeEntity::parse(&D::text(r, "entity_type")?).map_err(bad)?,
        entity: ScopeTarget::parse(&D::text(r, "entity_id")?).map_err(bad)?,
        operation: ScopeOp::parse(&D::text(r, "operation")?).map_err(bad)?,
    })
}

#[async_trait]
impl<D: Dialect> PatRepo for SqlStore<D> {
    async fn create_pat(&self, p: &Pat) -> Result<()> {
        sql::<D>(
            "INSERT INTO pats (id, user_id, name, description, secret_hash, issued_at, \
             expires_at, updated_at, last_used_at, revoked, revoked_at) \
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)",
        )
        .id(p.id)
        .id(p.user_id)
        .text(&p.name)
        .text(&p.description)
        .text(&p.secret_hash)
        .time(p.issued_at)
        .time(p.expires_at)
        .opt_time(p.updated_at)
        .opt_time(p.last_used_at)
        .small(i16::from(p.revoked))
        .opt_time(p.revoked_at)
        .execute(&self.writer)
        .await
        .map(|_| ())
    }

    async fn pat(&self, id: Uuid) -> Result<Pat> {
        let r = sql::<D>("SELECT * FROM pats WHERE id = $1")
            .id(id)
            .fetch_one(&self.pool)
            .await?;
        row_pat::<D>(&r)
    }

    async fn user_pat(&self, user: Uuid, id: Uuid) -> Result<Pat> {
        let r = sql::<D>("SELECT * FROM pats WHERE id = $1 AND user_id = $2")
            .id(id)
            .id(user)
            .fetch_one(&self.pool)
            .await?;
        row_pat::<D>(&r)
    }

    async fn list_pats(&self, user: Uuid, offset: u64, limit: u64) -> Result<Page<Pat>> {
        let mut count = QueryBuilder::<D>::new("SELECT COUNT(*) AS n FROM pats WHERE user_id = ");
        D::push_bind(&mut count, Val::Id(user));
        let mut rows = QueryBuilder::<D>::new("SELECT * FROM pats WHERE user_id = ");
        D::push_bind(&mut rows, Val::Id(user));
        rows.push(" ORDER BY issued_at DESC, id");
        self.paged(count, rows, offset, limit, row_pat::<D>).await
    }

    async fn update_pat(&self, p: &Pat) -> Result<()> {
        sql::<D>(
            "UPDATE pats SET name = $3, description = $4, secret_hash = $5, expires_at = $6, \
             updated_at = $7, revoked = $8, revoked_at = $9 WHERE id = $1 AND user_id = $2",
        )
        .id(p.id)
        .id(p.user_id)
        .text(&p.name)
        .text(&p.description)
        .text(&p.secret_hash)
        .time(p.expires_at)
        .opt_time(p.updated_at)
        .small(i16::from(p.revoked))
        .opt_time(p.revoked_at)
        .execute_one(&self.writer)
        .await
    }

    async fn touch_pat(&self, id: Uuid, at: Timestamp) -> Result<()> {
        sql::<D>("UPDATE pats SET last_used_at = $2 WHERE id = $1")
            .id(id)
            .time(at)
            .execute(&self.writer)
            .await
            .map(|_| ())
    }

    // A PAT's scopes go with it (pat_scopes.pat_id cascades on delete).
    async fn delete_pat(&self, user: Uuid, id: Uuid) -> Result<()> {
        sql::<D>("DELETE FROM pats WHERE id = $1 AND user_id = $2")
            .id(id)
            .id(user)
            .execute_one(&self.writer)
            .await
    }

    async fn delete_user_pats(&self, user: Uuid) -> Result<Vec<Uuid>> {
        returned_ids::<D>(
            &self.writer,
            sql::<D>("DELETE FROM pats WHERE user_id = $1 RETURNING id").id(user),
        )
        .await
    }

    async fn revoke_user_pats(&self, user: Uuid, at: Timestamp) -> Result<Vec<Uuid>> {
        returned_ids::<D>(
            &self.writer,
            sql::<D>(
                "UPDATE pats SET revoked = 1, revoked_at = $2, updated_at = $2 \
                 WHERE user_id = $1 AND revoked = 0 RETURNING id",
            )
            .id(user)
            .time(at),
        )
        .await
    }

    async fn add_scopes(&self, scopes: &[PatScope]) -> Result<()> {
        if scopes.is_empty() {
            return Ok(());
        }
        let mut tx = self.write_tx().await?;
        for chunk in scopes.chunks(D::MAX_BINDS / 6) {
            let mut qb = QueryBuilder::<D>::new(
                "INSERT INTO pat_scopes (id, pat_id, domain_id, entity_type, entity_id, operation) ",
            );
            let ids: Vec<String> = chunk.iter().map(|s| s.entity.as_string()).collect();
            push_values(&mut qb, chunk.iter().zip(&ids), |t, (s, eid)| {
                t.v(Val::Id(s.id))
                    .v(Val::Id(s.pat_id))
                    .v(Val::OptId(s.domain))
                    .v(Val::Text(s.entity_type.as_str()))
                    .v(Val::Text(eid))
                    .v(Val::Text(s.operation.as_str()));
            });
            Sql::from(qb.build()).execute(&mut tx).await?;
        }
        tx.commit().await.map_err(D::err)
    }

    async fn all_scopes(&self, pat: Uuid) -> Result<Vec<PatScope>> {
        sql::<D>("SELECT * FROM pat_scopes WHERE pat_id = $1 ORDER BY entity_type, operation, id")
            .id(pat)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(row_scope::<D>)
            .collect()
    }

    async fn scopes(&self, pat: Uuid, offset: u64, limit: u64) -> Result<Page<PatScope>> {
        let mut count =
            QueryBuilder::<D>::new("SELECT COUNT(*) AS n FROM pat_scopes WHERE pat_id = ");
        D::push_bind(&mut count, Val::Id(pat));
        let mut rows = QueryBuilder::<D>::new("SELECT * FROM pat_scopes WHERE pat_id = ");
        D::push_bind(&mut rows, Val::Id(pat));
        rows.push(" ORDER BY entity_type, operation, id");
        self.paged(count, rows, offset, limit, row_scope::<D>).await
    }

    async fn remove_scopes(&self, pat: Uuid, ids: Option<&[Uuid]>) -> Result<u64> {
        let mut qb = QueryBuilder::<D>::new("DELETE FROM pat_scopes WHERE pat_id = ");
        D::push_bind(&mut qb, Val::Id(pat));
        if let Some(ids) = ids {
            if ids.is_empty() {
                return Ok(0);
            }
            qb.push(" AND id");
            push_in(&mut qb, ids.iter().map(|i| Val::Id(*i)));
        }
        Sql::from(qb.build()).execute(&self.writer).await
    }
}

fn row_key<D: Dialect>(r: &D::Row) -> Result<ApiKey> {
    Ok(ApiKey {
        id: D::id(r, "id")?,
        issuer_id: D::id(r, "issuer_id")?,
        subject: D::text(r, "subject")?,
        issued_at: D::time(r, "issued_at")?,
        expires_at: D::time(r, "expires_at")?,
        revoked: D::small(r, "revoked")? != 0,
    })
}

#[async_trait]
impl<D: Dialect> KeyRepo for SqlStore<D> {
    async fn create_key(&self, k: &ApiKey) -> Result<()> {
        sql::<D>(
            "INSERT INTO api_keys (id, issuer_id, subject, issued_at, expires_at, revoked) \
             VALUES ($1,$2,$3,$4,$5,$6)",
        )
        .id(k.id)
        .id(k.issuer_id)
        .text(&k.subject)
        .time(k.issued_at)
        .time(k.expires_at)
        .small(i16::from(k.revoked))
        .execute(&self.writer)
        .await
        .map(|_| ())
    }

    async fn key(&self, issuer: Uuid, id: Uuid) -> Result<ApiKey> {
        let r = sql::<D>("SELECT * FROM api_keys WHERE id = $1 AND issuer_id = $2 AND revoked = 0")
            .id(id)
            .id(issuer)
            .fetch_one(&self.pool)
            .await?;
        row_key::<D>(&r)
    }

    async fn revoke_key(&self, issuer: Uuid, id: Uuid) -> Result<()> {
        sql::<D>("UPDATE api_keys SET revoked = 1 WHERE id = $1 AND issuer_id = $2 AND revoked = 0")
            .id(id)
            .id(issuer)
            .execute_one(&self.writer)
            .await
    }

    async fn revoke_user_keys(&self, issuer: Uuid) -> Result<Vec<Uuid>> {
        returned_ids::<D>(
            &self.writer,
            sql::<D>(
                "UPDATE api_keys SET revoked = 1 WHERE issuer_id = $1 AND revoked = 0 \
                 RETURNING id",
            )
            .id(issuer),
        )
        .await
    }

    async fn revoked_keys(&self, now: Timestamp) -> Result<Vec<Uuid>> {
        returned_ids::<D>(
            &self.pool,
            sql::<D>("SELECT id FROM api_keys WHERE revoked = 1 AND expires_at > $1").time(now),
        )
        .await
    }
}
