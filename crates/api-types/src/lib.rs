//! Wire types of the Magistrala-compatible HTTP API (requests, responses and the
//! error body): every one the server reads or writes, shared by the server, the CLI
//! and the tests. Field names, omission rules and time formats are those Magistrala's
//! official SDK sends and reads (README, "Compatibility").

use serde::{Deserialize, Serialize};

pub mod access;
pub use access::*;
pub mod bootstrap;
pub mod certs;
pub mod pats;
pub mod provision;

pub use bootstrap::*;
pub use certs::*;
pub use pats::*;
pub use provision::*;

use serde_json::{Map, Value};
/// The longest entity name the server accepts, in bytes (clients check it before
/// sending a batch).
pub use switchyard_domain::validate::MAX_NAME_BYTES;
use utoipa::ToSchema;

pub type Metadata = Map<String, Value>;

fn is_zero(n: &u64) -> bool {
    *n == 0
}
fn is_false(b: &bool) -> bool {
    !*b
}

/// The error body: `{"message": "..."}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct ErrorRes {
    pub message: String,
}

// ---------- users ----------

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct UserCredentials {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schema(
        min_length = 1,
        max_length = 32,
        pattern = "^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$"
    )]
    pub username: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schema(min_length = 8)]
    pub secret: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct UserReq {
    #[serde(default)]
    #[schema(required, min_length = 1, max_length = 1024)]
    pub first_name: String,
    #[serde(default)]
    #[schema(required, min_length = 1, max_length = 1024)]
    pub last_name: String,
    #[serde(default)]
    #[schema(required, format = Email)]
    pub email: String,
    #[serde(default)]
    #[schema(required)]
    pub credentials: UserCredentials,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub metadata: Metadata,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub private_metadata: Metadata,
    #[serde(default)]
    pub profile_picture: String,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub role: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UserRes {
    pub id: String,
    pub first_name: String,
    pub last_name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    #[schema(value_type = Object)]
    pub metadata: Metadata,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    #[schema(value_type = Object)]
    pub private_metadata: Metadata,
    /// Empty (left out) in `/users/search` answers, as the other private fields.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub status: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub role: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub profile_picture: String,
    pub credentials: UserCredentials,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub email: String,
    pub created_at: String,
    pub updated_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_by: Option<String>,
    pub verified_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UsersPage {
    #[serde(default, skip_serializing_if = "is_zero")]
    pub limit: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub offset: u64,
    pub total: u64,
    pub users: Vec<UserRes>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct TokenReq {
    #[serde(default, alias = "identity", alias = "email")]
    #[schema(required, min_length = 1)]
    pub username: String,
    #[serde(default, alias = "secret")]
    #[schema(required, min_length = 1)]
    pub password: String,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TokenRes {
    pub access_token: String,
    pub refresh_token: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub access_type: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct RevokeReq {
    #[serde(default)]
    #[schema(required, format = Uuid)]
    pub token_id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RefreshTokenInfo {
    pub id: String,
    #[serde(default)]
    pub description: String,
}

/// `POST /password/reset-request`. `host` (upstream's link base) is accepted and
/// ignored: the link is the server's configured reset page, so a request cannot point
/// the e-mail elsewhere.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct PasswordResetRequestReq {
    #[serde(default)]
    #[schema(required, format = Email)]
    pub email: String,
    #[serde(default)]
    pub host: Option<String>,
}

/// `PUT /password/reset` (with the reset token as the Bearer).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct PasswordResetReq {
    #[serde(default)]
    #[schema(required, min_length = 8)]
    pub password: String,
    #[serde(default)]
    #[schema(required, min_length = 8)]
    pub confirm_password: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RefreshTokensRes {
    pub refresh_tokens: Vec<RefreshTokenInfo>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct UserUpdateReq {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Metadata>,
    #[schema(value_type = Option<Object>)]
    pub private_metadata: Option<Metadata>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct UsernameReq {
    #[serde(default)]
    #[schema(
        required,
        min_length = 1,
        max_length = 32,
        pattern = "^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$"
    )]
    pub username: String,
}
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct EmailReq {
    #[serde(default)]
    #[schema(required, format = Email)]
    pub email: String,
}
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct TagsReq {
    #[serde(default)]
    pub tags: Vec<String>,
}
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct PictureReq {
    #[serde(default)]
    pub profile_picture: String,
}
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct RoleReq {
    #[serde(default)]
    #[schema(required, value_type = UserRoleName)]
    pub role: String,
}
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct SecretReq {
    #[serde(default)]
    #[schema(required, min_length = 1)]
    pub old_secret: String,
    #[serde(default)]
    #[schema(required, min_length = 8)]
    pub new_secret: String,
}

// ---------- domains ----------

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct DomainReq {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    #[schema(required, min_length = 1, max_length = 1024)]
    pub name: String,
    #[serde(default)]
    #[schema(
        required,
        pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$|^[A-Za-z][A-Za-z0-9_-]{0,35}$"
    )]
    pub route: String,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub metadata: Metadata,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct DomainUpdateReq {
    pub name: Option<String>,
    pub tags: Option<Vec<String>>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Metadata>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DomainRes {
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    #[schema(value_type = Object)]
    pub metadata: Metadata,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    pub route: String,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_name: Option<String>,
    pub created_by: String,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_by: Option<String>,
    pub updated_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DomainsPage {
    pub total: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub offset: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub limit: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub domains: Vec<DomainRes>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct InvitationReq {
    #[serde(default)]
    #[schema(required, format = Uuid)]
    pub invitee_user_id: String,
    #[serde(default)]
    #[schema(required, min_length = 1)]
    pub role_id: String,
    #[serde(default)]
    pub resend: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct InvitationDomainReq {
    #[serde(default)]
    #[schema(required, format = Uuid)]
    pub domain_id: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct InvitationDeleteReq {
    #[serde(default)]
    #[schema(required, format = Uuid)]
    pub user_id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct InvitationRes {
    pub invited_by: String,
    pub invitee_user_id: String,
    pub domain_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub domain_name: String,
    pub role_id: String,
    pub role_name: String,
    pub created_at: String,
    pub updated_at: String,
    pub confirmed_at: String,
    pub rejected_at: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub resend: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct InvitationsPage {
    pub total: u64,
    pub offset: u64,
    pub limit: u64,
    pub invitations: Vec<InvitationRes>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MessageRes {
    pub message: String,
}

// ---------- clients ----------

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct ClientCredentials {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub identity: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub secret: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct ClientReq {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub metadata: Metadata,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub private_metadata: Metadata,
    #[serde(default)]
    pub credentials: ClientCredentials,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub parent_group_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ClientRes {
    pub id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    pub domain_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_group_id: Option<String>,
    pub credentials: ClientCredentials,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    #[schema(value_type = Object)]
    pub metadata: Metadata,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    #[schema(value_type = Object)]
    pub private_metadata: Metadata,
    pub created_at: String,
    pub updated_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_by: Option<String>,
    pub status: String,
    /// With `?roles=true`: the roles through which the caller reaches the client.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<MemberRoleRes>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ClientsPage {
    #[serde(default, skip_serializing_if = "is_zero")]
    pub limit: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub offset: u64,
    pub total: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clients: Vec<ClientRes>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct ClientUpdateReq {
    pub name: Option<String>,
    pub tags: Option<Vec<String>>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Metadata>,
    #[schema(value_type = Option<Object>)]
    pub private_metadata: Option<Metadata>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct ClientSecretReq {
    #[serde(default)]
    #[schema(required, min_length = 1, max_length = 1024)]
    pub secret: String,
}

// ---------- channels ----------

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct ChannelReq {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub route: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub metadata: Metadata,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub parent_group_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ChannelRes {
    pub id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    pub domain_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_group_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    #[schema(value_type = Object)]
    pub metadata: Metadata,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_by: Option<String>,
    pub status: String,
    /// With `?roles=true`: the roles through which the caller reaches the channel.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<MemberRoleRes>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ChannelsPage {
    #[serde(default, skip_serializing_if = "is_zero")]
    pub limit: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub offset: u64,
    pub total: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub channels: Vec<ChannelRes>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct ChannelUpdateReq {
    pub name: Option<String>,
    pub tags: Option<Vec<String>>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Metadata>,
}

/// Body of `/{d}/channels/{id}/connect|disconnect` (channel from the path) and of
/// `/{d}/channels/connect|disconnect` (`channel_ids` × `client_ids` × `types`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct ConnectionReq {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(required, min_items = 1, value_type = Vec<uuid::Uuid>)]
    pub channel_ids: Vec<String>,
    #[serde(default)]
    #[schema(required, min_items = 1, value_type = Vec<uuid::Uuid>)]
    pub client_ids: Vec<String>,
    #[serde(default)]
    #[schema(required, min_items = 1, value_type = Vec<ConnectionTypeName>)]
    pub types: Vec<String>,
}

/// A user's platform role (documentation of `role`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum UserRoleName {
    User,
    Admin,
}

/// A connection type as the API spells it (documentation of `types`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ConnectionTypeName {
    Publish,
    Subscribe,
}

/// Body of `/{d}/channels/{channelID}/connect|disconnect`: the channel is the path's (the
/// handler reads it as [`ConnectionReq`]; this is its documented shape).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct ChannelConnectionReq {
    #[serde(default)]
    #[schema(required, min_items = 1, value_type = Vec<uuid::Uuid>)]
    pub client_ids: Vec<String>,
    #[serde(default)]
    #[schema(required, min_items = 1, value_type = Vec<ConnectionTypeName>)]
    pub types: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HealthRes {
    pub status: String,
    pub version: String,
    pub commit: String,
    pub description: String,
    pub build_time: String,
    pub instance_id: String,
    /// `sqlite` or `postgres`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub store: String,
    /// `local` (in-process) or `nats`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub bus: String,
    /// Seconds since this process started serving.
    #[serde(default)]
    pub uptime_seconds: u64,
}
