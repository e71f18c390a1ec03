//! The roles sub-API, the same 16 routes on domains, groups, clients and channels
//! (§8 of the contract): one set of handlers, generic over the entity kind.

use axum::{
    Json,
    extract::{FromRequestParts, Path},
    http::{Method, StatusCode, request::Parts},
    response::{IntoResponse, Response},
};
use switchyard_api_types as api;
use switchyard_core::access::Target;
use switchyard_domain::{EntityKind, Page, Role};
use uuid::Uuid;

use crate::{
    Api, ApiError, AppState,
    convert::ts,
    doc, empty,
    error::ApiResult,
    extract::{AppJson, Q, Scoped, path_id},
};

/// Kind codes as const generics (`EntityKind::code`).
const DOMAIN: u8 = 0;
const GROUP: u8 = 1;
const CLIENT: u8 = 2;
const CHANNEL: u8 = 3;

fn kind(k: u8) -> EntityKind {
    EntityKind::from_code(i64::from(k))
}

/// The ids in a roles path: the domain, the entity (the domain itself on domain
/// routes) and the role, when the path names one.
struct RolePath {
    domain: Uuid,
    entity: Uuid,
    role: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for RolePath {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, s: &S) -> Result<Self, Self::Rejection> {
        let Path(raw): Path<Vec<(String, String)>> = Path::from_request_parts(parts, s)
            .await
            .map_err(|_| ApiError::from(switchyard_core::Error::NotFound))?;
        let get = |name: &str| raw.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let domain = path_id(&get("domainID").unwrap_or_default())?;
        let entity = match ["groupID", "clientID", "channelID"]
            .iter()
            .find_map(|n| get(n))
        {
            Some(e) => path_id(&e)?,
            None => domain,
        };
        Ok(RolePath {
            domain,
            entity,
            role: get("roleID"),
        })
    }
}

impl RolePath {
    fn role(&self) -> &str {
        self.role.as_deref().unwrap_or_default()
    }
    async fn target(
        &self,
        s: &AppState,
        c: &switchyard_core::Caller,
        k: u8,
        action: &str,
    ) -> ApiResult<Target> {
        Ok(s.core
            .role_target(c, kind(k), self.domain, self.entity, action)
            .await?)
    }
}

fn role_res(r: &Role) -> api::RoleRes {
    api::RoleRes {
        id: r.id.clone(),
        name: r.name.clone(),
        entity_id: r.entity_id.to_string(),
        created_by: r.created_by.to_string(),
        created_at: ts(r.created_at),
        updated_by: r.updated_by.map(|u| u.to_string()),
        updated_at: r.updated_at.map(ts),
    }
}

pub(crate) fn page_args(q: &switchyard_domain::QueryParams) -> ApiResult<(u64, u64)> {
    let offset = q.offset().map_err(switchyard_core::Error::from)?;
    let limit = q.u64("limit", 10).map_err(switchyard_core::Error::from)?;
    if !(1..=switchyard_domain::MAX_LIMIT).contains(&limit) {
        return Err(switchyard_core::Error::InvalidInput("invalid limit size".into()).into());
    }
    Ok((offset, limit))
}

fn members_page(p: Page<Uuid>) -> api::MembersPage {
    api::MembersPage {
        total: p.total,
        offset: p.offset,
        limit: p.limit,
        members: p.items.iter().map(Uuid::to_string).collect(),
    }
}

/// Adds the 16 routes of one kind. `item` is the entity path (`/{domainID}/clients/{clientID}`),
/// `coll` the collection path.
macro_rules! role_routes {
    ($a:expr, $k:expr, $tag:literal, $coll:literal, $item:literal) => {
        $a.route(
            Method::GET,
            concat!($coll, "/roles/available-actions"),
            doc($tag, "Actions a role may hold").ok(200, Some("AvailableActionsRes")),
            available::<{ $k }>,
        )
        .route(
            Method::POST,
            concat!($item, "/roles"),
            doc($tag, "Create a role")
                .body("RoleCreateReq")
                .ok(201, Some("RoleRes")),
            create::<{ $k }>,
        )
        .route(
            Method::GET,
            concat!($item, "/roles"),
            doc($tag, "List roles")
                .query(crate::params::PAGE)
                .ok(200, Some("RolesPage")),
            list::<{ $k }>,
        )
        .route(
            Method::DELETE,
            concat!($item, "/roles"),
            doc($tag, "Remove users from every role")
                .body("RemoveMembersReq")
                .ok(204, None),
            remove_everywhere::<{ $k }>,
        )
        .route(
            Method::GET,
            concat!($item, "/roles/members"),
            doc($tag, "Users holding roles, with their roles").ok(200, Some("EntityMembersPage")),
            entity_members::<{ $k }>,
        )
        .route(
            Method::GET,
            concat!($item, "/roles/{roleID}"),
            doc($tag, "View a role").ok(200, Some("RoleRes")),
            view::<{ $k }>,
        )
        .route(
            Method::PUT,
            concat!($item, "/roles/{roleID}"),
            doc($tag, "Rename a role")
                .body("RoleUpdateReq")
                .ok(200, Some("RoleRes")),
            rename::<{ $k }>,
        )
        .route(
            Method::DELETE,
            concat!($item, "/roles/{roleID}"),
            doc($tag, "Delete a role").ok(204, None),
            delete::<{ $k }>,
        )
        .route(
            Method::POST,
            concat!($item, "/roles/{roleID}/actions"),
            doc($tag, "Add actions to a role")
                .body("ActionsReq")
                .ok(200, Some("ActionsReq")),
            add_actions::<{ $k }>,
        )
        .route(
            Method::GET,
            concat!($item, "/roles/{roleID}/actions"),
            doc($tag, "A role's actions").ok(200, Some("ActionsReq")),
            actions::<{ $k }>,
        )
        .route(
            Method::POST,
            concat!($item, "/roles/{roleID}/actions/delete"),
            doc($tag, "Remove actions from a role")
                .body("ActionsReq")
                .ok(204, None),
            remove_actions::<{ $k }>,
        )
        .route(
            Method::POST,
            concat!($item, "/roles/{roleID}/actions/delete-all"),
            doc($tag, "Remove every action from a role").ok(204, None),
            remove_all_actions::<{ $k }>,
        )
        .route(
            Method::POST,
            concat!($item, "/roles/{roleID}/members"),
            doc($tag, "Add members to a role")
                .body("MembersReq")
                .ok(200, Some("MembersReq")),
            add_members::<{ $k }>,
        )
        .route(
            Method::GET,
            concat!($item, "/roles/{roleID}/members"),
            doc($tag, "A role's members")
                .query(crate::params::PAGE)
                .ok(200, Some("MembersPage")),
            members::<{ $k }>,
        )
        .route(
            Method::POST,
            concat!($item, "/roles/{roleID}/members/delete"),
            doc($tag, "Remove members from a role")
                .body("MembersReq")
                .ok(204, None),
            remove_members::<{ $k }>,
        )
        .route(
            Method::POST,
            concat!($item, "/roles/{roleID}/members/delete-all"),
            doc($tag, "Remove every member from a role").ok(204, None),
            remove_all_members::<{ $k }>,
        )
    };
}

pub fn routes(a: Api) -> Api {
    let a = role_routes!(a, DOMAIN, "domains", "/domains", "/domains/{domainID}");
    let a = role_routes!(
        a,
        GROUP,
        "groups",
        "/{domainID}/groups",
        "/{domainID}/groups/{groupID}"
    );
    let a = role_routes!(
        a,
        CLIENT,
        "clients",
        "/{domainID}/clients",
        "/{domainID}/clients/{clientID}"
    );
    role_routes!(
        a,
        CHANNEL,
        "channels",
        "/{domainID}/channels",
        "/{domainID}/channels/{channelID}"
    )
}

async fn available<const K: u8>(
    Scoped(s, _c): Scoped,
    uri: axum::http::Uri,
) -> ApiResult<Response> {
    // `/{domainID}/<kind>/roles/available-actions`: the domain id must be one, as on
    // every other domain route (`/domains/roles/available-actions` has none).
    let first = uri.path().trim_start_matches('/').split('/').next();
    if let Some(d) = first.filter(|d| *d != "domains") {
        crate::extract::path_id(d)?;
    }
    Ok(Json(api::AvailableActionsRes {
        available_actions: s.core.available_actions(kind(K)),
    })
    .into_response())
}

async fn create<const K: u8>(
    Scoped(s, c): Scoped,
    p: RolePath,
    AppJson(r): AppJson<api::RoleCreateReq>,
) -> ApiResult<Response> {
    let t = p.target(&s, &c, K, "manage_role").await?;
    let role = s
        .core
        .create_role(&c, &t, r.role_name, r.optional_actions, r.optional_members)
        .await?;
    Ok((StatusCode::CREATED, Json(role_res(&role))).into_response())
}

async fn list<const K: u8>(Scoped(s, c): Scoped, p: RolePath, Q(q): Q) -> ApiResult<Response> {
    let t = p.target(&s, &c, K, "view_role_users").await?;
    let (offset, limit) = page_args(&q)?;
    let page = s.core.list_roles(&t, offset, limit).await?;
    Ok(Json(api::RolesPage {
        total: page.total,
        offset: page.offset,
        limit: page.limit,
        roles: page.items.iter().map(role_res).collect(),
    })
    .into_response())
}

async fn view<const K: u8>(Scoped(s, c): Scoped, p: RolePath) -> ApiResult<Response> {
    let t = p.target(&s, &c, K, "view_role_users").await?;
    Ok(Json(role_res(&s.core.view_role(&t, p.role()).await?)).into_response())
}

async fn rename<const K: u8>(
    Scoped(s, c): Scoped,
    p: RolePath,
    AppJson(r): AppJson<api::RoleUpdateReq>,
) -> ApiResult<Response> {
    let t = p.target(&s, &c, K, "manage_role").await?;
    let role = s.core.rename_role(&c, &t, p.role(), r.name).await?;
    Ok(Json(role_res(&role)).into_response())
}

async fn delete<const K: u8>(Scoped(s, c): Scoped, p: RolePath) -> ApiResult<Response> {
    let t = p.target(&s, &c, K, "manage_role").await?;
    s.core.delete_role(&t, p.role()).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

async fn add_actions<const K: u8>(
    Scoped(s, c): Scoped,
    p: RolePath,
    AppJson(r): AppJson<api::ActionsReq>,
) -> ApiResult<Response> {
    let t = p.target(&s, &c, K, "manage_role").await?;
    let actions = s.core.add_role_actions(&t, p.role(), r.actions).await?;
    Ok(Json(api::ActionsReq { actions }).into_response())
}

async fn actions<const K: u8>(Scoped(s, c): Scoped, p: RolePath) -> ApiResult<Response> {
    let t = p.target(&s, &c, K, "view_role_users").await?;
    let actions = s.core.role_actions(&t, p.role()).await?;
    Ok(Json(api::ActionsReq { actions }).into_response())
}

async fn remove_actions<const K: u8>(
    Scoped(s, c): Scoped,
    p: RolePath,
    AppJson(r): AppJson<api::ActionsReq>,
) -> ApiResult<Response> {
    let t = p.target(&s, &c, K, "manage_role").await?;
    s.core
        .remove_role_actions(&t, p.role(), Some(r.actions))
        .await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

async fn remove_all_actions<const K: u8>(Scoped(s, c): Scoped, p: RolePath) -> ApiResult<Response> {
    let t = p.target(&s, &c, K, "manage_role").await?;
    s.core.remove_role_actions(&t, p.role(), None).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

async fn add_members<const K: u8>(
    Scoped(s, c): Scoped,
    p: RolePath,
    AppJson(r): AppJson<api::MembersReq>,
) -> ApiResult<Response> {
    let t = p.target(&s, &c, K, "add_role_users").await?;
    let ids = s.core.add_role_members(&t, p.role(), r.members).await?;
    Ok(Json(api::MembersReq {
        members: ids.iter().map(Uuid::to_string).collect(),
    })
    .into_response())
}

async fn members<const K: u8>(Scoped(s, c): Scoped, p: RolePath, Q(q): Q) -> ApiResult<Response> {
    let t = p.target(&s, &c, K, "view_role_users").await?;
    let (offset, limit) = page_args(&q)?;
    let page = s.core.role_members(&t, p.role(), offset, limit).await?;
    Ok(Json(members_page(page)).into_response())
}

async fn remove_members<const K: u8>(
    Scoped(s, c): Scoped,
    p: RolePath,
    AppJson(r): AppJson<api::MembersReq>,
) -> ApiResult<Response> {
    let t = p.target(&s, &c, K, "remove_role_users").await?;
    s.core
        .remove_role_members(&t, p.role(), Some(r.members))
        .await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

async fn remove_all_members<const K: u8>(Scoped(s, c): Scoped, p: RolePath) -> ApiResult<Response> {
    let t = p.target(&s, &c, K, "remove_role_users").await?;
    s.core.remove_role_members(&t, p.role(), None).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

async fn remove_everywhere<const K: u8>(
    Scoped(s, c): Scoped,
    p: RolePath,
    AppJson(r): AppJson<api::RemoveMembersReq>,
) -> ApiResult<Response> {
    let t = p.target(&s, &c, K, "remove_role_users").await?;
    s.core.remove_entity_members(&t, r.member_ids).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

async fn entity_members<const K: u8>(
    Scoped(s, c): Scoped,
    p: RolePath,
    Q(q): Q,
) -> ApiResult<Response> {
    let t = p.target(&s, &c, K, "view_role_users").await?;
    let (offset, limit) = page_args(&q)?;
    let page = s.core.entity_members(&t, offset, limit).await?;
    Ok(Json(api::EntityMembersPage {
        total: page.total,
        offset: page.offset,
        limit: page.limit,
        members: page
            .items
            .into_iter()
            .map(|m| api::MemberRolesRes {
                member_id: m.member_id.to_string(),
                roles: m
                    .roles
                    .into_iter()
                    .map(|(role_id, role_name)| api::MemberRoleRes {
                        role_id,
                        role_name,
                        actions: Vec::new(),
                        access_provider_id: String::new(),
                        access_type: "direct".into(),
                    })
                    .collect(),
            })
            .collect(),
    })
    .into_response())
}
