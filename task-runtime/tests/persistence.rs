//! One conformance suite for every persistence backend, run against the real
//! thing: memory, a directory, an SQLite file, and (with their features) the
//! PostgreSQL and MariaDB servers of this machine — each test in a database of
//! its own, dropped afterwards, even when the test fails.
//!
//! PostgreSQL: 127.0.0.1:5432, user postgres (trust). MariaDB: 127.0.0.1:3306,
//! root without password. Override with `TASKWIRE_TEST_POSTGRES` /
//! `TASKWIRE_TEST_MYSQL` (a server URL without database).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use taskwire_runtime::engine::Intention;
use taskwire_runtime::persistence::{
    self, now_ms, AtomDetail, AtomType, Backend, FlowDetail, LogBook, ObjectKind, PersistenceError,
    RetentionPolicy,
};
use taskwire_runtime::{AtomState, Failure, FailureKind, FlowState};
use uuid::Uuid;

/// A backend under test, with the means to damage it the way the world does.
trait Fixture {
    /// The backend opened when the fixture was made.
    fn backend(&self) -> Arc<dyn Backend>;
    /// Opens the same store again (a new process would).
    fn reopen(&self) -> Result<Arc<dyn Backend>, PersistenceError>;
    /// Writes invalid JSON into one column of one row; false if the backend
    /// has nothing to corrupt (memory).
    fn corrupt(&self, table: &str, uuid: Uuid, column: &str) -> bool;
    /// Records a schema version; false if the backend has none.
    fn set_schema_version(&self, version: u32) -> bool;
    /// Drops a table (or its directory), returning which; `None` if the
    /// backend has no tables.
    fn drop_table(&self) -> Option<&'static str>;
    /// Whether corrupt-row errors name the column (a file is one blob).
    fn names_columns(&self) -> bool {
        true
    }
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A name unique to this test run: test name, process id, counter.
fn unique(test: &str) -> String {
    format!(
        "tw_{}_{}_{}",
        test,
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> TempDir {
        let path = std::env::temp_dir().join(unique(test));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// ---------------------------------------------------------------- memory

struct MemoryFixture(Arc<dyn Backend>);

impl MemoryFixture {
    fn new(_test: &str) -> MemoryFixture {
        MemoryFixture(persistence::open("memory://").unwrap())
    }
}

impl Fixture for MemoryFixture {
    fn backend(&self) -> Arc<dyn Backend> {
        self.0.clone()
    }
    fn reopen(&self) -> Result<Arc<dyn Backend>, PersistenceError> {
        Ok(self.0.clone())
    }
    fn corrupt(&self, _: &str, _: Uuid, _: &str) -> bool {
        false
    }
    fn set_schema_version(&self, _: u32) -> bool {
        false
    }
    fn drop_table(&self) -> Option<&'static str> {
        None
    }
}

// ---------------------------------------------------------------- dir

struct DirFixture {
    backend: Arc<dyn Backend>,
    url: String,
    dir: TempDir,
}

impl DirFixture {
    fn new(test: &str) -> DirFixture {
        let dir = TempDir::new(test);
        let url = format!("dir://{}", dir.0.join("log").display());
        DirFixture {
            backend: persistence::open(&url).unwrap(),
            url,
            dir,
        }
    }
    fn root(&self) -> PathBuf {
        self.dir.0.join("log")
    }
}

impl Fixture for DirFixture {
    fn backend(&self) -> Arc<dyn Backend> {
        self.backend.clone()
    }
    fn reopen(&self) -> Result<Arc<dyn Backend>, PersistenceError> {
        persistence::open(&self.url)
    }
    fn corrupt(&self, table: &str, uuid: Uuid, _column: &str) -> bool {
        let path = match table {
            "logbooks" => self.root().join("logbooks").join(format!("{uuid}.json")),
            "flowdetails" => self
                .root()
                .join("flows")
                .join(uuid.to_string())
                .join("flow.json"),
            _ => std::fs::read_dir(self.root().join("flows"))
                .unwrap()
                .map(|e| e.unwrap().path().join("atoms").join(format!("{uuid}.json")))
                .find(|p| p.exists())
                .unwrap(),
        };
        std::fs::write(path, "{\"uuid\": oops").unwrap();
        true
    }
    fn set_schema_version(&self, version: u32) -> bool {
        std::fs::write(self.root().join("VERSION"), format!("{version}\n")).unwrap();
        true
    }
    fn drop_table(&self) -> Option<&'static str> {
        std::fs::remove_dir_all(self.root().join("logbooks")).unwrap();
        Some("logbooks")
    }
    fn names_columns(&self) -> bool {
        false
    }
}

// ---------------------------------------------------------------- sqlite

#[cfg(feature = "sqlite")]
struct SqliteFixture {
    backend: Arc<dyn Backend>,
    url: String,
    file: PathBuf,
    _dir: TempDir,
}

#[cfg(feature = "sqlite")]
impl SqliteFixture {
    fn new(test: &str) -> SqliteFixture {
        let dir = TempDir::new(test);
        let file = dir.0.join("log.db");
        let url = format!("sqlite://{}", file.display());
        SqliteFixture {
            backend: persistence::open(&url).unwrap(),
            url,
            file,
            _dir: dir,
        }
    }
    fn exec(&self, sql: &str) {
        let conn = rusqlite::Connection::open(&self.file).unwrap();
        conn.busy_timeout(Duration::from_secs(10)).unwrap();
        conn.execute_batch(sql).unwrap();
    }
}

#[cfg(feature = "sqlite")]
impl Fixture for SqliteFixture {
    fn backend(&self) -> Arc<dyn Backend> {
        self.backend.clone()
    }
    fn reopen(&self) -> Result<Arc<dyn Backend>, PersistenceError> {
        persistence::open(&self.url)
    }
    fn corrupt(&self, table: &str, uuid: Uuid, column: &str) -> bool {
        self.exec(&format!(
            "UPDATE {table} SET {column} = '{{\"not json' WHERE uuid = '{uuid}'"
        ));
        true
    }
    fn set_schema_version(&self, version: u32) -> bool {
        self.exec(&format!(
            "INSERT INTO taskwire_schema (version, applied_at) VALUES ({version}, 0)"
        ));
        true
    }
    fn drop_table(&self) -> Option<&'static str> {
        self.exec("PRAGMA foreign_keys = OFF; DROP TABLE atomdetails;");
        Some("atomdetails")
    }
}

// ---------------------------------------------------------------- postgres

#[cfg(feature = "postgres")]
mod pg {
    use super::*;

    pub(crate) fn server() -> String {
        std::env::var("TASKWIRE_TEST_POSTGRES")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
    }

    pub(crate) fn admin(db: &str) -> ::postgres::Client {
        ::postgres::Client::connect(&format!("{}/{db}", server()), ::postgres::NoTls)
            .expect("PostgreSQL at 127.0.0.1:5432 (start it: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start)")
    }

    /// A database of the test's own, dropped when this is dropped.
    pub(crate) struct Database {
        pub(crate) name: String,
    }

    impl Database {
        pub(crate) fn new(test: &str) -> Database {
            let name = unique(test);
            admin("postgres")
                .batch_execute(&format!("CREATE DATABASE {name}"))
                .unwrap();
            Database { name }
        }
        pub(crate) fn url(&self) -> String {
            format!("{}/{}", server(), self.name)
        }
        pub(crate) fn exec(&self, sql: &str) {
            admin(&self.name).batch_execute(sql).unwrap();
        }
    }

    impl Drop for Database {
        fn drop(&mut self) {
            if let Ok(mut admin) =
                ::postgres::Client::connect(&format!("{}/postgres", server()), ::postgres::NoTls)
            {
                let _ = admin.batch_execute(&format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    self.name
                ));
            }
        }
    }

    pub(crate) struct PgFixture {
        backend: Arc<dyn Backend>,
        pub(crate) db: Database,
    }

    impl PgFixture {
        pub(crate) fn new(test: &str) -> PgFixture {
            let db = Database::new(test);
            PgFixture {
                backend: persistence::open(&db.url()).unwrap(),
                db,
            }
        }
    }

    impl Fixture for PgFixture {
        fn backend(&self) -> Arc<dyn Backend> {
            self.backend.clone()
        }
        fn reopen(&self) -> Result<Arc<dyn Backend>, PersistenceError> {
            persistence::open(&self.db.url())
        }
        fn corrupt(&self, table: &str, uuid: Uuid, column: &str) -> bool {
            self.db.exec(&format!(
                "UPDATE {table} SET {column} = '{{\"not json' WHERE uuid = '{uuid}'"
            ));
            true
        }
        fn set_schema_version(&self, version: u32) -> bool {
            self.db.exec(&format!(
                "INSERT INTO taskwire_schema (version, applied_at) VALUES ({version}, 0)"
            ));
            true
        }
        fn drop_table(&self) -> Option<&'static str> {
            self.db.exec("DROP TABLE atomdetails");
            Some("atomdetails")
        }
    }
}

// ---------------------------------------------------------------- mysql

#[cfg(feature = "mysql")]
mod my {
    use super::*;
    use ::mysql::prelude::Queryable;

    pub(crate) fn server() -> String {
        std::env::var("TASKWIRE_TEST_MYSQL")
            .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".to_owned())
    }

    pub(crate) fn admin(db: Option<&str>) -> ::mysql::Conn {
        let url = format!("{}/{}", server(), db.unwrap_or(""));
        ::mysql::Conn::new(::mysql::Opts::from_url(&url).unwrap())
            .expect("MariaDB at 127.0.0.1:3306 (start it: start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd)")
    }

    /// A database of the test's own, dropped when this is dropped.
    pub(crate) struct Database {
        pub(crate) name: String,
    }

    impl Database {
        pub(crate) fn new(test: &str) -> Database {
            let name = unique(test);
            admin(None)
                .query_drop(format!("CREATE DATABASE {name}"))
                .unwrap();
            Database { name }
        }
        pub(crate) fn url(&self) -> String {
            format!("{}/{}", server(), self.name)
        }
        pub(crate) fn exec(&self, sql: &str) {
            admin(Some(&self.name)).query_drop(sql).unwrap();
        }
    }

    impl Drop for Database {
        fn drop(&mut self) {
            let url = format!("{}/", server());
            if let Ok(mut admin) = ::mysql::Conn::new(::mysql::Opts::from_url(&url).unwrap()) {
                let _ = admin.query_drop(format!("DROP DATABASE IF EXISTS {}", self.name));
            }
        }
    }

    pub(crate) struct MyFixture {
        backend: Arc<dyn Backend>,
        pub(crate) db: Database,
    }

    impl MyFixture {
        pub(crate) fn new(test: &str) -> MyFixture {
            let db = Database::new(test);
            MyFixture {
                backend: persistence::open(&db.url()).unwrap(),
                db,
            }
        }
    }

    impl Fixture for MyFixture {
        fn backend(&self) -> Arc<dyn Backend> {
            self.backend.clone()
        }
        fn reopen(&self) -> Result<Arc<dyn Backend>, PersistenceError> {
            persistence::open(&self.db.url())
        }
        fn corrupt(&self, table: &str, uuid: Uuid, column: &str) -> bool {
            self.db.exec(&format!(
                "UPDATE {table} SET {column} = '{{\"not json' WHERE uuid = '{uuid}'"
            ));
            true
        }
        fn set_schema_version(&self, version: u32) -> bool {
            self.db.exec(&format!(
                "INSERT INTO taskwire_schema (version, applied_at) VALUES ({version}, 0)"
            ));
            true
        }
        fn drop_table(&self) -> Option<&'static str> {
            self.db
                .exec("SET FOREIGN_KEY_CHECKS = 0; DROP TABLE atomdetails;");
            Some("atomdetails")
        }
    }
}

// ---------------------------------------------------------------- zookeeper

#[cfg(feature = "zookeeper")]
mod zoo {
    use super::*;
    use zookeeper_client as zk;

    /// The ensemble the tests use (`.ci/run` starts one on loopback).
    pub(crate) fn server() -> String {
        std::env::var("TASKWIRE_TEST_ZOOKEEPER").unwrap_or_else(|_| "127.0.0.1:2181".to_owned())
    }

    /// A client at the ensemble's root, to look at and damage the nodes.
    pub(crate) struct Admin {
        rt: tokio::runtime::Runtime,
        client: zk::Client,
    }

    impl Admin {
        pub(crate) fn connect(servers: &str) -> Admin {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            let client = rt
                .block_on(
                    zk::Client::connector()
                        .with_fail_eagerly()
                        .connect(servers),
                )
                .unwrap_or_else(|e| {
                    panic!("ZooKeeper at {servers} ({e}); .ci/run starts one, or set TASKWIRE_TEST_ZOOKEEPER")
                });
            Admin { rt, client }
        }
        pub(crate) fn set(&self, path: &str, data: &[u8]) {
            self.rt
                .block_on(self.client.set_data(path, data, None))
                .unwrap();
        }
        pub(crate) fn children(&self, path: &str) -> Vec<String> {
            self.rt.block_on(self.client.list_children(path)).unwrap()
        }
        pub(crate) fn exists(&self, path: &str) -> bool {
            self.rt
                .block_on(self.client.check_stat(path))
                .unwrap()
                .is_some()
        }
        /// Deletes a node and everything under it (if it exists).
        pub(crate) fn delete_tree(&self, path: &str) {
            let children = match self.rt.block_on(self.client.list_children(path)) {
                Ok(children) => children,
                Err(zk::Error::NoNode) => return,
                Err(e) => panic!("list {path}: {e}"),
            };
            for child in children {
                self.delete_tree(&format!("{path}/{child}"));
            }
            match self.rt.block_on(self.client.delete(path, None)) {
                Ok(()) | Err(zk::Error::NoNode) => {}
                Err(e) => panic!("delete {path}: {e}"),
            }
        }
    }

    /// A logbook under a chroot of the test's own, deleted afterwards.
    pub(crate) struct ZkFixture {
        backend: Arc<dyn Backend>,
        pub(crate) url: String,
        pub(crate) chroot: String,
        pub(crate) admin: Admin,
    }

    impl ZkFixture {
        pub(crate) fn new(test: &str) -> ZkFixture {
            let chroot = format!("/taskwire-test/{}", unique(test));
            // The test server takes 32 MiB requests (`-Djute.maxbuffer`).
            let url = format!("zookeeper://{}{chroot}?max_request=32MiB", server());
            ZkFixture {
                admin: Admin::connect(&server()),
                backend: persistence::open(&url).unwrap(),
                url,
                chroot,
            }
        }
        pub(crate) fn node(&self, path: &str) -> String {
            format!("{}{path}", self.chroot)
        }
    }

    impl Drop for ZkFixture {
        fn drop(&mut self) {
            self.admin.delete_tree(&self.chroot);
        }
    }

    impl Fixture for ZkFixture {
        fn backend(&self) -> Arc<dyn Backend> {
            self.backend.clone()
        }
        fn reopen(&self) -> Result<Arc<dyn Backend>, PersistenceError> {
            persistence::open(&self.url)
        }
        fn corrupt(&self, table: &str, uuid: Uuid, _column: &str) -> bool {
            let path = match table {
                "logbooks" => self.node(&format!("/logbooks/{uuid}")),
                "flowdetails" => self.node(&format!("/flows/{uuid}")),
                _ => self
                    .admin
                    .children(&self.node("/flows"))
                    .into_iter()
                    .map(|f| self.node(&format!("/flows/{f}/atoms/{uuid}")))
                    .find(|p| self.admin.exists(p))
                    .unwrap(),
            };
            self.admin.set(&path, b"{\"uuid\": oops");
            true
        }
        fn set_schema_version(&self, version: u32) -> bool {
            self.admin
                .set(&self.node("/schema"), version.to_string().as_bytes());
            true
        }
        fn drop_table(&self) -> Option<&'static str> {
            self.admin.delete_tree(&self.node("/logbooks"));
            Some("logbooks")
        }
        fn names_columns(&self) -> bool {
            false
        }
    }
}

// ---------------------------------------------------------------- the checks

mod checks {
    use super::*;

    fn book(backend: &dyn Backend, name: &str) -> LogBook {
        let mut book = LogBook::new(name);
        book.meta = json!({"owner": "ops", "tags": ["a", "b"]});
        backend.save_logbook(&book).unwrap();
        book
    }

    fn flow(backend: &dyn Backend, book: &LogBook, name: &str) -> FlowDetail {
        let mut flow = FlowDetail::new(book.uuid, name);
        flow.meta = json!({"factory": "demo::create_volume", "inputs": {"size": 10}});
        backend.save_flow(&flow, None).unwrap();
        flow
    }

    fn atom(flow: &FlowDetail, name: &str, position: u32) -> AtomDetail {
        AtomDetail::new(flow.uuid, name, position)
    }

    /// Every field of every model survives a save and a load.
    pub(crate) fn round_trips(fx: &dyn Fixture) {
        let b = fx.backend();
        let book = book(&*b, "nightly \"ops\" ✓");
        assert_eq!(b.load_logbook(book.uuid).unwrap(), book);
        let mut flow = flow(&*b, &book, "create-volume");
        flow.state = FlowState::Reverting;
        b.save_flow(&flow, None).unwrap();

        let mut a0 = atom(&flow, "allocate", 0);
        a0.state = AtomState::Success;
        a0.result = Some(json!({"id": 7, "text": "quote ' and \\ and \u{0} nul", "f": 1.5}));
        a0.version = "2.3".into();
        a0.meta = json!({"retries": 1});
        let mut a1 = atom(&flow, "attach", 1);
        a1.state = AtomState::RevertFailure;
        a1.intention = Intention::Revert;
        a1.result = Some(Value::Null);
        a1.failure = Some(Failure::new(FailureKind::Task, "disk full"));
        a1.revert_failure = Some(Failure::from_record(taskwire_runtime::FailureRecord {
            kind: FailureKind::Panic,
            type_name: "my::Error".into(),
            message: "boom".into(),
            causes: vec!["inner".into(), "innermost".into()],
        }));
        let mut a2 = atom(&flow, "retry", 2);
        a2.atom_type = AtomType::Retry;
        a2.intention = Intention::Retry;
        a2.state = AtomState::Retrying;
        // Saved out of order, loaded by position.
        b.save_atoms(&[a2.clone(), a0.clone()], None).unwrap();
        b.save_atom(&a1, None).unwrap();

        let (loaded, atoms) = b.load_flow(flow.uuid).unwrap();
        assert_eq!(loaded, flow);
        assert_eq!(atoms, vec![a0, a1, a2]);
        assert_eq!(b.list_flows(book.uuid).unwrap(), vec![flow.clone()]);

        // Another process sees the same.
        let again = fx.reopen().unwrap();
        assert_eq!(again.load_flow(flow.uuid).unwrap(), (loaded, atoms));
    }

    /// Saving again replaces the object, and leaves its children alone.
    pub(crate) fn upserts(fx: &dyn Fixture) {
        let b = fx.backend();
        let mut book = book(&*b, "book");
        let mut flow = flow(&*b, &book, "flow");
        let mut a = atom(&flow, "a", 0);
        a.state = AtomState::Running;
        b.save_atom(&a, None).unwrap();
        a.state = AtomState::Success;
        a.result = Some(json!([1, 2, 3]));
        a.touch();
        b.save_atom(&a, None).unwrap();
        a.state = AtomState::Reverted;
        a.result = None;
        b.save_atom(&a, None).unwrap();

        flow.state = FlowState::Success;
        flow.meta = json!({"changed": true});
        b.save_flow(&flow, None).unwrap();
        book.name = "renamed".into();
        b.save_logbook(&book).unwrap();

        assert_eq!(b.load_logbook(book.uuid).unwrap(), book);
        assert_eq!(b.load_flow(flow.uuid).unwrap(), (flow.clone(), vec![a]));
        assert_eq!(b.list_logbooks().unwrap().len(), 1);
        assert_eq!(b.list_flows(book.uuid).unwrap(), vec![flow]);
    }

    /// Logbooks and flows are listed in creation order, with flow states.
    pub(crate) fn listing(fx: &dyn Fixture) {
        let b = fx.backend();
        assert_eq!(b.list_logbooks().unwrap(), vec![]);
        let mut books = Vec::new();
        for i in 0..3 {
            let mut book = LogBook::new(format!("book{i}"));
            book.created_at = 1_000 + i;
            b.save_logbook(&book).unwrap();
            books.push(book);
        }
        let mut flows = Vec::new();
        for (i, state) in [FlowState::Success, FlowState::Running]
            .into_iter()
            .enumerate()
        {
            let mut f = FlowDetail::new(books[1].uuid, format!("f{i}"));
            f.state = state;
            f.created_at = 2_000 + i as i64;
            b.save_flow(&f, None).unwrap();
            flows.push(f);
        }
        let list = b.list_logbooks().unwrap();
        let names: Vec<&str> = list.iter().map(|s| s.book.name.as_str()).collect();
        assert_eq!(names, ["book0", "book1", "book2"]);
        assert!(list[0].flows.is_empty() && list[0].is_finished());
        let states: Vec<_> = list[1]
            .flows
            .iter()
            .map(|f| (f.name.as_str(), f.state))
            .collect();
        assert_eq!(
            states,
            [("f0", FlowState::Success), ("f1", FlowState::Running)]
        );
        assert!(!list[1].is_finished());
        assert_eq!(b.list_flows(books[1].uuid).unwrap(), flows);
        assert_eq!(b.list_flows(books[2].uuid).unwrap(), vec![]);

        let missing = Uuid::new_v4();
        for err in [
            b.load_logbook(missing).unwrap_err(),
            b.list_flows(missing).unwrap_err(),
        ] {
            assert!(
                matches!(err, PersistenceError::NotFound { kind: ObjectKind::LogBook, uuid, .. } if uuid == missing),
                "{err}"
            );
            assert!(err.to_string().contains(&missing.to_string()), "{err}");
        }
        let err = b.load_flow(missing).unwrap_err();
        assert!(
            matches!(
                err,
                PersistenceError::NotFound {
                    kind: ObjectKind::FlowDetail,
                    ..
                }
            ),
            "{err}"
        );
    }

    /// Deleting a logbook deletes its flows and atoms, and nothing else;
    /// children of missing parents are refused.
    pub(crate) fn cascading_delete(fx: &dyn Fixture) {
        let b = fx.backend();
        let doomed = book(&*b, "doomed");
        let kept = book(&*b, "kept");
        let f1 = flow(&*b, &doomed, "f1");
        let f2 = flow(&*b, &kept, "f2");
        b.save_atom(&atom(&f1, "a", 0), None).unwrap();
        let a2 = atom(&f2, "a", 0);
        b.save_atom(&a2, None).unwrap();

        b.delete_logbook(doomed.uuid).unwrap();
        assert!(matches!(
            b.load_logbook(doomed.uuid),
            Err(PersistenceError::NotFound { .. })
        ));
        assert!(matches!(
            b.load_flow(f1.uuid),
            Err(PersistenceError::NotFound { .. })
        ));
        assert!(matches!(
            b.delete_logbook(doomed.uuid),
            Err(PersistenceError::NotFound { .. })
        ));
        assert_eq!(b.load_flow(f2.uuid).unwrap(), (f2.clone(), vec![a2]));
        assert_eq!(b.list_logbooks().unwrap().len(), 1);

        // No orphans: an atom of the deleted flow, a flow of the deleted book.
        let err = b.save_atom(&atom(&f1, "late", 1), None).unwrap_err();
        assert!(
            matches!(err, PersistenceError::NotFound { kind: ObjectKind::FlowDetail, uuid, .. } if uuid == f1.uuid),
            "{err}"
        );
        let err = b
            .save_flow(&FlowDetail::new(doomed.uuid, "late"), None)
            .unwrap_err();
        assert!(
            matches!(err, PersistenceError::NotFound { kind: ObjectKind::LogBook, uuid, .. } if uuid == doomed.uuid),
            "{err}"
        );
    }

    /// One owner at a time; the token grows at each change of hands; writes
    /// and lease operations under a stale lease are refused.
    pub(crate) fn leases(fx: &dyn Fixture) {
        let b = fx.backend();
        let book = book(&*b, "book");
        let mut flow = flow(&*b, &book, "flow");
        let ttl = Duration::from_secs(60);
        assert_eq!(b.current_lease(flow.uuid).unwrap(), None);

        let a = b.acquire_lease(flow.uuid, "engine-a", ttl).unwrap();
        assert_eq!(
            (a.flow_uuid, a.owner.as_str(), a.token),
            (flow.uuid, "engine-a", 1)
        );
        assert!(a.expires_at > now_ms() + 50_000, "{a:?}");
        assert_eq!(b.current_lease(flow.uuid).unwrap(), Some(a.clone()));

        let err = b.acquire_lease(flow.uuid, "engine-b", ttl).unwrap_err();
        match &err {
            PersistenceError::LeaseHeld {
                flow: f,
                owner,
                token,
                expires_at,
                ..
            } => {
                assert_eq!(
                    (*f, owner.as_str(), *token, *expires_at),
                    (flow.uuid, "engine-a", 1, a.expires_at)
                );
            }
            other => panic!("expected LeaseHeld, got {other}"),
        }
        let text = err.to_string();
        assert!(
            text.contains(&flow.uuid.to_string()) && text.contains("engine-a"),
            "{text}"
        );

        // Writes under the lease go through.
        let mut at = atom(&flow, "a", 0);
        at.state = AtomState::Running;
        b.save_atom(&at, Some(&a)).unwrap();
        flow.state = FlowState::Running;
        b.save_flow(&flow, Some(&a)).unwrap();
        let a = b.renew_lease(&a, Duration::from_secs(120)).unwrap();
        assert!(a.expires_at > now_ms() + 110_000);
        assert_eq!(a.token, 1);

        // Released: another owner takes it, with a new token.
        b.release_lease(&a).unwrap();
        assert_eq!(b.current_lease(flow.uuid).unwrap(), None);
        let bl = b.acquire_lease(flow.uuid, "engine-b", ttl).unwrap();
        assert_eq!(bl.token, 2);

        // The old lease is fenced everywhere.
        at.state = AtomState::Success;
        for err in [
            b.save_atom(&at, Some(&a)).unwrap_err(),
            b.save_atoms(&[at.clone()], Some(&a)).unwrap_err(),
            b.save_flow(&flow, Some(&a)).unwrap_err(),
            b.renew_lease(&a, ttl).unwrap_err(),
            b.release_lease(&a).unwrap_err(),
        ] {
            match &err {
                PersistenceError::Fenced {
                    flow: f,
                    token,
                    current_owner,
                    current_token,
                    ..
                } => {
                    assert_eq!(
                        (*f, *token, current_owner.as_deref(), *current_token),
                        (flow.uuid, 1, Some("engine-b"), 2)
                    );
                }
                other => panic!("expected Fenced, got {other}"),
            }
        }
        let (_, atoms) = b.load_flow(flow.uuid).unwrap();
        assert_eq!(
            atoms[0].state,
            AtomState::Running,
            "the fenced write was not applied"
        );

        // The same owner name takes its own lease again at once (a restart).
        let b2 = b.acquire_lease(flow.uuid, "engine-b", ttl).unwrap();
        assert_eq!(b2.token, 3);
        assert!(matches!(
            b.save_atom(&at, Some(&bl)),
            Err(PersistenceError::Fenced { .. })
        ));
        b.save_atom(&at, Some(&b2)).unwrap();

        // A lease is for its own flow only; flows must exist.
        let other = self::flow(&*b, &book, "other");
        let err = b.save_atom(&atom(&other, "x", 0), Some(&b2)).unwrap_err();
        assert!(matches!(err, PersistenceError::WrongLease { .. }), "{err}");
        let err = b
            .acquire_lease(Uuid::new_v4(), "engine-a", ttl)
            .unwrap_err();
        assert!(
            matches!(
                err,
                PersistenceError::NotFound {
                    kind: ObjectKind::FlowDetail,
                    ..
                }
            ),
            "{err}"
        );
    }

    /// An expired lease can be taken over; until then its owner still writes.
    pub(crate) fn lease_expiry(fx: &dyn Fixture) {
        let b = fx.backend();
        let book = book(&*b, "book");
        let flow = flow(&*b, &book, "flow");
        let short = Duration::from_millis(300);
        let a = b.acquire_lease(flow.uuid, "engine-a", short).unwrap();
        assert!(matches!(
            b.acquire_lease(flow.uuid, "engine-b", short),
            Err(PersistenceError::LeaseHeld { .. })
        ));
        std::thread::sleep(Duration::from_millis(600));
        // Expired, but nobody took it: the owner's writes still go through.
        let at = atom(&flow, "a", 0);
        b.save_atom(&at, Some(&a)).unwrap();
        let bl = b
            .acquire_lease(flow.uuid, "engine-b", Duration::from_secs(60))
            .unwrap();
        assert_eq!(bl.token, a.token + 1);
        let err = b.save_atom(&at, Some(&a)).unwrap_err();
        assert!(err.to_string().contains("engine-b"), "{err}");
        assert!(matches!(err, PersistenceError::Fenced { .. }));
        b.save_atom(&at, Some(&bl)).unwrap();
    }

    /// A multi-megabyte result (and failure) round-trips whole.
    pub(crate) fn big_result(fx: &dyn Fixture) {
        let b = fx.backend();
        let book = book(&*b, "book");
        let flow = flow(&*b, &book, "flow");
        let mut at = atom(&flow, "big", 0);
        let text: String = (0..5 * 1024 * 1024)
            .map(|i| (b'a' + (i % 26) as u8) as char)
            .collect();
        let list: Vec<u32> = (0..100_000).collect();
        at.result = Some(json!({"text": text, "list": list}));
        at.failure = Some(Failure::new(FailureKind::Task, "x".repeat(1024 * 1024)));
        at.state = AtomState::Success;
        b.save_atom(&at, None).unwrap();
        let (_, atoms) = fx.reopen().unwrap().load_flow(flow.uuid).unwrap();
        assert_eq!(atoms.len(), 1);
        assert!(atoms[0] == at, "the big result changed on the way");
    }

    /// Finished logbooks older than the policy's age are deleted and returned.
    pub(crate) fn retention(fx: &dyn Fixture) {
        let b = fx.backend();
        let hour = 3_600_000;
        let old = now_ms() - 2 * hour;
        let mk = |name: &str, updated_at: i64, states: &[FlowState]| {
            let mut book = LogBook::new(name);
            book.updated_at = updated_at;
            b.save_logbook(&book).unwrap();
            for (i, state) in states.iter().enumerate() {
                let mut f = FlowDetail::new(book.uuid, format!("f{i}"));
                f.state = *state;
                f.updated_at = updated_at;
                b.save_flow(&f, None).unwrap();
                b.save_atom(&atom(&f, "a", 0), None).unwrap();
            }
            book
        };
        let old_done = mk("old-done", old, &[FlowState::Success, FlowState::Reverted]);
        let old_empty = mk("old-empty", old, &[]);
        let old_running = mk(
            "old-running",
            old,
            &[FlowState::Success, FlowState::Suspended],
        );
        let recent_done = mk("recent-done", now_ms(), &[FlowState::Failure]);

        let policy = RetentionPolicy {
            older_than: Duration::from_secs(3600),
            only_finished: true,
        };
        let mut deleted: Vec<String> = b
            .prune(&policy)
            .unwrap()
            .into_iter()
            .map(|s| s.book.name)
            .collect();
        deleted.sort();
        assert_eq!(deleted, ["old-done", "old-empty"]);
        let left: Vec<Uuid> = b
            .list_logbooks()
            .unwrap()
            .iter()
            .map(|s| s.book.uuid)
            .collect();
        assert_eq!(left.len(), 2);
        assert!(left.contains(&old_running.uuid) && left.contains(&recent_done.uuid));
        assert!(b.load_logbook(old_done.uuid).is_err() && b.load_logbook(old_empty.uuid).is_err());

        let all_old = RetentionPolicy {
            only_finished: false,
            ..policy
        };
        let deleted = b.prune(&all_old).unwrap();
        assert_eq!(deleted.len(), 1);
        assert_eq!(deleted[0].book.uuid, old_running.uuid);
        assert_eq!(deleted[0].flows.len(), 2);
        assert_eq!(b.list_logbooks().unwrap().len(), 1);
    }

    /// A corrupt value is an error naming table, row and column; the other
    /// rows stay readable.
    pub(crate) fn corrupt_row(fx: &dyn Fixture) {
        let b = fx.backend();
        let book1 = book(&*b, "book1");
        let book2 = book(&*b, "book2");
        let f1 = flow(&*b, &book1, "f1");
        let f2 = flow(&*b, &book1, "f2");
        let mut bad = atom(&f1, "bad", 0);
        bad.result = Some(json!(1));
        let good = atom(&f2, "good", 0);
        b.save_atoms(&[bad.clone(), atom(&f1, "fine", 1)], None)
            .unwrap();
        b.save_atom(&good, None).unwrap();
        if !fx.corrupt("atomdetails", bad.uuid, "result") {
            return;
        }
        let err = b.load_flow(f1.uuid).unwrap_err();
        match &err {
            PersistenceError::Corrupt {
                table,
                uuid,
                column,
                ..
            } => {
                assert_eq!(
                    (*table, uuid.as_str()),
                    ("atomdetails", bad.uuid.to_string().as_str())
                );
                if fx.names_columns() {
                    assert_eq!(*column, "result");
                }
            }
            other => panic!("expected Corrupt, got {other}"),
        }
        let text = err.to_string();
        assert!(
            text.contains("atomdetails") && text.contains(&bad.uuid.to_string()),
            "{text}"
        );

        assert!(fx.corrupt("logbooks", book2.uuid, "meta"));
        let err = b.load_logbook(book2.uuid).unwrap_err();
        assert!(
            matches!(&err, PersistenceError::Corrupt { table: "logbooks", uuid, .. } if *uuid == book2.uuid.to_string()),
            "{err}"
        );
        // Everything else reads as before.
        assert_eq!(b.load_flow(f2.uuid).unwrap(), (f2.clone(), vec![good]));
        assert_eq!(b.load_logbook(book1.uuid).unwrap(), book1);
        let mut flows = b.list_flows(book1.uuid).unwrap();
        flows.sort_by(|x, y| x.name.cmp(&y.name));
        assert_eq!(flows, vec![f1, f2]);
    }

    /// A dropped table is named, both to a running backend and at open.
    pub(crate) fn missing_table(fx: &dyn Fixture) {
        let b = fx.backend();
        let book = book(&*b, "book");
        let flow = flow(&*b, &book, "flow");
        b.save_atom(&atom(&flow, "a", 0), None).unwrap();
        let Some(table) = fx.drop_table() else {
            return;
        };
        let check = |err: PersistenceError| match &err {
            PersistenceError::MissingTable { table: t, .. } => {
                assert_eq!(t.trim_end_matches('/'), table, "{err}")
            }
            other => panic!("expected MissingTable, got {other}"),
        };
        match table {
            "atomdetails" => {
                check(b.load_flow(flow.uuid).unwrap_err());
                check(b.save_atom(&atom(&flow, "b", 1), None).unwrap_err());
                // What does not need the table still reads.
                assert_eq!(b.load_logbook(book.uuid).unwrap(), book);
                assert_eq!(b.list_flows(book.uuid).unwrap(), vec![flow]);
            }
            _ => {
                check(b.load_logbook(book.uuid).unwrap_err());
                check(b.list_logbooks().unwrap_err());
            }
        }
        check(fx.reopen().unwrap_err());
    }

    /// A store written by a newer taskwire is refused, naming both versions.
    pub(crate) fn schema_too_new(fx: &dyn Fixture) {
        let b = fx.backend();
        book(&*b, "book");
        if !fx.set_schema_version(999) {
            return;
        }
        let err = fx.reopen().unwrap_err();
        match &err {
            PersistenceError::SchemaTooNew { found, known, .. } => {
                assert_eq!(*found, 999);
                assert!(*known < 999);
                let text = err.to_string();
                assert!(
                    text.contains("999") && text.contains(&format!("version {known}")),
                    "{text}"
                );
            }
            other => panic!("expected SchemaTooNew, got {other}"),
        }
    }

    /// An owner keeps writing while its expired lease is taken over: every
    /// write lands before the takeover or is refused, so what the new owner
    /// reads right after acquiring is final.
    pub(crate) fn takeover_race(fx: &dyn Fixture) {
        let b = fx.backend();
        let book = book(&*b, "book");
        let flow = flow(&*b, &book, "flow");
        let old = b
            .acquire_lease(flow.uuid, "old", Duration::from_millis(50))
            .unwrap();
        let mut at = atom(&flow, "counter", 0);
        b.save_atom(&at, Some(&old)).unwrap();
        std::thread::scope(|s| {
            let writer = s.spawn(|| {
                for n in 0u64.. {
                    at.meta = json!(n);
                    match b.save_atom(&at, Some(&old)) {
                        Ok(()) => {}
                        Err(PersistenceError::Fenced { .. }) => return n,
                        Err(e) => panic!("{e}"),
                    }
                }
                unreachable!()
            });
            std::thread::sleep(Duration::from_millis(150));
            // The new owner is another connection, as another process would be.
            let other = fx.reopen().unwrap();
            let new = other
                .acquire_lease(flow.uuid, "new", Duration::from_secs(60))
                .unwrap();
            let seen = other.load_flow(flow.uuid).unwrap().1[0].meta.clone();
            let refused_at = writer.join().unwrap();
            assert!(refused_at > 0);
            let after = b.load_flow(flow.uuid).unwrap().1[0].meta.clone();
            assert_eq!(
                seen, after,
                "a write of the old owner landed after the takeover"
            );
            assert_eq!(after, json!(refused_at - 1));
            assert_eq!(new.token, old.token + 1);
        });
    }

    /// A step's records saved together (group commit): the flow detail and
    /// atom details land together, and under a lease that changed hands
    /// none of them does.
    pub(crate) fn group_commit(fx: &dyn Fixture) {
        let b = fx.backend();
        let book = book(&*b, "group");
        let mut flow = flow(&*b, &book, "chain");
        let lease = b
            .acquire_lease(flow.uuid, "engine-a", Duration::from_secs(30))
            .unwrap();
        let mut a0 = atom(&flow, "t0", 0);
        a0.state = AtomState::Success;
        a0.result = Some(json!({"v": 1, "text": "naïve \"quoted\""}));
        a0.meta = json!({"done": 0});
        let mut a1 = atom(&flow, "t1", 1);
        a1.state = AtomState::Running;
        flow.state = FlowState::Running;
        b.save_records(Some(&flow), &[a0.clone(), a1.clone()], Some(&lease))
            .unwrap();
        let (loaded, atoms) = b.load_flow(flow.uuid).unwrap();
        assert_eq!(loaded.state, FlowState::Running);
        assert_eq!(atoms, vec![a0.clone(), a1.clone()]);

        // Atoms alone.
        a1.state = AtomState::Failure;
        a1.failure = Some(Failure::new(FailureKind::Task, "disk full"));
        b.save_records(None, std::slice::from_ref(&a1), Some(&lease))
            .unwrap();
        assert_eq!(b.load_flow(flow.uuid).unwrap().1[1], a1);

        // Another owner took the flow: the old lease's step writes nothing.
        b.take_over_lease(flow.uuid, "engine-b", Duration::from_secs(30))
            .unwrap();
        let mut late_flow = flow.clone();
        late_flow.state = FlowState::Reverting;
        let mut late_a1 = a1.clone();
        late_a1.state = AtomState::Reverting;
        let a2 = atom(&flow, "t2", 2);
        let err = b
            .save_records(Some(&late_flow), &[late_a1, a2], Some(&lease))
            .unwrap_err();
        assert!(
            matches!(err, PersistenceError::Fenced { .. }),
            "expected a fenced write, got: {err}"
        );
        let (loaded, atoms) = b.load_flow(flow.uuid).unwrap();
        assert_eq!(loaded.state, FlowState::Running, "the flow was written");
        assert_eq!(atoms, vec![a0, a1], "atoms were written");

        // Atoms of another flow under this flow's lease: refused, named.
        let other = self::flow(&*b, &book, "other");
        let err = b
            .save_records(None, &[atom(&other, "x", 0)], Some(&lease))
            .unwrap_err();
        assert!(err.to_string().contains(&other.uuid.to_string()), "{err}");
    }

    /// Many threads write atoms of one flow at once, under one lease.
    pub(crate) fn concurrent_writes(fx: &dyn Fixture) {
        let b = fx.backend();
        let book = book(&*b, "book");
        let flow = flow(&*b, &book, "flow");
        let lease = b
            .acquire_lease(flow.uuid, "engine", Duration::from_secs(60))
            .unwrap();
        std::thread::scope(|s| {
            for t in 0..4u32 {
                let (b, flow, lease) = (b.clone(), flow.clone(), lease.clone());
                s.spawn(move || {
                    for i in 0..10 {
                        let mut a = AtomDetail::new(flow.uuid, format!("t{t}-{i}"), t * 10 + i);
                        b.save_atom(&a, Some(&lease)).unwrap();
                        a.state = AtomState::Success;
                        a.result = Some(json!(i));
                        b.save_atom(&a, Some(&lease)).unwrap();
                    }
                });
            }
        });
        let (_, atoms) = b.load_flow(flow.uuid).unwrap();
        assert_eq!(atoms.len(), 40);
        assert!(atoms.iter().all(|a| a.state == AtomState::Success));
        let positions: Vec<u32> = atoms.iter().map(|a| a.position).collect();
        assert_eq!(positions, (0..40).collect::<Vec<_>>());
    }
}

/// One test per check, for a backend.
macro_rules! suite {
    ($module:ident, $make:expr) => {
        suite!(@ $module, $make, round_trips, upserts, listing, cascading_delete, leases,
            lease_expiry, big_result, retention, corrupt_row, missing_table, schema_too_new,
            concurrent_writes, takeover_race, group_commit);
    };
    (@ $module:ident, $make:expr, $($check:ident),*) => {
        mod $module {
            use super::*;
            $(
                #[test]
                fn $check() {
                    let fixture = $make(stringify!($check));
                    checks::$check(&fixture);
                }
            )*
        }
    };
}

suite!(memory, MemoryFixture::new);
suite!(dir, DirFixture::new);
#[cfg(feature = "sqlite")]
suite!(sqlite, SqliteFixture::new);
#[cfg(feature = "postgres")]
suite!(postgres, pg::PgFixture::new);
#[cfg(feature = "mysql")]
suite!(mysql, my::MyFixture::new);
#[cfg(feature = "zookeeper")]
suite!(zookeeper, zoo::ZkFixture::new);

#[cfg(feature = "sqlite")]
#[test]
fn sqlite_urls() {
    let dir = TempDir::new("sqlite_urls");
    let full = format!("sqlite://{}?synchronous=FULL", dir.0.join("a.db").display());
    let b = persistence::open(&full).unwrap();
    assert!(b.url().ends_with("a.db"), "{}", b.url());
    let mem = persistence::open("sqlite::memory:").unwrap();
    mem.save_logbook(&LogBook::new("x")).unwrap();
    assert_eq!(mem.list_logbooks().unwrap().len(), 1);
    let err = persistence::open(&format!(
        "sqlite://{}?cache=shared",
        dir.0.join("b.db").display()
    ))
    .unwrap_err();
    assert!(err.to_string().contains("synchronous=normal|full"), "{err}");
    let err = persistence::open("sqlite://").unwrap_err();
    assert!(matches!(err, PersistenceError::InvalidUrl { .. }), "{err}");
}

#[cfg(feature = "sqlite")]
#[test]
fn sqlite_open_failure_is_an_error() {
    let err = persistence::open("sqlite:///nonexistent-dir-taskwire/x/y.db").unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("sqlite:///nonexistent-dir-taskwire/x/y.db"),
        "{text}"
    );
    assert!(matches!(err, PersistenceError::Backend { .. }), "{text}");
}

/// Bad `zookeeper://` URLs are refused before any connection, naming what
/// is wrong; a server that does not answer is an error within the bound.
#[cfg(feature = "zookeeper")]
#[test]
fn zookeeper_urls() {
    let refused = |url: &str, says: &str| {
        let err = persistence::open(url).unwrap_err();
        assert!(
            matches!(err, PersistenceError::InvalidUrl { .. }) && err.to_string().contains(says),
            "{url}: {err}"
        );
    };
    refused("zookeeper://127.0.0.1:2181", "no chroot");
    refused("zookeeper://127.0.0.1:2181/", "no chroot");
    refused("zookeeper:///taskwire", "no server");
    refused("zookeeper://127.0.0.1:2181/a//b", "not a ZooKeeper path");
    refused(
        "zookeeper://127.0.0.1:2181/tw?timeout=soon",
        "`timeout=soon`",
    );
    refused(
        "zookeeper://127.0.0.1:2181/tw?max_request=big",
        "`max_request=big` is not a size",
    );
    refused(
        "zookeeper://127.0.0.1:2181/tw?chroot=x",
        "unknown key `chroot`",
    );

    let start = std::time::Instant::now();
    let err = persistence::open("zookeeper://127.0.0.1:1/tw?timeout=1s").unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    let text = err.to_string();
    assert!(
        text.contains("zookeeper://127.0.0.1:1/tw") && text.contains("open the logbook"),
        "{text}"
    );
}

/// A write larger than the server takes is refused before it is sent,
/// naming its size and the way out.
#[cfg(feature = "zookeeper")]
#[test]
fn zookeeper_refuses_a_write_over_max_request() {
    let fx = zoo::ZkFixture::new("max_request");
    let url = fx.url.replace("max_request=32MiB", "max_request=64KiB");
    let b = persistence::open(&url).unwrap();
    let book = LogBook::new("big");
    b.save_logbook(&book).unwrap();
    let flow = FlowDetail::new(book.uuid, "big");
    b.save_flow(&flow, None).unwrap();
    let mut atom = AtomDetail::new(flow.uuid, "big", 0);
    atom.result = Some(json!("x".repeat(100 * 1024)));
    let err = b.save_atom(&atom, None).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("more than `max_request` (65536 bytes)") && text.contains("jute.maxbuffer"),
        "{text}"
    );
    // Nothing was written; a smaller one goes through.
    assert!(b.load_flow(flow.uuid).unwrap().1.is_empty());
    atom.result = Some(json!("small"));
    b.save_atom(&atom, None).unwrap();
    assert_eq!(b.load_flow(flow.uuid).unwrap().1, vec![atom]);
}

/// A schema node that holds no version is named, with what it holds.
#[cfg(feature = "zookeeper")]
#[test]
fn zookeeper_names_a_schema_node_that_is_no_version() {
    let fx = zoo::ZkFixture::new("bad_schema");
    fx.admin.set(&fx.node("/schema"), b"one");
    let err = persistence::open(&fx.url).unwrap_err();
    assert!(
        matches!(
            err,
            PersistenceError::Corrupt {
                table: "schema",
                ..
            }
        ),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains(&format!(
            "`{}/schema` holds \"one\", not a version number",
            fx.chroot
        )),
        "{text}"
    );
}

#[test]
fn unknown_scheme_lists_the_known_ones() {
    let err = persistence::open("mongodb://user:secret@host/db").unwrap_err();
    let text = err.to_string();
    assert!(text.contains("`mongodb`"), "{text}");
    for scheme in [
        "memory://",
        "dir://",
        "sqlite://",
        "postgres://",
        "mysql://",
        "zookeeper://",
    ] {
        assert!(text.contains(scheme), "{text}");
    }
    assert!(!text.contains("secret"), "{text}");
}

#[cfg(not(feature = "mysql"))]
#[test]
fn a_disabled_feature_is_named() {
    let err = persistence::open("mysql://root@127.0.0.1/x").unwrap_err();
    assert!(
        matches!(
            err,
            PersistenceError::FeatureDisabled {
                feature: "mysql",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("`mysql` cargo feature"), "{err}");
}

/// The server goes away under an open backend: the next call is an error
/// value, and the one after reconnects.
#[cfg(feature = "postgres")]
#[test]
fn postgres_server_going_away_is_an_error_then_reconnects() {
    let fx = pg::PgFixture::new("pg_goes_away");
    let b = fx.backend();
    let book = LogBook::new("book");
    b.save_logbook(&book).unwrap();
    let killed: i64 = pg::admin("postgres")
        .query_one(
            "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            &[&fx.db.name],
        )
        .unwrap()
        .get(0);
    assert!(killed >= 1);
    // pg_terminate_backend only signals the server process: wait until it is
    // gone, or the next query may still reach it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let left: i64 = pg::admin("postgres")
            .query_one(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                &[&fx.db.name],
            )
            .unwrap()
            .get(0);
        if left == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the connection was not terminated"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let err = b.load_logbook(book.uuid).unwrap_err();
    assert!(matches!(err, PersistenceError::Backend { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains(&fx.db.name) && text.contains("load a logbook"),
        "{text}"
    );
    assert_eq!(b.load_logbook(book.uuid).unwrap(), book);
}

#[cfg(feature = "postgres")]
#[test]
fn postgres_unreachable_server_is_an_error() {
    let err = persistence::open("postgres://postgres:secret@127.0.0.1:1/none").unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, PersistenceError::Backend { .. }), "{text}");
    assert!(
        text.contains("127.0.0.1:1") && !text.contains("secret"),
        "{text}"
    );
}

#[cfg(feature = "mysql")]
#[test]
fn mysql_server_going_away_is_an_error_then_reconnects() {
    use ::mysql::prelude::Queryable;
    let fx = my::MyFixture::new("my_goes_away");
    let b = fx.backend();
    let book = LogBook::new("book");
    b.save_logbook(&book).unwrap();
    let mut admin = my::admin(None);
    let ids: Vec<u64> = admin
        .exec(
            "SELECT id FROM information_schema.processlist WHERE db = ? AND id <> CONNECTION_ID()",
            (&fx.db.name,),
        )
        .unwrap();
    assert!(!ids.is_empty());
    for id in ids {
        admin.query_drop(format!("KILL {id}")).unwrap();
    }
    let err = b.load_logbook(book.uuid).unwrap_err();
    assert!(matches!(err, PersistenceError::Backend { .. }), "{err}");
    assert!(err.to_string().contains(&fx.db.name), "{err}");
    assert_eq!(b.load_logbook(book.uuid).unwrap(), book);
}

#[cfg(feature = "mysql")]
#[test]
fn mysql_unreachable_server_is_an_error() {
    let err = persistence::open("mysql://root:secret@127.0.0.1:1/none").unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, PersistenceError::Backend { .. }), "{text}");
    assert!(
        text.contains("127.0.0.1:1") && !text.contains("secret"),
        "{text}"
    );
}
