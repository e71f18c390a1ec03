//! Switchyard's benchmark harness.
//!
//! `cargo run --release -p switchyard-bench -- [--quick] [--json FILE]` starts its own
//! servers (the release `switchyard` binary, as child processes) on free loopback ports
//! with fresh stores, runs bounded scenarios against 127.0.0.1 only, stops everything it
//! started, prints a table and optionally writes the same figures as JSON:
//!
//! ```json
//! {"machine": {"cores": 2, "memory_mb": 24105, "cpu": "...", "os": "..."},
//!  "commit": "<git rev-parse HEAD or unknown>",
//!  "rows": [{"scenario": "api_read", "backend": "sqlite", "value": 9000.0,
//!            "unit": "req/s", "baseline": 15000.0, "ratio": 0.6,
//!            "target": "ratio >= 0.5", "met": true}],
//!  "profile": "release", "mode": "quick", "notes": []}
//! ```
//!
//! The report types and [`report::validate`] are public so the shape is tested without
//! running a benchmark.

pub mod burst;
pub mod device;
pub mod fresh;
pub mod load;
pub mod machine;
pub mod mqtt;
pub mod mqttload;
pub mod pg;
pub mod report;
pub mod scale;
pub mod scenarios;
pub mod server;
pub mod shared;
pub mod sqlcount;
