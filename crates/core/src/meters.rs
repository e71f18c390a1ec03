//! The message plane's series in `/metrics`, one set per adapter (MQTT, HTTP,
//! WebSocket), by QoS. Built once per adapter: a `counter!` with labels builds its key
//! on every call, too slow at full message rate.

use metrics::{Counter, Histogram};

/// Messages and bytes in and out, and publish → delivery latency, of one adapter.
pub struct PlaneMeters {
    msgs_in: Vec<Counter>,
    bytes_in: Vec<Counter>,
    msgs_out: Vec<Counter>,
    bytes_out: Vec<Counter>,
    latency: Histogram,
}

impl PlaneMeters {
    /// The series of `adapter` for QoS 0 up to `max_qos` (an adapter without QoS
    /// levels, such as HTTP, has only 0).
    pub fn new(adapter: &'static str, max_qos: u8) -> PlaneMeters {
        let levels = &["0", "1", "2"][..=usize::from(max_qos.min(2))];
        let by_qos = |name: &'static str| {
            levels
                .iter()
                .map(|q| metrics::counter!(name, "adapter" => adapter, "qos" => *q))
                .collect::<Vec<_>>()
        };
        PlaneMeters {
            msgs_in: by_qos("switchyard_messages_in_total"),
            bytes_in: by_qos("switchyard_message_bytes_in_total"),
            msgs_out: by_qos("switchyard_messages_out_total"),
            bytes_out: by_qos("switchyard_message_bytes_out_total"),
            latency: metrics::histogram!("switchyard_message_delivery_seconds", "adapter" => adapter),
        }
    }

    /// A message a client published and core accepted.
    pub fn published(&self, qos: u8, bytes: usize) {
        let q = self.level(qos);
        self.msgs_in[q].increment(1);
        self.bytes_in[q].increment(bytes as u64);
    }

    /// A message written to a subscriber (the size of what was written).
    pub fn delivered(&self, qos: u8, bytes: usize) {
        let q = self.level(qos);
        self.msgs_out[q].increment(1);
        self.bytes_out[q].increment(bytes as u64);
    }

    /// How long a message took from its publish (`created_ns`, Unix nanoseconds; 0 when
    /// unknown) to a subscriber at `now_ns`.
    pub fn delivered_after(&self, now_ns: i128, created_ns: i64) {
        if created_ns > 0 {
            let ns = now_ns.saturating_sub(i128::from(created_ns)).max(0);
            self.latency.record(ns as f64 / 1e9);
        }
    }

    fn level(&self, qos: u8) -> usize {
        usize::from(qos).min(self.msgs_in.len() - 1)
    }
}
