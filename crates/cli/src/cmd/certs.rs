//! `certs …`: the certs service (contract §12). Issue, list, view, revoke and renew the
//! x509 certificates of the domain's clients, and download the CA certificate and the
//! CRL (those two need no login).

use std::path::{Path, PathBuf};

use base64::Engine as _;
use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::Value;
use switchyard_api_types::{IssueCertReq, SubjectOptions};

use super::{Page, fmt, list_pages, seg, split_list};
use crate::{
    api::{Api, Auth},
    config::write_secret_file,
    error::{CliError, CliResult},
    output::{self, Col, Format},
};

pub const COLUMNS: &[Col] = &[
    ("SERIAL", "/serial_number"),
    ("CLIENT", "/entity_id"),
    ("REVOKED", "/revoked"),
    ("EXPIRES", "/expiry_time"),
];

#[derive(Debug, Subcommand)]
pub enum CertsCmd {
    /// Issue a certificate and private key for a client
    #[command(
        after_help = "Example:\n  switchyard-cli --domain <DOMAIN_ID> certs issue <CLIENT_ID> --ttl 720h --cert-out bulb.crt --key-out bulb.key\n  switchyard-cli --domain <DOMAIN_ID> certs issue <CLIENT_ID> --common-name bulb-1 -o json"
    )]
    Issue(IssueArgs),
    /// List the domain's certificates (private keys are not listed)
    #[command(
        after_help = "Example:\n  switchyard-cli --domain <DOMAIN_ID> certs list\n  switchyard-cli --domain <DOMAIN_ID> certs list --client <CLIENT_ID> --limit 50 -o json"
    )]
    List {
        /// Only the certificates of this client
        #[arg(long, value_name = "CLIENT_ID")]
        client: Option<String>,
        #[command(flatten)]
        page: Page,
    },
    /// View a certificate (with its key) by serial number
    #[command(
        after_help = "Example:\n  switchyard-cli --domain <DOMAIN_ID> certs get <SERIAL> -o json\n  switchyard-cli --domain <DOMAIN_ID> certs get <SERIAL> --cert-out bulb.crt --key-out bulb.key"
    )]
    Get {
        /// Serial number (as printed by `certs issue` and `certs list`)
        serial: String,
        #[command(flatten)]
        files: PemFiles,
    },
    /// Revoke a certificate (it appears in the CRL from then on)
    #[command(after_help = "Example:\n  switchyard-cli --domain <DOMAIN_ID> certs revoke <SERIAL>")]
    Revoke {
        /// Serial number
        serial: String,
    },
    /// Renew a certificate: a new serial and key with the same common name; the old
    /// certificate is revoked. Prints the new certificate and key as PEM (the server
    /// sends them base64-encoded)
    #[command(
        after_help = "Example:\n  switchyard-cli --domain <DOMAIN_ID> certs renew <SERIAL> --cert-out bulb.crt --key-out bulb.key\n  switchyard-cli --domain <DOMAIN_ID> certs renew <SERIAL> -o json"
    )]
    Renew {
        /// Serial number of the certificate to renew
        serial: String,
        #[command(flatten)]
        files: PemFiles,
    },
    /// Download the CA certificate (PEM; no login needed)
    #[command(
        after_help = "Example:\n  switchyard-cli certs ca --out ca.crt\n  switchyard-cli certs ca | openssl x509 -noout -subject"
    )]
    Ca {
        /// Write the PEM to this file instead of stdout
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Download the certificate revocation list (no login needed): DER to --out, else
    /// base64 on stdout
    #[command(
        after_help = "Example:\n  switchyard-cli certs crl --out ca.crl && openssl crl -inform DER -in ca.crl -noout -text\n  switchyard-cli certs crl -o json"
    )]
    Crl {
        /// Write the CRL as DER to this file instead of printing it as base64
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct IssueArgs {
    /// The client's id
    pub client_id: String,
    /// Validity, as a Go duration (e.g. 2400h, 720h30m)
    #[arg(long, default_value = "2400h")]
    pub ttl: String,
    /// Subject common name (default: the client id)
    #[arg(long)]
    pub common_name: Option<String>,
    /// DNS subject alternative names (comma-separated)
    #[arg(long, value_delimiter = ',', value_name = "NAME")]
    pub dns_name: Vec<String>,
    /// IP subject alternative names (comma-separated)
    #[arg(long, value_delimiter = ',', value_name = "IP")]
    pub ip: Vec<String>,
    #[command(flatten)]
    pub files: PemFiles,
}

/// Where to write the certificate and key (left out of the printed answer then).
#[derive(Debug, Clone, Default, Args)]
pub struct PemFiles {
    /// Write the certificate (PEM) to this file
    #[arg(long, value_name = "FILE")]
    pub cert_out: Option<PathBuf>,
    /// Write the private key (PEM) to this file, mode 0600
    #[arg(long, value_name = "FILE")]
    pub key_out: Option<PathBuf>,
}

pub async fn run(api: &mut Api, f: Option<Format>, c: CertsCmd) -> CliResult<()> {
    match c {
        CertsCmd::Issue(a) => {
            let d = super::domain(api)?;
            let req = IssueCertReq {
                ttl: a.ttl,
                options: SubjectOptions {
                    common_name: a.common_name.unwrap_or_default(),
                    dns_names: split_list(&a.dns_name),
                    ip_addresses: split_list(&a.ip),
                    ..SubjectOptions::default()
                },
                ..IssueCertReq::default()
            };
            let path = format!("/{}/certs/issue/{}", seg(&d), seg(&a.client_id));
            let v = api.post(&path, &req).await?;
            print_cert(f, v, &a.files)
        }
        CertsCmd::List { client, page } => {
            let d = super::domain(api)?;
            let mut q = Vec::new();
            super::opt(&mut q, "entity_id", &client);
            let path = format!("/{}/certs", seg(&d));
            let v = list_pages(api, &path, q, &page, "certificates").await?;
            output::print_page(fmt(f), &v, "certificates", COLUMNS)
        }
        CertsCmd::Get { serial, files } => {
            let v = api.get(&item(api, &serial)?, &[]).await?;
            print_cert(f, v, &files)
        }
        CertsCmd::Revoke { serial } => {
            let path = format!("{}/revoke", item(api, &serial)?);
            api.send::<()>(Method::PATCH, &path, &[], None, Auth::Bearer)
                .await?;
            output::line(&format!("certificate {serial} revoked"))
        }
        CertsCmd::Renew { serial, files } => {
            let path = format!("{}/renew", item(api, &serial)?);
            let v = api
                .send::<()>(Method::PATCH, &path, &[], None, Auth::Bearer)
                .await?
                .json()?;
            // HEAD's answer: {"certificate": {…}} with the PEM texts base64-encoded.
            let mut inner = match v {
                Value::Object(mut m) if m.get("certificate").is_some_and(Value::is_object) => {
                    m.remove("certificate").unwrap_or_default()
                }
                other => other,
            };
            for k in ["certificate", "key"] {
                if let Some(Value::String(s)) = inner.get_mut(k) {
                    *s = unbase64_pem(s);
                }
            }
            print_cert(f, inner, &files)
        }
        CertsCmd::Ca { out } => {
            // The PEM from view-ca (download-ca answers a ZIP bundle).
            let r = api
                .send::<()>(Method::GET, "/certs/view-ca", &[], None, Auth::None)
                .await?;
            let v: Value = serde_json::from_slice(&r.body)
                .map_err(|e| crate::error::CliError::other(format!("view-ca: {e}")))?;
            let pem = v["certificate"].as_str().unwrap_or_default().to_string();
            match out {
                Some(p) => write_file(&p, pem.as_bytes(), "CA certificate"),
                None => output::line(pem.trim_end()),
            }
        }
        CertsCmd::Crl { out } => {
            let v = api
                .send::<()>(Method::GET, "/certs/crl", &[], None, Auth::None)
                .await?
                .json()?;
            let b64 = v
                .get("crl")
                .and_then(Value::as_str)
                .ok_or_else(|| CliError::other("unexpected answer from the server: no \"crl\""))?;
            match (out, f) {
                (Some(p), _) => {
                    let der = base64::engine::general_purpose::STANDARD
                        .decode(b64.trim())
                        .map_err(|e| CliError::other(format!("the CRL is not base64: {e}")))?;
                    write_file(&p, &der, "CRL (DER)")
                }
                (None, Some(Format::Json | Format::Yaml)) => output::print_one(fmt(f), &v),
                (None, _) => output::line(b64),
            }
        }
    }
}

/// `/{domain}/certs/{serial}`.
fn item(api: &Api, serial: &str) -> CliResult<String> {
    Ok(format!(
        "/{}/certs/{}",
        seg(&super::domain(api)?),
        seg(serial)
    ))
}

/// Writes the certificate and key to their files when asked (dropping them from the
/// printed answer), then prints the rest.
fn print_cert(f: Option<Format>, mut v: Value, files: &PemFiles) -> CliResult<()> {
    let mut take = |key: &str| -> CliResult<String> {
        match v.as_object_mut().and_then(|m| m.remove(key)) {
            Some(Value::String(s)) if !s.is_empty() => Ok(s),
            _ => Err(CliError::other(format!(
                "the server's answer has no {key} to write"
            ))),
        }
    };
    let cert = files.cert_out.as_ref().map(|_| take("certificate"));
    let key = files.key_out.as_ref().map(|_| take("key"));
    if let (Some(p), Some(cert)) = (&files.cert_out, cert) {
        write_file(p, with_newline(&cert?).as_bytes(), "certificate")?;
    }
    if let (Some(p), Some(key)) = (&files.key_out, key) {
        let key = key?;
        write_secret_file(p, with_newline(&key).as_bytes())?;
        eprintln!("private key written to {} (mode 0600)", p.display());
    }
    output::print_one(fmt(f), &v)
}

fn with_newline(s: &str) -> String {
    if s.ends_with('\n') {
        s.to_string()
    } else {
        format!("{s}\n")
    }
}

fn write_file(p: &Path, bytes: &[u8], what: &str) -> CliResult<()> {
    std::fs::write(p, bytes).map_err(|e| CliError::other(format!("{}: {e}", p.display())))?;
    eprintln!("{what} written to {}", p.display());
    Ok(())
}

/// The PEM text inside base64, or the text itself when it is not base64 of a PEM.
fn unbase64_pem(s: &str) -> String {
    if s.trim_start().starts_with("-----BEGIN") {
        return s.to_string();
    }
    base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .filter(|t| t.trim_start().starts_with("-----BEGIN"))
        .unwrap_or_else(|| s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewed_pem_is_decoded() {
        let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        let b64 = base64::engine::general_purpose::STANDARD.encode(pem);
        assert_eq!(unbase64_pem(&b64), pem);
        assert_eq!(unbase64_pem(pem), pem);
        assert_eq!(unbase64_pem("not base64!"), "not base64!");
    }
}
