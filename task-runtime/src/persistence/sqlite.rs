//! `sqlite://path`: the default logbook, an embedded SQLite database (bundled
//! with the crate: no system library needed) in WAL mode.
//!
//! Durability: with `synchronous=NORMAL` (the default) a committed write
//! survives a crash of the process, but the last transactions may be lost on
//! a power failure or an OS crash; with `synchronous=FULL` (`?synchronous=full`)
//! every commit is fsynced and survives those too, at several times the cost.
//!
//! Tuned for many small commits: new databases use 1 KiB pages, the WAL grows
//! to about 10 MiB (10,000 pages) between checkpoints and is cut back to
//! 64 MiB at most after one, and atom details are stored clustered by flow
//! (`WITHOUT ROWID`, primary key `(flow_uuid, uuid)`), so that a commit
//! writes one b-tree page, not three.
//!
//! Several processes may share the file: SQLite serializes writers, and
//! leases are checked in `BEGIN IMMEDIATE` transactions, so fencing holds
//! between processes too. Expiry uses the machine's clock.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::types::ValueRef;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use uuid::Uuid;

use super::sql::{
    self, atom_columns, book_columns, flow_columns, sql_lease_methods, summary_columns, uuid_text,
    AtomJson, LeaseChange, LeaseResult, Row, SqlLeases, SCHEMA_VERSION,
};
use super::{
    check_lease_flow, now_ms, AtomDetail, Backend, FlowDetail, Lease, LeaseRow, LogBook,
    LogBookSummary, ObjectKind, PersistenceError,
};

/// How hard SQLite works to make a commit durable (`PRAGMA synchronous`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Synchronous {
    /// Survives a crash of the process; the last commits may be lost on power
    /// loss. About 16 µs a commit on the reference machine.
    #[default]
    Normal,
    /// Every commit is fsynced: survives power loss. About 90 µs a commit.
    Full,
}

impl Synchronous {
    fn pragma(self) -> &'static str {
        match self {
            Synchronous::Normal => "NORMAL",
            Synchronous::Full => "FULL",
        }
    }
}

/// The page size of new databases (SQLite's default). Atom rows (300–400
/// bytes with their timeline) live in a `WITHOUT ROWID` table, an index
/// b-tree, whose cells hold at most about a quarter of a page: with 1 KiB
/// pages every row spilled onto an overflow page, which each write and
/// each seek then had to visit (measured with callgrind on the persisted
/// chain: 880 M instructions with 1 KiB pages, 641 M with 4 KiB).
const PAGE_SIZE: u32 = 4096;

/// Pages written to the WAL before SQLite copies them back into the database
/// (SQLite's default is 1,000). A checkpoint fsyncs, even with
/// `synchronous=NORMAL`; with one or two pages per committed atom, a
/// checkpoint every 10,000 pages costs a few µs per write instead of about 25.
const WAL_CHECKPOINT_PAGES: u32 = 10_000;

/// The size the WAL file is truncated back to after a checkpoint (bytes).
const WAL_SIZE_LIMIT: u64 = 64 << 20;

/// A logbook in an SQLite database (`sqlite://path`).
#[derive(Debug)]
pub struct SqliteBackend {
    url: String,
    conn: Mutex<Connection>,
}

/// The migrations, in order: version `i + 1` is `MIGRATIONS[i]`.
const MIGRATIONS: [&str; SCHEMA_VERSION as usize] = [
    "CREATE TABLE logbooks (
        uuid TEXT PRIMARY KEY NOT NULL,
        name TEXT NOT NULL,
        meta TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    );
    CREATE TABLE flowdetails (
        uuid TEXT PRIMARY KEY NOT NULL,
        logbook_uuid TEXT NOT NULL REFERENCES logbooks (uuid) ON DELETE CASCADE,
        name TEXT NOT NULL,
        state TEXT NOT NULL,
        meta TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        lease_owner TEXT,
        lease_token INTEGER NOT NULL DEFAULT 0,
        lease_expires_at INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE atomdetails (
        uuid TEXT NOT NULL,
        flow_uuid TEXT NOT NULL REFERENCES flowdetails (uuid) ON DELETE CASCADE,
        name TEXT NOT NULL,
        atom_type TEXT NOT NULL,
        position INTEGER NOT NULL,
        state TEXT NOT NULL,
        intention TEXT NOT NULL,
        result TEXT,
        failure TEXT,
        revert_failure TEXT,
        version TEXT NOT NULL,
        meta TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (flow_uuid, uuid)
    ) WITHOUT ROWID;",
    "CREATE INDEX flowdetails_logbook ON flowdetails (logbook_uuid);",
    // Operators' listings, newest first (`Backend::query_flows`).
    "CREATE INDEX flowdetails_created ON flowdetails (created_at, uuid);
    CREATE INDEX flowdetails_updated ON flowdetails (updated_at, uuid);",
];

const UPSERT_BOOK: &str = "INSERT INTO logbooks (uuid, name, meta, created_at, updated_at)
    VALUES (?1, ?2, ?3, ?4, ?5)
    ON CONFLICT (uuid) DO UPDATE SET name = excluded.name, meta = excluded.meta,
        created_at = excluded.created_at, updated_at = excluded.updated_at";

const UPSERT_FLOW: &str = "INSERT INTO flowdetails
        (uuid, logbook_uuid, name, state, meta, created_at, updated_at)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
    ON CONFLICT (uuid) DO UPDATE SET logbook_uuid = excluded.logbook_uuid,
        name = excluded.name, state = excluded.state, meta = excluded.meta,
        created_at = excluded.created_at, updated_at = excluded.updated_at";

/// ?15, ?16: the lease's owner and token, or NULL for an unfenced write. One
/// statement: SQLite runs it atomically, so the lease check and the write
/// cannot be separated by a takeover.
const UPSERT_ATOM: &str = "INSERT INTO atomdetails (uuid, flow_uuid, name, atom_type,
        position, state, intention, result, failure, revert_failure, version, meta,
        created_at, updated_at)
    SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14
    WHERE ?15 IS NULL OR EXISTS (SELECT 1 FROM flowdetails
        WHERE uuid = ?2 AND lease_owner = ?15 AND lease_token = ?16)
    ON CONFLICT (flow_uuid, uuid) DO UPDATE SET name = excluded.name, atom_type = excluded.atom_type,
        position = excluded.position, state = excluded.state,
        intention = excluded.intention, result = excluded.result,
        failure = excluded.failure, revert_failure = excluded.revert_failure,
        version = excluded.version, meta = excluded.meta,
        created_at = excluded.created_at, updated_at = excluded.updated_at";

const SELECT_LEASE: &str =
    "SELECT uuid, lease_owner, lease_token, lease_expires_at FROM flowdetails WHERE uuid = ?1";

const SET_LEASE: &str = "UPDATE flowdetails SET lease_owner = ?2, lease_token = ?3,
    lease_expires_at = ?4 WHERE uuid = ?1";

impl Row for rusqlite::Row<'_> {
    fn text(&self, index: usize) -> Result<Option<&str>, String> {
        match self.get_ref(index).map_err(|e| e.to_string())? {
            ValueRef::Null => Ok(None),
            ValueRef::Text(bytes) => std::str::from_utf8(bytes)
                .map(Some)
                .map_err(|e| format!("not UTF-8: {e}")),
            other => Err(format!("{} where text is expected", other.data_type())),
        }
    }

    fn int(&self, index: usize) -> Result<Option<i64>, String> {
        match self.get_ref(index).map_err(|e| e.to_string())? {
            ValueRef::Null => Ok(None),
            ValueRef::Integer(i) => Ok(Some(i)),
            other => Err(format!(
                "{} where an integer is expected",
                other.data_type()
            )),
        }
    }
}

fn is_foreign_key_error(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY)
}

impl SqliteBackend {
    /// Opens `sqlite://path`, `sqlite:///abs/path` or `sqlite::memory:`, with
    /// an optional `?synchronous=normal|full`.
    pub fn open(url: &str) -> Result<SqliteBackend, PersistenceError> {
        let invalid = |reason: String| PersistenceError::InvalidUrl {
            url: url.to_owned(),
            reason,
        };
        if url == "sqlite::memory:" {
            return SqliteBackend::open_with(":memory:", Synchronous::Normal);
        }
        let rest = url
            .strip_prefix("sqlite://")
            .ok_or_else(|| invalid("expected sqlite://path or sqlite::memory:".into()))?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        if path.is_empty() {
            return Err(invalid(
                "no file: write sqlite:///absolute/path.db or sqlite://relative.db".into(),
            ));
        }
        let mut synchronous = Synchronous::Normal;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("synchronous", v)) if v.eq_ignore_ascii_case("normal") => {
                    synchronous = Synchronous::Normal
                }
                Some(("synchronous", v)) if v.eq_ignore_ascii_case("full") => {
                    synchronous = Synchronous::Full
                }
                _ => {
                    return Err(invalid(format!(
                        "unknown parameter `{pair}`; known: synchronous=normal|full"
                    )))
                }
            }
        }
        SqliteBackend::open_with(path, synchronous)
    }

    /// Opens (creating it if needed) the database file at `path` (`:memory:`
    /// for a private in-memory database), and creates or upgrades its schema.
    pub fn open_with(
        path: impl AsRef<Path>,
        synchronous: Synchronous,
    ) -> Result<SqliteBackend, PersistenceError> {
        let path: PathBuf = path.as_ref().to_path_buf();
        let url = if path.as_os_str() == ":memory:" {
            "sqlite::memory:".to_owned()
        } else {
            format!("sqlite://{}", path.display())
        };
        let fail = |operation: &str, e: rusqlite::Error| PersistenceError::Backend {
            backend: url.clone(),
            operation: operation.to_owned(),
            source: Box::new(e),
        };
        let conn = Connection::open(&path).map_err(|e| fail("open the database", e))?;
        // Before anything is written (a new database only).
        conn.execute_batch(&format!("PRAGMA page_size = {PAGE_SIZE}"))
            .map_err(|e| fail("set the page size", e))?;
        conn.busy_timeout(Duration::from_secs(30))
            .map_err(|e| fail("set the busy timeout", e))?;
        conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0))
            .map_err(|e| fail("switch to WAL mode", e))?;
        conn.execute_batch(&format!(
            "PRAGMA synchronous = {}; PRAGMA foreign_keys = ON;
             PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_PAGES};
             PRAGMA journal_size_limit = {WAL_SIZE_LIMIT};",
            synchronous.pragma()
        ))
        .map_err(|e| fail("set the pragmas", e))?;
        conn.set_prepared_statement_cache_capacity(32);
        let backend = SqliteBackend {
            url,
            conn: Mutex::new(conn),
        };
        backend.migrate()?;
        Ok(backend)
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // The connection has no state of ours: a panic elsewhere while it was
        // held leaves at worst an open transaction, rolled back on next use.
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        if !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        conn
    }

    /// Maps a driver error: a missing table of ours, or a failed operation.
    fn db(&self, operation: &str, e: rusqlite::Error) -> PersistenceError {
        if let rusqlite::Error::SqliteFailure(_, Some(message)) = &e {
            if message.starts_with("no such table") {
                if let Some(table) = sql::our_table(message) {
                    return PersistenceError::MissingTable {
                        backend: self.url.clone(),
                        table: table.to_owned(),
                        version: SCHEMA_VERSION,
                    };
                }
            }
        }
        PersistenceError::Backend {
            backend: self.url.clone(),
            operation: operation.to_owned(),
            source: Box::new(e),
        }
    }

    fn not_found(&self, kind: ObjectKind, uuid: Uuid) -> PersistenceError {
        PersistenceError::NotFound {
            backend: self.url.clone(),
            kind,
            uuid,
        }
    }

    fn migrate(&self) -> Result<(), PersistenceError> {
        let mut conn = self.conn();
        let op = "migrate the schema";
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.db(op, e))?;
        tx.execute_batch(
            "CREATE TABLE IF NOT EXISTS taskwire_schema (
                version INTEGER PRIMARY KEY NOT NULL,
                applied_at INTEGER NOT NULL
            )",
        )
        .map_err(|e| self.db(op, e))?;
        let found: i64 = tx
            .query_row(
                "SELECT COALESCE(MAX(version), 0) FROM taskwire_schema",
                [],
                |r| r.get(0),
            )
            .map_err(|e| self.db(op, e))?;
        let found = u32::try_from(found).unwrap_or(u32::MAX);
        if found > SCHEMA_VERSION {
            return Err(PersistenceError::SchemaTooNew {
                backend: self.url.clone(),
                found,
                known: SCHEMA_VERSION,
            });
        }
        for (version, migration) in (1..).zip(MIGRATIONS).skip(found as usize) {
            tx.execute_batch(migration)
                .map_err(|e| self.db(&format!("apply migration {version}"), e))?;
            tx.execute(
                "INSERT INTO taskwire_schema (version, applied_at) VALUES (?1, ?2)",
                params![version, now_ms()],
            )
            .map_err(|e| self.db(op, e))?;
        }
        for table in sql::TABLES {
            let exists = tx
                .query_row(
                    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",
                    [table],
                    |_| Ok(()),
                )
                .optional()
                .map_err(|e| self.db(op, e))?;
            if exists.is_none() {
                return Err(PersistenceError::MissingTable {
                    backend: self.url.clone(),
                    table: table.to_owned(),
                    version: SCHEMA_VERSION,
                });
            }
        }
        tx.commit().map_err(|e| self.db(op, e))
    }

    /// The lease row of a flow, inside the caller's transaction.
    fn lease_row(&self, conn: &Connection, flow: Uuid) -> Result<LeaseRow, PersistenceError> {
        let mut buf = [0; 36];
        let mut stmt = conn
            .prepare_cached(SELECT_LEASE)
            .map_err(|e| self.db("read a lease", e))?;
        let mut rows = stmt
            .query([uuid_text(flow, &mut buf)])
            .map_err(|e| self.db("read a lease", e))?;
        match rows.next().map_err(|e| self.db("read a lease", e))? {
            Some(row) => sql::decode_lease(&self.url, row),
            None => Err(self.not_found(ObjectKind::FlowDetail, flow)),
        }
    }

    fn set_lease(
        &self,
        conn: &Connection,
        flow: Uuid,
        row: &LeaseRow,
    ) -> Result<(), PersistenceError> {
        let mut buf = [0; 36];
        conn.prepare_cached(SET_LEASE)
            .and_then(|mut s| {
                s.execute(params![
                    uuid_text(flow, &mut buf),
                    row.owner,
                    sql::token_i64(row.token),
                    row.expires_at
                ])
            })
            .map(drop)
            .map_err(|e| self.db("write a lease", e))
    }

    /// Runs `f` in a `BEGIN IMMEDIATE` transaction, committed if it succeeds.
    fn write<T>(
        &self,
        operation: &str,
        f: impl FnOnce(&Connection) -> Result<T, PersistenceError>,
    ) -> Result<T, PersistenceError> {
        self.transaction(operation, |conn| f(conn).map(|value| (value, true)))
    }

    /// Runs `f` in a `BEGIN IMMEDIATE` transaction, committed if `f` says so
    /// (`(value, true)`), else rolled back.
    fn transaction<T>(
        &self,
        operation: &str,
        f: impl FnOnce(&Connection) -> Result<(T, bool), PersistenceError>,
    ) -> Result<T, PersistenceError> {
        // BEGIN and COMMIT as cached statements: parsing them at every write
        // would cost a few µs each.
        let conn = self.conn();
        let run = |sql: &str| {
            conn.prepare_cached(sql)
                .and_then(|mut s| s.execute([]))
                .map_err(|e| self.db(operation, e))
        };
        run("BEGIN IMMEDIATE")?;
        let result = match f(&conn) {
            Ok((value, true)) => run("COMMIT").map(|_| value),
            Ok((value, false)) => run("ROLLBACK").map(|_| value),
            Err(e) => Err(e),
        };
        if result.is_err() && !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        result
    }

    /// Writes a flow detail inside the caller's transaction, if `lease` (when
    /// given) is current.
    fn upsert_flow(
        &self,
        tx: &Connection,
        flow: &FlowDetail,
        meta: &str,
        lease: Option<&Lease>,
    ) -> Result<(), PersistenceError> {
        if let Some(lease) = lease {
            self.lease_row(tx, flow.uuid)?.check(&self.url, lease)?;
        }
        let (mut a, mut b) = ([0; 36], [0; 36]);
        tx.prepare_cached(UPSERT_FLOW)
            .and_then(|mut s| {
                s.execute(params![
                    uuid_text(flow.uuid, &mut a),
                    uuid_text(flow.logbook_uuid, &mut b),
                    flow.name,
                    flow.state.as_str(),
                    meta,
                    flow.created_at,
                    flow.updated_at
                ])
            })
            .map_err(|e| {
                if is_foreign_key_error(&e) {
                    self.not_found(ObjectKind::LogBook, flow.logbook_uuid)
                } else {
                    self.db("save a flow detail", e)
                }
            })?;
        Ok(())
    }

    /// Writes atom details with `UPSERT_ATOM`; `false` if a fenced write was
    /// refused (the caller rolls back then).
    fn upsert_atoms(
        &self,
        conn: &Connection,
        atoms: &[AtomDetail],
        json: &[AtomJson],
        lease: Option<&Lease>,
    ) -> Result<bool, PersistenceError> {
        let owner = lease.map(|l| l.owner.as_str());
        let token = lease.map(|l| sql::token_i64(l.token));
        let op = "save an atom detail";
        let mut stmt = conn
            .prepare_cached(UPSERT_ATOM)
            .map_err(|e| self.db(op, e))?;
        for (atom, json) in atoms.iter().zip(json) {
            let (mut a, mut b) = ([0; 36], [0; 36]);
            let written = stmt
                .execute(params![
                    uuid_text(atom.uuid, &mut a),
                    uuid_text(atom.flow_uuid, &mut b),
                    atom.name,
                    atom.atom_type.as_str(),
                    atom.position,
                    atom.state.as_str(),
                    sql::intention_text(atom),
                    json.result,
                    json.failure,
                    json.revert_failure,
                    atom.version,
                    json.meta,
                    atom.created_at,
                    atom.updated_at,
                    owner,
                    token
                ])
                .map_err(|e| {
                    if is_foreign_key_error(&e) {
                        self.not_found(ObjectKind::FlowDetail, atom.flow_uuid)
                    } else {
                        self.db(op, e)
                    }
                })?;
            if written == 0 {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Why a fenced write was refused: the flow is gone, or the lease
    /// changed hands.
    fn refused(&self, lease: &Lease) -> PersistenceError {
        let conn = self.conn();
        match self.lease_row(&conn, lease.flow_uuid) {
            Ok(current) => current.fenced(&self.url, lease),
            Err(e) => e,
        }
    }
}

impl SqlLeases for SqliteBackend {
    /// Changes a lease inside one write transaction.
    fn lease_update(&self, op: &str, flow: Uuid, edit: impl LeaseChange) -> LeaseResult<LeaseRow> {
        self.write(op, |tx| {
            let new = edit(&self.lease_row(tx, flow)?, now_ms())?;
            self.set_lease(tx, flow, &new)?;
            Ok(new)
        })
    }
}

impl SqliteBackend {
    /// `Backend::query_flows`: one indexed statement.
    fn query_flows_sql(&self, q: &super::FlowQuery) -> Result<super::FlowPage, PersistenceError> {
        use super::query::{self, Param};
        q.check(&self.url)?;
        let (sql, params) = query::statement(q, query::Dialect::Sqlite);
        let op = "list flow details";
        let conn = self.conn();
        let mut stmt = conn.prepare(&sql).map_err(|e| self.db(op, e))?;
        let values = params.iter().map(|p| match p {
            Param::Text(t) => rusqlite::types::Value::Text(t.clone()),
            Param::Int(i) => rusqlite::types::Value::Integer(*i),
        });
        let mut rows = stmt
            .query(rusqlite::params_from_iter(values))
            .map_err(|e| self.db(op, e))?;
        let mut found = Vec::new();
        while let Some(row) = rows.next().map_err(|e| self.db(op, e))? {
            found.push(query::decode_row(&self.url, row)?);
        }
        Ok(super::FlowPage::cut(found, q))
    }
}

impl Backend for SqliteBackend {
    fn url(&self) -> &str {
        &self.url
    }

    fn query_flows(&self, q: &super::FlowQuery) -> Result<super::FlowPage, PersistenceError> {
        self.query_flows_sql(q)
    }

    fn save_logbook(&self, book: &LogBook) -> Result<(), PersistenceError> {
        let meta = sql::meta_json(&self.url, ObjectKind::LogBook, book.uuid, &book.meta)?;
        let mut buf = [0; 36];
        let conn = self.conn();
        conn.prepare_cached(UPSERT_BOOK)
            .and_then(|mut s| {
                s.execute(params![
                    uuid_text(book.uuid, &mut buf),
                    book.name,
                    meta,
                    book.created_at,
                    book.updated_at
                ])
            })
            .map(drop)
            .map_err(|e| self.db("save a logbook", e))
    }

    fn load_logbook(&self, uuid: Uuid) -> Result<LogBook, PersistenceError> {
        let conn = self.conn();
        let op = "load a logbook";
        let mut buf = [0; 36];
        let mut stmt = conn
            .prepare_cached(concat!(
                "SELECT ",
                book_columns!(),
                " FROM logbooks WHERE uuid = ?1"
            ))
            .map_err(|e| self.db(op, e))?;
        let mut rows = stmt
            .query([uuid_text(uuid, &mut buf)])
            .map_err(|e| self.db(op, e))?;
        match rows.next().map_err(|e| self.db(op, e))? {
            Some(row) => sql::decode_book(&self.url, row),
            None => Err(self.not_found(ObjectKind::LogBook, uuid)),
        }
    }

    fn list_logbooks(&self) -> Result<Vec<LogBookSummary>, PersistenceError> {
        let conn = self.conn();
        let op = "list logbooks";
        let mut books = Vec::new();
        let mut stmt = conn
            .prepare_cached(concat!(
                "SELECT ",
                book_columns!(),
                " FROM logbooks ORDER BY created_at, uuid"
            ))
            .map_err(|e| self.db(op, e))?;
        let mut rows = stmt.query([]).map_err(|e| self.db(op, e))?;
        while let Some(row) = rows.next().map_err(|e| self.db(op, e))? {
            books.push(sql::decode_book(&self.url, row)?);
        }
        let mut flows = Vec::new();
        let mut stmt = conn
            .prepare_cached(concat!(
                "SELECT ",
                summary_columns!(),
                " FROM flowdetails ORDER BY created_at, uuid"
            ))
            .map_err(|e| self.db(op, e))?;
        let mut rows = stmt.query([]).map_err(|e| self.db(op, e))?;
        while let Some(row) = rows.next().map_err(|e| self.db(op, e))? {
            flows.push(sql::decode_summary(&self.url, row)?);
        }
        Ok(sql::group(books, flows))
    }

    fn delete_logbook(&self, uuid: Uuid) -> Result<(), PersistenceError> {
        let mut buf = [0; 36];
        let deleted = self
            .conn()
            .prepare_cached("DELETE FROM logbooks WHERE uuid = ?1")
            .and_then(|mut s| s.execute([uuid_text(uuid, &mut buf)]))
            .map_err(|e| self.db("delete a logbook", e))?;
        if deleted == 0 {
            return Err(self.not_found(ObjectKind::LogBook, uuid));
        }
        Ok(())
    }

    fn save_flow(&self, flow: &FlowDetail, lease: Option<&Lease>) -> Result<(), PersistenceError> {
        if let Some(lease) = lease {
            super::check_lease_for(&self.url, flow.uuid, lease)?;
        }
        let meta = sql::meta_json(&self.url, ObjectKind::FlowDetail, flow.uuid, &flow.meta)?;
        self.write("save a flow detail", |tx| {
            self.upsert_flow(tx, flow, &meta, lease)
        })
    }

    fn load_flow(&self, uuid: Uuid) -> Result<(FlowDetail, Vec<AtomDetail>), PersistenceError> {
        let conn = self.conn();
        let op = "load a flow detail";
        let mut buf = [0; 36];
        let id = uuid_text(uuid, &mut buf);
        let mut stmt = conn
            .prepare_cached(concat!(
                "SELECT ",
                flow_columns!(),
                " FROM flowdetails WHERE uuid = ?1"
            ))
            .map_err(|e| self.db(op, e))?;
        let mut rows = stmt.query([id]).map_err(|e| self.db(op, e))?;
        let flow = match rows.next().map_err(|e| self.db(op, e))? {
            Some(row) => sql::decode_flow(&self.url, row)?,
            None => return Err(self.not_found(ObjectKind::FlowDetail, uuid)),
        };
        let mut atoms = Vec::new();
        let mut stmt = conn
            .prepare_cached(concat!(
                "SELECT ",
                atom_columns!(),
                " FROM atomdetails WHERE flow_uuid = ?1 ORDER BY position, name"
            ))
            .map_err(|e| self.db(op, e))?;
        let mut rows = stmt.query([id]).map_err(|e| self.db(op, e))?;
        while let Some(row) = rows.next().map_err(|e| self.db(op, e))? {
            atoms.push(sql::decode_atom(&self.url, row)?);
        }
        Ok((flow, atoms))
    }

    fn list_flows(&self, logbook: Uuid) -> Result<Vec<FlowDetail>, PersistenceError> {
        self.load_logbook(logbook)?;
        let conn = self.conn();
        let op = "list flow details";
        let mut buf = [0; 36];
        let mut stmt = conn
            .prepare_cached(concat!(
                "SELECT ",
                flow_columns!(),
                " FROM flowdetails WHERE logbook_uuid = ?1 ORDER BY created_at, uuid"
            ))
            .map_err(|e| self.db(op, e))?;
        let mut rows = stmt
            .query([uuid_text(logbook, &mut buf)])
            .map_err(|e| self.db(op, e))?;
        let mut flows = Vec::new();
        while let Some(row) = rows.next().map_err(|e| self.db(op, e))? {
            flows.push(sql::decode_flow(&self.url, row)?);
        }
        Ok(flows)
    }

    fn save_atoms(
        &self,
        atoms: &[AtomDetail],
        lease: Option<&Lease>,
    ) -> Result<(), PersistenceError> {
        if let Some(lease) = lease {
            check_lease_flow(&self.url, atoms, lease)?;
        }
        // Serialize outside the lock, once.
        let json = atoms
            .iter()
            .map(|a| AtomJson::new(&self.url, a))
            .collect::<Result<Vec<_>, _>>()?;
        let op = "save an atom detail";
        let upsert = |conn: &Connection| self.upsert_atoms(conn, atoms, &json, lease);
        // One atom: one statement, its own transaction. More: one transaction.
        let all_written = if atoms.len() == 1 {
            upsert(&self.conn())?
        } else {
            // Refused: roll back what was written.
            self.transaction(op, |tx| upsert(tx).map(|all| (all, all)))?
        };
        match lease {
            // Why it was refused: the flow is gone, or the lease changed hands.
            Some(lease) if !all_written => Err(self.refused(lease)),
            _ => Ok(()),
        }
    }

    fn save_records(
        &self,
        flow: Option<&FlowDetail>,
        atoms: &[AtomDetail],
        lease: Option<&Lease>,
    ) -> Result<(), PersistenceError> {
        let step = sql::StepJson::new(&self.url, flow, atoms, lease)?;
        let all_written = self.transaction("save a step's records", |tx| {
            if !self.upsert_atoms(tx, atoms, &step.atoms, lease)? {
                return Ok((false, false));
            }
            if let (Some(flow), Some(meta)) = (flow, &step.flow_meta) {
                self.upsert_flow(tx, flow, meta, lease)?;
            }
            Ok((true, true))
        })?;
        match lease {
            Some(lease) if !all_written => Err(self.refused(lease)),
            _ => Ok(()),
        }
    }

    sql_lease_methods!();

    fn current_lease(&self, flow: Uuid) -> Result<Option<Lease>, PersistenceError> {
        let conn = self.conn();
        Ok(self.lease_row(&conn, flow)?.to_lease(flow))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_older_schema_is_upgraded() {
        let dir =
            std::env::temp_dir().join(format!("taskwire-sqlite-upgrade-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("v1.db");
        {
            // A logbook written by a taskwire that knew version 1 only.
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(MIGRATIONS[0]).unwrap();
            conn.execute_batch(
                "CREATE TABLE taskwire_schema (version INTEGER PRIMARY KEY NOT NULL,
                     applied_at INTEGER NOT NULL);
                 INSERT INTO taskwire_schema VALUES (1, 0);
                 INSERT INTO logbooks VALUES ('5f0c6c9e-8a53-4f4b-9d57-3f7a3c6a1e01', 'old', '{}', 1, 2);",
            )
            .unwrap();
        }
        let backend = SqliteBackend::open_with(&path, Synchronous::Normal).unwrap();
        let book = backend
            .load_logbook(Uuid::parse_str("5f0c6c9e-8a53-4f4b-9d57-3f7a3c6a1e01").unwrap())
            .unwrap();
        assert_eq!((book.name.as_str(), book.updated_at), ("old", 2));
        let conn = backend.conn();
        let version: i64 = conn
            .query_row("SELECT MAX(version) FROM taskwire_schema", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, i64::from(SCHEMA_VERSION));
        let index: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE name = 'flowdetails_logbook'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(index, 1);
        drop(conn);
        drop(backend);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
