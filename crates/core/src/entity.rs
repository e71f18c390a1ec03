//! The one path clients and channels share: create (one or a batch, all or nothing),
//! view, list, update, enable/disable and delete, with the same visibility rules.
//! Members act on what they created; domain admins and the super-admin on everything in
//! the domain. An entity the caller may not see answers "not found", so a member cannot
//! probe for other users' ids. Each entity says only what differs (see `clients.rs`,
//! `channels.rs`).

use std::collections::HashSet;

use futures::future::BoxFuture;
use serde_json::Value;
use switchyard_auth::policy::{self, Action, DomainAccess};
use switchyard_domain::{
    EntityKind, Grant, Page, QueryParams, Reader, Status, Timestamp, validate,
};
use switchyard_store::{Result as StoreResult, Store};
use uuid::Uuid;

use crate::{Caller, Core, Error, Result};

/// Proof that the caller may create entities (a verified e-mail, unless the deployment
/// allows unverified users). Every constructor of a new client or channel takes one, so
/// no creation path can skip the check.
pub struct Verified<'a>(pub(crate) &'a Caller);

impl Verified<'_> {
    pub fn user(&self) -> Uuid {
        self.0.user
    }
}

/// A client or a channel, as the shared path needs it. The edges call the generic
/// methods below (`core.view::<Client>(…)`); the store methods here take a store only
/// core holds.
pub trait Managed: Sized + Send + Sync + 'static {
    /// `"client"`, `"channel"` or `"group"`: event entity names.
    const KIND: &'static str;
    /// Its kind, for the policy engine.
    const ENTITY: EntityKind;
    /// The conflict messages of a batch repeating an id or the per-domain unique key.
    const DUPLICATE_ID: &'static str;
    const DUPLICATE_KEY: &'static str;
    /// What a create request carries.
    type New: Send;
    /// What an update request carries.
    type Update: Send;

    fn build(core: &Core, who: &Verified<'_>, domain: Uuid, n: Self::New) -> Result<Self>;
    /// Checks an update before anything is loaded.
    fn check(up: &Self::Update) -> Result<()>;
    /// Applies a checked update.
    fn apply(&mut self, up: Self::Update);
    fn id(&self) -> Uuid;
    /// The per-domain unique key (secret, route), if set.
    fn key(&self) -> Option<&str>;
    fn tag_list(&self) -> &[String];
    fn created_by(&self) -> Uuid;
    /// Its parent group, if any.
    fn parent(&self) -> Option<Uuid>;
    fn status(&self) -> Status;
    fn set_status(&mut self, s: Status);
    fn stamp(&mut self, at: Timestamp, by: Uuid);
    /// The body of change events.
    fn event(&self) -> Value;

    fn insert<'a>(store: &'a dyn Store, items: &'a [Self]) -> BoxFuture<'a, StoreResult<()>>;
    fn get(store: &dyn Store, domain: Uuid, id: Uuid) -> BoxFuture<'_, StoreResult<Self>>;
    /// The entity with `user`'s grants on it, in one round trip.
    fn get_for(
        store: &dyn Store,
        user: Uuid,
        domain: Uuid,
        id: Uuid,
    ) -> BoxFuture<'_, StoreResult<(Self, Vec<Grant>)>>;
    /// A page of the domain's entities matching the query string, within `reader`.
    fn list<'a>(
        store: &'a dyn Store,
        domain: Uuid,
        q: &'a QueryParams,
        reader: Option<Reader>,
    ) -> BoxFuture<'a, Result<Page<Self>>>;
    fn update<'a>(store: &'a dyn Store, e: &'a Self) -> BoxFuture<'a, StoreResult<()>>;
    fn delete(store: &dyn Store, domain: Uuid, id: Uuid) -> BoxFuture<'_, StoreResult<()>>;
}

/// The accessors of the fields clients and channels share by name.
macro_rules! common_fields {
    () => {
        fn id(&self) -> uuid::Uuid {
            self.id
        }
        fn created_by(&self) -> uuid::Uuid {
            self.created_by
        }
        fn parent(&self) -> Option<uuid::Uuid> {
            self.parent_group_id
        }
        fn status(&self) -> switchyard_domain::Status {
            self.status
        }
        fn set_status(&mut self, s: switchyard_domain::Status) {
            self.status = s;
        }
        fn stamp(&mut self, at: switchyard_domain::Timestamp, by: uuid::Uuid) {
            self.updated_at = Some(at);
            self.updated_by = Some(by);
        }
        fn tag_list(&self) -> &[String] {
            &self.tags
        }
    };
}
pub(crate) use common_fields;

/// The store calls of a managed entity, by the names of its store methods:
/// `store_calls!(create_clients, client, client_for, update_client, delete_client)`.
macro_rules! store_calls {
    // Clients and channels: also the list, over the shared entity query.
    ($insert:ident, $get:ident, $get_for:ident, $update:ident, $delete:ident, $list:ident) => {
        $crate::entity::store_calls!($insert, $get, $get_for, $update, $delete);
        fn list<'a>(
            store: &'a dyn switchyard_store::Store,
            domain: uuid::Uuid,
            q: &'a switchyard_domain::QueryParams,
            reader: Option<switchyard_domain::Reader>,
        ) -> futures::future::BoxFuture<'a, $crate::Result<switchyard_domain::Page<Self>>> {
            Box::pin(async move {
                let mut eq = q.entity_query()?;
                eq.reader = reader;
                Ok(store.$list(domain, &eq).await?)
            })
        }
    };
    ($insert:ident, $get:ident, $get_for:ident, $update:ident, $delete:ident) => {
        fn insert<'a>(
            store: &'a dyn switchyard_store::Store,
            items: &'a [Self],
        ) -> futures::future::BoxFuture<'a, switchyard_store::Result<()>> {
            store.$insert(items)
        }
        fn get(
            store: &dyn switchyard_store::Store,
            domain: uuid::Uuid,
            id: uuid::Uuid,
        ) -> futures::future::BoxFuture<'_, switchyard_store::Result<Self>> {
            store.$get(domain, id)
        }
        fn get_for(
            store: &dyn switchyard_store::Store,
            user: uuid::Uuid,
            domain: uuid::Uuid,
            id: uuid::Uuid,
        ) -> futures::future::BoxFuture<
            '_,
            switchyard_store::Result<(Self, Vec<switchyard_domain::Grant>)>,
        > {
            store.$get_for(user, domain, id)
        }
        fn update<'a>(
            store: &'a dyn switchyard_store::Store,
            e: &'a Self,
        ) -> futures::future::BoxFuture<'a, switchyard_store::Result<()>> {
            store.$update(e)
        }
        fn delete(
            store: &dyn switchyard_store::Store,
            domain: uuid::Uuid,
            id: uuid::Uuid,
        ) -> futures::future::BoxFuture<'_, switchyard_store::Result<()>> {
            store.$delete(domain, id)
        }
    };
}
pub(crate) use store_calls;

/// Sets a field to an update's value, when the update has one.
pub(crate) fn patch<T>(field: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *field = v;
    }
}

/// A parent group id from a request: absent or empty means none.
pub(crate) fn parent_id(s: Option<&str>) -> Result<Option<Uuid>> {
    match s.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => Uuid::parse_str(v)
            .map(Some)
            .map_err(|_| Error::InvalidInput("invalid parent group id".into())),
    }
}

/// An error of item `i` of a batch names the item when there is more than one.
fn at(i: usize, many: bool, e: Error) -> Error {
    match e {
        Error::InvalidInput(m) if many => Error::InvalidInput(format!("{m} (item {i})")),
        other => other,
    }
}

impl Core {
    /// The caller may create entities.
    pub fn verified<'a>(&self, caller: &'a Caller) -> Result<Verified<'a>> {
        self.require_verified(caller)?;
        Ok(Verified(caller))
    }

    /// Validates a batch: every item, then in-batch duplicate ids and keys.
    pub(crate) fn build_all<E: Managed>(
        &self,
        who: &Verified<'_>,
        domain: Uuid,
        items: Vec<E::New>,
    ) -> Result<Vec<E>> {
        let many = items.len() > 1;
        let mut out = Vec::with_capacity(items.len());
        let mut ids = HashSet::with_capacity(items.len());
        let mut keys = HashSet::with_capacity(items.len());
        for (i, n) in items.into_iter().enumerate() {
            let e = E::build(self, who, domain, n)
                .and_then(|e| {
                    validate::tags(e.tag_list())?;
                    if let Some(k) = e.key() {
                        validate::text(k)?;
                    }
                    Ok(e)
                })
                .map_err(|e| at(i, many, e))?;
            if !ids.insert(e.id()) {
                return Err(Error::AlreadyExists(format!(
                    "{} (item {i})",
                    E::DUPLICATE_ID
                )));
            }
            if let Some(k) = e.key()
                && !keys.insert(k.to_owned())
            {
                return Err(Error::AlreadyExists(format!(
                    "{} (item {i})",
                    E::DUPLICATE_KEY
                )));
            }
            out.push(e);
        }
        Ok(out)
    }

    pub(crate) fn build<E: Managed>(
        &self,
        who: &Verified<'_>,
        domain: Uuid,
        n: E::New,
    ) -> Result<E> {
        E::build(self, who, domain, n)
    }

    /// Creates one entity or a batch, all or nothing.
    pub async fn create<E: Managed>(
        &self,
        caller: &Caller,
        domain: Uuid,
        items: Vec<E::New>,
    ) -> Result<Vec<E>> {
        let who = self.verified(caller)?;
        let access = self.domain_access(caller, domain, true).await?;
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
        let made = self.build_all::<E>(&who, domain, items)?;
        let mut parents: Vec<Option<Uuid>> = made.iter().map(|e| e.parent()).collect();
        parents.sort();
        parents.dedup();
        for p in parents {
            self.authorize_create(caller, access, E::ENTITY, domain, p)
                .await?;
        }
        E::insert(self.store.as_ref(), &made)
            .await
            .map_err(|e| crate::error::batch_error(e, made.len()))?;
        for e in &made {
            self.emit(
                E::KIND,
                "create",
                e.id(),
                Some(domain),
                Value::Object(Default::default()),
            )
            .await;
        }
        Ok(made)
    }

    /// The visibility filter of a list of `kind` for the caller (`None`: sees all).
    pub(crate) async fn reader(
        &self,
        caller: &Caller,
        domain: Uuid,
        access: DomainAccess,
        kind: EntityKind,
    ) -> Result<Option<switchyard_domain::Reader>> {
        self.scope_check(
            caller,
            policy::scope_entity(kind),
            Some(switchyard_domain::ScopeOp::List),
            Some(domain),
            None,
        )
        .await?;
        if policy::sees_all(access) {
            return Ok(None);
        }
        let rights = self.domain_rights(caller, domain, access).await?;
        Ok(policy::reader(kind, caller.user, &rights))
    }

    /// Loads an entity the caller may act on; invisible ones are "not found".
    pub(crate) async fn entity_for<E: Managed>(
        &self,
        caller: &Caller,
        access: DomainAccess,
        domain: Uuid,
        id: Uuid,
        action: Action,
    ) -> Result<E> {
        let name = action.name(E::ENTITY);
        self.scope_check(
            caller,
            policy::scope_entity(E::ENTITY),
            action.scope_operation(E::ENTITY),
            Some(domain),
            Some(id),
        )
        .await?;
        if policy::domain_admin(access) {
            return Ok(E::get(self.store.as_ref(), domain, id).await?);
        }
        let (e, grants) = E::get_for(self.store.as_ref(), caller.user, domain, id).await?;
        // Its creator is in its built-in admin role: every action.
        if e.created_by() != caller.user {
            crate::access::judge(access, E::ENTITY, name, grants)?;
        }
        Ok(e)
    }

    pub async fn view<E: Managed>(&self, caller: &Caller, domain: Uuid, id: Uuid) -> Result<E> {
        let access = self.domain_access(caller, domain, true).await?;
        self.entity_for(caller, access, domain, id, Action::View)
            .await
    }

    pub async fn list<E: Managed>(
        &self,
        caller: &Caller,
        domain: Uuid,
        q: &QueryParams,
    ) -> Result<Page<E>> {
        let access = self.domain_access(caller, domain, true).await?;
        let reader = self.reader(caller, domain, access, E::ENTITY).await?;
        E::list(self.store.as_ref(), domain, q, reader).await
    }

    /// Loads, checks `action`, applies `f`, stamps and saves; emits `op`.
    pub(crate) async fn modify<E: Managed>(
        &self,
        caller: &Caller,
        domain: Uuid,
        id: Uuid,
        action: Action,
        op: &str,
        f: impl FnOnce(&mut E) -> Result<()>,
    ) -> Result<E> {
        let access = self.domain_access(caller, domain, true).await?;
        let mut e: E = self.entity_for(caller, access, domain, id, action).await?;
        f(&mut e)?;
        e.stamp(self.now(), caller.user);
        E::update(self.store.as_ref(), &e).await?;
        self.emit(E::KIND, op, e.id(), Some(domain), e.event())
            .await;
        Ok(e)
    }

    /// Updates the fields an update request names.
    pub async fn update<E: Managed>(
        &self,
        caller: &Caller,
        domain: Uuid,
        id: Uuid,
        up: E::Update,
    ) -> Result<E> {
        E::check(&up)?;
        self.modify(caller, domain, id, Action::Update, "update", |e: &mut E| {
            e.apply(up);
            Ok(validate::tags(e.tag_list())?)
        })
        .await
    }

    pub async fn set_status<E: Managed>(
        &self,
        caller: &Caller,
        domain: Uuid,
        id: Uuid,
        status: Status,
    ) -> Result<E> {
        let op = if status == Status::Enabled {
            "enable"
        } else {
            "disable"
        };
        self.modify(caller, domain, id, Action::SetStatus, op, |e: &mut E| {
            if e.status() == status {
                return Err(Error::Conflict("status already assigned"));
            }
            e.set_status(status);
            Ok(())
        })
        .await
    }

    pub async fn delete<E: Managed>(&self, caller: &Caller, domain: Uuid, id: Uuid) -> Result<()> {
        let access = self.domain_access(caller, domain, true).await?;
        self.entity_for::<E>(caller, access, domain, id, Action::Delete)
            .await?;
        E::delete(self.store.as_ref(), domain, id).await?;
        self.emit(
            E::KIND,
            "delete",
            id,
            Some(domain),
            Value::Object(Default::default()),
        )
        .await;
        Ok(())
    }
}
