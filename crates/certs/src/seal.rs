//! Sealing of private keys at rest.
//!
//! Enforces: an issued private key is stored only as AES-256-GCM ciphertext under a 32-byte
//! service secret, with a fresh random 96-bit nonce per seal; any change to the sealed text or
//! use of another secret makes [`open`] fail instead of returning altered key material.
//! Format: base64 (standard, padded) of `nonce ‖ ciphertext ‖ tag`.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::{Error, Result};

/// Binds sealed blobs to their purpose and format version, so a blob sealed for something else
/// under the same secret does not open here.
const AAD: &[u8] = b"switchyard-certs/private-key/v1";

fn key(secret: &[u8; 32]) -> Result<LessSafeKey> {
    UnboundKey::new(&AES_256_GCM, secret)
        .map(LessSafeKey::new)
        .map_err(|_| Error::Crypto("AES-256-GCM key".into()))
}

/// Encrypts `key_pem` under `secret`. Fails only if the system RNG or the cipher fails.
pub fn seal(key_pem: &str, secret: &[u8; 32]) -> Result<String> {
    let key = key(secret)?;
    let mut nonce = [0u8; NONCE_LEN];
    SystemRandom::new()
        .fill(&mut nonce)
        .map_err(|_| Error::Crypto("random nonce".into()))?;
    let mut in_out = key_pem.as_bytes().to_vec();
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(AAD),
        &mut in_out,
    )
    .map_err(|_| Error::Crypto("AES-256-GCM seal".into()))?;
    let mut out = Vec::with_capacity(NONCE_LEN + in_out.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&in_out);
    Ok(STANDARD.encode(out))
}

/// Decrypts a value produced by [`seal`]. Any tampering, truncation or wrong secret gives
/// [`Error::Unseal`].
pub fn open(sealed: &str, secret: &[u8; 32]) -> Result<String> {
    let raw = STANDARD.decode(sealed.trim()).map_err(|_| Error::Unseal)?;
    let (nonce, ciphertext) = raw.split_at_checked(NONCE_LEN).ok_or(Error::Unseal)?;
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| Error::Unseal)?;
    let mut in_out = ciphertext.to_vec();
    let plain = key(secret)?
        .open_in_place(nonce, Aad::from(AAD), &mut in_out)
        .map_err(|_| Error::Unseal)?;
    String::from_utf8(plain.to_vec()).map_err(|_| Error::Unseal)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: [u8; 32] = [7u8; 32];
    const PEM: &str =
        "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49\n-----END PRIVATE KEY-----\n";

    #[test]
    fn round_trip() {
        let sealed = seal(PEM, &SECRET).unwrap();
        assert!(!sealed.contains("PRIVATE KEY"));
        assert_eq!(open(&sealed, &SECRET).unwrap(), PEM);
    }

    #[test]
    fn nonces_differ() {
        assert_ne!(seal(PEM, &SECRET).unwrap(), seal(PEM, &SECRET).unwrap());
    }

    #[test]
    fn tamper_and_wrong_secret_are_rejected() {
        let sealed = seal(PEM, &SECRET).unwrap();
        let mut raw = STANDARD.decode(&sealed).unwrap();
        for i in [0, NONCE_LEN, raw.len() - 1] {
            raw[i] ^= 0x01;
            assert!(matches!(
                open(&STANDARD.encode(&raw), &SECRET),
                Err(Error::Unseal)
            ));
            raw[i] ^= 0x01;
        }
        assert!(matches!(open(&sealed, &[8u8; 32]), Err(Error::Unseal)));
        assert!(matches!(open(&sealed[..10], &SECRET), Err(Error::Unseal)));
        assert!(matches!(open("", &SECRET), Err(Error::Unseal)));
        assert!(matches!(open("not base64!", &SECRET), Err(Error::Unseal)));
    }
}
