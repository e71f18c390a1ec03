//! Credentials: password hashing (Argon2id), access/refresh JWTs with an injected
//! clock, and the authorization policy as pure functions.

pub mod password;
pub mod pat;
pub mod policy;
pub mod token;

pub use token::{Claims, KeyMaterial, TokenError, TokenKind, Tokenizer};

use time::OffsetDateTime;

/// Source of "now". Injected everywhere time matters so tests never sleep.
pub trait Clock: Send + Sync {
    fn now(&self) -> OffsetDateTime;
}

/// Wall clock truncated to microseconds (what PostgreSQL stores), so values read
/// back equal the values written on every backend.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        truncate_micros(OffsetDateTime::now_utc())
    }
}

pub fn truncate_micros(t: OffsetDateTime) -> OffsetDateTime {
    let micros = t.microsecond();
    t.replace_microsecond(micros).unwrap_or(t)
}

/// A clock tests move by hand.
#[derive(Debug)]
pub struct ManualClock(std::sync::Mutex<OffsetDateTime>);

impl ManualClock {
    pub fn new(t: OffsetDateTime) -> ManualClock {
        ManualClock(std::sync::Mutex::new(truncate_micros(t)))
    }
    pub fn advance(&self, d: time::Duration) {
        if let Ok(mut g) = self.0.lock() {
            *g += d;
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        self.0
            .lock()
            .map(|g| *g)
            .unwrap_or_else(|p| *p.into_inner())
    }
}
