//! The message plane's login reads, made together: a fleet reconnecting at once has
//! hundreds of CONNECTs waiting for their client's row, and one query reads them all
//! (up to [`MAX_LOGIN_BATCH`]) instead of one round trip each, with a second query for
//! their connections, so their first SUBSCRIBE and PUBLISH are authorized from memory.
//! One batch is read at a time; what arrives meanwhile waits for the next, so a lone
//! login waits for nothing.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use switchyard_domain::{ClientLogin, ConnectionType};
use switchyard_store::{MAX_LOGIN_BATCH, Store, StoreError};
use tokio::sync::oneshot;
use uuid::Uuid;

/// A client's login and the (channel, type) connections it has.
pub(crate) type Login = (ClientLogin, Vec<(Uuid, ConnectionType)>);
type Reply = Result<Option<Login>, StoreError>;

#[derive(Default)]
struct Queue {
    /// A reader task is draining the queue.
    reading: bool,
    waiting: Vec<(Uuid, oneshot::Sender<Reply>)>,
}

pub(crate) struct LoginReads {
    store: Arc<dyn Store>,
    queue: Arc<Mutex<Queue>>,
}

impl LoginReads {
    pub(crate) fn new(store: Arc<dyn Store>) -> LoginReads {
        LoginReads {
            store,
            queue: Arc::default(),
        }
    }

    /// The login read of one client: `None` when there is no such client.
    pub(crate) async fn read(&self, id: Uuid) -> Reply {
        let (tx, rx) = oneshot::channel();
        let start = match self.queue.lock() {
            Ok(mut q) => {
                q.waiting.push((id, tx));
                !std::mem::replace(&mut q.reading, true)
            }
            Err(_) => return Err(StoreError::Other("login queue poisoned".into())),
        };
        if start {
            tokio::spawn(drain(self.store.clone(), self.queue.clone()));
        }
        rx.await
            .unwrap_or_else(|_| Err(StoreError::Other("login read abandoned".into())))
    }
}

/// Should the reader end unexpectedly (a panic, the runtime stopping), lets the next
/// login start one and fails the logins still queued (their senders drop).
struct Reading {
    queue: Arc<Mutex<Queue>>,
    armed: bool,
}

impl Drop for Reading {
    fn drop(&mut self) {
        if self.armed
            && let Ok(mut q) = self.queue.lock()
        {
            q.reading = false;
            q.waiting.clear();
        }
    }
}

async fn drain(store: Arc<dyn Store>, queue: Arc<Mutex<Queue>>) {
    let mut guard = Reading {
        queue: queue.clone(),
        armed: true,
    };
    loop {
        let batch: Vec<(Uuid, oneshot::Sender<Reply>)> = match queue.lock() {
            Ok(mut q) => {
                if q.waiting.is_empty() {
                    // Under the lock: a login queued after this starts a reader.
                    q.reading = false;
                    guard.armed = false;
                    return;
                }
                let n = q.waiting.len().min(MAX_LOGIN_BATCH);
                q.waiting.drain(..n).collect()
            }
            Err(_) => return,
        };
        let mut ids: Vec<Uuid> = batch.iter().map(|(id, _)| *id).collect();
        ids.sort_unstable();
        ids.dedup();
        match read_batch(&*store, &ids).await {
            Ok(by_id) => {
                // A client may be in the batch more than once (several connections).
                for (id, tx) in batch {
                    let _ = tx.send(Ok(by_id.get(&id).cloned()));
                }
            }
            Err(e) => {
                let msg = e.to_string();
                for (_, tx) in batch {
                    let _ = tx.send(Err(StoreError::Other(msg.clone())));
                }
            }
        }
    }
}

/// The logins of these clients, with their connections.
async fn read_batch(store: &dyn Store, ids: &[Uuid]) -> Result<HashMap<Uuid, Login>, StoreError> {
    // Both at once: the batch waits for the slower of the two, not their sum.
    let (found, conns) = tokio::join!(store.client_logins(ids), store.clients_connections(ids));
    let mut by_id: HashMap<Uuid, Login> = found?
        .into_iter()
        .map(|c| (c.id, (c, Vec::new())))
        .collect();
    for c in conns? {
        if let Some((_, conns)) = by_id.get_mut(&c.client_id) {
            conns.push((c.channel_id, c.kind));
        }
    }
    Ok(by_id)
}
