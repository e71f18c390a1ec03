//! MQTT persistent sessions as saved when the server stops and restored when it starts.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Timestamp;

/// A persistent session whose client was away (or connected) when the server stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMqttSession {
    pub client_id: Uuid,
    /// The MQTT client identifier.
    pub mqtt_id: String,
    pub expires_at: Timestamp,
    pub state: MqttSessionState,
    /// While its client is away, the number of that away period: the messages logged
    /// for it ([`AwayMessage`]) belong to the session; 0 while connected.
    pub epoch: i64,
}

/// A message queued for a kept session while its client is away, logged as it arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwayMessage {
    pub client_id: Uuid,
    pub mqtt_id: String,
    pub epoch: i64,
    pub message: StoredMessage,
}

/// What the session holds: its subscriptions, and the messages not yet delivered or
/// not yet acknowledged (oldest first).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MqttSessionState {
    pub subscriptions: Vec<StoredSubscription>,
    pub messages: Vec<StoredMessage>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredSubscription {
    pub filter: String,
    pub qos: u8,
    #[serde(default)]
    pub no_local: bool,
    /// v5 Retain As Published.
    #[serde(default)]
    pub rap: bool,
    /// v5 Subscription Identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ident: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredMessage {
    pub topic: String,
    #[serde(with = "b64")]
    pub payload: Vec<u8>,
    pub qos: u8,
    #[serde(default)]
    pub retain: bool,
    #[serde(default, skip_serializing_if = "MessageProps::is_empty")]
    pub props: MessageProps,
    /// Sent to the client and not acknowledged: sent again with DUP on resume.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sent: bool,
}

/// An MQTT 5 message's publish properties, carried unaltered from publisher to
/// subscribers (MQTT 5 §3.3.2.3): across the bus, into retained messages and kept
/// sessions. The Message Expiry Interval is kept as the absolute time it runs out, so
/// every hop can tell what is left of it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageProps {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub user_properties: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// Payload Format Indicator 1: the payload is UTF-8.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub payload_utf8: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_topic: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_data: Option<Vec<u8>>,
    /// Unix time (seconds) at which the message expires; `None`: never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
}

impl MessageProps {
    pub fn is_empty(&self) -> bool {
        self == &MessageProps::default()
    }

    /// Seconds of the expiry interval left at `now` (unix seconds): `None` when the
    /// message never expires, `Some(0)` when it has.
    pub fn expiry_left(&self, now: i64) -> Option<u32> {
        self.expires_at
            .map(|at| u32::try_from(at.saturating_sub(now).max(0)).unwrap_or(u32::MAX))
    }

    /// Bytes the properties take (for queue and store budgets).
    pub fn byte_size(&self) -> usize {
        self.user_properties
            .iter()
            .map(|(k, v)| k.len() + v.len())
            .sum::<usize>()
            + self.content_type.as_ref().map_or(0, String::len)
            + self.response_topic.as_ref().map_or(0, String::len)
            + self.correlation_data.as_ref().map_or(0, Vec::len)
    }
}

/// Payloads as base64 in JSON.
mod b64 {
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(s)
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_roundtrips_through_json_with_binary_payloads() {
        let s = MqttSessionState {
            subscriptions: vec![StoredSubscription {
                filter: "m/d/c/ch/#".into(),
                qos: 1,
                no_local: false,
                rap: true,
                ident: Some(7),
            }],
            messages: vec![
                StoredMessage {
                    topic: "m/d/c/ch/x".into(),
                    payload: vec![0, 255, 7],
                    qos: 1,
                    retain: false,
                    props: MessageProps::default(),
                    sent: true,
                },
                StoredMessage {
                    topic: "m/d/c/ch/y".into(),
                    payload: b"{}".to_vec(),
                    qos: 0,
                    retain: true,
                    props: MessageProps {
                        user_properties: vec![("a".into(), "1".into()), ("a".into(), "2".into())],
                        content_type: Some("application/json".into()),
                        payload_utf8: true,
                        response_topic: Some("m/d/c/ch/reply".into()),
                        correlation_data: Some(vec![1, 2]),
                        expires_at: Some(1_900_000_000),
                    },
                    sent: false,
                },
            ],
        };
        let j = serde_json::to_string(&s).unwrap();
        assert!(j.contains("\"AP8H\""), "{j}");
        // A message without properties is stored as before.
        assert!(!j.contains("\"props\":{}"), "{j}");
        assert_eq!(serde_json::from_str::<MqttSessionState>(&j).unwrap(), s);
    }
}
