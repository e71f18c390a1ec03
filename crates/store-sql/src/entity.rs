//! Clients and channels share one write and read path: multi-row inserts in chunks,
//! conflict location after a failed batch, view, list with the shared filters plus the
//! connection filter, update and delete. Each entity says only what differs: its
//! table, columns, row codec and unique key.

use sqlx::QueryBuilder;
use switchyard_domain::{EntityQuery, Page, StatusFilter};
use switchyard_store::{ConflictKind, Result, StoreError, first_index};
use uuid::Uuid;

use crate::{
    SqlStore,
    dialect::{Dialect, Ex, Sql, Tuple, Val, push_in, push_values, sql},
    list::{Listing, push_order, push_page_filters},
};

/// A client or a channel, as the shared path needs it.
pub(crate) trait Entity: Sized + Send + Sync {
    const TABLE: &'static str;
    /// The column naming the parent group.
    const PARENT: &'static str;
    /// `INSERT INTO <table> (<columns>) `.
    const INSERT: &'static str;
    /// Bind parameters per inserted row.
    const BINDS: usize;
    /// `SELECT * FROM <table> WHERE id = $1 AND domain_id = $2`.
    const BY_ID: &'static str;
    /// `SELECT * FROM <table> WHERE id = $1`.
    const BY_ID_ANY_DOMAIN: &'static str;
    /// `DELETE FROM <table> WHERE id = $1 AND domain_id = $2` (connections cascade).
    const DELETE: &'static str;
    /// The conflict of a taken id.
    const ID_CONFLICT: ConflictKind;
    /// The conflict of a taken per-domain unique key, and its column.
    const KEY_CONFLICT: (ConflictKind, &'static str);
    /// The `connections` column naming this entity, and the one naming the other side.
    const CONNECTION_COLUMNS: (&'static str, &'static str);

    fn id(&self) -> Uuid;
    fn domain_id(&self) -> Uuid;
    /// The per-domain unique key, if set.
    fn key(&self) -> Option<&str>;
    /// The other side's id a listing filters by (a channel for clients, a client for
    /// channels).
    fn connected_to(q: &EntityQuery) -> Option<Uuid>;
    fn push_row<D: Dialect>(t: &mut Tuple<'_, D>, e: &Self);
    fn from_row<D: Dialect>(r: &D::Row) -> Result<Self>;
    /// The UPDATE of every mutable column, bound.
    fn update<D: Dialect>(e: &Self) -> Sql<'static, D>;
}

/// Rows per INSERT statement, within the database's bind limit.
pub(crate) fn chunk<D: Dialect, E: Entity>() -> usize {
    (D::MAX_BINDS / E::BINDS).min(D::MAX_INSERT_ROWS)
}

/// Pushes one multi-row INSERT of `items` (at most [`chunk`] of them) onto `qb`.
pub(crate) fn push_insert<'a, D: Dialect, E: Entity + 'a>(
    qb: &mut QueryBuilder<D>,
    items: impl IntoIterator<Item = &'a E>,
) {
    qb.push(E::INSERT);
    push_values(qb, items, |t, e| E::push_row(t, e));
}

/// Deletes the entity's row (`NotFound` if the domain has none) and its roles, on an
/// open transaction.
pub(crate) async fn delete<D: Dialect, E: Entity>(
    conn: &mut D::Connection,
    domain: Uuid,
    id: Uuid,
) -> Result<()> {
    sql::<D>(E::DELETE)
        .id(id)
        .id(domain)
        .execute_one(Ex::Conn(&mut *conn))
        .await?;
    crate::access::drop_roles::<D>(conn, id).await
}

/// Inserts the rows with multi-row statements on an open transaction.
pub(crate) async fn insert<D: Dialect, E: Entity>(
    conn: &mut D::Connection,
    items: &[E],
) -> Result<()> {
    for part in items.chunks(chunk::<D, E>()) {
        let mut qb = QueryBuilder::<D>::new("");
        push_insert(&mut qb, part);
        Sql::from(qb.build()).execute(Ex::Conn(&mut *conn)).await?;
    }
    Ok(())
}

impl<D: Dialect> SqlStore<D> {
    /// Inserts every item or none; a conflict names the first offending item.
    pub(crate) async fn create_entities<E: Entity>(&self, items: &[E]) -> Result<()> {
        if items.is_empty() {
            return Ok(());
        }
        let mut tx = self.write_tx().await?;
        if let Err(e) = insert::<D, E>(&mut tx, items).await {
            drop(tx);
            return Err(match e {
                StoreError::Conflict { kind, .. } => StoreError::Conflict {
                    kind,
                    index: self.locate_conflict(items, kind).await,
                },
                other => other,
            });
        }
        tx.commit().await.map_err(D::err)?;
        self.wrote(E::TABLE, items.len());
        Ok(())
    }

    /// After a failed batch insert: which item collided with an existing row.
    async fn locate_conflict<E: Entity>(&self, items: &[E], kind: ConflictKind) -> Option<usize> {
        let (key_kind, key_col) = E::KEY_CONFLICT;
        let size = D::MAX_BINDS - 1;
        for (n, part) in items.chunks(size).enumerate() {
            let mut qb = QueryBuilder::<D>::new("");
            let found = if kind == E::ID_CONFLICT {
                qb.push(format!("SELECT id FROM {} WHERE id", E::TABLE));
                push_in(&mut qb, part.iter().map(|e| Val::Id(e.id())));
                let rows = Sql::from(qb.build()).fetch_all(&self.pool).await.ok()?;
                let taken = rows
                    .iter()
                    .map(|r| D::id(r, "id"))
                    .collect::<Result<Vec<_>>>()
                    .ok()?;
                first_index(part, |e| e.id(), &taken)
            } else if kind == key_kind {
                let domain = part.first()?.domain_id();
                let keys: Vec<&str> = part.iter().filter_map(|e| e.key()).collect();
                if keys.is_empty() {
                    continue;
                }
                qb.push(format!(
                    "SELECT {key_col} AS k FROM {} WHERE domain_id = ",
                    E::TABLE
                ));
                D::push_bind(&mut qb, Val::Id(domain));
                qb.push(format!(" AND {key_col}"));
                push_in(&mut qb, keys.into_iter().map(Val::Text));
                let rows = Sql::from(qb.build()).fetch_all(&self.pool).await.ok()?;
                let taken = rows
                    .iter()
                    .map(|r| D::text(r, "k"))
                    .collect::<Result<Vec<_>>>()
                    .ok()?;
                part.iter().position(|e| {
                    e.domain_id() == domain && e.key().is_some_and(|k| taken.iter().any(|t| t == k))
                })
            } else {
                return None;
            };
            if let Some(i) = found {
                return Some(n * size + i);
            }
        }
        None
    }

    pub(crate) async fn entity<E: Entity>(&self, domain: Uuid, id: Uuid) -> Result<E> {
        let r = sql::<D>(E::BY_ID)
            .id(id)
            .id(domain)
            .fetch_one(&self.pool)
            .await?;
        E::from_row::<D>(&r)
    }

    /// The entity and `user`'s grants on it (but for the creator's admin role, which the
    /// caller sees on the row) in one query: the entity row joined with every grant row
    /// (one row with empty grant columns when there is none).
    pub(crate) async fn entity_for<E: Entity>(
        &self,
        user: Uuid,
        domain: Uuid,
        id: Uuid,
    ) -> Result<(E, Vec<switchyard_domain::Grant>)> {
        let mut qb = QueryBuilder::<D>::new(format!(
            "SELECT t.*, g.depth AS g_depth, g.builtin AS g_builtin, g.action AS g_action \
             FROM {} t LEFT JOIN (",
            E::TABLE
        ));
        // The creator's own admin role is read off the row by the caller.
        crate::access::push_grants(
            &mut qb,
            user,
            id,
            Some((E::TABLE, E::PARENT)),
            false,
            Some(domain),
        );
        qb.push(") g ON 1 = 1 WHERE t.id = ");
        D::push_bind(&mut qb, Val::Id(id));
        qb.push(" AND t.domain_id = ");
        D::push_bind(&mut qb, Val::Id(domain));
        let rows = Sql::from(qb.build()).fetch_all(&self.pool).await?;
        let first = rows.first().ok_or(StoreError::NotFound)?;
        let e = E::from_row::<D>(first)?;
        let mut grants = Vec::with_capacity(rows.len());
        for r in &rows {
            if let Some(g) = crate::access::row_grant::<D>(r)? {
                grants.push(g);
            }
        }
        Ok((e, grants))
    }

    pub(crate) async fn entity_any_domain<E: Entity>(&self, id: Uuid) -> Result<E> {
        let r = sql::<D>(E::BY_ID_ANY_DOMAIN)
            .id(id)
            .fetch_one(&self.pool)
            .await?;
        E::from_row::<D>(&r)
    }

    pub(crate) async fn list_entities<E: Entity>(
        &self,
        domain: Uuid,
        q: &EntityQuery,
    ) -> Result<Page<E>> {
        let from = format!("{} t", E::TABLE);
        let listing = Listing {
            fence: narrow(q),
            ..Listing::page(&self.pool, &from, "t.*", &q.page)
        };
        listing
            .run(
                |qb| push_entity_filters::<D, E>(qb, domain, q),
                |qb| push_order(qb, &q.page),
                |r| E::from_row::<D>(r),
            )
            .await
    }

    pub(crate) async fn update_entity<E: Entity>(&self, e: &E) -> Result<()> {
        E::update::<D>(e).execute_one(&self.writer).await
    }

    /// Deletes the entity and its roles in one transaction.
    pub(crate) async fn delete_entity<E: Entity>(&self, domain: Uuid, id: Uuid) -> Result<()> {
        let mut tx = self.write_tx().await?;
        delete::<D, E>(&mut tx, domain, id).await?;
        tx.commit().await.map_err(D::err)
    }
}

/// Whether a filter of `q` usually leaves few rows of a domain (see [`Listing::fence`]).
fn narrow(q: &EntityQuery) -> bool {
    let p = &q.page;
    p.name.is_some()
        || p.tags.is_some()
        || p.metadata.as_ref().is_some_and(|m| !m.is_empty())
        || p.id.is_some()
        || p.created_from.is_some()
        || p.created_to.is_some()
        || matches!(p.status, StatusFilter::Disabled | StatusFilter::Deleted)
        || q.channel.is_some()
        || q.client.is_some()
        || matches!(q.group, Some(Some(_)))
}

fn push_entity_filters<D: Dialect, E: Entity>(
    qb: &mut QueryBuilder<D>,
    domain: Uuid,
    q: &EntityQuery,
) {
    qb.push(" WHERE t.domain_id = ");
    D::push_bind(qb, Val::Id(domain));
    push_page_filters(qb, &q.page, true, Some(E::TABLE));
    if let Some(r) = &q.reader {
        crate::access::push_reader(qb, r, E::PARENT);
    }
    match q.group {
        None => {}
        Some(None) => {
            qb.push(format!(" AND t.{} IS NULL", E::PARENT));
        }
        Some(Some(g)) => {
            qb.push(format!(" AND t.{} = ", E::PARENT));
            D::push_bind(qb, Val::Id(g));
        }
    }
    if let Some(other) = E::connected_to(q) {
        let (this, that) = E::CONNECTION_COLUMNS;
        // An IN list rather than a correlated EXISTS: the other side's connections
        // (an index range) drive the read instead of a test on every row.
        qb.push(format!(
            " AND t.id IN (SELECT k.{this} FROM connections k WHERE k.{that} = "
        ));
        D::push_bind(qb, Val::Id(other));
        if let Some(ct) = q.connection_type {
            qb.push(" AND k.type = ");
            D::push_bind(qb, Val::Small(ct.code()));
        }
        qb.push(")");
    }
}
