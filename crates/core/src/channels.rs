//! Channels (message groups), with the same visibility rules as clients, plus a
//! route that is unique in its domain.

use std::collections::HashSet;

use serde_json::json;
use switchyard_auth::policy::{self, Action, DomainAccess, EntityGrant};
use switchyard_domain::{Channel, Metadata, Page, QueryParams, Status, validate};
use uuid::Uuid;

use crate::{Caller, Core, Error, Result};

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

impl Core {
    pub(crate) fn build_channel(
        &self,
        caller: &Caller,
        domain: Uuid,
        n: NewChannel,
    ) -> Result<Channel> {
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
            created_by: caller.user,
            created_at: self.now(),
            updated_at: None,
            updated_by: None,
        })
    }

    pub(crate) fn build_channels(
        &self,
        caller: &Caller,
        domain: Uuid,
        items: Vec<NewChannel>,
    ) -> Result<Vec<Channel>> {
        let many = items.len() > 1;
        let mut out = Vec::with_capacity(items.len());
        let mut ids = HashSet::new();
        let mut routes = HashSet::new();
        for (i, n) in items.into_iter().enumerate() {
            let c = self.build_channel(caller, domain, n).map_err(|e| match e {
                Error::InvalidInput(m) if many => Error::InvalidInput(format!("{m} (item {i})")),
                other => other,
            })?;
            if !ids.insert(c.id) {
                return Err(Error::AlreadyExists(format!(
                    "channel id already exists (item {i})"
                )));
            }
            if let Some(r) = &c.route
                && !routes.insert(r.clone())
            {
                return Err(Error::AlreadyExists(format!(
                    "route not available (item {i})"
                )));
            }
            out.push(c);
        }
        Ok(out)
    }

    pub async fn create_channels(
        &self,
        caller: &Caller,
        domain: Uuid,
        items: Vec<NewChannel>,
    ) -> Result<Vec<Channel>> {
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
        let chans = self.build_channels(caller, domain, items)?;
        self.store
            .create_channels(&chans)
            .await
            .map_err(|e| crate::error::batch_error(e, chans.len()))?;
        for c in &chans {
            self.emit("channel", "create", c.id, Some(domain), json!({}))
                .await;
        }
        Ok(chans)
    }

    pub(crate) async fn channel_for(
        &self,
        caller: &Caller,
        access: DomainAccess,
        domain: Uuid,
        id: Uuid,
        action: Action,
    ) -> Result<Channel> {
        let c = self.store.channel(domain, id).await?;
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

    pub async fn view_channel(&self, caller: &Caller, domain: Uuid, id: Uuid) -> Result<Channel> {
        let access = self.domain_access(caller, domain, true).await?;
        self.channel_for(caller, access, domain, id, Action::View)
            .await
    }

    pub async fn list_channels(
        &self,
        caller: &Caller,
        domain: Uuid,
        q: &QueryParams,
    ) -> Result<Page<Channel>> {
        let access = self.domain_access(caller, domain, true).await?;
        let mut eq = q.entity_query()?;
        if !policy::sees_all(access) {
            eq.created_by = Some(caller.user);
        }
        Ok(self.store.list_channels(domain, &eq).await?)
    }

    async fn modify_channel(
        &self,
        caller: &Caller,
        domain: Uuid,
        id: Uuid,
        action: Action,
        op: &str,
        f: impl FnOnce(&mut Channel) -> Result<()>,
    ) -> Result<Channel> {
        let access = self.domain_access(caller, domain, true).await?;
        let mut c = self.channel_for(caller, access, domain, id, action).await?;
        f(&mut c)?;
        c.updated_at = Some(self.now());
        c.updated_by = Some(caller.user);
        self.store.update_channel(&c).await?;
        self.emit(
            "channel",
            op,
            c.id,
            Some(domain),
            json!({"name": c.name, "metadata": c.metadata}),
        )
        .await;
        Ok(c)
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
        self.modify_channel(caller, domain, id, Action::Update, "update", |c| {
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
        })
        .await
    }

    pub async fn set_channel_status(
        &self,
        caller: &Caller,
        domain: Uuid,
        id: Uuid,
        status: Status,
    ) -> Result<Channel> {
        let op = if status == Status::Enabled {
            "enable"
        } else {
            "disable"
        };
        self.modify_channel(caller, domain, id, Action::SetStatus, op, |c| {
            if c.status == status {
                return Err(Error::Conflict("status already assigned"));
            }
            c.status = status;
            Ok(())
        })
        .await
    }

    pub async fn delete_channel(&self, caller: &Caller, domain: Uuid, id: Uuid) -> Result<()> {
        let access = self.domain_access(caller, domain, true).await?;
        self.channel_for(caller, access, domain, id, Action::Delete)
            .await?;
        self.store.delete_channel(domain, id).await?;
        self.emit("channel", "delete", id, Some(domain), json!({}))
            .await;
        Ok(())
    }
}
