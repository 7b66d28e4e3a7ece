//! Progress reports and the timing listener.

use std::sync::Arc;

use serde_json::json;
use taskwire::listener::{Captured, TimingListener};
use taskwire::{AtomState, CapturingListener, Engine, Flow, FnTask};

fn reporting(name: &'static str) -> FnTask {
    FnTask::new(name).provides(name).run(move |call| {
        call.progress(0.25);
        let ctx = call.ctx();
        ctx.progress_with(0.5, json!({"copied": 512}));
        ctx.progress(7.0); // clamped
        ctx.progress(f32::NAN); // a bad value is not passed on as NaN
        Ok(json!(1))
    })
}

#[test]
fn tasks_report_progress_to_listeners_serially_and_in_parallel() {
    for workers in [1, 3] {
        let capture = Arc::new(CapturingListener::new());
        let flow = Flow::unordered("copy")
            .add(reporting("a"))
            .add(reporting("b"));
        Engine::new(flow)
            .max_workers(workers)
            .listener(Arc::clone(&capture))
            .run()
            .unwrap();
        assert_eq!(capture.progress_of("a"), [0.25, 0.5, 1.0, 0.0]);
        assert_eq!(capture.progress_of("b"), [0.25, 0.5, 1.0, 0.0]);
        let details: Vec<_> = capture
            .events()
            .into_iter()
            .filter_map(|e| match e {
                Captured::Progress {
                    atom,
                    details: Some(d),
                    ..
                } if atom == "a" => Some(d),
                _ => None,
            })
            .collect();
        assert_eq!(details, [json!({"copied": 512})]);
        // Progress comes while the atom runs: after RUNNING, before SUCCESS.
        let events = capture.events();
        let at = |pred: &dyn Fn(&Captured) -> bool| events.iter().position(pred).unwrap();
        let running = at(
            &|e| matches!(e, Captured::Atom { atom, state: AtomState::Running, .. } if atom == "a"),
        );
        let first = at(&|e| matches!(e, Captured::Progress { atom, .. } if atom == "a"));
        let success = at(
            &|e| matches!(e, Captured::Atom { atom, state: AtomState::Success, .. } if atom == "a"),
        );
        assert!(running < first && first < success);
    }
}

#[test]
fn timing_listener_measures_runs_and_reverts() {
    let timing = Arc::new(TimingListener::new());
    let flow = Flow::linear("l")
        .add(
            FnTask::new("sleepy")
                .provides("x")
                .run(|_| {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    Ok(json!(1))
                })
                .revert(|_| Ok(())),
        )
        .add(
            FnTask::new("boom")
                .requires(["x"])
                .run(|_| Err(taskwire::Failure::new(taskwire::FailureKind::Task, "no"))),
        );
    let _ = Engine::new(flow).listener(Arc::clone(&timing)).run();
    let spans: Vec<(String, AtomState)> = timing
        .timings()
        .into_iter()
        .map(|t| (t.atom, t.state))
        .collect();
    assert_eq!(
        spans,
        [
            ("sleepy".to_owned(), AtomState::Success),
            ("boom".to_owned(), AtomState::Failure),
            ("boom".to_owned(), AtomState::Reverted),
            ("sleepy".to_owned(), AtomState::Reverted),
        ]
    );
    let sleepy = &timing.timings()[0];
    assert!(sleepy.elapsed >= std::time::Duration::from_millis(20));
}
