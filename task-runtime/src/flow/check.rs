//! The flow checks that run at compile time: `const fn`s over a flat,
//! const-constructible description of a flow ([`FlowDesc`]).
//!
//! `taskwire::flow!` evaluates them in `const` items, so a flow that cannot run
//! does not build; the runtime builder ([`Flow::compile`](super::Flow::compile))
//! runs the same functions on a description of the flow it was given (with
//! `Vec` storage): it reads each argument's source from [`fill_sources`], takes
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

use std::borrow::Cow;

use super::FlowKind;
use crate::task::{ParamKind, Provides, TaskMeta, Text};

// ---------------------------------------------------------------------------
// Messages

/// A message being written into a fixed byte buffer. Writes past the end are
/// counted but dropped, so a first pass with an empty buffer measures the
/// message ([`render`] does that at run time).
#[derive(Debug)]
pub struct Msg<'b> {
    buf: &'b mut [u8],
    len: usize,
}

impl<'b> Msg<'b> {
    /// A message written into `buf`.
    pub const fn new(buf: &'b mut [u8]) -> Msg<'b> {
        Msg { buf, len: 0 }
    }

    /// Appends `s`.
    pub const fn push(&mut self, s: &str) {
        let bytes = s.as_bytes();
        let mut i = 0;
        let end = bytes.len();
        while i < end {
            if self.len < self.buf.len() {
                self.buf[self.len] = bytes[i];
            }
            self.len += 1;
            i += 1;
        }
    }

    /// Appends a decimal number.
    pub const fn push_usize(&mut self, mut n: usize) {
        let mut digits = [0u8; 20];
        let mut k = digits.len();
        loop {
            k -= 1;
            digits[k] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        let end = digits.len();
        while k < end {
            if self.len < self.buf.len() {
                self.buf[self.len] = digits[k];
            }
            self.len += 1;
            k += 1;
        }
    }

    /// The length of the whole message, written or not.
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing was written.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the message did not fit in the buffer.
    pub const fn truncated(&self) -> bool {
        self.len > self.buf.len()
    }

    /// The message as written (cut at a character boundary if it did not fit).
    pub const fn as_str(&self) -> &str {
        let end = if self.len < self.buf.len() {
            self.len
        } else {
            self.buf.len()
        };
        let (bytes, _) = self.buf.split_at(end);
        match core::str::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => {
                let (valid, _) = bytes.split_at(e.valid_up_to());
                match core::str::from_utf8(valid) {
                    Ok(s) => s,
                    Err(_) => "",
                }
            }
        }
    }
}

/// Runs a message writer and returns what it wrote (two passes: measure, then
/// write).
pub fn render(write: impl Fn(&mut Msg<'_>)) -> String {
    let mut measure = Msg::new(&mut []);
    write(&mut measure);
    let mut bytes = vec![0u8; measure.len()];
    write(&mut Msg::new(&mut bytes));
    // Whole `&str`s were copied, so the bytes are UTF-8.
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// A list of names for a message: owned strings (run time) or nodes of a
/// [`FlowDesc`] (compile time).
#[derive(Debug, Clone, Copy)]
pub enum Names<'a> {
    /// Names held as strings.
    Strings(&'a [String]),
    /// Names held as strings, each marked whether it is a nested flow's.
    Marked(&'a [String], &'a [bool]),
    /// Atoms or nested flows of a flow description, by node index.
    Nodes(&'a FlowDesc<'a>, &'a [u32]),
    /// The engine input, then one atom of a flow description.
    InputAnd(&'a str),
    /// The value arguments of a task, in order.
    Args(&'a TaskMeta),
    /// The children of a flow of a flow description (by node), its retry
    /// left out.
    Children(&'a FlowDesc<'a>, u32),
}

impl<'a> Names<'a> {
    const fn len(&self) -> usize {
        match *self {
            Names::Strings(s) | Names::Marked(s, _) => s.len(),
            Names::Nodes(_, n) => n.len(),
            Names::InputAnd(_) => 2,
            Names::Args(meta) => arg_count(meta),
            Names::Children(d, flow) => {
                let mut n = 0;
                let mut child = flow + 1;
                while let Some(c) = next_child(d, flow, child) {
                    n += 1;
                    child = c + 1;
                }
                n
            }
        }
    }

    /// Whether name `i` is a nested flow's (as far as the list knows).
    const fn is_flow(&self, i: usize) -> bool {
        match *self {
            Names::Marked(_, flows) => flows[i],
            Names::Nodes(d, n) => matches!(d.nodes[n[i] as usize].kind, NodeKind::Flow(..)),
            _ => false,
        }
    }

    const fn get(&self, i: usize) -> &'a str {
        match *self {
            Names::Strings(s) | Names::Marked(s, _) => s[i].as_str(),
            Names::Nodes(d, n) => node_name(d, n[i]),
            Names::InputAnd(atom) => {
                if i == 0 {
                    ENGINE_INPUT
                } else {
                    atom
                }
            }
            Names::Args(meta) => {
                let mut cursor = ArgCursor::new();
                let mut k = 0;
                while k < i {
                    cursor.next(meta);
                    k += 1;
                }
                cursor.next(meta).name
            }
            Names::Children(d, flow) => {
                let mut k = 0;
                let mut child = flow + 1;
                while let Some(c) = next_child(d, flow, child) {
                    if k == i {
                        return node_name(d, c);
                    }
                    k += 1;
                    child = c + 1;
                }
                ""
            }
        }
    }
}

/// The first child of `flow` at node `from` or after it, its retry left out.
const fn next_child(d: &FlowDesc<'_>, flow: u32, from: u32) -> Option<u32> {
    let mut child = from;
    while (child as usize) < d.nodes.len()
        && d.nodes[child as usize].depth > d.nodes[flow as usize].depth
    {
        if d.nodes[child as usize].parent == flow && !is_retry(d, child) {
            return Some(child);
        }
        child += 1;
    }
    None
}

/// How the engine's inputs are named in a list of providers.
pub const ENGINE_INPUT: &str = "the engine input";

const fn write_list(m: &mut Msg<'_>, names: Names<'_>) {
    let n = names.len();
    if n == 0 {
        m.push("nothing");
        return;
    }
    let mut i = 0;
    while i < n {
        if i > 0 {
            m.push(if i + 1 == n { " and " } else { ", " });
        }
        m.push("`");
        m.push(names.get(i));
        m.push("`");
        i += 1;
    }
}

const fn write_flow(m: &mut Msg<'_>, flow: &str) {
    m.push("flow `");
    m.push(flow);
    m.push("`: ");
}

/// Why a missing requirement may be missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hint<'a> {
    /// Nothing provides the name.
    None,
    /// A later task provides it.
    Later(&'a str),
    /// An earlier task provides it, but in an unordered flow.
    Independent(&'a str),
}

/// Writes the hint of a missing requirement (without parentheses).
pub const fn write_hint(m: &mut Msg<'_>, hint: Hint<'_>, consumer: &str) {
    match hint {
        Hint::None => {}
        Hint::Later(p) => {
            m.push("later task `");
            m.push(p);
            m.push("` provides it: add it before `");
            m.push(consumer);
            m.push("`");
        }
        Hint::Independent(p) => {
            m.push("task `");
            m.push(p);
            m.push("` provides it, but `");
            m.push(consumer);
            m.push("` does not wait for it: they are independent in an unordered flow");
        }
    }
}

/// `flow `F`: task `T` requires `name: Type`, which no input or earlier task
/// provides (hint)`. The type is left out when it is not known (`""`); a
/// retry controller is called a retry.
pub const fn write_missing(
    m: &mut Msg<'_>,
    flow: &str,
    atom: &str,
    retry: bool,
    name: &str,
    ty: &str,
    hint: &str,
) {
    write_flow(m, flow);
    m.push(if retry { "retry `" } else { "task `" });
    m.push(atom);
    m.push("` requires `");
    m.push(name);
    if !ty.is_empty() {
        m.push(": ");
        m.push(ty);
    }
    m.push("`, which no input or earlier task provides");
    if !hint.is_empty() {
        m.push(" (");
        m.push(hint);
        m.push(")");
    }
}

/// `flow `F`: `x` is provided by `a` and `b` in graph flow `g`, ...`.
pub const fn write_ambiguous(
    m: &mut Msg<'_>,
    flow: &str,
    name: &str,
    providers: Names<'_>,
    kind: FlowKind,
    scope: &str,
) {
    write_flow(m, flow);
    m.push("`");
    m.push(name);
    m.push("` is provided by ");
    write_list(m, providers);
    m.push(" in ");
    m.push(kind_name(kind));
    m.push(" flow `");
    m.push(scope);
    m.push("`, which has no order to choose between them; rename one output or use `rebind`");
}

/// `flow `F`: tasks `a` -> `b` -> `a` form a cycle`; a nested flow on the
/// cycle is written `flow `f``, and then the list has no `tasks` before it.
pub const fn write_cycle(m: &mut Msg<'_>, flow: &str, cycle: Names<'_>) {
    write_flow(m, flow);
    let n = cycle.len();
    let mut i = 0;
    let mut tasks = true;
    while i < n {
        tasks = tasks && !cycle.is_flow(i);
        i += 1;
    }
    if tasks {
        m.push("tasks ");
    }
    let mut i = 0;
    while i <= n {
        if i > 0 {
            m.push(" -> ");
        }
        let k = if i == n { 0 } else { i };
        if cycle.is_flow(k) {
            m.push("flow ");
        }
        m.push("`");
        m.push(cycle.get(k));
        m.push("`");
        i += 1;
    }
    m.push(" form a cycle");
}

/// `flow `F`: linear flow `s` has a link `a` -> `b`, but only graph flows take
/// links; ...`.
pub const fn write_link_outside_graph(
    m: &mut Msg<'_>,
    flow: &str,
    kind: FlowKind,
    scope: &str,
    from: &str,
    to: &str,
) {
    write_flow(m, flow);
    m.push(kind_name(kind));
    m.push(" flow `");
    m.push(scope);
    m.push("` has a link `");
    m.push(from);
    m.push("` -> `");
    m.push(to);
    m.push("`, but only graph flows take links; make `");
    m.push(scope);
    m.push("` a graph flow, or remove the link");
}

/// `flow `F`: link `a` -> `b` in graph flow `g` names `b`, which is not a
/// child of it; its children are ...`.
pub const fn write_unknown_link_end(
    m: &mut Msg<'_>,
    flow: &str,
    scope: &str,
    from: &str,
    to: &str,
    missing: &str,
    children: Names<'_>,
) {
    write_flow(m, flow);
    m.push("link `");
    m.push(from);
    m.push("` -> `");
    m.push(to);
    m.push("` in graph flow `");
    m.push(scope);
    m.push("` names `");
    m.push(missing);
    m.push("`, which is not a child of it; its children are ");
    write_list(m, children);
}

/// `flow `F`: two atoms are named `a`; ...`.
pub const fn write_duplicate(m: &mut Msg<'_>, flow: &str, atom: &str) {
    write_flow(m, flow);
    m.push("two atoms are named `");
    m.push(atom);
    m.push("`; give one another name with `.named(..)`");
}

/// `flow `F`: task `a` has no argument `x` to rebind; its arguments are ...`.
pub const fn write_unknown_argument(
    m: &mut Msg<'_>,
    flow: &str,
    atom: &str,
    what: &str,
    arg: &str,
    args: Names<'_>,
) {
    write_flow(m, flow);
    m.push("task `");
    m.push(atom);
    m.push("` has no argument `");
    m.push(arg);
    m.push("` to ");
    m.push(what);
    m.push("; its arguments are ");
    write_list(m, args);
}

/// `flow `F`: atom `a` renames its outputs to 1 name(s), but its task provides 2`.
pub const fn write_provides_mismatch(
    m: &mut Msg<'_>,
    flow: &str,
    atom: &str,
    task: usize,
    given: usize,
) {
    write_flow(m, flow);
    m.push("atom `");
    m.push(atom);
    m.push("` renames its outputs to ");
    m.push_usize(given);
    m.push(" name(s), but its task provides ");
    m.push_usize(task);
    if task > 1 {
        m.push(" (a tuple: use `provides_each_as` with one name per element)");
    }
}

/// `flow `F`: input `x: T` is declared, but no task reads it; ...` (flow macro
/// only: the engine's inputs at run time may be a superset).
pub const fn write_unused_input(m: &mut Msg<'_>, flow: &str, name: &str, ty: &str) {
    write_flow(m, flow);
    m.push("input `");
    m.push(name);
    m.push(": ");
    m.push(ty);
    m.push("` is declared, but no task reads it; remove it, or rebind a task's argument to it");
}

const fn kind_name(kind: FlowKind) -> &'static str {
    match kind {
        FlowKind::Linear => "linear",
        FlowKind::Unordered => "unordered",
        FlowKind::Graph => "graph",
    }
}

// ---------------------------------------------------------------------------
// Problems

/// One problem the checks found, as data: [`write_problem`] words it (what
/// the flow macro shows), and the builder turns it into a
/// [`FlowError`](super::FlowError) whose message the same writers word, so
/// the two read the same. Atoms and nodes are indices into the [`FlowDesc`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem<'a> {
    /// A requirement of `atom` that nothing visible provides.
    Missing {
        /// The atom that requires it.
        atom: u32,
        /// The name it reads (after rebinding).
        name: &'a str,
        /// The parameter's type for messages, `""` when not known.
        ty: &'a str,
        /// Where a provider exists that the atom does not see.
        hint: Hint<'a>,
    },
    /// `rebind` or `inject` names an argument the atom's task does not have.
    UnknownArgument {
        /// The atom.
        atom: u32,
        /// `"rebind"` or `"inject"`.
        what: &'static str,
        /// The argument named.
        arg: &'a str,
    },
    /// `provides_as` does not fit what the task provides.
    ProvidesMismatch {
        /// The atom.
        atom: u32,
        /// How many values the task provides.
        task: usize,
        /// How many names the atom gives them.
        given: usize,
    },
    /// Two children of the graph or unordered flow `scope` export `name`
    /// (the providers: [`exporters`]).
    Ambiguous {
        /// The name.
        name: &'a str,
        /// The flow's node.
        scope: u32,
    },
    /// A declared input and `atom`, a child's provider in graph flow `scope`,
    /// both provide `name`.
    AmbiguousInput {
        /// The name.
        name: &'a str,
        /// The graph flow's node.
        scope: u32,
        /// The atom providing it.
        atom: u32,
    },
    /// A second atom named like `atom`.
    Duplicate {
        /// One of the atoms of that name.
        atom: u32,
    },
    /// A declared input that no task reads (flow macro only).
    UnusedInput {
        /// Its index in [`FlowDesc::inputs`].
        input: u32,
    },
}

/// Where the checks put the problems they find: as text (the flow macro, one
/// line each), or as [`Problem`]s in a caller's slice (the builder). A list
/// counts what does not fit, so a first pass may measure.
#[derive(Debug)]
pub enum Report<'r, 'b, 'a> {
    /// Words each problem into a message, one line each.
    Text(&'r mut Msg<'b>),
    /// Keeps each problem; `len` counts them all, stored or not.
    List {
        /// Where the problems go.
        out: &'r mut [Problem<'a>],
        /// How many were found.
        len: usize,
    },
}

impl<'a> Report<'_, '_, 'a> {
    /// How many problems were reported (text: how many bytes were written).
    pub const fn len(&self) -> usize {
        match self {
            Report::Text(m) => m.len(),
            Report::List { len, .. } => *len,
        }
    }

    /// Whether nothing was reported.
    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }

    const fn add(&mut self, d: &FlowDesc<'a>, p: Problem<'a>) {
        match self {
            Report::Text(m) => {
                write_sep(m);
                write_problem(m, d, p);
            }
            Report::List { out, len } => {
                if *len < out.len() {
                    out[*len] = p;
                }
                *len += 1;
            }
        }
    }
}

/// Words problem `p` of flow `d`.
pub const fn write_problem(m: &mut Msg<'_>, d: &FlowDesc<'_>, p: Problem<'_>) {
    let flow = flow_name(d);
    match p {
        Problem::Missing {
            atom,
            name,
            ty,
            hint,
        } => {
            let retry = is_retry(d, d.atoms[atom as usize].node);
            let atom = atom_name(&d.atoms[atom as usize]);
            let mut buf = [0u8; 512];
            let mut h = Msg::new(&mut buf);
            write_hint(&mut h, hint, atom);
            write_missing(m, flow, atom, retry, name, ty, h.as_str());
        }
        Problem::UnknownArgument { atom, what, arg } => {
            let a = &d.atoms[atom as usize];
            write_unknown_argument(m, flow, atom_name(a), what, arg, Names::Args(a.meta));
        }
        Problem::ProvidesMismatch { atom, task, given } => {
            write_provides_mismatch(m, flow, atom_name(&d.atoms[atom as usize]), task, given);
        }
        Problem::Ambiguous { name, scope } => {
            let mut list = [0u32; 16];
            let len = exporters(d, scope, name, &mut list);
            let shown = if len < list.len() { len } else { list.len() };
            let (listed, _) = list.split_at(shown);
            write_ambiguous(
                m,
                flow,
                name,
                Names::Nodes(d, listed),
                flow_kind(d, scope),
                node_name(d, scope),
            );
        }
        Problem::AmbiguousInput { name, scope, atom } => write_ambiguous(
            m,
            flow,
            name,
            Names::InputAnd(atom_name(&d.atoms[atom as usize])),
            FlowKind::Graph,
            node_name(d, scope),
        ),
        Problem::Duplicate { atom } => write_duplicate(m, flow, atom_name(&d.atoms[atom as usize])),
        Problem::UnusedInput { input } => {
            let (name, ty) = d.inputs[input as usize];
            write_unused_input(m, flow, name, ty);
        }
    }
}

// ---------------------------------------------------------------------------
// Text

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
const UNTYPED: &str = "serde_json::Value";

// ---------------------------------------------------------------------------
// Flow descriptions

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
    /// The explicit links of graph flows ([`Flow::link`](super::Flow::link),
    /// [`Flow::link_if`](super::Flow::link_if)).
    pub links: &'a [LinkDesc<'a>],
    /// The nodes that are retry atoms ([`Flow::retry`](super::Flow::retry)),
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

const fn flow_name<'a>(d: &FlowDesc<'a>) -> &'a str {
    node_name(d, 0)
}

/// How many names atom `a` provides.
const fn provided_count(a: &AtomDesc<'_>) -> usize {
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
const fn tuple_names<'t>(names: &'t Cow<'static, [Text]>) -> &'t [Text] {
    match names {
        Cow::Borrowed(s) => s,
        Cow::Owned(v) => v.as_slice(),
    }
}

/// The `k`-th name atom `a` provides.
const fn provided_name<'a>(a: &AtomDesc<'a>, k: usize) -> &'a str {
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
struct Arg<'a> {
    name: &'a str,
    /// The type for messages, `""` if unknown.
    ty: &'a str,
    optional: bool,
}

const fn params(meta: &TaskMeta) -> &[crate::task::Param] {
    match &meta.params {
        Cow::Borrowed(p) => p,
        Cow::Owned(v) => v.as_slice(),
    }
}

const fn extra(meta: &TaskMeta) -> &[Text] {
    match &meta.extra_requires {
        Cow::Borrowed(p) => p,
        Cow::Owned(v) => v.as_slice(),
    }
}

/// How many value arguments (value parameters, then `requires = [..]`).
const fn arg_count(meta: &TaskMeta) -> usize {
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
            return a.ty;
        }
        k += 1;
    }
    ""
}

const fn injected(a: &AtomDesc<'_>, arg: &str) -> bool {
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
const fn read_name<'a>(a: &AtomDesc<'a>, arg: &'a str) -> &'a str {
    let mut i = a.rebind.len();
    while i > 0 {
        i -= 1;
        if str_eq(a.rebind[i].0, arg) {
            return a.rebind[i].1;
        }
    }
    arg
}

// ---------------------------------------------------------------------------
// Tables, built once per flow

/// FNV-1a, 32 bits: names are sorted and searched by hash, and compared as
/// text only when their hashes are equal (cheap in `const` evaluation, where
/// every step costs).
const fn hash(s: &str) -> u32 {
    let b = s.as_bytes();
    let n = b.len();
    let mut h: u32 = 0x811c_9dc5;
    let mut i = 0;
    while i < n {
        h ^= b[i] as u32;
        // `wrapping_mul` without its two calls.
        h = (h as u64 * 0x0100_0193) as u32;
        i += 1;
    }
    h
}

/// How many `(atom, output)` pairs the flow has: the length of
/// [`Tables::providers`].
pub const fn provider_count(d: &FlowDesc<'_>) -> usize {
    let mut n = 0;
    let mut i = 0;
    let end = d.atoms.len();
    while i < end {
        n += provided_count(&d.atoms[i]);
        i += 1;
    }
    n
}

/// How many requirements (value arguments) the flow's atoms have: the length
/// of [`Tables::sources`].
pub const fn requirement_count(d: &FlowDesc<'_>) -> usize {
    let mut n = 0;
    let mut i = 0;
    let end = d.atoms.len();
    while i < end {
        n += arg_count(d.atoms[i].meta);
        i += 1;
    }
    n
}

const fn entry_atom(e: u32) -> u32 {
    e >> 8
}

const fn entry_elem(e: u32) -> u32 {
    e & 0xff
}

/// The element a retry's value has in provider entries. A retry's value is
/// JSON (its type is the controller's business): past the outputs the type
/// checks cover, so they leave it alone, while it is resolved, ordered and
/// reported like any other value.
const RETRY_ELEM: u32 = 0xff;

const fn entry_name<'a>(d: &FlowDesc<'a>, e: u32) -> &'a str {
    let elem = match entry_elem(e) {
        RETRY_ELEM => 0,
        k => k,
    };
    provided_name(&d.atoms[entry_atom(e) as usize], elem as usize)
}

const fn low(key: u64) -> u32 {
    (key & 0xffff_ffff) as u32
}

const fn sort_u64(v: &mut [u64]) {
    let n = v.len();
    let mut start = n / 2;
    while start > 0 {
        start -= 1;
        sift_u64(v, start, n);
    }
    let mut end = n;
    while end > 1 {
        end -= 1;
        let t = v[0];
        v[0] = v[end];
        v[end] = t;
        sift_u64(v, 0, end);
    }
}

const fn sift_u64(v: &mut [u64], mut root: usize, end: usize) {
    loop {
        let mut child = 2 * root + 1;
        if child >= end {
            return;
        }
        if child + 1 < end && v[child] < v[child + 1] {
            child += 1;
        }
        if v[root] >= v[child] {
            return;
        }
        let t = v[root];
        v[root] = v[child];
        v[child] = t;
        root = child;
    }
}

/// The hash (high half) of `keys[i]`.
const fn key_hash(keys: &[u64], i: usize) -> u32 {
    (keys[i] >> 32) as u32
}

/// The range of sorted `keys` whose hash (high half) is `h`.
const fn hash_range(keys: &[u64], h: u32) -> (usize, usize) {
    // Hashes are spread evenly: guess where `h` is from the first and last
    // hashes, then gallop from the guess and finish with a binary search, all
    // within a few entries of the guess (few cache misses in a large table).
    // `keys[..lo]` hash below `h`, `keys[hi..]` to `h` or above.
    let n = keys.len();
    if n == 0 {
        return (0, 0);
    }
    let (first, last) = (key_hash(keys, 0), key_hash(keys, n - 1));
    let guess = if h <= first {
        0
    } else if h > last {
        n
    } else {
        ((h - first) as u64 * (n - 1) as u64 / (last - first) as u64) as usize
    };
    let (mut lo, mut hi) = (0, n);
    let mut step = 1;
    if guess < n && key_hash(keys, guess) < h {
        lo = guess + 1;
        while lo + step - 1 < n {
            if key_hash(keys, lo + step - 1) < h {
                lo += step;
                step *= 2;
            } else {
                hi = lo + step - 1;
                break;
            }
        }
    } else {
        hi = guess;
        while hi >= step {
            if key_hash(keys, hi - step) >= h {
                hi -= step;
                step *= 2;
            } else {
                lo = hi - step + 1;
                break;
            }
        }
    }
    while lo < hi {
        let mid = (lo + hi) / 2;
        if key_hash(keys, mid) < h {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    // The end: galloping, so a one-entry run costs one step and a long run
    // (a name many atoms provide) a logarithm.
    let mut good = lo;
    let mut step = 1;
    while lo + step - 1 < keys.len() && (keys[lo + step - 1] >> 32) as u32 == h {
        good = lo + step;
        step *= 2;
    }
    let mut bad = if lo + step - 1 < keys.len() {
        lo + step - 1
    } else {
        keys.len()
    };
    // keys[..good] hold `h` or less, keys[bad..] more.
    while good < bad {
        let mid = (good + bad) / 2;
        if (keys[mid] >> 32) as u32 == h {
            good = mid + 1;
        } else {
            bad = mid;
        }
    }
    (lo, good)
}

/// The tables the checks share, built once per flow (the flow macro keeps each
/// in a `const` of its own and shares it by reference).
#[derive(Debug, Clone, Copy)]
pub struct Tables<'a> {
    /// Every `(atom, output)` pair as `hash(name) << 32 | atom << 8 | output`,
    /// sorted ([`fill_providers`]).
    pub providers: &'a [u64],
    /// Atom `i`'s requirements are `sources[offsets[i]..offsets[i + 1]]`
    /// ([`fill_offsets`]).
    pub offsets: &'a [u32],
    /// Where each requirement's value comes from ([`fill_sources`]).
    pub sources: &'a [u32],
    /// Every atom as `hash(atom name) << 32 | atom`, sorted ([`fill_names`]).
    pub names: &'a [u64],
}

/// Fills `out` ([`provider_count`] long) with the sorted provider table.
pub const fn fill_providers(d: &FlowDesc<'_>, out: &mut [u64]) {
    fill_provider_keys(d, out);
    sort_u64(out);
}

/// [`fill_providers`] without the sort: the table's keys in atom order (at
/// run time the builder sorts them with the standard library's sort, which
/// gives the same table faster than the heapsort `const` can run).
pub const fn fill_provider_keys(d: &FlowDesc<'_>, out: &mut [u64]) {
    let mut n = 0;
    let mut i = 0;
    let end = d.atoms.len();
    while i < end {
        let count = provided_count(&d.atoms[i]);
        let mut k = 0;
        while k < count {
            let name = provided_name(&d.atoms[i], k);
            let elem = if is_retry(d, d.atoms[i].node) {
                RETRY_ELEM as usize
            } else {
                k
            };
            out[n] = ((hash(name) as u64) << 32) | ((i as u64) << 8) | elem as u64;
            n += 1;
            k += 1;
        }
        i += 1;
    }
}

/// [`fill_providers`] into an array (`N` is [`provider_count`]).
pub const fn providers<const N: usize>(d: &FlowDesc<'_>) -> [u64; N] {
    let mut v = [0u64; N];
    fill_providers(d, &mut v);
    v
}

/// Fills `out` (one more than the atoms) with where each atom's requirements
/// start in [`Tables::sources`].
pub const fn fill_offsets(d: &FlowDesc<'_>, out: &mut [u32]) {
    let mut n = 0;
    let mut i = 0;
    let end = d.atoms.len();
    while i < end {
        out[i] = n;
        n += arg_count(d.atoms[i].meta) as u32;
        i += 1;
    }
    out[d.atoms.len()] = n;
}

/// [`fill_offsets`] into an array (`N` is the number of atoms plus one).
pub const fn offsets<const N: usize>(d: &FlowDesc<'_>) -> [u32; N] {
    let mut v = [0u32; N];
    fill_offsets(d, &mut v);
    v
}

/// Fills `out` (one per atom) with the sorted atom name table.
pub const fn fill_names(d: &FlowDesc<'_>, out: &mut [u64]) {
    fill_name_keys(d, out);
    sort_u64(out);
}

/// [`fill_names`] without the sort (see [`fill_provider_keys`]).
pub const fn fill_name_keys(d: &FlowDesc<'_>, out: &mut [u64]) {
    let mut i = 0;
    let end = d.atoms.len();
    while i < end {
        out[i] = ((hash(atom_name(&d.atoms[i])) as u64) << 32) | i as u64;
        i += 1;
    }
}

/// [`fill_names`] into an array (`N` is the number of atoms).
pub const fn names<const N: usize>(d: &FlowDesc<'_>) -> [u64; N] {
    let mut v = [0u64; N];
    fill_names(d, &mut v);
    v
}

/// A requirement that nothing visible provides.
const MISSING: u32 = u32::MAX;
/// A requirement with a fixed value (`inject`), or optional and absent.
const SKIPPED: u32 = u32::MAX - 1;
/// A requirement read from a declared input (its index in the low bits).
const INPUT: u32 = 1 << 31;

/// Fills `out` ([`requirement_count`] long) with each requirement's source,
/// in atom order then argument order: resolved as the engine will (see
/// [`Flow`](super::Flow)'s scoping).
pub const fn fill_sources(d: &FlowDesc<'_>, providers: &[u64], out: &mut [u32]) {
    let mut n = 0;
    let mut c = 0;
    let end = d.atoms.len();
    while c < end {
        let a = &d.atoms[c];
        let count = arg_count(a.meta);
        let mut k = 0;
        let mut cursor = ArgCursor::new();
        while k < count {
            let arg = cursor.next(a.meta);
            out[n] = if injected(a, arg.name) {
                SKIPPED
            } else {
                match resolve(d, providers, c as u32, read_name(a, arg.name)) {
                    MISSING if arg.optional => SKIPPED,
                    source => source,
                }
            };
            n += 1;
            k += 1;
        }
        c += 1;
    }
}

/// [`fill_sources`] into an array (`N` is [`requirement_count`]).
pub const fn sources<const N: usize>(d: &FlowDesc<'_>, providers: &[u64]) -> [u32; N] {
    let mut v = [0u32; N];
    fill_sources(d, providers, &mut v);
    v
}

/// Where a requirement's value comes from, as [`fill_sources`] resolved it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Nothing visible provides it ([`check_atom`] reports it).
    Missing,
    /// No value is read: the argument is injected, or optional and not
    /// provided, or provided ambiguously ([`check_flow`] reports that).
    Skipped,
    /// The declared input with this index.
    Input(u32),
    /// Output `elem` of atom `atom` (a single output is element 0).
    Output {
        /// The providing atom.
        atom: u32,
        /// The element of its outputs.
        elem: u32,
    },
}

/// Where requirement `k` of atom `i` (in value argument order) comes from.
pub const fn source(t: &Tables<'_>, i: usize, k: usize) -> Source {
    let s = t.sources[t.offsets[i] as usize + k];
    if s == MISSING {
        Source::Missing
    } else if s == SKIPPED {
        Source::Skipped
    } else if s & INPUT != 0 {
        Source::Input(s & !INPUT)
    } else {
        Source::Output {
            atom: entry_atom(s),
            elem: match entry_elem(s) {
                RETRY_ELEM => 0,
                k => k,
            },
        }
    }
}

/// When atom `consumer` reads a value of atom `provider` across a graph flow:
/// that flow's node and its children holding the provider and the consumer
/// (the data edge the graph orders).
pub const fn data_edge(d: &FlowDesc<'_>, consumer: u32, provider: u32) -> Option<(u32, u32, u32)> {
    let (scope, to, from) = common_scope(
        d,
        d.atoms[consumer as usize].node,
        d.atoms[provider as usize].node,
    );
    // A value of the consumer's own retry comes from before the graph: no
    // edge in it.
    match (flow_kind(d, scope), is_retry(d, from)) {
        (FlowKind::Graph, false) => Some((scope, from, to)),
        _ => None,
    }
}

/// Walks a task's value arguments in order, in one pass.
struct ArgCursor {
    param: usize,
    extra: usize,
}

impl ArgCursor {
    const fn new() -> ArgCursor {
        ArgCursor { param: 0, extra: 0 }
    }

    /// The next argument (there must be one).
    const fn next<'t>(&mut self, meta: &'t TaskMeta) -> Arg<'t> {
        let ps = params(meta);
        while self.param < ps.len() {
            let p = &ps[self.param];
            self.param += 1;
            let required = matches!(p.kind, ParamKind::Required);
            if required || matches!(p.kind, ParamKind::Optional) {
                let ty = text(&p.ty);
                return Arg {
                    name: text(&p.name),
                    ty: if required && !str_eq(ty, UNTYPED) {
                        ty
                    } else {
                        ""
                    },
                    optional: !required,
                };
            }
        }
        self.extra += 1;
        Arg {
            name: text(&extra(meta)[self.extra - 1]),
            ty: "",
            optional: false,
        }
    }
}

// ---------------------------------------------------------------------------
// Resolution

/// The innermost flow holding nodes `a` and `b`, and the children of it that
/// hold `a` and `b`.
const fn common_scope(d: &FlowDesc<'_>, mut a: u32, mut b: u32) -> (u32, u32, u32) {
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

const fn flow_kind(d: &FlowDesc<'_>, node: u32) -> FlowKind {
    match d.nodes[node as usize].kind {
        NodeKind::Flow(kind, _) => kind,
        NodeKind::Atom(_) => FlowKind::Linear,
    }
}

const fn input_index(d: &FlowDesc<'_>, name: &str) -> Option<u32> {
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

/// Resolves `name` for atom `c` as the engine will: the innermost enclosing
/// flow that sees a provider wins; in a linear flow the nearest earlier child,
/// in a graph flow any other child; an unordered flow's children see no
/// sibling; the declared inputs are the outermost provider. A retry runs
/// before its flow's other atoms, which all see what it provides (even in an
/// unordered flow); it sees only what its flow's surroundings provide.
/// Returns a provider entry, `INPUT | index` or `MISSING`.
///
/// Atoms come in depth-first order (the flow macro's retry atoms aside: they
/// come last), so the nearer a provider is to `c` in the provider table, the
/// deeper the flow they share: the search walks outwards from `c` and skips a
/// flow that cannot see a provider as one block (binary search), so a name a
/// long chain provides costs `O(depth · log n)`. The retries of the flows
/// around `c`, and retry atoms out of tree order, are compared one by one
/// (a flow has one retry at most); a retry's own requirements are resolved
/// by a scan of the name's providers.
const fn resolve(d: &FlowDesc<'_>, providers: &[u64], c: u32, name: &str) -> u32 {
    let cn = d.atoms[c as usize].node;
    if is_retry(d, cn) {
        return resolve_scan(d, providers, c, name);
    }
    // A chain's usual case, without a look-up: the atom just before `c`, in
    // the same linear flow, provides the name. No provider is nearer, and a
    // linear flow sees no later one (its retry, if it is that atom, is
    // nearest too).
    if c > 0 {
        let prev = &d.atoms[c as usize - 1];
        let parent = d.nodes[cn as usize].parent;
        if d.nodes[prev.node as usize].parent == parent
            && matches!(flow_kind(d, parent), FlowKind::Linear)
        {
            let mut k = provided_count(prev);
            while k > 0 {
                k -= 1;
                if str_eq(provided_name(prev, k), name) {
                    let elem = if is_retry(d, prev.node) {
                        RETRY_ELEM
                    } else {
                        k as u32
                    };
                    return ((c - 1) << 8) | elem;
                }
            }
        }
    }
    let (lo, hi) = hash_range(providers, hash(name));
    if lo == hi {
        // No atom (retries included) provides the name: a declared input, or
        // nothing (a chain's `seed`, without the walks below).
        return match input_index(d, name) {
            Some(i) => INPUT | i,
            None => MISSING,
        };
    }
    // The tree-ordered part of the table (the flow macro's retry atoms, last,
    // are compared one by one below).
    let ordered = ordered_atoms(d);
    let hi_o = atom_bound(providers, lo, hi, ordered as u32);
    let mut best = MISSING;
    let mut best_at = 0;
    // The depth of the flow the best provider shares with `c`, plus one.
    let mut best_depth = 0;
    let (mut best_scope, mut best_from) = (0u32, 0u32);
    // Earlier providers: the nearest is in the innermost shared flow, which
    // sees it unless it is unordered. (The retries of the flows around `c`
    // are compared below.)
    let mut k = atom_bound(providers, lo, hi_o, c);
    while k > lo {
        k -= 1;
        let e = low(providers[k]);
        if !str_eq(entry_name(d, e), name) || retry_around(d, e, cn) {
            continue;
        }
        let p = entry_atom(e);
        let (scope, _, from) = common_scope(d, cn, d.atoms[p as usize].node);
        if let FlowKind::Unordered = flow_kind(d, scope) {
            k = run_edge(d, providers, k, lo, scope, false);
            continue;
        }
        best = e;
        best_at = k;
        best_depth = d.nodes[scope as usize].depth + 1;
        best_scope = scope;
        best_from = from;
        break;
    }
    // Later providers: only a graph flow sees them, and then its last one
    // wins; a flow no deeper than the earlier provider's adds nothing better.
    let mut k = atom_bound(providers, lo, hi_o, c + 1);
    while k < hi_o {
        let e = low(providers[k]);
        if !str_eq(entry_name(d, e), name) {
            k += 1;
            continue;
        }
        let (scope, _, from) = common_scope(d, cn, d.atoms[entry_atom(e) as usize].node);
        let depth = d.nodes[scope as usize].depth;
        if best != MISSING && depth + 1 < best_depth {
            break;
        }
        let end = run_edge(d, providers, k, hi_o, scope, true);
        if let FlowKind::Graph = flow_kind(d, scope) {
            // The last provider of the name in the flow.
            let mut j = end;
            while !str_eq(entry_name(d, low(providers[j])), name) {
                j -= 1;
            }
            best = low(providers[j]);
            best_at = j;
            best_scope = scope;
            best_from = from;
            break;
        }
        if best != MISSING && depth + 1 == best_depth {
            break;
        }
        k = end + 1;
    }
    // The retries compared one by one: those of the flows around `c` (each
    // its flow's first child), then those out of tree order.
    let mut from_retry = false;
    let mut best_key = if best == MISSING {
        (0, 0, 0)
    } else {
        provider_key(d, cn, best)
    };
    let mut at = d.nodes[cn as usize].parent;
    // (A flow without retries skips the walk: the flow macro's usual case.)
    while !d.retries.is_empty() {
        let r = at + 1;
        if (r as usize) < d.nodes.len() && d.nodes[r as usize].parent == at && is_retry(d, r) {
            if let NodeKind::Atom(i) = d.nodes[r as usize].kind {
                if (i as usize) < ordered
                    && provided_count(&d.atoms[i as usize]) > 0
                    && str_eq(provided_name(&d.atoms[i as usize], 0), name)
                {
                    let e = (i << 8) | RETRY_ELEM;
                    let key = provider_key(d, cn, e);
                    if best == MISSING || key_less(best_key, key) {
                        (best, best_key, from_retry) = (e, key, true);
                    }
                }
            }
        }
        if at == 0 {
            break;
        }
        at = d.nodes[at as usize].parent;
    }
    let mut i = ordered;
    let end = d.atoms.len();
    while i < end {
        let a = &d.atoms[i];
        if provided_count(a) > 0 && str_eq(provided_name(a, 0), name) {
            let e = ((i as u32) << 8) | RETRY_ELEM;
            let (scope, to, from) = common_scope(d, cn, a.node);
            let key = provider_key(d, cn, e);
            if visible(d, scope, to, from) && (best == MISSING || key_less(best_key, key)) {
                (best, best_key, from_retry) = (e, key, true);
            }
        }
        i += 1;
    }
    if from_retry {
        let (scope, _, from) = common_scope(d, cn, d.atoms[entry_atom(best) as usize].node);
        best_scope = scope;
        best_from = from;
    }
    // Where two children of a graph or unordered flow provide the name (or a
    // nested flow does, for a linear one), the engine reads no value: that
    // ambiguity is reported once, for the flow; the requirement adds nothing.
    let named = named_twice(d, providers, lo, hi, name);
    if best != MISSING && named {
        let exporter = match flow_kind(d, best_scope) {
            FlowKind::Linear => best_from,
            _ => best_scope,
        };
        let twice = if from_retry || holds_retry(d, exporter) {
            // Retries take part: the walk of the exporter's subtree.
            let e = match flow_kind(d, best_scope) {
                FlowKind::Linear => export(d, exporter, name),
                _ => union_export(d, exporter, name),
            };
            e == AMBIGUOUS_EXPORT
        } else {
            // The providers of the name inside the exporter: a run of the
            // table around the best one.
            let mut first = run_edge(d, providers, best_at, lo, exporter, false);
            while !str_eq(entry_name(d, low(providers[first])), name) {
                first += 1;
            }
            let mut last = run_edge(d, providers, best_at, hi_o, exporter, true);
            while !str_eq(entry_name(d, low(providers[last])), name) {
                last -= 1;
            }
            exports_twice(d, providers, lo, exporter, name, first, last)
        };
        if twice {
            return SKIPPED;
        }
    }
    if best == MISSING && named && ambiguous_around(d, cn, name) {
        return SKIPPED;
    }
    if best == MISSING {
        if let Some(i) = input_index(d, name) {
            return INPUT | i;
        }
    }
    best
}

/// Whether a provider in `scope`'s child `from` is visible to its child `to`
/// (see [`resolve`]).
const fn visible(d: &FlowDesc<'_>, scope: u32, to: u32, from: u32) -> bool {
    if is_retry(d, from) {
        true
    } else if is_retry(d, to) {
        false
    } else {
        match flow_kind(d, scope) {
            FlowKind::Linear => d.nodes[from as usize].pos < d.nodes[to as usize].pos,
            FlowKind::Graph => true,
            FlowKind::Unordered => false,
        }
    }
}

/// How near provider entry `e` is to node `cn`, the larger the nearer: the
/// depth of the flow they share, the provider's child's position in it, then
/// the provider's place in the tree (a retry comes before its flow's atoms).
const fn provider_key(d: &FlowDesc<'_>, cn: u32, e: u32) -> (u32, u32, u32) {
    let node = d.atoms[entry_atom(e) as usize].node;
    let (scope, _, from) = common_scope(d, cn, node);
    (
        d.nodes[scope as usize].depth + 1,
        d.nodes[from as usize].pos,
        node,
    )
}

const fn key_less(a: (u32, u32, u32), b: (u32, u32, u32)) -> bool {
    a.0 < b.0 || a.0 == b.0 && (a.1 < b.1 || a.1 == b.1 && a.2 < b.2)
}

/// Whether provider entry `e` is the retry of a flow around node `cn`.
const fn retry_around(d: &FlowDesc<'_>, e: u32, cn: u32) -> bool {
    entry_elem(e) == RETRY_ELEM && {
        let node = d.atoms[entry_atom(e) as usize].node;
        holds(d, d.nodes[node as usize].parent, cn)
    }
}

/// How many atoms come in tree order: all but the retry atoms the flow macro
/// puts last.
const fn ordered_atoms(d: &FlowDesc<'_>) -> usize {
    let mut n = d.atoms.len();
    while n > 0 && is_retry(d, d.atoms[n - 1].node) {
        n -= 1;
    }
    // A trailing retry in tree order (the builder's, of a flow with nothing
    // else) is compared one by one all the same.
    n
}

/// Whether node `x`'s subtree holds a retry (nodes are depth first: the first
/// retry past `x` is in it if any is).
const fn holds_retry(d: &FlowDesc<'_>, x: u32) -> bool {
    let (mut lo, mut hi) = (0, d.retries.len());
    while lo < hi {
        let mid = (lo + hi) / 2;
        if d.retries[mid] <= x {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo < d.retries.len() && holds(d, x, d.retries[lo])
}

/// [`resolve`] by a scan of all providers of the name: for a retry's own
/// requirements, which look names up around its flow.
const fn resolve_scan(d: &FlowDesc<'_>, providers: &[u64], c: u32, name: &str) -> u32 {
    let cn = d.atoms[c as usize].node;
    let (lo, hi) = hash_range(providers, hash(name));
    let mut best = MISSING;
    let mut best_key = (0u32, 0u32, 0u32);
    let (mut best_scope, mut best_from) = (0u32, 0u32);
    let mut named = 0;
    let mut k = lo;
    while k < hi {
        let e = low(providers[k]);
        let p = entry_atom(e);
        if str_eq(entry_name(d, e), name) {
            named += 1;
            if p != c {
                let (scope, to, from) = common_scope(d, cn, d.atoms[p as usize].node);
                let key = provider_key(d, cn, e);
                if visible(d, scope, to, from) && (best == MISSING || key_less(best_key, key)) {
                    best_key = key;
                    best = e;
                    best_scope = scope;
                    best_from = from;
                }
            }
        }
        k += 1;
    }
    if best != MISSING && named > 1 {
        let exporter = match flow_kind(d, best_scope) {
            FlowKind::Linear => best_from,
            _ => best_scope,
        };
        let e = match flow_kind(d, best_scope) {
            FlowKind::Linear => export(d, exporter, name),
            _ => union_export(d, exporter, name),
        };
        if e == AMBIGUOUS_EXPORT {
            return SKIPPED;
        }
    }
    if best == MISSING && named > 1 && ambiguous_around(d, cn, name) {
        return SKIPPED;
    }
    if best == MISSING {
        if let Some(i) = input_index(d, name) {
            return INPUT | i;
        }
    }
    best
}

/// Whether two providers (or two outputs of one) have the name `name`.
const fn named_twice(
    d: &FlowDesc<'_>,
    providers: &[u64],
    lo: usize,
    hi: usize,
    name: &str,
) -> bool {
    let mut named = 0;
    let mut k = lo;
    while k < hi && named < 2 {
        if str_eq(entry_name(d, low(providers[k])), name) {
            named += 1;
        }
        k += 1;
    }
    named == 2
}

/// Whether node `x`'s subtree holds node `n`.
const fn holds(d: &FlowDesc<'_>, x: u32, mut n: u32) -> bool {
    let depth = d.nodes[x as usize].depth;
    while d.nodes[n as usize].depth > depth {
        n = d.nodes[n as usize].parent;
    }
    n == x
}

/// The child of flow `x` whose subtree holds node `n` (below `x`).
const fn child_toward(d: &FlowDesc<'_>, x: u32, mut n: u32) -> u32 {
    let depth = d.nodes[x as usize].depth + 1;
    while d.nodes[n as usize].depth > depth {
        n = d.nodes[n as usize].parent;
    }
    n
}

/// The node of the atom of provider `providers[k]`.
const fn entry_node(d: &FlowDesc<'_>, providers: &[u64], k: usize) -> u32 {
    d.atoms[entry_atom(low(providers[k])) as usize].node
}

/// From position `k` of one hash's run, whose provider is inside node `x`,
/// the farthest position towards `bound` (exclusive going up, inclusive going
/// down) whose provider still is: atoms come depth first, so the providers
/// inside `x` are one run of the table (galloping, then binary search).
const fn run_edge(
    d: &FlowDesc<'_>,
    providers: &[u64],
    k: usize,
    bound: usize,
    x: u32,
    up: bool,
) -> usize {
    let max = if up { bound - 1 - k } else { k - bound };
    let mut good = 0;
    let mut step = 1;
    while step <= max
        && holds(
            d,
            x,
            entry_node(d, providers, if up { k + step } else { k - step }),
        )
    {
        good = step;
        step *= 2;
    }
    let mut bad = if step <= max { step } else { max + 1 };
    while bad - good > 1 {
        let mid = (good + bad) / 2;
        if holds(
            d,
            x,
            entry_node(d, providers, if up { k + mid } else { k - mid }),
        ) {
            good = mid;
        } else {
            bad = mid;
        }
    }
    if up {
        k + good
    } else {
        k - good
    }
}

/// Whether [`export`] of node `x` is [`AMBIGUOUS_EXPORT`], read from the
/// providers of `name` inside `x`: `providers[first..=last]` (both named
/// `name`; `lo` starts the hash's run). A subtree exports the name when it
/// holds a provider of it, so: a graph or unordered flow is ambiguous when
/// its first and last providers are under two children, and otherwise as
/// that child is; a linear flow is as its last child holding one is. One
/// step per level, not a walk of the subtree.
const fn exports_twice(
    d: &FlowDesc<'_>,
    providers: &[u64],
    lo: usize,
    mut x: u32,
    name: &str,
    mut first: usize,
    last: usize,
) -> bool {
    loop {
        let kind = match d.nodes[x as usize].kind {
            NodeKind::Atom(_) => return false,
            NodeKind::Flow(kind, _) => kind,
        };
        let to_last = child_toward(d, x, entry_node(d, providers, last));
        if let FlowKind::Linear = kind {
            first = run_edge(d, providers, last, lo, to_last, false);
            while !str_eq(entry_name(d, low(providers[first])), name) {
                first += 1;
            }
        } else if child_toward(d, x, entry_node(d, providers, first)) != to_last {
            return true;
        }
        x = to_last;
    }
}

/// Whether an enclosing flow of `node` sees `name` provided twice, as the
/// engine looks names up: a graph flow by all its children's exports, a
/// linear one by its earlier children's.
const fn ambiguous_around(d: &FlowDesc<'_>, node: u32, name: &str) -> bool {
    // A retry looks names up around its flow.
    let mut at = if is_retry(d, node) {
        d.nodes[node as usize].parent
    } else {
        node
    };
    while at != 0 {
        let scope = d.nodes[at as usize].parent;
        match flow_kind(d, scope) {
            FlowKind::Graph => {
                if union_export(d, scope, name) == AMBIGUOUS_EXPORT {
                    return true;
                }
            }
            FlowKind::Linear => {
                let mut last = NO_EXPORT;
                let mut child = scope + 1;
                while (child as usize) < d.nodes.len()
                    && d.nodes[child as usize].depth > d.nodes[scope as usize].depth
                {
                    if d.nodes[child as usize].parent == scope
                        && d.nodes[child as usize].pos < d.nodes[at as usize].pos
                    {
                        let e = export(d, child, name);
                        if e != NO_EXPORT {
                            last = e;
                        }
                    }
                    child += 1;
                }
                if last == AMBIGUOUS_EXPORT {
                    return true;
                }
            }
            FlowKind::Unordered => {}
        }
        at = scope;
    }
    false
}

// ---------------------------------------------------------------------------
// Per-atom checks

const fn write_sep(m: &mut Msg<'_>) {
    if !m.is_empty() {
        m.push("\n");
    }
}

/// Checks atom `i`: each requirement has a visible provider, `rebind` and
/// `inject` name real arguments, `provides_as` fits. Writes every problem into
/// `m` (one line each) and returns whether there was any.
pub const fn check_atom(d: &FlowDesc<'_>, t: &Tables<'_>, i: usize, m: &mut Msg<'_>) -> bool {
    let start = m.len();
    atom_problems(d, t, i, &mut Report::Text(m));
    m.len() > start
}

/// The problems of atom `i` that [`check_atom`] words, in the same order.
pub const fn atom_problems<'a>(
    d: &FlowDesc<'a>,
    t: &Tables<'_>,
    i: usize,
    r: &mut Report<'_, '_, 'a>,
) {
    let a = &d.atoms[i];
    let off = t.offsets[i] as usize;
    let n = arg_count(a.meta);
    let mut cursor = ArgCursor::new();
    let mut k = 0;
    while k < n {
        let arg = cursor.next(a.meta);
        if t.sources[off + k] == MISSING {
            let name = read_name(a, arg.name);
            let hint = missing_hint(d, t.providers, i as u32, name);
            r.add(
                d,
                Problem::Missing {
                    atom: i as u32,
                    name,
                    ty: arg.ty,
                    hint,
                },
            );
        }
        k += 1;
    }
    let mut q = 0;
    while q < a.rebind.len() + a.inject.len() {
        let (what, arg) = if q < a.rebind.len() {
            ("rebind", a.rebind[q].0)
        } else {
            ("inject", a.inject[q - a.rebind.len()])
        };
        let mut known = false;
        let mut cursor = ArgCursor::new();
        let mut k = 0;
        while k < n && !known {
            known = str_eq(cursor.next(a.meta).name, arg);
            k += 1;
        }
        if !known {
            r.add(
                d,
                Problem::UnknownArgument {
                    atom: i as u32,
                    what,
                    arg,
                },
            );
        }
        q += 1;
    }
    let task_count = match &a.meta.provides {
        Provides::Nothing => 0,
        Provides::One(_) => 1,
        Provides::Tuple(names) => tuple_names(names).len(),
    };
    let task_tuple = matches!(a.meta.provides, Provides::Tuple(_));
    let fits = match a.provides {
        ProvidesAs::Task => true,
        ProvidesAs::One(_) => !task_tuple,
        ProvidesAs::Each(names) => task_tuple && names.len() == task_count,
    };
    if !fits {
        r.add(
            d,
            Problem::ProvidesMismatch {
                atom: i as u32,
                task: task_count,
                given: provided_count(a),
            },
        );
    }
}

/// The hint of a missing requirement of atom `i`: the first later provider of
/// `name`, else the first earlier one, in the order the builder adds atoms:
/// the tree's (a retry comes before its flow's atoms).
const fn missing_hint<'a>(d: &FlowDesc<'a>, providers: &[u64], i: u32, name: &str) -> Hint<'a> {
    let (lo, hi) = hash_range(providers, hash(name));
    let an = d.atoms[i as usize].node;
    // The tree-ordered atoms: the first provider at all, and the first one
    // past atom `i`'s node.
    let ordered = ordered_atoms(d);
    let hi_o = atom_bound(providers, lo, hi, ordered as u32);
    let mut earlier = u32::MAX;
    let mut later = u32::MAX;
    let mut j = lo;
    while j < hi_o && !str_eq(entry_name(d, low(providers[j])), name) {
        j += 1;
    }
    if j < hi_o {
        let first = entry_atom(low(providers[j]));
        if d.atoms[first as usize].node < an {
            earlier = first;
        }
    }
    let mut j = node_bound(d, providers, lo, hi_o, an + 1);
    while j < hi_o {
        let e = low(providers[j]);
        if str_eq(entry_name(d, e), name) {
            later = entry_atom(e);
            break;
        }
        j += 1;
    }
    // The retry atoms out of tree order.
    let mut p = ordered;
    let end = d.atoms.len();
    while p < end {
        let a = &d.atoms[p];
        if provided_count(a) > 0 && str_eq(provided_name(a, 0), name) {
            let pn = a.node;
            if pn > an && (later == u32::MAX || pn < d.atoms[later as usize].node) {
                later = p as u32;
            }
            if pn < an && (earlier == u32::MAX || pn < d.atoms[earlier as usize].node) {
                earlier = p as u32;
            }
        }
        p += 1;
    }
    if later != u32::MAX {
        Hint::Later(atom_name(&d.atoms[later as usize]))
    } else if earlier != u32::MAX {
        Hint::Independent(atom_name(&d.atoms[earlier as usize]))
    } else {
        Hint::None
    }
}

/// The first position in `providers[lo..hi]` (one hash, tree-ordered atoms)
/// whose atom's node is `node` or later.
const fn node_bound(
    d: &FlowDesc<'_>,
    providers: &[u64],
    mut lo: usize,
    mut hi: usize,
    node: u32,
) -> usize {
    while lo < hi {
        let mid = (lo + hi) / 2;
        if entry_node(d, providers, mid) < node {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// The first position in `providers[lo..hi]` (one hash) whose atom is `atom`
/// or later.
const fn atom_bound(providers: &[u64], mut lo: usize, mut hi: usize, atom: u32) -> usize {
    while lo < hi {
        let mid = (lo + hi) / 2;
        if ((providers[mid] & 0xffff_ffff) as u32) >> 8 < atom {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// Whether each atom has a problem [`check_atom`] reports, all atoms in one
/// pass: the flow macro evaluates this once, and formats a message only for
/// the atoms it flags.
pub const fn atom_flags<const N: usize>(d: &FlowDesc<'_>, t: &Tables<'_>) -> [bool; N] {
    let mut flags = [false; N];
    let mut i = 0;
    while i < N {
        let mut r = Report::List {
            out: &mut [],
            len: 0,
        };
        atom_problems(d, t, i, &mut r);
        flags[i] = !r.is_empty();
        i += 1;
    }
    flags
}

// ---------------------------------------------------------------------------
// Whole-flow checks

/// The scratch [`check_flow`] needs, in `u32`s.
pub const fn flow_scratch_len(d: &FlowDesc<'_>) -> usize {
    let e = requirement_count(d) + d.links.len();
    d.inputs.len() + 2 * e + Cycles::scratch_len(d.nodes.len(), e)
}

/// Checks the whole flow: two providers of one name in a graph or unordered
/// flow (or an input and a task, in a graph flow), two atoms of one name,
/// dependency cycles, and inputs that no task reads. Writes every problem into
/// `m` and returns whether there was any. `scratch` has [`flow_scratch_len`]
/// elements.
pub const fn check_flow(
    d: &FlowDesc<'_>,
    t: &Tables<'_>,
    scratch: &mut [u32],
    m: &mut Msg<'_>,
) -> bool {
    let start = m.len();
    flow_problems(d, t, scratch, true, &mut Report::Text(m));
    m.len() > start
}

/// The problems [`check_flow`] words, in the same order. Without `whole`, only
/// those about names — ambiguous providers and duplicate atoms — and
/// `scratch` needs only [`name_scratch_len`] elements: the builder runs the
/// same cycle search ([`Cycles`]) on the same edges (data edges from
/// [`data_edge`], links from [`link_nodes`]) itself, keeping the path, and
/// takes the engine's inputs as a superset of what the flow reads. Cycles are
/// only written as text: a [`Report::List`] never sees them.
pub const fn flow_problems<'a>(
    d: &FlowDesc<'a>,
    t: &Tables<'_>,
    scratch: &mut [u32],
    whole: bool,
    r: &mut Report<'_, '_, 'a>,
) {
    ambiguities(d, t.providers, r);
    // Two atoms with one name.
    let names = t.names;
    let mut i = 1;
    let end = names.len();
    while i < end {
        if names[i] >> 32 == names[i - 1] >> 32 {
            let a = atom_name(&d.atoms[low(names[i]) as usize]);
            // Once per name: only at its second atom among equal hashes.
            let mut earlier = 0;
            let mut j = i;
            while j > 0 && names[j - 1] >> 32 == names[i] >> 32 && earlier < 2 {
                j -= 1;
                if str_eq(atom_name(&d.atoms[low(names[j]) as usize]), a) {
                    earlier += 1;
                }
            }
            if earlier == 1 {
                r.add(
                    d,
                    Problem::Duplicate {
                        atom: low(names[i]),
                    },
                );
            }
        }
        i += 1;
    }
    // Data edges between the children of graph flows; inputs read.
    let (used, rest) = scratch.split_at_mut(d.inputs.len());
    let mut x = 0;
    let end = used.len();
    while x < end {
        used[x] = 0;
        x += 1;
    }
    let e_max = if whole {
        t.sources.len() + d.links.len()
    } else {
        0
    };
    let (edges, rest) = rest.split_at_mut(2 * e_max);
    let mut e = 0;
    let mut input_reported = [u32::MAX; 16];
    let graphs = has_graph(d);
    let mut c = 0;
    let end = d.atoms.len();
    while c < end {
        let a = &d.atoms[c];
        let off = t.offsets[c] as usize;
        let n = arg_count(a.meta);
        let mut cursor = ArgCursor::new();
        let mut k = 0;
        while k < n {
            let arg = cursor.next(a.meta);
            let source = t.sources[off + k];
            if source != MISSING && source != SKIPPED && source & INPUT != 0 {
                used[(source & !INPUT) as usize] = 1;
            } else if graphs && source != MISSING && source != SKIPPED {
                let p = entry_atom(source);
                if let Some((scope, from, to)) = data_edge(d, c as u32, p) {
                    if whole {
                        edges[2 * e] = from;
                        edges[2 * e + 1] = to;
                        e += 1;
                    }
                    // An input of the same name is a second provider (unless
                    // the flow's children already provide it twice: reported
                    // as such).
                    let name = read_name(a, arg.name);
                    if let Some(input) = input_index(d, name) {
                        let key = scope * 64 + input;
                        let mut seen = union_export(d, scope, name) == AMBIGUOUS_EXPORT;
                        let mut s = 0;
                        while s < input_reported.len() && !seen {
                            if input_reported[s] == key {
                                seen = true;
                            } else if input_reported[s] == u32::MAX {
                                input_reported[s] = key;
                                break;
                            }
                            s += 1;
                        }
                        if !seen {
                            r.add(
                                d,
                                Problem::AmbiguousInput {
                                    name,
                                    scope,
                                    atom: p,
                                },
                            );
                        }
                    }
                }
            }
            k += 1;
        }
        c += 1;
    }
    if !whole {
        return;
    }
    // Explicit links (those that name no child are reported by
    // `check_link_end`).
    let mut k = 0;
    let end = d.links.len();
    while k < end {
        if let Some((from, to)) = link_nodes(d, t, k) {
            edges[2 * e] = from;
            edges[2 * e + 1] = to;
            e += 1;
        }
        k += 1;
    }
    let (edges, _) = edges.split_at_mut(2 * e);
    sort_pairs(edges);
    let e = dedup_pairs(edges);
    let (edges, _) = edges.split_at(2 * e);
    let mut cycles = Cycles::new(d.nodes.len(), edges, rest);
    let mut path = [0u32; 256];
    let flow = flow_name(d);
    loop {
        let len = cycles.next(edges, rest, &mut path);
        if len == 0 {
            break;
        }
        let shown = if len > path.len() { path.len() } else { len };
        let (cycle, _) = path.split_at(shown);
        if let Report::Text(m) = r {
            write_sep(m);
            write_cycle(m, flow, Names::Nodes(d, cycle));
        }
    }
    // Inputs nothing reads.
    let mut i = 0;
    let end = d.inputs.len();
    while i < end {
        if used[i] == 0 {
            r.add(d, Problem::UnusedInput { input: i as u32 });
        }
        i += 1;
    }
}

/// The scratch [`flow_problems`] needs without `whole`, in `u32`s.
pub const fn name_scratch_len(d: &FlowDesc<'_>) -> usize {
    d.inputs.len()
}

// ---------------------------------------------------------------------------
// Links

/// No child of that name.
const NO_CHILD: u32 = u32::MAX;

/// Whether the flow holds a graph flow: without one, no value orders
/// anything beyond the structure (no data edge, no input met in a graph).
pub const fn has_graph(d: &FlowDesc<'_>) -> bool {
    let mut i = 0;
    let end = d.nodes.len();
    while i < end {
        if is_graph(d, i as u32) {
            return true;
        }
        i += 1;
    }
    false
}

const fn is_graph(d: &FlowDesc<'_>, node: u32) -> bool {
    matches!(
        d.nodes[node as usize].kind,
        NodeKind::Flow(FlowKind::Graph, _)
    )
}

/// The node of the child of `flow` named `name` (an atom, else a nested
/// flow; its retry left out), or [`NO_CHILD`].
const fn link_end(d: &FlowDesc<'_>, t: &Tables<'_>, flow: u32, name: &str) -> u32 {
    let (lo, hi) = hash_range(t.names, hash(name));
    let mut k = lo;
    while k < hi {
        let a = &d.atoms[low(t.names[k]) as usize];
        if d.nodes[a.node as usize].parent == flow
            && !is_retry(d, a.node)
            && str_eq(atom_name(a), name)
        {
            return a.node;
        }
        k += 1;
    }
    let mut child = flow + 1;
    while let Some(c) = next_child(d, flow, child) {
        if let NodeKind::Flow(_, n) = d.nodes[c as usize].kind {
            if str_eq(n, name) {
                return c;
            }
        }
        child = c + 1;
    }
    NO_CHILD
}

/// The children link `k` orders, as `(from, to)` nodes: `None` when it is
/// not in a graph flow or an end names no child (mistakes [`check_link`] and
/// [`check_link_end`] report). The builder orders by these ends too.
pub const fn link_nodes(d: &FlowDesc<'_>, t: &Tables<'_>, k: usize) -> Option<(u32, u32)> {
    if !is_graph(d, d.links[k].flow) {
        return None;
    }
    match (link_end_node(d, t, k, false), link_end_node(d, t, k, true)) {
        (Some(from), Some(to)) => Some((from, to)),
        _ => None,
    }
}

/// One end of link `k`, as [`link_nodes`] finds it: the node of the child it
/// names, or `None`.
pub const fn link_end_node(d: &FlowDesc<'_>, t: &Tables<'_>, k: usize, to: bool) -> Option<u32> {
    let l = &d.links[k];
    match link_end(d, t, l.flow, if to { l.to } else { l.from }) {
        NO_CHILD => None,
        node => Some(node),
    }
}

/// Checks that link `k` is in a graph flow (the builder's rule: only graph
/// flows take links). Writes the problem into `m` and returns whether there
/// was one.
pub const fn check_link(d: &FlowDesc<'_>, k: usize, m: &mut Msg<'_>) -> bool {
    let l = &d.links[k];
    match d.nodes[l.flow as usize].kind {
        NodeKind::Flow(FlowKind::Graph, _) | NodeKind::Atom(_) => false,
        NodeKind::Flow(kind, scope) => {
            write_link_outside_graph(m, flow_name(d), kind, scope, l.from, l.to);
            true
        }
    }
}

/// Checks that one end of link `k` (its target if `to`, else its source)
/// names a child of the link's graph flow: an atom by its name, or a nested
/// flow. Writes the problem into `m` (listing the children) and returns
/// whether there was one. A link outside a graph flow is [`check_link`]'s.
pub const fn check_link_end(
    d: &FlowDesc<'_>,
    t: &Tables<'_>,
    k: usize,
    to: bool,
    m: &mut Msg<'_>,
) -> bool {
    let l = &d.links[k];
    let end = if to { l.to } else { l.from };
    if !is_graph(d, l.flow) || link_end(d, t, l.flow, end) != NO_CHILD {
        return false;
    }
    write_unknown_link_end(
        m,
        flow_name(d),
        node_name(d, l.flow),
        l.from,
        l.to,
        end,
        Names::Children(d, l.flow),
    );
    true
}

// ---------------------------------------------------------------------------
// Exports

const NO_EXPORT: u32 = u32::MAX;
const AMBIGUOUS_EXPORT: u32 = u32::MAX - 1;

/// What the subtree at `node` provides to its siblings under `name`: the node
/// of the atom, [`NO_EXPORT`] or [`AMBIGUOUS_EXPORT`] (two of its children of a
/// graph or unordered flow export it). A linear flow exports its last child's.
const fn export(d: &FlowDesc<'_>, node: u32, name: &str) -> u32 {
    export_of(d, node, name, false)
}

/// What a graph or unordered flow's children see provided under `name` by
/// one another: [`export`] without the flow's retry (the builder orders the
/// retry before them, outside their union).
const fn union_export(d: &FlowDesc<'_>, node: u32, name: &str) -> u32 {
    export_of(d, node, name, true)
}

const fn export_of(d: &FlowDesc<'_>, node: u32, name: &str, skip_retry: bool) -> u32 {
    match d.nodes[node as usize].kind {
        NodeKind::Atom(i) => {
            let a = &d.atoms[i as usize];
            let mut k = 0;
            while k < provided_count(a) {
                if str_eq(provided_name(a, k), name) {
                    return node;
                }
                k += 1;
            }
            NO_EXPORT
        }
        NodeKind::Flow(kind, _) => {
            let mut found = NO_EXPORT;
            let mut child = node + 1;
            while (child as usize) < d.nodes.len()
                && d.nodes[child as usize].depth > d.nodes[node as usize].depth
            {
                if d.nodes[child as usize].parent == node && !(skip_retry && is_retry(d, child)) {
                    let e = export(d, child, name);
                    if e != NO_EXPORT {
                        found = match kind {
                            FlowKind::Linear => e,
                            _ if found == NO_EXPORT => e,
                            _ => AMBIGUOUS_EXPORT,
                        };
                    }
                }
                child += 1;
            }
            found
        }
    }
}

/// Two providers of one name whose common flow is a graph or unordered flow.
///
/// Providers are sorted by atom, and atoms come in the order of a depth-first
/// walk, so the flows where two providers of a name meet are the flows where
/// two consecutive ones meet: one pass, even for a name a long chain provides.
const fn ambiguities<'a>(d: &FlowDesc<'a>, providers: &[u64], r: &mut Report<'_, '_, 'a>) {
    // The flow macro's retry atoms come last, out of tree order: each is met
    // with every other provider of its name (a flow has one retry at most).
    let ordered = ordered_atoms(d) as u32;
    let mut lo = 0;
    let end = providers.len();
    while lo < end {
        let h = providers[lo] >> 32;
        let mut hi = lo + 1;
        while hi < providers.len() && providers[hi] >> 32 == h {
            hi += 1;
        }
        // Each flow where two providers of one name meet unordered, once.
        let mut reported = [u32::MAX; 8];
        let mut a = lo;
        while a < hi {
            let ea = low(providers[a]);
            let name = entry_name(d, ea);
            let na = d.atoms[entry_atom(ea) as usize].node;
            if entry_atom(ea) >= ordered {
                let mut b = lo;
                while b < hi {
                    let eb = low(providers[b]);
                    if b != a && str_eq(entry_name(d, eb), name) {
                        let nb = d.atoms[entry_atom(eb) as usize].node;
                        meet(d, na, nb, name, &mut reported, r);
                    }
                    b += 1;
                }
            } else {
                // The next provider of the same name.
                let mut b = a + 1;
                while b < hi && !str_eq(entry_name(d, low(providers[b])), name) {
                    b += 1;
                }
                if b < hi {
                    let nb = d.atoms[entry_atom(low(providers[b])) as usize].node;
                    meet(d, na, nb, name, &mut reported, r);
                }
            }
            a += 1;
        }
        lo = hi;
    }
}

/// Providers of `name` at nodes `na` and `nb`: reports their common flow if it
/// is a graph or unordered flow they are two children of (a retry is not among
/// the children its flow orders), once per flow (`reported`).
const fn meet<'a>(
    d: &FlowDesc<'a>,
    na: u32,
    nb: u32,
    name: &'a str,
    reported: &mut [u32; 8],
    r: &mut Report<'_, '_, 'a>,
) {
    let (scope, ca, cb) = common_scope(d, na, nb);
    let parallel = !matches!(flow_kind(d, scope), FlowKind::Linear);
    if !parallel || ca == cb || is_retry(d, ca) || is_retry(d, cb) {
        return;
    }
    let mut s = 0;
    let end = reported.len();
    while s < end {
        if reported[s] == scope {
            return;
        }
        s += 1;
    }
    let mut s = 0;
    let end = reported.len();
    while s < end {
        if reported[s] == u32::MAX {
            reported[s] = scope;
            break;
        }
        s += 1;
    }
    r.add(d, Problem::Ambiguous { name, scope });
}

/// What each child of flow `scope` exports under `name` (the engine's rule):
/// the nodes of those atoms, in order, into `out` as far as it goes; a child
/// with an ambiguity of its own is left out. Returns how many there are.
pub const fn exporters(d: &FlowDesc<'_>, scope: u32, name: &str, out: &mut [u32]) -> usize {
    let mut len = 0;
    let mut child = scope + 1;
    while (child as usize) < d.nodes.len()
        && d.nodes[child as usize].depth > d.nodes[scope as usize].depth
    {
        if d.nodes[child as usize].parent == scope && !is_retry(d, child) {
            let e = export(d, child, name);
            if e != NO_EXPORT && e != AMBIGUOUS_EXPORT {
                if len < out.len() {
                    out[len] = e;
                }
                len += 1;
            }
        }
        child += 1;
    }
    len
}

const fn pair_less(v: &[u32], a: usize, b: usize) -> bool {
    v[2 * a] < v[2 * b] || v[2 * a] == v[2 * b] && v[2 * a + 1] < v[2 * b + 1]
}

const fn swap_pairs(v: &mut [u32], a: usize, b: usize) {
    let (x, y) = (v[2 * a], v[2 * a + 1]);
    v[2 * a] = v[2 * b];
    v[2 * a + 1] = v[2 * b + 1];
    v[2 * b] = x;
    v[2 * b + 1] = y;
}

/// Sorts `[from, to, from, to, ..]` pairs (heapsort).
pub const fn sort_pairs(v: &mut [u32]) {
    let n = v.len() / 2;
    let mut start = n / 2;
    while start > 0 {
        start -= 1;
        sift_pairs(v, start, n);
    }
    let mut end = n;
    while end > 1 {
        end -= 1;
        swap_pairs(v, 0, end);
        sift_pairs(v, 0, end);
    }
}

const fn sift_pairs(v: &mut [u32], mut root: usize, end: usize) {
    loop {
        let mut child = 2 * root + 1;
        if child >= end {
            return;
        }
        if child + 1 < end && pair_less(v, child, child + 1) {
            child += 1;
        }
        if !pair_less(v, root, child) {
            return;
        }
        swap_pairs(v, root, child);
        root = child;
    }
}

/// Removes repeated pairs from sorted pairs; returns how many are left.
pub const fn dedup_pairs(v: &mut [u32]) -> usize {
    let n = v.len() / 2;
    if n == 0 {
        return 0;
    }
    let mut w = 1;
    let mut r = 1;
    while r < n {
        if v[2 * r] != v[2 * (w - 1)] || v[2 * r + 1] != v[2 * (w - 1) + 1] {
            v[2 * w] = v[2 * r];
            v[2 * w + 1] = v[2 * r + 1];
            w += 1;
        }
        r += 1;
    }
    w
}

// ---------------------------------------------------------------------------
// Cycles

/// Finds dependency cycles, one per strongly connected component, each the
/// shortest cycle through the component's smallest node (breadth first, in
/// node order), components in order of their smallest node.
///
/// The graph is `n` nodes and `edges`, flat `[from, to, ..]` pairs sorted and
/// without repeats; all state lives in a caller's scratch slice of
/// [`Cycles::scratch_len`] elements. The builder ([`Flow::compile`](super::Flow::compile))
/// and the flow macro both use it.
#[derive(Debug)]
pub struct Cycles {
    n: usize,
    e: usize,
    next: usize,
}

impl Cycles {
    /// The scratch for `n` nodes and `e` edges.
    pub const fn scratch_len(n: usize, e: usize) -> usize {
        2 * (n + 1) + e + 5 * n
    }

    /// Prepares the search: builds adjacency lists and strips the nodes on
    /// no cycle.
    pub const fn new(n: usize, edges: &[u32], scratch: &mut [u32]) -> Cycles {
        let e = edges.len() / 2;
        let (fwd, rest) = scratch.split_at_mut(n + 1);
        let (rev_off, rest) = rest.split_at_mut(n + 1);
        let (rev, rest) = rest.split_at_mut(e);
        let (alive, rest) = rest.split_at_mut(n);
        let (deg, rest) = rest.split_at_mut(n);
        let (queue, _) = rest.split_at_mut(n);
        // Forward offsets (edges are sorted by source).
        let mut i = 0;
        while i <= n {
            fwd[i] = 0;
            rev_off[i] = 0;
            i += 1;
        }
        let mut k = 0;
        while k < e {
            fwd[edges[2 * k] as usize + 1] += 1;
            rev_off[edges[2 * k + 1] as usize + 1] += 1;
            k += 1;
        }
        let mut i = 0;
        while i < n {
            fwd[i + 1] += fwd[i];
            rev_off[i + 1] += rev_off[i];
            i += 1;
        }
        // Reverse lists, sources in order (counting sort; `deg` as cursor).
        let mut i = 0;
        while i < n {
            deg[i] = rev_off[i];
            alive[i] = 1;
            i += 1;
        }
        let mut k = 0;
        while k < e {
            let to = edges[2 * k + 1] as usize;
            rev[deg[to] as usize] = edges[2 * k];
            deg[to] += 1;
            k += 1;
        }
        // Strip nodes no cycle passes through: Kahn forwards, then backwards.
        strip(n, fwd, edges, rev_off, alive, deg, queue);
        strip_rev(n, rev_off, rev, fwd, edges, alive, deg, queue);
        Cycles { n, e, next: 0 }
    }

    /// Writes the next cycle's nodes into `out` and returns its length (0 when
    /// there is none left; the length may exceed `out`'s).
    pub const fn next(&mut self, edges: &[u32], scratch: &mut [u32], out: &mut [u32]) -> usize {
        let (n, e) = (self.n, self.e);
        let (fwd, rest) = scratch.split_at_mut(n + 1);
        let (rev_off, rest) = rest.split_at_mut(n + 1);
        let (rev, rest) = rest.split_at_mut(e);
        let (alive, rest) = rest.split_at_mut(n);
        let (parent, rest) = rest.split_at_mut(n);
        let (queue, rest) = rest.split_at_mut(n);
        let (mark, _) = rest.split_at_mut(n);
        while self.next < n {
            let s = self.next;
            if alive[s] == 0 {
                self.next += 1;
                continue;
            }
            // Breadth first from `s` back to `s`, in node order.
            let mut i = 0;
            while i < n {
                parent[i] = u32::MAX;
                i += 1;
            }
            let (mut head, mut tail) = (0, 0);
            queue[tail] = s as u32;
            tail += 1;
            let mut found = false;
            while head < tail && !found {
                let x = queue[head] as usize;
                head += 1;
                let mut k = fwd[x] as usize;
                while k < fwd[x + 1] as usize {
                    let y = edges[2 * k + 1] as usize;
                    if alive[y] == 1 && parent[y] == u32::MAX {
                        parent[y] = x as u32;
                        if y == s {
                            found = true;
                            break;
                        }
                        queue[tail] = y as u32;
                        tail += 1;
                    }
                    k += 1;
                }
            }
            if !found {
                alive[s] = 0;
                self.next += 1;
                continue;
            }
            // The path s -> .. -> s, read backwards from parent[s].
            let mut len = 1;
            let mut at = parent[s] as usize;
            while at != s {
                len += 1;
                at = parent[at] as usize;
            }
            let mut idx = len;
            let mut at = s;
            loop {
                idx -= 1;
                if idx < out.len() {
                    out[idx] = at as u32;
                }
                at = parent[at] as usize;
                if at == s {
                    break;
                }
            }
            // The path was written as [.., s] reversed: rotate `s` to the front.
            // (`idx` is now 0: out[0] holds the node before `s`.)
            let shown = if len < out.len() { len } else { out.len() };
            if shown > 0 {
                let mut r = shown - 1;
                let last = out[shown - 1];
                while r > 0 {
                    out[r] = out[r - 1];
                    r -= 1;
                }
                out[0] = last;
            }
            // Retire the component of `s`: reachable from it and reaching it.
            let mut i = 0;
            while i < n {
                mark[i] = 0;
                i += 1;
            }
            let (mut head, mut tail) = (0, 0);
            queue[tail] = s as u32;
            tail += 1;
            mark[s] = 1;
            while head < tail {
                let x = queue[head] as usize;
                head += 1;
                let mut k = fwd[x] as usize;
                while k < fwd[x + 1] as usize {
                    let y = edges[2 * k + 1] as usize;
                    if alive[y] == 1 && mark[y] == 0 {
                        mark[y] = 1;
                        queue[tail] = y as u32;
                        tail += 1;
                    }
                    k += 1;
                }
            }
            let (mut head, mut tail) = (0, 0);
            queue[tail] = s as u32;
            tail += 1;
            mark[s] = 2;
            while head < tail {
                let x = queue[head] as usize;
                head += 1;
                let mut k = rev_off[x] as usize;
                while k < rev_off[x + 1] as usize {
                    let y = rev[k] as usize;
                    if mark[y] == 1 {
                        mark[y] = 2;
                        queue[tail] = y as u32;
                        tail += 1;
                    }
                    k += 1;
                }
            }
            let mut i = 0;
            while i < n {
                if mark[i] == 2 {
                    alive[i] = 0;
                }
                i += 1;
            }
            self.next += 1;
            return len;
        }
        0
    }
}

/// Kahn's algorithm forwards: removes nodes with no live predecessor.
const fn strip(
    n: usize,
    fwd: &[u32],
    edges: &[u32],
    rev_off: &[u32],
    alive: &mut [u32],
    deg: &mut [u32],
    queue: &mut [u32],
) {
    let mut i = 0;
    let (mut head, mut tail) = (0, 0);
    while i < n {
        deg[i] = rev_off[i + 1] - rev_off[i];
        if deg[i] == 0 {
            queue[tail] = i as u32;
            tail += 1;
        }
        i += 1;
    }
    while head < tail {
        let x = queue[head] as usize;
        head += 1;
        alive[x] = 0;
        let mut k = fwd[x] as usize;
        while k < fwd[x + 1] as usize {
            let y = edges[2 * k + 1] as usize;
            deg[y] -= 1;
            if deg[y] == 0 {
                queue[tail] = y as u32;
                tail += 1;
            }
            k += 1;
        }
    }
}

/// Kahn's algorithm backwards: removes live nodes with no live successor.
#[allow(clippy::too_many_arguments)]
const fn strip_rev(
    n: usize,
    rev_off: &[u32],
    rev: &[u32],
    fwd: &[u32],
    edges: &[u32],
    alive: &mut [u32],
    deg: &mut [u32],
    queue: &mut [u32],
) {
    let (mut head, mut tail) = (0, 0);
    let mut i = 0;
    while i < n {
        deg[i] = 0;
        if alive[i] == 1 {
            let mut k = fwd[i] as usize;
            while k < fwd[i + 1] as usize {
                if alive[edges[2 * k + 1] as usize] == 1 {
                    deg[i] += 1;
                }
                k += 1;
            }
            if deg[i] == 0 {
                queue[tail] = i as u32;
                tail += 1;
            }
        }
        i += 1;
    }
    while head < tail {
        let x = queue[head] as usize;
        head += 1;
        alive[x] = 0;
        let mut k = rev_off[x] as usize;
        while k < rev_off[x + 1] as usize {
            let y = rev[k] as usize;
            if alive[y] == 1 {
                deg[y] -= 1;
                if deg[y] == 0 {
                    queue[tail] = y as u32;
                    tail += 1;
                }
            }
            k += 1;
        }
    }
}

// ---------------------------------------------------------------------------
// Types

/// How many outputs of a task the type checks cover.
const OUT_MAX: u32 = 8;

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
        let source = t.sources[r];
        if source != MISSING && source != SKIPPED {
            if source & INPUT != 0 {
                plans[r] = [(source & !INPUT) as usize, 0];
            } else if entry_elem(source) < OUT_MAX {
                // A single output is element 0 of the task's output tuple.
                plans[r] = [
                    inputs + entry_atom(source) as usize,
                    entry_elem(source) as usize,
                ];
            }
        }
        r += 1;
    }
    plans
}

/// The name of [`UnknownTask`]'s metadata.
const UNKNOWN_TASK: &str = "<a path that names no task>";

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
fn unknown_exec(_: &crate::task::Call<'_>) -> crate::task::Invocation {
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

/// The types of a task, for the flow macro's type checks: `#[task]`
/// implements it next to [`Task`](crate::Task), and gives the task's type an
/// inherent `__flow_check` function whose bounds compare each of its required
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cycles_in_node_order() {
        // 0 -> 1 -> 2 -> 0, 3 -> 4 -> 3, 5 alone, 2 -> 5.
        let mut edges = vec![0, 1, 1, 2, 2, 0, 2, 5, 3, 4, 4, 3];
        sort_pairs(&mut edges);
        let mut scratch = vec![0; Cycles::scratch_len(6, 6)];
        let mut cycles = Cycles::new(6, &edges, &mut scratch);
        let mut out = [0u32; 8];
        let len = cycles.next(&edges, &mut scratch, &mut out);
        assert_eq!(&out[..len], [0, 1, 2]);
        let len = cycles.next(&edges, &mut scratch, &mut out);
        assert_eq!(&out[..len], [3, 4]);
        assert_eq!(cycles.next(&edges, &mut scratch, &mut out), 0);
    }

    #[test]
    fn hash_ranges_match_a_scan() {
        // Even and uneven hashes, runs of one hash, and hashes absent.
        let mut state = 1u64;
        for n in [0usize, 1, 2, 3, 10, 100, 1000] {
            for skew in [1u64, 7, 40] {
                let mut keys: Vec<u64> = (0..n as u64)
                    .map(|i| {
                        state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                        let h = ((state >> 33) % (1 + n as u64 / 3)).pow(skew as u32 % 3 + 1);
                        ((h * skew) << 32) | i
                    })
                    .collect();
                keys.sort_unstable();
                let mut probes: Vec<u32> = keys.iter().map(|k| (k >> 32) as u32).collect();
                probes.extend([0, 1, 5, u32::MAX, 1 << 20]);
                for h in probes {
                    let lo = keys.partition_point(|k| ((k >> 32) as u32) < h);
                    let hi = keys.partition_point(|k| ((k >> 32) as u32) <= h);
                    assert_eq!(hash_range(&keys, h), (lo, hi), "n {n}, hash {h}");
                }
            }
        }
    }

    #[test]
    fn messages_are_cut_at_a_char_boundary() {
        let mut buf = [0u8; 4];
        let mut m = Msg::new(&mut buf);
        m.push("ab\u{e9}\u{e9}");
        assert!(m.truncated());
        assert_eq!(m.as_str(), "ab\u{e9}");
        assert_eq!(m.len(), 6);
        m.push_usize(0);
        assert_eq!(render(|m| m.push_usize(1234)), "1234");
    }
}
