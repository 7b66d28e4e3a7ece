//! A database server that stops answering (SIGSTOP: its connections stay
//! open and its kernel still ACKs, so TCP keepalive notices nothing) must
//! turn into an error within the URL's bound, not a hang; and once it answers
//! again, the same backend resumes the run to SUCCESS without losing what was
//! recorded nor running finished tasks again.
//!
//! Each test starts a private server of its own (`support::private_server`)
//! on a free port, pauses and continues that one, and kills it when done —
//! never the shared servers on 5432/3306. The URL parsing of the bounds'
//! keys is tested here too.

mod support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use taskwire::persistence::{self, PersistenceError};
use taskwire::{AtomState, Engine, Flow, FlowState, FnTask, RunError};

/// The bound the fault tests set (`?timeout=2s`).
const BOUND: Duration = Duration::from_secs(2);
/// What a bounded call may take beyond its bound (scheduling, a busy machine).
const MARGIN: Duration = Duration::from_millis(1500);

/// When each test's task paused its server, by the test's scratch directory.
static STOPPED_AT: Mutex<Option<HashMap<PathBuf, Instant>>> = Mutex::new(None);

/// The flow under test: `t0..t3`, each adding one to the previous value and
/// appending its name to `dir/effects` (outside the logbook). `t1` pauses
/// the server's process group `pgid` the first time it runs (after its side
/// effect), so that the engine's next write meets a server that does not
/// answer (`pgid`: the server's pid, whose descendants are paused too).
fn stalling_chain(params: &Value) -> Result<Flow, String> {
    let dir = PathBuf::from(params["dir"].as_str().ok_or("`dir` must be a path")?);
    let pgid = params["pgid"].as_u64().ok_or("`pgid` must be a pid")? as u32;
    let mut flow = Flow::linear("stalling_chain");
    for i in 0..4 {
        let dir = dir.clone();
        flow.push(
            FnTask::new(format!("t{i}"))
                .requires([format!("v{i}")])
                .provides(format!("v{}", i + 1))
                .run(move |call| {
                    let v: u64 = call.arg(0)?;
                    let name = call.atom().to_owned();
                    append(&dir.join("effects"), &name);
                    if name == "t1" && !dir.join("stopped").exists() {
                        std::fs::write(dir.join("stopped"), "").unwrap();
                        support::private_server::signal_server(pgid, "STOP").unwrap();
                        STOPPED_AT
                            .lock()
                            .unwrap()
                            .get_or_insert_with(HashMap::new)
                            .insert(dir.clone(), Instant::now());
                    }
                    Ok(json!(v + 1))
                }),
        );
    }
    Ok(flow)
}

taskwire::flow_factory!("tests::stalling_chain", stalling_chain);

fn append(path: &Path, line: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(format!("{line}\n").as_bytes()).unwrap();
}

fn effects(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("effects"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// A scratch directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(test: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("taskwire-{test}-{}", std::process::id()));
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

/// Asserts that `err` is a bound that ran out, within the bound, naming the
/// operation and the bound; returns its text.
fn assert_timed_out(err: &PersistenceError, bound: &str, operation: &str) -> String {
    let text = err.to_string();
    match err {
        PersistenceError::TimedOut {
            bound: b,
            operation: op,
            after,
            ..
        } => {
            assert_eq!(*b, bound, "{text}");
            assert_eq!(*after, BOUND, "{text}");
            assert!(op.contains(operation), "{text}");
        }
        other => panic!("expected a timeout of `{bound}`, got: {other}"),
    }
    assert!(text.contains("timed out"), "{text}");
    assert!(text.contains(&format!("(`{bound}`)")), "{text}");
    assert!(text.contains("within 2s"), "{text}");
    text
}

/// The scenario for one server: a persisted run whose server pauses after
/// `t1` ran; the run must end with `RunError::Persistence` (a timeout of
/// `query_timeout`) within the bound; opening a backend on the paused server
/// must time out too (`connect_timeout`); once the server goes on, the same
/// backend resumes the run to SUCCESS, and a new backend reads it back.
///
/// `pgid` is the server's process group (its task pauses it), `cont` lets it
/// go on (the guard that started it kills it when the test ends, whatever
/// happens); returns the measured times, for the log.
/// `connect_bound` is the bound that ends a connection attempt to the
/// paused server: PostgreSQL's whole connect is bounded by
/// `connect_timeout`; MySQL's TCP connect is (the kernel accepts it), its
/// login's reads by `query_timeout`.
fn stall_then_resume(
    test: &str,
    url: &str,
    pgid: u32,
    connect_bound: &str,
    cont: &dyn Fn(),
) -> Vec<String> {
    let scratch = Scratch::new(test);
    let dir = scratch.0.clone();
    let backend = persistence::open(url).unwrap();
    let mut engine =
        Engine::from_factory("tests::stalling_chain", json!({"dir": dir, "pgid": pgid}))
            .unwrap()
            .input("v0", 0)
            .persist(Arc::clone(&backend));
    engine.compile().unwrap();
    let flow = engine.flow_uuid().unwrap();

    // The run: t1 pauses the server; recording t1's SUCCESS meets silence.
    let err = engine.run().unwrap_err();
    let ended = Instant::now();
    let stopped = STOPPED_AT.lock().unwrap().as_ref().unwrap()[&dir];
    let waited = ended - stopped;
    let mut measured = vec![format!(
        "{test}: run ended {waited:?} after the server stopped (query_timeout=2s)"
    )];
    let RunError::Persistence { source, .. } = &err else {
        panic!("expected RunError::Persistence, got: {err}");
    };
    let text = assert_timed_out(source, "query_timeout", "save a step's records");
    assert!(
        text.contains(&format!("127.0.0.1:{}", url_port(url))),
        "{text}"
    );
    assert!(
        waited >= BOUND - Duration::from_millis(50) && waited <= BOUND + MARGIN,
        "{test}: the error came {waited:?} after the server stopped: {text}"
    );
    assert!(err.to_string().contains("timed out"), "{err}");
    assert_eq!(effects(&dir), ["t0", "t1"]);

    // Connecting to the paused server is bounded too.
    let start = Instant::now();
    let err = persistence::open(url).unwrap_err();
    let took = start.elapsed();
    measured.push(format!(
        "{test}: open() on the stopped server failed after {took:?} ({connect_bound}=2s)"
    ));
    assert_timed_out(&err, connect_bound, "connect");
    assert!(
        took >= BOUND - Duration::from_millis(50) && took <= BOUND + MARGIN,
        "{test}: open() took {took:?}: {err}"
    );

    // The server answers again: the same backend reconnects by itself.
    cont();
    let (_, atoms) = backend.load_flow(flow).unwrap();
    let t0 = atoms.iter().find(|a| a.name == "t0").unwrap();
    assert_eq!(t0.state, AtomState::Success, "t0's SUCCESS was recorded");
    assert_eq!(t0.result, Some(json!(1)));
    // t1's SUCCESS was being written when the server stopped: it may or may
    // not have been committed (the server may still apply the request it had
    // received), so t1 is RUNNING or SUCCESS; nothing later ran.
    let t1 = atoms.iter().find(|a| a.name == "t1").unwrap();
    assert!(
        matches!(t1.state, AtomState::Running | AtomState::Success),
        "{t1:?}"
    );
    let t1_done = t1.state == AtomState::Success;
    // t1's SUCCESS and t2's RUNNING are one commit (group commit): both or
    // neither. t2 was never started either way (the commit did not answer),
    // and nothing after it was recorded.
    let t2 = atoms.iter().find(|a| a.name == "t2").unwrap();
    let t2_expected = match t1_done {
        true => AtomState::Running,
        false => AtomState::Pending,
    };
    assert_eq!(t2.state, t2_expected, "t2 (t1 is {})", t1.state);
    let t3 = atoms.iter().find(|a| a.name == "t3").unwrap();
    assert_eq!(t3.state, AtomState::Pending, "t3");

    // The stalled engine still holds the flow's lease (it could run again);
    // dropped, it gives the lease back, so a new engine takes the run up at
    // once (without the drop it would be refused until the lease expired).
    let err = Engine::resume(Arc::clone(&backend), flow)
        .unwrap()
        .compile()
        .map(|_| ())
        .unwrap_err();
    assert!(
        err.to_string().contains("another owner holds its lease"),
        "{err}"
    );
    drop(engine);
    let mut resumed = Engine::resume(Arc::clone(&backend), flow).unwrap();
    let done = resumed.run().unwrap();
    assert_eq!(resumed.flow_state(), FlowState::Success);
    assert_eq!(done.get::<u64>("v4").unwrap(), 4);
    // t0 did not run again; t1 ran again only if its SUCCESS was lost.
    let expected: Vec<&str> = if t1_done {
        vec!["t0", "t1", "t2", "t3"]
    } else {
        vec!["t0", "t1", "t1", "t2", "t3"]
    };
    assert_eq!(effects(&dir), expected);
    measured.push(format!(
        "{test}: t1's SUCCESS, whose write timed out, {} in the logbook on resumption",
        if t1_done { "was" } else { "was not" }
    ));

    // A new backend reads the whole run back.
    let (detail, atoms) = persistence::open(url).unwrap().load_flow(flow).unwrap();
    assert_eq!(detail.state, FlowState::Success);
    assert!(atoms.iter().all(|a| a.state == AtomState::Success));
    drop(scratch);
    measured
}

fn url_port(url: &str) -> &str {
    let after = url.split("127.0.0.1:").nth(1).unwrap();
    &after[..after.find('/').unwrap()]
}

#[cfg(feature = "postgres")]
mod postgres {
    use super::*;
    use support::private_server::PrivatePostgres;
    use taskwire::jobboard::{JobBoard, JobBoardError, NewJob, PostgresJobBoard};

    #[test]
    fn a_stalled_postgres_ends_the_run_in_bound_and_resume_succeeds() {
        let pg = PrivatePostgres::start().expect("a private PostgreSQL");
        let url = pg.url("postgres", "timeout=2s");
        let measured = stall_then_resume(
            "faults-pg",
            &url,
            pg.server.pid(),
            "connect_timeout",
            &|| pg.server.cont(),
        );
        for line in measured {
            eprintln!("{line}");
        }
    }

    #[test]
    fn a_stalled_postgres_jobboard_times_out_then_recovers() {
        let pg = PrivatePostgres::start().expect("a private PostgreSQL");
        let url = pg.url("postgres", "timeout=2s&application_name=faults");
        let board = PostgresJobBoard::open(&url, "main").unwrap();
        board.post(&NewJob::new("tests::none", json!({}))).unwrap();

        pg.server.stop();
        let start = Instant::now();
        let err = board.list(None).unwrap_err();
        let took = start.elapsed();
        pg.server.cont();
        eprintln!("jobboard: list() on the stopped server failed after {took:?}");
        let text = err.to_string();
        assert!(
            matches!(
                err,
                JobBoardError::TimedOut {
                    bound: "query_timeout",
                    ..
                }
            ),
            "{text}"
        );
        assert!(text.contains("list jobs timed out"), "{text}");
        assert!(took <= BOUND + MARGIN, "took {took:?}");
        assert_eq!(board.list(None).unwrap().len(), 1, "reconnected");
    }

    /// The backend's connection lives on a runtime of its own: dropping it
    /// inside another runtime (an async caller) must not panic.
    #[test]
    fn backends_are_dropped_inside_a_runtime() {
        let pg = PrivatePostgres::start().expect("a private PostgreSQL");
        let url = pg.url("postgres", "timeout=5s");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let backend = persistence::open(&url).unwrap();
            backend.list_logbooks().unwrap();
            let board = PostgresJobBoard::open(&url, "main").unwrap();
            board.list(None).unwrap();
            drop(backend);
            drop(board);
        });
    }

    #[test]
    fn a_slow_statement_is_canceled_by_the_server() {
        let pg = PrivatePostgres::start().expect("a private PostgreSQL");
        // The server's bound is shorter than the client's: the server cancels
        // the statement, and the connection stays usable.
        let url = pg.url("postgres", "statement_timeout=300ms&query_timeout=5s");
        let backend = persistence::open(&url).unwrap();
        let book = taskwire::persistence::LogBook::new("slow");
        backend.save_logbook(&book).unwrap();
        // Hold the logbook's row in another session, so that a write waits.
        let mut other =
            ::postgres::Client::connect(&pg.url("postgres", ""), ::postgres::NoTls).unwrap();
        let mut tx = other.transaction().unwrap();
        tx.execute(
            "SELECT 1 FROM logbooks WHERE uuid = $1 FOR UPDATE",
            &[&book.uuid.to_string()],
        )
        .unwrap();
        let start = Instant::now();
        let err = backend.save_logbook(&book).unwrap_err();
        let took = start.elapsed();
        let text = err.to_string();
        assert!(
            matches!(
                err,
                PersistenceError::TimedOut {
                    bound: "statement_timeout",
                    ..
                }
            ),
            "{text}"
        );
        assert!(
            text.contains("within 300ms (`statement_timeout`)"),
            "{text}"
        );
        assert!(took < Duration::from_secs(3), "took {took:?}");
        tx.rollback().unwrap();
        backend.save_logbook(&book).unwrap();
    }
}

#[cfg(feature = "mysql")]
mod mariadb {
    use super::*;
    use support::private_server::PrivateMariadb;

    #[test]
    fn a_stalled_mariadb_ends_the_run_in_bound_and_resume_succeeds() {
        let db = PrivateMariadb::start().expect("a private MariaDB");
        db.create_database("tw");
        let url = db.url("tw", "timeout=2s");
        let measured = stall_then_resume(
            "faults-mariadb",
            &url,
            db.server.pid(),
            "query_timeout",
            &|| db.server.cont(),
        );
        for line in measured {
            eprintln!("{line}");
        }
    }
    #[test]
    fn a_slow_statement_is_stopped_by_the_server() {
        use mysql::prelude::Queryable;
        let db = PrivateMariadb::start().expect("a private MariaDB");
        db.create_database("tw");
        // The server's bound (`max_statement_time`) is shorter than the
        // client's: the server stops the statement, the connection stays.
        let url = db.url("tw", "statement_timeout=500ms&query_timeout=5s");
        let backend = persistence::open(&url).unwrap();
        let book = taskwire::persistence::LogBook::new("slow");
        backend.save_logbook(&book).unwrap();
        // Hold the logbook's row in another session, so that a write waits.
        let mut other =
            mysql::Conn::new(mysql::Opts::from_url(&db.url("tw", "")).unwrap()).unwrap();
        other.query_drop("START TRANSACTION").unwrap();
        other
            .exec_drop(
                "SELECT 1 FROM logbooks WHERE uuid = ? FOR UPDATE",
                (book.uuid.to_string(),),
            )
            .unwrap();
        let start = Instant::now();
        let err = backend.save_logbook(&book).unwrap_err();
        let took = start.elapsed();
        let text = err.to_string();
        assert!(
            matches!(
                err,
                PersistenceError::TimedOut {
                    bound: "statement_timeout",
                    ..
                }
            ),
            "{text}"
        );
        assert!(
            text.contains("within 500ms (`statement_timeout`)"),
            "{text}"
        );
        assert!(took < Duration::from_secs(3), "took {took:?}");
        other.query_drop("ROLLBACK").unwrap();
        backend.save_logbook(&book).unwrap();
    }
}

/// The bounds' keys in URLs: good values open, bad ones are `InvalidUrl`
/// naming the key and value (checked before any connection is tried).
#[cfg(any(feature = "postgres", feature = "mysql"))]
mod url_keys {
    use super::*;

    fn invalid(url: &str, needle: &str) {
        let err = persistence::open(url).unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(err, PersistenceError::InvalidUrl { .. }),
            "{url}: {text}"
        );
        assert!(text.contains(needle), "{url}: {text}");
        assert!(!text.contains("s3cret"), "{url}: {text}");
    }

    #[cfg(feature = "postgres")]
    #[test]
    fn postgres_keys() {
        for (query, needle) in [
            ("timeout=abc", "`timeout=abc` is not a duration"),
            (
                "connect_timeout=1.5s",
                "`connect_timeout=1.5s` is not a duration",
            ),
            (
                "query_timeout=0",
                "`query_timeout=0` must be more than zero",
            ),
            (
                "statement_timeout=5h",
                "`statement_timeout=5h` is not a duration",
            ),
            ("keepalive=", "`keepalive=` is not a duration"),
        ] {
            invalid(
                &format!("postgres://u:s3cret@127.0.0.1:1/db?{query}"),
                needle,
            );
        }
        // Good values: the URL is accepted, and the (absent) server is
        // reached within the connect bound.
        let start = Instant::now();
        let err = persistence::open(
            "postgres://postgres@127.0.0.1:1/db?timeout=2s&connect_timeout=500ms&query_timeout=3&statement_timeout=1m&keepalive=5s&application_name=x",
        )
        .unwrap_err();
        assert!(
            matches!(err, PersistenceError::Backend { .. }),
            "refused, not invalid: {err}"
        );
        assert!(start.elapsed() < Duration::from_secs(2));
        // A driver key that is wrong is still the driver's InvalidUrl.
        invalid(
            "postgres://u@127.0.0.1:1/db?timeout=1s&nonsense=1",
            "nonsense",
        );
        // The PostgreSQL jobboard reads the same keys.
        let err =
            taskwire::jobboard::open("postgres://u:s3cret@127.0.0.1:1/db?keepalive=1h", "main")
                .unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(err, taskwire::jobboard::JobBoardError::InvalidUrl { .. }),
            "{text}"
        );
        assert!(text.contains("`keepalive=1h` is not a duration"), "{text}");
        assert!(!text.contains("s3cret"), "{text}");
    }

    #[cfg(feature = "mysql")]
    #[test]
    fn mysql_keys() {
        for (query, needle) in [
            ("timeout=soon", "`timeout=soon` is not a duration"),
            (
                "connect_timeout=-1",
                "`connect_timeout=-1` is not a duration",
            ),
            (
                "query_timeout=0ms",
                "`query_timeout=0ms` must be more than zero",
            ),
            (
                "statement_timeout=2h",
                "`statement_timeout=2h` is not a duration",
            ),
        ] {
            invalid(&format!("mysql://u:s3cret@127.0.0.1:1/db?{query}"), needle);
            invalid(
                &format!("mariadb://u:s3cret@127.0.0.1:1/db?{query}"),
                needle,
            );
        }
        let err = persistence::open(
            "mariadb://root@127.0.0.1:1/db?timeout=1s&keepalive=500ms&tcp_keepalive_time_ms=2000",
        )
        .unwrap_err();
        assert!(
            matches!(err, PersistenceError::Backend { .. }),
            "refused, not invalid: {err}"
        );
    }
}
