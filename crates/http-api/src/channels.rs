//! Channels over HTTP: the shared entity routes (`entity.rs`) plus connections.

use crate::extract::{Id, Ids, Scoped};
use axum::{
    Json,
    extract::Path,
    http::{Method, StatusCode, header},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use switchyard_api_types as api;
use switchyard_core::Caller;
use switchyard_core::{ChannelUpdate, NewChannel};
use switchyard_domain::{Channel, Page};
use uuid::Uuid;

use crate::{
    Api, AppState, convert, doc, empty,
    entity::{self, Resource, wire},
    error::{ApiError, ApiResult},
    extract::{AppJson, Q, is_json, path_id as id},
};

impl Resource for Channel {
    const WIRE: entity::Wire = wire!("channel", "channels", "Channel", "channelID");
    type Req = api::ChannelReq;
    type UpdateReq = api::ChannelUpdateReq;
    type Res = api::ChannelRes;
    type Page = api::ChannelsPage;

    fn new(r: api::ChannelReq) -> NewChannel {
        NewChannel {
            id: r.id,
            name: r.name,
            route: r.route,
            tags: r.tags,
            metadata: r.metadata,
            status: r.status,
            parent_group_id: r.parent_group_id,
        }
    }
    fn changes(r: api::ChannelUpdateReq) -> ChannelUpdate {
        ChannelUpdate {
            name: r.name,
            tags: r.tags,
            metadata: r.metadata,
        }
    }
    fn tags(tags: Vec<String>) -> ChannelUpdate {
        ChannelUpdate {
            tags: Some(tags),
            ..Default::default()
        }
    }
    fn res(&self, _full: bool) -> api::ChannelRes {
        convert::channel(self)
    }
    fn set_roles(res: &mut api::ChannelRes, roles: Vec<api::MemberRoleRes>) {
        res.roles = roles;
    }
    fn page(p: Page<Channel>) -> api::ChannelsPage {
        convert::channels(p)
    }
}

pub fn routes(a: Api) -> Api {
    let t = "channels";
    entity::routes::<Channel>(a)
        .route(
            Method::POST,
            "/{domainID}/channels/connect",
            doc(t, "Connect channel_ids × client_ids × types")
                .body("ConnectionReq")
                .ok(201, None),
            change_many::<true>,
        )
        .route(
            Method::POST,
            "/{domainID}/channels/disconnect",
            doc(t, "Disconnect channel_ids × client_ids × types")
                .body("ConnectionReq")
                .ok(204, None),
            change_many::<false>,
        )
        .route(
            Method::POST,
            "/{domainID}/channels/{channelID}/connect",
            doc(t, "Connect clients to the channel")
                .body("ChannelConnectionReq")
                .ok(201, None),
            change_one::<true>,
        )
        .route(
            Method::POST,
            "/{domainID}/channels/{channelID}/disconnect",
            doc(t, "Disconnect clients from the channel")
                .body("ChannelConnectionReq")
                .ok(204, None),
            change_one::<false>,
        )
        .route(
            Method::DELETE,
            "/{domainID}/channels/{channelID}/disconnect",
            doc(t, "Disconnect (document form; any content type)")
                .body("ChannelConnectionReq")
                .ok(204, None),
            disconnect_one_lenient,
        )
        .route(
            Method::GET,
            "/{domainID}/channels/{channelID}/clients",
            doc(t, "Clients connected to the channel")
                .query(crate::params::ENTITIES)
                .ok(200, Some("ClientsPage")),
            clients_of,
        )
}

/// `POST …/channels/{channelID}/connect` and `…/disconnect`.
async fn change_one<const CONNECT: bool>(
    Scoped(s, c): Scoped,
    Path((d, ch)): Path<(String, String)>,
    AppJson(r): AppJson<api::ConnectionReq>,
) -> ApiResult<Response> {
    change::<CONNECT>(&s, &c, id(&d)?, &[ch], r).await
}

/// The document's `DELETE .../disconnect` is sent by curl without a JSON content
/// type; accept a JSON body whatever the header says.
async fn disconnect_one_lenient(
    Scoped(s, c): Scoped,
    Path((d, ch)): Path<(String, String)>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let _ = is_json(headers.get(header::CONTENT_TYPE));
    let r: api::ConnectionReq = serde_json::from_slice(&body).map_err(|_| ApiError::BadJson)?;
    change::<false>(&s, &c, id(&d)?, &[ch], r).await
}

/// `POST /{domainID}/channels/connect` and `…/disconnect`: every channel × client × type.
async fn change_many<const CONNECT: bool>(
    Scoped(s, c): Scoped,
    Id(d): Id,
    AppJson(mut r): AppJson<api::ConnectionReq>,
) -> ApiResult<Response> {
    let channels = std::mem::take(&mut r.channel_ids);
    change::<CONNECT>(&s, &c, d, &channels, r).await
}

async fn change<const CONNECT: bool>(
    s: &AppState,
    c: &Caller,
    d: Uuid,
    channels: &[String],
    r: api::ConnectionReq,
) -> ApiResult<Response> {
    s.core
        .change_connections(c, d, channels, &r.client_ids, &r.types, CONNECT)
        .await?;
    Ok(empty(if CONNECT {
        StatusCode::CREATED
    } else {
        StatusCode::NO_CONTENT
    }))
}

async fn clients_of(Scoped(s, c): Scoped, Ids(d, ch): Ids, Q(q): Q) -> ApiResult<Response> {
    let p = s.core.clients_of_channel(&c, d, ch, &q).await?;
    Ok(Json(convert::clients(p)).into_response())
}
