//! Black-box suite: the real server on port 0, fresh store per test, on SQLite and on
//! PostgreSQL. Every assertion is about what a client observes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use reqwest::Method;
use serde_json::json;
use switchyard_testkit::{Backend, TestServer, both};

// ---------------------------------------------------------------- foundation

async fn document_user_flow(b: Backend) {
    let app = TestServer::spawn(b).await;
    // "Create an Account", exactly as the document.
    let r = app
        .raw(
            Method::POST,
            "/users",
            None,
            Some("application/json"),
            Some(r#"{"first_name": "Jane", "last_name":"Doe","email":"janedoe@example.com", "credentials": {"username": "janedoe", "secret": "12345678"}, "status": "enabled"}"#.into()),
        )
        .await;
    assert_eq!(r.status, 201);
    let id = r.body["id"].as_str().unwrap();
    assert_eq!(r.headers["location"], format!("/users/{id}").as_str());
    assert_eq!(r.body["credentials"], json!({"username": "janedoe"}));
    assert_eq!(r.body["role"], "user");
    assert_eq!(r.body["status"], "enabled");
    assert_eq!(r.body["updated_at"], "0001-01-01T00:00:00Z");
    assert!(r.body["verified_at"].is_string());
    assert!(r.body.get("password").is_none() && r.body["credentials"].get("secret").is_none());
    // Tokens by username and by e-mail.
    let (t, _) = app.login("janedoe", "12345678").await;
    let (t2, _) = app.login("janedoe@example.com", "12345678").await;
    // Profile.
    let p = app.get("/users/profile", &t2).await;
    assert_eq!(p.status, 200);
    assert_eq!(p.body["id"], id);
    // Domain.
    let d = app
        .post("/domains", &t, json!({"name": "acme", "route": "acme"}))
        .await;
    assert_eq!(d.status, 201, "{}", d.text);
    assert_eq!(d.body["route"], "acme");
    assert_eq!(d.body["created_by"], id);
    assert!(d.headers.get("location").is_none());
    // The admin logs in with the configured password.
    app.admin().await;
    let bad = app
        .req(
            Method::POST,
            "/users/tokens/issue",
            None,
            Some(json!({"username": "admin", "password": "wrong-password"})),
        )
        .await;
    assert_eq!(
        (bad.status.as_u16(), bad.msg()),
        (401, "invalid credentials")
    );
    let unknown = app
        .req(
            Method::POST,
            "/users/tokens/issue",
            None,
            Some(json!({"username": "nobody", "password": "x"})),
        )
        .await;
    assert_eq!(
        (unknown.status.as_u16(), unknown.msg()),
        (404, "entity not found")
    );
    app.stop().await;
}
both!(document_user_flow);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_data_sqlite() {
    let mut app = TestServer::spawn(Backend::Sqlite).await;
    let (_, t) = app.user("keeper").await;
    let d = app.domain(&t, "keep").await;
    let c = app.client(&t, &d, "dev").await;
    app.restart().await;
    let (t, _) = app.login("keeper", "12345678").await;
    let r = app
        .get(&format!("/{d}/clients/{}", c["id"].as_str().unwrap()), &t)
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["credentials"]["secret"], c["credentials"]["secret"]);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_admin_password_is_written_once_with_mode_0600() {
    let dir = tempfile::tempdir().unwrap();
    let s = switchyard::settings_for(dir.path(), "");
    let clock = std::sync::Arc::new(switchyard_auth::SystemClock);
    let r = switchyard::start(s.clone(), clock.clone(), None)
        .await
        .unwrap();
    let path = r.admin_password_file.clone().expect("generated");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let pw = std::fs::read_to_string(&path).unwrap().trim().to_string();
    assert!(pw.len() >= 20);
    let url = r.url();
    let res = reqwest::Client::new()
        .post(format!("{url}/users/tokens/issue"))
        .json(&json!({"username": "admin", "password": pw}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    r.shutdown().await;
    let again = switchyard::start(s, clock, None).await.unwrap();
    assert!(again.admin_password_file.is_none(), "printed only once");
    again.shutdown().await;
}

async fn tokens_expire_and_are_typed(b: Backend) {
    let app = TestServer::spawn(b).await;
    let (uid, _) = app.user("tok").await;
    let (access, refresh) = app.login("tok", "12345678").await;
    assert_eq!(app.get("/users/profile", &access).await.status, 200);
    // A refresh token is not an access token, and vice versa.
    let r = app.get("/users/profile", &refresh).await;
    assert_eq!(r.status, 401);
    let r = app
        .req(Method::POST, "/users/tokens/refresh", Some(&access), None)
        .await;
    assert_eq!(r.status, 401);
    // Refresh gives a new pair; each refresh token works once.
    let r = app
        .req(Method::POST, "/users/tokens/refresh", Some(&refresh), None)
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let refresh = r.body["refresh_token"].as_str().unwrap().to_string();
    // Tampered.
    let mut bad = access.clone();
    let last = bad.pop().unwrap();
    bad.push(if last == 'A' { 'B' } else { 'A' });
    let r = app.get("/users/profile", &bad).await;
    assert_eq!(
        (r.status.as_u16(), r.msg()),
        (401, "failed to perform authentication over the entity")
    );
    // Expired: move the injected clock past the 1h access lifetime.
    app.clock.advance(time::Duration::minutes(61));
    assert_eq!(app.get("/users/profile", &access).await.status, 401);
    let r = app
        .req(Method::POST, "/users/tokens/refresh", Some(&refresh), None)
        .await;
    assert_eq!(r.status, 201, "refresh still valid within 24h");
    let refresh = r.body["refresh_token"].as_str().unwrap().to_string();
    app.clock.advance(time::Duration::hours(24));
    let r = app
        .req(Method::POST, "/users/tokens/refresh", Some(&refresh), None)
        .await;
    assert_eq!(r.status, 401);
    // A replayed refresh token ends its session: the newer token dies with it.
    let (access, first) = app.login("tok", "12345678").await;
    let r = app
        .req(Method::POST, "/users/tokens/refresh", Some(&first), None)
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let newer = r.body["refresh_token"].as_str().unwrap().to_string();
    let r = app
        .req(Method::POST, "/users/tokens/refresh", Some(&first), None)
        .await;
    assert_eq!((r.status.as_u16(), r.msg()), (401, "refresh token reused"));
    let r = app
        .req(Method::POST, "/users/tokens/refresh", Some(&newer), None)
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(app.get("/users/profile", &access).await.status, 401);
    // Revoke: the session's tokens stop working.
    let (access, refresh) = app.login("tok", "12345678").await;
    let list = app.get("/users/tokens/refresh-tokens", &access).await;
    let sid = list.body["refresh_tokens"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = app
        .post("/users/tokens/revoke", &access, json!({"token_id": sid}))
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(
        app.req(Method::POST, "/users/tokens/refresh", Some(&refresh), None)
            .await
            .status,
        401
    );
    assert_eq!(app.get("/users/profile", &access).await.status, 401);
    // Disabling a user kills their tokens.
    let (access, _) = app.login("tok", "12345678").await;
    let admin = app.admin().await;
    let r = app
        .req(
            Method::POST,
            &format!("/users/{uid}/disable"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], "disabled");
    assert_eq!(app.get("/users/profile", &access).await.status, 401);
    let r = app
        .req(
            Method::POST,
            &format!("/users/{uid}/disable"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.msg()),
        (422, "status already assigned")
    );
    app.stop().await;
}
both!(tokens_expire_and_are_typed);

async fn error_shapes(b: Backend) {
    let app = TestServer::spawn_with(b, |s| s.max_body_bytes = 4096).await;
    // A 401 names the scheme to use: Bearer for the API, Basic for the HTTP adapter.
    let r = app.req(Method::GET, "/domains", None, None).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.headers["www-authenticate"], "Bearer realm=\"switchyard\"");
    let id = uuid::Uuid::new_v4();
    let r = app
        .raw(
            Method::POST,
            &format!("/m/{id}/c/{id}"),
            None,
            Some("text/plain"),
            Some("x".into()),
        )
        .await;
    assert_eq!(r.status, 401, "{}", r.text);
    assert_eq!(r.headers["www-authenticate"], "Basic realm=\"switchyard\"");
    // Rejections before any handler are JSON too: bad percent-encoding, a 9 KB URI.
    let r = app.raw(Method::GET, "/%zz", None, None, None).await;
    assert_eq!((r.status.as_u16(), r.msg()), (404, "page not found"));
    let long = format!("/users/{}", "a".repeat(9 * 1024));
    let r = app.raw(Method::GET, &long, None, None, None).await;
    assert!(
        r.status.is_client_error() && !r.msg().is_empty(),
        "{} {}",
        r.status,
        r.text
    );
    let (_, t) = app.user("errs").await;
    let d = app.domain(&t, "errs").await;
    let cases: Vec<(switchyard_testkit::Res, u16, &str)> = vec![
        (
            app.raw(
                Method::POST,
                "/users",
                None,
                Some("application/json"),
                Some("{bad".into()),
            )
            .await,
            400,
            "request body is not a valid JSON, expecting a valid JSON",
        ),
        (
            app.raw(Method::POST, "/users", None, None, Some("{}".into()))
                .await,
            415,
            "unsupported content type",
        ),
        (
            app.raw(
                Method::POST,
                "/users",
                None,
                Some("text/plain"),
                Some("{}".into()),
            )
            .await,
            415,
            "unsupported content type",
        ),
        (
            app.req(Method::GET, "/users/profile", None, None).await,
            401,
            "missing or invalid bearer user token",
        ),
        (
            app.req(Method::GET, "/users/profile", Some("garbage"), None)
                .await,
            401,
            "failed to perform authentication over the entity",
        ),
        (
            app.get("/users", &t).await,
            403,
            "not authorized to perform admin action",
        ),
        (
            app.get(&format!("/{d}/clients/{}", uuid::Uuid::new_v4()), &t)
                .await,
            404,
            "entity not found",
        ),
        (
            app.get(&format!("/{d}/clients/not-a-uuid"), &t).await,
            400,
            "invalid id format provided",
        ),
        (
            app.get(&format!("/{d}/clients?limit=abc"), &t).await,
            400,
            "invalid query parameters",
        ),
        (
            app.get(&format!("/{d}/clients?offset=-1"), &t).await,
            400,
            "invalid query parameters",
        ),
        (
            app.get(&format!("/{d}/clients?limit=1&limit=2"), &t).await,
            400,
            "invalid query parameters",
        ),
        (
            app.get(&format!("/{d}/clients?metadata=notjson"), &t).await,
            400,
            "invalid query parameters",
        ),
        (
            app.get(&format!("/{d}/clients?limit=101"), &t).await,
            400,
            "invalid limit size",
        ),
        (
            app.get(&format!("/{d}/clients?status=weird"), &t).await,
            400,
            "invalid status",
        ),
        (
            app.get(&format!("/{d}/clients?order=colour"), &t).await,
            400,
            "invalid list order provided",
        ),
        (
            app.get(&format!("/{d}/clients?dir=up"), &t).await,
            400,
            "invalid list direction provided",
        ),
        (
            app.get(&format!("/{d}/channels?connection_type=sideways"), &t)
                .await,
            400,
            "invalid connection type",
        ),
        (
            app.req(Method::GET, "/no/such/path/here", None, None).await,
            404,
            "page not found",
        ),
        (
            app.raw(
                Method::POST,
                &format!("/{d}/clients"),
                Some(&t),
                Some("application/json"),
                Some(format!("{{\"name\":\"{}\"}}", "x".repeat(5000))),
            )
            .await,
            413,
            "request body too large",
        ),
        (
            app.post(
                &format!("/{d}/clients"),
                &t,
                json!({"name": "x".repeat(1025)}),
            )
            .await,
            400,
            "invalid name size",
        ),
        (
            app.post(&format!("/{d}/clients"), &t, json!({"id": "NOT-A-UUID"}))
                .await,
            400,
            "invalid id format provided",
        ),
        (
            app.post(&format!("/{d}/clients/bulk"), &t, json!([])).await,
            400,
            "empty list provided",
        ),
        (
            app.post(&format!("/{d}/channels"), &t, json!({"route": "9bad"}))
                .await,
            400,
            "invalid route format",
        ),
    ];
    for (i, (r, status, msg)) in cases.iter().enumerate() {
        assert_eq!(r.status.as_u16(), *status, "case {i}: {}", r.text);
        assert_eq!(r.msg(), *msg, "case {i}: {}", r.text);
        assert!(
            r.headers["content-type"]
                .to_str()
                .unwrap()
                .contains("application/json"),
            "case {i}"
        );
    }
    // Duplicates: the contract's messages, 400.
    let dup = app
        .req(Method::POST, "/users", None, Some(json!({"first_name": "a", "last_name": "b", "email": "errs@example.com", "credentials": {"username": "other1", "secret": "12345678"}})))
        .await;
    assert_eq!(
        (dup.status.as_u16(), dup.msg()),
        (400, "email id already registered")
    );
    let dup = app
        .req(Method::POST, "/users", None, Some(json!({"first_name": "a", "last_name": "b", "email": "new@example.com", "credentials": {"username": "errs", "secret": "12345678"}})))
        .await;
    assert_eq!(
        (dup.status.as_u16(), dup.msg()),
        (400, "username not available")
    );
    let short = app
        .req(Method::POST, "/users", None, Some(json!({"first_name": "a", "last_name": "b", "email": "s@example.com", "credentials": {"username": "shorty", "secret": "123"}})))
        .await;
    assert_eq!(
        (short.status.as_u16(), short.msg()),
        (400, "password does not meet the requirements")
    );
    let c = app
        .post(
            &format!("/{d}/clients"),
            &t,
            json!({"credentials": {"secret": "s1"}}),
        )
        .await;
    assert_eq!(c.status, 201);
    let dup = app
        .post(
            &format!("/{d}/clients"),
            &t,
            json!({"credentials": {"secret": "s1"}}),
        )
        .await;
    assert_eq!(
        (dup.status.as_u16(), dup.msg()),
        (400, "client key is not available")
    );
    let ch = app
        .post(&format!("/{d}/channels"), &t, json!({"route": "room"}))
        .await;
    assert_eq!(ch.status, 201);
    let dup = app
        .post(&format!("/{d}/channels"), &t, json!({"route": "room"}))
        .await;
    assert_eq!(
        (dup.status.as_u16(), dup.msg()),
        (400, "route not available")
    );
    let dup = app
        .post("/domains", &t, json!({"name": "x", "route": "errs"}))
        .await;
    assert_eq!(
        (dup.status.as_u16(), dup.msg()),
        (400, "route not available")
    );
    // 405 with Allow, as the document shows for PUT .../connect.
    let ch_id = ch.body["id"].as_str().unwrap();
    let r = app
        .raw(
            Method::PUT,
            &format!("/{d}/channels/{ch_id}/connect"),
            Some(&t),
            None,
            Some("{}".into()),
        )
        .await;
    assert_eq!(r.status, 405);
    assert_eq!(r.headers["allow"], "POST");
    assert_eq!(r.msg(), "method not allowed");
    app.stop().await;
}
both!(error_shapes);

async fn domain_isolation(b: Backend) {
    let app = TestServer::spawn(b).await;
    let (_, alice) = app.user("alice").await;
    let (bob_id, bob) = app.user("bobby").await;
    let d = app.domain(&alice, "alice-d").await;
    let c = app.client(&alice, &d, "a-dev").await;
    let cid = c["id"].as_str().unwrap();
    // Bob sees nothing and can change nothing.
    assert_eq!(app.get(&format!("/domains/{d}"), &bob).await.status, 403);
    assert_eq!(app.get("/domains", &bob).await.body["total"], 0);
    assert_eq!(
        app.req(
            Method::PATCH,
            &format!("/domains/{d}"),
            Some(&bob),
            Some(json!({"name": "mine"}))
        )
        .await
        .status,
        403
    );
    assert_eq!(app.get(&format!("/{d}/clients"), &bob).await.status, 403);
    assert_eq!(
        app.get(&format!("/{d}/clients/{cid}"), &bob).await.status,
        403
    );
    assert_eq!(
        app.post(&format!("/{d}/clients"), &bob, json!({"name": "intruder"}))
            .await
            .status,
        403
    );
    assert_eq!(
        app.req(
            Method::DELETE,
            &format!("/{d}/clients/{cid}"),
            Some(&bob),
            None
        )
        .await
        .status,
        403
    );
    // Bob cannot invite himself, nor accept an invitation that does not exist.
    let r = app
        .post(
            &format!("/domains/{d}/invitations"),
            &bob,
            json!({"invitee_user_id": bob_id, "role_id": "member"}),
        )
        .await;
    assert_eq!(r.status, 403);
    let r = app
        .post("/invitations/accept", &bob, json!({"domain_id": d}))
        .await;
    assert_eq!(r.status, 404);
    // Alice invites Bob as a member; until he accepts he is still outside.
    let roles = app.get(&format!("/domains/{d}/roles"), &alice).await;
    let member_role = roles.body["roles"][1]["id"].as_str().unwrap().to_string();
    let r = app
        .post(
            &format!("/domains/{d}/invitations"),
            &alice,
            json!({"invitee_user_id": bob_id, "role_id": member_role}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = app
        .post(
            &format!("/domains/{d}/invitations"),
            &alice,
            json!({"invitee_user_id": bob_id, "role_id": member_role}),
        )
        .await;
    assert_eq!(r.status, 400, "no duplicate pending invitation");
    assert_eq!(app.get(&format!("/domains/{d}"), &bob).await.status, 403);
    let mine = app.get("/invitations", &bob).await;
    assert_eq!(mine.body["total"], 1);
    assert_eq!(mine.body["invitations"][0]["domain_id"], d.as_str());
    let r = app
        .post("/invitations/accept", &bob, json!({"domain_id": d}))
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = app
        .post("/invitations/accept", &bob, json!({"domain_id": d}))
        .await;
    assert_eq!(
        (r.status.as_u16(), r.msg()),
        (400, "invitation already accepted")
    );
    // Now a member: sees the domain, creates his own clients, but not Alice's.
    let v = app.get(&format!("/domains/{d}"), &bob).await;
    assert_eq!(
        (v.status.as_u16(), v.body["role_name"].as_str()),
        (200, Some("member"))
    );
    let bc = app.client(&bob, &d, "b-dev").await;
    let list = app.get(&format!("/{d}/clients"), &bob).await;
    assert_eq!(list.body["total"], 1);
    assert_eq!(list.body["clients"][0]["id"], bc["id"]);
    assert_eq!(
        app.get(&format!("/{d}/clients/{cid}"), &bob).await.status,
        404
    );
    assert_eq!(
        app.get(&format!("/{d}/clients"), &alice).await.body["total"],
        2
    );
    // Members cannot manage the domain.
    assert_eq!(
        app.req(
            Method::POST,
            &format!("/domains/{d}/disable"),
            Some(&bob),
            None
        )
        .await
        .status,
        403
    );
    // Only the super-admin freezes; a frozen domain refuses work.
    assert_eq!(
        app.req(
            Method::POST,
            &format!("/domains/{d}/freeze"),
            Some(&alice),
            None
        )
        .await
        .status,
        403
    );
    let admin = app.admin().await;
    assert_eq!(
        app.req(
            Method::POST,
            &format!("/domains/{d}/freeze"),
            Some(&admin),
            None
        )
        .await
        .status,
        200
    );
    let r = app.get(&format!("/{d}/clients"), &alice).await;
    assert_eq!(r.status, 403);
    assert_eq!(
        app.req(
            Method::POST,
            &format!("/domains/{d}/enable"),
            Some(&admin),
            None
        )
        .await
        .status,
        200
    );
    assert_eq!(app.get(&format!("/{d}/clients"), &alice).await.status, 200);
    // The super-admin sees every domain; alice sees hers and not bob's.
    let bobs = app.domain(&bob, "bob-d").await;
    let listed = |v: &serde_json::Value| -> Vec<String> {
        v["domains"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["id"].as_str().unwrap().to_string())
            .collect()
    };
    let all = listed(&app.get("/domains", &admin).await.body);
    assert!(all.contains(&d) && all.contains(&bobs), "{all:?}");
    let hers = listed(&app.get("/domains", &alice).await.body);
    assert!(hers.contains(&d) && !hers.contains(&bobs), "{hers:?}");
    app.stop().await;
}
both!(domain_isolation);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_lists_every_route() {
    let app = TestServer::spawn(Backend::Sqlite).await;
    let spec = app.req(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(spec.status, 200);
    assert!(spec.body["openapi"].as_str().unwrap().starts_with("3."));
    let paths = spec.body["paths"].as_object().unwrap();
    let table = switchyard_http_api::api();
    let description = spec.body["info"]["description"]
        .as_str()
        .unwrap()
        .to_string();
    let mut served = 0;
    for d in table.docs() {
        if d.websocket {
            assert!(description.contains(d.path), "{} not described", d.path);
        }
        let item = paths
            .get(&switchyard_http_api::openapi_path(d.path))
            .unwrap_or_else(|| panic!("{} missing from OpenAPI", d.path));
        let m = d.method.as_str().to_lowercase();
        assert!(
            item.get(&m).is_some(),
            "{} {} missing from OpenAPI",
            d.method,
            d.path
        );
        // And the router serves it: neither "page not found" nor 405.
        let path = d
            .path
            .replace("{domainID}", &uuid::Uuid::new_v4().to_string())
            .replace(['{', '}', '*'], "");
        let r = app.raw(d.method.clone(), &path, None, None, None).await;
        assert_ne!(r.status, 405, "{} {}", d.method, d.path);
        assert_ne!(r.msg(), "page not found", "{} {}", d.method, d.path);
        served += 1;
    }
    let documented: usize = paths
        .values()
        .map(|p| {
            p.as_object()
                .unwrap()
                .keys()
                .filter(|k| k.as_str() != "parameters")
                .count()
        })
        .sum();
    // The server adds MQTT over WebSocket (from another crate) to the same table.
    assert!(description.contains("/mqtt"), "{description}");
    assert!(
        paths.get("/mqtt").and_then(|p| p.get("get")).is_some(),
        "/mqtt documented"
    );
    let r = app.raw(Method::GET, "/mqtt", None, None, None).await;
    assert_ne!(r.msg(), "page not found");
    served += 1;
    assert_eq!(
        documented, served,
        "OpenAPI documents exactly the router's routes"
    );
    // Every parameter says what it takes (schemathesis cannot generate data otherwise),
    // and the published bounds are the validators' own.
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            for p in op["parameters"].as_array().into_iter().flatten() {
                assert!(
                    p.get("schema").is_some() || p.get("content").is_some(),
                    "{method} {path}: parameter {} has no schema",
                    p["name"]
                );
            }
        }
    }
    let list = &paths["/{domainID}/clients"]["get"]["parameters"];
    let param = |name: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{name} documented"))
            .clone()
    };
    // A number, or empty: the default page, as the validators read it.
    let limit = &param("limit")["schema"]["anyOf"];
    assert_eq!(limit[0]["maximum"], 100.0);
    assert_eq!(limit[0]["minimum"], 1.0);
    assert_eq!(
        limit[1],
        serde_json::json!({"type": "string", "maxLength": 0})
    );
    assert_eq!(param("domainID")["schema"]["format"], "uuid");
    let types = param("connection_type")["schema"]["enum"].clone();
    assert_eq!(types, serde_json::json!(["", "publish", "subscribe"]));
    // Security: the schemes, and each operation's (user Bearer by default, the message
    // plane's client key or Basic, none where the route is public).
    let schemes = &spec.body["components"]["securitySchemes"];
    for name in ["bearerAuth", "clientKey", "basicAuth", "agentAuth"] {
        assert!(schemes.get(name).is_some(), "{name}: {schemes}");
    }
    let security = |path: &str, method: &str| paths[path][method]["security"].clone();
    assert_eq!(
        security("/{domainID}/clients", "get"),
        serde_json::json!([{"bearerAuth": []}])
    );
    assert_eq!(
        security("/m/{domain}/c/{channel}", "post"),
        serde_json::json!([{"clientKey": []}, {"basicAuth": []}])
    );
    assert_eq!(security("/health", "get"), serde_json::json!([]));
    assert_eq!(
        security("/users", "post"),
        serde_json::json!([{}, {"bearerAuth": []}])
    );
    // Required body fields are published as required.
    let user = &spec.body["components"]["schemas"]["UserReq"]["required"];
    for f in ["first_name", "last_name", "email", "credentials"] {
        assert!(
            user.as_array().unwrap().iter().any(|v| v == f),
            "{f}: {user}"
        );
    }
    assert_eq!(app.req(Method::GET, "/docs/", None, None).await.status, 200);
    let h = app.req(Method::GET, "/health", None, None).await;
    assert_eq!(h.headers["content-type"], "application/health+json");
    assert_eq!(h.body["status"], "pass");
    assert_eq!(
        app.req(Method::POST, "/health", None, None).await.status,
        405
    );
    assert_eq!(
        app.req(Method::GET, "/metrics", None, None).await.status,
        200
    );
    app.stop().await;
}

// ---------------------------------------------------------------- clients & channels

async fn document_provisioning_flow(b: Backend) {
    let app = TestServer::spawn(b).await;
    let (uid, t) = app.user("operator").await;
    let d = app.domain(&t, "plant").await;
    // Provision Clients.
    let r = app
        .raw(
            Method::POST,
            &format!("/{d}/clients"),
            Some(&t),
            Some("application/json"),
            Some(r#"{"name":"weio"}"#.into()),
        )
        .await;
    assert_eq!(r.status, 201);
    let weio = r.body["id"].as_str().unwrap().to_string();
    assert_eq!(r.headers["location"], format!("/clients/{weio}").as_str());
    assert_eq!(r.body["domain_id"], d.as_str());
    assert_eq!(r.body["status"], "enabled");
    assert!(uuid::Uuid::parse_str(r.body["credentials"]["secret"].as_str().unwrap()).is_ok());
    // Bulk.
    let r = app.post(&format!("/{d}/clients/bulk"), &t, json!([{"name":"lightbulb"},{"name":"humidifier", "metadata": {"room": {"floor": 2}, "kind": "hvac"}, "tags": ["a", "b"]}])).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["total"], 2);
    let humid = r.body["clients"][1]["id"].as_str().unwrap().to_string();
    // Retrieve.
    let r = app.get(&format!("/{d}/clients"), &t).await;
    assert_eq!(
        (r.body["total"].as_u64(), r.body["limit"].as_u64()),
        (Some(3), Some(10))
    );
    let r = app
        .get(&format!("/{d}/clients?offset=0&limit=5&name=HUMID"), &t)
        .await;
    assert_eq!(r.body["total"], 1);
    assert_eq!(r.body["clients"][0]["id"], humid.as_str());
    let r = app
        .get(
            &format!("/{d}/clients?metadata=%7B%22room%22%3A%7B%22floor%22%3A2%7D%7D"),
            &t,
        )
        .await;
    assert_eq!(r.body["total"], 1, "{}", r.text);
    let r = app.get(&format!("/{d}/clients?tags=a%2Bb"), &t).await;
    assert_eq!(r.body["total"], 1);
    let r = app.get(&format!("/{d}/clients?tags=a,zzz"), &t).await;
    assert_eq!(r.body["total"], 1);
    let r = app.get(&format!("/{d}/clients?only_total=true"), &t).await;
    assert_eq!(r.body["total"], 3);
    assert!(r.body.get("clients").is_none());
    // Disable / enable.
    let r = app
        .req(
            Method::POST,
            &format!("/{d}/clients/{humid}/disable"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["status"], "disabled");
    assert_eq!(r.body["credentials"], json!({}));
    assert_eq!(r.body["updated_by"], uid.as_str());
    assert_ne!(r.body["updated_at"], "0001-01-01T00:00:00Z");
    let r = app
        .req(
            Method::POST,
            &format!("/{d}/clients/{humid}/disable"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.msg()),
        (422, "status already assigned")
    );
    assert_eq!(app.get(&format!("/{d}/clients"), &t).await.body["total"], 2);
    assert_eq!(
        app.get(&format!("/{d}/clients?status=disabled"), &t)
            .await
            .body["total"],
        1
    );
    assert_eq!(
        app.get(&format!("/{d}/clients?status=all"), &t).await.body["total"],
        3
    );
    let r = app
        .req(
            Method::POST,
            &format!("/{d}/clients/{humid}/enable"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.body["status"].as_str()),
        (200, Some("enabled"))
    );
    // Channels.
    let r = app
        .raw(
            Method::POST,
            &format!("/{d}/channels"),
            Some(&t),
            Some("application/json"),
            Some(r#"{"name":"mychan"}"#.into()),
        )
        .await;
    assert_eq!(r.status, 201);
    let ch = r.body["id"].as_str().unwrap().to_string();
    assert_eq!(r.headers["location"], format!("/channels/{ch}").as_str());
    let r = app
        .post(
            &format!("/{d}/channels/bulk"),
            &t,
            json!([{"name":"switch1"},{"name":"truck2"}]),
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.body["total"].as_u64()),
        (200, Some(2))
    );
    let ch2 = r.body["channels"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(
        app.get(&format!("/{d}/channels?offset=0&limit=5"), &t)
            .await
            .body["total"],
        3
    );
    let r = app
        .req(
            Method::POST,
            &format!("/{d}/channels/{ch2}/disable"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(r.body["status"], "disabled");
    let r = app
        .req(
            Method::POST,
            &format!("/{d}/channels/{ch2}/enable"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(r.body["status"], "enabled");
    // Access control: PUT is 405 Allow: POST; POST connects.
    let body = format!(r#"{{"client_ids": ["{weio}"], "types": ["publish"]}}"#);
    let r = app
        .raw(
            Method::PUT,
            &format!("/{d}/channels/{ch}/connect"),
            Some(&t),
            None,
            Some(body.clone()),
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.headers["allow"].to_str().unwrap()),
        (405, "POST")
    );
    let r = app
        .raw(
            Method::POST,
            &format!("/{d}/channels/{ch}/connect"),
            Some(&t),
            Some("application/json"),
            Some(body.clone()),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    // Idempotent.
    let r = app
        .raw(
            Method::POST,
            &format!("/{d}/channels/{ch}/connect"),
            Some(&t),
            Some("application/json"),
            Some(body.clone()),
        )
        .await;
    assert_eq!(r.status, 201);
    let r = app.get(&format!("/{d}/channels/{ch}/clients"), &t).await;
    assert_eq!(r.body["total"], 1);
    assert_eq!(r.body["clients"][0]["id"], weio.as_str());
    let r = app.get(&format!("/clients/{weio}/channels"), &t).await;
    assert_eq!(r.body["total"], 1);
    assert_eq!(r.body["channels"][0]["id"], ch.as_str());
    assert_eq!(
        app.get(&format!("/{d}/clients/{weio}/channels"), &t)
            .await
            .body["total"],
        1
    );
    assert_eq!(
        app.get(
            &format!("/{d}/clients?channel={ch}&connection_type=publish"),
            &t
        )
        .await
        .body["total"],
        1
    );
    assert_eq!(
        app.get(
            &format!("/{d}/clients?channel={ch}&connection_type=subscribe"),
            &t
        )
        .await
        .body["total"],
        0
    );
    assert_eq!(
        app.get(&format!("/{d}/channels?client={weio}"), &t)
            .await
            .body["total"],
        1
    );
    // The document's DELETE .../disconnect (curl sends no JSON content type).
    let r = app
        .raw(
            Method::DELETE,
            &format!("/{d}/channels/{ch}/disconnect"),
            Some(&t),
            Some("application/x-www-form-urlencoded"),
            Some(body),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(
        app.get(&format!("/{d}/channels/{ch}/clients"), &t)
            .await
            .body["total"],
        0
    );
    // Cross-product connect, then deleting a client removes its connections.
    let r = app.post(&format!("/{d}/channels/connect"), &t, json!({"channel_ids": [ch, ch2], "client_ids": [weio, humid], "types": ["Publish", "SUBSCRIBE"]})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        app.get(&format!("/{d}/clients?channel={ch2}"), &t)
            .await
            .body["total"],
        2
    );
    let r = app
        .post(
            &format!("/{d}/channels/connect"),
            &t,
            json!({"channel_ids": [ch], "client_ids": [weio]}),
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.msg()),
        (400, "missing connection type")
    );
    let r = app
        .post(
            &format!("/{d}/channels/connect"),
            &t,
            json!({"channel_ids": [ch], "client_ids": [], "types": ["publish"]}),
        )
        .await;
    assert_eq!((r.status.as_u16(), r.msg()), (400, "missing entity id"));
    assert_eq!(
        app.req(
            Method::DELETE,
            &format!("/{d}/clients/{humid}"),
            Some(&t),
            None
        )
        .await
        .status,
        204
    );
    assert_eq!(
        app.get(&format!("/{d}/clients?channel={ch2}"), &t)
            .await
            .body["total"],
        1
    );
    assert_eq!(
        app.get(&format!("/{d}/clients/{humid}"), &t).await.status,
        404
    );
    let r = app
        .post(
            &format!("/{d}/channels/disconnect"),
            &t,
            json!({"channel_ids": [ch2], "client_ids": [weio], "types": ["publish", "subscribe"]}),
        )
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(
        app.get(&format!("/{d}/clients?channel={ch2}"), &t)
            .await
            .body["total"],
        0
    );
    // Update, tags, secret.
    let r = app
        .req(
            Method::PATCH,
            &format!("/{d}/clients/{weio}"),
            Some(&t),
            Some(json!({"name": "weio-2", "metadata": {"k": 1}})),
        )
        .await;
    assert_eq!(
        (r.body["name"].as_str(), r.body["metadata"]["k"].as_i64()),
        (Some("weio-2"), Some(1))
    );
    let r = app
        .req(
            Method::PATCH,
            &format!("/{d}/clients/{weio}/tags"),
            Some(&t),
            Some(json!({"tags": ["x"]})),
        )
        .await;
    assert_eq!(r.body["tags"], json!(["x"]));
    let r = app
        .req(
            Method::PATCH,
            &format!("/{d}/clients/{weio}/secret"),
            Some(&t),
            Some(json!({"secret": "new-secret"})),
        )
        .await;
    assert_eq!(r.body["credentials"]["secret"], "new-secret");
    let r = app
        .req(
            Method::PATCH,
            &format!("/{d}/channels/{ch}"),
            Some(&t),
            Some(json!({"name": "renamed"})),
        )
        .await;
    assert_eq!(r.body["name"], "renamed");
    assert_eq!(
        app.req(
            Method::DELETE,
            &format!("/{d}/channels/{ch}"),
            Some(&t),
            None
        )
        .await
        .status,
        204
    );
    assert_eq!(
        app.get(&format!("/{d}/channels/{ch}"), &t).await.status,
        404
    );
    app.stop().await;
}
both!(document_provisioning_flow);

async fn bulk_is_atomic(b: Backend) {
    let app = TestServer::spawn_with(b, |s| {
        s.bulk_max = 10_000;
        s.max_body_bytes = 16 * 1024 * 1024;
    })
    .await;
    let (_, t) = app.user("bulker").await;
    let d = app.domain(&t, "bulk").await;
    // 1,000 items whose last is invalid: none created, the index is named.
    let mut items: Vec<_> = (0..1000)
        .map(|i| json!({"name": format!("dev-{i}")}))
        .collect();
    items[999] = json!({"name": "x".repeat(2000)});
    let r = app
        .post(&format!("/{d}/clients/bulk"), &t, json!(items))
        .await;
    assert_eq!(r.status, 400);
    assert!(r.msg().contains("999"), "{}", r.msg());
    assert_eq!(
        app.get(&format!("/{d}/clients?status=all"), &t).await.body["total"],
        0
    );
    // A secret taken by an existing client, in the last item: none created.
    app.post(
        &format!("/{d}/clients"),
        &t,
        json!({"credentials": {"secret": "taken"}}),
    )
    .await;
    let mut items: Vec<_> = (0..1000)
        .map(|i| json!({"name": format!("dev-{i}")}))
        .collect();
    items[999] = json!({"credentials": {"secret": "taken"}});
    let r = app
        .post(&format!("/{d}/clients/bulk"), &t, json!(items))
        .await;
    assert_eq!(r.status, 400);
    assert!(
        r.msg().starts_with("client key is not available"),
        "{}",
        r.msg()
    );
    assert!(r.msg().contains("999"), "{}", r.msg());
    assert_eq!(
        app.get(&format!("/{d}/clients?status=all"), &t).await.body["total"],
        1
    );
    // 10,000 valid clients in one request.
    let items: Vec<_> = (0..10_000)
        .map(|i| json!({"name": format!("fleet-{i}"), "metadata": {"n": i}}))
        .collect();
    let r = app
        .post(&format!("/{d}/clients/bulk"), &t, json!(items))
        .await;
    assert_eq!(r.status, 200, "{}", &r.text[..r.text.len().min(300)]);
    assert_eq!(r.body["total"], 10_000);
    assert_eq!(
        app.get(&format!("/{d}/clients?only_total=1"), &t)
            .await
            .body["total"],
        10_001
    );
    // Over the cap: 413.
    let items: Vec<_> = (0..10_001).map(|_| json!({})).collect();
    let r = app
        .post(&format!("/{d}/clients/bulk"), &t, json!(items))
        .await;
    assert_eq!(r.status, 413);
    app.stop().await;
}
both!(bulk_is_atomic);

/// (who, what, method, path, body, expected status)
type AuthzRow = (
    &'static str,
    &'static str,
    Method,
    String,
    Option<serde_json::Value>,
    u16,
);

/// (role, action) table over every client/channel endpoint, plus foreign-user and
/// foreign-domain ids.
async fn authorization_table(b: Backend) {
    let app = TestServer::spawn(b).await;
    let (_, owner) = app.user("owner").await;
    let (mid, member) = app.user("member").await;
    let (_, outsider) = app.user("outsider").await;
    let admin = app.admin().await;
    let d = app.domain(&owner, "authz").await;
    let other_d = app.domain(&outsider, "elsewhere").await;
    app.join(&owner, &d, &mid, &member).await;
    let oc = app.client(&owner, &d, "owner-client").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let och = app.channel(&owner, &d, "owner-chan").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mc = app.client(&member, &d, "member-client").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mch = app.channel(&member, &d, "member-chan").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let foreign_c = app.client(&outsider, &other_d, "foreign").await["id"]
        .as_str()
        .unwrap()
        .to_string();

    // (who, method, path, body, expected status)
    let conn =
        |ch: &str, cl: &str| json!({"channel_ids": [ch], "client_ids": [cl], "types": ["publish"]});
    let rows: Vec<AuthzRow> = vec![
        (
            "member",
            "view own client",
            Method::GET,
            format!("/{d}/clients/{mc}"),
            None,
            200,
        ),
        (
            "member",
            "view owner's client",
            Method::GET,
            format!("/{d}/clients/{oc}"),
            None,
            404,
        ),
        (
            "member",
            "update owner's client",
            Method::PATCH,
            format!("/{d}/clients/{oc}"),
            Some(json!({"name": "x"})),
            404,
        ),
        (
            "member",
            "disable owner's client",
            Method::POST,
            format!("/{d}/clients/{oc}/disable"),
            None,
            404,
        ),
        (
            "member",
            "delete owner's channel",
            Method::DELETE,
            format!("/{d}/channels/{och}"),
            None,
            404,
        ),
        (
            "member",
            "connect own to own",
            Method::POST,
            format!("/{d}/channels/connect"),
            Some(conn(&mch, &mc)),
            201,
        ),
        (
            "member",
            "connect own client to owner's channel",
            Method::POST,
            format!("/{d}/channels/connect"),
            Some(conn(&och, &mc)),
            404,
        ),
        (
            "member",
            "connect a foreign-domain client",
            Method::POST,
            format!("/{d}/channels/connect"),
            Some(conn(&mch, &foreign_c)),
            404,
        ),
        (
            "owner",
            "view member's client (domain admin)",
            Method::GET,
            format!("/{d}/clients/{mc}"),
            None,
            200,
        ),
        (
            "owner",
            "connect member's client to own channel",
            Method::POST,
            format!("/{d}/channels/connect"),
            Some(conn(&och, &mc)),
            201,
        ),
        (
            "owner",
            "view a foreign-domain client through own domain",
            Method::GET,
            format!("/{d}/clients/{foreign_c}"),
            None,
            404,
        ),
        (
            "outsider",
            "list the domain",
            Method::GET,
            format!("/{d}/clients"),
            None,
            403,
        ),
        (
            "outsider",
            "view",
            Method::GET,
            format!("/{d}/clients/{oc}"),
            None,
            403,
        ),
        (
            "outsider",
            "update",
            Method::PATCH,
            format!("/{d}/channels/{och}"),
            Some(json!({"name": "x"})),
            403,
        ),
        (
            "outsider",
            "connect",
            Method::POST,
            format!("/{d}/channels/connect"),
            Some(conn(&och, &oc)),
            403,
        ),
        (
            "outsider",
            "document route for the client's channels (as for an unknown id: no oracle)",
            Method::GET,
            format!("/clients/{oc}/channels"),
            None,
            404,
        ),
        (
            "outsider",
            "document route for an unknown client",
            Method::GET,
            format!("/clients/{}/channels", uuid::Uuid::new_v4()),
            None,
            404,
        ),
        (
            "admin",
            "super-admin views any client",
            Method::GET,
            format!("/{d}/clients/{mc}"),
            None,
            200,
        ),
        (
            "admin",
            "super-admin deletes any channel",
            Method::DELETE,
            format!("/{d}/channels/{mch}"),
            None,
            204,
        ),
    ];
    for (who, what, m, path, body, want) in rows {
        let t = match who {
            "owner" => &owner,
            "member" => &member,
            "outsider" => &outsider,
            _ => &admin,
        };
        let r = app.req(m, &path, Some(t), body).await;
        assert_eq!(r.status.as_u16(), want, "{who}: {what}: {}", r.text);
    }
    // Lists never leak: the member's list holds only the member's entities, with any filter.
    let r = app.get(&format!("/{d}/clients?name=owner"), &member).await;
    assert_eq!(r.body["total"], 0);
    let r = app
        .get(&format!("/{d}/clients?channel={och}"), &member)
        .await;
    // Only the member's own client (connected by the owner above) shows; never the owner's.
    assert_eq!(
        (r.status.as_u16(), r.body["total"].as_u64()),
        (200, Some(1)),
        "{}",
        r.text
    );
    assert_eq!(r.body["clients"][0]["id"], mc.as_str());
    app.stop().await;
}
both!(authorization_table);

// ---------------------------------------------------------------- provision & bootstrap

const DOC_LAYOUT: &str = include_str!("../../../docs/examples/provision.toml");

async fn provision_and_bootstrap(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("config.toml");
    std::fs::write(&layout, DOC_LAYOUT).unwrap();
    let lp = layout.to_str().unwrap().to_string();
    let app = TestServer::spawn_with(b, move |s| s.provision_config_file = lp).await;
    let (_, t) = app.user("gwop").await;
    let d = app.domain(&t, "edge").await;
    // The document's call: POST /mapping with the token, domain = the caller's only one.
    let r = app
        .post(
            "/mapping",
            &t,
            json!({"name": "edge-gw", "external_id": "gateway", "external_key": "external_key"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let clients = r.body["clients"].as_array().unwrap();
    let channels = r.body["channels"].as_array().unwrap();
    assert_eq!((clients.len(), channels.len()), (1, 3));
    let gw = clients[0]["id"].as_str().unwrap().to_string();
    assert_eq!(clients[0]["metadata"]["external_id"], "gateway");
    assert_eq!(channels[0]["name"], "edge-gw_control-channel");
    assert_eq!(r.body["whitelisted"][&gw], true);
    // The gateway fetches its config.
    let f = app
        .http
        .get(format!("{}/clients/bootstrap/gateway", app.url))
        .header("Authorization", "Client external_key")
        .send()
        .await
        .unwrap();
    assert_eq!(f.status(), 200);
    let f: serde_json::Value = f.json().await.unwrap();
    assert_eq!(f["client_id"], gw.as_str());
    assert_eq!(f["client_secret"], clients[0]["credentials"]["secret"]);
    assert_eq!(f["channels"].as_array().unwrap().len(), 3);
    let content: serde_json::Value = serde_json::from_str(f["content"].as_str().unwrap()).unwrap();
    assert_eq!(content["agent"]["mqtt"]["url"], "localhost:1883");
    // Wrong key 403, unknown id 404, no key 401.
    let get = |ext: &str, key: Option<&str>| {
        let mut rq = app.http.get(format!("{}/clients/bootstrap/{ext}", app.url));
        if let Some(k) = key {
            rq = rq.header("Authorization", format!("Client {k}"));
        }
        rq.send()
    };
    assert_eq!(get("gateway", Some("wrong")).await.unwrap().status(), 403);
    assert_eq!(
        get("nope", Some("external_key")).await.unwrap().status(),
        404
    );
    assert_eq!(get("gateway", None).await.unwrap().status(), 401);
    // Connected to the layout channels, visible through the listings.
    let r = app
        .get(
            &format!("/{d}/channels?client={gw}&connection_type=publish"),
            &t,
        )
        .await;
    assert_eq!(r.body["total"], 3);
    let r = app
        .get(
            &format!("/{d}/channels?client={gw}&connection_type=subscribe"),
            &t,
        )
        .await;
    assert_eq!(r.body["total"], 3);
    let c = app.get(&format!("/{d}/clients/{gw}"), &t).await;
    assert_eq!(c.body["metadata"]["type"], "gateway");
    assert_eq!(c.body["metadata"]["ctrl_channel_id"], channels[0]["id"]);
    // The same external id again: a clear conflict, nothing new created.
    let r = app
        .post(
            &format!("/{d}/mapping"),
            &t,
            json!({"name": "edge-gw", "external_id": "gateway", "external_key": "k2"}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.msg().contains("external_id"), "{}", r.msg());
    assert_eq!(app.get(&format!("/{d}/clients"), &t).await.body["total"], 1);
    assert_eq!(
        app.get(&format!("/{d}/channels"), &t).await.body["total"],
        3
    );
    // Missing fields, no credentials.
    let r = app
        .post(&format!("/{d}/mapping"), &t, json!({"external_key": "k"}))
        .await;
    assert_eq!((r.status.as_u16(), r.msg()), (400, "missing entity id"));
    let r = app
        .post(&format!("/{d}/mapping"), &t, json!({"external_id": "x"}))
        .await;
    assert_eq!(r.status, 401);
    let r = app
        .req(
            Method::POST,
            "/mapping",
            None,
            Some(json!({"external_id": "x", "external_key": "k"})),
        )
        .await;
    assert_eq!(r.status, 401);
    // GET /{d}/mapping: the layout's content.
    let r = app.get(&format!("/{d}/mapping"), &t).await;
    assert_eq!(r.body["agent"]["mqtt"]["qos"], 0);
    app.stop().await;
}
both!(provision_and_bootstrap);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_mappings_one_gateway_per_external_id() {
    let app = TestServer::spawn_with(Backend::Sqlite, |s| {
        s.provision_username = "admin".into();
        s.provision_password = switchyard_testkit::ADMIN_PASSWORD.into();
        s.device_rate_limit = 0.0;
    })
    .await;
    let admin = app.admin().await;
    let d = app.domain(&admin, "fleet").await;
    let calls = (0..100).map(|i| {
        let app = &app;
        let d = d.clone();
        async move {
            // Header-less: the configured username/password is used.
            app.req(Method::POST, &format!("/{d}/mapping"), None, Some(json!({"name": format!("gw{i}"), "external_id": format!("ext-{i}"), "external_key": "k"})))
                .await
                .status
                .as_u16()
        }
    });
    let st = futures::future::join_all(calls).await;
    assert!(st.iter().all(|s| *s == 201), "{st:?}");
    let same = (0..10).map(|_| {
        let app = &app;
        let d = d.clone();
        async move {
            app.req(
                Method::POST,
                &format!("/{d}/mapping"),
                None,
                Some(json!({"name": "dup", "external_id": "shared", "external_key": "k"})),
            )
            .await
            .status
            .as_u16()
        }
    });
    let st = futures::future::join_all(same).await;
    assert_eq!(st.iter().filter(|s| **s == 201).count(), 1, "{st:?}");
    assert_eq!(
        app.get(&format!("/{d}/clients?name=dup"), &admin)
            .await
            .body["total"],
        1
    );
    app.stop().await;
}

async fn bootstrap_configs(b: Backend) {
    let app = TestServer::spawn_with(b, |s| {
        s.bootstrap_encrypt_key = "v7aT0HGxJxt2gULzr3RHwf4WIf6DusPp".into()
    })
    .await;
    let (_, t) = app.user("bsop").await;
    let (_, other) = app.user("bsother").await;
    app.domain(&other, "bsother").await;
    let d = app.domain(&t, "bs").await;
    let ch1 = app.channel(&t, &d, "c1").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let ch2 = app.channel(&t, &d, "c2").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let base = format!("/{d}/clients/configs");
    // Without a client: one is created with the config.
    let r = app
        .post(&base, &t, json!({"external_id": "ext-1", "external_key": "key-1", "channels": [ch1], "name": "gw1", "content": "{\"a\":1}"}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let loc = r.headers["location"].to_str().unwrap().to_string();
    let cid = loc.strip_prefix("/clients/configs/").unwrap().to_string();
    assert!(
        app.get(&format!("/{d}/clients/{cid}"), &t).await.body["name"]
            .as_str()
            .unwrap()
            .starts_with("Bootstrapped Client")
    );
    // With an existing client.
    let existing = app.client(&t, &d, "dev").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = app
        .post(&base, &t, json!({"client_id": existing, "external_id": "ext-2", "external_key": "key-2", "channels": [ch1, ch2]}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    // Errors.
    let cases = [
        (
            json!({"external_key": "k", "channels": [ch1]}),
            400,
            "missing entity id",
        ),
        (
            json!({"external_id": "x", "channels": [ch1]}),
            401,
            "missing or invalid bearer entity key",
        ),
        (
            json!({"external_id": "x", "external_key": "k", "channels": []}),
            400,
            "empty list provided",
        ),
        (
            json!({"external_id": "x", "external_key": "k", "channels": [uuid::Uuid::new_v4()]}),
            400,
            "malformed entity specification",
        ),
        (
            json!({"external_id": "ext-1", "external_key": "k", "channels": [ch1]}),
            422,
            "failed to add bootstrap configuration",
        ),
    ];
    for (body, st, msg) in cases {
        let r = app.post(&base, &t, body).await;
        assert_eq!((r.status.as_u16(), r.msg()), (st, msg), "{}", r.text);
    }
    assert_eq!(app.get(&base, &other).await.status, 403);
    // View and list.
    let v = app.get(&format!("{base}/{cid}"), &t).await;
    assert_eq!(v.status, 200);
    assert_eq!(v.body["external_id"], "ext-1");
    assert_eq!(v.body["channels"][0]["name"], "c1");
    assert_eq!(v.body["state"], 0);
    assert!(!v.body["client_secret"].as_str().unwrap().is_empty());
    let l = app.get(&format!("{base}?external_id=ext-2"), &t).await;
    assert_eq!(l.body["total"], 1);
    assert_eq!(
        app.get(&format!("{base}?name=GW"), &t).await.body["total"],
        1
    );
    assert_eq!(app.get(&base, &t).await.body["total"], 2);
    // Update, certs, channels.
    let r = app
        .req(
            Method::PUT,
            &format!("{base}/{cid}"),
            Some(&t),
            Some(json!({"name": "gw1b", "content": "new"})),
        )
        .await;
    assert_eq!(r.status, 200);
    let r = app
        .req(
            Method::PATCH,
            &format!("{base}/certs/{cid}"),
            Some(&t),
            Some(json!({"client_cert": "CERT", "client_key": "KEY", "ca_cert": "CA"})),
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.body["client_cert"].as_str()),
        (200, Some("CERT"))
    );
    // Whitelist: connects to every config channel, publish and subscribe.
    let r = app
        .req(
            Method::PUT,
            &format!("/{d}/clients/state/{cid}"),
            Some(&t),
            Some(json!({"state": 1.0})),
        )
        .await;
    assert_eq!(r.status, 200, "1.0 is the JSON number 1: {}", r.text);
    assert_eq!(
        app.get(
            &format!("/{d}/channels?client={cid}&connection_type=subscribe"),
            &t
        )
        .await
        .body["total"],
        1
    );
    // Active config: changing its channels moves the connections.
    let r = app
        .req(
            Method::PUT,
            &format!("{base}/connections/{cid}"),
            Some(&t),
            Some(json!({"channels": [ch2]})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app
        .get(
            &format!("/{d}/channels?client={cid}&connection_type=publish"),
            &t,
        )
        .await;
    assert_eq!(
        (
            r.body["total"].as_u64(),
            r.body["channels"][0]["id"].as_str()
        ),
        (Some(1), Some(ch2.as_str()))
    );
    let r = app
        .req(
            Method::PUT,
            &format!("/{d}/clients/state/{cid}"),
            Some(&t),
            Some(json!({"state": 7})),
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.msg()),
        (400, "invalid bootstrap state")
    );
    let r = app
        .req(
            Method::PUT,
            &format!("/{d}/clients/state/{cid}"),
            Some(&t),
            Some(json!({"state": 0})),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        app.get(&format!("/{d}/channels?client={cid}"), &t)
            .await
            .body["total"],
        0
    );
    // The device fetch sees the new name, content and certs; a renamed channel shows its new name.
    app.req(
        Method::PATCH,
        &format!("/{d}/channels/{ch2}"),
        Some(&t),
        Some(json!({"name": "renamed"})),
    )
    .await;
    let f = app
        .http
        .get(format!("{}/clients/bootstrap/ext-1", app.url))
        .header("Authorization", "Client key-1")
        .send()
        .await
        .unwrap();
    assert_eq!(f.status(), 200);
    let f: serde_json::Value = f.json().await.unwrap();
    assert_eq!(
        (f["content"].as_str(), f["client_cert"].as_str()),
        (Some("new"), Some("CERT"))
    );
    assert_eq!(f["channels"][0]["name"], "renamed");
    // The Agent's encrypted fetch, with a client written independently of the server.
    let key = b"v7aT0HGxJxt2gULzr3RHwf4WIf6DusPp";
    let enc_key = agent_encrypt(key, b"key-1");
    let r = app
        .http
        .get(format!("{}/clients/bootstrap/secure/ext-1", app.url))
        .header("Authorization", format!("Client {enc_key}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/octet-stream");
    let body = r.bytes().await.unwrap();
    let plain: serde_json::Value = serde_json::from_slice(&agent_decrypt(key, &body)).unwrap();
    assert_eq!(plain["client_id"], cid.as_str());
    let r = app
        .http
        .get(format!("{}/clients/bootstrap/secure/ext-1", app.url))
        .header(
            "Authorization",
            format!("Client {}", agent_encrypt(key, b"wrong")),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = app
        .http
        .get(format!("{}/clients/bootstrap/secure/ext-1", app.url))
        .header("Authorization", "Client zz")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // Deleting the client takes the config with it.
    assert_eq!(
        app.req(
            Method::DELETE,
            &format!("/{d}/clients/{existing}"),
            Some(&t),
            None
        )
        .await
        .status,
        204
    );
    assert_eq!(
        app.get(&format!("{base}?external_id=ext-2"), &t).await.body["total"],
        0
    );
    assert_eq!(
        app.req(Method::DELETE, &format!("{base}/{cid}"), Some(&t), None)
            .await
            .status,
        204
    );
    assert_eq!(app.get(&format!("{base}/{cid}"), &t).await.status, 404);
    app.stop().await;
}
both!(bootstrap_configs);

/// The Agent's scheme: hex(IV ‖ AES-CFB(plain)).
fn agent_encrypt(key: &[u8; 32], plain: &[u8]) -> String {
    use cfb_mode::cipher::{AsyncStreamCipher, KeyIvInit};
    let iv: [u8; 16] = *uuid::Uuid::new_v4().as_bytes();
    let mut buf = plain.to_vec();
    cfb_mode::Encryptor::<aes::Aes256>::new(key.into(), &iv.into()).encrypt(&mut buf);
    let mut all = iv.to_vec();
    all.extend_from_slice(&buf);
    all.iter().map(|b| format!("{b:02x}")).collect()
}

fn agent_decrypt(key: &[u8; 32], data: &[u8]) -> Vec<u8> {
    use cfb_mode::cipher::{AsyncStreamCipher, KeyIvInit};
    let (iv, body) = data.split_at(16);
    let mut buf = body.to_vec();
    cfb_mode::Decryptor::<aes::Aes256>::new(key.into(), iv.into()).decrypt(&mut buf);
    buf
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_endpoints_are_rate_limited() {
    let app = TestServer::spawn_with(Backend::Sqlite, |s| s.device_rate_limit = 1.0).await;
    let mut statuses = Vec::new();
    let mut retry = None;
    for _ in 0..4 {
        let r = app
            .http
            .get(format!("{}/clients/bootstrap/nope", app.url))
            .header("Authorization", "Client k")
            .send()
            .await
            .unwrap();
        if r.status() == 429 {
            retry = r
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_string());
        }
        statuses.push(r.status().as_u16());
    }
    assert_eq!(&statuses[..2], &[404, 404]);
    assert_eq!(statuses[3], 429);
    assert_eq!(retry.as_deref(), Some("1"));
    // `/mapping` too, whatever the credentials (a flood creates nothing).
    let mut mapped = Vec::new();
    for i in 0..4 {
        let r = app
            .post(
                "/mapping",
                "not-a-token",
                json!({"name": "gw", "external_id": format!("e{i}"), "external_key": "k"}),
            )
            .await;
        mapped.push(r.status.as_u16());
    }
    assert_eq!(mapped[0], 401);
    assert_eq!(mapped[3], 429, "{mapped:?}");
    app.stop().await;
}

/// A login flood is bounded: with one hashing worker and no queue, concurrent
/// wrong-password logins beyond the one running are refused at once with 503 and
/// Retry-After, `/health` keeps answering, and the right password works afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_flood_is_refused_not_queued() {
    let app = TestServer::spawn_with(Backend::Sqlite, |s| {
        s.password_workers = 1;
        s.password_queue = 0;
        s.login_failures_per_minute = 0.0;
    })
    .await;
    app.register("flooded").await;
    let attempts: Vec<_> = (0..64)
        .map(|i| {
            let (http, url) = (app.http.clone(), app.url.clone());
            tokio::spawn(async move {
                let r = http
                    .post(format!("{url}/users/tokens/issue"))
                    .json(&json!({"username": "flooded", "password": format!("wrong-{i}")}))
                    .send()
                    .await
                    .unwrap();
                let retry = r.headers().get("retry-after").cloned();
                (r.status().as_u16(), retry)
            })
        })
        .collect();
    let health = app.req(Method::GET, "/health", None, None).await;
    assert_eq!(health.status, 200);
    let mut busy = 0;
    for a in attempts {
        match a.await.unwrap() {
            (401, _) => {}
            (503, Some(r)) => {
                assert_eq!(r, "1");
                busy += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(busy > 0, "some attempts were refused at once");
    let (t, _) = app.login("flooded", "12345678").await;
    assert!(!t.is_empty());
    app.stop().await;
}

/// Fault injection at every step of `/mapping` (each table's insert fails in turn):
/// nothing is left behind.
async fn mapping_fault_injection(b: Backend) {
    let app = TestServer::spawn(b).await;
    let (_, t) = app.user("faulty").await;
    let d = app.domain(&t, "faulty").await;
    let tables = ["clients", "channels", "connections", "bootstrap_configs"];
    let db_url = if app.db_url.is_empty() {
        format!(
            "sqlite://{}",
            app.dir.path().join("switchyard.db").display()
        )
    } else {
        app.db_url.clone()
    };
    let counts = |url: String| async move {
        let mut out = Vec::new();
        for tb in tables {
            let n: i64 = if url.starts_with("sqlite") {
                let mut c = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
                    .await
                    .unwrap();
                sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {tb}")))
                    .fetch_one(&mut c)
                    .await
                    .unwrap()
            } else {
                let mut c = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
                    .await
                    .unwrap();
                sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {tb}")))
                    .fetch_one(&mut c)
                    .await
                    .unwrap()
            };
            out.push(n);
        }
        out
    };
    for (i, tb) in tables.iter().enumerate() {
        let before = counts(db_url.clone()).await;
        // Make this step's insert fail.
        if db_url.starts_with("sqlite") {
            let mut c = <sqlx::SqliteConnection as sqlx::Connection>::connect(&db_url)
                .await
                .unwrap();
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE TRIGGER fail_{tb} BEFORE INSERT ON {tb} BEGIN SELECT RAISE(ABORT, 'injected'); END")))
                .execute(&mut c)
                .await
                .unwrap();
        } else {
            let mut c = <sqlx::PgConnection as sqlx::Connection>::connect(&db_url)
                .await
                .unwrap();
            sqlx::query("CREATE OR REPLACE FUNCTION sy_fail() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'injected'; END $$ LANGUAGE plpgsql")
                .execute(&mut c)
                .await
                .unwrap();
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE TRIGGER fail_{tb} BEFORE INSERT ON {tb} FOR EACH ROW EXECUTE FUNCTION sy_fail()")))
                .execute(&mut c)
                .await
                .unwrap();
        }
        let r = app
            .post(
                &format!("/{d}/mapping"),
                &t,
                json!({"name": "gw", "external_id": format!("fault-{i}"), "external_key": "k"}),
            )
            .await;
        assert_eq!(r.status, 500, "step {tb}: {}", r.text);
        assert_eq!(r.msg(), "internal server error", "no internals leak");
        assert_eq!(
            counts(db_url.clone()).await,
            before,
            "step {tb} left rows behind"
        );
        // Remove the fault: the same call now succeeds.
        if db_url.starts_with("sqlite") {
            let mut c = <sqlx::SqliteConnection as sqlx::Connection>::connect(&db_url)
                .await
                .unwrap();
            sqlx::query(sqlx::AssertSqlSafe(format!("DROP TRIGGER fail_{tb}")))
                .execute(&mut c)
                .await
                .unwrap();
        } else {
            let mut c = <sqlx::PgConnection as sqlx::Connection>::connect(&db_url)
                .await
                .unwrap();
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP TRIGGER fail_{tb} ON {tb}"
            )))
            .execute(&mut c)
            .await
            .unwrap();
        }
        let r = app
            .post(
                &format!("/{d}/mapping"),
                &t,
                json!({"name": "gw", "external_id": format!("fault-{i}"), "external_key": "k"}),
            )
            .await;
        assert_eq!(r.status, 201, "after removing the {tb} fault: {}", r.text);
    }
    app.stop().await;
}
both!(mapping_fault_injection);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mapping_with_x509_issues_certificates_that_chain_and_can_be_revoked() {
    let app = TestServer::spawn_with(Backend::Sqlite, |s| s.provision_x509 = true).await;
    let (_, t) = app.user("x509").await;
    let d = app.domain(&t, "x509").await;
    let r = app
        .post(
            &format!("/{d}/mapping"),
            &t,
            json!({"name": "gw", "external_id": "x-1", "external_key": "k"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let gw = r.body["clients"][0]["id"].as_str().unwrap().to_string();
    let cert = r.body["client_cert"][&gw].as_str().unwrap().to_string();
    assert!(
        r.body["client_key"][&gw]
            .as_str()
            .unwrap()
            .contains("PRIVATE KEY")
    );
    let ca_pem = r.body["ca_cert"].as_str().unwrap().to_string();
    let info = switchyard_certs::parse_cert(&cert).unwrap();
    assert_eq!(info.common_name, gw, "names the client");
    assert_eq!(
        info.issuer_cn,
        switchyard_certs::parse_cert(&ca_pem).unwrap().common_name,
        "chains to the CA"
    );
    // The gateway's bootstrap carries the certificate.
    let f: serde_json::Value = app
        .http
        .get(format!("{}/clients/bootstrap/x-1", app.url))
        .header("Authorization", "Client k")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(f["client_cert"].as_str(), Some(cert.as_str()));
    // Revoke: the serial appears in the CRL.
    let r = app
        .req(
            Method::PATCH,
            &format!("/{d}/certs/{}/revoke", info.serial_hex),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let crl = app.req(Method::GET, "/certs/crl", None, None).await;
    use base64::Engine;
    let der = base64::engine::general_purpose::STANDARD
        .decode(crl.body["crl"].as_str().unwrap())
        .unwrap();
    use x509_parser::prelude::FromDer;
    let (_, parsed) =
        x509_parser::revocation_list::CertificateRevocationList::from_der(&der).unwrap();
    let serials: Vec<String> = parsed
        .iter_revoked_certificates()
        .map(|c| {
            c.raw_serial()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        })
        .collect();
    // The provision service's own certificate endpoint.
    let r = app
        .post(
            &format!("/{d}/cert"),
            &t,
            json!({"client_id": gw, "ttl": "24h"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(
        r.body["certificate"]
            .as_str()
            .unwrap()
            .contains("BEGIN CERTIFICATE")
    );
    let r = app
        .post(&format!("/{d}/cert"), &t, json!({"ttl": "24h"}))
        .await;
    assert_eq!((r.status.as_u16(), r.msg()), (400, "missing entity id"));
    assert!(
        serials
            .iter()
            .any(|s| s.trim_start_matches('0') == info.serial_hex.trim_start_matches('0')),
        "{serials:?} vs {}",
        info.serial_hex
    );
    app.stop().await;
}

/// With unverified users refused, no path creates entities for them: neither the
/// clients endpoint nor `/mapping`, and nothing is left behind.
async fn unverified_users_create_nothing(b: Backend) {
    let app = TestServer::spawn_with(b, |s| s.allow_unverified_user = false).await;
    let admin = app.admin().await;
    let d = app.domain(&admin, "verified-only").await;
    let (_, tok) = app.user("unverified").await;
    let r = app
        .post(&format!("/{d}/clients"), &tok, json!({"name": "dev"}))
        .await;
    assert_eq!(r.status, 401, "{}", r.text);
    assert_eq!(r.msg(), "email not verified");
    let r = app
        .post(
            &format!("/{d}/mapping"),
            &tok,
            json!({"name": "gw", "external_id": "ext-unverified", "external_key": "k"}),
        )
        .await;
    assert_eq!(r.status, 401, "{}", r.text);
    assert_eq!(r.msg(), "email not verified");
    let r = app.get(&format!("/{d}/clients"), &admin).await;
    assert_eq!(r.body["total"], 0, "{}", r.text);
    let r = app.get(&format!("/{d}/channels"), &admin).await;
    assert_eq!(r.body["total"], 0, "{}", r.text);
    app.stop().await;
}
both!(unverified_users_create_nothing);

/// Another user's e-mail, private metadata, role and status are not for search.
async fn user_search_shows_public_fields_only(b: Backend) {
    let app = TestServer::spawn(b).await;
    let (_, alice) = app.user("alice").await;
    let r = app
        .req(
            Method::POST,
            "/users",
            None,
            Some(
                json!({"first_name": "Bob", "last_name": "B", "email": "bob@example.com",
                "credentials": {"username": "bobsearch", "secret": "12345678"},
                "metadata": {"team": "edge"}, "private_metadata": {"phone": "555"}}),
            ),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let found = app.get("/users/search?username=bobsearch", &alice).await;
    assert_eq!(found.status, 200, "{}", found.text);
    let users = found.body["users"].as_array().unwrap();
    assert_eq!(users.len(), 1, "{}", found.text);
    let bob = users[0].as_object().unwrap();
    assert_eq!(bob["credentials"]["username"], "bobsearch");
    assert_eq!(bob["first_name"], "Bob");
    assert_eq!(bob["metadata"]["team"], "edge");
    for private in ["email", "private_metadata", "role", "status"] {
        assert!(
            !bob.contains_key(private),
            "{private} leaked: {}",
            found.text
        );
    }
    // The user's own profile still has them.
    let (me, _) = app.login("bobsearch", "12345678").await;
    let p = app.get("/users/profile", &me).await;
    assert_eq!(p.body["email"], "bob@example.com");
    assert_eq!(p.body["private_metadata"]["phone"], "555");
    app.stop().await;
}
both!(user_search_shows_public_fields_only);

/// The data directory is the owner's only (0700), and so are the database files (0600).
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_directory_and_database_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let app =
        TestServer::spawn_with(Backend::Sqlite, |s| s.data_dir = s.data_dir.join("data")).await;
    let (_, t) = app.user("perm").await;
    app.domain(&t, "perm").await;
    let dir = app.dir.path().join("data");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    let mut seen = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        if name.starts_with("switchyard.db") {
            assert_eq!(mode(&p), 0o600, "{name}");
            seen += 1;
        }
    }
    assert!(seen >= 2, "the database and its WAL ({seen} files)");
    app.stop().await;
}

/// Password guessing is throttled per account (and per source): after the allowed
/// failures the answer is 429 with Retry-After, even for the right password, until
/// the window refills; another account is not affected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_failures_are_throttled() {
    let app = TestServer::spawn_with(Backend::Sqlite, |s| s.login_failures_per_minute = 30.0).await;
    app.register("guessed").await;
    app.register("bystander").await;
    let login = |user: &'static str, pw: &'static str| {
        let app = &app;
        async move {
            let r = app
                .req(
                    Method::POST,
                    "/users/tokens/issue",
                    None,
                    Some(json!({"username": user, "password": pw})),
                )
                .await;
            (r.status.as_u16(), r.headers.get("retry-after").cloned())
        }
    };
    for _ in 0..30 {
        assert_eq!(login("guessed", "wrong-pass").await.0, 401);
    }
    let (st, retry) = login("guessed", "wrong-pass").await;
    assert_eq!(st, 429);
    let secs: u64 = retry.unwrap().to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&secs), "{secs}");
    assert_eq!(login("guessed", "12345678").await.0, 429, "still throttled");
    assert_eq!(login("bystander", "12345678").await.0, 201);
    // Successful logins do not count.
    for _ in 0..5 {
        assert_eq!(login("bystander", "12345678").await.0, 201);
    }
    // 30 per minute refill one every 2 s: after that the right password works.
    tokio::time::sleep(std::time::Duration::from_secs(secs)).await;
    assert_eq!(login("guessed", "12345678").await.0, 201);
    // Failed refreshes are throttled per source too (90 per minute here).
    let mut statuses = Vec::new();
    for _ in 0..91 {
        let r = app
            .req(
                Method::POST,
                "/users/tokens/refresh",
                Some("not-a-token"),
                None,
            )
            .await;
        statuses.push(r.status.as_u16());
    }
    assert!(statuses[..90].iter().all(|s| *s == 401), "{statuses:?}");
    assert_eq!(statuses[90], 429);
    app.stop().await;
}

/// Changing the password ends every session: access and refresh tokens issued before
/// it stop working at once; the new password logs in.
async fn password_change_ends_sessions(b: Backend) {
    let app = TestServer::spawn(b).await;
    app.register("rotator").await;
    let (a_access, a_refresh) = app.login("rotator", "12345678").await;
    let (b_access, b_refresh) = app.login("rotator", "12345678").await;
    assert_eq!(app.get("/users/profile", &b_access).await.status, 200);
    let r = app
        .req(
            Method::PATCH,
            "/users/secret",
            Some(&a_access),
            Some(json!({"old_secret": "12345678", "new_secret": "87654321"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    for access in [&a_access, &b_access] {
        assert_eq!(app.get("/users/profile", access).await.status, 401);
    }
    for refresh in [&a_refresh, &b_refresh] {
        let r = app
            .req(Method::POST, "/users/tokens/refresh", Some(refresh), None)
            .await;
        assert_eq!(r.status, 401, "{}", r.text);
    }
    let (fresh, _) = app.login("rotator", "87654321").await;
    assert_eq!(app.get("/users/profile", &fresh).await.status, 200);
    app.stop().await;
}
both!(password_change_ends_sessions);

/// Half-sent requests are closed after the header timeout (slowloris), and one
/// source cannot hold more connections than its cap; the server keeps answering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_hygiene() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestServer::spawn_with(Backend::Sqlite, |s| {
        s.http_header_timeout = "1s".into();
    })
    .await;
    let addr = app.url.trim_start_matches("http://").to_string();
    let closed = async |s: &mut tokio::net::TcpStream, within: std::time::Duration| {
        let mut b = [0u8; 512];
        loop {
            match tokio::time::timeout(within, s.read(&mut b)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(_)) => continue,
                Err(_) => return false,
            }
        }
    };
    let mut slow = Vec::new();
    for _ in 0..10 {
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        slow.push(s);
    }
    assert_eq!(
        app.req(Method::GET, "/health", None, None).await.status,
        200
    );
    for s in &mut slow {
        assert!(
            closed(s, std::time::Duration::from_secs(3)).await,
            "half-sent request kept open"
        );
    }
    app.stop().await;
    // Twenty idle connections fill this source's quota: the next is closed at once.
    // (A server of its own, whose header timeout cannot free a slot meanwhile.)
    let app = TestServer::spawn_with(Backend::Sqlite, |s| {
        s.http_max_connections_per_source = 20;
    })
    .await;
    let addr = app.url.trim_start_matches("http://").to_string();
    let mut held = Vec::new();
    for _ in 0..20 {
        held.push(tokio::net::TcpStream::connect(&addr).await.unwrap());
    }
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let mut over = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let _ = over
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    assert!(
        closed(&mut over, std::time::Duration::from_secs(1)).await,
        "over the cap"
    );
    drop(held);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(
        app.req(Method::GET, "/health", None, None).await.status,
        200
    );
    app.stop().await;
}

/// `limit` is bounded (1..=100) on every listing, certificates included (0 there asks
/// for the total only).
async fn limits_are_bounded(b: Backend) {
    let app = TestServer::spawn(b).await;
    let (_, t) = app.user("limits").await;
    let d = app.domain(&t, "limits").await;
    for path in [
        "/domains?limit=101".to_string(),
        "/users/search?username=x&limit=1000".to_string(),
        format!("/{d}/certs?limit=101"),
        format!("/{d}/clients?limit=101"),
    ] {
        let r = app.get(&path, &t).await;
        assert_eq!(r.status, 400, "{path}: {}", r.text);
    }
    assert_eq!(app.get("/domains?limit=100", &t).await.status, 200);
    app.stop().await;
}
both!(limits_are_bounded);

/// A bootstrap config's `client_key` (a device's private key) is sealed at rest: the
/// database holds no clear key, the gateway's fetch gets it back in clear, and so does
/// the certs update answer.
async fn bootstrap_client_key_is_sealed_at_rest(b: Backend) {
    let app = TestServer::spawn(b).await;
    let (_, t) = app.user("sealer").await;
    let d = app.domain(&t, "sealer").await;
    let ch = app.channel(&t, &d, "sealed").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    const KEY: &str = "-----BEGIN PRIVATE KEY-----\nDEVICE-KEY-MATERIAL\n-----END PRIVATE KEY-----";
    let base = format!("/{d}/clients/configs");
    let r = app
        .post(
            &base,
            &t,
            json!({"external_id": "sealed-1", "external_key": "k1", "channels": [ch],
            "client_cert": "CERT", "client_key": KEY, "ca_cert": "CA"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let cid = r.headers["location"]
        .to_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    let stored = |url: String| async move {
        let q = "SELECT client_key FROM bootstrap_configs";
        if url.starts_with("sqlite") {
            let mut c = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
                .await
                .unwrap();
            sqlx::query_scalar::<_, String>(q)
                .fetch_all(&mut c)
                .await
                .unwrap()
        } else {
            let mut c = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
                .await
                .unwrap();
            sqlx::query_scalar::<_, String>(q)
                .fetch_all(&mut c)
                .await
                .unwrap()
        }
    };
    let url = if app.db_url.is_empty() {
        format!(
            "sqlite://{}",
            app.dir.path().join("switchyard.db").display()
        )
    } else {
        app.db_url.clone()
    };
    let at_rest = stored(url.clone()).await;
    assert_eq!(at_rest.len(), 1);
    assert!(
        !at_rest[0].contains("DEVICE-KEY-MATERIAL"),
        "{}",
        at_rest[0]
    );
    let fetch = app
        .raw(
            Method::GET,
            "/clients/bootstrap/sealed-1",
            Some("unused"),
            None,
            None,
        )
        .await;
    // The fetch authenticates with `Client <external key>`, not Bearer.
    assert_eq!(fetch.status, 401);
    let fetch = app
        .http
        .get(format!("{}/clients/bootstrap/sealed-1", app.url))
        .header("Authorization", "Client k1")
        .send()
        .await
        .unwrap();
    assert_eq!(fetch.status(), 200);
    let body: serde_json::Value = fetch.json().await.unwrap();
    assert_eq!(body["client_key"], KEY);
    // Replacing the certificates: sealed again, answered in clear.
    let r = app
        .req(
            Method::PATCH,
            &format!("/{d}/clients/configs/certs/{cid}"),
            Some(&t),
            Some(json!({"client_cert": "CERT2", "client_key": "NEW-KEY", "ca_cert": "CA2"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["client_key"], "NEW-KEY");
    assert!(!stored(url).await[0].contains("NEW-KEY"));
    app.stop().await;
}
both!(bootstrap_client_key_is_sealed_at_rest);

/// `/metrics` behind a token when one is set; CORS only for configured origins.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_token_and_cors_origins() {
    let app = TestServer::spawn_with(Backend::Sqlite, |s| {
        s.metrics_token = "scrape-secret".into();
        s.cors_origins = vec!["https://console.example".into()];
    })
    .await;
    assert_eq!(
        app.req(Method::GET, "/metrics", None, None).await.status,
        401
    );
    assert_eq!(
        app.req(Method::GET, "/metrics", Some("wrong"), None)
            .await
            .status,
        401
    );
    assert_eq!(
        app.req(Method::GET, "/metrics", Some("scrape-secret"), None)
            .await
            .status,
        200
    );
    let with_origin = |origin: &'static str| {
        app.http
            .get(format!("{}/health", app.url))
            .header("Origin", origin)
            .send()
    };
    let r = with_origin("https://console.example").await.unwrap();
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://console.example"
    );
    let r = with_origin("https://evil.example").await.unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
    app.stop().await;
    // The default: same origin only, no CORS headers at all.
    let app = TestServer::spawn(Backend::Sqlite).await;
    let r = app
        .http
        .get(format!("{}/health", app.url))
        .header("Origin", "https://anywhere.example")
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
    app.stop().await;
}

/// NUL bytes and oversized external ids are refused with 400.
async fn nul_and_oversized_strings_are_refused(b: Backend) {
    let app = TestServer::spawn(b).await;
    let (_, t) = app.user("strict").await;
    let d = app.domain(&t, "strict").await;
    let r = app
        .post(
            &format!("/{d}/clients"),
            &t,
            json!({"name": "bad\u{0}name"}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    let r = app
        .post(
            &format!("/{d}/mapping"),
            &t,
            json!({"name": "gw", "external_id": "x".repeat(2048), "external_key": "k"}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(!r.msg().is_empty());
    // Every other free string field: tags, a chosen secret, a group description, a
    // session description; each refused with a message and nothing written.
    let long = "x".repeat(1025);
    for (path, body) in [
        (
            format!("/{d}/clients"),
            json!({"name": "c", "tags": [long]}),
        ),
        (
            format!("/{d}/clients"),
            json!({"name": "c", "tags": ["a\u{0}b"]}),
        ),
        (
            format!("/{d}/clients"),
            json!({"name": "c", "credentials": {"secret": long}}),
        ),
        (
            format!("/{d}/channels"),
            json!({"name": "c", "tags": [long]}),
        ),
        (
            format!("/{d}/groups"),
            json!({"name": "g", "description": long}),
        ),
        (format!("/{d}/groups"), json!({"name": "g", "tags": [long]})),
        (
            "/domains".to_string(),
            json!({"name": "n", "route": "n2", "tags": [long]}),
        ),
    ] {
        let r = app.post(&path, &t, body.clone()).await;
        assert_eq!(r.status, 400, "{path} {body}: {}", r.text);
        assert!(!r.msg().is_empty(), "{path}");
    }
    for path in ["clients", "channels", "groups"] {
        let r = app.get(&format!("/{d}/{path}"), &t).await;
        assert_eq!(r.body["total"], 0, "{path}: {}", r.text);
    }
    let c = app.client(&t, &d, "ok").await;
    let id = c["id"].as_str().unwrap();
    let r = app
        .req(
            reqwest::Method::PATCH,
            &format!("/{d}/clients/{id}/tags"),
            Some(&t),
            Some(json!({"tags": vec!["t"; 101]})),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    let r = app
        .req(
            reqwest::Method::PATCH,
            &format!("/{d}/clients/{id}/secret"),
            Some(&t),
            Some(json!({"secret": long})),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    let r = app
        .req(
            reqwest::Method::POST,
            "/users/tokens/issue",
            None,
            Some(json!({"username": "strict", "password": "12345678", "description": long})),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    app.stop().await;
}
both!(nul_and_oversized_strings_are_refused);

/// The console is served from the binary: `/console` redirects, the page and its
/// assets come with their types and a content security policy; the API it calls is the
/// public one (no extra routes in `/openapi.json`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_is_served_from_the_binary() {
    let app = TestServer::spawn(Backend::Sqlite).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = http
        .get(format!("{}/console", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 308);
    assert_eq!(r.headers()["location"], "/console/");
    for (path, ct, needle) in [
        ("/console/", "text/html", "/console/app.js"),
        ("/console/app.js", "text/javascript", "Username or email"),
        ("/console/style.css", "text/css", "nav.side"),
    ] {
        let r = http.get(format!("{}{path}", app.url)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with(ct),
            "{path}"
        );
        assert!(
            r.headers()["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("script-src 'self'"),
            "{path}"
        );
        assert!(r.text().await.unwrap().contains(needle), "{path}");
    }
    let r = http
        .get(format!("{}/console/nope.js", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let spec = app
        .http
        .get(format!("{}/openapi.json", app.url))
        .send()
        .await
        .unwrap();
    let spec: serde_json::Value = spec.json().await.unwrap();
    assert!(
        spec["paths"]
            .as_object()
            .unwrap()
            .keys()
            .all(|p| !p.starts_with("/console")),
        "console pages are not API routes"
    );
}

/// Found by schemathesis against `/openapi.json`: `GET /domains?status=freezed` (a
/// documented value) was refused, and `available-actions` answered for a domain id that
/// is not one.
async fn documented_values_are_accepted(b: Backend) {
    let app = TestServer::spawn(b).await;
    let (_, t) = app.user("docvalues").await;
    let d = app.domain(&t, "docvalues").await;
    for status in ["freezed", "enabled", "disabled", "all"] {
        let r = app.get(&format!("/domains?status={status}"), &t).await;
        assert_eq!(r.status, 200, "{status}: {}", r.text);
    }
    let r = app.get("/domains?status=bogus", &t).await;
    assert_eq!(r.status, 400, "{}", r.text);
    // An offset the stores cannot count to; the largest they can is fine.
    let r = app.get("/domains?offset=9223372036854775808", &t).await;
    assert_eq!((r.status.as_u16(), r.msg()), (400, "invalid offset"));
    let r = app.get("/domains?offset=9223372036854775807", &t).await;
    assert_eq!(r.status, 200, "{}", r.text);
    // External keys are text like any other: no NUL, at most 1,024 bytes.
    for key in ["a\u{0}b".to_string(), "k".repeat(1025)] {
        let r = app
            .post(
                &format!("/{d}/mapping"),
                &t,
                json!({"name": "gw", "external_id": "ext-nul", "external_key": key}),
            )
            .await;
        assert_eq!(r.status, 400, "{}", r.text);
    }
    let r = app
        .get(&format!("/{d}/clients/roles/available-actions"), &t)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app
        .get("/null,null/clients/roles/available-actions", &t)
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.body["message"].is_string(), "{}", r.text);
    app.stop().await;
}
both!(documented_values_are_accepted);
