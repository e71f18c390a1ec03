//! The bus: change events and (later) messages travel on subjects with NATS's rules
//! (`.`-separated tokens, `*` one token, `>` the rest). `LocalBus` keeps one process's
//! subscribers in memory with exactly those rules, so behaviour does not change when a
//! deployment moves to NATS.

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

/// Per-subscriber queue length.
pub const SUBSCRIBER_QUEUE: usize = 4096;

/// How long a publish waits for room in a full subscriber queue by default (see
/// [`Outlet`]).
pub const DEFAULT_PATIENCE: Duration = Duration::from_secs(2);

/// Counts a message that did not reach a subscriber, by reason, in `/metrics`.
pub fn count_drop(reason: &'static str) {
    metrics::counter!("switchyard_messages_dropped_total", "reason" => reason).increment(1);
}

/// The sending end of one subscriber's bounded queue, with the flow-control policy
/// every hop of the message plane follows: when the queue is full the sender waits
/// for room (so a fast publisher is slowed to the pace of its subscribers, down to
/// TCP back-pressure on its socket) for at most `patience`; past that the message is
/// dropped and counted, and the queue is marked stalled, so later messages to it are
/// dropped at once instead of making every publisher wait again, until it has room.
pub struct Outlet<T> {
    tx: mpsc::Sender<T>,
    stalled: AtomicBool,
}

/// What became of a message handed to an [`Outlet`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    Queued,
    /// The queue stayed full for the whole wait, or was already stalled.
    Dropped,
    /// The receiver is gone.
    Closed,
}

impl<T> Outlet<T> {
    pub fn new(tx: mpsc::Sender<T>) -> Outlet<T> {
        Outlet {
            tx,
            stalled: AtomicBool::new(false),
        }
    }

    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Queues `item` if there is room now; otherwise hands it back, unless the queue is
    /// stalled (then it is dropped).
    pub fn try_send(&self, item: T) -> Result<Sent, T> {
        match self.tx.try_send(item) {
            Ok(()) => {
                // Read first: a store on every message would bounce the cache line
                // between the publishers' threads.
                if self.stalled.load(Ordering::Relaxed) {
                    self.stalled.store(false, Ordering::Relaxed);
                }
                Ok(Sent::Queued)
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Ok(Sent::Closed),
            Err(mpsc::error::TrySendError::Full(_)) if self.stalled.load(Ordering::Relaxed) => {
                Ok(Sent::Dropped)
            }
            Err(mpsc::error::TrySendError::Full(item)) => Err(item),
        }
    }

    /// Queues `item`, waiting at most `patience` for room.
    pub async fn send(&self, item: T, patience: Duration) -> Sent {
        let item = match self.try_send(item) {
            Ok(sent) => return sent,
            Err(item) => item,
        };
        match self.tx.send_timeout(item, patience).await {
            Ok(()) => Sent::Queued,
            Err(mpsc::error::SendTimeoutError::Timeout(_)) => {
                self.stalled.store(true, Ordering::Relaxed);
                Sent::Dropped
            }
            Err(mpsc::error::SendTimeoutError::Closed(_)) => Sent::Closed,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusMessage {
    pub subject: String,
    pub payload: Vec<u8>,
}

pub struct Subscription {
    pub rx: mpsc::Receiver<BusMessage>,
}

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("bus: {0}")]
    Other(String),
}

#[async_trait]
pub trait MessageBus: Send + Sync {
    async fn publish(&self, subject: &str, payload: Vec<u8>) -> Result<(), BusError>;
    async fn subscribe(&self, pattern: &str) -> Result<Subscription, BusError>;
    /// A subscription in a queue group: each message matching `pattern` goes to one
    /// member of the group (NATS queue groups; MQTT 5 shared subscriptions).
    async fn subscribe_queue(&self, pattern: &str, group: &str) -> Result<Subscription, BusError>;
    fn kind(&self) -> &'static str;
}

/// NATS subject matching: `*` matches one token, `>` one or more trailing tokens.
pub fn subject_matches(pattern: &str, subject: &str) -> bool {
    let mut p = pattern.split('.');
    let mut s = subject.split('.');
    loop {
        match (p.next(), s.next()) {
            (Some(">"), Some(_)) => return true,
            (Some("*"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

struct Sub {
    pattern: String,
    out: Arc<Outlet<BusMessage>>,
    /// A queue group: one member of the group with this pattern gets each message.
    group: Option<String>,
}

/// Tokens of a subject that index the subscriptions: `m.<domain>.c.<channel>`, the
/// channel of a message topic.
const KEY_TOKENS: usize = 4;

/// The subscriptions, indexed so that a publish looks only at those that can match:
/// a pattern whose first [`KEY_TOKENS`] tokens (or all of them, if fewer) are literal
/// sits under those tokens; any other pattern (`events.>`, `m.*.c.x`) is in `wild`
/// and is checked on every publish.
#[derive(Default)]
struct Subs {
    by_key: HashMap<String, Vec<Sub>>,
    wild: Vec<Sub>,
    /// Each queue group's turn, by (pattern, group): the next member to get a message.
    turns: HashMap<(String, String), usize>,
    /// Size of `turns` after its last pruning.
    turns_pruned: usize,
}

/// The index key of a pattern, or None when a wildcard comes before its end.
fn pattern_key(pattern: &str) -> Option<&str> {
    let key = subject_key(pattern);
    (!key.split('.').any(|t| t == "*" || t == ">")).then_some(key)
}

/// The first [`KEY_TOKENS`] tokens of a subject (all of it if it has fewer).
fn subject_key(subject: &str) -> &str {
    match subject.match_indices('.').nth(KEY_TOKENS - 1) {
        Some((i, _)) => &subject[..i],
        None => subject,
    }
}

#[derive(Clone)]
pub struct LocalBus {
    subs: Arc<Mutex<Subs>>,
    dropped: Arc<AtomicU64>,
    patience: Duration,
}

impl Default for LocalBus {
    fn default() -> Self {
        LocalBus::with_patience(DEFAULT_PATIENCE)
    }
}

impl LocalBus {
    pub fn new() -> LocalBus {
        LocalBus::default()
    }

    /// A bus whose publishes wait at most `patience` for a full subscriber queue.
    pub fn with_patience(patience: Duration) -> LocalBus {
        LocalBus {
            subs: Arc::default(),
            dropped: Arc::default(),
            patience,
        }
    }

    /// Messages dropped because a subscriber's queue stayed full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn drop_one(&self) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
        count_drop("bus_queue_full");
    }
}

/// Offers `subject` to the matching subscriptions of `list` without waiting; the full
/// ones are returned with their message, to be waited for outside the lock.
fn offer(
    list: &mut Vec<Sub>,
    subject: &str,
    payload: &[u8],
    turns: &mut HashMap<(String, String), usize>,
    full: &mut Vec<(Arc<Outlet<BusMessage>>, BusMessage)>,
) -> u64 {
    list.retain(|s| !s.out.is_closed());
    let mut dropped = 0;
    // Queue groups: of the members of (pattern, group) that match, the `turn`-th one.
    let mut groups: HashMap<(&str, &str), Vec<usize>> = HashMap::new();
    for (i, s) in list.iter().enumerate() {
        if let Some(g) = &s.group
            && subject_matches(&s.pattern, subject)
        {
            groups.entry((&s.pattern, g)).or_default().push(i);
        }
    }
    let mut chosen = HashSet::new();
    for ((pattern, group), members) in &groups {
        let turn = turns
            .entry(((*pattern).to_string(), (*group).to_string()))
            .or_insert(0);
        if let Some(i) = members.get(*turn % members.len()) {
            chosen.insert(*i);
        }
        *turn = turn.wrapping_add(1);
    }
    for (_, s) in list.iter().enumerate().filter(|(i, s)| {
        subject_matches(&s.pattern, subject) && (s.group.is_none() || chosen.contains(i))
    }) {
        let msg = BusMessage {
            subject: subject.to_string(),
            payload: payload.to_vec(),
        };
        match s.out.try_send(msg) {
            Ok(Sent::Dropped) => dropped += 1,
            Ok(_) => {}
            Err(msg) => full.push((s.out.clone(), msg)),
        }
    }
    dropped
}

#[async_trait]
impl MessageBus for LocalBus {
    async fn publish(&self, subject: &str, payload: Vec<u8>) -> Result<(), BusError> {
        let mut full = Vec::new();
        let dropped = {
            let mut subs = self
                .subs
                .lock()
                .map_err(|e| BusError::Other(e.to_string()))?;
            let key = subject_key(subject);
            let Subs {
                by_key,
                wild,
                turns,
                ..
            } = &mut *subs;
            let mut dropped = 0;
            if let Some(list) = by_key.get_mut(key) {
                dropped += offer(list, subject, &payload, turns, &mut full);
                if list.is_empty() {
                    by_key.remove(key);
                }
            }
            dropped + offer(wild, subject, &payload, turns, &mut full)
        };
        for _ in 0..dropped {
            self.drop_one();
        }
        for (out, msg) in full {
            if out.send(msg, self.patience).await == Sent::Dropped {
                self.drop_one();
            }
        }
        Ok(())
    }

    async fn subscribe(&self, pattern: &str) -> Result<Subscription, BusError> {
        self.add(pattern, None)
    }

    async fn subscribe_queue(&self, pattern: &str, group: &str) -> Result<Subscription, BusError> {
        self.add(pattern, Some(group.to_string()))
    }

    fn kind(&self) -> &'static str {
        "local"
    }
}

impl LocalBus {
    fn add(&self, pattern: &str, group: Option<String>) -> Result<Subscription, BusError> {
        let (tx, rx) = mpsc::channel(SUBSCRIBER_QUEUE);
        let sub = Sub {
            pattern: pattern.to_string(),
            out: Arc::new(Outlet::new(tx)),
            group,
        };
        let mut subs = self
            .subs
            .lock()
            .map_err(|e| BusError::Other(e.to_string()))?;
        match pattern_key(pattern) {
            Some(key) => {
                let list = subs.by_key.entry(key.to_string()).or_default();
                // Subscriptions whose receiver is gone, on a key nobody publishes to.
                list.retain(|s| !s.out.is_closed());
                list.push(sub);
            }
            None => {
                subs.wild.retain(|s| !s.out.is_closed());
                subs.wild.push(sub);
            }
        }
        // Turns of groups nobody is in any more: dropped now and then (amortized, when
        // the map has doubled), so the map stays as large as the live groups.
        if subs.turns.len() > TURNS_PRUNE_AT.max(subs.turns_pruned * 2) {
            let live: HashSet<(String, String)> = subs
                .by_key
                .values()
                .flatten()
                .chain(&subs.wild)
                .filter(|s| !s.out.is_closed())
                .filter_map(|s| Some((s.pattern.clone(), s.group.clone()?)))
                .collect();
            subs.turns.retain(|k, _| live.contains(k));
            subs.turns_pruned = subs.turns.len();
        }
        Ok(Subscription { rx })
    }
}

/// Queue-group turns kept before the first pruning.
const TURNS_PRUNE_AT: usize = 1024;

/// A change event: something in the model was created, updated or removed.
/// Published as JSON on `events.<entity>.<operation>`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Event {
    pub entity: String,
    pub operation: String,
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    pub at: String,
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub data: serde_json::Value,
}

impl Event {
    pub fn subject(&self) -> String {
        format!("events.{}.{}", self.entity, self.operation)
    }
}

/// The bus on NATS: same subjects, same wildcard rules, shared by every `serve`
/// process pointed at the same server.
pub struct NatsBus {
    client: async_nats::Client,
    patience: Duration,
}

impl NatsBus {
    pub async fn connect(url: &str) -> Result<NatsBus, BusError> {
        let client = async_nats::ConnectOptions::new()
            .name("switchyard")
            .connect(url)
            .await
            .map_err(|e| BusError::Other(format!("cannot connect to {url}: {e}")))?;
        Ok(NatsBus {
            client,
            patience: DEFAULT_PATIENCE,
        })
    }

    /// How long a subscription waits for room in its full queue before dropping.
    pub fn with_patience(mut self, patience: Duration) -> NatsBus {
        self.patience = patience;
        self
    }
}

#[async_trait]
impl MessageBus for NatsBus {
    async fn publish(&self, subject: &str, payload: Vec<u8>) -> Result<(), BusError> {
        self.client
            .publish(subject.to_string(), payload.into())
            .await
            .map_err(|e| BusError::Other(e.to_string()))
    }

    async fn subscribe(&self, pattern: &str) -> Result<Subscription, BusError> {
        let sub = self
            .client
            .subscribe(pattern.to_string())
            .await
            .map_err(|e| BusError::Other(e.to_string()))?;
        Ok(self.pump(sub))
    }

    async fn subscribe_queue(&self, pattern: &str, group: &str) -> Result<Subscription, BusError> {
        let sub = self
            .client
            .queue_subscribe(pattern.to_string(), group.to_string())
            .await
            .map_err(|e| BusError::Other(e.to_string()))?;
        Ok(self.pump(sub))
    }

    fn kind(&self) -> &'static str {
        "nats"
    }
}

impl NatsBus {
    fn pump(&self, mut sub: async_nats::Subscriber) -> Subscription {
        use futures::StreamExt;
        let (tx, rx) = mpsc::channel(SUBSCRIBER_QUEUE);
        let out = Outlet::new(tx);
        let patience = self.patience;
        // NATS does not wait for a slow subscriber: this task does, for `patience`, while
        // the client library buffers what arrives meanwhile; past that, drops are counted.
        tokio::spawn(async move {
            while let Some(m) = sub.next().await {
                let msg = BusMessage {
                    subject: m.subject.to_string(),
                    payload: m.payload.to_vec(),
                };
                match out.send(msg, patience).await {
                    Sent::Queued => {}
                    Sent::Dropped => count_drop("bus_queue_full"),
                    Sent::Closed => break,
                }
            }
            let _ = sub.unsubscribe().await;
        });
        Subscription { rx }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching() {
        assert!(subject_matches("a.b", "a.b"));
        assert!(subject_matches("a.*", "a.b"));
        assert!(!subject_matches("a.*", "a.b.c"));
        assert!(subject_matches("a.>", "a.b.c"));
        assert!(!subject_matches("a.>", "a"));
        assert!(!subject_matches("a.b", "a.c"));
    }

    #[tokio::test]
    async fn local_delivery() {
        let bus = LocalBus::new();
        let mut s = bus.subscribe("events.>").await.unwrap();
        let mut other = bus.subscribe("m.*").await.unwrap();
        bus.publish("events.client.create", b"x".to_vec())
            .await
            .unwrap();
        let m = s.rx.recv().await.unwrap();
        assert_eq!(m.subject, "events.client.create");
        assert!(other.rx.try_recv().is_err());
    }

    async fn drain(rx: &mut mpsc::Receiver<BusMessage>) -> Vec<u8> {
        let mut got = Vec::new();
        while let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(300), rx.recv()).await {
            got.push(m.payload[0]);
        }
        got
    }

    /// Members of a queue group share the messages (each to one member, in turn);
    /// a plain subscriber beside them still gets every one.
    async fn queue_group_shares(bus: &dyn MessageBus, subject: &str) {
        let pattern = format!("{subject}.>");
        let mut a = bus.subscribe_queue(&pattern, "g1").await.unwrap();
        let mut b = bus.subscribe_queue(&pattern, "g1").await.unwrap();
        let mut all = bus.subscribe(&pattern).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        for i in 0..20 {
            bus.publish(&format!("{subject}.x"), vec![i]).await.unwrap();
        }
        let (ga, gb, gall) = (
            drain(&mut a.rx).await,
            drain(&mut b.rx).await,
            drain(&mut all.rx).await,
        );
        assert_eq!(gall.len(), 20);
        assert_eq!(ga.len() + gb.len(), 20, "{ga:?} {gb:?}");
        assert!(!ga.is_empty() && !gb.is_empty(), "{ga:?} {gb:?}");
        let mut both: Vec<u8> = ga.iter().chain(&gb).copied().collect();
        both.sort_unstable();
        assert_eq!(both, (0..20).collect::<Vec<u8>>(), "each once");
    }

    #[tokio::test]
    async fn local_queue_groups() {
        queue_group_shares(&LocalBus::new(), "m.d.c.ch").await;
    }

    /// Each group takes its own turns: a publisher alternating between two channels
    /// still spreads each channel's messages over that channel's members.
    #[tokio::test]
    async fn local_queue_groups_turn_per_group() {
        let bus = LocalBus::new();
        let mut a1 = bus.subscribe_queue("m.d.c.a", "g").await.unwrap();
        let mut a2 = bus.subscribe_queue("m.d.c.a", "g").await.unwrap();
        let _b = bus.subscribe_queue("m.d.c.b", "g").await.unwrap();
        for i in 0..10 {
            bus.publish("m.d.c.a", vec![i]).await.unwrap();
            bus.publish("m.d.c.b", vec![i]).await.unwrap();
        }
        let (g1, g2) = (drain(&mut a1.rx).await, drain(&mut a2.rx).await);
        assert_eq!((g1.len(), g2.len()), (5, 5), "{g1:?} {g2:?}");
    }

    #[tokio::test]
    async fn nats_queue_groups() {
        if std::env::var("SWITCHYARD_SKIP_NATS").is_ok_and(|v| v == "1") {
            eprintln!("skipped: SWITCHYARD_SKIP_NATS=1");
            return;
        }
        let url = std::env::var("SWITCHYARD_TEST_NATS_URL")
            .unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
        let bus = NatsBus::connect(&url)
            .await
            .unwrap_or_else(|e| panic!("NATS at {url} (SWITCHYARD_SKIP_NATS=1 to skip): {e}"));
        let subject = format!("test.q{}", std::process::id());
        queue_group_shares(&bus, &subject).await;
    }

    #[test]
    fn index_keys() {
        assert_eq!(subject_key("m.d.c.ch.sub.x"), "m.d.c.ch");
        assert_eq!(subject_key("m.d.c.ch"), "m.d.c.ch");
        assert_eq!(subject_key("a.b"), "a.b");
        assert_eq!(pattern_key("m.d.c.ch.>"), Some("m.d.c.ch"));
        assert_eq!(pattern_key("m.d.c.ch.*.x"), Some("m.d.c.ch"));
        assert_eq!(pattern_key("a.b"), Some("a.b"));
        assert_eq!(pattern_key("m.*.c.ch"), None);
        assert_eq!(pattern_key("events.>"), None);
    }

    /// Indexed and wildcard subscriptions each get exactly the messages their pattern
    /// matches, and a dropped subscription stops counting.
    #[tokio::test]
    async fn indexed_and_wildcard_subscriptions() {
        let bus = LocalBus::new();
        let mut exact = bus.subscribe("m.d.c.ch1").await.unwrap();
        let mut below = bus.subscribe("m.d.c.ch1.>").await.unwrap();
        let mut any_domain = bus.subscribe("m.*.c.ch1").await.unwrap();
        let mut other = bus.subscribe("m.d.c.ch2").await.unwrap();
        let mut short = bus.subscribe("a.b").await.unwrap();
        let gone = bus.subscribe("m.d.c.ch2").await.unwrap();
        drop(gone);
        for subject in [
            "m.d.c.ch1",
            "m.d.c.ch1.s.t",
            "m.d.c.ch2",
            "a.b",
            "a.b.c",
            "m.e.c.ch1",
        ] {
            bus.publish(subject, subject.as_bytes().to_vec())
                .await
                .unwrap();
        }
        let got = |s: &mut Subscription| {
            let mut v = Vec::new();
            while let Ok(m) = s.rx.try_recv() {
                v.push(m.subject);
            }
            v
        };
        assert_eq!(got(&mut exact), ["m.d.c.ch1"]);
        assert_eq!(got(&mut below), ["m.d.c.ch1.s.t"]);
        assert_eq!(got(&mut any_domain), ["m.d.c.ch1", "m.e.c.ch1"]);
        assert_eq!(got(&mut other), ["m.d.c.ch2"]);
        assert_eq!(got(&mut short), ["a.b"]);
        assert_eq!(bus.dropped(), 0);
    }

    /// A full subscriber slows the publisher down instead of losing the message.
    #[tokio::test]
    async fn full_queue_makes_the_publisher_wait() {
        let bus = LocalBus::with_patience(Duration::from_secs(10));
        let mut s = bus.subscribe("m.d.c.x").await.unwrap();
        for _ in 0..SUBSCRIBER_QUEUE {
            bus.publish("m.d.c.x", vec![1]).await.unwrap();
        }
        let b = bus.clone();
        let waiting = tokio::spawn(async move { b.publish("m.d.c.x", vec![2]).await });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!waiting.is_finished(), "the publish waits for room");
        s.rx.recv().await.unwrap();
        waiting.await.unwrap().unwrap();
        let mut n = 0;
        while let Ok(m) = s.rx.try_recv() {
            n += 1;
            if n == SUBSCRIBER_QUEUE {
                assert_eq!(m.payload, [2], "the waiting message arrives last");
            }
        }
        assert_eq!((n, bus.dropped()), (SUBSCRIBER_QUEUE, 0));
    }

    /// A subscriber that stops reading costs one bounded wait, then its messages are
    /// dropped at once and counted, and the others still get theirs; once it reads
    /// again, nothing more is dropped.
    #[tokio::test]
    async fn a_stalled_subscriber_drops_and_does_not_stall_others() {
        let bus = LocalBus::with_patience(Duration::from_millis(50));
        let mut stuck = bus.subscribe("m.d.c.x").await.unwrap();
        let mut live = bus.subscribe("m.d.c.>").await.unwrap();
        let reader = tokio::spawn(async move {
            let mut n = 0;
            while live.rx.recv().await.is_some() {
                n += 1;
                if n == SUBSCRIBER_QUEUE + 10 {
                    break;
                }
            }
            n
        });
        for _ in 0..SUBSCRIBER_QUEUE {
            bus.publish("m.d.c.x", vec![1]).await.unwrap();
        }
        let t = std::time::Instant::now();
        bus.publish("m.d.c.x", vec![2]).await.unwrap();
        assert!(t.elapsed() >= Duration::from_millis(50));
        assert_eq!(bus.dropped(), 1);
        let t = std::time::Instant::now();
        for _ in 0..9 {
            bus.publish("m.d.c.x", vec![3]).await.unwrap();
        }
        assert!(t.elapsed() < Duration::from_millis(50), "no second wait");
        assert_eq!(bus.dropped(), 10);
        assert_eq!(reader.await.unwrap(), SUBSCRIBER_QUEUE + 10);

        // It reads again: the queue has room, and the next message is queued.
        stuck.rx.recv().await.unwrap();
        bus.publish("m.d.c.x", vec![4]).await.unwrap();
        assert_eq!(bus.dropped(), 10);
        let mut last = None;
        while let Ok(m) = stuck.rx.try_recv() {
            last = Some(m.payload);
        }
        assert_eq!(last, Some(vec![4]));
    }
}
