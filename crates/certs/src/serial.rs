//! Serial numbers: random 128-bit positive integers, written as lowercase hex.

use aws_lc_rs::rand::{SecureRandom, SystemRandom};

use crate::{Error, Result};

/// Longest serial RFC 5280 lets a CA use (20 octets).
const MAX_SERIAL_LEN: usize = 20;

/// A fresh serial: 16 random bytes with the top bit cleared (so the DER INTEGER is positive
/// without a padding byte) and a non-zero first byte (so the encoding keeps all 16 bytes and
/// the hex form is always 32 digits and round-trips exactly through a parsed certificate).
pub(crate) fn random_serial(rng: &SystemRandom) -> Result<[u8; 16]> {
    let mut bytes = [0u8; 16];
    rng.fill(&mut bytes)
        .map_err(|_| Error::Crypto("random serial".into()))?;
    bytes[0] &= 0x7f;
    if bytes[0] == 0 {
        bytes[0] = 1;
    }
    Ok(bytes)
}

/// Canonical hex of a DER INTEGER's content octets: leading zero bytes (sign padding) dropped.
pub(crate) fn to_hex(raw: &[u8]) -> String {
    let start = raw.iter().position(|b| *b != 0).unwrap_or(raw.len());
    let trimmed = raw.get(start..).unwrap_or_default();
    if trimmed.is_empty() {
        return "00".to_owned();
    }
    trimmed.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses a serial written as hex, with or without `:` separators (OpenBao style), in either
/// case. Returns the magnitude bytes without leading zeros.
pub(crate) fn from_hex(text: &str) -> Result<Vec<u8>> {
    let digits: Vec<u8> = text.bytes().filter(|b| *b != b':').collect();
    if digits.is_empty() {
        return Err(Error::InvalidInput("empty serial number".into()));
    }
    let value = |d: u8| -> Result<u8> {
        (d as char)
            .to_digit(16)
            .and_then(|v| u8::try_from(v).ok())
            .ok_or_else(|| Error::InvalidInput(format!("serial number {text:?} is not hex")))
    };
    // An odd digit count means an implicit leading zero.
    let mut padded = Vec::with_capacity(digits.len() + 1);
    if digits.len() % 2 == 1 {
        padded.push(b'0');
    }
    padded.extend_from_slice(&digits);
    let mut bytes = Vec::with_capacity(padded.len() / 2);
    for pair in padded.chunks_exact(2) {
        let [hi, lo] = pair else { continue };
        bytes.push(value(*hi)? << 4 | value(*lo)?);
    }
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    let bytes = bytes.split_off(start);
    if bytes.is_empty() {
        return Err(Error::InvalidInput("serial number is zero".into()));
    }
    if bytes.len() > MAX_SERIAL_LEN {
        return Err(Error::InvalidInput(
            "serial number longer than 20 bytes".into(),
        ));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_serials_are_positive_full_length_and_round_trip() {
        let rng = SystemRandom::new();
        for _ in 0..200 {
            let s = random_serial(&rng).unwrap();
            assert!(s[0] != 0 && s[0] < 0x80);
            let hex = to_hex(&s);
            assert_eq!(hex.len(), 32);
            assert_eq!(from_hex(&hex).unwrap(), s.to_vec());
        }
    }

    #[test]
    fn hex_forms() {
        assert_eq!(from_hex("0A:ff").unwrap(), vec![0x0a, 0xff]);
        assert_eq!(from_hex("abc").unwrap(), vec![0x0a, 0xbc]);
        assert_eq!(to_hex(&[0x00, 0x80, 0x01]), "8001");
        assert!(from_hex("").is_err());
        assert!(from_hex("::").is_err());
        assert!(from_hex("00").is_err());
        assert!(from_hex("zz").is_err());
        assert!(from_hex(&"11".repeat(21)).is_err());
    }
}
