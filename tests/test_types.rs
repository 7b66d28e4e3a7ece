//! Run-time type checks of flows built with the builder: `#[task]` records
//! each parameter's and each output's type, so that `Flow::compile` and
//! `Engine::compile` refuse a provider whose type is not the one its
//! consumer takes — in `flow!`'s words — and the engine refuses, before
//! anything runs, tasks that take a resource it was not given.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use serde_json::json;
use taskwire::engine::executor::{Executor, Request};
use taskwire::persistence::{Backend, MemoryBackend};
use taskwire::prelude::*;
use taskwire::{BoxFuture, FlowError, RunError, TaskMeta};

/// How many task bodies ran (each test has tasks of its own, counting here
/// under its own index).
static RAN: [AtomicUsize; 8] = [const { AtomicUsize::new(0) }; 8];

fn ran(test: usize) -> usize {
    RAN[test].load(Ordering::SeqCst)
}

fn mark(test: usize) {
    RAN[test].fetch_add(1, Ordering::SeqCst);
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Reservation {
    size: u64,
}

type Gib = u64;

// Test 0: the mismatch.
#[task(provides = "size", name = "measure_size")]
fn measure_size(spec: String) -> u32 {
    mark(0);
    spec.len() as u32
}

#[task(provides = "reservation", name = "reserve_quota")]
fn reserve_quota(size: u64) -> Reservation {
    mark(0);
    Reservation { size }
}

fn errors(result: Result<impl Sized, RunError>) -> Vec<FlowError> {
    match result {
        Err(RunError::Invalid(errors)) => errors.errors().to_vec(),
        Err(other) => panic!("expected an invalid flow, got {other}"),
        Ok(_) => panic!("expected an invalid flow, it compiled"),
    }
}

fn messages(errors: &[FlowError]) -> Vec<String> {
    errors.iter().map(ToString::to_string).collect()
}

#[test]
fn a_provider_of_another_type_is_refused_before_anything_runs() {
    let flow = Flow::linear("create_volume")
        .add(measure_size::task())
        .add(reserve_quota::task());
    let backend = Arc::new(MemoryBackend::new());
    let mut engine = Engine::new(flow)
        .input("spec", "10 GiB")
        .persist(backend.clone());
    let found = errors(engine.compile());
    assert_eq!(
        found,
        [FlowError::TypeMismatch {
            flow: "create_volume".into(),
            atom: "reserve_quota".into(),
            arg: "size".into(),
            name: "size".into(),
            expected: "u64".into(),
            provider: "measure_size".into(),
            found: "u32".into(),
        }]
    );
    // `flow!`'s words (tests/ui/flow/fail/type_mismatch.stderr), with the
    // flow's name first as every builder message has it.
    assert_eq!(
        messages(&found),
        ["flow `create_volume`: task `reserve_quota` requires `size: u64`, but its provider `measure_size` gives `u32`; change one of the two types, or `.rebind(\"size\", \"..\")` to give `size` another value"]
    );
    // Running says the same, and nothing ran or was recorded.
    let run = engine.run().map(|_| ());
    assert_eq!(messages(&errors(run)), messages(&found));
    assert_eq!(ran(0), 0);
    assert_eq!(engine.flow_state(), FlowState::Pending);
    assert!(engine.storage().is_none());
    assert!(backend.list_logbooks().unwrap().is_empty());
}

// Test 1: what fits.
#[task(provides = "size")]
fn size_u64(spec: String) -> Gib {
    mark(1);
    spec.len() as u64
}

#[task(provides = "maybe")]
fn maybe_zone(size: u64) -> Option<String> {
    mark(1);
    (size > 1).then(|| "eu-1".to_owned())
}

#[task(provides = "placed")]
fn place(size: Option<u64>, maybe: Option<String>, note: Option<String>) -> String {
    mark(1);
    format!("{size:?} {maybe:?} {note:?}")
}

#[test]
fn an_optional_parameter_takes_its_type_or_the_option_and_aliases_are_the_same_type() {
    // `size_u64` gives a `Gib` (an alias of `u64`) to `size: u64` and to
    // `size: Option<u64>`; `maybe_zone` gives an `Option<String>` to
    // `maybe: Option<String>`; `note` is provided by nothing.
    let flow = Flow::linear("place")
        .add(size_u64::task())
        .add(maybe_zone::task())
        .add(place::task());
    let done = Engine::new(flow).input("spec", "abc").run().unwrap();
    assert_eq!(
        done.get::<String>("placed").unwrap(),
        "Some(3) Some(\"eu-1\") None"
    );
    assert_eq!(ran(1), 3);
}

// Test 2: optional mismatch, tuples, rebinds, several errors at once.
#[task(provides = ["size", "zone"])]
fn size_and_zone(spec: String) -> (u64, String) {
    mark(2);
    (spec.len() as u64, spec)
}

#[task(provides = "entry")]
fn create_entry(size: u64, zone: Option<u32>) -> String {
    mark(2);
    format!("{size} {zone:?}")
}

#[task(provides = "bytes")]
fn bytes(size: u64) -> String {
    mark(2);
    size.to_string()
}

#[task(provides = "stored")]
fn store(data: u64, missing: String) -> bool {
    mark(2);
    let _ = (data, missing);
    true
}

#[test]
fn every_mismatch_is_reported_with_the_other_problems() {
    // The tuple's second element (`String`) reaches `zone: Option<u32>`; its
    // first (`u64`) fits `size: u64`. `store`'s `data` is rebound to
    // `bytes`, a `String`; its `missing` is provided by nothing.
    let flow = Flow::linear("volumes")
        .add(size_and_zone::task())
        .add(create_entry::task())
        .add(bytes::task())
        .add(store::task().rebind("data", "bytes"));
    let found = errors(Engine::new(flow).input("spec", "x").compile());
    assert_eq!(
        messages(&found),
        [
            "flow `volumes`: task `test_types::create_entry` requires `zone: Option<u32>`, but its provider `test_types::size_and_zone` gives `String`; change one of the two types, or `.rebind(\"zone\", \"..\")` to give `zone` another value",
            "flow `volumes`: task `test_types::store` requires `data: u64` (the value `bytes`), but its provider `test_types::bytes` gives `String`; change one of the two types, or `.rebind(\"data\", \"..\")` to give `data` another value",
            "flow `volumes`: task `test_types::store` requires `missing: String`, which no input or earlier task provides",
        ]
    );
    assert_eq!(ran(2), 0);
}

#[test]
fn renamed_outputs_keep_their_types_and_flow_compile_checks_them_too() {
    // `provides_each_as` renames the tuple's elements: `where` is still the
    // `String`, and `zone: Option<u32>` still does not take it.
    let flow = Flow::linear("renamed")
        .add(size_and_zone::task().provides_each_as(["amount", "where"]))
        .add(
            create_entry::task()
                .rebind("size", "amount")
                .rebind("zone", "where"),
        );
    let found = flow.compile(&["spec"]).unwrap_err();
    assert_eq!(
        messages(found.errors()),
        ["flow `renamed`: task `test_types::create_entry` requires `zone: Option<u32>` (the value `where`), but its provider `test_types::size_and_zone` gives `String`; change one of the two types, or `.rebind(\"zone\", \"..\")` to give `zone` another value"]
    );
    // Not rebound, `zone` reads nothing (it is optional) and `size` the
    // renamed `u64`: it fits.
    let flow = Flow::linear("renamed")
        .add(size_and_zone::task().provides_each_as(["amount", "where"]))
        .add(create_entry::task().rebind("size", "amount"));
    let plan = flow.compile(&["spec"]).unwrap();
    assert_eq!(plan.atoms().len(), 2);
}

// Test 3: what is not checked.
#[task(provides = "total")]
fn total(size: u64) -> u64 {
    mark(3);
    size * 2
}

#[test]
fn values_of_unknown_type_are_not_checked() {
    // A run-time task's output (JSON, whatever it holds), an engine input
    // and an injected value are read by `size: u64` without a check: the
    // task's decoding judges them when it runs.
    let json_size = FnTask::new("json_size")
        .provides("size")
        .run(|_| Ok(json!(21)));
    let flow = Flow::linear("unknown").add(json_size).add(total::task());
    let done = Engine::new(flow).run().unwrap();
    assert_eq!(done.get::<u64>("total").unwrap(), 42);

    let flow = Flow::linear("input").add(total::task());
    let done = Engine::new(flow).input("size", 5u64).run().unwrap();
    assert_eq!(done.get::<u64>("total").unwrap(), 10);

    let flow = Flow::linear("inject").add(total::task().inject("size", 4u64));
    assert_eq!(
        Engine::new(flow)
            .run()
            .unwrap()
            .get::<u64>("total")
            .unwrap(),
        8
    );

    // And a run-time task reading a typed output is not checked either.
    let flow = Flow::linear("reader").add(measure_size::task()).add(
        FnTask::new("reader").requires(["size"]).run(|call| {
            let size: u64 = call.arg(0)?;
            Ok(json!(size))
        }),
    );
    assert!(flow.compile(&["spec"]).is_ok());
    assert_eq!(ran(3), 3);
}

// Test 4: resources.
#[derive(Debug)]
struct Db {
    volumes: u64,
}

#[derive(Debug)]
struct Clock;

#[task(provides = "count")]
fn count_volumes(db: Res<Db>) -> u64 {
    mark(4);
    db.volumes
}

#[task(provides = "doubled")]
fn double_volumes(count: u64, db: Res<Db>, clock: Res<Clock>) -> u64 {
    mark(4);
    let _ = clock;
    count * 2 + db.volumes - db.volumes
}

#[task(provides = "checked")]
fn check_volumes(doubled: u64, db: Res<Db>) -> bool {
    mark(4);
    doubled >= db.volumes
}

fn resource_flow() -> Flow {
    Flow::linear("audit")
        .add(count_volumes::task())
        .add(double_volumes::task())
        .add(check_volumes::task())
}

#[test]
fn missing_resources_are_reported_by_compile_with_the_atoms_that_need_them() {
    let backend = Arc::new(MemoryBackend::new());
    let mut engine = Engine::new(resource_flow()).persist(backend.clone());
    let found = errors(engine.compile());
    assert_eq!(
        found,
        [
            FlowError::MissingResource {
                flow: "audit".into(),
                ty: "Db".into(),
                atoms: vec![
                    "test_types::count_volumes".into(),
                    "test_types::double_volumes".into(),
                    "test_types::check_volumes".into()
                ],
            },
            FlowError::MissingResource {
                flow: "audit".into(),
                ty: "Clock".into(),
                atoms: vec!["test_types::double_volumes".into()],
            },
        ]
    );
    assert_eq!(
        messages(&found),
        [
            "flow `audit`: tasks `test_types::count_volumes`, `test_types::double_volumes` and `test_types::check_volumes` need a resource of type `Db`, but the engine has none: add it with `Engine::resource`",
            "flow `audit`: task `test_types::double_volumes` needs a resource of type `Clock`, but the engine has none: add it with `Engine::resource`",
        ]
    );
    assert!(engine.run().is_err());
    assert_eq!(ran(4), 0, "nothing ran");
    assert!(engine.storage().is_none());
    assert!(
        backend.list_logbooks().unwrap().is_empty(),
        "nothing recorded"
    );

    // One of the two given: the other is still missing.
    let mut engine = Engine::new(resource_flow()).resource(Db { volumes: 3 });
    assert_eq!(
        messages(&errors(engine.compile())),
        ["flow `audit`: task `test_types::double_volumes` needs a resource of type `Clock`, but the engine has none: add it with `Engine::resource`"]
    );
    assert_eq!(ran(4), 0);

    // Both given (one shared): the flow runs.
    let done = Engine::new(resource_flow())
        .resource_arc(Arc::new(Db { volumes: 3 }))
        .resource(Clock)
        .run()
        .unwrap();
    assert_eq!(done.get::<u64>("doubled").unwrap(), 6);
    assert!(done.get::<bool>("checked").unwrap());
    assert_eq!(ran(4), 3);
}

/// Runs `count_volumes` "elsewhere" (a stand-in for remote workers, which
/// hold their own resources) and lets the engine run the rest.
#[derive(Debug)]
struct Remote;

impl Executor for Remote {
    fn handles(&self, task: &TaskMeta) -> bool {
        task.name.ends_with("count_volumes")
    }

    fn execute(&self, request: Request) -> BoxFuture<Result<serde_json::Value, Failure>> {
        Box::pin(async move {
            assert_eq!(request.atom, "test_types::count_volumes");
            Ok(json!(5))
        })
    }
}

#[test]
fn atoms_an_executor_runs_elsewhere_are_not_checked_for_resources() {
    let flow = Flow::linear("remote").add(count_volumes::task());
    let done = Engine::new(flow).executor(Remote).run().unwrap();
    assert_eq!(done.get::<u64>("count").unwrap(), 5);
    // The engine's own atoms still are.
    let flow = Flow::linear("remote")
        .add(count_volumes::task())
        .add(check_volumes::task().inject("doubled", 1u64));
    let found = errors(Engine::new(flow).executor(Remote).compile());
    assert_eq!(
        messages(&found),
        ["flow `remote`: task `test_types::check_volumes` needs a resource of type `Db`, but the engine has none: add it with `Engine::resource`"]
    );
}

// The compile-time case's tasks (ui-tests/tests/ui/flow/fail/type_mismatch_local.rs).
#[task(provides = "zone", name = "pick_zone")]
fn pick_zone(region: String) -> u32 {
    region.len() as u32
}

#[task(provides = "volume_id", name = "create_entry")]
fn create_entry_local(size: u64, zone: String) -> u64 {
    let _ = zone;
    size
}

#[test]
fn the_builder_says_what_flow_says_at_compile_time() {
    let stderr = include_str!("../ui-tests/tests/ui/flow/fail/type_mismatch_local.stderr");
    let message = stderr
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("error[E0277]: "))
        .expect("the error's first line");
    let note = stderr
        .lines()
        .find_map(|l| l.trim().strip_prefix("= note: change"))
        .expect("the note");
    let built = Flow::linear("create_volume")
        .add(pick_zone::task())
        .add(create_entry_local::task())
        .compile(&["region", "size"])
        .unwrap_err()
        .to_string();
    assert_eq!(
        built,
        format!("flow `create_volume`: {message}; change{note}")
    );
}

taskwire::flow! {
    /// `flow!` checks the values' types when it compiles; the resources are
    /// the engine's, checked by `Engine::compile`.
    linear audit(doubled: u64) {
        count_volumes,
        check_volumes,
    }
}

#[test]
fn a_flow_macro_flow_is_checked_for_resources_too() {
    let err = Engine::new(audit())
        .input("doubled", 4u64)
        .compile()
        .map(|_| ())
        .unwrap_err();
    assert_eq!(
        messages(&errors(Err::<(), _>(err))),
        ["flow `audit`: tasks `test_types::count_volumes` and `test_types::check_volumes` need a resource of type `Db`, but the engine has none: add it with `Engine::resource`"]
    );
    // Given, the flow compiles (it is not run: the tasks' run count is
    // another test's).
    let mut engine = Engine::new(audit())
        .input("doubled", 4u64)
        .resource(Db { volumes: 3 });
    assert_eq!(engine.compile().unwrap().atoms().len(), 2);
}
