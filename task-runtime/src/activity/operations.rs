//! The five operations as Karbor's protection service runs them: each an
//! Initiate task, the resource graph's activities, and a Complete task, in one
//! linear flow the engine runs and records; each with an operation log.
//!
//! | operation | before the flow | Initiate (its revert) | Complete |
//! |---|---|---|---|
//! | protect | checkpoint made, `protecting` | checks `protecting` (→ `error`) | → `available` |
//! | restore | checkpoint `available`; restore record | record `in_progress` (→ `error`) | record `success` |
//! | verify | checkpoint `available`; verification record | record `in_progress` (→ `error`) | record `success` |
//! | copy | source `available`; new checkpoint, `protecting`, in the target bank | checks `protecting` (→ `error`) | new checkpoint → `available` |
//! | delete | checkpoint `available` or `error` | → `deleting` (→ `error`) | data left in the bank removed, → `deleted` |
//!
//! A failing activity makes the engine revert the flow, Initiate's revert
//! last: the checkpoint or record ends in `error`, and the operation log says
//! which activity failed and why. Should a run end without Initiate's revert
//! having run (the flow could not start), the operation sets `error` itself.

use std::sync::Arc;

use serde_json::{json, Value};

use super::{
    build, ActivityError, Checkpoint, CheckpointError, CheckpointStatus, Checkpoints, Operation,
    OperationLog, OperationLogError, OperationLogs, Plan, Protectables, Provider, RecordStatus,
    Records, ResourceGraph, Target,
};
use crate::engine::{Engine, RunError};
use crate::failure::{Failure, FailureKind};
use crate::flow::Flow;
use crate::persistence::{Backend, Uuid};
use crate::task::{FnTask, TaskSpec};

/// Called with each operation's flow and its engine before the engine runs:
/// add listeners, options.
pub type EngineHook = dyn Fn(&Flow, Engine) -> Engine + Send + Sync;

/// What an operation that ended well did.
#[derive(Debug, Clone)]
pub struct OperationDone {
    /// Its log, ended.
    pub log: OperationLog,
    /// The checkpoint: for a copy, the one it made.
    pub checkpoint_id: String,
    /// The restore or verification record.
    pub record_id: Option<String>,
}

/// Why an operation did not run, or failed.
#[derive(Debug, thiserror::Error)]
pub enum OperationError {
    /// A checkpoint that is not there, not readable, or in a status the
    /// operation does not accept.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// The flow cannot be built (a resource type without a plugin, ...).
    #[error(transparent)]
    Activity(#[from] ActivityError),
    /// The operation log cannot be written.
    #[error(transparent)]
    Log(#[from] OperationLogError),
    /// A checkpoint another provider wrote.
    #[error("checkpoint `{checkpoint}` was written by provider `{owner}`, not by `{provider}`")]
    OtherProvider {
        /// The checkpoint.
        checkpoint: String,
        /// The provider that wrote it.
        owner: String,
        /// This provider.
        provider: String,
    },
    /// The operation ran and failed; its log is saved with the reason.
    #[error("{} of checkpoint `{}` failed (operation log {}): {error}", log.operation, log.checkpoint_id, log.id)]
    Failed {
        /// The log, ended in `error`.
        log: Box<OperationLog>,
        /// Why.
        #[source]
        error: Box<RunError>,
    },
}

/// A provider's operations on its checkpoints, recorded in a logbook.
#[derive(Clone)]
pub struct Operations {
    provider: Provider,
    checkpoints: Checkpoints,
    logs: OperationLogs,
    logbook: Arc<dyn Backend>,
    max_workers: usize,
    hook: Option<Arc<EngineHook>>,
}

impl std::fmt::Debug for Operations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Operations")
            .field("provider", &self.provider.name)
            .field("logbook", &self.logbook.url())
            .field("max_workers", &self.max_workers)
            .finish()
    }
}

/// The checkpoint (or record) an operation's Initiate and Complete change.
#[derive(Clone)]
enum Subject {
    Checkpoint(Checkpoints, String),
    Record(Records, String),
}

impl Subject {
    /// After a failed run: `error`, unless Initiate's revert set it already.
    fn fail(&self) {
        match self {
            Subject::Checkpoint(checkpoints, id) => {
                if let Ok(c) = checkpoints.get(id) {
                    if c.status.can_become(CheckpointStatus::Error) {
                        let _ = checkpoints.set_status(id, CheckpointStatus::Error);
                    }
                }
            }
            Subject::Record(records, id) => {
                if records
                    .get(id)
                    .is_ok_and(|r| r.status == RecordStatus::InProgress)
                {
                    let _ = records.set_status(id, RecordStatus::Error, None);
                }
            }
        }
    }
}

fn failure(e: CheckpointError) -> Failure {
    Failure::from_error(e)
}

impl Operations {
    /// The operations of `provider`, recorded in `logbook` (the engine's runs
    /// and the operation logs).
    pub fn new(
        provider: Provider,
        logbook: Arc<dyn Backend>,
    ) -> Result<Operations, OperationError> {
        Ok(Operations {
            checkpoints: Checkpoints::new(Arc::clone(&provider.bank)),
            logs: OperationLogs::open(Arc::clone(&logbook))?,
            provider,
            logbook,
            max_workers: 4,
            hook: None,
        })
    }

    /// How many activities run at once (default 4).
    pub fn max_workers(mut self, n: usize) -> Operations {
        self.max_workers = n.max(1);
        self
    }

    /// Calls `hook` with each flow and its engine before it runs.
    pub fn on_engine(
        mut self,
        hook: impl Fn(&Flow, Engine) -> Engine + Send + Sync + 'static,
    ) -> Operations {
        self.hook = Some(Arc::new(hook));
        self
    }

    /// The provider.
    pub fn provider(&self) -> &Provider {
        &self.provider
    }

    /// The provider's checkpoints.
    pub fn checkpoints(&self) -> &Checkpoints {
        &self.checkpoints
    }

    /// The operation logs.
    pub fn logs(&self) -> &OperationLogs {
        &self.logs
    }

    /// Protects `plan`: its resource graph comes from `protectables`.
    pub fn protect(
        &self,
        plan: &Plan,
        protectables: &Protectables,
    ) -> Result<OperationDone, OperationError> {
        let graph = protectables.graph(&plan.resources)?;
        self.protect_graph(plan, &graph)
    }

    /// Protects `graph` into a new checkpoint of `plan`.
    pub fn protect_graph(
        &self,
        plan: &Plan,
        graph: &ResourceGraph,
    ) -> Result<OperationDone, OperationError> {
        // Built before the checkpoint is made: a graph the provider cannot
        // protect leaves nothing behind.
        let id = Uuid::new_v4().to_string();
        let resources = build(
            &self.provider,
            "resources".into(),
            Operation::Protect,
            graph,
            &id,
            None,
        )?;
        let checkpoint = self
            .checkpoints
            .create_as(&id, &self.provider.id, plan, graph, None)?;
        let subject = Subject::Checkpoint(self.checkpoints.clone(), checkpoint.id.clone());
        let log = OperationLog::start(
            Operation::Protect,
            &checkpoint.id,
            &plan.id,
            &self.provider.id,
        );
        self.run(log, &checkpoint.id, resources.flow, subject, None)
    }

    /// Restores checkpoint `id` (which must be `available`).
    pub fn restore(&self, id: &str) -> Result<OperationDone, OperationError> {
        self.with_record(Operation::Restore, id, self.checkpoints.restores())
    }

    /// Verifies checkpoint `id` (which must be `available`).
    pub fn verify(&self, id: &str) -> Result<OperationDone, OperationError> {
        self.with_record(Operation::Verify, id, self.checkpoints.verifications())
    }

    /// Deletes checkpoint `id` (`available` or `error`): the plugins' delete
    /// activities, then whatever data is left in the bank; the record stays,
    /// `deleted`.
    pub fn delete(&self, id: &str) -> Result<OperationDone, OperationError> {
        let checkpoint = self.owned(id)?;
        if !checkpoint.status.can_become(CheckpointStatus::Deleting) {
            return Err(CheckpointError::Status {
                id: id.to_owned(),
                status: checkpoint.status,
                operation: "delete".into(),
                needs: "`available` or `error`",
            }
            .into());
        }
        let graph = checkpoint.resource_graph()?;
        let resources = build(
            &self.provider,
            "resources".into(),
            Operation::Delete,
            &graph,
            id,
            None,
        )?;
        let subject = Subject::Checkpoint(self.checkpoints.clone(), id.to_owned());
        let log = OperationLog::start(
            Operation::Delete,
            id,
            &checkpoint.plan.id,
            &self.provider.id,
        );
        self.run(log, id, resources.flow, subject, None)
    }

    /// Copies checkpoint `id` (which must be `available`) into a new
    /// checkpoint in `to` (another bank, or this one): the plugins' copy
    /// activities write it ([`ActivityCtx::target`](super::ActivityCtx::target)).
    pub fn copy(&self, id: &str, to: &Checkpoints) -> Result<OperationDone, OperationError> {
        let checkpoint = self.available(Operation::Copy, id)?;
        let graph = checkpoint.resource_graph()?;
        // Built before the new checkpoint is made, to fail early.
        let copy_id = Uuid::new_v4().to_string();
        let resources = build(
            &self.provider,
            "resources".into(),
            Operation::Copy,
            &graph,
            id,
            Some(Target {
                checkpoint: &copy_id,
                bank: to.bank(),
            }),
        )?;
        let copy = to.create_as(
            &copy_id,
            &self.provider.id,
            &checkpoint.plan,
            &graph,
            Some(id),
        )?;
        let subject = Subject::Checkpoint(to.clone(), copy.id.clone());
        let mut log =
            OperationLog::start(Operation::Copy, id, &checkpoint.plan.id, &self.provider.id);
        log.extra_info = json!({ "copy_to": copy.id });
        let mut outcome = self.run(log, id, resources.flow, subject, None)?;
        outcome.checkpoint_id = copy.id;
        Ok(outcome)
    }

    fn owned(&self, id: &str) -> Result<Checkpoint, OperationError> {
        let checkpoint = self.checkpoints.get(id)?;
        if checkpoint.provider_id != self.provider.id {
            return Err(OperationError::OtherProvider {
                checkpoint: id.to_owned(),
                owner: checkpoint.provider_id,
                provider: self.provider.id.clone(),
            });
        }
        Ok(checkpoint)
    }

    fn available(&self, operation: Operation, id: &str) -> Result<Checkpoint, OperationError> {
        let checkpoint = self.owned(id)?;
        if checkpoint.status != CheckpointStatus::Available {
            return Err(CheckpointError::Status {
                id: id.to_owned(),
                status: checkpoint.status,
                operation: operation.to_string(),
                needs: "`available`",
            }
            .into());
        }
        Ok(checkpoint)
    }

    fn with_record(
        &self,
        operation: Operation,
        id: &str,
        records: Records,
    ) -> Result<OperationDone, OperationError> {
        let checkpoint = self.available(operation, id)?;
        let graph = checkpoint.resource_graph()?;
        let resources = build(
            &self.provider,
            "resources".into(),
            operation,
            &graph,
            id,
            None,
        )?;
        let record = records.create(&checkpoint, operation)?;
        let key = if operation == Operation::Restore {
            "restore_id"
        } else {
            "verification_id"
        };
        let mut log = OperationLog::start(operation, id, &checkpoint.plan.id, &self.provider.id);
        log.extra_info = json!({ key: record.id });
        let subject = Subject::Record(records, record.id.clone());
        self.run(log, id, resources.flow, subject, Some(record.id))
    }

    /// Runs Initiate, the resources' flow and Complete; keeps the log.
    fn run(
        &self,
        mut log: OperationLog,
        checkpoint: &str,
        resources: Flow,
        subject: Subject,
        record_id: Option<String>,
    ) -> Result<OperationDone, OperationError> {
        self.logs.save(&log)?;
        let operation = log.operation;
        let flow = Flow::linear(format!("{operation}:{checkpoint}"))
            .add(initiate(operation, &subject))
            .add(resources)
            .add(complete(operation, &subject));
        let mut engine = Engine::new(flow.clone())
            .max_workers(self.max_workers)
            .persist(Arc::clone(&self.logbook));
        if let Some(hook) = &self.hook {
            engine = hook(&flow, engine);
        }
        let result = engine.run();
        log.flow_uuid = engine.flow_uuid();
        match result {
            Ok(_) => {
                log.end(None);
                self.logs.save(&log)?;
                let checkpoint_id = checkpoint.to_owned();
                Ok(OperationDone {
                    log,
                    checkpoint_id,
                    record_id,
                })
            }
            Err(error) => {
                subject.fail();
                log.end(Some(error.to_string()));
                self.logs.save(&log)?;
                Err(OperationError::Failed {
                    log: Box::new(log),
                    error: Box::new(error),
                })
            }
        }
    }
}

/// The Initiate task of `operation`: the subject in progress; its revert
/// sets `error`.
fn initiate(operation: Operation, subject: &Subject) -> TaskSpec {
    let name = format!("initiate_{operation}");
    let (run_subject, revert_subject) = (subject.clone(), subject.clone());
    FnTask::new(name.clone())
        .run(move |_| match &run_subject {
            Subject::Checkpoint(checkpoints, id) => {
                if operation == Operation::Delete {
                    checkpoints
                        .set_status(id, CheckpointStatus::Deleting)
                        .map_err(failure)?;
                } else {
                    let c = checkpoints.get(id).map_err(failure)?;
                    if c.status != CheckpointStatus::Protecting {
                        return Err(Failure::new(
                            FailureKind::Task,
                            format!("checkpoint `{id}` is `{}`, not `protecting`", c.status),
                        ));
                    }
                }
                Ok(json!(id))
            }
            Subject::Record(records, id) => {
                records
                    .set_status(id, RecordStatus::InProgress, None)
                    .map_err(failure)?;
                Ok(json!(id))
            }
        })
        .revert(move |_| {
            match &revert_subject {
                Subject::Checkpoint(checkpoints, id) => {
                    let c = checkpoints.get(id).map_err(failure)?;
                    if c.status.can_become(CheckpointStatus::Error) {
                        checkpoints
                            .set_status(id, CheckpointStatus::Error)
                            .map_err(failure)?;
                    }
                }
                Subject::Record(records, id) => {
                    records
                        .set_status(id, RecordStatus::Error, None)
                        .map_err(failure)?;
                }
            }
            Ok(())
        })
        .into_spec()
        .named(name)
}

/// The Complete task of `operation`: the subject's final status.
fn complete(operation: Operation, subject: &Subject) -> TaskSpec {
    let name = format!("complete_{operation}");
    let subject = subject.clone();
    FnTask::new(name.clone())
        .run(move |_| {
            match &subject {
                Subject::Checkpoint(checkpoints, id) => {
                    let to = if operation == Operation::Delete {
                        for key in checkpoints.data_keys(id).map_err(failure)? {
                            checkpoints
                                .bank()
                                .delete(&key)
                                .map_err(|e| failure(e.into()))?;
                        }
                        CheckpointStatus::Deleted
                    } else {
                        CheckpointStatus::Available
                    };
                    checkpoints.set_status(id, to).map_err(failure)?;
                }
                Subject::Record(records, id) => {
                    records
                        .set_status(id, RecordStatus::Success, None)
                        .map_err(failure)?;
                }
            }
            Ok(Value::Null)
        })
        .into_spec()
        .named(name)
}
