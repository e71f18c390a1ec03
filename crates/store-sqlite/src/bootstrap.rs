use async_trait::async_trait;
use sqlx::{QueryBuilder, Row, Sqlite};
use switchyard_domain::{BootstrapConfig, Client, Connection, Page};
use switchyard_store::{
    BootstrapRepo, ConfigQuery, FetchedConfig, ProvisionPlan, Result, StoreError,
};
use uuid::Uuid;

use crate::{
    SqliteStore, channels::insert_channels, clients::insert_clients, from_ts, id, map_err, to_json,
    ts,
};

/// The device-facing fetch in one statement (see `bootstrap_fetch`). Channels are
/// joined on their primary key alone (the ids in the config's JSON array), so no
/// domain-wide index is walked; the domain is checked on the rows.
const FETCH_SQL: &str = "SELECT b.*, cl.secret AS fetch_client_secret, \
     c.id AS ch_id, c.domain_id AS ch_domain_id, c.name AS ch_name, c.route AS ch_route, \
     c.tags AS ch_tags, c.metadata AS ch_metadata, c.status AS ch_status, \
     c.created_by AS ch_created_by, c.created_at AS ch_created_at, \
     c.updated_at AS ch_updated_at, c.updated_by AS ch_updated_by \
     FROM bootstrap_configs b \
     JOIN clients cl ON cl.id = b.client_id \
     LEFT JOIN channels c ON c.id IN (SELECT value FROM json_each(b.channels)) \
     WHERE b.external_id = ?1";

#[async_trait]
impl BootstrapRepo for SqliteStore {
    async fn provision(&self, p: &ProvisionPlan) -> Result<()> {
        // A gateway-sized plan (every table fits one INSERT) is written together with
        // the other gateways queued at the same moment, in one call to the writer's
        // thread (see `group`).
        if let Some(group) = &self.group
            && group.takes(p)
        {
            return group.submit(p.clone()).await;
        }
        let mut tx = self.write_tx().await?;
        insert_clients(&mut tx, &p.clients).await.map_err(map_err)?;
        insert_channels(&mut tx, &p.channels)
            .await
            .map_err(map_err)?;
        for chunk in p.connections.chunks(CONNECTION_CHUNK) {
            let mut qb = QueryBuilder::<Sqlite>::new("");
            push_insert_connections(&mut qb, chunk.iter().map(|c| (p.domain, c)));
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

    /// One statement: the config, its client's secret, and one row per existing
    /// channel of the config (NULL channel columns when none is left).
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
            let ch: Option<&str> = r.try_get("ch_id").map_err(map_err)?;
            if ch.is_some() {
                let ch = crate::channels::row_channel_prefixed(r, "ch_")?;
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
                .bind(domain.to_string())
                .bind(client_id.to_string())
                .fetch_one(&self.pool)
                .await
                .map_err(map_err)?;
        row_config(&r)
    }

    async fn list_configs(&self, domain: Uuid, q: &ConfigQuery) -> Result<Page<BootstrapConfig>> {
        let filters = |qb: &mut QueryBuilder<Sqlite>| {
            qb.push(" WHERE b.domain_id = ");
            qb.push_bind(domain.to_string());
            if let Some(st) = q.state {
                qb.push(" AND b.state = ");
                qb.push_bind(i64::from(st));
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
                qb.push_bind(u.to_string());
                qb.push(")");
            }
        };
        let mut count = QueryBuilder::<Sqlite>::new("SELECT COUNT(*) FROM bootstrap_configs b");
        filters(&mut count);
        let total: i64 = count
            .build_query_scalar()
            .fetch_one(&self.pool)
            .await
            .map_err(map_err)?;
        let mut qb = QueryBuilder::<Sqlite>::new("SELECT b.* FROM bootstrap_configs b");
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
                .bind(k.channel_id.to_string())
                .bind(k.client_id.to_string())
                .bind(c.domain_id.to_string())
                .bind(i64::from(k.kind.code()))
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        }
        for k in disconnect {
            sqlx::query(
                "DELETE FROM connections WHERE channel_id = $1 AND client_id = $2 AND type = $3",
            )
            .bind(k.channel_id.to_string())
            .bind(k.client_id.to_string())
            .bind(i64::from(k.kind.code()))
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        }
        tx.commit().await.map_err(map_err)
    }

    async fn delete_config(&self, domain: Uuid, client_id: Uuid) -> Result<()> {
        let res =
            sqlx::query("DELETE FROM bootstrap_configs WHERE domain_id = $1 AND client_id = $2")
                .bind(domain.to_string())
                .bind(client_id.to_string())
                .execute(&self.writer)
                .await
                .map_err(map_err)?;
        crate::one(res)
    }
}

/// Connections per INSERT (4 parameters each).
pub(crate) const CONNECTION_CHUNK: usize = 2000;

fn push_insert_connections<'a>(
    qb: &mut QueryBuilder<Sqlite>,
    cs: impl IntoIterator<Item = (Uuid, &'a Connection)>,
) {
    qb.push("INSERT INTO connections (channel_id, client_id, domain_id, type) ");
    qb.push_values(cs, |mut b, (domain, c)| {
        b.push_bind(c.channel_id.to_string())
            .push_bind(c.client_id.to_string())
            .push_bind(domain.to_string())
            .push_bind(i64::from(c.kind.code()));
    });
    qb.push(" ON CONFLICT DO NOTHING");
}

/// The INSERT of configs, pushed onto `qb` (also a multi-statement batch).
fn push_insert_configs<'a>(
    qb: &mut QueryBuilder<Sqlite>,
    cs: impl IntoIterator<Item = &'a BootstrapConfig>,
) {
    qb.push(
        "INSERT INTO bootstrap_configs (client_id, domain_id, name, external_id, external_key_digest, \
         content, client_cert, client_key, ca_cert, state, channels, created_at) ",
    );
    qb.push_values(cs, |mut b, c| {
        b.push_bind(c.client_id.to_string())
            .push_bind(c.domain_id.to_string())
            .push_bind(c.name.clone())
            .push_bind(c.external_id.clone())
            .push_bind(c.external_key_digest.clone())
            .push_bind(c.content.clone())
            .push_bind(c.client_cert.clone())
            .push_bind(c.client_key.clone())
            .push_bind(c.ca_cert.clone())
            .push_bind(i64::from(c.state))
            .push_bind(to_json(&c.channels))
            .push_bind(ts(c.created_at));
    });
}

async fn insert_config(
    conn: &mut sqlx::SqliteConnection,
    c: &BootstrapConfig,
) -> std::result::Result<(), sqlx::Error> {
    let mut qb = QueryBuilder::<Sqlite>::new("");
    push_insert_configs(&mut qb, [c]);
    qb.build().execute(&mut *conn).await?;
    Ok(())
}

async fn save_config(conn: &mut sqlx::SqliteConnection, c: &BootstrapConfig) -> Result<()> {
    let res = sqlx::query(
        "UPDATE bootstrap_configs SET name=$3, content=$4, client_cert=$5, client_key=$6, ca_cert=$7, \
         state=$8, channels=$9 WHERE domain_id=$1 AND client_id=$2",
    )
    .bind(c.domain_id.to_string())
    .bind(c.client_id.to_string())
    .bind(&c.name)
    .bind(&c.content)
    .bind(&c.client_cert)
    .bind(&c.client_key)
    .bind(&c.ca_cert)
    .bind(i64::from(c.state))
    .bind(to_json(&c.channels))
    .execute(&mut *conn)
    .await
    .map_err(map_err)?;
    crate::one(res)
}

fn row_config(r: &sqlx::sqlite::SqliteRow) -> Result<BootstrapConfig> {
    let channels: Vec<Uuid> =
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

/// The INSERTs of a group of gateways: one per table, each with every gateway's rows
/// (tables no gateway has rows for are left out), `; ` after each.
pub(crate) fn push_plans(qb: &mut QueryBuilder<Sqlite>, plans: &[&ProvisionPlan]) {
    if plans.iter().any(|p| !p.clients.is_empty()) {
        crate::clients::push_insert_clients(qb, plans.iter().flat_map(|p| &p.clients));
        qb.push("; ");
    }
    if plans.iter().any(|p| !p.channels.is_empty()) {
        crate::channels::push_insert_channels(qb, plans.iter().flat_map(|p| &p.channels));
        qb.push("; ");
    }
    if plans.iter().any(|p| !p.connections.is_empty()) {
        push_insert_connections(
            qb,
            plans
                .iter()
                .flat_map(|p| p.connections.iter().map(|c| (p.domain, c))),
        );
        qb.push("; ");
    }
    push_insert_configs(qb, plans.iter().map(|p| &p.config));
    qb.push("; ");
}
