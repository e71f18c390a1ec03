//! The HTTP API: one router serving every Magistrala path (users, domains, clients,
//! channels, connections), the health and metrics endpoints, and an OpenAPI document
//! generated from the same route table the router is built from, so the two cannot
//! drift apart.

mod bootstrap;
mod certs;
mod channels;
mod clients;
mod console;
pub mod convert;
mod domains;
mod entity;
pub mod error;
pub mod extract;
mod groups;
mod health;
mod messages;
mod params;
mod pats;
mod provision;
pub mod ratelimit;
mod roles;
mod users;

use std::{sync::Arc, time::Duration};

use axum::{
    Router,
    extract::{DefaultBodyLimit, Request},
    handler::Handler,
    http::{HeaderName, HeaderValue, Method, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{MethodFilter, on},
};
use metrics_exporter_prometheus::PrometheusHandle;
use switchyard_core::Core;
use tower_http::{
    cors::CorsLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    sensitive_headers::SetSensitiveRequestHeadersLayer,
    timeout::TimeoutLayer,
    trace::TraceLayer,
};
use utoipa::openapi::{
    Content, HttpMethod, InfoBuilder, KnownFormat, ObjectBuilder, OpenApi, OpenApiBuilder, Paths,
    Required, SchemaFormat, Type,
    path::{OperationBuilder, ParameterBuilder, ParameterIn},
    request_body::RequestBodyBuilder,
    response::ResponseBuilder,
    schema::Ref,
};

pub use error::{ApiError, ApiResult};
pub use params::Auth;

#[derive(Clone)]
pub struct HttpConfig {
    /// Largest accepted request body, in bytes (413 above).
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
    pub version: String,
    pub commit: String,
    pub instance_id: String,
    /// Requests per second per source IP on bootstrap fetch and `/mapping` (0: off).
    pub device_rate_per_sec: f64,
    pub device_rate_burst: f64,
    /// How long a WebSocket subscriber's full queue is waited for before its messages
    /// are dropped (counted).
    pub subscriber_wait: Duration,
    /// Failed logins allowed per account per minute (three times that per source
    /// address); past it, 429 with `Retry-After` until the window refills. 0: no limit.
    pub login_failures_per_minute: f64,
    /// When set, `/metrics` answers only `Authorization: Bearer <this>`.
    pub metrics_token: Option<String>,
    /// Origins allowed to call the API from a browser; empty: same origin only (no
    /// CORS headers); `*`: any.
    pub cors_origins: Vec<String>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            max_body_bytes: 4 * 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            version: env!("CARGO_PKG_VERSION").into(),
            commit: String::new(),
            instance_id: uuid::Uuid::new_v4().to_string(),
            device_rate_per_sec: 20.0,
            subscriber_wait: switchyard_bus::DEFAULT_PATIENCE,
            login_failures_per_minute: 10.0,
            metrics_token: None,
            cors_origins: Vec::new(),
            device_rate_burst: 40.0,
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub core: Arc<Core>,
    pub cfg: Arc<HttpConfig>,
    pub metrics: Option<PrometheusHandle>,
    pub limiter: Arc<ratelimit::RateLimiter>,
    /// Failed logins per source and per account (see [`HttpConfig::login_failures_per_minute`]).
    pub login_sources: Arc<ratelimit::RateLimiter>,
    pub login_accounts: Arc<ratelimit::RateLimiter<String>>,
    /// When this process started serving (`uptime` in `/health`).
    pub started: std::time::Instant,
    /// The HTTP and WebSocket message series.
    pub(crate) meters: Arc<messages::PlaneMeters>,
}

impl AppState {
    pub fn new(core: Arc<Core>, cfg: HttpConfig, metrics: Option<PrometheusHandle>) -> AppState {
        let limiter = Arc::new(ratelimit::RateLimiter::new(
            cfg.device_rate_per_sec,
            cfg.device_rate_burst,
        ));
        let per_min = cfg.login_failures_per_minute;
        let login_accounts = Arc::new(ratelimit::RateLimiter::new(per_min / 60.0, per_min));
        let login_sources = Arc::new(ratelimit::RateLimiter::new(
            3.0 * per_min / 60.0,
            3.0 * per_min,
        ));
        AppState {
            core,
            login_sources,
            login_accounts,
            cfg: Arc::new(cfg),
            metrics,
            limiter,
            started: std::time::Instant::now(),
            meters: Arc::new(messages::PlaneMeters::new()),
        }
    }

    /// 429 with `Retry-After` when the request's source is over its budget.
    pub fn rate_check(
        &self,
        parts: &axum::http::request::Parts,
        bucket: &'static str,
    ) -> Result<(), ApiError> {
        over_limit(self.limiter.check(source_ip(parts), bucket))
    }
}

/// A rate limiter's answer as the API's 429 (`Err` holds the seconds to wait).
pub(crate) fn over_limit(r: Result<(), u64>) -> Result<(), ApiError> {
    r.map_err(|secs| ApiError::RateLimited {
        retry_after_secs: secs,
    })
}

/// The client's address (0.0.0.0 when the server was not told it).
pub(crate) fn source_ip(parts: &axum::http::request::Parts) -> std::net::IpAddr {
    parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(std::net::IpAddr::from([0, 0, 0, 0]))
}

/// One documented route.
#[derive(Debug, Clone)]
pub struct RouteDoc {
    pub method: Method,
    pub path: &'static str,
    pub tag: &'static str,
    pub summary: &'static str,
    /// Name of the request body schema.
    pub body: Option<&'static str>,
    pub status: u16,
    /// Name of the success body schema.
    pub response: Option<&'static str>,
    /// Query parameters the route reads.
    pub query: &'static [params::QueryDoc],
    /// Media type of the success body.
    pub media: &'static str,
    /// Request bodies that are not a JSON schema: their media types.
    pub raw_bodies: &'static [&'static str],
    /// A WebSocket upgrade: its handshake headers are documented as required, and the
    /// route is named in the document's description.
    pub websocket: bool,
    /// How the route authenticates its caller.
    pub auth: params::Auth,
}

/// Builds the router and the route table together.
pub struct Api {
    router: Router<AppState>,
    docs: Vec<RouteDoc>,
}

pub struct Doc {
    tag: &'static str,
    summary: &'static str,
    body: Option<&'static str>,
    status: u16,
    response: Option<&'static str>,
    query: &'static [params::QueryDoc],
    media: &'static str,
    raw_bodies: &'static [&'static str],
    websocket: bool,
    auth: params::Auth,
}

pub fn doc(tag: &'static str, summary: &'static str) -> Doc {
    Doc {
        tag,
        summary,
        body: None,
        status: 200,
        response: None,
        query: &[],
        media: "application/json",
        raw_bodies: &[],
        websocket: false,
        auth: params::Auth::User,
    }
}

impl Doc {
    pub fn body(mut self, schema: &'static str) -> Doc {
        self.body = Some(schema);
        self
    }
    /// The success body's media type, when not `application/json`.
    pub fn media(mut self, media: &'static str) -> Doc {
        self.media = media;
        self
    }
    /// Bodies taken as they are (messages, DER), by media type.
    pub fn raw_bodies(mut self, media: &'static [&'static str]) -> Doc {
        self.raw_bodies = media;
        self
    }
    /// A WebSocket upgrade: answers 101.
    pub fn websocket(mut self) -> Doc {
        self.websocket = true;
        self.status = 101;
        self
    }
    /// How the route authenticates its caller, when not with a user's Bearer token.
    pub fn auth(mut self, auth: params::Auth) -> Doc {
        self.auth = auth;
        self
    }
    pub fn query(mut self, params: &'static [params::QueryDoc]) -> Doc {
        self.query = params;
        self
    }
    pub fn ok(mut self, status: u16, schema: Option<&'static str>) -> Doc {
        self.status = status;
        self.response = schema;
        self
    }
}

fn filter(m: &Method) -> MethodFilter {
    match *m {
        Method::GET => MethodFilter::GET,
        Method::POST => MethodFilter::POST,
        Method::PUT => MethodFilter::PUT,
        Method::PATCH => MethodFilter::PATCH,
        Method::DELETE => MethodFilter::DELETE,
        Method::HEAD => MethodFilter::HEAD,
        _ => MethodFilter::OPTIONS,
    }
}

impl Api {
    pub fn new() -> Api {
        Api {
            router: Router::new(),
            docs: Vec::new(),
        }
    }

    pub fn route<H, T>(mut self, method: Method, path: &'static str, d: Doc, h: H) -> Api
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.router = self.router.route(path, on(filter(&method), h));
        self.docs.push(RouteDoc {
            method,
            path,
            tag: d.tag,
            summary: d.summary,
            body: d.body,
            status: d.status,
            response: d.response,
            query: d.query,
            media: d.media,
            raw_bodies: d.raw_bodies,
            websocket: d.websocket,
            auth: d.auth,
        });
        self
    }

    pub fn docs(&self) -> &[RouteDoc] {
        &self.docs
    }
}

impl Default for Api {
    fn default() -> Self {
        Api::new()
    }
}

/// Every API route, in one table.
pub fn api() -> Api {
    let a = Api::new();
    let a = health::routes(a);
    let a = users::routes(a);
    let a = domains::routes(a);
    let a = clients::routes(a);
    let a = groups::routes(a);
    let a = roles::routes(a);
    let a = certs::routes(a);
    let a = pats::routes(a);
    let a = provision::routes(a);
    let a = bootstrap::routes(a);
    let a = messages::routes(a);
    channels::routes(a)
}

fn http_method(m: &Method) -> HttpMethod {
    match *m {
        Method::GET => HttpMethod::Get,
        Method::POST => HttpMethod::Post,
        Method::PUT => HttpMethod::Put,
        Method::PATCH => HttpMethod::Patch,
        Method::DELETE => HttpMethod::Delete,
        Method::HEAD => HttpMethod::Head,
        _ => HttpMethod::Options,
    }
}

#[derive(utoipa::OpenApi)]
#[openapi(components(schemas(
    switchyard_api_types::ErrorRes,
    switchyard_api_types::UserReq,
    switchyard_api_types::UserRes,
    switchyard_api_types::UsersPage,
    switchyard_api_types::TokenReq,
    switchyard_api_types::TokenRes,
    switchyard_api_types::RevokeReq,
    switchyard_api_types::RefreshTokensRes,
    switchyard_api_types::UserUpdateReq,
    switchyard_api_types::UsernameReq,
    switchyard_api_types::EmailReq,
    switchyard_api_types::TagsReq,
    switchyard_api_types::PictureReq,
    switchyard_api_types::RoleReq,
    switchyard_api_types::SecretReq,
    switchyard_api_types::DomainReq,
    switchyard_api_types::DomainUpdateReq,
    switchyard_api_types::DomainRes,
    switchyard_api_types::PasswordResetRequestReq,
    switchyard_api_types::PasswordResetReq,
    switchyard_api_types::CsrReq,
    switchyard_api_types::OcspReq,
    switchyard_api_types::KeyReq,
    switchyard_api_types::KeyDuration,
    switchyard_api_types::Nanoseconds,
    switchyard_api_types::DurationText,
    switchyard_api_types::KeyIssuedRes,
    switchyard_api_types::KeyRes,
    switchyard_api_types::PatCreateReq,
    switchyard_api_types::PatNameReq,
    switchyard_api_types::PatDescriptionReq,
    switchyard_api_types::PatResetReq,
    switchyard_api_types::PatRes,
    switchyard_api_types::PatsPage,
    switchyard_api_types::ScopeReq,
    switchyard_api_types::ScopesAddReq,
    switchyard_api_types::ScopesRemoveReq,
    switchyard_api_types::ScopeRes,
    switchyard_api_types::ScopesPage,
    switchyard_api_types::DomainsPage,
    switchyard_api_types::RolesPage,
    switchyard_api_types::RoleRes,
    switchyard_api_types::RoleCreateReq,
    switchyard_api_types::RoleUpdateReq,
    switchyard_api_types::ActionsReq,
    switchyard_api_types::MembersReq,
    switchyard_api_types::RemoveMembersReq,
    switchyard_api_types::MembersPage,
    switchyard_api_types::MemberRoleRes,
    switchyard_api_types::MemberRolesRes,
    switchyard_api_types::EntityMembersPage,
    switchyard_api_types::AvailableActionsRes,
    switchyard_api_types::GroupReq,
    switchyard_api_types::GroupUpdateReq,
    switchyard_api_types::GroupRes,
    switchyard_api_types::GroupsPage,
    switchyard_api_types::HierarchyRes,
    switchyard_api_types::GroupParentReq,
    switchyard_api_types::ParentGroupReq,
    switchyard_api_types::ChildrenReq,
    switchyard_api_types::InvitationReq,
    switchyard_api_types::InvitationDomainReq,
    switchyard_api_types::InvitationDeleteReq,
    switchyard_api_types::InvitationsPage,
    switchyard_api_types::MessageRes,
    switchyard_api_types::ClientReq,
    switchyard_api_types::ClientRes,
    switchyard_api_types::ClientsPage,
    switchyard_api_types::ClientUpdateReq,
    switchyard_api_types::ClientSecretReq,
    switchyard_api_types::ChannelReq,
    switchyard_api_types::ChannelRes,
    switchyard_api_types::ChannelsPage,
    switchyard_api_types::ChannelUpdateReq,
    switchyard_api_types::ConnectionReq,
    switchyard_api_types::ChannelConnectionReq,
    switchyard_api_types::ConnectionTypeName,
    switchyard_api_types::UserRoleName,
    switchyard_api_types::HealthRes,
    switchyard_api_types::SubjectOptions,
    switchyard_api_types::IssueCertReq,
    switchyard_api_types::IssueCertLegacyReq,
    switchyard_api_types::CertRes,
    switchyard_api_types::CertsPage,
    switchyard_api_types::SerialsPage,
    switchyard_api_types::RenewCertRes,
    switchyard_api_types::RevokeCertsRes,
    switchyard_api_types::CrlRes,
    switchyard_api_types::CaRes,
    switchyard_api_types::MappingReq,
    switchyard_api_types::MappingRes,
    switchyard_api_types::ProvisionCertReq,
    switchyard_api_types::ProvisionCertRes,
    switchyard_api_types::ConfigReq,
    switchyard_api_types::ConfigUpdateReq,
    switchyard_api_types::ConfigCertsReq,
    switchyard_api_types::ConfigChannelsReq,
    switchyard_api_types::StateReq,
    switchyard_api_types::ConfigRes,
    switchyard_api_types::ConfigsPage,
)))]
struct Schemas;

/// A router path in OpenAPI form (`{*rest}` becomes `{rest}`).
pub fn openapi_path(p: &str) -> String {
    p.replace("{*", "{")
}

/// The OpenAPI document of a route table.
pub fn openapi(docs: &[RouteDoc]) -> OpenApi {
    let mut paths = Paths::new();
    // OpenAPI cannot describe what follows a WebSocket handshake: those routes are
    // documented by their handshake and named in the description.
    let mut websockets = Vec::new();
    for d in docs {
        if d.websocket {
            websockets.push(format!("`GET {}` ({})", d.path, d.summary));
        }
        let mut op = OperationBuilder::new()
            .tag(d.tag)
            .summary(Some(d.summary))
            .operation_id(Some(format!(
                "{}_{}",
                d.method.as_str().to_lowercase(),
                d.path.replace(['/', '{', '}', '-'], "_")
            )));
        for seg in d.path.split('/') {
            if let Some(name) = seg
                .strip_prefix('{')
                .and_then(|s| s.strip_suffix('}'))
                .map(|n| n.trim_start_matches('*'))
            {
                let mut schema = ObjectBuilder::new().schema_type(Type::String);
                if params::path_is_uuid(&d.method, d.path, name) {
                    schema = schema.format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)));
                } else {
                    schema = schema.min_length(Some(1));
                }
                op = op.parameter(
                    ParameterBuilder::new()
                        .name(name)
                        .parameter_in(ParameterIn::Path)
                        .required(Required::True)
                        .schema(Some(schema.build())),
                );
            }
        }
        for q in d.query {
            op = op.parameter(params::parameter(q));
        }
        if d.websocket {
            for p in params::websocket_headers() {
                op = op.parameter(p);
            }
        }
        let mut body = RequestBodyBuilder::new().required(Some(Required::True));
        let mut has_body = false;
        if let Some(b) = d.body {
            // `Name[]`: a JSON array of that schema (bulk creation).
            let schema: utoipa::openapi::RefOr<utoipa::openapi::Schema> = match b.strip_suffix("[]")
            {
                Some(item) => utoipa::openapi::ArrayBuilder::new()
                    .items(Ref::from_schema_name(item))
                    .min_items(Some(1))
                    .build()
                    .into(),
                None => Ref::from_schema_name(b).into(),
            };
            body = body.content("application/json", Content::new(Some(schema)));
            has_body = true;
        }
        for media in d.raw_bodies {
            body = body.content(*media, Content::new(Some(params::raw_body_schema(media))));
            has_body = true;
        }
        if has_body {
            op = op.request_body(Some(body.build()));
        }
        let mut ok = ResponseBuilder::new().description("success");
        if let Some(r) = d.response {
            ok = ok.content(d.media, Content::new(Some(Ref::from_schema_name(r))));
        } else if d.media != "application/json" {
            ok = ok.content(
                d.media,
                Content::new(Some(params::raw_body_schema(d.media))),
            );
        }
        let err = ResponseBuilder::new().description("error").content(
            "application/json",
            Content::new(Some(Ref::from_schema_name("ErrorRes"))),
        );
        op = op
            .response(d.status.to_string(), ok)
            .response("default", err);
        {
            use utoipa::openapi::security::SecurityRequirement as Req;
            let req = |name: &str| Req::new(name, Vec::<String>::new());
            op = match d.auth {
                params::Auth::User => op.security(req("bearerAuth")),
                params::Auth::Client => op.security(req("clientKey")).security(req("basicAuth")),
                params::Auth::Agent => op.security(req("agentAuth")),
                params::Auth::Optional => op.security(Req::default()).security(req("bearerAuth")),
                params::Auth::Public => op.securities(Some(Vec::<Req>::new())),
            };
        }
        paths.add_path_operation(
            openapi_path(d.path),
            vec![http_method(&d.method)],
            op.build(),
        );
    }
    let mut doc = OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Switchyard API (Magistrala-compatible)")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(format!(
                    "WebSocket endpoints (an HTTP GET upgraded to a WebSocket, which OpenAPI \
                     cannot describe): {}.",
                    websockets.join("; ")
                )))
                .build(),
        )
        .paths(paths)
        .build();
    doc.components = <Schemas as utoipa::OpenApi>::openapi().components;
    if let Some(c) = doc.components.as_mut() {
        use utoipa::openapi::security::{
            ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme,
        };
        c.add_security_scheme(
            "bearerAuth",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "A user's access token, a personal access token (pat_…) or an API key",
                    ))
                    .build(),
            ),
        );
        c.add_security_scheme(
            "clientKey",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "`Client <secret>`: a client's secret (the message plane), or a bootstrap external key",
            ))),
        );
        c.add_security_scheme(
            "basicAuth",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some("client id and secret (the message plane)"))
                    .build(),
            ),
        );
        c.add_security_scheme(
            "agentAuth",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("the certs secret (MG_CERTS_SECRET)"))
                    .build(),
            ),
        );
    }
    doc
}

/// New passwords must match the server's configured rule: published as the `pattern` of
/// every field that takes one, so the document states the rule the validator applies.
fn publish_password_rule(doc: &mut OpenApi, pattern: &str) {
    use utoipa::openapi::{RefOr, Schema};
    let fields = [
        ("SecretReq", "new_secret"),
        ("UserCredentials", "secret"),
        ("PasswordResetReq", "password"),
        ("PasswordResetReq", "confirm_password"),
    ];
    let Some(components) = doc.components.as_mut() else {
        return;
    };
    for (schema, field) in fields {
        if let Some(RefOr::T(Schema::Object(o))) = components.schemas.get_mut(schema)
            && let Some(RefOr::T(Schema::Object(f))) = o.properties.get_mut(field)
        {
            f.pattern = Some(pattern.to_string());
        }
    }
}

/// Rewrites any error response that is not JSON (axum's own 405/413, unknown paths,
/// timeouts) into `{"message": ...}` so no plain-text error escapes.
async fn json_errors(req: Request, next: Next) -> Response {
    // The message plane authenticates clients (`Client <secret>` or Basic); everything
    // else takes a user's Bearer token.
    let path = req.uri().path();
    let client_auth = path.starts_with("/m/") || path.starts_with("/channels/");
    let mut res = next.run(req).await;
    let status = res.status();
    if status == StatusCode::UNAUTHORIZED && !res.headers().contains_key(header::WWW_AUTHENTICATE) {
        let challenge = if client_auth {
            "Basic realm=\"switchyard\""
        } else {
            "Bearer realm=\"switchyard\""
        };
        res.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(challenge),
        );
    }
    if !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    if is_json {
        return res;
    }
    let msg = match status {
        StatusCode::NOT_FOUND => "page not found",
        StatusCode::METHOD_NOT_ALLOWED => "method not allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "request body too large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported content type",
        StatusCode::REQUEST_TIMEOUT => "request timed out",
        s if s.is_server_error() => "internal server error",
        _ => "bad request",
    };
    let (mut parts, _) = res.into_parts();
    let mut fresh = error::message(status, msg);
    // Keep Allow, Retry-After and friends.
    for (k, v) in parts.headers.drain().filter_map(|(k, v)| k.map(|k| (k, v))) {
        if k != header::CONTENT_TYPE && k != header::CONTENT_LENGTH {
            fresh.headers_mut().insert(k, v);
        }
    }
    fresh
}

/// Requests and their duration by method and route template (`MatchedPath`, so the
/// label set stays bounded; unmatched paths are `unmatched`).
async fn track_metrics(req: Request, next: Next) -> Response {
    let start = std::time::Instant::now();
    // Standard methods only: any other would add label values without bound.
    let method: &'static str = match *req.method() {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    };
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let res = next.run(req).await;
    let status = res.status().as_u16().to_string();
    metrics::counter!("http_requests_total", "method" => method, "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("http_request_duration_seconds", "method" => method, "route" => route)
        .record(start.elapsed().as_secs_f64());
    res
}

async fn not_found() -> impl IntoResponse {
    error::message(StatusCode::NOT_FOUND, "page not found")
}

/// The full application: API routes, OpenAPI, Swagger UI and the middleware stack.
pub fn router(state: AppState) -> Router {
    router_with(state, |a| a)
}

/// As [`router`], with more routes added to the table by the caller (the server adds
/// transports that live in other crates, e.g. MQTT over WebSocket at `/mqtt`).
pub fn router_with(state: AppState, extra: impl FnOnce(Api) -> Api) -> Router {
    let api = extra(api());
    let mut spec = openapi(api.docs());
    publish_password_rule(&mut spec, &state.core.password_pattern());
    let max_body = state.cfg.max_body_bytes;
    let cors_origins = state.cfg.cors_origins.clone();
    let timeout = state.cfg.request_timeout;
    let x_request_id = HeaderName::from_static("x-request-id");
    let spec_json = Arc::new(serde_json::to_string(&spec).unwrap_or_else(|_| "{}".into()));
    let spec_route = {
        let spec_json = spec_json.clone();
        axum::routing::get(move || {
            let body = spec_json.clone();
            async move {
                (
                    [(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/json"),
                    )],
                    body.as_ref().clone(),
                )
            }
        })
    };
    let router = Router::new()
        .merge(utoipa_swagger_ui::SwaggerUi::new("/docs").url("/docs/openapi.json", spec))
        .route("/openapi.json", spec_route)
        .merge(console::router())
        .merge(api.router.with_state(state))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(middleware::from_fn(json_errors))
        .layer(middleware::from_fn(track_metrics))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .layer(cors(&cors_origins, x_request_id));
    traced(router)
}

/// Cross-origin access: none unless origins are configured (`*` for any).
fn cors(origins: &[String], x_request_id: HeaderName) -> CorsLayer {
    let exposed = [header::LOCATION, x_request_id];
    if origins.iter().any(|o| o == "*") {
        return CorsLayer::permissive().expose_headers(exposed);
    }
    let allowed: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o.trim()).ok())
        .collect();
    if allowed.is_empty() {
        return CorsLayer::new();
    }
    CorsLayer::new()
        .allow_origin(allowed)
        .allow_methods(tower_http::cors::Any)
        .allow_headers(tower_http::cors::Any)
        .expose_headers(exposed)
}

/// Gives every request an `x-request-id` (the caller's, or a new UUID), echoes it in
/// the response and opens the request's tracing span with it, so every log line of
/// the request carries `request_id`. The `Authorization` header is never logged.
fn traced<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    let x_request_id = HeaderName::from_static("x-request-id");
    router
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .layer(PropagateRequestIdLayer::new(x_request_id.clone()))
        .layer(SetRequestIdLayer::new(x_request_id, MakeRequestUuid))
        .layer(SetSensitiveRequestHeadersLayer::new([
            header::AUTHORIZATION,
        ]))
}

fn request_span<B>(req: &axum::http::Request<B>) -> tracing::Span {
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    tracing::info_span!(
        "request",
        method = %req.method(),
        path = %req.uri().path(),
        request_id = %id,
    )
}

/// 201 Created with a relative `Location` and a JSON body.
pub(crate) fn created<T: serde::Serialize>(location: String, body: &T) -> Response {
    let mut r = (StatusCode::CREATED, axum::Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// 201 Created with a `Location` and no body.
pub(crate) fn created_empty(location: String) -> Response {
    let mut r = empty(StatusCode::CREATED);
    if let Ok(v) = HeaderValue::from_str(&location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// A success with no body but the JSON content type (as the contract's empty responses).
pub(crate) fn empty(status: StatusCode) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use axum::{body::Body, routing::get};
    use tower::ServiceExt;

    use super::*;

    /// Log lines written to memory.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// A line logged inside a handler carries the request id the response names,
    /// whether the caller sent one or the server made it up.
    #[tokio::test]
    async fn request_id_is_in_every_log_line_of_the_request() {
        let logs = Captured::default();
        let sink = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || sink.clone())
            .with_ansi(false)
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let app = traced(Router::new().route(
            "/x",
            get(|| async {
                tracing::info!("handler ran");
                "ok"
            }),
        ));

        let given = Request::get("/x")
            .header("x-request-id", "given-id-42")
            .body(Body::empty())
            .unwrap();
        let r = app.clone().oneshot(given).await.unwrap();
        assert_eq!(r.headers()["x-request-id"], "given-id-42");
        let made = app
            .oneshot(Request::get("/x").body(Body::empty()).unwrap())
            .await
            .unwrap();
        let made_id = made.headers()["x-request-id"].to_str().unwrap().to_string();
        assert!(uuid::Uuid::parse_str(&made_id).is_ok(), "{made_id}");

        let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().filter(|l| l.contains("handler ran")).collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(lines[0].contains("request_id=given-id-42"), "{}", lines[0]);
        assert!(
            lines[1].contains(&format!("request_id={made_id}")),
            "{}",
            lines[1]
        );
    }
}
