//! Access control: every request's decision, and the roles sub-API shared by domains,
//! groups, clients and channels.
//!
//! A decision is one store query (what the caller holds on the entity, on its parent
//! group's chain and on the domain) and one call into the policy engine
//! (`switchyard_auth::policy`). Domain admins and the super-admin skip the query. Nothing
//! about roles is cached, so a revocation holds from the next request on, on every node.

use serde_json::json;
use switchyard_auth::policy::{self, DomainAccess, DomainRights};
use switchyard_domain::{
    DomainRole, EntityKind, Grant, Page, Role, ScopeOp, Timestamp, builtin_role_id, validate,
};
use switchyard_store::RoleRef;
use uuid::Uuid;

use crate::{Caller, Core, Error, Result};

const NOT_ALLOWED: &str = "failed to perform authorization over the entity";
const BUILTIN_FIXED: &str = "built-in roles cannot be changed";

/// The entity a roles request is about.
#[derive(Debug, Clone)]
pub struct Target {
    pub kind: EntityKind,
    pub id: Uuid,
    pub domain: Uuid,
    created_by: Uuid,
    created_at: Timestamp,
}

/// A role through which the caller reaches an entity (`?roles=true` on a view).
#[derive(Debug, Clone)]
pub struct AccessRole {
    pub role_id: String,
    pub role_name: String,
    pub actions: Vec<String>,
    /// The entity holding the role: the entity itself, an ancestor group or the domain.
    pub provider: Uuid,
    /// `direct`, `group` or `domain`.
    pub access_type: &'static str,
}

/// One member of an entity and the roles they hold on it.
#[derive(Debug, Clone)]
pub struct MemberRoles {
    pub member_id: Uuid,
    /// (role id, role name)
    pub roles: Vec<(String, String)>,
}

/// The decision on `action` over an entity of `kind`, from the caller's standing in the
/// domain and their grants (depth -1: on the domain; 0: on the entity; 1…: on its
/// group chain). Refused: 403 when the caller may read the entity, else 404.
pub(crate) fn judge(
    access: DomainAccess,
    kind: EntityKind,
    action: &str,
    grants: Vec<Grant>,
) -> Result<()> {
    let (dom, own): (Vec<Grant>, Vec<Grant>) = grants.into_iter().partition(|g| g.depth < 0);
    let rights = DomainRights::new(access, &dom);
    if policy::allowed(kind, action, &own, &rights) {
        return Ok(());
    }
    if policy::allowed(kind, "read", &own, &rights) {
        return Err(Error::Forbidden(NOT_ALLOWED));
    }
    Err(Error::NotFound)
}

/// A page of an entity's admins (or members) with its creator, who belongs to the
/// built-in admin role without a stored membership, first.
fn with_creator(mut page: Page<Uuid>, creator: Uuid) -> Page<Uuid> {
    if page.items.contains(&creator) {
        return page;
    }
    page.total += 1;
    if page.offset == 0 {
        page.items.insert(0, creator);
        page.items
            .truncate(usize::try_from(page.limit).unwrap_or(usize::MAX));
    }
    page
}

impl Core {
    /// What the caller holds on the domain.
    pub(crate) async fn domain_rights(
        &self,
        caller: &Caller,
        domain: Uuid,
        access: DomainAccess,
    ) -> Result<DomainRights> {
        if policy::domain_admin(access) {
            return Ok(DomainRights {
                all: true,
                ..Default::default()
            });
        }
        let g = self
            .store
            .grants(caller.user, EntityKind::Domain, domain, None)
            .await?;
        Ok(DomainRights::new(access, &g))
    }

    /// Decides `action` on one entity. Refused: 403 when the caller may read it,
    /// otherwise "not found" (no existence oracle). An action does not need `read`
    /// (a channel shared with `connect_to_client` only can be connected to).
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn decide(
        &self,
        caller: &Caller,
        access: DomainAccess,
        kind: EntityKind,
        domain: Uuid,
        id: Uuid,
        action: &str,
    ) -> Result<()> {
        self.scope_check(
            caller,
            policy::scope_entity(kind),
            policy::scope_operation(action),
            Some(domain),
            Some(id),
        )
        .await?;
        self.decide_roles(caller, access, kind, domain, id, action)
            .await
    }

    /// The roles half of [`Core::decide`].
    #[allow(clippy::too_many_arguments)]
    async fn decide_roles(
        &self,
        caller: &Caller,
        access: DomainAccess,
        kind: EntityKind,
        domain: Uuid,
        id: Uuid,
        action: &str,
    ) -> Result<()> {
        if policy::domain_admin(access) {
            return Ok(());
        }
        let grants = if kind == EntityKind::Domain {
            let mut g = self
                .store
                .grants(caller.user, EntityKind::Domain, domain, None)
                .await?;
            for x in &mut g {
                x.depth = -1;
            }
            g
        } else {
            self.store
                .grants(caller.user, kind, id, Some(domain))
                .await?
        };
        judge(access, kind, action, grants)
    }

    /// May the caller create entities of `kind` in the domain (and, with `parent`,
    /// under that group)?
    pub(crate) async fn authorize_create(
        &self,
        caller: &Caller,
        access: DomainAccess,
        kind: EntityKind,
        domain: Uuid,
        parent: Option<Uuid>,
    ) -> Result<()> {
        self.scope_check(
            caller,
            policy::scope_entity(kind),
            Some(ScopeOp::Create),
            Some(domain),
            None,
        )
        .await?;
        let (domain_action, group_action) = match kind {
            EntityKind::Client => ("client_create", "client_create"),
            EntityKind::Channel => ("channel_create", "channel_create"),
            _ => ("group_create", "subgroup_create"),
        };
        if let Some(p) = parent {
            self.store
                .group(domain, p)
                .await
                .map_err(|_| Error::InvalidInput("invalid parent group".into()))?;
            return self
                .decide_roles(caller, access, EntityKind::Group, domain, p, group_action)
                .await;
        }
        let rights = self.domain_rights(caller, domain, access).await?;
        if !rights.has(domain_action) {
            return Err(Error::Forbidden(NOT_ALLOWED));
        }
        Ok(())
    }

    /// Loads the entity a roles request names and checks `action` on it.
    pub async fn role_target(
        &self,
        caller: &Caller,
        kind: EntityKind,
        domain: Uuid,
        id: Uuid,
        action: &str,
    ) -> Result<Target> {
        let access = self.domain_access(caller, domain, true).await?;
        let (created_by, created_at) = match kind {
            EntityKind::Domain => {
                let d = self.store.domain(domain).await?;
                (d.created_by, d.created_at)
            }
            EntityKind::Group => {
                let g = self.store.group(domain, id).await?;
                (g.created_by, g.created_at)
            }
            EntityKind::Client => {
                let c = self.store.client(domain, id).await?;
                (c.created_by, c.created_at)
            }
            EntityKind::Channel => {
                let c = self.store.channel(domain, id).await?;
                (c.created_by, c.created_at)
            }
        };
        self.decide(caller, access, kind, domain, id, action)
            .await?;
        Ok(Target {
            kind,
            id,
            domain,
            created_by,
            created_at,
        })
    }

    /// The built-in roles of the target: `admin` (every action), and on domains
    /// `member`.
    fn builtins(&self, t: &Target) -> Vec<Role> {
        let make = |id: String, name: &str| Role {
            id,
            name: name.to_string(),
            entity_id: t.id,
            domain_id: t.domain,
            kind: t.kind,
            created_by: t.created_by,
            created_at: t.created_at,
            updated_by: None,
            updated_at: None,
        };
        if t.kind == EntityKind::Domain {
            vec![
                make(DomainRole::Admin.role_id(t.id), "admin"),
                make(DomainRole::Member.role_id(t.id), "member"),
            ]
        } else {
            vec![make(builtin_role_id(t.id), "admin")]
        }
    }

    fn builtin(&self, t: &Target, role: &str) -> Option<Role> {
        self.builtins(t).into_iter().find(|r| r.id == role)
    }

    fn check_actions(&self, kind: EntityKind, actions: &[String]) -> Result<()> {
        if let Some(bad) = actions.iter().find(|a| !policy::is_action(kind, a)) {
            return Err(Error::InvalidInput(format!("invalid action: {bad}")));
        }
        Ok(())
    }

    /// Members must be users of the target's domain.
    async fn check_members(&self, t: &Target, members: &[String]) -> Result<Vec<Uuid>> {
        let mut ids = Vec::with_capacity(members.len());
        for m in members {
            ids.push(
                Uuid::parse_str(m).map_err(|_| Error::InvalidInput("invalid member id".into()))?,
            );
        }
        ids.sort();
        ids.dedup();
        let found = self.store.domain_members_among(t.domain, &ids).await?;
        if let Some(out) = ids.iter().find(|u| !found.contains(u)) {
            return Err(Error::InvalidInput(format!(
                "member {out} is not a member of the domain"
            )));
        }
        Ok(ids)
    }

    async fn changed(&self, t: &Target, op: &str, role: &str) {
        self.emit(
            "role",
            op,
            t.id,
            Some(t.domain),
            json!({"role_id": role, "entity": t.kind.as_str()}),
        )
        .await;
    }

    pub async fn create_role(
        &self,
        caller: &Caller,
        t: &Target,
        name: String,
        actions: Vec<String>,
        members: Vec<String>,
    ) -> Result<Role> {
        let name = name.trim().to_string();
        if name.is_empty() {
            return Err(Error::InvalidInput("missing role name".into()));
        }
        validate::name(&name)?;
        if self.builtins(t).iter().any(|r| r.name == name) {
            return Err(Error::AlreadyExists("role name already exists".into()));
        }
        self.check_actions(t.kind, &actions)?;
        let members = self.check_members(t, &members).await?;
        let role = Role {
            id: format!("{}_{}", t.id, Uuid::new_v4().simple()),
            name,
            entity_id: t.id,
            domain_id: t.domain,
            kind: t.kind,
            created_by: caller.user,
            created_at: self.now(),
            updated_by: None,
            updated_at: None,
        };
        let mut actions = actions;
        actions.sort();
        actions.dedup();
        self.store
            .create_role(&role, &actions, &members)
            .await
            .map_err(|e| match e {
                switchyard_store::StoreError::Conflict { .. } => {
                    Error::AlreadyExists("role name already exists".into())
                }
                other => other.into(),
            })?;
        self.changed(t, "create", &role.id).await;
        Ok(role)
    }

    pub async fn list_roles(&self, t: &Target, offset: u64, limit: u64) -> Result<Page<Role>> {
        let builtins = self.builtins(t);
        let nb = builtins.len() as u64;
        let (first, skip, take) = if offset < nb {
            let first: Vec<Role> = builtins
                .into_iter()
                .skip(offset as usize)
                .take(limit as usize)
                .collect();
            let left = limit.saturating_sub(first.len() as u64);
            (first, 0, left)
        } else {
            (Vec::new(), offset - nb, limit)
        };
        let custom = self.store.roles(t.id, skip, take.max(1)).await?;
        let mut items = first;
        if take > 0 {
            items.extend(custom.items);
        }
        Ok(Page {
            total: custom.total + nb,
            offset,
            limit,
            items,
        })
    }

    pub async fn view_role(&self, t: &Target, role: &str) -> Result<Role> {
        match self.builtin(t, role) {
            Some(r) => Ok(r),
            None => Ok(self.store.role(t.id, role).await?),
        }
    }

    /// A custom role of the target (built-in ones cannot be changed).
    async fn custom(&self, t: &Target, role: &str) -> Result<Role> {
        if self.builtin(t, role).is_some() {
            return Err(Error::Forbidden(BUILTIN_FIXED));
        }
        Ok(self.store.role(t.id, role).await?)
    }

    pub async fn rename_role(
        &self,
        caller: &Caller,
        t: &Target,
        role: &str,
        name: String,
    ) -> Result<Role> {
        let mut r = self.custom(t, role).await?;
        let name = name.trim().to_string();
        if name.is_empty() {
            return Err(Error::InvalidInput("missing role name".into()));
        }
        validate::name(&name)?;
        r.name = name;
        r.updated_by = Some(caller.user);
        r.updated_at = Some(self.now());
        self.store.rename_role(&r).await.map_err(|e| match e {
            switchyard_store::StoreError::Conflict { .. } => {
                Error::AlreadyExists("role name already exists".into())
            }
            other => other.into(),
        })?;
        self.changed(t, "update", role).await;
        Ok(r)
    }

    pub async fn delete_role(&self, t: &Target, role: &str) -> Result<()> {
        self.custom(t, role).await?;
        self.store.delete_role(t.id, role).await?;
        self.changed(t, "delete", role).await;
        Ok(())
    }

    pub async fn role_actions(&self, t: &Target, role: &str) -> Result<Vec<String>> {
        if let Some(r) = self.builtin(t, role) {
            if t.kind == EntityKind::Domain && r.name == "member" {
                return Ok(policy::DOMAIN_MEMBER_ACTIONS
                    .iter()
                    .map(|a| a.to_string())
                    .collect());
            }
            return Ok(policy::available_actions(t.kind));
        }
        self.store.role(t.id, role).await?;
        Ok(self.store.role_actions(role).await?)
    }

    pub async fn add_role_actions(
        &self,
        t: &Target,
        role: &str,
        actions: Vec<String>,
    ) -> Result<Vec<String>> {
        self.custom(t, role).await?;
        if actions.is_empty() {
            return Err(Error::InvalidInput("missing actions".into()));
        }
        self.check_actions(t.kind, &actions)?;
        self.store.add_role_actions(role, &actions).await?;
        self.changed(t, "add_actions", role).await;
        Ok(self.store.role_actions(role).await?)
    }

    /// Removes these actions, or all of them (`None`).
    pub async fn remove_role_actions(
        &self,
        t: &Target,
        role: &str,
        actions: Option<Vec<String>>,
    ) -> Result<()> {
        self.custom(t, role).await?;
        if let Some(a) = &actions {
            if a.is_empty() {
                return Err(Error::InvalidInput("missing actions".into()));
            }
            self.check_actions(t.kind, a)?;
        }
        self.store
            .remove_role_actions(role, actions.as_deref())
            .await?;
        self.changed(t, "remove_actions", role).await;
        Ok(())
    }

    /// The role as memberships see it; built-in domain roles are domain memberships
    /// and change through invitations.
    async fn member_role(&self, t: &Target, role: &str) -> Result<RoleRef> {
        match self.builtin(t, role) {
            Some(_) if t.kind == EntityKind::Domain => Err(Error::Forbidden(
                "members of the built-in domain roles change through invitations",
            )),
            Some(_) => Ok(RoleRef {
                id: role.to_string(),
                entity_id: t.id,
                domain_id: t.domain,
                builtin: true,
            }),
            None => {
                self.store.role(t.id, role).await?;
                Ok(RoleRef {
                    id: role.to_string(),
                    entity_id: t.id,
                    domain_id: t.domain,
                    builtin: false,
                })
            }
        }
    }

    pub async fn add_role_members(
        &self,
        t: &Target,
        role: &str,
        members: Vec<String>,
    ) -> Result<Vec<Uuid>> {
        let r = self.member_role(t, role).await?;
        if members.is_empty() {
            return Err(Error::InvalidInput("missing members".into()));
        }
        let ids = self.check_members(t, &members).await?;
        self.store.add_role_members(&r, &ids).await?;
        self.changed(t, "add_members", role).await;
        Ok(ids)
    }

    pub async fn remove_role_members(
        &self,
        t: &Target,
        role: &str,
        members: Option<Vec<String>>,
    ) -> Result<()> {
        let r = self.member_role(t, role).await?;
        let ids = match members {
            None => None,
            Some(m) if m.is_empty() => {
                return Err(Error::InvalidInput("missing members".into()));
            }
            Some(m) => Some(
                m.iter()
                    .map(|s| Uuid::parse_str(s))
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .map_err(|_| Error::InvalidInput("invalid member id".into()))?,
            ),
        };
        if r.builtin && ids.as_ref().is_some_and(|ids| ids.contains(&t.created_by)) {
            return Err(Error::InvalidInput(
                "the creator of an entity stays a member of its admin role".into(),
            ));
        }
        self.store.remove_role_members(role, ids.as_deref()).await?;
        self.changed(t, "remove_members", role).await;
        Ok(())
    }

    pub async fn role_members(
        &self,
        t: &Target,
        role: &str,
        offset: u64,
        limit: u64,
    ) -> Result<Page<Uuid>> {
        if let Some(r) = self.builtin(t, role)
            && t.kind == EntityKind::Domain
        {
            let which = DomainRole::parse(&r.name).unwrap_or(DomainRole::Member);
            return Ok(self
                .store
                .domain_role_members(t.domain, which, offset, limit)
                .await?);
        }
        if self.builtin(t, role).is_none() {
            self.store.role(t.id, role).await?;
            return Ok(self.store.role_members(role, offset, limit).await?);
        }
        let page = self.store.role_members(role, offset, limit).await?;
        Ok(with_creator(page, t.created_by))
    }

    /// Users holding any role on the entity, with those roles.
    pub async fn entity_members(
        &self,
        t: &Target,
        offset: u64,
        limit: u64,
    ) -> Result<Page<MemberRoles>> {
        // A domain's users all hold one of its built-in roles (kept as memberships);
        // other entities' members are their role members.
        let (page, mut pairs) = if t.kind == EntityKind::Domain {
            let users = self.store.domain_users(t.id, offset, limit).await?;
            let pairs: Vec<(Uuid, String)> = users
                .items
                .iter()
                .map(|(u, r)| (*u, r.role_id(t.id)))
                .collect();
            let page = Page {
                total: users.total,
                offset: users.offset,
                limit: users.limit,
                items: users.items.iter().map(|(u, _)| *u).collect(),
            };
            (page, pairs)
        } else {
            let page = self.store.entity_members(t.id, offset, limit).await?;
            (
                with_creator(page, t.created_by),
                vec![(t.created_by, builtin_role_id(t.id))],
            )
        };
        pairs.extend(self.store.member_roles(t.id, &page.items).await?);
        let custom = self.store.roles(t.id, 0, 10_000).await?.items;
        let name_of = |id: &str| -> String {
            self.builtin(t, id)
                .map(|r| r.name)
                .or_else(|| custom.iter().find(|r| r.id == id).map(|r| r.name.clone()))
                .unwrap_or_default()
        };
        let items = page
            .items
            .iter()
            .map(|m| MemberRoles {
                member_id: *m,
                roles: pairs
                    .iter()
                    .filter(|(u, _)| u == m)
                    .map(|(_, r)| (r.clone(), name_of(r)))
                    .collect(),
            })
            .collect();
        Ok(Page {
            total: page.total,
            offset: page.offset,
            limit: page.limit,
            items,
        })
    }

    /// Removes users from every role of the entity.
    pub async fn remove_entity_members(&self, t: &Target, members: Vec<String>) -> Result<()> {
        if members.is_empty() {
            return Err(Error::InvalidInput("missing members".into()));
        }
        let ids = members
            .iter()
            .map(|s| Uuid::parse_str(s))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|_| Error::InvalidInput("invalid member id".into()))?;
        self.store.remove_entity_members(t.id, &ids).await?;
        self.changed(t, "remove_members", "*").await;
        Ok(())
    }

    /// The roles through which the caller reaches an entity they may read: on it, on its
    /// ancestor groups, on the domain (built-in and custom).
    pub async fn caller_roles(
        &self,
        caller: &Caller,
        kind: EntityKind,
        domain: Uuid,
        id: Uuid,
    ) -> Result<Vec<AccessRole>> {
        let access = self.domain_access(caller, domain, true).await?;
        let rows = self
            .store
            .held_roles(caller.user, kind, id, Some(domain))
            .await?;
        let mut out: Vec<AccessRole> = Vec::new();
        for h in rows {
            if let Some(r) = out.iter_mut().find(|r| r.role_id == h.role_id) {
                if let Some(a) = h.grant.action
                    && !r.actions.contains(&a)
                {
                    r.actions.push(a);
                }
                continue;
            }
            let (provider_kind, access_type) = match h.grant.depth {
                0 => (kind, "direct"),
                d if d < 0 => (EntityKind::Domain, "domain"),
                _ => (EntityKind::Group, "group"),
            };
            let (role_name, actions) = if h.grant.builtin {
                (
                    "admin".to_string(),
                    policy::available_actions(provider_kind),
                )
            } else {
                let name = self
                    .store
                    .role(h.provider, &h.role_id)
                    .await
                    .map(|r| r.name)
                    .unwrap_or_default();
                (name, h.grant.action.into_iter().collect())
            };
            out.push(AccessRole {
                role_id: h.role_id,
                role_name,
                actions,
                provider: h.provider,
                access_type,
            });
        }
        let builtin = match access {
            DomainAccess::Role(DomainRole::Admin) => Some((
                DomainRole::Admin,
                policy::available_actions(EntityKind::Domain),
            )),
            DomainAccess::Role(DomainRole::Member) => Some((
                DomainRole::Member,
                policy::DOMAIN_MEMBER_ACTIONS
                    .iter()
                    .map(|a| a.to_string())
                    .collect(),
            )),
            DomainAccess::SuperAdmin => None,
        };
        if let Some((role, actions)) = builtin {
            out.push(AccessRole {
                role_id: role.role_id(domain),
                role_name: role.as_str().to_string(),
                actions,
                provider: domain,
                access_type: "domain",
            });
        }
        Ok(out)
    }

    /// `GET <collection>/roles/available-actions`.
    pub fn available_actions(&self, kind: EntityKind) -> Vec<String> {
        policy::available_actions(kind)
    }
}
