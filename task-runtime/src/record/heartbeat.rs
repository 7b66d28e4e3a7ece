//! The lease's heartbeat: a thread that renews an engine's lease on a timer
//! for as long as the run holds it, whatever its tasks are doing.
//!
//! It renews every third of the lease's time to live. A renewal refused for
//! good (the lease changed hands: [`PersistenceError::Fenced`], or the flow
//! is gone) ends the heartbeat at once; a renewal that fails otherwise (the
//! logbook does not answer) is tried again every tenth of the time to live,
//! until the lease would expire before the next try. Either way the lease is
//! then lost: the heartbeat cancels the run's [`CancelToken`], which stops
//! the engine from starting anything more and tells the running tasks, and
//! keeps the error for the engine to report.

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::persistence::{now_ms, Backend, Lease, PersistenceError};
use crate::task::CancelToken;

/// A running heartbeat; stopping it (or dropping it) ends the thread.
#[derive(Debug)]
pub(crate) struct Heartbeat {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Debug)]
struct Shared {
    stopped: Mutex<bool>,
    wake: Condvar,
    lost: Mutex<Option<PersistenceError>>,
    cancel: CancelToken,
}

impl Heartbeat {
    /// Starts renewing `lease` for `ttl` at a time; `cancel` fires when it is
    /// lost. `None` if no thread can be started (the engine then renews at
    /// its writes, as before heartbeats).
    pub(crate) fn start(
        backend: Arc<dyn Backend>,
        lease: Lease,
        ttl: Duration,
        cancel: CancelToken,
    ) -> Option<Heartbeat> {
        let shared = Arc::new(Shared {
            stopped: Mutex::new(false),
            wake: Condvar::new(),
            lost: Mutex::new(None),
            cancel,
        });
        let beat = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("taskwire-lease".to_owned())
            .spawn(move || beat.run(&*backend, lease, ttl));
        match thread {
            Ok(thread) => Some(Heartbeat {
                shared,
                thread: Some(thread),
            }),
            Err(e) => {
                tracing::warn!(error = %e, "cannot start the lease's heartbeat; the lease is renewed at the engine's writes only");
                None
            }
        }
    }

    /// Why the lease was lost, once (later calls give `None`).
    pub(crate) fn take_lost(&self) -> Option<PersistenceError> {
        lock(&self.shared.lost).take()
    }

    /// Stops the thread and waits for it (a renewal in flight finishes first).
    pub(crate) fn stop(&mut self) {
        *lock(&self.shared.stopped) = true;
        self.shared.wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Shared {
    fn run(&self, backend: &dyn Backend, mut lease: Lease, ttl: Duration) {
        let every = (ttl / 3).max(Duration::from_millis(1));
        let retry = (ttl / 10).max(Duration::from_millis(1));
        let mut wait = every;
        loop {
            if self.sleep(wait) {
                return;
            }
            let span =
                tracing::debug_span!("lease.renew", flow = %lease.flow_uuid, owner = %lease.owner);
            #[cfg(feature = "metrics")]
            let since = std::time::Instant::now();
            let renewed = span.in_scope(|| backend.renew_lease(&lease, ttl));
            #[cfg(feature = "metrics")]
            crate::telemetry::meter::lease_renew(since.elapsed());
            match renewed {
                Ok(renewed) => {
                    tracing::trace!(flow = %lease.flow_uuid, owner = %lease.owner, token = lease.token, "lease renewed");
                    lease = renewed;
                    wait = every;
                }
                Err(e) if for_good(&e) => return self.lose(&lease, e),
                Err(e) => {
                    let next_try = now_ms().saturating_add(millis(retry));
                    if next_try >= lease.expires_at {
                        return self.lose(&lease, e);
                    }
                    tracing::warn!(flow = %lease.flow_uuid, owner = %lease.owner, error = %e, "cannot renew the lease; trying again");
                    wait = retry;
                }
            }
        }
    }

    /// Sleeps for `d`; `true` if stopped meanwhile.
    fn sleep(&self, d: Duration) -> bool {
        let guard = lock(&self.stopped);
        let (guard, _) = self
            .wake
            .wait_timeout_while(guard, d, |stopped| !*stopped)
            .unwrap_or_else(|e| e.into_inner());
        *guard
    }

    fn lose(&self, lease: &Lease, error: PersistenceError) {
        if *lock(&self.stopped) {
            // The run gave the lease up meanwhile: nothing was lost.
            return;
        }
        tracing::error!(flow = %lease.flow_uuid, owner = %lease.owner, token = lease.token, %error, "lease lost; the run stops");
        *lock(&self.lost) = Some(error);
        self.cancel.cancel();
    }
}

/// Whether a renewal's error means the lease is gone (no use trying again).
fn for_good(e: &PersistenceError) -> bool {
    matches!(
        e,
        PersistenceError::Fenced { .. }
            | PersistenceError::NotFound { .. }
            | PersistenceError::WrongLease { .. }
            | PersistenceError::LeaseHeld { .. }
    )
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
