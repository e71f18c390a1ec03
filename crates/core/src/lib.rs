//! Core services. Every path in (HTTP, MQTT, provision, bootstrap) goes through these
//! functions, which take the caller first and check permission before anything else.
//! Multi-entity writes are one store transaction. Every change emits an event.

pub mod access;
mod access_cache;
pub mod bootstrap;
pub mod certs;
mod channels;
mod clients;
mod connections;
mod domains;
pub mod entity;
mod error;
mod groups;
mod hashing;
pub mod kept_sessions;
mod logins;
pub mod messaging;
pub mod meters;
mod pats;
pub mod provision;
mod users;

use std::{
    collections::HashSet,
    sync::{Arc, RwLock},
};

use switchyard_auth::{Clock, Tokenizer, policy::DomainAccess};
use switchyard_bus::{Event, MessageBus};
use switchyard_domain::{Status, Timestamp, UserRole};
use switchyard_store::Store;
use uuid::Uuid;

pub use channels::{ChannelUpdate, NewChannel};
pub use clients::{ClientUpdate, NewClient};
pub use domains::{DomainUpdate, NewDomain};
pub use error::{Error, Result};
pub use groups::{GroupUpdate, Hierarchy, NewGroup};
pub use pats::{IssuedKey, IssuedPat, ScopeInput};
pub use users::{NewUser, TokenPair, UserUpdate};

type VerifiedTokens = std::collections::HashMap<String, (Caller, Option<Uuid>, i64)>;

/// Most verified access tokens remembered (the map starts over when full).
pub const VERIFIED_TOKENS_MAX: usize = 50_000;

/// Who is calling: an authenticated user (from a verified access token), or a user's
/// personal access token, which may do only what its scopes allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    pub user: Uuid,
    pub role: UserRole,
    pub verified: bool,
    /// The PAT the request came with (`None`: the user's own token).
    pub pat: Option<Uuid>,
    /// The request came with an API key: it acts as its user but manages no
    /// credentials (a leaked key cannot mint its successors).
    pub via_key: bool,
}

impl Caller {
    pub fn is_super_admin(&self) -> bool {
        self.role == UserRole::Admin
    }
}

/// Sends e-mail (password reset). The server wires an SMTP implementation; tests use
/// their own.
#[async_trait::async_trait]
pub trait Mailer: Send + Sync {
    async fn send(&self, to: &str, subject: &str, body: &str) -> std::result::Result<(), String>;
}

#[derive(Clone)]
pub struct CoreConfig {
    pub allow_self_register: bool,
    pub allow_unverified: bool,
    /// `MG_USERS_PASS_REGEX`; `None`: at least 8 characters.
    pub password_regex: Option<regex::Regex>,
    /// Largest accepted bulk create (items).
    pub bulk_max: usize,
    pub provision: provision::ProvisionConfig,
    /// `MG_BOOTSTRAP_ENCRYPT_KEY`: 16, 24 or 32 raw bytes for the secure bootstrap fetch.
    pub bootstrap_encrypt_key: Option<Vec<u8>>,
    /// Password hashes computed at once (0: one per core) …
    pub password_workers: usize,
    /// … and waiting; more are refused with [`Error::Busy`].
    pub password_queue: usize,
    /// Where password-reset e-mails go out (`None`: reset by e-mail is off, 503).
    pub mailer: Option<Arc<dyn Mailer>>,
    /// The page users open to set a new password; the e-mail links to
    /// `<url>?token=<reset token>` (empty: the e-mail carries the token only).
    pub reset_url: String,
    /// How long a reset token is good for.
    pub reset_ttl: time::Duration,
    /// `MG_CERTS_SECRET`: the bearer secret of the internal CSR route (empty: the route
    /// refuses everyone).
    pub certs_secret: String,
}

impl std::fmt::Debug for CoreConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoreConfig")
            .field("allow_self_register", &self.allow_self_register)
            .field("bulk_max", &self.bulk_max)
            .field("mailer", &self.mailer.is_some())
            .field("reset_url", &self.reset_url)
            .finish_non_exhaustive()
    }
}

impl Default for CoreConfig {
    fn default() -> Self {
        CoreConfig {
            allow_self_register: true,
            allow_unverified: true,
            password_regex: None,
            bulk_max: 1000,
            provision: provision::ProvisionConfig::default(),
            bootstrap_encrypt_key: None,
            password_workers: 0,
            password_queue: 32,
            mailer: None,
            reset_url: String::new(),
            reset_ttl: time::Duration::minutes(15),
            certs_secret: String::new(),
        }
    }
}

/// In-memory revocations so access-token checks need no database query: users that
/// are disabled/deleted, and refresh sessions and API keys that were revoked (revoked
/// API keys are loaded at start: they live long). Kept fresh on every node by the
/// change events.
#[derive(Default)]
struct Revocations {
    users: HashSet<Uuid>,
    sessions: HashSet<Uuid>,
}

pub struct Core {
    store: Arc<dyn Store>,
    tokens: Tokenizer,
    clock: Arc<dyn Clock>,
    bus: Arc<dyn MessageBus>,
    cfg: CoreConfig,
    revoked: RwLock<Revocations>,
    access: access_cache::AccessCache,
    auth_cache: messaging::AuthCache,
    /// The message plane's login reads, batched.
    logins: logins::LoginReads,
    /// The CA and sealing secret, set once at start by [`Core::set_certs`].
    certs: RwLock<Option<Arc<certs::CertAuthority>>>,
    /// Access tokens whose signature was verified: token → (caller, session, exp).
    verified_tokens: RwLock<VerifiedTokens>,
    /// Where passwords are hashed and checked (bounded).
    hashing: hashing::HashPool,
    /// Verified personal access tokens.
    pats: pats::PatCache,
    /// The access token `/mapping` logs in for with the configured provision credentials.
    provision_token: tokio::sync::Mutex<Option<String>>,
}

impl Core {
    pub async fn new(
        store: Arc<dyn Store>,
        tokens: Tokenizer,
        clock: Arc<dyn Clock>,
        bus: Arc<dyn MessageBus>,
        cfg: CoreConfig,
    ) -> Result<Arc<Core>> {
        let inactive = store.inactive_user_ids().await?;
        let revoked_keys = store.revoked_keys(clock.now()).await?;
        let (cfg_workers, cfg_queue) = (cfg.password_workers, cfg.password_queue);
        let core = Arc::new(Core {
            logins: logins::LoginReads::new(store.clone()),
            store,
            tokens,
            clock,
            bus,
            cfg,
            revoked: RwLock::new(Revocations {
                users: inactive.into_iter().collect(),
                sessions: revoked_keys.into_iter().collect(),
            }),
            access: access_cache::AccessCache::default(),
            auth_cache: messaging::AuthCache::default(),
            verified_tokens: RwLock::default(),
            certs: RwLock::new(None),
            hashing: hashing::HashPool::new(cfg_workers, cfg_queue),
            provision_token: tokio::sync::Mutex::new(None),
            pats: Default::default(),
        });
        core.clone().follow_events().await?;
        Ok(core)
    }

    /// Whether the store answers (the health check).
    pub async fn store_healthy(&self) -> bool {
        self.store.ping().await.is_ok()
    }
    /// `"sqlite"` or `"postgres"`.
    /// Checks that this node agrees with the others on this database about the keys
    /// they must share (by fingerprint: the token verification key, the certs CA and
    /// sealing secret, the bootstrap key). The first node records them; a node with other
    /// keys gets a clear error instead of silently rejecting the others' tokens.
    pub async fn agree_on_keys(&self) -> std::result::Result<(), String> {
        use sha2::Digest;
        let hex = |b: &[u8]| -> String { b.iter().map(|x| format!("{x:02x}")).collect() };
        let mut facts = vec![(
            "token_key",
            self.tokens.fingerprint().to_string(),
            "token key (MG_AUTH_KEYS_ACTIVE_KEY_PATH for EdDSA, MG_AUTH_SECRET_KEY for HS*)",
        )];
        if let Some(c) = self.certs.read().ok().and_then(|c| c.clone()) {
            let (ca, seal) = c.fingerprints();
            facts.push((
                "certs_ca",
                ca,
                "certs CA (MG_CERTS_CA_CERT_PATH and MG_CERTS_CA_KEY_PATH)",
            ));
            facts.push(("certs_key", seal, "sealing secret (SWITCHYARD_CERTS_KEY)"));
        }
        if let Some(k) = &self.cfg.bootstrap_encrypt_key {
            facts.push((
                "bootstrap_key",
                hex(&sha2::Sha256::digest(k)),
                "bootstrap key (MG_BOOTSTRAP_ENCRYPT_KEY)",
            ));
        }
        for (name, fp, what) in facts {
            let agreed = self
                .store
                .agree(name, &fp)
                .await
                .map_err(|e| format!("recording the {name} fingerprint: {e}"))?;
            if agreed != fp {
                return Err(format!(
                    "this node's {what} differs from the one the other nodes on this database \
                     use: give every node the same one. (If this is an intended rotation, \
                     delete the old fingerprint: DELETE FROM cluster_facts WHERE name = '{name}'.)"
                ));
            }
        }
        Ok(())
    }

    /// Closes the store (at shutdown, after the listeners stopped).
    pub async fn close(&self) {
        self.store.close().await;
    }
    pub fn store_backend(&self) -> &'static str {
        self.store.backend()
    }
    pub fn bus(&self) -> &Arc<dyn MessageBus> {
        &self.bus
    }
    pub fn config(&self) -> &CoreConfig {
        &self.cfg
    }
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Publishes a change event; a bus failure is logged, never fails the write
    /// that already committed.
    async fn emit(
        &self,
        entity: &str,
        operation: &str,
        id: Uuid,
        domain: Option<Uuid>,
        data: serde_json::Value,
    ) {
        let ev = Event {
            entity: entity.into(),
            operation: operation.into(),
            id: id.to_string(),
            domain: domain.map(|d| d.to_string()),
            at: self
                .now()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            data,
        };
        // Apply to this node's caches at once (before the write's response goes out);
        // other nodes apply it when it arrives over the bus. Applying twice is harmless.
        self.apply_event(&ev);
        let payload = serde_json::to_vec(&ev).unwrap_or_default();
        if let Err(e) = self.bus.publish(&ev.subject(), payload).await {
            tracing::warn!(error = %e, subject = %ev.subject(), "event not published");
        }
    }

    /// Applies other nodes' (and our own) user and session events to the revocation
    /// cache.
    async fn follow_events(self: Arc<Self>) -> Result<()> {
        let mut sub = self
            .bus
            .subscribe("events.>")
            .await
            .map_err(|e| Error::Internal(e.to_string()))?;
        let weak = Arc::downgrade(&self);
        // Revoked API keys live long: besides their events, the store's list is read
        // again now (a revocation between the load at start and this subscription) and
        // every minute (an event the bus lost).
        let poll = Arc::downgrade(&self);
        tokio::spawn(async move {
            loop {
                let Some(core) = poll.upgrade() else { break };
                if let Ok(ids) = core.store.revoked_keys(core.now()).await
                    && let Ok(mut r) = core.revoked.write()
                {
                    r.sessions.extend(ids);
                }
                drop(core);
                tokio::time::sleep(std::time::Duration::from_secs(60)).await;
            }
        });
        tokio::spawn(async move {
            while let Some(msg) = sub.rx.recv().await {
                let Some(core) = weak.upgrade() else { break };
                let Ok(ev) = serde_json::from_slice::<Event>(&msg.payload) else {
                    continue;
                };
                core.apply_event(&ev);
            }
        });
        Ok(())
    }

    fn apply_event(&self, ev: &Event) {
        self.auth_cache.apply(ev);
        let Ok(id) = Uuid::parse_str(&ev.id) else {
            return;
        };
        match (ev.entity.as_str(), ev.operation.as_str()) {
            ("domain", _) => self.access.forget_domain(id),
            ("invitation", _) => {
                if let Some(d) = ev.domain.as_deref().and_then(|d| Uuid::parse_str(d).ok()) {
                    self.access.forget_member(d, id);
                }
            }
            ("pat", _) => self.pats.forget(id),
            ("user", _) => self.pats.forget_user(id),
            _ => {}
        }
        let Ok(mut r) = self.revoked.write() else {
            return;
        };
        match (ev.entity.as_str(), ev.operation.as_str()) {
            ("user", "disable" | "delete") => {
                r.users.insert(id);
            }
            ("user", "enable") => {
                r.users.remove(&id);
            }
            ("session" | "key", "revoke") => {
                r.sessions.insert(id);
            }
            _ => {}
        }
    }

    fn user_revoked(&self, user: Uuid, session: Option<Uuid>) -> bool {
        self.revoked
            .read()
            .map(|r| r.users.contains(&user) || session.is_some_and(|s| r.sessions.contains(&s)))
            .unwrap_or(true)
    }

    /// The caller's standing in a domain. Non-members get 403 whether or not the
    /// domain exists. With `active`, a disabled or frozen domain refuses the work.
    pub async fn domain_access(
        &self,
        caller: &Caller,
        domain: Uuid,
        active: bool,
    ) -> Result<DomainAccess> {
        let access = if caller.is_super_admin() {
            DomainAccess::SuperAdmin
        } else {
            let role = match self.access.member(domain, caller.user) {
                Some(r) => r,
                None => {
                    let r = self.store.member_role(domain, caller.user).await?;
                    self.access.put_member(domain, caller.user, r);
                    r
                }
            };
            match role {
                Some(r) => DomainAccess::Role(r),
                None => {
                    return Err(Error::Forbidden(
                        "failed to perform authorization over the domain",
                    ));
                }
            }
        };
        let status = match self.access.domain(domain) {
            Some(s) => s,
            None => {
                let d = self.store.domain(domain).await.map_err(|e| match e {
                    switchyard_store::StoreError::NotFound => Error::NotFound,
                    other => other.into(),
                })?;
                self.access.put_domain(domain, d.status);
                d.status
            }
        };
        if active && status != Status::Enabled {
            return Err(Error::Forbidden("domain is not enabled"));
        }
        if status == Status::Deleted {
            return Err(Error::NotFound);
        }
        Ok(access)
    }
}

/// A fresh random secret/id (UUID v4 from the OS CSPRNG).
pub(crate) fn random_uuid() -> Uuid {
    Uuid::new_v4()
}
