//! The runtime of taskwire: tasks, flows, validation, the engine and listeners.
//!
//! Users depend on the facade crate `taskwire`, which re-exports this crate and
//! the `#[task]` macro.
//!
//! # Layers
//!
//! Modules import downwards only (`tests/layers.rs` fails on a cycle):
//!
//! ```text
//!  operator tools                     (other crates)
//!  conductor  jobboard  worker        distribution
//!  planmap  activity  picture  progress_bar     front-ends that build flows
//! ─────────────────────────────────────────────
//!  engine        the run loop, its executors (inline, local pool, remote)
//!  record        a run in a logbook: group commits, leases, restoring
//!  persistence   logbook backends (memory, dir, SQLite, PostgreSQL, MySQL)
//!  storage       a run's memory: states, results, failures
//!  flow factory  patterns, validation, compiled execution graphs
//!  task registry retry decider listener   tasks and what they see
//!  history                                a retry's attempts
//!  state failure telemetry url_options    the ground floor
//! ```
//!
//! `telemetry` is on the ground floor because every layer reports through
//! it (trace context, metric names); it imports nothing of the runtime, nor
//! does `url_options` (the `?timeout=5s` options of backend and broker URLs).
//!
//! The pieces, and where each lives:
//!
//! - [`state`]: atom and flow states, intentions and the transitions allowed
//!   between them (it imports nothing else of the runtime);
//! - [`task`]: what a task is ([`TaskMeta`], [`TaskDef`]), the calling convention
//!   ([`Call`]) and tasks built at run time ([`FnTask`]);
//! - [`registry`]: tasks by name;
//! - [`flow`]: linear, unordered and graph patterns, nested; compiled and
//!   validated into an execution graph;
//! - [`storage`]: what a run remembers, noted in its journal;
//! - [`persistence`]: logbooks of flow runs in memory, a directory, SQLite,
//!   PostgreSQL or MySQL, chosen by URL ([`persistence::open`]);
//! - [`engine`]: the state machine that decides what runs and reverts next, and
//!   the loop that runs it over its executors, committing each step's
//!   transitions to the logbook before acting on them;
//! - [`listener`]: observers of state changes;
//! - [`picture`]: flows and runs drawn as Graphviz DOT or Mermaid text;
//! - [`planmap`]: Paradrop's plan maps (priorities, abort plans), built into
//!   linear flows;
//! - [`activity`]: Karbor's activity flows over resource graphs, with
//!   providers loaded from configuration;
//! - `progress_bar` (feature `progress-bar`): a terminal progress bar listener;
//! - [`retry`]: retry atoms controlling subflows; [`decider`]: conditions on
//!   graph links;
//! - [`jobboard`]: flows posted as jobs (Redis, PostgreSQL), and
//!   [`conductor`]: the loop that claims, runs and resumes them;
//! - `worker` (feature `amqp`): atoms run by remote workers over RabbitMQ,
//!   through the engine's [`engine::executor`] extension point;
//! - [`telemetry`]: trace context across machines, metrics (feature
//!   `metrics`), an OTLP exporter (feature `otel`) and Prometheus' text
//!   format (feature `prometheus`); the engine's spans are described in the
//!   README's "Observability".
#![cfg_attr(docsrs, feature(doc_cfg))]
#![doc(test(attr(deny(warnings))))]

pub mod conductor;
pub mod decider;
pub mod engine;
pub mod factory;
pub mod failure;
pub mod flow;
mod history;
pub mod jobboard;
pub mod listener;
pub mod persistence;
pub mod picture;
mod record;
pub mod registry;
pub mod retry;
pub mod state;
pub mod storage;
pub mod task;
pub mod telemetry;
mod url_options;
#[cfg(feature = "amqp")]
#[cfg_attr(docsrs, doc(cfg(feature = "amqp")))]
pub mod worker;

// Front-ends that build ordinary flows, and a listener for terminals.
pub mod activity;
pub mod planmap;
#[cfg(feature = "progress-bar")]
#[cfg_attr(docsrs, doc(cfg(feature = "progress-bar")))]
pub mod progress_bar;

pub use engine::{Done, Engine, ResumeError, RunError, Suspender};
pub use failure::{Failure, FailureKind, FailureRecord, Failures};
pub use flow::{Flow, FlowError, FlowErrors, Node};
pub use listener::{
    AtomEvent, Captured, CapturingListener, FlowEvent, Listener, ProgressEvent, RunStart,
    TimingListener, TracingListener,
};
pub use persistence::{
    AtomDetail, AtomType, Backend, FlowDetail, Lease, LogBook, PersistenceError,
};
pub use picture::{FlowMismatch, Picture};
#[cfg(feature = "progress-bar")]
#[cfg_attr(docsrs, doc(cfg(feature = "progress-bar")))]
pub use progress_bar::ProgressBarListener;
pub use registry::{Registry, RegistryError, TaskRegistration};
pub use state::{AtomState, FlowState, Intention};
pub use task::CancelToken;
pub use task::{
    BoxFuture, Call, DefRef, Exec, FnTask, IntoFailure, Invocation, Outcome, Param, ParamKind,
    Provides, Res, Resources, Task, TaskCtx, TaskDef, TaskMeta, TaskSpec, ValueType, Version,
};

/// Support for the code this crate's macros (`flow_factory!`) and the facade's
/// macros generate. Not public API: it may change in any release.
#[doc(hidden)]
pub mod __private {
    pub use inventory;
}

/// The items that exist only with a feature, for the facade to re-export
/// whenever this crate has them (its own features, or a dev-dependency's, may
/// turn them on). Not public API.
#[doc(hidden)]
pub mod __by_feature {
    #[cfg(feature = "progress-bar")]
    pub use crate::progress_bar::{self, ProgressBarListener};
    #[cfg(feature = "amqp")]
    pub use crate::worker;
}

/// The value type that passes between tasks: serde data.
pub use serde_json::Value;
