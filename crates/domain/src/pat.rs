//! Personal access tokens (PATs): a user's scoped automation credential. A PAT acts as
//! its user, limited to its scopes; each scope names an entity type, an operation, an
//! optional domain and `*` or one entity id.

use uuid::Uuid;

use crate::{Invalid, Timestamp};

/// A PAT as stored. The secret is kept only as its SHA-256 digest.
#[derive(Debug, Clone, PartialEq)]
pub struct Pat {
    pub id: Uuid,
    pub user_id: Uuid,
    pub name: String,
    pub description: String,
    /// Hex SHA-256 of the secret (`pat_…`), which is shown once.
    pub secret_hash: String,
    pub issued_at: Timestamp,
    pub expires_at: Timestamp,
    pub updated_at: Option<Timestamp>,
    pub last_used_at: Option<Timestamp>,
    pub revoked: bool,
    pub revoked_at: Option<Timestamp>,
}

impl Pat {
    /// `active`, `revoked` or `expired` at `now`.
    pub fn status(&self, now: Timestamp) -> &'static str {
        if self.revoked {
            "revoked"
        } else if self.expires_at <= now {
            "expired"
        } else {
            "active"
        }
    }
}

/// An API key (`POST /keys`): a long-lived signed token of type 3 that acts as the user
/// who issued it, for services (as `MG_PROVISION_API_KEY`). Only its record is stored;
/// the token itself is shown once.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiKey {
    pub id: Uuid,
    pub issuer_id: Uuid,
    pub subject: String,
    pub issued_at: Timestamp,
    pub expires_at: Timestamp,
    pub revoked: bool,
}

/// The entity types a scope can name (the contract's enum).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScopeEntity {
    Groups,
    Channels,
    Clients,
    Domains,
    Users,
    Dashboards,
    Messages,
}

impl ScopeEntity {
    pub const ALL: [ScopeEntity; 7] = [
        ScopeEntity::Groups,
        ScopeEntity::Channels,
        ScopeEntity::Clients,
        ScopeEntity::Domains,
        ScopeEntity::Users,
        ScopeEntity::Dashboards,
        ScopeEntity::Messages,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            ScopeEntity::Groups => "groups",
            ScopeEntity::Channels => "channels",
            ScopeEntity::Clients => "clients",
            ScopeEntity::Domains => "domains",
            ScopeEntity::Users => "users",
            ScopeEntity::Dashboards => "dashboards",
            ScopeEntity::Messages => "messages",
        }
    }
    pub fn parse(s: &str) -> Result<ScopeEntity, Invalid> {
        ScopeEntity::ALL
            .into_iter()
            .find(|e| e.as_str() == s)
            .ok_or(Invalid("invalid entity type"))
    }
    /// Whether scopes of this type live in a domain (users do not).
    pub fn in_domain(self) -> bool {
        self != ScopeEntity::Users
    }
}

/// The operations a scope can allow (the contract's enum).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScopeOp {
    Create,
    Read,
    List,
    Update,
    Delete,
    Share,
    Unshare,
    Publish,
    Subscribe,
}

impl ScopeOp {
    pub const ALL: [ScopeOp; 9] = [
        ScopeOp::Create,
        ScopeOp::Read,
        ScopeOp::List,
        ScopeOp::Update,
        ScopeOp::Delete,
        ScopeOp::Share,
        ScopeOp::Unshare,
        ScopeOp::Publish,
        ScopeOp::Subscribe,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            ScopeOp::Create => "create",
            ScopeOp::Read => "read",
            ScopeOp::List => "list",
            ScopeOp::Update => "update",
            ScopeOp::Delete => "delete",
            ScopeOp::Share => "share",
            ScopeOp::Unshare => "unshare",
            ScopeOp::Publish => "publish",
            ScopeOp::Subscribe => "subscribe",
        }
    }
    pub fn parse(s: &str) -> Result<ScopeOp, Invalid> {
        ScopeOp::ALL
            .into_iter()
            .find(|o| o.as_str() == s)
            .ok_or(Invalid("invalid operation"))
    }
}

/// One entity id, or every entity of the type (`*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScopeTarget {
    Any,
    One(Uuid),
}

impl ScopeTarget {
    pub fn parse(s: &str) -> Result<ScopeTarget, Invalid> {
        match s {
            "*" => Ok(ScopeTarget::Any),
            id => Uuid::parse_str(id)
                .map(ScopeTarget::One)
                .map_err(|_| Invalid("invalid entity id: use \"*\" or an entity's id")),
        }
    }
    pub fn as_string(self) -> String {
        match self {
            ScopeTarget::Any => "*".into(),
            ScopeTarget::One(id) => id.to_string(),
        }
    }
}

/// One permission of a PAT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PatScope {
    pub id: Uuid,
    pub pat_id: Uuid,
    /// `None`: any domain (and the only choice for `users`).
    pub domain: Option<Uuid>,
    pub entity_type: ScopeEntity,
    pub entity: ScopeTarget,
    pub operation: ScopeOp,
}

impl PatScope {
    /// Whether this scope allows `op` on `entity_type` in `domain` (`None`: not in a
    /// domain), on entity `id` (`None`: no single entity, as for a list or a create,
    /// which only a `*` scope allows).
    pub fn allows(
        &self,
        entity_type: ScopeEntity,
        op: ScopeOp,
        domain: Option<Uuid>,
        id: Option<Uuid>,
    ) -> bool {
        let domain_ok = match (self.domain, domain) {
            (None, _) => true,
            (Some(s), Some(d)) => s == d,
            (Some(_), None) => false,
        };
        let entity_ok = match (self.entity, id) {
            (ScopeTarget::Any, _) => true,
            (ScopeTarget::One(s), Some(i)) => s == i,
            (ScopeTarget::One(_), None) => false,
        };
        self.entity_type == entity_type && self.operation == op && domain_ok && entity_ok
    }
}

/// Parses a PAT duration: one or more `<digits><unit>` with unit `ns`, `us`, `µs`, `ms`,
/// `s`, `m`, `h`, `d`, `w` or `y` (365 days), as `30d` or `1h30m`.
pub fn parse_duration(s: &str) -> Result<time::Duration, Invalid> {
    const BAD: Invalid = Invalid("invalid duration: use a number and a unit, as 30d or 24h");
    let mut total = time::Duration::ZERO;
    let mut rest = s.trim();
    if rest.is_empty() {
        return Err(BAD);
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(BAD);
        }
        let n: i64 = rest[..digits].parse().map_err(|_| BAD)?;
        rest = &rest[digits..];
        let units: [(&str, time::Duration); 10] = [
            ("ns", time::Duration::NANOSECOND),
            ("us", time::Duration::MICROSECOND),
            ("µs", time::Duration::MICROSECOND),
            ("ms", time::Duration::MILLISECOND),
            ("s", time::Duration::SECOND),
            ("m", time::Duration::MINUTE),
            ("h", time::Duration::HOUR),
            ("d", time::Duration::DAY),
            ("w", time::Duration::WEEK),
            ("y", time::Duration::days(365)),
        ];
        let (unit, len) = units.iter().find(|(u, _)| rest.starts_with(u)).ok_or(BAD)?;
        rest = &rest[unit.len()..];
        let part = len
            .checked_mul(i32::try_from(n).map_err(|_| BAD)?)
            .ok_or(BAD)?;
        total = total.checked_add(part).ok_or(BAD)?;
    }
    if total <= time::Duration::ZERO {
        return Err(Invalid("invalid duration: it must be positive"));
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30d").unwrap(), time::Duration::days(30));
        assert_eq!(parse_duration("1y").unwrap(), time::Duration::days(365));
        assert_eq!(
            parse_duration("1h30m").unwrap(),
            time::Duration::minutes(90)
        );
        assert_eq!(
            parse_duration("1500ms").unwrap(),
            time::Duration::milliseconds(1500)
        );
        for bad in ["", "30", "d", "-1d", "1x", "0s", "1.5h", "99999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn scope_matching() {
        let d = Uuid::from_u128(1);
        let other = Uuid::from_u128(2);
        let e = Uuid::from_u128(3);
        let s = PatScope {
            id: Uuid::nil(),
            pat_id: Uuid::nil(),
            domain: Some(d),
            entity_type: ScopeEntity::Clients,
            entity: ScopeTarget::Any,
            operation: ScopeOp::Read,
        };
        assert!(s.allows(ScopeEntity::Clients, ScopeOp::Read, Some(d), Some(e)));
        assert!(s.allows(ScopeEntity::Clients, ScopeOp::Read, Some(d), None));
        assert!(!s.allows(ScopeEntity::Clients, ScopeOp::Read, Some(other), Some(e)));
        assert!(!s.allows(ScopeEntity::Clients, ScopeOp::Read, None, None));
        assert!(!s.allows(ScopeEntity::Clients, ScopeOp::Update, Some(d), Some(e)));
        assert!(!s.allows(ScopeEntity::Channels, ScopeOp::Read, Some(d), Some(e)));
        let one = PatScope {
            entity: ScopeTarget::One(e),
            domain: None,
            ..s
        };
        assert!(one.allows(ScopeEntity::Clients, ScopeOp::Read, Some(other), Some(e)));
        assert!(!one.allows(ScopeEntity::Clients, ScopeOp::Read, Some(d), Some(other)));
        assert!(!one.allows(ScopeEntity::Clients, ScopeOp::Read, Some(d), None));
    }
}
