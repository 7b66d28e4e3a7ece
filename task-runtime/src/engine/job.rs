//! What the local pool runs: a job, held by value in the pool's queue so
//! that handing a task to the pool allocates nothing of its own (jobs are
//! made on the loop's thread and dropped on the pool's, and glibc's
//! allocator lock was the largest cost of a sync fan-out when each one was
//! a boxed closure with its own copies).

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::mpsc;
use tracing::Span;

use super::invoke::revert_code;
use crate::failure::{Failure, FailureKind, Failures};
use crate::flow::ExecutionGraph;
use crate::listener::Listeners;
use crate::retry::History;
use crate::task::{Call, CancelToken, Invocation, Resources, RevertInfo};

/// A result that came later: atom, ticket, result, and whether a pool thread
/// sent it.
pub(super) type Later = (usize, u64, Result<Value, Failure>, bool);

/// A job of the pool: one call of a sync task, which sends its own result.
pub(super) enum Job {
    /// A task's call.
    Task(TaskJob),
    /// Any other work (the pool's tests).
    #[cfg(test)]
    Other(Box<dyn FnOnce() + Send + 'static>),
}

impl Job {
    pub(super) fn run(self) {
        match self {
            Job::Task(job) => job.run(),
            #[cfg(test)]
            Job::Other(f) => f(),
        }
    }
}

/// What a run's pool jobs share: one reference count per job instead of
/// one allocation or count for each of these (see the module documentation).
pub(super) struct Shared {
    pub(super) plan: Arc<ExecutionGraph>,
    pub(super) resources: Arc<Resources>,
    pub(super) listeners: Listeners,
    pub(super) cancel: Option<CancelToken>,
    pub(super) tx: mpsc::UnboundedSender<Later>,
}

/// One call of a sync task on the pool's thread: it sends its own result.
pub(super) struct TaskJob {
    pub(super) shared: Arc<Shared>,
    pub(super) i: usize,
    pub(super) ticket: u64,
    pub(super) args: Args,
    pub(super) history: Option<Arc<History>>,
    pub(super) span: Span,
    /// A revert's call: what it undoes (else the task's own call).
    pub(super) undo: Option<Box<Undo>>,
}

/// What a revert on the pool undoes: the atom's result or failure, and the
/// flow's failures.
pub(super) struct Undo {
    pub(super) result: Result<Value, Failure>,
    pub(super) failures: Failures,
}

impl TaskJob {
    pub(super) fn run(self) {
        let TaskJob {
            shared,
            i,
            ticket,
            args,
            history,
            span,
            undo,
        } = self;
        let spec = &shared.plan.atoms[i];
        let name = spec.atom_name();
        let def = spec.def();
        let result = args.with_refs(|args| {
            let mut call = Call::new(name, &def.meta, args, &shared.resources);
            call.listeners = Some(&shared.listeners);
            call.history = history.as_ref();
            call.cancel = shared.cancel.as_ref();
            call.revert = undo.as_deref().map(|undo| RevertInfo {
                result: undo.result.as_ref(),
                failures: &undo.failures,
            });
            // The task runs inside its attempt's span, on the pool's thread;
            // the thread lets go of the span before it tells the result.
            let called = span.in_scope(|| {
                std::panic::catch_unwind(AssertUnwindSafe(|| match call.revert {
                    None => def.exec.call(&call),
                    Some(_) => revert_code(def, &call),
                }))
            });
            drop(span);
            match called {
                Ok(Invocation::Ready(result)) => result,
                Ok(Invocation::Pending(_)) => Err(not_sync(name)),
                Err(panic) => Err(Failure::from_panic(name, &*panic)),
            }
        });
        let _ = shared.tx.send((i, ticket, result, true));
    }
}

/// A pool job's arguments: up to two held inline, more in a vector.
pub(super) enum Args {
    Few(usize, [Option<Value>; 2]),
    Many(Vec<Option<Value>>),
}

impl Args {
    pub(super) fn new(mut values: impl ExactSizeIterator<Item = Option<Value>>) -> Args {
        match values.len() {
            n @ 0..=2 => Args::Few(n, [values.next().flatten(), values.next().flatten()]),
            _ => Args::Many(values.collect()),
        }
    }

    /// Calls `f` with the arguments as the task call takes them.
    fn with_refs<R>(&self, f: impl FnOnce(&[Option<&Value>]) -> R) -> R {
        match self {
            Args::Few(n, [a, b]) => f(&[a.as_ref(), b.as_ref()][..*n]),
            Args::Many(values) => {
                let refs: Vec<Option<&Value>> = values.iter().map(Option::as_ref).collect();
                f(&refs)
            }
        }
    }
}

/// A sync task that returned a future.
pub(super) fn not_sync(atom: &str) -> Failure {
    Failure::new(
        FailureKind::Task,
        format!("task `{atom}` says it is sync but returned a future"),
    )
}
