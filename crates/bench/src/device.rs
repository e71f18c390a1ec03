//! The device-facing scenarios, run on the storage scenarios' server after api_list:
//! `mapping` (`POST /{domainID}/mapping`), `bootstrap_fetch`
//! (`GET /clients/bootstrap/{externalID}`) and `http_publish`
//! (`POST /m/{domainID}/c/{channelID}`).

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use serde_json::json;
use uuid::Uuid;

use crate::{
    load::{self, LoadSpec, MakeRequest},
    report::{Row, Target},
    scenarios::{
        Backend, Config, Health, Outcome, Session, Sizes, expect_json, expect_status, load_note,
    },
};

/// SWITCHYARD_DEVICE_RATE_LIMIT for the bench's servers: 0 turns the per-source limit
/// on /mapping and the bootstrap fetch off (default 20/s, and all bench traffic comes
/// from 127.0.0.1).
pub const DEVICE_RATE_LIMIT: u32 = 0;
/// Concurrent `POST /{domainID}/mapping` callers for the rows with targets.
pub const MAPPING_CALLERS: usize = 8;
/// Callers of the second, saturating run (rows without targets): on 2 cores the server
/// and the load generator then want more CPU than there is, and the p99 shows the OS
/// scheduler's waits as much as the server.
pub const MAPPING_CALLERS_SATURATED: usize = 16;
/// The external key of every gateway the bench provisions.
pub const EXTERNAL_KEY: &str = "k";
/// Distinct gateways the bootstrap fetch cycles over (at most).
pub const FETCH_IDS: u64 = 10_000;
/// The message `http_publish` sends.
pub const PUBLISH_PAYLOAD: &str = r#"[{"bn":"bench:","n":"temp","u":"Cel","v":23.5}]"#;

/// Statements one `POST /{domainID}/mapping` issues once the caller's domain access is
/// cached, read off the code path (store `provision()` with the default layout). On
/// SQLite, for a gateway committed alone: BEGIN IMMEDIATE, one multi-row INSERT each for
/// clients, channels, connections and bootstrap configs, COMMIT, sent to the writer as
/// one statement list; gateways queued at the same moment share those 6 (each INSERT
/// carries all their rows), so 6 is the upper bound. On PostgreSQL: BEGIN, the same four
/// INSERTs, COMMIT. The first call in a domain adds up to 2 reads (member role, domain
/// status). Used for the `sqlite` row, which cannot be measured (SQLite has no statement
/// counter outside the server process); the `postgres` row is measured (see `sqlcount`).
pub const MAPPING_STATEMENTS_CODE_PATH: f64 = 6.0;

pub(crate) fn mapping_request(
    http: &reqwest::Client,
    s: &Session,
    run: &str,
    n: u64,
) -> reqwest::RequestBuilder {
    http.post(format!("{}/{}/mapping", s.base, s.domain))
        .header(AUTHORIZATION, s.auth.clone())
        .json(&json!({
            "name": format!("gw-{n}"),
            "external_id": external_id(run, n),
            "external_key": EXTERNAL_KEY,
        }))
}

pub fn external_id(run: &str, n: u64) -> String {
    format!("ext-{run}-{n}")
}

/// A short id that keeps this run's external ids apart from any other's.
pub fn run_id() -> String {
    Uuid::new_v4().simple().to_string()[..8].to_string()
}

/// One mapping call, checked: 201 with the default layout's 1 client and 2 channels.
pub(crate) async fn map_one(
    http: &reqwest::Client,
    s: &Session,
    run: &str,
    n: u64,
) -> Result<(), String> {
    let v = expect_json(
        mapping_request(http, s, run, n).send().await,
        "POST /{domainID}/mapping",
        201,
    )
    .await?;
    let clients = v["clients"].as_array().map(Vec::len).unwrap_or(0);
    let channels = v["channels"].as_array().map(Vec::len).unwrap_or(0);
    if (clients, channels) != (1, 2) {
        return Err(format!(
            "mapping created {clients} clients and {channels} channels; the default layout has 1 and 2"
        ));
    }
    Ok(())
}

/// `Authorization: Client <external key>`.
pub fn fetch_auth() -> HeaderValue {
    HeaderValue::from_str(&format!("Client {EXTERNAL_KEY}"))
        .unwrap_or_else(|_| HeaderValue::from_static("Client"))
}

pub fn fetch_request(
    http: &reqwest::Client,
    url: &str,
    auth: &HeaderValue,
) -> reqwest::RequestBuilder {
    http.get(url).header(AUTHORIZATION, auth.clone())
}

/// One bootstrap fetch, checked: 200 with a client secret and the 2 channels.
pub(crate) async fn fetch_one(http: &reqwest::Client, url: &str) -> Result<(), String> {
    let v = expect_json(
        fetch_request(http, url, &fetch_auth()).send().await,
        "GET /clients/bootstrap/{externalID}",
        200,
    )
    .await?;
    let channels = v["channels"].as_array().map(Vec::len).unwrap_or(0);
    if v["client_secret"].as_str().is_none_or(str::is_empty) || channels != 2 {
        return Err(format!(
            "the bootstrap answer lacks the client secret or the 2 channels: {v}"
        ));
    }
    Ok(())
}

/// Where and how `http_publish` publishes.
pub(crate) struct PublishTarget {
    pub(crate) url: String,
    pub(crate) auth: HeaderValue,
}

/// Creates a client and a channel through the API and connects them for publish.
pub(crate) async fn publish_target(
    http: &reqwest::Client,
    s: &Session,
) -> Result<PublishTarget, String> {
    let c = expect_json(
        http.post(format!("{}/{}/clients", s.base, s.domain))
            .header(AUTHORIZATION, s.auth.clone())
            .json(&json!({"name": "bench-publisher"}))
            .send()
            .await,
        "POST /{domainID}/clients",
        201,
    )
    .await?;
    let client_id = c["id"].as_str().ok_or("no id in the client response")?;
    let secret = c["credentials"]["secret"]
        .as_str()
        .filter(|x| !x.is_empty())
        .ok_or("no credentials.secret in the client response")?;
    let ch = expect_json(
        http.post(format!("{}/{}/channels", s.base, s.domain))
            .header(AUTHORIZATION, s.auth.clone())
            .json(&json!({"name": "bench-telemetry"}))
            .send()
            .await,
        "POST /{domainID}/channels",
        201,
    )
    .await?;
    let channel_id = ch["id"].as_str().ok_or("no id in the channel response")?;
    expect_status(
        http.post(format!("{}/{}/channels/connect", s.base, s.domain))
            .header(AUTHORIZATION, s.auth.clone())
            .json(&json!({
                "channel_ids": [channel_id],
                "client_ids": [client_id],
                "types": ["publish"],
            }))
            .send()
            .await,
        "POST /{domainID}/channels/connect",
        201,
    )
    .await?;
    Ok(PublishTarget {
        url: format!("{}/m/{}/c/{channel_id}", s.base, s.domain),
        auth: HeaderValue::from_str(&format!("Client {secret}")).map_err(|e| e.to_string())?,
    })
}

pub(crate) fn publish_request(
    http: &reqwest::Client,
    t: &PublishTarget,
) -> reqwest::RequestBuilder {
    http.post(&t.url)
        .header(AUTHORIZATION, t.auth.clone())
        .header(CONTENT_TYPE, "application/json")
        .body(PUBLISH_PAYLOAD)
}

/// One publish, checked: exactly 202.
pub(crate) async fn publish_one(http: &reqwest::Client, t: &PublishTarget) -> Result<(), String> {
    expect_status(
        publish_request(http, t).send().await,
        "POST /m/{domainID}/c/{channelID}",
        202,
    )
    .await
    .map(|_| ())
}

/// mapping, bootstrap_fetch and http_publish on the given server.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn run(
    cfg: &Config,
    backend: Backend,
    sizes: Sizes,
    spec: LoadSpec,
    http: &reqwest::Client,
    s: &Session,
    base: Health,
    out: &mut Outcome,
) {
    let b = backend.name();
    // bootstrap_fetch fetches the gateways mapping creates.
    if cfg.wants(&["mapping", "bootstrap_fetch"]) {
        out.notes.push(format!(
            "{b}: mapping and bootstrap_fetch ran against a server with SWITCHYARD_DEVICE_RATE_LIMIT={DEVICE_RATE_LIMIT} (per-source limit off; the default 20/s per IP would cap them)"
        ));
        let run = run_id();
        // Every mapping call takes the next number, so the external ids stay unique.
        let next = Arc::new(AtomicU64::new(0));
        let mapped = mapping(b, backend, sizes, http, s, &run, &next, out).await;
        bootstrap_fetch(b, spec, http, s, &run, mapped, base, out).await;
    }
    if cfg.wants(&["http_publish"]) {
        http_publish(b, spec, http, s, base, out).await;
    }
}

/// Runs the mapping load; returns how many gateways were requested (numbers 0..n), or
/// None when not even the first one could be created.
#[allow(clippy::too_many_arguments)]
async fn mapping(
    b: &str,
    backend: Backend,
    sizes: Sizes,
    http: &reqwest::Client,
    s: &Session,
    run: &str,
    next: &Arc<AtomicU64>,
    out: &mut Outcome,
) -> Option<u64> {
    let spec = LoadSpec {
        workers: MAPPING_CALLERS,
        warmup: sizes.warmup,
        duration: sizes.duration,
        max_requests: sizes.max_mappings,
    };
    eprintln!(
        "[{b}] mapping: POST /{{domainID}}/mapping, {} callers, {:?}",
        spec.workers, spec.duration
    );
    // Checks the answer once; also fills the domain-access cache (2 reads), as the
    // warm-up would.
    if let Err(e) = map_one(http, s, run, next.fetch_add(1, Ordering::Relaxed)).await {
        out.fail(&format!("mapping/{b}"), e);
        return None;
    }
    // Every call takes the next number, so the external ids stay unique across runs.
    let load_with = |spec: LoadSpec| {
        let (h, sess, r, n) = (http.clone(), s.clone(), run.to_string(), next.clone());
        let make: MakeRequest =
            Arc::new(move |_| mapping_request(&h, &sess, &r, n.fetch_add(1, Ordering::Relaxed)));
        load::run(spec, make)
    };
    let res = load_with(spec).await;
    load_note(out, &format!("mapping/{b}"), &res);
    if res.ok == 0 {
        out.fail(&format!("mapping/{b}"), "no successful request");
        return Some(next.load(Ordering::Relaxed));
    }
    let sqlite = backend == Backend::Sqlite;
    out.rows.push(Row::new(
        "mapping",
        b,
        res.rps(),
        "mappings/s",
        None,
        sqlite.then(|| Target::value_at_least(1000.0)),
    ));
    out.rows.push(Row::new(
        "mapping",
        b,
        res.percentile_ms(50.0),
        "ms p50",
        None,
        None,
    ));
    out.rows.push(Row::new(
        "mapping",
        b,
        res.percentile_ms(99.0),
        "ms p99",
        None,
        sqlite.then(|| Target::value_at_most(20.0)),
    ));
    // The same load with twice the callers.
    let spec16 = LoadSpec {
        workers: MAPPING_CALLERS_SATURATED,
        ..spec
    };
    eprintln!(
        "[{b}] mapping: {} callers, {:?}",
        spec16.workers, spec16.duration
    );
    let sat = load_with(spec16).await;
    load_note(
        out,
        &format!("mapping/{b} {MAPPING_CALLERS_SATURATED} callers"),
        &sat,
    );
    if sat.ok > 0 {
        let unit = |u: &str| format!("{u} {MAPPING_CALLERS_SATURATED} callers");
        out.rows.push(Row::new(
            "mapping",
            b,
            sat.rps(),
            &unit("mappings/s"),
            None,
            None,
        ));
        out.rows.push(Row::new(
            "mapping",
            b,
            sat.percentile_ms(99.0),
            &unit("ms p99"),
            None,
            None,
        ));
    }
    if sqlite {
        out.rows.push(Row::new(
            "mapping",
            b,
            MAPPING_STATEMENTS_CODE_PATH,
            "statements/request",
            None,
            None,
        ));
        out.notes.push(format!(
            "mapping/sqlite statements/request is NOT measured (SQLite has no statement counter outside the server): {MAPPING_STATEMENTS_CODE_PATH} is read off the code path for a gateway committed alone (BEGIN IMMEDIATE, INSERT clients, INSERT channels, INSERT connections, INSERT bootstrap_configs, COMMIT, as one statement list); gateways committed in one group share those statements, each INSERT carrying all their rows; the first call in a domain adds up to 2 cached reads)"
        ));
    }
    Some(next.load(Ordering::Relaxed))
}

/// The external ids to fetch: this run's numbers when every mapping call succeeded,
/// otherwise the ones the configs listing shows.
async fn fetch_ids(
    http: &reqwest::Client,
    s: &Session,
    run: &str,
    mapped: u64,
    out: &mut Outcome,
) -> Result<Vec<String>, String> {
    let page = |offset: u64, limit: u64| {
        http.get(format!("{}/{}/clients/configs", s.base, s.domain))
            .header(AUTHORIZATION, s.auth.clone())
            .query(&[("offset", offset), ("limit", limit)])
            .send()
    };
    let v = expect_json(page(0, 1).await, "GET /{domainID}/clients/configs", 200).await?;
    let total = v["total"].as_u64().ok_or("no total in the configs page")?;
    if total == mapped {
        return Ok((0..mapped.min(FETCH_IDS))
            .map(|n| external_id(run, n))
            .collect());
    }
    out.notes.push(format!(
        "bootstrap_fetch: {mapped} mappings requested but {total} configs stored; fetching the listed ones"
    ));
    let prefix = format!("ext-{run}-");
    let mut ids = Vec::new();
    let mut offset = 0;
    while offset < total && (ids.len() as u64) < FETCH_IDS {
        let v = expect_json(
            page(offset, 100).await,
            "GET /{domainID}/clients/configs",
            200,
        )
        .await?;
        let items = v["configs"].as_array().cloned().unwrap_or_default();
        if items.is_empty() {
            break;
        }
        offset += items.len() as u64;
        ids.extend(
            items
                .iter()
                .filter_map(|c| c["external_id"].as_str())
                .filter(|x| x.starts_with(&prefix))
                .map(str::to_string),
        );
    }
    Ok(ids)
}

#[allow(clippy::too_many_arguments)]
async fn bootstrap_fetch(
    b: &str,
    spec: LoadSpec,
    http: &reqwest::Client,
    s: &Session,
    run: &str,
    mapped: Option<u64>,
    base: Health,
    out: &mut Outcome,
) {
    let what = format!("bootstrap_fetch/{b}");
    let Some(mapped) = mapped else {
        return out.fail(&what, "no gateways: mapping failed");
    };
    let ids = match fetch_ids(http, s, run, mapped, out).await {
        Ok(ids) if !ids.is_empty() => ids,
        Ok(_) => return out.fail(&what, "no gateways of this run are stored"),
        Err(e) => return out.fail(&what, e),
    };
    eprintln!(
        "[{b}] bootstrap_fetch: GET /clients/bootstrap/{{externalID}} over {} gateways, {} workers",
        ids.len(),
        spec.workers
    );
    let urls: Arc<Vec<String>> = Arc::new(
        ids.iter()
            .map(|x| format!("{}/clients/bootstrap/{x}", s.base))
            .collect(),
    );
    if let Err(e) = fetch_one(http, &urls[0]).await {
        return out.fail(&what, e);
    }
    let (h, u, auth) = (http.clone(), urls.clone(), fetch_auth());
    let make: MakeRequest =
        Arc::new(move |r| fetch_request(&h, &u[(r % u.len() as u64) as usize], &auth));
    let res = load::run(spec, make).await;
    load_note(out, &what, &res);
    if res.ok == 0 {
        return out.fail(&what, "no successful request");
    }
    out.rows.push(Row::new(
        "bootstrap_fetch",
        b,
        res.rps(),
        "req/s",
        base.rps,
        Some(Target::ratio_at_least(0.5)),
    ));
    out.rows.push(Row::new(
        "bootstrap_fetch",
        b,
        res.percentile_ms(99.0),
        "ms p99",
        base.p99,
        None,
    ));
}

async fn http_publish(
    b: &str,
    spec: LoadSpec,
    http: &reqwest::Client,
    s: &Session,
    base: Health,
    out: &mut Outcome,
) {
    let what = format!("http_publish/{b}");
    let target = match publish_target(http, s).await {
        Ok(t) => Arc::new(t),
        Err(e) => return out.fail(&what, e),
    };
    eprintln!(
        "[{b}] http_publish: POST /m/{{domainID}}/c/{{channelID}}, {} B JSON, {} workers",
        PUBLISH_PAYLOAD.len(),
        spec.workers
    );
    if let Err(e) = publish_one(http, &target).await {
        return out.fail(&what, e);
    }
    let h = http.clone();
    let t = target.clone();
    let make: MakeRequest = Arc::new(move |_| publish_request(&h, &t));
    let res = load::run(spec, make).await;
    load_note(out, &what, &res);
    if res.ok == 0 {
        return out.fail(&what, "no successful request");
    }
    out.rows.push(Row::new(
        "http_publish",
        b,
        res.rps(),
        "msgs/s",
        base.rps,
        Some(Target::ratio_at_least(0.5)),
    ));
    out.rows.push(Row::new(
        "http_publish",
        b,
        res.percentile_ms(99.0),
        "ms p99",
        base.p99,
        None,
    ));
}
