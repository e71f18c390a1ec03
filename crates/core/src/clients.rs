//! Clients (devices and services): the shared entity path (`entity.rs`) plus a secret
//! that is unique in its domain and generated when not given.

use serde_json::{Value, json};
use switchyard_auth::policy::Action;
use switchyard_domain::{Client, Metadata, Status, validate};
use uuid::Uuid;

use crate::{
    Caller, Core, Error, Result,
    entity::{Managed, Verified, patch},
    random_uuid,
};

#[derive(Debug, Clone, Default)]
pub struct NewClient {
    pub id: Option<String>,
    pub name: String,
    pub tags: Vec<String>,
    pub metadata: Metadata,
    pub private_metadata: Metadata,
    pub secret: Option<String>,
    pub status: Option<String>,
    pub parent_group_id: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct ClientUpdate {
    pub name: Option<String>,
    pub tags: Option<Vec<String>>,
    pub metadata: Option<Metadata>,
    pub private_metadata: Option<Metadata>,
}

impl Managed for Client {
    const KIND: &'static str = "client";
    const ENTITY: switchyard_domain::EntityKind = switchyard_domain::EntityKind::Client;
    const DUPLICATE_ID: &'static str = "client id already exists";
    const DUPLICATE_KEY: &'static str = "client key is not available";
    type New = NewClient;
    type Update = ClientUpdate;

    fn build(core: &Core, who: &Verified<'_>, domain: Uuid, n: NewClient) -> Result<Client> {
        validate::name(&n.name)?;
        let id = validate::explicit_id_or_new(n.id.as_deref())?;
        let secret = match n.secret {
            Some(s) if !s.is_empty() => s,
            _ => random_uuid().to_string(),
        };
        Ok(Client {
            id,
            domain_id: domain,
            name: n.name,
            tags: n.tags,
            metadata: n.metadata,
            private_metadata: n.private_metadata,
            secret,
            status: Status::parse_for_create(n.status.as_deref())?,
            parent_group_id: crate::entity::parent_id(n.parent_group_id.as_deref())?,
            created_by: who.user(),
            created_at: core.now(),
            updated_at: None,
            updated_by: None,
        })
    }
    crate::entity::common_fields!();
    fn check(up: &ClientUpdate) -> Result<()> {
        if let Some(n) = &up.name {
            validate::name(n)?;
        }
        Ok(())
    }
    fn apply(&mut self, up: ClientUpdate) {
        patch(&mut self.name, up.name);
        patch(&mut self.tags, up.tags);
        patch(&mut self.metadata, up.metadata);
        patch(&mut self.private_metadata, up.private_metadata);
    }
    fn key(&self) -> Option<&str> {
        Some(&self.secret)
    }
    fn event(&self) -> Value {
        json!({})
    }

    crate::entity::store_calls!(
        create_clients,
        client,
        client_for,
        update_client,
        delete_client,
        list_clients
    );
}

impl Core {
    pub async fn update_client_secret(
        &self,
        caller: &Caller,
        domain: Uuid,
        id: Uuid,
        secret: String,
    ) -> Result<Client> {
        if secret.is_empty() {
            return Err(Error::InvalidInput("missing secret".into()));
        }
        validate::text(&secret)?;
        self.modify(
            caller,
            domain,
            id,
            Action::Update,
            "update_secret",
            |c: &mut Client| {
                c.secret = secret;
                Ok(())
            },
        )
        .await
    }
}
