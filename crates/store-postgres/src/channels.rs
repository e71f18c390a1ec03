use async_trait::async_trait;
use sqlx::{Postgres, QueryBuilder, Row, postgres::PgRow};
use switchyard_domain::{Channel, EntityQuery, Page, Status};
use switchyard_store::{ChannelRepo, ConflictKind, Result, StoreError, first_index};
use uuid::Uuid;

use crate::{MAX_BINDS, PostgresStore, json_map, json_tags, list, map_err, one, sort_at, to_json};

/// Bind parameters per inserted row.
const BINDS_PER_ROW: usize = 12;
/// Rows per INSERT statement, so one statement stays within PostgreSQL's bind limit.
const CHUNK: usize = MAX_BINDS / BINDS_PER_ROW;

fn row_channel(r: &PgRow) -> Result<Channel> {
    row_channel_prefixed(r, "")
}

/// A channel from columns named `<prefix><column>` (a join that renames them).
pub(crate) fn row_channel_prefixed(r: &PgRow, prefix: &str) -> Result<Channel> {
    let g = map_err;
    // No allocation per column for the plain (unprefixed) reads, every listing's.
    let c = |name: &'static str| -> std::borrow::Cow<'static, str> {
        if prefix.is_empty() {
            name.into()
        } else {
            format!("{prefix}{name}").into()
        }
    };
    Ok(Channel {
        id: r.try_get(&*c("id")).map_err(g)?,
        domain_id: r.try_get(&*c("domain_id")).map_err(g)?,
        name: r.try_get(&*c("name")).map_err(g)?,
        route: r.try_get(&*c("route")).map_err(g)?,
        tags: json_tags(r.try_get(&*c("tags")).map_err(g)?),
        metadata: json_map(r.try_get(&*c("metadata")).map_err(g)?),
        status: Status::from_code(i64::from(r.try_get::<i16, _>(&*c("status")).map_err(g)?)),
        created_by: r.try_get(&*c("created_by")).map_err(g)?,
        created_at: r.try_get(&*c("created_at")).map_err(g)?,
        updated_at: r.try_get(&*c("updated_at")).map_err(g)?,
        updated_by: r.try_get(&*c("updated_by")).map_err(g)?,
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
    if let Some(cl) = q.client {
        qb.push(
            " AND EXISTS (SELECT 1 FROM connections k WHERE k.channel_id = t.id AND k.client_id = ",
        );
        qb.push_bind(cl);
        if let Some(ct) = q.connection_type {
            qb.push(" AND k.type = ");
            qb.push_bind(ct.code());
        }
        qb.push(")");
    }
}

impl PostgresStore {
    /// After a failed batch insert: which item collided with an existing row.
    async fn locate_channel_conflict(&self, cs: &[Channel], kind: ConflictKind) -> Option<usize> {
        match kind {
            ConflictKind::ChannelId => {
                let ids: Vec<Uuid> = cs.iter().map(|c| c.id).collect();
                let taken: Vec<Uuid> =
                    sqlx::query_scalar("SELECT id FROM channels WHERE id = ANY($1)")
                        .bind(ids)
                        .fetch_all(&self.pool)
                        .await
                        .ok()?;
                first_index(cs, |c| c.id, &taken)
            }
            ConflictKind::ChannelRoute => {
                let routes: Vec<&str> = cs.iter().filter_map(|c| c.route.as_deref()).collect();
                let taken: Vec<(Uuid, Option<String>)> =
                    sqlx::query_as("SELECT domain_id, route FROM channels WHERE route = ANY($1)")
                        .bind(routes)
                        .fetch_all(&self.pool)
                        .await
                        .ok()?;
                first_index(cs, |c| (c.domain_id, c.route.clone()), &taken)
            }
            _ => None,
        }
    }
}

/// Inserts the rows with multi-row statements on an open transaction.
pub(crate) async fn insert_channels(
    conn: &mut sqlx::PgConnection,
    cs: &[Channel],
) -> std::result::Result<(), sqlx::Error> {
    for chunk in cs.chunks(CHUNK) {
        let mut qb = QueryBuilder::<Postgres>::new(
            "INSERT INTO channels (id, domain_id, name, route, tags, metadata, status, \
             created_by, created_at, updated_at, updated_by, sort_at) ",
        );
        qb.push_values(chunk, |mut b, c| {
            b.push_bind(c.id)
                .push_bind(c.domain_id)
                .push_bind(c.name.as_str())
                .push_bind(c.route.as_deref())
                .push_bind(to_json(&c.tags))
                .push_bind(to_json(&c.metadata))
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
impl ChannelRepo for PostgresStore {
    async fn create_channels(&self, cs: &[Channel]) -> Result<()> {
        if cs.is_empty() {
            return Ok(());
        }
        let mut tx = self.write_tx().await?;
        if let Err(e) = insert_channels(&mut tx, cs).await {
            drop(tx);
            return Err(match map_err(e) {
                StoreError::Conflict { kind, .. } => StoreError::Conflict {
                    kind,
                    index: self.locate_channel_conflict(cs, kind).await,
                },
                other => other,
            });
        }
        tx.commit().await.map_err(map_err)
    }

    async fn channel(&self, domain: Uuid, cid: Uuid) -> Result<Channel> {
        let r = sqlx::query("SELECT * FROM channels WHERE id = $1 AND domain_id = $2")
            .bind(cid)
            .bind(domain)
            .fetch_one(&self.pool)
            .await
            .map_err(map_err)?;
        row_channel(&r)
    }

    async fn channels_by_ids(&self, domain: Uuid, ids: &[Uuid]) -> Result<Vec<Channel>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut qb = QueryBuilder::<Postgres>::new("SELECT * FROM channels WHERE domain_id = ");
        qb.push_bind(domain);
        qb.push(" AND id IN (");
        let mut sep = qb.separated(", ");
        for id in ids.iter().take(1000) {
            sep.push_bind(*id);
        }
        qb.push(")");
        let rows = qb.build().fetch_all(&self.pool).await.map_err(map_err)?;
        rows.iter().map(row_channel).collect()
    }

    async fn channel_any_domain(&self, cid: Uuid) -> Result<Channel> {
        let r = sqlx::query("SELECT * FROM channels WHERE id = $1")
            .bind(cid)
            .fetch_one(&self.pool)
            .await
            .map_err(map_err)?;
        row_channel(&r)
    }

    async fn channel_by_route(&self, domain: Uuid, route: &str) -> Result<Channel> {
        let r = sqlx::query("SELECT * FROM channels WHERE route = $1 AND domain_id = $2")
            .bind(route)
            .bind(domain)
            .fetch_one(&self.pool)
            .await
            .map_err(map_err)?;
        row_channel(&r)
    }

    async fn list_channels(&self, domain: Uuid, q: &EntityQuery) -> Result<Page<Channel>> {
        let mut count = QueryBuilder::<Postgres>::new("SELECT COUNT(*) FROM channels t");
        push_filters(&mut count, domain, q);
        let total: i64 = count
            .build_query_scalar()
            .fetch_one(&self.pool)
            .await
            .map_err(map_err)?;
        let mut items = Vec::new();
        if !q.page.only_total && total > 0 {
            let mut qb = QueryBuilder::<Postgres>::new("SELECT t.* FROM channels t");
            push_filters(&mut qb, domain, q);
            list::push_order(&mut qb, &q.page);
            for r in qb.build().fetch_all(&self.pool).await.map_err(map_err)? {
                items.push(row_channel(&r)?);
            }
        }
        Ok(Page {
            total: total as u64,
            offset: q.page.offset,
            limit: q.page.limit,
            items,
        })
    }

    async fn update_channel(&self, c: &Channel) -> Result<()> {
        let res = sqlx::query(
            "UPDATE channels SET name=$3, route=$4, tags=$5, metadata=$6, status=$7, \
             updated_at=$8, updated_by=$9, sort_at=$10 WHERE id=$1 AND domain_id=$2",
        )
        .bind(c.id)
        .bind(c.domain_id)
        .bind(&c.name)
        .bind(&c.route)
        .bind(to_json(&c.tags))
        .bind(to_json(&c.metadata))
        .bind(c.status.code())
        .bind(c.updated_at)
        .bind(c.updated_by)
        .bind(sort_at(c.created_at, c.updated_at))
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        one(res)
    }

    async fn delete_channel(&self, domain: Uuid, cid: Uuid) -> Result<()> {
        // Connections go with the channel through ON DELETE CASCADE.
        let res = sqlx::query("DELETE FROM channels WHERE id = $1 AND domain_id = $2")
            .bind(cid)
            .bind(domain)
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        one(res)
    }
}
