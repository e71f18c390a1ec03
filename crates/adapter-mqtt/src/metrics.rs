//! The adapter's series in `/metrics` (Prometheus names; QoS as a label).

/// A message a client published and core accepted.
pub(crate) fn published(qos: u8, bytes: usize) {
    let q = qos_label(qos);
    metrics::counter!("switchyard_messages_in_total", "adapter" => "mqtt", "qos" => q).increment(1);
    metrics::counter!("switchyard_message_bytes_in_total", "adapter" => "mqtt", "qos" => q)
        .increment(bytes as u64);
}

/// A message written to a subscriber (its PUBLISH packet's size).
pub(crate) fn delivered(qos: u8, bytes: usize) {
    let q = qos_label(qos);
    metrics::counter!("switchyard_messages_out_total", "adapter" => "mqtt", "qos" => q)
        .increment(1);
    metrics::counter!("switchyard_message_bytes_out_total", "adapter" => "mqtt", "qos" => q)
        .increment(bytes as u64);
}

/// A session began (after its CONNACK) or ended.
pub(crate) fn session(open: bool) {
    let g = metrics::gauge!("switchyard_mqtt_connections");
    if open {
        g.increment(1.0);
        metrics::counter!("switchyard_mqtt_connections_total").increment(1);
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

fn qos_label(qos: u8) -> &'static str {
    match qos {
        0 => "0",
        1 => "1",
        _ => "2",
    }
}
