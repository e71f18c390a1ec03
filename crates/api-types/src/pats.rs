//! Personal access tokens (`/pats`, auth.yaml).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct PatCreateReq {
    /// Not blank; no NUL.
    #[serde(default)]
    #[schema(
        required,
        min_length = 1,
        max_length = 1024,
        pattern = "^[^\\u0000]*[^\\s\\u0000][^\\u0000]*$"
    )]
    pub name: String,
    #[serde(default)]
    #[schema(max_length = 1024, pattern = "^[^\\u0000]*$")]
    pub description: Option<String>,
    /// A duration such as `30d`, `24h` or `1y`.
    #[serde(default)]
    #[schema(required, pattern = "^([1-9][0-9]{0,8}(ns|us|µs|ms|s|m|h|d|w|y))+$")]
    pub duration: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct PatNameReq {
    /// Not blank; no NUL.
    #[serde(default)]
    #[schema(
        required,
        min_length = 1,
        max_length = 1024,
        pattern = "^[^\\u0000]*[^\\s\\u0000][^\\u0000]*$"
    )]
    pub name: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct PatDescriptionReq {
    #[serde(default)]
    #[schema(max_length = 1024, pattern = "^[^\\u0000]*$")]
    pub description: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct PatResetReq {
    #[serde(default)]
    #[schema(required, pattern = "^([1-9][0-9]{0,8}(ns|us|µs|ms|s|m|h|d|w|y))+$")]
    pub duration: String,
}

/// A PAT. `secret` is present only in the answers to a create and a secret reset.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PatRes {
    pub id: String,
    pub user_id: String,
    pub name: String,
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    pub issued_at: String,
    pub expires_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<String>,
    pub revoked: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
    /// `active`, `revoked` or `expired`.
    pub status: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PatsPage {
    pub total: u64,
    pub offset: u64,
    pub limit: u64,
    pub pats: Vec<PatRes>,
}

/// One scope: an entity type, an operation, a domain (absent: any) and `*` or an id.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct ScopeReq {
    /// The domain (upstream's name); `domain_id` is accepted too.
    #[serde(default, alias = "domain_id")]
    pub optional_domain_id: Option<String>,
    #[serde(default)]
    pub entity_type: String,
    #[serde(default)]
    pub entity_id: String,
    #[serde(default)]
    pub operation: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct ScopesAddReq {
    #[serde(default)]
    #[schema(required, min_items = 1)]
    pub scopes: Vec<ScopeReq>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct ScopesRemoveReq {
    #[serde(default)]
    #[schema(required, min_items = 1)]
    pub scopes_id: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ScopeRes {
    pub id: String,
    pub pat_id: String,
    /// The domain, under upstream's name and the SDK's (`domain_id`); absent: any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optional_domain_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain_id: Option<String>,
    pub entity_type: String,
    pub entity_id: String,
    pub operation: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ScopesPage {
    pub total: u64,
    pub offset: u64,
    pub limit: u64,
    pub scopes: Vec<ScopeRes>,
}

/// `POST /keys`: `type` 3 (API key; the default) and `duration`, in nanoseconds as
/// upstream sends it, or a duration string such as `"90d"`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct KeyReq {
    #[serde(default, rename = "type")]
    #[schema(minimum = 3, maximum = 3)]
    pub kind: Option<i64>,
    #[serde(default)]
    #[schema(required, value_type = KeyDuration)]
    pub duration: serde_json::Value,
}

/// An API key's lifetime: nanoseconds (Go's `time.Duration`, as upstream sends it) or a
/// duration string such as `"90d"` (documentation of `KeyReq::duration`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum KeyDuration {
    Nanoseconds(Nanoseconds),
    Text(DurationText),
}

/// A positive number of nanoseconds.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(minimum = 1)]
pub struct Nanoseconds(pub i64);

/// A duration as integers with units: `90d`, `1h30m`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(pattern = "^([1-9][0-9]{0,8}(ns|us|µs|ms|s|m|h|d|w|y))+$")]
pub struct DurationText(pub String);

/// The answer to `POST /keys`; `value` is the key, shown once.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct KeyIssuedRes {
    pub id: String,
    pub value: String,
    pub issued_at: String,
    pub expires_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct KeyRes {
    pub id: String,
    pub issuer_id: String,
    pub subject: String,
    #[serde(rename = "type")]
    pub kind: i64,
    pub issued_at: String,
    pub expires_at: String,
}
