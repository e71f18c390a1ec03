//! Retained messages: the last retained payload per (channel, subtopic), kept in memory
//! by one adapter and shared by its sessions. Bounded in count and in payload bytes;
//! past either bound a *new* topic is not retained (updates and clears still apply).
//! An empty retained payload clears the topic. Nothing here authorizes: a session
//! reads a channel's retained messages only after core authorized its subscription.

use std::{collections::HashMap, sync::Mutex};

use bytes::Bytes;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RetainedMessage {
    /// `m/<domain>/c/<channel>[/<subtopic>]`, as live messages are delivered.
    pub topic: String,
    pub payload: Bytes,
    /// The QoS it was published with (sent at the lower of this and the granted one).
    pub qos: u8,
    /// v5 publish properties, kept with it.
    pub props: Option<std::sync::Arc<switchyard_domain::MessageProps>>,
}

/// What a retained message counts against the byte budget: payload and v5 properties.
fn cost(payload: &[u8], props: Option<&switchyard_domain::MessageProps>) -> usize {
    payload.len() + props.map_or(0, |p| p.byte_size())
}

impl RetainedMessage {
    fn size(&self) -> usize {
        cost(&self.payload, self.props.as_deref())
    }
}

#[derive(Default)]
struct Inner {
    /// channel → subtopic → message
    channels: HashMap<Uuid, HashMap<String, RetainedMessage>>,
    count: usize,
    bytes: usize,
}

pub(crate) struct RetainedStore {
    inner: Mutex<Inner>,
    max_messages: usize,
    max_bytes: usize,
}

/// MQTT filter matching on subtopics (`""` is the channel itself, zero levels): `+` is
/// one level, a trailing `#` any number including none (so `a/#` matches `a`).
pub(crate) fn subtopic_matches(filter: &str, subtopic: &str) -> bool {
    let mut f = filter.split('/').filter(|s| !s.is_empty());
    let mut t = subtopic.split('/').filter(|s| !s.is_empty());
    loop {
        match (f.next(), t.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

impl RetainedStore {
    pub(crate) fn new(max_messages: usize, max_bytes: usize) -> RetainedStore {
        RetainedStore {
            inner: Mutex::new(Inner::default()),
            max_messages,
            max_bytes,
        }
    }

    /// Stores (or, for an empty payload, clears) the retained message of a topic.
    /// Returns false when the bounds kept a new topic out.
    pub(crate) fn set(
        &self,
        domain: Uuid,
        channel: Uuid,
        subtopic: &str,
        payload: Bytes,
        qos: u8,
        props: Option<std::sync::Arc<switchyard_domain::MessageProps>>,
    ) -> bool {
        let Ok(mut g) = self.inner.lock() else {
            return false;
        };
        let inner = &mut *g;
        let old = inner
            .channels
            .get_mut(&channel)
            .and_then(|m| m.remove(subtopic));
        if let Some(old) = &old {
            inner.count -= 1;
            inner.bytes -= old.size();
        }
        if payload.is_empty() {
            if inner.channels.get(&channel).is_some_and(HashMap::is_empty) {
                inner.channels.remove(&channel);
            }
            return true;
        }
        let size = cost(&payload, props.as_deref());
        if inner.count + 1 > self.max_messages || inner.bytes + size > self.max_bytes {
            // Keep the old message rather than lose both.
            if let Some(old) = old {
                inner.count += 1;
                inner.bytes += old.size();
                inner
                    .channels
                    .entry(channel)
                    .or_default()
                    .insert(subtopic.to_string(), old);
            }
            return false;
        }
        let topic = if subtopic.is_empty() {
            format!("m/{domain}/c/{channel}")
        } else {
            format!("m/{domain}/c/{channel}/{subtopic}")
        };
        inner.count += 1;
        inner.bytes += size;
        inner.channels.entry(channel).or_default().insert(
            subtopic.to_string(),
            RetainedMessage {
                topic,
                payload,
                qos,
                props,
            },
        );
        true
    }

    /// The retained messages of a channel whose subtopic matches `filter`.
    pub(crate) fn matching(&self, channel: Uuid, filter: &str) -> Vec<RetainedMessage> {
        let Ok(g) = self.inner.lock() else {
            return Vec::new();
        };
        g.channels
            .get(&channel)
            .map(|m| {
                m.iter()
                    .filter(|(sub, _)| subtopic_matches(filter, sub))
                    .map(|(_, msg)| msg.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    #[cfg(test)]
    fn len(&self) -> (usize, usize) {
        self.inner
            .lock()
            .map(|g| (g.count, g.bytes))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_matching() {
        assert!(subtopic_matches("", ""));
        assert!(!subtopic_matches("", "a"));
        assert!(subtopic_matches("#", ""));
        assert!(subtopic_matches("#", "a/b"));
        assert!(subtopic_matches("a/#", "a"));
        assert!(subtopic_matches("a/#", "a/b/c"));
        assert!(!subtopic_matches("a/#", "b"));
        assert!(subtopic_matches("a/+", "a/b"));
        assert!(!subtopic_matches("a/+", "a"));
        assert!(!subtopic_matches("a/+", "a/b/c"));
        assert!(!subtopic_matches("+", ""));
        assert!(subtopic_matches("a/b", "a/b"));
    }

    #[test]
    fn set_clear_and_bounds() {
        let s = RetainedStore::new(2, 10);
        let (d, c) = (Uuid::nil(), Uuid::max());
        assert!(s.set(d, c, "a", Bytes::from_static(b"1234"), 0, None));
        assert!(s.set(d, c, "", Bytes::from_static(b"12"), 0, None));
        assert_eq!(s.len(), (2, 6));
        // A third topic does not fit; an update does.
        assert!(!s.set(d, c, "b", Bytes::from_static(b"x"), 0, None));
        assert!(s.set(d, c, "a", Bytes::from_static(b"12345678"), 0, None));
        assert_eq!(s.len(), (2, 10));
        // Too many bytes: the old value stays.
        assert!(!s.set(d, c, "a", Bytes::from_static(b"123456789"), 0, None));
        assert_eq!(
            s.matching(c, "a")[0].payload,
            Bytes::from_static(b"12345678")
        );
        let all = s.matching(c, "#");
        assert_eq!(all.len(), 2);
        assert!(all.iter().any(|m| m.topic == format!("m/{d}/c/{c}")));
        // Empty payload clears.
        assert!(s.set(d, c, "a", Bytes::new(), 0, None));
        assert!(s.set(d, c, "", Bytes::new(), 0, None));
        assert_eq!(s.len(), (0, 0));
        assert!(s.matching(c, "#").is_empty());
    }
}
