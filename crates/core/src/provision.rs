//! Provision (`/mapping`) and the device-facing Bootstrap fetch.
//!
//! `/mapping` creates a whole gateway — the layout's clients and channels, their
//! publish/subscribe connections (whitelisting), the bootstrap config and the gateway
//! metadata — in ONE store transaction: any failure leaves nothing behind. A second
//! call with the same `external_id` is refused with a clear conflict (400) and creates
//! nothing.
//!
//! External keys are stored only as a salted SHA-256 digest and compared in constant
//! time; an unknown external id costs the same digest work as a wrong key.

use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use switchyard_domain::{
    BootstrapConfig, Channel, Client, Connection, ConnectionType, Metadata, validate,
};
use switchyard_store::{ProvisionPlan, StoreError};
use uuid::Uuid;

use crate::{Caller, Core, Error, NewChannel, NewClient, Result};

#[derive(Debug, Clone, Deserialize, Default)]
pub struct LayoutEntity {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub metadata: Metadata,
}

#[derive(Debug, Clone, Deserialize)]
pub struct BootstrapSection {
    #[serde(default = "yes")]
    pub provision: bool,
    #[serde(default = "yes")]
    pub autowhite_list: bool,
    #[serde(default)]
    pub x509_provision: bool,
    /// Free-form; stored as the config's `content` (JSON text).
    #[serde(default)]
    pub content: Option<Value>,
}

fn yes() -> bool {
    true
}

impl Default for BootstrapSection {
    fn default() -> Self {
        BootstrapSection {
            provision: true,
            autowhite_list: true,
            x509_provision: false,
            content: None,
        }
    }
}

/// The provision layout (contract §10.4): `[bootstrap]`, `[[clients]]`, `[[channels]]`.
/// `[cert]`: lifetime of certificates issued by x509 provisioning.
#[derive(Debug, Clone, Deserialize, Default)]
pub struct CertSection {
    /// Go duration, e.g. `2400h`.
    #[serde(default)]
    pub ttl: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Layout {
    #[serde(default)]
    pub bootstrap: BootstrapSection,
    #[serde(default)]
    pub cert: CertSection,
    #[serde(default)]
    pub clients: Vec<LayoutEntity>,
    #[serde(default)]
    pub channels: Vec<LayoutEntity>,
}

impl Default for Layout {
    /// One client carrying `external_id`, and the `control` and `data` channels.
    fn default() -> Self {
        let meta = |k: &str, v: &str| {
            let mut m = Metadata::new();
            m.insert(k.into(), Value::String(v.into()));
            m
        };
        Layout {
            bootstrap: BootstrapSection::default(),
            cert: CertSection::default(),
            clients: vec![LayoutEntity {
                name: "client".into(),
                metadata: meta("external_id", "xxxxxx"),
            }],
            channels: vec![
                LayoutEntity {
                    name: "control-channel".into(),
                    metadata: meta("type", "control"),
                },
                LayoutEntity {
                    name: "data-channel".into(),
                    metadata: meta("type", "data"),
                },
            ],
        }
    }
}

impl Layout {
    /// Parses a provision TOML file (unknown sections such as `[server]` are ignored).
    pub fn from_toml(text: &str) -> std::result::Result<Layout, String> {
        let v: toml::Value = toml::from_str(text).map_err(|e| e.to_string())?;
        let json = serde_json::to_value(v).map_err(|e| e.to_string())?;
        let mut l: Layout = serde_json::from_value(json).map_err(|e| e.to_string())?;
        if l.clients.is_empty() && l.channels.is_empty() {
            let d = Layout::default();
            l.clients = d.clients;
            l.channels = d.channels;
        }
        Ok(l)
    }
}

#[derive(Debug, Clone, Default)]
pub struct ProvisionConfig {
    pub layout: Layout,
    /// Domain for `POST /mapping` without a domain in the path.
    pub domain_id: Option<Uuid>,
    /// Token used when a request has none.
    pub api_key: String,
    pub username: String,
    pub password: String,
}

#[derive(Debug, Clone)]
pub struct Provisioned {
    pub clients: Vec<Client>,
    pub channels: Vec<Channel>,
    pub whitelisted: Vec<Uuid>,
    /// client id → certificate PEM / private key PEM (x509 provisioning).
    pub client_cert: Vec<(Uuid, String)>,
    pub client_key: Vec<(Uuid, String)>,
    pub ca_cert: String,
}

/// What the device receives from Bootstrap.
#[derive(Debug, Clone)]
pub struct BootstrapView {
    pub config: BootstrapConfig,
    pub client_secret: String,
    pub channels: Vec<Channel>,
}

pub fn digest_key(salt: &str, key: &str) -> String {
    let mut h = Sha256::new();
    h.update(salt.as_bytes());
    h.update(key.as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn key_matches(stored: &str, key: &str) -> bool {
    let (salt, digest) = stored.split_once('$').unwrap_or(("", stored));
    digest_key(salt, key)
        .as_bytes()
        .ct_eq(digest.as_bytes())
        .into()
}

impl Core {
    /// Who `/mapping` acts as: the request's token; else the configured API key; else
    /// a login with the configured username and password; else 401.
    pub async fn provision_caller(&self, bearer: Option<&str>) -> Result<Caller> {
        if let Some(t) = bearer {
            let c = self.authenticate_any(t).await?;
            if c.pat.is_some() {
                return Err(Error::Forbidden(
                    "personal access tokens cannot be used for this operation",
                ));
            }
            return Ok(c);
        }
        let p = &self.cfg.provision;
        if !p.api_key.is_empty() {
            return self.authenticate(&p.api_key);
        }
        if !p.username.is_empty() && !p.password.is_empty() {
            // One login serves every header-less call until its token expires: a
            // password check per gateway would cost an Argon2 hash and a session row.
            let mut cached = self.provision_token.lock().await;
            if let Some(t) = cached.as_deref()
                && let Ok(c) = self.authenticate(t)
            {
                return Ok(c);
            }
            let pair = self
                .issue_token(&p.username, &p.password, "provision")
                .await
                .map_err(|e| match e {
                    Error::Busy => Error::Busy,
                    _ => Error::Unauthenticated("failed to create access token"),
                })?;
            let caller = self.authenticate(&pair.access_token)?;
            *cached = Some(pair.access_token);
            return Ok(caller);
        }
        Err(Error::Unauthenticated(
            "missing or invalid bearer user token",
        ))
    }

    async fn mapping_domain(&self, caller: &Caller, domain: Option<Uuid>) -> Result<Uuid> {
        if let Some(d) = domain.or(self.cfg.provision.domain_id) {
            return Ok(d);
        }
        let mine = self.store.user_domains(caller.user).await?;
        match mine.as_slice() {
            [one] => Ok(*one),
            [] => Err(Error::InvalidInput(
                "missing domain id: the user has no domain".into(),
            )),
            _ => Err(Error::InvalidInput(
                "missing domain id: use POST /{domainID}/mapping or set MG_PROVISION_DOMAIN_ID"
                    .into(),
            )),
        }
    }

    pub async fn provision(
        &self,
        caller: &Caller,
        domain: Option<Uuid>,
        name: &str,
        external_id: &str,
        external_key: &str,
    ) -> Result<Provisioned> {
        if external_id.is_empty() {
            return Err(Error::InvalidInput("missing entity id".into()));
        }
        validate::external_id(external_id)?;
        if external_key.is_empty() {
            return Err(Error::Unauthenticated(
                "missing or invalid bearer entity key",
            ));
        }
        validate::text(external_key)?;
        let who = self.verified(caller)?;
        let domain = self.mapping_domain(caller, domain).await?;
        let access = self.domain_access(caller, domain, true).await?;
        for kind in [
            switchyard_domain::EntityKind::Client,
            switchyard_domain::EntityKind::Channel,
        ] {
            self.authorize_create(caller, access, kind, domain, None)
                .await?;
        }
        let layout = &self.cfg.provision.layout;
        if layout.clients.is_empty() {
            return Err(Error::InvalidInput(
                "clients list in configuration empty".into(),
            ));
        }
        if layout.channels.is_empty() {
            return Err(Error::InvalidInput(
                "channels list in configuration is empty".into(),
            ));
        }
        if !layout.bootstrap.provision {
            return Err(Error::InvalidInput(
                "bootstrap provisioning is off in the provision configuration".into(),
            ));
        }
        let base = if name.is_empty() {
            layout.clients[0].name.as_str()
        } else {
            name
        };
        validate::name(base)?;
        let mut clients = Vec::new();
        for lc in &layout.clients {
            let mut metadata = lc.metadata.clone();
            if metadata.contains_key("external_id") {
                metadata.insert("external_id".into(), Value::String(external_id.into()));
            }
            clients.push(self.build::<Client>(
                &who,
                domain,
                NewClient {
                    name: base.to_string(),
                    metadata,
                    ..Default::default()
                },
            )?);
        }
        let mut channels = Vec::new();
        for lc in &layout.channels {
            channels.push(self.build::<Channel>(
                &who,
                domain,
                NewChannel {
                    name: format!("{base}_{}", lc.name),
                    metadata: lc.metadata.clone(),
                    ..Default::default()
                },
            )?);
        }
        let gw_index = clients
            .iter()
            .position(|c| c.metadata.contains_key("external_id"))
            .ok_or_else(|| {
                Error::InvalidInput("no client in the provision layout has external_id".into())
            })?;
        // Gateway metadata on the gateway client.
        let typed = |t: &str| {
            channels
                .iter()
                .find(|c| c.metadata.get("type").and_then(Value::as_str) == Some(t))
                .map(|c| c.id.to_string())
                .unwrap_or_default()
        };
        let (ctrl, data, export) = (typed("control"), typed("data"), typed("export"));
        let gw = &mut clients[gw_index];
        gw.metadata.insert("type".into(), json!("gateway"));
        gw.metadata
            .insert("cfg_id".into(), json!(gw.id.to_string()));
        gw.metadata.insert("ctrl_channel_id".into(), json!(ctrl));
        gw.metadata.insert("data_channel_id".into(), json!(data));
        gw.metadata
            .insert("export_channel_id".into(), json!(export));
        let gateway_id = gw.id;
        let mut connections = Vec::new();
        let mut whitelisted = Vec::new();
        if layout.bootstrap.autowhite_list {
            for c in &clients {
                for ch in &channels {
                    for kind in [ConnectionType::Publish, ConnectionType::Subscribe] {
                        connections.push(Connection {
                            channel_id: ch.id,
                            client_id: c.id,
                            kind,
                        });
                    }
                }
                whitelisted.push(c.id);
            }
        }
        let salt = Uuid::new_v4().simple().to_string();
        let content = match &layout.bootstrap.content {
            Some(v) => v.to_string(),
            None => "null".into(),
        };
        let config = BootstrapConfig {
            client_id: gateway_id,
            domain_id: domain,
            name: base.to_string(),
            external_id: external_id.to_string(),
            external_key_digest: format!("{salt}${}", digest_key(&salt, external_key)),
            content,
            client_cert: String::new(),
            client_key: String::new(),
            ca_cert: String::new(),
            state: i16::from(layout.bootstrap.autowhite_list),
            channels: channels.iter().map(|c| c.id).collect(),
            created_at: self.now(),
        };
        let mut certs = Vec::new();
        let mut client_cert = Vec::new();
        let mut client_key = Vec::new();
        let mut ca_cert = String::new();
        let mut config = config;
        if layout.bootstrap.x509_provision {
            let ca = self.authority().map_err(|_| {
                Error::Internal("x509 provisioning is on but no CA is configured".into())
            })?;
            let ttl = crate::certs::parse_ttl(layout.cert.ttl.as_deref().unwrap_or("2400h"))?;
            ca_cert = ca.ca().ca_pem().to_string();
            for c in &clients {
                let req = switchyard_certs::IssueRequest::new(c.id.to_string(), ttl);
                let (rec, issued) = self.mint(&ca, req, caller, domain, c.id)?;
                if c.id == gateway_id {
                    config.client_cert = issued.cert_pem.clone();
                    config.client_key = ca.seal_key(&issued.key_pem)?;
                    config.ca_cert = ca_cert.clone();
                }
                client_cert.push((c.id, issued.cert_pem.clone()));
                client_key.push((c.id, issued.key_pem.clone()));
                certs.push(rec);
            }
        }
        let plan = ProvisionPlan {
            domain,
            clients,
            channels,
            connections,
            config,
            certs,
        };
        self.store.provision(&plan).await.map_err(|e| match e {
            StoreError::Conflict { kind, .. } => {
                Error::AlreadyExists(crate::error::conflict_message(kind).into())
            }
            other => other.into(),
        })?;
        for c in &plan.clients {
            self.emit("client", "create", c.id, Some(domain), json!({}))
                .await;
        }
        for c in &plan.channels {
            self.emit("channel", "create", c.id, Some(domain), json!({}))
                .await;
        }
        for c in &plan.connections {
            self.emit(
                "connection",
                "connect",
                c.client_id,
                Some(domain),
                json!({"channel_id": c.channel_id, "client_id": c.client_id, "type": c.kind.as_str()}),
            )
            .await;
        }
        self.emit(
            "bootstrap",
            "create",
            gateway_id,
            Some(domain),
            json!({"external_id": external_id}),
        )
        .await;
        Ok(Provisioned {
            clients: plan.clients,
            channels: plan.channels,
            whitelisted,
            client_cert,
            client_key,
            ca_cert,
        })
    }

    /// `GET /{d}/mapping`: the layout's bootstrap content.
    pub async fn mapping_content(&self, caller: &Caller, domain: Uuid) -> Result<Value> {
        self.domain_access(caller, domain, false).await?;
        Ok(self
            .cfg
            .provision
            .layout
            .bootstrap
            .content
            .clone()
            .unwrap_or(Value::Null))
    }

    /// The device-facing fetch: `Authorization: Client <external_key>`.
    pub async fn bootstrap_fetch(
        &self,
        external_id: &str,
        key: Option<&str>,
    ) -> Result<BootstrapView> {
        let key = key.filter(|k| !k.is_empty()).ok_or(Error::Unauthenticated(
            "missing or invalid bearer entity key",
        ))?;
        if external_id.is_empty() {
            return Err(Error::InvalidInput("missing entity id".into()));
        }
        let fetched = match self.store.bootstrap_fetch(external_id).await {
            Ok(c) => c,
            Err(StoreError::NotFound) => {
                // Same digest work as a real comparison, so timing does not tell.
                let _ = key_matches("0$0", key);
                return Err(Error::NotFound);
            }
            Err(e) => return Err(e.into()),
        };
        let cfg = fetched.config;
        if !key_matches(&cfg.external_key_digest, key) {
            return Err(Error::Forbidden(
                "failed to get bootstrap configuration for given external key",
            ));
        }
        // In the config's order.
        let channels: Vec<Channel> = cfg
            .channels
            .iter()
            .filter_map(|id| fetched.channels.iter().find(|c| c.id == *id).cloned())
            .collect();
        let mut cfg = cfg;
        cfg.client_key = self.open_client_key(&cfg.client_key)?;
        Ok(BootstrapView {
            config: cfg,
            client_secret: fetched.client_secret,
            channels,
        })
    }
}

/// Content as the contract's JSON string (`[bootstrap.content]` marshalled).
pub fn content_string(v: &Option<Value>) -> String {
    v.as_ref()
        .map(Value::to_string)
        .unwrap_or_else(|| "null".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests() {
        let stored = format!("s1${}", digest_key("s1", "key"));
        assert!(key_matches(&stored, "key"));
        assert!(!key_matches(&stored, "kez"));
    }

    #[test]
    fn document_layout_parses() {
        let l = Layout::from_toml(include_str!("../../../docs/examples/provision.toml")).unwrap();
        assert_eq!(l.clients.len(), 1);
        assert_eq!(l.channels.len(), 3);
        assert!(l.bootstrap.autowhite_list);
        assert_eq!(l.bootstrap.content.unwrap()["agent"]["mqtt"]["qos"], 0);
        assert_eq!(Layout::default().channels.len(), 2);
    }
}
