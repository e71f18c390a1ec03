//! Shared WHERE/ORDER builders for the entity lists.

use sqlx::{Postgres, QueryBuilder};
use switchyard_domain::{Dir, Order, PageQuery, TagFilter};
use uuid::Uuid;

/// `col ILIKE %needle%` with `%`, `_` and `\` escaped. The columns use `COLLATE "C"`,
/// so case folding is ASCII-only, as in SQLite's LIKE.
pub(crate) fn push_ilike(qb: &mut QueryBuilder<Postgres>, col: &str, needle: &str) {
    let escaped = needle
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    qb.push(format!(" AND {col} ILIKE "));
    qb.push_bind(format!("%{escaped}%"));
    qb.push(" ESCAPE '\\'");
}

/// Status, name, id, metadata, tags and creation-time filters over alias `t`.
pub(crate) fn push_page_filters(qb: &mut QueryBuilder<Postgres>, p: &PageQuery) {
    push_page_filters_no_name(qb, p);
    if let Some(n) = &p.name {
        push_ilike(qb, "t.name", n);
    }
}

/// As [`push_page_filters`] for tables without a `name` column (users).
pub(crate) fn push_page_filters_no_name(qb: &mut QueryBuilder<Postgres>, p: &PageQuery) {
    qb.push(" AND t.status IN (");
    let mut sep = qb.separated(", ");
    for c in p.status.codes() {
        sep.push_bind(*c);
    }
    qb.push(")");
    if let Some(id) = &p.id {
        // Ids are compared as text elsewhere: only the canonical (lower-case,
        // hyphenated) spelling matches.
        match Uuid::parse_str(id) {
            Ok(u) if u.to_string() == *id => {
                qb.push(" AND t.id = ");
                qb.push_bind(u);
            }
            _ => {
                qb.push(" AND FALSE");
            }
        }
    }
    if let Some(m) = &p.metadata {
        qb.push(" AND ");
        crate::metadata::push_contains(qb, "t.metadata", &serde_json::Value::Object(m.clone()));
    }
    if let Some(tags) = &p.tags {
        push_tags(qb, tags);
    }
    if let Some(from) = p.created_from {
        qb.push(" AND t.created_at >= ");
        qb.push_bind(from);
    }
    if let Some(to) = p.created_to {
        qb.push(" AND t.created_at <= ");
        qb.push_bind(to);
    }
}

/// `tags` is a jsonb array of strings: `?|` is "any of", `?&` is "all of".
pub(crate) fn push_tags(qb: &mut QueryBuilder<Postgres>, tags: &TagFilter) {
    let (op, want) = match tags {
        TagFilter::Any(want) => ("?|", want),
        TagFilter::All(want) => ("?&", want),
    };
    qb.push(format!(" AND t.tags {op} "));
    qb.push_bind(want.clone());
    qb.push("::text[]");
}

pub(crate) fn push_order(qb: &mut QueryBuilder<Postgres>, p: &PageQuery) {
    let col = match p.order {
        Order::Name => "t.name",
        Order::CreatedAt => "t.created_at",
        Order::UpdatedAt => "t.sort_at",
        Order::FirstName => "t.first_name",
        Order::LastName => "t.last_name",
        Order::Username => "t.username",
        Order::Email => "t.email",
    };
    let dir = match p.dir {
        Dir::Asc => "ASC",
        Dir::Desc => "DESC",
    };
    qb.push(format!(" ORDER BY {col} {dir}, t.id {dir} LIMIT "));
    qb.push_bind(i64::try_from(p.limit).unwrap_or(i64::MAX));
    qb.push(" OFFSET ");
    qb.push_bind(i64::try_from(p.offset).unwrap_or(i64::MAX));
}
