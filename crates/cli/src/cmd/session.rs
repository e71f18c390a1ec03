//! `login` and `logout`: the profile file's lifecycle.

use std::io::BufRead;

use clap::Args;
use reqwest::Method;
use switchyard_api_types::{TokenReq, TokenRes};

use crate::{
    api::{Api, Auth},
    config::{Profile, Settings},
    error::{CliError, CliResult},
};

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Username or e-mail address
    pub identity: String,
    /// Password; `-` reads it from the first line of standard input
    pub password: String,
}

/// The password argument, or the first line of stdin for `-` (keeps it out of `ps`).
pub fn password(p: &str) -> CliResult<String> {
    if p != "-" {
        return Ok(p.to_string());
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| CliError::other(format!("reading the password from stdin: {e}")))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// `POST /users/tokens/issue` (no Authorization header).
pub async fn issue(api: &mut Api, identity: &str, password: &str) -> CliResult<TokenRes> {
    let req = TokenReq {
        username: identity.to_string(),
        password: password.to_string(),
        description: String::new(),
    };
    api.send(
        Method::POST,
        "/users/tokens/issue",
        &[],
        Some(&req),
        Auth::None,
    )
    .await?
    .parse()
}

pub async fn login(api: &mut Api, a: LoginArgs) -> CliResult<()> {
    let path = api.settings.profile_path.clone().ok_or_else(|| {
        CliError::usage("cannot locate the profile file: set SWITCHYARD_CLI_CONFIG or HOME")
    })?;
    let pw = password(&a.password)?;
    let pair = issue(api, &a.identity, &pw).await?;
    let s = &api.settings;
    // The resolved domain: --domain / env, or the profile's own when it is for the
    // same server (a domain saved for another server does not carry over).
    let profile = Profile {
        url: s.url.clone(),
        access_token: pair.access_token,
        refresh_token: pair.refresh_token,
        domain: s.domain.clone().unwrap_or_default(),
    };
    profile.save(&path)?;
    let domain = if profile.domain.is_empty() {
        String::new()
    } else {
        format!(", domain {}", profile.domain)
    };
    eprintln!(
        "logged in to {} as {}{domain}; profile saved to {}",
        profile.url,
        a.identity,
        path.display()
    );
    Ok(())
}

pub fn logout(s: &Settings) -> CliResult<()> {
    let Some(path) = &s.profile_path else {
        return Ok(());
    };
    match std::fs::remove_file(path) {
        Ok(()) => {
            eprintln!("removed {}", path.display());
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("not logged in ({} does not exist)", path.display());
            Ok(())
        }
        Err(e) => Err(CliError::other(format!("{}: {e}", path.display()))),
    }
}
