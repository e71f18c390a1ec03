//! Raw MQTT bytes for tests that must send what a client library would not (or check
//! exact packets): the pieces every such test builds packets from.

/// The variable-length "remaining length" of a fixed header.
pub fn remaining_length(out: &mut Vec<u8>, mut n: usize) {
    loop {
        let mut b = (n % 128) as u8;
        n /= 128;
        if n > 0 {
            b |= 0x80;
        }
        out.push(b);
        if n == 0 {
            break;
        }
    }
}

/// A length-prefixed MQTT string.
pub fn mqtt_str(v: &mut Vec<u8>, s: &[u8]) {
    v.extend((s.len() as u16).to_be_bytes());
    v.extend(s);
}

/// A packet: its first byte, the remaining length and `body`.
pub fn packet(first: u8, body: Vec<u8>) -> Vec<u8> {
    let mut out = vec![first];
    remaining_length(&mut out, body.len());
    out.extend(body);
    out
}
