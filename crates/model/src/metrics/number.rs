//! Gauge and sum data points to `otel_metrics_gauge` and `otel_metrics_sum` rows.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Float64Builder, Int32Builder, RecordBatch, UInt32Builder,
};

use super::points::NumberPoint;
use super::wire::{DataFields, MetricView};
use super::{CommonColumns, ExemplarsColumn};
use crate::Table;
use crate::context::{ResourceContext, ScopeContext};
use crate::schema::built_schema;

/// The value of a number data point as a double (integers converted, as the
/// ClickHouse exporter's `Value Float64` column holds them; 0 for none).
fn number_value(point: &NumberPoint) -> f64 {
    point.value.unwrap_or(0.0)
}

/// Accumulates gauge data points as `otel_metrics_gauge` rows.
#[derive(Debug)]
pub struct GaugeBatchBuilder {
    common: CommonColumns,
    value: Float64Builder,
    flags: UInt32Builder,
    exemplars: ExemplarsColumn,
    rows: usize,
}

impl Default for GaugeBatchBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl GaugeBatchBuilder {
    pub fn new() -> Self {
        Self {
            common: CommonColumns::new(),
            value: Float64Builder::new(),
            flags: UInt32Builder::new(),
            exemplars: ExemplarsColumn::new(),
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
        point: &NumberPoint,
    ) {
        self.common.append(resource, scope, metric, &point.common);
        self.value.append_value(number_value(point));
        self.flags.append_value(point.flags);
        self.exemplars.append(point.common.exemplars());
        self.rows += 1;
    }

    pub fn finish(&mut self) -> RecordBatch {
        let mut columns = self.common.finish();
        columns.push(Arc::new(self.value.finish()) as ArrayRef);
        columns.push(Arc::new(self.flags.finish()));
        columns.push(self.exemplars.finish());
        self.rows = 0;
        RecordBatch::try_new(built_schema(Table::MetricsGauge), columns)
            .expect("the builders produce exactly the otel_metrics_gauge schema")
    }
}

/// Accumulates sum data points as `otel_metrics_sum` rows.
#[derive(Debug)]
pub struct SumBatchBuilder {
    common: CommonColumns,
    value: Float64Builder,
    flags: UInt32Builder,
    exemplars: ExemplarsColumn,
    temporality: Int32Builder,
    monotonic: BooleanBuilder,
    rows: usize,
}

impl Default for SumBatchBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl SumBatchBuilder {
    pub fn new() -> Self {
        Self {
            common: CommonColumns::new(),
            value: Float64Builder::new(),
            flags: UInt32Builder::new(),
            exemplars: ExemplarsColumn::new(),
            temporality: Int32Builder::new(),
            monotonic: BooleanBuilder::new(),
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
        sum: DataFields,
        point: &NumberPoint,
    ) {
        self.common.append(resource, scope, metric, &point.common);
        self.value.append_value(number_value(point));
        self.flags.append_value(point.flags);
        self.exemplars.append(point.common.exemplars());
        self.temporality.append_value(sum.aggregation_temporality);
        self.monotonic.append_value(sum.is_monotonic);
        self.rows += 1;
    }

    pub fn finish(&mut self) -> RecordBatch {
        let mut columns = self.common.finish();
        columns.push(Arc::new(self.value.finish()) as ArrayRef);
        columns.push(Arc::new(self.flags.finish()));
        columns.push(self.exemplars.finish());
        columns.push(Arc::new(self.temporality.finish()));
        columns.push(Arc::new(self.monotonic.finish()));
        self.rows = 0;
        RecordBatch::try_new(built_schema(Table::MetricsSum), columns)
            .expect("the builders produce exactly the otel_metrics_sum schema")
    }
}
