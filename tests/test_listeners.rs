//! Progress reports and the timing listener.

mod common;

use std::sync::{Arc, Mutex};

use serde_json::json;
use taskwire::listener::{Captured, TimingListener};
use taskwire::persistence::{self, Backend};
use taskwire::{AtomState, CapturingListener, Engine, Flow, FnTask};

use common::watched::{Watched, Write};

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

/// A chain of `n` no-op tasks, `t0` … `t{n-1}`, each reading the one before.
fn chain(n: usize) -> Flow {
    let mut flow = Flow::linear("chain");
    for i in 0..n {
        let mut task = FnTask::new(format!("t{i}")).provides(format!("v{}", i + 1));
        if i > 0 {
            task = task.requires([format!("v{i}")]);
        }
        flow.push(task.run(|_| Ok(json!(1))));
    }
    flow
}

/// What each write of a persisted run of `flow` held: the atoms it saved
/// as (name, state); and what the listener heard. With `suspender`, a
/// handle of the engine's suspender is held while it runs.
fn recorded(
    flow: Flow,
    workers: usize,
    suspender: bool,
) -> (Vec<Vec<(String, AtomState)>>, Vec<Captured>) {
    let dir = std::env::temp_dir().join(format!(
        "taskwire-listeners-{}-{}-{workers}-{suspender}",
        std::process::id(),
        flow.name()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let sqlite = persistence::open(&format!("sqlite://{}", dir.join("log.db").display())).unwrap();
    let writes = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&writes);
    let backend: Arc<dyn Backend> = Arc::new(Watched::new(sqlite, move |write| {
        let atoms = match write {
            Write::Records(_, atoms) | Write::Atoms(atoms) => atoms,
            Write::Other(_) => &[],
        };
        let atoms = atoms.iter().map(|a| (a.name.clone(), a.state)).collect();
        seen.lock().unwrap().push(atoms);
    }));
    let capture = Arc::new(CapturingListener::new());
    let mut engine = Engine::new(flow)
        .max_workers(workers)
        .listener(Arc::clone(&capture))
        .persist(backend);
    let handle = suspender.then(|| engine.suspender());
    engine.run().unwrap();
    drop(handle);
    std::fs::remove_dir_all(&dir).unwrap();
    let writes = std::mem::take(&mut *writes.lock().unwrap());
    (writes, capture.events())
}

/// The index of the write that saved `atom` in `state`.
fn written(writes: &[Vec<(String, AtomState)>], atom: &str, state: AtomState) -> usize {
    writes
        .iter()
        .position(|w| w.iter().any(|(a, s)| a == atom && *s == state))
        .unwrap_or_else(|| panic!("{atom} {state} never written: {writes:?}"))
}

#[test]
fn a_chain_with_listeners_commits_each_success_with_the_next_running() {
    let n = 12;
    let (writes, heard) = recorded(chain(n), 1, false);
    for i in 0..n - 1 {
        let (done, next) = (format!("t{i}"), format!("t{}", i + 1));
        assert_eq!(
            written(&writes, &done, AtomState::Success),
            written(&writes, &next, AtomState::Running),
            "{done} SUCCESS and {next} RUNNING in one commit: {writes:?}"
        );
    }
    // One write per task, give or take the run's start and end.
    assert!(writes.len() <= n + 6, "{} writes: {writes:?}", writes.len());

    // A handle of the suspender held: listeners hear of each SUCCESS before
    // the next task is decided on (so that they can suspend the run in
    // time), so a SUCCESS is committed before the next RUNNING.
    let (apart, heard_apart) = recorded(chain(n), 1, true);
    for i in 0..n - 1 {
        let (done, next) = (format!("t{i}"), format!("t{}", i + 1));
        assert!(
            written(&apart, &done, AtomState::Success) < written(&apart, &next, AtomState::Running),
            "{done} SUCCESS before {next} RUNNING: {apart:?}"
        );
    }
    assert!(
        apart.len() >= 2 * n - 1,
        "{} writes: {apart:?}",
        apart.len()
    );

    // Either way the listener heard the same changes, in the same order.
    assert_eq!(heard, heard_apart);
    let states: Vec<&Captured> = heard
        .iter()
        .filter(|e| matches!(e, Captured::Atom { .. }))
        .collect();
    assert_eq!(
        states.len(),
        2 * n,
        "RUNNING and SUCCESS of each: {heard:?}"
    );
}

#[test]
fn a_parallel_run_with_listeners_starts_what_a_result_frees_in_its_commit() {
    // A root and four leaves that read it, on eight workers: the root's
    // SUCCESS and the four leaves' RUNNING are one commit.
    let fan = || {
        let mut flow = Flow::graph("fan");
        flow.push(FnTask::new("root").provides("x").run(|_| Ok(json!(1))));
        for i in 0..4 {
            let leaf = FnTask::new(format!("leaf{i}")).requires(["x"]);
            flow.push(leaf.run(|_| Ok(json!(null))));
        }
        flow
    };
    let leaves = || (0..4).map(|i| format!("leaf{i}"));
    for suspender in [false, true] {
        let (writes, heard) = recorded(fan(), 8, suspender);
        let root = written(&writes, "root", AtomState::Success);
        for leaf in leaves() {
            let started = written(&writes, &leaf, AtomState::Running);
            match suspender {
                false => assert_eq!(root, started, "{leaf}: {writes:?}"),
                true => assert!(root < started, "{leaf}: {writes:?}"),
            }
        }
        // The listener heard the root end before any leaf start, and
        // every leaf start and end.
        let at = |atom: &str, state: AtomState| {
            heard
                .iter()
                .position(|e| matches!(e, Captured::Atom { atom: a, state: s, .. } if a == atom && *s == state))
                .unwrap_or_else(|| panic!("{atom} {state} not heard: {heard:?}"))
        };
        for leaf in leaves() {
            assert!(at("root", AtomState::Success) < at(&leaf, AtomState::Running));
            assert!(at(&leaf, AtomState::Running) < at(&leaf, AtomState::Success));
        }
    }
}
