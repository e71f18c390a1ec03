//! Personal access tokens: the 13 `/pats` routes, and a PAT acting within its scopes
//! and its user's own rights, on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use reqwest::Method;
use serde_json::{Value, json};
use switchyard_testkit::{Backend, Res, TestServer, both};

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

async fn send(app: &TestServer, m: Method, path: &str, tok: &str, body: Option<Value>) -> Res {
    app.req(m, path, Some(tok), body).await
}

async fn patch(app: &TestServer, path: &str, tok: &str, body: Value) -> Res {
    send(app, Method::PATCH, path, tok, Some(body)).await
}

async fn delete(app: &TestServer, path: &str, tok: &str) -> Res {
    send(app, Method::DELETE, path, tok, None).await
}

/// Creates a PAT; (id, secret).
async fn pat(app: &TestServer, tok: &str, name: &str, duration: &str) -> (String, String) {
    let r = app
        .post(
            "/pats",
            tok,
            json!({"name": name, "description": "for CI", "duration": duration}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let secret = s(&r.body["secret"]);
    assert!(secret.starts_with("pat_"), "{}", r.text);
    assert_eq!(r.body["status"], "active", "{}", r.text);
    (s(&r.body["id"]), secret)
}

async fn add_scopes(app: &TestServer, tok: &str, id: &str, scopes: Value) -> Res {
    patch(
        app,
        &format!("/pats/{id}/scope/add"),
        tok,
        json!({"scopes": scopes}),
    )
    .await
}

fn names(r: &Res, key: &str) -> Vec<String> {
    let mut v: Vec<String> = r.body[key]
        .as_array()
        .map(|a| a.iter().map(|x| s(&x["name"])).collect())
        .unwrap_or_default();
    v.sort();
    v
}

async fn story(b: Backend) {
    let app = TestServer::spawn(b).await;
    let (_alice_id, alice) = app.user("alice").await;
    let (bob_id, bob) = app.user("bob").await;
    let d = app.domain(&alice, "acme").await;
    let other = app.domain(&alice, "other").await;
    app.join(&alice, &d, &bob_id, &bob).await;
    let c1 = s(&app.client(&alice, &d, "pump").await["id"]);
    let c2 = s(&app.client(&alice, &d, "valve").await["id"]);
    app.client(&alice, &other, "elsewhere").await;

    // Create, and bad input.
    let (pid, secret) = pat(&app, &alice, "reader", "30d").await;
    for (body, why) in [
        (json!({"name": "x", "duration": "soon"}), "bad duration"),
        (json!({"name": "x"}), "no duration"),
        (json!({"name": "", "duration": "1d"}), "no name"),
        (json!({"name": "x\u{0}y", "duration": "1d"}), "NUL in name"),
    ] {
        let r = app.post("/pats", &alice, body).await;
        assert_eq!(r.status, 400, "{why}: {}", r.text);
        assert!(r.body["message"].is_string(), "{why}: {}", r.text);
    }

    // Without scopes a PAT can do nothing.
    let r = app.get(&format!("/{d}/clients"), &secret).await;
    assert_eq!(r.status, 403, "{}", r.text);

    // Scoped to reading and listing the clients of one domain.
    let r = add_scopes(
        &app,
        &alice,
        &pid,
        json!([
            {"optional_domain_id": d, "entity_type": "clients", "entity_id": "*", "operation": "list"},
            {"domain_id": d, "entity_type": "clients", "entity_id": "*", "operation": "read"},
            // A duplicate is not added twice.
            {"domain_id": d, "entity_type": "clients", "entity_id": "*", "operation": "read"},
        ]),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    for (bad, why) in [
        (
            json!({"entity_type": "robots", "entity_id": "*", "operation": "read"}),
            "type",
        ),
        (
            json!({"entity_type": "clients", "entity_id": "*", "operation": "fly"}),
            "op",
        ),
        (
            json!({"entity_type": "clients", "entity_id": "c1", "operation": "read"}),
            "id",
        ),
        (
            json!({"domain_id": "x", "entity_type": "clients", "entity_id": "*", "operation": "read"}),
            "domain",
        ),
    ] {
        let r = add_scopes(&app, &alice, &pid, json!([bad])).await;
        assert_eq!(r.status, 400, "{why}: {}", r.text);
    }
    let r = app.get(&format!("/pats/{pid}/scope"), &alice).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["total"], 2, "{}", r.text);
    assert_eq!(r.body["scopes"][0]["optional_domain_id"], d.as_str());

    let r = app.get(&format!("/{d}/clients"), &secret).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(names(&r, "clients"), vec!["pump", "valve"]);
    let r = app.get(&format!("/{d}/clients/{c1}"), &secret).await;
    assert_eq!(r.status, 200, "{}", r.text);
    // Not create, not update, not another domain, not channels, not the user's other
    // routes, not PAT management.
    let r = app
        .post(&format!("/{d}/clients"), &secret, json!({"name": "new"}))
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    let r = patch(
        &app,
        &format!("/{d}/clients/{c1}"),
        &secret,
        json!({"name": "x"}),
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(
        app.get(&format!("/{other}/clients"), &secret).await.status,
        403
    );
    assert_eq!(
        app.get(&format!("/{d}/channels"), &secret).await.status,
        403
    );
    assert_eq!(app.get(&format!("/domains/{d}"), &secret).await.status, 403);
    assert_eq!(app.get("/users/profile", &secret).await.status, 403);
    assert_eq!(app.get("/pats", &secret).await.status, 403);
    assert_eq!(app.get(&format!("/{d}/certs"), &secret).await.status, 403);
    let r = app
        .post("/domains", &secret, json!({"name": "n", "route": "n"}))
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    // Nothing was created.
    let r = app.get(&format!("/{d}/clients"), &alice).await;
    assert_eq!(r.body["total"], 2, "{}", r.text);

    // One entity: update c1 only.
    let r = add_scopes(
        &app,
        &alice,
        &pid,
        json!([{"domain_id": d, "entity_type": "clients", "entity_id": c1, "operation": "update"}]),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = patch(
        &app,
        &format!("/{d}/clients/{c1}"),
        &secret,
        json!({"name": "pump-2"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = patch(
        &app,
        &format!("/{d}/clients/{c2}"),
        &secret,
        json!({"name": "x"}),
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.text);
    // Removing that scope takes effect on the next request.
    let r = app
        .get(&format!("/pats/{pid}/scope?limit=100"), &alice)
        .await;
    let update_scope = r.body["scopes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["operation"] == "update")
        .map(|x| s(&x["id"]))
        .unwrap();
    let r = patch(
        &app,
        &format!("/pats/{pid}/scope/remove"),
        &alice,
        json!({"scopes_id": [update_scope]}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = patch(
        &app,
        &format!("/{d}/clients/{c1}"),
        &secret,
        json!({"name": "pump-3"}),
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.text);

    // A PAT is also bounded by its user's rights: bob (a plain member) with the same
    // scopes sees none of alice's clients.
    let (bpid, bsecret) = pat(&app, &bob, "bob's", "1d").await;
    let r = add_scopes(
        &app,
        &bob,
        &bpid,
        json!([
            {"domain_id": d, "entity_type": "clients", "entity_id": "*", "operation": "list"},
            {"domain_id": d, "entity_type": "clients", "entity_id": "*", "operation": "read"},
        ]),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app.get(&format!("/{d}/clients"), &bsecret).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["total"], 0, "{}", r.text);
    assert_eq!(
        app.get(&format!("/{d}/clients/{c1}"), &bsecret)
            .await
            .status,
        404
    );
    // Users only see and change their own PATs.
    assert_eq!(app.get(&format!("/pats/{pid}"), &bob).await.status, 404);
    assert_eq!(
        delete(&app, &format!("/pats/{pid}"), &bob).await.status,
        404
    );
    let r = app.get("/pats", &bob).await;
    assert_eq!(r.body["total"], 1, "{}", r.text);

    // View, rename, describe; last use is recorded.
    let mut seen = false;
    for _ in 0..50 {
        let r = app.get(&format!("/pats/{pid}"), &alice).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(r.body.get("secret").is_none(), "{}", r.text);
        if r.body["last_used_at"].is_string() {
            seen = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(seen, "last_used_at never set");
    let r = patch(
        &app,
        &format!("/pats/{pid}/name"),
        &alice,
        json!({"name": "ci"}),
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.body["name"], "ci");
    let r = patch(
        &app,
        &format!("/pats/{pid}/description"),
        &alice,
        json!({"description": "nightly"}),
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.body["description"], "nightly");
    assert_eq!(app.get("/pats/not-a-uuid", &alice).await.status, 400);

    // Revoked: 401 on the next request; a reset issues a new secret and the old one
    // stays dead.
    let r = send(
        &app,
        Method::PATCH,
        &format!("/pats/{pid}/secret/revoke"),
        &alice,
        None,
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(app.get(&format!("/{d}/clients"), &secret).await.status, 401);
    let r = app.get(&format!("/pats/{pid}"), &alice).await;
    assert_eq!(r.body["revoked"], true, "{}", r.text);
    assert_eq!(r.body["status"], "revoked", "{}", r.text);
    let r = patch(
        &app,
        &format!("/pats/{pid}/secret/reset"),
        &alice,
        json!({"duration": "1h"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let fresh = s(&r.body["secret"]);
    assert_ne!(fresh, secret);
    assert_eq!(app.get(&format!("/{d}/clients"), &fresh).await.status, 200);
    assert_eq!(app.get(&format!("/{d}/clients"), &secret).await.status, 401);
    // A forged secret naming a real PAT is refused.
    let forged = format!("{}_{}", &fresh[..fresh.rfind('_').unwrap()], "A".repeat(43));
    assert_eq!(app.get(&format!("/{d}/clients"), &forged).await.status, 401);

    // Clearing scopes leaves the PAT with nothing.
    let r = delete(&app, &format!("/pats/{pid}/scope"), &alice).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(app.get(&format!("/{d}/clients"), &fresh).await.status, 403);

    // Delete one; clear all.
    let (gone, gone_secret) = pat(&app, &alice, "short-lived", "1d").await;
    assert_eq!(
        delete(&app, &format!("/pats/{gone}"), &alice).await.status,
        204
    );
    assert_eq!(app.get(&format!("/pats/{gone}"), &alice).await.status, 404);
    assert_eq!(
        app.get(&format!("/{d}/clients"), &gone_secret).await.status,
        401
    );
    let r = app.get("/pats", &alice).await;
    assert_eq!(r.body["total"], 1, "{}", r.text);
    assert_eq!(delete(&app, "/pats", &alice).await.status, 200);
    let r = app.get("/pats", &alice).await;
    assert_eq!(r.body["total"], 0, "{}", r.text);
    assert_eq!(app.get(&format!("/{d}/clients"), &fresh).await.status, 401);

    // Connecting is `share`, taking a connection away `unshare`.
    let (lid, linker) = pat(&app, &alice, "linker", "1d").await;
    let scopes: Vec<Value> = ["channels", "clients"]
        .iter()
        .map(|t| json!({"domain_id": d, "entity_type": t, "entity_id": "*", "operation": "share"}))
        .collect();
    assert_eq!(
        add_scopes(&app, &alice, &lid, json!(scopes)).await.status,
        200
    );
    let chx = s(&app.channel(&alice, &d, "linked").await["id"]);
    let body = json!({"client_ids": [c1], "types": ["publish"]});
    let r = app
        .post(
            &format!("/{d}/channels/{chx}/connect"),
            &linker,
            body.clone(),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = app
        .post(
            &format!("/{d}/channels/{chx}/disconnect"),
            &linker,
            body.clone(),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    let scopes: Vec<Value> = ["channels", "clients"]
        .iter()
        .map(
            |t| json!({"domain_id": d, "entity_type": t, "entity_id": "*", "operation": "unshare"}),
        )
        .collect();
    assert_eq!(
        add_scopes(&app, &alice, &lid, json!(scopes)).await.status,
        200
    );
    let r = app
        .post(&format!("/{d}/channels/{chx}/disconnect"), &linker, body)
        .await;
    assert_eq!(r.status, 204, "{}", r.text);

    // Expiry: bob's PAT (1 day) stops working after it.
    assert_eq!(
        app.get(&format!("/{d}/clients"), &bsecret).await.status,
        200
    );
    app.clock.advance(time::Duration::days(2));
    assert_eq!(
        app.get(&format!("/{d}/clients"), &bsecret).await.status,
        401
    );
}

both!(story);

/// API keys: issued by a user, act as that user (here for `/mapping`, as the document's
/// `Authorization: Bearer Token|ApiKey`), revoked by id, and stay revoked across a
/// restart.
async fn api_keys(b: Backend) {
    let mut app = TestServer::spawn(b).await;
    let (alice_id, alice) = app.user("alice").await;
    let (_, bob) = app.user("bob").await;
    let d = app.domain(&alice, "edge").await;
    let hour_ns = 3_600_000_000_000_i64;
    let r = app
        .post("/keys", &alice, json!({"type": 3, "duration": hour_ns}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let kid = s(&r.body["id"]);
    let key = s(&r.body["value"]);
    assert!(r.body["expires_at"].is_string(), "{}", r.text);
    for (body, why) in [
        (json!({"type": 0, "duration": hour_ns}), "type"),
        (json!({"type": 3, "duration": -5}), "negative"),
        (json!({"type": 3, "duration": "soon"}), "string"),
        (json!({"type": 3}), "missing"),
        (json!({"type": 3, "duration": "99999d"}), "too long"),
    ] {
        let r = app.post("/keys", &alice, body).await;
        assert_eq!(r.status, 400, "{why}: {}", r.text);
    }
    let r = app.post("/keys", &alice, json!({"duration": "90d"})).await;
    assert_eq!(r.status, 201, "{}", r.text);

    let r = app.get(&format!("/keys/{kid}"), &alice).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["type"], 3);
    assert_eq!(r.body["issuer_id"], alice_id.as_str());
    assert!(r.body.get("value").is_none(), "{}", r.text);
    assert_eq!(app.get(&format!("/keys/{kid}"), &bob).await.status, 404);
    assert_eq!(
        delete(&app, &format!("/keys/{kid}"), &bob).await.status,
        404
    );

    // The key acts as alice.
    let r = app.get(&format!("/{d}/clients"), &key).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app
        .post(
            &format!("/{d}/mapping"),
            &key,
            json!({"name": "gw", "external_id": "gw-1", "external_key": "k1"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);

    // A key manages no credentials: a leaked one cannot mint its successors.
    let r = app
        .post("/keys", &key, json!({"type": 3, "duration": "1d"}))
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    let r = app
        .post("/pats", &key, json!({"name": "x", "duration": "1d"}))
        .await;
    assert_eq!(r.status, 403, "{}", r.text);

    assert_eq!(
        delete(&app, &format!("/keys/{kid}"), &alice).await.status,
        204
    );
    assert_eq!(app.get(&format!("/{d}/clients"), &key).await.status, 401);
    assert_eq!(app.get(&format!("/keys/{kid}"), &alice).await.status, 404);
    assert_eq!(
        delete(&app, &format!("/keys/{kid}"), &alice).await.status,
        404
    );
    app.restart().await;
    assert_eq!(app.get(&format!("/{d}/clients"), &key).await.status, 401);

    // A role change revokes the user's keys (they carry the role they were issued with).
    let alice = app.login("alice", "12345678").await.0;
    let r = app
        .post("/keys", &alice, json!({"type": 3, "duration": "1d"}))
        .await;
    let promoted = s(&r.body["value"]);
    assert_eq!(
        app.get(&format!("/{d}/clients"), &promoted).await.status,
        200
    );
    let admin = app.admin().await;
    let r = patch(
        &app,
        &format!("/users/{alice_id}/role"),
        &admin,
        json!({"role": "admin"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        app.get(&format!("/{d}/clients"), &promoted).await.status,
        401
    );
}

both!(api_keys);
