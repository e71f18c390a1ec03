//! One MQTT connection: CONNECT and authentication, then a loop over the socket, the
//! session's outbound queue, core's revocations, keep-alive, take-over and shutdown.
//! Every publish and subscribe is authorized by core; this module only maps core's
//! answers onto MQTT codes (see the crate docs for the policy).

use std::{
    collections::{HashMap, HashSet, VecDeque},
    num::NonZeroU16,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use bytes::{Bytes, BytesMut};
use futures::FutureExt;
use switchyard_bus::{BusMessage, count_drop};
use switchyard_core::{
    Core, Error as CoreError,
    kept_sessions::SessionClaim,
    messaging::{ClientIdentity, Envelope, Origin, Revocation, parse_topic},
};
use switchyard_domain::{
    AwayMessage, ConnectionType, MessageProps, MqttSessionState, StoredMessage, StoredMqttSession,
    StoredSubscription,
};
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt},
    sync::{Notify, OwnedSemaphorePermit, Semaphore, broadcast, mpsc},
    task::JoinHandle,
    time::Instant,
};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{
    MqttConfig, mtls,
    packet::{
        Codec, ConnAck, Connect, DecodeError, MQTT_MAX_REMAINING, Packet, Publish, SubscribeFilter,
        Version, Will,
    },
    retained::RetainedStore,
};

/// (client id, MQTT client identifier): one live session each.
type SessionKey = (Uuid, String);

/// A will waiting out its delay: the timer task, and what it would publish.
struct DelayedWill {
    _timer: Forwarder,
    who: ClientIdentity,
    will: Will,
}
/// The live session's number, the bell that tells it it was taken over, and the signal
/// it gives once it has ended (and parked its state, if persistent).
type SessionSlot = (u64, Arc<Signals>);

/// A live session's signals: rung when another connection takes it over, and set once
/// it has fully ended (a session taking over waits for that, so it finds the state its
/// predecessor parked). One allocation per connection for both.
#[derive(Default)]
pub(crate) struct Signals {
    taken_over: Notify,
    done: std::sync::atomic::AtomicBool,
    bell: Notify,
    /// Taken over by a connection that starts clean: the session ends, so a delayed
    /// will is due at once rather than cancelled.
    taken_clean: std::sync::atomic::AtomicBool,
}

impl Signals {
    fn finish(&self) {
        self.done.store(true, Ordering::SeqCst);
        self.bell.notify_waiters();
    }
    async fn wait(&self) {
        loop {
            let rung = self.bell.notified();
            if self.done.load(Ordering::SeqCst) {
                return;
            }
            rung.await;
        }
    }
}

/// Finishes [`Signals`] however `run` returns.
struct EndGuard(Arc<Signals>);

impl Drop for EndGuard {
    fn drop(&mut self) {
        self.0.finish();
    }
}

/// A QoS 1 message sent and not yet acknowledged: sent again (DUP) when a persistent
/// session resumes.
#[derive(Debug, Clone)]
struct Unacked {
    topic: String,
    payload: Bytes,
    retain: bool,
    props: Option<Arc<MessageProps>>,
    /// 1, or 2 for exactly-once.
    qos: u8,
    ident: Option<u32>,
    /// QoS 2: PUBREC came and PUBREL went out; only PUBCOMP is awaited (the client
    /// has the message: it is never sent again, only the PUBREL).
    released: bool,
}

/// A persistent session between connections: its subscriptions keep collecting into
/// its bounded queue until the client comes back or the session expires.
struct Parked {
    no: u64,
    subs: HashMap<String, SubEntry>,
    active: IdSet<u64>,
    next_sub_id: u64,
    out: Option<Outbound>,
    out_rx: Option<mpsc::Receiver<Delivery>>,
    /// Taken out of the queue when the client left, to be in the session's row: they
    /// go out before what the queue holds.
    queued: Vec<Delivery>,
    slow: Arc<Notify>,
    unacked: Vec<(u16, Unacked)>,
    /// When it expires.
    deadline: Instant,
    /// The expiry timer (aborted when the session is resumed).
    _expiry: Forwarder,
}

/// Maps and sets keyed by numbers the server picks, or the client picks within a small
/// bound (packet ids, subscription numbers), use a fixed hasher: it takes no room in
/// every idle session (`RandomState` takes 16 bytes a map), and no key choice can make
/// them slow.
type IdHasher = std::hash::BuildHasherDefault<std::collections::hash_map::DefaultHasher>;
type IdMap<K, V> = HashMap<K, V, IdHasher>;
type IdSet<K> = HashSet<K, IdHasher>;

/// A new bounded outbound queue for a session.
fn new_outbound(
    cfg: &MqttConfig,
    away: Option<Arc<AwayLog>>,
) -> (Outbound, mpsc::Receiver<Delivery>) {
    let (tx, rx) = mpsc::channel(cfg.outbound_queue.max(1));
    let budget = cfg.outbound_bytes.clamp(1, Semaphore::MAX_PERMITS);
    (
        Outbound {
            tx,
            bytes: Arc::new(Semaphore::new(budget)),
            budget,
            away,
        },
        rx,
    )
}

/// Where a kept session's forwarders log what they queue while its client is away, so
/// that a crash does not lose it (the store's `mqtt_session_messages`, through one
/// writer task per adapter that batches them).
pub(crate) struct AwayLog {
    key: SessionKey,
    /// The away period's number (the session row's `epoch`); 0 while the client is
    /// connected: nothing is logged.
    epoch: std::sync::atomic::AtomicI64,
    log: mpsc::Sender<AwayMessage>,
    /// Messages taken out of the queue into the session's row when its client left:
    /// while it is away they count against the queue's bound with what the queue holds.
    held: std::sync::atomic::AtomicUsize,
}

impl AwayLog {
    /// A copy of `d` to log, if the client is away.
    fn copy(&self, d: &Delivery) -> Option<AwayMessage> {
        let epoch = self.epoch.load(Ordering::Relaxed);
        (epoch != 0).then(|| AwayMessage {
            client_id: self.key.0,
            mqtt_id: self.key.1.clone(),
            epoch,
            message: d.stored(),
        })
    }
    fn push(&self, m: AwayMessage) {
        if self.log.try_send(m).is_err() {
            crate::metrics::away_unlogged(1);
        }
    }
}

/// A new away period's number (never 0).
pub(crate) fn new_epoch() -> i64 {
    (Uuid::new_v4().as_u64_pair().0 >> 1) as i64 | 1
}

/// Sets the away period of a session's queue (0: its client is back, and what the
/// session holds outside its queue is its own again).
fn set_epoch(out: Option<&Outbound>, epoch: i64) {
    if let Some(a) = out.and_then(|o| o.away.as_deref()) {
        a.epoch.store(epoch, Ordering::Relaxed);
        if epoch == 0 {
            a.held.store(0, Ordering::Relaxed);
        }
    }
}

/// How long a node waits for another to let go of a session it claims; past it the
/// other node is taken to have stopped.
const CLAIM_WAIT: Duration = Duration::from_secs(4);

/// A message as a session's row or its away log keeps it.
fn stored_message(
    topic: &str,
    payload: &Bytes,
    qos: u8,
    retain: bool,
    props: Option<&MessageProps>,
    sent: bool,
) -> StoredMessage {
    StoredMessage {
        topic: topic.to_string(),
        payload: payload.to_vec(),
        qos,
        retain,
        props: props.cloned().unwrap_or_default(),
        sent,
    }
}

/// What a session's row holds besides its queue: the subscriptions, and the messages
/// sent and not acknowledged (a released QoS 2 message has reached the client: not
/// kept).
fn stored_state(subs: &HashMap<String, SubEntry>, unacked: &[(u16, Unacked)]) -> MqttSessionState {
    MqttSessionState {
        subscriptions: subs
            .iter()
            .map(|(f, e)| StoredSubscription {
                filter: f.clone(),
                qos: e.granted,
                no_local: e.no_local,
                rap: e.rap,
                ident: e.ident,
            })
            .collect(),
        messages: unacked
            .iter()
            .filter(|(_, u)| !u.released)
            .map(|(_, u)| {
                stored_message(
                    &u.topic,
                    &u.payload,
                    u.qos,
                    u.retain,
                    u.props.as_deref(),
                    true,
                )
            })
            .collect(),
    }
}

impl Parked {
    /// Moves what its queue holds for live subscriptions behind `queued`. While the
    /// client is away those keep counting against the queue's bound: counted before
    /// the queue is emptied (an overcount while it drains), exactly after.
    fn drain_queue(&mut self) {
        let Some(rx) = self.out_rx.as_mut() else {
            return;
        };
        let held = self.out.as_ref().and_then(|o| o.away.as_deref());
        if let Some(a) = held {
            a.held
                .store(self.queued.len() + rx.len(), Ordering::Relaxed);
        }
        while let Ok(d) = rx.try_recv() {
            if self.active.contains(&d.sub_id) {
                self.queued.push(d);
            }
        }
        if let Some(a) = held {
            a.held.store(self.queued.len(), Ordering::Relaxed);
        }
    }

    /// Its row's state: subscriptions, messages sent and not acknowledged, then those
    /// taken out of its queue.
    fn state(&self) -> MqttSessionState {
        let mut state = stored_state(&self.subs, &self.unacked);
        state
            .messages
            .extend(self.queued.iter().map(Delivery::stored));
        state
    }
}

/// Forwarders moving one subscription's bus messages into the session's queue.
/// How one subscription delivers: what it was granted and its v5 options.
#[derive(Debug, Clone, Default)]
struct SubOpts {
    granted: u8,
    /// v5 No Local: this session's MQTT client identifier.
    skip_publisher: Option<String>,
    /// v5 Retain As Published.
    rap: bool,
    /// v5 Subscription Identifier, sent with each message.
    ident: Option<u32>,
}

fn spawn_forwarders(
    bus_subs: Vec<switchyard_bus::Subscription>,
    out: &Outbound,
    slow: &Arc<Notify>,
    sub_id: u64,
    opts: &SubOpts,
    patience: Duration,
) -> Vec<Forwarder> {
    bus_subs
        .into_iter()
        .map(|s| {
            let route = Route {
                out: out.clone(),
                slow: slow.clone(),
                sub_id,
                opts: opts.clone(),
                patience,
            };
            Forwarder(tokio::spawn(forward(s.rx, route)))
        })
        .collect()
}

/// A filter subscribed on the bus: its channel, the bus subscriptions, the parsed
/// topic, and whether it is shared.
struct Subscribed {
    channel: Uuid,
    bus: Vec<switchyard_bus::Subscription>,
    topic: switchyard_core::messaging::Topic,
    shared: bool,
}

/// Why a filter could not be subscribed.
enum SubFail {
    /// Malformed, or the client may not read the channel.
    Refused,
    Internal,
}

/// `$share/<group>/<filter>` (MQTT 5 §4.8.2): the group and the filter.
fn shared_filter(f: &str) -> Option<(&str, &str)> {
    let (group, filter) = f.strip_prefix("$share/")?.split_once('/')?;
    let valid = !group.is_empty()
        && group.len() <= 128
        && !group
            .chars()
            .any(|c| matches!(c, '+' | '#') || c.is_whitespace() || c.is_control());
    valid.then_some((group, filter))
}

/// Authorizes and subscribes one filter (a shared one as a member of its group).
async fn subscribe_filter(
    core: &Core,
    who: &ClientIdentity,
    filter: &str,
) -> Result<Subscribed, SubFail> {
    let (group, plain) = match filter.strip_prefix("$share/") {
        Some(_) => {
            let (g, f) = shared_filter(filter).ok_or(SubFail::Refused)?;
            (Some(g), f)
        }
        None => (None, filter),
    };
    let topic = parse_topic(plain, true).map_err(|_| SubFail::Refused)?;
    let r = match group {
        Some(g) => core.subscribe_shared(who, &topic, g).await,
        None => core.subscribe(who, &topic).await,
    };
    match r {
        Ok((channel, bus)) => Ok(Subscribed {
            channel,
            bus,
            topic,
            shared: group.is_some(),
        }),
        Err(CoreError::Internal(e)) => {
            tracing::warn!(error = %e, "mqtt: subscribe failed internally");
            Err(SubFail::Internal)
        }
        Err(_) => Err(SubFail::Refused),
    }
}

/// A session just registered.
struct Registered {
    /// Its number.
    no: u64,
    /// Rung when another connection takes the session over; the signal it gives
    /// once it has ended.
    signals: Arc<Signals>,
    /// The number and end signal of the live session it took over, if any.
    previous: Option<(u64, Arc<Signals>)>,
    /// A delayed will its clean start made due now.
    due_will: Option<(ClientIdentity, Will)>,
}

/// State shared by the sessions of one adapter.
pub(crate) struct Shared {
    pub core: Arc<Core>,
    pub cfg: MqttConfig,
    pub retained: RetainedStore,
    /// (client id, MQTT client identifier) → the live session, for take-over.
    sessions: std::sync::Mutex<HashMap<SessionKey, SessionSlot>>,
    /// Persistent sessions whose client is away.
    parked: std::sync::Mutex<HashMap<SessionKey, Parked>>,
    /// Numbers of taken-over sessions their successor stopped waiting for.
    abandoned: std::sync::Mutex<HashSet<u64>>,
    /// v5 wills waiting out their Will Delay Interval; a new connection of the session
    /// cancels its will, or sends it at once if it starts clean (the session ends).
    delayed_wills: std::sync::Mutex<HashMap<SessionKey, DelayedWill>>,
    next_session: AtomicU64,
    /// This node, as the holder named in the rows of the sessions it keeps.
    pub node: Uuid,
    /// The writer of messages queued for kept sessions while their clients are away
    /// (started with the adapter's sessions, see `MqttAdapter::restore_sessions`).
    pub away_log: std::sync::OnceLock<mpsc::Sender<AwayMessage>>,
    pub meters: switchyard_core::meters::PlaneMeters,
    /// Messages waiting in a session's outbound queue each time it wakes to write.
    queue_depth: metrics::Histogram,
}

impl Shared {
    pub(crate) fn new(core: Arc<Core>, cfg: MqttConfig) -> Shared {
        let retained = RetainedStore::new(cfg.retained_max_messages, cfg.retained_max_bytes);
        Shared {
            core,
            cfg,
            retained,
            sessions: std::sync::Mutex::new(HashMap::new()),
            parked: std::sync::Mutex::new(HashMap::new()),
            abandoned: std::sync::Mutex::new(HashSet::new()),
            delayed_wills: std::sync::Mutex::new(HashMap::new()),
            next_session: AtomicU64::new(1),
            node: Uuid::new_v4(),
            away_log: std::sync::OnceLock::new(),
            meters: switchyard_core::meters::PlaneMeters::new("mqtt", 2),
            queue_depth: metrics::histogram!("switchyard_mqtt_queue_depth"),
        }
    }

    /// Registers a live session (see [`Registered`]).
    fn register(&self, key: SessionKey, clean_start: bool) -> Registered {
        let no = self.next_session.fetch_add(1, Ordering::Relaxed);
        let signals = Arc::new(Signals::default());
        let mut previous = None;
        // A new connection to the session: a will still waiting is not sent
        // [MQTT-3.1.3-9]; unless the connection starts clean, which ends the old session,
        // and a will is published when its session ends, if its delay has not passed
        // (MQTT 5, 3.1.3.2.2). Dropping the entry stops its timer.
        let due = self
            .delayed_wills
            .lock()
            .ok()
            .and_then(|mut w| w.remove(&key))
            .filter(|_| clean_start)
            .map(|d| (d.who, d.will));
        if let Ok(mut m) = self.sessions.lock()
            && let Some((old_no, old)) = m.insert(key, (no, signals.clone()))
        {
            old.taken_clean.store(clean_start, Ordering::SeqCst);
            old.taken_over.notify_one();
            previous = Some((old_no, old));
        }
        Registered {
            no,
            signals,
            previous,
            due_will: due,
        }
    }

    fn is_connected(&self, key: &SessionKey) -> bool {
        self.sessions.lock().is_ok_and(|m| m.contains_key(key))
    }

    /// Stops keeping a session here (its client is back, or another node takes it):
    /// nothing more is logged for it.
    fn take_parked(&self, key: &SessionKey) -> Option<Parked> {
        let p = self.parked.lock().ok()?.remove(key)?;
        crate::metrics::parked(false);
        set_epoch(p.out.as_ref(), 0);
        Some(p)
    }

    /// Keeps a persistent session for `expiry`; false when a limit refused it.
    fn park(self: &Arc<Self>, key: SessionKey, mut p: Parked, expiry: Duration) -> bool {
        // Bounded in total and per client: an authenticated client cannot pile up kept
        // sessions (each may hold a full queue) under ever new identifiers.
        if let Ok(m) = self.parked.lock()
            && !m.contains_key(&key)
        {
            let reason = if m.len() >= self.cfg.max_kept_sessions {
                Some("total")
            } else if m.keys().filter(|(c, _)| *c == key.0).count()
                >= self.cfg.max_kept_sessions_per_client
            {
                Some("per_client")
            } else {
                None
            };
            if let Some(reason) = reason {
                crate::metrics::not_kept(reason);
                tracing::debug!(client = %key.0, client_id = %key.1, reason, "mqtt: persistent session not kept (limit)");
                return false;
            }
        }
        p.deadline = Instant::now() + expiry;
        let weak = Arc::downgrade(self);
        let (k, no) = (key.clone(), p.no);
        p._expiry = Forwarder(tokio::spawn(async move {
            tokio::time::sleep(expiry).await;
            if let Some(shared) = weak.upgrade() {
                let gone = shared.parked.lock().ok().and_then(|mut m| {
                    if m.get(&k).is_some_and(|p| p.no == no) {
                        m.remove(&k)
                    } else {
                        None
                    }
                });
                if let Some(mut gone) = gone {
                    // Dropping it would abort this very task first.
                    std::mem::forget(std::mem::replace(
                        &mut gone._expiry,
                        Forwarder(tokio::spawn(async {})),
                    ));
                    crate::metrics::parked(false);
                    tracing::debug!(client = %k.0, client_id = %k.1, "mqtt: persistent session expired");
                    shared.forget(&k).await;
                }
            }
        }));
        match self.parked.lock() {
            Ok(mut m) => {
                if m.insert(key, p).is_none() {
                    crate::metrics::parked(true);
                }
                true
            }
            Err(_) => false,
        }
    }

    /// Every kept session, as storage keeps it (the server is stopping).
    pub(crate) fn export_parked(&self) -> Vec<StoredMqttSession> {
        let all: Vec<(SessionKey, Parked)> = match self.parked.lock() {
            Ok(mut m) => m.drain().collect(),
            Err(_) => return Vec::new(),
        };
        all.into_iter()
            .map(|(key, p)| self.export(key, p))
            .collect()
    }

    /// A kept session as storage keeps it, with the messages its queue held.
    fn export(&self, (client_id, mqtt_id): SessionKey, mut p: Parked) -> StoredMqttSession {
        // Saved whole: what was logged for it is in the state.
        set_epoch(p.out.as_ref(), 0);
        p.drain_queue();
        let state = p.state();
        let left = p.deadline.saturating_duration_since(Instant::now());
        StoredMqttSession {
            client_id,
            mqtt_id,
            expires_at: self.core.now() + left,
            state,
            epoch: 0,
        }
    }

    /// The away log of a kept session's queue (none before the writer is started).
    fn away_log(&self, key: &SessionKey, epoch: i64) -> Option<Arc<AwayLog>> {
        Some(Arc::new(AwayLog {
            key: key.clone(),
            epoch: std::sync::atomic::AtomicI64::new(epoch),
            log: self.away_log.get()?.clone(),
            held: std::sync::atomic::AtomicUsize::new(0),
        }))
    }

    /// Writes the row of a session this node keeps: its subscriptions and `state`'s
    /// messages, expiring `expiry` from now; `epoch` is its away period (0: its client
    /// is connected). A failure is logged: the session goes on in memory, only what a
    /// crash or another node would find of it is older.
    async fn write_through(
        &self,
        key: &SessionKey,
        state: MqttSessionState,
        expiry: Duration,
        epoch: i64,
    ) {
        let rec = StoredMqttSession {
            client_id: key.0,
            mqtt_id: key.1.clone(),
            expires_at: self.core.now() + expiry,
            state,
            epoch,
        };
        if let Err(e) = self.core.save_mqtt_sessions(Some(self.node), &[rec]).await {
            tracing::warn!(error = %e, client = %key.0, "mqtt: kept session not written");
        }
    }

    /// Removes the row of a session this node kept and that has ended.
    pub(crate) async fn forget(&self, key: &SessionKey) {
        if let Err(e) = self.core.drop_mqtt_session(key.0, &key.1, self.node).await {
            tracing::warn!(error = %e, client = %key.0, "mqtt: ended session not removed");
        }
    }

    /// Keeps a session restored from storage, subscribed again, until its client
    /// comes back or it expires. Sessions of clients no longer enabled are dropped.
    pub(crate) async fn import(self: &Arc<Self>, rec: StoredMqttSession) -> bool {
        let Ok(who) = self.core.client_identity(rec.client_id).await else {
            return false;
        };
        let key = (rec.client_id, rec.mqtt_id.clone());
        match self.rebuild(rec, &who, HashMap::new()).await {
            Some((parked, left)) => self.park(key, parked, left),
            None => false,
        }
    }

    /// A session from storage made live again: its filters subscribed (those in
    /// `pre` already are) and its saved messages queued ahead of new ones. `None` when
    /// it has expired.
    async fn rebuild(
        &self,
        rec: StoredMqttSession,
        who: &ClientIdentity,
        mut pre: HashMap<String, Subscribed>,
    ) -> Option<(Parked, Duration)> {
        let ms = u64::try_from((rec.expires_at - self.core.now()).whole_milliseconds()).ok()?;
        let left = Duration::from_millis(ms);
        if left.is_zero() {
            return None;
        }
        let key = (rec.client_id, rec.mqtt_id.clone());
        let (out, rx) = new_outbound(&self.cfg, self.away_log(&key, rec.epoch));
        let slow = Arc::new(Notify::new());
        let mut subscribed = Vec::new();
        for sub in rec.state.subscriptions {
            let s = match pre.remove(&sub.filter) {
                Some(s) => s,
                None => match subscribe_filter(&self.core, who, &sub.filter).await {
                    Ok(s) => s,
                    Err(_) => continue,
                },
            };
            subscribed.push((sub, s));
        }
        // The saved messages wait in the queue under the subscription of their channel,
        // so they are authorized like live ones (a channel no longer readable has no
        // subscription: its messages are dropped) and go out under flow control, before
        // anything the subscriptions bring; those sent before are sent again first.
        let mut unacked = Vec::new();
        for m in rec.state.messages {
            let Ok(t) = parse_topic(&m.topic, false) else {
                continue;
            };
            let found = subscribed
                .iter()
                .enumerate()
                .find(|(_, (_, s))| t.channel == s.channel.to_string())
                .or_else(|| {
                    // A channel named by its route: its subscription's filter names it too.
                    subscribed
                        .iter()
                        .enumerate()
                        .find(|(_, (f, _))| f.filter.contains(&format!("/c/{}", t.channel)))
                });
            let Some((i, (sub, _))) = found else {
                count_drop("revoked");
                continue;
            };
            if m.sent {
                let pid = u16::try_from(unacked.len() + 1).unwrap_or(u16::MAX);
                unacked.push((
                    pid,
                    Unacked {
                        topic: m.topic,
                        payload: Bytes::from(m.payload),
                        retain: m.retain,
                        props: (!m.props.is_empty()).then(|| Arc::new(m.props)),
                        qos: m.qos.min(sub.qos.min(2)),
                        ident: sub.ident,
                        released: false,
                    },
                ));
                continue;
            }
            let d = Delivery {
                sub_id: i as u64 + 1,
                topic: m.topic,
                payload: Bytes::from(m.payload),
                qos: m.qos.min(sub.qos.min(2)),
                retain: m.retain,
                props: (!m.props.is_empty()).then(|| Arc::new(m.props)),
                ident: sub.ident,
                created: 0,
                _bytes: None,
            };
            if out.tx.try_send(d).is_err() {
                count_drop("slow_consumer");
            }
        }
        let mut subs = HashMap::new();
        let mut active = IdSet::default();
        for (i, (sub, s)) in subscribed.into_iter().enumerate() {
            let sub_id = i as u64 + 1;
            let opts = SubOpts {
                granted: sub.qos.min(2),
                skip_publisher: (sub.no_local && !s.shared).then(|| rec.mqtt_id.clone()),
                rap: sub.rap,
                ident: sub.ident,
            };
            let tasks =
                spawn_forwarders(s.bus, &out, &slow, sub_id, &opts, self.cfg.subscriber_wait);
            subs.insert(
                sub.filter,
                SubEntry {
                    channel: s.channel,
                    sub_id,
                    granted: opts.granted,
                    no_local: sub.no_local,
                    rap: sub.rap,
                    ident: sub.ident,
                    _tasks: tasks,
                },
            );
            active.insert(sub_id);
        }
        let parked = Parked {
            no: self.next_session.fetch_add(1, Ordering::Relaxed),
            next_sub_id: subs.len() as u64 + 1,
            subs,
            active,
            out: Some(out),
            out_rx: Some(rx),
            queued: Vec::new(),
            slow,
            unacked,
            deadline: Instant::now(),
            _expiry: Forwarder(tokio::spawn(async {})),
        };
        Some((parked, left))
    }

    /// Acts on another node's claim addressed to this node (or to all, for a clean
    /// start): a live session here is taken over (it ends and parks), a kept one stops
    /// being kept here and is saved for the claimer, or dropped if the claimer starts
    /// clean; then a claimer that waits is told.
    pub(crate) async fn release(self: &Arc<Self>, c: SessionClaim) {
        if c.from == self.node || c.to.is_some_and(|n| n != self.node) {
            return;
        }
        let key = (c.client_id, c.mqtt_id.clone());
        let due = self
            .delayed_wills
            .lock()
            .ok()
            .and_then(|mut w| w.remove(&key))
            .filter(|_| c.clean);
        if let Some(d) = due {
            publish_will(self, &d.who, &key.1, d.will).await;
        }
        let live = self.sessions.lock().ok().and_then(|mut m| m.remove(&key));
        if let Some((_, signals)) = live {
            signals.taken_clean.store(c.clean, Ordering::SeqCst);
            signals.taken_over.notify_one();
            let _ = tokio::time::timeout(Duration::from_secs(3), signals.wait()).await;
        }
        if let Some(p) = self.take_parked(&key) {
            if c.clean {
                drop(p);
                self.forget(&key).await;
            } else {
                let rec = self.export(key.clone(), p);
                if let Err(e) = self.core.save_mqtt_sessions(None, &[rec]).await {
                    tracing::warn!(error = %e, client = %key.0, "mqtt: claimed session not saved");
                }
            }
        }
        self.core.answer_mqtt_claim(&c).await;
        tracing::debug!(client = %key.0, client_id = %key.1, to = %c.from, "mqtt: session claimed by another node");
    }

    /// A session another node may hold, for a connection here that has none: the
    /// holder is asked to let go and its row taken. A connection that starts clean
    /// only tells the holder to end it.
    async fn claim_remote(
        &self,
        key: &SessionKey,
        who: &ClientIdentity,
        clean: bool,
    ) -> Option<Parked> {
        let claim = SessionClaim {
            client_id: key.0,
            mqtt_id: key.1.clone(),
            clean,
            from: self.node,
            to: None,
            reply: None,
        };
        if clean {
            // A live holder drops it when it hears the claim; the row goes now too, or a
            // holder that has stopped would leave it for the next node that starts to
            // restore.
            self.core.claim_mqtt_session(claim, Duration::ZERO).await;
            if let Err(e) = self.core.take_mqtt_session(key.0, &key.1).await {
                tracing::warn!(error = %e, client = %key.0, "mqtt: discarded session not removed");
            }
            return None;
        }
        let (holder, saved) = self.core.mqtt_session(key.0, &key.1).await.ok()??;
        let mut pre = HashMap::new();
        if let Some(holder) = holder.filter(|n| *n != self.node) {
            // Subscribed here before the holder lets go, so nothing published in
            // between is missed (a message queued on both sides may come twice).
            for sub in &saved.state.subscriptions {
                if let Ok(s) = subscribe_filter(&self.core, who, &sub.filter).await {
                    pre.insert(sub.filter.clone(), s);
                }
            }
            let claim = SessionClaim {
                to: Some(holder),
                ..claim
            };
            if !self.core.claim_mqtt_session(claim, CLAIM_WAIT).await {
                tracing::info!(client = %key.0, client_id = %key.1, "mqtt: the node keeping this session did not answer; its saved state is taken");
            }
        }
        let mut rec = self.core.take_mqtt_session(key.0, &key.1).await.ok()??;
        // Resumed at once: nothing to log.
        rec.epoch = 0;
        self.rebuild(rec, who, pre).await.map(|(p, _)| p)
    }

    fn unregister(&self, key: &SessionKey, no: u64) {
        if let Ok(mut m) = self.sessions.lock()
            && m.get(key).is_some_and(|(n, _)| *n == no)
        {
            m.remove(key);
        }
    }
}

// v3.1.1 CONNACK return codes.
const V3_IDENTIFIER_REJECTED: u8 = 0x02;
const V3_SERVER_UNAVAILABLE: u8 = 0x03;
const V3_BAD_CREDENTIALS: u8 = 0x04;
const V3_NOT_AUTHORIZED: u8 = 0x05;
const V3_SUB_FAILURE: u8 = 0x80;
// v5 reason codes.
const UNSPECIFIED: u8 = 0x80;
const MALFORMED: u8 = 0x81;
const PROTOCOL_ERROR: u8 = 0x82;
const CLIENT_ID_INVALID: u8 = 0x85;
const BAD_CREDENTIALS: u8 = 0x86;
const NOT_AUTHORIZED: u8 = 0x87;
const SERVER_UNAVAILABLE: u8 = 0x88;
const SERVER_SHUTTING_DOWN: u8 = 0x8B;
const BAD_AUTH_METHOD: u8 = 0x8C;
const KEEP_ALIVE_TIMEOUT: u8 = 0x8D;
const SESSION_TAKEN_OVER: u8 = 0x8E;
const PACKET_ID_NOT_FOUND: u8 = 0x92;
const RECEIVE_MAX_EXCEEDED: u8 = 0x93;
const TOPIC_ALIAS_INVALID: u8 = 0x94;
const PACKET_TOO_LARGE: u8 = 0x95;
const QUOTA_EXCEEDED: u8 = 0x97;
const NO_SUBSCRIPTION_EXISTED: u8 = 0x11;
const DISCONNECT_WITH_WILL: u8 = 0x04;

/// One delivery in this many is timed for `switchyard_message_delivery_seconds`.
const LATENCY_SAMPLE: u64 = 16;

/// How a session ended; decides the v5 DISCONNECT and whether the will is published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// The client sent DISCONNECT (v5 0x04 asks for the will anyway).
    ClientDisconnect {
        will: bool,
    },
    /// EOF, IO error or a write that timed out.
    Closed,
    /// A protocol violation or malformed packet: v5 DISCONNECT with this code.
    Protocol(u8),
    KeepAlive,
    Revoked,
    TakenOver,
    SlowConsumer,
    Shutdown,
}

impl End {
    fn disconnect_code(self) -> Option<u8> {
        match self {
            End::ClientDisconnect { .. } | End::Closed => None,
            End::Protocol(c) => Some(c),
            End::KeepAlive => Some(KEEP_ALIVE_TIMEOUT),
            End::Revoked => Some(NOT_AUTHORIZED),
            End::TakenOver => Some(SESSION_TAKEN_OVER),
            End::SlowConsumer => Some(QUOTA_EXCEEDED),
            End::Shutdown => Some(SERVER_SHUTTING_DOWN),
        }
    }
    /// Why the server ended the session, for `/metrics`; `None` when the client did.
    fn server_reason(self) -> Option<&'static str> {
        match self {
            End::ClientDisconnect { .. } | End::Closed => None,
            End::Protocol(_) => Some("protocol_error"),
            End::KeepAlive => Some("keep_alive"),
            End::Revoked => Some("revoked"),
            End::TakenOver => Some("taken_over"),
            End::SlowConsumer => Some("slow_consumer"),
            End::Shutdown => Some("shutdown"),
        }
    }
    fn publishes_will(self) -> bool {
        match self {
            End::ClientDisconnect { will } => will,
            _ => true,
        }
    }
}

/// A message on its way to the client.
#[derive(Debug)]
struct Delivery {
    /// The subscription it came through; dropped if that subscription is gone.
    sub_id: u64,
    topic: String,
    payload: Bytes,
    qos: u8,
    retain: bool,
    /// v5 publish properties, as published.
    props: Option<Arc<MessageProps>>,
    /// v5 Subscription Identifier of the subscription it came through.
    ident: Option<u32>,
    /// When it was published (unix ns, core's clock); 0 when unknown (retained, restored).
    created: i64,
    /// Its share of the queue's byte budget, returned once it is written out.
    _bytes: Option<OwnedSemaphorePermit>,
}

impl Delivery {
    /// As a session's row or its away log keeps it (not sent yet).
    fn stored(&self) -> StoredMessage {
        stored_message(
            &self.topic,
            &self.payload,
            self.qos,
            self.retain,
            self.props.as_deref(),
            false,
        )
    }
}

/// The session's outbound queue as its forwarders see it: bounded in messages (the
/// channel) and in bytes (the semaphore's permits).
#[derive(Clone)]
struct Outbound {
    tx: mpsc::Sender<Delivery>,
    bytes: Arc<Semaphore>,
    budget: usize,
    /// A kept session's log of what arrives while its client is away.
    away: Option<Arc<AwayLog>>,
}

impl Outbound {
    /// Whether this is a kept session's queue and its client is away.
    fn client_away(&self) -> bool {
        self.away
            .as_deref()
            .is_some_and(|a| a.epoch.load(Ordering::Relaxed) != 0)
    }

    /// Puts `d` in the queue's reserved `slot`, logging a copy while the client is away.
    /// While a kept session's client is away, `d` is dropped and counted when what its
    /// queue holds (this slot too) and what its row took out of the queue would exceed
    /// the bound.
    fn queue(&self, slot: mpsc::Permit<'_, Delivery>, d: Delivery) {
        let away = self
            .away
            .as_deref()
            .filter(|a| a.epoch.load(Ordering::Relaxed) != 0);
        if let Some(a) = away {
            let bound = self.tx.max_capacity();
            let used = bound - self.tx.capacity();
            if used + a.held.load(Ordering::Relaxed) > bound {
                drop(slot);
                count_drop("session_full");
                return;
            }
        }
        let logged = away.and_then(|a| Some((a, a.copy(&d)?)));
        slot.send(d);
        if let Some((a, m)) = logged {
            a.push(m);
        }
    }
}

/// Aborts a forwarding task when the subscription is dropped.
struct Forwarder(JoinHandle<()>);

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.0.abort();
    }
}

struct SubEntry {
    channel: Uuid,
    sub_id: u64,
    /// The QoS granted and the v5 options, to subscribe again after a resume.
    granted: u8,
    no_local: bool,
    rap: bool,
    ident: Option<u32>,
    _tasks: Vec<Forwarder>,
}

impl SubEntry {
    /// Whether a forwarder stopped (its queue stayed full while the client was away).
    fn broken(&self) -> bool {
        self._tasks.iter().any(|t| t.0.is_finished())
    }
}

/// What one subscription's forwarder needs besides its bus subscription.
struct Route {
    out: Outbound,
    slow: Arc<Notify>,
    sub_id: u64,
    opts: SubOpts,
    /// How long to wait for room in a full queue (see `switchyard_bus::Outlet`).
    patience: Duration,
}

/// Moves bus messages of one subscription into the session's bounded queue. A full
/// queue (in messages or bytes) is waited for, which makes this task stop reading the
/// bus and so, one hop up, slows the publishers down; after `patience` without room
/// the subscriber is behind for good: QoS 0 messages are dropped (counted) without
/// waiting until it catches up, and a QoS 1 subscription asks the session to
/// disconnect. A kept session whose client is away is never waited for. Messages go
/// out at the lower of the publish QoS and the granted one.
async fn forward(mut rx: mpsc::Receiver<BusMessage>, r: Route) {
    let mut stalled = false;
    while let Some(m) = rx.recv().await {
        let Some(env) = Envelope::decode_slice(&m.payload) else {
            continue;
        };
        if r.opts
            .skip_publisher
            .as_deref()
            .is_some_and(|me| env.mqtt_client.as_deref() == Some(me))
        {
            continue;
        }
        let granted = r.opts.granted;
        let qos = match env.qos {
            Some(q) => granted.min(u8::try_from(q).unwrap_or(granted)),
            None => granted,
        };
        let topic = env.topic();
        let props = env.props().map(Arc::new);
        let extra = props.as_deref().map_or(0, MessageProps::byte_size);
        let size = u32::try_from((topic.len() + env.payload.len() + extra).clamp(1, r.out.budget))
            .unwrap_or(u32::MAX);
        let mut d = Delivery {
            sub_id: r.sub_id,
            topic,
            payload: Bytes::from(env.payload),
            qos,
            retain: r.opts.rap && env.retain == Some(true),
            props,
            ident: r.opts.ident,
            created: env.created,
            _bytes: None,
        };
        // The common case without a timer: room in both bounds right now.
        if let Ok(permit) = r.out.bytes.clone().try_acquire_many_owned(size) {
            d._bytes = Some(permit);
            match r.out.tx.try_reserve() {
                Ok(slot) => {
                    r.out.queue(slot, d);
                    stalled = false;
                    continue;
                }
                Err(mpsc::error::TrySendError::Closed(())) => return,
                Err(mpsc::error::TrySendError::Full(())) => {}
            }
        }
        // No room. A kept session whose client is away is full until it comes back:
        // nothing drains it, so waiting would only hold up the bus and the publishers
        // behind it. The message is dropped (its QoS 1 and 2 ones too; the
        // subscription stays) and counted.
        if r.out.client_away() {
            count_drop("session_full");
            continue;
        }
        // A subscriber already behind is not waited for again until it has room.
        let queued = if stalled {
            None
        } else {
            tokio::time::timeout(r.patience, async {
                if d._bytes.is_none() {
                    d._bytes = Some(r.out.bytes.clone().acquire_many_owned(size).await.ok()?);
                }
                let slot = r.out.tx.reserve().await.ok()?;
                r.out.queue(slot, d);
                Some(())
            })
            .await
            .ok()
        };
        match queued {
            Some(Some(())) => stalled = false,
            Some(None) => return,
            None if qos == 0 => {
                stalled = true;
                count_drop("slow_consumer");
            }
            None => {
                count_drop("slow_consumer");
                r.slow.notify_one();
                return;
            }
        }
    }
}

/// Waits for the shutdown signal; forever when there is none.
async fn wait_shutdown(stop: &Option<CancellationToken>) {
    match stop {
        Some(t) => t.cancelled().await,
        None => std::future::pending().await,
    }
}

/// A resumed session's deliveries taken out of its queue when its client left; boxed
/// in the session (8 bytes instead of 32 in every idle connection), rarely there.
struct Pending(VecDeque<Delivery>);

/// The next delivery of a resumed session's `pending` ones.
fn take_pending(pending: &mut Option<Box<Pending>>) -> Option<Delivery> {
    let q = &mut pending.as_mut()?.0;
    let d = q.pop_front();
    if q.is_empty() {
        *pending = None;
    }
    d
}

/// The next delivery: a `pending` one first, then the queue's; forever pending while
/// there is no queue yet.
async fn recv_delivery(
    pending: &mut Option<Box<Pending>>,
    rx: &mut Option<mpsc::Receiver<Delivery>>,
) -> Option<Delivery> {
    if let Some(d) = take_pending(pending) {
        return Some(d);
    }
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Free space the read buffer has before a read in the session loop, at least.
const READ_MIN: usize = 64;
/// The read buffer for CONNECT (credentials and a will make it larger than most).
const READ_CONNECT: usize = 256;
/// The most free space a read asks for.
const READ_MAX: usize = 64 * 1024;

/// A connection that read no PUBLISH for this long is quiet: its next one yields first.
const QUIET: Duration = Duration::from_millis(1);

/// Adapts the read buffer's free space to the peer: it starts at [`READ_MIN`] and
/// doubles (up to [`READ_MAX`]) each time a read fills it, so an idle connection holds
/// a few dozen bytes and a busy publisher still reads in large chunks.
struct ReadRoom {
    want: usize,
}

impl Default for ReadRoom {
    fn default() -> Self {
        ReadRoom { want: READ_MIN }
    }
}

impl ReadRoom {
    fn prepare(&mut self, rbuf: &mut BytesMut) {
        if rbuf.capacity() - rbuf.len() < self.want {
            rbuf.reserve(self.want);
        }
    }
    /// Grows the room after a read of `n` bytes; whether the read filled it.
    fn after_read(&mut self, n: usize) -> bool {
        let full = n >= self.want;
        if full {
            self.want = (self.want * 2).min(READ_MAX);
        }
        full
    }
}

async fn recv_revocation(
    rx: &mut Option<broadcast::Receiver<Revocation>>,
) -> Result<Revocation, broadcast::error::RecvError> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Writes `buf` whole within the timeout; clears it on success.
async fn flush<S: AsyncWrite + Unpin>(io: &mut S, buf: &mut BytesMut, limit: Duration) -> bool {
    if buf.is_empty() {
        return true;
    }
    let ok = tokio::time::timeout(limit, async {
        io.write_all(buf).await?;
        io.flush().await
    })
    .await
    .is_ok_and(|r| r.is_ok());
    buf.clear();
    ok
}

/// Shuts the write side down, without waiting long for a peer that does not read.
async fn close<S: AsyncWrite + Unpin>(io: &mut S) {
    let _ = tokio::time::timeout(Duration::from_secs(1), io.shutdown()).await;
}

/// A connection past its CONNACK: the session and what its loop and its end need.
struct Connected<S> {
    io: S,
    rbuf: BytesMut,
    s: Session,
    shutdown: Option<CancellationToken>,
    revocations: Option<broadcast::Receiver<Revocation>>,
    keep_alive: u16,
    session_no: u64,
    /// Finishes the session's end signal however the connection ends; its take-over bell.
    end_guard: EndGuard,
    transport: &'static str,
}

/// Runs one connection to its end. Never panics on input: every decode error closes
/// the connection. `peer_cert` is the TLS client certificate (DER) the handshake
/// accepted, if any: CONNECT is then authenticated by it (see [`crate::mtls`]).
pub(crate) fn run<S>(
    io: S,
    shared: Arc<Shared>,
    shutdown: Option<CancellationToken>,
    peer_cert: Option<Vec<u8>>,
    transport: &'static str,
) -> impl Future<Output = ()> + Send
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // The handshake's state is boxed and freed once it is done, and the session is
    // boxed once: an idle connection's task holds only its loop's state (the arguments
    // go into the boxed handshake here, so the task does not keep room for them).
    let handshake = Box::pin(handshake(io, shared, shutdown, peer_cert, transport));
    async move {
        if let Some(c) = handshake.await {
            c.serve().await;
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> Connected<S> {
    async fn serve(mut self: Box<Self>) {
        let c = &mut *self;
        let end =
            c.s.main_loop(
                &mut c.io,
                &mut c.rbuf,
                c.revocations.take(),
                c.end_guard.0.clone(),
                &c.shutdown,
                c.keep_alive,
            )
            .await;
        // Boxed like the handshake: its state is not kept beside the loop's.
        Box::pin(self.end(end)).await;
    }

    async fn end(self: Box<Self>, end: End) {
        let Connected {
            mut io,
            s,
            session_no,
            end_guard,
            transport,
            ..
        } = *self;
        // The session's key, the adapter and how long the session outlives the
        // connection are the session's own (not kept twice in the idle connection).
        let (shared, key, persist) = (s.shared.clone(), (s.who.id, s.mqtt_id.clone()), s.persist);
        finish(
            s, &mut io, end, &shared, key, session_no, persist, end_guard, transport,
        )
        .await;
    }
}

/// Ends a connection: the v5 DISCONNECT, the socket, the session kept or dropped,
/// the will.
#[allow(clippy::too_many_arguments)]
async fn finish<S>(
    mut s: Session,
    io: &mut S,
    end: End,
    shared: &Arc<Shared>,
    key: SessionKey,
    session_no: u64,
    persist: Option<Duration>,
    end_guard: EndGuard,
    transport: &'static str,
) where
    S: AsyncWrite + Unpin,
{
    crate::metrics::session(false, transport);
    if let Some(reason) = end.server_reason() {
        crate::metrics::ended(reason);
    }
    tracing::debug!(client = %s.who.id, ?end, "mqtt: session ended");

    if s.version == Version::V5
        && let Some(code) = end.disconnect_code()
    {
        s.wbuf.clear();
        if s.codec
            .encode(
                Packet::Disconnect {
                    code,
                    session_expiry: None,
                },
                &mut s.wbuf,
            )
            .is_ok()
        {
            flush(io, &mut s.wbuf, Duration::from_secs(1)).await;
        }
    }
    close(io).await;
    // A persistent session is kept unless the client was refused; its subscriptions
    // keep collecting until the client comes back.
    // The connection that took over gave up waiting for this one and started without
    // its state: parking it now would put it behind that connection's back.
    let superseded = shared
        .abandoned
        .lock()
        .map(|mut a| a.remove(&session_no))
        .unwrap_or(false);
    // A v5 DISCONNECT may have changed how long the session is kept (0: not at all).
    let persist = match s.disconnect_expiry {
        Some(0) => None,
        Some(e) => Some(Duration::from_secs(u64::from(e)).min(shared.cfg.session_expiry_max)),
        None => persist,
    };
    let kept = match persist {
        // At shutdown it is kept too: the adapter saves kept sessions to storage.
        Some(expiry) if end != End::Revoked && !superseded => {
            let mut parked = s.take_parked_state(session_no);
            // Its row first (at shutdown the adapter saves them all at once), so a node
            // that claims it after it is parked finds it current; from now on what
            // arrives for it is logged under a new away period.
            if end != End::Shutdown {
                let epoch = new_epoch();
                set_epoch(parked.out.as_ref(), epoch);
                // What was queued and not sent goes in the row too: the away log has
                // only what arrives from now on.
                parked.drain_queue();
                let state = parked.state();
                shared.write_through(&key, state, expiry, epoch).await;
            }
            shared.park(key.clone(), parked, expiry)
        }
        _ => {
            drop(std::mem::take(&mut s.subs));
            false
        }
    };
    if !kept && s.persist.is_some() && !superseded {
        shared.forget(&key).await;
    }
    // Registered until now: a connection for the same session that arrives while this
    // one ends waits for it to be parked (as does another node's claim).
    shared.unregister(&key, session_no);
    if end.publishes_will()
        && let Some(w) = s.will.take()
    {
        let w = *w;
        // v5 Will Delay Interval: published when the delay or the session ends, whichever
        // comes first; a session that is not kept (or the server stopping) publishes at
        // once. Delayed wills are bounded like kept sessions (one per kept session).
        let taken_clean = end == End::TakenOver && end_guard.0.taken_clean.load(Ordering::SeqCst);
        let delay = persist
            .filter(|_| kept && end != End::Shutdown && !taken_clean)
            .map(|left| Duration::from_secs(u64::from(w.delay)).min(left))
            .filter(|d| !d.is_zero());
        match delay {
            // Taken over by a connection that continues the session: it is the one a
            // delayed will waits for [MQTT-3.1.3-9], so the will is never sent. One that
            // starts clean ends the session, and the will goes out now (3.1.2.5).
            _ if end == End::TakenOver && w.delay > 0 && !taken_clean => {}
            Some(d) => {
                let (sh, who, id) = (shared.clone(), s.who, s.mqtt_id.clone());
                let will_copy = w.clone();
                let task = tokio::spawn(async move {
                    tokio::time::sleep(d).await;
                    let key = (who.id, id.clone());
                    // Back in the meantime (a connection the cancel missed): no will.
                    if !sh.is_connected(&key) {
                        publish_will(&sh, &who, &id, w).await;
                    }
                    // Last: dropping its own entry aborts this task at its next await.
                    if let Ok(mut pending) = sh.delayed_wills.lock() {
                        pending.remove(&key);
                    }
                });
                if let Ok(mut m) = shared.delayed_wills.lock() {
                    m.insert(
                        key,
                        DelayedWill {
                            _timer: Forwarder(task),
                            who: s.who,
                            will: will_copy,
                        },
                    );
                }
            }
            None => Box::pin(publish_will(shared, &s.who, &s.mqtt_id, w)).await,
        }
    }
}

/// Reads, validates and authenticates CONNECT, registers the session (taking over or
/// resuming one) and answers CONNACK. `None`: the connection is to be closed.
async fn handshake<S>(
    mut io: S,
    shared: Arc<Shared>,
    shutdown: Option<CancellationToken>,
    peer_cert: Option<Vec<u8>>,
    transport: &'static str,
) -> Option<Box<Connected<S>>>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // Small to start with: an idle connection keeps only this much; reads grow it
    // when the peer sends more (see `ReadRoom`).
    let mut rbuf = BytesMut::with_capacity(READ_CONNECT);
    let cfg = &shared.cfg;
    let mut codec = Codec::new(cfg.max_packet_size);
    let mut wbuf = BytesMut::new();

    // Phase 1: the CONNECT packet, within the connect timeout.
    let first = tokio::time::timeout(cfg.connect_timeout, async {
        loop {
            match codec.decode(&mut rbuf) {
                Ok(Some(p)) => return Ok(p),
                Ok(None) => {}
                Err(e) => return Err(Some(e)),
            }
            rbuf.reserve(READ_CONNECT);
            match io.read_buf(&mut rbuf).await {
                Ok(0) | Err(_) => return Err(None),
                Ok(_) => {}
            }
        }
    })
    .await;
    let connect = match first {
        Ok(Ok(Packet::Connect(c))) => c,
        Ok(Err(Some(e))) => {
            refuse_undecodable(&mut io, &mut codec, e, cfg.write_timeout).await;
            return None;
        }
        // Timeout, EOF, or a first packet that is not CONNECT.
        _ => return None,
    };
    let version = codec.version()?;

    // Phase 2: validate and authenticate. Listen for revocations first, so none that
    // lands between authentication and the session loop is missed.
    let revocations = Some(shared.core.revocations());
    let mut connack = ConnAck::default();
    let auth = match &peer_cert {
        Some(der) => Box::pin(authenticate_cert(&shared.core, der, &connect, version)).await,
        None => Box::pin(authenticate(&shared.core, &connect, version)).await,
    };
    let (who, credential) = match auth {
        Ok(x) => x,
        Err(code) => {
            crate::metrics::auth_failed();
            connack.code = code;
            let _ = codec.encode(Packet::ConnAck(Box::new(connack)), &mut wbuf);
            flush(&mut io, &mut wbuf, cfg.write_timeout).await;
            close(&mut io).await;
            return None;
        }
    };
    let mut client_id = connect.client_id.clone();
    if client_id.is_empty() {
        // The codec already refused an empty identifier without clean session; MQTT 3.1
        // (level 3) never allowed one.
        if connect.level == 3 {
            connack.code = V3_IDENTIFIER_REJECTED;
            let _ = codec.encode(Packet::ConnAck(Box::new(connack)), &mut wbuf);
            flush(&mut io, &mut wbuf, cfg.write_timeout).await;
            close(&mut io).await;
            return None;
        }
        client_id = format!("switchyard-{}", Uuid::new_v4().simple());
        if version == Version::V5 {
            connack.assigned_client_id = Some(client_id.clone());
        }
    }

    let keep_alive = match version {
        Version::V3 => connect.keep_alive,
        Version::V5 => {
            let max = cfg.keep_alive_max.max(1);
            if connect.keep_alive == 0 || connect.keep_alive > max {
                connack.server_keep_alive = Some(max);
                max
            } else {
                connect.keep_alive
            }
        }
    };
    let inflight_max = match connect.receive_max {
        Some(r) => usize::from(r.min(cfg.max_inflight)),
        None => usize::from(cfg.max_inflight),
    }
    .max(1);
    // How long the session outlives the connection: 3.1.1 without clean session, or
    // the v5 Session Expiry Interval, at most the configured maximum.
    let persist: Option<Duration> = match version {
        Version::V3 => (!connect.clean_start).then_some(cfg.session_expiry_max),
        Version::V5 => (connect.session_expiry > 0).then(|| {
            Duration::from_secs(u64::from(connect.session_expiry)).min(cfg.session_expiry_max)
        }),
    }
    .filter(|d| !d.is_zero());
    if version == Version::V5 {
        connack.max_packet_size = u32::try_from(cfg.max_packet_size).ok();
        connack.receive_max = Some(cfg.max_inbound_qos2.max(1));
        connack.session_expiry =
            Some(persist.map_or(0, |d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX)));
    }

    let key = (who.id, client_id.clone());
    let Registered {
        no: session_no,
        signals,
        previous,
        due_will,
    } = shared.register(key.clone(), connect.clean_start);
    if let Some((w_who, will)) = due_will {
        Box::pin(publish_will(&shared, &w_who, &client_id, will)).await;
    }
    let end_guard = EndGuard(signals.clone());
    let had_previous = previous.is_some();
    if let Some((prev_no, prev)) = previous {
        // The session taken over parks its state as it ends: wait for it (briefly; a
        // connection stuck writing is left behind, and told not to park).
        if tokio::time::timeout(Duration::from_secs(3), prev.wait())
            .await
            .is_err()
            && let Ok(mut a) = shared.abandoned.lock()
        {
            a.insert(prev_no);
        }
    }
    // Clean start discards a kept session; otherwise it is resumed: from this node, or
    // from the node that holds it.
    let local = shared.take_parked(&key);
    let had_local = had_previous || local.is_some();
    let mut resumed = local.filter(|_| !connect.clean_start);
    if !had_local && shared.core.is_distributed() {
        resumed = Box::pin(shared.claim_remote(&key, &who, connect.clean_start)).await;
    }
    // The session's row: this node holds a kept one now; one that ended goes.
    match persist {
        Some(expiry) => {
            let state = resumed.as_ref().map(Parked::state).unwrap_or_default();
            Box::pin(shared.write_through(&key, state, expiry, 0)).await;
        }
        None if had_local => Box::pin(shared.forget(&key)).await,
        None => {}
    }
    connack.session_present = resumed.is_some();

    if codec
        .encode(Packet::ConnAck(Box::new(connack)), &mut wbuf)
        .is_err()
        || !flush(&mut io, &mut wbuf, cfg.write_timeout).await
    {
        shared.unregister(&key, session_no);
        return None;
    }
    tracing::debug!(client = %who.id, client_id = %client_id, ?version, "mqtt: connected");
    crate::metrics::session(true, transport);

    let mut s = Session {
        shared: shared.clone(),
        codec,
        version,
        who,
        mqtt_id: client_id.clone(),
        credential,
        will: connect.will.clone().map(Box::new),
        subs: HashMap::new(),
        active: IdSet::default(),
        next_sub_id: 1,
        inflight: IdMap::default(),
        inflight_max,
        next_pid: 0,
        awaiting_rel: IdSet::default(),
        out_tx: None,
        new_out_rx: None,
        pending: None,
        slow: Arc::new(Notify::new()),
        client_max_packet: connect.max_packet_size.map(|m| m as usize),
        persist,
        delivered: 0,
        disconnect_expiry: None,
        wbuf,
    };
    if let Some(p) = resumed {
        s.subs = p.subs;
        s.active = p.active;
        s.next_sub_id = p.next_sub_id;
        s.out_tx = p.out;
        s.new_out_rx = p.out_rx;
        s.pending = (!p.queued.is_empty()).then(|| Box::new(Pending(p.queued.into())));
        s.slow = p.slow;
        // A forwarder that stopped on a full queue before the client left may have left
        // a slow-consumer permit: not this connection's doing (revalidate restarts it).
        let _ = s.slow.notified().now_or_never();
        s.next_pid = p.unacked.last().map_or(0, |(id, _)| *id);
        s.resend(p.unacked);
        Box::pin(s.revalidate()).await;
        tracing::debug!(client = %s.who.id, client_id = %client_id, "mqtt: session resumed");
    }
    // Nothing after CONNECT yet: the session loop starts with a small buffer of its own.
    if rbuf.is_empty() {
        rbuf = BytesMut::new();
    }
    Some(Box::new(Connected {
        io,
        rbuf,
        s,
        shutdown,
        revocations,
        keep_alive,
        session_no,
        end_guard,
        transport,
    }))
}

/// Answers a CONNECT the codec could not accept, when the protocol allows an answer.
async fn refuse_undecodable<S: AsyncWrite + Unpin>(
    io: &mut S,
    codec: &mut Codec,
    e: DecodeError,
    limit: Duration,
) {
    let mut buf = BytesMut::new();
    match (codec.version(), e) {
        (Some(Version::V3), DecodeError::InvalidClientId) => {
            let _ = codec.encode(
                Packet::ConnAck(Box::new(ConnAck {
                    code: V3_IDENTIFIER_REJECTED,
                    ..ConnAck::default()
                })),
                &mut buf,
            );
        }
        (Some(Version::V5), e) => {
            let code = match e {
                DecodeError::InvalidClientId => CLIENT_ID_INVALID,
                DecodeError::TooLarge => PACKET_TOO_LARGE,
                DecodeError::UnsupportedProtocol => PROTOCOL_ERROR,
                DecodeError::Malformed(_) => MALFORMED,
            };
            let _ = codec.encode(
                Packet::ConnAck(Box::new(ConnAck {
                    code,
                    ..ConnAck::default()
                })),
                &mut buf,
            );
        }
        _ => {}
    }
    flush(io, &mut buf, limit).await;
    close(io).await;
}

/// How a session authenticated; kept to re-authenticate after missed revocation notices.
enum Credential {
    /// The client secret (CONNECT password).
    Secret(String),
    /// A client certificate: its serial and common name.
    Cert { serial: String, common_name: String },
}

/// A CONNACK refusal: the v5 reason code, or the v3.1.1 return code.
fn refused(version: Version, v5: u8, v3: u8) -> u8 {
    if version == Version::V5 { v5 } else { v3 }
}

/// By the TLS client certificate (DER); the CONNECT username may be empty or the
/// certificate's client id, the password is ignored. Returns the CONNACK code on refusal.
async fn authenticate_cert(
    core: &Core,
    der: &[u8],
    c: &Connect,
    version: Version,
) -> Result<(ClientIdentity, Credential), u8> {
    if c.auth_method.is_some() {
        return Err(BAD_AUTH_METHOD);
    }
    match mtls::authenticate(core, der, c.username.as_deref()).await {
        Ok((who, serial)) => Ok((
            who,
            Credential::Cert {
                serial,
                common_name: who.id.to_string(),
            },
        )),
        Err(mtls::Refusal::NotAuthorized) => {
            Err(refused(version, NOT_AUTHORIZED, V3_NOT_AUTHORIZED))
        }
        Err(mtls::Refusal::Unavailable) => {
            Err(refused(version, SERVER_UNAVAILABLE, V3_SERVER_UNAVAILABLE))
        }
    }
}

/// Username = client id, password = client secret. Returns the CONNACK code on refusal.
async fn authenticate(
    core: &Core,
    c: &Connect,
    version: Version,
) -> Result<(ClientIdentity, Credential), u8> {
    if c.auth_method.is_some() {
        return Err(BAD_AUTH_METHOD);
    }
    let (Some(user), Some(pass)) = (c.username.as_deref(), c.password.as_ref()) else {
        return Err(refused(version, NOT_AUTHORIZED, V3_NOT_AUTHORIZED));
    };
    let Ok(secret) = std::str::from_utf8(pass) else {
        return Err(refused(version, BAD_CREDENTIALS, V3_BAD_CREDENTIALS));
    };
    match core.authenticate_client(user, secret).await {
        Ok(who) => Ok((who, Credential::Secret(secret.to_string()))),
        Err(CoreError::Internal(e)) => {
            tracing::warn!(error = %e, "mqtt: authentication failed internally");
            Err(refused(version, SERVER_UNAVAILABLE, V3_SERVER_UNAVAILABLE))
        }
        Err(_) => Err(refused(version, BAD_CREDENTIALS, V3_BAD_CREDENTIALS)),
    }
}

/// The outcome of an inbound publish, before it is mapped to a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Published,
    Refused,
    Failed,
}

/// An application message on its way in: a PUBLISH, or a will becoming one.
struct AppMessage {
    topic: String,
    payload: Bytes,
    qos: u8,
    retain: bool,
    props: Option<Arc<MessageProps>>,
}

impl From<Publish> for AppMessage {
    fn from(p: Publish) -> Self {
        AppMessage {
            topic: p.topic,
            payload: p.payload,
            qos: p.qos,
            retain: p.retain,
            props: p.props,
        }
    }
}

impl From<Will> for AppMessage {
    fn from(w: Will) -> Self {
        AppMessage {
            topic: w.topic,
            payload: w.payload,
            qos: w.qos,
            retain: w.retain,
            props: w.props,
        }
    }
}

async fn publish_to_core(
    shared: &Shared,
    who: &ClientIdentity,
    mqtt_id: &str,
    m: AppMessage,
) -> Outcome {
    let AppMessage {
        topic,
        payload,
        qos,
        retain,
        props,
    } = m;
    let Ok(t) = parse_topic(&topic, false) else {
        return Outcome::Refused;
    };
    let classify = |e: CoreError| match e {
        CoreError::Internal(e) => {
            tracing::warn!(error = %e, "mqtt: publish failed internally");
            Outcome::Failed
        }
        _ => Outcome::Refused,
    };
    // Retained messages are keyed by the resolved channel id, which publish does not
    // return: authorize first (answered from core's cache) to learn it.
    let channel = if retain {
        match shared
            .core
            .authorize(who, &t, ConnectionType::Publish)
            .await
        {
            Ok(ch) => Some(ch),
            Err(e) => return classify(e),
        }
    } else {
        None
    };
    let size = payload.len();
    match shared
        .core
        .publish(
            who,
            &t,
            "mqtt",
            payload.to_vec(),
            Origin {
                qos: Some(qos),
                mqtt_client: Some(mqtt_id),
                props: props.as_deref(),
                retain,
            },
        )
        .await
    {
        Ok(()) => {
            if let Some(ch) = channel
                && !shared
                    .retained
                    .set(who.domain, ch, &t.subtopic, payload, qos, props)
            {
                tracing::debug!(channel = %ch, "mqtt: retained store full, message not retained");
            }
            shared.meters.published(qos, size);
            Outcome::Published
        }
        Err(e) => classify(e),
    }
}

async fn publish_will(shared: &Shared, who: &ClientIdentity, mqtt_id: &str, w: Will) {
    let outcome = tokio::time::timeout(
        Duration::from_secs(5),
        publish_to_core(shared, who, mqtt_id, w.into()),
    )
    .await;
    tracing::debug!(client = %who.id, ?outcome, "mqtt: will message");
}

struct Session {
    shared: Arc<Shared>,
    codec: Codec,
    version: Version,
    who: ClientIdentity,
    /// The MQTT client identifier (as sent, or assigned).
    mqtt_id: String,
    /// Kept to re-authenticate after missed revocation notices.
    credential: Credential,
    /// Boxed: most connections have none.
    will: Option<Box<Will>>,
    /// Topic filter → subscription.
    subs: HashMap<String, SubEntry>,
    /// Ids of live subscriptions (queued deliveries of others are discarded).
    active: IdSet<u64>,
    next_sub_id: u64,
    /// QoS 1 messages sent and not yet acknowledged, by packet id.
    inflight: IdMap<u16, Unacked>,
    inflight_max: usize,
    next_pid: u16,
    /// Inbound QoS 2 packet ids waiting for PUBREL.
    awaiting_rel: IdSet<u16>,
    /// The bounded outbound queue, made at the first SUBSCRIBE: a connection that
    /// never subscribes does not pay for its first block of slots.
    out_tx: Option<Outbound>,
    /// The receiving end of a queue just made, for the main loop to take.
    new_out_rx: Option<mpsc::Receiver<Delivery>>,
    /// Resumed: what was taken out of the queue when the client left, sent first.
    pending: Option<Box<Pending>>,
    slow: Arc<Notify>,
    client_max_packet: Option<usize>,
    /// How long the session outlives the connection (as CONNECT asked).
    persist: Option<Duration>,
    /// Messages written so far (for sampling the delivery latency).
    delivered: u64,
    /// v5: the Session Expiry Interval the client's DISCONNECT set, seconds.
    disconnect_expiry: Option<u32>,
    wbuf: BytesMut,
}

impl Session {
    fn v5(&self) -> bool {
        self.version == Version::V5
    }

    /// The outbound queue's sending side, making the queue on first use.
    fn out_tx(&mut self) -> Outbound {
        if let Some(out) = &self.out_tx {
            return out.clone();
        }
        let away = self.persist.and_then(|_| {
            self.shared
                .away_log(&(self.who.id, self.mqtt_id.clone()), 0)
        });
        let (out, rx) = new_outbound(&self.shared.cfg, away);
        self.out_tx = Some(out.clone());
        self.new_out_rx = Some(rx);
        out
    }

    #[allow(clippy::too_many_arguments)]
    async fn main_loop<S>(
        &mut self,
        io: &mut S,
        rbuf: &mut BytesMut,
        mut revocations: Option<broadcast::Receiver<Revocation>>,
        signals: Arc<Signals>,
        shutdown: &Option<CancellationToken>,
        keep_alive: u16,
    ) -> End
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        // The client must send something within 1.5 × keep-alive.
        let grace = (keep_alive > 0).then(|| Duration::from_millis(u64::from(keep_alive) * 1500));
        let far = Duration::from_secs(86_400 * 365);
        let ka = tokio::time::sleep(grace.unwrap_or(far));
        tokio::pin!(ka);
        let slow = self.slow.clone();
        let write_timeout = self.shared.cfg.write_timeout;
        let mut out_rx: Option<mpsc::Receiver<Delivery>> = None;
        let mut room_to_read = ReadRoom::default();
        let mut last_publish: Option<Instant> = None;
        // Packets that arrived together with CONNECT.
        if let Err(end) = Box::pin(self.process(io, rbuf)).await {
            return end;
        }
        let end = 'main: loop {
            if out_rx.is_none() {
                out_rx = self.new_out_rx.take();
            }
            let room = self.inflight.len() < self.inflight_max;
            room_to_read.prepare(rbuf);
            tokio::select! {
                biased;
                r = recv_revocation(&mut revocations) => {
                    match r {
                        Ok(rev) => {
                            if let Some(end) = Box::pin(self.on_revocation(rev)).await {
                                break 'main end;
                            }
                        }
                        Err(broadcast::error::RecvError::Lagged(_)) => {
                            if let Some(end) = Box::pin(self.recheck_all()).await {
                                break 'main end;
                            }
                        }
                        Err(broadcast::error::RecvError::Closed) => revocations = None,
                    }
                }
                _ = signals.taken_over.notified() => break 'main End::TakenOver,
                _ = slow.notified() => break 'main End::SlowConsumer,
                _ = wait_shutdown(shutdown) => break 'main End::Shutdown,
                _ = &mut ka => break 'main End::KeepAlive,
                r = io.read_buf(rbuf) => {
                    match r {
                        Ok(0) | Err(_) => break 'main End::Closed,
                        Ok(n) => {
                            let mut full = room_to_read.after_read(n);
                            // A read that filled the room may have left the rest of a
                            // packet behind: taken now, so a packet larger than an idle
                            // connection's room is not handled a wake-up later.
                            for _ in 0..4 {
                                if !full {
                                    break;
                                }
                                room_to_read.prepare(rbuf);
                                match io.read_buf(rbuf).now_or_never() {
                                    Some(Ok(n)) if n > 0 => full = room_to_read.after_read(n),
                                    // Nothing more yet, or the end: the next read sees it.
                                    _ => break,
                                }
                            }
                        }
                    }
                    // A PUBLISH after a quiet spell goes after what other connections
                    // sent at the same time: of tasks woken together the runtime runs the
                    // last one first, and a SUBSCRIBE sent just before this PUBLISH must
                    // take effect first. A steady stream of publishes does not wait.
                    let now = Instant::now();
                    if rbuf.first().is_some_and(|b| b >> 4 == 3) {
                        if last_publish.is_none_or(|t| now.duration_since(t) >= QUIET) {
                            tokio::task::yield_now().await;
                        }
                        last_publish = Some(now);
                    }
                    if let Some(g) = grace {
                        ka.as_mut().reset(now + g);
                    }
                    if let Err(end) = Box::pin(self.process(io, rbuf)).await {
                        break 'main end;
                    }
                }
                d = recv_delivery(&mut self.pending, &mut out_rx), if room => {
                    let Some(d) = d else { break 'main End::Closed };
                    if let Some(rx) = out_rx.as_ref() {
                        self.shared.queue_depth.record((rx.len() + 1) as f64);
                    }
                    self.deliver(d);
                    // Batch what is already queued into one write.
                    if let Some(rx) = out_rx.as_mut() {
                        for _ in 0..64 {
                            if self.inflight.len() >= self.inflight_max {
                                break;
                            }
                            match take_pending(&mut self.pending).ok_or(()).or_else(|()| rx.try_recv()) {
                                Ok(d) => self.deliver(d),
                                Err(_) => break,
                            }
                        }
                    }
                    if !flush(io, &mut self.wbuf, write_timeout).await {
                        break 'main End::Closed;
                    }
                }
            }
        };
        // What a persistent session keeps: the queue's receiving end goes back.
        if out_rx.is_some() {
            self.new_out_rx = out_rx;
        }
        end
    }

    /// Handles every whole packet in `rbuf`, then writes the replies.
    async fn process<S: AsyncWrite + Unpin>(
        &mut self,
        io: &mut S,
        rbuf: &mut BytesMut,
    ) -> Result<(), End> {
        let write_timeout = self.shared.cfg.write_timeout;
        loop {
            match self.codec.decode(rbuf) {
                Ok(Some(p)) => {
                    if let Err(end) = self.on_packet(p).await {
                        flush(io, &mut self.wbuf, write_timeout).await;
                        return Err(end);
                    }
                }
                Ok(None) => break,
                Err(DecodeError::TooLarge) => return Err(End::Protocol(PACKET_TOO_LARGE)),
                Err(_) => return Err(End::Protocol(MALFORMED)),
            }
        }
        if flush(io, &mut self.wbuf, write_timeout).await {
            Ok(())
        } else {
            Err(End::Closed)
        }
    }

    fn send(&mut self, p: Packet) {
        if let Err(e) = self.codec.encode(p, &mut self.wbuf) {
            tracing::warn!(error = %e.0, "mqtt: cannot encode a reply");
        }
    }

    fn alloc_pid(&mut self) -> Option<NonZeroU16> {
        for _ in 0..=u16::MAX {
            self.next_pid = self.next_pid.wrapping_add(1);
            if let Some(id) = NonZeroU16::new(self.next_pid)
                && !self.inflight.contains_key(&id.get())
            {
                return Some(id);
            }
        }
        None
    }

    fn deliver(&mut self, d: Delivery) {
        if !self.active.contains(&d.sub_id) {
            return;
        }
        self.write_message(d);
    }

    /// Encodes one message for the client (QoS 1 with a packet id, kept until acked).
    fn write_message(&mut self, d: Delivery) {
        if d.topic.len() + d.payload.len() + 64 > MQTT_MAX_REMAINING {
            count_drop("too_large");
            return;
        }
        // v5 Message Expiry: a message that waited past it is not sent [MQTT-3.3.2-5].
        // Wall-clock time, as the codec used to compute when it expires.
        if d.props
            .as_ref()
            .and_then(|p| p.expiry_left(crate::packet::unix_now()))
            == Some(0)
        {
            count_drop("expired");
            return;
        }
        let qos = d.qos.min(2);
        let packet_id = if qos > 0 {
            match self.alloc_pid() {
                Some(id) => Some(id),
                None => return,
            }
        } else {
            None
        };
        let before = self.wbuf.len();
        let kept = packet_id.map(|_| Unacked {
            topic: d.topic.clone(),
            payload: d.payload.clone(),
            retain: d.retain,
            props: d.props.clone(),
            qos,
            ident: d.ident,
            released: false,
        });
        let p = Publish {
            topic: d.topic,
            payload: d.payload,
            qos,
            retain: d.retain,
            dup: false,
            packet_id,
            topic_alias: None,
            props: d.props,
            subscription_id: d.ident,
        };
        if self
            .codec
            .encode(Packet::Publish(Box::new(p)), &mut self.wbuf)
            .is_err()
        {
            self.wbuf.truncate(before);
            return;
        }
        // A v5 client's Maximum Packet Size: the message is discarded for this client.
        if self
            .client_max_packet
            .is_some_and(|m| self.wbuf.len() - before > m)
        {
            self.wbuf.truncate(before);
            count_drop("client_max_packet_size");
            return;
        }
        self.shared.meters.delivered(qos, self.wbuf.len() - before);
        // The latency of one delivery in LATENCY_SAMPLE: enough for its distribution,
        // without a histogram sample (and a clock read) per message at full rate.
        self.delivered = self.delivered.wrapping_add(1);
        if d.created > 0 && self.delivered % LATENCY_SAMPLE == 1 {
            let now = self.shared.core.now().unix_timestamp_nanos();
            self.shared.meters.delivered_after(now, d.created);
        }
        if let (Some(id), Some(k)) = (packet_id, kept) {
            self.inflight.insert(id.get(), k);
        }
    }

    /// Sends again, with DUP set, what the previous connection of a resumed session
    /// had not had acknowledged; for a QoS 2 message already received, the PUBREL.
    fn resend(&mut self, unacked: Vec<(u16, Unacked)>) {
        for (id, u) in unacked {
            let Some(pid) = NonZeroU16::new(id) else {
                continue;
            };
            if u.released {
                self.send(Packet::PubRel {
                    packet_id: pid,
                    code: 0,
                });
                self.inflight.insert(id, u);
                continue;
            }
            let p = Publish {
                topic: u.topic.clone(),
                payload: u.payload.clone(),
                qos: u.qos,
                retain: u.retain,
                dup: true,
                packet_id: Some(pid),
                topic_alias: None,
                props: u.props.clone(),
                subscription_id: u.ident,
            };
            if self
                .codec
                .encode(Packet::Publish(Box::new(p)), &mut self.wbuf)
                .is_ok()
            {
                self.inflight.insert(id, u);
            }
        }
    }

    /// After a resume: drops subscriptions whose channel the client may no longer
    /// read, and subscribes again those whose forwarder stopped while it was away.
    async fn revalidate(&mut self) {
        let channels: HashSet<Uuid> = self.subs.values().map(|e| e.channel).collect();
        for ch in channels {
            self.recheck_channel(ch).await;
        }
        let broken: Vec<SubscribeFilter> = self
            .subs
            .iter()
            .filter(|(_, e)| e.broken())
            .map(|(f, e)| SubscribeFilter {
                filter: f.clone(),
                qos: e.granted,
                no_local: e.no_local,
                retain_handling: 2,
                retain_as_published: e.rap,
                id: e.ident,
            })
            .collect();
        for f in broken {
            let mut retained = Vec::new();
            self.subscribe(f, &mut retained).await;
        }
    }

    /// A kept session's row follows its subscriptions, so another node (or this one
    /// after a crash) that takes it over gets them.
    async fn write_through(&mut self) {
        if let Some(expiry) = self.persist {
            let state = stored_state(&self.subs, &[]);
            let key = (self.who.id, self.mqtt_id.clone());
            let shared = self.shared.clone();
            Box::pin(async move { shared.write_through(&key, state, expiry, 0).await }).await;
        }
    }

    /// Moves what a persistent session keeps out of this connection's session.
    fn take_parked_state(&mut self, no: u64) -> Parked {
        let mut unacked: Vec<(u16, Unacked)> = self.inflight.drain().collect();
        unacked.sort_by_key(|(id, _)| *id);
        Parked {
            no,
            subs: std::mem::take(&mut self.subs),
            active: std::mem::take(&mut self.active),
            next_sub_id: self.next_sub_id,
            out: self.out_tx.take(),
            out_rx: self.new_out_rx.take(),
            queued: self
                .pending
                .take()
                .map(|q| Vec::from(q.0))
                .unwrap_or_default(),
            slow: self.slow.clone(),
            unacked,
            deadline: Instant::now(),
            _expiry: Forwarder(tokio::spawn(async {})),
        }
    }

    /// A PUBACK (QoS 1) or PUBCOMP (QoS 2) ends the exchange of an in-flight message of
    /// that QoS; an acknowledgement of the wrong kind or of an unknown id is ignored.
    fn delivered(&mut self, id: u16, qos: u8) {
        if self.inflight.get(&id).is_some_and(|u| u.qos == qos) {
            self.inflight.remove(&id);
        }
    }

    async fn on_packet(&mut self, p: Packet) -> Result<(), End> {
        match p {
            Packet::Publish(p) => self.on_publish(*p).await,
            Packet::PubAck { packet_id, .. } => {
                self.delivered(packet_id.get(), 1);
                Ok(())
            }
            // QoS 2 towards the client: PUBREC → our PUBREL → PUBCOMP ends it.
            Packet::PubRec { packet_id, code } => {
                let id = packet_id.get();
                match self.inflight.get_mut(&id) {
                    Some(u) if u.qos == 2 && code >= 0x80 => {
                        // v5: the client refused it; the exchange ends here.
                        self.inflight.remove(&id);
                    }
                    Some(u) if u.qos == 2 => {
                        u.released = true;
                        self.send(Packet::PubRel { packet_id, code: 0 });
                    }
                    _ => {
                        let code = if self.v5() { PACKET_ID_NOT_FOUND } else { 0 };
                        self.send(Packet::PubRel { packet_id, code });
                    }
                }
                Ok(())
            }
            Packet::PubComp { packet_id, .. } => {
                self.delivered(packet_id.get(), 2);
                Ok(())
            }
            Packet::PubRel { packet_id, .. } => {
                let known = self.awaiting_rel.remove(&packet_id.get());
                let code = if known || !self.v5() {
                    0
                } else {
                    PACKET_ID_NOT_FOUND
                };
                self.send(Packet::PubComp { packet_id, code });
                Ok(())
            }
            Packet::Subscribe { packet_id, filters } => {
                let mut codes = Vec::with_capacity(filters.len());
                let mut retained = Vec::new();
                for f in filters {
                    codes.push(self.subscribe(f, &mut retained).await);
                }
                self.write_through().await;
                self.send(Packet::SubAck { packet_id, codes });
                // After the SUBACK: queued, so they go out once it is written.
                if !retained.is_empty() {
                    let out = self.out_tx();
                    for d in retained {
                        if out.tx.try_send(d).is_err() {
                            count_drop("slow_consumer");
                        }
                    }
                }
                Ok(())
            }
            Packet::Unsubscribe { packet_id, filters } => {
                let mut codes = Vec::with_capacity(filters.len());
                for f in filters {
                    let existed = match self.subs.remove(&f) {
                        Some(e) => {
                            self.active.remove(&e.sub_id);
                            true
                        }
                        None => false,
                    };
                    codes.push(if existed { 0 } else { NO_SUBSCRIPTION_EXISTED });
                }
                self.write_through().await;
                self.send(Packet::UnsubAck { packet_id, codes });
                Ok(())
            }
            Packet::PingReq => {
                self.send(Packet::PingResp);
                Ok(())
            }
            Packet::Disconnect {
                code,
                session_expiry,
            } => {
                // v5: a new Session Expiry Interval; from 0 to more is not allowed
                // [MQTT-3.14.2-2].
                if let Some(e) = session_expiry {
                    if e > 0 && self.persist.is_none() {
                        return Err(End::Protocol(PROTOCOL_ERROR));
                    }
                    self.disconnect_expiry = Some(e);
                }
                Err(End::ClientDisconnect {
                    will: self.v5() && code == DISCONNECT_WITH_WILL,
                })
            }
            // A second CONNECT, AUTH (enhanced authentication is not offered), or a
            // server-to-client packet.
            Packet::Connect(_)
            | Packet::Auth
            | Packet::ConnAck(_)
            | Packet::SubAck { .. }
            | Packet::UnsubAck { .. }
            | Packet::PingResp => Err(End::Protocol(PROTOCOL_ERROR)),
        }
    }

    async fn on_publish(&mut self, p: Publish) -> Result<(), End> {
        if p.topic_alias.is_some() {
            // We announce Topic Alias Maximum 0.
            return Err(End::Protocol(TOPIC_ALIAS_INVALID));
        }
        let v5 = self.v5();
        let pid = p.packet_id;
        if p.qos == 2 {
            let Some(id) = pid else {
                return Err(End::Protocol(PROTOCOL_ERROR));
            };
            if self.awaiting_rel.contains(&id.get()) {
                // A resend before PUBREL: already published once.
                self.send(Packet::PubRec {
                    packet_id: id,
                    code: 0,
                });
                return Ok(());
            }
            if self.awaiting_rel.len() >= usize::from(self.shared.cfg.max_inbound_qos2.max(1)) {
                return Err(End::Protocol(RECEIVE_MAX_EXCEEDED));
            }
        }
        let qos = p.qos;
        let outcome = publish_to_core(&self.shared, &self.who, &self.mqtt_id, p.into()).await;
        let code = match outcome {
            Outcome::Published => 0,
            Outcome::Refused if v5 => {
                crate::metrics::denied("publish");
                NOT_AUTHORIZED
            }
            // v3 cannot say no: the message is dropped and still acknowledged.
            Outcome::Refused => {
                crate::metrics::denied("publish");
                0
            }
            Outcome::Failed if v5 => UNSPECIFIED,
            // v3 cannot report a failure: close without acknowledging, so the client
            // sends it again after reconnecting.
            Outcome::Failed => return Err(End::Closed),
        };
        match (qos, pid) {
            (1, Some(id)) => self.send(Packet::PubAck {
                packet_id: id,
                code,
            }),
            (2, Some(id)) => {
                if code < 0x80 {
                    self.awaiting_rel.insert(id.get());
                }
                self.send(Packet::PubRec {
                    packet_id: id,
                    code,
                });
            }
            _ => {}
        }
        Ok(())
    }

    /// Subscribes one filter; returns its SUBACK code and queues its retained messages.
    async fn subscribe(&mut self, f: SubscribeFilter, retained: &mut Vec<Delivery>) -> u8 {
        let v5 = self.v5();
        let fail = if v5 { NOT_AUTHORIZED } else { V3_SUB_FAILURE };
        let is_new = !self.subs.contains_key(&f.filter);
        if is_new && self.subs.len() >= self.shared.cfg.max_subscriptions {
            return if v5 { QUOTA_EXCEEDED } else { V3_SUB_FAILURE };
        }
        let Subscribed {
            channel,
            bus: bus_subs,
            topic,
            shared,
        } = match subscribe_filter(&self.shared.core, &self.who, &f.filter).await {
            Ok(x) => x,
            Err(SubFail::Internal) => return if v5 { UNSPECIFIED } else { V3_SUB_FAILURE },
            Err(SubFail::Refused) => {
                crate::metrics::denied("subscribe");
                return fail;
            }
        };
        let granted = f.qos.min(2);
        // Subscribing again to a filter keeps its id, so what is already queued for it
        // (a resumed session's messages) is still delivered.
        let sub_id = match self.subs.get(&f.filter) {
            Some(e) => e.sub_id,
            None => {
                self.next_sub_id += 1;
                self.next_sub_id - 1
            }
        };
        let opts = SubOpts {
            granted,
            // No Local has no meaning on a shared subscription [MQTT-3.8.3-4].
            skip_publisher: (f.no_local && !shared).then(|| self.mqtt_id.clone()),
            rap: f.retain_as_published,
            ident: f.id,
        };
        let out = self.out_tx();
        let tasks = spawn_forwarders(
            bus_subs,
            &out,
            &self.slow,
            sub_id,
            &opts,
            self.shared.cfg.subscriber_wait,
        );
        if let Some(old) = self.subs.insert(
            f.filter.clone(),
            SubEntry {
                channel,
                sub_id,
                granted,
                no_local: f.no_local,
                rap: f.retain_as_published,
                ident: f.id,
                _tasks: tasks,
            },
        ) {
            self.active.remove(&old.sub_id);
        }
        self.active.insert(sub_id);
        // Retained messages are not sent to a new shared subscription (MQTT 5 §4.8.2).
        if !shared && (f.retain_handling == 0 || (f.retain_handling == 1 && is_new)) {
            retained.extend(
                self.shared
                    .retained
                    .matching(channel, &topic.subtopic)
                    .into_iter()
                    .map(|m| Delivery {
                        sub_id,
                        topic: m.topic,
                        payload: m.payload,
                        qos: granted.min(m.qos),
                        retain: true,
                        props: m.props,
                        ident: f.id,
                        created: 0,
                        _bytes: None,
                    }),
            );
        }
        granted
    }

    fn drop_channel(&mut self, channel: Uuid) {
        let active = &mut self.active;
        self.subs.retain(|_, e| {
            let keep = e.channel != channel;
            if !keep {
                active.remove(&e.sub_id);
            }
            keep
        });
    }

    async fn recheck_channel(&mut self, channel: Uuid) {
        if !self.subs.values().any(|e| e.channel == channel) {
            return;
        }
        if !self
            .shared
            .core
            .still_allowed(&self.who, channel, ConnectionType::Subscribe)
            .await
        {
            tracing::debug!(client = %self.who.id, %channel, "mqtt: subscription revoked");
            self.drop_channel(channel);
        }
    }

    async fn on_revocation(&mut self, r: Revocation) -> Option<End> {
        match r {
            Revocation::Client(id) if id == self.who.id => Some(End::Revoked),
            Revocation::Domain(d) if d == self.who.domain => Some(End::Revoked),
            Revocation::Connection {
                client,
                channel,
                kind: ConnectionType::Subscribe,
            } if client == self.who.id => {
                self.recheck_channel(channel).await;
                None
            }
            Revocation::Channel(channel) => {
                self.recheck_channel(channel).await;
                None
            }
            _ => None,
        }
    }

    /// After missed notices: re-authenticate, then re-check every subscribed channel.
    async fn recheck_all(&mut self) -> Option<End> {
        let core = &self.shared.core;
        match &self.credential {
            Credential::Secret(secret) => {
                match core
                    .authenticate_client(&self.who.id.to_string(), secret)
                    .await
                {
                    Ok(_) | Err(CoreError::Internal(_)) => {}
                    Err(_) => return Some(End::Revoked),
                }
            }
            Credential::Cert {
                serial,
                common_name,
            } => match mtls::check(core, serial, common_name, None).await {
                Ok(_) | Err(mtls::Refusal::Unavailable) => {}
                Err(mtls::Refusal::NotAuthorized) => return Some(End::Revoked),
            },
        }
        let channels: HashSet<Uuid> = self.subs.values().map(|e| e.channel).collect();
        for ch in channels {
            self.recheck_channel(ch).await;
        }
        None
    }
}
