//! The parallel executor: wall time of sleeping tasks, and per-task overhead of
//! a wide fan-out. Run with `cargo bench --bench parallel` (`-- --quick` for a
//! smoke run, `-- --only sleep|async|sync` for one scenario, to profile);
//! prints markdown tables (median of the runs).
//!
//! - `sleep`: 100 independent sync tasks that each sleep 10 ms, unordered,
//!   `max_workers = 8` (13 rounds of 8); the same scenario as
//!   `parallel_sleep` in `../shared/bench/taskflow_py`; and the same with
//!   async tasks that await `tokio::time::sleep` (whose timer counts whole
//!   milliseconds, rounding a deadline up). Each row also gives the floor on
//!   this machine: 13 × the median of 100 sleeps of 10 ms, without an engine,
//!   how long a sleep lasted inside the run, and the engine's hand-offs: the
//!   time from a task's end to the start of the task that took its place.
//! - `fan-out`: one root task, then N no-op tasks that each read its output,
//!   in a graph flow, `max_workers = 64`; async tasks (spawned on tokio) and
//!   sync tasks (run on the engine's pool of threads).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use taskwire::{Engine, Flow, FnTask};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

type Spans = Arc<Mutex<Vec<(Instant, Instant)>>>;

fn sleep_flow(async_tasks: bool, spans: &Spans) -> Flow {
    let mut flow = Flow::unordered("sleepers");
    for i in 0..100 {
        let task = FnTask::new(format!("sleep{i}"));
        let spans = spans.clone();
        flow.push(if async_tasks {
            task.run_async(move |_| {
                let spans = spans.clone();
                Box::pin(async move {
                    let t = Instant::now();
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    spans.lock().unwrap().push((t, Instant::now()));
                    Ok(json!(null))
                })
            })
        } else {
            task.run(move |_| {
                let t = Instant::now();
                std::thread::sleep(Duration::from_millis(10));
                spans.lock().unwrap().push((t, Instant::now()));
                Ok(json!(null))
            })
        });
    }
    flow
}

fn fan_out(n: usize, async_tasks: bool) -> Flow {
    let mut flow = Flow::graph("fan_out");
    flow.push(FnTask::new("root").provides("x").run(|_| Ok(json!(1))));
    for i in 0..n {
        let task = FnTask::new(format!("leaf{i}")).requires(["x"]);
        flow.push(if async_tasks {
            task.run_async(|_| Box::pin(async { Ok(json!(null)) }))
        } else {
            task.run(|_| Ok(json!(null)))
        });
    }
    flow
}

fn time(runs: usize, mut once: impl FnMut() -> Duration) -> Duration {
    once(); // warm-up
    median((0..runs).map(|_| once()).collect())
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let runs = if quick { 3 } else { 11 };
    let only: Option<String> = std::env::args().skip_while(|a| a != "--only").nth(1);
    let wanted = |scenario: &str| only.as_deref().is_none_or(|o| o == scenario);

    if wanted("sleep") {
        sleep_scenario(runs);
    }
    println!();
    println!("| fan-out | N | max_workers | runs | validate + run median (ms) | per task (µs) | validate (µs/task) | run (µs/task) |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    let n = if quick { 1_000 } else { 10_000 };
    for (label, async_tasks) in [("async no-op", true), ("sync no-op", false)] {
        if !wanted(if async_tasks { "async" } else { "sync" }) {
            continue;
        }
        fan_out_scenario(label, n, async_tasks, runs);
    }
}

/// The floor of the sleep scenario on this machine: 13 rounds of the median
/// of 100 sleeps of 10 ms, one after the other, without an engine (a sleep
/// lasts longer than asked: timer slack, wake-up, and for tokio's timer a
/// deadline rounded up to its next millisecond).
fn sleep_floor(async_tasks: bool) -> Duration {
    let mut sleeps = Vec::with_capacity(100);
    if async_tasks {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a runtime");
        rt.block_on(async {
            for _ in 0..100 {
                let t = Instant::now();
                tokio::time::sleep(Duration::from_millis(10)).await;
                sleeps.push(t.elapsed());
            }
        });
    } else {
        for _ in 0..100 {
            let t = Instant::now();
            std::thread::sleep(Duration::from_millis(10));
            sleeps.push(t.elapsed());
        }
    }
    median(sleeps) * 13
}

fn sleep_scenario(runs: usize) {
    println!(
        "| scenario | max_workers | runs | wall median (s) | floor: 13 × median sleep (s) \
         | a sleep in the run (ms) | hand-off, median / p90 (µs) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (label, async_tasks) in [("sync", false), ("async", true)] {
        let (mut slept, mut gaps) = (Vec::new(), Vec::new());
        let wall = time(runs, || {
            let spans = Spans::default();
            let flow = sleep_flow(async_tasks, &spans);
            let t = Instant::now();
            Engine::new(flow).max_workers(8).run().expect("runs");
            let wall = t.elapsed();
            let spans = spans.lock().unwrap();
            slept.extend(spans.iter().map(|(start, end)| *end - *start));
            gaps.extend(hand_offs(&spans, 8));
            wall
        });
        let p90 = {
            gaps.sort();
            gaps[gaps.len() * 9 / 10]
        };
        println!(
            "| 100 × sleep 10 ms, unordered, {label} | 8 | {runs} | {:.4} | {:.4} | {:.2} | {:.0} / {:.0} |",
            wall.as_secs_f64(),
            sleep_floor(async_tasks).as_secs_f64(),
            median(slept).as_secs_f64() * 1e3,
            median(gaps).as_secs_f64() * 1e6,
            p90.as_secs_f64() * 1e6,
        );
    }
}

/// The engine's hand-offs in a run of tasks `workers` at a time: the k-th
/// task to start (k ≥ `workers`) could start once the (k − `workers`)-th
/// had ended, so the time between those is what the engine took to see
/// the end and start the next.
fn hand_offs(spans: &[(Instant, Instant)], workers: usize) -> Vec<Duration> {
    let mut starts: Vec<Instant> = spans.iter().map(|s| s.0).collect();
    let mut ends: Vec<Instant> = spans.iter().map(|s| s.1).collect();
    starts.sort();
    ends.sort();
    starts[workers..]
        .iter()
        .zip(&ends)
        .map(|(start, end)| start.saturating_duration_since(*end))
        .collect()
}

fn fan_out_scenario(label: &str, n: usize, async_tasks: bool, runs: usize) {
    let mut phases = Vec::new();
    let total = time(runs, || {
        let flow = fan_out(n, async_tasks);
        let t = Instant::now();
        let mut engine = Engine::new(flow).max_workers(64);
        engine.compile().expect("valid");
        let compiled = t.elapsed();
        engine.run().expect("runs");
        let total = t.elapsed();
        phases.push((compiled, total - compiled));
        total
    });
    let per = |d: Duration| d.as_secs_f64() * 1e6 / n as f64;
    println!(
        "| {label} | {n} | 64 | {runs} | {:.2} | {:.2} | {:.2} | {:.2} |",
        total.as_secs_f64() * 1e3,
        per(total),
        per(median(phases.iter().map(|p| p.0).collect())),
        per(median(phases.iter().map(|p| p.1).collect())),
    );
}
