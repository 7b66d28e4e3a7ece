//! What a watching board (ZooKeeper, etcd) must do when its server goes
//! away and comes back, run by each board's fault tests against a private
//! server.

use std::time::{Duration, Instant};

use serde_json::json;
use taskwire::jobboard::{self, JobBoard, JobBoardError, NewJob};

const LONG: Duration = Duration::from_secs(60);

/// `f` until it succeeds or 20 s pass; the last error otherwise.
fn eventually<T>(mut f: impl FnMut() -> Result<T, JobBoardError>) -> Result<T, JobBoardError> {
    let start = Instant::now();
    loop {
        match f() {
            Ok(v) => return Ok(v),
            Err(e) if start.elapsed() > Duration::from_secs(20) => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

/// How long `board` waited for a change (at most `within`), and whether
/// one came.
fn timed_wait(board: &dyn JobBoard, within: Duration) -> (bool, Duration) {
    let start = Instant::now();
    let changed = board.wait_for_change(within);
    (changed, start.elapsed())
}

/// A conductor waiting on `url`'s board when the server is killed wakes
/// long before its wait is over, so that it looks at the board itself;
/// once the server is back, a job posted is seen by a watch again (not
/// only at the end of the wait), and claimed.
pub(crate) fn a_lost_watch_wakes_the_waiter_and_is_set_again(
    url: &str,
    kill: impl FnOnce(),
    restart: impl FnOnce(),
) {
    let waiter = jobboard::open(url, "watch").unwrap();
    assert!(waiter.watches());
    assert!(waiter.claim("w", LONG).unwrap().is_none());
    let (changed, _) = timed_wait(&*waiter, Duration::from_millis(300));
    assert!(!changed, "nothing happened yet");

    let woke = std::thread::scope(|s| {
        let wait = s.spawn(|| timed_wait(&*waiter, Duration::from_secs(40)));
        std::thread::sleep(Duration::from_millis(500));
        kill();
        wait.join().unwrap()
    });
    assert!(woke.0, "the lost watch woke the waiter");
    assert!(
        woke.1 < Duration::from_secs(15),
        "woke after {:?}, not at once",
        woke.1
    );

    restart();
    // The waiter looks for itself (the server may still be starting).
    assert!(eventually(|| waiter.claim("w", LONG)).unwrap().is_none());
    // Its next waits set a watch again: a change then (one may have gone
    // unseen while no watch was set), or nothing until a post.
    for _ in 0..3 {
        if !timed_wait(&*waiter, Duration::from_millis(500)).0 {
            break;
        }
        assert!(waiter.claim("w", LONG).unwrap().is_none());
    }
    let poster = eventually(|| jobboard::open(url, "watch")).unwrap();
    let (posted, woke) = std::thread::scope(|s| {
        let wait = s.spawn(|| timed_wait(&*waiter, Duration::from_secs(40)));
        std::thread::sleep(Duration::from_millis(500));
        let posted = poster
            .post(&NewJob::new("tests::nothing", json!({"n": "after"})))
            .unwrap();
        (posted, wait.join().unwrap())
    });
    assert!(woke.0, "the post woke the waiter");
    assert!(
        woke.1 < Duration::from_secs(15),
        "the post was seen after {:?}: no watch was set again",
        woke.1
    );
    let claim = waiter.claim("w", LONG).unwrap().expect("the posted job");
    assert_eq!(claim.job.id, posted.id);
}
