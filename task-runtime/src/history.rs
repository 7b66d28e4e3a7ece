//! The record of a retry's attempts: what it provided for each attempt, the
//! failures of each, and what it decided. Kept in the logbook with the retry
//! atom, and handed to tasks of the subflow ([`Call::retry_history`](crate::task::Call::retry_history)).
//! Re-exported by [`retry`](crate::retry), where the controllers that write
//! it live; it sits below tasks and retries, which both read it.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::failure::Failure;

/// What a retry decides when an atom of its subflow fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Decision {
    /// Revert the subflow, then run it again.
    Retry,
    /// Revert the subflow only (see the [module docs](crate::retry)).
    Revert,
    /// Revert the whole flow.
    RevertAll,
}

impl Decision {
    /// TaskFlow's name of the decision.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Retry => "RETRY",
            Decision::Revert => "REVERT",
            Decision::RevertAll => "REVERT_ALL",
        }
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One attempt of a retry's subflow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    /// What the retry provided for this attempt.
    pub value: Value,
    /// The failures of this attempt, by atom name (a nested retry's failure
    /// is listed under the nested retry's name).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<(String, Failure)>,
    /// What the retry decided after the first failure of this attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
}

/// The attempts of a retry's subflow so far, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    attempts: Vec<Attempt>,
}

impl History {
    /// The attempts so far (the one running last).
    pub fn attempts(&self) -> &[Attempt] {
        &self.attempts
    }

    /// How many attempts were started.
    pub fn len(&self) -> usize {
        self.attempts.len()
    }

    /// Whether no attempt was started yet.
    pub fn is_empty(&self) -> bool {
        self.attempts.is_empty()
    }

    /// The latest attempt.
    pub fn last(&self) -> Option<&Attempt> {
        self.attempts.last()
    }

    /// Every failure of every attempt, oldest first.
    pub fn failures(&self) -> impl Iterator<Item = (&str, &Failure)> {
        self.attempts
            .iter()
            .flat_map(|a| a.failures.iter().map(|(n, f)| (n.as_str(), f)))
    }

    /// The values provided so far, oldest first.
    pub fn values(&self) -> impl Iterator<Item = &Value> {
        self.attempts.iter().map(|a| &a.value)
    }

    pub(crate) fn start(&mut self, value: Value) {
        self.attempts.push(Attempt {
            value,
            failures: Vec::new(),
            decision: None,
        });
    }

    /// Adds a failure to the latest attempt, once.
    pub(crate) fn add_failure(&mut self, atom: &str, failure: &Failure) {
        if let Some(last) = self.attempts.last_mut() {
            if !last.failures.iter().any(|(n, _)| n == atom) {
                last.failures.push((atom.to_owned(), failure.clone()));
            }
        }
    }

    pub(crate) fn decided(&mut self, decision: Decision) {
        if let Some(last) = self.attempts.last_mut() {
            last.decision = Some(decision);
        }
    }
}
