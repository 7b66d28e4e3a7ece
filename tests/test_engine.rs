//! The serial engine: order, values, reverts, failures, listeners, sync and async.

mod common;

use std::sync::Arc;

use common::{failing, step, BoomError, Log};
use serde_json::json;
use taskwire::{
    AtomState, CapturingListener, Engine, FailureKind, Flow, FlowState, FnTask, RunError,
};

#[test]
fn atoms_run_in_order_and_pass_values_by_name() {
    let log = Log::default();
    let flow = Flow::linear("chain")
        .add(step(&log, "a", &["seed"], "x"))
        .add(step(&log, "b", &["x"], "y"))
        .add(step(&log, "c", &["x", "y"], "z"));
    let done = Engine::new(flow).input("seed", 1).run().unwrap();
    assert_eq!(log.entries(), ["exec:a", "exec:b", "exec:c"]);
    assert_eq!(done.get::<i64>("z").unwrap(), 1 + 2 + 3);
    assert_eq!(done.flow_state(), FlowState::Success);
    assert_eq!(done.atom_state("c"), Some(AtomState::Success));
}

#[test]
fn ready_atoms_run_in_the_order_they_were_added() {
    let log = Log::default();
    let flow = Flow::unordered("u")
        .add(step(&log, "z", &[], "a"))
        .add(step(&log, "y", &[], "b"))
        .add(step(&log, "x", &[], "c"));
    Engine::new(flow).run().unwrap();
    assert_eq!(log.entries(), ["exec:z", "exec:y", "exec:x"]);
}

#[test]
fn a_failure_reverts_the_failed_task_first_then_the_others_newest_first() {
    let log = Log::default();
    let capture = Arc::new(CapturingListener::new());
    let flow = Flow::linear("create_volume")
        .add(step(&log, "a", &[], "x"))
        .add(step(&log, "b", &["x"], "y"))
        .add(failing(&log, "c", &["y"]))
        .add(step(&log, "d", &[], "w"));
    let mut engine = Engine::new(flow).listener(capture.clone());
    let err = engine.run().unwrap_err();

    assert_eq!(
        log.entries(),
        [
            "exec:a",
            "exec:b",
            "exec:c",
            "revert:c:failures=1",
            "revert:b:ok",
            "revert:a:ok"
        ]
    );
    assert_eq!(
        err.to_string(),
        "flow `create_volume` was reverted: task `c` failed: boom in c"
    );
    assert_eq!(
        err.downcast_ref::<BoomError>(),
        Some(&BoomError("c".into())),
        "the task's own error comes back"
    );
    assert_eq!(engine.flow_state(), FlowState::Reverted);
    assert_eq!(
        engine.atom_state("d"),
        Some(AtomState::Pending),
        "never ran"
    );
    assert_eq!(
        capture.flow_states(),
        [
            FlowState::Running,
            FlowState::Reverting,
            FlowState::Reverted
        ]
    );
    assert_eq!(
        capture.atom_states("c"),
        [
            AtomState::Running,
            AtomState::Failure,
            AtomState::Reverting,
            AtomState::Reverted
        ]
    );
    assert_eq!(
        capture.atom_states("a"),
        [
            AtomState::Running,
            AtomState::Success,
            AtomState::Reverting,
            AtomState::Reverted
        ]
    );
}

#[test]
fn a_failed_revert_ends_the_flow_in_failure_and_stops_reverting() {
    let log = Log::default();
    let l = log.clone();
    let bad_revert = FnTask::new("b")
        .provides("y")
        .run(|_| Ok(json!(1)))
        .revert(move |_| {
            l.push("revert:b");
            Err(taskwire::Failure::from_error(BoomError(
                "revert of b".into(),
            )))
        });
    let flow = Flow::linear("f")
        .add(step(&log, "a", &[], "x"))
        .add(bad_revert)
        .add(failing(&log, "c", &[]));
    let mut engine = Engine::new(flow);
    let err = engine.run().unwrap_err();
    assert_eq!(
        log.entries(),
        ["exec:a", "exec:c", "revert:c:failures=1", "revert:b"]
    );
    assert_eq!(engine.flow_state(), FlowState::Failure);
    assert_eq!(engine.atom_state("b"), Some(AtomState::RevertFailure));
    assert_eq!(
        engine.atom_state("a"),
        Some(AtomState::Success),
        "atoms before it are not reverted"
    );
    match &err {
        RunError::RevertFailed {
            atom,
            failure,
            revert_atom,
            revert_failure,
            ..
        } => {
            assert_eq!(atom, "c");
            assert_eq!(failure.to_string(), "boom in c");
            assert_eq!(revert_atom, "b");
            assert_eq!(revert_failure.to_string(), "boom in revert of b");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(
        err.to_string(),
        "flow `f` failed: task `c` failed (boom in c), then reverting task `b` failed: boom in revert of b"
    );
    assert!(err.downcast_ref::<BoomError>().is_some());
}

#[test]
fn a_value_of_the_wrong_type_fails_the_task_with_a_message_and_reverts() {
    let log = Log::default();
    let flow = Flow::linear("typed")
        .add(step(&log, "a", &[], "x"))
        .add(step(&log, "b", &["size"], "y"));
    let mut engine = Engine::new(flow).input("size", "ten");
    let err = engine.run().unwrap_err();
    let failure = err.failure().unwrap();
    assert_eq!(failure.kind(), FailureKind::Argument);
    assert_eq!(
        failure.to_string(),
        "task `b`: argument `size` expects `i64`, but its value cannot be decoded: invalid type: string \"ten\", expected i64"
    );
    assert_eq!(
        engine.atom_state("b"),
        Some(AtomState::Reverted),
        "never stuck in RUNNING"
    );
    // b's function never ran, so its revert is not called; a's is.
    assert_eq!(log.entries(), ["exec:a", "revert:a:ok"]);
}

#[test]
fn a_missing_resource_names_task_and_type() {
    struct QuotaClient;
    let flow = Flow::linear("r").add(FnTask::new("reserve").run(|call| {
        let _client = call.resource::<QuotaClient>()?;
        Ok(json!(null))
    }));
    let err = Engine::new(flow).run().unwrap_err();
    assert!(
        err.failure().unwrap().to_string().starts_with("task `reserve` needs a resource of type `test_engine::a_missing_resource_names_task_and_type::QuotaClient`, but the engine has none"),
        "{err}"
    );
}

#[test]
fn resources_are_handed_over_by_type() {
    struct Counter(std::sync::atomic::AtomicU32);
    let flow = Flow::linear("r").add(FnTask::new("a").run(|call| {
        call.resource::<Counter>()?
            .0
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(json!(null))
    }));
    let counter = Arc::new(Counter(0.into()));
    Engine::new(flow)
        .resource_arc(counter.clone())
        .run()
        .unwrap();
    assert_eq!(counter.0.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[test]
fn a_panicking_task_is_a_failure_not_a_crash() {
    let log = Log::default();
    let flow = Flow::linear("p")
        .add(step(&log, "a", &[], "x"))
        .add(FnTask::new("bad").run(|_| panic!("disk on fire")));
    let mut engine = Engine::new(flow);
    let err = engine.run().unwrap_err();
    assert_eq!(err.failure().unwrap().kind(), FailureKind::Panic);
    assert_eq!(
        err.failure().unwrap().to_string(),
        "task `bad` panicked: disk on fire"
    );
    assert_eq!(engine.flow_state(), FlowState::Reverted);
    assert_eq!(log.entries(), ["exec:a", "revert:a:ok"]);
}

#[test]
fn a_result_that_does_not_match_provides_fails_the_task() {
    let log = Log::default();
    let flow = Flow::linear("p").add(step(&log, "a", &[], "x")).add(
        FnTask::new("pair")
            .provides_each(["l", "r"])
            .run(|_| Ok(json!([1, 2, 3]))),
    );
    let err = Engine::new(flow).run().unwrap_err();
    assert_eq!(err.failure().unwrap().kind(), FailureKind::Result);
    assert_eq!(
        err.failure().unwrap().to_string(),
        "task `pair` provides 2 values (`l`, `r`), but its result is a sequence of 3"
    );
    assert_eq!(log.entries(), ["exec:a", "revert:a:ok"]);
}

#[test]
fn tuple_results_are_provided_element_by_element() {
    let flow = Flow::linear("t")
        .add(
            FnTask::new("split")
                .provides_each(["l", "r"])
                .run(|_| Ok(json!(["left", 2]))),
        )
        .add(
            FnTask::new("join")
                .requires(["l", "r"])
                .provides("j")
                .run(|call| {
                    Ok(json!(format!(
                        "{}{}",
                        call.arg::<String>(0)?,
                        call.arg::<u8>(1)?
                    )))
                }),
        );
    let done = Engine::new(flow).run().unwrap();
    assert_eq!(done.get::<String>("j").unwrap(), "left2");
    assert_eq!(done.get::<u8>("r").unwrap(), 2);
}

#[test]
fn done_get_reports_missing_and_mistyped_values() {
    let log = Log::default();
    let done = Engine::new(Flow::linear("v").add(step(&log, "a", &[], "x")))
        .run()
        .unwrap();
    assert_eq!(
        done.get::<String>("y").unwrap_err().to_string(),
        "flow `v`: no task or input provides `y`"
    );
    assert_eq!(
        done.get::<String>("x").unwrap_err().to_string(),
        "flow `v`: value `x` cannot be decoded as `String`: invalid type: integer `1`, expected a string"
    );
}

#[test]
fn an_ended_flow_is_not_run_twice() {
    let log = Log::default();
    let mut engine = Engine::new(Flow::linear("once").add(step(&log, "a", &[], "x")));
    engine.run().unwrap();
    let again = engine.run().unwrap();
    assert_eq!(again.get::<i64>("x").unwrap(), 1);
    assert_eq!(log.entries(), ["exec:a"], "the task ran once");

    let mut failed = Engine::new(Flow::linear("f").add(failing(&log, "b", &[])));
    failed.run().unwrap_err();
    let err = failed.run().unwrap_err();
    assert!(
        err.downcast_ref::<BoomError>().is_some(),
        "the same failure again: {err}"
    );
    assert_eq!(log.entries().iter().filter(|e| *e == "exec:b").count(), 1);
}

#[test]
fn validation_errors_come_back_from_run_before_anything_runs() {
    let log = Log::default();
    let flow =
        Flow::linear("v")
            .add(step(&log, "a", &[], "x"))
            .add(step(&log, "b", &["nope"], "y"));
    let err = Engine::new(flow).run().unwrap_err();
    assert!(matches!(err, RunError::Invalid(_)));
    assert!(log.entries().is_empty());
}

fn async_flow(log: &Log) -> Flow {
    let l = log.clone();
    Flow::linear("async").add(step(log, "a", &[], "x")).add(
        FnTask::new("wait")
            .requires(["x"])
            .provides("y")
            .run_async(move |call| {
                let x: i64 = match call.arg(0) {
                    Ok(x) => x,
                    Err(f) => return Box::pin(async move { Err(f) }),
                };
                let l = l.clone();
                Box::pin(async move {
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                    l.push("exec:wait");
                    Ok(json!(x * 10))
                })
            }),
    )
}

#[test]
fn async_tasks_run_from_plain_main_without_a_runtime() {
    let log = Log::default();
    let done = Engine::new(async_flow(&log)).run().unwrap();
    assert_eq!(done.get::<i64>("y").unwrap(), 10);
    assert_eq!(log.entries(), ["exec:a", "exec:wait"]);
}

#[tokio::test]
async fn async_tasks_run_inside_tokio() {
    let log = Log::default();
    let done = Engine::new(async_flow(&log)).run_async().await.unwrap();
    assert_eq!(done.get::<i64>("y").unwrap(), 10);
    // The blocking `run` also works from inside a runtime.
    let done = Engine::new(async_flow(&log)).run().unwrap();
    assert_eq!(done.get::<i64>("y").unwrap(), 10);
}

#[test]
fn a_panic_inside_an_async_task_is_a_failure() {
    let flow = Flow::linear("p")
        .add(FnTask::new("bad").run_async(|_| Box::pin(async { panic!("async fire") })));
    let err = Engine::new(flow).run().unwrap_err();
    assert_eq!(
        err.failure().unwrap().to_string(),
        "task `bad` panicked: async fire"
    );
}

#[test]
fn listeners_see_every_change_in_order_with_results() {
    let log = Log::default();
    let capture = Arc::new(CapturingListener::new());
    let flow = Flow::linear("l")
        .add(step(&log, "a", &[], "x"))
        .add(step(&log, "b", &["x"], "y"));
    Engine::new(flow).listener(capture.clone()).run().unwrap();
    assert_eq!(
        capture.atom_transitions(),
        [
            ("a".into(), AtomState::Running),
            ("a".into(), AtomState::Success),
            ("b".into(), AtomState::Running),
            ("b".into(), AtomState::Success),
        ]
    );
    assert_eq!(
        capture.flow_states(),
        [FlowState::Running, FlowState::Success]
    );
    let results: Vec<_> = capture
        .events()
        .into_iter()
        .filter_map(|e| match e {
            taskwire::Captured::Atom {
                result: Some(r), ..
            } => Some(r),
            _ => None,
        })
        .collect();
    assert_eq!(results, [json!(1), json!(2)]);
}

#[test]
fn the_tracing_listener_logs_transitions() {
    use std::io::Write;
    #[derive(Clone, Default)]
    struct Buf(Arc<std::sync::Mutex<Vec<u8>>>);
    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Buf::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    let log = Log::default();
    tracing::subscriber::with_default(subscriber, || {
        let flow = Flow::linear("traced").add(failing(&log, "boom", &[]));
        Engine::new(flow)
            .listener(taskwire::TracingListener)
            .run()
            .unwrap_err();
    });
    let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    assert!(text.contains("flow RUNNING"), "{text}");
    assert!(
        text.contains("atom FAILURE") && text.contains("boom in boom"),
        "{text}"
    );
    assert!(text.contains("flow REVERTED"), "{text}");
}

#[test]
fn an_invalid_flow_gives_the_same_errors_on_every_run() {
    let log = Log::default();
    let mut engine = Engine::new(Flow::linear("v").add(step(&log, "a", &["nope"], "x")));
    let first = engine.run().unwrap_err().to_string();
    let second = engine.run().unwrap_err().to_string();
    assert_eq!(first, second);
    assert_eq!(
        first,
        "flow `v`: task `a` requires `nope`, which no input or earlier task provides"
    );
}
