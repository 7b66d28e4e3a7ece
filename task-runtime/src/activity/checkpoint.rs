//! Checkpoints and the records of restores and verifications, kept in a bank.
//!
//! A checkpoint's status follows Karbor's lifecycle; every other change is
//! refused with [`CheckpointError::Transition`]:
//!
//! | from | to |
//! |---|---|
//! | `protecting` | `available`, `error` |
//! | `available` | `deleting` |
//! | `error` | `deleting` |
//! | `deleting` | `deleted`, `error` |
//! | `deleted` | — |
//!
//! A checkpoint's record is the bank key `checkpoints/ID`; the plugins' data
//! is under `ID/` ([`ActivityCtx::bank_key`](super::ActivityCtx::bank_key)).
//! Restores and verifications are records under `restores/ID` and
//! `verifications/ID`: `in_progress`, then `success` or `error`. A record is
//! read, changed and written back: one operation at a time changes a record
//! (the operation that owns it).

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Bank, BankError, GraphRecord, Operation, Resource, ResourceGraph};
use crate::persistence::{now_ms, Uuid};

/// A protection plan: what to protect, by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// Its id.
    pub id: String,
    /// A name for people.
    pub name: String,
    /// The resources it names; their dependencies come from the protectables.
    pub resources: Vec<Resource>,
}

impl Plan {
    /// A plan with a fresh id.
    pub fn new(name: impl Into<String>, resources: Vec<Resource>) -> Plan {
        Plan {
            id: Uuid::new_v4().to_string(),
            name: name.into(),
            resources,
        }
    }
}

/// Where a checkpoint is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckpointStatus {
    /// Being written by a protect (or copy) operation.
    Protecting,
    /// Complete: it can be restored, verified, copied, deleted.
    Available,
    /// Its operation failed.
    Error,
    /// Being deleted.
    Deleting,
    /// Deleted: its data is gone, the record stays for the history.
    Deleted,
}

impl CheckpointStatus {
    /// Whether a checkpoint may go from `self` to `to` (the table above).
    pub fn can_become(self, to: CheckpointStatus) -> bool {
        use CheckpointStatus::*;
        matches!(
            (self, to),
            (Protecting, Available)
                | (Protecting, Error)
                | (Available, Deleting)
                | (Error, Deleting)
                | (Deleting, Deleted)
                | (Deleting, Error)
        )
    }

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckpointStatus::Protecting => "protecting",
            CheckpointStatus::Available => "available",
            CheckpointStatus::Error => "error",
            CheckpointStatus::Deleting => "deleting",
            CheckpointStatus::Deleted => "deleted",
        }
    }
}

impl fmt::Display for CheckpointStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A checkpoint's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Its id (a bank key segment).
    pub id: String,
    /// Its status.
    pub status: CheckpointStatus,
    /// The provider whose plugins wrote it.
    pub provider_id: String,
    /// The plan it protects.
    pub plan: Plan,
    /// The resources it covers.
    pub graph: GraphRecord,
    /// The checkpoint it was copied from, for a copy.
    pub copied_from: Option<String>,
    /// When it was created (unix ms).
    pub created_at: i64,
    /// When it last changed (unix ms).
    pub updated_at: i64,
}

impl Checkpoint {
    /// The resource graph it covers.
    pub fn resource_graph(&self) -> Result<ResourceGraph, CheckpointError> {
        ResourceGraph::from_record(&self.graph).map_err(|e| CheckpointError::Corrupt {
            key: format!("{CHECKPOINTS}{}", self.id),
            message: e.to_string(),
        })
    }
}

/// Why a checkpoint or record operation failed.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// No record with that id.
    #[error("{what} `{id}` does not exist")]
    NotFound {
        /// `checkpoint`, `restore` or `verification`.
        what: &'static str,
        /// The id.
        id: String,
    },
    /// An id that cannot be a bank key segment.
    #[error("{what} id `{id}` is not valid: an id is a non-empty name without `/`")]
    BadId {
        /// `checkpoint`, `restore` or `verification`.
        what: &'static str,
        /// The id.
        id: String,
    },
    /// A stored record that cannot be read.
    #[error("bank record `{key}` is corrupt: {message}")]
    Corrupt {
        /// Its bank key.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// A status change the lifecycle does not allow.
    #[error("checkpoint `{id}` is `{from}`: it cannot become `{to}`")]
    Transition {
        /// The checkpoint.
        id: String,
        /// Its status.
        from: CheckpointStatus,
        /// The status asked for.
        to: CheckpointStatus,
    },
    /// An operation a checkpoint's status does not allow.
    #[error("checkpoint `{id}` is `{status}`: {operation} needs it {needs}")]
    Status {
        /// The checkpoint.
        id: String,
        /// Its status.
        status: CheckpointStatus,
        /// What was asked (`delete`, `restore`, ...).
        operation: String,
        /// What the status must be.
        needs: &'static str,
    },
    /// The bank failed.
    #[error(transparent)]
    Bank(#[from] BankError),
}

const CHECKPOINTS: &str = "checkpoints/";

fn check_id(what: &'static str, id: &str) -> Result<(), CheckpointError> {
    if id.is_empty() || id.contains('/') || id == "." || id == ".." {
        return Err(CheckpointError::BadId {
            what,
            id: id.to_owned(),
        });
    }
    Ok(())
}

fn read<T: serde::de::DeserializeOwned>(
    bank: &dyn Bank,
    what: &'static str,
    prefix: &str,
    id: &str,
) -> Result<T, CheckpointError> {
    check_id(what, id)?;
    let key = format!("{prefix}{id}");
    let value = match bank.get(&key) {
        Ok(Some(value)) => value,
        Ok(None) => {
            return Err(CheckpointError::NotFound {
                what,
                id: id.to_owned(),
            })
        }
        Err(BankError::Corrupt { message, .. }) => {
            return Err(CheckpointError::Corrupt { key, message })
        }
        Err(e) => return Err(e.into()),
    };
    serde_json::from_value(value).map_err(|e| CheckpointError::Corrupt {
        key,
        message: e.to_string(),
    })
}

fn write<T: Serialize>(bank: &dyn Bank, key: &str, record: &T) -> Result<(), CheckpointError> {
    let value = serde_json::to_value(record).map_err(|e| CheckpointError::Corrupt {
        key: key.to_owned(),
        message: e.to_string(),
    })?;
    Ok(bank.put(key, &value)?)
}

/// The checkpoints kept in a bank: create, get, list, change status, delete.
#[derive(Debug, Clone)]
pub struct Checkpoints {
    bank: Arc<dyn Bank>,
}

impl Checkpoints {
    /// The checkpoints of `bank`.
    pub fn new(bank: Arc<dyn Bank>) -> Checkpoints {
        Checkpoints { bank }
    }

    /// The bank.
    pub fn bank(&self) -> &Arc<dyn Bank> {
        &self.bank
    }

    /// A new checkpoint of `plan` over `graph` by provider `provider_id`, with
    /// a fresh id, `protecting`.
    pub fn create(
        &self,
        provider_id: &str,
        plan: &Plan,
        graph: &ResourceGraph,
    ) -> Result<Checkpoint, CheckpointError> {
        let id = Uuid::new_v4().to_string();
        self.create_as(&id, provider_id, plan, graph, None)
    }

    /// A new checkpoint with id `id` (`copied_from` another one, for a
    /// copy), `protecting`; an id already taken is an error.
    pub fn create_as(
        &self,
        id: &str,
        provider_id: &str,
        plan: &Plan,
        graph: &ResourceGraph,
        copied_from: Option<&str>,
    ) -> Result<Checkpoint, CheckpointError> {
        match self.get(id) {
            Err(CheckpointError::NotFound { .. }) => {}
            Ok(c) => {
                return Err(CheckpointError::Status {
                    id: id.to_owned(),
                    status: c.status,
                    operation: "create".into(),
                    needs: "not to exist",
                })
            }
            Err(e) => return Err(e),
        }
        let now = now_ms();
        let checkpoint = Checkpoint {
            id: id.to_owned(),
            status: CheckpointStatus::Protecting,
            provider_id: provider_id.to_owned(),
            plan: plan.clone(),
            graph: graph.record(),
            copied_from: copied_from.map(str::to_owned),
            created_at: now,
            updated_at: now,
        };
        self.save(&checkpoint)?;
        Ok(checkpoint)
    }

    /// Writes `checkpoint`'s record as it is (no lifecycle check).
    pub fn save(&self, checkpoint: &Checkpoint) -> Result<(), CheckpointError> {
        check_id("checkpoint", &checkpoint.id)?;
        write(
            &*self.bank,
            &format!("{CHECKPOINTS}{}", checkpoint.id),
            checkpoint,
        )
    }

    /// The checkpoint `id`.
    pub fn get(&self, id: &str) -> Result<Checkpoint, CheckpointError> {
        read(&*self.bank, "checkpoint", CHECKPOINTS, id)
    }

    /// Every checkpoint, oldest first; one record that cannot be read is an
    /// error naming it.
    pub fn list(&self) -> Result<Vec<Checkpoint>, CheckpointError> {
        let mut out = Vec::new();
        for key in self.bank.list(CHECKPOINTS)? {
            let id = &key[CHECKPOINTS.len()..];
            if id.contains('/') {
                continue;
            }
            out.push(self.get(id)?);
        }
        out.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(out)
    }

    /// Moves checkpoint `id` to `to`, if its lifecycle allows.
    pub fn set_status(
        &self,
        id: &str,
        to: CheckpointStatus,
    ) -> Result<Checkpoint, CheckpointError> {
        let mut checkpoint = self.get(id)?;
        if !checkpoint.status.can_become(to) {
            return Err(CheckpointError::Transition {
                id: id.to_owned(),
                from: checkpoint.status,
                to,
            });
        }
        checkpoint.status = to;
        checkpoint.updated_at = now_ms();
        self.save(&checkpoint)?;
        Ok(checkpoint)
    }

    /// The keys of checkpoint `id`'s data (not its record), sorted.
    pub fn data_keys(&self, id: &str) -> Result<Vec<String>, CheckpointError> {
        check_id("checkpoint", id)?;
        Ok(self.bank.list(&format!("{id}/"))?)
    }

    /// Removes checkpoint `id` from the bank: its record and its data. A
    /// checkpoint an operation is writing or deleting (`protecting`,
    /// `deleting`) is refused. Only the bank is touched: data the plugins keep
    /// elsewhere goes with the delete operation
    /// ([`Operations::delete`](super::Operations::delete)).
    pub fn delete(&self, id: &str) -> Result<(), CheckpointError> {
        let checkpoint = self.get(id)?;
        if matches!(
            checkpoint.status,
            CheckpointStatus::Protecting | CheckpointStatus::Deleting
        ) {
            return Err(CheckpointError::Status {
                id: id.to_owned(),
                status: checkpoint.status,
                operation: "delete".into(),
                needs: "`available`, `error` or `deleted`",
            });
        }
        for key in self.data_keys(id)? {
            self.bank.delete(&key)?;
        }
        self.bank.delete(&format!("{CHECKPOINTS}{id}"))?;
        Ok(())
    }

    /// The records of restores.
    pub fn restores(&self) -> Records {
        Records {
            bank: Arc::clone(&self.bank),
            what: "restore",
            prefix: "restores/",
        }
    }

    /// The records of verifications.
    pub fn verifications(&self) -> Records {
        Records {
            bank: Arc::clone(&self.bank),
            what: "verification",
            prefix: "verifications/",
        }
    }
}

/// Where a restore or a verification is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordStatus {
    /// Running.
    InProgress,
    /// Done.
    Success,
    /// Failed.
    Error,
}

impl fmt::Display for RecordStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RecordStatus::InProgress => "in_progress",
            RecordStatus::Success => "success",
            RecordStatus::Error => "error",
        })
    }
}

/// The record of one restore or verification of a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Its id.
    pub id: String,
    /// [`Operation::Restore`] or [`Operation::Verify`].
    pub operation: Operation,
    /// The checkpoint.
    pub checkpoint_id: String,
    /// The provider.
    pub provider_id: String,
    /// Its status.
    pub status: RecordStatus,
    /// Free-form details (what was restored or found).
    pub extra: Value,
    /// When it was created (unix ms).
    pub created_at: i64,
    /// When it last changed (unix ms).
    pub updated_at: i64,
}

/// The restore or the verification records of a bank.
#[derive(Debug, Clone)]
pub struct Records {
    bank: Arc<dyn Bank>,
    what: &'static str,
    prefix: &'static str,
}

impl Records {
    /// A new record for `checkpoint`, `in_progress`.
    pub fn create(
        &self,
        checkpoint: &Checkpoint,
        operation: Operation,
    ) -> Result<Record, CheckpointError> {
        let now = now_ms();
        let record = Record {
            id: Uuid::new_v4().to_string(),
            operation,
            checkpoint_id: checkpoint.id.clone(),
            provider_id: checkpoint.provider_id.clone(),
            status: RecordStatus::InProgress,
            extra: Value::Null,
            created_at: now,
            updated_at: now,
        };
        write(
            &*self.bank,
            &format!("{}{}", self.prefix, record.id),
            &record,
        )?;
        Ok(record)
    }

    /// The record `id`.
    pub fn get(&self, id: &str) -> Result<Record, CheckpointError> {
        read(&*self.bank, self.what, self.prefix, id)
    }

    /// Every record, oldest first.
    pub fn list(&self) -> Result<Vec<Record>, CheckpointError> {
        let mut out = Vec::new();
        for key in self.bank.list(self.prefix)? {
            out.push(self.get(&key[self.prefix.len()..])?);
        }
        out.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(out)
    }

    /// Sets record `id`'s status (and `extra`, when given).
    pub fn set_status(
        &self,
        id: &str,
        status: RecordStatus,
        extra: Option<Value>,
    ) -> Result<Record, CheckpointError> {
        let mut record = self.get(id)?;
        record.status = status;
        if let Some(extra) = extra {
            record.extra = extra;
        }
        record.updated_at = now_ms();
        write(&*self.bank, &format!("{}{id}", self.prefix), &record)?;
        Ok(record)
    }
}
