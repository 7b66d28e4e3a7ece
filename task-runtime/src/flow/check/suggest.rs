//! Did-you-mean: the name nearest a misspelled one among those a message can
//! offer ([`Nearest`]), by edit distance ([`edit_distance`]), in `const` so
//! that the flow macro suggests the same name at compile time as the builder
//! at run time.
//!
//! A candidate is offered when it is at most a quarter of the misspelled
//! name's length away (rounded down): a typo or two in a name of ordinary
//! length, not another word of the same shape (`volume_size` is three edits
//! from `volume_type`; rustc's third would offer it). A name of fewer than
//! four letters gets no suggestion: any other short name is an edit or two
//! away. The first nearest candidate wins, so the suggestion depends on
//! nothing but the order names are offered in.

use super::*;

/// The longest name compared (in bytes); longer names are never suggested,
/// and get no suggestion: the distance table lives on the stack.
pub const MAX_SUGGESTED_LEN: usize = 64;

/// The Levenshtein distance between `a` and `b` (byte edits: insertions,
/// deletions, substitutions), or `None` when either is longer than
/// [`MAX_SUGGESTED_LEN`].
pub const fn edit_distance(a: &str, b: &str) -> Option<usize> {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (n, m) = (a.len(), b.len());
    if n > MAX_SUGGESTED_LEN || m > MAX_SUGGESTED_LEN {
        return None;
    }
    // Two rows of the table: `prev[j]` is the distance between `a[..i]` and
    // `b[..j]`.
    let mut prev = [0usize; MAX_SUGGESTED_LEN + 1];
    let mut cur = [0usize; MAX_SUGGESTED_LEN + 1];
    let mut j = 0;
    while j <= m {
        prev[j] = j;
        j += 1;
    }
    let mut i = 1;
    while i <= n {
        cur[0] = i;
        let mut j = 1;
        while j <= m {
            let substitute = prev[j - 1] + (a[i - 1] != b[j - 1]) as usize;
            let delete = prev[j] + 1;
            let insert = cur[j - 1] + 1;
            let mut best = substitute;
            if delete < best {
                best = delete;
            }
            if insert < best {
                best = insert;
            }
            cur[j] = best;
            j += 1;
        }
        let mut j = 0;
        while j <= m {
            prev[j] = cur[j];
            j += 1;
        }
        i += 1;
    }
    Some(prev[m])
}

/// The nearest name offered so far to a misspelled one.
///
/// ```
/// use taskwire_runtime::flow::check::Nearest;
///
/// let mut n = Nearest::new("valid_ordr");
/// n.offer("valid_ordr", "order");
/// n.offer("valid_ordr", "valid_order");
/// n.offer("valid_ordr", "invalid_order");
/// assert_eq!(n.best(), Some("valid_order"));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Nearest<'a> {
    best: Option<&'a str>,
    distance: usize,
}

impl<'a> Nearest<'a> {
    /// Nothing offered yet for `target` (the misspelled name): a candidate
    /// must be within a quarter of its length.
    pub const fn new(target: &str) -> Nearest<'a> {
        Nearest {
            best: None,
            distance: target.len() / 4,
        }
    }

    /// Offers `candidate` as a suggestion for `target`: kept if nearer than
    /// the best so far (and near enough); `target` itself is never kept.
    pub const fn offer(&mut self, target: &str, candidate: &'a str) {
        if candidate.is_empty() || str_eq(candidate, target) {
            return;
        }
        if let Some(d) = edit_distance(target, candidate) {
            let better = match self.best {
                None => d <= self.distance,
                Some(_) => d < self.distance,
            };
            if better {
                self.best = Some(candidate);
                self.distance = d;
            }
        }
    }

    /// The nearest name offered, if any was near enough.
    pub const fn best(&self) -> Option<&'a str> {
        self.best
    }
}

/// The name to suggest for `name`, which atom `i` requires and nothing
/// visible provides: the nearest among the names available at that point,
/// the declared inputs and what the atoms before it (in the tree's order)
/// provide.
pub(super) const fn suggest_provided<'a>(d: &FlowDesc<'a>, i: u32, name: &str) -> Option<&'a str> {
    let mut n = Nearest::new(name);
    let mut k = 0;
    let end = d.inputs.len();
    while k < end {
        n.offer(name, d.inputs[k].0);
        k += 1;
    }
    let node = d.atoms[i as usize].node;
    let mut j = 0;
    let end = d.atoms.len();
    while j < end {
        let a = &d.atoms[j];
        if a.node < node {
            let mut e = 0;
            let count = provided_count(a);
            while e < count {
                n.offer(name, provided_name(a, e));
                e += 1;
            }
        }
        j += 1;
    }
    n.best()
}

/// The name to suggest for input `input`, which no atom reads: the nearest
/// among the names the atoms read (after rebinding).
pub(super) const fn suggest_read<'a>(d: &FlowDesc<'a>, input: u32) -> Option<&'a str> {
    let name = d.inputs[input as usize].0;
    let mut n = Nearest::new(name);
    let mut j = 0;
    let end = d.atoms.len();
    while j < end {
        let a = &d.atoms[j];
        let mut cursor = ArgCursor::new();
        let mut k = 0;
        let args = arg_count(a.meta);
        while k < args {
            n.offer(name, read_name(a, cursor.next(a.meta).name));
            k += 1;
        }
        j += 1;
    }
    n.best()
}

/// The name to suggest for `end`, a link end that names no child of graph
/// flow `flow`: the nearest of its children's names.
pub(super) const fn suggest_child<'a>(d: &FlowDesc<'a>, flow: u32, end: &str) -> Option<&'a str> {
    let mut n = Nearest::new(end);
    let mut child = flow + 1;
    while let Some(c) = next_child(d, flow, child) {
        n.offer(end, node_name(d, c));
        child = c + 1;
    }
    n.best()
}

/// The nearest of `names` to `target` (the builder's lists of strings).
pub fn nearest<'a>(target: &str, names: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let mut n = Nearest::new(target);
    for name in names {
        n.offer(target, name);
    }
    n.best()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(edit_distance("", ""), Some(0));
        assert_eq!(edit_distance("abc", ""), Some(3));
        assert_eq!(edit_distance("kitten", "sitting"), Some(3));
        assert_eq!(edit_distance("valid_ordr", "valid_order"), Some(1));
        assert_eq!(edit_distance("reserve_qouta", "reserve_quota"), Some(2));
        let long = "x".repeat(MAX_SUGGESTED_LEN + 1);
        assert_eq!(edit_distance(&long, "x"), None);
        assert_eq!(
            edit_distance(&long[1..], &long[2..]),
            Some(1),
            "names of the longest length compared are compared"
        );
    }

    #[test]
    fn the_nearest_near_enough_name_wins_first_of_equals_kept() {
        let mut n = Nearest::new("zone");
        n.offer("zone", "zone");
        assert_eq!(n.best(), None, "the name itself is no suggestion");
        n.offer("zone", "size");
        assert_eq!(n.best(), None, "two edits are too many for four letters");
        n.offer("zone", "zones");
        n.offer("zone", "bone");
        assert_eq!(n.best(), Some("zones"), "first of the nearest kept");
        let mut n = Nearest::new("abc");
        n.offer("abc", "ab");
        n.offer("abc", "abcd");
        assert_eq!(n.best(), None, "no suggestion for a name of three letters");
        let mut n = Nearest::new("volume_size");
        n.offer("volume_size", "volume_type");
        assert_eq!(n.best(), None, "another word of the same shape");
        let mut n = Nearest::new("valid_ordr");
        n.offer("valid_ordr", "valid_or");
        assert_eq!(n.best(), Some("valid_or"));
        n.offer("valid_ordr", "valid_order");
        assert_eq!(n.best(), Some("valid_order"), "a nearer one replaces it");
    }

    const SUGGESTED: Option<&str> = {
        let mut n = Nearest::new("customr_id");
        n.offer("customr_id", "order_id");
        n.offer("customr_id", "customer_id");
        n.best()
    };

    #[test]
    fn works_in_const() {
        assert_eq!(SUGGESTED, Some("customer_id"));
    }
}
