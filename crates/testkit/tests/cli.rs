//! Black-box tests: the real server in-process on port 0 (fresh SQLite store), driven
//! by the built `switchyard-cli` binary as a user would run it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant},
};

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;

use switchyard_testkit::{ADMIN_PASSWORD, Backend, TestServer};

/// The test server on a runtime of its own (the tests are synchronous, like a shell
/// running the CLI); dropped with the test.
struct Server {
    app: TestServer,
    url: String,
    rt: tokio::runtime::Runtime,
}

impl Server {
    fn start() -> Server {
        Server::start_with(|_| {})
    }

    fn start_with(tweak: impl FnOnce(&mut switchyard::Settings)) -> Server {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let app = rt.block_on(TestServer::spawn_with(Backend::Sqlite, tweak));
        Server {
            url: app.url.clone(),
            app,
            rt,
        }
    }

    /// Profiles and test inputs live beside the store, in the server's directory.
    fn path(&self, name: &str) -> PathBuf {
        self.app.dir.path().join(name)
    }

    /// The CLI with a clean environment: this server's URL and a profile file of
    /// its own (`profile` names it, so tests can keep several users apart).
    fn cli(&self, profile: &str) -> Command {
        let mut c = Command::from_std(self.std_cli(profile));
        c.timeout(Duration::from_secs(120));
        c
    }

    /// The same, as a `std::process::Command` (for children that run alongside).
    fn std_cli(&self, profile: &str) -> std::process::Command {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_switchyard-cli-under-test"));
        for k in [
            "SWITCHYARD_URL",
            "MG_URL",
            "SWITCHYARD_TOKEN",
            "MG_TOKEN",
            "SWITCHYARD_DOMAIN",
            "MG_DOMAIN_ID",
            "SWITCHYARD_CACERT",
            "XDG_CONFIG_HOME",
            "MG_AGENT_BOOTSTRAP_KEY",
            "SWITCHYARD_CLIENT_SECRET",
        ] {
            c.env_remove(k);
        }
        c.env("SWITCHYARD_URL", &self.url).env(
            "SWITCHYARD_CLI_CONFIG",
            self.path(&format!("{profile}.toml")),
        );
        c
    }

    /// Runs the CLI expecting success; returns stdout.
    fn ok(&self, profile: &str, args: &[&str]) -> String {
        let out = self.cli(profile).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{args:?} failed ({:?}):\nstdout: {}\nstderr: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs the CLI with `-o json` expecting success; returns the parsed output.
    fn json(&self, profile: &str, args: &[&str]) -> Value {
        let mut a = args.to_vec();
        a.extend(["-o", "json"]);
        let out = self.ok(profile, &a);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
    }

    /// Registers a user and logs in as them (profile named after the user).
    fn user(&self, username: &str) -> String {
        let email = format!("{username}@example.com");
        let v = self.json(
            username,
            &[
                "users", "create", "First", "Last", &email, username, "12345678",
            ],
        );
        self.ok(username, &["login", username, "12345678"]);
        v["id"].as_str().unwrap().to_string()
    }

    fn admin_token(&self) -> String {
        let v = self.json("admin", &["users", "token", "admin", ADMIN_PASSWORD]);
        v["access_token"].as_str().unwrap().to_string()
    }

    fn domain(&self, profile: &str, route: &str) -> String {
        let v = self.json(profile, &["domains", "create", route, "--route", route]);
        v["id"].as_str().unwrap().to_string()
    }
}

fn profile_of(path: &Path) -> toml::Table {
    toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn ids(v: &Value, key: &str) -> Vec<String> {
    v[key]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|x| x["id"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn users_login_profile_and_token_errors() {
    let s = Server::start();
    let id = s.user("janedoe");

    // The profile: url, both tokens, mode 0600.
    let path = s.path("janedoe.toml");
    let p = profile_of(&path);
    assert_eq!(p["url"].as_str(), Some(s.url.as_str()));
    assert!(!p["access_token"].as_str().unwrap().is_empty());
    assert!(!p["refresh_token"].as_str().unwrap().is_empty());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // users token prints a pair; users profile uses the saved token.
    let pair = s.json(
        "janedoe",
        &["users", "token", "janedoe@example.com", "12345678"],
    );
    assert!(pair["refresh_token"].is_string());
    let me = s.json("janedoe", &["users", "profile"]);
    assert_eq!(me["id"], id.as_str());
    assert_eq!(me["credentials"]["username"], "janedoe");
    let table = s.ok("janedoe", &["users", "profile"]);
    assert!(
        table.contains("janedoe") && table.contains("FIELD"),
        "{table}"
    );
    let yaml = s.ok("janedoe", &["users", "get", &id, "-o", "yaml"]);
    assert!(yaml.contains("username: janedoe"), "{yaml}");

    // Update: names, metadata and tags.
    let u = s.json(
        "janedoe",
        &[
            "users",
            "update",
            &id,
            "--first-name",
            "Janet",
            "--metadata",
            r#"{"team":"edge"}"#,
            "--tags",
            "ops,dev",
        ],
    );
    assert_eq!(u["first_name"], "Janet");
    assert_eq!(u["metadata"]["team"], "edge");
    assert_eq!(u["tags"], serde_json::json!(["ops", "dev"]));

    // Listing users is the super-admin's; a user gets the server's 403 message.
    s.cli("janedoe")
        .args(["users", "list"])
        .assert()
        .code(1)
        .stderr(predicate::str::starts_with("error: "))
        .stderr(predicate::str::contains("(HTTP 403)"));
    let admin = s.admin_token();
    let list = s.json(
        "nobody",
        &[
            "--token",
            &admin,
            "users",
            "list",
            "--username",
            "jane",
            "--order",
            "username",
            "--dir",
            "asc",
        ],
    );
    assert_eq!(list["total"], 1);
    assert_eq!(list["users"][0]["id"], id.as_str());
    let all = s.json("nobody", &["--token", &admin, "users", "list", "--all"]);
    assert_eq!(all["total"], 2);

    // Disable/enable by the admin; the status shows.
    let d = s.json("nobody", &["--token", &admin, "users", "disable", &id]);
    assert_eq!(d["status"], "disabled");
    let e = s.json("nobody", &["--token", &admin, "users", "enable", &id]);
    assert_eq!(e["status"], "enabled");

    // A bad explicit token: exit 1 with the server's message (no refresh attempted).
    s.cli("janedoe")
        .args(["--token", "not-a-token", "users", "profile"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "failed to perform authentication over the entity",
        ))
        .stdout(predicate::str::is_empty());
    // Wrong password and unknown user: the server's messages.
    s.cli("x")
        .args(["users", "token", "janedoe", "wrong-password"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("invalid credentials"));
    s.cli("x")
        .args(["login", "nosuchuser", "12345678"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("entity not found"));
    assert!(!s.path("x.toml").exists());
    // Not logged in at all: a usage error.
    s.cli("x")
        .args(["users", "profile"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not logged in"));

    // The password from stdin.
    s.cli("stdin")
        .args(["login", "janedoe", "-"])
        .write_stdin("12345678\n")
        .assert()
        .success();
    assert!(s.path("stdin.toml").exists());

    // logout removes the profile.
    s.ok("stdin", &["logout"]);
    assert!(!s.path("stdin.toml").exists());
}

/// The product document's command lines, verbatim with `switchyard` for
/// `magistrala-cli`: register with an e-mail and a password, get a token with them,
/// create a domain with a positional route.
#[test]
fn the_documents_command_lines() {
    let s = Server::start();
    let v = s.json(
        "doc",
        &["users", "create", "john.doe@email.com", "12345678"],
    );
    assert_eq!(v["email"], "john.doe@email.com");
    assert_eq!(v["credentials"]["username"], "john_doe");
    assert_eq!(
        (v["first_name"].as_str(), v["last_name"].as_str()),
        (Some("john"), Some("doe"))
    );
    let t = s.json("doc", &["users", "token", "john.doe@email.com", "12345678"]);
    let access = t["access_token"].as_str().unwrap();
    assert!(!access.is_empty() && t["refresh_token"].is_string(), "{t}");
    s.ok("doc", &["login", "john.doe@email.com", "12345678"]);
    let d = s.json("doc", &["domains", "create", "Edge Site", "edge-site"]);
    assert_eq!(d["route"], "edge-site");
    // A wrong password is refused with the server's message.
    s.cli("doc")
        .args(["users", "token", "john.doe@email.com", "wrong-pass"])
        .assert()
        .failure();
}

#[test]
fn expired_profile_token_is_refreshed_once_and_saved() {
    let s = Server::start();
    let id = s.user("refresher");
    let path = s.path("refresher.toml");
    let before = profile_of(&path);
    // Make the saved access token unusable; the refresh token stays valid.
    let mut broken = before.clone();
    broken.insert("access_token".into(), "expired-token".into());
    std::fs::write(&path, toml::to_string(&broken).unwrap()).unwrap();

    let me = s.json("refresher", &["users", "profile"]);
    assert_eq!(me["id"], id.as_str());
    let after = profile_of(&path);
    let access = after["access_token"].as_str().unwrap();
    assert_ne!(access, "expired-token");
    assert!(!access.is_empty());
    assert_eq!(after["url"], before["url"]);

    // With a useless refresh token too: one refresh attempt, then a clear error.
    let mut dead = after.clone();
    dead.insert("access_token".into(), "expired-token".into());
    dead.insert("refresh_token".into(), "also-bad".into());
    std::fs::write(&path, toml::to_string(&dead).unwrap()).unwrap();
    s.cli("refresher")
        .args(["users", "profile"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("log in again"));

    // A profile saved for another server is not used (its token is never sent).
    s.ok("refresher", &["login", "refresher", "12345678"]);
    s.cli("refresher")
        .args(["--url", "http://127.0.0.1:9", "users", "profile"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not logged in"));
}

#[test]
fn domains_and_invitations() {
    let s = Server::start();
    s.user("owner");
    let guest = s.user("guest");
    let other = s.user("other");

    let d = s.domain("owner", "acme");
    let list = s.json("owner", &["domains", "list", "--name", "acm"]);
    assert_eq!(ids(&list, "domains"), [d.as_str()]);
    let table = s.ok("owner", &["domains", "list"]);
    assert!(
        table.contains("acme") && table.contains("1 of 1"),
        "{table}"
    );
    let got = s.json("owner", &["domains", "get", &d]);
    assert_eq!(got["route"], "acme");
    // The domain from the flag when no id is given.
    let got = s.json("owner", &["--domain", &d, "domains", "get"]);
    assert_eq!(got["id"], d.as_str());
    let up = s.json(
        "owner",
        &[
            "domains",
            "update",
            &d,
            "--name",
            "Acme Inc",
            "--tags",
            "prod",
            "--metadata",
            r#"{"tier":"gold"}"#,
        ],
    );
    assert_eq!(up["name"], "Acme Inc");
    assert_eq!(up["metadata"]["tier"], "gold");
    s.cli("owner")
        .args(["domains", "disable", &d])
        .assert()
        .success()
        .stdout(predicate::str::contains("disabled"));
    let dis = s.json("owner", &["domains", "list", "--status", "disabled"]);
    assert_eq!(ids(&dis, "domains"), [d.as_str()]);
    s.ok("owner", &["domains", "enable", &d]);
    // Enabling an enabled domain: the server's message, exit 1.
    s.cli("owner")
        .args(["domains", "enable", &d])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("status already assigned"));

    // Invitations: send, list (both sides), accept; another is rejected.
    s.ok(
        "owner",
        &[
            "--domain",
            &d,
            "domains",
            "invitations",
            "send",
            &guest,
            "--role",
            "member",
        ],
    );
    s.ok(
        "owner",
        &[
            "--domain",
            &d,
            "domains",
            "invitations",
            "send",
            &other,
            "--role",
            "admin",
        ],
    );
    let sent = s.json("owner", &["domains", "invitations", "list", &d]);
    assert_eq!(sent["total"], 2);
    let mine = s.json("guest", &["domains", "invitations", "list"]);
    assert_eq!(mine["total"], 1);
    assert_eq!(mine["invitations"][0]["domain_id"], d.as_str());
    // Not a member yet.
    s.cli("guest").args(["domains", "get", &d]).assert().code(1);
    s.ok("guest", &["domains", "invitations", "accept", &d]);
    assert_eq!(s.json("guest", &["domains", "get", &d])["id"], d.as_str());
    s.ok("other", &["domains", "invitations", "reject", &d]);
    s.cli("other")
        .args(["domains", "invitations", "accept", &d])
        .assert()
        .code(1);
    let pending = s.json(
        "owner",
        &["domains", "invitations", "list", &d, "--state", "pending"],
    );
    assert_eq!(pending["total"], 0);
}

#[test]
fn clients_channels_and_connections() {
    let s = Server::start();
    s.user("op");
    let d = s.domain("op", "plant");
    let dom = ["--domain", d.as_str()];
    let run = |args: &[&str]| -> Value {
        let mut a = dom.to_vec();
        a.extend_from_slice(args);
        s.json("op", &a)
    };

    let bulb = run(&[
        "clients",
        "create",
        "lightbulb",
        "--tags",
        "home,light",
        "--metadata",
        r#"{"room":"kitchen","floor":{"n":1}}"#,
    ]);
    let bulb_id = bulb["id"].as_str().unwrap().to_string();
    assert!(!bulb["credentials"]["secret"].as_str().unwrap().is_empty());
    let hum = run(&[
        "clients",
        "create",
        "humidifier",
        "--tags",
        "home",
        "--secret",
        "hum-secret-1",
    ]);
    let hum_id = hum["id"].as_str().unwrap().to_string();
    assert_eq!(hum["credentials"]["secret"], "hum-secret-1");
    let fan_id = run(&["clients", "create", "fan"])["id"]
        .as_str()
        .unwrap()
        .to_string();

    // Filters.
    assert_eq!(
        ids(&run(&["clients", "list", "--name", "HUMID"]), "clients"),
        [hum_id.as_str()]
    );
    assert_eq!(
        ids(
            &run(&["clients", "list", "--metadata", r#"{"floor":{"n":1}}"#]),
            "clients"
        ),
        [bulb_id.as_str()]
    );
    assert_eq!(run(&["clients", "list", "--tags", "home"])["total"], 2);
    assert_eq!(
        ids(
            &run(&["clients", "list", "--tags", "home+light"]),
            "clients"
        ),
        [bulb_id.as_str()]
    );
    let sorted = run(&["clients", "list", "--order", "name", "--dir", "asc"]);
    let names: Vec<&str> = sorted["clients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["fan", "humidifier", "lightbulb"]);
    let page = run(&[
        "clients", "list", "--order", "name", "--dir", "asc", "--offset", "1", "--limit", "1",
    ]);
    assert_eq!(page["total"], 3);
    assert_eq!(ids(&page, "clients"), [hum_id.as_str()]);
    // Table and YAML renderings.
    let table = s.ok(
        "op",
        &["--domain", &d, "clients", "list", "--name", "lightbulb"],
    );
    assert!(
        table.contains("lightbulb") && table.contains("SECRET"),
        "{table}"
    );
    let yaml = s.ok(
        "op",
        &["--domain", &d, "clients", "get", &bulb_id, "-o", "yaml"],
    );
    assert!(yaml.contains("name: lightbulb"), "{yaml}");
    let csv = s.ok("op", &["--domain", &d, "clients", "list", "-o", "csv"]);
    assert_eq!(csv.lines().count(), 4, "{csv}");
    // A bad filter is refused locally, a bad limit by the server.
    s.cli("op")
        .args(["--domain", &d, "clients", "list", "--metadata", "{bad"])
        .assert()
        .code(2);
    s.cli("op")
        .args(["--domain", &d, "clients", "list", "--limit", "1000"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("invalid limit size"));

    // Get, update, disable/enable, status filter.
    assert_eq!(run(&["clients", "get", &fan_id])["name"], "fan");
    let up = run(&[
        "clients",
        "update",
        &fan_id,
        "--name",
        "ceiling-fan",
        "--metadata",
        r#"{"room":"hall"}"#,
        "--secret",
        "fan-secret-2",
    ]);
    assert_eq!(up["name"], "ceiling-fan");
    assert_eq!(up["credentials"]["secret"], "fan-secret-2");
    assert_eq!(
        run(&["clients", "get", &fan_id])["metadata"]["room"],
        "hall"
    );
    assert_eq!(run(&["clients", "disable", &fan_id])["status"], "disabled");
    assert_eq!(run(&["clients", "list"])["total"], 2);
    assert_eq!(
        ids(
            &run(&["clients", "list", "--status", "disabled"]),
            "clients"
        ),
        [fan_id.as_str()]
    );
    assert_eq!(run(&["clients", "enable", &fan_id])["status"], "enabled");

    // Channels.
    let tele = run(&[
        "channels",
        "create",
        "telemetry",
        "--route",
        "telemetry",
        "--metadata",
        r#"{"type":"data"}"#,
    ]);
    let tele_id = tele["id"].as_str().unwrap().to_string();
    let ctl_id = run(&["channels", "create", "control"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        ids(
            &run(&["channels", "list", "--metadata", r#"{"type":"data"}"#]),
            "channels"
        ),
        [tele_id.as_str()]
    );
    assert_eq!(run(&["channels", "get", &tele_id])["route"], "telemetry");
    let up = run(&[
        "channels", "update", &ctl_id, "--name", "ctl", "--tags", "x",
    ]);
    assert_eq!(up["name"], "ctl");

    // Connect one channel to two clients (publish), then both channels to a third
    // (the bulk endpoint), and list connections both ways.
    s.cli("op")
        .args([
            "--domain",
            &d,
            "channels",
            "connect",
            "--channel",
            &tele_id,
            "--client",
        ])
        .arg(format!("{bulb_id},{hum_id}"))
        .args(["--types", "publish"])
        .assert()
        .success()
        .stdout(predicate::str::contains("connected 2 client(s)"));
    s.ok(
        "op",
        &[
            "--domain",
            &d,
            "clients",
            "connect",
            "--client",
            &fan_id,
            "--channel",
            &tele_id,
            "--channel",
            &ctl_id,
            "--types",
            "publish,subscribe",
        ],
    );
    let on_tele = run(&["clients", "list", "--channel", &tele_id]);
    assert_eq!(on_tele["total"], 3);
    let subs = run(&[
        "clients",
        "list",
        "--channel",
        &tele_id,
        "--connection-type",
        "subscribe",
    ]);
    assert_eq!(ids(&subs, "clients"), [fan_id.as_str()]);
    assert_eq!(run(&["channels", "list", "--client", &fan_id])["total"], 2);
    // Connect needs types (a usage error); a bad id is the server's message.
    s.cli("op")
        .args([
            "--domain",
            &d,
            "channels",
            "connect",
            "--channel",
            &tele_id,
            "--client",
            &fan_id,
        ])
        .assert()
        .code(2);
    s.cli("op")
        .args([
            "--domain",
            &d,
            "channels",
            "connect",
            "--channel",
            &tele_id,
            "--client",
            "nope",
            "--types",
            "publish",
        ])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("invalid id format provided"));

    // Disconnect (one channel, then many).
    s.ok(
        "op",
        &[
            "--domain",
            &d,
            "channels",
            "disconnect",
            "--channel",
            &tele_id,
            "--client",
            &bulb_id,
            "--types",
            "publish",
        ],
    );
    assert_eq!(run(&["clients", "list", "--channel", &tele_id])["total"], 2);
    s.ok(
        "op",
        &[
            "--domain",
            &d,
            "clients",
            "disconnect",
            "--client",
            &fan_id,
            "--channel",
            &format!("{tele_id},{ctl_id}"),
            "--types",
            "publish,subscribe",
        ],
    );
    assert!(run(&["channels", "list", "--client", &fan_id])["total"] == 0);

    // Channel disable/enable/delete; client delete.
    assert_eq!(run(&["channels", "disable", &ctl_id])["status"], "disabled");
    assert_eq!(run(&["channels", "enable", &ctl_id])["status"], "enabled");
    s.ok("op", &["--domain", &d, "channels", "delete", &ctl_id]);
    s.ok("op", &["--domain", &d, "clients", "delete", &fan_id]);
    s.cli("op")
        .args(["--domain", &d, "clients", "get", &fan_id])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("entity not found"));
    assert_eq!(run(&["channels", "list"])["total"], 1);

    // No domain: a usage error naming the ways to give one; MG_* aliases work.
    s.cli("op")
        .args(["clients", "list"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--domain"));
    let token = profile_of(&s.path("op.toml"))["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let out = s
        .cli("none")
        .env_remove("SWITCHYARD_URL")
        .env("MG_URL", &s.url)
        .env("MG_TOKEN", &token)
        .env("MG_DOMAIN_ID", &d)
        .args(["clients", "list", "-o", "json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["total"], 2);
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

#[test]
fn fleet_per_row_batches_fallback_and_formats() {
    // A server cap below --max-batch: every batch fails with 413 and is retried row
    // by row, so the fleet still completes.
    let s = Server::start_with(|st| st.bulk_max = 2);
    s.user("fleet");
    let d = s.domain("fleet", "farm");
    let existing = s.json(
        "fleet",
        &["--domain", &d, "channels", "create", "telemetry"],
    )["id"]
        .as_str()
        .unwrap()
        .to_string();

    let csv = s.path("devices.csv");
    write(
        &csv,
        "name,metadata,tags,channels,types\n\
         bulb-1,\"{\"\"room\"\":\"\"hall\"\"}\",home;light,telemetry;commands,publish\n\
         bulb-2,,home,telemetry,publish;subscribe\n\
         bulb-3,{not json,,,\n\
         bulb-4,,,commands,subscribe\n\
         bulb-5,,,,\n",
    );

    // Dry run: the plan, nothing sent.
    let out = s
        .cli("fleet")
        .args(["--domain", &d, "provision", "fleet"])
        .arg(&csv)
        .arg("--dry-run")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "an invalid row makes the dry run fail"
    );
    let plan = String::from_utf8_lossy(&out.stdout);
    assert_eq!(plan.lines().count(), 5, "{plan}");
    assert!(plan.starts_with("row,name,tags,channels,types,metadata"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("nothing was sent") && err.contains("row 3"),
        "{err}"
    );
    assert_eq!(
        s.json("fleet", &["--domain", &d, "clients", "list"])["total"],
        0
    );

    // Per-row mode: batches of 3 (> the server's 2) fall back to single creates; the
    // invalid row is reported, the rest are created and connected.
    let out = s
        .cli("fleet")
        .args(["--domain", &d, "provision", "fleet"])
        .arg(&csv)
        .args(["--max-batch", "3"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    let mut r = csv::Reader::from_reader(stdout.as_bytes());
    assert_eq!(
        r.headers().unwrap(),
        &csv::StringRecord::from(vec!["row", "id", "name", "secret"])
    );
    let recs: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    let rows: Vec<&str> = recs.iter().map(|r| &r[0]).collect();
    assert_eq!(rows, ["1", "2", "4", "5"]);
    assert!(recs.iter().all(|r| r[1].len() == 36 && !r[3].is_empty()));
    assert!(
        stderr.contains("1 row(s) failed") && stderr.contains("row 3:"),
        "{stderr}"
    );
    assert!(stderr.contains("one by one"), "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "no progress bar when not a TTY");

    let clients = s.json("fleet", &["--domain", &d, "clients", "list", "--all"]);
    assert_eq!(clients["total"], 4);
    let bulb1 = clients["clients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "bulb-1")
        .unwrap();
    assert_eq!(bulb1["metadata"]["room"], "hall");
    assert_eq!(bulb1["tags"], serde_json::json!(["home", "light"]));
    // The existing channel is reused, "commands" created once.
    let chans = s.json("fleet", &["--domain", &d, "channels", "list"]);
    assert_eq!(chans["total"], 2);
    let commands = chans["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "commands")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let on = |ch: &str, t: &str| {
        s.json(
            "fleet",
            &[
                "--domain",
                &d,
                "clients",
                "list",
                "--channel",
                ch,
                "--connection-type",
                t,
            ],
        )["total"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(on(&existing, "publish"), 2);
    assert_eq!(on(&existing, "subscribe"), 1);
    assert_eq!(on(&commands, "publish"), 1);
    assert_eq!(on(&commands, "subscribe"), 1);

    // JSON and TOML fleets, JSON output.
    let json_file = s.path("devices.json");
    write(
        &json_file,
        r#"[{"name":"j-1","metadata":{"k":1},"channels":["telemetry"],"types":"publish"},
            {"name":"j-2","tags":["a","b"]}]"#,
    );
    let v = s.json(
        "fleet",
        &[
            "--domain",
            &d,
            "provision",
            "fleet",
            json_file.to_str().unwrap(),
        ],
    );
    let arr = v.as_array().unwrap();
    assert_eq!(arr.len(), 2);
    assert_eq!(arr[0]["row"], 1);
    assert_eq!(arr[0]["name"], "j-1");
    assert!(arr[1]["secret"].as_str().is_some_and(|s| !s.is_empty()));
    let toml_file = s.path("devices.toml");
    write(
        &toml_file,
        "[[clients]]\nname = \"t-1\"\nchannels = [\"commands\"]\n[clients.metadata]\nk = 2\n",
    );
    let out = s.ok(
        "fleet",
        &[
            "--domain",
            &d,
            "provision",
            "fleet",
            toml_file.to_str().unwrap(),
            "--atomic",
            "--max-batch",
            "2",
        ],
    );
    assert!(out.contains(",t-1,"), "{out}");
    assert_eq!(on(&commands, "publish"), 2);
    assert_eq!(
        s.json("fleet", &["--domain", &d, "clients", "list"])["total"],
        7
    );
}

#[test]
fn fleet_atomic_refuses_bad_rows_and_oversized_files() {
    let s = Server::start();
    s.user("atom");
    let d = s.domain("atom", "atoms");
    let csv = s.path("bad.csv");
    let long = "n".repeat(1025);
    write(
        &csv,
        &format!(
            "name,metadata,channels\nok-1,,c1\nok-2,\"{{\"\"a\"\":1}}\",c1\n{long},,\nok-4,[],\n"
        ),
    );
    s.cli("atom")
        .args(["--domain", &d, "provision", "fleet"])
        .arg(&csv)
        .arg("--atomic")
        .assert()
        .code(1)
        .stdout(predicate::str::is_empty())
        .stderr(predicate::str::contains("row 3: invalid name size"))
        .stderr(predicate::str::contains(
            "row 4: metadata must be a JSON object",
        ))
        .stderr(predicate::str::contains("nothing was sent"));
    assert_eq!(
        s.json("atom", &["--domain", &d, "clients", "list"])["total"],
        0
    );
    assert_eq!(
        s.json("atom", &["--domain", &d, "channels", "list"])["total"],
        0
    );

    // More rows than --max-batch: refused up front.
    let big = s.path("three.csv");
    write(&big, "name\na\nb\nc\n");
    s.cli("atom")
        .args(["--domain", &d, "provision", "fleet"])
        .arg(&big)
        .args(["--atomic", "--max-batch", "2"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--max-batch is 2"));
    // Above the server's cap: the bulk request fails whole, nothing is created.
    let s2 = Server::start_with(|st| st.bulk_max = 2);
    s2.user("atom");
    let d2 = s2.domain("atom", "atoms");
    let big2 = s2.path("three.csv");
    write(&big2, "name,channels\na,c\nb,c\nc,c\n");
    s2.cli("atom")
        .args(["--domain", &d2, "provision", "fleet"])
        .arg(&big2)
        .args(["--atomic", "--max-batch", "3"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("exceeds the limit of 2"));
    assert_eq!(
        s2.json("atom", &["--domain", &d2, "clients", "list"])["total"],
        0
    );
    // A failure after the clients were created (the channel bulk is over the cap):
    // --atomic deletes what it created; per-row mode retries the channels singly.
    let roll = s2.path("roll.csv");
    write(&roll, "name,channels\nr1,x;y\nr2,z\n");
    s2.cli("atom")
        .args(["--domain", &d2, "provision", "fleet"])
        .arg(&roll)
        .args(["--atomic", "--max-batch", "3"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "rolled back: deleted the 2 client(s)",
        ));
    let all = [
        "--domain",
        d2.as_str(),
        "clients",
        "list",
        "--status",
        "all",
    ];
    assert_eq!(s2.json("atom", &all)["total"], 0);
    assert_eq!(
        s2.json("atom", &["--domain", &d2, "channels", "list"])["total"],
        0
    );
    s2.cli("atom")
        .args(["--domain", &d2, "provision", "fleet"])
        .arg(&roll)
        .args(["--max-batch", "3"])
        .assert()
        .success();
    assert_eq!(s2.json("atom", &all)["total"], 2);
    assert_eq!(
        s2.json("atom", &["--domain", &d2, "channels", "list"])["total"],
        3
    );

    // A file the CLI cannot read as CSV at all.
    let odd = s.path("odd.csv");
    write(&odd, "nmae\nx\n");
    s.cli("atom")
        .args(["--domain", &d, "provision", "fleet"])
        .arg(&odd)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("unknown column"));
    s.cli("atom")
        .args(["--domain", &d, "provision", "fleet", "fleet.txt"])
        .assert()
        .code(2);
}

#[test]
fn fleet_of_ten_thousand_in_bulk() {
    let s = Server::start_with(|st| st.bulk_max = 10_000);
    s.user("big");
    let d = s.domain("big", "bigfleet");
    let csv = s.path("big.csv");
    let mut text = String::from("name,metadata,tags,channels,types\n");
    for i in 0..10_000 {
        let chans = if i % 2 == 0 { "even;all" } else { "odd;all" };
        text.push_str(&format!(
            "sensor-{i:05},\"{{\"\"n\"\":{i}}}\",fleet,{chans},publish\n"
        ));
    }
    write(&csv, &text);
    let started = Instant::now();
    let out = s
        .cli("big")
        .args(["--domain", &d, "provision", "fleet"])
        .arg(&csv)
        .args(["--atomic", "--max-batch", "10000"])
        .output()
        .unwrap();
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().count(), 10_001);
    // One bulk for the clients, one for the three channels, one connect per group.
    assert!(
        stderr.contains(
            "10000 client(s) created, 3 channel(s) created (0 existing), 2 connection request(s)"
        ),
        "{stderr}"
    );
    assert!(took < Duration::from_secs(60), "took {took:?}");
    eprintln!("10,000-row fleet took {took:?}");
    let all = s.json(
        "big",
        &["--domain", &d, "channels", "list", "--name", "all"],
    );
    let all_id = all["channels"][0]["id"].as_str().unwrap().to_string();
    let on_all = s.json(
        "big",
        &[
            "--domain",
            &d,
            "clients",
            "list",
            "--channel",
            &all_id,
            "--limit",
            "1",
        ],
    );
    assert_eq!(on_all["total"], 10_000);
    let filtered = s.json(
        "big",
        &[
            "--domain",
            &d,
            "clients",
            "list",
            "--metadata",
            r#"{"n":4242}"#,
        ],
    );
    assert_eq!(filtered["clients"][0]["name"], "sensor-04242");
}

#[test]
fn document_flow_mapping_and_bootstrap_fetch() {
    let s = Server::start();
    // Create user, token (login), domain.
    s.user("janedoe");
    let d = s.domain("janedoe", "acme");

    // Provision a gateway with the domain, and the document's /mapping without one
    // (the user's only domain is used).
    let m = s.json(
        "janedoe",
        &[
            "--domain",
            &d,
            "provision",
            "mapping",
            "--external-id",
            "02:42:ac:11:00:02",
            "--external-key",
            "k3y-1",
            "--name",
            "edge-gw",
        ],
    );
    let client = &m["clients"][0];
    assert_eq!(client["name"], "edge-gw");
    let client_id = client["id"].as_str().unwrap().to_string();
    let secret = client["credentials"]["secret"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(m["channels"].as_array().unwrap().len(), 2);
    let table = s.ok(
        "janedoe",
        &[
            "provision",
            "mapping",
            "--external-id",
            "02:42:ac:11:00:03",
            "--external-key",
            "k3y-2",
            "--name",
            "edge-gw-2",
        ],
    );
    assert!(
        table.contains("edge-gw-2") && table.contains("SECRET"),
        "{table}"
    );

    // The device fetches its config with its external key (no user token involved).
    let cfg = s.json(
        "device",
        &["bootstrap", "fetch", "02:42:ac:11:00:02", "--key", "k3y-1"],
    );
    assert_eq!(cfg["client_id"], client_id.as_str());
    assert_eq!(cfg["client_secret"], secret.as_str());
    assert_eq!(cfg["channels"].as_array().unwrap().len(), 2);
    // Default output is JSON; the key may come from the agent's variable.
    let out = s
        .cli("device")
        .env("MG_AGENT_BOOTSTRAP_KEY", "k3y-2")
        .args(["bootstrap", "fetch", "02:42:ac:11:00:03"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["client_id"].is_string());
    // Wrong key and unknown id: the server's answers.
    s.cli("device")
        .args(["bootstrap", "fetch", "02:42:ac:11:00:02", "--key", "wrong"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("(HTTP 403)"));
    s.cli("device")
        .args(["bootstrap", "fetch", "no-such-device", "--key", "k"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("entity not found"));
    // The provisioned client shows up in the listing.
    let listed = s.json(
        "janedoe",
        &["--domain", &d, "clients", "list", "--name", "edge-gw"],
    );
    assert_eq!(listed["total"], 2);
}

#[test]
fn completions_help_and_usage_errors() {
    let s = Server::start();
    for (shell, marker) in [
        ("bash", "complete -F _switchyard__cli"),
        ("zsh", "#compdef"),
        ("fish", "complete -c switchyard-cli"),
    ] {
        let out = s.ok("x", &["completions", shell]);
        assert!(out.contains(marker), "{shell}: {out}");
    }
    for args in [
        vec!["--help"],
        vec!["users", "create", "--help"],
        vec!["clients", "list", "--help"],
        vec!["channels", "connect", "--help"],
        vec!["provision", "fleet", "--help"],
        vec!["bootstrap", "fetch", "--help"],
        vec!["domains", "invitations", "send", "--help"],
        vec!["certs", "issue", "--help"],
        vec!["certs", "crl", "--help"],
        vec!["messages", "send", "--help"],
        vec!["messages", "subscribe", "--help"],
    ] {
        s.cli("x")
            .args(&args)
            .assert()
            .success()
            .stdout(predicate::str::contains("Example"));
    }
    s.cli("x").args(["clients", "frobnicate"]).assert().code(2);
    s.cli("x")
        .args(["--url", "ftp://nowhere", "users", "profile"])
        .assert()
        .code(2);
    s.cli("x")
        .args(["--domain", "not-a-uuid", "clients", "list", "--token", "t"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("UUID"));
    // Nothing listening: exit 1 with the cause.
    s.cli("x")
        .args(["--url", "http://127.0.0.1:1", "users", "token", "a", "b"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("cannot reach"));
}

/// A `messages subscribe` running alongside the test as a child process.
struct Subscriber {
    child: std::process::Child,
    stderr: std::sync::mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Server {
    fn subscribe(&self, profile: &str, args: &[&str]) -> Subscriber {
        use std::io::BufRead;
        let mut child = self
            .std_cli(profile)
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let err = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(err).lines() {
                let Ok(l) = line else { break };
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        Subscriber {
            child,
            stderr: rx,
            seen: Vec::new(),
        }
    }
}

impl Subscriber {
    /// Waits until it reports the subscription open (at most 10 s), then ~500 ms more.
    fn ready(&mut self) {
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(l) => {
                    let done = l.contains("subscribed to");
                    self.seen.push(l);
                    if done {
                        break;
                    }
                }
                Err(_) => {
                    let _ = self.child.kill();
                    panic!("the subscriber never got ready; stderr: {:?}", self.seen);
                }
            }
        }
        std::thread::sleep(Duration::from_millis(500));
    }

    /// Waits for it to exit (at most 20 s): exit code, stdout, stderr.
    fn finish(mut self) -> (Option<i32>, String, String) {
        use std::io::Read;
        let until = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                break st;
            }
            if Instant::now() > until {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("the subscriber did not exit; stderr: {:?}", self.seen);
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut out = String::new();
        self.child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        while let Ok(l) = self.stderr.recv_timeout(Duration::from_secs(2)) {
            self.seen.push(l);
        }
        (status.code(), out, self.seen.join("\n"))
    }
}

#[test]
fn certs_issue_list_get_revoke_renew_ca_crl() {
    let s = Server::start();
    s.user("op");
    let d = s.domain("op", "pki");
    let dom = ["--domain", d.as_str()];
    let run = |args: &[&str]| -> Value {
        let mut a = dom.to_vec();
        a.extend_from_slice(args);
        s.json("op", &a)
    };
    let client = run(&["clients", "create", "bulb"])["id"]
        .as_str()
        .unwrap()
        .to_string();

    // Issue: certificate, key and the entity id.
    let c1 = run(&[
        "certs",
        "issue",
        &client,
        "--ttl",
        "720h",
        "--common-name",
        "bulb-1",
    ]);
    let serial1 = c1["serial_number"].as_str().unwrap().to_string();
    assert!(!serial1.is_empty());
    assert!(
        c1["certificate"]
            .as_str()
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE-----"),
        "{c1}"
    );
    assert!(c1["key"].as_str().unwrap().contains("PRIVATE KEY"), "{c1}");
    assert_eq!(c1["revoked"], false);
    assert_eq!(c1["entity_id"], client.as_str());
    assert!(c1["expiry_time"].is_string());

    // Issue into files: the key file is private, neither PEM is printed.
    let (crt, key) = (s.path("bulb.crt"), s.path("bulb.key"));
    let c2 = run(&[
        "certs",
        "issue",
        &client,
        "--cert-out",
        crt.to_str().unwrap(),
        "--key-out",
        key.to_str().unwrap(),
    ]);
    let serial2 = c2["serial_number"].as_str().unwrap().to_string();
    assert!(
        c2.get("certificate").is_none() && c2.get("key").is_none(),
        "{c2}"
    );
    assert!(
        std::fs::read_to_string(&crt)
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE-----")
    );
    assert!(
        std::fs::read_to_string(&key)
            .unwrap()
            .contains("PRIVATE KEY")
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // List (by client, and as a table), view.
    let page = run(&["certs", "list", "--client", &client]);
    assert_eq!(page["total"], 2, "{page}");
    let mut serials: Vec<&str> = page["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["serial_number"].as_str().unwrap())
        .collect();
    serials.sort();
    let mut want = [serial1.as_str(), serial2.as_str()];
    want.sort();
    assert_eq!(serials, want);
    assert_eq!(
        run(&["certs", "list", "--limit", "1"])["certificates"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let table = s.ok("op", &["--domain", &d, "certs", "list"]);
    assert!(
        table.contains(&serial1) && table.contains("SERIAL") && table.contains("2 of 2"),
        "{table}"
    );
    let got = run(&["certs", "get", &serial1]);
    assert_eq!(got["serial_number"], serial1.as_str());
    assert_eq!(got["certificate"], c1["certificate"]);

    // The CRL grows when a certificate is revoked; DER to a file, base64 otherwise.
    let crl_before = s.ok("anyone", &["certs", "crl"]).trim().to_string();
    assert!(!crl_before.is_empty());
    let out = s.ok("op", &["--domain", &d, "certs", "revoke", &serial1]);
    assert!(out.contains("revoked"), "{out}");
    assert_eq!(run(&["certs", "get", &serial1])["revoked"], true);
    let crl_file = s.path("ca.crl");
    s.ok(
        "anyone",
        &["certs", "crl", "--out", crl_file.to_str().unwrap()],
    );
    let der = std::fs::read(&crl_file).unwrap();
    assert_eq!(der[0], 0x30, "not DER");
    let crl_json = s.json("anyone", &["certs", "crl"]);
    let crl_after = crl_json["crl"].as_str().unwrap();
    assert!(crl_after.len() > crl_before.len(), "the CRL did not grow");

    // Renew: a new serial, PEM (decoded), the old one revoked.
    let renewed = run(&["certs", "renew", &serial2]);
    let serial3 = renewed["serial_number"].as_str().unwrap();
    assert_ne!(serial3, serial2);
    assert!(
        renewed["certificate"]
            .as_str()
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE-----"),
        "{renewed}"
    );
    assert!(renewed["key"].as_str().unwrap().contains("PRIVATE KEY"));
    assert_eq!(run(&["certs", "get", &serial2])["revoked"], true);

    // The CA: PEM on stdout or to a file, no login needed.
    let ca = s.ok("anyone", &["certs", "ca"]);
    assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"), "{ca}");
    let ca_file = s.path("ca.crt");
    s.ok(
        "anyone",
        &["certs", "ca", "--out", ca_file.to_str().unwrap()],
    );
    assert_eq!(std::fs::read_to_string(&ca_file).unwrap().trim(), ca.trim());

    // Errors: unknown serial, unknown client, not logged in.
    s.cli("op")
        .args(["--domain", &d, "certs", "get", "00:no:such"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("HTTP 4"));
    s.cli("op")
        .args([
            "--domain",
            &d,
            "certs",
            "issue",
            "00000000-0000-0000-0000-000000000000",
        ])
        .assert()
        .code(1);
    s.cli("anyone")
        .args(["--domain", &d, "certs", "list"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not logged in"));
}

#[test]
fn messages_send_and_subscribe() {
    let s = Server::start();
    s.user("op");
    let d = s.domain("op", "plant");
    let run = |args: &[&str]| -> Value {
        let mut a = vec!["--domain", d.as_str()];
        a.extend_from_slice(args);
        s.json("op", &a)
    };
    let sensor = run(&["clients", "create", "sensor"]);
    let sensor_id = sensor["id"].as_str().unwrap().to_string();
    let secret = sensor["credentials"]["secret"]
        .as_str()
        .unwrap()
        .to_string();
    let stranger = run(&["clients", "create", "stranger"]);
    let stranger_secret = stranger["credentials"]["secret"]
        .as_str()
        .unwrap()
        .to_string();
    let ch = run(&["channels", "create", "telemetry"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    s.ok(
        "op",
        &[
            "--domain",
            &d,
            "channels",
            "connect",
            "--channel",
            &ch,
            "--client",
            &sensor_id,
            "--types",
            "publish,subscribe",
        ],
    );
    // Subscribe (child process), publish, see the payload, exit 0. The device needs
    // no login: only the domain and its secret.
    let payload = r#"[{"n":"temp","v":21.5}]"#;
    let mut sub = s.subscribe(
        "device",
        &[
            "--domain",
            &d,
            "messages",
            "subscribe",
            &ch,
            "--secret",
            &secret,
            "--count",
            "1",
            "--timeout",
            "10",
        ],
    );
    sub.ready();
    let out = s.ok(
        "device",
        &[
            "--domain", &d, "messages", "send", &ch, payload, "--secret", &secret,
        ],
    );
    assert_eq!(out, "");
    let (code, out, err) = sub.finish();
    assert_eq!(code, Some(0), "stderr: {err}");
    assert_eq!(out, format!("{payload}\n"));

    // Subtopic wildcard, JSON lines, Basic auth on both sides, stdin payload.
    let mut sub = s.subscribe(
        "device",
        &[
            "--domain",
            &d,
            "messages",
            "subscribe",
            &ch,
            "--client-id",
            &sensor_id,
            "--secret",
            &secret,
            "--subtopic",
            "lights/#",
            "--count",
            "2",
            "--timeout",
            "10",
            "-o",
            "json",
        ],
    );
    sub.ready();
    for (sub_topic, body) in [
        ("lights/kitchen", "on"),
        ("doors/front", "open"),
        ("lights/hall", "off"),
    ] {
        s.ok(
            "device",
            &[
                "--domain",
                &d,
                "messages",
                "send",
                &ch,
                body,
                "--client-id",
                &sensor_id,
                "--secret",
                &secret,
                "--subtopic",
                sub_topic,
                "--content-type",
                "text/plain",
            ],
        );
    }
    let (code, out, err) = sub.finish();
    assert_eq!(code, Some(0), "stderr: {err}");
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert_eq!(lines[0]["payload"], "on");
    assert_eq!(lines[1]["payload"], "off");
    assert!(lines[0]["received_at"].as_str().unwrap().contains('T'));
    s.cli("device")
        .args([
            "--domain", &d, "messages", "send", &ch, "-", "--secret", &secret,
        ])
        .write_stdin(r#"{"from":"stdin"}"#)
        .assert()
        .success();

    // Refused upgrades: the server's status, exit 1.
    s.cli("device")
        .args([
            "--domain",
            &d,
            "messages",
            "subscribe",
            &ch,
            "--secret",
            "wrong",
            "--timeout",
            "5",
        ])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("(HTTP 401)"));
    s.cli("device")
        .args([
            "--domain",
            &d,
            "messages",
            "subscribe",
            &ch,
            "--secret",
            &stranger_secret,
            "--timeout",
            "5",
        ])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("(HTTP 403)"));
    // Publishing is refused alike; a bad content type too.
    s.cli("device")
        .args([
            "--domain",
            &d,
            "messages",
            "send",
            &ch,
            "x",
            "--secret",
            &stranger_secret,
        ])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("(HTTP 403)"));
    s.cli("device")
        .args([
            "--domain", &d, "messages", "send", &ch, "x", "--secret", "wrong",
        ])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("(HTTP 401)"));
    s.cli("device")
        .args([
            "--domain",
            &d,
            "messages",
            "send",
            &ch,
            "x",
            "--secret",
            &secret,
            "--content-type",
            "image/png",
        ])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("(HTTP 415)"));
    // Ctrl-C (SIGINT) ends a subscription cleanly.
    #[cfg(unix)]
    {
        let mut sub = s.subscribe(
            "device",
            &[
                "--domain",
                &d,
                "messages",
                "subscribe",
                &ch,
                "--secret",
                &secret,
            ],
        );
        sub.ready();
        let pid = sub.child.id().to_string();
        let st = std::process::Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap();
        assert!(st.success());
        let (code, out, err) = sub.finish();
        assert_eq!(code, Some(0), "stderr: {err}");
        assert_eq!(out, "");
    }
    // --count not reached within --timeout: exit 1.
    s.cli("device")
        .args([
            "--domain",
            &d,
            "messages",
            "subscribe",
            &ch,
            "--secret",
            &secret,
            "--count",
            "1",
            "--timeout",
            "1",
        ])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("timed out"));
    // No domain: a usage error.
    s.cli("device")
        .args(["messages", "send", &ch, "x", "--secret", &secret])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no domain"));
}

/// A TLS-terminating proxy in front of the test server (certificate for 127.0.0.1
/// signed by a CA of its own); returns its https:// URL and the CA's PEM file.
fn tls_proxy(s: &Server) -> (String, PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "switchyard test CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &ca)
        .unwrap();
    let ca_file = s.path("proxy-ca.pem");
    std::fs::write(&ca_file, ca.as_ref().pem()).unwrap();

    let key = rustls::pki_types::PrivatePkcs8KeyDer::from(leaf_key.serialize_der());
    let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![leaf.der().clone()], key.into())
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let upstream = s.url.trim_start_matches("http://").to_string();
    let listener =
        s.rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
    let addr = listener.local_addr().unwrap();
    s.rt.spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let upstream = upstream.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut up) = tokio::net::TcpStream::connect(upstream).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
            });
        }
    });
    (format!("https://{addr}"), ca_file)
}

#[test]
fn messages_over_wss_with_cacert_or_insecure() {
    let s = Server::start();
    s.user("op");
    let d = s.domain("op", "tls");
    let c = s.json("op", &["--domain", &d, "clients", "create", "dev"]);
    let (cid, secret) = (
        c["id"].as_str().unwrap().to_string(),
        c["credentials"]["secret"].as_str().unwrap().to_string(),
    );
    let ch = s.json("op", &["--domain", &d, "channels", "create", "t"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    s.ok(
        "op",
        &[
            "--domain",
            &d,
            "channels",
            "connect",
            "--channel",
            &ch,
            "--client",
            &cid,
            "--types",
            "publish,subscribe",
        ],
    );
    let (https, ca) = tls_proxy(&s);
    let ca = ca.to_str().unwrap();

    for trust in [vec!["--cacert", ca], vec!["--insecure"]] {
        let mut args = vec![
            "--url",
            https.as_str(),
            "--domain",
            &d,
            "messages",
            "subscribe",
            &ch,
            "--secret",
            &secret,
            "--count",
            "1",
            "--timeout",
            "10",
        ];
        args.extend(trust.iter().copied());
        let mut sub = s.subscribe("device", &args);
        sub.ready();
        // Publishing through the proxy too (reqwest with the same --cacert).
        s.ok(
            "device",
            &[
                "--url", &https, "--cacert", ca, "--domain", &d, "messages", "send", &ch, "42",
                "--secret", &secret,
            ],
        );
        let (code, out, err) = sub.finish();
        assert_eq!(code, Some(0), "{trust:?}: {err}");
        assert_eq!(out, "42\n", "{trust:?}");
    }
    // Without the CA the certificate is refused.
    s.cli("device")
        .args([
            "--url",
            &https,
            "--domain",
            &d,
            "messages",
            "subscribe",
            &ch,
            "--secret",
            &secret,
            "--timeout",
            "5",
        ])
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("TLS handshake").and(predicate::str::contains("certificate")),
        );
}

/// The issue's end-to-end flow, driving only the CLI: create a user, get a token,
/// create a domain, provision a gateway, fetch its bootstrap as the device, send a
/// message and see it on `messages subscribe`.
#[test]
fn end_to_end_user_to_gateway_message() {
    let s = Server::start();
    // A user and a token (used explicitly: no login).
    s.json(
        "cli",
        &[
            "users",
            "create",
            "Gate",
            "Keeper",
            "gk@example.com",
            "gatekeeper",
            "12345678",
        ],
    );
    let pair = s.json("cli", &["users", "token", "gatekeeper", "12345678"]);
    let token = pair["access_token"].as_str().unwrap().to_string();
    let d = s.json(
        "cli",
        &[
            "--token", &token, "domains", "create", "yard", "--route", "yard",
        ],
    )["id"]
        .as_str()
        .unwrap()
        .to_string();

    // Provision the gateway.
    let m = s.json(
        "cli",
        &[
            "--token",
            &token,
            "--domain",
            &d,
            "provision",
            "mapping",
            "--external-id",
            "02:42:ac:11:00:09",
            "--external-key",
            "gw-k3y",
            "--name",
            "yard-gw",
        ],
    );
    let gw_secret = m["clients"][0]["credentials"]["secret"]
        .as_str()
        .unwrap()
        .to_string();

    // The device fetches its bootstrap config: its secret and channels.
    let cfg = s.json(
        "device",
        &["bootstrap", "fetch", "02:42:ac:11:00:09", "--key", "gw-k3y"],
    );
    assert_eq!(cfg["client_secret"], gw_secret.as_str());
    let channel = cfg["channels"][0]["id"].as_str().unwrap().to_string();

    // It subscribes and publishes with that secret.
    let mut sub = s.subscribe(
        "device",
        &[
            "--domain",
            &d,
            "messages",
            "subscribe",
            &channel,
            "--secret",
            &gw_secret,
            "--count",
            "1",
            "--timeout",
            "10",
        ],
    );
    sub.ready();
    let payload = r#"{"gateway":"yard-gw","up":true}"#;
    s.ok(
        "device",
        &[
            "--domain", &d, "messages", "send", &channel, payload, "--secret", &gw_secret,
        ],
    );
    let (code, out, err) = sub.finish();
    assert_eq!(code, Some(0), "stderr: {err}");
    assert_eq!(out.trim_end(), payload);
}
