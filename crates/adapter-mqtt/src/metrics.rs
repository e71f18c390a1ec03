//! The adapter's series in `/metrics` (Prometheus names); the per-message ones are
//! core's [`switchyard_core::meters::PlaneMeters`].

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

/// Messages queued for kept sessions that could not be logged to the store (its
/// writer fell behind or failed): still delivered, but lost if the server crashes.
pub(crate) fn away_unlogged(n: usize) {
    metrics::counter!("switchyard_mqtt_away_messages_unlogged_total").increment(n as u64);
}
