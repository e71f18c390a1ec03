//! `users …`: /users (contract §3).

use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::Value;
use switchyard_api_types::{
    EmailReq, Metadata, PictureReq, RoleReq, TagsReq, UserCredentials, UserReq, UserUpdateReq,
    UsernameReq,
};

use super::{Page, fmt, json_object, list_pages, opt, seg, session, split_list};
use crate::{
    api::{Api, Auth},
    error::CliResult,
    output::{self, Col, Format},
};

pub const COLUMNS: &[Col] = &[
    ("ID", "/id"),
    ("USERNAME", "/credentials/username"),
    ("EMAIL", "/email"),
    ("FIRST NAME", "/first_name"),
    ("LAST NAME", "/last_name"),
    ("ROLE", "/role"),
    ("STATUS", "/status"),
];

#[derive(Debug, Subcommand)]
pub enum UsersCmd {
    /// Register a user (no token needed while self-registration is on)
    #[command(
        after_help = "Examples:\n  switchyard-cli users create john.doe@email.com 12345678\n  switchyard-cli users create Jane Doe janedoe@example.com janedoe 12345678 --tags ops --metadata '{\"team\":\"edge\"}'"
    )]
    Create(CreateArgs),
    /// Issue an access/refresh token pair (prints it; `login` also saves it)
    #[command(after_help = "Example:\n  switchyard-cli users token janedoe 12345678 -o json")]
    Token {
        /// Username or e-mail address
        identity: String,
        /// Password; `-` reads it from standard input
        password: String,
    },
    /// The caller's own user
    #[command(after_help = "Example:\n  switchyard-cli users profile -o yaml")]
    Profile,
    /// List users (super-admin)
    #[command(
        after_help = "Example:\n  switchyard-cli users list --status all --email example.com --order username --dir asc"
    )]
    List(ListArgs),
    /// View a user
    #[command(after_help = "Example:\n  switchyard-cli users get <USER_ID>")]
    Get {
        /// User id
        id: String,
    },
    /// Update a user's names, metadata, tags, e-mail, username, picture or role
    #[command(
        after_help = "Example:\n  switchyard-cli users update <USER_ID> --first-name Janet --metadata '{\"team\":\"core\"}'"
    )]
    Update(UpdateArgs),
    /// Enable a user
    #[command(after_help = "Example:\n  switchyard-cli users enable <USER_ID>")]
    Enable {
        /// User id
        id: String,
    },
    /// Disable a user
    #[command(after_help = "Example:\n  switchyard-cli users disable <USER_ID>")]
    Disable {
        /// User id
        id: String,
    },
    /// Delete a user (soft delete)
    #[command(after_help = "Example:\n  switchyard-cli users delete <USER_ID>")]
    Delete {
        /// User id
        id: String,
    },
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// `<EMAIL> <PASSWORD>` (the username and names come from the e-mail's local part
    /// unless given with the flags below), or
    /// `<FIRST_NAME> <LAST_NAME> <EMAIL> <USERNAME> <PASSWORD>`. A password `-` is read
    /// from standard input.
    #[arg(value_name = "ARGS", num_args = 2..=5, required = true)]
    pub args: Vec<String>,
    /// First name (the two-argument form)
    #[arg(long)]
    pub first_name: Option<String>,
    /// Last name (the two-argument form)
    #[arg(long)]
    pub last_name: Option<String>,
    /// Username (the two-argument form)
    #[arg(long)]
    pub username: Option<String>,
    /// Tags (comma-separated, repeatable)
    #[arg(long, value_delimiter = ',')]
    pub tags: Vec<String>,
    /// Metadata (a JSON object)
    #[arg(long, value_parser = json_object)]
    pub metadata: Option<Metadata>,
    /// Private metadata (a JSON object)
    #[arg(long, value_parser = json_object)]
    pub private_metadata: Option<Metadata>,
    /// Initial status
    #[arg(long, value_parser = ["enabled", "disabled"])]
    pub status: Option<String>,
    /// Role (super-admin only)
    #[arg(long, value_parser = ["user", "admin"])]
    pub role: Option<String>,
    /// Profile picture URL
    #[arg(long)]
    pub profile_picture: Option<String>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub page: Page,
    /// enabled (default), disabled, deleted or all
    #[arg(long, value_parser = ["enabled", "disabled", "deleted", "all"])]
    pub status: Option<String>,
    /// Metadata containment filter (a JSON object)
    #[arg(long, value_parser = json_object)]
    pub metadata: Option<Metadata>,
    /// Tags: `a,b` any of, `a+b` all of
    #[arg(long)]
    pub tags: Option<String>,
    /// Username (substring)
    #[arg(long)]
    pub username: Option<String>,
    /// E-mail
    #[arg(long)]
    pub email: Option<String>,
    /// First name (substring)
    #[arg(long)]
    pub first_name: Option<String>,
    /// Last name (substring)
    #[arg(long)]
    pub last_name: Option<String>,
    /// Sort key
    #[arg(long, value_parser = ["created_at", "updated_at", "first_name", "last_name", "username", "email"])]
    pub order: Option<String>,
    /// Sort direction
    #[arg(long, value_parser = ["asc", "desc"])]
    pub dir: Option<String>,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// User id
    pub id: String,
    #[arg(long)]
    pub first_name: Option<String>,
    #[arg(long)]
    pub last_name: Option<String>,
    /// Metadata (a JSON object; replaces the current one)
    #[arg(long, value_parser = json_object)]
    pub metadata: Option<Metadata>,
    /// Private metadata (a JSON object)
    #[arg(long, value_parser = json_object)]
    pub private_metadata: Option<Metadata>,
    /// Replace the tags (comma-separated; `--tags ''` clears them)
    #[arg(long, value_delimiter = ',')]
    pub tags: Option<Vec<String>>,
    /// New e-mail address
    #[arg(long)]
    pub email: Option<String>,
    /// New username
    #[arg(long)]
    pub username: Option<String>,
    /// New profile picture URL
    #[arg(long)]
    pub profile_picture: Option<String>,
    /// New role (super-admin only)
    #[arg(long, value_parser = ["user", "admin"])]
    pub role: Option<String>,
}

/// Who `users create` registers, from either of its argument forms.
#[derive(Debug, PartialEq, Eq)]
struct Registrant {
    first_name: String,
    last_name: String,
    email: String,
    username: String,
    password: String,
}

impl Registrant {
    fn from_args(a: &CreateArgs) -> CliResult<Registrant> {
        match a.args.as_slice() {
            [email, password] => {
                let local = email.split('@').next().unwrap_or_default();
                let words: Vec<&str> = local
                    .split(|c: char| !c.is_ascii_alphanumeric())
                    .filter(|w| !w.is_empty())
                    .collect();
                let first = words.first().copied().unwrap_or(local);
                let last = words.get(1..).map(|w| w.join(" ")).unwrap_or_default();
                Ok(Registrant {
                    first_name: a.first_name.clone().unwrap_or_else(|| first.to_string()),
                    last_name: a.last_name.clone().unwrap_or_else(|| {
                        if last.is_empty() {
                            first.to_string()
                        } else {
                            last
                        }
                    }),
                    email: email.clone(),
                    username: a
                        .username
                        .clone()
                        .unwrap_or_else(|| words.join("_").chars().take(32).collect()),
                    password: password.clone(),
                })
            }
            [first, last, email, username, password] => Ok(Registrant {
                first_name: first.clone(),
                last_name: last.clone(),
                email: email.clone(),
                username: username.clone(),
                password: password.clone(),
            }),
            _ => Err(crate::error::CliError::usage(
                "users create takes <EMAIL> <PASSWORD> or \
                 <FIRST_NAME> <LAST_NAME> <EMAIL> <USERNAME> <PASSWORD>",
            )),
        }
    }
}

fn path(id: &str) -> String {
    format!("/users/{}", seg(id))
}

pub async fn run(api: &mut Api, f: Option<Format>, c: UsersCmd) -> CliResult<()> {
    let f = fmt(f);
    match c {
        UsersCmd::Create(a) => {
            let who = Registrant::from_args(&a)?;
            let req = UserReq {
                first_name: who.first_name,
                last_name: who.last_name,
                email: who.email,
                credentials: UserCredentials {
                    username: who.username,
                    secret: session::password(&who.password)?,
                },
                tags: split_list(&a.tags),
                metadata: a.metadata.unwrap_or_default(),
                private_metadata: a.private_metadata.unwrap_or_default(),
                profile_picture: a.profile_picture.unwrap_or_default(),
                status: a.status,
                role: a.role,
            };
            // A token is sent when there is one (an admin registering someone while
            // self-registration is off); the server ignores it otherwise.
            let v = api
                .send(
                    Method::POST,
                    "/users",
                    &[],
                    Some(&req),
                    Auth::OptionalBearer,
                )
                .await?
                .json()?;
            output::print_one(f, &v)
        }
        UsersCmd::Token { identity, password } => {
            let pair = session::issue(api, &identity, &session::password(&password)?).await?;
            let v = serde_json::to_value(&pair).unwrap_or(Value::Null);
            output::print_one(f, &v)
        }
        UsersCmd::Profile => {
            let v = api.get("/users/profile", &[]).await?;
            output::print_one(f, &v)
        }
        UsersCmd::List(a) => {
            let mut q = Vec::new();
            opt(&mut q, "status", &a.status);
            opt(
                &mut q,
                "metadata",
                &a.metadata.map(|m| Value::Object(m).to_string()),
            );
            opt(&mut q, "tags", &a.tags);
            opt(&mut q, "username", &a.username);
            opt(&mut q, "email", &a.email);
            opt(&mut q, "first_name", &a.first_name);
            opt(&mut q, "last_name", &a.last_name);
            opt(&mut q, "order", &a.order);
            opt(&mut q, "dir", &a.dir);
            let v = list_pages(api, "/users", q, &a.page, "users").await?;
            output::print_page(f, &v, "users", COLUMNS)
        }
        UsersCmd::Get { id } => {
            let v = api.get(&path(&id), &[]).await?;
            output::print_one(f, &v)
        }
        UsersCmd::Update(a) => {
            let p = path(&a.id);
            let mut last: Option<Value> = None;
            if a.first_name.is_some()
                || a.last_name.is_some()
                || a.metadata.is_some()
                || a.private_metadata.is_some()
            {
                let req = UserUpdateReq {
                    first_name: a.first_name,
                    last_name: a.last_name,
                    metadata: a.metadata,
                    private_metadata: a.private_metadata,
                };
                last = Some(api.patch(&p, &req).await?);
            }
            if let Some(t) = a.tags {
                let req = TagsReq {
                    tags: split_list(&t),
                };
                last = Some(api.patch(&format!("{p}/tags"), &req).await?);
            }
            if let Some(email) = a.email {
                last = Some(
                    api.patch(&format!("{p}/email"), &EmailReq { email })
                        .await?,
                );
            }
            if let Some(username) = a.username {
                let req = UsernameReq { username };
                last = Some(api.patch(&format!("{p}/username"), &req).await?);
            }
            if let Some(profile_picture) = a.profile_picture {
                let req = PictureReq { profile_picture };
                last = Some(api.patch(&format!("{p}/picture"), &req).await?);
            }
            if let Some(role) = a.role {
                last = Some(api.patch(&format!("{p}/role"), &RoleReq { role }).await?);
            }
            match last {
                Some(v) => output::print_one(f, &v),
                None => Err(crate::CliError::usage(
                    "nothing to update: give at least one of --first-name, --last-name, \
                     --metadata, --private-metadata, --tags, --email, --username, \
                     --profile-picture, --role",
                )),
            }
        }
        UsersCmd::Enable { id } => {
            let v = api.post_empty(&format!("{}/enable", path(&id))).await?;
            output::print_one(f, &v)
        }
        UsersCmd::Disable { id } => {
            let v = api.post_empty(&format!("{}/disable", path(&id))).await?;
            output::print_one(f, &v)
        }
        UsersCmd::Delete { id } => {
            api.delete(&path(&id)).await?;
            output::line(&format!("user {id} deleted"))
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct T {
        #[command(subcommand)]
        c: UsersCmd,
    }

    fn create(args: &[&str]) -> CliResult<Registrant> {
        let mut argv = vec!["t", "create"];
        argv.extend(args);
        match T::try_parse_from(argv).unwrap().c {
            UsersCmd::Create(a) => Registrant::from_args(&a),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_documents_two_argument_form() {
        let r = create(&["john.doe@email.com", "12345678"]).unwrap();
        assert_eq!(
            r,
            Registrant {
                first_name: "john".into(),
                last_name: "doe".into(),
                email: "john.doe@email.com".into(),
                username: "john_doe".into(),
                password: "12345678".into(),
            }
        );
        let r = create(&["ops@example.com", "pw123456", "--username", "ops1"]).unwrap();
        assert_eq!(
            (r.first_name.as_str(), r.last_name.as_str()),
            ("ops", "ops")
        );
        assert_eq!(r.username, "ops1");
        let full = create(&["Jane", "Doe", "jane@example.com", "jane", "pw123456"]).unwrap();
        assert_eq!(
            (full.first_name.as_str(), full.username.as_str()),
            ("Jane", "jane")
        );
        assert!(create(&["a", "b", "c"]).is_err());
        assert!(T::try_parse_from(["t", "create", "only-one"]).is_err());
    }
}
