use std::borrow::Cow;

use async_trait::async_trait;
use sqlx::QueryBuilder;
use switchyard_domain::{Channel, EntityQuery, Page, Status};
use switchyard_store::{ChannelRepo, ConflictKind, Result};
use uuid::Uuid;

use crate::{
    SqlStore,
    dialect::{Dialect, Sql, Tuple, Val, json, push_in, sql},
    entity::Entity,
    sort_at,
};

/// A channel from columns named `<prefix><column>` (a join that renames them).
pub(crate) fn row_channel_prefixed<D: Dialect>(r: &D::Row, prefix: &str) -> Result<Channel> {
    // No allocation per column for the plain (unprefixed) reads, every listing's.
    let c = |name: &'static str| -> Cow<'static, str> {
        if prefix.is_empty() {
            name.into()
        } else {
            format!("{prefix}{name}").into()
        }
    };
    Ok(Channel {
        id: D::id(r, &c("id"))?,
        domain_id: D::id(r, &c("domain_id"))?,
        name: D::text(r, &c("name"))?,
        route: D::opt_text(r, &c("route"))?,
        tags: D::json(r, &c("tags"))?,
        metadata: D::json(r, &c("metadata"))?,
        status: Status::from_code(i64::from(D::small(r, &c("status"))?)),
        parent_group_id: D::opt_id(r, &c("parent_group_id"))?,
        created_by: D::id(r, &c("created_by"))?,
        created_at: D::time(r, &c("created_at"))?,
        updated_at: D::opt_time(r, &c("updated_at"))?,
        updated_by: D::opt_id(r, &c("updated_by"))?,
    })
}

impl Entity for Channel {
    const TABLE: &'static str = "channels";
    const PARENT: &'static str = "parent_group_id";
    const INSERT: &'static str = "INSERT INTO channels (id, domain_id, name, route, tags, \
         metadata, status, created_by, created_at, updated_at, updated_by, sort_at, \
         parent_group_id) ";
    const BINDS: usize = 13;
    const BY_ID: &'static str = "SELECT * FROM channels WHERE id = $1 AND domain_id = $2";
    const BY_ID_ANY_DOMAIN: &'static str = "SELECT * FROM channels WHERE id = $1";
    const DELETE: &'static str = "DELETE FROM channels WHERE id = $1 AND domain_id = $2";
    const ID_CONFLICT: ConflictKind = ConflictKind::ChannelId;
    const KEY_CONFLICT: (ConflictKind, &'static str) = (ConflictKind::ChannelRoute, "route");
    const CONNECTION_COLUMNS: (&'static str, &'static str) = ("channel_id", "client_id");

    fn id(&self) -> Uuid {
        self.id
    }
    fn domain_id(&self) -> Uuid {
        self.domain_id
    }
    fn key(&self) -> Option<&str> {
        self.route.as_deref()
    }
    fn connected_to(q: &EntityQuery) -> Option<Uuid> {
        q.client
    }

    fn push_row<D: Dialect>(t: &mut Tuple<'_, D>, c: &Self) {
        t.v(Val::Id(c.id))
            .v(Val::Id(c.domain_id))
            .v(Val::Text(&c.name))
            .v(Val::OptText(c.route.as_deref()))
            .v(Val::Json(&json(&c.tags)))
            .v(Val::Json(&json(&c.metadata)))
            .v(Val::Small(c.status.code()))
            .v(Val::Id(c.created_by))
            .v(Val::Time(c.created_at))
            .v(Val::OptTime(c.updated_at))
            .v(Val::OptId(c.updated_by))
            .v(Val::Time(sort_at(c.created_at, c.updated_at)))
            .v(Val::OptId(c.parent_group_id));
    }

    fn from_row<D: Dialect>(r: &D::Row) -> Result<Self> {
        row_channel_prefixed::<D>(r, "")
    }

    fn update<D: Dialect>(c: &Self) -> Sql<'static, D> {
        sql::<D>(
            "UPDATE channels SET name=$3, route=$4, tags=$5, metadata=$6, status=$7, \
             updated_at=$8, updated_by=$9, sort_at=$10 WHERE id=$1 AND domain_id=$2",
        )
        .id(c.id)
        .id(c.domain_id)
        .text(&c.name)
        .opt_text(c.route.as_deref())
        .json(&c.tags)
        .json(&c.metadata)
        .small(c.status.code())
        .opt_time(c.updated_at)
        .opt_id(c.updated_by)
        .time(sort_at(c.created_at, c.updated_at))
    }
}

#[async_trait]
impl<D: Dialect> ChannelRepo for SqlStore<D> {
    async fn create_channels(&self, cs: &[Channel]) -> Result<()> {
        self.create_entities(cs).await
    }

    async fn channel_for(
        &self,
        user: Uuid,
        domain: Uuid,
        id: Uuid,
    ) -> Result<(Channel, Vec<switchyard_domain::Grant>)> {
        self.entity_for(user, domain, id).await
    }

    async fn channel(&self, domain: Uuid, id: Uuid) -> Result<Channel> {
        self.entity(domain, id).await
    }

    async fn channel_by_route(&self, domain: Uuid, route: &str) -> Result<Channel> {
        let r = sql::<D>("SELECT * FROM channels WHERE route = $1 AND domain_id = $2")
            .text(route)
            .id(domain)
            .fetch_one(&self.pool)
            .await?;
        Channel::from_row::<D>(&r)
    }

    async fn channel_any_domain(&self, id: Uuid) -> Result<Channel> {
        self.entity_any_domain(id).await
    }

    async fn channels_by_ids(&self, domain: Uuid, ids: &[Uuid]) -> Result<Vec<Channel>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut qb = QueryBuilder::<D>::new("SELECT * FROM channels WHERE domain_id = ");
        D::push_bind(&mut qb, Val::Id(domain));
        qb.push(" AND id");
        push_in(
            &mut qb,
            ids.iter().take(D::MAX_BINDS - 1).map(|id| Val::Id(*id)),
        );
        let rows = Sql::from(qb.build()).fetch_all(&self.pool).await?;
        rows.iter().map(Channel::from_row::<D>).collect()
    }

    async fn list_channels(&self, domain: Uuid, q: &EntityQuery) -> Result<Page<Channel>> {
        self.list_entities(domain, q).await
    }

    async fn update_channel(&self, c: &Channel) -> Result<()> {
        self.update_entity(c).await
    }

    async fn delete_channel(&self, domain: Uuid, id: Uuid) -> Result<()> {
        self.delete_entity::<Channel>(domain, id).await
    }
}
