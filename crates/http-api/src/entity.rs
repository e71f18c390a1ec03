//! The HTTP side of the shared entity path: clients, channels and groups answer the same nine
//! routes (create, bulk create, list, view, update, tags, enable, disable, delete)
//! through one set of generic handlers over core's generic entity methods. Each entity
//! says only its wire types and names (`clients.rs`, `channels.rs`).

use crate::extract::{Id, Ids, Scoped};
use axum::{
    Json,
    http::{Method, StatusCode},
    response::{IntoResponse, Response},
};
use serde::{Serialize, de::DeserializeOwned};
use switchyard_core::entity::Managed;
use switchyard_domain::{Page, Status};

use crate::{
    Api, created, doc, empty,
    error::ApiResult,
    extract::{AppJson, Q},
};

/// Paths, OpenAPI schema names and summaries of one entity's routes.
pub(crate) struct Wire {
    pub tag: &'static str,
    /// PATCH for clients and channels, PUT for groups.
    pub update_method: Method,
    pub base: &'static str,
    pub bulk: &'static str,
    pub item: &'static str,
    pub tags: &'static str,
    pub enable: &'static str,
    pub disable: &'static str,
    pub req: &'static str,
    pub res: &'static str,
    pub page: &'static str,
    /// Query parameters of the list route.
    pub list_query: &'static [crate::params::QueryDoc],
    pub update_req: &'static str,
    pub create: &'static str,
    pub list: &'static str,
    pub create_bulk: &'static str,
    /// Body of the bulk route: an array of the create body.
    pub bulk_req: &'static str,
    pub view: &'static str,
    pub update: &'static str,
    pub delete: &'static str,
    pub replace_tags: &'static str,
    pub set_enabled: &'static str,
    pub set_disabled: &'static str,
}

/// `wire!("client", "clients", "Client", "clientID")`: the names of an entity's routes.
macro_rules! wire {
    ($one:literal, $many:literal, $ty:literal, $id:literal) => {
        $crate::entity::Wire {
            tag: $many,
            update_method: axum::http::Method::PATCH,
            base: concat!("/{domainID}/", $many),
            bulk: concat!("/{domainID}/", $many, "/bulk"),
            item: concat!("/{domainID}/", $many, "/{", $id, "}"),
            tags: concat!("/{domainID}/", $many, "/{", $id, "}/tags"),
            enable: concat!("/{domainID}/", $many, "/{", $id, "}/enable"),
            disable: concat!("/{domainID}/", $many, "/{", $id, "}/disable"),
            req: concat!($ty, "Req"),
            res: concat!($ty, "Res"),
            page: concat!($ty, "sPage"),
            list_query: $crate::params::ENTITIES,
            update_req: concat!($ty, "UpdateReq"),
            create: concat!("Create a ", $one),
            list: concat!("List ", $many),
            create_bulk: concat!("Create ", $many, ", all or none"),
            bulk_req: concat!($ty, "Req[]"),
            view: concat!("View a ", $one),
            update: concat!("Update a ", $one),
            delete: concat!("Delete a ", $one, " and its connections"),
            replace_tags: concat!("Replace a ", $one, "'s tags"),
            set_enabled: concat!("Enable a ", $one),
            set_disabled: concat!("Disable a ", $one),
        }
    };
}
pub(crate) use wire;

/// A client or channel as the HTTP API shows it.
pub(crate) trait Resource: Managed {
    const WIRE: Wire;
    type Req: DeserializeOwned + Send + 'static;
    type UpdateReq: DeserializeOwned + Send + 'static;
    type Res: Serialize + Send;
    type Page: Serialize;

    fn new(r: Self::Req) -> Self::New;
    fn changes(r: Self::UpdateReq) -> Self::Update;
    fn tags(tags: Vec<String>) -> Self::Update;
    /// `full`: whether secrets are shown (enable/disable answers omit them).
    fn res(&self, full: bool) -> Self::Res;
    /// Adds the caller's roles (`?roles=true`).
    fn set_roles(res: &mut Self::Res, roles: Vec<switchyard_api_types::MemberRoleRes>);
    fn page(p: Page<Self>) -> Self::Page;
}

/// The nine routes every entity has.
pub(crate) fn routes<E: Resource>(a: Api) -> Api {
    let w = E::WIRE;
    let t = w.tag;
    a.route(
        Method::POST,
        w.base,
        doc(t, w.create).body(w.req).ok(201, Some(w.res)),
        create::<E>,
    )
    .route(
        Method::GET,
        w.base,
        doc(t, w.list).query(w.list_query).ok(200, Some(w.page)),
        list::<E>,
    )
    .route(
        Method::POST,
        w.bulk,
        doc(t, w.create_bulk).body(w.bulk_req).ok(200, Some(w.page)),
        bulk::<E>,
    )
    .route(
        Method::GET,
        w.item,
        doc(t, w.view)
            .query(crate::params::VIEW)
            .ok(200, Some(w.res)),
        view::<E>,
    )
    .route(
        w.update_method,
        w.item,
        doc(t, w.update).body(w.update_req).ok(200, Some(w.res)),
        update::<E>,
    )
    .route(
        Method::DELETE,
        w.item,
        doc(t, w.delete).ok(204, None),
        delete::<E>,
    )
    .route(
        Method::PATCH,
        w.tags,
        doc(t, w.replace_tags).body("TagsReq").ok(200, Some(w.res)),
        tags::<E>,
    )
    .route(
        Method::POST,
        w.enable,
        doc(t, w.set_enabled).ok(200, Some(w.res)),
        status::<E, true>,
    )
    .route(
        Method::POST,
        w.disable,
        doc(t, w.set_disabled).ok(200, Some(w.res)),
        status::<E, false>,
    )
}

async fn create<E: Resource>(
    Scoped(s, c): Scoped,
    Id(d): Id,
    AppJson(r): AppJson<E::Req>,
) -> ApiResult<Response> {
    let mut made = s.core.create::<E>(&c, d, vec![E::new(r)]).await?;
    let e = made
        .pop()
        .ok_or(switchyard_core::Error::Internal("nothing created".into()))?;
    Ok(created(
        format!("/{}/{}", E::WIRE.tag, e.id()),
        &e.res(true),
    ))
}

async fn bulk<E: Resource>(
    Scoped(s, c): Scoped,
    Id(d): Id,
    AppJson(r): AppJson<Vec<E::Req>>,
) -> ApiResult<Response> {
    let items = s
        .core
        .create::<E>(&c, d, r.into_iter().map(E::new).collect())
        .await?;
    let page = Page {
        total: items.len() as u64,
        offset: 0,
        limit: 0,
        items,
    };
    Ok(Json(E::page(page)).into_response())
}

async fn list<E: Resource>(Scoped(s, c): Scoped, Id(d): Id, Q(q): Q) -> ApiResult<Response> {
    let page = s.core.list::<E>(&c, d, &q).await?;
    Ok(Json(E::page(page)).into_response())
}

async fn view<E: Resource>(Scoped(s, c): Scoped, Ids(d, i): Ids, Q(q): Q) -> ApiResult<Response> {
    let e = s.core.view::<E>(&c, d, i).await?;
    let mut res = e.res(true);
    if q.bool("roles").map_err(switchyard_core::Error::from)? {
        let roles = s.core.caller_roles(&c, E::ENTITY, d, i).await?;
        E::set_roles(&mut res, crate::convert::access_roles(roles));
    }
    Ok(Json(res).into_response())
}

async fn update<E: Resource>(
    Scoped(s, c): Scoped,
    Ids(d, i): Ids,
    AppJson(r): AppJson<E::UpdateReq>,
) -> ApiResult<Response> {
    let e = s.core.update::<E>(&c, d, i, E::changes(r)).await?;
    Ok(Json(e.res(true)).into_response())
}

async fn tags<E: Resource>(
    Scoped(s, c): Scoped,
    Ids(d, i): Ids,
    AppJson(r): AppJson<switchyard_api_types::TagsReq>,
) -> ApiResult<Response> {
    let e = s.core.update::<E>(&c, d, i, E::tags(r.tags)).await?;
    Ok(Json(e.res(true)).into_response())
}

async fn status<E: Resource, const ENABLE: bool>(
    Scoped(s, c): Scoped,
    Ids(d, i): Ids,
) -> ApiResult<Response> {
    let to = if ENABLE {
        Status::Enabled
    } else {
        Status::Disabled
    };
    let e = s.core.set_status::<E>(&c, d, i, to).await?;
    Ok(Json(e.res(false)).into_response())
}

async fn delete<E: Resource>(Scoped(s, c): Scoped, Ids(d, i): Ids) -> ApiResult<Response> {
    s.core.delete::<E>(&c, d, i).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}
