//! Remote workers through the real RabbitMQ: results and structured failures
//! come back, reverts run remotely, tasks go only to workers that have them;
//! and the faults — a worker killed with SIGKILL in the middle of a task (the
//! task is sent to another worker, or, not being idempotent, the flow fails
//! saying so), a worker frozen past its heartbeats whose late result is
//! ignored, broker connections closed under a running flow. Each test has a
//! namespace (exchange and queue names) of its own, deleted afterwards.
#![cfg(feature = "amqp")]

mod dist;
#[path = "support/tcp_proxy.rs"]
mod tcp_proxy;

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use taskwire::worker::{ExecutorConfig, Worker, WorkerError, WorkerExecutor};
use taskwire::{
    AtomState, Engine, Failure, Flow, FnTask, Registry, Res, RunError, TaskDef, TaskSpec, Version,
};

use dist::{close_connection, connections, Namespace, Scratch};
use tcp_proxy::TcpProxy;

const HEARTBEAT: Duration = Duration::from_millis(100);

/// Which worker ran a task: a resource only workers have.
struct Marker(String);

fn config() -> ExecutorConfig {
    ExecutorConfig::default().no_worker_timeout(Duration::from_millis(400))
}

#[derive(Debug, thiserror::Error)]
#[error("disk `{disk}` is full")]
struct DiskFull {
    disk: String,
    #[source]
    source: std::io::Error,
}

/// The tasks of these tests. `dir` receives their effects (one line per run,
/// in a file outside any logbook).
fn tasks(dir: &Path) -> Vec<Arc<TaskDef>> {
    let (d1, d2, d3, d4) = (
        dir.to_owned(),
        dir.to_owned(),
        dir.to_owned(),
        dir.to_owned(),
    );
    vec![
        FnTask::new("remote::double")
            .requires(["size"])
            .provides("doubled")
            .run(|call| {
                let marker: Res<Marker> = call.resource()?;
                Ok(json!({"value": call.arg::<u64>(0)? * 2, "on": marker.0}))
            })
            .into_def(),
        FnTask::new("remote::add")
            .requires(["a", "b"])
            .provides("sum")
            .run_async(|call| {
                let (a, b) = (call.arg::<i64>(0), call.arg::<i64>(1));
                Box::pin(async move { Ok(json!(a? + b?)) })
            })
            .into_def(),
        FnTask::new("remote::allocate")
            .requires(["size"])
            .provides("volume")
            .run(move |call| {
                append(&d1, &format!("allocate:{}", call.arg::<u64>(0)?));
                Ok(json!("vol-1"))
            })
            .revert(move |call| {
                let outcome: taskwire::Outcome<String> = call.outcome()?;
                append(
                    &d2,
                    &format!("revert-allocate:{}", outcome.ok().unwrap_or_default()),
                );
                Ok(())
            })
            .into_def(),
        FnTask::new("remote::fill")
            .requires(["volume"])
            .run(|call| {
                let volume: String = call.arg(0)?;
                Err(Failure::from_error(DiskFull {
                    disk: volume,
                    source: std::io::Error::other("no space left on device"),
                }))
            })
            .into_def(),
        // Appends `start:<atom>:<worker>`; where TW_WORKER_HANG is set, says
        // so in the file `ready` and hangs that many ms (to be killed or
        // frozen there); then sleeps `ms` and appends `end:<atom>:<worker>`.
        FnTask::new("remote::slow")
            .requires(["ms"])
            .provides("slept")
            .run(move |call| {
                let marker: Res<Marker> = call.resource()?;
                let ms: u64 = call.arg(0)?;
                append(&d3, &format!("start:{}:{}", call.atom(), marker.0));
                if let Ok(hang) = std::env::var("TW_WORKER_HANG") {
                    std::fs::write(d3.join("ready"), &marker.0).unwrap();
                    std::thread::sleep(Duration::from_millis(hang.parse().unwrap()));
                }
                std::thread::sleep(Duration::from_millis(ms));
                append(&d4, &format!("end:{}:{}", call.atom(), marker.0));
                Ok(json!(marker.0))
            })
            .into_def(),
    ]
}

fn registry(defs: &[Arc<TaskDef>], names: &[&str]) -> Registry {
    let mut registry = Registry::new();
    for def in defs {
        if names.contains(&def.meta.name.as_ref()) {
            registry.register(Arc::clone(def)).unwrap();
        }
    }
    registry
}

fn def(defs: &[Arc<TaskDef>], name: &str) -> TaskSpec {
    TaskSpec::from(defs.iter().find(|d| d.meta.name == name).unwrap().clone())
}

fn append(dir: &Path, line: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("effects"))
        .unwrap();
    // One write per line: `writeln!` writes the text and the newline apart,
    // so two workers appending at once could interleave them.
    f.write_all(format!("{line}\n").as_bytes()).unwrap();
}

fn effects(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("effects"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn worker(ns: &Namespace, name: &str, registry: Registry) -> Worker {
    Worker::new(name, ns.broker(), registry)
        .heartbeat(HEARTBEAT)
        .resource(Marker(name.to_owned()))
}

/// Tasks run on the worker (they read a resource only it has) with their
/// arguments by name, rebinding included; sync and async; results come back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_tasks_run_on_the_worker_and_results_come_back() {
    let ns = Namespace::new("results");
    let scratch = Scratch::new("w-results");
    let defs = tasks(&scratch.0);
    let w = worker(
        &ns,
        "w1",
        registry(&defs, &["remote::double", "remote::add"]),
    )
    .start()
    .unwrap();
    let executor = WorkerExecutor::connect(ns.broker(), config())
        .await
        .unwrap();
    assert!(executor.wait_for_workers(1, Duration::from_secs(10)).await);
    let flow = Flow::linear("remote")
        .add(def(&defs, "remote::double").rebind("size", "disk_gb"))
        .add(def(&defs, "remote::add").rebind("b", "extra"));
    let done = Engine::new(flow)
        .input("disk_gb", 21)
        .input("a", 1)
        .input("extra", 2)
        .executor(executor.clone())
        .run_async()
        .await
        .unwrap();
    assert_eq!(
        done.get::<serde_json::Value>("doubled").unwrap(),
        json!({"value": 42, "on": "w1"})
    );
    assert_eq!(done.get::<i64>("sum").unwrap(), 3);
    let stats = executor.stats();
    assert_eq!((stats.sent, stats.resent, stats.ignored_results), (2, 0, 0));
    w.stop().await;
}

/// A remote failure comes back structured (type, message, cause chain), the
/// flow reverts, and the revert runs on the worker with the task's result.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_come_back_structured_and_reverts_run_remotely() {
    let ns = Namespace::new("failures");
    let scratch = Scratch::new("w-failures");
    let defs = tasks(&scratch.0);
    let w = worker(
        &ns,
        "w1",
        registry(&defs, &["remote::allocate", "remote::fill"]),
    )
    .start()
    .unwrap();
    let executor = WorkerExecutor::connect(ns.broker(), config())
        .await
        .unwrap();
    assert!(executor.wait_for_workers(1, Duration::from_secs(10)).await);
    let flow = Flow::linear("volume")
        .add(def(&defs, "remote::allocate"))
        .add(def(&defs, "remote::fill"));
    let mut engine = Engine::new(flow).input("size", 10).executor(executor);
    let err = engine.run_async().await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "flow `volume` was reverted: task `remote::fill` failed: disk `vol-1` is full"
    );
    let failure = err.failure().unwrap();
    assert!(
        failure.type_name().ends_with("DiskFull"),
        "{}",
        failure.type_name()
    );
    assert_eq!(failure.causes(), ["no space left on device"]);
    assert!(
        err.downcast_ref::<DiskFull>().is_none(),
        "it came from another process's code"
    );
    assert_eq!(
        engine.atom_state("remote::allocate"),
        Some(AtomState::Reverted)
    );
    assert_eq!(
        effects(&scratch.0),
        ["allocate:10", "revert-allocate:vol-1"]
    );
    w.stop().await;
}

/// Each task goes to a worker that has it, never to one that does not; a
/// task no worker offers (or only in another major version) fails the flow
/// with an error that says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_go_only_to_workers_that_have_them() {
    let ns = Namespace::new("routing");
    let scratch = Scratch::new("w-routing");
    let defs = tasks(&scratch.0);
    let a = worker(&ns, "wa", registry(&defs, &["remote::double"]))
        .start()
        .unwrap();
    let b = worker(&ns, "wb", registry(&defs, &["remote::slow"]))
        .start()
        .unwrap();
    let executor = WorkerExecutor::connect(ns.broker(), config())
        .await
        .unwrap();
    assert!(executor.wait_for_workers(2, Duration::from_secs(10)).await);
    for _ in 0..3 {
        let flow = Flow::unordered("both")
            .add(def(&defs, "remote::double"))
            .add(def(&defs, "remote::slow"));
        let done = Engine::new(flow)
            .input("size", 1)
            .input("ms", 0)
            .executor(executor.clone())
            .max_workers(2)
            .run_async()
            .await
            .unwrap();
        assert_eq!(
            done.get::<serde_json::Value>("doubled").unwrap()["on"],
            "wa"
        );
        assert_eq!(done.get::<String>("slept").unwrap(), "wb");
    }

    let newer = FnTask::new("remote::add")
        .requires(["a", "b"])
        .provides("sum")
        .version(Version::new(2, 0))
        .run(|_| Ok(json!(0)))
        .into_def();
    let mut only_v2 = Registry::new();
    only_v2.register(newer).unwrap();
    let c = worker(&ns, "wc", only_v2).start().unwrap();
    assert!(executor.wait_for_workers(3, Duration::from_secs(10)).await);
    let flow = Flow::linear("add").add(def(&defs, "remote::add"));
    let err = Engine::new(flow)
        .input("a", 1)
        .input("b", 2)
        .executor(executor.clone())
        .run_async()
        .await
        .unwrap_err();
    let text = err.to_string();
    let prefix = format!(
        "flow `add` was reverted: task `remote::add` failed: no worker offers task `remote::add` (version 1.0) in namespace `{}`; waited ",
        ns.0
    );
    assert!(text.starts_with(&prefix), "{text}");
    assert!(
        text.ends_with(" (live workers offer: version 2.0)"),
        "{text}"
    );
    assert!(matches!(
        err.downcast_ref::<WorkerError>(),
        Some(WorkerError::NoWorker { .. })
    ));
    for w in [a, b, c] {
        w.stop().await;
    }
}

/// The child: a worker with the test's tasks, until killed.
#[test]
#[ignore = "the worker fault tests run it as a child process"]
fn worker_child() {
    let ns = std::env::var("TW_WORKER_NS").expect("run by the fault tests");
    let dir = PathBuf::from(std::env::var("TW_WORKER_DIR").unwrap());
    let name = std::env::var("TW_WORKER_NAME").unwrap();
    let idempotent = std::env::var("TW_WORKER_IDEMPOTENT").is_ok();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let defs = tasks(&dir);
        let mut w = Worker::new(
            &name,
            taskwire::worker::Broker::new(dist::AMQP, ns),
            registry(&defs, &["remote::slow"]),
        )
        .heartbeat(HEARTBEAT)
        .resource(Marker(name.clone()));
        if idempotent {
            w = w.idempotent(["remote::slow"]);
        }
        let _w = w.start().unwrap();
        tokio::time::sleep(Duration::from_secs(120)).await;
    });
}

fn spawn_worker(ns: &Namespace, dir: &Path, name: &str, idempotent: bool, hang_ms: u64) -> Child {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "worker_child",
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env("TW_WORKER_NS", &ns.0)
    .env("TW_WORKER_DIR", dir)
    .env("TW_WORKER_NAME", name)
    .env("TW_WORKER_HANG", hang_ms.to_string());
    if idempotent {
        cmd.env("TW_WORKER_IDEMPOTENT", "1");
    }
    cmd.spawn().unwrap()
}

fn wait_ready(child: &mut Child, dir: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !dir.join("ready").exists() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the worker ended before running the task: {status}");
        }
        assert!(Instant::now() < deadline, "the task never started");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Starts a flow of one `remote::slow` task in the background, to a worker
/// child that hangs in it; once it does, starts a second worker here.
async fn hang_in_child(
    ns: &Namespace,
    dir: &Path,
    idempotent: bool,
    hang_ms: u64,
) -> (
    Child,
    WorkerExecutor,
    tokio::task::JoinHandle<(Engine, Result<(), RunError>)>,
) {
    let defs = tasks(dir);
    let mut child = spawn_worker(ns, dir, "doomed", idempotent, hang_ms);
    let executor = WorkerExecutor::connect(ns.broker(), config())
        .await
        .unwrap();
    assert!(executor.wait_for_workers(1, Duration::from_secs(30)).await);
    let flow = Flow::linear("slow").add(def(&defs, "remote::slow"));
    let mut engine = Engine::new(flow).input("ms", 10).executor(executor.clone());
    let run = tokio::spawn(async move {
        let result = engine.run_async().await.map(drop);
        (engine, result)
    });
    let dir2 = dir.to_owned();
    let child = tokio::task::spawn_blocking(move || {
        wait_ready(&mut child, &dir2);
        child
    })
    .await
    .unwrap();
    (child, executor, run)
}

/// A worker killed with SIGKILL in the middle of an idempotent task: the
/// engine notices the missing heartbeats and sends the task to another
/// worker; the flow completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_workers_idempotent_task_is_sent_to_another() {
    let ns = Namespace::new("killed");
    let scratch = Scratch::new("w-killed");
    let defs = tasks(&scratch.0);
    let (mut child, executor, run) = hang_in_child(&ns, &scratch.0, true, 60_000).await;
    let w = worker(&ns, "survivor", registry(&defs, &["remote::slow"]))
        .idempotent(["remote::slow"])
        .start()
        .unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let (engine, result) = run.await.unwrap();
    result.unwrap();
    assert_eq!(
        engine.storage().unwrap().result(0),
        Some(&json!("survivor"))
    );
    assert_eq!(
        effects(&scratch.0),
        [
            "start:remote::slow:doomed",
            "start:remote::slow:survivor",
            "end:remote::slow:survivor"
        ]
    );
    assert_eq!(executor.stats().resent, 1);
    w.stop().await;
}

/// The same with a task that is not idempotent: it may have run, so it is
/// not sent again; the flow fails and says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_workers_non_idempotent_task_fails_the_flow() {
    let ns = Namespace::new("maybe");
    let scratch = Scratch::new("w-maybe");
    let defs = tasks(&scratch.0);
    let (mut child, executor, run) = hang_in_child(&ns, &scratch.0, false, 60_000).await;
    let w = worker(&ns, "survivor", registry(&defs, &["remote::slow"]))
        .start()
        .unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let (engine, result) = run.await.unwrap();
    let err = result.unwrap_err();
    let Some(WorkerError::MayHaveRun { worker, silent, .. }) = err.downcast_ref::<WorkerError>()
    else {
        panic!("{err}");
    };
    assert!(worker.starts_with("doomed-"), "{worker}");
    assert_eq!(
        err.to_string(),
        format!("flow `slow` was reverted: task `remote::slow` failed: task `remote::slow` of atom `remote::slow` is not idempotent and may have run on worker `{worker}`, which stopped answering (no heartbeat for {silent:?}); it was not sent again, to avoid running it twice: check its effects, then resume or revert the flow")
    );
    assert_eq!(engine.atom_state("remote::slow"), Some(AtomState::Reverted));
    assert_eq!(effects(&scratch.0), ["start:remote::slow:doomed"]);
    assert_eq!(executor.stats().resent, 0);
    w.stop().await;
}

/// A worker frozen (SIGSTOP) past its heartbeats is taken for dead and its
/// idempotent task runs elsewhere; when it thaws and answers, its late
/// result is ignored: the flow keeps the other worker's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_result_of_a_worker_taken_for_dead_is_ignored() {
    let ns = Namespace::new("late");
    let scratch = Scratch::new("w-late");
    let defs = tasks(&scratch.0);
    let (mut child, executor, run) = hang_in_child(&ns, &scratch.0, true, 1500).await;
    let pid = child.id().to_string();
    let signal = |sig: &str| {
        assert!(Command::new("kill")
            .args([sig, &pid])
            .status()
            .unwrap()
            .success());
    };
    signal("-STOP");
    let w = worker(&ns, "survivor", registry(&defs, &["remote::slow"]))
        .idempotent(["remote::slow"])
        .start()
        .unwrap();
    let (engine, result) = run.await.unwrap();
    result.unwrap();
    assert_eq!(
        engine.storage().unwrap().result(0),
        Some(&json!("survivor"))
    );
    assert_eq!(executor.stats().ignored_results, 0);
    // Thawed, the frozen worker finishes and answers: too late.
    signal("-CONT");
    let deadline = Instant::now() + Duration::from_secs(20);
    while executor.stats().ignored_results == 0 {
        assert!(Instant::now() < deadline, "the late result never came");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        effects(&scratch.0),
        [
            "start:remote::slow:doomed",
            "start:remote::slow:survivor",
            "end:remote::slow:survivor",
            "end:remote::slow:doomed",
        ]
    );
    assert_eq!(
        engine.storage().unwrap().result(0),
        Some(&json!("survivor"))
    );
    let stats = executor.stats();
    assert_eq!((stats.resent, stats.ignored_results), (1, 1));
    child.kill().unwrap();
    child.wait().unwrap();
    w.stop().await;
}

/// Broker connections closed under a running flow — first the worker's,
/// while it runs a task, then the engine's — are restored, and the work
/// goes on: every task ran exactly once, though none is idempotent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_connections_are_restored_and_work_continues() {
    let ns = Namespace::new("reconnect");
    let scratch = Scratch::new("w-reconnect");
    let defs = tasks(&scratch.0);
    let w = worker(&ns, "steady", registry(&defs, &["remote::slow"]))
        .start()
        .unwrap();
    let executor = WorkerExecutor::connect(ns.broker(), config())
        .await
        .unwrap();
    assert!(executor.wait_for_workers(1, Duration::from_secs(10)).await);
    let slow = def(&defs, "remote::slow");
    let flow = Flow::linear("two")
        .add(slow.clone().named("first").provides_as("one"))
        .add(slow.named("second").provides_as("two"));
    let (wid, eid) = (w.id().to_owned(), executor.id().to_owned());
    let (worker_conn, engine_conn) = tokio::task::spawn_blocking(move || {
        (
            connections(&format!("taskwire worker {wid}")),
            connections(&format!("taskwire engine {eid}")),
        )
    })
    .await
    .unwrap();
    assert_eq!((worker_conn.len(), engine_conn.len()), (1, 1));
    let mut engine = Engine::new(flow)
        .input("ms", 3000)
        .executor(executor.clone());
    let run = tokio::spawn(async move {
        let result = engine.run_async().await.map(drop);
        (engine, result)
    });
    let dir = scratch.0.clone();
    let closer = tokio::task::spawn_blocking(move || {
        let wait_for = |line: &str| {
            let deadline = Instant::now() + Duration::from_secs(20);
            while !effects(&dir).iter().any(|l| l == line) {
                assert!(Instant::now() < deadline, "never saw {line}");
                std::thread::sleep(Duration::from_millis(10));
            }
        };
        wait_for("start:first:steady");
        close_connection(&worker_conn[0]);
        wait_for("start:second:steady");
        close_connection(&engine_conn[0]);
    });
    let (engine, result) = run.await.unwrap();
    result.unwrap();
    closer.await.unwrap();
    assert_eq!(engine.storage().unwrap().result(1), Some(&json!("steady")));
    assert_eq!(
        effects(&scratch.0),
        [
            "start:first:steady",
            "end:first:steady",
            "start:second:steady",
            "end:second:steady"
        ]
    );
    assert!(executor.stats().connections >= 2, "{:?}", executor.stats());
    w.stop().await;
}

/// A worker stopped gracefully finishes the task it runs; the requests
/// still waiting in its queue go to another worker. No task runs twice,
/// though none is idempotent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_stopped_gracefully_hands_its_waiting_requests_on() {
    let ns = Namespace::new("graceful");
    let scratch = Scratch::new("w-graceful");
    let defs = tasks(&scratch.0);
    let first = worker(&ns, "first", registry(&defs, &["remote::slow"]))
        .capacity(1)
        .start()
        .unwrap();
    let executor = WorkerExecutor::connect(ns.broker(), config())
        .await
        .unwrap();
    assert!(executor.wait_for_workers(1, Duration::from_secs(10)).await);
    let mut flow = Flow::unordered("three");
    for name in ["a", "b", "c"] {
        flow.push(def(&defs, "remote::slow").named(name).provides_as(name));
    }
    // Long enough that, even on a loaded machine, `first` is still running
    // its first task when it is told to stop.
    let mut engine = Engine::new(flow)
        .input("ms", 2500)
        .executor(executor.clone())
        .max_workers(3);
    let run = tokio::spawn(async move { engine.run_async().await.map(drop) });
    let dir = scratch.0.clone();
    tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !effects(&dir).iter().any(|l| l.starts_with("start:")) {
            assert!(Instant::now() < deadline, "nothing started");
            std::thread::sleep(Duration::from_millis(10));
        }
    })
    .await
    .unwrap();
    let second = worker(&ns, "second", registry(&defs, &["remote::slow"]))
        .start()
        .unwrap();
    assert!(executor.wait_for_workers(2, Duration::from_secs(10)).await);
    first.stop().await;
    run.await.unwrap().unwrap();
    let lines = effects(&scratch.0);
    let on = |w: &str| {
        lines
            .iter()
            .filter(|l| l.starts_with("end:") && l.ends_with(w))
            .count()
    };
    assert_eq!((on(":first"), on(":second")), (1, 2), "{lines:?}");
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("start:")).count(),
        3,
        "{lines:?}"
    );
    assert_eq!(executor.stats().resent, 2);
    second.stop().await;
}

/// A remote task past its timeout fails the flow like a local one; its
/// result, when it comes, is ignored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_task_past_its_timeout_fails_and_its_result_is_ignored() {
    let ns = Namespace::new("timeout");
    let scratch = Scratch::new("w-timeout");
    let defs = tasks(&scratch.0);
    let w = worker(&ns, "w1", registry(&defs, &["remote::slow"]))
        .start()
        .unwrap();
    let executor = WorkerExecutor::connect(ns.broker(), config())
        .await
        .unwrap();
    assert!(executor.wait_for_workers(1, Duration::from_secs(10)).await);
    let flow =
        Flow::linear("late").add(def(&defs, "remote::slow").timeout(Duration::from_millis(200)));
    let err = Engine::new(flow)
        .input("ms", 600)
        .executor(executor.clone())
        .run_async()
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "flow `late` was reverted: task `remote::slow` failed: task `remote::slow` ran past its timeout of 200ms"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while executor.stats().ignored_results == 0 {
        assert!(Instant::now() < deadline, "the late result never came");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        effects(&scratch.0),
        ["start:remote::slow:w1", "end:remote::slow:w1"]
    );
    w.stop().await;
}

/// A broker that stops answering the executor (a relay of the test's own in
/// front of the shared RabbitMQ stops relaying; the broker itself is not
/// touched): the executor finds the connection lost after two AMQP
/// heartbeats, each try to reach the broker again ends within the URL's
/// `connect_timeout`, and the request it holds (waiting for a worker) fails
/// once the broker has been away for `broker_timeout`, naming the broker
/// with its password removed. Relayed again, the same executor reconnects
/// by itself and its requests run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_ends_within_a_bound_when_the_broker_stops_answering() {
    let ns = Namespace::new("away");
    let scratch = Scratch::new("w-away");
    let defs = tasks(&scratch.0);
    let proxy = Arc::new(TcpProxy::start("127.0.0.1:5672"));
    let query = "?heartbeat=1s&connect_timeout=1s&timeout=1s";
    let url = format!("amqp://guest:guest@127.0.0.1:{}/%2f{query}", proxy.port);
    let broker = taskwire::worker::Broker::new(url, ns.0.clone());
    let config = ExecutorConfig::default()
        .no_worker_timeout(Duration::from_secs(60))
        .broker_timeout(Duration::from_secs(2));
    let executor = WorkerExecutor::connect(broker, config).await.unwrap();
    let flow = Flow::linear("away").add(def(&defs, "remote::double"));
    // No worker yet: the request waits for one while the broker goes away.
    let paused = Arc::new(std::sync::Mutex::new(None));
    let pauser = {
        let (proxy, paused) = (Arc::clone(&proxy), Arc::clone(&paused));
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            proxy.pause();
            *paused.lock().unwrap() = Some(Instant::now());
        })
    };
    let mut engine = Engine::new(flow.clone())
        .input("size", 21)
        .executor(executor.clone());
    let err = tokio::time::timeout(Duration::from_secs(30), engine.run_async())
        .await
        .expect("the request ends within a bound")
        .unwrap_err();
    pauser.join().unwrap();
    let took = paused.lock().unwrap().unwrap().elapsed();
    eprintln!("the broker stopped answering; the request failed {took:?} later (heartbeat 1s, connect_timeout 1s, broker_timeout 2s)");
    // Two heartbeats to find it lost, then broker_timeout, the last try
    // bounded by connect_timeout, and margin.
    assert!(took <= Duration::from_secs(2 + 2 + 1 + 2), "{took:?}");
    let Some(WorkerError::BrokerAway { url, away, .. }) = err.downcast_ref::<WorkerError>() else {
        panic!("{err}")
    };
    assert_eq!(
        url,
        &format!("amqp://guest:***@127.0.0.1:{}/%2f{query}", proxy.port)
    );
    assert!(*away >= Duration::from_secs(2), "{away:?}");
    assert!(
        err.to_string()
            .contains("(the executor's broker_timeout); the last try to reach it: "),
        "{err}"
    );

    proxy.resume();
    let w = worker(&ns, "w1", registry(&defs, &["remote::double"]))
        .start()
        .unwrap();
    assert!(executor.wait_for_workers(1, Duration::from_secs(20)).await);
    let done = Engine::new(flow)
        .input("size", 21)
        .executor(executor.clone())
        .run_async()
        .await
        .unwrap();
    assert_eq!(
        done.get::<serde_json::Value>("doubled").unwrap(),
        json!({"value": 42, "on": "w1"})
    );
    assert!(executor.stats().connections >= 2, "{:?}", executor.stats());
    w.stop().await;
}

/// A broker that stops answering a worker (its connection goes through a
/// relay that stops relaying): its hellos get no answer within the URL's
/// `timeout`, so it drops the connection and tries again, each try bounded
/// by `connect_timeout`; once relayed again it is back by itself, and the
/// engine sends it work. (With a trace: "lost the broker; reconnecting ...
/// no answer from the broker within 1s (`timeout` in the URL)" 1.1 s after
/// the pause, then "connect failed: no answer from the broker within 1s
/// (`connect_timeout` in the URL)", then "connected" once resumed.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_comes_back_by_itself_after_the_broker_stopped_answering() {
    let ns = Namespace::new("worker-away");
    let scratch = Scratch::new("w-worker-away");
    let defs = tasks(&scratch.0);
    let proxy = TcpProxy::start("127.0.0.1:5672");
    let url = format!(
        "amqp://guest:guest@127.0.0.1:{}/%2f?heartbeat=1s&connect_timeout=1s&timeout=1s",
        proxy.port
    );
    let broker = taskwire::worker::Broker::new(url, ns.0.clone());
    let w = Worker::new("w1", broker, registry(&defs, &["remote::double"]))
        .heartbeat(HEARTBEAT)
        .resource(Marker("w1".to_owned()))
        .start()
        .unwrap();
    let executor = WorkerExecutor::connect(ns.broker(), config())
        .await
        .unwrap();
    assert!(executor.wait_for_workers(1, Duration::from_secs(10)).await);

    proxy.pause();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(executor.workers().is_empty(), "the worker went silent");
    proxy.resume();
    let resumed = Instant::now();
    assert!(executor.wait_for_workers(1, Duration::from_secs(15)).await);
    eprintln!(
        "the worker was heard again {:?} after the relay resumed",
        resumed.elapsed()
    );
    let flow = Flow::linear("back").add(def(&defs, "remote::double"));
    let done = Engine::new(flow)
        .input("size", 2)
        .executor(executor.clone())
        .run_async()
        .await
        .unwrap();
    assert_eq!(
        done.get::<serde_json::Value>("doubled").unwrap(),
        json!({"value": 4, "on": "w1"})
    );
    w.stop().await;
}

/// The engine's lease heartbeat runs whatever executes the atoms: a remote
/// task five times longer than the lease's TTL keeps the flow owned (another
/// owner is refused every 50 ms), and the task runs once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_task_longer_than_the_lease_keeps_it() {
    let ns = Namespace::new("lease");
    let scratch = Scratch::new("w-lease");
    let defs = tasks(&scratch.0);
    let w = worker(&ns, "w1", registry(&defs, &["remote::slow"]))
        .start()
        .unwrap();
    let executor = WorkerExecutor::connect(ns.broker(), config())
        .await
        .unwrap();
    assert!(executor.wait_for_workers(1, Duration::from_secs(10)).await);
    let url = format!("sqlite://{}", scratch.0.join("log.db").display());
    let backend = taskwire::persistence::open(&url).unwrap();
    let mut engine = Engine::new(Flow::linear("remote-lease").add(def(&defs, "remote::slow")))
        .input("ms", 1500)
        .executor(executor.clone())
        .persist(Arc::clone(&backend))
        .lease_ttl(Duration::from_millis(300));
    engine.compile().unwrap();
    let id = engine.flow_uuid().unwrap();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let intruder = {
        let done = Arc::clone(&done);
        let backend = taskwire::persistence::open(&url).unwrap();
        std::thread::spawn(move || {
            let mut refused = 0;
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                match backend.acquire_lease(id, "intruder", Duration::from_secs(1)) {
                    Err(taskwire::PersistenceError::LeaseHeld { .. }) => refused += 1,
                    // The run ended and gave its lease back meanwhile.
                    Ok(_) if backend.load_flow(id).unwrap().0.state.is_final() => break,
                    other => panic!("the intruder was not refused: {other:?}"),
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            refused
        })
    };
    let result = engine.run_async().await;
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let refused = intruder.join().unwrap();
    assert_eq!(result.unwrap().get::<String>("slept").unwrap(), "w1");
    assert!(refused >= 10, "only {refused} tries");
    assert_eq!(
        effects(&scratch.0),
        ["start:remote::slow:w1", "end:remote::slow:w1"]
    );
    w.stop().await;
}
