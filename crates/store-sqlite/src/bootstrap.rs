use async_trait::async_trait;
use sqlx::{QueryBuilder, Row, Sqlite};
use switchyard_domain::BootstrapConfig;
use switchyard_store::{BootstrapRepo, ProvisionPlan, Result};

use crate::{
    SqliteStore, channels::insert_channels, clients::insert_clients, from_ts, id, map_err, to_json,
    ts,
};

#[async_trait]
impl BootstrapRepo for SqliteStore {
    async fn provision(&self, p: &ProvisionPlan) -> Result<()> {
        let mut tx = self.write_tx().await?;
        insert_clients(&mut tx, &p.clients).await.map_err(map_err)?;
        insert_channels(&mut tx, &p.channels)
            .await
            .map_err(map_err)?;
        for chunk in p.connections.chunks(2000) {
            let mut qb = QueryBuilder::<Sqlite>::new(
                "INSERT INTO connections (channel_id, client_id, domain_id, type) ",
            );
            qb.push_values(chunk, |mut b, c| {
                b.push_bind(c.channel_id.to_string())
                    .push_bind(c.client_id.to_string())
                    .push_bind(p.domain.to_string())
                    .push_bind(i64::from(c.kind.code()));
            });
            qb.push(" ON CONFLICT DO NOTHING");
            qb.build().execute(&mut *tx).await.map_err(map_err)?;
        }
        let c = &p.config;
        sqlx::query(
            "INSERT INTO bootstrap_configs (client_id, domain_id, name, external_id, external_key_digest, \
             content, client_cert, client_key, ca_cert, state, channels, created_at) \
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)",
        )
        .bind(c.client_id.to_string())
        .bind(c.domain_id.to_string())
        .bind(&c.name)
        .bind(&c.external_id)
        .bind(&c.external_key_digest)
        .bind(&c.content)
        .bind(&c.client_cert)
        .bind(&c.client_key)
        .bind(&c.ca_cert)
        .bind(i64::from(c.state))
        .bind(to_json(&c.channels))
        .bind(ts(c.created_at))
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        tx.commit().await.map_err(map_err)
    }

    async fn bootstrap_by_external_id(&self, external_id: &str) -> Result<BootstrapConfig> {
        let r = sqlx::query("SELECT * FROM bootstrap_configs WHERE external_id = $1")
            .bind(external_id)
            .fetch_one(&self.pool)
            .await
            .map_err(map_err)?;
        let channels: Vec<uuid::Uuid> =
            serde_json::from_str(r.try_get::<&str, _>("channels").map_err(map_err)?)
                .map_err(crate::other)?;
        Ok(BootstrapConfig {
            client_id: id(r.try_get::<&str, _>("client_id").map_err(map_err)?)?,
            domain_id: id(r.try_get::<&str, _>("domain_id").map_err(map_err)?)?,
            name: r.try_get("name").map_err(map_err)?,
            external_id: r.try_get("external_id").map_err(map_err)?,
            external_key_digest: r.try_get("external_key_digest").map_err(map_err)?,
            content: r.try_get("content").map_err(map_err)?,
            client_cert: r.try_get("client_cert").map_err(map_err)?,
            client_key: r.try_get("client_key").map_err(map_err)?,
            ca_cert: r.try_get("ca_cert").map_err(map_err)?,
            state: r.try_get::<i64, _>("state").map_err(map_err)? as i16,
            channels,
            created_at: from_ts(r.try_get("created_at").map_err(map_err)?),
        })
    }
}
