//! Operation logs: one per protect, restore, delete, verify or copy, created
//! when it starts and updated when it ends (Karbor's `operation_logs`).
//!
//! They are kept in the logbook's database through the persistence
//! [`Backend`], so any backend works (SQLite by default): a logbook named
//! [`OperationLogs::LOGBOOK`] holds one flow detail per log, whose id is the
//! log's, whose state is `RUNNING`, `SUCCESS` or `FAILURE`, and whose metadata
//! holds the log under `operation_log`. The logbook is found by name, and
//! made the first time; two processes opening a new database at once may each
//! make one, and the oldest is used from then on.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::Operation;
use crate::persistence::{now_ms, Backend, FlowDetail, LogBook, PersistenceError, Uuid};
use crate::state::FlowState;

/// Where an operation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OperationStatus {
    /// Started, not ended.
    Running,
    /// Ended well.
    Success,
    /// Failed; `error_info` says why.
    Error,
}

impl fmt::Display for OperationStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OperationStatus::Running => "running",
            OperationStatus::Success => "success",
            OperationStatus::Error => "error",
        })
    }
}

/// The log of one operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperationLog {
    /// Its id.
    pub id: Uuid,
    /// The operation.
    pub operation: Operation,
    /// The checkpoint it works on (for a copy, the source).
    pub checkpoint_id: String,
    /// The plan of the checkpoint.
    pub plan_id: String,
    /// The provider whose plugins run.
    pub provider_id: String,
    /// Its status.
    pub status: OperationStatus,
    /// When it started (unix ms).
    pub started_at: i64,
    /// When it ended (unix ms).
    pub ended_at: Option<i64>,
    /// Why it failed.
    pub error_info: Option<String>,
    /// What else there is to know: the restore or verification record, the
    /// checkpoint a copy made.
    pub extra_info: Value,
    /// The flow detail the engine recorded the run in, once known.
    pub flow_uuid: Option<Uuid>,
}

impl OperationLog {
    /// A running log, started now.
    pub fn start(
        operation: Operation,
        checkpoint_id: &str,
        plan_id: &str,
        provider_id: &str,
    ) -> OperationLog {
        OperationLog {
            id: Uuid::new_v4(),
            operation,
            checkpoint_id: checkpoint_id.to_owned(),
            plan_id: plan_id.to_owned(),
            provider_id: provider_id.to_owned(),
            status: OperationStatus::Running,
            started_at: now_ms(),
            ended_at: None,
            error_info: None,
            extra_info: json!({}),
            flow_uuid: None,
        }
    }

    /// Ends it: `success`, or `error` with `error_info`.
    pub fn end(&mut self, error: Option<String>) {
        self.status = if error.is_some() {
            OperationStatus::Error
        } else {
            OperationStatus::Success
        };
        self.error_info = error;
        self.ended_at = Some(now_ms());
    }
}

/// Why an operation log cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum OperationLogError {
    /// The backend failed.
    #[error(transparent)]
    Persistence(#[from] PersistenceError),
    /// A flow detail of the operation-log logbook that holds no log.
    #[error("operation log `{id}` in `{url}` is corrupt: {message}")]
    Corrupt {
        /// Its id.
        id: Uuid,
        /// The backend.
        url: String,
        /// What is wrong.
        message: String,
    },
}

/// The operation logs of a backend.
#[derive(Debug, Clone)]
pub struct OperationLogs {
    backend: Arc<dyn Backend>,
    logbook: Uuid,
}

impl OperationLogs {
    /// The name of the logbook that holds them.
    pub const LOGBOOK: &'static str = "operation-logs";

    /// The operation logs of `backend`; makes their logbook if there is none.
    pub fn open(backend: Arc<dyn Backend>) -> Result<OperationLogs, OperationLogError> {
        let found = backend
            .list_logbooks()?
            .into_iter()
            .filter(|s| s.book.name == Self::LOGBOOK)
            .min_by_key(|s| (s.book.created_at, s.book.uuid))
            .map(|s| s.book.uuid);
        let logbook = match found {
            Some(uuid) => uuid,
            None => {
                let book = LogBook::new(Self::LOGBOOK);
                backend.save_logbook(&book)?;
                book.uuid
            }
        };
        Ok(OperationLogs { backend, logbook })
    }

    /// The logbook that holds them.
    pub fn logbook(&self) -> Uuid {
        self.logbook
    }

    /// Saves `log` (inserts or replaces).
    pub fn save(&self, log: &OperationLog) -> Result<(), OperationLogError> {
        let mut detail = FlowDetail::new(self.logbook, format!("operation-log:{}", log.operation));
        detail.uuid = log.id;
        detail.state = match log.status {
            OperationStatus::Running => FlowState::Running,
            OperationStatus::Success => FlowState::Success,
            OperationStatus::Error => FlowState::Failure,
        };
        detail.created_at = log.started_at;
        detail.updated_at = log.ended_at.unwrap_or(log.started_at);
        detail.meta = json!({ "operation_log": log });
        self.backend.save_flow(&detail, None)?;
        Ok(())
    }

    /// The log `id`.
    pub fn get(&self, id: Uuid) -> Result<OperationLog, OperationLogError> {
        let (detail, _) = self.backend.load_flow(id)?;
        self.decode(detail)
    }

    /// Every log, oldest first.
    pub fn list(&self) -> Result<Vec<OperationLog>, OperationLogError> {
        let mut logs = self
            .backend
            .list_flows(self.logbook)?
            .into_iter()
            .map(|d| self.decode(d))
            .collect::<Result<Vec<_>, _>>()?;
        logs.sort_by_key(|l| (l.started_at, l.id));
        Ok(logs)
    }

    /// The logs of checkpoint `id`, oldest first.
    pub fn of_checkpoint(&self, id: &str) -> Result<Vec<OperationLog>, OperationLogError> {
        let mut logs = self.list()?;
        logs.retain(|l| l.checkpoint_id == id || l.extra_info["copy_to"] == id);
        Ok(logs)
    }

    fn decode(&self, detail: FlowDetail) -> Result<OperationLog, OperationLogError> {
        let corrupt = |message: String| OperationLogError::Corrupt {
            id: detail.uuid,
            url: self.backend.url().to_owned(),
            message,
        };
        if detail.logbook_uuid != self.logbook {
            return Err(corrupt(format!(
                "it is a flow detail of logbook {}, not of the operation logs",
                detail.logbook_uuid
            )));
        }
        let Some(value) = detail.meta.get("operation_log") else {
            return Err(corrupt("its flow detail has no `operation_log`".into()));
        };
        serde_json::from_value(value.clone()).map_err(|e| corrupt(e.to_string()))
    }
}
