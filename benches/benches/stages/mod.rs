//! The stages of the traces ingest path as the benchmarks run them, shared by
//! `ingest` (criterion, time) and `instructions` (callgrind, instruction
//! counts), so both measure the same code.

use arrow::array::RecordBatch;
use bytes::Bytes;
use sluice_model::traces::held::HeldSpans;
use sluice_model::traces::wire::{ContextCache, Contexts};
use sluice_model::{Signal, Table};
use sluice_otlp::{BodyEncoding, ExportRequest, decode_export};
use sluice_storage::{StorageConfig, encode_parquet, sort_batch, writer_properties};

/// The receivers' decoding: the body checked and its spans indexed in place.
pub fn decode(body: &Bytes) -> ExportRequest {
    decode_export(Signal::Traces, body, BodyEncoding::Protobuf).expect("the payload is valid OTLP")
}

/// What a shard worker keeps from one request to the next: the spans it
/// holds until it flushes, and the resources and scopes of the requests
/// before.
#[derive(Debug, Default)]
pub struct Shard {
    held: HeldSpans,
    contexts: ContextCache,
}

impl Shard {
    /// The held spans as a batch, as a shard worker writes them.
    pub fn finish(&mut self) -> RecordBatch {
        self.held.finish()
    }
}

/// Decodes, validates and holds every span in `shard`, then finishes its
/// batch, as a shard worker does.
pub fn to_arrow(body: &Bytes, shard: &mut Shard) -> RecordBatch {
    hold(body, shard);
    shard.finish()
}

/// Decodes and validates one request and holds its spans in `shard`, as a
/// shard worker does with each request until it flushes.
pub fn hold(body: &Bytes, shard: &mut Shard) {
    let mut request = decode(body);
    let rejected = request.retain_valid();
    debug_assert_eq!(rejected.count, 0, "{}", rejected.message);
    let ExportRequest::WireTraces(traces) = request else {
        unreachable!("protobuf traces are indexed in place");
    };
    let mut contexts = Contexts::cached(&mut shard.contexts);
    for s in traces.facts() {
        let (resource, scope) = contexts.get(&traces, s.resource, s.scope);
        shard.held.push(traces.body(), &s, resource, scope);
    }
}

/// Sorts and encodes `batch` with the default storage settings (zstd level
/// 3), as the Parquet writer does.
pub fn to_parquet(batch: &RecordBatch) -> Vec<u8> {
    let storage = StorageConfig::default();
    to_parquet_at(batch, storage.zstd_level)
}

/// [`to_parquet`] at another zstd level.
pub fn to_parquet_at(batch: &RecordBatch, zstd_level: i32) -> Vec<u8> {
    let storage = StorageConfig::default();
    let sorted = sort_batch(Table::Traces, batch).expect("the batch has the traces schema");
    let metadata = vec![
        ("sluice.node".to_owned(), "bench".to_owned()),
        ("sluice.shard".to_owned(), "0".to_owned()),
    ];
    let properties = writer_properties(Table::Traces, storage.row_group_rows, zstd_level, metadata);
    encode_parquet(Table::Traces, &sorted, properties).expect("encoding to memory cannot fail")
}
