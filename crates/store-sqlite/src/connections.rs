use async_trait::async_trait;
use sqlx::{QueryBuilder, Row, Sqlite};
use switchyard_domain::{Connection, ConnectionType};
use switchyard_store::{ConnectionRepo, Result};
use uuid::Uuid;

use crate::{SqliteStore, id, map_err};

#[async_trait]
impl ConnectionRepo for SqliteStore {
    async fn connect(&self, domain: Uuid, cs: &[Connection]) -> Result<Vec<Connection>> {
        let mut tx = self.write_tx().await?;
        let mut added = Vec::new();
        for chunk in cs.chunks(2000) {
            let mut qb = QueryBuilder::<Sqlite>::new(
                "INSERT INTO connections (channel_id, client_id, domain_id, type) ",
            );
            qb.push_values(chunk, |mut b, c| {
                b.push_bind(c.channel_id.to_string())
                    .push_bind(c.client_id.to_string())
                    .push_bind(domain.to_string())
                    .push_bind(i64::from(c.kind.code()));
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
        let mut tx = self.write_tx().await?;
        let mut removed = Vec::new();
        // One statement per chunk: row values compared against a VALUES list.
        for chunk in cs.chunks(2000) {
            let mut qb = QueryBuilder::<Sqlite>::new("DELETE FROM connections WHERE domain_id = ");
            qb.push_bind(domain.to_string());
            qb.push(" AND (channel_id, client_id, type) IN (VALUES ");
            let mut sep = qb.separated(", ");
            for c in chunk {
                sep.push("(");
                sep.push_bind_unseparated(c.channel_id.to_string());
                sep.push_unseparated(", ");
                sep.push_bind_unseparated(c.client_id.to_string());
                sep.push_unseparated(", ");
                sep.push_bind_unseparated(i64::from(c.kind.code()));
                sep.push_unseparated(")");
            }
            qb.push(") RETURNING channel_id, client_id, type");
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
                .bind(client.to_string())
                .fetch_all(&self.pool)
                .await
                .map_err(map_err)?;
        rows.iter().map(row_conn).collect()
    }
}

fn row_conn(r: &sqlx::sqlite::SqliteRow) -> Result<Connection> {
    Ok(Connection {
        channel_id: id(r.try_get::<&str, _>("channel_id").map_err(map_err)?)?,
        client_id: id(r.try_get::<&str, _>("client_id").map_err(map_err)?)?,
        kind: ConnectionType::from_code(r.try_get("type").map_err(map_err)?)
            .unwrap_or(ConnectionType::Publish),
    })
}
