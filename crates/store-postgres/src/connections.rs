use async_trait::async_trait;
use sqlx::{Postgres, QueryBuilder, Row, postgres::PgRow};
use switchyard_domain::{Connection, ConnectionType};
use switchyard_store::{ConnectionRepo, Result};
use uuid::Uuid;

use crate::{MAX_BINDS, PostgresStore, map_err};

/// Rows per statement: 4 binds per row for connect, 3 for disconnect (plus the domain).
const CHUNK: usize = (MAX_BINDS - 1) / 4;

#[async_trait]
impl ConnectionRepo for PostgresStore {
    async fn connect(&self, domain: Uuid, cs: &[Connection]) -> Result<Vec<Connection>> {
        if cs.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.write_tx().await?;
        let mut added = Vec::new();
        for chunk in cs.chunks(CHUNK) {
            let mut qb = QueryBuilder::<Postgres>::new(
                "INSERT INTO connections (channel_id, client_id, domain_id, type) ",
            );
            qb.push_values(chunk, |mut b, c| {
                b.push_bind(c.channel_id)
                    .push_bind(c.client_id)
                    .push_bind(domain)
                    .push_bind(c.kind.code());
            });
            qb.push(" ON CONFLICT DO NOTHING RETURNING channel_id, client_id, type");
            for r in qb.build().fetch_all(&mut *tx).await.map_err(map_err)? {
                added.push(row_conn(&r)?);
            }
        }
        tx.commit().await.map_err(map_err)?;
        Ok(added)
    }

    async fn disconnect(&self, domain: Uuid, cs: &[Connection]) -> Result<Vec<Connection>> {
        if cs.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.write_tx().await?;
        let mut removed = Vec::new();
        for chunk in cs.chunks(CHUNK) {
            let mut qb = QueryBuilder::<Postgres>::new("DELETE FROM connections k USING (");
            qb.push_values(chunk, |mut b, c| {
                b.push_bind(c.channel_id)
                    .push_bind(c.client_id)
                    .push_bind(c.kind.code());
            });
            qb.push(
                ") AS v (channel_id, client_id, type) WHERE k.channel_id = v.channel_id \
                 AND k.client_id = v.client_id AND k.type = v.type AND k.domain_id = ",
            );
            qb.push_bind(domain);
            qb.push(" RETURNING k.channel_id, k.client_id, k.type");
            for r in qb.build().fetch_all(&mut *tx).await.map_err(map_err)? {
                removed.push(row_conn(&r)?);
            }
        }
        tx.commit().await.map_err(map_err)?;
        Ok(removed)
    }

    async fn client_connections(&self, client: Uuid) -> Result<Vec<Connection>> {
        let rows =
            sqlx::query("SELECT channel_id, client_id, type FROM connections WHERE client_id = $1")
                .bind(client)
                .fetch_all(&self.pool)
                .await
                .map_err(map_err)?;
        rows.iter().map(row_conn).collect()
    }
}

fn row_conn(r: &PgRow) -> Result<Connection> {
    Ok(Connection {
        channel_id: r.try_get("channel_id").map_err(map_err)?,
        client_id: r.try_get("client_id").map_err(map_err)?,
        kind: ConnectionType::from_code(i64::from(r.try_get::<i16, _>("type").map_err(map_err)?))
            .unwrap_or(ConnectionType::Publish),
    })
}
