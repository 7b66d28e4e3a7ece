//! What the SQL backends share: the tables' columns, and the encoding and
//! decoding of rows, so that a corrupt value is reported the same way by every
//! backend (table, row id, column) and leaves the other rows readable.
//!
//! The tables (types vary by database; JSON is kept as text of unlimited
//! size: TEXT in SQLite and PostgreSQL, LONGTEXT in MySQL):
//!
//! ```text
//! logbooks(uuid PK, name, meta, created_at, updated_at)
//! flowdetails(uuid PK, logbook_uuid FK→logbooks ON DELETE CASCADE, name, state,
//!             meta, created_at, updated_at, lease_owner, lease_token, lease_expires_at)
//! atomdetails(uuid PK, flow_uuid FK→flowdetails ON DELETE CASCADE, name, atom_type,
//!             position, state, intention, result, failure, revert_failure,
//!             version, meta, created_at, updated_at)
//! taskwire_schema(version PK, applied_at)
//! ```

use std::time::Duration;

use serde::Serialize;
use uuid::fmt::Hyphenated;
use uuid::Uuid;

use super::model::names::atom_type_from;
use super::{
    AtomDetail, FlowDetail, FlowSummary, Lease, LeaseRow, LogBook, LogBookSummary, ObjectKind,
    PersistenceError,
};
use crate::state::{AtomState, FlowState, Intention};

/// The newest schema version of the SQL backends.
pub(crate) const SCHEMA_VERSION: u32 = 3;

/// The tables the schema promises.
pub(crate) const TABLES: [&str; 3] = ["logbooks", "flowdetails", "atomdetails"];

/// The columns read back for a logbook, in the order `decode_book` expects.
macro_rules! book_columns {
    () => {
        "uuid, name, meta, created_at, updated_at"
    };
}

/// The columns read back for a flow detail, in the order `decode_flow` expects.
macro_rules! flow_columns {
    () => {
        "uuid, logbook_uuid, name, state, meta, created_at, updated_at"
    };
}

/// The columns read back for an atom detail, in the order `decode_atom` expects.
macro_rules! atom_columns {
    () => {
        "uuid, flow_uuid, name, atom_type, position, state, intention, result, failure, \
         revert_failure, version, meta, created_at, updated_at"
    };
}

/// The columns of a flow as listed with its logbook (`decode_summary`).
macro_rules! summary_columns {
    () => {
        "uuid, logbook_uuid, name, state, updated_at"
    };
}

pub(crate) use {atom_columns, book_columns, flow_columns, summary_columns};

/// A uuid as stored: 36 characters, lowercase, hyphenated, no allocation.
pub(crate) fn uuid_text(uuid: Uuid, buf: &mut [u8; Hyphenated::LENGTH]) -> &str {
    uuid.hyphenated().encode_lower(buf)
}

fn encode<T: Serialize + ?Sized>(
    backend: &str,
    kind: ObjectKind,
    uuid: Uuid,
    column: &'static str,
    value: &T,
) -> Result<String, PersistenceError> {
    serde_json::to_string(value).map_err(|source| PersistenceError::Encode {
        backend: backend.to_owned(),
        kind,
        uuid,
        column,
        source,
    })
}

/// An atom's JSON columns, each serialized once.
pub(crate) struct AtomJson {
    pub(crate) result: Option<String>,
    pub(crate) failure: Option<String>,
    pub(crate) revert_failure: Option<String>,
    pub(crate) meta: String,
}

impl AtomJson {
    pub(crate) fn new(backend: &str, atom: &AtomDetail) -> Result<AtomJson, PersistenceError> {
        let (kind, uuid) = (ObjectKind::AtomDetail, atom.uuid);
        Ok(AtomJson {
            result: (atom.result.as_ref())
                .map(|v| encode(backend, kind, uuid, "result", v))
                .transpose()?,
            failure: (atom.failure.as_ref())
                .map(|f| encode(backend, kind, uuid, "failure", f))
                .transpose()?,
            revert_failure: (atom.revert_failure.as_ref())
                .map(|f| encode(backend, kind, uuid, "revert_failure", f))
                .transpose()?,
            meta: encode(backend, kind, uuid, "meta", &atom.meta)?,
        })
    }
}

/// A JSON column of a logbook or flow detail.
pub(crate) fn meta_json(
    backend: &str,
    kind: ObjectKind,
    uuid: Uuid,
    meta: &serde_json::Value,
) -> Result<String, PersistenceError> {
    encode(backend, kind, uuid, "meta", meta)
}

/// The stored name of an intention.
/// A step's records (see `Backend::save_records`), checked against the
/// lease and encoded once: the flow detail's `meta` (when the step has the
/// flow) and each atom's JSON columns.
pub(crate) struct StepJson {
    pub(crate) flow_meta: Option<String>,
    pub(crate) atoms: Vec<AtomJson>,
}

impl StepJson {
    pub(crate) fn new(
        backend: &str,
        flow: Option<&FlowDetail>,
        atoms: &[AtomDetail],
        lease: Option<&Lease>,
    ) -> Result<StepJson, PersistenceError> {
        if let Some(lease) = lease {
            super::check_lease_flow(backend, atoms, lease)?;
            if let Some(flow) = flow {
                super::check_lease_for(backend, flow.uuid, lease)?;
            }
        }
        Ok(StepJson {
            flow_meta: match flow {
                Some(f) => Some(meta_json(backend, ObjectKind::FlowDetail, f.uuid, &f.meta)?),
                None => None,
            },
            atoms: atoms
                .iter()
                .map(|a| AtomJson::new(backend, a))
                .collect::<Result<_, _>>()?,
        })
    }
}

pub(crate) fn intention_text(atom: &AtomDetail) -> &'static str {
    atom.intention.as_str()
}

/// A row of a driver, read by column index. Errors are reasons ("not UTF-8",
/// "not an integer"), turned into `Corrupt` errors naming the column.
pub(crate) trait Row {
    /// A text column (`None` for NULL).
    fn text(&self, index: usize) -> Result<Option<&str>, String>;
    /// An integer column (`None` for NULL).
    fn int(&self, index: usize) -> Result<Option<i64>, String>;
}

/// Decodes the cells of one row, naming table, row and column in errors.
struct Cells<'r, R: Row> {
    backend: &'r str,
    table: &'static str,
    row: &'r R,
    id: String,
    columns: &'static [&'static str],
}

impl<'r, R: Row> Cells<'r, R> {
    fn new(
        backend: &'r str,
        table: &'static str,
        columns: &'static [&'static str],
        row: &'r R,
    ) -> Self {
        let id = match row.text(0) {
            Ok(Some(id)) => id.to_owned(),
            _ => "(unreadable id)".to_owned(),
        };
        Cells {
            backend,
            table,
            row,
            id,
            columns,
        }
    }

    fn corrupt(&self, index: usize, reason: impl Into<String>) -> PersistenceError {
        PersistenceError::Corrupt {
            backend: self.backend.to_owned(),
            table: self.table,
            uuid: self.id.clone(),
            column: self.columns[index],
            reason: reason.into(),
        }
    }

    fn opt_text(&self, index: usize) -> Result<Option<&'r str>, PersistenceError> {
        self.row
            .text(index)
            .map_err(|reason| self.corrupt(index, reason))
    }

    fn text(&self, index: usize) -> Result<&'r str, PersistenceError> {
        self.opt_text(index)?
            .ok_or_else(|| self.corrupt(index, "NULL where a value is required"))
    }

    fn int(&self, index: usize) -> Result<i64, PersistenceError> {
        self.row
            .int(index)
            .map_err(|reason| self.corrupt(index, reason))?
            .ok_or_else(|| self.corrupt(index, "NULL where a number is required"))
    }

    fn uuid(&self, index: usize) -> Result<Uuid, PersistenceError> {
        let text = self.text(index)?;
        Uuid::parse_str(text)
            .map_err(|e| self.corrupt(index, format!("`{text}` is not a uuid: {e}")))
    }

    fn json<T: serde::de::DeserializeOwned>(&self, index: usize) -> Result<T, PersistenceError> {
        let text = self.text(index)?;
        serde_json::from_str(text).map_err(|e| self.corrupt(index, format!("invalid JSON: {e}")))
    }

    fn opt_json<T: serde::de::DeserializeOwned>(
        &self,
        index: usize,
    ) -> Result<Option<T>, PersistenceError> {
        match self.opt_text(index)? {
            None => Ok(None),
            Some(text) => serde_json::from_str(text)
                .map(Some)
                .map_err(|e| self.corrupt(index, format!("invalid JSON: {e}"))),
        }
    }

    fn name<T>(
        &self,
        index: usize,
        parse: fn(&str) -> Option<T>,
        what: &str,
    ) -> Result<T, PersistenceError> {
        let text = self.text(index)?;
        parse(text).ok_or_else(|| self.corrupt(index, format!("`{text}` is not {what}")))
    }
}

const BOOK_NAMES: &[&str] = &["uuid", "name", "meta", "created_at", "updated_at"];
const FLOW_NAMES: &[&str] = &[
    "uuid",
    "logbook_uuid",
    "name",
    "state",
    "meta",
    "created_at",
    "updated_at",
];
const ATOM_NAMES: &[&str] = &[
    "uuid",
    "flow_uuid",
    "name",
    "atom_type",
    "position",
    "state",
    "intention",
    "result",
    "failure",
    "revert_failure",
    "version",
    "meta",
    "created_at",
    "updated_at",
];
const LEASE_NAMES: &[&str] = &["uuid", "lease_owner", "lease_token", "lease_expires_at"];

/// Decodes a row of `book_columns!()`.
pub(crate) fn decode_book(backend: &str, row: &impl Row) -> Result<LogBook, PersistenceError> {
    let c = Cells::new(backend, "logbooks", BOOK_NAMES, row);
    Ok(LogBook {
        uuid: c.uuid(0)?,
        name: c.text(1)?.to_owned(),
        meta: c.json(2)?,
        created_at: c.int(3)?,
        updated_at: c.int(4)?,
    })
}

/// Decodes a row of `flow_columns!()`.
pub(crate) fn decode_flow(backend: &str, row: &impl Row) -> Result<FlowDetail, PersistenceError> {
    let c = Cells::new(backend, "flowdetails", FLOW_NAMES, row);
    Ok(FlowDetail {
        uuid: c.uuid(0)?,
        logbook_uuid: c.uuid(1)?,
        name: c.text(2)?.to_owned(),
        state: c.name(3, FlowState::from_name, "a flow state")?,
        meta: c.json(4)?,
        created_at: c.int(5)?,
        updated_at: c.int(6)?,
    })
}

/// Decodes a row of `atom_columns!()`.
pub(crate) fn decode_atom(backend: &str, row: &impl Row) -> Result<AtomDetail, PersistenceError> {
    let c = Cells::new(backend, "atomdetails", ATOM_NAMES, row);
    let position = c.int(4)?;
    Ok(AtomDetail {
        uuid: c.uuid(0)?,
        flow_uuid: c.uuid(1)?,
        name: c.text(2)?.to_owned(),
        atom_type: c.name(3, atom_type_from, "an atom type (TASK, RETRY)")?,
        position: u32::try_from(position)
            .map_err(|_| c.corrupt(4, format!("{position} is not a position")))?,
        state: c.name(5, AtomState::from_name, "an atom state")?,
        intention: c.name(6, Intention::from_name, "an intention")?,
        result: c.opt_json(7)?,
        failure: c.opt_json(8)?,
        revert_failure: c.opt_json(9)?,
        version: c.text(10)?.to_owned(),
        meta: c.json(11)?,
        created_at: c.int(12)?,
        updated_at: c.int(13)?,
    })
}

/// Decodes a row of `uuid, lease_owner, lease_token, lease_expires_at`.
pub(crate) fn decode_lease(backend: &str, row: &impl Row) -> Result<LeaseRow, PersistenceError> {
    let c = Cells::new(backend, "flowdetails", LEASE_NAMES, row);
    let token = c.int(2)?;
    Ok(LeaseRow {
        owner: c.opt_text(1)?.map(str::to_owned),
        token: u64::try_from(token).map_err(|_| c.corrupt(2, format!("{token} is negative")))?,
        expires_at: c.int(3)?,
    })
}

/// A SQL backend's dialect of leases: how it changes a flow's lease row.
/// The lease operations themselves ([`acquire_lease`], [`take_over_lease`],
/// [`renew_lease`], [`release_lease`]) are written once, on top of it, and
/// the rules they apply are [`LeaseRow`]'s; what differs between SQLite,
/// PostgreSQL and MySQL is only how the row is held and whose clock tells the
/// time:
///
/// | dialect    | holds the row by               | clock                    |
/// |------------|--------------------------------|--------------------------|
/// | SQLite     | `BEGIN IMMEDIATE` (one writer) | this process's           |
/// | PostgreSQL | `SELECT .. FOR UPDATE`         | the server's             |
/// | MySQL      | `SELECT .. FOR UPDATE`         | the server's             |
pub(crate) trait SqlLeases: super::Backend {
    /// In one transaction that holds the lease row of `flow` against every
    /// other writer: reads the row, calls `edit` with it and the time now
    /// (milliseconds since the epoch), writes the row `edit` returns and
    /// commits; returns that row. `NotFound` if there is no such flow;
    /// `edit`'s error aborts the transaction and is returned as it is.
    fn lease_update(&self, op: &str, flow: Uuid, edit: impl LeaseChange) -> LeaseResult<LeaseRow>;
}

/// What a lease operation does to the row: `FnOnce(&row, now) -> new row`.
pub(crate) trait LeaseChange:
    FnOnce(&LeaseRow, i64) -> LeaseResult<LeaseRow> + Send
{
}

impl<F: FnOnce(&LeaseRow, i64) -> LeaseResult<LeaseRow> + Send> LeaseChange for F {}

/// The result of a lease operation.
pub(crate) type LeaseResult<T> = Result<T, PersistenceError>;

/// The lease methods of `Backend` for a backend that implements
/// [`SqlLeases`]: `impl Backend for X { sql_lease_methods!(); .. }`.
macro_rules! sql_lease_methods {
    () => {
        fn acquire_lease(
            &self,
            flow: ::uuid::Uuid,
            owner: &str,
            ttl: ::std::time::Duration,
        ) -> $crate::persistence::sql::LeaseResult<$crate::persistence::Lease> {
            $crate::persistence::sql::acquire_lease(self, flow, owner, ttl)
        }

        fn take_over_lease(
            &self,
            flow: ::uuid::Uuid,
            owner: &str,
            ttl: ::std::time::Duration,
        ) -> $crate::persistence::sql::LeaseResult<$crate::persistence::Lease> {
            $crate::persistence::sql::take_over_lease(self, flow, owner, ttl)
        }

        fn renew_lease(
            &self,
            lease: &$crate::persistence::Lease,
            ttl: ::std::time::Duration,
        ) -> $crate::persistence::sql::LeaseResult<$crate::persistence::Lease> {
            $crate::persistence::sql::renew_lease(self, lease, ttl)
        }

        fn release_lease(
            &self,
            lease: &$crate::persistence::Lease,
        ) -> $crate::persistence::sql::LeaseResult<()> {
            $crate::persistence::sql::release_lease(self, lease)
        }
    };
}
pub(crate) use sql_lease_methods;

/// `Backend::acquire_lease` of a SQL backend.
pub(crate) fn acquire_lease(
    db: &impl SqlLeases,
    flow: Uuid,
    owner: &str,
    ttl: Duration,
) -> Result<Lease, PersistenceError> {
    let url = db.url();
    let row = db.lease_update("acquire a lease", flow, |current, now| {
        Ok(LeaseRow::from(
            &current.acquire(url, flow, owner, ttl, now)?,
        ))
    })?;
    Ok(row.held_by(flow, owner))
}

/// `Backend::take_over_lease` of a SQL backend.
pub(crate) fn take_over_lease(
    db: &impl SqlLeases,
    flow: Uuid,
    owner: &str,
    ttl: Duration,
) -> Result<Lease, PersistenceError> {
    let row = db.lease_update("take a lease over", flow, |current, now| {
        Ok(LeaseRow::from(&current.taken(flow, owner, ttl, now)))
    })?;
    Ok(row.held_by(flow, owner))
}

/// `Backend::renew_lease` of a SQL backend.
pub(crate) fn renew_lease(
    db: &impl SqlLeases,
    lease: &Lease,
    ttl: Duration,
) -> Result<Lease, PersistenceError> {
    let url = db.url();
    let row = db.lease_update("renew a lease", lease.flow_uuid, |current, now| {
        current.renewed(url, lease, ttl, now)
    })?;
    Ok(Lease {
        expires_at: row.expires_at,
        ..lease.clone()
    })
}

/// `Backend::release_lease` of a SQL backend.
pub(crate) fn release_lease(db: &impl SqlLeases, lease: &Lease) -> Result<(), PersistenceError> {
    let url = db.url();
    db.lease_update("release a lease", lease.flow_uuid, |current, _| {
        current.released(url, lease)
    })
    .map(drop)
}

/// A token as stored (BIGINT): tokens beyond `i64::MAX` cannot happen in
/// practice (one takeover per nanosecond for 292 years).
pub(crate) fn token_i64(token: u64) -> i64 {
    i64::try_from(token).unwrap_or(i64::MAX)
}

const SUMMARY_NAMES: &[&str] = &["uuid", "logbook_uuid", "name", "state", "updated_at"];

/// Decodes a row of `summary_columns!()`: the flow's logbook and its summary.
pub(crate) fn decode_summary(
    backend: &str,
    row: &impl Row,
) -> Result<(Uuid, FlowSummary), PersistenceError> {
    let c = Cells::new(backend, "flowdetails", SUMMARY_NAMES, row);
    Ok((
        c.uuid(1)?,
        FlowSummary {
            uuid: c.uuid(0)?,
            name: c.text(2)?.to_owned(),
            state: c.name(3, FlowState::from_name, "a flow state")?,
            updated_at: c.int(4)?,
        },
    ))
}

/// Logbooks (in order) with their flows (in order).
pub(crate) fn group(books: Vec<LogBook>, flows: Vec<(Uuid, FlowSummary)>) -> Vec<LogBookSummary> {
    let mut by_book: std::collections::HashMap<Uuid, Vec<FlowSummary>> = Default::default();
    for (book, flow) in flows {
        by_book.entry(book).or_default().push(flow);
    }
    books
        .into_iter()
        .map(|book| LogBookSummary {
            flows: by_book.remove(&book.uuid).unwrap_or_default(),
            book,
        })
        .collect()
}

/// The table a "no such table" message names, if it is one of ours.
pub(crate) fn our_table(message: &str) -> Option<&'static str> {
    TABLES
        .into_iter()
        .chain(["taskwire_schema"])
        .find(|t| message.contains(t))
}
