//! Explicit links between children of graph flows: which children a link's
//! ends name ([`link_nodes`]) and the checks of links ([`check_link`],
//! [`check_link_end`], [`write_unknown_link_path`]).

use super::*;

/// No child of that name.
pub(super) const NO_CHILD: u32 = u32::MAX;

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

pub(super) const fn is_graph(d: &FlowDesc<'_>, node: u32) -> bool {
    matches!(
        d.nodes[node as usize].kind,
        NodeKind::Flow(FlowKind::Graph, _)
    )
}

/// The node of the child of `flow` named `name` (an atom, else a nested
/// flow; its retry left out), or [`NO_CHILD`].
pub(super) const fn link_end(d: &FlowDesc<'_>, t: &Tables<'_>, flow: u32, name: &str) -> u32 {
    let (lo, hi) = hash_range(t.names, hash(name));
    let mut k = lo;
    while k < hi {
        let a = &d.atoms[name_key_atom(t.names[k]) as usize];
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
        suggest_child(d, l.flow, end),
    );
    true
}

/// `flow!`'s message for a link end written as a path (a task as written in
/// the flow, or a nested flow's name) that names no child of its graph flow
/// `scope`. `flow!` matches such ends with the children itself, and calls
/// this for one it could not match, with the children as written: the
/// message is [`check_link_end`]'s, and the suggestion the nearest of them.
///
/// ```
/// use taskwire_runtime::flow::check::{write_unknown_link_path, Msg};
///
/// let mut buf = [0u8; 512];
/// let mut m = Msg::new(&mut buf);
/// let children = ["create_db_entry", "notify_scheduler"];
/// write_unknown_link_path(&mut m, "create_volume", "prepare", "create_db_entry", "notify_schedular", "notify_schedular", &children);
/// assert_eq!(
///     m.as_str(),
///     "flow `create_volume`: link `create_db_entry` -> `notify_schedular` in graph flow `prepare` \
///      names `notify_schedular`, which is not a child of it; did you mean `notify_scheduler`? \
///      Its children are `create_db_entry` and `notify_scheduler`"
/// );
/// ```
pub const fn write_unknown_link_path(
    m: &mut Msg<'_>,
    flow: &str,
    scope: &str,
    from: &str,
    to: &str,
    missing: &str,
    children: &[&str],
) {
    let mut n = Nearest::new(missing);
    let mut i = 0;
    while i < children.len() {
        n.offer(missing, children[i]);
        i += 1;
    }
    write_unknown_link_end(
        m,
        flow,
        scope,
        from,
        to,
        missing,
        Names::Written(children),
        n.best(),
    );
}
