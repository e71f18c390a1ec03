//! Personal access tokens (per user), their scopes, and API key records.

use switchyard_domain::{ApiKey, Pat, PatScope, ScopeEntity, ScopeOp, ScopeTarget};
use switchyard_store::Store;
use time::Duration;
use uuid::Uuid;

use crate::fixtures::{assert_not_found, at, now, user};

fn pat(user: Uuid, name: &str, issued: i64) -> Pat {
    Pat {
        id: Uuid::new_v4(),
        user_id: user,
        name: name.into(),
        description: format!("{name} token"),
        secret_hash: format!("hash-{name}"),
        issued_at: at(issued),
        expires_at: at(issued) + Duration::days(30),
        updated_at: None,
        last_used_at: None,
        revoked: false,
        revoked_at: None,
    }
}

fn scope(pat: &Pat, domain: Option<Uuid>, entity_type: ScopeEntity, op: ScopeOp) -> PatScope {
    PatScope {
        id: Uuid::new_v4(),
        pat_id: pat.id,
        domain,
        entity_type,
        entity: ScopeTarget::Any,
        operation: op,
    }
}

/// Two users' ids, stored (PATs and keys belong to a user).
async fn two_users(s: &dyn Store, tag: &str) -> (Uuid, Uuid) {
    let (a, b) = (user(&format!("{tag}-a")), user(&format!("{tag}-b")));
    s.create_user(&a).await.unwrap();
    s.create_user(&b).await.unwrap();
    (a.user.id, b.user.id)
}

pub async fn pats_and_scopes(s: &dyn Store) {
    let (u1, u2) = two_users(s, "pat").await;
    let (p1, p2, q) = (pat(u1, "p1", 0), pat(u1, "p2", 10), pat(u2, "q", 5));
    for p in [&p1, &p2, &q] {
        s.create_pat(p).await.unwrap();
    }
    assert_eq!(s.pat(p1.id).await.unwrap(), p1);
    assert_eq!(s.user_pat(u1, p1.id).await.unwrap(), p1);
    assert_not_found(s.user_pat(u2, p1.id).await);
    assert_not_found(s.pat(Uuid::new_v4()).await);

    // Newest first, the user's own only.
    let page = s.list_pats(u1, 0, 10).await.unwrap();
    assert_eq!((page.total, page.items), (2, vec![p2.clone(), p1.clone()]));
    let page = s.list_pats(u1, 1, 1).await.unwrap();
    assert_eq!((page.total, page.items), (2, vec![p1.clone()]));

    let changed = Pat {
        name: "renamed".into(),
        description: String::new(),
        secret_hash: "hash-rotated".into(),
        expires_at: at(100),
        updated_at: Some(at(20)),
        ..p1.clone()
    };
    s.update_pat(&changed).await.unwrap();
    assert_eq!(s.pat(p1.id).await.unwrap(), changed);
    assert_not_found(
        s.update_pat(&Pat {
            user_id: u2,
            ..changed.clone()
        })
        .await,
    );
    s.touch_pat(p1.id, at(30)).await.unwrap();
    assert_eq!(s.pat(p1.id).await.unwrap().last_used_at, Some(at(30)));
    // Best effort (it follows a successful authentication): an unknown id is no error.
    s.touch_pat(Uuid::new_v4(), at(30)).await.unwrap();

    // Scopes: listed by entity type, operation, id; added all or none.
    let d = Uuid::new_v4();
    let s1 = scope(&p1, Some(d), ScopeEntity::Clients, ScopeOp::Read);
    let s2 = scope(&p1, None, ScopeEntity::Users, ScopeOp::Update);
    let s3 = PatScope {
        entity: ScopeTarget::One(Uuid::new_v4()),
        ..scope(&p1, Some(d), ScopeEntity::Channels, ScopeOp::Publish)
    };
    s.add_scopes(&[s1, s2, s3]).await.unwrap();
    s.add_scopes(&[]).await.unwrap();
    assert_eq!(s.all_scopes(p1.id).await.unwrap(), [s3, s1, s2]);
    assert!(s.all_scopes(p2.id).await.unwrap().is_empty());
    let page = s.scopes(p1.id, 1, 1).await.unwrap();
    assert_eq!((page.total, page.items), (3, vec![s1]));
    let s4 = scope(&p1, Some(d), ScopeEntity::Groups, ScopeOp::List);
    assert!(s.add_scopes(&[s4, s1]).await.is_err());
    assert_eq!(s.all_scopes(p1.id).await.unwrap().len(), 3);

    assert_eq!(s.remove_scopes(p1.id, Some(&[s1.id])).await.unwrap(), 1);
    assert_eq!(s.remove_scopes(p1.id, Some(&[])).await.unwrap(), 0);
    assert_eq!(s.remove_scopes(p2.id, Some(&[s2.id])).await.unwrap(), 0);
    assert_eq!(s.all_scopes(p1.id).await.unwrap(), [s3, s2]);
    assert_eq!(s.remove_scopes(p1.id, None).await.unwrap(), 2);
    assert!(s.all_scopes(p1.id).await.unwrap().is_empty());

    // Deleting a PAT takes its scopes; another user's id is not found.
    let s5 = scope(&p2, None, ScopeEntity::Users, ScopeOp::Read);
    s.add_scopes(&[s5]).await.unwrap();
    assert_not_found(s.delete_pat(u2, p2.id).await);
    s.delete_pat(u1, p2.id).await.unwrap();
    assert_not_found(s.pat(p2.id).await);
    assert!(s.all_scopes(p2.id).await.unwrap().is_empty());
    assert_not_found(s.delete_pat(u1, p2.id).await);

    // Revoking all of a user's PATs stamps each once; deleting all returns their ids.
    let p3 = pat(u1, "p3", 40);
    s.create_pat(&p3).await.unwrap();
    let t = at(50);
    let mut revoked = s.revoke_user_pats(u1, t).await.unwrap();
    revoked.sort();
    let mut want = vec![p1.id, p3.id];
    want.sort();
    assert_eq!(revoked, want);
    let got = s.pat(p3.id).await.unwrap();
    assert_eq!(
        (got.revoked, got.revoked_at, got.updated_at),
        (true, Some(t), Some(t))
    );
    assert!(s.revoke_user_pats(u1, at(60)).await.unwrap().is_empty());
    assert!(!s.pat(q.id).await.unwrap().revoked);
    let mut deleted = s.delete_user_pats(u1).await.unwrap();
    deleted.sort();
    assert_eq!(deleted, want);
    assert_eq!(s.list_pats(u1, 0, 10).await.unwrap().total, 0);
    assert_eq!(s.list_pats(u2, 0, 10).await.unwrap().items, [q]);
    assert!(s.delete_user_pats(u1).await.unwrap().is_empty());
}

pub async fn api_keys(s: &dyn Store) {
    let (u1, u2) = two_users(s, "key").await;
    let key = |issuer: Uuid, expires: Duration| ApiKey {
        id: Uuid::new_v4(),
        issuer_id: issuer,
        subject: format!("{issuer}"),
        issued_at: now() - Duration::hours(2),
        expires_at: now() + expires,
        revoked: false,
    };
    let (k1, old, k3) = (
        key(u1, Duration::hours(1)),
        key(u1, Duration::hours(-1)),
        key(u2, Duration::hours(1)),
    );
    for k in [&k1, &old, &k3] {
        s.create_key(k).await.unwrap();
    }
    assert_eq!(s.key(u1, k1.id).await.unwrap(), k1);
    assert_not_found(s.key(u2, k1.id).await);

    // Revoked once; a revoked key is no longer read.
    assert_not_found(s.revoke_key(u2, k1.id).await);
    s.revoke_key(u1, k1.id).await.unwrap();
    assert_not_found(s.revoke_key(u1, k1.id).await);
    assert_not_found(s.key(u1, k1.id).await);
    s.revoke_key(u1, old.id).await.unwrap();
    // Only revoked keys that have not expired need remembering.
    assert_eq!(s.revoked_keys(now()).await.unwrap(), [k1.id]);

    assert_eq!(s.revoke_user_keys(u2).await.unwrap(), [k3.id]);
    assert!(s.revoke_user_keys(u2).await.unwrap().is_empty());
    let mut all = s.revoked_keys(now()).await.unwrap();
    all.sort();
    let mut want = vec![k1.id, k3.id];
    want.sort();
    assert_eq!(all, want);
}
