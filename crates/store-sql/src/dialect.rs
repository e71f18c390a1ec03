//! Where SQLite and PostgreSQL differ for the shared repositories, and nowhere else:
//! how ids, times, small integers and JSON are bound and read (SQLite keeps ids as text,
//! times as integer nanoseconds and JSON as text; PostgreSQL has `uuid`, `timestamptz`
//! and `jsonb`), case-insensitive substring match, JSON containment, tag filters, how a
//! write transaction begins, and which uniqueness rule a violation names.
//!
//! Statements are written once with `$N` placeholders (both drivers accept them) or
//! built with sqlx's `QueryBuilder`; values go through [`Val`] so that the generic code
//! never names a driver type.

use std::future::Future;

use serde::{Serialize, de::DeserializeOwned};
use serde_json::value::RawValue;
use sqlx::{
    Database, Encode, Pool, Postgres, QueryBuilder, Row, Sqlite, Type, error::DatabaseError,
    query::Query,
};
use switchyard_domain::{PageQuery, TagFilter, Timestamp};
use switchyard_store::{ConflictKind, Result, StoreError};
use uuid::Uuid;

/// A statement with its arguments, ready to run.
pub type Stmt<'q, D> = Query<'q, D, <D as Database>::Arguments>;

/// What a value can be bound to: a statement, or a query builder (its next `$N`).
pub trait Binds<DB: Database> {
    fn add<'t, T: Encode<'t, DB> + Type<DB>>(self, v: T) -> Self;
}

impl<DB: Database> Binds<DB> for Stmt<'_, DB> {
    fn add<'t, T: Encode<'t, DB> + Type<DB>>(self, v: T) -> Self {
        self.bind(v)
    }
}

impl<DB: Database> Binds<DB> for &mut QueryBuilder<DB> {
    fn add<'t, T: Encode<'t, DB> + Type<DB>>(self, v: T) -> Self {
        self.push_bind(v)
    }
}

/// A value to bind, in the store's terms.
#[derive(Debug, Clone, Copy)]
pub enum Val<'a> {
    Id(Uuid),
    OptId(Option<Uuid>),
    Text(&'a str),
    OptText(Option<&'a str>),
    /// Status, role, connection type, state: `smallint` / `INTEGER`.
    Small(i16),
    /// Limits, offsets, counts: `bigint` / `INTEGER`.
    Int(i64),
    Time(Timestamp),
    OptTime(Option<Timestamp>),
    /// A JSON document, already serialised.
    Json(&'a RawValue),
}

/// Where a statement runs: the pool, or an open transaction's connection.
pub enum Ex<'e, D: Database> {
    Pool(&'e Pool<D>),
    Conn(&'e mut D::Connection),
}

impl<'e, D: Database> From<&'e Pool<D>> for Ex<'e, D> {
    fn from(p: &'e Pool<D>) -> Self {
        Ex::Pool(p)
    }
}

impl<'e, D: Database> From<&'e mut sqlx::Transaction<'static, D>> for Ex<'e, D> {
    fn from(tx: &'e mut sqlx::Transaction<'static, D>) -> Self {
        Ex::Conn(&mut **tx)
    }
}

/// Serialises a value for a JSON column (maps, tag lists and id lists cannot fail).
pub fn json<T: Serialize + ?Sized>(v: &T) -> Box<RawValue> {
    serde_json::value::to_raw_value(v).unwrap_or_else(|_| {
        serde_json::value::to_raw_value(&serde_json::Value::Null).unwrap_or_default()
    })
}

/// What differs between the two databases. Implemented for [`Sqlite`] and [`Postgres`].
pub trait Dialect: Database + sqlx::database::HasStatementCache + Sized {
    /// `"sqlite"` or `"postgres"`.
    const BACKEND: &'static str;
    /// Bind parameters one statement may carry.
    const MAX_BINDS: usize;
    /// Rows one multi-row INSERT carries at most (SQLite: 1,000, the fastest size under the bench's bulk load).
    const MAX_INSERT_ROWS: usize;
    /// How a write transaction begins (SQLite takes the write lock up front).
    const BEGIN_WRITE: &'static str;
    /// Run once at shutdown so the database files hold everything (SQLite: fold the WAL
    /// into the main file).
    const FINAL_CHECKPOINT: Option<&'static str>;
    /// Run before `ANALYZE <table>` on the writer (SQLite: sample instead of reading
    /// whole indexes, so the single writer is not held for long).
    const ANALYZE_PREP: Option<&'static str>;
    /// Whether a list page with few matches is better selected first and then sorted
    /// (PostgreSQL) than read along the order's index (SQLite's planner already picks
    /// the filter's index when it is narrower).
    const FENCE_SMALL_LISTS: bool;
    /// Run after `ANALYZE` of table `$1`: merges what bulk writes left pending in its
    /// indexes (PostgreSQL's GIN pending lists, which every search reads in full).
    const ANALYZE_AFTER: Option<&'static str>;
    /// The bootstrap fetch's join condition: channel `c` is listed in config `b`'s JSON
    /// array of channel ids (joined on the channels' primary key alone).
    const CHANNEL_IN_CONFIG: &'static str;

    /// Binds `v` to a statement or a query builder, as this database stores it.
    fn bind_to<S: Binds<Self>>(s: S, v: Val<'_>) -> S;
    fn bind<'q>(q: Stmt<'q, Self>, v: Val<'_>) -> Stmt<'q, Self> {
        Self::bind_to(q, v)
    }
    fn push_bind(qb: &mut QueryBuilder<Self>, v: Val<'_>) {
        Self::bind_to(qb, v);
    }

    /// Runs a statement; the number of rows it changed.
    fn execute<'q, 'e>(
        q: Stmt<'q, Self>,
        ex: Ex<'e, Self>,
    ) -> impl Future<Output = std::result::Result<u64, sqlx::Error>> + Send + 'e
    where
        'q: 'e;
    fn fetch_all<'q, 'e>(
        q: Stmt<'q, Self>,
        ex: Ex<'e, Self>,
    ) -> impl Future<Output = std::result::Result<Vec<Self::Row>, sqlx::Error>> + Send + 'e
    where
        'q: 'e;

    fn id(r: &Self::Row, col: &str) -> Result<Uuid>;
    fn opt_id(r: &Self::Row, col: &str) -> Result<Option<Uuid>>;
    fn small(r: &Self::Row, col: &str) -> Result<i16>;
    fn opt_small(r: &Self::Row, col: &str) -> Result<Option<i16>>;
    fn time(r: &Self::Row, col: &str) -> Result<Timestamp>;
    fn opt_time(r: &Self::Row, col: &str) -> Result<Option<Timestamp>>;
    fn json<T: DeserializeOwned>(r: &Self::Row, col: &str) -> Result<T>;
    fn text(r: &Self::Row, col: &str) -> Result<String>;
    fn opt_text(r: &Self::Row, col: &str) -> Result<Option<String>>;
    /// A `bigint` (PostgreSQL) or `INTEGER` (SQLite): counts.
    fn int(r: &Self::Row, col: &str) -> Result<i64>;

    /// The uniqueness rule a database error broke, if it is a uniqueness violation.
    fn conflict(e: &dyn DatabaseError) -> Option<ConflictKind>;

    /// ` AND col LIKE %needle%`, case-insensitive for ASCII, wildcards escaped.
    fn push_ilike(qb: &mut QueryBuilder<Self>, col: &str, needle: &str);
    /// A boolean expression: the JSON document in `base` contains `needle` (PostgreSQL's
    /// `@>` semantics on both databases).
    fn push_contains(qb: &mut QueryBuilder<Self>, base: &str, needle: &serde_json::Value);
    /// ` AND` the tag array `t.tags` has any / all of the wanted tags.
    fn push_tags(qb: &mut QueryBuilder<Self>, tags: &TagFilter);
    /// ` AND …` narrowing a list of `table` (alias `t`) through its search indexes to a
    /// superset of what the filters of `p` select; the filters themselves still decide.
    /// PostgreSQL's planner reaches its indexes from the filters alone.
    fn push_prefilters(_qb: &mut QueryBuilder<Self>, _table: &str, _p: &PageQuery) {}

    /// The one place sqlx errors become store errors.
    fn err(e: sqlx::Error) -> StoreError {
        match &e {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::Database(db) => match Self::conflict(db.as_ref()) {
                Some(kind) => StoreError::Conflict { kind, index: None },
                None => StoreError::Other(e.to_string()),
            },
            _ => StoreError::Other(e.to_string()),
        }
    }
}

/// A statement being bound and run: `sql::<D>("… $1 …").id(x).all(&pool)`.
pub struct Sql<'q, D: Dialect>(Stmt<'q, D>);

/// A statement from static SQL with `$N` placeholders.
pub fn sql<D: Dialect>(s: &'static str) -> Sql<'static, D> {
    Sql(sqlx::query(s))
}

impl<'q, D: Dialect> From<Stmt<'q, D>> for Sql<'q, D> {
    fn from(q: Stmt<'q, D>) -> Self {
        Sql(q)
    }
}

impl<'q, D: Dialect> Sql<'q, D> {
    pub fn bind(self, v: Val<'_>) -> Self {
        Sql(D::bind(self.0, v))
    }
    pub fn id(self, v: Uuid) -> Self {
        self.bind(Val::Id(v))
    }
    pub fn opt_id(self, v: Option<Uuid>) -> Self {
        self.bind(Val::OptId(v))
    }
    pub fn text(self, v: &str) -> Self {
        self.bind(Val::Text(v))
    }
    pub fn opt_text(self, v: Option<&str>) -> Self {
        self.bind(Val::OptText(v))
    }
    pub fn small(self, v: i16) -> Self {
        self.bind(Val::Small(v))
    }
    pub fn time(self, v: Timestamp) -> Self {
        self.bind(Val::Time(v))
    }
    pub fn opt_time(self, v: Option<Timestamp>) -> Self {
        self.bind(Val::OptTime(v))
    }
    pub fn json<T: Serialize + ?Sized>(self, v: &T) -> Self {
        self.bind(Val::Json(&json(v)))
    }

    /// Runs it; the number of rows changed.
    pub async fn execute<'e>(self, ex: impl Into<Ex<'e, D>>) -> Result<u64>
    where
        'q: 'e,
    {
        D::execute(self.0, ex.into()).await.map_err(D::err)
    }

    /// Runs it; zero rows changed is `NotFound`.
    pub async fn execute_one<'e>(self, ex: impl Into<Ex<'e, D>>) -> Result<()>
    where
        'q: 'e,
    {
        match self.execute(ex).await? {
            0 => Err(StoreError::NotFound),
            _ => Ok(()),
        }
    }

    pub async fn fetch_all<'e>(self, ex: impl Into<Ex<'e, D>>) -> Result<Vec<D::Row>>
    where
        'q: 'e,
    {
        D::fetch_all(self.0, ex.into()).await.map_err(D::err)
    }

    pub async fn fetch_optional<'e>(self, ex: impl Into<Ex<'e, D>>) -> Result<Option<D::Row>>
    where
        'q: 'e,
    {
        Ok(self.fetch_all(ex).await?.into_iter().next())
    }

    /// The first row; none is `NotFound`.
    pub async fn fetch_one<'e>(self, ex: impl Into<Ex<'e, D>>) -> Result<D::Row>
    where
        'q: 'e,
    {
        self.fetch_optional(ex).await?.ok_or(StoreError::NotFound)
    }
}

/// ` VALUES (…), (…)`: one tuple per item, its values pushed by `f`.
pub fn push_values<D: Dialect, I: IntoIterator>(
    qb: &mut QueryBuilder<D>,
    items: I,
    mut f: impl FnMut(&mut Tuple<'_, D>, I::Item),
) {
    qb.push("VALUES ");
    for (i, item) in items.into_iter().enumerate() {
        qb.push(if i == 0 { "(" } else { ", (" });
        f(&mut Tuple { qb, first: true }, item);
        qb.push(")");
    }
}

/// The values of one tuple of [`push_values`].
pub struct Tuple<'a, D: Dialect> {
    qb: &'a mut QueryBuilder<D>,
    first: bool,
}

impl<D: Dialect> Tuple<'_, D> {
    pub fn v(&mut self, v: Val<'_>) -> &mut Self {
        if !self.first {
            self.qb.push(", ");
        }
        self.first = false;
        D::push_bind(self.qb, v);
        self
    }
}

/// ` IN (…)` over the values (at least one).
pub fn push_in<'a, D: Dialect>(qb: &mut QueryBuilder<D>, vals: impl IntoIterator<Item = Val<'a>>) {
    qb.push(" IN (");
    for (i, v) in vals.into_iter().enumerate() {
        if i > 0 {
            qb.push(", ");
        }
        D::push_bind(qb, v);
    }
    qb.push(")");
}

fn decode_err(col: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Other(format!("column {col}: {e}"))
}

/// `LIKE` pattern for a substring, with `\`, `%` and `_` escaped (`ESCAPE '\'`).
fn like_pattern(needle: &str) -> String {
    let escaped = needle
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// What both drivers spell the same way once the database is concrete.
macro_rules! shared_impl {
    () => {
        async fn execute<'q, 'e>(
            q: Stmt<'q, Self>,
            ex: Ex<'e, Self>,
        ) -> std::result::Result<u64, sqlx::Error>
        where
            'q: 'e,
        {
            let r = match ex {
                Ex::Pool(p) => q.execute(p).await?,
                Ex::Conn(c) => q.execute(c).await?,
            };
            Ok(r.rows_affected())
        }

        async fn fetch_all<'q, 'e>(
            q: Stmt<'q, Self>,
            ex: Ex<'e, Self>,
        ) -> std::result::Result<Vec<Self::Row>, sqlx::Error>
        where
            'q: 'e,
        {
            match ex {
                Ex::Pool(p) => q.fetch_all(p).await,
                Ex::Conn(c) => q.fetch_all(c).await,
            }
        }

        fn text(r: &Self::Row, col: &str) -> Result<String> {
            r.try_get(col).map_err(Self::err)
        }
        fn opt_text(r: &Self::Row, col: &str) -> Result<Option<String>> {
            r.try_get(col).map_err(Self::err)
        }
        fn int(r: &Self::Row, col: &str) -> Result<i64> {
            r.try_get(col).map_err(Self::err)
        }
    };
}

// ---------------------------------------------------------------------------------
// SQLite: ids as canonical text, times as i64 nanoseconds since the epoch (1677..2262),
// JSON as text.

/// A time as SQLite stores it.
pub(crate) fn nanos(t: Timestamp) -> i64 {
    i64::try_from(t.unix_timestamp_nanos()).unwrap_or(i64::MAX)
}

fn from_nanos(n: i64) -> Timestamp {
    Timestamp::from_unix_timestamp_nanos(i128::from(n)).unwrap_or(Timestamp::UNIX_EPOCH)
}

fn parse_id(col: &str, s: &str) -> Result<Uuid> {
    Uuid::parse_str(s).map_err(|e| decode_err(col, e))
}

impl Dialect for Sqlite {
    const BACKEND: &'static str = "sqlite";
    /// SQLite's default limit is 32766.
    const MAX_BINDS: usize = 32_766;
    const MAX_INSERT_ROWS: usize = 1000;
    const BEGIN_WRITE: &'static str = "BEGIN IMMEDIATE";
    const FINAL_CHECKPOINT: Option<&'static str> = Some("PRAGMA wal_checkpoint(TRUNCATE)");
    const ANALYZE_PREP: Option<&'static str> = Some("PRAGMA analysis_limit = 1000");
    const FENCE_SMALL_LISTS: bool = false;
    const ANALYZE_AFTER: Option<&'static str> = None;
    const CHANNEL_IN_CONFIG: &'static str = "c.id IN (SELECT value FROM json_each(b.channels))";

    fn bind_to<S: Binds<Self>>(s: S, v: Val<'_>) -> S {
        match v {
            Val::Id(u) => s.add(u.to_string()),
            Val::OptId(u) => s.add(u.map(|u| u.to_string())),
            Val::Text(t) => s.add(t.to_owned()),
            Val::OptText(t) => s.add(t.map(str::to_owned)),
            Val::Small(n) => s.add(i64::from(n)),
            Val::Int(n) => s.add(n),
            Val::Time(t) => s.add(nanos(t)),
            Val::OptTime(t) => s.add(t.map(nanos)),
            Val::Json(j) => s.add(j.get().to_owned()),
        }
    }

    shared_impl!();

    fn id(r: &Self::Row, col: &str) -> Result<Uuid> {
        parse_id(col, r.try_get::<&str, _>(col).map_err(Self::err)?)
    }
    fn opt_id(r: &Self::Row, col: &str) -> Result<Option<Uuid>> {
        r.try_get::<Option<&str>, _>(col)
            .map_err(Self::err)?
            .map(|s| parse_id(col, s))
            .transpose()
    }
    fn small(r: &Self::Row, col: &str) -> Result<i16> {
        let n: i64 = r.try_get(col).map_err(Self::err)?;
        i16::try_from(n).map_err(|e| decode_err(col, e))
    }
    fn opt_small(r: &Self::Row, col: &str) -> Result<Option<i16>> {
        let n: Option<i64> = r.try_get(col).map_err(Self::err)?;
        n.map(|n| i16::try_from(n).map_err(|e| decode_err(col, e)))
            .transpose()
    }
    fn time(r: &Self::Row, col: &str) -> Result<Timestamp> {
        Ok(from_nanos(r.try_get(col).map_err(Self::err)?))
    }
    fn opt_time(r: &Self::Row, col: &str) -> Result<Option<Timestamp>> {
        Ok(r.try_get::<Option<i64>, _>(col)
            .map_err(Self::err)?
            .map(from_nanos))
    }
    fn json<T: DeserializeOwned>(r: &Self::Row, col: &str) -> Result<T> {
        serde_json::from_str(r.try_get::<&str, _>(col).map_err(Self::err)?)
            .map_err(|e| decode_err(col, e))
    }

    fn conflict(e: &dyn DatabaseError) -> Option<ConflictKind> {
        let msg = e.message();
        if let Some(cols) = msg.strip_prefix("UNIQUE constraint failed: ") {
            Some(match cols {
                "users.email" => ConflictKind::UserEmail,
                "users.username" => ConflictKind::Username,
                "users.id" => ConflictKind::UserId,
                "domains.route" => ConflictKind::DomainRoute,
                "domains.id" => ConflictKind::DomainId,
                "clients.id" => ConflictKind::ClientId,
                "clients.domain_id, clients.secret" => ConflictKind::ClientSecret,
                "channels.id" => ConflictKind::ChannelId,
                "channels.domain_id, channels.route" => ConflictKind::ChannelRoute,
                "bootstrap_configs.external_id" => ConflictKind::ExternalId,
                "groups.id" => ConflictKind::GroupId,
                "roles.entity_id, roles.name" => ConflictKind::RoleName,
                _ => ConflictKind::Other,
            })
        } else if msg.contains("PRIMARY KEY") {
            Some(ConflictKind::Other)
        } else {
            None
        }
    }

    /// SQLite's LIKE folds ASCII case only.
    fn push_ilike(qb: &mut QueryBuilder<Self>, col: &str, needle: &str) {
        qb.push(format!(" AND {col} LIKE "));
        qb.push_bind(like_pattern(needle));
        qb.push(" ESCAPE '\\'");
    }

    fn push_contains(qb: &mut QueryBuilder<Self>, base: &str, needle: &serde_json::Value) {
        crate::sqlite::metadata::push_contains(qb, base, needle);
    }

    fn push_prefilters(qb: &mut QueryBuilder<Self>, table: &str, p: &PageQuery) {
        crate::sqlite::search::push_prefilters(qb, table, p);
    }

    fn push_tags(qb: &mut QueryBuilder<Self>, tags: &TagFilter) {
        match tags {
            TagFilter::Any(want) => {
                qb.push(" AND EXISTS (SELECT 1 FROM json_each(t.tags) tg WHERE tg.value");
                push_in(qb, want.iter().map(|w| Val::Text(w)));
                qb.push(")");
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
}

// ---------------------------------------------------------------------------------
// PostgreSQL: native uuid, timestamptz and jsonb.

impl Dialect for Postgres {
    const BACKEND: &'static str = "postgres";
    const MAX_BINDS: usize = 65_535;
    const MAX_INSERT_ROWS: usize = usize::MAX;
    const BEGIN_WRITE: &'static str = "BEGIN";
    const FINAL_CHECKPOINT: Option<&'static str> = None;
    const ANALYZE_PREP: Option<&'static str> = None;
    const FENCE_SMALL_LISTS: bool = true;
    const ANALYZE_AFTER: Option<&'static str> = Some(
        "SELECT gin_clean_pending_list(i.indexrelid) FROM pg_index i \
         JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam \
         WHERE a.amname = 'gin' AND i.indrelid = to_regclass($1)",
    );
    const CHANNEL_IN_CONFIG: &'static str =
        "c.id = ANY (ARRAY(SELECT jsonb_array_elements_text(b.channels)::uuid))";

    fn bind_to<S: Binds<Self>>(s: S, v: Val<'_>) -> S {
        match v {
            Val::Id(u) => s.add(u),
            Val::OptId(u) => s.add(u),
            Val::Text(t) => s.add(t.to_owned()),
            Val::OptText(t) => s.add(t.map(str::to_owned)),
            Val::Small(n) => s.add(n),
            Val::Int(n) => s.add(n),
            Val::Time(t) => s.add(t),
            Val::OptTime(t) => s.add(t),
            Val::Json(j) => s.add(sqlx::types::Json(j.to_owned())),
        }
    }

    shared_impl!();

    fn id(r: &Self::Row, col: &str) -> Result<Uuid> {
        r.try_get(col).map_err(Self::err)
    }
    fn opt_id(r: &Self::Row, col: &str) -> Result<Option<Uuid>> {
        r.try_get(col).map_err(Self::err)
    }
    fn small(r: &Self::Row, col: &str) -> Result<i16> {
        r.try_get(col).map_err(Self::err)
    }
    fn opt_small(r: &Self::Row, col: &str) -> Result<Option<i16>> {
        r.try_get(col).map_err(Self::err)
    }
    fn time(r: &Self::Row, col: &str) -> Result<Timestamp> {
        r.try_get(col).map_err(Self::err)
    }
    fn opt_time(r: &Self::Row, col: &str) -> Result<Option<Timestamp>> {
        r.try_get(col).map_err(Self::err)
    }
    fn json<T: DeserializeOwned>(r: &Self::Row, col: &str) -> Result<T> {
        r.try_get::<sqlx::types::Json<T>, _>(col)
            .map(|j| j.0)
            .map_err(Self::err)
    }

    fn conflict(e: &dyn DatabaseError) -> Option<ConflictKind> {
        if !e.is_unique_violation() {
            return None;
        }
        Some(match e.constraint().unwrap_or_default() {
            "users_email_key" => ConflictKind::UserEmail,
            "users_username_key" => ConflictKind::Username,
            "users_pkey" => ConflictKind::UserId,
            "domains_route_key" => ConflictKind::DomainRoute,
            "domains_pkey" => ConflictKind::DomainId,
            "clients_pkey" => ConflictKind::ClientId,
            "clients_domain_secret_key" => ConflictKind::ClientSecret,
            "channels_pkey" => ConflictKind::ChannelId,
            "channels_domain_route_key" => ConflictKind::ChannelRoute,
            "bootstrap_configs_external_id_key" => ConflictKind::ExternalId,
            "groups_pkey" => ConflictKind::GroupId,
            "roles_entity_name_key" => ConflictKind::RoleName,
            _ => ConflictKind::Other,
        })
    }

    /// The text columns use `COLLATE "C"`, so case folding is ASCII-only, as in SQLite.
    fn push_ilike(qb: &mut QueryBuilder<Self>, col: &str, needle: &str) {
        qb.push(format!(" AND {col} ILIKE "));
        qb.push_bind(like_pattern(needle));
        qb.push(" ESCAPE '\\'");
    }

    /// Native jsonb containment, served by the GIN (`jsonb_path_ops`) index.
    fn push_contains(qb: &mut QueryBuilder<Self>, base: &str, needle: &serde_json::Value) {
        qb.push(format!("({base} @> "));
        qb.push_bind(sqlx::types::Json(needle.clone()));
        qb.push("::jsonb)");
    }

    /// `?|` is "any of", `?&` is "all of".
    fn push_tags(qb: &mut QueryBuilder<Self>, tags: &TagFilter) {
        let (op, want) = match tags {
            TagFilter::Any(want) => ("?|", want),
            TagFilter::All(want) => ("?&", want),
        };
        qb.push(format!(" AND t.tags {op} "));
        qb.push_bind(want.clone());
        qb.push("::text[]");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_binds_the_containment_needle() {
        let mut qb = QueryBuilder::<Postgres>::new("SELECT ");
        Postgres::push_contains(&mut qb, "t.metadata", &serde_json::json!({"a": 1}));
        assert_eq!(qb.sql().as_str(), "SELECT (t.metadata @> $1::jsonb)");
    }

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_pattern("a%b_c\\"), "%a\\%b\\_c\\\\%");
    }

    #[test]
    fn sqlite_times_round_trip_in_nanoseconds() {
        let t = Timestamp::from_unix_timestamp_nanos(1_700_000_000_123_456_789).unwrap();
        assert_eq!(from_nanos(nanos(t)), t);
    }
}
