//! A reference for the flow checks: the scoping and validation rules of
//! ARCHITECTURE.md and `taskwire::flow`, written plainly over the flow's tree
//! as the builder's public API shows it, with no table, no packing and no
//! attempt at speed (quadratic and worse). The random-flow test compares it
//! with the builder, so that two independent implementations agree, not two
//! callers of one.
//!
//! It covers what random flows hold: required and optional values, a task's
//! outputs (renamed or not), nested linear, unordered and graph flows, links,
//! retries with their own requirements and output, declared inputs. It
//! knows nothing of rebinding, injection or the tables' limits.
//!
//! The rules, as it applies them:
//!
//! - An atom looks a name up in its enclosing flows, innermost first; the
//!   first flow that sees a provider decides. A linear flow shows an atom
//!   what its nearest earlier child exports; a graph flow what its other
//!   children export (two of them, or one while the flow's children export
//!   it twice: ambiguous); an unordered flow nothing of
//!   its other children. A flow's retry is seen by all its atoms (after its
//!   other children, in a graph flow). The declared inputs come last.
//! - What a child exports under a name: an atom, its own output; a linear
//!   flow, its last child's export; a graph or unordered flow, its one child
//!   that exports it (two: ambiguous), else its retry's output.
//! - A retry sees what its flow's surroundings provide, as if it stood where
//!   its flow stands.
//! - An ambiguous lookup reads nothing (the ambiguity is reported for the
//!   flow, once); a lookup that finds nothing is a missing requirement
//!   unless the value is optional.
//! - An input that no lookup finds (none reads it, or a provider shadows
//!   it) is unused, an error; one that a graph flow's task also provides to
//!   a reader is ambiguous instead.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use taskwire::flow::{ArgSource, Child, Flow, FlowKind, Slot};
use taskwire::task::{Provides, TaskSpec};

/// One node of the pattern tree, in depth-first order (node 0 the flow).
#[derive(Debug)]
enum Node {
    Atom {
        /// The atom's index in `Flow::atoms` (depth-first order).
        index: usize,
        name: String,
        /// `(name, optional)`, in argument order.
        requires: Vec<(String, bool)>,
        provides: Vec<String>,
        tuple: bool,
        retry: bool,
    },
    Flow {
        name: String,
        kind: FlowKind,
        /// Children in order, the retry (if any) first.
        children: Vec<usize>,
        links: Vec<(String, String)>,
        has_retry: bool,
    },
}

/// What the reference makes of a flow.
#[derive(Debug)]
pub(crate) struct Reference {
    /// Every error message, in no particular order.
    pub(crate) errors: Vec<String>,
    /// Where each atom's arguments come from (meaningful without errors).
    pub(crate) sources: Vec<Vec<ArgSource>>,
}

/// What a lookup finds.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Found {
    Nothing,
    Ambiguous,
    /// The node of the providing atom.
    Atom(usize),
}

struct Tree {
    nodes: Vec<Node>,
    parent: Vec<usize>,
    inputs: Vec<String>,
}

/// Checks `flow` against the engine inputs `inputs` by the rules above.
pub(crate) fn reference(flow: &Flow, inputs: &[&str]) -> Reference {
    let mut tree = Tree {
        nodes: Vec::new(),
        parent: Vec::new(),
        inputs: inputs.iter().map(|s| s.to_string()).collect(),
    };
    let links = flow.links().map(|(a, b)| (a.into(), b.into())).collect();
    tree.add_flow(
        flow.name(),
        flow.kind(),
        links,
        flow.children().collect(),
        0,
    );
    tree.check()
}

fn spec_node(spec: &TaskSpec, index: usize, retry: bool) -> Node {
    let (provides, tuple) = match spec.provides() {
        Provides::Nothing => (Vec::new(), false),
        Provides::One(n) => (vec![n.to_string()], false),
        Provides::Tuple(ns) => (ns.iter().map(|n| n.to_string()).collect(), true),
    };
    Node::Atom {
        index,
        name: spec.atom_name().to_owned(),
        requires: spec
            .def()
            .meta
            .value_args()
            .map(|(n, optional)| (n.to_owned(), optional))
            .collect(),
        provides,
        tuple,
        retry,
    }
}

impl Tree {
    fn atoms(&self) -> usize {
        self.nodes
            .iter()
            .filter(|n| matches!(n, Node::Atom { .. }))
            .count()
    }

    fn add_flow(
        &mut self,
        name: &str,
        kind: FlowKind,
        links: Vec<(String, String)>,
        children: Vec<Child<'_>>,
        parent: usize,
    ) -> usize {
        let me = self.nodes.len();
        let has_retry = matches!(children.first(), Some(Child::Retry(_)));
        self.nodes.push(Node::Flow {
            name: name.to_owned(),
            kind,
            children: Vec::new(),
            links,
            has_retry,
        });
        self.parent.push(parent);
        let mut ids = Vec::new();
        for child in children {
            let id = match child {
                Child::Task(spec) | Child::Retry(spec) => {
                    let retry = matches!(child, Child::Retry(_));
                    let node = spec_node(spec, self.atoms(), retry);
                    self.nodes.push(node);
                    self.parent.push(me);
                    self.nodes.len() - 1
                }
                Child::Flow(sub) => {
                    let links = sub.links().map(|(a, b)| (a.into(), b.into())).collect();
                    self.add_flow(sub.name(), sub.kind(), links, sub.children().collect(), me)
                }
            };
            ids.push(id);
        }
        if let Node::Flow { children, .. } = &mut self.nodes[me] {
            *children = ids;
        }
        me
    }

    fn name(&self, node: usize) -> &str {
        match &self.nodes[node] {
            Node::Atom { name, .. } | Node::Flow { name, .. } => name,
        }
    }

    fn is_retry(&self, node: usize) -> bool {
        matches!(self.nodes[node], Node::Atom { retry: true, .. })
    }

    fn kind(&self, flow: usize) -> FlowKind {
        match &self.nodes[flow] {
            Node::Flow { kind, .. } => *kind,
            Node::Atom { .. } => unreachable!("not a flow"),
        }
    }

    fn children(&self, flow: usize) -> &[usize] {
        match &self.nodes[flow] {
            Node::Flow { children, .. } => children,
            Node::Atom { .. } => &[],
        }
    }

    /// The children a flow orders: all but its retry.
    fn body(&self, flow: usize) -> Vec<usize> {
        let c = self.children(flow);
        match &self.nodes[flow] {
            Node::Flow {
                has_retry: true, ..
            } => c[1..].to_vec(),
            _ => c.to_vec(),
        }
    }

    fn retry_of(&self, flow: usize) -> Option<usize> {
        match &self.nodes[flow] {
            Node::Flow {
                has_retry: true,
                children,
                ..
            } => Some(children[0]),
            _ => None,
        }
    }

    fn provides(&self, node: usize, name: &str) -> bool {
        matches!(&self.nodes[node], Node::Atom { provides, .. } if provides.iter().any(|p| p == name))
    }

    /// What the subtree at `node` exports under `name`.
    fn export(&self, node: usize, name: &str) -> Found {
        match &self.nodes[node] {
            Node::Atom { .. } => {
                if self.provides(node, name) {
                    Found::Atom(node)
                } else {
                    Found::Nothing
                }
            }
            Node::Flow { kind, .. } => {
                let body = self.body(node);
                let found = match kind {
                    FlowKind::Linear => body
                        .iter()
                        .rev()
                        .map(|&c| self.export(c, name))
                        .find(|f| *f != Found::Nothing)
                        .unwrap_or(Found::Nothing),
                    _ => self.union(&body, name),
                };
                match (found, self.retry_of(node)) {
                    (Found::Nothing, Some(r)) => self.export(r, name),
                    (found, _) => found,
                }
            }
        }
    }

    /// What a set of unordered siblings export together.
    fn union(&self, children: &[usize], name: &str) -> Found {
        let found: Vec<Found> = children
            .iter()
            .map(|&c| self.export(c, name))
            .filter(|f| *f != Found::Nothing)
            .collect();
        match found.as_slice() {
            [] => Found::Nothing,
            [one] => *one,
            _ => Found::Ambiguous,
        }
    }

    /// What atom `atom` reads under `name`.
    fn lookup(&self, atom: usize, name: &str) -> Found {
        // A retry stands where its flow stands.
        let mut x = if self.is_retry(atom) {
            self.parent[atom]
        } else {
            atom
        };
        while x != 0 {
            let scope = self.parent[x];
            let others: Vec<usize> = self.body(scope).into_iter().filter(|&c| c != x).collect();
            let found = match self.kind(scope) {
                FlowKind::Linear => {
                    let pos = self.children(scope).iter().position(|&c| c == x).unwrap();
                    self.children(scope)[..pos]
                        .iter()
                        .rev()
                        .map(|&c| self.export(c, name))
                        .find(|f| *f != Found::Nothing)
                        .unwrap_or(Found::Nothing)
                }
                // A provider among the other children reads nothing when
                // the flow's children export the name twice (reported for
                // the flow).
                FlowKind::Graph => match self.union(&others, name) {
                    Found::Atom(_) if self.union(&self.body(scope), name) == Found::Ambiguous => {
                        Found::Ambiguous
                    }
                    found => found,
                },
                FlowKind::Unordered => Found::Nothing,
            };
            let found = match (found, self.retry_of(scope)) {
                (Found::Nothing, Some(r)) if r != x => self.export(r, name),
                (found, _) => found,
            };
            if found != Found::Nothing {
                return found;
            }
            x = scope;
        }
        Found::Nothing
    }

    /// The nodes of the subtree at `node`.
    fn subtree(&self, node: usize) -> Vec<usize> {
        let mut out = vec![node];
        for &c in self.children(node) {
            out.extend(self.subtree(c));
        }
        out
    }

    /// The child of `scope` whose subtree holds `node`.
    fn child_toward(&self, scope: usize, mut node: usize) -> usize {
        while self.parent[node] != scope {
            node = self.parent[node];
        }
        node
    }

    fn lca(&self, a: usize, b: usize) -> usize {
        let mut up = vec![a];
        let mut x = a;
        while x != 0 {
            x = self.parent[x];
            up.push(x);
        }
        let mut y = b;
        loop {
            if up.contains(&y) {
                return y;
            }
            y = self.parent[y];
        }
    }

    fn check(&self) -> Reference {
        let root = self.name(0).to_owned();
        let mut errors = Vec::new();
        let mut sources = Vec::new();
        let atoms: Vec<usize> = (0..self.nodes.len())
            .filter(|&n| matches!(self.nodes[n], Node::Atom { .. }))
            .collect();
        // Requirements.
        let mut edges: BTreeSet<(usize, usize)> = BTreeSet::new();
        let mut input_reported: BTreeSet<(usize, usize)> = BTreeSet::new();
        let mut inputs_read = vec![false; self.inputs.len()];
        for &a in &atoms {
            let Node::Atom {
                requires,
                name,
                retry,
                ..
            } = &self.nodes[a]
            else {
                unreachable!()
            };
            let mut args = Vec::new();
            for (req, optional) in requires {
                let found = self.lookup(a, req);
                let input = self.inputs.iter().position(|i| i == req);
                args.push(match (found, input) {
                    (Found::Atom(p), _) => {
                        let Node::Atom { index, provides, tuple, .. } = &self.nodes[p] else {
                            unreachable!()
                        };
                        let elem = provides.iter().position(|n| n == req).unwrap();
                        let scope = self.lca(a, p);
                        let from = self.child_toward(scope, p);
                        if self.kind(scope) == FlowKind::Graph && !self.is_retry(from) {
                            edges.insert((from, self.child_toward(scope, a)));
                            if let Some(i) = input {
                                // Ambiguous, not unused.
                                inputs_read[i] = true;
                                let twice =
                                    self.union(&self.body(scope), req) == Found::Ambiguous;
                                if !twice && input_reported.insert((scope, i)) {
                                    errors.push(format!(
                                        "flow `{root}`: `{req}` is provided by `the engine input` and `{}` in graph flow `{}`, which has no order to choose between them; rename one output or use `rebind`",
                                        self.name(p),
                                        self.name(scope)
                                    ));
                                }
                            }
                        }
                        ArgSource::Atom(Slot {
                            atom: *index as u32,
                            elem: tuple.then_some(elem as u32),
                        })
                    }
                    (Found::Ambiguous, _) => ArgSource::Absent,
                    (Found::Nothing, Some(i)) => {
                        inputs_read[i] = true;
                        ArgSource::Input(i as u32)
                    }
                    (Found::Nothing, None) if *optional => ArgSource::Absent,
                    (Found::Nothing, None) => {
                        errors.push(format!(
                            "flow `{root}`: {} `{name}` requires `{req}`, which no input or earlier task provides{}",
                            if *retry { "retry" } else { "task" },
                            self.hint(a, name, req)
                        ));
                        ArgSource::Absent
                    }
                });
            }
            sources.push(args);
        }
        // Ambiguous providers: two children of a graph or unordered flow
        // holding a provider of one name.
        let names: BTreeSet<&str> = atoms
            .iter()
            .flat_map(|&a| match &self.nodes[a] {
                Node::Atom { provides, .. } => provides.iter().map(String::as_str).collect(),
                Node::Flow { .. } => Vec::new(),
            })
            .collect();
        for (flow, node) in self.nodes.iter().enumerate() {
            let Node::Flow { kind, .. } = node else {
                continue;
            };
            if *kind == FlowKind::Linear {
                continue;
            }
            for name in &names {
                let holding: Vec<usize> = self
                    .body(flow)
                    .into_iter()
                    .filter(|&c| self.subtree(c).iter().any(|&n| self.provides(n, name)))
                    .collect();
                if holding.len() < 2 {
                    continue;
                }
                let exporters: Vec<String> = self
                    .body(flow)
                    .into_iter()
                    .filter_map(|c| match self.export(c, name) {
                        Found::Atom(p) => Some(format!("`{}`", self.name(p))),
                        _ => None,
                    })
                    .collect();
                errors.push(format!(
                    "flow `{root}`: `{name}` is provided by {} in {} flow `{}`, which has no order to choose between them; rename one output or use `rebind`",
                    list(&exporters),
                    kind_name(*kind),
                    self.name(flow)
                ));
            }
        }
        // Inputs no lookup found (one shadowed by a provider is not read).
        // The names are too short for a suggestion.
        for (input, _) in self
            .inputs
            .iter()
            .zip(&inputs_read)
            .filter(|(_, read)| !**read)
        {
            errors.push(format!(
                "flow `{root}`: input `{input}` is given, but no task reads it; remove it, rebind a task's argument to it, or allow unused inputs (`Engine::allow_unused_inputs`)"
            ));
        }
        // Two atoms of one name.
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        for &a in &atoms {
            *seen.entry(self.name(a)).or_default() += 1;
        }
        for (name, count) in seen {
            if count > 1 {
                errors.push(format!(
                    "flow `{root}`: two atoms are named `{name}`; give one another name with `.named(..)`"
                ));
            }
        }
        // Links.
        for (flow, node) in self.nodes.iter().enumerate() {
            let Node::Flow { kind, links, .. } = node else {
                continue;
            };
            for (from, to) in links {
                if *kind != FlowKind::Graph {
                    errors.push(format!(
                        "flow `{root}`: {} flow `{}` has a link `{from}` -> `{to}`, but only graph flows take links; make `{}` a graph flow, or remove the link",
                        kind_name(*kind),
                        self.name(flow),
                        self.name(flow)
                    ));
                    continue;
                }
                let body = self.body(flow);
                let child = |end: &str| {
                    let atom = body.iter().find(|&&c| {
                        matches!(self.nodes[c], Node::Atom { .. }) && self.name(c) == end
                    });
                    let sub = body.iter().find(|&&c| {
                        matches!(self.nodes[c], Node::Flow { .. }) && self.name(c) == end
                    });
                    atom.or(sub).copied()
                };
                let (a, b) = (child(from), child(to));
                for (end, found) in [(from, a), (to, b)] {
                    if found.is_none() {
                        let names: Vec<String> = body
                            .iter()
                            .map(|&c| format!("`{}`", self.name(c)))
                            .collect();
                        errors.push(format!(
                            "flow `{root}`: link `{from}` -> `{to}` in graph flow `{}` names `{end}`, which is not a child of it; its children are {}",
                            self.name(flow),
                            list(&names)
                        ));
                    }
                }
                if let (Some(a), Some(b)) = (a, b) {
                    edges.insert((a, b));
                }
            }
        }
        // Cycles: per strongly connected component (by its smallest node),
        // the shortest cycle through its smallest node, the first such in
        // lexicographic order of the nodes.
        let n = self.nodes.len();
        let reach = |from: usize, forward: bool| -> Vec<Option<usize>> {
            // Distances from `from` (forward) or to it (backward).
            let mut dist = vec![None; n];
            let mut queue = VecDeque::from([from]);
            dist[from] = Some(0);
            while let Some(x) = queue.pop_front() {
                for &(a, b) in &edges {
                    let (u, v) = if forward { (a, b) } else { (b, a) };
                    if u == x && dist[v].is_none() {
                        dist[v] = Some(dist[x].unwrap() + 1);
                        queue.push_back(v);
                    }
                }
            }
            dist
        };
        let mut done = vec![false; n];
        for s in 0..n {
            if done[s] {
                continue;
            }
            let to_s = reach(s, false);
            let from_s = reach(s, true);
            for x in 0..n {
                if to_s[x].is_some() && from_s[x].is_some() {
                    done[x] = true;
                }
            }
            // The length of the shortest cycle through `s`, if any.
            let Some(len) = edges
                .iter()
                .filter(|&&(a, _)| a == s)
                .filter_map(|&(_, b)| to_s[b].map(|d| d + 1))
                .min()
            else {
                continue;
            };
            let mut cycle = vec![s];
            let mut at = s;
            for left in (0..len).rev() {
                let next = edges
                    .iter()
                    .filter(|&&(a, b)| a == at && to_s[b] == Some(left))
                    .map(|&(_, b)| b)
                    .min()
                    .unwrap();
                if left > 0 {
                    cycle.push(next);
                }
                at = next;
            }
            let tasks = cycle
                .iter()
                .all(|&c| matches!(self.nodes[c], Node::Atom { .. }));
            let mut path: Vec<String> = cycle
                .iter()
                .map(|&c| match self.nodes[c] {
                    Node::Atom { .. } => format!("`{}`", self.name(c)),
                    Node::Flow { .. } => format!("flow `{}`", self.name(c)),
                })
                .collect();
            path.push(path[0].clone());
            errors.push(format!(
                "flow `{root}`: {}{} form a cycle",
                if tasks { "tasks " } else { "" },
                path.join(" -> ")
            ));
        }
        Reference { errors, sources }
    }

    /// The hint of a missing requirement of `atom` (named `name`) under `req`:
    /// the first provider after it in the tree, else the first before it.
    fn hint(&self, atom: usize, name: &str, req: &str) -> String {
        let providers: Vec<usize> = (0..self.nodes.len())
            .filter(|&p| self.provides(p, req))
            .collect();
        if let Some(&p) = providers.iter().find(|&&p| p > atom) {
            format!(
                " (later task `{}` provides it: add it before `{name}`)",
                self.name(p)
            )
        } else if let Some(&p) = providers.iter().find(|&&p| p < atom) {
            format!(
                " (task `{}` provides it, but `{name}` does not wait for it: they are independent in an unordered flow)",
                self.name(p)
            )
        } else {
            String::new()
        }
    }
}

fn kind_name(kind: FlowKind) -> &'static str {
    match kind {
        FlowKind::Linear => "linear",
        FlowKind::Unordered => "unordered",
        FlowKind::Graph => "graph",
    }
}

/// "`a`, `b` and `c`", or "nothing".
fn list(items: &[String]) -> String {
    match items {
        [] => "nothing".to_owned(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}
