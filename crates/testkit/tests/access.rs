//! Access control as the product document tells it: alice shares one client (read),
//! one channel (connect_to_client) and a group subtree (subgroup_client_read) with
//! bob; bob sees and may do exactly that; revocations hold on the next request, and a
//! live message-plane session of bob's client ends within 1 s when its connection is
//! taken away. On SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use reqwest::Method;
use serde_json::{Value, json};
use switchyard_testkit::{Backend, Res, TestServer, both};

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

fn ids(r: &Res, key: &str) -> Vec<String> {
    let mut v: Vec<String> = r.body[key]
        .as_array()
        .map(|a| a.iter().map(|x| s(&x["id"])).collect())
        .unwrap_or_default();
    v.sort();
    v
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

async fn send(app: &TestServer, m: Method, path: &str, tok: &str, body: Option<Value>) -> Res {
    app.req(m, path, Some(tok), body).await
}

async fn story(b: Backend) {
    let app = TestServer::spawn(b).await;
    let (alice_id, alice) = app.user("alice").await;
    let (bob_id, bob) = app.user("bob").await;
    let (carol_id, _carol) = app.user("carol").await;
    let d = app.domain(&alice, "acme").await;
    app.join(&alice, &d, &bob_id, &bob).await;

    let c1 = s(&app.client(&alice, &d, "shared-read").await["id"]);
    let c2 = s(&app.client(&alice, &d, "private").await["id"]);
    let ch1 = s(&app.channel(&alice, &d, "shared-connect").await["id"]);
    // A tree g1 > g2 > g3; c3 sits in g3, c4 directly in g1.
    let g = |name: &str, parent: Option<&str>| {
        let body = match parent {
            Some(p) => json!({"name": name, "parent_id": p}),
            None => json!({"name": name}),
        };
        let path = format!("/{d}/groups");
        let (app, alice) = (&app, &alice);
        async move {
            let r = app.post(&path, alice, body).await;
            assert_eq!(r.status, 201, "{}", r.text);
            s(&r.body["id"])
        }
    };
    let g1 = g("site", None).await;
    let g2 = g("floor", Some(&g1)).await;
    let g3 = g("room", Some(&g2)).await;
    let in_group = |name: &str, grp: &str| {
        let body = json!({"name": name, "parent_group_id": grp});
        let path = format!("/{d}/clients");
        let (app, alice, grp) = (&app, &alice, grp.to_string());
        async move {
            let r = app.post(&path, alice, body).await;
            assert_eq!(r.status, 201, "{}", r.text);
            assert_eq!(s(&r.body["parent_group_id"]), grp);
            s(&r.body["id"])
        }
    };
    let c3 = in_group("deep", &g3).await;
    let c4 = in_group("shallow", &g1).await;

    // Nothing shared yet: bob sees none of alice's clients, and cannot tell they exist.
    let r = app.get(&format!("/{d}/clients"), &bob).await;
    assert_eq!(r.body["total"], 0, "{}", r.text);
    assert_eq!(
        app.get(&format!("/{d}/clients/{c1}"), &bob).await.status,
        404
    );

    // The vocabulary is upstream's.
    let r = app
        .get(&format!("/{d}/clients/roles/available-actions"), &bob)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let acts: Vec<String> = serde_json::from_value(r.body["available_actions"].clone()).unwrap();
    assert!(acts.contains(&"connect_to_channel".to_string()), "{acts:?}");
    let r = app
        .get(&format!("/{d}/groups/roles/available-actions"), &bob)
        .await;
    assert!(r.text.contains("subgroup_client_read"), "{}", r.text);

    // 1. One client, read only.
    let r = app
        .post(
            &format!("/{d}/clients/{c1}/roles"),
            &alice,
            json!({"role_name": "viewer", "optional_actions": ["read"], "optional_members": [bob_id]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let viewer = s(&r.body["id"]);
    assert_eq!(s(&r.body["name"]), "viewer");
    assert_eq!(s(&r.body["entity_id"]), c1);
    let r = app.get(&format!("/{d}/clients"), &bob).await;
    assert_eq!(
        (r.body["total"].clone(), ids(&r, "clients")),
        (json!(1), vec![c1.clone()])
    );
    assert_eq!(
        app.get(&format!("/{d}/clients/{c1}"), &bob).await.status,
        200
    );
    let r = send(
        &app,
        Method::PATCH,
        &format!("/{d}/clients/{c1}"),
        &bob,
        Some(json!({"name": "x"})),
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.text);
    let r = send(
        &app,
        Method::DELETE,
        &format!("/{d}/clients/{c1}"),
        &bob,
        None,
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(
        app.get(&format!("/{d}/clients/{c2}"), &bob).await.status,
        404
    );
    // Roles and members are listed; the creator is in the built-in admin role.
    let r = app.get(&format!("/{d}/clients/{c1}/roles"), &alice).await;
    assert_eq!(r.body["total"], 2, "{}", r.text);
    let r = app
        .get(
            &format!("/{d}/clients/{c1}/roles/{c1}_admin/members"),
            &alice,
        )
        .await;
    assert_eq!(r.body["members"], json!([alice_id]), "{}", r.text);
    let r = app
        .get(&format!("/{d}/clients/{c1}/roles/{viewer}/actions"), &alice)
        .await;
    assert_eq!(r.body["actions"], json!(["read"]), "{}", r.text);
    // bob may not manage the roles of what he only reads.
    let r = app
        .post(
            &format!("/{d}/clients/{c1}/roles"),
            &bob,
            json!({"role_name": "mine"}),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);

    // 2. One channel, connect_to_client: bob connects his own client to it.
    let r = app
        .post(
            &format!("/{d}/channels/{ch1}/roles"),
            &alice,
            json!({"role_name": "connector", "optional_actions": ["connect_to_client"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let connector = s(&r.body["id"]);
    let r = app
        .post(
            &format!("/{d}/channels/{ch1}/roles/{connector}/members"),
            &alice,
            json!({"members": [bob_id]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["members"], json!([bob_id]));
    let bc = s(&app.client(&bob, &d, "bobs-sensor").await["id"]);
    let connect = |client: &str, tok: &str| {
        let path = format!("/{d}/channels/{ch1}/connect");
        let body = json!({"client_ids": [client], "types": ["publish"]});
        let (app, tok) = (&app, tok.to_string());
        async move { app.post(&path, &tok, body).await }
    };
    let r = connect(&bc, &bob).await;
    assert_eq!(r.status, 201, "{}", r.text);
    // Not alice's clients: one he only reads lacks connect_to_channel, one he cannot
    // see does not exist for him.
    assert_eq!(connect(&c1, &bob).await.status, 403);
    assert_eq!(connect(&c2, &bob).await.status, 404);
    // connect_to_client does not let him read the channel.
    assert_eq!(
        app.get(&format!("/{d}/channels/{ch1}"), &bob).await.status,
        404
    );
    live_session_follows_the_share(&app, &d, &ch1, &bc, &bob, &c1, &alice).await;

    // 3. A group subtree: subgroup_client_read on g1 reaches c3 (in g3) but not c4,
    // which sits directly in g1 (that needs client_read on g1).
    let r = app
        .post(
            &format!("/{d}/groups/{g1}/roles"),
            &alice,
            json!({"role_name": "auditor", "optional_actions": ["subgroup_client_read"],
                   "optional_members": [bob_id]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let auditor = s(&r.body["id"]);
    let r = app.get(&format!("/{d}/clients"), &bob).await;
    assert_eq!(
        ids(&r, "clients"),
        sorted(vec![c1.clone(), c3.clone(), bc.clone()]),
        "{}",
        r.text
    );
    assert_eq!(r.body["total"], 3);
    assert_eq!(
        app.get(&format!("/{d}/clients/{c3}"), &bob).await.status,
        200
    );
    assert_eq!(
        app.get(&format!("/{d}/clients/{c4}"), &bob).await.status,
        404
    );
    // `?roles=true` says through which roles: the auditor role on g1, and his domain role.
    let r = app
        .get(&format!("/{d}/clients/{c3}?roles=true"), &bob)
        .await;
    let roles = r.body["roles"].as_array().cloned().unwrap_or_default();
    let via_group = roles
        .iter()
        .find(|x| x["access_type"] == "group")
        .unwrap_or_else(|| panic!("no group role: {}", r.text));
    assert_eq!(s(&via_group["access_provider_id"]), g1);
    assert_eq!(via_group["role_name"], "auditor");
    assert_eq!(via_group["actions"], json!(["subgroup_client_read"]));
    let member_role = json!(format!("{d}_member"));
    assert!(
        roles.iter().any(|x| x["role_id"] == member_role),
        "{}",
        r.text
    );
    let r = app
        .get(&format!("/{d}/clients/{c1}?roles=true"), &alice)
        .await;
    assert!(
        r.text.contains(&format!("{c1}_admin")),
        "creator is admin: {}",
        r.text
    );
    let r = app.get(&format!("/{d}/clients/{c1}"), &alice).await;
    assert!(r.body.get("roles").is_none(), "{}", r.text);
    let r = send(
        &app,
        Method::DELETE,
        &format!("/{d}/clients/{c3}"),
        &bob,
        None,
    )
    .await;
    assert_eq!(r.status, 403);
    // Listing by parent group: one group's clients, or those with no group.
    let r = app.get(&format!("/{d}/clients?group={g3}"), &alice).await;
    assert_eq!(ids(&r, "clients"), vec![c3.clone()], "{}", r.text);
    let r = app.get(&format!("/{d}/clients?group="), &alice).await;
    assert_eq!(r.body["total"], 3, "{}", r.text);
    let r = app.get(&format!("/{d}/clients?group={g1}"), &bob).await;
    assert_eq!(r.body["total"], 0, "c4 is in g1 but not shared: {}", r.text);
    // The admin sees all five of the domain's clients, bob's own among them.
    let r = app.get(&format!("/{d}/clients"), &alice).await;
    assert_eq!(r.body["total"], 5, "{}", r.text);

    // Bad input is refused whole.
    let bad = |path: String, body: Value| {
        let (app, alice) = (&app, &alice);
        async move { app.post(&path, alice, body).await }
    };
    let r = bad(
        format!("/{d}/clients/{c2}/roles"),
        json!({"role_name": "x", "optional_actions": ["read", "fly"]}),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.body["message"].as_str().unwrap().contains("fly"));
    let r = bad(
        format!("/{d}/clients/{c2}/roles"),
        json!({"role_name": "x", "optional_members": [carol_id]}),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text);
    let r = app.get(&format!("/{d}/clients/{c2}/roles"), &alice).await;
    assert_eq!(r.body["total"], 1, "nothing half-written: {}", r.text);
    // A taken name is a uniqueness rule: 400, as the contract answers those.
    let r = bad(
        format!("/{d}/clients/{c1}/roles"),
        json!({"role_name": "viewer"}),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.body["message"], "role name already exists");
    let r = bad(format!("/{d}/groups/{g1}/parent"), json!({"parent_id": g3})).await;
    assert_eq!(r.status, 400, "cycle: {}", r.text);
    let other = app.domain(&alice, "elsewhere").await;
    let og = s(&app
        .post(&format!("/{other}/groups"), &alice, json!({"name": "o"}))
        .await
        .body["id"]);
    let r = bad(format!("/{d}/groups/{g3}/parent"), json!({"parent_id": og})).await;
    assert_eq!(r.status, 400, "foreign parent: {}", r.text);

    // Hierarchy, both ways: up (direction >= 0) to the ancestors, down (< 0) to the
    // descendants.
    let r = app
        .get(&format!("/{d}/groups/{g3}/hierarchy?direction=1"), &alice)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["groups"].as_array().unwrap().len(), 3, "{}", r.text);
    let r = app
        .get(
            &format!("/{d}/groups/{g1}/hierarchy?direction=-1&tree=true"),
            &alice,
        )
        .await;
    assert_eq!(
        s(&r.body["groups"][0]["children"][0]["children"][0]["id"]),
        g3,
        "{}",
        r.text
    );
    let r = app.get(&format!("/{d}/groups/{g1}/children"), &alice).await;
    assert_eq!(r.body["total"], 2, "{}", r.text);
    let r = app
        .get(&format!("/{d}/groups/{g1}/hierarchy?level=21"), &alice)
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    // Only a child can be removed as one; nothing moves otherwise.
    let r = send(
        &app,
        Method::DELETE,
        &format!("/{d}/groups/{g1}/children"),
        &alice,
        Some(json!({"children_ids": [g3]})),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text);
    let r = app.get(&format!("/{d}/groups/{g3}"), &alice).await;
    assert_eq!(s(&r.body["parent_id"]), g2);
    // Built-in roles are fixed, and the creator stays in the admin role.
    let r = send(
        &app,
        Method::PUT,
        &format!("/{d}/clients/{c1}/roles/{c1}_admin"),
        &alice,
        Some(json!({"name": "boss"})),
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.text);
    let r = app
        .post(
            &format!("/{d}/clients/{c1}/roles/{c1}_admin/members/delete"),
            &alice,
            json!({"members": [alice_id]}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);

    // Revocations hold on the next request.
    let r = app
        .post(
            &format!("/{d}/clients/{c1}/roles/{viewer}/members/delete"),
            &alice,
            json!({"members": [bob_id]}),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(
        app.get(&format!("/{d}/clients/{c1}"), &bob).await.status,
        404
    );
    let r = send(
        &app,
        Method::DELETE,
        &format!("/{d}/groups/{g1}/roles/{auditor}"),
        &alice,
        None,
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(
        app.get(&format!("/{d}/clients/{c3}"), &bob).await.status,
        404
    );
    let r = app.get(&format!("/{d}/clients"), &bob).await;
    assert_eq!(ids(&r, "clients"), vec![bc.clone()], "{}", r.text);

    // A group delete unsets its children's parent and its clients' parent group.
    let r = send(
        &app,
        Method::DELETE,
        &format!("/{d}/groups/{g2}"),
        &alice,
        None,
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = app.get(&format!("/{d}/groups/{g3}"), &alice).await;
    assert!(r.body.get("parent_id").is_none(), "{}", r.text);
    let r = app
        .get(&format!("/{d}/groups/{g3}/hierarchy?direction=1"), &alice)
        .await;
    assert_eq!(r.body["groups"].as_array().unwrap().len(), 1, "{}", r.text);
    let r = app
        .get(&format!("/{d}/groups?root_group=true"), &alice)
        .await;
    assert_eq!(r.body["total"], 2, "{}", r.text);
}

both!(story);

/// A live session of bob's client on alice's channel (the message plane's WebSocket)
/// receives while the connection bob made through his share stands, and is closed
/// within 1 s when alice, the channel's admin, takes it away.
#[allow(clippy::too_many_arguments)]
async fn live_session_follows_the_share(
    app: &TestServer,
    d: &str,
    ch1: &str,
    bc: &str,
    bob: &str,
    c1: &str,
    alice: &str,
) {
    use futures::StreamExt;
    use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};
    let path = format!("/{d}/channels/{ch1}/connect");
    let r = app
        .post(
            &path,
            bob,
            json!({"client_ids": [bc], "types": ["subscribe"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = app
        .post(
            &path,
            alice,
            json!({"client_ids": [c1], "types": ["publish"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let secret = |id: &str, tok: &str| {
        let (app, p) = (app, format!("/{d}/clients/{id}"));
        let tok = tok.to_string();
        async move { s(&app.get(&p, &tok).await.body["credentials"]["secret"]) }
    };
    let (bob_secret, alice_secret) = (secret(bc, bob).await, secret(c1, alice).await);
    let url = format!("{}/m/{d}/c/{ch1}", app.url.replace("http://", "ws://"));
    let mut req = url.into_client_request().unwrap();
    req.headers_mut().insert(
        "Authorization",
        format!("Client {bob_secret}").parse().unwrap(),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let publish = |body: &'static str| {
        let (app, alice_secret) = (app, alice_secret.clone());
        let p = format!("/m/{d}/c/{ch1}");
        async move {
            let r = app
                .http
                .post(format!("{}{p}", app.url))
                .header("Authorization", format!("Client {alice_secret}"))
                .header("Content-Type", "text/plain")
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 202);
        }
    };
    publish("before").await;
    let got = tokio::time::timeout(std::time::Duration::from_secs(2), ws.next())
        .await
        .expect("bob's session received nothing")
        .unwrap()
        .unwrap();
    assert!(got.to_text().unwrap_or("").contains("before"), "{got:?}");

    // Alice takes the connection away; the session ends within 1 s.
    let r = app
        .post(
            &format!("/{d}/channels/{ch1}/disconnect"),
            alice,
            json!({"client_ids": [bc], "types": ["subscribe"]}),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let ended = tokio::time::timeout(std::time::Duration::from_secs(1), async {
        loop {
            match ws.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(
        ended.is_ok(),
        "bob's session still open 1 s after the revocation"
    );
}
