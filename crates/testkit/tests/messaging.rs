//! Message plane, black-box: HTTP publish, WebSocket subscribe/publish, refusals,
//! live revocation, and two nodes on one PostgreSQL and one NATS.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use reqwest::Method;
use serde_json::json;
use switchyard_testkit::{
    Backend, TestServer, both,
    raw::{mqtt_str, packet},
};
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};

struct Fleet {
    token: String,
    domain: String,
    channel: String,
    publisher: (String, String),
    subscriber: (String, String),
    stranger: (String, String),
}

async fn fleet(app: &TestServer, name: &str) -> Fleet {
    let (_, token) = app.user(name).await;
    let domain = app.domain(&token, name).await;
    let mk = |v: serde_json::Value| {
        (
            v["id"].as_str().unwrap().to_string(),
            v["credentials"]["secret"].as_str().unwrap().to_string(),
        )
    };
    let publisher = mk(app.client(&token, &domain, "pub").await);
    let subscriber = mk(app.client(&token, &domain, "sub").await);
    let stranger = mk(app.client(&token, &domain, "stranger").await);
    let channel = app.channel(&token, &domain, "room").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = app
        .post(
            &format!("/{domain}/channels/connect"),
            &token,
            json!({"channel_ids": [channel], "client_ids": [publisher.0], "types": ["publish"]}),
        )
        .await;
    assert_eq!(r.status, 201);
    let r = app
        .post(
            &format!("/{domain}/channels/connect"),
            &token,
            json!({"channel_ids": [channel], "client_ids": [subscriber.0], "types": ["subscribe"]}),
        )
        .await;
    assert_eq!(r.status, 201);
    Fleet {
        token,
        domain,
        channel,
        publisher,
        subscriber,
        stranger,
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn ws_connect(base: &str, path: &str, secret: &str) -> Result<Ws, u16> {
    let url = format!("{}{}", base.replace("http://", "ws://"), path);
    let mut req = url.into_client_request().unwrap();
    req.headers_mut()
        .insert("Authorization", format!("Client {secret}").parse().unwrap());
    match tokio_tungstenite::connect_async(req).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => Err(r.status().as_u16()),
        Err(e) => panic!("ws: {e}"),
    }
}

async fn http_publish(
    app: &TestServer,
    path: &str,
    auth: Option<String>,
    ct: &str,
    body: &str,
) -> u16 {
    let mut r = app
        .http
        .post(format!("{}{}", app.url, path))
        .header("Content-Type", ct)
        .body(body.to_string());
    if let Some(a) = auth {
        r = r.header("Authorization", a);
    }
    r.send().await.unwrap().status().as_u16()
}

async fn next_text(ws: &mut Ws) -> Option<String> {
    loop {
        match tokio::time::timeout(Duration::from_secs(3), ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => return Some(t.to_string()),
            Ok(Some(Ok(Message::Binary(b)))) => {
                return Some(String::from_utf8_lossy(&b).into_owned());
            }
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
            _ => return None,
        }
    }
}

/// The socket is closed (or yields nothing but a close) within `d`.
async fn closed_within(ws: &mut Ws, d: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + d;
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Err(_) => return false,
            Ok(None) | Ok(Some(Err(_))) | Ok(Some(Ok(Message::Close(_)))) => return true,
            Ok(Some(Ok(_))) => continue,
        }
    }
}

async fn http_and_ws(b: Backend) {
    let app = TestServer::spawn(b).await;
    let f = fleet(&app, "msg").await;
    let topic = format!("/m/{}/c/{}", f.domain, f.channel);
    let mut ws = ws_connect(&app.url, &topic, &f.subscriber.1).await.unwrap();
    // Subscribed; the stranger (no connection) and a wrong secret are refused.
    assert_eq!(
        ws_connect(&app.url, &topic, &f.stranger.1).await.err(),
        Some(403)
    );
    assert_eq!(ws_connect(&app.url, &topic, "wrong").await.err(), Some(401));
    tokio::time::sleep(Duration::from_millis(100)).await;
    // HTTP publish reaches the WebSocket subscriber.
    let st = http_publish(
        &app,
        &topic,
        Some(format!("Client {}", f.publisher.1)),
        "application/json",
        r#"{"t":1}"#,
    )
    .await;
    assert_eq!(st, 202);
    assert_eq!(next_text(&mut ws).await.as_deref(), Some(r#"{"t":1}"#));
    // Basic client_id:secret, a subtopic the subscriber did not ask for (not delivered),
    // and the document-era path.
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", f.publisher.0, f.publisher.1));
    assert_eq!(
        http_publish(
            &app,
            &topic,
            Some(format!("Basic {basic}")),
            "application/senml+json",
            "b"
        )
        .await,
        202
    );
    assert_eq!(next_text(&mut ws).await.as_deref(), Some("b"));
    // The official SDK's path for a message without subtopic ends in a slash.
    assert_eq!(
        http_publish(
            &app,
            &format!("{topic}/"),
            Some(format!("Client {}", f.publisher.1)),
            "application/json",
            r#"{"sdk":1}"#
        )
        .await,
        202
    );
    assert_eq!(next_text(&mut ws).await.as_deref(), Some(r#"{"sdk":1}"#));
    assert_eq!(
        http_publish(
            &app,
            &format!("{topic}/temp/room1"),
            Some(format!("Client {}", f.publisher.1)),
            "text/plain",
            "sub"
        )
        .await,
        202
    );
    let legacy = format!("/channels/{}/messages", f.channel);
    assert_eq!(
        http_publish(
            &app,
            &legacy,
            Some(format!("Client {}", f.publisher.1)),
            "application/json",
            "legacy"
        )
        .await,
        202
    );
    assert_eq!(
        next_text(&mut ws).await.as_deref(),
        Some("legacy"),
        "subtopic message is not on the bare channel"
    );
    // Refusals.
    assert_eq!(
        http_publish(&app, &topic, None, "application/json", "x").await,
        401
    );
    assert_eq!(
        http_publish(
            &app,
            &topic,
            Some("Client nope".into()),
            "application/json",
            "x"
        )
        .await,
        401
    );
    assert_eq!(
        http_publish(
            &app,
            &topic,
            Some(format!("Client {}", f.stranger.1)),
            "application/json",
            "x"
        )
        .await,
        403
    );
    assert_eq!(
        http_publish(
            &app,
            &topic,
            Some(format!("Client {}", f.subscriber.1)),
            "application/json",
            "x"
        )
        .await,
        403,
        "subscribe-only"
    );
    assert_eq!(
        http_publish(
            &app,
            &topic,
            Some(format!("Client {}", f.publisher.1)),
            "text/html",
            "x"
        )
        .await,
        415
    );
    assert_eq!(
        http_publish(
            &app,
            &format!("{topic}/a+b"),
            Some(format!("Client {}", f.publisher.1)),
            "text/plain",
            "x"
        )
        .await,
        400
    );
    // A WebSocket publisher (the subscriber has no publish right, so its message is dropped).
    let mut pws = ws_connect(&app.url, &topic, &f.publisher.1).await;
    assert_eq!(
        pws.as_ref().err(),
        Some(&403),
        "publish-only client cannot open a subscribing socket"
    );
    pws = Err(0);
    drop(pws);
    ws.send(Message::Text("from-sub".into())).await.unwrap();
    // Disconnecting the subscriber closes its socket within a second.
    let r = app
        .post(&format!("/{}/channels/disconnect", f.domain), &f.token, json!({"channel_ids": [f.channel], "client_ids": [f.subscriber.0], "types": ["subscribe"]}))
        .await;
    assert_eq!(r.status, 204);
    assert!(
        closed_within(&mut ws, Duration::from_secs(1)).await,
        "socket not closed after disconnect"
    );
    // Disabling the publisher stops its publishes.
    let r = app
        .req(
            Method::POST,
            &format!("/{}/clients/{}/disable", f.domain, f.publisher.0),
            Some(&f.token),
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        http_publish(
            &app,
            &topic,
            Some(format!("Client {}", f.publisher.1)),
            "application/json",
            "x"
        )
        .await,
        401
    );
    app.stop().await;
}
both!(http_and_ws);

async fn disable_closes_socket(b: Backend) {
    let app = TestServer::spawn(b).await;
    let f = fleet(&app, "dis").await;
    let topic = format!("/m/{}/c/{}/%23", f.domain, f.channel);
    let mut ws = ws_connect(&app.url, &topic, &f.subscriber.1).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let path = format!("/m/{}/c/{}/a/b", f.domain, f.channel);
    assert_eq!(
        http_publish(
            &app,
            &path,
            Some(format!("Client {}", f.publisher.1)),
            "text/plain",
            "deep"
        )
        .await,
        202
    );
    assert_eq!(
        next_text(&mut ws).await.as_deref(),
        Some("deep"),
        "# matches subtopics"
    );
    let r = app
        .req(
            Method::POST,
            &format!("/{}/clients/{}/disable", f.domain, f.subscriber.0),
            Some(&f.token),
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(
        closed_within(&mut ws, Duration::from_secs(1)).await,
        "socket not closed after disable"
    );
    app.stop().await;
}
both!(disable_closes_socket);

/// A message published while a subscription's checks (channel, connection) still wait on the
/// database reaches it: the subscription takes its place on the bus first (a SUBSCRIBE
/// answered a moment after another client's PUBLISH still gets that message), and a
/// subscription that is refused gets nothing.
async fn subscribed_before_the_checks(b: Backend) {
    use std::{future::Future, pin::pin, task::Poll};
    use switchyard_core::messaging::{Origin, parse_topic};
    let app = TestServer::spawn(b).await;
    let f = fleet(&app, "order").await;
    let core = app.core();
    let publisher = core
        .authenticate_client(&f.publisher.0, &f.publisher.1)
        .await
        .unwrap();
    let subscriber = core
        .authenticate_client(&f.subscriber.0, &f.subscriber.1)
        .await
        .unwrap();
    let stranger = core
        .authenticate_client(&f.stranger.0, &f.stranger.1)
        .await
        .unwrap();
    let topic = parse_topic(&format!("m/{}/c/{}/t", f.domain, f.channel), false).unwrap();
    let publish = |payload: &'static str| {
        let (core, publisher, topic) = (core.clone(), publisher, topic.clone());
        async move {
            core.publish(
                &publisher,
                &topic,
                "mqtt",
                payload.as_bytes().to_vec(),
                Origin::default(),
            )
            .await
            .unwrap()
        }
    };
    // Neither the channel nor the subscriber's connections are cached yet.
    for (who, allowed) in [(&subscriber, true), (&stranger, false)] {
        let mut sub = pin!(core.subscribe(who, &topic));
        // One step: as far as the first database read (the checks).
        let first = std::future::poll_fn(|cx| Poll::Ready(sub.as_mut().poll(cx))).await;
        publish("meanwhile").await;
        let r = match first {
            Poll::Ready(r) => r,
            Poll::Pending => sub.await,
        };
        if !allowed {
            assert!(
                r.is_err(),
                "a client not connected to the channel subscribed"
            );
            continue;
        }
        let (_, mut subs) = r.unwrap();
        let m = tokio::time::timeout(Duration::from_secs(2), subs[0].rx.recv())
            .await
            .expect("the message published during the check did not arrive")
            .unwrap();
        let env = switchyard_core::messaging::Envelope::decode_slice(&m.payload).unwrap();
        assert_eq!(env.payload, b"meanwhile");
    }
    app.stop().await;
}
both!(subscribed_before_the_checks);

/// Two `serve` processes on one PostgreSQL and one NATS: messages and revocations
/// cross nodes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_share_postgres_and_nats() {
    let Some((a, b)) = switchyard_testkit::two_nodes().await else {
        return;
    };
    let b_url = b.running.url();
    let f = fleet(&a, "twonodes").await;
    let topic = format!("/m/{}/c/{}", f.domain, f.channel);
    let mut ws = ws_connect(&b_url, &topic, &f.subscriber.1).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        http_publish(
            &a,
            &topic,
            Some(format!("Client {}", f.publisher.1)),
            "text/plain",
            "cross"
        )
        .await,
        202
    );
    assert_eq!(next_text(&mut ws).await.as_deref(), Some("cross"));
    // A disconnect through node A cuts the session on node B.
    let r = a
        .post(&format!("/{}/channels/disconnect", f.domain), &f.token, json!({"channel_ids": [f.channel], "client_ids": [f.subscriber.0], "types": ["subscribe"]}))
        .await;
    assert_eq!(r.status, 204);
    assert!(
        closed_within(&mut ws, Duration::from_secs(1)).await,
        "node B did not honour node A's disconnect"
    );
    b.running.shutdown().await;
    a.stop().await;
}

/// MQTT over TCP (rumqttc) and over WebSocket at `/mqtt`, mixed with HTTP publish: every
/// path reaches every subscriber, and the MQTT subscriber is cut on disable.
async fn mqtt_tcp_ws_and_http(b: Backend) {
    let app = TestServer::spawn(b).await;
    let f = fleet(&app, "mqttmix").await;
    let mqtt = app
        .running
        .as_ref()
        .unwrap()
        .mqtt_addr
        .expect("mqtt listener");
    // Let the publisher subscribe too, so it can be the MQTT-over-WebSocket subscriber.
    let r = app
        .post(&format!("/{}/channels/connect", f.domain), &f.token, json!({"channel_ids": [f.channel], "client_ids": [f.publisher.0], "types": ["subscribe"]}))
        .await;
    assert_eq!(r.status, 201);
    let topic = format!("m/{}/c/{}", f.domain, f.channel);
    // TCP subscriber (rumqttc v3.1.1).
    let mut opts = rumqttc::MqttOptions::new("sub-1", mqtt.ip().to_string(), mqtt.port());
    opts.set_credentials(f.subscriber.0.clone(), f.subscriber.1.clone());
    let (client, mut events) = rumqttc::AsyncClient::new(opts, 16);
    client
        .subscribe(topic.clone(), rumqttc::QoS::AtLeastOnce)
        .await
        .unwrap();
    let (got_tx, mut got_rx) = tokio::sync::mpsc::channel::<Option<Vec<u8>>>(16);
    tokio::spawn(async move {
        loop {
            match events.poll().await {
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p))) => {
                    let _ = got_tx.send(Some(p.payload.to_vec())).await;
                }
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::SubAck(_))) => {
                    let _ = got_tx.send(None).await;
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
    });
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(3), got_rx.recv())
            .await
            .unwrap(),
        Some(None),
        "SUBACK"
    );
    // MQTT over WebSocket subscriber (raw v3.1.1 frames).
    let url = format!("{}/mqtt", app.url.replace("http://", "ws://"));
    let mut req = url.into_client_request().unwrap();
    req.headers_mut()
        .insert("Sec-WebSocket-Protocol", "mqtt".parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let mut connect = Vec::new();
    mqtt_str(&mut connect, b"MQTT");
    connect.extend_from_slice(&[4, 0xC2, 0, 60]);
    mqtt_str(&mut connect, b"ws-1");
    mqtt_str(&mut connect, f.publisher.0.as_bytes());
    mqtt_str(&mut connect, f.publisher.1.as_bytes());
    ws.send(Message::Binary(packet(0x10, connect).into()))
        .await
        .unwrap();
    let connack = tokio::time::timeout(Duration::from_secs(3), ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap()
        .into_data();
    assert_eq!(&connack[..], &[0x20, 2, 0, 0], "CONNACK accepted");
    let mut sub = vec![0, 1];
    mqtt_str(&mut sub, topic.as_bytes());
    sub.push(0);
    ws.send(Message::Binary(packet(0x82, sub).into()))
        .await
        .unwrap();
    let suback = tokio::time::timeout(Duration::from_secs(3), ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap()
        .into_data();
    assert_eq!(&suback[..], &[0x90, 3, 0, 1, 0], "SUBACK granted");
    // HTTP publish → both MQTT subscribers.
    let st = http_publish(
        &app,
        &format!("/{topic}"),
        Some(format!("Client {}", f.publisher.1)),
        "text/plain",
        "from-http",
    )
    .await;
    assert_eq!(st, 202);
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(3), got_rx.recv())
            .await
            .unwrap(),
        Some(Some(b"from-http".to_vec()))
    );
    let p = tokio::time::timeout(Duration::from_secs(3), ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap()
        .into_data();
    assert_eq!(p[0] & 0xF0, 0x30, "PUBLISH over /mqtt");
    assert!(p.ends_with(b"from-http"));
    // MQTT publish (over WebSocket) → TCP subscriber and WebSocket (HTTP adapter) subscriber.
    let mut wsub = ws_connect(&app.url, &format!("/{topic}"), &f.subscriber.1)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut publ = Vec::new();
    mqtt_str(&mut publ, topic.as_bytes());
    publ.extend_from_slice(b"from-mqtt");
    ws.send(Message::Binary(packet(0x30, publ).into()))
        .await
        .unwrap();
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(3), got_rx.recv())
            .await
            .unwrap(),
        Some(Some(b"from-mqtt".to_vec()))
    );
    assert_eq!(next_text(&mut wsub).await.as_deref(), Some("from-mqtt"));
    // Disable the TCP subscriber: its session ends within a second.
    let r = app
        .req(
            Method::POST,
            &format!("/{}/clients/{}/disable", f.domain, f.subscriber.0),
            Some(&f.token),
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    let ended = tokio::time::timeout(Duration::from_secs(1), async {
        while got_rx.recv().await.is_some() {}
    })
    .await;
    assert!(
        ended.is_ok(),
        "MQTT session not closed within 1 s of disable"
    );
    app.stop().await;
}
both!(mqtt_tcp_ws_and_http);

/// A disabled or frozen domain loses its message plane: open subscriptions close
/// within a second, publishing is refused; enabled again, it all works.
async fn domain_status_reaches_the_message_plane(b: Backend) {
    let app = TestServer::spawn(b).await;
    let f = fleet(&app, "dstatus").await;
    let topic = format!("/m/{}/c/{}", f.domain, f.channel);
    let auth = format!("Client {}", f.publisher.1);
    let publish = async |app: &TestServer| {
        http_publish(app, &topic, Some(auth.clone()), "text/plain", "x").await
    };
    assert_eq!(publish(&app).await, 202);
    let admin = app.admin().await;
    for (op, by) in [("disable", &f.token), ("freeze", &admin)] {
        let mut ws = ws_connect(&app.url, &topic, &f.subscriber.1).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let r = app
            .req(
                Method::POST,
                &format!("/domains/{}/{op}", f.domain),
                Some(by),
                None,
            )
            .await;
        assert_eq!(r.status, 200, "{op}: {}", r.text);
        assert!(closed_within(&mut ws, Duration::from_secs(1)).await, "{op}");
        assert_eq!(publish(&app).await, 401, "{op}");
        assert!(
            ws_connect(&app.url, &topic, &f.subscriber.1).await.is_err(),
            "{op}"
        );
        let r = app
            .req(
                Method::POST,
                &format!("/domains/{}/enable", f.domain),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(r.status, 200, "enable after {op}: {}", r.text);
        assert_eq!(publish(&app).await, 202, "enabled after {op}");
    }
    app.stop().await;
}
both!(domain_status_reaches_the_message_plane);
