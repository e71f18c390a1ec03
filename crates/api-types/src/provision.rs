//! Provision: one-call gateway setup (`POST /mapping`) and its certificate form.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
pub struct MappingReq {
    #[serde(default)]
    #[schema(max_length = 1024, pattern = "^[^\\u0000]*$")]
    pub name: String,
    #[serde(default)]
    #[schema(required, min_length = 1, max_length = 1024, pattern = "^[^\\u0000]*$")]
    pub external_id: String,
    #[serde(default)]
    #[schema(required, min_length = 1, max_length = 1024, pattern = "^[^\\u0000]*$")]
    pub external_key: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MappingRes {
    #[schema(value_type = Vec<Object>)]
    pub clients: Vec<crate::ClientRes>,
    #[schema(value_type = Vec<Object>)]
    pub channels: Vec<crate::ChannelRes>,
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub whitelisted: std::collections::BTreeMap<String, bool>,
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub client_cert: std::collections::BTreeMap<String, String>,
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub client_key: std::collections::BTreeMap<String, String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub ca_cert: String,
}

#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
pub struct ProvisionCertReq {
    #[serde(default)]
    #[schema(required, format = Uuid)]
    pub client_id: String,
    #[serde(default)]
    pub ttl: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProvisionCertRes {
    pub certificate: String,
    pub key: String,
}
