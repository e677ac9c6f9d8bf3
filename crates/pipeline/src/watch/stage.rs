//! The detector thread: merges the shards' step summaries, closes steps in
//! event-time order, feeds the detectors, and hands anomalies to storage and
//! to the alert sink.
//!
//! # Ordering
//!
//! Each shard reports the newest event time it saw per tenant. A tenant's
//! event clock is the oldest of those of the shards that reported for it in
//! the last two seconds (so a shard behind in a fast replay holds the others
//! back instead of seeing its records arrive late), and a step closes once
//! the clock is `anomaly.lateness` past its end; summaries of closed steps
//! are late and not counted. When a tenant's data stops, its clock advances
//! with the wall clock, so a traffic drop to nothing still closes steps (with
//! zero rates). Summaries more than a minute ahead of the wall clock are
//! refused as skew.
//!
//! # Shutdown
//!
//! The thread ends when every shard has gone. The detectors' state does not
//! survive a restart, so anomalies still open then are ended at the last
//! closed step (and the sink hears they resolved).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use sluice_model::{Table, Tenant};
use sluice_storage::ParquetFileWriter;

use super::WatchConfig;
use super::output::{AnomalyRow, AnomalySink, batches, record_of};
use super::series::TenantSeries;
use super::step::{StepBatch, StepSummary};
use crate::metrics::{ANOMALIES, ANOMALY_DROPPED, ANOMALY_SERIES, ANOMALY_SERIES_REFUSED};

const TICK: Duration = Duration::from_millis(250);

/// How far ahead of the wall clock a step may be.
const MAX_SKEW_NANOS: i64 = 60_000_000_000;

/// A shard counts toward a tenant's event clock this long after it last
/// reported for it.
const ACTIVE: Duration = Duration::from_secs(2);

/// One tenant's open steps and series.
#[derive(Debug, Default)]
struct TenantWatch {
    open: BTreeMap<i64, StepSummary>,
    /// Steps before this are closed; `None` before any data.
    closed_before: Option<i64>,
    /// A step was closed: `closed_before` no longer moves back.
    started: bool,
    /// Per shard: the newest event time it saw, and when it said so.
    clocks: HashMap<usize, (i64, Instant)>,
    series: TenantSeries,
}

impl TenantWatch {
    /// The event time up to which every active shard has reported, or, with
    /// no shard active, the newest event time plus the wall time since.
    fn event_clock(&self, now: Instant) -> Option<i64> {
        let active = self
            .clocks
            .values()
            .filter(|(_, at)| now.duration_since(*at) <= ACTIVE)
            .map(|(newest, _)| *newest)
            .min();
        active.or_else(|| {
            let (newest, at) = self.clocks.values().max_by_key(|(newest, _)| *newest)?;
            let idle = i64::try_from(now.duration_since(*at).as_nanos()).unwrap_or(i64::MAX);
            Some(newest.saturating_add(idle))
        })
    }
}

/// The detector thread's state.
#[derive(Debug)]
pub struct WatchStage {
    config: WatchConfig,
    queue: Receiver<StepBatch>,
    writer: ParquetFileWriter,
    sink: Option<Arc<dyn AnomalySink>>,
    tenants: HashMap<Tenant, TenantWatch>,
    rows: Vec<(Tenant, AnomalyRow)>,
}

impl WatchStage {
    pub(crate) fn new(
        config: WatchConfig,
        queue: Receiver<StepBatch>,
        writer: ParquetFileWriter,
        sink: Option<Arc<dyn AnomalySink>>,
    ) -> Self {
        Self {
            config,
            queue,
            writer,
            sink,
            tenants: HashMap::new(),
            rows: Vec::new(),
        }
    }

    /// The thread's body; returns when every shard has gone.
    pub fn run(mut self) {
        loop {
            match self.queue.recv_timeout(TICK) {
                Ok(batch) => self.take(batch, Instant::now(), wall_nanos()),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            self.close_due(Instant::now());
            self.write();
        }
        self.stop();
        self.write();
    }

    /// Merges one shard's summaries.
    fn take(&mut self, batch: StepBatch, now: Instant, wall: i64) {
        let step = self.config.step_nanos();
        for (tenant, newest) in batch.newest {
            let newest = newest.min(wall + MAX_SKEW_NANOS);
            let watch = self.tenants.entry(tenant).or_default();
            let clock = watch.clocks.entry(batch.shard).or_insert((newest, now));
            clock.0 = clock.0.max(newest);
            clock.1 = now;
        }
        for (tenant, start, summary) in batch.steps {
            if start > wall + MAX_SKEW_NANOS {
                ::metrics::counter!(ANOMALY_DROPPED, "reason" => "future").increment(1);
                continue;
            }
            let watch = self.tenants.entry(tenant).or_default();
            let closed_before = match watch.closed_before {
                Some(closed) if watch.started || closed <= start => closed,
                _ => start,
            };
            watch.closed_before = Some(closed_before);
            if start < closed_before {
                ::metrics::counter!(ANOMALY_DROPPED, "reason" => "late").increment(1);
                continue;
            }
            debug_assert_eq!(start % step, 0);
            match watch.open.get_mut(&start) {
                Some(open) => open.merge(summary),
                None => {
                    watch.open.insert(start, summary);
                }
            }
        }
    }

    /// Closes every step whose end is `lateness` behind its tenant's event
    /// time (advanced by the wall clock while no data comes).
    fn close_due(&mut self, now: Instant) {
        let step = self.config.step_nanos();
        let lateness = i64::try_from(self.config.lateness.as_nanos_u64()).unwrap_or(i64::MAX);
        let expiry = i64::try_from(self.config.series_expiry.as_nanos_u64()).unwrap_or(i64::MAX);
        let watched: usize = self.tenants.values().map(|t| t.series.series.len()).sum();
        let mut room = self.config.max_series.saturating_sub(watched);
        for (tenant, watch) in &mut self.tenants {
            let (Some(mut next), Some(clock)) = (watch.closed_before, watch.event_clock(now))
            else {
                continue;
            };
            let horizon = clock.saturating_sub(lateness);
            while next.saturating_add(step) <= horizon {
                let first_open = watch.open.keys().next().copied();
                // A long gap: every series expires; jump to the next data.
                if first_open.unwrap_or(horizon) - next > expiry {
                    for (key, transition) in watch.series.expire(i64::MAX, next) {
                        let record = record_of(key, transition);
                        self.rows
                            .push((tenant.clone(), AnomalyRow::new(tenant, record, next)));
                    }
                    next = match first_open {
                        Some(open) => open,
                        None => horizon.div_euclid(step) * step,
                    };
                    continue;
                }
                let summary = watch.open.remove(&next).unwrap_or_default();
                let result = watch
                    .series
                    .observe_step(&self.config, next, summary, &mut room);
                if result.refused > 0 {
                    ::metrics::counter!(ANOMALY_SERIES_REFUSED).increment(result.refused);
                }
                let mut transitions = result.transitions;
                transitions.extend(watch.series.expire(next - expiry, next));
                for (key, transition) in transitions {
                    let change = transition.kind();
                    let record = record_of(key, transition);
                    let row = AnomalyRow::new(tenant, record, next);
                    ::metrics::counter!(ANOMALIES, "change" => change, "signal" => row.record.series.signal.as_str()).increment(1);
                    if let Some(sink) = &self.sink {
                        sink.anomaly(tenant, &row.id, &row.record, change);
                    }
                    self.rows.push((tenant.clone(), row));
                }
                next += step;
                watch.started = true;
            }
            watch.closed_before = Some(next);
        }
        let total: usize = self.tenants.values().map(|t| t.series.series.len()).sum();
        ::metrics::gauge!(ANOMALY_SERIES).set(total as f64);
    }

    /// Ends the anomalies still open: their detectors stop here.
    fn stop(&mut self) {
        for (tenant, watch) in &mut self.tenants {
            let end = watch.closed_before.unwrap_or_default();
            for (key, transition) in watch.series.expire(i64::MAX, end) {
                let record = record_of(key, transition);
                let row = AnomalyRow::new(tenant, record, end);
                if let Some(sink) = &self.sink {
                    sink.anomaly(tenant, &row.id, &row.record, "resolved");
                }
                self.rows.push((tenant.clone(), row));
            }
        }
    }

    /// Writes the rows gathered, retrying a few times; anomalies are derived
    /// data, so after that they are dropped (and counted) rather than held.
    fn write(&mut self) {
        if self.rows.is_empty() {
            return;
        }
        for (tenant, hour, batch) in batches(std::mem::take(&mut self.rows)) {
            let mut backoff = Duration::from_millis(100);
            for attempt in 1..=5 {
                match self
                    .writer
                    .write(&tenant, Table::Anomalies, hour, &batch, (0, 0))
                {
                    Ok(_) => break,
                    Err(error) if attempt < 5 => {
                        tracing::warn!(%error, retry_in = ?backoff, "cannot write anomalies, will retry");
                        std::thread::sleep(backoff);
                        backoff *= 2;
                    }
                    Err(error) => {
                        tracing::error!(%error, rows = batch.num_rows(), "cannot write anomalies, dropping them");
                        ::metrics::counter!(ANOMALY_DROPPED, "reason" => "write_failed")
                            .increment(batch.num_rows() as u64);
                    }
                }
            }
        }
    }
}

fn wall_nanos() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}
