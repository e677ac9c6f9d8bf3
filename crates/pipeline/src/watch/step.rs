//! What one shard saw of one step of event time, in mergeable form: the
//! summaries shards send the detector thread.

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::ops::Deref;
use std::sync::Arc;

use sluice_model::{HashMap, Tenant};
use sluice_slo::DdSketch;

/// Server spans of one service and operation in one step.
#[derive(Debug, Clone, Default)]
pub struct SpanStep {
    pub requests: u64,
    pub errors: u64,
    /// Durations in nanoseconds.
    pub latency: DdSketch,
}

impl SpanStep {
    fn merge(&mut self, other: &SpanStep) {
        self.requests += other.requests;
        self.errors += other.errors;
        // Both sketches use the rollup default accuracy.
        let _ = self.latency.merge(&other.latency);
    }
}

/// A metric series: its service and labels (`metric` = the name, plus the
/// point's attributes).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MetricSeries {
    pub service: String,
    pub labels: BTreeMap<String, String>,
}

/// A shared [`MetricSeries`] with its hash computed once: summaries are
/// keyed by it point after point, and hashing a label map each time was most
/// of the metric watch's cost.
#[derive(Debug, Clone)]
pub struct SeriesRef {
    series: Arc<MetricSeries>,
    hash: u64,
}

impl SeriesRef {
    pub fn new(series: MetricSeries) -> Self {
        let mut hasher = DefaultHasher::new();
        series.hash(&mut hasher);
        Self {
            hash: hasher.finish(),
            series: Arc::new(series),
        }
    }

    /// The series, shared if other references hold it too.
    pub fn into_series(self) -> MetricSeries {
        Arc::unwrap_or_clone(self.series)
    }
}

impl Deref for SeriesRef {
    type Target = MetricSeries;

    fn deref(&self) -> &MetricSeries {
        &self.series
    }
}

impl PartialEq for SeriesRef {
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash
            && (Arc::ptr_eq(&self.series, &other.series) || self.series == other.series)
    }
}

impl Eq for SeriesRef {}

impl Hash for SeriesRef {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

/// What a step holds of one metric series.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricStep {
    /// The newest gauge point.
    Gauge { time: i64, value: f64 },
    /// The newest point of a cumulative monotonic sum.
    CumulativeSum { time: i64, start: i64, value: f64 },
    /// The delta points of a monotonic sum, added up.
    DeltaSum { value: f64 },
    /// The newest point of a cumulative histogram, or the delta points
    /// added up (when their bounds agree).
    Histogram {
        time: i64,
        start: i64,
        cumulative: bool,
        bounds: Vec<f64>,
        counts: Vec<u64>,
    },
}

impl MetricStep {
    /// Folds a later (or concurrent) summary of the same series in.
    pub fn merge(&mut self, other: MetricStep) {
        match (self, other) {
            (MetricStep::DeltaSum { value }, MetricStep::DeltaSum { value: more }) => {
                *value += more
            }
            (
                MetricStep::Histogram {
                    cumulative: false,
                    bounds,
                    counts,
                    time,
                    ..
                },
                MetricStep::Histogram {
                    cumulative: false,
                    bounds: other_bounds,
                    counts: other_counts,
                    time: other_time,
                    ..
                },
            ) if *bounds == other_bounds && counts.len() == other_counts.len() => {
                for (c, o) in counts.iter_mut().zip(other_counts) {
                    *c += o;
                }
                *time = (*time).max(other_time);
            }
            (this, other) => {
                if other.time() >= this.time() {
                    *this = other;
                }
            }
        }
    }

    fn time(&self) -> i64 {
        match self {
            MetricStep::Gauge { time, .. }
            | MetricStep::CumulativeSum { time, .. }
            | MetricStep::Histogram { time, .. } => *time,
            MetricStep::DeltaSum { .. } => i64::MIN,
        }
    }
}

/// One step of one tenant as one shard (or, merged, all shards) saw it.
#[derive(Debug, Clone, Default)]
pub struct StepSummary {
    /// Server spans by service, then operation.
    pub spans: HashMap<String, HashMap<String, SpanStep>>,
    /// ERROR-or-worse log records by service.
    pub error_logs: HashMap<String, u64>,
    pub metrics: HashMap<SeriesRef, MetricStep>,
    /// Entries held, for the per-shard cap.
    pub entries: usize,
}

impl StepSummary {
    pub fn merge(&mut self, other: StepSummary) {
        for (service, operations) in other.spans {
            let mine = self.spans.entry(service).or_default();
            for (operation, step) in operations {
                mine.entry(operation).or_default().merge(&step);
            }
        }
        for (service, count) in other.error_logs {
            *self.error_logs.entry(service).or_default() += count;
        }
        for (series, step) in other.metrics {
            match self.metrics.get_mut(&series) {
                Some(mine) => mine.merge(step),
                None => {
                    self.metrics.insert(series, step);
                }
            }
        }
        self.entries += other.entries;
    }
}

/// A shard's summaries since its last send.
#[derive(Debug)]
pub struct StepBatch {
    /// The shard that sent it.
    pub shard: usize,
    /// Per tenant, per step start (ns).
    pub steps: Vec<(Tenant, i64, StepSummary)>,
    /// The newest event time the shard saw per tenant, for the watermark.
    pub newest: Vec<(Tenant, i64)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delta_histograms_add_up_and_cumulative_points_keep_the_newest() {
        let mut delta = MetricStep::Histogram {
            time: 1,
            start: 0,
            cumulative: false,
            bounds: vec![1.0, 2.0],
            counts: vec![1, 2, 3],
        };
        delta.merge(MetricStep::Histogram {
            time: 2,
            start: 1,
            cumulative: false,
            bounds: vec![1.0, 2.0],
            counts: vec![1, 1, 1],
        });
        assert!(
            matches!(&delta, MetricStep::Histogram { counts, time: 2, .. } if *counts == vec![2, 3, 4])
        );

        let mut sum = MetricStep::CumulativeSum {
            time: 5,
            start: 0,
            value: 10.0,
        };
        sum.merge(MetricStep::CumulativeSum {
            time: 4,
            start: 0,
            value: 8.0,
        });
        assert_eq!(
            sum,
            MetricStep::CumulativeSum {
                time: 5,
                start: 0,
                value: 10.0
            }
        );
    }
}
