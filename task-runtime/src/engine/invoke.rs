//! Calling an atom's code: its arguments resolved from storage, panics caught,
//! timeouts, and what a result must look like.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake};
use std::time::Duration;

use serde_json::Value;

use super::executor;
use crate::failure::{Failure, FailureKind};
use crate::listener::Listeners;
use crate::storage::Storage;
use crate::task::{BoxFuture, Call, CancelToken, Invocation, Provides, Resources, RevertInfo};

/// What running atoms needs besides storage.
pub(super) struct RunCtx<'a> {
    pub(super) resources: &'a Arc<Resources>,
    pub(super) listeners: &'a Listeners,
    pub(super) defer_reverts: bool,
    /// Runs the atoms it handles elsewhere.
    pub(super) executor: Option<&'a dyn executor::Executor>,
    /// Fires when the run loses its lease; handed to tasks.
    pub(super) cancel: Option<&'a CancelToken>,
}

/// Awaits an async task's future for at most `limit`, cancelling it after.
pub(super) async fn with_timeout(
    future: BoxFuture<Result<Value, Failure>>,
    limit: Duration,
    atom: &str,
) -> Result<Value, Failure> {
    match tokio::time::timeout(limit, settle(Invocation::Pending(future), atom)).await {
        Ok(result) => result,
        Err(_) => Err(timed_out(atom, limit)),
    }
}

pub(super) fn timed_out(atom: &str, limit: Duration) -> Failure {
    Failure::new(
        FailureKind::Timeout,
        format!("task `{atom}` ran past its timeout of {limit:?}"),
    )
}

/// Starts executing atom `i`: resolves its arguments and calls its code.
pub(super) fn start_execute(storage: &Storage, ctx: &RunCtx<'_>, i: usize) -> Invocation {
    call_atom(storage, ctx, i, None, |def, call| def.exec.call(call))
}

/// Starts reverting atom `i`; `None` when there is nothing to undo (no revert
/// code, or its function was never called).
pub(super) fn start_revert(
    storage: &Storage,
    ctx: &RunCtx<'_>,
    failures: &crate::failure::Failures,
    i: usize,
) -> Option<Invocation<Value>> {
    let result = undone(storage, i)?;
    let def = storage.plan.atoms[i].def();
    if let Some(executor) = ctx.executor.filter(|e| e.handles(&def.meta)) {
        let action = executor::Action::Revert {
            result: result.cloned().map_err(Failure::clone),
            failures: failures.clone(),
        };
        let future = executor.execute(executor::request(storage, i, action));
        // The worker sends the revert's result back.
        return Some(Invocation::Pending(future));
    }
    let info = RevertInfo { result, failures };
    Some(call_atom(storage, ctx, i, Some(info), revert_code))
}

/// What reverting atom `i` undoes: its result, or its failure. `None` when
/// there is nothing to undo: it has no revert code, or its function was
/// never called.
pub(super) fn undone(storage: &Storage, i: usize) -> Option<Result<&Value, &Failure>> {
    storage.plan.atoms[i].def().revert.as_ref()?;
    match (&storage.results[i], &storage.failures[i]) {
        (_, Some(f)) if matches!(f.kind(), FailureKind::Argument | FailureKind::Decider) => None,
        (_, Some(f)) => Some(Err(f)),
        (Some(v), None) => Some(Ok(v)),
        (None, None) => None,
    }
}

/// Calls a task's revert code (which [`undone`] found).
pub(super) fn revert_code(def: &crate::task::TaskDef, call: &Call<'_>) -> Invocation<Value> {
    match &def.revert {
        Some(revert) => revert.call(call),
        None => Invocation::Ready(Ok(Value::Null)),
    }
}

/// A revert reads some arguments from other names (`revert_rebind`): moves
/// them into place in `args`, the atom's arguments in order.
pub(super) fn rebind_for_revert<T: Clone>(spec: &crate::task::TaskSpec, args: &mut [T]) {
    let meta = &spec.def().meta;
    for (arg, from) in spec.revert_rebinds() {
        let at = |name: &str| meta.value_args().position(|(n, _)| n == name);
        if let (Some(k), Some(j)) = (at(arg), at(from)) {
            args[k] = args[j].clone();
        }
    }
}

pub(super) fn call_atom<T>(
    storage: &Storage,
    ctx: &RunCtx<'_>,
    i: usize,
    revert: Option<RevertInfo<'_>>,
    code: impl FnOnce(&crate::task::TaskDef, &Call<'_>) -> Invocation<T>,
) -> Invocation<T> {
    let atom = &storage.plan.atoms[i];
    let sources = storage.plan.arg_sources(i);
    let mut small: [Option<&Value>; 8] = [None; 8];
    let mut large: Vec<Option<&Value>>;
    let args: &mut [Option<&Value>] = if sources.len() <= small.len() {
        &mut small[..sources.len()]
    } else {
        large = vec![None; sources.len()];
        &mut large
    };
    for (arg, source) in args.iter_mut().zip(sources) {
        *arg = storage.source(source);
    }
    let def = atom.def();
    if revert.is_some() {
        rebind_for_revert(atom, args);
    }
    let mut call = Call::new(atom.atom_name(), &def.meta, args, ctx.resources);
    call.revert = revert;
    call.listeners = Some(ctx.listeners);
    call.history = storage.history_for(i);
    call.cancel = ctx.cancel;
    match std::panic::catch_unwind(AssertUnwindSafe(|| code(def, &call))) {
        Ok(invocation) => invocation,
        Err(panic) => Invocation::Ready(Err(Failure::from_panic(atom.atom_name(), &*panic))),
    }
}

/// Waits for an invocation; a panic inside an async task becomes its failure.
pub(super) async fn settle<T>(invocation: Invocation<T>, atom: &str) -> Result<T, Failure> {
    match invocation {
        Invocation::Ready(result) => result,
        Invocation::Pending(future) => CatchUnwind(future)
            .await
            .unwrap_or_else(|panic| Err(Failure::from_panic(atom, &*panic))),
    }
}

/// A result must match what the task says it provides.
pub(super) fn check_provides(storage: &Storage, i: usize, value: Value) -> Result<Value, Failure> {
    let atom = &storage.plan.atoms[i];
    if let Provides::Tuple(names) = atom.provides() {
        let len = value.as_array().map(Vec::len);
        if len != Some(names.len()) {
            let names: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
            return Err(Failure::new(
                FailureKind::Result,
                format!(
                    "task `{}` provides {} values ({}), but its result is {}",
                    atom.atom_name(),
                    names.len(),
                    names.join(", "),
                    match len {
                        Some(n) => format!("a sequence of {n}"),
                        None => format!("not a sequence: {value}"),
                    }
                ),
            ));
        }
    }
    Ok(value)
}

struct CatchUnwind<T>(BoxFuture<Result<T, Failure>>);

impl<T> Future for CatchUnwind<T> {
    type Output = Result<Result<T, Failure>, Box<dyn std::any::Any + Send>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let future = &mut self.get_mut().0;
        match std::panic::catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(result)) => Poll::Ready(Ok(result)),
            Err(panic) => Poll::Ready(Err(panic)),
        }
    }
}

pub(super) struct NoopWake;

impl Wake for NoopWake {
    fn wake(self: Arc<Self>) {}
}
