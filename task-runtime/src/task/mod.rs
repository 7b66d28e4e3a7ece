//! Tasks: a static description ([`TaskMeta`]) plus code to execute and,
//! optionally, to revert ([`TaskDef`]).
//!
//! A task is defined once — by `#[task]` on a function (a `static TaskDef`) or at
//! run time with [`FnTask`] (an `Arc<TaskDef>`) — and added to flows as a
//! [`TaskSpec`], which may rename the atom, rebind its arguments to other names
//! or inject fixed values for them.
//!
//! Task code never sees storage: the engine resolves every value argument first
//! and hands over a [`Call`]. Values travel as serde data (JSON values), so that
//! they can be persisted and sent to remote workers; resources travel by type.

mod call;
mod cancel;
mod error;
pub(crate) mod finite;
mod meta;

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use smallvec::SmallVec;

pub(crate) use call::RevertInfo;
pub use call::{encode, short_type_name, BoxFuture, Call, Invocation, Res, Resources, TaskCtx};
pub use cancel::CancelToken;
pub use error::IntoFailure;
#[doc(hidden)]
pub use error::{ReturnOf, TaskError, ViaError, ViaValue};
pub use meta::{Location, Param, ParamKind, Provides, TaskMeta, Text, ValueType, Version};

use crate::failure::Failure;

/// Task code held as a closure.
pub type DynCode<T> = Arc<dyn Fn(&Call<'_>) -> Invocation<T> + Send + Sync>;

/// A task's code: a plain function pointer (`#[task]`) or a shared closure
/// (tasks built at run time).
pub enum Exec<T = Value> {
    /// A function pointer; const-constructible.
    Fn(fn(&Call<'_>) -> Invocation<T>),
    /// A closure.
    Dyn(DynCode<T>),
}

impl<T> Exec<T> {
    /// Calls the code.
    pub fn call(&self, call: &Call<'_>) -> Invocation<T> {
        match self {
            Exec::Fn(f) => f(call),
            Exec::Dyn(f) => f(call),
        }
    }
}

impl<T> Clone for Exec<T> {
    fn clone(&self) -> Self {
        match self {
            Exec::Fn(f) => Exec::Fn(*f),
            Exec::Dyn(f) => Exec::Dyn(Arc::clone(f)),
        }
    }
}

impl<T> std::fmt::Debug for Exec<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exec::Fn(_) => f.write_str("Exec::Fn"),
            Exec::Dyn(_) => f.write_str("Exec::Dyn"),
        }
    }
}

/// A task: its metadata and its code.
#[derive(Debug, Clone)]
pub struct TaskDef {
    /// What the task requires, provides and reverts.
    pub meta: TaskMeta,
    /// Executes the task; returns its result encoded (a tuple as an array).
    pub exec: Exec,
    /// Reverts the task, if it has anything to undo. What it returns is
    /// kept as the atom's revert result (`null`: nothing to keep).
    pub revert: Option<Exec<Value>>,
}

/// Implemented by the type `#[task]` generates next to each task function (a
/// braced struct of the function's name, living in the type namespace only).
pub trait Task {
    /// The task's definition.
    const DEF: &'static TaskDef;
}

/// The success of a task, or its failure, as handed to its revert.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome<T> {
    /// The task succeeded with this result.
    Success(T),
    /// The task failed (it is the failed task being reverted).
    Failure(Failure),
}

impl<T> Outcome<T> {
    /// The result, if the task succeeded.
    pub fn ok(self) -> Option<T> {
        match self {
            Outcome::Success(v) => Some(v),
            Outcome::Failure(_) => None,
        }
    }

    /// Whether the task succeeded.
    pub fn is_success(&self) -> bool {
        matches!(self, Outcome::Success(_))
    }
}

/// A `Result` whose error is a `std::error::Error`, as a task's return (for
/// code that calls [`finish`] itself; `#[task]` also takes the error types of
/// [`IntoFailure`], see [`ReturnOf`]).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a task result",
    label = "a task must return `Result<T, E>` with `T: Serialize` and `E: std::error::Error + Send + Sync + 'static`, or a plain `T: Serialize`"
)]
pub trait TaskReturn {
    /// The success type.
    type Ok;
    /// Splits into the success value or a failure.
    fn into_result(self) -> Result<Self::Ok, Failure>;
}

impl<T, E> TaskReturn for Result<T, E>
where
    E: std::error::Error + Send + Sync + 'static,
{
    type Ok = T;
    fn into_result(self) -> Result<T, Failure> {
        self.map_err(Failure::from_error)
    }
}

/// What a revert function may return: `()` or `Result<(), E>`, or a
/// [`Value`] (or `Result<Value, E>`) to keep as the atom's revert result
/// (TaskFlow's `revert_results`; read it back with
/// [`Storage::revert_result`](crate::storage::Storage::revert_result) or
/// [`AtomDetail::revert_result`](crate::persistence::AtomDetail::revert_result)).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a revert result",
    label = "a revert must return `()` or `Result<(), E>` with `E: std::error::Error + Send + Sync + 'static`"
)]
pub trait RevertReturn {
    /// Converts into the engine's form: the revert result (`null` for none).
    fn into_result(self) -> Result<Value, Failure>;
}

impl RevertReturn for () {
    fn into_result(self) -> Result<Value, Failure> {
        Ok(Value::Null)
    }
}

impl RevertReturn for Value {
    fn into_result(self) -> Result<Value, Failure> {
        Ok(self)
    }
}

impl<E> RevertReturn for Result<(), E>
where
    E: std::error::Error + Send + Sync + 'static,
{
    fn into_result(self) -> Result<Value, Failure> {
        self.map(|()| Value::Null).map_err(Failure::from_error)
    }
}

impl<E> RevertReturn for Result<Value, E>
where
    E: std::error::Error + Send + Sync + 'static,
{
    fn into_result(self) -> Result<Value, Failure> {
        self.map_err(Failure::from_error)
    }
}

/// A type a `#[task]` function takes as a value parameter: one that serde
/// can decode ([`serde::de::DeserializeOwned`]), since values reach tasks
/// as serde data (persisted, sent to workers). `#[task]` decodes each value
/// parameter through it, so that a type that is not `Deserialize` is
/// reported at the parameter, saying what to derive.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a task parameter: it does not implement `serde::Deserialize`",
    label = "not `Deserialize`: tasks take their values as serde data",
    note = "add `#[derive(serde::Deserialize)]` to `{Self}`; a type of another crate may have a `serde` feature; a value that cannot be data (a client, a pool) is a resource: take `Res<{Self}>`"
)]
pub trait TaskParam: Sized {
    /// The value argument `index` of `call`.
    fn arg(call: &Call<'_>, index: usize) -> Result<Self, Failure>;
    /// The optional value argument `index` of `call`.
    fn opt_arg(call: &Call<'_>, index: usize) -> Result<Option<Self>, Failure>;
}

#[diagnostic::do_not_recommend]
impl<T: serde::de::DeserializeOwned> TaskParam for T {
    fn arg(call: &Call<'_>, index: usize) -> Result<T, Failure> {
        call.arg(index)
    }

    fn opt_arg(call: &Call<'_>, index: usize) -> Result<Option<T>, Failure> {
        call.opt_arg(index)
    }
}

/// A type a `#[task]` function returns (its success value): one that serde
/// can encode ([`Serialize`]), since results are kept as serde data. A type
/// that is not `Serialize` is reported at the return type, saying what to
/// derive.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a task's result: it does not implement `serde::Serialize`",
    label = "not `Serialize`: tasks provide their values as serde data",
    note = "add `#[derive(serde::Serialize)]` to `{Self}`; a type of another crate may have a `serde` feature"
)]
pub trait TaskOutput: Serialize {}

#[diagnostic::do_not_recommend]
impl<T: Serialize> TaskOutput for T {}

/// Finishes a task call: splits the function's return and encodes the success.
pub fn finish<R>(atom: &str, ret: R) -> Result<Value, Failure>
where
    R: TaskReturn,
    R::Ok: TaskOutput,
{
    let ok = ret.into_result()?;
    encode(atom, &ok)
}

/// A reference to a task's definition: static (`#[task]`) or shared (run time).
#[derive(Debug, Clone)]
pub enum DefRef {
    /// Defined by `#[task]`.
    Static(&'static TaskDef),
    /// Built at run time.
    Shared(Arc<TaskDef>),
}

impl std::ops::Deref for DefRef {
    type Target = TaskDef;
    fn deref(&self) -> &TaskDef {
        match self {
            DefRef::Static(d) => d,
            DefRef::Shared(d) => d,
        }
    }
}

/// A task as added to a flow: its definition, plus how this atom is named and
/// where its arguments come from.
///
/// ```
/// # use taskwire_runtime::{FnTask, TaskSpec};
/// # use serde_json::json;
/// let spec: TaskSpec = FnTask::new("double")
///     .requires(["x"])
///     .provides("y")
///     .run(|call| Ok(json!(call.arg::<u64>(0)? * 2)))
///     .into_spec()
///     .named("double_size")
///     .rebind("x", "size");
/// assert_eq!(spec.atom_name(), "double_size");
/// ```
#[derive(Debug, Clone)]
pub struct TaskSpec {
    pub(crate) def: DefRef,
    pub(crate) name: Option<Text>,
    /// Most atoms rebind at most one argument: kept inline, no allocation.
    pub(crate) rebind: SmallVec<[(Text, Text); 1]>,
    /// What few atoms use, boxed so the common atom stays small.
    pub(crate) extra: Option<Box<Extra>>,
    pub(crate) provides: Option<Provides>,
}

/// The rarely used parts of an atom.
#[derive(Debug, Clone, Default)]
pub(crate) struct Extra {
    pub(crate) inject: Vec<(Text, Result<Value, String>)>,
    pub(crate) timeout: Option<Duration>,
    /// `(argument, name read instead)` for the revert only.
    pub(crate) revert_rebind: Vec<(Text, Text)>,
}

impl TaskSpec {
    /// An atom of the given task, named after it.
    pub fn new(def: DefRef) -> TaskSpec {
        TaskSpec {
            def,
            name: None,
            rebind: SmallVec::new(),
            extra: None,
            provides: None,
        }
    }

    /// An atom of a `#[task]` task.
    pub const fn from_static(def: &'static TaskDef) -> TaskSpec {
        TaskSpec {
            def: DefRef::Static(def),
            name: None,
            rebind: SmallVec::new_const(),
            extra: None,
            provides: None,
        }
    }

    /// Names this atom (default: the task's name). Atom names are unique in a flow.
    pub fn named(mut self, name: impl Into<Text>) -> TaskSpec {
        self.name = Some(name.into());
        self
    }

    /// Reads argument `arg` from the value named `from`.
    pub fn rebind(mut self, arg: impl Into<Text>, from: impl Into<Text>) -> TaskSpec {
        self.rebind.push((arg.into(), from.into()));
        self
    }

    /// Reads argument `arg` of the revert from the value named `from`
    /// (TaskFlow's `revert_rebind`): the execution reads `arg` as before,
    /// the revert reads `from` in its place. `from` becomes a requirement of
    /// the atom, checked when the flow compiles as any other (the atom waits
    /// for its provider, as TaskFlow's atoms do for their revert's
    /// requirements). An `arg` the task does not have fails the compilation
    /// ([`FlowError::UnknownArgument`](crate::FlowError::UnknownArgument)).
    pub fn revert_rebind(mut self, arg: impl Into<Text>, from: impl Into<Text>) -> TaskSpec {
        let (arg, from) = (arg.into(), from.into());
        if !self.def.meta.value_args().any(|(n, _)| n == from.as_ref()) {
            let mut def = TaskDef::clone(&self.def);
            def.meta.extra_requires.to_mut().push(from.clone());
            self.def = DefRef::Shared(Arc::new(def));
        }
        self.extra_mut().revert_rebind.push((arg, from));
        self
    }

    /// The revert's rebinds, in the order given.
    pub(crate) fn revert_rebinds(&self) -> &[(Text, Text)] {
        self.extra.as_ref().map_or(&[], |e| &e.revert_rebind)
    }

    /// Gives argument `arg` a fixed value; it takes precedence over any provider.
    pub fn inject(mut self, arg: impl Into<Text>, value: impl Serialize) -> TaskSpec {
        let value = finite::to_value(&value);
        self.extra_mut().inject.push((arg.into(), value));
        self
    }

    /// Fails this atom when it runs longer than `timeout`: an async task is
    /// cancelled; a sync task cannot be interrupted, so its late result is
    /// discarded. The failure (kind [`FailureKind::Timeout`](crate::FailureKind))
    /// names the timeout, and the flow reverts as for any failure.
    pub fn timeout(mut self, timeout: Duration) -> TaskSpec {
        self.extra_mut().timeout = Some(timeout);
        self
    }

    /// The atom's timeout, if it has one.
    pub fn timeout_after(&self) -> Option<Duration> {
        self.extra.as_ref().and_then(|e| e.timeout)
    }

    /// The values given with [`TaskSpec::inject`], in the order given.
    pub(crate) fn injected(&self) -> &[(Text, Result<Value, String>)] {
        self.extra.as_ref().map_or(&[], |e| &e.inject)
    }

    fn extra_mut(&mut self) -> &mut Extra {
        self.extra.get_or_insert_with(Box::default)
    }

    /// Provides this atom's result under `name` instead of the task's own name
    /// (TaskFlow's per-instance `provides`), so one task can be used twice.
    pub fn provides_as(mut self, name: impl Into<Text>) -> TaskSpec {
        self.provides = Some(Provides::One(name.into()));
        self
    }

    /// Provides this atom's tuple result under these names instead of the
    /// task's own; there must be as many as the task provides.
    pub fn provides_each_as(
        mut self,
        names: impl IntoIterator<Item = impl Into<Text>>,
    ) -> TaskSpec {
        self.provides = Some(Provides::Tuple(names.into_iter().map(Into::into).collect()));
        self
    }

    /// What this atom provides: the task's names, or those given to
    /// [`provides_as`](Self::provides_as).
    pub fn provides(&self) -> &Provides {
        self.provides.as_ref().unwrap_or(&self.def.meta.provides)
    }

    /// The name argument `arg` reads: what the last `rebind` of it names,
    /// else its own name.
    pub(crate) fn reads<'a>(&'a self, arg: &'a str) -> &'a str {
        let rebound = self.rebind.iter().rev().find(|(a, _)| a == arg);
        rebound.map_or(arg, |(_, from)| from.as_ref())
    }

    /// The atom's name.
    pub fn atom_name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.def.meta.name)
    }

    /// The task's definition.
    pub fn def(&self) -> &TaskDef {
        &self.def
    }
}

/// Builds a task at run time from closures, with explicit requires and provides
/// (for flows composed from configuration or plugins).
///
/// ```
/// # use taskwire_runtime::{FnTask, Version};
/// # use serde_json::json;
/// let def = FnTask::new("greet")
///     .requires(["who"])
///     .optional(["greeting"])
///     .provides("message")
///     .version(Version::new(2, 1))
///     .run(|call| {
///         let who: String = call.arg(0)?;
///         let greeting: Option<String> = call.opt_arg(1)?;
///         Ok(json!(format!("{}, {who}", greeting.as_deref().unwrap_or("hello"))))
///     })
///     .into_def();
/// assert_eq!(def.meta.requires().collect::<Vec<_>>(), ["who"]);
/// assert_eq!(def.meta.version.to_string(), "2.1");
/// ```
#[derive(Debug)]
pub struct FnTask {
    meta: TaskMeta,
    exec: Option<Exec>,
    revert: Option<Exec<Value>>,
}

impl FnTask {
    /// A task named `name`, with no arguments and no result yet.
    #[track_caller]
    pub fn new(name: impl Into<Text>) -> FnTask {
        let caller = std::panic::Location::caller();
        FnTask {
            meta: TaskMeta {
                name: name.into(),
                version: Version::default(),
                params: Cow::Owned(Vec::new()),
                extra_requires: Cow::Owned(Vec::new()),
                provides: Provides::Nothing,
                output_types: &[],
                revert: None,
                is_async: false,
                priority: None,
                location: Location {
                    module: Cow::Borrowed("<run time>"),
                    file: Cow::Borrowed(caller.file()),
                    line: caller.line(),
                },
            },
            exec: None,
            revert: None,
        }
    }

    fn push_params(
        mut self,
        names: impl IntoIterator<Item = impl Into<Text>>,
        kind: ParamKind,
    ) -> FnTask {
        let params = self.meta.params.to_mut();
        for name in names {
            params.push(Param {
                name: name.into(),
                ty: Cow::Borrowed("serde_json::Value"),
                kind,
                types: &[],
            });
        }
        self
    }

    /// Required values, read with `call.arg(i)` in the order of all value
    /// arguments (required and optional, as declared).
    pub fn requires(self, names: impl IntoIterator<Item = impl Into<Text>>) -> FnTask {
        self.push_params(names, ParamKind::Required)
    }

    /// Optional values, read with `call.opt_arg(i)`.
    pub fn optional(self, names: impl IntoIterator<Item = impl Into<Text>>) -> FnTask {
        self.push_params(names, ParamKind::Optional)
    }

    /// The result is provided under this name.
    pub fn provides(mut self, name: impl Into<Text>) -> FnTask {
        self.meta.provides = Provides::One(name.into());
        self
    }

    /// The result is an array, provided element by element under these names.
    pub fn provides_each(mut self, names: impl IntoIterator<Item = impl Into<Text>>) -> FnTask {
        self.meta.provides = Provides::Tuple(names.into_iter().map(Into::into).collect());
        self
    }

    /// The task's version.
    pub fn version(mut self, version: Version) -> FnTask {
        self.meta.version = version;
        self
    }

    /// The default priority of the task's plans in a plan map, 1 (runs
    /// first) to 99 (runs last); checked when the plan map is built.
    pub fn priority(mut self, priority: u8) -> FnTask {
        self.meta.priority = Some(priority);
        self
    }

    /// The code that executes the task.
    pub fn run<F>(mut self, f: F) -> FnTask
    where
        F: Fn(&Call<'_>) -> Result<Value, Failure> + Send + Sync + 'static,
    {
        self.meta.is_async = false;
        self.exec = Some(Exec::Dyn(Arc::new(move |call| Invocation::Ready(f(call)))));
        self
    }

    /// Async code that executes the task: decode arguments from the call, then
    /// return a future.
    pub fn run_async<F>(mut self, f: F) -> FnTask
    where
        F: Fn(&Call<'_>) -> BoxFuture<Result<Value, Failure>> + Send + Sync + 'static,
    {
        self.meta.is_async = true;
        self.exec = Some(Exec::Dyn(Arc::new(move |call| {
            Invocation::Pending(f(call))
        })));
        self
    }

    /// The code that reverts the task; it may read `call.outcome()` and
    /// `call.failures()` besides the arguments (and, by name, the values
    /// named with [`FnTask::revert_requires`]: `call.get(name)`). To keep
    /// a revert result, use [`FnTask::revert_returning`].
    pub fn revert<F>(mut self, f: F) -> FnTask
    where
        F: Fn(&Call<'_>) -> Result<(), Failure> + Send + Sync + 'static,
    {
        self.meta.revert = Some(Cow::Borrowed("<closure>"));
        self.revert = Some(Exec::Dyn(Arc::new(move |call| {
            Invocation::Ready(f(call).map(|()| Value::Null))
        })));
        self
    }

    /// The code that reverts the task, as [`FnTask::revert`], whose success
    /// is kept as the atom's revert result (TaskFlow's `revert_results`:
    /// `meta.revert_result` in its atom detail, read with
    /// [`Storage::revert_result`](crate::storage::Storage::revert_result)).
    /// A result that encodes as `null` keeps nothing; one that cannot be
    /// encoded fails the revert, naming the task.
    pub fn revert_returning<F, R>(mut self, f: F) -> FnTask
    where
        F: Fn(&Call<'_>) -> Result<R, Failure> + Send + Sync + 'static,
        R: Serialize,
    {
        self.meta.revert = Some(Cow::Borrowed("<closure>"));
        self.revert = Some(Exec::Dyn(Arc::new(move |call| {
            Invocation::Ready(f(call).and_then(|r| encode(call.atom(), &r)))
        })));
        self
    }

    /// Values the revert reads that the execution does not (TaskFlow's
    /// `revert_requires`): they must be provided, as required arguments
    /// are, and the atom waits for their providers; the revert reads them
    /// by name (`call.get(name)`, or `ctx.get(name)` from the call's
    /// [`TaskCtx`]).
    pub fn revert_requires(mut self, names: impl IntoIterator<Item = impl Into<Text>>) -> FnTask {
        let extra = self.meta.extra_requires.to_mut();
        for name in names {
            let name = name.into();
            if !extra.contains(&name) {
                extra.push(name);
            }
        }
        self
    }

    /// The finished definition. A task built without `run` fails when executed,
    /// saying so.
    pub fn into_def(self) -> Arc<TaskDef> {
        let name = self.meta.name.to_string();
        let exec = self.exec.unwrap_or_else(|| {
            Exec::Dyn(Arc::new(move |_call| {
                Invocation::Ready(Err(Failure::new(
                    crate::failure::FailureKind::Task,
                    format!("task `{name}` has no code: build it with `FnTask::run`"),
                )))
            }))
        });
        Arc::new(TaskDef {
            meta: self.meta,
            exec,
            revert: self.revert,
        })
    }

    /// The finished definition as an atom to add to a flow.
    pub fn into_spec(self) -> TaskSpec {
        TaskSpec::new(DefRef::Shared(self.into_def()))
    }
}

impl From<FnTask> for TaskSpec {
    fn from(task: FnTask) -> TaskSpec {
        task.into_spec()
    }
}

impl From<Arc<TaskDef>> for TaskSpec {
    fn from(def: Arc<TaskDef>) -> TaskSpec {
        TaskSpec::new(DefRef::Shared(def))
    }
}

impl From<&'static TaskDef> for TaskSpec {
    fn from(def: &'static TaskDef) -> TaskSpec {
        TaskSpec::from_static(def)
    }
}
