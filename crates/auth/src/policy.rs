//! Authorization policy, as pure functions so it can be tested as a table.
//!
//! Who may do what inside a domain:
//! - the platform super-admin and the domain's admins: everything in the domain;
//! - a member: create entities, and view/manage the clients and channels they created;
//! - anyone else: nothing (and they cannot learn whether an id exists).
//!
//! Sharing an entity with another user (roles) plugs in through `EntityGrant`.

use switchyard_domain::DomainRole;
use uuid::Uuid;

/// The caller's standing in one domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DomainAccess {
    SuperAdmin,
    Role(DomainRole),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Create,
    View,
    Update,
    Delete,
    SetStatus,
    /// Use as one end of a connection.
    Connect,
}

/// Extra rights on one entity granted by roles (future: entity role memberships).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EntityGrant {
    pub view: bool,
    pub manage: bool,
}

/// May `user` with `access` in the domain perform `action` on an entity created by
/// `owner` (None for collection-level actions such as Create)?
pub fn entity_allowed(
    access: DomainAccess,
    user: Uuid,
    action: Action,
    owner: Option<Uuid>,
    grant: EntityGrant,
) -> bool {
    match access {
        DomainAccess::SuperAdmin | DomainAccess::Role(DomainRole::Admin) => true,
        DomainAccess::Role(DomainRole::Member) => match action {
            Action::Create => true,
            Action::View => owner == Some(user) || grant.view || grant.manage,
            _ => owner == Some(user) || grant.manage,
        },
    }
}

/// May the caller manage the domain itself (update, enable, disable, invite)?
pub fn domain_admin(access: DomainAccess) -> bool {
    matches!(
        access,
        DomainAccess::SuperAdmin | DomainAccess::Role(DomainRole::Admin)
    )
}

/// Does a member see every entity of the domain in lists?
pub fn sees_all(access: DomainAccess) -> bool {
    domain_admin(access)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let me = Uuid::new_v4();
        let other = Uuid::new_v4();
        let member = DomainAccess::Role(DomainRole::Member);
        let admin = DomainAccess::Role(DomainRole::Admin);
        let none = EntityGrant::default();
        let rows = [
            (DomainAccess::SuperAdmin, Action::Delete, Some(other), true),
            (admin, Action::Update, Some(other), true),
            (admin, Action::Connect, Some(other), true),
            (member, Action::Create, None, true),
            (member, Action::View, Some(me), true),
            (member, Action::Update, Some(me), true),
            (member, Action::Delete, Some(me), true),
            (member, Action::SetStatus, Some(me), true),
            (member, Action::Connect, Some(me), true),
            (member, Action::View, Some(other), false),
            (member, Action::Update, Some(other), false),
            (member, Action::Delete, Some(other), false),
            (member, Action::SetStatus, Some(other), false),
            (member, Action::Connect, Some(other), false),
        ];
        for (access, action, owner, want) in rows {
            assert_eq!(
                entity_allowed(access, me, action, owner, none),
                want,
                "{access:?} {action:?} {owner:?}"
            );
        }
        let viewer = EntityGrant {
            view: true,
            manage: false,
        };
        assert!(entity_allowed(
            member,
            me,
            Action::View,
            Some(other),
            viewer
        ));
        assert!(!entity_allowed(
            member,
            me,
            Action::Update,
            Some(other),
            viewer
        ));
        assert!(domain_admin(admin) && !domain_admin(member));
    }
}
