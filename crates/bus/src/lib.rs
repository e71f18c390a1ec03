//! The bus: change events and (later) messages travel on subjects with NATS's rules
//! (`.`-separated tokens, `*` one token, `>` the rest). `LocalBus` keeps one process's
//! subscribers in memory with exactly those rules, so behaviour does not change when a
//! deployment moves to NATS.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

/// Per-subscriber queue length. A subscriber that falls this far behind loses the
/// newest messages (counted in `dropped`) instead of slowing the publisher down.
pub const SUBSCRIBER_QUEUE: usize = 4096;

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
    tx: mpsc::Sender<BusMessage>,
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

#[derive(Default, Clone)]
pub struct LocalBus {
    subs: Arc<Mutex<Subs>>,
    dropped: Arc<std::sync::atomic::AtomicU64>,
}

impl LocalBus {
    pub fn new() -> LocalBus {
        LocalBus::default()
    }
    pub fn dropped(&self) -> u64 {
        self.dropped.load(std::sync::atomic::Ordering::Relaxed)
    }
}

#[async_trait]
impl MessageBus for LocalBus {
    async fn publish(&self, subject: &str, payload: Vec<u8>) -> Result<(), BusError> {
        let mut subs = self
            .subs
            .lock()
            .map_err(|e| BusError::Other(e.to_string()))?;
        let deliver = |list: &mut Vec<Sub>| {
            list.retain(|s| !s.tx.is_closed());
            for s in list.iter().filter(|s| subject_matches(&s.pattern, subject)) {
                let msg = BusMessage {
                    subject: subject.to_string(),
                    payload: payload.clone(),
                };
                if s.tx.try_send(msg).is_err() {
                    self.dropped
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
        };
        let key = subject_key(subject);
        if let Some(list) = subs.by_key.get_mut(key) {
            deliver(list);
            if list.is_empty() {
                subs.by_key.remove(key);
            }
        }
        deliver(&mut subs.wild);
        Ok(())
    }

    async fn subscribe(&self, pattern: &str) -> Result<Subscription, BusError> {
        let (tx, rx) = mpsc::channel(SUBSCRIBER_QUEUE);
        let sub = Sub {
            pattern: pattern.to_string(),
            tx,
        };
        let mut subs = self
            .subs
            .lock()
            .map_err(|e| BusError::Other(e.to_string()))?;
        match pattern_key(pattern) {
            Some(key) => {
                let list = subs.by_key.entry(key.to_string()).or_default();
                // Subscriptions whose receiver is gone, on a key nobody publishes to.
                list.retain(|s| !s.tx.is_closed());
                list.push(sub);
            }
            None => {
                subs.wild.retain(|s| !s.tx.is_closed());
                subs.wild.push(sub);
            }
        }
        Ok(Subscription { rx })
    }

    fn kind(&self) -> &'static str {
        "local"
    }
}

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
}

impl NatsBus {
    pub async fn connect(url: &str) -> Result<NatsBus, BusError> {
        let client = async_nats::ConnectOptions::new()
            .name("switchyard")
            .connect(url)
            .await
            .map_err(|e| BusError::Other(format!("cannot connect to {url}: {e}")))?;
        Ok(NatsBus { client })
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
        use futures::StreamExt;
        let mut sub = self
            .client
            .subscribe(pattern.to_string())
            .await
            .map_err(|e| BusError::Other(e.to_string()))?;
        let (tx, rx) = mpsc::channel(SUBSCRIBER_QUEUE);
        tokio::spawn(async move {
            while let Some(m) = sub.next().await {
                let msg = BusMessage {
                    subject: m.subject.to_string(),
                    payload: m.payload.to_vec(),
                };
                if tx.send(msg).await.is_err() {
                    break;
                }
            }
            let _ = sub.unsubscribe().await;
        });
        Ok(Subscription { rx })
    }

    fn kind(&self) -> &'static str {
        "nats"
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
}
