//! api_list_shared and api_read_shared: a domain member who reaches the bulk clients
//! only through a role on the root of a group tree (groups of ~100 clients, depth 5),
//! listing and reading them. Compared with the same list done by the domain admin
//! (api_list) and with `/health` (api_read_shared), so the visibility filter's cost
//! shows as a ratio.

use std::sync::Arc;

use reqwest::header::{AUTHORIZATION, HeaderValue};
use serde_json::json;
use tokio::task::JoinSet;

use crate::scenarios::Outcome;
use crate::{
    load::{self, LoadSpec, MakeRequest},
    report::{Row, Target},
    scenarios::{Health, Session, Sizes, expect_json, expect_status, load_note},
};

/// Children per group: 1 + 6 + 36 + 216 + 1296 groups fill five levels.
const FANOUT: usize = 6;
/// Concurrent requests while placing clients into groups.
const PARALLEL: usize = 32;

/// A second user, invited into the admin's domain as a plain member.
async fn member(http: &reqwest::Client, admin: &Session) -> Result<(String, HeaderValue), String> {
    let base = &admin.base;
    let (id, auth) = crate::scenarios::new_user(http, base, "reader").await?;
    expect_status(
        http.post(format!("{base}/domains/{}/invitations", admin.domain))
            .header(AUTHORIZATION, admin.auth.clone())
            .json(&json!({"invitee_user_id": id, "role_id": "member"}))
            .send()
            .await,
        "invite member",
        201,
    )
    .await?;
    expect_status(
        http.post(format!("{base}/invitations/accept"))
            .header(AUTHORIZATION, auth.clone())
            .json(&json!({"domain_id": admin.domain}))
            .send()
            .await,
        "accept invitation",
        204,
    )
    .await?;
    Ok((id, auth))
}

/// Builds the tree (`n` groups, each group's parent `(i - 1) / FANOUT`), places client
/// `i` in group `i % n`, and gives `member` client_read + subgroup_client_read on the
/// root. Returns the root's id.
async fn share(
    http: &reqwest::Client,
    s: &Session,
    ids: &[String],
    n: usize,
    member: &str,
) -> Result<String, String> {
    let url = format!("{}/{}/groups", s.base, s.domain);
    let mut groups: Vec<String> = Vec::with_capacity(n);
    for i in 0..n {
        let mut body = json!({"name": format!("g-{i:05}")});
        if i > 0 {
            body["parent_id"] = json!(groups[(i - 1) / FANOUT]);
        }
        let g = expect_json(
            http.post(&url)
                .header(AUTHORIZATION, s.auth.clone())
                .json(&body)
                .send()
                .await,
            "POST groups",
            201,
        )
        .await?;
        groups.push(g["id"].as_str().ok_or("no group id")?.to_string());
    }
    let groups = Arc::new(groups);
    for (c, chunk) in ids.chunks(PARALLEL).enumerate() {
        let mut set = JoinSet::new();
        for (k, id) in chunk.iter().enumerate() {
            let i = c * PARALLEL + k;
            let req = http
                .post(format!("{}/{}/clients/{id}/parent", s.base, s.domain))
                .header(AUTHORIZATION, s.auth.clone())
                .json(&json!({"parent_group_id": groups[i % groups.len()]}));
            set.spawn(async move { expect_status(req.send().await, "set parent", 200).await });
        }
        while let Some(r) = set.join_next().await {
            r.map_err(|e| e.to_string())??;
        }
    }
    let root = groups[0].clone();
    expect_status(
        http.post(format!("{}/{}/groups/{root}/roles", s.base, s.domain))
            .header(AUTHORIZATION, s.auth.clone())
            .json(&json!({
                "role_name": "fleet-readers",
                "optional_actions": ["client_read", "subgroup_client_read"],
                "optional_members": [member],
            }))
            .send()
            .await,
        "POST group role",
        201,
    )
    .await?;
    Ok(root)
}

#[allow(clippy::too_many_arguments)]
pub(crate) async fn run(
    b: &str,
    sizes: Sizes,
    spec: LoadSpec,
    http: &reqwest::Client,
    admin: &Session,
    ids: &[String],
    admin_list_rps: Option<f64>,
    base: Health,
    out: &mut Outcome,
) {
    let what = format!("api_list_shared/{b}");
    let (member_id, auth) = match member(http, admin).await {
        Ok(m) => m,
        Err(e) => return out.fail(&what, e),
    };
    let n = (ids.len() / 100).max(1);
    eprintln!(
        "[{b}] api_list_shared: {} clients in {n} groups (depth {}), shared with a member through the root",
        ids.len(),
        depth(n)
    );
    if let Err(e) = share(http, admin, ids, n, &member_id).await {
        return out.fail(&what, e);
    }
    let member = Session {
        base: admin.base.clone(),
        auth,
        domain: admin.domain.clone(),
    };
    // The same filtered lists as api_list, now as the member.
    let metadata = r#"{"kind":"sensor"}"#;
    match crate::scenarios::list_total(
        http,
        &member,
        &[
            ("limit", "10"),
            ("name", "dev-0001"),
            ("metadata", metadata),
        ],
    )
    .await
    {
        Ok((50, 10)) => {}
        Ok((t, k)) => {
            return out.fail(
                &what,
                format!("the member's list matched total={t} with {k} items; expected 50 with 10"),
            );
        }
        Err(e) => return out.fail(&what, e),
    }
    let urls: Arc<Vec<String>> = Arc::new(crate::scenarios::list_urls(&member, sizes));
    let (h, a) = (http.clone(), member.auth.clone());
    let make: MakeRequest = Arc::new(move |r| {
        h.get(&urls[(r % urls.len() as u64) as usize])
            .header(AUTHORIZATION, a.clone())
    });
    let list = load::run(spec, make).await;
    load_note(out, &what, &list);
    if list.ok > 0 {
        out.rows.push(Row::new(
            "api_list_shared",
            b,
            list.rps(),
            "req/s",
            admin_list_rps,
            Some(Target::ratio_at_least(0.5)),
        ));
    } else {
        out.fail(&what, "no successful request");
    }

    let what = format!("api_read_shared/{b}");
    let step = (ids.len() / 10_000).max(1);
    let reads: Arc<Vec<String>> = Arc::new(
        ids.iter()
            .step_by(step)
            .map(|id| format!("{}/{}/clients/{id}", member.base, member.domain))
            .collect(),
    );
    let (h, a) = (http.clone(), member.auth.clone());
    let make: MakeRequest = Arc::new(move |r| {
        h.get(&reads[(r % reads.len() as u64) as usize])
            .header(AUTHORIZATION, a.clone())
    });
    let read = load::run(spec, make).await;
    load_note(out, &what, &read);
    if read.ok > 0 {
        out.rows.push(Row::new(
            "api_read_shared",
            b,
            read.rps(),
            "req/s",
            base.rps,
            Some(Target::ratio_at_least(0.5)),
        ));
    } else {
        out.fail(&what, "no successful request");
    }
}

/// Levels of a tree of `n` groups with [`FANOUT`] children each.
fn depth(n: usize) -> usize {
    let (mut levels, mut filled, mut width) = (0, 0, 1);
    while filled < n {
        filled += width;
        width *= FANOUT;
        levels += 1;
    }
    levels
}
