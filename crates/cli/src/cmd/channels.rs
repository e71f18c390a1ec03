//! `channels …`: /{domain}/channels and connections (contract §6).

use clap::{Args, Subcommand};
use switchyard_api_types::{ChannelReq, ChannelUpdateReq, Metadata};

use super::{
    entity::{self, ConnectArgs, Filters, Kind},
    fmt, json_object, split_list,
};
use crate::{
    api::Api,
    error::{CliError, CliResult},
    output::{self, Col, Format},
};

pub const COLUMNS: &[Col] = &[
    ("ID", "/id"),
    ("NAME", "/name"),
    ("ROUTE", "/route"),
    ("STATUS", "/status"),
    ("TAGS", "/tags"),
    ("METADATA", "/metadata"),
];

#[derive(Debug, Subcommand)]
pub enum ChannelsCmd {
    /// Create a channel
    #[command(
        after_help = "Example:\n  switchyard-cli --domain <DOMAIN_ID> channels create telemetry --route telemetry --metadata '{\"type\":\"data\"}'"
    )]
    Create(CreateArgs),
    /// View a channel
    #[command(
        after_help = "Example:\n  switchyard-cli --domain <DOMAIN_ID> channels get <CHANNEL_ID> -o yaml"
    )]
    Get {
        /// Channel id
        id: String,
    },
    /// List channels, with the list endpoint's filters
    #[command(
        after_help = "Example:\n  switchyard-cli --domain <DOMAIN_ID> channels list --name tele --metadata '{\"type\":\"data\"}'\n  switchyard-cli --domain <DOMAIN_ID> channels list --client <CLIENT_ID> --connection-type subscribe"
    )]
    List(ListArgs),
    /// Update a channel's name, tags or metadata
    #[command(
        after_help = "Example:\n  switchyard-cli --domain <DOMAIN_ID> channels update <CHANNEL_ID> --name telemetry-v2 --tags prod"
    )]
    Update(UpdateArgs),
    /// Enable a channel
    #[command(
        after_help = "Example:\n  switchyard-cli --domain <DOMAIN_ID> channels enable <CHANNEL_ID>"
    )]
    Enable {
        /// Channel id
        id: String,
    },
    /// Disable a channel
    #[command(
        after_help = "Example:\n  switchyard-cli --domain <DOMAIN_ID> channels disable <CHANNEL_ID>"
    )]
    Disable {
        /// Channel id
        id: String,
    },
    /// Delete a channel and its connections
    #[command(
        after_help = "Example:\n  switchyard-cli --domain <DOMAIN_ID> channels delete <CHANNEL_ID>"
    )]
    Delete {
        /// Channel id
        id: String,
    },
    /// Connect clients to channels: every channel × every client × every type
    #[command(
        after_help = "Example:\n  switchyard-cli --domain <DOMAIN_ID> channels connect --channel <CH> --client <C1>,<C2> --types publish,subscribe"
    )]
    Connect(ConnectArgs),
    /// Disconnect clients from channels
    #[command(
        after_help = "Example:\n  switchyard-cli --domain <DOMAIN_ID> channels disconnect --channel <CH1>,<CH2> --client <C1> --types subscribe"
    )]
    Disconnect(ConnectArgs),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Name
    pub name: Option<String>,
    /// Route (alias usable in topics instead of the id)
    #[arg(long)]
    pub route: Option<String>,
    /// Tags (comma-separated)
    #[arg(long, value_delimiter = ',')]
    pub tags: Vec<String>,
    /// Metadata (a JSON object)
    #[arg(long, value_parser = json_object)]
    pub metadata: Option<Metadata>,
    /// Explicit id (UUID)
    #[arg(long)]
    pub id: Option<String>,
    /// Initial status
    #[arg(long, value_parser = ["enabled", "disabled"])]
    pub status: Option<String>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub filters: Filters,
    /// Only channels this client is connected to
    #[arg(long, value_name = "CLIENT_ID")]
    pub client: Option<String>,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// Channel id
    pub id: String,
    #[arg(long)]
    pub name: Option<String>,
    /// Replace the tags (comma-separated)
    #[arg(long, value_delimiter = ',')]
    pub tags: Option<Vec<String>>,
    /// Replace the metadata (a JSON object)
    #[arg(long, value_parser = json_object)]
    pub metadata: Option<Metadata>,
}

pub async fn run(api: &mut Api, f: Option<Format>, c: ChannelsCmd) -> CliResult<()> {
    let f = fmt(f);
    let k = Kind::Channels;
    match c {
        ChannelsCmd::Create(a) => {
            let d = super::domain(api)?;
            let req = ChannelReq {
                id: a.id,
                name: a.name.unwrap_or_default(),
                route: a.route,
                tags: split_list(&a.tags),
                metadata: a.metadata.unwrap_or_default(),
                status: a.status,
                parent_group_id: None,
            };
            let v = api.post(&k.collection(&d), &req).await?;
            output::print_one(f, &v)
        }
        ChannelsCmd::Get { id } => entity::get(api, f, k, &id).await,
        ChannelsCmd::List(a) => {
            let mut extra = Vec::new();
            super::opt(&mut extra, "client", &a.client);
            entity::list(api, f, k, &a.filters, extra, COLUMNS).await
        }
        ChannelsCmd::Update(a) => {
            if a.name.is_none() && a.tags.is_none() && a.metadata.is_none() {
                return Err(CliError::usage(
                    "nothing to update: give --name, --tags or --metadata",
                ));
            }
            let d = super::domain(api)?;
            let req = ChannelUpdateReq {
                name: a.name,
                tags: a.tags.map(|t| split_list(&t)),
                metadata: a.metadata,
            };
            let v = api.patch(&k.item(&d, &a.id), &req).await?;
            output::print_one(f, &v)
        }
        ChannelsCmd::Enable { id } => entity::set_status(api, f, k, &id, true).await,
        ChannelsCmd::Disable { id } => entity::set_status(api, f, k, &id, false).await,
        ChannelsCmd::Delete { id } => entity::delete(api, k, &id).await,
        ChannelsCmd::Connect(a) => entity::connect(api, a, true).await,
        ChannelsCmd::Disconnect(a) => entity::connect(api, a, false).await,
    }
}
