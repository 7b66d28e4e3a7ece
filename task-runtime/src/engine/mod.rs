//! The engine: compiles a flow, then runs the state machine (`machine`) with
//! an executor, recording every transition in [`Storage`] before acting on it.
//!
//! The serial executor here runs one atom at a time, sync tasks inline and async
//! tasks awaited, in a deterministic order. [`Engine::run`] blocks and works
//! with or without a tokio runtime around it; [`Engine::run_async`] is for async
//! code.
//!
//! On a failure the failed atom is reverted first (it receives its failure as
//! its outcome), then every atom that succeeded, newest first; the flow ends
//! REVERTED and the caller gets the task's own error back
//! ([`RunError::downcast_ref`]). If a revert fails, that atom ends
//! REVERT_FAILURE, the flow ends FAILURE, and atoms before it stay as they are.

// A run ends with at most one error, which names flow, atom and backend; its
// size is not on any hot path, so it stays unboxed for easy matching.
#![allow(clippy::result_large_err)]

mod done;
pub mod executor;
mod heartbeat;
mod machine;
pub(crate) mod record;

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

pub use crate::state::{AtomState, FlowState, Intention};
pub use done::{Done, ValueError};
pub use record::ResumeError;

use machine::{Action, Checked, Machine, Resolution};
use record::{PersistConfig, Recorder};

use crate::decider::LinkResults;
use crate::failure::{Failure, FailureKind};
use crate::flow::{ExecutionGraph, Flow, FlowError, FlowErrors};
use crate::listener::{Listener, Listeners};
use crate::persistence::{AtomDetail, Backend, FlowDetail, PersistenceError, Uuid};
use crate::retry::{Decision, History, RetryCall};
use crate::storage::{Hooks, Storage, TransitionError};
use crate::task::{
    BoxFuture, Call, CancelToken, Invocation, Provides, Resources, RevertInfo, Version,
};

/// Decides whether an atom recorded by another major version of its task may
/// be resumed by this code: `(atom, recorded version, code's version)`.
pub(crate) type UpgradePolicy = dyn Fn(&str, &str, Version) -> bool + Send + Sync;

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
    /// more and told its running tasks ([`Call::is_cancelled`]); what was
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

/// Runs one flow.
///
/// ```
/// use taskwire_runtime::{Engine, Flow, FnTask};
/// use serde_json::json;
///
/// let flow = Flow::linear("add").add(
///     FnTask::new("sum").requires(["a", "b"]).provides("total")
///         .run(|call| Ok(json!(call.arg::<i64>(0)? + call.arg::<i64>(1)?))),
/// );
/// let done = Engine::new(flow).input("a", 2).input("b", 40).run().unwrap();
/// assert_eq!(done.get::<i64>("total").unwrap(), 42);
/// ```
pub struct Engine {
    /// The flow, until it is compiled into storage's plan.
    flow: Option<Flow>,
    name: String,
    inputs: Vec<(String, Result<Value, String>)>,
    resources: Arc<Resources>,
    listeners: Listeners,
    storage: Option<Arc<Storage>>,
    invalid: Option<FlowErrors>,
    max_workers: usize,
    suspender: Suspender,
    /// Where the run is recorded, if anywhere, and under which lease.
    persist: PersistConfig,
    recorder: Option<Recorder>,
    /// The factory (name, parameters) the flow came from.
    factory: Option<(String, Value)>,
    /// A recorded run to take up, from [`Engine::resume`].
    resume_from: Option<(FlowDetail, Vec<AtomDetail>)>,
    upgrade: Option<Arc<UpgradePolicy>>,
    defer_reverts: bool,
    /// Runs atoms elsewhere (remote workers), if set.
    executor: Option<Arc<dyn executor::Executor>>,
}

/// A handle that asks a running engine to suspend: atoms already running
/// finish, nothing new starts, and the flow ends SUSPENDED. Running the
/// engine again goes on from there. Cheap to clone; usable from any thread or
/// from a listener.
#[derive(Debug, Clone, Default)]
pub struct Suspender(Arc<AtomicBool>);

impl Suspender {
    /// Asks the engine to suspend.
    pub fn suspend(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether a suspension was asked for and not yet acted upon.
    pub fn is_requested(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    fn take(&self) -> bool {
        // A plain load first: the common case (no request) costs no write.
        self.0.load(Ordering::Acquire) && self.0.swap(false, Ordering::SeqCst)
    }
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("flow", &self.name)
            .field(
                "inputs",
                &self.inputs.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .field("resources", &self.resources)
            .field("listeners", &self.listeners.list.len())
            .field("max_workers", &self.max_workers)
            .field("state", &self.flow_state())
            .finish()
    }
}

impl Engine {
    /// An engine for `flow`.
    pub fn new(flow: Flow) -> Engine {
        Engine {
            name: flow.name().to_owned(),
            listeners: Listeners {
                flow: flow.name().into(),
                list: Arc::new(Vec::new()),
            },
            flow: Some(flow),
            inputs: Vec::new(),
            resources: Arc::new(Resources::default()),
            storage: None,
            invalid: None,
            max_workers: 1,
            suspender: Suspender::default(),
            persist: PersistConfig::default(),
            recorder: None,
            factory: None,
            resume_from: None,
            upgrade: None,
            defer_reverts: false,
            executor: None,
        }
    }

    /// Defers a retry's REVERT to the enclosing flow (TaskFlow's
    /// `defer_reverts`): when a retry gives up with
    /// [`Decision::Revert`](crate::retry::Decision), the enclosing retry
    /// decides, and with none, the whole flow is reverted. Off by default, as
    /// in TaskFlow: then only the retry's subflow is reverted, and the flow
    /// ends REVERTED with what ran outside it left done.
    #[must_use]
    pub fn defer_reverts(mut self, defer: bool) -> Engine {
        self.defer_reverts = defer;
        self
    }

    /// An engine for the flow the registered factory `name` builds from
    /// `params` (see [`flow_factory!`](crate::flow_factory)). With
    /// [`Engine::persist`], the logbook keeps the name, the parameters and the
    /// inputs, so that [`Engine::resume`] can rebuild the run by id alone.
    pub fn from_factory(name: &str, params: Value) -> Result<Engine, crate::factory::FactoryError> {
        let flow = crate::factory::build(name, &params)?;
        let mut engine = Engine::new(flow);
        engine.factory = Some((name.to_owned(), params));
        Ok(engine)
    }

    /// Records the run in `backend`: a new logbook and flow detail, every
    /// transition saved (under this engine's lease) before the engine acts on
    /// it. A write that fails stops the run with [`RunError::Persistence`].
    ///
    /// The lease is taken when the engine compiles or runs, and kept alive by
    /// a heartbeat (a renewal every third of [`Engine::lease_ttl`]) for as
    /// long as the run holds it, however long its tasks take. If the lease is
    /// lost (another owner took the flow over, or the logbook stopped
    /// answering until the lease expired), the run starts nothing more, tells
    /// its running tasks ([`Call::is_cancelled`]) and ends with
    /// [`RunError::LeaseLost`].
    ///
    /// This and the other settings ([`Engine::owner`],
    /// [`Engine::lease_ttl`], [`Engine::logbook`], …) may come in any order.
    #[must_use]
    pub fn persist(mut self, backend: Arc<dyn Backend>) -> Engine {
        self.persist.backend = Some(backend);
        self
    }

    /// Records the run in an existing logbook (with [`Engine::persist`]).
    #[must_use]
    pub fn logbook(mut self, logbook: Uuid) -> Engine {
        self.persist.logbook = Some(logbook);
        self
    }

    /// Who holds the run's lease. The default,
    /// [`persistence::default_owner`](crate::persistence::default_owner)
    /// followed by `#n`, names this process (host, pid and start time) and
    /// this engine: after a crash, a process on the same host takes the dead
    /// one's lease over at once. A name given here (a conductor's, say) is
    /// taken back at once by a process that uses it again; any other owner
    /// waits for the lease to expire.
    #[must_use]
    pub fn owner(mut self, owner: impl Into<String>) -> Engine {
        self.persist.owner = Some(owner.into());
        self
    }

    /// How long the lease lasts without renewal (default 30 s; the heartbeat
    /// renews it every third of that). A crashed owner on another host holds
    /// the flow for at most this long.
    #[must_use]
    pub fn lease_ttl(mut self, ttl: Duration) -> Engine {
        self.persist.ttl = ttl.max(Duration::from_millis(3));
        self
    }

    /// An operator's takeover: if another owner holds the lease, waits up to
    /// `grace` for it to give the lease up or let it expire, then takes it
    /// anyway. The previous owner's writes are refused from then on (its
    /// engine stops at its next heartbeat and tells its tasks). The takeover
    /// is logged (`tracing`, at warn) and noted in the flow detail's
    /// `meta.leases`. Use it when the owner is stuck, not merely slow: a task
    /// it is running may still finish its side effects.
    #[must_use]
    pub fn take_over(mut self, grace: Duration) -> Engine {
        self.persist.take_over_after = Some(grace);
        self
    }

    /// Allows resuming atoms recorded by another major version of their task
    /// when `allow(atom, recorded_version, code_version)` says so (by default
    /// a major difference is refused; a minor one is fine).
    #[must_use]
    pub fn upgrade_policy(
        mut self,
        allow: impl Fn(&str, &str, Version) -> bool + Send + Sync + 'static,
    ) -> Engine {
        self.upgrade = Some(Arc::new(allow));
        self
    }

    /// Takes up the run recorded as flow detail `flow` in `backend`: rebuilds
    /// its flow with the recorded factory, parameters and inputs; running it
    /// executes only what had not finished (an atom recorded RUNNING runs
    /// again; a flow that was reverting goes on reverting; one that ended is
    /// not run again). The lease is taken when the engine compiles or runs.
    pub fn resume(backend: Arc<dyn Backend>, flow: Uuid) -> Result<Engine, ResumeError> {
        let (detail, atoms) = backend.load_flow(flow)?;
        let meta = &detail.meta;
        let name = meta
            .get("factory")
            .and_then(Value::as_str)
            .ok_or(ResumeError::NoFactory {
                flow,
                field: "factory",
                expected: "a string",
            })?;
        let params = meta.get("params").cloned().unwrap_or(Value::Null);
        let inputs = match meta.get("inputs") {
            Some(Value::Object(map)) => map.clone(),
            None => Default::default(),
            Some(_) => {
                return Err(ResumeError::NoFactory {
                    flow,
                    field: "inputs",
                    expected: "an object",
                })
            }
        };
        let mut engine = Engine::from_factory(name, params)
            .map_err(|source| ResumeError::Factory { flow, source })?;
        for (k, v) in inputs {
            engine.inputs.push((k, Ok(v)));
        }
        engine.persist.backend = Some(backend);
        engine.resume_from = Some((detail, atoms));
        Ok(engine)
    }

    /// The id of the flow detail the run is recorded as (once compiled, with
    /// persistence).
    pub fn flow_uuid(&self) -> Option<Uuid> {
        self.recorder.as_ref().map(Recorder::flow_uuid)
    }

    /// Runs up to `n` atoms at a time (at least 1). With 1 — the default — the
    /// engine is serial: one atom at a time, sync tasks inline. With more,
    /// independent atoms run concurrently: async tasks on tokio, sync tasks on
    /// tokio's blocking pool. Both give the same results and final states.
    #[must_use]
    pub fn max_workers(mut self, n: usize) -> Engine {
        self.max_workers = n.max(1);
        self
    }

    /// Runs the atoms `executor` handles through it (remote workers, say)
    /// instead of in this process. Atoms still start and end in the engine,
    /// which records them; up to `max_workers` of them (at least 1) are out
    /// at once.
    #[must_use]
    pub fn executor(mut self, executor: impl executor::Executor + 'static) -> Engine {
        self.executor = Some(Arc::new(executor));
        self
    }

    /// A handle to suspend this engine while it runs.
    pub fn suspender(&self) -> Suspender {
        self.suspender.clone()
    }

    /// An engine input: the outermost provider of `name`. A second input of one
    /// name replaces the first.
    #[must_use]
    pub fn input(mut self, name: impl Into<String>, value: impl Serialize) -> Engine {
        let name = name.into();
        let value = crate::task::finite::to_value(&value);
        match self.inputs.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.inputs.push((name, value)),
        }
        self
    }

    /// A resource, handed to tasks that take `Res<T>`. One per type.
    #[must_use]
    pub fn resource<T: Send + Sync + 'static>(mut self, value: T) -> Engine {
        Arc::make_mut(&mut self.resources).insert(value);
        self
    }

    /// A shared resource.
    #[must_use]
    pub fn resource_arc<T: Send + Sync + 'static>(mut self, value: Arc<T>) -> Engine {
        Arc::make_mut(&mut self.resources).insert_arc(value);
        self
    }

    /// A listener of state changes.
    #[must_use]
    pub fn listener(mut self, listener: impl Listener + 'static) -> Engine {
        Arc::make_mut(&mut self.listeners.list).push(Arc::new(listener));
        self
    }

    /// Compiles and validates the flow without running it.
    pub fn compile(&mut self) -> Result<&ExecutionGraph, RunError> {
        self.prepare()?;
        Ok(self.storage().map(Storage::plan).expect("prepared"))
    }

    /// What the engine recorded, once compiled.
    pub fn storage(&self) -> Option<&Storage> {
        self.storage.as_deref()
    }

    /// The flow's state.
    pub fn flow_state(&self) -> FlowState {
        self.storage()
            .map_or(FlowState::Pending, Storage::flow_state)
    }

    /// The state of the atom named `atom`, if the flow has one.
    pub fn atom_state(&self, atom: &str) -> Option<AtomState> {
        let storage = self.storage()?;
        storage
            .plan()
            .atom_index(atom)
            .map(|i| storage.atom_state(i))
    }

    fn prepare(&mut self) -> Result<(), RunError> {
        if self.storage.is_some() {
            return Ok(());
        }
        let mut errors = Vec::new();
        let mut values = Vec::with_capacity(self.inputs.len());
        for (name, value) in &self.inputs {
            match value {
                Ok(v) => values.push(v.clone()),
                Err(message) => {
                    errors.push(FlowError::BadValue {
                        flow: self.name.clone(),
                        owner: "the engine input".to_owned(),
                        name: name.clone(),
                        message: message.clone(),
                    });
                    values.push(Value::Null);
                }
            }
        }
        let names: Vec<&str> = self.inputs.iter().map(|(n, _)| n.as_str()).collect();
        let Some(flow) = self.flow.take() else {
            // Compiled before and found invalid: the same errors again.
            return Err(self
                .invalid
                .clone()
                .map_or_else(|| FlowErrors::new(errors).into(), RunError::Invalid));
        };
        match flow.into_plan(&names) {
            Ok(plan) if errors.is_empty() => {
                let mut storage = Storage::new(Arc::new(plan), values);
                self.start_recording(&mut storage)?;
                self.storage = Some(Arc::new(storage));
                return Ok(());
            }
            Ok(_) => {}
            Err(e) => errors.extend(e.errors().iter().cloned()),
        }
        let errors = FlowErrors::new(errors);
        self.invalid = Some(errors.clone());
        Err(errors.into())
    }

    /// With persistence: restores a recorded run into `storage`, or records a
    /// new one; takes the lease either way.
    fn start_recording(&mut self, storage: &mut Storage) -> Result<(), RunError> {
        if self.persist.backend.is_some() && self.persist.owner.is_none() {
            // Chosen once, so that the engine takes its lease back under the
            // same name after a suspension.
            self.persist.owner = Some(crate::persistence::engine_owner());
        }
        let config = &self.persist;
        let Some(backend) = &config.backend else {
            return Ok(());
        };
        let flow = self.name.clone();
        let refused = |source| RunError::persistence(flow.clone(), source);
        if let Some((detail, _)) = self.resume_from.take() {
            let recorder = Recorder::resume(config, backend, detail).map_err(refused)?;
            let (detail, atoms) = recorder.records();
            record::restore(storage, detail, atoms, self.upgrade.as_deref())?;
            self.recorder = Some(recorder);
            return Ok(());
        }
        let inputs: serde_json::Map<String, Value> = self
            .inputs
            .iter()
            .filter_map(|(n, v)| Some((n.clone(), v.as_ref().ok()?.clone())))
            .collect();
        let mut meta = serde_json::json!({ "inputs": inputs });
        if let Some((name, params)) = &self.factory {
            meta["factory"] = Value::from(name.as_str());
            meta["params"] = params.clone();
        }
        self.recorder =
            Some(Recorder::start(config, backend, &storage.plan, meta).map_err(refused)?);
        Ok(())
    }

    /// Runs the flow to its end, blocking. Works from plain `main` (async tasks
    /// get a current-thread tokio runtime) and from inside a tokio runtime (the
    /// flow then runs on a helper thread; prefer [`Engine::run_async`] there).
    pub fn run(&mut self) -> Result<Done, RunError> {
        self.prepare()?;
        if tokio::runtime::Handle::try_current().is_ok() {
            return std::thread::scope(|s| {
                s.spawn(|| self.run_here())
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            });
        }
        self.run_here()
    }

    fn run_here(&mut self) -> Result<Done, RunError> {
        let storage = self.storage().expect("prepared");
        let has_async = storage.plan().atoms().iter().any(|a| a.def().meta.is_async);
        // Retries may wait between attempts, on the runtime's timer.
        let has_retries = !storage.plan().retries.is_empty();
        let flow = storage.plan().flow_name().to_owned();
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
        let storage = Arc::make_mut(self.storage.as_mut().expect("prepared"));
        let mut hooks = Hooks {
            listeners: &self.listeners.list[..],
            recorder: self.recorder.as_mut(),
        };
        let hooks = &mut hooks;
        let progress = &self.listeners;
        let resources = &self.resources;
        if storage.flow_state.is_final() {
            if let Some(recorder) = hooks.recorder.as_deref_mut() {
                // A recorded run that had ended: nothing to do, give the lease back.
                if let Err(e) = recorder.release() {
                    tracing::warn!(flow = %self.name, error = %e, "cannot give the lease back");
                }
            }
            return outcome(self.storage.as_ref().expect("prepared"));
        }
        // Suspended (or stopped on a lost lease) before: take the lease again.
        let cancel = match hooks.recorder.as_deref_mut() {
            Some(recorder) => {
                recorder
                    .hold(&self.persist)
                    .map_err(|source| RunError::persistence(self.name.clone(), source))?;
                Some(recorder.cancel_token().clone())
            }
            None => None,
        };
        let cancel = cancel.as_ref();
        // A run recorded RESUMING died while it was being taken up: it is
        // taken up again from there.
        let resuming = storage.flow_state != FlowState::Pending;
        if resuming && storage.flow_state != FlowState::Resuming {
            storage.set_flow(FlowState::Resuming, hooks)?;
        }
        let mut machine = Machine::new(storage);
        storage.set_flow(
            if machine.is_reverting() {
                FlowState::Reverting
            } else {
                FlowState::Running
            },
            hooks,
        )?;
        let plan = Arc::clone(&storage.plan);
        let ctx = RunCtx {
            resources,
            listeners: progress,
            defer_reverts: self.defer_reverts,
            executor: self.executor.as_deref(),
            cancel,
        };
        let parallel = self.max_workers > 1 || ctx.executor.is_some();
        let mut running: tokio::task::JoinSet<(usize, Result<Value, Failure>)> =
            tokio::task::JoinSet::new();
        // The flow's failures, built once when reverting starts: they do not
        // change while reverting (a failed revert ends it). With retries they
        // change between attempts, and are built for each revert.
        let mut failures: Option<crate::failure::Failures> = None;
        loop {
            if cancel.is_some_and(CancelToken::is_cancelled) {
                return Err(lease_lost(hooks, &self.name));
            }
            if self.suspender.take() && !storage.flow_state.is_final() {
                machine.suspend();
                if storage.flow_state != FlowState::Suspending {
                    storage.set_flow(FlowState::Suspending, hooks)?;
                }
            }
            let room = running.len() < self.max_workers;
            match machine.next(&plan, room) {
                Action::Execute(i) => {
                    storage.set_atom(i, AtomState::Running, None, hooks)?;
                    if let Some(scope) = plan.retry_scope(i) {
                        // A retry atom: its code is bookkeeping, run here;
                        // the wait before a new attempt is on the timer.
                        let wait = retry_delay(storage, scope);
                        let result =
                            settle(start_execute(storage, &ctx, i), plan.atoms[i].atom_name())
                                .await;
                        if wait.is_zero() {
                            finish_execute(storage, &mut machine, hooks, i, result)?;
                        } else if parallel {
                            running.spawn(async move {
                                tokio::time::sleep(wait).await;
                                (i, result)
                            });
                        } else {
                            if unless_lost(tokio::time::sleep(wait), cancel)
                                .await
                                .is_none()
                            {
                                return Err(lease_lost(hooks, &self.name));
                            }
                            finish_execute(storage, &mut machine, hooks, i, result)?;
                        }
                        continue;
                    }
                    if parallel {
                        if let Some(result) = spawn_execute(&mut running, storage, &ctx, i) {
                            finish_execute(storage, &mut machine, hooks, i, result)?;
                        }
                        continue;
                    }
                    let spec = &storage.plan.atoms[i];
                    let started = spec.timeout_after().map(|_| Instant::now());
                    let invocation = start_execute(storage, &ctx, i);
                    let result = match (invocation, spec.timeout_after()) {
                        (Invocation::Ready(result), None) => Some(result),
                        (Invocation::Pending(future), Some(limit)) => {
                            unless_lost(with_timeout(future, limit, spec.atom_name()), cancel).await
                        }
                        (invocation, limit) => {
                            unless_lost(settle(invocation, spec.atom_name()), cancel)
                                .await
                                .map(|result| match (limit, started) {
                                    (Some(limit), Some(started)) if started.elapsed() > limit => {
                                        Err(timed_out(spec.atom_name(), limit))
                                    }
                                    _ => result,
                                })
                        }
                    };
                    let Some(result) = result else {
                        return Err(lease_lost(hooks, &self.name));
                    };
                    finish_execute(storage, &mut machine, hooks, i, result)?;
                }
                Action::Wait => {
                    let Some(joined) = unless_lost(running.join_next(), cancel).await else {
                        // Dropping the set cancels the async atoms still running.
                        return Err(lease_lost(hooks, &self.name));
                    };
                    let Some(joined) = joined else {
                        unreachable!("the machine waits only while atoms run");
                    };
                    let (i, result) = joined.unwrap_or_else(|e| {
                        // Jobs catch their panics; a join error is a cancelled
                        // runtime: nothing ran to completion.
                        std::panic::resume_unwind(e.into_panic())
                    });
                    finish_execute(storage, &mut machine, hooks, i, result)?;
                }
                Action::Decide(i) => {
                    let resolution = resolve(storage, &ctx, i);
                    machine.resolved(storage, resolution);
                    if machine.is_reverting() && storage.flow_state == FlowState::Running {
                        storage.set_flow(FlowState::Reverting, hooks)?;
                    }
                }
                Action::Retry(scope) => {
                    reset_scope(storage, hooks, scope)?;
                    machine.retried(storage, scope);
                }
                Action::Check(i) => match check_links(storage, i) {
                    Ok(no) if no.is_empty() => {
                        machine.checked(&plan, i, Checked::Run);
                    }
                    Ok(no) => {
                        let skip = machine.checked(&plan, i, Checked::Ignore(no));
                        for &j in &skip {
                            storage.set_atom(j, AtomState::Ignore, None, hooks)?;
                        }
                        machine.ignored(storage, &skip);
                    }
                    Err(failure) => {
                        machine.checked(&plan, i, Checked::Fail);
                        storage.set_atom(i, AtomState::Running, None, hooks)?;
                        finish_execute(storage, &mut machine, hooks, i, Err(failure))?;
                    }
                },
                Action::Revert(i) => {
                    storage.set_atom(i, AtomState::Reverting, None, hooks)?;
                    if !plan.retries.is_empty() {
                        failures = None;
                    }
                    let failures = failures.get_or_insert_with(|| storage.failures());
                    let result = match start_revert(storage, &ctx, failures, i) {
                        Some(Invocation::Ready(result)) => result,
                        Some(invocation) => {
                            let atom = storage.plan.atoms[i].atom_name();
                            match unless_lost(settle(invocation, atom), cancel).await {
                                Some(result) => result,
                                None => return Err(lease_lost(hooks, &self.name)),
                            }
                        }
                        None => Ok(()),
                    };
                    match result {
                        Ok(()) => {
                            storage.set_atom(i, AtomState::Reverted, None, hooks)?;
                            machine.reverted(true);
                        }
                        Err(failure) => {
                            storage.set_atom(
                                i,
                                AtomState::RevertFailure,
                                Some(Err(failure)),
                                hooks,
                            )?;
                            machine.reverted(false);
                        }
                    }
                }
                Action::Finish(state) => {
                    if state == FlowState::Reverted && storage.flow_state == FlowState::Running {
                        // A subflow was reverted for good, the rest is done.
                        storage.set_flow(FlowState::Reverting, hooks)?;
                    }
                    storage.set_flow(state, hooks)?;
                    break;
                }
            }
        }
        outcome(self.storage.as_ref().expect("prepared"))
    }
}

/// What running atoms needs besides storage.
struct RunCtx<'a> {
    resources: &'a Arc<Resources>,
    listeners: &'a Listeners,
    defer_reverts: bool,
    /// Runs the atoms it handles elsewhere.
    executor: Option<&'a dyn executor::Executor>,
    /// Fires when the run loses its lease; handed to tasks.
    cancel: Option<&'a CancelToken>,
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

/// The error of a run whose lease was lost.
fn lease_lost(hooks: &mut Hooks<'_>, flow: &str) -> RunError {
    let source = match hooks.recorder.as_deref_mut() {
        Some(recorder) => recorder.lost(),
        None => unreachable!("only a recorded run has a lease to lose"),
    };
    RunError::LeaseLost {
        flow: flow.to_owned(),
        source,
    }
}

/// Records the end of atom `i`'s execution and tells the machine.
#[inline]
fn finish_execute(
    storage: &mut Storage,
    machine: &mut Machine,
    hooks: &mut Hooks<'_>,
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
    storage.set_atom(i, state, Some(result), hooks)?;
    machine.executed(storage, i, ok);
    if machine.is_reverting() && storage.flow_state == FlowState::Running {
        storage.set_flow(FlowState::Reverting, hooks)?;
    }
    Ok(())
}

/// Asks the deciders in front of atom `i`: the links that said no, or the
/// failure of a decider that panicked.
fn check_links(storage: &Storage, i: usize) -> Result<Vec<usize>, Failure> {
    let plan = &*storage.plan;
    let mut no = Vec::new();
    for k in plan.guards_of(i) {
        let link = &plan.deciders[k];
        let results = LinkResults {
            results: link
                .from
                .clone()
                .map(|j| {
                    let j = j as usize;
                    (plan.atoms[j].atom_name(), storage.results[j].as_ref())
                })
                .collect(),
        };
        let check = &link.decider.check;
        match std::panic::catch_unwind(AssertUnwindSafe(|| check(&results))) {
            Ok(true) => {}
            Ok(false) => no.push(k),
            Err(panic) => {
                let message = crate::failure::panic_message(&*panic);
                return Err(Failure::new(
                    FailureKind::Decider,
                    format!(
                        "the decider on link `{}` -> `{}` panicked: {message}",
                        link.from_name, link.to_name
                    ),
                ));
            }
        }
    }
    Ok(no)
}

/// The wait before the retry of scope `scope` runs again (none before its
/// first attempt).
fn retry_delay(storage: &Storage, scope: usize) -> Duration {
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
fn resolve(storage: &mut Storage, ctx: &RunCtx<'_>, i: usize) -> Resolution {
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
fn reset_scope(storage: &mut Storage, hooks: &mut Hooks<'_>, scope: usize) -> Result<(), RunError> {
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

/// Starts atom `i` on the runtime: an async task's future is spawned, a sync
/// task runs on the blocking pool (with its arguments copied out of storage).
/// An async task that finishes at its first poll is not spawned: its result
/// comes back at once.
fn spawn_execute(
    running: &mut tokio::task::JoinSet<(usize, Result<Value, Failure>)>,
    storage: &Storage,
    ctx: &RunCtx<'_>,
    i: usize,
) -> Option<Result<Value, Failure>> {
    let spec = &storage.plan.atoms[i];
    let limit = spec.timeout_after();
    if let Some(executor) = ctx.executor.filter(|e| e.handles(&spec.def().meta)) {
        let future = executor.execute(executor::request(storage, i, executor::Action::Execute));
        let atom = spec.atom_name().to_owned();
        running.spawn(async move {
            let result = match limit {
                Some(limit) => with_timeout(future, limit, &atom).await,
                None => settle(Invocation::Pending(future), &atom).await,
            };
            (i, result)
        });
        return None;
    }
    if spec.def().meta.is_async {
        let mut invocation = start_execute(storage, ctx, i);
        if let (Invocation::Pending(future), None) = (&mut invocation, limit) {
            // The engine's runtime runs on this thread: polling here first
            // costs nothing in parallelism, and saves a spawn for a task that
            // does not wait. A future that is pending is polled again by its
            // spawned task, with a real waker (futures wake the waker of
            // their latest poll).
            let waker = Waker::from(Arc::new(NoopWake));
            let polled = std::panic::catch_unwind(AssertUnwindSafe(|| {
                future.as_mut().poll(&mut Context::from_waker(&waker))
            }));
            match polled {
                Ok(Poll::Ready(result)) => return Some(result),
                Ok(Poll::Pending) => {}
                Err(panic) => return Some(Err(Failure::from_panic(spec.atom_name(), &*panic))),
            }
        }
        let atom = spec.atom_name().to_owned();
        running.spawn(async move {
            let result = match (invocation, limit) {
                (Invocation::Pending(future), Some(limit)) => {
                    with_timeout(future, limit, &atom).await
                }
                (invocation, _) => settle(invocation, &atom).await,
            };
            (i, result)
        });
        return None;
    }
    let atom = spec.atom_name().to_owned();
    let args: Vec<Option<Value>> = storage
        .plan
        .arg_sources(i)
        .iter()
        .map(|s| storage.source(s).cloned())
        .collect();
    let def = spec.def.clone();
    let resources = Arc::clone(ctx.resources);
    let listeners = ctx.listeners.clone();
    let history = storage.history_for(i).cloned();
    let cancel = ctx.cancel.cloned();
    let name = atom.clone();
    let job = move || {
        let args: Vec<Option<&Value>> = args.iter().map(Option::as_ref).collect();
        let mut call = Call::new(&name, &def.meta, &args, &resources);
        call.listeners = Some(&listeners);
        call.history = history.as_ref();
        call.cancel = cancel.as_ref();
        match std::panic::catch_unwind(AssertUnwindSafe(|| def.exec.call(&call))) {
            Ok(Invocation::Ready(result)) => result,
            Ok(Invocation::Pending(_)) => Err(Failure::new(
                FailureKind::Task,
                format!("task `{name}` says it is sync but returned a future"),
            )),
            Err(panic) => Err(Failure::from_panic(&name, &*panic)),
        }
    };
    running.spawn(async move {
        let handle = tokio::task::spawn_blocking(job);
        let joined = match limit {
            Some(limit) => match tokio::time::timeout(limit, handle).await {
                Ok(joined) => joined,
                // The thread cannot be stopped; its late result is dropped.
                Err(_) => return (i, Err(timed_out(&atom, limit))),
            },
            None => handle.await,
        };
        let result = joined.unwrap_or_else(|e| {
            Err(Failure::new(
                FailureKind::Panic,
                format!("task `{atom}` did not finish: {e}"),
            ))
        });
        (i, result)
    });
    None
}

/// Awaits an async task's future for at most `limit`, cancelling it after.
async fn with_timeout(
    future: BoxFuture<Result<Value, Failure>>,
    limit: Duration,
    atom: &str,
) -> Result<Value, Failure> {
    match tokio::time::timeout(limit, settle(Invocation::Pending(future), atom)).await {
        Ok(result) => result,
        Err(_) => Err(timed_out(atom, limit)),
    }
}

fn timed_out(atom: &str, limit: Duration) -> Failure {
    Failure::new(
        FailureKind::Timeout,
        format!("task `{atom}` ran past its timeout of {limit:?}"),
    )
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
                revert_failure: storage.revert_failures[r]
                    .clone()
                    .unwrap_or_else(|| Failure::new(FailureKind::Task, "unknown")),
            })
        }
        (state, _) => Err(RunError::Ended { flow, state }),
    }
}

/// Starts executing atom `i`: resolves its arguments and calls its code.
fn start_execute(storage: &Storage, ctx: &RunCtx<'_>, i: usize) -> Invocation {
    call_atom(storage, ctx, i, None, |def, call| def.exec.call(call))
}

/// Starts reverting atom `i`; `None` when there is nothing to undo (no revert
/// code, or its function was never called).
fn start_revert(
    storage: &Storage,
    ctx: &RunCtx<'_>,
    failures: &crate::failure::Failures,
    i: usize,
) -> Option<Invocation<()>> {
    let def = storage.plan.atoms[i].def();
    let revert = def.revert.as_ref()?;
    let result = match (&storage.results[i], &storage.failures[i]) {
        // The task's function was never called: nothing to undo.
        (_, Some(f)) if matches!(f.kind(), FailureKind::Argument | FailureKind::Decider) => {
            return None
        }
        (_, Some(f)) => Err(f),
        (Some(v), None) => Ok(v),
        (None, None) => return None,
    };
    if let Some(executor) = ctx.executor.filter(|e| e.handles(&def.meta)) {
        let action = executor::Action::Revert {
            result: result.cloned().map_err(Failure::clone),
            failures: failures.clone(),
        };
        let future = executor.execute(executor::request(storage, i, action));
        return Some(Invocation::Pending(Box::pin(async move {
            future.await.map(drop)
        })));
    }
    let info = RevertInfo { result, failures };
    Some(call_atom(storage, ctx, i, Some(info), |_, call| {
        revert.call(call)
    }))
}

fn call_atom<T>(
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
async fn settle<T>(invocation: Invocation<T>, atom: &str) -> Result<T, Failure> {
    match invocation {
        Invocation::Ready(result) => result,
        Invocation::Pending(future) => CatchUnwind(future)
            .await
            .unwrap_or_else(|panic| Err(Failure::from_panic(atom, &*panic))),
    }
}

/// A result must match what the task says it provides.
fn check_provides(storage: &Storage, i: usize, value: Value) -> Result<Value, Failure> {
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

struct NoopWake;

impl Wake for NoopWake {
    fn wake(self: Arc<Self>) {}
}
