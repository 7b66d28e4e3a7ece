//! The messages: [`Msg`], a byte buffer a `const fn` can write into, and
//! the writers (`write_*`) that word each mistake. The flow macro panics with
//! what they write; the builder's [`FlowError`](crate::flow::FlowError)
//! displays through the same writers ([`render`]), so both read the same.

use super::*;

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
    /// Names as written in a `flow!` invocation (`&str`s, so that a
    /// constant can hold them).
    Written(&'a [&'a str]),
}

impl<'a> Names<'a> {
    const fn len(&self) -> usize {
        match *self {
            Names::Strings(s) | Names::Marked(s, _) => s.len(),
            Names::Written(s) => s.len(),
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
            Names::Written(s) => s[i],
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
pub(super) const fn next_child(d: &FlowDesc<'_>, flow: u32, from: u32) -> Option<u32> {
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

pub(super) const fn write_list(m: &mut Msg<'_>, names: Names<'_>) {
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

pub(super) const fn write_flow(m: &mut Msg<'_>, flow: &str) {
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

/// `; did you mean `x`?`, when there is a suggestion (the same words in
/// every message that suggests a name).
pub const fn write_did_you_mean(m: &mut Msg<'_>, suggestion: Option<&str>) {
    if let Some(s) = suggestion {
        m.push("; did you mean `");
        m.push(s);
        m.push("`?");
    }
}

/// `flow `F`: task `T` requires `name: Type`, which no input or earlier task
/// provides (hint)`, then `; did you mean `x`?` with a suggestion. The type
/// is left out when it is not known (`""`); a retry controller is called a
/// retry.
#[allow(clippy::too_many_arguments)]
pub const fn write_missing(
    m: &mut Msg<'_>,
    flow: &str,
    atom: &str,
    retry: bool,
    name: &str,
    ty: &str,
    hint: &str,
    suggestion: Option<&str>,
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
    write_did_you_mean(m, suggestion);
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
/// child of it; did you mean `c`? Its children are ...` (without a
/// suggestion: `...; its children are ...`).
#[allow(clippy::too_many_arguments)]
pub const fn write_unknown_link_end(
    m: &mut Msg<'_>,
    flow: &str,
    scope: &str,
    from: &str,
    to: &str,
    missing: &str,
    children: Names<'_>,
    suggestion: Option<&str>,
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
    m.push("`, which is not a child of it");
    write_did_you_mean(m, suggestion);
    m.push(if suggestion.is_some() {
        " Its children are "
    } else {
        "; its children are "
    });
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

/// `flow `F`: input `x: T` is declared, but no task reads it; did you mean
/// `y`? Otherwise remove it, ...`. An input of unknown type (`""`) is an
/// engine's ([`Engine::input`](crate::Engine::input)), and the way out
/// offered is the engine's switch.
pub const fn write_unused_input(
    m: &mut Msg<'_>,
    flow: &str,
    name: &str,
    ty: &str,
    suggestion: Option<&str>,
) {
    write_flow(m, flow);
    m.push("input `");
    m.push(name);
    if ty.is_empty() {
        m.push("` is given");
    } else {
        m.push(": ");
        m.push(ty);
        m.push("` is declared");
    }
    m.push(", but no task reads it");
    write_did_you_mean(m, suggestion);
    m.push(if suggestion.is_some() {
        " Otherwise remove it, "
    } else {
        "; remove it, "
    });
    m.push(if ty.is_empty() {
        "rebind a task's argument to it, or allow unused inputs (`Engine::allow_unused_inputs`)"
    } else {
        "or rebind a task's argument to it"
    });
}

/// `flow `F`: task `c` requires `size: u64`, but its provider `p` gives
/// `u32`; change one of the two types, or `.rebind("size", "..")` to give
/// `size` another value`: the words of `flow!`'s type check (which `#[task]`
/// writes into its diagnostic), for flows built at run time. An argument
/// rebound to another value's name says which (`requires `size: u64` (the
/// value `bytes`)`).
#[allow(clippy::too_many_arguments)]
pub const fn write_type_mismatch(
    m: &mut Msg<'_>,
    flow: &str,
    atom: &str,
    arg: &str,
    value: &str,
    expected: &str,
    provider: &str,
    found: &str,
) {
    write_flow(m, flow);
    m.push("task `");
    m.push(atom);
    m.push("` requires `");
    m.push(arg);
    m.push(": ");
    m.push(expected);
    m.push("`");
    if !str_eq(arg, value) {
        m.push(" (the value `");
        m.push(value);
        m.push("`)");
    }
    m.push(", but its provider `");
    m.push(provider);
    m.push("` gives `");
    m.push(found);
    m.push("`; change one of the two types, or `.rebind(\"");
    m.push(arg);
    m.push("\", \"..\")` to give `");
    m.push(arg);
    m.push("` another value");
}

/// `flow `F`: tasks `a` and `b` need a resource of type `Db`, but the engine
/// has none: add it with `Engine::resource``.
pub const fn write_missing_resource(m: &mut Msg<'_>, flow: &str, ty: &str, atoms: Names<'_>) {
    write_flow(m, flow);
    let many = atoms.len() > 1;
    m.push(if many { "tasks " } else { "task " });
    write_list(m, atoms);
    m.push(if many { " need" } else { " needs" });
    m.push(" a resource of type `");
    m.push(ty);
    m.push("`, but the engine has none: add it with `Engine::resource`");
}

/// `flow `F`: task `t` provides 255 values; a task provides at most 254`.
pub const fn write_too_many_outputs(m: &mut Msg<'_>, flow: &str, atom: &str, count: usize) {
    write_flow(m, flow);
    m.push("task `");
    m.push(atom);
    m.push("` provides ");
    m.push_usize(count);
    m.push(" values; a task provides at most ");
    m.push_usize(MAX_OUTPUTS);
}

/// `flow `F`: it holds 16777217 atoms; a flow holds at most 16777216` (or
/// declares inputs).
pub const fn write_too_large(m: &mut Msg<'_>, flow: &str, limit: Limit, count: usize) {
    write_flow(m, flow);
    let (verb, what) = match limit {
        Limit::Atoms => ("holds", " atoms"),
        Limit::Inputs => ("declares", " inputs"),
    };
    m.push("it ");
    m.push(verb);
    m.push(" ");
    m.push_usize(count);
    m.push(what);
    m.push("; a flow ");
    m.push(verb);
    m.push(" at most ");
    m.push_usize(limit.max());
}

pub(super) const fn kind_name(kind: FlowKind) -> &'static str {
    match kind {
        FlowKind::Linear => "linear",
        FlowKind::Unordered => "unordered",
        FlowKind::Graph => "graph",
    }
}

pub(super) const fn write_sep(m: &mut Msg<'_>) {
    if !m.is_empty() {
        m.push("\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
