//! Conductors against the real servers: a conductor killed with SIGKILL in
//! the middle of a flow (a child process), whose job another conductor takes
//! over and resumes from the logbook without running a finished task twice
//! (counted in a file outside the logbook); a poison job that ends dead after
//! its limit; graceful shutdowns; a reverted flow that makes its job done.
//! Each test has its own database, board and scratch directory.
#![cfg(all(feature = "redis", feature = "postgres", feature = "mysql"))]

mod dist;

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use taskwire::conductor::{Conductor, ConductorReport, JobOutcome};
use taskwire::jobboard::{self, JobState, NewJob};
use taskwire::persistence::{self, Backend};
use taskwire::{AtomState, Flow, FlowState, FnTask};

use dist::{MariaDb, PgDb, RedisBoard, Scratch, REDIS};

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
