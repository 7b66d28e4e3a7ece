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
