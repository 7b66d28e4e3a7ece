//! The persisted objects, TaskFlow's tables: a [`LogBook`] holds [`FlowDetail`]s,
//! a flow detail holds [`AtomDetail`]s; and the [`Lease`] that lets one engine
//! at a time write a flow.
//!
//! Timestamps are unix milliseconds. Backends store what they are given: the
//! writer sets `updated_at` (see [`now_ms`] and the `touch` methods).

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::failure::Failure;
use crate::state::{AtomState, FlowState, Intention};
use crate::task::Version;

/// The current time in unix milliseconds (0 if the clock is before 1970).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A logbook: a named group of flow details (TaskFlow's `logbooks` table).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogBook {
    /// Its id.
    pub uuid: Uuid,
    /// Its name.
    pub name: String,
    /// Free-form metadata.
    pub meta: Value,
    /// When it was created (unix ms).
    pub created_at: i64,
    /// When it was last changed (unix ms).
    pub updated_at: i64,
}

impl LogBook {
    /// A new logbook with a fresh id, empty metadata, created now.
    pub fn new(name: impl Into<String>) -> LogBook {
        let now = now_ms();
        LogBook {
            uuid: Uuid::new_v4(),
            name: name.into(),
            meta: Value::Object(Default::default()),
            created_at: now,
            updated_at: now,
        }
    }

    /// Sets `updated_at` to now.
    pub fn touch(&mut self) {
        self.updated_at = now_ms();
    }
}

/// One run of a flow (TaskFlow's `flowdetails` table).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlowDetail {
    /// Its id.
    pub uuid: Uuid,
    /// The logbook it belongs to.
    pub logbook_uuid: Uuid,
    /// The flow's name.
    pub name: String,
    /// The flow's state.
    pub state: FlowState,
    /// Free-form metadata: the engine keeps the flow factory's name and the
    /// flow's inputs here, so that a process can rebuild the flow by id alone.
    pub meta: Value,
    /// When it was created (unix ms).
    pub created_at: i64,
    /// When it was last changed (unix ms).
    pub updated_at: i64,
}

impl FlowDetail {
    /// A new PENDING flow detail in `logbook`, with a fresh id, created now.
    pub fn new(logbook_uuid: Uuid, name: impl Into<String>) -> FlowDetail {
        let now = now_ms();
        FlowDetail {
            uuid: Uuid::new_v4(),
            logbook_uuid,
            name: name.into(),
            state: FlowState::Pending,
            meta: Value::Object(Default::default()),
            created_at: now,
            updated_at: now,
        }
    }

    /// Sets `updated_at` to now.
    pub fn touch(&mut self) {
        self.updated_at = now_ms();
    }
}

/// What kind of atom an [`AtomDetail`] records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AtomType {
    /// A task.
    Task,
    /// A retry controller.
    Retry,
}

impl AtomType {
    /// The stored name: `TASK` or `RETRY`.
    pub fn as_str(self) -> &'static str {
        match self {
            AtomType::Task => "TASK",
            AtomType::Retry => "RETRY",
        }
    }
}

impl fmt::Display for AtomType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One atom of a flow run (TaskFlow's `atomdetails` table).
///
/// `result` distinguishes "no result" (`None`) from a result that is JSON
/// `null` (`Some(Value::Null)`), in every backend and in its serde form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AtomDetail {
    /// Its id.
    pub uuid: Uuid,
    /// The flow detail it belongs to, for life: backends identify an atom
    /// detail by `(flow_uuid, uuid)`.
    pub flow_uuid: Uuid,
    /// The atom's name in the flow.
    pub name: String,
    /// Task or retry.
    pub atom_type: AtomType,
    /// The atom's index in the compiled flow: a resuming engine matches
    /// records to atoms by name, and can check the position.
    pub position: u32,
    /// Its state.
    pub state: AtomState,
    /// What the engine intends to do with it next.
    pub intention: Intention,
    /// Its result, once it succeeded (kept after a revert).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub result: Option<Value>,
    /// The failure of its execution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    /// The failure of its revert.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revert_failure: Option<Failure>,
    /// The version of the code that recorded it, `major.minor`.
    pub version: String,
    /// Free-form metadata.
    pub meta: Value,
    /// When it was created (unix ms).
    pub created_at: i64,
    /// When it was last changed (unix ms).
    pub updated_at: i64,
}

/// A field that is present is `Some`, even when it is `null`.
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

/// Whether a [`TimelineEntry`] is an execution or a revert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    /// The atom ran (RUNNING until SUCCESS or FAILURE).
    Execute,
    /// The atom was reverted (REVERTING until REVERTED or REVERT_FAILURE).
    Revert,
}

/// One execution or revert of an atom, from its record's `meta.timeline`
/// (see [`AtomDetail::timeline`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEntry {
    /// An execution or a revert.
    pub kind: EntryKind,
    /// When it started (unix ms).
    pub start: i64,
    /// When it ended (unix ms); `None` while it runs, or if the process
    /// running it died.
    pub end: Option<i64>,
    /// The state it ended in.
    pub state: Option<AtomState>,
}

impl TimelineEntry {
    /// How long it took (ms), once it ended.
    pub fn duration_ms(&self) -> Option<i64> {
        Some(self.end? - self.start)
    }
}

impl AtomDetail {
    /// The last progress its task reported (0.0 to 1.0;
    /// [`TaskCtx::progress`](crate::TaskCtx::progress)), kept in
    /// `meta.progress` (with `meta.progress_details`, if given).
    pub fn progress(&self) -> Option<f32> {
        self.meta
            .get("progress")
            .and_then(Value::as_f64)
            .map(|p| p as f32)
    }

    /// What its revert returned, kept in `meta.revert_result` (TaskFlow's
    /// `revert_results`): `None` if it was not reverted, or its revert
    /// returned `()`.
    pub fn revert_result(&self) -> Option<&Value> {
        self.meta.get("revert_result")
    }

    /// Every execution and revert of the atom, oldest first: a retried atom
    /// has several executions. The engine keeps them in `meta.timeline`, a
    /// list of `{"kind", "start", "end", "state"}`; a record without it (one
    /// written by hand or by an older version) gives one entry from its
    /// creation to its last change, if it ran at all. Entries that cannot be
    /// read are skipped.
    pub fn timeline(&self) -> Vec<TimelineEntry> {
        if let Some(Value::Array(entries)) = self.meta.get("timeline") {
            return entries
                .iter()
                .filter_map(|e| {
                    Some(TimelineEntry {
                        kind: match e.get("kind")?.as_str()? {
                            "execute" => EntryKind::Execute,
                            "revert" => EntryKind::Revert,
                            _ => return None,
                        },
                        start: e.get("start")?.as_i64()?,
                        end: e.get("end").and_then(Value::as_i64),
                        state: e
                            .get("state")
                            .and_then(Value::as_str)
                            .and_then(AtomState::from_name),
                    })
                })
                .collect();
        }
        let kind = match self.state {
            AtomState::Pending | AtomState::Ignore => return Vec::new(),
            AtomState::Reverting | AtomState::Reverted | AtomState::RevertFailure => {
                EntryKind::Revert
            }
            AtomState::Running | AtomState::Success | AtomState::Failure | AtomState::Retrying => {
                EntryKind::Execute
            }
        };
        let running = matches!(self.state, AtomState::Running | AtomState::Reverting);
        vec![TimelineEntry {
            kind,
            start: self.created_at,
            end: (!running).then_some(self.updated_at),
            state: (!running).then_some(self.state),
        }]
    }

    /// How many times the atom was started (its executions in
    /// [`AtomDetail::timeline`]).
    pub fn attempts(&self) -> usize {
        self.timeline()
            .iter()
            .filter(|e| e.kind == EntryKind::Execute)
            .count()
    }
}

impl AtomDetail {
    /// A new PENDING task atom with intention EXECUTE, a fresh id, created now.
    pub fn new(flow_uuid: Uuid, name: impl Into<String>, position: u32) -> AtomDetail {
        let now = now_ms();
        AtomDetail {
            uuid: Uuid::new_v4(),
            flow_uuid,
            name: name.into(),
            atom_type: AtomType::Task,
            position,
            state: AtomState::Pending,
            intention: Intention::Execute,
            result: None,
            failure: None,
            revert_failure: None,
            version: Version::default().to_string(),
            meta: Value::Object(Default::default()),
            created_at: now,
            updated_at: now,
        }
    }

    /// The recorded version, parsed (`None` if it is not `major.minor`).
    pub fn parsed_version(&self) -> Option<Version> {
        Version::parse(&self.version)
    }

    /// Sets `updated_at` to now.
    pub fn touch(&mut self) {
        self.updated_at = now_ms();
    }
}

/// The right to write one flow detail, held by one owner at a time.
///
/// `token` is the fencing token: it grows by one each time the lease changes
/// hands (or is taken again), and a write carrying an older token is refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// The flow detail.
    pub flow_uuid: Uuid,
    /// Who holds it (an engine's name: host, process, ...).
    pub owner: String,
    /// The fencing token, strictly increasing per flow detail.
    pub token: u64,
    /// When it expires unless renewed (unix ms, by the backend's clock).
    pub expires_at: i64,
}

/// A flow detail as listed with its logbook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlowSummary {
    /// Its id.
    pub uuid: Uuid,
    /// The flow's name.
    pub name: String,
    /// The flow's state.
    pub state: FlowState,
    /// When it was last changed (unix ms).
    pub updated_at: i64,
}

impl From<&FlowDetail> for FlowSummary {
    fn from(f: &FlowDetail) -> FlowSummary {
        FlowSummary {
            uuid: f.uuid,
            name: f.name.clone(),
            state: f.state,
            updated_at: f.updated_at,
        }
    }
}

/// A logbook with the states of its flows, as listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogBookSummary {
    /// The logbook.
    pub book: LogBook,
    /// Its flows, oldest first.
    pub flows: Vec<FlowSummary>,
}

impl LogBookSummary {
    /// Whether every flow has ended (true for a logbook without flows).
    pub fn is_finished(&self) -> bool {
        self.flows.iter().all(|f| f.state.is_final())
    }

    /// The last change to the logbook or any of its flows (unix ms).
    pub fn last_change(&self) -> i64 {
        self.flows
            .iter()
            .map(|f| f.updated_at)
            .fold(self.book.updated_at, i64::max)
    }
}

/// Which logbooks [`Backend::prune`](super::Backend::prune) deletes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Delete only logbooks whose last change is older than this.
    pub older_than: std::time::Duration,
    /// Delete only logbooks whose flows have all ended (SUCCESS, FAILURE,
    /// REVERTED); keep the ones that could still be resumed.
    pub only_finished: bool,
}

impl RetentionPolicy {
    /// Whether `summary` is to be deleted at time `now` (unix ms).
    pub fn selects(&self, summary: &LogBookSummary, now: i64) -> bool {
        let age = i64::try_from(self.older_than.as_millis()).unwrap_or(i64::MAX);
        let old = summary.last_change() <= now.saturating_sub(age);
        old && (!self.only_finished || summary.is_finished())
    }
}

/// Parsing the stored names of atom types (the engine's states parse
/// themselves: `AtomState::from_name` and the like).
#[cfg_attr(
    not(any(feature = "sqlite", feature = "postgres", feature = "mysql")),
    allow(dead_code)
)]
pub(crate) mod names {
    use super::*;

    pub(crate) fn atom_type_from(text: &str) -> Option<AtomType> {
        [AtomType::Task, AtomType::Retry]
            .into_iter()
            .find(|t| t.as_str() == text)
    }
}

#[cfg(test)]
mod tests {
    use super::names::*;
    use super::*;

    #[test]
    fn stored_names_match_serde_names() {
        for s in AtomState::ALL {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
            assert_eq!(AtomState::from_name(s.as_str()), Some(s));
        }
        for s in FlowState::ALL {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
            assert_eq!(FlowState::from_name(s.as_str()), Some(s));
        }
        for i in Intention::ALL {
            assert_eq!(serde_json::to_value(i).unwrap(), i.as_str());
            assert_eq!(Intention::from_name(i.as_str()), Some(i));
        }
        for t in [AtomType::Task, AtomType::Retry] {
            assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
            assert_eq!(atom_type_from(t.as_str()), Some(t));
        }
        assert_eq!(AtomState::from_name("running"), None);
    }

    #[test]
    fn a_null_result_is_not_lost_in_serde() {
        let mut atom = AtomDetail::new(Uuid::new_v4(), "a", 0);
        for result in [None, Some(Value::Null), Some(serde_json::json!({"k": [1]}))] {
            atom.result = result;
            let text = serde_json::to_string(&atom).unwrap();
            let back: AtomDetail = serde_json::from_str(&text).unwrap();
            assert_eq!(back, atom, "{text}");
        }
    }
}
