//! The engine: compiles a flow, then runs the state machine (`machine`) in
//! one loop (`run`) over its executors (`executors`: inline, the local pool,
//! remote workers), noting every transition in [`Storage`](crate::storage::Storage)
//! and committing it to the logbook before acting on it.
//!
//! Its files, by concept: `builder` (the engine's settings, compiling it into
//! a prepared run), `run` (the loop and its group commits), `machine` (what
//! runs, reverts or retries next: no I/O), `executors`, `pool` and `job` (where
//! atoms run), `invoke` (calling an atom's code: arguments, panics, timeouts),
//! `retries`, `links` (deciders), `error` ([`RunError`]) and `done`
//! ([`Done`]).
//!
//! A serial engine (the default) runs one atom at a time, sync tasks inline
//! and async tasks awaited, in a deterministic order. [`Engine::run`] blocks
//! and works with or without a tokio runtime around it; [`Engine::run_async`]
//! is for async code.
//!
//! On a failure the failed atom is reverted first (it receives its failure as
//! its outcome), then every atom that succeeded, newest first; the flow ends
//! REVERTED and the caller gets the task's own error back
//! ([`RunError::downcast_ref`]). If a revert fails, that atom ends
//! REVERT_FAILURE, the flow ends FAILURE, and atoms before it stay as they are.

mod builder;
mod done;
mod error;
pub mod executor;
mod executors;
mod invoke;
mod job;
mod links;
mod machine;
mod observe;
mod pool;
mod retries;
mod run;

pub use self::builder::{Engine, Suspender};
pub use self::done::{Done, ValueError};
pub use self::error::RunError;
pub use crate::record::ResumeError;
pub use crate::state::{AtomState, FlowState, Intention};
