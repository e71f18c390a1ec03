//! The HTTP client: one place that adds the `Authorization` header, turns error
//! statuses into the server's `{"message"}`, and refreshes an expired profile token
//! once (POST /users/tokens/refresh with the refresh token) before retrying.

use reqwest::{Method, StatusCode, header};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;
use switchyard_api_types::{ErrorRes, TokenRes};

use crate::{
    config::{Settings, TokenSource},
    error::{CliError, CliResult},
};

/// How a request authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth<'a> {
    /// `Authorization: Bearer <token>`; a usage error when there is no token.
    Bearer,
    /// The bearer token when one is configured, nothing otherwise.
    OptionalBearer,
    /// `Authorization: Client <key>` (bootstrap fetch, publishing as a client).
    Client(&'a str),
    /// HTTP Basic `<user>:<password>` (publishing as client id and secret).
    Basic(&'a str, &'a str),
    /// No header.
    None,
}

pub struct Api {
    http: reqwest::Client,
    pub settings: Settings,
    refreshed: bool,
}

/// A successful response: status and raw body.
pub struct Reply {
    pub status: StatusCode,
    pub body: Vec<u8>,
}

impl Reply {
    /// The body as JSON; an empty body is `null`.
    pub fn json(&self) -> CliResult<Value> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&self.body)
            .map_err(|e| CliError::other(format!("the server's answer is not JSON: {e}")))
    }
    pub fn parse<T: DeserializeOwned>(&self) -> CliResult<T> {
        serde_json::from_slice(&self.body)
            .map_err(|e| CliError::other(format!("unexpected answer from the server: {e}")))
    }
}

fn user_agent() -> String {
    format!("switchyard-cli/{}", env!("CARGO_PKG_VERSION"))
}

impl Api {
    pub fn new(settings: Settings) -> CliResult<Api> {
        let mut b = reqwest::Client::builder()
            .user_agent(user_agent())
            .timeout(std::time::Duration::from_secs(300))
            .connect_timeout(std::time::Duration::from_secs(15));
        if settings.insecure {
            b = b.tls_danger_accept_invalid_certs(true);
        }
        if let Some(path) = &settings.cacert {
            let pem = std::fs::read(path)
                .map_err(|e| CliError::usage(format!("--cacert {}: {e}", path.display())))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| CliError::usage(format!("--cacert {}: {e}", path.display())))?;
            b = b.tls_certs_merge(certs);
        }
        let http = b.build()?;
        Ok(Api {
            http,
            settings,
            refreshed: false,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.settings.url, path)
    }

    /// One request; JSON body when `body` is given. Error statuses become
    /// `CliError::Server` with the server's message.
    pub async fn send<B: Serialize + ?Sized>(
        &mut self,
        method: Method,
        path: &str,
        query: &[(String, String)],
        body: Option<&B>,
        auth: Auth<'_>,
    ) -> CliResult<Reply> {
        let body = match body {
            Some(b) => Some(serde_json::to_vec(b).map_err(|e| CliError::other(e.to_string()))?),
            None => None,
        };
        self.send_bytes(method, path, query, body, "application/json", auth)
            .await
    }

    /// One request with a raw body of the given content type (`messages send`).
    pub async fn send_bytes(
        &mut self,
        method: Method,
        path: &str,
        query: &[(String, String)],
        body: Option<Vec<u8>>,
        content_type: &str,
        auth: Auth<'_>,
    ) -> CliResult<Reply> {
        let body = body.map(|b| (b, content_type));
        let (status, bytes) = self
            .attempt(method.clone(), path, query, body.clone(), auth)
            .await?;
        // Only a user's token is refreshed; a client's key or secret is what it is.
        let (status, bytes) = if status == StatusCode::UNAUTHORIZED
            && matches!(auth, Auth::Bearer | Auth::OptionalBearer)
            && self.can_refresh()
        {
            self.refresh().await?;
            self.attempt(method, path, query, body, auth).await?
        } else {
            (status, bytes)
        };
        if status.is_success() {
            Ok(Reply {
                status,
                body: bytes,
            })
        } else {
            Err(server_error(status, &bytes))
        }
    }

    async fn attempt(
        &self,
        method: Method,
        path: &str,
        query: &[(String, String)],
        body: Option<(Vec<u8>, &str)>,
        auth: Auth<'_>,
    ) -> CliResult<(StatusCode, Vec<u8>)> {
        let mut r = self.http.request(method, self.url(path));
        if !query.is_empty() {
            r = r.query(query);
        }
        match auth {
            Auth::Bearer => {
                let t = self.settings.token.as_deref().ok_or_else(|| {
                    CliError::usage(
                        "not logged in: run `login <username|email> <password>`, or pass \
                         --token (SWITCHYARD_TOKEN / MG_TOKEN)",
                    )
                })?;
                r = r.header(header::AUTHORIZATION, format!("Bearer {t}"));
            }
            Auth::OptionalBearer => {
                if let Some(t) = &self.settings.token {
                    r = r.header(header::AUTHORIZATION, format!("Bearer {t}"));
                }
            }
            Auth::Client(k) => {
                r = r.header(header::AUTHORIZATION, format!("Client {k}"));
            }
            Auth::Basic(user, password) => {
                r = r.basic_auth(user, Some(password));
            }
            Auth::None => {}
        }
        if let Some((b, content_type)) = body {
            r = r.header(header::CONTENT_TYPE, content_type).body(b);
        }
        let res = r.send().await.map_err(|e| {
            let e = CliError::from(e);
            CliError::other(format!("cannot reach {}: {e}", self.settings.url))
        })?;
        let status = res.status();
        let bytes = res.bytes().await?.to_vec();
        Ok((status, bytes))
    }

    fn can_refresh(&self) -> bool {
        !self.refreshed
            && self.settings.token_source == TokenSource::Profile
            && self.settings.refresh_token.is_some()
    }

    /// Exchanges the profile's refresh token for a new pair and saves it.
    async fn refresh(&mut self) -> CliResult<()> {
        self.refreshed = true;
        let Some(rt) = self.settings.refresh_token.clone() else {
            return Ok(());
        };
        let res = self
            .http
            .post(self.url("/users/tokens/refresh"))
            .header(header::AUTHORIZATION, format!("Bearer {rt}"))
            .header(header::CONTENT_TYPE, "application/json")
            .send()
            .await?;
        let status = res.status();
        let bytes = res.bytes().await?;
        if !status.is_success() {
            let e = server_error(status, &bytes);
            return Err(CliError::Server {
                status: status.as_u16(),
                message: format!(
                    "the session expired and could not be refreshed ({}); log in again",
                    match &e {
                        CliError::Server { message, .. } => message.clone(),
                        other => other.to_string(),
                    }
                ),
            });
        }
        let pair: TokenRes = serde_json::from_slice(&bytes)
            .map_err(|e| CliError::other(format!("unexpected refresh answer: {e}")))?;
        self.settings.token = Some(pair.access_token.clone());
        self.settings.refresh_token = Some(pair.refresh_token.clone());
        if let Some(path) = self.settings.profile_path.clone() {
            let mut p = self.settings.profile.clone();
            p.access_token = pair.access_token;
            p.refresh_token = pair.refresh_token;
            if p.url.is_empty() {
                p.url = self.settings.url.clone();
            }
            p.save(&path)?;
            self.settings.profile = p;
        }
        Ok(())
    }

    // Shorthands.

    pub async fn get(&mut self, path: &str, query: &[(String, String)]) -> CliResult<Value> {
        self.send::<()>(Method::GET, path, query, None, Auth::Bearer)
            .await?
            .json()
    }
    pub async fn post<B: Serialize + ?Sized>(&mut self, path: &str, body: &B) -> CliResult<Value> {
        self.send(Method::POST, path, &[], Some(body), Auth::Bearer)
            .await?
            .json()
    }
    /// POST without a body (enable/disable).
    pub async fn post_empty(&mut self, path: &str) -> CliResult<Value> {
        self.send::<()>(Method::POST, path, &[], None, Auth::Bearer)
            .await?
            .json()
    }
    pub async fn patch<B: Serialize + ?Sized>(&mut self, path: &str, body: &B) -> CliResult<Value> {
        self.send(Method::PATCH, path, &[], Some(body), Auth::Bearer)
            .await?
            .json()
    }
    pub async fn delete(&mut self, path: &str) -> CliResult<()> {
        self.send::<()>(Method::DELETE, path, &[], None, Auth::Bearer)
            .await
            .map(|_| ())
    }
}

/// The server's `{"message"}`, or the status's reason when the body has none (the
/// contract's 5xx answers carry no body).
pub fn server_error(status: StatusCode, body: &[u8]) -> CliError {
    let message = serde_json::from_slice::<ErrorRes>(body)
        .ok()
        .map(|e| e.message)
        .filter(|m| !m.is_empty())
        .or_else(|| {
            let t = String::from_utf8_lossy(body).trim().to_string();
            (!t.is_empty() && t.len() < 512).then_some(t)
        })
        .unwrap_or_else(|| {
            status
                .canonical_reason()
                .unwrap_or("request failed")
                .to_lowercase()
        });
    CliError::Server {
        status: status.as_u16(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_messages() {
        let e = server_error(
            StatusCode::UNAUTHORIZED,
            br#"{"message":"invalid credentials"}"#,
        );
        assert_eq!(e.to_string(), "invalid credentials (HTTP 401)");
        assert_eq!(e.exit_code(), 1);
        let e = server_error(StatusCode::INTERNAL_SERVER_ERROR, b"");
        assert_eq!(e.to_string(), "internal server error (HTTP 500)");
        let e = server_error(StatusCode::NOT_FOUND, b"page not found");
        assert_eq!(e.to_string(), "page not found (HTTP 404)");
    }
}
