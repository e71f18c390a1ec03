//! Reading certificates back: what a PEM certificate says, and whether it chains to our CA.
//!
//! Enforces: [`verify_chain`] accepts a leaf only if its issuer name is the CA's subject, its
//! signature verifies under the CA's public key, and both certificates are valid at the given
//! instant (an injected time, never the system clock).

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use time::OffsetDateTime;
use x509_parser::prelude::{ASN1Time, FromDer, X509Certificate, X509Name};

use crate::{Ca, Error, Result, serial};

/// What the service needs to know about a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// Lowercase hex of the serial, without separators or sign padding.
    pub serial_hex: String,
    /// Subject common name; empty when the subject has none.
    pub common_name: String,
    /// Start of validity.
    pub not_before: OffsetDateTime,
    /// End of validity.
    pub not_after: OffsetDateTime,
    /// Issuer common name; empty when the issuer has none.
    pub issuer_cn: String,
}

/// Decodes the first `CERTIFICATE` block of `pem` to DER.
pub(crate) fn cert_der_from_pem(pem: &str, what: &'static str) -> Result<CertificateDer<'static>> {
    CertificateDer::from_pem_slice(pem.as_bytes()).map_err(|e| Error::Malformed {
        what,
        reason: e.to_string(),
    })
}

/// Parses DER into an x509-parser certificate, rejecting trailing bytes.
pub(crate) fn parse_der<'a>(der: &'a [u8], what: &'static str) -> Result<X509Certificate<'a>> {
    match X509Certificate::from_der(der) {
        Ok(([], cert)) => Ok(cert),
        Ok(_) => Err(Error::Malformed {
            what,
            reason: "trailing data after certificate".into(),
        }),
        Err(e) => Err(Error::Malformed {
            what,
            reason: e.to_string(),
        }),
    }
}

/// First common name of a distinguished name, or empty.
pub(crate) fn first_cn(name: &X509Name<'_>) -> String {
    name.iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Reads serial, names and validity from a PEM certificate.
pub fn parse_cert(pem: &str) -> Result<CertInfo> {
    let der = cert_der_from_pem(pem, "certificate")?;
    let cert = parse_der(&der, "certificate")?;
    Ok(CertInfo {
        serial_hex: serial::to_hex(cert.raw_serial()),
        common_name: first_cn(cert.subject()),
        not_before: cert.validity().not_before.to_datetime(),
        not_after: cert.validity().not_after.to_datetime(),
        issuer_cn: first_cn(cert.issuer()),
    })
}

/// True when `leaf_pem` was issued by `ca` (issuer name and signature) and both the leaf and
/// the CA are within their validity at `at`. Revocation is not checked here: it lives in the
/// service (and in the CRL given to the TLS verifier).
pub fn verify_chain(leaf_pem: &str, ca: &Ca, at: OffsetDateTime) -> bool {
    let Ok(leaf_der) = cert_der_from_pem(leaf_pem, "certificate") else {
        return false;
    };
    let (Ok(leaf), Ok(ca_cert)) = (
        parse_der(&leaf_der, "certificate"),
        parse_der(ca.ca_der(), "CA certificate"),
    ) else {
        return false;
    };
    let at = ASN1Time::from(at);
    leaf.issuer().as_raw() == ca_cert.subject().as_raw()
        && leaf.verify_signature(Some(ca_cert.public_key())).is_ok()
        && leaf.validity().is_valid_at(at)
        && ca_cert.validity().is_valid_at(at)
}
