use crate::extract::{Ctx, Id, Ids};
use crate::params::Auth;
use axum::{
    Json,
    extract::{Path, State},
    http::{HeaderValue, Method, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
};
use switchyard_api_types::{
    ConfigCertsReq, ConfigChannelsReq, ConfigReq, ConfigRes, ConfigUpdateReq, ConfigsPage, StateReq,
};

use crate::{
    Api, AppState, created_empty, doc, empty,
    error::ApiResult,
    extract::{AppJson, Q},
    provision::{bootstrap_json, client_key},
};

pub fn routes(a: Api) -> Api {
    let t = "bootstrap";
    a.route(
        Method::POST,
        "/{domainID}/clients/configs",
        doc(
            t,
            "Create a bootstrap config (with or without an existing client)",
        )
        .body("ConfigReq")
        .ok(201, None),
        create,
    )
    .route(
        Method::GET,
        "/{domainID}/clients/configs",
        doc(t, "List bootstrap configs")
            .query(crate::params::CONFIGS)
            .ok(200, Some("ConfigsPage")),
        list,
    )
    .route(
        Method::GET,
        "/{domainID}/clients/configs/{configID}",
        doc(t, "View a bootstrap config").ok(200, Some("ConfigRes")),
        view,
    )
    .route(
        Method::PUT,
        "/{domainID}/clients/configs/{configID}",
        doc(t, "Update name and content")
            .body("ConfigUpdateReq")
            .ok(200, None),
        update,
    )
    .route(
        Method::DELETE,
        "/{domainID}/clients/configs/{configID}",
        doc(t, "Delete a bootstrap config").ok(204, None),
        delete,
    )
    .route(
        Method::PATCH,
        "/{domainID}/clients/configs/certs/{configID}",
        doc(t, "Update the config's certificates")
            .body("ConfigCertsReq")
            .ok(200, Some("ConfigCertsReq")),
        certs,
    )
    .route(
        Method::PUT,
        "/{domainID}/clients/configs/connections/{configID}",
        doc(t, "Replace the config's channels")
            .body("ConfigChannelsReq")
            .ok(200, None),
        connections,
    )
    .route(
        Method::PUT,
        "/{domainID}/clients/state/{clientID}",
        doc(t, "Whitelist (1) or block (0) a bootstrapped client")
            .body("StateReq")
            .ok(200, None),
        state,
    )
    .route(
        Method::GET,
        "/clients/bootstrap",
        doc(t, "Fetch without an id (always refused)").auth(Auth::Client),
        fetch_no_id,
    )
    .route(
        Method::GET,
        "/clients/bootstrap/secure/{externalID}",
        doc(
            t,
            "Encrypted fetch for the Agent: Authorization: Client hex(IV‖AES-CFB(key))",
        )
        .auth(Auth::Client),
        fetch_secure,
    )
}

fn config_res(
    c: &switchyard_domain::BootstrapConfig,
    secret: String,
    channels: &[switchyard_domain::Channel],
) -> ConfigRes {
    ConfigRes {
        client_id: c.client_id.to_string(),
        client_secret: secret,
        channels: channels
            .iter()
            .map(|ch| serde_json::json!({"id": ch.id.to_string(), "name": ch.name, "metadata": ch.metadata}))
            .collect(),
        external_id: c.external_id.clone(),
        external_key: String::new(),
        content: c.content.clone(),
        name: c.name.clone(),
        state: c.state,
        client_cert: c.client_cert.clone(),
        ca_cert: c.ca_cert.clone(),
    }
}

async fn create(Ctx(s, c): Ctx, Id(d): Id, AppJson(r): AppJson<ConfigReq>) -> ApiResult<Response> {
    let cfg = s
        .core
        .create_config(
            &c,
            d,
            switchyard_core::bootstrap::NewConfig {
                client_id: r.client_id,
                external_id: r.external_id,
                external_key: r.external_key,
                channels: r.channels,
                name: r.name,
                content: r.content,
                client_cert: r.client_cert,
                client_key: r.client_key,
                ca_cert: r.ca_cert,
            },
        )
        .await?;
    Ok(created_empty(format!("/clients/configs/{}", cfg.client_id)))
}

async fn list(Ctx(s, c): Ctx, Id(d): Id, Q(q): Q) -> ApiResult<Response> {
    let p = s.core.list_configs(&c, d, &q).await?;
    Ok(Json(ConfigsPage {
        total: p.total,
        offset: p.offset,
        limit: p.limit,
        configs: p
            .items
            .iter()
            .map(|c| config_res(c, String::new(), &[]))
            .collect(),
    })
    .into_response())
}

async fn view(Ctx(s, c): Ctx, Ids(d, i): Ids) -> ApiResult<Response> {
    let v = s.core.view_config(&c, d, i).await?;
    Ok(Json(config_res(&v.config, v.client_secret, &v.channels)).into_response())
}

async fn update(
    Ctx(s, c): Ctx,
    Ids(d, i): Ids,
    AppJson(r): AppJson<ConfigUpdateReq>,
) -> ApiResult<Response> {
    s.core.update_config(&c, d, i, r.name, r.content).await?;
    Ok(empty(StatusCode::OK))
}

async fn delete(Ctx(s, c): Ctx, Ids(d, i): Ids) -> ApiResult<Response> {
    s.core.delete_config(&c, d, i).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

async fn certs(
    Ctx(s, c): Ctx,
    Ids(d, i): Ids,
    AppJson(r): AppJson<ConfigCertsReq>,
) -> ApiResult<Response> {
    let cfg = s
        .core
        .update_config_certs(&c, d, i, r.client_cert, r.client_key, r.ca_cert)
        .await?;
    Ok(Json(ConfigCertsReq {
        client_id: cfg.client_id.to_string(),
        client_cert: cfg.client_cert,
        client_key: cfg.client_key,
        ca_cert: cfg.ca_cert,
    })
    .into_response())
}

async fn connections(
    Ctx(s, c): Ctx,
    Ids(d, i): Ids,
    AppJson(r): AppJson<ConfigChannelsReq>,
) -> ApiResult<Response> {
    s.core
        .update_config_connections(&c, d, i, &r.channels)
        .await?;
    Ok(empty(StatusCode::OK))
}

async fn state(
    Ctx(s, c): Ctx,
    Ids(d, i): Ids,
    AppJson(r): AppJson<StateReq>,
) -> ApiResult<Response> {
    let st = match r.state {
        Some(0.0) => 0,
        Some(1.0) => 1,
        _ => {
            return Err(
                switchyard_core::Error::InvalidInput("invalid bootstrap state".into()).into(),
            );
        }
    };
    s.core.set_config_state(&c, d, i, st).await?;
    Ok(empty(StatusCode::OK))
}

async fn fetch_no_id(parts: Parts) -> ApiResult<Response> {
    match client_key(&parts) {
        None => Err(switchyard_core::Error::Unauthenticated(
            "missing or invalid bearer entity key",
        )
        .into()),
        Some(_) => Err(switchyard_core::Error::InvalidInput("missing entity id".into()).into()),
    }
}

async fn fetch_secure(
    State(s): State<AppState>,
    Path(ext): Path<String>,
    parts: Parts,
) -> ApiResult<Response> {
    s.rate_check(&parts, "bootstrap")?;
    let body = s
        .core
        .bootstrap_fetch_secure(&ext, client_key(&parts), |view| {
            serde_json::to_vec(&bootstrap_json(view)).unwrap_or_default()
        })
        .await?;
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        )],
        body,
    )
        .into_response())
}
