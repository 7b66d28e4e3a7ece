//! The checks of the whole flow ([`check_flow`], [`flow_problems`]):
//! ambiguous providers, duplicate atom names, dependency cycles among the
//! children of graph flows, and declared inputs that no task reads.

use super::*;

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
/// those about names — ambiguous providers, duplicate atoms and unused
/// inputs — and
/// `scratch` needs only [`name_scratch_len`] elements: the builder runs the
/// same cycle search ([`Cycles`]) on the same edges (data edges from
/// [`data_edge`], links from [`link_nodes`]) itself, keeping the path. Cycles are
/// only written as text: a [`Report::List`] never sees them.
pub const fn flow_problems<'a>(
    d: &FlowDesc<'a>,
    t: &Tables<'_>,
    scratch: &mut [u32],
    whole: bool,
    r: &mut Report<'_, '_, 'a>,
) {
    // Past the limits, only the flow-wide ones (an atom with too many
    // values is its own check's): the tables left out what did not fit.
    if !within_limits(d) {
        let [atoms, inputs] = size_problems(d.atoms.len(), d.inputs.len());
        if let Some(p) = atoms {
            r.add(d, p);
        }
        if let Some(p) = inputs {
            r.add(d, p);
        }
        return;
    }
    ambiguities(d, t.providers, r);
    // Two atoms with one name.
    let names = t.names;
    let mut i = 1;
    let end = names.len();
    while i < end {
        if names[i] >> 32 == names[i - 1] >> 32 {
            let a = atom_name(&d.atoms[name_key_atom(names[i]) as usize]);
            // Once per name: only at its second atom among equal hashes.
            let mut earlier = 0;
            let mut j = i;
            while j > 0 && names[j - 1] >> 32 == names[i] >> 32 && earlier < 2 {
                j -= 1;
                if str_eq(atom_name(&d.atoms[name_key_atom(names[j]) as usize]), a) {
                    earlier += 1;
                }
            }
            if earlier == 1 {
                r.add(
                    d,
                    Problem::Duplicate {
                        atom: name_key_atom(names[i]),
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
    // `(graph flow, input)` pairs reported.
    let mut input_reported = [(u32::MAX, u32::MAX); 16];
    let graphs = has_graph(d);
    let mut c = 0;
    let end = d.atoms.len();
    while c < end {
        let a = &d.atoms[c];
        let off = t.offsets[c] as usize;
        let n = t.offsets[c + 1] as usize - off;
        let mut cursor = ArgCursor::new();
        let mut k = 0;
        while k < n {
            let arg = cursor.next(a.meta);
            let source = SourceCode::from_raw(t.sources[off + k]);
            if let Some(input) = source.input_index() {
                used[input as usize] = 1;
            } else if let (true, Some(entry)) = (graphs, source.entry()) {
                let p = entry.atom();
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
                        // Not unused: ambiguous, and reported as such.
                        used[input as usize] = 1;
                        let key = (scope, input);
                        let mut seen = union_export(d, scope, name) == AMBIGUOUS_EXPORT;
                        let mut s = 0;
                        while s < input_reported.len() && !seen {
                            if input_reported[s].0 == key.0 && input_reported[s].1 == key.1 {
                                seen = true;
                            } else if input_reported[s].0 == u32::MAX {
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
        unused_inputs(d, used, r);
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
    unused_inputs(d, used, r);
}

/// Reports the inputs nothing reads (`used[i] == 0`).
const fn unused_inputs<'a>(d: &FlowDesc<'a>, used: &[u32], r: &mut Report<'_, '_, 'a>) {
    let mut i = 0;
    let end = d.inputs.len();
    while i < end {
        if used[i] == 0 {
            r.add(
                d,
                Problem::UnusedInput {
                    input: i as u32,
                    suggestion: suggest_read(d, i as u32),
                },
            );
        }
        i += 1;
    }
}

/// The scratch [`flow_problems`] needs without `whole`, in `u32`s.
pub const fn name_scratch_len(d: &FlowDesc<'_>) -> usize {
    d.inputs.len()
}
