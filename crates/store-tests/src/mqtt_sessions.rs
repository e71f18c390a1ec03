//! Kept MQTT sessions: saved held by a node or free, read without taking, taken one by
//! one or all that are free (or all), and dropped only by the node holding them.

use switchyard_domain::{
    MessageProps, MqttSessionState, StoredMessage, StoredMqttSession, StoredSubscription,
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
        Some(held)
    );
    assert_eq!(s.take_mqtt_session(client, "held").await.unwrap(), None);
    assert_eq!(s.mqtt_session(client, "held").await.unwrap(), None);
}
