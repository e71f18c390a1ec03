//! Where the CLI talks to and as whom: flags, environment variables and the profile
//! file written by `login`. The profile holds tokens, so it is written with mode 0600
//! and its tokens are only ever sent to the URL they were issued by.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{
    GlobalOpts,
    error::{CliError, CliResult},
};

/// Used when neither a flag, an environment variable nor the profile names a server.
pub const DEFAULT_URL: &str = "http://localhost:9000";

/// The profile file (`profile.toml`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Profile {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub url: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub access_token: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub refresh_token: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub domain: String,
}

/// `SWITCHYARD_CLI_CONFIG`, else `$XDG_CONFIG_HOME/switchyard/profile.toml`, else
/// `~/.config/switchyard/profile.toml`.
pub fn profile_path() -> Option<PathBuf> {
    profile_path_from(|k| std::env::var_os(k).filter(|v| !v.is_empty()))
}

fn profile_path_from(env: impl Fn(&str) -> Option<std::ffi::OsString>) -> Option<PathBuf> {
    if let Some(p) = env("SWITCHYARD_CLI_CONFIG") {
        return Some(PathBuf::from(p));
    }
    let base = match env("XDG_CONFIG_HOME") {
        Some(x) => PathBuf::from(x),
        None => PathBuf::from(env("HOME")?).join(".config"),
    };
    Some(base.join("switchyard").join("profile.toml"))
}

impl Profile {
    /// The profile at `path`; an absent file is an empty profile.
    pub fn load(path: &Path) -> CliResult<Profile> {
        match std::fs::read_to_string(path) {
            Ok(text) => toml::from_str(&text)
                .map_err(|e| CliError::other(format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Profile::default()),
            Err(e) => Err(CliError::other(format!("{}: {e}", path.display()))),
        }
    }

    /// Writes the profile with mode 0600 (directory 0700), replacing it atomically so a
    /// crash never leaves a half-written token file.
    pub fn save(&self, path: &Path) -> CliResult<()> {
        let text = toml::to_string(self).map_err(|e| CliError::other(e.to_string()))?;
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        create_private_dir(dir)?;
        let tmp = dir.join(format!(
            ".{}.{}.tmp",
            path.file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("profile"),
            std::process::id()
        ));
        write_private(&tmp, text.as_bytes())
            .map_err(|e| CliError::other(format!("{}: {e}", tmp.display())))?;
        std::fs::rename(&tmp, path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            CliError::other(format!("{}: {e}", path.display()))
        })
    }
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> CliResult<()> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.exists() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| CliError::other(format!("{}: {e}", dir.display())))
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> CliResult<()> {
    std::fs::create_dir_all(dir).map_err(|e| CliError::other(format!("{}: {e}", dir.display())))
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::{io::Write, os::unix::fs::OpenOptionsExt};
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

/// Writes a secret (a private key) readable by its owner only: mode 0600, also when the
/// file already existed with a wider mode (the mode is narrowed before anything is written).
pub fn write_secret_file(path: &Path, bytes: &[u8]) -> CliResult<()> {
    let err = |e: std::io::Error| CliError::other(format!("{}: {e}", path.display()));
    #[cfg(unix)]
    {
        use std::{
            io::Write,
            os::unix::fs::{OpenOptionsExt, PermissionsExt},
        };
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)
            .map_err(err)?;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(err)?;
        f.write_all(bytes).and_then(|_| f.sync_all()).map_err(err)
    }
    #[cfg(not(unix))]
    {
        std::fs::write(path, bytes).map_err(err)
    }
}

/// Where an access token came from: only a profile token may be refreshed (and the
/// new pair saved); an explicit `--token` that is rejected is reported as is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSource {
    None,
    Explicit,
    Profile,
}

/// The resolved connection settings of one invocation.
#[derive(Debug, Clone)]
pub struct Settings {
    pub url: String,
    pub token: Option<String>,
    pub token_source: TokenSource,
    pub refresh_token: Option<String>,
    pub domain: Option<String>,
    pub insecure: bool,
    pub cacert: Option<PathBuf>,
    /// Where the profile lives (for `login` and for saving refreshed tokens).
    pub profile_path: Option<PathBuf>,
    pub profile: Profile,
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

fn same_url(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

impl Settings {
    /// Flag (or its `SWITCHYARD_*` variable) > the `MG_*` alias > profile > default.
    pub fn resolve(g: &GlobalOpts) -> CliResult<Settings> {
        Settings::resolve_with(g, |k| std::env::var(k).ok(), profile_path())
    }

    pub fn resolve_with(
        g: &GlobalOpts,
        env: impl Fn(&str) -> Option<String>,
        profile_path: Option<PathBuf>,
    ) -> CliResult<Settings> {
        let profile = match &profile_path {
            Some(p) => Profile::load(p)?,
            None => Profile::default(),
        };
        let url = non_empty(g.url.clone())
            .or_else(|| non_empty(env("MG_URL")))
            .or_else(|| non_empty(Some(profile.url.clone())))
            .unwrap_or_else(|| DEFAULT_URL.to_string());
        let url = url.trim_end_matches('/').to_string();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(CliError::usage(format!(
                "--url must start with http:// or https://, got {url:?}"
            )));
        }
        // The profile's tokens belong to the server that issued them: never send them
        // anywhere else.
        let profile_applies = profile.url.is_empty() || same_url(&profile.url, &url);
        let explicit = non_empty(g.token.clone()).or_else(|| non_empty(env("MG_TOKEN")));
        let (token, token_source, refresh_token) = match explicit {
            Some(t) => (Some(t), TokenSource::Explicit, None),
            None if profile_applies && !profile.access_token.is_empty() => (
                Some(profile.access_token.clone()),
                TokenSource::Profile,
                non_empty(Some(profile.refresh_token.clone())),
            ),
            None => (None, TokenSource::None, None),
        };
        let domain = non_empty(g.domain.clone())
            .or_else(|| non_empty(env("MG_DOMAIN_ID")))
            .or_else(|| {
                if profile_applies {
                    non_empty(Some(profile.domain.clone()))
                } else {
                    None
                }
            });
        Ok(Settings {
            url,
            token,
            token_source,
            refresh_token,
            domain,
            insecure: g.insecure,
            cacert: g.cacert.clone(),
            profile_path,
            profile,
        })
    }

    /// The domain id, or a usage error naming the ways to give one.
    pub fn domain(&self) -> CliResult<&str> {
        self.domain.as_deref().ok_or_else(|| {
            CliError::usage(
                "no domain: pass --domain ID, set SWITCHYARD_DOMAIN (or MG_DOMAIN_ID), \
                 or log in with `login --domain ID`",
            )
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn path_precedence() {
        let os = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| std::ffi::OsString::from(v))
            }
        };
        assert_eq!(
            profile_path_from(os(&[
                ("SWITCHYARD_CLI_CONFIG", "/x/p.toml"),
                ("HOME", "/h")
            ])),
            Some(PathBuf::from("/x/p.toml"))
        );
        assert_eq!(
            profile_path_from(os(&[("XDG_CONFIG_HOME", "/c"), ("HOME", "/h")])),
            Some(PathBuf::from("/c/switchyard/profile.toml"))
        );
        assert_eq!(
            profile_path_from(os(&[("HOME", "/h")])),
            Some(PathBuf::from("/h/.config/switchyard/profile.toml"))
        );
        assert_eq!(profile_path_from(os(&[])), None);
    }

    #[test]
    fn profile_roundtrip_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("profile.toml");
        let p = Profile {
            url: "http://h:1".into(),
            access_token: "a".into(),
            refresh_token: "r".into(),
            domain: "d".into(),
        };
        p.save(&path).unwrap();
        assert_eq!(Profile::load(&path).unwrap(), p);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(
            Profile::load(&dir.path().join("none.toml")).unwrap(),
            Profile::default()
        );
    }

    #[test]
    fn precedence_and_aliases() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("profile.toml");
        Profile {
            url: "http://p:9000".into(),
            access_token: "pa".into(),
            refresh_token: "pr".into(),
            domain: "pd".into(),
        }
        .save(&path)
        .unwrap();
        let g = GlobalOpts::default();
        // Profile only.
        let s = Settings::resolve_with(&g, env(&[]), Some(path.clone())).unwrap();
        assert_eq!(s.url, "http://p:9000");
        assert_eq!(s.token.as_deref(), Some("pa"));
        assert_eq!(s.token_source, TokenSource::Profile);
        assert_eq!(s.refresh_token.as_deref(), Some("pr"));
        assert_eq!(s.domain.as_deref(), Some("pd"));
        // MG_* aliases beat the profile.
        let s = Settings::resolve_with(
            &g,
            env(&[("MG_TOKEN", "mt"), ("MG_DOMAIN_ID", "md")]),
            Some(path.clone()),
        )
        .unwrap();
        assert_eq!(s.token.as_deref(), Some("mt"));
        assert_eq!(s.token_source, TokenSource::Explicit);
        assert_eq!(s.refresh_token, None);
        assert_eq!(s.domain.as_deref(), Some("md"));
        // Flags beat the aliases.
        let g2 = GlobalOpts {
            token: Some("ft".into()),
            domain: Some("fd".into()),
            ..GlobalOpts::default()
        };
        let s = Settings::resolve_with(
            &g2,
            env(&[("MG_TOKEN", "mt"), ("MG_DOMAIN_ID", "md")]),
            Some(path.clone()),
        )
        .unwrap();
        assert_eq!(s.token.as_deref(), Some("ft"));
        assert_eq!(s.domain.as_deref(), Some("fd"));
        // Another server: the profile's tokens and domain are not used.
        let s =
            Settings::resolve_with(&g, env(&[("MG_URL", "http://other/")]), Some(path)).unwrap();
        assert_eq!(s.url, "http://other");
        assert_eq!(s.token, None);
        assert_eq!(s.domain, None);
        // No profile at all: the default URL.
        let s = Settings::resolve_with(&g, env(&[]), None).unwrap();
        assert_eq!(s.url, DEFAULT_URL);
        assert!(Settings::resolve_with(&g, env(&[("MG_URL", "ftp://x")]), None).is_err());
    }
}
