//! Compiling a flow's pattern tree into a [`Plan`]: atoms in the order they were
//! added, each argument bound to its source, and an execution graph (petgraph)
//! whose edges say what must finish before what.
//!
//! One pass resolves names through a chain of scopes (linear: what earlier
//! siblings provided so far; graph: what any sibling provides; unordered:
//! nothing from siblings; the root: engine inputs). Graph flows first collect
//! their children's exports, so resolution never depends on the order in which
//! children were added. Every problem is collected; nothing stops at the first.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

use rustc_hash::FxHashMap;
use std::ops::Range;

use petgraph::graph::{DiGraph, NodeIndex};
use serde_json::Value;

use super::{check, Flow, FlowError, FlowErrors, FlowKind, Shape, ShapeNode, ShapeRetry};
use crate::decider::Decider;
use crate::task::{Provides, TaskSpec, Text};

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
    /// A fixed value given with `inject`: its index in [`Plan::injected`].
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
pub struct Plan {
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

impl Plan {
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

/// What a name resolves to in a scope's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prov {
    Slot(Slot),
    /// Two providers with no order between them (already reported).
    Ambiguous,
}

type Table<'f> = FxHashMap<&'f str, Prov>;

enum Found {
    Slot(Slot),
    Input(u32),
    Ambiguous,
    Missing,
}

/// The chain of scopes an atom resolves its names through, innermost first.
enum Scope<'s, 'f> {
    Root,
    Linear {
        parent: &'s Scope<'s, 'f>,
        visible: &'s RefCell<Visible<'f>>,
    },
    Graph {
        parent: &'s Scope<'s, 'f>,
        flow: &'f Shape,
        exports: &'s Table<'f>,
        own: Range<u32>,
        requests: &'s RefCell<Vec<(u32, u32)>>,
    },
    Unordered {
        parent: &'s Scope<'s, 'f>,
    },
}

/// What earlier children of a linear flow provide to the next one.
///
/// Atoms' exports go into the table lazily: a lookup first asks the nearest
/// earlier atom, and only when that atom does not provide the name are the
/// pending atoms put in the table (in order, so the nearest provider wins).
/// A chain where each task reads its predecessor's output never touches the
/// table, which keeps long chains linear in time and cache-friendly.
struct Visible<'f> {
    table: Table<'f>,
    pending: Vec<u32>,
}

impl<'f> Visible<'f> {
    fn flush(&mut self, specs: &'f [TaskSpec]) {
        for atom in self.pending.drain(..) {
            insert_task_exports(&mut self.table, &specs[atom as usize], atom);
        }
    }

    fn get(&mut self, name: &str, specs: &'f [TaskSpec]) -> Option<Prov> {
        if let Some(&last) = self.pending.last() {
            if let Some(slot) = provided_by(&specs[last as usize], last, name) {
                return Some(Prov::Slot(slot));
            }
            self.flush(specs);
        }
        self.table.get(name).copied()
    }
}

/// The slot under which `spec` (atom `atom`) provides `name`, if it does.
fn provided_by(spec: &TaskSpec, atom: u32, name: &str) -> Option<Slot> {
    match spec.provides() {
        Provides::Nothing => None,
        Provides::One(n) => (n == name).then_some(Slot { atom, elem: None }),
        Provides::Tuple(names) => names.iter().position(|n| n == name).map(|i| Slot {
            atom,
            elem: Some(i as u32),
        }),
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

struct Sub<'f> {
    range: Range<u32>,
    sources: Ends,
    sinks: Ends,
    /// What the subtree provides to later siblings; `None` for a single task
    /// (read from its metadata instead).
    exports: Option<Table<'f>>,
}

struct Compiler<'f> {
    root: &'f Shape,
    specs: &'f [TaskSpec],
    inputs: HashMap<String, u32>,
    /// Where each compiled atom's arguments start in `args`.
    arg_starts: Vec<u32>,
    args: Vec<ArgSource>,
    injected: Vec<Value>,
    edges: Vec<(u32, u32)>,
    errors: Vec<FlowError>,
    /// Missing requirements: atom, name, type for messages, error position.
    missing: Vec<(u32, &'f str, &'f str, usize)>,
    reported: HashSet<(*const Shape, &'f str)>,
    has_graph: bool,
    retries: Vec<RetryScope>,
    /// The retry scopes around the flow being compiled, innermost last.
    open_retries: Vec<u32>,
    deciders: Vec<DeciderLink>,
    guards: Vec<(u32, u32)>,
}

pub(super) fn compile(flow: Flow, inputs: &[&str]) -> Result<Plan, FlowErrors> {
    let Flow { shape, atoms } = flow;
    let n = atoms.len();
    let compiler = Compiler {
        root: &shape,
        specs: &atoms,
        inputs: inputs
            .iter()
            .enumerate()
            .map(|(i, n)| ((*n).to_owned(), i as u32))
            .collect(),
        arg_starts: Vec::with_capacity(n + 1),
        args: Vec::with_capacity(n),
        injected: Vec::new(),
        edges: Vec::with_capacity(n),
        errors: Vec::new(),
        missing: Vec::new(),
        reported: HashSet::new(),
        has_graph: false,
        retries: Vec::new(),
        open_retries: Vec::new(),
        deciders: Vec::new(),
        guards: Vec::new(),
    };
    let (mut arg_starts, args, injected, edges, retries, (deciders, mut guards)) =
        compiler.run()?;
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
    arg_starts.push(args.len() as u32);
    let mut graph = DiGraph::with_capacity(n, edges.len());
    for _ in 0..n {
        graph.add_node(());
    }
    for (a, b) in edges {
        graph.add_edge(NodeIndex::new(a as usize), NodeIndex::new(b as usize), ());
    }
    Ok(Plan {
        flow: shape.name,
        atoms,
        arg_starts,
        args,
        injected,
        graph,
        inputs: inputs.iter().map(|s| (*s).to_owned()).collect(),
        retries,
        scope_of,
        deciders,
        guards,
    })
}

type Compiled = (
    Vec<u32>,
    Vec<ArgSource>,
    Vec<Value>,
    Vec<(u32, u32)>,
    Vec<RetryScope>,
    (Vec<DeciderLink>, Vec<(u32, u32)>),
);

impl<'f> Compiler<'f> {
    fn run(mut self) -> Result<Compiled, FlowErrors> {
        let root = self.root;
        self.flow(root, &Scope::Root);
        self.check_duplicates();
        self.explain_missing();
        if self.has_graph {
            self.check_cycles();
        }
        if !self.errors.is_empty() {
            return Err(FlowErrors::new(self.errors));
        }
        Ok((
            self.arg_starts,
            self.args,
            self.injected,
            self.edges,
            self.retries,
            (self.deciders, self.guards),
        ))
    }

    fn root_name(&self) -> String {
        self.root.name.to_string()
    }

    fn node(&mut self, node: &'f ShapeNode, scope: &Scope<'_, 'f>) -> Sub<'f> {
        match node {
            ShapeNode::Atom(i) => self.task(*i, scope),
            ShapeNode::Flow(flow) => self.flow(flow, scope),
        }
    }

    fn task(&mut self, index: u32, scope: &Scope<'_, 'f>) -> Sub<'f> {
        debug_assert_eq!(index as usize, self.arg_starts.len());
        let spec: &'f TaskSpec = &self.specs[index as usize];
        let meta = &spec.def.meta;
        let start = self.args.len() as u32;
        for (arg, optional) in meta.value_args() {
            if let Some((_, value)) = spec.injected().iter().rev().find(|(a, _)| a == arg) {
                match value {
                    Ok(v) => {
                        self.args
                            .push(ArgSource::Inject(self.injected.len() as u32));
                        self.injected.push(v.clone());
                    }
                    Err(message) => {
                        self.errors.push(FlowError::BadValue {
                            flow: self.root_name(),
                            owner: format!("task `{}`", spec.atom_name()),
                            name: arg.to_owned(),
                            message: message.clone(),
                        });
                        self.args.push(ArgSource::Absent);
                    }
                }
                continue;
            }
            let name: &'f str = spec
                .rebind
                .iter()
                .rev()
                .find(|(a, _)| a == arg)
                .map(|(_, from)| from.as_ref())
                .unwrap_or(arg);
            let source = match self.lookup(scope, name, index) {
                Found::Slot(slot) => ArgSource::Atom(slot),
                Found::Input(i) => ArgSource::Input(i),
                Found::Ambiguous => ArgSource::Absent,
                Found::Missing => {
                    if !optional {
                        let ty = super::check::arg_type(meta, arg);
                        self.missing.push((index, name, ty, self.errors.len()));
                    }
                    ArgSource::Absent
                }
            };
            self.args.push(source);
        }
        for (what, arg) in spec
            .rebind
            .iter()
            .map(|(a, _)| ("rebind", a))
            .chain(spec.injected().iter().map(|(a, _)| ("inject", a)))
        {
            if !meta.value_args().any(|(name, _)| name == arg.as_ref()) {
                self.errors.push(FlowError::UnknownArgument {
                    flow: self.root_name(),
                    atom: spec.atom_name().to_owned(),
                    what,
                    arg: arg.to_string(),
                    args: meta.value_args().map(|(n, _)| n.to_owned()).collect(),
                });
            }
        }
        if let Some(own) = &spec.provides {
            let fits = match (&meta.provides, own) {
                (Provides::Tuple(a), Provides::Tuple(b)) => a.len() == b.len(),
                (Provides::Tuple(_), _) | (_, Provides::Tuple(_)) => false,
                _ => true,
            };
            if !fits {
                self.errors.push(FlowError::ProvidesMismatch {
                    flow: self.root_name(),
                    atom: spec.atom_name().to_owned(),
                    task: meta.provides.names().len(),
                    given: own.names().len(),
                });
            }
        }
        self.arg_starts.push(start);
        Sub {
            range: index..index + 1,
            sources: Ends::One(index),
            sinks: Ends::One(index),
            exports: None,
        }
    }

    fn lookup(&mut self, scope: &Scope<'_, 'f>, name: &'f str, consumer: u32) -> Found {
        let mut scope = scope;
        loop {
            match scope {
                Scope::Root => {
                    return match self.inputs.get(name) {
                        Some(&i) => Found::Input(i),
                        None => Found::Missing,
                    }
                }
                Scope::Linear { parent, visible } => {
                    match visible.borrow_mut().get(name, self.specs) {
                        Some(Prov::Slot(slot)) => return Found::Slot(slot),
                        Some(Prov::Ambiguous) => return Found::Ambiguous,
                        None => scope = parent,
                    }
                }
                Scope::Graph {
                    parent,
                    flow,
                    exports,
                    own,
                    requests,
                } => match exports.get(name) {
                    Some(Prov::Slot(slot)) if !own.contains(&slot.atom) => {
                        requests.borrow_mut().push((slot.atom, consumer));
                        if self.inputs.contains_key(name)
                            && self.reported.insert((*flow as *const Shape, name))
                        {
                            self.errors.push(FlowError::AmbiguousProvider {
                                flow: self.root_name(),
                                scope: flow.name.to_string(),
                                kind: flow.kind,
                                name: name.to_owned(),
                                providers: vec![
                                    "the engine input".to_owned(),
                                    self.atom_name(slot.atom).to_owned(),
                                ],
                            });
                        }
                        return Found::Slot(*slot);
                    }
                    Some(Prov::Ambiguous) => return Found::Ambiguous,
                    _ => scope = parent,
                },
                Scope::Unordered { parent } => scope = parent,
            }
        }
    }

    fn atom_name(&self, index: u32) -> &'f str {
        self.specs[index as usize].atom_name()
    }

    fn flow(&mut self, flow: &'f Shape, scope: &Scope<'_, 'f>) -> Sub<'f> {
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
            None => self.body(flow, &flow.children, scope),
            Some(retry) => self.retried(flow, retry, scope),
        }
    }

    fn body(
        &mut self,
        flow: &'f Shape,
        children: &'f [ShapeNode],
        scope: &Scope<'_, 'f>,
    ) -> Sub<'f> {
        match flow.kind {
            FlowKind::Linear => self.linear(children, scope),
            FlowKind::Unordered | FlowKind::Graph => self.parallel(flow, children, scope),
        }
    }

    /// A flow under a retry: the retry atom (its first child) runs first, in
    /// the enclosing scope; the other children see what it provides and run
    /// after it.
    fn retried(&mut self, flow: &'f Shape, retry: &ShapeRetry, scope: &Scope<'_, 'f>) -> Sub<'f> {
        let ShapeNode::Atom(r) = flow.children[0] else {
            unreachable!("a retry is its flow's first child");
        };
        self.task(r, scope);
        let id = self.retries.len() as u32;
        self.retries.push(RetryScope {
            atom: r,
            members: r + 1..r + 1,
            parent: self.open_retries.last().copied(),
            retry: retry.clone(),
        });
        self.open_retries.push(id);
        let visible = RefCell::new(Visible {
            table: FxHashMap::default(),
            pending: vec![r],
        });
        let inner = Scope::Linear {
            parent: scope,
            visible: &visible,
        };
        let body = self.body(flow, &flow.children[1..], &inner);
        self.open_retries.pop();
        self.retries[id as usize].members.end = body.range.end.max(r + 1);
        for &b in body.sources.as_slice() {
            self.edges.push((r, b));
        }
        let exports = match scope {
            Scope::Linear { .. } => {
                let mut table = FxHashMap::default();
                insert_task_exports(&mut table, &self.specs[r as usize], r);
                if let Some(body) = body.exports {
                    table.extend(body);
                }
                Some(table)
            }
            _ => None,
        };
        Sub {
            range: r..self.arg_starts.len() as u32,
            sources: Ends::One(r),
            sinks: if body.range.is_empty() {
                Ends::One(r)
            } else {
                body.sinks
            },
            exports,
        }
    }

    fn linear(&mut self, children: &'f [ShapeNode], scope: &Scope<'_, 'f>) -> Sub<'f> {
        let start = self.arg_starts.len() as u32;
        let mut visible = RefCell::new(Visible {
            table: FxHashMap::default(),
            pending: Vec::new(),
        });
        let mut sources = Ends::None;
        let mut prev = Ends::None;
        for child in children {
            let sub = {
                let inner = Scope::Linear {
                    parent: scope,
                    visible: &visible,
                };
                self.node(child, &inner)
            };
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
            let seen = visible.get_mut();
            match (child, sub.exports) {
                (_, Some(table)) => {
                    seen.flush(self.specs);
                    seen.table.extend(table);
                }
                (ShapeNode::Atom(i), None) => seen.pending.push(*i),
                (ShapeNode::Flow(_), None) => {}
            }
        }
        // Only a linear parent reads a nested flow's exports (graph and
        // unordered parents compute them up front); the root's are not read.
        let exports = match scope {
            Scope::Linear { .. } => {
                let mut visible = visible.into_inner();
                visible.flush(self.specs);
                Some(visible.table)
            }
            _ => None,
        };
        Sub {
            range: start..self.arg_starts.len() as u32,
            sources,
            sinks: prev,
            exports,
        }
    }

    /// Graph and unordered flows: children see no sibling (unordered) or any
    /// sibling (graph); two children providing one name are ambiguous.
    fn parallel(
        &mut self,
        flow: &'f Shape,
        children: &'f [ShapeNode],
        scope: &Scope<'_, 'f>,
    ) -> Sub<'f> {
        let start = self.arg_starts.len() as u32;
        // Phase 1: what each child will export, with the atom range it will get.
        let mut union: Table<'f> = FxHashMap::default();
        let mut owners: FxHashMap<&'f str, Vec<u32>> = FxHashMap::default();
        let mut ranges = Vec::with_capacity(children.len());
        let mut next = start;
        for child in children {
            let (table, count) = exports_of(child, self.specs);
            ranges.push(next..next + count);
            next += count;
            for (name, prov) in table {
                let atom = match prov {
                    Prov::Slot(s) => s.atom,
                    Prov::Ambiguous => u32::MAX,
                };
                owners.entry(name).or_default().push(atom);
                match union.get(name) {
                    None => {
                        union.insert(name, prov);
                    }
                    Some(_) => {
                        union.insert(name, Prov::Ambiguous);
                    }
                }
            }
        }
        let mut ambiguous: Vec<(&'f str, Vec<u32>)> = owners
            .into_iter()
            .filter(|(_, atoms)| atoms.len() > 1)
            .collect();
        ambiguous.sort_by_key(|(_, atoms)| atoms[0]);
        for (name, atoms) in ambiguous {
            if !self.reported.insert((flow as *const Shape, name)) {
                continue;
            }
            let providers = atoms
                .iter()
                .filter(|&&a| a != u32::MAX)
                .map(|&a| self.atom_name(a).to_owned())
                .collect();
            self.errors.push(FlowError::AmbiguousProvider {
                flow: self.root_name(),
                scope: flow.name.to_string(),
                kind: flow.kind,
                name: name.to_owned(),
                providers,
            });
        }
        // Phase 2: compile the children.
        let requests = RefCell::new(Vec::new());
        let mut subs = Vec::with_capacity(children.len());
        for (child, own) in children.iter().zip(&ranges) {
            let inner = match flow.kind {
                FlowKind::Graph => Scope::Graph {
                    parent: scope,
                    flow,
                    exports: &union,
                    own: own.clone(),
                    requests: &requests,
                },
                _ => Scope::Unordered { parent: scope },
            };
            let sub = self.node(child, &inner);
            debug_assert_eq!(&sub.range, own);
            subs.push(sub);
        }
        // Child-level edges: data requests and explicit links.
        let mut child_edges: Vec<(usize, usize)> = Vec::new();
        if flow.kind == FlowKind::Graph {
            self.has_graph = true;
            let child_of = |atom: u32| ranges.partition_point(|r| r.end <= atom);
            for (provider, consumer) in requests.into_inner() {
                child_edges.push((child_of(provider), child_of(consumer)));
            }
            // Children by name, built once: a graph with many links (an
            // activity flow over thousands of resources) stays linear.
            let mut by_name: FxHashMap<&str, usize> = FxHashMap::default();
            if !flow.links.is_empty() {
                by_name.reserve(children.len());
                for (i, c) in children.iter().enumerate() {
                    by_name.entry(flow.child_name(c, self.specs)).or_insert(i);
                }
            }
            for (k, (from, to)) in flow.links.iter().enumerate() {
                let find = |name: &str| by_name.get(name).copied();
                let (a, b) = (find(from), find(to));
                // Each end that names no child is a mistake of its own.
                for missing in [(from, a), (to, b)]
                    .into_iter()
                    .filter_map(|(end, found)| found.is_none().then_some(end))
                {
                    self.errors.push(FlowError::UnknownLinkEnd {
                        flow: self.root_name(),
                        scope: flow.name.to_string(),
                        from: from.to_string(),
                        to: to.to_string(),
                        missing: missing.to_string(),
                        children: children
                            .iter()
                            .map(|c| flow.child_name(c, self.specs).to_owned())
                            .collect(),
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
                        from: ranges[a].clone(),
                        to: ranges[b].clone(),
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
            range: start..self.arg_starts.len() as u32,
            sources: Ends::from_vec(sources),
            sinks: Ends::from_vec(sinks),
            exports: Some(union),
        }
    }

    fn check_duplicates(&mut self) {
        let mut count: FxHashMap<&str, u32> = FxHashMap::default();
        count.reserve(self.specs.len());
        let mut dups = Vec::new();
        for spec in self.specs {
            let n = count.entry(spec.atom_name()).or_insert(0);
            *n += 1;
            if *n == 2 {
                dups.push(spec.atom_name().to_owned());
            }
        }
        for atom in dups {
            self.errors.push(FlowError::DuplicateAtom {
                flow: self.root_name(),
                atom,
            });
        }
    }

    /// Adds hints to missing requirements: a provider that exists but is not
    /// visible from the consumer.
    fn explain_missing(&mut self) {
        if self.missing.is_empty() {
            return;
        }
        let mut providers: HashMap<&str, Vec<u32>> = HashMap::new();
        for (i, spec) in self.specs.iter().enumerate() {
            for name in spec.provides().names() {
                providers.entry(name.as_ref()).or_default().push(i as u32);
            }
        }
        let missing = std::mem::take(&mut self.missing);
        for (inserted, (consumer, name, ty, at)) in missing.into_iter().enumerate() {
            let consumer_name = self.atom_name(consumer).to_owned();
            let hint = providers.get(name).and_then(|ps| {
                let later = ps.iter().find(|&&p| p > consumer);
                let earlier = ps.iter().find(|&&p| p < consumer);
                let hint = match (later, earlier) {
                    (Some(&p), _) => check::Hint::Later(self.atom_name(p)),
                    (None, Some(&p)) => check::Hint::Independent(self.atom_name(p)),
                    _ => return None,
                };
                Some(check::render(|m| {
                    check::write_hint(m, hint, &consumer_name)
                }))
            });
            self.errors.insert(
                at + inserted,
                FlowError::MissingRequirement {
                    flow: self.root_name(),
                    atom: consumer_name,
                    name: name.to_owned(),
                    ty: (!ty.is_empty()).then(|| ty.to_owned()),
                    hint,
                },
            );
        }
    }

    /// Dependency cycles, found by the same search the flow macro runs at
    /// compile time ([`check::Cycles`]).
    fn check_cycles(&mut self) {
        let n = self.specs.len();
        let mut edges: Vec<u32> = Vec::with_capacity(2 * self.edges.len());
        let mut sorted = self.edges.clone();
        sorted.sort_unstable();
        sorted.dedup();
        for (a, b) in sorted {
            edges.extend([a, b]);
        }
        let mut scratch = vec![0; check::Cycles::scratch_len(n, edges.len() / 2)];
        let mut cycles = check::Cycles::new(n, &edges, &mut scratch);
        let mut path = vec![0; n];
        loop {
            let len = cycles.next(&edges, &mut scratch, &mut path);
            if len == 0 {
                break;
            }
            self.errors.push(FlowError::Cycle {
                flow: self.root_name(),
                cycle: path[..len]
                    .iter()
                    .map(|&a| self.atom_name(a).to_owned())
                    .collect(),
            });
        }
    }
}

fn insert_task_exports<'f>(table: &mut Table<'f>, spec: &'f TaskSpec, atom: u32) {
    match spec.provides() {
        Provides::Nothing => {}
        Provides::One(name) => {
            table.insert(name.as_ref(), Prov::Slot(Slot { atom, elem: None }));
        }
        Provides::Tuple(names) => {
            for (i, name) in names.iter().enumerate() {
                table.insert(
                    name.as_ref(),
                    Prov::Slot(Slot {
                        atom,
                        elem: Some(i as u32),
                    }),
                );
            }
        }
    }
}

/// What `node` exports to its siblings, and how many atoms it has.
fn exports_of<'f>(node: &'f ShapeNode, specs: &'f [TaskSpec]) -> (Table<'f>, u32) {
    match node {
        ShapeNode::Atom(i) => {
            let mut table = FxHashMap::default();
            insert_task_exports(&mut table, &specs[*i as usize], *i);
            (table, 1)
        }
        ShapeNode::Flow(flow) => {
            let mut table: Table<'f> = FxHashMap::default();
            let mut count = 0;
            for child in &flow.children {
                let (child_table, n) = exports_of(child, specs);
                count += n;
                for (name, prov) in child_table {
                    let merged = match flow.kind {
                        FlowKind::Linear => prov,
                        FlowKind::Unordered | FlowKind::Graph if table.contains_key(name) => {
                            Prov::Ambiguous
                        }
                        FlowKind::Unordered | FlowKind::Graph => prov,
                    };
                    table.insert(name, merged);
                }
            }
            (table, count)
        }
    }
}
