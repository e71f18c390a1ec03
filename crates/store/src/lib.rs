//! Storage contract. Each method that writes more than one row is one transaction in
//! every implementation: it either fully happens or leaves nothing behind.

mod certs;
pub use certs::*;

use async_trait::async_trait;
use uuid::Uuid;

use switchyard_domain::{
    ApiKey, AwayMessage, BootstrapConfig, Channel, Client, ClientLogin, Connection, Domain,
    DomainQuery, DomainRole, EntityKind, EntityQuery, Grant, Group, GroupQuery, Invitation,
    InvitationQuery, Page, Pat, PatScope, RefreshSession, Role, StoredMqttSession, Timestamp, User,
    UserQuery, UserWithSecret,
};

/// The most clients one [`ClientRepo::client_logins`] call reads.
pub const MAX_LOGIN_BATCH: usize = 256;

/// Which uniqueness rule a write broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConflictKind {
    UserEmail,
    Username,
    UserId,
    DomainRoute,
    DomainId,
    ClientId,
    ClientSecret,
    ChannelId,
    ChannelRoute,
    ExternalId,
    GroupId,
    RoleName,
    Other,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row does not exist (or is not in the given domain).
    #[error("entity not found")]
    NotFound,
    /// A uniqueness rule was broken. `index` names the offending item of a batch.
    #[error("conflict: {kind:?} at {index:?}")]
    Conflict {
        kind: ConflictKind,
        index: Option<usize>,
    },
    /// Anything else: connection lost, disk full, a bug.
    #[error("store: {0}")]
    Other(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// What a connect/disconnect did (for events).
#[derive(Debug, Clone, Default)]
pub struct ConnectionChange {
    pub changed: Vec<Connection>,
}

#[async_trait]
pub trait UserRepo: Send + Sync {
    async fn create_user(&self, u: &UserWithSecret) -> Result<()>;
    async fn user(&self, id: Uuid) -> Result<UserWithSecret>;
    /// By username or e-mail.
    async fn user_by_login(&self, login: &str) -> Result<UserWithSecret>;
    async fn list_users(&self, q: &UserQuery) -> Result<Page<User>>;
    /// Replaces every mutable field of the user.
    async fn update_user(&self, u: &User) -> Result<()>;
    /// Sets the password hash and ends every refresh session of the user, in one
    /// transaction; returns the ended sessions' ids (their access tokens are revoked).
    async fn update_password(&self, id: Uuid, hash: &str, at: Timestamp) -> Result<Vec<Uuid>>;
    /// As [`UserRepo::update_password`], only while the stored hash is still `old`
    /// (`NotFound` otherwise): a reset token is spent once, also under concurrency.
    async fn replace_password_hash(
        &self,
        id: Uuid,
        old: &str,
        hash: &str,
        at: Timestamp,
    ) -> Result<Vec<Uuid>>;
    /// Ids of users that are not enabled (for the token revocation cache).
    async fn inactive_user_ids(&self) -> Result<Vec<Uuid>>;

    async fn create_session(&self, s: &RefreshSession) -> Result<()>;
    async fn session(&self, id: Uuid) -> Result<RefreshSession>;
    async fn list_sessions(&self, user: Uuid, now: Timestamp) -> Result<Vec<RefreshSession>>;
    async fn delete_session(&self, user: Uuid, id: Uuid) -> Result<()>;
    /// Replaces the session's valid refresh id `from` with `to`; `false` when the
    /// session has another one (the presented refresh token was already used) or is gone.
    async fn rotate_session(&self, id: Uuid, from: &str, to: &str) -> Result<bool>;
}

#[async_trait]
pub trait DomainRepo: Send + Sync {
    /// Creates the domain and makes its creator a member with the admin role.
    async fn create_domain(&self, d: &Domain) -> Result<()>;
    async fn domain(&self, id: Uuid) -> Result<Domain>;
    async fn list_domains(&self, q: &DomainQuery) -> Result<Page<Domain>>;
    async fn update_domain(&self, d: &Domain) -> Result<()>;
    async fn member_role(&self, domain: Uuid, user: Uuid) -> Result<Option<DomainRole>>;
    /// Domains the user belongs to (for `/mapping` without a domain).
    async fn user_domains(&self, user: Uuid) -> Result<Vec<Uuid>>;

    /// Creates or (on resend) replaces a pending invitation.
    async fn save_invitation(&self, i: &Invitation) -> Result<()>;
    async fn invitation(&self, domain: Uuid, invitee: Uuid) -> Result<Invitation>;
    async fn list_invitations(&self, q: &InvitationQuery) -> Result<Page<Invitation>>;
    /// Marks the invitation accepted and adds the membership, in one transaction.
    async fn accept_invitation(&self, domain: Uuid, invitee: Uuid, at: Timestamp) -> Result<()>;
    async fn reject_invitation(&self, domain: Uuid, invitee: Uuid, at: Timestamp) -> Result<()>;
    async fn delete_invitation(&self, domain: Uuid, invitee: Uuid) -> Result<()>;
}

#[async_trait]
pub trait ClientRepo: Send + Sync {
    /// Inserts every client or none (multi-row, one transaction).
    async fn create_clients(&self, cs: &[Client]) -> Result<()>;
    async fn client(&self, domain: Uuid, id: Uuid) -> Result<Client>;
    /// The client and what `user` holds on it (see [`AccessRepo::grants`]; the creator's
    /// admin role is left to the caller, who has `created_by`), in one query.
    async fn client_for(&self, user: Uuid, domain: Uuid, id: Uuid) -> Result<(Client, Vec<Grant>)>;
    /// Any domain, by id alone (the message plane's login reads [`ClientRepo::client_logins`]).
    async fn client_any_domain(&self, id: Uuid) -> Result<Client>;
    /// The message plane's login read of these clients (any domain), with their
    /// domain's status, in one query: a fleet reconnecting at once is read in batches.
    /// Unknown ids are left out; at most [`MAX_LOGIN_BATCH`] ids.
    async fn client_logins(&self, ids: &[Uuid]) -> Result<Vec<ClientLogin>>;
    /// One client's login read; `NotFound` for an unknown id.
    async fn client_login(&self, id: Uuid) -> Result<ClientLogin> {
        self.client_logins(&[id])
            .await?
            .into_iter()
            .next()
            .ok_or(StoreError::NotFound)
    }
    /// The enabled client of a domain holding this secret (message-plane login).
    async fn client_by_secret(&self, domain: Uuid, secret: &str) -> Result<Client>;
    async fn list_clients(&self, domain: Uuid, q: &EntityQuery) -> Result<Page<Client>>;
    async fn update_client(&self, c: &Client) -> Result<()>;
    /// Deletes the client and its connections.
    async fn delete_client(&self, domain: Uuid, id: Uuid) -> Result<()>;
}

#[async_trait]
pub trait ChannelRepo: Send + Sync {
    async fn create_channels(&self, cs: &[Channel]) -> Result<()>;
    async fn channel(&self, domain: Uuid, id: Uuid) -> Result<Channel>;
    /// The channel and what `user` holds on it, in one query.
    async fn channel_for(
        &self,
        user: Uuid,
        domain: Uuid,
        id: Uuid,
    ) -> Result<(Channel, Vec<Grant>)>;
    async fn channel_by_route(&self, domain: Uuid, route: &str) -> Result<Channel>;
    /// Any domain; for the document-era publish path that names only the channel.
    async fn channel_any_domain(&self, id: Uuid) -> Result<Channel>;
    /// The channels of a domain among `ids` (missing ones are skipped), in one query.
    async fn channels_by_ids(&self, domain: Uuid, ids: &[Uuid]) -> Result<Vec<Channel>>;
    async fn list_channels(&self, domain: Uuid, q: &EntityQuery) -> Result<Page<Channel>>;
    async fn update_channel(&self, c: &Channel) -> Result<()>;
    /// Deletes the channel and its connections.
    async fn delete_channel(&self, domain: Uuid, id: Uuid) -> Result<()>;
}

#[async_trait]
pub trait ConnectionRepo: Send + Sync {
    /// Adds connections that do not exist yet; returns those added.
    async fn connect(&self, domain: Uuid, cs: &[Connection]) -> Result<Vec<Connection>>;
    /// Removes those that exist; returns those removed.
    async fn disconnect(&self, domain: Uuid, cs: &[Connection]) -> Result<Vec<Connection>>;
    /// Connections of one client (any domain), for the message plane's cache.
    async fn client_connections(&self, client: Uuid) -> Result<Vec<Connection>>;
}

/// One role as memberships need it: its id, its entity (and that entity's domain), and
/// whether it is the entity's built-in admin role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleRef {
    pub id: String,
    pub entity_id: Uuid,
    pub domain_id: Uuid,
    pub builtin: bool,
}

/// One role a user holds, as [`AccessRepo::held_roles`] finds it: the grant (one row per
/// action), the role's id and the entity that provides it (the entity itself, an
/// ancestor group or the domain).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldRole {
    pub grant: Grant,
    pub role_id: String,
    pub provider: Uuid,
}

/// Roles and memberships on domains, groups, clients and channels; what a user holds.
#[async_trait]
pub trait AccessRepo: Send + Sync {
    /// What `user` holds on `entity` of `kind`: its roles and (for all but domains) its
    /// creator's admin role (depth 0), the roles and creators of its parent group's
    /// chain (depth 1, 2, …), and with `domain` the domain's roles (depth -1); one query.
    async fn grants(
        &self,
        user: Uuid,
        kind: EntityKind,
        entity: Uuid,
        domain: Option<Uuid>,
    ) -> Result<Vec<Grant>>;
    /// As [`AccessRepo::grants`], with each row's role and providing entity.
    async fn held_roles(
        &self,
        user: Uuid,
        kind: EntityKind,
        entity: Uuid,
        domain: Option<Uuid>,
    ) -> Result<Vec<HeldRole>>;
    /// Members of a domain's built-in role (`admin` or `member`).
    async fn domain_role_members(
        &self,
        domain: Uuid,
        role: DomainRole,
        offset: u64,
        limit: u64,
    ) -> Result<Page<Uuid>>;
    /// The users of a domain with their built-in role, by user id.
    async fn domain_users(
        &self,
        domain: Uuid,
        offset: u64,
        limit: u64,
    ) -> Result<Page<(Uuid, DomainRole)>>;
    /// The role ids each of `members` holds on the entity.
    async fn member_roles(&self, entity: Uuid, members: &[Uuid]) -> Result<Vec<(Uuid, String)>>;
    /// Creates a custom role with its actions and members, in one transaction. A name
    /// taken on the entity is `Conflict { kind: RoleName }`.
    async fn create_role(&self, r: &Role, actions: &[String], members: &[Uuid]) -> Result<()>;
    /// The custom roles of an entity, by name.
    async fn roles(&self, entity: Uuid, offset: u64, limit: u64) -> Result<Page<Role>>;
    async fn role(&self, entity: Uuid, id: &str) -> Result<Role>;
    async fn rename_role(&self, r: &Role) -> Result<()>;
    /// Deletes the role, its actions and its memberships, in one transaction.
    async fn delete_role(&self, entity: Uuid, id: &str) -> Result<()>;
    async fn add_role_actions(&self, role: &str, actions: &[String]) -> Result<()>;
    /// Removes these actions (all of them when `None`).
    async fn remove_role_actions(&self, role: &str, actions: Option<&[String]>) -> Result<()>;
    async fn role_actions(&self, role: &str) -> Result<Vec<String>>;
    /// Adds members (those already in are skipped), in one statement.
    async fn add_role_members(&self, role: &RoleRef, members: &[Uuid]) -> Result<()>;
    /// Removes these members (all of them when `None`).
    async fn remove_role_members(&self, role: &str, members: Option<&[Uuid]>) -> Result<()>;
    async fn role_members(&self, role: &str, offset: u64, limit: u64) -> Result<Page<Uuid>>;
    /// Users holding any role on the entity.
    async fn entity_members(&self, entity: Uuid, offset: u64, limit: u64) -> Result<Page<Uuid>>;
    /// Removes these users from every role of the entity, in one statement.
    async fn remove_entity_members(&self, entity: Uuid, members: &[Uuid]) -> Result<()>;
    /// Those of `users` who are members of the domain.
    async fn domain_members_among(&self, domain: Uuid, users: &[Uuid]) -> Result<Vec<Uuid>>;
}

/// Groups: a tree per domain. Moves and deletes keep the ancestor closure in the same
/// transaction.
#[async_trait]
pub trait GroupRepo: Send + Sync {
    /// Inserts every group or none (parents before children), with their creators as
    /// admins and their place in the tree.
    async fn create_groups(&self, gs: &[Group]) -> Result<()>;
    async fn group(&self, domain: Uuid, id: Uuid) -> Result<Group>;
    /// The group and what `user` holds on it, in one query.
    async fn group_for(&self, user: Uuid, domain: Uuid, id: Uuid) -> Result<(Group, Vec<Grant>)>;
    async fn list_groups(&self, domain: Uuid, q: &GroupQuery) -> Result<Page<Group>>;
    async fn update_group(&self, g: &Group) -> Result<()>;
    /// Deletes the group: its children become roots, its clients and channels lose
    /// their parent, its roles go; one transaction.
    async fn delete_group(&self, domain: Uuid, id: Uuid) -> Result<()>;
    /// Moves the groups under `parent` (or to the root), all or none, in one
    /// transaction. A parent inside a moved group's own subtree is
    /// `Conflict { kind: GroupId }` and changes nothing.
    async fn set_group_parent(
        &self,
        domain: Uuid,
        ids: &[Uuid],
        parent: Option<Uuid>,
    ) -> Result<()>;
    /// The group's ancestors (`up`) or descendants, at most `levels` away (0: all),
    /// each with its distance as `level`; the group itself first.
    async fn group_hierarchy(
        &self,
        domain: Uuid,
        id: Uuid,
        up: bool,
        levels: u64,
    ) -> Result<Vec<Group>>;
    /// Descendants between `start` and `end` levels below (end 0: no bound), paged.
    async fn group_children(
        &self,
        domain: Uuid,
        id: Uuid,
        start: u64,
        end: u64,
        q: &GroupQuery,
    ) -> Result<Page<Group>>;
    /// Sets or clears the parent group of clients or channels of the domain.
    async fn set_entity_parent(
        &self,
        kind: EntityKind,
        domain: Uuid,
        ids: &[Uuid],
        parent: Option<Uuid>,
    ) -> Result<()>;
}

/// Everything `/mapping` creates, written in one transaction.
#[derive(Debug, Clone)]
pub struct ProvisionPlan {
    pub domain: Uuid,
    pub clients: Vec<Client>,
    pub channels: Vec<Channel>,
    pub connections: Vec<Connection>,
    pub config: BootstrapConfig,
    /// Certificates issued for the layout's clients (x509 provisioning).
    pub certs: Vec<CertRecord>,
}

#[async_trait]
pub trait BootstrapRepo: Send + Sync {
    /// Creates the clients, channels, connections and bootstrap config of a gateway,
    /// all or nothing. A taken external id is `Conflict { kind: ExternalId }`.
    async fn provision(&self, plan: &ProvisionPlan) -> Result<()>;
    /// The device-facing fetch, in one round trip: the config with this external id,
    /// its client's secret and its channels.
    async fn bootstrap_fetch(&self, external_id: &str) -> Result<FetchedConfig>;
    /// Creates a config (and, when given, the client it is for) in one transaction.
    async fn create_config(&self, c: &BootstrapConfig, new_client: Option<&Client>) -> Result<()>;
    async fn config(&self, domain: Uuid, client_id: Uuid) -> Result<BootstrapConfig>;
    async fn list_configs(&self, domain: Uuid, q: &ConfigQuery) -> Result<Page<BootstrapConfig>>;
    /// Replaces name, content, certificates, channels and state.
    async fn update_config(&self, c: &BootstrapConfig) -> Result<()>;
    /// Saves the config and applies connection changes in one transaction (whitelist).
    async fn update_config_with_connections(
        &self,
        c: &BootstrapConfig,
        connect: &[Connection],
        disconnect: &[Connection],
    ) -> Result<()>;
    async fn delete_config(&self, domain: Uuid, client_id: Uuid) -> Result<()>;
}

/// Bootstrap config listing: exact `state`/`external_id`, substring `name`.
#[derive(Debug, Clone, Default)]
pub struct ConfigQuery {
    pub offset: u64,
    pub limit: u64,
    pub state: Option<i16>,
    pub external_id: Option<String>,
    pub name: Option<String>,
    /// Visibility: only configs of clients created by this user.
    pub created_by: Option<Uuid>,
}

/// What [`BootstrapRepo::bootstrap_fetch`] found.
#[derive(Debug, Clone)]
pub struct FetchedConfig {
    pub config: BootstrapConfig,
    pub client_secret: String,
    /// Those of the config's channels that exist, in any order.
    pub channels: Vec<Channel>,
}

/// Personal access tokens and their scopes. Reads and writes that name a user only see
/// that user's PATs (another user's id is `NotFound`).
#[async_trait]
pub trait PatRepo: Send + Sync {
    async fn create_pat(&self, p: &Pat) -> Result<()>;
    /// Any user's PAT (authentication).
    async fn pat(&self, id: Uuid) -> Result<Pat>;
    async fn user_pat(&self, user: Uuid, id: Uuid) -> Result<Pat>;
    /// Newest first.
    async fn list_pats(&self, user: Uuid, offset: u64, limit: u64) -> Result<Page<Pat>>;
    /// Saves name, description, secret, expiry, revocation and `updated_at`.
    async fn update_pat(&self, p: &Pat) -> Result<()>;
    async fn touch_pat(&self, id: Uuid, at: Timestamp) -> Result<()>;
    /// Deletes one PAT of the user with its scopes.
    async fn delete_pat(&self, user: Uuid, id: Uuid) -> Result<()>;
    /// Deletes every PAT of the user, in one transaction; their ids.
    async fn delete_user_pats(&self, user: Uuid) -> Result<Vec<Uuid>>;
    /// Revokes every PAT of the user (at `at`); their ids.
    async fn revoke_user_pats(&self, user: Uuid, at: Timestamp) -> Result<Vec<Uuid>>;
    /// Adds scopes to a PAT in one transaction.
    async fn add_scopes(&self, scopes: &[PatScope]) -> Result<()>;
    async fn all_scopes(&self, pat: Uuid) -> Result<Vec<PatScope>>;
    async fn scopes(&self, pat: Uuid, offset: u64, limit: u64) -> Result<Page<PatScope>>;
    /// Removes the listed scopes (`None`: all) of the PAT; how many went.
    async fn remove_scopes(&self, pat: Uuid, ids: Option<&[Uuid]>) -> Result<u64>;
}

/// API key records (the keys themselves are signed tokens, never stored).
#[async_trait]
pub trait KeyRepo: Send + Sync {
    async fn create_key(&self, k: &ApiKey) -> Result<()>;
    /// One of the issuer's keys that is not revoked.
    async fn key(&self, issuer: Uuid, id: Uuid) -> Result<ApiKey>;
    /// Marks one of the issuer's keys revoked (`NotFound` if none or already revoked).
    async fn revoke_key(&self, issuer: Uuid, id: Uuid) -> Result<()>;
    /// Ids of revoked keys that have not expired at `now` (loaded at start).
    async fn revoked_keys(&self, now: Timestamp) -> Result<Vec<Uuid>>;
    /// Revokes every key the user issued; their ids.
    async fn revoke_user_keys(&self, issuer: Uuid) -> Result<Vec<Uuid>>;
}

/// MQTT persistent sessions: a row per kept session, naming the node that holds it in
/// memory (`None`: no node, saved at a stop or released; free to take).
#[async_trait]
pub trait MqttSessionRepo: Send + Sync {
    /// Saves these sessions as held by `holder` (replacing any saved under the same
    /// keys), in one transaction.
    async fn save_mqtt_sessions(
        &self,
        holder: Option<Uuid>,
        sessions: &[StoredMqttSession],
    ) -> Result<()>;
    /// Removes and returns, in one transaction (a session is restored by one node once),
    /// the sessions no node holds, or with `held_too` every saved session (a node that
    /// knows it is the only one: those held were held by its crashed predecessor).
    async fn take_mqtt_sessions(&self, held_too: bool) -> Result<Vec<StoredMqttSession>>;
    /// The session saved under this key, if any, and the node holding it (left saved).
    async fn mqtt_session(
        &self,
        client_id: Uuid,
        mqtt_id: &str,
    ) -> Result<Option<(Option<Uuid>, StoredMqttSession)>>;
    /// Removes and returns the session saved under this key, if any.
    async fn take_mqtt_session(
        &self,
        client_id: Uuid,
        mqtt_id: &str,
    ) -> Result<Option<StoredMqttSession>>;
    /// Removes the session saved under this key if `holder` holds it (a node dropping
    /// its own session leaves one another node saved since alone).
    async fn drop_mqtt_session(&self, client_id: Uuid, mqtt_id: &str, holder: Uuid) -> Result<()>;
    /// Logs messages queued for sessions whose clients are away, in one transaction.
    /// A taken session gets those of its away period (its `epoch`) after its own, in
    /// the order logged; saving a session removes those of other periods.
    async fn append_mqtt_messages(&self, messages: &[AwayMessage]) -> Result<()>;
}

/// Facts every node on one database must agree on.
#[async_trait]
pub trait ClusterRepo: Send + Sync {
    /// Records `value` under `name` unless a value is there already (race-free across
    /// processes); returns the recorded value.
    async fn agree(&self, name: &str, value: &str) -> Result<String>;
}

/// Everything a backend provides.
#[async_trait]
pub trait Store:
    UserRepo
    + DomainRepo
    + ClientRepo
    + ChannelRepo
    + ConnectionRepo
    + BootstrapRepo
    + CertRepo
    + AccessRepo
    + GroupRepo
    + PatRepo
    + KeyRepo
    + ClusterRepo
    + MqttSessionRepo
{
    /// `"sqlite"` or `"postgres"`.
    fn backend(&self) -> &'static str;
    async fn ping(&self) -> Result<()>;
    /// Finishes: waits for open work, makes everything durable in the database's own
    /// files (SQLite: a final WAL checkpoint) and closes the connections.
    async fn close(&self);
}

/// Helper for backends: the position of the first item whose key is in `taken`.
pub fn first_index<T, K: PartialEq>(
    items: &[T],
    key: impl Fn(&T) -> K,
    taken: &[K],
) -> Option<usize> {
    items.iter().position(|i| taken.contains(&key(i)))
}
