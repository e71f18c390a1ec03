//! Roles, memberships and grants, for every kind of entity alike.

use async_trait::async_trait;
use sqlx::QueryBuilder;
use switchyard_domain::{DomainRole, EntityKind, Grant, Page, Reader, Role};
use switchyard_store::{AccessRepo, HeldRole, Result, RoleRef};
use uuid::Uuid;

use crate::{
    SqlStore,
    dialect::{Dialect, Ex, Sql, Val, push_in, push_values, sql},
    list::push_limit,
};

/// Removes every role of an entity and their memberships (before the entity goes).
pub(crate) async fn drop_roles<D: Dialect>(conn: &mut D::Connection, entity: Uuid) -> Result<()> {
    sql::<D>("DELETE FROM role_members WHERE entity_id = $1")
        .id(entity)
        .execute(Ex::Conn(&mut *conn))
        .await?;
    sql::<D>("DELETE FROM roles WHERE entity_id = $1")
        .id(entity)
        .execute(Ex::Conn(&mut *conn))
        .await?;
    Ok(())
}

/// ` AND (…)`: the row `t` (with parent-group column `parent`) is one the reader
/// holds the read action on: they created it (its admin), or a role on it holds `read`,
/// or they created or hold the matching action on its parent group or an ancestor.
pub(crate) fn push_reader<D: Dialect>(qb: &mut QueryBuilder<D>, r: &Reader, parent: &str) {
    qb.push(" AND (t.created_by = ");
    D::push_bind(qb, Val::Id(r.user));
    qb.push(" OR t.id IN (SELECT rm.entity_id FROM role_members rm WHERE rm.member_id = ");
    D::push_bind(qb, Val::Id(r.user));
    qb.push(
        " AND (rm.builtin = 1 OR EXISTS (SELECT 1 FROM role_actions ra \
         WHERE ra.role_id = rm.role_id AND ra.action = ",
    );
    D::push_bind(qb, Val::Text(&r.direct));
    qb.push(format!(
        "))) OR t.{parent} IN (SELECT ga.group_id FROM group_ancestors ga \
         JOIN groups g ON g.id = ga.ancestor_id WHERE g.created_by = "
    ));
    D::push_bind(qb, Val::Id(r.user));
    qb.push(format!(
        ") OR t.{parent} IN (SELECT ga.group_id FROM group_ancestors ga \
         JOIN role_members rm ON rm.entity_id = ga.ancestor_id AND rm.member_id = "
    ));
    D::push_bind(qb, Val::Id(r.user));
    qb.push(
        " WHERE rm.builtin = 1 OR EXISTS (SELECT 1 FROM role_actions ra \
         WHERE ra.role_id = rm.role_id AND ra.action = (CASE WHEN ga.depth = 0 THEN ",
    );
    D::push_bind(qb, Val::Text(&r.parent));
    qb.push(" ELSE ");
    D::push_bind(qb, Val::Text(&r.ancestor));
    qb.push(" END))))");
}

/// Pushes the grants of `user` as rows `(depth, builtin, action)`: roles on the entity
/// `id` (depth 0); with `table` = (its table, its parent column), roles and creators on
/// its parent group's chain (depth 1, 2, …, the parent read from the entity's row) and,
/// with `creator`, the entity creator's admin role (depth 0); with `domain`, roles on
/// the domain (depth -1).
pub(crate) fn push_grants<D: Dialect>(
    qb: &mut QueryBuilder<D>,
    user: Uuid,
    id: Uuid,
    table: Option<(&str, &str)>,
    creator: bool,
    domain: Option<Uuid>,
) {
    qb.push(
        "SELECT CAST(0 AS smallint) AS depth, rm.builtin, ra.action, rm.role_id, \
         rm.entity_id AS provider FROM role_members rm \
         LEFT JOIN role_actions ra ON ra.role_id = rm.role_id WHERE rm.member_id = ",
    );
    D::push_bind(qb, Val::Id(user));
    qb.push(" AND rm.entity_id = ");
    D::push_bind(qb, Val::Id(id));
    if let Some((table, col)) = table {
        if creator {
            qb.push(format!(
                " UNION ALL SELECT CAST(0 AS smallint), CAST(1 AS smallint), NULL, NULL, c.id \
                 FROM {table} c WHERE c.id = "
            ));
            D::push_bind(qb, Val::Id(id));
            qb.push(" AND c.created_by = ");
            D::push_bind(qb, Val::Id(user));
        }
        let parent = format!("(SELECT p.{col} FROM {table} p WHERE p.id = ");
        qb.push(
            " UNION ALL SELECT CAST(ga.depth + 1 AS smallint), rm.builtin, ra.action, \
             rm.role_id, rm.entity_id FROM group_ancestors ga \
             JOIN role_members rm ON rm.entity_id = ga.ancestor_id AND rm.member_id = ",
        );
        D::push_bind(qb, Val::Id(user));
        qb.push(format!(
            " LEFT JOIN role_actions ra ON ra.role_id = rm.role_id WHERE ga.group_id = {parent}"
        ));
        D::push_bind(qb, Val::Id(id));
        qb.push(
            ") UNION ALL SELECT CAST(ga.depth + 1 AS smallint), CAST(1 AS smallint), NULL, \
             NULL, g.id FROM group_ancestors ga JOIN groups g ON g.id = ga.ancestor_id \
             WHERE g.created_by = ",
        );
        D::push_bind(qb, Val::Id(user));
        qb.push(format!(" AND ga.group_id = {parent}"));
        D::push_bind(qb, Val::Id(id));
        qb.push(")");
    }
    if let Some(d) = domain {
        qb.push(
            " UNION ALL SELECT CAST(-1 AS smallint) AS depth, rm.builtin, ra.action, \
             rm.role_id, rm.entity_id FROM role_members rm \
             LEFT JOIN role_actions ra ON ra.role_id = rm.role_id \
             WHERE rm.member_id = ",
        );
        D::push_bind(qb, Val::Id(user));
        qb.push(" AND rm.entity_id = ");
        D::push_bind(qb, Val::Id(d));
    }
}

/// A grant from the columns `g_depth`, `g_builtin`, `g_action`; `None` for the row of
/// an entity with no grants.
pub(crate) fn row_grant<D: Dialect>(r: &D::Row) -> Result<Option<Grant>> {
    let Some(depth) = D::opt_small(r, "g_depth")? else {
        return Ok(None);
    };
    Ok(Some(Grant {
        depth,
        builtin: D::small(r, "g_builtin")? == 1,
        action: D::opt_text(r, "g_action")?,
    }))
}

fn row_role<D: Dialect>(r: &D::Row) -> Result<Role> {
    Ok(Role {
        id: D::text(r, "id")?,
        name: D::text(r, "name")?,
        entity_id: D::id(r, "entity_id")?,
        domain_id: D::id(r, "domain_id")?,
        kind: EntityKind::from_code(i64::from(D::small(r, "kind")?)),
        created_by: D::id(r, "created_by")?,
        created_at: D::time(r, "created_at")?,
        updated_by: D::opt_id(r, "updated_by")?,
        updated_at: D::opt_time(r, "updated_at")?,
    })
}

async fn insert_actions<D: Dialect>(
    conn: &mut D::Connection,
    role: &str,
    actions: &[String],
) -> Result<()> {
    if actions.is_empty() {
        return Ok(());
    }
    let mut qb = QueryBuilder::<D>::new("INSERT INTO role_actions (role_id, action) ");
    push_values(&mut qb, actions, |t, a| {
        t.v(Val::Text(role)).v(Val::Text(a));
    });
    qb.push(" ON CONFLICT DO NOTHING");
    Sql::from(qb.build()).execute(Ex::Conn(conn)).await?;
    Ok(())
}

async fn insert_members<D: Dialect>(
    conn: &mut D::Connection,
    role: &RoleRef,
    members: &[Uuid],
) -> Result<()> {
    if members.is_empty() {
        return Ok(());
    }
    let mut qb = QueryBuilder::<D>::new(
        "INSERT INTO role_members (role_id, entity_id, member_id, domain_id, builtin) ",
    );
    push_values(&mut qb, members, |t, m| {
        t.v(Val::Text(&role.id))
            .v(Val::Id(role.entity_id))
            .v(Val::Id(*m))
            .v(Val::Id(role.domain_id))
            .v(Val::Small(i16::from(role.builtin)));
    });
    qb.push(" ON CONFLICT DO NOTHING");
    Sql::from(qb.build()).execute(Ex::Conn(conn)).await?;
    Ok(())
}

impl<D: Dialect> SqlStore<D> {
    /// A page: `count` (selecting `n`) gives the total, `rows` (ordered, without LIMIT)
    /// the items.
    pub(crate) async fn paged<T>(
        &self,
        mut count: QueryBuilder<D>,
        mut rows: QueryBuilder<D>,
        offset: u64,
        limit: u64,
        row: impl Fn(&D::Row) -> Result<T>,
    ) -> Result<Page<T>> {
        let total = D::int(&Sql::from(count.build()).fetch_one(&self.pool).await?, "n")?;
        push_limit(&mut rows, limit, offset);
        let items = Sql::from(rows.build())
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(row)
            .collect::<Result<Vec<_>>>()?;
        Ok(Page {
            total: u64::try_from(total).unwrap_or(0),
            offset,
            limit,
            items,
        })
    }

    /// A page of member ids: `SELECT … FROM role_members WHERE <col> = <key>`.
    async fn member_page(
        &self,
        col: &str,
        key: Val<'_>,
        offset: u64,
        limit: u64,
    ) -> Result<Page<Uuid>> {
        let mut count = QueryBuilder::<D>::new(format!(
            "SELECT COUNT(DISTINCT member_id) AS n FROM role_members WHERE {col} = "
        ));
        D::push_bind(&mut count, key);
        let mut rows = QueryBuilder::<D>::new(format!(
            "SELECT DISTINCT member_id FROM role_members WHERE {col} = "
        ));
        D::push_bind(&mut rows, key);
        rows.push(" ORDER BY member_id");
        self.paged(count, rows, offset, limit, |r| D::id(r, "member_id"))
            .await
    }
}

#[async_trait]
impl<D: Dialect> AccessRepo for SqlStore<D> {
    async fn grants(
        &self,
        user: Uuid,
        kind: EntityKind,
        entity: Uuid,
        domain: Option<Uuid>,
    ) -> Result<Vec<Grant>> {
        Ok(self
            .held_roles(user, kind, entity, domain)
            .await?
            .into_iter()
            .map(|h| h.grant)
            .collect())
    }

    async fn held_roles(
        &self,
        user: Uuid,
        kind: EntityKind,
        entity: Uuid,
        domain: Option<Uuid>,
    ) -> Result<Vec<HeldRole>> {
        let table = match kind {
            EntityKind::Domain => None,
            EntityKind::Group => Some(("groups", "parent_id")),
            EntityKind::Client => Some(("clients", "parent_group_id")),
            EntityKind::Channel => Some(("channels", "parent_group_id")),
        };
        let mut qb = QueryBuilder::<D>::new("");
        push_grants(&mut qb, user, entity, table, true, domain);
        Sql::from(qb.build())
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| {
                let provider = D::id(r, "provider")?;
                Ok(HeldRole {
                    grant: Grant {
                        depth: D::small(r, "depth")?,
                        builtin: D::small(r, "builtin")? == 1,
                        action: D::opt_text(r, "action")?,
                    },
                    role_id: D::opt_text(r, "role_id")?
                        .unwrap_or_else(|| switchyard_domain::builtin_role_id(provider)),
                    provider,
                })
            })
            .collect()
    }

    async fn create_role(&self, r: &Role, actions: &[String], members: &[Uuid]) -> Result<()> {
        let mut tx = self.write_tx().await?;
        sql::<D>(
            "INSERT INTO roles (id, domain_id, entity_id, kind, name, created_by, created_at, \
             updated_by, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .text(&r.id)
        .id(r.domain_id)
        .id(r.entity_id)
        .small(r.kind.code())
        .text(&r.name)
        .id(r.created_by)
        .time(r.created_at)
        .opt_id(r.updated_by)
        .opt_time(r.updated_at)
        .execute(&mut tx)
        .await?;
        insert_actions::<D>(&mut tx, &r.id, actions).await?;
        let role = RoleRef {
            id: r.id.clone(),
            entity_id: r.entity_id,
            domain_id: r.domain_id,
            builtin: false,
        };
        insert_members::<D>(&mut tx, &role, members).await?;
        tx.commit().await.map_err(D::err)
    }

    async fn roles(&self, entity: Uuid, offset: u64, limit: u64) -> Result<Page<Role>> {
        let mut count =
            QueryBuilder::<D>::new("SELECT COUNT(*) AS n FROM roles WHERE entity_id = ");
        D::push_bind(&mut count, Val::Id(entity));
        let mut rows = QueryBuilder::<D>::new("SELECT * FROM roles WHERE entity_id = ");
        D::push_bind(&mut rows, Val::Id(entity));
        rows.push(" ORDER BY name, id");
        self.paged(count, rows, offset, limit, row_role::<D>).await
    }

    async fn role(&self, entity: Uuid, id: &str) -> Result<Role> {
        let r = sql::<D>("SELECT * FROM roles WHERE entity_id = $1 AND id = $2")
            .id(entity)
            .text(id)
            .fetch_one(&self.pool)
            .await?;
        row_role::<D>(&r)
    }

    async fn rename_role(&self, r: &Role) -> Result<()> {
        sql::<D>(
            "UPDATE roles SET name = $3, updated_by = $4, updated_at = $5 \
             WHERE entity_id = $1 AND id = $2",
        )
        .id(r.entity_id)
        .text(&r.id)
        .text(&r.name)
        .opt_id(r.updated_by)
        .opt_time(r.updated_at)
        .execute_one(&self.writer)
        .await
    }

    async fn delete_role(&self, entity: Uuid, id: &str) -> Result<()> {
        let mut tx = self.write_tx().await?;
        sql::<D>("DELETE FROM role_members WHERE role_id = $1")
            .text(id)
            .execute(&mut tx)
            .await?;
        sql::<D>("DELETE FROM role_actions WHERE role_id = $1")
            .text(id)
            .execute(&mut tx)
            .await?;
        sql::<D>("DELETE FROM roles WHERE entity_id = $1 AND id = $2")
            .id(entity)
            .text(id)
            .execute_one(&mut tx)
            .await?;
        tx.commit().await.map_err(D::err)
    }

    async fn add_role_actions(&self, role: &str, actions: &[String]) -> Result<()> {
        let mut conn = self.writer.acquire().await.map_err(D::err)?;
        insert_actions::<D>(&mut *conn, role, actions).await
    }

    async fn remove_role_actions(&self, role: &str, actions: Option<&[String]>) -> Result<()> {
        let mut qb = QueryBuilder::<D>::new("DELETE FROM role_actions WHERE role_id = ");
        D::push_bind(&mut qb, Val::Text(role));
        if let Some(a) = actions {
            if a.is_empty() {
                return Ok(());
            }
            qb.push(" AND action");
            push_in(&mut qb, a.iter().map(|s| Val::Text(s)));
        }
        Sql::from(qb.build())
            .execute(&self.writer)
            .await
            .map(|_| ())
    }

    async fn role_actions(&self, role: &str) -> Result<Vec<String>> {
        sql::<D>("SELECT action FROM role_actions WHERE role_id = $1 ORDER BY action")
            .text(role)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| D::text(r, "action"))
            .collect()
    }

    async fn add_role_members(&self, role: &RoleRef, members: &[Uuid]) -> Result<()> {
        let mut conn = self.writer.acquire().await.map_err(D::err)?;
        insert_members::<D>(&mut *conn, role, members).await
    }

    async fn remove_role_members(&self, role: &str, members: Option<&[Uuid]>) -> Result<()> {
        let mut qb = QueryBuilder::<D>::new("DELETE FROM role_members WHERE role_id = ");
        D::push_bind(&mut qb, Val::Text(role));
        if let Some(m) = members {
            if m.is_empty() {
                return Ok(());
            }
            qb.push(" AND member_id");
            push_in(&mut qb, m.iter().map(|u| Val::Id(*u)));
        }
        Sql::from(qb.build())
            .execute(&self.writer)
            .await
            .map(|_| ())
    }

    async fn role_members(&self, role: &str, offset: u64, limit: u64) -> Result<Page<Uuid>> {
        self.member_page("role_id", Val::Text(role), offset, limit)
            .await
    }

    async fn entity_members(&self, entity: Uuid, offset: u64, limit: u64) -> Result<Page<Uuid>> {
        self.member_page("entity_id", Val::Id(entity), offset, limit)
            .await
    }

    async fn remove_entity_members(&self, entity: Uuid, members: &[Uuid]) -> Result<()> {
        if members.is_empty() {
            return Ok(());
        }
        let mut qb = QueryBuilder::<D>::new("DELETE FROM role_members WHERE entity_id = ");
        D::push_bind(&mut qb, Val::Id(entity));
        qb.push(" AND member_id");
        push_in(&mut qb, members.iter().map(|u| Val::Id(*u)));
        Sql::from(qb.build())
            .execute(&self.writer)
            .await
            .map(|_| ())
    }

    async fn domain_role_members(
        &self,
        domain: Uuid,
        role: DomainRole,
        offset: u64,
        limit: u64,
    ) -> Result<Page<Uuid>> {
        let filter = |qb: &mut QueryBuilder<D>| {
            D::push_bind(qb, Val::Id(domain));
            qb.push(" AND role = ");
            D::push_bind(qb, Val::Text(role.as_str()));
        };
        let mut count =
            QueryBuilder::<D>::new("SELECT COUNT(*) AS n FROM domain_members WHERE domain_id = ");
        filter(&mut count);
        let mut rows =
            QueryBuilder::<D>::new("SELECT user_id FROM domain_members WHERE domain_id = ");
        filter(&mut rows);
        rows.push(" ORDER BY user_id");
        self.paged(count, rows, offset, limit, |r| D::id(r, "user_id"))
            .await
    }

    async fn domain_users(
        &self,
        domain: Uuid,
        offset: u64,
        limit: u64,
    ) -> Result<Page<(Uuid, DomainRole)>> {
        let mut count =
            QueryBuilder::<D>::new("SELECT COUNT(*) AS n FROM domain_members WHERE domain_id = ");
        D::push_bind(&mut count, Val::Id(domain));
        let mut rows =
            QueryBuilder::<D>::new("SELECT user_id, role FROM domain_members WHERE domain_id = ");
        D::push_bind(&mut rows, Val::Id(domain));
        rows.push(" ORDER BY user_id");
        self.paged(count, rows, offset, limit, |r| {
            let role = DomainRole::parse(&D::text(r, "role")?).unwrap_or(DomainRole::Member);
            Ok((D::id(r, "user_id")?, role))
        })
        .await
    }

    async fn member_roles(&self, entity: Uuid, members: &[Uuid]) -> Result<Vec<(Uuid, String)>> {
        if members.is_empty() {
            return Ok(Vec::new());
        }
        let mut qb = QueryBuilder::<D>::new(
            "SELECT member_id, role_id FROM role_members WHERE entity_id = ",
        );
        D::push_bind(&mut qb, Val::Id(entity));
        qb.push(" AND member_id");
        push_in(&mut qb, members.iter().map(|u| Val::Id(*u)));
        qb.push(" ORDER BY role_id");
        Sql::from(qb.build())
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| Ok((D::id(r, "member_id")?, D::text(r, "role_id")?)))
            .collect()
    }

    async fn domain_members_among(&self, domain: Uuid, users: &[Uuid]) -> Result<Vec<Uuid>> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let mut qb =
            QueryBuilder::<D>::new("SELECT user_id FROM domain_members WHERE domain_id = ");
        D::push_bind(&mut qb, Val::Id(domain));
        qb.push(" AND user_id");
        push_in(&mut qb, users.iter().map(|u| Val::Id(*u)));
        Sql::from(qb.build())
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| D::id(r, "user_id"))
            .collect()
    }
}
