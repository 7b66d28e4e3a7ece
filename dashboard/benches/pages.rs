//! How long the dashboard's pages take over a big logbook: fills a SQLite
//! logbook (and a PostgreSQL one, if `TASKWIRE_BENCH_PG` names a server
//! such as `postgres://postgres@127.0.0.1:5432`) with N flow details (100,000
//! unless `TASKWIRE_BENCH_FLOWS` says otherwise) in 100 logbooks, one of
//! them a real run that failed, then requests each page 30 times through
//! the router and prints the median and the 90th percentile.
//!
//! ```text
//! cargo bench -p taskwire-dashboard --bench pages
//! TASKWIRE_BENCH_PG=postgres://postgres@127.0.0.1:5432 cargo bench -p taskwire-dashboard --bench pages
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::json;
use taskwire_dashboard::{router, Dashboard, ServeOptions};
use taskwire_runtime::persistence::{self, Backend, FlowDetail, LogBook};
use taskwire_runtime::{Engine, FlowState, FnTask};
use tower::ServiceExt;

fn fill(backend: &Arc<dyn Backend>, n: usize) -> taskwire_runtime::persistence::Uuid {
    let started = Instant::now();
    let books: Vec<LogBook> = (0..100)
        .map(|i| LogBook::new(format!("book-{i}")))
        .collect();
    for b in &books {
        backend.save_logbook(b).unwrap();
    }
    let states = [
        FlowState::Success,
        FlowState::Reverted,
        FlowState::Failure,
        FlowState::Running,
    ];
    for i in 0..n {
        let mut flow = FlowDetail::new(books[i % books.len()].uuid, format!("flow-{}", i % 50));
        flow.state = states[i % states.len()];
        flow.created_at -= (n - i) as i64 * 10;
        flow.updated_at = flow.created_at + 5;
        backend.save_flow(&flow, None).unwrap();
    }
    // One real run with atoms, for the flow page.
    let flow = taskwire_runtime::Flow::linear("real")
        .add(FnTask::new("a").provides("x").run(|_| Ok(json!(1))))
        .add(FnTask::new("b").requires(["x"]).run(|_| {
            Err(taskwire_runtime::Failure::new(
                taskwire_runtime::FailureKind::Task,
                "boom",
            ))
        }));
    let mut engine = Engine::new(flow).persist(backend.clone());
    let _ = engine.run();
    eprintln!(
        "filled {n} flows in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    engine.flow_uuid().unwrap()
}

fn measure(rt: &tokio::runtime::Runtime, app: &axum::Router, uri: &str) -> (Duration, Duration) {
    let mut times = Vec::new();
    for _ in 0..30 {
        let started = Instant::now();
        let response = rt.block_on(async {
            let r = app
                .clone()
                .oneshot(Request::get(uri).body(Body::empty()).unwrap())
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK, "{uri}");
            r.into_body().collect().await.unwrap().to_bytes()
        });
        assert!(!response.is_empty());
        times.push(started.elapsed());
    }
    times.sort();
    (times[times.len() / 2], times[times.len() * 9 / 10])
}

fn main() {
    let n: usize = std::env::var("TASKWIRE_BENCH_FLOWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let dir = std::env::temp_dir().join(format!("taskwire-dash-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut backends = vec![(
        "sqlite".to_owned(),
        format!("sqlite://{}", dir.join("bench.db").display()),
        None,
    )];
    if let Ok(server) = std::env::var("TASKWIRE_BENCH_PG") {
        let db = format!("tw_dash_bench_{}", std::process::id());
        let mut admin =
            postgres::Client::connect(&format!("{server}/postgres"), postgres::NoTls).unwrap();
        admin
            .batch_execute(&format!("CREATE DATABASE {db}"))
            .unwrap();
        backends.push((
            "postgres".to_owned(),
            format!("{server}/{db}"),
            Some((server, db)),
        ));
    }
    println!("| logbook | flows | page | median | p90 |");
    println!("|---|---:|---|---:|---:|");
    for (kind, url, pg) in &backends {
        let backend = persistence::open(url).unwrap();
        let real = fill(&backend, n);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        let app = router(Dashboard::new(&ServeOptions::new(backend.clone())).unwrap());
        for uri in [
            "/".to_owned(),
            "/?state=FAILURE&name=flow-7".to_owned(),
            format!("/flows/{real}"),
        ] {
            let (median, p90) = measure(&rt, &app, &uri);
            println!(
                "| {kind} | {n} | `{uri}` | {:.1} ms | {:.1} ms |",
                median.as_secs_f64() * 1000.0,
                p90.as_secs_f64() * 1000.0
            );
        }
        drop(app);
        drop(rt);
        drop(backend);
        if let Some((server, db)) = pg {
            let mut admin =
                postgres::Client::connect(&format!("{server}/postgres"), postgres::NoTls).unwrap();
            admin
                .batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
                .unwrap();
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
