use axum::{
    Json,
    extract::{Path, State},
    http::{Method, StatusCode},
    response::{IntoResponse, Response},
};
use switchyard_api_types as api;
use switchyard_core::{ClientUpdate, NewClient};
use switchyard_domain::{Status, validate};

use crate::{
    Api, AppState, convert, created, doc, empty,
    error::{ApiError, ApiResult},
    extract::{AppJson, Auth, Q},
};

pub fn routes(a: Api) -> Api {
    let t = "clients";
    a.route(
        Method::POST,
        "/{domainID}/clients",
        doc(t, "Create a client")
            .body("ClientReq")
            .ok(201, Some("ClientRes")),
        create,
    )
    .route(
        Method::GET,
        "/{domainID}/clients",
        doc(t, "List clients").ok(200, Some("ClientsPage")),
        list,
    )
    .route(
        Method::POST,
        "/{domainID}/clients/bulk",
        doc(t, "Create clients, all or none").ok(200, Some("ClientsPage")),
        bulk,
    )
    .route(
        Method::GET,
        "/{domainID}/clients/{clientID}",
        doc(t, "View a client").ok(200, Some("ClientRes")),
        view,
    )
    .route(
        Method::PATCH,
        "/{domainID}/clients/{clientID}",
        doc(t, "Update a client")
            .body("ClientUpdateReq")
            .ok(200, Some("ClientRes")),
        update,
    )
    .route(
        Method::DELETE,
        "/{domainID}/clients/{clientID}",
        doc(t, "Delete a client and its connections").ok(204, None),
        delete,
    )
    .route(
        Method::PATCH,
        "/{domainID}/clients/{clientID}/tags",
        doc(t, "Replace a client's tags")
            .body("TagsReq")
            .ok(200, Some("ClientRes")),
        tags,
    )
    .route(
        Method::PATCH,
        "/{domainID}/clients/{clientID}/secret",
        doc(t, "Change a client's secret")
            .body("ClientSecretReq")
            .ok(200, Some("ClientRes")),
        secret,
    )
    .route(
        Method::POST,
        "/{domainID}/clients/{clientID}/enable",
        doc(t, "Enable a client").ok(200, Some("ClientRes")),
        enable,
    )
    .route(
        Method::POST,
        "/{domainID}/clients/{clientID}/disable",
        doc(t, "Disable a client").ok(200, Some("ClientRes")),
        disable,
    )
    .route(
        Method::GET,
        "/{domainID}/clients/{clientID}/channels",
        doc(t, "Channels a client is connected to").ok(200, Some("ChannelsPage")),
        channels_of,
    )
    .route(
        Method::GET,
        "/clients/{clientID}/channels",
        doc(
            t,
            "Channels a client is connected to (document form, no domain)",
        )
        .ok(200, Some("ChannelsPage")),
        channels_of_any,
    )
}

pub(crate) fn id(p: &str) -> Result<uuid::Uuid, ApiError> {
    Ok(validate::parse_id(p)?)
}

fn new_client(r: api::ClientReq) -> NewClient {
    NewClient {
        id: r.id,
        name: r.name,
        tags: r.tags,
        metadata: r.metadata,
        private_metadata: r.private_metadata,
        secret: Some(r.credentials.secret).filter(|s| !s.is_empty()),
        status: r.status,
    }
}

async fn create(
    State(s): State<AppState>,
    Auth(c): Auth,
    Path(d): Path<String>,
    AppJson(r): AppJson<api::ClientReq>,
) -> ApiResult<Response> {
    let mut cs = s
        .core
        .create_clients(&c, id(&d)?, vec![new_client(r)])
        .await?;
    let cl = cs
        .pop()
        .ok_or(switchyard_core::Error::Internal("no client created".into()))?;
    Ok(created(
        format!("/clients/{}", cl.id),
        &convert::client(&cl, true),
    ))
}

async fn bulk(
    State(s): State<AppState>,
    Auth(c): Auth,
    Path(d): Path<String>,
    AppJson(r): AppJson<Vec<api::ClientReq>>,
) -> ApiResult<Response> {
    let cs = s
        .core
        .create_clients(&c, id(&d)?, r.into_iter().map(new_client).collect())
        .await?;
    Ok(Json(api::ClientsPage {
        limit: 0,
        offset: 0,
        total: cs.len() as u64,
        clients: cs.iter().map(|c| convert::client(c, true)).collect(),
    })
    .into_response())
}

async fn list(
    State(s): State<AppState>,
    Auth(c): Auth,
    Path(d): Path<String>,
    Q(q): Q,
) -> ApiResult<Response> {
    Ok(Json(convert::clients(
        s.core.list_clients(&c, id(&d)?, &q).await?,
    ))
    .into_response())
}

async fn view(
    State(s): State<AppState>,
    Auth(c): Auth,
    Path((d, i)): Path<(String, String)>,
) -> ApiResult<Response> {
    Ok(Json(convert::client(
        &s.core.view_client(&c, id(&d)?, id(&i)?).await?,
        true,
    ))
    .into_response())
}

async fn update(
    State(s): State<AppState>,
    Auth(c): Auth,
    Path((d, i)): Path<(String, String)>,
    AppJson(r): AppJson<api::ClientUpdateReq>,
) -> ApiResult<Response> {
    let up = ClientUpdate {
        name: r.name,
        tags: r.tags,
        metadata: r.metadata,
        private_metadata: r.private_metadata,
    };
    Ok(Json(convert::client(
        &s.core.update_client(&c, id(&d)?, id(&i)?, up).await?,
        true,
    ))
    .into_response())
}

async fn tags(
    State(s): State<AppState>,
    Auth(c): Auth,
    Path((d, i)): Path<(String, String)>,
    AppJson(r): AppJson<api::TagsReq>,
) -> ApiResult<Response> {
    let up = ClientUpdate {
        tags: Some(r.tags),
        ..Default::default()
    };
    Ok(Json(convert::client(
        &s.core.update_client(&c, id(&d)?, id(&i)?, up).await?,
        true,
    ))
    .into_response())
}

async fn secret(
    State(s): State<AppState>,
    Auth(c): Auth,
    Path((d, i)): Path<(String, String)>,
    AppJson(r): AppJson<api::ClientSecretReq>,
) -> ApiResult<Response> {
    Ok(Json(convert::client(
        &s.core
            .update_client_secret(&c, id(&d)?, id(&i)?, r.secret)
            .await?,
        true,
    ))
    .into_response())
}

async fn enable(
    State(s): State<AppState>,
    Auth(c): Auth,
    Path((d, i)): Path<(String, String)>,
) -> ApiResult<Response> {
    Ok(Json(convert::client(
        &s.core
            .set_client_status(&c, id(&d)?, id(&i)?, Status::Enabled)
            .await?,
        false,
    ))
    .into_response())
}

async fn disable(
    State(s): State<AppState>,
    Auth(c): Auth,
    Path((d, i)): Path<(String, String)>,
) -> ApiResult<Response> {
    Ok(Json(convert::client(
        &s.core
            .set_client_status(&c, id(&d)?, id(&i)?, Status::Disabled)
            .await?,
        false,
    ))
    .into_response())
}

async fn delete(
    State(s): State<AppState>,
    Auth(c): Auth,
    Path((d, i)): Path<(String, String)>,
) -> ApiResult<Response> {
    s.core.delete_client(&c, id(&d)?, id(&i)?).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

async fn channels_of(
    State(s): State<AppState>,
    Auth(c): Auth,
    Path((d, i)): Path<(String, String)>,
    Q(q): Q,
) -> ApiResult<Response> {
    let p = s
        .core
        .channels_of_client(&c, Some(id(&d)?), id(&i)?, &q)
        .await?;
    Ok(Json(convert::channels(p)).into_response())
}

async fn channels_of_any(
    State(s): State<AppState>,
    Auth(c): Auth,
    Path(i): Path<String>,
    Q(q): Q,
) -> ApiResult<Response> {
    let p = s.core.channels_of_client(&c, None, id(&i)?, &q).await?;
    Ok(Json(convert::channels(p)).into_response())
}
