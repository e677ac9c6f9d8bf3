//! What every fuzz target does with the bytes libFuzzer hands it: the path of
//! an untrusted request body through a receiver and a shard worker.
//!
//! [`ingest`] decodes a body ([`sluice_otlp::decode_export`]); when that
//! succeeds it drops the invalid records ([`ExportRequest::retain_valid`]),
//! appends every remaining record to the batch builder of its table and
//! partition hour, as `crates/pipeline/src/shard.rs` does, and finishes every
//! batch into an Arrow `RecordBatch`. [`decompress_then_ingest`] puts the
//! bounded decompression of `Content-Encoding` in front.
//!
//! The contract under test is that no input makes any of this panic, abort or
//! run away with memory. Beyond that, two invariants a user would notice are
//! asserted: a decompressed body never exceeds its limit, and the records that
//! validation says it accepted (the `partial_success` arithmetic) are exactly
//! the rows that reach Arrow.

use std::collections::BTreeMap;

use bytes::Bytes;
use sluice_model::batch::BatchBuilder;
use sluice_model::logs::wire::WireLogs;
use sluice_model::metrics::wire::WireMetrics;
use sluice_model::otlp::collector::logs::v1::ExportLogsServiceRequest;
use sluice_model::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use sluice_model::otlp::collector::trace::v1::ExportTraceServiceRequest;
use sluice_model::time::{PartitionHour, to_arrow_nanos};
use sluice_model::traces::wire::{Contexts, WireTraces};
use sluice_model::units::ByteSize;
use sluice_model::{Signal, Table};
use sluice_otlp::{BodyEncoding, Compression, ExportRequest, decode_export, decompress};

/// The decompression limit of the `decompress_*` targets: small, so that a
/// bomb is found quickly and each input stays cheap.
pub const DECOMPRESSED_LIMIT: ByteSize = ByteSize::kib(64);

/// Open batches, keyed as a shard worker keys them (one tenant here).
#[derive(Debug, Default)]
struct Batches {
    open: BTreeMap<(Table, PartitionHour), BatchBuilder>,
}

impl Batches {
    fn builder(&mut self, table: Table, time_unix_nano: u64) -> &mut BatchBuilder {
        let hour = PartitionHour::of_nanos(to_arrow_nanos(time_unix_nano));
        self.open.entry((table, hour)).or_insert_with(|| {
            BatchBuilder::new(table).expect("only OTLP tables are ingested here")
        })
    }

    /// Finishes every batch, as a flush does; returns the rows written.
    fn finish(self) -> usize {
        let mut rows = 0;
        for ((table, hour), mut builder) in self.open {
            let appended = builder.len();
            let batch = builder.finish();
            assert_eq!(batch.num_rows(), appended, "{table:?}: rows lost in finish");
            assert!(builder.is_empty(), "finish leaves the builder empty");
            // The partition path is computed from the hour for every file.
            assert!(hour.path().starts_with("date="));
            rows += appended;
        }
        rows
    }

    fn append_traces(&mut self, traces: &WireTraces) {
        let mut contexts = Contexts::default();
        for s in traces.facts() {
            let (resource, scope) = contexts.get(traces, s.resource, s.scope);
            if let BatchBuilder::Traces(held) = self.builder(Table::Traces, s.start_time_unix_nano)
            {
                held.push(traces.body(), &s, resource, scope);
            }
        }
    }

    fn append_logs(&mut self, logs: &WireLogs) {
        let mut contexts = Contexts::default();
        for log in logs.records() {
            let (resource, scope) = contexts.get(logs, log.resource, log.scope);
            let record = &log.record;
            if let BatchBuilder::Logs(b) = self.builder(Table::Logs, record.event_time()) {
                b.append(resource, scope, record);
            }
        }
    }

    fn append_metrics(&mut self, metrics: &WireMetrics) {
        let mut contexts = Contexts::default();
        for metric in metrics.metrics() {
            let (resource, scope) = contexts.get(metrics, metric.resource, metric.scope);
            let table = metric.metric.table().expect("a kept metric has data");
            for point in metric.points() {
                let builder = self.builder(table, point.common().time_unix_nano);
                assert!(
                    builder.append_point(resource, scope, &metric, &point),
                    "a point goes to its metric's table"
                );
            }
        }
    }
}

/// Decodes `body` as an export request of `signal`; if it decodes, validates
/// it and converts what is left to Arrow. Protobuf bodies, which are checked
/// and indexed in place rather than decoded with `prost`, must be refused
/// exactly when `prost` refuses them.
pub fn ingest(signal: Signal, body: &[u8], encoding: BodyEncoding) {
    use prost::Message;
    let decoded = decode_export(signal, &Bytes::copy_from_slice(body), encoding);
    let prost_accepts = match signal {
        Signal::Traces => ExportTraceServiceRequest::decode(body).map(drop),
        Signal::Logs => ExportLogsServiceRequest::decode(body).map(drop),
        Signal::Metrics => ExportMetricsServiceRequest::decode(body).map(drop),
    };
    if encoding == BodyEncoding::Protobuf {
        let prost = prost_accepts;
        assert_eq!(
            decoded.is_ok(),
            prost.is_ok(),
            "in place: {:?}, prost: {:?}",
            decoded.as_ref().err(),
            prost.as_ref().err()
        );
    }
    let Ok(mut request) = decoded else {
        return;
    };
    assert_eq!(request.signal(), signal);
    let rejected = request.retain_valid();
    assert!(
        rejected.count >= 0 && rejected.accepted >= 0,
        "{rejected:?}"
    );
    let mut batches = Batches::default();
    match &request {
        ExportRequest::WireTraces(r) => batches.append_traces(r),
        ExportRequest::Traces(_) => unreachable!("retain_valid indexes traces in place"),
        ExportRequest::WireMetrics(r) => batches.append_metrics(r),
        ExportRequest::Metrics(_) => unreachable!("retain_valid indexes metrics in place"),
        ExportRequest::WireLogs(r) => batches.append_logs(r),
        ExportRequest::Logs(_) => unreachable!("retain_valid indexes logs in place"),
    }
    let rows = batches.finish();
    assert_eq!(
        i64::try_from(rows).ok(),
        Some(rejected.accepted),
        "validation's accepted count must equal the rows stored"
    );
}

/// Decompresses `body` within [`DECOMPRESSED_LIMIT`]; if that succeeds, checks
/// the limit held and ingests the result as a protobuf request of each signal
/// (what the HTTP receiver does after `Content-Encoding`).
pub fn decompress_then_ingest(body: &[u8], compression: Compression) {
    let Ok(inflated) = decompress(
        Bytes::copy_from_slice(body),
        compression,
        DECOMPRESSED_LIMIT,
    ) else {
        return;
    };
    assert!(
        inflated.len() as u64 <= DECOMPRESSED_LIMIT.as_u64(),
        "decompressed {} bytes past the limit",
        inflated.len()
    );
    for signal in [Signal::Traces, Signal::Metrics, Signal::Logs] {
        ingest(signal, &inflated, BodyEncoding::Protobuf);
    }
}
