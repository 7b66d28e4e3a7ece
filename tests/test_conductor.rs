//! Conductors against the real servers: a conductor killed with SIGKILL in
//! the middle of a flow (a child process), whose job another conductor takes
//! over and resumes from the logbook without running a finished task twice
//! (counted in a file outside the logbook); a poison job that ends dead after
//! its limit; graceful shutdowns; a reverted flow that makes its job done.
//! Each test has its own database, board and scratch directory.
#![cfg(all(feature = "redis", feature = "postgres", feature = "mysql"))]

mod dist;
#[path = "support/private_redis.rs"]
mod private_redis;

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use taskwire::conductor::{Conductor, ConductorReport, JobOutcome};
use taskwire::jobboard::{self, JobState, NewJob};
use taskwire::persistence::{self, Backend};
use taskwire::{AtomState, Flow, FlowState, FnTask};

use dist::{MariaDb, PgDb, RedisBoard, Scratch, REDIS};
use private_redis::PrivateRedis;

const LENGTH: usize = 5;

/// A chain `t0..t4`, each adding one and appending its name to the file
/// `effects` in `dir`. With `TW_COND_CRASH_AT=tN` in the environment, `tN`
/// waits to be killed after its effect; `fail_at` makes a task fail.
fn chain(params: &Value) -> Result<Flow, String> {
    let dir = PathBuf::from(params["dir"].as_str().ok_or("`dir` must be a path")?);
    let fail_at = params["fail_at"].as_str().map(str::to_owned);
    let mut flow = Flow::linear("conductor_chain");
    for i in 0..LENGTH {
        let dir = dir.clone();
        let fail_at = fail_at.clone();
        flow.push(
            FnTask::new(format!("t{i}"))
                .requires([format!("v{i}")])
                .provides(format!("v{}", i + 1))
                .run(move |call| {
                    let v: u64 = call.arg(0)?;
                    let name = call.atom().to_owned();
                    append(&dir.join("effects"), &name);
                    if std::env::var("TW_COND_CRASH_AT").as_deref() == Ok(name.as_str()) {
                        std::fs::write(dir.join("ready"), "inside").unwrap();
                        std::thread::sleep(Duration::from_secs(60));
                    }
                    if fail_at.as_deref() == Some(name.as_str()) {
                        return Err(taskwire::Failure::new(
                            taskwire::FailureKind::Task,
                            format!("{name} refused"),
                        ));
                    }
                    Ok(json!(v + 1))
                }),
        );
    }
    Ok(flow)
}

taskwire::flow_factory!("tests::conductor_chain", chain);

fn refuses(params: &Value) -> Result<Flow, String> {
    Err(format!(
        "`size_gb` must be a number, not {}",
        params["size_gb"]
    ))
}

taskwire::flow_factory!("tests::refuses", refuses);

fn append(path: &Path, line: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    // One write per line, so that concurrent appends do not interleave.
    f.write_all(format!("{line}\n").as_bytes()).unwrap();
    f.sync_all().unwrap();
}

fn effects(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("effects"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn chain_job(dir: &Path) -> NewJob {
    NewJob::new("tests::conductor_chain", json!({"dir": dir}))
        .name("chain")
        .input("v0", 0)
}

/// The child: one conductor that claims one job and runs it until killed.
#[test]
#[ignore = "the conductor crash tests run it as a child process"]
fn conductor_child() {
    let board = jobboard::open(
        &std::env::var("TW_COND_BOARD").expect("run by the crash tests"),
        &std::env::var("TW_COND_BOARD_NAME").unwrap(),
    )
    .unwrap();
    let logbook = persistence::open(&std::env::var("TW_COND_LOGBOOK").unwrap()).unwrap();
    let conductor = Conductor::new("node-a", board, logbook).claim_ttl(Duration::from_millis(1500));
    let outcome = conductor.run_one().unwrap();
    panic!("the child should have been killed, but its job ended: {outcome:?}");
}

fn spawn_child(board: &str, name: &str, logbook: &str, at: &str) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "conductor_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("TW_COND_BOARD", board)
        .env("TW_COND_BOARD_NAME", name)
        .env("TW_COND_LOGBOOK", logbook)
        .env("TW_COND_CRASH_AT", at)
        .spawn()
        .unwrap()
}

fn kill_when_ready(child: &mut Child, dir: &Path) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !dir.join("ready").exists() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the child ended before the crash point: {status}");
        }
        assert!(Instant::now() < deadline, "the child never got there");
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Kills a conductor inside `t2`; another conductor takes the job over once
/// the claim expires and resumes the run: `t0`, `t1` are not run again, `t2`
/// (recorded RUNNING) is, and the job ends done with the expiry recorded.
fn killed_conductor_is_taken_over(board_url: &str, board_name: &str, logbook_url: &str) {
    let scratch = Scratch::new("cond-kill");
    let dir = &scratch.0;
    let board = jobboard::open(board_url, board_name).unwrap();
    let posted = board.post(&chain_job(dir)).unwrap();
    let mut child = spawn_child(board_url, board_name, logbook_url, "t2");
    kill_when_ready(&mut child, dir);
    assert_eq!(effects(dir), ["t0", "t1", "t2"]);

    let held = board.get(posted.id).unwrap();
    assert_eq!(held.state, JobState::Claimed);
    assert_eq!(held.owner.as_deref(), Some("node-a"));
    let flow = held.flow.expect("the job names its flow detail");
    let logbook = persistence::open(logbook_url).unwrap();
    let (_, atoms) = logbook.load_flow(flow).unwrap();
    assert_eq!(atoms[2].state, AtomState::Running);

    let conductor = Conductor::new("node-b", Arc::clone(&board), Arc::clone(&logbook))
        .claim_ttl(Duration::from_secs(5));
    let deadline = Instant::now() + Duration::from_secs(30);
    let outcome = loop {
        if let Some(outcome) = conductor.run_one().unwrap() {
            break outcome;
        }
        assert!(Instant::now() < deadline, "the claim never expired");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        matches!(
            outcome,
            JobOutcome::Done {
                state: FlowState::Success,
                ..
            }
        ),
        "{outcome:?}"
    );
    // Only the task that was running when the conductor died ran again.
    assert_eq!(effects(dir), ["t0", "t1", "t2", "t2", "t3", "t4"]);
    let done = board.get(posted.id).unwrap();
    assert_eq!(done.state, JobState::Done);
    assert_eq!(done.outcome, Some(FlowState::Success));
    assert_eq!(done.flow, Some(flow), "the same run, resumed");
    let failures: Vec<(&str, u64)> = done
        .failures
        .iter()
        .map(|f| (f.owner.as_str(), f.token))
        .collect();
    assert_eq!(failures, [("node-a", 1)]);
    let (detail, atoms) = logbook.load_flow(flow).unwrap();
    assert_eq!(detail.state, FlowState::Success);
    assert_eq!(atoms[4].result, Some(json!(5)));
}

#[test]
fn a_killed_conductor_is_taken_over_postgres_board_and_logbook() {
    let db = PgDb::new("cond_pg");
    killed_conductor_is_taken_over(&db.url(), "jobs", &db.url());
}

#[test]
fn a_killed_conductor_is_taken_over_redis_board_mariadb_logbook() {
    let board = RedisBoard::new("cond-redis");
    let db = MariaDb::new("cond_maria");
    killed_conductor_is_taken_over(REDIS, &board.0, &db.url());
}

/// The same on ZooKeeper, board and logbook: the child's session ends with
/// it, which frees its claim and its flow's lease.
#[cfg(feature = "zookeeper")]
#[test]
fn a_killed_conductor_is_taken_over_zookeeper_board_and_logbook() {
    let board = dist::ZkBoard::new("cond-zk");
    let logbook = format!(
        "{}/{}?session_timeout=2s",
        dist::ZkBoard::url(),
        dist::unique("cond_zk_logbook")
    );
    killed_conductor_is_taken_over(&dist::ZkBoard::url(), &board.0, &logbook);
    let backend = persistence::open(&logbook).unwrap();
    for summary in backend.list_logbooks().unwrap() {
        backend.delete_logbook(summary.book.uuid).unwrap();
    }
}

/// The same on an etcd board (PostgreSQL logbook): the child's lease is no
/// longer kept alive, and its claim key goes with it.
#[cfg(feature = "etcd")]
#[test]
fn a_killed_conductor_is_taken_over_etcd_board_postgres_logbook() {
    let board = dist::EtcdBoard::new("cond-etcd");
    let db = PgDb::new("cond_etcd");
    let url = format!("{}?lease_ttl=2s", dist::EtcdBoard::url());
    killed_conductor_is_taken_over(&url, &board.0, &db.url());
}

/// A job whose factory refuses its parameters fails each time and ends dead
/// after its limit, with every failure kept; the next job still runs.
#[test]
fn a_poison_job_ends_dead_after_its_limit() {
    let keep = RedisBoard::new("cond-poison");
    let board = jobboard::open(REDIS, &keep.0).unwrap();
    let scratch = Scratch::new("cond-poison");
    let poison = board
        .post(
            &NewJob::new("tests::refuses", json!({"size_gb": "ten"}))
                .max_failures(2)
                .priority(1),
        )
        .unwrap();
    let typo = board
        .post(&NewJob::new("tests::conductor_chian", json!({})).max_failures(1))
        .unwrap();
    board.post(&chain_job(&scratch.0)).unwrap();
    let conductor = Conductor::new(
        "node-a",
        Arc::clone(&board),
        persistence::open("memory://").unwrap(),
    );
    let mut outcomes = Vec::new();
    while let Some(outcome) = conductor.run_one().unwrap() {
        outcomes.push(match outcome {
            JobOutcome::Done { job, state } => format!("{}: done {state}", job.spec.factory),
            JobOutcome::Failed { job, state, error } => {
                format!("{}: {state}: {error}", job.spec.factory)
            }
            other => panic!("{other:?}"),
        });
    }
    let refused = "flow factory `tests::refuses` could not build its flow: `size_gb` must be a number, not \"ten\"";
    let unknown = "no flow factory is registered under the name `tests::conductor_chian` (did you mean `tests::conductor_chain`?)";
    assert_eq!(
        outcomes,
        [
            format!("tests::refuses: ready: {refused}"),
            format!("tests::refuses: dead: {refused}"),
            format!("tests::conductor_chian: dead: {unknown}"),
            "tests::conductor_chain: done SUCCESS".to_owned(),
        ]
    );
    let dead = board.get(poison.id).unwrap();
    assert_eq!(dead.state, JobState::Dead);
    let messages: Vec<&str> = dead.failures.iter().map(|f| f.message.as_str()).collect();
    assert_eq!(messages, [refused, refused]);
    assert_eq!(board.get(typo.id).unwrap().state, JobState::Dead);
    assert_eq!(board.list(Some(JobState::Dead)).unwrap().len(), 2);
}

/// Stops the conductor when `after` succeeds.
struct ReleaseAfter(String, taskwire::conductor::Shutdown);

impl taskwire::Listener for ReleaseAfter {
    fn on_atom(&self, e: &taskwire::AtomEvent<'_>) {
        if e.atom == self.0 && e.state == AtomState::Success {
            self.1.release();
        }
    }
}

/// `Shutdown::release` suspends the run after the running task and gives the
/// job back without a failure; another conductor finishes it.
#[test]
fn a_released_job_is_finished_by_another_conductor() {
    let db = PgDb::new("cond_release");
    let board = jobboard::open(&db.url(), "jobs").unwrap();
    let logbook = persistence::open(&db.url()).unwrap();
    let scratch = Scratch::new("cond-release");
    let posted = board.post(&chain_job(&scratch.0)).unwrap();
    let first = Conductor::new("node-a", Arc::clone(&board), Arc::clone(&logbook));
    let shutdown = first.shutdown_handle();
    let first = first.configure(move |engine, _job| {
        engine.listener(ReleaseAfter("t1".to_owned(), shutdown.clone()))
    });
    assert_eq!(
        first.run(),
        ConductorReport {
            released: 1,
            ..Default::default()
        }
    );
    let back = board.get(posted.id).unwrap();
    assert_eq!((back.state, back.failures.len()), (JobState::Ready, 0));
    let (detail, _) = logbook.load_flow(back.flow.unwrap()).unwrap();
    assert_eq!(detail.state, FlowState::Suspended);

    let second = Conductor::new("node-b", Arc::clone(&board), Arc::clone(&logbook));
    assert!(matches!(
        second.run_one().unwrap(),
        Some(JobOutcome::Done {
            state: FlowState::Success,
            ..
        })
    ));
    assert_eq!(effects(&scratch.0), ["t0", "t1", "t2", "t3", "t4"]);
}

/// `Shutdown::finish` lets the job in hand end, then `run` returns; other
/// jobs stay on the board.
#[test]
fn finish_ends_the_job_in_hand_then_stops() {
    let keep = RedisBoard::new("cond-finish");
    let board = jobboard::open(REDIS, &keep.0).unwrap();
    let scratch = Scratch::new("cond-finish");
    board.post(&chain_job(&scratch.0)).unwrap();
    let waiting = board.post(&chain_job(&scratch.0)).unwrap();
    let conductor = Conductor::new(
        "node-a",
        Arc::clone(&board),
        persistence::open("memory://").unwrap(),
    );
    let shutdown = conductor.shutdown_handle();
    let conductor =
        conductor.configure(move |engine, _| engine.listener(FinishAt(shutdown.clone())));
    assert_eq!(
        conductor.run(),
        ConductorReport {
            done: 1,
            ..Default::default()
        }
    );
    assert_eq!(effects(&scratch.0).len(), LENGTH);
    assert_eq!(board.get(waiting.id).unwrap().state, JobState::Ready);
}

struct FinishAt(taskwire::conductor::Shutdown);

impl taskwire::Listener for FinishAt {
    fn on_atom(&self, e: &taskwire::AtomEvent<'_>) {
        if e.atom == "t0" && e.state == AtomState::Running {
            self.0.finish();
        }
    }
}

/// A flow that reverts ends its job: done, with REVERTED as its outcome, and
/// not run again.
#[test]
fn a_reverted_flow_makes_its_job_done() {
    let keep = RedisBoard::new("cond-reverted");
    let board = jobboard::open(REDIS, &keep.0).unwrap();
    let scratch = Scratch::new("cond-reverted");
    let mut job = chain_job(&scratch.0);
    job.params["fail_at"] = json!("t1");
    let posted = board.post(&job).unwrap();
    let logbook: Arc<dyn Backend> = persistence::open("memory://").unwrap();
    let conductor = Conductor::new("node-a", Arc::clone(&board), logbook);
    assert!(matches!(
        conductor.run_one().unwrap(),
        Some(JobOutcome::Done {
            state: FlowState::Reverted,
            ..
        })
    ));
    let done = board.get(posted.id).unwrap();
    assert_eq!(
        (done.state, done.outcome),
        (JobState::Done, Some(FlowState::Reverted))
    );
    assert!(conductor.run_one().unwrap().is_none());
    assert_eq!(effects(&scratch.0), ["t0", "t1"]);
}

/// A job whose engine runs on tokio (several workers, or remote ones) with a
/// PostgreSQL logbook: the logbook's sync driver must not be called from
/// inside the engine's runtime (it would panic).
#[test]
fn a_postgres_logbook_works_for_a_parallel_run() {
    let db = PgDb::new("cond_parallel");
    let board = jobboard::open(&db.url(), "jobs").unwrap();
    let logbook = persistence::open(&db.url()).unwrap();
    let scratch = Scratch::new("cond-parallel");
    let posted = board.post(&chain_job(&scratch.0)).unwrap();
    let conductor = Conductor::new("node-a", Arc::clone(&board), Arc::clone(&logbook))
        .configure(|engine, _| engine.max_workers(2));
    let outcome = conductor.run_one().unwrap().unwrap();
    assert!(
        matches!(
            outcome,
            JobOutcome::Done {
                state: FlowState::Success,
                ..
            }
        ),
        "{outcome:?}"
    );
    let (detail, _) = logbook
        .load_flow(board.get(posted.id).unwrap().flow.unwrap())
        .unwrap();
    assert_eq!(detail.state, FlowState::Success);
}

/// Calls its closure when the flow ends SUCCESS (once).
struct OnSuccess(Mutex<Option<Box<dyn FnOnce() + Send>>>);

impl OnSuccess {
    fn new(f: impl FnOnce() + Send + 'static) -> OnSuccess {
        OnSuccess(Mutex::new(Some(Box::new(f))))
    }
}

impl taskwire::Listener for OnSuccess {
    fn on_flow(&self, e: &taskwire::FlowEvent<'_>) {
        if e.state == FlowState::Success {
            if let Some(f) = self.0.lock().unwrap().take() {
                f();
            }
        }
    }
}

/// The private Redis's bounds in these tests: a command waits at most 1 s,
/// a connection at most 500 ms.
const BOUNDS: &str = "?timeout=1s&connect_timeout=500ms";

/// What a fault test saw: when the fault began and ended, and when the
/// conductor was done with the job.
#[derive(Debug, Default)]
struct Times {
    fault: Option<Instant>,
    back: Option<Instant>,
}

/// Runs one chain job with a conductor (claim TTL `ttl`) on a private
/// Redis; when the flow has succeeded, `fault` breaks the server, and
/// `heal` mends it `away` later. Returns the conductor's outcome, the board,
/// the job's id, the scratch directory, the times, and the logbook.
#[allow(clippy::type_complexity)]
fn run_through_a_fault(
    test: &str,
    ttl: Duration,
    away: Duration,
    fault: fn(&mut PrivateRedis),
    heal: fn(&mut PrivateRedis),
) -> (
    JobOutcome,
    Arc<dyn jobboard::JobBoard>,
    taskwire::persistence::Uuid,
    Scratch,
    Arc<Mutex<Times>>,
    Arc<dyn Backend>,
    Arc<Mutex<PrivateRedis>>,
    std::thread::JoinHandle<()>,
) {
    let redis = Arc::new(Mutex::new(PrivateRedis::start(test)));
    let url = redis.lock().unwrap().url(BOUNDS);
    let board = jobboard::open(&url, "jobs").unwrap();
    let scratch = Scratch::new(test);
    let posted = board.post(&chain_job(&scratch.0)).unwrap();
    let logbook: Arc<dyn Backend> = persistence::open("memory://").unwrap();
    let times = Arc::new(Mutex::new(Times::default()));
    let (tx, rx) = std::sync::mpsc::channel();
    // The helpers hold the server weakly: the test's own handle is the only
    // strong one, so that its drop stops the server whatever happens.
    let healer = {
        let (redis, times) = (Arc::downgrade(&redis), Arc::clone(&times));
        std::thread::spawn(move || {
            // Waits for the fault (or for the test to end without one).
            if rx.recv().is_err() {
                return;
            }
            std::thread::sleep(away);
            if let Some(redis) = redis.upgrade() {
                heal(&mut redis.lock().unwrap());
                times.lock().unwrap().back = Some(Instant::now());
            }
        })
    };
    let conductor = {
        let (redis, times) = (Arc::downgrade(&redis), Arc::clone(&times));
        let tx = Mutex::new(Some(tx));
        Conductor::new("node-a", Arc::clone(&board), Arc::clone(&logbook))
            .claim_ttl(ttl)
            .configure(move |engine, _| {
                let (redis, times) = (redis.clone(), Arc::clone(&times));
                let tx = tx.lock().unwrap().take();
                engine.listener(OnSuccess::new(move || {
                    fault(&mut redis.upgrade().expect("the test holds it").lock().unwrap());
                    times.lock().unwrap().fault = Some(Instant::now());
                    if let Some(tx) = tx {
                        tx.send(()).unwrap();
                    }
                }))
            })
    };
    let outcome = conductor.run_one().unwrap().expect("the job was claimed");
    (
        outcome, board, posted.id, scratch, times, logbook, redis, healer,
    )
}

fn assert_done_once(board: &dyn jobboard::JobBoard, id: taskwire::persistence::Uuid, dir: &Path) {
    let done = board.get(id).unwrap();
    assert_eq!(done.state, JobState::Done, "{done:?}");
    assert_eq!(done.outcome, Some(FlowState::Success));
    assert!(
        done.failures.is_empty(),
        "no failed attempt: {:?}",
        done.failures
    );
    assert_eq!(
        effects(dir),
        ["t0", "t1", "t2", "t3", "t4"],
        "each task ran once"
    );
}

/// Redis killed just as the conductor is to complete a job whose flow
/// succeeded, and started again 2 s later (its data kept) while the claim
/// (10 s) is alive: the conductor's `complete` is refused, tried again with
/// backoff, and goes through once Redis is back. The job is done, SUCCESS,
/// no failed attempt counted, each task ran once.
#[test]
fn a_job_is_completed_through_a_redis_restart() {
    let (outcome, board, id, scratch, times, _logbook, _redis, healer) = run_through_a_fault(
        "cond-restart",
        Duration::from_secs(10),
        Duration::from_secs(2),
        PrivateRedis::kill,
        PrivateRedis::restart,
    );
    let finished = Instant::now();
    healer.join().unwrap();
    assert!(
        matches!(
            outcome,
            JobOutcome::Done {
                state: FlowState::Success,
                ..
            }
        ),
        "{outcome:?}"
    );
    let times = times.lock().unwrap();
    let (fault, back) = (times.fault.unwrap(), times.back.unwrap());
    eprintln!(
        "redis killed; back after {:?}; the conductor completed the job {:?} after the kill",
        back - fault,
        finished - fault
    );
    assert!(finished > back);
    assert_done_once(&*board, id, &scratch.0);
}

/// Redis paused (SIGSTOP) as the conductor is to complete a job whose flow
/// succeeded, and resumed 2.5 s later while the claim (10 s) is alive: each
/// try of `complete` ends within the 1 s bound, and the conductor tries
/// again until Redis answers. A try sent to the paused server is read when
/// it resumes, although its connection was dropped, and is the one applied:
/// the try in flight then is refused as `Lost`, and the conductor finds the
/// job done under its own claim (the path this test takes, as seen with a
/// trace in `completed_before`).
#[test]
fn a_job_is_completed_through_a_redis_pause() {
    let (outcome, board, id, scratch, times, _logbook, _redis, healer) = run_through_a_fault(
        "cond-pause",
        Duration::from_secs(10),
        Duration::from_millis(2500),
        PrivateRedis::pause,
        PrivateRedis::resume,
    );
    let finished = Instant::now();
    healer.join().unwrap();
    assert!(
        matches!(
            outcome,
            JobOutcome::Done {
                state: FlowState::Success,
                ..
            }
        ),
        "{outcome:?}"
    );
    let times = times.lock().unwrap();
    let (fault, back) = (times.fault.unwrap(), times.back.unwrap());
    eprintln!(
        "redis paused; resumed after {:?}; the conductor completed the job {:?} after the pause",
        back - fault,
        finished - fault
    );
    assert!(finished > back);
    // Done within a bound of the resume: at most one timeout (1 s) plus one
    // wait between tries (at most 2 s) and margin.
    assert!(
        finished - back < Duration::from_millis(3500),
        "{:?}",
        finished - back
    );
    assert_done_once(&*board, id, &scratch.0);
}

/// Redis killed as the conductor is to complete a job whose flow succeeded,
/// and away for longer than the claim (2 s): the conductor tries until the
/// claim would expire, then gives up (Lost, saying why). Once Redis is back,
/// the next conductor takes the job over, finds the flow ended, runs
/// nothing, and completes the job: done, SUCCESS, and the expiry that the
/// takeover recorded withdrawn, since the flow did not fail.
#[test]
fn a_flow_that_succeeded_is_never_a_failed_attempt() {
    let ttl = Duration::from_secs(2);
    let (outcome, board, id, scratch, times, logbook, redis, healer) = run_through_a_fault(
        "cond-takeover",
        ttl,
        Duration::ZERO,
        PrivateRedis::kill,
        |_| {},
    );
    healer.join().unwrap();
    let gave_up = Instant::now();
    let fault = times.lock().unwrap().fault.unwrap();
    eprintln!(
        "redis killed; the conductor gave up {:?} after the kill (claim TTL {ttl:?})",
        gave_up - fault
    );
    let JobOutcome::Lost { error, .. } = &outcome else {
        panic!("{outcome:?}")
    };
    assert!(
        error.starts_with("could not complete the job before the claim would expire: "),
        "{error}"
    );
    assert!(
        error.ends_with("its flow ended SUCCESS: the conductor that takes the job over completes it without running it"),
        "{error}"
    );
    assert!(gave_up - fault <= ttl + Duration::from_millis(1500));
    redis.lock().unwrap().restart();

    let held = board.get(id).unwrap();
    assert_eq!(
        held.state,
        JobState::Claimed,
        "the claim outlived the outage"
    );
    let second = Conductor::new("node-b", Arc::clone(&board), Arc::clone(&logbook))
        .claim_ttl(Duration::from_secs(5));
    let deadline = Instant::now() + Duration::from_secs(10);
    let outcome = loop {
        if let Some(outcome) = second.run_one().unwrap() {
            break outcome;
        }
        assert!(Instant::now() < deadline, "the claim never expired");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        matches!(
            outcome,
            JobOutcome::Done {
                state: FlowState::Success,
                ..
            }
        ),
        "{outcome:?}"
    );
    assert_done_once(&*board, id, &scratch.0);
}

/// A logbook that refuses a write in the middle of a run (its directory
/// replaced by a file): the engine stops the run with the logbook's error,
/// the conductor stops renewing the claim and fails the job (ready again,
/// the failure recorded), rather than renewing it while nothing runs.
#[test]
fn a_logbook_that_refuses_writes_fails_the_job_and_stops_renewing() {
    let keep = RedisBoard::new("cond-logbook");
    let board = jobboard::open(REDIS, &keep.0).unwrap();
    let scratch = Scratch::new("cond-logbook");
    let logdir = scratch.0.join("logbook");
    std::fs::create_dir_all(&logdir).unwrap();
    let logbook = persistence::open(&format!("dir://{}", logdir.display())).unwrap();
    let posted = board.post(&chain_job(&scratch.0)).unwrap();
    let ttl = Duration::from_millis(900);
    let conductor = Conductor::new("node-a", Arc::clone(&board), logbook)
        .claim_ttl(ttl)
        .configure(move |engine, _| {
            let logdir = logdir.clone();
            engine.listener(BreakAt("t1".to_owned(), Mutex::new(Some(logdir))))
        });
    let started = Instant::now();
    let outcome = conductor.run_one().unwrap().unwrap();
    let JobOutcome::Failed { state, error, .. } = &outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(*state, JobState::Ready);
    assert!(error.contains("the logbook refused a write"), "{error}");
    assert!(started.elapsed() < Duration::from_secs(5));
    let job = board.get(posted.id).unwrap();
    assert_eq!((job.state, job.failures.len()), (JobState::Ready, 1));
    // Nothing renews a claim any more: the job stays as it was left.
    std::thread::sleep(ttl);
    assert_eq!(board.get(posted.id).unwrap().updated_at, job.updated_at);
    assert_eq!(effects(&scratch.0), ["t0", "t1"]);
}

/// Replaces the logbook's directory with a file when atom `.0` succeeds, so
/// that the next write fails.
struct BreakAt(String, Mutex<Option<PathBuf>>);

impl taskwire::Listener for BreakAt {
    fn on_atom(&self, e: &taskwire::AtomEvent<'_>) {
        if e.atom == self.0 && e.state == AtomState::Running {
            if let Some(dir) = self.1.lock().unwrap().take() {
                std::fs::remove_dir_all(&dir).unwrap();
                std::fs::write(&dir, "not a directory").unwrap();
            }
        }
    }
}
