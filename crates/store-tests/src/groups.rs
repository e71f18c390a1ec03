//! Groups: a tree per domain (create, read, list, move, hierarchy, children), the
//! parent group of clients and channels, and what a delete leaves.

use switchyard_domain::{EntityKind, Group, GroupQuery, Status};
use switchyard_store::{ConflictKind, Store};
use uuid::Uuid;

use crate::fixtures::{
    assert_conflict, assert_not_found, at, channel, client, domain, group, page, tags,
};

fn query() -> GroupQuery {
    GroupQuery {
        page: page(),
        ..GroupQuery::default()
    }
}

/// Names of a list, in its order.
fn names(gs: &[Group]) -> Vec<&str> {
    gs.iter().map(|g| g.name.as_str()).collect()
}

/// `(name, level)` of a tree listing, in its order.
fn levels(gs: &[Group]) -> Vec<(&str, i16)> {
    gs.iter().map(|g| (g.name.as_str(), g.level)).collect()
}

pub async fn group_tree(s: &dyn Store) {
    let d = domain(Uuid::new_v4(), "tree");
    let d2 = domain(Uuid::new_v4(), "tree-2");
    s.create_domain(&d).await.unwrap();
    s.create_domain(&d2).await.unwrap();
    // a ─ b ─ c, and h alone.
    let a = group(&d, "a", None);
    let b = group(&d, "b", Some(&a));
    let c = group(&d, "c", Some(&b));
    let h = group(&d, "h", None);
    s.create_groups(&[a.clone(), b.clone(), c.clone(), h.clone()])
        .await
        .unwrap();
    s.create_groups(&[]).await.unwrap();
    // All or none: a batch repeating a taken id writes nothing.
    let fresh = group(&d, "fresh", None);
    assert_conflict(
        s.create_groups(&[fresh.clone(), a.clone()]).await,
        ConflictKind::GroupId,
    );
    assert_not_found(s.group(d.id, fresh.id).await);

    assert_eq!(s.group(d.id, c.id).await.unwrap(), c);
    assert_not_found(s.group(d2.id, c.id).await);
    assert_not_found(s.group_for(Uuid::new_v4(), d2.id, c.id).await);

    let all = s.list_groups(d.id, &query()).await.unwrap();
    assert_eq!(all.total, 4);
    let roots = GroupQuery {
        root_only: true,
        ..query()
    };
    let mut got = s.list_groups(d.id, &roots).await.unwrap().items;
    got.sort_by(|x, y| x.name.cmp(&y.name));
    assert_eq!(names(&got), ["a", "h"]);
    let under_a = GroupQuery {
        parent: Some(a.id),
        ..query()
    };
    assert_eq!(
        names(&s.list_groups(d.id, &under_a).await.unwrap().items),
        ["b"]
    );
    assert_eq!(s.list_groups(d2.id, &query()).await.unwrap().total, 0);

    // Ancestors and descendants, with their distance, the group itself first.
    let up = s.group_hierarchy(d.id, c.id, true, 0).await.unwrap();
    assert_eq!(levels(&up), [("c", 0), ("b", 1), ("a", 2)]);
    let up1 = s.group_hierarchy(d.id, c.id, true, 1).await.unwrap();
    assert_eq!(levels(&up1), [("c", 0), ("b", 1)]);
    let down = s.group_hierarchy(d.id, a.id, false, 0).await.unwrap();
    assert_eq!(levels(&down), [("a", 0), ("b", 1), ("c", 2)]);
    assert!(
        s.group_hierarchy(d2.id, a.id, false, 0)
            .await
            .unwrap()
            .is_empty()
    );
    let children = |start, end| async move {
        let p = s
            .group_children(d.id, a.id, start, end, &query())
            .await
            .unwrap();
        let mut l: Vec<(String, i16)> = p.items.iter().map(|g| (g.name.clone(), g.level)).collect();
        l.sort();
        (p.total, l)
    };
    let pair = |n: &str, l: i16| (n.to_string(), l);
    assert_eq!(children(1, 0).await, (2, vec![pair("b", 1), pair("c", 2)]));
    assert_eq!(children(1, 1).await, (1, vec![pair("b", 1)]));
    assert_eq!(children(2, 0).await, (1, vec![pair("c", 2)]));

    // Moves: a subtree goes with its group; a parent inside the moved group's own
    // subtree is refused and the whole batch changes nothing.
    s.set_group_parent(d.id, &[b.id], Some(h.id)).await.unwrap();
    let up = s.group_hierarchy(d.id, c.id, true, 0).await.unwrap();
    assert_eq!(levels(&up), [("c", 0), ("b", 1), ("h", 2)]);
    assert_eq!(s.group(d.id, b.id).await.unwrap().parent_id, Some(h.id));
    assert_eq!(children(1, 0).await, (0, vec![]));
    assert_conflict(
        s.set_group_parent(d.id, &[a.id, h.id], Some(c.id)).await,
        ConflictKind::GroupId,
    );
    assert_eq!(s.group(d.id, a.id).await.unwrap().parent_id, None);
    assert_eq!(s.group(d.id, h.id).await.unwrap().parent_id, None);
    s.set_group_parent(d.id, &[b.id], None).await.unwrap();
    let up = s.group_hierarchy(d.id, c.id, true, 0).await.unwrap();
    assert_eq!(levels(&up), [("c", 0), ("b", 1)]);
    assert_not_found(s.set_group_parent(d2.id, &[b.id], None).await);
    s.set_group_parent(d.id, &[b.id], Some(a.id)).await.unwrap();

    let mut u = c.clone();
    u.name = "c2".into();
    u.description = "below b".into();
    u.tags = tags(&["x"]);
    u.status = Status::Disabled;
    u.updated_at = Some(at(9));
    u.updated_by = Some(Uuid::new_v4());
    s.update_group(&u).await.unwrap();
    assert_eq!(s.group(d.id, c.id).await.unwrap(), u);
    assert_not_found(
        s.update_group(&Group {
            domain_id: d2.id,
            ..u.clone()
        })
        .await,
    );
}

pub async fn entity_parents_and_group_delete(s: &dyn Store) {
    let d = domain(Uuid::new_v4(), "parents");
    s.create_domain(&d).await.unwrap();
    let a = group(&d, "a", None);
    let b = group(&d, "b", Some(&a));
    let c = group(&d, "c", Some(&b));
    s.create_groups(&[a.clone(), b.clone(), c.clone()])
        .await
        .unwrap();
    let (c1, c2) = (client(&d, "c1"), client(&d, "c2"));
    s.create_clients(&[c1.clone(), c2.clone()]).await.unwrap();
    let ch = channel(&d, "ch");
    s.create_channels(std::slice::from_ref(&ch)).await.unwrap();

    s.set_entity_parent(EntityKind::Client, d.id, &[c1.id, c2.id], Some(b.id))
        .await
        .unwrap();
    s.set_entity_parent(EntityKind::Channel, d.id, &[ch.id], Some(b.id))
        .await
        .unwrap();
    assert_eq!(
        s.client(d.id, c1.id).await.unwrap().parent_group_id,
        Some(b.id)
    );
    assert_eq!(
        s.channel(d.id, ch.id).await.unwrap().parent_group_id,
        Some(b.id)
    );
    s.set_entity_parent(EntityKind::Client, d.id, &[c2.id], None)
        .await
        .unwrap();
    assert_eq!(s.client(d.id, c2.id).await.unwrap().parent_group_id, None);
    assert_eq!(
        s.client(d.id, c1.id).await.unwrap().parent_group_id,
        Some(b.id)
    );

    // Deleting b: c becomes a root, b's client and channel lose their parent, b's
    // roles go; a and c are untouched otherwise.
    let role = switchyard_domain::Role {
        id: format!("r-{}", Uuid::new_v4()),
        name: "r".into(),
        entity_id: b.id,
        domain_id: d.id,
        kind: EntityKind::Group,
        created_by: d.created_by,
        created_at: at(0),
        updated_by: None,
        updated_at: None,
    };
    s.create_role(&role, &["client_read".to_string()], &[Uuid::new_v4()])
        .await
        .unwrap();
    assert_not_found(s.delete_group(Uuid::new_v4(), b.id).await);
    s.delete_group(d.id, b.id).await.unwrap();
    assert_not_found(s.group(d.id, b.id).await);
    assert_not_found(s.delete_group(d.id, b.id).await);
    assert_eq!(s.group(d.id, c.id).await.unwrap().parent_id, None);
    let up = s.group_hierarchy(d.id, c.id, true, 0).await.unwrap();
    assert_eq!(levels(&up), [("c", 0)]);
    let down = s.group_hierarchy(d.id, a.id, false, 0).await.unwrap();
    assert_eq!(levels(&down), [("a", 0)]);
    assert_eq!(s.client(d.id, c1.id).await.unwrap().parent_group_id, None);
    assert_eq!(s.channel(d.id, ch.id).await.unwrap().parent_group_id, None);
    assert_eq!(s.roles(b.id, 0, 10).await.unwrap().total, 0);
    assert_eq!(s.entity_members(b.id, 0, 10).await.unwrap().total, 0);
}
