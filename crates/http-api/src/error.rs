//! The one mapping from errors to HTTP: status by kind, `{"message": ...}` body.
//! 5xx bodies never carry internals; the cause is logged.

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use switchyard_api_types::ErrorRes;
use switchyard_core::Error;

#[derive(Debug)]
pub enum ApiError {
    Core(Error),
    UnsupportedMediaType,
    BadJson,
    PayloadTooLarge,
    /// Too many requests from one source (429 with `Retry-After`).
    RateLimited {
        retry_after_secs: u64,
    },
}

pub type ApiResult<T> = Result<T, ApiError>;

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError::Core(e)
    }
}

impl From<switchyard_domain::Invalid> for ApiError {
    fn from(e: switchyard_domain::Invalid) -> Self {
        ApiError::Core(e.into())
    }
}

pub fn message(status: StatusCode, msg: impl Into<String>) -> Response {
    (
        status,
        Json(ErrorRes {
            message: msg.into(),
        }),
    )
        .into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::UnsupportedMediaType => message(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported content type",
            ),
            ApiError::BadJson => message(
                StatusCode::BAD_REQUEST,
                "request body is not a valid JSON, expecting a valid JSON",
            ),
            ApiError::PayloadTooLarge => {
                message(StatusCode::PAYLOAD_TOO_LARGE, "request body too large")
            }
            ApiError::RateLimited { retry_after_secs } => {
                let mut r = message(StatusCode::TOO_MANY_REQUESTS, "too many requests");
                if let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                    r.headers_mut().insert(header::RETRY_AFTER, v);
                }
                r
            }
            ApiError::Core(e) => match e {
                Error::InvalidInput(m) => message(StatusCode::BAD_REQUEST, m),
                Error::AlreadyExists(m) => message(StatusCode::BAD_REQUEST, m),
                Error::Unauthenticated(m) => message(StatusCode::UNAUTHORIZED, m),
                Error::Forbidden(m) => message(StatusCode::FORBIDDEN, m),
                Error::NotFound => message(StatusCode::NOT_FOUND, "entity not found"),
                Error::Busy => {
                    let mut r = message(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "server busy, try again shortly",
                    );
                    r.headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                    r
                }
                Error::Conflict(m) => message(StatusCode::UNPROCESSABLE_ENTITY, m),
                Error::Unavailable(m) => message(StatusCode::SERVICE_UNAVAILABLE, m),
                Error::TooLarge(m) => message(StatusCode::PAYLOAD_TOO_LARGE, m),
                Error::Internal(cause) => {
                    tracing::error!(%cause, "internal error");
                    message(StatusCode::INTERNAL_SERVER_ERROR, "internal server error")
                }
            },
        }
    }
}
