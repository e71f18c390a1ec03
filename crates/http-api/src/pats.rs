//! Personal access tokens (`/pats`, 13 routes of auth.yaml) and API keys (`/keys`, 3
//! routes). Managed with the user's own token: a PAT cannot manage either.

use axum::{
    Json,
    http::{Method, StatusCode},
    response::{IntoResponse, Response},
};
use switchyard_api_types as api;
use switchyard_core::{IssuedPat, ScopeInput};
use switchyard_domain::{Pat, PatScope, ScopeTarget};

use crate::{
    Api,
    convert::ts,
    doc, empty,
    error::ApiResult,
    extract::{AppJson, Ctx, Id, MaybeJson, Q},
    roles::page_args,
};

pub fn routes(a: Api) -> Api {
    let t = "pats";
    let k = "keys";
    a.route(
        Method::POST,
        "/keys",
        doc(
            k,
            "Issue an API key (type 3) acting as the caller; shown once",
        )
        .body("KeyReq")
        .ok(201, Some("KeyIssuedRes")),
        issue_key,
    )
    .route(
        Method::GET,
        "/keys/{keyID}",
        doc(k, "View one of the caller's API keys").ok(200, Some("KeyRes")),
        view_key,
    )
    .route(
        Method::DELETE,
        "/keys/{keyID}",
        doc(k, "Revoke an API key (effective on the next request)").ok(204, None),
        revoke_key,
    )
    .route(
        Method::POST,
        "/pats",
        doc(
            t,
            "Create a personal access token (its secret is shown once)",
        )
        .body("PatCreateReq")
        .ok(201, Some("PatRes")),
        create,
    )
    .route(
        Method::GET,
        "/pats",
        doc(t, "List the caller's personal access tokens")
            .query(crate::params::PAGE)
            .ok(200, Some("PatsPage")),
        list,
    )
    .route(
        Method::DELETE,
        "/pats",
        doc(t, "Delete all the caller's personal access tokens").ok(200, None),
        clear,
    )
    .route(
        Method::GET,
        "/pats/{patID}",
        doc(t, "View a personal access token").ok(200, Some("PatRes")),
        view,
    )
    .route(
        Method::DELETE,
        "/pats/{patID}",
        doc(t, "Delete a personal access token").ok(204, None),
        delete,
    )
    .route(
        Method::PATCH,
        "/pats/{patID}/name",
        doc(t, "Rename a personal access token")
            .body("PatNameReq")
            .ok(202, Some("PatRes")),
        rename,
    )
    .route(
        Method::PATCH,
        "/pats/{patID}/description",
        doc(t, "Change a personal access token's description")
            .body("PatDescriptionReq")
            .ok(202, Some("PatRes")),
        describe,
    )
    .route(
        Method::PATCH,
        "/pats/{patID}/secret/reset",
        doc(t, "Issue a new secret (the old one stops working)")
            .body("PatResetReq")
            .ok(200, Some("PatRes")),
        reset,
    )
    .route(
        Method::PATCH,
        "/pats/{patID}/secret/revoke",
        doc(t, "Revoke the secret (effective on the next request)").ok(204, None),
        revoke,
    )
    .route(
        Method::GET,
        "/pats/{patID}/scope",
        doc(t, "List a personal access token's scopes")
            .query(crate::params::PAGE)
            .ok(200, Some("ScopesPage")),
        scopes,
    )
    .route(
        Method::DELETE,
        "/pats/{patID}/scope",
        doc(t, "Remove every scope").ok(200, None),
        clear_scopes,
    )
    .route(
        Method::PATCH,
        "/pats/{patID}/scope/add",
        doc(t, "Add scopes").body("ScopesAddReq").ok(200, None),
        add_scopes,
    )
    .route(
        Method::PATCH,
        "/pats/{patID}/scope/remove",
        doc(t, "Remove scopes by id")
            .body("ScopesRemoveReq")
            .ok(200, None),
        remove_scopes,
    )
}

fn pat_res(p: &Pat, secret: Option<String>, now: switchyard_domain::Timestamp) -> api::PatRes {
    api::PatRes {
        id: p.id.to_string(),
        user_id: p.user_id.to_string(),
        name: p.name.clone(),
        description: p.description.clone(),
        secret,
        issued_at: ts(p.issued_at),
        expires_at: ts(p.expires_at),
        updated_at: p.updated_at.map(ts),
        last_used_at: p.last_used_at.map(ts),
        revoked: p.revoked,
        revoked_at: p.revoked_at.map(ts),
        status: p.status(now).into(),
    }
}

fn issued(s: &crate::AppState, i: IssuedPat) -> api::PatRes {
    pat_res(&i.pat, Some(i.secret), s.core.now())
}

fn scope_res(s: &PatScope) -> api::ScopeRes {
    let domain = s.domain.map(|d| d.to_string());
    api::ScopeRes {
        id: s.id.to_string(),
        pat_id: s.pat_id.to_string(),
        optional_domain_id: domain.clone(),
        domain_id: domain,
        entity_type: s.entity_type.as_str().into(),
        entity_id: match s.entity {
            ScopeTarget::Any => "*".into(),
            ScopeTarget::One(id) => id.to_string(),
        },
        operation: s.operation.as_str().into(),
    }
}

async fn create(Ctx(s, c): Ctx, AppJson(r): AppJson<api::PatCreateReq>) -> ApiResult<Response> {
    let i = s
        .core
        .create_pat(
            &c,
            &r.name,
            r.description.as_deref().unwrap_or(""),
            &r.duration,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(issued(&s, i))).into_response())
}

async fn list(Ctx(s, c): Ctx, Q(q): Q) -> ApiResult<Response> {
    let (offset, limit) = page_args(&q)?;
    let page = s.core.list_pats(&c, offset, limit).await?;
    let now = s.core.now();
    Ok(Json(api::PatsPage {
        total: page.total,
        offset: page.offset,
        limit: page.limit,
        pats: page.items.iter().map(|p| pat_res(p, None, now)).collect(),
    })
    .into_response())
}

async fn clear(Ctx(s, c): Ctx) -> ApiResult<Response> {
    s.core.clear_pats(&c).await?;
    Ok(empty(StatusCode::OK))
}

async fn view(Ctx(s, c): Ctx, Id(id): Id) -> ApiResult<Response> {
    let p = s.core.view_pat(&c, id).await?;
    Ok(Json(pat_res(&p, None, s.core.now())).into_response())
}

async fn delete(Ctx(s, c): Ctx, Id(id): Id) -> ApiResult<Response> {
    s.core.delete_pat(&c, id).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

async fn rename(
    Ctx(s, c): Ctx,
    Id(id): Id,
    AppJson(r): AppJson<api::PatNameReq>,
) -> ApiResult<Response> {
    let p = s.core.rename_pat(&c, id, &r.name).await?;
    Ok((StatusCode::ACCEPTED, Json(pat_res(&p, None, s.core.now()))).into_response())
}

async fn describe(
    Ctx(s, c): Ctx,
    Id(id): Id,
    AppJson(r): AppJson<api::PatDescriptionReq>,
) -> ApiResult<Response> {
    let p = s.core.describe_pat(&c, id, &r.description).await?;
    Ok((StatusCode::ACCEPTED, Json(pat_res(&p, None, s.core.now()))).into_response())
}

async fn reset(
    Ctx(s, c): Ctx,
    Id(id): Id,
    AppJson(r): AppJson<api::PatResetReq>,
) -> ApiResult<Response> {
    let i = s.core.reset_pat_secret(&c, id, &r.duration).await?;
    Ok(Json(issued(&s, i)).into_response())
}

async fn revoke(
    Ctx(s, c): Ctx,
    Id(id): Id,
    _body: MaybeJson<serde_json::Value>,
) -> ApiResult<Response> {
    s.core.revoke_pat(&c, id).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

async fn scopes(Ctx(s, c): Ctx, Id(id): Id, Q(q): Q) -> ApiResult<Response> {
    let (offset, limit) = page_args(&q)?;
    let page = s.core.pat_scopes(&c, id, offset, limit).await?;
    Ok(Json(api::ScopesPage {
        total: page.total,
        offset: page.offset,
        limit: page.limit,
        scopes: page.items.iter().map(scope_res).collect(),
    })
    .into_response())
}

async fn clear_scopes(Ctx(s, c): Ctx, Id(id): Id) -> ApiResult<Response> {
    s.core.remove_pat_scopes(&c, id, None).await?;
    Ok(empty(StatusCode::OK))
}

async fn add_scopes(
    Ctx(s, c): Ctx,
    Id(id): Id,
    AppJson(r): AppJson<api::ScopesAddReq>,
) -> ApiResult<Response> {
    let input = r
        .scopes
        .into_iter()
        .map(|x| ScopeInput {
            domain: x.optional_domain_id,
            entity_type: x.entity_type,
            entity_id: x.entity_id,
            operation: x.operation,
        })
        .collect();
    s.core.add_pat_scopes(&c, id, input).await?;
    Ok(empty(StatusCode::OK))
}

async fn remove_scopes(
    Ctx(s, c): Ctx,
    Id(id): Id,
    AppJson(r): AppJson<api::ScopesRemoveReq>,
) -> ApiResult<Response> {
    s.core.remove_pat_scopes(&c, id, Some(r.scopes_id)).await?;
    Ok(empty(StatusCode::OK))
}

/// Upstream sends the duration as Go's `time.Duration` (nanoseconds); a duration
/// string (`"90d"`) is accepted too.
fn key_ttl(v: &serde_json::Value) -> Result<time::Duration, switchyard_core::Error> {
    let bad = || {
        switchyard_core::Error::InvalidInput(
            "invalid duration: nanoseconds, or a string such as 90d".into(),
        )
    };
    match v {
        serde_json::Value::Number(n) => {
            let ns = n.as_i64().filter(|n| *n > 0).ok_or_else(bad)?;
            Ok(time::Duration::nanoseconds(ns))
        }
        serde_json::Value::String(s) => switchyard_domain::parse_duration(s).map_err(|_| bad()),
        _ => Err(bad()),
    }
}

async fn issue_key(Ctx(s, c): Ctx, AppJson(r): AppJson<api::KeyReq>) -> ApiResult<Response> {
    if !matches!(r.kind, None | Some(3)) {
        return Err(switchyard_core::Error::InvalidInput(
            "invalid key type: only API keys (type 3) are issued here".into(),
        )
        .into());
    }
    let ttl = key_ttl(&r.duration)?;
    let k = s.core.issue_key(&c, ttl).await?;
    Ok((
        StatusCode::CREATED,
        Json(api::KeyIssuedRes {
            id: k.key.id.to_string(),
            value: k.value,
            issued_at: ts(k.key.issued_at),
            expires_at: ts(k.key.expires_at),
        }),
    )
        .into_response())
}

async fn view_key(Ctx(s, c): Ctx, Id(id): Id) -> ApiResult<Response> {
    let k = s.core.view_key(&c, id).await?;
    Ok(Json(api::KeyRes {
        id: k.id.to_string(),
        issuer_id: k.issuer_id.to_string(),
        subject: k.subject,
        kind: 3,
        issued_at: ts(k.issued_at),
        expires_at: ts(k.expires_at),
    })
    .into_response())
}

async fn revoke_key(Ctx(s, c): Ctx, Id(id): Id) -> ApiResult<Response> {
    s.core.revoke_key(&c, id).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}
