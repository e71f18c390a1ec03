use async_trait::async_trait;
use sqlx::QueryBuilder;
use switchyard_domain::{
    Domain, DomainQuery, DomainRole, Invitation, InvitationQuery, InvitationState, Page, Status,
    Timestamp,
};
use switchyard_store::{DomainRepo, Result, StoreError};
use uuid::Uuid;

use crate::{
    SqlStore,
    dialect::{Dialect, Val, sql},
    list::{Listing, push_limit, push_order, push_page_filters},
    sort_at,
};

fn row_domain<D: Dialect>(r: &D::Row) -> Result<Domain> {
    Ok(Domain {
        id: D::id(r, "id")?,
        name: D::text(r, "name")?,
        route: D::text(r, "route")?,
        tags: D::json(r, "tags")?,
        metadata: D::json(r, "metadata")?,
        status: Status::from_code(i64::from(D::small(r, "status")?)),
        created_by: D::id(r, "created_by")?,
        created_at: D::time(r, "created_at")?,
        updated_at: D::opt_time(r, "updated_at")?,
        updated_by: D::opt_id(r, "updated_by")?,
    })
}

fn row_invitation<D: Dialect>(r: &D::Row) -> Result<Invitation> {
    let role = D::text(r, "role")?;
    Ok(Invitation {
        domain_id: D::id(r, "domain_id")?,
        domain_name: D::text(r, "domain_name")?,
        invitee_user_id: D::id(r, "invitee_user_id")?,
        invited_by: D::id(r, "invited_by")?,
        role: DomainRole::parse(&role).unwrap_or(DomainRole::Member),
        created_at: D::time(r, "created_at")?,
        updated_at: D::opt_time(r, "updated_at")?,
        confirmed_at: D::opt_time(r, "confirmed_at")?,
        rejected_at: D::opt_time(r, "rejected_at")?,
    })
}

fn push_domain_filters<D: Dialect>(qb: &mut QueryBuilder<D>, q: &DomainQuery) {
    qb.push(" WHERE 1 = 1");
    push_page_filters(qb, &q.page, true, None);
    if let Some(m) = q.member {
        qb.push(
            " AND EXISTS (SELECT 1 FROM domain_members m WHERE m.domain_id = t.id AND m.user_id = ",
        );
        D::push_bind(qb, Val::Id(m));
        qb.push(")");
    }
}

fn push_invitation_filters<D: Dialect>(qb: &mut QueryBuilder<D>, q: &InvitationQuery) {
    qb.push(" WHERE 1 = 1");
    for (col, v) in [
        (" AND i.domain_id = ", q.domain_id),
        (" AND i.invitee_user_id = ", q.invitee_user_id),
        (" AND i.invited_by = ", q.invited_by),
    ] {
        if let Some(v) = v {
            qb.push(col);
            D::push_bind(qb, Val::Id(v));
        }
    }
    qb.push(match q.state {
        InvitationState::All => "",
        InvitationState::Pending => " AND i.confirmed_at IS NULL AND i.rejected_at IS NULL",
        InvitationState::Accepted => " AND i.confirmed_at IS NOT NULL",
        InvitationState::Rejected => " AND i.rejected_at IS NOT NULL",
    });
}

#[async_trait]
impl<D: Dialect> DomainRepo for SqlStore<D> {
    async fn create_domain(&self, d: &Domain) -> Result<()> {
        let mut tx = self.write_tx().await?;
        sql::<D>(
            "INSERT INTO domains (id, name, route, tags, metadata, status, created_by, created_at, \
             updated_at, updated_by, sort_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)",
        )
        .id(d.id)
        .text(&d.name)
        .text(&d.route)
        .json(&d.tags)
        .json(&d.metadata)
        .small(d.status.code())
        .id(d.created_by)
        .time(d.created_at)
        .opt_time(d.updated_at)
        .opt_id(d.updated_by)
        .time(sort_at(d.created_at, d.updated_at))
        .execute(&mut tx)
        .await?;
        sql::<D>(
            "INSERT INTO domain_members (domain_id, user_id, role, created_at) VALUES ($1,$2,$3,$4)",
        )
        .id(d.id)
        .id(d.created_by)
        .text(DomainRole::Admin.as_str())
        .time(d.created_at)
        .execute(&mut tx)
        .await?;
        tx.commit().await.map_err(D::err)
    }

    async fn domain(&self, id: Uuid) -> Result<Domain> {
        let r = sql::<D>("SELECT * FROM domains WHERE id = $1")
            .id(id)
            .fetch_one(&self.pool)
            .await?;
        row_domain::<D>(&r)
    }

    async fn list_domains(&self, q: &DomainQuery) -> Result<Page<Domain>> {
        Listing::page(&self.pool, "domains t", "t.*", &q.page)
            .run(
                |qb| push_domain_filters(qb, q),
                |qb| push_order(qb, &q.page),
                |r| row_domain::<D>(r),
            )
            .await
    }

    async fn update_domain(&self, d: &Domain) -> Result<()> {
        sql::<D>(
            "UPDATE domains SET name=$2, tags=$3, metadata=$4, status=$5, updated_at=$6, \
             updated_by=$7, sort_at=$8 WHERE id=$1",
        )
        .id(d.id)
        .text(&d.name)
        .json(&d.tags)
        .json(&d.metadata)
        .small(d.status.code())
        .opt_time(d.updated_at)
        .opt_id(d.updated_by)
        .time(sort_at(d.created_at, d.updated_at))
        .execute_one(&self.writer)
        .await
    }

    async fn member_role(&self, domain: Uuid, user: Uuid) -> Result<Option<DomainRole>> {
        let row = sql::<D>("SELECT role FROM domain_members WHERE domain_id = $1 AND user_id = $2")
            .id(domain)
            .id(user)
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(r) => Ok(DomainRole::parse(&D::text(&r, "role")?)),
            None => Ok(None),
        }
    }

    async fn user_domains(&self, user: Uuid) -> Result<Vec<Uuid>> {
        let rows = sql::<D>(
            "SELECT m.domain_id FROM domain_members m JOIN domains d ON d.id = m.domain_id \
             WHERE m.user_id = $1 AND d.status = 0 ORDER BY d.created_at, d.id",
        )
        .id(user)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| D::id(r, "domain_id")).collect()
    }

    async fn save_invitation(&self, i: &Invitation) -> Result<()> {
        sql::<D>(
            "INSERT INTO invitations (domain_id, invitee_user_id, invited_by, role, created_at, \
             updated_at, confirmed_at, rejected_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8) \
             ON CONFLICT (domain_id, invitee_user_id) DO UPDATE SET invited_by=excluded.invited_by, \
             role=excluded.role, created_at=excluded.created_at, updated_at=excluded.updated_at, \
             confirmed_at=NULL, rejected_at=NULL",
        )
        .id(i.domain_id)
        .id(i.invitee_user_id)
        .id(i.invited_by)
        .text(i.role.as_str())
        .time(i.created_at)
        .opt_time(i.updated_at)
        .opt_time(i.confirmed_at)
        .opt_time(i.rejected_at)
        .execute(&self.writer)
        .await
        .map(|_| ())
    }

    async fn invitation(&self, domain: Uuid, invitee: Uuid) -> Result<Invitation> {
        let r = sql::<D>(
            "SELECT i.*, d.name AS domain_name FROM invitations i \
             JOIN domains d ON d.id = i.domain_id \
             WHERE i.domain_id = $1 AND i.invitee_user_id = $2",
        )
        .id(domain)
        .id(invitee)
        .fetch_one(&self.pool)
        .await?;
        row_invitation::<D>(&r)
    }

    async fn list_invitations(&self, q: &InvitationQuery) -> Result<Page<Invitation>> {
        Listing::window(
            &self.pool,
            "invitations i JOIN domains d ON d.id = i.domain_id",
            "i.*, d.name AS domain_name",
            q.offset,
            q.limit,
            q.only_total,
        )
        .run(
            |qb| push_invitation_filters(qb, q),
            |qb| {
                qb.push(" ORDER BY i.created_at DESC, i.invitee_user_id");
                push_limit(qb, q.limit, q.offset);
            },
            |r| row_invitation::<D>(r),
        )
        .await
    }

    async fn accept_invitation(&self, domain: Uuid, invitee: Uuid, at: Timestamp) -> Result<()> {
        let mut tx = self.write_tx().await?;
        let row = sql::<D>(
            "UPDATE invitations SET confirmed_at = $3, updated_at = $3 WHERE domain_id = $1 AND \
             invitee_user_id = $2 AND confirmed_at IS NULL AND rejected_at IS NULL RETURNING role",
        )
        .id(domain)
        .id(invitee)
        .time(at)
        .fetch_optional(&mut tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        let role = D::text(&row, "role")?;
        sql::<D>(
            "INSERT INTO domain_members (domain_id, user_id, role, created_at) VALUES ($1,$2,$3,$4) \
             ON CONFLICT (domain_id, user_id) DO UPDATE SET role = excluded.role",
        )
        .id(domain)
        .id(invitee)
        .text(&role)
        .time(at)
        .execute(&mut tx)
        .await?;
        tx.commit().await.map_err(D::err)
    }

    async fn reject_invitation(&self, domain: Uuid, invitee: Uuid, at: Timestamp) -> Result<()> {
        sql::<D>(
            "UPDATE invitations SET rejected_at = $3, updated_at = $3 WHERE domain_id = $1 AND \
             invitee_user_id = $2 AND confirmed_at IS NULL AND rejected_at IS NULL",
        )
        .id(domain)
        .id(invitee)
        .time(at)
        .execute_one(&self.writer)
        .await
    }

    async fn delete_invitation(&self, domain: Uuid, invitee: Uuid) -> Result<()> {
        sql::<D>("DELETE FROM invitations WHERE domain_id = $1 AND invitee_user_id = $2")
            .id(domain)
            .id(invitee)
            .execute_one(&self.writer)
            .await
    }
}
