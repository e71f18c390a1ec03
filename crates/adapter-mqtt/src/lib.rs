//! The MQTT adapter: MQTT 3.1, 3.1.1 and 5 over TCP, TLS, or any byte stream (the
//! WebSocket transport hands its stream to [`MqttAdapter::handle`]). Packets are
//! encoded and decoded by `rmqtt-codec` behind our own [`packet`] types; the session
//! loop is ours, on tokio.
//!
//! # What it enforces
//!
//! - **Authentication at CONNECT**: username = client id, password = client secret,
//!   checked by `Core::authenticate_client`. Refusals: missing credentials → v3 `0x05`
//!   / v5 `0x87`; wrong, unknown or disabled → v3 `0x04` / v5 `0x86`; a store failure →
//!   v3 `0x03` / v5 `0x88`; a v5 enhanced-authentication method → `0x8C`.
//! - **mTLS**: on [`MqttAdapter::serve_tls`], a client certificate accepted by the TLS
//!   acceptor's verifier authenticates CONNECT instead of the password: it must be
//!   signed by core's CA and valid, its serial issued by the Certs service to the client
//!   its common name names (`Core::cert_client`, read at every CONNECT, so revocations
//!   after the acceptor's CRL was loaded still refuse), not revoked, and that client
//!   enabled; the username may be empty or that client id, the password is ignored.
//!   Refusal → v3 `0x05` / v5 `0x87`. Without a certificate, TLS sessions use
//!   username/password. An open session is not closed when its certificate is revoked.
//! - **Client identifier**: an empty one is assigned (`switchyard-<uuid>`) on 3.1.1 with
//!   clean session and on v5 (returned as Assigned Client Identifier); refused otherwise
//!   (v3 `0x02`, v5 `0x85`). A second connection with the same client id and identifier
//!   takes the session over (the old one gets v5 DISCONNECT `0x8E`).
//! - **Every publish and subscribe is authorized by core** (`Core::publish`,
//!   `Core::subscribe`) on `m/<domain>/c/<channel>[/<subtopic>]` (contract §13.3). A
//!   malformed topic counts as not authorized, as in Magistrala.
//!   - Refused PUBLISH, v5: QoS 1 gets PUBACK `0x87`, QoS 2 PUBREC `0x87`, QoS 0 is
//!     dropped. v3 has no way to say no: the message is dropped and a QoS 1/2 publish is
//!     still acknowledged (so the client does not retry it forever). A core failure
//!     (not a refusal) is PUBACK `0x80` on v5 and closes a v3 connection unacknowledged.
//!   - Refused SUBSCRIBE filter: SUBACK `0x80` (v3) / `0x87` (v5); over
//!     [`MqttConfig::max_subscriptions`]: `0x80` / `0x97`.
//! - **Revocation is live**: each session listens to `Core::revocations()`. Its client
//!   disabled, deleted or re-keyed → the connection is closed (v5 DISCONNECT `0x87`). A
//!   Subscribe connection removed, or a channel disabled or deleted → the session
//!   re-checks with `Core::still_allowed` and drops its subscriptions on that channel
//!   (queued messages of a dropped subscription are discarded too). Publishes need no
//!   notice: core checks each one. Missed notices (a lagging receiver) → re-authenticate
//!   and re-check every subscribed channel.
//! - **QoS**: 0, 1 and 2 end to end. An inbound QoS 2 PUBLISH is published once and
//!   answered PUBREC, then PUBREL → PUBCOMP (a resend before PUBREL is not published
//!   again); at most [`MqttConfig::max_inbound_qos2`] await PUBREL (announced as v5
//!   Receive Maximum; more → DISCONNECT `0x93`). Messages go out at the lower of the
//!   publish QoS and the subscription's granted QoS (HTTP and WebSocket publishes, which
//!   have none, at the granted QoS; retained ones at the lower of theirs and the granted
//!   one); QoS 1 and 2 with a packet id, at most [`MqttConfig::max_inflight`]
//!   unacknowledged (or the v5 client's Receive Maximum if lower). Outbound QoS 2 is the
//!   full exchange: PUBLISH → the client's PUBREC → our PUBREL → PUBCOMP; after PUBREL
//!   only the PUBREL is ever sent again (on resume), never the message.
//! - **Persistent sessions** (v3 clean session 0; v5 Session Expiry Interval > 0, at
//!   most [`MqttConfig::session_expiry_max`], which v5 clients are told): when the
//!   connection ends, the session's subscriptions keep collecting messages into its
//!   bounded queue, and QoS 1 messages sent but not acknowledged are kept. A reconnect
//!   with the same client and identifier and without clean start resumes it (Session
//!   Present 1): the unacknowledged messages are sent again with DUP, then the queue;
//!   subscriptions to channels the client may no longer read are dropped. Clean start
//!   discards a kept session; a revoked client's session is not kept, nor one past
//!   [`MqttConfig::max_kept_sessions`] (in total) or
//!   [`MqttConfig::max_kept_sessions_per_client`]. Kept sessions
//!   live in memory; [`MqttAdapter::save_sessions`] writes them (with those of the
//!   clients still connected) to the store when the server stops, and
//!   [`MqttAdapter::restore_sessions`] subscribes them again at the next start. Without
//!   persistence, subscriptions and in-flight messages end with the connection.
//! - **Keep-alive**: nothing received for 1.5 × keep-alive closes the connection (v5
//!   DISCONNECT `0x8D`). v3 values are honoured as sent (0 = none); a v5 client asking 0
//!   or more than [`MqttConfig::keep_alive_max`] is given that maximum as Server Keep
//!   Alive. CONNECT must arrive within [`MqttConfig::connect_timeout`].
//! - **Will messages** are published through `Core::publish` (so only where the client
//!   may publish) when the connection ends without a DISCONNECT (or with v5 `0x04`):
//!   EOF, keep-alive, protocol error, revocation, take-over, slow consumer, shutdown.
//!   v5 will properties travel with the will message. A v5 Will Delay Interval holds the
//!   will back until the delay or the kept session ends, whichever comes first; a new
//!   connection to the session in between (a take-over included) cancels it (a session
//!   that is not kept, or a server shutting down, publishes at once). v5 properties
//!   count against the queue's and the retained store's byte budgets.
//! - **Retained messages**: the last retained payload per channel and subtopic, in
//!   memory per adapter, bounded by [`MqttConfig::retained_max_messages`] and
//!   [`MqttConfig::retained_max_bytes`]; delivered (retain flag set) on subscribe,
//!   honouring v5 Retain Handling, with their v5 properties; an empty retained payload
//!   clears. Live messages go out with retain 0, or as published to a v5 subscription
//!   with Retain As Published. Only messages retained over MQTT are kept (HTTP has no
//!   retain flag).
//! - **Packet size**: an inbound packet whose remaining length exceeds
//!   [`MqttConfig::max_packet_size`] closes the connection (v5 DISCONNECT `0x95`, and the
//!   limit is announced in CONNACK); a message larger than a v5 client's Maximum Packet
//!   Size is not sent to it.
//! - **Flow control**: each session has a queue of at most [`MqttConfig::outbound_queue`]
//!   messages and [`MqttConfig::outbound_bytes`] bytes between the bus and the socket.
//!   When it is full, the message waits for room, and so do the bus and the publisher
//!   behind it: a publisher faster than its subscribers is read more slowly (TCP
//!   back-pressure) rather than losing messages. A subscriber that gets no room for
//!   [`MqttConfig::subscriber_wait`] is stuck: its QoS 0 messages are dropped without
//!   further waiting until it catches up, and a QoS 1 subscription disconnects the
//!   session (v5 DISCONNECT `0x97` quota exceeded), so it stalls nobody else for longer.
//!   A kept session whose client is away is never waited for: once its queue is full
//!   (what it held unsent when the client left counts), what arrives for it is dropped
//!   until the client is back.
//!   Every drop is counted in `switchyard_messages_dropped_total{reason}`. A write that
//!   takes longer than [`MqttConfig::write_timeout`] also closes the connection. The
//!   queue stops draining while the in-flight window is full.
//! - **Malformed input** closes the connection (v5 DISCONNECT `0x81`), never the server:
//!   library code does not panic on input, and the tests feed it random bytes.
//! - **v5 publish properties** (user properties, content type, payload format
//!   indicator, response topic, correlation data, message expiry) are forwarded
//!   unaltered: the bus envelope carries them in fields Magistrala's decoders skip, so
//!   they cross NATS too, and retained messages and kept sessions keep them. A message
//!   whose expiry passes while it waits is not sent; otherwise the interval left is.
//! - **v5 subscriptions**: Subscription Identifiers (each message carries the one of the
//!   subscription it came through; overlapping subscriptions each deliver a copy);
//!   Retain As Published; No Local by MQTT client identifier [MQTT-3.8.3-3] (the
//!   envelope carries it), not every connection of the same platform client; **shared
//!   subscriptions** `$share/<group>/m/<domain>/c/<channel>/…`, authorized like any
//!   subscription, each message to one member of the group (a NATS queue group across
//!   nodes; round robin on the in-process bus), no retained messages on subscribe.
//! - **v5 DISCONNECT** may change the Session Expiry Interval (0 ends the session at
//!   once; raising it from 0 is a protocol error, `0x82`).
//! - v5 extras not supported: topic aliases (maximum 0; using one → `0x94`), enhanced
//!   authentication.

mod metrics;
mod mtls;
pub mod packet;
mod retained;
mod session;

use std::{future::Future, sync::Arc, time::Duration};

use switchyard_core::{Core, kept_sessions::SessionClaim};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::{TcpListener, TcpStream},
    task::JoinSet,
};
pub use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use session::Shared;

/// Settings of the MQTT adapter.
#[derive(Debug, Clone)]
pub struct MqttConfig {
    /// Largest inbound packet (remaining length, bytes); larger closes the connection.
    pub max_packet_size: usize,
    /// Messages queued per session between the bus and the socket.
    pub outbound_queue: usize,
    /// Topic and payload bytes queued per session between the bus and the socket.
    pub outbound_bytes: usize,
    /// How long a full outbound queue is waited for (slowing the publishers down)
    /// before the subscriber counts as stuck: its QoS 0 messages are then dropped and
    /// counted, a QoS 1 subscriber is disconnected.
    pub subscriber_wait: Duration,
    /// Largest keep-alive (seconds) a v5 client gets; also imposed on v5 clients asking 0.
    pub keep_alive_max: u16,
    /// QoS 1 messages sent to a client and not yet acknowledged.
    pub max_inflight: u16,
    /// Inbound QoS 2 publishes awaiting PUBREL (v5 Receive Maximum we announce).
    pub max_inbound_qos2: u16,
    /// Topic filters one session may hold.
    pub max_subscriptions: usize,
    /// Time a new connection has to send CONNECT (and, on TLS, to finish the handshake).
    pub connect_timeout: Duration,
    /// A write to the client that takes longer closes the connection.
    pub write_timeout: Duration,
    /// Retained messages kept per adapter, across all channels.
    pub retained_max_messages: usize,
    /// Total payload bytes of retained messages kept per adapter.
    pub retained_max_bytes: usize,
    /// Connections one listener serves at once; more are closed on accept.
    pub max_connections: usize,
    /// Longest a persistent session (3.1.1 clean session 0; v5 Session Expiry Interval)
    /// is kept after its connection ends, with its subscriptions and the messages that
    /// arrive meanwhile (up to the outbound queue's bounds). v5 clients asking for longer
    /// are told this value.
    pub session_expiry_max: Duration,
    /// Persistent sessions kept at once (clients away), in total and per client; past
    /// either, a further one ends with its connection (counted).
    pub max_kept_sessions: usize,
    pub max_kept_sessions_per_client: usize,
}

impl Default for MqttConfig {
    fn default() -> Self {
        MqttConfig {
            max_packet_size: 1024 * 1024,
            outbound_queue: 16 * 1024,
            outbound_bytes: 8 * 1024 * 1024,
            subscriber_wait: switchyard_bus::DEFAULT_PATIENCE,
            keep_alive_max: 300,
            max_inflight: 64,
            max_inbound_qos2: 64,
            max_subscriptions: 256,
            connect_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(10),
            retained_max_messages: 10_000,
            retained_max_bytes: 64 * 1024 * 1024,
            max_connections: 100_000,
            session_expiry_max: Duration::from_secs(24 * 3600),
            max_kept_sessions: 10_000,
            max_kept_sessions_per_client: 16,
        }
    }
}

/// One MQTT adapter: the sessions it serves share its retained messages and its
/// take-over registry, whatever transport each came over. Cheap to clone.
#[derive(Clone)]
pub struct MqttAdapter {
    shared: Arc<Shared>,
}

/// Messages for kept sessions waiting to be logged; past it they are counted and go
/// unlogged (still delivered, unless the server crashes first).
const AWAY_LOG_QUEUE: usize = 65_536;
/// Messages logged per transaction at most.
const AWAY_LOG_BATCH: usize = 2_000;

/// How long `serve` waits for sessions to say goodbye after shutdown.
const DRAIN: Duration = Duration::from_secs(5);

impl MqttAdapter {
    pub fn new(core: Arc<Core>, cfg: MqttConfig) -> MqttAdapter {
        MqttAdapter {
            shared: Arc::new(Shared::new(core, cfg)),
        }
    }

    /// Saves the persistent sessions — those kept while their clients are away and
    /// those of clients connected when the server stopped — for the next start (or
    /// another node) to take. Call once the listeners have stopped. Returns how many
    /// were saved.
    pub async fn save_sessions(&self) -> usize {
        let sessions = self.shared.export_parked();
        let n = sessions.len();
        if let Err(e) = self.shared.core.save_mqtt_sessions(None, &sessions).await {
            tracing::warn!(error = %e, "mqtt: persistent sessions not saved");
            return 0;
        }
        n
    }

    /// Restores the persistent sessions saved by the last stop (subscribed again, their
    /// messages waiting), and on a node alone also those its predecessor held when it
    /// ended without saving them; on a bus shared with other nodes, starts answering
    /// their claims of sessions this node holds. Call before serving. Returns how many
    /// were restored.
    pub async fn restore_sessions(&self) -> usize {
        let core = &self.shared.core;
        if core.is_distributed() {
            match core.session_claims().await {
                Ok(mut claims) => {
                    let weak = Arc::downgrade(&self.shared);
                    tokio::spawn(async move {
                        while let Some(m) = claims.rx.recv().await {
                            let Some(shared) = weak.upgrade() else { break };
                            if let Some(c) = SessionClaim::decode(&m.payload) {
                                tokio::spawn(async move { shared.release(c).await });
                            }
                        }
                    });
                }
                Err(e) => tracing::warn!(error = %e, "mqtt: other nodes' session claims not heard"),
            }
        }
        self.start_away_log();
        let mut saved = match core.take_mqtt_sessions().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "mqtt: persistent sessions not restored");
                return 0;
            }
        };
        // Held by this node from now on, their clients away: a crash before they end
        // leaves them saved, with what arrives for them logged.
        for rec in &mut saved {
            rec.epoch = session::new_epoch();
        }
        if let Err(e) = core
            .save_mqtt_sessions(Some(self.shared.node), &saved)
            .await
        {
            tracing::warn!(error = %e, "mqtt: restored sessions not written");
        }
        let mut n = 0;
        for rec in saved {
            let key = (rec.client_id, rec.mqtt_id.clone());
            if self.shared.import(rec).await {
                n += 1;
            } else {
                self.shared.forget(&key).await;
            }
        }
        n
    }

    /// Starts the writer that logs, in batches, the messages queued for kept sessions
    /// while their clients are away.
    fn start_away_log(&self) {
        let (tx, mut rx) = tokio::sync::mpsc::channel(AWAY_LOG_QUEUE);
        if self.shared.away_log.set(tx).is_err() {
            return;
        }
        let core = self.shared.core.clone();
        tokio::spawn(async move {
            let mut batch = Vec::new();
            while rx.recv_many(&mut batch, AWAY_LOG_BATCH).await > 0 {
                if let Err(e) = core.append_mqtt_messages(&batch).await {
                    tracing::warn!(error = %e, n = batch.len(), "mqtt: messages for kept sessions not logged");
                    crate::metrics::away_unlogged(batch.len());
                }
                batch.clear();
            }
        });
    }

    /// Serves one connection to its end, over any byte stream.
    pub async fn handle<S>(&self, stream: S)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        session::run(stream, self.shared.clone(), None, None, "ws").await
    }

    /// Accepts plain TCP connections until `shutdown` completes, then closes the open
    /// sessions (v5 DISCONNECT `0x8B`) and waits for them (a few seconds at most).
    pub async fn serve(&self, listener: TcpListener, shutdown: impl Future<Output = ()>) {
        accept_loop(
            listener,
            self.shared.clone(),
            shutdown,
            // The session's own future, not one wrapping it: an idle connection's task
            // holds nothing more.
            |sock, shared, stop| session::run(sock, shared, Some(stop), None, "tcp"),
        )
        .await
    }

    /// As [`MqttAdapter::serve`], with a TLS handshake (bounded by the connect timeout)
    /// before MQTT.
    pub async fn serve_tls(
        &self,
        listener: TcpListener,
        acceptor: TlsAcceptor,
        shutdown: impl Future<Output = ()>,
    ) {
        accept_loop(
            listener,
            self.shared.clone(),
            shutdown,
            move |sock, shared, stop| {
                let acceptor = acceptor.clone();
                async move {
                    let limit = shared.cfg.connect_timeout;
                    match tokio::time::timeout(limit, acceptor.accept(sock)).await {
                        Ok(Ok(tls)) => {
                            // A certificate here passed the acceptor's client verifier;
                            // the session checks it again against core's CA.
                            let peer = tls
                                .get_ref()
                                .1
                                .peer_certificates()
                                .and_then(|c| c.first())
                                .map(|c| c.as_ref().to_vec());
                            session::run(tls, shared, Some(stop), peer, "tls").await
                        }
                        Ok(Err(e)) => tracing::debug!(error = %e, "mqtt: TLS handshake failed"),
                        Err(_) => tracing::debug!("mqtt: TLS handshake timed out"),
                    }
                }
            },
        )
        .await
    }
}

async fn accept_loop<F, Fut>(
    listener: TcpListener,
    shared: Arc<Shared>,
    shutdown: impl Future<Output = ()>,
    conn: F,
) where
    F: Fn(TcpStream, Arc<Shared>, CancellationToken) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let stop = CancellationToken::new();
    let mut tasks = JoinSet::new();
    let max = shared.cfg.max_connections.max(1);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            r = listener.accept() => match r {
                Ok((sock, peer)) => {
                    if tasks.len() >= max {
                        tracing::warn!(%peer, "mqtt: connection limit reached, connection closed");
                        continue;
                    }
                    let _ = sock.set_nodelay(true);
                    tasks.spawn(conn(sock, shared.clone(), stop.clone()));
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "mqtt: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    drop(listener);
    stop.cancel();
    let _ = tokio::time::timeout(DRAIN, async { while tasks.join_next().await.is_some() {} }).await;
    tasks.abort_all();
}

/// Serves MQTT over plain TCP with a new [`MqttAdapter`] until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    core: Arc<Core>,
    cfg: MqttConfig,
    shutdown: impl Future<Output = ()>,
) {
    MqttAdapter::new(core, cfg).serve(listener, shutdown).await
}

/// Serves MQTT over TLS with a new [`MqttAdapter`] until `shutdown` completes.
pub async fn serve_tls(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    core: Arc<Core>,
    cfg: MqttConfig,
    shutdown: impl Future<Output = ()>,
) {
    MqttAdapter::new(core, cfg)
        .serve_tls(listener, acceptor, shutdown)
        .await
}

/// Serves one connection over any byte stream with a standalone adapter. Its retained
/// messages and take-over registry are its own: transports that should share them with
/// a listener use [`MqttAdapter::handle`] on the same adapter.
pub async fn handle<S>(stream: S, core: Arc<Core>, cfg: MqttConfig)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    MqttAdapter::new(core, cfg).handle(stream).await
}
