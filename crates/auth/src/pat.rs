//! PAT secrets: `pat_<id>_<random>`. The id (32 hex digits) finds the token with one
//! lookup; the random part is 32 bytes from the OS generator. Only the SHA-256 digest is
//! stored: the secret is random, so a slow password hash would add nothing but cost.

use base64::Engine;
use rand::TryRngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use uuid::Uuid;

pub const PREFIX: &str = "pat_";

/// A new secret for PAT `id` and its digest (hex).
pub fn new_secret(id: Uuid) -> Result<(String, String), String> {
    let mut b = [0u8; 32];
    rand::rngs::OsRng
        .try_fill_bytes(&mut b)
        .map_err(|e| format!("random: {e}"))?;
    let random = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let secret = format!("{PREFIX}{}_{random}", id.simple());
    let hash = digest(&secret);
    Ok((secret, hash))
}

/// The PAT id a secret names, if it has the shape of one.
pub fn secret_id(secret: &str) -> Option<Uuid> {
    let rest = secret.strip_prefix(PREFIX)?;
    let (id, random) = rest.split_once('_')?;
    if id.len() != 32 || random.is_empty() {
        return None;
    }
    Uuid::try_parse(id).ok()
}

/// Hex SHA-256 of a secret.
pub fn digest(secret: &str) -> String {
    let d = Sha256::digest(secret.as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `secret` hashes to `hash`, compared in constant time.
pub fn matches(secret: &str, hash: &str) -> bool {
    digest(secret).as_bytes().ct_eq(hash.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_name_their_token_and_match_only_themselves() {
        let id = Uuid::new_v4();
        let (s, h) = new_secret(id).unwrap();
        assert!(s.starts_with("pat_"));
        assert_eq!(secret_id(&s), Some(id));
        assert!(matches(&s, &h));
        let (s2, h2) = new_secret(id).unwrap();
        assert_ne!(s, s2);
        assert!(!matches(&s, &h2));
        assert!(!matches(&s2, &h));
        assert_eq!(secret_id("pat_"), None);
        assert_eq!(secret_id("pat_xyz_abc"), None);
        assert_eq!(secret_id(&format!("pat_{}_", id.simple())), None);
        assert_eq!(secret_id("eyJhbGciOi.x.y"), None);
    }
}
