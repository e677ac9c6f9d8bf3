//! What an open batch accumulates: rows of an OTLP table, or the per-minute
//! SLI rollups of the spans (`sluice_rollups`), which the shard derives as
//! spans stream by.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BinaryBuilder, RecordBatch, StringBuilder, TimestampNanosecondBuilder, UInt64Builder,
};
use sluice_model::Table;
use sluice_model::batch::BatchBuilder;
use sluice_model::schema::schema;
use sluice_slo::{RollupRow, RollupTable};

/// The builder of one open batch.
#[derive(Debug)]
pub(super) enum OpenBuilder {
    // Boxed: the Arrow builders are large, and batches move in and out of maps.
    Rows(Box<BatchBuilder>),
    Rollups(RollupTable),
}

impl OpenBuilder {
    pub(super) fn new(table: Table) -> Self {
        match BatchBuilder::new(table) {
            Some(rows) => Self::Rows(Box::new(rows)),
            None => Self::Rollups(RollupTable::new()),
        }
    }

    /// The row builder, for an OTLP table.
    pub(super) fn rows(&mut self) -> Option<&mut BatchBuilder> {
        match self {
            Self::Rows(rows) => Some(rows),
            Self::Rollups(_) => None,
        }
    }

    /// Rows the batch would write now.
    pub(super) fn len(&self) -> usize {
        match self {
            Self::Rows(b) => b.len(),
            Self::Rollups(t) => t.len(),
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Takes what was accumulated as one batch, leaving the builder empty.
    pub(super) fn finish(&mut self) -> RecordBatch {
        match self {
            Self::Rows(b) => b.finish(),
            Self::Rollups(t) => rollup_batch(&t.drain_all()),
        }
    }
}

/// Rollup rows as a `sluice_rollups` batch.
pub fn rollup_batch(rows: &[RollupRow]) -> RecordBatch {
    let mut minute = TimestampNanosecondBuilder::with_capacity(rows.len()).with_timezone("UTC");
    let mut service = StringBuilder::new();
    let mut operation = StringBuilder::new();
    let mut kind = StringBuilder::new();
    let mut requests = UInt64Builder::with_capacity(rows.len());
    let mut errors = UInt64Builder::with_capacity(rows.len());
    let mut success = BinaryBuilder::new();
    let mut failure = BinaryBuilder::new();
    for row in rows {
        minute.append_value(row.minute.start_nanos());
        service.append_value(&row.key.service);
        operation.append_value(&row.key.operation);
        kind.append_value(row.key.span_kind.as_str());
        requests.append_value(row.rollup.requests());
        errors.append_value(row.rollup.errors());
        success.append_value(row.rollup.success_latency().to_bytes());
        failure.append_value(row.rollup.failure_latency().to_bytes());
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(minute.finish()),
        Arc::new(service.finish()),
        Arc::new(operation.finish()),
        Arc::new(kind.finish()),
        Arc::new(requests.finish()),
        Arc::new(errors.finish()),
        Arc::new(success.finish()),
        Arc::new(failure.finish()),
    ];
    RecordBatch::try_new(schema(Table::Rollups), columns)
        .expect("the builders produce exactly the sluice_rollups schema")
}
