use async_trait::async_trait;
use sqlx::{Postgres, QueryBuilder, Row, postgres::PgRow};
use switchyard_domain::{
    Domain, DomainQuery, DomainRole, Invitation, InvitationQuery, InvitationState, Page, Status,
    Timestamp,
};
use switchyard_store::{DomainRepo, Result, StoreError};
use uuid::Uuid;

use crate::{PostgresStore, json_map, json_tags, list, map_err, one, sort_at, to_json};

fn row_domain(r: &PgRow) -> Result<Domain> {
    let g = map_err;
    Ok(Domain {
        id: r.try_get("id").map_err(g)?,
        name: r.try_get("name").map_err(g)?,
        route: r.try_get("route").map_err(g)?,
        tags: json_tags(r.try_get("tags").map_err(g)?),
        metadata: json_map(r.try_get("metadata").map_err(g)?),
        status: Status::from_code(i64::from(r.try_get::<i16, _>("status").map_err(g)?)),
        created_by: r.try_get("created_by").map_err(g)?,
        created_at: r.try_get("created_at").map_err(g)?,
        updated_at: r.try_get("updated_at").map_err(g)?,
        updated_by: r.try_get("updated_by").map_err(g)?,
    })
}

fn row_invitation(r: &PgRow) -> Result<Invitation> {
    let g = map_err;
    let role: String = r.try_get("role").map_err(g)?;
    Ok(Invitation {
        domain_id: r.try_get("domain_id").map_err(g)?,
        domain_name: r.try_get("domain_name").map_err(g)?,
        invitee_user_id: r.try_get("invitee_user_id").map_err(g)?,
        invited_by: r.try_get("invited_by").map_err(g)?,
        role: DomainRole::parse(&role).unwrap_or(DomainRole::Member),
        created_at: r.try_get("created_at").map_err(g)?,
        updated_at: r.try_get("updated_at").map_err(g)?,
        confirmed_at: r.try_get("confirmed_at").map_err(g)?,
        rejected_at: r.try_get("rejected_at").map_err(g)?,
    })
}

fn push_domain_filters(qb: &mut QueryBuilder<Postgres>, q: &DomainQuery) {
    list::push_page_filters(qb, &q.page);
    if let Some(m) = q.member {
        qb.push(
            " AND EXISTS (SELECT 1 FROM domain_members m WHERE m.domain_id = t.id AND m.user_id = ",
        );
        qb.push_bind(m);
        qb.push(")");
    }
}

fn push_invitation_filters(qb: &mut QueryBuilder<Postgres>, q: &InvitationQuery) {
    if let Some(d) = q.domain_id {
        qb.push(" AND i.domain_id = ");
        qb.push_bind(d);
    }
    if let Some(u) = q.invitee_user_id {
        qb.push(" AND i.invitee_user_id = ");
        qb.push_bind(u);
    }
    if let Some(u) = q.invited_by {
        qb.push(" AND i.invited_by = ");
        qb.push_bind(u);
    }
    match q.state {
        InvitationState::All => {}
        InvitationState::Pending => {
            qb.push(" AND i.confirmed_at IS NULL AND i.rejected_at IS NULL");
        }
        InvitationState::Accepted => {
            qb.push(" AND i.confirmed_at IS NOT NULL");
        }
        InvitationState::Rejected => {
            qb.push(" AND i.rejected_at IS NOT NULL");
        }
    }
}

#[async_trait]
impl DomainRepo for PostgresStore {
    async fn create_domain(&self, d: &Domain) -> Result<()> {
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "INSERT INTO domains (id, name, route, tags, metadata, status, created_by, created_at, \
             updated_at, updated_by, sort_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)",
        )
        .bind(d.id)
        .bind(&d.name)
        .bind(&d.route)
        .bind(to_json(&d.tags))
        .bind(to_json(&d.metadata))
        .bind(d.status.code())
        .bind(d.created_by)
        .bind(d.created_at)
        .bind(d.updated_at)
        .bind(d.updated_by)
        .bind(sort_at(d.created_at, d.updated_at))
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        sqlx::query(
            "INSERT INTO domain_members (domain_id, user_id, role, created_at) VALUES ($1,$2,$3,$4)",
        )
        .bind(d.id)
        .bind(d.created_by)
        .bind(DomainRole::Admin.as_str())
        .bind(d.created_at)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        tx.commit().await.map_err(map_err)
    }

    async fn domain(&self, did: Uuid) -> Result<Domain> {
        let r = sqlx::query("SELECT * FROM domains WHERE id = $1")
            .bind(did)
            .fetch_one(&self.pool)
            .await
            .map_err(map_err)?;
        row_domain(&r)
    }

    async fn list_domains(&self, q: &DomainQuery) -> Result<Page<Domain>> {
        let mut count = QueryBuilder::<Postgres>::new("SELECT COUNT(*) FROM domains t WHERE TRUE");
        push_domain_filters(&mut count, q);
        let total: i64 = count
            .build_query_scalar()
            .fetch_one(&self.pool)
            .await
            .map_err(map_err)?;
        let mut items = Vec::new();
        if !q.page.only_total {
            let mut qb = QueryBuilder::<Postgres>::new("SELECT t.* FROM domains t WHERE TRUE");
            push_domain_filters(&mut qb, q);
            list::push_order(&mut qb, &q.page);
            for r in qb.build().fetch_all(&self.pool).await.map_err(map_err)? {
                items.push(row_domain(&r)?);
            }
        }
        Ok(Page {
            total: total as u64,
            offset: q.page.offset,
            limit: q.page.limit,
            items,
        })
    }

    async fn update_domain(&self, d: &Domain) -> Result<()> {
        let res = sqlx::query(
            "UPDATE domains SET name=$2, tags=$3, metadata=$4, status=$5, updated_at=$6, \
             updated_by=$7, sort_at=$8 WHERE id=$1",
        )
        .bind(d.id)
        .bind(&d.name)
        .bind(to_json(&d.tags))
        .bind(to_json(&d.metadata))
        .bind(d.status.code())
        .bind(d.updated_at)
        .bind(d.updated_by)
        .bind(sort_at(d.created_at, d.updated_at))
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        one(res)
    }

    async fn member_role(&self, domain: Uuid, user: Uuid) -> Result<Option<DomainRole>> {
        let role: Option<String> = sqlx::query_scalar(
            "SELECT role FROM domain_members WHERE domain_id = $1 AND user_id = $2",
        )
        .bind(domain)
        .bind(user)
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(role.as_deref().and_then(DomainRole::parse))
    }

    async fn user_domains(&self, user: Uuid) -> Result<Vec<Uuid>> {
        sqlx::query_scalar(
            "SELECT m.domain_id FROM domain_members m JOIN domains d ON d.id = m.domain_id \
             WHERE m.user_id = $1 AND d.status = 0 ORDER BY d.created_at, d.id",
        )
        .bind(user)
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)
    }

    async fn save_invitation(&self, i: &Invitation) -> Result<()> {
        sqlx::query(
            "INSERT INTO invitations (domain_id, invitee_user_id, invited_by, role, created_at, \
             updated_at, confirmed_at, rejected_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8) \
             ON CONFLICT (domain_id, invitee_user_id) DO UPDATE SET invited_by=excluded.invited_by, \
             role=excluded.role, created_at=excluded.created_at, updated_at=excluded.updated_at, \
             confirmed_at=NULL, rejected_at=NULL",
        )
        .bind(i.domain_id)
        .bind(i.invitee_user_id)
        .bind(i.invited_by)
        .bind(i.role.as_str())
        .bind(i.created_at)
        .bind(i.updated_at)
        .bind(i.confirmed_at)
        .bind(i.rejected_at)
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn invitation(&self, domain: Uuid, invitee: Uuid) -> Result<Invitation> {
        let r = sqlx::query(
            "SELECT i.*, d.name AS domain_name FROM invitations i \
             JOIN domains d ON d.id = i.domain_id \
             WHERE i.domain_id = $1 AND i.invitee_user_id = $2",
        )
        .bind(domain)
        .bind(invitee)
        .fetch_one(&self.pool)
        .await
        .map_err(map_err)?;
        row_invitation(&r)
    }

    async fn list_invitations(&self, q: &InvitationQuery) -> Result<Page<Invitation>> {
        let mut count =
            QueryBuilder::<Postgres>::new("SELECT COUNT(*) FROM invitations i WHERE TRUE");
        push_invitation_filters(&mut count, q);
        let total: i64 = count
            .build_query_scalar()
            .fetch_one(&self.pool)
            .await
            .map_err(map_err)?;
        let mut items = Vec::new();
        if !q.only_total {
            let mut qb = QueryBuilder::<Postgres>::new(
                "SELECT i.*, d.name AS domain_name FROM invitations i \
                 JOIN domains d ON d.id = i.domain_id WHERE TRUE",
            );
            push_invitation_filters(&mut qb, q);
            qb.push(" ORDER BY i.created_at DESC, i.invitee_user_id LIMIT ");
            qb.push_bind(i64::try_from(q.limit).unwrap_or(i64::MAX));
            qb.push(" OFFSET ");
            qb.push_bind(i64::try_from(q.offset).unwrap_or(i64::MAX));
            for r in qb.build().fetch_all(&self.pool).await.map_err(map_err)? {
                items.push(row_invitation(&r)?);
            }
        }
        Ok(Page {
            total: total as u64,
            offset: q.offset,
            limit: q.limit,
            items,
        })
    }

    async fn accept_invitation(&self, domain: Uuid, invitee: Uuid, at: Timestamp) -> Result<()> {
        let mut tx = self.write_tx().await?;
        let role: String = sqlx::query_scalar(
            "UPDATE invitations SET confirmed_at = $3, updated_at = $3 WHERE domain_id = $1 AND \
             invitee_user_id = $2 AND confirmed_at IS NULL AND rejected_at IS NULL RETURNING role",
        )
        .bind(domain)
        .bind(invitee)
        .bind(at)
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?
        .ok_or(StoreError::NotFound)?;
        sqlx::query(
            "INSERT INTO domain_members (domain_id, user_id, role, created_at) VALUES ($1,$2,$3,$4) \
             ON CONFLICT (domain_id, user_id) DO UPDATE SET role = excluded.role",
        )
        .bind(domain)
        .bind(invitee)
        .bind(role)
        .bind(at)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        tx.commit().await.map_err(map_err)
    }

    async fn reject_invitation(&self, domain: Uuid, invitee: Uuid, at: Timestamp) -> Result<()> {
        let res = sqlx::query(
            "UPDATE invitations SET rejected_at = $3, updated_at = $3 WHERE domain_id = $1 AND \
             invitee_user_id = $2 AND confirmed_at IS NULL AND rejected_at IS NULL",
        )
        .bind(domain)
        .bind(invitee)
        .bind(at)
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        one(res)
    }

    async fn delete_invitation(&self, domain: Uuid, invitee: Uuid) -> Result<()> {
        let res =
            sqlx::query("DELETE FROM invitations WHERE domain_id = $1 AND invitee_user_id = $2")
                .bind(domain)
                .bind(invitee)
                .execute(&self.pool)
                .await
                .map_err(map_err)?;
        one(res)
    }
}
