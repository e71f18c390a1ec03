//! The real `switchyard serve` process: SIGTERM in the middle of concurrent writes
//! drains and exits 0 within the deadline, and every acknowledged write is there after
//! a restart; several nodes started at the same instant on one fresh database all
//! serve. On SQLite (one node) and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use switchyard_testkit::{
    ADMIN_PASSWORD, Backend, ServerProcess, TestDatabase, both,
    mosquitto::{borrowed, burst, expect_burst, owned, pub_lines, subscribed},
};

const BIN: &str = env!("CARGO_BIN_EXE_switchyard-under-test");

async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: Option<&str>,
    body: Option<Value>,
) -> Result<(u16, Value), reqwest::Error> {
    let mut r = http.request(method, url);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    if let Some(b) = body {
        r = r.json(&b);
    }
    let res = r.send().await?;
    let status = res.status().as_u16();
    let text = res.text().await?;
    Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
}

/// POSTs and expects 200 or 201; the body.
async fn post_ok(http: &reqwest::Client, url: String, token: &str, body: Value) -> Value {
    let (st, b) = call(http, reqwest::Method::POST, url, Some(token), Some(body))
        .await
        .unwrap();
    assert!(st == 201 || st == 200, "{st} {b}");
    b
}

async fn admin_token(http: &reqwest::Client, url: &str) -> String {
    let (st, b) = call(
        http,
        reqwest::Method::POST,
        format!("{url}/users/tokens/issue"),
        None,
        Some(json!({"username": "admin", "password": ADMIN_PASSWORD})),
    )
    .await
    .unwrap();
    assert_eq!(st, 201, "{b}");
    b["access_token"].as_str().unwrap().to_string()
}

async fn sigterm_under_load(b: Backend) {
    let db = TestDatabase::new(b).await;
    let dir = tempfile::tempdir().unwrap();
    let timeout = Duration::from_secs(5);
    let env = [("SWITCHYARD_SHUTDOWN_TIMEOUT", "5s")];
    let mut p = ServerProcess::start(BIN, dir.path(), &db.url, &env);
    let http = reqwest::Client::new();
    let url = p.url.clone();
    let t = admin_token(&http, &url).await;
    let (st, d) = call(
        &http,
        reqwest::Method::POST,
        format!("{url}/domains"),
        Some(&t),
        Some(json!({"name": "fleet", "route": "fleet"})),
    )
    .await
    .unwrap();
    assert_eq!(st, 201, "{d}");
    let d = d["id"].as_str().unwrap().to_string();

    // Writers: single creates, bulks of 20 and /mapping, until the server goes away.
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut writers = Vec::new();
    for w in 0..6 {
        let (http, url, t, d, acked) = (
            http.clone(),
            url.clone(),
            t.clone(),
            d.clone(),
            acked.clone(),
        );
        writers.push(tokio::spawn(async move {
            for n in 0.. {
                let (path, body) = match w % 3 {
                    0 => (format!("/{d}/clients"), json!({"name": format!("w{w}-{n}")})),
                    1 => (
                        format!("/{d}/clients/bulk"),
                        Value::Array(
                            (0..20)
                                .map(|i| json!({"name": format!("b{w}-{n}-{i}")}))
                                .collect(),
                        ),
                    ),
                    _ => (
                        format!("/{d}/mapping"),
                        json!({"name": format!("gw{w}-{n}"), "external_id": format!("x{w}-{n}"), "external_key": "k"}),
                    ),
                };
                let Ok((st, b)) =
                    call(&http, reqwest::Method::POST, format!("{url}{path}"), Some(&t), Some(body)).await
                else {
                    break;
                };
                match st {
                    201 | 200 => {
                        let mut ids: Vec<String> = Vec::new();
                        if let Some(id) = b["id"].as_str() {
                            ids.push(id.into());
                        }
                        for c in b["clients"].as_array().into_iter().flatten() {
                            ids.push(c["id"].as_str().unwrap().into());
                        }
                        assert!(!ids.is_empty(), "acknowledged without ids: {b}");
                        acked.lock().unwrap().extend(ids);
                    }
                    // Refused while stopping (or throttled): not acknowledged.
                    _ => tokio::time::sleep(Duration::from_millis(5)).await,
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    let before = acked.lock().unwrap().len();
    assert!(before > 0, "no write was acknowledged before the signal");
    let sent = Instant::now();
    p.signal("TERM");
    let status = tokio::task::spawn_blocking(move || {
        let st = p.wait_exit(timeout + Duration::from_secs(3));
        (st, p.stderr())
    })
    .await
    .unwrap();
    let took = sent.elapsed();
    let (st, stderr) = status;
    let st = st.unwrap_or_else(|| panic!("still running {took:?} after SIGTERM"));
    assert!(st.success(), "exit {st:?}: {stderr}");
    assert!(took <= timeout + Duration::from_secs(1), "took {took:?}");
    for w in writers {
        w.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();

    // Every acknowledged write is there after a restart.
    let p2 = ServerProcess::start(BIN, dir.path(), &db.url, &env);
    let t = admin_token(&http, &p2.url).await;
    let (st, page) = call(
        &http,
        reqwest::Method::GET,
        format!("{}/{d}/clients?limit=1", p2.url),
        Some(&t),
        None,
    )
    .await
    .unwrap();
    assert_eq!(st, 200, "{page}");
    let total = page["total"].as_u64().unwrap() as usize;
    assert!(
        total >= acked.len(),
        "{total} clients stored, {} acknowledged",
        acked.len()
    );
    for id in &acked {
        let (st, b) = call(
            &http,
            reqwest::Method::GET,
            format!("{}/{d}/clients/{id}", p2.url),
            Some(&t),
            None,
        )
        .await
        .unwrap();
        assert_eq!(st, 200, "acknowledged client {id} lost: {b}");
    }
}

both!(sigterm_under_load);

/// Three nodes started at the same instant on one fresh PostgreSQL database, sharing
/// their keys as one deployment's nodes do (generated once, here by a throwaway
/// single-node start): all three serve and take each other's tokens. A node with keys
/// of its own is refused at start with a clear error instead of silently rejecting the
/// others' tokens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_start_at_once() {
    if switchyard_testkit::skip_postgres() {
        eprintln!("skipped (SWITCHYARD_SKIP_POSTGRES=1)");
        return;
    }
    // The deployment's key material.
    let shared = tempfile::tempdir().unwrap();
    drop(ServerProcess::start(BIN, shared.path(), "", &[]));
    let sp = |p: &str| shared.path().join(p).to_str().unwrap().to_string();
    let read = |p: &str| {
        std::fs::read_to_string(shared.path().join(p))
            .unwrap()
            .trim()
            .to_string()
    };
    let env: Vec<(String, String)> = vec![
        ("MG_AUTH_KEYS_ACTIVE_KEY_PATH".into(), sp("keys/active.key")),
        ("MG_CERTS_CA_CERT_PATH".into(), sp("ca/ca.crt")),
        ("MG_CERTS_CA_KEY_PATH".into(), sp("ca/ca.key")),
        ("SWITCHYARD_CERTS_KEY".into(), read("keys/certs.key")),
        (
            "MG_BOOTSTRAP_ENCRYPT_KEY".into(),
            read("keys/bootstrap.key"),
        ),
    ];

    let db = TestDatabase::new(Backend::Postgres).await;
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let barrier = Arc::new(std::sync::Barrier::new(3));
    let starts: Vec<_> = dirs
        .iter()
        .map(|d| {
            let (dir, url, env, barrier) = (
                d.path().to_path_buf(),
                db.url.clone(),
                env.clone(),
                barrier.clone(),
            );
            std::thread::spawn(move || {
                let env: Vec<(&str, &str)> =
                    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                barrier.wait();
                ServerProcess::try_start(BIN, &dir, &url, &env)
            })
        })
        .collect();
    let nodes: Vec<ServerProcess> = starts
        .into_iter()
        .map(|h| {
            h.join()
                .unwrap()
                .unwrap_or_else(|e| panic!("a node failed: {e}"))
        })
        .collect();
    let http = reqwest::Client::new();
    let t = admin_token(&http, &nodes[0].url).await;
    for n in &nodes {
        let (st, b) = call(
            &http,
            reqwest::Method::GET,
            format!("{}/users/profile", n.url),
            Some(&t),
            None,
        )
        .await
        .unwrap();
        assert_eq!(st, 200, "{}: {b}", n.url);
        assert_eq!(b["credentials"]["username"], "admin");
    }

    // A fourth node with keys of its own.
    let odd = tempfile::tempdir().unwrap();
    let err = match ServerProcess::try_start(BIN, odd.path(), &db.url, &[]) {
        Ok(_) => panic!("a node with other keys started"),
        Err(e) => e,
    };
    assert!(
        err.contains("differs from the one the other nodes"),
        "{err}"
    );
}

/// The server's MQTT address, from what it printed at start.
fn mqtt_port(p: &ServerProcess) -> String {
    for _ in 0..100 {
        let lines = p.stdout.lock().unwrap().clone();
        if let Some(l) = lines.iter().find(|l| l.trim_start().starts_with("MQTT ")) {
            let addr = l
                .split("mqtt://")
                .nth(1)
                .unwrap()
                .split_whitespace()
                .next()
                .unwrap();
            return addr.rsplit(':').next().unwrap().to_string();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("no MQTT address printed: {:?}", p.stdout.lock().unwrap());
}

async fn sub_lines(port: &str, args: &[&str]) -> Vec<String> {
    let out = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::process::Command::new("mosquitto_sub")
            .args(["-h", "127.0.0.1", "-p", port])
            .args(args)
            .kill_on_drop(true)
            .stderr(std::process::Stdio::null())
            .output(),
    )
    .await
    .expect("mosquitto_sub did not exit")
    .expect("mosquitto_sub (apt-get install mosquitto-clients)");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// The issue's target: a `mosquitto_sub -c -q 1` subscriber disconnects, 100 QoS 1
/// messages are published, the server is restarted (SIGTERM), and the subscriber
/// reconnecting with the same client id receives all 100, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_session_survives_a_restart() {
    kept_session_outlives("TERM").await;
}

/// The same with the server killed (SIGKILL) instead: the subscription was written
/// through when it was made, and the 100 messages as they arrived for the away client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_session_survives_a_crash() {
    kept_session_outlives("KILL").await;
}

async fn kept_session_outlives(signal: &str) {
    let dir = tempfile::tempdir().unwrap();
    let env = [("SWITCHYARD_MQTT_ADDR", "127.0.0.1:0")];
    let mut p = ServerProcess::start(BIN, dir.path(), "", &env);
    let http = reqwest::Client::new();
    let url = p.url.clone();
    let t = admin_token(&http, &url).await;
    let post = |path: String, body: Value| post_ok(&http, path, &t, body);
    let d = post(format!("{url}/domains"), json!({"name": "m", "route": "m"})).await;
    let d = d["id"].as_str().unwrap().to_string();
    let publisher = post(format!("{url}/{d}/clients"), json!({"name": "pub"})).await;
    let subscriber = post(format!("{url}/{d}/clients"), json!({"name": "sub"})).await;
    let ch = post(format!("{url}/{d}/channels"), json!({"name": "ch"})).await;
    let (pid, psec) = (
        publisher["id"].as_str().unwrap(),
        publisher["credentials"]["secret"].as_str().unwrap(),
    );
    let (sid, ssec) = (
        subscriber["id"].as_str().unwrap(),
        subscriber["credentials"]["secret"].as_str().unwrap(),
    );
    let ch = ch["id"].as_str().unwrap();
    post(
        format!("{url}/{d}/channels/{ch}/connect"),
        json!({"client_ids": [pid], "types": ["publish"]}),
    )
    .await;
    post(
        format!("{url}/{d}/channels/{ch}/connect"),
        json!({"client_ids": [sid], "types": ["subscribe"]}),
    )
    .await;
    let topic = format!("m/{d}/c/{ch}");
    let port = mqtt_port(&p);
    let sub_args = [
        "-q", "1", "-c", "-i", "keeper", "-u", sid, "-P", ssec, "-t", &topic,
    ];

    // First visit: subscribed once, then away.
    let first = {
        let (port, args): (String, Vec<String>) = (
            port.clone(),
            sub_args.iter().map(|s| s.to_string()).collect(),
        );
        tokio::spawn(async move {
            let mut a: Vec<&str> = args.iter().map(String::as_str).collect();
            a.extend(["-C", "1", "-W", "10"]);
            sub_lines(&port, &a).await
        })
    };
    let publish = |port: &str, lines: String| {
        let port = port.to_string();
        let (pid, psec, topic) = (pid.to_string(), psec.to_string(), topic.clone());
        async move {
            use tokio::io::AsyncWriteExt;
            let mut child = tokio::process::Command::new("mosquitto_pub")
                .args(["-h", "127.0.0.1", "-p", &port, "-q", "1", "-l"])
                .args(["-u", &pid, "-P", &psec, "-t", &topic])
                .stdin(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            let mut stdin = child.stdin.take().unwrap();
            stdin.write_all(lines.as_bytes()).await.unwrap();
            drop(stdin);
            assert!(child.wait().await.unwrap().success());
        }
    };
    let mut n = 0;
    while !first.is_finished() && n < 40 {
        publish(&port, "hello\n".into()).await;
        tokio::time::sleep(Duration::from_millis(250)).await;
        n += 1;
    }
    assert_eq!(first.await.unwrap(), vec!["hello"]);

    let want: Vec<String> = (1..=100).map(|i| format!("m{i}")).collect();
    let lines: String = want.iter().map(|m| format!("{m}\n")).collect();
    publish(&port, lines).await;
    // Stopped in order, the server saves what it held; killed, it has logged what
    // arrived for the away client as it came (in batches, within milliseconds).
    if signal == "KILL" {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    p.signal(signal);
    let st = tokio::task::spawn_blocking(move || p.wait_exit(Duration::from_secs(15)))
        .await
        .unwrap()
        .expect("server did not stop");
    assert_eq!(st.success(), signal == "TERM", "{st:?}");

    let p2 = ServerProcess::start(BIN, dir.path(), "", &env);
    let port = mqtt_port(&p2);
    // Until 3 s pass without a message (a late "hello" may come first).
    let mut a: Vec<&str> = sub_args.to_vec();
    a.extend(["-W", "3"]);
    let got = sub_lines(&port, &a).await;
    let kept: Vec<String> = got.into_iter().filter(|l| l != "hello").collect();
    assert_eq!(kept, want);
}

/// `/metrics` of the real process shows the message plane by adapter: an HTTP publish
/// counted in, its delivery to a WebSocket and an MQTT subscriber counted out with the
/// publish-to-delivery latency, MQTT connections by transport, and HTTP durations by
/// route template.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_by_adapter_transport_and_route() {
    use futures::StreamExt;
    let dir = tempfile::tempdir().unwrap();
    let env = [("SWITCHYARD_MQTT_ADDR", "127.0.0.1:0")];
    let p = ServerProcess::start(BIN, dir.path(), "", &env);
    let http = reqwest::Client::new();
    let url = p.url.clone();
    let (d, cid, sec, ch) = one_client_fleet(&http, &url, "met").await;
    // A WebSocket and an MQTT subscriber.
    let ws_url = format!(
        "{}/m/{d}/c/{ch}?authorization={sec}",
        url.replacen("http", "ws", 1)
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url).await.unwrap();
    let port = mqtt_port(&p);
    let topic = format!("m/{d}/c/{ch}");
    let sub = {
        let (port, cid, sec, topic) = (port.clone(), cid.clone(), sec.clone(), topic.clone());
        tokio::spawn(async move {
            sub_lines(
                &port,
                &["-C", "1", "-W", "20", "-u", &cid, "-P", &sec, "-t", &topic],
            )
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(700)).await;
    let r = http
        .post(format!("{url}/m/{d}/c/{ch}"))
        .header("Authorization", format!("Client {sec}"))
        .header("Content-Type", "text/plain")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let got = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(got.into_text().unwrap().as_str(), "hello");
    assert_eq!(sub.await.unwrap(), vec!["hello".to_string()]);
    let m = metrics(&http, &url).await;
    let has = |needle: &str| m.lines().any(|l| !l.starts_with('#') && l.contains(needle));
    for needle in [
        r#"switchyard_messages_in_total{adapter="http",qos="0"} 1"#,
        r#"switchyard_messages_out_total{adapter="ws",qos="0"} 1"#,
        r#"switchyard_messages_out_total{adapter="mqtt",qos="0"} 1"#,
        r#"switchyard_message_delivery_seconds"#,
        r#"adapter="ws""#,
        r#"switchyard_mqtt_connections_total{transport="tcp"}"#,
        r#"switchyard_mqtt_queue_depth_count 1"#,
        r#"http_request_duration_seconds"#,
        r#"route="/m/{domain}/c/{channel}""#,
        r#"route="/{domainID}/channels/{channelID}/connect""#,
    ] {
        assert!(has(needle), "{needle} missing from /metrics:\n{m}");
    }
    assert!(
        m.lines()
            .filter(|l| l.starts_with("switchyard_message_delivery_seconds"))
            .any(|l| l.contains(r#"adapter="mqtt""#)),
        "mqtt delivery latency:\n{m}"
    );
    drop(p);
}

/// A persistent session whose client is away slows nobody down: a `mosquitto_pub -l`
/// burst reaches a live subscriber whole while a kept session on the same topic has a
/// queue of 16 and a long subscriber wait; what does not fit that queue is dropped at
/// once and counted as `session_full`, and the client coming back gets the 16 it kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parked_session_slows_nobody() {
    const BURST: usize = 20_000;
    let dir = tempfile::tempdir().unwrap();
    let p = small_queues(dir.path(), "16");
    let http = reqwest::Client::new();
    let url = p.url.clone();
    let (d, cid, sec, ch) = one_client_fleet(&http, &url, "parked").await;
    let port = mqtt_port(&p);
    let topic = format!("m/{d}/c/{ch}");
    let auth = ["-u", cid.as_str(), "-P", sec.as_str(), "-t", topic.as_str()];
    let keeper = ["-q", "1", "-c", "-i", "keeper"];

    // The kept session: subscribed, then its client leaves.
    let mut a = keeper.to_vec();
    a.extend(auth);
    a.extend(["-W", "2"]);
    assert!(sub_lines(&port, &a).await.is_empty());

    // A live subscriber, probed until it is in place.
    let mut live_args = vec!["-i", "live"];
    live_args.extend(auth);
    let mut pub_args = vec!["-i", "pub"];
    pub_args.extend(auth);
    let (_live, mut lines, probes) = subscribed(&port, &live_args, &pub_args).await;

    // The burst arrives whole and in order at the live subscriber.
    let publisher = {
        let (port, pub_args) = (port.clone(), owned(&pub_args));
        tokio::spawn(async move { pub_lines(&port, &borrowed(&pub_args), burst(BURST)).await })
    };
    expect_burst(&mut lines, BURST).await;
    publisher.await.unwrap();

    // The kept session took the first 16 and dropped the rest, counted (its forwarder
    // may still be working through what the bus holds for it).
    let mut tries = 0;
    loop {
        let m = metrics(&http, &url).await;
        let (full, bus) = (dropped(&m, "session_full"), dropped(&m, "bus_queue_full"));
        if full + bus == probes + BURST - 16 {
            assert!(full > 0, "{m}");
            break;
        }
        tries += 1;
        assert!(
            tries < 100,
            "{full} + {bus} dropped for the kept session:\n{m}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut a = keeper.to_vec();
    a.extend(auth);
    a.extend(["-W", "3"]);
    let kept = sub_lines(&port, &a).await;
    let want: Vec<String> = std::iter::repeat_n("probe".to_string(), probes.min(16))
        .chain((0..16 - probes.min(16)).map(|i| format!("m{i}")))
        .collect();
    assert_eq!(kept, want);
    drop(p);
}

/// What a persistent session had queued and not yet sent when its client left is in
/// its row, so a crash does not lose it: a v5 `mosquitto_sub` with Receive Maximum 1
/// stops reading (SIGSTOP) while five QoS 1 messages are published — one is sent and
/// unacknowledged, four wait in its queue — then it dies, the server is killed, and
/// the client coming back to the restarted server receives all five, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_messages_survive_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let env = [("SWITCHYARD_MQTT_ADDR", "127.0.0.1:0")];
    let mut p = ServerProcess::start(BIN, dir.path(), "", &env);
    let http = reqwest::Client::new();
    let keeper = keeper_dies_behind(&http, &p, "q", 5).await;
    // The server sees the connection close and keeps the session; then it is killed.
    tokio::time::sleep(Duration::from_millis(700)).await;
    p.signal("KILL");
    tokio::task::spawn_blocking(move || p.wait_exit(Duration::from_secs(15)))
        .await
        .unwrap()
        .expect("server did not stop");

    let p2 = ServerProcess::start(BIN, dir.path(), "", &env);
    assert_eq!(keeper.come_back(&p2).await, keeper.sent);
}

/// A kept session's client: a v5 `mosquitto_sub` with Receive Maximum 1 and what was
/// published to it.
struct Keeper {
    args: Vec<String>,
    sent: Vec<String>,
}

impl Keeper {
    /// The client connects again to `p` and reads for 3 s: what it receives.
    async fn come_back(&self, p: &ServerProcess) -> Vec<String> {
        let mut a = borrowed(&self.args);
        a.extend(["-W", "3"]);
        let got = sub_lines(&mqtt_port(p), &a).await;
        got.into_iter().filter(|l| l != "probe").collect()
    }
}

/// A kept session on a fresh domain of `p` whose client stops reading (SIGSTOP) while
/// `n` QoS 1 messages are published, then dies (SIGKILL): the first is sent and not
/// acknowledged, the others wait in its queue as far as they fit.
async fn keeper_dies_behind(
    http: &reqwest::Client,
    p: &ServerProcess,
    route: &str,
    n: usize,
) -> Keeper {
    let (d, cid, sec, ch) = one_client_fleet(http, &p.url, route).await;
    let topic = format!("m/{d}/c/{ch}");
    let login = ["-u", &cid, "-P", &sec, "-t", &topic];
    let mut args = owned(&["-V", "mqttv5", "-q", "1", "-c", "-x", "600", "-i", "keeper"]);
    args.extend(owned(&login));
    let mut pub_args = vec!["-q", "1", "-i", "pub"];
    pub_args.extend(login);
    let port = mqtt_port(p);
    let mut sub_args = borrowed(&args);
    sub_args.extend(["-D", "connect", "receive-maximum", "1"]);
    let (mut sub, _lines, _) = subscribed(&port, &sub_args, &pub_args).await;
    let pid = sub.id().unwrap().to_string();
    let kill = |sig: &str| {
        let st = std::process::Command::new("kill")
            .args([sig, &pid])
            .status()
            .unwrap();
        assert!(st.success(), "kill {sig}");
    };
    kill("-STOP");
    let sent: Vec<String> = (1..=n).map(|i| format!("m{i}")).collect();
    pub_lines(
        &port,
        &pub_args,
        sent.iter().map(|m| format!("{m}\n")).collect(),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    kill("-KILL");
    sub.wait().await.unwrap();
    Keeper { args, sent }
}

/// A kept session whose client is away holds no more than its queue's bound: what was
/// queued when the client left counts against it. A keeper with a queue of 4 stops
/// reading while ten QoS 1 messages come (one sent, four queued, the fifth waited for)
/// and dies; the five that came after are dropped as `session_full`, and the client
/// coming back gets the first five, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_session_holds_its_bound_while_away() {
    let dir = tempfile::tempdir().unwrap();
    let p = small_queues(dir.path(), "4");
    let http = reqwest::Client::new();
    let keeper = keeper_dies_behind(&http, &p, "bound", 10).await;
    let mut tries = 0;
    loop {
        let m = metrics(&http, &p.url).await;
        let full = dropped(&m, "session_full");
        if full == 5 {
            break;
        }
        tries += 1;
        assert!(tries < 50, "{full} dropped as session_full, not 5:\n{m}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(keeper.come_back(&p).await, keeper.sent[..5]);
    drop(p);
}

/// A domain with one client connected to one channel to publish and subscribe:
/// (domain, client id, secret, channel).
async fn one_client_fleet(
    http: &reqwest::Client,
    url: &str,
    route: &str,
) -> (String, String, String, String) {
    let t = admin_token(http, url).await;
    let post = |path: String, body: Value| post_ok(http, path, &t, body);
    let d = post(
        format!("{url}/domains"),
        json!({"name": route, "route": route}),
    )
    .await;
    let d = d["id"].as_str().unwrap().to_string();
    let c = post(format!("{url}/{d}/clients"), json!({"name": "both"})).await;
    let ch = post(format!("{url}/{d}/channels"), json!({"name": "ch"})).await;
    let (cid, sec) = (
        c["id"].as_str().unwrap().to_string(),
        c["credentials"]["secret"].as_str().unwrap().to_string(),
    );
    let ch = ch["id"].as_str().unwrap().to_string();
    post(
        format!("{url}/{d}/channels/{ch}/connect"),
        json!({"client_ids": [cid], "types": ["publish", "subscribe"]}),
    )
    .await;
    (d, cid, sec, ch)
}

/// A server whose MQTT sessions queue `queue` messages and wait a minute for a stuck
/// subscriber before giving up on it.
fn small_queues(dir: &std::path::Path, queue: &str) -> ServerProcess {
    let env = [
        ("SWITCHYARD_MQTT_ADDR", "127.0.0.1:0"),
        ("SWITCHYARD_MQTT_QUEUE", queue),
        ("SWITCHYARD_SUBSCRIBER_WAIT", "60s"),
    ];
    ServerProcess::start(BIN, dir, "", &env)
}

/// How many messages `/metrics` text `m` counts as dropped for `reason`.
fn dropped(m: &str, reason: &str) -> usize {
    let key = format!(r#"switchyard_messages_dropped_total{{reason="{reason}"}} "#);
    m.lines()
        .find_map(|l| l.strip_prefix(key.as_str()))
        .map_or(0, |v| v.trim().parse().unwrap())
}

/// The server's `/metrics` text.
async fn metrics(http: &reqwest::Client, url: &str) -> String {
    let r = http.get(format!("{url}/metrics")).send().await.unwrap();
    r.text().await.unwrap()
}
