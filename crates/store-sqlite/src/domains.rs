use async_trait::async_trait;
use sqlx::{QueryBuilder, Row, Sqlite, sqlite::SqliteRow};
use switchyard_domain::{
    Domain, DomainQuery, DomainRole, Invitation, InvitationQuery, InvitationState, Page, Status,
    Timestamp,
};
use switchyard_store::{DomainRepo, Result, StoreError};
use uuid::Uuid;

use crate::{
    SqliteStore, from_ts, from_ts_opt, id, id_opt, json_map, json_tags, list, map_err, one,
    sort_at, to_json, ts, ts_opt,
};

fn row_domain(r: &SqliteRow) -> Result<Domain> {
    let g = map_err;
    Ok(Domain {
        id: id(r.try_get::<&str, _>("id").map_err(g)?)?,
        name: r.try_get("name").map_err(g)?,
        route: r.try_get("route").map_err(g)?,
        tags: json_tags(r.try_get("tags").map_err(g)?)?,
        metadata: json_map(r.try_get("metadata").map_err(g)?)?,
        status: Status::from_code(r.try_get("status").map_err(g)?),
        created_by: id(r.try_get::<&str, _>("created_by").map_err(g)?)?,
        created_at: from_ts(r.try_get("created_at").map_err(g)?),
        updated_at: from_ts_opt(r.try_get("updated_at").map_err(g)?),
        updated_by: id_opt(r.try_get("updated_by").map_err(g)?)?,
    })
}

fn row_invitation(r: &SqliteRow) -> Result<Invitation> {
    let g = map_err;
    let role: String = r.try_get("role").map_err(g)?;
    Ok(Invitation {
        domain_id: id(r.try_get::<&str, _>("domain_id").map_err(g)?)?,
        domain_name: r.try_get("domain_name").map_err(g)?,
        invitee_user_id: id(r.try_get::<&str, _>("invitee_user_id").map_err(g)?)?,
        invited_by: id(r.try_get::<&str, _>("invited_by").map_err(g)?)?,
        role: DomainRole::parse(&role).unwrap_or(DomainRole::Member),
        created_at: from_ts(r.try_get("created_at").map_err(g)?),
        updated_at: from_ts_opt(r.try_get("updated_at").map_err(g)?),
        confirmed_at: from_ts_opt(r.try_get("confirmed_at").map_err(g)?),
        rejected_at: from_ts_opt(r.try_get("rejected_at").map_err(g)?),
    })
}

fn push_domain_filters(qb: &mut QueryBuilder<Sqlite>, q: &DomainQuery) {
    list::push_page_filters(qb, &q.page);
    if let Some(m) = q.member {
        qb.push(
            " AND EXISTS (SELECT 1 FROM domain_members m WHERE m.domain_id = t.id AND m.user_id = ",
        );
        qb.push_bind(m.to_string());
        qb.push(")");
    }
}

fn push_invitation_filters(qb: &mut QueryBuilder<Sqlite>, q: &InvitationQuery) {
    if let Some(d) = q.domain_id {
        qb.push(" AND i.domain_id = ");
        qb.push_bind(d.to_string());
    }
    if let Some(u) = q.invitee_user_id {
        qb.push(" AND i.invitee_user_id = ");
        qb.push_bind(u.to_string());
    }
    if let Some(u) = q.invited_by {
        qb.push(" AND i.invited_by = ");
        qb.push_bind(u.to_string());
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
impl DomainRepo for SqliteStore {
    async fn create_domain(&self, d: &Domain) -> Result<()> {
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "INSERT INTO domains (id, name, route, tags, metadata, status, created_by, created_at, \
             updated_at, updated_by, sort_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)",
        )
        .bind(d.id.to_string())
        .bind(&d.name)
        .bind(&d.route)
        .bind(to_json(&d.tags))
        .bind(to_json(&d.metadata))
        .bind(i64::from(d.status.code()))
        .bind(d.created_by.to_string())
        .bind(ts(d.created_at))
        .bind(ts_opt(d.updated_at))
        .bind(d.updated_by.map(|x| x.to_string()))
        .bind(sort_at(d.created_at, d.updated_at))
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        sqlx::query("INSERT INTO domain_members (domain_id, user_id, role, created_at) VALUES ($1,$2,$3,$4)")
            .bind(d.id.to_string())
            .bind(d.created_by.to_string())
            .bind(DomainRole::Admin.as_str())
            .bind(ts(d.created_at))
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        tx.commit().await.map_err(map_err)
    }

    async fn domain(&self, did: Uuid) -> Result<Domain> {
        let r = sqlx::query("SELECT * FROM domains WHERE id = $1")
            .bind(did.to_string())
            .fetch_one(&self.pool)
            .await
            .map_err(map_err)?;
        row_domain(&r)
    }

    async fn list_domains(&self, q: &DomainQuery) -> Result<Page<Domain>> {
        let mut count = QueryBuilder::<Sqlite>::new("SELECT COUNT(*) FROM domains t WHERE 1=1");
        push_domain_filters(&mut count, q);
        let total: i64 = count
            .build_query_scalar()
            .fetch_one(&self.pool)
            .await
            .map_err(map_err)?;
        let mut items = Vec::new();
        if !q.page.only_total {
            let mut qb = QueryBuilder::<Sqlite>::new("SELECT t.* FROM domains t WHERE 1=1");
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
        .bind(d.id.to_string())
        .bind(&d.name)
        .bind(to_json(&d.tags))
        .bind(to_json(&d.metadata))
        .bind(i64::from(d.status.code()))
        .bind(ts_opt(d.updated_at))
        .bind(d.updated_by.map(|x| x.to_string()))
        .bind(sort_at(d.created_at, d.updated_at))
        .execute(&self.writer)
        .await
        .map_err(map_err)?;
        one(res)
    }

    async fn member_role(&self, domain: Uuid, user: Uuid) -> Result<Option<DomainRole>> {
        let role: Option<String> = sqlx::query_scalar(
            "SELECT role FROM domain_members WHERE domain_id = $1 AND user_id = $2",
        )
        .bind(domain.to_string())
        .bind(user.to_string())
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(role.as_deref().and_then(DomainRole::parse))
    }

    async fn user_domains(&self, user: Uuid) -> Result<Vec<Uuid>> {
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT m.domain_id FROM domain_members m JOIN domains d ON d.id = m.domain_id \
             WHERE m.user_id = $1 AND d.status = 0 ORDER BY d.created_at",
        )
        .bind(user.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        rows.iter().map(|s| id(s)).collect()
    }

    async fn save_invitation(&self, i: &Invitation) -> Result<()> {
        sqlx::query(
            "INSERT INTO invitations (domain_id, invitee_user_id, invited_by, role, created_at, \
             updated_at, confirmed_at, rejected_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8) \
             ON CONFLICT (domain_id, invitee_user_id) DO UPDATE SET invited_by=excluded.invited_by, \
             role=excluded.role, created_at=excluded.created_at, updated_at=excluded.updated_at, \
             confirmed_at=NULL, rejected_at=NULL",
        )
        .bind(i.domain_id.to_string())
        .bind(i.invitee_user_id.to_string())
        .bind(i.invited_by.to_string())
        .bind(i.role.as_str())
        .bind(ts(i.created_at))
        .bind(ts_opt(i.updated_at))
        .bind(ts_opt(i.confirmed_at))
        .bind(ts_opt(i.rejected_at))
        .execute(&self.writer)
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn invitation(&self, domain: Uuid, invitee: Uuid) -> Result<Invitation> {
        let r = sqlx::query(
            "SELECT i.*, d.name AS domain_name FROM invitations i JOIN domains d ON d.id = i.domain_id \
             WHERE i.domain_id = $1 AND i.invitee_user_id = $2",
        )
        .bind(domain.to_string())
        .bind(invitee.to_string())
        .fetch_one(&self.pool)
        .await
        .map_err(map_err)?;
        row_invitation(&r)
    }

    async fn list_invitations(&self, q: &InvitationQuery) -> Result<Page<Invitation>> {
        let mut count = QueryBuilder::<Sqlite>::new("SELECT COUNT(*) FROM invitations i WHERE 1=1");
        push_invitation_filters(&mut count, q);
        let total: i64 = count
            .build_query_scalar()
            .fetch_one(&self.pool)
            .await
            .map_err(map_err)?;
        let mut items = Vec::new();
        if !q.only_total {
            let mut qb = QueryBuilder::<Sqlite>::new(
                "SELECT i.*, d.name AS domain_name FROM invitations i JOIN domains d ON d.id = i.domain_id WHERE 1=1",
            );
            push_invitation_filters(&mut qb, q);
            qb.push(" ORDER BY i.created_at DESC, i.invitee_user_id LIMIT ");
            qb.push_bind(q.limit as i64);
            qb.push(" OFFSET ");
            qb.push_bind(q.offset as i64);
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
        .bind(domain.to_string())
        .bind(invitee.to_string())
        .bind(ts(at))
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?
        .ok_or(StoreError::NotFound)?;
        sqlx::query(
            "INSERT INTO domain_members (domain_id, user_id, role, created_at) VALUES ($1,$2,$3,$4) \
             ON CONFLICT (domain_id, user_id) DO UPDATE SET role = excluded.role",
        )
        .bind(domain.to_string())
        .bind(invitee.to_string())
        .bind(role)
        .bind(ts(at))
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
        .bind(domain.to_string())
        .bind(invitee.to_string())
        .bind(ts(at))
        .execute(&self.writer)
        .await
        .map_err(map_err)?;
        one(res)
    }

    async fn delete_invitation(&self, domain: Uuid, invitee: Uuid) -> Result<()> {
        let res =
            sqlx::query("DELETE FROM invitations WHERE domain_id = $1 AND invitee_user_id = $2")
                .bind(domain.to_string())
                .bind(invitee.to_string())
                .execute(&self.writer)
                .await
                .map_err(map_err)?;
        one(res)
    }
}
