//! The callback `#[task]` leaves for `flow!`: a `macro_rules!` macro reachable
//! by the task's own path (`volumes::reserve_quota!{..}`), in the macro
//! namespace next to the function (value namespace) and its descriptor struct
//! (type namespace). `flow!` knows a task only by its path; the callback is how
//! the task's own knowledge, its value parameters, reaches the flow's
//! expansion: `#[task]` writes one type check per value parameter into it,
//! and `flow!` invokes it once per atom.
//!
//! ```text
//! #[doc(hidden)] #[macro_export]
//! macro_rules! __taskwire_task_reserve_quota_3 {
//!     (@alias $alias:ident $($path:tt)*) => { type $alias = $($path)*; };
//!     (@check [$($call:tt)*] [$($end:tt)*] $slot:ident $elem:ident $atom:literal) => {
//!         $($call)*, { $slot($atom, 0) }, { $elem($atom, 0) }, .. $($end)*
//!     };
//! }
//! #[doc(hidden)] pub use __taskwire_task_reserve_quota_3 as reserve_quota;
//! ```
//!
//! `flow!` names a task only through its callback (`@alias` gives the type
//! alias every other item uses): a path that names no task then gets rustc's
//! "cannot find macro" error, once, and `flow!` puts a stand-in task in its
//! place (a glob-imported alias that the callback's alias shadows), so nothing
//! else is reported.
//!
//! `#[macro_export]` puts the macro at the crate's root, so its name must be
//! unique in the crate: the function's name and a count of the tasks the
//! crate's build has expanded. The `use` re-exports it by a relative path (an
//! absolute `crate::` path to a macro-expanded `#[macro_export]` macro is an
//! error).
//!
//! A task named like a macro of the standard library's prelude (`format`,
//! `write`, `test`, ..) gets no callback: a macro of that name imported by a
//! glob would make the prelude's ambiguous in the importing module. `flow!`
//! names such a task by its path directly and checks its requirements by name
//! only, not by type.

use std::sync::atomic::{AtomicUsize, Ordering};

use proc_macro2::{Ident, Literal, TokenStream};
use quote::{format_ident, quote};
use syn::ext::IdentExt;
use syn::Visibility;

/// The macros (bang and attribute) the standard library's prelude brings
/// into every module.
const PRELUDE_MACROS: &[&str] = &[
    "assert",
    "assert_eq",
    "assert_ne",
    "bench",
    "cfg",
    "cfg_accessible",
    "cfg_attr",
    "cfg_eval",
    "column",
    "compile_error",
    "concat",
    "concat_bytes",
    "concat_idents",
    "const_format_args",
    "dbg",
    "debug_assert",
    "debug_assert_eq",
    "debug_assert_ne",
    "derive",
    "env",
    "eprint",
    "eprintln",
    "file",
    "format",
    "format_args",
    "format_args_nl",
    "global_allocator",
    "include",
    "include_bytes",
    "include_str",
    "is_x86_feature_detected",
    "line",
    "log_syntax",
    "matches",
    "module_path",
    "option_env",
    "panic",
    "print",
    "println",
    "stringify",
    "test",
    "test_case",
    "thread_local",
    "todo",
    "trace_macros",
    "unimplemented",
    "unreachable",
    "vec",
    "write",
    "writeln",
];

/// Whether a task named `ident` gets a callback (see the module's docs).
pub(crate) fn has_callback(ident: &Ident) -> bool {
    !PRELUDE_MACROS.contains(&ident.unraw().to_string().as_str())
}

/// The callback of the task `ident`, and its re-export under `ident` with the
/// function's visibility. `values` is how many value parameters the task has:
/// the `@check` arm writes a const argument pair for each (value argument `k`
/// is the `k`-th); `None` for a task whose attribute has errors (its alias is
/// all a flow needs).
pub(crate) fn callback(vis: &Visibility, ident: &Ident, values: Option<usize>) -> TokenStream {
    if !has_callback(ident) {
        return TokenStream::new();
    }
    static TASKS: AtomicUsize = AtomicUsize::new(0);
    let n = TASKS.fetch_add(1, Ordering::Relaxed);
    let name = format_ident!("__taskwire_task_{}_{}", ident.unraw(), n);
    let check = match values {
        Some(n) if n > 0 => {
            let args = (0..n).map(|k| {
                let k = Literal::usize_unsuffixed(k);
                quote!(, { $slot($atom, #k) }, { $elem($atom, #k) })
            });
            quote! {
                (@check [$($call:tt)*] [$($end:tt)*] $slot:ident $elem:ident $atom:literal) => {
                    $($call)* #(#args)* $($end)*
                };
            }
        }
        _ => quote!((@check $($rest:tt)*) => {};),
    };
    quote! {
        #[doc(hidden)]
        #[macro_export]
        // A task in a function's body (a doctest's) is as usable as any.
        #[allow(non_local_definitions)]
        macro_rules! #name {
            (@alias $alias:ident $($path:tt)*) => {
                #[allow(non_camel_case_types, dead_code)]
                type $alias = $($path)*;
            };
            #check
        }
        #[doc(hidden)]
        #[allow(unused_imports)]
        #vis use #name as #ident;
    }
}
