//! The scenarios. Each storage scenario runs once per backend against a server child
//! process with a fresh store; the baselines are measured in the same run.

use std::{
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use serde_json::{Map, Value, json};
use switchyard_domain::{Client, Domain, Status};
use switchyard_store::Store;
use switchyard_store_sql::{PostgresStore, SqliteStore};
use uuid::Uuid;

use crate::{
    load::{self, LoadResult, LoadSpec, MakeRequest},
    pg::PgDb,
    report::{Row, Target},
    server::ServerProc,
};

/// Largest bulk request the bench sends, and the server's SWITCHYARD_BULK_MAX.
pub const BULK_MAX: usize = 10_000;
/// SWITCHYARD_MAX_BODY_BYTES for the bench's servers.
pub const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct Config {
    pub quick: bool,
    pub workers: usize,
    /// Admin connection for creating and dropping databases; None skips PostgreSQL.
    pub postgres_url: Option<String>,
    pub server_bin: PathBuf,
    /// Scenarios to run (names from [`crate::report::SCENARIOS`]); empty runs them all.
    pub only: Vec<String>,
}

impl Config {
    /// Whether any of `scenarios` is to run.
    pub fn wants(&self, scenarios: &[&str]) -> bool {
        wanted(&self.only, scenarios)
    }
}

/// Whether any of `scenarios` is in `only` (an empty `only` wants every scenario).
pub fn wanted(only: &[String], scenarios: &[&str]) -> bool {
    only.is_empty() || scenarios.iter().any(|s| only.iter().any(|o| o == s))
}

pub use crate::report::{BULK_SCENARIOS, MQTT_SCENARIOS, STORAGE_SCENARIOS};

/// How much each scenario does.
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    pub total_clients: usize,
    pub batch: usize,
    pub warmup: Duration,
    pub duration: Duration,
    pub max_requests: u64,
    /// Upper bound on `POST /{domainID}/mapping` calls in the measured window (each
    /// creates a gateway: 1 client, 2 channels, 4 connections, 1 bootstrap config).
    pub max_mappings: u64,
    /// Idle MQTT connections opened for `mqtt_idle_connection_memory`.
    pub idle_connections: usize,
}

impl Sizes {
    pub fn for_mode(quick: bool) -> Sizes {
        if quick {
            Sizes {
                total_clients: 10_000,
                batch: 2_000,
                warmup: Duration::from_millis(500),
                duration: Duration::from_secs(3),
                max_requests: 2_000_000,
                max_mappings: 30_000,
                idle_connections: 2_000,
            }
        } else {
            Sizes {
                total_clients: 100_000,
                batch: BULK_MAX,
                warmup: Duration::from_secs(1),
                duration: Duration::from_secs(10),
                max_requests: 10_000_000,
                max_mappings: 150_000,
                idle_connections: 10_000,
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// What a run collects.
#[derive(Debug, Default)]
pub struct Outcome {
    pub rows: Vec<Row>,
    pub notes: Vec<String>,
    /// A scenario could not be measured.
    pub failed: bool,
}

impl Outcome {
    pub(crate) fn fail(&mut self, what: &str, e: impl std::fmt::Display) {
        self.failed = true;
        self.notes.push(format!("{what}: FAILED: {e}"));
    }
}

pub fn http_client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(256)
        .timeout(Duration::from_secs(120))
        .build()
        .map_err(|e| e.to_string())
}

const MB: f64 = 1_000_000.0;

/// footprint: binary size, cold start to ready, idle RSS of `switchyard serve` with the
/// default settings (SQLite in a fresh data directory).
pub async fn footprint(cfg: &Config, http: &reqwest::Client, out: &mut Outcome) {
    match std::fs::metadata(&cfg.server_bin) {
        Ok(m) => out.rows.push(Row::new(
            "footprint",
            "-",
            m.len() as f64 / MB,
            "MB binary",
            None,
            None,
        )),
        Err(e) => out.fail("footprint binary size", e),
    }
    let mut srv = match ServerProc::spawn(&cfg.server_bin, &[]) {
        Ok(s) => s,
        Err(e) => return out.fail("footprint", e),
    };
    let ready = match srv.wait_ready(http, Duration::from_secs(30)).await {
        Ok(d) => d,
        Err(e) => return out.fail("footprint", e),
    };
    out.rows.push(Row::new(
        "footprint",
        "sqlite",
        ready.as_secs_f64(),
        "s cold start",
        None,
        Some(Target::value_at_most(0.5)),
    ));
    tokio::time::sleep(Duration::from_secs(1)).await;
    match srv.rss_bytes() {
        Some(b) => out.rows.push(Row::new(
            "footprint",
            "sqlite",
            b as f64 / MB,
            "MB idle RSS",
            None,
            Some(Target::value_at_most(30.0)),
        )),
        None => out.fail("footprint idle RSS", "cannot read VmRSS from /proc"),
    }
    srv.stop();
}

fn item_name(i: usize) -> String {
    format!("dev-{i:06}")
}

fn item_metadata(i: usize, batch_no: usize) -> Map<String, Value> {
    let kind = if i.is_multiple_of(2) {
        "sensor"
    } else {
        "actuator"
    };
    let mut m = Map::new();
    m.insert("kind".into(), json!(kind));
    m.insert("batch".into(), json!(batch_no));
    m.insert("seq".into(), json!(i));
    m
}

/// Raw insert straight into the store: the same rows, one transaction per batch.
async fn raw_insert<S: Store>(st: &S, sizes: Sizes) -> Result<Duration, String> {
    let user = Uuid::new_v4();
    let now = time::OffsetDateTime::now_utc();
    let domain = Domain {
        id: Uuid::new_v4(),
        name: "bench".into(),
        route: "bench".into(),
        tags: vec![],
        metadata: Map::new(),
        status: Status::Enabled,
        created_by: user,
        created_at: now,
        updated_at: None,
        updated_by: None,
    };
    st.create_domain(&domain)
        .await
        .map_err(|e| format!("create_domain: {e}"))?;
    let batches: Vec<Vec<Client>> = (0..sizes.total_clients)
        .collect::<Vec<_>>()
        .chunks(sizes.batch)
        .enumerate()
        .map(|(b, idx)| {
            idx.iter()
                .map(|&i| Client {
                    id: Uuid::new_v4(),
                    domain_id: domain.id,
                    name: item_name(i),
                    tags: vec!["bench".into()],
                    metadata: item_metadata(i, b),
                    private_metadata: Map::new(),
                    secret: Uuid::new_v4().to_string(),
                    status: Status::Enabled,
                    parent_group_id: None,
                    created_by: user,
                    // Read per client, as the server does: the timestamp indexes then
                    // grow in order rather than falling back to the random ids.
                    created_at: time::OffsetDateTime::now_utc(),
                    updated_at: None,
                    updated_by: None,
                })
                .collect()
        })
        .collect();
    let t = Instant::now();
    for b in &batches {
        st.create_clients(b)
            .await
            .map_err(|e| format!("create_clients: {e}"))?;
    }
    Ok(t.elapsed())
}

async fn baseline_insert(backend: Backend, cfg: &Config, sizes: Sizes) -> Result<Duration, String> {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::Builder::new()
                .prefix("switchyard-bench-")
                .tempdir()
                .map_err(|e| format!("temp dir: {e}"))?;
            let url = format!("sqlite://{}", dir.path().join("baseline.db").display());
            let st = SqliteStore::open(&url)
                .await
                .map_err(|e| format!("open {url}: {e}"))?;
            let r = raw_insert(&st, sizes).await;
            st.pool().close().await;
            r
        }
        Backend::Postgres => {
            let admin = cfg.postgres_url.as_deref().ok_or("no PostgreSQL URL")?;
            let db = PgDb::create(admin, "raw").await?;
            let r = match PostgresStore::open(&db.url).await {
                Ok(st) => {
                    let r = raw_insert(&st, sizes).await;
                    st.pool().close().await;
                    r
                }
                Err(e) => Err(format!("open {}: {e}", db.name)),
            };
            db.drop_now().await?;
            r
        }
    }
}

/// A user of the bench's server: its token and its domain.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub(crate) base: String,
    pub(crate) auth: HeaderValue,
    pub(crate) domain: String,
}

/// The response body when the status is `want`; an error naming `what` otherwise.
pub(crate) async fn expect_status(
    r: Result<reqwest::Response, reqwest::Error>,
    what: &str,
    want: u16,
) -> Result<Vec<u8>, String> {
    let r = r.map_err(|e| format!("{what}: {e}"))?;
    let status = r.status();
    let body = r.bytes().await.map_err(|e| format!("{what}: {e}"))?;
    if status.as_u16() != want {
        return Err(format!(
            "{what}: HTTP {status} (wanted {want}): {}",
            String::from_utf8_lossy(&body[..body.len().min(300)])
        ));
    }
    Ok(body.to_vec())
}

pub(crate) async fn expect_json(
    r: Result<reqwest::Response, reqwest::Error>,
    what: &str,
    want: u16,
) -> Result<Value, String> {
    let body = expect_status(r, what, want).await?;
    serde_json::from_slice(&body).map_err(|e| format!("{what}: response is not JSON: {e}"))
}

/// Registers a regular user and logs in: their id and `Authorization` header.
pub(crate) async fn new_user(
    http: &reqwest::Client,
    base: &str,
    username: &str,
) -> Result<(String, HeaderValue), String> {
    let password = format!("pw-{}", Uuid::new_v4().simple());
    let u = expect_json(
        http.post(format!("{base}/users"))
            .json(&json!({
                "first_name": "Bench",
                "last_name": "User",
                "email": format!("{username}@example.com"),
                "credentials": {"username": username, "secret": password},
            }))
            .send()
            .await,
        "POST /users",
        201,
    )
    .await?;
    let id = u["id"]
        .as_str()
        .ok_or("no id in the user response")?
        .to_string();
    let tok = expect_json(
        http.post(format!("{base}/users/tokens/issue"))
            .json(&json!({"username": username, "password": password}))
            .send()
            .await,
        "POST /users/tokens/issue",
        201,
    )
    .await?;
    let access = tok["access_token"]
        .as_str()
        .ok_or("no access_token in the token response")?;
    let auth = HeaderValue::from_str(&format!("Bearer {access}")).map_err(|e| e.to_string())?;
    Ok((id, auth))
}

/// Registers a regular user, logs in, and creates a domain the user administers.
pub(crate) async fn setup(http: &reqwest::Client, base: &str) -> Result<Session, String> {
    let (_, auth) = new_user(http, base, "bench").await?;
    let d = expect_json(
        http.post(format!("{base}/domains"))
            .header(AUTHORIZATION, auth.clone())
            .json(&json!({"name": "bench", "route": "bench"}))
            .send()
            .await,
        "POST /domains",
        201,
    )
    .await?;
    let domain = d["id"]
        .as_str()
        .ok_or("no id in the domain response")?
        .to_string();
    Ok(Session {
        base: base.into(),
        auth,
        domain,
    })
}

/// POSTs the batches one after the other; returns the time taken and the created ids.
async fn bulk_via_api(
    http: &reqwest::Client,
    s: &Session,
    sizes: Sizes,
) -> Result<(Duration, Vec<String>), String> {
    let url = format!("{}/{}/clients/bulk", s.base, s.domain);
    let bodies: Vec<Vec<u8>> = (0..sizes.total_clients)
        .collect::<Vec<_>>()
        .chunks(sizes.batch)
        .enumerate()
        .map(|(b, idx)| {
            let items: Vec<Value> = idx
                .iter()
                .map(|&i| json!({"name": item_name(i), "tags": ["bench"], "metadata": item_metadata(i, b)}))
                .collect();
            serde_json::to_vec(&items).unwrap_or_default()
        })
        .collect();
    let mut responses = Vec::with_capacity(bodies.len());
    let t = Instant::now();
    for (n, body) in bodies.into_iter().enumerate() {
        let r = http
            .post(&url)
            .header(AUTHORIZATION, s.auth.clone())
            .header(CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| format!("batch {n}: {e}"))?;
        let status = r.status();
        let bytes = r.bytes().await.map_err(|e| format!("batch {n}: {e}"))?;
        if !status.is_success() {
            return Err(format!(
                "batch {n}: HTTP {status}: {}",
                String::from_utf8_lossy(&bytes[..bytes.len().min(300)])
            ));
        }
        responses.push(bytes);
    }
    let took = t.elapsed();
    let mut ids = Vec::with_capacity(sizes.total_clients);
    for (n, b) in responses.iter().enumerate() {
        let v: Value = serde_json::from_slice(b)
            .map_err(|e| format!("batch {n}: response is not JSON: {e}"))?;
        let got = v["clients"].as_array().map(Vec::len).unwrap_or(0);
        if got != sizes.batch.min(sizes.total_clients - n * sizes.batch) {
            return Err(format!("batch {n}: {got} clients in the response"));
        }
        ids.extend(
            v["clients"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c["id"].as_str().map(str::to_string)),
        );
    }
    Ok((took, ids))
}

pub(crate) async fn list_total(
    http: &reqwest::Client,
    s: &Session,
    query: &[(&str, &str)],
) -> Result<(u64, usize), String> {
    let v = expect_json(
        http.get(format!("{}/{}/clients", s.base, s.domain))
            .header(AUTHORIZATION, s.auth.clone())
            .query(query)
            .send()
            .await,
        "GET clients",
        200,
    )
    .await?;
    let total = v["total"].as_u64().ok_or("no total in the page")?;
    let items = v["clients"].as_array().map(Vec::len).unwrap_or(0);
    Ok((total, items))
}

pub(crate) fn load_note(out: &mut Outcome, what: &str, r: &LoadResult) {
    if r.errors > 0 {
        out.notes.push(format!(
            "{what}: {} of {} requests failed; first: {}",
            r.errors,
            r.errors + r.ok,
            r.first_error.as_deref().unwrap_or("?")
        ));
    }
}

/// GET /health figures that the request-rate scenarios are compared with.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Health {
    pub(crate) rps: Option<f64>,
    pub(crate) p99: Option<f64>,
}

/// The api_list queries. Names are dev-NNNNNN, so `dev-NNNN` matches 100 of them and
/// half of those are sensors: every query matches 50 clients, and the page shows 10.
pub(crate) fn list_urls(session: &Session, sizes: Sizes) -> Vec<String> {
    let groups = (sizes.total_clients / 100).max(1);
    let metadata = r#"{"kind":"sensor"}"#;
    (0..groups)
        .map(|g| {
            let q = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("limit", "10")
                .append_pair("name", &format!("dev-{g:04}"))
                .append_pair("metadata", metadata)
                .finish();
            format!("{}/{}/clients?{q}", session.base, session.domain)
        })
        .collect()
}

/// api_read and api_list over the clients created by bulk_provisioning; returns
/// api_list's rate.
#[allow(clippy::too_many_arguments)]
async fn reads(
    b: &str,
    sizes: Sizes,
    spec: LoadSpec,
    http: &reqwest::Client,
    session: &Session,
    ids: &[String],
    base: Health,
    out: &mut Outcome,
) -> Option<f64> {
    eprintln!("[{b}] api_read: GET /{{domainID}}/clients/{{id}}");
    let mut list_rps = None;
    let step = (ids.len() / 10_000).max(1);
    let read_urls: Arc<Vec<String>> = Arc::new(
        ids.iter()
            .step_by(step)
            .map(|id| format!("{}/{}/clients/{id}", session.base, session.domain))
            .collect(),
    );
    if read_urls.is_empty() {
        out.fail(&format!("api_read/{b}"), "no client ids");
    } else {
        let (h, auth, urls) = (http.clone(), session.auth.clone(), read_urls.clone());
        let make: MakeRequest = Arc::new(move |r| {
            h.get(&urls[(r % urls.len() as u64) as usize])
                .header(AUTHORIZATION, auth.clone())
        });
        let read = load::run(spec, make).await;
        load_note(out, &format!("api_read/{b}"), &read);
        if read.ok > 0 {
            out.rows.push(Row::new(
                "api_read",
                b,
                read.rps(),
                "req/s",
                base.rps,
                Some(Target::ratio_at_least(0.5)),
            ));
            out.rows.push(Row::new(
                "api_read",
                b,
                read.percentile_ms(99.0),
                "ms p99",
                base.p99,
                None,
            ));
        } else {
            out.fail(&format!("api_read/{b}"), "no successful request");
        }
    }

    let metadata = r#"{"kind":"sensor"}"#;
    let list_urls = list_urls(session, sizes);
    eprintln!(
        "[{b}] api_list: GET /{{domainID}}/clients?limit=10&name=..&metadata=.. over {} clients",
        sizes.total_clients
    );
    match list_total(
        http,
        session,
        &[
            ("limit", "10"),
            ("name", "dev-0001"),
            ("metadata", metadata),
        ],
    )
    .await
    {
        Ok((50, 10)) => {
            let (h, auth, urls) = (http.clone(), session.auth.clone(), Arc::new(list_urls));
            let make: MakeRequest = Arc::new(move |r| {
                h.get(&urls[(r % urls.len() as u64) as usize])
                    .header(AUTHORIZATION, auth.clone())
            });
            let list = load::run(spec, make).await;
            load_note(out, &format!("api_list/{b}"), &list);
            if list.ok > 0 {
                list_rps = Some(list.rps());
                out.rows
                    .push(Row::new("api_list", b, list.rps(), "req/s", base.rps, None));
                out.rows.push(Row::new(
                    "api_list",
                    b,
                    list.percentile_ms(99.0),
                    "ms p99",
                    base.p99,
                    None,
                ));
            } else {
                out.fail(&format!("api_list/{b}"), "no successful request");
            }
        }
        Ok((t, n)) => out.fail(
            &format!("api_list/{b}"),
            format!(
                "the filter matched total={t} with {n} items on the page; expected total=50 with 10"
            ),
        ),
        Err(e) => out.fail(&format!("api_list/{b}"), e),
    }
    list_rps
}

/// bulk_provisioning, api_read and api_list, then the device-facing scenarios
/// (mapping, bootstrap_fetch, http_publish), on one backend.
pub async fn storage(
    backend: Backend,
    cfg: &Config,
    sizes: Sizes,
    http: &reqwest::Client,
    out: &mut Outcome,
) {
    let b = backend.name();
    if !cfg.wants(STORAGE_SCENARIOS) {
        return;
    }
    let bulk = cfg.wants(BULK_SCENARIOS);
    let raw = if bulk {
        eprintln!(
            "[{b}] baseline: raw insert of {} clients",
            sizes.total_clients
        );
        match baseline_insert(backend, cfg, sizes).await {
            Ok(d) => Some(d),
            Err(e) => {
                out.fail(&format!("bulk_provisioning/{b} baseline"), e);
                None
            }
        }
    } else {
        None
    };

    let db = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => {
            match PgDb::create(cfg.postgres_url.as_deref().unwrap_or_default(), "api").await {
                Ok(db) => Some(db),
                Err(e) => return out.fail(&format!("{b} server database"), e),
            }
        }
    };
    let mut env = vec![
        ("SWITCHYARD_BULK_MAX", BULK_MAX.to_string()),
        ("SWITCHYARD_MAX_BODY_BYTES", MAX_BODY_BYTES.to_string()),
        (
            "MG_USERS_ADMIN_PASSWORD",
            format!("adm-{}", Uuid::new_v4().simple()),
        ),
        ("SWITCHYARD_LOG", "warn".to_string()),
        // The per-source limit on /mapping and the bootstrap fetch (20/s by default)
        // would otherwise measure itself: every request comes from 127.0.0.1.
        (
            "SWITCHYARD_DEVICE_RATE_LIMIT",
            crate::device::DEVICE_RATE_LIMIT.to_string(),
        ),
    ];
    if let Some(db) = &db {
        env.push(("SWITCHYARD_DATABASE_URL", db.url.clone()));
    }
    let mut srv = match ServerProc::spawn(&cfg.server_bin, &env) {
        Ok(s) => s,
        Err(e) => return out.fail(&format!("{b} server"), e),
    };
    if let Err(e) = srv.wait_ready(http, Duration::from_secs(60)).await {
        return out.fail(&format!("{b} server"), e);
    }
    let session = match setup(http, &srv.base).await {
        Ok(s) => s,
        Err(e) => return out.fail(&format!("{b} setup"), e),
    };

    let bulk_done = if bulk {
        eprintln!(
            "[{b}] bulk_provisioning: {} clients in batches of {}",
            sizes.total_clients, sizes.batch
        );
        Some(bulk_via_api(http, &session, sizes).await)
    } else {
        None
    };
    let ids = match bulk_done {
        None => None,
        Some(Ok((took, ids))) => {
            let rate = sizes.total_clients as f64 / took.as_secs_f64();
            let base = raw.map(|d| sizes.total_clients as f64 / d.as_secs_f64());
            out.rows.push(Row::new(
                "bulk_provisioning",
                b,
                rate,
                "clients/s",
                base,
                Some(Target::ratio_at_least(0.5)),
            ));
            Some(ids)
        }
        Some(Err(e)) => {
            // The device scenarios below do not need these clients.
            out.fail(&format!("bulk_provisioning/{b}"), e);
            None
        }
    };
    if ids.is_some() {
        match list_total(http, &session, &[("limit", "1")]).await {
            Ok((t, _)) if t == sizes.total_clients as u64 => {}
            Ok((t, _)) => out.notes.push(format!(
                "bulk_provisioning/{b}: the domain lists {t} clients after creating {}",
                sizes.total_clients
            )),
            Err(e) => out
                .notes
                .push(format!("bulk_provisioning/{b}: listing after bulk: {e}")),
        }
    }

    let spec = LoadSpec {
        workers: cfg.workers,
        warmup: sizes.warmup,
        duration: sizes.duration,
        max_requests: sizes.max_requests,
    };
    // Right after the load, before anything else touches the database.
    if let Some(ids) = &ids
        && cfg.wants(&["api_list_channel"])
    {
        crate::fresh::run(b, spec, http, &session, ids, out).await;
    }

    eprintln!(
        "[{b}] baseline: GET /health, {} workers, {:?}",
        spec.workers, spec.duration
    );
    let health_url = format!("{}/health", session.base);
    let h = http.clone();
    let health = load::run(spec, Arc::new(move |_| h.get(&health_url))).await;
    load_note(out, &format!("health/{b}"), &health);
    let base = if health.ok > 0 {
        Health {
            rps: Some(health.rps()),
            p99: Some(health.percentile_ms(99.0)),
        }
    } else {
        Health::default()
    };

    if let Some(ids) = ids
        && cfg.wants(&["api_read", "api_list", "api_list_shared", "api_read_shared"])
    {
        let list_rps = reads(b, sizes, spec, http, &session, &ids, base, out).await;
        if cfg.wants(&["api_list_shared", "api_read_shared"]) {
            crate::shared::run(b, sizes, spec, http, &session, &ids, list_rps, base, out).await;
        }
    }
    crate::device::run(cfg, backend, sizes, spec, http, &session, base, out).await;

    if let Some(peak) = srv.peak_rss_bytes() {
        let mapped = match backend {
            Backend::Sqlite => {
                " and the memory-mapped database, which RSS counts once per connection although the OS page cache holds one copy"
            }
            Backend::Postgres => "",
        };
        let anon = srv
            .peak_anon_bytes()
            .map(|a| {
                format!(
                    "; private (anonymous) memory at most {:.1} MB, sampled every 250 ms: the rest is file pages, the binary{mapped}",
                    a as f64 / MB
                )
            })
            .unwrap_or_default();
        let stored = if bulk {
            format!(" ({} clients stored)", sizes.total_clients)
        } else {
            String::new()
        };
        out.notes.push(format!(
            "{b}: server peak RSS over the run {:.1} MB{stored}{anon}",
            peak as f64 / MB
        ));
    }
    stop_server(out, b, srv, db).await;
}

/// Notes the WARN/ERROR lines the server logged, if any.
pub(crate) fn server_problems(out: &mut Outcome, what: &str, srv: &ServerProc) {
    let problems = srv.log_problems();
    if !problems.is_empty() {
        out.notes.push(format!(
            "{what}: the server logged {} warning/error lines; first: {}",
            problems.len(),
            problems[0]
        ));
    }
}

/// Notes the server's problems, stops it and drops its database, if it had one.
pub(crate) async fn stop_server(out: &mut Outcome, what: &str, srv: ServerProc, db: Option<PgDb>) {
    server_problems(out, what, &srv);
    srv.stop();
    if let Some(db) = db
        && let Err(e) = db.drop_now().await
    {
        out.notes
            .push(format!("{what}: could not drop the database: {e}"));
    }
}
