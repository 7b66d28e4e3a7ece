//! The terminal progress bar, drawn to a hidden target: what it shows during
//! and after a run.

use std::sync::{Arc, Mutex};

use serde_json::json;
use taskwire::prelude::*;
use taskwire::progress_bar::ProgressDrawTarget;
use taskwire::ProgressBarListener;

fn hidden(flow: &Flow) -> Arc<ProgressBarListener> {
    Arc::new(ProgressBarListener::for_flow(flow).with_draw_target(ProgressDrawTarget::hidden()))
}

#[test]
fn the_bar_shows_atoms_done_the_current_atom_and_its_progress() {
    let seen = Arc::new(Mutex::new(Vec::<(u64, String)>::new()));
    let slot: Arc<Mutex<Option<Arc<ProgressBarListener>>>> = Arc::default();
    let (s, b) = (Arc::clone(&seen), Arc::clone(&slot));
    let copy = FnTask::new("copy").run(move |call| {
        let bar = b.lock().unwrap().clone().unwrap();
        let look = |s: &Mutex<Vec<(u64, String)>>| {
            s.lock()
                .unwrap()
                .push((bar.bar().position(), bar.bar().message()))
        };
        look(&s);
        call.progress(0.25);
        look(&s);
        call.ctx().progress_with(0.5, json!({"copied": "1 GiB"}));
        look(&s);
        Ok(json!(null))
    });
    let flow = Flow::linear("backup")
        .add(FnTask::new("snapshot").run(|_| Ok(json!(1))))
        .add(copy)
        .add(FnTask::new("register").run(|_| Ok(json!(2))));
    let bar = hidden(&flow);
    *slot.lock().unwrap() = Some(Arc::clone(&bar));
    Engine::new(flow).listener(Arc::clone(&bar)).run().unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        [
            (1, "copy".to_owned()),
            (1, "copy 25%".to_owned()),
            (1, "copy 50%".to_owned())
        ]
    );
    assert_eq!(bar.bar().position(), 3);
    assert_eq!(bar.bar().length(), Some(3));
    assert_eq!(bar.bar().prefix(), "success");
    assert_eq!(bar.bar().message(), "flow `backup` SUCCESS");
    assert!(bar.bar().is_finished());
}

#[derive(Debug, thiserror::Error)]
#[error("disk full")]
struct DiskFull;

#[test]
fn a_reverted_run_leaves_the_bar_where_it_failed() {
    let flow = Flow::linear("backup")
        .add(
            FnTask::new("snapshot")
                .run(|_| Ok(json!(1)))
                .revert(|_| Ok(())),
        )
        .add(FnTask::new("copy").run(|_| Err(Failure::from_error(DiskFull))))
        .add(FnTask::new("register").run(|_| Ok(json!(2))));
    let bar = hidden(&flow);
    let err = Engine::new(flow)
        .listener(Arc::clone(&bar))
        .run()
        .unwrap_err();
    assert!(err.downcast_ref::<DiskFull>().is_some());
    // Two atoms ran (one failed); `register` never did.
    assert_eq!(bar.bar().position(), 2);
    assert_eq!(bar.bar().length(), Some(3));
    assert_eq!(bar.bar().prefix(), "reverted");
    assert_eq!(bar.bar().message(), "flow `backup` REVERTED");
}

#[test]
fn parallel_atoms_are_listed_together() {
    let bar_slot: Arc<Mutex<Option<Arc<ProgressBarListener>>>> = Arc::default();
    let gate = Arc::new(std::sync::Barrier::new(2));
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut flow = Flow::unordered("u");
    for name in ["a", "b"] {
        let (gate, b, seen) = (Arc::clone(&gate), Arc::clone(&bar_slot), Arc::clone(&seen));
        flow.push(FnTask::new(name).run(move |call| {
            call.progress(if call.atom() == "a" { 0.1 } else { 0.9 });
            gate.wait();
            let bar = b.lock().unwrap().clone().unwrap();
            seen.lock().unwrap().push(bar.bar().message());
            gate.wait();
            Ok(json!(null))
        }));
    }
    let bar = hidden(&flow);
    *bar_slot.lock().unwrap() = Some(Arc::clone(&bar));
    Engine::new(flow)
        .max_workers(2)
        .listener(Arc::clone(&bar))
        .run()
        .unwrap();
    assert_eq!(*seen.lock().unwrap(), ["a 10%, b 90%", "a 10%, b 90%"]);
    assert_eq!(bar.bar().position(), 2);
}

#[test]
fn retried_and_skipped_atoms_are_counted_once() {
    use std::sync::atomic::{AtomicU32, Ordering};
    use taskwire::decider::{Decider, Depth, LinkResults};
    use taskwire::retry::Times;
    let runs = Arc::new(AtomicU32::new(0));
    let flaky = FnTask::new("flaky").run(move |_| {
        if runs.fetch_add(1, Ordering::SeqCst) < 2 {
            Err(taskwire::Failure::new(
                taskwire::FailureKind::Task,
                "not yet",
            ))
        } else {
            Ok(json!(null))
        }
    });
    let flow = Flow::graph("g")
        .add(
            Flow::linear("sub")
                .add(FnTask::new("prepare").run(|_| Ok(json!(1))))
                .add(flaky)
                .retry(Times::new(3)),
        )
        .add(FnTask::new("skipped").run(|_| Ok(json!(2))))
        .link_if(
            "sub",
            "skipped",
            Decider::new(|_: &LinkResults<'_>| false).depth(Depth::Atom),
        );
    let bar = hidden(&flow);
    Engine::new(flow).listener(Arc::clone(&bar)).run().unwrap();
    assert_eq!(bar.bar().length(), Some(4), "the retry atom is an atom");
    assert_eq!(
        bar.bar().position(),
        4,
        "two retries, one skip: each atom counted once"
    );
}

#[test]
fn the_bar_shows_short_names() {
    // A task registered under its module path (as `#[task]` names it) shows
    // as its function's name.
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let slot: Arc<Mutex<Option<Arc<ProgressBarListener>>>> = Arc::default();
    let (s, b) = (Arc::clone(&seen), Arc::clone(&slot));
    let flow = Flow::linear("backup").add(FnTask::new("my_app::backup::copy").run(move |call| {
        call.progress(0.5);
        let bar = b.lock().unwrap().clone().unwrap();
        s.lock().unwrap().push(bar.bar().message());
        Ok(json!(null))
    }));
    let bar = hidden(&flow);
    *slot.lock().unwrap() = Some(Arc::clone(&bar));
    Engine::new(flow).listener(Arc::clone(&bar)).run().unwrap();
    assert_eq!(*seen.lock().unwrap(), ["copy 50%"]);
}

/// Notes the bar's position and length at every atom event (registered
/// after the bar, so it sees what the bar shows once the event is counted).
struct Positions(Arc<ProgressBarListener>, Mutex<Vec<(u64, Option<u64>)>>);

impl taskwire::Listener for Positions {
    fn on_atom(&self, _: &taskwire::AtomEvent<'_>) {
        let bar = self.0.bar();
        self.1.lock().unwrap().push((bar.position(), bar.length()));
    }
}

#[test]
fn the_bar_is_sized_from_the_run() {
    // Made for 99 atoms (or with no size at all), the bar shows the 3 the
    // engine compiled from the first event on.
    for bar in [ProgressBarListener::new(99), ProgressBarListener::default()] {
        let bar = Arc::new(bar.with_draw_target(ProgressDrawTarget::hidden()));
        let flow = Flow::linear("three")
            .add(FnTask::new("a").run(|_| Ok(json!(1))))
            .add(FnTask::new("b").run(|_| Ok(json!(2))))
            .add(FnTask::new("c").run(|_| Ok(json!(3))));
        let seen = Arc::new(Positions(Arc::clone(&bar), Mutex::default()));
        Engine::new(flow)
            .listener(Arc::clone(&bar))
            .listener(Arc::clone(&seen))
            .run()
            .unwrap();
        let seen = seen.1.lock().unwrap().clone();
        assert_eq!(seen.first(), Some(&(0, Some(3))), "{seen:?}");
        assert_eq!(seen.last(), Some(&(3, Some(3))), "{seen:?}");
        assert!(bar.bar().is_finished());
    }
}

#[test]
fn retries_never_take_the_count_back() {
    use std::sync::atomic::{AtomicU32, Ordering};
    use taskwire::retry::Times;
    let runs = Arc::new(AtomicU32::new(0));
    let flaky = FnTask::new("flaky").run(move |_| {
        if runs.fetch_add(1, Ordering::SeqCst) < 2 {
            Err(Failure::new(taskwire::FailureKind::Task, "not yet"))
        } else {
            Ok(json!(null))
        }
    });
    let flow = Flow::linear("f")
        .add(FnTask::new("first").run(|_| Ok(json!(0))))
        .add(
            Flow::linear("sub")
                .add(FnTask::new("prepare").run(|_| Ok(json!(1))))
                .add(flaky)
                .retry(Times::new(3)),
        )
        .add(FnTask::new("last").run(|_| Ok(json!(2))));
    let bar = hidden(&flow);
    let seen = Arc::new(Positions(Arc::clone(&bar), Mutex::default()));
    Engine::new(flow)
        .listener(Arc::clone(&bar))
        .listener(Arc::clone(&seen))
        .run()
        .unwrap();
    let positions: Vec<u64> = seen.1.lock().unwrap().iter().map(|p| p.0).collect();
    // `prepare` and `flaky` went back to PENDING twice; the count did not.
    assert!(
        positions.windows(2).all(|w| w[0] <= w[1]),
        "the count went back: {positions:?}"
    );
    assert!(positions.len() > 12, "the retries happened: {positions:?}");
    assert_eq!(positions.last(), Some(&5));
    assert_eq!(bar.bar().length(), Some(5));
}

fn chain(_: &serde_json::Value) -> Result<Flow, String> {
    let mut flow = Flow::linear("chain");
    for i in 0..4 {
        flow.push(FnTask::new(format!("app::steps::t{i}")).run(|_| Ok(json!(null))));
    }
    Ok(flow)
}

taskwire::flow_factory!("test_progress_bar::chain", chain);

/// Suspends the run once `atom` succeeds.
struct SuspendAfter(taskwire::Suspender, &'static str);

impl taskwire::Listener for SuspendAfter {
    fn on_atom(&self, e: &taskwire::AtomEvent<'_>) {
        if e.atom == self.1 && e.state == AtomState::Success {
            self.0.suspend();
        }
    }
}

#[test]
fn a_resumed_run_starts_at_the_atoms_already_done() {
    let backend: Arc<dyn taskwire::Backend> = Arc::new(taskwire::persistence::MemoryBackend::new());
    let engine = Engine::from_factory("test_progress_bar::chain", json!({}))
        .unwrap()
        .persist(Arc::clone(&backend));
    let suspender = engine.suspender();
    let first =
        Arc::new(ProgressBarListener::default().with_draw_target(ProgressDrawTarget::hidden()));
    let mut engine = engine
        .listener(Arc::clone(&first))
        .listener(SuspendAfter(suspender, "app::steps::t1"));
    let done = engine.run().unwrap();
    assert_eq!(done.flow_state(), FlowState::Suspended);
    assert_eq!((first.bar().position(), first.bar().length()), (2, Some(4)));
    let uuid = engine.flow_uuid().unwrap();
    drop(engine);

    // A new engine, a new bar: it starts at 2 of 4, not at 0.
    let bar =
        Arc::new(ProgressBarListener::default().with_draw_target(ProgressDrawTarget::hidden()));
    let seen = Arc::new(Positions(Arc::clone(&bar), Mutex::default()));
    Engine::resume(Arc::clone(&backend), uuid)
        .unwrap()
        .listener(Arc::clone(&bar))
        .listener(Arc::clone(&seen))
        .run()
        .unwrap();
    let seen = seen.1.lock().unwrap().clone();
    assert_eq!(
        seen,
        [
            (2, Some(4)), // t2 RUNNING
            (3, Some(4)), // t2 SUCCESS
            (3, Some(4)), // t3 RUNNING
            (4, Some(4)), // t3 SUCCESS
        ]
    );
    assert_eq!(bar.bar().message(), "flow `chain` SUCCESS");
}

#[test]
fn atoms_whose_short_names_clash_show_in_full() {
    // `copy` twice: each in full; `zip` alone: short.
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let slot: Arc<Mutex<Option<Arc<ProgressBarListener>>>> = Arc::default();
    let mut flow = Flow::linear("backup");
    for name in ["db::copy", "files::copy", "files::zip"] {
        let (s, b) = (Arc::clone(&seen), Arc::clone(&slot));
        flow.push(FnTask::new(name).run(move |_| {
            let bar = b.lock().unwrap().clone().unwrap();
            s.lock().unwrap().push(bar.bar().message());
            Ok(json!(null))
        }));
    }
    let bar = hidden(&flow);
    *slot.lock().unwrap() = Some(Arc::clone(&bar));
    Engine::new(flow).listener(Arc::clone(&bar)).run().unwrap();
    assert_eq!(*seen.lock().unwrap(), ["db::copy", "files::copy", "zip"]);
}
