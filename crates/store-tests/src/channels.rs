//! Channels: batch create (atomic, conflict index), get, by route, list filters, update,
//! delete.

use serde_json::json;
use switchyard_domain::{Channel, Dir, EntityQuery, Order, Page, Status, StatusFilter, TagFilter};
use switchyard_store::{ConflictKind, Store};
use time::Duration;
use uuid::Uuid;

use crate::fixtures::{
    assert_conflict, assert_not_found, at, channel, domain, entity_query, meta, now, page, tags,
};

pub async fn channel_create_get_update_delete(s: &dyn Store) {
    let d = domain(Uuid::new_v4(), "ch");
    let d2 = domain(Uuid::new_v4(), "ch2");
    s.create_domain(&d).await.unwrap();
    s.create_domain(&d2).await.unwrap();

    let mut a = channel(&d, "a");
    a.route = Some("route-a".into());
    a.tags = tags(&["t"]);
    a.metadata = meta(json!({"unit": "C", "limits": [0, 100.5]}));
    let b = channel(&d, "b");
    let c = channel(&d, "c");
    // Channels without a route do not collide with each other.
    s.create_channels(&[a.clone(), b.clone(), c.clone()])
        .await
        .unwrap();
    s.create_channels(&[]).await.unwrap();

    assert_eq!(s.channel(d.id, a.id).await.unwrap(), a);
    assert_eq!(s.channel(d.id, b.id).await.unwrap(), b);
    assert_eq!(s.channel_by_route(d.id, "route-a").await.unwrap(), a);
    assert_not_found(s.channel_by_route(d2.id, "route-a").await);
    assert_not_found(s.channel_by_route(d.id, "ROUTE-A").await);
    assert_not_found(s.channel(d2.id, a.id).await);
    assert_not_found(s.channel(d.id, Uuid::new_v4()).await);

    // The same route is fine in another domain.
    let mut other = channel(&d2, "other");
    other.route = a.route.clone();
    s.create_channels(std::slice::from_ref(&other))
        .await
        .unwrap();
    assert_eq!(s.channel_by_route(d2.id, "route-a").await.unwrap(), other);

    let mut u = a.clone();
    u.name = "renamed".into();
    u.route = Some("route-a2".into());
    u.tags = tags(&[]);
    u.metadata = meta(json!({"m": {"n": [true]}}));
    u.status = Status::Disabled;
    u.updated_at = Some(now() + Duration::seconds(1));
    u.updated_by = Some(Uuid::new_v4());
    s.update_channel(&u).await.unwrap();
    assert_eq!(s.channel(d.id, a.id).await.unwrap(), u);
    assert_eq!(s.channel_by_route(d.id, "route-a2").await.unwrap(), u);
    assert_not_found(s.channel_by_route(d.id, "route-a").await);

    let mut clash = b.clone();
    clash.route = u.route.clone();
    assert_conflict(s.update_channel(&clash).await, ConflictKind::ChannelRoute);
    let mut wrong = u.clone();
    wrong.domain_id = d2.id;
    assert_not_found(s.update_channel(&wrong).await);

    assert_not_found(s.delete_channel(d2.id, a.id).await);
    s.delete_channel(d.id, a.id).await.unwrap();
    assert_not_found(s.channel(d.id, a.id).await);
    assert_not_found(s.delete_channel(d.id, a.id).await);
    assert_eq!(s.channel(d.id, b.id).await.unwrap(), b);
}

async fn count_all(s: &dyn Store, domain: Uuid) -> u64 {
    let mut p = page();
    p.status = StatusFilter::All;
    p.only_total = true;
    s.list_channels(domain, &entity_query(p))
        .await
        .unwrap()
        .total
}

pub async fn channel_batch_is_atomic(s: &dyn Store) {
    let d = domain(Uuid::new_v4(), "cbatch");
    s.create_domain(&d).await.unwrap();
    let mut existing = channel(&d, "existing");
    existing.route = Some("taken".into());
    s.create_channels(std::slice::from_ref(&existing))
        .await
        .unwrap();

    let mut batch: Vec<Channel> = (0..3).map(|i| channel(&d, &format!("n{i}"))).collect();
    batch[0].route = Some("free".into());
    batch[2].route = Some("taken".into());
    let idx = assert_conflict(s.create_channels(&batch).await, ConflictKind::ChannelRoute);
    assert_eq!(idx, Some(2));
    for c in &batch {
        assert_not_found(s.channel(d.id, c.id).await);
    }

    let mut batch: Vec<Channel> = (0..3).map(|i| channel(&d, &format!("m{i}"))).collect();
    batch[2].id = existing.id;
    let idx = assert_conflict(s.create_channels(&batch).await, ConflictKind::ChannelId);
    assert_eq!(idx, Some(2));
    assert_eq!(count_all(s, d.id).await, 1);

    let n = 6000;
    let mut batch: Vec<Channel> = (0..n).map(|i| channel(&d, &format!("big{i}"))).collect();
    batch[n - 1].id = existing.id;
    let idx = assert_conflict(s.create_channels(&batch).await, ConflictKind::ChannelId);
    assert_eq!(idx, Some(n - 1));
    assert_eq!(count_all(s, d.id).await, 1);

    batch[n - 1].id = Uuid::new_v4();
    s.create_channels(&batch).await.unwrap();
    assert_eq!(count_all(s, d.id).await, n as u64 + 1);
}

fn names(p: &Page<Channel>) -> Vec<&str> {
    p.items.iter().map(|c| c.name.as_str()).collect()
}

pub async fn channel_list_filters(s: &dyn Store) {
    let (u1, u2) = (Uuid::new_v4(), Uuid::new_v4());
    let d = domain(u1, "chlf");
    s.create_domain(&d).await.unwrap();
    let specs: Vec<(&str, &[&str], serde_json::Value, Uuid)> = vec![
        (
            "Kitchen",
            &["home", "temp"],
            json!({"site": {"id": 7, "tags": ["a", "b"]}}),
            u1,
        ),
        ("garage", &["home"], json!({"site": {"id": 8}}), u2),
        (
            "Office_1",
            &["work"],
            json!({"site": {"id": 7, "tags": ["b"]}}),
            u1,
        ),
        (
            "office 2",
            &["work", "temp"],
            json!({"site": {"id": 9}}),
            u2,
        ),
    ];
    let mut cs = Vec::new();
    for (i, (name, t, m, by)) in specs.into_iter().enumerate() {
        let mut c = channel(&d, name);
        c.tags = tags(t);
        c.metadata = meta(m);
        c.created_by = by;
        c.created_at = at(i as i64);
        if i == 1 {
            c.status = Status::Disabled;
        }
        cs.push(c);
    }
    s.create_channels(&cs).await.unwrap();

    let list = |q: EntityQuery| async move { s.list_channels(d.id, &q).await.unwrap() };
    let with = |f: &dyn Fn(&mut EntityQuery)| {
        let mut q = entity_query(page());
        f(&mut q);
        q
    };

    let p = list(with(&|_| {})).await;
    assert_eq!(
        (p.total, names(&p)),
        (3, vec!["office 2", "Office_1", "Kitchen"])
    );
    assert_eq!(p.items[2], cs[0]);
    let p = list(with(&|q| q.page.status = StatusFilter::All)).await;
    assert_eq!(p.total, 4);
    let p = list(with(&|q| q.page.status = StatusFilter::Disabled)).await;
    assert_eq!(names(&p), ["garage"]);
    let p = list(with(&|q| q.page.name = Some("OFFICE".into()))).await;
    assert_eq!(names(&p), ["office 2", "Office_1"]);
    let p = list(with(&|q| q.page.name = Some("e_".into()))).await;
    assert_eq!(names(&p), ["Office_1"]);
    let p = list(with(&|q| {
        q.page.metadata = Some(meta(json!({"site": {"id": 7}})))
    }))
    .await;
    assert_eq!(names(&p), ["Office_1", "Kitchen"]);
    let p = list(with(&|q| {
        q.page.metadata = Some(meta(json!({"site": {"tags": ["a"]}})));
    }))
    .await;
    assert_eq!(names(&p), ["Kitchen"]);
    let p = list(with(&|q| q.page.tags = TagFilter::parse("temp"))).await;
    assert_eq!(names(&p), ["office 2", "Kitchen"]);
    let p = list(with(&|q| q.page.tags = TagFilter::parse("work+temp"))).await;
    assert_eq!(names(&p), ["office 2"]);
    let p = list(with(&|q| q.page.tags = TagFilter::parse("home,work"))).await;
    assert_eq!(p.total, 3);
    let p = list(with(&|q| {
        q.page.order = Order::Name;
        q.page.dir = Dir::Asc;
    }))
    .await;
    assert_eq!(names(&p), ["Kitchen", "Office_1", "office 2"]);
    let p = list(with(&|q| {
        q.page.order = Order::CreatedAt;
        q.page.dir = Dir::Desc;
        q.page.limit = 1;
        q.page.offset = 1;
    }))
    .await;
    assert_eq!((p.total, names(&p)), (3, vec!["Office_1"]));
    let p = list(with(&|q| q.page.only_total = true)).await;
    assert_eq!((p.total, p.items.len()), (3, 0));
    let p = list(with(&|q| q.page.created_to = Some(at(2)))).await;
    assert_eq!(names(&p), ["Office_1", "Kitchen"]);
    let p = list(with(&|q| {
        q.reader = Some(crate::fixtures::reader(u2, "channel"));
        q.page.status = StatusFilter::All;
    }))
    .await;
    assert_eq!(names(&p), ["office 2", "garage"]);
}

/// Lookups by id across domains and by a set of ids within one.
pub async fn channel_lookups(s: &dyn Store) {
    let d = domain(Uuid::new_v4(), "look");
    let d2 = domain(Uuid::new_v4(), "look2");
    s.create_domain(&d).await.unwrap();
    s.create_domain(&d2).await.unwrap();
    let (a, b) = (channel(&d, "a"), channel(&d, "b"));
    let other = channel(&d2, "other");
    s.create_channels(&[a.clone(), b.clone()]).await.unwrap();
    s.create_channels(std::slice::from_ref(&other))
        .await
        .unwrap();

    assert_eq!(s.channel_any_domain(other.id).await.unwrap(), other);
    assert_not_found(s.channel_any_domain(Uuid::new_v4()).await);

    let mut got = s
        .channels_by_ids(d.id, &[a.id, b.id, other.id, Uuid::new_v4()])
        .await
        .unwrap();
    got.sort_by_key(|c| c.name.clone());
    assert_eq!(
        got,
        vec![a.clone(), b],
        "this domain's, the unknown left out"
    );
    assert!(s.channels_by_ids(d.id, &[]).await.unwrap().is_empty());
    assert_eq!(
        s.channels_by_ids(d2.id, &[a.id, other.id]).await.unwrap(),
        vec![other]
    );
}
