//! Groups over HTTP: the shared entity routes (`entity.rs`, with PUT for update) plus
//! the tree — parent, children, hierarchy — and the parent group of clients and
//! channels.

use axum::{
    Json,
    http::{Method, StatusCode},
    response::{IntoResponse, Response},
};
use switchyard_api_types as api;
use switchyard_core::{GroupUpdate, NewGroup};
use switchyard_domain::{EntityKind, Group, Page};
use uuid::Uuid;

use crate::{
    Api,
    convert::{ts, ts_opt},
    doc, empty,
    entity::{self, Resource, wire},
    error::ApiResult,
    extract::{AppJson, Ids, MaybeJson, Q, Scoped, path_id},
};

pub(crate) fn group_res(g: &Group) -> api::GroupRes {
    api::GroupRes {
        id: g.id.to_string(),
        domain_id: g.domain_id.to_string(),
        parent_id: g.parent_id.map(|p| p.to_string()),
        name: g.name.clone(),
        description: g.description.clone(),
        tags: g.tags.clone(),
        metadata: g.metadata.clone(),
        level: u64::try_from(g.level).unwrap_or(0),
        children: Vec::new(),
        roles: Vec::new(),
        created_at: ts(g.created_at),
        updated_at: ts_opt(g.updated_at),
        updated_by: g.updated_by.map(|u| u.to_string()),
        status: g.status.as_str().into(),
    }
}

fn groups_page(p: Page<Group>) -> api::GroupsPage {
    api::GroupsPage {
        limit: p.limit,
        offset: p.offset,
        total: p.total,
        groups: p.items.iter().map(group_res).collect(),
    }
}

impl Resource for Group {
    const WIRE: entity::Wire = entity::Wire {
        update_method: Method::PUT,
        list_query: crate::params::GROUPS,
        ..wire!("group", "groups", "Group", "groupID")
    };
    type Req = api::GroupReq;
    type UpdateReq = api::GroupUpdateReq;
    type Res = api::GroupRes;
    type Page = api::GroupsPage;

    fn new(r: api::GroupReq) -> NewGroup {
        NewGroup {
            id: r.id,
            name: r.name,
            description: r.description,
            tags: r.tags,
            metadata: r.metadata,
            parent_id: r.parent_id,
            status: r.status,
        }
    }
    fn changes(r: api::GroupUpdateReq) -> GroupUpdate {
        GroupUpdate {
            name: r.name,
            description: r.description,
            tags: None,
            metadata: r.metadata,
        }
    }
    fn tags(tags: Vec<String>) -> GroupUpdate {
        GroupUpdate {
            tags: Some(tags),
            ..Default::default()
        }
    }
    fn res(&self, _full: bool) -> api::GroupRes {
        group_res(self)
    }
    fn set_roles(res: &mut api::GroupRes, roles: Vec<api::MemberRoleRes>) {
        res.roles = roles;
    }
    fn page(p: Page<Group>) -> api::GroupsPage {
        groups_page(p)
    }
}

pub fn routes(a: Api) -> Api {
    let t = "groups";
    let a = entity::routes::<Group>(a)
        .route(
            Method::GET,
            "/{domainID}/groups/{groupID}/hierarchy",
            doc(t, "A group's ancestors or descendants")
                .query(crate::params::HIERARCHY)
                .ok(200, Some("HierarchyRes")),
            hierarchy,
        )
        .route(
            Method::POST,
            "/{domainID}/groups/{groupID}/parent",
            doc(t, "Set a group's parent")
                .body("GroupParentReq")
                .ok(200, None),
            set_parent,
        )
        .route(
            Method::DELETE,
            "/{domainID}/groups/{groupID}/parent",
            doc(t, "Make a group a root").ok(204, None),
            remove_parent,
        )
        .route(
            Method::POST,
            "/{domainID}/groups/{groupID}/children",
            doc(t, "Add children to a group")
                .body("ChildrenReq")
                .ok(200, None),
            add_children,
        )
        .route(
            Method::DELETE,
            "/{domainID}/groups/{groupID}/children",
            doc(t, "Remove children from a group")
                .body("ChildrenReq")
                .ok(204, None),
            remove_children,
        )
        .route(
            Method::DELETE,
            "/{domainID}/groups/{groupID}/children/all",
            doc(t, "Remove every child of a group").ok(204, None),
            remove_all_children,
        )
        .route(
            Method::GET,
            "/{domainID}/groups/{groupID}/children",
            doc(t, "A group's descendants")
                .query(crate::params::CHILDREN)
                .ok(200, Some("GroupsPage")),
            children,
        );
    let (c, ch) = ("clients", "channels");
    let (cp, chp) = (
        "/{domainID}/clients/{clientID}/parent",
        "/{domainID}/channels/{channelID}/parent",
    );
    let set = |t| {
        doc(t, "Set the parent group")
            .body("ParentGroupReq")
            .ok(200, None)
    };
    let unset = |t| doc(t, "Remove the parent group").ok(204, None);
    a.route(Method::POST, cp, set(c), set_entity_parent::<true>)
        .route(Method::DELETE, cp, unset(c), remove_entity_parent::<true>)
        .route(Method::POST, chp, set(ch), set_entity_parent::<false>)
        .route(
            Method::DELETE,
            chp,
            unset(ch),
            remove_entity_parent::<false>,
        )
}

fn entity_kind(client: bool) -> EntityKind {
    if client {
        EntityKind::Client
    } else {
        EntityKind::Channel
    }
}

fn ids(raw: &[String]) -> ApiResult<Vec<Uuid>> {
    raw.iter().map(|s| path_id(s)).collect()
}

/// Nests a flat hierarchy (each group with its level) into trees under `root`.
fn nest(groups: &[Group], root: Uuid, up: bool) -> Vec<api::GroupRes> {
    if up {
        // Ancestors form a chain: each one's child is the previous.
        let mut chain: Option<api::GroupRes> = None;
        for g in groups {
            let mut r = group_res(g);
            if let Some(c) = chain.take() {
                r.children = vec![c];
            }
            chain = Some(r);
        }
        return chain.into_iter().collect();
    }
    fn below(groups: &[Group], parent: Uuid) -> Vec<api::GroupRes> {
        groups
            .iter()
            .filter(|g| g.parent_id == Some(parent))
            .map(|g| {
                let mut r = group_res(g);
                r.children = below(groups, g.id);
                r
            })
            .collect()
    }
    groups
        .iter()
        .filter(|g| g.id == root)
        .map(|g| {
            let mut r = group_res(g);
            r.children = below(groups, g.id);
            r
        })
        .collect()
}

async fn hierarchy(Scoped(s, c): Scoped, Ids(d, i): Ids, Q(q): Q) -> ApiResult<Response> {
    let h = s.core.group_hierarchy(&c, d, i, &q).await?;
    let tree = q.bool("tree").map_err(switchyard_core::Error::from)?;
    let groups = if tree {
        nest(&h.groups, i, h.direction >= 0)
    } else {
        h.groups.iter().map(group_res).collect()
    };
    Ok(Json(api::HierarchyRes {
        level: h.level,
        direction: h.direction,
        groups,
    })
    .into_response())
}

async fn set_parent(
    Scoped(s, c): Scoped,
    Ids(d, i): Ids,
    AppJson(r): AppJson<api::GroupParentReq>,
) -> ApiResult<Response> {
    let p = path_id(&r.parent_id)?;
    s.core.set_group_parent(&c, d, i, p).await?;
    Ok(empty(StatusCode::OK))
}

async fn remove_parent(Scoped(s, c): Scoped, Ids(d, i): Ids) -> ApiResult<Response> {
    s.core.remove_group_parent(&c, d, i).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

async fn add_children(
    Scoped(s, c): Scoped,
    Ids(d, i): Ids,
    AppJson(r): AppJson<api::ChildrenReq>,
) -> ApiResult<Response> {
    let kids = ids(&r.children_ids)?;
    s.core.add_group_children(&c, d, i, &kids).await?;
    Ok(empty(StatusCode::OK))
}

async fn remove_children(
    Scoped(s, c): Scoped,
    Ids(d, i): Ids,
    MaybeJson(r): MaybeJson<api::ChildrenReq>,
) -> ApiResult<Response> {
    let kids = ids(&r.unwrap_or_default().children_ids)?;
    s.core.remove_group_children(&c, d, i, Some(&kids)).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

async fn remove_all_children(Scoped(s, c): Scoped, Ids(d, i): Ids) -> ApiResult<Response> {
    s.core.remove_group_children(&c, d, i, None).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

async fn children(Scoped(s, c): Scoped, Ids(d, i): Ids, Q(q): Q) -> ApiResult<Response> {
    let p = s.core.group_children(&c, d, i, &q).await?;
    Ok(Json(groups_page(p)).into_response())
}

async fn set_entity_parent<const CLIENT: bool>(
    Scoped(s, c): Scoped,
    Ids(d, i): Ids,
    AppJson(r): AppJson<api::ParentGroupReq>,
) -> ApiResult<Response> {
    if r.parent_group_id.is_empty() {
        return Err(switchyard_core::Error::InvalidInput("missing parent group id".into()).into());
    }
    let p = path_id(&r.parent_group_id)?;
    s.core
        .set_entity_parent(&c, entity_kind(CLIENT), d, i, Some(p))
        .await?;
    Ok(empty(StatusCode::OK))
}

async fn remove_entity_parent<const CLIENT: bool>(
    Scoped(s, c): Scoped,
    Ids(d, i): Ids,
) -> ApiResult<Response> {
    s.core
        .set_entity_parent(&c, entity_kind(CLIENT), d, i, None)
        .await?;
    Ok(empty(StatusCode::NO_CONTENT))
}
