//! Roles (the sub-API shared by domains, groups, clients and channels) and groups.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

type Metadata = Map<String, Value>;

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct RoleCreateReq {
    #[serde(default)]
    #[schema(required, min_length = 1, max_length = 1024)]
    pub role_name: String,
    #[serde(default)]
    pub optional_actions: Vec<String>,
    #[serde(default)]
    pub optional_members: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct RoleUpdateReq {
    #[serde(default)]
    #[schema(required, min_length = 1, max_length = 1024)]
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RoleRes {
    pub id: String,
    pub name: String,
    pub entity_id: String,
    pub created_by: String,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RolesPage {
    pub total: u64,
    pub offset: u64,
    pub limit: u64,
    pub roles: Vec<RoleRes>,
}

/// `{"actions": [...]}`: a request to add or remove actions, and the answer listing a
/// role's actions.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct ActionsReq {
    #[serde(default)]
    #[schema(required, min_items = 1)]
    pub actions: Vec<String>,
}

/// `{"members": [...]}`: user ids to add to or remove from a role, and the answer.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct MembersReq {
    #[serde(default)]
    #[schema(required, min_items = 1, value_type = Vec<uuid::Uuid>)]
    pub members: Vec<String>,
}

/// `DELETE …/roles`: users to remove from every role of the entity.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct RemoveMembersReq {
    #[serde(default)]
    #[schema(required, min_items = 1, value_type = Vec<uuid::Uuid>)]
    pub member_ids: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MembersPage {
    pub total: u64,
    pub offset: u64,
    pub limit: u64,
    pub members: Vec<String>,
}

/// A role through which a user reaches an entity.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MemberRoleRes {
    pub role_id: String,
    pub role_name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub access_provider_id: String,
    pub access_type: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MemberRolesRes {
    pub member_id: String,
    pub roles: Vec<MemberRoleRes>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EntityMembersPage {
    pub total: u64,
    pub offset: u64,
    pub limit: u64,
    pub members: Vec<MemberRolesRes>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AvailableActionsRes {
    pub available_actions: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct GroupReq {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub metadata: Metadata,
    #[serde(default)]
    pub parent_id: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct GroupUpdateReq {
    #[schema(min_length = 1, max_length = 1024, value_type = String)]
    pub name: Option<String>,
    pub description: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Metadata>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct GroupRes {
    pub id: String,
    pub domain_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    #[schema(value_type = Object)]
    pub metadata: Metadata,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub level: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(no_recursion)]
    pub children: Vec<GroupRes>,
    /// With `?roles=true`: the roles through which the caller reaches the group.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<MemberRoleRes>,
    pub created_at: String,
    pub updated_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_by: Option<String>,
    pub status: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct GroupsPage {
    #[serde(default, skip_serializing_if = "is_zero")]
    pub limit: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub offset: u64,
    pub total: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<GroupRes>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HierarchyRes {
    pub level: u64,
    pub direction: i64,
    pub groups: Vec<GroupRes>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct GroupParentReq {
    #[serde(default)]
    #[schema(required, format = Uuid)]
    pub parent_id: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct ParentGroupReq {
    #[serde(default)]
    #[schema(required, format = Uuid)]
    pub parent_group_id: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct ChildrenReq {
    #[serde(default)]
    #[schema(required, min_items = 1, value_type = Vec<uuid::Uuid>)]
    pub children_ids: Vec<String>,
}
