//! Building an engine: the flow, its inputs and resources, listeners,
//! persistence, executors; compiling it into a prepared run.

// A run ends with at most one error, which names flow, atom and backend; its
// size is not on any hot path, so it stays unboxed for easy matching.
#![allow(clippy::result_large_err)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use super::executor;
use super::{AtomState, FlowState, RunError};
use crate::flow::{ExecutionGraph, Flow, FlowError, FlowErrors, UnusedInputs};
use crate::listener::{Listener, Listeners};
use crate::persistence::{AtomDetail, Backend, FlowDetail, ObjectKind, PersistenceError, Uuid};
use crate::record::{restore, PersistConfig, Recorder, ResumeError, UpgradePolicy};
use crate::storage::Storage;
use crate::task::{ParamKind, Resources, ValueType, Version};

/// Where an engine is with its flow.
#[derive(Debug)]
pub(super) enum Stage {
    /// Not compiled yet.
    Flow(Flow),
    /// Being compiled (only while `prepare` runs).
    Compiling,
    /// Compiled and found invalid.
    Invalid(FlowErrors),
    /// Compiled, but the logbook refused to record the run (yet).
    Unrecorded(Storage),
    /// Ready to run.
    Prepared(Prepared),
}

/// A compiled run: its storage and, with persistence, its recorder.
#[derive(Debug)]
pub(super) struct Prepared {
    pub(super) storage: Arc<Storage>,
    pub(super) recorder: Option<Recorder>,
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
    /// The flow, compiled or not.
    pub(super) stage: Stage,
    pub(super) name: String,
    pub(super) inputs: Vec<(String, Result<Value, String>)>,
    pub(super) resources: Arc<Resources>,
    pub(super) listeners: Listeners,
    pub(super) max_workers: usize,
    pub(super) suspender: Suspender,
    /// Where the run is recorded, if anywhere, and under which lease.
    pub(super) persist: PersistConfig,
    /// The factory (name, parameters) the flow came from.
    pub(super) factory: Option<(String, Value)>,
    /// A recorded run to take up, from [`Engine::resume`].
    pub(super) resume_from: Option<(FlowDetail, Vec<AtomDetail>)>,
    pub(super) upgrade: Option<Arc<UpgradePolicy>>,
    pub(super) defer_reverts: bool,
    /// Whether inputs that no atom reads are an error.
    pub(super) unused_inputs: UnusedInputs,
    /// Runs atoms elsewhere (remote workers), if set.
    pub(super) executor: Option<Arc<dyn executor::Executor>>,
    /// The inputs given with [`Engine::transient_input`]: not recorded.
    pub(super) transient: Vec<String>,
    /// The transient inputs the resumed run had, to be given again.
    pub(super) transient_needed: Vec<String>,
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

    /// Whether a handle other than the engine's own exists: a listener (or
    /// anyone else) could ask for a suspension during the run. Nothing makes
    /// a new handle while the engine runs (that takes the engine).
    pub(super) fn is_shared(&self) -> bool {
        Arc::strong_count(&self.0) > 1
    }

    pub(super) fn take(&self) -> bool {
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
                notes: Some(Arc::default()),
            },
            stage: Stage::Flow(flow),
            inputs: Vec::new(),
            resources: Arc::new(Resources::default()),
            max_workers: 1,
            suspender: Suspender::default(),
            persist: PersistConfig::default(),
            factory: None,
            resume_from: None,
            upgrade: None,
            defer_reverts: false,
            unused_inputs: UnusedInputs::Deny,
            executor: None,
            transient: Vec::new(),
            transient_needed: Vec::new(),
        }
    }

    /// Lets the engine take inputs that no atom of its flow reads. By
    /// default such an input fails [`Engine::compile`] (and the run) with
    /// [`FlowError::UnusedInput`], which suggests the name an atom reads
    /// that it is nearest to: an input is most often unread because its name
    /// is misspelled, and an optional argument would then silently take its
    /// default. Allow them when the inputs are a shared superset (one
    /// configuration for several flows, say); [`Engine::resume`] allows them.
    #[must_use]
    pub fn allow_unused_inputs(mut self) -> Engine {
        self.unused_inputs = UnusedInputs::Allow;
        self
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
    /// its running tasks ([`Call::is_cancelled`](crate::task::Call::is_cancelled)) and ends with
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
        let recorded = Recorded::read(&detail)?;
        let mut engine = Engine::from_factory(name, params)
            .map_err(|source| ResumeError::Factory { flow, source })?;
        engine.take_up(backend, detail, atoms, recorded);
        Ok(engine)
    }

    /// Takes up the run recorded as flow detail `flow_uuid` in `backend`
    /// with `flow`, a flow the caller built (TaskFlow's
    /// `load_from_detail(flow, flow_detail)`): for runs not started from a
    /// registered factory, or to run a recorded one with a flow built
    /// by hand. The recorded inputs are restored; transient ones
    /// ([`Engine::transient_input`]) must be given again. Running it
    /// executes only what had not finished, as [`Engine::resume`] does.
    ///
    /// Refused, with nothing written: a flow detail the backend does not
    /// have ([`ResumeError::UnknownFlow`], naming the id and the backend),
    /// and a flow whose atoms are not the recorded ones
    /// ([`ResumeError::AtomsDiffer`], naming each atom recorded and not in
    /// `flow`, in `flow` and not recorded, or at another place).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use taskwire_runtime::{persistence, Engine, Flow, FnTask};
    /// use serde_json::json;
    ///
    /// let build = || {
    ///     Flow::linear("double").add(
    ///         FnTask::new("twice").requires(["x"]).provides("y")
    ///             .run(|call| Ok(json!(call.arg::<i64>(0)? * 2))),
    ///     )
    /// };
    /// let backend = persistence::open("memory://")?;
    /// let mut engine = Engine::new(build()).input("x", 21).persist(Arc::clone(&backend));
    /// engine.compile()?;
    /// let id = engine.flow_uuid().unwrap();
    /// drop(engine); // never ran: say the process stopped here
    ///
    /// let done = Engine::load_from_detail(build(), backend, id)?.run()?;
    /// assert_eq!(done.get::<i64>("y")?, 42);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn load_from_detail(
        flow: Flow,
        backend: Arc<dyn Backend>,
        flow_uuid: Uuid,
    ) -> Result<Engine, ResumeError> {
        let (detail, atoms) = match backend.load_flow(flow_uuid) {
            Ok(loaded) => loaded,
            Err(PersistenceError::NotFound {
                kind: ObjectKind::FlowDetail,
                ..
            }) => {
                return Err(ResumeError::UnknownFlow {
                    flow: flow_uuid,
                    name: flow.name().to_owned(),
                    backend: backend.url().to_owned(),
                })
            }
            Err(e) => return Err(e.into()),
        };
        check_atoms(&flow, &detail, &atoms)?;
        let recorded = Recorded::read(&detail)?;
        let mut engine = Engine::new(flow);
        engine.take_up(backend, detail, atoms, recorded);
        Ok(engine)
    }

    /// Sets this engine up to take up a recorded run.
    fn take_up(
        &mut self,
        backend: Arc<dyn Backend>,
        detail: FlowDetail,
        atoms: Vec<AtomDetail>,
        recorded: Recorded,
    ) {
        for (k, v) in recorded.inputs {
            self.inputs.push((k, Ok(v)));
        }
        self.transient_needed = recorded.transient;
        self.persist.backend = Some(backend);
        self.resume_from = Some((detail, atoms));
        // The recorded inputs were checked when the run started; the flow
        // rebuilt now may be a newer version that reads fewer of them.
        self.unused_inputs = UnusedInputs::Allow;
    }

    /// The id of the flow detail the run is recorded as (once compiled, with
    /// persistence).
    pub fn flow_uuid(&self) -> Option<Uuid> {
        self.prepared()?.recorder.as_ref().map(Recorder::flow_uuid)
    }

    /// Runs up to `n` atoms at a time (at least 1). With 1 — the default — the
    /// engine is serial: one atom at a time, sync tasks inline. With more,
    /// independent atoms run concurrently: async tasks on tokio, sync tasks on
    /// the engine's pool of threads (shared by the process's engines). Both
    /// give the same results and final states.
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
    ///
    /// While a handle exists, a persisted run with listeners commits each
    /// step's results and tells them before it decides what follows, so
    /// that a listener can suspend the run before anything else is recorded
    /// as started; without one, a step's results and the starts they allow
    /// share one commit.
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

    /// An engine input that is not recorded in the logbook (TaskFlow's
    /// transient `inject`): for secrets, or values too big or too short-lived
    /// to keep. The logbook notes its name only (`meta.transient`), so that
    /// a run taken up later ([`Engine::resume`], [`Engine::load_from_detail`])
    /// is refused until it is given again ([`ResumeError::MissingTransient`],
    /// naming each). Results computed from it are recorded as any other.
    #[must_use]
    pub fn transient_input(mut self, name: impl Into<String>, value: impl Serialize) -> Engine {
        let name = name.into();
        if !self.transient.contains(&name) {
            self.transient.push(name.clone());
        }
        self.input(name, value)
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
        Ok(self.prepare()?.storage.plan())
    }

    /// What the engine recorded, once compiled.
    pub fn storage(&self) -> Option<&Storage> {
        self.prepared().map(|p| &*p.storage)
    }

    fn prepared(&self) -> Option<&Prepared> {
        match &self.stage {
            Stage::Prepared(p) => Some(p),
            _ => None,
        }
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

    /// Compiles the flow (once) and, with persistence, starts or restores
    /// its recording: the run, ready.
    pub(super) fn prepare(&mut self) -> Result<&mut Prepared, RunError> {
        if let Some((detail, _)) = &self.resume_from {
            let missing: Vec<String> = self
                .transient_needed
                .iter()
                .filter(|n| !self.transient.contains(n))
                .cloned()
                .collect();
            if !missing.is_empty() {
                return Err(ResumeError::MissingTransient {
                    flow: detail.uuid,
                    name: self.name.clone(),
                    missing,
                }
                .into());
            }
        }
        match std::mem::replace(&mut self.stage, Stage::Compiling) {
            Stage::Flow(flow) => match self.compile_flow(flow) {
                Ok(storage) => self.record(storage)?,
                Err(errors) => {
                    self.stage = Stage::Invalid(errors.clone());
                    return Err(errors.into());
                }
            },
            Stage::Unrecorded(storage) => self.record(storage)?,
            Stage::Invalid(errors) => {
                // Compiled before and found invalid: the same errors again.
                self.stage = Stage::Invalid(errors.clone());
                return Err(errors.into());
            }
            stage => self.stage = stage,
        }
        match &mut self.stage {
            Stage::Prepared(prepared) => Ok(prepared),
            _ => unreachable!("every stage above ends prepared or returns"),
        }
    }

    /// Starts (or restores) the recording of the compiled run; if the
    /// logbook refuses, the run stays compiled, to be recorded next time.
    fn record(&mut self, mut storage: Storage) -> Result<(), RunError> {
        match self.start_recording(&mut storage) {
            Ok(recorder) => {
                self.stage = Stage::Prepared(Prepared {
                    storage: Arc::new(storage),
                    recorder,
                });
                Ok(())
            }
            Err(e) => {
                self.stage = Stage::Unrecorded(storage);
                Err(e)
            }
        }
    }

    fn compile_flow(&mut self, flow: Flow) -> Result<Storage, FlowErrors> {
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
        errors.extend(self.missing_resources(&flow));
        let names: Vec<&str> = self.inputs.iter().map(|(n, _)| n.as_str()).collect();
        match flow.into_plan_with(&names, self.unused_inputs) {
            Ok(plan) if errors.is_empty() => Ok(Storage::new(Arc::new(plan), values)),
            Ok(_) => Err(FlowErrors::new(errors)),
            Err(e) => {
                errors.extend(e.errors().iter().cloned());
                Err(FlowErrors::new(errors))
            }
        }
    }

    /// The resources (`Res<T>` parameters) that atoms of `flow` take and
    /// the engine was not given, each with the atoms that take it, in the
    /// flow's order; atoms an executor runs elsewhere are left out (their
    /// workers hold their own resources).
    fn missing_resources(&self, flow: &Flow) -> Vec<FlowError> {
        let mut missing: Vec<(&ValueType, Vec<String>)> = Vec::new();
        for spec in flow.atoms() {
            let meta = &spec.def().meta;
            let params = meta.params.iter();
            let mut resources = params.filter(|p| p.kind == ParamKind::Resource).peekable();
            if resources.peek().is_none() || self.executor.as_ref().is_some_and(|e| e.handles(meta))
            {
                continue;
            }
            for ty in resources.filter_map(|p| p.types.first()) {
                if self.resources.contains(ty.type_id()) {
                    continue;
                }
                let atom = spec.atom_name().to_owned();
                match missing.iter_mut().find(|(t, _)| t.is(ty)) {
                    Some((_, atoms)) if atoms.last() != Some(&atom) => atoms.push(atom),
                    Some(_) => {}
                    None => missing.push((ty, vec![atom])),
                }
            }
        }
        missing
            .into_iter()
            .map(|(ty, atoms)| FlowError::MissingResource {
                flow: self.name.clone(),
                ty: ty.written().to_owned(),
                atoms,
            })
            .collect()
    }

    /// With persistence: restores a recorded run into `storage`, or records a
    /// new one; takes the lease either way.
    fn start_recording(&mut self, storage: &mut Storage) -> Result<Option<Recorder>, RunError> {
        if self.persist.backend.is_some() && self.persist.owner.is_none() {
            // Chosen once, so that the engine takes its lease back under the
            // same name after a suspension.
            self.persist.owner = Some(crate::persistence::engine_owner());
        }
        let config = &self.persist;
        let Some(backend) = &config.backend else {
            return Ok(None);
        };
        let flow = self.name.clone();
        let refused = |source| RunError::persistence(flow.clone(), source);
        if let Some((detail, _)) = &self.resume_from {
            let recorder = Recorder::resume(config, backend, detail.clone()).map_err(refused)?;
            let (detail, atoms) = recorder.records();
            restore(storage, detail, atoms, self.upgrade.as_deref())?;
            self.resume_from = None;
            return Ok(Some(recorder));
        }
        let inputs: serde_json::Map<String, Value> = self
            .inputs
            .iter()
            .filter(|(n, _)| !self.transient.contains(n))
            .filter_map(|(n, v)| Some((n.clone(), v.as_ref().ok()?.clone())))
            .collect();
        let mut meta = serde_json::json!({ "inputs": inputs });
        if !self.transient.is_empty() {
            meta["transient"] = serde_json::json!(self.transient);
        }
        if let Some((name, params)) = &self.factory {
            meta["factory"] = Value::from(name.as_str());
            meta["params"] = params.clone();
        }
        Recorder::start(config, backend, &storage.plan, meta)
            .map(Some)
            .map_err(refused)
    }
}

/// What a flow detail's metadata keeps of the inputs of its run.
struct Recorded {
    inputs: serde_json::Map<String, Value>,
    transient: Vec<String>,
}

impl Recorded {
    fn read(detail: &FlowDetail) -> Result<Recorded, ResumeError> {
        let flow = detail.uuid;
        let inputs = match detail.meta.get("inputs") {
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
        let transient = match detail.meta.get("transient") {
            None => Vec::new(),
            Some(Value::Array(names)) if names.iter().all(Value::is_string) => names
                .iter()
                .filter_map(|n| n.as_str().map(str::to_owned))
                .collect(),
            Some(other) => {
                return Err(ResumeError::CorruptFlow {
                    flow,
                    message: format!(
                        "its `meta.transient` should list the names of transient inputs, and is {other}"
                    ),
                })
            }
        };
        Ok(Recorded { inputs, transient })
    }
}

/// `Ok` if `flow` has the recorded atoms, at their recorded places; else
/// the error naming every atom that differs.
fn check_atoms(flow: &Flow, detail: &FlowDetail, atoms: &[AtomDetail]) -> Result<(), ResumeError> {
    let ours: Vec<&str> = flow.atoms().iter().map(|a| a.atom_name()).collect();
    let mut missing = Vec::new();
    let mut moved = Vec::new();
    for recorded in atoms {
        match ours.iter().position(|n| *n == recorded.name) {
            None => missing.push(recorded.name.clone()),
            Some(at) if at != recorded.position as usize => moved.push(format!(
                "`{}` (recorded at position {}, at {} in the flow)",
                recorded.name, recorded.position, at
            )),
            Some(_) => {}
        }
    }
    let unrecorded: Vec<String> = ours
        .iter()
        .filter(|n| !atoms.iter().any(|a| a.name == **n))
        .map(|n| (*n).to_owned())
        .collect();
    if missing.is_empty() && unrecorded.is_empty() && moved.is_empty() {
        return Ok(());
    }
    Err(ResumeError::AtomsDiffer {
        flow: detail.uuid,
        name: flow.name().to_owned(),
        missing,
        unrecorded,
        moved,
    })
}
