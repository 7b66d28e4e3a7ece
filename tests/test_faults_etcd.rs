//! The etcd jobboard when its server goes away: killed and restarted, frozen
//! (SIGSTOP); and when the process holding a claim dies. Each test starts a
//! private etcd of its own (`support::private_server`) on free ports in a
//! temporary directory and kills it when done — never the shared one.
#![cfg(feature = "etcd")]

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use support::private_server::PrivateEtcd;
use taskwire::jobboard::{self, Job, JobBoardError, JobState, NewJob};
use taskwire::FlowState;

/// What a bounded call may take beyond its bound (scheduling, a busy machine).
const MARGIN: Duration = Duration::from_secs(3);

const LONG: Duration = Duration::from_secs(60);

fn job(name: &str, priority: i32) -> NewJob {
    NewJob::new("tests::nothing", json!({"n": name})).priority(priority)
}

/// Calls `f` until it succeeds or `within` passes; the last error otherwise.
fn eventually<T>(
    within: Duration,
    mut f: impl FnMut() -> Result<T, JobBoardError>,
) -> Result<T, JobBoardError> {
    let start = Instant::now();
    loop {
        match f() {
            Ok(v) => return Ok(v),
            Err(e) if start.elapsed() > within => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

/// The jobs as a user compares them: id, name, state, owner, token.
fn summary(jobs: &[Job]) -> Vec<(String, String, JobState, Option<String>, u64)> {
    jobs.iter()
        .map(|j| {
            (
                j.id.to_string(),
                j.spec.params["n"].to_string(),
                j.state,
                j.owner.clone(),
                j.token,
            )
        })
        .collect()
}

#[test]
fn a_killed_server_is_an_error_and_the_restarted_one_has_every_job() {
    let mut etcd = PrivateEtcd::start().expect("a private etcd");
    let url = etcd.url("tw", "timeout=2s&lease_ttl=30s");
    let board = jobboard::open(&url, "faults").unwrap();
    for i in 0..5 {
        board.post(&job(&format!("j{i}"), i)).unwrap();
    }
    let claim = board.claim("c1", LONG).unwrap().unwrap();
    assert_eq!(claim.job.spec.params["n"], "j4");
    let before = board.list(None).unwrap();

    etcd.kill();
    let start = Instant::now();
    let err = board.list(None).unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(4) + MARGIN,
        "took {:?}: {err}",
        start.elapsed()
    );
    let text = err.to_string();
    assert!(
        text.contains(&url) && text.contains("list jobs"),
        "the error names the board and the call: {text}"
    );
    assert!(err.is_transient(), "{err:?}");
    // A write too.
    let err = board.post(&job("lost", 0)).unwrap_err();
    assert!(err.is_transient(), "{err:?}");

    etcd.restart().expect("the private etcd starts again");
    // The same board connects again; nothing recorded is lost, and the
    // claim is still current.
    let after = eventually(Duration::from_secs(15), || board.list(None)).unwrap();
    assert_eq!(summary(&after), summary(&before));
    board.complete(&claim, FlowState::Success).unwrap();
    let next = board.claim("c1", LONG).unwrap().unwrap();
    assert_eq!(next.job.spec.params["n"], "j3");
    // And a new board reads the same.
    let again = jobboard::open(&url, "faults").unwrap();
    assert_eq!(again.get(claim.job.id).unwrap().state, JobState::Done);
    assert_eq!(again.list(Some(JobState::Ready)).unwrap().len(), 3);
}

#[test]
fn a_frozen_server_times_out_and_answers_again_once_continued() {
    let etcd = PrivateEtcd::start().expect("a private etcd");
    let url = etcd.url("tw", "query_timeout=1s&connect_timeout=1s");
    let board = jobboard::open(&url, "frozen").unwrap();
    let first = board.post(&job("first", 0)).unwrap();

    etcd.server.stop();
    let start = Instant::now();
    let err = board.post(&job("late", 0)).unwrap_err();
    let took = start.elapsed();
    let claim_err = board.claim("c", LONG).unwrap_err();
    let claim_took = start.elapsed() - took;
    etcd.server.cont();
    assert!(
        took < Duration::from_secs(2) + MARGIN,
        "took {took:?}: {err}"
    );
    assert!(
        claim_took < Duration::from_secs(2) + MARGIN,
        "took {claim_took:?}: {claim_err}"
    );
    for (err, call) in [(&err, "post a job"), (&claim_err, "claim a job")] {
        assert!(err.is_transient(), "a frozen server is transient: {err:?}");
        assert!(err.to_string().contains(call), "{err}");
    }

    // Once it answers, the same board goes on; what was posted before is
    // there, and the post that timed out either landed or not.
    let jobs = eventually(Duration::from_secs(15), || board.list(None)).unwrap();
    assert_eq!(jobs[0].id, first.id);
    assert!(jobs.len() <= 2, "{jobs:?}");
    let claim = board.claim("c", LONG).unwrap().unwrap();
    assert_eq!(claim.job.id, first.id);
}

/// Run as a child process by the test below: claims the job on `board` as
/// `holder` for a minute, says so, and waits to be killed.
fn hold_claim_until_killed(url: &str, board: &str) {
    let board = jobboard::open(url, board).unwrap();
    let claim = board.claim("holder", LONG).unwrap().unwrap();
    println!("held {}", claim.job.id);
    std::thread::sleep(Duration::from_secs(120));
}

#[test]
fn a_dead_holders_lease_frees_its_claim_before_it_expires() {
    if let (Ok(url), Ok(board)) = (std::env::var("TW_ETCD_URL"), std::env::var("TW_ETCD_BOARD")) {
        return hold_claim_until_killed(&url, &board);
    }
    let etcd = PrivateEtcd::start().expect("a private etcd");
    // etcd ends a lease that is not kept alive after 2 s.
    let url = etcd.url("tw", "timeout=5s&lease_ttl=2s");
    let board = jobboard::open(&url, "leases").unwrap();
    let posted = board.post(&job("held", 0)).unwrap();

    // Another process claims the job for a minute, then is killed (no
    // release, no revoke: a crash).
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_dead_holders_lease_frees_its_claim_before_it_expires",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("TW_ETCD_URL", &url)
        .env("TW_ETCD_BOARD", "leases")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert!(
        lines.any(|l| l.is_ok_and(|l| l.contains(&format!("held {}", posted.id)))),
        "the child claimed the job"
    );
    let held = board.get(posted.id).unwrap();
    assert_eq!(
        (held.state, held.owner.as_deref(), held.token),
        (JobState::Claimed, Some("holder"), 1)
    );
    // The child keeps its lease alive past its time to live.
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        board.claim("rescuer", LONG).unwrap().is_none(),
        "still held"
    );

    child.kill().unwrap();
    child.wait().unwrap();
    let killed = Instant::now();
    // Its lease expires after 2 s: the claim goes with it, 55 s before the
    // claim itself would have expired.
    let taken = eventually(Duration::from_secs(15), || {
        board
            .claim("rescuer", LONG)?
            .ok_or(JobBoardError::NotFound {
                board: "not yet".into(),
                job: posted.id,
            })
    })
    .unwrap();
    assert!(
        killed.elapsed() < Duration::from_secs(15),
        "{:?}",
        killed.elapsed()
    );
    assert_eq!(
        (taken.job.id, taken.owner.as_str(), taken.token),
        (posted.id, "rescuer", 2)
    );
    assert!(
        taskwire::persistence::now_ms() < held.expires_at,
        "taken before the old claim expired"
    );
    // Nothing recorded is lost: the job as posted, the failure recorded.
    assert_eq!(taken.job.spec, posted.spec);
    assert_eq!(taken.job.failures.len(), 1);
    assert_eq!(
        (
            taken.job.failures[0].owner.as_str(),
            taken.job.failures[0].token
        ),
        ("holder", 1)
    );
}

#[test]
fn a_lost_watch_wakes_the_waiter_and_is_set_again() {
    let etcd = std::cell::RefCell::new(PrivateEtcd::start().expect("a private etcd"));
    let url = etcd
        .borrow()
        .url("tw", "timeout=2s&connect_timeout=1s&lease_ttl=30s");
    support::watch::a_lost_watch_wakes_the_waiter_and_is_set_again(
        &url,
        || etcd.borrow_mut().kill(),
        || {
            etcd.borrow_mut()
                .restart()
                .expect("the private etcd restarts")
        },
    );
}
