//! Storage: the engine's only memory of a flow — atom states, results and
//! failures, engine inputs, the flow's state, and the order atoms finished in.
//!
//! Every state change goes through `Storage::set_atom` or
//! `Storage::set_flow`, which check the transition against the state tables,
//! record it, and only then tell the listeners. The engine acts on a change
//! only after it is recorded; persistence backends plug in here, so that a new
//! engine can resume from what was recorded.

// A run ends with at most one error, which names flow, atom and backend; its
// size is not on any hot path, so it stays unboxed for easy matching.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use serde_json::Value;

use crate::engine::record::Recorder;
use crate::engine::RunError;
use crate::failure::{Failure, Failures};
use crate::flow::{ArgSource, ExecutionGraph};
use crate::listener::{AtomEvent, FlowEvent, Listener};
use crate::retry::History;
use crate::state::{AtomState, FlowState};

/// What a recorded state change is passed on to: the logbook first (before
/// the change is acted upon), then the listeners.
pub(crate) struct Hooks<'a> {
    pub(crate) listeners: &'a [Arc<dyn Listener>],
    pub(crate) recorder: Option<&'a mut Recorder>,
}

/// An illegal state change: a bug in the engine or a corrupt record, never
/// acted upon.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    /// An atom transition not in the table.
    #[error("flow `{flow}`: atom `{atom}` cannot go from {from} to {to}")]
    Atom {
        /// The flow.
        flow: String,
        /// The atom.
        atom: String,
        /// Its state.
        from: AtomState,
        /// The state asked for.
        to: AtomState,
    },
    /// A flow transition not in the table.
    #[error("flow `{flow}` cannot go from {from} to {to}")]
    Flow {
        /// The flow.
        flow: String,
        /// Its state.
        from: FlowState,
        /// The state asked for.
        to: FlowState,
    },
}

/// The recorded state of one flow run.
#[derive(Debug, Clone)]
pub struct Storage {
    pub(crate) plan: Arc<ExecutionGraph>,
    pub(crate) inputs: Vec<Value>,
    pub(crate) flow_state: FlowState,
    pub(crate) states: Vec<AtomState>,
    pub(crate) results: Vec<Option<Value>>,
    pub(crate) failures: Vec<Option<Failure>>,
    pub(crate) revert_failures: Vec<Option<Failure>>,
    /// Atoms in the order they succeeded.
    pub(crate) completed: Vec<u32>,
    /// Each retry scope's history (`ExecutionGraph::retries` order).
    pub(crate) histories: Vec<Arc<History>>,
}

impl Storage {
    pub(crate) fn new(plan: Arc<ExecutionGraph>, inputs: Vec<Value>) -> Storage {
        let n = plan.atoms.len();
        Storage {
            inputs,
            flow_state: FlowState::Pending,
            states: vec![AtomState::Pending; n],
            results: vec![None; n],
            failures: vec![None; n],
            revert_failures: vec![None; n],
            completed: Vec::new(),
            histories: vec![Arc::default(); plan.retries.len()],
            plan,
        }
    }

    /// The history of the retry around atom `index` (for a retry atom, its
    /// own).
    #[inline]
    pub(crate) fn history_for(&self, index: usize) -> Option<&Arc<History>> {
        if self.histories.is_empty() {
            return None;
        }
        let scope = self
            .plan
            .retry_scope(index)
            .or_else(|| self.plan.scope_of(index))?;
        self.histories.get(scope)
    }

    /// The history of the retry named `atom`.
    pub fn retry_history(&self, atom: &str) -> Option<&History> {
        let index = self.plan.atom_index(atom)?;
        let scope = self.plan.retry_scope(index)?;
        self.histories.get(scope).map(|h| &**h)
    }

    /// The compiled flow.
    pub fn plan(&self) -> &ExecutionGraph {
        &self.plan
    }

    /// The flow's state.
    pub fn flow_state(&self) -> FlowState {
        self.flow_state
    }

    /// The state of atom `index`.
    pub fn atom_state(&self, index: usize) -> AtomState {
        self.states[index]
    }

    /// The recorded result of atom `index` (kept after a revert).
    pub fn result(&self, index: usize) -> Option<&Value> {
        self.results[index].as_ref()
    }

    /// The recorded failure of atom `index`'s execution.
    pub fn failure(&self, index: usize) -> Option<&Failure> {
        self.failures[index].as_ref()
    }

    /// The recorded failure of atom `index`'s revert.
    pub fn revert_failure(&self, index: usize) -> Option<&Failure> {
        self.revert_failures[index].as_ref()
    }

    /// Every recorded failure, by atom name.
    pub fn failures(&self) -> Failures {
        Failures::from_pairs(self.failures.iter().enumerate().filter_map(|(i, f)| {
            f.as_ref()
                .map(|f| (self.plan.atoms[i].atom_name().to_owned(), f.clone()))
        }))
    }

    /// The value of one argument source, as the atom will see it.
    pub(crate) fn source<'a>(&'a self, source: &'a ArgSource) -> Option<&'a Value> {
        match source {
            ArgSource::Inject(i) => self.plan.injected.get(*i as usize),
            ArgSource::Input(i) => self.inputs.get(*i as usize),
            ArgSource::Atom(slot) => {
                let value = self.results[slot.atom as usize].as_ref()?;
                match slot.elem {
                    None => Some(value),
                    Some(e) => value.get(e as usize),
                }
            }
            ArgSource::Absent => None,
        }
    }

    pub(crate) fn set_flow(
        &mut self,
        to: FlowState,
        hooks: &mut Hooks<'_>,
    ) -> Result<(), RunError> {
        let from = self.flow_state;
        if !from.can_become(to) {
            return Err(TransitionError::Flow {
                flow: self.plan.flow.to_string(),
                from,
                to,
            }
            .into());
        }
        if let Some(recorder) = hooks.recorder.as_deref_mut() {
            recorder
                .flow(to)
                .map_err(|source| RunError::persistence(self.plan.flow.to_string(), source))?;
        }
        self.flow_state = to;
        for l in hooks.listeners {
            l.on_flow(&FlowEvent {
                flow: &self.plan.flow,
                previous: from,
                state: to,
            });
        }
        Ok(())
    }

    /// Records atom `index` going to `to`, with its result (SUCCESS) or failure
    /// (FAILURE, REVERT_FAILURE).
    pub(crate) fn set_atom(
        &mut self,
        index: usize,
        to: AtomState,
        outcome: Option<Result<Value, Failure>>,
        hooks: &mut Hooks<'_>,
    ) -> Result<(), RunError> {
        let from = self.states[index];
        if !from.can_become(to) {
            return Err(TransitionError::Atom {
                flow: self.plan.flow.to_string(),
                atom: self.plan.atoms[index].atom_name().to_owned(),
                from,
                to,
            }
            .into());
        }
        if let Some(recorder) = hooks.recorder.as_deref_mut() {
            let history = match self.histories.is_empty() {
                true => None,
                false => self.plan.retry_scope(index).map(|s| &*self.histories[s]),
            };
            recorder
                .atom(index, to, outcome.as_ref(), history)
                .map_err(|source| RunError::persistence(self.plan.flow.to_string(), source))?;
        }
        self.states[index] = to;
        if to == AtomState::Pending {
            // Another attempt of its retry: the last outcome is in the history.
            self.results[index] = None;
            self.failures[index] = None;
            self.revert_failures[index] = None;
        }
        match outcome {
            Some(Ok(value)) => {
                self.results[index] = Some(value);
                self.completed.push(index as u32);
            }
            Some(Err(failure)) if to == AtomState::RevertFailure => {
                self.revert_failures[index] = Some(failure)
            }
            Some(Err(failure)) => self.failures[index] = Some(failure),
            None => {}
        }
        if !hooks.listeners.is_empty() {
            let event = AtomEvent {
                flow: &self.plan.flow,
                atom: self.plan.atoms[index].atom_name(),
                previous: from,
                state: to,
                result: match to {
                    AtomState::Success => self.results[index].as_ref(),
                    _ => None,
                },
                failure: match to {
                    AtomState::Failure => self.failures[index].as_ref(),
                    AtomState::RevertFailure => self.revert_failures[index].as_ref(),
                    _ => None,
                },
            };
            for l in hooks.listeners {
                l.on_atom(&event);
            }
        }
        Ok(())
    }
}
