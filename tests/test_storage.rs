//! TaskFlow's storage and persistence, in taskwire: a recorded run taken up
//! with a flow built by hand (`load_from_detail`), what storage answers
//! (values, arguments, states and intentions, progress, metadata, revert
//! results), backends named by a configuration map, `file://`, the
//! `dir://` lock across processes, and the atom options `revert_requires`,
//! `revert_rebind` and transient inputs.
//!
//! The tests that touch the logbook run on SQLite and a directory, and on
//! PostgreSQL and MariaDB with their features (servers on 127.0.0.1; each
//! test has a database of its own, dropped afterwards).

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use taskwire::persistence::{self, Backend, LogBook, PersistenceError, Uuid};
use taskwire::prelude::*;
use taskwire::storage::FetchError;
use taskwire::{FlowError, ResumeError};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A directory of the test's own, removed afterwards.
struct Scratch(PathBuf);

impl Scratch {
    fn new(test: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!(
            "taskwire-storage-{test}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A logbook of the test's own: its URL, and what to drop to clean up.
struct Store {
    url: String,
    _keep: Box<dyn std::any::Any>,
}

fn sqlite_store(test: &str) -> Store {
    let dir = Scratch::new(test);
    Store {
        url: format!("sqlite://{}", dir.0.join("log.db").display()),
        _keep: Box::new(dir),
    }
}

fn dir_store(test: &str) -> Store {
    let dir = Scratch::new(test);
    Store {
        url: format!("dir://{}", dir.0.join("log").display()),
        _keep: Box::new(dir),
    }
}

#[cfg(feature = "postgres")]
mod pg {
    use super::*;

    pub(crate) struct Db(String);

    fn admin() -> ::postgres::Client {
        ::postgres::Client::connect(
            "host=127.0.0.1 port=5432 user=postgres dbname=postgres",
            ::postgres::NoTls,
        )
        .expect("PostgreSQL on 127.0.0.1:5432")
    }

    pub(crate) fn store(test: &str) -> Store {
        let name = format!(
            "tw_st_{}_{}_{}",
            &test[..test.len().min(30)],
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        admin()
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap();
        Store {
            url: format!("postgres://postgres@127.0.0.1:5432/{name}"),
            _keep: Box::new(Db(name)),
        }
    }

    impl Drop for Db {
        fn drop(&mut self) {
            let _ =
                admin().batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.0));
        }
    }
}

#[cfg(feature = "mysql")]
mod maria {
    use super::*;
    use ::mysql::prelude::Queryable;

    pub(crate) struct Db(String);

    fn admin() -> ::mysql::Conn {
        ::mysql::Conn::new(::mysql::Opts::from_url("mysql://root@127.0.0.1:3306/mysql").unwrap())
            .expect("MariaDB on 127.0.0.1:3306")
    }

    pub(crate) fn store(test: &str) -> Store {
        let name = format!(
            "tw_st_{}_{}_{}",
            &test[..test.len().min(30)],
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        admin()
            .query_drop(format!("CREATE DATABASE {name}"))
            .unwrap();
        Store {
            url: format!("mysql://root@127.0.0.1:3306/{name}"),
            _keep: Box::new(Db(name)),
        }
    }

    impl Drop for Db {
        fn drop(&mut self) {
            let _ = admin().query_drop(format!("DROP DATABASE IF EXISTS {}", self.0));
        }
    }
}

/// One `#[test]` per backend for each test function named (each takes the
/// logbook's URL).
macro_rules! on_every_backend {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $test() { let s = super::sqlite_store(stringify!($test)); super::$test(&s.url); } )*
        }
        mod dir {
            $( #[test] fn $test() { let s = super::dir_store(stringify!($test)); super::$test(&s.url); } )*
        }
        #[cfg(feature = "postgres")]
        mod postgres {
            $( #[test] fn $test() { let s = super::pg::store(stringify!($test)); super::$test(&s.url); } )*
        }
        #[cfg(feature = "mysql")]
        mod mariadb {
            $( #[test] fn $test() { let s = super::maria::store(stringify!($test)); super::$test(&s.url); } )*
        }
    };
}

on_every_backend!(
    a_hand_built_flow_takes_up_a_recorded_run,
    an_unknown_flow_detail_is_named_with_its_logbook,
    a_flow_with_other_atoms_is_refused_and_the_records_stay,
    progress_and_metadata_survive_in_the_atom_detail,
    a_revert_result_is_stored_and_readable,
    states_and_intentions_in_bulk_are_the_logbook_s,
    transient_inputs_are_not_recorded_and_must_be_given_again,
    a_configuration_map_opens_the_backend,
);

/// What tasks did, in order.
#[derive(Clone, Default)]
struct Ran(Arc<Mutex<Vec<String>>>);

impl Ran {
    fn push(&self, what: impl Into<String>) {
        self.0.lock().unwrap().push(what.into());
    }

    fn list(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

/// A task that adds one to `from`, provides `to`, and notes its run.
fn inc(ran: &Ran, name: &'static str, from: &'static str, to: &'static str) -> FnTask {
    let ran = ran.clone();
    FnTask::new(name)
        .requires([from])
        .provides(to)
        .run(move |call| {
            ran.push(name);
            Ok(json!(call.arg::<i64>(0)? + 1))
        })
}

/// `a` (x → y), `b` (y → z), `c` (z → w).
fn chain(ran: &Ran) -> Flow {
    Flow::linear("hand")
        .add(inc(ran, "a", "x", "y"))
        .add(inc(ran, "b", "y", "z"))
        .add(inc(ran, "c", "z", "w"))
}

/// Suspends the run when `atom` reaches `state`.
struct SuspendAt(taskwire::Suspender, &'static str, AtomState);

impl taskwire::Listener for SuspendAt {
    fn on_atom(&self, e: &taskwire::AtomEvent<'_>) {
        if e.atom == self.1 && e.state == self.2 {
            self.0.suspend();
        }
    }
}

/// Runs `flow` recorded in `backend` until `atom` succeeded, then suspends:
/// the flow detail's id.
fn run_until(flow: Flow, backend: &Arc<dyn Backend>, atom: &'static str, input: i64) -> Uuid {
    let engine = Engine::new(flow)
        .input("x", input)
        .persist(Arc::clone(backend));
    let suspender = engine.suspender();
    let mut engine = engine.listener(SuspendAt(suspender, atom, AtomState::Success));
    let done = engine.run().unwrap();
    assert_eq!(done.flow_state(), FlowState::Suspended);
    engine.flow_uuid().unwrap()
}

// ---------------------------------------------------------------------------
// Item 9: load_from_detail

fn a_hand_built_flow_takes_up_a_recorded_run(url: &str) {
    let backend = persistence::open(url).unwrap();
    let ran = Ran::default();
    let id = run_until(chain(&ran), &backend, "a", 1);
    assert_eq!(ran.list(), ["a"]);

    // Another backend on the same logbook, as another process would open.
    let other = persistence::open(url).unwrap();
    let mut engine = Engine::load_from_detail(chain(&ran), Arc::clone(&other), id).unwrap();
    let done = engine.run().unwrap();
    assert_eq!(done.flow_state(), FlowState::Success);
    // The recorded input came back; only what had not run ran.
    assert_eq!(done.get::<i64>("x").unwrap(), 1);
    assert_eq!(done.get::<i64>("w").unwrap(), 4);
    assert_eq!(ran.list(), ["a", "b", "c"]);
    assert_eq!(engine.flow_uuid(), Some(id));
    let (detail, atoms) = other.load_flow(id).unwrap();
    assert_eq!(detail.state, FlowState::Success);
    let states: Vec<_> = atoms.iter().map(|a| (a.name.as_str(), a.state)).collect();
    assert_eq!(
        states,
        [
            ("a", AtomState::Success),
            ("b", AtomState::Success),
            ("c", AtomState::Success)
        ]
    );
}

fn an_unknown_flow_detail_is_named_with_its_logbook(url: &str) {
    let backend = persistence::open(url).unwrap();
    let unknown = Uuid::new_v4();
    let err = Engine::load_from_detail(chain(&Ran::default()), Arc::clone(&backend), unknown)
        .unwrap_err();
    assert!(matches!(err, ResumeError::UnknownFlow { flow, .. } if flow == unknown));
    assert_eq!(
        err.to_string(),
        format!(
            "cannot take up flow `hand`: the logbook at {} has no flow detail {unknown}",
            backend.url()
        )
    );
}

fn a_flow_with_other_atoms_is_refused_and_the_records_stay(url: &str) {
    let backend = persistence::open(url).unwrap();
    let ran = Ran::default();
    let id = run_until(chain(&ran), &backend, "a", 1);
    let before = backend.load_flow(id).unwrap();

    // `b` renamed, `d` added.
    let renamed = Flow::linear("hand2")
        .add(inc(&ran, "a", "x", "y"))
        .add(inc(&ran, "b2", "y", "z"))
        .add(inc(&ran, "c", "z", "w"))
        .add(inc(&ran, "d", "w", "v"));
    let err = Engine::load_from_detail(renamed, Arc::clone(&backend), id).unwrap_err();
    match &err {
        ResumeError::AtomsDiffer {
            missing,
            unrecorded,
            moved,
            ..
        } => {
            assert_eq!(missing, &["b"]);
            assert_eq!(unrecorded, &["b2", "d"]);
            assert!(moved.is_empty(), "{moved:?}");
        }
        other => panic!("not AtomsDiffer: {other}"),
    }
    assert_eq!(
        err.to_string(),
        format!("flow detail {id} cannot be taken up with flow `hand2`: its atoms differ: recorded but not in the flow: `b`; in the flow but not recorded: `b2`, `d`")
    );

    // The same atoms in another order.
    let reordered = Flow::graph("hand")
        .add(inc(&ran, "a", "x", "y"))
        .add(inc(&ran, "c", "z", "w"))
        .add(inc(&ran, "b", "y", "z"));
    let err = Engine::load_from_detail(reordered, Arc::clone(&backend), id).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("flow detail {id} cannot be taken up with flow `hand`: its atoms differ: moved: `b` (recorded at position 1, at 2 in the flow), `c` (recorded at position 2, at 1 in the flow)")
    );

    // Nothing was written, no lease taken: the run is still there to take
    // up, with the right flow.
    assert_eq!(backend.load_flow(id).unwrap(), before);
    assert_eq!(backend.current_lease(id).unwrap(), None);
    let done = Engine::load_from_detail(chain(&ran), Arc::clone(&backend), id)
        .unwrap()
        .run()
        .unwrap();
    assert_eq!(done.get::<i64>("w").unwrap(), 4);
    assert_eq!(ran.list(), ["a", "b", "c"]);
}

// ---------------------------------------------------------------------------
// Item 10: the storage API

/// `fetch` reports progress and keeps metadata; `use` reads its result.
fn reporting_flow() -> Flow {
    Flow::linear("report")
        .add(
            FnTask::new("fetch")
                .requires(["x"])
                .provides("y")
                .run(|call| {
                    call.progress(0.25);
                    call.ctx().progress_with(0.75, json!({"step": 3}));
                    call.update_meta("host", "node-7")?;
                    call.ctx().update_meta("tries", [1, 2])?;
                    Ok(json!(call.arg::<i64>(0)? * 10))
                }),
        )
        .add(
            FnTask::new("use")
                .requires(["y"])
                .provides("z")
                .run(|call| Ok(json!(call.arg::<i64>(0)? + 1))),
        )
}

fn progress_and_metadata_survive_in_the_atom_detail(url: &str) {
    let backend = persistence::open(url).unwrap();
    let mut engine = Engine::new(reporting_flow())
        .input("x", 4)
        .persist(Arc::clone(&backend));
    let done = engine.run().unwrap();
    let id = engine.flow_uuid().unwrap();
    let storage = done.storage();
    assert_eq!(storage.progress("fetch").unwrap(), Some(0.75));
    assert_eq!(storage.progress("use").unwrap(), None);
    let meta = storage.atom_meta("fetch").unwrap();
    assert_eq!(meta["host"], "node-7");
    assert_eq!(meta["tries"], json!([1, 2]));
    assert_eq!(meta["progress_details"], json!({"step": 3}));

    // In the logbook, beside the engine's own notes.
    let (_, atoms) = backend.load_flow(id).unwrap();
    let fetch = atoms.iter().find(|a| a.name == "fetch").unwrap();
    assert_eq!(fetch.progress(), Some(0.75));
    assert_eq!(fetch.meta["host"], "node-7");
    assert_eq!(fetch.meta["progress_details"], json!({"step": 3}));
    assert!(fetch.meta.get("timeline").is_some(), "{}", fetch.meta);

    // A new engine on the record has them too.
    let mut again = Engine::load_from_detail(reporting_flow(), Arc::clone(&backend), id).unwrap();
    again.compile().unwrap();
    let storage = again.storage().unwrap();
    assert_eq!(storage.progress("fetch").unwrap(), Some(0.75));
    assert_eq!(storage.atom_meta("fetch").unwrap()["tries"], json!([1, 2]));
    assert!(storage
        .atom_meta("fetch")
        .unwrap()
        .get("timeline")
        .is_none());
}

#[test]
fn a_task_cannot_set_the_engine_s_own_metadata() {
    let flow = Flow::linear("meta").add(FnTask::new("sneaky").run(|call| {
        call.update_meta("progress", 1)?;
        Ok(json!(null))
    }));
    let err = Engine::new(flow).run().unwrap_err();
    assert_eq!(
        err.to_string(),
        "flow `meta` was reverted: task `sneaky` failed: task `sneaky` cannot set metadata `progress`: the engine keeps it (done, timeline, history, progress, progress_details, revert_result); choose another key"
    );
    // Outside an engine, metadata goes nowhere, and is no error.
    let ctx = TaskCtx::new("alone", Vec::new());
    assert!(ctx.update_meta("host", "h").is_ok());
    assert!(ctx.update_meta("timeline", 1).is_err());
}

/// `reserve` (its revert returns what it released), then `fail`.
fn releasing_flow() -> Flow {
    Flow::linear("release")
        .add(
            FnTask::new("reserve")
                .requires(["x"])
                .provides("quota")
                .run(|call| Ok(json!(call.arg::<i64>(0)? * 2)))
                .revert_returning(|call| {
                    let quota = call.outcome::<i64>()?.ok().unwrap_or(0);
                    Ok(json!({ "released": quota }))
                }),
        )
        .add(
            FnTask::new("fail")
                .requires(["quota"])
                .run(|_| {
                    Err(Failure::new(
                        taskwire::FailureKind::Task,
                        "no room".to_owned(),
                    ))
                })
                .revert(|_| Ok(())),
        )
}

fn a_revert_result_is_stored_and_readable(url: &str) {
    let backend = persistence::open(url).unwrap();
    let mut engine = Engine::new(releasing_flow())
        .input("x", 3)
        .persist(Arc::clone(&backend));
    let err = engine.run().unwrap_err();
    assert!(err.to_string().contains("no room"), "{err}");
    let id = engine.flow_uuid().unwrap();
    let storage = engine.storage().unwrap();
    assert_eq!(
        storage.revert_result("reserve").unwrap(),
        Some(&json!({"released": 6}))
    );
    // A revert that returns `()` keeps nothing.
    assert_eq!(storage.revert_result("fail").unwrap(), None);

    let (_, atoms) = backend.load_flow(id).unwrap();
    let reserve = atoms.iter().find(|a| a.name == "reserve").unwrap();
    assert_eq!(reserve.revert_result(), Some(&json!({"released": 6})));
    // The result of the execution is kept beside it.
    assert_eq!(reserve.result, Some(json!(6)));

    let mut again = Engine::load_from_detail(releasing_flow(), Arc::clone(&backend), id).unwrap();
    again.compile().unwrap();
    assert_eq!(
        again.storage().unwrap().revert_result("reserve").unwrap(),
        Some(&json!({"released": 6}))
    );
}

fn states_and_intentions_in_bulk_are_the_logbook_s(url: &str) {
    let backend = persistence::open(url).unwrap();
    let flow = releasing_flow().add(FnTask::new("never").run(|_| Ok(json!(null))));
    let mut engine = Engine::new(flow)
        .input("x", 3)
        .persist(Arc::clone(&backend));
    engine.run().unwrap_err();
    let storage = engine.storage().unwrap();
    let expected = [
        ("reserve", AtomState::Reverted, Intention::Revert),
        ("fail", AtomState::Reverted, Intention::Revert),
        ("never", AtomState::Pending, Intention::Revert),
    ];
    assert_eq!(storage.atoms_states(), expected);
    let (_, atoms) = backend.load_flow(engine.flow_uuid().unwrap()).unwrap();
    let recorded: Vec<_> = atoms
        .iter()
        .map(|a| (a.name.as_str(), a.state, a.intention))
        .collect();
    assert_eq!(recorded, expected);

    assert_eq!(
        storage.get_atoms_states(["never", "reserve"]).unwrap(),
        [
            ("never", AtomState::Pending, Intention::Revert),
            ("reserve", AtomState::Reverted, Intention::Revert)
        ]
    );
    let err = storage.get_atoms_states(["reserve", "reserv"]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "flow `release` has no atom `reserv`; its atoms are: `reserve`, `fail`, `never`"
    );
}

#[test]
fn storage_fetches_values_and_an_atom_s_arguments() {
    let flow = Flow::linear("fetching")
        .add(
            FnTask::new("pair")
                .requires(["x"])
                .provides_each(["left", "right"])
                .run(|call| {
                    let x: i64 = call.arg(0)?;
                    Ok(json!([x, x + 1]))
                }),
        )
        .add(
            FnTask::new("sum")
                .requires(["a", "b"])
                .optional(["c"])
                .provides("total")
                .run(|call| Ok(json!(call.arg::<i64>(0)? + call.arg::<i64>(1)?)))
                .into_spec()
                .rebind("a", "left")
                .rebind("b", "right"),
        )
        .add(
            FnTask::new("label")
                .requires(["total", "unit"])
                .provides("text")
                .run(|call| {
                    Ok(json!(format!(
                        "{}{}",
                        call.arg::<i64>(0)?,
                        call.arg::<String>(1)?
                    )))
                })
                .into_spec()
                .inject("unit", "GiB"),
        );
    let mut engine = Engine::new(flow).input("x", 20);
    engine.compile().unwrap();
    let storage = engine.storage().unwrap();
    // Before the run: the inputs only; `sum` cannot be called yet.
    assert_eq!(storage.fetch("x"), Some(&json!(20)));
    assert_eq!(storage.fetch("total"), None);
    let err = storage.fetch_mapped_args("sum").unwrap_err();
    assert_eq!(
        err.to_string(),
        "flow `fetching`: atom `sum` cannot be called yet: argument `a` (read from `left`) has no value, argument `b` (read from `right`) has no value"
    );
    assert!(matches!(err, FetchError::ArgsMissing { .. }));

    let done = engine.run().unwrap();
    let storage = done.storage();
    assert_eq!(storage.fetch("right"), Some(&json!(21)));
    assert_eq!(storage.fetch_as::<i64>("total").unwrap(), 41);
    let all = storage.fetch_all();
    assert_eq!(
        Value::Object(all),
        json!({"x": 20, "left": 20, "right": 21, "total": 41, "text": "41GiB"})
    );
    // What `sum` was called with, by its own argument names; the optional
    // `c` had no value and is left out. Injected values are there.
    assert_eq!(
        Value::Object(storage.fetch_mapped_args("sum").unwrap()),
        json!({"a": 20, "b": 21})
    );
    assert_eq!(
        Value::Object(storage.fetch_mapped_args("label").unwrap()),
        json!({"total": 41, "unit": "GiB"})
    );

    assert_eq!(
        storage.fetch_as::<i64>("nothing").unwrap_err().to_string(),
        "flow `fetching`: no input, and no atom that succeeded, provides `nothing`"
    );
    assert_eq!(
        storage.fetch_as::<String>("total").unwrap_err().to_string(),
        "flow `fetching`: value `total` cannot be decoded as `String`: invalid type: integer `41`, expected a string"
    );
    assert_eq!(
        storage.fetch_mapped_args("summ").unwrap_err().to_string(),
        "flow `fetching` has no atom `summ`; its atoms are: `pair`, `sum`, `label`"
    );
    assert_eq!(
        storage.progress("sum").unwrap(),
        None,
        "no progress reported"
    );
}

// ---------------------------------------------------------------------------
// persistence::fetch, file://, the dir:// lock

fn a_configuration_map_opens_the_backend(url: &str) {
    // The URL as `connection`, an option beside it.
    let option = if url.starts_with("sqlite") {
        ("synchronous", json!("full"))
    } else if url.starts_with("dir") {
        ("lock_timeout", json!("5s"))
    } else {
        ("timeout", json!("5s"))
    };
    let mut conf = json!({ "connection": url });
    conf[option.0] = option.1;
    let backend = persistence::fetch(&conf).unwrap();
    let book = LogBook::new("configured");
    backend.save_logbook(&book).unwrap();
    assert_eq!(
        persistence::open(url)
            .unwrap()
            .load_logbook(book.uuid)
            .unwrap(),
        book
    );

    // A malformed option is refused, naming it.
    conf[option.0] = json!("soon");
    let err = persistence::fetch(&conf).unwrap_err();
    if !url.starts_with("sqlite") {
        assert!(matches!(err, PersistenceError::InvalidUrl { .. }), "{err}");
        assert!(
            err.to_string()
                .contains(&format!("`{}=soon` is not a duration", option.0)),
            "{err}"
        );
    } else {
        assert!(err.to_string().contains("soon"), "{err}");
    }
}

#[test]
fn a_configuration_map_names_a_scheme_and_a_path() {
    let scratch = Scratch::new("conf-path");
    let path = scratch.0.join("flows");
    let backend =
        persistence::fetch(&json!({ "connection": "dir", "path": path.to_str().unwrap() }))
            .unwrap();
    assert_eq!(backend.url(), format!("dir://{}", path.display()));
    let book = LogBook::new("by path");
    backend.save_logbook(&book).unwrap();

    // `file://` is the same backend as `dir://`.
    let file = persistence::open(&format!("file://{}", path.display())).unwrap();
    assert_eq!(file.load_logbook(book.uuid).unwrap(), book);
    let file = persistence::fetch(&json!({ "connection": "file", "path": path.to_str().unwrap() }))
        .unwrap();
    assert_eq!(file.load_logbook(book.uuid).unwrap(), book);

    let db = scratch.0.join("log.db");
    let sqlite = persistence::fetch(
        &json!({ "connection": "sqlite", "path": db.to_str().unwrap(), "synchronous": "full" }),
    )
    .unwrap();
    sqlite.save_logbook(&book).unwrap();
    assert!(db.is_file());

    assert_eq!(
        persistence::fetch(&json!({ "connection": "memory" }))
            .unwrap()
            .url(),
        "memory://"
    );
}

#[test]
fn a_malformed_configuration_map_is_an_error_naming_the_key() {
    let cases = [
        (
            json!("sqlite:///tmp/x.db"),
            "backend configuration: `(the configuration)`: expected a map with a `connection` key, found \"sqlite:///tmp/x.db\"",
        ),
        (
            json!({ "path": "/tmp/flows" }),
            "backend configuration: `connection`: missing: name the backend with a URL (`sqlite:///var/lib/flows.db`) or a scheme and a `path`; known schemes: memory://, dir://, file://, sqlite://, sqlite::memory:, postgres://, postgresql://, mysql://, mariadb://, zookeeper://",
        ),
        (
            json!({ "connection": 5432 }),
            "backend configuration: `connection`: expected a URL or a scheme (a string), found 5432",
        ),
        (
            json!({ "connection": "dir:///tmp/a", "path": "/tmp/b" }),
            "backend configuration: `path`: `connection` is a URL (`dir:///tmp/a`), which names its path already",
        ),
        (
            json!({ "connection": "postgres://app@db/logs", "timeout": { "connect": "5s" } }),
            "backend configuration: `timeout`: an option's value is a string, a number or a boolean, not {\"connect\":\"5s\"}",
        ),
    ];
    for (conf, message) in cases {
        let err = persistence::fetch(&conf).unwrap_err();
        assert!(
            matches!(err, PersistenceError::InvalidConfig { .. }),
            "{conf}: {err}"
        );
        assert_eq!(err.to_string(), message, "{conf}");
    }
    // An option the backend does not know is the backend's error.
    let scratch = Scratch::new("conf-unknown");
    let err = persistence::fetch(
        &json!({ "connection": "dir", "path": scratch.0.to_str().unwrap(), "colour": "red" }),
    )
    .unwrap_err();
    assert!(matches!(err, PersistenceError::InvalidUrl { .. }), "{err}");
    assert!(err.to_string().contains("unknown option `colour`"), "{err}");
}

/// A child process: takes the lease of the flow detail `TW_FLOW` in the
/// directory `TW_DIR` at the instant `TW_AT` (unix ms), for `TW_OWNER`, and
/// writes what happened to `TW_OUT`.
#[test]
#[ignore = "the lock tests run it as a child process"]
fn lease_child() {
    let dir = std::env::var("TW_DIR").expect("run by the lock tests");
    let flow: Uuid = std::env::var("TW_FLOW").unwrap().parse().unwrap();
    let owner = std::env::var("TW_OWNER").unwrap();
    let at: i64 = std::env::var("TW_AT").unwrap().parse().unwrap();
    let backend = persistence::open(&format!("dir://{dir}")).unwrap();
    let wait = at - persistence::now_ms();
    if wait > 0 {
        std::thread::sleep(Duration::from_millis(wait as u64));
    }
    let outcome = match backend.acquire_lease(flow, &owner, Duration::from_secs(60)) {
        Ok(lease) => format!("ok {}", lease.token),
        Err(e) => format!("refused {e}"),
    };
    std::fs::write(std::env::var("TW_OUT").unwrap(), outcome).unwrap();
}

#[test]
fn two_processes_cannot_both_own_a_flow_in_one_directory() {
    let scratch = Scratch::new("dir-lock");
    let dir = scratch.0.join("log");
    let backend = persistence::open(&format!("dir://{}", dir.display())).unwrap();
    let book = LogBook::new("contended");
    backend.save_logbook(&book).unwrap();
    let flow = taskwire::FlowDetail::new(book.uuid, "contended");
    backend.save_flow(&flow, None).unwrap();

    // Several rounds: each starts a few processes at one instant on a flow
    // whose lease is free; exactly one of them may take it.
    for round in 0..3 {
        if let Some(lease) = backend.current_lease(flow.uuid).unwrap() {
            backend.release_lease(&lease).unwrap();
        }
        let at = persistence::now_ms() + 700;
        let children: Vec<_> = (0..4)
            .map(|i| {
                let out = scratch.0.join(format!("out-{round}-{i}"));
                let child = Command::new(std::env::current_exe().unwrap())
                    .args(["lease_child", "--exact", "--ignored", "--test-threads=1"])
                    .env("TW_DIR", &dir)
                    .env("TW_FLOW", flow.uuid.to_string())
                    .env("TW_OWNER", format!("process-{i}"))
                    .env("TW_AT", at.to_string())
                    .env("TW_OUT", &out)
                    .stdout(std::process::Stdio::null())
                    .spawn()
                    .unwrap();
                (child, out)
            })
            .collect();
        let mut outcomes = Vec::new();
        for (mut child, out) in children {
            assert!(child.wait().unwrap().success());
            outcomes.push(std::fs::read_to_string(out).unwrap());
        }
        let owners = outcomes.iter().filter(|o| o.starts_with("ok")).count();
        assert_eq!(owners, 1, "round {round}: {outcomes:#?}");
        for refused in outcomes.iter().filter(|o| o.starts_with("refused")) {
            assert!(refused.contains(&dir.display().to_string()), "{refused}");
            assert!(refused.contains(&flow.uuid.to_string()), "{refused}");
            assert!(refused.contains("is leased to `process-"), "{refused}");
        }
    }
}

#[test]
fn a_directory_locked_by_a_stopped_process_is_an_error_not_a_hang() {
    let scratch = Scratch::new("dir-stuck");
    let dir = scratch.0.join("log");
    let backend =
        persistence::open(&format!("dir://{}?lock_timeout=300ms", dir.display())).unwrap();
    let book = LogBook::new("stuck");
    backend.save_logbook(&book).unwrap();
    let flow = taskwire::FlowDetail::new(book.uuid, "stuck");
    backend.save_flow(&flow, None).unwrap();

    // Another handle of the lock file stands for a process that holds the
    // lock and does not give it up (stopped, say).
    let held = std::fs::File::options()
        .read(true)
        .write(true)
        .open(dir.join("LOCK"))
        .unwrap();
    held.lock().unwrap();
    let started = Instant::now();
    let err = backend
        .acquire_lease(flow.uuid, "me", Duration::from_secs(30))
        .unwrap_err();
    let waited = started.elapsed();
    assert!(matches!(err, PersistenceError::Locked { .. }), "{err}");
    assert!(
        waited >= Duration::from_millis(300) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "dir://{}: the directory is locked by another process: `{}` was not given up within 300ms (`lock_timeout`); is a process using the directory stopped?",
            dir.display(),
            dir.join("LOCK").display()
        )
    );

    // Once given up, the backend goes on.
    held.unlock().unwrap();
    let lease = backend
        .acquire_lease(flow.uuid, "me", Duration::from_secs(30))
        .unwrap();
    assert_eq!(lease.token, 1);

    let err = persistence::open(&format!("dir://{}?lock_timeout=soon", dir.display())).unwrap_err();
    assert!(
        err.to_string()
            .contains("`lock_timeout=soon` is not a duration"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------
// Item 11: revert_requires, revert_rebind, transient inputs

/// What a revert saw.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<Value>>>);

fn failing(name: &'static str, requires: &'static str) -> FnTask {
    FnTask::new(name)
        .requires([requires])
        .run(|_| Err(Failure::new(taskwire::FailureKind::Task, "boom".to_owned())))
}

#[test]
fn a_revert_reads_what_its_execution_does_not() {
    let seen = Seen::default();
    let (s1, s2) = (seen.clone(), seen.clone());
    let build = move |with_ticket: bool| {
        let (s1, s2) = (s1.clone(), s2.clone());
        let mut flow = Flow::linear("quota");
        if with_ticket {
            flow = flow.add(
                FnTask::new("ticket")
                    .provides("ticket")
                    .run(|_| Ok(json!("T-42"))),
            );
        }
        flow.add(
            FnTask::new("reserve")
                .requires(["size"])
                .provides("reservation")
                .revert_requires(["ticket"])
                .run(move |call| {
                    // The execution has no use for it (it could read it).
                    s1.0.lock()
                        .unwrap()
                        .push(json!({"exec": call.arg::<i64>(0)?}));
                    Ok(json!("R-1"))
                })
                .revert(move |call| {
                    let ticket: String = call.get("ticket")?;
                    let from_ctx: String = call.ctx().get("ticket")?;
                    let size: i64 = call.get("size")?;
                    s2.0.lock()
                        .unwrap()
                        .push(json!({"revert": ticket, "ctx": from_ctx, "size": size}));
                    Ok(())
                }),
        )
        .add(failing("fail", "reservation"))
    };
    let err = Engine::new(build(true)).input("size", 5).run().unwrap_err();
    assert!(err.to_string().contains("boom"), "{err}");
    assert_eq!(
        *seen.0.lock().unwrap(),
        [
            json!({"exec": 5}),
            json!({"revert": "T-42", "ctx": "T-42", "size": 5})
        ]
    );

    // A revert's requirement is checked when the flow compiles, as any other.
    let err = Engine::new(build(false))
        .input("size", 5)
        .compile()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "flow `quota`: task `reserve` requires `ticket`, which no input or earlier task provides"
    );
}

#[test]
fn revert_rebind_reads_another_name_for_the_revert_only() {
    let seen = Seen::default();
    let (s1, s2) = (seen.clone(), seen.clone());
    let volume = FnTask::new("attach")
        .requires(["volume"])
        .provides("attachment")
        .run(move |call| {
            s1.0.lock()
                .unwrap()
                .push(json!({"exec": call.arg::<String>(0)?}));
            Ok(json!("A-1"))
        })
        .revert(move |call| {
            s2.0.lock()
                .unwrap()
                .push(json!({"revert": call.arg::<String>(0)?}));
            Ok(())
        })
        .into_spec();
    let flow = Flow::linear("attach")
        .add(
            FnTask::new("snapshot")
                .provides("snapshot")
                .run(|_| Ok(json!("snap-9"))),
        )
        .add(volume.clone().revert_rebind("volume", "snapshot"))
        .add(failing("fail", "attachment"));
    Engine::new(flow)
        .input("volume", "vol-1")
        .run()
        .unwrap_err();
    assert_eq!(
        *seen.0.lock().unwrap(),
        [json!({"exec": "vol-1"}), json!({"revert": "snap-9"})]
    );

    // The name it reads is required of the flow; an argument the task
    // does not have is an error naming it.
    let flow = Flow::linear("attach").add(volume.clone().revert_rebind("volume", "snapshot"));
    let err = Engine::new(flow)
        .input("volume", "v")
        .compile()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "flow `attach`: task `attach` requires `snapshot`, which no input or earlier task provides"
    );
    let flow = Flow::linear("attach").add(volume.revert_rebind("volum", "snapshot"));
    let err = Engine::new(flow)
        .input("volume", "v")
        .input("snapshot", "s")
        .compile()
        .unwrap_err();
    assert!(
        matches!(err, RunError::Invalid(ref e) if matches!(e.errors()[0], FlowError::UnknownArgument { .. })),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "flow `attach`: task `attach` has no argument `volum` to revert_rebind; its arguments are `volume` and `snapshot`"
    );
}

#[task(name = "create", provides = "volume", revert_with = undo_create, revert_requires = ["audit"])]
fn create(size: u64, ctx: TaskCtx) -> u64 {
    let _ = ctx;
    size * 100
}

fn undo_create(size: u64, ctx: TaskCtx, outcome: Outcome<u64>, failures: Failures) -> Value {
    let audit: String = ctx.get("audit").unwrap_or_default();
    json!({ "undone": outcome.ok(), "size": size, "audit": audit, "failures": failures.len() })
}

#[test]
fn a_task_s_revert_requires_are_read_through_its_context() {
    let flow = Flow::linear("volumes")
        .add(create::task())
        .add(failing("fail", "volume"));
    let mut engine = Engine::new(flow)
        .input("size", 2)
        .input("audit", "ticket-7");
    engine.run().unwrap_err();
    assert_eq!(
        engine.storage().unwrap().revert_result("create").unwrap(),
        Some(&json!({ "undone": 200, "size": 2, "audit": "ticket-7", "failures": 1 }))
    );
    // Required of the flow, as TaskFlow requires a revert's values.
    let flow = Flow::linear("volumes").add(create::task());
    let err = Engine::new(flow).input("size", 2).compile().unwrap_err();
    assert_eq!(
        err.to_string(),
        "flow `volumes`: task `create` requires `audit`, which no input or earlier task provides"
    );
}

/// `login` reads `user` and the transient `password`; `fetch` reads the
/// token.
fn login_flow(ran: &Ran) -> Flow {
    let (r1, r2) = (ran.clone(), ran.clone());
    Flow::linear("login")
        .add(
            FnTask::new("login")
                .requires(["user", "password"])
                .provides("token")
                .run(move |call| {
                    r1.push("login");
                    let user: String = call.arg(0)?;
                    let password: String = call.arg(1)?;
                    Ok(json!(format!("{user}:{}", password.len())))
                }),
        )
        .add(
            FnTask::new("fetch")
                .requires(["token", "password"])
                .provides("data")
                .run(move |call| {
                    r2.push("fetch");
                    Ok(json!(format!("data for {}", call.arg::<String>(0)?)))
                }),
        )
}

fn transient_inputs_are_not_recorded_and_must_be_given_again(url: &str) {
    let backend = persistence::open(url).unwrap();
    let ran = Ran::default();
    let engine = Engine::new(login_flow(&ran))
        .input("user", "ann")
        .transient_input("password", "hunter2")
        .persist(Arc::clone(&backend));
    let suspender = engine.suspender();
    let mut engine = engine.listener(SuspendAt(suspender, "login", AtomState::Success));
    engine.run().unwrap();
    let id = engine.flow_uuid().unwrap();
    drop(engine);

    let (detail, atoms) = backend.load_flow(id).unwrap();
    assert_eq!(detail.meta["inputs"], json!({"user": "ann"}));
    assert_eq!(detail.meta["transient"], json!(["password"]));
    let recorded = serde_json::to_string(&(&detail, &atoms)).unwrap();
    assert!(!recorded.contains("hunter2"), "{recorded}");

    // Taken up without it: refused, naming it; nothing written.
    let before = backend.load_flow(id).unwrap();
    let mut engine = Engine::load_from_detail(login_flow(&ran), Arc::clone(&backend), id).unwrap();
    let err = engine.run().unwrap_err();
    assert!(
        matches!(&err, RunError::Resume(ResumeError::MissingTransient { missing, .. }) if missing == &["password"]),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        format!("flow detail {id} (flow `login`) had transient inputs, which the logbook does not keep: give `password` again with `Engine::transient_input`")
    );
    assert_eq!(backend.load_flow(id).unwrap(), before);
    // Given as a plain input, it would be recorded: still refused.
    let mut plain = Engine::load_from_detail(login_flow(&ran), Arc::clone(&backend), id)
        .unwrap()
        .input("password", "hunter2");
    assert!(plain.run().is_err());

    // Given again: the run goes on, and it is still not recorded.
    let mut engine = engine.transient_input("password", "hunter2");
    let done = engine.run().unwrap();
    assert_eq!(done.get::<String>("data").unwrap(), "data for ann:7");
    assert_eq!(ran.list(), ["login", "fetch"]);
    let (detail, atoms) = backend.load_flow(id).unwrap();
    assert_eq!(detail.state, FlowState::Success);
    let recorded = serde_json::to_string(&(&detail, &atoms)).unwrap();
    assert!(!recorded.contains("hunter2"), "{recorded}");
}

fn secret_flow(_: &Value) -> Result<Flow, String> {
    Ok(Flow::linear("secret").add(
        FnTask::new("use")
            .requires(["key"])
            .provides("out")
            .run(|call| Ok(json!(call.arg::<String>(0)?.len()))),
    ))
}
taskwire::flow_factory!("tests::storage_secret", secret_flow);

#[test]
fn a_resumed_factory_run_needs_its_transient_inputs_too() {
    let backend = persistence::open("memory://").unwrap();
    let mut engine = Engine::from_factory("tests::storage_secret", json!({}))
        .unwrap()
        .transient_input("key", "s3cr3t")
        .persist(Arc::clone(&backend));
    engine.compile().unwrap();
    let id = engine.flow_uuid().unwrap();
    drop(engine);
    let err = Engine::resume(Arc::clone(&backend), id)
        .unwrap()
        .run()
        .unwrap_err();
    assert!(err.to_string().contains("give `key` again"), "{err}");
    let done = Engine::resume(Arc::clone(&backend), id)
        .unwrap()
        .transient_input("key", "s3cr3t")
        .run()
        .unwrap();
    assert_eq!(done.get::<u64>("out").unwrap(), 6);
}
