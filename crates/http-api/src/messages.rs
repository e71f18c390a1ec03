//! The HTTP and WebSocket message adapters. Only an authenticated, enabled client
//! with a `publish` connection to the channel may publish; a WebSocket subscriber
//! needs a `subscribe` connection. Authentication: `Authorization: Client <secret>`
//! (or `Bearer <secret>`) within the topic's domain, or Basic `client_id:secret`; on
//! WebSockets also the `authorization` query parameter (browsers cannot set headers).

use axum::{
    body::Bytes,
    extract::{
        Path, Query, State,
        ws::{Message, WebSocket, WebSocketUpgrade},
    },
    http::{HeaderMap, Method, StatusCode, header},
    response::{IntoResponse, Response},
};
use std::sync::Arc;

use base64::Engine;
use futures::{SinkExt, StreamExt};
use switchyard_bus::{Outlet, Sent, count_drop};
use switchyard_core::{
    Error,
    messaging::{ClientIdentity, Envelope, Revocation, Topic, parse_subtopic},
};
use switchyard_domain::ConnectionType;
use uuid::Uuid;

use crate::params::Auth;
use crate::{Api, AppState, Doc, doc, empty, error::ApiResult};

/// A publish route's document: a client's credentials, the message as the body, 202.
fn publish_doc(summary: &'static str) -> Doc {
    doc("messages", summary)
        .auth(Auth::Client)
        .raw_bodies(CONTENT_TYPES)
        .ok(202, None)
}

/// A WebSocket route's document (subscribe and publish as a client).
fn ws_doc(summary: &'static str) -> Doc {
    doc("messages", summary).auth(Auth::Client).websocket()
}

pub fn routes(a: Api) -> Api {
    a.route(
        Method::POST,
        "/m/{domain}/c/{channel}",
        publish_doc("Publish a message (202)"),
        publish,
    )
    // The official SDK builds `m/{domain}/c/{channel}/{subtopic}`: with no subtopic
    // the path ends in a slash, and means the channel itself.
    .route(
        Method::POST,
        "/m/{domain}/c/{channel}/",
        publish_doc("Publish a message (SDK form: empty subtopic)"),
        publish,
    )
    .route(
        Method::POST,
        "/m/{domain}/c/{channel}/{*subtopic}",
        publish_doc("Publish a message to a subtopic (202)"),
        publish_sub,
    )
    .route(
        Method::GET,
        "/m/{domain}/c/{channel}",
        ws_doc("WebSocket: subscribe to and publish into a channel"),
        ws,
    )
    .route(
        Method::GET,
        "/m/{domain}/c/{channel}/",
        ws_doc("WebSocket on the channel (empty subtopic)"),
        ws,
    )
    .route(
        Method::GET,
        "/m/{domain}/c/{channel}/{*subtopic}",
        ws_doc("WebSocket on a subtopic"),
        ws_sub,
    )
    .route(
        Method::POST,
        "/channels/{channel}/messages",
        publish_doc("Publish (document-era path, no domain)"),
        publish_legacy,
    )
    .route(
        Method::POST,
        "/channels/{channel}/messages/",
        publish_doc("Publish (document-era path, empty subtopic)"),
        publish_legacy,
    )
    .route(
        Method::POST,
        "/channels/{channel}/messages/{*subtopic}",
        publish_doc("Publish to a subtopic (document-era path)"),
        publish_legacy_sub,
    )
}

/// The HTTP adapter's and the WebSocket's series (in [`AppState`]): QoS 0, they have
/// no other.
pub(crate) struct PlaneMeters {
    http: switchyard_core::meters::PlaneMeters,
    ws: switchyard_core::meters::PlaneMeters,
}

impl PlaneMeters {
    pub(crate) fn new() -> PlaneMeters {
        use switchyard_core::meters::PlaneMeters as M;
        PlaneMeters {
            http: M::new("http", 0),
            ws: M::new("ws", 0),
        }
    }
}

const CONTENT_TYPES: &[&str] = &[
    "application/json",
    "application/senml+json",
    "application/senml+cbor",
    "application/octet-stream",
    "text/plain",
];

enum Cred {
    Secret(String),
    Basic(String, String),
}

fn credentials(h: &HeaderMap, query: Option<&str>) -> Option<Cred> {
    let v = h
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| query.map(str::to_string))?;
    let v = v.trim();
    if let Some(s) = v
        .strip_prefix("Client ")
        .or_else(|| v.strip_prefix("Bearer "))
    {
        return Some(Cred::Secret(s.trim().to_string()));
    }
    if let Some(b) = v.strip_prefix("Basic ") {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b.trim())
            .ok()?;
        let raw = String::from_utf8(raw).ok()?;
        let (u, p) = raw.split_once(':')?;
        return Some(Cred::Basic(u.to_string(), p.to_string()));
    }
    // A bare secret.
    (!v.is_empty()).then(|| Cred::Secret(v.to_string()))
}

async fn identify(
    s: &AppState,
    domain: Option<Uuid>,
    cred: Option<Cred>,
) -> Result<ClientIdentity, Error> {
    match cred {
        None => Err(Error::Unauthenticated(
            "missing or invalid bearer entity key",
        )),
        Some(Cred::Basic(u, p)) => match s.core.authenticate_client(&u, &p).await {
            Ok(who) => Ok(who),
            // HTTP may also name the domain as the username.
            Err(e) => match Uuid::parse_str(&u) {
                Ok(d) if Some(d) == domain => s.core.authenticate_client_secret(d, &p).await,
                _ => Err(e),
            },
        },
        Some(Cred::Secret(sec)) => match domain {
            Some(d) => s.core.authenticate_client_secret(d, &sec).await,
            None => Err(Error::Unauthenticated(
                "failed to perform authentication over the entity",
            )),
        },
    }
}

fn content_type_ok(h: &HeaderMap) -> bool {
    match h.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) {
        None => false,
        Some(ct) => {
            let ct = ct.to_ascii_lowercase();
            CONTENT_TYPES.iter().any(|t| ct.starts_with(t))
        }
    }
}

async fn do_publish(
    s: &AppState,
    domain: String,
    channel: String,
    sub: String,
    h: &HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    if !content_type_ok(h) {
        return Err(crate::ApiError::UnsupportedMediaType);
    }
    let d = Uuid::parse_str(&domain).ok();
    let who = identify(s, d, credentials(h, None)).await?;
    let topic = Topic {
        domain,
        channel,
        subtopic: parse_subtopic(&sub, false)?,
    };
    s.core
        .publish(&who, &topic, "http", body.to_vec(), Default::default())
        .await?;
    s.meters.http.published(0, body.len());
    Ok(empty(StatusCode::ACCEPTED))
}

async fn publish(
    State(s): State<AppState>,
    Path((d, c)): Path<(String, String)>,
    h: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    do_publish(&s, d, c, String::new(), &h, body).await
}

async fn publish_sub(
    State(s): State<AppState>,
    Path((d, c, sub)): Path<(String, String, String)>,
    h: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    do_publish(&s, d, c, sub, &h, body).await
}

async fn legacy(
    s: &AppState,
    c: String,
    sub: String,
    h: &HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let ch = Uuid::parse_str(&c)
        .map_err(|_| Error::InvalidInput("invalid id format provided".into()))?;
    let domain = s.core.channel_domain(ch).await?.to_string();
    do_publish(s, domain, c, sub, h, body).await
}

async fn publish_legacy(
    State(s): State<AppState>,
    Path(c): Path<String>,
    h: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    legacy(&s, c, String::new(), &h, body).await
}

async fn publish_legacy_sub(
    State(s): State<AppState>,
    Path((c, sub)): Path<(String, String)>,
    h: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    legacy(&s, c, sub, &h, body).await
}

#[derive(serde::Deserialize)]
struct WsQuery {
    authorization: Option<String>,
}

async fn ws(
    State(s): State<AppState>,
    Path((d, c)): Path<(String, String)>,
    Query(q): Query<WsQuery>,
    h: HeaderMap,
    up: WebSocketUpgrade,
) -> ApiResult<Response> {
    ws_open(s, d, c, String::new(), q, h, up).await
}

async fn ws_sub(
    State(s): State<AppState>,
    Path((d, c, sub)): Path<(String, String, String)>,
    Query(q): Query<WsQuery>,
    h: HeaderMap,
    up: WebSocketUpgrade,
) -> ApiResult<Response> {
    ws_open(s, d, c, sub, q, h, up).await
}

async fn ws_open(
    s: AppState,
    d: String,
    c: String,
    sub: String,
    q: WsQuery,
    h: HeaderMap,
    up: WebSocketUpgrade,
) -> ApiResult<Response> {
    let who = identify(
        &s,
        Uuid::parse_str(&d).ok(),
        credentials(&h, q.authorization.as_deref()),
    )
    .await?;
    let topic = Topic {
        domain: d,
        channel: c,
        subtopic: parse_subtopic(&sub, true)?,
    };
    // Authorize before upgrading so a refused client gets a proper HTTP status.
    let (channel, subs) = s.core.subscribe(&who, &topic).await?;
    Ok(up
        .on_upgrade(move |socket| ws_session(s, who, topic, channel, subs, socket))
        .into_response())
}

async fn ws_session(
    s: AppState,
    who: ClientIdentity,
    topic: Topic,
    channel: Uuid,
    subs: Vec<switchyard_bus::Subscription>,
    socket: WebSocket,
) {
    let (mut tx, mut rx) = socket.split();
    let (fwd_tx, mut fwd_rx) = tokio::sync::mpsc::channel::<(Vec<u8>, i64)>(1024);
    // A full queue is waited for (slowing the publishers down); a socket that stays
    // stuck past the wait loses messages, counted (see `switchyard_bus::Outlet`).
    let fwd = Arc::new(Outlet::new(fwd_tx));
    let patience = s.cfg.subscriber_wait;
    let mut tasks = Vec::new();
    for mut sub in subs {
        let fwd = fwd.clone();
        tasks.push(tokio::spawn(async move {
            while let Some(m) = sub.rx.recv().await {
                if let Some(env) = Envelope::decode_slice(&m.payload) {
                    match fwd.send((env.payload, env.created), patience).await {
                        Sent::Queued => {}
                        Sent::Dropped => count_drop("slow_consumer"),
                        Sent::Closed => break,
                    }
                }
            }
        }));
    }
    drop(fwd);
    let mut revocations = s.core.revocations();
    let publish_topic = Topic {
        subtopic: if topic.subtopic.contains(['+', '#']) {
            String::new()
        } else {
            topic.subtopic.clone()
        },
        ..topic.clone()
    };
    loop {
        tokio::select! {
            out = fwd_rx.recv() => match out {
                Some((p, created)) => {
                    let len = p.len();
                    let msg = match String::from_utf8(p) {
                        Ok(t) => Message::Text(t.into()),
                        Err(e) => Message::Binary(e.into_bytes().into()),
                    };
                    if tx.send(msg).await.is_err() { break; }
                    s.meters.ws.delivered(0, len);
                    s.meters.ws.delivered_after(s.core.now().unix_timestamp_nanos(), created);
                }
                None => break,
            },
            inc = rx.next() => match inc {
                Some(Ok(Message::Text(t))) => {
                    if s.core.publish(&who, &publish_topic, "ws", t.as_bytes().to_vec(), Default::default()).await.is_ok() {
                        s.meters.ws.published(0, t.len());
                    }
                }
                Some(Ok(Message::Binary(b))) => {
                    if s.core.publish(&who, &publish_topic, "ws", b.to_vec(), Default::default()).await.is_ok() {
                        s.meters.ws.published(0, b.len());
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
            r = revocations.recv() => {
                let lost = match r {
                    Ok(Revocation::Client(id)) => id == who.id,
                    Ok(Revocation::Channel(id)) => id == channel,
                    Ok(Revocation::Domain(d)) => d == who.domain,
                    Ok(Revocation::Connection { client, channel: ch, kind }) => {
                        client == who.id && ch == channel && kind == ConnectionType::Subscribe
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        !s.core.still_allowed(&who, channel, ConnectionType::Subscribe).await
                    }
                    Err(_) => false,
                };
                if lost {
                    let _ = tx.send(Message::Close(None)).await;
                    break;
                }
            }
        }
    }
    for t in tasks {
        t.abort();
    }
}
