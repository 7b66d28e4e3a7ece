//! The tables every check reads, built once per flow ([`Tables`]): the
//! providers and the atom names sorted by hash, where each atom's
//! requirements start, and where each requirement's value comes from
//! ([`fill_sources`], read back as a [`Source`]). The searches on the sorted
//! tables live here too.

use super::*;

/// FNV-1a, 32 bits: names are sorted and searched by hash, and compared as
/// text only when their hashes are equal (cheap in `const` evaluation, where
/// every step costs).
pub(crate) const fn hash(s: &str) -> u32 {
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
/// [`Tables::providers`]. Only what fits a [`ProviderEntry`] is counted: a
/// flow past the limits ([`MAX_ATOMS`], [`MAX_OUTPUTS`]) is reported as such,
/// and what does not fit is left out of the tables.
pub const fn provider_count(d: &FlowDesc<'_>) -> usize {
    let mut n = 0;
    let mut i = 0;
    let end = if d.atoms.len() < MAX_ATOMS {
        d.atoms.len()
    } else {
        MAX_ATOMS
    };
    while i < end {
        n += packed_count(&d.atoms[i]);
        i += 1;
    }
    n
}

/// How many of atom `a`'s outputs the provider table holds: those with an
/// [`OutputIndex`].
pub(super) const fn packed_count(a: &AtomDesc<'_>) -> usize {
    let n = provided_count(a);
    if n < MAX_OUTPUTS {
        n
    } else {
        MAX_OUTPUTS
    }
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

/// The name of the value of provider entry `e`.
pub(super) const fn entry_name<'a>(d: &FlowDesc<'a>, e: ProviderEntry) -> &'a str {
    provided_name(&d.atoms[e.atom() as usize], e.elem() as usize)
}

/// The provider entry of `providers[k]`.
pub(super) const fn entry_at(providers: &[u64], k: usize) -> ProviderEntry {
    ProviderEntry::of_key(providers[k])
}

pub(super) const fn sort_u64(v: &mut [u64]) {
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

pub(super) const fn sift_u64(v: &mut [u64], mut root: usize, end: usize) {
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
pub(super) const fn key_hash(keys: &[u64], i: usize) -> u32 {
    (keys[i] >> 32) as u32
}

/// The range of sorted `keys` whose hash (high half) is `h`.
pub(super) const fn hash_range(keys: &[u64], h: u32) -> (usize, usize) {
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
    /// Every `(atom, output)` pair as `hash(name) << 32 | entry`, sorted
    /// ([`fill_providers`]; the entry is a [`ProviderEntry`]).
    pub providers: &'a [u64],
    /// Atom `i`'s requirements are `sources[offsets[i]..offsets[i + 1]]`
    /// ([`fill_offsets`]).
    pub offsets: &'a [u32],
    /// Where each requirement's value comes from ([`fill_sources`]; each a
    /// [`SourceCode`]).
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
        // Past the limits, atoms and outputs are left out (as
        // `provider_count` counts them).
        let Ok(atom) = AtomIndex::new(i) else {
            break;
        };
        let retry = is_retry(d, d.atoms[i].node);
        let count = packed_count(&d.atoms[i]);
        let mut k = 0;
        while k < count {
            let entry = match OutputIndex::new(k) {
                Ok(_) if retry => ProviderEntry::retry(atom),
                Ok(elem) => ProviderEntry::output(atom, elem),
                Err(_) => break,
            };
            out[n] = entry.key(hash(provided_name(&d.atoms[i], k)));
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

/// The atom of a key of [`Tables::names`].
pub(super) const fn name_key_atom(key: u64) -> u32 {
    key as u32
}

/// [`fill_names`] into an array (`N` is the number of atoms).
pub const fn names<const N: usize>(d: &FlowDesc<'_>) -> [u64; N] {
    let mut v = [0u64; N];
    fill_names(d, &mut v);
    v
}

/// Fills `out` ([`requirement_count`] long) with each requirement's source,
/// in atom order then argument order: resolved as the engine will (see
/// [`Flow`](crate::flow::Flow)'s scoping).
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
            let source = if injected(a, arg.name) {
                SourceCode::SKIPPED
            } else {
                match resolve(d, providers, c as u32, read_name(a, arg.name)) {
                    s if s.is_missing() && arg.optional => SourceCode::SKIPPED,
                    s => s,
                }
            };
            out[n] = source.raw();
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
    SourceCode::from_raw(t.sources[t.offsets[i] as usize + k]).decode()
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

/// The node of the atom of provider `providers[k]`.
pub(super) const fn entry_node(d: &FlowDesc<'_>, providers: &[u64], k: usize) -> u32 {
    d.atoms[entry_at(providers, k).atom() as usize].node
}

/// The first position in `providers[lo..hi]` (one hash, tree-ordered atoms)
/// whose atom's node is `node` or later.
pub(super) const fn node_bound(
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
pub(super) const fn atom_bound(
    providers: &[u64],
    mut lo: usize,
    mut hi: usize,
    atom: u32,
) -> usize {
    while lo < hi {
        let mid = (lo + hi) / 2;
        if entry_at(providers, mid).atom() < atom {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
