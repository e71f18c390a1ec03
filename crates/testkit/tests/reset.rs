//! Password reset by e-mail, against an SMTP server of the test's own that keeps what
//! it is sent: the token arrives once, works once, ends every session; unknown
//! addresses get the same answer and no mail; requests are throttled; a server without
//! a mailer says so.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use switchyard_testkit::{Backend, TestServer, both};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::TcpListener,
    sync::mpsc,
};

/// A minimal SMTP receiver: answers the commands a client sends and hands every
/// message's DATA to the channel.
async fn smtp_sink() -> (u16, mpsc::UnboundedReceiver<String>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((sock, _)) = l.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let (r, mut w) = sock.into_split();
                let mut r = BufReader::new(r);
                w.write_all(b"220 sink ESMTP\r\n").await.unwrap();
                let mut line = String::new();
                loop {
                    line.clear();
                    if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let cmd = line.trim_end().to_ascii_uppercase();
                    let reply: &[u8] = if cmd.starts_with("EHLO") || cmd.starts_with("HELO") {
                        b"250-sink\r\n250 8BITMIME\r\n"
                    } else if cmd.starts_with("DATA") {
                        w.write_all(b"354 go on\r\n").await.unwrap();
                        let mut data = String::new();
                        loop {
                            line.clear();
                            if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                                return;
                            }
                            if line == ".\r\n" {
                                break;
                            }
                            data.push_str(&line);
                        }
                        let _ = tx.send(data);
                        b"250 kept\r\n"
                    } else if cmd.starts_with("QUIT") {
                        let _ = w.write_all(b"221 bye\r\n").await;
                        return;
                    } else {
                        b"250 ok\r\n"
                    };
                    w.write_all(reply).await.unwrap();
                }
            });
        }
    });
    (port, rx)
}

/// `POST /password/reset-request` with this body, unauthenticated.
async fn reset_request(app: &TestServer, body: serde_json::Value) -> switchyard_testkit::Res {
    app.req(Method::POST, "/password/reset-request", None, Some(body))
        .await
}

/// An e-mail's text: its body is base64, after the blank line that ends the headers.
fn mail_text(mail: &str) -> String {
    let b64: String = mail
        .split("\r\n\r\n")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .collect();
    String::from_utf8(
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b64).unwrap(),
    )
    .unwrap()
}

/// The token after `marker` in an e-mail's text.
fn link_token(text: &str, marker: &str) -> String {
    text.split(marker)
        .nth(1)
        .unwrap_or_else(|| panic!("no {marker} in the e-mail: {text}"))
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

async fn story(b: Backend) {
    let (port, mut mails) = smtp_sink().await;
    let app = TestServer::spawn_with(b, move |s| {
        s.email_host = "127.0.0.1".into();
        s.email_port = port;
        s.email_tls = "none".into();
        s.password_reset_url = "https://console.example/reset".into();
    })
    .await;
    app.register("rita").await;
    let (access, refresh) = app.login("rita", "12345678").await;
    // Credentials an intruder could have minted: a PAT and an API key.
    let r = app
        .post("/pats", &access, json!({"name": "p", "duration": "1d"}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let pat = r.body["secret"].as_str().unwrap().to_string();
    let r = app.post("/keys", &access, json!({"duration": "1d"})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let key = r.body["value"].as_str().unwrap().to_string();
    assert_eq!(app.get("/users/profile", &key).await.status, 200);

    // The request: 201, and one e-mail whose link is the configured page, whatever
    // host the request names.
    let r = reset_request(
        &app,
        json!({"email": "rita@example.com", "host": "https://evil.example"}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["msg"], "Email with reset link is sent");
    let mail = tokio::time::timeout(Duration::from_secs(5), mails.recv())
        .await
        .expect("no e-mail")
        .unwrap();
    assert!(mail.contains("To: rita@example.com"), "{mail}");
    let text = mail_text(&mail);
    assert!(!text.contains("evil"), "{text}");
    let token = link_token(&text, "https://console.example/reset?token=");

    // A malformed address is 400 (that says nothing about accounts).
    let r = reset_request(&app, json!({"email": "useratexample.com"})).await;
    assert_eq!(r.status, 400, "{}", r.text);

    // An unknown address: the same answer, no e-mail.
    let r = reset_request(&app, json!({"email": "nobody@example.com"})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(
        tokio::time::timeout(Duration::from_millis(500), mails.recv())
            .await
            .is_err(),
        "an e-mail for an unknown address"
    );

    let put = |tok: String, body: serde_json::Value| {
        let app = &app;
        async move {
            app.req(Method::PUT, "/password/reset", Some(&tok), Some(body))
                .await
        }
    };
    let r = put(
        token.clone(),
        json!({"password": "new-pass-123", "confirm_password": "other-pass-123"}),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text);
    let r = put(
        token.clone(),
        json!({"password": "short", "confirm_password": "short"}),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text);
    let r = put(
        access.clone(),
        json!({"password": "new-pass-123", "confirm_password": "new-pass-123"}),
    )
    .await;
    assert_eq!(
        r.status, 401,
        "an access token is not a reset token: {}",
        r.text
    );
    let r = put(
        token.clone(),
        json!({"password": "new-pass-123", "confirm_password": "new-pass-123"}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);

    // The new password works, the old does not; every session ended.
    let r = app
        .req(
            Method::POST,
            "/users/tokens/issue",
            None,
            Some(json!({"username": "rita", "password": "12345678"})),
        )
        .await;
    assert_eq!(r.status, 401, "{}", r.text);
    let (fresh, _) = app.login("rita", "new-pass-123").await;
    assert_eq!(app.get("/users/profile", &access).await.status, 401);
    // The reset revoked the PAT and the API key too.
    assert_eq!(
        app.get("/pats", &fresh).await.body["pats"][0]["revoked"],
        true
    );
    assert_eq!(app.get("/users/profile", &pat).await.status, 401);
    assert_eq!(app.get("/users/profile", &key).await.status, 401);
    let r = app
        .req(Method::POST, "/users/tokens/refresh", Some(&refresh), None)
        .await;
    assert_eq!(r.status, 401, "{}", r.text);
    // The token worked once.
    let r = put(
        token,
        json!({"password": "third-pass-123", "confirm_password": "third-pass-123"}),
    )
    .await;
    assert_eq!(r.status, 401, "{}", r.text);

    // Two resets racing with one token: exactly one wins.
    let r = reset_request(&app, json!({"email": "rita@example.com"})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let mail = tokio::time::timeout(Duration::from_secs(5), mails.recv())
        .await
        .expect("no second e-mail")
        .unwrap();
    let token2 = link_token(&mail_text(&mail), "?token=");
    let (a, b) = tokio::join!(
        put(
            token2.clone(),
            json!({"password": "race-pass-111", "confirm_password": "race-pass-111"})
        ),
        put(
            token2,
            json!({"password": "race-pass-222", "confirm_password": "race-pass-222"})
        )
    );
    let mut st = [a.status.as_u16(), b.status.as_u16()];
    st.sort();
    assert_eq!(st, [201, 401], "{} / {}", a.text, b.text);

    // Requests are throttled per address.
    let mut limited = false;
    for _ in 0..40 {
        let r = reset_request(&app, json!({"email": "rita@example.com"})).await;
        if r.status == 429 {
            assert!(r.headers.contains_key("retry-after"));
            limited = true;
            break;
        }
        assert_eq!(r.status, 201, "{}", r.text);
    }
    assert!(limited, "reset requests never throttled");
}

both!(story);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_mailer_the_server_says_so() {
    let app = TestServer::spawn(Backend::Sqlite).await;
    app.register("sam").await;
    let r = reset_request(&app, json!({"email": "sam@example.com"})).await;
    assert_eq!(r.status, 503, "{}", r.text);
    assert!(r.msg().contains("not configured"), "{}", r.text);
}
