//! Tasks made with `#[task]`: metadata, registry, calling conventions, reverts.

use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use taskwire::prelude::*;
use taskwire::{ParamKind, Provides, Registry, RegistryError, Version};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Spec {
    size: u64,
}

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("no room for {0} GiB")]
struct NoRoom(u64);

#[derive(Default)]
struct Journal(Mutex<Vec<String>>);

impl Journal {
    fn push(&self, s: impl Into<String>) {
        self.0.lock().unwrap().push(s.into());
    }
    fn entries(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

#[task(provides = "spec", version = "2.3")]
fn make_spec(size: u64, label: Option<String>) -> Spec {
    let _ = label;
    Spec { size }
}

#[task(provides = ["low", "high"])]
fn split(spec: Spec) -> (u64, u64) {
    (spec.size / 2, spec.size - spec.size / 2)
}

#[task(provides = "total", revert_with = undo_total, name = "custom.total")]
fn total(low: u64, high: u64, journal: Res<Journal>) -> Result<u64, NoRoom> {
    journal.push("total");
    if low + high > 100 {
        return Err(NoRoom(low + high));
    }
    Ok(low + high)
}

fn undo_total(
    low: u64,
    high: u64,
    journal: Res<Journal>,
    outcome: Outcome<u64>,
    failures: Failures,
) {
    journal.push(format!(
        "undo_total({low},{high}) outcome={} failures={:?}",
        match outcome {
            Outcome::Success(v) => format!("ok:{v}"),
            Outcome::Failure(f) => format!("failed:{f}"),
        },
        failures
            .iter()
            .map(|(a, _)| a.to_owned())
            .collect::<Vec<_>>()
    ));
}

#[task(provides = "checked", requires = ["limit"])]
fn check(total: u64, ctx: TaskCtx) -> Result<bool, taskwire::Failure> {
    let limit: u64 = ctx.get("limit")?;
    Ok(total <= limit)
}

#[task(provides = "late", revert_with = undo_wait)]
async fn wait(total: u64, journal: Res<Journal>) -> Result<u64, NoRoom> {
    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    journal.push("wait");
    Ok(total + 1)
}

async fn undo_wait(_total: u64, journal: Res<Journal>, outcome: Outcome<u64>, _failures: Failures) {
    journal.push(format!("undo_wait ok={}", outcome.is_success()));
}

#[task]
fn explode(late: u64) -> Result<(), NoRoom> {
    Err(NoRoom(late))
}

fn flow() -> Flow {
    Flow::linear("volumes")
        .add(make_spec::task())
        .add(split::task())
        .add(total::task())
        .add(check::task())
        .add(wait::task())
}

#[test]
fn the_function_stays_callable() {
    assert_eq!(make_spec(3, None), Spec { size: 3 });
    assert_eq!(split(Spec { size: 5 }), (2, 3));
}

#[test]
fn metadata_comes_from_the_signature_and_options() {
    let meta = &<make_spec as Task>::DEF.meta;
    assert_eq!(meta.name, "test_task::make_spec");
    assert_eq!(meta.version, Version::new(2, 3));
    assert_eq!(meta.requires().collect::<Vec<_>>(), ["size"]);
    assert_eq!(meta.optional().collect::<Vec<_>>(), ["label"]);
    assert_eq!(meta.provides, Provides::One("spec".into()));
    assert!(meta.location.file.ends_with("test_task.rs"));
    assert!(meta.revert.is_none());

    let total = &<total as Task>::DEF.meta;
    assert_eq!(total.name, "custom.total");
    assert_eq!(total.version, Version::new(1, 0));
    assert_eq!(total.params[2].kind, ParamKind::Resource);
    assert_eq!(total.revert.as_deref(), Some("undo_total"));
    assert_eq!(<split as Task>::DEF.meta.provides.names(), ["low", "high"]);
    assert_eq!(
        <check as Task>::DEF.meta.requires().collect::<Vec<_>>(),
        ["total", "limit"]
    );
    assert!(<wait as Task>::DEF.meta.is_async);
}

#[test]
fn tasks_are_registered_and_found_by_name() {
    let registry = Registry::global().unwrap();
    let found = registry.get("custom.total").unwrap();
    assert_eq!(found.meta.provides, Provides::One("total".into()));
    assert!(registry.iter().any(|t| t.meta.name == "test_task::wait"));
    assert_eq!(
        registry.get("test_task::mak_spec").unwrap_err().to_string(),
        "no task is registered under the name `test_task::mak_spec` (did you mean `test_task::make_spec`?)"
    );
    assert_eq!(
        registry.get("nothing_like_it").unwrap_err().to_string(),
        "no task is registered under the name `nothing_like_it`"
    );
    // A registered task can be added to a flow by name.
    let flow = Flow::linear("by_name").add(registry.spec("test_task::make_spec").unwrap());
    let done = Engine::new(flow).input("size", 4).run().unwrap();
    assert_eq!(done.get::<Spec>("spec").unwrap(), Spec { size: 4 });
}

#[test]
fn two_tasks_with_one_name_are_an_error() {
    let mut registry = Registry::new();
    registry.register(<make_spec as Task>::DEF).unwrap();
    let twin = FnTask::new("test_task::make_spec").into_def();
    let err = registry.register(twin).unwrap_err();
    assert!(
        matches!(&err, RegistryError::Duplicate { name, .. } if name == "test_task::make_spec")
    );
    assert!(
        err.to_string().starts_with(
            "two tasks are named `test_task::make_spec`: one defined at tests/test_task.rs:"
        ),
        "{err}"
    );
}

#[test]
fn a_flow_of_sync_and_async_tasks_runs() {
    let journal = Arc::new(Journal::default());
    let done = Engine::new(flow())
        .input("size", 9)
        .input("limit", 10)
        .resource_arc(journal.clone())
        .run()
        .unwrap();
    assert_eq!(done.get::<u64>("low").unwrap(), 4);
    assert_eq!(done.get::<u64>("high").unwrap(), 5);
    assert!(done.get::<bool>("checked").unwrap());
    assert_eq!(done.get::<u64>("late").unwrap(), 10);
    assert_eq!(journal.entries(), ["total", "wait"]);
}

#[test]
fn reverts_get_the_arguments_the_outcome_and_the_failures() {
    let journal = Arc::new(Journal::default());
    let err = Engine::new(flow().add(explode::task()))
        .input("size", 9)
        .input("limit", 10)
        .resource_arc(journal.clone())
        .run()
        .unwrap_err();
    assert_eq!(err.downcast_ref::<NoRoom>(), Some(&NoRoom(10)));
    assert_eq!(
        journal.entries(),
        [
            "total",
            "wait",
            "undo_wait ok=true",
            "undo_total(4,5) outcome=ok:9 failures=[\"test_task::explode\"]",
        ]
    );
}

#[test]
fn the_failing_task_is_reverted_with_its_failure() {
    let journal = Arc::new(Journal::default());
    let err = Engine::new(flow())
        .input("size", 300)
        .input("limit", 10)
        .resource_arc(journal.clone())
        .run()
        .unwrap_err();
    assert_eq!(err.downcast_ref::<NoRoom>(), Some(&NoRoom(300)));
    assert_eq!(
        journal.entries(),
        [
            "total",
            "undo_total(150,150) outcome=failed:no room for 300 GiB failures=[\"custom.total\"]"
        ]
    );
}

#[test]
fn a_value_of_the_wrong_type_names_task_argument_and_type() {
    let err = Engine::new(Flow::linear("typed").add(make_spec::task()))
        .input("size", "big")
        .run()
        .unwrap_err();
    assert_eq!(
        err.failure().unwrap().to_string(),
        "task `test_task::make_spec`: argument `size` expects `u64`, but its value cannot be decoded: invalid type: string \"big\", expected u64"
    );
}

#[test]
fn a_missing_resource_names_task_and_type() {
    // Found when the engine compiles the flow, before anything runs (more
    // in tests/test_types.rs).
    let mut engine = Engine::new(flow()).input("size", 9).input("limit", 10);
    let err = engine.run().unwrap_err();
    assert!(err.failure().is_none(), "no task ran: {err}");
    assert_eq!(
        err.to_string(),
        "flow `volumes`: tasks `custom.total` and `test_task::wait` need a resource of type `Journal`, but the engine has none: add it with `Engine::resource`"
    );
    assert_eq!(engine.atom_state("test_task::make_spec"), None);
}

#[test]
fn a_context_value_not_provided_is_a_missing_requirement() {
    let err = Engine::new(flow())
        .input("size", 9)
        .resource(Journal::default())
        .run()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "flow `volumes`: task `test_task::check` requires `limit`, which no input or earlier task provides"
    );
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Load {
    host: String,
    ratios: Vec<f64>,
}

#[task(provides = "load")]
fn measure_load(samples: u64) -> Load {
    // 0 samples: 0.0 / 0.0, a NaN that JSON cannot hold.
    let busy = 0.0f64;
    let ratio = busy / samples as f64;
    Load {
        host: "host-a".into(),
        ratios: vec![0.5, ratio],
    }
}

#[task(provides = "reported")]
fn report_load(load: Load) -> usize {
    load.ratios.len()
}

/// A NaN or an infinity in a result fails the task that produced it, naming
/// the task and the place in the value; the flow is reverted and no consumer
/// ever sees a `null` instead of a number.
#[test]
fn a_non_finite_result_fails_its_task_naming_where_it_is() {
    let flow = || {
        Flow::linear("load")
            .add(measure_load::task())
            .add(report_load::task())
    };
    let err = Engine::new(flow()).input("samples", 0).run().unwrap_err();
    let failure = err.failure().expect("a task failed");
    assert_eq!(failure.kind(), taskwire::FailureKind::Result);
    assert_eq!(
        err.to_string(),
        "flow `load` was reverted: task `test_task::measure_load` failed: task `test_task::measure_load`: its result of type `Load` has at `.ratios[1]` the non-finite number NaN, which JSON cannot hold (it would be stored as null); make it finite, or store it as a string or an `Option`"
    );
    // A finite one goes through.
    let done = Engine::new(flow()).input("samples", 4).run().unwrap();
    assert_eq!(done.get::<usize>("reported").unwrap(), 2);
}

/// A non-finite engine input (or injected value) stops the flow before it
/// starts, naming the input.
#[test]
fn a_non_finite_input_is_refused_before_the_run() {
    let flow = Flow::linear("scale").add(
        FnTask::new("scale")
            .requires(["factor"])
            .provides("scaled")
            .run(|call| Ok(serde_json::json!(call.arg::<f64>(0)? * 2.0))),
    );
    let err = Engine::new(flow)
        .input("factor", f64::INFINITY)
        .run()
        .unwrap_err();
    assert!(matches!(err, taskwire::RunError::Invalid(_)), "{err}");
    assert_eq!(
        err.to_string(),
        "flow `scale`: the value for `factor` of the engine input cannot be encoded: it is the non-finite number inf, which JSON cannot hold (it would be stored as null); make it finite, or store it as a string or an `Option`"
    );
    let injected = Flow::linear("scale").add(
        FnTask::new("scale")
            .requires(["factor"])
            .provides("scaled")
            .run(|call| Ok(serde_json::json!(call.arg::<f64>(0)? * 2.0)))
            .into_spec()
            .inject("factor", vec![1.0, f64::NAN]),
    );
    let err = Engine::new(injected).run().unwrap_err();
    assert!(
        err.to_string()
            .contains("has at `[1]` the non-finite number NaN"),
        "{err}"
    );
}

#[test]
fn a_task_taking_a_resource_is_called_directly_with_res_new() {
    // `#[task]` leaves the function plain Rust: a unit test hands it its
    // resource with `Res::new`, no engine involved.
    let journal = Res::new(Journal::default());
    assert_eq!(total(2, 3, journal.clone()), Ok(5));
    assert_eq!(total(60, 50, journal.clone()), Err(NoRoom(110)));
    assert_eq!(journal.entries(), ["total", "total"]);
    // A handle shared with the caller (or an engine): the same journal.
    let shared = Arc::new(Journal::default());
    assert_eq!(total(1, 1, Res::from_arc(Arc::clone(&shared))), Ok(2));
    assert_eq!(total(1, 2, Res::from(Arc::clone(&shared))), Ok(3));
    assert_eq!(shared.entries(), ["total", "total"]);
}
