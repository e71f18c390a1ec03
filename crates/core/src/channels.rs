//! Channels (message groups): the shared entity path (`entity.rs`) plus a route that
//! is unique in its domain.

use futures::future::BoxFuture;
use serde_json::{Value, json};
use switchyard_auth::policy::{Action, DomainAccess};
use switchyard_domain::{Channel, EntityQuery, Metadata, Page, QueryParams, Status, validate};
use switchyard_store::{Result as StoreResult, Store};
use uuid::Uuid;

use crate::{
    Caller, Core, Result,
    entity::{Managed, Verified},
};

#[derive(Debug, Clone, Default)]
pub struct NewChannel {
    pub id: Option<String>,
    pub name: String,
    pub route: Option<String>,
    pub tags: Vec<String>,
    pub metadata: Metadata,
    pub status: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct ChannelUpdate {
    pub name: Option<String>,
    pub tags: Option<Vec<String>>,
    pub metadata: Option<Metadata>,
}

impl Managed for Channel {
    const KIND: &'static str = "channel";
    const DUPLICATE_ID: &'static str = "channel id already exists";
    const DUPLICATE_KEY: &'static str = "route not available";
    type New = NewChannel;

    fn build(core: &Core, who: &Verified<'_>, domain: Uuid, n: NewChannel) -> Result<Channel> {
        validate::name(&n.name)?;
        let id = match n.id.as_deref() {
            None | Some("") => Uuid::now_v7(),
            Some(s) => validate::explicit_id(s)?,
        };
        let route = match n.route {
            Some(r) if !r.is_empty() => {
                validate::channel_route(&r)?;
                Some(r)
            }
            _ => None,
        };
        Ok(Channel {
            id,
            domain_id: domain,
            name: n.name,
            route,
            tags: n.tags,
            metadata: n.metadata,
            status: Status::parse_for_create(n.status.as_deref())?,
            created_by: who.user(),
            created_at: core.now(),
            updated_at: None,
            updated_by: None,
        })
    }
    crate::entity::common_fields!();
    fn key(&self) -> Option<&str> {
        self.route.as_deref()
    }
    /// Subscribers of change events learn the new name and metadata.
    fn event(&self) -> Value {
        json!({"name": self.name, "metadata": self.metadata})
    }

    fn insert<'a>(store: &'a dyn Store, items: &'a [Self]) -> BoxFuture<'a, StoreResult<()>> {
        store.create_channels(items)
    }
    fn get(store: &dyn Store, domain: Uuid, id: Uuid) -> BoxFuture<'_, StoreResult<Self>> {
        store.channel(domain, id)
    }
    fn list<'a>(
        store: &'a dyn Store,
        domain: Uuid,
        q: &'a EntityQuery,
    ) -> BoxFuture<'a, StoreResult<Page<Self>>> {
        store.list_channels(domain, q)
    }
    fn update<'a>(store: &'a dyn Store, e: &'a Self) -> BoxFuture<'a, StoreResult<()>> {
        store.update_channel(e)
    }
    fn delete(store: &dyn Store, domain: Uuid, id: Uuid) -> BoxFuture<'_, StoreResult<()>> {
        store.delete_channel(domain, id)
    }
}

impl Core {
    pub(crate) fn build_channel(
        &self,
        who: &Verified<'_>,
        domain: Uuid,
        n: NewChannel,
    ) -> Result<Channel> {
        Channel::build(self, who, domain, n)
    }

    pub async fn create_channels(
        &self,
        caller: &Caller,
        domain: Uuid,
        items: Vec<NewChannel>,
    ) -> Result<Vec<Channel>> {
        self.create_all(caller, domain, items).await
    }

    /// Loads a channel the caller may act on; invisible ones are "not found".
    pub(crate) async fn channel_for(
        &self,
        caller: &Caller,
        access: DomainAccess,
        domain: Uuid,
        id: Uuid,
        action: Action,
    ) -> Result<Channel> {
        self.entity_for(caller, access, domain, id, action).await
    }

    pub async fn view_channel(&self, caller: &Caller, domain: Uuid, id: Uuid) -> Result<Channel> {
        self.view(caller, domain, id).await
    }

    pub async fn list_channels(
        &self,
        caller: &Caller,
        domain: Uuid,
        q: &QueryParams,
    ) -> Result<Page<Channel>> {
        self.list(caller, domain, q).await
    }

    pub async fn update_channel(
        &self,
        caller: &Caller,
        domain: Uuid,
        id: Uuid,
        up: ChannelUpdate,
    ) -> Result<Channel> {
        if let Some(n) = &up.name {
            validate::name(n)?;
        }
        self.modify(
            caller,
            domain,
            id,
            Action::Update,
            "update",
            |c: &mut Channel| {
                if let Some(v) = up.name {
                    c.name = v;
                }
                if let Some(v) = up.tags {
                    c.tags = v;
                }
                if let Some(v) = up.metadata {
                    c.metadata = v;
                }
                Ok(())
            },
        )
        .await
    }

    pub async fn set_channel_status(
        &self,
        caller: &Caller,
        domain: Uuid,
        id: Uuid,
        status: Status,
    ) -> Result<Channel> {
        self.set_status(caller, domain, id, status).await
    }

    pub async fn delete_channel(&self, caller: &Caller, domain: Uuid, id: Uuid) -> Result<()> {
        self.delete::<Channel>(caller, domain, id).await
    }
}
