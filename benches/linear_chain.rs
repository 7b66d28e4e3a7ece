//! Linear chain of N no-op tasks, in memory, serial engine: build + validate + run.
//!
//! The same scenario as `linear_noop_N` in `../shared/bench/taskflow_py`: one
//! task `inc(v) -> v + 1` used N times; atom `t{i}` reads `v{i}` (rebind) and
//! provides `v{i+1}`. Run with `cargo bench --bench linear_chain`; prints a
//! markdown table (median of the runs).

use std::time::{Duration, Instant};

use taskwire::{Engine, Flow, Task, TaskSpec};

#[taskwire::task(provides = "v")]
fn inc(v: u64) -> u64 {
    v + 1
}

struct Sample {
    names: Duration,
    build: Duration,
    compile: Duration,
    run: Duration,
}

fn once(n: usize) -> Sample {
    // The user's own work, timed apart: formatting 3 distinct names per atom.
    let tn = Instant::now();
    let names: Vec<[String; 3]> = (0..n)
        .map(|i| [format!("t{i}"), format!("v{i}"), format!("v{}", i + 1)])
        .collect();
    let t0 = Instant::now();
    let mut flow = Flow::linear("linear");
    for [name, from, to] in names {
        flow.push(
            TaskSpec::from_static(<inc as Task>::DEF)
                .named(name)
                .rebind("v", from)
                .provides_as(to),
        );
    }
    let t1 = Instant::now();
    let mut engine = Engine::new(flow).input("v0", 0u64);
    engine.compile().expect("valid flow");
    let t2 = Instant::now();
    let done = engine.run().expect("runs");
    let t3 = Instant::now();
    assert_eq!(done.get::<u64>(&format!("v{n}")).unwrap(), n as u64);
    drop(done);
    drop(engine);
    Sample {
        names: t0 - tn,
        build: t1 - t0,
        compile: t2 - t1,
        run: t3 - t2,
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    // `--only N`: one size, 11 runs (for profiling).
    let only: Option<usize> = std::env::args()
        .skip_while(|a| a != "--only")
        .nth(1)
        .and_then(|n| n.parse().ok());
    let only = only.map(|n| [(n, 11)]);
    let sizes: &[(usize, usize)] = if let Some(only) = &only {
        only
    } else if quick {
        &[(1_000, 3), (10_000, 3)]
    } else {
        &[(1_000, 21), (10_000, 11), (100_000, 5)]
    };
    println!("| N | runs | total median (ms) | per task (ns) | build (ns/task) | validate (ns/task) | run (ns/task) | names, untimed (ns/task) |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    for &(n, runs) in sizes {
        once(n); // warm-up
        let samples: Vec<Sample> = (0..runs).map(|_| once(n)).collect();
        let total = median(
            samples
                .iter()
                .map(|s| s.build + s.compile + s.run)
                .collect(),
        );
        let per = |d: Duration| d.as_nanos() as f64 / n as f64;
        println!(
            "| {n} | {runs} | {:.2} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} |",
            total.as_secs_f64() * 1e3,
            per(total),
            per(median(samples.iter().map(|s| s.build).collect())),
            per(median(samples.iter().map(|s| s.compile).collect())),
            per(median(samples.iter().map(|s| s.run).collect())),
            per(median(samples.iter().map(|s| s.names).collect())),
        );
    }
}
