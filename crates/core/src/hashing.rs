//! Password hashing on a bounded pool. Argon2id takes ~19 MiB and tens of milliseconds
//! per check, so unbounded `spawn_blocking` let a login flood grow memory by gigabytes:
//! every blocking thread that hashed kept its own allocator arena holding the freed
//! 19 MiB. Hashes run on `workers` long-lived threads of their own (so at most that many
//! arenas ever hold Argon2 memory), at most `queue` more wait, and beyond that the
//! request is refused at once with [`Error::Busy`] (503 with `Retry-After`).

use std::sync::{
    Arc, Mutex,
    mpsc::{Receiver, SyncSender, TrySendError, sync_channel},
};

use crate::{Error, Result};

type Job = Box<dyn FnOnce() + Send>;

pub(crate) struct HashPool {
    jobs: SyncSender<Job>,
    /// Jobs admitted (running or waiting): `workers + queue` at most.
    admitted: Arc<tokio::sync::Semaphore>,
}

impl HashPool {
    /// `workers` 0 means one per available core. The threads end with the pool.
    pub(crate) fn new(workers: usize, queue: usize) -> HashPool {
        let workers = match workers {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        };
        // Admission bounds the jobs in flight, so the channel never fills.
        let (jobs, rx) = sync_channel::<Job>(workers + queue);
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..workers {
            let rx: Arc<Mutex<Receiver<Job>>> = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("switchyard-hash-{i}"))
                .spawn(move || {
                    loop {
                        let job = match rx.lock() {
                            Ok(r) => r.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a password hashing thread");
            }
        }
        HashPool {
            jobs,
            admitted: Arc::new(tokio::sync::Semaphore::new(workers + queue)),
        }
    }

    /// Runs `f` (a hash or a verification) on a hashing thread when the pool has room.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T> {
        let Ok(permit) = self.admitted.clone().try_acquire_owned() else {
            return Err(Error::Busy);
        };
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let out = f();
            // Room for the next job before the caller hears back.
            drop(permit);
            let _ = tx.send(out);
        });
        match self.jobs.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(Error::Busy),
            Err(TrySendError::Disconnected(_)) => {
                return Err(Error::Internal("password hashing stopped".into()));
            }
        }
        rx.await
            .map_err(|_| Error::Internal("password hashing failed".into()))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn over_the_queue_is_refused_at_once() {
        let pool = Arc::new(HashPool::new(1, 1));
        let slow = || std::thread::sleep(Duration::from_millis(300));
        let a = tokio::spawn({
            let p = pool.clone();
            async move { p.run(slow).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let b = tokio::spawn({
            let p = pool.clone();
            async move { p.run(slow).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        // One running, one waiting: the third is refused without waiting.
        let t = std::time::Instant::now();
        assert!(matches!(pool.run(|| ()).await, Err(Error::Busy)));
        assert!(t.elapsed() < Duration::from_millis(100));
        a.await.unwrap().unwrap();
        b.await.unwrap().unwrap();
        // Room again, on the pool's own long-lived thread.
        let name = pool
            .run(|| std::thread::current().name().map(str::to_string))
            .await
            .unwrap();
        assert_eq!(name.as_deref(), Some("switchyard-hash-0"));
    }
}
