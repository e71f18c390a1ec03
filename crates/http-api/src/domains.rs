use crate::extract::path_id as id;
use crate::extract::{Ctx, Id, Scoped};
use axum::{
    Json,
    extract::Path,
    http::{Method, StatusCode},
    response::{IntoResponse, Response},
};
use switchyard_api_types as api;
use switchyard_auth::policy::DomainAccess;
use switchyard_core::{DomainUpdate, NewDomain};
use switchyard_domain::{DomainRole, Status};

use crate::{
    Api, AppState, convert, doc, empty,
    error::ApiResult,
    extract::{AppJson, Q},
};

pub fn routes(a: Api) -> Api {
    let t = "domains";
    a.route(
        Method::POST,
        "/domains",
        doc(t, "Create a domain")
            .body("DomainReq")
            .ok(201, Some("DomainRes")),
        create,
    )
    .route(
        Method::GET,
        "/domains",
        doc(t, "List the caller's domains")
            .query(crate::params::DOMAINS)
            .ok(200, Some("DomainsPage")),
        list,
    )
    .route(
        Method::GET,
        "/domains/{domainID}",
        doc(t, "View a domain").ok(200, Some("DomainRes")),
        view,
    )
    .route(
        Method::PATCH,
        "/domains/{domainID}",
        doc(t, "Update a domain")
            .body("DomainUpdateReq")
            .ok(200, Some("DomainRes")),
        update,
    )
    .route(
        Method::POST,
        "/domains/{domainID}/enable",
        doc(t, "Enable a domain").ok(200, None),
        enable,
    )
    .route(
        Method::POST,
        "/domains/{domainID}/disable",
        doc(t, "Disable a domain").ok(200, None),
        disable,
    )
    .route(
        Method::POST,
        "/domains/{domainID}/freeze",
        doc(t, "Freeze a domain (super-admin)").ok(200, None),
        freeze,
    )
    .route(
        Method::POST,
        "/domains/{domainID}/invitations",
        doc(t, "Invite a user")
            .body("InvitationReq")
            .ok(201, Some("MessageRes")),
        invite,
    )
    .route(
        Method::GET,
        "/domains/{domainID}/invitations",
        doc(t, "List the domain's invitations")
            .query(crate::params::INVITATIONS)
            .ok(200, Some("InvitationsPage")),
        domain_invitations,
    )
    .route(
        Method::DELETE,
        "/domains/{domainID}/invitations",
        doc(t, "Delete an invitation")
            .body("InvitationDeleteReq")
            .ok(204, None),
        delete_invitation,
    )
    .route(
        Method::GET,
        "/invitations",
        doc(t, "List the caller's invitations")
            .query(crate::params::INVITATIONS)
            .ok(200, Some("InvitationsPage")),
        my_invitations,
    )
    .route(
        Method::POST,
        "/invitations/accept",
        doc(t, "Accept an invitation")
            .body("InvitationDomainReq")
            .ok(204, None),
        accept,
    )
    .route(
        Method::POST,
        "/invitations/reject",
        doc(t, "Reject an invitation")
            .body("InvitationDomainReq")
            .ok(204, None),
        reject,
    )
}

fn role_of(a: DomainAccess) -> Option<DomainRole> {
    match a {
        DomainAccess::SuperAdmin => Some(DomainRole::Admin),
        DomainAccess::Role(r) => Some(r),
    }
}

async fn create(Ctx(s, c): Ctx, AppJson(r): AppJson<api::DomainReq>) -> ApiResult<Response> {
    let d = s
        .core
        .create_domain(
            &c,
            NewDomain {
                id: r.id,
                name: r.name,
                route: r.route,
                tags: r.tags,
                metadata: r.metadata,
            },
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(convert::domain(&d, Some(DomainRole::Admin))),
    )
        .into_response())
}

async fn list(Scoped(s, c): Scoped, Q(q): Q) -> ApiResult<Response> {
    let p = s.core.list_domains(&c, &q).await?;
    Ok(Json(api::DomainsPage {
        total: p.total,
        offset: p.offset,
        limit: p.limit,
        domains: p.items.iter().map(|d| convert::domain(d, None)).collect(),
    })
    .into_response())
}

async fn view(Scoped(s, c): Scoped, Id(p): Id) -> ApiResult<Response> {
    let (d, access) = s.core.view_domain(&c, p).await?;
    Ok(Json(convert::domain(&d, role_of(access))).into_response())
}

async fn update(
    Scoped(s, c): Scoped,
    Id(p): Id,
    AppJson(r): AppJson<api::DomainUpdateReq>,
) -> ApiResult<Response> {
    let d = s
        .core
        .update_domain(
            &c,
            p,
            DomainUpdate {
                name: r.name,
                tags: r.tags,
                metadata: r.metadata,
            },
        )
        .await?;
    Ok(Json(convert::domain(&d, None)).into_response())
}

async fn status(
    s: &AppState,
    c: &switchyard_core::Caller,
    p: &str,
    st: Status,
) -> ApiResult<Response> {
    s.core.set_domain_status(c, id(p)?, st).await?;
    Ok(empty(StatusCode::OK))
}

async fn enable(Scoped(s, c): Scoped, Path(p): Path<String>) -> ApiResult<Response> {
    status(&s, &c, &p, Status::Enabled).await
}
async fn disable(Scoped(s, c): Scoped, Path(p): Path<String>) -> ApiResult<Response> {
    status(&s, &c, &p, Status::Disabled).await
}
async fn freeze(Scoped(s, c): Scoped, Path(p): Path<String>) -> ApiResult<Response> {
    status(&s, &c, &p, Status::Frozen).await
}

async fn invite(
    Ctx(s, c): Ctx,
    Id(p): Id,
    AppJson(r): AppJson<api::InvitationReq>,
) -> ApiResult<Response> {
    s.core
        .send_invitation(&c, p, &r.invitee_user_id, &r.role_id, r.resend)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(api::MessageRes {
            message: "invitation sent".into(),
        }),
    )
        .into_response())
}

fn invitations(p: switchyard_domain::Page<switchyard_domain::Invitation>) -> api::InvitationsPage {
    api::InvitationsPage {
        total: p.total,
        offset: p.offset,
        limit: p.limit,
        invitations: p.items.iter().map(convert::invitation).collect(),
    }
}

async fn domain_invitations(Ctx(s, c): Ctx, Id(p): Id, Q(q): Q) -> ApiResult<Response> {
    Ok(Json(invitations(
        s.core.list_domain_invitations(&c, p, &q).await?,
    ))
    .into_response())
}

async fn my_invitations(Ctx(s, c): Ctx, Q(q): Q) -> ApiResult<Response> {
    Ok(Json(invitations(s.core.list_my_invitations(&c, &q).await?)).into_response())
}

async fn delete_invitation(
    Ctx(s, c): Ctx,
    Id(p): Id,
    AppJson(r): AppJson<api::InvitationDeleteReq>,
) -> ApiResult<Response> {
    s.core.delete_invitation(&c, p, &r.user_id).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

async fn accept(
    Ctx(s, c): Ctx,
    AppJson(r): AppJson<api::InvitationDomainReq>,
) -> ApiResult<Response> {
    s.core.accept_invitation(&c, &r.domain_id).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

async fn reject(
    Ctx(s, c): Ctx,
    AppJson(r): AppJson<api::InvitationDomainReq>,
) -> ApiResult<Response> {
    s.core.reject_invitation(&c, &r.domain_id).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}
