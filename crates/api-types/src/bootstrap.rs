//! Bootstrap: configs as operators manage them and the answer a gateway fetches at boot.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
pub struct ConfigReq {
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    #[schema(required, min_length = 1, max_length = 1024)]
    pub external_id: String,
    #[serde(default)]
    #[schema(required, min_length = 1, max_length = 1024)]
    pub external_key: String,
    #[serde(default)]
    #[schema(required, min_items = 1, value_type = Vec<uuid::Uuid>)]
    pub channels: Vec<String>,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub content: String,
    #[serde(default)]
    pub client_cert: String,
    #[serde(default)]
    pub client_key: String,
    #[serde(default)]
    pub ca_cert: String,
}

#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
pub struct ConfigUpdateReq {
    pub name: Option<String>,
    pub content: Option<String>,
}

#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
pub struct ConfigCertsReq {
    #[serde(default, skip_deserializing)]
    pub client_id: String,
    #[serde(default)]
    pub client_cert: String,
    #[serde(default)]
    pub client_key: String,
    #[serde(default)]
    pub ca_cert: String,
}

#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
pub struct ConfigChannelsReq {
    #[serde(default)]
    #[schema(required, min_items = 1, value_type = Vec<uuid::Uuid>)]
    pub channels: Vec<String>,
}

#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
pub struct StateReq {
    /// 0 or 1; a JSON number, so `1.0` is 1 too.
    #[schema(required, minimum = 0, maximum = 1, value_type = i64)]
    pub state: Option<f64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConfigRes {
    pub client_id: String,
    pub client_secret: String,
    #[schema(value_type = Vec<Object>)]
    pub channels: Vec<serde_json::Value>,
    pub external_id: String,
    /// Never returned: only a salted digest is stored.
    pub external_key: String,
    pub content: String,
    pub name: String,
    pub state: i16,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub client_cert: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ca_cert: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConfigsPage {
    pub total: u64,
    pub offset: u64,
    pub limit: u64,
    #[schema(value_type = Vec<Object>)]
    pub configs: Vec<ConfigRes>,
}

/// A channel of the config, as the gateway receives it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BootstrapChannel {
    pub id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub metadata: serde_json::Map<String, serde_json::Value>,
}

/// What a gateway fetches at boot (`GET /clients/bootstrap/{externalID}`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BootstrapRes {
    pub client_id: String,
    pub client_secret: String,
    pub channels: Vec<BootstrapChannel>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub content: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub client_cert: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub client_key: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ca_cert: String,
}
