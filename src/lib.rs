//! Plain Rust functions as tasks, wired into reliable workflows by the names of
//! what they require and provide: run in order (or in parallel), reverted
//! newest-first when something fails, retried, recorded in a logbook and
//! resumed after a crash — on one machine or across many. A Rust reimagining of
//! [OpenStack TaskFlow](https://docs.openstack.org/taskflow/).
//!
//! ```
//! use taskwire::prelude::*;
//!
//! #[task(provides = "spec")]
//! fn extract_request(size: u64) -> String {
//!     format!("{size} GiB")
//! }
//!
//! #[task(provides = "reservation")]
//! fn reserve_quota(spec: String) -> String {
//!     format!("quota for {spec}")
//! }
//!
//! // Checked by the compiler: a flow that could not run does not build.
//! flow! {
//!     linear create_volume(size: u64) {
//!         extract_request,
//!         reserve_quota,
//!     }
//! }
//!
//! let done = Engine::new(create_volume()).input("size", 10u64).run()?;
//! assert_eq!(done.get::<String>("reservation")?, "quota for 10 GiB");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The main types
//!
//! - [`#[task]`](macro@task) makes a function a task; [`FnTask`] builds one at
//!   run time. A task reads values by name (serde data), resources by type
//!   ([`Res`]), and may revert ([`Outcome`], [`Failures`]).
//! - [`Flow`]: linear, unordered and graph patterns, nested, with retries
//!   ([`retry`]) and conditional links ([`decider`]); [`flow!`] checks one at
//!   compile time, [`Flow::compile`] at run time, with the same messages.
//! - [`Engine`] runs a flow (serially or in parallel, sync or async), and gives
//!   [`Done`] or a [`RunError`]; [`Listener`]s watch it ([`AtomState`],
//!   [`FlowState`]).
//! - [`persistence`]: logbooks in memory, a directory, SQLite, PostgreSQL or
//!   MySQL ([`persistence::open`] by URL), to resume a flow after a crash;
//!   leases keep one engine at a time on a flow.
//! - Front-ends that build ordinary flows: [`planmap`] (priorities and abort
//!   plans), [`activity`] (activities over a resource graph).
//! - Beyond one machine: [`jobboard`]s hand flows to [`conductor`]s, which
//!   rebuild them by name ([`factory`], [`flow_factory!`]); remote workers run
//!   atoms over a message broker (`worker`, feature `amqp`).
//! - [`picture`]: flows and runs drawn as Graphviz DOT or Mermaid.
//!
//! `use taskwire::prelude::*;` brings what most programs write every day.
//!
//! # Feature flags
//!
//! | feature        | default | what it adds |
//! |----------------|---------|--------------|
//! | `macros`       | yes     | [`#[task]`](macro@task) and [`flow!`] |
//! | `sqlite`       | yes     | the SQLite logbook (`sqlite://`) |
//! | `postgres`     | no      | the PostgreSQL logbook (`postgres://`) and jobboard |
//! | `mysql`        | no      | the MySQL/MariaDB logbook (`mysql://`) |
//! | `progress-bar` | no      | `ProgressBarListener`, a terminal progress bar |
//! | `redis`        | no      | the Redis jobboard (`redis://`) |
//! | `amqp`         | no      | remote workers over AMQP (RabbitMQ), module `worker` |
//! | `otel`         | no      | trace context across machines, `telemetry::otel::install_otlp()` |
//! | `metrics`      | no      | metrics through the `metrics` facade (`telemetry::meter`) |
//! | `prometheus`   | no      | `telemetry::prometheus`: the metrics in Prometheus' text format |
//!
//! # Guide
//!
//! The README walks through it all, with examples that are tested:
//! [quickstart][readme-quickstart], [what `#[task]` does][readme-task],
//! [flows][readme-flows], [compile-time checked flows][readme-flow-macro],
//! [running and reverting][readme-running], [parallel runs, suspension,
//! timeouts, progress][readme-parallel], [logbooks and resuming after a
//! crash][readme-logbooks] (and [one owner at a time][readme-leases]),
//! [plan maps][readme-planmaps], [activity flows][readme-activity],
//! [remote workers, jobboards and conductors][readme-distributed],
//! [TaskFlow → taskwire][readme-taskflow] and [performance][readme-performance].
//!
//! [readme-quickstart]: https://example.invalid/taskwire/blob/main/README.md#quickstart
//! [readme-task]: https://example.invalid/taskwire/blob/main/README.md#what-task-does
//! [readme-flows]: https://example.invalid/taskwire/blob/main/README.md#flows
//! [readme-flow-macro]: https://example.invalid/taskwire/blob/main/README.md#compile-time-checked-flows
//! [readme-running]: https://example.invalid/taskwire/blob/main/README.md#running-and-reverting
//! [readme-parallel]: https://example.invalid/taskwire/blob/main/README.md#parallel-runs-suspension-timeouts-progress
//! [readme-logbooks]: https://example.invalid/taskwire/blob/main/README.md#logbooks-and-resuming-after-a-crash
//! [readme-leases]: https://example.invalid/taskwire/blob/main/README.md#one-owner-at-a-time
//! [readme-planmaps]: https://example.invalid/taskwire/blob/main/README.md#plan-maps
//! [readme-activity]: https://example.invalid/taskwire/blob/main/README.md#activity-flows-over-resource-graphs
//! [readme-distributed]: https://example.invalid/taskwire/blob/main/README.md#beyond-one-machine-remote-workers-jobboards-conductors
//! [readme-taskflow]: https://example.invalid/taskwire/blob/main/README.md#taskflow--taskwire
//! [readme-performance]: https://example.invalid/taskwire/blob/main/README.md#performance
#![cfg_attr(docsrs, feature(doc_cfg))]
#![doc(test(attr(deny(warnings), allow(dead_code))))]

#[allow(unused_extern_crates)]
// lets `::taskwire::..` paths from `#[task]` resolve inside this crate (doctests)
extern crate self as taskwire;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

// The modules of the runtime, each a part users reach by name.
pub use taskwire_runtime::{
    activity, conductor, decider, engine, factory, failure, flow, jobboard, listener, persistence,
    picture, planmap, registry, retry, state, storage, task, telemetry,
};
// What exists only with a feature (`progress-bar`: `progress_bar` and
// `ProgressBarListener`; `amqp`: `worker`), whenever the runtime has it.
#[allow(unused_imports, unreachable_pub)] // nothing without those features
pub use taskwire_runtime::__by_feature::*;

pub use taskwire_runtime::flow_factory;
pub use taskwire_runtime::{
    AtomDetail, AtomEvent, AtomState, AtomType, Backend, BoxFuture, Call, CancelToken, Captured,
    CapturingListener, Done, Engine, Failure, FailureKind, FailureRecord, Failures, Flow,
    FlowDetail, FlowError, FlowErrors, FlowEvent, FlowMismatch, FlowState, FnTask, Intention,
    IntoFailure, Lease, Listener, LogBook, Node, Outcome, Param, ParamKind, PersistenceError,
    Picture, ProgressEvent, Provides, Registry, RegistryError, Res, Resources, ResumeError,
    RunError, Suspender, Task, TaskCtx, TaskDef, TaskMeta, TaskSpec, TimingListener,
    TracingListener, Value, Version,
};

/// The `taskwire` command's operator commands, to mount in a binary of your
/// own (feature `cli`): see [`taskwire_cli`].
#[cfg(feature = "cli")]
#[cfg_attr(docsrs, doc(cfg(feature = "cli")))]
pub use taskwire_cli as cli;

/// Makes a plain function into a task.
///
/// ```
/// use taskwire::prelude::*;
///
/// #[task(provides = "doubled")]
/// fn double(size: u64) -> u64 {
///     size * 2
/// }
///
/// assert_eq!(double(21), 42); // the function is untouched
/// let done = Engine::new(Flow::linear("demo").add(double::task()))
///     .input("size", 21)
///     .run()
///     .unwrap();
/// assert_eq!(done.get::<u64>("doubled").unwrap(), 42);
/// ```
///
/// Options: `provides = "x"` or `provides = ["a", "b"]` (a tuple result, element by
/// element), `requires = ["a"]` (extra names read through a `TaskCtx` parameter),
/// `revert_with = path`, `version = "major.minor"` (default `1.0`), `name = ".."`
/// (default `module::fn`), `priority = N` (1 to 99: the default priority of the
/// task's plans in a [`planmap::PlanMap`]; 1 runs first).
///
/// The revert function takes the task's parameters, in order, then `Outcome<T>`
/// (`T` is the task's success type) and `Failures`; it returns `()` or
/// `Result<(), E>`, and it is `async` exactly when the task is. The compiler checks
/// this at the `revert_with` path.
///
/// Next to the function (left untouched) `#[task]` generates a braced struct of the
/// same name (type namespace only) implementing [`Task`] (and the types of its
/// outputs, which [`flow!`] checks), with `name::task()` to add it to a flow,
/// and registers the task with `inventory`. Set `TASK_MACROS_DEBUG=1` while
/// building to print every expansion.
///
/// `crate = path` names where taskwire is when a crate uses it through another
/// crate's re-export (`pub use taskwire;` in `my_app`): `#[task(crate =
/// my_app::taskwire)]`; the generated code then names `my_app::taskwire`
/// instead of `::taskwire`.
#[cfg(feature = "macros")]
pub use taskwire_macros::task;

/// A flow checked by the compiler: a flow that could not run does not build.
///
/// ```
/// use taskwire::prelude::*;
///
/// #[task(provides = "spec")]
/// fn extract_request(size: u64) -> String {
///     format!("{size} GiB")
/// }
///
/// #[task(provides = "reservation")]
/// fn reserve_quota(spec: String) -> String {
///     format!("quota for {spec}")
/// }
///
/// taskwire::flow! {
///     linear create_volume(size: u64) {
///         extract_request,
///         reserve_quota,
///     }
/// }
///
/// // The inputs, typed: a struct named after the flow.
/// let done = create_volume { size: 10 }.engine().run().unwrap();
/// assert_eq!(done.get::<String>("reservation").unwrap(), "quota for 10 GiB");
/// // The function returns the builder's `Flow`.
/// let done = Engine::new(create_volume()).input("size", 10u64).run().unwrap();
/// # let _ = done;
/// ```
///
/// The invocation declares a function returning an ordinary [`Flow`]: a kind
/// (`linear`, `unordered` or `graph`), a name, the inputs with their types, and
/// the children, separated by commas. Next to the function, in the type
/// namespace, a struct of the same name holds the inputs, one field each of its
/// declared type, and its `engine()` is an [`Engine`] for the flow with them: an
/// input left out or of the wrong type does not compile. A child is a task's
/// path, followed by the builder's own calls if needed — `.named("..")`,
/// `.rebind("arg", "name")`, `.inject("arg", value)` (or `.inject { arg: value,
/// .. }`), `.timeout(duration)`, `.provides_as("..")`,
/// `.provides_each_as(["..", ..])` — or a nested flow, `graph name { .. }` (the
/// name may be left out).
///
/// The builder's calls on a flow have a place too: a graph flow's body may list
/// `link(from, to)` ([`Flow::link`]) and `link_if(from, to, decider)`
/// ([`Flow::link_if`]) among its children, naming children as written in the
/// flow (a task's path, a nested flow's name; a misspelled one is an error at
/// it, with the nearest child) or by their names as strings, as the builder
/// does (an atom's registered or `.named(..)` name, a nested flow's name);
/// `retry(controller)` after a flow's name (and inputs) is [`Flow::retry`],
/// followed if needed by the retry atom's own calls: `.named("..")`,
/// `.requires(["..", ..])`, `.provides("..")`, `.delay(delay)`.
///
/// ```
/// use taskwire::decider::{Decider, LinkResults};
/// use taskwire::prelude::*;
/// use taskwire::retry::Times;
///
/// #[task(provides = "volume_id", name = "create_db_entry")]
/// fn create_db_entry(size: u64) -> String {
///     format!("vol-{size}")
/// }
///
/// #[task(provides = "audited", name = "audit")]
/// fn audit(volume_id: String, attempt: u32) -> String {
///     format!("{volume_id}, attempt {attempt}")
/// }
///
/// #[task(provides = "notified", name = "notify")]
/// fn notify() -> bool {
///     true
/// }
///
/// taskwire::flow! {
///     graph prepare(size: u64) retry(Times::new(3)).provides("attempt") {
///         create_db_entry,
///         audit,
///         notify,
///         link(notify, audit),
///         link_if(create_db_entry, notify, Decider::new(|r: &LinkResults<'_>| {
///             r.get::<String>("create_db_entry").is_ok_and(|id| id.starts_with("vol-"))
///         })),
///     }
/// }
///
/// let done = Engine::new(prepare()).input("size", 10u64).run().unwrap();
/// assert_eq!(done.get::<String>("audited").unwrap(), "vol-10, attempt 1");
/// ```
///
/// The compiler then refuses, each at the task's path in the invocation (or at
/// the flow's name for whole-flow mistakes), and all in one build:
/// - a requirement that no input or earlier task provides (with a hint when a
///   later task provides it);
/// - two providers of one name in a graph or unordered flow, whatever their order;
/// - a dependency cycle;
/// - a provider whose type differs from the requirement's, naming the value and
///   both types (every value parameter is checked, an `Option<T>` one taking
///   `T` or `Option<T>`; not those of a task named like a prelude macro, such
///   as `write` or `test`, whose requirements are checked by name only);
/// - `rebind`/`inject` of an argument the task does not have, a `provides_as`
///   that does not fit;
/// - two atoms of one name;
/// - an input that no task reads (an error: remove it, or rebind an argument to it);
/// - a link end that names no child of its graph flow (at the end, listing the
///   children), a link in a flow that is not a graph (at `link`), a cycle
///   that links make;
/// - a retry's requirement (`.requires([..])`) that nothing around its flow
///   provides (at `retry`). What the controller itself reads (such as
///   `ParameterizedForEach`'s values) is known only at run time: the engine
///   checks it when it compiles the flow. A retry's value is JSON, so the
///   type of a parameter that reads it is not checked.
///
/// The messages are the ones the builder's [`Flow::compile`] gives for the same
/// mistake: both come from the same `const fn`s.
///
/// In a crate that uses taskwire through another crate's re-export, say where
/// it is first, as for [`#[task]`](macro@task): `flow! { crate =
/// my_app::taskwire; linear name(..) { .. } }`.
#[cfg(feature = "macros")]
pub use taskwire_macros::flow;

/// The names most programs write every day: `use taskwire::prelude::*;`.
///
/// The macros `#[task]` and `flow!` (feature `macros`), the types of a task's
/// signature ([`Res`], [`TaskCtx`], [`Outcome`], [`Failures`], [`Failure`]),
/// building and running flows ([`Flow`], [`FnTask`], [`TaskSpec`], [`Task`],
/// [`Engine`], [`Done`], [`RunError`]) and the states a run reports
/// ([`AtomState`], [`FlowState`], [`Intention`]). Not the module
/// [`task`](mod@crate::task): `task` here is the attribute alone.
pub mod prelude {
    #[cfg(feature = "macros")]
    pub use taskwire_macros::{flow, task};
    pub use taskwire_runtime::{
        AtomState, Done, Engine, Failure, Failures, Flow, FlowState, FnTask, Intention, Outcome,
        Res, RunError, Task, TaskCtx, TaskSpec,
    };
}

/// Support for the code `#[task]` and `flow!` generate: every path they emit
/// starts here (`::taskwire::__private::..`, or `path::__private::..` with
/// `crate = path`). Not public API: it may change in any release, without
/// notice.
#[doc(hidden)]
pub mod __private {
    pub use core;
    pub use inventory;
    pub use serde;
    pub use serde_json::Value;
    pub use std::borrow::Cow;
    pub use std::boxed::Box;
    pub use std::convert::Infallible;
    pub use std::io;
    pub use std::string::String;
    pub use taskwire_runtime::flow::check::{
        atom_flags, check_atom, check_flow, check_link, check_link_end, flow_scratch_len,
        has_unknown, is_unknown_task, names, offsets, provider_count, providers, requirement_count,
        retry_meta, sources, text, type_plans, write_unknown_link_path, AtomDesc, FlowDesc,
        LinkDesc, Msg, NodeDesc, NodeKind, Nothing, NthTy, ProvidesAs, Slot, Tables, Typed,
        UnknownTask, OWN,
    };
    pub use taskwire_runtime::flow::FlowKind;
    pub use taskwire_runtime::registry::TaskRegistration;
    pub use taskwire_runtime::retry::RetryAtom;
    pub use taskwire_runtime::task::{
        finish, Call, Exec, Invocation, Location, Param, ParamKind, Provides, Res, ReturnOf,
        RevertReturn, Task, TaskCtx, TaskDef, TaskError, TaskMeta, TaskParam, TaskReturn, TaskSpec,
        Text, ValueType, Version, ViaError, ViaValue,
    };
    pub use taskwire_runtime::{Engine, Flow, Node};
    pub use taskwire_runtime::{Failure, FailureKind, Failures, Outcome};
}
