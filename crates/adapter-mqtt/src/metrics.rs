//! The adapter's series in `/metrics` (Prometheus names; QoS as a label).

use metrics::Counter;

/// The per-message counters, made once per adapter (a `counter!` with labels builds
/// its key on every call), by QoS 0, 1 and 2.
pub(crate) struct Meters {
    msgs_in: [Counter; 3],
    bytes_in: [Counter; 3],
    msgs_out: [Counter; 3],
    bytes_out: [Counter; 3],
    /// Publish → written to the subscriber's socket buffer, seconds.
    latency: metrics::Histogram,
}

impl Meters {
    pub(crate) fn new() -> Meters {
        let by_qos = |name: &'static str| {
            ["0", "1", "2"].map(|q| metrics::counter!(name, "adapter" => "mqtt", "qos" => q))
        };
        Meters {
            msgs_in: by_qos("switchyard_messages_in_total"),
            bytes_in: by_qos("switchyard_message_bytes_in_total"),
            msgs_out: by_qos("switchyard_messages_out_total"),
            bytes_out: by_qos("switchyard_message_bytes_out_total"),
            latency: metrics::histogram!("switchyard_message_delivery_seconds", "adapter" => "mqtt"),
        }
    }

    /// A message a client published and core accepted.
    pub(crate) fn published(&self, qos: u8, bytes: usize) {
        let q = usize::from(qos.min(2));
        self.msgs_in[q].increment(1);
        self.bytes_in[q].increment(bytes as u64);
    }

    /// How long a message took from its publish to a subscriber's socket.
    pub(crate) fn delivered_after(&self, seconds: f64) {
        self.latency.record(seconds);
    }

    /// A message written to a subscriber (its PUBLISH packet's size).
    pub(crate) fn delivered(&self, qos: u8, bytes: usize) {
        let q = usize::from(qos.min(2));
        self.msgs_out[q].increment(1);
        self.bytes_out[q].increment(bytes as u64);
    }
}

/// A session began (after its CONNACK) or ended, by transport (`tcp`, `tls`, `ws`).
pub(crate) fn session(open: bool, transport: &'static str) {
    let g = metrics::gauge!("switchyard_mqtt_connections", "transport" => transport);
    if open {
        g.increment(1.0);
        metrics::counter!("switchyard_mqtt_connections_total", "transport" => transport)
            .increment(1);
    } else {
        g.decrement(1.0);
    }
}

/// A CONNECT refused for its credentials or certificate.
pub(crate) fn auth_failed() {
    metrics::counter!("switchyard_mqtt_auth_failures_total").increment(1);
}

/// A publish or subscribe core refused.
pub(crate) fn denied(op: &'static str) {
    metrics::counter!("switchyard_mqtt_denied_total", "op" => op).increment(1);
}

/// A session ended by the server for this reason (slow consumer, keep-alive, …).
pub(crate) fn ended(reason: &'static str) {
    metrics::counter!("switchyard_mqtt_sessions_ended_total", "reason" => reason).increment(1);
}

/// A persistent session was parked (its client away) or left the parked set (resumed,
/// discarded by a clean start, or expired).
pub(crate) fn parked(added: bool) {
    let g = metrics::gauge!("switchyard_mqtt_parked_sessions");
    if added {
        g.increment(1.0);
    } else {
        g.decrement(1.0);
    }
}

/// A persistent session that was not kept because a limit was reached.
pub(crate) fn not_kept(reason: &'static str) {
    metrics::counter!("switchyard_mqtt_sessions_not_kept_total", "reason" => reason).increment(1);
}
