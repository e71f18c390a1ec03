//! Token-bucket rate limits: per client IP for the device-facing endpoints (bootstrap
//! fetch, `/mapping`), and per source and per account for failed logins. The table is
//! bounded: when it holds `MAX_SOURCES` keys it is cleared (every key starts again with
//! a full bucket), so a flood of unknown sources cannot grow memory.

use std::{collections::HashMap, hash::Hash, net::IpAddr, sync::Mutex, time::Instant};

pub const MAX_SOURCES: usize = 10_000;

/// (key, bucket) → (tokens, last refill).
type Buckets<K> = HashMap<(K, &'static str), (f64, Instant)>;

pub struct RateLimiter<K = IpAddr> {
    /// Tokens added per second; 0 disables the limit.
    per_sec: f64,
    burst: f64,
    buckets: Mutex<Buckets<K>>,
}

impl<K: Hash + Eq + Clone> RateLimiter<K> {
    pub fn new(per_sec: f64, burst: f64) -> RateLimiter<K> {
        RateLimiter {
            per_sec,
            burst: burst.max(1.0),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// `Ok` to go ahead (one token taken), or `Err(seconds to wait)`.
    pub fn check(&self, key: K, bucket: &'static str) -> Result<(), u64> {
        self.with(key, bucket, true)
    }

    /// As [`RateLimiter::check`] without taking a token: whether one is there.
    pub fn peek(&self, key: K, bucket: &'static str) -> Result<(), u64> {
        self.with(key, bucket, false)
    }

    fn with(&self, key: K, bucket: &'static str, take: bool) -> Result<(), u64> {
        if self.per_sec <= 0.0 {
            return Ok(());
        }
        let Ok(mut m) = self.buckets.lock() else {
            return Ok(());
        };
        let k = (key, bucket);
        if m.len() >= MAX_SOURCES && !m.contains_key(&k) {
            m.clear();
        }
        let now = Instant::now();
        let (tokens, at) = m.entry(k).or_insert((self.burst, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * self.per_sec).min(self.burst);
        *at = now;
        if *tokens >= 1.0 {
            if take {
                *tokens -= 1.0;
            }
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
        let r: RateLimiter = RateLimiter::new(1.0, 2.0);
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(r.check(ip, "a").is_ok());
        assert!(r.check(ip, "a").is_ok());
        assert_eq!(r.check(ip, "a"), Err(1));
        assert!(r.check(ip, "b").is_ok(), "buckets are separate");
        assert!(RateLimiter::new(0.0, 1.0).check(ip, "a").is_ok());
        assert!(
            r.peek(ip, "b").is_ok() && r.peek(ip, "b").is_ok(),
            "peek takes nothing"
        );
        let big: RateLimiter = RateLimiter::new(1.0, 1.0);
        for i in 0..(MAX_SOURCES as u32 + 10) {
            let _ = big.check(IpAddr::from(i.to_be_bytes()), "a");
        }
        assert!(big.buckets.lock().unwrap().len() <= MAX_SOURCES);
    }
}
