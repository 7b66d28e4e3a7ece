//! Resolution: which provider a requirement reads, by the scoping rules of
//! [`Flow`](crate::flow::Flow) — the innermost enclosing flow that sees a
//! provider wins, a linear flow sees its earlier children, a graph flow all
//! its other children, an unordered flow none, a retry's flow sees the retry,
//! the declared inputs come last.

use super::*;

/// Resolves `name` for atom `c` as the engine will: the innermost enclosing
/// flow that sees a provider wins; in a linear flow the nearest earlier child,
/// in a graph flow any other child; an unordered flow's children see no
/// sibling; the declared inputs are the outermost provider. A retry runs
/// before its flow's other atoms, which all see what it provides (even in an
/// unordered flow); it sees only what its flow's surroundings provide.
/// Returns where the value comes from: a provider, an input, "missing" or
/// "skipped" (an ambiguity, reported for the flow).
///
/// Atoms come in depth-first order (the flow macro's retry atoms aside: they
/// come last), so the nearer a provider is to `c` in the provider table, the
/// deeper the flow they share: the search walks outwards from `c` and skips a
/// flow that cannot see a provider as one block (binary search), so a name a
/// long chain provides costs `O(depth · log n)`. The retries of the flows
/// around `c`, and retry atoms out of tree order, are compared one by one
/// (a flow has one retry at most); a retry's own requirements are resolved
/// by a scan of the name's providers.
pub(super) const fn resolve(d: &FlowDesc<'_>, providers: &[u64], c: u32, name: &str) -> SourceCode {
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
            let mut k = packed_count(prev);
            while k > 0 {
                k -= 1;
                if str_eq(provided_name(prev, k), name) {
                    if let (Ok(atom), Ok(elem)) =
                        (AtomIndex::new(c as usize - 1), OutputIndex::new(k))
                    {
                        return SourceCode::output(if is_retry(d, prev.node) {
                            ProviderEntry::retry(atom)
                        } else {
                            ProviderEntry::output(atom, elem)
                        });
                    }
                }
            }
        }
    }
    let (lo, hi) = hash_range(providers, hash(name));
    if lo == hi {
        // No atom (retries included) provides the name: a declared input, or
        // nothing (a chain's `seed`, without the walks below).
        return input_source(d, name);
    }
    // The tree-ordered part of the table (the flow macro's retry atoms, last,
    // are compared one by one below).
    let ordered = ordered_atoms(d);
    let hi_o = atom_bound(providers, lo, hi, ordered as u32);
    let mut best: Option<ProviderEntry> = None;
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
        let e = entry_at(providers, k);
        if !str_eq(entry_name(d, e), name) || retry_around(d, e, cn) {
            continue;
        }
        let p = e.atom();
        let (scope, _, from) = common_scope(d, cn, d.atoms[p as usize].node);
        if let FlowKind::Unordered = flow_kind(d, scope) {
            k = run_edge(d, providers, k, lo, scope, false);
            continue;
        }
        best = Some(e);
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
        let e = entry_at(providers, k);
        if !str_eq(entry_name(d, e), name) {
            k += 1;
            continue;
        }
        let (scope, _, from) = common_scope(d, cn, d.atoms[e.atom() as usize].node);
        let depth = d.nodes[scope as usize].depth;
        if best.is_some() && depth + 1 < best_depth {
            break;
        }
        let end = run_edge(d, providers, k, hi_o, scope, true);
        if let FlowKind::Graph = flow_kind(d, scope) {
            // The last provider of the name in the flow.
            let mut j = end;
            while !str_eq(entry_name(d, entry_at(providers, j)), name) {
                j -= 1;
            }
            best = Some(entry_at(providers, j));
            best_at = j;
            best_scope = scope;
            best_from = from;
            break;
        }
        if best.is_some() && depth + 1 == best_depth {
            break;
        }
        k = end + 1;
    }
    // The retries compared one by one: those of the flows around `c` (each
    // its flow's first child), then those out of tree order.
    let mut from_retry = false;
    let mut best_key = match best {
        Some(e) => provider_key(d, cn, e),
        None => (0, 0, 0),
    };
    let mut at = d.nodes[cn as usize].parent;
    // (A flow without retries skips the walk: the flow macro's usual case.)
    while !d.retries.is_empty() {
        let r = at + 1;
        if (r as usize) < d.nodes.len() && d.nodes[r as usize].parent == at && is_retry(d, r) {
            if let NodeKind::Atom(i) = d.nodes[r as usize].kind {
                if let (true, Ok(atom)) = ((i as usize) < ordered, AtomIndex::new(i as usize)) {
                    if provided_count(&d.atoms[i as usize]) > 0
                        && str_eq(provided_name(&d.atoms[i as usize], 0), name)
                    {
                        let e = ProviderEntry::retry(atom);
                        let key = provider_key(d, cn, e);
                        if best.is_none() || key_less(best_key, key) {
                            (best, best_key, from_retry) = (Some(e), key, true);
                        }
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
        let Ok(atom) = AtomIndex::new(i) else {
            break;
        };
        if provided_count(a) > 0 && str_eq(provided_name(a, 0), name) {
            let e = ProviderEntry::retry(atom);
            let (scope, to, from) = common_scope(d, cn, a.node);
            let key = provider_key(d, cn, e);
            if visible(d, scope, to, from) && (best.is_none() || key_less(best_key, key)) {
                (best, best_key, from_retry) = (Some(e), key, true);
            }
        }
        i += 1;
    }
    if let (true, Some(e)) = (from_retry, best) {
        let (scope, _, from) = common_scope(d, cn, d.atoms[e.atom() as usize].node);
        best_scope = scope;
        best_from = from;
    }
    // Where two children of a graph or unordered flow provide the name (or a
    // nested flow does, for a linear one), the engine reads no value: that
    // ambiguity is reported once, for the flow; the requirement adds nothing.
    let named = named_twice(d, providers, lo, hi, name);
    if best.is_some() && named {
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
            while !str_eq(entry_name(d, entry_at(providers, first)), name) {
                first += 1;
            }
            let mut last = run_edge(d, providers, best_at, hi_o, exporter, true);
            while !str_eq(entry_name(d, entry_at(providers, last)), name) {
                last -= 1;
            }
            exports_twice(d, providers, lo, exporter, name, first, last)
        };
        if twice {
            return SourceCode::SKIPPED;
        }
    }
    match best {
        Some(e) => SourceCode::output(e),
        None if named && ambiguous_around(d, cn, name) => SourceCode::SKIPPED,
        None => input_source(d, name),
    }
}

/// Whether a provider in `scope`'s child `from` is visible to its child `to`
/// (see [`resolve`]).
pub(super) const fn visible(d: &FlowDesc<'_>, scope: u32, to: u32, from: u32) -> bool {
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
pub(super) const fn provider_key(d: &FlowDesc<'_>, cn: u32, e: ProviderEntry) -> (u32, u32, u32) {
    let node = d.atoms[e.atom() as usize].node;
    let (scope, _, from) = common_scope(d, cn, node);
    (
        d.nodes[scope as usize].depth + 1,
        d.nodes[from as usize].pos,
        node,
    )
}

pub(super) const fn key_less(a: (u32, u32, u32), b: (u32, u32, u32)) -> bool {
    a.0 < b.0 || a.0 == b.0 && (a.1 < b.1 || a.1 == b.1 && a.2 < b.2)
}

/// Whether provider entry `e` is the retry of a flow around node `cn`.
pub(super) const fn retry_around(d: &FlowDesc<'_>, e: ProviderEntry, cn: u32) -> bool {
    e.is_retry() && {
        let node = d.atoms[e.atom() as usize].node;
        holds(d, d.nodes[node as usize].parent, cn)
    }
}

/// How many atoms come in tree order: all but the retry atoms the flow macro
/// puts last.
pub(super) const fn ordered_atoms(d: &FlowDesc<'_>) -> usize {
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
pub(super) const fn holds_retry(d: &FlowDesc<'_>, x: u32) -> bool {
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
pub(super) const fn resolve_scan(
    d: &FlowDesc<'_>,
    providers: &[u64],
    c: u32,
    name: &str,
) -> SourceCode {
    let cn = d.atoms[c as usize].node;
    let (lo, hi) = hash_range(providers, hash(name));
    let mut best: Option<ProviderEntry> = None;
    let mut best_key = (0u32, 0u32, 0u32);
    let (mut best_scope, mut best_from) = (0u32, 0u32);
    let mut named = 0;
    let mut k = lo;
    while k < hi {
        let e = entry_at(providers, k);
        let p = e.atom();
        if str_eq(entry_name(d, e), name) {
            named += 1;
            if p != c {
                let (scope, to, from) = common_scope(d, cn, d.atoms[p as usize].node);
                let key = provider_key(d, cn, e);
                if visible(d, scope, to, from) && (best.is_none() || key_less(best_key, key)) {
                    best_key = key;
                    best = Some(e);
                    best_scope = scope;
                    best_from = from;
                }
            }
        }
        k += 1;
    }
    if best.is_some() && named > 1 {
        let exporter = match flow_kind(d, best_scope) {
            FlowKind::Linear => best_from,
            _ => best_scope,
        };
        let e = match flow_kind(d, best_scope) {
            FlowKind::Linear => export(d, exporter, name),
            _ => union_export(d, exporter, name),
        };
        if e == AMBIGUOUS_EXPORT {
            return SourceCode::SKIPPED;
        }
    }
    match best {
        Some(e) => SourceCode::output(e),
        None if named > 1 && ambiguous_around(d, cn, name) => SourceCode::SKIPPED,
        None => input_source(d, name),
    }
}

/// Where a value no atom provides comes from: the declared input of that
/// name, or nowhere. (Past [`MAX_INPUTS`], nowhere: the flow is reported
/// as too large.)
pub(super) const fn input_source(d: &FlowDesc<'_>, name: &str) -> SourceCode {
    match input_index(d, name) {
        Some(i) => match SourceCode::input(i as usize) {
            Ok(code) => code,
            Err(_) => SourceCode::MISSING,
        },
        None => SourceCode::MISSING,
    }
}

/// Whether two providers (or two outputs of one) have the name `name`.
pub(super) const fn named_twice(
    d: &FlowDesc<'_>,
    providers: &[u64],
    lo: usize,
    hi: usize,
    name: &str,
) -> bool {
    let mut named = 0;
    let mut k = lo;
    while k < hi && named < 2 {
        if str_eq(entry_name(d, entry_at(providers, k)), name) {
            named += 1;
        }
        k += 1;
    }
    named == 2
}

/// From position `k` of one hash's run, whose provider is inside node `x`,
/// the farthest position towards `bound` (exclusive going up, inclusive going
/// down) whose provider still is: atoms come depth first, so the providers
/// inside `x` are one run of the table (galloping, then binary search).
pub(super) const fn run_edge(
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
pub(super) const fn exports_twice(
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
            while !str_eq(entry_name(d, entry_at(providers, first)), name) {
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
pub(super) const fn ambiguous_around(d: &FlowDesc<'_>, node: u32, name: &str) -> bool {
    // A retry looks names up around its flow.
    let mut at = if is_retry(d, node) {
        d.nodes[node as usize].parent
    } else {
        node
    };
    while at != 0 {
        let scope = d.nodes[at as usize].parent;
        match flow_kind(d, scope) {
            // Its other children: what the child holding `node` exports
            // itself is no provider of `node`'s.
            FlowKind::Graph => {
                if others_export(d, scope, name, at) == AMBIGUOUS_EXPORT {
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
