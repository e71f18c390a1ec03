//! Settings: every one is a flag, an environment variable and a default. An optional
//! TOML file (`--config` / `SWITCHYARD_CONFIG_FILE`) and Magistrala's alternative
//! variable names fill what is unset: flag > env > alias env > file > default.

use std::{collections::BTreeMap, path::PathBuf};

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "switchyard",
    version,
    about = "Switchyard: a Magistrala-compatible IoT platform in one binary"
)]
pub struct Cli {
    /// TOML file whose keys (setting names as printed by `print-config`) fill unset
    /// settings of `serve` and `migrate` (also accepted after them). Not global: the
    /// client commands do not take it.
    #[arg(long = "config", env = "SWITCHYARD_CONFIG_FILE")]
    pub config_file: Option<PathBuf>,
    /// Client options (`--url`, `--token`, `--domain`, ...), used by the client commands.
    #[command(flatten)]
    pub client: switchyard_cli::GlobalOpts,
    #[command(subcommand)]
    pub command: Option<Command>,
}

// Parsed once per process; boxing the client commands would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run every service in this process.
    Serve(Box<Settings>),
    /// Apply database migrations and exit.
    Migrate(Box<Settings>),
    /// Print a commented template of every setting with its env name and default.
    PrintConfig,
    /// Client commands: drive a Switchyard (or Magistrala) server over its HTTP API.
    #[command(flatten)]
    Client(switchyard_cli::Command),
}

#[derive(Clone, Args)]
pub struct Settings {
    /// TOML file whose keys fill unset settings (the same as `switchyard --config`).
    #[arg(long = "config", id = "settings_file", value_name = "CONFIG")]
    pub settings_file: Option<PathBuf>,
    /// Address of the HTTP listener serving every API path.
    #[arg(long, env = "SWITCHYARD_HTTP_ADDR", default_value = "0.0.0.0:9000")]
    pub http_addr: String,
    /// More addresses serving the same API (comma-separated), e.g. Magistrala's per-service
    /// ports: 0.0.0.0:9002,0.0.0.0:9003,0.0.0.0:9005,0.0.0.0:9006,0.0.0.0:9013,0.0.0.0:9016,0.0.0.0:9019,0.0.0.0:8008
    #[arg(
        long,
        env = "SWITCHYARD_EXTRA_HTTP_ADDRS",
        default_value = "",
        value_delimiter = ','
    )]
    pub extra_http_addrs: Vec<String>,
    /// Time a client has to send a request's headers (also on an idle kept-alive
    /// connection) before the connection is closed.
    #[arg(long, env = "SWITCHYARD_HTTP_HEADER_TIMEOUT", default_value = "20s")]
    pub http_header_timeout: String,
    /// On SIGTERM or SIGINT: how long in-flight HTTP requests and MQTT sessions get to
    /// finish before the process exits (a second signal exits at once).
    #[arg(long, env = "SWITCHYARD_SHUTDOWN_TIMEOUT", default_value = "10s")]
    pub shutdown_timeout: String,
    /// HTTP connections open at once; more are closed on accept.
    #[arg(
        long,
        env = "SWITCHYARD_HTTP_MAX_CONNECTIONS",
        default_value_t = 10_000
    )]
    pub http_max_connections: usize,
    /// HTTP connections open at once from one source address.
    #[arg(
        long,
        env = "SWITCHYARD_HTTP_MAX_CONNECTIONS_PER_SOURCE",
        default_value_t = 1_000
    )]
    pub http_max_connections_per_source: usize,
    /// When set, /metrics answers only `Authorization: Bearer <this>`.
    #[arg(
        long,
        env = "SWITCHYARD_METRICS_TOKEN",
        default_value = "",
        hide_env_values = true
    )]
    pub metrics_token: String,
    /// Origins allowed to call the API from a browser (comma-separated; `*` for any);
    /// empty: same origin only.
    #[arg(
        long,
        env = "SWITCHYARD_CORS_ORIGINS",
        default_value = "",
        value_delimiter = ','
    )]
    pub cors_origins: Vec<String>,
    /// Storage: sqlite://PATH or postgres://...; empty means a SQLite file in the data directory.
    #[arg(long, env = "SWITCHYARD_DATABASE_URL", default_value = "")]
    pub database_url: String,
    /// Directory for the SQLite database, generated keys and the admin password file.
    #[arg(long, env = "SWITCHYARD_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
    /// Message bus: empty for the in-process bus, or nats://host:port.
    #[arg(long, env = "SWITCHYARD_BUS_URL", default_value = "")]
    pub bus_url: String,
    /// Log filter (tracing EnvFilter syntax).
    #[arg(long, env = "SWITCHYARD_LOG", default_value = "info")]
    pub log: String,
    /// Log format: text or json.
    #[arg(long, env = "SWITCHYARD_LOG_FORMAT", default_value = "text")]
    pub log_format: String,
    /// MQTT listener (plain TCP). With the default address, a port already in use (e.g.
    /// by another broker) disables MQTT with a loud warning and the rest still serves;
    /// an address set explicitly must bind or start-up fails. Empty: no MQTT listener.
    #[arg(long, env = "SWITCHYARD_MQTT_ADDR", default_value = DEFAULT_MQTT_ADDR)]
    pub mqtt_addr: String,
    /// MQTT over TLS listener (e.g. 0.0.0.0:8883); needs --tls-cert and --tls-key.
    #[arg(long, env = "SWITCHYARD_MQTTS_ADDR", default_value = "")]
    pub mqtts_addr: String,
    /// PEM certificate chain for TLS listeners.
    #[arg(long, env = "SWITCHYARD_TLS_CERT", default_value = "")]
    pub tls_cert: String,
    /// PEM private key for TLS listeners.
    #[arg(long, env = "SWITCHYARD_TLS_KEY", default_value = "")]
    pub tls_key: String,
    /// Largest MQTT packet in bytes.
    #[arg(long, env = "SWITCHYARD_MQTT_MAX_PACKET", default_value_t = 1024 * 1024)]
    pub mqtt_max_packet: usize,
    /// Messages queued per MQTT session between the bus and its socket.
    #[arg(long, env = "SWITCHYARD_MQTT_QUEUE", default_value_t = 16 * 1024)]
    pub mqtt_queue: usize,
    /// Topic and payload bytes queued per MQTT session between the bus and its socket.
    #[arg(long, env = "SWITCHYARD_MQTT_QUEUE_BYTES", default_value_t = 8 * 1024 * 1024)]
    pub mqtt_queue_bytes: usize,
    /// SMTP server for password-reset e-mails; empty: reset by e-mail is off.
    #[arg(long, env = "MG_EMAIL_HOST", default_value = "")]
    pub email_host: String,
    #[arg(long, env = "MG_EMAIL_PORT", default_value_t = 587)]
    pub email_port: u16,
    #[arg(long, env = "MG_EMAIL_USERNAME", default_value = "")]
    pub email_username: String,
    #[arg(
        long,
        env = "MG_EMAIL_PASSWORD",
        default_value = "",
        hide_env_values = true
    )]
    pub email_password: String,
    #[arg(
        long,
        env = "MG_EMAIL_FROM_ADDRESS",
        default_value = "switchyard@localhost"
    )]
    pub email_from_address: String,
    #[arg(long, env = "MG_EMAIL_FROM_NAME", default_value = "Switchyard")]
    pub email_from_name: String,
    /// `starttls` (port 587), `tls` (port 465) or `none` (a local relay only).
    #[arg(long, env = "SWITCHYARD_EMAIL_TLS", default_value = "starttls")]
    pub email_tls: String,
    /// The page users open to set a new password: the e-mail links to
    /// `<url>?token=…`. Empty: the e-mail carries the token.
    #[arg(long, env = "SWITCHYARD_PASSWORD_RESET_URL", default_value = "")]
    pub password_reset_url: String,
    /// Longest an MQTT persistent session (3.1.1 clean session 0, v5 Session Expiry
    /// Interval) is kept while its client is away.
    #[arg(long, env = "SWITCHYARD_MQTT_SESSION_EXPIRY", default_value = "24h")]
    pub mqtt_session_expiry: String,
    /// MQTT persistent sessions kept at once while their clients are away.
    #[arg(
        long,
        env = "SWITCHYARD_MQTT_MAX_KEPT_SESSIONS",
        default_value_t = 10_000
    )]
    pub mqtt_max_kept_sessions: usize,
    /// How long a full subscriber queue is waited for, slowing its publishers down,
    /// before the subscriber counts as stuck: its QoS 0 messages are then dropped
    /// (counted in /metrics) and a QoS 1 MQTT subscriber is disconnected.
    #[arg(long, env = "SWITCHYARD_SUBSCRIBER_WAIT", default_value = "2s")]
    pub subscriber_wait: String,
    /// Largest accepted HTTP request body in bytes (413 above).
    #[arg(long, env = "SWITCHYARD_MAX_BODY_BYTES", default_value_t = 4 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Largest bulk create (items per request).
    #[arg(long, env = "SWITCHYARD_BULK_MAX", default_value_t = 1000)]
    pub bulk_max: usize,
    /// Allow anyone to register (POST /users without a token).
    #[arg(long, env = "MG_USERS_ALLOW_SELF_REGISTER", default_value_t = true, action = clap::ArgAction::Set)]
    pub allow_self_register: bool,
    /// Let users whose e-mail is not verified work (no mail server is built in).
    #[arg(long, env = "MG_ALLOW_UNVERIFIED_USER", default_value_t = true, action = clap::ArgAction::Set)]
    pub allow_unverified_user: bool,
    /// Password hashes (Argon2id, ~19 MiB each) computed at once; 0: one per core.
    #[arg(long, env = "SWITCHYARD_PASSWORD_WORKERS", default_value_t = 0)]
    pub password_workers: usize,
    /// Password checks allowed to wait for a worker; more are answered 503 with
    /// Retry-After at once (a login flood cannot grow memory).
    #[arg(long, env = "SWITCHYARD_PASSWORD_QUEUE", default_value_t = 32)]
    pub password_queue: usize,
    /// Failed logins allowed per account per minute (three times that per source
    /// address); past it, 429 with Retry-After until the window refills. 0: no limit.
    #[arg(
        long,
        env = "SWITCHYARD_LOGIN_FAILURES_PER_MINUTE",
        default_value_t = 10.0
    )]
    pub login_failures_per_minute: f64,
    /// Password rule (regular expression).
    #[arg(long, env = "MG_USERS_PASS_REGEX", default_value = "^.{8,}$")]
    pub pass_regex: String,
    /// Super-admin seeded at first start.
    #[arg(long, env = "MG_USERS_ADMIN_USERNAME", default_value = "admin")]
    pub admin_username: String,
    #[arg(
        long,
        env = "MG_USERS_ADMIN_EMAIL",
        default_value = "admin@example.com"
    )]
    pub admin_email: String,
    /// Empty: a strong password is generated into DATA_DIR/admin-password (mode 0600).
    #[arg(
        long,
        env = "MG_USERS_ADMIN_PASSWORD",
        default_value = "",
        hide_env_values = true
    )]
    pub admin_password: String,
    #[arg(long, env = "MG_USERS_ADMIN_FIRST_NAME", default_value = "super")]
    pub admin_first_name: String,
    #[arg(long, env = "MG_USERS_ADMIN_LAST_NAME", default_value = "admin")]
    pub admin_last_name: String,
    /// Token algorithm: EdDSA (key generated into the data dir), HS256, HS384 or HS512.
    #[arg(long, env = "MG_AUTH_KEYS_ALGORITHM", default_value = "EdDSA")]
    pub token_algorithm: String,
    /// Secret for HS* algorithms (at least 16 bytes).
    #[arg(
        long,
        env = "MG_AUTH_SECRET_KEY",
        default_value = "",
        hide_env_values = true
    )]
    pub token_secret: String,
    /// Ed25519 key file (PKCS#8 PEM); empty means DATA_DIR/keys/active.key.
    #[arg(long, env = "MG_AUTH_KEYS_ACTIVE_KEY_PATH", default_value = "")]
    pub token_key_path: String,
    /// Access token lifetime (Go duration: 1h, 30m, 90s).
    #[arg(long, env = "MG_AUTH_ACCESS_TOKEN_DURATION", default_value = "1h")]
    pub access_token_duration: String,
    /// Refresh token lifetime.
    #[arg(long, env = "MG_AUTH_REFRESH_TOKEN_DURATION", default_value = "24h")]
    pub refresh_token_duration: String,
    /// Provision layout file (TOML: [bootstrap], [bootstrap.content], [[clients]], [[channels]]);
    /// empty or missing means the default layout (one gateway client, control and data channels).
    #[arg(long, env = "MG_PROVISION_CONFIG_FILE", default_value = "")]
    pub provision_config_file: String,
    /// Domain used by `POST /mapping` (no domain in the path); empty: the caller's only domain.
    #[arg(long, env = "MG_PROVISION_DOMAIN_ID", default_value = "")]
    pub provision_domain_id: String,
    /// Token `/mapping` uses when a request carries none.
    #[arg(
        long,
        env = "MG_PROVISION_API_KEY",
        default_value = "",
        hide_env_values = true
    )]
    pub provision_api_key: String,
    /// Login `/mapping` uses when a request carries no token and no API key is set.
    #[arg(long, env = "MG_PROVISION_USERNAME", default_value = "")]
    pub provision_username: String,
    #[arg(
        long,
        env = "MG_PROVISION_PASS",
        default_value = "",
        hide_env_values = true
    )]
    pub provision_password: String,
    /// Bootstrap content as a JSON object, when no layout file gives one.
    #[arg(long, env = "MG_PROVISION_BS_CONTENT", default_value = "")]
    pub provision_bs_content: String,
    /// Connect every provisioned client to every layout channel (publish and subscribe).
    #[arg(long, env = "MG_PROVISION_BS_AUTO_WHITELIST", default_value_t = true, action = clap::ArgAction::Set)]
    pub provision_auto_whitelist: bool,
    /// Issue an x509 certificate for every provisioned client (in the same transaction).
    #[arg(long, env = "MG_PROVISION_X509_PROVISIONING", default_value_t = false, action = clap::ArgAction::Set)]
    pub provision_x509: bool,
    /// Key for the encrypted bootstrap fetch (16, 24 or 32 bytes); empty: generated into
    /// DATA_DIR/keys/bootstrap.key.
    #[arg(
        long,
        env = "MG_BOOTSTRAP_ENCRYPT_KEY",
        default_value = "",
        hide_env_values = true
    )]
    pub bootstrap_encrypt_key: String,
    /// The certs service's CA certificate (PEM); with --certs-ca-key-path. Empty: a CA
    /// created in DATA_DIR/ca at first start.
    #[arg(long, env = "MG_CERTS_CA_CERT_PATH", default_value = "")]
    pub certs_ca_cert_path: String,
    /// The CA's private key (PEM); with --certs-ca-cert-path.
    #[arg(long, env = "MG_CERTS_CA_KEY_PATH", default_value = "")]
    pub certs_ca_key_path: String,
    /// Secret sealing issued private keys at rest (64 hex digits, base64 of 32 bytes, or
    /// 32 characters). Empty: generated into DATA_DIR/keys/certs.key.
    #[arg(
        long,
        env = "SWITCHYARD_CERTS_KEY",
        default_value = "",
        hide_env_values = true
    )]
    pub certs_key: String,
    /// Bearer secret of the internal CSR route `POST /certs/csrs/{clientID}` (for agents
    /// that hold no user token). Empty: that route refuses every request.
    #[arg(
        long,
        env = "MG_CERTS_SECRET",
        default_value = "",
        hide_env_values = true
    )]
    pub certs_secret: String,
    /// Requests per second per source IP on bootstrap fetch and /mapping (burst twice that);
    /// 0 turns the limit off. Over it: 429 with Retry-After.
    #[arg(long, env = "SWITCHYARD_DEVICE_RATE_LIMIT", default_value_t = 20.0)]
    pub device_rate_limit: f64,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("http_addr", &self.http_addr)
            .field("database_url", &redact_url(&self.database_url))
            .field("data_dir", &self.data_dir)
            .field("bus_url", &self.bus_url)
            .field("admin_password", &"<redacted>")
            .field("token_secret", &"<redacted>")
            .field("certs_key", &"<redacted>")
            .field("certs_secret", &"<redacted>")
            .field("metrics_token", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// Hides a password in a URL for logs.
pub fn redact_url(u: &str) -> String {
    match (u.find("://"), u.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &u[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}://{}:***@{}", &u[..s], &creds[..c], &u[at + 1..]),
                None => u.to_string(),
            }
        }
        _ => u.to_string(),
    }
}

pub const DEFAULT_MQTT_ADDR: &str = "0.0.0.0:1883";

/// Magistrala/document spellings accepted for our settings (alias env → setting id).
pub const ALIASES: &[(&str, &str)] = &[
    ("SWITCHYARD_LOG_LEVEL", "log"),
    ("MG_USERS_ADMIN_SECRET", "admin_password"),
    ("MG_PROVISION_USER", "provision_username"),
    ("MG_PROVISION_PASSWORD", "provision_password"),
];

/// Parses a Go-style duration ("1h", "30m", "1h30m", "90s", "2400h").
pub fn parse_duration(s: &str) -> Result<time::Duration, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("empty duration".into());
    }
    let mut total = 0f64;
    let mut num = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let mut unit = c.to_string();
        if c == 'm' && chars.peek() == Some(&'s') {
            unit.push('s');
            chars.next();
        }
        let n: f64 = num.parse().map_err(|_| format!("invalid duration {s:?}"))?;
        num.clear();
        total += n * match unit.as_str() {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            _ => return Err(format!("invalid duration unit in {s:?}")),
        };
    }
    if !num.is_empty() {
        return Err(format!("duration {s:?} needs a unit (h, m, s)"));
    }
    Ok(time::Duration::seconds_f64(total))
}

/// Parses the command line with the file and alias layers applied as defaults.
pub fn parse() -> Result<Cli, String> {
    let args: Vec<String> = std::env::args().collect();
    parse_from(args, |k| std::env::var(k).ok())
}

pub fn parse_from(args: Vec<String>, env: impl Fn(&str) -> Option<String>) -> Result<Cli, String> {
    // First pass: find the config file only.
    let pre = Cli::command()
        .ignore_errors(true)
        .try_get_matches_from(&args)
        .ok();
    let after_subcommand = |m: &clap::ArgMatches| {
        ["serve", "migrate"].iter().find_map(|sub| {
            m.subcommand_matches(sub)
                .and_then(|s| s.get_one::<PathBuf>("settings_file").cloned())
        })
    };
    let file = pre
        .as_ref()
        .and_then(|m| {
            m.get_one::<PathBuf>("config_file")
                .cloned()
                .or_else(|| after_subcommand(m))
        })
        .or_else(|| env("SWITCHYARD_CONFIG_FILE").map(PathBuf::from));
    let mut defaults: BTreeMap<String, String> = BTreeMap::new();
    if let Some(f) = file {
        let text = std::fs::read_to_string(&f).map_err(|e| format!("{}: {e}", f.display()))?;
        let table: toml::Table = text.parse().map_err(|e| format!("{}: {e}", f.display()))?;
        for (k, v) in table {
            let v = match v {
                toml::Value::String(s) => s,
                toml::Value::Array(a) => a
                    .iter()
                    .map(|x| {
                        x.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| x.to_string())
                    })
                    .collect::<Vec<_>>()
                    .join(","),
                other => other.to_string(),
            };
            defaults.insert(k, v);
        }
    }
    for (alias, id) in ALIASES {
        if let Some(v) = env(alias) {
            defaults.insert((*id).to_string(), v);
        }
    }
    let mut cmd = Cli::command();
    for sub in ["serve", "migrate"] {
        let known: Vec<String> = cmd
            .find_subcommand(sub)
            .map(|s| s.get_arguments().map(|a| a.get_id().to_string()).collect())
            .unwrap_or_default();
        for (k, v) in &defaults {
            if known.contains(k) {
                let k = k.clone();
                // clap keeps defaults as 'static; settings are parsed once per process.
                let v: &'static str = Box::leak(v.clone().into_boxed_str());
                cmd = cmd.mut_subcommand(sub, move |s| s.mut_arg(k, move |a| a.default_value(v)));
            } else if !known.is_empty() && sub == "serve" {
                return Err(format!("unknown setting {k:?} in the config file"));
            }
        }
    }
    let m = cmd.try_get_matches_from(args).map_err(|e| e.to_string())?;
    Cli::from_arg_matches(&m).map_err(|e| e.to_string())
}

/// The commented template printed by `switchyard print-config`.
pub fn template() -> String {
    let cmd = Cli::command();
    let mut out = String::from(
        "# Switchyard settings. Each can be a flag (--name-with-dashes), an environment\n\
         # variable, or a key in a TOML file given with --config / SWITCHYARD_CONFIG_FILE.\n\
         # Precedence: flag > environment > file > default.\n\n",
    );
    if let Some(serve) = cmd.find_subcommand("serve") {
        for a in serve.get_arguments() {
            if ["help", "version", "settings_file"].contains(&a.get_id().as_str()) {
                continue;
            }
            if let Some(h) = a.get_long_help().or(a.get_help()) {
                for line in h.to_string().lines() {
                    out.push_str(&format!("# {line}\n"));
                }
            }
            if let Some(e) = a.get_env() {
                let aliases: Vec<&str> = ALIASES
                    .iter()
                    .filter(|(_, id)| *id == a.get_id().as_str())
                    .map(|(al, _)| *al)
                    .collect();
                let extra = if aliases.is_empty() {
                    String::new()
                } else {
                    format!(" (also {})", aliases.join(", "))
                };
                out.push_str(&format!("# env: {}{extra}\n", e.to_string_lossy()));
            }
            let def = a
                .get_default_values()
                .iter()
                .map(|v| v.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(",");
            out.push_str(&format!("#{} = {:?}\n\n", a.get_id(), def));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn serve(c: Cli) -> Settings {
        match c.command {
            Some(Command::Serve(s)) => *s,
            _ => panic!("not serve"),
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1h").unwrap(), time::Duration::hours(1));
        assert_eq!(
            parse_duration("1h30m").unwrap(),
            time::Duration::minutes(90)
        );
        assert_eq!(
            parse_duration("2400h").unwrap(),
            time::Duration::hours(2400)
        );
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("3x").is_err());
    }

    #[test]
    fn layers() {
        let dir = std::env::temp_dir().join(format!("sy-cfg-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("c.toml");
        std::fs::write(
            &f,
            "http_addr = \"127.0.0.1:1\"\nbulk_max = 5\nlog = \"warn\"\n",
        )
        .unwrap();
        let s = serve(
            parse_from(
                args(&["switchyard", "--config", f.to_str().unwrap(), "serve"]),
                |_| None,
            )
            .unwrap(),
        );
        assert_eq!(s.http_addr, "127.0.0.1:1");
        assert_eq!(s.bulk_max, 5);
        // A flag beats the file.
        let s = serve(
            parse_from(
                args(&[
                    "switchyard",
                    "--config",
                    f.to_str().unwrap(),
                    "serve",
                    "--bulk-max",
                    "7",
                ]),
                |_| None,
            )
            .unwrap(),
        );
        assert_eq!(s.bulk_max, 7);
        // An alias env beats the file.
        let s = serve(
            parse_from(
                args(&["switchyard", "--config", f.to_str().unwrap(), "serve"]),
                |k| (k == "SWITCHYARD_LOG_LEVEL").then(|| "debug".to_string()),
            )
            .unwrap(),
        );
        assert_eq!(s.log, "debug");
        std::fs::write(&f, "nonsense_key = 1\n").unwrap();
        assert!(
            parse_from(
                args(&["switchyard", "--config", f.to_str().unwrap(), "serve"]),
                |_| None
            )
            .is_err()
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn template_lists_settings() {
        let t = template();
        assert!(t.contains("SWITCHYARD_HTTP_ADDR"));
        assert!(t.contains("MG_USERS_ADMIN_PASSWORD"));
        assert!(t.contains("#bulk_max = \"1000\""));
    }

    #[test]
    fn redaction() {
        assert_eq!(redact_url("postgres://u:pw@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact_url("sqlite://x.db"), "sqlite://x.db");
    }

    /// Server-only flags stay out of the client commands' help; `--config` works
    /// before and after `serve`.
    #[test]
    fn config_flag_belongs_to_the_server_commands() {
        let mut cmd = Cli::command();
        let users = cmd
            .find_subcommand_mut("users")
            .and_then(|u| u.find_subcommand_mut("create"))
            .map(|c| c.render_long_help().to_string())
            .unwrap();
        assert!(!users.contains("--config"), "{users}");
        let dir = std::env::temp_dir().join(format!("sy-cfg-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("s.toml");
        std::fs::write(&f, "bulk_max = 9\n").unwrap();
        for argv in [
            args(&["switchyard", "--config", f.to_str().unwrap(), "serve"]),
            args(&["switchyard", "serve", "--config", f.to_str().unwrap()]),
        ] {
            assert_eq!(serve(parse_from(argv, |_| None).unwrap()).bulk_max, 9);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
