//! Listeners: observers of every flow and atom state change, in order, with the
//! atom's result or failure attached.

use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::failure::Failure;
use crate::state::{AtomState, FlowState};

/// A run starting (or going on after a suspension, or taken up from its
/// logbook), before its first state change: the compiled flow, and the
/// state each atom is in — a resumed run's atoms that had finished are
/// SUCCESS already.
#[derive(Debug, Clone, Copy)]
pub struct RunStart<'a> {
    /// The flow's name.
    pub flow: &'a str,
    /// The compiled flow's atoms, by name, in the order of
    /// `ExecutionGraph::atoms`.
    pub atoms: &'a [&'a str],
    /// Each atom's state, in the order of `atoms`.
    pub states: &'a [AtomState],
}

/// A flow's state change.
#[derive(Debug, Clone, Copy)]
pub struct FlowEvent<'a> {
    /// The flow's name.
    pub flow: &'a str,
    /// The state before.
    pub previous: FlowState,
    /// The new state.
    pub state: FlowState,
}

/// An atom's state change.
#[derive(Debug, Clone, Copy)]
pub struct AtomEvent<'a> {
    /// The flow's name.
    pub flow: &'a str,
    /// The atom's name.
    pub atom: &'a str,
    /// The state before.
    pub previous: AtomState,
    /// The new state.
    pub state: AtomState,
    /// The atom's result, on SUCCESS.
    pub result: Option<&'a Value>,
    /// The failure, on FAILURE and REVERT_FAILURE.
    pub failure: Option<&'a Failure>,
}

/// Progress reported by a running task through its context
/// ([`TaskCtx::progress`](crate::TaskCtx::progress)).
#[derive(Debug, Clone, Copy)]
pub struct ProgressEvent<'a> {
    /// The flow's name.
    pub flow: &'a str,
    /// The atom's name.
    pub atom: &'a str,
    /// How far along, from 0.0 to 1.0.
    pub progress: f32,
    /// What the task said about it, if anything.
    pub details: Option<&'a Value>,
}

/// Receives state changes as the engine records them.
///
/// Listeners are called synchronously, in registration order, after the change
/// is recorded; keep them quick.
pub trait Listener: Send + Sync {
    /// A run starts: what it will run, and what is done already.
    fn on_start(&self, start: &RunStart<'_>) {
        let _ = start;
    }

    /// A flow changed state.
    fn on_flow(&self, event: &FlowEvent<'_>) {
        let _ = event;
    }

    /// An atom changed state.
    fn on_atom(&self, event: &AtomEvent<'_>) {
        let _ = event;
    }

    /// A running task reported progress. Called from the thread the task runs
    /// on (with the parallel engine, concurrently with other calls).
    fn on_progress(&self, event: &ProgressEvent<'_>) {
        let _ = event;
    }
}

/// The listeners of one engine, shared with the tasks it runs so that they can
/// report progress.
#[derive(Clone)]
pub struct Listeners {
    pub(crate) flow: Arc<str>,
    pub(crate) list: Arc<Vec<Arc<dyn Listener>>>,
    /// Where tasks' progress and metadata updates wait for the engine to
    /// store them in their atoms' details (set by the engine when it runs).
    pub(crate) notes: Option<Arc<Notes>>,
}

/// The keys of an atom's metadata that the engine keeps for itself: tasks
/// cannot set them with [`TaskCtx::update_meta`](crate::TaskCtx::update_meta).
pub const RESERVED_META: &[&str] = &[
    "done",
    "timeline",
    "history",
    "progress",
    "progress_details",
    "revert_result",
];

/// What a task asked to keep in its atom's detail (`meta`), noted from the
/// thread it runs on and taken by the engine's loop, which stores it (and
/// records it with the run's next commit).
#[derive(Debug, Default)]
pub(crate) struct Notes {
    waiting: std::sync::atomic::AtomicBool,
    list: Mutex<Vec<Note>>,
}

/// One metadata update of an atom: `key` set to `value` in its `meta`.
#[derive(Debug, Clone)]
pub(crate) struct Note {
    pub(crate) atom: String,
    pub(crate) key: String,
    pub(crate) value: Value,
}

impl Notes {
    pub(crate) fn push(&self, atom: &str, key: &str, value: Value) {
        let mut list = self.list.lock().unwrap_or_else(|e| e.into_inner());
        // A newer value of the same key replaces one not yet taken.
        list.retain(|n| !(n.atom == atom && n.key == key));
        list.push(Note {
            atom: atom.to_owned(),
            key: key.to_owned(),
            value,
        });
        self.waiting
            .store(true, std::sync::atomic::Ordering::Release);
    }

    /// Takes the notes waiting, in the order they came (none: no lock taken).
    pub(crate) fn take(&self) -> Vec<Note> {
        if !self
            .waiting
            .swap(false, std::sync::atomic::Ordering::AcqRel)
        {
            return Vec::new();
        }
        std::mem::take(&mut *self.list.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl std::fmt::Debug for Listeners {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listeners")
            .field("flow", &self.flow)
            .field("count", &self.list.len())
            .finish()
    }
}

impl Listeners {
    pub(crate) fn progress(&self, atom: &str, progress: f32, details: Option<&Value>) {
        let progress = if progress.is_nan() {
            0.0
        } else {
            progress.clamp(0.0, 1.0)
        };
        if let Some(notes) = &self.notes {
            // Rounded to 6 places: an `f32` widened prints as 0.30000001192…
            let stored = (f64::from(progress) * 1e6).round() / 1e6;
            notes.push(atom, "progress", Value::from(stored));
            if let Some(details) = details {
                notes.push(atom, "progress_details", details.clone());
            }
        }
        let event = ProgressEvent {
            flow: &self.flow,
            atom,
            progress,
            details,
        };
        for l in self.list.iter() {
            l.on_progress(&event);
        }
    }
}

/// Logs every state change with `tracing`: flow changes and atom successes at
/// INFO, atom failures at WARN, other atom changes at DEBUG.
#[derive(Debug, Default, Clone, Copy)]
pub struct TracingListener;

impl Listener for TracingListener {
    fn on_flow(&self, e: &FlowEvent<'_>) {
        tracing::info!(flow = e.flow, from = %e.previous, "flow {}", e.state);
    }

    fn on_atom(&self, e: &AtomEvent<'_>) {
        match (e.state, e.failure) {
            (_, Some(failure)) => {
                tracing::warn!(flow = e.flow, atom = e.atom, error = %failure, "atom {}", e.state)
            }
            (AtomState::Success, _) => tracing::info!(flow = e.flow, atom = e.atom, "atom SUCCESS"),
            _ => tracing::debug!(flow = e.flow, atom = e.atom, "atom {}", e.state),
        }
    }
}

/// One captured state change.
#[derive(Debug, Clone, PartialEq)]
pub enum Captured {
    /// A flow state change.
    Flow {
        /// The flow.
        flow: String,
        /// The new state.
        state: FlowState,
    },
    /// An atom state change.
    Atom {
        /// The atom.
        atom: String,
        /// The new state.
        state: AtomState,
        /// The result, on SUCCESS.
        result: Option<Value>,
        /// The failure, on FAILURE and REVERT_FAILURE.
        failure: Option<Failure>,
    },
    /// Progress a task reported.
    Progress {
        /// The atom.
        atom: String,
        /// How far along (0.0 to 1.0).
        progress: f32,
        /// The details it gave.
        details: Option<Value>,
    },
}

/// Records every state change, for tests and inspection.
#[derive(Debug, Default)]
pub struct CapturingListener {
    events: Mutex<Vec<Captured>>,
}

impl CapturingListener {
    /// An empty capture.
    pub fn new() -> CapturingListener {
        CapturingListener::default()
    }

    /// Everything captured so far, in order.
    pub fn events(&self) -> Vec<Captured> {
        self.events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The flow states, in order.
    pub fn flow_states(&self) -> Vec<FlowState> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                Captured::Flow { state, .. } => Some(state),
                Captured::Atom { .. } | Captured::Progress { .. } => None,
            })
            .collect()
    }

    /// The states `atom` went through, in order.
    pub fn atom_states(&self, atom: &str) -> Vec<AtomState> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                Captured::Atom { atom: a, state, .. } if a == atom => Some(state),
                _ => None,
            })
            .collect()
    }

    /// The progress reports of `atom`, in order.
    pub fn progress_of(&self, atom: &str) -> Vec<f32> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                Captured::Progress {
                    atom: a, progress, ..
                } if a == atom => Some(progress),
                _ => None,
            })
            .collect()
    }

    /// `(atom, state)` for every atom change, in order.
    pub fn atom_transitions(&self) -> Vec<(String, AtomState)> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                Captured::Atom { atom, state, .. } => Some((atom, state)),
                Captured::Flow { .. } | Captured::Progress { .. } => None,
            })
            .collect()
    }

    fn push(&self, event: Captured) {
        self.events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(event);
    }
}

impl Listener for CapturingListener {
    fn on_flow(&self, e: &FlowEvent<'_>) {
        self.push(Captured::Flow {
            flow: e.flow.to_owned(),
            state: e.state,
        });
    }

    fn on_atom(&self, e: &AtomEvent<'_>) {
        self.push(Captured::Atom {
            atom: e.atom.to_owned(),
            state: e.state,
            result: e.result.cloned(),
            failure: e.failure.cloned(),
        });
    }

    fn on_progress(&self, e: &ProgressEvent<'_>) {
        self.push(Captured::Progress {
            atom: e.atom.to_owned(),
            progress: e.progress,
            details: e.details.cloned(),
        });
    }
}

impl<L: Listener + ?Sized> Listener for std::sync::Arc<L> {
    fn on_start(&self, start: &RunStart<'_>) {
        (**self).on_start(start);
    }

    fn on_flow(&self, event: &FlowEvent<'_>) {
        (**self).on_flow(event);
    }

    fn on_atom(&self, event: &AtomEvent<'_>) {
        (**self).on_atom(event);
    }

    fn on_progress(&self, event: &ProgressEvent<'_>) {
        (**self).on_progress(event);
    }
}

/// Measures how long each atom ran (RUNNING to SUCCESS or FAILURE) and
/// reverted (REVERTING to REVERTED or REVERT_FAILURE).
#[derive(Debug, Default)]
pub struct TimingListener {
    started: Mutex<std::collections::HashMap<String, std::time::Instant>>,
    timings: Mutex<Vec<Timing>>,
}

/// One measured span of an atom.
#[derive(Debug, Clone, PartialEq)]
pub struct Timing {
    /// The atom.
    pub atom: String,
    /// The state it ended in (SUCCESS, FAILURE, REVERTED, REVERT_FAILURE).
    pub state: AtomState,
    /// How long it took.
    pub elapsed: std::time::Duration,
}

impl TimingListener {
    /// A listener with nothing measured yet.
    pub fn new() -> TimingListener {
        TimingListener::default()
    }

    /// What was measured, in the order the spans ended.
    pub fn timings(&self) -> Vec<Timing> {
        self.timings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Listener for TimingListener {
    fn on_atom(&self, e: &AtomEvent<'_>) {
        let mut started = self.started.lock().unwrap_or_else(|e| e.into_inner());
        match e.state {
            AtomState::Running | AtomState::Reverting => {
                started.insert(e.atom.to_owned(), std::time::Instant::now());
            }
            AtomState::Success
            | AtomState::Failure
            | AtomState::Reverted
            | AtomState::RevertFailure => {
                if let Some(at) = started.remove(e.atom) {
                    self.timings
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(Timing {
                            atom: e.atom.to_owned(),
                            state: e.state,
                            elapsed: at.elapsed(),
                        });
                }
            }
            _ => {}
        }
    }
}
