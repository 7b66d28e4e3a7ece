//! One engine at a time: the lease's heartbeat keeps a long task's run
//! owned, a forced takeover stops the old owner and tells its tasks, the
//! engine's settings work in any order, and a suspended persisted engine
//! takes its lease again to go on, on every backend.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use taskwire::persistence::{self, Backend, PersistenceError};
use taskwire::{AtomState, Engine, Flow, FlowEvent, FlowState, FnTask, Listener, RunError};

mod dist;

use dist::Scratch;

fn append(path: &Path, line: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(format!("{line}\n").as_bytes()).unwrap();
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// `prepare`, then `slow` (sleeps `ms`, sync or async, and counts its runs
/// in `dir/runs`), then `finish`: a flow that can be resumed by id.
fn long(params: &Value) -> Result<Flow, String> {
    let dir = PathBuf::from(params["dir"].as_str().ok_or("`dir` must be a path")?);
    let ms = params["ms"].as_u64().ok_or("`ms` must be a number")?;
    let runs = dir.join("runs");
    let slow = FnTask::new("slow").requires(["a"]).provides("b");
    let slow: FnTask = if params["async"] == json!(true) {
        slow.run_async(move |call| {
            let v: u64 = call.arg(0).unwrap_or(0);
            let runs = runs.clone();
            Box::pin(async move {
                append(&runs, "slow");
                tokio::time::sleep(Duration::from_millis(ms)).await;
                Ok(json!(v + 1))
            })
        })
    } else {
        slow.run(move |call| {
            let v: u64 = call.arg(0)?;
            append(&runs, "slow");
            std::thread::sleep(Duration::from_millis(ms));
            Ok(json!(v + 1))
        })
    };
    Ok(Flow::linear("long")
        .add(FnTask::new("prepare").provides("a").run(|_| Ok(json!(1))))
        .add(slow)
        .add(
            FnTask::new("finish")
                .requires(["b"])
                .provides("c")
                .run(|call| Ok(json!(call.arg::<u64>(0)? * 10))),
        ))
}

taskwire::flow_factory!("tests::own_long", long);

/// The heartbeat keeps the lease of a run whose task takes 5 times the
/// lease's TTL, while another engine tries to resume the flow every 50 ms
/// from its own connection: every try is refused, the owner ends SUCCESS,
/// and the task ran once.
fn long_task_keeps_its_lease(url: &str, scratch: &Scratch, mode: &str) {
    let ttl = Duration::from_millis(300);
    let params = json!({"dir": scratch.0, "ms": 1500, "async": mode == "async"});
    let mut engine = Engine::from_factory("tests::own_long", params)
        .unwrap()
        .persist(persistence::open(url).unwrap())
        .lease_ttl(ttl)
        .max_workers(if mode == "parallel" { 2 } else { 1 });
    engine.compile().unwrap();
    let flow = engine.flow_uuid().unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let intruder = {
        let (url, done) = (url.to_owned(), Arc::clone(&done));
        std::thread::spawn(move || {
            let backend = persistence::open(&url).unwrap();
            let mut refused = 0;
            while !done.load(Ordering::SeqCst) {
                let mut other = Engine::resume(Arc::clone(&backend), flow)
                    .unwrap()
                    .owner("intruder");
                match other.compile().map(|_| ()) {
                    Err(RunError::Persistence {
                        source: PersistenceError::LeaseHeld { .. },
                        ..
                    }) => refused += 1,
                    Err(e) => panic!("the intruder got another error: {e}"),
                    // The flow ended meanwhile: nothing to take any more.
                    Ok(()) if other.flow_state().is_final() => break,
                    Ok(()) => panic!("the intruder took the lease of a live run"),
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            refused
        })
    };
    let result = engine.run();
    done.store(true, Ordering::SeqCst);
    let refused = intruder.join().unwrap();
    let done = result.unwrap();
    assert_eq!(done.get::<u64>("c").unwrap(), 20, "{mode}");
    assert_eq!(lines(&scratch.0.join("runs")), ["slow"], "{mode}: ran once");
    assert!(refused >= 10, "{mode}: only {refused} tries");
    let logbook = persistence::open(url).unwrap();
    let (detail, _) = logbook.load_flow(flow).unwrap();
    assert_eq!(detail.state, FlowState::Success);
    // The run gave its lease back when it ended.
    let lease = logbook.current_lease(flow).unwrap();
    assert!(lease.is_none(), "{mode}: {lease:?}");
}

#[test]
fn sqlite_long_tasks_keep_their_lease_serial_parallel_async() {
    for mode in ["serial", "parallel", "async"] {
        let scratch = Scratch::new(mode);
        let url = format!("sqlite://{}", scratch.0.join("log.db").display());
        long_task_keeps_its_lease(&url, &scratch, mode);
    }
}

#[cfg(feature = "postgres")]
#[test]
fn postgres_long_task_keeps_its_lease() {
    let db = dist::PgDb::new("own_long");
    let scratch = Scratch::new("pg");
    long_task_keeps_its_lease(&db.url(), &scratch, "parallel");
}

/// An operator's takeover: the new engine waits out its grace, takes the
/// lease from the live owner, and runs the flow to its end; the old engine
/// stops with `LeaseLost`, its task having been told to cancel.
#[test]
fn a_forced_takeover_stops_the_old_owner_and_tells_its_task() {
    let scratch = Scratch::new("force");
    let url = format!("sqlite://{}", scratch.0.join("log.db").display());
    let told = Arc::new(AtomicBool::new(false));
    let seen = Arc::clone(&told);
    let flow = Flow::linear("stuck").add(FnTask::new("wait").provides("x").run(move |call| {
        // Stuck until told to stop (at most 10 s).
        let until = Instant::now() + Duration::from_secs(10);
        while !call.is_cancelled() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(5));
        }
        seen.store(call.is_cancelled(), Ordering::SeqCst);
        Ok(json!(1))
    }));
    let backend = persistence::open(&url).unwrap();
    let mut old = Engine::new(flow)
        .persist(Arc::clone(&backend))
        .owner("stuck-node")
        .lease_ttl(Duration::from_millis(600));
    old.compile().unwrap();
    let id = old.flow_uuid().unwrap();
    let old = std::thread::spawn(move || old.run().map(|_| ()).map_err(Box::new));
    std::thread::sleep(Duration::from_millis(100));

    let (detail, atoms) = backend.load_flow(id).unwrap();
    assert_eq!(detail.state, FlowState::Running);
    assert_eq!(atoms[0].state, AtomState::Running);
    // Without a takeover, the live owner keeps the flow, and the error says
    // who holds it, since when, until when, and how to take it over.
    let lease = backend.current_lease(id).unwrap().unwrap();
    let err = backend
        .acquire_lease(id, "operator", Duration::from_secs(1))
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("is leased to `stuck-node` (token 1), until"),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("or take it over with `Engine::take_over(grace)`"),
        "{err}"
    );
    assert_eq!(lease.owner, "stuck-node");

    let started = Instant::now();
    let other = taskwire::persistence::open(&url).unwrap();
    let lease = other
        .take_over_lease(id, "operator", Duration::from_secs(30))
        .unwrap();
    assert_eq!((lease.owner.as_str(), lease.token), ("operator", 2));
    let err = *old.join().unwrap().unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(told.load(Ordering::SeqCst), "the stuck task was told");
    match &err {
        RunError::LeaseLost {
            source:
                PersistenceError::Fenced {
                    owner,
                    token,
                    current_owner,
                    current_token,
                    ..
                },
            ..
        } => assert_eq!(
            (
                owner.as_str(),
                *token,
                current_owner.as_deref(),
                *current_token
            ),
            ("stuck-node", 1, Some("operator"), 2)
        ),
        other => panic!("expected LeaseLost, got {other}"),
    }
    // What the old owner did after the takeover was not recorded.
    let (detail, atoms) = backend.load_flow(id).unwrap();
    assert_eq!(detail.state, FlowState::Running);
    assert_eq!(atoms[0].state, AtomState::Running);
}

/// `Engine::take_over(grace)` on a resumed run: refused owners wait, then
/// take the flow; the takeover is noted in the flow detail.
#[test]
fn take_over_waits_its_grace_then_takes_the_flow() {
    let scratch = Scratch::new("take-over");
    let url = format!("sqlite://{}", scratch.0.join("log.db").display());
    let backend = persistence::open(&url).unwrap();
    let params = json!({"dir": scratch.0, "ms": 1, "async": false});
    let mut first = Engine::from_factory("tests::own_long", params)
        .unwrap()
        .persist(Arc::clone(&backend))
        .owner("gone-quiet");
    first.compile().unwrap();
    let id = first.flow_uuid().unwrap();
    // The first owner keeps its lease (its heartbeat runs) but never runs.
    let started = Instant::now();
    let mut engine = Engine::resume(Arc::clone(&backend), id)
        .unwrap()
        .take_over(Duration::from_millis(300))
        .owner("operator");
    let done = engine.run().unwrap();
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(300) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    assert_eq!(done.get::<u64>("c").unwrap(), 20);
    let (detail, _) = backend.load_flow(id).unwrap();
    let notes = detail.meta["leases"].as_array().unwrap();
    let last = notes.last().unwrap();
    assert_eq!(last["owner"], "operator");
    assert_eq!(last["from"], "gone-quiet");
    assert_eq!(last["how"], "forced");
    assert_eq!(last["token"], 2);
    // The first engine is fenced now: it cannot write any more.
    let err = first.run().unwrap_err();
    assert!(matches!(err, RunError::LeaseLost { .. }), "{err}");
}

/// Counts the flow events it sees.
#[derive(Clone, Default)]
struct Events(Arc<Mutex<Vec<FlowState>>>);

impl Listener for Events {
    fn on_flow(&self, e: &FlowEvent<'_>) {
        self.0.lock().unwrap().push(e.state);
    }
}

/// Every order of `owner`, `lease_ttl`, `persist`, `listener` and
/// `max_workers` has the same effect.
#[test]
fn engine_settings_work_in_any_order() {
    let names = ["owner", "lease_ttl", "persist", "listener", "max_workers"];
    let mut orders = vec![vec![]];
    for _ in 0..names.len() {
        orders = orders
            .into_iter()
            .flat_map(|order: Vec<usize>| {
                (0..names.len())
                    .filter(|i| !order.contains(i))
                    .map(|i| {
                        let mut o = order.clone();
                        o.push(i);
                        o
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
    }
    assert_eq!(orders.len(), 120);
    for order in orders {
        let what: Vec<&str> = order.iter().map(|&i| names[i]).collect();
        let backend = persistence::open("memory://").unwrap();
        let events = Events::default();
        // Two independent tasks that each wait for the other to start: they
        // finish only when two workers run them at once.
        let started = Arc::new(AtomicUsize::new(0));
        let both = |name: &'static str| {
            let started = Arc::clone(&started);
            FnTask::new(name).provides(name).run(move |_| {
                started.fetch_add(1, Ordering::SeqCst);
                let until = Instant::now() + Duration::from_secs(5);
                while started.load(Ordering::SeqCst) < 2 && Instant::now() < until {
                    std::thread::sleep(Duration::from_millis(1));
                }
                Ok(json!(started.load(Ordering::SeqCst) >= 2))
            })
        };
        let flow = Flow::unordered("orders").add(both("a")).add(both("b"));
        let mut engine = Engine::new(flow);
        for &i in &order {
            engine = match names[i] {
                "owner" => engine.owner("ordered"),
                "lease_ttl" => engine.lease_ttl(Duration::from_secs(7)),
                "persist" => engine.persist(Arc::clone(&backend)),
                "listener" => engine.listener(events.clone()),
                _ => engine.max_workers(2),
            };
        }
        engine.compile().unwrap();
        let id = engine.flow_uuid().expect("persisted");
        let lease = backend.current_lease(id).unwrap().expect("leased");
        assert_eq!(lease.owner, "ordered", "{what:?}");
        let ttl = lease.expires_at - persistence::now_ms();
        assert!((6_000..=7_000).contains(&ttl), "{what:?}: ttl {ttl} ms");
        let done = engine.run().unwrap();
        assert_eq!(
            (
                done.get::<bool>("a").unwrap(),
                done.get::<bool>("b").unwrap()
            ),
            (true, true),
            "{what:?}: the two tasks ran at once"
        );
        assert_eq!(
            *events.0.lock().unwrap(),
            [FlowState::Running, FlowState::Success],
            "{what:?}"
        );
        let (detail, _) = backend.load_flow(id).unwrap();
        assert_eq!(detail.state, FlowState::Success, "{what:?}");
    }
}

/// A persisted engine suspended mid-run takes its lease again when run
/// again, and goes on from where it stopped.
fn suspend_then_run_again(backend: Arc<dyn Backend>) {
    let runs = Arc::new(Mutex::new(Vec::new()));
    let flow = {
        let mut flow = Flow::linear("pausable");
        for name in ["a", "b", "c"] {
            let runs = Arc::clone(&runs);
            flow.push(FnTask::new(name).provides(name).run(move |_| {
                runs.lock().unwrap().push(name);
                Ok(json!(name))
            }));
        }
        flow
    };
    let mut engine = Engine::new(flow).persist(Arc::clone(&backend));
    let suspender = engine.suspender();
    engine = engine.listener(SuspendAfter("a", suspender));
    let done = engine.run().unwrap();
    assert_eq!(done.flow_state(), FlowState::Suspended);
    let id = engine.flow_uuid().unwrap();
    // Suspending gave the lease back.
    assert_eq!(backend.current_lease(id).unwrap(), None);
    let done = engine.run().unwrap();
    assert_eq!(done.flow_state(), FlowState::Success);
    assert_eq!(done.get::<String>("c").unwrap(), "c");
    assert_eq!(*runs.lock().unwrap(), ["a", "b", "c"]);
    let (detail, atoms) = backend.load_flow(id).unwrap();
    assert_eq!(detail.state, FlowState::Success);
    assert!(atoms.iter().all(|a| a.state == AtomState::Success));
    // Taken twice by the same engine: the second time with a new token.
    let notes = detail.meta["leases"].as_array().unwrap();
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert_eq!(notes[0]["owner"], notes[1]["owner"]);
    assert_eq!(
        (notes[0]["token"].clone(), notes[1]["token"].clone()),
        (json!(1), json!(2))
    );
    assert_eq!(backend.current_lease(id).unwrap(), None);
}

/// Suspends the run once `atom` succeeded.
struct SuspendAfter(&'static str, taskwire::Suspender);

impl Listener for SuspendAfter {
    fn on_atom(&self, e: &taskwire::AtomEvent<'_>) {
        if e.atom == self.0 && e.state == AtomState::Success {
            self.1.suspend();
        }
    }
}

#[test]
fn memory_suspend_then_run_again() {
    suspend_then_run_again(persistence::open("memory://").unwrap());
}

#[test]
fn dir_suspend_then_run_again() {
    let scratch = Scratch::new("dir");
    let url = format!("dir://{}", scratch.0.display());
    suspend_then_run_again(persistence::open(&url).unwrap());
}

#[test]
fn sqlite_suspend_then_run_again() {
    let scratch = Scratch::new("sqlite");
    let url = format!("sqlite://{}", scratch.0.join("log.db").display());
    suspend_then_run_again(persistence::open(&url).unwrap());
}

#[cfg(feature = "postgres")]
#[test]
fn postgres_suspend_then_run_again() {
    let db = dist::PgDb::new("own_suspend");
    suspend_then_run_again(persistence::open(&db.url()).unwrap());
}

#[cfg(feature = "mysql")]
#[test]
fn mysql_suspend_then_run_again() {
    use ::mysql::prelude::Queryable;
    struct Db(String);
    fn admin() -> ::mysql::Conn {
        ::mysql::Conn::new(::mysql::Opts::from_url("mysql://root@127.0.0.1:3306/mysql").unwrap())
            .expect("MariaDB on 127.0.0.1:3306")
    }
    impl Drop for Db {
        fn drop(&mut self) {
            let _ = admin().query_drop(format!("DROP DATABASE IF EXISTS {}", self.0));
        }
    }
    let db = Db(format!("tw_{}", dist::unique("own_suspend")));
    admin()
        .query_drop(format!("CREATE DATABASE {}", db.0))
        .unwrap();
    let url = format!("mysql://root@127.0.0.1:3306/{}", db.0);
    suspend_then_run_again(persistence::open(&url).unwrap());
}

/// Two engines of one process are two owners: the second is refused while
/// the first holds the flow (the default owner names the engine too).
#[test]
fn two_engines_of_one_process_do_not_share_a_lease() {
    let scratch = Scratch::new("two");
    let backend = persistence::open("memory://").unwrap();
    let params = json!({"dir": scratch.0, "ms": 1, "async": false});
    let mut first = Engine::from_factory("tests::own_long", params)
        .unwrap()
        .persist(Arc::clone(&backend));
    first.compile().unwrap();
    let id = first.flow_uuid().unwrap();
    let holder = backend.current_lease(id).unwrap().unwrap().owner;
    assert!(
        holder.starts_with(&persistence::default_owner()),
        "{holder}"
    );
    let mut second = Engine::resume(Arc::clone(&backend), id).unwrap();
    let err = second.compile().map(|_| ()).unwrap_err();
    assert!(
        err.to_string()
            .contains(&format!("is leased to `{holder}`")),
        "{err}"
    );
    // Once the first ends, the second finds the flow ended.
    first.run().unwrap();
    let mut third = Engine::resume(Arc::clone(&backend), id).unwrap();
    assert_eq!(third.run().unwrap().flow_state(), FlowState::Success);
}
