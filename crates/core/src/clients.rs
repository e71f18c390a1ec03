//! Clients (devices and services). Members manage what they created; domain admins
//! and the super-admin manage everything in the domain. Foreign ids answer 404 so a
//! member cannot probe for other users' clients.

use std::collections::HashSet;

use serde_json::json;
use switchyard_auth::policy::{self, Action, DomainAccess, EntityGrant};
use switchyard_domain::{Client, Metadata, Page, QueryParams, Status, validate};
use uuid::Uuid;

use crate::{Caller, Core, Error, Result, random_uuid};

#[derive(Debug, Clone, Default)]
pub struct NewClient {
    pub id: Option<String>,
    pub name: String,
    pub tags: Vec<String>,
    pub metadata: Metadata,
    pub private_metadata: Metadata,
    pub secret: Option<String>,
    pub status: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct ClientUpdate {
    pub name: Option<String>,
    pub tags: Option<Vec<String>>,
    pub metadata: Option<Metadata>,
    pub private_metadata: Option<Metadata>,
}

fn at(i: usize, many: bool, e: Error) -> Error {
    if !many {
        return e;
    }
    match e {
        Error::InvalidInput(m) => Error::InvalidInput(format!("{m} (item {i})")),
        other => other,
    }
}

impl Core {
    pub(crate) fn build_client(
        &self,
        caller: &Caller,
        domain: Uuid,
        n: NewClient,
    ) -> Result<Client> {
        validate::name(&n.name)?;
        let id = match n.id.as_deref() {
            None | Some("") => Uuid::now_v7(),
            Some(s) => validate::explicit_id(s)?,
        };
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
            created_by: caller.user,
            created_at: self.now(),
            updated_at: None,
            updated_by: None,
        })
    }

    /// Validates a batch: every item, then in-batch duplicate ids and secrets.
    pub(crate) fn build_clients(
        &self,
        caller: &Caller,
        domain: Uuid,
        items: Vec<NewClient>,
    ) -> Result<Vec<Client>> {
        let many = items.len() > 1;
        let mut out = Vec::with_capacity(items.len());
        let mut ids = HashSet::with_capacity(items.len());
        let mut secrets = HashSet::with_capacity(items.len());
        for (i, n) in items.into_iter().enumerate() {
            let c = self
                .build_client(caller, domain, n)
                .map_err(|e| at(i, many, e))?;
            if !ids.insert(c.id) {
                return Err(Error::AlreadyExists(format!(
                    "client id already exists (item {i})"
                )));
            }
            if !secrets.insert(c.secret.clone()) {
                return Err(Error::AlreadyExists(format!(
                    "client key is not available (item {i})"
                )));
            }
            out.push(c);
        }
        Ok(out)
    }

    pub async fn create_clients(
        &self,
        caller: &Caller,
        domain: Uuid,
        items: Vec<NewClient>,
    ) -> Result<Vec<Client>> {
        self.require_verified(caller)?;
        self.domain_access(caller, domain, true).await?;
        if items.is_empty() {
            return Err(Error::InvalidInput("empty list provided".into()));
        }
        if items.len() > self.cfg.bulk_max {
            return Err(Error::TooLarge(format!(
                "bulk of {} items exceeds the limit of {}",
                items.len(),
                self.cfg.bulk_max
            )));
        }
        let clients = self.build_clients(caller, domain, items)?;
        self.store
            .create_clients(&clients)
            .await
            .map_err(|e| crate::error::batch_error(e, clients.len()))?;
        for c in &clients {
            self.emit("client", "create", c.id, Some(domain), json!({}))
                .await;
        }
        Ok(clients)
    }

    /// Loads a client the caller may act on; invisible ones are "not found".
    pub(crate) async fn client_for(
        &self,
        caller: &Caller,
        access: DomainAccess,
        domain: Uuid,
        id: Uuid,
        action: Action,
    ) -> Result<Client> {
        let c = self.store.client(domain, id).await?;
        if !policy::entity_allowed(
            access,
            caller.user,
            Action::View,
            Some(c.created_by),
            EntityGrant::default(),
        ) {
            return Err(Error::NotFound);
        }
        if !policy::entity_allowed(
            access,
            caller.user,
            action,
            Some(c.created_by),
            EntityGrant::default(),
        ) {
            return Err(Error::Forbidden(
                "failed to perform authorization over the entity",
            ));
        }
        Ok(c)
    }

    pub async fn view_client(&self, caller: &Caller, domain: Uuid, id: Uuid) -> Result<Client> {
        let access = self.domain_access(caller, domain, true).await?;
        self.client_for(caller, access, domain, id, Action::View)
            .await
    }

    pub async fn list_clients(
        &self,
        caller: &Caller,
        domain: Uuid,
        q: &QueryParams,
    ) -> Result<Page<Client>> {
        let access = self.domain_access(caller, domain, true).await?;
        let mut eq = q.entity_query()?;
        if !policy::sees_all(access) {
            eq.created_by = Some(caller.user);
        }
        Ok(self.store.list_clients(domain, &eq).await?)
    }

    async fn modify_client(
        &self,
        caller: &Caller,
        domain: Uuid,
        id: Uuid,
        action: Action,
        op: &str,
        f: impl FnOnce(&mut Client) -> Result<()>,
    ) -> Result<Client> {
        let access = self.domain_access(caller, domain, true).await?;
        let mut c = self.client_for(caller, access, domain, id, action).await?;
        f(&mut c)?;
        c.updated_at = Some(self.now());
        c.updated_by = Some(caller.user);
        self.store.update_client(&c).await?;
        self.emit("client", op, c.id, Some(domain), json!({})).await;
        Ok(c)
    }

    pub async fn update_client(
        &self,
        caller: &Caller,
        domain: Uuid,
        id: Uuid,
        up: ClientUpdate,
    ) -> Result<Client> {
        if let Some(n) = &up.name {
            validate::name(n)?;
        }
        self.modify_client(caller, domain, id, Action::Update, "update", |c| {
            if let Some(v) = up.name {
                c.name = v;
            }
            if let Some(v) = up.tags {
                c.tags = v;
            }
            if let Some(v) = up.metadata {
                c.metadata = v;
            }
            if let Some(v) = up.private_metadata {
                c.private_metadata = v;
            }
            Ok(())
        })
        .await
    }

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
        self.modify_client(caller, domain, id, Action::Update, "update_secret", |c| {
            c.secret = secret;
            Ok(())
        })
        .await
    }

    pub async fn set_client_status(
        &self,
        caller: &Caller,
        domain: Uuid,
        id: Uuid,
        status: Status,
    ) -> Result<Client> {
        let op = if status == Status::Enabled {
            "enable"
        } else {
            "disable"
        };
        self.modify_client(caller, domain, id, Action::SetStatus, op, |c| {
            if c.status == status {
                return Err(Error::Conflict("status already assigned"));
            }
            c.status = status;
            Ok(())
        })
        .await
    }

    pub async fn delete_client(&self, caller: &Caller, domain: Uuid, id: Uuid) -> Result<()> {
        let access = self.domain_access(caller, domain, true).await?;
        self.client_for(caller, access, domain, id, Action::Delete)
            .await?;
        self.store.delete_client(domain, id).await?;
        self.emit("client", "delete", id, Some(domain), json!({}))
            .await;
        Ok(())
    }
}
