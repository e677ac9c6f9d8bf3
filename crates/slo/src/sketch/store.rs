//! The dense bucket store of a [`super::DdSketch`], bounded by collapsing its
//! lowest buckets.

/// Counts per bucket index, dense between the lowest and the highest non-empty
/// bucket.
///
/// Invariants: when `counts` is not empty its first and last entries are not 0,
/// and it holds at most `max_buckets` entries; when empty, `offset` is 0. So two
/// stores holding the same buckets are equal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct BucketStore {
    /// The index of `counts[0]`.
    offset: i32,
    counts: Vec<u64>,
    max_buckets: usize,
}

impl BucketStore {
    pub(super) fn new(max_buckets: usize) -> Self {
        Self {
            offset: 0,
            counts: Vec::new(),
            max_buckets: max_buckets.max(1),
        }
    }

    pub(super) fn max_buckets(&self) -> usize {
        self.max_buckets
    }

    /// Adds `n` to bucket `index`. When that would make the store span more
    /// than `max_buckets`, every bucket below `highest - max_buckets + 1` is
    /// collapsed into that one. The outcome is "each index clamped up to the
    /// final highest index minus `max_buckets - 1`", whatever the order of adds.
    pub(super) fn add(&mut self, index: i32, n: u64) {
        if n == 0 {
            return;
        }
        if self.counts.is_empty() {
            self.offset = index;
            self.counts.push(n);
            return;
        }
        let index = i64::from(index);
        let lowest = i64::from(self.offset);
        let highest = lowest + self.len_i64() - 1;
        let floor = highest.max(index) - self.max_buckets_i64() + 1;
        if lowest < floor {
            self.collapse_below(floor);
        }
        let target = index.max(floor);
        let lowest = i64::from(self.offset);
        if target < lowest {
            let grow = to_usize(lowest - target);
            self.counts
                .splice(0..0, std::iter::repeat_n(0, grow))
                .for_each(drop);
            self.offset = to_i32(target);
        }
        let slot = to_usize(target - i64::from(self.offset));
        if slot >= self.counts.len() {
            self.counts.resize(slot + 1, 0);
        }
        self.counts[slot] = self.counts[slot].saturating_add(n);
    }

    /// Moves every count below `floor` into bucket `floor` (which then starts
    /// the store).
    fn collapse_below(&mut self, floor: i64) {
        let below = to_usize(floor - i64::from(self.offset));
        if below >= self.counts.len() {
            let total = self.counts.iter().fold(0u64, |a, &c| a.saturating_add(c));
            self.counts.clear();
            self.counts.push(total);
        } else {
            let total = self
                .counts
                .drain(..below)
                .fold(0u64, |a, c| a.saturating_add(c));
            self.counts[0] = self.counts[0].saturating_add(total);
        }
        self.offset = to_i32(floor);
    }

    /// The non-empty buckets, `(index, count)` by ascending index.
    pub(super) fn buckets(&self) -> impl Iterator<Item = (i32, u64)> + '_ {
        let offset = i64::from(self.offset);
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(move |(i, &c)| (to_i32(offset + i as i64), c))
    }

    /// How many non-empty buckets there are.
    pub(super) fn non_empty(&self) -> usize {
        self.counts.iter().filter(|c| **c > 0).count()
    }

    fn len_i64(&self) -> i64 {
        i64::try_from(self.counts.len()).unwrap_or(i64::MAX)
    }

    fn max_buckets_i64(&self) -> i64 {
        i64::try_from(self.max_buckets).unwrap_or(i64::MAX)
    }
}

/// Bucket indexes come from `i32`s and spans are bounded by `max_buckets`, so
/// every index the store computes fits; saturate rather than wrap regardless.
fn to_i32(v: i64) -> i32 {
    i32::try_from(v).unwrap_or(if v < 0 { i32::MIN } else { i32::MAX })
}

fn to_usize(v: i64) -> usize {
    usize::try_from(v).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contents(store: &BucketStore) -> Vec<(i32, u64)> {
        store.buckets().collect()
    }

    #[test]
    fn grows_both_ways() {
        let mut s = BucketStore::new(100);
        s.add(10, 1);
        s.add(7, 2);
        s.add(12, 3);
        s.add(10, 1);
        assert_eq!(contents(&s), vec![(7, 2), (10, 2), (12, 3)]);
        assert_eq!(s.non_empty(), 3);
    }

    #[test]
    fn collapses_lowest_buckets() {
        let mut s = BucketStore::new(3);
        s.add(1, 1);
        s.add(2, 1);
        s.add(3, 1);
        s.add(5, 1); // floor 3: buckets 1 and 2 join 3
        assert_eq!(contents(&s), vec![(3, 3), (5, 1)]);
        s.add(0, 4); // below the floor: into the lowest bucket
        assert_eq!(contents(&s), vec![(3, 7), (5, 1)]);
        s.add(100, 1); // everything collapses into 98
        assert_eq!(contents(&s), vec![(98, 8), (100, 1)]);
    }

    #[test]
    fn collapsing_ignores_order() {
        let adds = [(1, 1), (9, 2), (4, 1), (-3, 5), (12, 1), (6, 2)];
        let mut forward = BucketStore::new(4);
        let mut backward = BucketStore::new(4);
        for &(i, n) in &adds {
            forward.add(i, n);
        }
        for &(i, n) in adds.iter().rev() {
            backward.add(i, n);
        }
        assert_eq!(forward, backward);
        assert_eq!(contents(&forward), vec![(9, 11), (12, 1)]);
    }

    #[test]
    fn handles_extreme_indexes() {
        let mut s = BucketStore::new(4);
        s.add(i32::MAX, 1);
        s.add(i32::MIN, 1);
        assert_eq!(contents(&s), vec![(i32::MAX - 3, 1), (i32::MAX, 1)]);
    }
}
