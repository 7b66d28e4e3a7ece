//! The executors around the run loop, behind one interface: the loop asks
//! [`Executors::execute`] to start an atom, and gets its result at once
//! (`Started::Ready`) or later, from [`Executors::next_done`], whichever
//! executor ran it:
//!
//! - **inline**: sync tasks of a serial run, and the bookkeeping of retry
//!   atoms, run on the loop's own thread;
//! - **local pool**: sync tasks of a parallel run go to the pool's threads
//!   (`pool`), whose threads and this loop each look for work (or results)
//!   for a few µs before they sleep, so that a stream of short tasks flows
//!   without wake-ups; async tasks run on the engine's tokio runtime, polled once
//!   first on the loop's thread, so that a task that does not wait costs no
//!   spawn;
//! - **remote**: atoms a user's [`Executor`](super::executor::Executor)
//!   handles (remote workers over a broker) are sent through it.
//!
//! Reverts go through the same executors ([`Executors::revert`]), one at a
//! time in the machine's order: the loop waits for each one's result
//! ([`Executors::result_of`]), and keeps the results of other atoms that
//! come meanwhile for after. A sync revert of a parallel run goes to the
//! pool, so that the loop's runtime goes on with the async tasks still out.
//!
//! Every result that comes later arrives on one channel, with the ticket of
//! the start it answers: a result that comes after its atom timed out is
//! dropped, not mistaken for a newer start's.

use std::collections::VecDeque;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::mpsc;
use tracing::{Instrument, Span};

use super::executor;
use super::invoke::{
    rebind_for_revert, settle, start_execute, start_revert, timed_out, undone, with_timeout,
    NoopWake, RunCtx,
};
use super::job::{not_sync, Args, Job, Later, Shared, TaskJob, Undo};
use super::pool::pool;
use crate::failure::{Failure, Failures};
use crate::storage::Storage;
use crate::task::Invocation;

/// How long the loop looks for a result before it sleeps, while sync tasks
/// are out on the pool: short tasks come back within it, without a wake-up.
const SPIN: Duration = Duration::from_micros(50);

/// How an atom's start went.
pub(super) enum Started {
    /// It ran to its end already.
    Ready(Result<Value, Failure>),
    /// It is out: its result comes from [`Executors::next_done`].
    Out,
}

/// The executors of one run; see the [module documentation](self).
pub(super) struct Executors<'a> {
    pub(super) ctx: RunCtx<'a>,
    /// Sync tasks run inline (a serial run: one atom at a time).
    serial: bool,
    tx: mpsc::UnboundedSender<Later>,
    rx: mpsc::UnboundedReceiver<Later>,
    /// Futures on the runtime (async tasks, remote calls, waits and
    /// timeouts): dropping the set cancels them.
    tasks: tokio::task::JoinSet<()>,
    /// Per atom, the ticket of its start while it is out (0: not out).
    tickets: Vec<u64>,
    next_ticket: u64,
    out: usize,
    /// Sync jobs for the pool, sent together by [`Executors::send`].
    batch: Vec<Job>,
    /// Sync atoms out on the pool.
    pooled: usize,
    /// What every pool job of this run reads, made at the first one.
    shared: Option<Arc<Shared>>,
    /// Results that came while the loop waited for a revert's.
    backlog: VecDeque<(usize, Result<Value, Failure>)>,
}

impl<'a> Executors<'a> {
    pub(super) fn new(ctx: RunCtx<'a>, atoms: usize, serial: bool) -> Executors<'a> {
        let (tx, rx) = mpsc::unbounded_channel();
        Executors {
            ctx,
            serial,
            tx,
            rx,
            tasks: tokio::task::JoinSet::new(),
            tickets: vec![0; atoms],
            next_ticket: 1,
            out: 0,
            batch: Vec::new(),
            pooled: 0,
            shared: None,
            backlog: VecDeque::new(),
        }
    }

    /// How many atoms are out.
    pub(super) fn out(&self) -> usize {
        self.out
    }

    fn ticket(&mut self, i: usize) -> u64 {
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        self.tickets[i] = ticket;
        self.out += 1;
        ticket
    }

    /// Runs `future` on the runtime; its result comes back as atom `i`'s.
    fn spawn(
        &mut self,
        i: usize,
        future: impl Future<Output = Result<Value, Failure>> + Send + 'static,
    ) {
        let ticket = self.ticket(i);
        let tx = self.tx.clone();
        self.tasks.spawn(async move {
            // The future (and the span it may carry) ends before its result
            // is told.
            let result = future.await;
            let _ = tx.send((i, ticket, result, false));
        });
    }

    /// A retry atom's result, given after `wait` (the delay before its
    /// subflow's next attempt).
    pub(super) fn after(&mut self, i: usize, wait: Duration, result: Result<Value, Failure>) {
        self.spawn(i, async move {
            tokio::time::sleep(wait).await;
            result
        });
    }

    /// The executor that runs atom `i`, as its span names it: `inline`,
    /// `remote`, `async` or `pool`.
    #[inline]
    pub(super) fn kind(&self, storage: &Storage, i: usize) -> &'static str {
        let meta = &storage.plan.atoms[i].def().meta;
        if self.serial && !meta.is_async {
            "inline"
        } else if self.ctx.executor.is_some_and(|e| e.handles(meta)) {
            "remote"
        } else if meta.is_async {
            "async"
        } else {
            "pool"
        }
    }

    /// Starts executing atom `i` on the executor that runs it. The caller
    /// has entered `span`, the attempt's span (`None` when the run records
    /// no spans): what runs elsewhere (pool, runtime) carries it along.
    #[inline]
    pub(super) fn execute(&mut self, storage: &Storage, i: usize, span: Option<&Span>) -> Started {
        let spec = &storage.plan.atoms[i];
        let meta = &spec.def().meta;
        if self.serial && !meta.is_async {
            // A serial run's sync task: inline (the common case, first).
            let Some(limit) = spec.timeout_after() else {
                return Started::Ready(match start_execute(storage, &self.ctx, i) {
                    Invocation::Ready(result) => result,
                    Invocation::Pending(_) => Err(not_sync(spec.atom_name())),
                });
            };
            let started = Instant::now();
            let result = match start_execute(storage, &self.ctx, i) {
                Invocation::Ready(_) if started.elapsed() > limit => {
                    Err(timed_out(spec.atom_name(), limit))
                }
                Invocation::Ready(result) => result,
                Invocation::Pending(_) => Err(not_sync(spec.atom_name())),
            };
            return Started::Ready(result);
        }
        let limit = spec.timeout_after();
        if let Some(remote) = self.ctx.executor.filter(|e| e.handles(meta)) {
            // The request carries the attempt's span (entered) as its trace
            // context.
            let future = remote.execute(executor::request(storage, i, executor::Action::Execute));
            let atom = spec.atom_name().to_owned();
            #[cfg(feature = "metrics")]
            crate::telemetry::meter::remote_sent();
            self.spawn(
                i,
                async move {
                    let result = match limit {
                        Some(limit) => with_timeout(future, limit, &atom).await,
                        None => settle(Invocation::Pending(future), &atom).await,
                    };
                    #[cfg(feature = "metrics")]
                    crate::telemetry::meter::remote_done();
                    result
                }
                .instrument(span.cloned().unwrap_or_else(Span::none)),
            );
            return Started::Out;
        }
        if meta.is_async {
            let mut invocation = start_execute(storage, &self.ctx, i);
            if let (Invocation::Pending(future), None) = (&mut invocation, limit) {
                // Polled here first: a task that does not wait costs no
                // spawn. A pending future is polled again by its spawned
                // task, with a real waker (futures wake the waker of their
                // latest poll).
                let waker = Waker::from(Arc::new(NoopWake));
                let polled = std::panic::catch_unwind(AssertUnwindSafe(|| {
                    future.as_mut().poll(&mut Context::from_waker(&waker))
                }));
                match polled {
                    Ok(Poll::Ready(result)) => return Started::Ready(result),
                    Ok(Poll::Pending) => {}
                    Err(panic) => {
                        return Started::Ready(Err(Failure::from_panic(spec.atom_name(), &*panic)))
                    }
                }
            }
            let atom = spec.atom_name().to_owned();
            let future = async move {
                match (invocation, limit) {
                    (Invocation::Pending(future), Some(limit)) => {
                        with_timeout(future, limit, &atom).await
                    }
                    (invocation, _) => settle(invocation, &atom).await,
                }
            };
            match span {
                None => self.spawn(i, future),
                Some(span) => self.spawn(i, future.instrument(span.clone())),
            }
            return Started::Out;
        }
        self.send_to_pool(storage, i, limit, span.cloned().unwrap_or_else(Span::none));
        Started::Out
    }

    /// Sends the sync atoms started since the last call to the pool, together.
    pub(super) fn send(&mut self) {
        if !self.batch.is_empty() {
            pool().submit(self.batch.drain(..));
        }
    }

    /// What every pool job of this run reads, made at the first one.
    fn shared(&mut self, storage: &Storage) -> Arc<Shared> {
        Arc::clone(self.shared.get_or_insert_with(|| {
            Arc::new(Shared {
                plan: Arc::clone(&storage.plan),
                resources: Arc::clone(self.ctx.resources),
                listeners: self.ctx.listeners.clone(),
                cancel: self.ctx.cancel.cloned(),
                tx: self.tx.clone(),
            })
        }))
    }

    /// Readies sync atom `i` for the pool ([`Executors::send`]), its
    /// arguments copied out of storage.
    fn send_to_pool(&mut self, storage: &Storage, i: usize, limit: Option<Duration>, span: Span) {
        let args = Args::new(arg_values(storage, i));
        let history = storage.history_for(i).cloned();
        let shared = self.shared(storage);
        let ticket = self.ticket(i);
        self.pooled += 1;
        if let Some(limit) = limit {
            // The thread cannot be stopped: the timeout answers for it, and
            // its late result is dropped (its ticket is stale by then).
            let tx = self.tx.clone();
            let atom = storage.plan.atoms[i].atom_name().to_owned();
            self.tasks.spawn(async move {
                tokio::time::sleep(limit).await;
                let _ = tx.send((i, ticket, Err(timed_out(&atom, limit)), false));
            });
        }
        self.batch.push(Job::Task(TaskJob {
            shared,
            i,
            ticket,
            args,
            history,
            span,
            undo: None,
        }));
    }

    /// Starts reverting atom `i` on the executor that runs it, as
    /// [`Executors::execute`] starts it; `None` when there is nothing to
    /// undo. A revert that is out is waited for with
    /// [`Executors::result_of`]: reverts go one at a time, in order.
    pub(super) fn revert(
        &mut self,
        storage: &Storage,
        failures: &Failures,
        i: usize,
        span: &Span,
    ) -> Option<Started> {
        let spec = &storage.plan.atoms[i];
        let meta = &spec.def().meta;
        let remote = self.ctx.executor.is_some_and(|e| e.handles(meta));
        if self.serial || meta.is_async || remote {
            // Called here: inline, or a future (async, remote) for the
            // runtime.
            let invocation = span.in_scope(|| start_revert(storage, &self.ctx, failures, i))?;
            return Some(match invocation {
                Invocation::Ready(result) => Started::Ready(result),
                pending => {
                    let atom = spec.atom_name().to_owned();
                    let future = async move { settle(pending, &atom).await };
                    self.spawn(i, future.instrument(span.clone()));
                    Started::Out
                }
            });
        }
        // A sync revert of a parallel run: on the pool, so that the loop
        // (and the async tasks on its runtime) go on meanwhile.
        let undo = Undo {
            result: undone(storage, i)?.cloned().map_err(Failure::clone),
            failures: failures.clone(),
        };
        let mut args: Vec<Option<Value>> = arg_values(storage, i).collect();
        rebind_for_revert(spec, &mut args);
        let ticket = self.ticket(i);
        self.pooled += 1;
        pool().submit([Job::Task(TaskJob {
            shared: self.shared(storage),
            i,
            ticket,
            args: Args::new(args.into_iter()),
            history: storage.history_for(i).cloned(),
            span: span.clone(),
            undo: Some(Box::new(undo)),
        })]);
        Some(Started::Out)
    }

    /// Takes a result in, if it answers the atom's current start.
    fn accept(
        &mut self,
        (i, ticket, result, pooled): Later,
    ) -> Option<(usize, Result<Value, Failure>)> {
        self.pooled -= usize::from(pooled);
        if self.tickets[i] != ticket {
            return None;
        }
        self.tickets[i] = 0;
        self.out -= 1;
        // Reap the runtime's finished futures.
        while self.tasks.try_join_next().is_some() {}
        Some((i, result))
    }

    /// A result that has come already, if any.
    pub(super) fn try_done(&mut self) -> Option<(usize, Result<Value, Failure>)> {
        if let Some(done) = self.backlog.pop_front() {
            return Some(done);
        }
        self.try_fresh()
    }

    /// A result that has come on the channel, if any.
    fn try_fresh(&mut self) -> Option<(usize, Result<Value, Failure>)> {
        while let Ok(later) = self.rx.try_recv() {
            if let Some(done) = self.accept(later) {
                return Some(done);
            }
        }
        None
    }

    /// Waits for the next result of an atom that is out.
    pub(super) async fn next_done(&mut self) -> (usize, Result<Value, Failure>) {
        match self.backlog.pop_front() {
            Some(done) => done,
            None => self.next_fresh().await,
        }
    }

    /// Waits for the result of atom `i`, out (a revert, which the loop waits
    /// for). The results of other atoms that come meanwhile are kept for
    /// [`Executors::try_done`] and [`Executors::next_done`], in the order
    /// they came: the loop takes them after, as if atom `i` had run on its
    /// own thread.
    pub(super) async fn result_of(&mut self, i: usize) -> Result<Value, Failure> {
        loop {
            let (j, result) = self.next_fresh().await;
            if j == i {
                return result;
            }
            self.backlog.push_back((j, result));
        }
    }

    /// Waits for the next result on the channel.
    async fn next_fresh(&mut self) -> (usize, Result<Value, Failure>) {
        if self.pooled > 0 {
            // Sync tasks on the pool: look for a while before sleeping.
            let since = Instant::now();
            while since.elapsed() < SPIN {
                if let Some(done) = self.try_fresh() {
                    return done;
                }
                std::hint::spin_loop();
            }
        }
        loop {
            // The sender lives in `self`: the channel never closes here.
            let Some(later) = self.rx.recv().await else {
                unreachable!("the executors hold a sender");
            };
            if let Some(done) = self.accept(later) {
                return done;
            }
        }
    }
}

/// Atom `i`'s arguments, copied out of storage for a pool job.
fn arg_values(storage: &Storage, i: usize) -> impl ExactSizeIterator<Item = Option<Value>> + '_ {
    storage
        .plan
        .arg_sources(i)
        .iter()
        .map(|s| storage.source(s).cloned())
}
