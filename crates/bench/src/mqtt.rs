//! The MQTT scenarios, each beside Mosquitto driven by the same load generator
//! (`mqttload`) with the same topic strings and payloads:
//!
//! - `mqtt_qos0`, `mqtt_qos1`: publish→subscribe throughput (deliveries per second at
//!   the subscribers) and p99 send-to-delivery latency, for 1→1, 4→1 and 1→4.
//! - `mqtt_idle_connection_memory`: the broker's VmRSS growth per idle, authenticated
//!   MQTT connection, opened with a raw MQTT 3.1.1 client.
//!
//! Switchyard runs as its own child process (SQLite store, MQTT on a free loopback
//! port); Mosquitto too when its binary is installed (a fresh process per scenario, so
//! the memory figures start from a clean heap), else the broker on 127.0.0.1:1883.

use std::{
    net::{SocketAddr, TcpStream as StdTcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use reqwest::header::AUTHORIZATION;
use rumqttc::QoS;
use serde_json::{Value, json};
use tempfile::TempDir;
use uuid::Uuid;

use crate::{
    burst,
    mqttload::{self, FlowResult, FlowSpec, Login, PATTERNS, Pattern},
    report::{Row, Target},
    scenarios::{
        BULK_MAX, Config, MAX_BODY_BYTES, Outcome, Session, Sizes, server_problems, setup,
    },
    server::{ServerProc, free_port, proc_status_kb},
};

/// Keep-alive the idle connections announce (s); the brokers close a connection that
/// is silent for 1.5 × this, far longer than the measurement takes.
pub const IDLE_KEEP_ALIVE: u16 = 60;
/// Idle connections being opened at once.
pub const IDLE_CONCURRENCY: usize = 64;
/// File descriptors kept free besides the idle connections.
const FD_SPARE: u64 = 512;
/// `max_queued_messages` of the Mosquitto the bench starts (default 1000). With the
/// default, Mosquitto 2.0.11 drops QoS 1 messages for a subscriber fed by several
/// publishers although the load generator keeps at most [`mqttload::WINDOW`] in flight,
/// and the publishers stall; the window keeps the real queue short either way.
pub const MOSQUITTO_MAX_QUEUED: u32 = 100_000;
/// Wait before reading VmRSS, so the brokers are done with the last connects.
const SETTLE: Duration = Duration::from_secs(1);

/// Where the Mosquitto baseline comes from.
#[derive(Debug, Clone)]
pub enum MosquittoSource {
    /// This binary, started by the bench on a free port, a fresh process each time.
    Own(PathBuf),
    /// A broker already listening on 127.0.0.1:1883 (anonymous access).
    System,
}

/// A Mosquitto broker the scenarios can use. Dropping it kills the process if the
/// bench started it.
pub struct Mosquitto {
    pub addr: SocketAddr,
    /// For the memory figure; None when it cannot be told.
    pub pid: Option<u32>,
    child: Option<Child>,
    log: Option<PathBuf>,
    _dir: Option<TempDir>,
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn find_in_path(name: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    // Debian installs it in sbin, which is not on every PATH.
    dirs.extend(["/usr/sbin", "/usr/local/sbin", "/sbin"].map(PathBuf::from));
    dirs.into_iter().map(|d| d.join(name)).find(|p| p.is_file())
}

fn system_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 1883))
}

/// Probes with an anonymous CONNECT.
async fn anonymous_ok(addr: SocketAddr) -> Result<(), String> {
    let probe = Login {
        client_id: format!("bench-probe-{}", Uuid::new_v4().simple()),
        credentials: None,
    };
    mqttload::open_idle(addr, &probe, 5, None).await.map(drop)
}

impl MosquittoSource {
    /// The `mosquitto` binary if installed, else the broker on 127.0.0.1:1883 if it takes
    /// anonymous connections.
    pub async fn find() -> Result<MosquittoSource, String> {
        if let Some(bin) = find_in_path("mosquitto") {
            return Ok(MosquittoSource::Own(bin));
        }
        match anonymous_ok(system_addr()).await {
            Ok(()) => Ok(MosquittoSource::System),
            Err(e) => Err(format!(
                "no mosquitto binary (Debian package mosquitto) and no anonymous broker on 127.0.0.1:1883 ({e})"
            )),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            MosquittoSource::Own(bin) => {
                let v = Command::new(bin)
                    .arg("-h")
                    .output()
                    .ok()
                    .and_then(|o| {
                        let text = String::from_utf8_lossy(&o.stdout).to_string()
                            + &String::from_utf8_lossy(&o.stderr);
                        text.lines()
                            .find(|l| l.contains("version"))
                            .map(|l| l.trim().to_string())
                    })
                    .unwrap_or_else(|| "mosquitto".into());
                format!(
                    "{v} ({}) started by the bench: listener on 127.0.0.1, allow_anonymous, persistence off, max_queued_messages {MOSQUITTO_MAX_QUEUED}, other settings default",
                    bin.display()
                )
            }
            MosquittoSource::System => {
                "the Mosquitto already running on 127.0.0.1:1883 (anonymous)".into()
            }
        }
    }

    /// A broker ready for connections.
    pub async fn launch(&self) -> Result<Mosquitto, String> {
        match self {
            MosquittoSource::Own(bin) => start_own(bin).await,
            MosquittoSource::System => {
                anonymous_ok(system_addr()).await?;
                Ok(Mosquitto {
                    addr: system_addr(),
                    pid: system_pid(),
                    child: None,
                    log: None,
                    _dir: None,
                })
            }
        }
    }
}

/// The pid of the only process named mosquitto, if there is exactly one.
fn system_pid() -> Option<u32> {
    let out = Command::new("pgrep")
        .arg("-x")
        .arg("mosquitto")
        .output()
        .ok()?;
    let pids: Vec<u32> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect();
    match pids.as_slice() {
        [p] => Some(*p),
        _ => None,
    }
}

async fn start_own(bin: &Path) -> Result<Mosquitto, String> {
    let dir = tempfile::Builder::new()
        .prefix("switchyard-bench-mosquitto-")
        .tempdir()
        .map_err(|e| format!("temp dir: {e}"))?;
    let port = free_port().map_err(|e| format!("free port: {e}"))?;
    let conf = dir.path().join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n\
             max_queued_messages {MOSQUITTO_MAX_QUEUED}\n\
             log_dest stderr\nlog_type error\nlog_type warning\n"
        ),
    )
    .map_err(|e| format!("{}: {e}", conf.display()))?;
    let log = dir.path().join("mosquitto.log");
    let out = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
    let err = out.try_clone().map_err(|e| e.to_string())?;
    let child = Command::new(bin)
        .arg("-c")
        .arg(&conf)
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
    let mut m = Mosquitto {
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        pid: Some(child.id()),
        child: Some(child),
        log: Some(log),
        _dir: Some(dir),
    };
    let t = Instant::now();
    loop {
        match anonymous_ok(m.addr).await {
            Ok(()) => return Ok(m),
            Err(e) => {
                let exited = m.child.as_mut().and_then(|c| c.try_wait().ok().flatten());
                if exited.is_some() || t.elapsed() > Duration::from_secs(10) {
                    return Err(format!("mosquitto not ready ({e}): {}", m.log_tail()));
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

impl Mosquitto {
    fn log_tail(&self) -> String {
        self.log
            .as_ref()
            .and_then(|l| std::fs::read_to_string(l).ok())
            .map(|t| t.lines().rev().take(5).collect::<Vec<_>>().join(" | "))
            .unwrap_or_default()
    }
}

/// Open files the bench wants for itself and its servers (the `scale` scenario holds
/// 100k MQTT connections: that many descriptors on each side).
const WANT_NOFILE: u64 = 1 << 20;

/// Raises the open-file limit (inherited by the servers and Mosquitto started
/// afterwards): the hard limit too when the process may (root, or CAP_SYS_RESOURCE; up
/// to `fs.nr_open`), then the soft one to the hard one. Returns the soft limit now in
/// force.
pub fn raise_nofile() -> Result<u64, String> {
    let nr_open = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(WANT_NOFILE);
    let want = WANT_NOFILE.min(nr_open);
    if let Ok((_, hard)) = rlimit::getrlimit(rlimit::Resource::NOFILE)
        && hard < want
    {
        // Refused without the privilege: the hard limit stays as it was.
        let _ = rlimit::setrlimit(rlimit::Resource::NOFILE, want, want);
    }
    rlimit::increase_nofile_limit(u64::MAX).map_err(|e| e.to_string())
}

/// A Switchyard server with its MQTT listener on a free loopback port, and a session.
async fn mqtt_server(
    cfg: &Config,
    http: &reqwest::Client,
) -> Result<(ServerProc, Session, SocketAddr), String> {
    let port = free_port().map_err(|e| format!("free port: {e}"))?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let env = [
        ("SWITCHYARD_MQTT_ADDR", addr.to_string()),
        ("SWITCHYARD_BULK_MAX", BULK_MAX.to_string()),
        ("SWITCHYARD_MAX_BODY_BYTES", MAX_BODY_BYTES.to_string()),
        (
            "MG_USERS_ADMIN_PASSWORD",
            format!("adm-{}", Uuid::new_v4().simple()),
        ),
        ("SWITCHYARD_LOG", "warn".to_string()),
    ];
    let mut srv = ServerProc::spawn(&cfg.server_bin, &env)?;
    srv.wait_ready(http, Duration::from_secs(60)).await?;
    let t = Instant::now();
    while StdTcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err() {
        if t.elapsed() > Duration::from_secs(10) {
            return Err(format!("no MQTT listener on {addr}:\n{}", srv.log_tail()));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let session = setup(http, &srv.base).await?;
    Ok((srv, session, addr))
}

async fn post_ok(
    http: &reqwest::Client,
    s: &Session,
    path: &str,
    body: &Value,
) -> Result<Value, String> {
    let what = format!("POST /{{domainID}}/{path}");
    let r = http
        .post(format!("{}/{}/{path}", s.base, s.domain))
        .header(AUTHORIZATION, s.auth.clone())
        .json(body)
        .send()
        .await
        .map_err(|e| format!("{what}: {e}"))?;
    let status = r.status();
    let bytes = r.bytes().await.map_err(|e| format!("{what}: {e}"))?;
    if !status.is_success() {
        return Err(format!(
            "{what}: HTTP {status}: {}",
            String::from_utf8_lossy(&bytes[..bytes.len().min(300)])
        ));
    }
    if bytes.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_slice(&bytes).map_err(|e| format!("{what}: response is not JSON: {e}"))
}

/// Creates clients named `names` with `POST /{d}/clients/bulk`; returns (id, secret) in
/// the same order.
async fn create_clients(
    http: &reqwest::Client,
    s: &Session,
    names: &[String],
) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::with_capacity(names.len());
    for chunk in names.chunks(BULK_MAX) {
        let body: Vec<Value> = chunk.iter().map(|n| json!({"name": n})).collect();
        let v = post_ok(http, s, "clients/bulk", &Value::Array(body)).await?;
        let items = v["clients"].as_array().cloned().unwrap_or_default();
        if items.len() != chunk.len() {
            return Err(format!(
                "clients/bulk returned {} clients for {}",
                items.len(),
                chunk.len()
            ));
        }
        let mut by_name: std::collections::HashMap<String, (String, String)> = items
            .iter()
            .filter_map(|c| {
                Some((
                    c["name"].as_str()?.to_string(),
                    (
                        c["id"].as_str()?.to_string(),
                        c["credentials"]["secret"].as_str()?.to_string(),
                    ),
                ))
            })
            .collect();
        for n in chunk {
            out.push(
                by_name
                    .remove(n)
                    .ok_or_else(|| format!("clients/bulk: no id or secret for {n}"))?,
            );
        }
    }
    Ok(out)
}

async fn create_channels(
    http: &reqwest::Client,
    s: &Session,
    names: &[String],
) -> Result<Vec<String>, String> {
    let body: Vec<Value> = names.iter().map(|n| json!({"name": n})).collect();
    let v = post_ok(http, s, "channels/bulk", &Value::Array(body)).await?;
    let items = v["channels"].as_array().cloned().unwrap_or_default();
    names
        .iter()
        .map(|n| {
            items
                .iter()
                .find(|c| c["name"].as_str() == Some(n))
                .and_then(|c| c["id"].as_str())
                .map(str::to_string)
                .ok_or_else(|| format!("channels/bulk: no id for {n}"))
        })
        .collect()
}

fn pattern_tag(p: Pattern) -> String {
    format!("{}to{}", p.publishers, p.subscribers)
}

fn qos_of(q: u8) -> QoS {
    if q == 0 {
        QoS::AtMostOnce
    } else {
        QoS::AtLeastOnce
    }
}

fn flow_note(out: &mut Outcome, what: &str, r: &FlowResult) {
    let missing = r.expected.saturating_sub(r.received);
    if missing > 0 || r.stalls > 0 || r.first_error.is_some() {
        out.notes.push(format!(
            "{what}: {missing} of {} deliveries missing 1 s after the last publish, {} stalls{}",
            r.expected,
            r.stalls,
            r.first_error
                .as_deref()
                .map(|e| format!("; first error: {e}"))
                .unwrap_or_default()
        ));
    }
}

/// mqtt_qos0 and mqtt_qos1 on one Switchyard server, each run followed by the same run
/// against Mosquitto.
async fn throughput(
    cfg: &Config,
    sizes: Sizes,
    http: &reqwest::Client,
    mosq: Option<&MosquittoSource>,
    out: &mut Outcome,
) {
    let (srv, session, addr) = match mqtt_server(cfg, http).await {
        Ok(x) => x,
        Err(e) => return out.fail("mqtt server", e),
    };
    let max_p = PATTERNS.iter().map(|p| p.publishers).max().unwrap_or(1);
    let max_s = PATTERNS.iter().map(|p| p.subscribers).max().unwrap_or(1);
    let names: Vec<String> = (0..max_p)
        .map(|i| format!("mqtt-pub-{i}"))
        .chain((0..max_s).map(|i| format!("mqtt-sub-{i}")))
        .collect();
    let runs: Vec<(u8, Pattern)> = [0u8, 1]
        .iter()
        .flat_map(|q| PATTERNS.iter().map(move |p| (*q, *p)))
        .collect();
    let channel_names: Vec<String> = runs
        .iter()
        .map(|(q, p)| format!("mqtt-qos{q}-{}", pattern_tag(*p)))
        .collect();
    let prepared = async {
        let clients = create_clients(http, &session, &names).await?;
        let channels = create_channels(http, &session, &channel_names).await?;
        let (pubs, subs) = clients.split_at(max_p);
        for (ids, kind) in [(pubs, "publish"), (subs, "subscribe")] {
            let ids: Vec<&str> = ids.iter().map(|(id, _)| id.as_str()).collect();
            post_ok(
                http,
                &session,
                "channels/connect",
                &json!({"channel_ids": channels, "client_ids": ids, "types": [kind]}),
            )
            .await?;
        }
        Ok::<_, String>((pubs.to_vec(), subs.to_vec(), channels))
    }
    .await;
    let (pubs, subs, channels) = match prepared {
        Ok(x) => x,
        Err(e) => return out.fail("mqtt setup", e),
    };

    for ((q, p), channel) in runs.iter().zip(&channels) {
        let scenario = format!("mqtt_qos{q}");
        let label = p.label();
        let tag = pattern_tag(*p);
        let topic = format!("m/{}/c/{channel}", session.domain);
        let logins = |creds: bool| {
            let mk = |role: &str, i: usize, (id, secret): &(String, String)| Login {
                client_id: format!("bench-q{q}-{tag}-{role}-{i}"),
                credentials: creds.then(|| (id.clone(), secret.clone())),
            };
            let ps: Vec<Login> = pubs[..p.publishers]
                .iter()
                .enumerate()
                .map(|(i, c)| mk("pub", i, c))
                .collect();
            let ss: Vec<Login> = subs[..p.subscribers]
                .iter()
                .enumerate()
                .map(|(i, c)| mk("sub", i, c))
                .collect();
            (ps, ss)
        };
        let mut spec = FlowSpec {
            addr,
            topic,
            qos: qos_of(*q),
            warmup: sizes.warmup,
            duration: sizes.duration,
            max_messages: sizes.max_requests,
            window: std::env::var("SWITCHYARD_BENCH_MQTT_WINDOW")
                .ok()
                .and_then(|w| w.parse().ok())
                .unwrap_or(mqttload::WINDOW),
        };
        eprintln!("[mqtt] {scenario} {label}: switchyard, {:?}", spec.duration);
        let (ps, ss) = logins(true);
        let sy = match mqttload::run_flow(&spec, &ps, &ss).await {
            Ok(r) if r.delivered > 0 => r,
            Ok(r) => {
                out.fail(
                    &format!("{scenario}/{label} switchyard"),
                    format!(
                        "nothing delivered in the window ({} sent){}",
                        r.sent,
                        r.first_error
                            .map(|e| format!("; first error: {e}"))
                            .unwrap_or_default()
                    ),
                );
                continue;
            }
            Err(e) => {
                out.fail(&format!("{scenario}/{label} switchyard"), e);
                continue;
            }
        };
        flow_note(out, &format!("{scenario}/{label} switchyard"), &sy);
        let mut base = None;
        if let Some(src) = mosq {
            eprintln!("[mqtt] {scenario} {label}: mosquitto");
            match src.launch().await {
                Ok(m) => {
                    spec.addr = m.addr;
                    let (ps, ss) = logins(false);
                    match mqttload::run_flow(&spec, &ps, &ss).await {
                        Ok(r) if r.delivered > 0 => {
                            flow_note(out, &format!("{scenario}/{label} mosquitto"), &r);
                            base = Some(r);
                        }
                        Ok(r) => out.notes.push(format!(
                            "{scenario}/{label} mosquitto: nothing delivered ({} sent){}",
                            r.sent,
                            r.first_error
                                .map(|e| format!("; first error: {e}"))
                                .unwrap_or_default()
                        )),
                        Err(e) => out.notes.push(format!("{scenario}/{label} mosquitto: {e}")),
                    }
                }
                Err(e) => out.notes.push(format!("{scenario}/{label} mosquitto: {e}")),
            }
        }
        out.rows.push(Row::new(
            &scenario,
            "sqlite",
            sy.rate(),
            &format!("msgs/s {label}"),
            base.as_ref().map(FlowResult::rate),
            Some(Target::ratio_at_least(1.0)),
        ));
        out.rows.push(Row::new(
            &scenario,
            "sqlite",
            sy.p99_ms(),
            &format!("ms p99 {label}"),
            base.as_ref().map(FlowResult::p99_ms),
            None,
        ));
        // Beside the rate, what did not arrive: deliveries still missing 1 s after the
        // last publish (the target is none).
        let lost = |r: &FlowResult| r.expected.saturating_sub(r.received) as f64;
        out.rows.push(Row::new(
            &scenario,
            "sqlite",
            lost(&sy),
            &format!("lost {label}"),
            base.as_ref().map(lost),
            Some(Target::value_at_most(0.0)),
        ));
    }
    if let Some(peak) = srv.peak_rss_bytes() {
        out.notes.push(format!(
            "mqtt: switchyard peak RSS over the publish/subscribe runs {:.1} MB",
            peak as f64 / 1e6
        ));
    }
    server_problems(out, "mqtt", &srv);
    srv.stop();
}

/// Opens `n` idle connections, reads VmRSS before and after; KiB per connection.
/// Memory a set of idle connections costs, per connection, in KiB.
struct PerConnection {
    /// Private (anonymous) memory: what the server allocated for them.
    private: f64,
    /// Resident set size, which also counts file pages mapped while accepting them
    /// (Switchyard's SQLite connections map the database; each mapping is counted).
    rss: f64,
}

/// VmRSS and RssAnon of `pid`, in KiB.
fn memory_kib(pid: u32) -> Option<(u64, u64)> {
    Some((
        proc_status_kb(pid, "VmRSS:")?,
        proc_status_kb(pid, "RssAnon:")?,
    ))
}

async fn idle_rss(addr: SocketAddr, logins: Vec<Login>, pid: u32) -> Result<PerConnection, String> {
    let n = logins.len();
    tokio::time::sleep(SETTLE).await;
    let before = memory_kib(pid).ok_or("cannot read VmRSS/RssAnon")?;
    let t = Instant::now();
    let (mut open, errors) =
        mqttload::open_many(addr, logins, IDLE_KEEP_ALIVE, IDLE_CONCURRENCY).await;
    if !errors.is_empty() {
        return Err(format!(
            "{} of {n} connections failed; first: {}",
            errors.len(),
            errors[0]
        ));
    }
    let took = t.elapsed();
    tokio::time::sleep(SETTLE).await;
    let after = memory_kib(pid).ok_or("cannot read VmRSS/RssAnon")?;
    // Still served: a few PINGREQs across the set.
    let step = (open.len() / 16).max(1);
    for s in open.iter_mut().step_by(step) {
        mqttload::ping(s).await.map_err(|e| format!("ping: {e}"))?;
    }
    if took > Duration::from_secs(u64::from(IDLE_KEEP_ALIVE)) {
        return Err(format!("opening took {took:?}, past the keep-alive"));
    }
    drop(open);
    let per = |a: u64, b: u64| a.saturating_sub(b) as f64 / n as f64;
    eprintln!(
        "[mqtt]   {n} connections in {:.1} s; VmRSS {} -> {} KiB, RssAnon {} -> {} KiB",
        took.as_secs_f64(),
        before.0,
        after.0,
        before.1,
        after.1
    );
    Ok(PerConnection {
        private: per(after.1, before.1),
        rss: per(after.0, before.0),
    })
}

/// mqtt_idle_connection_memory: a fresh Switchyard server, then a fresh Mosquitto.
async fn idle_memory(
    cfg: &Config,
    sizes: Sizes,
    http: &reqwest::Client,
    mosq: Option<&MosquittoSource>,
    nofile: Option<u64>,
    out: &mut Outcome,
) {
    let mut n = sizes.idle_connections;
    if let Some(limit) = nofile
        && (n as u64) + FD_SPARE > limit
    {
        let fit = usize::try_from(limit.saturating_sub(FD_SPARE)).unwrap_or(0);
        out.notes.push(format!(
            "mqtt_idle_connection_memory: the open-file limit is {limit}: {fit} connections instead of {n} (raise the hard limit: ulimit -Hn)"
        ));
        n = fit;
    }
    if n == 0 {
        return out.fail(
            "mqtt_idle_connection_memory",
            "no file descriptors to spare",
        );
    }
    eprintln!("[mqtt] mqtt_idle_connection_memory: {n} idle connections, switchyard");
    let (srv, session, addr) = match mqtt_server(cfg, http).await {
        Ok(x) => x,
        Err(e) => return out.fail("mqtt_idle_connection_memory server", e),
    };
    let names: Vec<String> = (0..n).map(|i| format!("idle-{i:05}")).collect();
    let clients = match create_clients(http, &session, &names).await {
        Ok(c) => c,
        Err(e) => return out.fail("mqtt_idle_connection_memory clients", e),
    };
    let logins: Vec<Login> = clients
        .into_iter()
        .enumerate()
        .map(|(i, (id, secret))| Login {
            client_id: format!("idle-{i}"),
            credentials: Some((id, secret)),
        })
        .collect();
    let sy = idle_rss(addr, logins, srv.pid).await;
    server_problems(out, "mqtt_idle_connection_memory", &srv);
    srv.stop();
    let sy = match sy {
        Ok(per) => per,
        Err(e) => return out.fail("mqtt_idle_connection_memory switchyard", e),
    };
    let mut base = None;
    if let Some(src) = mosq {
        eprintln!("[mqtt] mqtt_idle_connection_memory: {n} idle connections, mosquitto");
        match src.launch().await {
            // `m` (and with it Mosquitto) lives until the measurement is done.
            Ok(m) if m.pid.is_some() => {
                let logins = (0..n)
                    .map(|i| Login {
                        client_id: format!("idle-{i}"),
                        credentials: None,
                    })
                    .collect();
                match idle_rss(m.addr, logins, m.pid.unwrap_or_default()).await {
                    Ok(per) => base = Some(per),
                    Err(e) => out
                        .notes
                        .push(format!("mqtt_idle_connection_memory mosquitto: {e}")),
                }
            }
            Ok(_) => out.notes.push(
                "mqtt_idle_connection_memory: the Mosquitto pid is unknown (not exactly one process named mosquitto): no baseline".into(),
            ),
            Err(e) => out
                .notes
                .push(format!("mqtt_idle_connection_memory mosquitto: {e}")),
        }
    }
    let rss_note = match &base {
        Some(b) => format!(
            "; counted as VmRSS instead: Switchyard {:.1}, Mosquitto {:.1} KiB/connection (VmRSS also counts the database pages each SQLite connection maps while the connections authenticate, one count per mapping)",
            sy.rss, b.rss
        ),
        None => format!("; counted as VmRSS instead: {:.1} KiB/connection", sy.rss),
    };
    out.notes.push(format!(
        "mqtt_idle_connection_memory: {n} connections (MQTT 3.1.1, clean session, keep-alive {IDLE_KEEP_ALIVE} s; Switchyard: one client each, username/password); the row is the growth of private (anonymous) memory, RssAnon, read {} s before the first CONNECT and {} s after the last CONNACK{rss_note}",
        SETTLE.as_secs(),
        SETTLE.as_secs()
    ));
    out.rows.push(Row::new(
        "mqtt_idle_connection_memory",
        "sqlite",
        sy.private,
        "KiB/connection",
        base.map(|b| b.private),
        Some(Target::value_at_most(3.0)),
    ));
}

/// All MQTT scenarios.
pub async fn run(cfg: &Config, sizes: Sizes, http: &reqwest::Client, out: &mut Outcome) {
    let nofile = match raise_nofile() {
        Ok(l) => Some(l),
        Err(e) => {
            out.notes
                .push(format!("mqtt: cannot raise the open-file limit: {e}"));
            rlimit::getrlimit(rlimit::Resource::NOFILE)
                .ok()
                .map(|(s, _)| s)
        }
    };
    let mosq = match MosquittoSource::find().await {
        Ok(s) => {
            let d = s.describe();
            eprintln!("[mqtt] baseline: {d}");
            out.notes.push(format!("mqtt baseline: {d}"));
            Some(s)
        }
        Err(e) => {
            eprintln!("note: {e}");
            out.notes.push(format!("mqtt: no Mosquitto baseline: {e}"));
            None
        }
    };
    if cfg.wants(&["mqtt_qos0", "mqtt_qos1"]) {
        throughput(cfg, sizes, http, mosq.as_ref(), out).await;
    }
    if cfg.wants(&["mqtt_burst"]) {
        bursts(cfg, http, mosq.as_ref(), out).await;
    }
    if cfg.wants(&["mqtt_idle_connection_memory"]) {
        idle_memory(cfg, sizes, http, mosq.as_ref(), nofile, out).await;
    }
}

/// `mqtt_burst` (see [`crate::burst`]): Switchyard on a fresh server, Mosquitto as the
/// baseline, each burst size on both.
async fn bursts(
    cfg: &Config,
    http: &reqwest::Client,
    mosq: Option<&MosquittoSource>,
    out: &mut Outcome,
) {
    if let Err(e) = burst::ensure_clients() {
        return out.fail("mqtt_burst", e);
    }
    let (srv, session, addr) = match mqtt_server(cfg, http).await {
        Ok(x) => x,
        Err(e) => return out.fail("mqtt_burst server", e),
    };
    let prepared = async {
        let clients =
            create_clients(http, &session, &["burst-pub".into(), "burst-sub".into()]).await?;
        let channel = create_channels(http, &session, &["burst".into()]).await?;
        for (i, kind) in [(0, "publish"), (1, "subscribe")] {
            post_ok(
                http,
                &session,
                "channels/connect",
                &json!({"channel_ids": channel, "client_ids": [clients[i].0], "types": [kind]}),
            )
            .await?;
        }
        Ok::<_, String>((clients, channel))
    }
    .await;
    let (clients, channel) = match prepared {
        Ok(x) => x,
        Err(e) => return out.fail("mqtt_burst setup", e),
    };
    let topic = format!("m/{}/c/{}", session.domain, channel[0]);
    let (publisher, subscriber) = (Some(clients[0].clone()), Some(clients[1].clone()));
    let mosquitto = match mosq {
        Some(m) => match m.launch().await {
            Ok(m) => Some(m),
            Err(e) => {
                out.notes.push(format!("mqtt_burst mosquitto: {e}"));
                None
            }
        },
        None => None,
    };
    for n in burst::BURSTS {
        let k = n / 1000;
        eprintln!("[mqtt] mqtt_burst: {n} messages, switchyard");
        let before = srv.rss_bytes();
        let run = {
            let (topic, publisher, subscriber) =
                (topic.clone(), publisher.clone(), subscriber.clone());
            tokio::task::spawn_blocking(move || {
                burst::repeated(addr, &topic, &publisher, &subscriber, n)
            })
            .await
        };
        let sy = match run {
            Ok(Ok(b)) => b,
            Ok(Err(e)) => {
                out.fail("mqtt_burst", format!("{n} messages: {e}"));
                continue;
            }
            Err(e) => {
                out.fail("mqtt_burst", format!("{n} messages: {e}"));
                continue;
            }
        };
        let growth = match (before, srv.peak_rss_bytes()) {
            (Some(b), Some(p)) => Some(p.saturating_sub(b) as f64 / (1024.0 * 1024.0)),
            _ => None,
        };
        let base = match &mosquitto {
            Some(m) => {
                eprintln!("[mqtt] mqtt_burst: {n} messages, mosquitto");
                let addr = m.addr;
                let topic = format!("switchyard-bench/burst/{}", Uuid::new_v4().simple());
                match tokio::task::spawn_blocking(move || {
                    burst::repeated(addr, &topic, &None, &None, n)
                })
                .await
                {
                    Ok(Ok(b)) => Some(b),
                    Ok(Err(e)) => {
                        out.notes.push(format!("mqtt_burst mosquitto {n}: {e}"));
                        None
                    }
                    Err(e) => {
                        out.notes.push(format!("mqtt_burst mosquitto {n}: {e}"));
                        None
                    }
                }
            }
            None => None,
        };
        out.rows.push(Row::new(
            "mqtt_burst",
            "sqlite",
            sy.delivered_pct(),
            &format!("% delivered, {k}k burst"),
            base.map(|b| b.delivered_pct()),
            Some(Target::value_at_least(99.9)),
        ));
        out.rows.push(Row::new(
            "mqtt_burst",
            "sqlite",
            sy.elapsed.as_secs_f64(),
            &format!("s first to last message, {k}k burst"),
            base.map(|b| b.elapsed.as_secs_f64()),
            Some(Target::ratio_at_most(1.5)),
        ));
        out.notes.push(format!(
            "mqtt_burst {k}k: from the first line written to the last message received, \
             {:.3} s (Mosquitto {})",
            sy.total.as_secs_f64(),
            base.map_or("-".into(), |b| format!("{:.3} s", b.total.as_secs_f64()))
        ));
        if let Some(g) = growth {
            out.rows.push(Row::new(
                "mqtt_burst",
                "sqlite",
                g,
                &format!("MiB RSS growth, {k}k burst"),
                None,
                Some(Target::value_at_most(64.0)),
            ));
        }
    }
    out.notes.push(format!(
        "mqtt_burst: mosquitto_pub -l (QoS 0, one message per stdin line, as fast as the \
         socket takes them) into one mosquitto_sub, 1→1; time from the first message \
         received to the last, the fastest of {} runs (delivered: the fewest), because \
         mosquitto_pub sleeps 100 ms before its first publish when it looks for its \
         CONNACK too early, a race inside the client whatever the broker; RSS growth is \
         the server's peak RSS (VmHWM) over its RSS before the burst",
        burst::RUNS
    ));
    srv.stop();
}
