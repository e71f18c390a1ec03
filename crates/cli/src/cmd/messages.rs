//! `messages …`: publish and subscribe as a client (device), through the HTTP and
//! WebSocket adapters at `/m/{domainID}/c/{channelID}[/{subtopic}]`. These use the
//! client's secret, never the user's token: only the domain comes from the profile.
//!
//! `subscribe` speaks ws:// and wss://; for wss:// it trusts the system roots plus
//! `--cacert`, or anything with `--insecure`, like the HTTP commands.

use std::{io::Read, sync::Arc, time::Duration};

use base64::Engine as _;
use clap::{Args, Subcommand};
use futures::{SinkExt, StreamExt};
use reqwest::{Method, StatusCode, Url, header};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::{
    self, Message, client::IntoClientRequest, handshake::client::Request,
};

use super::seg;
use crate::{
    api::{Api, Auth, server_error},
    config::Settings,
    error::{CliError, CliResult},
    output::{self, Format},
};

#[derive(Debug, Subcommand)]
pub enum MessagesCmd {
    /// Publish a message to a channel as a client (HTTP adapter; 202 on success, prints nothing)
    #[command(
        after_help = "Example:\n  switchyard-cli --domain <DOMAIN_ID> messages send <CHANNEL_ID> '[{\"n\":\"temp\",\"v\":21.5}]' --secret <CLIENT_SECRET>\n  echo 'on' | switchyard-cli --domain <DOMAIN_ID> messages send <CHANNEL_ID> - --secret <CLIENT_SECRET> --subtopic lights/kitchen --content-type text/plain\n  switchyard-cli --domain <DOMAIN_ID> messages send <CHANNEL_ID> '{\"on\":true}' --client-id <CLIENT_ID> --secret <CLIENT_SECRET>"
    )]
    Send(SendArgs),
    /// Subscribe to a channel as a client over a WebSocket and print each message's
    /// payload as a line (`-o json`: {"payload", "received_at"} per line)
    #[command(
        after_help = "Example:\n  switchyard-cli --domain <DOMAIN_ID> messages subscribe <CHANNEL_ID> --secret <CLIENT_SECRET>\n  switchyard-cli --domain <DOMAIN_ID> messages subscribe <CHANNEL_ID> --secret <CLIENT_SECRET> --subtopic 'lights/#' --count 10 --timeout 60 -o json\n\nStops after --count messages, after --timeout seconds, or on Ctrl-C (exit 0). Exit 1\nwhen the server refuses the subscription (the HTTP status is printed), closes it,\nor --timeout passes before --count messages arrived."
    )]
    Subscribe(SubscribeArgs),
}

/// How the client authenticates.
#[derive(Debug, Clone, Args)]
pub struct ClientCreds {
    /// The client's secret (sent as `Authorization: Client <secret>`)
    #[arg(
        long,
        env = "SWITCHYARD_CLIENT_SECRET",
        hide_env_values = true,
        value_name = "SECRET"
    )]
    pub secret: String,
    /// Authenticate with HTTP Basic <CLIENT_ID>:<SECRET> instead
    #[arg(long, value_name = "CLIENT_ID")]
    pub client_id: Option<String>,
}

impl ClientCreds {
    fn auth(&self) -> Auth<'_> {
        match &self.client_id {
            Some(id) => Auth::Basic(id, &self.secret),
            None => Auth::Client(&self.secret),
        }
    }
    fn header(&self) -> String {
        match &self.client_id {
            Some(id) => format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{id}:{}", self.secret))
            ),
            None => format!("Client {}", self.secret),
        }
    }
}

#[derive(Debug, Args)]
pub struct SendArgs {
    /// The channel's id
    pub channel_id: String,
    /// The payload; `-` reads it from stdin
    pub payload: String,
    #[command(flatten)]
    pub creds: ClientCreds,
    /// Subtopic, e.g. lights/kitchen
    #[arg(long)]
    pub subtopic: Option<String>,
    /// Content type: application/json, application/senml+json, application/senml+cbor,
    /// application/octet-stream or text/plain
    #[arg(long, default_value = "application/json")]
    pub content_type: String,
}

#[derive(Debug, Args)]
pub struct SubscribeArgs {
    /// The channel's id
    pub channel_id: String,
    #[command(flatten)]
    pub creds: ClientCreds,
    /// Subtopic; `+` matches one level and `#` the rest, e.g. 'lights/#'
    #[arg(long)]
    pub subtopic: Option<String>,
    /// Exit after this many messages
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
    /// Exit after this many seconds (an error if --count messages did not arrive by then)
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: Option<u64>,
}

pub async fn run(api: &mut Api, f: Option<Format>, c: MessagesCmd) -> CliResult<()> {
    match c {
        MessagesCmd::Send(a) => {
            let path = topic_path(api, &a.channel_id, a.subtopic.as_deref())?;
            let body = if a.payload == "-" {
                let mut b = Vec::new();
                std::io::stdin()
                    .read_to_end(&mut b)
                    .map_err(|e| CliError::other(format!("stdin: {e}")))?;
                b
            } else {
                a.payload.into_bytes()
            };
            api.send_bytes(
                Method::POST,
                &path,
                &[],
                Some(body),
                &a.content_type,
                a.creds.auth(),
            )
            .await?;
            Ok(())
        }
        MessagesCmd::Subscribe(a) => {
            let path = topic_path(api, &a.channel_id, a.subtopic.as_deref())?;
            subscribe(&api.settings, f, &path, a).await
        }
    }
}

/// `/m/{domain}/c/{channel}[/{subtopic}]`, every segment escaped.
fn topic_path(api: &Api, channel: &str, subtopic: Option<&str>) -> CliResult<String> {
    let d = super::domain(api)?;
    let mut p = format!("/m/{}/c/{}", seg(&d), seg(channel));
    for part in subtopic.unwrap_or("").split('/').filter(|s| !s.is_empty()) {
        p.push('/');
        p.push_str(&seg(part));
    }
    Ok(p)
}

/// The WebSocket URL of a path on the server: http→ws, https→wss.
fn ws_url(base: &str, path: &str) -> CliResult<Url> {
    let u = if let Some(rest) = base.strip_prefix("https://") {
        format!("wss://{rest}{path}")
    } else if let Some(rest) = base.strip_prefix("http://") {
        format!("ws://{rest}{path}")
    } else {
        return Err(CliError::usage(format!(
            "--url must start with http:// or https://, got {base:?}"
        )));
    };
    Url::parse(&u).map_err(|e| CliError::usage(format!("bad server URL {u:?}: {e}")))
}

async fn subscribe(s: &Settings, f: Option<Format>, path: &str, a: SubscribeArgs) -> CliResult<()> {
    let url = ws_url(&s.url, path)?;
    let deadline = a
        .timeout
        .map(|t| tokio::time::Instant::now() + Duration::from_secs(t));

    let mut req = url
        .as_str()
        .into_client_request()
        .map_err(|e| CliError::usage(format!("bad WebSocket URL {url}: {e}")))?;
    let h = req.headers_mut();
    h.insert(
        header::AUTHORIZATION,
        a.creds
            .header()
            .parse()
            .map_err(|_| CliError::usage("the secret cannot be sent in a header"))?,
    );
    if let Ok(ua) = format!("switchyard-cli/{}", env!("CARGO_PKG_VERSION")).parse() {
        h.insert(header::USER_AGENT, ua);
    }

    // host_str() keeps an IPv6 address's brackets; the socket address and the TLS
    // server name want it without.
    let host = url
        .host_str()
        .ok_or_else(|| CliError::usage(format!("no host in {url}")))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = url.port_or_known_default().unwrap_or(80);
    let connect = tokio::net::TcpStream::connect((host.as_str(), port));
    let tcp = match tokio::time::timeout(Duration::from_secs(15), connect).await {
        Ok(Ok(t)) => t,
        Ok(Err(e)) => return Err(CliError::other(format!("cannot reach {}: {e}", s.url))),
        Err(_) => {
            return Err(CliError::other(format!(
                "cannot reach {}: connection timed out",
                s.url
            )));
        }
    };
    let _ = tcp.set_nodelay(true);
    let label = match &a.subtopic {
        Some(sub) => format!("{}/{}", a.channel_id, sub.trim_matches('/')),
        None => a.channel_id.clone(),
    };
    let run = Run {
        req,
        fmt: f.unwrap_or(Format::Table),
        count: a.count,
        timeout: a.timeout,
        deadline,
        label,
    };
    if url.scheme() == "wss" {
        let connector = tls_connector(s)?;
        let name = rustls::pki_types::ServerName::try_from(host.clone())
            .map_err(|e| CliError::usage(format!("bad TLS server name {host:?}: {e}")))?;
        let tls = connector
            .connect(name, tcp)
            .await
            .map_err(|e| CliError::other(format!("TLS handshake with {}: {e}", s.url)))?;
        run.session(tls).await
    } else {
        run.session(tcp).await
    }
}

struct Run {
    req: Request,
    fmt: Format,
    count: Option<u64>,
    timeout: Option<u64>,
    deadline: Option<tokio::time::Instant>,
    label: String,
}

impl Run {
    async fn session<S: AsyncRead + AsyncWrite + Unpin>(self, stream: S) -> CliResult<()> {
        let url = self.req.uri().to_string();
        let (mut ws, _) = match tokio_tungstenite::client_async(self.req, stream).await {
            Ok(x) => x,
            // Refused before the upgrade: the server's status and message.
            Err(tungstenite::Error::Http(res)) => {
                let status = StatusCode::from_u16(res.status().as_u16())
                    .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                return Err(server_error(status, res.body().as_deref().unwrap_or(&[])));
            }
            Err(e) => {
                return Err(CliError::other(format!(
                    "WebSocket handshake with {url} failed: {e}"
                )));
            }
        };
        eprintln!(
            "subscribed to {}; waiting for messages (Ctrl-C to stop)",
            self.label
        );
        let mut printer = Printer::new(self.fmt);
        let mut got = 0u64;
        let deadline = self.deadline;
        let timer = async move {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(timer);
        let ctrl_c = tokio::signal::ctrl_c();
        tokio::pin!(ctrl_c);
        let result = loop {
            if self.count.is_some_and(|n| got >= n) {
                break Ok(());
            }
            tokio::select! {
                _ = &mut ctrl_c => break Ok(()),
                _ = &mut timer => break match self.count {
                    Some(n) => Err(CliError::other(format!(
                        "timed out after {}s with {got} of {n} messages",
                        self.timeout.unwrap_or_default()
                    ))),
                    None => Ok(()),
                },
                m = ws.next() => match m {
                    Some(Ok(Message::Text(t))) => {
                        printer.print(t.as_bytes())?;
                        got += 1;
                    }
                    Some(Ok(Message::Binary(b))) => {
                        printer.print(&b)?;
                        got += 1;
                    }
                    Some(Ok(Message::Close(frame))) => {
                        let why = match frame {
                            Some(f) if !f.reason.is_empty() => {
                                format!(" (code {}: {})", u16::from(f.code), f.reason)
                            }
                            Some(f) => format!(" (code {})", u16::from(f.code)),
                            None => String::new(),
                        };
                        break Err(CliError::other(format!(
                            "the server closed the subscription{why}"
                        )));
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => break Err(CliError::other(format!("connection lost: {e}"))),
                    None => break Err(CliError::other("the server closed the connection")),
                },
            }
        };
        // A polite close; the result does not depend on it.
        let _ = tokio::time::timeout(Duration::from_secs(2), ws.close(None)).await;
        let _ = tokio::time::timeout(Duration::from_secs(2), ws.flush()).await;
        result
    }
}

/// Prints payloads as they arrive: a line each (table), a JSON object per line (json),
/// a YAML document each (yaml), or CSV rows under one header (csv).
struct Printer {
    fmt: Format,
    header_done: bool,
}

impl Printer {
    fn new(fmt: Format) -> Printer {
        Printer {
            fmt,
            header_done: false,
        }
    }

    fn print(&mut self, payload: &[u8]) -> CliResult<()> {
        if self.fmt == Format::Table {
            return output::line(&String::from_utf8_lossy(payload));
        }
        let received_at = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let v = record(payload, &received_at);
        match self.fmt {
            Format::Json => output::line(&v.to_string()),
            Format::Yaml => {
                let y = serde_norway::to_string(&v).map_err(|e| CliError::other(e.to_string()))?;
                output::line(&format!("---\n{}", y.trim_end()))
            }
            _ => {
                let mut rows = Vec::new();
                let cells: Vec<String> = ["payload", "received_at", "encoding"]
                    .iter()
                    .map(|k| output::cell(v.get(*k)))
                    .collect();
                rows.push(cells);
                let mut s =
                    output::rows(Format::Csv, &["payload", "received_at", "encoding"], &rows)?;
                if self.header_done {
                    s = s.split_once('\n').map(|x| x.1.to_string()).unwrap_or(s);
                }
                self.header_done = true;
                output::line(s.trim_end_matches('\n'))
            }
        }
    }
}

/// `{"payload", "received_at"}`; a payload that is not UTF-8 is base64 with
/// `"encoding": "base64"`.
fn record(payload: &[u8], received_at: &str) -> Value {
    match std::str::from_utf8(payload) {
        Ok(t) => json!({ "payload": t, "received_at": received_at }),
        Err(_) => json!({
            "payload": base64::engine::general_purpose::STANDARD.encode(payload),
            "encoding": "base64",
            "received_at": received_at,
        }),
    }
}

/// rustls for wss://: the platform's roots plus --cacert (as reqwest does), or no
/// verification at all with --insecure.
fn tls_connector(s: &Settings) -> CliResult<tokio_rustls::TlsConnector> {
    use rustls::{
        client::danger::ServerCertVerifier,
        pki_types::{CertificateDer, pem::PemObject},
    };
    let tls_err = |e: rustls::Error| CliError::other(format!("TLS setup: {e}"));
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier: Arc<dyn ServerCertVerifier> = if s.insecure {
        Arc::new(AcceptAny(provider.clone()))
    } else {
        let mut extra = Vec::new();
        if let Some(path) = &s.cacert {
            let bad = |e: String| CliError::usage(format!("--cacert {}: {e}", path.display()));
            for c in CertificateDer::pem_file_iter(path).map_err(|e| bad(e.to_string()))? {
                extra.push(c.map_err(|e| bad(e.to_string()))?);
            }
            if extra.is_empty() {
                return Err(bad("no PEM certificate in the file".into()));
            }
        }
        Arc::new(
            rustls_platform_verifier::Verifier::new_with_extra_roots(extra, provider.clone())
                .map_err(tls_err)?,
        )
    };
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(tls_err)?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(cfg)))
}

/// `--insecure`: any certificate, any name (the handshake's signatures are still checked).
#[derive(Debug)]
struct AcceptAny(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ws_urls() {
        assert_eq!(
            ws_url("http://h:9000", "/m/d/c/c")
                .unwrap_or_else(|e| panic!("{e}"))
                .as_str(),
            "ws://h:9000/m/d/c/c"
        );
        assert_eq!(
            ws_url("https://h/api", "/m/d/c/c/a/%23")
                .unwrap_or_else(|e| panic!("{e}"))
                .as_str(),
            "wss://h/api/m/d/c/c/a/%23"
        );
        assert!(ws_url("ftp://h", "/").is_err());
    }

    #[test]
    fn records() {
        let v = record(b"{\"a\":1}", "t");
        assert_eq!(v, json!({"payload": "{\"a\":1}", "received_at": "t"}));
        let v = record(&[0xff, 0x00], "t");
        assert_eq!(v["encoding"], "base64");
        assert_eq!(v["payload"], "/wA=");
    }

    #[test]
    fn basic_header() {
        let c = ClientCreds {
            secret: "s".into(),
            client_id: Some("id".into()),
        };
        assert_eq!(c.header(), "Basic aWQ6cw==");
        let c = ClientCreds {
            secret: "s".into(),
            client_id: None,
        };
        assert_eq!(c.header(), "Client s");
        assert_eq!(c.auth(), Auth::Client("s"));
    }
}
