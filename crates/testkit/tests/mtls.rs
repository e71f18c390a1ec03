//! Black-box mTLS tests: the real server (`switchyard::start`, SQLite in a temp dir), a
//! client certificate issued through the HTTP API, and this adapter's `serve_tls` with
//! the server's `mtls_acceptor`, driven by raw MQTT packets over tokio-rustls.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{net::SocketAddr, path::Path, sync::Arc, time::Duration};

use serde_json::{Value, json};
use switchyard_adapter_mqtt::{MqttAdapter, MqttConfig, TlsAcceptor};
use switchyard_testkit::{
    Backend, TestServer,
    raw::{mqtt_str, packet},
};
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::oneshot,
    task::JoinHandle,
};
use tokio_rustls::{
    client::TlsStream,
    rustls::{
        self, ClientConfig, DigitallySignedStruct, DistinguishedName, RootCertStore,
        SignatureScheme,
        client::danger::HandshakeSignatureValid,
        crypto::CryptoProvider,
        pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime, pem::PemObject},
        server::danger::{ClientCertVerified, ClientCertVerifier},
    },
};

const WAIT: Duration = Duration::from_secs(5);

// v3 / v5 CONNACK codes.
const V3_NOT_AUTHORIZED: u8 = 0x05;
const V5_NOT_AUTHORIZED: u8 = 0x87;

// ---------------------------------------------------------------- harness

struct Env {
    app: TestServer,
    token: String,
    domain: String,
    /// The listener's certificate (self-signed for "localhost"), trusted by the clients.
    server_cert: CertificateDer<'static>,
    cert_path: String,
    key_path: String,
    listeners: Vec<(oneshot::Sender<()>, JoinHandle<()>)>,
}

/// A client certificate and its key, as issued.
#[derive(Clone)]
struct ClientCert {
    serial: String,
    cert: CertificateDer<'static>,
    key_der: Vec<u8>,
}

impl ClientCert {
    fn from_pem(serial: &str, cert_pem: &str, key_pem: &str) -> ClientCert {
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).unwrap();
        ClientCert {
            serial: serial.to_string(),
            cert: CertificateDer::from_pem_slice(cert_pem.as_bytes()).unwrap(),
            key_der: key.secret_der().to_vec(),
        }
    }
}

impl Env {
    async fn start() -> Env {
        let app = TestServer::spawn(Backend::Sqlite).await;
        let token = app.admin().await;
        let domain = app.domain(&token, "mtls").await;
        let (server_cert, cert_path, key_path) = server_cert_files(app.dir.path());
        Env {
            app,
            token,
            domain,
            server_cert,
            cert_path,
            key_path,
            listeners: Vec::new(),
        }
    }

    async fn stop(self) {
        for (stop, served) in self.listeners {
            let _ = stop.send(());
            tokio::time::timeout(Duration::from_secs(10), served)
                .await
                .unwrap()
                .unwrap();
        }
        self.app.stop().await;
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let r = self
            .app
            .req(method.clone(), path, Some(&self.token), Some(body))
            .await;
        let st = r.status.as_u16();
        assert!((200..300).contains(&st), "{method} {path}: {st} {}", r.text);
        r.body
    }

    /// A new client: (id, secret).
    async fn client(&self, name: &str) -> (String, String) {
        let v = self
            .send(
                reqwest::Method::POST,
                &format!("/{}/clients", self.domain),
                json!({"name": name}),
            )
            .await;
        (
            v["id"].as_str().unwrap().to_string(),
            v["credentials"]["secret"].as_str().unwrap().to_string(),
        )
    }

    async fn channel(&self, name: &str) -> String {
        let v = self
            .send(
                reqwest::Method::POST,
                &format!("/{}/channels", self.domain),
                json!({"name": name}),
            )
            .await;
        v["id"].as_str().unwrap().to_string()
    }

    async fn connect(&self, channel: &str, client: &str, types: &[&str]) {
        self.send(
            reqwest::Method::POST,
            &format!("/{}/channels/connect", self.domain),
            json!({"channel_ids": [channel], "client_ids": [client], "types": types}),
        )
        .await;
    }

    /// Issues a certificate for `client` through the Certs API.
    async fn issue(&self, client: &str, body: Value) -> ClientCert {
        let v = self
            .send(
                reqwest::Method::POST,
                &format!("/{}/certs/issue/{client}", self.domain),
                body,
            )
            .await;
        ClientCert::from_pem(
            v["serial_number"].as_str().unwrap(),
            v["certificate"].as_str().unwrap(),
            v["key"].as_str().unwrap(),
        )
    }

    async fn revoke(&self, serial: &str) {
        self.send(
            reqwest::Method::PATCH,
            &format!("/{}/certs/{serial}/revoke", self.domain),
            json!({}),
        )
        .await;
    }

    fn topic(&self, channel: &str) -> String {
        format!("m/{}/c/{}", self.domain, channel)
    }

    /// The server's mTLS acceptor, built now (so with the CRL as of now).
    async fn mtls_acceptor(&self) -> TlsAcceptor {
        switchyard::mtls::mtls_acceptor(&self.app.core(), &self.cert_path, &self.key_path)
            .await
            .unwrap()
    }

    /// Serves MQTT over TLS with `acceptor` on a new port until the env stops.
    fn serve(&mut self, acceptor: TlsAcceptor) -> SocketAddr {
        let std = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        std.set_nonblocking(true).unwrap();
        let addr = std.local_addr().unwrap();
        let listener = TcpListener::from_std(std).unwrap();
        let (stop, rx) = oneshot::channel::<()>();
        let adapter = MqttAdapter::new(self.app.core(), MqttConfig::default());
        let served = tokio::spawn(async move {
            adapter
                .serve_tls(listener, acceptor, async move {
                    let _ = rx.await;
                })
                .await
        });
        self.listeners.push((stop, served));
        addr
    }

    /// A TLS client trusting the listener, presenting `cert` if given.
    fn tls_client(&self, cert: Option<&ClientCert>) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        roots.add(self.server_cert.clone()).unwrap();
        let b = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
        Arc::new(match cert {
            Some(c) => b
                .with_client_auth_cert(
                    vec![c.cert.clone()],
                    PrivateKeyDer::try_from(c.key_der.clone()).unwrap(),
                )
                .unwrap(),
            None => b.with_no_client_auth(),
        })
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// A self-signed "localhost" certificate and key written as PEM files.
fn server_cert_files(dir: &Path) -> (CertificateDer<'static>, String, String) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert_path = dir.join("mqtts.crt");
    let key_path = dir.join("mqtts.key");
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    (
        cert.cert.der().clone(),
        cert_path.to_str().unwrap().to_string(),
        key_path.to_str().unwrap().to_string(),
    )
}

/// The platform CA's subject (common name, organization).
fn ca_names(env: &Env) -> (String, String) {
    use x509_parser::pem::parse_x509_pem;
    let pem = env.app.core().ca_cert().unwrap().certificate;
    let (_, pem) = parse_x509_pem(pem.as_bytes()).unwrap();
    let ca = pem.parse_x509().unwrap();
    let first = |it: &mut dyn Iterator<Item = &x509_parser::x509::AttributeTypeAndValue>| {
        it.next().unwrap().as_str().unwrap().to_string()
    };
    (
        first(&mut ca.subject().iter_common_name()),
        first(&mut ca.subject().iter_organization()),
    )
}

/// A certificate from a CA the platform does not know (named `ca_name`: CN, O), with
/// the given serial and common name (a forgery of a real one when all are copied).
fn foreign_cert(ca_name: &(String, String), serial_hex: &str, common_name: &str) -> ClientCert {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, SerialNumber,
    };
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, ca_name.0.as_str());
    ca.distinguished_name
        .push(DnType::OrganizationName, ca_name.1.as_str());
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::new(Vec::<String>::new()).unwrap();
    leaf.distinguished_name
        .push(DnType::CommonName, common_name);
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let bytes: Vec<u8> = (0..serial_hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&serial_hex[i..i + 2], 16).unwrap())
        .collect();
    leaf.serial_number = Some(SerialNumber::from_slice(&bytes));
    let cert = leaf.signed_by(&key, &issuer).unwrap();
    ClientCert {
        serial: serial_hex.to_string(),
        cert: cert.der().clone(),
        key_der: key.serialize_der(),
    }
}

/// A client verifier that accepts any certificate (a misconfigured acceptor): the
/// adapter must still refuse certificates its CA did not sign.
#[derive(Debug)]
struct AnyClientCert(Arc<CryptoProvider>);

impl ClientCertVerifier for AnyClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }
    fn client_auth_mandatory(&self) -> bool {
        false
    }
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }
    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
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
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn lax_acceptor(env: &Env) -> TlsAcceptor {
    let certs = vec![env.server_cert.clone()];
    let key = PrivateKeyDer::from_pem_file(&env.key_path).unwrap();
    let cfg = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(Arc::new(AnyClientCert(provider())))
        .with_single_cert(certs, key)
        .unwrap();
    TlsAcceptor::from(Arc::new(cfg))
}

// ---------------------------------------------------------------- raw MQTT

/// CONNECT (clean session, keep-alive 30) with optional username and password.
fn connect(v5: bool, client_id: &str, user: Option<&str>, pass: Option<&str>) -> Vec<u8> {
    let mut vh = vec![0, 4, b'M', b'Q', b'T', b'T', if v5 { 5 } else { 4 }];
    let mut flags = 0x02u8;
    if user.is_some() {
        flags |= 0x80;
    }
    if pass.is_some() {
        flags |= 0x40;
    }
    vh.push(flags);
    vh.extend(30u16.to_be_bytes());
    if v5 {
        vh.push(0);
    }
    mqtt_str(&mut vh, client_id.as_bytes());
    if let Some(u) = user {
        mqtt_str(&mut vh, u.as_bytes());
    }
    if let Some(p) = pass {
        mqtt_str(&mut vh, p.as_bytes());
    }
    packet(0x10, vh)
}

fn subscribe(pid: u16, filter: &str) -> Vec<u8> {
    let mut vh = pid.to_be_bytes().to_vec();
    mqtt_str(&mut vh, filter.as_bytes());
    vh.push(1);
    packet(0x82, vh)
}

fn publish_qos1(pid: u16, topic: &str, payload: &[u8]) -> Vec<u8> {
    let mut vh = Vec::new();
    mqtt_str(&mut vh, topic.as_bytes());
    vh.extend(pid.to_be_bytes());
    vh.extend(payload);
    packet(0x32, vh)
}

/// The next whole packet as (first byte, body); `None` on EOF, error or timeout.
async fn read_packet<S: AsyncRead + Unpin>(s: &mut S) -> Option<(u8, Vec<u8>)> {
    tokio::time::timeout(WAIT, async {
        let first = s.read_u8().await.ok()?;
        let (mut len, mut mul) = (0usize, 1usize);
        loop {
            let b = s.read_u8().await.ok()?;
            len += usize::from(b & 0x7f) * mul;
            mul *= 128;
            if b & 0x80 == 0 {
                break;
            }
        }
        let mut body = vec![0u8; len];
        s.read_exact(&mut body).await.ok()?;
        Some((first, body))
    })
    .await
    .ok()
    .flatten()
}

/// How a connection attempt ended.
#[derive(Debug)]
enum Attempt {
    /// The TLS handshake failed, or the server closed the connection before CONNACK
    /// (with TLS 1.3 a refused client certificate surfaces at the first read).
    TlsRefused,
    /// A CONNACK with this return / reason code.
    ConnAck(u8, Box<TlsStream<TcpStream>>),
}

impl Attempt {
    fn code(&self) -> Option<u8> {
        match self {
            Attempt::TlsRefused => None,
            Attempt::ConnAck(c, _) => Some(*c),
        }
    }

    fn accepted(self) -> TlsStream<TcpStream> {
        match self {
            Attempt::ConnAck(0, s) => *s,
            other => panic!("connection not accepted: {other:?}"),
        }
    }
}

async fn attempt(addr: SocketAddr, cfg: Arc<ClientConfig>, connect: Vec<u8>) -> Attempt {
    let connector = tokio_rustls::TlsConnector::from(cfg);
    let tcp = TcpStream::connect(addr).await.unwrap();
    let Ok(mut tls) = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
    else {
        return Attempt::TlsRefused;
    };
    if tls.write_all(&connect).await.is_err() || tls.flush().await.is_err() {
        return Attempt::TlsRefused;
    }
    match read_packet(&mut tls).await {
        Some((0x20, body)) if body.len() >= 2 => Attempt::ConnAck(body[1], Box::new(tls)),
        Some(other) => panic!("expected CONNACK, got {other:?}"),
        None => Attempt::TlsRefused,
    }
}

// ---------------------------------------------------------------- tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_authenticates_and_revocation_refuses() {
    let mut env = Env::start().await;
    let (dev, _) = env.client("device").await;
    let (sub, sub_secret) = env.client("subscriber").await;
    let ch = env.channel("telemetry").await;
    env.connect(&ch, &dev, &["publish"]).await;
    env.connect(&ch, &sub, &["subscribe"]).await;
    let cert = env.issue(&dev, json!({"ttl": "24h"})).await;
    let topic = env.topic(&ch);

    let addr = env.serve(env.mtls_acceptor().await);
    let with_cert = env.tls_client(Some(&cert));
    let no_cert = env.tls_client(None);

    // No certificate: username/password as before.
    let mut s = attempt(
        addr,
        no_cert.clone(),
        connect(false, "sub", Some(&sub), Some(&sub_secret)),
    )
    .await
    .accepted();
    s.write_all(&subscribe(1, &topic)).await.unwrap();
    assert_eq!(read_packet(&mut s).await, Some((0x90, vec![0, 1, 1])));
    // No certificate and no password: refused as before.
    let a = attempt(addr, no_cert.clone(), connect(false, "x", None, None)).await;
    assert_eq!(a.code(), Some(V3_NOT_AUTHORIZED));

    // The certificate alone authenticates (v3, no username, no password).
    let mut d = attempt(addr, with_cert.clone(), connect(false, "dev", None, None))
        .await
        .accepted();
    // Authorized per connections: publish yes, subscribe no.
    d.write_all(&subscribe(7, &topic)).await.unwrap();
    assert_eq!(read_packet(&mut d).await, Some((0x90, vec![0, 7, 0x80])));
    d.write_all(&publish_qos1(3, &topic, b"by certificate"))
        .await
        .unwrap();
    assert_eq!(read_packet(&mut d).await, Some((0x40, vec![0, 3])));
    let (first, body) = read_packet(&mut s).await.unwrap();
    assert_eq!(first & 0xF0, 0x30);
    assert!(body.ends_with(b"by certificate"), "{body:?}");

    // v5, username = the certificate's client id, any password (ignored).
    let a = attempt(
        addr,
        with_cert.clone(),
        connect(true, "dev5", Some(&dev), Some("not the secret")),
    )
    .await;
    assert_eq!(a.code(), Some(0));
    // Another client's username (even with its right password) does not go with it.
    let a = attempt(
        addr,
        with_cert.clone(),
        connect(false, "dev", Some(&sub), Some(&sub_secret)),
    )
    .await;
    assert_eq!(a.code(), Some(V3_NOT_AUTHORIZED));

    // Revoked after the acceptor read its CRL: refused at CONNACK by the per-connect check.
    env.revoke(&cert.serial).await;
    let a = attempt(addr, with_cert.clone(), connect(false, "dev", None, None)).await;
    assert_eq!(a.code(), Some(V3_NOT_AUTHORIZED));
    let a = attempt(
        addr,
        with_cert.clone(),
        connect(true, "dev", Some(&dev), None),
    )
    .await;
    assert_eq!(a.code(), Some(V5_NOT_AUTHORIZED));

    // An acceptor built after the revocation refuses it in the handshake.
    let fresh = env.serve(env.mtls_acceptor().await);
    let a = attempt(fresh, with_cert.clone(), connect(false, "dev", None, None)).await;
    assert!(matches!(a, Attempt::TlsRefused), "{a:?}");
    // A new certificate for the same client works there; passwords still do.
    let renewed = env.issue(&dev, json!({"ttl": "24h"})).await;
    let a = attempt(
        fresh,
        env.tls_client(Some(&renewed)),
        connect(false, "dev", None, None),
    )
    .await;
    assert_eq!(a.code(), Some(0));
    let a = attempt(
        fresh,
        no_cert,
        connect(false, "sub2", Some(&sub), Some(&sub_secret)),
    )
    .await;
    assert_eq!(a.code(), Some(0));

    drop((s, d));
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_and_forged_certificates_are_refused() {
    let mut env = Env::start().await;
    let (dev, _) = env.client("device").await;
    let real = env.issue(&dev, json!({"ttl": "24h"})).await;
    // Same serial, common name and issuer name as the real one, signed by another key.
    let forged = foreign_cert(&ca_names(&env), &real.serial, &dev);
    let other = foreign_cert(&("Other CA".into(), "Other".into()), "4f2a", &dev);

    // The server's acceptor refuses both in the handshake.
    let addr = env.serve(env.mtls_acceptor().await);
    for c in [&forged, &other] {
        let a = attempt(
            addr,
            env.tls_client(Some(c)),
            connect(false, "dev", None, None),
        )
        .await;
        assert!(matches!(a, Attempt::TlsRefused), "{a:?}");
    }

    // Behind an acceptor whose verifier takes anything, the adapter still checks the
    // certificate against the platform CA.
    let lax = env.serve(lax_acceptor(&env));
    for c in [&forged, &other] {
        let a = attempt(
            lax,
            env.tls_client(Some(c)),
            connect(true, "dev", Some(&dev), None),
        )
        .await;
        assert_eq!(a.code(), Some(V5_NOT_AUTHORIZED));
    }
    let a = attempt(
        lax,
        env.tls_client(Some(&real)),
        connect(true, "dev", None, None),
    )
    .await;
    assert_eq!(a.code(), Some(0));
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_needs_its_client_enabled_and_named() {
    let mut env = Env::start().await;
    let (dev, _) = env.client("device").await;
    let cert = env.issue(&dev, json!({"ttl": "24h"})).await;
    // Issued to the client, but its common name is not the client id.
    let renamed = env
        .issue(
            &dev,
            json!({"ttl": "24h", "options": {"common_name": "sensor-1"}}),
        )
        .await;
    let addr = env.serve(env.mtls_acceptor().await);

    let a = attempt(
        addr,
        env.tls_client(Some(&renamed)),
        connect(false, "dev", None, None),
    )
    .await;
    assert_eq!(a.code(), Some(V3_NOT_AUTHORIZED));

    // A session open by certificate is closed when its client is disabled; new ones are
    // refused.
    let mut open = attempt(
        addr,
        env.tls_client(Some(&cert)),
        connect(true, "dev", None, None),
    )
    .await
    .accepted();
    env.send(
        reqwest::Method::POST,
        &format!("/{}/clients/{dev}/disable", env.domain),
        json!({}),
    )
    .await;
    assert_eq!(read_packet(&mut open).await, Some((0xE0, vec![0x87, 0])));
    let a = attempt(
        addr,
        env.tls_client(Some(&cert)),
        connect(false, "dev", None, None),
    )
    .await;
    assert_eq!(a.code(), Some(V3_NOT_AUTHORIZED));
    env.stop().await;
}
