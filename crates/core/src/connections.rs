//! Connections: client ↔ channel, typed publish/subscribe. A caller may connect a
//! client to a channel only if they may manage both; both must be in the domain.
//! Connect and disconnect are idempotent and all-or-nothing.

use std::collections::BTreeSet;

use serde_json::json;
use switchyard_auth::policy::{Action, DomainAccess};
use switchyard_domain::{Connection, ConnectionType, validate};
use uuid::Uuid;

use crate::{Caller, Core, Error, Result, entity::Managed};

/// Parses ids and types of a connect/disconnect request.
fn parse(
    channel_ids: &[String],
    client_ids: &[String],
    types: &[String],
) -> Result<(Vec<Uuid>, Vec<Uuid>, Vec<ConnectionType>)> {
    if channel_ids.is_empty() || client_ids.is_empty() {
        return Err(Error::InvalidInput("missing entity id".into()));
    }
    if types.is_empty() {
        return Err(Error::InvalidInput("missing connection type".into()));
    }
    let ids = |v: &[String]| -> Result<Vec<Uuid>> {
        let set: Result<BTreeSet<Uuid>> = v.iter().map(|s| Ok(validate::parse_id(s)?)).collect();
        Ok(set?.into_iter().collect())
    };
    let ts: Result<BTreeSet<ConnectionType>> = types
        .iter()
        .map(|t| Ok(ConnectionType::parse(t)?))
        .collect();
    Ok((
        ids(channel_ids)?,
        ids(client_ids)?,
        ts?.into_iter().collect(),
    ))
}

impl Core {
    pub(crate) async fn emit_connections(&self, op: &str, domain: Uuid, cs: &[Connection]) {
        for c in cs {
            self.emit(
                "connection",
                op,
                c.client_id,
                Some(domain),
                json!({"channel_id": c.channel_id, "client_id": c.client_id, "type": c.kind.as_str()}),
            )
            .await;
        }
    }

    /// Connects (`connect`) or disconnects every channel × client × type (the caller
    /// needs that action on each channel and client), then tells subscribers what
    /// changed (a pair already in that state is not an event).
    pub async fn change_connections(
        &self,
        caller: &Caller,
        domain: Uuid,
        channel_ids: &[String],
        client_ids: &[String],
        types: &[String],
        connect: bool,
    ) -> Result<()> {
        let (action, op) = if connect {
            (Action::Connect, "connect")
        } else {
            (Action::Disconnect, "disconnect")
        };
        let (chs, cls, ts) = parse(channel_ids, client_ids, types)?;
        let access = self.domain_access(caller, domain, true).await?;
        for ch in &chs {
            self.entity_for::<switchyard_domain::Channel>(caller, access, domain, *ch, action)
                .await?;
        }
        for cl in &cls {
            self.entity_for::<switchyard_domain::Client>(caller, access, domain, *cl, action)
                .await?;
        }
        let mut plan = Vec::with_capacity(chs.len() * cls.len() * ts.len());
        for ch in &chs {
            for cl in &cls {
                for t in &ts {
                    plan.push(Connection {
                        channel_id: *ch,
                        client_id: *cl,
                        kind: *t,
                    });
                }
            }
        }
        let changed = if connect {
            self.store.connect(domain, &plan).await?
        } else {
            self.store.disconnect(domain, &plan).await?
        };
        self.emit_connections(op, domain, &changed).await;
        Ok(())
    }
}

impl Core {
    /// Channels a client is connected to. Without a domain (the document's
    /// `/clients/{id}/channels`), the client's own domain is used.
    pub async fn channels_of_client(
        &self,
        caller: &Caller,
        domain: Option<Uuid>,
        client: Uuid,
        q: &switchyard_domain::QueryParams,
    ) -> Result<switchyard_domain::Page<switchyard_domain::Channel>> {
        let (domain, access) = match domain {
            Some(d) => (d, self.domain_access(caller, d, true).await?),
            // The document form names no domain: a client in a domain the caller is
            // not in answers like one that does not exist (no existence oracle).
            None => {
                let d = self.store.client_any_domain(client).await?.domain_id;
                match self.domain_access(caller, d, true).await {
                    Ok(a) => (d, a),
                    Err(Error::Forbidden(_)) => return Err(Error::NotFound),
                    Err(e) => return Err(e),
                }
            }
        };
        let eq = self
            .connected_to::<switchyard_domain::Client>(caller, domain, access, client, q)
            .await?;
        Ok(self.store.list_channels(domain, &eq).await?)
    }

    /// Clients connected to a channel.
    pub async fn clients_of_channel(
        &self,
        caller: &Caller,
        domain: Uuid,
        channel: Uuid,
        q: &switchyard_domain::QueryParams,
    ) -> Result<switchyard_domain::Page<switchyard_domain::Client>> {
        let access = self.domain_access(caller, domain, true).await?;
        let eq = self
            .connected_to::<switchyard_domain::Channel>(caller, domain, access, channel, q)
            .await?;
        Ok(self.store.list_clients(domain, &eq).await?)
    }

    /// The list query of what is connected to `id` (an `O` the caller may view): the
    /// query string's filters, the connection, and what the caller may read of the
    /// other side.
    async fn connected_to<O: Managed>(
        &self,
        caller: &Caller,
        domain: Uuid,
        access: DomainAccess,
        id: Uuid,
        q: &switchyard_domain::QueryParams,
    ) -> Result<switchyard_domain::EntityQuery> {
        use switchyard_domain::EntityKind;
        self.entity_for::<O>(caller, access, domain, id, Action::View)
            .await?;
        let mut eq = q.entity_query()?;
        let other = if O::ENTITY == EntityKind::Client {
            eq.client = Some(id);
            EntityKind::Channel
        } else {
            eq.channel = Some(id);
            EntityKind::Client
        };
        eq.reader = self.reader(caller, domain, access, other).await?;
        Ok(eq)
    }
}
