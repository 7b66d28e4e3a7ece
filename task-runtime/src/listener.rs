//! Listeners: observers of every flow and atom state change, in order, with the
//! atom's result or failure attached.

use std::sync::Mutex;

use serde_json::Value;

use crate::engine::{AtomState, FlowState};
use crate::failure::Failure;

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

/// Receives state changes as the engine records them.
///
/// Listeners are called synchronously, in registration order, after the change
/// is recorded; keep them quick.
pub trait Listener: Send + Sync {
    /// A flow changed state.
    fn on_flow(&self, event: &FlowEvent<'_>) {
        let _ = event;
    }

    /// An atom changed state.
    fn on_atom(&self, event: &AtomEvent<'_>) {
        let _ = event;
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
                Captured::Atom { .. } => None,
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

    /// `(atom, state)` for every atom change, in order.
    pub fn atom_transitions(&self) -> Vec<(String, AtomState)> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                Captured::Atom { atom, state, .. } => Some((atom, state)),
                Captured::Flow { .. } => None,
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
}

impl<L: Listener + ?Sized> Listener for std::sync::Arc<L> {
    fn on_flow(&self, event: &FlowEvent<'_>) {
        (**self).on_flow(event);
    }

    fn on_atom(&self, event: &AtomEvent<'_>) {
        (**self).on_atom(event);
    }
}
