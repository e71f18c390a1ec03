use axum::{
    Json,
    extract::{Path, State},
    http::{Method, StatusCode, header},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use switchyard_api_types as api;
use switchyard_core::{ChannelUpdate, NewChannel};
use switchyard_domain::Status;

use crate::{
    Api, AppState,
    clients::id,
    convert, created, doc, empty,
    error::{ApiError, ApiResult},
    extract::{AppJson, Auth, Q, is_json},
};

pub fn routes(a: Api) -> Api {
    let t = "channels";
    a.route(
        Method::POST,
        "/{domainID}/channels",
        doc(t, "Create a channel")
            .body("ChannelReq")
            .ok(201, Some("ChannelRes")),
        create,
    )
    .route(
        Method::GET,
        "/{domainID}/channels",
        doc(t, "List channels").ok(200, Some("ChannelsPage")),
        list,
    )
    .route(
        Method::POST,
        "/{domainID}/channels/bulk",
        doc(t, "Create channels, all or none").ok(200, Some("ChannelsPage")),
        bulk,
    )
    .route(
        Method::POST,
        "/{domainID}/channels/connect",
        doc(t, "Connect channel_ids × client_ids × types")
            .body("ConnectionReq")
            .ok(201, None),
        connect_many,
    )
    .route(
        Method::POST,
        "/{domainID}/channels/disconnect",
        doc(t, "Disconnect channel_ids × client_ids × types")
            .body("ConnectionReq")
            .ok(204, None),
        disconnect_many,
    )
    .route(
        Method::GET,
        "/{domainID}/channels/{channelID}",
        doc(t, "View a channel").ok(200, Some("ChannelRes")),
        view,
    )
    .route(
        Method::PATCH,
        "/{domainID}/channels/{channelID}",
        doc(t, "Update a channel")
            .body("ChannelUpdateReq")
            .ok(200, Some("ChannelRes")),
        update,
    )
    .route(
        Method::DELETE,
        "/{domainID}/channels/{channelID}",
        doc(t, "Delete a channel and its connections").ok(204, None),
        delete,
    )
    .route(
        Method::PATCH,
        "/{domainID}/channels/{channelID}/tags",
        doc(t, "Replace a channel's tags")
            .body("TagsReq")
            .ok(200, Some("ChannelRes")),
        tags,
    )
    .route(
        Method::POST,
        "/{domainID}/channels/{channelID}/enable",
        doc(t, "Enable a channel").ok(200, Some("ChannelRes")),
        enable,
    )
    .route(
        Method::POST,
        "/{domainID}/channels/{channelID}/disable",
        doc(t, "Disable a channel").ok(200, Some("ChannelRes")),
        disable,
    )
    .route(
        Method::POST,
        "/{domainID}/channels/{channelID}/connect",
        doc(t, "Connect clients to the channel")
            .body("ConnectionReq")
            .ok(201, None),
        connect_one,
    )
    .route(
        Method::POST,
        "/{domainID}/channels/{channelID}/disconnect",
        doc(t, "Disconnect clients from the channel")
            .body("ConnectionReq")
            .ok(204, None),
        disconnect_one,
    )
    .route(
        Method::DELETE,
        "/{domainID}/channels/{channelID}/disconnect",
        doc(t, "Disconnect (document form; any content type)")
            .body("ConnectionReq")
            .ok(204, None),
        disconnect_one_lenient,
    )
    .route(
        Method::GET,
        "/{domainID}/channels/{channelID}/clients",
        doc(t, "Clients connected to the channel").ok(200, Some("ClientsPage")),
        clients_of,
    )
}

fn new_channel(r: api::ChannelReq) -> NewChannel {
    NewChannel {
        id: r.id,
        name: r.name,
        route: r.route,
        tags: r.tags,
        metadata: r.metadata,
        status: r.status,
    }
}

async fn create(
    State(s): State<AppState>,
    Auth(c): Auth,
    Path(d): Path<String>,
    AppJson(r): AppJson<api::ChannelReq>,
) -> ApiResult<Response> {
    let mut cs = s
        .core
        .create_channels(&c, id(&d)?, vec![new_channel(r)])
        .await?;
    let ch = cs.pop().ok_or(switchyard_core::Error::Internal(
        "no channel created".into(),
    ))?;
    Ok(created(
        format!("/channels/{}", ch.id),
        &convert::channel(&ch),
    ))
}

async fn bulk(
    State(s): State<AppState>,
    Auth(c): Auth,
    Path(d): Path<String>,
    AppJson(r): AppJson<Vec<api::ChannelReq>>,
) -> ApiResult<Response> {
    let cs = s
        .core
        .create_channels(&c, id(&d)?, r.into_iter().map(new_channel).collect())
        .await?;
    Ok(Json(api::ChannelsPage {
        limit: 0,
        offset: 0,
        total: cs.len() as u64,
        channels: cs.iter().map(convert::channel).collect(),
    })
    .into_response())
}

async fn list(
    State(s): State<AppState>,
    Auth(c): Auth,
    Path(d): Path<String>,
    Q(q): Q,
) -> ApiResult<Response> {
    Ok(Json(convert::channels(
        s.core.list_channels(&c, id(&d)?, &q).await?,
    ))
    .into_response())
}

async fn view(
    State(s): State<AppState>,
    Auth(c): Auth,
    Path((d, i)): Path<(String, String)>,
) -> ApiResult<Response> {
    Ok(Json(convert::channel(
        &s.core.view_channel(&c, id(&d)?, id(&i)?).await?,
    ))
    .into_response())
}

async fn update(
    State(s): State<AppState>,
    Auth(c): Auth,
    Path((d, i)): Path<(String, String)>,
    AppJson(r): AppJson<api::ChannelUpdateReq>,
) -> ApiResult<Response> {
    let up = ChannelUpdate {
        name: r.name,
        tags: r.tags,
        metadata: r.metadata,
    };
    Ok(Json(convert::channel(
        &s.core.update_channel(&c, id(&d)?, id(&i)?, up).await?,
    ))
    .into_response())
}

async fn tags(
    State(s): State<AppState>,
    Auth(c): Auth,
    Path((d, i)): Path<(String, String)>,
    AppJson(r): AppJson<api::TagsReq>,
) -> ApiResult<Response> {
    let up = ChannelUpdate {
        tags: Some(r.tags),
        ..Default::default()
    };
    Ok(Json(convert::channel(
        &s.core.update_channel(&c, id(&d)?, id(&i)?, up).await?,
    ))
    .into_response())
}

async fn enable(
    State(s): State<AppState>,
    Auth(c): Auth,
    Path((d, i)): Path<(String, String)>,
) -> ApiResult<Response> {
    Ok(Json(convert::channel(
        &s.core
            .set_channel_status(&c, id(&d)?, id(&i)?, Status::Enabled)
            .await?,
    ))
    .into_response())
}

async fn disable(
    State(s): State<AppState>,
    Auth(c): Auth,
    Path((d, i)): Path<(String, String)>,
) -> ApiResult<Response> {
    Ok(Json(convert::channel(
        &s.core
            .set_channel_status(&c, id(&d)?, id(&i)?, Status::Disabled)
            .await?,
    ))
    .into_response())
}

async fn delete(
    State(s): State<AppState>,
    Auth(c): Auth,
    Path((d, i)): Path<(String, String)>,
) -> ApiResult<Response> {
    s.core.delete_channel(&c, id(&d)?, id(&i)?).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

async fn connect_one(
    State(s): State<AppState>,
    Auth(c): Auth,
    Path((d, ch)): Path<(String, String)>,
    AppJson(r): AppJson<api::ConnectionReq>,
) -> ApiResult<Response> {
    s.core
        .connect(&c, id(&d)?, &[ch], &r.client_ids, &r.types)
        .await?;
    Ok(empty(StatusCode::CREATED))
}

async fn disconnect_one(
    State(s): State<AppState>,
    Auth(c): Auth,
    Path((d, ch)): Path<(String, String)>,
    AppJson(r): AppJson<api::ConnectionReq>,
) -> ApiResult<Response> {
    s.core
        .disconnect(&c, id(&d)?, &[ch], &r.client_ids, &r.types)
        .await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

/// The document's `DELETE .../disconnect` is sent by curl without a JSON content
/// type; accept a JSON body whatever the header says.
async fn disconnect_one_lenient(
    State(s): State<AppState>,
    Auth(c): Auth,
    Path((d, ch)): Path<(String, String)>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let _ = is_json(headers.get(header::CONTENT_TYPE));
    let r: api::ConnectionReq = serde_json::from_slice(&body).map_err(|_| ApiError::BadJson)?;
    s.core
        .disconnect(&c, id(&d)?, &[ch], &r.client_ids, &r.types)
        .await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

async fn connect_many(
    State(s): State<AppState>,
    Auth(c): Auth,
    Path(d): Path<String>,
    AppJson(r): AppJson<api::ConnectionReq>,
) -> ApiResult<Response> {
    s.core
        .connect(&c, id(&d)?, &r.channel_ids, &r.client_ids, &r.types)
        .await?;
    Ok(empty(StatusCode::CREATED))
}

async fn disconnect_many(
    State(s): State<AppState>,
    Auth(c): Auth,
    Path(d): Path<String>,
    AppJson(r): AppJson<api::ConnectionReq>,
) -> ApiResult<Response> {
    s.core
        .disconnect(&c, id(&d)?, &r.channel_ids, &r.client_ids, &r.types)
        .await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

async fn clients_of(
    State(s): State<AppState>,
    Auth(c): Auth,
    Path((d, ch)): Path<(String, String)>,
    Q(q): Q,
) -> ApiResult<Response> {
    let p = s.core.clients_of_channel(&c, id(&d)?, id(&ch)?, &q).await?;
    Ok(Json(convert::clients(p)).into_response())
}
