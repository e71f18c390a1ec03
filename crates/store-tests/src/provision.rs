//! Provision (`/mapping`): a gateway's clients, channels, connections and config are
//! written all or nothing, and concurrent gateways do not share each other's fate.

use switchyard_domain::{BootstrapConfig, Connection, ConnectionType, Domain};
use switchyard_store::{ConflictKind, ProvisionPlan, Store, StoreError};
use uuid::Uuid;

use crate::fixtures::{assert_conflict, assert_not_found, channel, client, domain, now};

/// The default layout's shape: one gateway client, `control` and `data` channels, the
/// client connected to both for publish and subscribe.
pub fn gateway_plan(d: &Domain, external_id: &str) -> ProvisionPlan {
    let gw = client(d, "gw");
    let chs = vec![channel(d, "gw_control"), channel(d, "gw_data")];
    let connections = chs
        .iter()
        .flat_map(|ch| {
            [ConnectionType::Publish, ConnectionType::Subscribe].map(|kind| Connection {
                channel_id: ch.id,
                client_id: gw.id,
                kind,
            })
        })
        .collect();
    ProvisionPlan {
        domain: d.id,
        config: BootstrapConfig {
            client_id: gw.id,
            domain_id: d.id,
            name: "gw".into(),
            external_id: external_id.into(),
            external_key_digest: "salt$digest".into(),
            content: r#"{"agent":{}}"#.into(),
            client_cert: String::new(),
            client_key: String::new(),
            ca_cert: String::new(),
            state: 1,
            channels: chs.iter().map(|c| c.id).collect(),
            created_at: now(),
        },
        clients: vec![gw],
        channels: chs,
        connections,
        certs: Vec::new(),
    }
}

/// Asserts that every row of `p` is stored and the fetch sees it whole.
async fn assert_stored(s: &dyn Store, p: &ProvisionPlan) {
    let gw = &p.clients[0];
    assert_eq!(s.client(p.domain, gw.id).await.unwrap().secret, gw.secret);
    for ch in &p.channels {
        s.channel(p.domain, ch.id).await.unwrap();
    }
    let mut got = s.client_connections(gw.id).await.unwrap();
    got.sort();
    let mut want = p.connections.clone();
    want.sort();
    assert_eq!(got, want);
    let f = s.bootstrap_fetch(&p.config.external_id).await.unwrap();
    assert_eq!(f.config.client_id, gw.id);
    assert_eq!(f.client_secret, gw.secret);
    let mut chs: Vec<Uuid> = f.channels.iter().map(|c| c.id).collect();
    chs.sort();
    let mut want: Vec<Uuid> = p.channels.iter().map(|c| c.id).collect();
    want.sort();
    assert_eq!(chs, want);
}

/// Asserts that no row of `p` is stored.
async fn assert_absent(s: &dyn Store, p: &ProvisionPlan) {
    assert_not_found(s.client(p.domain, p.clients[0].id).await);
    for ch in &p.channels {
        assert_not_found(s.channel(p.domain, ch.id).await);
    }
    assert!(
        s.client_connections(p.clients[0].id)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn provision_is_all_or_nothing(s: &dyn Store) {
    let d = domain(Uuid::new_v4(), "prov");
    s.create_domain(&d).await.unwrap();
    let first = gateway_plan(&d, "ext-1");
    s.provision(&first).await.unwrap();
    assert_stored(s, &first).await;

    // The same external id again, with new entities: refused, nothing of it written.
    let again = gateway_plan(&d, "ext-1");
    assert_conflict(s.provision(&again).await, ConflictKind::ExternalId);
    assert_absent(s, &again).await;
    assert_stored(s, &first).await;

    // A later row failing (the config's client id taken) undoes the earlier tables.
    let mut bad = gateway_plan(&d, "ext-2");
    bad.config.client_id = first.clients[0].id;
    assert!(s.provision(&bad).await.is_err());
    assert_absent(s, &bad).await;
    assert_not_found(s.bootstrap_fetch("ext-2").await);
}

/// Gateways provisioned at the same moment (which SQLite commits as one group): one
/// whose external id another already has fails alone.
pub async fn concurrent_provisions_isolate_a_conflict(s: &dyn Store) {
    let d = domain(Uuid::new_v4(), "provc");
    s.create_domain(&d).await.unwrap();
    let mut plans: Vec<ProvisionPlan> = (0..24)
        .map(|i| gateway_plan(&d, &format!("ext-{i}")))
        .collect();
    plans[17] = gateway_plan(&d, "ext-5");
    let results = futures::future::join_all(plans.iter().map(|p| s.provision(p))).await;
    let ok = |i: usize| results[i].is_ok();
    assert!(
        ok(5) != ok(17),
        "exactly one of the two with ext-5 is written: {:?} / {:?}",
        results[5],
        results[17]
    );
    let (winner, loser) = if ok(5) { (5, 17) } else { (17, 5) };
    assert!(
        matches!(
            results[loser],
            Err(StoreError::Conflict {
                kind: ConflictKind::ExternalId,
                ..
            })
        ),
        "{:?}",
        results[loser]
    );
    assert_absent(s, &plans[loser]).await;
    for (i, p) in plans.iter().enumerate() {
        if i == loser {
            continue;
        }
        assert!(results[i].is_ok(), "gateway {i}: {:?}", results[i]);
        assert_stored(s, p).await;
    }
    assert_eq!(
        s.bootstrap_fetch("ext-5").await.unwrap().config.client_id,
        plans[winner].clients[0].id
    );
}
