//! Address prefixes as sorted ranges: every address maps, by one binary search, to the
//! innermost prefix containing it; each prefix links to the next enclosing one, so all
//! prefixes containing an address are found by following at most 33 (IPv4) or 129 (IPv6)
//! links. Memory is linear in the number of distinct prefixes.
//!
//! CIDR prefixes form a laminar family (two prefixes are nested or disjoint), which is what
//! makes one sweep over prefixes sorted by (start, size descending) enough to build the table.

/// An address as an unsigned integer.
pub(crate) trait Key: Copy + Ord {
    fn succ(self) -> Option<Self>;
    /// The bucket of the first-level index (IPv4: the top 16 bits), or `None` for keys
    /// searched without one.
    fn bucket(self) -> Option<usize>;
}

impl Key for u32 {
    fn succ(self) -> Option<Self> {
        self.checked_add(1)
    }
    fn bucket(self) -> Option<usize> {
        Some((self >> 16) as usize)
    }
}

impl Key for u128 {
    fn succ(self) -> Option<Self> {
        self.checked_add(1)
    }
    fn bucket(self) -> Option<usize> {
        None
    }
}

/// Buckets of the first-level index for keys that have one.
const BUCKETS: usize = 1 << 16;

const NONE: u32 = u32::MAX;

#[derive(Debug, Clone)]
pub(crate) struct PrefixTable<K> {
    /// Addresses where the innermost prefix changes, ascending.
    starts: Vec<K>,
    /// Innermost prefix (node) from `starts[i]` up to `starts[i + 1]`, or `NONE`.
    node_at: Vec<u32>,
    /// The node enclosing each node, or `NONE`.
    parent: Vec<u32>,
    /// Each node's members: a range of `members`.
    member_range: Vec<(u32, u32)>,
    /// Indicator indices, grouped by node.
    members: Vec<u32>,
    /// For bucketed keys: `index[b]` is the number of `starts` below bucket `b`'s first
    /// address, so a lookup binary-searches only its bucket's few change points (IPv4: 256 KiB
    /// that turn ~17 dependent probes into one or two).
    index: Vec<u32>,
}

impl<K: Key> Default for PrefixTable<K> {
    fn default() -> Self {
        PrefixTable {
            starts: Vec::new(),
            node_at: Vec::new(),
            parent: Vec::new(),
            member_range: Vec::new(),
            members: Vec::new(),
            index: Vec::new(),
        }
    }
}

impl<K: Key> PrefixTable<K> {
    /// Builds the table from `(first, last, member)` prefix ranges (inclusive bounds, each a
    /// CIDR block). Equal ranges share one node.
    pub fn build(mut prefixes: Vec<(K, K, u32)>) -> Self {
        // Start ascending, larger (enclosing) ranges first, then member for determinism.
        prefixes.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)).then(a.2.cmp(&b.2)));
        let mut t = PrefixTable::default();
        let mut nodes: Vec<(K, K)> = Vec::new();
        for (first, last, member) in prefixes {
            if nodes.last() != Some(&(first, last)) {
                nodes.push((first, last));
                t.member_range.push((t.members.len() as u32, 0));
            }
            t.members.push(member);
            if let Some(r) = t.member_range.last_mut() {
                r.1 += 1;
            }
        }
        t.parent = vec![NONE; nodes.len()];
        let mut stack: Vec<u32> = Vec::new();
        let emit = |t: &mut PrefixTable<K>, at: K, node: u32| {
            if t.starts.last() == Some(&at) {
                if let Some(n) = t.node_at.last_mut() {
                    *n = node;
                }
            } else {
                t.starts.push(at);
                t.node_at.push(node);
            }
        };
        for (i, &(first, _)) in nodes.iter().enumerate() {
            while let Some(&top) = stack.last() {
                let end = nodes[top as usize].1;
                if end >= first {
                    break;
                }
                stack.pop();
                if let Some(after) = end.succ() {
                    emit(&mut t, after, stack.last().copied().unwrap_or(NONE));
                }
            }
            t.parent[i] = stack.last().copied().unwrap_or(NONE);
            stack.push(i as u32);
            emit(&mut t, first, i as u32);
        }
        while let Some(top) = stack.pop() {
            if let Some(after) = nodes[top as usize].1.succ() {
                emit(&mut t, after, stack.last().copied().unwrap_or(NONE));
            }
        }
        if !t.starts.is_empty() && t.starts[0].bucket().is_some() {
            t.index = vec![0; BUCKETS + 1];
            for s in &t.starts {
                if let Some(b) = s.bucket() {
                    t.index[b + 1] += 1;
                }
            }
            for b in 0..BUCKETS {
                t.index[b + 1] += t.index[b];
            }
        }
        t
    }

    pub fn is_empty(&self) -> bool {
        self.member_range.is_empty()
    }

    /// Calls `f` with every member of every prefix containing `addr`, innermost first.
    #[inline]
    pub fn lookup(&self, addr: K, mut f: impl FnMut(u32)) {
        let i = match addr.bucket() {
            Some(b) if !self.index.is_empty() => {
                let (lo, hi) = (self.index[b] as usize, self.index[b + 1] as usize);
                lo + self.starts[lo..hi].partition_point(|s| *s <= addr)
            }
            _ => self.starts.partition_point(|s| *s <= addr),
        };
        if i == 0 {
            return;
        }
        let mut node = self.node_at[i - 1];
        while node != NONE {
            let (from, len) = self.member_range[node as usize];
            for &m in &self.members[from as usize..(from + len) as usize] {
                f(m);
            }
            node = self.parent[node as usize];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(a: u32, len: u32) -> (u32, u32) {
        let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
        (a & mask, (a & mask) | !mask)
    }

    fn found(t: &PrefixTable<u32>, a: u32) -> Vec<u32> {
        let mut v = Vec::new();
        t.lookup(a, |m| v.push(m));
        v.sort_unstable();
        v
    }

    #[test]
    fn nested_and_adjacent() {
        let p = [
            (cidr(0x0a00_0000, 8), 0),
            (cidr(0x0a01_0000, 16), 1),
            (cidr(0x0a01_0203, 32), 2),
            (cidr(0x0b00_0000, 8), 3),
            (cidr(0, 0), 4),
            (cidr(0x0a01_0000, 16), 5),
            (cidr(0xffff_ffff, 32), 6),
        ];
        let t = PrefixTable::build(p.iter().map(|&((a, b), m)| (a, b, m)).collect());
        assert_eq!(found(&t, 0x0a01_0203), [0, 1, 2, 4, 5]);
        assert_eq!(found(&t, 0x0a01_0204), [0, 1, 4, 5]);
        assert_eq!(found(&t, 0x0a02_0000), [0, 4]);
        assert_eq!(found(&t, 0x0b00_0001), [3, 4]);
        assert_eq!(found(&t, 0x0c00_0000), [4]);
        assert_eq!(found(&t, 0xffff_ffff), [4, 6]);
        assert_eq!(found(&t, 0), [4]);
        // Every address agrees with a table searched without the bucket index.
        let mut plain = t.clone();
        plain.index.clear();
        for a in [
            0u32,
            1,
            0x0a00_0000,
            0x0a01_ffff,
            0x0a02_0000,
            0x0aff_ffff,
            0x0b00_0000,
            0xffff_fffe,
        ] {
            assert_eq!(found(&t, a), found(&plain, a), "{a:#x}");
        }
        let empty = PrefixTable::<u32>::build(Vec::new());
        assert!(empty.is_empty());
        assert!(found(&empty, 7).is_empty());
    }
}
