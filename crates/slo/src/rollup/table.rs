//! The rollups a shard holds until they are written, or a query node holds
//! while merging rows from many files: one [`SliRollup`] per key and minute.

use std::collections::BTreeMap;

use super::{RollupKey, RollupKeyRef, SliRollup};
use crate::{Minute, SloError};

/// One row of `sluice_rollups`: a key, a minute, and the (partial) rollup.
#[derive(Debug, Clone, PartialEq)]
pub struct RollupRow {
    pub key: RollupKey,
    pub minute: Minute,
    pub rollup: SliRollup,
}

/// One minute's rollups by key: a hashbrown map, so that a span's rollup is
/// found by its [`RollupKeyRef`].
type MinuteRows = hashbrown::HashMap<RollupKey, SliRollup, ahash::RandomState>;

/// Rollups by minute and key.
///
/// Memory grows with the distinct keys per minute times the minutes held; a
/// shard bounds it by draining old minutes ([`RollupTable::drain_older_than`])
/// and watching [`RollupTable::len`].
#[derive(Debug, Default, Clone)]
pub struct RollupTable {
    minutes: BTreeMap<Minute, MinuteRows>,
    rows: usize,
}

impl RollupTable {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one span: `end_time_nanos` picks the minute, `duration_nanos`
    /// (end − start) goes into the success or the failure sketch. The key is
    /// built only the first time it is seen in a minute.
    pub fn record_span(
        &mut self,
        key: RollupKeyRef<'_>,
        end_time_nanos: i64,
        duration_nanos: u64,
        is_error: bool,
    ) {
        let rows = self
            .minutes
            .entry(Minute::of_nanos(end_time_nanos))
            .or_default();
        if let Some(rollup) = rows.get_mut(&key) {
            rollup.record(duration_nanos, is_error);
            return;
        }
        let mut rollup = SliRollup::new();
        rollup.record(duration_nanos, is_error);
        rows.insert(key.to_owned(), rollup);
        self.rows += 1;
    }

    /// Merges a row from another shard, node or file into this table: the sum
    /// is exact whatever the order of rows.
    pub fn merge_row(&mut self, row: RollupRow) -> Result<(), SloError> {
        let rows = self.minutes.entry(row.minute).or_default();
        match rows.get_mut(&row.key) {
            Some(existing) => existing.merge(&row.rollup),
            None => {
                rows.insert(row.key, row.rollup);
                self.rows += 1;
                Ok(())
            }
        }
    }

    /// Merges every row of `other` into this table.
    pub fn merge_table(&mut self, other: RollupTable) -> Result<(), SloError> {
        for row in other.into_rows() {
            self.merge_row(row)?;
        }
        Ok(())
    }

    pub fn get(&self, key: &RollupKey, minute: Minute) -> Option<&SliRollup> {
        self.minutes.get(&minute)?.get(key)
    }

    /// The rows held, key and minute pairs.
    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// The earliest minute held.
    pub fn oldest_minute(&self) -> Option<Minute> {
        self.minutes.keys().next().copied()
    }

    /// Every row held, by minute (keys in no particular order within one).
    pub fn iter(&self) -> impl Iterator<Item = (&RollupKey, Minute, &SliRollup)> + '_ {
        self.minutes
            .iter()
            .flat_map(|(&minute, rows)| rows.iter().map(move |(key, r)| (key, minute, r)))
    }

    /// Removes and returns the rows of every minute before `minute`, sorted as
    /// storage writes them: by tenant, service, minute, operation, span kind.
    pub fn drain_older_than(&mut self, minute: Minute) -> Vec<RollupRow> {
        let keep = self.minutes.split_off(&minute);
        let drained = std::mem::replace(&mut self.minutes, keep);
        self.rows = self.minutes.values().map(MinuteRows::len).sum();
        sorted_rows(drained)
    }

    /// Removes and returns every row (at shutdown), sorted as
    /// [`RollupTable::drain_older_than`] sorts them.
    pub fn drain_all(&mut self) -> Vec<RollupRow> {
        self.rows = 0;
        sorted_rows(std::mem::take(&mut self.minutes))
    }

    /// Every row, sorted as [`RollupTable::drain_older_than`] sorts them.
    pub fn into_rows(self) -> Vec<RollupRow> {
        sorted_rows(self.minutes)
    }
}

fn sorted_rows(minutes: BTreeMap<Minute, MinuteRows>) -> Vec<RollupRow> {
    let mut rows: Vec<RollupRow> = minutes
        .into_iter()
        .flat_map(|(minute, rows)| {
            rows.into_iter().map(move |(key, rollup)| RollupRow {
                key,
                minute,
                rollup,
            })
        })
        .collect();
    rows.sort_unstable_by(|a, b| {
        (
            &a.key.tenant,
            &a.key.service,
            a.minute,
            &a.key.operation,
            a.key.span_kind,
        )
            .cmp(&(
                &b.key.tenant,
                &b.key.service,
                b.minute,
                &b.key.operation,
                b.key.span_kind,
            ))
    });
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NANOS_PER_MINUTE;
    use crate::rollup::SpanKind;
    use sluice_model::Tenant;

    fn key(service: &str, operation: &str) -> RollupKey {
        RollupKey::new(Tenant::default(), service, operation, SpanKind::Server)
    }

    const T0: i64 = 1_700_000_040_000_000_000; // a minute boundary

    #[test]
    fn buckets_by_end_time_minute() {
        let mut t = RollupTable::new();
        let pay = key("checkout", "POST /pay");
        // Ends at T0 + 59.999 s and at T0 + 60 s: two minutes.
        t.record_span(pay.borrowed(), T0 + NANOS_PER_MINUTE - 1, 5_000_000, false);
        t.record_span(pay.borrowed(), T0 + NANOS_PER_MINUTE, 5_000_000, true);
        assert_eq!(t.len(), 2);
        let first = t.get(&pay, Minute::of_nanos(T0)).expect("first minute");
        assert_eq!((first.requests(), first.errors()), (1, 0));
        let second = t.get(&pay, Minute::of_nanos(T0).plus(1)).expect("second");
        assert_eq!((second.requests(), second.errors()), (1, 1));
    }

    #[test]
    fn drains_old_minutes_sorted_by_service_then_time() {
        let mut t = RollupTable::new();
        let m0 = Minute::of_nanos(T0);
        for (service, minute) in [("b", 0), ("a", 1), ("a", 0), ("b", 2), ("a", 2)] {
            t.record_span(
                key(service, "op").borrowed(),
                m0.plus(minute).start_nanos(),
                1,
                false,
            );
        }
        let rows = t.drain_older_than(m0.plus(2));
        let order: Vec<(&str, i64)> = rows
            .iter()
            .map(|r| (&*r.key.service, r.minute.index() - m0.index()))
            .collect();
        assert_eq!(order, vec![("a", 0), ("a", 1), ("b", 0)]);
        assert_eq!(t.len(), 2);
        assert_eq!(t.oldest_minute(), Some(m0.plus(2)));
        // A late span for a drained minute starts a new partial row.
        t.record_span(key("a", "op").borrowed(), m0.start_nanos(), 1, true);
        assert_eq!(t.len(), 3);
        assert_eq!(t.drain_all().len(), 3);
        assert!(t.is_empty());
    }

    #[test]
    fn rows_from_many_shards_merge_into_exact_totals() {
        let pay = key("checkout", "POST /pay");
        let mut shards = vec![RollupTable::new(), RollupTable::new(), RollupTable::new()];
        let mut single = RollupTable::new();
        for i in 0..3000u64 {
            let end = T0 + (i as i64 % 180) * 1_000_000_000;
            let (duration, error) = (1_000_000 + i * 1_000, i % 17 == 0);
            shards[(i % 3) as usize].record_span(pay.borrowed(), end, duration, error);
            single.record_span(pay.borrowed(), end, duration, error);
        }
        // Late partial rows: drain shard 0 early, then merge everything.
        let early = shards[0].drain_older_than(Minute::of_nanos(T0).plus(1));
        let mut merged = RollupTable::new();
        for row in early {
            merged.merge_row(row).expect("same accuracy");
        }
        for shard in shards {
            merged.merge_table(shard).expect("same accuracy");
        }
        assert_eq!(merged.len(), single.len());
        for (key, minute, expected) in single.iter() {
            let got = merged.get(key, minute).expect("every minute merged");
            assert_eq!(got.requests(), expected.requests());
            assert_eq!(got.errors(), expected.errors());
            assert_eq!(
                got.success_latency().buckets().collect::<Vec<_>>(),
                expected.success_latency().buckets().collect::<Vec<_>>()
            );
            assert_eq!(
                got.failure_latency().quantile(0.99),
                expected.failure_latency().quantile(0.99)
            );
        }
    }
}
