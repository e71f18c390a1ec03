//! The message plane's login reads, made together: a fleet reconnecting at once has
//! hundreds of CONNECTs waiting for their client's row, and one query reads them all
//! (up to [`MAX_LOGIN_BATCH`]) instead of one round trip each. One batch is read at a
//! time; what arrives meanwhile waits for the next, so a lone login waits for nothing.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use switchyard_domain::ClientLogin;
use switchyard_store::{MAX_LOGIN_BATCH, Store, StoreError};
use tokio::sync::oneshot;
use uuid::Uuid;

type Reply = Result<Option<ClientLogin>, StoreError>;

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
        match store.client_logins(&ids).await {
            Ok(found) => {
                let by_id: HashMap<Uuid, ClientLogin> =
                    found.into_iter().map(|c| (c.id, c)).collect();
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
