//! Kept MQTT sessions: saved held by a node or free, read without taking, taken one by
//! one or all that are free (or all), and dropped only by the node holding them.

use switchyard_domain::{
    AwayMessage, MessageProps, MqttSessionState, StoredMessage, StoredMqttSession,
    StoredSubscription,
};
use switchyard_store::Store;
use uuid::Uuid;

use crate::fixtures::at;

fn session(client: Uuid, mqtt_id: &str, filter: &str) -> StoredMqttSession {
    StoredMqttSession {
        client_id: client,
        mqtt_id: mqtt_id.into(),
        expires_at: at(3600),
        state: MqttSessionState {
            subscriptions: vec![StoredSubscription {
                filter: filter.into(),
                qos: 1,
                no_local: true,
                rap: false,
                ident: Some(7),
            }],
            messages: vec![StoredMessage {
                topic: format!("{filter}/x"),
                payload: vec![0, 159, 146, 150],
                qos: 1,
                retain: false,
                props: MessageProps {
                    user_properties: vec![("k".into(), "v".into())],
                    ..MessageProps::default()
                },
                sent: true,
            }],
        },
        epoch: 0,
    }
}

fn logged(s: &StoredMqttSession, epoch: i64, text: &str) -> AwayMessage {
    AwayMessage {
        client_id: s.client_id,
        mqtt_id: s.mqtt_id.clone(),
        epoch,
        message: StoredMessage {
            topic: "m/d/c/one".into(),
            payload: text.as_bytes().to_vec(),
            qos: 1,
            retain: false,
            props: MessageProps::default(),
            sent: false,
        },
    }
}

pub async fn mqtt_sessions_kept_and_claimed(s: &dyn Store) {
    let (node_a, node_b) = (Uuid::new_v4(), Uuid::new_v4());
    let client = Uuid::new_v4();
    let held = session(client, "held", "m/d/c/one");
    let other = session(client, "other", "m/d/c/two");
    let free = session(Uuid::new_v4(), "free", "m/d/c/three");
    s.save_mqtt_sessions(None, &[]).await.unwrap();
    s.save_mqtt_sessions(Some(node_a), &[held.clone(), other.clone()])
        .await
        .unwrap();
    s.save_mqtt_sessions(None, std::slice::from_ref(&free))
        .await
        .unwrap();

    // Read without taking: the state round-trips, with its holder.
    assert_eq!(
        s.mqtt_session(client, "held").await.unwrap(),
        Some((Some(node_a), held.clone()))
    );
    assert_eq!(
        s.mqtt_session(free.client_id, "free").await.unwrap(),
        Some((None, free.clone()))
    );
    assert_eq!(s.mqtt_session(client, "nobody").await.unwrap(), None);
    assert_eq!(
        s.mqtt_session(client, "held").await.unwrap().map(|x| x.0),
        Some(Some(node_a))
    );

    // Only the holder drops a session.
    s.drop_mqtt_session(client, "held", node_b).await.unwrap();
    assert!(s.mqtt_session(client, "held").await.unwrap().is_some());
    s.drop_mqtt_session(client, "held", node_a).await.unwrap();
    assert_eq!(s.mqtt_session(client, "held").await.unwrap(), None);
    s.drop_mqtt_session(free.client_id, "free", node_a)
        .await
        .unwrap();
    assert!(
        s.mqtt_session(free.client_id, "free")
            .await
            .unwrap()
            .is_some()
    );

    // Saving under a key replaces the row, holder included.
    let mut released = other.clone();
    released.state.messages.clear();
    s.save_mqtt_sessions(None, std::slice::from_ref(&released))
        .await
        .unwrap();
    assert_eq!(
        s.mqtt_session(client, "other").await.unwrap(),
        Some((None, released.clone()))
    );
    s.save_mqtt_sessions(Some(node_b), std::slice::from_ref(&other))
        .await
        .unwrap();

    // At start: the free ones, once; then the held ones too when asked.
    assert_eq!(
        s.take_mqtt_sessions(false).await.unwrap(),
        vec![free.clone()]
    );
    assert_eq!(s.take_mqtt_sessions(false).await.unwrap(), vec![]);
    s.save_mqtt_sessions(None, std::slice::from_ref(&free))
        .await
        .unwrap();
    let mut all = s.take_mqtt_sessions(true).await.unwrap();
    all.sort_by(|a, b| a.mqtt_id.cmp(&b.mqtt_id));
    assert_eq!(all, vec![free.clone(), other.clone()]);
    assert_eq!(s.take_mqtt_sessions(true).await.unwrap(), vec![]);

    // One taken by key: returned once, then gone.
    s.save_mqtt_sessions(Some(node_a), std::slice::from_ref(&held))
        .await
        .unwrap();
    assert_eq!(
        s.take_mqtt_session(client, "held").await.unwrap(),
        Some(held.clone())
    );
    assert_eq!(s.take_mqtt_session(client, "held").await.unwrap(), None);
    assert_eq!(s.mqtt_session(client, "held").await.unwrap(), None);

    // Messages logged while the client is away come with the session, after its own
    // and in the order logged; those of another away period do not, and go too.
    let mut away = held.clone();
    away.epoch = 42;
    s.save_mqtt_sessions(Some(node_a), std::slice::from_ref(&away))
        .await
        .unwrap();
    s.append_mqtt_messages(&[]).await.unwrap();
    s.append_mqtt_messages(&[
        logged(&away, 42, "a1"),
        logged(&away, 41, "stale"),
        logged(&other, 42, "elsewhere"),
    ])
    .await
    .unwrap();
    s.append_mqtt_messages(&[logged(&away, 42, "a2")])
        .await
        .unwrap();
    let taken = s.take_mqtt_session(client, "held").await.unwrap().unwrap();
    let mut want = away.clone();
    want.state.messages.extend([
        logged(&away, 42, "a1").message,
        logged(&away, 42, "a2").message,
    ]);
    assert_eq!(taken, want);
    // Taken with its log: saved again in the same period, nothing comes back.
    s.save_mqtt_sessions(Some(node_a), std::slice::from_ref(&away))
        .await
        .unwrap();
    assert_eq!(
        s.take_mqtt_session(client, "held").await.unwrap(),
        Some(away.clone())
    );

    // Saving a session drops what was logged in its other periods.
    s.append_mqtt_messages(&[logged(&away, 7, "old"), logged(&away, 8, "new")])
        .await
        .unwrap();
    let mut period8 = away.clone();
    period8.epoch = 8;
    s.save_mqtt_sessions(Some(node_a), std::slice::from_ref(&period8))
        .await
        .unwrap();
    let mut all = s.take_mqtt_sessions(true).await.unwrap();
    all.sort_by(|a, b| a.mqtt_id.cmp(&b.mqtt_id));
    let mut want8 = period8.clone();
    want8.state.messages.push(logged(&away, 8, "new").message);
    assert_eq!(all, vec![want8]);

    // A session dropped by its holder goes with its log: saved again later, the old
    // log does not come back.
    s.save_mqtt_sessions(Some(node_a), std::slice::from_ref(&period8))
        .await
        .unwrap();
    s.append_mqtt_messages(&[logged(&away, 8, "gone")])
        .await
        .unwrap();
    s.drop_mqtt_session(client, "held", node_a).await.unwrap();
    s.save_mqtt_sessions(Some(node_a), std::slice::from_ref(&period8))
        .await
        .unwrap();
    assert_eq!(
        s.take_mqtt_session(client, "held").await.unwrap(),
        Some(period8)
    );
}
