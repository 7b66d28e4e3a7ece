//! Retry atoms: TaskFlow's controllers and decisions, delays, custom code,
//! histories, nesting, deferred reverts, parallel runs and resumption.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{step, BoomError, Log};
use serde_json::{json, Value};
use taskwire::retry::{
    AlwaysRevert, AlwaysRevertAll, Decision, Delay, ForEach, ParameterizedForEach, Retry,
    RetryAtom, RetryCall, Times,
};
use taskwire::{
    AtomEvent, AtomState, CapturingListener, Engine, Failure, FailureKind, Flow, FlowState, FnTask,
    Listener, RunError, TaskSpec,
};

/// A task that fails its first `fails` runs (counted across attempts), then
/// provides `provides` = the number of its run.
fn flaky(log: &Log, name: &'static str, fails: u32, provides: &'static str) -> TaskSpec {
    let runs = Arc::new(AtomicU32::new(0));
    let (l1, l2) = (log.clone(), log.clone());
    let mut t = FnTask::new(name);
    if !provides.is_empty() {
        t = t.provides(provides);
    }
    t.run(move |_| {
        let run = runs.fetch_add(1, Ordering::SeqCst) + 1;
        l1.push(format!("exec:{name}"));
        if run <= fails {
            Err(Failure::from_error(BoomError(format!("{name} run {run}"))))
        } else {
            Ok(json!(run))
        }
    })
    .revert(move |_| {
        l2.push(format!("revert:{name}"));
        Ok(())
    })
    .into_spec()
}

fn states(engine: &Engine, atoms: &[&str]) -> Vec<AtomState> {
    atoms
        .iter()
        .map(|a| engine.atom_state(a).unwrap())
        .collect()
}

/// Runs `make`'s flow serially and with 4 workers; both must end alike.
fn both_ways(
    make: &dyn Fn(&Log) -> Flow,
    atoms: &[&str],
) -> (Result<(), String>, Vec<AtomState>, Vec<String>) {
    let mut endings = Vec::new();
    for workers in [1, 4] {
        let log = Log::default();
        let mut engine = Engine::new(make(&log)).max_workers(workers);
        let result = engine.run().map(|_| ()).map_err(|e| e.to_string());
        endings.push((result, states(&engine, atoms), log.entries()));
    }
    let parallel = endings.pop().unwrap();
    let serial = endings.pop().unwrap();
    assert_eq!(serial.0, parallel.0, "same outcome serial and parallel");
    assert_eq!(
        serial.1, parallel.1,
        "same final states serial and parallel"
    );
    let (mut a, mut b) = (serial.2.clone(), parallel.2.clone());
    a.sort();
    b.sort();
    assert_eq!(a, b, "same work done serial and parallel");
    serial
}

#[test]
fn times_retries_the_subflow_until_it_succeeds() {
    let make = |log: &Log| {
        Flow::linear("outer")
            .add(step(log, "before", &[], "b"))
            .add(
                Flow::linear("sub")
                    .add(step(log, "prepare", &[], "p"))
                    .add(flaky(log, "send", 2, "sent"))
                    .retry(RetryAtom::new("again", Times::new(3)).provides("attempt")),
            )
            .add(step(log, "after", &["sent"], "a"))
    };
    let (result, states, log) = both_ways(&make, &["before", "again", "prepare", "send", "after"]);
    assert_eq!(result, Ok(()));
    assert_eq!(states, [AtomState::Success; 5]);
    assert_eq!(
        log,
        [
            "exec:before",
            "exec:prepare",
            "exec:send",
            "revert:send",
            "revert:prepare:ok",
            "exec:prepare",
            "exec:send",
            "revert:send",
            "revert:prepare:ok",
            "exec:prepare",
            "exec:send",
            "exec:after",
        ]
    );

    let log = Log::default();
    let listener = Arc::new(CapturingListener::new());
    let mut engine = Engine::new(make(&log)).listener(Arc::clone(&listener));
    let done = engine.run().unwrap();
    assert_eq!(done.get::<u32>("sent").unwrap(), 3);
    assert_eq!(
        done.get::<u32>("attempt").unwrap(),
        3,
        "the retry provides the attempt number"
    );
    assert_eq!(done.get::<i64>("a").unwrap(), 4);
    let history = done.storage().retry_history("again").unwrap();
    assert_eq!(history.len(), 3);
    let values: Vec<&Value> = history.values().collect();
    assert_eq!(values, [&json!(1), &json!(2), &json!(3)]);
    let decisions: Vec<Option<Decision>> = history.attempts().iter().map(|a| a.decision).collect();
    assert_eq!(
        decisions,
        [Some(Decision::Retry), Some(Decision::Retry), None]
    );
    let failures: Vec<String> = history
        .failures()
        .map(|(atom, f)| format!("{atom}: {f}"))
        .collect();
    assert_eq!(
        failures,
        ["send: boom in send run 1", "send: boom in send run 2"]
    );
    // The retry passes through RETRYING; its subflow's atoms go back to PENDING.
    let retry_states = listener.atom_states("again");
    assert_eq!(
        retry_states,
        [
            AtomState::Running,
            AtomState::Success,
            AtomState::Retrying,
            AtomState::Running,
            AtomState::Success,
            AtomState::Retrying,
            AtomState::Running,
            AtomState::Success,
        ]
    );
    assert_eq!(
        &listener.atom_states("send")[..5],
        [
            AtomState::Running,
            AtomState::Failure,
            AtomState::Reverting,
            AtomState::Reverted,
            AtomState::Pending,
        ]
    );
    assert_eq!(engine.flow_state(), FlowState::Success);
}

#[test]
fn a_retry_that_gives_up_reverts_only_its_subflow() {
    let make = |log: &Log| {
        Flow::linear("outer")
            .add(step(log, "before", &[], "b"))
            .add(
                Flow::linear("sub")
                    .add(step(log, "prepare", &[], "p"))
                    .add(flaky(log, "send", 10, "sent"))
                    .retry(RetryAtom::new("again", Times::new(2))),
            )
            .add(step(log, "after", &["sent"], "a"))
    };
    let (result, states, log) = both_ways(&make, &["before", "again", "prepare", "send", "after"]);
    assert_eq!(
        result.unwrap_err(),
        "flow `outer` was reverted: task `send` failed: boom in send run 2"
    );
    assert_eq!(
        states,
        [
            AtomState::Success,
            AtomState::Reverted,
            AtomState::Reverted,
            AtomState::Reverted,
            AtomState::Pending
        ],
        "TaskFlow's REVERT: the subflow and its retry are reverted, `before` is left done"
    );
    assert_eq!(
        log,
        [
            "exec:before",
            "exec:prepare",
            "exec:send",
            "revert:send",
            "revert:prepare:ok",
            "exec:prepare",
            "exec:send",
            "revert:send",
            "revert:prepare:ok",
        ]
    );
    let mut engine = Engine::new(make(&Log::default()));
    let err = engine.run().unwrap_err();
    assert_eq!(engine.flow_state(), FlowState::Reverted);
    assert!(
        err.downcast_ref::<BoomError>().is_some(),
        "the original error comes back"
    );
}

#[test]
fn deferred_reverts_go_to_the_enclosing_flow() {
    let log = Log::default();
    let flow = Flow::linear("outer")
        .add(step(&log, "before", &[], "b"))
        .add(
            Flow::linear("sub")
                .add(flaky(&log, "send", 10, "sent"))
                .retry(RetryAtom::new("again", Times::new(2))),
        );
    let mut engine = Engine::new(flow).defer_reverts(true);
    engine.run().unwrap_err();
    assert_eq!(
        states(&engine, &["before", "again", "send"]),
        [AtomState::Reverted; 3],
        "with no retry around it, a deferred REVERT reverts everything"
    );
    assert_eq!(
        log.entries(),
        [
            "exec:before",
            "exec:send",
            "revert:send",
            "exec:send",
            "revert:send",
            "revert:before:ok"
        ]
    );
}

#[test]
fn revert_all_reverts_everything() {
    for retry in [
        RetryAtom::new("r", Times::new(1).revert_all()),
        RetryAtom::new("r", AlwaysRevertAll),
    ] {
        let log = Log::default();
        let flow = Flow::linear("outer")
            .add(step(&log, "before", &[], "b"))
            .add(
                Flow::linear("sub")
                    .add(flaky(&log, "send", 10, "sent"))
                    .retry(retry),
            );
        let mut engine = Engine::new(flow);
        engine.run().unwrap_err();
        assert_eq!(
            states(&engine, &["before", "r", "send"]),
            [AtomState::Reverted; 3]
        );
        assert_eq!(
            log.entries(),
            [
                "exec:before",
                "exec:send",
                "revert:send",
                "revert:before:ok"
            ]
        );
    }
}

#[test]
fn an_inner_revert_lets_the_outer_retry_decide() {
    // Inner: never retries. Outer: retries once. The inner failure is handed
    // to the outer retry, which runs the whole outer subflow again.
    let make = |log: &Log| {
        Flow::linear("root").add(
            Flow::linear("outer")
                .add(step(log, "a", &[], "va"))
                .add(
                    Flow::linear("inner")
                        .add(flaky(log, "b", 1, "vb"))
                        .retry(RetryAtom::new("inner_retry", AlwaysRevert)),
                )
                .retry(RetryAtom::new("outer_retry", Times::new(2))),
        )
    };
    let (result, states, log) = both_ways(&make, &["outer_retry", "a", "inner_retry", "b"]);
    assert_eq!(result, Ok(()));
    assert_eq!(states, [AtomState::Success; 4]);
    assert_eq!(
        log,
        [
            "exec:a",
            "exec:b",
            "revert:b",
            "revert:a:ok",
            "exec:a",
            "exec:b"
        ]
    );

    let mut engine = Engine::new(make(&Log::default()));
    let done = engine.run().unwrap();
    let outer = done.storage().retry_history("outer_retry").unwrap();
    assert_eq!(outer.len(), 2);
    let failures: Vec<String> = outer.failures().map(|(a, f)| format!("{a}: {f}")).collect();
    assert_eq!(
        failures,
        ["inner_retry: boom in b run 1"],
        "the outer retry sees the inner retry fail"
    );
    let inner = done.storage().retry_history("inner_retry").unwrap();
    assert_eq!(
        inner.len(),
        1,
        "the inner history starts again with the outer attempt"
    );
}

#[test]
fn for_each_tries_each_value_in_turn() {
    let log = Log::default();
    let tried = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&tried);
    let connect = FnTask::new("connect")
        .requires(["host"])
        .provides("connection")
        .run(move |call| {
            let host: String = call.arg(0)?;
            seen.lock().unwrap().push(host.clone());
            if host == "c" {
                Ok(json!(format!("connected to {host}")))
            } else {
                Err(Failure::new(FailureKind::Task, format!("{host} is down")))
            }
        });
    let flow = Flow::linear("pick").add(step(&log, "start", &[], "s")).add(
        Flow::linear("try_hosts")
            .add(connect)
            .retry(RetryAtom::new("hosts", ForEach::new(["a", "b", "c", "d"])).provides("host")),
    );
    let done = Engine::new(flow).run().unwrap();
    assert_eq!(done.get::<String>("connection").unwrap(), "connected to c");
    assert_eq!(*tried.lock().unwrap(), ["a", "b", "c"]);
    let history = done.storage().retry_history("hosts").unwrap();
    let values: Vec<&Value> = history.values().collect();
    assert_eq!(values, [&json!("a"), &json!("b"), &json!("c")]);
}

fn always_down() -> FnTask {
    FnTask::new("connect").requires(["host"]).run(|call| {
        let host: String = call.arg(0)?;
        Err(Failure::new(FailureKind::Task, format!("{host} is down")))
    })
}

#[test]
fn for_each_gives_up_when_every_value_failed() {
    let flow = Flow::linear("pick").add(
        Flow::linear("try_hosts")
            .add(always_down())
            .retry(RetryAtom::new("hosts", ForEach::new(["a", "b"])).provides("host")),
    );
    let mut engine = Engine::new(flow);
    let err = engine.run().unwrap_err();
    assert_eq!(
        err.to_string(),
        "flow `pick` was reverted: task `connect` failed: b is down"
    );
    assert_eq!(engine.flow_state(), FlowState::Reverted);
}

#[test]
fn parameterized_for_each_reads_its_values_from_the_flow() {
    let make =
        || {
            Flow::linear("pick").add(Flow::linear("try_hosts").add(always_down()).retry(
                RetryAtom::new("hosts", ParameterizedForEach::new("hosts")).provides("host"),
            ))
        };
    let mut engine = Engine::new(make()).input("hosts", ["x", "y", "z"]);
    let err = engine.run().unwrap_err();
    assert_eq!(
        err.to_string(),
        "flow `pick` was reverted: task `connect` failed: z is down"
    );
    let storage = engine.storage().unwrap();
    let values: Vec<&Value> = storage.retry_history("hosts").unwrap().values().collect();
    assert_eq!(values, [&json!("x"), &json!("y"), &json!("z")]);

    // Its values are a requirement like any other.
    let err = Engine::new(make()).run().unwrap_err();
    assert_eq!(
        err.to_string(),
        "flow `pick`: retry `hosts` requires `hosts`, which no input or earlier task provides"
    );
    // Values of the wrong type fail the retry atom, naming it.
    let mut engine = Engine::new(make()).input("hosts", "not a list");
    let err = engine.run().unwrap_err();
    assert_eq!(err.failure().unwrap().kind(), FailureKind::Argument);
    assert!(
        err.to_string().starts_with(
            "flow `pick` was reverted: task `hosts` failed: task `hosts`: argument `hosts`"
        ),
        "{err}"
    );
    // No values at all: the retry says so.
    let err = Engine::new(make())
        .input("hosts", Vec::<String>::new())
        .run()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "flow `pick` was reverted: task `hosts` failed: retry `hosts` has no values to try"
    );
}

/// Retries while the failure says "busy"; gives up on anything else.
struct WhileBusy;

impl Retry for WhileBusy {
    fn on_failure(&self, call: &RetryCall<'_>) -> Decision {
        let busy = call
            .history()
            .last()
            .is_some_and(|a| a.failures.iter().all(|(_, f)| f.message().contains("busy")));
        if busy {
            Decision::Retry
        } else {
            Decision::RevertAll
        }
    }
}

#[test]
fn a_custom_retry_decides_from_the_failures() {
    let runs = Arc::new(AtomicU32::new(0));
    let counter = Arc::clone(&runs);
    let task = FnTask::new("book").run(move |_| match counter.fetch_add(1, Ordering::SeqCst) {
        0 | 1 => Err(Failure::new(FailureKind::Task, "host busy")),
        _ => Err(Failure::new(FailureKind::Task, "host on fire")),
    });
    let flow = Flow::linear("booking").add(Flow::linear("sub").add(task).retry(WhileBusy));
    let mut engine = Engine::new(flow);
    let err = engine.run().unwrap_err();
    assert_eq!(
        err.to_string(),
        "flow `booking` was reverted: task `book` failed: host on fire"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 3);
    let history = engine
        .storage()
        .unwrap()
        .retry_history("sub_retry")
        .unwrap();
    let decisions: Vec<Option<Decision>> = history.attempts().iter().map(|a| a.decision).collect();
    assert_eq!(
        decisions,
        [
            Some(Decision::Retry),
            Some(Decision::Retry),
            Some(Decision::RevertAll)
        ]
    );
}

#[test]
fn the_subflow_sees_its_retry_history() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&seen);
    let task = FnTask::new("work").run(move |call| {
        let history = call.retry_history().expect("inside a retry");
        let ctx = call.ctx();
        assert_eq!(ctx.retry_history().map(|h| h.len()), Some(history.len()));
        let previous: Vec<String> = history.failures().map(|(_, f)| f.to_string()).collect();
        record.lock().unwrap().push(previous);
        if history.len() < 3 {
            Err(Failure::new(
                FailureKind::Task,
                format!("attempt {} failed", history.len()),
            ))
        } else {
            Ok(json!(null))
        }
    });
    let flow = Flow::linear("f").add(Flow::linear("sub").add(task).retry(Times::new(5)));
    Engine::new(flow).run().unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        [
            Vec::<String>::new(),
            vec!["attempt 1 failed".to_owned()],
            vec!["attempt 1 failed".to_owned(), "attempt 2 failed".to_owned()],
        ]
    );
}

#[test]
fn a_retry_whose_subflow_revert_fails_ends_the_flow_in_failure() {
    let log = Log::default();
    let l = log.clone();
    let stubborn = FnTask::new("stubborn")
        .provides("s")
        .run(|_| Ok(json!(1)))
        .revert(move |_| {
            l.push("revert:stubborn");
            Err(Failure::new(FailureKind::Task, "cannot undo"))
        });
    let flow = Flow::linear("f").add(step(&log, "before", &[], "b")).add(
        Flow::linear("sub")
            .add(stubborn)
            .add(flaky(&log, "send", 10, ""))
            .retry(RetryAtom::new("again", Times::new(5))),
    );
    for workers in [1, 3] {
        let log_start = log.entries().len() + 1;
        let mut engine = Engine::new(flow.clone()).max_workers(workers);
        let err = engine.run().unwrap_err();
        let RunError::RevertFailed {
            atom,
            revert_atom,
            revert_failure,
            ..
        } = &err
        else {
            panic!("expected a revert failure, got {err}");
        };
        assert_eq!((atom.as_str(), revert_atom.as_str()), ("send", "stubborn"));
        assert_eq!(revert_failure.to_string(), "cannot undo");
        assert_eq!(engine.flow_state(), FlowState::Failure);
        assert_eq!(
            states(&engine, &["before", "again", "stubborn", "send"]),
            [
                AtomState::Success,
                AtomState::Success,
                AtomState::RevertFailure,
                AtomState::Reverted
            ],
            "no new attempt after a failed revert, and nothing before it reverted"
        );
        assert_eq!(
            log.entries()[log_start..],
            ["exec:send", "revert:send", "revert:stubborn"],
            "workers={workers}"
        );
    }
}

/// A controller whose decision panics.
struct Panicky;

impl Retry for Panicky {
    fn on_failure(&self, _call: &RetryCall<'_>) -> Decision {
        panic!("controller bug")
    }
}

#[test]
fn a_panicking_controller_reverts_the_flow_and_says_why() {
    let log = Log::default();
    let flow = Flow::linear("f").add(step(&log, "before", &[], "b")).add(
        Flow::linear("sub")
            .add(flaky(&log, "send", 10, ""))
            .retry(RetryAtom::new("p", Panicky)),
    );
    let mut engine = Engine::new(flow);
    let err = engine.run().unwrap_err();
    assert_eq!(
        err.to_string(),
        "flow `f` was reverted: task `send` failed: boom in send run 1"
    );
    assert_eq!(
        states(&engine, &["before", "p", "send"]),
        [AtomState::Reverted; 3]
    );
    let history = engine.storage().unwrap().retry_history("p").unwrap();
    let failures: Vec<String> = history
        .failures()
        .map(|(a, f)| format!("{a}: {f}"))
        .collect();
    assert_eq!(
        failures,
        [
            "send: boom in send run 1",
            "p: task `p` panicked: controller bug"
        ]
    );
}

#[test]
fn delays_wait_between_attempts() {
    for workers in [1, 2] {
        let flow = Flow::linear("f").add(
            Flow::linear("sub")
                .add(flaky(&Log::default(), "send", 2, ""))
                .retry(
                    RetryAtom::new("r", Times::new(3))
                        .delay(Delay::fixed(Duration::from_millis(40))),
                ),
        );
        let started = Instant::now();
        Engine::new(flow).max_workers(workers).run().unwrap();
        assert!(
            started.elapsed() >= Duration::from_millis(80),
            "two retries wait 40 ms each (workers={workers}): {:?}",
            started.elapsed()
        );
    }
}

#[test]
fn exponential_delays_grow_cap_and_jitter_within_bounds() {
    let ms = Duration::from_millis;
    let backoff = Delay::exponential(ms(10), ms(100));
    let ceilings: Vec<Duration> = (1..=7).map(|a| backoff.ceiling(a)).collect();
    assert_eq!(
        ceilings,
        [ms(0), ms(10), ms(20), ms(40), ms(80), ms(100), ms(100)]
    );
    assert_eq!(
        Delay::exponential(ms(10), ms(1000)).factor(3.0).ceiling(4),
        ms(90)
    );
    let jittered = backoff.jitter(0.5);
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..200 {
        let wait = jittered.before(4);
        assert!(wait >= ms(20) && wait <= ms(40), "{wait:?}");
        seen.insert(wait);
    }
    assert!(seen.len() > 10, "jitter spreads the waits");
    assert_eq!(
        Delay::fixed(ms(5)).before(1),
        ms(0),
        "no wait before the first attempt"
    );
    assert_eq!(Delay::fixed(ms(5)).before(9), ms(5));
}

#[test]
fn a_retry_over_a_graph_subflow_provides_to_all_of_it() {
    let log = Log::default();
    let flow = Flow::linear("f").add(
        Flow::graph("g")
            .add(step(&log, "left", &["attempt"], "l"))
            .add(flaky(&log, "right", 1, "r"))
            .add(step(&log, "join", &["l", "r"], "j"))
            .retry(RetryAtom::new("again", Times::new(2)).provides("attempt")),
    );
    let mut engine = Engine::new(flow);
    let plan = engine.compile().unwrap();
    let again = plan.atom_index("again").unwrap();
    let mut firsts: Vec<&str> = plan
        .graph()
        .raw_edges()
        .iter()
        .filter(|e| e.source().index() == again)
        .map(|e| plan.atoms()[e.target().index()].atom_name())
        .collect();
    firsts.sort();
    assert_eq!(
        firsts,
        ["left", "right"],
        "the retry runs before the graph's sources"
    );
    let done = engine.run().unwrap();
    assert_eq!(done.get::<i64>("l").unwrap(), 3, "left saw attempt 2");
    assert_eq!(done.get::<i64>("j").unwrap(), 3 + 2 + 1);
}

/// Suspends the engine the first time `atom` reaches `state`.
struct SuspendAt(taskwire::Suspender, &'static str, AtomState, AtomicBool);

impl Listener for SuspendAt {
    fn on_atom(&self, event: &AtomEvent<'_>) {
        if event.atom == self.1 && event.state == self.2 && !self.3.swap(true, Ordering::SeqCst) {
            self.0.suspend();
        }
    }
}

#[test]
fn a_run_suspended_mid_retry_goes_on_with_its_history() {
    let log = Log::default();
    let flow = Flow::linear("f").add(step(&log, "before", &[], "b")).add(
        Flow::linear("sub")
            .add(step(&log, "prepare", &[], "p"))
            .add(flaky(&log, "send", 2, "sent"))
            .retry(RetryAtom::new("again", Times::new(3))),
    );
    let engine = Engine::new(flow);
    let suspender = engine.suspender();
    // Suspend while the subflow is being unwound for the second attempt.
    let mut engine = engine.listener(SuspendAt(
        suspender,
        "send",
        AtomState::Reverted,
        AtomicBool::new(false),
    ));
    let done = engine.run().unwrap();
    assert_eq!(done.flow_state(), FlowState::Suspended);
    assert_eq!(engine.atom_state("prepare"), Some(AtomState::Success));
    let done = engine.run().unwrap();
    assert_eq!(done.flow_state(), FlowState::Success);
    assert_eq!(done.get::<u32>("sent").unwrap(), 3);
    assert_eq!(done.storage().retry_history("again").unwrap().len(), 3);
    assert_eq!(
        log.entries(),
        [
            "exec:before",
            "exec:prepare",
            "exec:send",
            "revert:send",
            // suspended here, resumed:
            "revert:prepare:ok",
            "exec:prepare",
            "exec:send",
            "revert:send",
            "revert:prepare:ok",
            "exec:prepare",
            "exec:send",
        ]
    );
}

#[test]
fn a_retry_atom_is_a_named_atom_of_its_flow() {
    let flow = Flow::linear("f").add(
        Flow::linear("sub")
            .add(FnTask::new("x").run(|_| Ok(json!(1))))
            .retry(Times::new(2)),
    );
    let plan = flow.compile(&[]).unwrap();
    let names: Vec<&str> = plan.atoms().iter().map(|a| a.atom_name()).collect();
    assert_eq!(names, ["sub_retry", "x"]);
    assert!(plan.is_retry(0));
    assert!(!plan.is_retry(1));
    // Replacing the retry keeps one.
    let flow = Flow::linear("sub")
        .add(FnTask::new("x").run(|_| Ok(json!(1))))
        .retry(Times::new(2))
        .retry(RetryAtom::new("second", AlwaysRevert));
    let names: Vec<&str> = flow.atoms().iter().map(|a| a.atom_name()).collect();
    assert_eq!(names, ["second", "x"]);
}

/// Counts runs of `send` per test in a process-wide table (factories are
/// plain functions, so their tasks keep counts outside the flow).
static SEND_RUNS: Mutex<Vec<(String, u32)>> = Mutex::new(Vec::new());

fn send_runs(key: &str) -> u32 {
    SEND_RUNS
        .lock()
        .unwrap()
        .iter()
        .find(|(k, _)| k == key)
        .map_or(0, |(_, n)| *n)
}

/// A subflow whose `send` fails its first two runs, under `Times(3)`.
fn retried_send(params: &Value) -> Result<Flow, String> {
    let key = params["key"]
        .as_str()
        .ok_or("`key` must be a string")?
        .to_owned();
    let send = FnTask::new("send").provides("sent").run(move |_| {
        let mut runs = SEND_RUNS.lock().unwrap();
        let run = match runs.iter_mut().find(|(k, _)| *k == key) {
            Some((_, n)) => {
                *n += 1;
                *n
            }
            None => {
                runs.push((key.clone(), 1));
                1
            }
        };
        if run <= 2 {
            Err(Failure::new(FailureKind::Task, format!("run {run} failed")))
        } else {
            Ok(json!(run))
        }
    });
    Ok(Flow::linear("persisted").add(
        Flow::linear("sub")
            .add(send)
            .retry(RetryAtom::new("again", Times::new(3)).provides("attempt")),
    ))
}

taskwire::flow_factory!("tests::retried_send", retried_send);

#[test]
fn a_retry_history_is_in_the_logbook_and_a_resumed_run_goes_on_with_it() {
    let backend = taskwire::persistence::open("memory://").unwrap();
    let engine = Engine::from_factory("tests::retried_send", json!({"key": "resume"}))
        .unwrap()
        .persist(Arc::clone(&backend));
    let suspender = engine.suspender();
    // Suspend once the retry has gone RETRYING for the second attempt.
    let mut engine = engine.listener(SuspendAt(
        suspender,
        "send",
        AtomState::Pending,
        AtomicBool::new(false),
    ));
    let done = engine.run().unwrap();
    assert_eq!(done.flow_state(), FlowState::Suspended);
    let uuid = engine.flow_uuid().unwrap();
    drop(engine);

    let (_, atoms) = backend.load_flow(uuid).unwrap();
    let again = atoms.iter().find(|a| a.name == "again").unwrap();
    assert_eq!(again.atom_type, taskwire::AtomType::Retry);
    assert_eq!(again.state, AtomState::Retrying);
    assert_eq!(
        again.meta["history"],
        json!({"attempts": [{
            "value": 1,
            "failures": [["send", {"kind": "task", "type_name": "taskwire::Failure", "message": "run 1 failed", "causes": []}]],
            "decision": "RETRY"
        }]})
    );
    let send = atoms.iter().find(|a| a.name == "send").unwrap();
    assert_eq!(send.state, AtomState::Pending);
    assert!(
        send.failure.is_none(),
        "a reset atom's failure lives on in the history only"
    );

    let mut engine = Engine::resume(Arc::clone(&backend), uuid).unwrap();
    let done = engine.run().unwrap();
    assert_eq!(done.get::<u32>("sent").unwrap(), 3);
    assert_eq!(done.get::<u32>("attempt").unwrap(), 3);
    assert_eq!(send_runs("resume"), 3, "no attempt ran twice");
    let history = done.storage().retry_history("again").unwrap();
    assert_eq!(history.len(), 3);
    let (detail, atoms) = backend.load_flow(uuid).unwrap();
    assert_eq!(detail.state, FlowState::Success);
    let again = atoms.iter().find(|a| a.name == "again").unwrap();
    assert_eq!(
        again.meta["history"]["attempts"].as_array().unwrap().len(),
        3
    );
}

#[test]
fn a_corrupt_retry_history_is_an_error_naming_the_atom() {
    let backend = taskwire::persistence::open("memory://").unwrap();
    let engine = Engine::from_factory("tests::retried_send", json!({"key": "corrupt"}))
        .unwrap()
        .persist(Arc::clone(&backend));
    let suspender = engine.suspender();
    let mut engine = engine.listener(SuspendAt(
        suspender,
        "send",
        AtomState::Pending,
        AtomicBool::new(false),
    ));
    engine.run().unwrap();
    let uuid = engine.flow_uuid().unwrap();
    drop(engine);
    let (_, atoms) = backend.load_flow(uuid).unwrap();
    let mut again = atoms.into_iter().find(|a| a.name == "again").unwrap();
    again.meta["history"] = json!({"attempts": "garbage"});
    backend.save_atom(&again, None).unwrap();
    let err = Engine::resume(Arc::clone(&backend), uuid)
        .unwrap()
        .run()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("flow detail {uuid}: atom `again`: its retry history (`meta.history`) cannot be read: invalid type: string \"garbage\", expected a sequence")
    );
}

/// Reads a value it did not declare.
struct ReadsUndeclared;

impl Retry for ReadsUndeclared {
    fn execute(&self, call: &RetryCall<'_>) -> Result<Value, Failure> {
        call.get::<Value>("budget")
    }

    fn on_failure(&self, _call: &RetryCall<'_>) -> Decision {
        Decision::RevertAll
    }
}

#[test]
fn a_controller_reading_a_value_it_does_not_require_fails_saying_so() {
    let flow = Flow::linear("f").add(
        Flow::linear("sub")
            .add(FnTask::new("x").run(|_| Ok(json!(1))))
            .retry(RetryAtom::new("r", ReadsUndeclared)),
    );
    // Nothing declares `budget`: the engine refuses the input by default.
    let refused = Engine::new(flow.clone())
        .input("budget", 3)
        .run()
        .unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("input `budget` is given, but no task reads it"),
        "{refused}"
    );
    // Allowed, the controller's undeclared read fails when it runs.
    let mut engine = Engine::new(flow).allow_unused_inputs().input("budget", 3);
    let err = engine.run().unwrap_err();
    assert_eq!(
        err.to_string(),
        "flow `f` was reverted: task `r` failed: retry `r` reads `budget`, but does not require it: add it with `RetryAtom::requires`"
    );
    assert_eq!(err.failure().unwrap().kind(), FailureKind::Argument);
}
