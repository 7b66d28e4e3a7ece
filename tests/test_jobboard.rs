//! The jobboard's contract, checked the same way against the real Redis,
//! PostgreSQL, ZooKeeper and etcd servers: ordering, fenced claims, renewal, failures counted up
//! to a dead job, expiries of dead conductors counted as failures, concurrent
//! claims that never hand one job out twice, and the errors of missing jobs,
//! corrupt rows and servers that are not there. Each test has a board (Redis
//! key prefix) or database (PostgreSQL) of its own, removed afterwards.
#![cfg(any(
    feature = "redis",
    feature = "postgres",
    feature = "zookeeper",
    feature = "etcd"
))]

mod dist;
#[cfg(feature = "redis")]
#[path = "support/private_redis.rs"]
mod private_redis;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use taskwire::jobboard::{JobBoard, JobBoardError, JobState, NewJob};
use taskwire::FlowState;

const LONG: Duration = Duration::from_secs(60);

fn job(name: &str, priority: i32) -> NewJob {
    NewJob::new("tests::nothing", json!({"n": 1}))
        .name(name)
        .input("size", 10)
        .priority(priority)
}

/// Claims come highest priority first, then in posting order; an empty board
/// gives `None`; the claim carries what was posted.
fn claims_follow_priority_then_age(board: &dyn JobBoard) {
    assert!(board.claim("c1", LONG).unwrap().is_none());
    board.post(&job("low", 0)).unwrap();
    board.post(&job("high-1", 5)).unwrap();
    board.post(&job("high-2", 5)).unwrap();
    board.post(&job("negative", -3)).unwrap();
    board.post(&job("low-2", 0)).unwrap();
    let mut order = Vec::new();
    while let Some(claim) = board.claim("c1", LONG).unwrap() {
        assert_eq!(claim.job.state, JobState::Claimed);
        assert_eq!(claim.job.spec.factory, "tests::nothing");
        assert_eq!(claim.job.spec.inputs["size"], 10);
        assert_eq!(claim.job.spec.params, json!({"n": 1}));
        assert_eq!(claim.token, 1);
        order.push(claim.job.spec.name.clone());
    }
    assert_eq!(order, ["high-1", "high-2", "low", "low-2", "negative"]);
    assert_eq!(board.list(Some(JobState::Claimed)).unwrap().len(), 5);
    assert_eq!(board.list(Some(JobState::Ready)).unwrap().len(), 0);
}

/// A claim that took over an expired claim and found the flow ended
/// completes the job with `complete_ended`: the expiry failure is
/// withdrawn; another failure (of a conductor's own) is kept.
fn complete_ended_withdraws_the_expiry_only(board: &dyn JobBoard) {
    let posted = board.post(&job("ended", 0)).unwrap();
    let first = board
        .claim("c1", Duration::from_millis(50))
        .unwrap()
        .unwrap();
    std::thread::sleep(Duration::from_millis(120));
    let second = board.claim("c2", LONG).unwrap().unwrap();
    assert_eq!(second.job.failures.len(), 1, "the expiry was recorded");
    assert_eq!(second.token, first.token + 1);
    board.complete_ended(&second, FlowState::Success).unwrap();
    let done = board.get(posted.id).unwrap();
    assert_eq!(
        (done.state, done.outcome, done.failures.len()),
        (JobState::Done, Some(FlowState::Success), 0)
    );

    let posted = board.post(&job("failed-then-ended", 0)).unwrap();
    let first = board.claim("c1", LONG).unwrap().unwrap();
    board.fail(&first, "the logbook refused").unwrap();
    let second = board.claim("c2", LONG).unwrap().unwrap();
    board.complete_ended(&second, FlowState::Reverted).unwrap();
    let done = board.get(posted.id).unwrap();
    let messages: Vec<&str> = done.failures.iter().map(|f| f.message.as_str()).collect();
    assert_eq!(messages, ["the logbook refused"]);
    assert_eq!(done.outcome, Some(FlowState::Reverted));
}

/// A claim is renewed, records the flow, completes; then it is spent.
fn a_claim_renews_records_and_completes(board: &dyn JobBoard) {
    let posted = board.post(&job("one", 0)).unwrap();
    assert_eq!(posted.state, JobState::Ready);
    let claim = board.claim("c1", Duration::from_secs(5)).unwrap().unwrap();
    assert_eq!(claim.job.id, posted.id);
    let renewed = board.renew(&claim, LONG).unwrap();
    assert!(
        renewed.expires_at >= claim.expires_at + 50_000,
        "{renewed:?}"
    );
    let flow = taskwire::persistence::Uuid::new_v4();
    board.set_flow(&renewed, flow).unwrap();
    assert_eq!(board.get(posted.id).unwrap().flow, Some(flow));
    board.complete(&renewed, FlowState::Success).unwrap();
    let done = board.get(posted.id).unwrap();
    assert_eq!(done.state, JobState::Done);
    assert_eq!(done.outcome, Some(FlowState::Success));
    assert!(done.failures.is_empty());
    assert!(board.claim("c2", LONG).unwrap().is_none(), "done is done");
    let err = board.renew(&renewed, LONG).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: job {}: the claim with token 1 held by `c1` is no longer current (the job is now done)",
            board.describe(),
            posted.id
        )
    );
}

/// A claim that expired is taken over with a new token; the old owner can no
/// longer write, and the expiry is recorded as a failure.
fn an_expired_claim_is_taken_over_and_fenced(board: &dyn JobBoard) {
    let posted = board.post(&job("slow", 0)).unwrap();
    let old = board
        .claim("dead", Duration::from_millis(50))
        .unwrap()
        .unwrap();
    assert!(board.claim("other", LONG).unwrap().is_none(), "still held");
    std::thread::sleep(Duration::from_millis(120));
    let new = board.claim("alive", LONG).unwrap().unwrap();
    assert_eq!(new.job.id, posted.id);
    assert_eq!(new.token, 2);
    assert_eq!(new.job.failures.len(), 1);
    let failure = &new.job.failures[0];
    assert_eq!((failure.owner.as_str(), failure.token), ("dead", 1));
    assert_eq!(
        failure.message,
        "the claim of `dead` (token 1) expired before the job ended; its conductor stopped renewing it (it died, hung or lost the board)"
    );
    for err in [
        board.complete(&old, FlowState::Success).unwrap_err(),
        board.renew(&old, LONG).map(drop).unwrap_err(),
        board.set_flow(&old, posted.id).unwrap_err(),
        board.fail(&old, "x").map(drop).unwrap_err(),
        board.release(&old).unwrap_err(),
    ] {
        assert!(matches!(err, JobBoardError::Lost { .. }), "{err}");
        assert_eq!(
            err.to_string(),
            format!(
                "{}: job {}: the claim with token 1 held by `dead` is no longer current (the job is now claimed by `alive` with token 2)",
                board.describe(),
                posted.id
            )
        );
    }
    assert_eq!(board.get(posted.id).unwrap().state, JobState::Claimed);
    board.complete(&new, FlowState::Success).unwrap();
}

/// Failures give the job back until the limit; then it is dead, with every
/// failure kept, and never claimed again.
fn failures_end_in_a_dead_job(board: &dyn JobBoard) {
    let posted = board.post(&job("poison", 0).max_failures(3)).unwrap();
    for (i, owner) in ["c1", "c2", "c3"].into_iter().enumerate() {
        let claim = board.claim(owner, LONG).unwrap().unwrap();
        assert_eq!(claim.job.id, posted.id);
        let state = board.fail(&claim, &format!("boom {i}")).unwrap();
        assert_eq!(
            state,
            if i < 2 {
                JobState::Ready
            } else {
                JobState::Dead
            }
        );
    }
    assert!(board.claim("c4", LONG).unwrap().is_none());
    let dead = board.get(posted.id).unwrap();
    assert_eq!(dead.state, JobState::Dead);
    let kept: Vec<(&str, u64, &str)> = dead
        .failures
        .iter()
        .map(|f| (f.owner.as_str(), f.token, f.message.as_str()))
        .collect();
    assert_eq!(
        kept,
        [
            ("c1", 1, "boom 0"),
            ("c2", 2, "boom 1"),
            ("c3", 3, "boom 2")
        ]
    );
    assert_eq!(board.list(Some(JobState::Dead)).unwrap(), vec![dead]);
}

/// A dead job requeued is ready again in its old place, its failures
/// cleared (and returned), so that it may fail `max_failures` times again;
/// a job that is not dead is refused, a missing one named.
fn requeue_gives_a_dead_job_another_chance(board: &dyn JobBoard) {
    let posted = board.post(&job("poison", 0).max_failures(1)).unwrap();
    let claim = board.claim("c1", LONG).unwrap().unwrap();
    assert_eq!(board.fail(&claim, "boom").unwrap(), JobState::Dead);
    let ready = board.post(&job("ready", 0)).unwrap();
    let err = board.requeue(ready.id).unwrap_err();
    assert!(
        matches!(
            err,
            JobBoardError::NotDead {
                state: JobState::Ready,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "{}: job {} is ready, not dead; only a dead job can be requeued",
            board.describe(),
            ready.id
        )
    );
    let before = board.requeue(posted.id).unwrap();
    assert_eq!(before.state, JobState::Dead);
    assert_eq!(before.failures[0].message, "boom");
    let back = board.get(posted.id).unwrap();
    assert_eq!((back.state, back.failures.len()), (JobState::Ready, 0));
    assert_eq!(board.list(Some(JobState::Dead)).unwrap(), vec![]);
    // Posted first, claimed first; under a new token.
    let again = board.claim("c2", LONG).unwrap().unwrap();
    assert_eq!((again.job.id, again.token), (posted.id, 2));
    assert_eq!(board.fail(&again, "boom again").unwrap(), JobState::Dead);
    let missing = taskwire::persistence::Uuid::new_v4();
    assert!(matches!(
        board.requeue(missing).unwrap_err(),
        JobBoardError::NotFound { job, .. } if job == missing
    ));
}

/// Cancel deletes a job only in the states it is given, checked as it
/// deletes: a job claimed since the operator looked stays with its owner.
fn cancel_checks_the_state_as_it_deletes(board: &dyn JobBoard) {
    let first = board.post(&job("first", 0)).unwrap();
    let second = board.post(&job("second", 0)).unwrap();
    // An operator looks: both ready. Then a conductor claims the first.
    assert_eq!(board.get(first.id).unwrap().state, JobState::Ready);
    let claim = board.claim("c1", LONG).unwrap().unwrap();
    assert_eq!(claim.job.id, first.id);
    let err = board.cancel(first.id, &[JobState::Ready]).unwrap_err();
    assert!(
        matches!(err, JobBoardError::NotCancelled { state: JobState::Claimed, job, .. } if job == first.id),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "{}: job {} is claimed; only a job that is ready can be cancelled here",
            board.describe(),
            first.id
        )
    );
    // Still claimed, and its conductor can still complete it.
    assert_eq!(board.get(first.id).unwrap().state, JobState::Claimed);
    board.renew(&claim, LONG).unwrap();
    // The ready one goes, and comes back as it was.
    let gone = board
        .cancel(second.id, &[JobState::Ready, JobState::Dead])
        .unwrap();
    assert_eq!((gone.id, gone.state), (second.id, JobState::Ready));
    assert!(matches!(
        board.get(second.id).unwrap_err(),
        JobBoardError::NotFound { .. }
    ));
    assert!(board.claim("c2", LONG).unwrap().is_none(), "not claimable");
    let err = board
        .cancel(first.id, &[JobState::Ready, JobState::Dead])
        .unwrap_err();
    assert!(
        err.to_string()
            .ends_with("only a job that is ready or dead can be cancelled here"),
        "{err}"
    );
    // Forced: claimed is allowed; then it is missing.
    board
        .cancel(first.id, &[JobState::Ready, JobState::Claimed])
        .unwrap();
    assert!(matches!(
        board.cancel(first.id, &[JobState::Ready]).unwrap_err(),
        JobBoardError::NotFound { job, .. } if job == first.id
    ));
    assert!(matches!(
        board.renew(&claim, LONG).unwrap_err(),
        JobBoardError::NotFound { .. } | JobBoardError::Lost { .. }
    ));
}

/// A job whose conductors keep dying (claims expiring) ends dead too.
fn expiries_count_as_failures(board: &dyn JobBoard) {
    let posted = board.post(&job("crashes", 0).max_failures(2)).unwrap();
    board
        .claim("c1", Duration::from_millis(30))
        .unwrap()
        .unwrap();
    std::thread::sleep(Duration::from_millis(80));
    board
        .claim("c2", Duration::from_millis(30))
        .unwrap()
        .unwrap();
    std::thread::sleep(Duration::from_millis(80));
    // The second expiry is the second failure: dead, and nothing to claim.
    board.post(&job("next", 0)).unwrap();
    let claim = board.claim("c3", LONG).unwrap().unwrap();
    assert_eq!(claim.job.spec.name, "next");
    let dead = board.get(posted.id).unwrap();
    assert_eq!(dead.state, JobState::Dead);
    let owners: Vec<&str> = dead.failures.iter().map(|f| f.owner.as_str()).collect();
    assert_eq!(owners, ["c1", "c2"]);
}

/// Releasing gives the job back without counting a failure.
fn release_gives_back_without_a_failure(board: &dyn JobBoard) {
    let posted = board.post(&job("stop", 0).max_failures(1)).unwrap();
    let claim = board.claim("c1", LONG).unwrap().unwrap();
    board.release(&claim).unwrap();
    let back = board.get(posted.id).unwrap();
    assert_eq!((back.state, back.failures.len()), (JobState::Ready, 0));
    let again = board.claim("c2", LONG).unwrap().unwrap();
    assert_eq!((again.job.id, again.token), (posted.id, 2));
}

/// Missing jobs are named; deleting removes a job from every list.
fn missing_jobs_are_named(board: &dyn JobBoard) {
    let posted = board.post(&job("gone", 0)).unwrap();
    let claim = board.claim("c1", LONG).unwrap().unwrap();
    board.delete(posted.id).unwrap();
    assert!(board.list(None).unwrap().is_empty());
    let err = board.get(posted.id).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{}: job {} not found", board.describe(), posted.id)
    );
    assert!(matches!(
        board.complete(&claim, FlowState::Success).unwrap_err(),
        JobBoardError::NotFound { .. }
    ));
    assert!(matches!(
        board.delete(posted.id).unwrap_err(),
        JobBoardError::NotFound { .. }
    ));
}

/// Conductors claiming at once, each with its own connection: every job is
/// handed out exactly once. Each conductor stays up until all are done (on
/// ZooKeeper, a conductor that goes away takes its claims with it).
fn concurrent_claims_never_share_a_job(open: &(dyn Fn() -> Arc<dyn JobBoard> + Sync)) {
    let board = open();
    let mut posted = BTreeSet::new();
    for i in 0..40 {
        posted.insert(board.post(&job(&format!("j{i}"), i % 3)).unwrap().id);
    }
    let claimed: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|t| {
                s.spawn(move || {
                    let board = open();
                    let mut mine = Vec::new();
                    while let Some(claim) = board.claim(&format!("c{t}"), LONG).unwrap() {
                        mine.push(claim.job.id);
                    }
                    (mine, board)
                })
            })
            .collect();
        let (claimed, boards): (Vec<_>, Vec<_>) =
            handles.into_iter().map(|h| h.join().unwrap()).unzip();
        drop(boards);
        claimed.into_iter().flatten().collect()
    });
    assert_eq!(claimed.len(), 40, "no job twice");
    assert_eq!(claimed.into_iter().collect::<BTreeSet<_>>(), posted);
}

macro_rules! conformance {
    ($open:ident) => {
        #[test]
        fn claims_follow_priority_then_age() {
            let (board, _keep) = $open("order");
            super::claims_follow_priority_then_age(&*board);
        }

        #[test]
        fn a_claim_renews_records_and_completes() {
            let (board, _keep) = $open("complete");
            super::a_claim_renews_records_and_completes(&*board);
        }

        #[test]
        fn an_expired_claim_is_taken_over_and_fenced() {
            let (board, _keep) = $open("fenced");
            super::an_expired_claim_is_taken_over_and_fenced(&*board);
        }

        #[test]
        fn requeue_gives_a_dead_job_another_chance() {
            let (board, _keep) = $open("requeue");
            super::requeue_gives_a_dead_job_another_chance(&*board);
        }

        #[test]
        fn cancel_checks_the_state_as_it_deletes() {
            let (board, _keep) = $open("cancel");
            super::cancel_checks_the_state_as_it_deletes(&*board);
        }

        #[test]
        fn failures_end_in_a_dead_job() {
            let (board, _keep) = $open("dead");
            super::failures_end_in_a_dead_job(&*board);
        }

        #[test]
        fn expiries_count_as_failures() {
            let (board, _keep) = $open("expiries");
            super::expiries_count_as_failures(&*board);
        }

        #[test]
        fn release_gives_back_without_a_failure() {
            let (board, _keep) = $open("release");
            super::release_gives_back_without_a_failure(&*board);
        }

        #[test]
        fn complete_ended_withdraws_the_expiry_only() {
            let (board, _keep) = $open("ended");
            super::complete_ended_withdraws_the_expiry_only(&*board);
        }

        #[test]
        fn missing_jobs_are_named() {
            let (board, _keep) = $open("missing");
            super::missing_jobs_are_named(&*board);
        }
    };
}

#[cfg(feature = "redis")]
mod redis_board {
    use super::*;
    use crate::dist::{RedisBoard, REDIS};
    use taskwire::jobboard::{open, RedisJobBoard};

    fn board(test: &str) -> (Arc<dyn JobBoard>, RedisBoard) {
        let keep = RedisBoard::new(test);
        (open(REDIS, &keep.0).unwrap(), keep)
    }

    conformance!(board);

    #[test]
    fn concurrent_claims_never_share_a_job() {
        let keep = RedisBoard::new("concurrent");
        super::concurrent_claims_never_share_a_job(&|| Arc::new(keep.open()) as Arc<dyn JobBoard>);
    }

    #[test]
    fn a_corrupt_job_is_named_and_others_stay_readable() {
        let (board, keep) = board("corrupt");
        let bad = board.post(&job("bad", 0)).unwrap();
        let good = board.post(&job("good", 0)).unwrap();
        ::redis::cmd("HSET")
            .arg(format!("taskwire:{}:job:{}", keep.0, bad.id))
            .arg("state")
            .arg("exploded")
            .query::<i64>(&mut keep.conn())
            .unwrap();
        let err = board.get(bad.id).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "jobboard `{}` at {REDIS}: job {}, field `state` is corrupt: unknown state `exploded`",
                keep.0, bad.id
            )
        );
        assert_eq!(board.get(good.id).unwrap().spec.name, "good");
    }

    #[test]
    fn a_server_that_is_not_there_is_named() {
        let err = RedisJobBoard::open("redis://127.0.0.1:1/0", "x").unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with(
                "jobboard `x` at redis://127.0.0.1:1/0: connect (to connect) failed: "
            ),
            "{text}"
        );
        assert!(text.contains("refused"), "{text}");
    }
}

#[cfg(feature = "postgres")]
mod postgres_board {
    use super::*;
    use crate::dist::PgDb;
    use taskwire::jobboard::{open, PostgresJobBoard};

    fn board(test: &str) -> (Arc<dyn JobBoard>, PgDb) {
        let db = PgDb::new(&format!("jb_{test}"));
        (open(&db.url(), "main").unwrap(), db)
    }

    conformance!(board);

    #[test]
    fn concurrent_claims_never_share_a_job() {
        let db = PgDb::new("jb_concurrent");
        let url = db.url();
        super::concurrent_claims_never_share_a_job(&|| {
            Arc::new(PostgresJobBoard::open(&url, "main").unwrap()) as Arc<dyn JobBoard>
        });
    }

    #[test]
    fn boards_in_one_database_are_apart() {
        let db = PgDb::new("jb_apart");
        let a = open(&db.url(), "a").unwrap();
        let b = open(&db.url(), "b").unwrap();
        a.post(&job("for-a", 0)).unwrap();
        assert!(b.claim("c", LONG).unwrap().is_none());
        assert_eq!(a.claim("c", LONG).unwrap().unwrap().job.spec.name, "for-a");
    }

    #[test]
    fn a_corrupt_job_is_named_and_others_stay_readable() {
        let (board, db) = board("corrupt");
        let bad = board.post(&job("bad", 0)).unwrap();
        let good = board.post(&job("good", 0)).unwrap();
        db.client()
            .execute(
                "UPDATE taskwire_jobs SET spec = 'not json' WHERE id = $1",
                &[&bad.id.to_string()],
            )
            .unwrap();
        let err = board.get(bad.id).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "jobboard `main` at {}: job {}, field `spec` is corrupt: expected ident at line 1 column 2",
                db.url(),
                bad.id
            )
        );
        assert_eq!(board.get(good.id).unwrap().spec.name, "good");
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let db = PgDb::new("jb_newer");
        drop(open(&db.url(), "main").unwrap());
        db.client()
            .execute(
                "INSERT INTO taskwire_jobboard_schema (version) VALUES (9)",
                &[],
            )
            .unwrap();
        let err = open(&db.url(), "main").unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("jobboard `main` at {}: the jobboard's schema is version 9, newer than version 1 that this taskwire knows; upgrade taskwire to use it", db.url())
        );
    }

    #[test]
    fn a_server_that_is_not_there_is_named() {
        let err = open("postgres://postgres@127.0.0.1:1/x", "main").unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("jobboard `main` at postgres://postgres@127.0.0.1:1/x: connect (to create the jobboard schema) failed: "),
            "{text}"
        );
    }
}

#[cfg(feature = "zookeeper")]
mod zookeeper_board {
    use super::*;
    use crate::dist::ZkBoard;
    use std::time::Instant;
    use taskwire::jobboard::open;

    fn board(test: &str) -> (Arc<dyn JobBoard>, ZkBoard) {
        let keep = ZkBoard::new(test);
        (open(&ZkBoard::url(), &keep.0).unwrap(), keep)
    }

    conformance!(board);

    #[test]
    fn concurrent_claims_never_share_a_job() {
        let keep = ZkBoard::new("concurrent");
        super::concurrent_claims_never_share_a_job(&|| Arc::new(keep.open()) as Arc<dyn JobBoard>);
    }

    #[test]
    fn boards_under_one_chroot_are_apart() {
        let (a, _ka) = board("apart_a");
        let (b, _kb) = board("apart_b");
        a.post(&job("for-a", 0)).unwrap();
        assert!(b.claim("c", LONG).unwrap().is_none());
        assert_eq!(a.claim("c", LONG).unwrap().unwrap().job.spec.name, "for-a");
    }

    #[test]
    fn a_corrupt_job_is_named_and_others_stay_readable() {
        let (board, keep) = board("corrupt");
        let bad = board.post(&job("bad", 0)).unwrap();
        let good = board.post(&job("good", 0)).unwrap();
        keep.set(&format!("/jobs/{}", bad.id), b"not json");
        let err = board.get(bad.id).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "jobboard `{}` at {}: job {}, field `(node)` is corrupt: expected ident at line 1 column 2",
                keep.0,
                ZkBoard::url(),
                bad.id
            )
        );
        assert_eq!(board.get(good.id).unwrap().spec.name, "good");
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let (board, keep) = board("newer");
        drop(board);
        keep.set("/schema", b"9");
        let err = open(&ZkBoard::url(), &keep.0).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("jobboard `{}` at {}: the jobboard's schema is version 9, newer than version 1 that this taskwire knows; upgrade taskwire to use it", keep.0, ZkBoard::url())
        );
    }

    #[test]
    fn a_server_that_is_not_there_is_named() {
        let start = Instant::now();
        let err = open("zookeeper://127.0.0.1:1/tw?timeout=1s", "main").unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with(
                "jobboard `main` at zookeeper://127.0.0.1:1/tw?timeout=1s: create the jobboard "
            ),
            "{text}"
        );
        assert!(err.is_transient(), "{err:?}");
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{:?}",
            start.elapsed()
        );
        let err = open("zookeeper://127.0.0.1:2181", "main").unwrap_err();
        assert!(err.to_string().contains("no chroot"), "{err}");
    }

    /// A conductor whose session ends (its process died) loses its claim at
    /// once: the next claim takes the job over well before the claim's
    /// expiry, recording the failure as for an expired claim.
    #[test]
    fn a_dead_conductors_session_frees_its_claim() {
        let keep = ZkBoard::new("session");
        let posted = keep.open().post(&job("orphan", 0)).unwrap();
        let dying = keep.open();
        let held = dying.claim("dying", LONG).unwrap().unwrap();
        let other = keep.open();
        assert!(other.claim("alive", LONG).unwrap().is_none(), "still held");
        drop(dying); // its session ends with it
        let taken = other.claim("alive", LONG).unwrap().unwrap();
        assert_eq!((taken.job.id, taken.token), (posted.id, held.token + 1));
        assert!(
            taskwire::persistence::now_ms() < held.expires_at,
            "taken before the old claim expired"
        );
        assert_eq!(taken.job.failures.len(), 1);
        assert_eq!(
            (
                taken.job.failures[0].owner.as_str(),
                taken.job.failures[0].token
            ),
            ("dying", held.token)
        );
    }

    /// A conductor waiting on the board wakes up when a job is posted,
    /// rather than at its next poll.
    #[test]
    fn a_waiting_conductor_wakes_when_a_job_is_posted() {
        let keep = ZkBoard::new("wake");
        let waiting = keep.open();
        assert!(waiting.watches());
        assert!(waiting.claim("c", LONG).unwrap().is_none());
        // Nothing happens: the whole wait, and no change.
        let start = Instant::now();
        assert!(!waiting.wait_for_change(Duration::from_millis(300)));
        assert!(start.elapsed() >= Duration::from_millis(300));
        let poster = keep.open();
        let posted = std::thread::scope(|s| {
            let post = s.spawn(|| {
                std::thread::sleep(Duration::from_millis(200));
                (Instant::now(), poster.post(&job("news", 0)).unwrap())
            });
            assert!(waiting.wait_for_change(Duration::from_secs(30)), "woken");
            let woke = Instant::now();
            let (sent, posted) = post.join().unwrap();
            assert!(
                woke.duration_since(sent) < Duration::from_secs(2),
                "{:?}",
                woke.duration_since(sent)
            );
            posted
        });
        assert_eq!(waiting.claim("c", LONG).unwrap().unwrap().job.id, posted.id);
    }
}

#[cfg(feature = "etcd")]
mod etcd_board {
    use super::*;
    use crate::dist::EtcdBoard;
    use std::time::Instant;
    use taskwire::jobboard::open;

    fn board(test: &str) -> (Arc<dyn JobBoard>, EtcdBoard) {
        let keep = EtcdBoard::new(test);
        (open(&EtcdBoard::url(), &keep.0).unwrap(), keep)
    }

    conformance!(board);

    #[test]
    fn concurrent_claims_never_share_a_job() {
        let keep = EtcdBoard::new("concurrent");
        super::concurrent_claims_never_share_a_job(&|| Arc::new(keep.open()) as Arc<dyn JobBoard>);
    }

    #[test]
    fn boards_under_one_prefix_are_apart() {
        // `apart` is a prefix of `apart_b`'s name: the keys must not mix.
        let (a, _ka) = board("apart");
        let (b, _kb) = board("apart_b");
        a.post(&job("for-a", 0)).unwrap();
        assert!(b.claim("c", LONG).unwrap().is_none());
        assert!(b.list(None).unwrap().is_empty());
        assert_eq!(a.claim("c", LONG).unwrap().unwrap().job.spec.name, "for-a");
    }

    #[test]
    fn a_corrupt_job_is_named_and_others_stay_readable() {
        let (board, keep) = board("corrupt");
        let bad = board.post(&job("bad", 0)).unwrap();
        let good = board.post(&job("good", 0)).unwrap();
        keep.set(&format!("jobs/{}", bad.id), b"not json");
        let err = board.get(bad.id).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "jobboard `{}` at {}: job {}, field `(value)` is corrupt: expected ident at line 1 column 2",
                keep.0,
                EtcdBoard::url(),
                bad.id
            )
        );
        assert_eq!(board.get(good.id).unwrap().spec.name, "good");
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let (board, keep) = board("newer");
        drop(board);
        keep.set("schema", b"9");
        let err = open(&EtcdBoard::url(), &keep.0).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("jobboard `{}` at {}: the jobboard's schema is version 9, newer than version 1 that this taskwire knows; upgrade taskwire to use it", keep.0, EtcdBoard::url())
        );
        keep.set("schema", b"one");
        let err = open(&EtcdBoard::url(), &keep.0).unwrap_err();
        let tail = format!(
            "field `schema` is corrupt: `/taskwire-test/boards/{}/schema` holds \"one\", not a version number",
            keep.0
        );
        assert!(err.to_string().ends_with(&tail), "{err}");
    }

    #[test]
    fn a_server_that_is_not_there_is_named() {
        let start = Instant::now();
        let err = open("etcd://127.0.0.1:1/tw?timeout=1s", "main").unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with(
                "jobboard `main` at etcd://127.0.0.1:1/tw?timeout=1s: create the jobboard (etcd 127.0.0.1:1) failed: "
            ) && text.contains("Connection refused"),
            "{text}"
        );
        assert!(err.is_transient(), "{err:?}");
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{:?}",
            start.elapsed()
        );
        let err = open("etcd://127.0.0.1:2379", "main").unwrap_err();
        assert!(err.to_string().contains("no prefix"), "{err}");
        let err = open("etcd://127.0.0.1:2379/tw?lease=5s", "main").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid jobboard `etcd://127.0.0.1:2379/tw?lease=5s`: unknown key `lease`; known keys: connect_timeout, query_timeout, timeout, lease_ttl"
        );
    }

    /// A conductor whose board goes (its process ended) loses its claim at
    /// once: the board revokes its lease, the claim key goes with it, and
    /// the next claim takes the job over well before the claim's expiry,
    /// recording the failure as for an expired claim.
    #[test]
    fn a_dead_conductors_lease_frees_its_claim() {
        let keep = EtcdBoard::new("lease");
        let posted = keep.open().post(&job("orphan", 0)).unwrap();
        let dying = keep.open();
        let held = dying.claim("dying", LONG).unwrap().unwrap();
        let other = keep.open();
        assert!(other.claim("alive", LONG).unwrap().is_none(), "still held");
        drop(dying); // its lease is revoked with it
        let taken = other.claim("alive", LONG).unwrap().unwrap();
        assert_eq!((taken.job.id, taken.token), (posted.id, held.token + 1));
        assert!(
            taskwire::persistence::now_ms() < held.expires_at,
            "taken before the old claim expired"
        );
        assert_eq!(taken.job.failures.len(), 1);
        assert_eq!(
            (
                taken.job.failures[0].owner.as_str(),
                taken.job.failures[0].token
            ),
            ("dying", held.token)
        );
        // The stale claim is fenced off.
        assert!(matches!(
            other.complete(&held, FlowState::Success).unwrap_err(),
            JobBoardError::Lost { .. }
        ));
    }

    /// A live board keeps its lease alive: its claims outlast `lease_ttl`.
    #[test]
    fn a_live_boards_claims_outlast_its_lease_ttl() {
        let keep = EtcdBoard::new("kept");
        let url = format!("{}?lease_ttl=2s", EtcdBoard::url());
        let board = taskwire::jobboard::EtcdJobBoard::open(&url, &keep.0).unwrap();
        board.post(&job("kept", 0)).unwrap();
        let claim = board.claim("c", LONG).unwrap().unwrap();
        std::thread::sleep(Duration::from_secs(5));
        let other = keep.open();
        assert!(other.claim("o", LONG).unwrap().is_none(), "still held");
        board.complete(&claim, FlowState::Success).unwrap();
    }

    /// A lease that went (revoked, or expired while etcd was away): the
    /// claims it held can be taken over; a claim not taken over yet is put
    /// back under a new lease at its next renewal.
    #[test]
    fn a_lost_lease_frees_its_claims_and_a_renewal_takes_a_new_one() {
        let keep = EtcdBoard::new("relet");
        let board = keep.open();
        let first = board.post(&job("first", 1)).unwrap();
        let second = board.post(&job("second", 0)).unwrap();
        let a = board.claim("c", LONG).unwrap().unwrap();
        let b = board.claim("c", LONG).unwrap().unwrap();
        assert_eq!((a.job.id, b.job.id), (first.id, second.id));
        let old = keep.revoke_claim_lease(&first.id.to_string());
        // The holder renews `a` first: its claim key is back, under a new
        // lease.
        let a = board.renew(&a, LONG).unwrap();
        // The other claim's key went with the lease: taken over.
        let other = keep.open();
        let taken = other.claim("o", LONG).unwrap().unwrap();
        assert_eq!((taken.job.id, taken.token), (second.id, b.token + 1));
        assert!(other.claim("o", LONG).unwrap().is_none(), "`a` is held");
        assert!(matches!(
            board.complete(&b, FlowState::Success).unwrap_err(),
            JobBoardError::Lost { .. }
        ));
        let new = keep.revoke_claim_lease(&first.id.to_string());
        assert_ne!(new, old, "a new lease");
        board.renew(&a, LONG).unwrap();
        board.complete(&a, FlowState::Success).unwrap();
    }

    /// A conductor waiting on the board wakes up when a job is posted,
    /// rather than at its next poll; and when a claim is freed by a lease
    /// that went.
    #[test]
    fn a_waiting_conductor_wakes_when_a_job_is_posted() {
        let keep = EtcdBoard::new("wake");
        let waiting = keep.open();
        assert!(waiting.watches());
        assert!(waiting.claim("c", LONG).unwrap().is_none());
        // Nothing happens: the whole wait, and no change.
        let start = Instant::now();
        assert!(!waiting.wait_for_change(Duration::from_millis(300)));
        assert!(start.elapsed() >= Duration::from_millis(300));
        let poster = keep.open();
        let posted = std::thread::scope(|s| {
            let post = s.spawn(|| {
                std::thread::sleep(Duration::from_millis(200));
                (Instant::now(), poster.post(&job("news", 0)).unwrap())
            });
            assert!(waiting.wait_for_change(Duration::from_secs(30)), "woken");
            let woke = Instant::now();
            let (sent, posted) = post.join().unwrap();
            assert!(
                woke.duration_since(sent) < Duration::from_secs(2),
                "{:?}",
                woke.duration_since(sent)
            );
            posted
        });
        let claim = waiting.claim("c", LONG).unwrap().unwrap();
        assert_eq!(claim.job.id, posted.id);
        // Renewals and completions of other jobs wake no one.
        let busy = keep.open();
        busy.post(&job("other", 0)).unwrap();
        assert!(waiting.wait_for_change(Duration::from_secs(30)), "posted");
        assert!(waiting.claim("c", LONG).unwrap().is_some());
        assert!(busy.claim("b", LONG).unwrap().is_none());
        assert!(!waiting.wait_for_change(Duration::from_millis(300)));
        waiting.renew(&claim, LONG).unwrap();
        waiting.complete(&claim, FlowState::Success).unwrap();
        assert!(!waiting.wait_for_change(Duration::from_millis(300)));
        // A claim whose board went (its lease revoked) wakes the waiter.
        let dying = keep.open();
        dying.post(&job("orphan", 0)).unwrap();
        assert!(waiting.wait_for_change(Duration::from_secs(30)), "posted");
        let _orphan = dying.claim("dying", LONG).unwrap().unwrap();
        assert!(waiting.claim("c", LONG).unwrap().is_none());
        std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(Duration::from_millis(200));
                drop(dying);
            });
            assert!(waiting.wait_for_change(Duration::from_secs(30)), "woken");
        });
        assert_eq!(
            waiting.claim("c", LONG).unwrap().unwrap().job.spec.name,
            "orphan"
        );
    }
}

#[test]
fn bad_board_names_and_schemes_are_refused() {
    let err = taskwire::jobboard::open("redis://127.0.0.1/0", "no spaces").unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid jobboard `redis://127.0.0.1/0`: board name `no spaces` must be non-empty ASCII letters, digits and `_-.:`"
    );
    let err = taskwire::jobboard::open("amqp://u:secret@host", "jobs").unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown jobboard URL scheme `amqp` in `amqp://u:***@host`; known schemes: redis://, postgres://, postgresql://, zookeeper://, etcd://"
    );
}

/// Fault tests against a Redis of the test's own (never the shared one).
#[cfg(feature = "redis")]
mod redis_faults {
    use super::*;
    use crate::private_redis::PrivateRedis;
    use std::time::Instant;
    use taskwire::jobboard::open;

    /// A malformed bound in the URL is refused, naming the key and value.
    #[test]
    fn malformed_bounds_are_refused() {
        let err = open("redis://:pw@127.0.0.1:1/0?timeout=5x", "jobs").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid jobboard `redis://:***@127.0.0.1:1/0?timeout=5x`: `timeout=5x` is not a duration: write a whole number with a unit, such as `500ms`, `5s` or `1m`, or of seconds"
        );
        let err = open("redis://127.0.0.1:1/0?connect_timeout=0s", "jobs").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid jobboard `redis://127.0.0.1:1/0?connect_timeout=0s`: `connect_timeout=0s` must be more than zero (waits on a server are always bounded)"
        );
        let err = open("redis://127.0.0.1:1/0?keepalive=1h", "jobs").unwrap_err();
        assert!(
            err.to_string().contains("`keepalive=1h` is not a duration"),
            "{err}"
        );
    }

    /// A server paused (SIGSTOP) while a board call is in flight: the call
    /// fails within the URL's `timeout`, as a transient error naming the
    /// operation, the bound and the server (password redacted); resumed
    /// (SIGCONT), the server answers the same handle again.
    #[test]
    fn a_paused_server_is_an_error_within_the_bound_then_works_again() {
        let mut redis = PrivateRedis::start("paused");
        let query = "?timeout=1s&connect_timeout=500ms";
        let board = open(&redis.url(query), "jobs").unwrap();
        let posted = board.post(&job("one", 0)).unwrap();
        let claim = board.claim("c1", LONG).unwrap().unwrap();

        redis.pause();
        let started = Instant::now();
        let err = board.renew(&claim, LONG).unwrap_err();
        let took = started.elapsed();
        eprintln!("renew on a paused server failed after {took:?} (bound 1s)");
        assert!(
            took >= Duration::from_millis(900) && took <= Duration::from_millis(1800),
            "{took:?}"
        );
        assert!(err.is_transient(), "{err:?}");
        assert_eq!(
            err.to_string(),
            format!(
                "jobboard `jobs` at {}: renew a claim failed: no answer from the server within 1s (`timeout` in the URL); the connection was dropped and the next call connects again",
                redis.shown_url(query)
            )
        );
        assert!(!err.to_string().contains(redis.password));

        // The next call connects again: the kernel accepts the connection,
        // the paused server never answers the handshake (AUTH).
        let started = Instant::now();
        let err = board.get(posted.id).unwrap_err();
        let took = started.elapsed();
        eprintln!("reconnecting to a paused server failed after {took:?} (bound 500ms)");
        assert!(took <= Duration::from_millis(1300), "{took:?}: {err}");
        assert!(err.is_transient(), "{err:?}");
        assert!(
            err.to_string().contains("connect (to read a job) failed: "),
            "{err}"
        );

        redis.resume();
        let renewed = board.renew(&claim, LONG).unwrap();
        board.complete(&renewed, FlowState::Success).unwrap();
        assert_eq!(board.get(posted.id).unwrap().state, JobState::Done);
    }

    /// A server killed and started again (same port, its data kept): calls
    /// in between fail at once as transient errors (connection refused), and
    /// the same handle works again once it is back.
    #[test]
    fn a_restarted_server_is_reconnected_to() {
        let mut redis = PrivateRedis::start("restarted");
        let board = open(&redis.url("?timeout=1s"), "jobs").unwrap();
        let posted = board.post(&job("one", 0)).unwrap();
        redis.kill();
        let started = Instant::now();
        let err = board.get(posted.id).unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(1));
        assert!(err.is_transient(), "{err:?}");
        let err = board.get(posted.id).unwrap_err();
        assert!(err.to_string().contains("refused"), "{err}");
        redis.restart();
        assert_eq!(board.get(posted.id).unwrap().spec.name, "one");
    }
}
