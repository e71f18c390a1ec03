//! Storage contract for client certificates issued by the certs service.
//!
//! A row is kept after revocation (and after its client is deleted) so the serial stays
//! on the CRL until the certificate expires. The private key is stored only sealed
//! (AES-256-GCM, see `switchyard_certs::seal`); the store never sees it in clear.

use async_trait::async_trait;
use switchyard_domain::{Page, Timestamp};
use uuid::Uuid;

use crate::Result;

/// One issued certificate.
#[derive(Clone, PartialEq, Eq)]
pub struct CertRecord {
    /// Lowercase hex serial without separators (the primary key).
    pub serial: String,
    pub domain_id: Uuid,
    /// The client (Magistrala "entity") the certificate was issued for.
    pub client_id: Uuid,
    /// The certificate, PEM.
    pub certificate: String,
    /// The private key PEM sealed with the service's secret.
    pub sealed_key: String,
    /// End of validity, as written in the certificate.
    pub expires_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
    pub created_by: Uuid,
    pub created_at: Timestamp,
}

impl std::fmt::Debug for CertRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertRecord")
            .field("serial", &self.serial)
            .field("domain_id", &self.domain_id)
            .field("client_id", &self.client_id)
            .field("expires_at", &self.expires_at)
            .field("revoked_at", &self.revoked_at)
            .finish_non_exhaustive()
    }
}

/// Certificate listing of one domain, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CertQuery {
    pub offset: u64,
    pub limit: u64,
    /// Only certificates of this client.
    pub client_id: Option<Uuid>,
    /// Visibility restriction set by core: only certificates of clients this user created.
    pub owner: Option<Uuid>,
}

#[async_trait]
pub trait CertRepo: Send + Sync {
    async fn create_cert(&self, c: &CertRecord) -> Result<()>;
    /// A certificate of the domain by serial.
    async fn cert(&self, domain: Uuid, serial: &str) -> Result<CertRecord>;
    /// Any domain; for the message plane's mTLS, which knows only the serial.
    async fn cert_by_serial(&self, serial: &str) -> Result<CertRecord>;
    async fn list_certs(&self, domain: Uuid, q: &CertQuery) -> Result<Page<CertRecord>>;
    /// Marks the certificate revoked at `at`; an already revoked one keeps its first
    /// revocation time. `NotFound` when the domain has no such serial.
    async fn revoke_cert(&self, domain: Uuid, serial: &str, at: Timestamp) -> Result<()>;
    /// Revokes every unrevoked certificate of a client; returns how many.
    async fn revoke_client_certs(&self, domain: Uuid, client: Uuid, at: Timestamp) -> Result<u64>;
    /// Inserts `new` and revokes `old` (which must be unrevoked, else `NotFound`) in one
    /// transaction.
    async fn renew_cert(&self, old: &str, new: &CertRecord, at: Timestamp) -> Result<()>;
    /// Serial and revocation time of every revoked certificate (all domains) that has not
    /// expired at `at`: the content of the CRL.
    async fn revoked_certs(&self, at: Timestamp) -> Result<Vec<(String, Timestamp)>>;
}
