//! `mysql://user:password@host:port/db` (or `mariadb://`): a logbook in MySQL
//! or MariaDB (InnoDB), for teams and for resuming on another machine.
//!
//! Durability: a write returns after the server committed it (with InnoDB's
//! default `innodb_flush_log_at_trx_commit = 1`, it survives a server crash
//! and power loss). JSON values are kept in LONGTEXT columns (up to 4 GiB;
//! TaskFlow's MySQL backend truncated them); one value must fit in the
//! server's `max_allowed_packet` (16 MiB by default), else the write fails
//! with the server's error rather than being cut.
//!
//! Leases use the server's clock; fenced writes run in a transaction that
//! first locks the flow's row (`LOCK IN SHARE MODE`, `FOR UPDATE` for the
//! flow itself) and checks the lease. MySQL runs DDL outside transactions, so
//! migrations are idempotent statements, serialized by a named lock.
//!
//! A connection lost makes the call in progress fail with
//! [`PersistenceError::Backend`]; the next call reconnects.
//!
//! Every wait on the server is bounded (see [`open`](super::open) for the
//! URL's keys: `?timeout=5s`, `connect_timeout`, `query_timeout`,
//! `statement_timeout`, `keepalive`): the socket's read and write timeouts
//! are `query_timeout`, so that a server that stops answering (even one
//! whose kernel still ACKs, which keepalive does not notice) makes the call
//! fail with [`PersistenceError::TimedOut`]. That connection is dropped and
//! the next call reconnects. A write whose commit timed out may or may not
//! have been applied: read the logbook back, it is authoritative. The
//! server's bound is `max_statement_time` on MariaDB, `max_execution_time`
//! (which bounds `SELECT`s only) on MySQL.

use std::sync::{Mutex, MutexGuard};

use mysql::prelude::Queryable;
use mysql::{Conn, DriverError, Opts, OptsBuilder, Params, Value as MyValue};
use uuid::Uuid;

use super::bounds::{millis_u32, Bounds};

use super::sql::{
    self, atom_columns, book_columns, flow_columns, sql_lease_methods, summary_columns, uuid_text,
    AtomJson, LeaseChange, LeaseResult, SqlLeases, SCHEMA_VERSION,
};
use super::{
    check_lease_flow, now_ms, redact_url, AtomDetail, Backend, FlowDetail, Lease, LeaseRow,
    LogBook, LogBookSummary, ObjectKind, PersistenceError,
};

const TABLE_OPTIONS: &str = "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin";

/// The migrations, in order: version `i + 1` is `MIGRATIONS[i]`, each a list
/// of idempotent statements (`TABLE_OPTIONS` is appended to `CREATE TABLE`s).
const MIGRATIONS: [&[&str]; SCHEMA_VERSION as usize] = [
    &[
        "CREATE TABLE IF NOT EXISTS logbooks (
            uuid VARCHAR(36) CHARACTER SET ascii NOT NULL PRIMARY KEY,
            name TEXT NOT NULL,
            meta LONGTEXT NOT NULL,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL
        )",
        "CREATE TABLE IF NOT EXISTS flowdetails (
            uuid VARCHAR(36) CHARACTER SET ascii NOT NULL PRIMARY KEY,
            logbook_uuid VARCHAR(36) CHARACTER SET ascii NOT NULL,
            name TEXT NOT NULL,
            state VARCHAR(32) NOT NULL,
            meta LONGTEXT NOT NULL,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL,
            lease_owner TEXT NULL,
            lease_token BIGINT NOT NULL DEFAULT 0,
            lease_expires_at BIGINT NOT NULL DEFAULT 0,
            CONSTRAINT flowdetails_logbook_fk FOREIGN KEY (logbook_uuid)
                REFERENCES logbooks (uuid) ON DELETE CASCADE
        )",
        "CREATE TABLE IF NOT EXISTS atomdetails (
            uuid VARCHAR(36) CHARACTER SET ascii NOT NULL,
            flow_uuid VARCHAR(36) CHARACTER SET ascii NOT NULL,
            name TEXT NOT NULL,
            atom_type VARCHAR(16) NOT NULL,
            position BIGINT NOT NULL,
            state VARCHAR(32) NOT NULL,
            intention VARCHAR(16) NOT NULL,
            result LONGTEXT NULL,
            failure LONGTEXT NULL,
            revert_failure LONGTEXT NULL,
            version VARCHAR(64) NOT NULL,
            meta LONGTEXT NOT NULL,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL,
            PRIMARY KEY (flow_uuid, uuid),
            CONSTRAINT atomdetails_flow_fk FOREIGN KEY (flow_uuid)
                REFERENCES flowdetails (uuid) ON DELETE CASCADE
        )",
    ],
    &["CREATE INDEX IF NOT EXISTS flowdetails_logbook ON flowdetails (logbook_uuid)"],
    // Operators' listings, newest first (`Backend::query_flows`).
    &[
        "CREATE INDEX IF NOT EXISTS flowdetails_created ON flowdetails (created_at, uuid)",
        "CREATE INDEX IF NOT EXISTS flowdetails_updated ON flowdetails (updated_at, uuid)",
    ],
];

const UPSERT_BOOK: &str = "INSERT INTO logbooks (uuid, name, meta, created_at, updated_at)
    VALUES (?, ?, ?, ?, ?)
    ON DUPLICATE KEY UPDATE name = VALUES(name), meta = VALUES(meta),
        created_at = VALUES(created_at), updated_at = VALUES(updated_at)";

const UPSERT_FLOW: &str = "INSERT INTO flowdetails
        (uuid, logbook_uuid, name, state, meta, created_at, updated_at)
    VALUES (?, ?, ?, ?, ?, ?, ?)
    ON DUPLICATE KEY UPDATE logbook_uuid = VALUES(logbook_uuid), name = VALUES(name),
        state = VALUES(state), meta = VALUES(meta), created_at = VALUES(created_at),
        updated_at = VALUES(updated_at)";

const UPSERT_ATOM: &str = "INSERT INTO atomdetails (uuid, flow_uuid, name, atom_type,
        position, state, intention, result, failure, revert_failure, version, meta,
        created_at, updated_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON DUPLICATE KEY UPDATE name = VALUES(name), atom_type = VALUES(atom_type), position = VALUES(position),
        state = VALUES(state), intention = VALUES(intention), result = VALUES(result),
        failure = VALUES(failure), revert_failure = VALUES(revert_failure),
        version = VALUES(version), meta = VALUES(meta), created_at = VALUES(created_at),
        updated_at = VALUES(updated_at)";

/// The lease of a flow, with the server's time (unix ms).
macro_rules! select_lease {
    ($lock:literal) => {
        concat!(
            "SELECT uuid, lease_owner, lease_token, lease_expires_at, ",
            "CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED) FROM flowdetails WHERE uuid = ?",
            $lock
        )
    };
}
const SELECT_LEASE: &str = select_lease!("");
const SHARE_LEASE: &str = select_lease!(" LOCK IN SHARE MODE");
const LOCK_LEASE: &str = select_lease!(" FOR UPDATE");

const SET_LEASE: &str = "UPDATE flowdetails SET lease_owner = ?, lease_token = ?,
    lease_expires_at = ? WHERE uuid = ?";

/// MySQL's "table doesn't exist" and "foreign key constraint fails" codes.
const ER_NO_SUCH_TABLE: u16 = 1146;
const ER_NO_REFERENCED_ROW: u16 = 1452;
/// "Unknown system variable" (MySQL has no `max_statement_time`).
const ER_UNKNOWN_SYSTEM_VARIABLE: u16 = 1193;
/// A statement stopped by `max_statement_time` (MariaDB) or
/// `max_execution_time` (MySQL).
const ER_STATEMENT_TIMEOUT: u16 = 1969;
const ER_QUERY_TIMEOUT: u16 = 3024;

impl sql::Row for mysql::Row {
    fn text(&self, index: usize) -> Result<Option<&str>, String> {
        match self.as_ref(index) {
            None => Err("no such column in the result".into()),
            Some(MyValue::NULL) => Ok(None),
            Some(MyValue::Bytes(bytes)) => std::str::from_utf8(bytes)
                .map(Some)
                .map_err(|e| format!("not UTF-8: {e}")),
            Some(other) => Err(format!("{other:?} where text is expected")),
        }
    }

    fn int(&self, index: usize) -> Result<Option<i64>, String> {
        match self.as_ref(index) {
            None => Err("no such column in the result".into()),
            Some(MyValue::NULL) => Ok(None),
            Some(MyValue::Int(i)) => Ok(Some(*i)),
            Some(MyValue::UInt(u)) => i64::try_from(*u)
                .map(Some)
                .map_err(|_| format!("{u} is out of range")),
            Some(MyValue::Bytes(bytes)) => std::str::from_utf8(bytes)
                .ok()
                .and_then(|t| t.parse().ok())
                .map(Some)
                .ok_or_else(|| "not an integer".to_owned()),
            Some(other) => Err(format!("{other:?} where an integer is expected")),
        }
    }
}

/// A logbook in MySQL or MariaDB (`mysql://…`).
pub struct MysqlBackend {
    url: String,
    opts: Opts,
    bounds: Bounds,
    conn: Mutex<Option<Conn>>,
}

impl std::fmt::Debug for MysqlBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MysqlBackend")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

fn id(uuid: Uuid) -> MyValue {
    let mut buf = [0; 36];
    MyValue::Bytes(uuid_text(uuid, &mut buf).as_bytes().to_vec())
}

impl MysqlBackend {
    /// Connects to `mysql://user[:password]@host[:port]/database` (or
    /// `mariadb://…`), without TLS, and creates or upgrades the schema. The
    /// URL's query string may set the bounds on waits that
    /// [`open`](super::open) describes.
    pub fn open(url: &str) -> Result<MysqlBackend, PersistenceError> {
        let shown = redact_url(url);
        let (url, bounds, native) =
            Bounds::split(url).map_err(|reason| PersistenceError::InvalidUrl {
                url: shown.clone(),
                reason,
            })?;
        let normalized = match url.strip_prefix("mariadb://") {
            Some(rest) => format!("mysql://{rest}"),
            None => url,
        };
        let opts = Opts::from_url(&normalized).map_err(|e| PersistenceError::InvalidUrl {
            url: shown.clone(),
            reason: e.to_string(),
        })?;
        if opts.get_db_name().is_none_or(str::is_empty) {
            return Err(PersistenceError::InvalidUrl {
                url: shown,
                reason: "no database: write mysql://user@host/database".into(),
            });
        }
        let has = |key: &str| native.iter().any(|k| k == key);
        let keepalive = bounds.keepalive;
        let mut builder = OptsBuilder::from_opts(opts)
            .tcp_connect_timeout(Some(bounds.connect))
            // Every read and write of the socket (so every round trip, and
            // the login's after the TCP connect) waits at most this long.
            .read_timeout(Some(bounds.query))
            .write_timeout(Some(bounds.query))
            .stmt_cache_size(64);
        if !has("tcp_keepalive_time_ms") {
            builder = builder.tcp_keepalive_time_ms(Some(millis_u32(keepalive)));
        }
        if !has("tcp_keepalive_probe_interval_secs") {
            let secs = u32::try_from(keepalive.as_secs().max(1)).unwrap_or(u32::MAX);
            builder = builder.tcp_keepalive_probe_interval_secs(Some(secs));
        }
        if !has("tcp_keepalive_probe_count") {
            builder = builder.tcp_keepalive_probe_count(Some(3));
        }
        if !has("tcp_user_timeout_ms") {
            builder = builder.tcp_user_timeout_ms(Some(millis_u32(bounds.query)));
        }
        let backend = MysqlBackend {
            url: shown,
            opts: builder.into(),
            bounds,
            conn: Mutex::new(None),
        };
        backend.with("migrate the schema", |c| backend.migrate(c))?;
        Ok(backend)
    }

    /// Runs `f` on the connection, connecting first if there is none; a
    /// connection that broke is dropped, so that the next call reconnects.
    fn with<T>(
        &self,
        operation: &str,
        f: impl FnOnce(&mut Conn) -> Result<T, PersistenceError>,
    ) -> Result<T, PersistenceError> {
        let mut guard: MutexGuard<'_, Option<Conn>> =
            self.conn.lock().unwrap_or_else(|e| e.into_inner());
        let conn = match &mut *guard {
            Some(conn) => conn,
            None => {
                let op = format!("connect (to {operation})");
                let mut conn = Conn::new(self.opts.clone()).map_err(|e| self.db(&op, e))?;
                self.limit_statements(&mut conn)
                    .map_err(|e| self.db(&op, e))?;
                guard.insert(conn)
            }
        };
        let result = f(conn);
        if result.as_ref().is_err_and(broken) {
            *guard = None;
        }
        result
    }

    /// Sets the server's bound on each statement of the session:
    /// `max_statement_time` (MariaDB, seconds) or `max_execution_time`
    /// (MySQL, milliseconds, `SELECT`s only).
    fn limit_statements(&self, conn: &mut Conn) -> Result<(), mysql::Error> {
        let ms = millis_u32(self.bounds.statement);
        let mariadb = format!(
            "SET SESSION max_statement_time = {}.{:03}",
            ms / 1000,
            ms % 1000
        );
        match conn.query_drop(mariadb) {
            Err(mysql::Error::MySqlError(e)) if e.code == ER_UNKNOWN_SYSTEM_VARIABLE => {
                conn.query_drop(format!("SET SESSION max_execution_time = {ms}"))
            }
            other => other,
        }
    }

    /// The parameters of `UPSERT_ATOM` for each atom, serialized once.
    fn atom_rows(&self, atoms: &[AtomDetail], json: Vec<AtomJson>) -> Vec<Params> {
        let mut rows = Vec::with_capacity(atoms.len());
        for (atom, json) in atoms.iter().zip(json) {
            rows.push(Params::Positional(vec![
                id(atom.uuid),
                id(atom.flow_uuid),
                atom.name.as_str().into(),
                atom.atom_type.as_str().into(),
                i64::from(atom.position).into(),
                atom.state.as_str().into(),
                sql::intention_text(atom).into(),
                json.result.into(),
                json.failure.into(),
                json.revert_failure.into(),
                atom.version.as_str().into(),
                json.meta.into(),
                atom.created_at.into(),
                atom.updated_at.into(),
            ]));
        }
        rows
    }

    /// Upserts `atoms` (their `UPSERT_ATOM` parameters in `rows`) in one
    /// statement that writes nothing unless `lease` is current: the rows
    /// written (0 when fenced).
    fn upsert_atoms_fenced(
        &self,
        c: &mut Conn,
        op: &str,
        atoms: &[AtomDetail],
        rows: Vec<Params>,
        lease: &Lease,
    ) -> Result<u64, PersistenceError> {
        // The first row names the derived table's columns.
        let first = "SELECT ? AS c1, ? AS c2, ? AS c3, ? AS c4, ? AS c5, ? AS c6, ? AS c7, \
            ? AS c8, ? AS c9, ? AS c10, ? AS c11, ? AS c12, ? AS c13, ? AS c14";
        let next = " UNION ALL SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?";
        let values = format!("{first}{}", next.repeat(atoms.len() - 1));
        let statement = format!(
            "INSERT INTO atomdetails (uuid, flow_uuid, name, atom_type, position, state,
                intention, result, failure, revert_failure, version, meta, created_at,
                updated_at)
            SELECT * FROM ({values}) AS v
            WHERE EXISTS (SELECT 1 FROM flowdetails
                WHERE uuid = ? AND lease_owner = ? AND lease_token = ? LOCK IN SHARE MODE)
            ON DUPLICATE KEY UPDATE name = VALUES(name), atom_type = VALUES(atom_type),
                position = VALUES(position), state = VALUES(state),
                intention = VALUES(intention), result = VALUES(result),
                failure = VALUES(failure), revert_failure = VALUES(revert_failure),
                version = VALUES(version), meta = VALUES(meta),
                created_at = VALUES(created_at), updated_at = VALUES(updated_at)"
        );
        let mut params = Vec::with_capacity(atoms.len() * 14 + 3);
        for row in rows {
            if let Params::Positional(values) = row {
                params.extend(values);
            }
        }
        params.push(id(lease.flow_uuid));
        params.push(lease.owner.as_str().into());
        params.push(sql::token_i64(lease.token).into());
        c.exec_drop(statement, Params::Positional(params))
            .map_err(|e| self.child(op, ObjectKind::FlowDetail, atoms[0].flow_uuid, e))?;
        Ok(c.affected_rows())
    }

    /// Runs `f` in a transaction. Unlike the driver's `Transaction`, whose
    /// drop waits for a `ROLLBACK`'s answer, a connection that broke or timed
    /// out is left as it is (the caller drops it; the server rolls back).
    fn in_tx<T>(
        &self,
        c: &mut Conn,
        operation: &str,
        f: impl FnOnce(&mut Conn) -> Result<T, PersistenceError>,
    ) -> Result<T, PersistenceError> {
        c.query_drop("START TRANSACTION")
            .map_err(|e| self.db(operation, e))?;
        match f(c) {
            Ok(value) => {
                c.query_drop("COMMIT").map_err(|e| self.db(operation, e))?;
                Ok(value)
            }
            Err(e) => {
                if !broken(&e) {
                    let _ = c.query_drop("ROLLBACK");
                }
                Err(e)
            }
        }
    }

    fn db(&self, operation: &str, e: mysql::Error) -> PersistenceError {
        let timed_out = |bound, after| PersistenceError::TimedOut {
            backend: self.url.clone(),
            operation: operation.to_owned(),
            bound,
            after,
        };
        let io = match &e {
            mysql::Error::IoError(io) => Some(io.kind()),
            // The packet codec's I/O error (its type is not exported).
            mysql::Error::CodecError(codec) => std::error::Error::source(codec)
                .and_then(|s| s.downcast_ref::<std::io::Error>())
                .map(std::io::Error::kind),
            _ => None,
        };
        // A socket read or write that ran out of `query_timeout`.
        if matches!(
            io,
            Some(std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)
        ) {
            return timed_out("query_timeout", self.bounds.query);
        }
        match &e {
            mysql::Error::DriverError(DriverError::ConnectTimeout) => {
                return timed_out("connect_timeout", self.bounds.connect);
            }
            mysql::Error::MySqlError(server)
                if matches!(server.code, ER_STATEMENT_TIMEOUT | ER_QUERY_TIMEOUT) =>
            {
                return timed_out("statement_timeout", self.bounds.statement);
            }
            _ => {}
        }
        if let mysql::Error::MySqlError(server) = &e {
            if server.code == ER_NO_SUCH_TABLE {
                if let Some(table) = sql::our_table(&server.message) {
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

    /// Maps an error of a child's write: a missing parent, or a failure.
    fn child(
        &self,
        operation: &str,
        kind: ObjectKind,
        parent: Uuid,
        e: mysql::Error,
    ) -> PersistenceError {
        match &e {
            mysql::Error::MySqlError(s) if s.code == ER_NO_REFERENCED_ROW => {
                self.not_found(kind, parent)
            }
            _ => self.db(operation, e),
        }
    }

    fn migrate(&self, conn: &mut Conn) -> Result<(), PersistenceError> {
        let op = "migrate the schema";
        let lock = format!("taskwire_schema.{}", self.opts.get_db_name().unwrap_or(""));
        // Waits less than a round trip may take.
        let wait = self.bounds.query.as_secs().saturating_sub(1).min(60);
        let locked: Option<mysql::Row> = conn
            .exec_first("SELECT GET_LOCK(?, ?)", (&lock, wait))
            .map_err(|e| self.db(op, e))?;
        if locked.as_ref().map(|r| sql::Row::int(r, 0)) != Some(Ok(Some(1))) {
            return Err(PersistenceError::Backend {
                backend: self.url.clone(),
                operation: op.to_owned(),
                source: format!("another process held the migration lock for {wait} s").into(),
            });
        }
        let result = self.migrate_locked(conn);
        let _ = conn.exec_drop("SELECT RELEASE_LOCK(?)", (&lock,));
        result
    }

    fn migrate_locked(&self, conn: &mut Conn) -> Result<(), PersistenceError> {
        let op = "migrate the schema";
        conn.query_drop(format!(
            "CREATE TABLE IF NOT EXISTS taskwire_schema (
                version INT NOT NULL PRIMARY KEY,
                applied_at BIGINT NOT NULL
            ) {TABLE_OPTIONS}"
        ))
        .map_err(|e| self.db(op, e))?;
        let row: Option<mysql::Row> = conn
            .exec_first("SELECT COALESCE(MAX(version), 0) FROM taskwire_schema", ())
            .map_err(|e| self.db(op, e))?;
        let found = row
            .and_then(|r| sql::Row::int(&r, 0).ok().flatten())
            .and_then(|v| u32::try_from(v).ok())
            .unwrap_or(0);
        if found > SCHEMA_VERSION {
            return Err(PersistenceError::SchemaTooNew {
                backend: self.url.clone(),
                found,
                known: SCHEMA_VERSION,
            });
        }
        for (version, statements) in (1u32..).zip(MIGRATIONS).skip(found as usize) {
            for statement in statements {
                let statement = if statement.starts_with("CREATE TABLE") {
                    format!("{statement} {TABLE_OPTIONS}")
                } else {
                    (*statement).to_owned()
                };
                conn.query_drop(statement)
                    .map_err(|e| self.db(&format!("apply migration {version}"), e))?;
            }
            conn.exec_drop(
                "INSERT INTO taskwire_schema (version, applied_at) VALUES (?, ?)",
                (version, now_ms()),
            )
            .map_err(|e| self.db(op, e))?;
        }
        for table in sql::TABLES {
            let row: Option<mysql::Row> = conn
                .exec_first(
                    "SELECT COUNT(*) FROM information_schema.tables
                     WHERE table_schema = DATABASE() AND table_name = ?",
                    (table,),
                )
                .map_err(|e| self.db(op, e))?;
            if row.and_then(|r| sql::Row::int(&r, 0).ok().flatten()) != Some(1) {
                return Err(PersistenceError::MissingTable {
                    backend: self.url.clone(),
                    table: table.to_owned(),
                    version: SCHEMA_VERSION,
                });
            }
        }
        Ok(())
    }

    fn rows<T>(
        &self,
        operation: &str,
        sql: &'static str,
        params: Params,
        decode: impl Fn(&str, &mysql::Row) -> Result<T, PersistenceError>,
    ) -> Result<Vec<T>, PersistenceError> {
        self.with(operation, |c| {
            let rows: Vec<mysql::Row> = c.exec(sql, params).map_err(|e| self.db(operation, e))?;
            rows.iter().map(|row| decode(&self.url, row)).collect()
        })
    }

    /// The lease row of a flow, read with `sql` (one of the lease queries),
    /// with the server's time.
    fn lease_row(
        &self,
        q: &mut impl Queryable,
        operation: &str,
        flow: Uuid,
        sql: &'static str,
    ) -> Result<(LeaseRow, i64), PersistenceError> {
        let row: Option<mysql::Row> = q
            .exec_first(sql, (id(flow),))
            .map_err(|e| self.db(operation, e))?;
        let Some(row) = row else {
            return Err(self.not_found(ObjectKind::FlowDetail, flow));
        };
        let lease = sql::decode_lease(&self.url, &row)?;
        let now = sql::Row::int(&row, 4).ok().flatten().unwrap_or_else(now_ms);
        Ok((lease, now))
    }
}

/// Whether an error leaves the connection in an unknown state (lost, or
/// timed out): it is dropped, and the next call reconnects.
fn broken(e: &PersistenceError) -> bool {
    match e {
        PersistenceError::TimedOut { .. } => true,
        PersistenceError::Backend { source, .. } => source
            .downcast_ref::<mysql::Error>()
            .is_some_and(|e| !matches!(e, mysql::Error::MySqlError(_))),
        _ => false,
    }
}

impl SqlLeases for MysqlBackend {
    /// Changes a lease inside a transaction that holds the flow's row.
    fn lease_update(&self, op: &str, flow: Uuid, edit: impl LeaseChange) -> LeaseResult<LeaseRow> {
        self.with(op, |c| {
            self.in_tx(c, op, |tx| {
                let (current, now) = self.lease_row(tx, op, flow, LOCK_LEASE)?;
                let new = edit(&current, now)?;
                tx.exec_drop(
                    SET_LEASE,
                    (
                        new.owner.clone(),
                        sql::token_i64(new.token),
                        new.expires_at,
                        id(flow),
                    ),
                )
                .map_err(|e| self.db(op, e))?;
                Ok(new)
            })
        })
    }
}

impl MysqlBackend {
    /// `Backend::query_flows`: one indexed statement.
    fn query_flows_sql(&self, q: &super::FlowQuery) -> Result<super::FlowPage, PersistenceError> {
        use super::query::{self, Param};
        q.check(&self.url)?;
        let (sql, params) = query::statement(q, query::Dialect::Mysql);
        let values: Vec<MyValue> = params
            .into_iter()
            .map(|p| match p {
                Param::Text(t) => MyValue::from(t),
                Param::Int(i) => MyValue::from(i),
            })
            .collect();
        let op = "list flow details";
        let found = self.with(op, |c| {
            let rows: Vec<mysql::Row> = c
                .exec(sql.as_str(), Params::Positional(values))
                .map_err(|e| self.db(op, e))?;
            rows.iter()
                .map(|row| query::decode_row(&self.url, row))
                .collect::<Result<Vec<_>, _>>()
        })?;
        Ok(super::FlowPage::cut(found, q))
    }
}

impl Backend for MysqlBackend {
    fn url(&self) -> &str {
        &self.url
    }

    fn query_flows(&self, q: &super::FlowQuery) -> Result<super::FlowPage, PersistenceError> {
        self.query_flows_sql(q)
    }

    fn save_logbook(&self, book: &LogBook) -> Result<(), PersistenceError> {
        let op = "save a logbook";
        let meta = sql::meta_json(&self.url, ObjectKind::LogBook, book.uuid, &book.meta)?;
        self.with(op, |c| {
            c.exec_drop(
                UPSERT_BOOK,
                (
                    id(book.uuid),
                    book.name.as_str(),
                    meta,
                    book.created_at,
                    book.updated_at,
                ),
            )
            .map_err(|e| self.db(op, e))
        })
    }

    fn load_logbook(&self, uuid: Uuid) -> Result<LogBook, PersistenceError> {
        self.rows(
            "load a logbook",
            concat!("SELECT ", book_columns!(), " FROM logbooks WHERE uuid = ?"),
            Params::Positional(vec![id(uuid)]),
            sql::decode_book,
        )?
        .pop()
        .ok_or_else(|| self.not_found(ObjectKind::LogBook, uuid))
    }

    fn list_logbooks(&self) -> Result<Vec<LogBookSummary>, PersistenceError> {
        let op = "list logbooks";
        let books = self.rows(
            op,
            concat!(
                "SELECT ",
                book_columns!(),
                " FROM logbooks ORDER BY created_at, uuid"
            ),
            Params::Empty,
            sql::decode_book,
        )?;
        let flows = self.rows(
            op,
            concat!(
                "SELECT ",
                summary_columns!(),
                " FROM flowdetails ORDER BY created_at, uuid"
            ),
            Params::Empty,
            sql::decode_summary,
        )?;
        Ok(sql::group(books, flows))
    }

    fn delete_logbook(&self, uuid: Uuid) -> Result<(), PersistenceError> {
        let op = "delete a logbook";
        let deleted = self.with(op, |c| {
            c.exec_drop("DELETE FROM logbooks WHERE uuid = ?", (id(uuid),))
                .map_err(|e| self.db(op, e))?;
            Ok(c.affected_rows())
        })?;
        if deleted == 0 {
            return Err(self.not_found(ObjectKind::LogBook, uuid));
        }
        Ok(())
    }

    fn save_flow(&self, flow: &FlowDetail, lease: Option<&Lease>) -> Result<(), PersistenceError> {
        let op = "save a flow detail";
        if let Some(lease) = lease {
            super::check_lease_for(&self.url, flow.uuid, lease)?;
        }
        let meta = sql::meta_json(&self.url, ObjectKind::FlowDetail, flow.uuid, &flow.meta)?;
        let params = (
            id(flow.uuid),
            id(flow.logbook_uuid),
            flow.name.as_str(),
            flow.state.as_str(),
            meta,
            flow.created_at,
            flow.updated_at,
        );
        let map = |e| self.child(op, ObjectKind::LogBook, flow.logbook_uuid, e);
        self.with(op, |c| match lease {
            None => c.exec_drop(UPSERT_FLOW, params).map_err(map),
            Some(lease) => self.in_tx(c, op, |tx| {
                let (current, _) = self.lease_row(tx, op, flow.uuid, LOCK_LEASE)?;
                current.check(&self.url, lease)?;
                tx.exec_drop(UPSERT_FLOW, params).map_err(map)
            }),
        })
    }

    fn load_flow(&self, uuid: Uuid) -> Result<(FlowDetail, Vec<AtomDetail>), PersistenceError> {
        let op = "load a flow detail";
        let flow = self
            .rows(
                op,
                concat!(
                    "SELECT ",
                    flow_columns!(),
                    " FROM flowdetails WHERE uuid = ?"
                ),
                Params::Positional(vec![id(uuid)]),
                sql::decode_flow,
            )?
            .pop()
            .ok_or_else(|| self.not_found(ObjectKind::FlowDetail, uuid))?;
        let atoms = self.rows(
            op,
            concat!(
                "SELECT ",
                atom_columns!(),
                " FROM atomdetails WHERE flow_uuid = ? ORDER BY position, name"
            ),
            Params::Positional(vec![id(uuid)]),
            sql::decode_atom,
        )?;
        Ok((flow, atoms))
    }

    fn list_flows(&self, logbook: Uuid) -> Result<Vec<FlowDetail>, PersistenceError> {
        self.load_logbook(logbook)?;
        self.rows(
            "list flow details",
            concat!(
                "SELECT ",
                flow_columns!(),
                " FROM flowdetails WHERE logbook_uuid = ? ORDER BY created_at, uuid"
            ),
            Params::Positional(vec![id(logbook)]),
            sql::decode_flow,
        )
    }

    fn save_atoms(
        &self,
        atoms: &[AtomDetail],
        lease: Option<&Lease>,
    ) -> Result<(), PersistenceError> {
        let op = "save an atom detail";
        if let Some(lease) = lease {
            check_lease_flow(&self.url, atoms, lease)?;
        }
        let json = atoms
            .iter()
            .map(|a| AtomJson::new(&self.url, a))
            .collect::<Result<Vec<_>, _>>()?;
        let mut rows = self.atom_rows(atoms, json);
        self.with(op, |c| {
            if lease.is_none() && rows.len() == 1 {
                let atom = &atoms[0];
                let params = rows.pop().unwrap_or(Params::Empty);
                return c
                    .exec_drop(UPSERT_ATOM, params)
                    .map_err(|e| self.child(op, ObjectKind::FlowDetail, atom.flow_uuid, e));
            }
            self.in_tx(c, op, |tx| {
                if let Some(lease) = lease {
                    let (current, _) = self.lease_row(tx, op, lease.flow_uuid, SHARE_LEASE)?;
                    current.check(&self.url, lease)?;
                }
                for (atom, params) in atoms.iter().zip(rows) {
                    tx.exec_drop(UPSERT_ATOM, params)
                        .map_err(|e| self.child(op, ObjectKind::FlowDetail, atom.flow_uuid, e))?;
                }
                Ok(())
            })
        })
    }

    fn save_records(
        &self,
        flow: Option<&FlowDetail>,
        atoms: &[AtomDetail],
        lease: Option<&Lease>,
    ) -> Result<(), PersistenceError> {
        let op = "save a step's records";
        let step = sql::StepJson::new(&self.url, flow, atoms, lease)?;
        let rows = self.atom_rows(atoms, step.atoms);
        let flow_params = match (flow, step.flow_meta) {
            (Some(flow), Some(meta)) => Some((
                id(flow.uuid),
                id(flow.logbook_uuid),
                flow.name.as_str(),
                flow.state.as_str(),
                meta,
                flow.created_at,
                flow.updated_at,
            )),
            _ => None,
        };
        self.with(op, |c| {
            if let (None, Some(lease), false) = (flow, lease, atoms.is_empty()) {
                // Atoms only (a chain's step): one statement, fenced in its
                // own `WHERE`, committed on its own.
                if self.upsert_atoms_fenced(c, op, atoms, rows, lease)? == 0 {
                    // Fenced, or rows written again unchanged: the lease says.
                    let (current, _) = self.lease_row(c, op, lease.flow_uuid, SELECT_LEASE)?;
                    current.check(&self.url, lease)?;
                }
                return Ok(());
            }
            self.in_tx(c, op, |tx| {
                if let Some(lease) = lease {
                    let lock = if flow.is_some() {
                        LOCK_LEASE
                    } else {
                        SHARE_LEASE
                    };
                    let (current, _) = self.lease_row(tx, op, lease.flow_uuid, lock)?;
                    current.check(&self.url, lease)?;
                }
                for (atom, params) in atoms.iter().zip(rows) {
                    tx.exec_drop(UPSERT_ATOM, params)
                        .map_err(|e| self.child(op, ObjectKind::FlowDetail, atom.flow_uuid, e))?;
                }
                if let (Some(flow), Some(params)) = (flow, flow_params) {
                    tx.exec_drop(UPSERT_FLOW, params)
                        .map_err(|e| self.child(op, ObjectKind::LogBook, flow.logbook_uuid, e))?;
                }
                Ok(())
            })
        })
    }

    sql_lease_methods!();

    fn current_lease(&self, flow: Uuid) -> Result<Option<Lease>, PersistenceError> {
        let (row, _) = self.with("read a lease", |c| {
            self.lease_row(c, "read a lease", flow, SELECT_LEASE)
        })?;
        Ok(row.to_lease(flow))
    }
}
