//! The linear chain of the `linear_chain` bench, persisted: every transition
//! written through to a logbook before the engine acts on it, the SUCCESS of
//! one task and the RUNNING of the next in one commit (group commit). Per
//! backend: µs per task for N = 1,000 (median of the runs), the commits per
//! task (counted by a wrapper around the backend), the cost of one bare
//! commit measured in the same run (one atom detail of a 1,000-atom flow
//! saved SUCCESS under a lease, each in a transaction of its own, as a chain
//! saves them) and the ratio of the two; the cost of a bare commit of a
//! step's two rows (atom i SUCCESS and atom i + 1 RUNNING, written as the
//! engine writes them and saved together through the backend, without an
//! engine) and the ratio to that; and the peak memory of a 10,000-task
//! persisted run (SQLite). Run with `cargo bench --bench
//! persisted_chain --all-features` (`-- --quick` for a smoke run, `-- --only
//! NORMAL` for the rows whose backend names that word, to profile); PostgreSQL
//! and MariaDB rows need the `postgres` / `mysql` features and their servers,
//! the ZooKeeper row the `zookeeper` feature and ZooKeeper on 127.0.0.1:2181
//! (its logbooks are deleted afterwards).

#[path = "../tests/common/watched.rs"]
mod watched;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use taskwire::persistence::{self, AtomDetail, Backend, FlowDetail, Lease, LogBook, Uuid};
use taskwire::{AtomState, Engine, Flow, Task, TaskSpec, TimingListener};
use watched::Watched;

/// A flow of `n` atoms recorded PENDING (one write) under a lease, for the
/// bare commits: its logbook's id (to delete it), the lease and the atoms.
/// With `in_order`, the atoms' ids begin with their positions, as the
/// engine's do, so that neighbours share a page of the index.
fn bare_flow(backend: &dyn Backend, n: u32, in_order: bool) -> (Uuid, Lease, Vec<AtomDetail>) {
    let book = LogBook::new("bare");
    backend.save_logbook(&book).unwrap();
    let flow = FlowDetail::new(book.uuid, "bare");
    backend.save_flow(&flow, None).unwrap();
    let lease = backend
        .acquire_lease(flow.uuid, "bench", Duration::from_secs(600))
        .unwrap();
    let atoms: Vec<AtomDetail> = (0..n)
        .map(|i| {
            let mut atom = AtomDetail::new(flow.uuid, format!("t{i}"), i);
            if in_order {
                let mut id = *atom.uuid.as_bytes();
                id[..4].copy_from_slice(&i.to_be_bytes());
                atom.uuid = Uuid::new_v8(id);
            }
            atom
        })
        .collect();
    backend.save_atoms(&atoms, Some(&lease)).unwrap();
    (book.uuid, lease, atoms)
}

/// The cost of one bare commit: one atom detail saved under a lease, in a
/// transaction of its own, as the chain's atoms are: `n` atoms recorded
/// PENDING first (one write), then each one SUCCESS with a small result.
fn bare_commit(backend: &dyn Backend, n: u32) -> Duration {
    let (book, lease, mut atoms) = bare_flow(backend, n, false);
    let t = Instant::now();
    for (i, atom) in atoms.iter_mut().enumerate() {
        atom.state = AtomState::Success;
        atom.result = Some(serde_json::json!(i + 1));
        atom.touch();
        backend.save_atom(atom, Some(&lease)).unwrap();
    }
    let elapsed = t.elapsed();
    backend.delete_logbook(book).unwrap();
    elapsed / n
}

/// The cost of a bare commit of a chain step's two rows: atom `i` SUCCESS
/// with a small result and atom `i + 1` RUNNING, each with the timeline the
/// engine keeps in an atom's meta (a row grows from about 80 to 180 bytes
/// between PENDING and SUCCESS, as the engine's do), saved together under a
/// lease by `save_records`, as the engine saves a step, but without it.
fn bare_step(backend: &dyn Backend, n: u32) -> Duration {
    let (book, lease, mut atoms) = bare_flow(backend, n, true);
    let t = Instant::now();
    for i in 0..atoms.len() - 1 {
        let ms = atoms[i].updated_at;
        let execution = |state: &str| {
            let mut entry = serde_json::json!({"kind": "execute", "start": ms, "state": state});
            if state == "SUCCESS" {
                entry["end"] = ms.into();
            }
            serde_json::json!({"done": 0, "timeline": [entry]})
        };
        atoms[i].state = AtomState::Success;
        atoms[i].result = Some(serde_json::json!(i + 1));
        atoms[i].meta = execution("SUCCESS");
        atoms[i].touch();
        atoms[i + 1].state = AtomState::Running;
        atoms[i + 1].meta = execution("RUNNING");
        atoms[i + 1].touch();
        backend
            .save_records(None, &atoms[i..i + 2], Some(&lease))
            .unwrap();
    }
    let elapsed = t.elapsed();
    backend.delete_logbook(book).unwrap();
    elapsed / (n - 1)
}

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
    listened(n, backend, Listen::No)
}

/// Who listens to a run.
#[derive(Clone, Copy, PartialEq)]
enum Listen {
    No,
    /// A timing listener.
    Timing,
    /// A timing listener, with a handle of the engine's suspender held.
    TimingSuspendable,
}

fn listened(n: usize, backend: &Arc<dyn Backend>, listen: Listen) -> Duration {
    let t = Instant::now();
    let mut engine = Engine::new(chain(n))
        .input("v0", 0u64)
        .persist(Arc::clone(backend));
    if listen != Listen::No {
        engine = engine.listener(Arc::new(TimingListener::new()));
    }
    let suspender = (listen == Listen::TimingSuspendable).then(|| engine.suspender());
    let done = engine.run().expect("runs");
    let elapsed = t.elapsed();
    drop(suspender);
    assert_eq!(done.get::<u64>(&format!("v{n}")).unwrap(), n as u64);
    elapsed
}

/// The chain in SQLite (NORMAL) with a listener: its changes are told
/// once committed, and with no other handle of the suspender a step's two
/// records still share one commit.
fn listeners(backend: &Arc<dyn Backend>, n: usize, runs: usize) {
    println!();
    println!("| sqlite (WAL, synchronous=NORMAL) | N | runs | µs per task | commits per task |");
    println!("|---|---:|---:|---:|---:|");
    for (label, listen) in [
        ("no listener", Listen::No),
        ("a timing listener", Listen::Timing),
        (
            "a timing listener, a suspender handle held",
            Listen::TimingSuspendable,
        ),
    ] {
        let writes = Arc::new(AtomicU64::new(0));
        let count = Arc::clone(&writes);
        let counted: Arc<dyn Backend> = Arc::new(Watched::new(Arc::clone(backend), move |_| {
            count.fetch_add(1, Ordering::Relaxed);
        }));
        listened(n.min(50), &counted, listen);
        writes.store(0, Ordering::Relaxed);
        let mut times: Vec<Duration> = (0..runs).map(|_| listened(n, &counted, listen)).collect();
        let commits = writes.load(Ordering::Relaxed) as f64 / (runs * n) as f64;
        times.sort();
        let per_task = times[times.len() / 2].as_secs_f64() * 1e6 / n as f64;
        println!("| {label} | {n} | {runs} | {per_task:.1} | {commits:.3} |");
    }
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
    let only: Option<String> = std::env::args().skip_while(|a| a != "--only").nth(1);

    // Peak memory first, before anything else has grown the heap.
    let big = if quick { 1_000 } else { 10_000 };
    let peak = only.is_none().then(|| {
        let tmp = temp("rss");
        let url = format!("sqlite://{}", tmp.0.join("log.db").display());
        let backend = persistence::open(&url).unwrap();
        let before = peak_rss_kib();
        let wall = once(big, &backend);
        (before, peak_rss_kib(), wall)
    });

    let tmp = temp("runs");
    #[cfg_attr(
        not(any(feature = "postgres", feature = "mysql", feature = "zookeeper")),
        allow(unused_mut)
    )]
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

    #[cfg(feature = "zookeeper")]
    let zk = persistence::open("zookeeper://127.0.0.1:2181/taskwire-bench").ok();
    #[cfg(feature = "zookeeper")]
    if let Some(zk) = zk.clone() {
        rows.push((
            "zookeeper (local, TCP)".into(),
            "power loss (server default: fsync)".into(),
            zk,
        ));
    }
    println!("| backend | a recorded step survives | N | runs | median (ms) | µs per task | commits per task | µs per bare commit | task / bare commit | µs per bare two-row commit | task / two-row commit |");
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    rows.retain(|(name, _, _)| only.as_deref().is_none_or(|o| name.contains(o)));
    for (name, survives, backend) in &rows {
        // Every write is a commit: counted as it passes.
        let writes = Arc::new(AtomicU64::new(0));
        let count = Arc::clone(&writes);
        let counted: Arc<dyn Backend> = Arc::new(Watched::new(Arc::clone(backend), move |_| {
            count.fetch_add(1, Ordering::Relaxed);
        }));
        once(n.min(50), &counted); // warm up: statements prepared
        let bare = bare_commit(&**backend, if quick { 100 } else { 1_000 });
        let step = bare_step(&**backend, if quick { 100 } else { 1_000 });
        writes.store(0, Ordering::Relaxed);
        let mut times: Vec<Duration> = (0..runs).map(|_| once(n, &counted)).collect();
        let commits = writes.load(Ordering::Relaxed) as f64 / (runs * n) as f64;
        times.sort();
        let median = times[times.len() / 2];
        let per_task = median.as_secs_f64() * 1e6 / n as f64;
        let bare = bare.as_secs_f64() * 1e6;
        let step = step.as_secs_f64() * 1e6;
        println!(
            "| {name} | {survives} | {n} | {runs} | {:.1} | {per_task:.1} | {commits:.3} | {bare:.1} | {:.2}× | {step:.1} | {:.2}× |",
            median.as_secs_f64() * 1e3,
            per_task / bare,
            per_task / step,
        );
    }
    if let Some((_, _, sqlite)) = rows.iter().find(|(name, _, _)| name.contains("NORMAL")) {
        listeners(sqlite, n, runs);
    }
    #[cfg(feature = "zookeeper")]
    if let Some(zk) = zk {
        for summary in zk.list_logbooks().unwrap() {
            zk.delete_logbook(summary.book.uuid).unwrap();
        }
    }
    let Some((before, after, wall)) = peak else {
        return;
    };
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
