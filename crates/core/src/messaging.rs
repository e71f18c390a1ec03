//! The message plane's core: client authentication, per-message authorization and
//! publishing onto the bus. Every adapter (HTTP, WebSocket, MQTT) goes through here.
//!
//! Authorization answers from memory: clients (secret, status, domain), channels
//! (status, domain, route) and each client's connections are loaded on first use and
//! then kept fresh by the change events (client/channel updates, connect, disconnect,
//! delete) — so the hot path does no database query. The cache is bounded:
//! `MAX_CACHED` clients and channels; past that it starts over (entries reload on
//! demand). Revocations (a client disabled or deleted, a connection removed, a channel
//! disabled or deleted) are also broadcast to open sessions, which close or drop the
//! subscription within the event's delivery time.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, RwLock},
};

use serde_json::Value;
use subtle::ConstantTimeEq;
use switchyard_bus::{Event, Subscription};
use switchyard_domain::{ConnectionType, Status};
use switchyard_store::StoreError;
use tokio::sync::broadcast;
use uuid::Uuid;

use crate::{Core, Error, Result};

/// Largest number of clients (and of channels) kept in the authorization cache.
pub const MAX_CACHED: usize = 200_000;

/// The message envelope (protobuf-compatible with Magistrala's `messaging.Message`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Envelope {
    #[prost(string, tag = "1")]
    pub channel: String,
    #[prost(string, tag = "2")]
    pub domain: String,
    #[prost(string, tag = "3")]
    pub subtopic: String,
    #[prost(string, tag = "4")]
    pub publisher: String,
    #[prost(string, tag = "5")]
    pub protocol: String,
    #[prost(bytes = "vec", tag = "6")]
    pub payload: Vec<u8>,
    /// Unix time in nanoseconds.
    #[prost(int64, tag = "7")]
    pub created: i64,
    #[prost(string, tag = "8")]
    pub client_id: String,
    /// The MQTT QoS it was published with; absent for HTTP and WebSocket publishes (then
    /// subscribers get it at the QoS they were granted). A tag Magistrala's message does
    /// not use, so its decoders skip it.
    #[prost(uint32, optional, tag = "100")]
    pub qos: Option<u32>,
    /// The MQTT client identifier of the connection that published it (v5 No Local is
    /// about that connection, not the platform client); absent for other protocols.
    #[prost(string, optional, tag = "101")]
    pub mqtt_client: Option<String>,
    /// MQTT 5 publish properties (tags 102–107), forwarded unaltered.
    #[prost(message, repeated, tag = "102")]
    pub user_properties: Vec<UserProperty>,
    #[prost(string, optional, tag = "103")]
    pub content_type: Option<String>,
    #[prost(bool, optional, tag = "104")]
    pub payload_utf8: Option<bool>,
    #[prost(string, optional, tag = "105")]
    pub response_topic: Option<String>,
    #[prost(bytes = "vec", optional, tag = "106")]
    pub correlation_data: Option<Vec<u8>>,
    /// Unix time (seconds) the message expires at.
    #[prost(int64, optional, tag = "107")]
    pub expires_at: Option<i64>,
    /// Published with MQTT's retain flag (for v5 Retain As Published subscribers).
    #[prost(bool, optional, tag = "108")]
    pub retain: Option<bool>,
}

/// An MQTT 5 user property inside the envelope.
#[derive(Clone, PartialEq, prost::Message)]
pub struct UserProperty {
    #[prost(string, tag = "1")]
    pub key: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

/// What a publish carries besides its payload: MQTT's QoS, client identifier and v5
/// properties.
#[derive(Debug, Clone, Copy, Default)]
pub struct Origin<'a> {
    pub qos: Option<u8>,
    pub mqtt_client: Option<&'a str>,
    pub props: Option<&'a switchyard_domain::MessageProps>,
    /// MQTT's retain flag.
    pub retain: bool,
}

impl Envelope {
    pub fn encode_vec(&self) -> Vec<u8> {
        prost::Message::encode_to_vec(self)
    }
    pub fn decode_slice(b: &[u8]) -> Option<Envelope> {
        <Envelope as prost::Message>::decode(b).ok()
    }
    /// The MQTT 5 properties it carries (`None` when it carries none).
    pub fn props(&self) -> Option<switchyard_domain::MessageProps> {
        let p = switchyard_domain::MessageProps {
            user_properties: self
                .user_properties
                .iter()
                .map(|u| (u.key.clone(), u.value.clone()))
                .collect(),
            content_type: self.content_type.clone(),
            payload_utf8: self.payload_utf8.unwrap_or(false),
            response_topic: self.response_topic.clone(),
            correlation_data: self.correlation_data.clone(),
            expires_at: self.expires_at,
        };
        (!p.is_empty()).then_some(p)
    }

    /// The MQTT-style topic this message was published on.
    pub fn topic(&self) -> String {
        if self.subtopic.is_empty() {
            format!("m/{}/c/{}", self.domain, self.channel)
        } else {
            format!("m/{}/c/{}/{}", self.domain, self.channel, self.subtopic)
        }
    }
}

/// A parsed `m/<domain>/c/<channel>[/<subtopic>]` topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topic {
    pub domain: String,
    pub channel: String,
    /// `/`-separated, normalised; may hold `+`/`#` for subscriptions.
    pub subtopic: String,
}

/// Parses a topic. Subtopic rules (contract §13.3): percent-decoded, trimmed of `/`
/// and spaces, no spaces or `//`; publish: no `+ # * >`; subscribe: `+`/`#` only as
/// whole segments (`#` last), never `*` or `>`.
pub fn parse_topic(t: &str, subscribe: bool) -> Result<Topic> {
    let bad = || Error::InvalidInput("malformed topic".into());
    let t = t.strip_prefix('/').unwrap_or(t);
    let mut parts = t.splitn(5, '/');
    if parts.next() != Some("m") {
        return Err(bad());
    }
    let domain = parts.next().filter(|s| !s.is_empty()).ok_or_else(bad)?;
    if parts.next() != Some("c") {
        return Err(bad());
    }
    let channel = parts.next().filter(|s| !s.is_empty()).ok_or_else(bad)?;
    let raw = parts.next().unwrap_or("");
    Ok(Topic {
        domain: domain.to_string(),
        channel: channel.to_string(),
        subtopic: parse_subtopic(raw, subscribe)?,
    })
}

pub fn parse_subtopic(raw: &str, subscribe: bool) -> Result<String> {
    let bad = || Error::InvalidInput("malformed subtopic".into());
    let decoded = url::form_urlencoded::parse(format!("s={}", raw.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    let s = decoded.trim().trim_matches('/').trim();
    if s.is_empty() {
        return Ok(String::new());
    }
    if s.contains(' ') || s.contains("//") || s.contains('*') || s.contains('>') || s.contains('.')
    {
        return Err(bad());
    }
    let segs: Vec<&str> = s.split('/').collect();
    for (i, seg) in segs.iter().enumerate() {
        let wild = seg.contains('+') || seg.contains('#');
        if !wild {
            continue;
        }
        if !subscribe {
            return Err(bad());
        }
        if !(*seg == "+" || (*seg == "#" && i == segs.len() - 1)) {
            return Err(bad());
        }
    }
    Ok(s.to_string())
}

/// The bus subject of a message.
pub fn subject(domain: Uuid, channel: Uuid, subtopic: &str) -> String {
    if subtopic.is_empty() {
        format!("m.{domain}.c.{channel}")
    } else {
        format!("m.{domain}.c.{channel}.{}", subtopic.replace('/', "."))
    }
}

/// Bus patterns for a subscription: MQTT `+` → `*`; a trailing `#` also matches the
/// parent (MQTT semantics), so it yields two patterns.
pub fn subscribe_patterns(domain: Uuid, channel: Uuid, subtopic: &str) -> Vec<String> {
    let base = format!("m.{domain}.c.{channel}");
    if subtopic.is_empty() {
        return vec![base];
    }
    let segs: Vec<&str> = subtopic.split('/').collect();
    if segs == ["#"] {
        return vec![base.clone(), format!("{base}.>")];
    }
    let map = |s: &&str| match *s {
        "+" => "*".to_string(),
        "#" => ">".to_string(),
        other => other.to_string(),
    };
    let full = format!(
        "{base}.{}",
        segs.iter().map(map).collect::<Vec<_>>().join(".")
    );
    if segs.last() == Some(&"#") {
        let parent = format!(
            "{base}.{}",
            segs[..segs.len() - 1]
                .iter()
                .map(map)
                .collect::<Vec<_>>()
                .join(".")
        );
        vec![parent, full]
    } else {
        vec![full]
    }
}

/// An authenticated client on the message plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIdentity {
    pub id: Uuid,
    pub domain: Uuid,
}

/// Something an open session may have lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revocation {
    /// Disabled, deleted, or its secret changed.
    Client(Uuid),
    /// A connection removed.
    Connection {
        client: Uuid,
        channel: Uuid,
        kind: ConnectionType,
    },
    /// Disabled or deleted.
    Channel(Uuid),
    /// Disabled or frozen: none of its clients may use the message plane.
    Domain(Uuid),
}

#[derive(Clone)]
struct CachedClient {
    domain: Uuid,
    secret: String,
    /// The client is enabled and so is its domain (neither disabled nor frozen).
    enabled: bool,
}

#[derive(Clone)]
struct CachedChannel {
    domain: Uuid,
    enabled: bool,
}

#[derive(Default)]
struct Cache {
    clients: HashMap<Uuid, CachedClient>,
    channels: HashMap<Uuid, CachedChannel>,
    routes: HashMap<(Uuid, String), Uuid>,
    connections: HashMap<Uuid, Arc<HashSet<(Uuid, ConnectionType)>>>,
    secrets: HashMap<(Uuid, String), Uuid>,
}

pub struct AuthCache {
    inner: RwLock<Cache>,
    revocations: broadcast::Sender<Revocation>,
}

impl Default for AuthCache {
    fn default() -> Self {
        AuthCache {
            inner: RwLock::new(Cache::default()),
            revocations: broadcast::channel(4096).0,
        }
    }
}

impl AuthCache {
    fn read<T>(&self, f: impl FnOnce(&Cache) -> T) -> Option<T> {
        self.inner.read().ok().map(|c| f(&c))
    }
    fn write(&self, f: impl FnOnce(&mut Cache)) {
        if let Ok(mut c) = self.inner.write() {
            if c.clients.len() > MAX_CACHED
                || c.channels.len() > MAX_CACHED
                || c.secrets.len() > MAX_CACHED
            {
                *c = Cache::default();
            }
            f(&mut c);
        }
    }

    fn revoke(&self, r: Revocation) {
        let _ = self.revocations.send(r);
    }

    /// Applies a change event to the cache and tells open sessions what they lost.
    pub(crate) fn apply(&self, ev: &Event) {
        let Ok(id) = Uuid::parse_str(&ev.id) else {
            return;
        };
        match (ev.entity.as_str(), ev.operation.as_str()) {
            ("client", "create") => {}
            ("client", op) => {
                self.write(|c| {
                    c.clients.remove(&id);
                    c.secrets.retain(|_, v| *v != id);
                    if op == "delete" {
                        c.connections.remove(&id);
                    }
                });
                if matches!(op, "disable" | "delete" | "update_secret") {
                    self.revoke(Revocation::Client(id));
                }
            }
            ("channel", "create") => {}
            ("channel", op) => {
                self.write(|c| {
                    c.channels.remove(&id);
                    c.routes.retain(|_, v| *v != id);
                    if op == "delete" {
                        for set in c.connections.values_mut() {
                            if set.iter().any(|(ch, _)| *ch == id) {
                                let mut s = (**set).clone();
                                s.retain(|(ch, _)| *ch != id);
                                *set = Arc::new(s);
                            }
                        }
                    }
                });
                if matches!(op, "disable" | "delete") {
                    self.revoke(Revocation::Channel(id));
                }
            }
            ("domain", op) => {
                // Its clients' standing is recomputed on next use.
                self.write(|c| c.clients.retain(|_, cl| cl.domain != id));
                if matches!(op, "disable" | "freeze" | "delete") {
                    self.revoke(Revocation::Domain(id));
                }
            }
            ("connection", op @ ("connect" | "disconnect")) => {
                let ch = ev
                    .data
                    .get("channel_id")
                    .and_then(Value::as_str)
                    .and_then(|s| Uuid::parse_str(s).ok());
                let kind = ev
                    .data
                    .get("type")
                    .and_then(Value::as_str)
                    .and_then(|s| ConnectionType::parse(s).ok());
                let (Some(ch), Some(kind)) = (ch, kind) else {
                    return;
                };
                self.write(|c| {
                    if let Some(set) = c.connections.get_mut(&id) {
                        let mut s = (**set).clone();
                        if op == "connect" {
                            s.insert((ch, kind));
                        } else {
                            s.remove(&(ch, kind));
                        }
                        *set = Arc::new(s);
                    }
                });
                if op == "disconnect" {
                    self.revoke(Revocation::Connection {
                        client: id,
                        channel: ch,
                        kind,
                    });
                }
            }
            _ => {}
        }
    }
}

fn unauthorized() -> Error {
    Error::Unauthenticated("failed to perform authentication over the entity")
}

fn not_allowed() -> Error {
    Error::Forbidden("failed to perform authorization over the entity")
}

impl Core {
    /// Open sessions listen here to learn what they lost.
    pub fn revocations(&self) -> broadcast::Receiver<Revocation> {
        self.auth_cache.revocations.subscribe()
    }

    async fn cached_client(&self, id: Uuid) -> Result<Option<CachedClient>> {
        if let Some(Some(c)) = self.auth_cache.read(|c| c.clients.get(&id).cloned()) {
            return Ok(Some(c));
        }
        match self.logins.read(id).await? {
            Some(cl) => {
                let cc = CachedClient {
                    domain: cl.domain_id,
                    secret: cl.secret,
                    enabled: cl.status == Status::Enabled && cl.domain_enabled,
                };
                self.auth_cache.write(|c| {
                    c.clients.insert(id, cc.clone());
                });
                Ok(Some(cc))
            }
            None => Ok(None),
        }
    }

    /// The client with this id, when it exists and is enabled (certificate login, where
    /// the certificate already proved the identity).
    pub async fn enabled_client(&self, id: Uuid) -> Result<Option<ClientIdentity>> {
        Ok(self
            .cached_client(id)
            .await?
            .filter(|c| c.enabled)
            .map(|c| ClientIdentity {
                id,
                domain: c.domain,
            }))
    }

    /// The domain of a channel named only by its id (the document-era publish path);
    /// an unknown channel is refused as an authorization failure, revealing nothing.
    pub async fn channel_domain(&self, channel: Uuid) -> Result<Uuid> {
        match self.store.channel_any_domain(channel).await {
            Ok(c) => Ok(c.domain_id),
            Err(StoreError::NotFound) => Err(not_allowed()),
            Err(e) => Err(e.into()),
        }
    }

    /// Username = client id, password = client secret.
    pub async fn authenticate_client(
        &self,
        client_id: &str,
        secret: &str,
    ) -> Result<ClientIdentity> {
        let id = Uuid::parse_str(client_id).map_err(|_| unauthorized())?;
        let c = self.cached_client(id).await?.ok_or_else(unauthorized)?;
        let ok: bool = c.secret.as_bytes().ct_eq(secret.as_bytes()).into();
        if !ok || !c.enabled {
            return Err(unauthorized());
        }
        Ok(ClientIdentity {
            id,
            domain: c.domain,
        })
    }

    /// The identity of an enabled client, by id (a persistent MQTT session restored
    /// at start acts as it again; the client authenticates when it reconnects).
    pub async fn client_identity(&self, id: Uuid) -> Result<ClientIdentity> {
        let c = self.cached_client(id).await?.ok_or_else(unauthorized)?;
        if !c.enabled {
            return Err(unauthorized());
        }
        Ok(ClientIdentity {
            id,
            domain: c.domain,
        })
    }

    /// `Authorization: Client <secret>` within the topic's domain.
    pub async fn authenticate_client_secret(
        &self,
        domain: Uuid,
        secret: &str,
    ) -> Result<ClientIdentity> {
        if secret.is_empty() {
            return Err(Error::Unauthenticated(
                "missing or invalid bearer entity key",
            ));
        }
        let key = (domain, secret.to_string());
        if let Some(Some(id)) = self.auth_cache.read(|c| c.secrets.get(&key).copied()) {
            return self.authenticate_client(&id.to_string(), secret).await;
        }
        match self.store.client_by_secret(domain, secret).await {
            Ok(cl) => {
                self.auth_cache.write(|c| {
                    c.secrets.insert(key, cl.id);
                });
                self.authenticate_client(&cl.id.to_string(), secret).await
            }
            Err(StoreError::NotFound) => Err(unauthorized()),
            Err(e) => Err(e.into()),
        }
    }

    /// Resolves the topic's channel (id or route) in the client's domain.
    async fn resolve_channel(&self, who: &ClientIdentity, t: &Topic) -> Result<Uuid> {
        let domain = Uuid::parse_str(&t.domain).map_err(|_| not_allowed())?;
        if domain != who.domain {
            return Err(not_allowed());
        }
        let ch = match Uuid::parse_str(&t.channel) {
            Ok(id) => id,
            Err(_) => {
                let key = (domain, t.channel.clone());
                match self
                    .auth_cache
                    .read(|c| c.routes.get(&key).copied())
                    .flatten()
                {
                    Some(id) => id,
                    None => match self.store.channel_by_route(domain, &t.channel).await {
                        Ok(c) => {
                            self.auth_cache.write(|cache| {
                                cache.routes.insert(key, c.id);
                            });
                            c.id
                        }
                        Err(StoreError::NotFound) => return Err(not_allowed()),
                        Err(e) => return Err(e.into()),
                    },
                }
            }
        };
        let cached = self
            .auth_cache
            .read(|c| c.channels.get(&ch).cloned())
            .flatten();
        let chan = match cached {
            Some(c) => c,
            None => match self.store.channel(domain, ch).await {
                Ok(c) => {
                    let cc = CachedChannel {
                        domain: c.domain_id,
                        enabled: c.status == Status::Enabled,
                    };
                    self.auth_cache.write(|cache| {
                        cache.channels.insert(ch, cc.clone());
                    });
                    cc
                }
                Err(StoreError::NotFound) => return Err(not_allowed()),
                Err(e) => return Err(e.into()),
            },
        };
        if chan.domain != domain || !chan.enabled {
            return Err(not_allowed());
        }
        Ok(ch)
    }

    async fn connections_of(&self, client: Uuid) -> Result<Arc<HashSet<(Uuid, ConnectionType)>>> {
        if let Some(Some(s)) = self
            .auth_cache
            .read(|c| c.connections.get(&client).cloned())
        {
            return Ok(s);
        }
        let set: HashSet<_> = self
            .store
            .client_connections(client)
            .await?
            .into_iter()
            .map(|c| (c.channel_id, c.kind))
            .collect();
        let set = Arc::new(set);
        self.auth_cache.write(|c| {
            c.connections.insert(client, set.clone());
        });
        Ok(set)
    }

    /// May this client publish/subscribe on the topic? Returns the channel id.
    pub async fn authorize(
        &self,
        who: &ClientIdentity,
        t: &Topic,
        kind: ConnectionType,
    ) -> Result<Uuid> {
        let c = self.cached_client(who.id).await?.ok_or_else(unauthorized)?;
        if !c.enabled {
            return Err(unauthorized());
        }
        let ch = self.resolve_channel(who, t).await?;
        if !self.connections_of(who.id).await?.contains(&(ch, kind)) {
            return Err(not_allowed());
        }
        Ok(ch)
    }

    /// Is a previously authorized (client, channel, kind) still allowed? For sessions
    /// after a revocation notice.
    pub async fn still_allowed(
        &self,
        who: &ClientIdentity,
        channel: Uuid,
        kind: ConnectionType,
    ) -> bool {
        let t = Topic {
            domain: who.domain.to_string(),
            channel: channel.to_string(),
            subtopic: String::new(),
        };
        self.authorize(who, &t, kind).await.is_ok()
    }

    /// Authorizes and publishes one message.
    pub async fn publish(
        &self,
        who: &ClientIdentity,
        t: &Topic,
        protocol: &str,
        payload: Vec<u8>,
        origin: Origin<'_>,
    ) -> Result<()> {
        let ch = self.authorize(who, t, ConnectionType::Publish).await?;
        let mut env = Envelope {
            channel: ch.to_string(),
            domain: who.domain.to_string(),
            subtopic: t.subtopic.clone(),
            publisher: who.id.to_string(),
            protocol: protocol.to_string(),
            payload,
            created: i64::try_from(self.now().unix_timestamp_nanos()).unwrap_or(0),
            client_id: who.id.to_string(),
            qos: origin.qos.map(u32::from),
            mqtt_client: origin.mqtt_client.map(str::to_string),
            retain: origin.retain.then_some(true),
            ..Envelope::default()
        };
        if let Some(p) = origin.props {
            env.user_properties = p
                .user_properties
                .iter()
                .map(|(key, value)| UserProperty {
                    key: key.clone(),
                    value: value.clone(),
                })
                .collect();
            env.content_type.clone_from(&p.content_type);
            env.payload_utf8 = p.payload_utf8.then_some(true);
            env.response_topic.clone_from(&p.response_topic);
            env.correlation_data.clone_from(&p.correlation_data);
            env.expires_at = p.expires_at;
        }
        self.bus
            .publish(&subject(who.domain, ch, &t.subtopic), env.encode_vec())
            .await
            .map_err(|e| Error::Internal(e.to_string()))
    }

    /// Authorizes a subscription; returns the channel and the bus subscriptions.
    pub async fn subscribe(
        &self,
        who: &ClientIdentity,
        t: &Topic,
    ) -> Result<(Uuid, Vec<Subscription>)> {
        self.subscribe_in(who, t, None).await
    }

    /// As [`Core::subscribe`], as a member of a shared subscription group: each message
    /// goes to one member of the group (MQTT 5 `$share/<group>/…`). Groups are per
    /// domain: the same name in two domains is two groups.
    pub async fn subscribe_shared(
        &self,
        who: &ClientIdentity,
        t: &Topic,
        group: &str,
    ) -> Result<(Uuid, Vec<Subscription>)> {
        self.subscribe_in(who, t, Some(group)).await
    }

    async fn subscribe_in(
        &self,
        who: &ClientIdentity,
        t: &Topic,
        group: Option<&str>,
    ) -> Result<(Uuid, Vec<Subscription>)> {
        // A channel named by its id, in the client's own domain, has known subjects: they
        // are subscribed before the checks, which may read the database, so what is
        // published meanwhile (just after the SUBSCRIBE arrived) waits in them; dropped
        // unread if the checks refuse. A member of a shared group would take its share
        // of the group's messages: it subscribes only once allowed.
        let early = Uuid::parse_str(&t.channel)
            .ok()
            .filter(|_| group.is_none() && Uuid::parse_str(&t.domain).ok() == Some(who.domain));
        let mut subs = Vec::new();
        if let Some(ch) = early {
            subs = self
                .bus_subscribe(who.domain, ch, &t.subtopic, None)
                .await?;
        }
        let ch = self.authorize(who, t, ConnectionType::Subscribe).await?;
        if early != Some(ch) {
            subs = self
                .bus_subscribe(who.domain, ch, &t.subtopic, group)
                .await?;
        }
        Ok((ch, subs))
    }

    /// The bus subscriptions of a topic filter (as a member of `group`, if any).
    async fn bus_subscribe(
        &self,
        domain: Uuid,
        channel: Uuid,
        subtopic: &str,
        group: Option<&str>,
    ) -> Result<Vec<Subscription>> {
        let mut subs = Vec::new();
        for p in subscribe_patterns(domain, channel, subtopic) {
            let sub = match group {
                Some(g) => {
                    self.bus
                        .subscribe_queue(&p, &format!("share.{domain}.{g}"))
                        .await
                }
                None => self.bus.subscribe(&p).await,
            };
            subs.push(sub.map_err(|e| Error::Internal(e.to_string()))?);
        }
        Ok(subs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics() {
        let t = parse_topic("m/d1/c/ch1/a/b", false).unwrap();
        assert_eq!(
            (t.domain.as_str(), t.channel.as_str(), t.subtopic.as_str()),
            ("d1", "ch1", "a/b")
        );
        assert_eq!(parse_topic("/m/d/c/ch", false).unwrap().subtopic, "");
        assert!(parse_topic("m/d/x/ch", false).is_err());
        assert!(parse_topic("m//c/ch", false).is_err());
        assert!(parse_topic("m/d/c/ch/a/+", false).is_err());
        assert!(parse_topic("m/d/c/ch/a/+", true).is_ok());
        assert!(parse_topic("m/d/c/ch/#/a", true).is_err());
        assert!(parse_topic("m/d/c/ch/a+/b", true).is_err());
        assert!(parse_topic("m/d/c/ch/a*b", true).is_err());
        assert!(parse_topic("m/d/c/ch/a//b", false).is_err());
        assert!(parse_topic("m/d/c/ch/a%20b", false).is_err());
        assert_eq!(
            parse_topic("m/d/c/ch/%2Fx%2F", false).unwrap().subtopic,
            "x"
        );
    }

    #[test]
    fn subjects_and_patterns() {
        let d = Uuid::nil();
        let c = Uuid::max();
        assert_eq!(subject(d, c, "a/b"), format!("m.{d}.c.{c}.a.b"));
        assert_eq!(subscribe_patterns(d, c, ""), vec![format!("m.{d}.c.{c}")]);
        assert_eq!(
            subscribe_patterns(d, c, "#"),
            vec![format!("m.{d}.c.{c}"), format!("m.{d}.c.{c}.>")]
        );
        assert_eq!(
            subscribe_patterns(d, c, "a/+"),
            vec![format!("m.{d}.c.{c}.a.*")]
        );
        let p = subscribe_patterns(d, c, "a/#");
        assert!(switchyard_bus::subject_matches(&p[0], &subject(d, c, "a")));
        assert!(switchyard_bus::subject_matches(
            &p[1],
            &subject(d, c, "a/b/c")
        ));
    }

    #[test]
    fn envelope_roundtrip() {
        let e = Envelope {
            channel: "c".into(),
            domain: "d".into(),
            subtopic: "s".into(),
            publisher: "p".into(),
            protocol: "mqtt".into(),
            payload: vec![1, 2, 3],
            created: 42,
            client_id: "p".into(),
            qos: Some(1),
            mqtt_client: Some("sensor-1".into()),
            user_properties: vec![UserProperty {
                key: "k".into(),
                value: "v".into(),
            }],
            content_type: Some("text/plain".into()),
            payload_utf8: Some(true),
            response_topic: Some("m/d/c/c/reply".into()),
            correlation_data: Some(vec![9]),
            expires_at: Some(1_900_000_000),
            retain: Some(true),
        };
        let b = e.encode_vec();
        // Field 1 (channel), wire type 2: tag byte 0x0a.
        assert_eq!(b[0], 0x0a);
        assert_eq!(Envelope::decode_slice(&b).unwrap(), e);
        assert_eq!(e.topic(), "m/d/c/c/s");
        let props = e.props().unwrap();
        assert_eq!(props.user_properties, vec![("k".into(), "v".into())]);
        assert_eq!(props.response_topic.as_deref(), Some("m/d/c/c/reply"));
        assert_eq!(props.expires_at, Some(1_900_000_000));
        // Without a QoS (HTTP, or another Magistrala service) the field is absent.
        let plain = Envelope {
            channel: e.channel.clone(),
            payload: e.payload.clone(),
            ..Envelope::default()
        };
        assert_eq!(plain.props(), None);
        assert_eq!(
            Envelope::decode_slice(&plain.encode_vec()).unwrap().qos,
            None
        );
    }
}
