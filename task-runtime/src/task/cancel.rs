//! The cancellation signal an engine gives its running tasks.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Tells running tasks that their run is stopping and that what they do next
/// will not be recorded: the engine lost its lease (another owner took the
/// flow over, or the logbook stopped answering its heartbeats).
///
/// A sync task checks [`CancelToken::is_cancelled`] between steps of a long
/// job; an async task can `await` [`CancelToken::cancelled`] (in a
/// `tokio::select!`, say). Tasks get it from their [`Call`](super::Call) or
/// their [`TaskCtx`](super::TaskCtx). Cheap to clone.
///
/// ```
/// use taskwire_runtime::task::CancelToken;
///
/// let token = CancelToken::new();
/// let seen_by_task = token.clone();
/// assert!(!seen_by_task.is_cancelled());
/// token.cancel();
/// assert!(seen_by_task.is_cancelled());
/// ```
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<Inner>);

#[derive(Debug, Default)]
struct Inner {
    cancelled: AtomicBool,
    notify: tokio::sync::Notify,
}

impl CancelToken {
    /// A token that is not cancelled.
    pub fn new() -> CancelToken {
        CancelToken::default()
    }

    /// Cancels: every clone sees it, and every waiter wakes.
    pub fn cancel(&self) {
        self.0.cancelled.store(true, Ordering::Release);
        self.0.notify.notify_waiters();
    }

    /// Whether the run asked its tasks to stop.
    pub fn is_cancelled(&self) -> bool {
        self.0.cancelled.load(Ordering::Acquire)
    }

    /// Completes once the token is cancelled (at once if it already is).
    pub async fn cancelled(&self) {
        loop {
            let notified = self.0.notify.notified();
            let mut notified = std::pin::pin!(notified);
            // Registered before the check, so a cancel between the check and
            // the wait is not missed.
            notified.as_mut().enable();
            if self.is_cancelled() {
                return;
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::CancelToken;
    use std::time::Duration;

    #[test]
    fn waiters_wake_when_cancelled_from_another_thread() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let token = CancelToken::new();
        let other = token.clone();
        let thread = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            other.cancel();
        });
        rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(5), token.cancelled())
                .await
                .expect("the waiter woke");
        });
        thread.join().unwrap();
        // Already cancelled: completes at once.
        rt.block_on(token.cancelled());
        assert!(token.is_cancelled());
    }
}
