//! Shared WHERE/ORDER builders for the entity lists.

use sqlx::{QueryBuilder, Sqlite};
use switchyard_domain::{Dir, Order, PageQuery, TagFilter};

use crate::ts;

/// `col LIKE %needle%` case-insensitively (ASCII), with `%` and `_` escaped.
pub(crate) fn push_ilike(qb: &mut QueryBuilder<Sqlite>, col: &str, needle: &str) {
    let escaped = needle
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    qb.push(format!(" AND {col} LIKE "));
    qb.push_bind(format!("%{escaped}%"));
    qb.push(" ESCAPE '\\'");
}

/// Status, name, id, metadata, tags and creation-time filters over alias `t`.
///
/// The cheap tests come first: SQLite evaluates the terms of a scan in the order
/// written, so a row the name or creation time rules out never has its tags and
/// metadata JSON parsed.
pub(crate) fn push_page_filters(qb: &mut QueryBuilder<Sqlite>, p: &PageQuery) {
    push_plain_filters(qb, p);
    if let Some(n) = &p.name {
        push_ilike(qb, "t.name", n);
    }
    push_json_filters(qb, p);
}

/// As [`push_page_filters`] for tables without a `name` column (users).
pub(crate) fn push_page_filters_no_name(qb: &mut QueryBuilder<Sqlite>, p: &PageQuery) {
    push_plain_filters(qb, p);
    push_json_filters(qb, p);
}

/// Status, id and creation time: column comparisons.
fn push_plain_filters(qb: &mut QueryBuilder<Sqlite>, p: &PageQuery) {
    qb.push(" AND t.status IN (");
    let mut sep = qb.separated(", ");
    for c in p.status.codes() {
        sep.push_bind(i64::from(*c));
    }
    qb.push(")");
    if let Some(id) = &p.id {
        qb.push(" AND t.id = ");
        qb.push_bind(id.clone());
    }
    if let Some(from) = p.created_from {
        qb.push(" AND t.created_at >= ");
        qb.push_bind(ts(from));
    }
    if let Some(to) = p.created_to {
        qb.push(" AND t.created_at <= ");
        qb.push_bind(ts(to));
    }
}

/// Tags and metadata: JSON functions over each row, so last.
fn push_json_filters(qb: &mut QueryBuilder<Sqlite>, p: &PageQuery) {
    if let Some(tags) = &p.tags {
        push_tags(qb, tags);
    }
    if let Some(m) = &p.metadata {
        qb.push(" AND ");
        crate::metadata::push_contains(qb, "t.metadata", &serde_json::Value::Object(m.clone()));
    }
}

pub(crate) fn push_tags(qb: &mut QueryBuilder<Sqlite>, tags: &TagFilter) {
    match tags {
        TagFilter::Any(want) => {
            qb.push(" AND EXISTS (SELECT 1 FROM json_each(t.tags) tg WHERE tg.value IN (");
            let mut sep = qb.separated(", ");
            for w in want {
                sep.push_bind(w.clone());
            }
            qb.push("))");
        }
        TagFilter::All(want) => {
            for w in want {
                qb.push(" AND EXISTS (SELECT 1 FROM json_each(t.tags) tg WHERE tg.value = ");
                qb.push_bind(w.clone());
                qb.push(")");
            }
        }
    }
}

pub(crate) fn push_order(qb: &mut QueryBuilder<Sqlite>, p: &PageQuery) {
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
