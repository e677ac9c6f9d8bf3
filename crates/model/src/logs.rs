//! Log records to `otel_logs` rows.
//!
//! A shard worker appends each record of its share of a request
//! ([`wire::WireLogs`], read in place) to the [`LogBatchBuilder`] of its
//! tenant and hour; at the flush,
//! [`finish`](LogBatchBuilder::finish) hands the rows to storage as one
//! `RecordBatch`, its attribute maps interned
//! ([`InternedMapBuilder`]).

use std::sync::Arc;

use arrow::array::{
    ArrayRef, RecordBatch, StringBuilder, TimestampNanosecondBuilder, UInt8Builder, UInt32Builder,
};

use crate::Table;
use crate::attributes::{ContextRows, InternedMapBuilder};
use crate::context::{ResourceContext, ScopeContext};
use crate::hex::HexBuilder;
use crate::schema::built_schema;
use crate::time::to_arrow_nanos;
use crate::traces::utc_timestamps;
use wire::LogView;

pub mod wire;

/// Accumulates log records as `otel_logs` rows.
#[derive(Debug)]
pub struct LogBatchBuilder {
    timestamp: TimestampNanosecondBuilder,
    trace_id: HexBuilder,
    span_id: HexBuilder,
    trace_flags: UInt8Builder,
    severity_text: StringBuilder,
    severity_number: UInt8Builder,
    service_name: StringBuilder,
    body: StringBuilder,
    resource_schema_url: StringBuilder,
    resource_attributes: InternedMapBuilder,
    scope_schema_url: StringBuilder,
    scope_name: StringBuilder,
    scope_version: StringBuilder,
    scope_attributes: InternedMapBuilder,
    log_attributes: InternedMapBuilder,
    event_name: StringBuilder,
    observed_timestamp: TimestampNanosecondBuilder,
    flags: UInt32Builder,
    dropped_attributes: UInt32Builder,
    rows: usize,
    /// The first row of each resource and scope; see [`ContextRows`].
    resource_rows: ContextRows<ResourceContext>,
    scope_rows: ContextRows<ScopeContext>,
}

impl Default for LogBatchBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl LogBatchBuilder {
    pub fn new() -> Self {
        Self {
            timestamp: utc_timestamps(),
            trace_id: HexBuilder::default(),
            span_id: HexBuilder::default(),
            trace_flags: UInt8Builder::new(),
            severity_text: StringBuilder::new(),
            severity_number: UInt8Builder::new(),
            service_name: StringBuilder::new(),
            body: StringBuilder::new(),
            resource_schema_url: StringBuilder::new(),
            resource_attributes: InternedMapBuilder::default(),
            scope_schema_url: StringBuilder::new(),
            scope_name: StringBuilder::new(),
            scope_version: StringBuilder::new(),
            scope_attributes: InternedMapBuilder::default(),
            log_attributes: InternedMapBuilder::default(),
            event_name: StringBuilder::new(),
            observed_timestamp: utc_timestamps(),
            flags: UInt32Builder::new(),
            dropped_attributes: UInt32Builder::new(),
            rows: 0,
            resource_rows: ContextRows::default(),
            scope_rows: ContextRows::default(),
        }
    }

    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Appends one log record sent under `resource` and `scope`.
    pub fn append(
        &mut self,
        resource: &Arc<ResourceContext>,
        scope: &Arc<ScopeContext>,
        record: &LogView,
    ) {
        self.timestamp
            .append_value(to_arrow_nanos(record.event_time()));
        self.trace_id.append(record.trace_id);
        self.span_id.append(record.span_id);
        // The low byte of `flags` holds the W3C trace flags.
        self.trace_flags.append_value((record.flags & 0xff) as u8);
        self.severity_text
            .append_value(record.severity_text.as_str());
        self.severity_number
            .append_value(u8::try_from(record.severity_number.clamp(0, 255)).unwrap_or(0));
        self.service_name.append_value(&resource.service_name);
        record.write_body(&mut self.body);
        self.body.append_value("");
        self.resource_schema_url.append_value(&resource.schema_url);
        self.resource_rows
            .append(&mut self.resource_attributes, resource, |r| &r.attributes);
        self.scope_schema_url.append_value(&scope.schema_url);
        self.scope_name.append_value(&scope.name);
        self.scope_version.append_value(&scope.version);
        self.scope_rows
            .append(&mut self.scope_attributes, scope, |s| &s.attributes);
        self.log_attributes.append_wire(record.attributes());
        self.event_name.append_value(record.event_name.as_str());
        self.observed_timestamp
            .append_value(to_arrow_nanos(record.observed_time_unix_nano));
        self.flags.append_value(record.flags);
        self.dropped_attributes
            .append_value(record.dropped_attributes_count);
        self.rows += 1;
    }

    /// Takes the rows appended so far as one batch, leaving the builder empty.
    pub fn finish(&mut self) -> RecordBatch {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.timestamp.finish()),
            Arc::new(self.trace_id.finish()),
            Arc::new(self.span_id.finish()),
            Arc::new(self.trace_flags.finish()),
            Arc::new(self.severity_text.finish()),
            Arc::new(self.severity_number.finish()),
            Arc::new(self.service_name.finish()),
            Arc::new(self.body.finish()),
            Arc::new(self.resource_schema_url.finish()),
            self.resource_attributes.finish(),
            Arc::new(self.scope_schema_url.finish()),
            Arc::new(self.scope_name.finish()),
            Arc::new(self.scope_version.finish()),
            self.scope_attributes.finish(),
            self.log_attributes.finish(),
            Arc::new(self.event_name.finish()),
            Arc::new(self.observed_timestamp.finish()),
            Arc::new(self.flags.finish()),
            Arc::new(self.dropped_attributes.finish()),
        ];
        self.rows = 0;
        self.resource_rows.clear();
        self.scope_rows.clear();
        RecordBatch::try_new(built_schema(Table::Logs), columns)
            .expect("the builders produce exactly the otel_logs schema")
    }
}
