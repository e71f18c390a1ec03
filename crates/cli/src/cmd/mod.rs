//! One module per command group; shared argument types and helpers here.

pub mod bootstrap;
pub mod certs;
pub mod channels;
pub mod clients;
pub mod domains;
pub mod entity;
pub mod messages;
pub mod provision;
pub mod session;
pub mod users;

use clap::Args;
use switchyard_api_types::Metadata;

use crate::{
    api::Api,
    error::{CliError, CliResult},
    output::Format,
};

/// A path segment, percent-encoded so an argument can never change the path.
pub fn seg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b':') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if out == "." || out == ".." {
        return out.replace('.', "%2E");
    }
    out
}

/// clap value parser: a JSON object (metadata).
pub fn json_object(s: &str) -> Result<Metadata, String> {
    match serde_json::from_str::<serde_json::Value>(s) {
        Ok(serde_json::Value::Object(m)) => Ok(m),
        Ok(_) => Err("must be a JSON object, e.g. '{\"room\":\"kitchen\"}'".into()),
        Err(e) => Err(format!("not valid JSON: {e}")),
    }
}

/// The domain id of the invocation (must be a UUID: the management API takes ids).
pub fn domain(api: &Api) -> CliResult<String> {
    let d = api.settings.domain()?;
    uuid::Uuid::parse_str(d)
        .map(|u| u.to_string())
        .map_err(|_| CliError::usage(format!("--domain must be a domain id (UUID), got {d:?}")))
}

/// The output format, or the command's default.
pub fn fmt(f: Option<Format>) -> Format {
    f.unwrap_or(Format::Table)
}

/// Paging and filters common to the list endpoints (§1.7 of the contract).
#[derive(Debug, Clone, Default, Args)]
pub struct Page {
    /// Skip this many items
    #[arg(long)]
    pub offset: Option<u64>,
    /// At most this many items (1..100 on most endpoints; server default 10)
    #[arg(long)]
    pub limit: Option<u64>,
    /// Fetch every page (100 at a time) and print them together
    #[arg(long, conflicts_with_all = ["offset", "limit"])]
    pub all: bool,
}

impl Page {
    pub fn push(&self, q: &mut Vec<(String, String)>) {
        if let Some(o) = self.offset {
            q.push(("offset".into(), o.to_string()));
        }
        if let Some(l) = self.limit {
            q.push(("limit".into(), l.to_string()));
        }
    }
}

/// Adds `key=value` when the value is given.
pub fn opt(q: &mut Vec<(String, String)>, key: &str, v: &Option<String>) {
    if let Some(v) = v {
        q.push((key.into(), v.clone()));
    }
}

/// Fetches a list page, or all pages with `--all` (merged into one page object).
pub async fn list_pages(
    api: &mut Api,
    path: &str,
    mut q: Vec<(String, String)>,
    page: &Page,
    items_key: &str,
) -> CliResult<serde_json::Value> {
    if !page.all {
        page.push(&mut q);
        return api.get(path, &q).await;
    }
    let mut all = Vec::new();
    let mut offset = 0u64;
    let total = loop {
        let mut qq = q.clone();
        qq.push(("offset".into(), offset.to_string()));
        qq.push(("limit".into(), "100".into()));
        let v = api.get(path, &qq).await?;
        let items = v
            .get(items_key)
            .and_then(|x| x.as_array())
            .cloned()
            .unwrap_or_default();
        let total = v.get("total").and_then(|t| t.as_u64()).unwrap_or(0);
        let n = items.len() as u64;
        all.extend(items);
        offset += n;
        if n == 0 || offset >= total {
            break total;
        }
    };
    Ok(serde_json::json!({ "total": total, items_key: all }))
}

/// Comma-separated list arguments (`--tags a,b`).
pub fn split_list(v: &[String]) -> Vec<String> {
    v.iter()
        .flat_map(|s| s.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_escaped() {
        assert_eq!(seg("a1-b_c.d~e"), "a1-b_c.d~e");
        assert_eq!(seg("../x"), "..%2Fx");
        assert_eq!(seg(".."), "%2E%2E");
        assert_eq!(seg("a b?c#"), "a%20b%3Fc%23");
        assert_eq!(seg("02:42:ac"), "02:42:ac");
    }

    #[test]
    fn metadata_parser() {
        assert!(json_object(r#"{"a":1}"#).is_ok());
        assert!(json_object("[1]").is_err());
        assert!(json_object("{bad").is_err());
    }
}
