//! Password hashing with Argon2id (default parameters). Hashing is CPU-bound: callers
//! on the async runtime run it in `spawn_blocking`.

use argon2::{
    Argon2,
    password_hash::{PasswordHasher, PasswordVerifier},
};
use rand::RngCore;

pub fn hash(password: &str) -> Result<String, String> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    Argon2::default()
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Constant-time verification (the comparison inside argon2 is constant-time).
pub fn verify(password: &str, hash: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), hash)
        .is_ok()
}

/// A strong random password for the seeded super-admin.
pub fn generate() -> String {
    use base64::Engine;
    let mut b = [0u8; 18];
    rand::rng().fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

#[cfg(test)]
mod tests {
    #[test]
    fn roundtrip() {
        let h = super::hash("12345678").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(super::verify("12345678", &h));
        assert!(!super::verify("12345679", &h));
        assert!(!super::verify("x", "not a hash"));
    }
}
