//! The local pool's threads for sync tasks: one process-wide set of threads
//! fed by a plain queue (a mutex, a condition variable), grown when a job
//! finds no idle thread and shrunk when a thread has idled for a while. The
//! engine bounds how many of its atoms are out at once (`max_workers`); the
//! pool only lends threads, so that a sync task that blocks (on I/O, a sleep)
//! holds a thread of its own and not the engine's loop.
//!
//! A plain channel, not work stealing: the jobs come from one producer (the
//! engine's loop) and each is one call of a task, so there is nothing to
//! steal, and a single queue keeps the hand-off at one lock and one wake-up.
//! The `parallel` benchmark measures it.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::Duration;

/// A job: one call of a sync task, which sends its own result.
pub(super) type Job = Box<dyn FnOnce() + Send + 'static>;

/// How long an idle thread waits for work before it ends.
const IDLE: Duration = Duration::from_secs(10);

/// More threads than this are never started (jobs queue instead).
const MAX_THREADS: usize = 512;

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    /// Threads waiting for a job.
    idle: usize,
    /// Threads alive.
    threads: usize,
}

#[derive(Default)]
pub(super) struct Pool {
    queue: Mutex<Queue>,
    ready: Condvar,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let q = self.lock();
        f.debug_struct("Pool")
            .field("queued", &q.jobs.len())
            .field("idle", &q.idle)
            .field("threads", &q.threads)
            .finish()
    }
}

/// The process's pool.
pub(super) fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(Pool::default)
}

impl Pool {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        // A job never runs under the lock: a poisoned lock is still sound.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `job` on a thread of the pool. A job that cannot get a thread
    /// (none idle, none can be started) waits in the queue for the next free
    /// one; with no thread at all, it runs here.
    pub(super) fn submit(&'static self, job: Job) {
        let mut q = self.lock();
        q.jobs.push_back(job);
        if q.idle >= q.jobs.len() {
            drop(q);
            self.ready.notify_one();
            return;
        }
        if q.threads >= MAX_THREADS {
            return;
        }
        q.threads += 1;
        drop(q);
        let started = std::thread::Builder::new()
            .name("taskwire-pool".into())
            .spawn(move || self.work());
        if let Err(e) = started {
            tracing::warn!(error = %e, "cannot start a pool thread; running the task here");
            let mut q = self.lock();
            q.threads -= 1;
            let job = if q.threads == 0 {
                q.jobs.pop_back()
            } else {
                None
            };
            drop(q);
            if let Some(job) = job {
                job();
            }
        }
    }

    fn work(&self) {
        let mut q = self.lock();
        loop {
            if let Some(job) = q.jobs.pop_front() {
                drop(q);
                // Jobs catch their tasks' panics and send their results.
                job();
                q = self.lock();
                continue;
            }
            q.idle += 1;
            let (guard, timeout) = self
                .ready
                .wait_timeout(q, IDLE)
                .unwrap_or_else(|e| e.into_inner());
            q = guard;
            q.idle -= 1;
            if timeout.timed_out() && q.jobs.is_empty() {
                q.threads -= 1;
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn runs_jobs_concurrently_and_reuses_threads() {
        let (tx, rx) = mpsc::channel();
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(4));
        for n in 0..4 {
            let (tx, barrier) = (tx.clone(), barrier.clone());
            // Four jobs that each wait for the others: they can only all
            // finish if they run at the same time.
            pool().submit(Box::new(move || {
                barrier.wait();
                tx.send(n).unwrap();
            }));
        }
        let mut got: Vec<i32> = (0..4)
            .map(|_| rx.recv_timeout(Duration::from_secs(10)).unwrap())
            .collect();
        got.sort();
        assert_eq!(got, [0, 1, 2, 3]);
        // The threads are idle now and take the next jobs.
        let before = pool().lock().threads;
        for n in 0..8 {
            let tx = tx.clone();
            pool().submit(Box::new(move || tx.send(n).unwrap()));
            rx.recv_timeout(Duration::from_secs(10)).unwrap();
        }
        assert!(pool().lock().threads <= before.max(4) + 1);
    }
}
