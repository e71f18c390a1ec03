//! Our own MQTT packet type and codec. The session loop speaks only these types; the
//! wire work is done by `rmqtt-codec` behind [`Codec`], so the codec crate can be
//! swapped without touching the session (ARCHITECTURE §11).
//!
//! Reason and return codes are carried as the raw byte of the connection's protocol
//! version (`0x87` on v5, `0x80`/`0x05` on v3.1.1); the session picks them.

use std::num::{NonZeroU16, NonZeroU32};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use bytestring::ByteString;
use rmqtt_codec::{
    error::{DecodeError as WireDecodeError, EncodeError as WireEncodeError},
    types::QoS,
    v3, v5,
    version::{ProtocolVersion, VersionCodec},
};
use switchyard_domain::MessageProps;
use tokio_util::codec::{Decoder, Encoder};

/// The protocol family of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// MQTT 3.1 (level 3) and 3.1.1 (level 4).
    V3,
    /// MQTT 5.0.
    V5,
}

/// Largest remaining length MQTT can express (the variable byte integer's range).
pub const MQTT_MAX_REMAINING: usize = 268_435_455;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Will {
    pub topic: String,
    pub payload: Bytes,
    pub qos: u8,
    pub retain: bool,
    /// v5 will properties (those of the message it becomes).
    pub props: Option<Arc<MessageProps>>,
    /// v5 Will Delay Interval, seconds.
    pub delay: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connect {
    /// Protocol level: 3 (3.1), 4 (3.1.1) or 5.
    pub level: u8,
    pub clean_start: bool,
    pub keep_alive: u16,
    pub client_id: String,
    pub username: Option<String>,
    pub password: Option<Bytes>,
    pub will: Option<Will>,
    /// v5: the client's Receive Maximum (in-flight QoS>0 it accepts from us).
    pub receive_max: Option<u16>,
    /// v5: the largest packet the client accepts.
    pub max_packet_size: Option<u32>,
    /// v5: enhanced authentication method (unsupported: refused).
    pub auth_method: Option<String>,
    /// v5: Session Expiry Interval in seconds (0: the session ends with the connection).
    pub session_expiry: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnAck {
    /// v3 return code or v5 reason code.
    pub code: u8,
    pub session_present: bool,
    /// v5 only (ignored on v3).
    pub assigned_client_id: Option<String>,
    pub server_keep_alive: Option<u16>,
    pub max_packet_size: Option<u32>,
    pub receive_max: Option<u16>,
    /// Tell v5 clients that nothing of the session survives the connection.
    pub session_expiry: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    pub topic: String,
    pub payload: Bytes,
    pub qos: u8,
    pub retain: bool,
    pub dup: bool,
    pub packet_id: Option<NonZeroU16>,
    /// v5 topic alias (we advertise a maximum of 0, so any alias is a protocol error).
    pub topic_alias: Option<u16>,
    /// v5 publish properties, forwarded unaltered.
    pub props: Option<Arc<MessageProps>>,
    /// v5, outgoing: the identifier of the subscription it is delivered through.
    pub subscription_id: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscribeFilter {
    pub filter: String,
    pub qos: u8,
    /// v5 No Local.
    pub no_local: bool,
    /// v5 Retain Handling: 0 send retained at subscribe, 1 only if new, 2 never.
    pub retain_handling: u8,
    /// v5 Retain As Published: live messages keep the retain flag they were sent with.
    pub retain_as_published: bool,
    /// v5 Subscription Identifier of the SUBSCRIBE it came in.
    pub id: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    Connect(Box<Connect>),
    ConnAck(Box<ConnAck>),
    Publish(Box<Publish>),
    PubAck {
        packet_id: NonZeroU16,
        code: u8,
    },
    PubRec {
        packet_id: NonZeroU16,
        code: u8,
    },
    PubRel {
        packet_id: NonZeroU16,
        code: u8,
    },
    PubComp {
        packet_id: NonZeroU16,
        code: u8,
    },
    Subscribe {
        packet_id: NonZeroU16,
        filters: Vec<SubscribeFilter>,
    },
    SubAck {
        packet_id: NonZeroU16,
        codes: Vec<u8>,
    },
    Unsubscribe {
        packet_id: NonZeroU16,
        filters: Vec<String>,
    },
    UnsubAck {
        packet_id: NonZeroU16,
        codes: Vec<u8>,
    },
    PingReq,
    PingResp,
    Disconnect {
        code: u8,
        /// v5: a new Session Expiry Interval, in seconds.
        session_expiry: Option<u32>,
    },
    /// v5 AUTH (enhanced authentication, unsupported).
    Auth,
}

/// Why bytes could not become a packet. Every variant closes the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// Remaining length above the configured maximum (v5: DISCONNECT 0x95).
    TooLarge,
    /// The first packet is not a CONNECT of MQTT 3.1, 3.1.1 or 5.
    UnsupportedProtocol,
    /// Empty client identifier without clean session (v3: CONNACK 0x02, v5: 0x85).
    InvalidClientId,
    /// Anything else the codec rejects (v5: DISCONNECT 0x81).
    Malformed(String),
}

impl From<WireDecodeError> for DecodeError {
    fn from(e: WireDecodeError) -> Self {
        match e {
            WireDecodeError::MaxSizeExceeded { .. } => DecodeError::TooLarge,
            WireDecodeError::InvalidClientId => DecodeError::InvalidClientId,
            WireDecodeError::InvalidProtocol | WireDecodeError::UnsupportedProtocolLevel => {
                DecodeError::UnsupportedProtocol
            }
            other => DecodeError::Malformed(other.to_string()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodeError(pub String);

impl From<WireEncodeError> for EncodeError {
    fn from(e: WireEncodeError) -> Self {
        EncodeError(e.to_string())
    }
}

fn bad(what: &str) -> EncodeError {
    EncodeError(format!("cannot encode {what}"))
}

enum State {
    /// Waiting for the CONNECT that tells us the protocol version.
    Detect,
    V3(v3::Codec),
    V5(v5::Codec),
}

/// Frames bytes into [`Packet`]s and back. Starts by detecting the protocol version
/// from the CONNECT packet, then decodes with the version's codec, enforcing
/// `max_packet_size` on the remaining length of every inbound packet.
pub struct Codec {
    state: State,
    max_packet_size: u32,
}

impl Codec {
    pub fn new(max_packet_size: usize) -> Codec {
        // 0 would mean "unlimited" to the codec: never let that happen.
        let max = u32::try_from(max_packet_size.clamp(16, MQTT_MAX_REMAINING)).unwrap_or(u32::MAX);
        Codec {
            state: State::Detect,
            max_packet_size: max,
        }
    }

    pub fn version(&self) -> Option<Version> {
        match self.state {
            State::Detect => None,
            State::V3(_) => Some(Version::V3),
            State::V5(_) => Some(Version::V5),
        }
    }

    /// Decodes one packet from `src` if a whole one is there.
    pub fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Packet>, DecodeError> {
        loop {
            match &mut self.state {
                State::Detect => match VersionCodec.decode(src) {
                    Ok(Some(ProtocolVersion::MQTT3)) => {
                        self.state = State::V3(v3::Codec::new(self.max_packet_size))
                    }
                    Ok(Some(ProtocolVersion::MQTT5)) => {
                        self.state = State::V5(v5::Codec::new(self.max_packet_size, 0))
                    }
                    Ok(None) => {
                        // A CONNECT header is small; a client that sends this much without
                        // one is not speaking MQTT.
                        if src.len() > 64 * 1024 {
                            return Err(DecodeError::UnsupportedProtocol);
                        }
                        return Ok(None);
                    }
                    Err(_) => return Err(DecodeError::UnsupportedProtocol),
                },
                State::V3(c) => return Ok(c.decode(src)?.map(|(p, _)| from_v3(p))),
                State::V5(c) => return Ok(c.decode(src)?.map(|(p, _)| from_v5(p))),
            }
        }
    }

    /// Appends one packet to `dst`.
    pub fn encode(&mut self, p: Packet, dst: &mut BytesMut) -> Result<(), EncodeError> {
        match &mut self.state {
            State::Detect => Err(EncodeError("protocol version not known yet".into())),
            State::V3(c) => Ok(c.encode(to_v3(p)?, dst)?),
            State::V5(c) => Ok(c.encode(to_v5(p)?, dst)?),
        }
    }
}

fn qos_u8(q: QoS) -> u8 {
    q.value()
}

fn qos_of(q: u8) -> Result<QoS, EncodeError> {
    QoS::try_from(q).map_err(|_| bad("QoS"))
}

fn from_v3(p: v3::Packet) -> Packet {
    use v3::Packet as P;
    match p {
        P::Connect(c) => Packet::Connect(Box::new(Connect {
            level: c.protocol.level(),
            clean_start: c.clean_session,
            keep_alive: c.keep_alive,
            client_id: c.client_id.to_string(),
            username: c.username.map(|u| u.to_string()),
            password: c.password,
            will: c.last_will.map(|w| Will {
                topic: w.topic.to_string(),
                payload: w.message,
                qos: qos_u8(w.qos),
                retain: w.retain,
                props: None,
                delay: 0,
            }),
            receive_max: None,
            max_packet_size: None,
            auth_method: None,
            session_expiry: 0,
        })),
        P::ConnectAck(a) => Packet::ConnAck(Box::new(ConnAck {
            code: a.return_code.into(),
            session_present: a.session_present,
            ..ConnAck::default()
        })),
        P::Publish(p) => Packet::Publish(Box::new(from_wire_publish(*p))),
        P::PublishAck { packet_id } => Packet::PubAck { packet_id, code: 0 },
        P::PublishReceived { packet_id } => Packet::PubRec { packet_id, code: 0 },
        P::PublishRelease { packet_id } => Packet::PubRel { packet_id, code: 0 },
        P::PublishComplete { packet_id } => Packet::PubComp { packet_id, code: 0 },
        P::Subscribe {
            packet_id,
            topic_filters,
        } => Packet::Subscribe {
            packet_id,
            filters: topic_filters
                .into_iter()
                .map(|(f, q)| SubscribeFilter {
                    filter: f.to_string(),
                    qos: qos_u8(q),
                    no_local: false,
                    retain_handling: 0,
                    retain_as_published: false,
                    id: None,
                })
                .collect(),
        },
        P::SubscribeAck { packet_id, status } => Packet::SubAck {
            packet_id,
            codes: status
                .into_iter()
                .map(|s| match s {
                    v3::SubscribeReturnCode::Success(q) => qos_u8(q),
                    v3::SubscribeReturnCode::Failure => 0x80,
                })
                .collect(),
        },
        P::Unsubscribe {
            packet_id,
            topic_filters,
        } => Packet::Unsubscribe {
            packet_id,
            filters: topic_filters.into_iter().map(|f| f.to_string()).collect(),
        },
        P::UnsubscribeAck { packet_id } => Packet::UnsubAck {
            packet_id,
            codes: Vec::new(),
        },
        P::PingRequest => Packet::PingReq,
        P::PingResponse => Packet::PingResp,
        P::Disconnect => Packet::Disconnect {
            code: 0,
            session_expiry: None,
        },
    }
}

pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The properties a message carries, as read off the wire (`None` when there are none).
fn props_of(
    user: &[(ByteString, ByteString)],
    content_type: Option<&ByteString>,
    utf8: bool,
    response_topic: Option<&ByteString>,
    correlation: Option<&Bytes>,
    expiry: Option<u32>,
) -> Option<Arc<MessageProps>> {
    let p = MessageProps {
        user_properties: user
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        content_type: content_type.map(ToString::to_string),
        payload_utf8: utf8,
        response_topic: response_topic.map(ToString::to_string),
        correlation_data: correlation.map(|c| c.to_vec()),
        expires_at: expiry.map(|s| unix_now().saturating_add(i64::from(s))),
    };
    (!p.is_empty()).then(|| Arc::new(p))
}

fn from_wire_publish(p: rmqtt_codec::types::Publish) -> Publish {
    let props = p.properties.as_ref().and_then(|pr| {
        props_of(
            &pr.user_properties,
            pr.content_type.as_ref(),
            pr.is_utf8_payload,
            pr.response_topic.as_ref(),
            pr.correlation_data.as_ref(),
            pr.message_expiry_interval.map(NonZeroU32::get),
        )
    });
    Publish {
        topic: p.topic.to_string(),
        payload: p.payload,
        qos: qos_u8(p.qos),
        retain: p.retain,
        dup: p.dup,
        packet_id: p.packet_id,
        topic_alias: p
            .properties
            .as_ref()
            .and_then(|pr| pr.topic_alias)
            .map(NonZeroU16::get),
        props,
        subscription_id: None,
    }
}

/// v5 properties of an outgoing message; the expiry interval is what is left of it.
fn wire_props(p: Option<&MessageProps>) -> v5::PublishProperties {
    let Some(p) = p else {
        return v5::PublishProperties::default();
    };
    v5::PublishProperties {
        user_properties: p
            .user_properties
            .iter()
            .map(|(k, v)| (ByteString::from(k.as_str()), ByteString::from(v.as_str())))
            .collect(),
        content_type: p.content_type.as_deref().map(ByteString::from),
        is_utf8_payload: p.payload_utf8,
        response_topic: p.response_topic.as_deref().map(ByteString::from),
        correlation_data: p.correlation_data.clone().map(Bytes::from),
        message_expiry_interval: p
            .expiry_left(unix_now())
            .map(|s| NonZeroU32::new(s).unwrap_or(NonZeroU32::MIN)),
        ..v5::PublishProperties::default()
    }
}

fn from_v5(p: v5::Packet) -> Packet {
    use v5::Packet as P;
    match p {
        P::Connect(c) => Packet::Connect(Box::new(Connect {
            level: 5,
            clean_start: c.clean_start,
            keep_alive: c.keep_alive,
            client_id: c.client_id.to_string(),
            username: c.username.map(|u| u.to_string()),
            password: c.password,
            will: c.last_will.map(|w| Will {
                props: props_of(
                    &w.user_properties,
                    w.content_type.as_ref(),
                    w.is_utf8_payload.unwrap_or(false),
                    w.response_topic.as_ref(),
                    w.correlation_data.as_ref(),
                    w.message_expiry_interval.map(NonZeroU32::get),
                ),
                delay: w.will_delay_interval_sec.unwrap_or(0),
                topic: w.topic.to_string(),
                payload: w.message,
                qos: qos_u8(w.qos),
                retain: w.retain,
            }),
            receive_max: c.receive_max.map(NonZeroU16::get),
            max_packet_size: c.max_packet_size.map(|m| m.get()),
            auth_method: c.auth_method.map(|m| m.to_string()),
            session_expiry: c.session_expiry_interval_secs,
        })),
        P::ConnectAck(a) => Packet::ConnAck(Box::new(ConnAck {
            code: a.reason_code.into(),
            session_present: a.session_present,
            assigned_client_id: a.assigned_client_id.map(|s| s.to_string()),
            server_keep_alive: a.server_keepalive_sec,
            max_packet_size: a.max_packet_size,
            receive_max: Some(a.receive_max.get()),
            session_expiry: a.session_expiry_interval_secs,
        })),
        P::Publish(p) => Packet::Publish(Box::new(from_wire_publish(*p))),
        P::PublishAck(a) => Packet::PubAck {
            packet_id: a.packet_id,
            code: a.reason_code.into(),
        },
        P::PublishReceived(a) => Packet::PubRec {
            packet_id: a.packet_id,
            code: a.reason_code.into(),
        },
        P::PublishRelease(a) => Packet::PubRel {
            packet_id: a.packet_id,
            code: a.reason_code.into(),
        },
        P::PublishComplete(a) => Packet::PubComp {
            packet_id: a.packet_id,
            code: a.reason_code.into(),
        },
        P::Subscribe(s) => Packet::Subscribe {
            packet_id: s.packet_id,
            filters: s
                .topic_filters
                .into_iter()
                .map(|(f, o)| SubscribeFilter {
                    filter: f.to_string(),
                    qos: qos_u8(o.qos),
                    no_local: o.no_local,
                    retain_handling: o.retain_handling.into(),
                    retain_as_published: o.retain_as_published,
                    id: s.id.map(NonZeroU32::get),
                })
                .collect(),
        },
        P::SubscribeAck(a) => Packet::SubAck {
            packet_id: a.packet_id,
            codes: a.status.into_iter().map(u8::from).collect(),
        },
        P::Unsubscribe(u) => Packet::Unsubscribe {
            packet_id: u.packet_id,
            filters: u.topic_filters.into_iter().map(|f| f.to_string()).collect(),
        },
        P::UnsubscribeAck(a) => Packet::UnsubAck {
            packet_id: a.packet_id,
            codes: a.status.into_iter().map(u8::from).collect(),
        },
        P::PingRequest => Packet::PingReq,
        P::PingResponse => Packet::PingResp,
        P::Disconnect(d) => Packet::Disconnect {
            code: d.reason_code.into(),
            session_expiry: d.session_expiry_interval_secs,
        },
        P::Auth(_) => Packet::Auth,
    }
}

fn to_wire_publish(p: Publish, v5: bool) -> Result<rmqtt_codec::types::Publish, EncodeError> {
    let qos = qos_of(p.qos)?;
    if (qos == QoS::AtMostOnce) != p.packet_id.is_none() {
        return Err(bad("PUBLISH packet id"));
    }
    Ok(rmqtt_codec::types::Publish {
        dup: p.dup,
        retain: p.retain,
        qos,
        topic: ByteString::from(p.topic),
        packet_id: p.packet_id,
        payload: p.payload,
        properties: v5.then(|| {
            let mut w = wire_props(p.props.as_deref());
            w.subscription_ids = p
                .subscription_id
                .and_then(NonZeroU32::new)
                .into_iter()
                .collect();
            w
        }),
    })
}

fn to_v3(p: Packet) -> Result<v3::Packet, EncodeError> {
    use v3::Packet as P;
    Ok(match p {
        Packet::ConnAck(a) => P::ConnectAck(v3::ConnectAck {
            return_code: v3::ConnectAckReason::try_from(a.code).map_err(|_| bad("CONNACK code"))?,
            session_present: a.session_present,
        }),
        Packet::Publish(p) => P::Publish(Box::new(to_wire_publish(*p, false)?)),
        Packet::PubAck { packet_id, .. } => P::PublishAck { packet_id },
        Packet::PubRec { packet_id, .. } => P::PublishReceived { packet_id },
        Packet::PubRel { packet_id, .. } => P::PublishRelease { packet_id },
        Packet::PubComp { packet_id, .. } => P::PublishComplete { packet_id },
        Packet::SubAck { packet_id, codes } => P::SubscribeAck {
            packet_id,
            status: codes
                .into_iter()
                .map(|c| match QoS::try_from(c) {
                    Ok(q) => v3::SubscribeReturnCode::Success(q),
                    Err(_) => v3::SubscribeReturnCode::Failure,
                })
                .collect(),
        },
        Packet::UnsubAck { packet_id, .. } => P::UnsubscribeAck { packet_id },
        Packet::PingReq => P::PingRequest,
        Packet::PingResp => P::PingResponse,
        Packet::Disconnect { .. } => P::Disconnect,
        // Client-to-server packets and v5-only ones: a server never sends them on v3.
        Packet::Connect(_)
        | Packet::Subscribe { .. }
        | Packet::Unsubscribe { .. }
        | Packet::Auth => return Err(bad("client packet on v3")),
    })
}

fn to_v5(p: Packet) -> Result<v5::Packet, EncodeError> {
    use v5::Packet as P;
    Ok(match p {
        Packet::ConnAck(a) => P::ConnectAck(Box::new(v5::ConnectAck {
            session_present: a.session_present,
            reason_code: v5::ConnectAckReason::try_from(a.code).map_err(|_| bad("CONNACK code"))?,
            session_expiry_interval_secs: a.session_expiry,
            receive_max: a
                .receive_max
                .and_then(NonZeroU16::new)
                .unwrap_or(NonZeroU16::MAX),
            max_packet_size: a.max_packet_size,
            assigned_client_id: a.assigned_client_id.map(ByteString::from),
            server_keepalive_sec: a.server_keep_alive,
            topic_alias_max: 0,
            retain_available: true,
            wildcard_subscription_available: true,
            subscription_identifiers_available: true,
            shared_subscription_available: true,
            ..v5::ConnectAck::default()
        })),
        Packet::Publish(p) => P::Publish(Box::new(to_wire_publish(*p, true)?)),
        Packet::PubAck { packet_id, code } => P::PublishAck(v5::PublishAck {
            packet_id,
            reason_code: v5::PublishAckReason::try_from(code).map_err(|_| bad("PUBACK code"))?,
            properties: Vec::new(),
            reason_string: None,
        }),
        Packet::PubRec { packet_id, code } => P::PublishReceived(v5::PublishAck {
            packet_id,
            reason_code: v5::PublishAckReason::try_from(code).map_err(|_| bad("PUBREC code"))?,
            properties: Vec::new(),
            reason_string: None,
        }),
        Packet::PubRel { packet_id, code } => P::PublishRelease(v5::PublishAck2 {
            packet_id,
            reason_code: v5::PublishAck2Reason::try_from(code).map_err(|_| bad("PUBREL code"))?,
            properties: Vec::new(),
            reason_string: None,
        }),
        Packet::PubComp { packet_id, code } => P::PublishComplete(v5::PublishAck2 {
            packet_id,
            reason_code: v5::PublishAck2Reason::try_from(code).map_err(|_| bad("PUBCOMP code"))?,
            properties: Vec::new(),
            reason_string: None,
        }),
        Packet::SubAck { packet_id, codes } => P::SubscribeAck(v5::SubscribeAck {
            packet_id,
            properties: Vec::new(),
            reason_string: None,
            status: codes
                .into_iter()
                .map(|c| v5::SubscribeAckReason::try_from(c).map_err(|_| bad("SUBACK code")))
                .collect::<Result<_, _>>()?,
        }),
        Packet::UnsubAck { packet_id, codes } => P::UnsubscribeAck(v5::UnsubscribeAck {
            packet_id,
            properties: Vec::new(),
            reason_string: None,
            status: codes
                .into_iter()
                .map(|c| v5::UnsubscribeAckReason::try_from(c).map_err(|_| bad("UNSUBACK code")))
                .collect::<Result<_, _>>()?,
        }),
        Packet::PingReq => P::PingRequest,
        Packet::PingResp => P::PingResponse,
        Packet::Disconnect {
            code,
            session_expiry,
        } => P::Disconnect(v5::Disconnect {
            session_expiry_interval_secs: session_expiry,
            ..v5::Disconnect::new(
                v5::DisconnectReasonCode::try_from(code).map_err(|_| bad("DISCONNECT code"))?,
            )
        }),
        Packet::Connect(_)
        | Packet::Subscribe { .. }
        | Packet::Unsubscribe { .. }
        | Packet::Auth => {
            return Err(bad("client packet"));
        }
    })
}

/// Encodes client-side packets too, for tests: a CONNECT in the given version.
#[cfg(test)]
pub(crate) fn encode_client(version: Version, p: Packet) -> Result<BytesMut, EncodeError> {
    let mut dst = BytesMut::new();
    match (version, p) {
        (Version::V3, Packet::Connect(c)) => {
            let w = v3::Packet::Connect(Box::new(v3::Connect {
                protocol: rmqtt_codec::types::Protocol(c.level),
                clean_session: c.clean_start,
                keep_alive: c.keep_alive,
                last_will: None,
                client_id: ByteString::from(c.client_id),
                username: c.username.map(ByteString::from),
                password: c.password,
                cert: None,
            }));
            v3::Codec::new(0).encode(w, &mut dst)?;
        }
        (Version::V5, Packet::Connect(c)) => {
            let w = v5::Packet::Connect(Box::new(v5::Connect {
                clean_start: c.clean_start,
                keep_alive: c.keep_alive,
                client_id: ByteString::from(c.client_id),
                username: c.username.map(ByteString::from),
                password: c.password,
                ..v5::Connect::default()
            }));
            v5::Codec::new(0, 0).encode(w, &mut dst)?;
        }
        (Version::V3, Packet::Subscribe { packet_id, filters }) => {
            let w = v3::Packet::Subscribe {
                packet_id,
                topic_filters: filters
                    .into_iter()
                    .map(|f| Ok((ByteString::from(f.filter), qos_of(f.qos)?)))
                    .collect::<Result<_, EncodeError>>()?,
            };
            v3::Codec::new(0).encode(w, &mut dst)?;
        }
        (Version::V5, Packet::Subscribe { packet_id, filters }) => {
            let id = filters.iter().find_map(|f| f.id).and_then(NonZeroU32::new);
            let topic_filters = filters
                .into_iter()
                .map(|f| {
                    let retain_handling = match f.retain_handling {
                        0 => v5::RetainHandling::AtSubscribe,
                        1 => v5::RetainHandling::AtSubscribeNew,
                        _ => v5::RetainHandling::NoAtSubscribe,
                    };
                    let options = v5::SubscriptionOptions {
                        qos: qos_of(f.qos)?,
                        no_local: f.no_local,
                        retain_as_published: f.retain_as_published,
                        retain_handling,
                    };
                    Ok((ByteString::from(f.filter), options))
                })
                .collect::<Result<_, EncodeError>>()?;
            let w = v5::Packet::Subscribe(v5::Subscribe {
                packet_id,
                id,
                user_properties: Vec::new(),
                topic_filters,
            });
            v5::Codec::new(0, 0).encode(w, &mut dst)?;
        }
        (Version::V3, Packet::Unsubscribe { packet_id, filters }) => {
            let w = v3::Packet::Unsubscribe {
                packet_id,
                topic_filters: filters.into_iter().map(ByteString::from).collect(),
            };
            v3::Codec::new(0).encode(w, &mut dst)?;
        }
        (Version::V5, Packet::Unsubscribe { packet_id, filters }) => {
            let w = v5::Packet::Unsubscribe(v5::Unsubscribe {
                packet_id,
                user_properties: Vec::new(),
                topic_filters: filters.into_iter().map(ByteString::from).collect(),
            });
            v5::Codec::new(0, 0).encode(w, &mut dst)?;
        }
        (Version::V3, p) => v3::Codec::new(0).encode(to_v3(p)?, &mut dst)?,
        (Version::V5, p) => v5::Codec::new(0, 0).encode(to_v5(p)?, &mut dst)?,
    }
    Ok(dst)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn connect(level: u8, client_id: &str, clean: bool) -> Packet {
        Packet::Connect(Box::new(Connect {
            level,
            clean_start: clean,
            keep_alive: 30,
            client_id: client_id.into(),
            username: Some("u".into()),
            password: Some(Bytes::from_static(b"p")),
            will: None,
            receive_max: None,
            max_packet_size: None,
            auth_method: None,
            session_expiry: 0,
        }))
    }

    #[test]
    fn detects_versions_and_roundtrips_connect() {
        for (v, level) in [(Version::V3, 4u8), (Version::V5, 5u8)] {
            let mut buf = encode_client(v, connect(level, "c1", true)).unwrap();
            let mut codec = Codec::new(1024);
            let p = codec.decode(&mut buf).unwrap().unwrap();
            assert_eq!(codec.version(), Some(v));
            let Packet::Connect(c) = p else {
                panic!("{p:?}")
            };
            assert_eq!(
                (c.level, c.client_id.as_str(), c.username.as_deref()),
                (level, "c1", Some("u"))
            );
            assert!(buf.is_empty());
        }
    }

    #[test]
    fn empty_client_id_without_clean_session_is_rejected() {
        let mut buf = encode_client(Version::V3, connect(4, "", false)).unwrap();
        assert_eq!(
            Codec::new(1024).decode(&mut buf),
            Err(DecodeError::InvalidClientId)
        );
    }

    #[test]
    fn too_large_and_garbage() {
        let mut buf = encode_client(Version::V3, connect(4, "c", true)).unwrap();
        let mut codec = Codec::new(1024);
        codec.decode(&mut buf).unwrap().unwrap();
        let mut big = BytesMut::from(&[0x30u8, 0xff, 0xff, 0x7f][..]);
        assert_eq!(codec.decode(&mut big), Err(DecodeError::TooLarge));
        let mut junk = BytesMut::from(&b"GET / HTTP/1.1\r\n"[..]);
        assert_eq!(
            Codec::new(1024).decode(&mut junk),
            Err(DecodeError::UnsupportedProtocol)
        );
    }

    /// Random bytes after a valid CONNECT, fed in random-sized pieces: the codec only
    /// ever returns packets or errors, and every packet after the CONNECT that decodes
    /// encodes back to bytes that decode to the same packet.
    #[test]
    fn random_input_never_panics() {
        let mut decoded = 0;
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for i in 0..20_000 {
            let v = if i % 2 == 0 { Version::V3 } else { Version::V5 };
            let level = if v == Version::V5 { 5 } else { 4 };
            let mut input = encode_client(v, connect(level, "c", true))
                .unwrap()
                .to_vec();
            let len = (rnd() % 64) as usize;
            let mut noise: Vec<u8> = (0..len).map(|_| rnd() as u8).collect();
            if i % 2 == 1 {
                // Valid packets with random fields, one byte sometimes flipped: input
                // that reaches the decoder's paths past the fixed header.
                let mut valid = Vec::new();
                for _ in 0..1 + rnd() % 4 {
                    let p = random_packet(&mut rnd);
                    valid.extend_from_slice(&encode_client(v, p).unwrap());
                }
                if rnd() % 4 == 0 {
                    let at = (rnd() as usize) % valid.len();
                    valid[at] = rnd() as u8;
                }
                noise.splice(0..0, valid);
            }
            if i % 3 == 0 {
                // Mutate the CONNECT itself too.
                let at = (rnd() as usize) % input.len();
                input[at] = rnd() as u8;
            }
            input.extend(noise);
            let mut codec = Codec::new(4096);
            let mut buf = BytesMut::new();
            let mut rest = &input[..];
            'feed: while !rest.is_empty() {
                let n = 1 + (rnd() as usize) % rest.len();
                buf.extend_from_slice(&rest[..n]);
                rest = &rest[n..];
                loop {
                    match codec.decode(&mut buf) {
                        Ok(Some(Packet::Connect(_))) => {}
                        Ok(Some(p)) => {
                            decoded += 1;
                            assert_round_trip(v, level, &p);
                        }
                        Ok(None) => break,
                        Err(_) => break 'feed,
                    }
                }
            }
        }
        // The corpus is large enough to reach packets past the CONNECT.
        assert!(decoded > 10_000, "only {decoded} packets decoded");
    }

    /// A client packet with random fields.
    fn random_packet(rnd: &mut impl FnMut() -> u64) -> Packet {
        let pid = NonZeroU16::new(1 + (rnd() % 65_000) as u16).unwrap();
        let text = |rnd: &mut dyn FnMut() -> u64| -> String {
            (0..1 + rnd() % 12)
                .map(|_| char::from(b'a' + (rnd() % 26) as u8))
                .collect()
        };
        match rnd() % 7 {
            0 | 1 => {
                let qos = (rnd() % 3) as u8;
                Packet::Publish(Box::new(Publish {
                    topic: format!("m/{}/c/{}", text(rnd), text(rnd)),
                    payload: Bytes::from(text(rnd).into_bytes()),
                    qos,
                    retain: rnd().is_multiple_of(2),
                    dup: false,
                    packet_id: (qos > 0).then_some(pid),
                    topic_alias: None,
                    props: None,
                    subscription_id: None,
                }))
            }
            2 => Packet::Subscribe {
                packet_id: pid,
                filters: (0..1 + rnd() % 3)
                    .map(|_| SubscribeFilter {
                        filter: text(rnd),
                        qos: (rnd() % 3) as u8,
                        no_local: false,
                        retain_handling: 0,
                        retain_as_published: false,
                        id: None,
                    })
                    .collect(),
            },
            3 => Packet::Unsubscribe {
                packet_id: pid,
                filters: vec![text(rnd)],
            },
            4 => Packet::PubAck {
                packet_id: pid,
                code: 0,
            },
            5 => Packet::PubRel {
                packet_id: pid,
                code: 0,
            },
            _ => Packet::PingReq,
        }
    }

    /// `p`, decoded in `v` after a CONNECT, encodes and decodes back to itself.
    fn assert_round_trip(v: Version, level: u8, p: &Packet) {
        let mut codec = Codec::new(4096);
        let mut buf = encode_client(v, connect(level, "c", true)).unwrap();
        codec.decode(&mut buf).unwrap().unwrap();
        let mut bytes = encode_client(v, p.clone())
            .unwrap_or_else(|e| panic!("{p:?} decoded but does not encode: {e:?}"));
        assert_eq!(codec.decode(&mut bytes), Ok(Some(p.clone())), "{v:?}");
        assert!(bytes.is_empty());
    }

    /// v5 publish properties survive decode → encode unaltered (what a subscriber gets
    /// is what the publisher sent); the expiry interval is what is left of it.
    #[test]
    fn v5_publish_properties_round_trip() {
        let props = MessageProps {
            user_properties: vec![("a".into(), "1".into()), ("a".into(), "2".into())],
            content_type: Some("application/json".into()),
            payload_utf8: true,
            response_topic: Some("m/d/c/ch/reply".into()),
            correlation_data: Some(vec![0, 1, 2]),
            expires_at: None,
        };
        let p = Packet::Publish(Box::new(Publish {
            topic: "m/d/c/ch".into(),
            payload: Bytes::from_static(b"{}"),
            qos: 1,
            retain: false,
            dup: false,
            packet_id: NonZeroU16::new(3),
            topic_alias: None,
            props: Some(Arc::new(props.clone())),
            subscription_id: None,
        }));
        assert_round_trip(Version::V5, 5, &p);
        let now = unix_now();
        let expiring = Packet::Publish(Box::new(Publish {
            topic: "m/d/c/ch".into(),
            payload: Bytes::from_static(b"x"),
            qos: 0,
            retain: false,
            dup: false,
            packet_id: None,
            topic_alias: None,
            props: Some(Arc::new(MessageProps {
                expires_at: Some(now + 100),
                ..MessageProps::default()
            })),
            subscription_id: None,
        }));
        let mut codec = Codec::new(4096);
        let mut buf = encode_client(Version::V5, connect(5, "c", true)).unwrap();
        codec.decode(&mut buf).unwrap().unwrap();
        let mut bytes = encode_client(Version::V5, expiring).unwrap();
        let Some(Packet::Publish(back)) = codec.decode(&mut bytes).unwrap() else {
            panic!("a publish");
        };
        let at = back.props.unwrap().expires_at.unwrap();
        assert!((now + 99..=now + 101).contains(&at), "{at} vs {now}");
    }

    #[test]
    fn server_packets_encode_on_both_versions() {
        let pid = NonZeroU16::new(7).unwrap();
        for v in [Version::V3, Version::V5] {
            let level = if v == Version::V5 { 5 } else { 4 };
            let mut codec = Codec::new(1 << 20);
            let mut buf = encode_client(v, connect(level, "c", true)).unwrap();
            codec.decode(&mut buf).unwrap();
            let mut out = BytesMut::new();
            let fail = if v == Version::V5 { 0x87 } else { 0x80 };
            for p in [
                Packet::ConnAck(Box::new(ConnAck {
                    code: 0,
                    ..ConnAck::default()
                })),
                Packet::SubAck {
                    packet_id: pid,
                    codes: vec![1, fail],
                },
                Packet::UnsubAck {
                    packet_id: pid,
                    codes: vec![0],
                },
                Packet::PubAck {
                    packet_id: pid,
                    code: 0,
                },
                Packet::PubRec {
                    packet_id: pid,
                    code: 0,
                },
                Packet::PubComp {
                    packet_id: pid,
                    code: 0,
                },
                Packet::PingResp,
                Packet::Publish(Box::new(Publish {
                    topic: "m/d/c/ch".into(),
                    payload: Bytes::from_static(b"hi"),
                    qos: 1,
                    retain: false,
                    dup: false,
                    packet_id: Some(pid),
                    topic_alias: None,
                    props: None,
                    subscription_id: None,
                })),
                Packet::Disconnect {
                    code: 0,
                    session_expiry: None,
                },
            ] {
                codec.encode(p, &mut out).unwrap();
            }
            assert!(!out.is_empty());
        }
    }
}
