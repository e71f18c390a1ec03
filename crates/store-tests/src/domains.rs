//! Domains, memberships and invitations.

use serde_json::json;
use switchyard_domain::{
    Dir, DomainQuery, DomainRole, Invitation, InvitationQuery, InvitationState, Order, Status,
    StatusFilter, TagFilter,
};
use switchyard_store::{ConflictKind, Store};
use time::Duration;
use uuid::Uuid;

use crate::fixtures::{assert_conflict, assert_not_found, at, domain, meta, now, page, tags};

pub async fn domain_create_get_update(s: &dyn Store) {
    let creator = Uuid::new_v4();
    let mut d = domain(creator, "acme");
    d.tags = tags(&["a"]);
    d.metadata = meta(json!({"region": {"eu": true}}));
    s.create_domain(&d).await.unwrap();
    assert_eq!(s.domain(d.id).await.unwrap(), d);
    assert_eq!(
        s.member_role(d.id, creator).await.unwrap(),
        Some(DomainRole::Admin)
    );
    assert_eq!(s.member_role(d.id, Uuid::new_v4()).await.unwrap(), None);
    assert_eq!(s.member_role(Uuid::new_v4(), creator).await.unwrap(), None);
    assert_not_found(s.domain(Uuid::new_v4()).await);

    let dup = domain(Uuid::new_v4(), "acme");
    assert_conflict(s.create_domain(&dup).await, ConflictKind::DomainRoute);
    let mut dup = domain(Uuid::new_v4(), "other");
    dup.id = d.id;
    assert_conflict(s.create_domain(&dup).await, ConflictKind::DomainId);
    // A failed create leaves no membership behind.
    assert_eq!(s.member_role(d.id, dup.created_by).await.unwrap(), None);

    let editor = Uuid::new_v4();
    let mut u = d.clone();
    u.name = "Acme Corp".into();
    u.tags = tags(&["b", "c"]);
    u.metadata = meta(json!({"x": [1, 2]}));
    u.status = Status::Frozen;
    u.updated_at = Some(now() + Duration::seconds(1));
    u.updated_by = Some(editor);
    s.update_domain(&u).await.unwrap();
    assert_eq!(s.domain(d.id).await.unwrap(), u);

    let mut ghost = u.clone();
    ghost.id = Uuid::new_v4();
    assert_not_found(s.update_domain(&ghost).await);
}

pub async fn domain_list_and_membership(s: &dyn Store) {
    let u1 = Uuid::new_v4();
    let u2 = Uuid::new_v4();
    let mut ds = Vec::new();
    for (i, (creator, name)) in [(u1, "Alpha"), (u1, "beta"), (u2, "Gamma"), (u1, "delta")]
        .into_iter()
        .enumerate()
    {
        let mut d = domain(creator, &format!("route-{i}"));
        d.name = name.into();
        d.created_at = at(i as i64);
        d.tags = tags(&[["x"], ["y"], ["x"], ["z"]][i]);
        d.metadata = meta(json!({"i": i}));
        s.create_domain(&d).await.unwrap();
        ds.push(d);
    }
    // delta gets frozen.
    let mut frozen = ds[3].clone();
    frozen.status = Status::Frozen;
    frozen.updated_at = Some(at(10));
    s.update_domain(&frozen).await.unwrap();

    let names = |p: switchyard_domain::Page<switchyard_domain::Domain>| {
        p.items.into_iter().map(|d| d.name).collect::<Vec<_>>()
    };
    let list = |q: DomainQuery| async move { s.list_domains(&q).await.unwrap() };
    let base = || DomainQuery {
        page: page(),
        member: None,
    };

    assert_eq!(names(list(base()).await), ["Gamma", "beta", "Alpha"]);
    let mut q = base();
    q.member = Some(u1);
    assert_eq!(names(list(q).await), ["beta", "Alpha"]);
    let mut q = base();
    q.member = Some(u1);
    q.page.status = StatusFilter::All;
    assert_eq!(names(list(q).await), ["delta", "beta", "Alpha"]);
    let mut q = base();
    q.page.status = StatusFilter::Frozen;
    assert_eq!(names(list(q).await), ["delta"]);
    let mut q = base();
    q.page.name = Some("A".into());
    q.page.order = Order::Name;
    q.page.dir = Dir::Asc;
    assert_eq!(names(list(q).await), ["Alpha", "Gamma", "beta"]);
    let mut q = base();
    q.page.tags = TagFilter::parse("x");
    assert_eq!(names(list(q).await), ["Gamma", "Alpha"]);
    let mut q = base();
    q.page.metadata = Some(meta(json!({"i": 1})));
    assert_eq!(names(list(q).await), ["beta"]);
    let mut q = base();
    q.page.only_total = true;
    let p = list(q).await;
    assert_eq!(p.total, 3);
    assert!(p.items.is_empty());
    let mut q = base();
    q.page.offset = 1;
    q.page.limit = 1;
    let p = list(q).await;
    assert_eq!(p.total, 3);
    assert_eq!(names(p), ["beta"]);

    // The domains a user belongs to: enabled ones, oldest first.
    assert_eq!(s.user_domains(u1).await.unwrap(), vec![ds[0].id, ds[1].id]);
    assert_eq!(s.user_domains(u2).await.unwrap(), vec![ds[2].id]);
    assert!(s.user_domains(Uuid::new_v4()).await.unwrap().is_empty());
}

fn invitation(domain: Uuid, invitee: Uuid, by: Uuid, role: DomainRole, secs: i64) -> Invitation {
    Invitation {
        domain_id: domain,
        domain_name: String::new(),
        invitee_user_id: invitee,
        invited_by: by,
        role,
        created_at: at(secs),
        updated_at: None,
        confirmed_at: None,
        rejected_at: None,
    }
}

pub async fn invitations(s: &dyn Store) {
    let admin = Uuid::new_v4();
    let d = domain(admin, "inv");
    s.create_domain(&d).await.unwrap();
    let (alice, bob, carol) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());

    let inv = invitation(d.id, alice, admin, DomainRole::Member, 1);
    s.save_invitation(&inv).await.unwrap();
    let got = s.invitation(d.id, alice).await.unwrap();
    assert_eq!(got.domain_name, d.name);
    assert_eq!(
        got,
        Invitation {
            domain_name: d.name.clone(),
            ..inv.clone()
        }
    );
    assert_not_found(s.invitation(d.id, bob).await);

    // Resend replaces the pending invitation.
    let resent = Invitation {
        role: DomainRole::Admin,
        created_at: at(2),
        updated_at: Some(at(2)),
        ..inv.clone()
    };
    s.save_invitation(&resent).await.unwrap();
    let got = s.invitation(d.id, alice).await.unwrap();
    assert_eq!(got.role, DomainRole::Admin);
    assert_eq!(got.created_at, at(2));
    assert_eq!(got.updated_at, Some(at(2)));

    // Accept: marks it and adds the membership with the invited role.
    assert_eq!(s.member_role(d.id, alice).await.unwrap(), None);
    s.accept_invitation(d.id, alice, at(3)).await.unwrap();
    let got = s.invitation(d.id, alice).await.unwrap();
    assert_eq!(got.confirmed_at, Some(at(3)));
    assert_eq!(got.rejected_at, None);
    assert_eq!(
        s.member_role(d.id, alice).await.unwrap(),
        Some(DomainRole::Admin)
    );
    assert!(s.user_domains(alice).await.unwrap().contains(&d.id));
    // Only a pending invitation can be accepted or rejected.
    assert_not_found(s.accept_invitation(d.id, alice, at(4)).await);
    assert_not_found(s.reject_invitation(d.id, alice, at(4)).await);
    // Accepting what does not exist adds no membership.
    assert_not_found(s.accept_invitation(d.id, bob, at(4)).await);
    assert_eq!(s.member_role(d.id, bob).await.unwrap(), None);

    // Reject.
    s.save_invitation(&invitation(d.id, bob, admin, DomainRole::Member, 5))
        .await
        .unwrap();
    s.reject_invitation(d.id, bob, at(6)).await.unwrap();
    let got = s.invitation(d.id, bob).await.unwrap();
    assert_eq!(got.rejected_at, Some(at(6)));
    assert_eq!(got.confirmed_at, None);
    assert_eq!(s.member_role(d.id, bob).await.unwrap(), None);
    assert_not_found(s.accept_invitation(d.id, bob, at(7)).await);

    // A third, pending one from someone else, in another domain.
    let d2 = domain(carol, "inv2");
    s.create_domain(&d2).await.unwrap();
    s.save_invitation(&invitation(d2.id, alice, carol, DomainRole::Member, 8))
        .await
        .unwrap();
    s.save_invitation(&invitation(d.id, carol, alice, DomainRole::Member, 9))
        .await
        .unwrap();

    let list = |q: InvitationQuery| async move { s.list_invitations(&q).await.unwrap() };
    let base = || InvitationQuery {
        offset: 0,
        limit: 100,
        domain_id: None,
        invitee_user_id: None,
        invited_by: None,
        state: InvitationState::All,
        only_total: false,
    };
    let keys = |p: switchyard_domain::Page<Invitation>| {
        p.items
            .into_iter()
            .map(|i| (i.domain_id, i.invitee_user_id))
            .collect::<Vec<_>>()
    };
    // Newest first.
    assert_eq!(
        keys(list(base()).await),
        [(d.id, carol), (d2.id, alice), (d.id, bob), (d.id, alice)]
    );
    let mut q = base();
    q.state = InvitationState::Pending;
    assert_eq!(keys(list(q).await), [(d.id, carol), (d2.id, alice)]);
    let mut q = base();
    q.state = InvitationState::Accepted;
    assert_eq!(keys(list(q).await), [(d.id, alice)]);
    let mut q = base();
    q.state = InvitationState::Rejected;
    assert_eq!(keys(list(q).await), [(d.id, bob)]);
    let mut q = base();
    q.domain_id = Some(d2.id);
    assert_eq!(keys(list(q).await), [(d2.id, alice)]);
    let mut q = base();
    q.invitee_user_id = Some(alice);
    assert_eq!(keys(list(q).await), [(d2.id, alice), (d.id, alice)]);
    let mut q = base();
    q.invited_by = Some(admin);
    q.domain_id = Some(d.id);
    assert_eq!(keys(list(q).await), [(d.id, bob), (d.id, alice)]);
    let mut q = base();
    q.offset = 1;
    q.limit = 2;
    let p = list(q).await;
    assert_eq!((p.total, p.offset, p.limit), (4, 1, 2));
    assert_eq!(keys(p), [(d2.id, alice), (d.id, bob)]);
    let mut q = base();
    q.only_total = true;
    let p = list(q).await;
    assert_eq!(p.total, 4);
    assert!(p.items.is_empty());
    let got = list(base()).await;
    assert!(got.items.iter().any(|i| i.domain_name == d2.name));

    // Delete.
    s.delete_invitation(d.id, bob).await.unwrap();
    assert_not_found(s.invitation(d.id, bob).await);
    assert_not_found(s.delete_invitation(d.id, bob).await);
    assert_eq!(list(base()).await.total, 3);
}
