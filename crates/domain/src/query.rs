//! List queries (contract §1.7, §1.8) and their parsing from raw query pairs.
//! Parsing is strict: a duplicated key, a negative or non-numeric number, a bad
//! status or a malformed metadata object is refused with the contract's message.

use std::collections::HashMap;

use uuid::Uuid;

use crate::{ConnectionType, Invalid, Metadata, Status, Timestamp};

pub const MAX_LIMIT: u64 = 100;
/// Largest `offset` (the stores count in signed 64 bits).
pub const MAX_OFFSET: u64 = i64::MAX as u64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    Name,
    CreatedAt,
    #[default]
    UpdatedAt,
    // users only
    FirstName,
    LastName,
    Username,
    Email,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Dir {
    Asc,
    #[default]
    Desc,
}

/// Which statuses a list shows. Default: enabled only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StatusFilter {
    #[default]
    Enabled,
    Disabled,
    Frozen,
    Deleted,
    /// Everything but deleted.
    All,
}

impl StatusFilter {
    pub fn parse(s: &str, allow_frozen: bool) -> Result<StatusFilter, Invalid> {
        match s.to_ascii_lowercase().as_str() {
            "enabled" => Ok(StatusFilter::Enabled),
            "disabled" => Ok(StatusFilter::Disabled),
            "deleted" => Ok(StatusFilter::Deleted),
            "all" => Ok(StatusFilter::All),
            "freezed" | "frozen" if allow_frozen => Ok(StatusFilter::Frozen),
            _ => Err(Invalid("invalid status")),
        }
    }
    /// The status codes this filter admits.
    pub fn codes(self) -> &'static [i16] {
        match self {
            StatusFilter::Enabled => &[0],
            StatusFilter::Disabled => &[1],
            StatusFilter::Frozen => &[2],
            StatusFilter::Deleted => &[3],
            StatusFilter::All => &[0, 1, 2],
        }
    }
    pub fn admits(self, s: Status) -> bool {
        self.codes().contains(&s.code())
    }
}

/// `a,b` means any of; `a+b` (sent as `%2B`) means all of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagFilter {
    Any(Vec<String>),
    All(Vec<String>),
}

impl TagFilter {
    pub fn parse(s: &str) -> Option<TagFilter> {
        let s = s.trim();
        if s.is_empty() {
            return None;
        }
        if s.contains('+') {
            Some(TagFilter::All(split_list(s, '+')))
        } else {
            Some(TagFilter::Any(split_list(s, ',')))
        }
    }
    pub fn matches(&self, tags: &[String]) -> bool {
        match self {
            TagFilter::Any(want) => want.iter().any(|w| tags.contains(w)),
            TagFilter::All(want) => want.iter().all(|w| tags.contains(w)),
        }
    }
}

fn split_list(s: &str, sep: char) -> Vec<String> {
    s.split(sep)
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .collect()
}

/// Filters shared by every entity list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PageQuery {
    pub offset: u64,
    pub limit: u64,
    pub order: Order,
    pub dir: Dir,
    pub status: StatusFilter,
    pub name: Option<String>,
    pub metadata: Option<Metadata>,
    pub tags: Option<TagFilter>,
    pub id: Option<String>,
    pub only_total: bool,
    pub created_from: Option<Timestamp>,
    pub created_to: Option<Timestamp>,
}

/// Client and channel listing: the shared filters plus connection filters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EntityQuery {
    pub page: PageQuery,
    /// Clients connected to this channel (client listing).
    pub channel: Option<Uuid>,
    /// Channels this client is connected to (channel listing).
    pub client: Option<Uuid>,
    pub connection_type: Option<ConnectionType>,
    /// Entities whose parent group is this one (`Some(None)`: with no parent group).
    pub group: Option<Option<Uuid>>,
    /// Visibility restriction set by core: only what this reader may read.
    pub reader: Option<crate::Reader>,
}

/// Group listing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GroupQuery {
    pub page: PageQuery,
    /// Only groups without a parent.
    pub root_only: bool,
    /// Only direct children of this group.
    pub parent: Option<Uuid>,
    /// Visibility restriction set by core.
    pub reader: Option<crate::Reader>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserQuery {
    pub page: PageQuery,
    pub username: Option<String>,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct DomainQuery {
    pub page: PageQuery,
    /// Only domains this user is a member of (unset for the super-admin).
    pub member: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct InvitationQuery {
    pub offset: u64,
    pub limit: u64,
    pub domain_id: Option<Uuid>,
    pub invitee_user_id: Option<Uuid>,
    pub invited_by: Option<Uuid>,
    pub state: crate::InvitationState,
    pub only_total: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub total: u64,
    pub offset: u64,
    pub limit: u64,
    pub items: Vec<T>,
}

const BAD_QUERY: Invalid = Invalid("invalid query parameters");

/// Raw query pairs with the contract's strictness: a key given twice is an error.
pub struct QueryParams(HashMap<String, String>);

impl QueryParams {
    pub fn from_pairs<I, K, V>(pairs: I) -> Result<QueryParams, Invalid>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let mut map = HashMap::new();
        for (k, v) in pairs {
            if map.insert(k.into(), v.into()).is_some() {
                return Err(BAD_QUERY);
            }
        }
        Ok(QueryParams(map))
    }

    pub fn str(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// A non-empty string value.
    pub fn text(&self, key: &str) -> Option<String> {
        self.str(key)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    }

    pub fn u64(&self, key: &str, default: u64) -> Result<u64, Invalid> {
        match self.str(key) {
            None | Some("") => Ok(default),
            Some(v) => v.trim().parse::<u64>().map_err(|_| BAD_QUERY),
        }
    }

    /// `offset`, at most [`MAX_OFFSET`].
    pub fn offset(&self) -> Result<u64, Invalid> {
        let o = self.u64("offset", 0)?;
        if o > MAX_OFFSET {
            return Err(Invalid("invalid offset"));
        }
        Ok(o)
    }

    pub fn bool(&self, key: &str) -> Result<bool, Invalid> {
        match self.str(key) {
            None | Some("") => Ok(false),
            Some("1" | "t" | "T" | "true" | "TRUE" | "True") => Ok(true),
            Some("0" | "f" | "F" | "false" | "FALSE" | "False") => Ok(false),
            Some(_) => Err(BAD_QUERY),
        }
    }

    pub fn uuid(&self, key: &str) -> Result<Option<Uuid>, Invalid> {
        match self.text(key) {
            None => Ok(None),
            Some(v) => Uuid::parse_str(&v)
                .map(Some)
                .map_err(|_| Invalid("invalid id format provided")),
        }
    }

    pub fn time(&self, key: &str) -> Result<Option<Timestamp>, Invalid> {
        match self.text(key) {
            None => Ok(None),
            Some(v) => Timestamp::parse(&v, &time::format_description::well_known::Rfc3339)
                .map(Some)
                .map_err(|_| BAD_QUERY),
        }
    }

    /// The shared page filters. `max_limit` is `None` where the contract leaves the
    /// limit unbounded.
    pub fn page(&self, max_limit: Option<u64>, user_orders: bool) -> Result<PageQuery, Invalid> {
        self.page_with(max_limit, user_orders, false)
    }

    /// As [`QueryParams::page`]; `allow_frozen` for domains, which can be frozen.
    fn page_with(
        &self,
        max_limit: Option<u64>,
        user_orders: bool,
        allow_frozen: bool,
    ) -> Result<PageQuery, Invalid> {
        let offset = self.offset()?;
        let limit = self.u64("limit", 10)?;
        if let Some(max) = max_limit
            && (limit < 1 || limit > max)
        {
            return Err(Invalid("invalid limit size"));
        }
        let order = match self.text("order").as_deref() {
            None => Order::UpdatedAt,
            Some("name") if !user_orders => Order::Name,
            Some("created_at") => Order::CreatedAt,
            Some("updated_at") => Order::UpdatedAt,
            Some("first_name") if user_orders => Order::FirstName,
            Some("last_name") if user_orders => Order::LastName,
            Some("username") if user_orders => Order::Username,
            Some("email") if user_orders => Order::Email,
            Some(_) => return Err(Invalid("invalid list order provided")),
        };
        let dir = match self.text("dir").map(|d| d.to_ascii_lowercase()).as_deref() {
            None | Some("desc") => Dir::Desc,
            Some("asc") => Dir::Asc,
            Some(_) => return Err(Invalid("invalid list direction provided")),
        };
        let status = match self.text("status") {
            None => StatusFilter::Enabled,
            Some(s) => StatusFilter::parse(&s, allow_frozen)?,
        };
        let metadata = match self.text("metadata") {
            None => None,
            Some(m) => match serde_json::from_str::<serde_json::Value>(&m) {
                Ok(serde_json::Value::Object(o)) => Some(o),
                _ => return Err(BAD_QUERY),
            },
        };
        Ok(PageQuery {
            offset,
            limit,
            order,
            dir,
            status,
            name: self.text("name"),
            metadata,
            tags: self.str("tags").and_then(TagFilter::parse),
            id: self.text("id"),
            only_total: self.bool("only_total")?,
            created_from: self.time("created_from")?,
            created_to: self.time("created_to")?,
        })
    }

    pub fn entity_query(&self) -> Result<EntityQuery, Invalid> {
        let page = self.page(Some(MAX_LIMIT), false)?;
        let connection_type = match self.text("connection_type") {
            None => None,
            Some(t) => Some(ConnectionType::parse(&t)?),
        };
        Ok(EntityQuery {
            page,
            channel: self.uuid("channel")?,
            client: self.uuid("client")?,
            connection_type,
            group: self.group_filter("group")?,
            reader: None,
        })
    }

    /// `group=<id>`: children of that group; `group=` present but empty: no parent.
    fn group_filter(&self, key: &str) -> Result<Option<Option<Uuid>>, Invalid> {
        match self.str(key) {
            None => Ok(None),
            Some(v) if v.trim().is_empty() => Ok(Some(None)),
            Some(_) => Ok(Some(self.uuid(key)?)),
        }
    }

    /// Group listing: the shared filters plus `root_group` and the `group` subtree.
    pub fn group_query(&self) -> Result<GroupQuery, Invalid> {
        let page = self.page(Some(MAX_LIMIT), false)?;
        if self.str("user").is_some() && self.str("group").is_some() {
            return Err(BAD_QUERY);
        }
        Ok(GroupQuery {
            page,
            root_only: self.bool("root_group")?,
            parent: self.uuid("group")?,
            reader: None,
        })
    }

    pub fn user_query(&self, bounded: bool) -> Result<UserQuery, Invalid> {
        Ok(UserQuery {
            page: self.page(bounded.then_some(MAX_LIMIT), true)?,
            username: self.text("username"),
            email: self.text("email"),
            first_name: self.text("first_name"),
            last_name: self.text("last_name"),
        })
    }

    pub fn domain_query(&self) -> Result<DomainQuery, Invalid> {
        let page = self.page_with(Some(MAX_LIMIT), false, true)?;
        Ok(DomainQuery { page, member: None })
    }

    pub fn invitation_query(&self) -> Result<InvitationQuery, Invalid> {
        let offset = self.offset()?;
        let limit = self.u64("limit", 10)?;
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(Invalid("invalid limit size"));
        }
        Ok(InvitationQuery {
            offset,
            limit,
            domain_id: self.uuid("domain_id")?,
            invitee_user_id: self.uuid("invitee_user_id")?,
            invited_by: self.uuid("invited_by")?,
            state: crate::InvitationState::parse(self.str("state").unwrap_or(""))?,
            only_total: self.bool("only_total")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> Result<QueryParams, Invalid> {
        QueryParams::from_pairs(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    #[test]
    fn defaults() {
        let p = q(&[]).unwrap().entity_query().unwrap();
        assert_eq!(p.page.offset, 0);
        assert_eq!(p.page.limit, 10);
        assert_eq!(p.page.status, StatusFilter::Enabled);
    }

    #[test]
    fn strictness() {
        assert!(q(&[("limit", "1"), ("limit", "2")]).is_err());
        let e = |pairs: &[(&str, &str)]| q(pairs).unwrap().entity_query().unwrap_err().0;
        assert_eq!(e(&[("limit", "101")]), "invalid limit size");
        assert_eq!(e(&[("limit", "0")]), "invalid limit size");
        assert_eq!(e(&[("offset", "-1")]), "invalid query parameters");
        assert_eq!(e(&[("limit", "abc")]), "invalid query parameters");
        assert_eq!(e(&[("metadata", "[1]")]), "invalid query parameters");
        assert_eq!(e(&[("metadata", "{bad")]), "invalid query parameters");
        assert_eq!(e(&[("status", "weird")]), "invalid status");
        assert_eq!(e(&[("order", "color")]), "invalid list order provided");
        assert_eq!(e(&[("dir", "up")]), "invalid list direction provided");
        assert_eq!(
            e(&[("created_from", "yesterday")]),
            "invalid query parameters"
        );
        assert_eq!(e(&[("connection_type", "x")]), "invalid connection type");
        assert_eq!(e(&[("channel", "nope")]), "invalid id format provided");
    }

    #[test]
    fn tags() {
        assert_eq!(
            TagFilter::parse("a,b"),
            Some(TagFilter::Any(vec!["a".into(), "b".into()]))
        );
        assert_eq!(
            TagFilter::parse("a+b"),
            Some(TagFilter::All(vec!["a".into(), "b".into()]))
        );
        let t = vec!["a".to_string()];
        assert!(TagFilter::parse("a,b").unwrap().matches(&t));
        assert!(!TagFilter::parse("a+b").unwrap().matches(&t));
    }
}
