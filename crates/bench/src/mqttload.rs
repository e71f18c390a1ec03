//! MQTT load: rumqttc publishers and subscribers for the publish→subscribe scenarios,
//! driven the same way against any broker, and a raw MQTT 3.1.1 client for the idle
//! connections (a TCP stream and a CONNECT, no event loop per connection).
//!
//! Flow control is end to end: a publisher sends while fewer than its share of
//! [`WINDOW`] messages are still on their way to its slowest subscriber, so no queue in
//! the broker overflows (Switchyard drops QoS 0 and disconnects QoS 1 subscribers when
//! a session's queue of 1024 fills; Mosquitto queues 1000 by default).

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use rumqttc::{
    AsyncClient, ConnectReturnCode, Event, EventLoop, MqttOptions, NetworkOptions, Packet, QoS,
    SubscribeReasonCode,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpSocket, TcpStream},
    sync::{Notify, Semaphore, oneshot, watch},
    task::JoinSet,
};

/// Bytes in every message: send time, publisher, sequence number, then filler.
pub const PAYLOAD_LEN: usize = 64;
/// Messages in flight per pattern (published and not yet delivered to every
/// subscriber), split evenly among the publishers.
pub const WINDOW: usize = 512;
/// Capacity of each rumqttc client's request channel (`AsyncClient::new(_, cap)`).
pub const REQUEST_CAP: usize = 1024;
/// rumqttc's QoS 1 in-flight limit (`MqttOptions::set_inflight`) for the publishers:
/// above the window, so it never is the limit.
pub const RUMQTTC_INFLIGHT: u16 = 1024;
/// Keep-alive of the load generator's clients.
pub const KEEP_ALIVE: Duration = Duration::from_secs(30);
/// A publisher that sees no delivery for this long counts what it has in flight as lost
/// and goes on.
const STALL: Duration = Duration::from_secs(1);
/// Time allowed for a connection and subscription to be acknowledged.
const READY: Duration = Duration::from_secs(10);
/// Time allowed after the window for the messages in flight to arrive.
const DRAIN: Duration = Duration::from_secs(1);

/// The message: send time (µs since the run's origin), publisher index and sequence
/// number, little-endian, then `.` up to [`PAYLOAD_LEN`] bytes.
pub fn encode_payload(sent_us: u64, publisher: u32, seq: u64) -> Vec<u8> {
    let mut p = Vec::with_capacity(PAYLOAD_LEN);
    p.extend_from_slice(&sent_us.to_le_bytes());
    p.extend_from_slice(&publisher.to_le_bytes());
    p.extend_from_slice(&seq.to_le_bytes());
    p.resize(PAYLOAD_LEN, b'.');
    p
}

/// (send time µs, publisher, sequence) of a message made by [`encode_payload`].
pub fn decode_payload(b: &[u8]) -> Option<(u64, u32, u64)> {
    if b.len() < 20 {
        return None;
    }
    let t = u64::from_le_bytes(b[0..8].try_into().ok()?);
    let p = u32::from_le_bytes(b[8..12].try_into().ok()?);
    let s = u64::from_le_bytes(b[12..20].try_into().ok()?);
    Some((t, p, s))
}

/// How one connection logs in: its MQTT client identifier and, for brokers that check
/// them, a username and password.
#[derive(Debug, Clone)]
pub struct Login {
    pub client_id: String,
    pub credentials: Option<(String, String)>,
}

/// Publishers → subscribers, all on one topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pattern {
    pub publishers: usize,
    pub subscribers: usize,
}

impl Pattern {
    /// `1->1`, `4->1`, `1->4`.
    pub fn label(&self) -> String {
        format!("{}->{}", self.publishers, self.subscribers)
    }
}

/// The three patterns measured: 1→1, 4 publishers → 1 subscriber, 1 → 4.
pub const PATTERNS: [Pattern; 3] = [
    Pattern {
        publishers: 1,
        subscribers: 1,
    },
    Pattern {
        publishers: 4,
        subscribers: 1,
    },
    Pattern {
        publishers: 1,
        subscribers: 4,
    },
];

#[derive(Debug, Clone)]
pub struct FlowSpec {
    pub addr: SocketAddr,
    pub topic: String,
    pub qos: QoS,
    pub warmup: Duration,
    pub duration: Duration,
    /// Upper bound on messages published in the whole run, all publishers together.
    pub max_messages: u64,
    /// Messages in flight (see [`WINDOW`]), split evenly among the publishers.
    pub window: usize,
}

#[derive(Debug, Clone, Default)]
pub struct FlowResult {
    /// Deliveries (one per subscriber per message) received in the measured window.
    pub delivered: u64,
    /// From the start of the window to the last delivery in it.
    pub elapsed: Duration,
    /// Send-to-delivery latency of each delivery in the window, µs, sorted.
    pub latencies_us: Vec<u64>,
    /// Messages published over the whole run (warm-up included).
    pub sent: u64,
    /// Deliveries expected over the whole run: `sent` × subscribers.
    pub expected: u64,
    /// Deliveries received over the whole run, drain included.
    pub received: u64,
    /// Times a publisher saw nothing delivered for a second and wrote its window off.
    pub stalls: u64,
    pub first_error: Option<String>,
}

impl FlowResult {
    pub fn rate(&self) -> f64 {
        let s = self.elapsed.as_secs_f64();
        if s > 0.0 {
            self.delivered as f64 / s
        } else {
            0.0
        }
    }
    pub fn p99_ms(&self) -> f64 {
        crate::load::percentile(&self.latencies_us, 99.0) as f64 / 1000.0
    }
}

/// Deliveries of one publisher's messages, per subscriber; rung on each.
struct PubCounters {
    delivered: Vec<AtomicU64>,
    bell: Notify,
}

/// The measured window, µs since the run's origin (unset: u64::MAX).
struct Window {
    start: AtomicU64,
    end: AtomicU64,
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

fn options(host: &SocketAddr, login: &Login, publisher: bool) -> MqttOptions {
    let mut o = MqttOptions::new(login.client_id.clone(), host.ip().to_string(), host.port());
    o.set_keep_alive(KEEP_ALIVE);
    o.set_clean_session(true);
    o.set_max_packet_size(64 * 1024, 64 * 1024);
    if publisher {
        o.set_inflight(RUMQTTC_INFLIGHT);
    }
    if let Some((u, p)) = &login.credentials {
        o.set_credentials(u.clone(), p.clone());
    }
    o
}

fn client(host: &SocketAddr, login: &Login, publisher: bool) -> (AsyncClient, EventLoop) {
    let (c, mut el) = AsyncClient::new(options(host, login, publisher), REQUEST_CAP);
    let mut n = NetworkOptions::new();
    n.set_tcp_nodelay(true);
    el.set_network_options(n);
    (c, el)
}

#[derive(Default)]
struct SubOut {
    in_window: u64,
    last_in_window_us: u64,
    received: u64,
    lat: Vec<u64>,
    error: Option<String>,
}

#[allow(clippy::too_many_arguments)]
async fn subscriber(
    me: usize,
    mut el: EventLoop,
    mut ready: Option<oneshot::Sender<Result<(), String>>>,
    counters: Arc<Vec<PubCounters>>,
    origin: Instant,
    window: Arc<Window>,
    closing: Arc<AtomicBool>,
    mut stop: watch::Receiver<bool>,
) -> SubOut {
    let mut out = SubOut {
        lat: Vec::with_capacity(1 << 16),
        ..SubOut::default()
    };
    loop {
        tokio::select! {
            biased;
            _ = stop.changed() => break,
            ev = el.poll() => match ev {
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let now = micros(origin.elapsed());
                    let Some((sent, publisher, _)) = decode_payload(&p.payload) else {
                        continue;
                    };
                    out.received += 1;
                    if let Some(c) = counters.get(publisher as usize) {
                        if let Some(d) = c.delivered.get(me) {
                            d.fetch_add(1, Ordering::Relaxed);
                        }
                        c.bell.notify_one();
                    }
                    if now >= window.start.load(Ordering::Relaxed)
                        && now < window.end.load(Ordering::Relaxed)
                    {
                        out.in_window += 1;
                        out.last_in_window_us = now;
                        out.lat.push(now.saturating_sub(sent));
                    }
                }
                Ok(Event::Incoming(Packet::SubAck(a))) => {
                    let ok = a
                        .return_codes
                        .iter()
                        .all(|c| matches!(c, SubscribeReasonCode::Success(_)));
                    if let Some(r) = ready.take() {
                        let _ = r.send(if ok {
                            Ok(())
                        } else {
                            Err(format!("SUBACK refused: {:?}", a.return_codes))
                        });
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    // After our DISCONNECT the broker closes: not an error.
                    if !closing.load(Ordering::Relaxed) {
                        let e = format!("subscriber {me}: {e}");
                        if let Some(r) = ready.take() {
                            let _ = r.send(Err(e.clone()));
                        }
                        out.error = Some(e);
                    }
                    break;
                }
            }
        }
    }
    out
}

/// Polls a publisher's event loop (CONNACK, PUBACKs) until told to stop.
async fn drive(
    who: usize,
    mut el: EventLoop,
    mut ready: Option<oneshot::Sender<Result<(), String>>>,
    closing: Arc<AtomicBool>,
    mut stop: watch::Receiver<bool>,
) -> Option<String> {
    loop {
        tokio::select! {
            biased;
            _ = stop.changed() => return None,
            ev = el.poll() => match ev {
                Ok(Event::Incoming(Packet::ConnAck(c))) => {
                    if let Some(r) = ready.take() {
                        let _ = r.send(if c.code == ConnectReturnCode::Success {
                            Ok(())
                        } else {
                            Err(format!("CONNACK {:?}", c.code))
                        });
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    if closing.load(Ordering::Relaxed) {
                        return None;
                    }
                    let e = format!("publisher {who}: {e}");
                    if let Some(r) = ready.take() {
                        let _ = r.send(Err(e.clone()));
                    }
                    return Some(e);
                }
            }
        }
    }
}

struct PubOut {
    sent: u64,
    stalls: u64,
    error: Option<String>,
}

#[allow(clippy::too_many_arguments)]
async fn publish_loop(
    me: usize,
    client: AsyncClient,
    topic: String,
    qos: QoS,
    counters: Arc<Vec<PubCounters>>,
    window: u64,
    max: u64,
    origin: Instant,
    end: Instant,
) -> PubOut {
    let c = &counters[me];
    let mut out = PubOut {
        sent: 0,
        stalls: 0,
        error: None,
    };
    // Messages written off as lost after a stall.
    let mut forgiven = 0u64;
    'run: while out.sent < max {
        loop {
            let slowest = c
                .delivered
                .iter()
                .map(|d| d.load(Ordering::Relaxed))
                .min()
                .unwrap_or(0);
            let in_flight = out.sent.saturating_sub(slowest + forgiven);
            if in_flight < window {
                break;
            }
            let now = Instant::now();
            if now >= end {
                break 'run;
            }
            let wait = STALL.min(end - now);
            if tokio::time::timeout(wait, c.bell.notified()).await.is_err() && Instant::now() < end
            {
                forgiven += in_flight;
                out.stalls += 1;
            }
        }
        if Instant::now() >= end {
            break;
        }
        let payload = encode_payload(
            micros(origin.elapsed()),
            u32::try_from(me).unwrap_or(u32::MAX),
            out.sent,
        );
        if let Err(e) = client.publish(topic.clone(), qos, false, payload).await {
            out.error = Some(format!("publisher {me}: {e}"));
            break;
        }
        out.sent += 1;
    }
    out
}

async fn await_ready(rx: oneshot::Receiver<Result<(), String>>, what: &str) -> Result<(), String> {
    match tokio::time::timeout(READY, rx).await {
        Ok(Ok(Ok(()))) => Ok(()),
        Ok(Ok(Err(e))) => Err(format!("{what}: {e}")),
        Ok(Err(_)) => Err(format!("{what}: its task ended")),
        Err(_) => Err(format!("{what}: not ready after {READY:?}")),
    }
}

/// One measured run: subscribers connect and subscribe, publishers connect, then the
/// publishers send back to back (within the window) through the warm-up and the
/// measured window; deliveries are counted at the subscribers.
pub async fn run_flow(
    spec: &FlowSpec,
    pubs: &[Login],
    subs: &[Login],
) -> Result<FlowResult, String> {
    if pubs.is_empty() || subs.is_empty() {
        return Err("no publishers or no subscribers".into());
    }
    let origin = Instant::now();
    let counters: Arc<Vec<PubCounters>> = Arc::new(
        (0..pubs.len())
            .map(|_| PubCounters {
                delivered: (0..subs.len()).map(|_| AtomicU64::new(0)).collect(),
                bell: Notify::new(),
            })
            .collect(),
    );
    let window = Arc::new(Window {
        start: AtomicU64::new(u64::MAX),
        end: AtomicU64::new(u64::MAX),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let closing = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();

    let mut sub_tasks = Vec::new();
    let mut readies = Vec::new();
    for (i, l) in subs.iter().enumerate() {
        let (c, el) = client(&spec.addr, l, false);
        c.subscribe(spec.topic.clone(), spec.qos)
            .await
            .map_err(|e| format!("subscriber {i}: {e}"))?;
        let (tx, rx) = oneshot::channel();
        readies.push(rx);
        sub_tasks.push(tokio::spawn(subscriber(
            i,
            el,
            Some(tx),
            counters.clone(),
            origin,
            window.clone(),
            closing.clone(),
            stop_rx.clone(),
        )));
        clients.push(c);
    }
    let mut pub_clients = Vec::new();
    let mut drivers = Vec::new();
    for (i, l) in pubs.iter().enumerate() {
        let (c, el) = client(&spec.addr, l, true);
        let (tx, rx) = oneshot::channel();
        readies.push(rx);
        drivers.push(tokio::spawn(drive(
            i,
            el,
            Some(tx),
            closing.clone(),
            stop_rx.clone(),
        )));
        pub_clients.push(c);
    }
    let mut ready = Ok(());
    for (n, rx) in readies.into_iter().enumerate() {
        let what = if n < subs.len() {
            format!("subscriber {n}")
        } else {
            format!("publisher {}", n - subs.len())
        };
        if let Err(e) = await_ready(rx, &what).await {
            ready = Err(e);
            break;
        }
    }
    if let Err(e) = ready {
        let _ = stop_tx.send(true);
        for t in sub_tasks {
            let _ = t.await;
        }
        for t in drivers {
            let _ = t.await;
        }
        return Err(e);
    }

    let start = Instant::now() + spec.warmup;
    let end = start + spec.duration;
    window
        .start
        .store(micros(start - origin), Ordering::Relaxed);
    window.end.store(micros(end - origin), Ordering::Relaxed);
    let share = (spec.window / pubs.len()).max(1) as u64;
    let per_pub_max = (spec.max_messages / pubs.len() as u64).max(1);
    let mut pub_tasks = Vec::new();
    for (i, c) in pub_clients.iter().enumerate() {
        pub_tasks.push(tokio::spawn(publish_loop(
            i,
            c.clone(),
            spec.topic.clone(),
            spec.qos,
            counters.clone(),
            share,
            per_pub_max,
            origin,
            end,
        )));
    }
    let mut res = FlowResult::default();
    for t in pub_tasks {
        match t.await {
            Ok(o) => {
                res.sent += o.sent;
                res.stalls += o.stalls;
                if res.first_error.is_none() {
                    res.first_error = o.error;
                }
            }
            Err(e) => {
                res.first_error
                    .get_or_insert(format!("publisher failed: {e}"));
            }
        }
    }
    res.expected = res.sent * subs.len() as u64;
    // Let what is in flight arrive, for the loss count.
    let drain_until = Instant::now() + DRAIN;
    while Instant::now() < drain_until {
        let got: u64 = counters
            .iter()
            .flat_map(|c| c.delivered.iter())
            .map(|d| d.load(Ordering::Relaxed))
            .sum();
        if got >= res.expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    closing.store(true, Ordering::Relaxed);
    for c in clients.iter().chain(pub_clients.iter()) {
        let _ = c.try_disconnect();
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    let _ = stop_tx.send(true);
    let mut last = 0u64;
    for t in sub_tasks {
        match t.await {
            Ok(o) => {
                res.delivered += o.in_window;
                res.received += o.received;
                last = last.max(o.last_in_window_us);
                res.latencies_us.extend(o.lat);
                if res.first_error.is_none() {
                    res.first_error = o.error;
                }
            }
            Err(e) => {
                res.first_error
                    .get_or_insert(format!("subscriber failed: {e}"));
            }
        }
    }
    for t in drivers {
        if let Ok(Some(e)) = t.await {
            res.first_error.get_or_insert(e);
        }
    }
    let start_us = micros(start - origin);
    res.elapsed = Duration::from_micros(last.saturating_sub(start_us));
    res.latencies_us.sort_unstable();
    Ok(res)
}

fn put_str(buf: &mut Vec<u8>, s: &[u8]) {
    let n = u16::try_from(s.len()).unwrap_or(u16::MAX);
    buf.extend_from_slice(&n.to_be_bytes());
    buf.extend_from_slice(&s[..usize::from(n)]);
}

/// An MQTT remaining-length varint.
pub fn remaining_length(mut n: usize, out: &mut Vec<u8>) {
    loop {
        let mut b = (n % 128) as u8;
        n /= 128;
        if n > 0 {
            b |= 0x80;
        }
        out.push(b);
        if n == 0 {
            break;
        }
    }
}

/// An MQTT 3.1.1 CONNECT with clean session, the given keep-alive and, if given,
/// username and password.
pub fn connect_packet(client_id: &str, login: Option<(&str, &str)>, keep_alive: u16) -> Vec<u8> {
    let mut flags = 0x02u8; // clean session
    if login.is_some() {
        flags |= 0x80 | 0x40;
    }
    let mut body = Vec::with_capacity(64 + client_id.len());
    put_str(&mut body, b"MQTT");
    body.push(4); // protocol level 3.1.1
    body.push(flags);
    body.extend_from_slice(&keep_alive.to_be_bytes());
    put_str(&mut body, client_id.as_bytes());
    if let Some((u, p)) = login {
        put_str(&mut body, u.as_bytes());
        put_str(&mut body, p.as_bytes());
    }
    let mut pkt = vec![0x10];
    remaining_length(body.len(), &mut pkt);
    pkt.extend_from_slice(&body);
    pkt
}

/// Opens a TCP connection (from `local`, when given), sends CONNECT and checks for
/// CONNACK 0.
pub async fn open_idle(
    addr: SocketAddr,
    login: &Login,
    keep_alive: u16,
    local: Option<IpAddr>,
) -> Result<TcpStream, String> {
    let limit = Duration::from_secs(10);
    let sock = if addr.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .map_err(|e| format!("socket: {e}"))?;
    if let Some(ip) = local {
        sock.bind(SocketAddr::new(ip, 0))
            .map_err(|e| format!("bind {ip}: {e}"))?;
    }
    let mut s = tokio::time::timeout(limit, sock.connect(addr))
        .await
        .map_err(|_| "connect timed out".to_string())?
        .map_err(|e| format!("connect: {e}"))?;
    let _ = s.set_nodelay(true);
    let creds = login
        .credentials
        .as_ref()
        .map(|(u, p)| (u.as_str(), p.as_str()));
    let pkt = connect_packet(&login.client_id, creds, keep_alive);
    let mut ack = [0u8; 4];
    tokio::time::timeout(limit, async {
        s.write_all(&pkt).await?;
        s.read_exact(&mut ack).await
    })
    .await
    .map_err(|_| "no CONNACK in time".to_string())?
    .map_err(|e| format!("CONNECT/CONNACK: {e}"))?;
    if ack[0] != 0x20 || ack[1] != 0x02 {
        return Err(format!("not a CONNACK: {ack:02x?}"));
    }
    if ack[3] != 0 {
        return Err(format!("CONNACK return code {}", ack[3]));
    }
    Ok(s)
}

/// Loopback source addresses the connections are spread over: one address has ~28k
/// ephemeral ports (`ip_local_port_range`), too few for 100k connections.
const LOOPBACK_SOURCES: u8 = 16;

/// The source address of the `i`-th connection to `addr`: 127.0.0.1–16 when the
/// server is on IPv4 loopback, the system's choice otherwise.
fn source_for(addr: SocketAddr, i: usize) -> Option<IpAddr> {
    match addr.ip() {
        IpAddr::V4(v4) if v4.is_loopback() => Some(IpAddr::V4(Ipv4Addr::new(
            127,
            0,
            0,
            1 + (i % usize::from(LOOPBACK_SOURCES)) as u8,
        ))),
        _ => None,
    }
}

/// Opens one idle connection per login, `concurrency` at a time, spread over the
/// loopback source addresses. Returns the open streams and the errors.
pub async fn open_many(
    addr: SocketAddr,
    logins: Vec<Login>,
    keep_alive: u16,
    concurrency: usize,
) -> (Vec<TcpStream>, Vec<String>) {
    let gate = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut set = JoinSet::new();
    for (i, l) in logins.into_iter().enumerate() {
        let gate = gate.clone();
        set.spawn(async move {
            let _permit = gate.acquire_owned().await.map_err(|e| e.to_string())?;
            open_idle(addr, &l, keep_alive, source_for(addr, i)).await
        });
    }
    let mut open = Vec::new();
    let mut errors = Vec::new();
    while let Some(r) = set.join_next().await {
        match r {
            Ok(Ok(s)) => open.push(s),
            Ok(Err(e)) => errors.push(e),
            Err(e) => errors.push(e.to_string()),
        }
    }
    (open, errors)
}

/// PINGREQ → PINGRESP on an open connection: it is still served.
pub async fn ping(s: &mut TcpStream) -> Result<(), String> {
    let mut resp = [0u8; 2];
    tokio::time::timeout(Duration::from_secs(5), async {
        s.write_all(&[0xC0, 0x00]).await?;
        s.read_exact(&mut resp).await
    })
    .await
    .map_err(|_| "no PINGRESP in time".to_string())?
    .map_err(|e| e.to_string())?;
    if resp != [0xD0, 0x00] {
        return Err(format!("not a PINGRESP: {resp:02x?}"));
    }
    Ok(())
}
