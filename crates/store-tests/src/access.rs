//! Roles on any entity (actions, members), what a user holds through them and through
//! the group tree (grants), and the members of a domain.

use switchyard_domain::{DomainRole, EntityKind, Grant, Role, builtin_role_id};
use switchyard_store::{ConflictKind, HeldRole, RoleRef, Store};
use uuid::Uuid;

use crate::fixtures::{assert_conflict, assert_not_found, at, client, domain, group, now};

fn role(entity: Uuid, domain: Uuid, kind: EntityKind, name: &str) -> Role {
    Role {
        id: format!("{name}-{}", Uuid::new_v4()),
        name: name.into(),
        entity_id: entity,
        domain_id: domain,
        kind,
        created_by: Uuid::new_v4(),
        created_at: now(),
        updated_by: None,
        updated_at: None,
    }
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}

pub async fn roles_actions_and_members(s: &dyn Store) {
    let d = domain(Uuid::new_v4(), "roles");
    s.create_domain(&d).await.unwrap();
    let c = client(&d, "c");
    let other = client(&d, "other");
    s.create_clients(&[c.clone(), other.clone()]).await.unwrap();
    let [alice, bob, carol, dave] = [(); 4].map(|_| Uuid::new_v4());

    let ops = role(c.id, d.id, EntityKind::Client, "ops");
    let view = role(c.id, d.id, EntityKind::Client, "view");
    s.create_role(&ops, &strings(&["update", "read"]), &[alice, bob])
        .await
        .unwrap();
    s.create_role(&view, &strings(&["read"]), &[carol])
        .await
        .unwrap();
    // A name is taken per entity; the refused role leaves nothing behind.
    let dup = role(c.id, d.id, EntityKind::Client, "ops");
    assert_conflict(
        s.create_role(&dup, &strings(&["delete"]), &[dave]).await,
        ConflictKind::RoleName,
    );
    assert_not_found(s.role(c.id, &dup.id).await);
    assert!(s.role_actions(&dup.id).await.unwrap().is_empty());
    assert_eq!(s.role_members(&dup.id, 0, 10).await.unwrap().total, 0);
    let elsewhere = role(other.id, d.id, EntityKind::Client, "ops");
    s.create_role(&elsewhere, &[], &[]).await.unwrap();

    assert_eq!(s.role(c.id, &ops.id).await.unwrap(), ops);
    assert_not_found(s.role(other.id, &ops.id).await);
    let page = s.roles(c.id, 0, 10).await.unwrap();
    assert_eq!(
        (page.total, page.items),
        (2, vec![ops.clone(), view.clone()])
    );
    let page = s.roles(c.id, 1, 1).await.unwrap();
    assert_eq!((page.total, page.items), (2, vec![view.clone()]));

    let renamed = Role {
        name: "operators".into(),
        updated_by: Some(alice),
        updated_at: Some(at(5)),
        ..ops.clone()
    };
    s.rename_role(&renamed).await.unwrap();
    assert_eq!(s.role(c.id, &ops.id).await.unwrap(), renamed);
    assert_not_found(
        s.rename_role(&Role {
            entity_id: other.id,
            ..renamed.clone()
        })
        .await,
    );
    let taken = Role {
        name: "view".into(),
        ..renamed.clone()
    };
    assert_conflict(s.rename_role(&taken).await, ConflictKind::RoleName);
    assert_eq!(s.role(c.id, &ops.id).await.unwrap(), renamed);

    // Actions: added once each, listed sorted, removed by name or all.
    assert_eq!(s.role_actions(&ops.id).await.unwrap(), ["read", "update"]);
    s.add_role_actions(&ops.id, &strings(&["delete", "read"]))
        .await
        .unwrap();
    assert_eq!(
        s.role_actions(&ops.id).await.unwrap(),
        ["delete", "read", "update"]
    );
    s.remove_role_actions(&ops.id, Some(&strings(&["read", "share"])))
        .await
        .unwrap();
    s.remove_role_actions(&ops.id, Some(&[])).await.unwrap();
    assert_eq!(s.role_actions(&ops.id).await.unwrap(), ["delete", "update"]);
    s.remove_role_actions(&ops.id, None).await.unwrap();
    assert!(s.role_actions(&ops.id).await.unwrap().is_empty());
    assert_eq!(s.role_actions(&view.id).await.unwrap(), ["read"]);

    // Members: a member already in is skipped; pages are by member id.
    let ops_ref = RoleRef {
        id: ops.id.clone(),
        entity_id: c.id,
        domain_id: d.id,
        builtin: false,
    };
    s.add_role_members(&ops_ref, &[bob, dave]).await.unwrap();
    let members = s.role_members(&ops.id, 0, 10).await.unwrap();
    assert_eq!(
        (members.total, members.items),
        (3, sorted(vec![alice, bob, dave]))
    );
    let first = s.role_members(&ops.id, 0, 2).await.unwrap();
    assert_eq!((first.total, first.items.len()), (3, 2));
    s.remove_role_members(&ops.id, Some(&[bob])).await.unwrap();
    s.remove_role_members(&ops.id, Some(&[])).await.unwrap();
    assert_eq!(
        s.role_members(&ops.id, 0, 10).await.unwrap().items,
        sorted(vec![alice, dave])
    );

    // Across the entity's roles.
    let all = s.entity_members(c.id, 0, 10).await.unwrap();
    assert_eq!(
        (all.total, all.items),
        (3, sorted(vec![alice, carol, dave]))
    );
    assert_eq!(s.entity_members(c.id, 2, 10).await.unwrap().items.len(), 1);
    let mut want = vec![(alice, ops.id.clone()), (carol, view.id.clone())];
    want.sort_by(|a, b| a.1.cmp(&b.1));
    assert_eq!(
        s.member_roles(c.id, &[alice, carol, Uuid::new_v4()])
            .await
            .unwrap(),
        want
    );
    assert!(s.member_roles(c.id, &[]).await.unwrap().is_empty());
    s.remove_entity_members(c.id, &[alice, carol])
        .await
        .unwrap();
    s.remove_entity_members(c.id, &[]).await.unwrap();
    assert_eq!(s.entity_members(c.id, 0, 10).await.unwrap().items, [dave]);
    assert_eq!(s.role_members(&view.id, 0, 10).await.unwrap().total, 0);

    // Deleting a role takes its actions and members with it.
    s.add_role_members(&ops_ref, &[alice]).await.unwrap();
    s.add_role_actions(&ops.id, &strings(&["read"]))
        .await
        .unwrap();
    s.delete_role(c.id, &ops.id).await.unwrap();
    assert_not_found(s.role(c.id, &ops.id).await);
    assert!(s.role_actions(&ops.id).await.unwrap().is_empty());
    assert_eq!(s.role_members(&ops.id, 0, 10).await.unwrap().total, 0);
    assert_eq!(s.entity_members(c.id, 0, 10).await.unwrap().total, 0);
    assert_not_found(s.delete_role(c.id, &ops.id).await);
    assert_not_found(s.delete_role(c.id, &elsewhere.id).await);
    s.remove_role_members(&view.id, None).await.unwrap();
    assert_eq!(s.roles(c.id, 0, 10).await.unwrap().items, [view]);
}

/// What a user holds on a client three levels down a group tree, row by row.
pub async fn grants_through_roles_and_groups(s: &dyn Store) {
    let owner = Uuid::new_v4();
    let d = domain(owner, "grants");
    s.create_domain(&d).await.unwrap();
    let g1 = group(&d, "g1", None);
    let g2 = group(&d, "g2", Some(&g1));
    s.create_groups(&[g1.clone(), g2.clone()]).await.unwrap();
    let mut c = client(&d, "c");
    c.parent_group_id = Some(g2.id);
    s.create_clients(std::slice::from_ref(&c)).await.unwrap();
    let mut ch = crate::fixtures::channel(&d, "ch");
    ch.created_by = Uuid::new_v4();
    s.create_channels(std::slice::from_ref(&ch)).await.unwrap();
    let (u, stranger) = (Uuid::new_v4(), Uuid::new_v4());
    let grant = |depth: i16, action: Option<&str>| Grant {
        depth,
        builtin: action.is_none(),
        action: action.map(str::to_string),
    };
    let grants = |user: Uuid, kind: EntityKind, id: Uuid, domain: Option<Uuid>| async move {
        sorted_grants(s.grants(user, kind, id, domain).await.unwrap())
    };

    // The creator of the client and of each group above it: built-in admin, by depth.
    assert_eq!(
        grants(owner, EntityKind::Client, c.id, None).await,
        [grant(0, None), grant(1, None), grant(2, None)]
    );
    assert!(
        grants(u, EntityKind::Client, c.id, Some(d.id))
            .await
            .is_empty()
    );

    // A role on the top group reaches the client at depth 2 and the group below at 1.
    let on_g1 = role(g1.id, d.id, EntityKind::Group, "readers");
    s.create_role(&on_g1, &strings(&["client_read"]), &[u])
        .await
        .unwrap();
    assert_eq!(
        grants(u, EntityKind::Client, c.id, None).await,
        [grant(2, Some("client_read"))]
    );
    assert_eq!(
        grants(u, EntityKind::Group, g2.id, None).await,
        [grant(1, Some("client_read"))]
    );
    assert_eq!(
        grants(u, EntityKind::Group, g1.id, None).await,
        [grant(0, Some("client_read"))]
    );
    // Membership of the client's built-in admin role, and a role on the domain (only
    // asked for with the domain).
    let admin = RoleRef {
        id: builtin_role_id(c.id),
        entity_id: c.id,
        domain_id: d.id,
        builtin: true,
    };
    s.add_role_members(&admin, &[u]).await.unwrap();
    let on_domain = role(d.id, d.id, EntityKind::Domain, "creators");
    s.create_role(&on_domain, &strings(&["client_create"]), &[u])
        .await
        .unwrap();
    assert_eq!(
        grants(u, EntityKind::Client, c.id, Some(d.id)).await,
        [
            grant(-1, Some("client_create")),
            grant(0, None),
            grant(2, Some("client_read"))
        ]
    );
    assert_eq!(
        grants(u, EntityKind::Domain, d.id, None).await,
        [grant(0, Some("client_create"))]
    );
    assert!(
        grants(stranger, EntityKind::Client, c.id, Some(d.id))
            .await
            .is_empty()
    );

    // Each row names its role and the entity that provides it.
    let mut held = s
        .held_roles(u, EntityKind::Client, c.id, Some(d.id))
        .await
        .unwrap();
    held.sort_by_key(|h| h.grant.depth);
    let want = |depth, action: Option<&str>, role_id: String, provider| HeldRole {
        grant: grant(depth, action),
        role_id,
        provider,
    };
    assert_eq!(
        held,
        [
            want(-1, Some("client_create"), on_domain.id.clone(), d.id),
            want(0, None, builtin_role_id(c.id), c.id),
            want(2, Some("client_read"), on_g1.id.clone(), g1.id),
        ]
    );
    let mut by_owner = s
        .held_roles(owner, EntityKind::Client, c.id, None)
        .await
        .unwrap();
    by_owner.sort_by_key(|h| h.grant.depth);
    assert_eq!(
        by_owner,
        [
            want(0, None, builtin_role_id(c.id), c.id),
            want(1, None, builtin_role_id(g2.id), g2.id),
            want(2, None, builtin_role_id(g1.id), g1.id),
        ]
    );

    // The entity and the caller's grants in one read (the creator's own admin role is
    // seen on the row, not as a grant); another domain does not have it.
    let (got, g) = s.client_for(owner, d.id, c.id).await.unwrap();
    assert_eq!(
        (got, sorted_grants(g)),
        (c.clone(), vec![grant(1, None), grant(2, None)])
    );
    let (got, g) = s.client_for(u, d.id, c.id).await.unwrap();
    assert_eq!(
        (got, sorted_grants(g)),
        (
            c.clone(),
            vec![
                grant(-1, Some("client_create")),
                grant(0, None),
                grant(2, Some("client_read"))
            ]
        )
    );
    let (_, g) = s.client_for(stranger, d.id, c.id).await.unwrap();
    assert!(g.is_empty());
    assert_not_found(s.client_for(owner, Uuid::new_v4(), c.id).await);
    let (got, g) = s.channel_for(ch.created_by, d.id, ch.id).await.unwrap();
    assert_eq!((got, g), (ch.clone(), vec![]));
    let (_, g) = s.channel_for(u, d.id, ch.id).await.unwrap();
    assert_eq!(g, [grant(-1, Some("client_create"))]);
    assert_not_found(s.channel_for(owner, d.id, Uuid::new_v4()).await);
    let (got, g) = s.group_for(u, d.id, g2.id).await.unwrap();
    assert_eq!(
        (got, sorted_grants(g)),
        (
            g2.clone(),
            vec![
                grant(-1, Some("client_create")),
                grant(1, Some("client_read"))
            ]
        )
    );
}

fn sorted_grants(mut g: Vec<Grant>) -> Vec<Grant> {
    g.sort_by(|a, b| (a.depth, &a.action).cmp(&(b.depth, &b.action)));
    g
}

pub async fn domain_members(s: &dyn Store) {
    let owner = Uuid::new_v4();
    let d = domain(owner, "members");
    s.create_domain(&d).await.unwrap();
    let other = domain(Uuid::new_v4(), "members-2");
    s.create_domain(&other).await.unwrap();
    let (bob, carol) = (Uuid::new_v4(), Uuid::new_v4());
    for (who, role) in [(bob, DomainRole::Member), (carol, DomainRole::Admin)] {
        let inv = switchyard_domain::Invitation {
            domain_id: d.id,
            domain_name: String::new(),
            invitee_user_id: who,
            invited_by: owner,
            role,
            created_at: now(),
            updated_at: None,
            confirmed_at: None,
            rejected_at: None,
        };
        s.save_invitation(&inv).await.unwrap();
        s.accept_invitation(d.id, who, now()).await.unwrap();
    }

    let admins = s
        .domain_role_members(d.id, DomainRole::Admin, 0, 10)
        .await
        .unwrap();
    assert_eq!(
        (admins.total, admins.items),
        (2, sorted(vec![owner, carol]))
    );
    let members = s
        .domain_role_members(d.id, DomainRole::Member, 0, 10)
        .await
        .unwrap();
    assert_eq!((members.total, members.items), (1, vec![bob]));
    let one = s
        .domain_role_members(d.id, DomainRole::Admin, 1, 1)
        .await
        .unwrap();
    assert_eq!((one.total, one.items.len()), (2, 1));

    let users = s.domain_users(d.id, 0, 10).await.unwrap();
    let mut want = vec![
        (owner, DomainRole::Admin),
        (bob, DomainRole::Member),
        (carol, DomainRole::Admin),
    ];
    want.sort_by_key(|(id, _)| *id);
    assert_eq!((users.total, users.items), (3, want));
    assert_eq!(
        s.domain_users(other.id, 0, 10).await.unwrap().items.len(),
        1
    );

    let stranger = Uuid::new_v4();
    assert_eq!(
        sorted(
            s.domain_members_among(d.id, &[bob, stranger, owner])
                .await
                .unwrap()
        ),
        sorted(vec![bob, owner])
    );
    assert!(s.domain_members_among(d.id, &[]).await.unwrap().is_empty());
    assert!(
        s.domain_members_among(other.id, &[bob])
            .await
            .unwrap()
            .is_empty()
    );
}
