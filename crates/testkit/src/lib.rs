//! The black-box harness every black-box test uses: [`TestServer`] is the real server
//! on port 0 with a fresh store (SQLite in a temporary directory or a uniquely named
//! PostgreSQL database), driven over HTTP like curl or the SDK. Dropping it stops the
//! server and drops its database, also when a test fails half-way.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod mosquitto;
pub mod raw;

use std::{sync::Arc, time::Duration};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchyard::{Running, settings_for};
use switchyard_auth::ManualClock;

pub const ADMIN_PASSWORD: &str = "admin-pass-1234";
const DEFAULT_PG: &str = "postgres://postgres@127.0.0.1:5432/postgres";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub fn pg_admin_url() -> String {
    std::env::var("SWITCHYARD_TEST_POSTGRES_URL")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| DEFAULT_PG.to_string())
}

pub fn skip_postgres() -> bool {
    std::env::var("SWITCHYARD_SKIP_POSTGRES").is_ok_and(|v| v == "1")
}

/// The NATS server for tests of several nodes: `SWITCHYARD_TEST_NATS_URL` (default
/// `nats://127.0.0.1:4222`); `None` when `SWITCHYARD_SKIP_NATS=1` opts out.
pub fn nats_url() -> Option<String> {
    if std::env::var("SWITCHYARD_SKIP_NATS").is_ok_and(|v| v == "1") {
        return None;
    }
    Some(
        std::env::var("SWITCHYARD_TEST_NATS_URL")
            .ok()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "nats://127.0.0.1:4222".into()),
    )
}

/// Two nodes on one fresh PostgreSQL database and the test NATS: `None` (with a note)
/// when either is opted out of (`SWITCHYARD_SKIP_POSTGRES=1`, `SWITCHYARD_SKIP_NATS=1`).
pub async fn two_nodes() -> Option<(TestServer, Peer)> {
    if skip_postgres() {
        eprintln!("skipped: SWITCHYARD_SKIP_POSTGRES=1");
        return None;
    }
    let Some(nats) = nats_url() else {
        eprintln!("skipped: SWITCHYARD_SKIP_NATS=1");
        return None;
    };
    let a = TestServer::spawn_with(Backend::Postgres, move |s| s.bus_url = nats).await;
    let b = a.peer().await;
    Some((a, b))
}

/// A second node beside a [`TestServer`]: its own data directory, kept as long as it.
pub struct Peer {
    pub running: Running,
    pub dir: tempfile::TempDir,
}

pub struct TestServer {
    pub url: String,
    pub http: reqwest::Client,
    pub clock: Arc<ManualClock>,
    pub dir: tempfile::TempDir,
    pub running: Option<Running>,
    pub pg: Option<(String, String)>,
    pub db_url: String,
    pub bus_url: String,
}

pub struct Res {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Res {
    pub fn msg(&self) -> &str {
        self.body["message"].as_str().unwrap_or("")
    }
}

impl TestServer {
    pub async fn spawn(b: Backend) -> TestServer {
        TestServer::spawn_with(b, |_| {}).await
    }

    pub async fn spawn_with(
        b: Backend,
        tweak: impl FnOnce(&mut switchyard::Settings),
    ) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let (db_url, pg) = match b {
            Backend::Sqlite => (String::new(), None),
            Backend::Postgres => {
                let admin = pg_admin_url();
                let (url, name) = tokio::time::timeout(
                    Duration::from_secs(20),
                    switchyard_store_tests::pg::create_test_database(&admin),
                )
                .await
                .map_err(|_| "timed out".to_string())
                .and_then(|r| r.map_err(|e| e.to_string()))
                .unwrap_or_else(|e| {
                    panic!(
                        "PostgreSQL at {admin} is unreachable: {e}. Start it (see README), set \
                         SWITCHYARD_TEST_POSTGRES_URL, or opt out with SWITCHYARD_SKIP_POSTGRES=1"
                    )
                });
                (url, Some((admin, name)))
            }
        };
        let mut s = settings_for(dir.path(), &db_url);
        s.admin_password = ADMIN_PASSWORD.into();
        tweak(&mut s);
        let clock = Arc::new(ManualClock::new(time::OffsetDateTime::now_utc()));
        let bus_url = s.bus_url.clone();
        let running = switchyard::start(s, clock.clone(), None).await.unwrap();
        TestServer {
            url: running.url(),
            http: reqwest::Client::new(),
            clock,
            dir,
            running: Some(running),
            pg,
            db_url,
            bus_url,
        }
    }

    /// Another node on this server's database and bus, with the same keys (token key,
    /// CA, sealing and bootstrap keys: a node with others is refused at start).
    pub async fn peer(&self) -> Peer {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["keys", "ca"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        for f in [
            "keys/active.key",
            "keys/certs.key",
            "keys/bootstrap.key",
            "ca/ca.crt",
            "ca/ca.key",
        ] {
            std::fs::copy(self.dir.path().join(f), dir.path().join(f)).unwrap();
        }
        let mut s = settings_for(dir.path(), &self.db_url);
        s.bus_url = self.bus_url.clone();
        s.admin_password = ADMIN_PASSWORD.into();
        let running = switchyard::start(s, Arc::new(switchyard_auth::SystemClock), None)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "second node (bus {}; SWITCHYARD_SKIP_NATS=1 skips): {e}",
                    self.bus_url
                )
            });
        Peer { running, dir }
    }

    /// The server's core, for adapters a test serves on listeners of its own.
    pub fn core(&self) -> Arc<switchyard_core::Core> {
        self.running.as_ref().expect("server running").core.clone()
    }

    /// Stops the server and starts a new one on the same store.
    pub async fn restart(&mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown().await;
        }
        let mut s = settings_for(self.dir.path(), &self.db_url);
        s.admin_password = ADMIN_PASSWORD.into();
        let running = switchyard::start(s, self.clock.clone(), None)
            .await
            .unwrap();
        self.url = running.url();
        self.running = Some(running);
    }

    /// Stops the server and drops its database.
    pub async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown().await;
        }
        if let Some((admin, name)) = self.pg.take() {
            let _ = switchyard_store_tests::pg::drop_test_database(&admin, &name).await;
        }
    }

    pub async fn raw(
        &self,
        m: Method,
        path: &str,
        token: Option<&str>,
        ct: Option<&str>,
        body: Option<String>,
    ) -> Res {
        let mut r = self.http.request(m, format!("{}{}", self.url, path));
        if let Some(t) = token {
            r = r.header("Authorization", format!("Bearer {t}"));
        }
        if let Some(c) = ct {
            r = r.header("Content-Type", c);
        }
        if let Some(b) = body {
            r = r.body(b);
        }
        let resp = r.send().await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Res {
            status,
            headers,
            body,
            text,
        }
    }

    pub async fn req(
        &self,
        m: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Res {
        let ct = body.as_ref().map(|_| "application/json");
        self.raw(m, path, token, ct, body.map(|b| b.to_string()))
            .await
    }

    pub async fn get(&self, path: &str, t: &str) -> Res {
        self.req(Method::GET, path, Some(t), None).await
    }
    pub async fn post(&self, path: &str, t: &str, body: Value) -> Res {
        self.req(Method::POST, path, Some(t), Some(body)).await
    }

    pub async fn register(&self, username: &str) -> String {
        let r = self
            .req(
                Method::POST,
                "/users",
                None,
                Some(json!({"first_name": "F", "last_name": "L", "email": format!("{username}@example.com"),
                    "credentials": {"username": username, "secret": "12345678"}})),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        r.body["id"].as_str().unwrap().to_string()
    }

    pub async fn login(&self, username: &str, password: &str) -> (String, String) {
        let r = self
            .req(
                Method::POST,
                "/users/tokens/issue",
                None,
                Some(json!({"username": username, "password": password})),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        (
            r.body["access_token"].as_str().unwrap().to_string(),
            r.body["refresh_token"].as_str().unwrap().to_string(),
        )
    }

    /// Registers a user and logs in; returns (id, access token).
    pub async fn user(&self, username: &str) -> (String, String) {
        let id = self.register(username).await;
        (id, self.login(username, "12345678").await.0)
    }

    pub async fn admin(&self) -> String {
        self.login("admin", ADMIN_PASSWORD).await.0
    }

    pub async fn domain(&self, token: &str, route: &str) -> String {
        let r = self
            .post("/domains", token, json!({"name": route, "route": route}))
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        r.body["id"].as_str().unwrap().to_string()
    }

    /// The domain's owner invites a user as a plain member, who accepts.
    pub async fn join(&self, owner: &str, d: &str, user_id: &str, user: &str) {
        let r = self
            .post(
                &format!("/domains/{d}/invitations"),
                owner,
                json!({"invitee_user_id": user_id, "role_id": "member"}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let r = self
            .post("/invitations/accept", user, json!({"domain_id": d}))
            .await;
        assert_eq!(r.status, 204, "{}", r.text);
    }

    pub async fn client(&self, token: &str, d: &str, name: &str) -> Value {
        let r = self
            .post(&format!("/{d}/clients"), token, json!({"name": name}))
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        r.body
    }

    pub async fn channel(&self, token: &str, d: &str, name: &str) -> Value {
        let r = self
            .post(&format!("/{d}/channels"), token, json!({"name": name}))
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        r.body
    }
}

/// A test that ends without `stop()` (an assertion failed, or it returned early) still
/// stops its server (dropping `Running` closes its stop signal, so the listeners shut
/// down) and drops its PostgreSQL database, on a thread of its own since `Drop` cannot
/// await and may run inside the test's runtime (`WITH (FORCE)` closes the pool's
/// connections).
impl Drop for TestServer {
    fn drop(&mut self) {
        drop(self.running.take());
        let Some((admin, name)) = self.pg.take() else {
            return;
        };
        let cleanup = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                let _ = switchyard_store_tests::pg::drop_test_database(&admin, &name).await;
            });
        });
        let _ = cleanup.join();
    }
}

/// Runs a test body on SQLite and on PostgreSQL.
#[macro_export]
macro_rules! both {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if $crate::skip_postgres() {
                    eprintln!("PostgreSQL half skipped (SWITCHYARD_SKIP_POSTGRES=1)");
                    return;
                }
                super::$name($crate::Backend::Postgres).await
            }
        }
    };
}

/// A fresh database for processes a test starts itself: SQLite (`""`: each process
/// keeps it in its data dir) or a new PostgreSQL database, dropped with the value.
pub struct TestDatabase {
    pub url: String,
    pg: Option<(String, String)>,
}

impl TestDatabase {
    pub async fn new(b: Backend) -> TestDatabase {
        match b {
            Backend::Sqlite => TestDatabase {
                url: String::new(),
                pg: None,
            },
            Backend::Postgres => {
                let admin = pg_admin_url();
                let (url, name) = switchyard_store_tests::pg::create_test_database(&admin)
                    .await
                    .unwrap_or_else(|e| panic!("PostgreSQL at {admin}: {e}"));
                TestDatabase {
                    url,
                    pg: Some((admin, name)),
                }
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some((admin, name)) = self.pg.take() {
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .ok()?;
                rt.block_on(switchyard_store_tests::pg::drop_test_database(
                    &admin, &name,
                ))
                .ok()
            })
            .join();
        }
    }
}

/// The real `switchyard serve` as a child process, on an address it picks; its
/// stdout lines are collected.
pub struct ServerProcess {
    pub child: std::process::Child,
    pub url: String,
    pub stdout: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    pub stderr_path: std::path::PathBuf,
}

impl ServerProcess {
    /// Starts `bin serve` with the data dir and database, plus `env`; waits until it
    /// prints its HTTP address (panics with its stderr if it exits first).
    pub fn start(
        bin: &str,
        data_dir: &std::path::Path,
        db_url: &str,
        env: &[(&str, &str)],
    ) -> ServerProcess {
        ServerProcess::try_start(bin, data_dir, db_url, env).unwrap_or_else(|e| panic!("{e}"))
    }

    /// As [`ServerProcess::start`], returning the reason when the server does not come
    /// up (its exit and stderr).
    pub fn try_start(
        bin: &str,
        data_dir: &std::path::Path,
        db_url: &str,
        env: &[(&str, &str)],
    ) -> Result<ServerProcess, String> {
        use std::io::BufRead;
        std::fs::create_dir_all(data_dir).map_err(|e| e.to_string())?;
        static STARTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = STARTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let stderr_path = data_dir.join(format!("stderr-{n}.log"));
        let stderr = std::fs::File::create(&stderr_path).map_err(|e| e.to_string())?;
        let mut cmd = std::process::Command::new(bin);
        cmd.arg("serve")
            .env("SWITCHYARD_DATA_DIR", data_dir)
            .env("SWITCHYARD_DATABASE_URL", db_url)
            .env("SWITCHYARD_HTTP_ADDR", "127.0.0.1:0")
            .env("SWITCHYARD_MQTT_ADDR", "")
            .env("MG_USERS_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("SWITCHYARD_LOG", "warn")
            .stdout(std::process::Stdio::piped())
            .stderr(stderr);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().map_err(|e| format!("{bin}: {e}"))?;
        let out = child.stdout.take().ok_or("no stdout")?;
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let keep = lines.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                if let Some(a) = line.trim().strip_prefix("HTTP API") {
                    let _ = tx.send(a.trim().to_string());
                }
                if let Ok(mut l) = keep.lock() {
                    l.push(line);
                }
            }
        });
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(url) => Ok(ServerProcess {
                child,
                url,
                stdout: lines,
                stderr_path,
            }),
            Err(_) => {
                let _ = child.kill();
                let status = child.wait().ok();
                let err = std::fs::read_to_string(&stderr_path).unwrap_or_default();
                Err(format!("server did not start ({status:?}): {err}"))
            }
        }
    }

    /// Sends a signal (`"TERM"`, `"INT"`, `"KILL"`).
    pub fn signal(&self, sig: &str) {
        let st = std::process::Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(st.success(), "kill -{sig} failed");
    }

    /// Waits for the process to exit, at most `within`; `None` if it is still running.
    pub fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let end = std::time::Instant::now() + within;
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                return Some(st);
            }
            if std::time::Instant::now() >= end {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
