//! What the two front-ends cost on top of the engine: a plan map of N plans
//! (half of them duplicates, each with an abort plan) built and run, and an
//! activity flow over a server with N volumes built, validated and run; both
//! with no-op tasks, in memory, serial engine.
//!
//! Run with `cargo bench --bench front_ends` (`-- --quick` for small sizes);
//! prints a markdown table: medians of the runs of building the flow (the
//! front-end's own work), validating it (`Engine::compile`) and running it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use taskwire::activity::{
    ActivityCtx, DirBank, Hook, Operation, ProtectionPlugin, Provider, Resource, ResourceGraph,
};
use taskwire::planmap::{Plan, PlanMap, Step};
use taskwire::{Engine, FnTask, TaskDef, TaskSpec};

fn noop(name: &str, args: &[&str]) -> Arc<TaskDef> {
    FnTask::new(name.to_owned())
        .requires(args.iter().map(|a| (*a).to_owned()))
        .run(|_| Ok(Value::Null))
        .into_def()
}

/// N plans from two generators that ask for the same N/2 plans, each with
/// an abort plan: N/2 atoms run.
fn plan_map(n: usize) -> (Duration, Duration, Duration) {
    let (set, undo) = (noop("set", &["i"]), noop("undo", &["i"]));
    let t0 = Instant::now();
    let mut merged = PlanMap::new("bench");
    for _ in 0..2 {
        let mut map = PlanMap::new("generator");
        for i in 0..n / 2 {
            map.add(
                Plan::new(set.clone())
                    .arg("i", i)
                    .priority(1 + (i % 99) as u8)
                    .abort(Step::new(undo.clone()).arg("i", i)),
            );
        }
        merged.merge(map);
    }
    let plans = merged.build().expect("valid");
    let t1 = Instant::now();
    let mut engine = plans.engine();
    engine.compile().expect("valid");
    let t2 = Instant::now();
    plans.outcome(engine.run()).expect("runs");
    let t3 = Instant::now();
    assert_eq!(plans.plans().len(), n / 2);
    (t1 - t0, t2 - t1, t3 - t2)
}

#[derive(Debug)]
struct Noop;

impl ProtectionPlugin for Noop {
    fn resource_types(&self) -> Vec<String> {
        vec!["server".into(), "volume".into()]
    }

    fn activity(&self, _: &ActivityCtx<'_>, _: Hook) -> Option<TaskSpec> {
        Some(FnTask::new("noop").run(|_| Ok(Value::Null)).into_spec())
    }
}

/// A server with N - 1 volumes: 3N atoms.
fn activity_flow(n: usize, provider: &Provider) -> (Duration, Duration, Duration) {
    let t0 = Instant::now();
    let mut graph = ResourceGraph::new();
    let server = graph.add(Resource::new("server", "vm"));
    for i in 1..n {
        let volume = graph.add(Resource::new("volume", format!("vol{i}")));
        graph.link(server, volume).expect("no cycle");
    }
    let activity = provider
        .flow(Operation::Protect, &graph, "cp")
        .expect("builds");
    let t1 = Instant::now();
    let mut engine = Engine::new(activity.flow);
    engine.compile().expect("valid");
    let t2 = Instant::now();
    let done = engine.run().expect("runs");
    let t3 = Instant::now();
    assert_eq!(done.storage().plan().atoms().len(), 3 * n);
    (t1 - t0, t2 - t1, t3 - t2)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let sizes: &[(usize, usize)] = if quick {
        &[(100, 3), (1_000, 3)]
    } else {
        &[(100, 21), (1_000, 11), (10_000, 5)]
    };
    let mut provider = Provider::new(
        "bench",
        "bench",
        Arc::new(DirBank::new(
            std::env::temp_dir().join("taskwire-bench-bank"),
        )),
    );
    provider.plugin("noop", Arc::new(Noop)).expect("one plugin");

    println!("| front-end | N | atoms | runs | build (ms) | validate (ms) | run (ms) | total per atom (µs) |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for &(n, runs) in sizes {
        plan_map(n); // warm-up
        let samples: Vec<_> = (0..runs).map(|_| plan_map(n)).collect();
        row(
            "plan map (N plans, half duplicates)",
            n,
            n / 2,
            runs,
            samples,
        );
        activity_flow(n, &provider);
        let samples: Vec<_> = (0..runs).map(|_| activity_flow(n, &provider)).collect();
        row(
            "activity flow (server + N-1 volumes)",
            n,
            3 * n,
            runs,
            samples,
        );
    }
}

type Sample = (Duration, Duration, Duration);

fn row(what: &str, n: usize, atoms: usize, runs: usize, samples: Vec<Sample>) {
    let build = median(samples.iter().map(|s| s.0).collect());
    let validate = median(samples.iter().map(|s| s.1).collect());
    let run = median(samples.iter().map(|s| s.2).collect());
    let total = median(samples.iter().map(|s| s.0 + s.1 + s.2).collect());
    println!(
        "| {what} | {n} | {atoms} | {runs} | {:.2} | {:.2} | {:.2} | {:.2} |",
        build.as_secs_f64() * 1e3,
        validate.as_secs_f64() * 1e3,
        run.as_secs_f64() * 1e3,
        total.as_secs_f64() * 1e6 / atoms as f64,
    );
}
