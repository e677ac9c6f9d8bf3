//! Summary data points to `otel_metrics_summary` rows.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, Float64Builder, ListBuilder, RecordBatch, StructArray, UInt32Builder, UInt64Builder,
};
use arrow::datatypes::Fields;

use super::CommonColumns;
use super::points::DecodedPoint;
use super::wire::MetricView;
use crate::Table;
use crate::context::{ResourceContext, ScopeContext};
use crate::otlp::metrics::v1::SummaryDataPoint;
use crate::schema::{built_schema, quantile_fields};

/// Accumulates summary data points as `otel_metrics_summary` rows.
#[derive(Debug)]
pub struct SummaryBatchBuilder {
    common: CommonColumns,
    count: UInt64Builder,
    sum: Float64Builder,
    quantile: ListBuilder<Float64Builder>,
    quantile_value: ListBuilder<Float64Builder>,
    flags: UInt32Builder,
    rows: usize,
}

impl Default for SummaryBatchBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl SummaryBatchBuilder {
    pub fn new() -> Self {
        Self {
            common: CommonColumns::new(),
            count: UInt64Builder::new(),
            sum: Float64Builder::new(),
            quantile: ListBuilder::new(Float64Builder::new()),
            quantile_value: ListBuilder::new(Float64Builder::new()),
            flags: UInt32Builder::new(),
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
        decoded: &DecodedPoint<SummaryDataPoint>,
    ) {
        let point = &decoded.point;
        self.common.append(resource, scope, metric, &decoded.common);
        self.count.append_value(point.count);
        self.sum.append_value(point.sum);
        for q in &point.quantile_values {
            self.quantile.values().append_value(q.quantile);
            self.quantile_value.values().append_value(q.value);
        }
        self.quantile.append(true);
        self.quantile_value.append(true);
        self.flags.append_value(point.flags);
        self.rows += 1;
    }

    pub fn finish(&mut self) -> RecordBatch {
        let mut columns = self.common.finish();
        let quantiles: Vec<ArrayRef> = vec![
            Arc::new(self.quantile.finish()),
            Arc::new(self.quantile_value.finish()),
        ];
        columns.extend([
            Arc::new(self.count.finish()) as ArrayRef,
            Arc::new(self.sum.finish()),
            Arc::new(StructArray::new(
                Fields::from(quantile_fields()),
                quantiles,
                None,
            )),
            Arc::new(self.flags.finish()),
        ]);
        self.rows = 0;
        RecordBatch::try_new(built_schema(Table::MetricsSummary), columns)
            .expect("the builders produce exactly the otel_metrics_summary schema")
    }
}
