//! The metrics of known runs, scraped as Prometheus text: counters of atoms
//! by state, flows by outcome, retries, reverts and dead jobs; the
//! histograms' counts; the gauges back at zero. This binary installs the
//! process-wide recorder (`telemetry::prometheus::install`); each test uses
//! names of its own, so that the tests of the binary may run together.
#![cfg(all(feature = "metrics", feature = "prometheus"))]

mod dist;

use serde_json::json;
use taskwire::retry::{RetryAtom, Times};
use taskwire::telemetry::{meter, prometheus};
use taskwire::{Engine, Failure, FailureKind, Flow, FnTask, TaskSpec};

fn ok_task(name: &'static str, out: &'static str) -> TaskSpec {
    FnTask::new(name)
        .provides(out)
        .run(|_| Ok(json!(1)))
        .revert(|_| Ok(()))
        .into_spec()
}

fn failing_task(name: &'static str) -> TaskSpec {
    FnTask::new(name)
        .run(|_| Err(Failure::new(FailureKind::Task, "refused")))
        .revert(|_| Ok(()))
        .into_spec()
}

/// The value of the sample `line` (`name{labels}`) in `text`, if present.
fn sample(text: &str, line: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(line)?.strip_prefix(' '))
        .map(|v| v.parse().unwrap())
}

fn scrape() -> String {
    prometheus::install().unwrap();
    prometheus::render().expect("installed")
}

#[test]
fn counters_after_a_run_with_a_retry_and_a_revert() {
    let _ = scrape();
    let flow = Flow::linear("m_flow").add(ok_task("m_first", "x")).add(
        Flow::linear("m_sub")
            .add(ok_task("m_prepare", "p"))
            .add(failing_task("m_send"))
            .retry(RetryAtom::new("m_again", Times::new(2))),
    );
    let backend = taskwire::persistence::open("memory://").unwrap();
    let err = Engine::new(flow).persist(backend).run().unwrap_err();
    assert_eq!(
        err.to_string(),
        "flow `m_flow` was reverted: task `m_send` failed: refused"
    );
    let text = scrape();
    let at = |line: &str| sample(&text, line).unwrap_or_else(|| panic!("no {line} in\n{text}"));
    assert_eq!(
        at(r#"taskwire_atoms_total{atom="m_first",state="SUCCESS"}"#),
        1.0
    );
    assert_eq!(
        at(r#"taskwire_atoms_total{atom="m_prepare",state="SUCCESS"}"#),
        2.0
    );
    assert_eq!(
        at(r#"taskwire_atoms_total{atom="m_send",state="FAILURE"}"#),
        2.0
    );
    assert_eq!(
        at(r#"taskwire_atoms_total{atom="m_send",state="REVERTED"}"#),
        2.0
    );
    // The retry gave up with REVERT: only its subflow was reverted.
    assert_eq!(
        sample(
            &text,
            r#"taskwire_atoms_total{atom="m_first",state="REVERTED"}"#
        ),
        None
    );
    assert_eq!(at(r#"taskwire_retries_total{retry="m_again"}"#), 1.0);
    assert_eq!(at(r#"taskwire_reverts_total{atom="m_send"}"#), 2.0);
    assert_eq!(at(r#"taskwire_reverts_total{atom="m_again"}"#), 1.0);
    assert_eq!(
        at(r#"taskwire_flows_total{flow="m_flow",outcome="REVERTED"}"#),
        1.0
    );
    assert_eq!(
        at(r#"taskwire_atom_duration_seconds_count{atom="m_send"}"#),
        2.0
    );
    assert_eq!(
        at(r#"taskwire_flow_duration_seconds_count{flow="m_flow"}"#),
        1.0
    );
    assert!(at("taskwire_logbook_write_seconds_count") >= 1.0);
    assert!(
        text.contains("# HELP taskwire_atoms_total Atom attempts that ended"),
        "described:\n{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"taskwire_flows_total{flow="m_flow",outcome="SUCCESS"}"#
        ),
        None,
        "no success was counted"
    );
}

#[test]
fn a_local_recorder_sees_the_runs_on_its_thread() {
    // For programs (and tests) that keep a recorder of their own: a serial
    // run of sync tasks records on the caller's thread.
    let recorder = prometheus::recorder();
    let handle = recorder.handle();
    let flow = Flow::linear("m_local")
        .add(ok_task("m_l1", "a"))
        .add(ok_task("m_l2", "b"));
    metrics::with_local_recorder(&recorder, || Engine::new(flow).run().unwrap());
    let text = handle.render();
    assert_eq!(
        sample(
            &text,
            r#"taskwire_flows_total{flow="m_local",outcome="SUCCESS"}"#
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"taskwire_atoms_total{atom="m_l2",state="SUCCESS"}"#
        ),
        Some(1.0)
    );
    assert_eq!(sample(&text, meter::ATOMS_RUNNING), Some(0.0));
    assert!(text.contains("taskwire_atom_duration_seconds_bucket{atom=\"m_l1\",le=\"0.0001\"}"));
}

#[cfg(feature = "redis")]
fn refuses(_: &serde_json::Value) -> Result<Flow, String> {
    Err("no flow today".to_owned())
}

#[cfg(feature = "redis")]
taskwire::flow_factory!("tests::metrics_refuses", refuses);

#[cfg(feature = "redis")]
#[test]
fn jobs_moved_aside_as_dead_and_claims_are_counted() {
    use std::sync::Arc;
    use taskwire::conductor::{Conductor, JobOutcome};
    use taskwire::jobboard::{JobBoard, JobState, NewJob};

    let _ = scrape();
    let name = dist::RedisBoard::new("metrics");
    let board: Arc<dyn JobBoard> = Arc::new(name.open());
    board
        .post(&NewJob::new("tests::metrics_refuses", json!({})).max_failures(1))
        .unwrap();
    let logbook = taskwire::persistence::open("memory://").unwrap();
    let conductor = Conductor::new("m_c1", Arc::clone(&board), logbook);
    let outcome = conductor.run_one().unwrap();
    assert!(
        matches!(
            outcome,
            Some(JobOutcome::Failed {
                state: JobState::Dead,
                ..
            })
        ),
        "{outcome:?}"
    );
    assert!(conductor.run_one().unwrap().is_none(), "the board is empty");
    let text = scrape();
    let dead = format!("taskwire_dead_jobs_total{{board=\"{}\"}}", board.describe());
    assert_eq!(sample(&text, &dead), Some(1.0), "{text}");
    assert!(sample(&text, "taskwire_jobboard_claim_seconds_count").unwrap() >= 2.0);
}

#[test]
fn lease_renewals_are_timed() {
    let _ = scrape();
    let before = sample(&scrape(), "taskwire_lease_renew_seconds_count").unwrap_or(0.0);
    // A task that outlasts a third of the lease: the heartbeat renews it.
    let slow = FnTask::new("m_slow")
        .run(|_| {
            std::thread::sleep(std::time::Duration::from_millis(400));
            Ok(json!(null))
        })
        .into_spec();
    let backend = taskwire::persistence::open("memory://").unwrap();
    Engine::new(Flow::linear("m_leased").add(slow))
        .persist(backend)
        .lease_ttl(std::time::Duration::from_millis(300))
        .run()
        .unwrap();
    let after = sample(&scrape(), "taskwire_lease_renew_seconds_count").unwrap();
    assert!(after >= before + 2.0, "{before} -> {after}");
}

#[cfg(feature = "amqp")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_requests_are_counted_in_flight_while_out() {
    use std::sync::Arc;
    use std::time::Duration;
    use taskwire::worker::{ExecutorConfig, Worker, WorkerExecutor};

    let _ = scrape();
    let ns = dist::Namespace::new("metrics");
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let rx = Arc::new(std::sync::Mutex::new(rx));
    // The task waits for the test's word, so that the request is seen out.
    let def = FnTask::new("metrics::held")
        .provides("held")
        .run(move |_| {
            rx.lock()
                .unwrap()
                .recv_timeout(Duration::from_secs(20))
                .unwrap();
            Ok(json!(true))
        })
        .into_def();
    let mut registry = taskwire::Registry::new();
    registry.register(Arc::clone(&def)).unwrap();
    let worker = Worker::new("mw1", ns.broker(), registry).start().unwrap();
    let executor = WorkerExecutor::connect(ns.broker(), ExecutorConfig::default())
        .await
        .unwrap();
    assert!(executor.wait_for_workers(1, Duration::from_secs(10)).await);
    let flow = Flow::linear("m_remote").add(TaskSpec::from(def));
    let run = tokio::spawn(async move {
        Engine::new(flow)
            .executor(executor)
            .run_async()
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    });
    let in_flight = || sample(&scrape(), meter::REMOTE_IN_FLIGHT);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while in_flight() != Some(1.0) {
        assert!(std::time::Instant::now() < deadline, "{:?}", in_flight());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tx.send(()).unwrap();
    run.await.unwrap().unwrap();
    assert_eq!(in_flight(), Some(0.0), "back to none once the result came");
    worker.stop().await;
}
