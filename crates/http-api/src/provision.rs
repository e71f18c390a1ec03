use crate::extract::{Ctx, Id};
use crate::params::Auth;
use axum::{
    Json,
    extract::{Path, State},
    http::{Method, StatusCode, request::Parts},
    response::{IntoResponse, Response},
};
use switchyard_api_types::{
    BootstrapChannel, BootstrapRes, MappingReq, MappingRes, ProvisionCertReq, ProvisionCertRes,
};
use switchyard_domain::validate;

use crate::{
    Api, AppState, convert, doc,
    error::{ApiError, ApiResult},
    extract::{AppJson, bearer},
};

pub fn routes(a: Api) -> Api {
    let t = "provision";
    a.route(
        Method::POST,
        "/{domainID}/mapping",
        doc(t, "Provision a gateway in one transaction")
            .body("MappingReq")
            .ok(201, Some("MappingRes")),
        mapping_in,
    )
    .route(
        Method::POST,
        "/mapping",
        doc(
            t,
            "Provision a gateway (document form; domain from config or the caller's only domain)",
        )
        .body("MappingReq")
        .ok(201, Some("MappingRes")),
        mapping,
    )
    .route(
        Method::GET,
        "/{domainID}/mapping",
        doc(t, "The layout's bootstrap content"),
        content,
    )
    .route(
        Method::GET,
        "/clients/bootstrap/{externalID}",
        doc(
            "bootstrap",
            "Fetch a gateway's config with Authorization: Client <external_key>",
        )
        .auth(Auth::Client),
        fetch,
    )
    .route(
        Method::POST,
        "/{domainID}/cert",
        doc(
            t,
            "Issue a certificate for a client (provision form: {client_id, ttl})",
        )
        .body("ProvisionCertReq")
        .ok(201, Some("ProvisionCertRes")),
        cert,
    )
}

async fn run(
    s: &AppState,
    parts: &Parts,
    domain: Option<uuid::Uuid>,
    r: MappingReq,
) -> ApiResult<Response> {
    s.rate_check(parts, "mapping")?;
    let caller = s.core.provision_caller(bearer(parts)).await?;
    let p = s
        .core
        .provision(&caller, domain, &r.name, &r.external_id, &r.external_key)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(MappingRes {
            clients: p.clients.iter().map(|c| convert::client(c, true)).collect(),
            channels: p.channels.iter().map(convert::channel).collect(),
            whitelisted: p
                .whitelisted
                .iter()
                .map(|id| (id.to_string(), true))
                .collect(),
            client_cert: p
                .client_cert
                .iter()
                .map(|(id, c)| (id.to_string(), c.clone()))
                .collect(),
            client_key: p
                .client_key
                .iter()
                .map(|(id, c)| (id.to_string(), c.clone()))
                .collect(),
            ca_cert: p.ca_cert.clone(),
        }),
    )
        .into_response())
}

async fn mapping_in(
    State(s): State<AppState>,
    Id(d): Id,
    parts: Parts,
    AppJson(r): AppJson<MappingReq>,
) -> ApiResult<Response> {
    run(&s, &parts, Some(d), r).await
}

async fn mapping(
    State(s): State<AppState>,
    parts: Parts,
    AppJson(r): AppJson<MappingReq>,
) -> ApiResult<Response> {
    run(&s, &parts, None, r).await
}

async fn content(Ctx(s, c): Ctx, Id(d): Id) -> ApiResult<Response> {
    Ok(Json(s.core.mapping_content(&c, d).await?).into_response())
}

/// `Authorization: Client <key>`.
pub(crate) fn client_key(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Client "))
        .map(str::trim)
}

pub(crate) fn bootstrap_json(v: switchyard_core::provision::BootstrapView) -> serde_json::Value {
    let res = BootstrapRes {
        client_id: v.config.client_id.to_string(),
        client_secret: v.client_secret,
        channels: v
            .channels
            .into_iter()
            .map(|c| BootstrapChannel {
                id: c.id.to_string(),
                name: c.name,
                metadata: c.metadata,
            })
            .collect(),
        content: v.config.content,
        client_cert: v.config.client_cert,
        client_key: v.config.client_key,
        ca_cert: v.config.ca_cert,
    };
    serde_json::to_value(res).unwrap_or(serde_json::Value::Null)
}

async fn fetch(
    State(s): State<AppState>,
    Path(ext): Path<String>,
    parts: Parts,
) -> ApiResult<Response> {
    s.rate_check(&parts, "bootstrap")?;
    let v = s.core.bootstrap_fetch(&ext, client_key(&parts)).await?;
    Ok(Json(bootstrap_json(v)).into_response())
}

async fn cert(
    Ctx(s, c): Ctx,
    Id(d): Id,
    AppJson(r): AppJson<ProvisionCertReq>,
) -> ApiResult<Response> {
    if r.client_id.is_empty() {
        return Err(switchyard_core::Error::InvalidInput("missing entity id".into()).into());
    }
    let client = validate::parse_id(&r.client_id).map_err(ApiError::from)?;
    let v = s
        .core
        .issue_cert(
            &c,
            d,
            client,
            switchyard_core::certs::IssueOptions {
                ttl: Some(r.ttl).filter(|t| !t.is_empty()),
                ..Default::default()
            },
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(ProvisionCertRes {
            certificate: v.certificate,
            key: v.key.unwrap_or_default(),
        }),
    )
        .into_response())
}
