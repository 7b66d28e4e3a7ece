//! Retries: what a retry controller decides when an atom of its subflow
//! fails, the wait between attempts, and resetting a subflow for another
//! attempt.

use std::sync::Arc;
use std::time::Duration;

use super::invoke::{call_atom, RunCtx};
use super::machine::Resolution;
use crate::failure::Failure;
use crate::retry::{Decision, History, RetryCall};
use crate::state::AtomState;
use crate::storage::{Hooks, Storage, TransitionError};
use crate::task::Invocation;

/// The wait before the retry of scope `scope` runs again (none before its
/// first attempt).
pub(super) fn retry_delay(storage: &Storage, scope: usize) -> Duration {
    let history = &storage.histories[scope];
    if history.is_empty() {
        return Duration::ZERO;
    }
    let retry = &storage.plan.retries[scope].retry;
    retry
        .controller
        .delay(history)
        .unwrap_or_else(|| retry.delay.before(history.len() as u32 + 1))
}

/// Resolves the failure of atom `i`, inside a retry's subflow: asks its
/// retry, and — when that retry reverts — the retries around it.
pub(super) fn resolve(storage: &mut Storage, ctx: &RunCtx<'_>, i: usize) -> Resolution {
    let plan = Arc::clone(&storage.plan);
    let Some(failure) = storage.failures[i].clone() else {
        return Resolution::All;
    };
    let Some(scope) = plan.scope_of(i) else {
        return Resolution::All;
    };
    decide(storage, ctx, scope, plan.atoms[i].atom_name(), &failure)
}

fn decide(
    storage: &mut Storage,
    ctx: &RunCtx<'_>,
    scope: usize,
    atom: &str,
    failure: &Failure,
) -> Resolution {
    let plan = Arc::clone(&storage.plan);
    let retry = &plan.retries[scope];
    let history = Arc::make_mut(&mut storage.histories[scope]);
    history.add_failure(atom, failure);
    // Decided once per attempt: a second failure of the same attempt, or a
    // resumed run, gets the recorded decision.
    let decision = match history.last().and_then(|a| a.decision) {
        Some(decision) => decision,
        None => {
            let controller = Arc::clone(&retry.retry.controller);
            let asked = call_atom(storage, ctx, retry.atom as usize, None, |_, call| {
                let empty = History::default();
                let history = call.retry_history().unwrap_or(&empty);
                Invocation::Ready(Ok(controller.on_failure(&RetryCall { call, history })))
            });
            let retry_name = plan.atoms[retry.atom as usize].atom_name();
            let history = Arc::make_mut(&mut storage.histories[scope]);
            let decision = match asked {
                Invocation::Ready(Ok(decision)) => decision,
                Invocation::Ready(Err(failure)) => {
                    // A controller that panics cannot be trusted to retry.
                    tracing::error!(retry = retry_name, %failure, "retry controller failed; reverting the flow");
                    history.add_failure(retry_name, &failure);
                    Decision::RevertAll
                }
                Invocation::Pending(_) => Decision::RevertAll,
            };
            history.decided(decision);
            tracing::info!(
                retry = retry_name,
                atom,
                decision = ?decision,
                attempts = history.len(),
                "retry decided"
            );
            decision
        }
    };
    match decision {
        Decision::Retry => Resolution::Retry(scope),
        Decision::RevertAll => Resolution::All,
        Decision::Revert => {
            let retry_name = plan.atoms[retry.atom as usize].atom_name();
            let parent = retry
                .parent
                .map(|p| decide(storage, ctx, p as usize, retry_name, failure));
            match (ctx.defer_reverts, parent) {
                (true, parent) => parent.unwrap_or(Resolution::All),
                (false, Some(Resolution::Retry(p))) => Resolution::Retry(p),
                (false, Some(Resolution::All)) => Resolution::All,
                (false, _) => Resolution::Revert(scope),
            }
        }
    }
}

/// Resets scope `scope` for another attempt: its retry goes RETRYING (its
/// history recorded with it), its subflow's atoms PENDING, the histories of
/// retries inside it start again.
pub(super) fn reset_scope(
    storage: &mut Storage,
    hooks: &mut Hooks<'_>,
    scope: usize,
) -> Result<(), TransitionError> {
    let plan = Arc::clone(&storage.plan);
    let retry = &plan.retries[scope];
    let r = retry.atom as usize;
    if storage.states[r] != AtomState::Retrying {
        storage.set_atom(r, AtomState::Retrying, None, hooks)?;
    }
    for (s, inner) in plan.retries.iter().enumerate() {
        if retry.members.contains(&inner.atom) {
            storage.histories[s] = Arc::default();
        }
    }
    for m in retry.members.clone() {
        let m = m as usize;
        if storage.states[m] != AtomState::Pending {
            storage.set_atom(m, AtomState::Pending, None, hooks)?;
        }
    }
    // Not done any more: once for the whole subflow, not per atom.
    storage.completed.retain(|a| !retry.members.contains(a));
    Ok(())
}
