//! Certs service, black-box: issue/view/list/revoke/renew over HTTP, the CRL and CA
//! endpoints, the document-era SDK paths, and who may touch whose certificates. Runs on
//! SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use base64::Engine as _;
use reqwest::Method;
use serde_json::{Value, json};
use switchyard_auth::Clock;
use switchyard_core::certs::{CertAuthority, CertsConfig};
use switchyard_testkit::{Backend, TestServer, both};
use time::{Duration, OffsetDateTime, format_description::well_known::Rfc3339};
use uuid::Uuid;

/// Installs the CA the way the server does (DATA_DIR/ca, DATA_DIR/keys/certs.key).
fn enable_certs(app: &TestServer) -> Arc<CertAuthority> {
    let cfg = CertsConfig::new(app.dir.path());
    let ca = Arc::new(CertAuthority::open(&cfg, app.clock.now()).unwrap());
    app.running.as_ref().unwrap().core.set_certs(ca.clone());
    ca
}

async fn spawn(b: Backend) -> (TestServer, Arc<CertAuthority>) {
    let app = TestServer::spawn(b).await;
    let ca = enable_certs(&app);
    (app, ca)
}

fn s(v: &Value) -> String {
    v.as_str().unwrap().to_string()
}

fn time_of(v: &Value) -> OffsetDateTime {
    OffsetDateTime::parse(v.as_str().unwrap(), &Rfc3339).unwrap()
}

/// Serials listed by the CRL served at /certs/crl (lowercase hex, no sign padding).
async fn crl_serials(app: &TestServer, ca: &CertAuthority) -> Vec<String> {
    let r = app.req(Method::GET, "/certs/crl", None, None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let der = base64::engine::general_purpose::STANDARD
        .decode(r.body["crl"].as_str().unwrap())
        .unwrap();
    let (rest, crl) = x509_parser::parse_x509_crl(&der).unwrap();
    assert!(rest.is_empty());
    let issuer_cn = crl
        .issuer()
        .iter_common_name()
        .next()
        .unwrap()
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(issuer_cn, ca.ca().common_name());
    assert!(crl.next_update().is_some());
    crl.iter_revoked_certificates()
        .map(|rc| {
            let raw = rc.raw_serial();
            let start = raw.iter().position(|b| *b != 0).unwrap_or(raw.len());
            raw[start..].iter().map(|b| format!("{b:02x}")).collect()
        })
        .collect()
}

async fn issue_view_list_revoke_renew(b: Backend) {
    let (app, ca) = spawn(b).await;
    let (_, t) = app.user("alice").await;
    let d = app.domain(&t, "plant").await;
    let cid = s(&app.client(&t, &d, "dev1").await["id"]);
    let now = app.clock.now();

    // Issue with options.
    let r = app
        .post(
            &format!("/{d}/certs/issue/{cid}"),
            &t,
            json!({"ttl": "24h", "ip_addresses": ["10.0.0.1"],
                   "options": {"organization": ["Acme"], "dns_names": ["dev1.local"]}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let first = r.body.clone();
    let serial = s(&first["serial_number"]);
    let pem = s(&first["certificate"]);
    let key = s(&first["key"]);
    assert_eq!(first["revoked"], false);
    assert_eq!(first["entity_id"], cid.as_str());
    assert!(key.contains("PRIVATE KEY"));
    let expiry = time_of(&first["expiry_time"]);
    assert!((expiry - (now + Duration::hours(24))).abs() <= Duration::seconds(1));
    assert!(switchyard_certs::verify_chain(&pem, ca.ca(), now));
    let info = switchyard_certs::parse_cert(&pem).unwrap();
    assert_eq!(info.common_name, cid);
    assert_eq!(info.serial_hex, serial);
    assert_eq!(info.issuer_cn, ca.ca().common_name());

    let core = &app.running.as_ref().unwrap().core;
    // The key is stored sealed, never in clear: read what is at rest.
    let (store, _) = switchyard::open_store(&switchyard::settings_for(app.dir.path(), &app.db_url))
        .await
        .unwrap();
    let stored = store
        .cert(Uuid::parse_str(&d).unwrap(), &serial)
        .await
        .unwrap();
    assert!(!stored.sealed_key.contains("PRIVATE KEY"));
    assert_ne!(stored.sealed_key, key);

    // View: same certificate, key unsealed; any serial spelling.
    let v = app.get(&format!("/{d}/certs/{serial}"), &t).await;
    assert_eq!(v.status, 200, "{}", v.text);
    assert_eq!(v.body["certificate"], pem.as_str());
    assert_eq!(v.body["key"], key.as_str());
    assert_eq!(v.body["revoked"], false);
    let colons: Vec<String> = serial
        .as_bytes()
        .chunks(2)
        .map(|c| String::from_utf8(c.to_vec()).unwrap().to_uppercase())
        .collect();
    let v = app
        .get(&format!("/{d}/certs/{}", colons.join(":")), &t)
        .await;
    assert_eq!(v.status, 200, "{}", v.text);
    assert_eq!(v.body["serial_number"], serial.as_str());

    // A second one with every default (no body): CN = client id, ttl 2400h.
    let r = app
        .req(
            Method::POST,
            &format!("/{d}/certs/issue/{cid}"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let second = s(&r.body["serial_number"]);
    assert_ne!(second, serial);
    let expiry = time_of(&r.body["expiry_time"]);
    assert!((expiry - (now + Duration::hours(2400))).abs() <= Duration::seconds(1));

    // List.
    let l = app.get(&format!("/{d}/certs"), &t).await;
    assert_eq!(l.status, 200, "{}", l.text);
    assert_eq!(l.body["total"], 2);
    assert_eq!(l.body["limit"], 10);
    assert!(l.body.get("offset").is_none());
    let items = l.body["certificates"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert!(items.iter().all(|c| c.get("key").is_none()));
    let l = app
        .get(&format!("/{d}/certs?entity_id={cid}&limit=1&offset=1"), &t)
        .await;
    assert_eq!(l.body["total"], 2);
    assert_eq!(l.body["certificates"].as_array().unwrap().len(), 1);
    let other = s(&app.client(&t, &d, "dev2").await["id"]);
    let l = app.get(&format!("/{d}/certs?entity_id={other}"), &t).await;
    assert_eq!(l.status, 200);
    assert_eq!(l.body["total"], 0);
    assert!(l.body.get("certificates").is_none());
    assert_eq!(
        app.get(&format!("/{d}/certs?entity_id=nope"), &t)
            .await
            .status,
        400
    );

    // Revoke: 204, shown as revoked, listed by the CRL; the other is not.
    assert!(crl_serials(&app, &ca).await.is_empty());
    let r = app
        .req(
            Method::PATCH,
            &format!("/{d}/certs/{serial}/revoke"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = app
        .req(
            Method::PATCH,
            &format!("/{d}/certs/{serial}/revoke"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(r.status, 204, "revoking twice is harmless");
    assert_eq!(
        app.get(&format!("/{d}/certs/{serial}"), &t).await.body["revoked"],
        true
    );
    let crl = crl_serials(&app, &ca).await;
    assert_eq!(crl, vec![serial.clone()]);
    assert_eq!(
        core.cert_client(&serial).await.unwrap(),
        Some((Uuid::parse_str(&cid).unwrap(), true))
    );
    assert_eq!(
        core.cert_client(&second).await.unwrap(),
        Some((Uuid::parse_str(&cid).unwrap(), false))
    );
    assert_eq!(core.cert_client("abcdef").await.unwrap(), None);
    assert!(!core.crl_der().await.unwrap().is_empty());

    // Renew: new serial, same CN, chains; the old one is revoked. Certificate and key
    // travel as base64 (Go []byte), as HEAD encodes them.
    let r = app
        .req(
            Method::PATCH,
            &format!("/{d}/certs/{second}/renew"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let renewed = &r.body["certificate"];
    let new_serial = s(&renewed["serial_number"]);
    assert_ne!(new_serial, second);
    let b64 = |v: &Value| {
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(v.as_str().unwrap())
                .unwrap(),
        )
        .unwrap()
    };
    let new_pem = b64(&renewed["certificate"]);
    assert!(b64(&renewed["key"]).contains("PRIVATE KEY"));
    assert!(switchyard_certs::verify_chain(
        &new_pem,
        ca.ca(),
        app.clock.now()
    ));
    assert_eq!(
        switchyard_certs::parse_cert(&new_pem).unwrap().common_name,
        cid
    );
    assert_eq!(renewed["entity_id"], cid.as_str());
    assert_eq!(
        app.get(&format!("/{d}/certs/{second}"), &t).await.body["revoked"],
        true
    );
    let mut crl = crl_serials(&app, &ca).await;
    crl.sort();
    let mut want = vec![serial.clone(), second.clone()];
    want.sort();
    assert_eq!(crl, want);
    // A revoked certificate cannot be renewed (certs: 401 "cert revoked").
    let r = app
        .req(
            Method::PATCH,
            &format!("/{d}/certs/{second}/renew"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(r.status, 401, "{}", r.text);

    // Revoke everything of the client.
    let r = app
        .req(
            Method::DELETE,
            &format!("/{d}/certs/{cid}/delete"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(
        app.get(&format!("/{d}/certs/{new_serial}"), &t).await.body["revoked"],
        true
    );
    assert_eq!(crl_serials(&app, &ca).await.len(), 3);

    // Expired certificates drop off the CRL.
    app.clock.advance(Duration::hours(2401));
    assert!(crl_serials(&app, &ca).await.is_empty());
    let (t, _) = app.login("alice", "12345678").await;

    // Unknown serials and clients.
    for path in ["abcdef0123", "zz", "not-a-serial"] {
        let r = app.get(&format!("/{d}/certs/{path}"), &t).await;
        assert_eq!(r.status, 404, "{path}: {}", r.text);
        assert_eq!(r.msg(), "entity not found");
        let r = app
            .req(
                Method::PATCH,
                &format!("/{d}/certs/{path}/revoke"),
                Some(&t),
                None,
            )
            .await;
        assert_eq!(r.status, 404, "{path}");
    }
    let ghost = Uuid::new_v4();
    let r = app
        .post(&format!("/{d}/certs/issue/{ghost}"), &t, json!({}))
        .await;
    assert_eq!(r.status, 404, "{}", r.text);

    // Bad input.
    for body in [
        json!({"ttl": "forever"}),
        json!({"ttl": "-1h"}),
        json!({"ip_addresses": ["300.1.1.1"]}),
        json!({"options": {"organization": ["A", "B"]}}),
    ] {
        let r = app
            .post(&format!("/{d}/certs/issue/{other}"), &t, body.clone())
            .await;
        assert_eq!(r.status, 400, "{body}: {}", r.text);
    }
    let r = app
        .req(
            Method::POST,
            &format!("/{d}/certs/issue/{other}"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(r.status, 201);
    assert!(!core.crl_der().await.unwrap().is_empty());
    app.stop().await;
}
both!(issue_view_list_revoke_renew);

async fn ca_endpoints(b: Backend) {
    let (app, ca) = spawn(b).await;
    let r = app.req(Method::GET, "/certs/view-ca", None, None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["certificate"], ca.ca().ca_pem());
    assert_eq!(r.body["common_name"], ca.ca().common_name());
    assert_eq!(time_of(&r.body["expiry_time"]), ca.ca().not_after());
    // download-ca: the contract's ZIP bundle with ca.crt inside (read back with
    // Debian's unzip), or the PEM when asked for by Accept.
    let zip = app
        .http
        .get(format!("{}/certs/download-ca", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(zip.status(), 200);
    assert_eq!(zip.headers()["content-type"], "application/zip");
    let bytes = zip.bytes().await.unwrap();
    assert!(bytes.starts_with(b"PK\x03\x04"), "a ZIP");
    let zpath = app.dir.path().join("ca.zip");
    std::fs::write(&zpath, &bytes).unwrap();
    let out = std::process::Command::new("unzip")
        .args(["-p", zpath.to_str().unwrap(), "ca.crt"])
        .output()
        .expect("unzip (apt-get install unzip)");
    assert!(out.status.success(), "unzip: {out:?}");
    assert_eq!(String::from_utf8(out.stdout).unwrap(), ca.ca().ca_pem());
    let pem = app
        .http
        .get(format!("{}/certs/download-ca", app.url))
        .header("Accept", "application/x-pem-file")
        .send()
        .await
        .unwrap();
    assert_eq!(pem.headers()["content-type"], "application/x-pem-file");
    assert_eq!(pem.text().await.unwrap(), ca.ca().ca_pem());
    // The CA and the sealing secret live in the data directory; the secret is private.
    assert!(app.dir.path().join("ca/ca.crt").exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for f in ["ca/ca.key", "keys/certs.key"] {
            let mode = std::fs::metadata(app.dir.path().join(f))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{f}");
        }
    }
    app.stop().await;
}
both!(ca_endpoints);

async fn document_era_paths(b: Backend) {
    let (app, ca) = spawn(b).await;
    let (_, t) = app.user("bob").await;
    let d = app.domain(&t, "yard").await;
    let cid = s(&app.client(&t, &d, "gw").await["id"]);

    let r = app
        .post(
            &format!("/{d}/certs"),
            &t,
            json!({"client_id": cid, "ttl": "10h"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["client_id"], cid.as_str());
    assert_eq!(r.body["revoked"], false);
    assert!(s(&r.body["key"]).contains("PRIVATE KEY"));
    let serial = s(&r.body["serial_number"]);
    let pem = s(&r.body["certificate"]);
    assert!(switchyard_certs::verify_chain(
        &pem,
        ca.ca(),
        app.clock.now()
    ));
    let expiry = time_of(&r.body["expiry_time"]);
    assert!((expiry - (app.clock.now() + Duration::hours(10))).abs() <= Duration::seconds(1));

    for body in [json!({"ttl": "10h"}), json!({"client_id": "x"})] {
        let r = app.post(&format!("/{d}/certs"), &t, body).await;
        assert_eq!(r.status, 400, "{}", r.text);
    }

    let r = app.get(&format!("/{d}/serials/{cid}"), &t).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["total"], 1);
    assert_eq!(r.body["offset"], 0);
    assert_eq!(r.body["limit"], 10);
    assert_eq!(r.body["certs"][0]["serial_number"], serial.as_str());
    assert_eq!(r.body["certs"][0]["client_id"], cid.as_str());

    let v = app.get(&format!("/{d}/certs/{serial}"), &t).await;
    assert_eq!(v.status, 200);
    assert_eq!(v.body["client_id"], cid.as_str());

    let before = app.clock.now();
    let r = app
        .req(Method::DELETE, &format!("/{d}/certs/{cid}"), Some(&t), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(time_of(&r.body["revocation_time"]) >= before - Duration::seconds(1));
    let r = app.get(&format!("/{d}/serials/{cid}"), &t).await;
    assert_eq!(r.body["certs"][0]["revoked"], true);
    assert_eq!(crl_serials(&app, &ca).await, vec![serial]);

    let ghost = Uuid::new_v4();
    assert_eq!(
        app.get(&format!("/{d}/serials/{ghost}"), &t).await.status,
        404
    );
    let r = app
        .req(
            Method::DELETE,
            &format!("/{d}/certs/{ghost}"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(r.status, 404);
    app.stop().await;
}
both!(document_era_paths);

async fn who_may_touch_certs(b: Backend) {
    let (app, _ca) = spawn(b).await;
    let (_, owner) = app.user("owner").await;
    let (mid, member) = app.user("member").await;
    let (_, outsider) = app.user("outsider").await;
    let d = app.domain(&owner, "authz").await;
    let other_d = app.domain(&outsider, "elsewhere").await;
    app.join(&owner, &d, &mid, &member).await;
    let oc = s(&app.client(&owner, &d, "owner-client").await["id"]);
    let mc = s(&app.client(&member, &d, "member-client").await["id"]);
    let issue = |tok: &str, dom: &str, c: &str| {
        let path = format!("/{dom}/certs/issue/{c}");
        let tok = tok.to_string();
        let app = &app;
        async move { app.post(&path, &tok, json!({"ttl": "1h"})).await }
    };
    let r = issue(&owner, &d, &oc).await;
    assert_eq!(r.status, 201);
    let os = s(&r.body["serial_number"]);
    let r = issue(&member, &d, &mc).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let ms = s(&r.body["serial_number"]);

    // A foreign-domain user: 403 everywhere in the domain.
    let forbidden: Vec<(Method, String, Option<Value>)> = vec![
        (
            Method::POST,
            format!("/{d}/certs/issue/{oc}"),
            Some(json!({})),
        ),
        (
            Method::POST,
            format!("/{d}/certs"),
            Some(json!({"client_id": oc})),
        ),
        (Method::GET, format!("/{d}/certs"), None),
        (Method::GET, format!("/{d}/certs/{os}"), None),
        (Method::PATCH, format!("/{d}/certs/{os}/revoke"), None),
        (Method::PATCH, format!("/{d}/certs/{os}/renew"), None),
        (Method::DELETE, format!("/{d}/certs/{oc}/delete"), None),
        (Method::DELETE, format!("/{d}/certs/{oc}"), None),
        (Method::GET, format!("/{d}/serials/{oc}"), None),
    ];
    for (m, path, body) in &forbidden {
        let r = app
            .req(m.clone(), path, Some(&outsider), body.clone())
            .await;
        assert_eq!(r.status, 403, "{m} {path}: {}", r.text);
        let r = app.req(m.clone(), path, None, body.clone()).await;
        assert_eq!(r.status, 401, "{m} {path} without a token");
    }
    // Their own domain does not reach another domain's clients or certificates.
    let r = issue(&outsider, &other_d, &oc).await;
    assert_eq!(r.status, 404);
    assert_eq!(
        app.get(&format!("/{other_d}/certs/{os}"), &outsider)
            .await
            .status,
        404
    );

    // A member manages the certificates of their own clients only, and lists only those.
    assert_eq!(issue(&member, &d, &oc).await.status, 404);
    assert_eq!(
        app.get(&format!("/{d}/certs/{os}"), &member).await.status,
        404
    );
    let r = app
        .req(
            Method::PATCH,
            &format!("/{d}/certs/{os}/revoke"),
            Some(&member),
            None,
        )
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(
        app.get(&format!("/{d}/serials/{oc}"), &member).await.status,
        404
    );
    let l = app.get(&format!("/{d}/certs"), &member).await;
    assert_eq!(l.body["total"], 1);
    assert_eq!(l.body["certificates"][0]["serial_number"], ms.as_str());
    assert_eq!(
        app.get(&format!("/{d}/certs/{ms}"), &member).await.status,
        200
    );

    // The domain admin (creator) and the super-admin see everything.
    assert_eq!(
        app.get(&format!("/{d}/certs"), &owner).await.body["total"],
        2
    );
    let admin = app.admin().await;
    assert_eq!(
        app.get(&format!("/{d}/certs/{ms}"), &admin).await.status,
        200
    );
    let r = app
        .req(
            Method::PATCH,
            &format!("/{d}/certs/{ms}/revoke"),
            Some(&owner),
            None,
        )
        .await;
    assert_eq!(r.status, 204);
    app.stop().await;
}
both!(who_may_touch_certs);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_ca_and_sealed_keys_sqlite() {
    let (mut app, ca) = spawn(Backend::Sqlite).await;
    let (_, t) = app.user("keeper").await;
    let d = app.domain(&t, "keep").await;
    let cid = s(&app.client(&t, &d, "dev").await["id"]);
    let r = app
        .post(&format!("/{d}/certs/issue/{cid}"), &t, json!({}))
        .await;
    assert_eq!(r.status, 201);
    let issued = r.body.clone();
    app.restart().await;
    let again = enable_certs(&app);
    assert_eq!(again.ca().ca_pem(), ca.ca().ca_pem());
    let (t, _) = app.login("keeper", "12345678").await;
    let v = app
        .get(&format!("/{d}/certs/{}", s(&issued["serial_number"])), &t)
        .await;
    assert_eq!(v.status, 200, "{}", v.text);
    assert_eq!(v.body["key"], issued["key"]);
    app.stop().await;
}

/// A client's own key pair: `openssl req` makes a CSR, the server signs it (no key kept
/// or returned), and `openssl verify` accepts the certificate against the CA; a broken
/// CSR, one without a common name and another user's client are refused.
async fn csr_signing(b: Backend) {
    let (app, _ca) = spawn(b).await;
    let (_, t) = app.user("keyowner").await;
    let d = app.domain(&t, "csr").await;
    let client = s(&app.client(&t, &d, "own-key").await["id"]);
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k.pem");
    let csr = dir.path().join("r.der");
    let openssl = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .output()
            .expect("openssl (apt-get install openssl)");
        assert!(out.status.success(), "openssl {args:?}: {out:?}");
        out.stdout
    };
    new_csr(&key, &csr, &client);
    let der = std::fs::read(&csr).unwrap();
    let b64 = |b: &[u8]| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, b);
    let path = format!("/{d}/certs/csrs/{client}?ttl=720h");
    let r = app.post(&path, &t, json!({"csr": b64(&der)})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.body.get("key").is_none(), "no key: {}", r.text);
    assert_eq!(s(&r.body["entity_id"]), client);
    let serial = s(&r.body["serial_number"]);
    let cert = dir.path().join("c.pem");
    std::fs::write(&cert, s(&r.body["certificate"])).unwrap();
    let ca_pem = app.get("/certs/view-ca", &t).await.body["certificate"].clone();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, s(&ca_pem)).unwrap();
    let out = openssl(&[
        "verify",
        "-CAfile",
        ca_file.to_str().unwrap(),
        cert.to_str().unwrap(),
    ]);
    assert!(String::from_utf8_lossy(&out).contains("OK"), "{out:?}");
    // The certificate carries the CSR's public key.
    let pub_csr = openssl(&[
        "req",
        "-inform",
        "DER",
        "-in",
        csr.to_str().unwrap(),
        "-noout",
        "-pubkey",
    ]);
    let pub_cert = openssl(&["x509", "-in", cert.to_str().unwrap(), "-noout", "-pubkey"]);
    assert_eq!(pub_csr, pub_cert);
    // Viewable and listed like any other, without a key.
    let r = app.get(&format!("/{d}/certs/{serial}"), &t).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.body.get("key").is_none(), "{}", r.text);
    // Refusals.
    let r = app.post(&path, &t, json!({"csr": "not base64!"})).await;
    assert_eq!(r.status, 400, "{}", r.text);
    let r = app.post(&path, &t, json!({"csr": b64(b"garbage")})).await;
    assert_eq!(r.status, 400, "{}", r.text);
    let nocn = dir.path().join("n.der");
    openssl(&[
        "req",
        "-new",
        "-key",
        key.to_str().unwrap(),
        "-subj",
        "/O=nobody",
        "-outform",
        "DER",
        "-out",
        nocn.to_str().unwrap(),
    ]);
    let r = app
        .post(
            &path,
            &t,
            json!({"csr": b64(&std::fs::read(&nocn).unwrap())}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    let (_, other) = app.user("stranger").await;
    let r = app.post(&path, &other, json!({"csr": b64(&der)})).await;
    assert_eq!(r.status, 403, "{}", r.text);
}
both!(csr_signing);

/// `openssl req`: a new P-256 key at `key` and its CSR (DER, CN = `cn`) at `csr`.
fn new_csr(key: &std::path::Path, csr: &std::path::Path, cn: &str) {
    let (ok, out) = openssl_out(&[
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        key.to_str().unwrap(),
        "-subj",
        &format!("/CN={cn}"),
        "-outform",
        "DER",
        "-out",
        csr.to_str().unwrap(),
    ]);
    assert!(ok, "{out}");
}

/// Runs openssl and returns (success, stdout + stderr).
fn openssl_out(args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl (apt-get install openssl)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The OCSP responder as `openssl ocsp` uses it: a good certificate is `good`, a revoked
/// one `revoked`, a serial never issued and a certificate of another CA `unknown`, the
/// response signed by the CA ("Response verify OK") with the nonce echoed; the JSON form
/// answers the same DER; garbage gets `malformedRequest`; forcing a status is refused.
async fn ocsp_responder(b: Backend) {
    let (app, ca) = spawn(b).await;
    let (_, t) = app.user("ocspowner").await;
    let d = app.domain(&t, "ocsp").await;
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let mut serials = Vec::new();
    for name in ["good", "revoked"] {
        let c = s(&app.client(&t, &d, name).await["id"]);
        let r = app
            .post(
                &format!("/{d}/certs/issue/{c}"),
                &t,
                json!({"ttl": "24h", "options": {"common_name": c}}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        std::fs::write(p(&format!("{name}.pem")), s(&r.body["certificate"])).unwrap();
        serials.push(s(&r.body["serial_number"]));
    }
    let r = app
        .req(
            Method::PATCH,
            &format!("/{d}/certs/{}/revoke", serials[1]),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    std::fs::write(p("ca.pem"), ca.ca().ca_pem()).unwrap();
    let url = format!("{}/certs/ocsp", app.url);
    let (ok, out) = openssl_out(&[
        "ocsp",
        "-issuer",
        &p("ca.pem"),
        "-CAfile",
        &p("ca.pem"),
        "-cert",
        &p("good.pem"),
        "-cert",
        &p("revoked.pem"),
        "-serial",
        "0x1234",
        "-url",
        &url,
    ]);
    assert!(ok, "{out}");
    assert!(out.contains("Response verify OK"), "{out}");
    assert!(out.contains(&format!("{}: good", p("good.pem"))), "{out}");
    assert!(
        out.contains(&format!("{}: revoked", p("revoked.pem"))),
        "{out}"
    );
    assert!(out.contains("0x1234: unknown"), "{out}");
    // A nonce mismatch would make openssl warn; it must not.
    assert!(!out.to_lowercase().contains("nonce"), "{out}");
    // Another CA's certificate: unknown, never good.
    let (ok, out) = openssl_out(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        &p("other.key"),
        "-subj",
        "/CN=other",
        "-days",
        "1",
        "-out",
        &p("other.pem"),
    ]);
    assert!(ok, "{out}");
    let (ok, out) = openssl_out(&[
        "ocsp",
        "-issuer",
        &p("other.pem"),
        "-cert",
        &p("other.pem"),
        "-url",
        &url,
        "-noverify",
    ]);
    assert!(ok, "{out}");
    assert!(
        out.contains(&format!("{}: unknown", p("other.pem"))),
        "{out}"
    );
    // The JSON form answers DER too: by serial, and by PEM certificate.
    let json_ocsp = |body: Value| {
        let http = app.http.clone();
        let url = url.clone();
        async move {
            let r = http.post(&url).json(&body).send().await.unwrap();
            let status = r.status().as_u16();
            let ct = r
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default();
            (status, ct, r.bytes().await.unwrap().to_vec())
        }
    };
    let good_pem = std::fs::read_to_string(p("good.pem")).unwrap();
    for (body, want) in [
        (json!({"serial_number": serials[1]}), "Cert Status: revoked"),
        (json!({"certificate": good_pem}), "Cert Status: good"),
        (json!({"serial_number": "ab:cd"}), "Cert Status: unknown"),
    ] {
        let (status, ct, der) = json_ocsp(body.clone()).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(ct, "application/ocsp-response");
        std::fs::write(p("resp.der"), &der).unwrap();
        let (ok, out) = openssl_out(&[
            "ocsp",
            "-respin",
            &p("resp.der"),
            "-resp_text",
            "-CAfile",
            &p("ca.pem"),
        ]);
        assert!(ok, "{out}");
        assert!(out.contains(want), "{body}: {out}");
        assert!(out.contains("Response verify OK"), "{out}");
    }
    for bad in [
        json!({}),
        json!({"serial_number": "zz"}),
        json!({"certificate": "not a certificate"}),
        json!({"serial_number": serials[1], "status": "good"}),
    ] {
        let (status, _, body) = json_ocsp(bad.clone()).await;
        assert_eq!(status, 400, "{bad}");
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert!(v["message"].as_str().is_some(), "{bad}: {v}");
    }
    let empty_der = |to: String| {
        app.http
            .post(to)
            .header("content-type", "application/ocsp-request")
            .body(Vec::new())
            .send()
    };
    let r = empty_der(format!("{url}?force_status=good")).await.unwrap();
    assert_eq!(r.status(), 400);
    // No request at all.
    let r = empty_der(url.clone()).await.unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["message"], "missing OCSP request", "{v}");
    // Not an OCSP request: the unsigned malformedRequest answer.
    let r = app
        .http
        .post(&url)
        .header("content-type", "application/ocsp-request")
        .body(b"garbage".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.bytes().await.unwrap().as_ref(),
        &[0x30, 0x03, 0x0a, 0x01, 0x01]
    );
    app.stop().await;
}
both!(ocsp_responder);

/// The internal CSR route: refused without the configured `MG_CERTS_SECRET` (and when
/// none is configured), and with it the certificate is issued to the client's domain.
async fn internal_csr_route(b: Backend) {
    let app = TestServer::spawn_with(b, |s| s.certs_secret = "agent-secret-1".into()).await;
    let _ca = enable_certs(&app);
    let (_, t) = app.user("agentowner").await;
    let d = app.domain(&t, "agent").await;
    let client = s(&app.client(&t, &d, "agent-dev").await["id"]);
    let dir = tempfile::tempdir().unwrap();
    let csr = dir.path().join("r.der");
    new_csr(&dir.path().join("k.pem"), &csr, &client);
    let body = json!({"csr": base64::engine::general_purpose::STANDARD.encode(std::fs::read(&csr).unwrap())});
    let path = format!("/certs/csrs/{client}?ttl=24h");
    for bad in ["wrong", ""] {
        let r = app.post(&path, bad, body.clone()).await;
        assert_eq!(r.status, 401, "{}", r.text);
    }
    // A user's token is not the agent secret.
    let r = app.post(&path, &t, body.clone()).await;
    assert_eq!(r.status, 401, "{}", r.text);
    let r = app.post(&path, "agent-secret-1", body.clone()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(s(&r.body["entity_id"]), client);
    let serial = s(&r.body["serial_number"]);
    // It is the client's domain's certificate, visible to its owner.
    let r = app.get(&format!("/{d}/certs/{serial}"), &t).await;
    assert_eq!(r.status, 200, "{}", r.text);
    // Not for a disabled client.
    let r = app
        .post(&format!("/{d}/clients/{client}/disable"), &t, json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app.post(&path, "agent-secret-1", body.clone()).await;
    assert_eq!(r.status, 403, "{}", r.text);
    // Nor for an enabled client of a disabled domain.
    let d2 = app.domain(&t, "agent2").await;
    let other = s(&app.client(&t, &d2, "agent-dev2").await["id"]);
    let r = app
        .post(&format!("/domains/{d2}/disable"), &t, json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app
        .post(
            &format!("/certs/csrs/{other}"),
            "agent-secret-1",
            body.clone(),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    let r = app
        .post(
            &format!("/certs/csrs/{}", Uuid::new_v4()),
            "agent-secret-1",
            body.clone(),
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.text);
    app.stop().await;
    // No secret configured: refused whatever is sent.
    let app = TestServer::spawn(b).await;
    let r = app.post(&path, "", body.clone()).await;
    assert_eq!(r.status, 401, "{}", r.text);
    app.stop().await;
}
both!(internal_csr_route);
