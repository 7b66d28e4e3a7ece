//! `postgres://user@host:port/db`: a logbook in PostgreSQL, for teams and for
//! resuming on another machine.
//!
//! Durability: a write returns after PostgreSQL committed it (with the
//! server's default `synchronous_commit = on`, it survives a server crash and
//! power loss). JSON values are kept as TEXT (up to 1 GB; JSONB would reorder
//! keys and refuse `\u0000` in strings).
//!
//! Leases use the server's clock (`clock_timestamp()`), so that engines on
//! machines with skewed clocks agree on expiry. A fenced write is a single
//! statement that locks the flow's row (`FOR SHARE`) and writes only if the
//! lease is current, so that a takeover (which updates that row) is ordered
//! either before the write (which is then refused) or after its commit.
//!
//! A connection lost (server restarted, connection killed) makes the call in
//! progress fail with [`PersistenceError::Backend`]; the next call reconnects.
//!
//! Every wait on the server is bounded (see [`open`](super::open) for the
//! URL's keys: `?timeout=5s`, `connect_timeout`, `query_timeout`,
//! `statement_timeout`, `keepalive`). TCP keepalive and `tcp_user_timeout`
//! do not notice a server that is stopped while its kernel still ACKs
//! (SIGSTOP, a frozen VM), so each round trip is also bounded on the client:
//! the backend drives `tokio-postgres` on a runtime of its own and gives up
//! after `query_timeout`, with [`PersistenceError::TimedOut`]. That
//! connection is then dropped (its state is unknown) and the next call
//! reconnects. A write whose commit timed out may or may not have been
//! applied: read the logbook back, it is authoritative. `statement_timeout`
//! is sent at connection startup (`options=-c statement_timeout=…`).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Config, Statement};
use uuid::Uuid;

use super::bounds::Bounds;
use super::pg::{self, PgClient, PgError, Session};

use super::sql::{
    self, atom_columns, book_columns, flow_columns, sql_lease_methods, summary_columns, uuid_text,
    AtomJson, LeaseChange, LeaseResult, SqlLeases, SCHEMA_VERSION,
};
use super::{
    check_lease_flow, now_ms, redact_url, AtomDetail, Backend, FlowDetail, Lease, LeaseRow,
    LogBook, LogBookSummary, ObjectKind, PersistenceError,
};

/// The migrations, in order: version `i + 1` is `MIGRATIONS[i]`.
const MIGRATIONS: [&str; SCHEMA_VERSION as usize] = [
    "CREATE TABLE logbooks (
        uuid TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        meta TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL
    );
    CREATE TABLE flowdetails (
        uuid TEXT PRIMARY KEY,
        logbook_uuid TEXT NOT NULL REFERENCES logbooks (uuid) ON DELETE CASCADE,
        name TEXT NOT NULL,
        state TEXT NOT NULL,
        meta TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        lease_owner TEXT,
        lease_token BIGINT NOT NULL DEFAULT 0,
        lease_expires_at BIGINT NOT NULL DEFAULT 0
    );
    CREATE TABLE atomdetails (
        uuid TEXT NOT NULL,
        flow_uuid TEXT NOT NULL REFERENCES flowdetails (uuid) ON DELETE CASCADE,
        name TEXT NOT NULL,
        atom_type TEXT NOT NULL,
        position BIGINT NOT NULL,
        state TEXT NOT NULL,
        intention TEXT NOT NULL,
        result TEXT,
        failure TEXT,
        revert_failure TEXT,
        version TEXT NOT NULL,
        meta TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        PRIMARY KEY (flow_uuid, uuid)
    );",
    "CREATE INDEX flowdetails_logbook ON flowdetails (logbook_uuid);",
    // Operators' listings, newest first (`Backend::query_flows`).
    "CREATE INDEX flowdetails_created ON flowdetails (created_at, uuid);
    CREATE INDEX flowdetails_updated ON flowdetails (updated_at, uuid);",
];

/// Serializes concurrent migrations of one database.
const MIGRATION_LOCK: i64 = 0x7461_736b_7769_7265; // "taskwire"

const UPSERT_BOOK: &str = "INSERT INTO logbooks (uuid, name, meta, created_at, updated_at)
    VALUES ($1, $2, $3, $4, $5)
    ON CONFLICT (uuid) DO UPDATE SET name = EXCLUDED.name, meta = EXCLUDED.meta,
        created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at";

/// $8, $9: the lease's owner and token, or NULL for an unfenced write.
const UPSERT_FLOW: &str = "WITH lease AS (
        SELECT 1 FROM flowdetails
        WHERE uuid = $1 AND lease_owner = $8 AND lease_token = $9 FOR UPDATE)
    INSERT INTO flowdetails (uuid, logbook_uuid, name, state, meta, created_at, updated_at)
    SELECT $1::TEXT, $2::TEXT, $3::TEXT, $4::TEXT, $5::TEXT, $6::BIGINT, $7::BIGINT
    WHERE $8::TEXT IS NULL OR EXISTS (SELECT 1 FROM lease)
    ON CONFLICT (uuid) DO UPDATE SET logbook_uuid = EXCLUDED.logbook_uuid,
        name = EXCLUDED.name, state = EXCLUDED.state, meta = EXCLUDED.meta,
        created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at";

/// $15, $16: the lease's owner and token, or NULL for an unfenced write.
const UPSERT_ATOM: &str = "WITH lease AS (
        SELECT 1 FROM flowdetails
        WHERE uuid = $2 AND lease_owner = $15 AND lease_token = $16 FOR SHARE)
    INSERT INTO atomdetails (uuid, flow_uuid, name, atom_type, position, state, intention,
        result, failure, revert_failure, version, meta, created_at, updated_at)
    SELECT $1::TEXT, $2::TEXT, $3::TEXT, $4::TEXT, $5::BIGINT, $6::TEXT, $7::TEXT,
        $8::TEXT, $9::TEXT, $10::TEXT, $11::TEXT, $12::TEXT, $13::BIGINT, $14::BIGINT
    WHERE $15::TEXT IS NULL OR EXISTS (SELECT 1 FROM lease)
    ON CONFLICT (flow_uuid, uuid) DO UPDATE SET name = EXCLUDED.name, atom_type = EXCLUDED.atom_type,
        position = EXCLUDED.position, state = EXCLUDED.state,
        intention = EXCLUDED.intention, result = EXCLUDED.result,
        failure = EXCLUDED.failure, revert_failure = EXCLUDED.revert_failure,
        version = EXCLUDED.version, meta = EXCLUDED.meta,
        created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at";

/// A step's records in one statement (one round trip, atomic): the atoms
/// ($4..$17, arrays, one element per atom) and, when $18 is not NULL, the
/// flow detail ($1, $18..$23), written only if the lease ($2 owner, $3 token;
/// NULL: unfenced) is current on flow $1. Returns the rows written and
/// whether the lease held.
const SAVE_RECORDS: &str = "WITH lease AS (
        SELECT 1 FROM flowdetails
        WHERE uuid = $1 AND lease_owner = $2 AND lease_token = $3 FOR SHARE),
    ok AS (SELECT $2::TEXT IS NULL OR EXISTS (SELECT 1 FROM lease) AS held),
    atoms AS (
        INSERT INTO atomdetails (uuid, flow_uuid, name, atom_type, position, state, intention,
            result, failure, revert_failure, version, meta, created_at, updated_at)
        SELECT * FROM unnest($4::TEXT[], $5::TEXT[], $6::TEXT[], $7::TEXT[], $8::BIGINT[],
            $9::TEXT[], $10::TEXT[], $11::TEXT[], $12::TEXT[], $13::TEXT[], $14::TEXT[],
            $15::TEXT[], $16::BIGINT[], $17::BIGINT[])
        WHERE (SELECT held FROM ok)
        ON CONFLICT (flow_uuid, uuid) DO UPDATE SET name = EXCLUDED.name,
            atom_type = EXCLUDED.atom_type, position = EXCLUDED.position,
            state = EXCLUDED.state, intention = EXCLUDED.intention, result = EXCLUDED.result,
            failure = EXCLUDED.failure, revert_failure = EXCLUDED.revert_failure,
            version = EXCLUDED.version, meta = EXCLUDED.meta,
            created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at
        RETURNING 1),
    flow AS (
        INSERT INTO flowdetails (uuid, logbook_uuid, name, state, meta, created_at, updated_at)
        SELECT $1::TEXT, $18::TEXT, $19::TEXT, $20::TEXT, $21::TEXT, $22::BIGINT, $23::BIGINT
        WHERE $18::TEXT IS NOT NULL AND (SELECT held FROM ok)
        ON CONFLICT (uuid) DO UPDATE SET logbook_uuid = EXCLUDED.logbook_uuid,
            name = EXCLUDED.name, state = EXCLUDED.state, meta = EXCLUDED.meta,
            created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at
        RETURNING 1)
    SELECT (SELECT count(*) FROM atoms), (SELECT count(*) FROM flow), (SELECT held FROM ok)";

const SELECT_LEASE: &str = "SELECT uuid, lease_owner, lease_token, lease_expires_at,
        (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT
    FROM flowdetails WHERE uuid = $1";

const LOCK_LEASE: &str = "SELECT uuid, lease_owner, lease_token, lease_expires_at,
        (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT
    FROM flowdetails WHERE uuid = $1 FOR UPDATE";

const SET_LEASE: &str = "UPDATE flowdetails SET lease_owner = $2, lease_token = $3,
    lease_expires_at = $4 WHERE uuid = $1";

impl sql::Row for tokio_postgres::Row {
    fn text(&self, index: usize) -> Result<Option<&str>, String> {
        self.try_get::<_, Option<&str>>(index)
            .map_err(|e| e.to_string())
    }

    fn int(&self, index: usize) -> Result<Option<i64>, String> {
        self.try_get::<_, Option<i64>>(index)
            .map_err(|e| e.to_string())
    }
}

/// A logbook in PostgreSQL (`postgres://…`).
pub struct PostgresBackend {
    url: String,
    config: Config,
    bounds: Bounds,
    conn: Mutex<Option<Conn>>,
}

impl std::fmt::Debug for PostgresBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresBackend")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// A connection with its prepared statements.
struct Conn {
    client: PgClient,
    statements: HashMap<&'static str, Statement>,
}

impl Conn {
    /// The statement for `sql`, prepared once per connection.
    fn prepare(&mut self, sql: &'static str) -> Result<Statement, PgError> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.client.prepare(sql)?;
        self.statements.insert(sql, statement.clone());
        Ok(statement)
    }
}

impl PostgresBackend {
    /// Connects to `postgres://user[:password]@host[:port]/database` (or
    /// `postgresql://`, or a `key=value` connection string), without TLS, and
    /// creates or upgrades the schema. A URL's query string may set the
    /// bounds on waits that [`open`](super::open) describes (a `key=value`
    /// string gets the defaults).
    pub fn open(url: &str) -> Result<PostgresBackend, PersistenceError> {
        let shown = redact_url(url);
        let (config, bounds) = pg::parse(url).map_err(|reason| PersistenceError::InvalidUrl {
            url: shown.clone(),
            reason,
        })?;
        let backend = PostgresBackend {
            url: shown,
            config,
            bounds,
            conn: Mutex::new(None),
        };
        backend.with("migrate the schema", |c| backend.migrate(c))?;
        Ok(backend)
    }

    /// Runs `f` on the connection, connecting first if there is none; a
    /// connection that broke is dropped, so that the next call reconnects.
    fn with<T: Send>(
        &self,
        operation: &str,
        f: impl FnOnce(&mut Conn) -> Result<T, PersistenceError> + Send,
    ) -> Result<T, PersistenceError> {
        // The sync driver blocks on a runtime of its own, which tokio forbids
        // inside another runtime (an engine running async tasks or several
        // at once): call it from a thread of its own there.
        if tokio::runtime::Handle::try_current().is_ok() {
            return std::thread::scope(|s| {
                s.spawn(|| self.with_here(operation, f))
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            });
        }
        self.with_here(operation, f)
    }

    fn with_here<T>(
        &self,
        operation: &str,
        f: impl FnOnce(&mut Conn) -> Result<T, PersistenceError>,
    ) -> Result<T, PersistenceError> {
        let mut guard: MutexGuard<'_, Option<Conn>> =
            self.conn.lock().unwrap_or_else(|e| e.into_inner());
        if guard.as_ref().is_some_and(|c| c.client.is_closed()) {
            *guard = None;
        }
        let conn = match &mut *guard {
            Some(conn) => conn,
            None => {
                let client = PgClient::connect(&self.config, &self.bounds)
                    .map_err(|e| self.db(&format!("connect (to {operation})"), e))?;
                guard.insert(Conn {
                    client,
                    statements: HashMap::new(),
                })
            }
        };
        let result = f(conn);
        if result.is_err() && conn.client.is_closed() {
            *guard = None;
        }
        result
    }

    fn db(&self, operation: &str, e: PgError) -> PersistenceError {
        if let Some((bound, after)) = e.timed_out(&self.bounds) {
            return PersistenceError::TimedOut {
                backend: self.url.clone(),
                operation: operation.to_owned(),
                bound,
                after,
            };
        }
        if e.code() == Some(&SqlState::UNDEFINED_TABLE) {
            if let Some(table) = e.as_db_error().and_then(|d| sql::our_table(d.message())) {
                return PersistenceError::MissingTable {
                    backend: self.url.clone(),
                    table: table.to_owned(),
                    version: SCHEMA_VERSION,
                };
            }
        }
        PersistenceError::Backend {
            backend: self.url.clone(),
            operation: operation.to_owned(),
            source: e.into_source(),
        }
    }

    fn not_found(&self, kind: ObjectKind, uuid: Uuid) -> PersistenceError {
        PersistenceError::NotFound {
            backend: self.url.clone(),
            kind,
            uuid,
        }
    }

    fn migrate(&self, conn: &mut Conn) -> Result<(), PersistenceError> {
        let op = "migrate the schema";
        let mut tx = conn.client.transaction().map_err(|e| self.db(op, e))?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .map_err(|e| self.db(op, e))?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS taskwire_schema (
                version INTEGER PRIMARY KEY,
                applied_at BIGINT NOT NULL
            )",
        )
        .map_err(|e| self.db(op, e))?;
        let found: i32 = tx
            .query_one("SELECT COALESCE(MAX(version), 0) FROM taskwire_schema", &[])
            .and_then(|row| row.try_get(0).map_err(PgError::Driver))
            .map_err(|e| self.db(op, e))?;
        let found = u32::try_from(found).unwrap_or(0);
        if found > SCHEMA_VERSION {
            return Err(PersistenceError::SchemaTooNew {
                backend: self.url.clone(),
                found,
                known: SCHEMA_VERSION,
            });
        }
        for (version, migration) in (1i32..).zip(MIGRATIONS).skip(found as usize) {
            tx.batch_execute(migration)
                .map_err(|e| self.db(&format!("apply migration {version}"), e))?;
            tx.execute(
                "INSERT INTO taskwire_schema (version, applied_at) VALUES ($1, $2)",
                &[&version, &now_ms()],
            )
            .map_err(|e| self.db(op, e))?;
        }
        for table in sql::TABLES {
            let exists: bool = tx
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM information_schema.tables
                        WHERE table_schema = current_schema() AND table_name = $1)",
                    &[&table],
                )
                .and_then(|row| row.try_get(0).map_err(PgError::Driver))
                .map_err(|e| self.db(op, e))?;
            if !exists {
                return Err(PersistenceError::MissingTable {
                    backend: self.url.clone(),
                    table: table.to_owned(),
                    version: SCHEMA_VERSION,
                });
            }
        }
        tx.commit().map_err(|e| self.db(op, e))
    }

    /// Rows of `sql` with `params`, decoded.
    fn rows<T: Send>(
        &self,
        operation: &str,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
        decode: impl Fn(&str, &tokio_postgres::Row) -> Result<T, PersistenceError> + Sync,
    ) -> Result<Vec<T>, PersistenceError> {
        self.with(operation, |c| {
            let statement = c.prepare(sql).map_err(|e| self.db(operation, e))?;
            let rows = c
                .client
                .query(&statement, params)
                .map_err(|e| self.db(operation, e))?;
            rows.iter().map(|row| decode(&self.url, row)).collect()
        })
    }

    fn lease_row(
        row: &tokio_postgres::Row,
        backend: &str,
    ) -> Result<(LeaseRow, i64), PersistenceError> {
        let lease = sql::decode_lease(backend, row)?;
        let now = sql::Row::int(row, 4).ok().flatten().unwrap_or_else(now_ms);
        Ok((lease, now))
    }

    /// Why a fenced write changed no row: the flow is gone, or the lease is
    /// no longer current.
    fn refused(&self, conn: &mut Conn, lease: &Lease) -> PersistenceError {
        let mut buf = [0; 36];
        let id = uuid_text(lease.flow_uuid, &mut buf);
        let rows = conn
            .prepare(SELECT_LEASE)
            .and_then(|s| conn.client.query(&s, &[&id]));
        match rows {
            Ok(rows) => match rows.first() {
                None => self.not_found(ObjectKind::FlowDetail, lease.flow_uuid),
                Some(row) => match sql::decode_lease(&self.url, row) {
                    Ok(current) => current.fenced(&self.url, lease),
                    Err(e) => e,
                },
            },
            Err(e) => self.db("read a lease", e),
        }
    }

    /// Writes a flow detail with `UPSERT_FLOW`; `false` if a fenced write was
    /// refused.
    fn upsert_flow(
        &self,
        client: &mut impl Session,
        statement: &Statement,
        flow: &FlowDetail,
        meta: &str,
        owner: Option<&str>,
        token: Option<i64>,
    ) -> Result<bool, PersistenceError> {
        let (mut a, mut b) = ([0; 36], [0; 36]);
        let written = client
            .execute(
                statement,
                &[
                    &uuid_text(flow.uuid, &mut a),
                    &uuid_text(flow.logbook_uuid, &mut b),
                    &flow.name,
                    &flow.state.as_str(),
                    &meta,
                    &flow.created_at,
                    &flow.updated_at,
                    &owner,
                    &token,
                ],
            )
            .map_err(|e| {
                if e.code() == Some(&SqlState::FOREIGN_KEY_VIOLATION) {
                    self.not_found(ObjectKind::LogBook, flow.logbook_uuid)
                } else {
                    self.db("save a flow detail", e)
                }
            })?;
        Ok(written > 0)
    }

    /// Writes atoms with `UPSERT_ATOM`; `false` if a fenced write was refused
    /// (the caller does not commit then).
    fn upsert_atoms(
        &self,
        client: &mut impl Session,
        statement: &Statement,
        atoms: &[AtomDetail],
        json: &[AtomJson],
        owner: Option<&str>,
        token: Option<i64>,
    ) -> Result<bool, PersistenceError> {
        for (atom, json) in atoms.iter().zip(json) {
            let (mut a, mut b) = ([0; 36], [0; 36]);
            let params: [&(dyn ToSql + Sync); 16] = [
                &uuid_text(atom.uuid, &mut a),
                &uuid_text(atom.flow_uuid, &mut b),
                &atom.name,
                &atom.atom_type.as_str(),
                &i64::from(atom.position),
                &atom.state.as_str(),
                &sql::intention_text(atom),
                &json.result,
                &json.failure,
                &json.revert_failure,
                &atom.version,
                &json.meta,
                &atom.created_at,
                &atom.updated_at,
                &owner,
                &token,
            ];
            let written = client.execute(statement, &params).map_err(|e| {
                if e.code() == Some(&SqlState::FOREIGN_KEY_VIOLATION) {
                    self.not_found(ObjectKind::FlowDetail, atom.flow_uuid)
                } else {
                    self.db("save an atom detail", e)
                }
            })?;
            if written == 0 && owner.is_some() {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

impl SqlLeases for PostgresBackend {
    /// Changes a lease inside a transaction that holds the flow's row.
    fn lease_update(&self, op: &str, flow: Uuid, edit: impl LeaseChange) -> LeaseResult<LeaseRow> {
        self.with(op, |c| {
            let lock = c.prepare(LOCK_LEASE).map_err(|e| self.db(op, e))?;
            let set = c.prepare(SET_LEASE).map_err(|e| self.db(op, e))?;
            let mut tx = c.client.transaction().map_err(|e| self.db(op, e))?;
            let mut buf = [0; 36];
            let id = uuid_text(flow, &mut buf);
            let rows = tx.query(&lock, &[&id]).map_err(|e| self.db(op, e))?;
            let Some(row) = rows.first() else {
                return Err(self.not_found(ObjectKind::FlowDetail, flow));
            };
            let (current, now) = PostgresBackend::lease_row(row, &self.url)?;
            let new = edit(&current, now)?;
            tx.execute(
                &set,
                &[&id, &new.owner, &sql::token_i64(new.token), &new.expires_at],
            )
            .map_err(|e| self.db(op, e))?;
            tx.commit().map_err(|e| self.db(op, e))?;
            Ok(new)
        })
    }
}

impl PostgresBackend {
    /// `Backend::query_flows`: one indexed statement.
    fn query_flows_sql(&self, q: &super::FlowQuery) -> Result<super::FlowPage, PersistenceError> {
        use super::query::{self, Param};
        q.check(&self.url)?;
        let (sql, params) = query::statement(q, query::Dialect::Postgres);
        let values: Vec<Box<dyn ToSql + Sync + Send>> = params
            .into_iter()
            .map(|p| -> Box<dyn ToSql + Sync + Send> {
                match p {
                    Param::Text(t) => Box::new(t),
                    Param::Int(i) => Box::new(i),
                }
            })
            .collect();
        let op = "list flow details";
        let rows = self.with(op, |c| {
            let refs: Vec<&(dyn ToSql + Sync)> =
                values.iter().map(|v| &**v as &(dyn ToSql + Sync)).collect();
            c.client
                .query(sql.as_str(), &refs)
                .map_err(|e| self.db(op, e))
        })?;
        let found = rows
            .iter()
            .map(|row| query::decode_row(&self.url, row))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(super::FlowPage::cut(found, q))
    }
}

impl Backend for PostgresBackend {
    fn url(&self) -> &str {
        &self.url
    }

    fn query_flows(&self, q: &super::FlowQuery) -> Result<super::FlowPage, PersistenceError> {
        self.query_flows_sql(q)
    }

    fn save_logbook(&self, book: &LogBook) -> Result<(), PersistenceError> {
        let op = "save a logbook";
        let meta = sql::meta_json(&self.url, ObjectKind::LogBook, book.uuid, &book.meta)?;
        let mut buf = [0; 36];
        let id = uuid_text(book.uuid, &mut buf);
        self.with(op, |c| {
            let s = c.prepare(UPSERT_BOOK).map_err(|e| self.db(op, e))?;
            c.client
                .execute(
                    &s,
                    &[&id, &book.name, &meta, &book.created_at, &book.updated_at],
                )
                .map_err(|e| self.db(op, e))?;
            Ok(())
        })
    }

    fn load_logbook(&self, uuid: Uuid) -> Result<LogBook, PersistenceError> {
        let mut buf = [0; 36];
        let id = uuid_text(uuid, &mut buf);
        self.rows(
            "load a logbook",
            concat!("SELECT ", book_columns!(), " FROM logbooks WHERE uuid = $1"),
            &[&id],
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
            &[],
            sql::decode_book,
        )?;
        let flows = self.rows(
            op,
            concat!(
                "SELECT ",
                summary_columns!(),
                " FROM flowdetails ORDER BY created_at, uuid"
            ),
            &[],
            sql::decode_summary,
        )?;
        Ok(sql::group(books, flows))
    }

    fn delete_logbook(&self, uuid: Uuid) -> Result<(), PersistenceError> {
        let op = "delete a logbook";
        let mut buf = [0; 36];
        let id = uuid_text(uuid, &mut buf);
        let deleted = self.with(op, |c| {
            let s = c
                .prepare("DELETE FROM logbooks WHERE uuid = $1")
                .map_err(|e| self.db(op, e))?;
            c.client.execute(&s, &[&id]).map_err(|e| self.db(op, e))
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
        let owner = lease.map(|l| l.owner.as_str());
        let token = lease.map(|l| sql::token_i64(l.token));
        self.with(op, |c| {
            let s = c.prepare(UPSERT_FLOW).map_err(|e| self.db(op, e))?;
            let written = self.upsert_flow(&mut c.client, &s, flow, &meta, owner, token)?;
            match lease {
                Some(lease) if !written => Err(self.refused(c, lease)),
                _ => Ok(()),
            }
        })
    }

    fn load_flow(&self, uuid: Uuid) -> Result<(FlowDetail, Vec<AtomDetail>), PersistenceError> {
        let op = "load a flow detail";
        let mut buf = [0; 36];
        let id = uuid_text(uuid, &mut buf);
        let flow = self
            .rows(
                op,
                concat!(
                    "SELECT ",
                    flow_columns!(),
                    " FROM flowdetails WHERE uuid = $1"
                ),
                &[&id],
                sql::decode_flow,
            )?
            .pop()
            .ok_or_else(|| self.not_found(ObjectKind::FlowDetail, uuid))?;
        let atoms = self.rows(
            op,
            concat!(
                "SELECT ",
                atom_columns!(),
                " FROM atomdetails WHERE flow_uuid = $1 ORDER BY position, name"
            ),
            &[&id],
            sql::decode_atom,
        )?;
        Ok((flow, atoms))
    }

    fn list_flows(&self, logbook: Uuid) -> Result<Vec<FlowDetail>, PersistenceError> {
        self.load_logbook(logbook)?;
        let mut buf = [0; 36];
        let id = uuid_text(logbook, &mut buf);
        self.rows(
            "list flow details",
            concat!(
                "SELECT ",
                flow_columns!(),
                " FROM flowdetails WHERE logbook_uuid = $1 ORDER BY created_at, uuid"
            ),
            &[&id],
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
        let owner = lease.map(|l| l.owner.as_str());
        let token = lease.map(|l| sql::token_i64(l.token));
        self.with(op, |c| {
            let s = c.prepare(UPSERT_ATOM).map_err(|e| self.db(op, e))?;
            // One atom: a single statement (its own transaction); more: one
            // transaction around them all.
            let all_written = if atoms.len() == 1 {
                self.upsert_atoms(&mut c.client, &s, atoms, &json, owner, token)?
            } else {
                let mut tx = c.client.transaction().map_err(|e| self.db(op, e))?;
                let all = self.upsert_atoms(&mut tx, &s, atoms, &json, owner, token)?;
                if all {
                    tx.commit().map_err(|e| self.db(op, e))?;
                }
                all
            };
            match lease {
                Some(lease) if !all_written => Err(self.refused(c, lease)),
                _ => Ok(()),
            }
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
        let Some(flow_uuid) = flow
            .map(|f| f.uuid)
            .or_else(|| atoms.first().map(|a| a.flow_uuid))
        else {
            return Ok(());
        };
        if atoms.iter().any(|a| a.flow_uuid != flow_uuid) {
            // Records of several flows: the plain way, one transaction each.
            self.save_atoms(atoms, lease)?;
            return flow.map_or(Ok(()), |f| self.save_flow(f, lease));
        }
        let (meta, json) = (&step.flow_meta, &step.atoms);
        let text = |f: &dyn Fn(&AtomDetail) -> String| atoms.iter().map(f).collect::<Vec<_>>();
        let uuids = text(&|a| a.uuid.to_string());
        let flows = text(&|a| a.flow_uuid.to_string());
        let names = text(&|a| a.name.clone());
        let types: Vec<&str> = atoms.iter().map(|a| a.atom_type.as_str()).collect();
        let positions: Vec<i64> = atoms.iter().map(|a| i64::from(a.position)).collect();
        let states: Vec<&str> = atoms.iter().map(|a| a.state.as_str()).collect();
        let intentions: Vec<&str> = atoms.iter().map(sql::intention_text).collect();
        let results: Vec<Option<&str>> = json.iter().map(|j| j.result.as_deref()).collect();
        let failures: Vec<Option<&str>> = json.iter().map(|j| j.failure.as_deref()).collect();
        let reverts: Vec<Option<&str>> = json.iter().map(|j| j.revert_failure.as_deref()).collect();
        let versions: Vec<&str> = atoms.iter().map(|a| a.version.as_str()).collect();
        let metas: Vec<&str> = json.iter().map(|j| j.meta.as_str()).collect();
        let created: Vec<i64> = atoms.iter().map(|a| a.created_at).collect();
        let updated: Vec<i64> = atoms.iter().map(|a| a.updated_at).collect();
        let mut buf = [0; 36];
        let id = uuid_text(flow_uuid, &mut buf);
        let owner = lease.map(|l| l.owner.as_str());
        let token = lease.map(|l| sql::token_i64(l.token));
        let book = flow.map(|f| f.logbook_uuid.to_string());
        let params: [&(dyn ToSql + Sync); 23] = [
            &id,
            &owner,
            &token,
            &uuids,
            &flows,
            &names,
            &types,
            &positions,
            &states,
            &intentions,
            &results,
            &failures,
            &reverts,
            &versions,
            &metas,
            &created,
            &updated,
            &book,
            &flow.map(|f| f.name.as_str()),
            &flow.map(|f| f.state.as_str()),
            &meta,
            &flow.map(|f| f.created_at),
            &flow.map(|f| f.updated_at),
        ];
        self.with(op, |c| {
            let s = c.prepare(SAVE_RECORDS).map_err(|e| self.db(op, e))?;
            let row = c.client.query_one(&s, &params).map_err(|e| {
                if e.code() == Some(&SqlState::FOREIGN_KEY_VIOLATION) {
                    match flow {
                        Some(f) => self.not_found(ObjectKind::LogBook, f.logbook_uuid),
                        None => self.not_found(ObjectKind::FlowDetail, flow_uuid),
                    }
                } else {
                    self.db(op, e)
                }
            })?;
            let held: bool = row
                .try_get(2)
                .map_err(|e| self.db(op, PgError::Driver(e)))?;
            match lease {
                Some(lease) if !held => Err(self.refused(c, lease)),
                _ => Ok(()),
            }
        })
    }

    sql_lease_methods!();

    fn current_lease(&self, flow: Uuid) -> Result<Option<Lease>, PersistenceError> {
        let mut buf = [0; 36];
        let id = uuid_text(flow, &mut buf);
        let row = self
            .rows("read a lease", SELECT_LEASE, &[&id], |backend, row| {
                sql::decode_lease(backend, row)
            })?
            .pop()
            .ok_or_else(|| self.not_found(ObjectKind::FlowDetail, flow))?;
        Ok(row.to_lease(flow))
    }
}
