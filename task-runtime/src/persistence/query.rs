//! A read API for operators: the flow details of every logbook, filtered,
//! newest first, a page at a time ([`Backend::query_flows`]).
//!
//! Pages are cut by a [`Cursor`] (keyset pagination on `(time, uuid)`), never
//! by an offset: a page costs the same whether it is the first or the
//! thousandth, and flows added meanwhile do not shift later pages. The SQL
//! backends answer from indexes on `(created_at, uuid)` and
//! `(updated_at, uuid)` (schema version 3); memory and `dir://` filter what
//! [`Backend::list_logbooks`] and [`Backend::list_flows`] return.
//!
//! ```
//! use taskwire_runtime::persistence::{self, FlowDetail, FlowQuery, LogBook};
//!
//! let backend = persistence::open("memory://")?;
//! let book = LogBook::new("nightly");
//! backend.save_logbook(&book)?;
//! for name in ["backup-a", "backup-b", "report"] {
//!     backend.save_flow(&FlowDetail::new(book.uuid, name), None)?;
//! }
//! let mut query = FlowQuery::new().name_prefix("backup-").limit(1);
//! let first = backend.query_flows(&query)?;
//! assert_eq!(first.flows.len(), 1);
//! query.after = first.next; // the next page starts after the last row
//! let second = backend.query_flows(&query)?;
//! assert_eq!(second.flows.len(), 1);
//! assert_ne!(first.flows[0].uuid, second.flows[0].uuid);
//! assert!(second.next.is_none());
//! # Ok::<(), persistence::PersistenceError>(())
//! ```
//!
//! A cursor travels as text (`Display` / `FromStr`, and serde as a string):
//! hand it to a script or put it in a URL, and parse it back. A malformed
//! cursor, or one taken from a listing in the other order, is refused with
//! [`PersistenceError::InvalidCursor`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

use super::{Backend, PersistenceError};
use crate::state::FlowState;

/// The most rows a page may hold.
pub const MAX_PAGE: usize = 10_000;

/// Which time orders a listing (newest first) and its cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FlowOrder {
    /// By creation time: a flow keeps its place as it runs (the default).
    #[default]
    Created,
    /// By last change: the flows that moved last come first.
    Updated,
}

impl FlowOrder {
    /// `created` or `updated`.
    pub fn as_str(self) -> &'static str {
        match self {
            FlowOrder::Created => "created",
            FlowOrder::Updated => "updated",
        }
    }

    fn tag(self) -> char {
        match self {
            FlowOrder::Created => 'c',
            FlowOrder::Updated => 'u',
        }
    }
}

/// How [`FlowQuery::name`] matches a flow's name (case-sensitive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameMatch {
    /// The name contains this text.
    Contains(String),
    /// The name starts with this text.
    Prefix(String),
}

impl NameMatch {
    /// Whether `name` matches.
    pub fn matches(&self, name: &str) -> bool {
        match self {
            NameMatch::Contains(part) => name.contains(part.as_str()),
            NameMatch::Prefix(prefix) => name.starts_with(prefix.as_str()),
        }
    }
}

/// Where a page of a listing ends: the next page starts after it.
///
/// Its text form is `c<ms>.<uuid>` (creation order) or `u<ms>.<uuid>`
/// (update order); treat it as opaque.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cursor {
    /// The order of the listing it continues.
    pub order: FlowOrder,
    /// The time (unix ms) of the last row of the page.
    pub at: i64,
    /// The uuid of the last row of the page.
    pub uuid: Uuid,
}

impl Cursor {
    /// The cursor after `row` in a listing by `order`.
    pub fn after(row: &FlowRow, order: FlowOrder) -> Cursor {
        Cursor {
            order,
            at: match order {
                FlowOrder::Created => row.created_at,
                FlowOrder::Updated => row.updated_at,
            },
            uuid: row.uuid,
        }
    }

    /// Whether `row` comes after the cursor in its listing (newest first).
    fn precedes(&self, row: &FlowRow) -> bool {
        let at = Cursor::after(row, self.order).at;
        (at, row.uuid) < (self.at, self.uuid)
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}.{}", self.order.tag(), self.at, self.uuid)
    }
}

impl FromStr for Cursor {
    type Err = PersistenceError;

    fn from_str(text: &str) -> Result<Cursor, PersistenceError> {
        let bad = |reason: &str| PersistenceError::InvalidCursor {
            cursor: text.chars().take(80).collect(),
            reason: reason.to_owned(),
        };
        let order = match text.chars().next() {
            Some('c') => FlowOrder::Created,
            Some('u') => FlowOrder::Updated,
            _ => return Err(bad("it should start with `c` or `u`")),
        };
        let (at, uuid) = text[1..]
            .split_once('.')
            .ok_or_else(|| bad("expected `<c|u><ms>.<uuid>`"))?;
        let at = at
            .parse::<i64>()
            .map_err(|_| bad("the time is not a whole number of milliseconds"))?;
        let uuid = Uuid::parse_str(uuid).map_err(|_| bad("the id is not a uuid"))?;
        Ok(Cursor { order, at, uuid })
    }
}

impl Serialize for Cursor {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Cursor {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Cursor, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Which flow details [`Backend::query_flows`] lists: every filter that is
/// set must hold. Times are unix ms; `*_after` bounds are inclusive,
/// `*_before` bounds exclusive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowQuery {
    /// Only flows in one of these states (all states if empty).
    pub states: Vec<FlowState>,
    /// Only flows whose name matches.
    pub name: Option<NameMatch>,
    /// Only flows of this logbook.
    pub logbook: Option<Uuid>,
    /// Only flows created at or after this time.
    pub created_after: Option<i64>,
    /// Only flows created before this time.
    pub created_before: Option<i64>,
    /// Only flows last changed at or after this time.
    pub updated_after: Option<i64>,
    /// Only flows last changed before this time.
    pub updated_before: Option<i64>,
    /// The order, newest first.
    pub order: FlowOrder,
    /// The most rows in the page, 1 to [`MAX_PAGE`].
    pub limit: usize,
    /// Start after this cursor (the previous page's [`FlowPage::next`]).
    pub after: Option<Cursor>,
}

impl Default for FlowQuery {
    fn default() -> FlowQuery {
        FlowQuery {
            states: Vec::new(),
            name: None,
            logbook: None,
            created_after: None,
            created_before: None,
            updated_after: None,
            updated_before: None,
            order: FlowOrder::Created,
            limit: 50,
            after: None,
        }
    }
}

impl FlowQuery {
    /// The newest 50 flows of every logbook, by creation time.
    pub fn new() -> FlowQuery {
        FlowQuery::default()
    }

    /// Only flows in `state` (added to the states already asked for).
    pub fn state(mut self, state: FlowState) -> FlowQuery {
        self.states.push(state);
        self
    }

    /// Only flows whose name contains `part`.
    pub fn name_contains(mut self, part: impl Into<String>) -> FlowQuery {
        self.name = Some(NameMatch::Contains(part.into()));
        self
    }

    /// Only flows whose name starts with `prefix`.
    pub fn name_prefix(mut self, prefix: impl Into<String>) -> FlowQuery {
        self.name = Some(NameMatch::Prefix(prefix.into()));
        self
    }

    /// Only flows of `logbook`.
    pub fn logbook(mut self, logbook: Uuid) -> FlowQuery {
        self.logbook = Some(logbook);
        self
    }

    /// The order of the listing.
    pub fn order(mut self, order: FlowOrder) -> FlowQuery {
        self.order = order;
        self
    }

    /// The most rows in a page.
    pub fn limit(mut self, limit: usize) -> FlowQuery {
        self.limit = limit;
        self
    }

    /// Start after `cursor`.
    pub fn after(mut self, cursor: Option<Cursor>) -> FlowQuery {
        self.after = cursor;
        self
    }

    /// Checks the limit and the cursor against the query.
    pub fn check(&self, backend: &str) -> Result<(), PersistenceError> {
        if self.limit == 0 || self.limit > MAX_PAGE {
            return Err(PersistenceError::InvalidQuery {
                backend: backend.to_owned(),
                reason: format!("limit {} is not between 1 and {MAX_PAGE}", self.limit),
            });
        }
        if let Some(cursor) = &self.after {
            if cursor.order != self.order {
                return Err(PersistenceError::InvalidCursor {
                    cursor: cursor.to_string(),
                    reason: format!(
                        "it continues a listing by {} time, not by {} time",
                        cursor.order.as_str(),
                        self.order.as_str()
                    ),
                });
            }
        }
        Ok(())
    }

    /// Whether `row` passes the filters (not the cursor).
    pub fn matches(&self, row: &FlowRow) -> bool {
        let within = |t: i64, after: Option<i64>, before: Option<i64>| {
            after.is_none_or(|a| t >= a) && before.is_none_or(|b| t < b)
        };
        (self.states.is_empty() || self.states.contains(&row.state))
            && self.name.as_ref().is_none_or(|m| m.matches(&row.name))
            && self.logbook.is_none_or(|l| l == row.logbook_uuid)
            && within(row.created_at, self.created_after, self.created_before)
            && within(row.updated_at, self.updated_after, self.updated_before)
    }
}

/// A flow detail as listed, with its logbook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowRow {
    /// The logbook's id.
    pub logbook_uuid: Uuid,
    /// The logbook's name.
    pub logbook_name: String,
    /// The flow detail's id.
    pub uuid: Uuid,
    /// The flow's name.
    pub name: String,
    /// The flow's state.
    pub state: FlowState,
    /// When it was created (unix ms).
    pub created_at: i64,
    /// When it was last changed (unix ms).
    pub updated_at: i64,
    /// How many atom details it has.
    pub atoms: u64,
}

/// A page of a listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowPage {
    /// The flows, newest first.
    pub flows: Vec<FlowRow>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<Cursor>,
}

impl FlowPage {
    /// The page of `limit` rows out of `rows` fetched with one row more than
    /// asked for (whose presence says there is a next page).
    pub(crate) fn cut(mut rows: Vec<FlowRow>, q: &FlowQuery) -> FlowPage {
        let next = if rows.len() > q.limit {
            rows.truncate(q.limit);
            rows.last().map(|row| Cursor::after(row, q.order))
        } else {
            None
        };
        FlowPage { flows: rows, next }
    }
}

/// [`Backend::query_flows`] over the other methods of a backend: reads every
/// flow detail (for memory and `dir://`, which have no indexes).
pub(crate) fn query_by_listing<B: Backend + ?Sized>(
    backend: &B,
    q: &FlowQuery,
) -> Result<FlowPage, PersistenceError> {
    q.check(backend.url())?;
    let mut rows = Vec::new();
    for summary in backend.list_logbooks()? {
        if q.logbook.is_some_and(|l| l != summary.book.uuid) {
            continue;
        }
        let flows = match backend.list_flows(summary.book.uuid) {
            Ok(flows) => flows,
            // Deleted meanwhile.
            Err(PersistenceError::NotFound { .. }) => continue,
            Err(e) => return Err(e),
        };
        for flow in flows {
            let row = FlowRow {
                logbook_uuid: summary.book.uuid,
                logbook_name: summary.book.name.clone(),
                uuid: flow.uuid,
                name: flow.name,
                state: flow.state,
                created_at: flow.created_at,
                updated_at: flow.updated_at,
                atoms: 0,
            };
            if q.matches(&row) && q.after.is_none_or(|c| c.precedes(&row)) {
                rows.push(row);
            }
        }
    }
    let key = |r: &FlowRow| (Cursor::after(r, q.order).at, r.uuid);
    rows.sort_by_key(|r| std::cmp::Reverse(key(r)));
    rows.truncate(q.limit + 1);
    let mut page = FlowPage::cut(rows, q);
    for row in &mut page.flows {
        row.atoms = match backend.load_flow(row.uuid) {
            Ok((_, atoms)) => atoms.len() as u64,
            Err(PersistenceError::NotFound { .. }) => 0,
            Err(e) => return Err(e),
        };
    }
    Ok(page)
}

/// A parameter of a generated statement.
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Param {
    Text(String),
    Int(i64),
}

/// The SQL dialects the query is written in.
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(
    not(all(feature = "sqlite", feature = "postgres", feature = "mysql")),
    allow(dead_code)
)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
    Mysql,
}

/// The columns of a listed flow, in the order `decode_row` reads them.
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
const ROW_NAMES: &[&str] = &[
    "uuid",
    "logbook_uuid",
    "logbooks.name",
    "name",
    "state",
    "created_at",
    "updated_at",
    "(atom count)",
];

/// The statement and parameters of a query, in `dialect`: filters, then the
/// keyset condition, newest first, one row more than the limit.
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
pub(crate) fn statement(q: &FlowQuery, dialect: Dialect) -> (String, Vec<Param>) {
    let mut params: Vec<Param> = Vec::new();
    let mark = |params: &mut Vec<Param>, p: Param| {
        params.push(p);
        match dialect {
            Dialect::Postgres => format!("${}", params.len()),
            Dialect::Sqlite | Dialect::Mysql => "?".to_owned(),
        }
    };
    let time = match q.order {
        FlowOrder::Created => "f.created_at",
        FlowOrder::Updated => "f.updated_at",
    };
    let mut conditions: Vec<String> = Vec::new();
    if !q.states.is_empty() {
        let marks: Vec<String> = q
            .states
            .iter()
            .map(|s| mark(&mut params, Param::Text(s.as_str().to_owned())))
            .collect();
        conditions.push(format!("f.state IN ({})", marks.join(", ")));
    }
    match &q.name {
        None => {}
        Some(NameMatch::Contains(part)) => {
            let m = mark(&mut params, Param::Text(part.clone()));
            conditions.push(match dialect {
                Dialect::Sqlite => format!("instr(f.name, {m}) > 0"),
                Dialect::Postgres => format!("strpos(f.name, {m}) > 0"),
                Dialect::Mysql => format!("INSTR(f.name, {m}) > 0"),
            });
        }
        Some(NameMatch::Prefix(prefix)) => {
            let a = mark(&mut params, Param::Text(prefix.clone()));
            conditions.push(match dialect {
                Dialect::Sqlite => {
                    let b = mark(&mut params, Param::Text(prefix.clone()));
                    format!("substr(f.name, 1, length({a})) = {b}")
                }
                Dialect::Postgres => format!("starts_with(f.name, {a})"),
                Dialect::Mysql => {
                    let b = mark(&mut params, Param::Text(prefix.clone()));
                    format!("LEFT(f.name, CHAR_LENGTH({a})) = {b}")
                }
            });
        }
    }
    if let Some(book) = q.logbook {
        let m = mark(&mut params, Param::Text(book.to_string()));
        conditions.push(format!("f.logbook_uuid = {m}"));
    }
    for (column, op, bound) in [
        ("f.created_at", ">=", q.created_after),
        ("f.created_at", "<", q.created_before),
        ("f.updated_at", ">=", q.updated_after),
        ("f.updated_at", "<", q.updated_before),
    ] {
        if let Some(bound) = bound {
            let m = mark(&mut params, Param::Int(bound));
            conditions.push(format!("{column} {op} {m}"));
        }
    }
    if let Some(cursor) = &q.after {
        let uuid = cursor.uuid.to_string();
        conditions.push(match dialect {
            // Row values: both use the index for the range.
            Dialect::Sqlite | Dialect::Postgres => {
                let a = mark(&mut params, Param::Int(cursor.at));
                let b = mark(&mut params, Param::Text(uuid));
                format!("({time}, f.uuid) < ({a}, {b})")
            }
            Dialect::Mysql => {
                let a = mark(&mut params, Param::Int(cursor.at));
                let b = mark(&mut params, Param::Int(cursor.at));
                let c = mark(&mut params, Param::Text(uuid));
                format!("({time} < {a} OR ({time} = {b} AND f.uuid < {c}))")
            }
        });
    }
    let limit = mark(
        &mut params,
        Param::Int(i64::try_from(q.limit + 1).unwrap_or(i64::MAX)),
    );
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {} ", conditions.join(" AND "))
    };
    let sql = format!(
        "SELECT f.uuid, f.logbook_uuid, l.name, f.name, f.state, f.created_at, f.updated_at, \
         (SELECT COUNT(*) FROM atomdetails a WHERE a.flow_uuid = f.uuid) \
         FROM flowdetails f JOIN logbooks l ON l.uuid = f.logbook_uuid \
         {filter}ORDER BY {time} DESC, f.uuid DESC LIMIT {limit}"
    );
    (sql, params)
}

/// Decodes a row of the statement [`statement`] writes.
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
pub(crate) fn decode_row(
    backend: &str,
    row: &impl super::sql::Row,
) -> Result<FlowRow, PersistenceError> {
    let id = match row.text(0) {
        Ok(Some(id)) => id.to_owned(),
        _ => "(unreadable id)".to_owned(),
    };
    let corrupt = |index: usize, reason: String| PersistenceError::Corrupt {
        backend: backend.to_owned(),
        table: "flowdetails",
        uuid: id.clone(),
        column: ROW_NAMES[index],
        reason,
    };
    let text = |index: usize| -> Result<&str, PersistenceError> {
        row.text(index)
            .map_err(|r| corrupt(index, r))?
            .ok_or_else(|| corrupt(index, "NULL where a value is required".into()))
    };
    let int = |index: usize| -> Result<i64, PersistenceError> {
        row.int(index)
            .map_err(|r| corrupt(index, r))?
            .ok_or_else(|| corrupt(index, "NULL where a number is required".into()))
    };
    let uuid = |index: usize| -> Result<Uuid, PersistenceError> {
        let t = text(index)?;
        Uuid::parse_str(t).map_err(|e| corrupt(index, format!("`{t}` is not a uuid: {e}")))
    };
    let state = text(4)?;
    Ok(FlowRow {
        uuid: uuid(0)?,
        logbook_uuid: uuid(1)?,
        logbook_name: text(2)?.to_owned(),
        name: text(3)?.to_owned(),
        state: FlowState::from_name(state)
            .ok_or_else(|| corrupt(4, format!("`{state}` is not a flow state")))?,
        created_at: int(5)?,
        updated_at: int(6)?,
        atoms: u64::try_from(int(7)?).unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_as_text_and_bad_ones_are_named() {
        let cursor = Cursor {
            order: FlowOrder::Updated,
            at: 1_733_412_345_678,
            uuid: Uuid::new_v4(),
        };
        let text = cursor.to_string();
        assert!(text.starts_with("u1733412345678."), "{text}");
        assert_eq!(text.parse::<Cursor>().unwrap(), cursor);
        let json = serde_json::to_string(&cursor).unwrap();
        assert_eq!(serde_json::from_str::<Cursor>(&json).unwrap(), cursor);
        for (bad, reason) in [
            ("", "start with `c` or `u`"),
            ("x1.00000000-0000-0000-0000-000000000000", "start with"),
            ("c12", "expected `<c|u><ms>.<uuid>`"),
            ("cnow.00000000-0000-0000-0000-000000000000", "milliseconds"),
            ("c12.not-a-uuid", "not a uuid"),
        ] {
            let err = bad.parse::<Cursor>().unwrap_err();
            assert!(
                matches!(err, PersistenceError::InvalidCursor { .. }),
                "{err}"
            );
            let text = err.to_string();
            assert!(text.contains(reason), "{bad}: {text}");
            assert!(text.contains(&format!("`{bad}`")), "{text}");
        }
        assert!(serde_json::from_str::<Cursor>("\"c12\"").is_err());
    }

    #[test]
    fn a_cursor_of_the_other_order_and_bad_limits_are_refused() {
        let cursor = Cursor {
            order: FlowOrder::Created,
            at: 5,
            uuid: Uuid::nil(),
        };
        let q = FlowQuery::new()
            .order(FlowOrder::Updated)
            .after(Some(cursor));
        let err = q.check("memory://").unwrap_err();
        assert!(
            err.to_string()
                .contains("continues a listing by created time, not by updated time"),
            "{err}"
        );
        for limit in [0, MAX_PAGE + 1] {
            let err = FlowQuery::new()
                .limit(limit)
                .check("memory://")
                .unwrap_err();
            assert!(matches!(err, PersistenceError::InvalidQuery { .. }));
            assert!(err.to_string().contains(&format!("limit {limit}")), "{err}");
        }
    }

    #[cfg(feature = "postgres")]
    #[test]
    fn postgres_statement_numbers_its_parameters() {
        let q = FlowQuery::new()
            .state(FlowState::Failure)
            .state(FlowState::Success)
            .name_prefix("nightly")
            .after(Some(Cursor {
                order: FlowOrder::Created,
                at: 9,
                uuid: Uuid::nil(),
            }));
        let (sql, params) = statement(&q, Dialect::Postgres);
        assert!(sql.contains("f.state IN ($1, $2)"), "{sql}");
        assert!(sql.contains("starts_with(f.name, $3)"), "{sql}");
        assert!(sql.contains("(f.created_at, f.uuid) < ($4, $5)"), "{sql}");
        assert!(sql.ends_with("LIMIT $6"), "{sql}");
        assert_eq!(params.len(), 6);
        assert_eq!(params[5], Param::Int(51));
    }
}
