//! Validation rules of contract §1.10.

use uuid::Uuid;

use crate::Invalid;

pub const MAX_NAME_BYTES: usize = 1024;

/// `first` then up to `max_rest` of ASCII letters, digits, `_` and `-`.
fn slug(s: &str, first: impl Fn(u8) -> bool, max_rest: usize) -> bool {
    match s.as_bytes() {
        [f, rest @ ..] => {
            first(*f)
                && rest.len() <= max_rest
                && rest
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-')
        }
        [] => false,
    }
}

pub fn name(n: &str) -> Result<(), Invalid> {
    if n.len() > MAX_NAME_BYTES {
        return Err(Invalid("invalid name size"));
    }
    no_nul(n)
}

/// Most tags one entity carries.
pub const MAX_TAGS: usize = 100;

/// Tags: at most [`MAX_TAGS`], each at most [`MAX_NAME_BYTES`], no NUL.
pub fn tags(t: &[String]) -> Result<(), Invalid> {
    if t.len() > MAX_TAGS {
        return Err(Invalid("too many tags"));
    }
    for x in t {
        if x.len() > MAX_NAME_BYTES {
            return Err(Invalid("invalid tag size"));
        }
        no_nul(x)?;
    }
    Ok(())
}

/// Free text (descriptions, secrets chosen by the caller): at most
/// [`MAX_NAME_BYTES`], no NUL.
pub fn text(s: &str) -> Result<(), Invalid> {
    if s.len() > MAX_NAME_BYTES {
        return Err(Invalid("value longer than 1024 bytes"));
    }
    no_nul(s)
}

/// A NUL byte would be cut off by some clients and stores: refused everywhere.
pub fn no_nul(s: &str) -> Result<(), Invalid> {
    if s.contains('\0') {
        return Err(Invalid("malformed entity specification"));
    }
    Ok(())
}

/// An identifier chosen by a client (a gateway's external id): at most
/// [`MAX_NAME_BYTES`], no NUL.
pub fn external_id(s: &str) -> Result<(), Invalid> {
    if s.len() > MAX_NAME_BYTES {
        return Err(Invalid("invalid external id size"));
    }
    no_nul(s)
}

pub fn username(u: &str) -> Result<(), Invalid> {
    if u.is_empty() {
        return Err(Invalid("missing identity"));
    }
    if !slug(u, |b| b.is_ascii_alphanumeric(), 31)
        || u.contains("__")
        || u.contains("--")
        || email(u).is_ok()
    {
        return Err(Invalid("invalid username"));
    }
    Ok(())
}

pub fn email(e: &str) -> Result<(), Invalid> {
    if e.is_empty() {
        return Err(Invalid("missing email"));
    }
    if email_address::EmailAddress::parse_with_options(e, email_address::Options::default())
        .is_err()
        || !e.contains('@')
    {
        return Err(Invalid("invalid email"));
    }
    Ok(())
}

/// Channel route: `^[a-zA-Z][a-zA-Z0-9_-]{0,35}$`, no `__`/`--`, never a UUID.
pub fn channel_route(r: &str) -> Result<(), Invalid> {
    if !slug(r, |b| b.is_ascii_alphabetic(), 35)
        || r.contains("__")
        || r.contains("--")
        || Uuid::parse_str(r).is_ok()
    {
        return Err(Invalid("invalid route format"));
    }
    Ok(())
}

/// Domain route: required; a UUID or the channel-route form.
pub fn domain_route(r: &str) -> Result<(), Invalid> {
    if r.is_empty() {
        return Err(Invalid("missing route"));
    }
    if Uuid::parse_str(r).is_ok() {
        return Ok(());
    }
    channel_route(r).map_err(|_| Invalid("invalid route format"))
}

/// An explicit id on create must be a canonical lowercase UUID.
pub fn explicit_id(id: &str) -> Result<Uuid, Invalid> {
    let u = Uuid::parse_str(id).map_err(|_| Invalid("invalid id format provided"))?;
    if u.hyphenated().to_string() != id {
        return Err(Invalid("invalid id format provided"));
    }
    Ok(u)
}

/// The id a create request names (checked as [`explicit_id`]), or a new one when it
/// names none or an empty one.
pub fn explicit_id_or_new(id: Option<&str>) -> Result<Uuid, Invalid> {
    match id {
        None | Some("") => Ok(Uuid::now_v7()),
        Some(s) => explicit_id(s),
    }
}

pub fn parse_id(id: &str) -> Result<Uuid, Invalid> {
    if id.is_empty() {
        return Err(Invalid("missing entity id"));
    }
    Uuid::parse_str(id).map_err(|_| Invalid("invalid id format provided"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        assert!(username("janedoe").is_ok());
        assert!(username("a_b-c9").is_ok());
        assert!(username("_x").is_err());
        assert!(username("a__b").is_err());
        assert!(username("jane@example.com").is_err());
        assert!(username(&"a".repeat(33)).is_err());
    }

    #[test]
    fn routes() {
        assert!(channel_route("room-1").is_ok());
        assert!(channel_route("1room").is_err());
        assert!(channel_route("a--b").is_err());
        assert!(domain_route("6f1f6a2e-6d8f-4f3c-9d4c-0e0b4b5c2a11").is_ok());
        assert!(domain_route("").is_err());
    }

    #[test]
    fn ids() {
        assert!(explicit_id("6f1f6a2e-6d8f-4f3c-9d4c-0e0b4b5c2a11").is_ok());
        assert!(explicit_id("6F1F6A2E-6D8F-4F3C-9D4C-0E0B4B5C2A11").is_err());
        assert!(parse_id("").is_err());
    }
}
