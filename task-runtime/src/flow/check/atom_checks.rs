//! The checks of one atom ([`check_atom`], [`atom_problems`]): every
//! requirement has a visible provider, `rebind` and `inject` name real
//! arguments, renamed outputs fit the task's.

use super::*;

/// Checks atom `i`: each requirement has a visible provider, `rebind` and
/// `inject` name real arguments, `provides_as` fits (or, for an atom that
/// provides more than [`MAX_OUTPUTS`] values, only that). Writes every problem into
/// `m` (one line each) and returns whether there was any.
/// Past the limits ([`within_limits`]), only an atom that provides too many
/// values has a problem (as [`atom_flags`] flags).
pub const fn check_atom(d: &FlowDesc<'_>, t: &Tables<'_>, i: usize, m: &mut Msg<'_>) -> bool {
    let start = m.len();
    if within_limits(d) || too_many_outputs(&d.atoms[i]).is_some() {
        atom_problems(d, t, i, &mut Report::Text(m));
    }
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
    if let Some(count) = too_many_outputs(a) {
        r.add(
            d,
            Problem::TooManyOutputs {
                atom: i as u32,
                count,
            },
        );
        return;
    }
    let off = t.offsets[i] as usize;
    let n = t.offsets[i + 1] as usize - off;
    let mut cursor = ArgCursor::new();
    let mut k = 0;
    while k < n {
        let arg = cursor.next(a.meta);
        if SourceCode::from_raw(t.sources[off + k]).is_missing() {
            let name = read_name(a, arg.name);
            let hint = missing_hint(d, t.providers, i as u32, name);
            let suggestion = match hint {
                Hint::None => suggest_provided(d, i as u32, name),
                _ => None,
            };
            r.add(
                d,
                Problem::Missing {
                    atom: i as u32,
                    name,
                    ty: arg.ty(),
                    hint,
                    suggestion,
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
pub(super) const fn missing_hint<'a>(
    d: &FlowDesc<'a>,
    providers: &[u64],
    i: u32,
    name: &str,
) -> Hint<'a> {
    let (lo, hi) = hash_range(providers, hash(name));
    let an = d.atoms[i as usize].node;
    // The tree-ordered atoms: the first provider at all, and the first one
    // past atom `i`'s node.
    let ordered = ordered_atoms(d);
    let hi_o = atom_bound(providers, lo, hi, ordered as u32);
    let mut earlier = u32::MAX;
    let mut later = u32::MAX;
    let mut j = lo;
    while j < hi_o && !str_eq(entry_name(d, entry_at(providers, j)), name) {
        j += 1;
    }
    if j < hi_o {
        let first = entry_at(providers, j).atom();
        if d.atoms[first as usize].node < an {
            earlier = first;
        }
    }
    let mut j = node_bound(d, providers, lo, hi_o, an + 1);
    while j < hi_o {
        let e = entry_at(providers, j);
        if str_eq(entry_name(d, e), name) {
            later = e.atom();
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

/// Whether each atom has a problem [`check_atom`] reports, all atoms in one
/// pass: the flow macro evaluates this once, and formats a message only for
/// the atoms it flags. Past the limits ([`within_limits`]) it flags only the
/// atoms that provide too many values.
pub const fn atom_flags<const N: usize>(d: &FlowDesc<'_>, t: &Tables<'_>) -> [bool; N] {
    let mut flags = [false; N];
    let mut i = 0;
    if !within_limits(d) {
        while i < N {
            flags[i] = too_many_outputs(&d.atoms[i]).is_some();
            i += 1;
        }
        return flags;
    }
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
