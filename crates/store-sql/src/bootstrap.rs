use async_trait::async_trait;
use sqlx::QueryBuilder;
use switchyard_domain::{BootstrapConfig, Channel, Client, Connection, Page};
use switchyard_store::{
    BootstrapRepo, ConfigQuery, FetchedConfig, ProvisionPlan, Result, StoreError,
};
use uuid::Uuid;

use crate::{
    SqlStore,
    channels::row_channel_prefixed,
    connections,
    dialect::{Dialect, Ex, Sql, Val, json, push_values, sql},
    entity,
    list::{Listing, push_limit},
};

/// The device-facing fetch in one statement: the config, its client's secret and one
/// row per existing channel of the config (NULL channel columns when none is left). The
/// channels are joined on their primary key alone (the dialect says how the config's
/// JSON array of ids is expanded): with `domain_id` in the join the planner may walk the
/// domain's index and filter every channel of the domain; the domain is checked on the
/// rows instead.
fn fetch_sql<D: Dialect>() -> String {
    format!(
        "SELECT b.*, cl.secret AS fetch_client_secret, \
         c.id AS ch_id, c.domain_id AS ch_domain_id, c.name AS ch_name, c.route AS ch_route, \
         c.tags AS ch_tags, c.metadata AS ch_metadata, c.status AS ch_status, \
         c.created_by AS ch_created_by, c.created_at AS ch_created_at, \
         c.updated_at AS ch_updated_at, c.updated_by AS ch_updated_by, \
         c.parent_group_id AS ch_parent_group_id \
         FROM bootstrap_configs b \
         JOIN clients cl ON cl.id = b.client_id \
         LEFT JOIN channels c ON {} \
         WHERE b.external_id = ",
        D::CHANNEL_IN_CONFIG
    )
}

/// Pushes the INSERT of `configs` onto `qb`.
pub(crate) fn push_insert_configs<'a, D: Dialect>(
    qb: &mut QueryBuilder<D>,
    configs: impl IntoIterator<Item = &'a BootstrapConfig>,
) {
    qb.push(
        "INSERT INTO bootstrap_configs (client_id, domain_id, name, external_id, \
         external_key_digest, content, client_cert, client_key, ca_cert, state, channels, \
         created_at) ",
    );
    push_values(qb, configs, |t, c| {
        t.v(Val::Id(c.client_id))
            .v(Val::Id(c.domain_id))
            .v(Val::Text(&c.name))
            .v(Val::Text(&c.external_id))
            .v(Val::Text(&c.external_key_digest))
            .v(Val::Text(&c.content))
            .v(Val::Text(&c.client_cert))
            .v(Val::Text(&c.client_key))
            .v(Val::Text(&c.ca_cert))
            .v(Val::Small(c.state))
            .v(Val::Json(&json(&c.channels)))
            .v(Val::Time(c.created_at));
    });
}

/// The INSERTs of a group of gateways: one per table, each with every gateway's rows
/// (tables no gateway has rows for are left out), `; ` after each. Used by SQLite's
/// group writer, which sends them as one batch.
pub(crate) fn push_plans<D: Dialect>(qb: &mut QueryBuilder<D>, plans: &[&ProvisionPlan]) {
    if plans.iter().any(|p| !p.clients.is_empty()) {
        entity::push_insert::<D, Client>(qb, plans.iter().flat_map(|p| &p.clients));
        qb.push("; ");
    }
    if plans.iter().any(|p| !p.channels.is_empty()) {
        entity::push_insert::<D, Channel>(qb, plans.iter().flat_map(|p| &p.channels));
        qb.push("; ");
    }
    if plans.iter().any(|p| !p.connections.is_empty()) {
        connections::push_insert(
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

async fn insert_config<D: Dialect>(conn: &mut D::Connection, c: &BootstrapConfig) -> Result<()> {
    let mut qb = QueryBuilder::<D>::new("");
    push_insert_configs(&mut qb, [c]);
    Sql::from(qb.build())
        .execute(Ex::Conn(conn))
        .await
        .map(|_| ())
}

async fn save_config<D: Dialect>(conn: &mut D::Connection, c: &BootstrapConfig) -> Result<()> {
    sql::<D>(
        "UPDATE bootstrap_configs SET name=$3, content=$4, client_cert=$5, client_key=$6, \
         ca_cert=$7, state=$8, channels=$9 WHERE domain_id=$1 AND client_id=$2",
    )
    .id(c.domain_id)
    .id(c.client_id)
    .text(&c.name)
    .text(&c.content)
    .text(&c.client_cert)
    .text(&c.client_key)
    .text(&c.ca_cert)
    .small(c.state)
    .json(&c.channels)
    .execute_one(Ex::Conn(conn))
    .await
}

fn row_config<D: Dialect>(r: &D::Row) -> Result<BootstrapConfig> {
    Ok(BootstrapConfig {
        client_id: D::id(r, "client_id")?,
        domain_id: D::id(r, "domain_id")?,
        name: D::text(r, "name")?,
        external_id: D::text(r, "external_id")?,
        external_key_digest: D::text(r, "external_key_digest")?,
        content: D::text(r, "content")?,
        client_cert: D::text(r, "client_cert")?,
        client_key: D::text(r, "client_key")?,
        ca_cert: D::text(r, "ca_cert")?,
        state: D::small(r, "state")?,
        channels: D::json(r, "channels")?,
        created_at: D::time(r, "created_at")?,
    })
}

#[async_trait]
impl<D: Dialect> BootstrapRepo for SqlStore<D> {
    async fn provision(&self, p: &ProvisionPlan) -> Result<()> {
        // SQLite: a gateway-sized plan is written together with the other gateways
        // queued at the same moment, in one call to the writer's thread.
        if let Some(group) = self.extra.as_ref().and_then(|x| x.group.as_ref())
            && group.takes(p)
        {
            group.submit(p.clone()).await?;
            self.wrote_plan(p);
            return Ok(());
        }
        let mut tx = self.write_tx().await?;
        entity::insert::<D, Client>(&mut tx, &p.clients).await?;
        entity::insert::<D, Channel>(&mut tx, &p.channels).await?;
        for chunk in p.connections.chunks(connections::CHUNK) {
            let mut qb = QueryBuilder::<D>::new("");
            connections::push_insert(&mut qb, chunk.iter().map(|c| (p.domain, c)));
            Sql::from(qb.build()).execute(&mut tx).await?;
        }
        insert_config::<D>(&mut tx, &p.config).await?;
        for c in &p.certs {
            crate::certs::insert_cert::<D>(Ex::from(&mut tx), c).await?;
        }
        tx.commit().await.map_err(D::err)?;
        self.wrote_plan(p);
        Ok(())
    }

    async fn bootstrap_fetch(&self, external_id: &str) -> Result<FetchedConfig> {
        let mut qb = QueryBuilder::<D>::new(fetch_sql::<D>());
        D::push_bind(&mut qb, Val::Text(external_id));
        let rows = Sql::from(qb.build()).fetch_all(&self.pool).await?;
        let first = rows.first().ok_or(StoreError::NotFound)?;
        let config = row_config::<D>(first)?;
        let client_secret = D::text(first, "fetch_client_secret")?;
        let mut channels = Vec::with_capacity(rows.len());
        for r in &rows {
            if D::opt_id(r, "ch_id")?.is_some() {
                let ch = row_channel_prefixed::<D>(r, "ch_")?;
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
            entity::insert::<D, Client>(&mut tx, std::slice::from_ref(cl)).await?;
        }
        insert_config::<D>(&mut tx, c).await?;
        tx.commit().await.map_err(D::err)
    }

    async fn config(&self, domain: Uuid, client_id: Uuid) -> Result<BootstrapConfig> {
        let r = sql::<D>("SELECT * FROM bootstrap_configs WHERE domain_id = $1 AND client_id = $2")
            .id(domain)
            .id(client_id)
            .fetch_one(&self.pool)
            .await?;
        row_config::<D>(&r)
    }

    async fn list_configs(&self, domain: Uuid, q: &ConfigQuery) -> Result<Page<BootstrapConfig>> {
        let filters = |qb: &mut QueryBuilder<D>| {
            qb.push(" WHERE b.domain_id = ");
            D::push_bind(qb, Val::Id(domain));
            if let Some(st) = q.state {
                qb.push(" AND b.state = ");
                D::push_bind(qb, Val::Small(st));
            }
            if let Some(e) = &q.external_id {
                qb.push(" AND b.external_id = ");
                D::push_bind(qb, Val::Text(e));
            }
            if let Some(n) = &q.name {
                D::push_ilike(qb, "b.name", n);
            }
            if let Some(u) = q.created_by {
                qb.push(
                    " AND EXISTS (SELECT 1 FROM clients c WHERE c.id = b.client_id \
                     AND c.created_by = ",
                );
                D::push_bind(qb, Val::Id(u));
                qb.push(")");
            }
        };
        Listing::window(
            &self.pool,
            "bootstrap_configs b",
            "b.*",
            q.offset,
            q.limit,
            false,
        )
        .run(
            filters,
            |qb| {
                qb.push(" ORDER BY b.client_id");
                push_limit(qb, q.limit, q.offset);
            },
            |r| row_config::<D>(r),
        )
        .await
    }

    async fn update_config(&self, c: &BootstrapConfig) -> Result<()> {
        let mut tx = self.write_tx().await?;
        save_config::<D>(&mut tx, c).await?;
        tx.commit().await.map_err(D::err)
    }

    async fn update_config_with_connections(
        &self,
        c: &BootstrapConfig,
        connect: &[Connection],
        disconnect: &[Connection],
    ) -> Result<()> {
        let mut tx = self.write_tx().await?;
        save_config::<D>(&mut tx, c).await?;
        for chunk in connect.chunks(connections::CHUNK) {
            let mut qb = QueryBuilder::<D>::new("");
            connections::push_insert(&mut qb, chunk.iter().map(|k| (c.domain_id, k)));
            Sql::from(qb.build()).execute(&mut tx).await?;
        }
        for k in disconnect {
            sql::<D>(
                "DELETE FROM connections WHERE channel_id = $1 AND client_id = $2 AND type = $3",
            )
            .id(k.channel_id)
            .id(k.client_id)
            .small(k.kind.code())
            .execute(&mut tx)
            .await?;
        }
        tx.commit().await.map_err(D::err)
    }

    async fn delete_config(&self, domain: Uuid, client_id: Uuid) -> Result<()> {
        sql::<D>("DELETE FROM bootstrap_configs WHERE domain_id = $1 AND client_id = $2")
            .id(domain)
            .id(client_id)
            .execute_one(&self.writer)
            .await
    }
}
