//! WHERE/ORDER builders shared by the lists, and the count-then-page read.

use sqlx::QueryBuilder;
use switchyard_domain::{Dir, Order, Page, PageQuery};
use switchyard_store::Result;
use uuid::Uuid;

use crate::dialect::{Dialect, Sql, Val};

/// Status, id, creation-time, name, tags and metadata filters over alias `t`;
/// `indexed` names the table when it has search indexes (clients, channels).
///
/// The cheap tests come first: SQLite evaluates the terms of a scan in the order
/// written, so a row the name or creation time rules out never has its tags and
/// metadata JSON parsed (PostgreSQL's planner does not care about the order).
pub(crate) fn push_page_filters<D: Dialect>(
    qb: &mut QueryBuilder<D>,
    p: &PageQuery,
    name: bool,
    indexed: Option<&str>,
) {
    if let Some(table) = indexed {
        D::push_prefilters(qb, table, p);
    }
    qb.push(" AND t.status");
    crate::dialect::push_in(qb, p.status.codes().iter().map(|c| Val::Small(*c)));
    if let Some(id) = &p.id {
        // Ids are stored canonical (lower-case, hyphenated): only that spelling matches.
        match Uuid::parse_str(id) {
            Ok(u) if u.to_string() == *id => {
                qb.push(" AND t.id = ");
                D::push_bind(qb, Val::Id(u));
            }
            _ => {
                qb.push(" AND 1 = 0");
            }
        }
    }
    if let Some(from) = p.created_from {
        qb.push(" AND t.created_at >= ");
        D::push_bind(qb, Val::Time(from));
    }
    if let Some(to) = p.created_to {
        qb.push(" AND t.created_at <= ");
        D::push_bind(qb, Val::Time(to));
    }
    if name && let Some(n) = &p.name {
        D::push_ilike(qb, "t.name", n);
    }
    if let Some(tags) = &p.tags {
        D::push_tags(qb, tags);
    }
    if let Some(m) = &p.metadata {
        qb.push(" AND ");
        D::push_contains(qb, "t.metadata", &serde_json::Value::Object(m.clone()));
    }
}

/// ` ORDER BY … LIMIT … OFFSET …` for the page.
pub(crate) fn push_order<D: Dialect>(qb: &mut QueryBuilder<D>, p: &PageQuery) {
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
    qb.push(format!(" ORDER BY {col} {dir}, t.id {dir}"));
    push_limit(qb, p.limit, p.offset);
}

/// ` LIMIT … OFFSET …`.
pub(crate) fn push_limit<D: Dialect>(qb: &mut QueryBuilder<D>, limit: u64, offset: u64) {
    qb.push(" LIMIT ");
    D::push_bind(qb, Val::Int(i64::try_from(limit).unwrap_or(i64::MAX)));
    qb.push(" OFFSET ");
    D::push_bind(qb, Val::Int(i64::try_from(offset).unwrap_or(i64::MAX)));
}

/// A list read: `SELECT COUNT(*) FROM <from>` and, unless only the total is wanted (or
/// it is zero), `SELECT <cols> FROM <from>` with the same filters and the page's order.
pub(crate) struct Listing<'a, D: Dialect> {
    pub pool: &'a sqlx::Pool<D>,
    /// Table and alias (and joins), e.g. `clients t`.
    pub from: &'a str,
    /// Columns of the page query.
    pub cols: &'a str,
    pub only_total: bool,
    pub offset: u64,
    pub limit: u64,
    /// With `cols` = `t.*` over one table, and a filter that usually leaves few rows
    /// (a name, tags, metadata, a window, a connection…): where the database wants it
    /// (see [`Dialect::FENCE_SMALL_LISTS`]), the matches are selected first, counted
    /// and sorted in one query.
    pub fence: bool,
}

/// Most matching rows a fenced page selects, counts and sorts in one query.
pub(crate) const FENCE_ROWS: i64 = 10_000;

impl<'a, D: Dialect> Listing<'a, D> {
    /// A listing of one page of a list query (not fenced).
    pub fn page(pool: &'a sqlx::Pool<D>, from: &'a str, cols: &'a str, p: &PageQuery) -> Self {
        Self::window(pool, from, cols, p.offset, p.limit, p.only_total)
    }

    /// A listing of `limit` rows from `offset` (not fenced).
    pub fn window(
        pool: &'a sqlx::Pool<D>,
        from: &'a str,
        cols: &'a str,
        offset: u64,
        limit: u64,
        only_total: bool,
    ) -> Self {
        Listing {
            pool,
            from,
            cols,
            only_total,
            offset,
            limit,
            fence: false,
        }
    }

    /// Runs the count and the page. `filters` pushes the WHERE clause (starting with
    /// ` WHERE`), `order` the ORDER BY/LIMIT/OFFSET.
    pub async fn run<T>(
        self,
        filters: impl Fn(&mut QueryBuilder<D>),
        order: impl Fn(&mut QueryBuilder<D>),
        row: impl Fn(&D::Row) -> Result<T>,
    ) -> Result<Page<T>> {
        if self.fence && D::FENCE_SMALL_LISTS && !self.only_total {
            // PostgreSQL estimates a filter and the order as independent, so it walks
            // the order's index backwards hoping to meet ten matches soon; a creation
            // window in the past, or a hundred names among a million, are met only at
            // the far end. A narrow filter's matches (at most FENCE_ROWS of them) are
            // selected on their own instead (OFFSET 0 keeps the subquery from being
            // merged), counted and sorted: one search of the index instead of two.
            let mut qb = QueryBuilder::<D>::new(format!(
                "SELECT t.*, COUNT(*) OVER () AS total_rows FROM (SELECT t.* FROM {}",
                self.from
            ));
            filters(&mut qb);
            qb.push(format!(" LIMIT {} OFFSET 0) t", FENCE_ROWS + 1));
            order(&mut qb);
            let rows = Sql::from(qb.build().persistent(false))
                .fetch_all(self.pool)
                .await?;
            if let Some(first) = rows.first() {
                let total = D::int(first, "total_rows")?;
                if total <= FENCE_ROWS {
                    return Ok(Page {
                        total: u64::try_from(total).unwrap_or(0),
                        offset: self.offset,
                        limit: self.limit,
                        items: rows.iter().map(&row).collect::<Result<_>>()?,
                    });
                }
            }
            // More matches than that, or a page past the end: count them, and read
            // the page along the order (it meets its rows soon when many match).
        }
        let mut count = QueryBuilder::<D>::new(format!("SELECT COUNT(*) AS n FROM {}", self.from));
        filters(&mut count);
        // Not kept as prepared statements: PostgreSQL would switch to a generic plan
        // after five runs, one that cannot tell `status = disabled` (a few rows) from
        // `enabled` (the fleet), nor a narrow creation window from a wide one, and
        // walk the whole domain. Planned for each request's values instead.
        let first = Sql::from(count.build().persistent(false))
            .fetch_one(self.pool)
            .await?;
        let total = D::int(&first, "n")?;
        let mut items = Vec::new();
        // Past the last match there is nothing to read (and a narrow filter's page
        // there would walk the whole order looking for it).
        if !self.only_total && total > 0 && i64::try_from(self.offset).unwrap_or(i64::MAX) < total {
            let mut qb = QueryBuilder::<D>::new(format!("SELECT {} FROM {}", self.cols, self.from));
            filters(&mut qb);
            order(&mut qb);
            for r in Sql::from(qb.build().persistent(false))
                .fetch_all(self.pool)
                .await?
            {
                items.push(row(&r)?);
            }
        }
        Ok(Page {
            total: u64::try_from(total).unwrap_or(0),
            offset: self.offset,
            limit: self.limit,
            items,
        })
    }
}
