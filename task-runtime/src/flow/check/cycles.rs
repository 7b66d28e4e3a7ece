//! The dependency cycle search ([`Cycles`]) the flow macro and the builder
//! share, over flat sorted edge pairs ([`sort_pairs`], [`dedup_pairs`]).

/// Finds dependency cycles, one per strongly connected component, each the
/// shortest cycle through the component's smallest node (breadth first, in
/// node order), components in order of their smallest node.
///
/// The graph is `n` nodes and `edges`, flat `[from, to, ..]` pairs sorted and
/// without repeats; all state lives in a caller's scratch slice of
/// [`Cycles::scratch_len`] elements. The builder ([`Flow::compile`](crate::flow::Flow::compile))
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
pub(super) const fn strip(
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
pub(super) const fn strip_rev(
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

pub(super) const fn pair_less(v: &[u32], a: usize, b: usize) -> bool {
    v[2 * a] < v[2 * b] || v[2 * a] == v[2 * b] && v[2 * a + 1] < v[2 * b + 1]
}

pub(super) const fn swap_pairs(v: &mut [u32], a: usize, b: usize) {
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

pub(super) const fn sift_pairs(v: &mut [u32], mut root: usize, end: usize) {
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
}
