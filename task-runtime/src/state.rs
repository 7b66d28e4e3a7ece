//! The state model, the ground floor of the runtime: atom and flow states
//! (TaskFlow's names), intentions, and the transitions allowed between them. It
//! imports no other module of the runtime. The tables below are the only place
//! transitions are defined.
//!
//! Atom transitions:
//!
//! | from           | to                                   |
//! |----------------|--------------------------------------|
//! | PENDING        | RUNNING, IGNORE, REVERTED            |
//! | RUNNING        | SUCCESS, FAILURE, RUNNING (resume)   |
//! | SUCCESS        | REVERTING, PENDING, RETRYING (retry) |
//! | FAILURE        | REVERTING                            |
//! | REVERTING      | REVERTED, REVERT_FAILURE, REVERTING  |
//! | REVERTED       | PENDING, RETRYING                    |
//! | RETRYING       | RUNNING, PENDING                     |
//! | IGNORE         | PENDING                              |
//! | REVERT_FAILURE | (final)                              |
//!
//! Flow transitions:
//!
//! | from       | to                                             |
//! |------------|------------------------------------------------|
//! | PENDING    | RUNNING                                        |
//! | RUNNING    | SUCCESS, FAILURE, REVERTING, SUSPENDING        |
//! | REVERTING  | REVERTED, FAILURE, SUSPENDING                  |
//! | SUSPENDING | SUSPENDED, SUCCESS, REVERTED, FAILURE          |
//! | SUSPENDED  | RESUMING                                       |
//! | RESUMING   | RUNNING, REVERTING                             |
//! | SUCCESS, FAILURE, REVERTED | RESUMING (checked and ended at once) |

use std::fmt;

use serde::{Deserialize, Serialize};

/// The state of an atom.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AtomState {
    /// Not run yet.
    Pending,
    /// Running.
    Running,
    /// Finished with a result.
    Success,
    /// Finished with a failure.
    Failure,
    /// Being reverted.
    Reverting,
    /// Reverted.
    Reverted,
    /// Its revert failed.
    RevertFailure,
    /// Being retried (by a retry controller).
    Retrying,
    /// Skipped (by a decider).
    Ignore,
}

impl AtomState {
    /// Whether the transition `self -> to` is allowed.
    pub fn can_become(self, to: AtomState) -> bool {
        use AtomState::*;
        matches!(
            (self, to),
            (Pending, Running | Ignore | Reverted)
                | (Running, Success | Failure | Running)
                | (Success, Reverting | Pending | Retrying)
                | (Failure, Reverting)
                | (Reverting, Reverted | RevertFailure | Reverting)
                | (Reverted, Pending | Retrying)
                | (Retrying, Running | Pending)
                | (Ignore, Pending)
        )
    }

    /// TaskFlow's name of the state.
    pub fn as_str(self) -> &'static str {
        match self {
            AtomState::Pending => "PENDING",
            AtomState::Running => "RUNNING",
            AtomState::Success => "SUCCESS",
            AtomState::Failure => "FAILURE",
            AtomState::Reverting => "REVERTING",
            AtomState::Reverted => "REVERTED",
            AtomState::RevertFailure => "REVERT_FAILURE",
            AtomState::Retrying => "RETRYING",
            AtomState::Ignore => "IGNORE",
        }
    }

    /// Every atom state.
    pub const ALL: [AtomState; 9] = [
        AtomState::Pending,
        AtomState::Running,
        AtomState::Success,
        AtomState::Failure,
        AtomState::Reverting,
        AtomState::Reverted,
        AtomState::RevertFailure,
        AtomState::Retrying,
        AtomState::Ignore,
    ];

    /// The state TaskFlow's name (as [`AtomState::as_str`] gives it) names.
    pub fn from_name(name: &str) -> Option<AtomState> {
        AtomState::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

impl fmt::Display for AtomState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The state of a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FlowState {
    /// Not run yet.
    Pending,
    /// Running.
    Running,
    /// Every atom succeeded.
    Success,
    /// A failure could not be reverted cleanly.
    Failure,
    /// Reverting after a failure.
    Reverting,
    /// Reverted after a failure.
    Reverted,
    /// Finishing what runs, to suspend.
    Suspending,
    /// Suspended; running again continues.
    Suspended,
    /// Being resumed from a recorded state.
    Resuming,
}

impl FlowState {
    /// Whether the transition `self -> to` is allowed.
    pub fn can_become(self, to: FlowState) -> bool {
        use FlowState::*;
        matches!(
            (self, to),
            (Pending, Running)
                | (Running, Success | Failure | Reverting | Suspending)
                | (Reverting, Reverted | Failure | Suspending)
                | (Suspending, Suspended | Success | Reverted | Failure)
                | (Suspended, Resuming)
                // A run recorded mid-way by a process that died is taken up.
                | (Running | Reverting | Suspending, Resuming)
                | (Resuming, Running | Reverting)
                | (Success | Failure | Reverted, Resuming)
        )
    }

    /// Whether the flow has ended (success or not).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            FlowState::Success | FlowState::Failure | FlowState::Reverted
        )
    }

    /// TaskFlow's name of the state.
    pub fn as_str(self) -> &'static str {
        match self {
            FlowState::Pending => "PENDING",
            FlowState::Running => "RUNNING",
            FlowState::Success => "SUCCESS",
            FlowState::Failure => "FAILURE",
            FlowState::Reverting => "REVERTING",
            FlowState::Reverted => "REVERTED",
            FlowState::Suspending => "SUSPENDING",
            FlowState::Suspended => "SUSPENDED",
            FlowState::Resuming => "RESUMING",
        }
    }

    /// Every flow state.
    pub const ALL: [FlowState; 9] = [
        FlowState::Pending,
        FlowState::Running,
        FlowState::Success,
        FlowState::Failure,
        FlowState::Reverting,
        FlowState::Reverted,
        FlowState::Suspending,
        FlowState::Suspended,
        FlowState::Resuming,
    ];

    /// The state TaskFlow's name (as [`FlowState::as_str`] gives it) names.
    pub fn from_name(name: &str) -> Option<FlowState> {
        FlowState::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

impl fmt::Display for FlowState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the engine intends to do with an atom next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Intention {
    /// Execute it.
    Execute,
    /// Skip it.
    Ignore,
    /// Revert it.
    Revert,
    /// Retry it.
    Retry,
}

impl Intention {
    /// Every intention.
    pub const ALL: [Intention; 4] = [
        Intention::Execute,
        Intention::Ignore,
        Intention::Revert,
        Intention::Retry,
    ];

    /// TaskFlow's name of the intention.
    pub fn as_str(self) -> &'static str {
        match self {
            Intention::Execute => "EXECUTE",
            Intention::Ignore => "IGNORE",
            Intention::Revert => "REVERT",
            Intention::Retry => "RETRY",
        }
    }

    /// The intention TaskFlow's name names.
    pub fn from_name(name: &str) -> Option<Intention> {
        Intention::ALL.into_iter().find(|i| i.as_str() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ATOMS: [AtomState; 9] = AtomState::ALL;

    #[test]
    fn every_atom_transition_is_in_the_table_or_refused() {
        use AtomState::*;
        let allowed = [
            (Pending, Running),
            (Pending, Ignore),
            (Pending, Reverted),
            (Running, Success),
            (Running, Failure),
            (Running, Running),
            (Success, Reverting),
            (Success, Pending),
            (Success, Retrying),
            (Failure, Reverting),
            (Reverting, Reverted),
            (Reverting, RevertFailure),
            (Reverting, Reverting),
            (Reverted, Pending),
            (Reverted, Retrying),
            (Retrying, Running),
            (Retrying, Pending),
            (Ignore, Pending),
        ];
        for from in ATOMS {
            for to in ATOMS {
                assert_eq!(
                    from.can_become(to),
                    allowed.contains(&(from, to)),
                    "{from} -> {to}"
                );
            }
        }
        assert!(
            !RevertFailure.can_become(Pending),
            "REVERT_FAILURE is final"
        );
    }

    #[test]
    fn states_serialize_with_taskflow_names() {
        assert_eq!(
            serde_json::to_string(&AtomState::RevertFailure).unwrap(),
            "\"REVERT_FAILURE\""
        );
        assert_eq!(FlowState::Suspended.to_string(), "SUSPENDED");
        assert!(FlowState::Reverted.is_final());
        assert!(!FlowState::Success.can_become(FlowState::Running));
    }
}
