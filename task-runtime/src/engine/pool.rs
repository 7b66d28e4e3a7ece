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
//! machine), so the pool wakes no more threads than it needs:
//!
//! - a thread that ran out of jobs looks for the next one for `SPIN` before
//!   it sleeps (one such thread at a time), and the engine's loop does the
//!   same for results, so that a stream of short tasks flows between them
//!   without waking anyone;
//! - while recent jobs were short (a mean under `SHORT`), more threads than
//!   the machine has cores would only take turns on them: queued jobs wake
//!   threads until that many are at work, and the rest wait for those. Jobs
//!   that block (a sleep, I/O) make the mean long, and then every queued job
//!   wakes a thread of its own;
//! - a job that was expected to be short and blocks (on a sibling still in
//!   the queue, say) is met by the watchdog: when queued jobs have waited
//!   `WATCH` with none taken, it wakes a thread for each of them.
//!
//! The `parallel` benchmark measures it: a fan-out of 10,000 sync no-op
//! tasks, and 100 tasks that sleep.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

pub(super) use super::job::Job;

/// How long an idle thread waits for work before it ends.
const IDLE: Duration = Duration::from_secs(10);

/// More threads than this are never started (jobs queue instead).
const MAX_THREADS: usize = 512;

/// How long a thread that ran out of jobs looks for the next before it
/// sleeps; at most `SPINNERS` threads look at once.
const SPIN: Duration = Duration::from_micros(50);
const SPINNERS: usize = 1;

/// Jobs whose mean duration is under this are short: no more threads than
/// cores are woken for them.
const SHORT: Duration = Duration::from_micros(100);

/// How long queued jobs wait, none taken, before the watchdog wakes a
/// thread for each.
const WATCH: Duration = Duration::from_micros(500);

/// The mean (ns) the pool starts from, and goes back to when jobs taken for
/// short blocked: jobs like a 10 ms sleep, which get a thread each.
const BLOCKING_NS: u64 = 10_000_000;

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    /// Threads waiting for a job.
    idle: usize,
    /// Threads alive.
    threads: usize,
    /// Idle threads woken and not yet running.
    woken: usize,
    /// Threads running a job.
    busy: usize,
    /// Jobs taken from the queue since the pool began.
    taken: u64,
    /// Jobs wait for threads at work (short jobs): the watchdog looks.
    watched: bool,
    /// The watchdog's thread has started.
    watchdog: bool,
}

pub(super) struct Pool {
    queue: Mutex<Queue>,
    ready: Condvar,
    /// Wakes the watchdog.
    watch: Condvar,
    /// The queue's length, readable without the lock (by spinning threads).
    queued: AtomicUsize,
    /// Threads looking for a job without sleeping.
    spinning: AtomicUsize,
    /// The recent jobs' mean duration in ns (a moving average).
    mean_ns: AtomicU64,
    /// The machine's cores.
    cores: usize,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let q = self.lock();
        f.debug_struct("Pool")
            .field("queued", &q.jobs.len())
            .field("idle", &q.idle)
            .field("busy", &q.busy)
            .field("threads", &q.threads)
            .finish()
    }
}

/// The process's pool.
pub(super) fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(Pool::new)
}

impl Pool {
    fn new() -> Pool {
        Pool {
            queue: Mutex::default(),
            ready: Condvar::new(),
            watch: Condvar::new(),
            queued: AtomicUsize::new(0),
            spinning: AtomicUsize::new(0),
            // Until jobs have been seen, they are taken to block: each gets
            // a thread.
            mean_ns: AtomicU64::new(BLOCKING_NS),
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        // A job never runs under the lock: a poisoned lock is still sound.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether recent jobs were short.
    fn short(&self) -> bool {
        self.mean_ns.load(Ordering::Relaxed) < SHORT.as_nanos() as u64
    }

    /// Takes a job's duration into the mean (compare and swap: a mean the
    /// watchdog has just set is not overwritten by one read before).
    fn took(&self, d: Duration) {
        let ns = d.as_nanos().min(u128::from(u64::MAX / 2)) as u64;
        let _ = self
            .mean_ns
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |mean| {
                Some(mean - mean / 8 + ns / 8)
            });
    }

    /// Runs `jobs` on threads of the pool: threads are woken (or started)
    /// for them (see the [module documentation](self)). With no thread at
    /// all, the jobs run here.
    pub(super) fn submit(&'static self, jobs: impl IntoIterator<Item = Job>) {
        let mut q = self.lock();
        let before = q.jobs.len();
        q.jobs.extend(jobs);
        let added = q.jobs.len() - before;
        self.queued.store(q.jobs.len(), Ordering::Release);
        let spawn = (0..added).filter(|_| self.another(&mut q, false)).count();
        drop(q);
        self.spawn(spawn);
    }

    /// Sees that the queued jobs have a thread on its way: wakes an idle
    /// thread, or says to start one (`true`; counted already). Short jobs
    /// (unless `all`) wait for the threads at work while they fill the
    /// cores, watched by the watchdog.
    fn another(&'static self, q: &mut Queue, all: bool) -> bool {
        let coming = q.woken + self.spinning.load(Ordering::Acquire);
        if q.jobs.len() <= coming {
            return false;
        }
        if !all && q.busy + coming >= self.cores && self.short() {
            if !q.watched {
                q.watched = true;
                if !q.watchdog {
                    q.watchdog = true;
                    let started = std::thread::Builder::new()
                        .name("taskwire-pool-watch".into())
                        .spawn(move || self.watchdog());
                    if started.is_err() {
                        // No watchdog: every job gets a thread, as for
                        // jobs that block.
                        q.watchdog = false;
                        self.mean_ns.store(u64::MAX / 2, Ordering::Relaxed);
                    }
                } else {
                    self.watch.notify_one();
                }
            }
            if q.watchdog {
                return false;
            }
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
                    job.run();
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
                q.taken += 1;
                q.busy += 1;
                // More waiting: one more thread for them (a cascade).
                let spawn = self.another(&mut q, false);
                drop(q);
                self.spawn(usize::from(spawn));
                // Jobs catch their tasks' panics and send their results.
                let since = Instant::now();
                job.run();
                self.took(since.elapsed());
                q = self.lock();
                q.busy -= 1;
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

    /// The watchdog: while short jobs wait for the threads at work, looks
    /// every `WATCH` whether any was taken; if none was, those threads are
    /// blocked (the jobs were not short after all), and every queued job
    /// gets a thread of its own.
    fn watchdog(&'static self) {
        let mut q = self.lock();
        loop {
            if !q.watched || q.jobs.is_empty() {
                q.watched = false;
                q = self.watch.wait(q).unwrap_or_else(|e| e.into_inner());
                continue;
            }
            let taken = q.taken;
            drop(q);
            std::thread::sleep(WATCH);
            q = self.lock();
            if q.taken == taken && !q.jobs.is_empty() {
                // Blocked: jobs like these get threads of their own from now.
                self.mean_ns.store(BLOCKING_NS, Ordering::Relaxed);
                let spawn = (0..q.jobs.len())
                    .filter(|_| self.another(&mut q, true))
                    .count();
                drop(q);
                self.spawn(spawn);
                q = self.lock();
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
            pool().submit([Job::Other(Box::new(move || {
                barrier.wait();
                tx.send(n).unwrap();
            }))]);
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
            pool().submit([Job::Other(Box::new(move || tx.send(n).unwrap()))]);
            rx.recv_timeout(Duration::from_secs(10)).unwrap();
        }
        assert!(pool().lock().threads <= before.max(4) + 1);
    }

    #[test]
    fn jobs_thought_short_that_block_get_threads_from_the_watchdog() {
        let pool: &'static Pool = Box::leak(Box::new(Pool::new()));
        // Jobs first, which start the threads that are idle afterwards.
        let (tx, rx) = mpsc::channel();
        for _ in 0..200 {
            let tx = tx.clone();
            pool.submit([Job::Other(Box::new(move || tx.send(()).unwrap()))]);
        }
        for _ in 0..200 {
            rx.recv_timeout(Duration::from_secs(10)).unwrap();
        }
        // Wait until every thread is idle: a job's duration is taken after
        // it sent its result (one descheduled on a busy machine would make
        // the mean long after it was set below), and threads woken for the
        // jobs and still on their way would take the next jobs as well.
        let since = Instant::now();
        while pool.lock().busy > 0 || pool.lock().woken > 0 {
            assert!(since.elapsed() < Duration::from_secs(10), "{pool:?}");
            std::thread::sleep(Duration::from_millis(1));
        }
        // The pool has learnt that its jobs are short.
        pool.mean_ns.store(1_000, Ordering::Relaxed);
        assert!(pool.short());
        // Then more jobs than cores that wait for each other: the threads
        // at work block, and only the watchdog's threads let them all end.
        let n = pool.cores + 3;
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(n));
        let jobs: Vec<Job> = (0..n)
            .map(|_| {
                let (tx, barrier) = (tx.clone(), barrier.clone());
                Job::Other(Box::new(move || {
                    barrier.wait();
                    tx.send(()).unwrap();
                }))
            })
            .collect();
        pool.submit(jobs);
        for _ in 0..n {
            rx.recv_timeout(Duration::from_secs(10))
                .expect("every job of the barrier runs");
        }
        // The short jobs that waited were watched.
        assert!(
            pool.lock().watchdog,
            "{pool:?} mean {}",
            pool.mean_ns.load(Ordering::Relaxed)
        );
    }
}
