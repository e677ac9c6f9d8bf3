//! One builder type for every table, so a shard can keep a map of open batches.

use std::sync::Arc;

use arrow::array::RecordBatch;

use crate::Table;
use crate::context::{ResourceContext, ScopeContext};
use crate::logs::LogBatchBuilder;
use crate::metrics::points::PointView;
use crate::metrics::wire::WireMetric;
use crate::metrics::{
    ExponentialHistogramBatchBuilder, GaugeBatchBuilder, HistogramBatchBuilder, SumBatchBuilder,
    SummaryBatchBuilder,
};
use crate::traces::held::HeldSpans;

/// The builder of one table's rows.
// The variants differ in size (held spans are three vectors); owners that
// move builders around box the enum as a whole (the shard's `OpenBuilder`).
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum BatchBuilder {
    /// Spans are held as they came and become rows at `finish`.
    Traces(HeldSpans),
    Logs(LogBatchBuilder),
    Gauge(GaugeBatchBuilder),
    Sum(SumBatchBuilder),
    Histogram(HistogramBatchBuilder),
    ExponentialHistogram(ExponentialHistogramBatchBuilder),
    Summary(SummaryBatchBuilder),
}

impl BatchBuilder {
    /// The builder of an OTLP table; `None` for a derived table (rollups),
    /// which its own crate builds.
    pub fn new(table: Table) -> Option<Self> {
        Some(match table {
            Table::Traces => Self::Traces(HeldSpans::new()),
            Table::Logs => Self::Logs(LogBatchBuilder::new()),
            Table::MetricsGauge => Self::Gauge(GaugeBatchBuilder::new()),
            Table::MetricsSum => Self::Sum(SumBatchBuilder::new()),
            Table::MetricsHistogram => Self::Histogram(HistogramBatchBuilder::new()),
            Table::MetricsExponentialHistogram => {
                Self::ExponentialHistogram(ExponentialHistogramBatchBuilder::new())
            }
            Table::MetricsSummary => Self::Summary(SummaryBatchBuilder::new()),
            Table::Rollups | Table::Anomalies => return None,
        })
    }

    pub fn table(&self) -> Table {
        match self {
            Self::Traces(_) => Table::Traces,
            Self::Logs(_) => Table::Logs,
            Self::Gauge(_) => Table::MetricsGauge,
            Self::Sum(_) => Table::MetricsSum,
            Self::Histogram(_) => Table::MetricsHistogram,
            Self::ExponentialHistogram(_) => Table::MetricsExponentialHistogram,
            Self::Summary(_) => Table::MetricsSummary,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Self::Traces(b) => b.len(),
            Self::Logs(b) => b.len(),
            Self::Gauge(b) => b.len(),
            Self::Sum(b) => b.len(),
            Self::Histogram(b) => b.len(),
            Self::ExponentialHistogram(b) => b.len(),
            Self::Summary(b) => b.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Takes the rows appended so far as one batch, leaving the builder empty.
    pub fn finish(&mut self) -> RecordBatch {
        match self {
            Self::Traces(b) => b.finish(),
            Self::Logs(b) => b.finish(),
            Self::Gauge(b) => b.finish(),
            Self::Sum(b) => b.finish(),
            Self::Histogram(b) => b.finish(),
            Self::ExponentialHistogram(b) => b.finish(),
            Self::Summary(b) => b.finish(),
        }
    }

    /// Appends `point`, a point of `metric`, sent under `resource` and
    /// `scope`, to this builder, the builder of the metric's table
    /// ([`MetricView::table`](crate::metrics::wire::MetricView::table)).
    /// Returns false, appending nothing, when it is another table's.
    pub fn append_point(
        &mut self,
        resource: &Arc<ResourceContext>,
        scope: &Arc<ScopeContext>,
        metric: &WireMetric,
        point: &PointView,
    ) -> bool {
        let (view, data) = (&metric.metric, metric.data);
        let temporality = data.aggregation_temporality;
        match (self, point) {
            (Self::Gauge(b), PointView::Number(p)) => b.append(resource, scope, view, p),
            (Self::Sum(b), PointView::Number(p)) => b.append(resource, scope, view, data, p),
            (Self::Histogram(b), PointView::Histogram(p)) => {
                b.append(resource, scope, view, temporality, p)
            }
            (Self::ExponentialHistogram(b), PointView::ExponentialHistogram(p)) => {
                b.append(resource, scope, view, temporality, p)
            }
            (Self::Summary(b), PointView::Summary(p)) => b.append(resource, scope, view, p),
            _ => return false,
        }
        true
    }
}
