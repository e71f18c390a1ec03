//! Roles, groups and the grants the policy engine reads (see `switchyard_auth::policy`).

use uuid::Uuid;

use crate::{Metadata, Status, Timestamp};

/// The kinds of entity that carry roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntityKind {
    Domain,
    Group,
    Client,
    Channel,
}

impl EntityKind {
    pub const ALL: [EntityKind; 4] = [
        EntityKind::Domain,
        EntityKind::Group,
        EntityKind::Client,
        EntityKind::Channel,
    ];
    pub fn code(self) -> i16 {
        match self {
            EntityKind::Domain => 0,
            EntityKind::Group => 1,
            EntityKind::Client => 2,
            EntityKind::Channel => 3,
        }
    }
    pub fn from_code(c: i64) -> EntityKind {
        match c {
            0 => EntityKind::Domain,
            1 => EntityKind::Group,
            2 => EntityKind::Client,
            _ => EntityKind::Channel,
        }
    }
    /// `"domain"`, `"group"`, `"client"`, `"channel"`: the prefix of the actions a
    /// group or a domain holds over entities of this kind (`client_read`).
    pub fn as_str(self) -> &'static str {
        match self {
            EntityKind::Domain => "domain",
            EntityKind::Group => "group",
            EntityKind::Client => "client",
            EntityKind::Channel => "channel",
        }
    }
}

/// The name of every entity's built-in role, which holds all of its actions.
pub const BUILTIN_ADMIN: &str = "admin";

/// The id of an entity's built-in admin role.
pub fn builtin_role_id(entity: Uuid) -> String {
    format!("{entity}_{BUILTIN_ADMIN}")
}

/// A role on one entity. Built-in roles have no stored row; they are listed from the
/// entity itself.
#[derive(Debug, Clone, PartialEq)]
pub struct Role {
    pub id: String,
    pub name: String,
    pub entity_id: Uuid,
    pub domain_id: Uuid,
    pub kind: EntityKind,
    pub created_by: Uuid,
    pub created_at: Timestamp,
    pub updated_by: Option<Uuid>,
    pub updated_at: Option<Timestamp>,
}

/// One thing a user holds, as the store finds it: a role's action (`None` with
/// `builtin` for the built-in admin role: every action) on the entity itself
/// (`depth` 0), on its parent group (1) or on a further ancestor (2, 3, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub depth: i16,
    pub builtin: bool,
    pub action: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub id: Uuid,
    pub domain_id: Uuid,
    pub parent_id: Option<Uuid>,
    pub name: String,
    pub description: String,
    pub tags: Vec<String>,
    pub metadata: Metadata,
    pub status: Status,
    pub created_by: Uuid,
    pub created_at: Timestamp,
    pub updated_at: Option<Timestamp>,
    pub updated_by: Option<Uuid>,
    /// Depth below the group a hierarchy or children listing started from (0 when not
    /// listed as part of a tree).
    pub level: i16,
}

/// A visibility filter core sets on a list: only what `user` may read through roles
/// on the entity (`direct`), on its parent group (`parent`) or on a further ancestor
/// group (`ancestor`). The action names come from the policy engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reader {
    pub user: Uuid,
    pub direct: String,
    pub parent: String,
    pub ancestor: String,
}
