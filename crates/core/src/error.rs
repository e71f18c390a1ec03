use switchyard_store::{ConflictKind, StoreError};

/// What went wrong, in the service's words. The HTTP layer maps each variant to one
/// status; messages are the contract's texts.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Malformed or invalid input (400).
    #[error("{0}")]
    InvalidInput(String),
    /// A uniqueness rule (400 at HEAD: "username not available", ...).
    #[error("{0}")]
    AlreadyExists(String),
    /// Missing or bad credentials (401).
    #[error("{0}")]
    Unauthenticated(&'static str),
    /// Authenticated but not allowed (403).
    #[error("{0}")]
    Forbidden(&'static str),
    /// Unknown id, or one the caller may not see (404).
    #[error("entity not found")]
    NotFound,
    /// The request conflicts with the entity's state (422, "status already assigned").
    #[error("{0}")]
    Conflict(&'static str),
    /// Too many items in one request (413).
    #[error("{0}")]
    TooLarge(String),
    /// The server is at its limit for this kind of work right now (503 with
    /// `Retry-After`); nothing was done.
    #[error("server busy, try again shortly")]
    Busy,
    /// A feature this server is not configured for (503, no `Retry-After`).
    #[error("{0}")]
    Unavailable(&'static str),
    /// Everything else (500); the cause is logged, never shown.
    #[error("internal error: {0}")]
    Internal(String),
}

pub type Result<T> = std::result::Result<T, Error>;

impl From<switchyard_domain::Invalid> for Error {
    fn from(i: switchyard_domain::Invalid) -> Error {
        Error::InvalidInput(i.0.to_string())
    }
}

pub(crate) fn conflict_message(kind: ConflictKind) -> &'static str {
    match kind {
        ConflictKind::UserEmail => "email id already registered",
        ConflictKind::Username => "username not available",
        ConflictKind::UserId => "user id already exists",
        ConflictKind::DomainRoute => "route not available",
        ConflictKind::DomainId => "domain id already exists",
        ConflictKind::ClientId => "client id already exists",
        ConflictKind::ClientSecret => "client key is not available",
        ConflictKind::ChannelId => "channel id already exists",
        ConflictKind::ChannelRoute => "route not available",
        ConflictKind::ExternalId => "a gateway with this external_id already exists",
        ConflictKind::GroupId => "group id already exists",
        ConflictKind::RoleName => "role name already exists",
        ConflictKind::Other => "entity already exists",
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Error {
        match e {
            StoreError::NotFound => Error::NotFound,
            StoreError::Conflict { kind, index } => {
                let msg = conflict_message(kind);
                Error::AlreadyExists(match index {
                    Some(i) => format!("{msg} (item {i})"),
                    None => msg.to_string(),
                })
            }
            StoreError::Other(s) => Error::Internal(s),
        }
    }
}

/// A store error from a batch write: the offending item is named only when there
/// was more than one.
pub(crate) fn batch_error(e: StoreError, len: usize) -> Error {
    match e {
        StoreError::Conflict { kind, .. } if len <= 1 => {
            Error::AlreadyExists(conflict_message(kind).to_string())
        }
        other => other.into(),
    }
}
