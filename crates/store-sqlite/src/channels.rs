use async_trait::async_trait;
use sqlx::{QueryBuilder, Row, Sqlite, sqlite::SqliteRow};
use switchyard_domain::{Channel, EntityQuery, Page, Status};
use switchyard_store::{ChannelRepo, ConflictKind, Result, StoreError, first_index};
use uuid::Uuid;

use crate::{
    SqliteStore, from_ts, from_ts_opt, id, id_opt, json_map, json_tags, list, map_err, one,
    sort_at, to_json, ts, ts_opt,
};

pub(crate) const CHUNK: usize = 1000;

fn row_channel(r: &SqliteRow) -> Result<Channel> {
    row_channel_prefixed(r, "")
}

/// A channel from columns named `<prefix><column>` (a join that renames them).
pub(crate) fn row_channel_prefixed(r: &SqliteRow, prefix: &str) -> Result<Channel> {
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
        id: id(r.try_get::<&str, _>(&*c("id")).map_err(g)?)?,
        domain_id: id(r.try_get::<&str, _>(&*c("domain_id")).map_err(g)?)?,
        name: r.try_get(&*c("name")).map_err(g)?,
        route: r.try_get(&*c("route")).map_err(g)?,
        tags: json_tags(r.try_get(&*c("tags")).map_err(g)?)?,
        metadata: json_map(r.try_get(&*c("metadata")).map_err(g)?)?,
        status: Status::from_code(r.try_get(&*c("status")).map_err(g)?),
        created_by: id(r.try_get::<&str, _>(&*c("created_by")).map_err(g)?)?,
        created_at: from_ts(r.try_get(&*c("created_at")).map_err(g)?),
        updated_at: from_ts_opt(r.try_get(&*c("updated_at")).map_err(g)?),
        updated_by: id_opt(r.try_get(&*c("updated_by")).map_err(g)?)?,
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
    if let Some(cl) = q.client {
        qb.push(
            " AND EXISTS (SELECT 1 FROM connections k WHERE k.channel_id = t.id AND k.client_id = ",
        );
        qb.push_bind(cl.to_string());
        if let Some(ct) = q.connection_type {
            qb.push(" AND k.type = ");
            qb.push_bind(i64::from(ct.code()));
        }
        qb.push(")");
    }
}

impl SqliteStore {
    async fn locate_channel_conflict(&self, cs: &[Channel], kind: ConflictKind) -> Option<usize> {
        for start in (0..cs.len()).step_by(CHUNK) {
            let chunk = &cs[start..(start + CHUNK).min(cs.len())];
            let mut qb = QueryBuilder::<Sqlite>::new("");
            let found = match kind {
                ConflictKind::ChannelId => {
                    qb.push("SELECT id FROM channels WHERE id IN (");
                    let mut sep = qb.separated(", ");
                    for c in chunk {
                        sep.push_bind(c.id.to_string());
                    }
                    qb.push(")");
                    let taken: Vec<String> =
                        qb.build_query_scalar().fetch_all(&self.pool).await.ok()?;
                    first_index(chunk, |c| c.id.to_string(), &taken)
                }
                ConflictKind::ChannelRoute => {
                    qb.push("SELECT route FROM channels WHERE domain_id = ");
                    qb.push_bind(chunk[0].domain_id.to_string());
                    qb.push(" AND route IN (");
                    let mut sep = qb.separated(", ");
                    for c in chunk {
                        sep.push_bind(c.route.clone().unwrap_or_default());
                    }
                    qb.push(")");
                    let taken: Vec<String> =
                        qb.build_query_scalar().fetch_all(&self.pool).await.ok()?;
                    first_index(chunk, |c| c.route.clone().unwrap_or_default(), &taken)
                }
                _ => return None,
            };
            if let Some(i) = found {
                return Some(start + i);
            }
        }
        None
    }
}

/// Inserts the rows with multi-row statements on an open transaction.
pub(crate) async fn insert_channels(
    conn: &mut sqlx::SqliteConnection,
    cs: &[Channel],
) -> std::result::Result<(), sqlx::Error> {
    for chunk in cs.chunks(CHUNK) {
        let mut qb = QueryBuilder::<Sqlite>::new("");
        push_insert_channels(&mut qb, chunk);
        qb.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Pushes one multi-row INSERT of `cs` (at most `CHUNK` rows) onto `qb`.
pub(crate) fn push_insert_channels<'a>(
    qb: &mut QueryBuilder<Sqlite>,
    cs: impl IntoIterator<Item = &'a Channel>,
) {
    qb.push(
        "INSERT INTO channels (id, domain_id, name, route, tags, metadata, status, created_by, \
         created_at, updated_at, updated_by, sort_at) ",
    );
    qb.push_values(cs, |mut b, c| {
        b.push_bind(c.id.to_string())
            .push_bind(c.domain_id.to_string())
            .push_bind(c.name.clone())
            .push_bind(c.route.clone())
            .push_bind(to_json(&c.tags))
            .push_bind(to_json(&c.metadata))
            .push_bind(i64::from(c.status.code()))
            .push_bind(c.created_by.to_string())
            .push_bind(ts(c.created_at))
            .push_bind(ts_opt(c.updated_at))
            .push_bind(c.updated_by.map(|u| u.to_string()))
            .push_bind(sort_at(c.created_at, c.updated_at));
    });
}

#[async_trait]
impl ChannelRepo for SqliteStore {
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
            .bind(cid.to_string())
            .bind(domain.to_string())
            .fetch_one(&self.pool)
            .await
            .map_err(map_err)?;
        row_channel(&r)
    }

    async fn channels_by_ids(&self, domain: Uuid, ids: &[Uuid]) -> Result<Vec<Channel>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut qb = QueryBuilder::<Sqlite>::new("SELECT * FROM channels WHERE domain_id = ");
        qb.push_bind(domain.to_string());
        qb.push(" AND id IN (");
        let mut sep = qb.separated(", ");
        for id in ids.iter().take(1000) {
            sep.push_bind(id.to_string());
        }
        qb.push(")");
        let rows = qb.build().fetch_all(&self.pool).await.map_err(map_err)?;
        rows.iter().map(row_channel).collect()
    }

    async fn channel_any_domain(&self, cid: Uuid) -> Result<Channel> {
        let r = sqlx::query("SELECT * FROM channels WHERE id = $1")
            .bind(cid.to_string())
            .fetch_one(&self.pool)
            .await
            .map_err(map_err)?;
        row_channel(&r)
    }

    async fn channel_by_route(&self, domain: Uuid, route: &str) -> Result<Channel> {
        let r = sqlx::query("SELECT * FROM channels WHERE route = $1 AND domain_id = $2")
            .bind(route)
            .bind(domain.to_string())
            .fetch_one(&self.pool)
            .await
            .map_err(map_err)?;
        row_channel(&r)
    }

    async fn list_channels(&self, domain: Uuid, q: &EntityQuery) -> Result<Page<Channel>> {
        let mut count = QueryBuilder::<Sqlite>::new("SELECT COUNT(*) FROM channels t");
        push_filters(&mut count, domain, q);
        let total: i64 = count
            .build_query_scalar()
            .fetch_one(&self.pool)
            .await
            .map_err(map_err)?;
        let mut items = Vec::new();
        if !q.page.only_total && total > 0 {
            let mut qb = QueryBuilder::<Sqlite>::new("SELECT t.* FROM channels t");
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
            "UPDATE channels SET name=$3, route=$4, tags=$5, metadata=$6, status=$7, updated_at=$8, \
             updated_by=$9, sort_at=$10 WHERE id=$1 AND domain_id=$2",
        )
        .bind(c.id.to_string())
        .bind(c.domain_id.to_string())
        .bind(&c.name)
        .bind(&c.route)
        .bind(to_json(&c.tags))
        .bind(to_json(&c.metadata))
        .bind(i64::from(c.status.code()))
        .bind(ts_opt(c.updated_at))
        .bind(c.updated_by.map(|u| u.to_string()))
        .bind(sort_at(c.created_at, c.updated_at))
        .execute(&self.writer)
        .await
        .map_err(map_err)?;
        one(res)
    }

    async fn delete_channel(&self, domain: Uuid, cid: Uuid) -> Result<()> {
        let res = sqlx::query("DELETE FROM channels WHERE id = $1 AND domain_id = $2")
            .bind(cid.to_string())
            .bind(domain.to_string())
            .execute(&self.writer)
            .await
            .map_err(map_err)?;
        one(res)
    }
}
