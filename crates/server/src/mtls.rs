//! The MQTTS listener's TLS set-up with optional client certificates (mTLS).
//!
//! Enforces: a client that presents a certificate must chain to the platform CA (the
//! Certs service's) and not be on the CRL read when the acceptor is built, or the
//! handshake fails; a client without a certificate still completes the handshake and
//! authenticates with username/password. The CRL is a snapshot taken at start: the MQTT
//! adapter also asks core at every CONNECT whether the certificate's serial is revoked
//! (`Core::cert_client`), so revocations made after start refuse new connections too
//! (at CONNACK, v3 `0x05` / v5 `0x87`, instead of in the handshake).

use std::sync::Arc;

use rustls::{
    RootCertStore, ServerConfig,
    pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer, pem::PemObject},
    server::WebPkiClientVerifier,
};
use switchyard_core::Core;

/// A TLS acceptor for MQTTS: the server certificate and key from `cert_path` /
/// `key_path` (PEM), client certificates verified against core's CA and its current CRL
/// (rustls with aws-lc-rs only), and clients without a certificate allowed.
pub async fn mtls_acceptor(
    core: &Core,
    cert_path: &str,
    key_path: &str,
) -> Result<switchyard_adapter_mqtt::TlsAcceptor, String> {
    if cert_path.is_empty() || key_path.is_empty() {
        return Err(
            "SWITCHYARD_MQTTS_ADDR needs SWITCHYARD_TLS_CERT and SWITCHYARD_TLS_KEY".into(),
        );
    }
    let certs = CertificateDer::pem_file_iter(cert_path)
        .map_err(|e| format!("{cert_path}: {e}"))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{cert_path}: {e}"))?;
    let key = PrivateKeyDer::from_pem_file(key_path).map_err(|e| format!("{key_path}: {e}"))?;

    let ca = core
        .ca_cert()
        .map_err(|e| format!("MQTTS client certificates: no certs CA: {e}"))?;
    let ca_der = CertificateDer::from_pem_slice(ca.certificate.as_bytes())
        .map_err(|e| format!("certs CA certificate: {e}"))?;
    let mut roots = RootCertStore::empty();
    roots
        .add(ca_der)
        .map_err(|e| format!("certs CA certificate: {e}"))?;
    let crl = core
        .crl_der()
        .await
        .map_err(|e| format!("certs CRL: {e}"))?;

    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .with_crls([CertificateRevocationListDer::from(crl)])
        .allow_unauthenticated()
        .build()
        .map_err(|e| format!("MQTTS client verifier: {e}"))?;
    let cfg = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .map_err(|e| format!("TLS certificate/key: {e}"))?;
    Ok(switchyard_adapter_mqtt::TlsAcceptor::from(Arc::new(cfg)))
}
