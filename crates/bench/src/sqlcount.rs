//! Counts the SQL statements the server sends to PostgreSQL, on the wire: a loopback
//! TCP relay between the server and PostgreSQL reads the frontend messages and counts
//! `Query` (simple protocol, e.g. BEGIN and COMMIT) and `Execute` (extended protocol,
//! one per execution of a prepared statement) messages. Parse, Bind, Describe and Sync
//! (sqlx's connection ping) are not statements and are not counted.
//!
//! PostgreSQL has no `pg_stat_statements` here and SQLite has no counter at all, so
//! this is how `mapping`/`postgres` `statements/request` is measured. The relay adds a
//! hop, so it runs on a server of its own with sequential requests, never during the
//! throughput scenarios.

use std::{
    io,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt, BufReader},
    net::{
        TcpListener, TcpStream,
        tcp::{OwnedReadHalf, OwnedWriteHalf},
    },
    task::{JoinHandle, JoinSet},
};
use uuid::Uuid;

use crate::{
    device::{
        DEVICE_RATE_LIMIT, MAPPING_STATEMENTS_CODE_PATH, external_id, fetch_one, map_one,
        publish_one, publish_target, run_id,
    },
    pg::PgDb,
    report::Row,
    scenarios::{Config, Outcome, setup},
    server::ServerProc,
};

/// Sequential requests per measured path (after `WARM` unmeasured ones).
pub const SAMPLES: u64 = 50;
const WARM: u64 = 3;

const SSL_REQUEST: u32 = 80_877_103;
const GSSENC_REQUEST: u32 = 80_877_104;
const CANCEL_REQUEST: u32 = 80_877_102;

#[derive(Debug, Default)]
pub struct Counts {
    /// `Query` messages (simple protocol).
    pub simple: AtomicU64,
    /// `Execute` messages (extended protocol).
    pub execute: AtomicU64,
    /// A connection went TLS/GSS: its messages could not be read.
    pub opaque: AtomicBool,
}

impl Counts {
    pub fn snapshot(&self) -> (u64, u64) {
        (
            self.simple.load(Ordering::SeqCst),
            self.execute.load(Ordering::SeqCst),
        )
    }
}

/// The relay. Dropping it stops it and every connection through it.
pub struct Relay {
    pub port: u16,
    pub counts: Arc<Counts>,
    task: JoinHandle<()>,
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Relay {
    /// Listens on a free 127.0.0.1 port and relays every connection to `upstream`
    /// (`host:port`).
    pub async fn start(upstream: String) -> io::Result<Relay> {
        let l = TcpListener::bind("127.0.0.1:0").await?;
        let port = l.local_addr()?.port();
        let counts = Arc::new(Counts::default());
        let c = counts.clone();
        let task = tokio::spawn(async move {
            // Owned here: aborting this task drops the set, which aborts the relays.
            let mut conns = JoinSet::new();
            while let Ok((client, _)) = l.accept().await {
                let (up, c) = (upstream.clone(), c.clone());
                conns.spawn(async move {
                    let _ = relay(client, &up, &c).await;
                });
                while conns.try_join_next().is_some() {}
            }
        });
        Ok(Relay { port, counts, task })
    }
}

async fn relay(client: TcpStream, upstream: &str, c: &Counts) -> io::Result<()> {
    let server = TcpStream::connect(upstream).await?;
    client.set_nodelay(true)?;
    server.set_nodelay(true)?;
    let (cr, mut cw) = client.into_split();
    let (mut sr, sw) = server.into_split();
    // Either direction ending ends both (the halves are dropped, closing the sockets).
    tokio::select! {
        r = frontend(cr, sw, c) => r,
        r = tokio::io::copy(&mut sr, &mut cw) => r.map(|_| ()),
    }
}

/// Copies client → server, counting the messages on the way.
async fn frontend(r: OwnedReadHalf, mut w: OwnedWriteHalf, c: &Counts) -> io::Result<()> {
    let bad = |m: &str| io::Error::new(io::ErrorKind::InvalidData, m.to_string());
    let mut r = BufReader::with_capacity(1 << 16, r);
    // Startup packet: Int32 length (itself included), Int32 code, ...
    let len = r.read_u32().await? as usize;
    if !(8..=1 << 20).contains(&len) {
        return Err(bad("startup packet length"));
    }
    let mut body = vec![0u8; len - 4];
    r.read_exact(&mut body).await?;
    w.write_all(&(len as u32).to_be_bytes()).await?;
    w.write_all(&body).await?;
    let code = u32::from_be_bytes([body[0], body[1], body[2], body[3]]);
    if matches!(code, SSL_REQUEST | GSSENC_REQUEST | CANCEL_REQUEST) {
        if code != CANCEL_REQUEST {
            c.opaque.store(true, Ordering::SeqCst);
        }
        tokio::io::copy(&mut r, &mut w).await?;
        return Ok(());
    }
    let mut out = Vec::with_capacity(1 << 16);
    loop {
        let kind = match r.read_u8().await {
            Ok(k) => k,
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e),
        };
        let len = r.read_u32().await? as usize;
        if len < 4 {
            return Err(bad("message length"));
        }
        out.push(kind);
        out.extend_from_slice(&(len as u32).to_be_bytes());
        let at = out.len();
        out.resize(at + len - 4, 0);
        r.read_exact(&mut out[at..]).await?;
        // Counted before PostgreSQL sees it, so before the server can answer its caller.
        match kind {
            b'Q' => c.simple.fetch_add(1, Ordering::SeqCst),
            b'E' => c.execute.fetch_add(1, Ordering::SeqCst),
            _ => 0,
        };
        // Pass on whatever is complete once nothing more is waiting.
        if r.buffer().is_empty() {
            w.write_all(&out).await?;
            out.clear();
        }
    }
}

/// `host:port` of the PostgreSQL server named by `admin_url`; an error for Unix sockets.
pub fn upstream(admin_url: &str) -> Result<String, String> {
    let u = url::Url::parse(admin_url).map_err(|e| e.to_string())?;
    if u.query_pairs().any(|(k, _)| k == "host") {
        return Err("the URL names a host parameter (Unix socket?)".into());
    }
    let host = u
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or("the URL has no TCP host")?;
    Ok(format!("{host}:{}", u.port().unwrap_or(5432)))
}

/// `db_url` pointed at the relay, without TLS (so the relay can read the messages).
pub fn via_relay(db_url: &str, port: u16) -> Result<String, String> {
    let mut u = url::Url::parse(db_url).map_err(|e| e.to_string())?;
    u.set_host(Some("127.0.0.1")).map_err(|e| e.to_string())?;
    u.set_port(Some(port))
        .map_err(|_| "cannot set the port".to_string())?;
    let keep: Vec<(String, String)> = u
        .query_pairs()
        .filter(|(k, _)| k != "sslmode")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    u.query_pairs_mut()
        .clear()
        .extend_pairs(keep)
        .append_pair("sslmode", "disable");
    Ok(u.to_string())
}

/// Per-request (simple, extended) statements over `SAMPLES` sequential requests.
async fn per_request<F, Fut>(c: &Counts, mut one: F) -> Result<(f64, f64), String>
where
    F: FnMut(u64) -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    for i in 0..WARM {
        one(i).await?;
    }
    let (q0, e0) = c.snapshot();
    for i in WARM..WARM + SAMPLES {
        one(i).await?;
    }
    let (q1, e1) = c.snapshot();
    let n = SAMPLES as f64;
    Ok(((q1 - q0) as f64 / n, (e1 - e0) as f64 / n))
}

/// The `mapping`/`postgres` `statements/request` row, plus notes with the bootstrap
/// fetch's and the publish's figures.
pub async fn postgres_statements(cfg: &Config, http: &reqwest::Client, out: &mut Outcome) {
    let Some(admin) = cfg.postgres_url.as_deref() else {
        return;
    };
    let what = "mapping/postgres statements/request";
    let up = match upstream(admin) {
        Ok(u) => u,
        Err(e) => {
            out.notes.push(format!(
                "{what}: not measured, no TCP address to relay to: {e}"
            ));
            return;
        }
    };
    eprintln!(
        "[postgres] statements: counting on the wire, {SAMPLES} sequential requests per path"
    );
    let db = match PgDb::create(admin, "stmts").await {
        Ok(db) => db,
        Err(e) => return out.fail(what, e),
    };
    let r = measure(cfg, http, &up, &db.url).await;
    if let Err(e) = db.drop_now().await {
        out.notes
            .push(format!("postgres: could not drop the database: {e}"));
    }
    let m = match r {
        Ok(m) => m,
        Err(e) => return out.fail(what, e),
    };
    let (mq, me) = m.mapping;
    let total = mq + me;
    out.rows.push(Row::new(
        "mapping",
        "postgres",
        total,
        "statements/request",
        None,
        None,
    ));
    out.notes.push(format!(
        "mapping/postgres statements/request is MEASURED: a loopback relay between a separate server and PostgreSQL counted the Query and Execute messages of {SAMPLES} sequential mappings after {WARM} unmeasured ones: {mq:.2} simple-protocol (BEGIN/COMMIT) + {me:.2} prepared executions per request"
    ));
    if (total - MAPPING_STATEMENTS_CODE_PATH).abs() > 1e-9 {
        out.notes.push(format!(
            "mapping: the PostgreSQL count ({total:.2}) differs from the code-path figure ({MAPPING_STATEMENTS_CODE_PATH}) used for the sqlite row"
        ));
    }
    let (fq, fe) = m.fetch;
    let (pq, pe) = m.publish;
    out.notes.push(format!(
        "postgres statements/request, measured the same way: bootstrap_fetch {:.2}, http_publish {:.2} (after warm-up)",
        fq + fe,
        pq + pe
    ));
    if m.opaque {
        out.notes.push(
            "postgres statement count: a connection negotiated TLS/GSS and was not counted".into(),
        );
    }
}

struct Measured {
    mapping: (f64, f64),
    fetch: (f64, f64),
    publish: (f64, f64),
    opaque: bool,
}

async fn measure(
    cfg: &Config,
    http: &reqwest::Client,
    upstream: &str,
    db_url: &str,
) -> Result<Measured, String> {
    let relay = Relay::start(upstream.to_string())
        .await
        .map_err(|e| format!("relay: {e}"))?;
    let url = via_relay(db_url, relay.port)?;
    let env = [
        ("SWITCHYARD_DATABASE_URL", url),
        (
            "SWITCHYARD_DEVICE_RATE_LIMIT",
            DEVICE_RATE_LIMIT.to_string(),
        ),
        (
            "MG_USERS_ADMIN_PASSWORD",
            format!("adm-{}", Uuid::new_v4().simple()),
        ),
        ("SWITCHYARD_LOG", "warn".to_string()),
    ];
    let mut srv = ServerProc::spawn(&cfg.server_bin, &env)?;
    srv.wait_ready(http, Duration::from_secs(60)).await?;
    let s = setup(http, &srv.base).await?;
    let target = publish_target(http, &s).await?;
    let c = relay.counts.clone();
    let run = run_id();

    let mapping = per_request(&c, |n| map_one(http, &s, &run, n)).await?;
    let urls: Vec<String> = (0..WARM + SAMPLES)
        .map(|n| format!("{}/clients/bootstrap/{}", s.base, external_id(&run, n)))
        .collect();
    let fetch = per_request(&c, |n| fetch_one(http, &urls[n as usize])).await?;
    let publish = per_request(&c, |_| publish_one(http, &target)).await?;
    let opaque = c.opaque.load(Ordering::SeqCst);
    srv.stop();
    drop(relay);
    Ok(Measured {
        mapping,
        fetch,
        publish,
        opaque,
    })
}
