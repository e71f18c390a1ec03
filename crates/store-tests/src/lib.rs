//! The store contract suite: one set of checks of the observable behaviour of every
//! repository method, run unchanged on each backend (see `tests/contract.rs`), plus the
//! check that SQLite's translation of metadata containment agrees with PostgreSQL's `@>`.
//!
//! Every suite function takes a fresh, empty store.

// This crate is test code: a failed expectation is meant to panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod access;
pub mod bootstrap;
pub mod certs;
pub mod channels;
pub mod clients;
pub mod connections;
pub mod domains;
pub mod fixtures;
pub mod groups;
pub mod metadata;
pub mod mqtt_sessions;
pub mod pats;
pub mod pg;
pub mod provision;
pub mod users;

pub use access::*;
pub use bootstrap::*;
pub use certs::*;
pub use channels::*;
pub use clients::*;
pub use connections::*;
pub use domains::*;
pub use groups::*;
pub use metadata::*;
pub use mqtt_sessions::*;
pub use pats::*;
pub use provision::*;
pub use users::*;
