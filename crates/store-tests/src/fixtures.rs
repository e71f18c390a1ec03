//! Entity builders and small helpers shared by the suites.

use serde_json::Value;
use switchyard_domain::{
    Channel, Client, Domain, EntityQuery, Group, Metadata, PageQuery, Status, Timestamp, User,
    UserRole, UserWithSecret,
};
use switchyard_store::{ConflictKind, StoreError};
use time::Duration;
use uuid::Uuid;

/// Now, truncated to microseconds as core does, so it round-trips through any backend.
pub fn now() -> Timestamp {
    micros(Timestamp::now_utc())
}

pub fn micros(t: Timestamp) -> Timestamp {
    t.replace_nanosecond(t.nanosecond() / 1_000 * 1_000)
        .unwrap()
}

/// A fixed base time plus `secs` seconds, for ordering checks.
pub fn at(secs: i64) -> Timestamp {
    time::macros::datetime!(2024-03-01 12:00:00.123456 UTC) + Duration::seconds(secs)
}

/// A JSON object from a `json!` literal.
pub fn meta(v: Value) -> Metadata {
    match v {
        Value::Object(m) => m,
        other => panic!("metadata must be an object, got {other}"),
    }
}

pub fn tags(t: &[&str]) -> Vec<String> {
    t.iter().map(|s| s.to_string()).collect()
}

pub fn user(username: &str) -> UserWithSecret {
    UserWithSecret {
        user: User {
            id: Uuid::new_v4(),
            first_name: format!("{username}-first"),
            last_name: format!("{username}-last"),
            email: format!("{username}@example.com"),
            username: username.to_string(),
            tags: Vec::new(),
            metadata: Metadata::new(),
            private_metadata: Metadata::new(),
            profile_picture: String::new(),
            status: Status::Enabled,
            role: UserRole::User,
            created_at: now(),
            updated_at: None,
            updated_by: None,
            verified_at: None,
        },
        password_hash: format!("hash-of-{username}"),
    }
}

pub fn domain(created_by: Uuid, route: &str) -> Domain {
    Domain {
        id: Uuid::new_v4(),
        name: format!("Domain {route}"),
        route: route.to_string(),
        tags: Vec::new(),
        metadata: Metadata::new(),
        status: Status::Enabled,
        created_by,
        created_at: now(),
        updated_at: None,
        updated_by: None,
    }
}

/// The read filter of a member reaching `kind` ("client", "channel") through roles.
pub fn reader(user: Uuid, kind: &str) -> switchyard_domain::Reader {
    switchyard_domain::Reader {
        user,
        direct: "read".into(),
        parent: format!("{kind}_read"),
        ancestor: format!("subgroup_{kind}_read"),
    }
}

pub fn client(domain: &Domain, name: &str) -> Client {
    Client {
        id: Uuid::new_v4(),
        domain_id: domain.id,
        name: name.to_string(),
        tags: Vec::new(),
        metadata: Metadata::new(),
        private_metadata: Metadata::new(),
        secret: Uuid::new_v4().to_string(),
        status: Status::Enabled,
        parent_group_id: None,
        created_by: domain.created_by,
        created_at: now(),
        updated_at: None,
        updated_by: None,
    }
}

pub fn channel(domain: &Domain, name: &str) -> Channel {
    Channel {
        id: Uuid::new_v4(),
        domain_id: domain.id,
        name: name.to_string(),
        route: None,
        tags: Vec::new(),
        metadata: Metadata::new(),
        status: Status::Enabled,
        parent_group_id: None,
        created_by: domain.created_by,
        created_at: now(),
        updated_at: None,
        updated_by: None,
    }
}

pub fn group(domain: &Domain, name: &str, parent: Option<&Group>) -> Group {
    Group {
        id: Uuid::new_v4(),
        domain_id: domain.id,
        parent_id: parent.map(|p| p.id),
        name: name.to_string(),
        description: String::new(),
        tags: Vec::new(),
        metadata: Metadata::new(),
        status: Status::Enabled,
        created_by: domain.created_by,
        created_at: now(),
        updated_at: None,
        updated_by: None,
        level: 0,
    }
}

/// A page query showing up to 100 enabled entities, newest update first.
pub fn page() -> PageQuery {
    PageQuery {
        limit: 100,
        ..PageQuery::default()
    }
}

pub fn entity_query(page: PageQuery) -> EntityQuery {
    EntityQuery {
        page,
        ..EntityQuery::default()
    }
}

#[track_caller]
pub fn assert_not_found<T: std::fmt::Debug>(r: Result<T, StoreError>) {
    match r {
        Err(StoreError::NotFound) => {}
        other => panic!("expected NotFound, got {other:?}"),
    }
}

/// Asserts a conflict of `kind`; returns the reported batch index.
#[track_caller]
pub fn assert_conflict<T: std::fmt::Debug>(
    r: Result<T, StoreError>,
    kind: ConflictKind,
) -> Option<usize> {
    match r {
        Err(StoreError::Conflict { kind: k, index }) if k == kind => index,
        other => panic!("expected Conflict({kind:?}), got {other:?}"),
    }
}
