//! The run loop: one loop for every executor. Each turn asks the state
//! machine for the next action, notes the transitions it implies in storage
//! (and so in the logbook's journal), commits them — all the transitions of
//! the turn in one transaction — and only then acts: starts the atoms, begins
//! a revert, waits for a result, or ends the run.

// A run ends with at most one error, which names flow, atom and backend; its
// size is not on any hot path, so it stays unboxed for easy matching.
#![allow(clippy::result_large_err)]

use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use serde_json::Value;
use tracing::Instrument;

use super::builder::Prepared;
use super::executors::{Executors, Started};
use super::invoke::{check_provides, start_execute, NoopWake, RunCtx};
use super::links::check_links;
use super::machine::{Action, Checked, Machine};
use super::observe::{self, Observe};
use super::retries::{reset_scope, resolve, retry_delay};
use super::{AtomState, Done, Engine, FlowState, RunError};
use crate::failure::{Failure, Failures};
use crate::listener::{Listener, RunStart};
use crate::record::Recorder;
use crate::storage::{Hooks, Storage};
use crate::task::{CancelToken, Invocation};

impl Engine {
    /// Runs the flow to its end, blocking. Works from plain `main` (async tasks
    /// get a current-thread tokio runtime) and from inside a tokio runtime (the
    /// flow then runs on a helper thread; prefer [`Engine::run_async`] there).
    pub fn run(&mut self) -> Result<Done, RunError> {
        self.prepare()?;
        if tokio::runtime::Handle::try_current().is_ok() {
            // The caller's span stays the flow's parent on the helper thread.
            let parent = tracing::Span::current();
            return std::thread::scope(|s| {
                s.spawn(|| parent.in_scope(|| self.run_here()))
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            });
        }
        self.run_here()
    }

    fn run_here(&mut self) -> Result<Done, RunError> {
        let plan = Arc::clone(&self.prepare()?.storage.plan);
        let has_async = plan.atoms().iter().any(|a| a.def().meta.is_async);
        // Retries may wait between attempts, on the runtime's timer.
        let has_retries = !plan.retries.is_empty();
        let flow = plan.flow_name().to_owned();
        let runtime = || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| RunError::Runtime {
                    flow: flow.clone(),
                    message: e.to_string(),
                })
        };
        if has_async || has_retries || self.max_workers > 1 || self.executor.is_some() {
            return runtime()?.block_on(self.run_async());
        }
        // Sync tasks only: the run completes in one poll, without a runtime.
        let mut future = std::pin::pin!(self.run_async());
        let waker = Waker::from(Arc::new(NoopWake));
        match future.as_mut().poll(&mut Context::from_waker(&waker)) {
            Poll::Ready(result) => result,
            Poll::Pending => runtime()?.block_on(future),
        }
    }

    /// Runs the flow to its end (or until it is suspended).
    ///
    /// A flow that was suspended goes on from where it stopped (RESUMING, then
    /// RUNNING or REVERTING); a flow that has ended gives its outcome again.
    pub async fn run_async(&mut self) -> Result<Done, RunError> {
        self.prepare()?;
        let span = match &self.stage {
            super::builder::Stage::Prepared(prepared) => {
                observe::flow_span(&self.name, prepared.recorder.as_ref())
            }
            _ => unreachable!("prepared above"),
        };
        if span.is_none() {
            return self.run_prepared(span).await;
        }
        self.run_prepared(span.clone()).instrument(span).await
    }

    async fn run_prepared(&mut self, span: tracing::Span) -> Result<Done, RunError> {
        let Engine {
            stage,
            name,
            resources,
            listeners,
            max_workers,
            suspender,
            persist,
            defer_reverts,
            executor,
            ..
        } = self;
        let super::builder::Stage::Prepared(Prepared { storage, recorder }) = stage else {
            unreachable!("prepared above");
        };
        let shared = storage;
        let storage = Arc::make_mut(shared);
        let mut log = Log {
            recorder: recorder.as_mut(),
            listeners: &listeners.list[..],
            flow: name,
            obs: Observe::new(storage.plan.atoms.len()),
        };
        if storage.flow_state.is_final() {
            if let Some(recorder) = log.recorder.as_deref_mut() {
                // A recorded run that had ended: nothing to do, give the lease back.
                if let Err(e) = recorder.release() {
                    tracing::warn!(flow = %name, error = %e, "cannot give the lease back");
                }
            }
            return outcome(shared);
        }
        // Suspended (or stopped on a lost lease) before: take the lease again.
        let cancel = match log.recorder.as_deref_mut() {
            Some(recorder) => {
                recorder
                    .hold(persist)
                    .map_err(|source| RunError::persistence(name.clone(), source))?;
                Some(recorder.cancel_token().clone())
            }
            None => None,
        };
        let cancel = cancel.as_ref();
        if !log.listeners.is_empty() {
            let atoms: Vec<&str> = storage.plan.atoms().iter().map(|a| a.atom_name()).collect();
            let run_start = RunStart {
                flow: name.as_str(),
                atoms: &atoms,
                states: &storage.states,
            };
            for l in log.listeners {
                l.on_start(&run_start);
            }
        }
        // A run recorded RESUMING died while it was being taken up: it is
        // taken up again from there.
        let resuming = storage.flow_state != FlowState::Pending;
        if resuming && storage.flow_state != FlowState::Resuming {
            storage.set_flow(FlowState::Resuming, &mut log.hooks())?;
        }
        let mut machine = Machine::new(storage);
        let going = match machine.is_reverting() {
            true => FlowState::Reverting,
            false => FlowState::Running,
        };
        storage.set_flow(going, &mut log.hooks())?;
        let plan = Arc::clone(&storage.plan);
        let ctx = RunCtx {
            resources,
            listeners,
            defer_reverts: *defer_reverts,
            executor: executor.as_deref(),
            cancel,
        };
        let serial = *max_workers == 1 && executor.is_none();
        let mut exec = Executors::new(ctx, plan.atoms().len(), serial);
        // The flow's failures, built once when reverting starts: they do not
        // change while reverting (a failed revert ends it). With retries they
        // change between attempts, and are built for each revert.
        let mut failures: Option<Failures> = None;
        // Atoms to start once this turn's transitions are committed.
        let mut starting: Vec<usize> = Vec::new();
        let notes = listeners.notes.clone();
        // Listeners can only change what the machine decides next by
        // suspending the run, through a handle of the engine's suspender.
        // Without one, what they are told waits for the turn's commit (a
        // chain's SUCCESS and next RUNNING share it): they hear the same
        // changes, in the same order, each once it is durable and before
        // anything acts on it.
        let told_before_deciding = suspender.is_shared();
        loop {
            if cancel.is_some_and(CancelToken::is_cancelled) {
                return Err(log.lease_lost());
            }
            if let Some(notes) = &notes {
                // What tasks asked to keep (progress, metadata): stored, and
                // committed with this turn's transitions.
                let taken = notes.take();
                if !taken.is_empty() {
                    storage.absorb(taken, &mut log.hooks());
                }
            }
            if told_before_deciding && storage.has_untold() {
                // Listeners hear of what happened before the machine decides
                // what follows, so that they can suspend the run in time: a
                // persisted run whose suspender has another handle commits a
                // turn's results, then its starts (else both share one
                // commit).
                if log.recorder.is_some() {
                    log.commit(storage).await?;
                }
            }
            if suspender.take() && !storage.flow_state.is_final() {
                machine.suspend();
                if storage.flow_state != FlowState::Suspending {
                    storage.set_flow(FlowState::Suspending, &mut log.hooks())?;
                }
            }
            let room = exec.out() + starting.len() < *max_workers;
            match machine.next(&plan, room) {
                Action::Execute(i) => {
                    storage.set_atom(i, AtomState::Running, None, &mut log.hooks())?;
                    // While the machine only starts atoms (no failure, no
                    // retry, no decider), it is asked for every atom it can
                    // start before they start, so that all of them are
                    // committed together; else each starts at once.
                    if *max_workers > 1
                        && exec.out() + starting.len() + 1 < *max_workers
                        && machine.only_starts()
                    {
                        starting.push(i);
                        continue;
                    }
                    if log.recorder.is_some() {
                        log.commit(storage).await?;
                    }
                    if starting.is_empty() {
                        // One atom (a serial run's every step).
                        start(storage, &mut machine, &mut log, &mut exec, i)?;
                        if !serial {
                            exec.send();
                        }
                    } else {
                        starting.push(i);
                        start_all(storage, &mut machine, &mut log, &mut exec, &mut starting)?;
                    }
                }
                Action::Wait if !starting.is_empty() => {
                    // Nothing more to start this turn: start what was decided.
                    if log.recorder.is_some() {
                        log.commit(storage).await?;
                    }
                    start_all(storage, &mut machine, &mut log, &mut exec, &mut starting)?;
                }
                Action::Wait => {
                    if log.recorder.is_some() {
                        log.commit(storage).await?;
                    }
                    let done = match exec.try_done() {
                        Some(done) => Some(done),
                        None => unless_lost(exec.next_done(), cancel).await,
                    };
                    let Some((i, result)) = done else {
                        // Dropping the executors cancels the async atoms
                        // still running.
                        return Err(log.lease_lost());
                    };
                    finish_execute(storage, &mut machine, &mut log, i, result)?;
                    // Every result that has come is taken in this turn, so
                    // that what they free starts (and commits) together.
                    while let Some((i, result)) = exec.try_done() {
                        finish_execute(storage, &mut machine, &mut log, i, result)?;
                    }
                }
                Action::Decide(i) => {
                    let span = observe::decide_span(storage, i);
                    let resolution = span.in_scope(|| resolve(storage, &exec.ctx, i));
                    if !span.is_none() {
                        span.record("decision", tracing::field::debug(resolution));
                    }
                    machine.resolved(storage, resolution);
                    if machine.is_reverting() && storage.flow_state == FlowState::Running {
                        storage.set_flow(FlowState::Reverting, &mut log.hooks())?;
                    }
                }
                Action::Retry(scope) => {
                    // Listeners hear of the failures before the reset.
                    if log.recorder.is_some() {
                        log.commit(storage).await?;
                    }
                    reset_scope(storage, &mut log.hooks(), scope)?;
                    machine.retried(storage, scope);
                    observe::retried(storage, scope);
                }
                Action::Check(i) => match check_links(storage, i) {
                    Ok(no) if no.is_empty() => {
                        machine.checked(&plan, i, Checked::Run);
                    }
                    Ok(no) => {
                        let skip = machine.checked(&plan, i, Checked::Ignore(no));
                        for &j in &skip {
                            storage.set_atom(j, AtomState::Ignore, None, &mut log.hooks())?;
                        }
                        machine.ignored(storage, &skip);
                    }
                    Err(failure) => {
                        machine.checked(&plan, i, Checked::Fail);
                        storage.set_atom(i, AtomState::Running, None, &mut log.hooks())?;
                        finish_execute(storage, &mut machine, &mut log, i, Err(failure))?;
                    }
                },
                Action::Revert(i) => {
                    storage.set_atom(i, AtomState::Reverting, None, &mut log.hooks())?;
                    if log.recorder.is_some() {
                        log.commit(storage).await?;
                    }
                    if !plan.retries.is_empty() {
                        failures = None;
                    }
                    let failures = failures.get_or_insert_with(|| storage.failures());
                    let span = observe::revert_span(storage, i);
                    let result = match exec.revert(storage, failures, i, &span) {
                        Some(Started::Ready(result)) => result,
                        Some(Started::Out) => match unless_lost(exec.result_of(i), cancel).await {
                            Some(result) => result,
                            None => return Err(log.lease_lost()),
                        },
                        None => Ok(Value::Null),
                    };
                    let (state, outcome) = match result {
                        Ok(Value::Null) => (AtomState::Reverted, None),
                        Ok(value) => {
                            storage.set_meta(i, "revert_result", Some(value), &mut log.hooks());
                            (AtomState::Reverted, None)
                        }
                        Err(failure) => (AtomState::RevertFailure, Some(Err(failure))),
                    };
                    let failure = match &outcome {
                        Some(Err(failure)) => Some(failure),
                        _ => None,
                    };
                    observe::revert_done(storage, i, &span, state, failure);
                    drop(span);
                    storage.set_atom(i, state, outcome, &mut log.hooks())?;
                    machine.reverted(state == AtomState::Reverted);
                }
                Action::Finish(state) => {
                    if state == FlowState::Reverted && storage.flow_state == FlowState::Running {
                        // A subflow was reverted for good, the rest is done.
                        storage.set_flow(FlowState::Reverting, &mut log.hooks())?;
                    }
                    storage.set_flow(state, &mut log.hooks())?;
                    if log.recorder.is_some() {
                        log.commit(storage).await?;
                    }
                    observe::flow_done(&span, name, state, log.obs.elapsed());
                    break;
                }
            }
        }
        drop(exec);
        outcome(shared)
    }
}

/// The run's logbook side: the recorder (with persistence) and the
/// listeners, who hear of what is committed.
struct Log<'a> {
    recorder: Option<&'a mut Recorder>,
    listeners: &'a [Arc<dyn Listener>],
    flow: &'a str,
    /// The spans and timings of the atoms that are out.
    obs: Observe,
}

impl Log<'_> {
    fn hooks(&mut self) -> Hooks<'_> {
        Hooks {
            listeners: self.listeners,
            journal: match &mut self.recorder {
                Some(recorder) => Some(&mut **recorder),
                None => None,
            },
        }
    }

    /// Commits the transitions noted since the last commit, then tells the
    /// listeners.
    async fn commit(&mut self, storage: &mut Storage) -> Result<(), RunError> {
        let Some(recorder) = self.recorder.as_deref_mut() else {
            return Ok(());
        };
        if recorder.is_dirty() {
            let span = observe::commit_span();
            #[cfg(feature = "metrics")]
            let since = std::time::Instant::now();
            let committed = if span.is_none() {
                recorder.commit().await
            } else {
                recorder.commit().instrument(span).await
            };
            committed.map_err(|source| RunError::persistence(self.flow.to_owned(), source))?;
            #[cfg(feature = "metrics")]
            crate::telemetry::meter::logbook_write(since.elapsed());
        }
        storage.tell(self.listeners);
        Ok(())
    }

    /// The error of a run whose lease was lost.
    fn lease_lost(&mut self) -> RunError {
        let source = match self.recorder.as_deref_mut() {
            Some(recorder) => recorder.lost(),
            None => unreachable!("only a recorded run has a lease to lose"),
        };
        RunError::LeaseLost {
            flow: self.flow.to_owned(),
            source,
        }
    }
}

/// Starts the atoms of this turn, recorded RUNNING and committed: each on its
/// executor. Results that are there at once are recorded at once.
fn start_all(
    storage: &mut Storage,
    machine: &mut Machine,
    log: &mut Log<'_>,
    exec: &mut Executors<'_>,
    starting: &mut Vec<usize>,
) -> Result<(), RunError> {
    // The list is taken and given back, to keep its allocation.
    let mut list = std::mem::take(starting);
    for &i in &list {
        start(storage, machine, log, exec, i)?;
    }
    exec.send();
    list.clear();
    *starting = list;
    Ok(())
}

/// Starts atom `i` (recorded RUNNING and committed) on its executor; a
/// result that is there at once is recorded at once.
#[inline]
fn start(
    storage: &mut Storage,
    machine: &mut Machine,
    log: &mut Log<'_>,
    exec: &mut Executors<'_>,
    i: usize,
) -> Result<(), RunError> {
    if let Some(scope) = storage.plan.retry_scope(i) {
        // A retry atom: its code is bookkeeping, run here; the wait before a
        // new attempt is on the timer.
        let wait = retry_delay(storage, scope);
        let span = log.obs.start(storage, i, || "inline");
        let _entered = span.enter();
        let result = match start_execute(storage, &exec.ctx, i) {
            Invocation::Ready(result) => result,
            Invocation::Pending(_) => unreachable!("retry controllers are sync"),
        };
        if !wait.is_zero() && !span.is_none() {
            let delay_ms = wait.as_millis() as u64;
            span.record("delay_ms", delay_ms);
            tracing::info!(delay_ms, "retry waits");
        }
        drop(_entered);
        if wait.is_zero() {
            finish_execute(storage, machine, log, i, result)?;
        } else {
            exec.after(i, wait, result);
        }
        return Ok(());
    }
    if !log.obs.on() {
        // No spans for this run: the path of a run without a subscriber.
        log.obs.started(i);
        if let Started::Ready(result) = exec.execute(storage, i, None) {
            finish_execute(storage, machine, log, i, result)?;
        }
        return Ok(());
    }
    let span = log.obs.start(storage, i, || exec.kind(storage, i));
    let entered = span.enter();
    let started = exec.execute(storage, i, Some(&span));
    drop(entered);
    if let Started::Ready(result) = started {
        finish_execute(storage, machine, log, i, result)?;
    }
    Ok(())
}

/// Awaits `future`, unless the run's lease is lost first (`None`).
async fn unless_lost<F: Future>(future: F, cancel: Option<&CancelToken>) -> Option<F::Output> {
    let Some(cancel) = cancel else {
        return Some(future.await);
    };
    let mut future = std::pin::pin!(future);
    let mut lost = std::pin::pin!(cancel.cancelled());
    std::future::poll_fn(|cx| {
        if let Poll::Ready(out) = future.as_mut().poll(cx) {
            return Poll::Ready(Some(out));
        }
        lost.as_mut().poll(cx).map(|()| None)
    })
    .await
}

/// Notes the end of atom `i`'s execution and tells the machine.
#[inline]
fn finish_execute(
    storage: &mut Storage,
    machine: &mut Machine,
    log: &mut Log<'_>,
    i: usize,
    result: Result<Value, Failure>,
) -> Result<(), RunError> {
    let result = result.and_then(|value| check_provides(storage, i, value));
    let ok = result.is_ok();
    let state = if ok {
        AtomState::Success
    } else {
        AtomState::Failure
    };
    if let (Ok(value), Some(scope)) = (&result, storage.plan.retry_scope(i)) {
        // A new attempt starts: recorded with the retry's SUCCESS.
        Arc::make_mut(&mut storage.histories[scope]).start(value.clone());
    }
    log.obs.done(storage, i, state, result.as_ref().err());
    storage.set_atom(i, state, Some(result), &mut log.hooks())?;
    machine.executed(storage, i, ok);
    if machine.is_reverting() && storage.flow_state == FlowState::Running {
        storage.set_flow(FlowState::Reverting, &mut log.hooks())?;
    }
    Ok(())
}

/// The result of a finished run, from what storage recorded.
fn outcome(shared: &Arc<Storage>) -> Result<Done, RunError> {
    let storage = &**shared;
    let flow = storage.plan.flow.to_string();
    let name = |i: usize| storage.plan.atoms[i].atom_name().to_owned();
    let failed = storage.failures.iter().position(Option::is_some);
    match (storage.flow_state, failed) {
        (FlowState::Success | FlowState::Suspended, _) => Ok(Done::new(Arc::clone(shared))),
        (FlowState::Reverted, Some(i)) => Err(RunError::Failed {
            flow,
            atom: name(i),
            failure: storage.failures[i].clone().expect("found"),
        }),
        (FlowState::Failure, Some(i)) => {
            let r = storage
                .revert_failures
                .iter()
                .position(Option::is_some)
                .unwrap_or(i);
            Err(RunError::RevertFailed {
                flow,
                atom: name(i),
                failure: storage.failures[i].clone().expect("found"),
                revert_atom: name(r),
                revert_failure: storage.revert_failures[r].clone().unwrap_or_else(|| {
                    crate::failure::Failure::new(crate::failure::FailureKind::Task, "unknown")
                }),
            })
        }
        (state, _) => Err(RunError::Ended { flow, state }),
    }
}
