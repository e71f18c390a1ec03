//! `bootstrap …`: the device-facing fetch (contract §11.3). Config management
//! (`/{d}/clients/configs`) and the secure fetch go here once the server has them.

use clap::Subcommand;
use reqwest::Method;

use super::seg;
use crate::{
    api::{Api, Auth},
    error::CliResult,
    output::{self, Format},
};

#[derive(Debug, Subcommand)]
pub enum BootstrapCmd {
    /// Fetch a gateway's bootstrap config as the device does (no user token)
    #[command(
        after_help = "Example:\n  switchyard-cli bootstrap fetch 02:42:ac:11:00:02 --key k3y\n  MG_URL=http://gw-host:9000 switchyard-cli bootstrap fetch 02:42:ac:11:00:02 --key k3y -o yaml"
    )]
    Fetch {
        /// The device's external id (e.g. its MAC address)
        external_id: String,
        /// The device's external key (sent as `Authorization: Client <key>`)
        #[arg(long, env = "MG_AGENT_BOOTSTRAP_KEY", hide_env_values = true)]
        key: String,
    },
}

pub async fn run(api: &mut Api, f: Option<Format>, c: BootstrapCmd) -> CliResult<()> {
    match c {
        BootstrapCmd::Fetch { external_id, key } => {
            let path = format!("/clients/bootstrap/{}", seg(&external_id));
            let v = api
                .send::<()>(Method::GET, &path, &[], None, Auth::Client(&key))
                .await?
                .json()?;
            // A config blob: JSON unless asked otherwise.
            output::print_one(f.unwrap_or(Format::Json), &v)
        }
    }
}
