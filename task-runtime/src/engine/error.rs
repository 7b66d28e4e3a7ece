//! Why a run did not succeed: [`RunError`].

// A run ends with at most one error, which names flow, atom and backend; its
// size is not on any hot path, so it stays unboxed for easy matching.
#![allow(clippy::result_large_err)]

use super::FlowState;
use crate::failure::Failure;
use crate::flow::FlowErrors;
use crate::persistence::PersistenceError;
use crate::record::ResumeError;
use crate::storage::TransitionError;

/// Why a run did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The flow cannot run (found before anything ran).
    #[error(transparent)]
    Invalid(#[from] FlowErrors),
    /// A task failed and the flow was reverted (it ended REVERTED).
    #[error("flow `{flow}` was reverted: task `{atom}` failed: {failure}")]
    Failed {
        /// The flow.
        flow: String,
        /// The atom that failed.
        atom: String,
        /// Its failure; downcast it to the task's error type.
        #[source]
        failure: Failure,
    },
    /// A task failed, then a revert failed too (the flow ended FAILURE).
    #[error("flow `{flow}` failed: task `{atom}` failed ({failure}), then reverting task `{revert_atom}` failed: {revert_failure}")]
    RevertFailed {
        /// The flow.
        flow: String,
        /// The atom that failed first.
        atom: String,
        /// Its failure.
        #[source]
        failure: Failure,
        /// The atom whose revert failed.
        revert_atom: String,
        /// The revert's failure.
        revert_failure: Failure,
    },
    /// The flow has ended before; an engine runs a flow once.
    #[error("flow `{flow}` has already ended {state}; build a new engine to run it again")]
    Ended {
        /// The flow.
        flow: String,
        /// How it ended.
        state: FlowState,
    },
    /// A state change not allowed by the state tables (never acted upon).
    #[error(transparent)]
    Transition(#[from] TransitionError),
    /// A transition could not be recorded in the logbook: the run stopped
    /// there, without acting on it (what was recorded before stays).
    #[error("flow `{flow}`: {}, so the run stopped: {source}", match source { PersistenceError::LeaseHeld { .. } => "another owner holds its lease", _ => "the logbook refused a write" })]
    Persistence {
        /// The flow.
        flow: String,
        /// Why.
        #[source]
        source: PersistenceError,
    },
    /// The run lost its lease: another owner took the flow over (the
    /// logbook fenced this engine), or the logbook did not answer the
    /// lease's heartbeat until the lease expired. The run started nothing
    /// more and told its running tasks ([`Call::is_cancelled`](crate::task::Call::is_cancelled)); what was
    /// recorded before stays, and the new owner goes on from there.
    #[error("flow `{flow}`: the run lost its lease and stopped (nothing more was started; running tasks were told to cancel): {source}")]
    LeaseLost {
        /// The flow.
        flow: String,
        /// Why: [`PersistenceError::Fenced`] names the lease's owner and token
        /// and who holds it now.
        #[source]
        source: PersistenceError,
    },
    /// A recorded run could not be taken up again.
    #[error(transparent)]
    Resume(#[from] ResumeError),
    /// The runtime for async tasks could not be started.
    #[error("flow `{flow}`: cannot start a runtime for its async tasks: {message}")]
    Runtime {
        /// The flow.
        flow: String,
        /// Why.
        message: String,
    },
}

impl RunError {
    /// A logbook's refusal: [`RunError::LeaseLost`] when the write was fenced
    /// (the lease changed hands), else [`RunError::Persistence`].
    pub(crate) fn persistence(flow: String, source: PersistenceError) -> RunError {
        match source {
            PersistenceError::Fenced { .. } => RunError::LeaseLost { flow, source },
            source => RunError::Persistence { flow, source },
        }
    }

    /// The failure of the task that failed first, if a task failed.
    pub fn failure(&self) -> Option<&Failure> {
        match self {
            RunError::Failed { failure, .. } | RunError::RevertFailed { failure, .. } => {
                Some(failure)
            }
            _ => None,
        }
    }

    /// The failing task's own error, if it is of type `E`.
    pub fn downcast_ref<E: std::error::Error + 'static>(&self) -> Option<&E> {
        self.failure()?.downcast_ref::<E>()
    }
}
