//! `Backend::query_flows` against every backend, the real thing: memory, a
//! directory, an SQLite file, and (with their features) the PostgreSQL and
//! MariaDB servers of this machine, each test in a database of its own,
//! dropped afterwards.
//!
//! PostgreSQL: 127.0.0.1:5432, user postgres (trust). MariaDB: 127.0.0.1:3306,
//! root without password. Override with `TASKWIRE_TEST_POSTGRES` /
//! `TASKWIRE_TEST_MYSQL` (a server URL without database).

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use taskwire_runtime::persistence::{
    self, AtomDetail, Backend, Cursor, FlowDetail, FlowOrder, FlowQuery, FlowRow, LogBook,
    PersistenceError,
};
use taskwire_runtime::FlowState;
use uuid::Uuid;

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn unique(test: &str) -> String {
    format!(
        "twq_{}_{}_{}",
        test,
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A store for one test, cleaned up when dropped.
struct Store {
    backend: Arc<dyn Backend>,
    _cleanup: Cleanup,
}

enum Cleanup {
    None,
    Dir(PathBuf),
    #[cfg(feature = "postgres")]
    Postgres(String),
    #[cfg(feature = "mysql")]
    Mysql(String),
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        match self {
            Cleanup::None => {}
            Cleanup::Dir(path) => {
                let _ = std::fs::remove_dir_all(path);
            }
            #[cfg(feature = "postgres")]
            Cleanup::Postgres(name) => {
                if let Ok(mut admin) = ::postgres::Client::connect(
                    &format!("{}/postgres", pg_server()),
                    ::postgres::NoTls,
                ) {
                    let _ = admin
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
                }
            }
            #[cfg(feature = "mysql")]
            Cleanup::Mysql(name) => {
                use ::mysql::prelude::Queryable;
                if let Ok(mut admin) =
                    ::mysql::Conn::new(::mysql::Opts::from_url(&my_server()).unwrap())
                {
                    let _ = admin.query_drop(format!("DROP DATABASE IF EXISTS {name}"));
                }
            }
        }
    }
}

fn memory(_test: &str) -> Store {
    Store {
        backend: persistence::open("memory://").unwrap(),
        _cleanup: Cleanup::None,
    }
}

fn dir(test: &str) -> Store {
    let path = std::env::temp_dir().join(unique(test));
    std::fs::create_dir_all(&path).unwrap();
    Store {
        backend: persistence::open(&format!("dir://{}", path.join("log").display())).unwrap(),
        _cleanup: Cleanup::Dir(path),
    }
}

#[cfg(feature = "sqlite")]
fn sqlite(test: &str) -> Store {
    let path = std::env::temp_dir().join(unique(test));
    std::fs::create_dir_all(&path).unwrap();
    Store {
        backend: persistence::open(&format!("sqlite://{}", path.join("log.db").display())).unwrap(),
        _cleanup: Cleanup::Dir(path),
    }
}

#[cfg(feature = "postgres")]
fn pg_server() -> String {
    std::env::var("TASKWIRE_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
}

#[cfg(feature = "postgres")]
fn postgres(test: &str) -> Store {
    let name = unique(test);
    ::postgres::Client::connect(&format!("{}/postgres", pg_server()), ::postgres::NoTls)
        .expect("PostgreSQL at 127.0.0.1:5432")
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .unwrap();
    let cleanup = Cleanup::Postgres(name.clone());
    Store {
        backend: persistence::open(&format!("{}/{name}", pg_server())).unwrap(),
        _cleanup: cleanup,
    }
}

#[cfg(feature = "mysql")]
fn my_server() -> String {
    std::env::var("TASKWIRE_TEST_MYSQL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".to_owned())
}

#[cfg(feature = "mysql")]
fn mysql(test: &str) -> Store {
    use ::mysql::prelude::Queryable;
    let name = unique(test);
    ::mysql::Conn::new(::mysql::Opts::from_url(&my_server()).unwrap())
        .expect("MariaDB at 127.0.0.1:3306")
        .query_drop(format!("CREATE DATABASE {name}"))
        .unwrap();
    let cleanup = Cleanup::Mysql(name.clone());
    Store {
        backend: persistence::open(&format!("{}/{name}", my_server())).unwrap(),
        _cleanup: cleanup,
    }
}

fn book(b: &dyn Backend, name: &str) -> LogBook {
    let book = LogBook::new(name);
    b.save_logbook(&book).unwrap();
    book
}

/// A flow with fixed times and `atoms` atom details.
fn flow(
    b: &dyn Backend,
    book: &LogBook,
    name: &str,
    state: FlowState,
    created: i64,
    updated: i64,
    atoms: u32,
) -> FlowDetail {
    let mut flow = FlowDetail::new(book.uuid, name);
    flow.state = state;
    flow.created_at = created;
    flow.updated_at = updated;
    b.save_flow(&flow, None).unwrap();
    let atoms: Vec<AtomDetail> = (0..atoms)
        .map(|i| AtomDetail::new(flow.uuid, format!("a{i}"), i))
        .collect();
    b.save_atoms(&atoms, None).unwrap();
    flow
}

fn names(rows: &[FlowRow]) -> Vec<&str> {
    rows.iter().map(|r| r.name.as_str()).collect()
}

mod checks {
    use super::*;

    /// Every filter, alone and together; rows carry their logbook and atoms.
    pub(crate) fn filters(b: &dyn Backend) {
        let nightly = book(b, "nightly");
        let adhoc = book(b, "adhoc");
        flow(b, &nightly, "backup-db", FlowState::Success, 1000, 1500, 3);
        flow(
            b,
            &nightly,
            "backup-files",
            FlowState::Failure,
            2000,
            2100,
            2,
        );
        flow(b, &adhoc, "report", FlowState::Running, 3000, 9000, 0);
        flow(b, &adhoc, "Backup-odd", FlowState::Failure, 4000, 4000, 1);
        let all = b.query_flows(&FlowQuery::new()).unwrap();
        assert_eq!(
            names(&all.flows),
            ["Backup-odd", "report", "backup-files", "backup-db"]
        );
        assert_eq!(all.next, None);
        let first = &all.flows[3];
        assert_eq!(
            (first.logbook_name.as_str(), first.logbook_uuid, first.atoms),
            ("nightly", nightly.uuid, 3)
        );
        assert_eq!((first.created_at, first.updated_at), (1000, 1500));
        assert_eq!(first.state, FlowState::Success);

        let q = |q: FlowQuery| names(&b.query_flows(&q).unwrap().flows).join(",");
        assert_eq!(
            q(FlowQuery::new().state(FlowState::Failure)),
            "Backup-odd,backup-files"
        );
        assert_eq!(
            q(FlowQuery::new()
                .state(FlowState::Failure)
                .state(FlowState::Running)),
            "Backup-odd,report,backup-files"
        );
        // Case-sensitive, anywhere in the name or at its start.
        assert_eq!(
            q(FlowQuery::new().name_contains("ackup-")),
            "Backup-odd,backup-files,backup-db"
        );
        assert_eq!(
            q(FlowQuery::new().name_prefix("backup-")),
            "backup-files,backup-db"
        );
        assert_eq!(q(FlowQuery::new().name_prefix("ackup")), "");
        assert_eq!(q(FlowQuery::new().name_contains("%")), "");
        assert_eq!(q(FlowQuery::new().logbook(adhoc.uuid)), "Backup-odd,report");
        assert_eq!(q(FlowQuery::new().logbook(Uuid::new_v4())), "");
        let mut between = FlowQuery::new();
        between.created_after = Some(2000);
        between.created_before = Some(4000);
        assert_eq!(q(between), "report,backup-files");
        let mut changed = FlowQuery::new();
        changed.updated_after = Some(4000);
        assert_eq!(q(changed.clone()), "Backup-odd,report");
        changed.updated_before = Some(9000);
        assert_eq!(q(changed), "Backup-odd");
        assert_eq!(
            q(FlowQuery::new().order(FlowOrder::Updated)),
            "report,Backup-odd,backup-files,backup-db"
        );
        assert_eq!(
            q(FlowQuery::new()
                .state(FlowState::Failure)
                .name_prefix("backup")
                .logbook(nightly.uuid)),
            "backup-files"
        );
    }

    /// Pages cut between flows of equal times, in both orders: every flow
    /// once, none twice, newest first, and a flow added meanwhile does not
    /// shift the later pages.
    pub(crate) fn pagination(b: &dyn Backend) {
        let one = book(b, "one");
        let two = book(b, "two");
        let mut made = Vec::new();
        for i in 0..7 {
            let book = if i % 2 == 0 { &one } else { &two };
            // Three share a time, four share another.
            let t = if i < 3 { 5000 } else { 6000 };
            made.push(flow(b, book, &format!("f{i}"), FlowState::Success, t, t, 0).uuid);
        }
        for order in [FlowOrder::Created, FlowOrder::Updated] {
            let mut q = FlowQuery::new().order(order).limit(3);
            let mut seen: Vec<FlowRow> = Vec::new();
            let mut pages = 0;
            loop {
                let page = b.query_flows(&q).unwrap();
                pages += 1;
                assert!(page.flows.len() <= 3);
                if pages == 1 {
                    // Newer than everything: must not show up in later pages.
                    flow(b, &one, "late", FlowState::Running, 7000, 7000, 0);
                }
                seen.extend(page.flows);
                match page.next {
                    Some(next) => {
                        // Through text, as a script would hand it back.
                        let text = next.to_string();
                        q.after = Some(text.parse::<Cursor>().unwrap());
                    }
                    None => break,
                }
                assert!(pages < 10, "no end of pages");
            }
            assert_eq!(pages, 3, "{order:?}");
            let ids: Vec<Uuid> = seen.iter().map(|r| r.uuid).collect();
            let unique: HashSet<Uuid> = ids.iter().copied().collect();
            assert_eq!(unique.len(), 7, "duplicates: {:?}", names(&seen));
            assert_eq!(unique, made.iter().copied().collect::<HashSet<_>>());
            // Newest first, then by uuid, descending.
            let keys: Vec<(i64, Uuid)> = seen.iter().map(|r| (r.created_at, r.uuid)).collect();
            let mut sorted = keys.clone();
            sorted.sort_by(|a, b| b.cmp(a));
            assert_eq!(keys, sorted);
            // The late flow leads a new listing; remove it for the next order.
            let fresh = b
                .query_flows(&FlowQuery::new().order(order).limit(1))
                .unwrap();
            assert_eq!(names(&fresh.flows), ["late"]);
            let late = fresh.flows[0].uuid;
            let mut all = b.list_flows(one.uuid).unwrap();
            all.retain(|f| f.uuid != late);
            b.delete_logbook(one.uuid).unwrap();
            b.save_logbook(&one).unwrap();
            for f in &all {
                b.save_flow(f, None).unwrap();
            }
        }
        // An exact page: the last one says there is no next.
        let page = b.query_flows(&FlowQuery::new().limit(7)).unwrap();
        assert_eq!((page.flows.len(), page.next), (7, None));
        let page = b.query_flows(&FlowQuery::new().limit(6)).unwrap();
        assert!(page.next.is_some());
    }

    /// Bad cursors and limits are error values naming what is wrong.
    pub(crate) fn bad_input(b: &dyn Backend) {
        let one = book(b, "one");
        flow(b, &one, "f", FlowState::Success, 1, 1, 0);
        let created = b.query_flows(&FlowQuery::new().limit(1)).unwrap();
        assert!(created.next.is_none());
        let cursor = Cursor::after(&created.flows[0], FlowOrder::Created);
        let err = b
            .query_flows(
                &FlowQuery::new()
                    .order(FlowOrder::Updated)
                    .after(Some(cursor)),
            )
            .unwrap_err();
        assert!(
            matches!(err, PersistenceError::InvalidCursor { .. }),
            "{err}"
        );
        assert!(err.to_string().contains(&cursor.to_string()), "{err}");
        let err = b.query_flows(&FlowQuery::new().limit(0)).unwrap_err();
        assert!(
            matches!(err, PersistenceError::InvalidQuery { .. }),
            "{err}"
        );
        assert!(err.to_string().contains(b.url()), "{err}");
        let err = "c1.zzz".parse::<Cursor>().unwrap_err();
        assert!(err.to_string().contains("`c1.zzz`"), "{err}");
        // A cursor after everything: an empty last page.
        let end = Cursor {
            order: FlowOrder::Created,
            at: i64::MIN,
            uuid: Uuid::nil(),
        };
        let page = b.query_flows(&FlowQuery::new().after(Some(end))).unwrap();
        assert_eq!((page.flows.len(), page.next), (0, None));
    }
}

macro_rules! suite {
    ($module:ident, $make:expr) => {
        mod $module {
            use super::*;
            #[test]
            fn filters() {
                let store = $make("filters");
                checks::filters(&*store.backend);
            }
            #[test]
            fn pagination() {
                let store = $make("pagination");
                checks::pagination(&*store.backend);
            }
            #[test]
            fn bad_input() {
                let store = $make("bad_input");
                checks::bad_input(&*store.backend);
            }
        }
    };
}

suite!(memory_backend, memory);
suite!(dir_backend, dir);
#[cfg(feature = "sqlite")]
suite!(sqlite_backend, sqlite);
#[cfg(feature = "postgres")]
suite!(postgres_backend, postgres);
#[cfg(feature = "mysql")]
suite!(mysql_backend, mysql);

/// SQLite answers the newest page from the index, not by sorting the table.
#[cfg(feature = "sqlite")]
#[test]
fn sqlite_lists_from_the_index() {
    let path = std::env::temp_dir().join(unique("plan"));
    std::fs::create_dir_all(&path).unwrap();
    let _cleanup = Cleanup::Dir(path.clone());
    let file = path.join("log.db");
    persistence::open(&format!("sqlite://{}", file.display())).unwrap();
    let conn = rusqlite::Connection::open(&file).unwrap();
    for (order, index) in [
        ("created_at", "flowdetails_created"),
        ("updated_at", "flowdetails_updated"),
    ] {
        let sql = format!(
            "EXPLAIN QUERY PLAN SELECT f.uuid FROM flowdetails f JOIN logbooks l \
             ON l.uuid = f.logbook_uuid WHERE (f.{order}, f.uuid) < (1, 'x') \
             ORDER BY f.{order} DESC, f.uuid DESC LIMIT 51"
        );
        let mut stmt = conn.prepare(&sql).unwrap();
        let plan: Vec<String> = stmt
            .query_map([], |r| r.get::<_, String>(3))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let plan = plan.join(" | ");
        assert!(plan.contains(index), "{plan}");
        assert!(!plan.contains("TEMP B-TREE"), "sorts the table: {plan}");
    }
}

/// The engine records when each atom ran and was reverted, every attempt
/// of it, in its metadata (what `taskwire flow show` and the dashboard's
/// timeline read, through `AtomDetail::timeline`).
#[test]
fn atoms_record_their_timeline_and_attempts() {
    use serde_json::json;
    use taskwire_runtime::persistence::EntryKind;
    use taskwire_runtime::retry::Times;
    use taskwire_runtime::{AtomState, Engine, Failure, FailureKind, Flow, FnTask};
    let backend = persistence::open("memory://").unwrap();
    let flow = Flow::linear("timed")
        .add(FnTask::new("ok").run(|_| Ok(json!(1))).revert(|_| Ok(())))
        .add(
            Flow::linear("again")
                .retry(Times::new(2))
                .add(FnTask::new("boom").run(|_| Err(Failure::new(FailureKind::Task, "no disk")))),
        );
    let before = persistence::now_ms();
    let mut engine = Engine::new(flow).persist(backend.clone());
    assert!(engine.run().is_err());
    let after = persistence::now_ms();
    let id = engine.flow_uuid().unwrap();
    let (detail, atoms) = backend.load_flow(id).unwrap();
    assert_eq!(detail.state, FlowState::Reverted);
    let atom = |name: &str| atoms.iter().find(|a| a.name == name).unwrap();

    // `ok` ran once; the retry's REVERT reverts only its own subflow, as
    // in TaskFlow, so `ok` stays SUCCESS.
    let ok = atom("ok").timeline();
    assert_eq!(atom("ok").attempts(), 1);
    assert_eq!(
        (ok.len(), ok[0].kind, ok[0].state),
        (1, EntryKind::Execute, Some(AtomState::Success))
    );
    assert!(before <= ok[0].start && ok[0].end.unwrap() <= after);

    // Tried twice: each execution ended FAILURE and was reverted.
    let boom = atom("boom").timeline();
    assert_eq!(atom("boom").attempts(), 2, "{boom:?}");
    let kinds: Vec<(EntryKind, Option<AtomState>)> =
        boom.iter().map(|e| (e.kind, e.state)).collect();
    let (execute, revert) = (
        (EntryKind::Execute, Some(AtomState::Failure)),
        (EntryKind::Revert, Some(AtomState::Reverted)),
    );
    assert_eq!(kinds, [execute, revert, execute, revert]);
    assert!(ok[0].end <= Some(boom[0].start));
    assert!(boom.windows(2).all(|w| w[0].end <= Some(w[1].start)));
    assert!(boom.iter().all(|e| e.duration_ms().unwrap() >= 0));
    assert!(boom[3].end.unwrap() <= after);
}

/// Records without a timeline (written by hand or an older version) still
/// give one entry, from creation to last change; a malformed entry is skipped.
#[test]
fn a_record_without_a_timeline_gives_one_entry() {
    use serde_json::json;
    use taskwire_runtime::persistence::{EntryKind, TimelineEntry};
    use taskwire_runtime::AtomState;
    let mut atom = AtomDetail::new(Uuid::new_v4(), "old", 0);
    assert!(atom.timeline().is_empty(), "PENDING never ran");
    assert_eq!(atom.attempts(), 0);
    atom.state = AtomState::Success;
    atom.created_at = 1_000;
    atom.updated_at = 1_250;
    assert_eq!(
        atom.timeline(),
        [TimelineEntry {
            kind: EntryKind::Execute,
            start: 1_000,
            end: Some(1_250),
            state: Some(AtomState::Success)
        }]
    );
    assert_eq!(atom.timeline()[0].duration_ms(), Some(250));
    atom.state = AtomState::Reverting;
    assert_eq!(atom.timeline()[0].end, None);
    atom.meta = json!({"timeline": [
        {"kind": "execute", "start": 5, "end": 9, "state": "SUCCESS"},
        {"kind": "sideways", "start": 10},
        {"kind": "revert", "start": "soon"},
        {"kind": "revert", "start": 12}
    ]});
    let t = atom.timeline();
    assert_eq!(t.len(), 2, "{t:?}");
    assert_eq!(
        (t[1].kind, t[1].start, t[1].end),
        (EntryKind::Revert, 12, None)
    );
}
