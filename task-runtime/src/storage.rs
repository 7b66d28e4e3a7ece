//! Storage: the engine's only memory of a flow — atom states, results and
//! failures, engine inputs, the flow's state, and the order atoms finished in.
//!
//! Every state change goes through `Storage::set_atom` or
//! `Storage::set_flow`, which check the transition against the state tables
//! and note it in the run's `Journal` (the logbook's recorder, when the run
//! is persisted). Listeners hear of a change once it is recorded: at once
//! without a journal, after the journal's commit with one (the engine calls
//! `Storage::tell`). Storage sits below the engine and imports nothing of it.

use std::sync::Arc;

use serde_json::Value;

use crate::failure::{Failure, Failures};
use crate::flow::{ArgSource, ExecutionGraph};
use crate::listener::{AtomEvent, FlowEvent, Listener};
use crate::retry::History;
use crate::state::{AtomState, FlowState};

/// Where transitions are recorded: noted here, committed later by the
/// engine, before it acts on them.
pub(crate) trait Journal {
    /// Atom `index` goes to `to`, with its result or failure (and, for a
    /// retry atom, its history).
    fn atom(
        &mut self,
        index: usize,
        to: AtomState,
        outcome: Option<&Result<Value, Failure>>,
        history: Option<&History>,
    );

    /// The flow goes to `to`.
    fn flow(&mut self, to: FlowState);
}

/// What a state change is passed on to: the journal first, then the
/// listeners.
pub(crate) struct Hooks<'a> {
    pub(crate) listeners: &'a [Arc<dyn Listener>],
    pub(crate) journal: Option<&'a mut dyn Journal>,
}

/// A change the listeners hear of once it is committed.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Change {
    Atom {
        index: usize,
        from: AtomState,
        to: AtomState,
    },
    Flow {
        from: FlowState,
        to: FlowState,
    },
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
    /// Changes noted in the journal, not yet told to the listeners.
    untold: Vec<Change>,
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
            untold: Vec::new(),
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
    ) -> Result<(), TransitionError> {
        let from = self.flow_state;
        if !from.can_become(to) {
            return Err(TransitionError::Flow {
                flow: self.plan.flow.to_string(),
                from,
                to,
            });
        }
        self.flow_state = to;
        if let Some(journal) = hooks.journal.as_deref_mut() {
            journal.flow(to);
            if !hooks.listeners.is_empty() {
                self.untold.push(Change::Flow { from, to });
            }
            return Ok(());
        }
        self.tell_flow(hooks.listeners, from, to);
        Ok(())
    }

    fn tell_flow(&self, listeners: &[Arc<dyn Listener>], from: FlowState, to: FlowState) {
        for l in listeners {
            l.on_flow(&FlowEvent {
                flow: &self.plan.flow,
                previous: from,
                state: to,
            });
        }
    }

    /// Whether changes noted in the journal wait to be told to listeners.
    pub(crate) fn has_untold(&self) -> bool {
        !self.untold.is_empty()
    }

    /// Tells the listeners the changes noted in the journal, once it
    /// committed them.
    pub(crate) fn tell(&mut self, listeners: &[Arc<dyn Listener>]) {
        if self.untold.is_empty() {
            return;
        }
        for change in std::mem::take(&mut self.untold) {
            match change {
                Change::Atom { index, from, to } => self.tell_atom(listeners, index, from, to),
                Change::Flow { from, to } => self.tell_flow(listeners, from, to),
            }
        }
    }

    /// Records atom `index` going to `to`, with its result (SUCCESS) or failure
    /// (FAILURE, REVERT_FAILURE).
    pub(crate) fn set_atom(
        &mut self,
        index: usize,
        to: AtomState,
        outcome: Option<Result<Value, Failure>>,
        hooks: &mut Hooks<'_>,
    ) -> Result<(), TransitionError> {
        let from = self.states[index];
        if !from.can_become(to) {
            return Err(TransitionError::Atom {
                flow: self.plan.flow.to_string(),
                atom: self.plan.atoms[index].atom_name().to_owned(),
                from,
                to,
            });
        }
        let journal = hooks.journal.as_deref_mut();
        if let Some(journal) = journal {
            let history = match self.histories.is_empty() {
                true => None,
                false => self.plan.retry_scope(index).map(|s| &*self.histories[s]),
            };
            journal.atom(index, to, outcome.as_ref(), history);
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
        if hooks.listeners.is_empty() {
            return Ok(());
        }
        if hooks.journal.is_some() {
            self.untold.push(Change::Atom { index, from, to });
        } else {
            self.tell_atom(hooks.listeners, index, from, to);
        }
        Ok(())
    }

    fn tell_atom(
        &self,
        listeners: &[Arc<dyn Listener>],
        index: usize,
        from: AtomState,
        to: AtomState,
    ) {
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
        for l in listeners {
            l.on_atom(&event);
        }
    }
}
