use async_trait::async_trait;
use sqlx::QueryBuilder;
use switchyard_domain::{Client, ClientLogin, EntityQuery, Page, Status};
use switchyard_store::{ClientRepo, ConflictKind, MAX_LOGIN_BATCH, Result};
use uuid::Uuid;

use crate::{
    SqlStore,
    dialect::{Dialect, Sql, Tuple, Val, json, push_in, sql},
    entity::Entity,
    sort_at,
};

impl Entity for Client {
    const TABLE: &'static str = "clients";
    const PARENT: &'static str = "parent_group_id";
    const INSERT: &'static str = "INSERT INTO clients (id, domain_id, name, tags, metadata, \
         private_metadata, secret, status, created_by, created_at, updated_at, updated_by, \
         sort_at, parent_group_id) ";
    const BINDS: usize = 14;
    const BY_ID: &'static str = "SELECT * FROM clients WHERE id = $1 AND domain_id = $2";
    const BY_ID_ANY_DOMAIN: &'static str = "SELECT * FROM clients WHERE id = $1";
    const DELETE: &'static str = "DELETE FROM clients WHERE id = $1 AND domain_id = $2";
    const ID_CONFLICT: ConflictKind = ConflictKind::ClientId;
    const KEY_CONFLICT: (ConflictKind, &'static str) = (ConflictKind::ClientSecret, "secret");
    const CONNECTION_COLUMNS: (&'static str, &'static str) = ("client_id", "channel_id");

    fn id(&self) -> Uuid {
        self.id
    }
    fn domain_id(&self) -> Uuid {
        self.domain_id
    }
    fn key(&self) -> Option<&str> {
        Some(&self.secret)
    }
    fn connected_to(q: &EntityQuery) -> Option<Uuid> {
        q.channel
    }

    fn push_row<D: Dialect>(t: &mut Tuple<'_, D>, c: &Self) {
        t.v(Val::Id(c.id))
            .v(Val::Id(c.domain_id))
            .v(Val::Text(&c.name))
            .v(Val::Json(&json(&c.tags)))
            .v(Val::Json(&json(&c.metadata)))
            .v(Val::Json(&json(&c.private_metadata)))
            .v(Val::Text(&c.secret))
            .v(Val::Small(c.status.code()))
            .v(Val::Id(c.created_by))
            .v(Val::Time(c.created_at))
            .v(Val::OptTime(c.updated_at))
            .v(Val::OptId(c.updated_by))
            .v(Val::Time(sort_at(c.created_at, c.updated_at)))
            .v(Val::OptId(c.parent_group_id));
    }

    fn from_row<D: Dialect>(r: &D::Row) -> Result<Self> {
        Ok(Client {
            id: D::id(r, "id")?,
            domain_id: D::id(r, "domain_id")?,
            name: D::text(r, "name")?,
            tags: D::json(r, "tags")?,
            metadata: D::json(r, "metadata")?,
            private_metadata: D::json(r, "private_metadata")?,
            secret: D::text(r, "secret")?,
            status: Status::from_code(i64::from(D::small(r, "status")?)),
            parent_group_id: D::opt_id(r, "parent_group_id")?,
            created_by: D::id(r, "created_by")?,
            created_at: D::time(r, "created_at")?,
            updated_at: D::opt_time(r, "updated_at")?,
            updated_by: D::opt_id(r, "updated_by")?,
        })
    }

    fn update<D: Dialect>(c: &Self) -> Sql<'static, D> {
        sql::<D>(
            "UPDATE clients SET name=$3, tags=$4, metadata=$5, private_metadata=$6, secret=$7, \
             status=$8, updated_at=$9, updated_by=$10, sort_at=$11 WHERE id=$1 AND domain_id=$2",
        )
        .id(c.id)
        .id(c.domain_id)
        .text(&c.name)
        .json(&c.tags)
        .json(&c.metadata)
        .json(&c.private_metadata)
        .text(&c.secret)
        .small(c.status.code())
        .opt_time(c.updated_at)
        .opt_id(c.updated_by)
        .time(sort_at(c.created_at, c.updated_at))
    }
}

#[async_trait]
impl<D: Dialect> ClientRepo for SqlStore<D> {
    async fn create_clients(&self, cs: &[Client]) -> Result<()> {
        self.create_entities(cs).await
    }

    async fn client_for(
        &self,
        user: Uuid,
        domain: Uuid,
        id: Uuid,
    ) -> Result<(Client, Vec<switchyard_domain::Grant>)> {
        self.entity_for(user, domain, id).await
    }

    async fn client(&self, domain: Uuid, id: Uuid) -> Result<Client> {
        self.entity(domain, id).await
    }

    async fn client_any_domain(&self, id: Uuid) -> Result<Client> {
        self.entity_any_domain(id).await
    }

    async fn client_logins(&self, ids: &[Uuid]) -> Result<Vec<ClientLogin>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut qb = QueryBuilder::<D>::new(
            "SELECT t.id, t.domain_id, t.secret, t.status, t.created_by, \
             d.status AS domain_status FROM clients t \
             LEFT JOIN domains d ON d.id = t.domain_id WHERE t.id",
        );
        let n = ids.len().min(MAX_LOGIN_BATCH).min(D::MAX_BINDS);
        push_in(&mut qb, ids[..n].iter().map(|id| Val::Id(*id)));
        let rows = Sql::from(qb.build()).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                let domain =
                    D::opt_small(r, "domain_status")?.map(|c| Status::from_code(i64::from(c)));
                Ok(ClientLogin {
                    id: D::id(r, "id")?,
                    domain_id: D::id(r, "domain_id")?,
                    secret: D::text(r, "secret")?,
                    status: Status::from_code(i64::from(D::small(r, "status")?)),
                    created_by: D::id(r, "created_by")?,
                    domain_enabled: domain == Some(Status::Enabled),
                })
            })
            .collect()
    }

    async fn client_by_secret(&self, domain: Uuid, secret: &str) -> Result<Client> {
        let r =
            sql::<D>("SELECT * FROM clients WHERE domain_id = $1 AND secret = $2 AND status = 0")
                .id(domain)
                .text(secret)
                .fetch_one(&self.pool)
                .await?;
        Client::from_row::<D>(&r)
    }

    async fn list_clients(&self, domain: Uuid, q: &EntityQuery) -> Result<Page<Client>> {
        self.list_entities(domain, q).await
    }

    async fn update_client(&self, c: &Client) -> Result<()> {
        self.update_entity(c).await
    }

    async fn delete_client(&self, domain: Uuid, id: Uuid) -> Result<()> {
        self.delete_entity::<Client>(domain, id).await
    }
}
