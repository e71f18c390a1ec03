//! Bootstrap configs: management under `/{domainID}/clients/configs`, the whitelist
//! state, and the Agent-compatible encrypted fetch.
//!
//! A config's id is its client's id. Whitelisting (state Active) connects the client
//! to every config channel for publish and subscribe, in the same transaction as the
//! state change; Inactive disconnects. Configs follow their entities: a deleted client
//! takes its config with it (foreign key), and channel names and metadata are read at
//! fetch time, so a renamed channel shows its new name and a deleted one disappears.
//!
//! The secure fetch uses AES in CFB mode with the raw bytes of
//! `MG_BOOTSTRAP_ENCRYPT_KEY` (16, 24 or 32 bytes): the request's key is
//! `hex(IV ‖ CFB(external_key))`, the response body `IV ‖ CFB(json)`.

use serde_json::json;
use switchyard_auth::policy::Action;
use switchyard_domain::{
    BootstrapConfig, Channel, Client, Connection, ConnectionType, Page, Status, validate,
};
use switchyard_store::{ConfigQuery, StoreError};
use uuid::Uuid;

use crate::{Caller, Core, Error, NewClient, Result, provision::digest_key};

#[derive(Debug, Clone, Default)]
pub struct NewConfig {
    pub client_id: Option<String>,
    pub external_id: String,
    pub external_key: String,
    pub channels: Vec<String>,
    pub name: String,
    pub content: String,
    pub client_cert: String,
    pub client_key: String,
    pub ca_cert: String,
}

#[derive(Debug, Clone)]
pub struct ConfigView {
    pub config: BootstrapConfig,
    pub client_secret: String,
    pub channels: Vec<Channel>,
}

fn cfb(key: &[u8], iv: &[u8], data: &mut [u8], encrypt: bool) -> Result<()> {
    use cfb_mode::cipher::{AsyncStreamCipher, KeyIvInit};
    let bad = |_| Error::Internal("bootstrap encryption key must be 16, 24 or 32 bytes".into());
    macro_rules! run {
        ($aes:ty) => {
            if encrypt {
                cfb_mode::Encryptor::<$aes>::new_from_slices(key, iv)
                    .map_err(bad)?
                    .encrypt(data)
            } else {
                cfb_mode::Decryptor::<$aes>::new_from_slices(key, iv)
                    .map_err(bad)?
                    .decrypt(data)
            }
        };
    }
    match key.len() {
        16 => run!(aes::Aes128),
        24 => run!(aes::Aes192),
        32 => run!(aes::Aes256),
        _ => {
            return Err(Error::Internal(
                "bootstrap encryption key must be 16, 24 or 32 bytes".into(),
            ));
        }
    }
    Ok(())
}

/// `IV ‖ CFB(plain)` with a fresh random IV.
pub fn encrypt(key: &[u8], plain: &[u8]) -> Result<Vec<u8>> {
    let iv = *Uuid::new_v4().as_bytes();
    let mut out = iv.to_vec();
    let mut body = plain.to_vec();
    cfb(key, &iv, &mut body, true)?;
    out.extend_from_slice(&body);
    Ok(out)
}

/// Inverse of [`encrypt`].
pub fn decrypt(key: &[u8], data: &[u8]) -> Result<Vec<u8>> {
    if data.len() < 16 {
        return Err(Error::InvalidInput("ciphertext too short".into()));
    }
    let (iv, body) = data.split_at(16);
    let mut body = body.to_vec();
    cfb(key, iv, &mut body, false)?;
    Ok(body)
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect()
}

pub fn hex_encode(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn all_types(client: Uuid, channels: &[Uuid]) -> Vec<Connection> {
    channels
        .iter()
        .flat_map(|ch| {
            [ConnectionType::Publish, ConnectionType::Subscribe].map(|kind| Connection {
                channel_id: *ch,
                client_id: client,
                kind,
            })
        })
        .collect()
}

impl Core {
    async fn config_for(
        &self,
        caller: &Caller,
        domain: Uuid,
        id: Uuid,
        action: Action,
    ) -> Result<BootstrapConfig> {
        let access = self.domain_access(caller, domain, true).await?;
        self.entity_for::<Client>(caller, access, domain, id, action)
            .await?;
        Ok(self.store.config(domain, id).await?)
    }

    async fn config_channels(
        &self,
        caller: &Caller,
        domain: Uuid,
        ids: &[String],
    ) -> Result<Vec<Uuid>> {
        if ids.is_empty() || ids.iter().any(String::is_empty) {
            return Err(Error::InvalidInput("empty list provided".into()));
        }
        let access = self.domain_access(caller, domain, true).await?;
        let mut out = Vec::new();
        for s in ids {
            let id = Uuid::parse_str(s)
                .map_err(|_| Error::InvalidInput("malformed entity specification".into()))?;
            self.entity_for::<Channel>(caller, access, domain, id, Action::Connect)
                .await
                .map_err(|e| match e {
                    Error::NotFound | Error::Forbidden(_) => {
                        Error::InvalidInput("malformed entity specification".into())
                    }
                    other => other,
                })?;
            if !out.contains(&id) {
                out.push(id);
            }
        }
        Ok(out)
    }

    pub async fn create_config(
        &self,
        caller: &Caller,
        domain: Uuid,
        n: NewConfig,
    ) -> Result<BootstrapConfig> {
        if n.external_id.is_empty() {
            return Err(Error::InvalidInput("missing entity id".into()));
        }
        validate::external_id(&n.external_id)?;
        if n.external_key.is_empty() {
            return Err(Error::Unauthenticated(
                "missing or invalid bearer entity key",
            ));
        }
        validate::text(&n.external_key)?;
        validate::name(&n.name)?;
        let channels = self.config_channels(caller, domain, &n.channels).await?;
        let access = self.domain_access(caller, domain, true).await?;
        let (client_id, new_client): (Uuid, Option<Client>) =
            match n.client_id.as_deref().filter(|s| !s.is_empty()) {
                Some(s) => {
                    let id = validate::parse_id(s)?;
                    self.entity_for::<Client>(caller, access, domain, id, Action::Update)
                        .await?;
                    (id, None)
                }
                None => {
                    let c = self.build::<Client>(
                        &self.verified(caller)?,
                        domain,
                        NewClient {
                            name: format!("Bootstrapped Client {}", Uuid::new_v4()),
                            ..Default::default()
                        },
                    )?;
                    (c.id, Some(c))
                }
            };
        let salt = Uuid::new_v4().simple().to_string();
        let cfg = BootstrapConfig {
            client_id,
            domain_id: domain,
            name: n.name,
            external_id: n.external_id,
            external_key_digest: format!("{salt}${}", digest_key(&salt, &n.external_key)),
            content: n.content,
            client_cert: n.client_cert,
            client_key: self.seal_client_key(&n.client_key)?,
            ca_cert: n.ca_cert,
            state: 0,
            channels,
            created_at: self.now(),
        };
        self.store
            .create_config(&cfg, new_client.as_ref())
            .await
            .map_err(|e| match e {
                StoreError::Conflict { .. } => {
                    Error::Conflict("failed to add bootstrap configuration")
                }
                other => other.into(),
            })?;
        if let Some(c) = &new_client {
            self.emit("client", "create", c.id, Some(domain), json!({}))
                .await;
        }
        self.emit("bootstrap", "create", client_id, Some(domain), json!({}))
            .await;
        Ok(cfg)
    }

    pub async fn view_config(&self, caller: &Caller, domain: Uuid, id: Uuid) -> Result<ConfigView> {
        let cfg = self.config_for(caller, domain, id, Action::View).await?;
        self.config_view(cfg).await
    }

    async fn config_view(&self, cfg: BootstrapConfig) -> Result<ConfigView> {
        let client = self.store.client(cfg.domain_id, cfg.client_id).await?;
        let mut channels = Vec::with_capacity(cfg.channels.len());
        for ch in &cfg.channels {
            match self.store.channel(cfg.domain_id, *ch).await {
                Ok(c) if c.status != Status::Deleted => channels.push(c),
                Ok(_) | Err(StoreError::NotFound) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(ConfigView {
            config: cfg,
            client_secret: client.secret,
            channels,
        })
    }

    pub async fn list_configs(
        &self,
        caller: &Caller,
        domain: Uuid,
        q: &switchyard_domain::QueryParams,
    ) -> Result<Page<BootstrapConfig>> {
        let access = self.domain_access(caller, domain, true).await?;
        let limit = q.u64("limit", 10)?;
        if limit > 100 {
            return Err(Error::InvalidInput("invalid limit size".into()));
        }
        let state = match q.text("state") {
            None => None,
            Some(s) => match s.as_str() {
                "0" => Some(0),
                "1" => Some(1),
                _ => return Err(Error::InvalidInput("invalid bootstrap state".into())),
            },
        };
        let cq = ConfigQuery {
            offset: q.offset()?,
            limit,
            state,
            external_id: q.text("external_id"),
            name: q.text("name"),
            created_by: (!switchyard_auth::policy::sees_all(access)).then_some(caller.user),
        };
        Ok(self.store.list_configs(domain, &cq).await?)
    }

    pub async fn update_config(
        &self,
        caller: &Caller,
        domain: Uuid,
        id: Uuid,
        name: Option<String>,
        content: Option<String>,
    ) -> Result<()> {
        let mut cfg = self.config_for(caller, domain, id, Action::Update).await?;
        if let Some(n) = name {
            validate::name(&n)?;
            cfg.name = n;
        }
        if let Some(c) = content {
            cfg.content = c;
        }
        self.store.update_config(&cfg).await?;
        self.emit("bootstrap", "update", id, Some(domain), json!({}))
            .await;
        Ok(())
    }

    pub async fn update_config_certs(
        &self,
        caller: &Caller,
        domain: Uuid,
        id: Uuid,
        client_cert: String,
        client_key: String,
        ca_cert: String,
    ) -> Result<BootstrapConfig> {
        let mut cfg = self.config_for(caller, domain, id, Action::Update).await?;
        cfg.client_cert = client_cert;
        cfg.client_key = self.seal_client_key(&client_key)?;
        cfg.ca_cert = ca_cert;
        self.store.update_config(&cfg).await?;
        self.emit("bootstrap", "update_certs", id, Some(domain), json!({}))
            .await;
        // The caller gets back the key it sent, not the sealed form.
        cfg.client_key = client_key;
        Ok(cfg)
    }

    /// Replaces the config's channels; an Active config's connections follow.
    pub async fn update_config_connections(
        &self,
        caller: &Caller,
        domain: Uuid,
        id: Uuid,
        channels: &[String],
    ) -> Result<()> {
        let new = self.config_channels(caller, domain, channels).await?;
        let mut cfg = self.config_for(caller, domain, id, Action::Update).await?;
        let (add, remove) = if cfg.state == 1 {
            let added: Vec<Uuid> = new
                .iter()
                .filter(|c| !cfg.channels.contains(c))
                .copied()
                .collect();
            let removed: Vec<Uuid> = cfg
                .channels
                .iter()
                .filter(|c| !new.contains(c))
                .copied()
                .collect();
            (all_types(id, &added), all_types(id, &removed))
        } else {
            (vec![], vec![])
        };
        cfg.channels = new;
        self.store
            .update_config_with_connections(&cfg, &add, &remove)
            .await?;
        self.emit_connections("connect", domain, &add).await;
        self.emit_connections("disconnect", domain, &remove).await;
        Ok(())
    }

    /// `PUT /{d}/clients/state/{id}`: 1 connects to every config channel, 0 disconnects.
    pub async fn set_config_state(
        &self,
        caller: &Caller,
        domain: Uuid,
        id: Uuid,
        state: i64,
    ) -> Result<()> {
        let state = match state {
            0 => 0i16,
            1 => 1i16,
            _ => return Err(Error::InvalidInput("invalid bootstrap state".into())),
        };
        let mut cfg = self.config_for(caller, domain, id, Action::Update).await?;
        if cfg.state == state {
            return Ok(());
        }
        cfg.state = state;
        let conns = all_types(id, &cfg.channels);
        let (add, remove) = if state == 1 {
            (conns, vec![])
        } else {
            (vec![], conns)
        };
        self.store
            .update_config_with_connections(&cfg, &add, &remove)
            .await?;
        self.emit_connections("connect", domain, &add).await;
        self.emit_connections("disconnect", domain, &remove).await;
        self.emit(
            "bootstrap",
            "state",
            id,
            Some(domain),
            json!({"state": state}),
        )
        .await;
        Ok(())
    }

    pub async fn delete_config(&self, caller: &Caller, domain: Uuid, id: Uuid) -> Result<()> {
        self.config_for(caller, domain, id, Action::Update).await?;
        self.store.delete_config(domain, id).await?;
        self.emit("bootstrap", "remove", id, Some(domain), json!({}))
            .await;
        Ok(())
    }

    fn bootstrap_key(&self) -> Result<&[u8]> {
        self.cfg
            .bootstrap_encrypt_key
            .as_deref()
            .ok_or_else(|| Error::Internal("no bootstrap encryption key configured".into()))
    }

    /// The secure fetch: the key arrives as `hex(IV ‖ CFB(external_key))`; the answer
    /// is `IV ‖ CFB(json)`, where `json` is what `render` makes of the view.
    /// The Agent's encrypted fetch: `render` turns the config into the wire document,
    /// which is returned encrypted under the bootstrap key (the key never leaves core).
    pub async fn bootstrap_fetch_secure(
        &self,
        external_id: &str,
        encrypted_key: Option<&str>,
        render: impl FnOnce(crate::provision::BootstrapView) -> Vec<u8> + Send,
    ) -> Result<Vec<u8>> {
        let enc = encrypted_key
            .filter(|k| !k.is_empty())
            .ok_or(Error::Unauthenticated(
                "missing or invalid bearer entity key",
            ))?;
        let bad = || {
            Error::Forbidden(
                "failed to get bootstrap configuration for given encrypted external key",
            )
        };
        let raw = hex_decode(enc).ok_or_else(bad)?;
        let key = decrypt(self.bootstrap_key()?, &raw).map_err(|_| bad())?;
        let key = String::from_utf8(key).map_err(|_| bad())?;
        let view = self
            .bootstrap_fetch(external_id, Some(&key))
            .await
            .map_err(|e| match e {
                Error::Forbidden(_) => bad(),
                other => other,
            })?;
        encrypt(self.bootstrap_key()?, &render(view))
    }
}

impl Core {
    /// A bootstrap config's `client_key` (a device's private key) as stored: sealed
    /// under the certs service's secret; empty stays empty.
    pub(crate) fn seal_client_key(&self, pem: &str) -> Result<String> {
        if pem.is_empty() {
            return Ok(String::new());
        }
        self.authority()?.seal_key(pem)
    }

    /// The clear `client_key` of a stored config.
    pub(crate) fn open_client_key(&self, stored: &str) -> Result<String> {
        if stored.is_empty() {
            return Ok(String::new());
        }
        self.authority()?.open_key(stored)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cfb_roundtrip_all_key_sizes() {
        for n in [16, 24, 32] {
            let key = vec![7u8; n];
            let c = encrypt(&key, b"external_key").unwrap();
            assert_eq!(c.len(), 16 + 12);
            assert_eq!(decrypt(&key, &c).unwrap(), b"external_key");
        }
        assert!(encrypt(&[1u8; 10], b"x").is_err());
        assert_eq!(
            hex_decode(&hex_encode(&[0, 255, 16])).unwrap(),
            vec![0, 255, 16]
        );
        assert!(hex_decode("zz").is_none());
    }
}
