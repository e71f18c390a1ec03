//! Black-box MQTT tests: the real server (`switchyard::start`, SQLite in a temp dir)
//! plus this adapter's `serve` on 127.0.0.1:0, driven by rumqttc (v3.1.1 and v5), raw
//! bytes, mosquitto's clients when installed, and a fixed corpus of random input.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{net::SocketAddr, sync::Arc, time::Duration};

use serde_json::{Value, json};
use switchyard_adapter_mqtt::{MqttAdapter, MqttConfig};
use switchyard_testkit::{
    Backend, TestServer,
    raw::{mqtt_str, remaining_length},
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::{mpsc, oneshot},
    task::JoinHandle,
};

const WAIT: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------- harness

struct Env {
    app: TestServer,
    token: String,
    domain: String,
    mqtt: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    served: Option<JoinHandle<()>>,
}

impl Env {
    async fn start() -> Env {
        Env::start_with(MqttConfig::default()).await
    }

    /// The server on SQLite plus this adapter on its own listener with `cfg`.
    async fn start_with(cfg: MqttConfig) -> Env {
        let app = TestServer::spawn(Backend::Sqlite).await;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mqtt = listener.local_addr().unwrap();
        let (stop, rx) = oneshot::channel::<()>();
        let adapter = MqttAdapter::new(app.core(), cfg);
        let served = tokio::spawn(async move {
            adapter
                .serve(listener, async move {
                    let _ = rx.await;
                })
                .await
        });
        let token = app.admin().await;
        let domain = app.domain(&token, "mqtt").await;
        Env {
            app,
            token,
            domain,
            mqtt,
            stop: Some(stop),
            served: Some(served),
        }
    }

    async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.served.take() {
            tokio::time::timeout(Duration::from_secs(10), t)
                .await
                .unwrap()
                .unwrap();
        }
        self.app.stop().await;
    }

    async fn post_status(&self, path: &str, body: Value) -> (u16, Value) {
        let r = self.app.post(path, &self.token, body).await;
        (r.status.as_u16(), r.body)
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let (st, v) = self.post_status(path, body).await;
        assert!((200..300).contains(&st), "POST {path}: {st} {v}");
        v
    }

    /// A new client: (id, secret).
    async fn client(&self, name: &str) -> (String, String) {
        let v = self
            .post(&format!("/{}/clients", self.domain), json!({"name": name}))
            .await;
        (
            v["id"].as_str().unwrap().to_string(),
            v["credentials"]["secret"].as_str().unwrap().to_string(),
        )
    }

    async fn channel(&self, name: &str) -> String {
        let v = self
            .post(&format!("/{}/channels", self.domain), json!({"name": name}))
            .await;
        v["id"].as_str().unwrap().to_string()
    }

    async fn connect(&self, channel: &str, client: &str, types: &[&str]) {
        self.post(
            &format!("/{}/channels/connect", self.domain),
            json!({"channel_ids": [channel], "client_ids": [client], "types": types}),
        )
        .await;
    }

    /// A publisher and a subscriber client, and a channel each is connected to for that.
    async fn pub_sub(&self, channel: &str) -> ((String, String), (String, String), String) {
        let (publisher, subscriber) = (self.client("pub").await, self.client("sub").await);
        let ch = self.channel(channel).await;
        self.connect(&ch, &publisher.0, &["publish"]).await;
        self.connect(&ch, &subscriber.0, &["subscribe"]).await;
        (publisher, subscriber, ch)
    }

    fn topic(&self, channel: &str) -> String {
        format!("m/{}/c/{}", self.domain, channel)
    }
}

/// What a test client saw, in one shape for v3.1.1 and v5.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ev {
    ConnAck(u8),
    Publish {
        topic: String,
        payload: Vec<u8>,
        qos: u8,
        retain: bool,
    },
    PubAck(u8),
    PubRec(u8),
    PubRel,
    PubComp,
    SubAck(Vec<u8>),
    Disconnect(u8),
    Closed,
}

#[derive(Clone)]
struct Opts {
    v5: bool,
    id: String,
    user: String,
    pass: String,
    will: Option<(String, Vec<u8>)>,
    manual_acks: bool,
}

impl Opts {
    fn new(v5: bool, id: &str, creds: &(String, String)) -> Opts {
        Opts {
            v5,
            id: id.into(),
            user: creds.0.clone(),
            pass: creds.1.clone(),
            will: None,
            manual_acks: false,
        }
    }
}

enum Handle {
    V3(rumqttc::AsyncClient),
    V5(rumqttc::v5::AsyncClient),
}

struct Mqtt {
    c: Handle,
    rx: mpsc::UnboundedReceiver<Ev>,
    task: JoinHandle<()>,
}

fn qos3(q: u8) -> rumqttc::QoS {
    match q {
        0 => rumqttc::QoS::AtMostOnce,
        1 => rumqttc::QoS::AtLeastOnce,
        _ => rumqttc::QoS::ExactlyOnce,
    }
}

fn qos5(q: u8) -> rumqttc::v5::mqttbytes::QoS {
    use rumqttc::v5::mqttbytes::QoS;
    match q {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        _ => QoS::ExactlyOnce,
    }
}

fn connack5(c: rumqttc::v5::mqttbytes::v5::ConnectReturnCode) -> u8 {
    use rumqttc::v5::mqttbytes::v5::ConnectReturnCode as C;
    match c {
        C::Success => 0,
        C::ClientIdentifierNotValid => 0x85,
        C::BadUserNamePassword => 0x86,
        C::NotAuthorized => 0x87,
        C::ServerUnavailable => 0x88,
        C::BadAuthenticationMethod => 0x8C,
        _ => 0xFF,
    }
}

async fn mqtt(addr: SocketAddr, o: Opts) -> Mqtt {
    let (tx, rx) = mpsc::unbounded_channel();
    if o.v5 {
        use rumqttc::v5::{
            ConnectionError, Event, StateError,
            mqttbytes::v5::{
                LastWill, Packet, PubAckReason, PubRecReason, SubscribeReasonCode as S,
            },
        };
        let mut opts =
            rumqttc::v5::MqttOptions::new(o.id.clone(), addr.ip().to_string(), addr.port());
        opts.set_credentials(o.user.clone(), o.pass.clone());
        opts.set_manual_acks(o.manual_acks);
        if let Some((t, p)) = &o.will {
            opts.set_last_will(LastWill::new(t.clone(), p.clone(), qos5(1), false, None));
        }
        let (c, mut el) = rumqttc::v5::AsyncClient::new(opts, 100);
        let task = tokio::spawn(async move {
            loop {
                let ev = match el.poll().await {
                    Ok(Event::Incoming(p)) => match p {
                        Packet::ConnAck(a) => Ev::ConnAck(connack5(a.code)),
                        Packet::Publish(p) => Ev::Publish {
                            topic: String::from_utf8_lossy(&p.topic).into_owned(),
                            payload: p.payload.to_vec(),
                            qos: p.qos as u8,
                            retain: p.retain,
                        },
                        Packet::PubAck(a) => Ev::PubAck(match a.reason {
                            PubAckReason::Success => 0,
                            PubAckReason::NotAuthorized => 0x87,
                            PubAckReason::UnspecifiedError => 0x80,
                            _ => 0xFF,
                        }),
                        Packet::PubRec(a) => Ev::PubRec(match a.reason {
                            PubRecReason::Success => 0,
                            PubRecReason::NotAuthorized => 0x87,
                            _ => 0xFF,
                        }),
                        Packet::PubComp(_) => Ev::PubComp,
                        Packet::PubRel(_) => Ev::PubRel,
                        Packet::SubAck(a) => Ev::SubAck(
                            a.return_codes
                                .iter()
                                .map(|c| match c {
                                    S::Success(q) => *q as u8,
                                    S::NotAuthorized => 0x87,
                                    S::QuotaExceeded => 0x97,
                                    S::Unspecified => 0x80,
                                    _ => 0xFF,
                                })
                                .collect(),
                        ),
                        Packet::Disconnect(d) => Ev::Disconnect(d.reason_code as u8),
                        _ => continue,
                    },
                    Ok(Event::Outgoing(_)) => continue,
                    Err(ConnectionError::ConnectionRefused(code)) => {
                        let _ = tx.send(Ev::ConnAck(connack5(code)));
                        return;
                    }
                    Err(ConnectionError::MqttState(StateError::ServerDisconnect {
                        reason_code,
                        ..
                    })) => {
                        let _ = tx.send(Ev::Disconnect(reason_code as u8));
                        let _ = tx.send(Ev::Closed);
                        return;
                    }
                    Err(_) => {
                        let _ = tx.send(Ev::Closed);
                        return;
                    }
                };
                let _ = tx.send(ev);
            }
        });
        Mqtt {
            c: Handle::V5(c),
            rx,
            task,
        }
    } else {
        use rumqttc::{ConnectionError, Event, LastWill, Packet, SubscribeReasonCode as S};
        let mut opts = rumqttc::MqttOptions::new(o.id.clone(), addr.ip().to_string(), addr.port());
        opts.set_credentials(o.user.clone(), o.pass.clone());
        opts.set_manual_acks(o.manual_acks);
        if let Some((t, p)) = &o.will {
            opts.set_last_will(LastWill::new(t.clone(), p.clone(), qos3(1), false));
        }
        let (c, mut el) = rumqttc::AsyncClient::new(opts, 100);
        let task = tokio::spawn(async move {
            loop {
                let ev = match el.poll().await {
                    Ok(Event::Incoming(p)) => match p {
                        Packet::ConnAck(a) => Ev::ConnAck(a.code as u8),
                        Packet::Publish(p) => Ev::Publish {
                            topic: p.topic.clone(),
                            payload: p.payload.to_vec(),
                            qos: p.qos as u8,
                            retain: p.retain,
                        },
                        Packet::PubAck(_) => Ev::PubAck(0),
                        Packet::PubRec(_) => Ev::PubRec(0),
                        Packet::PubComp(_) => Ev::PubComp,
                        Packet::PubRel(_) => Ev::PubRel,
                        Packet::SubAck(a) => Ev::SubAck(
                            a.return_codes
                                .iter()
                                .map(|c| match c {
                                    S::Success(q) => *q as u8,
                                    S::Failure => 0x80,
                                })
                                .collect(),
                        ),
                        Packet::Disconnect => Ev::Disconnect(0),
                        _ => continue,
                    },
                    Ok(Event::Outgoing(_)) => continue,
                    Err(ConnectionError::ConnectionRefused(code)) => {
                        let _ = tx.send(Ev::ConnAck(code as u8));
                        return;
                    }
                    Err(_) => {
                        let _ = tx.send(Ev::Closed);
                        return;
                    }
                };
                let _ = tx.send(ev);
            }
        });
        Mqtt {
            c: Handle::V3(c),
            rx,
            task,
        }
    }
}

impl Mqtt {
    /// Connects and expects this CONNACK code.
    async fn open(addr: SocketAddr, o: Opts) -> Mqtt {
        let mut m = mqtt(addr, o).await;
        assert_eq!(
            m.next_where(|e| matches!(e, Ev::ConnAck(_))).await,
            Some(Ev::ConnAck(0))
        );
        m
    }

    async fn connack(addr: SocketAddr, o: Opts) -> u8 {
        let mut m = mqtt(addr, o).await;
        match m.next().await {
            Some(Ev::ConnAck(c)) => c,
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }

    async fn next(&mut self) -> Option<Ev> {
        tokio::time::timeout(WAIT, self.rx.recv())
            .await
            .ok()
            .flatten()
    }

    async fn next_where(&mut self, f: impl Fn(&Ev) -> bool) -> Option<Ev> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(e)) if f(&e) => return Some(e),
                Ok(Some(_)) => continue,
                _ => return None,
            }
        }
    }

    /// The next message within `d` (other events skipped); `None` only when the
    /// connection stayed open and silent, so "nothing arrived" is never a closed
    /// connection passing for a quiet one.
    async fn message_within(&mut self, d: Duration) -> Option<(String, Vec<u8>, u8, bool)> {
        let deadline = tokio::time::Instant::now() + d;
        loop {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(Ev::Publish {
                    topic,
                    payload,
                    qos,
                    retain,
                })) => return Some((topic, payload, qos, retain)),
                Err(_) => return None,
                Ok(Some(Ev::Closed)) | Ok(None) => {
                    panic!("the connection closed while waiting for a message")
                }
                Ok(Some(_)) => continue,
            }
        }
    }

    async fn message(&mut self) -> (String, Vec<u8>, u8, bool) {
        self.message_within(WAIT).await.expect("a message")
    }

    async fn subscribe(&mut self, topic: &str, qos: u8) -> Vec<u8> {
        match &self.c {
            Handle::V3(c) => c.subscribe(topic, qos3(qos)).await.unwrap(),
            Handle::V5(c) => c.subscribe(topic, qos5(qos)).await.unwrap(),
        }
        match self
            .next_where(|e| matches!(e, Ev::SubAck(_) | Ev::Closed))
            .await
        {
            Some(Ev::SubAck(c)) => c,
            other => panic!("expected SUBACK, got {other:?}"),
        }
    }

    async fn publish(&self, topic: &str, qos: u8, payload: &[u8], retain: bool) {
        match &self.c {
            Handle::V3(c) => c
                .publish(topic, qos3(qos), retain, payload.to_vec())
                .await
                .unwrap(),
            Handle::V5(c) => c
                .publish(topic, qos5(qos), retain, payload.to_vec())
                .await
                .unwrap(),
        }
    }

    /// Publishes at QoS 1 and returns the PUBACK code.
    async fn publish1(&mut self, topic: &str, payload: &[u8]) -> u8 {
        self.publish(topic, 1, payload, false).await;
        match self
            .next_where(|e| matches!(e, Ev::PubAck(_) | Ev::Closed))
            .await
        {
            Some(Ev::PubAck(c)) => c,
            other => panic!("expected PUBACK, got {other:?}"),
        }
    }

    /// Waits for the server to end the connection: Some(v5 DISCONNECT code, or 0xFF
    /// for a plain close) within `d`.
    async fn closed_within(&mut self, d: Duration) -> Option<u8> {
        let deadline = tokio::time::Instant::now() + d;
        let mut code = None;
        loop {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(Ev::Disconnect(c))) => code = Some(c),
                Ok(Some(Ev::Closed)) | Ok(None) => return Some(code.unwrap_or(0xFF)),
                Ok(Some(_)) => continue,
                Err(_) => return code,
            }
        }
    }

    async fn disconnect(self) {
        match &self.c {
            Handle::V3(c) => {
                let _ = c.disconnect().await;
            }
            Handle::V5(c) => {
                let _ = c.disconnect().await;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        self.task.abort();
    }
}

// ---------------------------------------------------------------- raw bytes

/// A CONNECT packet (level 4 = 3.1.1, 5 = v5) with username/password.
fn raw_connect(
    level: u8,
    client_id: &str,
    creds: Option<(&str, &str)>,
    keep_alive: u16,
    clean: bool,
) -> Vec<u8> {
    let mut vh = vec![0, 4, b'M', b'Q', b'T', b'T', level];
    let mut flags = 0u8;
    if clean {
        flags |= 0x02;
    }
    if creds.is_some() {
        flags |= 0xC0;
    }
    vh.push(flags);
    vh.extend(keep_alive.to_be_bytes());
    if level == 5 {
        vh.push(0); // no properties
    }
    mqtt_str(&mut vh, client_id.as_bytes());
    if let Some((u, p)) = creds {
        mqtt_str(&mut vh, u.as_bytes());
        mqtt_str(&mut vh, p.as_bytes());
    }
    let mut out = vec![0x10];
    remaining_length(&mut out, vh.len());
    out.extend(vh);
    out
}

fn raw_subscribe(v5: bool, pid: u16, filter: &str, qos: u8) -> Vec<u8> {
    let mut vh = pid.to_be_bytes().to_vec();
    if v5 {
        vh.push(0);
    }
    mqtt_str(&mut vh, filter.as_bytes());
    vh.push(qos);
    let mut out = vec![0x82];
    remaining_length(&mut out, vh.len());
    out.extend(vh);
    out
}

fn raw_publish(v5: bool, topic: &str, qos: u8, pid: u16, payload: &[u8]) -> Vec<u8> {
    let mut vh = Vec::new();
    mqtt_str(&mut vh, topic.as_bytes());
    if qos > 0 {
        vh.extend(pid.to_be_bytes());
    }
    if v5 {
        vh.push(0);
    }
    vh.extend(payload);
    let mut out = vec![0x30 | (qos << 1)];
    remaining_length(&mut out, vh.len());
    out.extend(vh);
    out
}

/// A raw MQTT 3.1.1 connection that has sent its CONNECT (keep-alive 60 s).
async fn raw_v3(addr: SocketAddr, id: &str, creds: Option<(&str, &str)>, clean: bool) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(&raw_connect(4, id, creds, 60, clean))
        .await
        .unwrap();
    s
}

/// Reads until EOF (or `d`), returning what came and whether EOF was seen.
async fn read_all(s: &mut TcpStream, d: Duration) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + d;
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (out, true),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) => return (out, false),
        }
    }
}

/// Splits a byte string into (first byte, body) packets.
fn packets(mut b: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    while b.len() >= 2 {
        let first = b[0];
        let (mut len, mut mul, mut i) = (0usize, 1usize, 1usize);
        loop {
            let Some(&x) = b.get(i) else { return out };
            len += usize::from(x & 0x7f) * mul;
            mul *= 128;
            i += 1;
            if x & 0x80 == 0 {
                break;
            }
        }
        if b.len() < i + len {
            return out;
        }
        out.push((first, b[i..i + len].to_vec()));
        b = &b[i + len..];
    }
    out
}

// ---------------------------------------------------------------- tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_reaches_subscribers_v3_and_v5() {
    let env = Env::start().await;
    let (publisher, subscriber, ch) = env.pub_sub("room").await;
    let topic = env.topic(&ch);

    for (pv5, sv5) in [(false, false), (true, true), (false, true), (true, false)] {
        let mut sub = Mqtt::open(env.mqtt, Opts::new(sv5, "s", &subscriber)).await;
        let mut wild = Mqtt::open(env.mqtt, Opts::new(sv5, "w", &subscriber)).await;
        let mut publ = Mqtt::open(env.mqtt, Opts::new(pv5, "p", &publisher)).await;
        assert_eq!(sub.subscribe(&topic, 1).await, vec![1]);
        // QoS 2 is granted.
        assert_eq!(wild.subscribe(&format!("{topic}/#"), 2).await, vec![2]);

        // Delivered at the lower of the publish and granted QoS [MQTT-3.8.4-6].
        publ.publish(&topic, 0, b"qos0", false).await;
        let (t, p, q, r) = sub.message().await;
        assert_eq!(
            (t.as_str(), p.as_slice(), q, r),
            (topic.as_str(), &b"qos0"[..], 0, false)
        );
        assert_eq!(wild.message().await.1, b"qos0");

        assert_eq!(publ.publish1(&format!("{topic}/temp/a"), b"qos1").await, 0);
        let (t, p, q, _) = wild.message().await;
        assert_eq!((t, p, q), (format!("{topic}/temp/a"), b"qos1".to_vec(), 1));
        // The bare-channel subscriber does not get the subtopic.
        assert_eq!(publ.publish1(&topic, b"again").await, 0);
        assert_eq!(sub.message().await.1, b"again", "pub v5={pv5} sub v5={sv5}");

        // A QoS 0 subscription gets QoS 0.
        let mut zero = Mqtt::open(env.mqtt, Opts::new(sv5, "z", &subscriber)).await;
        assert_eq!(zero.subscribe(&topic, 0).await, vec![0]);
        assert_eq!(publ.publish1(&topic, b"z").await, 0);
        assert_eq!(zero.message().await.2, 0);

        for c in [sub, wild, publ, zero] {
            c.disconnect().await;
        }
    }
    env.stop().await;
}

/// A fleet reconnecting at once: each CONNECT of a burst gets the answer its own
/// credentials deserve (the login reads are made in batches), including the same
/// client twice, wrong secrets and unknown ids.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_burst_answers_each_login() {
    let env = Env::start().await;
    let batch: Vec<Value> = (0..300)
        .map(|i| json!({"name": format!("fleet-{i}")}))
        .collect();
    let made = env
        .post(&format!("/{}/clients/bulk", env.domain), json!(batch))
        .await;
    let made = made.get("clients").unwrap_or(&made).as_array().unwrap();
    let mut logins: Vec<(String, String, u8)> = made
        .iter()
        .map(|c| {
            let id = c["id"].as_str().unwrap().to_string();
            (
                id,
                c["credentials"]["secret"].as_str().unwrap().to_string(),
                0,
            )
        })
        .collect();
    for i in 0..50 {
        let (id, secret, _) = logins[i].clone();
        logins.push((id.clone(), secret, 0)); // the same client, another connection
        logins.push((id, "wrong".into(), 4));
        logins.push((uuid::Uuid::new_v4().to_string(), "whatever".into(), 4));
    }
    let mut tasks = Vec::new();
    for (n, (id, secret, want)) in logins.into_iter().enumerate() {
        let addr = env.mqtt;
        tasks.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            let connect = raw_connect(4, &format!("burst-{n}"), Some((&id, &secret)), 60, true);
            s.write_all(&connect).await.unwrap();
            let mut ack = [0u8; 4];
            tokio::time::timeout(WAIT, s.read_exact(&mut ack))
                .await
                .expect("a CONNACK in time")
                .unwrap();
            (ack, want, s)
        }));
    }
    let mut open = Vec::new();
    for t in tasks {
        let (ack, want, s) = t.await.unwrap();
        assert_eq!(ack[..3], [0x20, 2, 0]);
        assert_eq!(ack[3], want);
        open.push(s);
    }
    assert_eq!(open.len(), 450);
    drop(open);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals() {
    let env = Env::start().await;
    let (publisher, subscriber, stranger, disabled) = (
        env.client("pub").await,
        env.client("sub").await,
        env.client("stranger").await,
        env.client("off").await,
    );
    let ch = env.channel("room").await;
    env.connect(&ch, &publisher.0, &["publish"]).await;
    env.connect(&ch, &subscriber.0, &["subscribe"]).await;
    env.connect(&ch, &disabled.0, &["publish", "subscribe"])
        .await;
    env.post(
        &format!("/{}/clients/{}/disable", env.domain, disabled.0),
        json!({}),
    )
    .await;
    let topic = env.topic(&ch);

    // CONNECT refusals: wrong secret, unknown client, disabled client.
    let wrong = (publisher.0.clone(), "wrong".to_string());
    let unknown = (uuid::Uuid::new_v4().to_string(), publisher.1.clone());
    for (v5, bad) in [(false, 4u8), (true, 0x86u8)] {
        assert_eq!(
            Mqtt::connack(env.mqtt, Opts::new(v5, "x", &wrong)).await,
            bad
        );
        assert_eq!(
            Mqtt::connack(env.mqtt, Opts::new(v5, "x", &unknown)).await,
            bad
        );
        assert_eq!(
            Mqtt::connack(env.mqtt, Opts::new(v5, "x", &disabled)).await,
            bad
        );
    }
    // No credentials at all: not authorized.
    for (level, code) in [(4u8, 5u8), (5, 0x87)] {
        let mut s = TcpStream::connect(env.mqtt).await.unwrap();
        s.write_all(&raw_connect(level, "anon", None, 30, true))
            .await
            .unwrap();
        let (b, eof) = read_all(&mut s, WAIT).await;
        assert!(eof);
        let p = packets(&b);
        assert_eq!(p[0].0, 0x20);
        assert_eq!(p[0].1[1], code, "level {level}");
    }

    let mut sub = Mqtt::open(env.mqtt, Opts::new(true, "s", &subscriber)).await;
    assert_eq!(sub.subscribe(&topic, 1).await, vec![1]);

    // Refused publishes: v5 QoS 1 gets 0x87; v3 is acknowledged but dropped. Nothing
    // reaches the subscriber.
    let mut s5 = Mqtt::open(env.mqtt, Opts::new(true, "x5", &stranger)).await;
    assert_eq!(s5.publish1(&topic, b"no").await, 0x87, "no connection");
    s5.publish(&topic, 0, b"no", false).await;
    let mut so5 = Mqtt::open(env.mqtt, Opts::new(true, "so5", &subscriber)).await;
    assert_eq!(so5.publish1(&topic, b"no").await, 0x87, "subscribe-only");
    assert_eq!(
        so5.publish1(&format!("m/{}/x/{ch}", env.domain), b"no")
            .await,
        0x87,
        "malformed topic"
    );
    let mut s3 = Mqtt::open(env.mqtt, Opts::new(false, "x3", &stranger)).await;
    assert_eq!(s3.publish1(&topic, b"no").await, 0);
    let mut so3 = Mqtt::open(env.mqtt, Opts::new(false, "so3", &subscriber)).await;
    assert_eq!(so3.publish1(&topic, b"no").await, 0);
    // Another domain's topic, and a publish-only client subscribing.
    let mut p5 = Mqtt::open(env.mqtt, Opts::new(true, "p5", &publisher)).await;
    assert_eq!(
        p5.publish1(&format!("m/{}/c/{ch}", uuid::Uuid::new_v4()), b"no")
            .await,
        0x87
    );
    assert_eq!(p5.subscribe(&topic, 1).await, vec![0x87]);
    let mut p3 = Mqtt::open(env.mqtt, Opts::new(false, "p3", &publisher)).await;
    assert_eq!(p3.subscribe(&topic, 1).await, vec![0x80]);
    assert_eq!(s5.subscribe("not/a/topic", 0).await, vec![0x87]);
    assert_eq!(sub.message_within(Duration::from_millis(500)).await, None);
    // The connections stay usable after refusals.
    assert_eq!(p5.publish1(&topic, b"yes").await, 0);
    assert_eq!(sub.message().await.1, b"yes");
    for c in [sub, s5, so5, s3, so3, p5, p3] {
        c.disconnect().await;
    }
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_is_live() {
    let env = Env::start().await;
    let (publisher, subscriber, other) = (
        env.client("pub").await,
        env.client("sub").await,
        env.client("other").await,
    );
    let ch = env.channel("room").await;
    let ch2 = env.channel("hall").await;
    for c in [&ch, &ch2] {
        env.connect(c, &publisher.0, &["publish"]).await;
        env.connect(c, &subscriber.0, &["subscribe"]).await;
        env.connect(c, &other.0, &["subscribe"]).await;
    }
    let (topic, topic2) = (env.topic(&ch), env.topic(&ch2));
    let mut publ = Mqtt::open(env.mqtt, Opts::new(false, "p", &publisher)).await;

    for v5 in [false, true] {
        // Disconnect (subscribe) from one channel: that subscription stops within 1 s,
        // the other channel keeps flowing.
        let mut sub = Mqtt::open(env.mqtt, Opts::new(v5, "s", &subscriber)).await;
        assert_eq!(sub.subscribe(&topic, 1).await, vec![1]);
        assert_eq!(sub.subscribe(&topic2, 1).await, vec![1]);
        assert_eq!(publ.publish1(&topic, b"before").await, 0);
        assert_eq!(sub.message().await.1, b"before");
        env.post_status(
            &format!("/{}/channels/disconnect", env.domain),
            json!({"channel_ids": [ch], "client_ids": [subscriber.0], "types": ["subscribe"]}),
        )
        .await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(publ.publish1(&topic, b"after").await, 0);
        assert_eq!(publ.publish1(&topic2, b"other channel").await, 0);
        let (t, p, _, _) = sub.message().await;
        assert_eq!(
            (t.as_str(), p.as_slice()),
            (topic2.as_str(), &b"other channel"[..]),
            "v5={v5}"
        );
        assert_eq!(sub.message_within(Duration::from_millis(300)).await, None);
        // Re-connected and re-subscribed, it flows again. (Core learns of the new
        // connection from its change event, asynchronously: allow it a moment.)
        env.connect(&ch, &subscriber.0, &["subscribe"]).await;
        let mut granted = sub.subscribe(&topic, 1).await;
        for _ in 0..20 {
            if granted == [1] {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            granted = sub.subscribe(&topic, 1).await;
        }
        assert_eq!(granted, vec![1]);
        assert_eq!(publ.publish1(&topic, b"back").await, 0);
        assert_eq!(sub.message().await.1, b"back");
        sub.disconnect().await;
    }

    // A channel disabled: its subscriptions end.
    let mut o = Mqtt::open(env.mqtt, Opts::new(true, "o", &other)).await;
    assert_eq!(o.subscribe(&topic2, 1).await, vec![1]);
    env.post(
        &format!("/{}/channels/{}/disable", env.domain, ch2),
        json!({}),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    env.post(
        &format!("/{}/channels/{}/enable", env.domain, ch2),
        json!({}),
    )
    .await;
    assert_eq!(publ.publish1(&topic2, b"re-enabled").await, 0);
    assert_eq!(
        o.message_within(Duration::from_millis(500)).await,
        None,
        "dropped at disable"
    );
    o.disconnect().await;

    // The subscriber disabled: the open session is closed within 1 s (v5: 0x87).
    for v5 in [false, true] {
        env.post_status(
            &format!("/{}/clients/{}/enable", env.domain, subscriber.0),
            json!({}),
        )
        .await;
        let mut sub = Mqtt::open(env.mqtt, Opts::new(v5, "s", &subscriber)).await;
        assert_eq!(sub.subscribe(&topic, 1).await, vec![1]);
        let t0 = std::time::Instant::now();
        env.post(
            &format!("/{}/clients/{}/disable", env.domain, subscriber.0),
            json!({}),
        )
        .await;
        let code = sub.closed_within(Duration::from_secs(1)).await;
        assert_eq!(code, Some(if v5 { 0x87 } else { 0xFF }), "v5={v5}");
        assert!(t0.elapsed() < Duration::from_secs(2));
        sub.task.abort();
    }
    publ.disconnect().await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retained_will_and_qos2() {
    let env = Env::start().await;
    let (publisher, subscriber, ch) = env.pub_sub("room").await;
    let topic = env.topic(&ch);

    // Retained: delivered on subscribe with the retain flag; an empty payload clears.
    let mut publ = Mqtt::open(env.mqtt, Opts::new(true, "p", &publisher)).await;
    publ.publish(&format!("{topic}/state"), 1, b"on", true)
        .await;
    publ.publish(&topic, 1, b"root", true).await;
    assert_eq!(publ.publish1(&format!("{topic}/x"), b"sync").await, 0);
    let mut sub = Mqtt::open(env.mqtt, Opts::new(false, "s", &subscriber)).await;
    assert_eq!(sub.subscribe(&format!("{topic}/state"), 1).await, vec![1]);
    let (t, p, _, r) = sub.message().await;
    assert_eq!((t, p, r), (format!("{topic}/state"), b"on".to_vec(), true));
    assert_eq!(
        sub.message_within(Duration::from_millis(300)).await,
        None,
        "only the matching topic"
    );
    publ.publish(&format!("{topic}/state"), 1, b"", true).await;
    // The clearing publish itself is delivered live (empty, retain 0).
    assert_eq!(sub.message().await.1, b"");
    let mut late = Mqtt::open(env.mqtt, Opts::new(true, "l", &subscriber)).await;
    assert_eq!(late.subscribe(&format!("{topic}/#"), 1).await, vec![1]);
    let (t, p, _, r) = late.message().await;
    assert_eq!((t, p, r), (topic.clone(), b"root".to_vec(), true));
    assert_eq!(
        late.message_within(Duration::from_millis(300)).await,
        None,
        "cleared"
    );

    // QoS 2 end to end: PUBREC/PUBCOMP from the server to the publisher; a QoS 2
    // subscriber gets it at QoS 2 (PUBLISH, its PUBREC, our PUBREL), a QoS 1 one at 1.
    let mut exact: Vec<Mqtt> = Vec::new();
    for v5 in [false, true] {
        let id = format!("x{v5}");
        let mut x = Mqtt::open(env.mqtt, Opts::new(v5, &id, &subscriber)).await;
        assert_eq!(x.subscribe(&topic, 2).await, vec![2]);
        // The retained message first, at the QoS it was published with (1), not 2.
        let (_, p, q, r) = x.message().await;
        assert_eq!((p.as_slice(), q, r), (&b"root"[..], 1, true));
        exact.push(x);
    }
    for v5 in [false, true] {
        let mut q2 = Mqtt::open(env.mqtt, Opts::new(v5, "q2", &publisher)).await;
        q2.publish(&topic, 2, b"exactly", false).await;
        assert_eq!(
            q2.next_where(|e| matches!(e, Ev::PubRec(_))).await,
            Some(Ev::PubRec(0))
        );
        assert_eq!(
            q2.next_where(|e| matches!(e, Ev::PubComp)).await,
            Some(Ev::PubComp)
        );
        let (_, p, q, _) = late.message().await;
        assert_eq!((p.as_slice(), q), (&b"exactly"[..], 1));
        for x in &mut exact {
            let (_, p, q, _) = x.message().await;
            assert_eq!((p.as_slice(), q), (&b"exactly"[..], 2));
            assert_eq!(
                x.next_where(|e| matches!(e, Ev::PubRel)).await,
                Some(Ev::PubRel),
                "our PUBREL after the client's PUBREC"
            );
        }
        q2.disconnect().await;
    }
    for x in &mut exact {
        assert_eq!(
            x.message_within(Duration::from_millis(300)).await,
            None,
            "exactly once"
        );
    }
    assert_eq!(
        late.message_within(Duration::from_millis(300)).await,
        None,
        "once"
    );

    // Will: published on an abnormal end, not after DISCONNECT.
    for v5 in [false, true] {
        let mut o = Opts::new(v5, "will", &publisher);
        o.will = Some((format!("{topic}/will"), b"gone".to_vec()));
        let w = Mqtt::open(env.mqtt, o.clone()).await;
        w.task.abort(); // drops the socket without DISCONNECT
        let (t, p, _, _) = late.message().await;
        assert_eq!(
            (t, p),
            (format!("{topic}/will"), b"gone".to_vec()),
            "v5={v5}"
        );
        let w = Mqtt::open(env.mqtt, o).await;
        w.disconnect().await;
        assert_eq!(
            late.message_within(Duration::from_millis(500)).await,
            None,
            "no will after DISCONNECT"
        );
    }
    // A will the client may not publish is not published.
    let mut o = Opts::new(true, "will2", &subscriber);
    o.will = Some((topic.clone(), b"nope".to_vec()));
    let w = Mqtt::open(env.mqtt, o).await;
    w.task.abort();
    assert_eq!(late.message_within(Duration::from_millis(500)).await, None);
    for c in [publ, sub, late] {
        c.disconnect().await;
    }
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_ids_keep_alive_and_packet_size() {
    let env = Env::start_with(MqttConfig {
        max_packet_size: 64 * 1024,
        ..MqttConfig::default()
    })
    .await;
    let (id, secret) = env.client("c").await;
    let creds = Some((id.as_str(), secret.as_str()));

    // Empty client identifier: 3.1.1 + clean session is assigned one; without clean
    // session refused with 0x02; v5 gets an Assigned Client Identifier (0x12).
    let mut s = TcpStream::connect(env.mqtt).await.unwrap();
    s.write_all(&raw_connect(4, "", creds, 30, true))
        .await
        .unwrap();
    let mut b = [0u8; 4];
    s.read_exact(&mut b).await.unwrap();
    assert_eq!(b, [0x20, 2, 0, 0]);
    let mut s = TcpStream::connect(env.mqtt).await.unwrap();
    s.write_all(&raw_connect(4, "", creds, 30, false))
        .await
        .unwrap();
    let (b, eof) = read_all(&mut s, WAIT).await;
    assert!(eof);
    assert_eq!(b, [0x20, 2, 0, 2]);
    let mut s = TcpStream::connect(env.mqtt).await.unwrap();
    s.write_all(&raw_connect(5, "", creds, 30, true))
        .await
        .unwrap();
    let (b, _) = read_all(&mut s, Duration::from_millis(300)).await;
    let p = packets(&b);
    assert_eq!((p[0].0, p[0].1[1]), (0x20, 0));
    assert!(
        p[0].1.windows(2).any(|w| w == [0x12, 0x00]),
        "assigned client id property"
    );

    // Keep-alive 1 s and silence: closed after 1.5 s.
    let mut s = TcpStream::connect(env.mqtt).await.unwrap();
    s.write_all(&raw_connect(4, "ka", creds, 1, true))
        .await
        .unwrap();
    let t0 = std::time::Instant::now();
    let (b, eof) = read_all(&mut s, Duration::from_secs(5)).await;
    assert!(eof, "closed");
    assert_eq!(b, [0x20, 2, 0, 0]);
    let el = t0.elapsed();
    assert!(
        el >= Duration::from_millis(1300) && el < Duration::from_millis(3000),
        "{el:?}"
    );
    // PINGREQ keeps it open.
    let mut s = TcpStream::connect(env.mqtt).await.unwrap();
    s.write_all(&raw_connect(4, "ka2", creds, 1, true))
        .await
        .unwrap();
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(600)).await;
        s.write_all(&[0xC0, 0]).await.unwrap();
    }
    let (b, eof) = read_all(&mut s, Duration::from_millis(200)).await;
    assert!(!eof);
    assert_eq!(&b[..4], &[0x20, 2, 0, 0]);
    assert!(b[4..].chunks(2).all(|c| c == [0xD0, 0]));

    // Too large: v5 gets DISCONNECT 0x95, v3 a close.
    for level in [5u8, 4] {
        let mut s = TcpStream::connect(env.mqtt).await.unwrap();
        s.write_all(&raw_connect(level, "big", creds, 30, true))
            .await
            .unwrap();
        let topic = format!("m/{}/c/x", env.domain);
        let _ = s
            .write_all(&raw_publish(
                level == 5,
                &topic,
                0,
                0,
                &vec![b'x'; 70 * 1024],
            ))
            .await;
        let (b, eof) = read_all(&mut s, WAIT).await;
        assert!(eof);
        let p = packets(&b);
        if level == 5 {
            assert_eq!(p.last().map(|(t, body)| (*t, body[0])), Some((0xE0, 0x95)));
        } else {
            assert_eq!(p.len(), 1, "only the CONNACK");
        }
    }

    // A second CONNECT is a protocol error; garbage closes the connection.
    let mut s = TcpStream::connect(env.mqtt).await.unwrap();
    s.write_all(&raw_connect(5, "twice", creds, 30, true))
        .await
        .unwrap();
    s.write_all(&raw_connect(5, "twice", creds, 30, true))
        .await
        .unwrap();
    let (b, eof) = read_all(&mut s, WAIT).await;
    assert!(eof);
    assert_eq!(
        packets(&b).last().map(|(t, body)| (*t, body[0])),
        Some((0xE0, 0x82))
    );
    let mut s = TcpStream::connect(env.mqtt).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    assert!(read_all(&mut s, WAIT).await.1);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_consumer_and_takeover() {
    let env = Env::start_with(MqttConfig {
        outbound_queue: 4,
        max_inflight: 2,
        ..MqttConfig::default()
    })
    .await;
    let (publisher, subscriber, ch) = env.pub_sub("room").await;
    let topic = env.topic(&ch);

    // A QoS 1 subscriber that never acknowledges: disconnected once its queue is full.
    let mut o = Opts::new(true, "slow", &subscriber);
    o.manual_acks = true;
    let mut slow = Mqtt::open(env.mqtt, o).await;
    assert_eq!(slow.subscribe(&topic, 1).await, vec![1]);
    // A QoS 0 subscriber on the same channel keeps receiving.
    let mut fast = Mqtt::open(env.mqtt, Opts::new(false, "fast", &subscriber)).await;
    assert_eq!(fast.subscribe(&topic, 0).await, vec![0]);
    let mut publ = Mqtt::open(env.mqtt, Opts::new(false, "p", &publisher)).await;
    // (One at a time: with a queue of 4 even the fast one may drop QoS 0 under a burst.)
    for i in 0..20 {
        assert_eq!(publ.publish1(&topic, format!("{i}").as_bytes()).await, 0);
        assert_eq!(fast.message().await.1, format!("{i}").as_bytes());
    }
    assert_eq!(slow.closed_within(WAIT).await, Some(0x97));

    // Take-over: the same client id and identifier replaces the older session.
    let mut a = Mqtt::open(env.mqtt, Opts::new(true, "same", &subscriber)).await;
    let mut b = Mqtt::open(env.mqtt, Opts::new(true, "same", &subscriber)).await;
    assert_eq!(a.closed_within(WAIT).await, Some(0x8E));
    assert_eq!(b.subscribe(&topic, 1).await, vec![1]);
    assert_eq!(publ.publish1(&topic, b"b").await, 0);
    assert_eq!(b.message().await.1, b"b");
    for c in [fast, publ, b] {
        c.disconnect().await;
    }
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_clients() {
    let (sub_bin, pub_bin) = ("mosquitto_sub", "mosquitto_pub");
    for bin in [sub_bin, pub_bin] {
        let found = std::process::Command::new(bin).arg("--help").output();
        assert!(
            found.is_ok(),
            "{bin} is not installed: this interoperability test needs Debian's \
             mosquitto-clients (apt-get install mosquitto-clients; .ci/run installs it)"
        );
    }
    let env = Env::start().await;
    let (publisher, subscriber, ch) = env.pub_sub("room").await;
    let topic = format!("{}/sensors/t1", env.topic(&ch));
    let port = env.mqtt.port().to_string();
    for (ver, qos) in [("mqttv311", "1"), ("mqttv5", "1"), ("mqttv311", "0")] {
        let sub = tokio::process::Command::new(sub_bin)
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-V",
                ver,
                "-q",
                qos,
                "-C",
                "1",
                "-W",
                "10",
                "-v",
            ])
            .args([
                "-i",
                "msub",
                "-u",
                &subscriber.0,
                "-P",
                &subscriber.1,
                "-t",
                &topic,
            ])
            .kill_on_drop(true)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Publish until the subscriber is in place and has its message.
        let out = tokio::spawn(async move { sub.wait_with_output().await.unwrap() });
        let mut n = 0;
        while !out.is_finished() && n < 40 {
            let st = tokio::process::Command::new(pub_bin)
                .args([
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &port,
                    "-V",
                    ver,
                    "-q",
                    qos,
                    "-i",
                    "mpub",
                ])
                .args([
                    "-u",
                    &publisher.0,
                    "-P",
                    &publisher.1,
                    "-t",
                    &topic,
                    "-m",
                    "21.5",
                ])
                .status()
                .await
                .unwrap();
            assert!(st.success(), "mosquitto_pub {ver}");
            tokio::time::sleep(Duration::from_millis(250)).await;
            n += 1;
        }
        let out = out.await.unwrap();
        assert!(out.status.success(), "mosquitto_sub {ver}");
        let line = String::from_utf8_lossy(&out.stdout);
        assert_eq!(line.trim(), format!("{topic} 21.5"), "{ver}");
        // A wrong password is refused.
        let st = tokio::process::Command::new(pub_bin)
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-V",
                ver,
                "-u",
                &publisher.0,
                "-P",
                "wrong",
                "-t",
                &topic,
                "-m",
                "x",
            ])
            .stderr(std::process::Stdio::null())
            .status()
            .await
            .unwrap();
        assert!(!st.success());
    }
    env.stop().await;
}

/// A burst from `mosquitto_pub -l` (every stdin line a message, sent as fast as the
/// socket takes them) reaches a `mosquitto_sub` whole: a publisher faster than its
/// subscriber is slowed down, not dropped. The subscriber's queue is made small so the
/// burst overflows it many times over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_burst_is_not_lost() {
    use switchyard_testkit::mosquitto::{borrowed, burst, expect_burst, pub_lines, subscribed};
    const BURST: usize = 20_000;
    let env = Env::start_with(MqttConfig {
        outbound_queue: 16,
        outbound_bytes: 2048,
        ..MqttConfig::default()
    })
    .await;
    let (publisher, subscriber, ch) = env.pub_sub("burst").await;
    let topic = env.topic(&ch);
    let port = env.mqtt.port().to_string();
    let args = |who: &(String, String)| {
        vec![
            "-u".to_string(),
            who.0.clone(),
            "-P".into(),
            who.1.clone(),
            "-t".into(),
            topic.clone(),
        ]
    };
    let (sub_args, pub_args) = (args(&subscriber), args(&publisher));
    let (_sub, mut lines, _) = subscribed(&port, &borrowed(&sub_args), &borrowed(&pub_args)).await;
    let publish =
        tokio::spawn(async move { pub_lines(&port, &borrowed(&pub_args), burst(BURST)).await });
    expect_burst(&mut lines, BURST).await;
    publish.await.unwrap();
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_listener() {
    use tokio_rustls::rustls::{self, pki_types::ServerName};
    let env = Env::start().await;
    let (id, secret) = env.client("c").await;
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.cert.der().clone()],
            cert.signing_key.serialize_der().try_into().unwrap(),
        )
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, rx) = oneshot::channel::<()>();
    let core = env.app.core();
    let acceptor = switchyard_adapter_mqtt::TlsAcceptor::from(Arc::new(server));
    let served = tokio::spawn(switchyard_adapter_mqtt::serve_tls(
        listener,
        acceptor,
        core,
        MqttConfig::default(),
        async {
            let _ = rx.await;
        },
    ));

    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).unwrap();
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
    let tcp = TcpStream::connect(addr).await.unwrap();
    let mut tls = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    tls.write_all(&raw_connect(4, "tls", Some((&id, &secret)), 30, true))
        .await
        .unwrap();
    let mut b = [0u8; 4];
    tls.read_exact(&mut b).await.unwrap();
    assert_eq!(b, [0x20, 2, 0, 0]);
    tls.write_all(&[0xC0, 0]).await.unwrap();
    tls.read_exact(&mut b[..2]).await.unwrap();
    assert_eq!(&b[..2], &[0xD0, 0]);
    // Shutdown closes the open session.
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(10), served)
        .await
        .unwrap()
        .unwrap();
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(WAIT, tls.read_to_end(&mut rest))
        .await
        .unwrap();
    env.stop().await;
}

/// A fixed corpus of random and mutated byte strings fed to `handle` over an in-memory
/// stream: every session must end, and none may panic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuzz_corpus_never_panics() {
    let env = Env::start().await;
    let (publisher, _) = (env.client("pub").await, ());
    let ch = env.channel("room").await;
    env.connect(&ch, &publisher.0, &["publish", "subscribe"])
        .await;
    let topic = env.topic(&ch);
    let core = env.app.core();
    let creds = Some((publisher.0.as_str(), publisher.1.as_str()));

    // xorshift64*: deterministic, no dependency.
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut rnd = move || {
        seed ^= seed >> 12;
        seed ^= seed << 25;
        seed ^= seed >> 27;
        seed.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };

    let valid: Vec<Vec<u8>> = vec![
        raw_connect(4, "f3", creds, 30, true),
        raw_connect(5, "f5", creds, 30, true),
        raw_connect(4, "", creds, 0, false),
        raw_connect(3, "x", None, 10, true),
    ];
    let sessions: Vec<(bool, Vec<u8>)> = [false, true]
        .into_iter()
        .map(|v5| {
            let mut b = raw_connect(if v5 { 5 } else { 4 }, "fz", creds, 30, true);
            b.extend(raw_subscribe(v5, 1, &format!("{topic}/#"), 1));
            b.extend(raw_publish(v5, &format!("{topic}/a"), 1, 2, b"payload"));
            b.extend(raw_publish(v5, &topic, 2, 3, b"q2"));
            b.extend([0x62, 2, 0, 3]); // PUBREL
            b.extend([0xC0, 0]);
            (v5, b)
        })
        .collect();

    let mut corpus: Vec<Vec<u8>> = Vec::new();
    // Truncations of valid traffic.
    for v in valid.iter().chain(sessions.iter().map(|(_, b)| b)) {
        for cut in 0..v.len() {
            corpus.push(v[..cut].to_vec());
        }
    }
    // Pure noise, and noise that starts like a CONNECT.
    for i in 0..2000 {
        let len = (rnd() % 300) as usize;
        let mut b: Vec<u8> = (0..len).map(|_| rnd() as u8).collect();
        if i % 2 == 0 && !b.is_empty() {
            b[0] = 0x10;
        }
        corpus.push(b);
    }
    // Mutations: a valid session prefix with bytes flipped, inserted or appended.
    for i in 0..2000 {
        let (_, base) = &sessions[i % 2];
        let mut b = base.clone();
        let connect_len = packets(&b)
            .first()
            .map(|(_, body)| body.len() + 2)
            .unwrap_or(0);
        for _ in 0..(1 + rnd() % 4) {
            let at = connect_len + (rnd() as usize) % (b.len() - connect_len + 1);
            match rnd() % 3 {
                0 if at < b.len() => b[at] ^= 1 << (rnd() % 8),
                1 => b.insert(at.min(b.len()), rnd() as u8),
                _ => b.extend((0..rnd() % 16).map(|_| rnd() as u8)),
            }
        }
        corpus.push(b);
    }
    // Hostile lengths: the largest remaining length, and an overlong varint.
    corpus.push(vec![0x10, 0xff, 0xff, 0xff, 0x7f]);
    corpus.push(vec![0x10, 0xff, 0xff, 0xff, 0xff, 0x01]);
    let mut b = sessions[0].1.clone();
    b.extend([0x30, 0xff, 0xff, 0xff, 0x7f]);
    corpus.push(b);

    let n = corpus.len();
    let cfg = MqttConfig {
        connect_timeout: Duration::from_secs(2),
        ..MqttConfig::default()
    };
    let adapter = MqttAdapter::new(core, cfg);
    let mut set = tokio::task::JoinSet::new();
    for (i, case) in corpus.into_iter().enumerate() {
        let adapter = adapter.clone();
        set.spawn(async move {
            let (mut ours, theirs) = tokio::io::duplex(64 * 1024);
            let session = tokio::spawn(async move { adapter.handle(theirs).await });
            let _ = ours.write_all(&case).await;
            let _ = ours.shutdown().await;
            // Drain what the server says so it never blocks on a full pipe.
            let mut sink = Vec::new();
            let _ =
                tokio::time::timeout(Duration::from_secs(10), ours.read_to_end(&mut sink)).await;
            drop(ours);
            let r = tokio::time::timeout(Duration::from_secs(10), session).await;
            (i, r.map(|j| j.map_err(|e| e.is_panic())))
        });
        while set.len() >= 64 {
            check(set.join_next().await.unwrap().unwrap());
        }
    }
    while let Some(r) = set.join_next().await {
        check(r.unwrap());
    }
    fn check((i, r): (usize, Result<Result<(), bool>, tokio::time::error::Elapsed>)) {
        match r {
            Ok(Ok(())) => {}
            Ok(Err(true)) => panic!("case {i}: the session panicked"),
            Ok(Err(false)) => panic!("case {i}: the session was cancelled"),
            Err(_) => panic!("case {i}: the session did not end"),
        }
    }
    assert!(n > 4000, "{n} cases");
    env.stop().await;
}

/// v5 No Local is about the connection's MQTT client identifier [MQTT-3.8.3-3]: a
/// subscriber does not get its own publishes, but gets those of another connection of
/// the same platform client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_local_is_per_mqtt_client_identifier() {
    let env = Env::start().await;
    let dev = env.client("dev").await;
    let ch = env.channel("loop").await;
    env.connect(&ch, &dev.0, &["publish", "subscribe"]).await;
    let topic = env.topic(&ch);
    let open = |id: &'static str| {
        let (addr, dev) = (env.mqtt, dev.clone());
        async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.write_all(&raw_connect(5, id, Some((&dev.0, &dev.1)), 30, true))
                .await
                .unwrap();
            let mut b = [0u8; 64];
            let n = s.read(&mut b).await.unwrap();
            assert_eq!(b[0], 0x20, "CONNACK: {:?}", &b[..n]);
            s
        }
    };
    let mut a = open("conn-a").await;
    let mut b = open("conn-b").await;
    // Subscription options: QoS 0 with No Local (bit 2).
    a.write_all(&raw_subscribe(true, 1, &topic, 0x04))
        .await
        .unwrap();
    let (suback, _) = read_all(&mut a, Duration::from_millis(300)).await;
    assert_eq!(suback.first(), Some(&0x90), "SUBACK: {suback:?}");
    a.write_all(&raw_publish(true, &topic, 0, 0, b"from-a"))
        .await
        .unwrap();
    b.write_all(&raw_publish(true, &topic, 0, 0, b"from-b"))
        .await
        .unwrap();
    let (got, closed) = read_all(&mut a, Duration::from_millis(700)).await;
    assert!(!closed);
    let has = |p: &[u8]| got.windows(p.len()).any(|w| w == p);
    assert!(
        has(b"from-b"),
        "another connection's message arrives: {got:?}"
    );
    assert!(!has(b"from-a"), "its own message does not: {got:?}");
    env.stop().await;
}

/// Runs `mosquitto_sub` with `args` until it exits or `wait` passes; its stdout lines.
async fn mosquitto_sub_lines(port: &str, args: &[&str], wait: Duration) -> Vec<String> {
    let child = tokio::process::Command::new("mosquitto_sub")
        .args(["-h", "127.0.0.1", "-p", port])
        .args(args)
        .kill_on_drop(true)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("mosquitto_sub (apt-get install mosquitto-clients)");
    let out = tokio::time::timeout(wait, child.wait_with_output())
        .await
        .expect("mosquitto_sub did not exit")
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

async fn mosquitto_pub_one(port: &str, ver: &str, user: &str, pass: &str, topic: &str, m: &str) {
    let st = tokio::process::Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", port, "-V", ver, "-q", "1"])
        .args(["-u", user, "-P", pass, "-t", topic, "-m", m])
        .status()
        .await
        .unwrap();
    assert!(st.success(), "mosquitto_pub {m}");
}

/// A persistent session keeps what arrives while its client is away: `mosquitto_sub
/// -c` (3.1.1 clean session 0; v5 with a session expiry) receives, when it comes back,
/// the QoS 1 messages published meanwhile, in order; a clean start discards the kept
/// session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_sessions_keep_messages_while_away() {
    let env = Env::start().await;
    let (publisher, subscriber, ch) = env.pub_sub("away").await;
    let port = env.mqtt.port().to_string();
    for (ver, extra) in [("mqttv311", vec![]), ("mqttv5", vec!["-x", "600"])] {
        let topic = format!("{}/{ver}", env.topic(&ch));
        let id = format!("keeper-{ver}");
        let mut base: Vec<&str> = vec!["-V", ver, "-q", "1", "-c", "-i", &id];
        base.extend(extra.iter().copied());
        base.extend(["-u", &subscriber.0, "-P", &subscriber.1, "-t", &topic]);

        // First visit: subscribe, take one message, disconnect.
        let first = {
            let (port, base) = (
                port.clone(),
                base.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            );
            tokio::spawn(async move {
                let mut a: Vec<&str> = base.iter().map(String::as_str).collect();
                a.extend(["-C", "1", "-W", "10"]);
                mosquitto_sub_lines(&port, &a, Duration::from_secs(15)).await
            })
        };
        let mut n = 0;
        while !first.is_finished() && n < 40 {
            mosquitto_pub_one(&port, ver, &publisher.0, &publisher.1, &topic, "hello").await;
            tokio::time::sleep(Duration::from_millis(250)).await;
            n += 1;
        }
        assert_eq!(first.await.unwrap(), vec!["hello"], "{ver}: first visit");

        // Away: five messages.
        for i in 1..=5 {
            mosquitto_pub_one(
                &port,
                ver,
                &publisher.0,
                &publisher.1,
                &topic,
                &format!("m{i}"),
            )
            .await;
        }
        // Back: they are delivered (after any late "hello"), in order.
        let mut a = base.clone();
        a.extend(["-W", "3"]);
        let got = mosquitto_sub_lines(&port, &a, Duration::from_secs(10)).await;
        let kept: Vec<&str> = got
            .iter()
            .map(String::as_str)
            .filter(|l| *l != "hello")
            .collect();
        assert_eq!(kept, vec!["m1", "m2", "m3", "m4", "m5"], "{ver}: {got:?}");

        // A clean start discards the kept session: what is published after it, while
        // the client is away again, is not kept.
        let mut clean: Vec<&str> = vec!["-V", ver, "-q", "1", "-i", &id];
        clean.extend([
            "-u",
            &subscriber.0,
            "-P",
            &subscriber.1,
            "-t",
            &topic,
            "-W",
            "1",
        ]);
        mosquitto_sub_lines(&port, &clean, Duration::from_secs(10)).await;
        mosquitto_pub_one(&port, ver, &publisher.0, &publisher.1, &topic, "lost").await;
        let mut a = base.clone();
        a.extend(["-W", "2"]);
        let got = mosquitto_sub_lines(&port, &a, Duration::from_secs(10)).await;
        assert!(
            got.is_empty(),
            "{ver}: nothing kept after a clean start: {got:?}"
        );
    }
    env.stop().await;
}

/// A QoS 1 message sent to a persistent session and not acknowledged is sent again,
/// with DUP, when the session resumes (3.1.1, raw bytes), and CONNACK says Session
/// Present; a clean session resumes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unacknowledged_messages_are_resent_on_resume() {
    let env = Env::start().await;
    let (publisher, subscriber, ch) = env.pub_sub("resend").await;
    let topic = env.topic(&ch);
    let addr = env.mqtt;
    let creds = Some((subscriber.0.as_str(), subscriber.1.as_str()));

    let mut s = raw_v3(addr, "resender", creds, false).await;
    s.write_all(&raw_subscribe(false, 1, &topic, 1))
        .await
        .unwrap();
    let (got, _) = read_all(&mut s, Duration::from_millis(400)).await;
    let ps = packets(&got);
    assert_eq!(ps[0], (0x20, vec![0, 0]), "CONNACK, no session yet");
    assert_eq!(ps[1].0, 0x90, "SUBACK");
    let mut p = TcpStream::connect(addr).await.unwrap();
    p.write_all(&raw_connect(
        4,
        "sender",
        Some((publisher.0.as_str(), publisher.1.as_str())),
        60,
        true,
    ))
    .await
    .unwrap();
    p.write_all(&raw_publish(false, &topic, 1, 7, b"unacked"))
        .await
        .unwrap();
    // The subscriber receives it and never acknowledges; then its connection drops.
    let (got, _) = read_all(&mut s, Duration::from_millis(600)).await;
    let ps = packets(&got);
    assert!(
        ps.iter()
            .any(|(f, b)| f & 0xF0 == 0x30 && f & 0x08 == 0 && b.ends_with(b"unacked")),
        "first delivery: {ps:?}"
    );
    drop(s);
    tokio::time::sleep(Duration::from_millis(200)).await;

    let mut s = raw_v3(addr, "resender", creds, false).await;
    let (got, _) = read_all(&mut s, Duration::from_millis(600)).await;
    let ps = packets(&got);
    assert_eq!(ps[0], (0x20, vec![1, 0]), "CONNACK with Session Present");
    let again = ps
        .iter()
        .find(|(f, b)| f & 0xF0 == 0x30 && b.ends_with(b"unacked"))
        .unwrap_or_else(|| panic!("not sent again: {ps:?}"));
    assert_eq!(again.0 & 0x08, 0x08, "DUP set");
    assert_eq!((again.0 >> 1) & 0x03, 1, "QoS 1");
    drop(s);
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Clean session: nothing is resumed.
    let mut s = raw_v3(addr, "resender", creds, true).await;
    let (got, _) = read_all(&mut s, Duration::from_millis(400)).await;
    let ps = packets(&got);
    assert_eq!(
        ps,
        vec![(0x20, vec![0, 0])],
        "clean: no session, nothing resent"
    );
    env.stop().await;
}

/// Kept sessions are bounded per client: past the limit, a further identifier's
/// session ends with its connection (Session Present 0 when it comes back), while the
/// ones kept before still resume.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_sessions_are_bounded_per_client() {
    let env = Env::start_with(MqttConfig {
        max_kept_sessions_per_client: 1,
        ..MqttConfig::default()
    })
    .await;
    let c = env.client("many").await;
    let creds = Some((c.0.as_str(), c.1.as_str()));
    let connack = |id: &'static str, clean: bool| {
        let addr = env.mqtt;
        async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.write_all(&raw_connect(4, id, creds, 60, clean))
                .await
                .unwrap();
            let (got, _) = read_all(&mut s, Duration::from_millis(300)).await;
            drop(s);
            tokio::time::sleep(Duration::from_millis(150)).await;
            packets(&got).first().cloned().unwrap()
        }
    };
    assert_eq!(connack("first", false).await, (0x20, vec![0, 0]));
    assert_eq!(connack("second", false).await, (0x20, vec![0, 0]));
    // "second" was not kept (the client already has one kept session) ...
    assert_eq!(connack("second", false).await, (0x20, vec![0, 0]));
    // ... "first" was, and resumes.
    assert_eq!(connack("first", false).await, (0x20, vec![1, 0]));
    env.stop().await;
}

type V5Client = (
    rumqttc::v5::AsyncClient,
    mpsc::UnboundedReceiver<rumqttc::v5::mqttbytes::v5::Publish>,
    JoinHandle<()>,
);

/// A v5 client on rumqttc that reports every PUBLISH with its properties.
async fn v5_client(addr: SocketAddr, id: &str, creds: &(String, String)) -> V5Client {
    v5_client_with(addr, id, creds, |_| {}).await
}

/// A v5 client that keeps its session (clean start 0, Session Expiry Interval 600 s).
fn kept_session(o: &mut rumqttc::v5::MqttOptions) {
    o.set_clean_start(false);
    let mut cp = rumqttc::v5::mqttbytes::v5::ConnectProperties::new();
    cp.session_expiry_interval = Some(600);
    o.set_connect_properties(cp);
}

/// As [`v5_client`], with its options adjusted by `tweak`; returns once connected.
async fn v5_client_with(
    addr: SocketAddr,
    id: &str,
    creds: &(String, String),
    tweak: impl FnOnce(&mut rumqttc::v5::MqttOptions),
) -> V5Client {
    use rumqttc::v5::{Event, mqttbytes::v5::Packet};
    let mut opts = rumqttc::v5::MqttOptions::new(id, addr.ip().to_string(), addr.port());
    opts.set_credentials(creds.0.clone(), creds.1.clone());
    tweak(&mut opts);
    let (c, mut el) = rumqttc::v5::AsyncClient::new(opts, 100);
    let (tx, rx) = mpsc::unbounded_channel();
    let (ready_tx, ready_rx) = oneshot::channel();
    let mut ready = Some(ready_tx);
    let task = tokio::spawn(async move {
        loop {
            match el.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    if let Some(r) = ready.take() {
                        let _ = r.send(());
                    }
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let _ = tx.send(p);
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
    });
    tokio::time::timeout(WAIT, ready_rx).await.unwrap().unwrap();
    (c, rx, task)
}

async fn next_publish(
    rx: &mut mpsc::UnboundedReceiver<rumqttc::v5::mqttbytes::v5::Publish>,
    within: Duration,
) -> Option<rumqttc::v5::mqttbytes::v5::Publish> {
    tokio::time::timeout(within, rx.recv()).await.ok().flatten()
}

/// The next message on `topic` within `within`, skipping those on other topics.
async fn next_publish_on(
    rx: &mut mpsc::UnboundedReceiver<rumqttc::v5::mqttbytes::v5::Publish>,
    topic: &str,
    within: Duration,
) -> Option<rumqttc::v5::mqttbytes::v5::Publish> {
    let until = tokio::time::Instant::now() + within;
    loop {
        let left = until.saturating_duration_since(tokio::time::Instant::now());
        let m = next_publish(rx, left).await?;
        if m.topic.as_ref() == topic.as_bytes() {
            return Some(m);
        }
    }
}

/// MQTT 5 as the Paho interoperability suite exercises it: publish properties reach
/// the subscriber unaltered (also on retained messages), an expired message is not
/// delivered, Retain As Published keeps the retain flag, each message carries its
/// subscription's identifier, and a shared subscription gives each message to one
/// member of the group.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v5_properties_options_and_shared_subscriptions() {
    use rumqttc::v5::mqttbytes::{
        QoS as Q,
        v5::{Filter, PublishProperties, SubscribeProperties},
    };
    let env = Env::start().await;
    let (publisher, subscriber, ch) = env.pub_sub("props").await;
    let topic = env.topic(&ch);
    let settle = Duration::from_millis(200);

    let (p, _prx, _pt) = v5_client(env.mqtt, "p5", &publisher).await;
    let (s, mut srx, _st) = v5_client(env.mqtt, "s5", &subscriber).await;
    let mut f = Filter::new(format!("{topic}/#"), Q::ExactlyOnce);
    f.preserve_retain = true;
    s.subscribe_many_with_properties(
        [f],
        SubscribeProperties {
            id: Some(42),
            user_properties: Vec::new(),
        },
    )
    .await
    .unwrap();
    tokio::time::sleep(settle).await;

    let props = PublishProperties {
        payload_format_indicator: Some(1),
        content_type: Some("application/json".into()),
        response_topic: Some(format!("{topic}/reply")),
        correlation_data: Some(b"334".to_vec().into()),
        user_properties: vec![("a".into(), "1".into()), ("a".into(), "2".into())],
        message_expiry_interval: Some(60),
        ..PublishProperties::default()
    };
    for (qos, retain) in [
        (Q::AtMostOnce, false),
        (Q::AtLeastOnce, true),
        (Q::ExactlyOnce, false),
    ] {
        p.publish_with_properties(format!("{topic}/x"), qos, retain, "{}", props.clone())
            .await
            .unwrap();
        let m = next_publish(&mut srx, WAIT).await.expect("delivered");
        assert_eq!(m.qos, qos, "at the publish QoS (granted 2)");
        assert_eq!(m.retain, retain, "Retain As Published");
        let got = m.properties.expect("properties");
        assert_eq!(got.user_properties, props.user_properties);
        assert_eq!(got.content_type, props.content_type);
        assert_eq!(got.payload_format_indicator, Some(1));
        assert_eq!(got.response_topic, props.response_topic);
        assert_eq!(got.correlation_data, props.correlation_data);
        assert_eq!(got.subscription_identifiers, vec![42]);
        let left = got.message_expiry_interval.unwrap();
        assert!((58..=60).contains(&left), "{left}");
    }
    // The retained one keeps its properties for a later subscriber.
    let (late, mut lrx, _lt) = v5_client(env.mqtt, "late5", &subscriber).await;
    late.subscribe(format!("{topic}/x"), Q::AtLeastOnce)
        .await
        .unwrap();
    let m = next_publish(&mut lrx, WAIT).await.expect("retained");
    assert!(m.retain);
    assert_eq!(m.properties.unwrap().user_properties, props.user_properties);

    // Message expiry: a kept session away longer than the message lives does not get it.
    let (away, arx, at) = v5_client_with(env.mqtt, "away5", &subscriber, kept_session).await;
    away.subscribe(format!("{topic}/exp"), Q::AtLeastOnce)
        .await
        .unwrap();
    tokio::time::sleep(settle).await;
    away.disconnect().await.unwrap();
    tokio::time::sleep(settle).await;
    at.abort();
    for (payload, expiry) in [("short", 1), ("long", 600)] {
        p.publish_with_properties(
            format!("{topic}/exp"),
            Q::AtLeastOnce,
            false,
            payload,
            PublishProperties {
                message_expiry_interval: Some(expiry),
                ..PublishProperties::default()
            },
        )
        .await
        .unwrap();
    }
    drop(arx);
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let (_back, mut brx, _bt) = v5_client_with(env.mqtt, "away5", &subscriber, kept_session).await;
    let m = next_publish(&mut brx, WAIT)
        .await
        .expect("the long-lived one");
    assert_eq!(m.payload.as_ref(), b"long");
    assert!(
        next_publish(&mut brx, Duration::from_millis(500))
            .await
            .is_none(),
        "not the expired one"
    );

    // Shared subscription: two members, each message to exactly one of them.
    let (m1, mut m1rx, _m1t) = v5_client(env.mqtt, "m1", &subscriber).await;
    let (m2, mut m2rx, _m2t) = v5_client(env.mqtt, "m2", &subscriber).await;
    for m in [&m1, &m2] {
        m.subscribe(format!("$share/workers/{topic}/jobs"), Q::AtLeastOnce)
            .await
            .unwrap();
    }
    tokio::time::sleep(settle).await;
    for i in 0..10 {
        p.publish(
            format!("{topic}/jobs"),
            Q::AtLeastOnce,
            false,
            format!("job{i}"),
        )
        .await
        .unwrap();
    }
    let mut got = Vec::new();
    while let Some(m) = next_publish(&mut m1rx, Duration::from_millis(700)).await {
        assert_eq!(m.topic.as_ref(), format!("{topic}/jobs").as_bytes());
        got.push((1, m.payload));
    }
    while let Some(m) = next_publish(&mut m2rx, Duration::from_millis(300)).await {
        got.push((2, m.payload));
    }
    assert_eq!(got.len(), 10, "each job once: {got:?}");
    assert!(
        got.iter().any(|(w, _)| *w == 1) && got.iter().any(|(w, _)| *w == 2),
        "both members work: {got:?}"
    );
    // A shared subscription is authorized like any other: a client connected to the
    // channel only to publish is refused, and so is a malformed group name.
    let mut outsider = Mqtt::open(env.mqtt, Opts::new(true, "o5", &publisher)).await;
    assert_eq!(
        outsider
            .subscribe(&format!("$share/workers/{topic}/jobs"), 1)
            .await,
        vec![0x87]
    );
    let mut member = Mqtt::open(env.mqtt, Opts::new(true, "m3", &subscriber)).await;
    for bad in ["$share//", "$share/a b/", "$share/x"] {
        assert_eq!(
            member.subscribe(&format!("{bad}{topic}/jobs"), 1).await,
            vec![0x87],
            "{bad}"
        );
    }
    env.stop().await;
}

/// A v5 CONNECT with a Session Expiry Interval property.
fn raw_connect_v5_expiry(
    client_id: &str,
    creds: (&str, &str),
    clean: bool,
    expiry: u32,
) -> Vec<u8> {
    let mut vh = vec![0, 4, b'M', b'Q', b'T', b'T', 5];
    vh.push(0xC0 | if clean { 0x02 } else { 0 });
    vh.extend(30u16.to_be_bytes());
    vh.push(5);
    vh.push(0x11);
    vh.extend(expiry.to_be_bytes());
    mqtt_str(&mut vh, client_id.as_bytes());
    mqtt_str(&mut vh, creds.0.as_bytes());
    mqtt_str(&mut vh, creds.1.as_bytes());
    switchyard_testkit::raw::packet(0x10, vh)
}

/// A v5 DISCONNECT (reason 0) carrying a new Session Expiry Interval.
fn raw_disconnect_v5_expiry(expiry: u32) -> Vec<u8> {
    let mut body = vec![0x00, 5, 0x11];
    body.extend(expiry.to_be_bytes());
    switchyard_testkit::raw::packet(0xE0, body)
}

/// Connects raw and returns the stream and CONNACK's Session Present flag.
async fn raw_v5_session(
    env: &Env,
    id: &str,
    creds: &(String, String),
    clean: bool,
    expiry: u32,
) -> (TcpStream, bool) {
    let mut s = TcpStream::connect(env.mqtt).await.unwrap();
    s.write_all(&raw_connect_v5_expiry(
        id,
        (&creds.0, &creds.1),
        clean,
        expiry,
    ))
    .await
    .unwrap();
    let mut head = [0u8; 4];
    tokio::time::timeout(WAIT, s.read_exact(&mut head))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(head[0], 0x20, "CONNACK");
    assert_eq!(head[3], 0, "accepted");
    // The rest of the CONNACK (its properties).
    let _ = read_all(&mut s, Duration::from_millis(100)).await;
    (s, head[2] & 1 == 1)
}

/// v5 DISCONNECT may change the Session Expiry Interval (MQTT 5 §3.14.2.2.2): raised
/// from 1 s to 5 s the session is still there after 2 s; set to 0 it ends at once;
/// raised from 0 it is a protocol error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v5_disconnect_changes_session_expiry() {
    let env = Env::start().await;
    let sub = env.client("sub").await;
    let ch = env.channel("exp").await;
    env.connect(&ch, &sub.0, &["subscribe"]).await;
    let (mut s, present) = raw_v5_session(&env, "e1", &sub, true, 1).await;
    assert!(!present);
    s.write_all(&raw_disconnect_v5_expiry(5)).await.unwrap();
    drop(s);
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let (mut s, present) = raw_v5_session(&env, "e1", &sub, false, 1).await;
    assert!(present, "kept for the 5 s the DISCONNECT asked, not 1 s");
    s.write_all(&raw_disconnect_v5_expiry(0)).await.unwrap();
    drop(s);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (s, present) = raw_v5_session(&env, "e1", &sub, false, 0).await;
    assert!(!present, "0 ended it");
    // The connection above asked for no session: a DISCONNECT raising it is refused.
    let mut s = s;
    s.write_all(&raw_disconnect_v5_expiry(60)).await.unwrap();
    let (bytes, closed) = read_all(&mut s, WAIT).await;
    assert!(closed);
    let p = packets(&bytes);
    assert_eq!(
        p.first().map(|(f, b)| (*f, b[0])),
        Some((0xE0, 0x82)),
        "{p:?}"
    );
    env.stop().await;
}

/// Connects a v5 client with a kept session and a will delayed by `delay` seconds.
async fn v5_with_delayed_will(
    addr: SocketAddr,
    id: &str,
    creds: &(String, String),
    will_topic: &str,
    delay: u32,
) -> V5Client {
    use rumqttc::v5::mqttbytes::{
        QoS as Q,
        v5::{LastWill, LastWillProperties},
    };
    let props = LastWillProperties {
        delay_interval: Some(delay),
        payload_format_indicator: None,
        message_expiry_interval: None,
        content_type: None,
        response_topic: None,
        correlation_data: None,
        user_properties: vec![("why".into(), "gone".into())],
    };
    let will = LastWill::new(will_topic, "gone", Q::AtLeastOnce, false, Some(props));
    v5_client_with(addr, id, creds, |o| {
        kept_session(o);
        o.set_last_will(will);
    })
    .await
}

/// Subscribes the watcher to `topic` (QoS 1) and gives the subscription time to land.
async fn watch_topic(w: &rumqttc::v5::AsyncClient, topic: &str) {
    w.subscribe(topic, rumqttc::v5::mqttbytes::QoS::AtLeastOnce)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
}

/// The will of `v5_with_delayed_will` ("gone") arrives on `topic` within 3 s.
async fn will_arrives(
    rx: &mut mpsc::UnboundedReceiver<rumqttc::v5::mqttbytes::v5::Publish>,
    topic: &str,
    why: &str,
) {
    let m = next_publish_on(rx, topic, Duration::from_secs(3))
        .await
        .expect(why);
    assert_eq!(m.payload.as_ref(), b"gone");
}

/// v5 Will Delay Interval: the will of a kept session goes out after the delay, with its
/// properties, not at all when the client comes back in time, and at once when it comes
/// back with a clean start (which ends the session).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v5_will_delay() {
    let env = Env::start().await;
    let (dev, watcher) = (env.client("dev").await, env.client("watch").await);
    let ch = env.channel("wills").await;
    env.connect(&ch, &dev.0, &["publish"]).await;
    env.connect(&ch, &watcher.0, &["subscribe"]).await;
    let will_topic = format!("{}/status", env.topic(&ch));
    let (w, mut wrx, _wt) = v5_client(env.mqtt, "watcher", &watcher).await;
    watch_topic(&w, &will_topic).await;

    let (_c1, _, conn) = v5_with_delayed_will(env.mqtt, "dev1", &dev, &will_topic, 2).await;
    conn.abort();
    assert!(
        next_publish(&mut wrx, Duration::from_millis(1200))
            .await
            .is_none(),
        "held back for the delay"
    );
    let m = next_publish(&mut wrx, Duration::from_secs(3))
        .await
        .expect("the will after the delay");
    assert_eq!(m.payload.as_ref(), b"gone");
    assert_eq!(
        m.properties.unwrap().user_properties,
        vec![("why".to_string(), "gone".to_string())]
    );

    // Back within the delay: no will.
    let (_c2, _, conn) = v5_with_delayed_will(env.mqtt, "dev2", &dev, &will_topic, 2).await;
    conn.abort();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_c3, _, back) = v5_with_delayed_will(env.mqtt, "dev2", &dev, &will_topic, 2).await;
    assert!(
        next_publish(&mut wrx, Duration::from_secs(3))
            .await
            .is_none(),
        "a new connection to the session cancels the will"
    );

    // Taken over while connected: the new connection is the one the delayed will was
    // waiting for, so it is not sent — neither at once nor later.
    let (_c4, _, first) = v5_with_delayed_will(env.mqtt, "dev3", &dev, &will_topic, 2).await;
    let (_c5, _, second) = v5_with_delayed_will(env.mqtt, "dev3", &dev, &will_topic, 2).await;
    let late = next_publish(&mut wrx, Duration::from_secs(4)).await;
    assert!(
        late.is_none(),
        "no will while the session is connected: {late:?}"
    );
    first.abort();
    second.abort();
    back.abort();

    // A clean start ends the kept session: its will goes out then, before its delay.
    // (On a topic of its own: the wills above are still on their way.)
    let ended_topic = format!("{}/ended", env.topic(&ch));
    watch_topic(&w, &ended_topic).await;
    let (_c6, _, gone) = v5_with_delayed_will(env.mqtt, "dev4", &dev, &ended_topic, 60).await;
    gone.abort();
    assert!(
        next_publish_on(&mut wrx, &ended_topic, Duration::from_millis(1500))
            .await
            .is_none(),
        "held back for the delay"
    );
    let (_c7, _, clean) = v5_client(env.mqtt, "dev4", &dev).await;
    will_arrives(&mut wrx, &ended_topic, "a clean start ended the session").await;
    clean.abort();

    // Taken over while connected by a clean start: that too ends the session, and the
    // will goes out at once rather than being cancelled.
    let (_c8, _, live) = v5_with_delayed_will(env.mqtt, "dev5", &dev, &ended_topic, 60).await;
    let (_c9, _, clean) = v5_client(env.mqtt, "dev5", &dev).await;
    will_arrives(&mut wrx, &ended_topic, "a clean take-over ended it").await;
    live.abort();
    clean.abort();
    env.stop().await;
}

/// The PUBLISH payloads in `ps`, and whether each had DUP set.
fn publishes(ps: &[(u8, Vec<u8>)], topic: &str) -> Vec<(String, bool)> {
    ps.iter()
        .filter(|(f, _)| f & 0xF0 == 0x30)
        .map(|(f, b)| {
            // Topic, then a packet id (QoS > 0), then the payload.
            let skip = 2 + topic.len() + if f & 0x06 != 0 { 2 } else { 0 };
            (
                String::from_utf8_lossy(&b[skip..]).into_owned(),
                f & 0x08 != 0,
            )
        })
        .collect()
}

/// Reads from `s` until `want` publishes came (or `d` passed).
async fn read_publishes(
    s: &mut TcpStream,
    topic: &str,
    want: usize,
    d: Duration,
) -> Vec<(u8, Vec<u8>)> {
    let deadline = tokio::time::Instant::now() + d;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while publishes(&packets(&got), topic).len() < want {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => got.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    packets(&got)
}

/// Two nodes on one PostgreSQL and one NATS: a persistent session kept on node A while
/// its client is away resumes on node B with what was published meanwhile; a live
/// session on B is taken over by a connection to A (B's closes, A resumes it with
/// the unacknowledged messages sent again); a clean start on B ends the one on A; a
/// session whose holder does not answer is taken as stored after the claim wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_sessions_move_between_nodes() {
    let Some((a, b)) = switchyard_testkit::two_nodes().await else {
        return;
    };
    let mqtt_a = a.running.as_ref().unwrap().mqtt_addr.unwrap();
    let mqtt_b = b.running.mqtt_addr.unwrap();
    let token = a.admin().await;
    let d = a.domain(&token, "roam").await;
    let secret = |v: &Value| {
        (
            v["id"].as_str().unwrap().to_string(),
            v["credentials"]["secret"].as_str().unwrap().to_string(),
        )
    };
    let publisher = secret(&a.client(&token, &d, "pub").await);
    let subscriber = secret(&a.client(&token, &d, "sub").await);
    let ch = a.channel(&token, &d, "roam").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    for (c, t) in [(&publisher.0, "publish"), (&subscriber.0, "subscribe")] {
        let r = a
            .post(
                &format!("/{d}/channels/connect"),
                &token,
                json!({"channel_ids": [ch], "client_ids": [c], "types": [t]}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let topic = format!("m/{d}/c/{ch}");
    let creds = Some((subscriber.0.as_str(), subscriber.1.as_str()));
    let publish = |m: String| {
        let (http, url, auth) = (
            a.http.clone(),
            format!("{}/{topic}", a.url),
            format!("Client {}", publisher.1),
        );
        async move {
            let r = http
                .post(url)
                .header("Authorization", auth)
                .header("Content-Type", "text/plain")
                .body(m)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 202);
        }
    };

    // On A: subscribe with a kept session, leave.
    let mut s = raw_v3(mqtt_a, "roamer", creds, false).await;
    s.write_all(&raw_subscribe(false, 1, &topic, 1))
        .await
        .unwrap();
    let (got, _) = read_all(&mut s, Duration::from_millis(500)).await;
    let ps = packets(&got);
    assert_eq!(ps[0], (0x20, vec![0, 0]), "CONNACK, no session yet");
    assert_eq!(ps[1], (0x90, vec![0, 1, 1]), "SUBACK");
    drop(s);
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Away: 20 messages, kept on A.
    let want: Vec<String> = (1..=20).map(|i| format!("m{i}")).collect();
    for m in &want {
        publish(m.clone()).await;
    }

    // Back, on B: the session and the 20 messages, in order.
    let mut on_b = raw_v3(mqtt_b, "roamer", creds, false).await;
    let ps = read_publishes(&mut on_b, &topic, 20, WAIT).await;
    assert_eq!(
        ps[0],
        (0x20, vec![1, 0]),
        "CONNACK with Session Present on B"
    );
    let got: Vec<String> = publishes(&ps, &topic).into_iter().map(|(m, _)| m).collect();
    assert_eq!(got, want, "what A kept, delivered by B");
    // Subscribed on B: a new message arrives there.
    publish("live".into()).await;
    let ps = read_publishes(&mut on_b, &topic, 1, WAIT).await;
    assert_eq!(publishes(&ps, &topic), vec![("live".to_string(), false)]);

    // Nothing was acknowledged. A connection to A takes the live session over: B's
    // connection closes, A resumes it and sends the 21 messages again, with DUP.
    let mut on_a = raw_v3(mqtt_a, "roamer", creds, false).await;
    let ps = read_publishes(&mut on_a, &topic, 21, WAIT).await;
    assert_eq!(
        ps[0],
        (0x20, vec![1, 0]),
        "CONNACK with Session Present on A"
    );
    let again = publishes(&ps, &topic);
    assert_eq!(again.len(), 21, "{again:?}");
    assert!(
        again.iter().all(|(_, dup)| *dup),
        "sent again with DUP: {again:?}"
    );
    let (_, closed) = read_all(&mut on_b, WAIT).await;
    assert!(closed, "B's connection was taken over");

    // A clean start on B ends the session on A, and nothing of it is kept.
    let mut clean = raw_v3(mqtt_b, "roamer", creds, true).await;
    let (got, _) = read_all(&mut clean, Duration::from_millis(300)).await;
    assert_eq!(packets(&got), vec![(0x20, vec![0, 0])]);
    let (_, closed) = read_all(&mut on_a, WAIT).await;
    assert!(closed, "A's connection ended by the clean start on B");
    drop(clean);
    tokio::time::sleep(Duration::from_millis(300)).await;
    publish("lost".into()).await;
    let mut s = raw_v3(mqtt_a, "roamer", creds, false).await;
    let (got, _) = read_all(&mut s, Duration::from_millis(500)).await;
    assert_eq!(packets(&got), vec![(0x20, vec![0, 0])], "no session left");
    drop(s);

    // A session whose holder stopped without a word (its row names a node that does
    // not answer claims) is taken as stored once the claim wait has passed.
    let core = a.core();
    let orphan = switchyard_domain::StoredMqttSession {
        client_id: subscriber.0.parse().unwrap(),
        mqtt_id: "orphan".into(),
        expires_at: core.now() + time::Duration::hours(1),
        state: switchyard_domain::MqttSessionState {
            subscriptions: vec![switchyard_domain::StoredSubscription {
                filter: topic.clone(),
                qos: 1,
                no_local: false,
                rap: false,
                ident: None,
            }],
            messages: vec![switchyard_domain::StoredMessage {
                topic: topic.clone(),
                payload: b"kept".to_vec(),
                qos: 1,
                retain: false,
                props: Default::default(),
                sent: false,
            }],
        },
        epoch: 0,
    };
    // And one a clean start discards: its row goes, though nobody answers the claim.
    let discarded = switchyard_domain::StoredMqttSession {
        mqtt_id: "discarded".into(),
        ..orphan.clone()
    };
    core.save_mqtt_sessions(Some(uuid::Uuid::new_v4()), &[orphan, discarded])
        .await
        .unwrap();
    let mut s = raw_v3(mqtt_b, "orphan", creds, false).await;
    let ps = read_publishes(&mut s, &topic, 1, Duration::from_secs(10)).await;
    assert_eq!(ps[0], (0x20, vec![1, 0]), "CONNACK with Session Present");
    assert_eq!(publishes(&ps, &topic), vec![("kept".to_string(), false)]);
    publish("fresh".into()).await;
    let ps = read_publishes(&mut s, &topic, 1, WAIT).await;
    assert_eq!(publishes(&ps, &topic), vec![("fresh".to_string(), false)]);
    drop(s);
    let mut clean = raw_v3(mqtt_b, "discarded", creds, true).await;
    let (got, _) = read_all(&mut clean, Duration::from_millis(300)).await;
    assert_eq!(
        packets(&got),
        vec![(0x20, vec![0, 0])],
        "no session present"
    );
    drop(clean);
    let row = core
        .mqtt_session(subscriber.0.parse().unwrap(), "discarded")
        .await
        .unwrap();
    assert!(
        row.is_none(),
        "the discarded session's row is gone: {row:?}"
    );
    b.running.shutdown().await;
    a.stop().await;
}
