//! Distribution on this machine's servers, over loopback. Run with
//! `cargo bench --all-features --bench distributed` (`-- --quick` for a
//! smoke run); prints markdown tables.
//!
//! - `remote latency`: a flow of one no-op task run by a remote worker
//!   through RabbitMQ, one run after another; median and p99 of the run's
//!   wall time (engine, request, worker, result).
//! - `remote throughput`: one unordered flow of N no-op tasks, up to 64 out
//!   at once, run by 2 workers (8 tasks at a time each); tasks per second.
//! - `jobboard claims`: N jobs posted, then claimed and completed one by
//!   one by one conductor-like loop; claims per second, for Redis,
//!   PostgreSQL, (feature `zookeeper`) ZooKeeper on 127.0.0.1:2181 and
//!   (feature `etcd`) etcd on 127.0.0.1:2379, each in a board or database of
//!   its own, removed after.
//!
//! Workers run in this process (on its tokio runtime) but every request and
//! result goes through the broker.

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

fn claims(board: &dyn JobBoard, n: usize) -> f64 {
    for i in 0..n {
        board
            .post(&NewJob::new("bench::nothing", json!({"i": i})))
            .unwrap();
    }
    let t = Instant::now();
    let mut claimed = 0;
    while let Some(claim) = board.claim("bench", Duration::from_secs(60)).unwrap() {
        board.complete(&claim, FlowState::Success).unwrap();
        claimed += 1;
    }
    let took = t.elapsed();
    assert_eq!(claimed, n);
    n as f64 / took.as_secs_f64()
}

fn jobboards(quick: bool) {
    let n = if quick { 100 } else { 2_000 };
    println!("| jobboard | jobs | claim + complete per second |");
    println!("|---|---:|---:|");

    let name = format!("tw_bench_{}", std::process::id());
    let redis = RedisJobBoard::open("redis://127.0.0.1:6379/0", &name).expect("Redis on 6379");
    println!("| Redis 7, local TCP | {n} | {:.0} |", claims(&redis, n));
    redis.purge().unwrap();

    let mut admin = postgres::Client::connect(
        "host=127.0.0.1 port=5432 user=postgres dbname=postgres",
        postgres::NoTls,
    )
    .expect("PostgreSQL on 5432");
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .unwrap();
    let url = format!("postgres://postgres@127.0.0.1:5432/{name}");
    let rate = {
        let pg = PostgresJobBoard::open(&url, "bench").unwrap();
        claims(&pg, n)
    };
    println!("| PostgreSQL 15, local TCP (`SKIP LOCKED`) | {n} | {rate:.0} |");
    admin
        .batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .unwrap();

    #[cfg(feature = "zookeeper")]
    {
        let zk = taskwire::jobboard::ZookeeperJobBoard::open(
            "zookeeper://127.0.0.1:2181/taskwire-bench",
            &name,
        )
        .expect("ZooKeeper on 2181");
        println!(
            "| ZooKeeper 3.8, local TCP (`multi`) | {n} | {:.0} |",
            claims(&zk, n)
        );
        zk.purge().unwrap();
    }
    #[cfg(feature = "etcd")]
    {
        let etcd =
            taskwire::jobboard::EtcdJobBoard::open("etcd://127.0.0.1:2379/taskwire-bench", &name)
                .expect("etcd on 2379");
        println!(
            "| etcd 3.4, local TCP (`txn`) | {n} | {:.0} |",
            claims(&etcd, n)
        );
        etcd.purge().unwrap();
    }
    println!();
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(remote(quick));
    jobboards(quick);
}
