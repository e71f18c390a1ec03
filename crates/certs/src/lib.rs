//! Certificate authority for client (device) certificates.
//!
//! Enforces: issued leaves are end-entity certificates (`CA:FALSE`) limited to
//! `digitalSignature` + `clientAuth`, carry a random 128-bit positive serial, and are never
//! valid beyond the CA itself; validity is computed from an injected clock only. The CA key is
//! written with mode 0600, issued private keys are sealed with AES-256-GCM before they are
//! stored, and CRLs are signed by the CA so rustls' client verifier can enforce revocation.
//!
//! The crate is pure: no database, no HTTP, no async. Revocation state lives in the service,
//! which passes the revoked serials to [`Ca::crl`]. Renewal is [`Ca::issue`] again with the
//! same common name.

mod ca;
mod inspect;
mod ocsp;
mod seal;
mod serial;

pub use ca::{CA_CERT_FILE, CA_KEY_FILE, Ca, IssueRequest, Issued, SignedCsr};
pub use inspect::{CertInfo, parse_cert, verify_chain};
pub use ocsp::{MAX_OCSP_ITEMS, OcspQuery, OcspStatus, ocsp_malformed};
pub use seal::{open, seal};

/// Errors of the certs crate. None carries key material.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The caller's input is unusable (empty common name, non-positive ttl, bad serial, …).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A certificate, key, CSR or CRL could not be decoded or does not fit its role.
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// What was being decoded (for example "CA certificate").
        what: &'static str,
        /// Why it was rejected.
        reason: String,
    },
    /// Only one of the CA certificate and key exists in the CA directory.
    #[error("incomplete CA in {0}: need both ca.crt and ca.key, or neither")]
    IncompleteCa(std::path::PathBuf),
    /// Reading or writing a CA file failed.
    #[error("i/o on {path}: {source}")]
    Io {
        /// The file or directory involved.
        path: std::path::PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Key generation, signing or encryption failed inside the crypto library.
    #[error("crypto failure: {0}")]
    Crypto(String),
    /// A sealed key could not be opened: wrong secret, truncated or tampered.
    #[error("sealed key cannot be opened")]
    Unseal,
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
