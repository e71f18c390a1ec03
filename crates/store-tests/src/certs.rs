//! Certificates: create, lookups by domain and by serial, listing (newest first, by
//! client, by owner), revocation (first time kept), per-client revocation, renewal in
//! one transaction, and the CRL's content.

use switchyard_domain::{Client, Domain, Timestamp};
use switchyard_store::{CertQuery, CertRecord, Store, StoreError};
use time::Duration;
use uuid::Uuid;

use crate::fixtures::{assert_not_found, at, client, domain};

fn cert(c: &Client, serial: &str, created: i64, expires: Timestamp) -> CertRecord {
    CertRecord {
        serial: serial.into(),
        domain_id: c.domain_id,
        client_id: c.id,
        certificate: format!("-----BEGIN CERTIFICATE-----\n{serial}\n"),
        sealed_key: format!("sealed-{serial}"),
        expires_at: expires,
        revoked_at: None,
        created_by: c.created_by,
        created_at: at(created),
    }
}

fn serials(v: &[CertRecord]) -> Vec<&str> {
    v.iter().map(|c| c.serial.as_str()).collect()
}

async fn setup(s: &dyn Store) -> (Domain, Domain, Client, Client) {
    let owner = Uuid::new_v4();
    let d = domain(owner, "certs");
    let d2 = domain(Uuid::new_v4(), "certs2");
    s.create_domain(&d).await.unwrap();
    s.create_domain(&d2).await.unwrap();
    let a = client(&d, "a");
    let mut b = client(&d, "b");
    b.created_by = Uuid::new_v4();
    s.create_clients(&[a.clone(), b.clone()]).await.unwrap();
    (d, d2, a, b)
}

pub async fn cert_create_get_list(s: &dyn Store) {
    let (d, d2, a, b) = setup(s).await;
    let far = at(86_400 * 365);
    let c1 = cert(&a, "0a01", 1, far);
    let c2 = cert(&a, "0a02", 2, far);
    let c3 = cert(&b, "0b01", 3, far);
    for c in [&c1, &c2, &c3] {
        s.create_cert(c).await.unwrap();
    }
    // A serial is unique across domains.
    let mut again = cert(&a, "0a01", 9, far);
    again.domain_id = d2.id;
    assert!(matches!(
        s.create_cert(&again).await,
        Err(StoreError::Conflict { .. })
    ));

    assert_eq!(s.cert(d.id, "0a01").await.unwrap(), c1);
    assert_not_found(s.cert(d2.id, "0a01").await);
    assert_not_found(s.cert(d.id, "ffff").await);
    assert_eq!(s.cert_by_serial("0b01").await.unwrap(), c3);
    assert_not_found(s.cert_by_serial("ffff").await);

    let all = CertQuery {
        limit: 10,
        ..CertQuery::default()
    };
    let p = s.list_certs(d.id, &all).await.unwrap();
    assert_eq!(p.total, 3);
    assert_eq!(serials(&p.items), ["0b01", "0a02", "0a01"], "newest first");
    let page2 = CertQuery {
        offset: 1,
        limit: 1,
        ..CertQuery::default()
    };
    let p = s.list_certs(d.id, &page2).await.unwrap();
    assert_eq!((p.total, serials(&p.items)), (3, vec!["0a02"]));
    let of_a = CertQuery {
        limit: 10,
        client_id: Some(a.id),
        ..CertQuery::default()
    };
    let p = s.list_certs(d.id, &of_a).await.unwrap();
    assert_eq!((p.total, serials(&p.items)), (2, vec!["0a02", "0a01"]));
    let owned = CertQuery {
        limit: 10,
        owner: Some(b.created_by),
        ..CertQuery::default()
    };
    assert_eq!(
        serials(&s.list_certs(d.id, &owned).await.unwrap().items),
        ["0b01"]
    );
    // limit 0: the total only.
    let count = CertQuery::default();
    let p = s.list_certs(d.id, &count).await.unwrap();
    assert_eq!((p.total, p.items.len()), (3, 0));
    assert_eq!(s.list_certs(d2.id, &all).await.unwrap().total, 0);
}

pub async fn cert_revoke_renew_and_crl(s: &dyn Store) {
    let (d, d2, a, b) = setup(s).await;
    let far = at(86_400 * 365);
    let c1 = cert(&a, "01", 1, far);
    let c2 = cert(&a, "02", 2, far);
    let c3 = cert(&b, "03", 3, far);
    // Already expired at the CRL's time below: revoked, but no longer listed.
    let old = cert(&b, "04", 4, at(100));
    for c in [&c1, &c2, &c3, &old] {
        s.create_cert(c).await.unwrap();
    }

    // Revocation keeps its first time; another domain's serial is not found.
    s.revoke_cert(d.id, "01", at(10)).await.unwrap();
    s.revoke_cert(d.id, "01", at(20)).await.unwrap();
    assert_eq!(s.cert(d.id, "01").await.unwrap().revoked_at, Some(at(10)));
    assert_not_found(s.revoke_cert(d2.id, "02", at(10)).await);
    assert_not_found(s.revoke_cert(d.id, "ff", at(10)).await);
    assert_eq!(s.cert(d.id, "02").await.unwrap().revoked_at, None);

    // Renewal: the old one revoked and the new one stored, together.
    let renewed = cert(&a, "05", 5, far);
    s.renew_cert("02", &renewed, at(30)).await.unwrap();
    assert_eq!(s.cert(d.id, "02").await.unwrap().revoked_at, Some(at(30)));
    assert_eq!(s.cert(d.id, "05").await.unwrap(), renewed);
    // Renewing a revoked (or unknown) certificate stores nothing.
    let orphan = cert(&a, "06", 6, far);
    assert_not_found(s.renew_cert("01", &orphan, at(40)).await);
    assert_not_found(s.renew_cert("ff", &orphan, at(40)).await);
    assert_not_found(s.cert(d.id, "06").await);
    // A renewal whose new serial is taken leaves the old certificate unrevoked.
    let taken = cert(&a, "03", 7, far);
    assert!(s.renew_cert("05", &taken, at(40)).await.is_err());
    assert_eq!(s.cert(d.id, "05").await.unwrap().revoked_at, None);

    // Every unrevoked certificate of a client; the revoked keep their time.
    assert_eq!(s.revoke_client_certs(d.id, b.id, at(50)).await.unwrap(), 2);
    assert_eq!(s.revoke_client_certs(d.id, b.id, at(60)).await.unwrap(), 0);
    assert_eq!(s.revoke_client_certs(d2.id, a.id, at(60)).await.unwrap(), 0);
    assert_eq!(s.cert(d.id, "03").await.unwrap().revoked_at, Some(at(50)));
    assert_eq!(s.cert(d.id, "05").await.unwrap().revoked_at, None);

    // The CRL: revoked and unexpired, by serial.
    let crl = s.revoked_certs(at(200)).await.unwrap();
    assert_eq!(
        crl,
        vec![
            ("01".to_string(), at(10)),
            ("02".to_string(), at(30)),
            ("03".to_string(), at(50)),
        ]
    );
    let before_expiry = s.revoked_certs(at(99)).await.unwrap();
    assert_eq!(before_expiry.len(), 4);
    assert!(
        s.revoked_certs(far + Duration::seconds(1))
            .await
            .unwrap()
            .is_empty()
    );
}
