//! Deciders on graph links: which atoms a "no" skips at each depth, what a
//! decider sees, a decider that panics, and serial/parallel/resumed runs.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use common::Log;
use serde_json::json;
use taskwire::decider::{Decider, Depth, LinkResults};
use taskwire::{
    AtomEvent, AtomState, Engine, FailureKind, Flow, FlowState, FnTask, Listener, TaskSpec,
};

fn t(log: &Log, name: &'static str) -> TaskSpec {
    let (l1, l2) = (log.clone(), log.clone());
    FnTask::new(name)
        .run(move |_| {
            l1.push(name);
            Ok(json!(name))
        })
        .revert(move |_| {
            l2.push(format!("revert:{name}"));
            Ok(())
        })
        .into_spec()
}

/// `a` (provides `size` = 5) -if-> `b` -> `c` -> nested `inner { d }`, then
/// `after`, outside the graph.
fn shaped(log: &Log, decider: Decider) -> Flow {
    let l = log.clone();
    Flow::linear("root")
        .add(
            Flow::graph("g")
                .add(FnTask::new("a").provides("size").run(move |_| {
                    l.push("a");
                    Ok(json!(5))
                }))
                .add(t(log, "b"))
                .add(t(log, "c"))
                .add(Flow::linear("inner").add(t(log, "d")))
                .link_if("a", "b", decider)
                .link("b", "c")
                .link("c", "inner"),
        )
        .add(t(log, "after"))
}

fn small(results: &LinkResults<'_>) -> bool {
    results.get::<u64>("a").unwrap() < 3
}

const ATOMS: [&str; 5] = ["a", "b", "c", "d", "after"];

/// Runs serially and in parallel; both must end alike. Gives the states and
/// what ran (serial).
fn run(decider: impl Fn() -> Decider) -> (Vec<AtomState>, Vec<String>) {
    let mut endings = Vec::new();
    for workers in [1, 4] {
        let log = Log::default();
        let mut engine = Engine::new(shaped(&log, decider())).max_workers(workers);
        let done = engine.run().unwrap();
        assert_eq!(
            done.flow_state(),
            FlowState::Success,
            "an ignored atom does not fail the flow"
        );
        let states: Vec<AtomState> = ATOMS
            .iter()
            .map(|a| engine.atom_state(a).unwrap())
            .collect();
        endings.push((states, log.entries()));
    }
    assert_eq!(endings[0], endings[1], "serial and parallel end alike");
    endings.swap_remove(0)
}

use AtomState::{Ignore, Success};

#[test]
fn a_decider_that_says_yes_lets_everything_run() {
    let (states, ran) = run(|| Decider::new(|r: &LinkResults<'_>| r.get::<u64>("a").unwrap() == 5));
    assert_eq!(states, [Success; 5]);
    assert_eq!(ran, ATOMS);
}

#[test]
fn depth_all_skips_everything_after_the_target() {
    let (states, ran) = run(|| Decider::new(small));
    assert_eq!(states, [Success, Ignore, Ignore, Ignore, Ignore]);
    assert_eq!(ran, ["a"]);
}

#[test]
fn depth_flow_skips_what_follows_among_the_graph_flows_own_tasks() {
    let (states, ran) = run(|| Decider::new(small).depth(Depth::Flow));
    assert_eq!(states, [Success, Ignore, Ignore, Success, Success]);
    assert_eq!(ran, ["a", "d", "after"]);
}

#[test]
fn depth_neighbors_skips_the_target_and_the_atoms_right_after_it() {
    let (states, ran) = run(|| Decider::new(small).depth(Depth::Neighbors));
    assert_eq!(states, [Success, Ignore, Ignore, Success, Success]);
    assert_eq!(ran, ["a", "d", "after"]);
}

#[test]
fn depth_atom_skips_the_target_only() {
    let (states, ran) = run(|| Decider::new(small).depth(Depth::Atom));
    assert_eq!(states, [Success, Ignore, Success, Success, Success]);
    assert_eq!(ran, ["a", "c", "d", "after"]);
}

#[test]
fn neighbors_and_flow_differ_past_one_step() {
    // a -if-> b -> c -> e, all tasks of one graph: NEIGHBORS stops after c.
    let make = |log: &Log, depth: Depth| {
        Flow::graph("g")
            .add(t(log, "a"))
            .add(t(log, "b"))
            .add(t(log, "c"))
            .add(t(log, "e"))
            .link_if(
                "a",
                "b",
                Decider::new(|_: &LinkResults<'_>| false).depth(depth),
            )
            .link("b", "c")
            .link("c", "e")
    };
    for (depth, expected) in [
        (Depth::Neighbors, [Success, Ignore, Ignore, Success]),
        (Depth::Flow, [Success, Ignore, Ignore, Ignore]),
    ] {
        let mut engine = Engine::new(make(&Log::default(), depth));
        engine.run().unwrap();
        let states: Vec<AtomState> = ["a", "b", "c", "e"]
            .iter()
            .map(|a| engine.atom_state(a).unwrap())
            .collect();
        assert_eq!(states, expected, "{depth}");
    }
}

#[test]
fn a_decider_sees_every_result_of_a_nested_source_flow() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&seen);
    let log = Log::default();
    let flow = Flow::graph("g")
        .add(
            Flow::linear("checks")
                .add(
                    FnTask::new("disk")
                        .provides("disk_ok")
                        .run(|_| Ok(json!(true))),
                )
                .add(
                    FnTask::new("net")
                        .provides("net_ok")
                        .run(|_| Ok(json!(false))),
                ),
        )
        .add(t(&log, "deploy"))
        .link_if("checks", "deploy", move |r: &LinkResults<'_>| {
            let all: Vec<String> = r
                .iter()
                .map(|(n, v)| format!("{n}={}", v.unwrap()))
                .collect();
            record.lock().unwrap().extend(all);
            r.get::<bool>("disk").unwrap() && r.get::<bool>("net").unwrap()
        });
    let mut engine = Engine::new(flow);
    engine.run().unwrap();
    assert_eq!(*seen.lock().unwrap(), ["disk=true", "net=false"]);
    assert_eq!(engine.atom_state("deploy"), Some(Ignore));
    assert!(log.entries().is_empty());
}

#[test]
fn a_decider_reading_an_atom_it_cannot_see_gets_an_error_naming_its_sources() {
    let err = Arc::new(Mutex::new(String::new()));
    let keep = Arc::clone(&err);
    let flow = Flow::graph("g")
        .add(FnTask::new("a").provides("x").run(|_| Ok(json!(1))))
        .add(FnTask::new("b").run(|_| Ok(json!(2))))
        .link_if("a", "b", move |r: &LinkResults<'_>| {
            *keep.lock().unwrap() = r.get::<u64>("zzz").unwrap_err().to_string();
            true
        });
    Engine::new(flow).run().unwrap();
    assert_eq!(
        *err.lock().unwrap(),
        "a decider reads the result of `zzz`, which is not a source of its link (sources: `a`)"
    );
}

#[test]
fn a_panicking_decider_fails_its_target_and_the_flow_reverts() {
    for workers in [1, 3] {
        let log = Log::default();
        let flow = Flow::linear("root").add(t(&log, "first")).add(
            Flow::graph("g")
                .add(t(&log, "a"))
                .add(t(&log, "b"))
                .link_if("a", "b", |_: &LinkResults<'_>| -> bool {
                    panic!("decider bug")
                }),
        );
        let mut engine = Engine::new(flow).max_workers(workers);
        let err = engine.run().unwrap_err();
        assert_eq!(
            err.to_string(),
            "flow `root` was reverted: task `b` failed: the decider on link `a` -> `b` panicked: decider bug"
        );
        assert_eq!(err.failure().unwrap().kind(), FailureKind::Decider);
        assert_eq!(engine.flow_state(), FlowState::Reverted);
        assert_eq!(
            log.entries(),
            ["first", "a", "revert:a", "revert:first"],
            "the target never ran; what ran was reverted (workers={workers})"
        );
    }
}

struct SuspendAfter(taskwire::Suspender, &'static str, AtomicBool);

impl Listener for SuspendAfter {
    fn on_atom(&self, event: &AtomEvent<'_>) {
        if event.atom == self.1 && event.state == Success && !self.2.swap(true, Ordering::SeqCst) {
            self.0.suspend();
        }
    }
}

#[test]
fn skipped_atoms_stay_skipped_after_suspension() {
    let log = Log::default();
    let engine = Engine::new(shaped(&log, Decider::new(small).depth(Depth::Atom)));
    let suspender = engine.suspender();
    let mut engine = engine.listener(SuspendAfter(suspender, "c", AtomicBool::new(false)));
    assert_eq!(engine.run().unwrap().flow_state(), FlowState::Suspended);
    assert_eq!(engine.atom_state("b"), Some(Ignore));
    assert_eq!(engine.run().unwrap().flow_state(), FlowState::Success);
    assert_eq!(log.entries(), ["a", "c", "d", "after"]);
    assert_eq!(engine.atom_state("b"), Some(Ignore));
}

#[test]
fn a_decider_link_outside_a_graph_flow_is_a_flow_error() {
    let log = Log::default();
    let flow = Flow::linear("l")
        .add(t(&log, "a"))
        .add(t(&log, "b"))
        .link_if("a", "b", |_: &LinkResults<'_>| true);
    let err = flow.compile(&[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "flow `l`: linear flow `l` has a link `a` -> `b`, but only graph flows take links; make `l` a graph flow, or remove the link"
    );
}
