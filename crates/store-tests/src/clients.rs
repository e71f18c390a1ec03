//! Clients: batch create (atomic, conflict index), get, list filters, update, delete.

use serde_json::json;
use switchyard_domain::{
    Client, ClientLogin, Dir, EntityQuery, Order, Page, Status, StatusFilter, TagFilter,
};
use switchyard_store::{ConflictKind, Store};
use time::Duration;
use uuid::Uuid;

use crate::fixtures::{
    assert_conflict, assert_not_found, at, client, domain, entity_query, meta, now, page, tags,
};

pub async fn client_create_get_update_delete(s: &dyn Store) {
    let d = domain(Uuid::new_v4(), "cl");
    let d2 = domain(Uuid::new_v4(), "cl2");
    s.create_domain(&d).await.unwrap();
    s.create_domain(&d2).await.unwrap();

    let mut a = client(&d, "a");
    a.tags = tags(&["t"]);
    a.metadata = meta(json!({"deep": {"list": [1, {"k": "v"}], "f": 0.25}}));
    a.private_metadata = meta(json!({"key": "s3cr3t"}));
    let mut b = client(&d, "b");
    b.status = Status::Disabled;
    s.create_clients(&[a.clone(), b.clone()]).await.unwrap();
    s.create_clients(&[]).await.unwrap();

    assert_eq!(s.client(d.id, a.id).await.unwrap(), a);
    assert_eq!(s.client(d.id, b.id).await.unwrap(), b);
    assert_eq!(s.client_any_domain(a.id).await.unwrap(), a);
    // Another domain does not see it.
    assert_not_found(s.client(d2.id, a.id).await);
    assert_not_found(s.client(d.id, Uuid::new_v4()).await);
    assert_not_found(s.client_any_domain(Uuid::new_v4()).await);

    // The same secret is fine in another domain.
    let mut c = client(&d2, "c");
    c.secret = a.secret.clone();
    s.create_clients(std::slice::from_ref(&c)).await.unwrap();

    let mut u = a.clone();
    u.name = "renamed".into();
    u.tags = tags(&["x", "y"]);
    u.metadata = meta(json!({"m": 1}));
    u.private_metadata = meta(json!({}));
    u.secret = "new-secret".into();
    u.status = Status::Disabled;
    u.updated_at = Some(now() + Duration::seconds(1));
    u.updated_by = Some(Uuid::new_v4());
    s.update_client(&u).await.unwrap();
    assert_eq!(s.client(d.id, a.id).await.unwrap(), u);

    let mut clash = u.clone();
    clash.secret = b.secret.clone();
    assert_conflict(s.update_client(&clash).await, ConflictKind::ClientSecret);
    // The update is scoped to the client's domain.
    let mut wrong = u.clone();
    wrong.domain_id = d2.id;
    assert_not_found(s.update_client(&wrong).await);
    let mut ghost = u.clone();
    ghost.id = Uuid::new_v4();
    assert_not_found(s.update_client(&ghost).await);

    assert_not_found(s.delete_client(d2.id, a.id).await);
    s.delete_client(d.id, a.id).await.unwrap();
    assert_not_found(s.client(d.id, a.id).await);
    assert_not_found(s.delete_client(d.id, a.id).await);
    assert_eq!(s.client(d.id, b.id).await.unwrap(), b);
}

async fn count_all(s: &dyn Store, domain: Uuid) -> u64 {
    let mut p = page();
    p.status = StatusFilter::All;
    p.only_total = true;
    s.list_clients(domain, &entity_query(p))
        .await
        .unwrap()
        .total
}

pub async fn client_batch_is_atomic(s: &dyn Store) {
    let d = domain(Uuid::new_v4(), "batch");
    s.create_domain(&d).await.unwrap();
    let existing = client(&d, "existing");
    s.create_clients(std::slice::from_ref(&existing))
        .await
        .unwrap();

    // The last item's secret is taken: nothing is created, the index names it.
    let mut batch: Vec<Client> = (0..3).map(|i| client(&d, &format!("n{i}"))).collect();
    batch[2].secret = existing.secret.clone();
    let idx = assert_conflict(s.create_clients(&batch).await, ConflictKind::ClientSecret);
    assert_eq!(idx, Some(2));
    for c in &batch {
        assert_not_found(s.client(d.id, c.id).await);
    }

    // The last item's id is taken.
    let mut batch: Vec<Client> = (0..3).map(|i| client(&d, &format!("m{i}"))).collect();
    batch[2].id = existing.id;
    let idx = assert_conflict(s.create_clients(&batch).await, ConflictKind::ClientId);
    assert_eq!(idx, Some(2));
    assert_eq!(count_all(s, d.id).await, 1);

    // Two items of the batch collide with each other.
    let mut batch: Vec<Client> = (0..3).map(|i| client(&d, &format!("k{i}"))).collect();
    batch[2].secret = batch[0].secret.clone();
    assert_conflict(s.create_clients(&batch).await, ConflictKind::ClientSecret);
    assert_eq!(count_all(s, d.id).await, 1);

    // A batch larger than one statement: still all or nothing.
    let n = 6000;
    let mut batch: Vec<Client> = (0..n).map(|i| client(&d, &format!("big{i}"))).collect();
    batch[n - 1].secret = existing.secret.clone();
    let idx = assert_conflict(s.create_clients(&batch).await, ConflictKind::ClientSecret);
    assert_eq!(idx, Some(n - 1));
    assert_eq!(count_all(s, d.id).await, 1);

    batch[n - 1].secret = Uuid::new_v4().to_string();
    s.create_clients(&batch).await.unwrap();
    assert_eq!(count_all(s, d.id).await, n as u64 + 1);
    assert_eq!(s.client(d.id, batch[n - 1].id).await.unwrap(), batch[n - 1]);
}

fn names(p: &Page<Client>) -> Vec<&str> {
    p.items.iter().map(|c| c.name.as_str()).collect()
}

pub async fn client_list_filters(s: &dyn Store) {
    let (u1, u2) = (Uuid::new_v4(), Uuid::new_v4());
    let d = domain(u1, "lf");
    let d2 = domain(u1, "lf2");
    s.create_domain(&d).await.unwrap();
    s.create_domain(&d2).await.unwrap();

    let specs = [
        (
            "Temp Sensor",
            &["a", "b"][..],
            json!({"loc": {"floor": 1, "room": "A"}, "kinds": ["x", "y"], "n": 5}),
            u1,
        ),
        (
            "temp_probe",
            &["b"],
            json!({"loc": {"floor": 2}, "kinds": ["y"]}),
            u2,
        ),
        (
            "Humidity",
            &["c"],
            json!({"loc": {"floor": 1, "room": "B"}, "kinds": [["x"]]}),
            u1,
        ),
        ("100% done", &[], json!({}), u1),
        (
            "other",
            &["a", "c"],
            json!({"n": 5.0, "flag": true, "none": null}),
            u2,
        ),
    ];
    let mut cs = Vec::new();
    for (i, (name, t, m, by)) in specs.into_iter().enumerate() {
        let mut c = client(&d, name);
        c.tags = tags(t);
        c.metadata = meta(m);
        c.created_by = by;
        c.created_at = at(i as i64);
        if i == 3 {
            c.status = Status::Disabled;
        }
        cs.push(c);
    }
    s.create_clients(&cs).await.unwrap();
    // Same name and metadata in another domain: never listed here.
    let mut foreign = client(&d2, "Temp Sensor foreign");
    foreign.metadata = cs[0].metadata.clone();
    foreign.tags = cs[0].tags.clone();
    s.create_clients(&[foreign]).await.unwrap();

    let list = |q: EntityQuery| async move { s.list_clients(d.id, &q).await.unwrap() };
    let with = |f: &dyn Fn(&mut EntityQuery)| {
        let mut q = entity_query(page());
        f(&mut q);
        q
    };

    let p = list(with(&|_| {})).await;
    assert_eq!(p.total, 4);
    assert_eq!(
        names(&p),
        ["other", "Humidity", "temp_probe", "Temp Sensor"]
    );
    assert_eq!(p.items[3], cs[0], "listed entities are complete");

    // Status.
    let p = list(with(&|q| q.page.status = StatusFilter::Disabled)).await;
    assert_eq!(names(&p), ["100% done"]);
    let p = list(with(&|q| q.page.status = StatusFilter::All)).await;
    assert_eq!(p.total, 5);
    let p = list(with(&|q| q.page.status = StatusFilter::Deleted)).await;
    assert_eq!((p.total, p.items.len()), (0, 0));

    // Name: substring, ASCII case-insensitive, wildcards literal.
    let p = list(with(&|q| q.page.name = Some("TEMP".into()))).await;
    assert_eq!(names(&p), ["temp_probe", "Temp Sensor"]);
    let p = list(with(&|q| q.page.name = Some("temp_".into()))).await;
    assert_eq!(names(&p), ["temp_probe"]);
    let p = list(with(&|q| {
        q.page.name = Some("%".into());
        q.page.status = StatusFilter::All;
    }))
    .await;
    assert_eq!(names(&p), ["100% done"]);
    let p = list(with(&|q| q.page.name = Some("zzz".into()))).await;
    assert_eq!(p.total, 0);

    // Metadata containment.
    let md =
        |m: serde_json::Value| move |q: &mut EntityQuery| q.page.metadata = Some(meta(m.clone()));
    let cases = [
        (
            json!({}),
            &["other", "Humidity", "temp_probe", "Temp Sensor"][..],
        ),
        (json!({"loc": {"floor": 1}}), &["Humidity", "Temp Sensor"]),
        (json!({"loc": {"floor": 1, "room": "A"}}), &["Temp Sensor"]),
        (
            json!({"loc": {}}),
            &["Humidity", "temp_probe", "Temp Sensor"],
        ),
        (json!({"loc": 1}), &[]),
        (json!({"kinds": ["y"]}), &["temp_probe", "Temp Sensor"]),
        (json!({"kinds": ["y", "x"]}), &["Temp Sensor"]),
        (json!({"kinds": ["x"]}), &["Temp Sensor"]),
        (json!({"kinds": [["x"]]}), &["Humidity"]),
        (
            json!({"kinds": []}),
            &["Humidity", "temp_probe", "Temp Sensor"],
        ),
        (json!({"kinds": "y"}), &[]),
        (json!({"n": 5}), &["other", "Temp Sensor"]),
        (json!({"n": 5.0}), &["other", "Temp Sensor"]),
        (json!({"n": "5"}), &[]),
        (json!({"flag": true}), &["other"]),
        (json!({"flag": false}), &[]),
        (json!({"none": null}), &["other"]),
        (json!({"missing": null}), &[]),
        (json!({"n": 5, "loc": {"room": "A"}}), &["Temp Sensor"]),
    ];
    for (needle, want) in cases {
        let p = list(with(&md(needle.clone()))).await;
        assert_eq!(names(&p), want, "metadata {needle}");
        assert_eq!(p.total, want.len() as u64, "metadata {needle}");
    }

    // Tags.
    let p = list(with(&|q| q.page.tags = TagFilter::parse("a,c"))).await;
    assert_eq!(names(&p), ["other", "Humidity", "Temp Sensor"]);
    let p = list(with(&|q| q.page.tags = TagFilter::parse("a+b"))).await;
    assert_eq!(names(&p), ["Temp Sensor"]);
    let p = list(with(&|q| q.page.tags = TagFilter::parse("c+a"))).await;
    assert_eq!(names(&p), ["other"]);
    let p = list(with(&|q| q.page.tags = TagFilter::parse("zzz"))).await;
    assert_eq!(p.total, 0);

    // Order and direction; ties never happen (id breaks them).
    let p = list(with(&|q| {
        q.page.order = Order::Name;
        q.page.dir = Dir::Asc;
    }))
    .await;
    assert_eq!(
        names(&p),
        ["Humidity", "Temp Sensor", "other", "temp_probe"]
    );
    let p = list(with(&|q| {
        q.page.order = Order::Name;
        q.page.dir = Dir::Desc;
    }))
    .await;
    assert_eq!(
        names(&p),
        ["temp_probe", "other", "Temp Sensor", "Humidity"]
    );
    let p = list(with(&|q| {
        q.page.order = Order::CreatedAt;
        q.page.dir = Dir::Asc;
    }))
    .await;
    assert_eq!(
        names(&p),
        ["Temp Sensor", "temp_probe", "Humidity", "other"]
    );

    // Offset and limit.
    let p = list(with(&|q| {
        q.page.offset = 1;
        q.page.limit = 2;
    }))
    .await;
    assert_eq!((p.total, p.offset, p.limit), (4, 1, 2));
    assert_eq!(names(&p), ["Humidity", "temp_probe"]);
    let p = list(with(&|q| q.page.offset = 10)).await;
    assert_eq!((p.total, p.items.len()), (4, 0));

    // only_total.
    let p = list(with(&|q| q.page.only_total = true)).await;
    assert_eq!((p.total, p.items.len()), (4, 0));

    // Creation time window (inclusive).
    let p = list(with(&|q| {
        q.page.created_from = Some(at(1));
        q.page.created_to = Some(at(2));
    }))
    .await;
    assert_eq!(names(&p), ["Humidity", "temp_probe"]);
    let p = list(with(&|q| q.page.created_from = Some(at(4)))).await;
    assert_eq!(names(&p), ["other"]);

    // Visibility: the creator is the admin of what they created.
    let p = list(with(&|q| {
        q.reader = Some(crate::fixtures::reader(u2, "client"))
    }))
    .await;
    assert_eq!(names(&p), ["other", "temp_probe"]);

    // Id.
    let id = cs[1].id.to_string();
    let p = list(with(&|q| q.page.id = Some(id.clone()))).await;
    assert_eq!(names(&p), ["temp_probe"]);
    let p = list(with(&|q| q.page.id = Some("not-an-id".into()))).await;
    assert_eq!(p.total, 0);

    // An update moves the client to the front of the default order.
    let mut u = cs[0].clone();
    u.updated_at = Some(at(100));
    s.update_client(&u).await.unwrap();
    let p = list(with(&|_| {})).await;
    assert_eq!(
        names(&p),
        ["Temp Sensor", "other", "Humidity", "temp_probe"]
    );
    let p = list(with(&|q| q.page.dir = Dir::Asc)).await;
    assert_eq!(
        names(&p),
        ["temp_probe", "Humidity", "other", "Temp Sensor"]
    );
}

/// The list filters through the search indexes (SQLite keeps a trigram index of names
/// and a table of tags and metadata values by trigger): after updates and deletes the
/// filters see the rows as they are now, never as they were; wildcards stay literal
/// and short needles still match.
pub async fn list_filters_follow_writes(s: &dyn Store) {
    let u = Uuid::new_v4();
    let d = domain(u, "fw");
    s.create_domain(&d).await.unwrap();
    let mut a = client(&d, "gateway-north");
    a.tags = tags(&["roof", "v1"]);
    a.metadata = meta(json!({"site": "oslo", "on": true, "n": 1}));
    let mut b = client(&d, "gateway_south");
    b.tags = tags(&["v1"]);
    b.metadata = meta(json!({"site": "bergen", "spare": null}));
    let mut c = client(&d, "gatewayXsouth");
    c.tags = tags(&["v1"]);
    c.metadata = meta(json!({"site": "bergen"}));
    s.create_clients(&[a.clone(), b.clone(), c.clone()])
        .await
        .unwrap();
    let find = |f: &dyn Fn(&mut EntityQuery)| {
        let mut q = entity_query(page());
        q.page.order = Order::Name;
        q.page.dir = Dir::Asc;
        f(&mut q);
        async move {
            let p = s.list_clients(d.id, &q).await.unwrap();
            names(&p)
                .into_iter()
                .map(str::to_string)
                .collect::<Vec<_>>()
        }
    };
    let name = |n: &str| {
        let n = n.to_string();
        move |q: &mut EntityQuery| q.page.name = Some(n.clone())
    };
    let tag = |t: &str| {
        let t = t.to_string();
        move |q: &mut EntityQuery| q.page.tags = TagFilter::parse(&t)
    };
    let md =
        |m: serde_json::Value| move |q: &mut EntityQuery| q.page.metadata = Some(meta(m.clone()));

    assert_eq!(find(&name("WAY-NOR")).await, ["gateway-north"]);
    assert_eq!(find(&name("way_sou")).await, ["gateway_south"]);
    assert_eq!(
        find(&name("th")).await,
        ["gateway-north", "gatewayXsouth", "gateway_south"]
    );
    assert_eq!(find(&tag("roof")).await, ["gateway-north"]);
    assert_eq!(find(&tag("v1+roof")).await, ["gateway-north"]);
    assert_eq!(
        find(&md(json!({"site": "bergen"}))).await,
        ["gatewayXsouth", "gateway_south"]
    );
    assert_eq!(find(&md(json!({"on": true}))).await, ["gateway-north"]);
    assert_eq!(find(&md(json!({"spare": null}))).await, ["gateway_south"]);
    assert_eq!(
        find(&md(json!({"site": "oslo", "n": 1.0}))).await,
        ["gateway-north"]
    );

    // Rename, retag and move a; the old values find nothing, the new ones find it.
    let mut a2 = a.clone();
    a2.name = "sensor-east".into();
    a2.tags = tags(&["cellar"]);
    a2.metadata = meta(json!({"site": "bergen", "on": false}));
    a2.updated_at = Some(now());
    s.update_client(&a2).await.unwrap();
    assert!(find(&name("north")).await.is_empty());
    assert_eq!(find(&name("SOR-EA")).await, ["sensor-east"]);
    assert!(find(&tag("roof")).await.is_empty());
    assert_eq!(
        find(&tag("cellar,v1")).await,
        ["gatewayXsouth", "gateway_south", "sensor-east"]
    );
    assert!(find(&md(json!({"site": "oslo"}))).await.is_empty());
    assert!(find(&md(json!({"on": true}))).await.is_empty());
    assert_eq!(find(&md(json!({"on": false}))).await, ["sensor-east"]);
    assert_eq!(
        find(&md(json!({"site": "bergen"}))).await,
        ["gatewayXsouth", "gateway_south", "sensor-east"]
    );

    // Deleting b takes it out of every filter.
    s.delete_client(d.id, b.id).await.unwrap();
    assert!(find(&name("way_sou")).await.is_empty());
    assert_eq!(find(&name("south")).await, ["gatewayXsouth"]);
    assert!(find(&md(json!({"spare": null}))).await.is_empty());
    assert_eq!(find(&tag("v1")).await, ["gatewayXsouth"]);
}

/// A narrow filter (tags, a name) matching more rows than a page selects and sorts at
/// once (10,000), fewer, and none: the total stays exact and the page is the first of
/// the order; a page past the end is empty with the total.
pub async fn wide_and_narrow_matches_page_alike(s: &dyn Store) {
    let d = domain(Uuid::new_v4(), "wide");
    s.create_domain(&d).await.unwrap();
    let many: Vec<Client> = (0..10_050i64)
        .map(|i| {
            let mut c = client(&d, &format!("bulk-{i:05}"));
            c.tags = tags(if i % 1000 == 0 {
                &["all", "rare"]
            } else {
                &["all"]
            });
            c.created_at = at(i);
            c
        })
        .collect();
    s.create_clients(&many).await.unwrap();
    let list = |f: &dyn Fn(&mut EntityQuery)| {
        let mut q = entity_query(page());
        q.page.order = Order::CreatedAt;
        q.page.dir = Dir::Desc;
        q.page.limit = 10;
        f(&mut q);
        async move { s.list_clients(d.id, &q).await.unwrap() }
    };
    let p = list(&|q| q.page.tags = TagFilter::parse("all")).await;
    assert_eq!(p.total, 10_050);
    assert_eq!(names(&p)[..2], ["bulk-10049", "bulk-10048"]);
    let p = list(&|q| q.page.name = Some("bulk-".into())).await;
    assert_eq!((p.total, p.items.len()), (10_050, 10));
    let p = list(&|q| q.page.tags = TagFilter::parse("rare")).await;
    assert_eq!(p.total, 11);
    assert_eq!(names(&p)[..2], ["bulk-10000", "bulk-09000"]);
    let p = list(&|q| {
        q.page.tags = TagFilter::parse("rare");
        q.page.offset = 10;
    })
    .await;
    assert_eq!(names(&p), ["bulk-00000"]);
    let p = list(&|q| {
        q.page.tags = TagFilter::parse("rare");
        q.page.offset = 11;
    })
    .await;
    assert_eq!((p.total, p.items.len()), (11, 0));
    let p = list(&|q| q.page.tags = TagFilter::parse("none-such")).await;
    assert_eq!((p.total, p.items.len()), (0, 0));
    let p = list(&|q| {
        q.page.name = Some("bulk-1004".into());
        q.page.only_total = true;
    })
    .await;
    assert_eq!((p.total, p.items.len()), (10, 0));
}

/// The message plane's lookup: a secret names one client of one domain.
pub async fn client_by_secret_is_per_domain(s: &dyn Store) {
    let d = domain(Uuid::new_v4(), "sec");
    let d2 = domain(Uuid::new_v4(), "sec2");
    s.create_domain(&d).await.unwrap();
    s.create_domain(&d2).await.unwrap();
    let a = client(&d, "a");
    let mut twin = client(&d2, "twin");
    twin.secret = a.secret.clone();
    s.create_clients(std::slice::from_ref(&a)).await.unwrap();
    s.create_clients(std::slice::from_ref(&twin)).await.unwrap();
    assert_eq!(s.client_by_secret(d.id, &a.secret).await.unwrap(), a);
    assert_eq!(s.client_by_secret(d2.id, &a.secret).await.unwrap(), twin);
    assert_not_found(s.client_by_secret(d.id, "no-such-secret").await);
    assert_not_found(s.client_by_secret(d.id, &a.secret.to_uppercase()).await);
    // A changed secret no longer authenticates; the new one does.
    let mut u = a.clone();
    u.secret = "rotated".into();
    s.update_client(&u).await.unwrap();
    assert_not_found(s.client_by_secret(d.id, &a.secret).await);
    assert_eq!(s.client_by_secret(d.id, "rotated").await.unwrap().id, a.id);
    s.ping().await.unwrap();

    // The login read: the client from any domain, and whether that domain is enabled;
    // many at once, unknown ids left out.
    let login = |c: &Client, domain_enabled: bool| ClientLogin {
        id: c.id,
        domain_id: c.domain_id,
        secret: c.secret.clone(),
        status: c.status,
        created_by: c.created_by,
        domain_enabled,
    };
    assert_eq!(s.client_login(twin.id).await.unwrap(), login(&twin, true));
    let mut off = d2.clone();
    off.status = Status::Disabled;
    s.update_domain(&off).await.unwrap();
    assert_eq!(s.client_login(twin.id).await.unwrap(), login(&twin, false));
    assert!(s.client_login(a.id).await.unwrap().domain_enabled);
    let mut both = s
        .client_logins(&[a.id, Uuid::new_v4(), twin.id])
        .await
        .unwrap();
    both.sort_by_key(|l| l.id == twin.id);
    assert_eq!(both, vec![login(&u, true), login(&twin, false)]);
    assert!(s.client_logins(&[]).await.unwrap().is_empty());
    assert_not_found(s.client_login(Uuid::new_v4()).await);
}
