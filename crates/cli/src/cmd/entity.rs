//! What clients and channels share: list filters, status changes, delete, and the
//! connect/disconnect requests (contract §5, §6).

use clap::Args;
use reqwest::Method;
use serde_json::Value;
use switchyard_api_types::{ConnectionReq, Metadata};

use super::{Page, json_object, list_pages, opt, seg, split_list};
use crate::{
    api::{Api, Auth},
    error::CliResult,
    output::{self, Col, Format},
};

/// The resource: `clients` or `channels` (its path segment and item key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Clients,
    Channels,
}

impl Kind {
    pub fn plural(self) -> &'static str {
        match self {
            Kind::Clients => "clients",
            Kind::Channels => "channels",
        }
    }
    pub fn singular(self) -> &'static str {
        match self {
            Kind::Clients => "client",
            Kind::Channels => "channel",
        }
    }
    pub fn collection(self, domain: &str) -> String {
        format!("/{}/{}", seg(domain), self.plural())
    }
    pub fn item(self, domain: &str, id: &str) -> String {
        format!("{}/{}", self.collection(domain), seg(id))
    }
}

/// Filters of `GET /{d}/clients` and `GET /{d}/channels`.
#[derive(Debug, Clone, Default, Args)]
pub struct Filters {
    #[command(flatten)]
    pub page: Page,
    /// Name (case-insensitive substring)
    #[arg(long)]
    pub name: Option<String>,
    /// Metadata containment filter (a JSON object; any part of the metadata)
    #[arg(long, value_parser = json_object)]
    pub metadata: Option<Metadata>,
    /// Tags: `a,b` any of, `a+b` all of
    #[arg(long)]
    pub tags: Option<String>,
    /// enabled (default), disabled, deleted or all
    #[arg(long, value_parser = ["enabled", "disabled", "deleted", "all"])]
    pub status: Option<String>,
    /// Sort key
    #[arg(long, value_parser = ["name", "created_at", "updated_at"])]
    pub order: Option<String>,
    /// Sort direction
    #[arg(long, value_parser = ["asc", "desc"])]
    pub dir: Option<String>,
    /// With --channel/--client: only connections of this type
    #[arg(long, value_parser = ["publish", "subscribe"])]
    pub connection_type: Option<String>,
}

impl Filters {
    pub fn query(&self) -> Vec<(String, String)> {
        let mut q = Vec::new();
        opt(&mut q, "name", &self.name);
        opt(
            &mut q,
            "metadata",
            &self
                .metadata
                .as_ref()
                .map(|m| Value::Object(m.clone()).to_string()),
        );
        opt(&mut q, "tags", &self.tags);
        opt(&mut q, "status", &self.status);
        opt(&mut q, "order", &self.order);
        opt(&mut q, "dir", &self.dir);
        opt(&mut q, "connection_type", &self.connection_type);
        q
    }
}

pub async fn list(
    api: &mut Api,
    f: Format,
    kind: Kind,
    filters: &Filters,
    extra: Vec<(String, String)>,
    cols: &[Col],
) -> CliResult<()> {
    let d = super::domain(api)?;
    let mut q = filters.query();
    q.extend(extra);
    let v = list_pages(api, &kind.collection(&d), q, &filters.page, kind.plural()).await?;
    output::print_page(f, &v, kind.plural(), cols)
}

pub async fn get(api: &mut Api, f: Format, kind: Kind, id: &str) -> CliResult<()> {
    let d = super::domain(api)?;
    let v = api.get(&kind.item(&d, id), &[]).await?;
    output::print_one(f, &v)
}

pub async fn set_status(
    api: &mut Api,
    f: Format,
    kind: Kind,
    id: &str,
    enable: bool,
) -> CliResult<()> {
    let d = super::domain(api)?;
    let action = if enable { "enable" } else { "disable" };
    let v = api
        .post_empty(&format!("{}/{action}", kind.item(&d, id)))
        .await?;
    output::print_one(f, &v)
}

pub async fn delete(api: &mut Api, kind: Kind, id: &str) -> CliResult<()> {
    let d = super::domain(api)?;
    api.delete(&kind.item(&d, id)).await?;
    output::line(&format!("{} {id} deleted", kind.singular()))
}

/// `connect` / `disconnect` arguments: channels × clients × types.
#[derive(Debug, Clone, Args)]
pub struct ConnectArgs {
    /// Channel id(s): comma-separated or repeated
    #[arg(
        long = "channel",
        value_delimiter = ',',
        required = true,
        value_name = "ID"
    )]
    pub channels: Vec<String>,
    /// Client id(s): comma-separated or repeated
    #[arg(
        long = "client",
        value_delimiter = ',',
        required = true,
        value_name = "ID"
    )]
    pub clients: Vec<String>,
    /// Connection types
    #[arg(long, value_delimiter = ',', required = true, value_parser = ["publish", "subscribe"])]
    pub types: Vec<String>,
}

/// One channel: `POST /{d}/channels/{id}/connect|disconnect`; several: the bulk
/// `POST /{d}/channels/connect|disconnect` (every channel × every client × type).
pub async fn connect(api: &mut Api, a: ConnectArgs, connect: bool) -> CliResult<()> {
    let d = super::domain(api)?;
    let channels = split_list(&a.channels);
    let clients = split_list(&a.clients);
    let verb = if connect { "connect" } else { "disconnect" };
    let (path, req) = match channels.as_slice() {
        [one] => (
            format!("{}/{verb}", Kind::Channels.item(&d, one)),
            ConnectionReq {
                channel_ids: vec![],
                client_ids: clients.clone(),
                types: a.types.clone(),
            },
        ),
        _ => (
            format!("{}/{verb}", Kind::Channels.collection(&d)),
            ConnectionReq {
                channel_ids: channels.clone(),
                client_ids: clients.clone(),
                types: a.types.clone(),
            },
        ),
    };
    api.send(Method::POST, &path, &[], Some(&req), Auth::Bearer)
        .await?;
    let done = if connect { "connected" } else { "disconnected" };
    output::line(&format!(
        "{done} {} client(s) {} {} channel(s) ({})",
        clients.len(),
        if connect { "to" } else { "from" },
        channels.len(),
        a.types.join(",")
    ))
}
