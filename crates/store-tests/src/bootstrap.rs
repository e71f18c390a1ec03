//! Bootstrap configs: create (with or without a new client, in one transaction), get,
//! list filters, update, update with connection changes, delete.

use switchyard_domain::{BootstrapConfig, Client, Connection, ConnectionType};
use switchyard_store::{ConfigQuery, ConflictKind, Store};
use uuid::Uuid;

use crate::fixtures::{assert_conflict, assert_not_found, channel, client, domain, now};

fn config(c: &Client, name: &str, external_id: &str) -> BootstrapConfig {
    BootstrapConfig {
        client_id: c.id,
        domain_id: c.domain_id,
        name: name.into(),
        external_id: external_id.into(),
        external_key_digest: "salt$digest".into(),
        content: "{}".into(),
        client_cert: String::new(),
        client_key: String::new(),
        ca_cert: String::new(),
        state: 0,
        channels: Vec::new(),
        created_at: now(),
    }
}

fn names(v: &[BootstrapConfig]) -> Vec<&str> {
    let mut n: Vec<&str> = v.iter().map(|c| c.name.as_str()).collect();
    n.sort();
    n
}

fn query() -> ConfigQuery {
    ConfigQuery {
        limit: 100,
        ..ConfigQuery::default()
    }
}

pub async fn config_create_get_list_delete(s: &dyn Store) {
    let d = domain(Uuid::new_v4(), "bs");
    let d2 = domain(Uuid::new_v4(), "bs2");
    s.create_domain(&d).await.unwrap();
    s.create_domain(&d2).await.unwrap();
    let existing = client(&d, "existing");
    s.create_clients(std::slice::from_ref(&existing))
        .await
        .unwrap();

    // For an existing client, and with a new client written in the same transaction.
    let a = config(&existing, "Gateway A", "ext-a");
    s.create_config(&a, None).await.unwrap();
    let mut fresh = client(&d, "fresh");
    fresh.created_by = Uuid::new_v4();
    let mut b = config(&fresh, "gateway b", "ext-b");
    b.state = 1;
    s.create_config(&b, Some(&fresh)).await.unwrap();
    assert_eq!(s.client(d.id, fresh.id).await.unwrap(), fresh);
    assert_eq!(s.config(d.id, existing.id).await.unwrap(), a);
    assert_eq!(s.config(d.id, fresh.id).await.unwrap(), b);
    assert_not_found(s.config(d2.id, existing.id).await);

    // A taken external id fails whole: the new client is not left behind.
    let loser = client(&d, "loser");
    let dup = config(&loser, "dup", "ext-a");
    assert_conflict(
        s.create_config(&dup, Some(&loser)).await,
        ConflictKind::ExternalId,
    );
    assert_not_found(s.client(d.id, loser.id).await);
    // A client has one config.
    assert!(
        s.create_config(&config(&existing, "x", "ext-x"), None)
            .await
            .is_err()
    );

    let p = s.list_configs(d.id, &query()).await.unwrap();
    assert_eq!(
        (p.total, names(&p.items)),
        (2, vec!["Gateway A", "gateway b"])
    );
    let active = ConfigQuery {
        state: Some(1),
        ..query()
    };
    assert_eq!(
        names(&s.list_configs(d.id, &active).await.unwrap().items),
        ["gateway b"]
    );
    let by_ext = ConfigQuery {
        external_id: Some("ext-a".into()),
        ..query()
    };
    assert_eq!(
        names(&s.list_configs(d.id, &by_ext).await.unwrap().items),
        ["Gateway A"]
    );
    let by_name = ConfigQuery {
        name: Some("GATEWAY".into()),
        ..query()
    };
    assert_eq!(s.list_configs(d.id, &by_name).await.unwrap().total, 2);
    let mine = ConfigQuery {
        created_by: Some(fresh.created_by),
        ..query()
    };
    assert_eq!(
        names(&s.list_configs(d.id, &mine).await.unwrap().items),
        ["gateway b"]
    );
    let paged = ConfigQuery {
        offset: 1,
        limit: 1,
        ..ConfigQuery::default()
    };
    let p = s.list_configs(d.id, &paged).await.unwrap();
    assert_eq!((p.total, p.items.len()), (2, 1));
    assert_eq!(s.list_configs(d2.id, &query()).await.unwrap().total, 0);

    s.delete_config(d.id, existing.id).await.unwrap();
    assert_not_found(s.config(d.id, existing.id).await);
    assert_not_found(s.delete_config(d.id, existing.id).await);
    assert_not_found(s.delete_config(d2.id, fresh.id).await);
    // The client stays; its external id is free again.
    s.client(d.id, existing.id).await.unwrap();
    s.create_config(&config(&existing, "again", "ext-a"), None)
        .await
        .unwrap();
}

pub async fn config_update_and_connections(s: &dyn Store) {
    let d = domain(Uuid::new_v4(), "bsu");
    s.create_domain(&d).await.unwrap();
    let gw = client(&d, "gw");
    let (ch1, ch2) = (channel(&d, "one"), channel(&d, "two"));
    s.create_channels(&[ch1.clone(), ch2.clone()])
        .await
        .unwrap();
    let c = config(&gw, "gw", "ext-u");
    s.create_config(&c, Some(&gw)).await.unwrap();

    let mut u = c.clone();
    u.name = "renamed".into();
    u.content = r#"{"agent":{"log":"debug"}}"#.into();
    u.client_cert = "cert".into();
    u.client_key = "key".into();
    u.ca_cert = "ca".into();
    u.channels = vec![ch1.id, ch2.id];
    s.update_config(&u).await.unwrap();
    assert_eq!(s.config(d.id, gw.id).await.unwrap(), u);
    let mut ghost = u.clone();
    ghost.client_id = Uuid::new_v4();
    assert_not_found(s.update_config(&ghost).await);

    // Whitelisting: the config saved and the connections made, together.
    let conn = |channel_id, kind| Connection {
        channel_id,
        client_id: gw.id,
        kind,
    };
    let made = vec![
        conn(ch1.id, ConnectionType::Publish),
        conn(ch1.id, ConnectionType::Subscribe),
        conn(ch2.id, ConnectionType::Publish),
    ];
    u.state = 1;
    s.update_config_with_connections(&u, &made, &[])
        .await
        .unwrap();
    assert_eq!(s.config(d.id, gw.id).await.unwrap().state, 1);
    let mut got = s.client_connections(gw.id).await.unwrap();
    got.sort();
    let mut want = made.clone();
    want.sort();
    assert_eq!(got, want);

    u.state = 0;
    s.update_config_with_connections(&u, &[], &made[..2])
        .await
        .unwrap();
    assert_eq!(s.config(d.id, gw.id).await.unwrap().state, 0);
    assert_eq!(s.client_connections(gw.id).await.unwrap(), made[2..]);

    // A failing save changes no connection.
    assert_not_found(
        s.update_config_with_connections(&ghost, &made[..1], &made[2..])
            .await,
    );
    assert_eq!(s.client_connections(gw.id).await.unwrap(), made[2..]);
}
