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
use crate::state::{AtomState, FlowState, Intention};
use crate::task::{short_type_name, Provides};

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

    /// Atom `index`'s metadata key `key` is set to `value` (removed when
    /// `value` is `None`).
    fn meta(&mut self, index: usize, key: &str, value: Option<&Value>);
}

pub use crate::listener::RESERVED_META;

/// The metadata keys kept in [`Storage::atom_meta`]: all but the engine's
/// bookkeeping (`done`, `timeline`, `history`), which the logbook keeps.
pub(crate) fn is_kept_meta(key: &str) -> bool {
    !matches!(key, "done" | "timeline" | "history")
}

/// A value, an atom or an atom's arguments asked of [`Storage`] that it does
/// not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// The flow has no atom of that name.
    #[error("flow `{flow}` has no atom `{atom}`; its atoms are: {known}")]
    UnknownAtom {
        /// The flow.
        flow: String,
        /// The name asked for.
        atom: String,
        /// The flow's atoms, listed.
        known: String,
    },
    /// Nothing provides the name (yet).
    #[error("flow `{flow}`: no input, and no atom that succeeded, provides `{name}`")]
    Missing {
        /// The flow.
        flow: String,
        /// The name asked for.
        name: String,
    },
    /// Some required arguments of an atom have no value yet.
    #[error("flow `{flow}`: atom `{atom}` cannot be called yet: {}", missing.join(", "))]
    ArgsMissing {
        /// The flow.
        flow: String,
        /// The atom.
        atom: String,
        /// Each required argument without a value, as ``argument `x` (read
        /// from `y`) has no value``.
        missing: Vec<String>,
    },
    /// The value does not decode as the type asked for.
    #[error("flow `{flow}`: value `{name}` cannot be decoded as `{ty}`: {message}")]
    Decode {
        /// The flow.
        flow: String,
        /// The name asked for.
        name: String,
        /// The type asked for.
        ty: String,
        /// The decoder's message.
        message: String,
    },
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
    /// What the engine intends to do with each atom next.
    pub(crate) intentions: Vec<Intention>,
    /// Each atom's metadata: its progress, its revert's result, and what
    /// its task set with `update_meta` (empty for most atoms).
    pub(crate) metas: Vec<serde_json::Map<String, Value>>,
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
            intentions: vec![Intention::Execute; n],
            metas: vec![serde_json::Map::new(); n],
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

    fn flow_text(&self) -> String {
        self.plan.flow_name().to_owned()
    }

    fn index_of(&self, atom: &str) -> Result<usize, FetchError> {
        self.plan
            .atom_index(atom)
            .ok_or_else(|| FetchError::UnknownAtom {
                flow: self.flow_text(),
                atom: atom.to_owned(),
                known: self
                    .plan
                    .atoms
                    .iter()
                    .map(|a| format!("`{}`", a.atom_name()))
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// The value named `name` as the flow sees it now (TaskFlow's
    /// `storage.fetch(name)`): the result of the last atom in the flow's
    /// order that provides it and succeeded, else the engine input of that
    /// name; `None` if neither has it (yet).
    pub fn fetch(&self, name: &str) -> Option<&Value> {
        for (i, atom) in self.plan.atoms.iter().enumerate().rev() {
            if self.states[i] != AtomState::Success {
                continue;
            }
            let names = atom.provides().names();
            if let Some(pos) = names.iter().position(|n| n == name) {
                let value = self.results[i].as_ref()?;
                return match atom.provides() {
                    Provides::Tuple(_) => value.get(pos),
                    _ => Some(value),
                };
            }
        }
        let input = self.plan.inputs.iter().position(|n| n == name)?;
        self.inputs.get(input)
    }

    /// The value named `name` decoded as `T`; an error names the flow, the
    /// value and, for a decoding error, the type.
    pub fn fetch_as<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<T, FetchError> {
        let value = self.fetch(name).ok_or_else(|| FetchError::Missing {
            flow: self.flow_text(),
            name: name.to_owned(),
        })?;
        T::deserialize(value).map_err(|e| FetchError::Decode {
            flow: self.flow_text(),
            name: name.to_owned(),
            ty: short_type_name::<T>(),
            message: e.to_string(),
        })
    }

    /// Every value the flow has now, by name (TaskFlow's
    /// `storage.fetch_all()`): the engine inputs, then what the atoms that
    /// succeeded provide; a name provided twice has the value
    /// [`Storage::fetch`] gives.
    pub fn fetch_all(&self) -> serde_json::Map<String, Value> {
        let mut all = serde_json::Map::new();
        for (name, value) in self.plan.inputs.iter().zip(&self.inputs) {
            all.insert(name.clone(), value.clone());
        }
        for (i, atom) in self.plan.atoms.iter().enumerate() {
            let (AtomState::Success, Some(value)) = (self.states[i], &self.results[i]) else {
                continue;
            };
            match atom.provides() {
                Provides::Nothing => {}
                Provides::One(name) => {
                    all.insert(name.to_string(), value.clone());
                }
                Provides::Tuple(names) => {
                    for (k, name) in names.iter().enumerate() {
                        if let Some(v) = value.get(k) {
                            all.insert(name.to_string(), v.clone());
                        }
                    }
                }
            }
        }
        all
    }

    /// The arguments atom `atom` would be called with now, by argument name
    /// (TaskFlow's `storage.fetch_mapped_args`): rebinds and injected values
    /// applied, an optional argument without a value left out. A required
    /// argument without a value (its provider has not run) is an error
    /// naming each, with the name it is read from.
    pub fn fetch_mapped_args(
        &self,
        atom: &str,
    ) -> Result<serde_json::Map<String, Value>, FetchError> {
        let i = self.index_of(atom)?;
        let spec = &self.plan.atoms[i];
        let sources = self.plan.arg_sources(i);
        let mut args = serde_json::Map::new();
        let mut missing = Vec::new();
        for ((arg, optional), source) in spec.def().meta.value_args().zip(sources) {
            match self.source(source) {
                Some(value) => {
                    args.insert(arg.to_owned(), value.clone());
                }
                None if optional => {}
                None => {
                    let from = spec.reads(arg);
                    missing.push(match from == arg {
                        true => format!("argument `{arg}` has no value"),
                        false => format!("argument `{arg}` (read from `{from}`) has no value"),
                    });
                }
            }
        }
        if !missing.is_empty() {
            return Err(FetchError::ArgsMissing {
                flow: self.flow_text(),
                atom: atom.to_owned(),
                missing,
            });
        }
        Ok(args)
    }

    /// What the engine intends to do next with atom `index`.
    pub fn intention(&self, index: usize) -> Intention {
        self.intentions[index]
    }

    /// Every atom's name, state and intention, in the flow's order
    /// (TaskFlow's `storage.get_atoms_states()`).
    pub fn atoms_states(&self) -> Vec<(&str, AtomState, Intention)> {
        self.plan
            .atoms
            .iter()
            .enumerate()
            .map(|(i, a)| (a.atom_name(), self.states[i], self.intentions[i]))
            .collect()
    }

    /// The state and intention of each atom named, in the order named; an
    /// unknown name is an error naming it and the flow's atoms.
    pub fn get_atoms_states<'a>(
        &self,
        atoms: impl IntoIterator<Item = &'a str>,
    ) -> Result<Vec<(&'a str, AtomState, Intention)>, FetchError> {
        atoms
            .into_iter()
            .map(|name| {
                let i = self.index_of(name)?;
                Ok((name, self.states[i], self.intentions[i]))
            })
            .collect()
    }

    /// The metadata of atom `atom`: the progress its task reported
    /// (`progress`, `progress_details`), its revert's result
    /// (`revert_result`), and what its task set with
    /// [`TaskCtx::update_meta`](crate::TaskCtx::update_meta). A resumed run
    /// has what was recorded.
    pub fn atom_meta(&self, atom: &str) -> Result<&serde_json::Map<String, Value>, FetchError> {
        Ok(&self.metas[self.index_of(atom)?])
    }

    /// The last progress atom `atom`'s task reported (0.0 to 1.0), if any.
    pub fn progress(&self, atom: &str) -> Result<Option<f32>, FetchError> {
        let meta = self.atom_meta(atom)?;
        Ok(meta
            .get("progress")
            .and_then(Value::as_f64)
            .map(|p| p as f32))
    }

    /// What atom `atom`'s revert returned, if it was reverted and returned
    /// something other than `()` (or `null`).
    pub fn revert_result(&self, atom: &str) -> Result<Option<&Value>, FetchError> {
        Ok(self.atom_meta(atom)?.get("revert_result"))
    }

    /// Sets (or, with `None`, removes) atom `index`'s metadata `key`, and
    /// notes it in the journal.
    pub(crate) fn set_meta(
        &mut self,
        index: usize,
        key: &str,
        value: Option<Value>,
        hooks: &mut Hooks<'_>,
    ) {
        if let Some(journal) = hooks.journal.as_deref_mut() {
            journal.meta(index, key, value.as_ref());
        }
        match value {
            Some(value) => {
                self.metas[index].insert(key.to_owned(), value);
            }
            None => {
                self.metas[index].remove(key);
            }
        }
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
        if to == FlowState::Reverting {
            // As TaskFlow does (and the recorder records): atoms that never
            // ran are meant to be reverted too.
            for (i, state) in self.states.iter().enumerate() {
                if *state == AtomState::Pending {
                    self.intentions[i] = Intention::Revert;
                }
            }
        }
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
        self.intentions[index] = intention_of(to);
        if to == AtomState::Pending {
            // Another attempt of its retry: the last outcome is in the history.
            self.results[index] = None;
            self.failures[index] = None;
            self.revert_failures[index] = None;
            for key in ["progress", "progress_details", "revert_result"] {
                self.metas[index].remove(key);
            }
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

    /// Stores the metadata updates tasks noted (progress, `update_meta`),
    /// in the order they came; an update for an atom this flow does not have
    /// is dropped.
    pub(crate) fn absorb(&mut self, notes: Vec<crate::listener::Note>, hooks: &mut Hooks<'_>) {
        for note in notes {
            if let Some(i) = self.plan.atom_index(&note.atom) {
                self.set_meta(i, &note.key, Some(note.value), hooks);
            }
        }
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

/// The intention an atom in state `to` carries (the recorder records the
/// same).
pub(crate) fn intention_of(to: AtomState) -> Intention {
    match to {
        AtomState::Reverting | AtomState::Reverted | AtomState::RevertFailure => Intention::Revert,
        AtomState::Ignore => Intention::Ignore,
        _ => Intention::Execute,
    }
}
