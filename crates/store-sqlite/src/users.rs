use async_trait::async_trait;
use sqlx::{QueryBuilder, Row, Sqlite, sqlite::SqliteRow};
use switchyard_domain::{
    Page, RefreshSession, Status, Timestamp, User, UserQuery, UserRole, UserWithSecret,
};
use switchyard_store::{Result, StoreError, UserRepo};
use uuid::Uuid;

use crate::{
    SqliteStore, from_ts, from_ts_opt, id, id_opt, json_map, json_tags, list, map_err, one,
    sort_at, to_json, ts, ts_opt,
};

const COLS: &str = "t.id, t.first_name, t.last_name, t.email, t.username, t.password_hash, \
    t.tags, t.metadata, t.private_metadata, t.profile_picture, t.status, t.role, t.created_at, \
    t.updated_at, t.updated_by, t.verified_at";

fn row_user(r: &SqliteRow) -> Result<UserWithSecret> {
    let g = |e: sqlx::Error| map_err(e);
    Ok(UserWithSecret {
        password_hash: r.try_get("password_hash").map_err(g)?,
        user: User {
            id: id(r.try_get::<&str, _>("id").map_err(g)?)?,
            first_name: r.try_get("first_name").map_err(g)?,
            last_name: r.try_get("last_name").map_err(g)?,
            email: r.try_get("email").map_err(g)?,
            username: r.try_get("username").map_err(g)?,
            tags: json_tags(r.try_get("tags").map_err(g)?)?,
            metadata: json_map(r.try_get("metadata").map_err(g)?)?,
            private_metadata: json_map(r.try_get("private_metadata").map_err(g)?)?,
            profile_picture: r.try_get("profile_picture").map_err(g)?,
            status: Status::from_code(r.try_get("status").map_err(g)?),
            role: UserRole::from_claim(r.try_get::<i64, _>("role").map_err(g)? as u8)
                .unwrap_or(UserRole::User),
            created_at: from_ts(r.try_get("created_at").map_err(g)?),
            updated_at: from_ts_opt(r.try_get("updated_at").map_err(g)?),
            updated_by: id_opt(r.try_get("updated_by").map_err(g)?)?,
            verified_at: from_ts_opt(r.try_get("verified_at").map_err(g)?),
        },
    })
}

fn row_session(r: &SqliteRow) -> Result<RefreshSession> {
    Ok(RefreshSession {
        id: id(r.try_get::<&str, _>("id").map_err(map_err)?)?,
        user_id: id(r.try_get::<&str, _>("user_id").map_err(map_err)?)?,
        description: r.try_get("description").map_err(map_err)?,
        created_at: from_ts(r.try_get("created_at").map_err(map_err)?),
        expires_at: from_ts(r.try_get("expires_at").map_err(map_err)?),
    })
}

fn push_user_filters(qb: &mut QueryBuilder<Sqlite>, q: &UserQuery) {
    list::push_page_filters_no_name(qb, &q.page);
    for (col, v) in [
        ("t.username", &q.username),
        ("t.email", &q.email),
        ("t.first_name", &q.first_name),
        ("t.last_name", &q.last_name),
    ] {
        if let Some(v) = v {
            list::push_ilike(qb, col, v);
        }
    }
}

#[async_trait]
impl UserRepo for SqliteStore {
    async fn create_user(&self, w: &UserWithSecret) -> Result<()> {
        let u = &w.user;
        sqlx::query(
            "INSERT INTO users (id, first_name, last_name, email, username, password_hash, tags, \
             metadata, private_metadata, profile_picture, status, role, created_at, updated_at, \
             updated_by, verified_at, sort_at) \
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17)",
        )
        .bind(u.id.to_string())
        .bind(&u.first_name)
        .bind(&u.last_name)
        .bind(&u.email)
        .bind(&u.username)
        .bind(&w.password_hash)
        .bind(to_json(&u.tags))
        .bind(to_json(&u.metadata))
        .bind(to_json(&u.private_metadata))
        .bind(&u.profile_picture)
        .bind(i64::from(u.status.code()))
        .bind(i64::from(u.role.claim()))
        .bind(ts(u.created_at))
        .bind(ts_opt(u.updated_at))
        .bind(u.updated_by.map(|x| x.to_string()))
        .bind(ts_opt(u.verified_at))
        .bind(sort_at(u.created_at, u.updated_at))
        .execute(&self.writer)
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn user(&self, uid: Uuid) -> Result<UserWithSecret> {
        let r = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLS} FROM users t WHERE t.id = $1"
        )))
        .bind(uid.to_string())
        .fetch_one(&self.pool)
        .await
        .map_err(map_err)?;
        row_user(&r)
    }

    async fn user_by_login(&self, login: &str) -> Result<UserWithSecret> {
        let r = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLS} FROM users t WHERE t.username = $1 OR t.email = $1 LIMIT 1"
        )))
        .bind(login)
        .fetch_one(&self.pool)
        .await
        .map_err(map_err)?;
        row_user(&r)
    }

    async fn list_users(&self, q: &UserQuery) -> Result<Page<User>> {
        let mut count = QueryBuilder::<Sqlite>::new("SELECT COUNT(*) FROM users t WHERE 1=1");
        push_user_filters(&mut count, q);
        let total: i64 = count
            .build_query_scalar()
            .fetch_one(&self.pool)
            .await
            .map_err(map_err)?;
        let mut items = Vec::new();
        if !q.page.only_total {
            let mut qb =
                QueryBuilder::<Sqlite>::new(format!("SELECT {COLS} FROM users t WHERE 1=1"));
            push_user_filters(&mut qb, q);
            list::push_order(&mut qb, &q.page);
            for r in qb.build().fetch_all(&self.pool).await.map_err(map_err)? {
                items.push(row_user(&r)?.user);
            }
        }
        Ok(Page {
            total: total as u64,
            offset: q.page.offset,
            limit: q.page.limit,
            items,
        })
    }

    async fn update_user(&self, u: &User) -> Result<()> {
        let res = sqlx::query(
            "UPDATE users SET first_name=$2, last_name=$3, email=$4, username=$5, tags=$6, \
             metadata=$7, private_metadata=$8, profile_picture=$9, status=$10, role=$11, \
             updated_at=$12, updated_by=$13, verified_at=$14, sort_at=$15 WHERE id=$1",
        )
        .bind(u.id.to_string())
        .bind(&u.first_name)
        .bind(&u.last_name)
        .bind(&u.email)
        .bind(&u.username)
        .bind(to_json(&u.tags))
        .bind(to_json(&u.metadata))
        .bind(to_json(&u.private_metadata))
        .bind(&u.profile_picture)
        .bind(i64::from(u.status.code()))
        .bind(i64::from(u.role.claim()))
        .bind(ts_opt(u.updated_at))
        .bind(u.updated_by.map(|x| x.to_string()))
        .bind(ts_opt(u.verified_at))
        .bind(sort_at(u.created_at, u.updated_at))
        .execute(&self.writer)
        .await
        .map_err(map_err)?;
        one(res)
    }

    async fn update_password(&self, uid: Uuid, hash: &str, at: Timestamp) -> Result<()> {
        let res =
            sqlx::query("UPDATE users SET password_hash=$2, updated_at=$3, sort_at=$3 WHERE id=$1")
                .bind(uid.to_string())
                .bind(hash)
                .bind(ts(at))
                .execute(&self.writer)
                .await
                .map_err(map_err)?;
        one(res)
    }

    async fn inactive_user_ids(&self) -> Result<Vec<Uuid>> {
        let rows: Vec<String> = sqlx::query_scalar("SELECT id FROM users WHERE status <> 0")
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?;
        rows.iter().map(|s| id(s)).collect()
    }

    async fn create_session(&self, s: &RefreshSession) -> Result<()> {
        sqlx::query(
            "INSERT INTO refresh_sessions (id, user_id, description, created_at, expires_at) \
             VALUES ($1,$2,$3,$4,$5)",
        )
        .bind(s.id.to_string())
        .bind(s.user_id.to_string())
        .bind(&s.description)
        .bind(ts(s.created_at))
        .bind(ts(s.expires_at))
        .execute(&self.writer)
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn session(&self, sid: Uuid) -> Result<RefreshSession> {
        let r = sqlx::query("SELECT * FROM refresh_sessions WHERE id = $1")
            .bind(sid.to_string())
            .fetch_one(&self.pool)
            .await
            .map_err(map_err)?;
        row_session(&r)
    }

    async fn list_sessions(&self, user: Uuid, now: Timestamp) -> Result<Vec<RefreshSession>> {
        let rows = sqlx::query(
            "SELECT * FROM refresh_sessions WHERE user_id = $1 AND expires_at > $2 ORDER BY created_at",
        )
        .bind(user.to_string())
        .bind(ts(now))
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        rows.iter().map(row_session).collect()
    }

    async fn delete_session(&self, user: Uuid, sid: Uuid) -> Result<()> {
        let res = sqlx::query("DELETE FROM refresh_sessions WHERE id = $1 AND user_id = $2")
            .bind(sid.to_string())
            .bind(user.to_string())
            .execute(&self.writer)
            .await
            .map_err(map_err)?;
        if res.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
