use async_trait::async_trait;
use sqlx::QueryBuilder;
use switchyard_domain::{
    Page, RefreshSession, Status, Timestamp, User, UserQuery, UserRole, UserWithSecret,
};
use switchyard_store::{Result, StoreError, UserRepo};
use uuid::Uuid;

use crate::{
    SqlStore,
    dialect::{Dialect, Sql, sql},
    list::{Listing, push_order, push_page_filters},
    sort_at,
};

/// The user columns (not `sort_at`).
macro_rules! cols {
    () => {
        "t.id, t.first_name, t.last_name, t.email, t.username, t.password_hash, t.tags, \
         t.metadata, t.private_metadata, t.profile_picture, t.status, t.role, t.created_at, \
         t.updated_at, t.updated_by, t.verified_at"
    };
}

fn row_user<D: Dialect>(r: &D::Row) -> Result<UserWithSecret> {
    let role = D::small(r, "role")?;
    Ok(UserWithSecret {
        password_hash: D::text(r, "password_hash")?,
        user: User {
            id: D::id(r, "id")?,
            first_name: D::text(r, "first_name")?,
            last_name: D::text(r, "last_name")?,
            email: D::text(r, "email")?,
            username: D::text(r, "username")?,
            tags: D::json(r, "tags")?,
            metadata: D::json(r, "metadata")?,
            private_metadata: D::json(r, "private_metadata")?,
            profile_picture: D::text(r, "profile_picture")?,
            status: Status::from_code(i64::from(D::small(r, "status")?)),
            role: u8::try_from(role)
                .ok()
                .and_then(UserRole::from_claim)
                .unwrap_or(UserRole::User),
            created_at: D::time(r, "created_at")?,
            updated_at: D::opt_time(r, "updated_at")?,
            updated_by: D::opt_id(r, "updated_by")?,
            verified_at: D::opt_time(r, "verified_at")?,
        },
    })
}

fn row_session<D: Dialect>(r: &D::Row) -> Result<RefreshSession> {
    Ok(RefreshSession {
        id: D::id(r, "id")?,
        user_id: D::id(r, "user_id")?,
        description: D::text(r, "description")?,
        created_at: D::time(r, "created_at")?,
        expires_at: D::time(r, "expires_at")?,
    })
}

/// Binds $1 to $15 of a user's write: the id, its profile, status and role, and its
/// update stamps (the insert adds the password hash and the creation time after).
fn profile_binds<'q, D: Dialect>(q: Sql<'q, D>, u: &User) -> Sql<'q, D> {
    q.id(u.id)
        .text(&u.first_name)
        .text(&u.last_name)
        .text(&u.email)
        .text(&u.username)
        .json(&u.tags)
        .json(&u.metadata)
        .json(&u.private_metadata)
        .text(&u.profile_picture)
        .small(u.status.code())
        .small(i16::from(u.role.claim()))
        .opt_time(u.updated_at)
        .opt_id(u.updated_by)
        .opt_time(u.verified_at)
        .time(sort_at(u.created_at, u.updated_at))
}

fn push_user_filters<D: Dialect>(qb: &mut QueryBuilder<D>, q: &UserQuery) {
    push_page_filters(qb, &q.page, false, None);
    for (col, v) in [
        ("t.username", &q.username),
        ("t.email", &q.email),
        ("t.first_name", &q.first_name),
        ("t.last_name", &q.last_name),
    ] {
        if let Some(v) = v {
            D::push_ilike(qb, col, v);
        }
    }
}

#[async_trait]
impl<D: Dialect> UserRepo for SqlStore<D> {
    async fn create_user(&self, w: &UserWithSecret) -> Result<()> {
        let u = &w.user;
        profile_binds(
            sql::<D>(
                "INSERT INTO users (id, first_name, last_name, email, username, tags, metadata, \
                 private_metadata, profile_picture, status, role, updated_at, updated_by, \
                 verified_at, sort_at, password_hash, created_at) \
                 VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17)",
            ),
            u,
        )
        .text(&w.password_hash)
        .time(u.created_at)
        .execute(&self.writer)
        .await
        .map(|_| ())
    }

    async fn user(&self, id: Uuid) -> Result<UserWithSecret> {
        let r = sql::<D>(concat!("SELECT ", cols!(), " FROM users t WHERE t.id = $1"))
            .id(id)
            .fetch_one(&self.pool)
            .await?;
        row_user::<D>(&r)
    }

    async fn user_by_login(&self, login: &str) -> Result<UserWithSecret> {
        let r = sql::<D>(concat!(
            "SELECT ",
            cols!(),
            " FROM users t WHERE t.username = $1 OR t.email = $1 LIMIT 1"
        ))
        .text(login)
        .fetch_one(&self.pool)
        .await?;
        row_user::<D>(&r)
    }

    async fn list_users(&self, q: &UserQuery) -> Result<Page<User>> {
        Listing::page(&self.pool, "users t", cols!(), &q.page)
            .run(
                |qb| {
                    qb.push(" WHERE 1 = 1");
                    push_user_filters(qb, q);
                },
                |qb| push_order(qb, &q.page),
                |r| row_user::<D>(r).map(|w| w.user),
            )
            .await
    }

    async fn update_user(&self, u: &User) -> Result<()> {
        profile_binds(
            sql::<D>(
                "UPDATE users SET first_name=$2, last_name=$3, email=$4, username=$5, tags=$6, \
                 metadata=$7, private_metadata=$8, profile_picture=$9, status=$10, role=$11, \
                 updated_at=$12, updated_by=$13, verified_at=$14, sort_at=$15 WHERE id=$1",
            ),
            u,
        )
        .execute_one(&self.writer)
        .await
    }

    async fn update_password(&self, id: Uuid, hash: &str, at: Timestamp) -> Result<Vec<Uuid>> {
        self.set_password(id, None, hash, at).await
    }

    async fn replace_password_hash(
        &self,
        id: Uuid,
        old: &str,
        hash: &str,
        at: Timestamp,
    ) -> Result<Vec<Uuid>> {
        self.set_password(id, Some(old), hash, at).await
    }

    async fn inactive_user_ids(&self) -> Result<Vec<Uuid>> {
        let rows = sql::<D>("SELECT id FROM users WHERE status <> 0")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| D::id(r, "id")).collect()
    }

    async fn create_session(&self, s: &RefreshSession) -> Result<()> {
        sql::<D>(
            "INSERT INTO refresh_sessions (id, user_id, description, created_at, expires_at) \
             VALUES ($1,$2,$3,$4,$5)",
        )
        .id(s.id)
        .id(s.user_id)
        .text(&s.description)
        .time(s.created_at)
        .time(s.expires_at)
        .execute(&self.writer)
        .await
        .map(|_| ())
    }

    async fn session(&self, id: Uuid) -> Result<RefreshSession> {
        let r = sql::<D>("SELECT * FROM refresh_sessions WHERE id = $1")
            .id(id)
            .fetch_one(&self.pool)
            .await?;
        row_session::<D>(&r)
    }

    async fn list_sessions(&self, user: Uuid, now: Timestamp) -> Result<Vec<RefreshSession>> {
        let rows = sql::<D>(
            "SELECT * FROM refresh_sessions WHERE user_id = $1 AND expires_at > $2 \
             ORDER BY created_at, id",
        )
        .id(user)
        .time(now)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(row_session::<D>).collect()
    }

    async fn rotate_session(&self, id: Uuid, from: &str, to: &str) -> Result<bool> {
        let n = sql::<D>(
            "UPDATE refresh_sessions SET refresh_id = $3 WHERE id = $1 AND refresh_id = $2",
        )
        .id(id)
        .text(from)
        .text(to)
        .execute(&self.writer)
        .await?;
        Ok(n == 1)
    }

    async fn delete_session(&self, user: Uuid, id: Uuid) -> Result<()> {
        match sql::<D>("DELETE FROM refresh_sessions WHERE id = $1 AND user_id = $2")
            .id(id)
            .id(user)
            .execute(&self.writer)
            .await?
        {
            0 => Err(StoreError::NotFound),
            _ => Ok(()),
        }
    }
}

impl<D: Dialect> SqlStore<D> {
    /// Sets the password hash (only while it is still `old`, when given) and ends every
    /// refresh session of the user, in one transaction; the ended sessions' ids.
    async fn set_password(
        &self,
        id: Uuid,
        old: Option<&str>,
        hash: &str,
        at: Timestamp,
    ) -> Result<Vec<Uuid>> {
        let mut tx = self.write_tx().await?;
        match old {
            None => {
                sql::<D>("UPDATE users SET password_hash=$2, updated_at=$3, sort_at=$3 WHERE id=$1")
                    .id(id)
                    .text(hash)
                    .time(at)
                    .execute_one(&mut tx)
                    .await?
            }
            Some(old) => {
                sql::<D>(
                    "UPDATE users SET password_hash=$2, updated_at=$3, sort_at=$3 \
                     WHERE id=$1 AND password_hash=$4",
                )
                .id(id)
                .text(hash)
                .time(at)
                .text(old)
                .execute_one(&mut tx)
                .await?
            }
        }
        let rows = sql::<D>("SELECT id FROM refresh_sessions WHERE user_id = $1")
            .id(id)
            .fetch_all(&mut tx)
            .await?;
        let ended = rows
            .iter()
            .map(|r| D::id(r, "id"))
            .collect::<Result<Vec<_>>>()?;
        sql::<D>("DELETE FROM refresh_sessions WHERE user_id = $1")
            .id(id)
            .execute(&mut tx)
            .await?;
        tx.commit().await.map_err(D::err)?;
        Ok(ended)
    }
}
