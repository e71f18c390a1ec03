use serde_json::{Map, Value};
use uuid::Uuid;

use crate::{Invalid, Timestamp};

pub type Metadata = Map<String, Value>;

/// Lifecycle status shared by users, clients, channels and domains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    Enabled,
    Disabled,
    /// Domains only.
    Frozen,
    Deleted,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Enabled => "enabled",
            Status::Disabled => "disabled",
            Status::Frozen => "freezed",
            Status::Deleted => "deleted",
        }
    }
    pub fn code(self) -> i16 {
        match self {
            Status::Enabled => 0,
            Status::Disabled => 1,
            Status::Frozen => 2,
            Status::Deleted => 3,
        }
    }
    pub fn from_code(c: i64) -> Status {
        match c {
            1 => Status::Disabled,
            2 => Status::Frozen,
            3 => Status::Deleted,
            _ => Status::Enabled,
        }
    }
    /// Parses a status given on create (`enabled`/`disabled`, empty = enabled).
    pub fn parse_for_create(s: Option<&str>) -> Result<Status, Invalid> {
        match s.map(|s| s.to_ascii_lowercase()).as_deref() {
            None | Some("") | Some("enabled") => Ok(Status::Enabled),
            Some("disabled") => Ok(Status::Disabled),
            _ => Err(Invalid("invalid status")),
        }
    }
}

/// Platform-wide role of a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UserRole {
    User,
    Admin,
}

impl UserRole {
    pub fn as_str(self) -> &'static str {
        match self {
            UserRole::User => "user",
            UserRole::Admin => "admin",
        }
    }
    /// Numeric form used in the JWT `role` claim (1 user, 2 admin).
    pub fn claim(self) -> u8 {
        match self {
            UserRole::User => 1,
            UserRole::Admin => 2,
        }
    }
    pub fn from_claim(c: u8) -> Option<UserRole> {
        match c {
            1 => Some(UserRole::User),
            2 => Some(UserRole::Admin),
            _ => None,
        }
    }
    pub fn parse(s: &str) -> Result<UserRole, Invalid> {
        match s {
            "user" => Ok(UserRole::User),
            "admin" => Ok(UserRole::Admin),
            _ => Err(Invalid("invalid client role")),
        }
    }
}

/// Built-in roles of a domain member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DomainRole {
    Admin,
    Member,
}

impl DomainRole {
    pub fn as_str(self) -> &'static str {
        match self {
            DomainRole::Admin => "admin",
            DomainRole::Member => "member",
        }
    }
    pub fn parse(s: &str) -> Option<DomainRole> {
        match s {
            "admin" => Some(DomainRole::Admin),
            "member" => Some(DomainRole::Member),
            _ => None,
        }
    }
    /// The id of the built-in role in a given domain, as listed by the API.
    pub fn role_id(self, domain: Uuid) -> String {
        format!("{domain}_{}", self.as_str())
    }
    /// Accepts the role id (`<domain>_admin`), or the bare role name.
    pub fn from_role_id(domain: Uuid, id: &str) -> Option<DomainRole> {
        let name = id.strip_prefix(&format!("{domain}_")).unwrap_or(id);
        DomainRole::parse(name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ConnectionType {
    Publish,
    Subscribe,
}

impl ConnectionType {
    pub fn code(self) -> i16 {
        match self {
            ConnectionType::Publish => 1,
            ConnectionType::Subscribe => 2,
        }
    }
    pub fn from_code(c: i64) -> Option<ConnectionType> {
        match c {
            1 => Some(ConnectionType::Publish),
            2 => Some(ConnectionType::Subscribe),
            _ => None,
        }
    }
    /// Accepts `publish`/`subscribe` in any case.
    pub fn parse(s: &str) -> Result<ConnectionType, Invalid> {
        if s.eq_ignore_ascii_case("publish") {
            Ok(ConnectionType::Publish)
        } else if s.eq_ignore_ascii_case("subscribe") {
            Ok(ConnectionType::Subscribe)
        } else {
            Err(Invalid("invalid connection type"))
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionType::Publish => "Publish",
            ConnectionType::Subscribe => "Subscribe",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub id: Uuid,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub username: String,
    pub tags: Vec<String>,
    pub metadata: Metadata,
    pub private_metadata: Metadata,
    pub profile_picture: String,
    pub status: Status,
    pub role: UserRole,
    pub created_at: Timestamp,
    pub updated_at: Option<Timestamp>,
    pub updated_by: Option<Uuid>,
    pub verified_at: Option<Timestamp>,
}

/// A user plus the password hash; only the users service sees this.
#[derive(Debug, Clone)]
pub struct UserWithSecret {
    pub user: User,
    pub password_hash: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Domain {
    pub id: Uuid,
    pub name: String,
    pub route: String,
    pub tags: Vec<String>,
    pub metadata: Metadata,
    pub status: Status,
    pub created_by: Uuid,
    pub created_at: Timestamp,
    pub updated_at: Option<Timestamp>,
    pub updated_by: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Invitation {
    pub domain_id: Uuid,
    pub domain_name: String,
    pub invitee_user_id: Uuid,
    pub invited_by: Uuid,
    pub role: DomainRole,
    pub created_at: Timestamp,
    pub updated_at: Option<Timestamp>,
    pub confirmed_at: Option<Timestamp>,
    pub rejected_at: Option<Timestamp>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvitationState {
    All,
    Pending,
    Accepted,
    Rejected,
}

impl InvitationState {
    pub fn parse(s: &str) -> Result<InvitationState, Invalid> {
        match s {
            "all" | "" => Ok(InvitationState::All),
            "pending" => Ok(InvitationState::Pending),
            "accepted" => Ok(InvitationState::Accepted),
            "rejected" => Ok(InvitationState::Rejected),
            _ => Err(Invalid("invalid invitation state")),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Client {
    pub id: Uuid,
    pub domain_id: Uuid,
    pub name: String,
    pub tags: Vec<String>,
    pub metadata: Metadata,
    pub private_metadata: Metadata,
    pub secret: String,
    pub status: Status,
    pub parent_group_id: Option<Uuid>,
    pub created_by: Uuid,
    pub created_at: Timestamp,
    pub updated_at: Option<Timestamp>,
    pub updated_by: Option<Uuid>,
}

/// What the message plane's login needs of a client (any domain): read for many
/// clients at once when a fleet reconnects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientLogin {
    pub id: Uuid,
    pub domain_id: Uuid,
    pub secret: String,
    pub status: Status,
    pub created_by: Uuid,
    /// The client's domain is enabled (neither disabled nor frozen).
    pub domain_enabled: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Channel {
    pub id: Uuid,
    pub domain_id: Uuid,
    pub name: String,
    pub route: Option<String>,
    pub tags: Vec<String>,
    pub metadata: Metadata,
    pub status: Status,
    pub parent_group_id: Option<Uuid>,
    pub created_by: Uuid,
    pub created_at: Timestamp,
    pub updated_at: Option<Timestamp>,
    pub updated_by: Option<Uuid>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Connection {
    pub channel_id: Uuid,
    pub client_id: Uuid,
    pub kind: ConnectionType,
}

/// A refresh-token session, listed by `GET /users/tokens/refresh-tokens`.
#[derive(Debug, Clone, PartialEq)]
pub struct RefreshSession {
    pub id: Uuid,
    pub user_id: Uuid,
    pub description: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// What a gateway fetches at boot (Bootstrap). Its id is the client id.
#[derive(Debug, Clone, PartialEq)]
pub struct BootstrapConfig {
    pub client_id: Uuid,
    pub domain_id: Uuid,
    pub name: String,
    /// The device identifier (e.g. a MAC address); unique.
    pub external_id: String,
    /// `salt$sha256(salt ‖ key)`, hex; the external key itself is never stored.
    pub external_key_digest: String,
    pub content: String,
    pub client_cert: String,
    pub client_key: String,
    pub ca_cert: String,
    /// 0 inactive, 1 active (whitelisted: connected to every config channel).
    pub state: i16,
    pub channels: Vec<Uuid>,
    pub created_at: Timestamp,
}
