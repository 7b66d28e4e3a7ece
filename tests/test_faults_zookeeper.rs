//! The ZooKeeper logbook and jobboard when the server goes away: killed,
//! frozen (SIGSTOP), restarted; and when the process holding a lease, or a
//! claim, dies. Each test starts a private ZooKeeper of its own
//! (`support::private_server`) on a free port in a temporary directory and
//! kills it when done — never the shared one.
#![cfg(feature = "zookeeper")]

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use support::private_server::PrivateZookeeper;
use taskwire::jobboard::{self, JobState, NewJob};
use taskwire::persistence::{self, AtomDetail, Backend, FlowDetail, LogBook, PersistenceError};
use taskwire::AtomState;

/// What a bounded call may take beyond its bound (scheduling, a busy machine).
const MARGIN: Duration = Duration::from_secs(3);

/// A logbook with one flow of `n` finished atoms, written under a lease.
fn fill(b: &dyn Backend, n: u32) -> (FlowDetail, Vec<AtomDetail>) {
    let book = LogBook::new("faults");
    b.save_logbook(&book).unwrap();
    let flow = FlowDetail::new(book.uuid, "chain");
    b.save_flow(&flow, None).unwrap();
    let lease = b
        .acquire_lease(flow.uuid, "engine", Duration::from_secs(60))
        .unwrap();
    let mut atoms = Vec::new();
    for i in 0..n {
        let mut atom = AtomDetail::new(flow.uuid, format!("t{i}"), i);
        atom.state = AtomState::Success;
        atom.result = Some(json!(i));
        b.save_atom(&atom, Some(&lease)).unwrap();
        atoms.push(atom);
    }
    (flow, atoms)
}

/// Calls `f` until it succeeds or `within` passes; the last error otherwise.
fn eventually<T>(
    within: Duration,
    mut f: impl FnMut() -> Result<T, PersistenceError>,
) -> Result<T, PersistenceError> {
    let start = Instant::now();
    loop {
        match f() {
            Ok(v) => return Ok(v),
            Err(e) if start.elapsed() > within => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

#[test]
fn a_killed_server_is_an_error_and_the_restarted_one_has_every_record() {
    let mut zk = PrivateZookeeper::start().expect("a private ZooKeeper");
    let url = zk.url("tw", "timeout=2s&session_timeout=10s");
    let b = persistence::open(&url).unwrap();
    let (flow, atoms) = fill(&*b, 10);

    zk.kill();
    let start = Instant::now();
    let err = b.load_flow(flow.uuid).unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(4) + MARGIN,
        "took {:?}: {err}",
        start.elapsed()
    );
    let text = err.to_string();
    assert!(
        text.contains(&url) && text.contains("load flow detail"),
        "the error names the logbook and the call: {text}"
    );
    assert!(
        matches!(
            err,
            PersistenceError::TimedOut { .. } | PersistenceError::Backend { .. }
        ),
        "{err:?}"
    );

    zk.restart().expect("the private ZooKeeper starts again");
    // The same backend connects again; nothing recorded is lost.
    let (loaded, loaded_atoms) =
        eventually(Duration::from_secs(15), || b.load_flow(flow.uuid)).unwrap();
    assert_eq!((loaded, loaded_atoms), (flow.clone(), atoms.clone()));
    // And a new backend reads the same.
    let again = persistence::open(&url).unwrap();
    assert_eq!(again.load_flow(flow.uuid).unwrap().1, atoms);
}

#[test]
fn a_frozen_server_times_out_and_answers_again_once_continued() {
    let zk = PrivateZookeeper::start().expect("a private ZooKeeper");
    let url = zk.url(
        "tw",
        "query_timeout=1s&connect_timeout=1s&session_timeout=20s",
    );
    let b = persistence::open(&url).unwrap();
    let (flow, atoms) = fill(&*b, 3);

    zk.server.stop();
    let start = Instant::now();
    let mut late = AtomDetail::new(flow.uuid, "late", 3);
    late.state = AtomState::Running;
    let err = b.save_atom(&late, None).unwrap_err();
    let took = start.elapsed();
    zk.server.cont();
    assert!(
        took < Duration::from_secs(2) + MARGIN,
        "took {took:?}: {err}"
    );
    assert!(
        matches!(err, PersistenceError::TimedOut { .. }),
        "a frozen server is a timeout: {err}"
    );
    assert!(err.to_string().contains("save atom details"), "{err}");

    // Once it answers, the same backend goes on; what was recorded before
    // is all there, and the write that timed out either landed or not.
    let (_, after) = eventually(Duration::from_secs(15), || b.load_flow(flow.uuid)).unwrap();
    assert_eq!(&after[..3], &atoms[..]);
    assert!(after.len() == 3 || after[3] == late, "{after:?}");
    eventually(Duration::from_secs(15), || b.save_atom(&late, None)).unwrap();
    assert_eq!(b.load_flow(flow.uuid).unwrap().1.len(), 4);
}

/// Run as a child process by the test below: takes the lease of `flow` as
/// `holder` for a minute, says so, and waits to be killed.
fn hold_lease_until_killed(url: &str, flow: &str) {
    let b = persistence::open(url).unwrap();
    let flow = flow.parse().unwrap();
    b.acquire_lease(flow, "holder", Duration::from_secs(60))
        .unwrap();
    println!("held");
    std::thread::sleep(Duration::from_secs(120));
}

#[test]
fn a_dead_owners_session_frees_its_lease_before_it_expires() {
    if let (Ok(url), Ok(flow)) = (std::env::var("TW_ZK_URL"), std::env::var("TW_ZK_FLOW")) {
        return hold_lease_until_killed(&url, &flow);
    }
    let zk = PrivateZookeeper::start().expect("a private ZooKeeper");
    // The ensemble ends a silent session after 2 s.
    let url = zk.url("tw", "timeout=5s&session_timeout=2s");
    let b = persistence::open(&url).unwrap();
    let book = LogBook::new("leases");
    b.save_logbook(&book).unwrap();
    let flow = FlowDetail::new(book.uuid, "held");
    b.save_flow(&flow, None).unwrap();

    // Another process takes the lease for a minute, then is killed (no
    // release, no session close: a crash).
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_dead_owners_session_frees_its_lease_before_it_expires",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("TW_ZK_URL", &url)
        .env("TW_ZK_FLOW", flow.uuid.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert!(
        lines.any(|l| l.is_ok_and(|l| l.contains("held"))),
        "the child took the lease"
    );
    let held = b.current_lease(flow.uuid).unwrap().unwrap();
    assert_eq!((held.owner.as_str(), held.token), ("holder", 1));
    let err = b
        .acquire_lease(flow.uuid, "rescuer", Duration::from_secs(60))
        .unwrap_err();
    assert!(matches!(err, PersistenceError::LeaseHeld { .. }), "{err}");

    child.kill().unwrap();
    child.wait().unwrap();
    let killed = Instant::now();
    // Its session expires after 2 s: the lease goes with it, 58 s before
    // the lease itself would have expired.
    let lease = eventually(Duration::from_secs(15), || {
        b.acquire_lease(flow.uuid, "rescuer", Duration::from_secs(60))
    })
    .unwrap();
    assert!(
        killed.elapsed() < Duration::from_secs(20),
        "{:?}",
        killed.elapsed()
    );
    assert_eq!((lease.owner.as_str(), lease.token), ("rescuer", 2));
    assert!(
        now_ms() < held.expires_at,
        "taken before the old lease expired"
    );
}

/// Run as a child process by the test below: claims the job on `board` as
/// `holder` for a minute, says so, and waits to be killed.
fn hold_claim_until_killed(url: &str, board: &str) {
    let board = jobboard::open(url, board).unwrap();
    let claim = board
        .claim("holder", Duration::from_secs(60))
        .unwrap()
        .unwrap();
    println!("held {}", claim.job.id);
    std::thread::sleep(Duration::from_secs(120));
}

#[test]
fn a_dead_holders_session_frees_its_claim_before_it_expires() {
    if let (Ok(url), Ok(board)) = (std::env::var("TW_ZK_URL"), std::env::var("TW_ZK_BOARD")) {
        return hold_claim_until_killed(&url, &board);
    }
    let zk = PrivateZookeeper::start().expect("a private ZooKeeper");
    // The ensemble ends a silent session after 2 s.
    let url = zk.url("tw", "timeout=5s&session_timeout=2s");
    let board = jobboard::open(&url, "claims").unwrap();
    let posted = board
        .post(&NewJob::new("tests::nothing", json!({"n": "held"})))
        .unwrap();

    // Another process claims the job for a minute, then is killed (no
    // release, no session close: a crash).
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_dead_holders_session_frees_its_claim_before_it_expires",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("TW_ZK_URL", &url)
        .env("TW_ZK_BOARD", "claims")
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
    // The child's session outlives its timeout while the child lives.
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        board
            .claim("rescuer", Duration::from_secs(60))
            .unwrap()
            .is_none(),
        "still held"
    );

    child.kill().unwrap();
    child.wait().unwrap();
    let killed = Instant::now();
    // Its session expires after 2 s: the claim (an ephemeral node) goes
    // with it, 55 s before the claim itself would have expired.
    let taken = loop {
        match board.claim("rescuer", Duration::from_secs(60)) {
            Ok(Some(taken)) => break taken,
            Ok(None) | Err(_) if killed.elapsed() < Duration::from_secs(20) => {
                std::thread::sleep(Duration::from_millis(100));
            }
            other => panic!("not freed within 20 s: {other:?}"),
        }
    };
    assert_eq!(
        (taken.job.id, taken.owner.as_str(), taken.token),
        (posted.id, "rescuer", 2)
    );
    assert!(
        now_ms() < held.expires_at,
        "taken before the old claim expired"
    );
    // Nothing recorded is lost: the job as posted, the dead holder's claim
    // recorded as a failure.
    assert_eq!(taken.job.spec, posted.spec);
    assert_eq!(taken.job.failures.len(), 1, "{:?}", taken.job.failures);
    assert_eq!(
        (
            taken.job.failures[0].owner.as_str(),
            taken.job.failures[0].token
        ),
        ("holder", 1)
    );
}

fn now_ms() -> i64 {
    persistence::now_ms()
}

#[test]
fn a_lost_watch_wakes_the_waiter_and_is_set_again() {
    let zk = std::cell::RefCell::new(PrivateZookeeper::start().expect("a private ZooKeeper"));
    let url = zk
        .borrow()
        .url("tw", "timeout=2s&connect_timeout=1s&session_timeout=10s");
    support::watch::a_lost_watch_wakes_the_waiter_and_is_set_again(
        &url,
        || zk.borrow_mut().kill(),
        || {
            zk.borrow_mut()
                .restart()
                .expect("the private ZooKeeper restarts")
        },
    );
}
