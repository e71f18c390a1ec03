//! Users and refresh sessions.

use serde_json::json;
use switchyard_domain::{
    Dir, Order, RefreshSession, Status, StatusFilter, TagFilter, User, UserQuery, UserRole,
};
use switchyard_store::{ConflictKind, Store};
use time::Duration;
use uuid::Uuid;

use crate::fixtures::{assert_conflict, assert_not_found, at, meta, now, page, tags, user};

pub async fn user_create_get_login(s: &dyn Store) {
    let mut w = user("alice");
    w.user.tags = tags(&["t1", "t2"]);
    w.user.metadata = meta(json!({"a": {"b": [1, 2.5, "x"]}, "n": null}));
    w.user.private_metadata = meta(json!({"secret": true}));
    w.user.profile_picture = "https://example.com/p.png".into();
    w.user.role = UserRole::Admin;
    w.user.verified_at = Some(now());
    s.create_user(&w).await.unwrap();

    let got = s.user(w.user.id).await.unwrap();
    assert_eq!(got.user, w.user);
    assert_eq!(got.password_hash, w.password_hash);

    let by_name = s.user_by_login("alice").await.unwrap();
    assert_eq!(by_name.user.id, w.user.id);
    let by_mail = s.user_by_login("alice@example.com").await.unwrap();
    assert_eq!(by_mail.user.id, w.user.id);
    assert_eq!(by_mail.password_hash, "hash-of-alice");

    assert_not_found(s.user(Uuid::new_v4()).await);
    assert_not_found(s.user_by_login("nobody").await);
    // Login is exact, not a pattern or case-folded match.
    assert_not_found(s.user_by_login("ALICE").await);
    assert_not_found(s.user_by_login("ali%").await);

    let mut dup = user("alice2");
    dup.user.email = w.user.email.clone();
    assert_conflict(s.create_user(&dup).await, ConflictKind::UserEmail);
    let mut dup = user("alice");
    dup.user.email = "other@example.com".into();
    assert_conflict(s.create_user(&dup).await, ConflictKind::Username);
    let mut dup = user("alice3");
    dup.user.id = w.user.id;
    assert_conflict(s.create_user(&dup).await, ConflictKind::UserId);
}

pub async fn user_update_and_password(s: &dyn Store) {
    let w = user("bob");
    let other = user("carol");
    s.create_user(&w).await.unwrap();
    s.create_user(&other).await.unwrap();

    let mut u = w.user.clone();
    u.first_name = "Robert".into();
    u.last_name = "Builder".into();
    u.email = "robert@example.com".into();
    u.username = "robert".into();
    u.tags = tags(&["x"]);
    u.metadata = meta(json!({"k": "v"}));
    u.private_metadata = meta(json!({"p": 1}));
    u.profile_picture = "pic".into();
    u.status = Status::Disabled;
    u.role = UserRole::Admin;
    u.updated_at = Some(now());
    u.updated_by = Some(other.user.id);
    u.verified_at = Some(now());
    s.update_user(&u).await.unwrap();
    let got = s.user(u.id).await.unwrap();
    assert_eq!(got.user, u);
    assert_eq!(
        got.password_hash, w.password_hash,
        "update_user keeps the password"
    );

    let mut clash = u.clone();
    clash.email = other.user.email.clone();
    assert_conflict(s.update_user(&clash).await, ConflictKind::UserEmail);
    let mut clash = u.clone();
    clash.username = other.user.username.clone();
    assert_conflict(s.update_user(&clash).await, ConflictKind::Username);

    let mut ghost = u.clone();
    ghost.id = Uuid::new_v4();
    ghost.email = "ghost@example.com".into();
    ghost.username = "ghost".into();
    assert_not_found(s.update_user(&ghost).await);

    let t = now() + Duration::seconds(5);
    let session = |user: Uuid| RefreshSession {
        id: Uuid::new_v4(),
        user_id: user,
        description: "d".into(),
        created_at: now(),
        expires_at: now() + Duration::seconds(100),
    };
    let (mine, theirs) = (session(u.id), session(other.user.id));
    s.create_session(&mine).await.unwrap();
    s.create_session(&theirs).await.unwrap();
    // The password changes and the user's sessions end, together.
    assert_eq!(
        s.update_password(u.id, "new-hash", t).await.unwrap(),
        vec![mine.id]
    );
    assert_not_found(s.session(mine.id).await);
    assert_eq!(s.session(theirs.id).await.unwrap(), theirs);
    let got = s.user(u.id).await.unwrap();
    assert_eq!(got.password_hash, "new-hash");
    assert_eq!(got.user.updated_at, Some(t));
    assert_not_found(s.update_password(Uuid::new_v4(), "h", t).await);

    // A reset replaces the hash only while it is still the one the token was made for.
    let again = session(u.id);
    s.create_session(&again).await.unwrap();
    let t2 = t + Duration::seconds(1);
    assert_not_found(s.replace_password_hash(u.id, "stale", "h2", t2).await);
    assert_eq!(s.user(u.id).await.unwrap().password_hash, "new-hash");
    assert_eq!(s.session(again.id).await.unwrap(), again);
    assert_eq!(
        s.replace_password_hash(u.id, "new-hash", "h2", t2)
            .await
            .unwrap(),
        vec![again.id]
    );
    assert_not_found(s.session(again.id).await);
    let got = s.user(u.id).await.unwrap();
    assert_eq!(
        (got.password_hash.as_str(), got.user.updated_at),
        ("h2", Some(t2))
    );
    // Spent: the same reset cannot run twice.
    assert_not_found(s.replace_password_hash(u.id, "new-hash", "h3", t2).await);

    let mut ids = s.inactive_user_ids().await.unwrap();
    ids.sort();
    assert_eq!(ids, vec![u.id]);
}

pub async fn user_list_filters(s: &dyn Store) {
    let mut us: Vec<User> = Vec::new();
    for (i, name) in ["alice", "Bob", "carol_x", "dave", "erin"]
        .iter()
        .enumerate()
    {
        let mut w = user(name);
        w.user.created_at = at(i as i64);
        w.user.first_name = format!("First{i}");
        w.user.last_name = ["Smith", "smithers", "Jones", "JONES", "Brown"][i].into();
        w.user.email = format!(
            "{}@{}.org",
            name.to_lowercase(),
            ["a", "b", "a", "b", "a"][i]
        );
        w.user.tags = tags([&["red", "blue"][..], &["blue"], &["green"], &[], &["red"]][i]);
        w.user.metadata = meta(json!({"team": (["x", "y", "x", "z", "y"][i]), "level": i}));
        if i == 4 {
            w.user.status = Status::Disabled;
        }
        s.create_user(&w).await.unwrap();
        us.push(w.user);
    }
    let names = |p: &switchyard_domain::Page<User>| {
        p.items
            .iter()
            .map(|u| u.username.clone())
            .collect::<Vec<_>>()
    };
    let list = |q: UserQuery| async move { s.list_users(&q).await.unwrap() };
    let base = || UserQuery {
        page: page(),
        ..UserQuery::default()
    };

    // Default: enabled only, newest first.
    let p = list(base()).await;
    assert_eq!(p.total, 4);
    assert_eq!(names(&p), ["dave", "carol_x", "Bob", "alice"]);

    let mut q = base();
    q.page.status = StatusFilter::Disabled;
    assert_eq!(names(&list(q).await), ["erin"]);
    let mut q = base();
    q.page.status = StatusFilter::All;
    assert_eq!(list(q).await.total, 5);

    let mut q = base();
    q.username = Some("B".into());
    assert_eq!(names(&list(q).await), ["Bob"]);
    let mut q = base();
    q.username = Some("_".into());
    assert_eq!(names(&list(q).await), ["carol_x"], "underscore is literal");
    let mut q = base();
    q.email = Some("@A.ORG".into());
    assert_eq!(names(&list(q).await), ["carol_x", "alice"]);
    let mut q = base();
    q.last_name = Some("jones".into());
    assert_eq!(names(&list(q).await), ["dave", "carol_x"]);
    let mut q = base();
    q.first_name = Some("first1".into());
    assert_eq!(names(&list(q).await), ["Bob"]);

    let mut q = base();
    q.page.metadata = Some(meta(json!({"team": "x"})));
    assert_eq!(names(&list(q).await), ["carol_x", "alice"]);
    let mut q = base();
    q.page.tags = TagFilter::parse("red,green");
    assert_eq!(names(&list(q).await), ["carol_x", "alice"]);
    let mut q = base();
    q.page.tags = TagFilter::parse("red+blue");
    assert_eq!(names(&list(q).await), ["alice"]);
    let mut q = base();
    q.page.id = Some(us[1].id.to_string());
    assert_eq!(names(&list(q).await), ["Bob"]);

    // Ordering is by byte value: upper case sorts first.
    let mut q = base();
    q.page.order = Order::Username;
    q.page.dir = Dir::Asc;
    assert_eq!(names(&list(q).await), ["Bob", "alice", "carol_x", "dave"]);
    let mut q = base();
    q.page.order = Order::Email;
    q.page.dir = Dir::Desc;
    assert_eq!(names(&list(q).await), ["dave", "carol_x", "Bob", "alice"]);
    let mut q = base();
    q.page.order = Order::LastName;
    q.page.dir = Dir::Asc;
    assert_eq!(names(&list(q).await), ["dave", "carol_x", "alice", "Bob"]);
    let mut q = base();
    q.page.order = Order::FirstName;
    q.page.dir = Dir::Asc;
    assert_eq!(names(&list(q).await), ["alice", "Bob", "carol_x", "dave"]);
    let mut q = base();
    q.page.order = Order::CreatedAt;
    q.page.dir = Dir::Asc;
    q.page.offset = 1;
    q.page.limit = 2;
    let p = list(q).await;
    assert_eq!((p.total, p.offset, p.limit), (4, 1, 2));
    assert_eq!(names(&p), ["Bob", "carol_x"]);

    let mut q = base();
    q.page.only_total = true;
    let p = list(q).await;
    assert_eq!(p.total, 4);
    assert!(p.items.is_empty());

    let mut q = base();
    q.page.created_from = Some(at(1));
    q.page.created_to = Some(at(2));
    assert_eq!(names(&list(q).await), ["carol_x", "Bob"]);
}

pub async fn sessions(s: &dyn Store) {
    let w = user("sam");
    let other = user("olga");
    s.create_user(&w).await.unwrap();
    s.create_user(&other).await.unwrap();
    let t = now();
    let mk = |created: i64, expires: i64, d: &str| RefreshSession {
        id: Uuid::new_v4(),
        user_id: w.user.id,
        description: d.into(),
        created_at: t + Duration::seconds(created),
        expires_at: t + Duration::seconds(expires),
    };
    let s1 = mk(1, 100, "laptop");
    let s2 = mk(2, 100, "phone");
    let expired = mk(0, -1, "old");
    for x in [&s2, &s1, &expired] {
        s.create_session(x).await.unwrap();
    }
    assert_eq!(s.session(s1.id).await.unwrap(), s1);
    assert_eq!(s.session(expired.id).await.unwrap(), expired);
    assert_not_found(s.session(Uuid::new_v4()).await);

    // Rotation: the first refresh id is ''; each presented id works once.
    assert!(s.rotate_session(s1.id, "", "r1").await.unwrap());
    assert!(
        !s.rotate_session(s1.id, "", "r2").await.unwrap(),
        "replayed"
    );
    assert!(s.rotate_session(s1.id, "r1", "r2").await.unwrap());
    assert!(!s.rotate_session(Uuid::new_v4(), "", "x").await.unwrap());

    let live = s.list_sessions(w.user.id, t).await.unwrap();
    assert_eq!(
        live,
        vec![s1.clone(), s2.clone()],
        "live sessions, oldest first"
    );
    assert!(s.list_sessions(other.user.id, t).await.unwrap().is_empty());

    // A session belongs to its user: nobody else can delete it.
    assert_not_found(s.delete_session(other.user.id, s1.id).await);
    s.delete_session(w.user.id, s1.id).await.unwrap();
    assert_not_found(s.session(s1.id).await);
    assert_not_found(s.delete_session(w.user.id, s1.id).await);
    assert_eq!(s.list_sessions(w.user.id, t).await.unwrap(), vec![s2]);

    // A session needs an existing user.
    let mut orphan = mk(1, 100, "orphan");
    orphan.user_id = Uuid::new_v4();
    assert!(s.create_session(&orphan).await.is_err());
}

/// A fact is recorded once; later proposals get the recorded value.
pub async fn cluster_facts_agree(s: &dyn Store) {
    assert_eq!(s.agree("ca", "first").await.unwrap(), "first");
    assert_eq!(s.agree("ca", "second").await.unwrap(), "first");
    assert_eq!(s.agree("other", "x").await.unwrap(), "x");
    // Concurrent proposals all see the one that won.
    let names = ["a", "b", "c", "d"];
    let got = futures::future::join_all(names.iter().map(|v| s.agree("race", v))).await;
    let won = got[0].as_ref().unwrap().clone();
    assert!(names.contains(&won.as_str()));
    for g in got {
        assert_eq!(g.unwrap(), won);
    }
}
