//! Certs: x509 certificates issued for clients, the CRL and the CA.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Subject and SAN options; DN fields take at most one value each. Empty fields are
/// left out when a client sends one.
#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(default)]
pub struct SubjectOptions {
    /// Default: the client id.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub common_name: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub organization: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub organizational_unit: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub country: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub province: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub locality: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub street_address: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub postal_code: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dns_names: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ip_addresses: Vec<String>,
}

#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(default)]
pub struct IssueCertReq {
    /// Go duration, default "2400h".
    #[serde(skip_serializing_if = "String::is_empty")]
    pub ttl: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ip_addresses: Vec<String>,
    pub options: SubjectOptions,
}

#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(default)]
pub struct IssueCertLegacyReq {
    #[schema(required, format = Uuid)]
    pub client_id: String,
    pub ttl: String,
}

/// A certificate. `entity_id` (HEAD) and `client_id` (document era) are the same id.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CertRes {
    pub serial_number: String,
    pub certificate: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub revoked: bool,
    pub expiry_time: String,
    pub entity_id: String,
    pub client_id: String,
}

/// `POST /{d}/certs/csrs/{clientID}?ttl=`: the CSR (DER or PEM bytes) in base64, as Go
/// encodes `[]byte` in JSON.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct CsrReq {
    #[serde(default)]
    #[schema(required, min_length = 1, format = Byte)]
    pub csr: String,
}

/// `POST /certs/ocsp` as JSON: one certificate, by serial (hex, `:` separators allowed)
/// or as PEM. The answer is the DER OCSP response either way. Forcing a status
/// (upstream's testing aid) is refused: the answer is signed by the CA.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct OcspReq {
    #[serde(default)]
    pub serial_number: String,
    #[serde(default)]
    pub certificate: String,
    #[serde(default)]
    pub status: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CertsPage {
    pub total: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub offset: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub limit: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub certificates: Vec<CertRes>,
}

/// Document-era page: every field always present.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SerialsPage {
    pub certs: Vec<CertRes>,
    pub total: u64,
    pub offset: u64,
    pub limit: u64,
}

/// Renewal answer as HEAD's certs service encodes it: the certificate and key are Go
/// `[]byte`, so they travel as base64 of the PEM text.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RenewCertRes {
    pub certificate: CertRes,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RevokeCertsRes {
    pub revocation_time: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CrlRes {
    /// DER, base64.
    pub crl: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CaRes {
    pub serial_number: String,
    pub common_name: String,
    pub certificate: String,
    pub revoked: bool,
    pub not_before: String,
    pub expiry_time: String,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}
