//! Persistence through the engine: write-through, resumption after a crash
//! (a child process killed with SIGKILL inside a task and between tasks),
//! leases between engines, versions, and the errors of a run that cannot be
//! taken up again. Each backend is the real thing: a SQLite file, a
//! directory, and (with their features) a PostgreSQL and a MariaDB database of
//! the test's own, dropped afterwards.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use taskwire::persistence::{self, Backend, PersistenceError, Uuid};
use taskwire::{AtomState, Engine, Flow, FlowState, FnTask, ResumeError, RunError};

const LENGTH: usize = 6;

/// The flow under test: a chain `t0..t5`, each adding one to the previous
/// value and appending its name to a side-effect file kept outside the
/// logbook. `TW_CRASH_AT=inside:tN` makes `tN` stop (after its side effect)
/// and wait to be killed, the first time it runs.
fn chain(params: &Value) -> Result<Flow, String> {
    let dir = PathBuf::from(params["dir"].as_str().ok_or("`dir` must be a path")?);
    let mut flow = Flow::linear("crash_chain");
    for i in 0..LENGTH {
        let dir = dir.clone();
        flow.push(
            FnTask::new(format!("t{i}"))
                .requires([format!("v{i}")])
                .provides(format!("v{}", i + 1))
                .run(move |call| {
                    let v: u64 = call.arg(0)?;
                    let name = call.atom().to_owned();
                    append(&dir.join("effects"), &name);
                    if std::env::var("TW_CRASH_AT").as_deref() == Ok(&format!("inside:{name}")) {
                        std::fs::write(dir.join("ready"), "inside").unwrap();
                        std::thread::sleep(Duration::from_secs(60));
                    }
                    Ok(json!(v + 1))
                }),
        );
    }
    Ok(flow)
}

taskwire::flow_factory!("tests::crash_chain", chain);

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

/// Stops the run between tasks: after `after` has been recorded SUCCESS.
struct StopAfter(String, PathBuf);

impl taskwire::Listener for StopAfter {
    fn on_atom(&self, e: &taskwire::AtomEvent<'_>) {
        if e.atom == self.0 && e.state == AtomState::Success {
            std::fs::write(self.1.join("ready"), "between").unwrap();
            std::thread::sleep(Duration::from_secs(60));
        }
    }
}

/// The child process: starts the flow with persistence and waits to be
/// killed. Run by the crash tests, not on its own.
#[test]
#[ignore = "the crash tests run it as a child process"]
fn crash_child() {
    let url = std::env::var("TW_CRASH_URL").expect("run by the crash tests");
    let dir = PathBuf::from(std::env::var("TW_CRASH_DIR").unwrap());
    let backend = persistence::open(&url).unwrap();
    let mut engine = Engine::from_factory("tests::crash_chain", json!({"dir": dir}))
        .unwrap()
        .input("v0", 0)
        .persist(backend);
    if std::env::var("TW_CRASH_OWNER").as_deref() != Ok("default") {
        engine = engine.owner("crash-test-node");
    }
    if let Some(after) = std::env::var("TW_CRASH_AT")
        .ok()
        .and_then(|at| at.strip_prefix("after:").map(str::to_owned))
    {
        engine = engine.listener(StopAfter(after, dir.clone()));
    }
    engine.compile().unwrap();
    std::fs::write(dir.join("flow"), engine.flow_uuid().unwrap().to_string()).unwrap();
    engine.run().unwrap();
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "taskwire-{test}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn spawn_child(url: &str, dir: &Path, at: &str) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "crash_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("TW_CRASH_URL", url)
        .env("TW_CRASH_DIR", dir)
        .env("TW_CRASH_AT", at)
        .spawn()
        .unwrap()
}

/// Kills the child (SIGKILL) once it says it is where it should die.
fn kill_when_ready(child: &mut Child, dir: &Path) {
    wait_ready(child, dir);
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Waits for the child to say it is where it should die.
fn wait_ready(child: &mut Child, dir: &Path) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !dir.join("ready").exists() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the child ended before the crash point: {status}");
        }
        assert!(
            Instant::now() < deadline,
            "the child never reached the crash point"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// After a crash, a process of the same host with the default owner takes
/// the dead process's lease over at once (no wait for its 30 s TTL), notes
/// the takeover, and runs only what had not finished; while the owner
/// lives, it is refused with a message that says how to take over.
#[test]
fn the_default_owner_takes_a_dead_process_lease_over_at_once() {
    let dir = scratch("takeover");
    let _cleanup = Scratch(dir.clone());
    let url = format!("sqlite://{}", dir.join("log.db").display());
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["crash_child", "--exact", "--ignored", "--nocapture"])
        .env("TW_CRASH_URL", &url)
        .env("TW_CRASH_DIR", &dir)
        .env("TW_CRASH_AT", "inside:t3")
        .env("TW_CRASH_OWNER", "default")
        .spawn()
        .unwrap();
    wait_ready(&mut child, &dir);
    let flow: Uuid = std::fs::read_to_string(dir.join("flow"))
        .unwrap()
        .parse()
        .unwrap();
    let backend = persistence::open(&url).unwrap();
    let holder = backend.current_lease(flow).unwrap().unwrap().owner;
    assert!(
        holder.contains(&format!("/{}/", child.id())),
        "the child's default owner names its pid: {holder}"
    );

    // Alive: refused, and told who, since when, until when and how.
    let err = Engine::resume(Arc::clone(&backend), flow)
        .unwrap()
        .compile()
        .map(|_| ())
        .unwrap_err();
    let text = err.to_string();
    eprintln!("while the owner lives: {text}");
    assert!(
        text.contains(&format!("is leased to `{holder}` (token 1) since ")),
        "{text}"
    );
    assert!(text.contains(" s ago), until "), "{text}");
    assert!(
        text.contains("or take it over with `Engine::take_over(grace)`"),
        "{text}"
    );

    child.kill().unwrap();
    child.wait().unwrap();
    let started = Instant::now();
    let mut engine = Engine::resume(Arc::clone(&backend), flow).unwrap();
    let done = engine.run().unwrap();
    eprintln!(
        "the dead process's lease was taken over and the run finished in {:?}",
        started.elapsed()
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "taken over at once, not after the lease's 30 s: {:?}",
        started.elapsed()
    );
    assert_eq!(
        done.get::<u64>(&format!("v{LENGTH}")).unwrap(),
        LENGTH as u64
    );
    let runs = effects(&dir);
    for i in 0..LENGTH {
        let name = format!("t{i}");
        let expected = if i == 3 { 2 } else { 1 };
        let n = runs.iter().filter(|e| **e == name).count();
        assert_eq!(n, expected, "{name} ran {n} times");
    }
    let (detail, _) = backend.load_flow(flow).unwrap();
    let notes = detail.meta["leases"].as_array().unwrap();
    let last = notes.last().unwrap();
    assert_eq!(last["from"], holder.as_str());
    assert_eq!(last["how"], "owner gone");
    assert_eq!(last["token"], 2);
}

/// Crashes a run at `at` and resumes it in this process; checks that no
/// finished task ran twice and that the result is an uninterrupted run's.
fn crash_and_resume(url: &str, test: &str, at: &str, killed_in: Option<&str>) {
    let dir = scratch(test);
    let _cleanup = Scratch(dir.clone());
    let mut child = spawn_child(url, &dir, at);
    kill_when_ready(&mut child, &dir);

    let flow: Uuid = std::fs::read_to_string(dir.join("flow"))
        .unwrap()
        .parse()
        .unwrap();
    let backend = persistence::open(url).unwrap();
    let (detail, atoms) = backend.load_flow(flow).unwrap();
    assert_eq!(
        detail.state,
        FlowState::Running,
        "the crash left it running"
    );
    if let Some(task) = killed_in {
        let atom = atoms.iter().find(|a| a.name == task).unwrap();
        assert_eq!(atom.state, AtomState::Running, "killed inside {task}");
    }
    let before = effects(&dir);

    // Another owner is refused while the dead child's lease is live.
    let mut other = Engine::resume(Arc::clone(&backend), flow)
        .unwrap()
        .owner("someone-else");
    let err = other.compile().map(|_| ()).unwrap_err();
    assert!(
        matches!(
            err,
            RunError::Persistence {
                source: PersistenceError::LeaseHeld { .. },
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("is leased to `crash-test-node`"),
        "{err}"
    );
    drop(other);

    let mut engine = Engine::resume(Arc::clone(&backend), flow)
        .unwrap()
        .owner("crash-test-node");
    let done = engine.run().unwrap();
    assert_eq!(
        done.get::<u64>(&format!("v{LENGTH}")).unwrap(),
        LENGTH as u64
    );

    let after = effects(&dir);
    for i in 0..LENGTH {
        let name = format!("t{i}");
        let runs = after.iter().filter(|e| **e == name).count();
        let finished_before =
            before.iter().filter(|e| **e == name).count() == 1 && killed_in != Some(name.as_str());
        let expected = if killed_in == Some(name.as_str()) {
            2
        } else {
            1
        };
        assert_eq!(
            runs, expected,
            "{name} ran {runs} times (finished before the crash: {finished_before})"
        );
    }
    let (detail, atoms) = backend.load_flow(flow).unwrap();
    assert_eq!(detail.state, FlowState::Success);
    assert!(atoms.iter().all(|a| a.state == AtomState::Success));
    // Running the finished flow again runs nothing.
    let done = Engine::resume(Arc::clone(&backend), flow)
        .unwrap()
        .owner("crash-test-node")
        .run()
        .unwrap();
    assert_eq!(
        done.get::<u64>(&format!("v{LENGTH}")).unwrap(),
        LENGTH as u64
    );
    assert_eq!(effects(&dir), after);
}

fn resume_of(e: RunError) -> ResumeError {
    match e {
        RunError::Resume(r) => r,
        other => panic!("not a resume error: {other}"),
    }
}

fn sqlite_url(test: &str) -> (String, Scratch) {
    let dir = scratch(test);
    (
        format!("sqlite://{}", dir.join("log.db").display()),
        Scratch(dir),
    )
}

fn dir_url(test: &str) -> (String, Scratch) {
    let dir = scratch(test);
    (format!("dir://{}", dir.join("log").display()), Scratch(dir))
}

#[test]
fn sqlite_resumes_after_a_kill_inside_a_task() {
    let (url, _keep) = sqlite_url("sqlite-inside");
    crash_and_resume(&url, "sqlite-inside", "inside:t3", Some("t3"));
}

#[test]
fn sqlite_resumes_after_a_kill_between_tasks() {
    let (url, _keep) = sqlite_url("sqlite-between");
    crash_and_resume(&url, "sqlite-between", "after:t2", None);
}

#[test]
fn dir_resumes_after_a_kill_inside_a_task() {
    let (url, _keep) = dir_url("dir-inside");
    crash_and_resume(&url, "dir-inside", "inside:t1", Some("t1"));
}

#[test]
fn dir_resumes_after_a_kill_between_tasks() {
    let (url, _keep) = dir_url("dir-between");
    crash_and_resume(&url, "dir-between", "after:t4", None);
}

#[cfg(feature = "postgres")]
mod pg {
    use super::*;

    /// A database of the test's own, dropped afterwards.
    pub(crate) struct Db(pub(crate) String);

    fn admin() -> ::postgres::Client {
        ::postgres::Client::connect(
            "host=127.0.0.1 port=5432 user=postgres dbname=postgres",
            ::postgres::NoTls,
        )
        .expect("PostgreSQL on 127.0.0.1:5432")
    }

    impl Db {
        pub(crate) fn new(test: &str) -> Db {
            let name = format!(
                "tw_{}_{}_{}",
                test.replace('-', "_"),
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::SeqCst)
            );
            admin()
                .batch_execute(&format!("CREATE DATABASE {name}"))
                .unwrap();
            Db(name)
        }

        pub(crate) fn url(&self) -> String {
            format!("postgres://postgres@127.0.0.1:5432/{}", self.0)
        }
    }

    impl Drop for Db {
        fn drop(&mut self) {
            let _ =
                admin().batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.0));
        }
    }

    #[test]
    fn postgres_resumes_after_a_kill_inside_a_task() {
        let db = Db::new("pg_inside");
        crash_and_resume(&db.url(), "pg-inside", "inside:t2", Some("t2"));
    }

    #[test]
    fn postgres_resumes_after_a_kill_between_tasks() {
        let db = Db::new("pg_between");
        crash_and_resume(&db.url(), "pg-between", "after:t0", None);
    }
}

#[cfg(feature = "mysql")]
mod maria {
    use super::*;
    use ::mysql::prelude::Queryable;

    struct Db(String);

    fn admin() -> ::mysql::Conn {
        ::mysql::Conn::new(::mysql::Opts::from_url("mysql://root@127.0.0.1:3306/mysql").unwrap())
            .expect("MariaDB on 127.0.0.1:3306")
    }

    impl Db {
        fn new(test: &str) -> Db {
            let name = format!(
                "tw_{test}_{}_{}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::SeqCst)
            );
            admin()
                .query_drop(format!("CREATE DATABASE {name}"))
                .unwrap();
            Db(name)
        }

        fn url(&self) -> String {
            format!("mysql://root@127.0.0.1:3306/{}", self.0)
        }
    }

    impl Drop for Db {
        fn drop(&mut self) {
            let _ = admin().query_drop(format!("DROP DATABASE IF EXISTS {}", self.0));
        }
    }

    #[test]
    fn mariadb_resumes_after_a_kill_inside_a_task() {
        let db = Db::new("maria_inside");
        crash_and_resume(&db.url(), "maria-inside", "inside:t5", Some("t5"));
    }

    #[test]
    fn mariadb_resumes_after_a_kill_between_tasks() {
        let db = Db::new("maria_between");
        crash_and_resume(&db.url(), "maria-between", "after:t3", None);
    }
}

/// In-process checks that need no crash.
fn memory() -> Arc<dyn Backend> {
    persistence::open("memory://").unwrap()
}

#[test]
fn every_transition_is_in_the_logbook_before_the_run_ends() {
    let backend = memory();
    let dir = scratch("write-through");
    let _keep = Scratch(dir.clone());
    let mut engine = Engine::from_factory("tests::crash_chain", json!({"dir": dir}))
        .unwrap()
        .input("v0", 0)
        .persist(Arc::clone(&backend));
    let done = engine.run().unwrap();
    assert_eq!(done.get::<u64>("v6").unwrap(), 6);
    let (detail, atoms) = backend.load_flow(engine.flow_uuid().unwrap()).unwrap();
    assert_eq!(detail.state, FlowState::Success);
    assert_eq!(detail.meta["factory"], "tests::crash_chain");
    assert_eq!(detail.meta["inputs"]["v0"], 0);
    assert_eq!(atoms.len(), LENGTH);
    for (i, atom) in atoms.iter().enumerate() {
        assert_eq!(atom.name, format!("t{i}"));
        assert_eq!(atom.state, AtomState::Success);
        assert_eq!(atom.result, Some(json!(i + 1)));
        assert_eq!(atom.version, "1.0");
    }
    // The run released its lease: another owner may take the flow now.
    assert!(backend.current_lease(detail.uuid).unwrap().is_none());
}

#[test]
fn a_run_whose_lease_is_taken_over_stops_and_tells_its_task() {
    let backend = memory();
    let steal = Arc::clone(&backend);
    let stolen = Arc::new(std::sync::Mutex::new(None));
    let slot = Arc::clone(&stolen);
    let saw_cancel = Arc::new(AtomicBool::new(false));
    let saw = Arc::clone(&saw_cancel);
    let flow = Flow::linear("fenced")
        .add(FnTask::new("a").provides("x").run(move |call| {
            // An operator takes the flow over while `a` runs (the heartbeat
            // keeps the lease alive, so only a forced takeover gets it).
            let flow: Uuid = slot.lock().unwrap().unwrap();
            steal
                .take_over_lease(flow, "usurper", Duration::from_secs(30))
                .unwrap();
            // The next heartbeat (every 100 ms) finds out and tells the task.
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            while !call.is_cancelled() && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            saw.store(call.is_cancelled(), Ordering::SeqCst);
            Ok(json!(1))
        }))
        .add(FnTask::new("b").requires(["x"]).run(|_| Ok(json!(2))));
    let mut engine = Engine::new(flow)
        .persist(Arc::clone(&backend))
        .owner(owner_of_test())
        .lease_ttl(Duration::from_millis(300));
    engine.compile().unwrap();
    *stolen.lock().unwrap() = engine.flow_uuid();
    let err = engine.run().unwrap_err();
    assert!(saw_cancel.load(Ordering::SeqCst), "the task was told");
    assert!(
        matches!(
            err,
            RunError::LeaseLost {
                source: PersistenceError::Fenced { .. },
                ..
            }
        ),
        "{err}"
    );
    let uuid = engine.flow_uuid().unwrap();
    assert_eq!(
        err.to_string(),
        format!("flow `fenced`: the run lost its lease and stopped (nothing more was started; running tasks were told to cancel): memory://: flow detail {uuid}: the lease with token 1 held by `{}` is no longer current (now leased to `usurper` with token 2)", owner_of_test())
    );
    // Running the same engine again is refused: the new owner has the flow.
    let again = engine.run().unwrap_err();
    assert!(matches!(again, RunError::LeaseLost { .. }), "{again}");
    // `a`'s success was never recorded, and `b` never ran.
    assert_eq!(engine.atom_state("b"), Some(AtomState::Pending));
    let (_, atoms) = backend.load_flow(engine.flow_uuid().unwrap()).unwrap();
    assert_eq!(atoms[0].state, AtomState::Running);
    assert_eq!(atoms[1].state, AtomState::Pending);
}

#[test]
fn resuming_needs_a_factory_and_a_known_flow() {
    let backend = memory();
    let flow = Flow::linear("plain").add(FnTask::new("a").run(|_| Ok(json!(1))));
    let mut engine = Engine::new(flow).persist(Arc::clone(&backend));
    engine.run().unwrap();
    let uuid = engine.flow_uuid().unwrap();
    let err = Engine::resume(Arc::clone(&backend), uuid).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("flow detail {uuid}: its metadata does not name a flow factory (`factory` is missing or not a string); only runs started with `Engine::from_factory` can be resumed by id: take the others up with `Engine::load_from_detail(flow, backend, id)`")
    );
    let unknown = Uuid::new_v4();
    let err = Engine::resume(Arc::clone(&backend), unknown).unwrap_err();
    assert!(err.to_string().contains(&unknown.to_string()), "{err}");
    assert!(err.to_string().contains("not found"), "{err}");
}

#[test]
fn an_unknown_factory_name_is_an_error_naming_it() {
    let err = Engine::from_factory("tests::crash_chian", json!({})).unwrap_err();
    assert_eq!(
        err.to_string(),
        "no flow factory is registered under the name `tests::crash_chian` (did you mean `tests::crash_chain`?)"
    );
}

#[test]
fn a_major_version_change_is_refused_unless_a_policy_allows_it() {
    let backend = memory();
    let dir = scratch("versions");
    let _keep = Scratch(dir.clone());
    let mut engine = Engine::from_factory("tests::crash_chain", json!({"dir": dir}))
        .unwrap()
        .input("v0", 0)
        .persist(Arc::clone(&backend));
    engine.compile().unwrap();
    let uuid = engine.flow_uuid().unwrap();
    drop(engine);
    // Pretend t2 was recorded by version 2.3 of its task, and t4 by 1.7.
    let (_, mut atoms) = backend.load_flow(uuid).unwrap();
    atoms[2].version = "2.3".into();
    atoms[4].version = "1.7".into();
    backend.save_atoms(&atoms, None).unwrap();
    let err = Engine::resume(Arc::clone(&backend), uuid)
        .and_then(|mut e| e.compile().map(|_| ()).map_err(resume_of))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("flow detail {uuid}: atom `t2` was recorded by version 2.3 of its task, and the code is version 1.0; a major version change needs an upgrade policy (`Engine::upgrade_policy`)")
    );
    let done = Engine::resume(Arc::clone(&backend), uuid)
        .unwrap()
        .upgrade_policy(|atom, recorded, _current| atom == "t2" && recorded == "2.3")
        .run()
        .unwrap();
    assert_eq!(done.get::<u64>("v6").unwrap(), 6);
}

/// Suspends the engine when `atom` reaches `state`.
struct SuspendAt(taskwire::Suspender, &'static str, AtomState);

impl taskwire::Listener for SuspendAt {
    fn on_atom(&self, e: &taskwire::AtomEvent<'_>) {
        if e.atom == self.1 && e.state == self.2 {
            self.0.suspend();
        }
    }
}

fn failing_chain(params: &Value) -> Result<Flow, String> {
    let dir = PathBuf::from(params["dir"].as_str().ok_or("`dir` must be a path")?);
    let mut flow = Flow::linear("failing_chain");
    for i in 0..3 {
        let (d1, d2) = (dir.clone(), dir.clone());
        flow.push(
            FnTask::new(format!("t{i}"))
                .provides(format!("v{i}"))
                .run(move |call| {
                    append(&d1.join("effects"), &format!("exec:{}", call.atom()));
                    Ok(json!(i))
                })
                .revert(move |call| {
                    append(&d2.join("effects"), &format!("revert:{}", call.atom()));
                    Ok(())
                }),
        );
    }
    flow.push(
        FnTask::new("boom")
            .run(|_| Err(taskwire::Failure::new(taskwire::FailureKind::Task, "boom"))),
    );
    Ok(flow)
}

taskwire::flow_factory!("tests::failing_chain", failing_chain);

#[test]
fn a_suspended_run_is_taken_up_by_id_in_a_new_engine() {
    let backend = memory();
    let dir = scratch("suspended");
    let _keep = Scratch(dir.clone());
    let engine = Engine::from_factory("tests::crash_chain", json!({"dir": dir}))
        .unwrap()
        .input("v0", 0)
        .persist(Arc::clone(&backend));
    let suspender = engine.suspender();
    let mut engine = engine.listener(SuspendAt(suspender, "t2", AtomState::Success));
    let done = engine.run().unwrap();
    assert_eq!(done.flow_state(), FlowState::Suspended);
    let uuid = engine.flow_uuid().unwrap();
    drop(engine);
    assert_eq!(
        backend.load_flow(uuid).unwrap().0.state,
        FlowState::Suspended
    );

    let done = Engine::resume(Arc::clone(&backend), uuid)
        .unwrap()
        .run()
        .unwrap();
    assert_eq!(done.get::<u64>("v6").unwrap(), 6);
    assert_eq!(effects(&dir), ["t0", "t1", "t2", "t3", "t4", "t5"]);
}

#[test]
fn a_run_stopped_while_reverting_goes_on_reverting() {
    let backend = memory();
    let dir = scratch("reverting");
    let _keep = Scratch(dir.clone());
    let engine = Engine::from_factory("tests::failing_chain", json!({"dir": dir}))
        .unwrap()
        .persist(Arc::clone(&backend));
    let suspender = engine.suspender();
    // Stop after `t2` is reverted: t1 and t0 still to revert.
    let mut engine = engine.listener(SuspendAt(suspender, "t2", AtomState::Reverted));
    let done = engine.run().unwrap();
    assert_eq!(done.flow_state(), FlowState::Suspended);
    let uuid = engine.flow_uuid().unwrap();
    drop(engine);

    let mut engine = Engine::resume(Arc::clone(&backend), uuid).unwrap();
    let err = engine.run().unwrap_err();
    assert_eq!(err.failure().unwrap().to_string(), "boom");
    assert_eq!(engine.flow_state(), FlowState::Reverted);
    assert_eq!(
        effects(&dir),
        [
            "exec:t0",
            "exec:t1",
            "exec:t2",
            "revert:t2",
            "revert:t1",
            "revert:t0"
        ],
        "nothing ran or was reverted twice"
    );
    let (detail, atoms) = backend.load_flow(uuid).unwrap();
    assert_eq!(detail.state, FlowState::Reverted);
    assert!(atoms.iter().all(|a| a.state == AtomState::Reverted));
}

fn owner_of_test() -> &'static str {
    "fencing-test"
}

/// A recorded run of the chain, compiled and dropped before it ran.
fn recorded_chain(backend: &Arc<dyn Backend>, dir: &Path) -> Uuid {
    let mut engine = Engine::from_factory("tests::crash_chain", json!({"dir": dir}))
        .unwrap()
        .input("v0", 0)
        .persist(Arc::clone(backend));
    engine.compile().unwrap();
    engine.flow_uuid().unwrap()
}

#[test]
fn recorded_atoms_that_the_flow_no_longer_has_are_an_error() {
    let backend = memory();
    let dir = scratch("mismatch");
    let _keep = Scratch(dir.clone());
    let uuid = recorded_chain(&backend, &dir);
    let (_, mut atoms) = backend.load_flow(uuid).unwrap();
    atoms[3].name = "renamed".into();
    atoms[5].position = 9;
    backend.save_atoms(&atoms, None).unwrap();
    let err = Engine::resume(Arc::clone(&backend), uuid)
        .unwrap()
        .compile()
        .map(|_| ())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("flow detail {uuid}: the recorded atom `renamed` at position 3 is not in the flow the factory builds now (`t3` is there)")
    );

    atoms[3].name = "t3".into();
    backend.save_atoms(&atoms, None).unwrap();
    let err = Engine::resume(Arc::clone(&backend), uuid)
        .unwrap()
        .compile()
        .map(|_| ())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("flow detail {uuid}: the recorded atom `t5` at position 9 is not in the flow the factory builds now (it has 6 atoms)")
    );
}

#[test]
fn a_recorded_factory_that_is_gone_is_an_error_naming_it() {
    let backend = memory();
    let dir = scratch("gone");
    let _keep = Scratch(dir.clone());
    let uuid = recorded_chain(&backend, &dir);
    let (mut detail, _) = backend.load_flow(uuid).unwrap();
    detail.meta["factory"] = json!("tests::retired_chain");
    backend.save_flow(&detail, None).unwrap();
    let err = Engine::resume(Arc::clone(&backend), uuid).unwrap_err();
    assert!(matches!(err, ResumeError::Factory { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        format!("flow detail {uuid}: no flow factory is registered under the name `tests::retired_chain`")
    );

    detail.meta["factory"] = json!("tests::crash_chain");
    detail.meta["inputs"] = json!(["v0"]);
    backend.save_flow(&detail, None).unwrap();
    let err = Engine::resume(Arc::clone(&backend), uuid).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("flow detail {uuid}: its metadata does not name a flow factory (`inputs` is missing or not an object); only runs started with `Engine::from_factory` can be resumed by id: take the others up with `Engine::load_from_detail(flow, backend, id)`")
    );
}

/// As in TaskFlow, when a flow reverts every atom that never ran is
/// recorded with the intention REVERT, and reverted atoms carry it too.
#[test]
fn a_reverted_flow_records_revert_intentions_for_atoms_that_never_ran() {
    let backend = memory();
    let flow = Flow::linear("intents")
        .add(FnTask::new("a").provides("x").run(|_| Ok(json!(1))))
        .add(FnTask::new("b").requires(["x"]).provides("y").run(|_| {
            Err(taskwire::Failure::new(
                taskwire::FailureKind::Task,
                "no room",
            ))
        }))
        .add(FnTask::new("c").requires(["y"]).run(|_| Ok(json!(3))));
    let mut engine = Engine::new(flow).persist(Arc::clone(&backend));
    engine.run().unwrap_err();
    let (detail, atoms) = backend.load_flow(engine.flow_uuid().unwrap()).unwrap();
    assert_eq!(detail.state, FlowState::Reverted);
    let seen: Vec<(&str, AtomState, taskwire::Intention)> = atoms
        .iter()
        .map(|a| (a.name.as_str(), a.state, a.intention))
        .collect();
    assert_eq!(
        seen,
        [
            ("a", AtomState::Reverted, taskwire::Intention::Revert),
            ("b", AtomState::Reverted, taskwire::Intention::Revert),
            ("c", AtomState::Pending, taskwire::Intention::Revert),
        ]
    );
}

#[test]
fn a_resumed_run_takes_recorded_inputs_its_flow_does_not_read() {
    let backend = memory();
    let dir = scratch("unread-inputs");
    let _keep = Scratch(dir.clone());
    let start = || {
        Engine::from_factory("tests::crash_chain", json!({"dir": dir}))
            .unwrap()
            .input("v0", 0)
            .input("ticket", "OPS-7")
            .persist(Arc::clone(&backend))
    };
    // A new run refuses an input no atom reads...
    let err = start().compile().map(|_| ()).unwrap_err();
    assert!(
        err.to_string()
            .contains("input `ticket` is given, but no task reads it"),
        "{err}"
    );
    // ...unless allowed; the logbook keeps every input given.
    let mut engine = start().allow_unused_inputs();
    engine.compile().unwrap();
    let uuid = engine.flow_uuid().unwrap();
    drop(engine);
    assert_eq!(
        backend.load_flow(uuid).unwrap().0.meta["inputs"]["ticket"],
        "OPS-7"
    );
    // Resuming takes the recorded inputs as they are: no switch needed.
    let done = Engine::resume(Arc::clone(&backend), uuid)
        .unwrap()
        .run()
        .unwrap();
    assert_eq!(done.get::<u64>("v6").unwrap(), 6);
}
