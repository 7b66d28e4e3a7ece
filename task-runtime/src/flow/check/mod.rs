//! The flow checks that run at compile time: `const fn`s over a flat,
//! const-constructible description of a flow ([`FlowDesc`]).
//!
//! `taskwire::flow!` evaluates them in `const` items, so a flow that cannot run
//! does not build; the runtime builder ([`Flow::compile`](super::Flow::compile))
//! runs the same functions on a description of the flow it was given (with
//! `Vec` storage; a flat flow without problems, the usual case, is resolved by
//! a walk of its atoms instead, held to these checks by its tests): it reads each argument's source from [`fill_sources`], takes
//! the problems from [`atom_problems`] and [`flow_problems`] as [`Problem`]s,
//! and words them with the same writers ([`write_missing`],
//! [`write_ambiguous`], [`write_duplicate`], [`write_link_outside_graph`],
//! ...) that [`check_atom`], [`check_flow`] and [`check_link`] use, so a
//! mistake reads the same whichever way the flow was built. Cycles are found
//! by the same search ([`Cycles`]) on both sides.
//!
//! Links ([`LinkDesc`]) are checked per link ([`check_link`]: only graph
//! flows take links; [`check_link_end`]: each end names a child) and take part
//! in the cycle search. A retry is an atom of the description, the first child
//! of the flow it controls (listed in [`FlowDesc::retries`]): its flow's atoms
//! see what it provides, it sees what its flow's surroundings provide, and its
//! requirements are checked like a task's ([`check_atom`]) — those the flow
//! macro can see, written with `.requires([..])`: what a controller reads by
//! itself ([`Retry::requires`](crate::retry::Retry::requires)) is a run-time
//! value, checked only by the builder.
//!
//! Everything here is `const fn`: no allocation (callers hand in scratch
//! buffers), no traits, no formatting machinery. Messages are written into a
//! byte buffer ([`Msg`]); at compile time the flow macro panics with it
//! (`panic!("{}", msg.as_str())`, the only formatting stable in `const`), at
//! run time [`render`] turns a writer into a `String`.
//!
//! Costs stay `O(n log n)` in the flow's size: providers are sorted once by
//! name (heapsort, `O(P log P)`), each requirement is a few binary searches
//! (one per enclosing flow, at worst), and cycles are found with Kahn's
//! algorithm over CSR adjacency lists. One case is slower: a requirement that
//! no visible provider gives, of a name provided more than once elsewhere,
//! looks at what the earlier children of its enclosing flows export (to tell
//! an ambiguity, reported once, from a missing value).
//!
//! The tables pack indices into integers ([`ProviderEntry`], [`SourceCode`]):
//! a flow holds at most [`MAX_ATOMS`] atoms and declares at most
//! [`MAX_INPUTS`] inputs, a task provides at most [`MAX_OUTPUTS`] values. A
//! flow past them is reported as such, and only that ([`within_limits`],
//! [`limit_problems`]); nothing is misread.
//!
//! The random-flow test (`tests/test_flow_macro.rs`) holds these checks
//! against a plain reference written apart from them
//! (`tests/common/reference_resolver.rs`): a rule changed here is changed
//! there too.
//!
//! The checks are split by concept, bottom up:
//!
//! | module | holds |
//! |---|---|
//! | `messages` | [`Msg`], the message writers (`write_*`), [`render`] |
//! | `problems` | [`Problem`], [`Report`], [`write_problem`] |
//! | `description` | [`FlowDesc`] and its parts, and the queries on its tree |
//! | `packed` | the packed indices of the tables ([`ProviderEntry`], [`SourceCode`]) and the limits they set |
//! | `tables` | [`Tables`]: the sorted provider and name tables, each requirement's [`Source`] |
//! | `resolution` | how a requirement finds its provider (scoping) |
//! | `exports` | what a subtree provides to its siblings; ambiguous providers |
//! | `atom_checks` | [`check_atom`], [`atom_problems`] |
//! | `flow_checks` | [`check_flow`], [`flow_problems`] |
//! | `links` | [`check_link`], [`check_link_end`], [`link_nodes`] |
//! | `cycles` | [`Cycles`], the dependency cycle search |
//! | `suggest` | did-you-mean: [`Nearest`], [`edit_distance`] |
//! | `types` | the type checks' plan ([`type_plans`]) and traits ([`Typed`], [`Slot`], [`NthTy`]) |

mod atom_checks;
mod cycles;
mod description;
mod exports;
mod flow_checks;
mod links;
mod messages;
mod packed;
mod problems;
mod resolution;
mod suggest;
mod tables;
mod types;

// Every public item keeps its path `flow::check::X` (the flow macro and the
// facade name them).
pub use atom_checks::{atom_flags, atom_problems, check_atom};
pub use cycles::{dedup_pairs, sort_pairs, Cycles};
pub use description::{
    arg_type, atom_name, is_retry, node_name, retry_meta, str_eq, text, AtomDesc, FlowDesc,
    LinkDesc, NodeDesc, NodeKind, ProvidesAs,
};
pub use exports::exporters;
pub use flow_checks::{check_flow, flow_problems, flow_scratch_len, name_scratch_len};
pub use links::{
    check_link, check_link_end, has_graph, link_end_node, link_nodes, write_unknown_link_path,
};
pub use messages::{
    render, write_ambiguous, write_cycle, write_did_you_mean, write_duplicate, write_hint,
    write_link_outside_graph, write_missing, write_missing_resource, write_provides_mismatch,
    write_too_large, write_too_many_outputs, write_type_mismatch, write_unknown_argument,
    write_unknown_link_end, write_unused_input, Hint, Msg, Names, ENGINE_INPUT,
};
pub use packed::{
    limit_problems, size_problems, within_limits, AtomIndex, Limit, OutOfRange, OutputIndex,
    ProviderEntry, SourceCode, MAX_ATOMS, MAX_INPUTS, MAX_OUTPUTS,
};
pub use problems::{write_problem, Problem, Report};
pub use suggest::{edit_distance, nearest, Nearest, MAX_SUGGESTED_LEN};
pub(crate) use tables::hash;
pub use tables::{
    data_edge, fill_name_keys, fill_names, fill_offsets, fill_provider_keys, fill_providers,
    fill_sources, names, offsets, provider_count, providers, requirement_count, source, sources,
    Source, Tables,
};
pub use types::{
    has_unknown, is_unknown_task, type_plans, AnyTypes, Nothing, NthTy, Slot, Typed, UnknownTask,
    OWN,
};

// The helpers the modules share (`pub(super)` in each).
#[allow(unused_imports)]
use self::{
    atom_checks::*, cycles::*, description::*, exports::*, flow_checks::*, links::*, messages::*,
    packed::*, problems::*, resolution::*, suggest::*, tables::*, types::*,
};

use std::borrow::Cow;

use super::FlowKind;
use crate::task::{ParamKind, Provides, TaskMeta, Text};
