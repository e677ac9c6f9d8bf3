//! Metric data points to rows of the five `otel_metrics_*` tables, one table per
//! OTLP metric type, one row per data point.
//!
//! A shard worker reads each metric of its share of a request
//! ([`wire::WireMetrics`], checked and indexed by the receivers) and its
//! valid points in place ([`points::PointView`]), and appends each point to
//! the builder of its table and hour.
//!
//! Every table starts with the same columns (resource, scope, metric name,
//! description, unit, point attributes, start and point time), built by
//! `CommonColumns`; each type's builder adds its own. The three attribute
//! maps among them are built interned
//! ([`InternedMapBuilder`]).

mod histogram;
mod number;
pub mod points;
mod summary;
pub mod wire;

use std::sync::Arc;

use arrow::array::{
    ArrayRef, Float64Builder, ListBuilder, StringBuilder, StructArray, TimestampNanosecondBuilder,
    UInt32Builder,
};
use arrow::datatypes::Fields;

pub use histogram::{ExponentialHistogramBatchBuilder, HistogramBatchBuilder};
pub use number::{GaugeBatchBuilder, SumBatchBuilder};
pub use summary::SummaryBatchBuilder;

use crate::attributes::{
    AttributesBuilder, ContextRows, InternedMapBuilder, append_attributes, attributes_builder,
};
use crate::context::{ResourceContext, ScopeContext};
use crate::otlp::metrics::v1::{Exemplar, exemplar};
use crate::schema::exemplar_fields;
use crate::time::to_arrow_nanos;
use crate::traces::{append_hex, utc_timestamps};
use crate::wire::decode_checked;
use points::PointCommon;
use wire::MetricView;

/// The columns every metric table starts with.
#[derive(Debug)]
struct CommonColumns {
    resource_attributes: InternedMapBuilder,
    resource_schema_url: StringBuilder,
    scope_name: StringBuilder,
    scope_version: StringBuilder,
    scope_attributes: InternedMapBuilder,
    scope_dropped_attr_count: UInt32Builder,
    scope_schema_url: StringBuilder,
    service_name: StringBuilder,
    metric_name: StringBuilder,
    metric_description: StringBuilder,
    metric_unit: StringBuilder,
    attributes: InternedMapBuilder,
    start_time: TimestampNanosecondBuilder,
    time: TimestampNanosecondBuilder,
    /// The first row of each resource and scope; see [`ContextRows`].
    resource_rows: ContextRows<ResourceContext>,
    scope_rows: ContextRows<ScopeContext>,
}

impl CommonColumns {
    fn new() -> Self {
        Self {
            resource_attributes: InternedMapBuilder::default(),
            resource_schema_url: StringBuilder::new(),
            scope_name: StringBuilder::new(),
            scope_version: StringBuilder::new(),
            scope_attributes: InternedMapBuilder::default(),
            scope_dropped_attr_count: UInt32Builder::new(),
            scope_schema_url: StringBuilder::new(),
            service_name: StringBuilder::new(),
            metric_name: StringBuilder::new(),
            metric_description: StringBuilder::new(),
            metric_unit: StringBuilder::new(),
            attributes: InternedMapBuilder::default(),
            start_time: utc_timestamps(),
            time: utc_timestamps(),
            resource_rows: ContextRows::default(),
            scope_rows: ContextRows::default(),
        }
    }

    fn append(
        &mut self,
        resource: &Arc<ResourceContext>,
        scope: &Arc<ScopeContext>,
        metric: &MetricView,
        point: &PointCommon,
    ) {
        self.resource_rows
            .append(&mut self.resource_attributes, resource, |r| &r.attributes);
        self.resource_schema_url.append_value(&resource.schema_url);
        self.scope_name.append_value(&scope.name);
        self.scope_version.append_value(&scope.version);
        self.scope_rows
            .append(&mut self.scope_attributes, scope, |s| &s.attributes);
        self.scope_dropped_attr_count
            .append_value(scope.dropped_attributes_count);
        self.scope_schema_url.append_value(&scope.schema_url);
        self.service_name.append_value(&resource.service_name);
        self.metric_name.append_value(metric.name);
        self.metric_description.append_value(metric.description);
        self.metric_unit.append_value(metric.unit);
        self.attributes.append_wire(point.attributes());
        self.start_time
            .append_value(to_arrow_nanos(point.start_time_unix_nano));
        self.time.append_value(to_arrow_nanos(point.time_unix_nano));
    }

    fn finish(&mut self) -> Vec<ArrayRef> {
        self.resource_rows.clear();
        self.scope_rows.clear();
        vec![
            self.resource_attributes.finish(),
            Arc::new(self.resource_schema_url.finish()),
            Arc::new(self.scope_name.finish()),
            Arc::new(self.scope_version.finish()),
            self.scope_attributes.finish(),
            Arc::new(self.scope_dropped_attr_count.finish()),
            Arc::new(self.scope_schema_url.finish()),
            Arc::new(self.service_name.finish()),
            Arc::new(self.metric_name.finish()),
            Arc::new(self.metric_description.finish()),
            Arc::new(self.metric_unit.finish()),
            self.attributes.finish(),
            Arc::new(self.start_time.finish()),
            Arc::new(self.time.finish()),
        ]
    }
}

/// The value of an exemplar as a double (integers converted, as the exporter does).
pub fn exemplar_value(e: &Exemplar) -> f64 {
    match e.value {
        Some(exemplar::Value::AsDouble(d)) => d,
        Some(exemplar::Value::AsInt(i)) => i as f64,
        None => 0.0,
    }
}

/// Builds the `Exemplars` column: a struct of five equally long lists.
#[derive(Debug)]
struct ExemplarsColumn {
    filtered_attributes: ListBuilder<AttributesBuilder>,
    time: ListBuilder<TimestampNanosecondBuilder>,
    value: ListBuilder<Float64Builder>,
    span_id: ListBuilder<StringBuilder>,
    trace_id: ListBuilder<StringBuilder>,
}

impl ExemplarsColumn {
    fn new() -> Self {
        Self {
            filtered_attributes: ListBuilder::new(attributes_builder()),
            time: ListBuilder::new(utc_timestamps()),
            value: ListBuilder::new(Float64Builder::new()),
            span_id: ListBuilder::new(StringBuilder::new()),
            trace_id: ListBuilder::new(StringBuilder::new()),
        }
    }

    /// Appends the list of `exemplars`, `Exemplar` messages (rare: decoded).
    fn append<'a>(&mut self, exemplars: impl Iterator<Item = &'a [u8]>) {
        for bytes in exemplars {
            let e: Exemplar = decode_checked(bytes);
            append_attributes(self.filtered_attributes.values(), &e.filtered_attributes);
            self.time
                .values()
                .append_value(to_arrow_nanos(e.time_unix_nano));
            self.value.values().append_value(exemplar_value(&e));
            append_hex(self.span_id.values(), &e.span_id);
            append_hex(self.trace_id.values(), &e.trace_id);
        }
        self.filtered_attributes.append(true);
        self.time.append(true);
        self.value.append(true);
        self.span_id.append(true);
        self.trace_id.append(true);
    }

    fn finish(&mut self) -> ArrayRef {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.filtered_attributes.finish()),
            Arc::new(self.time.finish()),
            Arc::new(self.value.finish()),
            Arc::new(self.span_id.finish()),
            Arc::new(self.trace_id.finish()),
        ];
        Arc::new(StructArray::new(
            Fields::from(exemplar_fields()),
            columns,
            None,
        ))
    }
}

#[cfg(test)]
mod tests;
