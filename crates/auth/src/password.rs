//! Password hashing with Argon2id (default parameters). Hashing is CPU-bound: callers
//! on the async runtime run it on their own threads.
//!
//! Each hash works in a memory area of ~19 MiB. [`hash`] and [`verify`] take it from a
//! per-thread buffer that is kept and reused: allocating and freeing it per call made
//! glibc's malloc keep the freed areas (its mmap threshold rises after the first free),
//! so a burst of logins left hundreds of MiB resident.

use std::cell::RefCell;

use argon2::{
    Algorithm, Argon2, Block, Params, PasswordHash, Version,
    password_hash::phc::{Output, ParamsString, Salt},
};
use rand::RngCore;
use subtle::ConstantTimeEq;

thread_local! {
    static MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Runs Argon2 with `params` into `out`, in this thread's reusable memory.
fn argon2_into(
    argon: &Argon2<'_>,
    params: &Params,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> Result<(), String> {
    MEMORY.with(|m| {
        let mut blocks = m.borrow_mut();
        let need = params.block_count();
        if blocks.len() < need {
            blocks.resize(need, Block::default());
        }
        argon
            .hash_password_into_with_memory(password, salt, out, &mut blocks[..need])
            .map_err(|e| e.to_string())
    })
}

pub fn hash(password: &str) -> Result<String, String> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let params = Params::default();
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    argon2_into(&argon, &params, password.as_bytes(), &salt, &mut out)?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| e.to_string())?,
        salt: Some(Salt::new(&salt).map_err(|e| e.to_string())?),
        hash: Some(Output::new(&out).map_err(|e| e.to_string())?),
    };
    Ok(phc.to_string())
}

/// Constant-time verification of `password` against a PHC string.
pub fn verify(password: &str, hash: &str) -> bool {
    let Ok(ph) = PasswordHash::new(hash) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (ph.salt.as_ref(), ph.hash.as_ref()) else {
        return false;
    };
    let Ok(params) = Params::try_from(&ph) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(ph.algorithm.as_str()) else {
        return false;
    };
    let version = match ph.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let argon = Argon2::new(algorithm, version, params.clone());
    let mut out = vec![0u8; expected.as_bytes().len()];
    if argon2_into(
        &argon,
        &params,
        password.as_bytes(),
        salt.as_ref(),
        &mut out,
    )
    .is_err()
    {
        return false;
    }
    out.ct_eq(expected.as_bytes()).into()
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

    /// Hashes stored before (made by the library itself) still verify, and ours verify
    /// with the library: the same PHC strings either way.
    #[test]
    fn compatible_with_the_library() {
        use argon2::{Argon2, PasswordHasher, PasswordVerifier};
        let theirs = Argon2::default()
            .hash_password_with_salt(b"12345678", b"0123456789abcdef")
            .unwrap()
            .to_string();
        assert!(super::verify("12345678", &theirs));
        assert!(!super::verify("wrong", &theirs));
        let ours = super::hash("12345678").unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"12345678", ours.as_str())
                .is_ok()
        );
    }
}
