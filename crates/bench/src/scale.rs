//! scale: a fleet in one domain. 1M clients (200k in quick mode) are bulk-loaded with
//! metadata and tags through the API, a quarter of them connected to 1,000 channels
//! and a thousandth disabled; then a page of each list filter is read — p50/p99 with
//! one caller (target p99 ≤ 20 ms) and req/s with 8 callers beside the unfiltered
//! page's (target ≥ 0.5×) — plus the load time, the database's size and the server's
//! memory; last, 100k (10k) of the clients hold idle MQTT connections (target: at
//! least 5,000 connects/s, at most 3 KiB of private memory each). Every filter value is drawn at random from values that match a known
//! number of clients, and the first page of each filter checks that `total`.

use std::{
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::{
    load::{self, LoadSpec, MakeRequest},
    mqttload::{self, Login},
    pg::PgDb,
    report::{Row, Target},
    scenarios::{
        BULK_MAX, Backend, Config, MAX_BODY_BYTES, Outcome, Session, expect_json, expect_status,
        load_note, setup, stop_server,
    },
    server::{ServerProc, free_port, proc_status_kb},
};

/// Distinct `zone-NNN` tags: each is on clients/ZONES clients.
const ZONES: usize = 500;
/// Distinct `site` metadata values: each is on clients/SITES clients.
const SITES: usize = 5_000;
/// Channels the connected quarter is spread over.
const CHANNELS: usize = 1_000;
/// Callers of the throughput rows.
const CALLERS: usize = 8;
/// Requests in flight while connecting clients to channels.
const CONNECTS_IN_FLIGHT: usize = 4;
/// MQTT connections being opened at once.
const MQTT_IN_FLIGHT: usize = 256;
/// Descriptors kept free besides the MQTT connections (database, listeners, HTTP).
const FD_SPARE: u64 = 1_024;
/// Keep-alive of the idle MQTT connections (s): longer than opening them all takes.
const MQTT_KEEP_ALIVE: u16 = 900;
const MB: f64 = 1_000_000.0;

#[derive(Debug, Clone, Copy)]
struct ScaleSizes {
    clients: usize,
    /// Every `disable_every`-th client is disabled.
    disable_every: usize,
    /// Idle MQTT connections held at the end, one per client.
    connections: usize,
    single: Duration,
    multi: Duration,
}

impl ScaleSizes {
    fn for_mode(quick: bool) -> ScaleSizes {
        if quick {
            ScaleSizes {
                clients: 200_000,
                disable_every: 1_000,
                connections: 10_000,
                single: Duration::from_secs(2),
                multi: Duration::from_secs(2),
            }
        } else {
            ScaleSizes {
                clients: 1_000_000,
                disable_every: 1_000,
                connections: 100_000,
                single: Duration::from_secs(5),
                multi: Duration::from_secs(5),
            }
        }
    }
}

fn client(i: usize) -> Value {
    let kind = if i.is_multiple_of(2) {
        "sensor"
    } else {
        "actuator"
    };
    json!({
        "name": format!("dev-{i:07}"),
        "tags": ["fleet", format!("zone-{:03}", i % ZONES)],
        "metadata": {"kind": kind, "site": format!("site-{:04}", i % SITES), "seq": i},
    })
}

/// What the load leaves for the queries: the connected clients per channel, the
/// disabled ones, the creation time of every 1,000th client, and the id and secret of
/// the first clients (who hold the MQTT connections; none of them is disabled).
struct Fleet {
    connected: Vec<String>,
    disabled: Vec<String>,
    created: Vec<String>,
    logins: Vec<(String, String)>,
}

async fn bulk_load(
    http: &reqwest::Client,
    s: &Session,
    sz: ScaleSizes,
) -> Result<(Duration, Fleet), String> {
    let url = format!("{}/{}/clients/bulk", s.base, s.domain);
    let mut fleet = Fleet {
        connected: Vec::with_capacity(sz.clients / 4),
        disabled: Vec::new(),
        created: Vec::new(),
        logins: Vec::with_capacity(sz.connections),
    };
    let t = Instant::now();
    let mut next = 0;
    while next < sz.clients {
        let end = (next + BULK_MAX).min(sz.clients);
        let body: Vec<Value> = (next..end).map(client).collect();
        let body = serde_json::to_vec(&body).map_err(|e| e.to_string())?;
        let v = expect_json(
            http.post(&url)
                .header(AUTHORIZATION, s.auth.clone())
                .header(CONTENT_TYPE, "application/json")
                .body(body)
                .send()
                .await,
            "clients/bulk",
            200,
        )
        .await?;
        let items = v["clients"].as_array().ok_or("clients/bulk: no clients")?;
        if items.len() != end - next {
            return Err(format!(
                "clients/bulk: {} clients for {}",
                items.len(),
                end - next
            ));
        }
        for (k, c) in items.iter().enumerate() {
            let i = next + k;
            let id = || c["id"].as_str().unwrap_or_default().to_string();
            if i.is_multiple_of(4) {
                fleet.connected.push(id());
            }
            if i % sz.disable_every == 1 {
                fleet.disabled.push(id());
            }
            if i.is_multiple_of(1000) {
                fleet
                    .created
                    .push(c["created_at"].as_str().unwrap_or_default().to_string());
            }
            if fleet.logins.len() < sz.connections && i % sz.disable_every != 1 {
                let secret = c["credentials"]["secret"].as_str().unwrap_or_default();
                fleet.logins.push((id(), secret.to_string()));
            }
        }
        next = end;
    }
    Ok((t.elapsed(), fleet))
}

/// Creates the channels and connects the connected quarter (client 4k goes to channel
/// k mod 1,000); disables the chosen clients. Returns the channel ids.
async fn connect_and_disable(
    http: &reqwest::Client,
    s: &Session,
    fleet: &Fleet,
) -> Result<Vec<String>, String> {
    let body: Vec<Value> = (0..CHANNELS)
        .map(|c| json!({"name": format!("site-uplink-{c:04}")}))
        .collect();
    let v = expect_json(
        http.post(format!("{}/{}/channels/bulk", s.base, s.domain))
            .header(AUTHORIZATION, s.auth.clone())
            .json(&body)
            .send()
            .await,
        "channels/bulk",
        200,
    )
    .await?;
    let channels: Vec<String> = v["channels"]
        .as_array()
        .ok_or("channels/bulk: no channels")?
        .iter()
        .filter_map(|c| c["id"].as_str().map(str::to_string))
        .collect();
    if channels.len() != CHANNELS {
        return Err(format!("channels/bulk: {} channels", channels.len()));
    }
    let mut per_channel = vec![Vec::new(); CHANNELS];
    for (k, id) in fleet.connected.iter().enumerate() {
        per_channel[k % CHANNELS].push(id.clone());
    }
    let mut jobs: Vec<(String, Value)> = channels
        .iter()
        .zip(per_channel)
        .map(|(ch, ids)| {
            (
                format!("{}/{}/channels/{ch}/connect", s.base, s.domain),
                json!({"client_ids": ids, "types": ["publish"]}),
            )
        })
        .collect();
    jobs.extend(fleet.disabled.iter().map(|id| {
        (
            format!("{}/{}/clients/{id}/disable", s.base, s.domain),
            Value::Null,
        )
    }));
    let mut running = JoinSet::new();
    for (url, body) in jobs {
        if running.len() >= CONNECTS_IN_FLIGHT
            && let Some(r) = running.join_next().await
        {
            r.map_err(|e| e.to_string())??;
        }
        let (h, auth) = (http.clone(), s.auth.clone());
        running.spawn(async move {
            let mut req = h.post(&url).header(AUTHORIZATION, auth);
            let want = if body.is_null() {
                200
            } else {
                req = req.json(&body);
                201
            };
            expect_status(req.send().await, &url, want)
                .await
                .map(|_| ())
        });
    }
    while let Some(r) = running.join_next().await {
        r.map_err(|e| e.to_string())??;
    }
    Ok(channels)
}

/// One list filter: its name, the page URLs to draw from, and the total each must show.
struct Filter {
    name: &'static str,
    urls: Vec<String>,
    total: Option<u64>,
}

fn filters(s: &Session, sz: ScaleSizes, fleet: &Fleet, channels: &[String]) -> Vec<Filter> {
    let list = |q: &[(&str, String)]| {
        let mut e = url::form_urlencoded::Serializer::new(String::new());
        e.append_pair("limit", "10");
        for (k, v) in q {
            e.append_pair(k, v);
        }
        format!("{}/{}/clients?{}", s.base, s.domain, e.finish())
    };
    let n = sz.clients;
    let picks = |count: usize| -> Vec<usize> {
        let mut st = 0x5ca1e_u64;
        (0..200)
            .map(|_| (load::splitmix(&mut st) % count as u64) as usize)
            .collect()
    };
    let created: Vec<String> = (0..fleet.created.len().saturating_sub(1))
        .map(|k| {
            list(&[
                ("created_from", fleet.created[k].clone()),
                ("created_to", fleet.created[k + 1].clone()),
            ])
        })
        .collect();
    vec![
        Filter {
            name: "unfiltered",
            urls: picks(100)
                .into_iter()
                .map(|o| list(&[("offset", (o * 10).to_string())]))
                .collect(),
            total: Some(n as u64 - fleet.disabled.len() as u64),
        },
        Filter {
            name: "name",
            urls: picks(n / 100)
                .into_iter()
                .map(|g| list(&[("name", format!("dev-{g:05}"))]))
                .collect(),
            total: None,
        },
        Filter {
            name: "metadata",
            urls: picks(SITES)
                .into_iter()
                .map(|k| list(&[("metadata", format!(r#"{{"site":"site-{k:04}"}}"#))]))
                .collect(),
            total: None,
        },
        Filter {
            name: "tags",
            urls: picks(ZONES)
                .into_iter()
                .map(|z| list(&[("tags", format!("zone-{z:03}"))]))
                .collect(),
            total: None,
        },
        Filter {
            name: "status",
            urls: picks(10)
                .into_iter()
                .map(|o| {
                    list(&[
                        ("status", "disabled".into()),
                        ("offset", (o * 10).to_string()),
                    ])
                })
                .collect(),
            total: Some(fleet.disabled.len() as u64),
        },
        Filter {
            name: "created",
            urls: created,
            total: None,
        },
        Filter {
            name: "channel",
            urls: picks(CHANNELS)
                .into_iter()
                .map(|c| {
                    list(&[
                        ("channel", channels[c].clone()),
                        ("connection_type", "publish".into()),
                    ])
                })
                .collect(),
            total: Some((fleet.connected.len() / CHANNELS) as u64),
        },
    ]
}

/// The total the first URL of each filter must show, where it is not fixed: names and
/// zones and sites cover the fleet evenly, less the disabled clients among them (the
/// list shows enabled ones by default), so the bound is checked loosely there.
fn check_total(f: &Filter, sz: ScaleSizes, got: u64) -> Result<(), String> {
    let n = sz.clients as u64;
    let (lo, hi) = match (f.name, f.total) {
        (_, Some(t)) => (t, t),
        ("name", _) => (99, 100),
        ("metadata", _) => (n / SITES as u64 - 1, n / SITES as u64),
        ("tags", _) => (n / ZONES as u64 - 2, n / ZONES as u64),
        ("created", _) => (1, 1_001),
        _ => (1, n),
    };
    if (lo..=hi).contains(&got) {
        Ok(())
    } else {
        Err(format!(
            "filter {}: total {got}, wanted {lo}..={hi} ({})",
            f.name, f.urls[0]
        ))
    }
}

/// Opens one authenticated, idle MQTT 3.1.1 connection per login (from 16 loopback
/// source addresses, 256 at a time), checks a sample still answers PINGREQ, and
/// reports the connect rate and the server's private memory per connection.
async fn idle_connections(
    b: &str,
    addr: SocketAddr,
    srv: &ServerProc,
    logins: Vec<(String, String)>,
    out: &mut Outcome,
) -> Result<(), String> {
    let n = logins.len();
    let logins: Vec<Login> = logins
        .into_iter()
        .map(|(id, secret)| Login {
            client_id: id.clone(),
            credentials: Some((id, secret)),
        })
        .collect();
    let kib = |key| proc_status_kb(srv.pid, key).ok_or("cannot read /proc status");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (rss0, anon0) = (kib("VmRSS:")?, kib("RssAnon:")?);
    let t = Instant::now();
    let (mut open, errors) =
        mqttload::open_many(addr, logins, MQTT_KEEP_ALIVE, MQTT_IN_FLIGHT).await;
    let took = t.elapsed();
    if !errors.is_empty() {
        return Err(format!(
            "{} of {n} connections failed; first: {}",
            errors.len(),
            errors[0]
        ));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (rss1, anon1) = (kib("VmRSS:")?, kib("RssAnon:")?);
    let step = (open.len() / 64).max(1);
    for s in open.iter_mut().step_by(step) {
        mqttload::ping(s).await.map_err(|e| format!("ping: {e}"))?;
    }
    drop(open);
    let per = |a: u64, b: u64| a.saturating_sub(b) as f64 / n as f64;
    out.rows.push(Row::new(
        "scale",
        b,
        n as f64 / took.as_secs_f64(),
        &format!("connections/s opening {n} MQTT connections"),
        None,
        Some(Target::value_at_least(5_000.0)),
    ));
    out.rows.push(Row::new(
        "scale",
        b,
        per(anon1, anon0),
        &format!("KiB private per idle MQTT connection ({n})"),
        None,
        Some(Target::value_at_most(3.0)),
    ));
    out.notes.push(format!(
        "scale/{b}: {n} MQTT 3.1.1 connections (one fleet client each, username/password, keep-alive {MQTT_KEEP_ALIVE} s) opened in {:.1} s; private memory (RssAnon) {anon0} -> {anon1} KiB, VmRSS {rss0} -> {rss1} KiB ({:.1} KiB/connection)",
        took.as_secs_f64(),
        per(rss1, rss0)
    ));
    Ok(())
}

async fn database_mb(backend: Backend, srv: &ServerProc, db: Option<&PgDb>) -> Option<f64> {
    match backend {
        Backend::Sqlite => {
            let dir = std::fs::read_dir(srv.data_dir()).ok()?;
            let bytes: u64 = dir
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().contains(".db"))
                .filter_map(|e| e.metadata().ok().map(|m| m.len()))
                .sum();
            Some(bytes as f64 / MB)
        }
        Backend::Postgres => db?.size_bytes().await.ok().map(|b| b as f64 / MB),
    }
}

pub async fn run(backend: Backend, cfg: &Config, http: &reqwest::Client, out: &mut Outcome) {
    let b = backend.name();
    let sz = ScaleSizes::for_mode(cfg.quick);
    let db = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => {
            match PgDb::create(cfg.postgres_url.as_deref().unwrap_or_default(), "scale").await {
                Ok(db) => Some(db),
                Err(e) => return out.fail(&format!("scale/{b} database"), e),
            }
        }
    };
    let mqtt = match free_port() {
        Ok(p) => SocketAddr::from(([127, 0, 0, 1], p)),
        Err(e) => return out.fail(&format!("scale/{b} port"), e),
    };
    let mut env = vec![
        ("SWITCHYARD_MQTT_ADDR", mqtt.to_string()),
        ("SWITCHYARD_BULK_MAX", BULK_MAX.to_string()),
        ("SWITCHYARD_MAX_BODY_BYTES", MAX_BODY_BYTES.to_string()),
        ("SWITCHYARD_LOG", "warn".to_string()),
        (
            "MG_USERS_ADMIN_PASSWORD",
            format!("adm-{}", uuid::Uuid::new_v4().simple()),
        ),
    ];
    if let Some(db) = &db {
        env.push(("SWITCHYARD_DATABASE_URL", db.url.clone()));
    }
    let mut srv = match ServerProc::spawn(&cfg.server_bin, &env) {
        Ok(s) => s,
        Err(e) => return out.fail(&format!("scale/{b} server"), e),
    };
    if let Err(e) = srv.wait_ready(http, Duration::from_secs(60)).await {
        return out.fail(&format!("scale/{b} server"), e);
    }
    let session = match setup(http, &srv.base).await {
        Ok(s) => s,
        Err(e) => return out.fail(&format!("scale/{b} setup"), e),
    };
    eprintln!("[{b}] scale: bulk-load {} clients", sz.clients);
    let (took, mut fleet) = match bulk_load(http, &session, sz).await {
        Ok(r) => r,
        Err(e) => return out.fail(&format!("scale/{b} load"), e),
    };
    out.rows.push(Row::new(
        "scale",
        b,
        took.as_secs_f64(),
        &format!("s to bulk-load {} clients", sz.clients),
        None,
        None,
    ));
    eprintln!(
        "[{b}] scale: {} channels, {} connections, {} clients disabled",
        CHANNELS,
        fleet.connected.len(),
        fleet.disabled.len()
    );
    let t = Instant::now();
    let channels = match connect_and_disable(http, &session, &fleet).await {
        Ok(c) => c,
        Err(e) => return out.fail(&format!("scale/{b} connect"), e),
    };
    out.rows.push(Row::new(
        "scale",
        b,
        t.elapsed().as_secs_f64(),
        &format!(
            "s to connect {} clients to {CHANNELS} channels and disable {}",
            fleet.connected.len(),
            fleet.disabled.len()
        ),
        None,
        None,
    ));
    if let Some(mb) = database_mb(backend, &srv, db.as_ref()).await {
        out.rows
            .push(Row::new("scale", b, mb, "MB database", None, None));
    }
    if let Some(rss) = srv.rss_bytes() {
        out.rows.push(Row::new(
            "scale",
            b,
            rss as f64 / MB,
            "MB server RSS after the load",
            None,
            None,
        ));
    }

    let mut unfiltered_rps = None;
    for f in filters(&session, sz, &fleet, &channels) {
        let what = format!("scale/{b} {}", f.name);
        let first = expect_json(
            http.get(&f.urls[0])
                .header(AUTHORIZATION, session.auth.clone())
                .send()
                .await,
            &what,
            200,
        )
        .await
        .and_then(|v| check_total(&f, sz, v["total"].as_u64().unwrap_or(0)));
        if let Err(e) = first {
            out.fail(&what, e);
            continue;
        }
        eprintln!("[{b}] scale: {} pages", f.name);
        let urls = Arc::new(f.urls);
        let make = |u: Arc<Vec<String>>| -> MakeRequest {
            let (h, auth) = (http.clone(), session.auth.clone());
            Arc::new(move |r| {
                h.get(&u[(r % u.len() as u64) as usize])
                    .header(AUTHORIZATION, auth.clone())
            })
        };
        let spec = LoadSpec {
            workers: 1,
            warmup: Duration::from_millis(300),
            duration: sz.single,
            max_requests: u64::MAX,
        };
        let one = load::run(spec, make(urls.clone())).await;
        load_note(out, &what, &one);
        let many = load::run(
            LoadSpec {
                workers: CALLERS,
                duration: sz.multi,
                ..spec
            },
            make(urls),
        )
        .await;
        load_note(out, &what, &many);
        if one.ok == 0 || many.ok == 0 {
            out.fail(&what, "no successful request");
            continue;
        }
        let target = (f.name != "unfiltered").then_some(Target::value_at_most(20.0));
        out.rows.push(Row::new(
            "scale",
            b,
            one.percentile_ms(50.0),
            &format!("ms p50 {}", f.name),
            None,
            None,
        ));
        out.rows.push(Row::new(
            "scale",
            b,
            one.percentile_ms(99.0),
            &format!("ms p99 {}", f.name),
            None,
            target,
        ));
        if f.name == "unfiltered" {
            unfiltered_rps = Some(many.rps());
            out.rows.push(Row::new(
                "scale",
                b,
                many.rps(),
                &format!("req/s unfiltered, {CALLERS} callers"),
                None,
                None,
            ));
        } else {
            out.rows.push(Row::new(
                "scale",
                b,
                many.rps(),
                &format!("req/s {}, {CALLERS} callers (baseline: unfiltered)", f.name),
                unfiltered_rps,
                Some(Target::ratio_at_least(0.5)),
            ));
        }
    }
    // Each connection is a descriptor in the server and one here: the open-file limit
    // (raised as far as this process may, and inherited by the server) caps them.
    let fit = rlimit::getrlimit(rlimit::Resource::NOFILE)
        .map(|(soft, _)| usize::try_from(soft.saturating_sub(FD_SPARE)).unwrap_or(usize::MAX))
        .unwrap_or(usize::MAX);
    if fleet.logins.len() > fit {
        out.notes.push(format!(
            "scale/{b}: the open-file limit allows {fit} MQTT connections instead of {} (the hard limit is {}; raising it needs root or CAP_SYS_RESOURCE)",
            fleet.logins.len(),
            rlimit::getrlimit(rlimit::Resource::NOFILE).map(|(_, h)| h).unwrap_or(0)
        ));
        fleet.logins.truncate(fit);
    }
    eprintln!("[{b}] scale: {} idle MQTT connections", fleet.logins.len());
    if let Err(e) = idle_connections(b, mqtt, &srv, std::mem::take(&mut fleet.logins), out).await {
        out.fail(&format!("scale/{b} mqtt connections"), e);
    }
    if let Some(peak) = srv.peak_anon_bytes() {
        out.rows.push(Row::new(
            "scale",
            b,
            peak as f64 / MB,
            "MB server private memory, peak",
            None,
            None,
        ));
    }
    stop_server(out, &format!("scale/{b}"), srv, db).await;
}
