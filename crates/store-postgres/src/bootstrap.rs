use async_trait::async_trait;
use sqlx::{Postgres, QueryBuilder, Row};
use switchyard_domain::{BootstrapConfig, Client, Connection, Page};
use switchyard_store::{
    BootstrapRepo, ConfigQuery, FetchedConfig, ProvisionPlan, Result, StoreError,
};
use uuid::Uuid;

use crate::{
    PostgresStore,
    channels::{insert_channels, row_channel_prefixed},
    clients::insert_clients,
    map_err, to_json,
};

/// The device-facing fetch in one statement (see `bootstrap_fetch`). The channels are
/// joined on their primary key alone: with `domain_id` in the join condition the planner
/// may walk the domain's index and filter every channel of the domain (thousands in a
/// fleet); the domain is checked on the rows instead.
const FETCH_SQL: &str = "SELECT b.*, cl.secret AS fetch_client_secret, \
     c.id AS ch_id, c.domain_id AS ch_domain_id, c.name AS ch_name, c.route AS ch_route, \
     c.tags AS ch_tags, c.metadata AS ch_metadata, c.status AS ch_status, \
     c.created_by AS ch_created_by, c.created_at AS ch_created_at, \
     c.updated_at AS ch_updated_at, c.updated_by AS ch_updated_by \
     FROM bootstrap_configs b \
     JOIN clients cl ON cl.id = b.client_id \
     LEFT JOIN channels c \
       ON c.id = ANY (ARRAY(SELECT jsonb_array_elements_text(b.channels)::uuid)) \
     WHERE b.external_id = $1";

#[async_trait]
impl BootstrapRepo for PostgresStore {
    async fn provision(&self, p: &ProvisionPlan) -> Result<()> {
        let mut tx = self.write_tx().await?;
        insert_clients(&mut tx, &p.clients).await.map_err(map_err)?;
        insert_channels(&mut tx, &p.channels)
            .await
            .map_err(map_err)?;
        for chunk in p.connections.chunks(2000) {
            let mut qb = QueryBuilder::<Postgres>::new(
                "INSERT INTO connections (channel_id, client_id, domain_id, type) ",
            );
            qb.push_values(chunk, |mut b, c| {
                b.push_bind(c.channel_id)
                    .push_bind(c.client_id)
                    .push_bind(p.domain)
                    .push_bind(c.kind.code());
            });
            qb.push(" ON CONFLICT DO NOTHING");
            qb.build().execute(&mut *tx).await.map_err(map_err)?;
        }
        insert_config(&mut tx, &p.config).await.map_err(map_err)?;
        for c in &p.certs {
            crate::certs::insert_cert(&mut tx, c)
                .await
                .map_err(map_err)?;
        }
        tx.commit().await.map_err(map_err)
    }

    /// One round trip: the config, its client's secret, and one row per existing
    /// channel of the config (a config whose channels are all gone gives one row with
    /// NULL channel columns).
    async fn bootstrap_fetch(&self, external_id: &str) -> Result<FetchedConfig> {
        let rows = sqlx::query(FETCH_SQL)
            .bind(external_id)
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?;
        let first = rows.first().ok_or(StoreError::NotFound)?;
        let config = row_config(first)?;
        let client_secret: String = first.try_get("fetch_client_secret").map_err(map_err)?;
        let mut channels = Vec::with_capacity(rows.len());
        for r in &rows {
            let id: Option<Uuid> = r.try_get("ch_id").map_err(map_err)?;
            if id.is_some() {
                let ch = row_channel_prefixed(r, "ch_")?;
                if ch.domain_id == config.domain_id {
                    channels.push(ch);
                }
            }
        }
        Ok(FetchedConfig {
            config,
            client_secret,
            channels,
        })
    }

    async fn create_config(&self, c: &BootstrapConfig, new_client: Option<&Client>) -> Result<()> {
        let mut tx = self.write_tx().await?;
        if let Some(cl) = new_client {
            insert_clients(&mut tx, std::slice::from_ref(cl))
                .await
                .map_err(map_err)?;
        }
        insert_config(&mut tx, c).await.map_err(map_err)?;
        tx.commit().await.map_err(map_err)
    }

    async fn config(&self, domain: Uuid, client_id: Uuid) -> Result<BootstrapConfig> {
        let r =
            sqlx::query("SELECT * FROM bootstrap_configs WHERE domain_id = $1 AND client_id = $2")
                .bind(domain)
                .bind(client_id)
                .fetch_one(&self.pool)
                .await
                .map_err(map_err)?;
        row_config(&r)
    }

    async fn list_configs(&self, domain: Uuid, q: &ConfigQuery) -> Result<Page<BootstrapConfig>> {
        let filters = |qb: &mut QueryBuilder<Postgres>| {
            qb.push(" WHERE b.domain_id = ");
            qb.push_bind(domain);
            if let Some(st) = q.state {
                qb.push(" AND b.state = ");
                qb.push_bind(st);
            }
            if let Some(e) = &q.external_id {
                qb.push(" AND b.external_id = ");
                qb.push_bind(e.clone());
            }
            if let Some(n) = &q.name {
                crate::list::push_ilike(qb, "b.name", n);
            }
            if let Some(u) = q.created_by {
                qb.push(" AND EXISTS (SELECT 1 FROM clients c WHERE c.id = b.client_id AND c.created_by = ");
                qb.push_bind(u);
                qb.push(")");
            }
        };
        let mut count = QueryBuilder::<Postgres>::new("SELECT COUNT(*) FROM bootstrap_configs b");
        filters(&mut count);
        let total: i64 = count
            .build_query_scalar()
            .fetch_one(&self.pool)
            .await
            .map_err(map_err)?;
        let mut qb = QueryBuilder::<Postgres>::new("SELECT b.* FROM bootstrap_configs b");
        filters(&mut qb);
        qb.push(" ORDER BY b.client_id LIMIT ");
        qb.push_bind(i64::try_from(q.limit).unwrap_or(i64::MAX));
        qb.push(" OFFSET ");
        qb.push_bind(i64::try_from(q.offset).unwrap_or(i64::MAX));
        let rows = qb.build().fetch_all(&self.pool).await.map_err(map_err)?;
        Ok(Page {
            total: total as u64,
            offset: q.offset,
            limit: q.limit,
            items: rows.iter().map(row_config).collect::<Result<_>>()?,
        })
    }

    async fn update_config(&self, c: &BootstrapConfig) -> Result<()> {
        let mut tx = self.write_tx().await?;
        save_config(&mut tx, c).await?;
        tx.commit().await.map_err(map_err)
    }

    async fn update_config_with_connections(
        &self,
        c: &BootstrapConfig,
        connect: &[Connection],
        disconnect: &[Connection],
    ) -> Result<()> {
        let mut tx = self.write_tx().await?;
        save_config(&mut tx, c).await?;
        for k in connect {
            sqlx::query("INSERT INTO connections (channel_id, client_id, domain_id, type) VALUES ($1,$2,$3,$4) ON CONFLICT DO NOTHING")
                .bind(k.channel_id)
                .bind(k.client_id)
                .bind(c.domain_id)
                .bind(k.kind.code())
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        }
        for k in disconnect {
            sqlx::query(
                "DELETE FROM connections WHERE channel_id = $1 AND client_id = $2 AND type = $3",
            )
            .bind(k.channel_id)
            .bind(k.client_id)
            .bind(k.kind.code())
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        }
        tx.commit().await.map_err(map_err)
    }

    async fn delete_config(&self, domain: Uuid, client_id: Uuid) -> Result<()> {
        let res =
            sqlx::query("DELETE FROM bootstrap_configs WHERE domain_id = $1 AND client_id = $2")
                .bind(domain)
                .bind(client_id)
                .execute(&self.pool)
                .await
                .map_err(map_err)?;
        crate::one(res)
    }
}

async fn insert_config(
    conn: &mut sqlx::PgConnection,
    c: &BootstrapConfig,
) -> std::result::Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO bootstrap_configs (client_id, domain_id, name, external_id, external_key_digest, \
         content, client_cert, client_key, ca_cert, state, channels, created_at) \
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)",
    )
    .bind(c.client_id)
    .bind(c.domain_id)
    .bind(&c.name)
    .bind(&c.external_id)
    .bind(&c.external_key_digest)
    .bind(&c.content)
    .bind(&c.client_cert)
    .bind(&c.client_key)
    .bind(&c.ca_cert)
    .bind(c.state)
    .bind(to_json(&c.channels))
    .bind(c.created_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn save_config(conn: &mut sqlx::PgConnection, c: &BootstrapConfig) -> Result<()> {
    let res = sqlx::query(
        "UPDATE bootstrap_configs SET name=$3, content=$4, client_cert=$5, client_key=$6, ca_cert=$7, \
         state=$8, channels=$9 WHERE domain_id=$1 AND client_id=$2",
    )
    .bind(c.domain_id)
    .bind(c.client_id)
    .bind(&c.name)
    .bind(&c.content)
    .bind(&c.client_cert)
    .bind(&c.client_key)
    .bind(&c.ca_cert)
    .bind(c.state)
    .bind(to_json(&c.channels))
    .execute(&mut *conn)
    .await
    .map_err(map_err)?;
    crate::one(res)
}

fn row_config(r: &sqlx::postgres::PgRow) -> Result<BootstrapConfig> {
    let channels: sqlx::types::Json<Vec<Uuid>> = r.try_get("channels").map_err(map_err)?;
    Ok(BootstrapConfig {
        client_id: r.try_get("client_id").map_err(map_err)?,
        domain_id: r.try_get("domain_id").map_err(map_err)?,
        name: r.try_get("name").map_err(map_err)?,
        external_id: r.try_get("external_id").map_err(map_err)?,
        external_key_digest: r.try_get("external_key_digest").map_err(map_err)?,
        content: r.try_get("content").map_err(map_err)?,
        client_cert: r.try_get("client_cert").map_err(map_err)?,
        client_key: r.try_get("client_key").map_err(map_err)?,
        ca_cert: r.try_get("ca_cert").map_err(map_err)?,
        state: r.try_get("state").map_err(map_err)?,
        channels: channels.0,
        created_at: r.try_get("created_at").map_err(map_err)?,
    })
}
