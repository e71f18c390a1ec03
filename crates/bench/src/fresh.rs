//! api_list_channel: right after the bulk load, a quarter of the clients are connected
//! to one channel and one caller reads pages of `?channel=…&connection_type=publish` at
//! once — the query PostgreSQL planned from stale statistics (an estimate of one row,
//! 15–25 s a page over 40k clients) until something refreshed them. Target: p99 ≤ 20 ms
//! with no manual ANALYZE.

use std::sync::Arc;

use reqwest::header::AUTHORIZATION;
use serde_json::json;

use crate::{
    load::{self, LoadSpec, MakeRequest},
    report::{Row, Target},
    scenarios::{Outcome, Session, expect_json, expect_status, load_note},
};

/// Clients per connect request.
const CONNECT_BATCH: usize = 1000;

async fn prepare(http: &reqwest::Client, s: &Session, ids: &[String]) -> Result<String, String> {
    let (base, d) = (&s.base, &s.domain);
    let ch = expect_json(
        http.post(format!("{base}/{d}/channels"))
            .header(AUTHORIZATION, s.auth.clone())
            .json(&json!({"name": "fleet-uplink"}))
            .send()
            .await,
        "create channel",
        201,
    )
    .await?;
    let ch = ch["id"].as_str().ok_or("channel without id")?.to_string();
    let chosen: Vec<&String> = ids.iter().step_by(4).collect();
    for part in chosen.chunks(CONNECT_BATCH) {
        expect_status(
            http.post(format!("{base}/{d}/channels/{ch}/connect"))
                .header(AUTHORIZATION, s.auth.clone())
                .json(&json!({"client_ids": part, "types": ["publish"]}))
                .send()
                .await,
            "connect clients",
            201,
        )
        .await?;
    }
    Ok(ch)
}

pub(crate) async fn run(
    b: &str,
    spec: LoadSpec,
    http: &reqwest::Client,
    session: &Session,
    ids: &[String],
    out: &mut Outcome,
) {
    let name = format!("api_list_channel/{b}");
    let connected = ids.len().div_ceil(4);
    eprintln!(
        "[{b}] api_list_channel: connect {connected} clients to a channel, then GET ?channel=..&connection_type=publish at once"
    );
    let ch = match prepare(http, session, ids).await {
        Ok(ch) => ch,
        Err(e) => return out.fail(&name, e),
    };
    let urls: Arc<Vec<String>> = Arc::new(
        (0..20)
            .map(|page| {
                format!(
                    "{}/{}/clients?channel={ch}&connection_type=publish&limit=10&offset={}",
                    session.base,
                    session.domain,
                    page * 10
                )
            })
            .collect(),
    );
    // The very first page, timed alone: what a user sees right after the load.
    let first = std::time::Instant::now();
    let r = expect_json(
        http.get(&urls[0])
            .header(AUTHORIZATION, session.auth.clone())
            .send()
            .await,
        "first page",
        200,
    )
    .await;
    let first_ms = first.elapsed().as_secs_f64() * 1000.0;
    match r {
        Ok(v) if v["total"].as_u64() == Some(connected as u64) => {}
        Ok(v) => {
            return out.fail(&name, format!("total {} (wanted {connected})", v["total"]));
        }
        Err(e) => return out.fail(&name, e),
    }
    let single = LoadSpec { workers: 1, ..spec };
    let (h, auth, u) = (http.clone(), session.auth.clone(), urls.clone());
    let make: MakeRequest = Arc::new(move |r| {
        h.get(&u[(r % u.len() as u64) as usize])
            .header(AUTHORIZATION, auth.clone())
    });
    let res = load::run(single, make).await;
    load_note(out, &name, &res);
    if res.ok == 0 {
        return out.fail(&name, "no successful request");
    }
    out.rows.push(Row::new(
        "api_list_channel",
        b,
        first_ms,
        "ms first page",
        None,
        Some(Target::value_at_most(20.0)),
    ));
    out.rows.push(Row::new(
        "api_list_channel",
        b,
        res.percentile_ms(99.0),
        "ms p99",
        None,
        Some(Target::value_at_most(20.0)),
    ));
}
