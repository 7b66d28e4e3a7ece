//! The linear chain of the `linear_chain` bench, persisted: every transition
//! written through to a logbook before the engine acts on it (two writes per
//! task, RUNNING and SUCCESS, plus the flow's own). Per backend, µs per task
//! for N = 1,000 (median of the runs), and the peak memory of a 10,000-task
//! persisted run (SQLite). Run with `cargo bench --bench persisted_chain
//! --all-features` (`-- --quick` for a smoke run); PostgreSQL and MariaDB
//! rows need the `postgres` / `mysql` features and their servers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use taskwire::persistence::{self, Backend};
use taskwire::{Engine, Flow, Task, TaskSpec};

#[taskwire::task(provides = "v")]
fn inc(v: u64) -> u64 {
    v + 1
}

fn chain(n: usize) -> Flow {
    let mut flow = Flow::linear("persisted");
    for i in 0..n {
        flow.push(
            TaskSpec::from_static(<inc as Task>::DEF)
                .named(format!("t{i}"))
                .rebind("v", format!("v{i}"))
                .provides_as(format!("v{}", i + 1)),
        );
    }
    flow
}

/// Builds, records and runs the chain; the time covers everything from the
/// flow's creation to the end of the run (the logbook's schema exists).
fn once(n: usize, backend: &Arc<dyn Backend>) -> Duration {
    let t = Instant::now();
    let done = Engine::new(chain(n))
        .input("v0", 0u64)
        .persist(Arc::clone(backend))
        .run()
        .expect("runs");
    let elapsed = t.elapsed();
    assert_eq!(done.get::<u64>(&format!("v{n}")).unwrap(), n as u64);
    elapsed
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

struct Temp(std::path::PathBuf);

impl Drop for Temp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn temp(name: &str) -> Temp {
    let dir = std::env::temp_dir().join(format!("taskwire-bench-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    Temp(dir)
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let n = if quick { 100 } else { 1_000 };
    let runs = if quick { 1 } else { 5 };

    // Peak memory first, before anything else has grown the heap.
    let big = if quick { 1_000 } else { 10_000 };
    let tmp = temp("rss");
    let url = format!("sqlite://{}", tmp.0.join("log.db").display());
    let backend = persistence::open(&url).unwrap();
    let before = peak_rss_kib();
    let wall = once(big, &backend);
    let after = peak_rss_kib();
    drop(tmp);

    let tmp = temp("runs");
    #[cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(unused_mut))]
    let mut rows: Vec<(String, String, Arc<dyn Backend>)> = vec![
        (
            "memory".into(),
            "none".into(),
            persistence::open("memory://").unwrap(),
        ),
        (
            "sqlite (WAL, synchronous=NORMAL)".into(),
            "process crash".into(),
            persistence::open(&format!("sqlite://{}", tmp.0.join("normal.db").display())).unwrap(),
        ),
        (
            "sqlite (WAL, synchronous=FULL)".into(),
            "power loss".into(),
            persistence::open(&format!(
                "sqlite://{}?synchronous=full",
                tmp.0.join("full.db").display()
            ))
            .unwrap(),
        ),
        (
            "dir (fsync file + directory)".into(),
            "power loss".into(),
            persistence::open(&format!("dir://{}", tmp.0.join("dir").display())).unwrap(),
        ),
    ];
    #[cfg(feature = "postgres")]
    let _pg = databases::Pg::new().inspect(|db| {
        rows.push((
            "postgres (local, TCP)".into(),
            "power loss (server default)".into(),
            persistence::open(&db.url()).unwrap(),
        ));
    });
    #[cfg(feature = "mysql")]
    let _maria = databases::Maria::new().inspect(|db| {
        rows.push((
            "mariadb (local, TCP)".into(),
            "power loss (server default)".into(),
            persistence::open(&db.url()).unwrap(),
        ));
    });

    println!("| backend | a recorded step survives | N | runs | median (ms) | µs per task |");
    println!("|---|---|---:|---:|---:|---:|");
    for (name, survives, backend) in &rows {
        let mut times: Vec<Duration> = (0..runs).map(|_| once(n, backend)).collect();
        times.sort();
        let median = times[times.len() / 2];
        println!(
            "| {name} | {survives} | {n} | {runs} | {:.1} | {:.1} |",
            median.as_secs_f64() * 1e3,
            median.as_secs_f64() * 1e6 / n as f64
        );
    }
    println!();
    println!(
        "peak memory (VmHWM) of a {big}-task run persisted in SQLite: {} MiB before, {} MiB after ({:.2} s)",
        before.map_or("?".into(), |k| format!("{:.1}", k as f64 / 1024.0)),
        after.map_or("?".into(), |k| format!("{:.1}", k as f64 / 1024.0)),
        wall.as_secs_f64()
    );
}

#[cfg(any(feature = "postgres", feature = "mysql"))]
mod databases {
    #[cfg(feature = "postgres")]
    pub(crate) struct Pg(String);

    #[cfg(feature = "postgres")]
    impl Pg {
        fn admin() -> Option<postgres::Client> {
            postgres::Client::connect(
                "host=127.0.0.1 port=5432 user=postgres dbname=postgres",
                postgres::NoTls,
            )
            .ok()
        }

        pub(crate) fn new() -> Option<Pg> {
            let name = format!("tw_bench_{}", std::process::id());
            Pg::admin()?
                .batch_execute(&format!("CREATE DATABASE {name}"))
                .ok()?;
            Some(Pg(name))
        }

        pub(crate) fn url(&self) -> String {
            format!("postgres://postgres@127.0.0.1:5432/{}", self.0)
        }
    }

    #[cfg(feature = "postgres")]
    impl Drop for Pg {
        fn drop(&mut self) {
            if let Some(mut c) = Pg::admin() {
                let _ =
                    c.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.0));
            }
        }
    }

    #[cfg(feature = "mysql")]
    pub(crate) struct Maria(String);

    #[cfg(feature = "mysql")]
    impl Maria {
        fn admin() -> Option<mysql::Conn> {
            mysql::Conn::new(mysql::Opts::from_url("mysql://root@127.0.0.1:3306/mysql").ok()?).ok()
        }

        pub(crate) fn new() -> Option<Maria> {
            use mysql::prelude::Queryable;
            let name = format!("tw_bench_{}", std::process::id());
            Maria::admin()?
                .query_drop(format!("CREATE DATABASE {name}"))
                .ok()?;
            Some(Maria(name))
        }

        pub(crate) fn url(&self) -> String {
            format!("mysql://root@127.0.0.1:3306/{}", self.0)
        }
    }

    #[cfg(feature = "mysql")]
    impl Drop for Maria {
        fn drop(&mut self) {
            use mysql::prelude::Queryable;
            if let Some(mut c) = Maria::admin() {
                let _ = c.query_drop(format!("DROP DATABASE IF EXISTS {}", self.0));
            }
        }
    }
}
