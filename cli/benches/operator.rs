//! The operator's commands on a big logbook: 100,000 flow details in 100
//! logbooks, on SQLite and PostgreSQL. Measures `Backend::query_flows` (the
//! newest 50; a page deep in the listing, through its cursor; the newest 50
//! FAILURE flows) and `load_flow` of a run, in process, and the whole
//! `taskwire flows list` / `taskwire flow show` commands (a process each,
//! start to exit). Median of the runs, in ms. The target: the newest 50 in
//! at most 200 ms.
//!
//! Run with `cargo bench -p taskwire-cli --bench operator`
//! (`-- --quick` for 10,000 flows); PostgreSQL at 127.0.0.1:5432 (user
//! postgres, trust), or `TASKWIRE_BENCH_POSTGRES`.

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use taskwire::persistence::{self, Backend, Cursor, FlowDetail, FlowQuery, LogBook, Uuid};
use taskwire::{Engine, Flow, FlowState, FnTask};

const RUNS: usize = 15;

fn median(mut samples: Vec<Duration>) -> f64 {
    samples.sort();
    samples[samples.len() / 2].as_secs_f64() * 1000.0
}

fn time(mut f: impl FnMut()) -> f64 {
    f(); // warm up
    median(
        (0..RUNS)
            .map(|_| {
                let start = Instant::now();
                f();
                start.elapsed()
            })
            .collect(),
    )
}

const STATES: [FlowState; 4] = [
    FlowState::Success,
    FlowState::Success,
    FlowState::Reverted,
    FlowState::Failure,
];

/// 100 logbooks of `n / 100` flows each, through the backend's API.
fn fill_by_api(backend: &dyn Backend, n: usize) {
    let base = persistence::now_ms() - n as i64;
    for b in 0..100 {
        let book = LogBook::new(format!("book-{b}"));
        backend.save_logbook(&book).unwrap();
        for i in 0..n / 100 {
            let k = b * (n / 100) + i;
            let mut flow = FlowDetail::new(book.uuid, format!("flow-{}", k % 1000));
            flow.state = STATES[k % 4];
            flow.created_at = base + (k as i64) / 2; // pairs share a time
            flow.updated_at = flow.created_at + 5;
            backend.save_flow(&flow, None).unwrap();
        }
    }
}

/// The same, in PostgreSQL with one statement per logbook.
fn fill_postgres(url: &str, n: usize) {
    let backend = persistence::open(url).unwrap(); // creates the schema
    let mut client = postgres::Client::connect(url, postgres::NoTls).unwrap();
    let base = persistence::now_ms() - n as i64;
    let per = (n / 100) as i64;
    for b in 0..100i64 {
        let book = LogBook::new(format!("book-{b}"));
        backend.save_logbook(&book).unwrap();
        client
            .execute(
                "INSERT INTO flowdetails (uuid, logbook_uuid, name, state, meta, created_at, updated_at)
                 SELECT gen_random_uuid()::text, $1, 'flow-' || ((k % 1000)::text),
                        (ARRAY['SUCCESS','SUCCESS','REVERTED','FAILURE'])[(k % 4) + 1], '{}',
                        $2 + k / 2, $2 + k / 2 + 5
                 FROM generate_series($3::bigint, $4::bigint) AS k",
                &[&book.uuid.to_string(), &base, &(b * per), &(b * per + per - 1)],
            )
            .unwrap();
    }
    client.batch_execute("ANALYZE").unwrap();
}

/// A real run of 20 atoms, to show.
fn a_run(backend: &Arc<dyn Backend>) -> Uuid {
    let mut flow = Flow::linear("shown");
    for i in 0..20 {
        flow.push(FnTask::new(format!("step-{i}")).run(move |_| Ok(json!({"step": i}))));
    }
    let mut engine = Engine::new(flow).persist(backend.clone());
    engine.run().unwrap();
    engine.flow_uuid().unwrap()
}

fn command(url: &str, args: &[&str]) -> f64 {
    time(|| {
        let out = Command::new(env!("CARGO_BIN_EXE_taskwire"))
            .arg("--url")
            .arg(url)
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    })
}

fn measure(name: &str, url: &str, n: usize) {
    let backend = persistence::open(url).unwrap();
    let shown = a_run(&backend).to_string();
    let newest = FlowQuery::new().limit(50);
    let list = time(|| {
        assert_eq!(backend.query_flows(&newest).unwrap().flows.len(), 50);
    });
    // The page after the first 1,000 pages... of 50: walk there once.
    let mut deep = newest.clone();
    for _ in 0..(n / 50 / 2).min(1000) {
        deep.after = backend.query_flows(&deep).unwrap().next;
    }
    let cursor: Cursor = deep.after.unwrap();
    let deep_page = time(|| {
        assert_eq!(backend.query_flows(&deep).unwrap().flows.len(), 50);
    });
    let failed = FlowQuery::new().state(FlowState::Failure).limit(50);
    let failed_page = time(|| {
        assert_eq!(backend.query_flows(&failed).unwrap().flows.len(), 50);
    });
    let id = shown.parse::<Uuid>().unwrap();
    let show = time(|| {
        assert_eq!(backend.load_flow(id).unwrap().1.len(), 20);
    });
    let list_cmd = command(url, &["flows", "list", "--json"]);
    let deep_cmd = command(url, &["flows", "list", "--after", &cursor.to_string()]);
    let show_cmd = command(url, &["flow", "show", &shown]);
    println!(
        "| {name:<10} | {n:>7} | {list:>9.2} | {deep_page:>9.2} | {failed_page:>11.2} | {show:>9.2} | {list_cmd:>12.1} | {deep_cmd:>12.1} | {show_cmd:>12.1} |"
    );
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let n = if quick { 10_000 } else { 100_000 };
    println!(
        "ms, median of {RUNS} runs; `deep` is the page after {} rows, through its cursor",
        (n / 2).min(50_000)
    );
    println!(
        "| backend    | flows   | newest 50 | deep page | FAILURE, 50 | load_flow | `flows list` | `--after` pg | `flow show`  |"
    );
    println!(
        "|------------|---------|-----------|-----------|-------------|-----------|--------------|--------------|--------------|"
    );

    let dir = std::env::temp_dir().join(format!("taskwire-bench-operator-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("big.db").display());
    fill_by_api(&*persistence::open(&url).unwrap(), n);
    measure("SQLite", &url, n);
    let _ = std::fs::remove_dir_all(&dir);

    let server = std::env::var("TASKWIRE_BENCH_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned());
    let db = format!("tw_bench_operator_{}", std::process::id());
    let admin = || postgres::Client::connect(&format!("{server}/postgres"), postgres::NoTls);
    match admin() {
        Ok(mut a) => {
            a.batch_execute(&format!("CREATE DATABASE {db}")).unwrap();
            let url = format!("{server}/{db}");
            fill_postgres(&url, n);
            measure("PostgreSQL", &url, n);
            let _ = admin()
                .unwrap()
                .batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"));
        }
        Err(e) => println!("| PostgreSQL | (no server: {e}) |"),
    }
}
