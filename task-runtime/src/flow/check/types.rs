//! The flow macro's type checks: which provider's output each required
//! parameter is compared with ([`type_plans`]), the traits the generated
//! code implements ([`Typed`], [`Slot`], [`NthTy`]), and the stand-in for a
//! path that names no task ([`UnknownTask`]).

use super::*;

/// How many outputs of a task the type checks cover.
pub(super) const OUT_MAX: u32 = 8;

/// The plan of the type checks: for each requirement, in the order of
/// [`Tables::sources`] (atom `i`'s `k`-th value argument at `offsets[i] + k`),
/// the slot and element of its provider (`[slot, elem]`). Slots: `0..inputs`
/// the declared inputs (element 0), then one per atom (its outputs). An
/// unchecked requirement (unresolved, an optional one nothing provides, or
/// read from a retry's JSON value) gets `[OWN, 0]`, whose type, [`Nothing`], every parameter accepts:
/// it adds no type error. (Names read through `requires = [..]` get entries
/// too, which no check reads: they have no type.) `N` is
/// [`requirement_count`].
pub const fn type_plans<const N: usize>(d: &FlowDesc<'_>, t: &Tables<'_>) -> [[usize; 2]; N] {
    let inputs = d.inputs.len();
    let mut plans = [[OWN, 0usize]; N];
    let mut r = 0;
    while r < N {
        let source = SourceCode::from_raw(t.sources[r]);
        if let Some(input) = source.input_index() {
            plans[r] = [input as usize, 0];
        } else if let Some(e) = source.entry() {
            // A single output is element 0 of the task's output tuple; a
            // retry's value is JSON, the controller's business.
            if !e.is_retry() && e.elem() < OUT_MAX {
                plans[r] = [inputs + e.atom() as usize, e.elem() as usize];
            }
        }
        r += 1;
    }
    plans
}

/// The name of [`UnknownTask`]'s metadata.
pub(super) const UNKNOWN_TASK: &str = "<a path that names no task>";

/// What `flow!` puts in place of a path that names no task, once rustc has
/// reported it ("cannot find macro"): a task that reads and provides nothing
/// and whose outputs pass every type check, so that the one error about the
/// path comes alone (the flow's checks stay quiet: [`has_unknown`]).
#[doc(hidden)]
#[derive(Debug)]
pub struct UnknownTask {}

impl crate::task::Task for UnknownTask {
    const DEF: &'static crate::task::TaskDef = &crate::task::TaskDef {
        meta: TaskMeta {
            name: Cow::Borrowed(UNKNOWN_TASK),
            version: crate::task::Version::new(1, 0),
            params: Cow::Borrowed(&[]),
            extra_requires: Cow::Borrowed(&[]),
            provides: Provides::Nothing,
            output_types: &[],
            revert: None,
            is_async: false,
            priority: None,
            location: crate::task::Location {
                module: Cow::Borrowed(""),
                file: Cow::Borrowed(""),
                line: 0,
            },
        },
        exec: crate::task::Exec::Fn(unknown_exec),
        revert: None,
    };
}

/// Never runs: a flow holding [`UnknownTask`] does not compile.
pub(super) fn unknown_exec(_: &crate::task::Call<'_>) -> crate::task::Invocation {
    crate::task::Invocation::Ready(Err(crate::failure::Failure::from_error(
        std::io::Error::other(UNKNOWN_TASK),
    )))
}

impl UnknownTask {
    /// The stand-in, as an atom (for the flow's builder code, which must
    /// type-check).
    pub fn task() -> crate::task::TaskSpec {
        crate::task::TaskSpec::from_static(<Self as crate::task::Task>::DEF)
    }
}

impl Typed for UnknownTask {
    type Provides = AnyTypes;
}

/// [`UnknownTask`]'s outputs: each is [`Nothing`], which every parameter's
/// check accepts.
#[doc(hidden)]
#[derive(Debug)]
pub enum AnyTypes {}

impl<const J: usize> NthTy<J> for AnyTypes {
    type Ty = Nothing;
}

/// Whether the flow holds [`UnknownTask`]: a path that named no task, which
/// rustc has reported; the flow's own checks then report nothing more.
pub const fn has_unknown(d: &FlowDesc<'_>) -> bool {
    let mut i = 0;
    let end = d.atoms.len();
    while i < end {
        if str_eq(text(&d.atoms[i].meta.name), UNKNOWN_TASK) {
            return true;
        }
        i += 1;
    }
    false
}

/// Whether `meta` is [`UnknownTask`]'s: `flow!` puts it in place of a path
/// that names no task (a function without `#[task]`, most often), and then
/// says so at the path, in words of its own.
pub const fn is_unknown_task(meta: &TaskMeta) -> bool {
    str_eq(text(&meta.name), UNKNOWN_TASK)
}

/// The types of a task, for the flow macro's type checks: `#[task]`
/// implements it next to [`Task`](crate::Task), and gives the task's type an
/// inherent `check_value_types` function whose bounds compare each of its required
/// parameters with the value its provider gives (one trait per parameter,
/// whose message names the parameter and both types).
pub trait Typed {
    /// The types of the outputs, as a tuple (one output: a 1-tuple).
    type Provides;
}

/// A slot of a flow's type checks: the flow macro implements it for a local
/// type, one slot per input and per atom, and slot [`OWN`] for requirements
/// that nothing checked provides.
pub trait Slot<const K: usize> {
    /// The types of the slot, as a tuple (`()` for [`OWN`]: its elements are
    /// [`Nothing`], which every parameter accepts).
    type Types;
    /// Who provides them (a task, or a marker named after the input), for
    /// messages.
    type Who;
}

/// The slot of requirements that nothing checked provides (see
/// [`type_plans`]): a missing requirement is reported once, by the
/// requirement checks, not again as a type mismatch.
pub const OWN: usize = usize::MAX;

/// Element `J` of a tuple type, or [`Nothing`] past its end.
pub trait NthTy<const J: usize> {
    /// The element's type.
    type Ty;
}

/// What [`NthTy`] gives past the end of a tuple, and what slot [`OWN`]
/// holds: every parameter's check accepts it.
#[derive(Debug)]
pub enum Nothing {}

macro_rules! nth_impls {
    ($( [$($T:ident),*] => [$($J:literal : $E:ident),*] past [$($K:literal),*] ;)*) => {$(
        nth_at!([$($T),*] $($J $E)*);
        nth_past!([$($T),*] $($K)*);
    )*};
}

macro_rules! nth_at {
    ([$($T:ident),*]) => {};
    ([$($T:ident),*] $J:literal $E:ident $($rest:tt)*) => {
        impl<$($T),*> NthTy<$J> for ($($T,)*) { type Ty = $E; }
        nth_at!([$($T),*] $($rest)*);
    };
}

macro_rules! nth_past {
    ([$($T:ident),*]) => {};
    ([$($T:ident),*] $K:literal $($rest:literal)*) => {
        impl<$($T),*> NthTy<$K> for ($($T,)*) { type Ty = Nothing; }
        nth_past!([$($T),*] $($rest)*);
    };
}

nth_impls! {
    [] => [] past [0, 1, 2, 3, 4, 5, 6, 7];
    [A] => [0: A] past [1, 2, 3, 4, 5, 6, 7];
    [A, B] => [0: A, 1: B] past [2, 3, 4, 5, 6, 7];
    [A, B, C] => [0: A, 1: B, 2: C] past [3, 4, 5, 6, 7];
    [A, B, C, D] => [0: A, 1: B, 2: C, 3: D] past [4, 5, 6, 7];
    [A, B, C, D, E] => [0: A, 1: B, 2: C, 3: D, 4: E] past [5, 6, 7];
    [A, B, C, D, E, F] => [0: A, 1: B, 2: C, 3: D, 4: E, 5: F] past [6, 7];
    [A, B, C, D, E, F, G] => [0: A, 1: B, 2: C, 3: D, 4: E, 5: F, 6: G] past [7];
    [A, B, C, D, E, F, G, H] => [0: A, 1: B, 2: C, 3: D, 4: E, 5: F, 6: G, 7: H] past [];
}
