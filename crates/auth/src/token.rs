//! Access and refresh tokens (contract §2): JWTs with `sub`, `type`, `role`,
//! `verified`, `iss`, `iat`, `exp` and `jti`. The algorithm is pinned in validation,
//! expiry is checked against the injected clock, and a token of one type is never
//! accepted as the other.

use std::path::Path;

use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

pub const ISSUER: &str = "supermq.auth";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Access = 0,
    Refresh = 1,
    /// A password-reset token (sent by e-mail), good for one reset.
    Recovery = 2,
    /// A user's long-lived service credential (`POST /keys`), acting as the user.
    ApiKey = 3,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    #[serde(rename = "type")]
    pub kind: u8,
    pub role: u8,
    pub verified: bool,
    pub iat: i64,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// Refresh tokens: which refresh of the session this is, so each can be used once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rid: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("token expired")]
    Expired,
    #[error("invalid token")]
    Invalid,
    #[error("wrong token type")]
    WrongKind,
}

/// Signing material. `Debug` never prints key bytes.
pub enum KeyMaterial {
    /// Ed25519 private key as PKCS#8 DER.
    EdDsa {
        pkcs8: Vec<u8>,
    },
    Hmac {
        alg: Algorithm,
        secret: Vec<u8>,
    },
}

impl std::fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyMaterial::EdDsa { .. } => f.write_str("EdDsa(<redacted>)"),
            KeyMaterial::Hmac { alg, .. } => write!(f, "Hmac({alg:?}, <redacted>)"),
        }
    }
}

impl KeyMaterial {
    /// Loads the Ed25519 key at `path` (PKCS#8 PEM), creating it with mode 0600 if it
    /// does not exist.
    pub fn ed25519_from_file(path: &Path) -> Result<KeyMaterial, String> {
        if path.exists() {
            let pem = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
            let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
            let der = base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .map_err(|e| format!("{}: {e}", path.display()))?;
            aws_lc_rs::signature::Ed25519KeyPair::from_pkcs8(&der)
                .map_err(|e| format!("{}: not an Ed25519 PKCS#8 key: {e}", path.display()))?;
            return Ok(KeyMaterial::EdDsa { pkcs8: der });
        }
        let doc = aws_lc_rs::signature::Ed25519KeyPair::generate_pkcs8(
            &aws_lc_rs::rand::SystemRandom::new(),
        )
        .map_err(|e| e.to_string())?;
        let der = doc.as_ref().to_vec();
        let body = base64::engine::general_purpose::STANDARD.encode(&der);
        let pem = format!("-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n");
        write_private(path, pem.as_bytes())?;
        Ok(KeyMaterial::EdDsa { pkcs8: der })
    }

    pub fn hmac(alg: &str, secret: &str) -> Result<KeyMaterial, String> {
        let alg = match alg {
            "HS256" => Algorithm::HS256,
            "HS384" => Algorithm::HS384,
            "HS512" => Algorithm::HS512,
            other => return Err(format!("unsupported token algorithm {other}")),
        };
        if secret.len() < 16 {
            return Err("the HMAC token secret must be at least 16 bytes".into());
        }
        Ok(KeyMaterial::Hmac {
            alg,
            secret: secret.as_bytes().to_vec(),
        })
    }
}

/// Writes a secret file readable only by its owner.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), String> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    f.write_all(bytes).map_err(|e| e.to_string())
}

pub struct Tokenizer {
    /// Hex SHA-256 of what verifies tokens (the public key; for HMAC the algorithm and
    /// secret), so nodes can check they agree without sharing the key.
    fingerprint: String,
    alg: Algorithm,
    enc: EncodingKey,
    dec: DecodingKey,
    validation: Validation,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
}

impl Tokenizer {
    pub fn new(
        keys: &KeyMaterial,
        access_ttl: Duration,
        refresh_ttl: Duration,
    ) -> Result<Tokenizer, String> {
        use sha2::{Digest, Sha256};
        let hex = |b: &[u8]| -> String { b.iter().map(|x| format!("{x:02x}")).collect() };
        let fingerprint;
        let (alg, enc, dec) = match keys {
            KeyMaterial::EdDsa { pkcs8 } => {
                let pair = aws_lc_rs::signature::Ed25519KeyPair::from_pkcs8(pkcs8)
                    .map_err(|e| e.to_string())?;
                use aws_lc_rs::signature::KeyPair;
                let public = pair.public_key().as_ref().to_vec();
                fingerprint = hex(&Sha256::digest([b"EdDSA:".as_slice(), &public].concat()));
                (
                    Algorithm::EdDSA,
                    EncodingKey::from_ed_der(pkcs8),
                    DecodingKey::from_ed_der(&public),
                )
            }
            KeyMaterial::Hmac { alg, secret } => (
                {
                    let tag = format!("{alg:?}:");
                    fingerprint = hex(&Sha256::digest([tag.as_bytes(), secret].concat()));
                    *alg
                },
                EncodingKey::from_secret(secret),
                DecodingKey::from_secret(secret),
            ),
        };
        let mut validation = Validation::new(alg);
        validation.algorithms = vec![alg];
        // Expiry is checked against the injected clock below.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.set_required_spec_claims(&["exp", "iat", "sub", "iss"]);
        validation.set_issuer(&[ISSUER]);
        Ok(Tokenizer {
            fingerprint,
            alg,
            enc,
            dec,
            validation,
            access_ttl,
            refresh_ttl,
        })
    }

    /// Hex SHA-256 of the verification key (never the key itself).
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    pub fn issue(
        &self,
        kind: TokenKind,
        user: Uuid,
        role: u8,
        verified: bool,
        jti: Option<Uuid>,
        now: OffsetDateTime,
    ) -> Result<String, String> {
        self.issue_refresh(kind, user, role, verified, jti, None, now)
    }

    /// As [`Tokenizer::issue`], with the refresh id (`rid`) a refresh token carries.
    #[allow(clippy::too_many_arguments)]
    pub fn issue_refresh(
        &self,
        kind: TokenKind,
        user: Uuid,
        role: u8,
        verified: bool,
        jti: Option<Uuid>,
        rid: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<String, String> {
        let ttl = match kind {
            TokenKind::Refresh => self.refresh_ttl,
            _ => self.access_ttl,
        };
        self.issue_claims(kind, user, role, verified, jti, rid, now, ttl)
    }

    /// A password-reset token valid for `ttl`; `rid` binds it to the password it may
    /// replace, so it works once.
    pub fn issue_recovery(
        &self,
        user: Uuid,
        role: u8,
        rid: &str,
        now: OffsetDateTime,
        ttl: Duration,
    ) -> Result<String, String> {
        self.issue_claims(
            TokenKind::Recovery,
            user,
            role,
            false,
            None,
            Some(rid),
            now,
            ttl,
        )
    }

    /// An API key valid for `ttl`; its id is the `jti`.
    pub fn issue_key(
        &self,
        user: Uuid,
        role: u8,
        verified: bool,
        id: Uuid,
        now: OffsetDateTime,
        ttl: Duration,
    ) -> Result<String, String> {
        self.issue_claims(
            TokenKind::ApiKey,
            user,
            role,
            verified,
            Some(id),
            None,
            now,
            ttl,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn issue_claims(
        &self,
        kind: TokenKind,
        user: Uuid,
        role: u8,
        verified: bool,
        jti: Option<Uuid>,
        rid: Option<&str>,
        now: OffsetDateTime,
        ttl: Duration,
    ) -> Result<String, String> {
        let claims = Claims {
            iss: ISSUER.into(),
            sub: user.to_string(),
            kind: kind as u8,
            role,
            verified,
            iat: now.unix_timestamp(),
            exp: (now + ttl).unix_timestamp(),
            jti: jti.map(|j| j.to_string()),
            rid: rid.map(str::to_string),
        };
        jsonwebtoken::encode(&Header::new(self.alg), &claims, &self.enc).map_err(|e| e.to_string())
    }

    pub fn verify(
        &self,
        token: &str,
        kind: TokenKind,
        now: OffsetDateTime,
    ) -> Result<Claims, TokenError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.dec, &self.validation)
            .map_err(|_| TokenError::Invalid)?;
        let c = data.claims;
        if c.exp <= now.unix_timestamp() {
            return Err(TokenError::Expired);
        }
        if c.kind != kind as u8 {
            return Err(TokenError::WrongKind);
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tk() -> Tokenizer {
        let dir = std::env::temp_dir().join(format!("sy-tok-{}", Uuid::new_v4()));
        let keys = KeyMaterial::ed25519_from_file(&dir.join("k.pem")).unwrap();
        // Reloading the same file works.
        KeyMaterial::ed25519_from_file(&dir.join("k.pem")).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        Tokenizer::new(&keys, Duration::hours(1), Duration::hours(24)).unwrap()
    }

    #[test]
    fn issue_verify_expire_tamper() {
        let t = tk();
        let now = OffsetDateTime::now_utc();
        let u = Uuid::new_v4();
        let a = t.issue(TokenKind::Access, u, 1, false, None, now).unwrap();
        let c = t.verify(&a, TokenKind::Access, now).unwrap();
        assert_eq!(c.sub, u.to_string());
        assert_eq!(c.iss, ISSUER);
        assert_eq!(
            t.verify(&a, TokenKind::Refresh, now),
            Err(TokenError::WrongKind)
        );
        assert_eq!(
            t.verify(&a, TokenKind::Access, now + Duration::hours(2)),
            Err(TokenError::Expired)
        );
        let mut bad = a.clone();
        bad.pop();
        bad.push(if a.ends_with('A') { 'B' } else { 'A' });
        assert_eq!(
            t.verify(&bad, TokenKind::Access, now),
            Err(TokenError::Invalid)
        );
        // A token signed with other keys is refused.
        let other = tk()
            .issue(TokenKind::Access, u, 1, false, None, now)
            .unwrap();
        assert_eq!(
            t.verify(&other, TokenKind::Access, now),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn hmac() {
        let k = KeyMaterial::hmac("HS512", "a-very-long-secret-value").unwrap();
        let t = Tokenizer::new(&k, Duration::hours(1), Duration::hours(24)).unwrap();
        let now = OffsetDateTime::now_utc();
        let r = t
            .issue(
                TokenKind::Refresh,
                Uuid::new_v4(),
                2,
                true,
                Some(Uuid::new_v4()),
                now,
            )
            .unwrap();
        assert!(t.verify(&r, TokenKind::Refresh, now).unwrap().jti.is_some());
        assert!(KeyMaterial::hmac("HS999", "x").is_err());
    }
}
