//! Compiling a flow's pattern tree into an [`ExecutionGraph`]: atoms in the order they were
//! added, each argument bound to its source, and an execution graph (petgraph)
//! whose edges say what must finish before what.
//!
//! Names are resolved and checked by the `const fn`s the flow macro runs at
//! compile time ([`check`]): the flow is described as a [`FlowDesc`] (with
//! `Vec` storage), its tables are filled by the same functions, and
//! [`check::atom_problems`]/[`check::flow_problems`] give the problems, turned
//! here into [`FlowError`]s worded by the same writers. Links are resolved to
//! the children they name by the same functions ([`check::link_nodes`]), and
//! dependency cycles are found by the same search ([`check::Cycles`]) on the
//! same edges between the children of graph flows, so a cycle is named the
//! same way (a nested flow on it by the flow's name). What stays the
//! builder's own: the structure's edges (a linear flow's order, a retry
//! before its subflow), deciders and injected values, and the type check of
//! each value an atom reads from another (`flow!` leaves that one to rustc,
//! through traits whose messages `#[task]` writes in the words of
//! [`check::write_type_mismatch`]): both types are those `#[task]` recorded
//! ([`Param::types`], [`TaskMeta::output_types`](crate::task::TaskMeta));
//! a value of unknown type (JSON) is not checked. Every problem is
//! collected; nothing stops at the first.
//!
//! One case skips the description and its tables: a flat flow (atoms only,
//! no retry; links only in a graph flow) or a tree of linear flows, without
//! problems, the usual case, whose names resolve by a walk of its atoms
//! ([`flat`]). Such a flow with any problem the checks report is left to
//! them, so every error is still theirs; the tests of [`flat`] hold the walk
//! to the checks on random flat flows, and the random-flow test holds both
//! to a reference resolver.

mod flat;

use std::ops::Range;

use petgraph::graph::{DiGraph, NodeIndex};
use serde_json::Value;

use super::check::{
    self, AtomDesc, FlowDesc, LinkDesc, NodeDesc, NodeKind, Problem, ProvidesAs, Report, Tables,
};
use super::{Flow, FlowError, FlowErrors, FlowKind, Shape, ShapeNode, ShapeRetry, UnusedInputs};
use crate::decider::Decider;
use crate::task::{Param, Provides, TaskSpec, Text, ValueType};

/// Where a value lives once produced: an atom's result, or one element of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Slot {
    /// The providing atom's index in the plan.
    pub atom: u32,
    /// The tuple element, when the atom provides several names.
    pub elem: Option<u32>,
}

/// Where one argument of an atom comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgSource {
    /// A fixed value given with `inject`: its index in [`ExecutionGraph::injected`].
    Inject(u32),
    /// The engine input with this index.
    Input(u32),
    /// An atom's result.
    Atom(Slot),
    /// Nothing provides it (only for optional arguments).
    Absent,
}

/// A compiled, validated flow: ready to run.
#[derive(Debug, Clone)]
pub struct ExecutionGraph {
    pub(crate) flow: Text,
    pub(crate) atoms: Vec<TaskSpec>,
    /// Atom `i`'s arguments are `args[arg_starts[i]..arg_starts[i + 1]]`.
    pub(crate) arg_starts: Vec<u32>,
    pub(crate) args: Vec<ArgSource>,
    pub(crate) injected: Vec<Value>,
    pub(crate) graph: DiGraph<(), (), u32>,
    pub(crate) inputs: Vec<String>,
    /// The retry scopes, outer before inner.
    pub(crate) retries: Vec<RetryScope>,
    /// Each atom's innermost retry scope ([`NO_SCOPE`] for none); empty when
    /// the flow has no retry.
    pub(crate) scope_of: Vec<u32>,
    /// Links that carry a decider.
    pub(crate) deciders: Vec<DeciderLink>,
    /// `(atom, decider link)` pairs, sorted: the deciders each atom waits for.
    pub(crate) guards: Vec<(u32, u32)>,
}

/// A graph link that carries a decider.
#[derive(Debug, Clone)]
pub(crate) struct DeciderLink {
    /// The link's ends as written.
    pub(crate) from_name: Text,
    pub(crate) to_name: Text,
    /// The atoms of the link's source, whose results the decider sees.
    pub(crate) from: Range<u32>,
    /// The atoms of the link's target.
    pub(crate) to: Range<u32>,
    /// For [`Depth::Flow`](crate::decider::Depth): the graph flow's own
    /// tasks, sorted.
    pub(crate) flow_tasks: Vec<u32>,
    pub(crate) decider: Decider,
}

/// No retry scope.
pub(crate) const NO_SCOPE: u32 = u32::MAX;

/// A retry and the subflow it controls.
#[derive(Debug, Clone)]
pub(crate) struct RetryScope {
    /// The retry atom.
    pub(crate) atom: u32,
    /// The subflow's atoms (the retry excluded): `atom + 1..end`.
    pub(crate) members: Range<u32>,
    /// The enclosing retry scope.
    pub(crate) parent: Option<u32>,
    pub(crate) retry: ShapeRetry,
}

impl ExecutionGraph {
    /// The flow's name.
    pub fn flow_name(&self) -> &str {
        &self.flow
    }

    /// The atoms, in the order they were added (depth first).
    pub fn atoms(&self) -> &[TaskSpec] {
        &self.atoms
    }

    /// Where each argument of atom `index` comes from, in `value_args` order.
    pub fn arg_sources(&self, index: usize) -> &[ArgSource] {
        let (start, end) = (self.arg_starts[index], self.arg_starts[index + 1]);
        &self.args[start as usize..end as usize]
    }

    /// The values given with `inject`, indexed by [`ArgSource::Inject`].
    pub fn injected(&self) -> &[Value] {
        &self.injected
    }

    /// The execution graph: node `i` is atom `i`; an edge `a -> b` means `a`
    /// finishes before `b` starts.
    pub fn graph(&self) -> &DiGraph<(), (), u32> {
        &self.graph
    }

    /// The names of the engine inputs the plan was compiled against.
    pub fn inputs(&self) -> &[String] {
        &self.inputs
    }

    /// The index of the atom named `name`.
    pub fn atom_index(&self, name: &str) -> Option<usize> {
        self.atoms.iter().position(|a| a.atom_name() == name)
    }

    /// The decider links atom `index` waits for.
    pub(crate) fn guards_of(&self, index: usize) -> impl Iterator<Item = usize> + '_ {
        let at = self.guards.partition_point(|&(a, _)| (a as usize) < index);
        self.guards[at..]
            .iter()
            .take_while(move |&&(a, _)| a as usize == index)
            .map(|&(_, link)| link as usize)
    }

    /// Whether atom `index` is a retry controller.
    pub fn is_retry(&self, index: usize) -> bool {
        self.retry_scope(index).is_some()
    }

    /// The retry scope whose retry is atom `index`.
    #[inline]
    pub(crate) fn retry_scope(&self, index: usize) -> Option<usize> {
        self.retries.iter().position(|r| r.atom as usize == index)
    }

    /// The retry scopes around atom `index`, innermost first (not the one it
    /// controls, for a retry atom).
    pub(crate) fn scopes_around(&self, index: usize) -> impl Iterator<Item = usize> + '_ {
        std::iter::successors(self.scope_of(index), |&s| {
            self.retries[s].parent.map(|p| p as usize)
        })
    }

    /// The innermost retry scope atom `index` is in (not the one it controls).
    #[inline]
    pub(crate) fn scope_of(&self, index: usize) -> Option<usize> {
        match self.scope_of.get(index) {
            Some(&s) if s != NO_SCOPE => Some(s as usize),
            _ => None,
        }
    }
}

/// Atoms' sources or sinks.
#[derive(Debug, Clone)]
enum Ends {
    None,
    One(u32),
    Many(Vec<u32>),
}

impl Ends {
    fn as_slice(&self) -> &[u32] {
        match self {
            Ends::None => &[],
            Ends::One(a) => std::slice::from_ref(a),
            Ends::Many(v) => v,
        }
    }

    fn from_vec(v: Vec<u32>) -> Ends {
        match v.len() {
            0 => Ends::None,
            1 => Ends::One(v[0]),
            _ => Ends::Many(v),
        }
    }
}

impl Shape {
    fn child_name<'a>(&'a self, child: &'a ShapeNode, specs: &'a [TaskSpec]) -> &'a str {
        match child {
            ShapeNode::Atom(i) => specs[*i as usize].atom_name(),
            ShapeNode::Flow(f) => &f.name,
        }
    }
}

/// What the atoms of a [`Described`] flow point into: every atom's rebinds,
/// injected argument names and renamed outputs, one after the other.
struct Lists<'f> {
    rebinds: Vec<(&'f str, &'f str)>,
    injects: Vec<&'f str>,
    each: Vec<&'f str>,
    /// Where atom `i`'s lists end (they start where atom `i - 1`'s end).
    ends: Vec<(u32, u32, u32)>,
}

impl<'f> Lists<'f> {
    fn new(specs: &'f [TaskSpec]) -> Lists<'f> {
        let mut lists = Lists {
            rebinds: Vec::with_capacity(specs.len()),
            injects: Vec::new(),
            each: Vec::new(),
            ends: Vec::with_capacity(specs.len()),
        };
        for spec in specs {
            let rebinds = spec.rebind.iter();
            lists
                .rebinds
                .extend(rebinds.map(|(arg, from)| (arg.as_ref(), from.as_ref())));
            let injects = spec.injected().iter();
            lists.injects.extend(injects.map(|(arg, _)| arg.as_ref()));
            if let Some(Provides::Tuple(names)) = &spec.provides {
                lists.each.extend(names.iter().map(|n| n.as_ref()));
            }
            lists.ends.push((
                lists.rebinds.len() as u32,
                lists.injects.len() as u32,
                lists.each.len() as u32,
            ));
        }
        lists
    }
}

/// A flow described for the checks of [`check`], with `Vec` storage.
///
/// The description is the shape's tree as it is, as the flow macro describes
/// it: a retry is its flow's first child, an atom listed in
/// [`FlowDesc::retries`] (the checks give it its scoping). Atoms keep the
/// builder's order, the tree's; links are listed flow by flow in the same
/// order, each flow's as written.
struct Described<'a> {
    inputs: Vec<(&'a str, &'a str)>,
    nodes: Vec<NodeDesc<'a>>,
    atoms: Vec<AtomDesc<'a>>,
    links: Vec<LinkDesc<'a>>,
    /// The retry atoms' nodes, in order.
    retries: Vec<u32>,
    /// Each shape's node and its first link, shapes in the order a
    /// depth-first walk meets them.
    bodies: Vec<(u32, u32)>,
}

impl<'a> Described<'a> {
    fn new(
        shape: &'a Shape,
        specs: &'a [TaskSpec],
        lists: &'a Lists<'a>,
        inputs: &[&'a str],
    ) -> Described<'a> {
        let mut d = Described {
            inputs: inputs.iter().map(|n| (*n, "")).collect(),
            nodes: Vec::with_capacity(specs.len() + 1),
            atoms: Vec::with_capacity(specs.len()),
            links: Vec::new(),
            retries: Vec::new(),
            bodies: Vec::new(),
        };
        let mut atom_node = vec![0u32; specs.len()];
        d.walk(shape, 0, 0, 0, &mut atom_node);
        let mut start = (0, 0, 0);
        for (i, spec) in specs.iter().enumerate() {
            let end = lists.ends[i];
            let provides = match &spec.provides {
                None | Some(Provides::Nothing) => ProvidesAs::Task,
                Some(Provides::One(name)) => ProvidesAs::One(name),
                Some(Provides::Tuple(_)) => {
                    ProvidesAs::Each(&lists.each[start.2 as usize..end.2 as usize])
                }
            };
            d.atoms.push(AtomDesc {
                meta: &spec.def.meta,
                node: atom_node[i],
                name: spec.name.as_deref(),
                rebind: &lists.rebinds[start.0 as usize..end.0 as usize],
                inject: &lists.injects[start.1 as usize..end.1 as usize],
                provides,
            });
            start = end;
        }
        d
    }

    fn walk(&mut self, shape: &'a Shape, parent: u32, pos: u32, depth: u32, atom_node: &mut [u32]) {
        let node = self.nodes.len() as u32;
        self.nodes.push(NodeDesc {
            parent,
            pos,
            depth,
            kind: NodeKind::Flow(shape.kind, &shape.name),
        });
        self.bodies.push((node, self.links.len() as u32));
        let links = shape.links.iter();
        self.links.extend(links.map(|(from, to)| LinkDesc {
            flow: node,
            from,
            to,
        }));
        for (pos, child) in shape.children.iter().enumerate() {
            match child {
                ShapeNode::Atom(i) => {
                    let at = self.atom(node, pos as u32, depth + 1, *i);
                    if pos == 0 && shape.retry.is_some() {
                        self.retries.push(at);
                    }
                    atom_node[*i as usize] = at;
                }
                ShapeNode::Flow(f) => self.walk(f, node, pos as u32, depth + 1, atom_node),
            }
        }
    }

    fn atom(&mut self, parent: u32, pos: u32, depth: u32, index: u32) -> u32 {
        self.nodes.push(NodeDesc {
            parent,
            pos,
            depth,
            kind: NodeKind::Atom(index),
        });
        self.nodes.len() as u32 - 1
    }

    fn desc(&self) -> FlowDesc<'_> {
        FlowDesc {
            inputs: &self.inputs,
            nodes: &self.nodes,
            atoms: &self.atoms,
            links: &self.links,
            retries: &self.retries,
        }
    }
}

/// The tables of [`check`], filled by its functions into `Vec`s.
struct Filled {
    providers: Vec<u64>,
    offsets: Vec<u32>,
    sources: Vec<u32>,
    names: Vec<u64>,
}

/// Sorts a table of `hash << 32 | index` keys whose low halves come in
/// ascending order (as `fill_provider_keys` and `fill_name_keys` make them):
/// the order of `sort_unstable`, as the `const` heapsort gives it.
///
/// A large table is sorted by its hashes alone, least significant digit
/// first, in three stable passes (the low halves keep their order within a
/// hash): about a fifth of the comparison sort's time on 10,000 keys.
fn sort_keys(v: &mut Vec<u64>) {
    const BITS: u32 = 11;
    const BUCKETS: usize = 1 << BITS;
    if v.len() < 4 * BUCKETS {
        v.sort_unstable();
        return;
    }
    debug_assert!(v.windows(2).all(|w| w[0] as u32 <= w[1] as u32));
    let mut from = std::mem::take(v);
    let mut to = vec![0u64; from.len()];
    for pass in 0..3 {
        let shift = 32 + pass * BITS;
        let digit = |k: u64| ((k >> shift) as usize) & (BUCKETS - 1);
        let mut at = vec![0usize; BUCKETS];
        for &k in &from {
            at[digit(k)] += 1;
        }
        let mut sum = 0;
        for slot in &mut at {
            (*slot, sum) = (sum, sum + *slot);
        }
        for &k in &from {
            let d = digit(k);
            to[at[d]] = k;
            at[d] += 1;
        }
        std::mem::swap(&mut from, &mut to);
    }
    *v = from;
}

impl Filled {
    fn new(d: &FlowDesc<'_>) -> Filled {
        // The tables `fill_providers` and `fill_names` make, sorted at run
        // speed (the keys are distinct: the same order).
        let mut providers = vec![0; check::provider_count(d)];
        check::fill_provider_keys(d, &mut providers);
        sort_keys(&mut providers);
        let mut offsets = vec![0; d.atoms.len() + 1];
        check::fill_offsets(d, &mut offsets);
        let mut sources = vec![0; check::requirement_count(d)];
        check::fill_sources(d, &providers, &mut sources);
        let mut names = vec![0; d.atoms.len()];
        check::fill_name_keys(d, &mut names);
        sort_keys(&mut names);
        Filled {
            providers,
            offsets,
            sources,
            names,
        }
    }

    fn tables(&self) -> Tables<'_> {
        Tables {
            providers: &self.providers,
            offsets: &self.offsets,
            sources: &self.sources,
            names: &self.names,
        }
    }
}

/// Runs a check into a list of problems: a first pass counts them (most
/// checks find none), a second one keeps them.
fn problems<'a>(check: impl Fn(&mut Report<'_, '_, 'a>)) -> Vec<Problem<'a>> {
    let mut count = Report::List {
        out: &mut [],
        len: 0,
    };
    check(&mut count);
    if count.is_empty() {
        return Vec::new();
    }
    let mut out = vec![Problem::Duplicate { atom: 0 }; count.len()];
    check(&mut Report::List {
        out: &mut out,
        len: 0,
    });
    out
}

/// The builder's error for problem `p`: the same fields the check's writer
/// words, so the message is the same.
fn flow_error(d: &FlowDesc<'_>, p: Problem<'_>, unused: UnusedInputs) -> Option<FlowError> {
    let flow = check::node_name(d, 0).to_owned();
    let atom_name = |i: u32| check::atom_name(&d.atoms[i as usize]);
    let flow_of = |node: u32| match d.nodes[node as usize].kind {
        NodeKind::Flow(kind, name) => (kind, name.to_owned()),
        NodeKind::Atom(_) => (FlowKind::Linear, String::new()),
    };
    Some(match p {
        Problem::Missing {
            atom,
            name,
            ty,
            hint,
            suggestion,
        } => FlowError::MissingRequirement {
            flow,
            atom: atom_name(atom).to_owned(),
            retry: check::is_retry(d, d.atoms[atom as usize].node),
            name: name.to_owned(),
            ty: (!ty.is_empty()).then(|| ty.to_owned()),
            hint: (hint != check::Hint::None)
                .then(|| check::render(|m| check::write_hint(m, hint, atom_name(atom)))),
            suggestion: suggestion.map(str::to_owned),
        },
        Problem::UnknownArgument { atom, what, arg } => FlowError::UnknownArgument {
            flow,
            atom: atom_name(atom).to_owned(),
            what,
            arg: arg.to_owned(),
            args: d.atoms[atom as usize]
                .meta
                .value_args()
                .map(|(n, _)| n.to_owned())
                .collect(),
        },
        Problem::ProvidesMismatch { atom, task, given } => FlowError::ProvidesMismatch {
            flow,
            atom: atom_name(atom).to_owned(),
            task,
            given,
        },
        Problem::Ambiguous { name, scope } | Problem::AmbiguousInput { name, scope, .. } => {
            let providers = match p {
                Problem::AmbiguousInput { atom, .. } => {
                    vec![check::ENGINE_INPUT.to_owned(), atom_name(atom).to_owned()]
                }
                _ => {
                    let mut nodes = vec![0; check::exporters(d, scope, name, &mut [])];
                    check::exporters(d, scope, name, &mut nodes);
                    let names = nodes.iter().map(|&n| check::node_name(d, n));
                    names.map(str::to_owned).collect()
                }
            };
            let (kind, scope) = flow_of(scope);
            FlowError::AmbiguousProvider {
                flow,
                scope,
                kind,
                name: name.to_owned(),
                providers,
            }
        }
        Problem::Duplicate { atom } => FlowError::DuplicateAtom {
            flow,
            atom: atom_name(atom).to_owned(),
        },
        Problem::UnusedInput { input, suggestion } => {
            if unused == UnusedInputs::Allow {
                return None;
            }
            let (name, ty) = d.inputs[input as usize];
            FlowError::UnusedInput {
                flow,
                name: name.to_owned(),
                ty: (!ty.is_empty()).then(|| ty.to_owned()),
                suggestion: suggestion.map(str::to_owned),
            }
        }
        Problem::TooManyOutputs { atom, count } => FlowError::TooManyOutputs {
            flow,
            atom: atom_name(atom).to_owned(),
            count,
        },
        Problem::TooLarge { limit, count } => FlowError::TooLarge { flow, limit, count },
    })
}

/// What the checks leave to the structure walk: each atom's argument
/// sources and the data edges of graph flows.
struct Resolved {
    arg_starts: Vec<u32>,
    args: Vec<ArgSource>,
    injected: Vec<Value>,
    /// `(graph flow's node, providing child, consuming child)`, children by
    /// position, sorted.
    data_edges: Vec<(u32, u32, u32)>,
    /// Each link's ends as [`check::link_end_node`] finds them: the position
    /// of the child each names in the link's flow.
    link_ends: Vec<(Option<u32>, Option<u32>)>,
    errors: Vec<FlowError>,
    /// The dependency cycles, found as the flow macro finds them.
    cycles: Vec<FlowError>,
}

impl Resolved {
    fn new(atoms: usize, args: usize) -> Resolved {
        Resolved {
            arg_starts: Vec::with_capacity(atoms + 1),
            args: Vec::with_capacity(args),
            injected: Vec::new(),
            data_edges: Vec::new(),
            link_ends: Vec::new(),
            errors: Vec::new(),
            cycles: Vec::new(),
        }
    }

    /// Binds the arguments of atom `i` of `specs` (of flow `flow`), in
    /// `value_args` order: an injected one to its value, argument `k` (of
    /// name `arg`, optional or not) otherwise to `source(k, arg, optional)`. The type of each value read from another
    /// atom is checked against the argument's; `read(provider)` is told of
    /// each. Then `revert_rebind` is checked.
    fn bind(
        &mut self,
        flow: &str,
        specs: &[TaskSpec],
        i: usize,
        mut source: impl FnMut(usize, &str, bool) -> check::Source,
        mut read: impl FnMut(u32),
    ) {
        let spec = &specs[i];
        self.arg_starts.push(self.args.len() as u32);
        // The value parameters, whose types are checked against their
        // providers' (`requires = [..]` names, after them, have none).
        let mut params = spec.def.meta.params.iter().filter(|p| p.is_value());
        for (k, (arg, optional)) in spec.def.meta.value_args().enumerate() {
            let param = params.next();
            if let Some((_, value)) = spec.injected().iter().rev().find(|(a, _)| a == arg) {
                let source = match value {
                    Ok(v) => {
                        self.injected.push(v.clone());
                        ArgSource::Inject(self.injected.len() as u32 - 1)
                    }
                    Err(message) => {
                        self.errors.push(FlowError::BadValue {
                            flow: flow.to_owned(),
                            owner: format!("task `{}`", spec.atom_name()),
                            name: arg.to_owned(),
                            message: message.clone(),
                        });
                        ArgSource::Absent
                    }
                };
                self.args.push(source);
                continue;
            }
            self.args.push(match source(k, arg, optional) {
                check::Source::Missing | check::Source::Skipped => ArgSource::Absent,
                check::Source::Input(input) => ArgSource::Input(input),
                check::Source::Output { atom, elem } => {
                    read(atom);
                    let provider = &specs[atom as usize];
                    if let Some(param) = param {
                        let found = provider.def.meta.output_type(elem as usize);
                        if let Some(found) = found.filter(|t| param.accepts(t) == Some(false)) {
                            self.errors
                                .push(type_mismatch(flow, spec, param, provider, found));
                        }
                    }
                    let tuple = matches!(provider.provides(), Provides::Tuple(_));
                    ArgSource::Atom(Slot {
                        atom,
                        elem: tuple.then_some(elem),
                    })
                }
            });
        }
        for (arg, _) in spec.revert_rebinds() {
            if !spec.def.meta.value_args().any(|(n, _)| n == arg.as_ref()) {
                self.errors.push(FlowError::UnknownArgument {
                    flow: flow.to_owned(),
                    atom: spec.atom_name().to_owned(),
                    what: "revert_rebind",
                    arg: arg.to_string(),
                    args: spec
                        .def
                        .meta
                        .value_args()
                        .map(|(n, _)| n.to_owned())
                        .collect(),
                });
            }
        }
    }
}

/// Checks the flow with [`check`]'s functions and reads each argument's
/// source from [`check::fill_sources`]' table.
fn resolve(d: &FlowDesc<'_>, specs: &[TaskSpec], unused: UnusedInputs) -> Resolved {
    let filled = Filled::new(d);
    let t = filled.tables();
    let flow = check::node_name(d, 0);
    let graphs = check::has_graph(d);
    let mut r = Resolved::new(specs.len(), filled.sources.len());
    // The children of graph flows that must run before others, as flat
    // `(from, to)` node pairs: data edges, then links.
    let mut ordered: Vec<u32> = Vec::new();
    let mut data_edges = Vec::new();
    for i in 0..specs.len() {
        let data_edge = |atom| {
            if let Some((scope, from, to)) = check::data_edge(d, i as u32, atom) {
                let pos = |node: u32| d.nodes[node as usize].pos;
                data_edges.push((scope, pos(from), pos(to)));
                ordered.extend([from, to]);
            }
        };
        let source = |k, _: &str, _| check::source(&t, i, k);
        if graphs {
            r.bind(flow, specs, i, source, data_edge);
        } else {
            r.bind(flow, specs, i, source, |_| {});
        }
        let found = problems(|r| check::atom_problems(d, &t, i, r));
        r.errors
            .extend(found.into_iter().filter_map(|p| flow_error(d, p, unused)));
    }
    r.arg_starts.push(r.args.len() as u32);
    let found = problems(|r| {
        let mut scratch = vec![0; check::name_scratch_len(d)];
        check::flow_problems(d, &t, &mut scratch, false, r);
    });
    r.errors
        .extend(found.into_iter().filter_map(|p| flow_error(d, p, unused)));
    data_edges.sort_unstable();
    r.data_edges = data_edges;
    for (k, link) in d.links.iter().enumerate() {
        // Each end once (`check::link_nodes` would find both again); a link
        // outside a graph flow orders nothing (the walk reports it).
        let graph = matches!(
            d.nodes[link.flow as usize].kind,
            NodeKind::Flow(FlowKind::Graph, _)
        );
        let end = |to| graph.then(|| check::link_end_node(d, &t, k, to)).flatten();
        let (from, to) = (end(false), end(true));
        let pos = |node: Option<u32>| node.map(|n| d.nodes[n as usize].pos);
        r.link_ends.push((pos(from), pos(to)));
        if let (Some(from), Some(to)) = (from, to) {
            ordered.extend([from, to]);
        }
    }
    if graphs {
        r.cycles = cycles(d, &ordered);
    }
    r
}

/// The error of a value whose provider gives another type than `param`
/// (of `spec`) takes.
fn type_mismatch(
    flow: &str,
    spec: &TaskSpec,
    param: &Param,
    provider: &TaskSpec,
    found: &ValueType,
) -> FlowError {
    let arg = param.name.as_ref();
    FlowError::TypeMismatch {
        flow: flow.to_owned(),
        atom: spec.atom_name().to_owned(),
        arg: arg.to_owned(),
        name: spec.reads(arg).to_owned(),
        expected: param.types[0].written().to_owned(),
        provider: provider.atom_name().to_owned(),
        found: found.written().to_owned(),
    }
}

/// The dependency cycles among the children of graph flows, found by the
/// search the flow macro runs at compile time ([`check::Cycles`]) on the same
/// edges: each named by the children on it, as the flow macro names them.
fn cycles(d: &FlowDesc<'_>, ordered: &[u32]) -> Vec<FlowError> {
    let mut pairs: Vec<(u32, u32)> = ordered.chunks_exact(2).map(|p| (p[0], p[1])).collect();
    pairs.sort_unstable();
    pairs.dedup();
    let edges: Vec<u32> = pairs.into_iter().flat_map(|(a, b)| [a, b]).collect();
    let n = d.nodes.len();
    let mut scratch = vec![0; check::Cycles::scratch_len(n, edges.len() / 2)];
    let mut cycles = check::Cycles::new(n, &edges, &mut scratch);
    let mut path = vec![0; n];
    let mut found = Vec::new();
    loop {
        let len = cycles.next(&edges, &mut scratch, &mut path);
        if len == 0 {
            return found;
        }
        let cycle = &path[..len];
        found.push(FlowError::Cycle {
            flow: check::node_name(d, 0).to_owned(),
            cycle: cycle
                .iter()
                .map(|&node| check::node_name(d, node).to_owned())
                .collect(),
            flows: cycle
                .iter()
                .map(|&node| matches!(d.nodes[node as usize].kind, NodeKind::Flow(..)))
                .collect(),
        });
    }
}

struct Sub {
    range: Range<u32>,
    sources: Ends,
    sinks: Ends,
}

/// The walk of the shape that makes the execution graph.
struct Compiler<'f> {
    root: &'f Shape,
    specs: &'f [TaskSpec],
    /// The description's node of each shape and its first link, and how
    /// many shapes the walk has met.
    bodies: Vec<(u32, u32)>,
    shapes: usize,
    data_edges: Vec<(u32, u32, u32)>,
    link_ends: Vec<(Option<u32>, Option<u32>)>,
    /// How many atoms the walk has met.
    atoms: u32,
    edges: Vec<(u32, u32)>,
    errors: Vec<FlowError>,
    retries: Vec<RetryScope>,
    /// The retry scopes around the flow being compiled, innermost last.
    open_retries: Vec<u32>,
    deciders: Vec<DeciderLink>,
    guards: Vec<(u32, u32)>,
}

pub(super) fn compile(
    flow: Flow,
    inputs: &[&str],
    unused: UnusedInputs,
) -> Result<ExecutionGraph, FlowErrors> {
    let Flow { shape, atoms } = flow;
    let n = atoms.len();
    // A flow past the tables' limits is reported as such, alone (the
    // flow-wide limits before the flow is described: it is not worth it).
    let too_large: Vec<FlowError> = check::size_problems(n, inputs.len())
        .into_iter()
        .flatten()
        .filter_map(|p| match p {
            Problem::TooLarge { limit, count } => Some(FlowError::TooLarge {
                flow: shape.name.to_string(),
                limit,
                count,
            }),
            _ => None,
        })
        .collect();
    if !too_large.is_empty() {
        return Err(FlowErrors::new(too_large));
    }
    let (resolved, bodies) = match flat::resolve(&shape, &atoms, inputs, unused) {
        Some(resolved) => resolved,
        None => checked(&shape, &atoms, inputs, unused)?,
    };
    let mut compiler = Compiler {
        root: &shape,
        specs: &atoms,
        bodies,
        shapes: 0,
        data_edges: resolved.data_edges,
        link_ends: resolved.link_ends,
        atoms: 0,
        edges: Vec::with_capacity(n),
        errors: resolved.errors,
        retries: Vec::new(),
        open_retries: Vec::new(),
        deciders: Vec::new(),
        guards: Vec::new(),
    };
    compiler.flow(&shape);
    compiler.errors.extend(resolved.cycles);
    if !compiler.errors.is_empty() {
        return Err(FlowErrors::new(compiler.errors));
    }
    let Compiler {
        edges,
        retries,
        deciders,
        mut guards,
        ..
    } = compiler;
    guards.sort_unstable();
    let mut scope_of = Vec::new();
    if !retries.is_empty() {
        // Outer scopes come first, so inner ones overwrite their atoms.
        scope_of = vec![NO_SCOPE; n];
        for (s, scope) in retries.iter().enumerate() {
            for atom in scope.members.clone() {
                scope_of[atom as usize] = s as u32;
            }
        }
    }
    let mut graph = DiGraph::with_capacity(n, edges.len());
    for _ in 0..n {
        graph.add_node(());
    }
    for (a, b) in edges {
        graph.add_edge(NodeIndex::new(a as usize), NodeIndex::new(b as usize), ());
    }
    Ok(ExecutionGraph {
        flow: shape.name,
        atoms,
        arg_starts: resolved.arg_starts,
        args: resolved.args,
        injected: resolved.injected,
        graph,
        inputs: inputs.iter().map(|s| (*s).to_owned()).collect(),
        retries,
        scope_of,
        deciders,
        guards,
    })
}

/// The flow described and checked by [`check`]'s functions: its arguments'
/// sources and the errors found, and each shape's node and first link.
fn checked(
    shape: &Shape,
    atoms: &[TaskSpec],
    inputs: &[&str],
    unused: UnusedInputs,
) -> Result<(Resolved, Vec<(u32, u32)>), FlowErrors> {
    let lists = Lists::new(atoms);
    let described = Described::new(shape, atoms, &lists, inputs);
    let d = described.desc();
    if !check::within_limits(&d) {
        let found = problems(|r| check::limit_problems(&d, r));
        let errors = found.into_iter().filter_map(|p| flow_error(&d, p, unused));
        return Err(FlowErrors::new(errors.collect()));
    }
    let resolved = resolve(&d, atoms, unused);
    Ok((resolved, described.bodies))
}

impl<'f> Compiler<'f> {
    fn root_name(&self) -> String {
        self.root.name.to_string()
    }

    fn node(&mut self, node: &'f ShapeNode) -> Sub {
        match node {
            ShapeNode::Atom(i) => self.task(*i),
            ShapeNode::Flow(flow) => self.flow(flow),
        }
    }

    fn task(&mut self, index: u32) -> Sub {
        debug_assert_eq!(index, self.atoms);
        self.atoms += 1;
        Sub {
            range: index..index + 1,
            sources: Ends::One(index),
            sinks: Ends::One(index),
        }
    }

    fn flow(&mut self, flow: &'f Shape) -> Sub {
        let body = self.bodies[self.shapes];
        self.shapes += 1;
        if flow.kind != FlowKind::Graph {
            for (from, to) in &flow.links {
                self.errors.push(FlowError::LinkOutsideGraph {
                    flow: self.root_name(),
                    scope: flow.name.to_string(),
                    kind: flow.kind,
                    from: from.to_string(),
                    to: to.to_string(),
                });
            }
        }
        match &flow.retry {
            None => self.body(flow, &flow.children, body),
            Some(retry) => self.retried(flow, retry, body),
        }
    }

    fn body(&mut self, flow: &'f Shape, children: &'f [ShapeNode], body: (u32, u32)) -> Sub {
        match flow.kind {
            FlowKind::Linear => self.linear(children),
            FlowKind::Unordered | FlowKind::Graph => self.parallel(flow, children, body),
        }
    }

    /// A flow under a retry: the retry atom (its first child) runs first; the
    /// other children run after it.
    fn retried(&mut self, flow: &'f Shape, retry: &ShapeRetry, body: (u32, u32)) -> Sub {
        let ShapeNode::Atom(r) = flow.children[0] else {
            unreachable!("a retry is its flow's first child");
        };
        self.task(r);
        let id = self.retries.len() as u32;
        self.retries.push(RetryScope {
            atom: r,
            members: r + 1..r + 1,
            parent: self.open_retries.last().copied(),
            retry: retry.clone(),
        });
        self.open_retries.push(id);
        let inner = self.body(flow, &flow.children[1..], body);
        self.open_retries.pop();
        self.retries[id as usize].members.end = inner.range.end.max(r + 1);
        for &b in inner.sources.as_slice() {
            self.edges.push((r, b));
        }
        Sub {
            range: r..self.atoms,
            sources: Ends::One(r),
            sinks: if inner.range.is_empty() {
                Ends::One(r)
            } else {
                inner.sinks
            },
        }
    }

    fn linear(&mut self, children: &'f [ShapeNode]) -> Sub {
        let start = self.atoms;
        let mut sources = Ends::None;
        let mut prev = Ends::None;
        for child in children {
            if let ShapeNode::Atom(i) = *child {
                // An atom follows what came before (the usual child, on a
                // path of its own: no `Sub` to make).
                self.task(i);
                for &a in prev.as_slice() {
                    self.edges.push((a, i));
                }
                if matches!(sources, Ends::None) {
                    sources = Ends::One(i);
                }
                prev = Ends::One(i);
                continue;
            }
            let sub = self.node(child);
            if sub.range.is_empty() {
                continue;
            }
            for &a in prev.as_slice() {
                for &b in sub.sources.as_slice() {
                    self.edges.push((a, b));
                }
            }
            if matches!(sources, Ends::None) {
                sources = sub.sources;
            }
            prev = sub.sinks;
        }
        Sub {
            range: start..self.atoms,
            sources,
            sinks: prev,
        }
    }

    /// Graph and unordered flows: children ordered by the data edges the
    /// checks resolved (graph) and by explicit links, or not at all.
    fn parallel(&mut self, flow: &'f Shape, children: &'f [ShapeNode], body: (u32, u32)) -> Sub {
        let (body, first_link) = body;
        let start = self.atoms;
        let subs: Vec<Sub> = children.iter().map(|child| self.node(child)).collect();
        // Child-level edges: data edges and explicit links.
        let mut child_edges: Vec<(usize, usize)> = Vec::new();
        if flow.kind == FlowKind::Graph {
            let at = self.data_edges.partition_point(|e| e.0 < body);
            let data = self.data_edges[at..].iter().take_while(|e| e.0 == body);
            // Positions count the flow's retry, which `children` leaves out
            // (a value of it orders nothing in the graph).
            let off = flow.retry.is_some() as usize;
            child_edges.extend(data.map(|&(_, from, to)| (from as usize - off, to as usize - off)));
            for (k, (from, to)) in flow.links.iter().enumerate() {
                // The children the checks found the ends to name.
                let (a, b) = self.link_ends[first_link as usize + k];
                let child = |pos: Option<u32>| pos.map(|p| p as usize - off);
                let (a, b) = (child(a), child(b));
                // Each end that names no child is a mistake of its own.
                for missing in [(from, a), (to, b)]
                    .into_iter()
                    .filter_map(|(end, found)| found.is_none().then_some(end))
                {
                    let children: Vec<String> = children
                        .iter()
                        .map(|c| flow.child_name(c, self.specs).to_owned())
                        .collect();
                    let suggestion = check::nearest(missing, children.iter().map(String::as_str))
                        .map(str::to_owned);
                    self.errors.push(FlowError::UnknownLinkEnd {
                        flow: self.root_name(),
                        scope: flow.name.to_string(),
                        from: from.to_string(),
                        to: to.to_string(),
                        missing: missing.to_string(),
                        children,
                        suggestion,
                    });
                }
                let (Some(a), Some(b)) = (a, b) else {
                    continue;
                };
                child_edges.push((a, b));
                // Deciders are kept in link order.
                let decider = flow
                    .deciders
                    .binary_search_by_key(&(k as u32), |(i, _)| *i)
                    .ok()
                    .map(|d| &flow.deciders[d].1);
                if let Some(decider) = decider {
                    let link = self.deciders.len() as u32;
                    for &t in subs[b].sources.as_slice() {
                        self.guards.push((t, link));
                    }
                    self.deciders.push(DeciderLink {
                        from_name: from.clone(),
                        to_name: to.clone(),
                        from: subs[a].range.clone(),
                        to: subs[b].range.clone(),
                        flow_tasks: children
                            .iter()
                            .filter_map(|c| match c {
                                ShapeNode::Atom(i) => Some(*i),
                                ShapeNode::Flow(_) => None,
                            })
                            .collect(),
                        decider: decider.clone(),
                    });
                }
            }
            child_edges.sort_unstable();
            child_edges.dedup();
        }
        let mut has_in = vec![false; subs.len()];
        let mut has_out = vec![false; subs.len()];
        for &(a, b) in &child_edges {
            has_out[a] = true;
            has_in[b] = true;
            for &x in subs[a].sinks.as_slice() {
                for &y in subs[b].sources.as_slice() {
                    self.edges.push((x, y));
                }
            }
        }
        let mut sources = Vec::new();
        let mut sinks = Vec::new();
        for (i, sub) in subs.iter().enumerate() {
            if !has_in[i] {
                sources.extend_from_slice(sub.sources.as_slice());
            }
            if !has_out[i] {
                sinks.extend_from_slice(sub.sinks.as_slice());
            }
        }
        Sub {
            range: start..self.atoms,
            sources: Ends::from_vec(sources),
            sinks: Ends::from_vec(sinks),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::sort_keys;

    /// `hash << 32 | index` keys, hashes from a xorshift, some repeated.
    fn keys(n: usize, seed: u64) -> Vec<u64> {
        let mut x = seed;
        let mut hashes = Vec::with_capacity(n);
        for i in 0..n {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Every eighth name repeats an earlier one (a name many atoms
            // provide), so equal hashes must keep their indices in order.
            let h = if i % 8 == 7 { hashes[i / 2] } else { x >> 32 };
            hashes.push(h);
        }
        hashes
            .iter()
            .enumerate()
            .map(|(i, h)| (h << 32) | i as u64)
            .collect()
    }

    #[test]
    fn sort_keys_orders_like_the_comparison_sort() {
        for (n, seed) in [(0, 1), (5, 2), (8_191, 3), (8_192, 4), (100_000, 5)] {
            let mut radix = keys(n, seed);
            let mut std = radix.clone();
            sort_keys(&mut radix);
            std.sort_unstable();
            assert_eq!(radix, std, "{n} keys");
        }
    }
}
