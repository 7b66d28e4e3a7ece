//! The parallel executor, suspension and timeouts.
//!
//! Every flow of the first tests runs both serially and in parallel, and both
//! must end the same way: same final states, same values, same set of task
//! executions and reverts.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use common::{failing, step, BoomError, Log};
use serde_json::json;
use taskwire::listener::{AtomEvent, Listener};
use taskwire::{AtomState, Engine, FailureKind, Flow, FlowState, FnTask, RunError, Suspender};

/// What a run ended with, in a form that does not depend on timing.
#[derive(Debug, PartialEq)]
struct Ending {
    flow: FlowState,
    atoms: BTreeMap<String, AtomState>,
    values: BTreeMap<String, Option<serde_json::Value>>,
    error: Option<String>,
    log: Vec<String>,
}

fn run_with(make: &dyn Fn(&Log) -> Flow, workers: usize, values: &[&str]) -> Ending {
    let log = Log::default();
    let flow = make(&log);
    let names: Vec<String> = flow
        .atoms()
        .iter()
        .map(|a| a.atom_name().to_owned())
        .collect();
    let mut engine = Engine::new(flow).input("size", 1).max_workers(workers);
    let result = engine.run();
    let storage = engine.storage().expect("compiled");
    let mut log = log.entries();
    log.sort();
    Ending {
        flow: engine.flow_state(),
        atoms: names
            .iter()
            .map(|n| (n.clone(), engine.atom_state(n).unwrap()))
            .collect(),
        values: values
            .iter()
            .map(|v| {
                let i = storage
                    .plan()
                    .atoms()
                    .iter()
                    .position(|a| a.provides().names().iter().any(|p| p == v))
                    .unwrap();
                ((*v).to_owned(), storage.result(i).cloned())
            })
            .collect(),
        error: result.err().map(|e| e.to_string()),
        log,
    }
}

fn same_both_ways(make: &dyn Fn(&Log) -> Flow, values: &[&str]) -> Ending {
    let serial = run_with(make, 1, values);
    for workers in [2, 8] {
        let parallel = run_with(make, workers, values);
        assert_eq!(serial, parallel, "serial and {workers} workers differ");
    }
    serial
}

#[test]
fn serial_and_parallel_end_the_same_on_success() {
    let diamond = |log: &Log| {
        Flow::graph("diamond")
            .add(step(log, "top", &["size"], "a"))
            .add(step(log, "left", &["a"], "b"))
            .add(step(log, "right", &["a"], "c"))
            .add(step(log, "bottom", &["b", "c"], "d"))
    };
    let end = same_both_ways(&diamond, &["d"]);
    assert_eq!(end.flow, FlowState::Success);
    // top = 2, left = right = 3, bottom = 3 + 3 + 1
    assert_eq!(end.values["d"], Some(json!(7)));

    let nested = |log: &Log| {
        Flow::linear("outer")
            .add(step(log, "first", &["size"], "x"))
            .add(
                Flow::unordered("fan")
                    .add(step(log, "u1", &["x"], "y1"))
                    .add(step(log, "u2", &["x"], "y2"))
                    .add(step(log, "u3", &["x"], "y3")),
            )
            .add(step(log, "last", &["y1", "y2", "y3"], "z"))
    };
    let end = same_both_ways(&nested, &["z"]);
    assert_eq!(end.values["z"], Some(json!(10)));
    assert_eq!(end.log.len(), 5);
}

#[test]
fn serial_and_parallel_end_the_same_on_failure() {
    // `boom` waits for both branches, so the same atoms have run either way.
    let flow = |log: &Log| {
        Flow::linear("outer")
            .add(
                Flow::graph("diamond")
                    .add(step(log, "top", &["size"], "a"))
                    .add(step(log, "left", &["a"], "b"))
                    .add(step(log, "right", &["a"], "c"))
                    .add(failing(log, "boom", &["b", "c"])),
            )
            .add(step(log, "after", &["b"], "z"))
    };
    let end = same_both_ways(&flow, &["z"]);
    assert_eq!(end.flow, FlowState::Reverted);
    assert_eq!(
        end.error.as_deref(),
        Some("flow `outer` was reverted: task `boom` failed: boom in boom")
    );
}

#[test]
fn a_failure_among_parallel_siblings_reverts_every_atom_that_ran() {
    // Which siblings of `boom` start before it fails depends on the executor
    // (serially, `u3` never starts); either way nothing that ran stays done.
    let flow = |log: &Log| {
        Flow::linear("outer")
            .add(step(log, "first", &["size"], "x"))
            .add(
                Flow::unordered("fan")
                    .add(step(log, "u1", &["x"], "y1"))
                    .add(failing(log, "boom", &["x"]))
                    .add(step(log, "u3", &["x"], "y3")),
            )
            .add(step(log, "after", &["y1", "y3"], "z"))
    };
    for workers in [1, 2, 8] {
        let end = run_with(&flow, workers, &["z"]);
        assert_eq!(end.flow, FlowState::Reverted);
        assert_eq!(end.atoms["boom"], AtomState::Reverted);
        assert_eq!(end.atoms["after"], AtomState::Pending);
        for (atom, state) in &end.atoms {
            let ran = end.log.contains(&format!("exec:{atom}"));
            let expected = if ran {
                AtomState::Reverted
            } else {
                AtomState::Pending
            };
            assert_eq!(*state, expected, "{atom} with {workers} workers");
            if ran && atom != "boom" {
                assert!(end.log.contains(&format!("revert:{atom}:ok")));
            }
        }
        assert!(end.log.contains(&"revert:boom:failures=1".to_owned()));
        assert_eq!(
            end.error.as_deref(),
            Some("flow `outer` was reverted: task `boom` failed: boom in boom")
        );
    }
}

/// A rendezvous: each task waits (at most 10 s) until `n` tasks are inside at
/// once. Only a truly concurrent executor gets them all through.
#[derive(Clone)]
struct Rendezvous(Arc<(Mutex<usize>, Condvar)>, usize);

impl Rendezvous {
    fn new(n: usize) -> Rendezvous {
        Rendezvous(Arc::new((Mutex::new(0), Condvar::new())), n)
    }

    fn arrive(&self) -> bool {
        let (lock, cvar) = &*self.0;
        let mut inside = lock.lock().unwrap();
        *inside += 1;
        cvar.notify_all();
        let (inside, timeout) = cvar
            .wait_timeout_while(inside, Duration::from_secs(10), |n| *n < self.1)
            .unwrap();
        drop(inside);
        !timeout.timed_out()
    }
}

#[test]
fn independent_sync_tasks_run_at_the_same_time() {
    let meet = Rendezvous::new(4);
    let mut fan = Flow::unordered("fan");
    for i in 0..4 {
        let meet = meet.clone();
        fan.push(
            FnTask::new(format!("t{i}"))
                .provides(format!("met{i}"))
                .run(move |_| Ok(json!(meet.arrive()))),
        );
    }
    let done = Engine::new(fan).max_workers(4).run().unwrap();
    for i in 0..4 {
        assert!(
            done.get::<bool>(&format!("met{i}")).unwrap(),
            "t{i} never met the other three"
        );
    }
}

#[test]
fn independent_async_tasks_run_at_the_same_time() {
    let meet = Arc::new(tokio::sync::Barrier::new(3));
    let mut fan = Flow::unordered("fan");
    for i in 0..3 {
        let meet = Arc::clone(&meet);
        fan.push(
            FnTask::new(format!("t{i}"))
                .provides(format!("met{i}"))
                .run_async(move |_| {
                    let meet = Arc::clone(&meet);
                    Box::pin(async move {
                        let met = tokio::time::timeout(Duration::from_secs(10), meet.wait()).await;
                        Ok(json!(met.is_ok()))
                    })
                }),
        );
    }
    let done = Engine::new(fan).max_workers(3).run().unwrap();
    for i in 0..3 {
        assert!(done.get::<bool>(&format!("met{i}")).unwrap());
    }
}

#[test]
fn no_more_than_max_workers_run_at_once() {
    let inside = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let mut fan = Flow::unordered("fan");
    for i in 0..12 {
        let (inside, most) = (Arc::clone(&inside), Arc::clone(&most));
        fan.push(FnTask::new(format!("t{i}")).run(move |_| {
            let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(5));
            inside.fetch_sub(1, Ordering::SeqCst);
            Ok(json!(null))
        }));
    }
    Engine::new(fan).max_workers(3).run().unwrap();
    assert!(most.load(Ordering::SeqCst) <= 3);
    assert!(most.load(Ordering::SeqCst) >= 1);
}

#[test]
fn a_failure_waits_for_running_siblings_then_reverts_them() {
    let log = Log::default();
    let meet = Rendezvous::new(2);
    let (slow_log, slow_meet) = (log.clone(), meet.clone());
    let boom_meet = meet.clone();
    let boom_log = log.clone();
    let flow = Flow::unordered("fan")
        .add(
            FnTask::new("slow")
                .provides("s")
                .run(move |_| {
                    slow_meet.arrive();
                    // Still running when `boom` has failed.
                    std::thread::sleep(Duration::from_millis(50));
                    slow_log.push("exec:slow");
                    Ok(json!(1))
                })
                .revert({
                    let log = log.clone();
                    move |_| {
                        log.push("revert:slow");
                        Ok(())
                    }
                }),
        )
        .add(FnTask::new("boom").run(move |_| {
            boom_meet.arrive();
            boom_log.push("exec:boom");
            Err(taskwire::Failure::from_error(BoomError("boom".into())))
        }));
    let mut engine = Engine::new(flow).max_workers(2);
    let err = engine.run().unwrap_err();
    assert_eq!(
        err.downcast_ref::<BoomError>(),
        Some(&BoomError("boom".into()))
    );
    assert_eq!(engine.flow_state(), FlowState::Reverted);
    assert_eq!(engine.atom_state("slow"), Some(AtomState::Reverted));
    assert_eq!(
        log.entries(),
        ["exec:boom", "exec:slow", "revert:slow"],
        "slow finished before anything was reverted"
    );
}

/// Suspends the engine when `atom` succeeds.
struct SuspendAfter(Suspender, &'static str);

impl Listener for SuspendAfter {
    fn on_atom(&self, event: &AtomEvent<'_>) {
        if event.atom == self.1 && event.state == AtomState::Success {
            self.0.suspend();
        }
    }
}

#[test]
fn a_suspended_flow_goes_on_from_where_it_stopped() {
    for workers in [1, 4] {
        let log = Log::default();
        let flow = Flow::linear("l")
            .add(step(&log, "a", &["size"], "x"))
            .add(step(&log, "b", &["x"], "y"))
            .add(step(&log, "c", &["y"], "z"));
        let capture = Arc::new(taskwire::CapturingListener::new());
        let engine = Engine::new(flow)
            .input("size", 1)
            .max_workers(workers)
            .listener(Arc::clone(&capture));
        let suspender = engine.suspender();
        let mut engine = engine.listener(SuspendAfter(suspender, "b"));
        let done = engine.run().expect("a suspension is not an error");
        assert_eq!(done.flow_state(), FlowState::Suspended);
        assert_eq!(engine.atom_state("c"), Some(AtomState::Pending));
        assert_eq!(log.entries(), ["exec:a", "exec:b"]);

        let done = engine.run().unwrap();
        assert_eq!(done.flow_state(), FlowState::Success);
        assert_eq!(done.get::<i64>("z").unwrap(), 4);
        assert_eq!(
            log.entries(),
            ["exec:a", "exec:b", "exec:c"],
            "a and b ran once"
        );
        assert_eq!(
            capture.flow_states(),
            [
                FlowState::Running,
                FlowState::Suspending,
                FlowState::Suspended,
                FlowState::Resuming,
                FlowState::Running,
                FlowState::Success
            ]
        );
    }
}

#[test]
fn suspending_lets_running_parallel_tasks_finish() {
    // The tasks suspend through the engine's own handle, set once it exists.
    let log = Log::default();
    let meet = Rendezvous::new(3);
    let mut fan = Flow::graph("fan");
    let shared: Arc<Mutex<Option<Suspender>>> = Arc::new(Mutex::new(None));
    for i in 0..3 {
        let (meet, log, shared) = (meet.clone(), log.clone(), Arc::clone(&shared));
        fan.push(
            FnTask::new(format!("t{i}"))
                .provides(format!("v{i}"))
                .run(move |_| {
                    meet.arrive();
                    if i == 0 {
                        shared.lock().unwrap().as_ref().unwrap().suspend();
                    }
                    std::thread::sleep(Duration::from_millis(20));
                    log.push(format!("exec:t{i}"));
                    Ok(json!(i))
                }),
        );
    }
    fan.push(step(&log, "after", &["v0", "v1", "v2"], "w"));
    let mut engine = Engine::new(fan).max_workers(3);
    *shared.lock().unwrap() = Some(engine.suspender());
    let done = engine.run().unwrap();
    assert_eq!(done.flow_state(), FlowState::Suspended);
    let mut ran = log.entries();
    ran.sort();
    assert_eq!(ran, ["exec:t0", "exec:t1", "exec:t2"], "all three finished");
    assert_eq!(engine.atom_state("after"), Some(AtomState::Pending));
    let done = engine.run().unwrap();
    assert_eq!(done.get::<i64>("w").unwrap(), 4);
}

#[test]
fn a_failure_while_suspending_is_reverted_on_resume() {
    let log = Log::default();
    let shared: Arc<Mutex<Option<Suspender>>> = Arc::new(Mutex::new(None));
    let s2 = Arc::clone(&shared);
    let flow = Flow::linear("l").add(step(&log, "a", &["size"], "x")).add(
        FnTask::new("suspend_then_fail")
            .requires(["x"])
            .run(move |_| {
                s2.lock().unwrap().as_ref().unwrap().suspend();
                Err(taskwire::Failure::from_error(BoomError("late".into())))
            })
            .revert({
                let log = log.clone();
                move |_| {
                    log.push("revert:suspend_then_fail");
                    Ok(())
                }
            }),
    );
    let mut engine = Engine::new(flow).input("size", 1);
    *shared.lock().unwrap() = Some(engine.suspender());
    let done = engine.run().expect("suspended");
    assert_eq!(done.flow_state(), FlowState::Suspended);
    assert_eq!(
        engine.atom_state("suspend_then_fail"),
        Some(AtomState::Failure)
    );
    let err = engine.run().unwrap_err();
    assert_eq!(
        err.downcast_ref::<BoomError>(),
        Some(&BoomError("late".into()))
    );
    assert_eq!(engine.flow_state(), FlowState::Reverted);
    assert_eq!(
        log.entries(),
        ["exec:a", "revert:suspend_then_fail", "revert:a:ok"]
    );
}

fn sleeper_sync(name: &str, ms: u64) -> FnTask {
    FnTask::new(name.to_owned())
        .provides("slept")
        .run(move |_| {
            std::thread::sleep(Duration::from_millis(ms));
            Ok(json!(ms))
        })
}

fn timeout_failure(err: &RunError) -> (FailureKind, String) {
    let failure = err.failure().expect("a task failed");
    (failure.kind(), failure.to_string())
}

#[test]
fn an_async_task_past_its_timeout_is_cancelled_and_fails() {
    let finished = Arc::new(AtomicUsize::new(0));
    let f2 = Arc::clone(&finished);
    let slow = FnTask::new("slow")
        .provides("slept")
        .run_async(move |_| {
            let f2 = Arc::clone(&f2);
            Box::pin(async move {
                tokio::time::sleep(Duration::from_secs(5)).await;
                f2.fetch_add(1, Ordering::SeqCst);
                Ok(json!(1))
            })
        })
        .into_spec()
        .timeout(Duration::from_millis(30));
    for workers in [1, 2] {
        let mut engine = Engine::new(Flow::linear("l").add(slow.clone())).max_workers(workers);
        let err = engine.run().unwrap_err();
        assert_eq!(
            timeout_failure(&err),
            (
                FailureKind::Timeout,
                "task `slow` ran past its timeout of 30ms".to_owned()
            )
        );
        assert_eq!(engine.flow_state(), FlowState::Reverted);
    }
    assert_eq!(finished.load(Ordering::SeqCst), 0, "the future was dropped");
}

#[test]
fn a_sync_task_past_its_timeout_fails_and_its_late_result_is_discarded() {
    for workers in [1, 2] {
        let flow = Flow::linear("l").add(
            sleeper_sync("slow", 120)
                .into_spec()
                .timeout(Duration::from_millis(10)),
        );
        let mut engine = Engine::new(flow).max_workers(workers);
        let err = engine.run().unwrap_err();
        assert_eq!(
            timeout_failure(&err),
            (
                FailureKind::Timeout,
                "task `slow` ran past its timeout of 10ms".to_owned()
            )
        );
        let storage = engine.storage().unwrap();
        assert_eq!(storage.result(0), None, "the late result was not recorded");
    }
    // Within its timeout, the task succeeds.
    let flow = Flow::linear("l").add(
        sleeper_sync("quick", 1)
            .into_spec()
            .timeout(Duration::from_secs(10)),
    );
    let done = Engine::new(flow).max_workers(2).run().unwrap();
    assert_eq!(done.get::<u64>("slept").unwrap(), 1);
}

/// A flag one task raises and another waits for (at most 10 s).
#[derive(Clone, Default)]
struct Flag(Arc<(Mutex<bool>, Condvar)>);

impl Flag {
    fn raise(&self) {
        *self.0 .0.lock().unwrap() = true;
        self.0 .1.notify_all();
    }

    fn wait(&self) -> bool {
        let (lock, cvar) = &*self.0;
        let (raised, _) = cvar
            .wait_timeout_while(lock.lock().unwrap(), Duration::from_secs(10), |r| !*r)
            .unwrap();
        *raised
    }
}

#[test]
fn a_parallel_run_reverts_sync_tasks_off_its_loop() {
    // `flaky` fails at once in a retry's subflow, and its revert waits for
    // `waiter`, an async task outside the subflow that is still out: it
    // raises the flag only once the run's timer has woken it. The revert
    // runs on a pool thread, so the loop's runtime goes on and wakes it;
    // on the loop's own thread the revert would wait in vain.
    let flag = Flag::default();
    let raise = flag.clone();
    let waiter = FnTask::new("waiter").run_async(move |_| {
        let raise = raise.clone();
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            raise.raise();
            Ok(json!(null))
        })
    });
    let attempts = Arc::new(AtomicUsize::new(0));
    let revert_thread = Arc::new(Mutex::new(None));
    let (tries, seen) = (Arc::clone(&attempts), Arc::clone(&revert_thread));
    let flaky = FnTask::new("flaky")
        .run(move |_| match tries.fetch_add(1, Ordering::SeqCst) {
            0 => Err(taskwire::Failure::from_error(BoomError("once".into()))),
            _ => Ok(json!(null)),
        })
        .revert(move |_| {
            *seen.lock().unwrap() = Some(std::thread::current().id());
            match flag.wait() {
                true => Ok(()),
                false => Err(taskwire::Failure::from_error(BoomError(
                    "the waiter never woke".into(),
                ))),
            }
        });
    let flow = Flow::unordered("both")
        .add(waiter)
        .add(
            Flow::linear("sub")
                .add(flaky)
                .retry(taskwire::retry::RetryAtom::new(
                    "again",
                    taskwire::retry::Times::new(2),
                )),
        );
    let mut engine = Engine::new(flow).max_workers(4);
    let done = engine.run().expect("the revert saw the waiter wake");
    assert_eq!(done.flow_state(), FlowState::Success);
    assert_eq!(done.atom_state("flaky"), Some(AtomState::Success));
    assert_eq!(attempts.load(Ordering::SeqCst), 2);
    let thread = revert_thread.lock().unwrap().expect("flaky was reverted");
    assert_ne!(
        thread,
        std::thread::current().id(),
        "reverted on the loop's thread"
    );
}
