//! The certificate authority: load or create it, issue client certificates, sign CSRs and
//! produce CRLs.
//!
//! Enforces: the CA key file is created with mode 0600 (directory 0700) and never overwritten;
//! a loaded CA must be a CA certificate whose public key matches the key file; leaves get
//! `CA:FALSE`, key usage `digitalSignature`, extended key usage `clientAuth`, a random 128-bit
//! positive serial and a validity of `[now - 1 min, min(now + ttl, CA not_after)]` where `now`
//! is always passed in. A CSR only contributes its public key, subject and SANs; every other
//! requested extension (for example `CA:TRUE`) is replaced by the leaf profile above.

use std::fmt;
use std::fs;
use std::io::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use aws_lc_rs::rand::SystemRandom;
use rcgen::string::Ia5String;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams,
    CertificateSigningRequestParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, RevokedCertParams,
    SanType, SerialNumber,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, CertificateSigningRequestDer, PrivateKeyDer};
use time::{Duration, OffsetDateTime, UtcOffset};
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::extensions::ParsedExtension;
use x509_parser::prelude::FromDer;

use crate::inspect::{cert_der_from_pem, first_cn, parse_der};
use crate::{Error, Result, serial};

/// File name of the CA certificate inside the CA directory.
pub const CA_CERT_FILE: &str = "ca.crt";
/// File name of the CA private key inside the CA directory.
pub const CA_KEY_FILE: &str = "ca.key";

/// Common name of a CA created by [`Ca::load_or_create`].
const DEFAULT_CA_CN: &str = "Switchyard CA";
/// Organization of a created CA.
const CA_ORGANIZATION: &str = "Switchyard";
/// Lifetime of a created CA.
const CA_LIFETIME: Duration = Duration::days(3650);
/// Backdating of `not_before`, so a peer whose clock is slightly behind accepts a fresh cert.
const BACKDATE: Duration = Duration::minutes(1);

/// X.520 street address and postal code attribute types (rcgen has no named variant).
const OID_STREET_ADDRESS: [u64; 4] = [2, 5, 4, 9];
const OID_POSTAL_CODE: [u64; 4] = [2, 5, 4, 17];

/// What to put in a client certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueRequest {
    /// Subject common name; the client id. Required.
    pub common_name: String,
    /// Requested lifetime from `now`; must be positive. Capped at the CA's own expiry.
    pub ttl: Duration,
    /// Subject O.
    pub organization: Option<String>,
    /// Subject OU.
    pub organizational_unit: Option<String>,
    /// Subject C.
    pub country: Option<String>,
    /// Subject ST.
    pub province: Option<String>,
    /// Subject L.
    pub locality: Option<String>,
    /// Subject street.
    pub street_address: Option<String>,
    /// Subject postal code.
    pub postal_code: Option<String>,
    /// DNS subject alternative names.
    pub dns_names: Vec<String>,
    /// IP subject alternative names.
    pub ip_addresses: Vec<IpAddr>,
}

impl IssueRequest {
    /// A request with only a common name and a lifetime.
    pub fn new(common_name: impl Into<String>, ttl: Duration) -> Self {
        Self {
            common_name: common_name.into(),
            ttl,
            organization: None,
            organizational_unit: None,
            country: None,
            province: None,
            locality: None,
            street_address: None,
            postal_code: None,
            dns_names: Vec::new(),
            ip_addresses: Vec::new(),
        }
    }
}

/// A freshly issued client certificate and its private key.
#[derive(Clone, PartialEq, Eq)]
pub struct Issued {
    /// Lowercase hex serial, as [`crate::parse_cert`] reports it.
    pub serial_hex: String,
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The private key (PKCS#8, ECDSA P-256), PEM. Seal it before storing.
    pub key_pem: String,
    /// End of validity (UTC, whole seconds), exactly as written in the certificate.
    pub not_after: OffsetDateTime,
}

impl fmt::Debug for Issued {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Issued")
            .field("serial_hex", &self.serial_hex)
            .field("not_after", &self.not_after)
            .field("key_pem", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// A certificate issued for a CSR (the key stays with the requester).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCsr {
    /// Lowercase hex serial.
    pub serial_hex: String,
    /// Subject common name taken from the CSR.
    pub common_name: String,
    /// The certificate, PEM.
    pub cert_pem: String,
    /// End of validity (UTC, whole seconds).
    pub not_after: OffsetDateTime,
}

/// A loaded certificate authority: its certificate and signing key.
pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    cert_pem: String,
    cert_der: CertificateDer<'static>,
    /// How the CA's key identifier is derived, reused for the CRL's authority key identifier.
    key_id: KeyIdMethod,
    common_name: String,
    not_after: OffsetDateTime,
    rng: SystemRandom,
    ocsp: crate::ocsp::OcspIssuer,
}

impl fmt::Debug for Ca {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ca")
            .field("common_name", &self.common_name)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

fn crypto(context: &str) -> impl FnOnce(rcgen::Error) -> Error + '_ {
    move |e| Error::Crypto(format!("{context}: {e}"))
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Certificates carry whole seconds in UTC; compute with the same precision so reported times
/// match the certificate exactly. Years outside 1950..=9999 cannot be written as X.509 times
/// (the encoder would panic), so they are refused here.
fn whole_seconds_utc(t: OffsetDateTime) -> Result<OffsetDateTime> {
    t.checked_to_offset(UtcOffset::UTC)
        .and_then(|t| t.replace_nanosecond(0).ok())
        .filter(|t| (1950..=9999).contains(&t.year()))
        .ok_or_else(|| Error::InvalidInput("time out of range".into()))
}

fn backdated(now: OffsetDateTime) -> Result<OffsetDateTime> {
    now.checked_sub(BACKDATE)
        .ok_or_else(|| Error::InvalidInput("time out of range".into()))
}

fn non_empty(value: Option<&String>) -> Option<&str> {
    value.map(|v| v.trim()).filter(|v| !v.is_empty())
}

impl Ca {
    /// Creates a new self-signed ECDSA P-256 CA (in memory), valid from `now - 1 min` for ten
    /// years, limited to issuing end-entity certificates (path length 0).
    pub fn generate(common_name: &str, now: OffsetDateTime) -> Result<Self> {
        let common_name = common_name.trim();
        if common_name.is_empty() {
            return Err(Error::InvalidInput("CA common name is empty".into()));
        }
        let rng = SystemRandom::new();
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(crypto("CA key"))?;
        let now = whole_seconds_utc(now)?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, common_name);
        dn.push(DnType::OrganizationName, CA_ORGANIZATION);
        params.distinguished_name = dn;
        params.serial_number = Some(SerialNumber::from_slice(&serial::random_serial(&rng)?));
        params.not_before = backdated(now)?;
        params.not_after = now
            .checked_add(CA_LIFETIME)
            .ok_or_else(|| Error::InvalidInput("CA expiry out of range".into()))
            .and_then(whole_seconds_utc)?;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).map_err(crypto("CA certificate"))?;
        Self::from_parts(cert.der().clone(), key)
    }

    /// Loads a CA from a PEM certificate and its PEM private key (PKCS#8, SEC1 or PKCS#1).
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self> {
        let cert_der = cert_der_from_pem(cert_pem, "CA certificate")?;
        let key_der =
            PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|e| Error::Malformed {
                what: "CA key",
                reason: e.to_string(),
            })?;
        let key = KeyPair::try_from(&key_der).map_err(|e| Error::Malformed {
            what: "CA key",
            reason: e.to_string(),
        })?;
        Self::from_parts(cert_der, key)
    }

    /// Loads a CA from a certificate file and a key file, both PEM.
    pub fn load(cert_path: &Path, key_path: &Path) -> Result<Self> {
        let cert_pem = fs::read_to_string(cert_path).map_err(io_err(cert_path))?;
        let key_pem = fs::read_to_string(key_path).map_err(io_err(key_path))?;
        Self::from_pem(&cert_pem, &key_pem)
    }

    /// Loads `dir/ca.crt` + `dir/ca.key`, or, when neither exists, creates a CA there (see
    /// [`Ca::load_or_create_at`]). Uses the system clock only for the new CA's validity.
    pub fn load_or_create(dir: &Path) -> Result<Self> {
        Self::load_or_create_at(dir, OffsetDateTime::now_utc())
    }

    /// Like [`Ca::load_or_create`] with the creation time given. A new CA is written key first,
    /// each file through a temporary file and a rename; the key file gets mode 0600 and a
    /// created directory 0700. Exactly one of the two files existing is an error rather than a
    /// silent overwrite.
    pub fn load_or_create_at(dir: &Path, now: OffsetDateTime) -> Result<Self> {
        let cert_path = dir.join(CA_CERT_FILE);
        let key_path = dir.join(CA_KEY_FILE);
        match (cert_path.try_exists(), key_path.try_exists()) {
            (Ok(true), Ok(true)) => Self::load(&cert_path, &key_path),
            (Ok(false), Ok(false)) => {
                let ca = Self::generate(DEFAULT_CA_CN, now)?;
                create_dir_private(dir)?;
                write_file(&key_path, ca.issuer.key().serialize_pem().as_bytes(), 0o600)?;
                write_file(&cert_path, ca.cert_pem.as_bytes(), 0o644)?;
                Ok(ca)
            }
            (Err(e), _) => Err(io_err(&cert_path)(e)),
            (_, Err(e)) => Err(io_err(&key_path)(e)),
            _ => Err(Error::IncompleteCa(dir.to_path_buf())),
        }
    }

    fn from_parts(cert_der: CertificateDer<'static>, key: KeyPair) -> Result<Self> {
        let malformed = |reason: &str| Error::Malformed {
            what: "CA certificate",
            reason: reason.to_owned(),
        };
        let cert = parse_der(&cert_der, "CA certificate")?;
        let is_ca = cert
            .basic_constraints()
            .map_err(|e| malformed(&e.to_string()))?
            .is_some_and(|bc| bc.value.ca);
        if !is_ca {
            return Err(malformed(
                "not a CA certificate (basicConstraints CA:TRUE missing)",
            ));
        }
        if cert.public_key().subject_public_key.data.as_ref() != key.public_key_raw() {
            return Err(malformed("private key does not match the certificate"));
        }
        let key_id = cert
            .iter_extensions()
            .find_map(|ext| match ext.parsed_extension() {
                ParsedExtension::SubjectKeyIdentifier(id) => {
                    Some(KeyIdMethod::PreSpecified(id.0.to_vec()))
                }
                _ => None,
            })
            .unwrap_or(KeyIdMethod::Sha256);
        let common_name = first_cn(cert.subject());
        let not_after = cert.validity().not_after.to_datetime();
        let issuer = Issuer::from_ca_cert_der(&cert_der, key)
            .map_err(|e| malformed(&format!("unusable as issuer: {e}")))?;
        let cert_pem = pem_encode("CERTIFICATE", &cert_der);
        let ocsp = crate::ocsp::OcspIssuer::new(&cert_der)?;
        Ok(Self {
            issuer,
            cert_pem,
            cert_der,
            key_id,
            common_name,
            not_after,
            rng: SystemRandom::new(),
            ocsp,
        })
    }

    /// The CA certificate, PEM.
    pub fn ca_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA certificate, DER.
    pub fn ca_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// What the OCSP responder needs of the CA, computed at load.
    pub(crate) fn ocsp_issuer(&self) -> &crate::ocsp::OcspIssuer {
        &self.ocsp
    }

    /// The CA's signing key (for the OCSP responder, which signs beside rcgen).
    pub(crate) fn signing_key(&self) -> &KeyPair {
        self.issuer.key()
    }

    /// The CA's subject common name.
    pub fn common_name(&self) -> &str {
        &self.common_name
    }

    /// The CA's own expiry; no leaf outlives it.
    pub fn not_after(&self) -> OffsetDateTime {
        self.not_after
    }

    /// Validity window for a leaf issued at `now` with `ttl`.
    fn validity(
        &self,
        ttl: Duration,
        now: OffsetDateTime,
    ) -> Result<(OffsetDateTime, OffsetDateTime)> {
        if !ttl.is_positive() {
            return Err(Error::InvalidInput("ttl must be positive".into()));
        }
        let now = whole_seconds_utc(now)?;
        if now >= self.not_after {
            return Err(Error::InvalidInput("the CA has expired".into()));
        }
        // A ttl beyond the representable range is just "longer than the CA": cap it.
        let not_after = now
            .checked_add(ttl)
            .map_or(self.not_after, |t| t.min(self.not_after));
        Ok((backdated(now)?, whole_seconds_utc(not_after)?))
    }

    /// Applies the client-certificate profile to `params`; returns the serial's hex.
    fn leaf_profile(
        &self,
        params: &mut CertificateParams,
        ttl: Duration,
        now: OffsetDateTime,
    ) -> Result<String> {
        let (not_before, not_after) = self.validity(ttl, now)?;
        let serial = serial::random_serial(&self.rng)?;
        params.serial_number = Some(SerialNumber::from_slice(&serial));
        params.not_before = not_before;
        params.not_after = not_after;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.name_constraints = None;
        params.crl_distribution_points = Vec::new();
        params.custom_extensions = Vec::new();
        params.use_authority_key_identifier_extension = true;
        params.key_identifier_method = KeyIdMethod::Sha256;
        Ok(serial::to_hex(&serial))
    }

    /// Issues a client certificate with a new ECDSA P-256 key. `now` is the caller's clock.
    pub fn issue(&self, req: IssueRequest, now: OffsetDateTime) -> Result<Issued> {
        let common_name = req.common_name.trim();
        if common_name.is_empty() {
            return Err(Error::InvalidInput("common_name is required".into()));
        }
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, common_name);
        let optional = [
            (DnType::OrganizationName, req.organization.as_ref()),
            (
                DnType::OrganizationalUnitName,
                req.organizational_unit.as_ref(),
            ),
            (DnType::CountryName, req.country.as_ref()),
            (DnType::StateOrProvinceName, req.province.as_ref()),
            (DnType::LocalityName, req.locality.as_ref()),
            (
                DnType::CustomDnType(OID_STREET_ADDRESS.to_vec()),
                req.street_address.as_ref(),
            ),
            (
                DnType::CustomDnType(OID_POSTAL_CODE.to_vec()),
                req.postal_code.as_ref(),
            ),
        ];
        for (ty, value) in optional {
            if let Some(value) = non_empty(value) {
                dn.push(ty, value);
            }
        }
        let mut sans = Vec::with_capacity(req.dns_names.len() + req.ip_addresses.len());
        for name in &req.dns_names {
            let name = Ia5String::try_from(name.trim())
                .map_err(|_| Error::InvalidInput(format!("dns name {name:?} is not ASCII")))?;
            sans.push(SanType::DnsName(name));
        }
        sans.extend(req.ip_addresses.iter().copied().map(SanType::IpAddress));

        let mut params = CertificateParams::default();
        params.distinguished_name = dn;
        params.subject_alt_names = sans;
        let serial_hex = self.leaf_profile(&mut params, req.ttl, now)?;
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(crypto("leaf key"))?;
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(crypto("leaf certificate"))?;
        Ok(Issued {
            serial_hex,
            cert_pem: pem_encode("CERTIFICATE", cert.der()),
            key_pem: key.serialize_pem(),
            not_after: params.not_after,
        })
    }

    /// Issues a client certificate for a CSR (PEM text or DER bytes). The CSR's signature is
    /// checked; only its public key, subject and SANs are used. Its subject must have a common
    /// name.
    pub fn sign_csr(&self, csr: &[u8], ttl: Duration, now: OffsetDateTime) -> Result<SignedCsr> {
        let malformed = |reason: String| Error::Malformed {
            what: "CSR",
            reason,
        };
        let der = if csr.trim_ascii_start().starts_with(b"-----BEGIN") {
            CertificateSigningRequestDer::from_pem_slice(csr)
                .map_err(|e| malformed(e.to_string()))?
        } else {
            CertificateSigningRequestDer::from(csr.to_vec())
        };
        let common_name = X509CertificationRequest::from_der(&der)
            .map(|(_, req)| first_cn(&req.certification_request_info.subject))
            .map_err(|e| malformed(e.to_string()))?;
        if common_name.trim().is_empty() {
            return Err(Error::InvalidInput("CSR subject has no common name".into()));
        }
        let mut request = CertificateSigningRequestParams::from_der(&der)
            .map_err(|e| malformed(e.to_string()))?;
        let serial_hex = self.leaf_profile(&mut request.params, ttl, now)?;
        let cert = request
            .signed_by(&self.issuer)
            .map_err(crypto("CSR certificate"))?;
        Ok(SignedCsr {
            serial_hex,
            common_name,
            cert_pem: pem_encode("CERTIFICATE", cert.der()),
            not_after: request.params.not_after,
        })
    }

    /// A DER CRL signed by this CA listing `revoked` (serial hex, with or without `:`, and
    /// revocation time), issued at `now` and valid until `next_update` (must be later). The
    /// CRL number is `now` in milliseconds since the epoch, so later CRLs have larger numbers.
    pub fn crl<S: AsRef<str>>(
        &self,
        revoked: &[(S, OffsetDateTime)],
        now: OffsetDateTime,
        next_update: OffsetDateTime,
    ) -> Result<Vec<u8>> {
        let this_update = whole_seconds_utc(now)?;
        let next_update = whole_seconds_utc(next_update)?;
        if next_update <= this_update {
            return Err(Error::InvalidInput(
                "CRL next_update must be after now".into(),
            ));
        }
        let revoked_certs = revoked
            .iter()
            .map(|(serial_hex, at)| {
                Ok(RevokedCertParams {
                    serial_number: SerialNumber::from_slice(&serial::from_hex(
                        serial_hex.as_ref(),
                    )?),
                    revocation_time: whole_seconds_utc(*at)?,
                    reason_code: None,
                    invalidity_date: None,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let crl_number = u64::try_from(now.unix_timestamp_nanos() / 1_000_000)
            .map_err(|_| Error::InvalidInput("CRL time before 1970".into()))?;
        let params = CertificateRevocationListParams {
            this_update,
            next_update,
            crl_number: SerialNumber::from(crl_number),
            issuing_distribution_point: None,
            revoked_certs,
            key_identifier_method: self.key_id.clone(),
        };
        let crl = params.signed_by(&self.issuer).map_err(crypto("CRL"))?;
        Ok(crl.der().to_vec())
    }

    /// [`Ca::crl`] as PEM (`X509 CRL`).
    pub fn crl_pem<S: AsRef<str>>(
        &self,
        revoked: &[(S, OffsetDateTime)],
        now: OffsetDateTime,
        next_update: OffsetDateTime,
    ) -> Result<String> {
        Ok(pem_encode(
            "X509 CRL",
            &self.crl(revoked, now, next_update)?,
        ))
    }
}

/// PEM armour with 64-column base64 lines and `\n` endings.
fn pem_encode(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::with_capacity(body.len() + body.len() / 64 + 2 * label.len() + 40);
    out.push_str("-----BEGIN ");
    out.push_str(label);
    out.push_str("-----\n");
    for line in body.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str("-----\n");
    out
}

fn create_dir_private(dir: &Path) -> Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(io_err(dir))
}

/// Writes `bytes` to a fresh temporary file with `mode`, syncs it, then renames it to `path`,
/// so a crash never leaves a half-written key or one with looser permissions.
fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(".tmp");
    let tmp: PathBuf = path.with_file_name(tmp_name);
    match fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(&tmp)(e)),
    }
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(&tmp).map_err(io_err(&tmp))?;
    // The umask may have narrowed the mode; make it exact.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        file.set_permissions(fs::Permissions::from_mode(mode))
            .map_err(io_err(&tmp))?;
    }
    file.write_all(bytes).map_err(io_err(&tmp))?;
    file.sync_all().map_err(io_err(&tmp))?;
    drop(file);
    fs::rename(&tmp, path).map_err(io_err(path))
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::sync::Arc;

    use rustls::pki_types::{CertificateRevocationListDer, UnixTime};
    use rustls::server::WebPkiClientVerifier;
    use rustls::{CertificateError, RootCertStore};
    use time::macros::datetime;
    use x509_parser::revocation_list::CertificateRevocationList as X509Crl;

    use super::*;
    use crate::{parse_cert, verify_chain};

    const NOW: OffsetDateTime = datetime!(2026-03-01 12:00:00.250 UTC);
    const CLIENT_ID: &str = "0b9b1e7c-6a43-4f3e-9d0c-7a2a4f1f2c11";

    fn ca() -> Ca {
        Ca::generate("Test CA", NOW).unwrap()
    }

    fn leaf(ca: &Ca, ttl: Duration) -> Issued {
        ca.issue(IssueRequest::new(CLIENT_ID, ttl), NOW).unwrap()
    }

    #[test]
    fn ca_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Ca>();
    }

    #[test]
    fn load_or_create_persists_and_reloads_the_same_ca() {
        let dir = tempfile::tempdir().unwrap();
        let ca_dir = dir.path().join("pki/ca");
        let created = Ca::load_or_create_at(&ca_dir, NOW).unwrap();
        let reloaded = Ca::load_or_create_at(&ca_dir, NOW + Duration::days(1)).unwrap();
        assert_eq!(created.ca_pem(), reloaded.ca_pem());
        assert_eq!(created.ca_der(), reloaded.ca_der());
        assert_eq!(reloaded.common_name(), DEFAULT_CA_CN);
        assert_eq!(
            fs::read_to_string(ca_dir.join(CA_CERT_FILE)).unwrap(),
            created.ca_pem()
        );
        assert!(!ca_dir.join("ca.key.tmp").exists());
        // A leaf issued by the reloaded CA chains to the original one.
        let issued = reloaded
            .issue(IssueRequest::new(CLIENT_ID, Duration::hours(1)), NOW)
            .unwrap();
        assert!(verify_chain(&issued.cert_pem, &created, NOW));
        // The plain constructor loads the same files.
        let loaded = Ca::load(&ca_dir.join(CA_CERT_FILE), &ca_dir.join(CA_KEY_FILE)).unwrap();
        assert_eq!(loaded.ca_der(), created.ca_der());
    }

    #[cfg(unix)]
    #[test]
    fn key_file_is_0600_and_dir_0700() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let ca_dir = dir.path().join("ca");
        Ca::load_or_create_at(&ca_dir, NOW).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&ca_dir.join(CA_KEY_FILE)), 0o600);
        assert_eq!(mode(&ca_dir), 0o700);
        assert_eq!(mode(&ca_dir.join(CA_CERT_FILE)), 0o644);
    }

    #[test]
    fn half_present_ca_is_an_error_not_an_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        Ca::load_or_create_at(dir.path(), NOW).unwrap();
        let key_path = dir.path().join(CA_KEY_FILE);
        let key = fs::read(&key_path).unwrap();
        fs::remove_file(dir.path().join(CA_CERT_FILE)).unwrap();
        assert!(matches!(
            Ca::load_or_create_at(dir.path(), NOW),
            Err(Error::IncompleteCa(_))
        ));
        assert_eq!(fs::read(&key_path).unwrap(), key);
    }

    #[test]
    fn from_pem_rejects_mismatched_key_non_ca_and_garbage() {
        let a = ca();
        let b = ca();
        let b_key = b.issuer.key().serialize_pem();
        assert!(matches!(
            Ca::from_pem(a.ca_pem(), &b_key),
            Err(Error::Malformed { .. })
        ));
        let issued = leaf(&a, Duration::hours(1));
        assert!(matches!(
            Ca::from_pem(&issued.cert_pem, &issued.key_pem),
            Err(Error::Malformed { .. })
        ));
        assert!(Ca::from_pem("nope", "nope").is_err());
        assert!(Ca::from_pem(a.ca_pem(), "nope").is_err());
        let round = Ca::from_pem(a.ca_pem(), &a.issuer.key().serialize_pem()).unwrap();
        assert_eq!(round.ca_der(), a.ca_der());
    }

    #[test]
    fn leaf_names_the_client_and_chains_to_the_ca() {
        let ca = ca();
        let issued = leaf(&ca, Duration::hours(24));
        let info = parse_cert(&issued.cert_pem).unwrap();
        assert_eq!(info.common_name, CLIENT_ID);
        assert_eq!(info.issuer_cn, "Test CA");
        assert_eq!(info.serial_hex, issued.serial_hex);
        assert_eq!(info.not_after, issued.not_after);
        assert_eq!(info.not_before, datetime!(2026-03-01 11:59:00 UTC));
        assert_eq!(issued.not_after, datetime!(2026-03-02 12:00:00 UTC));
        assert!(issued.key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        assert!(verify_chain(&issued.cert_pem, &ca, NOW));
        // Another CA did not sign it.
        assert!(!verify_chain(&issued.cert_pem, &self::ca(), NOW));
        assert!(!verify_chain("garbage", &ca, NOW));
    }

    #[test]
    fn leaf_profile_is_client_auth_end_entity() {
        let ca = ca();
        let mut req = IssueRequest::new(CLIENT_ID, Duration::hours(1));
        req.organization = Some("Acme".into());
        req.organizational_unit = Some(" ".into());
        req.street_address = Some("1 Main St".into());
        req.postal_code = Some("12345".into());
        req.dns_names = vec!["device.example.com".into()];
        req.ip_addresses = vec!["10.0.0.7".parse().unwrap()];
        let issued = ca.issue(req, NOW).unwrap();
        let der = cert_der_from_pem(&issued.cert_pem, "leaf").unwrap();
        let cert = parse_der(&der, "leaf").unwrap();
        assert!(!cert.basic_constraints().unwrap().unwrap().value.ca);
        let ku = cert.key_usage().unwrap().unwrap().value;
        assert!(ku.digital_signature() && !ku.key_cert_sign() && !ku.crl_sign());
        let eku = cert.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.client_auth && !eku.server_auth && !eku.any);
        let subject = cert.subject().to_string();
        assert!(subject.contains("O=Acme"), "{subject}");
        assert!(!subject.contains("OU="), "{subject}");
        assert!(
            subject.contains("1 Main St") && subject.contains("12345"),
            "{subject}"
        );
        let sans = cert.subject_alternative_name().unwrap().unwrap();
        assert_eq!(sans.value.general_names.len(), 2);
        // The raw DER serial is positive and 16 bytes long.
        assert_eq!(cert.raw_serial().len(), 16);
        assert!(cert.raw_serial()[0] < 0x80);
    }

    #[test]
    fn leaf_is_not_valid_after_ttl() {
        let ca = ca();
        let ttl = Duration::hours(2);
        let issued = leaf(&ca, ttl);
        assert!(verify_chain(
            &issued.cert_pem,
            &ca,
            NOW + Duration::hours(1)
        ));
        assert!(verify_chain(&issued.cert_pem, &ca, issued.not_after));
        assert!(!verify_chain(
            &issued.cert_pem,
            &ca,
            NOW + ttl + Duration::seconds(1)
        ));
        assert!(!verify_chain(
            &issued.cert_pem,
            &ca,
            NOW - Duration::minutes(2)
        ));
    }

    #[test]
    fn ttl_is_capped_at_ca_expiry() {
        let ca = ca();
        let issued = leaf(&ca, Duration::days(365 * 50));
        assert_eq!(issued.not_after, ca.not_after());
        assert_eq!(leaf(&ca, Duration::MAX).not_after, ca.not_after());
        assert!(matches!(
            ca.issue(
                IssueRequest::new(CLIENT_ID, Duration::hours(1)),
                ca.not_after()
            ),
            Err(Error::InvalidInput(_))
        ));
    }

    #[test]
    fn bad_requests_are_rejected() {
        let ca = ca();
        for req in [
            IssueRequest::new("", Duration::hours(1)),
            IssueRequest::new("  ", Duration::hours(1)),
            IssueRequest::new(CLIENT_ID, Duration::ZERO),
            IssueRequest::new(CLIENT_ID, Duration::hours(-1)),
            IssueRequest {
                dns_names: vec!["dévice.example".into()],
                ..IssueRequest::new(CLIENT_ID, Duration::hours(1))
            },
        ] {
            assert!(
                matches!(ca.issue(req.clone(), NOW), Err(Error::InvalidInput(_))),
                "{req:?}"
            );
        }
        // Extreme injected clocks are errors, not panics.
        let min = time::PrimitiveDateTime::MIN.assume_utc();
        let max = time::PrimitiveDateTime::MAX.assume_utc();
        let max_west = time::PrimitiveDateTime::MAX.assume_offset(time::macros::offset!(-5));
        assert!(
            ca.issue(IssueRequest::new(CLIENT_ID, Duration::hours(1)), max_west)
                .is_err()
        );
        for at in [min, max] {
            let req = IssueRequest::new(CLIENT_ID, Duration::hours(1));
            assert!(ca.issue(req, at).is_err());
        }
        assert!(Ca::generate("X", min).is_err());
        assert!(Ca::generate("X", max).is_err());
        let empty: &[(&str, OffsetDateTime)] = &[];
        assert!(ca.crl(empty, min, NOW).is_err());
        assert!(ca.crl(&[("01", min)], NOW, max).is_err());
    }

    #[test]
    fn serials_are_unique() {
        let ca = ca();
        let serials: HashSet<String> = (0..64)
            .map(|_| leaf(&ca, Duration::hours(1)).serial_hex)
            .collect();
        assert_eq!(serials.len(), 64);
        assert!(serials.iter().all(|s| s.len() == 32));
    }

    #[test]
    fn renewal_is_a_new_cert_for_the_same_client() {
        let ca = ca();
        let first = leaf(&ca, Duration::hours(1));
        let later = NOW + Duration::minutes(50);
        let renewed = ca
            .issue(IssueRequest::new(CLIENT_ID, Duration::hours(1)), later)
            .unwrap();
        assert_ne!(first.serial_hex, renewed.serial_hex);
        assert_eq!(
            parse_cert(&renewed.cert_pem).unwrap().common_name,
            CLIENT_ID
        );
        assert!(renewed.not_after > first.not_after);
    }

    #[test]
    fn crl_lists_revoked_serials_and_is_signed_by_the_ca() {
        let ca = ca();
        let revoked = leaf(&ca, Duration::hours(1));
        let kept = leaf(&ca, Duration::hours(1));
        let revoked_at = NOW + Duration::minutes(5);
        // OpenBao-style colon form and upper case are accepted.
        let colon_upper: String = revoked
            .serial_hex
            .as_bytes()
            .chunks(2)
            .map(|p| String::from_utf8_lossy(p).to_uppercase())
            .collect::<Vec<_>>()
            .join(":");
        let der = ca
            .crl(
                &[(colon_upper, revoked_at)],
                NOW + Duration::minutes(10),
                NOW + Duration::days(1),
            )
            .unwrap();
        let (rest, crl) = X509Crl::from_der(&der).unwrap();
        assert!(rest.is_empty());
        let listed: Vec<String> = crl
            .iter_revoked_certificates()
            .map(|r| serial::to_hex(r.raw_serial()))
            .collect();
        assert_eq!(listed, vec![revoked.serial_hex.clone()]);
        assert!(!listed.contains(&kept.serial_hex));
        let entry = crl.iter_revoked_certificates().next().unwrap();
        assert_eq!(
            entry.revocation_date.to_datetime(),
            datetime!(2026-03-01 12:05:00 UTC)
        );
        let ca_der = ca.ca_der().to_vec();
        let ca_cert = parse_der(&ca_der, "ca").unwrap();
        crl.verify_signature(ca_cert.public_key()).unwrap();
        assert_eq!(crl.issuer(), ca_cert.subject());
        assert!(crl.crl_number().is_some());

        let pem = ca
            .crl_pem(
                &[(revoked.serial_hex.as_str(), revoked_at)],
                NOW,
                NOW + Duration::days(1),
            )
            .unwrap();
        assert!(pem.starts_with("-----BEGIN X509 CRL-----\n"));
        let empty: &[(&str, OffsetDateTime)] = &[];
        assert!(ca.crl(empty, NOW, NOW + Duration::hours(1)).is_ok());
    }

    #[test]
    fn crl_rejects_bad_input() {
        let ca = ca();
        let empty: &[(&str, OffsetDateTime)] = &[];
        assert!(matches!(
            ca.crl(empty, NOW, NOW),
            Err(Error::InvalidInput(_))
        ));
        for bad in ["", "xyz", "00", &"ab".repeat(21)] {
            assert!(matches!(
                ca.crl(&[(bad, NOW)], NOW, NOW + Duration::hours(1)),
                Err(Error::InvalidInput(_))
            ));
        }
    }

    #[test]
    fn csr_is_signed_with_the_leaf_profile_only() {
        let ca = ca();
        let device_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = CertificateParams::new(vec!["dev.example".to_owned()]).unwrap();
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, CLIENT_ID);
        // A CSR asking to be a CA must not get CA rights.
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let csr = params.serialize_request(&device_key).unwrap();
        let csr_pem = csr.pem().unwrap();

        for input in [csr_pem.as_bytes(), csr.der().as_ref()] {
            let signed = ca.sign_csr(input, Duration::hours(3), NOW).unwrap();
            assert_eq!(signed.common_name, CLIENT_ID);
            assert!(verify_chain(&signed.cert_pem, &ca, NOW));
            let der = cert_der_from_pem(&signed.cert_pem, "leaf").unwrap();
            let cert = parse_der(&der, "leaf").unwrap();
            assert!(!cert.basic_constraints().unwrap().unwrap().value.ca);
            assert!(
                cert.extended_key_usage()
                    .unwrap()
                    .unwrap()
                    .value
                    .client_auth
            );
            assert_eq!(
                cert.public_key().subject_public_key.data.as_ref(),
                device_key.public_key_raw()
            );
            assert_eq!(serial::to_hex(cert.raw_serial()), signed.serial_hex);
            assert_eq!(signed.not_after, datetime!(2026-03-01 15:00:00 UTC));
        }

        // Tampered CSR: signature check fails.
        let mut bad = csr.der().to_vec();
        let n = bad.len();
        bad[n - 5] ^= 0xff;
        assert!(ca.sign_csr(&bad, Duration::hours(1), NOW).is_err());
        assert!(ca.sign_csr(b"garbage", Duration::hours(1), NOW).is_err());

        // No common name.
        let mut no_cn = CertificateParams::default();
        no_cn.distinguished_name = DistinguishedName::new();
        no_cn
            .distinguished_name
            .push(DnType::OrganizationName, "Acme");
        let csr = no_cn.serialize_request(&device_key).unwrap();
        assert!(matches!(
            ca.sign_csr(csr.der(), Duration::hours(1), NOW),
            Err(Error::InvalidInput(_))
        ));
    }

    fn unix(t: OffsetDateTime) -> UnixTime {
        UnixTime::since_unix_epoch(std::time::Duration::from_secs(
            u64::try_from(t.unix_timestamp()).unwrap(),
        ))
    }

    fn verifier(
        ca: &Ca,
        crls: Vec<Vec<u8>>,
    ) -> Arc<dyn rustls::server::danger::ClientCertVerifier> {
        let mut roots = RootCertStore::empty();
        roots
            .add(CertificateDer::from(ca.ca_der().to_vec()))
            .unwrap();
        WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            Arc::new(rustls::crypto::aws_lc_rs::default_provider()),
        )
        .with_crls(crls.into_iter().map(CertificateRevocationListDer::from))
        .build()
        .unwrap()
    }

    #[test]
    fn rustls_accepts_the_leaf_and_rejects_it_once_revoked() {
        let ca = ca();
        let issued = leaf(&ca, Duration::hours(1));
        let other = leaf(&ca, Duration::hours(1));
        let leaf_der = CertificateDer::from_pem_slice(issued.cert_pem.as_bytes()).unwrap();
        let at = NOW + Duration::minutes(10);
        let next = NOW + Duration::days(1);

        let empty: &[(&str, OffsetDateTime)] = &[];
        let clean = verifier(&ca, vec![ca.crl(empty, NOW, next).unwrap()]);
        clean.verify_client_cert(&leaf_der, &[], unix(at)).unwrap();

        let crl = ca
            .crl(&[(issued.serial_hex.as_str(), NOW)], at, next)
            .unwrap();
        let revoking = verifier(&ca, vec![crl]);
        let err = revoking
            .verify_client_cert(&leaf_der, &[], unix(at))
            .unwrap_err();
        assert_eq!(
            err,
            rustls::Error::InvalidCertificate(CertificateError::Revoked)
        );
        // Others from the same CA still pass the revoking verifier.
        let other_der = CertificateDer::from_pem_slice(other.cert_pem.as_bytes()).unwrap();
        revoking
            .verify_client_cert(&other_der, &[], unix(at))
            .unwrap();

        // Expired per the injected clock.
        let err = clean
            .verify_client_cert(&leaf_der, &[], unix(NOW + Duration::hours(2)))
            .unwrap_err();
        assert!(matches!(
            err,
            rustls::Error::InvalidCertificate(CertificateError::ExpiredContext { .. })
        ));

        // A leaf from another CA is refused.
        let foreign = leaf(&self::ca(), Duration::hours(1));
        let foreign_der = CertificateDer::from_pem_slice(foreign.cert_pem.as_bytes()).unwrap();
        assert!(
            clean
                .verify_client_cert(&foreign_der, &[], unix(at))
                .is_err()
        );
    }
}
