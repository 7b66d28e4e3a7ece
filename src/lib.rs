#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![doc(test(attr(deny(warnings), allow(dead_code))))]

#[allow(unused_extern_crates)]
// lets `::taskwire::..` paths from `#[task]` resolve inside this crate (doctests)
extern crate self as taskwire;

pub use taskwire_runtime::*;

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
/// same name (type namespace only) implementing [`Task`], with `name::task()` to add
/// it to a flow, and registers the task with `inventory`. Set
/// `TASK_MACROS_DEBUG=1` while building to print every expansion.
#[cfg(feature = "macros")]
pub use taskwire_macros::task;

/// The names most programs need: `use taskwire::prelude::*;`.
pub mod prelude {
    #[cfg(feature = "macros")]
    pub use crate::task;
    pub use crate::{
        AtomState, Done, Engine, Failure, Failures, Flow, FlowState, FnTask, Outcome, Res,
        RunError, Task, TaskCtx, TaskSpec,
    };
}

/// Support for the code `#[task]` generates. Not public API: it may change in any
/// release, without notice.
#[doc(hidden)]
pub mod __private {
    pub use core;
    pub use inventory;
    pub use serde;
    pub use serde_json::Value;
    pub use std::borrow::Cow;
    pub use std::boxed::Box;
    pub use std::convert::Infallible;
    pub use std::string::String;
    pub use taskwire_runtime::registry::TaskRegistration;
    pub use taskwire_runtime::task::{
        finish, Call, Exec, Invocation, Location, Param, ParamKind, Provides, Res, RevertReturn,
        Task, TaskCtx, TaskDef, TaskMeta, TaskReturn, TaskSpec, Text, Version,
    };
    pub use taskwire_runtime::{Failure, FailureKind, Failures, Outcome};
}
