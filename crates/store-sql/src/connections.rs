use async_trait::async_trait;
use sqlx::QueryBuilder;
use switchyard_domain::{Connection, ConnectionType};
use switchyard_store::{ConnectionRepo, Result};
use uuid::Uuid;

use crate::{
    SqlStore,
    dialect::{Dialect, Sql, Val, push_values, sql},
};

/// Connections per statement (4 binds each, within both databases' limits).
pub(crate) const CHUNK: usize = 2000;

/// Pushes one INSERT of `(domain, connection)` pairs that skips those already there.
pub(crate) fn push_insert<'a, D: Dialect>(
    qb: &mut QueryBuilder<D>,
    cs: impl IntoIterator<Item = (Uuid, &'a Connection)>,
) {
    qb.push("INSERT INTO connections (channel_id, client_id, domain_id, type) ");
    push_values(qb, cs, |t, (domain, c)| {
        t.v(Val::Id(c.channel_id))
            .v(Val::Id(c.client_id))
            .v(Val::Id(domain))
            .v(Val::Small(c.kind.code()));
    });
    qb.push(" ON CONFLICT DO NOTHING");
}

pub(crate) fn row_conn<D: Dialect>(r: &D::Row) -> Result<Connection> {
    Ok(Connection {
        channel_id: D::id(r, "channel_id")?,
        client_id: D::id(r, "client_id")?,
        kind: ConnectionType::from_code(i64::from(D::small(r, "type")?))
            .unwrap_or(ConnectionType::Publish),
    })
}

#[async_trait]
impl<D: Dialect> ConnectionRepo for SqlStore<D> {
    async fn connect(&self, domain: Uuid, cs: &[Connection]) -> Result<Vec<Connection>> {
        if cs.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.write_tx().await?;
        let mut added = Vec::new();
        for chunk in cs.chunks(CHUNK) {
            let mut qb = QueryBuilder::<D>::new("");
            push_insert(&mut qb, chunk.iter().map(|c| (domain, c)));
            qb.push(" RETURNING channel_id, client_id, type");
            for r in Sql::from(qb.build()).fetch_all(&mut tx).await? {
                added.push(row_conn::<D>(&r)?);
            }
        }
        tx.commit().await.map_err(D::err)?;
        self.wrote("connections", added.len());
        Ok(added)
    }

    async fn disconnect(&self, domain: Uuid, cs: &[Connection]) -> Result<Vec<Connection>> {
        if cs.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.write_tx().await?;
        let mut removed = Vec::new();
        // One statement per chunk: row values compared against a VALUES list.
        for chunk in cs.chunks(CHUNK) {
            let mut qb = QueryBuilder::<D>::new("DELETE FROM connections WHERE domain_id = ");
            D::push_bind(&mut qb, Val::Id(domain));
            qb.push(" AND (channel_id, client_id, type) IN (");
            push_values(&mut qb, chunk, |t, c| {
                t.v(Val::Id(c.channel_id))
                    .v(Val::Id(c.client_id))
                    .v(Val::Small(c.kind.code()));
            });
            qb.push(") RETURNING channel_id, client_id, type");
            for r in Sql::from(qb.build()).fetch_all(&mut tx).await? {
                removed.push(row_conn::<D>(&r)?);
            }
        }
        tx.commit().await.map_err(D::err)?;
        Ok(removed)
    }

    async fn client_connections(&self, client: Uuid) -> Result<Vec<Connection>> {
        let rows =
            sql::<D>("SELECT channel_id, client_id, type FROM connections WHERE client_id = $1")
                .id(client)
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(row_conn::<D>).collect()
    }
}
