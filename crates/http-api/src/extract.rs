//! Extractors that turn every rejection into the contract's error shape.

use axum::{
    extract::{FromRequest, FromRequestParts, Path, Request},
    http::{header, request::Parts},
};
use bytes::Bytes;
use serde::de::DeserializeOwned;
use switchyard_core::{Caller, Error};
use switchyard_domain::QueryParams;

use crate::{AppState, error::ApiError};

/// The authenticated user, from `Authorization: Bearer <access token>`. A personal
/// access token is refused here (403 once verified): only the routes whose core path
/// checks PAT scopes take [`Scoped`], so a new route refuses PATs unless it opts in.
pub struct Auth(pub Caller);

/// The app and the authenticated user: what nearly every handler starts from.
pub struct Ctx(pub AppState, pub Caller);

impl FromRequestParts<AppState> for Ctx {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, Self::Rejection> {
        let Auth(c) = Auth::from_request_parts(parts, s).await?;
        Ok(Ctx(s.clone(), c))
    }
}

/// As [`Ctx`], also accepting a personal access token (`Bearer pat_…`). Only for
/// handlers whose core calls check the PAT's scopes (the entity, role, domain and
/// profile paths).
pub struct Scoped(pub AppState, pub Caller);

impl FromRequestParts<AppState> for Scoped {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, Self::Rejection> {
        let token = bearer(parts).ok_or(Error::Unauthenticated(
            "missing or invalid bearer user token",
        ))?;
        Ok(Scoped(s.clone(), s.core.authenticate_any(token).await?))
    }
}

/// A user's own token; a valid PAT is 403 (an invalid one 401).
async fn user_token(s: &AppState, token: &str) -> Result<Caller, ApiError> {
    let c = s.core.authenticate_any(token).await?;
    if c.pat.is_some() {
        return Err(
            Error::Forbidden("personal access tokens cannot be used for this operation").into(),
        );
    }
    Ok(c)
}

/// The path's ids, each parsed as a UUID (400 in the contract's words otherwise).
async fn path_ids<S: Send + Sync>(parts: &mut Parts, s: &S) -> Result<Vec<uuid::Uuid>, ApiError> {
    let Path(raw): Path<Vec<String>> = Path::from_request_parts(parts, s)
        .await
        .map_err(|e| Error::Internal(format!("path parameters: {e}")))?;
    raw.iter().map(|p| path_id(p)).collect()
}

/// A route with one id in its path (`/{domainID}/clients`).
pub struct Id(pub uuid::Uuid);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, s: &S) -> Result<Self, Self::Rejection> {
        match path_ids(parts, s).await?.as_slice() {
            [a] => Ok(Id(*a)),
            _ => Err(Error::Internal("expected one path id".into()).into()),
        }
    }
}

/// A route with two ids in its path (`/{domainID}/clients/{clientID}`).
pub struct Ids(pub uuid::Uuid, pub uuid::Uuid);

impl<S: Send + Sync> FromRequestParts<S> for Ids {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, s: &S) -> Result<Self, Self::Rejection> {
        match path_ids(parts, s).await?.as_slice() {
            [a, b] => Ok(Ids(*a, *b)),
            _ => Err(Error::Internal("expected two path ids".into()).into()),
        }
    }
}

/// `Auth` when a token is present, `None` without one (a bad token is still 401).
pub struct OptAuth(pub Option<Caller>);

pub fn bearer(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, Self::Rejection> {
        let token = bearer(parts).ok_or(Error::Unauthenticated(
            "missing or invalid bearer user token",
        ))?;
        Ok(Auth(user_token(s, token).await?))
    }
}

impl FromRequestParts<AppState> for OptAuth {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, Self::Rejection> {
        match bearer(parts) {
            None => Ok(OptAuth(None)),
            Some(t) => Ok(OptAuth(Some(user_token(s, t).await?))),
        }
    }
}

/// Raw query pairs with the contract's strictness (duplicated key = 400).
pub struct Q(pub QueryParams);

impl<S: Send + Sync> FromRequestParts<S> for Q {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let raw = parts.uri.query().unwrap_or("");
        let pairs = url::form_urlencoded::parse(raw.as_bytes()).into_owned();
        Ok(Q(QueryParams::from_pairs(pairs)?))
    }
}

/// A JSON body: `Content-Type` must contain `application/json` (415 otherwise), the
/// body must parse (400), and fit the configured limit (413).
pub struct AppJson<T>(pub T);

pub fn is_json(parts_ct: Option<&header::HeaderValue>) -> bool {
    parts_ct
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("application/json"))
}

/// The request body within the size limit (413 beyond it; any other read error is a
/// bad body).
async fn body<S: Send + Sync>(req: Request, s: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, s).await.map_err(|r| {
        if r.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge
        } else {
            ApiError::BadJson
        }
    })
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for AppJson<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, s: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers().get(header::CONTENT_TYPE)) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = body(req, s).await?;
        serde_json::from_slice(&bytes)
            .map(AppJson)
            .map_err(|_| ApiError::BadJson)
    }
}

/// An optional JSON body for endpoints where the SDK may send none.
pub struct MaybeJson<T>(pub Option<T>);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for MaybeJson<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, s: &S) -> Result<Self, Self::Rejection> {
        let json = is_json(req.headers().get(header::CONTENT_TYPE));
        let bytes = body(req, s).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(MaybeJson(None));
        }
        if !json {
            return Err(ApiError::UnsupportedMediaType);
        }
        serde_json::from_slice(&bytes)
            .map(|v| MaybeJson(Some(v)))
            .map_err(|_| ApiError::BadJson)
    }
}

/// A caller when the token authenticates, `None` otherwise (missing or bad). For
/// `POST /users` with self-registration on: the SDK sends `Bearer undefined` there.
pub struct LenientAuth(pub Option<Caller>);

impl FromRequestParts<AppState> for LenientAuth {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, Self::Rejection> {
        Ok(LenientAuth(
            bearer(parts).and_then(|t| s.core.authenticate(t).ok()),
        ))
    }
}

/// An id from the path: a 400 in the contract's words when it is not a UUID.
pub(crate) fn path_id(p: &str) -> Result<uuid::Uuid, crate::ApiError> {
    Ok(switchyard_domain::validate::parse_id(p)?)
}
