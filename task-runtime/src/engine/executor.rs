//! The engine's extension point for running atoms elsewhere (remote workers):
//! an [`Executor`] receives an owned [`Request`] — the atom, its task's
//! registry name and version, its arguments by parameter name — and returns
//! a future of the result. Set one with [`Engine::executor`](super::Engine::executor).
//!
//! The engine stays the one that decides what runs and records every
//! transition; the executor only carries the call there and the result back.

use std::fmt;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::failure::{Failure, Failures};
use crate::storage::Storage;
use crate::task::{BoxFuture, TaskMeta, Version};
use crate::telemetry::TraceContext;

/// What the engine asks an executor to do with an atom.
#[derive(Debug, Clone)]
pub enum Action {
    /// Run the task's code.
    Execute,
    /// Run the task's revert code.
    Revert {
        /// The atom's outcome: its result, or its failure.
        result: Result<Value, Failure>,
        /// The flow's failures, by atom name.
        failures: Failures,
    },
}

/// One call of an atom, owned, ready to be sent elsewhere.
#[derive(Debug, Clone)]
pub struct Request {
    /// The atom's name in the flow.
    pub atom: String,
    /// The task's registry name (`TaskMeta::name`).
    pub task: String,
    /// The task's version, as the engine's code has it.
    pub version: Version,
    /// The value arguments by parameter name (as the task's code names them,
    /// after rebinding); an optional argument that nothing provides is absent.
    pub args: Map<String, Value>,
    /// Execute or revert.
    pub action: Action,
    /// The atom's timeout, if it has one (the engine enforces it too).
    pub timeout: Option<Duration>,
    /// The trace context of the atom's attempt (its span), for the process
    /// that runs it to continue the trace; empty without the feature `otel`.
    pub trace: TraceContext,
}

/// Runs atoms somewhere else; see the [module documentation](self).
pub trait Executor: Send + Sync + fmt::Debug {
    /// Whether this executor runs `task`; the others run in the engine's
    /// process as usual. All tasks by default.
    fn handles(&self, task: &TaskMeta) -> bool {
        let _ = task;
        true
    }

    /// Runs the request; the future gives the task's result, or its failure.
    /// For a revert the value is ignored.
    fn execute(&self, request: Request) -> BoxFuture<Result<Value, Failure>>;
}

/// The request for atom `i`, with its arguments copied out of storage.
pub(crate) fn request(storage: &Storage, i: usize, action: Action) -> Request {
    let spec = &storage.plan.atoms[i];
    let meta = &spec.def().meta;
    let mut args = Map::new();
    for ((name, _), source) in meta.value_args().zip(storage.plan.arg_sources(i)) {
        if let Some(value) = storage.source(source) {
            args.insert(name.to_owned(), value.clone());
        }
    }
    Request {
        atom: spec.atom_name().to_owned(),
        task: meta.name.to_string(),
        version: meta.version,
        args,
        action,
        timeout: spec.timeout_after(),
        trace: crate::telemetry::inject(),
    }
}
