//! What a subtree provides to its siblings under a name (its export), and the
//! ambiguities: two children of a graph or unordered flow providing one name.

use super::*;

pub(super) const NO_EXPORT: u32 = u32::MAX;
pub(super) const AMBIGUOUS_EXPORT: u32 = u32::MAX - 1;

/// What the subtree at `node` provides to its siblings under `name`: the node
/// of the atom, [`NO_EXPORT`] or [`AMBIGUOUS_EXPORT`] (two of its children of a
/// graph or unordered flow export it). A linear flow exports its last child's;
/// a flow's retry is exported only when no other child exports the name (it
/// runs before them).
pub(super) const fn export(d: &FlowDesc<'_>, node: u32, name: &str) -> u32 {
    export_of(d, node, name, false, NO_SKIP)
}

/// What a graph or unordered flow's children see provided under `name` by
/// one another: [`export`] without the flow's retry (the builder orders the
/// retry before them, outside their union).
pub(super) const fn union_export(d: &FlowDesc<'_>, node: u32, name: &str) -> u32 {
    export_of(d, node, name, true, NO_SKIP)
}

/// What child `at` of a graph flow sees provided under `name` by its other
/// children: [`union_export`] without `at`.
pub(super) const fn others_export(d: &FlowDesc<'_>, node: u32, name: &str, at: u32) -> u32 {
    export_of(d, node, name, true, at)
}

/// No child left out of [`export_of`].
const NO_SKIP: u32 = u32::MAX;

/// What flow or atom `node` exports under `name`, leaving out its retry (if
/// `skip_retry`) and its child `skip`.
pub(super) const fn export_of(
    d: &FlowDesc<'_>,
    node: u32,
    name: &str,
    skip_retry: bool,
    skip: u32,
) -> u32 {
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
                // The retry is compared last: it runs before the others,
                // which override it.
                if d.nodes[child as usize].parent == node && child != skip && !is_retry(d, child) {
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
            let retry = node + 1;
            if found == NO_EXPORT
                && !skip_retry
                && (retry as usize) < d.nodes.len()
                && d.nodes[retry as usize].parent == node
                && is_retry(d, retry)
            {
                found = export(d, retry, name);
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
pub(super) const fn ambiguities<'a>(
    d: &FlowDesc<'a>,
    providers: &[u64],
    r: &mut Report<'_, '_, 'a>,
) {
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
        // A name only one provider gives meets nothing (the usual case: its
        // atom and name are not read, which in a large flow are cache misses).
        if hi == lo + 1 {
            lo = hi;
            continue;
        }
        // Each flow where two providers of one name meet unordered, once.
        let mut reported = [u32::MAX; 8];
        let mut a = lo;
        while a < hi {
            let ea = entry_at(providers, a);
            let name = entry_name(d, ea);
            let na = d.atoms[ea.atom() as usize].node;
            if ea.atom() >= ordered {
                let mut b = lo;
                while b < hi {
                    let eb = entry_at(providers, b);
                    if b != a && str_eq(entry_name(d, eb), name) {
                        let nb = d.atoms[eb.atom() as usize].node;
                        meet(d, na, nb, name, &mut reported, r);
                    }
                    b += 1;
                }
            } else {
                // The next provider of the same name.
                let mut b = a + 1;
                while b < hi && !str_eq(entry_name(d, entry_at(providers, b)), name) {
                    b += 1;
                }
                if b < hi {
                    let nb = d.atoms[entry_at(providers, b).atom() as usize].node;
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
pub(super) const fn meet<'a>(
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
