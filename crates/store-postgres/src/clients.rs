use async_trait::async_trait;
use sqlx::{Postgres, QueryBuilder, Row, postgres::PgRow};
use switchyard_domain::{Client, EntityQuery, Page, Status};
use switchyard_store::{ClientRepo, ConflictKind, Result, StoreError, first_index};
use uuid::Uuid;

use crate::{MAX_BINDS, PostgresStore, json_map, json_tags, list, map_err, one, sort_at, to_json};

/// Bind parameters per inserted row.
const BINDS_PER_ROW: usize = 13;
/// Rows per INSERT statement, so one statement stays within PostgreSQL's bind limit.
const CHUNK: usize = MAX_BINDS / BINDS_PER_ROW;

pub(crate) fn row_client(r: &PgRow) -> Result<Client> {
    let g = map_err;
    Ok(Client {
        id: r.try_get("id").map_err(g)?,
        domain_id: r.try_get("domain_id").map_err(g)?,
        name: r.try_get("name").map_err(g)?,
        tags: json_tags(r.try_get("tags").map_err(g)?),
        metadata: json_map(r.try_get("metadata").map_err(g)?),
        private_metadata: json_map(r.try_get("private_metadata").map_err(g)?),
        secret: r.try_get("secret").map_err(g)?,
        status: Status::from_code(i64::from(r.try_get::<i16, _>("status").map_err(g)?)),
        created_by: r.try_get("created_by").map_err(g)?,
        created_at: r.try_get("created_at").map_err(g)?,
        updated_at: r.try_get("updated_at").map_err(g)?,
        updated_by: r.try_get("updated_by").map_err(g)?,
    })
}

fn push_filters(qb: &mut QueryBuilder<Postgres>, domain: Uuid, q: &EntityQuery) {
    qb.push(" WHERE t.domain_id = ");
    qb.push_bind(domain);
    list::push_page_filters(qb, &q.page);
    if let Some(u) = q.created_by {
        qb.push(" AND t.created_by = ");
        qb.push_bind(u);
    }
    if let Some(ch) = q.channel {
        qb.push(
            " AND EXISTS (SELECT 1 FROM connections k WHERE k.client_id = t.id AND k.channel_id = ",
        );
        qb.push_bind(ch);
        if let Some(ct) = q.connection_type {
            qb.push(" AND k.type = ");
            qb.push_bind(ct.code());
        }
        qb.push(")");
    }
}

impl PostgresStore {
    /// After a failed batch insert: which item collided with an existing row.
    async fn locate_client_conflict(&self, cs: &[Client], kind: ConflictKind) -> Option<usize> {
        match kind {
            ConflictKind::ClientId => {
                let ids: Vec<Uuid> = cs.iter().map(|c| c.id).collect();
                let taken: Vec<Uuid> =
                    sqlx::query_scalar("SELECT id FROM clients WHERE id = ANY($1)")
                        .bind(ids)
                        .fetch_all(&self.pool)
                        .await
                        .ok()?;
                first_index(cs, |c| c.id, &taken)
            }
            ConflictKind::ClientSecret => {
                let secrets: Vec<&str> = cs.iter().map(|c| c.secret.as_str()).collect();
                let taken: Vec<(Uuid, String)> =
                    sqlx::query_as("SELECT domain_id, secret FROM clients WHERE secret = ANY($1)")
                        .bind(secrets)
                        .fetch_all(&self.pool)
                        .await
                        .ok()?;
                first_index(cs, |c| (c.domain_id, c.secret.clone()), &taken)
            }
            _ => None,
        }
    }
}

/// Inserts the rows with multi-row statements on an open transaction.
pub(crate) async fn insert_clients(
    conn: &mut sqlx::PgConnection,
    cs: &[Client],
) -> std::result::Result<(), sqlx::Error> {
    for chunk in cs.chunks(CHUNK) {
        let mut qb = QueryBuilder::<Postgres>::new(
            "INSERT INTO clients (id, domain_id, name, tags, metadata, private_metadata, \
             secret, status, created_by, created_at, updated_at, updated_by, sort_at) ",
        );
        qb.push_values(chunk, |mut b, c| {
            b.push_bind(c.id)
                .push_bind(c.domain_id)
                .push_bind(c.name.as_str())
                .push_bind(to_json(&c.tags))
                .push_bind(to_json(&c.metadata))
                .push_bind(to_json(&c.private_metadata))
                .push_bind(c.secret.as_str())
                .push_bind(c.status.code())
                .push_bind(c.created_by)
                .push_bind(c.created_at)
                .push_bind(c.updated_at)
                .push_bind(c.updated_by)
                .push_bind(sort_at(c.created_at, c.updated_at));
        });
        qb.build().execute(&mut *conn).await?;
    }
    Ok(())
}

#[async_trait]
impl ClientRepo for PostgresStore {
    async fn create_clients(&self, cs: &[Client]) -> Result<()> {
        if cs.is_empty() {
            return Ok(());
        }
        let mut tx = self.write_tx().await?;
        if let Err(e) = insert_clients(&mut tx, cs).await {
            drop(tx);
            return Err(match map_err(e) {
                StoreError::Conflict { kind, .. } => StoreError::Conflict {
                    kind,
                    index: self.locate_client_conflict(cs, kind).await,
                },
                other => other,
            });
        }
        tx.commit().await.map_err(map_err)
    }

    async fn client(&self, domain: Uuid, cid: Uuid) -> Result<Client> {
        let r = sqlx::query("SELECT * FROM clients WHERE id = $1 AND domain_id = $2")
            .bind(cid)
            .bind(domain)
            .fetch_one(&self.pool)
            .await
            .map_err(map_err)?;
        row_client(&r)
    }

    async fn client_by_secret(&self, domain: Uuid, secret: &str) -> Result<Client> {
        let r = sqlx::query(
            "SELECT * FROM clients WHERE domain_id = $1 AND secret = $2 AND status = 0",
        )
        .bind(domain)
        .bind(secret)
        .fetch_one(&self.pool)
        .await
        .map_err(map_err)?;
        row_client(&r)
    }

    async fn client_any_domain(&self, cid: Uuid) -> Result<Client> {
        let r = sqlx::query("SELECT * FROM clients WHERE id = $1")
            .bind(cid)
            .fetch_one(&self.pool)
            .await
            .map_err(map_err)?;
        row_client(&r)
    }

    async fn list_clients(&self, domain: Uuid, q: &EntityQuery) -> Result<Page<Client>> {
        let mut count = QueryBuilder::<Postgres>::new("SELECT COUNT(*) FROM clients t");
        push_filters(&mut count, domain, q);
        let total: i64 = count
            .build_query_scalar()
            .fetch_one(&self.pool)
            .await
            .map_err(map_err)?;
        let mut items = Vec::new();
        if !q.page.only_total && total > 0 {
            let mut qb = QueryBuilder::<Postgres>::new("SELECT t.* FROM clients t");
            push_filters(&mut qb, domain, q);
            list::push_order(&mut qb, &q.page);
            for r in qb.build().fetch_all(&self.pool).await.map_err(map_err)? {
                items.push(row_client(&r)?);
            }
        }
        Ok(Page {
            total: total as u64,
            offset: q.page.offset,
            limit: q.page.limit,
            items,
        })
    }

    async fn update_client(&self, c: &Client) -> Result<()> {
        let res = sqlx::query(
            "UPDATE clients SET name=$3, tags=$4, metadata=$5, private_metadata=$6, secret=$7, \
             status=$8, updated_at=$9, updated_by=$10, sort_at=$11 WHERE id=$1 AND domain_id=$2",
        )
        .bind(c.id)
        .bind(c.domain_id)
        .bind(&c.name)
        .bind(to_json(&c.tags))
        .bind(to_json(&c.metadata))
        .bind(to_json(&c.private_metadata))
        .bind(&c.secret)
        .bind(c.status.code())
        .bind(c.updated_at)
        .bind(c.updated_by)
        .bind(sort_at(c.created_at, c.updated_at))
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        one(res)
    }

    async fn delete_client(&self, domain: Uuid, cid: Uuid) -> Result<()> {
        // Connections go with the client through ON DELETE CASCADE.
        let res = sqlx::query("DELETE FROM clients WHERE id = $1 AND domain_id = $2")
            .bind(cid)
            .bind(domain)
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        one(res)
    }
}
