//! Password hashing on a bounded pool. Argon2id takes ~19 MiB and tens of milliseconds
//! per check, so unbounded `spawn_blocking` let a login flood grow memory by gigabytes.
//! At most `workers` hashes run at once and at most `queue` more wait; beyond that the
//! request is refused at once with [`Error::Busy`] (503 with `Retry-After`).

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use tokio::sync::Semaphore;

use crate::{Error, Result};

pub(crate) struct HashPool {
    running: Arc<Semaphore>,
    waiting: AtomicUsize,
    queue: usize,
}

/// Counts a waiter until it is dropped (also when the request is abandoned).
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl HashPool {
    /// `workers` 0 means one per available core.
    pub(crate) fn new(workers: usize, queue: usize) -> HashPool {
        let workers = match workers {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        };
        HashPool {
            running: Arc::new(Semaphore::new(workers)),
            waiting: AtomicUsize::new(0),
            queue,
        }
    }

    /// Runs `f` (a hash or a verification) on a blocking thread when the pool has room.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T> {
        let permit = match self.running.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                if self.waiting.fetch_add(1, Ordering::Relaxed) >= self.queue {
                    self.waiting.fetch_sub(1, Ordering::Relaxed);
                    return Err(Error::Busy);
                }
                let _waiting = Waiting(&self.waiting);
                self.running
                    .clone()
                    .acquire_owned()
                    .await
                    .map_err(|e| Error::Internal(e.to_string()))?
            }
        };
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            f()
        })
        .await
        .map_err(|e| Error::Internal(e.to_string()))
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
        // Room again.
        pool.run(|| ()).await.unwrap();
        assert_eq!(pool.waiting.load(Ordering::Relaxed), 0);
    }
}
