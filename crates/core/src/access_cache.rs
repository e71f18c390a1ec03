//! Memory of domain status and membership, so a request inside a domain does not
//! cost two extra queries. Entries live at most `TTL`; writes on this node invalidate
//! at once, and other nodes' writes arrive as change events (domain.*,
//! invitation.accept). Bounded: at `MAX_ENTRIES` the map is cleared.

use std::{
    collections::HashMap,
    sync::RwLock,
    time::{Duration, Instant},
};

use switchyard_domain::{DomainRole, Status};
use uuid::Uuid;

pub const TTL: Duration = Duration::from_secs(30);
pub const MAX_ENTRIES: usize = 100_000;

type Members = HashMap<(Uuid, Uuid), (Option<DomainRole>, Instant)>;

#[derive(Default)]
pub struct AccessCache {
    domains: RwLock<HashMap<Uuid, (Status, Instant)>>,
    members: RwLock<Members>,
}

fn fresh(at: Instant) -> bool {
    at.elapsed() < TTL
}

impl AccessCache {
    pub fn domain(&self, d: Uuid) -> Option<Status> {
        let m = self.domains.read().ok()?;
        m.get(&d).filter(|(_, at)| fresh(*at)).map(|(s, _)| *s)
    }
    pub fn put_domain(&self, d: Uuid, s: Status) {
        if let Ok(mut m) = self.domains.write() {
            if m.len() >= MAX_ENTRIES {
                m.clear();
            }
            m.insert(d, (s, Instant::now()));
        }
    }
    pub fn member(&self, d: Uuid, u: Uuid) -> Option<Option<DomainRole>> {
        let m = self.members.read().ok()?;
        m.get(&(d, u)).filter(|(_, at)| fresh(*at)).map(|(r, _)| *r)
    }
    pub fn put_member(&self, d: Uuid, u: Uuid, r: Option<DomainRole>) {
        if let Ok(mut m) = self.members.write() {
            if m.len() >= MAX_ENTRIES {
                m.clear();
            }
            m.insert((d, u), (r, Instant::now()));
        }
    }
    pub fn forget_domain(&self, d: Uuid) {
        if let Ok(mut m) = self.domains.write() {
            m.remove(&d);
        }
        if let Ok(mut m) = self.members.write() {
            m.retain(|(dd, _), _| *dd != d);
        }
    }
    pub fn forget_member(&self, d: Uuid, u: Uuid) {
        if let Ok(mut m) = self.members.write() {
            m.remove(&(d, u));
        }
    }
}
