//! The local pool's threads for sync tasks: one process-wide set of threads
//! fed by a plain queue (a mutex, a condition variable), grown when a job
//! finds no idle thread and shrunk when a thread has idled for a while. The
//! engine bounds how many of its atoms are out at once (`max_workers`); the
//! pool only lends threads, so that a sync task that blocks (on I/O, a sleep)
//! holds a thread of its own and not the engine's loop.
//!
//! A plain channel, not work stealing: the jobs come from one producer (the
//! engine's loop) and each is one call of a task, so there is nothing to
//! steal, and a single queue keeps the hand-off at one lock. What costs is
//! waking a sleeping thread (a system call, and a context switch on a busy
//! machine): a thread that ran out of jobs looks for the next one for
//! `SPIN` before it sleeps (one such thread at a time), and the engine's
//! loop does the same for results, so that a stream of short tasks flows
//! between them without waking anyone. The `parallel` benchmark measures
//! it: a fan-out of 10,000 sync no-op tasks.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// A job: one call of a sync task, which sends its own result.
pub(super) type Job = Box<dyn FnOnce() + Send + 'static>;

/// How long an idle thread waits for work before it ends.
const IDLE: Duration = Duration::from_secs(10);

/// More threads than this are never started (jobs queue instead).
const MAX_THREADS: usize = 512;

/// How long a thread that ran out of jobs looks for the next before it
/// sleeps; at most `SPINNERS` threads look at once.
const SPIN: Duration = Duration::from_micros(50);
const SPINNERS: usize = 1;

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    /// Threads waiting for a job.
    idle: usize,
    /// Threads alive.
    threads: usize,
    /// Idle threads woken and not yet running.
    woken: usize,
}

#[derive(Default)]
pub(super) struct Pool {
    queue: Mutex<Queue>,
    ready: Condvar,
    /// The queue's length, readable without the lock (by spinning threads).
    queued: AtomicUsize,
    /// Threads looking for a job without sleeping.
    spinning: AtomicUsize,
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

    /// Runs `jobs` on threads of the pool: a thread is woken (or started)
    /// for each job; a thread that takes a job while more wait wakes (or
    /// starts) one more, in case one of them was not. With no thread at all,
    /// the jobs run here.
    pub(super) fn submit(&'static self, jobs: impl IntoIterator<Item = Job>) {
        let mut q = self.lock();
        let before = q.jobs.len();
        q.jobs.extend(jobs);
        let added = q.jobs.len() - before;
        self.queued.store(q.jobs.len(), Ordering::Release);
        let spawn = (0..added).filter(|_| self.another(&mut q)).count();
        drop(q);
        self.spawn(spawn);
    }

    /// Sees that the queued jobs have a thread on its way: wakes an idle
    /// thread, or says to start one (`true`; counted already).
    fn another(&self, q: &mut Queue) -> bool {
        if q.jobs.len() <= q.woken + self.spinning.load(Ordering::Acquire) {
            return false;
        }
        if q.idle > q.woken {
            q.woken += 1;
            self.ready.notify_one();
            return false;
        }
        if q.threads < MAX_THREADS {
            q.threads += 1;
            return true;
        }
        false
    }

    fn spawn(&'static self, n: usize) {
        for started in 0..n {
            let spawned = std::thread::Builder::new()
                .name("taskwire-pool".into())
                .spawn(move || self.work());
            if let Err(e) = spawned {
                let mut q = self.lock();
                q.threads -= n - started;
                let orphans = match q.threads {
                    0 => std::mem::take(&mut q.jobs),
                    _ => VecDeque::new(),
                };
                self.queued.store(q.jobs.len(), Ordering::Release);
                drop(q);
                tracing::warn!(error = %e, "cannot start a pool thread; running its tasks here");
                for job in orphans {
                    job();
                }
                return;
            }
        }
    }

    fn work(&'static self) {
        let mut q = self.lock();
        loop {
            if let Some(job) = q.jobs.pop_front() {
                self.queued.store(q.jobs.len(), Ordering::Release);
                // More waiting: one more thread for them (a cascade).
                let spawn = self.another(&mut q);
                drop(q);
                self.spawn(usize::from(spawn));
                // Jobs catch their tasks' panics and send their results.
                job();
                q = self.lock();
                continue;
            }
            if self.spinning.fetch_add(1, Ordering::AcqRel) < SPINNERS {
                drop(q);
                let since = Instant::now();
                while self.queued.load(Ordering::Acquire) == 0 && since.elapsed() < SPIN {
                    std::hint::spin_loop();
                }
                self.spinning.fetch_sub(1, Ordering::AcqRel);
                q = self.lock();
                if !q.jobs.is_empty() {
                    continue;
                }
            } else {
                self.spinning.fetch_sub(1, Ordering::AcqRel);
            }
            q.idle += 1;
            let (guard, timeout) = self
                .ready
                .wait_timeout(q, IDLE)
                .unwrap_or_else(|e| e.into_inner());
            q = guard;
            q.idle -= 1;
            q.woken = q.woken.saturating_sub(1).min(q.idle);
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
            pool().submit([Box::new(move || {
                barrier.wait();
                tx.send(n).unwrap();
            }) as Job]);
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
            pool().submit([Box::new(move || tx.send(n).unwrap()) as Job]);
            rx.recv_timeout(Duration::from_secs(10)).unwrap();
        }
        assert!(pool().lock().threads <= before.max(4) + 1);
    }
}
