//! Plan maps: Paradrop's `PlanMap`, as a front-end that builds an ordinary
//! linear [`Flow`].
//!
//! A **plan** is a task with arguments, a priority (1 runs first, 99 last; ties
//! keep the order plans were added) and optional **abort plans** (tasks with
//! arguments that undo what the plan did). Several generators each fill a
//! [`PlanMap`] of their own; maps [merge](PlanMap::merge); identical plans (same
//! task, same arguments) are kept once, so "reload networking" runs once even
//! when two generators ask for it. A task can be [skipped](PlanMap::skip) when
//! the map is built, or by a running plan through [`PlanControl::skip`].
//!
//! [`PlanMap::build`] makes a linear flow whose atoms are the plans in priority
//! order. Each plan's arguments are injected ([`TaskSpec::inject`]); its abort
//! plans become its revert. So the ordinary [`Engine`] runs it — listeners,
//! persistence and resumption included — and when a plan fails, the engine
//! reverts the plans that ran, newest first, which runs their abort plans in
//! reverse order. [`PlanFlow::outcome`] reads the engine's result as "restored"
//! ([`PlanError::Restored`]) or "an abort failed, and which"
//! ([`PlanError::AbortFailed`]).
//!
//! As in Paradrop: the abort plans of the plan that failed are not run (abort
//! plans undo a plan that *completed*; a task that must clean up after its own
//! failure does it with `revert_with`, which still runs, or the map runs them
//! with [`PlanMap::abort_failed_plan`]); an abort plan listed by
//! several plans runs once, at the latest of them; a skipped plan's abort plans
//! do not run. Where Paradrop runs duplicate plans twice, a plan map keeps the
//! first one added (its priority wins) and adds the abort plans of the others
//! to it.
//!
//! ```
//! use taskwire_runtime::planmap::{Plan, PlanError, PlanMap, Step};
//! use taskwire_runtime::FnTask;
//! use serde_json::json;
//! use std::sync::{Arc, Mutex};
//!
//! let log = Arc::new(Mutex::new(Vec::<String>::new()));
//! let task = |name: &'static str, fail: bool| {
//!     let log = Arc::clone(&log);
//!     FnTask::new(name).requires(["what"]).run(move |call| {
//!         let what: String = call.arg(0)?;
//!         log.lock().unwrap().push(format!("{name} {what}"));
//!         if fail {
//!             return Err(taskwire_runtime::Failure::new(
//!                 taskwire_runtime::FailureKind::Task,
//!                 "disk full",
//!             ));
//!         }
//!         Ok(json!(null))
//!     })
//!     .into_def()
//! };
//! let (set, restore, reload, start) =
//!     (task("set", false), task("restore", false), task("reload", false), task("start", true));
//!
//! let mut network = PlanMap::new("network");
//! network.add(
//!     Plan::new(set.clone()).arg("what", "wan").priority(50)
//!         .abort(Step::new(restore.clone()).arg("what", "wan")),
//! );
//! network.add(Plan::new(reload.clone()).arg("what", "net").priority(80));
//! let mut firewall = PlanMap::new("firewall");
//! firewall.add(Plan::new(reload.clone()).arg("what", "net").priority(80)); // kept once
//! firewall.add(Plan::new(start.clone()).arg("what", "chute").priority(90));
//!
//! let mut update = PlanMap::new("update");
//! update.merge(network).merge(firewall);
//! let err = update.execute().unwrap_err();
//! assert!(matches!(err, PlanError::Restored { .. }));
//! assert_eq!(
//!     *log.lock().unwrap(),
//!     ["set wan", "reload net", "start chute", "restore wan"]
//! );
//! ```

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use serde_json::Value;

use crate::engine::{Done, Engine, RunError};
use crate::failure::Failure;
use crate::flow::{Flow, FlowErrors};
use crate::listener::Listeners;
use crate::task::{
    BoxFuture, Call, DefRef, Exec, Invocation, Outcome, Resources, TaskDef, TaskSpec, Text,
};

/// The lowest priority number: runs first.
pub const FIRST: u8 = 1;
/// The highest priority number: runs last.
pub const LAST: u8 = 99;

/// A task with arguments: what an abort plan runs, and what a plan runs.
#[derive(Debug, Clone)]
pub struct Step {
    spec: TaskSpec,
    /// Arguments by name, sorted by name (the dedup key depends on it).
    args: Vec<(Text, Result<Value, String>)>,
}

impl Step {
    /// The task `task`, with no arguments yet.
    pub fn new(task: impl Into<TaskSpec>) -> Step {
        Step {
            spec: task.into(),
            args: Vec::new(),
        }
    }

    /// Gives argument `name` the value `value` (a second value replaces the first).
    pub fn arg(mut self, name: impl Into<Text>, value: impl Serialize) -> Step {
        let name = name.into();
        let value = serde_json::to_value(value).map_err(|e| e.to_string());
        match self
            .args
            .binary_search_by(|(n, _)| n.as_ref().cmp(name.as_ref()))
        {
            Ok(i) => self.args[i].1 = value,
            Err(i) => self.args.insert(i, (name, value)),
        }
        self
    }

    /// The task's registry name.
    pub fn task_name(&self) -> &str {
        &self.spec.def().meta.name
    }

    /// `task(a=1, b="x")`: the task's name and its arguments, sorted by name,
    /// as JSON. Two steps with one label are the same plan.
    pub fn label(&self) -> String {
        if self.args.is_empty() {
            return self.task_name().to_owned();
        }
        let args: Vec<String> = self
            .args
            .iter()
            .map(|(n, v)| match v {
                Ok(v) => format!("{n}={v}"),
                Err(_) => format!("{n}=?"),
            })
            .collect();
        format!("{}({})", self.task_name(), args.join(", "))
    }

    /// Checks the arguments against the task: every value encodes, every
    /// argument exists, and (for abort plans, which nothing else feeds) every
    /// required one is given.
    fn check(&self, map: &str, plan: &str, all_required: bool) -> Result<(), PlanError> {
        let meta = &self.spec.def().meta;
        let bad = |message: String| PlanError::Arguments {
            map: map.to_owned(),
            plan: plan.to_owned(),
            step: self.label(),
            message,
        };
        for (name, value) in &self.args {
            if let Err(e) = value {
                return Err(bad(format!("the value of `{name}` cannot be encoded: {e}")));
            }
            if !meta.value_args().any(|(a, _)| a == name.as_ref()) {
                let args: Vec<String> = meta.value_args().map(|(a, _)| format!("`{a}`")).collect();
                return Err(bad(format!(
                    "the task has no argument `{name}`; its arguments are {}",
                    if args.is_empty() {
                        "none".to_owned()
                    } else {
                        args.join(", ")
                    }
                )));
            }
        }
        if all_required {
            for (arg, optional) in meta.value_args() {
                if !optional && !self.args.iter().any(|(n, _)| n == arg) {
                    return Err(bad(format!(
                        "argument `{arg}` is not given: add `.arg(\"{arg}\", ..)`"
                    )));
                }
            }
        }
        Ok(())
    }

    /// The values in the order the task reads them (`value_args`).
    fn values(&self) -> Vec<Option<Value>> {
        self.spec
            .def()
            .meta
            .value_args()
            .map(|(arg, _)| {
                self.args
                    .iter()
                    .find(|(n, _)| n == arg)
                    .and_then(|(_, v)| v.as_ref().ok().cloned())
            })
            .collect()
    }
}

/// A plan: a task with arguments, a priority and abort plans.
#[derive(Debug, Clone)]
pub struct Plan {
    step: Step,
    priority: Option<u8>,
    aborts: Vec<Step>,
}

impl Plan {
    /// A plan running `task`; its priority is the task's
    /// (`#[task(priority = N)]`, [`FnTask::priority`](crate::FnTask::priority))
    /// unless given with [`Plan::priority`].
    pub fn new(task: impl Into<TaskSpec>) -> Plan {
        Plan {
            step: Step::new(task),
            priority: None,
            aborts: Vec::new(),
        }
    }

    /// Gives argument `name` the value `value`.
    pub fn arg(mut self, name: impl Into<Text>, value: impl Serialize) -> Plan {
        self.step = self.step.arg(name, value);
        self
    }

    /// The plan's priority: 1 runs first, 99 last.
    pub fn priority(mut self, priority: u8) -> Plan {
        self.priority = Some(priority);
        self
    }

    /// Adds an abort plan: run, after the plans that ran later than this one
    /// have been aborted, when a later plan fails. A plan's abort plans run in
    /// the order added.
    pub fn abort(mut self, step: Step) -> Plan {
        self.aborts.push(step);
        self
    }

    /// The plan's label: `task(arg=value, ..)`.
    pub fn label(&self) -> String {
        self.step.label()
    }

    fn effective_priority(&self) -> Option<u8> {
        self.priority.or(self.step.spec.def().meta.priority)
    }
}

/// Plans gathered by one or more generators, run in priority order.
#[derive(Debug, Clone)]
pub struct PlanMap {
    name: String,
    plans: Vec<Plan>,
    skips: Vec<String>,
    abort_failed_plan: bool,
}

impl PlanMap {
    /// An empty map; `name` names the flow it builds.
    pub fn new(name: impl Into<String>) -> PlanMap {
        PlanMap {
            name: name.into(),
            plans: Vec::new(),
            skips: Vec::new(),
            abort_failed_plan: false,
        }
    }

    /// The map's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Adds a plan.
    #[allow(clippy::should_implement_trait)] // a builder verb, as `Flow::add`
    pub fn add(&mut self, plan: Plan) -> &mut PlanMap {
        self.plans.push(plan);
        self
    }

    /// Adds the plans and skips of `other` after this map's own.
    pub fn merge(&mut self, other: PlanMap) -> &mut PlanMap {
        self.plans.extend(other.plans);
        for skip in other.skips {
            if !self.skips.contains(&skip) {
                self.skips.push(skip);
            }
        }
        self
    }

    /// Skips every plan of `task` (by its registry name).
    pub fn skip(&mut self, task: impl Into<TaskSpec>) -> &mut PlanMap {
        let spec: TaskSpec = task.into();
        self.skip_named(spec.def().meta.name.to_string())
    }

    /// Skips every plan of the task named `task`.
    pub fn skip_named(&mut self, task: impl Into<String>) -> &mut PlanMap {
        let task = task.into();
        if !self.skips.contains(&task) {
            self.skips.push(task);
        }
        self
    }

    /// Whether the abort plans of the plan that failed run too (default
    /// `false`, as in Paradrop: abort plans undo a plan that completed). Set
    /// it when a failing plan may leave half its work done and its abort
    /// plans can undo that.
    pub fn abort_failed_plan(&mut self, yes: bool) -> &mut PlanMap {
        self.abort_failed_plan = yes;
        self
    }

    /// The names of the tasks whose plans are skipped.
    pub fn skips(&self) -> &[String] {
        &self.skips
    }

    /// The plans as they will run: in priority order, duplicates merged,
    /// skipped tasks left out; `(label, priority)` each.
    pub fn ordered(&self) -> Result<Vec<(String, u8)>, PlanError> {
        Ok(self
            .arrange()?
            .into_iter()
            .map(|(p, prio)| (p.label(), prio))
            .collect())
    }

    /// Checks priorities and arguments; sorts, merges duplicates and drops
    /// skipped plans.
    fn arrange(&self) -> Result<Vec<(Plan, u8)>, PlanError> {
        let mut kept: Vec<(Plan, u8, String)> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::with_capacity(self.plans.len());
        for plan in &self.plans {
            let label = plan.label();
            let priority = plan
                .effective_priority()
                .ok_or_else(|| PlanError::NoPriority {
                    map: self.name.clone(),
                    plan: label.clone(),
                })?;
            if !(FIRST..=LAST).contains(&priority) {
                return Err(PlanError::Priority {
                    map: self.name.clone(),
                    plan: label,
                    priority,
                });
            }
            plan.step.check(&self.name, &label, false)?;
            for abort in &plan.aborts {
                abort.check(&self.name, &label, true)?;
            }
            if self.skips.iter().any(|s| s == plan.step.task_name()) {
                continue;
            }
            match index.get(&label).map(|&i| &mut kept[i]) {
                Some((first, _, _)) => {
                    for abort in &plan.aborts {
                        if !first.aborts.iter().any(|a| a.label() == abort.label()) {
                            first.aborts.push(abort.clone());
                        }
                    }
                }
                None => {
                    index.insert(label.clone(), kept.len());
                    kept.push((plan.clone(), priority, label));
                }
            }
        }
        // A stable sort: ties keep the order plans were added.
        kept.sort_by_key(|(_, priority, _)| *priority);
        Ok(kept.into_iter().map(|(p, prio, _)| (p, prio)).collect())
    }

    /// Builds the linear flow of the plans.
    pub fn build(&self) -> Result<PlanFlow, PlanError> {
        let control = Arc::new(PlanControl::default());
        let mut flow = Flow::linear(self.name.clone());
        let mut plans = Vec::new();
        for (plan, priority) in self.arrange()? {
            let label = plan.label();
            let mut spec = plan_atom(&plan, &label, &control, self.abort_failed_plan);
            for (name, value) in &plan.step.args {
                if let Ok(value) = value {
                    spec = spec.inject(name.clone(), value);
                }
            }
            flow.push(spec.named(label.clone()));
            plans.push((label, priority));
        }
        Ok(PlanFlow {
            name: self.name.clone(),
            flow,
            plans,
            control,
        })
    }

    /// Builds the flow and runs it in a new engine ([`PlanFlow::execute`]).
    pub fn execute(&self) -> Result<Done, PlanError> {
        self.build()?.execute()
    }
}

/// The atom of one plan: the task's code, with a revert that runs the task's
/// own revert, then (if the plan completed, or failed with
/// `abort_failed_plan`, and was not skipped) its abort plans.
fn plan_atom(
    plan: &Plan,
    label: &str,
    control: &Arc<PlanControl>,
    abort_failed_plan: bool,
) -> TaskSpec {
    let spec = plan.step.spec.clone();
    let def = spec.def();
    let task_name = def.meta.name.to_string();
    let exec = def.exec.clone();
    let own_revert = def.revert.clone();
    let aborts: Arc<[Step]> = plan.aborts.iter().cloned().collect();
    let has_revert = own_revert.is_some() || !aborts.is_empty();

    let skip_control = Arc::clone(control);
    let atom = label.to_owned();
    // A skipped plan provides nothing: `null` for each name it would provide.
    let nothing = match spec.provides() {
        crate::task::Provides::Tuple(names) => Value::Array(vec![Value::Null; names.len()]),
        _ => Value::Null,
    };
    let exec = Exec::Dyn(Arc::new(move |call: &Call<'_>| {
        if skip_control.is_skipped(&task_name) {
            skip_control.lock().skipped.push(atom.clone());
            return Invocation::Ready(Ok(nothing.clone()));
        }
        exec.call(call)
    }));

    let control = Arc::clone(control);
    let atom = label.to_owned();
    let revert = has_revert.then(|| {
        Exec::Dyn(Arc::new(move |call: &Call<'_>| -> Invocation<Value> {
            let skipped = control.lock().skipped.contains(&atom);
            let own = match (&own_revert, skipped) {
                (Some(revert), false) => Some(without_value(revert.call(call))),
                _ => None,
            };
            let completed =
                abort_failed_plan || matches!(call.outcome::<Value>(), Ok(Outcome::Success(_)));
            let mut pending = Vec::new();
            if completed && !skipped {
                let mut state = control.lock();
                for abort in aborts.iter() {
                    // An abort plan listed by several plans runs once, at the
                    // latest of them (reverts come newest first).
                    let label = abort.label();
                    if state.aborted_set.insert(label.clone()) {
                        state.aborted.push(label);
                        pending.push(abort.clone());
                    }
                }
            }
            with_null(run_steps(
                own,
                pending,
                call.resources.clone(),
                call.listeners.cloned(),
                Arc::clone(&control),
            ))
        })) as Exec<Value>
    });
    let mut atom = TaskSpec::new(DefRef::Shared(Arc::new(TaskDef {
        meta: def.meta.clone(),
        exec,
        revert,
    })));
    // What the caller set on the atom (rebinds, renamed outputs, a timeout)
    // stays; the name becomes the plan's label.
    atom.rebind = spec.rebind.clone();
    atom.extra = spec.extra.clone();
    atom.provides = spec.provides.clone();
    atom
}

/// A revert's invocation without its result: a plan's revert runs its abort
/// plans after the task's own revert, and keeps no revert result.
fn without_value(invocation: Invocation<Value>) -> Invocation<()> {
    match invocation {
        Invocation::Ready(result) => Invocation::Ready(result.map(drop)),
        Invocation::Pending(future) => {
            Invocation::Pending(Box::pin(async move { future.await.map(drop) }))
        }
    }
}

/// A revert's invocation with `null` as its result (nothing to keep).
fn with_null(invocation: Invocation<()>) -> Invocation<Value> {
    match invocation {
        Invocation::Ready(result) => Invocation::Ready(result.map(|()| Value::Null)),
        Invocation::Pending(future) => {
            Invocation::Pending(Box::pin(async move { future.await.map(|()| Value::Null) }))
        }
    }
}

/// Runs a first invocation (the task's own revert), then `steps`, one after
/// the other, stopping at the first failure. Synchronous while every step is;
/// a future from the first async step on.
fn run_steps(
    first: Option<Invocation<()>>,
    steps: Vec<Step>,
    resources: Resources,
    listeners: Option<Listeners>,
    control: Arc<PlanControl>,
) -> Invocation<()> {
    let mut steps = steps.into_iter();
    if let Some(first) = first {
        match first {
            Invocation::Ready(Ok(())) => {}
            Invocation::Ready(Err(e)) => return Invocation::Ready(Err(e)),
            Invocation::Pending(future) => {
                return Invocation::Pending(finish_async(
                    Some(future),
                    steps.collect(),
                    resources,
                    listeners,
                    control,
                ))
            }
        }
    }
    while let Some(step) = steps.next() {
        match call_step(&step, &resources, listeners.as_ref()) {
            Invocation::Ready(Ok(_)) => {}
            Invocation::Ready(Err(e)) => {
                return Invocation::Ready(Err(control.abort_failed(&step, e)))
            }
            Invocation::Pending(future) => {
                let control2 = Arc::clone(&control);
                let first: BoxFuture<Result<(), Failure>> = Box::pin(async move {
                    future
                        .await
                        .map(drop)
                        .map_err(|e| control2.abort_failed(&step, e))
                });
                return Invocation::Pending(finish_async(
                    Some(first),
                    steps.collect(),
                    resources,
                    listeners,
                    control,
                ));
            }
        }
    }
    Invocation::Ready(Ok(()))
}

fn finish_async(
    first: Option<BoxFuture<Result<(), Failure>>>,
    steps: Vec<Step>,
    resources: Resources,
    listeners: Option<Listeners>,
    control: Arc<PlanControl>,
) -> BoxFuture<Result<(), Failure>> {
    Box::pin(async move {
        if let Some(first) = first {
            first.await?;
        }
        for step in steps {
            let result = match call_step(&step, &resources, listeners.as_ref()) {
                Invocation::Ready(result) => result,
                Invocation::Pending(future) => future.await,
            };
            if let Err(e) = result {
                return Err(control.abort_failed(&step, e));
            }
        }
        Ok(())
    })
}

/// Calls an abort plan's task with its arguments.
fn call_step(step: &Step, resources: &Resources, listeners: Option<&Listeners>) -> Invocation {
    let values = step.values();
    let args: Vec<Option<&Value>> = values.iter().map(Option::as_ref).collect();
    let label = step.label();
    let def = step.spec.def();
    let mut call = Call::new(&label, &def.meta, &args, resources);
    call.listeners = listeners;
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| def.exec.call(&call))) {
        Ok(invocation) => invocation,
        Err(panic) => Invocation::Ready(Err(Failure::from_panic(&label, &*panic))),
    }
}

/// What the plans of one run share: skips asked for while running, and the
/// abort plans already run. Handed to tasks as a resource (`Res<PlanControl>`)
/// by [`PlanFlow::engine`], so that a plan can skip later ones — as a
/// Paradrop plan that finds nothing changed skips the reload after it.
#[derive(Debug, Default)]
pub struct PlanControl {
    state: Mutex<ControlState>,
}

#[derive(Debug, Default)]
struct ControlState {
    skips: HashSet<String>,
    skipped: Vec<String>,
    /// Abort plans started, in order, and as a set.
    aborted: Vec<String>,
    aborted_set: HashSet<String>,
    failed_abort: Option<String>,
}

impl PlanControl {
    /// Skips the plans of the task named `task` that have not run yet.
    pub fn skip(&self, task: impl Into<String>) {
        self.lock().skips.insert(task.into());
    }

    /// The plans skipped while running, in order.
    pub fn skipped(&self) -> Vec<String> {
        self.lock().skipped.clone()
    }

    /// The abort plans started so far, in the order they ran (the last one
    /// may have failed).
    pub fn aborted(&self) -> Vec<String> {
        self.lock().aborted.clone()
    }

    fn is_skipped(&self, task: &str) -> bool {
        self.lock().skips.contains(task)
    }

    fn abort_failed(&self, step: &Step, failure: Failure) -> Failure {
        self.lock().failed_abort = Some(step.label());
        failure
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ControlState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A plan map built into a flow: the flow, the plans in the order they run,
/// and the state their run shares.
///
/// A `PlanFlow` is for one run: its atoms share one [`PlanControl`] (skips,
/// abort plans already run), so build the map again for another run. A run
/// resumed in a new process (through a flow factory that builds the map)
/// starts with a fresh control: an abort plan that had run before the crash
/// may run again.
#[derive(Debug, Clone)]
pub struct PlanFlow {
    name: String,
    flow: Flow,
    plans: Vec<(String, u8)>,
    control: Arc<PlanControl>,
}

impl PlanFlow {
    /// The linear flow: one atom per plan, named by its label.
    pub fn flow(&self) -> &Flow {
        &self.flow
    }

    /// `(label, priority)` of each plan, in the order they run.
    pub fn plans(&self) -> &[(String, u8)] {
        &self.plans
    }

    /// The state the plans' run shares.
    pub fn control(&self) -> &Arc<PlanControl> {
        &self.control
    }

    /// An engine for the flow, with [`PlanControl`] as a resource. Add
    /// listeners, persistence and resources to it, run it, and read the result
    /// with [`PlanFlow::outcome`].
    pub fn engine(&self) -> Engine {
        Engine::new(self.flow.clone()).resource_arc(Arc::clone(&self.control))
    }

    /// Runs the flow in [`PlanFlow::engine`].
    pub fn execute(&self) -> Result<Done, PlanError> {
        self.outcome(self.engine().run())
    }

    /// Reads an engine's result as the plan map's: [`PlanError::Restored`]
    /// when a plan failed and every abort plan ran, [`PlanError::AbortFailed`]
    /// when an abort plan failed too.
    pub fn outcome(&self, result: Result<Done, RunError>) -> Result<Done, PlanError> {
        let map = self.name.clone();
        match result {
            Ok(done) => Ok(done),
            Err(RunError::Failed { atom, failure, .. }) => Err(PlanError::Restored {
                map,
                plan: atom,
                failure,
            }),
            Err(RunError::RevertFailed {
                atom,
                failure,
                revert_atom,
                revert_failure,
                ..
            }) => {
                let abort = self
                    .control
                    .lock()
                    .failed_abort
                    .clone()
                    .unwrap_or_else(|| format!("the revert of `{revert_atom}`"));
                Err(PlanError::AbortFailed {
                    map,
                    plan: atom,
                    failure,
                    aborting: revert_atom,
                    abort,
                    abort_failure: revert_failure,
                })
            }
            Err(RunError::Invalid(errors)) => Err(PlanError::Invalid(errors)),
            Err(other) => Err(PlanError::Run(Box::new(other))),
        }
    }
}

/// Why a plan map did not complete.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// A plan without a priority.
    #[error("plan map `{map}`: plan `{plan}` has no priority: give it one with `Plan::priority(n)` or `#[task(priority = n)]`")]
    NoPriority {
        /// The map.
        map: String,
        /// The plan.
        plan: String,
    },
    /// A priority outside 1..=99.
    #[error("plan map `{map}`: plan `{plan}` has priority {priority}; priorities run from 1 (first) to 99 (last)")]
    Priority {
        /// The map.
        map: String,
        /// The plan.
        plan: String,
        /// The priority given.
        priority: u8,
    },
    /// A plan's or an abort plan's arguments do not fit its task.
    #[error("plan map `{map}`: plan `{plan}`: `{step}`: {message}")]
    Arguments {
        /// The map.
        map: String,
        /// The plan.
        plan: String,
        /// The plan or abort plan whose arguments are wrong.
        step: String,
        /// What is wrong.
        message: String,
    },
    /// The flow of the plans cannot run (found before anything ran).
    #[error(transparent)]
    Invalid(FlowErrors),
    /// A plan failed; the abort plans of the plans that had run restored the
    /// previous state.
    #[error("plan map `{map}`: plan `{plan}` failed: {failure}; the plans before it were aborted, the previous state is restored")]
    Restored {
        /// The map.
        map: String,
        /// The plan that failed.
        plan: String,
        /// Its failure.
        #[source]
        failure: Failure,
    },
    /// A plan failed, then an abort plan failed too: the previous state is
    /// not restored.
    #[error("plan map `{map}`: plan `{plan}` failed ({failure}), then abort plan `{abort}` of plan `{aborting}` failed: {abort_failure}; the previous state is NOT restored")]
    AbortFailed {
        /// The map.
        map: String,
        /// The plan that failed first.
        plan: String,
        /// Its failure.
        #[source]
        failure: Failure,
        /// The plan whose abort plans were running.
        aborting: String,
        /// The abort plan that failed.
        abort: String,
        /// Its failure.
        abort_failure: Failure,
    },
    /// The engine stopped for another reason (a logbook write failed, ...).
    #[error(transparent)]
    Run(Box<RunError>),
}

impl PlanError {
    /// The failure of the plan that failed, if one did.
    pub fn failure(&self) -> Option<&Failure> {
        match self {
            PlanError::Restored { failure, .. } | PlanError::AbortFailed { failure, .. } => {
                Some(failure)
            }
            _ => None,
        }
    }
}
