//! The cost of persisting a linear flow, per task, for each backend.
//!
//! Each task of a 1,000-task linear flow causes two committed writes under the
//! flow's lease (fenced): its atom detail RUNNING, then SUCCESS with a small
//! result. The table reports the wall time of those writes (building the atom
//! detail, serializing, the fencing check and the commit), per task — the
//! mean over all the runs, so that periodic costs (WAL checkpoints) count.
//!
//! ```text
//! cargo bench -p taskwire-runtime --bench persist --all-features           # full
//! cargo bench -p taskwire-runtime --bench persist --all-features -- --quick
//! cargo bench -p taskwire-runtime --bench persist -- sqlite   # only backends named so
//! ```
//!
//! PostgreSQL and MariaDB (with their features) are measured when reachable at
//! `TASKWIRE_BENCH_POSTGRES` / `TASKWIRE_BENCH_MYSQL` (server URLs, default
//! `postgres://postgres@127.0.0.1:5432` and `mysql://root@127.0.0.1:3306`), in
//! a database made for the run and dropped after it.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::json;
use taskwire_runtime::persistence::{self, AtomDetail, Backend, FlowDetail, LogBook};
use taskwire_runtime::AtomState;

/// One run: `tasks` tasks persisted through `backend`; the time per task.
fn run(backend: &dyn Backend, tasks: u32) -> Duration {
    let book = LogBook::new("bench");
    backend.save_logbook(&book).expect("save the logbook");
    let flow = FlowDetail::new(book.uuid, "linear");
    backend.save_flow(&flow, None).expect("save the flow");
    let lease = backend
        .acquire_lease(flow.uuid, "bench", Duration::from_secs(600))
        .expect("acquire the lease");
    let start = Instant::now();
    for i in 0..tasks {
        let mut atom = AtomDetail::new(flow.uuid, format!("t{i}"), i);
        atom.state = AtomState::Running;
        backend
            .save_atom(&atom, Some(&lease))
            .expect("save RUNNING");
        atom.state = AtomState::Success;
        atom.result = Some(json!(u64::from(i) + 1));
        atom.touch();
        backend
            .save_atom(&atom, Some(&lease))
            .expect("save SUCCESS");
    }
    let elapsed = start.elapsed();
    // Check what was written, outside the timing.
    let (_, atoms) = backend.load_flow(flow.uuid).expect("load the flow");
    assert_eq!(atoms.len(), tasks as usize);
    assert!(atoms.iter().all(|a| a.state == AtomState::Success));
    backend
        .delete_logbook(book.uuid)
        .expect("delete the logbook");
    elapsed / tasks
}

struct Row {
    backend: &'static str,
    durability: &'static str,
    tasks: u32,
    runs: usize,
    per_task: Duration,
}

/// Backends whose name contains one of the non-flag arguments (all if none).
fn selected(backend: &str) -> bool {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    filters.is_empty() || filters.iter().any(|f| backend.contains(f.as_str()))
}

fn measure(
    rows: &mut Vec<Row>,
    backend: &'static str,
    durability: &'static str,
    tasks: u32,
    runs: usize,
    open: impl Fn() -> Result<std::sync::Arc<dyn Backend>, persistence::PersistenceError>,
) {
    if !selected(backend) {
        return;
    }
    let b = match open() {
        Ok(b) => b,
        Err(e) => {
            eprintln!("skipping {backend}: {e}");
            return;
        }
    };
    run(&*b, tasks.min(50)); // warm up: statements prepared, files created
                             // The mean over every run, not the median: the occasional WAL checkpoint
                             // or server flush is part of the cost.
    let total: Duration = (0..runs).map(|_| run(&*b, tasks)).sum();
    rows.push(Row {
        backend,
        durability,
        tasks,
        runs,
        per_task: total / runs as u32,
    });
}

/// A temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let path =
            std::env::temp_dir().join(format!("taskwire-bench-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create a temporary directory");
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (tasks, runs) = if quick { (100, 1) } else { (1_000, 5) };
    let slow_tasks = if quick { 20 } else { 1_000 };
    let slow_runs = if quick { 1 } else { 3 };
    let mut rows = Vec::new();

    measure(
        &mut rows,
        "memory",
        "none (process memory)",
        tasks,
        runs,
        || persistence::open("memory://"),
    );

    #[cfg(feature = "sqlite")]
    let _sqlite_dir = {
        let dir = TempDir::new("sqlite");
        let normal = format!("sqlite://{}", dir.0.join("normal.db").display());
        measure(
            &mut rows,
            "sqlite (WAL, synchronous=NORMAL)",
            "process crash",
            tasks,
            runs,
            || persistence::open(&normal),
        );
        let full = format!(
            "sqlite://{}?synchronous=full",
            dir.0.join("full.db").display()
        );
        measure(
            &mut rows,
            "sqlite (WAL, synchronous=FULL)",
            "power loss",
            slow_tasks,
            slow_runs,
            || persistence::open(&full),
        );
        dir
    };

    let dir = TempDir::new("dir");
    let url = format!("dir://{}", dir.0.join("log").display());
    measure(
        &mut rows,
        "dir (fsync file + directory)",
        "power loss",
        slow_tasks,
        slow_runs,
        || persistence::open(&url),
    );

    #[cfg(feature = "postgres")]
    {
        let server = std::env::var("TASKWIRE_BENCH_POSTGRES")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned());
        let db = format!("taskwire_bench_{}", std::process::id());
        let admin = || postgres::Client::connect(&format!("{server}/postgres"), postgres::NoTls);
        match admin().and_then(|mut c| c.batch_execute(&format!("CREATE DATABASE {db}"))) {
            Ok(()) => {
                measure(
                    &mut rows,
                    "postgres (local, TCP)",
                    "power loss (server default)",
                    slow_tasks,
                    slow_runs,
                    || persistence::open(&format!("{server}/{db}")),
                );
                if let Ok(mut c) = admin() {
                    let _ = c.batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"));
                }
            }
            Err(e) => eprintln!("skipping postgres: {e}"),
        }
    }

    #[cfg(feature = "mysql")]
    {
        use mysql::prelude::Queryable;
        let server = std::env::var("TASKWIRE_BENCH_MYSQL")
            .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".to_owned());
        let db = format!("taskwire_bench_{}", std::process::id());
        let admin = || {
            mysql::Opts::from_url(&format!("{server}/"))
                .map_err(mysql::Error::from)
                .and_then(mysql::Conn::new)
        };
        match admin().and_then(|mut c| c.query_drop(format!("CREATE DATABASE {db}"))) {
            Ok(()) => {
                measure(
                    &mut rows,
                    "mariadb (local, TCP)",
                    "power loss (server default)",
                    slow_tasks,
                    slow_runs,
                    || persistence::open(&format!("{server}/{db}")),
                );
                if let Ok(mut c) = admin() {
                    let _ = c.query_drop(format!("DROP DATABASE IF EXISTS {db}"));
                }
            }
            Err(e) => eprintln!("skipping mysql: {e}"),
        }
    }
    drop(dir);

    println!(
        "| backend | a committed write survives | tasks × runs | µs per task (2 writes) | µs per write |"
    );
    println!("|---|---|---:|---:|---:|");
    for row in &rows {
        let us = row.per_task.as_secs_f64() * 1e6;
        println!(
            "| {} | {} | {} × {} | {:.1} | {:.1} |",
            row.backend,
            row.durability,
            row.tasks,
            row.runs,
            us,
            us / 2.0
        );
    }

    #[cfg(feature = "sqlite")]
    if !quick {
        // Memory of a 10,000-task persisted flow (the writes only; the engine
        // adds its own).
        let dir = TempDir::new("sqlite-10k");
        let url = format!("sqlite://{}", dir.0.join("10k.db").display());
        if let Ok(b) = persistence::open(&url) {
            let per_task = run(&*b, 10_000);
            println!(
                "\n10,000 tasks, sqlite NORMAL: {:.1} µs per task; peak RSS of this process {:.1} MiB",
                per_task.as_secs_f64() * 1e6,
                peak_rss_mib().unwrap_or(f64::NAN)
            );
        }
    }
}
