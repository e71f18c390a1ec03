//! Domains and membership through invitations. The creator becomes a member with the
//! built-in admin role; only domain admins (and the super-admin) manage a domain;
//! freezing is for the super-admin alone.

use serde_json::json;
use switchyard_auth::policy::DomainAccess;
use switchyard_domain::{
    Domain, DomainRole, Invitation, InvitationQuery, Metadata, Page, QueryParams, ScopeEntity,
    ScopeOp, Status, validate,
};
use switchyard_store::StoreError;
use uuid::Uuid;

use crate::{Caller, Core, Error, Result};

#[derive(Debug, Clone, Default)]
pub struct NewDomain {
    pub id: Option<String>,
    pub name: String,
    pub route: String,
    pub tags: Vec<String>,
    pub metadata: Metadata,
}

#[derive(Debug, Clone, Default)]
pub struct DomainUpdate {
    pub name: Option<String>,
    pub tags: Option<Vec<String>>,
    pub metadata: Option<Metadata>,
}

impl Core {
    pub async fn create_domain(&self, caller: &Caller, n: NewDomain) -> Result<Domain> {
        self.require_verified(caller)?;
        if n.name.trim().is_empty() {
            return Err(Error::InvalidInput("missing identity name".into()));
        }
        validate::name(&n.name)?;
        validate::tags(&n.tags)?;
        validate::domain_route(&n.route)?;
        let id = match n.id.as_deref() {
            None | Some("") => Uuid::new_v4(),
            Some(s) => validate::explicit_id(s)?,
        };
        let d = Domain {
            id,
            name: n.name,
            route: n.route,
            tags: n.tags,
            metadata: n.metadata,
            status: Status::Enabled,
            created_by: caller.user,
            created_at: self.now(),
            updated_at: None,
            updated_by: None,
        };
        self.store.create_domain(&d).await?;
        self.emit("domain", "create", d.id, Some(d.id), json!({}))
            .await;
        Ok(d)
    }

    pub async fn list_domains(&self, caller: &Caller, q: &QueryParams) -> Result<Page<Domain>> {
        let mut dq = q.domain_query()?;
        self.scope_check(
            caller,
            ScopeEntity::Domains,
            Some(ScopeOp::List),
            None,
            None,
        )
        .await?;
        if !caller.is_super_admin() {
            dq.member = Some(caller.user);
        }
        Ok(self.store.list_domains(&dq).await?)
    }

    pub async fn view_domain(&self, caller: &Caller, id: Uuid) -> Result<(Domain, DomainAccess)> {
        let access = self.domain_access(caller, id, false).await?;
        self.scope_check(
            caller,
            ScopeEntity::Domains,
            Some(ScopeOp::Read),
            Some(id),
            Some(id),
        )
        .await?;
        Ok((self.store.domain(id).await?, access))
    }

    async fn admin_domain(&self, caller: &Caller, id: Uuid) -> Result<Domain> {
        let access = self.domain_access(caller, id, false).await?;
        self.scope_check(
            caller,
            ScopeEntity::Domains,
            Some(ScopeOp::Update),
            Some(id),
            Some(id),
        )
        .await?;
        if !switchyard_auth::policy::domain_admin(access) {
            return Err(Error::Forbidden(
                "failed to perform authorization over the domain",
            ));
        }
        Ok(self.store.domain(id).await?)
    }

    pub async fn update_domain(
        &self,
        caller: &Caller,
        id: Uuid,
        up: DomainUpdate,
    ) -> Result<Domain> {
        let mut d = self.admin_domain(caller, id).await?;
        if let Some(n) = up.name {
            if n.trim().is_empty() {
                return Err(Error::InvalidInput("missing identity name".into()));
            }
            validate::name(&n)?;
            d.name = n;
        }
        if let Some(t) = up.tags {
            validate::tags(&t)?;
            d.tags = t;
        }
        if let Some(m) = up.metadata {
            d.metadata = m;
        }
        d.updated_at = Some(self.now());
        d.updated_by = Some(caller.user);
        self.store.update_domain(&d).await?;
        self.emit("domain", "update", d.id, Some(d.id), json!({}))
            .await;
        Ok(d)
    }

    pub async fn set_domain_status(
        &self,
        caller: &Caller,
        id: Uuid,
        status: Status,
    ) -> Result<Domain> {
        if status == Status::Frozen && !caller.is_super_admin() {
            return Err(Error::Forbidden("not authorized to perform admin action"));
        }
        let mut d = self.admin_domain(caller, id).await?;
        // Only the super-admin lifts a freeze.
        if d.status == Status::Frozen && !caller.is_super_admin() {
            return Err(Error::Forbidden("not authorized to perform admin action"));
        }
        if d.status == status {
            return Err(Error::Conflict("status already assigned"));
        }
        d.status = status;
        d.updated_at = Some(self.now());
        d.updated_by = Some(caller.user);
        self.store.update_domain(&d).await?;
        self.access.forget_domain(d.id);
        let op = match status {
            Status::Enabled => "enable",
            Status::Frozen => "freeze",
            _ => "disable",
        };
        self.emit("domain", op, d.id, Some(d.id), json!({})).await;
        Ok(d)
    }

    pub async fn send_invitation(
        &self,
        caller: &Caller,
        domain: Uuid,
        invitee: &str,
        role_id: &str,
        resend: bool,
    ) -> Result<()> {
        let d = self.admin_domain(caller, domain).await?;
        let invitee = validate::parse_id(invitee)?;
        if role_id.is_empty() {
            return Err(Error::InvalidInput("missing role id".into()));
        }
        let role = DomainRole::from_role_id(domain, role_id)
            .ok_or_else(|| Error::InvalidInput("invalid role id".into()))?;
        self.store.user(invitee).await.map_err(|e| match e {
            StoreError::NotFound => Error::NotFound,
            other => other.into(),
        })?;
        if self.store.member_role(domain, invitee).await?.is_some() {
            return Err(Error::AlreadyExists(
                "user is already a member of the domain".into(),
            ));
        }
        match self.store.invitation(domain, invitee).await {
            Ok(existing)
                if !resend && existing.confirmed_at.is_none() && existing.rejected_at.is_none() =>
            {
                return Err(Error::AlreadyExists("invitation already exists".into()));
            }
            Ok(_) | Err(StoreError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
        let now = self.now();
        let inv = Invitation {
            domain_id: domain,
            domain_name: d.name,
            invitee_user_id: invitee,
            invited_by: caller.user,
            role,
            created_at: now,
            updated_at: None,
            confirmed_at: None,
            rejected_at: None,
        };
        self.store.save_invitation(&inv).await?;
        self.emit("invitation", "send", invitee, Some(domain), json!({}))
            .await;
        Ok(())
    }

    pub async fn list_domain_invitations(
        &self,
        caller: &Caller,
        domain: Uuid,
        q: &QueryParams,
    ) -> Result<Page<Invitation>> {
        self.admin_domain(caller, domain).await?;
        let mut iq: InvitationQuery = q.invitation_query()?;
        iq.domain_id = Some(domain);
        Ok(self.store.list_invitations(&iq).await?)
    }

    pub async fn list_my_invitations(
        &self,
        caller: &Caller,
        q: &QueryParams,
    ) -> Result<Page<Invitation>> {
        let mut iq = q.invitation_query()?;
        if !caller.is_super_admin() {
            iq.invitee_user_id = Some(caller.user);
        }
        Ok(self.store.list_invitations(&iq).await?)
    }

    async fn pending_invitation(&self, caller: &Caller, domain: &str) -> Result<Invitation> {
        let domain = validate::parse_id(domain)?;
        let inv = self
            .store
            .invitation(domain, caller.user)
            .await
            .map_err(|e| match e {
                StoreError::NotFound => Error::NotFound,
                other => other.into(),
            })?;
        if inv.confirmed_at.is_some() {
            return Err(Error::InvalidInput("invitation already accepted".into()));
        }
        if inv.rejected_at.is_some() {
            return Err(Error::InvalidInput("invitation already rejected".into()));
        }
        Ok(inv)
    }

    pub async fn accept_invitation(&self, caller: &Caller, domain: &str) -> Result<()> {
        let inv = self.pending_invitation(caller, domain).await?;
        self.store
            .accept_invitation(inv.domain_id, caller.user, self.now())
            .await?;
        self.access.forget_member(inv.domain_id, caller.user);
        self.emit(
            "invitation",
            "accept",
            caller.user,
            Some(inv.domain_id),
            json!({}),
        )
        .await;
        Ok(())
    }

    pub async fn reject_invitation(&self, caller: &Caller, domain: &str) -> Result<()> {
        let inv = self.pending_invitation(caller, domain).await?;
        self.store
            .reject_invitation(inv.domain_id, caller.user, self.now())
            .await?;
        self.emit(
            "invitation",
            "reject",
            caller.user,
            Some(inv.domain_id),
            json!({}),
        )
        .await;
        Ok(())
    }

    pub async fn delete_invitation(&self, caller: &Caller, domain: Uuid, user: &str) -> Result<()> {
        let user = validate::parse_id(user)?;
        // The invitee may withdraw their own invitation; admins any.
        if caller.user != user {
            self.admin_domain(caller, domain).await?;
        }
        self.store
            .delete_invitation(domain, user)
            .await
            .map_err(|e| match e {
                StoreError::NotFound => Error::NotFound,
                other => other.into(),
            })?;
        Ok(())
    }
}
