use async_trait::async_trait;
use sqlx::{QueryBuilder, Row, Sqlite, sqlite::SqliteRow};
use switchyard_domain::{Client, EntityQuery, Page, Status};
use switchyard_store::{ClientRepo, ConflictKind, Result, StoreError, first_index};
use uuid::Uuid;

use crate::{
    SqliteStore, from_ts, from_ts_opt, id, id_opt, json_map, json_tags, list, map_err, one,
    sort_at, to_json, ts, ts_opt,
};

/// Rows per INSERT statement: 13 binds each stays well under SQLite's 32766 limit.
pub(crate) const CHUNK: usize = 1000;

pub(crate) fn row_client(r: &SqliteRow) -> Result<Client> {
    let g = map_err;
    Ok(Client {
        id: id(r.try_get::<&str, _>("id").map_err(g)?)?,
        domain_id: id(r.try_get::<&str, _>("domain_id").map_err(g)?)?,
        name: r.try_get("name").map_err(g)?,
        tags: json_tags(r.try_get("tags").map_err(g)?)?,
        metadata: json_map(r.try_get("metadata").map_err(g)?)?,
        private_metadata: json_map(r.try_get("private_metadata").map_err(g)?)?,
        secret: r.try_get("secret").map_err(g)?,
        status: Status::from_code(r.try_get("status").map_err(g)?),
        created_by: id(r.try_get::<&str, _>("created_by").map_err(g)?)?,
        created_at: from_ts(r.try_get("created_at").map_err(g)?),
        updated_at: from_ts_opt(r.try_get("updated_at").map_err(g)?),
        updated_by: id_opt(r.try_get("updated_by").map_err(g)?)?,
    })
}

fn push_filters(qb: &mut QueryBuilder<Sqlite>, domain: Uuid, q: &EntityQuery) {
    qb.push(" WHERE t.domain_id = ");
    qb.push_bind(domain.to_string());
    list::push_page_filters(qb, &q.page);
    if let Some(u) = q.created_by {
        qb.push(" AND t.created_by = ");
        qb.push_bind(u.to_string());
    }
    if let Some(ch) = q.channel {
        qb.push(
            " AND EXISTS (SELECT 1 FROM connections k WHERE k.client_id = t.id AND k.channel_id = ",
        );
        qb.push_bind(ch.to_string());
        if let Some(ct) = q.connection_type {
            qb.push(" AND k.type = ");
            qb.push_bind(i64::from(ct.code()));
        }
        qb.push(")");
    }
}

impl SqliteStore {
    /// After a failed batch insert: which item collided with an existing row.
    async fn locate_client_conflict(&self, cs: &[Client], kind: ConflictKind) -> Option<usize> {
        for chunk_start in (0..cs.len()).step_by(CHUNK) {
            let chunk = &cs[chunk_start..(chunk_start + CHUNK).min(cs.len())];
            let mut qb = QueryBuilder::<Sqlite>::new("");
            match kind {
                ConflictKind::ClientId => {
                    qb.push("SELECT id FROM clients WHERE id IN (");
                    let mut sep = qb.separated(", ");
                    for c in chunk {
                        sep.push_bind(c.id.to_string());
                    }
                    qb.push(")");
                    let taken: Vec<String> =
                        qb.build_query_scalar().fetch_all(&self.pool).await.ok()?;
                    if let Some(i) = first_index(chunk, |c| c.id.to_string(), &taken) {
                        return Some(chunk_start + i);
                    }
                }
                ConflictKind::ClientSecret => {
                    qb.push("SELECT secret FROM clients WHERE domain_id = ");
                    qb.push_bind(chunk[0].domain_id.to_string());
                    qb.push(" AND secret IN (");
                    let mut sep = qb.separated(", ");
                    for c in chunk {
                        sep.push_bind(c.secret.clone());
                    }
                    qb.push(")");
                    let taken: Vec<String> =
                        qb.build_query_scalar().fetch_all(&self.pool).await.ok()?;
                    if let Some(i) = first_index(chunk, |c| c.secret.clone(), &taken) {
                        return Some(chunk_start + i);
                    }
                }
                _ => return None,
            }
        }
        None
    }
}

/// Inserts the rows with multi-row statements on an open transaction.
pub(crate) async fn insert_clients(
    conn: &mut sqlx::SqliteConnection,
    cs: &[Client],
) -> std::result::Result<(), sqlx::Error> {
    for chunk in cs.chunks(CHUNK) {
        let mut qb = QueryBuilder::<Sqlite>::new("");
        push_insert_clients(&mut qb, chunk);
        qb.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Pushes one multi-row INSERT of `cs` (at most `CHUNK` rows) onto `qb`.
pub(crate) fn push_insert_clients<'a>(
    qb: &mut QueryBuilder<Sqlite>,
    cs: impl IntoIterator<Item = &'a Client>,
) {
    qb.push(
        "INSERT INTO clients (id, domain_id, name, tags, metadata, private_metadata, secret, \
         status, created_by, created_at, updated_at, updated_by, sort_at) ",
    );
    qb.push_values(cs, |mut b, c| {
        b.push_bind(c.id.to_string())
            .push_bind(c.domain_id.to_string())
            .push_bind(c.name.clone())
            .push_bind(to_json(&c.tags))
            .push_bind(to_json(&c.metadata))
            .push_bind(to_json(&c.private_metadata))
            .push_bind(c.secret.clone())
            .push_bind(i64::from(c.status.code()))
            .push_bind(c.created_by.to_string())
            .push_bind(ts(c.created_at))
            .push_bind(ts_opt(c.updated_at))
            .push_bind(c.updated_by.map(|u| u.to_string()))
            .push_bind(sort_at(c.created_at, c.updated_at));
    });
}

#[async_trait]
impl ClientRepo for SqliteStore {
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
            .bind(cid.to_string())
            .bind(domain.to_string())
            .fetch_one(&self.pool)
            .await
            .map_err(map_err)?;
        row_client(&r)
    }

    async fn client_by_secret(&self, domain: Uuid, secret: &str) -> Result<Client> {
        let r = sqlx::query(
            "SELECT * FROM clients WHERE domain_id = $1 AND secret = $2 AND status = 0",
        )
        .bind(domain.to_string())
        .bind(secret)
        .fetch_one(&self.pool)
        .await
        .map_err(map_err)?;
        row_client(&r)
    }

    async fn client_any_domain(&self, cid: Uuid) -> Result<Client> {
        let r = sqlx::query("SELECT * FROM clients WHERE id = $1")
            .bind(cid.to_string())
            .fetch_one(&self.pool)
            .await
            .map_err(map_err)?;
        row_client(&r)
    }

    async fn list_clients(&self, domain: Uuid, q: &EntityQuery) -> Result<Page<Client>> {
        let mut count = QueryBuilder::<Sqlite>::new("SELECT COUNT(*) FROM clients t");
        push_filters(&mut count, domain, q);
        let total: i64 = count
            .build_query_scalar()
            .fetch_one(&self.pool)
            .await
            .map_err(map_err)?;
        let mut items = Vec::new();
        if !q.page.only_total && total > 0 {
            let mut qb = QueryBuilder::<Sqlite>::new("SELECT t.* FROM clients t");
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
        .bind(c.id.to_string())
        .bind(c.domain_id.to_string())
        .bind(&c.name)
        .bind(to_json(&c.tags))
        .bind(to_json(&c.metadata))
        .bind(to_json(&c.private_metadata))
        .bind(&c.secret)
        .bind(i64::from(c.status.code()))
        .bind(ts_opt(c.updated_at))
        .bind(c.updated_by.map(|u| u.to_string()))
        .bind(sort_at(c.created_at, c.updated_at))
        .execute(&self.writer)
        .await
        .map_err(map_err)?;
        one(res)
    }

    async fn delete_client(&self, domain: Uuid, cid: Uuid) -> Result<()> {
        // Connections go with the client through ON DELETE CASCADE.
        let res = sqlx::query("DELETE FROM clients WHERE id = $1 AND domain_id = $2")
            .bind(cid.to_string())
            .bind(domain.to_string())
            .execute(&self.writer)
            .await
            .map_err(map_err)?;
        one(res)
    }
}
