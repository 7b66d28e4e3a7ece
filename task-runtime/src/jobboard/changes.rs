//! What the waiters of a watching board (ZooKeeper, etcd) share: how many
//! changes its watch has seen, and whether a watch is set.
//!
//! A watch can be lost: the server restarts, the session or the stream
//! ends. Events can go missing around that (a job posted before the new
//! watch is set; ZooKeeper's persistent watches lose events during a
//! reconnection, ZOOKEEPER-4698). So a lost watch counts as a change, and
//! so does a watch set again after one was lost: either wakes the waiters,
//! who then look at the board for themselves. While no watch can be set,
//! a waiter waits its whole time: a conductor falls back to its poll
//! interval.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

/// A watching board's change count and watch state.
#[derive(Debug, Default)]
pub(crate) struct Changes {
    /// How many changes the watch has seen.
    count: Mutex<u64>,
    /// Wakes whoever waits for the next.
    wake: Condvar,
    /// The count when the last claim began.
    seen: Mutex<u64>,
    /// Whether a watch is set (or being set).
    watching: AtomicBool,
    /// Whether a watch was lost since one was last set.
    lost: AtomicBool,
}

impl Changes {
    /// Notes that a claim begins: changes before now are its to find.
    pub(crate) fn claiming(&self) {
        let count = *self.count.lock().unwrap_or_else(|e| e.into_inner());
        *self.seen.lock().unwrap_or_else(|e| e.into_inner()) = count;
    }

    /// Counts a change and wakes the waiters.
    pub(crate) fn note(&self) {
        *self.count.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        self.wake.notify_all();
    }

    /// Whether the caller should set a watch: none is set. It then calls
    /// [`Changes::set`] or [`Changes::unset`].
    pub(crate) fn should_watch(&self) -> bool {
        !self.watching.swap(true, Ordering::SeqCst)
    }

    /// The watch is set. If one was lost before, changes in between may
    /// have gone unseen: that counts as a change.
    pub(crate) fn set(&self) {
        if self.lost.swap(false, Ordering::SeqCst) {
            self.note();
        }
    }

    /// No watch could be set (the server is away): the next wait tries
    /// again.
    pub(crate) fn unset(&self) {
        self.watching.store(false, Ordering::SeqCst);
    }

    /// The watch was lost: the next wait sets a new one, and the waiters
    /// look at the board now.
    pub(crate) fn lost(&self) {
        self.lost.store(true, Ordering::SeqCst);
        self.watching.store(false, Ordering::SeqCst);
        self.note();
    }

    /// Waits up to `within` for a change since the last claim began; whether
    /// one came (see [`JobBoard::wait_for_change`](super::JobBoard::wait_for_change)).
    pub(crate) fn wait(&self, within: Duration) -> bool {
        let seen = *self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let count = self.count.lock().unwrap_or_else(|e| e.into_inner());
        let (count, _) = self
            .wake
            .wait_timeout_while(count, within, |n| *n == seen)
            .unwrap_or_else(|e| e.into_inner());
        *count != seen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lost_watch_and_the_next_one_each_count_as_a_change() {
        let changes = Changes::default();
        assert!(changes.should_watch());
        assert!(!changes.should_watch(), "one watch at a time");
        changes.set();
        changes.claiming();
        assert!(!changes.wait(Duration::from_millis(1)), "nothing yet");

        changes.lost();
        assert!(changes.wait(Duration::ZERO), "a lost watch wakes waiters");
        changes.claiming();
        assert!(changes.should_watch(), "a lost watch is set again");
        changes.set();
        assert!(changes.wait(Duration::ZERO), "events may have been missed");
        changes.claiming();

        assert!(!changes.should_watch());
        changes.unset();
        assert!(changes.should_watch(), "an unset watch is tried again");
        changes.set();
        assert!(
            !changes.wait(Duration::from_millis(1)),
            "setting a watch that was never lost is no change"
        );
    }
}
