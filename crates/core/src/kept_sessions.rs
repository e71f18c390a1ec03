//! MQTT persistent sessions in the store and across nodes. A kept session has a row
//! for as long as it lives, naming the node that holds it in memory. A node that gets
//! a client whose session another node holds asks that node, over the bus, to let go
//! of it (a claim); the holder ends the live connection or stops keeping it, saves
//! what it held (subscriptions and waiting messages) and answers; the claimer then
//! takes the row. A holder that does not answer within the wait has stopped: its row,
//! written through at each change of the subscriptions, is taken as it is.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use switchyard_bus::Subscription;
use switchyard_domain::{AwayMessage, StoredMqttSession};
use uuid::Uuid;

use crate::{Core, Error, Result};

/// The bus subject of claims.
const CLAIMS: &str = "sessions.mqtt.claim";

/// A node asks for a session it is about to serve.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionClaim {
    pub client_id: Uuid,
    pub mqtt_id: String,
    /// The new connection starts clean: the session ends (nothing is saved).
    pub clean: bool,
    /// The claiming node.
    pub from: Uuid,
    /// The node asked to let go (the one the session's row names); only it acts and
    /// answers. `None` (a clean start, which may end a session of any node): every
    /// node acts, none answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Uuid>,
    /// Where the holder answers once it has let go; none when nobody waits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<String>,
}

impl SessionClaim {
    /// A claim as it came over the bus; `None` when it is not one.
    pub fn decode(payload: &[u8]) -> Option<SessionClaim> {
        serde_json::from_slice(payload).ok()
    }
}

impl Core {
    /// Whether other nodes may share this node's sessions (the bus reaches them).
    pub fn is_distributed(&self) -> bool {
        self.bus.kind() != "local"
    }

    /// Saves kept sessions as held by `holder` (`None`: free for any node to take).
    pub async fn save_mqtt_sessions(
        &self,
        holder: Option<Uuid>,
        sessions: &[StoredMqttSession],
    ) -> Result<()> {
        Ok(self.store.save_mqtt_sessions(holder, sessions).await?)
    }

    /// Takes the sessions to restore at start: those no node holds, and on a node
    /// alone (its bus reaches no other) also those its stopped predecessor held.
    pub async fn take_mqtt_sessions(&self) -> Result<Vec<StoredMqttSession>> {
        Ok(self
            .store
            .take_mqtt_sessions(!self.is_distributed())
            .await?)
    }

    /// The session saved under a key and the node holding it, left saved.
    pub async fn mqtt_session(
        &self,
        client_id: Uuid,
        mqtt_id: &str,
    ) -> Result<Option<(Option<Uuid>, StoredMqttSession)>> {
        Ok(self.store.mqtt_session(client_id, mqtt_id).await?)
    }

    /// Removes and returns the session saved under a key.
    pub async fn take_mqtt_session(
        &self,
        client_id: Uuid,
        mqtt_id: &str,
    ) -> Result<Option<StoredMqttSession>> {
        Ok(self.store.take_mqtt_session(client_id, mqtt_id).await?)
    }

    /// Removes the session saved under a key if `holder` still holds it.
    pub async fn drop_mqtt_session(
        &self,
        client_id: Uuid,
        mqtt_id: &str,
        holder: Uuid,
    ) -> Result<()> {
        Ok(self
            .store
            .drop_mqtt_session(client_id, mqtt_id, holder)
            .await?)
    }

    /// Logs messages queued for sessions whose clients are away.
    pub async fn append_mqtt_messages(&self, messages: &[AwayMessage]) -> Result<()> {
        Ok(self.store.append_mqtt_messages(messages).await?)
    }

    /// Other nodes' claims, for the adapter that holds sessions on this node.
    pub async fn session_claims(&self) -> Result<Subscription> {
        self.bus
            .subscribe(CLAIMS)
            .await
            .map_err(|e| Error::Internal(e.to_string()))
    }

    /// Sends a claim; with a `wait`, waits that long at most for the holder to answer
    /// that it let go. False: no answer (the holder is gone, or the bus failed).
    pub async fn claim_mqtt_session(&self, mut claim: SessionClaim, wait: Duration) -> bool {
        let answer = if wait.is_zero() {
            None
        } else {
            let subject = format!("sessions.mqtt.released.{}", Uuid::new_v4().simple());
            match self.bus.subscribe(&subject).await {
                Ok(sub) => {
                    claim.reply = Some(subject);
                    Some(sub)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "mqtt: claim not sent");
                    return false;
                }
            }
        };
        let payload = serde_json::to_vec(&claim).unwrap_or_default();
        if let Err(e) = self.bus.publish(CLAIMS, payload).await {
            tracing::warn!(error = %e, "mqtt: claim not sent");
            return false;
        }
        match answer {
            Some(mut sub) => tokio::time::timeout(wait, sub.rx.recv())
                .await
                .is_ok_and(|m| m.is_some()),
            None => true,
        }
    }

    /// Tells a claimer the session is let go of.
    pub async fn answer_mqtt_claim(&self, claim: &SessionClaim) {
        if let Some(reply) = &claim.reply
            && let Err(e) = self.bus.publish(reply, Vec::new()).await
        {
            tracing::warn!(error = %e, "mqtt: claim not answered");
        }
    }
}
