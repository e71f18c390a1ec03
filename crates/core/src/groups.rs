//! Groups: the shared entity path (create, view, update, enable/disable, delete) plus
//! the tree — parents, children, hierarchy — and the parent group of clients and
//! channels. Every move checks `set_parent` on the moved group and `set_child` on the
//! new parent (for clients and channels: `set_parent_group` on them, `set_child` on the
//! group), like upstream.

use futures::future::BoxFuture;
use serde_json::{Value, json};
use switchyard_auth::policy::{Action, DomainAccess};
use switchyard_domain::{EntityKind, Group, Metadata, Page, QueryParams, Reader, Status, validate};
use switchyard_store::{ConflictKind, Store, StoreError};
use uuid::Uuid;

use crate::{
    Caller, Core, Error, Result,
    entity::{Managed, Verified, patch},
};

#[derive(Debug, Clone, Default)]
pub struct NewGroup {
    pub id: Option<String>,
    pub name: String,
    pub description: String,
    pub tags: Vec<String>,
    pub metadata: Metadata,
    pub parent_id: Option<String>,
    pub status: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct GroupUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub tags: Option<Vec<String>>,
    pub metadata: Option<Metadata>,
}

fn check_name(n: &str) -> Result<()> {
    if n.trim().is_empty() {
        return Err(Error::InvalidInput("missing name".into()));
    }
    validate::name(n)?;
    Ok(())
}

impl Managed for Group {
    const KIND: &'static str = "group";
    const ENTITY: EntityKind = EntityKind::Group;
    const DUPLICATE_ID: &'static str = "group id already exists";
    const DUPLICATE_KEY: &'static str = "group id already exists";
    type New = NewGroup;
    type Update = GroupUpdate;

    fn build(core: &Core, who: &Verified<'_>, domain: Uuid, n: NewGroup) -> Result<Group> {
        check_name(&n.name)?;
        validate::text(&n.description)?;
        let id = validate::explicit_id_or_new(n.id.as_deref())?;
        Ok(Group {
            id,
            domain_id: domain,
            parent_id: crate::entity::parent_id(n.parent_id.as_deref())?,
            name: n.name,
            description: n.description,
            tags: n.tags,
            metadata: n.metadata,
            status: Status::parse_for_create(n.status.as_deref())?,
            created_by: who.user(),
            created_at: core.now(),
            updated_at: None,
            updated_by: None,
            level: 0,
        })
    }
    fn check(up: &GroupUpdate) -> Result<()> {
        if let Some(n) = &up.name {
            check_name(n)?;
        }
        if let Some(d) = &up.description {
            validate::text(d)?;
        }
        Ok(())
    }
    fn apply(&mut self, up: GroupUpdate) {
        patch(&mut self.name, up.name);
        patch(&mut self.description, up.description);
        patch(&mut self.tags, up.tags);
        patch(&mut self.metadata, up.metadata);
    }
    fn id(&self) -> Uuid {
        self.id
    }
    fn tag_list(&self) -> &[String] {
        &self.tags
    }
    fn key(&self) -> Option<&str> {
        None
    }
    fn created_by(&self) -> Uuid {
        self.created_by
    }
    fn parent(&self) -> Option<Uuid> {
        self.parent_id
    }
    fn status(&self) -> Status {
        self.status
    }
    fn set_status(&mut self, s: Status) {
        self.status = s;
    }
    fn stamp(&mut self, at: switchyard_domain::Timestamp, by: Uuid) {
        self.updated_at = Some(at);
        self.updated_by = Some(by);
    }
    fn event(&self) -> Value {
        json!({"parent_id": self.parent_id})
    }

    crate::entity::store_calls!(create_groups, group, group_for, update_group, delete_group);
    fn list<'a>(
        store: &'a dyn Store,
        domain: Uuid,
        q: &'a QueryParams,
        reader: Option<Reader>,
    ) -> BoxFuture<'a, Result<Page<Self>>> {
        Box::pin(async move {
            let mut gq = q.group_query()?;
            gq.reader = reader;
            Ok(store.list_groups(domain, &gq).await?)
        })
    }
}

/// A parent group the caller cannot see is bad input, not a missing path.
fn unknown_parent(e: Error) -> Error {
    match e {
        Error::NotFound => Error::InvalidInput("invalid parent group".into()),
        other => other,
    }
}

fn cycle(e: StoreError) -> Error {
    match e {
        StoreError::Conflict {
            kind: ConflictKind::GroupId,
            ..
        } => Error::InvalidInput("a group cannot be its own ancestor".into()),
        other => other.into(),
    }
}

/// A hierarchy answer: the groups with their distance from the start.
#[derive(Debug, Clone)]
pub struct Hierarchy {
    pub level: u64,
    pub direction: i64,
    pub groups: Vec<Group>,
}

impl Core {
    pub async fn list_groups(
        &self,
        caller: &Caller,
        domain: Uuid,
        q: &QueryParams,
    ) -> Result<Page<Group>> {
        let access = self.domain_access(caller, domain, true).await?;
        let mut gq = q.group_query()?;
        gq.reader = self
            .reader(caller, domain, access, EntityKind::Group)
            .await?;
        Ok(self.store.list_groups(domain, &gq).await?)
    }

    /// Loads a group and checks `action` on it.
    async fn group_for(
        &self,
        caller: &Caller,
        access: DomainAccess,
        domain: Uuid,
        id: Uuid,
        action: &str,
    ) -> Result<Group> {
        let g = self.store.group(domain, id).await?;
        self.decide(caller, access, EntityKind::Group, domain, id, action)
            .await?;
        Ok(g)
    }

    /// Moves `children` under `parent` (or to the root), all or none; with `from`, each
    /// must be a child of that group now.
    async fn move_groups(
        &self,
        caller: &Caller,
        domain: Uuid,
        children: &[Uuid],
        parent: Option<Uuid>,
        from: Option<Uuid>,
    ) -> Result<()> {
        let access = self.domain_access(caller, domain, true).await?;
        if let Some(p) = parent {
            if children.contains(&p) {
                return Err(Error::InvalidInput(
                    "a group cannot be its own parent".into(),
                ));
            }
            self.group_for(caller, access, domain, p, "set_child")
                .await
                .map_err(unknown_parent)?;
        }
        for c in children {
            let g = self
                .group_for(caller, access, domain, *c, "set_parent")
                .await?;
            if parent.is_some() && g.parent_id.is_some() && g.parent_id != parent {
                return Err(Error::Conflict("group already has a parent"));
            }
            if from.is_some() && g.parent_id != from {
                return Err(Error::InvalidInput(format!(
                    "group {c} is not a child of this group"
                )));
            }
        }
        self.store
            .set_group_parent(domain, children, parent)
            .await
            .map_err(cycle)?;
        for c in children {
            self.emit(
                "group",
                "set_parent",
                *c,
                Some(domain),
                json!({"parent_id": parent}),
            )
            .await;
        }
        Ok(())
    }

    pub async fn set_group_parent(
        &self,
        caller: &Caller,
        domain: Uuid,
        id: Uuid,
        parent: Uuid,
    ) -> Result<()> {
        self.move_groups(caller, domain, &[id], Some(parent), None)
            .await
    }

    pub async fn remove_group_parent(&self, caller: &Caller, domain: Uuid, id: Uuid) -> Result<()> {
        self.move_groups(caller, domain, &[id], None, None).await
    }

    pub async fn add_group_children(
        &self,
        caller: &Caller,
        domain: Uuid,
        id: Uuid,
        children: &[Uuid],
    ) -> Result<()> {
        if children.is_empty() {
            return Err(Error::InvalidInput("missing children ids".into()));
        }
        self.move_groups(caller, domain, children, Some(id), None)
            .await
    }

    /// Makes these children (or every child, with `None`) of the group roots.
    pub async fn remove_group_children(
        &self,
        caller: &Caller,
        domain: Uuid,
        id: Uuid,
        children: Option<&[Uuid]>,
    ) -> Result<()> {
        let access = self.domain_access(caller, domain, true).await?;
        self.group_for(caller, access, domain, id, "set_child")
            .await?;
        let listed: Vec<Uuid>;
        let children: &[Uuid] = match children {
            Some([]) => return Err(Error::InvalidInput("missing children ids".into())),
            Some(c) => c,
            None => {
                listed = self
                    .store
                    .group_hierarchy(domain, id, false, 1)
                    .await?
                    .iter()
                    .filter(|g| g.level == 1)
                    .map(|g| g.id)
                    .collect();
                if listed.is_empty() {
                    return Ok(());
                }
                &listed
            }
        };
        self.move_groups(caller, domain, children, None, Some(id))
            .await
    }

    /// Descendants between `start_level` and `end_level` below the group.
    pub async fn group_children(
        &self,
        caller: &Caller,
        domain: Uuid,
        id: Uuid,
        q: &QueryParams,
    ) -> Result<Page<Group>> {
        let access = self.domain_access(caller, domain, true).await?;
        self.group_for(caller, access, domain, id, "read").await?;
        let start = q.u64("start_level", 1)?;
        let end = q.u64("end_level", 0)?;
        let mut gq = q.group_query()?;
        gq.reader = self
            .reader(caller, domain, access, EntityKind::Group)
            .await?;
        Ok(self
            .store
            .group_children(domain, id, start, end, &gq)
            .await?)
    }

    /// `GET …/hierarchy`: descendants (`direction` < 0, the default) or ancestors.
    pub async fn group_hierarchy(
        &self,
        caller: &Caller,
        domain: Uuid,
        id: Uuid,
        q: &QueryParams,
    ) -> Result<Hierarchy> {
        let access = self.domain_access(caller, domain, true).await?;
        self.group_for(caller, access, domain, id, "read").await?;
        let level = q.u64("level", 0)?;
        if level > 20 {
            return Err(Error::InvalidInput("invalid level".into()));
        }
        let dir = q
            .text("direction")
            .or_else(|| q.text("dir"))
            .map(|d| d.parse::<i64>())
            .transpose()
            .map_err(|_| Error::InvalidInput("invalid direction".into()))?
            .unwrap_or(-1);
        // As upstream: a direction of 0 or more walks up to the ancestors, a negative
        // one (the default) down to the descendants.
        let groups = self
            .store
            .group_hierarchy(domain, id, dir >= 0, level)
            .await?;
        Ok(Hierarchy {
            level,
            direction: dir,
            groups,
        })
    }

    /// Sets (or, with `None`, removes) the parent group of a client or channel.
    pub async fn set_entity_parent(
        &self,
        caller: &Caller,
        kind: EntityKind,
        domain: Uuid,
        id: Uuid,
        parent: Option<Uuid>,
    ) -> Result<()> {
        let access = self.domain_access(caller, domain, true).await?;
        let current = match kind {
            EntityKind::Client => self.store.client(domain, id).await?.parent_group_id,
            _ => self.store.channel(domain, id).await?.parent_group_id,
        };
        self.decide(
            caller,
            access,
            kind,
            domain,
            id,
            Action::SetParent.name(kind),
        )
        .await?;
        if let Some(p) = parent {
            if current.is_some() && current != Some(p) {
                return Err(Error::Conflict("entity already has a parent group"));
            }
            self.group_for(caller, access, domain, p, "set_child")
                .await
                .map_err(unknown_parent)?;
        } else if let Some(p) = current {
            self.group_for(caller, access, domain, p, "set_child")
                .await?;
        }
        self.store
            .set_entity_parent(kind, domain, &[id], parent)
            .await?;
        self.emit(
            kind.as_str(),
            "set_parent",
            id,
            Some(domain),
            json!({"parent_group_id": parent}),
        )
        .await;
        Ok(())
    }
}
