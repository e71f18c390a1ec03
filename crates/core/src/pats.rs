//! Personal access tokens: the `/pats` API, PAT authentication and the scope half of
//! every decision a PAT caller asks for. Also API keys (`/keys`): signed tokens of
//! type 3 that act as their issuer, revocable by id.
//!
//! A PAT acts as its user, limited by its scopes. The scope check is made by the same
//! decision functions as roles (`decide`, `entity_for`, `authorize_create`, `reader`,
//! and the domain and profile reads): the scope must allow the operation **and** the
//! user's roles must allow the action. Routes outside those paths refuse PATs (the
//! HTTP layer only hands a PAT caller to handlers that go through them). PATs cannot
//! manage PATs.
//!
//! Verified PATs are cached in memory (id → user, digest, expiry, scopes) so a request
//! costs no query; every change to a PAT or its user emits an event that drops the
//! entry on every node, so a revocation holds from the next request on.

use std::{
    collections::HashMap,
    sync::{
        Arc, RwLock,
        atomic::{AtomicI64, Ordering},
    },
};

use serde_json::json;
use switchyard_auth::{pat as secret, policy};
use switchyard_domain::{
    ApiKey, Page, Pat, PatScope, ScopeEntity, ScopeOp, ScopeTarget, Status, Timestamp, UserRole,
    validate,
};
use uuid::Uuid;

use crate::{Caller, Core, Error, Result};

/// Most PATs remembered (the map starts over when full).
const CACHE_MAX: usize = 50_000;
/// `last_used_at` is written at most this often per PAT.
const TOUCH_EVERY_SECS: i64 = 60;
/// Longest description accepted.
const DESCRIPTION_MAX: usize = 1024;
/// Most scopes one request adds.
const SCOPES_MAX: usize = 100;

const NOT_IN_SCOPE: &str = "personal access token scope does not allow this operation";
const PAT_UNAUTH: &str = "failed to perform authentication over the entity";

/// What authenticating and checking a PAT needs, without a query.
pub(crate) struct PatAuth {
    user: Uuid,
    role: UserRole,
    verified: bool,
    hash: String,
    expires_at: Timestamp,
    revoked: bool,
    scopes: Vec<PatScope>,
    /// Unix seconds `last_used_at` was last written.
    touched: AtomicI64,
    /// When it was read from the store: entries older than [`CACHE_TTL`] are read
    /// again, so a change whose event was lost (or raced the read) holds soon anyway.
    loaded: std::time::Instant,
}

/// How long a cached PAT is trusted without reading it again.
const CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(30);

#[derive(Default)]
pub(crate) struct PatCache(RwLock<HashMap<Uuid, Arc<PatAuth>>>);

impl PatCache {
    fn get(&self, id: Uuid) -> Option<Arc<PatAuth>> {
        self.0.read().ok().and_then(|m| m.get(&id).cloned())
    }
    fn put(&self, id: Uuid, a: Arc<PatAuth>) {
        if let Ok(mut m) = self.0.write() {
            if m.len() >= CACHE_MAX {
                m.clear();
            }
            m.insert(id, a);
        }
    }
    pub(crate) fn forget(&self, id: Uuid) {
        if let Ok(mut m) = self.0.write() {
            m.remove(&id);
        }
    }
    pub(crate) fn forget_user(&self, user: Uuid) {
        if let Ok(mut m) = self.0.write() {
            m.retain(|_, a| a.user != user);
        }
    }
}

/// A PAT with its secret, which is shown only in the answer to a create or a reset.
#[derive(Debug, Clone)]
pub struct IssuedPat {
    pub pat: Pat,
    pub secret: String,
}

/// An API key with its token, which is shown only once.
#[derive(Debug, Clone)]
pub struct IssuedKey {
    pub key: ApiKey,
    pub value: String,
}

/// Longest API key life.
const KEY_MAX_DAYS: i64 = 3650;

/// A scope as the API sends it: strings, checked here.
#[derive(Debug, Clone, Default)]
pub struct ScopeInput {
    pub domain: Option<String>,
    pub entity_type: String,
    pub entity_id: String,
    pub operation: String,
}

fn invalid(e: switchyard_domain::Invalid) -> Error {
    Error::InvalidInput(e.0.into())
}

impl Core {
    /// PATs are managed with a user's own token, never with a PAT.
    fn pat_owner(&self, caller: &Caller) -> Result<Uuid> {
        if caller.pat.is_some() || caller.via_key {
            return Err(Error::Forbidden(
                "personal access tokens and API keys cannot manage credentials",
            ));
        }
        Ok(caller.user)
    }

    async fn emit_pat(&self, op: &str, pat: &Pat) {
        self.emit("pat", op, pat.id, None, json!({"user_id": pat.user_id}))
            .await;
    }

    fn expiry(&self, duration: &str) -> Result<Timestamp> {
        let d = switchyard_domain::parse_duration(duration).map_err(invalid)?;
        self.now()
            .checked_add(d)
            .filter(|t| t.year() <= 9999)
            .ok_or_else(|| Error::InvalidInput("invalid duration: too long".into()))
    }

    fn check_name(name: &str) -> Result<()> {
        if name.trim().is_empty() {
            return Err(Error::InvalidInput("missing name".into()));
        }
        validate::name(name).map_err(invalid)
    }

    fn check_description(d: &str) -> Result<()> {
        validate::no_nul(d).map_err(invalid)?;
        if d.len() > DESCRIPTION_MAX {
            return Err(Error::InvalidInput(format!(
                "description longer than {DESCRIPTION_MAX} bytes"
            )));
        }
        Ok(())
    }

    /// `POST /pats`.
    pub async fn create_pat(
        &self,
        caller: &Caller,
        name: &str,
        description: &str,
        duration: &str,
    ) -> Result<IssuedPat> {
        let user = self.pat_owner(caller)?;
        Self::check_name(name)?;
        Self::check_description(description)?;
        let expires_at = self.expiry(duration)?;
        let id = crate::random_uuid();
        let (secret, hash) = secret::new_secret(id).map_err(Error::Internal)?;
        let pat = Pat {
            id,
            user_id: user,
            name: name.to_string(),
            description: description.to_string(),
            secret_hash: hash,
            issued_at: self.now(),
            expires_at,
            updated_at: None,
            last_used_at: None,
            revoked: false,
            revoked_at: None,
        };
        self.store.create_pat(&pat).await?;
        self.emit_pat("create", &pat).await;
        Ok(IssuedPat { pat, secret })
    }

    pub async fn list_pats(&self, caller: &Caller, offset: u64, limit: u64) -> Result<Page<Pat>> {
        let user = self.pat_owner(caller)?;
        Ok(self.store.list_pats(user, offset, limit).await?)
    }

    pub async fn view_pat(&self, caller: &Caller, id: Uuid) -> Result<Pat> {
        let user = self.pat_owner(caller)?;
        Ok(self.store.user_pat(user, id).await?)
    }

    async fn change_pat(
        &self,
        caller: &Caller,
        id: Uuid,
        op: &str,
        f: impl FnOnce(&mut Pat, Timestamp) -> Result<()>,
    ) -> Result<Pat> {
        let user = self.pat_owner(caller)?;
        let mut pat = self.store.user_pat(user, id).await?;
        let now = self.now();
        f(&mut pat, now)?;
        pat.updated_at = Some(now);
        self.store.update_pat(&pat).await?;
        self.emit_pat(op, &pat).await;
        Ok(pat)
    }

    pub async fn rename_pat(&self, caller: &Caller, id: Uuid, name: &str) -> Result<Pat> {
        Self::check_name(name)?;
        self.change_pat(caller, id, "update", |p, _| {
            p.name = name.to_string();
            Ok(())
        })
        .await
    }

    pub async fn describe_pat(&self, caller: &Caller, id: Uuid, description: &str) -> Result<Pat> {
        Self::check_description(description)?;
        self.change_pat(caller, id, "update", |p, _| {
            p.description = description.to_string();
            Ok(())
        })
        .await
    }

    /// A new secret (the old one stops working at once), valid for `duration`; a
    /// revoked PAT becomes usable again.
    pub async fn reset_pat_secret(
        &self,
        caller: &Caller,
        id: Uuid,
        duration: &str,
    ) -> Result<IssuedPat> {
        let expires_at = self.expiry(duration)?;
        let (secret, hash) = secret::new_secret(id).map_err(Error::Internal)?;
        let pat = self
            .change_pat(caller, id, "reset", |p, _| {
                p.secret_hash = hash;
                p.expires_at = expires_at;
                p.revoked = false;
                p.revoked_at = None;
                Ok(())
            })
            .await?;
        Ok(IssuedPat { pat, secret })
    }

    pub async fn revoke_pat(&self, caller: &Caller, id: Uuid) -> Result<()> {
        self.change_pat(caller, id, "revoke", |p, now| {
            if !p.revoked {
                p.revoked = true;
                p.revoked_at = Some(now);
            }
            Ok(())
        })
        .await
        .map(|_| ())
    }

    pub async fn delete_pat(&self, caller: &Caller, id: Uuid) -> Result<()> {
        let user = self.pat_owner(caller)?;
        let pat = self.store.user_pat(user, id).await?;
        self.store.delete_pat(user, id).await?;
        self.emit_pat("delete", &pat).await;
        Ok(())
    }

    pub async fn clear_pats(&self, caller: &Caller) -> Result<()> {
        let user = self.pat_owner(caller)?;
        for id in self.store.delete_user_pats(user).await? {
            self.emit("pat", "delete", id, None, json!({"user_id": user}))
                .await;
        }
        Ok(())
    }

    /// Adds scopes; one already held is not added twice. All or none.
    pub async fn add_pat_scopes(
        &self,
        caller: &Caller,
        id: Uuid,
        input: Vec<ScopeInput>,
    ) -> Result<()> {
        let user = self.pat_owner(caller)?;
        let pat = self.store.user_pat(user, id).await?;
        if input.is_empty() {
            return Err(Error::InvalidInput("missing scopes".into()));
        }
        if input.len() > SCOPES_MAX {
            return Err(Error::TooLarge(format!(
                "at most {SCOPES_MAX} scopes per request"
            )));
        }
        let held = self.store.all_scopes(id).await?;
        let mut new: Vec<PatScope> = Vec::with_capacity(input.len());
        for s in input {
            let entity_type = ScopeEntity::parse(&s.entity_type).map_err(invalid)?;
            let operation = ScopeOp::parse(&s.operation).map_err(invalid)?;
            let entity = ScopeTarget::parse(&s.entity_id).map_err(invalid)?;
            let domain = match s.domain.as_deref().filter(|d| !d.is_empty()) {
                None => None,
                Some(d) => Some(
                    Uuid::try_parse(d)
                        .map_err(|_| Error::InvalidInput("invalid domain id".into()))?,
                ),
            };
            if entity_type == ScopeEntity::Users && domain.is_some() {
                return Err(Error::InvalidInput(
                    "users scopes do not take a domain".into(),
                ));
            }
            let scope = PatScope {
                id: crate::random_uuid(),
                pat_id: id,
                domain,
                entity_type,
                entity,
                operation,
            };
            let same = |x: &PatScope| {
                x.domain == scope.domain
                    && x.entity_type == scope.entity_type
                    && x.entity == scope.entity
                    && x.operation == scope.operation
            };
            if !held.iter().any(same) && !new.iter().any(same) {
                new.push(scope);
            }
        }
        self.store.add_scopes(&new).await?;
        self.emit_pat("scope", &pat).await;
        Ok(())
    }

    pub async fn pat_scopes(
        &self,
        caller: &Caller,
        id: Uuid,
        offset: u64,
        limit: u64,
    ) -> Result<Page<PatScope>> {
        let user = self.pat_owner(caller)?;
        self.store.user_pat(user, id).await?;
        Ok(self.store.scopes(id, offset, limit).await?)
    }

    /// Removes the listed scopes (`None`: all).
    pub async fn remove_pat_scopes(
        &self,
        caller: &Caller,
        id: Uuid,
        scopes: Option<Vec<String>>,
    ) -> Result<()> {
        let user = self.pat_owner(caller)?;
        let pat = self.store.user_pat(user, id).await?;
        let ids = match scopes {
            None => None,
            Some(v) => {
                if v.is_empty() {
                    return Err(Error::InvalidInput("missing scope ids".into()));
                }
                Some(
                    v.iter()
                        .map(|s| {
                            Uuid::try_parse(s)
                                .map_err(|_| Error::InvalidInput("invalid scope id".into()))
                        })
                        .collect::<Result<Vec<_>>>()?,
                )
            }
        };
        self.store.remove_scopes(id, ids.as_deref()).await?;
        self.emit_pat("scope", &pat).await;
        Ok(())
    }

    /// `POST /keys`: an API key acting as the caller for `ttl`.
    pub async fn issue_key(&self, caller: &Caller, ttl: time::Duration) -> Result<IssuedKey> {
        let user = self.pat_owner(caller)?;
        if ttl <= time::Duration::ZERO || ttl > time::Duration::days(KEY_MAX_DAYS) {
            return Err(Error::InvalidInput(format!(
                "invalid duration: between 1ns and {KEY_MAX_DAYS} days"
            )));
        }
        let now = self.now();
        let key = ApiKey {
            id: crate::random_uuid(),
            issuer_id: user,
            subject: user.to_string(),
            issued_at: now,
            expires_at: now + ttl,
            revoked: false,
        };
        let value = self
            .tokens
            .issue_key(user, caller.role.claim(), caller.verified, key.id, now, ttl)
            .map_err(Error::Internal)?;
        self.store.create_key(&key).await?;
        self.emit("key", "create", key.id, None, json!({"issuer_id": user}))
            .await;
        Ok(IssuedKey { key, value })
    }

    pub async fn view_key(&self, caller: &Caller, id: Uuid) -> Result<ApiKey> {
        let user = self.pat_owner(caller)?;
        Ok(self.store.key(user, id).await?)
    }

    /// Revokes an API key: refused from the next request on, on every node.
    pub async fn revoke_key(&self, caller: &Caller, id: Uuid) -> Result<()> {
        let user = self.pat_owner(caller)?;
        self.store.revoke_key(user, id).await?;
        self.emit("key", "revoke", id, None, json!({"issuer_id": user}))
            .await;
        Ok(())
    }

    /// The cached form of PAT `id`, loaded on a miss.
    async fn pat_auth(&self, id: Uuid) -> Result<Arc<PatAuth>> {
        if let Some(a) = self.pats.get(id)
            && a.loaded.elapsed() < CACHE_TTL
        {
            return Ok(a);
        }
        let unauth = || Error::Unauthenticated(PAT_UNAUTH);
        let pat = self.store.pat(id).await.map_err(|e| match e {
            switchyard_store::StoreError::NotFound => unauth(),
            other => other.into(),
        })?;
        let scopes = self.store.all_scopes(id).await?;
        let user = self.store.user(pat.user_id).await.map_err(|_| unauth())?;
        if user.user.status != Status::Enabled {
            return Err(unauth());
        }
        let a = Arc::new(PatAuth {
            user: pat.user_id,
            role: user.user.role,
            verified: user.user.verified_at.is_some(),
            hash: pat.secret_hash,
            expires_at: pat.expires_at,
            revoked: pat.revoked,
            scopes,
            touched: AtomicI64::new(pat.last_used_at.map_or(0, |t| t.unix_timestamp())),
            loaded: std::time::Instant::now(),
        });
        self.pats.put(id, a.clone());
        Ok(a)
    }

    /// Authenticates `Bearer pat_…`: the secret must match, the PAT be neither revoked
    /// nor expired, and its user enabled.
    pub async fn authenticate_pat(&self, token: &str) -> Result<Caller> {
        let unauth = || Error::Unauthenticated(PAT_UNAUTH);
        let id = secret::secret_id(token).ok_or_else(unauth)?;
        let a = self.pat_auth(id).await?;
        let now = self.now();
        if !secret::matches(token, &a.hash)
            || a.revoked
            || a.expires_at <= now
            || self.user_revoked(a.user, None)
        {
            return Err(unauth());
        }
        let t = now.unix_timestamp();
        let last = a.touched.load(Ordering::Relaxed);
        if t - last >= TOUCH_EVERY_SECS
            && a.touched
                .compare_exchange(last, t, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let store = self.store.clone();
            tokio::spawn(async move {
                if let Err(e) = store.touch_pat(id, now).await {
                    tracing::warn!(error = %e, "pat last_used_at not saved");
                }
            });
        }
        Ok(Caller {
            user: a.user,
            role: a.role,
            verified: a.verified,
            pat: Some(id),
            via_key: false,
        })
    }

    /// Any bearer token: a PAT (`pat_…`) or an access token.
    pub async fn authenticate_any(&self, token: &str) -> Result<Caller> {
        if token.starts_with(secret::PREFIX) {
            self.authenticate_pat(token).await
        } else {
            self.authenticate(token)
        }
    }

    /// The scope half of a decision: a PAT caller's scopes must allow `op` on
    /// `entity_type` in `domain` (on entity `id`; `None` for lists and creates). Users'
    /// own tokens pass. Refused: 403, whether or not the entity exists.
    pub(crate) async fn scope_check(
        &self,
        caller: &Caller,
        entity_type: ScopeEntity,
        op: Option<ScopeOp>,
        domain: Option<Uuid>,
        id: Option<Uuid>,
    ) -> Result<()> {
        let Some(pat) = caller.pat else {
            return Ok(());
        };
        let a = self.pat_auth(pat).await?;
        match op {
            Some(op) if policy::scope_allows(&a.scopes, entity_type, op, domain, id) => Ok(()),
            _ => Err(Error::Forbidden(NOT_IN_SCOPE)),
        }
    }
}
