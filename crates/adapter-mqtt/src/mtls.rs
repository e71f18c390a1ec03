//! Client-certificate authentication (mTLS): a session whose TLS peer presented a
//! certificate authenticates CONNECT with it instead of a password.
//!
//! Enforces, for the leaf certificate the handshake accepted:
//! - it parses, its issuer is core's CA and its signature verifies under the CA's key,
//!   and it is within its validity at core's clock: checked here again, so an acceptor
//!   with a lax client verifier cannot let a forged certificate carrying a known serial
//!   through (the handshake's verifier normally already refused it);
//! - its serial was issued by core's Certs service and is not revoked
//!   (`Core::cert_client`), read at every CONNECT, so revocations after the listener's
//!   CRL was loaded take effect on the next connection;
//! - its common name is the client id the serial was issued to;
//! - the CONNECT username, when not empty, is that client id (the password is ignored);
//! - the client exists and is enabled.
//!
//! Every refusal is "not authorized" (v3 `0x05`, v5 `0x87`); a store failure is "server
//! unavailable" (v3 `0x03`, v5 `0x88`). A session authenticated by certificate is not
//! closed when the certificate is revoked while it is open (only its client's
//! disabling, deletion or re-keying closes it, as for password sessions); after missed
//! revocation notices the session re-runs these checks.

use switchyard_core::{Core, Error as CoreError, messaging::ClientIdentity};
use uuid::Uuid;
use x509_parser::{
    pem::parse_x509_pem,
    prelude::{ASN1Time, FromDer, X509Certificate, X509Name},
};

/// What a verified client certificate says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PeerCert {
    /// Lowercase hex of the serial, without separators or leading zero bytes.
    pub serial: String,
    /// The subject's first common name; empty when it has none.
    pub common_name: String,
}

/// Why a certificate did not authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Not ours, revoked, not this client's, or the client is gone or disabled.
    NotAuthorized,
    /// Core or the store failed: try again later.
    Unavailable,
}

fn hex(raw: &[u8]) -> String {
    let start = raw.iter().position(|b| *b != 0).unwrap_or(raw.len());
    let trimmed = raw.get(start..).unwrap_or_default();
    if trimmed.is_empty() {
        return "00".to_owned();
    }
    trimmed.iter().map(|b| format!("{b:02x}")).collect()
}

fn first_cn(name: &X509Name<'_>) -> String {
    name.iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Parses the leaf (DER) and checks it against the CA (PEM): issuer name, signature and
/// validity at `now`. `None` when any of that fails.
pub(crate) fn verify_leaf(der: &[u8], ca_pem: &str, now: ASN1Time) -> Option<PeerCert> {
    let (rest, leaf) = X509Certificate::from_der(der).ok()?;
    if !rest.is_empty() {
        return None;
    }
    let (_, pem) = parse_x509_pem(ca_pem.as_bytes()).ok()?;
    let ca = pem.parse_x509().ok()?;
    if leaf.issuer().as_raw() != ca.subject().as_raw()
        || leaf.verify_signature(Some(ca.public_key())).is_err()
        || !leaf.validity().is_valid_at(now)
    {
        return None;
    }
    Some(PeerCert {
        serial: hex(leaf.raw_serial()),
        common_name: first_cn(leaf.subject()),
    })
}

/// The whole check for a presented certificate (DER); `username` is the CONNECT's.
pub(crate) async fn authenticate(
    core: &Core,
    der: &[u8],
    username: Option<&str>,
) -> Result<(ClientIdentity, String), Refusal> {
    let ca = match core.ca_cert() {
        Ok(ca) => ca,
        // No CA configured: no certificate can be ours.
        Err(CoreError::NotFound) => return Err(Refusal::NotAuthorized),
        Err(e) => {
            tracing::warn!(error = %e, "mqtt: CA unavailable for a client certificate");
            return Err(Refusal::Unavailable);
        }
    };
    let Some(peer) = verify_leaf(der, &ca.certificate, ASN1Time::from(core.now())) else {
        tracing::debug!("mqtt: client certificate not issued by the platform CA");
        return Err(Refusal::NotAuthorized);
    };
    let who = check(core, &peer.serial, &peer.common_name, username).await?;
    Ok((who, peer.serial))
}

/// Serial known and not revoked, issued to the client its common name names, that
/// client enabled, and `username` empty or that client. Also used to re-check an open
/// session.
pub(crate) async fn check(
    core: &Core,
    serial: &str,
    common_name: &str,
    username: Option<&str>,
) -> Result<ClientIdentity, Refusal> {
    let id = match core.cert_client(serial).await {
        Ok(Some((id, false))) => id,
        Ok(Some((_, true))) => {
            tracing::debug!(serial, "mqtt: revoked client certificate refused");
            return Err(Refusal::NotAuthorized);
        }
        Ok(None) => {
            tracing::debug!(serial, "mqtt: unknown client certificate refused");
            return Err(Refusal::NotAuthorized);
        }
        Err(e) => {
            tracing::warn!(error = %e, "mqtt: certificate lookup failed");
            return Err(Refusal::Unavailable);
        }
    };
    if Uuid::parse_str(common_name.trim()).ok() != Some(id) {
        tracing::debug!(serial, %id, "mqtt: certificate common name is not its client id");
        return Err(Refusal::NotAuthorized);
    }
    if let Some(user) = username.filter(|u| !u.is_empty())
        && Uuid::parse_str(user).ok() != Some(id)
    {
        return Err(Refusal::NotAuthorized);
    }
    match core.enabled_client(id).await {
        Ok(Some(who)) => Ok(who),
        Ok(None) => Err(Refusal::NotAuthorized),
        Err(e) => {
            tracing::warn!(error = %e, "mqtt: client lookup failed");
            Err(Refusal::Unavailable)
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn serial_hex_drops_sign_padding() {
        assert_eq!(hex(&[0x00, 0x8f, 0x01]), "8f01");
        assert_eq!(hex(&[0x0a]), "0a");
        assert_eq!(hex(&[0]), "00");
        assert_eq!(hex(&[]), "00");
    }

    #[test]
    fn garbage_is_not_a_certificate() {
        let now = ASN1Time::now();
        assert!(verify_leaf(b"", "", now).is_none());
        assert!(verify_leaf(&[0x30, 0x03, 1, 2, 3], "not pem", now).is_none());
    }
}
