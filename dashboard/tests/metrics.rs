//! `GET /metrics` (feature `prometheus`): a 404 that says what to do until
//! the recorder is installed, then the counters of the runs this process
//! made, in Prometheus' text format. Its own test binary: the recorder is
//! process-wide.
#![cfg(feature = "prometheus")]

mod common;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use common::{run, Logbook};
use http_body_util::BodyExt;
use serde_json::json;
use taskwire_dashboard::{router, Dashboard, ServeOptions};
use tower::ServiceExt;

async fn get(app: &axum::Router, uri: &str) -> (StatusCode, Option<String>, String) {
    let response = app
        .clone()
        .oneshot(
            Request::get(uri)
                .header(header::HOST, "127.0.0.1:8080")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let status = response.status();
    let kind = response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned());
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, kind, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_show_the_runs_of_this_process_once_installed() {
    let logbook = Logbook::sqlite("metrics");
    let backend = logbook.open();
    let app = router(Dashboard::new(&ServeOptions::new(backend.clone())).unwrap());

    let (status, _, body) = get(&app, "/metrics").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("prometheus::install()"), "{body}");

    taskwire_runtime::telemetry::prometheus::install().unwrap();
    run(&backend, "dash::order", json!({}));
    run(&backend, "dash::order", json!({"fail": true}));
    let (status, kind, body) = get(&app, "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert!(kind.unwrap().starts_with("text/plain; version=0.0.4"));
    let line = |outcome: &str| {
        body.lines()
            .find(|l| {
                l.starts_with("taskwire_flows_total{")
                    && l.contains(&format!("outcome=\"{outcome}\""))
            })
            .unwrap_or_else(|| panic!("no {outcome} line in:\n{body}"))
            .rsplit(' ')
            .next()
            .unwrap()
            .to_owned()
    };
    assert_eq!(line("SUCCESS"), "1");
    assert_eq!(line("REVERTED"), "1");
}
