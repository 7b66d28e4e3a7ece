//! Write-through to a logbook: every transition is saved (under the engine's
//! lease) before the engine acts on it, and a run is rebuilt from what was
//! saved.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Value};

use super::{AtomState, FlowState, Intention};
use crate::failure::Failure;
use crate::flow::Plan;
use crate::persistence::{
    now_ms, AtomDetail, AtomType, Backend, FlowDetail, Lease, LogBook, PersistenceError, Uuid,
};
use crate::retry::History;
use crate::storage::Storage;
use crate::task::Version;

/// How an engine records its run; see [`Engine::persist`](super::Engine::persist).
#[derive(Debug, Clone)]
pub(crate) struct PersistConfig {
    pub(crate) backend: Arc<dyn Backend>,
    pub(crate) logbook: Option<Uuid>,
    pub(crate) owner: String,
    pub(crate) ttl: Duration,
}

impl PersistConfig {
    pub(crate) fn new(backend: Arc<dyn Backend>) -> PersistConfig {
        PersistConfig {
            backend,
            logbook: None,
            owner: default_owner(),
            ttl: Duration::from_secs(30),
        }
    }
}

/// `host/pid`: who holds a lease.
pub(crate) fn default_owner() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
        })
        .unwrap_or_else(|| "localhost".to_owned());
    format!("{host}/{}", std::process::id())
}

/// The engine's side of the logbook: the records of its flow and atoms, and
/// the lease it writes under.
#[derive(Debug)]
pub(crate) struct Recorder {
    backend: Arc<dyn Backend>,
    flow: FlowDetail,
    atoms: Vec<AtomDetail>,
    lease: Lease,
    ttl: Duration,
    /// Order in which atoms succeeded, kept in each atom's `meta.done`.
    next_done: u64,
}

impl Recorder {
    /// Records a new run: a logbook (unless given), the flow detail with the
    /// factory, parameters and inputs to rebuild it, and every atom PENDING.
    pub(crate) fn start(
        config: &PersistConfig,
        plan: &Plan,
        meta: Value,
    ) -> Result<Recorder, PersistenceError> {
        let backend = Arc::clone(&config.backend);
        let logbook = match config.logbook {
            Some(uuid) => uuid,
            None => {
                let book = LogBook::new(plan.flow_name());
                backend.save_logbook(&book)?;
                book.uuid
            }
        };
        let mut flow = FlowDetail::new(logbook, plan.flow_name());
        flow.meta = meta;
        backend.save_flow(&flow, None)?;
        let lease = backend.acquire_lease(flow.uuid, &config.owner, config.ttl)?;
        let atoms: Vec<AtomDetail> = plan
            .atoms()
            .iter()
            .enumerate()
            .map(|(i, spec)| {
                let mut a = AtomDetail::new(flow.uuid, spec.atom_name(), i as u32);
                a.version = spec.def().meta.version.to_string();
                if plan.is_retry(i) {
                    a.atom_type = AtomType::Retry;
                }
                a
            })
            .collect();
        backend.save_atoms(&atoms, Some(&lease))?;
        Ok(Recorder {
            backend,
            flow,
            atoms,
            lease,
            ttl: config.ttl,
            next_done: 0,
        })
    }

    /// Takes over a recorded run: its lease, and its records.
    pub(crate) fn resume(
        config: &PersistConfig,
        flow: FlowDetail,
        atoms: Vec<AtomDetail>,
    ) -> Result<Recorder, PersistenceError> {
        let lease = config
            .backend
            .acquire_lease(flow.uuid, &config.owner, config.ttl)?;
        let next_done = atoms.iter().filter_map(done_of).max().map_or(0, |d| d + 1);
        Ok(Recorder {
            backend: Arc::clone(&config.backend),
            flow,
            atoms,
            lease,
            ttl: config.ttl,
            next_done,
        })
    }

    /// The flow detail's id.
    pub(crate) fn flow_uuid(&self) -> Uuid {
        self.flow.uuid
    }

    /// Saves the flow going to `to`.
    pub(crate) fn flow(&mut self, to: FlowState) -> Result<(), PersistenceError> {
        self.renew_if_due()?;
        let mut flow = self.flow.clone();
        flow.state = to;
        flow.touch();
        self.backend.save_flow(&flow, Some(&self.lease))?;
        self.flow = flow;
        if to.is_final() || to == FlowState::Suspended {
            // Done with it for now: let another engine have it at once.
            self.backend.release_lease(&self.lease)?;
        }
        Ok(())
    }

    /// Saves atom `index` going to `to`, with its result or failure.
    pub(crate) fn atom(
        &mut self,
        index: usize,
        to: AtomState,
        outcome: Option<&Result<Value, Failure>>,
        history: Option<&History>,
    ) -> Result<(), PersistenceError> {
        self.renew_if_due()?;
        let mut atom = self.atoms[index].clone();
        atom.state = to;
        if let Some(history) = history {
            set_meta(&mut atom.meta, "history", json!(history));
        }
        if to == AtomState::Pending {
            // Reset for another attempt of its retry: the last attempt's
            // outcome lives on in the retry's history.
            atom.result = None;
            atom.failure = None;
            atom.revert_failure = None;
            if let Value::Object(map) = &mut atom.meta {
                map.remove("done");
            }
        }
        atom.intention = match to {
            AtomState::Reverting | AtomState::Reverted | AtomState::RevertFailure => {
                Intention::Revert
            }
            AtomState::Ignore => Intention::Ignore,
            _ => Intention::Execute,
        };
        match outcome {
            Some(Ok(value)) => {
                atom.result = Some(value.clone());
                set_done(&mut atom.meta, self.next_done);
            }
            Some(Err(failure)) if to == AtomState::RevertFailure => {
                atom.revert_failure = Some(failure.clone())
            }
            Some(Err(failure)) => atom.failure = Some(failure.clone()),
            None => {}
        }
        atom.touch();
        self.backend.save_atom(&atom, Some(&self.lease))?;
        if matches!(outcome, Some(Ok(_))) {
            self.next_done += 1;
        }
        self.atoms[index] = atom;
        Ok(())
    }

    /// Renews the lease once half its time has passed, so that a long run
    /// keeps it; a lease lost to another owner stops the run (fenced).
    fn renew_if_due(&mut self) -> Result<(), PersistenceError> {
        let half = i64::try_from(self.ttl.as_millis() / 2).unwrap_or(i64::MAX);
        if self.lease.expires_at - now_ms() < half {
            self.lease = self.backend.renew_lease(&self.lease, self.ttl)?;
        }
        Ok(())
    }

    /// Gives the lease back (when an engine is dropped mid-run).
    pub(crate) fn release(&self) {
        let _ = self.backend.release_lease(&self.lease);
    }
}

fn done_of(atom: &AtomDetail) -> Option<u64> {
    atom.meta.get("done").and_then(Value::as_u64)
}

fn set_done(meta: &mut Value, done: u64) {
    set_meta(meta, "done", json!(done));
}

fn set_meta(meta: &mut Value, key: &str, value: Value) {
    match meta {
        Value::Object(map) => {
            map.insert(key.to_owned(), value);
        }
        other => *other = json!({ key: value }),
    }
}

/// Why a recorded run cannot be taken up again.
#[derive(Debug, thiserror::Error)]
pub enum ResumeError {
    /// The logbook could not be read or the lease not taken.
    #[error(transparent)]
    Persistence(#[from] PersistenceError),
    /// The flow detail does not say how to rebuild its flow.
    #[error("flow detail {flow}: its metadata does not name a flow factory (`{field}` is missing or not {expected}); only runs started with `Engine::from_factory` can be resumed by id")]
    NoFactory {
        /// The flow detail.
        flow: Uuid,
        /// The field.
        field: &'static str,
        /// What it should be.
        expected: &'static str,
    },
    /// The factory is unknown or refused its parameters.
    #[error("flow detail {flow}: {source}")]
    Factory {
        /// The flow detail.
        flow: Uuid,
        /// What went wrong.
        #[source]
        source: crate::factory::FactoryError,
    },
    /// The rebuilt flow does not have the recorded atoms.
    #[error("flow detail {flow}: the recorded atom `{atom}` at position {position} is not in the flow the factory builds now ({found})")]
    Mismatch {
        /// The flow detail.
        flow: Uuid,
        /// The recorded atom.
        atom: String,
        /// Its recorded position.
        position: u32,
        /// What the flow has there.
        found: String,
    },
    /// An atom was recorded by a different major version of its task.
    #[error("flow detail {flow}: atom `{atom}` was recorded by version {recorded} of its task, and the code is version {current}; a major version change needs an upgrade policy (`Engine::upgrade_policy`)")]
    Version {
        /// The flow detail.
        flow: Uuid,
        /// The atom.
        atom: String,
        /// The recorded version.
        recorded: String,
        /// The code's version.
        current: Version,
    },
    /// The rebuilt flow is not valid.
    #[error(transparent)]
    Invalid(#[from] crate::flow::FlowErrors),
    /// A record cannot be read.
    #[error("flow detail {flow}: atom `{atom}`: {message}")]
    Corrupt {
        /// The flow detail.
        flow: Uuid,
        /// The atom.
        atom: String,
        /// What is wrong.
        message: String,
    },
}

/// Puts what the logbook recorded into a fresh storage, checking that the
/// recorded atoms are the plan's and that their versions are compatible.
pub(crate) fn restore(
    storage: &mut Storage,
    flow: &FlowDetail,
    atoms: &[AtomDetail],
    upgrade: Option<&super::UpgradePolicy>,
) -> Result<(), ResumeError> {
    let plan = Arc::clone(&storage.plan);
    let mut done: Vec<(u64, u32)> = Vec::new();
    for recorded in atoms {
        let i = recorded.position as usize;
        let spec = plan
            .atoms()
            .get(i)
            .filter(|s| s.atom_name() == recorded.name);
        let Some(spec) = spec else {
            return Err(ResumeError::Mismatch {
                flow: flow.uuid,
                atom: recorded.name.clone(),
                position: recorded.position,
                found: plan.atoms().get(i).map_or_else(
                    || format!("it has {} atoms", plan.atoms().len()),
                    |s| format!("`{}` is there", s.atom_name()),
                ),
            });
        };
        let current = spec.def().meta.version;
        let compatible = recorded
            .parsed_version()
            .is_some_and(|v| v.major == current.major);
        if !compatible
            && !upgrade.is_some_and(|allow| allow(&recorded.name, &recorded.version, current))
        {
            return Err(ResumeError::Version {
                flow: flow.uuid,
                atom: recorded.name.clone(),
                recorded: recorded.version.clone(),
                current,
            });
        }
        if let Some(scope) = plan.retry_scope(i) {
            if let Some(history) = recorded.meta.get("history") {
                let history = History::deserialize(history).map_err(|e| ResumeError::Corrupt {
                    flow: flow.uuid,
                    atom: recorded.name.clone(),
                    message: format!("its retry history (`meta.history`) cannot be read: {e}"),
                })?;
                storage.histories[scope] = Arc::new(history);
            }
        }
        storage.states[i] = recorded.state;
        storage.results[i] = recorded.result.clone();
        storage.failures[i] = recorded.failure.clone();
        storage.revert_failures[i] = recorded.revert_failure.clone();
        if let Some(d) = done_of(recorded) {
            if recorded.result.is_some() {
                done.push((d, i as u32));
            }
        }
    }
    done.sort_unstable();
    storage.completed = done.into_iter().map(|(_, i)| i).collect();
    storage.flow_state = flow.state;
    Ok(())
}
