//! Certs service: client certificates issued by the built-in CA (`switchyard-certs`).
//!
//! Enforces:
//! - a caller manages the certificates of the clients they may manage (the clients'
//!   policy: members their own clients, domain admins and the super-admin all); issuing
//!   needs the client to exist in the domain; other domains' callers get 403, invisible
//!   clients and certificates 404;
//! - private keys are stored only sealed (AES-256-GCM under the service secret) and are
//!   opened only to answer the issuing and viewing requests;
//! - every time (validity, revocation, CRL) comes from the injected clock;
//! - revoked rows are kept so the CRL lists them until they expire; renewal issues a new
//!   serial and revokes the old one in the same transaction.
//!
//! The CA and the sealing secret are set once at start with [`Core::set_certs`]; until
//! then every certs operation answers 404 (Magistrala: "CA missing").

use std::{
    fmt,
    net::IpAddr,
    path::{Path, PathBuf},
    str::FromStr,
    sync::Arc,
};

use base64::Engine as _;
use serde_json::json;
use switchyard_auth::policy::{self, Action, DomainAccess};
use switchyard_certs::{Ca, IssueRequest, Issued, OcspStatus};
use switchyard_domain::EntityKind;
use switchyard_domain::{Page, QueryParams, Timestamp};
use switchyard_store::{CertQuery, CertRecord, StoreError};
use time::Duration;
use uuid::Uuid;

use crate::{Caller, Core, Error, Result};

/// Lifetime of a certificate when the request names none (Magistrala's default).
pub const DEFAULT_TTL: &str = "2400h";
/// How long a served CRL stays current (`nextUpdate - thisUpdate`). CRLs are signed on
/// request, so a fetcher always gets the current list.
pub const CRL_VALIDITY: Duration = Duration::days(1);
/// Sealing-secret file inside the data directory when none is configured.
pub const SEAL_KEY_FILE: &str = "keys/certs.key";

/// Where the CA and the sealing secret come from.
#[derive(Clone)]
pub struct CertsConfig {
    /// Directory with `ca.crt` + `ca.key`; a CA is created there when both are absent.
    pub ca_dir: PathBuf,
    /// Explicit CA certificate and key files (`MG_CERTS_CA_CERT_PATH`,
    /// `MG_CERTS_CA_KEY_PATH`): both or neither; when given, `ca_dir` is not used.
    pub ca_cert_path: Option<PathBuf>,
    pub ca_key_path: Option<PathBuf>,
    /// The sealing secret (`SWITCHYARD_CERTS_KEY`): 64 hex digits, base64 of 32 bytes, or
    /// exactly 32 characters. `None`: read from (or generated once into) `seal_key_path`.
    pub seal_key: Option<String>,
    /// File holding the generated secret (mode 0600).
    pub seal_key_path: PathBuf,
}

impl fmt::Debug for CertsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertsConfig")
            .field("ca_dir", &self.ca_dir)
            .field("ca_cert_path", &self.ca_cert_path)
            .field("ca_key_path", &self.ca_key_path)
            .field("seal_key", &self.seal_key.as_ref().map(|_| "<redacted>"))
            .field("seal_key_path", &self.seal_key_path)
            .finish()
    }
}

impl CertsConfig {
    /// Defaults under the data directory: `DATA_DIR/ca` and `DATA_DIR/keys/certs.key`.
    pub fn new(data_dir: &Path) -> CertsConfig {
        CertsConfig {
            ca_dir: data_dir.join("ca"),
            ca_cert_path: None,
            ca_key_path: None,
            seal_key: None,
            seal_key_path: data_dir.join(SEAL_KEY_FILE),
        }
    }

    /// The defaults overridden by the settings given (empty values count as unset).
    pub fn with(data_dir: &Path, ca_cert: &str, ca_key: &str, seal_key: &str) -> CertsConfig {
        let set = |v: &str| Some(v.trim().to_string()).filter(|v| !v.is_empty());
        CertsConfig {
            ca_cert_path: set(ca_cert).map(PathBuf::from),
            ca_key_path: set(ca_key).map(PathBuf::from),
            seal_key: set(seal_key),
            ..CertsConfig::new(data_dir)
        }
    }
}

/// Marks a stored value as sealed by [`CertAuthority::seal_key`].
const SEALED: &str = "sealed:";

/// The loaded CA and the secret that seals issued private keys.
pub struct CertAuthority {
    ca: Ca,
    secret: [u8; 32],
}

impl fmt::Debug for CertAuthority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertAuthority")
            .field("ca", &self.ca.common_name())
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl CertAuthority {
    pub fn new(ca: Ca, secret: [u8; 32]) -> CertAuthority {
        CertAuthority { ca, secret }
    }

    /// Loads (or creates, at `now`) the CA and loads (or generates) the sealing secret.
    pub fn open(cfg: &CertsConfig, now: Timestamp) -> std::result::Result<CertAuthority, String> {
        let ca = match (&cfg.ca_cert_path, &cfg.ca_key_path) {
            (Some(c), Some(k)) => Ca::load(c, k).map_err(|e| format!("certs CA: {e}"))?,
            (None, None) => {
                Ca::load_or_create_at(&cfg.ca_dir, now).map_err(|e| format!("certs CA: {e}"))?
            }
            _ => {
                return Err(
                    "MG_CERTS_CA_CERT_PATH and MG_CERTS_CA_KEY_PATH must be given together".into(),
                );
            }
        };
        let secret = match &cfg.seal_key {
            Some(k) => parse_secret(k).ok_or(
                "SWITCHYARD_CERTS_KEY must be 64 hex digits, base64 of 32 bytes, or 32 characters",
            )?,
            None => secret_file(&cfg.seal_key_path)?,
        };
        Ok(CertAuthority::new(ca, secret))
    }

    /// Seals a private key for storage (bootstrap configs' `client_key`): `sealed:` and
    /// the AES-256-GCM text under the service secret.
    pub(crate) fn seal_key(&self, pem: &str) -> Result<String> {
        let sealed = switchyard_certs::seal(pem, &self.secret).map_err(certs_error)?;
        Ok(format!("{SEALED}{sealed}"))
    }

    /// The clear key from a stored value: sealed ones are opened, others (written
    /// before keys were sealed) are returned as they are.
    pub(crate) fn open_key(&self, stored: &str) -> Result<String> {
        match stored.strip_prefix(SEALED) {
            Some(sealed) => switchyard_certs::open(sealed, &self.secret).map_err(certs_error),
            None => Ok(stored.to_string()),
        }
    }

    pub fn ca(&self) -> &Ca {
        &self.ca
    }

    /// Hex SHA-256 of the CA certificate and of the sealing secret, so nodes can check
    /// they agree without sharing either.
    pub fn fingerprints(&self) -> (String, String) {
        use sha2::Digest;
        let hex = |b: &[u8]| -> String { b.iter().map(|x| format!("{x:02x}")).collect() };
        (
            hex(&sha2::Sha256::digest(self.ca.ca_der())),
            hex(&sha2::Sha256::digest(self.secret)),
        )
    }
}

/// A 32-byte secret from 64 hex digits, base64, or 32 raw characters.
fn parse_secret(s: &str) -> Option<[u8; 32]> {
    let s = s.trim();
    if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        let bytes: Option<Vec<u8>> = (0..64)
            .step_by(2)
            .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
            .collect();
        return bytes.and_then(|b| b.try_into().ok());
    }
    if let Ok(b) = base64::engine::general_purpose::STANDARD.decode(s)
        && let Ok(k) = <[u8; 32]>::try_from(b.as_slice())
    {
        return Some(k);
    }
    s.as_bytes().try_into().ok()
}

/// Reads the secret file, or creates it (0600) with 32 random bytes as hex.
fn secret_file(path: &Path) -> std::result::Result<[u8; 32], String> {
    let read = |p: &Path| -> std::result::Result<[u8; 32], String> {
        let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
        parse_secret(&text).ok_or_else(|| format!("{}: not a 32-byte secret", p.display()))
    };
    if path.exists() {
        return read(path);
    }
    let mut key = [0u8; 32];
    rand::TryRngCore::try_fill_bytes(&mut rand::rngs::OsRng, &mut key)
        .map_err(|e| format!("random certs key: {e}"))?;
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    match switchyard_auth::token::write_private(path, format!("{hex}\n").as_bytes()) {
        Ok(()) => Ok(key),
        // Another process created it first: use theirs.
        Err(_) if path.exists() => read(path),
        Err(e) => Err(e),
    }
}

/// Subject and SAN options of a new certificate (Magistrala's `options`). DN fields are
/// lists on the wire; at most one value each is accepted.
#[derive(Debug, Clone, Default)]
pub struct IssueOptions {
    /// Go duration ("2400h"); default [`DEFAULT_TTL`].
    pub ttl: Option<String>,
    /// Default: the client id.
    pub common_name: Option<String>,
    pub organization: Vec<String>,
    pub organizational_unit: Vec<String>,
    pub country: Vec<String>,
    pub province: Vec<String>,
    pub locality: Vec<String>,
    pub street_address: Vec<String>,
    pub postal_code: Vec<String>,
    pub dns_names: Vec<String>,
    pub ip_addresses: Vec<String>,
}

/// A certificate as the API shows it. `key` is set only where the contract returns it
/// (issue, renew, view).
#[derive(Clone)]
pub struct CertView {
    pub serial: String,
    pub client_id: Uuid,
    pub certificate: String,
    pub key: Option<String>,
    pub revoked_at: Option<Timestamp>,
    pub expires_at: Timestamp,
}

impl CertView {
    pub fn revoked(&self) -> bool {
        self.revoked_at.is_some()
    }
}

impl fmt::Debug for CertView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertView")
            .field("serial", &self.serial)
            .field("client_id", &self.client_id)
            .field("revoked_at", &self.revoked_at)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// What `/certs/view-ca` shows.
/// What `POST /certs/ocsp` was asked: a DER OCSP request, or (the JSON form) one serial
/// or one PEM certificate.
#[derive(Debug, Clone, Copy)]
pub enum OcspAsk<'a> {
    Der(&'a [u8]),
    Serial(&'a str),
    Certificate(&'a str),
}

#[derive(Debug, Clone)]
pub struct CaView {
    pub serial: String,
    pub common_name: String,
    pub certificate: String,
    pub not_before: Timestamp,
    pub not_after: Timestamp,
}

fn view(r: &CertRecord, key: Option<String>) -> CertView {
    CertView {
        serial: r.serial.clone(),
        client_id: r.client_id,
        certificate: r.certificate.clone(),
        key,
        revoked_at: r.revoked_at,
        expires_at: r.expires_at,
    }
}

/// Parses a Go duration ("2400h", "1h30m", "90s", "1.5h"; "d" accepted as 24h).
pub fn parse_ttl(s: &str) -> Result<Duration> {
    let bad = || Error::InvalidInput(format!("invalid ttl {s:?}"));
    let t = s.trim();
    let (neg, mut rest) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let n_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let (num, tail) = rest.split_at(n_end);
        let n: f64 = num.parse().map_err(|_| bad())?;
        let u_end = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(u_end);
        let scale = match unit {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86400.0,
            _ => return Err(bad()),
        };
        total += n * scale;
        rest = tail;
    }
    if !total.is_finite() || total > 1e12 {
        return Err(bad());
    }
    Ok(Duration::seconds_f64(if neg { -total } else { total }))
}

/// A certificate's lifetime as asked (`ttl`, e.g. `720h`), [`DEFAULT_TTL`] when absent
/// or blank; it must be positive.
fn requested_ttl(ttl: Option<&str>) -> Result<Duration> {
    let ttl = parse_ttl(ttl.filter(|t| !t.trim().is_empty()).unwrap_or(DEFAULT_TTL))?;
    if !ttl.is_positive() {
        return Err(Error::InvalidInput("ttl must be positive".into()));
    }
    Ok(ttl)
}

/// A serial as stored: lowercase hex without separators or leading zero bytes. `None`
/// when the text cannot be a serial.
pub fn normalize_serial(s: &str) -> Option<String> {
    let mut d: String = s
        .trim()
        .chars()
        .filter(|c| *c != ':')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if d.is_empty() || d.len() > 64 || !d.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    if !d.len().is_multiple_of(2) {
        d.insert(0, '0');
    }
    while d.len() > 2 && d.starts_with("00") {
        d.drain(..2);
    }
    Some(d)
}

fn single(field: &str, v: &[String]) -> Result<Option<String>> {
    let mut it = v.iter().map(|s| s.trim()).filter(|s| !s.is_empty());
    let first = it.next().map(str::to_string);
    if it.next().is_some() {
        return Err(Error::InvalidInput(format!(
            "only one {field} value is supported"
        )));
    }
    Ok(first)
}

fn certs_error(e: switchyard_certs::Error) -> Error {
    match e {
        switchyard_certs::Error::InvalidInput(m) => Error::InvalidInput(m),
        other => Error::Internal(other.to_string()),
    }
}

impl Core {
    /// Installs the CA and sealing secret (called once by the server at start).
    pub fn set_certs(&self, ca: Arc<CertAuthority>) {
        if let Ok(mut slot) = self.certs.write() {
            *slot = Some(ca);
        }
    }

    /// The CA, or 404 while none is configured.
    pub(crate) fn authority(&self) -> Result<Arc<CertAuthority>> {
        self.certs
            .read()
            .ok()
            .and_then(|s| s.clone())
            .ok_or(Error::NotFound)
    }

    /// Loads a certificate the caller may act on. The owner is the client's creator; a
    /// certificate whose client was deleted is visible to domain admins only.
    async fn cert_for(
        &self,
        caller: &Caller,
        access: DomainAccess,
        domain: Uuid,
        serial: &str,
        action: Action,
    ) -> Result<CertRecord> {
        let serial = normalize_serial(serial).ok_or(Error::NotFound)?;
        let rec = self.store.cert(domain, &serial).await?;
        // A certificate is its client's: the same decision as on the client. One whose
        // client is gone is the domain admins' alone.
        match self.store.client(domain, rec.client_id).await {
            Ok(c) => {
                self.decide(
                    caller,
                    access,
                    EntityKind::Client,
                    domain,
                    c.id,
                    action.name(EntityKind::Client),
                )
                .await?
            }
            Err(StoreError::NotFound) if policy::domain_admin(access) => {}
            Err(StoreError::NotFound) => return Err(Error::NotFound),
            Err(e) => return Err(e.into()),
        }
        Ok(rec)
    }

    /// Issues, seals and stores a certificate for `client`.
    pub(crate) fn mint(
        &self,
        ca: &CertAuthority,
        req: IssueRequest,
        caller: &Caller,
        domain: Uuid,
        client: Uuid,
    ) -> Result<(CertRecord, Issued)> {
        let now = self.now();
        let issued = ca.ca.issue(req, now).map_err(certs_error)?;
        let sealed_key =
            switchyard_certs::seal(&issued.key_pem, &ca.secret).map_err(certs_error)?;
        let rec = CertRecord {
            serial: issued.serial_hex.clone(),
            domain_id: domain,
            client_id: client,
            certificate: issued.cert_pem.clone(),
            sealed_key,
            expires_at: issued.not_after,
            revoked_at: None,
            created_by: caller.user,
            created_at: now,
        };
        Ok((rec, issued))
    }

    /// The client a user asks a certificate for: the caller must be verified and may
    /// update it.
    async fn cert_subject(
        &self,
        caller: &Caller,
        domain: Uuid,
        client: Uuid,
    ) -> Result<switchyard_domain::Client> {
        self.require_verified(caller)?;
        let access = self.domain_access(caller, domain, true).await?;
        self.entity_for::<switchyard_domain::Client>(caller, access, domain, client, Action::Update)
            .await
    }

    /// `POST /{d}/certs/issue/{clientID}` and the document-era `POST /{d}/certs`.
    pub async fn issue_cert(
        &self,
        caller: &Caller,
        domain: Uuid,
        client: Uuid,
        o: IssueOptions,
    ) -> Result<CertView> {
        let c = self.cert_subject(caller, domain, client).await?;
        let ca = self.authority()?;
        let ttl = requested_ttl(o.ttl.as_deref())?;
        let common_name = o
            .common_name
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| c.id.to_string());
        let mut req = IssueRequest::new(common_name, ttl);
        req.organization = single("organization", &o.organization)?;
        req.organizational_unit = single("organizational_unit", &o.organizational_unit)?;
        req.country = single("country", &o.country)?;
        req.province = single("province", &o.province)?;
        req.locality = single("locality", &o.locality)?;
        req.street_address = single("street_address", &o.street_address)?;
        req.postal_code = single("postal_code", &o.postal_code)?;
        req.dns_names = o
            .dns_names
            .into_iter()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        for ip in o
            .ip_addresses
            .iter()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
        {
            let ip = IpAddr::from_str(ip)
                .map_err(|_| Error::InvalidInput(format!("invalid ip address {ip:?}")))?;
            if !req.ip_addresses.contains(&ip) {
                req.ip_addresses.push(ip);
            }
        }
        let (rec, issued) = self.mint(&ca, req, caller, domain, c.id)?;
        self.store.create_cert(&rec).await?;
        self.emit(
            "cert",
            "issue",
            c.id,
            Some(domain),
            json!({"serial": rec.serial}),
        )
        .await;
        Ok(view(&rec, Some(issued.key_pem)))
    }

    /// `POST /{d}/certs/csrs/{clientID}`: a certificate for the client's own key pair,
    /// from its CSR (PEM or DER; its signature is checked and its subject needs a common
    /// name — the client's id, for MQTTS). No private key is stored or returned.
    pub async fn sign_csr(
        &self,
        caller: &Caller,
        domain: Uuid,
        client: Uuid,
        csr: &[u8],
        ttl: Option<&str>,
    ) -> Result<CertView> {
        let c = self.cert_subject(caller, domain, client).await?;
        self.sign_csr_for(domain, c.id, caller.user, csr, ttl).await
    }

    /// `POST /certs/csrs/{clientID}` with `Authorization: Bearer <MG_CERTS_SECRET>`: the
    /// same for an agent that holds the certs secret instead of a user's token. The
    /// certificate belongs to the client's domain and creator. Refused (401) when no
    /// secret is configured.
    pub async fn sign_csr_internal(
        &self,
        secret: &str,
        client: Uuid,
        csr: &[u8],
        ttl: Option<&str>,
    ) -> Result<CertView> {
        self.check_certs_secret(secret)?;
        // The client and its domain's status in one read (the message plane's login).
        let c = match self.store.client_login(client).await {
            Ok(x) => x,
            Err(StoreError::NotFound) => return Err(Error::NotFound),
            Err(e) => return Err(e.into()),
        };
        // Only for an enabled client of an enabled domain (a frozen or disabled domain's
        // clients get no new certificates, as through the user route).
        if c.status != switchyard_domain::Status::Enabled || !c.domain_enabled {
            return Err(Error::Forbidden("client or domain not enabled"));
        }
        self.sign_csr_for(c.domain_id, c.id, c.created_by, csr, ttl)
            .await
    }

    /// Whether `secret` is the configured `MG_CERTS_SECRET` (never, when none is).
    pub fn check_certs_secret(&self, secret: &str) -> Result<()> {
        let expected = self.cfg.certs_secret.as_bytes();
        if expected.is_empty()
            || !bool::from(subtle::ConstantTimeEq::ct_eq(secret.as_bytes(), expected))
        {
            return Err(Error::Unauthenticated("invalid certs secret"));
        }
        Ok(())
    }

    async fn sign_csr_for(
        &self,
        domain: Uuid,
        client: Uuid,
        created_by: Uuid,
        csr: &[u8],
        ttl: Option<&str>,
    ) -> Result<CertView> {
        if csr.is_empty() {
            return Err(Error::InvalidInput("missing csr".into()));
        }
        let ca = self.authority()?;
        let ttl = requested_ttl(ttl)?;
        let now = self.now();
        let signed = ca.ca.sign_csr(csr, ttl, now).map_err(|e| match e {
            // Here the malformed input is the caller's CSR.
            switchyard_certs::Error::Malformed { what, reason } => {
                Error::InvalidInput(format!("malformed {what}: {reason}"))
            }
            other => certs_error(other),
        })?;
        let rec = CertRecord {
            serial: signed.serial_hex,
            domain_id: domain,
            client_id: client,
            certificate: signed.cert_pem,
            sealed_key: String::new(),
            expires_at: signed.not_after,
            revoked_at: None,
            created_by,
            created_at: now,
        };
        self.store.create_cert(&rec).await?;
        self.emit(
            "cert",
            "issue",
            client,
            Some(domain),
            json!({"serial": rec.serial, "csr": true}),
        )
        .await;
        Ok(view(&rec, None))
    }

    /// `GET /{d}/certs/{serial}`: the certificate with its private key.
    pub async fn view_cert(&self, caller: &Caller, domain: Uuid, serial: &str) -> Result<CertView> {
        let access = self.domain_access(caller, domain, true).await?;
        let rec = self
            .cert_for(caller, access, domain, serial, Action::View)
            .await?;
        // A certificate signed from a CSR has no key of ours.
        if rec.sealed_key.is_empty() {
            return Ok(view(&rec, None));
        }
        let ca = self.authority()?;
        let key = switchyard_certs::open(&rec.sealed_key, &ca.secret)
            .map_err(|e| Error::Internal(format!("certificate {}: {e}", rec.serial)))?;
        Ok(view(&rec, Some(key)))
    }

    /// `GET /{d}/certs?offset&limit&entity_id` (keys are not listed). Members see the
    /// certificates of the clients they created.
    pub async fn list_certs(
        &self,
        caller: &Caller,
        domain: Uuid,
        q: &QueryParams,
    ) -> Result<Page<CertView>> {
        let access = self.domain_access(caller, domain, true).await?;
        self.authority()?;
        let cq = CertQuery {
            offset: q.offset()?,
            limit: cert_limit(q)?,
            client_id: q.uuid("entity_id")?,
            owner: (!policy::sees_all(access)).then_some(caller.user),
        };
        self.page_certs(domain, &cq).await
    }

    /// Document-era `GET /{d}/serials/{clientID}`: the client must be visible.
    pub async fn list_client_certs(
        &self,
        caller: &Caller,
        domain: Uuid,
        client: Uuid,
        q: &QueryParams,
    ) -> Result<Page<CertView>> {
        let access = self.domain_access(caller, domain, true).await?;
        self.entity_for::<switchyard_domain::Client>(caller, access, domain, client, Action::View)
            .await?;
        self.authority()?;
        let cq = CertQuery {
            offset: q.offset()?,
            limit: cert_limit(q)?,
            client_id: Some(client),
            owner: None,
        };
        self.page_certs(domain, &cq).await
    }

    async fn page_certs(&self, domain: Uuid, cq: &CertQuery) -> Result<Page<CertView>> {
        let p = self.store.list_certs(domain, cq).await?;
        Ok(Page {
            total: p.total,
            offset: p.offset,
            limit: p.limit,
            items: p.items.iter().map(|r| view(r, None)).collect(),
        })
    }

    /// `PATCH /{d}/certs/{serial}/revoke`. Revoking a revoked certificate changes nothing.
    pub async fn revoke_cert(&self, caller: &Caller, domain: Uuid, serial: &str) -> Result<()> {
        let access = self.domain_access(caller, domain, true).await?;
        let rec = self
            .cert_for(caller, access, domain, serial, Action::Update)
            .await?;
        self.authority()?;
        self.store
            .revoke_cert(domain, &rec.serial, self.now())
            .await?;
        self.emit(
            "cert",
            "revoke",
            rec.client_id,
            Some(domain),
            json!({"serial": rec.serial}),
        )
        .await;
        Ok(())
    }

    /// `PATCH /{d}/certs/{serial}/renew`: a new certificate (new serial and key, same
    /// common name, same lifetime as the original) for the same client; the old one is
    /// revoked in the same transaction. A revoked certificate cannot be renewed (401, the
    /// certs service's "cert revoked").
    pub async fn renew_cert(
        &self,
        caller: &Caller,
        domain: Uuid,
        serial: &str,
    ) -> Result<CertView> {
        self.require_verified(caller)?;
        let access = self.domain_access(caller, domain, true).await?;
        let old = self
            .cert_for(caller, access, domain, serial, Action::Update)
            .await?;
        let ca = self.authority()?;
        if old.revoked_at.is_some() {
            return Err(Error::Unauthenticated("certificate is revoked"));
        }
        // The client must still exist: no new certificates for deleted clients.
        self.store.client(domain, old.client_id).await?;
        let common_name = switchyard_certs::parse_cert(&old.certificate)
            .map(|i| i.common_name)
            .ok()
            .filter(|cn| !cn.is_empty())
            .unwrap_or_else(|| old.client_id.to_string());
        let lifetime = old.expires_at - old.created_at;
        let ttl = if lifetime.is_positive() {
            lifetime
        } else {
            parse_ttl(DEFAULT_TTL)?
        };
        let (rec, issued) = self.mint(
            &ca,
            IssueRequest::new(common_name, ttl),
            caller,
            domain,
            old.client_id,
        )?;
        self.store.renew_cert(&old.serial, &rec, self.now()).await?;
        self.emit(
            "cert",
            "renew",
            rec.client_id,
            Some(domain),
            json!({"serial": rec.serial, "old_serial": old.serial}),
        )
        .await;
        Ok(view(&rec, Some(issued.key_pem)))
    }

    /// `DELETE /{d}/certs/{clientID}/delete` and the document-era
    /// `DELETE /{d}/certs/{clientID}`: revokes every certificate of the client; returns
    /// the revocation time.
    pub async fn revoke_client_certs(
        &self,
        caller: &Caller,
        domain: Uuid,
        client: Uuid,
    ) -> Result<Timestamp> {
        let access = self.domain_access(caller, domain, true).await?;
        self.entity_for::<switchyard_domain::Client>(
            caller,
            access,
            domain,
            client,
            Action::Update,
        )
        .await?;
        self.authority()?;
        let now = self.now();
        let n = self.store.revoke_client_certs(domain, client, now).await?;
        if n > 0 {
            self.emit("cert", "revoke", client, Some(domain), json!({"count": n}))
                .await;
        }
        Ok(now)
    }

    /// The current CRL (DER), signed now, listing every revoked certificate that has not
    /// expired. For `GET /certs/crl` and the MQTT listener's client verifier.
    pub async fn crl_der(&self) -> Result<Vec<u8>> {
        let ca = self.authority()?;
        let now = self.now();
        let revoked = self.store.revoked_certs(now).await?;
        ca.ca
            .crl(&revoked, now, now + CRL_VALIDITY)
            .map_err(certs_error)
    }

    /// `POST /certs/ocsp`: the CA-signed OCSP answer (DER) for each certificate asked
    /// about — `good` (issued here, not revoked), `revoked` (with its time) or `unknown`
    /// (another issuer, or a serial never issued). A body that is not an OCSP request gets
    /// the unsigned `malformedRequest` answer, as OCSP clients expect.
    pub async fn ocsp(&self, q: OcspAsk<'_>) -> Result<Vec<u8>> {
        let ca = self.authority()?;
        let now = self.now();
        let query = match q {
            OcspAsk::Der(der) => match ca.ca.ocsp_request(der) {
                Ok(q) => q,
                Err(switchyard_certs::Error::Malformed { .. }) => {
                    return Ok(switchyard_certs::ocsp_malformed());
                }
                Err(e) => return Err(certs_error(e)),
            },
            OcspAsk::Serial(s) => {
                let serial = normalize_serial(s)
                    .ok_or_else(|| Error::InvalidInput("invalid serial number".into()))?;
                ca.ca.ocsp_query_for_serial(&serial).map_err(certs_error)?
            }
            OcspAsk::Certificate(pem) => {
                let info = switchyard_certs::parse_cert(pem).map_err(|e| match e {
                    switchyard_certs::Error::Malformed { what, reason } => {
                        Error::InvalidInput(format!("malformed {what}: {reason}"))
                    }
                    other => certs_error(other),
                })?;
                let mut q = ca
                    .ca
                    .ocsp_query_for_serial(&info.serial_hex)
                    .map_err(certs_error)?;
                // Signed by this CA? (checked at its own start, so an expired certificate
                // still gets its status.)
                if !switchyard_certs::verify_chain(pem, &ca.ca, info.not_before) {
                    q = q.foreign();
                }
                q
            }
        };
        let mut statuses = Vec::new();
        for serial in query.serials() {
            let status = match serial {
                None => OcspStatus::Unknown,
                Some(s) => match self.store.cert_by_serial(s).await {
                    Ok(r) => match r.revoked_at {
                        Some(at) => OcspStatus::Revoked(at),
                        None => OcspStatus::Good,
                    },
                    Err(StoreError::NotFound) => OcspStatus::Unknown,
                    Err(e) => return Err(e.into()),
                },
            };
            statuses.push(status);
        }
        ca.ca
            .ocsp_response(&query, &statuses, now)
            .map_err(certs_error)
    }

    /// The CA certificate (for `/certs/view-ca`, `/certs/download-ca` and TLS set-up).
    pub fn ca_cert(&self) -> Result<CaView> {
        let ca = self.authority()?;
        let info = switchyard_certs::parse_cert(ca.ca.ca_pem()).map_err(certs_error)?;
        Ok(CaView {
            serial: info.serial_hex,
            common_name: info.common_name,
            certificate: ca.ca.ca_pem().to_string(),
            not_before: info.not_before,
            not_after: info.not_after,
        })
    }

    /// For the message plane's mTLS: which client a presented certificate (by serial, any
    /// form [`normalize_serial`] accepts) was issued to, and whether it is revoked. `None`
    /// for a serial this CA never issued. The caller must still authenticate the client
    /// (it may have been deleted or disabled since).
    pub async fn cert_client(&self, serial_hex: &str) -> Result<Option<(Uuid, bool)>> {
        let Some(serial) = normalize_serial(serial_hex) else {
            return Ok(None);
        };
        match self.store.cert_by_serial(&serial).await {
            Ok(r) => Ok(Some((r.client_id, r.revoked_at.is_some()))),
            Err(StoreError::NotFound) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

/// A certificate listing's `limit`: 0 (the total only) to 100.
fn cert_limit(q: &QueryParams) -> Result<u64> {
    let limit = q.u64("limit", 10)?;
    if limit > switchyard_domain::MAX_LIMIT {
        return Err(Error::InvalidInput("invalid limit size".into()));
    }
    Ok(limit)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn ttl() {
        assert_eq!(parse_ttl("2400h").unwrap(), Duration::hours(2400));
        assert_eq!(parse_ttl("1h30m").unwrap(), Duration::minutes(90));
        assert_eq!(parse_ttl("1.5h").unwrap(), Duration::minutes(90));
        assert_eq!(parse_ttl("10d").unwrap(), Duration::days(10));
        assert_eq!(parse_ttl("500ms").unwrap(), Duration::milliseconds(500));
        assert!(parse_ttl("-1h").unwrap().is_negative());
        for bad in ["", "h", "10", "10x", "1h 2m", "abc", "-"] {
            assert!(parse_ttl(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn serials() {
        assert_eq!(normalize_serial("0A:FF").unwrap(), "0aff");
        assert_eq!(normalize_serial("aff").unwrap(), "0aff");
        assert_eq!(normalize_serial("00:0a:ff").unwrap(), "0aff");
        assert_eq!(normalize_serial("00").unwrap(), "00");
        assert!(normalize_serial("").is_none());
        assert!(normalize_serial("xyz").is_none());
        assert!(normalize_serial("../etc").is_none());
    }

    #[test]
    fn secrets() {
        let hex = "00".repeat(31) + "ff";
        assert_eq!(parse_secret(&hex).unwrap()[31], 0xff);
        let b64 = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        assert_eq!(parse_secret(&b64).unwrap(), [7u8; 32]);
        assert_eq!(parse_secret(&"k".repeat(32)).unwrap(), [b'k'; 32]);
        assert!(parse_secret("short").is_none());
    }

    #[test]
    fn secret_file_is_generated_once_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("keys/certs.key");
        let a = secret_file(&p).unwrap();
        assert_eq!(secret_file(&p).unwrap(), a);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
