//! Groups: rows on the shared entity path, plus the tree. `group_ancestors` is the
//! closure of `parent_id` (each group with itself at depth 0 and every ancestor); it is
//! written in the same transaction as every change of an edge, so a subtree query is
//! one indexed join.

use async_trait::async_trait;
use sqlx::QueryBuilder;
use switchyard_domain::{EntityKind, EntityQuery, Group, GroupQuery, Page, Status};
use switchyard_store::{ConflictKind, GroupRepo, Result, StoreError};
use uuid::Uuid;

use crate::{
    SqlStore,
    dialect::{Dialect, Ex, Sql, Tuple, Val, json, push_in, sql},
    entity::{self, Entity},
    list::{Listing, push_order, push_page_filters},
    sort_at,
};

impl Entity for Group {
    const TABLE: &'static str = "groups";
    const PARENT: &'static str = "parent_id";
    const INSERT: &'static str = "INSERT INTO groups (id, domain_id, parent_id, name, \
         description, tags, metadata, status, created_by, created_at, updated_at, updated_by, \
         sort_at) ";
    const BINDS: usize = 13;
    const BY_ID: &'static str = "SELECT * FROM groups WHERE id = $1 AND domain_id = $2";
    const BY_ID_ANY_DOMAIN: &'static str = "SELECT * FROM groups WHERE id = $1";
    const DELETE: &'static str = "DELETE FROM groups WHERE id = $1 AND domain_id = $2";
    const ID_CONFLICT: ConflictKind = ConflictKind::GroupId;
    const KEY_CONFLICT: (ConflictKind, &'static str) = (ConflictKind::Other, "name");
    const CONNECTION_COLUMNS: (&'static str, &'static str) = ("", "");

    fn id(&self) -> Uuid {
        self.id
    }
    fn domain_id(&self) -> Uuid {
        self.domain_id
    }
    fn key(&self) -> Option<&str> {
        None
    }
    fn connected_to(_: &EntityQuery) -> Option<Uuid> {
        None
    }

    fn push_row<D: Dialect>(t: &mut Tuple<'_, D>, g: &Self) {
        t.v(Val::Id(g.id))
            .v(Val::Id(g.domain_id))
            .v(Val::OptId(g.parent_id))
            .v(Val::Text(&g.name))
            .v(Val::Text(&g.description))
            .v(Val::Json(&json(&g.tags)))
            .v(Val::Json(&json(&g.metadata)))
            .v(Val::Small(g.status.code()))
            .v(Val::Id(g.created_by))
            .v(Val::Time(g.created_at))
            .v(Val::OptTime(g.updated_at))
            .v(Val::OptId(g.updated_by))
            .v(Val::Time(sort_at(g.created_at, g.updated_at)));
    }

    fn from_row<D: Dialect>(r: &D::Row) -> Result<Self> {
        Ok(Group {
            id: D::id(r, "id")?,
            domain_id: D::id(r, "domain_id")?,
            parent_id: D::opt_id(r, "parent_id")?,
            name: D::text(r, "name")?,
            description: D::text(r, "description")?,
            tags: D::json(r, "tags")?,
            metadata: D::json(r, "metadata")?,
            status: Status::from_code(i64::from(D::small(r, "status")?)),
            created_by: D::id(r, "created_by")?,
            created_at: D::time(r, "created_at")?,
            updated_at: D::opt_time(r, "updated_at")?,
            updated_by: D::opt_id(r, "updated_by")?,
            level: 0,
        })
    }

    fn update<D: Dialect>(g: &Self) -> Sql<'static, D> {
        sql::<D>(
            "UPDATE groups SET name=$3, description=$4, tags=$5, metadata=$6, status=$7, \
             updated_at=$8, updated_by=$9, sort_at=$10 WHERE id=$1 AND domain_id=$2",
        )
        .id(g.id)
        .id(g.domain_id)
        .text(&g.name)
        .text(&g.description)
        .json(&g.tags)
        .json(&g.metadata)
        .small(g.status.code())
        .opt_time(g.updated_at)
        .opt_id(g.updated_by)
        .time(sort_at(g.created_at, g.updated_at))
    }
}

/// A group read with its distance (`lvl`) from where a tree query started.
fn row_leveled<D: Dialect>(r: &D::Row) -> Result<Group> {
    let mut g = Group::from_row::<D>(r)?;
    g.level = D::small(r, "lvl")?;
    Ok(g)
}

/// Links a new group into the closure: itself, and its parent's ancestors one further.
async fn link<D: Dialect>(conn: &mut D::Connection, g: &Group) -> Result<()> {
    sql::<D>("INSERT INTO group_ancestors (group_id, ancestor_id, depth) VALUES ($1, $2, 0)")
        .id(g.id)
        .id(g.id)
        .execute(Ex::Conn(&mut *conn))
        .await?;
    if let Some(p) = g.parent_id {
        sql::<D>(
            "INSERT INTO group_ancestors (group_id, ancestor_id, depth) \
             SELECT $1, ancestor_id, depth + 1 FROM group_ancestors WHERE group_id = $2",
        )
        .id(g.id)
        .id(p)
        .execute(Ex::Conn(&mut *conn))
        .await?;
    }
    Ok(())
}

/// Cuts the subtree of `id` off every ancestor of `id` (`self_too`: and off `id`
/// itself), leaving the subtree's own closure.
async fn cut<D: Dialect>(conn: &mut D::Connection, id: Uuid, self_too: bool) -> Result<()> {
    let s = if self_too {
        "DELETE FROM group_ancestors WHERE group_id IN \
         (SELECT group_id FROM group_ancestors WHERE ancestor_id = $1 AND depth > 0) \
         AND ancestor_id IN (SELECT ancestor_id FROM group_ancestors WHERE group_id = $1)"
    } else {
        "DELETE FROM group_ancestors WHERE group_id IN \
         (SELECT group_id FROM group_ancestors WHERE ancestor_id = $1) \
         AND ancestor_id IN \
         (SELECT ancestor_id FROM group_ancestors WHERE group_id = $1 AND depth > 0)"
    };
    sql::<D>(s).id(id).execute(Ex::Conn(conn)).await?;
    Ok(())
}

/// Moves one group (with its subtree) under `parent`, or to the root.
async fn move_group<D: Dialect>(
    conn: &mut D::Connection,
    domain: Uuid,
    id: Uuid,
    parent: Option<Uuid>,
) -> Result<()> {
    if let Some(p) = parent {
        let inside =
            sql::<D>("SELECT 1 AS x FROM group_ancestors WHERE group_id = $1 AND ancestor_id = $2")
                .id(p)
                .id(id)
                .fetch_optional(Ex::Conn(&mut *conn))
                .await?;
        if inside.is_some() {
            return Err(StoreError::Conflict {
                kind: ConflictKind::GroupId,
                index: None,
            });
        }
    }
    sql::<D>("UPDATE groups SET parent_id = $3 WHERE id = $1 AND domain_id = $2")
        .id(id)
        .id(domain)
        .opt_id(parent)
        .execute_one(Ex::Conn(&mut *conn))
        .await?;
    cut::<D>(&mut *conn, id, false).await?;
    if let Some(p) = parent {
        sql::<D>(
            "INSERT INTO group_ancestors (group_id, ancestor_id, depth) \
             SELECT d.group_id, a.ancestor_id, d.depth + a.depth + 1 \
             FROM group_ancestors d, group_ancestors a \
             WHERE d.ancestor_id = $1 AND a.group_id = $2",
        )
        .id(id)
        .id(p)
        .execute(Ex::Conn(&mut *conn))
        .await?;
    }
    Ok(())
}

fn push_group_filters<D: Dialect>(qb: &mut QueryBuilder<D>, domain: Uuid, q: &GroupQuery) {
    qb.push(" WHERE t.domain_id = ");
    D::push_bind(qb, Val::Id(domain));
    push_page_filters(qb, &q.page, true, None);
    if q.root_only {
        qb.push(" AND t.parent_id IS NULL");
    }
    if let Some(p) = q.parent {
        qb.push(" AND t.parent_id = ");
        D::push_bind(qb, Val::Id(p));
    }
    if let Some(r) = &q.reader {
        crate::access::push_reader(qb, r, Group::PARENT);
    }
}

#[async_trait]
impl<D: Dialect> GroupRepo for SqlStore<D> {
    async fn create_groups(&self, gs: &[Group]) -> Result<()> {
        let mut tx = self.write_tx().await?;
        entity::insert::<D, Group>(&mut tx, gs).await?;
        for g in gs {
            link::<D>(&mut tx, g).await?;
        }
        tx.commit().await.map_err(D::err)
    }

    async fn group_for(
        &self,
        user: Uuid,
        domain: Uuid,
        id: Uuid,
    ) -> Result<(Group, Vec<switchyard_domain::Grant>)> {
        self.entity_for(user, domain, id).await
    }

    async fn group(&self, domain: Uuid, id: Uuid) -> Result<Group> {
        self.entity(domain, id).await
    }

    async fn list_groups(&self, domain: Uuid, q: &GroupQuery) -> Result<Page<Group>> {
        Listing::page(&self.pool, "groups t", "t.*", &q.page)
            .run(
                |qb| push_group_filters::<D>(qb, domain, q),
                |qb| push_order(qb, &q.page),
                |r| Group::from_row::<D>(r),
            )
            .await
    }

    async fn update_group(&self, g: &Group) -> Result<()> {
        self.update_entity(g).await
    }

    async fn delete_group(&self, domain: Uuid, id: Uuid) -> Result<()> {
        let mut tx = self.write_tx().await?;
        sql::<D>("SELECT id FROM groups WHERE id = $1 AND domain_id = $2")
            .id(id)
            .id(domain)
            .fetch_one(&mut tx)
            .await?;
        cut::<D>(&mut tx, id, true).await?;
        for s in [
            "UPDATE groups SET parent_id = NULL WHERE parent_id = $1",
            "UPDATE clients SET parent_group_id = NULL WHERE parent_group_id = $1",
            "UPDATE channels SET parent_group_id = NULL WHERE parent_group_id = $1",
            "DELETE FROM group_ancestors WHERE group_id = $1 OR ancestor_id = $1",
        ] {
            sql::<D>(s).id(id).execute(&mut tx).await?;
        }
        entity::delete::<D, Group>(&mut tx, domain, id).await?;
        tx.commit().await.map_err(D::err)
    }

    async fn set_group_parent(
        &self,
        domain: Uuid,
        ids: &[Uuid],
        parent: Option<Uuid>,
    ) -> Result<()> {
        let mut tx = self.write_tx().await?;
        for &id in ids {
            move_group::<D>(&mut tx, domain, id, parent).await?;
        }
        tx.commit().await.map_err(D::err)
    }

    async fn group_hierarchy(
        &self,
        domain: Uuid,
        id: Uuid,
        up: bool,
        levels: u64,
    ) -> Result<Vec<Group>> {
        let (from, to) = if up {
            ("group_id", "ancestor_id")
        } else {
            ("ancestor_id", "group_id")
        };
        let mut qb = QueryBuilder::<D>::new(format!(
            "SELECT t.*, ga.depth AS lvl FROM group_ancestors ga JOIN groups t ON t.id = ga.{to} \
             WHERE ga.{from} = "
        ));
        D::push_bind(&mut qb, Val::Id(id));
        qb.push(" AND t.domain_id = ");
        D::push_bind(&mut qb, Val::Id(domain));
        if levels > 0 {
            qb.push(" AND ga.depth <= ");
            D::push_bind(
                &mut qb,
                Val::Small(i16::try_from(levels).unwrap_or(i16::MAX)),
            );
        }
        qb.push(" ORDER BY ga.depth, t.name, t.id");
        Sql::from(qb.build())
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(row_leveled::<D>)
            .collect()
    }

    async fn group_children(
        &self,
        domain: Uuid,
        id: Uuid,
        start: u64,
        end: u64,
        q: &GroupQuery,
    ) -> Result<Page<Group>> {
        let small = |n: u64| i16::try_from(n).unwrap_or(i16::MAX);
        Listing::page(
            &self.pool,
            "groups t JOIN group_ancestors ga ON ga.group_id = t.id",
            "t.*, ga.depth AS lvl",
            &q.page,
        )
        .run(
            |qb| {
                push_group_filters::<D>(qb, domain, q);
                qb.push(" AND ga.ancestor_id = ");
                D::push_bind(qb, Val::Id(id));
                qb.push(" AND ga.depth >= ");
                D::push_bind(qb, Val::Small(small(start.max(1))));
                if end > 0 {
                    qb.push(" AND ga.depth <= ");
                    D::push_bind(qb, Val::Small(small(end)));
                }
            },
            |qb| push_order(qb, &q.page),
            |r| row_leveled::<D>(r),
        )
        .await
    }

    async fn set_entity_parent(
        &self,
        kind: EntityKind,
        domain: Uuid,
        ids: &[Uuid],
        parent: Option<Uuid>,
    ) -> Result<()> {
        let table = match kind {
            EntityKind::Client => "clients",
            EntityKind::Channel => "channels",
            _ => return Err(StoreError::Other("no parent group column".into())),
        };
        if ids.is_empty() {
            return Ok(());
        }
        let mut qb = QueryBuilder::<D>::new(format!("UPDATE {table} SET parent_group_id = "));
        D::push_bind(&mut qb, Val::OptId(parent));
        qb.push(" WHERE domain_id = ");
        D::push_bind(&mut qb, Val::Id(domain));
        qb.push(" AND id");
        push_in(&mut qb, ids.iter().map(|u| Val::Id(*u)));
        let n = Sql::from(qb.build()).execute(&self.writer).await?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
