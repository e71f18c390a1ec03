//! Channels (message groups): the shared entity path (`entity.rs`) plus a route that
//! is unique in its domain.

use serde_json::{Value, json};
use switchyard_domain::{Channel, Metadata, Status, validate};
use uuid::Uuid;

use crate::{
    Core, Result,
    entity::{Managed, Verified, patch},
};

#[derive(Debug, Clone, Default)]
pub struct NewChannel {
    pub id: Option<String>,
    pub name: String,
    pub route: Option<String>,
    pub tags: Vec<String>,
    pub metadata: Metadata,
    pub status: Option<String>,
    pub parent_group_id: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct ChannelUpdate {
    pub name: Option<String>,
    pub tags: Option<Vec<String>>,
    pub metadata: Option<Metadata>,
}

impl Managed for Channel {
    const KIND: &'static str = "channel";
    const ENTITY: switchyard_domain::EntityKind = switchyard_domain::EntityKind::Channel;
    const DUPLICATE_ID: &'static str = "channel id already exists";
    const DUPLICATE_KEY: &'static str = "route not available";
    type New = NewChannel;
    type Update = ChannelUpdate;

    fn build(core: &Core, who: &Verified<'_>, domain: Uuid, n: NewChannel) -> Result<Channel> {
        validate::name(&n.name)?;
        let id = validate::explicit_id_or_new(n.id.as_deref())?;
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
            parent_group_id: crate::entity::parent_id(n.parent_group_id.as_deref())?,
            created_by: who.user(),
            created_at: core.now(),
            updated_at: None,
            updated_by: None,
        })
    }
    crate::entity::common_fields!();
    fn check(up: &ChannelUpdate) -> Result<()> {
        if let Some(n) = &up.name {
            validate::name(n)?;
        }
        Ok(())
    }
    fn apply(&mut self, up: ChannelUpdate) {
        patch(&mut self.name, up.name);
        patch(&mut self.tags, up.tags);
        patch(&mut self.metadata, up.metadata);
    }
    fn key(&self) -> Option<&str> {
        self.route.as_deref()
    }
    /// Subscribers of change events learn the new name and metadata.
    fn event(&self) -> Value {
        json!({"name": self.name, "metadata": self.metadata})
    }

    crate::entity::store_calls!(
        create_channels,
        channel,
        channel_for,
        update_channel,
        delete_channel,
        list_channels
    );
}
