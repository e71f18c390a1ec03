//! `clients …`: /{domain}/clients (contract §5).

use clap::{Args, Subcommand};
use switchyard_api_types::{
    ClientCredentials, ClientReq, ClientSecretReq, ClientUpdateReq, Metadata,
};

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
    ("STATUS", "/status"),
    ("TAGS", "/tags"),
    ("METADATA", "/metadata"),
    ("SECRET", "/credentials/secret"),
];

#[derive(Debug, Subcommand)]
pub enum ClientsCmd {
    /// Create a client (its secret is generated unless --secret is given)
    #[command(
        after_help = "Example:\n  switchyard-cli --domain <DOMAIN_ID> clients create lightbulb --tags home,light --metadata '{\"room\":\"kitchen\"}'"
    )]
    Create(CreateArgs),
    /// View a client
    #[command(
        after_help = "Example:\n  switchyard-cli --domain <DOMAIN_ID> clients get <CLIENT_ID> -o json"
    )]
    Get {
        /// Client id
        id: String,
    },
    /// List clients, with the list endpoint's filters
    #[command(
        after_help = "Example:\n  switchyard-cli --domain <DOMAIN_ID> clients list --name bulb --tags home+light --status all --order name --dir asc\n  switchyard-cli --domain <DOMAIN_ID> clients list --channel <CHANNEL_ID> --connection-type publish -o yaml"
    )]
    List(ListArgs),
    /// Update a client's name, tags, metadata or secret
    #[command(
        after_help = "Example:\n  switchyard-cli --domain <DOMAIN_ID> clients update <CLIENT_ID> --name porch-light --metadata '{\"room\":\"porch\"}'"
    )]
    Update(UpdateArgs),
    /// Enable a client
    #[command(
        after_help = "Example:\n  switchyard-cli --domain <DOMAIN_ID> clients enable <CLIENT_ID>"
    )]
    Enable {
        /// Client id
        id: String,
    },
    /// Disable a client (it can no longer authenticate)
    #[command(
        after_help = "Example:\n  switchyard-cli --domain <DOMAIN_ID> clients disable <CLIENT_ID>"
    )]
    Disable {
        /// Client id
        id: String,
    },
    /// Delete a client and its connections
    #[command(
        after_help = "Example:\n  switchyard-cli --domain <DOMAIN_ID> clients delete <CLIENT_ID>"
    )]
    Delete {
        /// Client id
        id: String,
    },
    /// Connect clients to channels (same as `channels connect`)
    #[command(
        after_help = "Example:\n  switchyard-cli --domain <DOMAIN_ID> clients connect --client <C1>,<C2> --channel <CH> --types publish"
    )]
    Connect(ConnectArgs),
    /// Disconnect clients from channels (same as `channels disconnect`)
    #[command(
        after_help = "Example:\n  switchyard-cli --domain <DOMAIN_ID> clients disconnect --client <C1> --channel <CH1>,<CH2> --types publish,subscribe"
    )]
    Disconnect(ConnectArgs),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Name
    pub name: Option<String>,
    /// Tags (comma-separated)
    #[arg(long, value_delimiter = ',')]
    pub tags: Vec<String>,
    /// Metadata (a JSON object)
    #[arg(long, value_parser = json_object)]
    pub metadata: Option<Metadata>,
    /// Private metadata (a JSON object)
    #[arg(long, value_parser = json_object)]
    pub private_metadata: Option<Metadata>,
    /// Secret (unique in the domain); generated when absent
    #[arg(long)]
    pub secret: Option<String>,
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
    /// Only clients connected to this channel
    #[arg(long, value_name = "CHANNEL_ID")]
    pub channel: Option<String>,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// Client id
    pub id: String,
    #[arg(long)]
    pub name: Option<String>,
    /// Replace the tags (comma-separated)
    #[arg(long, value_delimiter = ',')]
    pub tags: Option<Vec<String>>,
    /// Replace the metadata (a JSON object)
    #[arg(long, value_parser = json_object)]
    pub metadata: Option<Metadata>,
    /// Replace the private metadata (a JSON object)
    #[arg(long, value_parser = json_object)]
    pub private_metadata: Option<Metadata>,
    /// Set a new secret
    #[arg(long)]
    pub secret: Option<String>,
}

pub async fn run(api: &mut Api, f: Option<Format>, c: ClientsCmd) -> CliResult<()> {
    let f = fmt(f);
    let k = Kind::Clients;
    match c {
        ClientsCmd::Create(a) => {
            let d = super::domain(api)?;
            let req = ClientReq {
                id: a.id,
                name: a.name.unwrap_or_default(),
                tags: split_list(&a.tags),
                metadata: a.metadata.unwrap_or_default(),
                private_metadata: a.private_metadata.unwrap_or_default(),
                credentials: ClientCredentials {
                    identity: String::new(),
                    secret: a.secret.unwrap_or_default(),
                },
                status: a.status,
                parent_group_id: None,
            };
            let v = api.post(&k.collection(&d), &req).await?;
            output::print_one(f, &v)
        }
        ClientsCmd::Get { id } => entity::get(api, f, k, &id).await,
        ClientsCmd::List(a) => {
            let mut extra = Vec::new();
            super::opt(&mut extra, "channel", &a.channel);
            entity::list(api, f, k, &a.filters, extra, COLUMNS).await
        }
        ClientsCmd::Update(a) => {
            let d = super::domain(api)?;
            let p = k.item(&d, &a.id);
            let mut last = None;
            if a.name.is_some()
                || a.tags.is_some()
                || a.metadata.is_some()
                || a.private_metadata.is_some()
            {
                let req = ClientUpdateReq {
                    name: a.name,
                    tags: a.tags.map(|t| split_list(&t)),
                    metadata: a.metadata,
                    private_metadata: a.private_metadata,
                };
                last = Some(api.patch(&p, &req).await?);
            }
            if let Some(secret) = a.secret {
                let req = ClientSecretReq { secret };
                last = Some(api.patch(&format!("{p}/secret"), &req).await?);
            }
            match last {
                Some(v) => output::print_one(f, &v),
                None => Err(CliError::usage(
                    "nothing to update: give --name, --tags, --metadata, --private-metadata \
                     or --secret",
                )),
            }
        }
        ClientsCmd::Enable { id } => entity::set_status(api, f, k, &id, true).await,
        ClientsCmd::Disable { id } => entity::set_status(api, f, k, &id, false).await,
        ClientsCmd::Delete { id } => entity::delete(api, k, &id).await,
        ClientsCmd::Connect(a) => entity::connect(api, a, true).await,
        ClientsCmd::Disconnect(a) => entity::connect(api, a, false).await,
    }
}
