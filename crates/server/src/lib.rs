//! Wiring: builds the store, bus, core and HTTP app from the settings and serves
//! them. Used by `main` and by the black-box tests (which bind port 0).

pub mod config;
pub mod entry;
mod http_serve;
mod mail;
mod mqtt_ws;
pub mod mtls;

use std::{net::SocketAddr, path::Path, sync::Arc};

use switchyard_auth::{Clock, KeyMaterial, Tokenizer};
use switchyard_bus::{LocalBus, MessageBus};

use switchyard_core::{Core, CoreConfig};
use switchyard_http_api::{AppState, HttpConfig};
use switchyard_store::Store;
use tokio::{net::TcpListener, sync::watch};

pub use config::Settings;

/// A running server: its bound addresses, and a handle that stops it.
pub struct Running {
    pub http_addrs: Vec<SocketAddr>,
    /// The MQTT listener's address, when one is serving.
    pub mqtt_addr: Option<SocketAddr>,
    pub mqtts_addr: Option<SocketAddr>,
    /// Why MQTT is not serving on its default address, if so.
    pub mqtt_note: Option<String>,
    pub core: Arc<Core>,
    /// Where the generated admin password was written, when it was generated now.
    pub admin_password_file: Option<std::path::PathBuf>,
    pub store_description: String,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    mqtt: switchyard_adapter_mqtt::MqttAdapter,
}

impl Running {
    /// Stops accepting, lets in-flight HTTP requests finish and closes MQTT sessions
    /// (v5 DISCONNECT 0x8B), each within the shutdown timeout, saves the MQTT persistent
    /// sessions for the next start, then closes the store (on SQLite after a final WAL
    /// checkpoint).
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
        let saved = self.mqtt.save_sessions().await;
        if saved > 0 {
            tracing::info!(saved, "mqtt: persistent sessions saved for the next start");
        }
        self.core.close().await;
    }
    pub fn url(&self) -> String {
        format!("http://{}", self.http_addrs[0])
    }
}

/// Creates the data directory if needed, readable by its owner only (it holds the
/// database, keys and the generated admin password).
fn private_dir(dir: &Path) -> Result<(), String> {
    let err = |e: std::io::Error| format!("{}: {e}", dir.display());
    std::fs::create_dir_all(dir).map_err(err)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(err)?;
    }
    Ok(())
}

/// Opens the configured store (running migrations).
pub async fn open_store(s: &Settings) -> Result<(Arc<dyn Store>, String), String> {
    let url = if s.database_url.is_empty() {
        private_dir(&s.data_dir)?;
        format!("sqlite://{}", s.data_dir.join("switchyard.db").display())
    } else {
        s.database_url.clone()
    };
    if url.starts_with("sqlite:") {
        let st = switchyard_store_sql::SqliteStore::open(&url)
            .await
            .map_err(|e| format!("cannot open {url}: {e}"))?;
        Ok((Arc::new(st), format!("SQLite ({url})")))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let st = switchyard_store_sql::PostgresStore::open(&url)
            .await
            .map_err(|e| format!("cannot open {}: {e}", config::redact_url(&url)))?;
        Ok((
            Arc::new(st),
            format!("PostgreSQL ({})", config::redact_url(&url)),
        ))
    } else {
        Err(format!(
            "SWITCHYARD_DATABASE_URL must start with sqlite:// or postgres://, got {}",
            config::redact_url(&url)
        ))
    }
}

/// `SWITCHYARD_SHUTDOWN_TIMEOUT`.
pub fn shutdown_timeout(s: &Settings) -> Result<std::time::Duration, String> {
    config::parse_duration(&s.shutdown_timeout)
        .ok()
        .and_then(|d| std::time::Duration::try_from(d).ok())
        .ok_or_else(|| "SWITCHYARD_SHUTDOWN_TIMEOUT must be a duration such as 10s".into())
}

fn tokenizer(s: &Settings) -> Result<Tokenizer, String> {
    let keys = if s.token_algorithm.eq_ignore_ascii_case("eddsa") {
        let path = if s.token_key_path.is_empty() {
            s.data_dir.join("keys").join("active.key")
        } else {
            s.token_key_path.clone().into()
        };
        KeyMaterial::ed25519_from_file(&path)?
    } else {
        KeyMaterial::hmac(&s.token_algorithm, &s.token_secret)?
    };
    Tokenizer::new(
        &keys,
        config::parse_duration(&s.access_token_duration)?,
        config::parse_duration(&s.refresh_token_duration)?,
    )
}

/// The admin password: configured, or generated once into the data dir.
fn admin_password(s: &Settings) -> Result<(String, Option<std::path::PathBuf>), String> {
    if !s.admin_password.is_empty() {
        return Ok((s.admin_password.clone(), None));
    }
    let path = s.data_dir.join("admin-password");
    if path.exists() {
        let p = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        return Ok((p.trim().to_string(), None));
    }
    let p = switchyard_auth::password::generate();
    switchyard_auth::token::write_private(&path, format!("{p}\n").as_bytes())?;
    Ok((p, Some(path)))
}

/// `MG_BOOTSTRAP_ENCRYPT_KEY`, or a key generated once into DATA_DIR/keys/bootstrap.key.
fn bootstrap_key(s: &Settings) -> Result<Vec<u8>, String> {
    let check = |k: Vec<u8>| {
        if matches!(k.len(), 16 | 24 | 32) {
            Ok(k)
        } else {
            Err(format!(
                "MG_BOOTSTRAP_ENCRYPT_KEY must be 16, 24 or 32 bytes, got {}",
                k.len()
            ))
        }
    };
    if !s.bootstrap_encrypt_key.is_empty() {
        return check(s.bootstrap_encrypt_key.as_bytes().to_vec());
    }
    let path = s.data_dir.join("keys").join("bootstrap.key");
    if path.exists() {
        let k = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        return check(k.trim().as_bytes().to_vec());
    }
    // 32 printable characters, like the documented key values.
    let k: String = uuid::Uuid::new_v4().simple().to_string();
    switchyard_auth::token::write_private(&path, format!("{k}\n").as_bytes())?;
    check(k.into_bytes())
}

/// The provision layout and credentials from the settings.
pub fn provision_config(
    s: &Settings,
) -> Result<switchyard_core::provision::ProvisionConfig, String> {
    use switchyard_core::provision::{Layout, ProvisionConfig};
    let mut layout =
        if !s.provision_config_file.is_empty() && Path::new(&s.provision_config_file).exists() {
            let text = std::fs::read_to_string(&s.provision_config_file)
                .map_err(|e| format!("{}: {e}", s.provision_config_file))?;
            Layout::from_toml(&text)
                .map_err(|e| format!("MG_PROVISION_CONFIG_FILE {}: {e}", s.provision_config_file))?
        } else {
            Layout::default()
        };
    if layout.bootstrap.content.is_none() && !s.provision_bs_content.is_empty() {
        let v: serde_json::Value = serde_json::from_str(&s.provision_bs_content)
            .map_err(|e| format!("MG_PROVISION_BS_CONTENT is not JSON: {e}"))?;
        layout.bootstrap.content = Some(v);
    }
    if !s.provision_auto_whitelist {
        layout.bootstrap.autowhite_list = false;
    }
    if s.provision_x509 {
        layout.bootstrap.x509_provision = true;
    }
    let domain_id = if s.provision_domain_id.is_empty() {
        None
    } else {
        Some(
            uuid::Uuid::parse_str(&s.provision_domain_id)
                .map_err(|e| format!("MG_PROVISION_DOMAIN_ID: {e}"))?,
        )
    };
    Ok(ProvisionConfig {
        layout,
        domain_id,
        api_key: s.provision_api_key.clone(),
        username: s.provision_username.clone(),
        password: s.provision_password.clone(),
    })
}

/// `--subscriber-wait` as a duration.
fn subscriber_wait(s: &Settings) -> Result<std::time::Duration, String> {
    let d = config::parse_duration(&s.subscriber_wait)
        .map_err(|e| format!("SWITCHYARD_SUBSCRIBER_WAIT: {e}"))?;
    std::time::Duration::try_from(d).map_err(|_| "SWITCHYARD_SUBSCRIBER_WAIT: negative".into())
}

pub async fn bus(s: &Settings) -> Result<Arc<dyn MessageBus>, String> {
    let patience = subscriber_wait(s)?;
    if s.bus_url.is_empty() {
        return Ok(Arc::new(LocalBus::with_patience(patience)));
    }
    if s.bus_url.starts_with("nats://") || s.bus_url.starts_with("tls://") {
        let b = switchyard_bus::NatsBus::connect(&s.bus_url)
            .await
            .map_err(|e| e.to_string())?
            .with_patience(patience);
        return Ok(Arc::new(b));
    }
    Err(format!(
        "SWITCHYARD_BUS_URL must be empty (in-process bus) or nats://host:port, got {}",
        config::redact_url(&s.bus_url)
    ))
}

/// Builds everything and starts serving. `metrics` is the process's Prometheus handle
/// (installed once by `main`; tests pass None).
pub async fn start(
    s: Settings,
    clock: Arc<dyn Clock>,
    metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
) -> Result<Running, String> {
    private_dir(&s.data_dir)?;
    let (store, store_description) = open_store(&s).await?;
    let bus = bus(&s).await?;
    let cfg = CoreConfig {
        allow_self_register: s.allow_self_register,
        allow_unverified: s.allow_unverified_user,
        password_regex: Some(
            regex::Regex::new(&s.pass_regex).map_err(|e| format!("MG_USERS_PASS_REGEX: {e}"))?,
        ),
        bulk_max: s.bulk_max,
        provision: provision_config(&s)?,
        bootstrap_encrypt_key: Some(bootstrap_key(&s)?),
        password_workers: s.password_workers,
        password_queue: s.password_queue,
        mailer: mail::SmtpMailer::from_settings(&s)?
            .map(|m| Arc::new(m) as Arc<dyn switchyard_core::Mailer>),
        reset_url: s.password_reset_url.trim().to_string(),
        certs_secret: s.certs_secret.clone(),
        ..CoreConfig::default()
    };
    let core = Core::new(store, tokenizer(&s)?, clock, bus, cfg)
        .await
        .map_err(|e| e.to_string())?;
    let certs_cfg = switchyard_core::certs::CertsConfig::with(
        &s.data_dir,
        &s.certs_ca_cert_path,
        &s.certs_ca_key_path,
        &s.certs_key,
    );
    core.set_certs(Arc::new(switchyard_core::certs::CertAuthority::open(
        &certs_cfg,
        core.now(),
    )?));

    core.agree_on_keys().await?;

    let (password, generated) = admin_password(&s)?;
    let (_, created) = core
        .seed_admin(
            &s.admin_username,
            &s.admin_email,
            &password,
            &s.admin_first_name,
            &s.admin_last_name,
        )
        .await
        .map_err(|e| format!("seeding the super-admin: {e}"))?;
    let admin_password_file = if created { generated } else { None };

    let state = AppState::new(
        core.clone(),
        HttpConfig {
            max_body_bytes: s.max_body_bytes,
            device_rate_per_sec: s.device_rate_limit,
            device_rate_burst: s.device_rate_limit * 2.0,
            subscriber_wait: subscriber_wait(&s)?,
            login_failures_per_minute: s.login_failures_per_minute,
            metrics_token: Some(s.metrics_token.clone()).filter(|t| !t.is_empty()),
            cors_origins: s
                .cors_origins
                .iter()
                .filter(|o| !o.trim().is_empty())
                .cloned()
                .collect(),
            ..HttpConfig::default()
        },
        metrics,
    );
    let mqtt = switchyard_adapter_mqtt::MqttAdapter::new(
        core.clone(),
        switchyard_adapter_mqtt::MqttConfig {
            max_packet_size: s.mqtt_max_packet,
            outbound_queue: s.mqtt_queue,
            outbound_bytes: s.mqtt_queue_bytes,
            subscriber_wait: subscriber_wait(&s)?,
            session_expiry_max: config::parse_duration(&s.mqtt_session_expiry)
                .ok()
                .and_then(|d| std::time::Duration::try_from(d).ok())
                .ok_or("SWITCHYARD_MQTT_SESSION_EXPIRY must be a duration such as 24h")?,
            max_kept_sessions: s.mqtt_max_kept_sessions,
            ..Default::default()
        },
    );
    let restored = mqtt.restore_sessions().await;
    if restored > 0 {
        tracing::info!(restored, "mqtt: persistent sessions restored");
    }
    let app = switchyard_http_api::router_with(state, mqtt_ws::routes(mqtt.clone()));
    let (stop, stop_rx) = watch::channel(false);
    let mut tasks = Vec::new();
    let (mut mqtt_addr, mut mqtts_addr, mut mqtt_note) = (None, None, None);
    if !s.mqtt_addr.trim().is_empty() {
        match TcpListener::bind(s.mqtt_addr.trim()).await {
            Ok(l) => {
                mqtt_addr = l.local_addr().ok();
                let mut rx = stop_rx.clone();
                let adapter = mqtt.clone();
                tasks.push(tokio::spawn(async move {
                    adapter
                        .serve(l, async move {
                            let _ = rx.wait_for(|v| *v).await;
                        })
                        .await
                }));
            }
            Err(e)
                if e.kind() == std::io::ErrorKind::AddrInUse
                    && s.mqtt_addr == config::DEFAULT_MQTT_ADDR =>
            {
                let note = format!(
                    "MQTT disabled: {} is in use (another broker?); set SWITCHYARD_MQTT_ADDR to another address",
                    s.mqtt_addr
                );
                tracing::warn!("{note}");
                mqtt_note = Some(note);
            }
            Err(e) => return Err(format!("cannot listen for MQTT on {}: {e}", s.mqtt_addr)),
        }
    }
    if !s.mqtts_addr.trim().is_empty() {
        let acceptor = mtls::mtls_acceptor(&core, &s.tls_cert, &s.tls_key).await?;
        let l = TcpListener::bind(s.mqtts_addr.trim())
            .await
            .map_err(|e| format!("cannot listen for MQTTS on {}: {e}", s.mqtts_addr))?;
        mqtts_addr = l.local_addr().ok();
        let mut rx = stop_rx.clone();
        let adapter = mqtt.clone();
        tasks.push(tokio::spawn(async move {
            adapter
                .serve_tls(l, acceptor, async move {
                    let _ = rx.wait_for(|v| *v).await;
                })
                .await
        }));
    }
    let mut addrs = vec![s.http_addr.clone()];
    addrs.extend(
        s.extra_http_addrs
            .iter()
            .filter(|a| !a.trim().is_empty())
            .cloned(),
    );
    let mut http_addrs = Vec::new();
    let limits = http_serve::Limits {
        header_timeout: config::parse_duration(&s.http_header_timeout)
            .ok()
            .and_then(|d| std::time::Duration::try_from(d).ok())
            .ok_or("SWITCHYARD_HTTP_HEADER_TIMEOUT must be a duration such as 20s")?,
        max_connections: s.http_max_connections,
        per_source: s.http_max_connections_per_source,
        drain: shutdown_timeout(&s)?,
    };
    for a in addrs {
        let l = TcpListener::bind(a.trim())
            .await
            .map_err(|e| format!("cannot listen on {a}: {e}"))?;
        let bound = l.local_addr().map_err(|e| e.to_string())?;
        http_addrs.push(bound);
        let app = app.clone();
        let mut rx = stop_rx.clone();
        tasks.push(tokio::spawn(async move {
            let shutdown = async move {
                let _ = rx.wait_for(|v| *v).await;
            };
            http_serve::serve(l, app, limits, shutdown).await;
            tracing::debug!(%bound, "HTTP listener stopped");
        }));
    }
    Ok(Running {
        http_addrs,
        mqtt_addr,
        mqtts_addr,
        mqtt_note,
        core,
        admin_password_file,
        store_description,
        stop,
        tasks,
        mqtt,
    })
}

/// Default settings for tests and tools: everything from defaults, with the data dir
/// and (optional) database given.
pub fn settings_for(data_dir: &Path, database_url: &str) -> Settings {
    let cli = config::parse_from(vec!["switchyard".into(), "serve".into()], |_| None)
        .ok()
        .and_then(|c| match c.command {
            Some(config::Command::Serve(s)) => Some(*s),
            _ => None,
        });
    let mut s = cli.unwrap_or_else(unreachable_settings);
    s.data_dir = data_dir.to_path_buf();
    s.database_url = database_url.to_string();
    s.http_addr = "127.0.0.1:0".into();
    s.mqtt_addr = "127.0.0.1:0".into();
    s.extra_http_addrs = vec![];
    s
}

fn unreachable_settings() -> Settings {
    // Defaults always parse; this exists so library code never panics.
    use clap::{CommandFactory, FromArgMatches};
    let m = config::Cli::command().get_matches_from(["switchyard", "serve"]);
    match config::Cli::from_arg_matches(&m)
        .ok()
        .and_then(|c| c.command)
    {
        Some(config::Command::Serve(s)) => *s,
        _ => std::process::exit(2),
    }
}
