//! Switchyard's domain model: entities, statuses, list queries and the validation
//! rules of the Magistrala contract. Pure: no IO, no async.

pub mod access;
pub mod entity;
pub mod mqtt;
pub mod pat;
pub mod query;
pub mod validate;

pub use access::*;
pub use entity::*;
pub use mqtt::*;
pub use pat::*;
pub use query::*;

/// Why a value from outside was refused. The message is the contract's text and is
/// shown to API users as-is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub &'static str);

pub type Timestamp = time::OffsetDateTime;

/// The zero time Go emits for a never-set timestamp.
pub fn zero_time() -> Timestamp {
    time::macros::datetime!(0001-01-01 00:00:00 UTC)
}
