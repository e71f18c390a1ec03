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
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredMessage {
    pub topic: String,
    #[serde(with = "b64")]
    pub payload: Vec<u8>,
    pub qos: u8,
    #[serde(default)]
    pub retain: bool,
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
            }],
            messages: vec![StoredMessage {
                topic: "m/d/c/ch/x".into(),
                payload: vec![0, 255, 7],
                qos: 1,
                retain: false,
            }],
        };
        let j = serde_json::to_string(&s).unwrap();
        assert!(j.contains("\"AP8H\""), "{j}");
        assert_eq!(serde_json::from_str::<MqttSessionState>(&j).unwrap(), s);
    }
}
