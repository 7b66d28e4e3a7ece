//! Distribution on this machine's servers, over loopback. Run with
//! `cargo bench --all-features --bench distributed` (`-- --quick` for a
//! smoke run); prints markdown tables.
//!
//! - `remote latency`: a flow of one no-op task run by a remote worker
//!   through RabbitMQ, one run after another; median and p99 of the run's
//!   wall time (engine, request, worker, result).
//! - `remote throughput`: one unordered flow of N no-op tasks, up to 64 out
//!   at once, run by 2 workers (8 tasks at a time each); tasks per second.
//! - `jobboard claims`: N jobs posted, then claimed and completed by one
//!   conductor-like loop, and again by four at once (threads, each with a
//!   board of its own: its own connection or session), which contend for
//!   the same first jobs; claims per second, for Redis, PostgreSQL,
//!   (feature `zookeeper`) ZooKeeper on 127.0.0.1:2181 and (feature `etcd`)
//!   etcd on 127.0.0.1:2379, each in a board or database of its own,
//!   removed after.
//!
//! Workers run in this process (on its tokio runtime) but every request and
//! result goes through the broker. `-- --only claims` runs the jobboards
//! alone, `-- --only remote` the workers alone.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use taskwire::jobboard::{JobBoard, NewJob, PostgresJobBoard, RedisJobBoard};
use taskwire::worker::{Broker, ExecutorConfig, Worker, WorkerExecutor};
use taskwire::{Engine, Flow, FlowState, FnTask, Registry, TaskDef, TaskSpec};

const AMQP: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

fn noop() -> Arc<TaskDef> {
    FnTask::new("bench::noop")
        .run(|_| Ok(json!(null)))
        .into_def()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1e3)
}

async fn remote(quick: bool) {
    // One namespace for every run: its queues expire when unused, and the
    // exchange is reused.
    let broker = Broker::new(AMQP, "tw.bench");
    let def = noop();
    let mut registry = Registry::new();
    registry.register(Arc::clone(&def)).unwrap();
    let workers: Vec<_> = (0..2)
        .map(|i| {
            Worker::new(format!("bench{i}"), broker.clone(), registry.clone())
                .idempotent(["bench::noop"])
                .capacity(8)
                .start()
                .unwrap()
        })
        .collect();
    let executor = WorkerExecutor::connect(broker, ExecutorConfig::default())
        .await
        .expect("RabbitMQ on 127.0.0.1:5672");
    assert!(executor.wait_for_workers(2, Duration::from_secs(30)).await);

    let runs = if quick { 50 } else { 1000 };
    let mut times = Vec::with_capacity(runs);
    for i in 0..runs + 20 {
        let flow = Flow::linear("one").add(TaskSpec::from(Arc::clone(&def)));
        let t = Instant::now();
        let done = Engine::new(flow)
            .executor(executor.clone())
            .run_async()
            .await
            .unwrap();
        let took = t.elapsed();
        assert_eq!(done.flow_state(), FlowState::Success);
        if i >= 20 {
            times.push(took); // after a warm-up
        }
    }
    times.sort();
    println!("| remote no-op task, 2 workers | runs | median (ms) | p99 (ms) |");
    println!("|---|---:|---:|---:|");
    println!(
        "| one task per flow, one flow at a time | {runs} | {} | {} |",
        ms(percentile(&times, 0.5)),
        ms(percentile(&times, 0.99))
    );
    println!();

    let n = if quick { 1_000 } else { 10_000 };
    let mut rates = Vec::new();
    for _ in 0..if quick { 1 } else { 3 } {
        let mut flow = Flow::unordered("many");
        for i in 0..n {
            flow.push(TaskSpec::from(Arc::clone(&def)).named(format!("t{i}")));
        }
        let t = Instant::now();
        let done = Engine::new(flow)
            .executor(executor.clone())
            .max_workers(64)
            .run_async()
            .await
            .unwrap();
        let took = t.elapsed();
        assert_eq!(done.flow_state(), FlowState::Success);
        rates.push((took, n as f64 / took.as_secs_f64()));
    }
    rates.sort_by_key(|r| r.0);
    let (took, rate) = rates[rates.len() / 2];
    println!("| remote no-op tasks, 2 workers × 8 | N | in flight | wall (s) | tasks/s |");
    println!("|---|---:|---:|---:|---:|");
    println!(
        "| one unordered flow | {n} | 64 | {:.2} | {:.0} |",
        took.as_secs_f64(),
        rate
    );
    println!();
    let stats = executor.stats();
    assert_eq!((stats.resent, stats.ignored_results), (0, 0), "{stats:?}");
    for w in workers {
        w.stop().await;
    }
    drop(executor);
}

/// Claims (and completions) per second: `n` jobs posted, then claimed and
/// completed by `conductors` threads, each with a board `open` gives it.
fn claims(open: &(dyn Fn() -> Box<dyn JobBoard> + Sync), n: usize, conductors: usize) -> f64 {
    let poster = open();
    for i in 0..n {
        poster
            .post(&NewJob::new("bench::nothing", json!({"i": i})))
            .unwrap();
    }
    let boards: Vec<_> = (0..conductors).map(|_| open()).collect();
    let t = Instant::now();
    let claimed: usize = std::thread::scope(|s| {
        let loops: Vec<_> = boards
            .iter()
            .enumerate()
            .map(|(c, board)| {
                s.spawn(move || {
                    let mut claimed = 0;
                    let owner = format!("bench-{c}");
                    while let Some(claim) = board.claim(&owner, Duration::from_secs(60)).unwrap() {
                        board.complete(&claim, FlowState::Success).unwrap();
                        claimed += 1;
                    }
                    claimed
                })
            })
            .collect();
        loops.into_iter().map(|l| l.join().unwrap()).sum()
    });
    let took = t.elapsed();
    assert_eq!(claimed, n);
    n as f64 / took.as_secs_f64()
}

/// One table row per number of conductors.
fn claim_rows(label: &str, open: &(dyn Fn() -> Box<dyn JobBoard> + Sync), n: usize) {
    for conductors in [1, 4] {
        let rate = claims(open, n, conductors);
        println!("| {label} | {n} | {conductors} | {rate:.0} |");
    }
}

fn jobboards(quick: bool) {
    let n = if quick { 100 } else { 2_000 };
    println!("| jobboard | jobs | conductors | claim + complete per second |");
    println!("|---|---:|---:|---:|");

    let name = format!("tw_bench_{}", std::process::id());
    let redis = || -> Box<dyn JobBoard> {
        Box::new(RedisJobBoard::open("redis://127.0.0.1:6379/0", &name).expect("Redis on 6379"))
    };
    claim_rows("Redis 7, local TCP", &redis, n);
    RedisJobBoard::open("redis://127.0.0.1:6379/0", &name)
        .unwrap()
        .purge()
        .unwrap();

    let mut admin = postgres::Client::connect(
        "host=127.0.0.1 port=5432 user=postgres dbname=postgres",
        postgres::NoTls,
    )
    .expect("PostgreSQL on 5432");
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .unwrap();
    let url = format!("postgres://postgres@127.0.0.1:5432/{name}");
    let pg = || -> Box<dyn JobBoard> { Box::new(PostgresJobBoard::open(&url, "bench").unwrap()) };
    claim_rows("PostgreSQL 15, local TCP (`SKIP LOCKED`)", &pg, n);
    admin
        .batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .unwrap();

    #[cfg(feature = "zookeeper")]
    {
        use taskwire::jobboard::ZookeeperJobBoard;
        let url = "zookeeper://127.0.0.1:2181/taskwire-bench";
        let zk = || -> Box<dyn JobBoard> {
            Box::new(ZookeeperJobBoard::open(url, &name).expect("ZooKeeper on 2181"))
        };
        claim_rows("ZooKeeper 3.8, local TCP (`multi`)", &zk, n);
        ZookeeperJobBoard::open(url, &name)
            .unwrap()
            .purge()
            .unwrap();
    }
    #[cfg(feature = "etcd")]
    {
        use taskwire::jobboard::EtcdJobBoard;
        let url = "etcd://127.0.0.1:2379/taskwire-bench";
        let etcd = || -> Box<dyn JobBoard> {
            Box::new(EtcdJobBoard::open(url, &name).expect("etcd on 2379"))
        };
        claim_rows("etcd 3.4, local TCP (`txn`)", &etcd, n);
        EtcdJobBoard::open(url, &name).unwrap().purge().unwrap();
    }
    println!();
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .map(String::as_str);
    if only.is_none_or(|o| o == "remote") {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(remote(quick));
    }
    if only.is_none_or(|o| o == "claims") {
        jobboards(quick);
    }
}
