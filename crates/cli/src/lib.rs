//! `switchyard-cli`: the command-line client of the Switchyard (Magistrala-compatible)
//! HTTP API. It only speaks HTTP (reqwest over the `switchyard-api-types` DTOs) and
//! never links the server's core or store.
//!
//! Embedding: the server binary can mount these commands as its own subcommands with
//! [`Command`] (a `clap::Subcommand`) plus [`GlobalOpts`] (a `clap::Args`), and call
//! [`run_command`]; [`command`] returns the whole `clap::Command` tree, [`run`] runs a
//! parsed [`CliArgs`] and returns the exit code.
//!
//! Adding a command group: a module in `cmd/` with a `#[derive(Subcommand)]` enum and an `async fn run(api,
//! fmt, cmd)`, one variant in [`Command`], one arm in [`run_command`].

pub mod api;
pub mod cmd;
pub mod config;
pub mod error;
pub mod fleet;
pub mod output;

use std::path::PathBuf;

use clap::{Args, CommandFactory, Parser, Subcommand};

pub use error::{CliError, CliResult};
pub use output::Format;

use crate::{api::Api, config::Settings};

const ABOUT: &str = "Command-line client of the Switchyard (Magistrala-compatible) HTTP API";

const TOP_HELP: &str = "\
Configuration (flag > environment > profile written by `login` > default):
  --url      SWITCHYARD_URL, MG_URL             (default http://localhost:9000)
  --token    SWITCHYARD_TOKEN, MG_TOKEN
  --domain   SWITCHYARD_DOMAIN, MG_DOMAIN_ID
  profile    SWITCHYARD_CLI_CONFIG, else $XDG_CONFIG_HOME/switchyard/profile.toml,
             else ~/.config/switchyard/profile.toml

Exit codes: 0 success, 1 server or runtime error, 2 usage error.

Example:
  switchyard-cli login janedoe 12345678 --url http://localhost:9000
  switchyard-cli domains create acme --route acme
  switchyard-cli --domain <DOMAIN_ID> clients list --name humid -o json";

#[derive(Debug, Parser)]
#[command(
    name = "switchyard-cli",
    version,
    about = ABOUT,
    after_help = TOP_HELP,
    propagate_version = true,
    subcommand_required = true,
    arg_required_else_help = true
)]
pub struct CliArgs {
    #[command(flatten)]
    pub global: GlobalOpts,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes (also settable by environment variables).
#[derive(Debug, Clone, Default, Args)]
pub struct GlobalOpts {
    /// Base URL of the server [also MG_URL]
    #[arg(
        long,
        global = true,
        env = "SWITCHYARD_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub url: Option<String>,
    /// Access token (Bearer) [also MG_TOKEN]; default: the profile's
    #[arg(
        long,
        global = true,
        env = "SWITCHYARD_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub token: Option<String>,
    /// Domain id for domain-scoped commands [also MG_DOMAIN_ID]; default: the profile's
    #[arg(
        long,
        global = true,
        env = "SWITCHYARD_DOMAIN",
        hide_env_values = true,
        value_name = "ID"
    )]
    pub domain: Option<String>,
    /// Accept any TLS certificate (self-signed test servers only)
    #[arg(long, global = true)]
    pub insecure: bool,
    /// Trust this PEM CA bundle in addition to the system roots
    #[arg(
        long,
        global = true,
        env = "SWITCHYARD_CACERT",
        hide_env_values = true,
        value_name = "FILE"
    )]
    pub cacert: Option<PathBuf>,
    /// Output format (default: table; csv for `provision fleet`)
    #[arg(short, long, global = true, value_enum, value_name = "FORMAT")]
    pub output: Option<Format>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Log in and save the tokens (and --domain) to the profile file
    #[command(
        after_help = "Example:\n  switchyard-cli login janedoe 12345678 --url http://localhost:9000 --domain <DOMAIN_ID>\n  echo \"$PASSWORD\" | switchyard-cli login janedoe -"
    )]
    Login(cmd::session::LoginArgs),
    /// Remove the profile file (tokens and saved domain)
    #[command(after_help = "Example:\n  switchyard-cli logout")]
    Logout,
    /// Users: register, tokens, profile, list, view, update, enable, disable
    #[command(
        subcommand,
        after_help = "Example:\n  switchyard-cli users create Jane Doe janedoe@example.com janedoe 12345678\n  switchyard-cli users token janedoe 12345678"
    )]
    Users(cmd::users::UsersCmd),
    /// Domains and invitations
    #[command(
        subcommand,
        after_help = "Example:\n  switchyard-cli domains create acme --route acme\n  switchyard-cli domains list"
    )]
    Domains(cmd::domains::DomainsCmd),
    /// Clients (devices) of the domain
    #[command(
        subcommand,
        after_help = "Example:\n  switchyard-cli --domain <DOMAIN_ID> clients create lightbulb --tags home,light\n  switchyard-cli --domain <DOMAIN_ID> clients list --metadata '{\"room\":\"kitchen\"}'"
    )]
    Clients(cmd::clients::ClientsCmd),
    /// Channels of the domain, and connections
    #[command(
        subcommand,
        after_help = "Example:\n  switchyard-cli --domain <DOMAIN_ID> channels create telemetry\n  switchyard-cli --domain <DOMAIN_ID> channels connect --channel <CH> --client <C1>,<C2> --types publish,subscribe"
    )]
    Channels(cmd::channels::ChannelsCmd),
    /// Provisioning: the /mapping gateway flow and bulk fleets from a file
    #[command(
        subcommand,
        after_help = "Example:\n  switchyard-cli --domain <DOMAIN_ID> provision mapping --external-id 02:42:ac:11:00:02 --external-key k3y --name edge-gw\n  switchyard-cli --domain <DOMAIN_ID> provision fleet devices.csv > secrets.csv"
    )]
    Provision(cmd::provision::ProvisionCmd),
    /// Bootstrap: what a device fetches with its external id and key
    #[command(
        subcommand,
        after_help = "Example:\n  switchyard-cli bootstrap fetch 02:42:ac:11:00:02 --key k3y"
    )]
    Bootstrap(cmd::bootstrap::BootstrapCmd),
    /// Certificates: issue, list, view, revoke and renew client certificates; the CA and CRL
    #[command(
        subcommand,
        after_help = "Example:\n  switchyard-cli --domain <DOMAIN_ID> certs issue <CLIENT_ID> --cert-out bulb.crt --key-out bulb.key\n  switchyard-cli --domain <DOMAIN_ID> certs list --client <CLIENT_ID>\n  switchyard-cli certs ca --out ca.crt"
    )]
    Certs(cmd::certs::CertsCmd),
    /// Messages: publish (HTTP) and subscribe (WebSocket) as a client
    #[command(
        subcommand,
        after_help = "Example:\n  switchyard-cli --domain <DOMAIN_ID> messages subscribe <CHANNEL_ID> --secret <CLIENT_SECRET> --count 1\n  switchyard-cli --domain <DOMAIN_ID> messages send <CHANNEL_ID> '{\"temp\":21.5}' --secret <CLIENT_SECRET>"
    )]
    Messages(cmd::messages::MessagesCmd),
    /// Print a shell completion script
    #[command(
        after_help = "Example:\n  switchyard-cli completions bash > /etc/bash_completion.d/switchyard-cli\n  switchyard-cli completions zsh > \"${fpath[1]}/_switchyard-cli\"\n  switchyard-cli completions fish > ~/.config/fish/completions/switchyard-cli.fish"
    )]
    Completions {
        /// The shell
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// The whole command tree (for mounting, completions and docs).
pub fn command() -> clap::Command {
    CliArgs::command()
}

/// Runs parsed arguments; returns the process exit code.
/// The `switchyard-cli` process: parses the arguments, runs the command on a
/// single-threaded runtime and exits with its code.
pub fn main() -> ! {
    use clap::Parser;
    let args = CliArgs::parse();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    let code = rt.block_on(run(args));
    std::process::exit(code);
}

pub async fn run(args: CliArgs) -> i32 {
    run_command(&args.global, args.command).await
}

/// Runs one command with the given global options; prints errors to stderr and
/// returns the exit code (0, 1 for server/runtime errors, 2 for usage errors).
pub async fn run_command(global: &GlobalOpts, command: Command) -> i32 {
    match dispatch(global, command).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    }
}

async fn dispatch(g: &GlobalOpts, command: Command) -> CliResult<i32> {
    if let Command::Completions { shell } = command {
        let mut c = command_for_completions();
        let name = c.get_name().to_string();
        clap_complete::generate(shell, &mut c, name, &mut std::io::stdout());
        return Ok(0);
    }
    let settings = Settings::resolve(g)?;
    if let Command::Logout = command {
        return cmd::session::logout(&settings).map(|_| 0);
    }
    let fmt = g.output;
    let mut api = Api::new(settings)?;
    match command {
        Command::Login(a) => cmd::session::login(&mut api, a).await.map(|_| 0),
        Command::Users(c) => cmd::users::run(&mut api, fmt, c).await.map(|_| 0),
        Command::Domains(c) => cmd::domains::run(&mut api, fmt, c).await.map(|_| 0),
        Command::Clients(c) => cmd::clients::run(&mut api, fmt, c).await.map(|_| 0),
        Command::Channels(c) => cmd::channels::run(&mut api, fmt, c).await.map(|_| 0),
        Command::Provision(c) => cmd::provision::run(&mut api, fmt, c).await,
        Command::Bootstrap(c) => cmd::bootstrap::run(&mut api, fmt, c).await.map(|_| 0),
        Command::Certs(c) => cmd::certs::run(&mut api, fmt, c).await.map(|_| 0),
        Command::Messages(c) => cmd::messages::run(&mut api, fmt, c).await.map(|_| 0),
        Command::Completions { .. } | Command::Logout => Ok(0),
    }
}

fn command_for_completions() -> clap::Command {
    command()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_is_valid() {
        command().debug_assert();
    }

    /// Every command and subcommand shows an example in its --help.
    #[test]
    fn every_subcommand_has_an_example() {
        fn walk(c: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for s in c.get_subcommands() {
                let p = format!("{path} {}", s.get_name());
                let ok = s
                    .get_after_help()
                    .is_some_and(|h| h.to_string().contains("Example"));
                if !ok && s.get_name() != "help" {
                    missing.push(p.clone());
                }
                walk(s, &p, missing);
            }
        }
        let mut missing = Vec::new();
        walk(&command(), "switchyard-cli", &mut missing);
        assert!(missing.is_empty(), "no example in --help of: {missing:?}");
    }
}
