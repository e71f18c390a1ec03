//! The policy engine: which actions exist, how a right held on a group or a domain
//! reaches the entities below it, and whether a set of grants allows an action. Pure
//! functions, so the inheritance rules are tested as generated tables.
//!
//! The model is upstream's (the action names of its permission schema):
//! - every domain, group, client and channel has roles; a role holds actions and has
//!   members (users of the domain). The built-in `admin` role holds every action, and
//!   the creator of an entity is its first member;
//! - a user may do `a` on a client or channel when they hold `a` on it, or
//!   `<kind>_a` on its parent group, or `subgroup_<kind>_a` on any further ancestor
//!   group, or `<kind>_a` on the domain;
//! - on a group: `a` on it, `subgroup_a` on any ancestor, `group_a` on the domain;
//! - the platform super-admin and the domain's admins may do everything in the domain.
//!
//! Core asks the store for the caller's grants on one entity (one indexed query over
//! the entity and its ancestors) and decides here; lists push the same rule into SQL
//! through [`reader`].

use std::collections::HashSet;

use switchyard_domain::{DomainRole, EntityKind, Grant, PatScope, Reader, ScopeEntity, ScopeOp};
use uuid::Uuid;

/// The caller's standing in one domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DomainAccess {
    SuperAdmin,
    Role(DomainRole),
}

/// What a request does to a client or channel, as the handlers name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    View,
    Update,
    Delete,
    /// Enable or disable (upstream checks `update`).
    SetStatus,
    /// Use as one end of a connection.
    Connect,
    /// Take a connection away: the same role action as [`Action::Connect`], the PAT
    /// operation `unshare`.
    Disconnect,
    SetParent,
}

impl Action {
    /// The role action this needs on an entity of `kind`.
    pub fn name(self, kind: EntityKind) -> &'static str {
        match self {
            Action::View => "read",
            Action::Update | Action::SetStatus => "update",
            Action::Delete => "delete",
            Action::Connect | Action::Disconnect => match kind {
                EntityKind::Channel => "connect_to_client",
                _ => "connect_to_channel",
            },
            Action::SetParent => match kind {
                EntityKind::Group => "set_parent",
                _ => "set_parent_group",
            },
        }
    }
}

/// The actions of the client and channel roles.
const CLIENT_ACTIONS: &[&str] = &[
    "update",
    "read",
    "delete",
    "set_parent_group",
    "connect_to_channel",
    "manage_role",
    "add_role_users",
    "remove_role_users",
    "view_role_users",
];
const CHANNEL_ACTIONS: &[&str] = &[
    "update",
    "read",
    "delete",
    "set_parent_group",
    "connect_to_client",
    "publish",
    "subscribe",
    "manage_role",
    "add_role_users",
    "remove_role_users",
    "view_role_users",
];
/// What a group role may hold over the group itself.
const GROUP_OWN_ACTIONS: &[&str] = &[
    "update",
    "read",
    "membership",
    "delete",
    "set_child",
    "set_parent",
    "manage_role",
    "add_role_users",
    "remove_role_users",
    "view_role_users",
];
/// What a domain role may hold over the domain itself.
const DOMAIN_OWN_ACTIONS: &[&str] = &[
    "update",
    "enable",
    "disable",
    "read",
    "delete",
    "manage_role",
    "add_role_users",
    "remove_role_users",
    "view_role_users",
];

/// The actions the built-in `member` role of a domain holds: see the domain, create
/// entities (and so become their admin).
pub const DOMAIN_MEMBER_ACTIONS: &[&str] =
    &["read", "client_create", "channel_create", "group_create"];

/// The actions a role on an entity of `kind` may hold, in upstream's names
/// (`GET <collection>/roles/available-actions`).
pub fn available_actions(kind: EntityKind) -> Vec<String> {
    let own = |l: &[&str]| l.iter().map(|a| a.to_string()).collect::<Vec<_>>();
    let over = |prefix: &str, l: &[&str]| {
        l.iter()
            .map(move |a| format!("{prefix}{a}"))
            .collect::<Vec<_>>()
    };
    match kind {
        EntityKind::Client => own(CLIENT_ACTIONS),
        EntityKind::Channel => own(CHANNEL_ACTIONS),
        EntityKind::Group => {
            let mut v = own(GROUP_OWN_ACTIONS);
            v.extend(own(&["client_create", "channel_create", "subgroup_create"]));
            v.extend(own(&["subgroup_client_create", "subgroup_channel_create"]));
            v.extend(over("client_", CLIENT_ACTIONS));
            v.extend(over("channel_", CHANNEL_ACTIONS));
            v.extend(GROUP_OWN_ACTIONS.iter().map(|a| format!("subgroup_{a}")));
            v.extend(over("subgroup_client_", CLIENT_ACTIONS));
            v.extend(over("subgroup_channel_", CHANNEL_ACTIONS));
            v
        }
        EntityKind::Domain => {
            let mut v = own(DOMAIN_OWN_ACTIONS);
            v.extend(own(&["client_create", "channel_create", "group_create"]));
            v.extend(over("client_", CLIENT_ACTIONS));
            v.extend(over("channel_", CHANNEL_ACTIONS));
            v.extend(over("group_", GROUP_OWN_ACTIONS));
            v
        }
    }
}

/// Is `action` one a role on an entity of `kind` may hold?
pub fn is_action(kind: EntityKind, action: &str) -> bool {
    available_actions(kind).iter().any(|a| a == action)
}

/// Where a right to `action` on an entity of `kind` may be held, by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    /// On the entity itself.
    pub direct: String,
    /// On its parent group (`None`: groups do not pass this right down).
    pub parent: Option<String>,
    /// On any ancestor group above the parent.
    pub ancestor: Option<String>,
    /// On the domain.
    pub domain: Option<String>,
}

/// The role-management actions: upstream's schema passes these on channels down from
/// every ancestor group under the same `channel_` name.
const ROLE_ACTIONS: &[&str] = &[
    "manage_role",
    "add_role_users",
    "remove_role_users",
    "view_role_users",
];

/// The names under which `action` on an entity of `kind` is held at each place.
pub fn names(kind: EntityKind, action: &str) -> Names {
    let a = action;
    match kind {
        EntityKind::Client | EntityKind::Channel => {
            let k = kind.as_str();
            let ancestor = if kind == EntityKind::Channel && ROLE_ACTIONS.contains(&a) {
                format!("channel_{a}")
            } else {
                format!("subgroup_{k}_{a}")
            };
            Names {
                direct: a.to_string(),
                parent: Some(format!("{k}_{a}")),
                ancestor: Some(ancestor),
                domain: Some(format!("{k}_{a}")),
            }
        }
        EntityKind::Group => {
            // Creating under a group: `client_create` on it, `subgroup_client_create`
            // above, `client_create` on the domain (likewise channels; subgroups need
            // `subgroup_create` all the way up and `group_create` on the domain).
            let (up, domain) = match a {
                "client_create" => ("subgroup_client_create".into(), "client_create".into()),
                "channel_create" => ("subgroup_channel_create".into(), "channel_create".into()),
                "subgroup_create" => ("subgroup_create".into(), "group_create".into()),
                // As upstream's schema says: a group's update right comes down from
                // ancestors holding `subgroup_create`.
                "update" => ("subgroup_create".into(), "group_update".into()),
                _ => (format!("subgroup_{a}"), format!("group_{a}")),
            };
            Names {
                direct: a.to_string(),
                parent: Some(up.clone()),
                ancestor: Some(up),
                domain: Some(domain),
            }
        }
        EntityKind::Domain => Names {
            direct: a.to_string(),
            parent: None,
            ancestor: None,
            domain: None,
        },
    }
}

/// What a user holds on a domain: everything (super-admin, domain admin) or a set of
/// the domain's actions (the built-in member role's and their custom roles').
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DomainRights {
    pub all: bool,
    pub actions: HashSet<String>,
}

impl DomainRights {
    /// From the caller's standing and the actions of their custom domain roles.
    pub fn new(access: DomainAccess, custom: &[Grant]) -> DomainRights {
        let all = matches!(
            access,
            DomainAccess::SuperAdmin | DomainAccess::Role(DomainRole::Admin)
        ) || custom.iter().any(|g| g.builtin);
        let mut actions: HashSet<String> = custom.iter().filter_map(|g| g.action.clone()).collect();
        if access == DomainAccess::Role(DomainRole::Member) {
            actions.extend(DOMAIN_MEMBER_ACTIONS.iter().map(|a| a.to_string()));
        }
        DomainRights { all, actions }
    }
    pub fn has(&self, action: &str) -> bool {
        self.all || self.actions.contains(action)
    }
}

/// May a user holding `grants` on an entity of `kind` (and its ancestor groups) and
/// `domain` on its domain do `action` on it?
pub fn allowed(kind: EntityKind, action: &str, grants: &[Grant], domain: &DomainRights) -> bool {
    let n = names(kind, action);
    if kind == EntityKind::Domain {
        return domain.has(&n.direct) || grants.iter().any(|g| g.builtin);
    }
    if n.domain.as_deref().is_some_and(|d| domain.has(d)) {
        return true;
    }
    grants.iter().any(|g| {
        if g.builtin {
            return true;
        }
        let Some(held) = g.action.as_deref() else {
            return false;
        };
        let want = match g.depth {
            0 => Some(&n.direct),
            1 => n.parent.as_ref(),
            _ => n.ancestor.as_ref(),
        };
        want.is_some_and(|w| w == held)
    })
}

/// The list filter for entities of `kind` that `user` may read, or `None` when the
/// domain rights already cover every one of them.
pub fn reader(kind: EntityKind, user: Uuid, domain: &DomainRights) -> Option<Reader> {
    let n = names(kind, "read");
    if n.domain.as_deref().is_some_and(|d| domain.has(d)) {
        return None;
    }
    Some(Reader {
        user,
        direct: n.direct,
        parent: n.parent.unwrap_or_default(),
        ancestor: n.ancestor.unwrap_or_default(),
    })
}

/// May the caller manage the domain itself (update, enable, disable, invite)?
pub fn domain_admin(access: DomainAccess) -> bool {
    matches!(
        access,
        DomainAccess::SuperAdmin | DomainAccess::Role(DomainRole::Admin)
    )
}

/// Does the caller see every entity of the domain in lists?
pub fn sees_all(access: DomainAccess) -> bool {
    domain_admin(access)
}

/// The PAT scope entity type of an entity kind.
pub fn scope_entity(kind: EntityKind) -> ScopeEntity {
    match kind {
        EntityKind::Domain => ScopeEntity::Domains,
        EntityKind::Group => ScopeEntity::Groups,
        EntityKind::Client => ScopeEntity::Clients,
        EntityKind::Channel => ScopeEntity::Channels,
    }
}

impl Action {
    /// The PAT operation this request counts as (by its role action, except that taking
    /// a connection away is `unshare`).
    pub fn scope_operation(self, kind: EntityKind) -> Option<ScopeOp> {
        match self {
            Action::Disconnect => Some(ScopeOp::Unshare),
            a => scope_operation(a.name(kind)),
        }
    }
}

/// The PAT operation a role action counts as; `None`: no PAT may do it. Reading
/// (including role members) is `read`; changing an entity, its status or its place in
/// the tree is `update`; giving others access (roles, members, connections) is `share`,
/// taking it away `unshare`.
pub fn scope_operation(action: &str) -> Option<ScopeOp> {
    Some(match action {
        "read" | "view_role_users" | "membership" => ScopeOp::Read,
        "update" | "enable" | "disable" | "set_parent" | "set_parent_group" | "set_child" => {
            ScopeOp::Update
        }
        "delete" => ScopeOp::Delete,
        "manage_role" | "add_role_users" | "connect_to_channel" | "connect_to_client" => {
            ScopeOp::Share
        }
        "remove_role_users" => ScopeOp::Unshare,
        "publish" => ScopeOp::Publish,
        "subscribe" => ScopeOp::Subscribe,
        a if a.ends_with("_create") => ScopeOp::Create,
        _ => return None,
    })
}

/// Whether a PAT holding `scopes` may do `op` on entities of `entity_type` in `domain`,
/// on entity `id` (`None` for a list or a create: only a `*` scope allows those).
/// The PAT's user must also be allowed by their roles: this is the first half of one
/// decision, never a replacement for it.
pub fn scope_allows(
    scopes: &[PatScope],
    entity_type: ScopeEntity,
    op: ScopeOp,
    domain: Option<Uuid>,
    id: Option<Uuid>,
) -> bool {
    scopes.iter().any(|s| s.allows(entity_type, op, domain, id))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every action a request can ask for on an entity has a PAT operation (so a scope
    /// can allow it), and the role-management actions map to share/unshare/read.
    #[test]
    fn every_requested_action_has_a_scope_operation() {
        let handler_actions = [
            Action::View,
            Action::Update,
            Action::Delete,
            Action::SetStatus,
            Action::Connect,
            Action::Disconnect,
            Action::SetParent,
        ];
        for kind in EntityKind::ALL {
            for a in handler_actions {
                if kind == EntityKind::Group && matches!(a, Action::Connect | Action::Disconnect) {
                    continue; // groups are not connected
                }
                let name = a.name(kind);
                assert!(scope_operation(name).is_some(), "{kind:?} {name}");
                assert!(
                    is_action(kind, name) || kind == EntityKind::Domain,
                    "{kind:?} {name}"
                );
            }
        }
        assert_eq!(scope_operation("manage_role"), Some(ScopeOp::Share));
        assert_eq!(scope_operation("add_role_users"), Some(ScopeOp::Share));
        assert_eq!(scope_operation("remove_role_users"), Some(ScopeOp::Unshare));
        assert_eq!(scope_operation("view_role_users"), Some(ScopeOp::Read));
        assert_eq!(scope_operation("set_child"), Some(ScopeOp::Update));
        assert_eq!(scope_operation("client_create"), Some(ScopeOp::Create));
        assert_eq!(scope_operation("no_such_action"), None);
        assert_eq!(
            Action::Connect.scope_operation(EntityKind::Channel),
            Some(ScopeOp::Share)
        );
        assert_eq!(
            Action::Disconnect.scope_operation(EntityKind::Client),
            Some(ScopeOp::Unshare)
        );
    }

    /// Where a test puts one grant.
    #[derive(Debug, Clone, Copy)]
    enum Place {
        /// On the entity itself.
        Entity,
        /// On the group `n` levels above the entity (1 = its parent group).
        Group(i16),
        Domain,
    }

    /// An independent reading of upstream's schema, written as its recursive rules
    /// (permission = own relation + parent_group->… + domain->…) rather than as the
    /// flat name table `names` uses: does holding `held` at `place` give `action` on
    /// an entity of `kind`?
    fn schema_says(kind: EntityKind, action: &str, held: &str, place: Place) -> bool {
        // `perm_on_group(p, d)`: holding `held` on the group `d` levels above a
        // group gives that group's permission `p`.
        fn perm_on_group(p: &str, held: &str, d: i16) -> bool {
            // Group permission `p` = relation `p` + parent_group->up(p).
            if d == 0 {
                return held == p;
            }
            perm_on_group(&group_up(p), held, d - 1)
        }
        // What a group permission comes from on the parent group.
        fn group_up(p: &str) -> String {
            if p.starts_with("subgroup_") {
                return p.to_string();
            }
            if let Some(rest) = p.strip_prefix("client_") {
                if rest == "create" {
                    return "subgroup_client_create".into();
                }
                return format!("subgroup_client_{rest}");
            }
            if let Some(rest) = p.strip_prefix("channel_") {
                if rest == "create" {
                    return "subgroup_channel_create".into();
                }
                if ROLE_ACTIONS.contains(&rest) {
                    return p.to_string();
                }
                return format!("subgroup_channel_{rest}");
            }
            if p == "update" {
                return "subgroup_create".into();
            }
            format!("subgroup_{p}")
        }
        fn domain_name(kind: EntityKind, action: &str) -> String {
            match kind {
                EntityKind::Group => match action {
                    "client_create" | "channel_create" => action.to_string(),
                    "subgroup_create" => "group_create".into(),
                    a => format!("group_{a}"),
                },
                k => format!("{}_{action}", k.as_str()),
            }
        }
        match (kind, place) {
            (_, Place::Entity) | (EntityKind::Domain, Place::Domain) => held == action,
            (EntityKind::Domain, _) => false,
            (_, Place::Domain) => held == domain_name(kind, action),
            (EntityKind::Group, Place::Group(d)) => perm_on_group(&group_up(action), held, d - 1),
            (k, Place::Group(d)) => perm_on_group(&format!("{}_{action}", k.as_str()), held, d - 1),
        }
    }

    fn decide(kind: EntityKind, action: &str, held: &str, place: Place) -> bool {
        let none = DomainRights::default();
        match place {
            Place::Domain => {
                let d = DomainRights {
                    all: false,
                    actions: [held.to_string()].into(),
                };
                allowed(kind, action, &[], &d)
            }
            Place::Entity | Place::Group(_) => {
                let depth = match place {
                    Place::Group(n) => n,
                    _ => 0,
                };
                let g = Grant {
                    depth,
                    builtin: false,
                    action: Some(held.to_string()),
                };
                if kind == EntityKind::Domain {
                    // Domain roles are read into DomainRights.
                    let d = DomainRights::new(
                        DomainAccess::Role(DomainRole::Member),
                        std::slice::from_ref(&g),
                    );
                    let d = DomainRights {
                        actions: d.actions.into_iter().filter(|a| a == held).collect(),
                        ..d
                    };
                    return depth == 0 && allowed(kind, action, &[], &d);
                }
                allowed(kind, action, &[g], &none)
            }
        }
    }

    /// Every kind × every action it has × every action a role may hold × every place
    /// (entity, parent group, ancestors up to 5 levels, domain): the engine agrees
    /// with the schema's recursive rules.
    #[test]
    fn inheritance_matches_the_schema_rules() {
        let mut checked = 0;
        let mut granted = 0;
        for kind in EntityKind::ALL {
            let own: Vec<String> = match kind {
                EntityKind::Client => CLIENT_ACTIONS.iter().map(|s| s.to_string()).collect(),
                EntityKind::Channel => CHANNEL_ACTIONS.iter().map(|s| s.to_string()).collect(),
                EntityKind::Group => {
                    let mut v: Vec<String> =
                        GROUP_OWN_ACTIONS.iter().map(|s| s.to_string()).collect();
                    v.extend(
                        ["client_create", "channel_create", "subgroup_create"].map(String::from),
                    );
                    v
                }
                EntityKind::Domain => available_actions(EntityKind::Domain),
            };
            let mut holdable = available_actions(EntityKind::Group);
            holdable.extend(available_actions(EntityKind::Domain));
            holdable.sort();
            holdable.dedup();
            let places = [
                Place::Entity,
                Place::Group(1),
                Place::Group(2),
                Place::Group(3),
                Place::Group(5),
                Place::Domain,
            ];
            for action in &own {
                for held in &holdable {
                    for place in places {
                        let want = schema_says(kind, action, held, place);
                        let got = decide(kind, action, held, place);
                        assert_eq!(got, want, "{kind:?} {action} held {held} at {place:?}");
                        checked += 1;
                        granted += usize::from(want);
                    }
                }
            }
        }
        assert!(checked > 20_000, "{checked}");
        assert!(granted > 250, "{granted}");
    }

    #[test]
    fn spot_checks_of_the_document() {
        let none = DomainRights::default();
        let at = |depth, a: &str| Grant {
            depth,
            builtin: false,
            action: Some(a.into()),
        };
        // Shared a client with `read`: may view, not update or delete.
        let g = [at(0, "read")];
        assert!(allowed(EntityKind::Client, "read", &g, &none));
        assert!(!allowed(EntityKind::Client, "update", &g, &none));
        assert!(!allowed(EntityKind::Client, "delete", &g, &none));
        // A subtree: subgroup_client_read on a grandparent reaches the client, but
        // not on the client's own parent group.
        assert!(allowed(
            EntityKind::Client,
            "read",
            &[at(2, "subgroup_client_read")],
            &none
        ));
        assert!(!allowed(
            EntityKind::Client,
            "read",
            &[at(1, "subgroup_client_read")],
            &none
        ));
        assert!(allowed(
            EntityKind::Client,
            "read",
            &[at(1, "client_read")],
            &none
        ));
        // The built-in admin role anywhere above gives everything.
        let admin = Grant {
            depth: 3,
            builtin: true,
            action: None,
        };
        assert!(allowed(EntityKind::Channel, "delete", &[admin], &none));
        // Domain admin: everything; member: creates, sees nothing of others'.
        let member = DomainRights::new(DomainAccess::Role(DomainRole::Member), &[]);
        let admin = DomainRights::new(DomainAccess::Role(DomainRole::Admin), &[]);
        assert!(allowed(EntityKind::Client, "delete", &[], &admin));
        assert!(!allowed(EntityKind::Client, "read", &[], &member));
        assert!(member.has("client_create"));
        assert!(reader(EntityKind::Client, Uuid::nil(), &admin).is_none());
        let r = reader(EntityKind::Client, Uuid::nil(), &member).unwrap();
        assert_eq!(
            (r.direct.as_str(), r.parent.as_str(), r.ancestor.as_str()),
            ("read", "client_read", "subgroup_client_read")
        );
        assert!(is_action(EntityKind::Channel, "connect_to_client"));
        assert!(!is_action(EntityKind::Channel, "connect_to_channel"));
        assert!(domain_admin(DomainAccess::SuperAdmin));
    }
}
