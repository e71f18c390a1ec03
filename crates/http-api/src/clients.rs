//! Clients over HTTP: the shared entity routes (`entity.rs`) plus the secret and the
//! channels a client is connected to.

use crate::extract::{Id, Ids, Scoped};
use axum::{
    Json,
    http::Method,
    response::{IntoResponse, Response},
};
use switchyard_api_types as api;
use switchyard_core::{ClientUpdate, NewClient};
use switchyard_domain::{Client, Page};

use crate::{
    Api, convert, doc,
    entity::{self, Resource, wire},
    error::ApiResult,
    extract::{AppJson, Q},
};

impl Resource for Client {
    const WIRE: entity::Wire = wire!("client", "clients", "Client", "clientID");
    type Req = api::ClientReq;
    type UpdateReq = api::ClientUpdateReq;
    type Res = api::ClientRes;
    type Page = api::ClientsPage;

    fn new(r: api::ClientReq) -> NewClient {
        NewClient {
            id: r.id,
            name: r.name,
            tags: r.tags,
            metadata: r.metadata,
            private_metadata: r.private_metadata,
            secret: Some(r.credentials.secret).filter(|s| !s.is_empty()),
            status: r.status,
            parent_group_id: r.parent_group_id,
        }
    }
    fn changes(r: api::ClientUpdateReq) -> ClientUpdate {
        ClientUpdate {
            name: r.name,
            tags: r.tags,
            metadata: r.metadata,
            private_metadata: r.private_metadata,
        }
    }
    fn tags(tags: Vec<String>) -> ClientUpdate {
        ClientUpdate {
            tags: Some(tags),
            ..Default::default()
        }
    }
    fn res(&self, full: bool) -> api::ClientRes {
        convert::client(self, full)
    }
    fn set_roles(res: &mut api::ClientRes, roles: Vec<api::MemberRoleRes>) {
        res.roles = roles;
    }
    fn page(p: Page<Client>) -> api::ClientsPage {
        convert::clients(p)
    }
}

pub fn routes(a: Api) -> Api {
    let t = "clients";
    entity::routes::<Client>(a)
        .route(
            Method::PATCH,
            "/{domainID}/clients/{clientID}/secret",
            doc(t, "Change a client's secret")
                .body("ClientSecretReq")
                .ok(200, Some("ClientRes")),
            secret,
        )
        .route(
            Method::GET,
            "/{domainID}/clients/{clientID}/channels",
            doc(t, "Channels a client is connected to")
                .query(crate::params::ENTITIES)
                .ok(200, Some("ChannelsPage")),
            channels_of,
        )
        .route(
            Method::GET,
            "/clients/{clientID}/channels",
            doc(
                t,
                "Channels a client is connected to (document form, no domain)",
            )
            .query(crate::params::ENTITIES)
            .ok(200, Some("ChannelsPage")),
            channels_of_any,
        )
}

async fn secret(
    Scoped(s, c): Scoped,
    Ids(d, i): Ids,
    AppJson(r): AppJson<api::ClientSecretReq>,
) -> ApiResult<Response> {
    Ok(Json(convert::client(
        &s.core.update_client_secret(&c, d, i, r.secret).await?,
        true,
    ))
    .into_response())
}

async fn channels_of(Scoped(s, c): Scoped, Ids(d, i): Ids, Q(q): Q) -> ApiResult<Response> {
    let p = s.core.channels_of_client(&c, Some(d), i, &q).await?;
    Ok(Json(convert::channels(p)).into_response())
}

async fn channels_of_any(Scoped(s, c): Scoped, Id(i): Id, Q(q): Q) -> ApiResult<Response> {
    let p = s.core.channels_of_client(&c, None, i, &q).await?;
    Ok(Json(convert::channels(p)).into_response())
}
