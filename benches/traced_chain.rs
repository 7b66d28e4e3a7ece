//! What spans cost: the serial chain of `linear_chain` (N no-op tasks, in
//! memory), its run timed per atom with no subscriber, with a plain
//! `tracing_subscriber::Registry` (spans created, entered and closed, but
//! nothing recorded), and with the `tracing-opentelemetry` layer exporting
//! to the SDK's in-memory exporter (every span built and exported).
//!
//! Run with `cargo bench --bench traced_chain --features otel`; prints a
//! markdown table (median of the runs). The subscribers are installed for
//! the bench's thread only (`with_default`), no subscriber first: once a
//! subscriber has existed, `tracing` keeps its callsites' interest.
//! `--quick`: fewer runs.

use std::time::{Duration, Instant};

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use taskwire::{Engine, Flow, Task, TaskSpec};
use tracing_subscriber::layer::SubscriberExt;

#[taskwire::task(provides = "v")]
fn inc(v: u64) -> u64 {
    v + 1
}

/// A compiled engine for a chain of `n` atoms.
fn engine(n: usize) -> Engine {
    let mut flow = Flow::linear("traced");
    for i in 0..n {
        flow.push(
            TaskSpec::from_static(<inc as Task>::DEF)
                .named(format!("t{i}"))
                .rebind("v", format!("v{i}"))
                .provides_as(format!("v{}", i + 1)),
        );
    }
    let mut engine = Engine::new(flow).input("v0", 0u64);
    engine.compile().expect("valid flow");
    engine
}

/// The time of one run of a chain of `n` atoms.
fn once(n: usize) -> Duration {
    let mut engine = engine(n);
    let t0 = Instant::now();
    let done = engine.run().expect("runs");
    let took = t0.elapsed();
    assert_eq!(done.get::<u64>(&format!("v{n}")).unwrap(), n as u64);
    took
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// The median per-atom time of `runs` runs (after a warm-up), each after
/// `between`.
fn measure(n: usize, runs: usize, between: &dyn Fn()) -> f64 {
    once(n);
    between();
    let samples = (0..runs)
        .map(|_| {
            let took = once(n);
            between();
            took
        })
        .collect();
    median(samples).as_nanos() as f64 / n as f64
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (n, runs) = if quick { (10_000, 5) } else { (10_000, 21) };
    println!("| subscriber | N | runs | run (ns/atom) | added (ns/atom) |");
    println!("|---|---:|---:|---:|---:|");
    let none = measure(n, runs, &|| {});
    println!("| none | {n} | {runs} | {none:.0} | — |");

    let registry = tracing::subscriber::with_default(tracing_subscriber::registry(), || {
        measure(n, runs, &|| {})
    });
    println!(
        "| `Registry` | {n} | {runs} | {registry:.0} | {:+.0} |",
        registry - none
    );

    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("bench"));
    let otel =
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
            measure(n, runs, &|| {
                // Every span of the run was exported (1 flow + N atoms).
                assert!(exporter.get_finished_spans().unwrap().len() > n);
                exporter.reset();
            })
        });
    println!(
        "| `tracing-opentelemetry`, in-memory export | {n} | {runs} | {otel:.0} | {:+.0} |",
        otel - none
    );
}
