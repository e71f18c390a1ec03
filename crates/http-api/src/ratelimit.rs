//! Per-source rate limit for the device-facing endpoints (bootstrap fetch, `/mapping`):
//! a token bucket per client IP. The table is bounded: when it holds `MAX_SOURCES`
//! sources it is cleared (every source starts again with a full bucket), so a flood
//! of unknown sources cannot grow memory.

use std::{collections::HashMap, net::IpAddr, sync::Mutex, time::Instant};

pub const MAX_SOURCES: usize = 10_000;

/// (source, bucket) → (tokens, last refill).
type Buckets = HashMap<(IpAddr, &'static str), (f64, Instant)>;

pub struct RateLimiter {
    /// Tokens added per second; 0 disables the limit.
    per_sec: f64,
    burst: f64,
    buckets: Mutex<Buckets>,
}

impl RateLimiter {
    pub fn new(per_sec: f64, burst: f64) -> RateLimiter {
        RateLimiter {
            per_sec,
            burst: burst.max(1.0),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// `Ok` to go ahead, or `Err(seconds to wait)`.
    pub fn check(&self, ip: IpAddr, bucket: &'static str) -> Result<(), u64> {
        if self.per_sec <= 0.0 {
            return Ok(());
        }
        let Ok(mut m) = self.buckets.lock() else {
            return Ok(());
        };
        if m.len() >= MAX_SOURCES && !m.contains_key(&(ip, bucket)) {
            m.clear();
        }
        let now = Instant::now();
        let (tokens, at) = m.entry((ip, bucket)).or_insert((self.burst, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * self.per_sec).min(self.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - *tokens) / self.per_sec).ceil().max(1.0) as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket() {
        let r = RateLimiter::new(1.0, 2.0);
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(r.check(ip, "a").is_ok());
        assert!(r.check(ip, "a").is_ok());
        assert_eq!(r.check(ip, "a"), Err(1));
        assert!(r.check(ip, "b").is_ok(), "buckets are separate");
        assert!(RateLimiter::new(0.0, 1.0).check(ip, "a").is_ok());
        let big = RateLimiter::new(1.0, 1.0);
        for i in 0..(MAX_SOURCES as u32 + 10) {
            let _ = big.check(IpAddr::from(i.to_be_bytes()), "a");
        }
        assert!(big.buckets.lock().unwrap().len() <= MAX_SOURCES);
    }
}
