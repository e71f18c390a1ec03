//! Domain entities → wire DTOs.

use switchyard_api_types as api;
use switchyard_domain::{
    Channel, Client, Domain, DomainRole, Invitation, Page, Timestamp, User, zero_time,
};
use time::format_description::well_known::Rfc3339;

pub fn ts(t: Timestamp) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

pub fn ts_opt(t: Option<Timestamp>) -> String {
    ts(t.unwrap_or_else(zero_time))
}

pub fn user(u: &User) -> api::UserRes {
    api::UserRes {
        id: u.id.to_string(),
        first_name: u.first_name.clone(),
        last_name: u.last_name.clone(),
        tags: u.tags.clone(),
        metadata: u.metadata.clone(),
        private_metadata: u.private_metadata.clone(),
        status: u.status.as_str().into(),
        role: u.role.as_str().into(),
        profile_picture: u.profile_picture.clone(),
        credentials: api::UserCredentials {
            username: u.username.clone(),
            secret: String::new(),
        },
        email: u.email.clone(),
        created_at: ts(u.created_at),
        updated_at: ts_opt(u.updated_at),
        updated_by: u.updated_by.map(|x| x.to_string()),
        verified_at: ts_opt(u.verified_at),
    }
}

/// What any user may see of another (`/users/search`): id, username, names, public
/// metadata and tags; no e-mail, private metadata, role or status.
pub fn user_public(u: &User) -> api::UserRes {
    api::UserRes {
        private_metadata: Default::default(),
        status: String::new(),
        role: String::new(),
        email: String::new(),
        updated_by: None,
        ..user(u)
    }
}

pub fn users(p: Page<User>) -> api::UsersPage {
    api::UsersPage {
        limit: p.limit,
        offset: p.offset,
        total: p.total,
        users: p.items.iter().map(user).collect(),
    }
}

pub fn domain(d: &Domain, role: Option<DomainRole>) -> api::DomainRes {
    api::DomainRes {
        id: d.id.to_string(),
        name: d.name.clone(),
        metadata: d.metadata.clone(),
        tags: d.tags.clone(),
        route: d.route.clone(),
        status: d.status.as_str().into(),
        role_id: role.map(|r| r.role_id(d.id)),
        role_name: role.map(|r| r.as_str().to_string()),
        created_by: d.created_by.to_string(),
        created_at: ts(d.created_at),
        updated_by: d.updated_by.map(|x| x.to_string()),
        updated_at: ts_opt(d.updated_at),
    }
}

pub fn invitation(i: &Invitation) -> api::InvitationRes {
    api::InvitationRes {
        invited_by: i.invited_by.to_string(),
        invitee_user_id: i.invitee_user_id.to_string(),
        domain_id: i.domain_id.to_string(),
        domain_name: i.domain_name.clone(),
        role_id: i.role.role_id(i.domain_id),
        role_name: i.role.as_str().into(),
        created_at: ts(i.created_at),
        updated_at: ts_opt(i.updated_at),
        confirmed_at: ts_opt(i.confirmed_at),
        rejected_at: ts_opt(i.rejected_at),
        resend: false,
    }
}

/// `with_secret`: enable/disable responses omit the secret (contract §5).
pub fn client(c: &Client, with_secret: bool) -> api::ClientRes {
    api::ClientRes {
        id: c.id.to_string(),
        name: c.name.clone(),
        tags: c.tags.clone(),
        domain_id: c.domain_id.to_string(),
        parent_group_id: c.parent_group_id.map(|p| p.to_string()),
        credentials: api::ClientCredentials {
            identity: String::new(),
            secret: if with_secret {
                c.secret.clone()
            } else {
                String::new()
            },
        },
        metadata: c.metadata.clone(),
        private_metadata: c.private_metadata.clone(),
        created_at: ts(c.created_at),
        updated_at: ts_opt(c.updated_at),
        updated_by: c.updated_by.map(|x| x.to_string()),
        status: c.status.as_str().into(),
        roles: Vec::new(),
    }
}

pub fn clients(p: Page<Client>) -> api::ClientsPage {
    api::ClientsPage {
        limit: p.limit,
        offset: p.offset,
        total: p.total,
        clients: p.items.iter().map(|c| client(c, true)).collect(),
    }
}

pub fn channel(c: &Channel) -> api::ChannelRes {
    api::ChannelRes {
        id: c.id.to_string(),
        name: c.name.clone(),
        tags: c.tags.clone(),
        domain_id: c.domain_id.to_string(),
        parent_group_id: c.parent_group_id.map(|p| p.to_string()),
        route: c.route.clone(),
        metadata: c.metadata.clone(),
        created_by: Some(c.created_by.to_string()),
        created_at: ts(c.created_at),
        updated_at: ts_opt(c.updated_at),
        updated_by: c.updated_by.map(|x| x.to_string()),
        status: c.status.as_str().into(),
        roles: Vec::new(),
    }
}

pub fn channels(p: Page<Channel>) -> api::ChannelsPage {
    api::ChannelsPage {
        limit: p.limit,
        offset: p.offset,
        total: p.total,
        channels: p.items.iter().map(channel).collect(),
    }
}

/// The roles through which the caller reaches an entity, as the API shows them.
pub fn access_roles(roles: Vec<switchyard_core::access::AccessRole>) -> Vec<api::MemberRoleRes> {
    roles
        .into_iter()
        .map(|r| api::MemberRoleRes {
            role_id: r.role_id,
            role_name: r.role_name,
            actions: r.actions,
            access_provider_id: r.provider.to_string(),
            access_type: r.access_type.to_string(),
        })
        .collect()
}
