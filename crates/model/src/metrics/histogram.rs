//! Histogram and exponential histogram data points to `otel_metrics_histogram`
//! and `otel_metrics_exponential_histogram` rows.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, Float64Builder, Int32Builder, ListBuilder, RecordBatch, UInt32Builder, UInt64Builder,
};

use super::points::{DecodedPoint, HistogramPoint};
use super::wire::MetricView;
use super::{CommonColumns, ExemplarsColumn};
use crate::Table;
use crate::context::{ResourceContext, ScopeContext};
use crate::otlp::metrics::v1::{ExponentialHistogramDataPoint, exponential_histogram_data_point};
use crate::schema::built_schema;

fn append_u64s(builder: &mut ListBuilder<UInt64Builder>, values: &[u64]) {
    builder.values().append_slice(values);
    builder.append(true);
}

/// Accumulates histogram data points as `otel_metrics_histogram` rows.
#[derive(Debug)]
pub struct HistogramBatchBuilder {
    common: CommonColumns,
    count: UInt64Builder,
    sum: Float64Builder,
    bucket_counts: ListBuilder<UInt64Builder>,
    explicit_bounds: ListBuilder<Float64Builder>,
    exemplars: ExemplarsColumn,
    flags: UInt32Builder,
    min: Float64Builder,
    max: Float64Builder,
    temporality: Int32Builder,
    rows: usize,
}

impl Default for HistogramBatchBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl HistogramBatchBuilder {
    pub fn new() -> Self {
        Self {
            common: CommonColumns::new(),
            count: UInt64Builder::new(),
            sum: Float64Builder::new(),
            bucket_counts: ListBuilder::new(UInt64Builder::new()),
            explicit_bounds: ListBuilder::new(Float64Builder::new()),
            exemplars: ExemplarsColumn::new(),
            flags: UInt32Builder::new(),
            min: Float64Builder::new(),
            max: Float64Builder::new(),
            temporality: Int32Builder::new(),
            rows: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    pub fn append(
        &mut self,
        resource: &Arc<ResourceContext>,
        scope: &Arc<ScopeContext>,
        metric: &MetricView,
        temporality: i32,
        point: &HistogramPoint,
    ) {
        self.common.append(resource, scope, metric, &point.common);
        self.count.append_value(point.count);
        self.sum.append_option(point.sum);
        let counts = self.bucket_counts.values();
        point.bucket_counts().for_each(|c| counts.append_value(c));
        self.bucket_counts.append(true);
        let bounds = self.explicit_bounds.values();
        point.explicit_bounds().for_each(|b| bounds.append_value(b));
        self.explicit_bounds.append(true);
        self.exemplars.append(point.common.exemplars());
        self.flags.append_value(point.flags);
        self.min.append_option(point.min);
        self.max.append_option(point.max);
        self.temporality.append_value(temporality);
        self.rows += 1;
    }

    pub fn finish(&mut self) -> RecordBatch {
        let mut columns = self.common.finish();
        columns.extend([
            Arc::new(self.count.finish()) as ArrayRef,
            Arc::new(self.sum.finish()),
            Arc::new(self.bucket_counts.finish()),
            Arc::new(self.explicit_bounds.finish()),
            self.exemplars.finish(),
            Arc::new(self.flags.finish()),
            Arc::new(self.min.finish()),
            Arc::new(self.max.finish()),
            Arc::new(self.temporality.finish()),
        ]);
        self.rows = 0;
        RecordBatch::try_new(built_schema(Table::MetricsHistogram), columns)
            .expect("the builders produce exactly the otel_metrics_histogram schema")
    }
}

/// Accumulates exponential histogram data points as
/// `otel_metrics_exponential_histogram` rows.
#[derive(Debug)]
pub struct ExponentialHistogramBatchBuilder {
    common: CommonColumns,
    count: UInt64Builder,
    sum: Float64Builder,
    scale: Int32Builder,
    zero_count: UInt64Builder,
    positive_offset: Int32Builder,
    positive_bucket_counts: ListBuilder<UInt64Builder>,
    negative_offset: Int32Builder,
    negative_bucket_counts: ListBuilder<UInt64Builder>,
    exemplars: ExemplarsColumn,
    flags: UInt32Builder,
    min: Float64Builder,
    max: Float64Builder,
    temporality: Int32Builder,
    zero_threshold: Float64Builder,
    rows: usize,
}

impl Default for ExponentialHistogramBatchBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl ExponentialHistogramBatchBuilder {
    pub fn new() -> Self {
        Self {
            common: CommonColumns::new(),
            count: UInt64Builder::new(),
            sum: Float64Builder::new(),
            scale: Int32Builder::new(),
            zero_count: UInt64Builder::new(),
            positive_offset: Int32Builder::new(),
            positive_bucket_counts: ListBuilder::new(UInt64Builder::new()),
            negative_offset: Int32Builder::new(),
            negative_bucket_counts: ListBuilder::new(UInt64Builder::new()),
            exemplars: ExemplarsColumn::new(),
            flags: UInt32Builder::new(),
            min: Float64Builder::new(),
            max: Float64Builder::new(),
            temporality: Int32Builder::new(),
            zero_threshold: Float64Builder::new(),
            rows: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    pub fn append(
        &mut self,
        resource: &Arc<ResourceContext>,
        scope: &Arc<ScopeContext>,
        metric: &MetricView,
        temporality: i32,
        decoded: &DecodedPoint<ExponentialHistogramDataPoint>,
    ) {
        let point = &decoded.point;
        self.common.append(resource, scope, metric, &decoded.common);
        self.count.append_value(point.count);
        self.sum.append_option(point.sum);
        self.scale.append_value(point.scale);
        self.zero_count.append_value(point.zero_count);
        let empty = exponential_histogram_data_point::Buckets::default();
        let positive = point.positive.as_ref().unwrap_or(&empty);
        let negative = point.negative.as_ref().unwrap_or(&empty);
        self.positive_offset.append_value(positive.offset);
        append_u64s(&mut self.positive_bucket_counts, &positive.bucket_counts);
        self.negative_offset.append_value(negative.offset);
        append_u64s(&mut self.negative_bucket_counts, &negative.bucket_counts);
        self.exemplars.append(decoded.common.exemplars());
        self.flags.append_value(point.flags);
        self.min.append_option(point.min);
        self.max.append_option(point.max);
        self.temporality.append_value(temporality);
        self.zero_threshold.append_value(point.zero_threshold);
        self.rows += 1;
    }

    pub fn finish(&mut self) -> RecordBatch {
        let mut columns = self.common.finish();
        columns.extend([
            Arc::new(self.count.finish()) as ArrayRef,
            Arc::new(self.sum.finish()),
            Arc::new(self.scale.finish()),
            Arc::new(self.zero_count.finish()),
            Arc::new(self.positive_offset.finish()),
            Arc::new(self.positive_bucket_counts.finish()),
            Arc::new(self.negative_offset.finish()),
            Arc::new(self.negative_bucket_counts.finish()),
            self.exemplars.finish(),
            Arc::new(self.flags.finish()),
            Arc::new(self.min.finish()),
            Arc::new(self.max.finish()),
            Arc::new(self.temporality.finish()),
            Arc::new(self.zero_threshold.finish()),
        ]);
        self.rows = 0;
        RecordBatch::try_new(built_schema(Table::MetricsExponentialHistogram), columns)
            .expect("the builders produce exactly the otel_metrics_exponential_histogram schema")
    }
}
