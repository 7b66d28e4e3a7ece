//! Helpers shared by the integration tests: run-time tasks that log what they do.
#![allow(dead_code)]

pub(crate) mod watched;

use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use taskwire::{FnTask, TaskSpec};

/// A shared, ordered log of what tasks did ("exec:a", "revert:a", ...).
#[derive(Clone, Default, Debug)]
pub(crate) struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    pub(crate) fn push(&self, entry: impl Into<String>) {
        self.0.lock().unwrap().push(entry.into());
    }

    pub(crate) fn entries(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

/// A task that requires `requires`, provides `provides` (the sum of its numeric
/// arguments plus one), logs its execution and revert.
pub(crate) fn step(
    log: &Log,
    name: &'static str,
    requires: &[&'static str],
    provides: &'static str,
) -> TaskSpec {
    let (l1, l2) = (log.clone(), log.clone());
    let n = requires.len();
    let mut t = FnTask::new(name).requires(requires.iter().copied());
    if !provides.is_empty() {
        t = t.provides(provides);
    }
    t.run(move |call| {
        let mut total = 1i64;
        for i in 0..n {
            total += call.arg::<i64>(i)?;
        }
        l1.push(format!("exec:{name}"));
        Ok(json!(total))
    })
    .revert(move |call| {
        let outcome: taskwire::Outcome<Value> = call.outcome()?;
        l2.push(format!(
            "revert:{name}:{}",
            if outcome.is_success() { "ok" } else { "failed" }
        ));
        Ok(())
    })
    .into_spec()
}

/// A task that fails with `BoomError`.
pub(crate) fn failing(log: &Log, name: &'static str, requires: &[&'static str]) -> TaskSpec {
    let (l1, l2) = (log.clone(), log.clone());
    FnTask::new(name)
        .requires(requires.iter().copied())
        .run(move |_| {
            l1.push(format!("exec:{name}"));
            Err(taskwire::Failure::from_error(BoomError(name.to_owned())))
        })
        .revert(move |call| {
            let failures = call.failures()?;
            l2.push(format!("revert:{name}:failures={}", failures.len()));
            Ok(())
        })
        .into_spec()
}

/// The error `failing` tasks return.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("boom in {0}")]
pub(crate) struct BoomError(pub(crate) String);
