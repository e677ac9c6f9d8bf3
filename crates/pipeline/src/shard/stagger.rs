//! When a shard's batches are full: the row count at which the shard worker
//! writes each batch it opens, staggered from shard to shard.
//!
//! The router spreads records evenly, so shards fill their batches at the
//! same pace. Written at the same row count, every shard would sort and encode
//! at the same moment, each flush a long run of CPU: every core busy with
//! encoding while the receivers and the WAL writer wait for one, and requests
//! for their acknowledgement. So shard `i` of `n` writes its first batch of a
//! partition at `(i + 1) / n` of `storage.flush_rows`, and every later one at
//! `flush_rows`: the shards stay a fraction of a batch apart and encode in
//! turn. Measured in `benches/RESULTS.md` (thirteenth session).

use std::collections::HashSet;

use super::{BatchKey, ShardSettings};

/// The row counts at which one shard writes its batches.
#[derive(Debug)]
pub(super) struct Stagger {
    flush_rows: usize,
    /// This shard's first batch of a partition.
    first_rows: usize,
    /// Partitions whose last batch was written full (for its rows, or for
    /// what they weigh): their next batch continues the stagger at
    /// `flush_rows`.
    written_for_rows: HashSet<BatchKey>,
    /// Partitions remembered at most (`pipeline.max_open_batches`).
    remember: usize,
}

impl Stagger {
    pub(super) fn new(settings: &ShardSettings, index: usize) -> Self {
        let shards = settings.shards.max(1) as u128;
        let index = index.min(settings.shards.saturating_sub(1)) as u128;
        let first_rows = settings.flush_rows as u128 * (index + 1) / shards;
        Self {
            flush_rows: settings.flush_rows,
            first_rows: usize::try_from(first_rows).unwrap_or(usize::MAX).max(1),
            written_for_rows: HashSet::new(),
            remember: settings.max_open_batches.max(1),
        }
    }

    /// The rows at which a batch of `key` opened now is written: `flush_rows`
    /// when the partition's previous batch was written for its rows, else
    /// (the partition's first batch, or one after an age or memory flush)
    /// this shard's share of it.
    pub(super) fn rows_limit(&mut self, key: &BatchKey) -> usize {
        if self.written_for_rows.remove(key) {
            self.flush_rows
        } else {
            self.first_rows
        }
    }

    /// Notes that the batch of `key` was written full (for its rows, or for
    /// what they weigh).
    pub(super) fn written_for_rows(&mut self, key: &BatchKey) {
        if self.written_for_rows.len() >= self.remember {
            // Partitions that were never reopened (their hour is over):
            // forgetting them costs one early batch each, not memory.
            self.written_for_rows.clear();
        }
        self.written_for_rows.insert(key.clone());
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use sluice_model::time::PartitionHour;
    use sluice_model::{Table, Tenant};

    use super::*;

    fn settings(flush_rows: usize, shards: usize) -> ShardSettings {
        ShardSettings {
            flush_rows,
            flush_interval: Duration::from_secs(10),
            max_open_batches: 4,
            max_batch_bytes: u64::MAX,
            shards,
        }
    }

    fn key(hour: i64) -> BatchKey {
        BatchKey {
            tenant: Tenant::default_tenant(),
            table: Table::Traces,
            hour: PartitionHour::of_nanos(hour * 3_600_000_000_000),
        }
    }

    #[test]
    fn shards_write_their_first_batch_at_their_share_of_flush_rows() {
        let firsts: Vec<usize> = (0..4)
            .map(|i| Stagger::new(&settings(100_000, 4), i).rows_limit(&key(0)))
            .collect();
        assert_eq!(firsts, [25_000, 50_000, 75_000, 100_000]);
        assert_eq!(
            Stagger::new(&settings(100_000, 1), 0).rows_limit(&key(0)),
            100_000
        );
    }

    #[test]
    fn the_batch_after_one_written_for_its_rows_takes_flush_rows() {
        let mut stagger = Stagger::new(&settings(100_000, 2), 0);
        assert_eq!(stagger.rows_limit(&key(0)), 50_000);
        stagger.written_for_rows(&key(0));
        assert_eq!(stagger.rows_limit(&key(0)), 100_000);
        // The next hour's partition starts staggered again...
        assert_eq!(stagger.rows_limit(&key(1)), 50_000);
        // ...as does a partition whose batch was written for another reason.
        assert_eq!(stagger.rows_limit(&key(0)), 50_000);
    }

    #[test]
    fn partitions_remembered_stay_bounded() {
        let mut stagger = Stagger::new(&settings(100, 2), 0);
        for hour in 0..100 {
            stagger.written_for_rows(&key(hour));
            assert!(stagger.written_for_rows.len() <= 4);
        }
        assert_eq!(stagger.rows_limit(&key(99)), 100);
    }

    #[test]
    fn extreme_settings_give_at_least_one_row() {
        assert_eq!(Stagger::new(&settings(1, 8), 0).rows_limit(&key(0)), 1);
        let huge = Stagger::new(&settings(usize::MAX, 2), 1).first_rows;
        assert_eq!(huge, usize::MAX);
    }
}
