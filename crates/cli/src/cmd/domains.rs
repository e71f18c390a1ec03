//! `domains …`: /domains and /invitations (contract §4).

use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::Value;
use switchyard_api_types::{
    DomainReq, DomainUpdateReq, InvitationDeleteReq, InvitationDomainReq, InvitationReq, Metadata,
};

use super::{Page, fmt, json_object, list_pages, opt, seg, split_list};
use crate::{
    api::{Api, Auth},
    error::{CliError, CliResult},
    output::{self, Col, Format},
};

pub const COLUMNS: &[Col] = &[
    ("ID", "/id"),
    ("NAME", "/name"),
    ("ROUTE", "/route"),
    ("STATUS", "/status"),
    ("TAGS", "/tags"),
    ("CREATED", "/created_at"),
];

pub const INVITATION_COLUMNS: &[Col] = &[
    ("DOMAIN", "/domain_id"),
    ("DOMAIN NAME", "/domain_name"),
    ("INVITEE", "/invitee_user_id"),
    ("ROLE", "/role_name"),
    ("INVITED BY", "/invited_by"),
    ("CONFIRMED", "/confirmed_at"),
    ("REJECTED", "/rejected_at"),
];

#[derive(Debug, Subcommand)]
pub enum DomainsCmd {
    /// Create a domain (the caller becomes its admin)
    #[command(
        after_help = "Example:\n  switchyard-cli domains create \"Acme Corp\" --route acme --tags prod"
    )]
    Create(CreateArgs),
    /// List the caller's domains
    #[command(
        after_help = "Example:\n  switchyard-cli domains list --name acme --status all -o json"
    )]
    List(ListArgs),
    /// View a domain (default: --domain)
    #[command(after_help = "Example:\n  switchyard-cli domains get <DOMAIN_ID>")]
    Get {
        /// Domain id (default: --domain)
        id: Option<String>,
    },
    /// Update a domain's name, tags or metadata
    #[command(
        after_help = "Example:\n  switchyard-cli domains update <DOMAIN_ID> --name \"Acme Inc\" --metadata '{\"tier\":\"gold\"}'"
    )]
    Update(UpdateArgs),
    /// Enable a domain
    #[command(after_help = "Example:\n  switchyard-cli domains enable <DOMAIN_ID>")]
    Enable {
        /// Domain id (default: --domain)
        id: Option<String>,
    },
    /// Disable a domain
    #[command(after_help = "Example:\n  switchyard-cli domains disable <DOMAIN_ID>")]
    Disable {
        /// Domain id (default: --domain)
        id: Option<String>,
    },
    /// Invitations: send, list, accept, reject, delete
    #[command(
        subcommand,
        after_help = "Example:\n  switchyard-cli --domain <DOMAIN_ID> domains invitations send <USER_ID> --role member\n  switchyard-cli domains invitations accept <DOMAIN_ID>"
    )]
    Invitations(InvitationsCmd),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Display name
    pub name: String,
    /// Route (alias used in topics), as magistrala-cli takes it; default: the name
    #[arg(value_name = "ROUTE")]
    pub route_arg: Option<String>,
    /// Route (the same, as a flag)
    #[arg(long, conflicts_with = "route_arg")]
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
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub page: Page,
    /// Name (substring)
    #[arg(long)]
    pub name: Option<String>,
    /// enabled (default), disabled, freezed, deleted or all
    #[arg(long, value_parser = ["enabled", "disabled", "freezed", "deleted", "all"])]
    pub status: Option<String>,
    /// Metadata containment filter (a JSON object)
    #[arg(long, value_parser = json_object)]
    pub metadata: Option<Metadata>,
    /// Tags: `a,b` any of, `a+b` all of
    #[arg(long)]
    pub tags: Option<String>,
    /// Sort key
    #[arg(long, value_parser = ["name", "created_at", "updated_at"])]
    pub order: Option<String>,
    /// Sort direction
    #[arg(long, value_parser = ["asc", "desc"])]
    pub dir: Option<String>,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// Domain id (default: --domain)
    pub id: Option<String>,
    #[arg(long)]
    pub name: Option<String>,
    /// Replace the tags (comma-separated)
    #[arg(long, value_delimiter = ',')]
    pub tags: Option<Vec<String>>,
    /// Replace the metadata (a JSON object)
    #[arg(long, value_parser = json_object)]
    pub metadata: Option<Metadata>,
}

#[derive(Debug, Subcommand)]
pub enum InvitationsCmd {
    /// Invite a user to the domain (--domain)
    #[command(
        after_help = "Example:\n  switchyard-cli --domain <DOMAIN_ID> domains invitations send <USER_ID> --role member"
    )]
    Send {
        /// The invitee's user id
        user_id: String,
        /// Role id or name (see GET /domains/{id}/roles), e.g. admin or member
        #[arg(long)]
        role: String,
        /// Send again even if one is pending
        #[arg(long)]
        resend: bool,
    },
    /// List invitations: the domain's with DOMAIN_ID, else the caller's own
    #[command(
        after_help = "Example:\n  switchyard-cli domains invitations list\n  switchyard-cli domains invitations list <DOMAIN_ID> --state pending"
    )]
    List {
        /// Domain whose invitations to list (default: the caller's invitations)
        domain_id: Option<String>,
        #[command(flatten)]
        page: Page,
        /// pending, accepted, rejected or all
        #[arg(long, value_parser = ["all", "pending", "accepted", "rejected"])]
        state: Option<String>,
    },
    /// Accept an invitation to a domain
    #[command(after_help = "Example:\n  switchyard-cli domains invitations accept <DOMAIN_ID>")]
    Accept {
        /// The inviting domain's id
        domain_id: String,
    },
    /// Reject an invitation to a domain
    #[command(after_help = "Example:\n  switchyard-cli domains invitations reject <DOMAIN_ID>")]
    Reject {
        /// The inviting domain's id
        domain_id: String,
    },
    /// Withdraw an invitation (domain from --domain)
    #[command(
        after_help = "Example:\n  switchyard-cli --domain <DOMAIN_ID> domains invitations delete <USER_ID>"
    )]
    Delete {
        /// The invitee's user id
        user_id: String,
    },
}

fn domain_or(api: &Api, id: Option<String>) -> CliResult<String> {
    match id {
        Some(i) => Ok(i),
        None => super::domain(api),
    }
}

fn path(id: &str) -> String {
    format!("/domains/{}", seg(id))
}

pub async fn run(api: &mut Api, f: Option<Format>, c: DomainsCmd) -> CliResult<()> {
    let f = fmt(f);
    match c {
        DomainsCmd::Create(a) => {
            let route = a.route.or(a.route_arg).unwrap_or_else(|| a.name.clone());
            let req = DomainReq {
                id: a.id,
                name: a.name,
                route,
                tags: split_list(&a.tags),
                metadata: a.metadata.unwrap_or_default(),
            };
            let v = api.post("/domains", &req).await?;
            output::print_one(f, &v)
        }
        DomainsCmd::List(a) => {
            let mut q = Vec::new();
            opt(&mut q, "name", &a.name);
            opt(&mut q, "status", &a.status);
            opt(
                &mut q,
                "metadata",
                &a.metadata.map(|m| Value::Object(m).to_string()),
            );
            opt(&mut q, "tags", &a.tags);
            opt(&mut q, "order", &a.order);
            opt(&mut q, "dir", &a.dir);
            let v = list_pages(api, "/domains", q, &a.page, "domains").await?;
            output::print_page(f, &v, "domains", COLUMNS)
        }
        DomainsCmd::Get { id } => {
            let id = domain_or(api, id)?;
            let v = api.get(&path(&id), &[]).await?;
            output::print_one(f, &v)
        }
        DomainsCmd::Update(a) => {
            if a.name.is_none() && a.tags.is_none() && a.metadata.is_none() {
                return Err(CliError::usage(
                    "nothing to update: give --name, --tags or --metadata",
                ));
            }
            let id = domain_or(api, a.id)?;
            let req = DomainUpdateReq {
                name: a.name,
                tags: a.tags.map(|t| split_list(&t)),
                metadata: a.metadata,
            };
            let v = api.patch(&path(&id), &req).await?;
            output::print_one(f, &v)
        }
        DomainsCmd::Enable { id } => {
            let id = domain_or(api, id)?;
            api.post_empty(&format!("{}/enable", path(&id))).await?;
            output::line(&format!("domain {id} enabled"))
        }
        DomainsCmd::Disable { id } => {
            let id = domain_or(api, id)?;
            api.post_empty(&format!("{}/disable", path(&id))).await?;
            output::line(&format!("domain {id} disabled"))
        }
        DomainsCmd::Invitations(c) => invitations(api, f, c).await,
    }
}

async fn invitations(api: &mut Api, f: Format, c: InvitationsCmd) -> CliResult<()> {
    match c {
        InvitationsCmd::Send {
            user_id,
            role,
            resend,
        } => {
            let d = super::domain(api)?;
            let req = InvitationReq {
                invitee_user_id: user_id.clone(),
                role_id: role,
                resend,
            };
            let v = api.post(&format!("{}/invitations", path(&d)), &req).await?;
            let msg = v
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("invitation sent");
            output::line(&format!("{msg}: user {user_id} to domain {d}"))
        }
        InvitationsCmd::List {
            domain_id,
            page,
            state,
        } => {
            let mut q = Vec::new();
            opt(&mut q, "state", &state);
            let p = match domain_id {
                Some(d) => format!("{}/invitations", path(&d)),
                None => "/invitations".to_string(),
            };
            let v = list_pages(api, &p, q, &page, "invitations").await?;
            output::print_page(f, &v, "invitations", INVITATION_COLUMNS)
        }
        InvitationsCmd::Accept { domain_id } => {
            let req = InvitationDomainReq {
                domain_id: domain_id.clone(),
            };
            api.post("/invitations/accept", &req).await?;
            output::line(&format!("joined domain {domain_id}"))
        }
        InvitationsCmd::Reject { domain_id } => {
            let req = InvitationDomainReq {
                domain_id: domain_id.clone(),
            };
            api.post("/invitations/reject", &req).await?;
            output::line(&format!("rejected the invitation to domain {domain_id}"))
        }
        InvitationsCmd::Delete { user_id } => {
            let d = super::domain(api)?;
            let req = InvitationDeleteReq {
                user_id: user_id.clone(),
            };
            api.send(
                Method::DELETE,
                &format!("{}/invitations", path(&d)),
                &[],
                Some(&req),
                Auth::Bearer,
            )
            .await?;
            output::line(&format!("invitation of user {user_id} withdrawn"))
        }
    }
}
