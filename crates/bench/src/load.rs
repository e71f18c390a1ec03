//! Closed-loop load generator: N workers share one HTTP client and send requests back to
//! back until a deadline or a request cap, whichever comes first.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

/// Builds the request for a given pseudo-random number.
pub type MakeRequest = Arc<dyn Fn(u64) -> reqwest::RequestBuilder + Send + Sync>;

#[derive(Debug, Clone, Copy)]
pub struct LoadSpec {
    pub workers: usize,
    /// Requests sent before measuring starts (connections opened, caches warm).
    pub warmup: Duration,
    pub duration: Duration,
    /// Upper bound on requests in the measured window, all workers together.
    pub max_requests: u64,
}

#[derive(Debug, Clone, Default)]
pub struct LoadResult {
    /// Successful (2xx) responses in the measured window.
    pub ok: u64,
    /// Non-2xx responses and transport errors in the measured window.
    pub errors: u64,
    /// First error seen, for the notes.
    pub first_error: Option<String>,
    /// From the start of the measured window to the last response in it.
    pub elapsed: Duration,
    /// Latency of each successful request, microseconds, sorted.
    pub latencies_us: Vec<u64>,
}

impl LoadResult {
    pub fn rps(&self) -> f64 {
        let s = self.elapsed.as_secs_f64();
        if s > 0.0 { self.ok as f64 / s } else { 0.0 }
    }
    /// The given percentile (0..=100) of successful latencies, in milliseconds.
    pub fn percentile_ms(&self, p: f64) -> f64 {
        percentile(&self.latencies_us, p) as f64 / 1000.0
    }
}

/// Nearest-rank percentile of sorted values (0 for none).
pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// SplitMix64: a tiny, good-enough generator for picking ids.
pub fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

struct WorkerOut {
    ok: u64,
    errors: u64,
    first_error: Option<String>,
    last_done: Option<Instant>,
    lat: Vec<u64>,
}

pub async fn run(spec: LoadSpec, make: MakeRequest) -> LoadResult {
    let start = Instant::now();
    let window_start = start + spec.warmup;
    let window_end = window_start + spec.duration;
    let sent = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::with_capacity(spec.workers);
    for w in 0..spec.workers {
        let make = make.clone();
        let sent = sent.clone();
        tasks.push(tokio::spawn(async move {
            let mut rng = 0x5EED_0000_u64 + w as u64 * 7919;
            let mut out = WorkerOut {
                ok: 0,
                errors: 0,
                first_error: None,
                last_done: None,
                lat: Vec::with_capacity(4096),
            };
            loop {
                let t0 = Instant::now();
                if t0 >= window_end {
                    break;
                }
                let measured = t0 >= window_start;
                if measured && sent.fetch_add(1, Ordering::Relaxed) >= spec.max_requests {
                    break;
                }
                let res = make(splitmix(&mut rng)).send().await;
                // Read the whole body so the connection goes back to the pool.
                let outcome = match res {
                    Ok(r) => {
                        let status = r.status();
                        match r.bytes().await {
                            Ok(_) if status.is_success() => Ok(()),
                            Ok(b) => Err(format!(
                                "HTTP {status}: {}",
                                String::from_utf8_lossy(&b[..b.len().min(200)])
                            )),
                            Err(e) => Err(e.to_string()),
                        }
                    }
                    Err(e) => Err(e.to_string()),
                };
                let done = Instant::now();
                if !measured {
                    continue;
                }
                out.last_done = Some(done);
                match outcome {
                    Ok(()) => {
                        out.ok += 1;
                        out.lat.push(
                            u64::try_from(done.duration_since(t0).as_micros()).unwrap_or(u64::MAX),
                        );
                    }
                    Err(e) => {
                        out.errors += 1;
                        out.first_error.get_or_insert(e);
                    }
                }
            }
            out
        }));
    }
    let mut res = LoadResult::default();
    let mut last = window_start;
    for t in tasks {
        match t.await {
            Ok(o) => {
                res.ok += o.ok;
                res.errors += o.errors;
                if res.first_error.is_none() {
                    res.first_error = o.first_error;
                }
                if let Some(d) = o.last_done {
                    last = last.max(d);
                }
                res.latencies_us.extend(o.lat);
            }
            Err(e) => {
                res.errors += 1;
                res.first_error.get_or_insert(format!("worker failed: {e}"));
            }
        }
    }
    res.elapsed = last.saturating_duration_since(window_start);
    res.latencies_us.sort_unstable();
    res
}
