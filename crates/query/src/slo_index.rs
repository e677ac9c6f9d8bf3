//! The SLO index: per tenant and span-based SLO, good and valid events per
//! minute, kept in memory so `/api/v1/slos`, the gate and `/metrics` answer in
//! milliseconds instead of re-reading a month of rollups each time.
//!
//! # Place in the data path
//!
//! Shards write `sluice_rollups` files; this index folds each file into the
//! per-minute counts of every SLO it concerns, once. Each answer first lists
//! the rollup files of the hours the SLOs look at (see
//! [`crate::rollup_files`]) and folds in those it has not seen: files from
//! this node's shards, from other nodes on the same bucket, and late spans'
//! files in old hours alike. The figures are therefore the same as a full
//! re-read would give, and the first answer after a start (or a warm-up task
//! started with the server) pays for reading the window once.
//!
//! # Consistency
//!
//! Files are immutable and appear whole. A file that disappears (retention,
//! or an operator) inside the hours the SLOs look at makes the tenant's index
//! start over from what is stored; one that ages out of every window is just
//! forgotten. Changed `[[slo]]` definitions (SIGHUP) start it over as well.
//!
//! # Memory
//!
//! 16 bytes per minute of window per span-based SLO and tenant (about 690 KiB
//! for a 30-day SLO), plus the names of the files folded in. Minutes more than
//! a day after the newest answer's `now` (clock-skewed spans) are not kept.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use object_store::ObjectStore;
use object_store::path::Path;
use sluice_model::Tenant;
use sluice_model::time::PartitionHour;
use sluice_slo::{EventCounts, Minute, MinuteRange, SliSpec, SloCounts, SloDefinitions};

use crate::rollup_files::{RollupFile, list_rollup_files, read_files, read_server_rollups};
use crate::sql::QueryError;

/// The longest burn window, 3 days, in minutes.
pub(crate) const LONGEST_BURN_MINUTES: i64 = 3 * 24 * 60;

/// Minutes after `now` kept for spans from clocks running ahead.
const FUTURE_MINUTES: i64 = 24 * 60;

/// Good and valid events per minute, dense from `first`.
#[derive(Debug, Default)]
struct MinuteCounts {
    first: Option<Minute>,
    counts: VecDeque<EventCounts>,
}

impl MinuteCounts {
    fn add(&mut self, minute: Minute, counts: EventCounts) {
        if self.counts.is_empty() {
            self.first = Some(minute);
        }
        let first = *self.first.get_or_insert(minute);
        let offset = minute.index() - first.index();
        if offset < 0 {
            for _ in offset..0 {
                self.counts.push_front(EventCounts::default());
            }
            self.first = Some(minute);
            self.counts[0].add(counts);
            return;
        }
        let offset = usize::try_from(offset).expect("not negative");
        if offset >= self.counts.len() {
            self.counts.resize(offset + 1, EventCounts::default());
        }
        self.counts[offset].add(counts);
    }

    /// Forgets the minutes before `horizon`.
    fn prune(&mut self, horizon: Minute) {
        let Some(first) = self.first else { return };
        let drop = usize::try_from(horizon.index() - first.index())
            .unwrap_or(0)
            .min(self.counts.len());
        self.counts.drain(..drop);
        self.first = (!self.counts.is_empty()).then(|| first.plus(drop as i64));
    }

    fn iter(&self) -> impl Iterator<Item = (Minute, EventCounts)> + '_ {
        let first = self.first.unwrap_or(Minute::from_index(0));
        self.counts
            .iter()
            .enumerate()
            .map(move |(i, c)| (first.plus(i as i64), *c))
    }
}

/// The counts of one file, per SLO (by position) and minute.
type FileCounts = Vec<(usize, Minute, EventCounts)>;

/// One tenant's index.
#[derive(Debug, Default)]
struct TenantIndex {
    /// The definitions the counts were made for.
    definitions: Option<Arc<SloDefinitions>>,
    /// The oldest minute kept.
    horizon: Option<Minute>,
    /// Files folded in, with their hour.
    files: HashMap<Path, PartitionHour>,
    /// Per definition (by position), per minute.
    counts: Vec<MinuteCounts>,
}

impl TenantIndex {
    fn reset(&mut self, definitions: &Arc<SloDefinitions>, horizon: Minute) {
        self.definitions = Some(Arc::clone(definitions));
        self.horizon = Some(horizon);
        self.files.clear();
        self.counts = definitions
            .iter()
            .map(|_| MinuteCounts::default())
            .collect();
    }

    /// Folds in the rollup files not seen yet, so the counts cover every
    /// stored minute from `horizon` on.
    async fn refresh(
        &mut self,
        store: &Arc<dyn ObjectStore>,
        tenant: &Tenant,
        definitions: &Arc<SloDefinitions>,
        now_nanos: i64,
    ) -> Result<(), QueryError> {
        let horizon = horizon(definitions, now_nanos);
        let same_definitions = self
            .definitions
            .as_ref()
            .is_some_and(|d| Arc::ptr_eq(d, definitions) || **d == **definitions);
        if !same_definitions || self.horizon.is_none_or(|kept| horizon < kept) {
            self.reset(definitions, horizon);
        }
        let first_hour = PartitionHour::of_nanos(horizon.start_nanos());
        let listed = list_rollup_files(store, tenant, first_hour, None).await?;
        let listed_paths: HashSet<&Path> = listed.iter().map(|f| &f.path).collect();
        let vanished = self
            .files
            .iter()
            .any(|(path, hour)| *hour >= first_hour && !listed_paths.contains(path));
        if vanished {
            tracing::info!(tenant = %tenant, "rollup files were removed; rebuilding the slo index");
            self.reset(definitions, horizon);
        }
        self.files.retain(|_, hour| *hour >= first_hour);
        for counts in &mut self.counts {
            counts.prune(horizon);
        }
        self.horizon = Some(horizon);

        let new: Vec<RollupFile> = listed
            .into_iter()
            .filter(|f| !self.files.contains_key(&f.path))
            .collect();
        if new.is_empty() {
            return Ok(());
        }
        let newest = Minute::of_nanos(now_nanos).plus(FUTURE_MINUTES);
        let decode_definitions = Arc::clone(definitions);
        let decoded = read_files(store, new.clone(), move |_file: &RollupFile, bytes| {
            file_counts(&decode_definitions, bytes, horizon, newest)
        })
        .await?;
        for file_counts in decoded {
            for (slo, minute, counts) in file_counts {
                self.counts[slo].add(minute, counts);
            }
        }
        self.files
            .extend(new.into_iter().map(|file| (file.path, file.hour)));
        Ok(())
    }

    /// Adds the stored counts of the definition at `position` to `counts`.
    fn add_to(&self, position: usize, counts: &mut SloCounts) {
        let range = counts.range();
        let start = range
            .start
            .min(MinuteRange::last_n(counts.now_nanos(), LONGEST_BURN_MINUTES).start);
        if let Some(minutes) = self.counts.get(position) {
            for (minute, events) in minutes.iter().filter(|(m, _)| *m >= start) {
                counts.add_minute(minute, events);
            }
        }
    }
}

/// The oldest minute any span-based SLO needs at `now_nanos`: its window's
/// start or the 3-day burn window's, whichever is older.
fn horizon(definitions: &SloDefinitions, now_nanos: i64) -> Minute {
    definitions
        .iter()
        .filter(|d| !matches!(d.sli, SliSpec::Ratio { .. }))
        .map(|d| d.window.range(now_nanos).start)
        .chain([MinuteRange::last_n(now_nanos, LONGEST_BURN_MINUTES).start])
        .min()
        .unwrap_or_else(|| Minute::of_nanos(now_nanos))
}

/// The good and valid events one rollup file adds to each SLO, per minute.
fn file_counts(
    definitions: &SloDefinitions,
    bytes: bytes::Bytes,
    horizon: Minute,
    newest: Minute,
) -> Result<FileCounts, QueryError> {
    let span_based: Vec<(usize, &sluice_slo::SloDefinition)> = definitions
        .iter()
        .enumerate()
        .filter(|(_, d)| !matches!(d.sli, SliSpec::Ratio { .. }))
        .collect();
    let services: HashSet<String> = span_based.iter().map(|(_, d)| d.service.clone()).collect();
    let sketches = span_based
        .iter()
        .any(|(_, d)| matches!(d.sli, SliSpec::Latency { .. }));
    let mut out: HashMap<(usize, Minute), EventCounts> = HashMap::new();
    read_server_rollups(bytes, &services, sketches, |row| {
        if row.minute < horizon || row.minute > newest {
            return Ok(());
        }
        let mut rollup = None;
        for (position, definition) in &span_based {
            if definition.service != row.service
                || definition
                    .operation
                    .as_deref()
                    .is_some_and(|op| op != row.operation)
            {
                continue;
            }
            let events = match &definition.sli {
                SliSpec::Availability => row.availability(),
                SliSpec::Latency { threshold } => {
                    if rollup.is_none() {
                        rollup = Some(row.rollup()?);
                    }
                    rollup
                        .as_ref()
                        .expect("decoded just above")
                        .latency_counts(threshold.as_nanos_u64())
                }
                SliSpec::Ratio { .. } => continue,
            };
            out.entry((*position, row.minute)).or_default().add(events);
        }
        Ok(())
    })?;
    Ok(out
        .into_iter()
        .map(|((slo, minute), counts)| (slo, minute, counts))
        .collect())
}

/// The indexes of all tenants.
#[derive(Debug, Default)]
pub(crate) struct SloIndex {
    tenants: Mutex<HashMap<Tenant, Arc<tokio::sync::Mutex<TenantIndex>>>>,
}

impl SloIndex {
    /// Brings `tenant`'s index up to date with the store and adds, for each
    /// `(position, counts)`, the events of the definition at `position`.
    pub async fn add_counts(
        &self,
        store: &Arc<dyn ObjectStore>,
        tenant: &Tenant,
        definitions: &Arc<SloDefinitions>,
        counts: &mut [(usize, &mut SloCounts)],
    ) -> Result<(), QueryError> {
        let index = Arc::clone(
            self.tenants
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry(tenant.clone())
                .or_default(),
        );
        let now = counts
            .iter()
            .map(|(_, c)| c.now_nanos())
            .max()
            .unwrap_or_default();
        let mut index = index.lock().await;
        index.refresh(store, tenant, definitions, now).await?;
        for (position, counts) in counts.iter_mut() {
            index.add_to(*position, counts);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_790_000_000_000_000_000;

    #[test]
    fn minute_counts_grow_both_ways_and_prune() {
        let mut counts = MinuteCounts::default();
        let m = Minute::of_nanos(T0);
        counts.add(m, EventCounts::new(1, 2));
        counts.add(m.plus(3), EventCounts::new(3, 3));
        counts.add(m.plus(-2), EventCounts::new(0, 1));
        counts.add(m, EventCounts::new(1, 1));
        let kept: Vec<_> = counts.iter().filter(|(_, c)| c.valid > 0).collect();
        assert_eq!(
            kept,
            vec![
                (m.plus(-2), EventCounts::new(0, 1)),
                (m, EventCounts::new(2, 3)),
                (m.plus(3), EventCounts::new(3, 3)),
            ]
        );
        counts.prune(m);
        assert_eq!(counts.iter().next(), Some((m, EventCounts::new(2, 3))));
        counts.prune(m.plus(10));
        assert_eq!(counts.iter().count(), 0);
        counts.add(m.plus(11), EventCounts::new(1, 1));
        assert_eq!(
            counts.iter().collect::<Vec<_>>(),
            vec![(m.plus(11), EventCounts::new(1, 1))]
        );
    }
}
