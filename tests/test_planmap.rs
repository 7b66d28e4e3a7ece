//! Plan maps: merge, de-duplication, skips, priorities, abort plans, and the
//! outcome read from the engine.

use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use taskwire::planmap::{Plan, PlanControl, PlanError, PlanMap, Step};
use taskwire::prelude::*;
use taskwire::{CapturingListener, FailureKind, TaskDef};

/// What the plans did, in order.
#[derive(Debug, Default)]
struct Journal(Mutex<Vec<String>>);

impl Journal {
    fn push(&self, entry: String) {
        self.0.lock().unwrap().push(entry);
    }
    fn entries(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("cannot {0}")]
struct SystemError(String);

/// A task `name(what)` that writes "name what" to the journal and fails when
/// `what` is "fail".
fn task(name: &'static str) -> Arc<TaskDef> {
    FnTask::new(name)
        .requires(["what"])
        .run(move |call| {
            let what: String = call.arg(0)?;
            call.resource::<Journal>()?.push(format!("{name} {what}"));
            if what == "fail" {
                return Err(Failure::from_error(SystemError(format!("{name} {what}"))));
            }
            Ok(json!(format!("{name} {what} done")))
        })
        .into_def()
}

/// The same, async: it yields to the runtime before writing.
fn async_task(name: &'static str) -> Arc<TaskDef> {
    FnTask::new(name)
        .requires(["what"])
        .run_async(move |call| {
            let what: Result<String, _> = call.arg(0);
            let journal = call.resource::<Journal>();
            Box::pin(async move {
                let (what, journal) = (what?, journal?);
                tokio::task::yield_now().await;
                journal.push(format!("{name} {what}"));
                if what == "fail" {
                    return Err(Failure::from_error(SystemError(format!("{name} {what}"))));
                }
                Ok(Value::Null)
            })
        })
        .into_def()
}

fn run(map: &PlanMap, journal: &Arc<Journal>) -> Result<Done, PlanError> {
    let plans = map.build()?;
    plans.outcome(plans.engine().resource_arc(Arc::clone(journal)).run())
}

#[test]
fn plans_run_in_priority_order_and_ties_keep_insertion_order() {
    let t = task("t");
    let mut map = PlanMap::new("update");
    map.add(Plan::new(t.clone()).arg("what", "late").priority(90))
        .add(Plan::new(t.clone()).arg("what", "tie-1").priority(50))
        .add(Plan::new(t.clone()).arg("what", "early").priority(1))
        .add(Plan::new(t.clone()).arg("what", "tie-2").priority(50));
    assert_eq!(
        map.ordered().unwrap(),
        [
            ("t(what=\"early\")".to_owned(), 1),
            ("t(what=\"tie-1\")".to_owned(), 50),
            ("t(what=\"tie-2\")".to_owned(), 50),
            ("t(what=\"late\")".to_owned(), 90),
        ]
    );
    let journal = Arc::new(Journal::default());
    let done = run(&map, &journal).unwrap();
    assert_eq!(
        journal.entries(),
        ["t early", "t tie-1", "t tie-2", "t late"]
    );
    assert_eq!(done.flow_state(), FlowState::Success);
    assert_eq!(
        done.atom_state("t(what=\"late\")"),
        Some(AtomState::Success)
    );
}

#[test]
fn merged_maps_keep_identical_plans_once() {
    let (set, reload) = (task("set"), task("reload"));
    let mut network = PlanMap::new("network");
    network
        .add(Plan::new(set.clone()).arg("what", "wan").priority(50))
        .add(
            Plan::new(reload.clone())
                .arg("what", "network")
                .priority(80),
        );
    let mut wifi = PlanMap::new("wifi");
    wifi.add(Plan::new(set.clone()).arg("what", "wlan0").priority(51))
        .add(
            Plan::new(reload.clone())
                .arg("what", "network")
                .priority(80),
        )
        // Same task, other arguments: another plan.
        .add(Plan::new(reload.clone()).arg("what", "wifi").priority(80));
    let mut update = PlanMap::new("update");
    update.merge(network).merge(wifi);
    let journal = Arc::new(Journal::default());
    run(&update, &journal).unwrap();
    assert_eq!(
        journal.entries(),
        ["set wan", "set wlan0", "reload network", "reload wifi"]
    );
}

#[test]
fn a_duplicate_keeps_the_first_priority_and_adds_its_abort_plans() {
    let (set, undo, fail) = (task("set"), task("undo"), task("boom"));
    let mut map = PlanMap::new("m");
    map.add(
        Plan::new(set.clone())
            .arg("what", "x")
            .priority(10)
            .abort(Step::new(undo.clone()).arg("what", "a")),
    )
    .add(
        Plan::new(set.clone())
            .arg("what", "x")
            .priority(60)
            .abort(Step::new(undo.clone()).arg("what", "a"))
            .abort(Step::new(undo.clone()).arg("what", "b")),
    )
    .add(Plan::new(fail).arg("what", "fail").priority(20));
    assert_eq!(
        map.ordered().unwrap(),
        [
            ("set(what=\"x\")".to_owned(), 10),
            ("boom(what=\"fail\")".to_owned(), 20)
        ]
    );
    let journal = Arc::new(Journal::default());
    let err = run(&map, &journal).unwrap_err();
    assert_eq!(
        journal.entries(),
        ["set x", "boom fail", "undo a", "undo b"]
    );
    assert_eq!(
        err.to_string(),
        "plan map `m`: plan `boom(what=\"fail\")` failed: cannot boom fail; the plans before it were aborted, the previous state is restored"
    );
}

#[test]
fn skipped_tasks_do_not_run_and_their_abort_plans_neither() {
    let (set, reload, undo, fail) = (task("set"), task("reload"), task("undo"), task("boom"));
    let mut map = PlanMap::new("m");
    map.add(Plan::new(set.clone()).arg("what", "a").priority(10))
        .add(
            Plan::new(reload.clone())
                .arg("what", "net")
                .priority(20)
                .abort(Step::new(undo.clone()).arg("what", "net")),
        )
        .add(Plan::new(reload.clone()).arg("what", "wifi").priority(30));
    let mut other = PlanMap::new("other");
    other.skip(reload.clone());
    map.merge(other);
    assert_eq!(map.ordered().unwrap(), [("set(what=\"a\")".to_owned(), 10)]);
    let journal = Arc::new(Journal::default());
    run(&map, &journal).unwrap();
    assert_eq!(journal.entries(), ["set a"]);

    // Skipped while running, by a plan, through `PlanControl`.
    let skipper = FnTask::new("skipper")
        .run(|call| {
            call.resource::<PlanControl>()?.skip("reload");
            Ok(Value::Null)
        })
        .into_def();
    let mut map = PlanMap::new("m");
    map.add(Plan::new(skipper).priority(15))
        .add(
            Plan::new(reload.clone())
                .arg("what", "net")
                .priority(20)
                .abort(Step::new(undo.clone()).arg("what", "net")),
        )
        .add(Plan::new(set.clone()).arg("what", "b").priority(25))
        .add(Plan::new(fail).arg("what", "fail").priority(30));
    let plans = map.build().unwrap();
    let journal = Arc::new(Journal::default());
    let err = plans
        .outcome(plans.engine().resource_arc(Arc::clone(&journal)).run())
        .unwrap_err();
    assert!(matches!(err, PlanError::Restored { .. }), "{err}");
    // `reload net` neither ran nor was aborted.
    assert_eq!(journal.entries(), ["set b", "boom fail"]);
    assert_eq!(plans.control().skipped(), ["reload(what=\"net\")"]);
}

#[test]
fn abort_plans_run_in_reverse_order_and_not_for_the_failed_plan() {
    let (set, undo, fail) = (task("set"), task("undo"), task("boom"));
    let mut map = PlanMap::new("m");
    map.add(
        Plan::new(set.clone())
            .arg("what", "1")
            .priority(10)
            .abort(Step::new(undo.clone()).arg("what", "1a"))
            .abort(Step::new(undo.clone()).arg("what", "1b")),
    )
    .add(
        Plan::new(set.clone())
            .arg("what", "2")
            .priority(20)
            .abort(Step::new(undo.clone()).arg("what", "2")),
    )
    .add(
        Plan::new(fail.clone())
            .arg("what", "fail")
            .priority(30)
            .abort(Step::new(undo.clone()).arg("what", "of the failed plan")),
    )
    .add(
        Plan::new(set.clone())
            .arg("what", "never")
            .priority(40)
            .abort(Step::new(undo.clone()).arg("what", "never")),
    );
    let journal = Arc::new(Journal::default());
    let err = run(&map, &journal).unwrap_err();
    assert_eq!(
        journal.entries(),
        [
            "set 1",
            "set 2",
            "boom fail",
            "undo 2",
            "undo 1a",
            "undo 1b"
        ]
    );
    let PlanError::Restored { plan, failure, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(plan, "boom(what=\"fail\")");
    assert_eq!(
        failure.downcast_ref::<SystemError>().unwrap().0,
        "boom fail"
    );
}

#[test]
fn the_failed_plans_own_abort_plans_run_when_asked() {
    let (set, undo, fail) = (task("set"), task("undo"), task("boom"));
    let mut map = PlanMap::new("m");
    map.add(
        Plan::new(set.clone())
            .arg("what", "1")
            .priority(10)
            .abort(Step::new(undo.clone()).arg("what", "1")),
    )
    .add(
        Plan::new(fail.clone())
            .arg("what", "fail")
            .priority(30)
            .abort(Step::new(undo.clone()).arg("what", "half-done work")),
    )
    .abort_failed_plan(true);
    let journal = Arc::new(Journal::default());
    run(&map, &journal).unwrap_err();
    assert_eq!(
        journal.entries(),
        ["set 1", "boom fail", "undo half-done work", "undo 1"]
    );
}

#[test]
fn an_abort_plan_shared_by_plans_runs_once_at_the_latest() {
    let (set, reload, fail) = (task("set"), task("reload"), task("boom"));
    let reload_net = || Step::new(reload.clone()).arg("what", "network");
    let mut map = PlanMap::new("m");
    map.add(
        Plan::new(set.clone())
            .arg("what", "lan")
            .priority(10)
            .abort(Step::new(set.clone()).arg("what", "old lan"))
            .abort(reload_net()),
    )
    .add(
        Plan::new(set.clone())
            .arg("what", "wan")
            .priority(20)
            .abort(Step::new(set.clone()).arg("what", "old wan"))
            .abort(reload_net()),
    )
    .add(Plan::new(fail).arg("what", "fail").priority(30));
    let journal = Arc::new(Journal::default());
    run(&map, &journal).unwrap_err();
    assert_eq!(
        journal.entries(),
        [
            "set lan",
            "set wan",
            "boom fail",
            "set old wan",
            "reload network",
            "set old lan"
        ]
    );
}

#[test]
fn a_failing_abort_plan_is_named_and_stops_the_aborting() {
    let (set, undo, fail) = (task("set"), task("undo"), task("boom"));
    let mut map = PlanMap::new("chute");
    map.add(
        Plan::new(set.clone())
            .arg("what", "1")
            .priority(10)
            .abort(Step::new(undo.clone()).arg("what", "1")),
    )
    .add(
        Plan::new(set.clone())
            .arg("what", "2")
            .priority(20)
            .abort(Step::new(undo.clone()).arg("what", "fail"))
            .abort(Step::new(undo.clone()).arg("what", "2")),
    )
    .add(Plan::new(fail).arg("what", "fail").priority(30));
    let journal = Arc::new(Journal::default());
    let plans = map.build().unwrap();
    let listener = Arc::new(CapturingListener::new());
    let err = plans
        .outcome(
            plans
                .engine()
                .resource_arc(Arc::clone(&journal))
                .listener(Arc::clone(&listener))
                .run(),
        )
        .unwrap_err();
    assert_eq!(
        journal.entries(),
        ["set 1", "set 2", "boom fail", "undo fail"]
    );
    assert_eq!(
        err.to_string(),
        "plan map `chute`: plan `boom(what=\"fail\")` failed (cannot boom fail), then abort plan `undo(what=\"fail\")` of plan `set(what=\"2\")` failed: cannot undo fail; the previous state is NOT restored"
    );
    let PlanError::AbortFailed {
        aborting,
        abort,
        abort_failure,
        ..
    } = &err
    else {
        panic!("{err}")
    };
    assert_eq!(aborting, "set(what=\"2\")");
    assert_eq!(abort, "undo(what=\"fail\")");
    assert!(abort_failure.is::<SystemError>());
    assert_eq!(
        listener.atom_states("set(what=\"2\")"),
        [
            AtomState::Running,
            AtomState::Success,
            AtomState::Reverting,
            AtomState::RevertFailure
        ]
    );
    // The plan before it is left as it was: the engine stops reverting.
    assert_eq!(
        listener.atom_states("set(what=\"1\")"),
        [AtomState::Running, AtomState::Success]
    );
    assert_eq!(listener.flow_states().last(), Some(&FlowState::Failure));
}

#[test]
fn async_plans_and_abort_plans_run_in_order() {
    let (set, undo, fail) = (async_task("set"), async_task("undo"), task("boom"));
    let mut map = PlanMap::new("m");
    map.add(
        Plan::new(set.clone())
            .arg("what", "1")
            .priority(10)
            .abort(Step::new(undo.clone()).arg("what", "1a"))
            .abort(Step::new(task("sync_undo")).arg("what", "1b"))
            .abort(Step::new(undo.clone()).arg("what", "1c")),
    )
    .add(Plan::new(fail).arg("what", "fail").priority(30));
    let journal = Arc::new(Journal::default());
    let err = run(&map, &journal).unwrap_err();
    assert!(matches!(err, PlanError::Restored { .. }), "{err}");
    assert_eq!(
        journal.entries(),
        ["set 1", "boom fail", "undo 1a", "sync_undo 1b", "undo 1c"]
    );
}

#[task(priority = 70)]
fn reload_firewall(zone: String) -> String {
    format!("firewall {zone} reloaded")
}

#[task]
fn no_priority() {}

#[test]
fn a_task_gives_its_plans_a_default_priority() {
    let t = task("t");
    let mut map = PlanMap::new("m");
    map.add(Plan::new(reload_firewall::task()).arg("zone", "lan"))
        .add(Plan::new(t.clone()).arg("what", "x").priority(60))
        .add(
            Plan::new(reload_firewall::task())
                .arg("zone", "wan")
                .priority(5),
        );
    let name = reload_firewall::task().def().meta.name.to_string();
    assert_eq!(
        map.ordered().unwrap(),
        [
            (format!("{name}(zone=\"wan\")"), 5),
            ("t(what=\"x\")".to_owned(), 60),
            (format!("{name}(zone=\"lan\")"), 70),
        ]
    );
    let journal = Arc::new(Journal::default());
    let done = run(&map, &journal).unwrap();
    // A plan's result is kept under its label.
    let storage = done.storage();
    let lan = storage
        .plan()
        .atom_index(&format!("{name}(zone=\"lan\")"))
        .unwrap();
    assert_eq!(storage.result(lan), Some(&json!("firewall lan reloaded")));
    assert_eq!(
        FnTask::new("p").priority(3).into_def().meta.priority,
        Some(3)
    );
}

#[test]
fn bad_plans_are_errors_naming_map_and_plan() {
    let t = task("t");
    let mut map = PlanMap::new("m");
    map.add(Plan::new(no_priority::task()));
    let name = no_priority::task().def().meta.name.to_string();
    assert_eq!(
        map.build().unwrap_err().to_string(),
        format!("plan map `m`: plan `{name}` has no priority: give it one with `Plan::priority(n)` or `#[task(priority = n)]`")
    );

    let mut map = PlanMap::new("m");
    map.add(Plan::new(t.clone()).arg("what", "x").priority(0));
    assert_eq!(
        map.build().unwrap_err().to_string(),
        "plan map `m`: plan `t(what=\"x\")` has priority 0; priorities run from 1 (first) to 99 (last)"
    );
    let mut map = PlanMap::new("m");
    map.add(Plan::new(t.clone()).arg("what", "x").priority(100));
    assert!(matches!(
        map.build().unwrap_err(),
        PlanError::Priority { priority: 100, .. }
    ));

    let mut map = PlanMap::new("m");
    map.add(Plan::new(t.clone()).arg("wat", "x").priority(10));
    assert_eq!(
        map.build().unwrap_err().to_string(),
        "plan map `m`: plan `t(wat=\"x\")`: `t(wat=\"x\")`: the task has no argument `wat`; its arguments are `what`"
    );

    let mut map = PlanMap::new("m");
    map.add(
        Plan::new(t.clone())
            .arg("what", "x")
            .priority(10)
            .abort(Step::new(t.clone())),
    );
    assert_eq!(
        map.build().unwrap_err().to_string(),
        "plan map `m`: plan `t(what=\"x\")`: `t`: argument `what` is not given: add `.arg(\"what\", ..)`"
    );

    // A plan whose argument nothing gives: the flow's own validation says so.
    let mut map = PlanMap::new("m");
    map.add(Plan::new(t.clone()).priority(10));
    let journal = Arc::new(Journal::default());
    assert_eq!(
        run(&map, &journal).unwrap_err().to_string(),
        "flow `m`: task `t` requires `what`, which no input or earlier task provides"
    );
    assert!(journal.entries().is_empty());
}

#[test]
fn the_plans_are_an_ordinary_persisted_flow() {
    let (set, fail) = (task("set"), task("boom"));
    let mut map = PlanMap::new("m");
    map.add(Plan::new(set.clone()).arg("what", "x").priority(10))
        .add(Plan::new(fail).arg("what", "fail").priority(20));
    let plans = map.build().unwrap();
    let names: Vec<&str> = plans.flow().atoms().iter().map(|a| a.atom_name()).collect();
    assert_eq!(names, ["set(what=\"x\")", "boom(what=\"fail\")"]);
    let logbook = taskwire::persistence::open("memory://").unwrap();
    let journal = Arc::new(Journal::default());
    let mut engine = plans
        .engine()
        .resource_arc(Arc::clone(&journal))
        .persist(Arc::clone(&logbook));
    let err = plans.outcome(engine.run()).unwrap_err();
    assert_eq!(err.failure().unwrap().kind(), FailureKind::Task);
    let (detail, atoms) = logbook.load_flow(engine.flow_uuid().unwrap()).unwrap();
    assert_eq!(detail.state, FlowState::Reverted);
    let states: Vec<(String, AtomState)> = atoms.into_iter().map(|a| (a.name, a.state)).collect();
    assert_eq!(
        states,
        [
            ("set(what=\"x\")".to_owned(), AtomState::Reverted),
            ("boom(what=\"fail\")".to_owned(), AtomState::Reverted)
        ]
    );
}

/// A plan map as a registered flow factory, so a run can be resumed by id.
fn resumable_plans(params: &Value) -> Result<taskwire::Flow, String> {
    let mut map = PlanMap::new("resumable");
    for (i, what) in params["plans"]
        .as_array()
        .ok_or("`plans` must be a list")?
        .iter()
        .enumerate()
    {
        map.add(
            Plan::new(task("set"))
                .arg("what", what)
                .priority(10 + i as u8),
        );
    }
    Ok(map.build().map_err(|e| e.to_string())?.flow().clone())
}
taskwire::flow_factory!("tests::resumable_plans", resumable_plans);

/// Suspends the engine once `atom` has succeeded.
struct SuspendAfter(taskwire::Suspender, &'static str);

impl taskwire::Listener for SuspendAfter {
    fn on_atom(&self, e: &taskwire::AtomEvent<'_>) {
        if e.atom == self.1 && e.state == AtomState::Success {
            self.0.suspend();
        }
    }
}

#[test]
fn a_suspended_plan_map_resumes_from_its_logbook() {
    let logbook = taskwire::persistence::open("memory://").unwrap();
    let journal = Arc::new(Journal::default());
    let engine =
        Engine::from_factory("tests::resumable_plans", json!({"plans": ["a", "b", "c"]})).unwrap();
    let suspender = engine.suspender();
    let mut engine = engine
        .resource_arc(Arc::clone(&journal))
        .listener(SuspendAfter(suspender, "set(what=\"a\")"))
        .persist(Arc::clone(&logbook));
    let done = engine.run().unwrap();
    assert_eq!(done.flow_state(), FlowState::Suspended);
    assert_eq!(journal.entries(), ["set a"]);
    let id = engine.flow_uuid().unwrap();
    drop(engine);

    let done = Engine::resume(Arc::clone(&logbook), id)
        .unwrap()
        .resource_arc(Arc::clone(&journal))
        .run()
        .unwrap();
    assert_eq!(done.flow_state(), FlowState::Success);
    // The plan that had run did not run again.
    assert_eq!(journal.entries(), ["set a", "set b", "set c"]);
}
