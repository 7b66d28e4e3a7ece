//! A flow as the checks see it ([`FlowDesc`]: declared inputs, the pattern
//! tree's nodes depth first, atoms, links, retries), and the small queries on
//! it the other modules share: names, arguments, outputs, and where two
//! nodes meet in the tree.

use super::*;

/// The `&str` of a [`Text`], in `const`.
pub const fn text(t: &Text) -> &str {
    match t {
        Cow::Borrowed(s) => s,
        Cow::Owned(s) => s.as_str(),
    }
}

/// `a == b`, in `const`.
pub const fn str_eq(a: &str, b: &str) -> bool {
    // Every call is a frame in `const` evaluation, where the compiler pays
    // for each: lengths are read once, outside the loop.
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let mut i = 0;
    while i < n {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The type of a value, as messages show it: `""` for values of tasks built
/// at run time (untyped JSON) and for names read through the context.
pub(super) const UNTYPED: &str = "serde_json::Value";

/// A flow as the checks see it: its declared inputs, its pattern tree (nodes
/// in depth-first order, node 0 the flow itself) and its atoms.
#[derive(Debug, Clone, Copy)]
pub struct FlowDesc<'a> {
    /// The declared inputs: name and type as written.
    pub inputs: &'a [(&'a str, &'a str)],
    /// The pattern tree, depth first; node 0 is the outermost flow.
    pub nodes: &'a [NodeDesc<'a>],
    /// The atoms, in the order the tree meets them (the flow macro puts the
    /// retry atoms last; only their nodes' order matters).
    pub atoms: &'a [AtomDesc<'a>],
    /// The explicit links of graph flows ([`Flow::link`](crate::flow::Flow::link),
    /// [`Flow::link_if`](crate::flow::Flow::link_if)).
    pub links: &'a [LinkDesc<'a>],
    /// The nodes that are retry atoms ([`Flow::retry`](crate::flow::Flow::retry)),
    /// sorted: each is the first child of the flow it controls.
    pub retries: &'a [u32],
}

/// A link between two children of a flow, as written.
#[derive(Debug, Clone, Copy)]
pub struct LinkDesc<'a> {
    /// The node of the flow that holds the link.
    pub flow: u32,
    /// The child that runs first (an atom's or a nested flow's name).
    pub from: &'a str,
    /// The child that runs after it.
    pub to: &'a str,
}

/// One node of a flow's pattern tree.
#[derive(Debug, Clone, Copy)]
pub struct NodeDesc<'a> {
    /// The enclosing flow's node (node 0 is its own parent).
    pub parent: u32,
    /// The position among the parent's children.
    pub pos: u32,
    /// The nesting depth (0 for the outermost flow).
    pub depth: u32,
    /// A flow or an atom.
    pub kind: NodeKind<'a>,
}

/// What a node is.
#[derive(Debug, Clone, Copy)]
pub enum NodeKind<'a> {
    /// A flow of this kind and name.
    Flow(FlowKind, &'a str),
    /// The atom with this index in [`FlowDesc::atoms`].
    Atom(u32),
}

/// One atom: its task's metadata and how the flow adds it.
#[derive(Debug, Clone, Copy)]
pub struct AtomDesc<'a> {
    /// The task's metadata.
    pub meta: &'a TaskMeta,
    /// Its node in the tree.
    pub node: u32,
    /// The atom's name, if renamed (`.named(..)`).
    pub name: Option<&'a str>,
    /// `(argument, name read instead)` (`.rebind(..)`), last one wins.
    pub rebind: &'a [(&'a str, &'a str)],
    /// Arguments given fixed values (`.inject(..)`).
    pub inject: &'a [&'a str],
    /// Outputs renamed (`.provides_as(..)` / `.provides_each_as(..)`).
    pub provides: ProvidesAs<'a>,
}

/// How an atom names its outputs.
#[derive(Debug, Clone, Copy)]
pub enum ProvidesAs<'a> {
    /// As its task does.
    Task,
    /// The whole result under one name.
    One(&'a str),
    /// A tuple result, one name per element.
    Each(&'a [&'a str]),
}

impl<'a> AtomDesc<'a> {
    /// An atom of the task described by `meta`, as the task names things.
    pub const fn new(meta: &'a TaskMeta, node: u32) -> AtomDesc<'a> {
        AtomDesc {
            meta,
            node,
            name: None,
            rebind: &[],
            inject: &[],
            provides: ProvidesAs::Task,
        }
    }
}

/// The metadata of a retry atom, for a flow's description: named `name`,
/// requiring the values `requires` (untyped: a retry's values are JSON),
/// providing `provides`. What a controller requires by itself
/// ([`Retry::requires`](crate::retry::Retry::requires), such as
/// [`ParameterizedForEach`](crate::retry::ParameterizedForEach)'s values) is
/// known only at run time, so it is not part of it.
pub const fn retry_meta(
    name: &'static str,
    requires: &'static [Text],
    provides: Option<&'static str>,
) -> TaskMeta {
    TaskMeta {
        name: Cow::Borrowed(name),
        version: crate::task::Version::new(1, 0),
        params: Cow::Borrowed(&[]),
        extra_requires: Cow::Borrowed(requires),
        provides: match provides {
            Some(p) => Provides::One(Cow::Borrowed(p)),
            None => Provides::Nothing,
        },
        output_types: &[],
        revert: None,
        is_async: false,
        priority: None,
        location: crate::task::Location {
            module: Cow::Borrowed("<retry>"),
            file: Cow::Borrowed(""),
            line: 0,
        },
    }
}

/// Whether `node` is a retry atom.
pub const fn is_retry(d: &FlowDesc<'_>, node: u32) -> bool {
    let (mut lo, mut hi) = (0, d.retries.len());
    while lo < hi {
        let mid = (lo + hi) / 2;
        if d.retries[mid] < node {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo < d.retries.len() && d.retries[lo] == node
}

/// The name of atom `a`.
pub const fn atom_name<'a>(a: &AtomDesc<'a>) -> &'a str {
    match a.name {
        Some(n) => n,
        None => text(&a.meta.name),
    }
}

/// The name of node `node`: a flow's, or an atom's.
pub const fn node_name<'a>(d: &FlowDesc<'a>, node: u32) -> &'a str {
    match d.nodes[node as usize].kind {
        NodeKind::Flow(_, name) => name,
        NodeKind::Atom(i) => atom_name(&d.atoms[i as usize]),
    }
}

pub(super) const fn flow_name<'a>(d: &FlowDesc<'a>) -> &'a str {
    node_name(d, 0)
}

/// How many names atom `a` provides.
pub(super) const fn provided_count(a: &AtomDesc<'_>) -> usize {
    match a.provides {
        ProvidesAs::One(_) => 1,
        ProvidesAs::Each(names) => names.len(),
        ProvidesAs::Task => match &a.meta.provides {
            Provides::Nothing => 0,
            Provides::One(_) => 1,
            Provides::Tuple(names) => tuple_names(names).len(),
        },
    }
}

#[allow(clippy::ptr_arg)] // both variants are read, in `const`
pub(super) const fn tuple_names<'t>(names: &'t Cow<'static, [Text]>) -> &'t [Text] {
    match names {
        Cow::Borrowed(s) => s,
        Cow::Owned(v) => v.as_slice(),
    }
}

/// The `k`-th name atom `a` provides.
pub(super) const fn provided_name<'a>(a: &AtomDesc<'a>, k: usize) -> &'a str {
    match a.provides {
        ProvidesAs::One(n) => n,
        ProvidesAs::Each(names) => names[k],
        ProvidesAs::Task => match &a.meta.provides {
            Provides::Nothing => "",
            Provides::One(n) => text(n),
            Provides::Tuple(names) => text(&tuple_names(names)[k]),
        },
    }
}

/// One value argument of a task.
#[derive(Debug, Clone, Copy)]
pub(super) struct Arg<'a> {
    pub(super) name: &'a str,
    /// The type as `#[task]` wrote it (see [`Arg::ty`]).
    written: &'a str,
    pub(super) optional: bool,
}

impl<'a> Arg<'a> {
    /// The type for messages, `""` if unknown (worked out only when a
    /// message needs it: most walks of the arguments read their names).
    pub(super) const fn ty(&self) -> &'a str {
        if !self.optional && !str_eq(self.written, UNTYPED) {
            self.written
        } else {
            ""
        }
    }
}

pub(super) const fn params(meta: &TaskMeta) -> &[crate::task::Param] {
    match &meta.params {
        Cow::Borrowed(p) => p,
        Cow::Owned(v) => v.as_slice(),
    }
}

pub(super) const fn extra(meta: &TaskMeta) -> &[Text] {
    match &meta.extra_requires {
        Cow::Borrowed(p) => p,
        Cow::Owned(v) => v.as_slice(),
    }
}

/// How many value arguments (value parameters, then `requires = [..]`).
pub(super) const fn arg_count(meta: &TaskMeta) -> usize {
    let ps = params(meta);
    let mut n = 0;
    let mut i = 0;
    let end = ps.len();
    while i < end {
        if matches!(ps[i].kind, ParamKind::Required | ParamKind::Optional) {
            n += 1;
        }
        i += 1;
    }
    n + extra(meta).len()
}

/// The type of argument `arg` of `meta` as messages show it (`""` when it is
/// not known): what the builder passes to [`write_missing`].
pub const fn arg_type<'t>(meta: &'t TaskMeta, arg: &str) -> &'t str {
    let n = arg_count(meta);
    let mut cursor = ArgCursor::new();
    let mut k = 0;
    while k < n {
        let a = cursor.next(meta);
        if str_eq(a.name, arg) {
            return a.ty();
        }
        k += 1;
    }
    ""
}

pub(super) const fn injected(a: &AtomDesc<'_>, arg: &str) -> bool {
    let mut i = 0;
    let end = a.inject.len();
    while i < end {
        if str_eq(a.inject[i], arg) {
            return true;
        }
        i += 1;
    }
    false
}

/// The name argument `arg` reads, after rebinding.
pub(super) const fn read_name<'a>(a: &AtomDesc<'a>, arg: &'a str) -> &'a str {
    let mut i = a.rebind.len();
    while i > 0 {
        i -= 1;
        if str_eq(a.rebind[i].0, arg) {
            return a.rebind[i].1;
        }
    }
    arg
}

/// Walks a task's value arguments in order, in one pass.
pub(super) struct ArgCursor {
    param: usize,
    extra: usize,
}

impl ArgCursor {
    pub(super) const fn new() -> ArgCursor {
        ArgCursor { param: 0, extra: 0 }
    }

    /// The next argument (there must be one).
    pub(super) const fn next<'t>(&mut self, meta: &'t TaskMeta) -> Arg<'t> {
        let ps = params(meta);
        while self.param < ps.len() {
            let p = &ps[self.param];
            self.param += 1;
            let required = matches!(p.kind, ParamKind::Required);
            if required || matches!(p.kind, ParamKind::Optional) {
                return Arg {
                    name: text(&p.name),
                    written: text(&p.ty),
                    optional: !required,
                };
            }
        }
        self.extra += 1;
        Arg {
            name: text(&extra(meta)[self.extra - 1]),
            written: UNTYPED,
            optional: false,
        }
    }
}

/// The innermost flow holding nodes `a` and `b`, and the children of it that
/// hold `a` and `b`.
pub(super) const fn common_scope(d: &FlowDesc<'_>, mut a: u32, mut b: u32) -> (u32, u32, u32) {
    let nodes = d.nodes;
    while nodes[a as usize].depth > nodes[b as usize].depth {
        a = nodes[a as usize].parent;
    }
    while nodes[b as usize].depth > nodes[a as usize].depth {
        b = nodes[b as usize].parent;
    }
    while nodes[a as usize].parent != nodes[b as usize].parent {
        a = nodes[a as usize].parent;
        b = nodes[b as usize].parent;
    }
    (nodes[a as usize].parent, a, b)
}

pub(super) const fn flow_kind(d: &FlowDesc<'_>, node: u32) -> FlowKind {
    match d.nodes[node as usize].kind {
        NodeKind::Flow(kind, _) => kind,
        NodeKind::Atom(_) => FlowKind::Linear,
    }
}

pub(super) const fn input_index(d: &FlowDesc<'_>, name: &str) -> Option<u32> {
    let mut i = 0;
    let end = d.inputs.len();
    while i < end {
        if str_eq(d.inputs[i].0, name) {
            return Some(i as u32);
        }
        i += 1;
    }
    None
}

/// Whether node `x`'s subtree holds node `n`.
pub(super) const fn holds(d: &FlowDesc<'_>, x: u32, mut n: u32) -> bool {
    let depth = d.nodes[x as usize].depth;
    while d.nodes[n as usize].depth > depth {
        n = d.nodes[n as usize].parent;
    }
    n == x
}

/// The child of flow `x` whose subtree holds node `n` (below `x`).
pub(super) const fn child_toward(d: &FlowDesc<'_>, x: u32, mut n: u32) -> u32 {
    let depth = d.nodes[x as usize].depth + 1;
    while d.nodes[n as usize].depth > depth {
        n = d.nodes[n as usize].parent;
    }
    n
}
