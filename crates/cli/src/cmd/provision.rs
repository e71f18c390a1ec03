//! `provision …`: the `/mapping` gateway flow (contract §10) and `fleet`, which
//! creates many clients from a file with the bulk endpoints:
//!
//! 1. every row is validated locally (nothing is sent if `--atomic` and one is bad);
//! 2. `POST /{d}/clients/bulk` in batches of `--max-batch` (one request with
//!    `--atomic`; a failed batch is retried row by row otherwise);
//! 3. existing channels are listed, missing names created with `POST /{d}/channels/bulk`;
//! 4. `POST /{d}/channels/connect`, one request per (channels, types) group.
//!
//! Results (row, id, name, secret) go to stdout, progress and failures to stderr.
//! With `--atomic` a failure after clients were created deletes what this run created.

use std::{
    collections::{BTreeMap, HashMap},
    path::PathBuf,
};

use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use reqwest::Method;
use serde::Serialize;
use serde_json::Value;
use switchyard_api_types::{
    ChannelReq, ChannelsPage, ClientReq, ClientRes, ClientsPage, ConnectionReq,
};

use super::{entity::Kind, seg};
use crate::{
    api::{Api, Auth},
    error::{CliError, CliResult},
    fleet::{self, FileFormat, Row},
    output::{self, Format},
};

#[derive(Debug, Subcommand)]
pub enum ProvisionCmd {
    /// Provision a gateway (clients, channels, bootstrap config) in one transaction:
    /// POST /{domain}/mapping, or /mapping without --domain
    #[command(
        after_help = "Example:\n  switchyard-cli --domain <DOMAIN_ID> provision mapping --external-id 02:42:ac:11:00:02 --external-key k3y --name edge-gw\n  switchyard-cli provision mapping --external-id 02:42:ac:11:00:02 --external-key k3y -o json"
    )]
    Mapping {
        /// The device's external id (e.g. its MAC address)
        #[arg(long)]
        external_id: String,
        /// The device's external key (what it fetches its bootstrap config with)
        #[arg(long)]
        external_key: String,
        /// Name of the created clients (channels are named <name>_<layout channel>)
        #[arg(long)]
        name: Option<String>,
    },
    /// Create the clients (and channels, and connections) listed in a CSV, JSON or TOML file
    #[command(after_help = FLEET_HELP)]
    Fleet(FleetArgs),
}

const FLEET_HELP: &str = "\
File columns (CSV header; the same keys in JSON objects or TOML [[clients]] tables):
  name       client name (at most 1024 bytes)
  metadata   a JSON object, e.g. {\"room\":\"kitchen\"}
  tags       ';'-separated, e.g. home;light
  channels   ';'-separated channel names to connect the client to (created if missing)
  types      publish, subscribe or publish;subscribe (default both when channels are given)

Output: one line per created client (row, id, name, secret) as CSV, or -o json.
Exit code 1 when any row failed (the failures are listed on stderr).

Example:
  printf 'name,metadata,tags,channels,types\\nbulb-1,\"{\"\"room\"\":\"\"hall\"\"}\",home,telemetry,publish\\n' > fleet.csv
  switchyard-cli --domain <DOMAIN_ID> provision fleet fleet.csv > secrets.csv
  switchyard-cli --domain <DOMAIN_ID> provision fleet fleet.json --atomic -o json
  switchyard-cli provision fleet fleet.toml --dry-run";

#[derive(Debug, Args)]
pub struct FleetArgs {
    /// The fleet file (.csv, .json or .toml)
    pub file: PathBuf,
    /// All clients in one bulk request: all or nothing (a bad row aborts before any
    /// request; a later failure deletes what was created)
    #[arg(long)]
    pub atomic: bool,
    /// Print what would be created and send nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Clients per bulk request; with --atomic, the most the file may hold. The server
    /// refuses bulks above SWITCHYARD_BULK_MAX (default 1000)
    #[arg(long, alias = "batch", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_batch: u64,
    /// File format, when the extension does not tell
    #[arg(long, value_enum)]
    pub format: Option<FileFormat>,
}

pub async fn run(api: &mut Api, f: Option<Format>, c: ProvisionCmd) -> CliResult<i32> {
    match c {
        ProvisionCmd::Mapping {
            external_id,
            external_key,
            name,
        } => {
            mapping(api, f, &external_id, &external_key, name.as_deref()).await?;
            Ok(0)
        }
        ProvisionCmd::Fleet(a) => fleet(api, f.unwrap_or(Format::Csv), a).await,
    }
}

async fn mapping(
    api: &mut Api,
    f: Option<Format>,
    external_id: &str,
    external_key: &str,
    name: Option<&str>,
) -> CliResult<()> {
    let path = match api.settings.domain.is_some() {
        true => format!("/{}/mapping", seg(&super::domain(api)?)),
        false => "/mapping".to_string(),
    };
    let req = switchyard_api_types::MappingReq {
        name: name.unwrap_or_default().to_string(),
        external_id: external_id.to_string(),
        external_key: external_key.to_string(),
    };
    // Bearer when configured; without one the server may use its own provision
    // credentials (MG_PROVISION_API_KEY / USERNAME+PASS).
    let v = api
        .send(Method::POST, &path, &[], Some(&req), Auth::OptionalBearer)
        .await?
        .json()?;
    let f = super::fmt(f);
    output::print_with(f, &v, |f| {
        let mut s = String::new();
        let rows_of = |key: &str, cols: &[(&str, &str)]| -> Vec<Vec<String>> {
            v.get(key)
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .map(|it| cols.iter().map(|c| output::cell(it.pointer(c.1))).collect())
                        .collect()
                })
                .unwrap_or_default()
        };
        let ccols = [
            ("ID", "/id"),
            ("NAME", "/name"),
            ("SECRET", "/credentials/secret"),
        ];
        let hcols = [("ID", "/id"), ("NAME", "/name"), ("METADATA", "/metadata")];
        if f == Format::Table {
            s.push_str("clients:\n");
        }
        s.push_str(&output::rows(
            f,
            &ccols.map(|c| c.0),
            &rows_of("clients", &ccols),
        )?);
        if f == Format::Table {
            s.push_str("channels:\n");
        }
        s.push_str(&output::rows(
            f,
            &hcols.map(|c| c.0),
            &rows_of("channels", &hcols),
        )?);
        Ok(s)
    })
}

/// One created client, as printed.
#[derive(Debug, Clone, Serialize)]
struct Created {
    row: usize,
    id: String,
    name: String,
    secret: String,
}

struct Fleet<'a> {
    api: &'a mut Api,
    domain: String,
    atomic: bool,
    batch: usize,
    bar: ProgressBar,
    created: Vec<Created>,
    /// Row number → what went wrong.
    failures: BTreeMap<usize, String>,
    /// Channels this run created (deleted again on an atomic rollback).
    new_channels: Vec<String>,
    existing_channels: usize,
    connections: usize,
}

/// (channel ids, connection types): rows sharing both are connected in one request.
type GroupKey = (Vec<String>, Vec<String>);

/// An error that stops the whole run (authentication, transport, or anything in
/// --atomic mode).
struct Fatal(CliError);

fn is_fatal(e: &CliError) -> bool {
    !matches!(e.status(), Some(s) if s != 401 && s != 403)
}

fn client_req(r: &Row) -> ClientReq {
    ClientReq {
        name: r.name.clone(),
        tags: r.tags.clone(),
        metadata: r.metadata.clone(),
        ..ClientReq::default()
    }
}

async fn fleet(api: &mut Api, f: Format, a: FleetArgs) -> CliResult<i32> {
    let parsed = fleet::load(&a.file, a.format)?;
    if parsed.is_empty() {
        return Err(CliError::other(format!(
            "{}: no rows to provision",
            a.file.display()
        )));
    }
    let batch = usize::try_from(a.max_batch).unwrap_or(usize::MAX);
    if a.atomic && !parsed.errors.is_empty() {
        for e in &parsed.errors {
            eprintln!("{e}");
        }
        return Err(CliError::other(format!(
            "{} invalid row(s) in {} (first: row {}); --atomic: nothing was sent",
            parsed.errors.len(),
            a.file.display(),
            parsed.errors[0].row
        )));
    }
    if a.atomic && parsed.rows.len() > batch {
        return Err(CliError::usage(format!(
            "--atomic: {} has {} rows but --max-batch is {batch}; an atomic fleet is one bulk \
             request, and the server caps a bulk at SWITCHYARD_BULK_MAX (default 1000). Raise \
             both, or drop --atomic to create it in batches",
            a.file.display(),
            parsed.rows.len()
        )));
    }
    if a.dry_run {
        return dry_run(f, &parsed, batch);
    }
    let domain = super::domain(api)?;
    if parsed.rows.is_empty() {
        for e in &parsed.errors {
            eprintln!("{e}");
        }
        return Err(CliError::other(
            "no valid row to provision; nothing was sent",
        ));
    }

    let with_channels = parsed
        .rows
        .iter()
        .filter(|r| !r.channels.is_empty())
        .count();
    let bar = ProgressBar::new((parsed.rows.len() + with_channels) as u64);
    bar.set_style(
        ProgressStyle::with_template("{msg:>10} [{bar:40}] {pos}/{len} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let mut run = Fleet {
        api,
        domain,
        atomic: a.atomic,
        batch,
        bar,
        created: Vec::new(),
        failures: BTreeMap::new(),
        new_channels: Vec::new(),
        existing_channels: 0,
        connections: 0,
    };
    for e in &parsed.errors {
        run.failures.insert(e.row, e.message.clone());
    }
    let outcome = run.go(&parsed.rows).await;
    run.bar.finish_and_clear();
    let fatal = match outcome {
        Ok(()) => None,
        Err(Fatal(e)) if run.atomic && !run.created.is_empty() => {
            let e = CliError::other(format!("{e}; {}", run.rollback().await));
            run.created.clear();
            Some(e)
        }
        Err(Fatal(e)) => Some(e),
    };
    print_created(f, &run.created)?;
    eprintln!(
        "fleet: {} client(s) created, {} channel(s) created ({} existing), {} connection \
         request(s)",
        run.created.len(),
        run.new_channels.len(),
        run.existing_channels,
        run.connections
    );
    if !run.failures.is_empty() {
        eprintln!("{} row(s) failed:", run.failures.len());
        for (row, msg) in &run.failures {
            eprintln!("  row {row}: {msg}");
        }
    }
    match fatal {
        Some(e) => Err(e),
        None if run.failures.is_empty() => Ok(0),
        None => Ok(1),
    }
}

fn print_created(f: Format, created: &[Created]) -> CliResult<()> {
    let v = serde_json::to_value(created).unwrap_or(Value::Null);
    output::print_with(f, &v, |f| {
        let rows: Vec<Vec<String>> = created
            .iter()
            .map(|c| {
                vec![
                    c.row.to_string(),
                    c.id.clone(),
                    c.name.clone(),
                    c.secret.clone(),
                ]
            })
            .collect();
        output::rows(f, &["ROW", "ID", "NAME", "SECRET"], &rows)
    })
}

fn dry_run(f: Format, parsed: &fleet::Parsed, batch: usize) -> CliResult<i32> {
    let v = serde_json::to_value(&parsed.rows).unwrap_or(Value::Null);
    output::print_with(f, &v, |f| {
        let rows: Vec<Vec<String>> = parsed
            .rows
            .iter()
            .map(|r| {
                vec![
                    r.row.to_string(),
                    r.name.clone(),
                    r.tags.join(";"),
                    r.channels.join(";"),
                    r.types.join(";"),
                    if r.metadata.is_empty() {
                        String::new()
                    } else {
                        Value::Object(r.metadata.clone()).to_string()
                    },
                ]
            })
            .collect();
        output::rows(
            f,
            &["ROW", "NAME", "TAGS", "CHANNELS", "TYPES", "METADATA"],
            &rows,
        )
    })?;
    let mut channels: Vec<&str> = parsed
        .rows
        .iter()
        .flat_map(|r| r.channels.iter().map(String::as_str))
        .collect();
    channels.sort_unstable();
    channels.dedup();
    eprintln!(
        "dry run: {} client(s) in {} bulk request(s) of at most {batch}; {} channel name(s) \
         referenced (created if missing){}; nothing was sent",
        parsed.rows.len(),
        parsed.rows.len().div_ceil(batch),
        channels.len(),
        if channels.is_empty() {
            String::new()
        } else {
            format!(": {}", channels.join(", "))
        }
    );
    for e in &parsed.errors {
        eprintln!("invalid {e}");
    }
    Ok(if parsed.errors.is_empty() { 0 } else { 1 })
}

impl Fleet<'_> {
    async fn go(&mut self, rows: &[Row]) -> Result<(), Fatal> {
        // 1. Clients. `ids[i]` is the id of rows[i] when created.
        self.bar.set_message("clients");
        let mut ids: Vec<Option<String>> = vec![None; rows.len()];
        for (chunk_no, chunk) in rows.chunks(self.batch).enumerate() {
            let base = chunk_no * self.batch;
            let reqs: Vec<ClientReq> = chunk.iter().map(client_req).collect();
            let path = format!("{}/bulk", Kind::Clients.collection(&self.domain));
            match self.send(&path, &reqs).await {
                Ok(v) => {
                    let page: ClientsPage = serde_json::from_value(v).map_err(|e| {
                        Fatal(CliError::other(format!("unexpected bulk answer: {e}")))
                    })?;
                    if page.clients.len() != chunk.len() {
                        return Err(Fatal(CliError::other(format!(
                            "the server created {} clients for a batch of {}",
                            page.clients.len(),
                            chunk.len()
                        ))));
                    }
                    for (i, (row, c)) in chunk.iter().zip(page.clients).enumerate() {
                        ids[base + i] = Some(c.id.clone());
                        self.record(row, c);
                    }
                }
                Err(e) if self.atomic || is_fatal(&e) => return Err(Fatal(item_to_row(e, chunk))),
                Err(e) => {
                    self.bar.suspend(|| {
                        eprintln!(
                            "batch of rows {}..{} failed ({e}); creating them one by one",
                            chunk[0].row,
                            chunk[chunk.len() - 1].row
                        )
                    });
                    for (i, row) in chunk.iter().enumerate() {
                        let path = Kind::Clients.collection(&self.domain);
                        match self.send(&path, &client_req(row)).await {
                            Ok(v) => {
                                let c: ClientRes = serde_json::from_value(v).map_err(|e| {
                                    Fatal(CliError::other(format!("unexpected answer: {e}")))
                                })?;
                                ids[base + i] = Some(c.id.clone());
                                self.record(row, c);
                            }
                            Err(e) if is_fatal(&e) => return Err(Fatal(e)),
                            Err(e) => {
                                self.failures.insert(row.row, server_msg(&e));
                                self.bar.inc(1);
                            }
                        }
                    }
                }
            }
        }

        // 2. Channels: reuse existing ones by name, create the missing.
        let mut wanted: Vec<&str> = Vec::new();
        for (r, id) in rows.iter().zip(&ids) {
            if id.is_some() {
                for c in &r.channels {
                    if !wanted.contains(&c.as_str()) {
                        wanted.push(c);
                    }
                }
            }
        }
        if wanted.is_empty() {
            return Ok(());
        }
        self.bar.set_message("channels");
        let mut by_name = self.existing_channels().await?;
        let missing: Vec<&str> = wanted
            .iter()
            .copied()
            .filter(|n| !by_name.contains_key(*n))
            .collect();
        self.existing_channels = wanted.len() - missing.len();
        let mut bad_channels: HashMap<String, String> = HashMap::new();
        for chunk in missing.chunks(self.batch) {
            let reqs: Vec<ChannelReq> = chunk
                .iter()
                .map(|n| ChannelReq {
                    name: n.to_string(),
                    ..ChannelReq::default()
                })
                .collect();
            let path = format!("{}/bulk", Kind::Channels.collection(&self.domain));
            match self.send(&path, &reqs).await {
                Ok(v) => {
                    let page: ChannelsPage = serde_json::from_value(v).map_err(|e| {
                        Fatal(CliError::other(format!("unexpected bulk answer: {e}")))
                    })?;
                    for (n, c) in chunk.iter().zip(page.channels) {
                        self.new_channels.push(c.id.clone());
                        by_name.insert(n.to_string(), c.id);
                    }
                }
                Err(e) if self.atomic || is_fatal(&e) => return Err(Fatal(e)),
                Err(_) => {
                    for n in chunk {
                        let path = Kind::Channels.collection(&self.domain);
                        let req = ChannelReq {
                            name: n.to_string(),
                            ..ChannelReq::default()
                        };
                        match self.send(&path, &req).await {
                            Ok(v) => {
                                let id = v
                                    .get("id")
                                    .and_then(Value::as_str)
                                    .unwrap_or_default()
                                    .to_string();
                                self.new_channels.push(id.clone());
                                by_name.insert(n.to_string(), id);
                            }
                            Err(e) if is_fatal(&e) => return Err(Fatal(e)),
                            Err(e) => {
                                bad_channels.insert(n.to_string(), server_msg(&e));
                            }
                        }
                    }
                }
            }
        }

        // 3. Connections, grouped by (channel ids, types).
        self.bar.set_message("connecting");
        let mut groups: BTreeMap<GroupKey, Vec<(usize, String)>> = BTreeMap::new();
        for (r, id) in rows.iter().zip(&ids) {
            let Some(id) = id else { continue };
            if r.channels.is_empty() {
                continue;
            }
            let mut chs = Vec::new();
            for n in &r.channels {
                match by_name.get(n) {
                    Some(c) => chs.push(c.clone()),
                    None => {
                        let why = bad_channels
                            .get(n)
                            .cloned()
                            .unwrap_or_else(|| "not created".into());
                        self.failures.insert(
                            r.row,
                            format!("client {id} created, but channel {n:?} failed: {why}"),
                        );
                    }
                }
            }
            if chs.is_empty() {
                self.bar.inc(1);
                continue;
            }
            chs.sort();
            groups
                .entry((chs, r.types.clone()))
                .or_default()
                .push((r.row, id.clone()));
        }
        let path = format!("{}/connect", Kind::Channels.collection(&self.domain));
        for ((channels, types), members) in groups {
            for chunk in members.chunks(self.batch) {
                let req = ConnectionReq {
                    channel_ids: channels.clone(),
                    client_ids: chunk.iter().map(|m| m.1.clone()).collect(),
                    types: types.clone(),
                };
                self.connections += 1;
                match self.send(&path, &req).await {
                    Ok(_) => self.bar.inc(chunk.len() as u64),
                    Err(e) if self.atomic || is_fatal(&e) => return Err(Fatal(e)),
                    Err(_) => {
                        for (row, id) in chunk {
                            let one = ConnectionReq {
                                client_ids: vec![id.clone()],
                                ..req.clone()
                            };
                            self.connections += 1;
                            match self.send(&path, &one).await {
                                Ok(_) => {}
                                Err(e) if is_fatal(&e) => return Err(Fatal(e)),
                                Err(e) => {
                                    self.failures.insert(
                                        *row,
                                        format!(
                                            "client {id} created, but not connected: {}",
                                            server_msg(&e)
                                        ),
                                    );
                                }
                            }
                            self.bar.inc(1);
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn record(&mut self, row: &Row, c: ClientRes) {
        self.created.push(Created {
            row: row.row,
            id: c.id,
            name: c.name,
            secret: c.credentials.secret,
        });
        self.bar.inc(1);
    }

    async fn send<B: Serialize + ?Sized>(&mut self, path: &str, body: &B) -> CliResult<Value> {
        self.api
            .send(Method::POST, path, &[], Some(body), Auth::Bearer)
            .await?
            .json()
    }

    /// Every channel of the domain, by name (paged, any status).
    async fn existing_channels(&mut self) -> Result<HashMap<String, String>, Fatal> {
        let mut out = HashMap::new();
        let mut offset = 0u64;
        let path = Kind::Channels.collection(&self.domain);
        loop {
            let q = vec![
                ("offset".to_string(), offset.to_string()),
                ("limit".to_string(), "100".to_string()),
                ("status".to_string(), "all".to_string()),
            ];
            let v = self.api.get(&path, &q).await.map_err(Fatal)?;
            let page: ChannelsPage = serde_json::from_value(v)
                .map_err(|e| Fatal(CliError::other(format!("unexpected list answer: {e}"))))?;
            let n = page.channels.len() as u64;
            for c in page.channels {
                out.entry(c.name).or_insert(c.id);
            }
            offset += n;
            if n == 0 || offset >= page.total {
                return Ok(out);
            }
        }
    }

    /// Deletes what this run created (atomic mode); says what it did.
    async fn rollback(&mut self) -> String {
        let d = self.domain.clone();
        let mut left = 0usize;
        let channels = std::mem::take(&mut self.new_channels);
        let clients: Vec<String> = self.created.iter().map(|c| c.id.clone()).collect();
        self.bar.suspend(|| {
            eprintln!(
                "--atomic: rolling back {} client(s) and {} channel(s)",
                clients.len(),
                channels.len()
            )
        });
        for (kind, ids) in [(Kind::Clients, &clients), (Kind::Channels, &channels)] {
            for id in ids {
                if self.api.delete(&kind.item(&d, id)).await.is_err() {
                    left += 1;
                    eprintln!("rollback: could not delete {} {id}", kind.singular());
                }
            }
        }
        if left == 0 {
            format!(
                "rolled back: deleted the {} client(s) and {} channel(s) this run created",
                clients.len(),
                channels.len()
            )
        } else {
            format!("rollback incomplete: {left} entit(ies) could not be deleted (listed above)")
        }
    }
}

/// The server names a bad bulk item by its index in the request, `(item N)`; add
/// the file's row number.
fn item_to_row(e: CliError, chunk: &[Row]) -> CliError {
    let CliError::Server { status, message } = e else {
        return e;
    };
    let row = message
        .rsplit_once("(item ")
        .and_then(|(_, rest)| rest.strip_suffix(')'))
        .and_then(|n| n.parse::<usize>().ok())
        .and_then(|i| chunk.get(i));
    let message = match row {
        Some(r) => format!("{message}: row {} of the file", r.row),
        None => message,
    };
    CliError::Server { status, message }
}

fn server_msg(e: &CliError) -> String {
    e.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bulk_items_are_named_by_row() {
        let row = |n: usize| Row {
            row: n,
            name: String::new(),
            metadata: Default::default(),
            tags: vec![],
            channels: vec![],
            types: vec![],
        };
        let chunk = [row(7), row(9)];
        let e = CliError::Server {
            status: 400,
            message: "invalid name size (item 1)".into(),
        };
        assert_eq!(
            item_to_row(e, &chunk).to_string(),
            "invalid name size (item 1): row 9 of the file (HTTP 400)"
        );
        let e = CliError::Server {
            status: 400,
            message: "other".into(),
        };
        assert_eq!(item_to_row(e, &chunk).to_string(), "other (HTTP 400)");
        assert!(is_fatal(&CliError::other("x")));
        assert!(is_fatal(&CliError::Server {
            status: 401,
            message: String::new()
        }));
        assert!(!is_fatal(&CliError::Server {
            status: 413,
            message: String::new()
        }));
    }
}
