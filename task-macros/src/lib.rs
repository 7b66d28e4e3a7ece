//! Procedural macros of taskwire: `#[task]` and `flow!`. Use them through the
//! `taskwire` crate (`use taskwire::prelude::*;`), which documents them.
//!
//! # What `#[task]` generates
//!
//! ```text
//! #[task(provides = "reservation", revert_with = release_quota, version = "1.1")]
//! pub async fn reserve_quota(spec: VolumeSpec, quota: Res<QuotaClient>) -> Result<Reservation, QuotaError> { .. }
//! ```
//!
//! expands to
//!
//! ```text
//! pub async fn reserve_quota(..) -> .. { .. }           // unchanged, still callable
//!
//! /// The task descriptor of the function `reserve_quota` ..
//! pub struct reserve_quota {}                           // type namespace only
//!
//! #[macro_export] macro_rules! __taskwire_task_reserve_quota_0 { .. }
//! pub use __taskwire_task_reserve_quota_0 as reserve_quota;  // macro namespace: `flow!`'s
//!                                                     // callback (see `callback.rs`)
//!
//! const _: () = {
//!     impl reserve_quota {
//!         pub fn task() -> TaskSpec { .. }               // `Flow::linear(..).add(reserve_quota::task())`
//!     }
//!     impl Task for reserve_quota {
//!         const DEF: &'static TaskDef = &TaskDef {
//!             meta: TaskMeta { name: "my_crate::reserve_quota", version: 1.1, params, provides,
//!                              // each parameter's and output's type, for the builder's checks:
//!                              // `Param::typed(.., &[ValueType::of::<VolumeSpec>("VolumeSpec")])`
//!                              output_types: &[ValueType::of::<Reservation>("Reservation")], .. },
//!             exec: Exec::Fn(__task_exec),
//!             revert: Some(Exec::Fn(__task_revert)),
//!         };
//!     }
//!     impl Typed for reserve_quota {                  // the outputs' types, for `flow!`
//!         type Provides = (Reservation,);
//!     }
//!     #[diagnostic::on_unimplemented(message = "task `reserve_quota` requires `spec: VolumeSpec`, but ..")]
//!     trait reserve_quota_takes_spec<P> {}              // one per value parameter, named
//!     impl<P> reserve_quota_takes_spec<P> for VolumeSpec {} // to read well in rustc's words
//!     impl reserve_quota {                              // what `flow!` calls, per atom
//!         pub const fn check_value_types<S, const K0: usize, const M0: usize, ..>()
//!         where <<S as Slot<K0>>::Types as NthTy<M0>>::Ty: reserve_quota_takes_spec<<S as Slot<K0>>::Who> {}
//!     }
//!     inventory::submit! { TaskRegistration::new(<reserve_quota as Task>::DEF) }
//!     fn __task_exec(call: &Call<'_>) -> Invocation { /* decode, call, finish */ }
//!     fn __task_revert(call: &Call<'_>) -> Invocation<()> { /* decode, call release_quota */ }
//! };
//! ```
//!
//! (every path in the real expansion is absolute, through
//! `::taskwire::__private`; with `crate = path`, through
//! `use path::__private as __taskwire_private;` at the top of the `const _`
//! block, the one place the path is resolved — see `krate.rs`).
//!
//! - Parameters, in order: `Option<T>` is an optional value, `Res<T>` a
//!   resource, `TaskCtx` the task's context, anything else a required value —
//!   judged by the last path segment of the type as written. Value parameters
//!   are decoded from serde data, so they are owned types.
//! - Return: a type whose last path segment is `Result<..>` is the task's
//!   result as it is; any other type `T` (or none, `()`) is wrapped in `Ok`.
//! - `provides = "x"` provides the whole success value; `provides = ["a", "b"]`
//!   a tuple, element by element (the success type must be written as a tuple
//!   of that arity).
//! - `requires = ["a", ..]`: more values, read through a `TaskCtx` parameter.
//! - `revert_with = path`: the revert function takes the task's parameters,
//!   then `Outcome<T>` (`T` the task's success type) and `Failures`, and returns
//!   `()` or `Result<(), E>` — or a `serde_json::Value` (or `Result<Value, E>`),
//!   kept as the atom's revert result; it is `async` if and only if the task is.
//! - `revert_requires = ["a", ..]`: values only the revert reads (TaskFlow's
//!   `revert_requires`), through the `TaskCtx` parameter the task and its
//!   revert share; the flow must provide them, as it provides `requires`.
//! - `version = "major.minor"` (default `"1.0"`), `name = ".."` (default
//!   `module_path!()::fn_name`).
//! - `priority = N` (1 to 99): the default priority of the task's plans in a
//!   plan map (`taskwire::planmap`); 1 runs first.
//! - `crate = path`: where taskwire is, for a crate that uses it through
//!   another crate's re-export (`flow!` takes `crate = path;` before the flow).
//!
//! On errors, the function is still emitted unchanged, next to the errors and
//! a stub descriptor, so that code naming the task adds no secondary errors.
//!
//! Set `TASK_MACROS_DEBUG=1` when compiling to print each expansion to stderr.

mod callback;
mod ctxt;
mod flow;
mod krate;
mod kw;
mod task;

use proc_macro::TokenStream;

/// Makes a plain function into a task; documented in the `taskwire` crate.
#[proc_macro_attribute]
pub fn task(args: TokenStream, item: TokenStream) -> TokenStream {
    task::expand(args.into(), item.into()).into()
}

/// A flow checked by the compiler; documented in the `taskwire` crate.
#[proc_macro]
pub fn flow(input: TokenStream) -> TokenStream {
    flow::expand(input.into()).into()
}
