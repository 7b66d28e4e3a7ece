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

use serde::Serialize;
use uuid::fmt::Hyphenated;
use uuid::Uuid;

use super::model::names::atom_type_from;
use super::{
    AtomDetail, FlowDetail, FlowSummary, LeaseRow, LogBook, LogBookSummary, ObjectKind,
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
