//! Instruction counts of the traces flush path, for callgrind: repeatable
//! where the timings of `ingest` vary from run to run on a shared machine.
//!
//! Each stage runs once to warm up (buffers grown, lazy state made) and once
//! more inside a function of its own (`measured_*`, never inlined), so
//! callgrind can count exactly that call:
//!
//! ```sh
//! cargo bench --profile release -p sluice-benches --bench instructions --no-run
//! valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out \
//!     --toggle-collect='*measured_*' <the instructions binary printed above>
//! callgrind_annotate --inclusive=yes /tmp/cg.out | grep measured_
//! ```
//!
//! Input: 32,768 spans of the default [`TracePayload`] shape (the `flush`
//! batch of `ingest`), one protobuf body. Stages:
//!
//! - `measured_prost_decode`: the body decoded into the OTLP messages of
//!   `opentelemetry-proto`, as a collector built on them decodes: what the
//!   issue's ratio target (end-to-end over decode-only) sets Sluice against,
//!   counted instead of timed (the end-to-end driver times it on the load
//!   generator's requests, which prost decodes a fifth faster than these);
//! - `measured_decode`: the receivers' check and index of the body;
//! - `measured_to_arrow`: decode, hold and finish the `RecordBatch`, as a
//!   shard worker does;
//! - `measured_to_parquet`: sort check and Parquet encoding of that batch;
//! - `measured_requests`: the same number of spans as 64 requests of 512
//!   (the default payload, as the load generator sends them): each decoded
//!   and held, then one batch finished, which adds what a shard pays per
//!   request (finding the resource and scope contexts of each, made once
//!   where requests send the same ones) to `measured_to_arrow`;
//! - `measured_loadgen_*`: the same for the load generator's requests, as
//!   the end-to-end benchmark sends them (64 of 512 spans from its 8 workers,
//!   [`trace_bodies`] with its arguments and seed 1): prost's decode of
//!   them (the driver's decode-only baseline, counted), their spans held and
//!   finished, and that batch encoded;
//! - `measured_loadgen_logs`: 64 of the load generator's log requests of
//!   512 records (seed 1), checked and indexed as the receivers do and their
//!   records appended to one batch as a shard does, then finished;
//! - `measured_loadgen_metrics`: 64 of its metric requests of 512 data
//!   points (seed 1), checked and indexed as the receivers do, and their
//!   points appended to the batches of their tables as a shard does (the
//!   watch's summaries left out), then finished.
//!
//! Run without valgrind it prints the sizes and exits.
//!
//! The whole daemon can be counted the same way, for what these stages leave
//! out (gRPC, the WAL, rollups, the watch): a release `sluice` started under
//! `valgrind --tool=callgrind --callgrind-out-file=<file>` with
//! `SLUICE_STORAGE_ROOT` on a fresh directory, driven by `sluice-loadgen
//! --rate 1500 --requests 128` (valgrind runs it some fifty times slower),
//! then stopped with SIGTERM so that it writes what it holds;
//! `callgrind_annotate --inclusive=yes <file>` splits its count by stage.

mod stages;

/// The allocator the daemon runs with: allocation is part of every count.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::hint::black_box;

use arrow::array::RecordBatch;
use bytes::Bytes;
use prost::Message;
use sluice_benches::loadgen::{bodies, trace_bodies};
use sluice_benches::payload::{TracePayload, span_count, trace_request};
use sluice_model::Signal;
use sluice_model::batch::BatchBuilder;
use sluice_model::logs::LogBatchBuilder;
use sluice_model::otlp::collector::trace::v1::ExportTraceServiceRequest;
use sluice_model::traces::wire::{ContextCache, Contexts};
use sluice_otlp::{BodyEncoding, ExportRequest, decode_export};
use stages::Shard;

#[inline(never)]
fn measured_prost_decode(body: &Bytes) -> usize {
    let request = ExportTraceServiceRequest::decode(&body[..]).expect("the payload is valid OTLP");
    // Freeing the messages is part of the work; the count keeps them used.
    span_count(&request)
}

#[inline(never)]
fn measured_decode(body: &Bytes) -> usize {
    match stages::decode(body) {
        sluice_otlp::ExportRequest::WireTraces(traces) => traces.facts().count(),
        _ => unreachable!("protobuf traces are indexed in place"),
    }
}

#[inline(never)]
fn measured_to_arrow(body: &Bytes, shard: &mut Shard) -> RecordBatch {
    stages::to_arrow(body, shard)
}

#[inline(never)]
fn measured_requests(bodies: &[Bytes], shard: &mut Shard) -> RecordBatch {
    for body in bodies {
        stages::hold(body, shard);
    }
    shard.finish()
}

#[inline(never)]
fn measured_to_parquet(batch: &RecordBatch) -> Vec<u8> {
    stages::to_parquet(batch)
}

#[inline(never)]
fn measured_loadgen_prost_decode(bodies: &[Bytes]) -> usize {
    // Not through `measured_prost_decode`: callgrind's toggle would stop
    // counting inside it.
    let decode = |body: &Bytes| {
        ExportTraceServiceRequest::decode(&body[..]).expect("the load generator sends valid OTLP")
    };
    bodies.iter().map(|body| span_count(&decode(body))).sum()
}

// These two return what they were given too: otherwise the same code as
// `measured_requests` and `measured_to_parquet`, the linker folds them into
// those, and callgrind counts them as one.
#[inline(never)]
fn measured_loadgen_requests(bodies: &[Bytes], shard: &mut Shard) -> (RecordBatch, usize) {
    for body in bodies {
        stages::hold(body, shard);
    }
    (shard.finish(), bodies.len())
}

#[inline(never)]
fn measured_loadgen_to_parquet(batch: &RecordBatch) -> (Vec<u8>, usize) {
    (stages::to_parquet(batch), batch.num_rows())
}

/// Decodes and validates each log request and appends its records to one
/// batch, as the receivers and a shard worker do; returns the batch.
fn logs_to_arrow(bodies: &[Bytes], contexts: &mut ContextCache) -> RecordBatch {
    let mut rows = LogBatchBuilder::new();
    for body in bodies {
        let decoded = decode_export(Signal::Logs, body, BodyEncoding::Protobuf);
        let ExportRequest::WireLogs(logs) = decoded.expect("the payload is valid OTLP") else {
            unreachable!("protobuf logs are indexed in place");
        };
        let mut contexts = Contexts::cached(contexts);
        for log in logs.records() {
            let (resource, scope) = contexts.get(&logs, log.resource, log.scope);
            rows.append(resource, scope, &log.record);
        }
    }
    rows.finish()
}

/// Decodes and validates each metric request and appends its points to the
/// builders of their tables, as the receivers and a shard worker do (the
/// watch's summaries left out); returns the rows of the finished batches.
fn metrics_to_arrow(bodies: &[Bytes], contexts: &mut ContextCache) -> usize {
    let mut builders: Vec<BatchBuilder> = Vec::new();
    for body in bodies {
        let decoded = decode_export(Signal::Metrics, body, BodyEncoding::Protobuf);
        let ExportRequest::WireMetrics(metrics) = decoded.expect("the payload is valid OTLP")
        else {
            unreachable!("protobuf metrics are indexed in place");
        };
        let mut contexts = Contexts::cached(contexts);
        for metric in metrics.metrics() {
            let (resource, scope) = contexts.get(&metrics, metric.resource, metric.scope);
            let table = metric.metric.table().expect("kept metrics have data");
            let rows = match builders.iter().position(|b| b.table() == table) {
                Some(at) => &mut builders[at],
                None => {
                    builders.push(BatchBuilder::new(table).expect("a metric table"));
                    builders.last_mut().expect("just pushed")
                }
            };
            for point in metric.points() {
                rows.append_point(resource, scope, &metric, &point);
            }
        }
    }
    builders.iter_mut().map(|b| b.finish().num_rows()).sum()
}

#[inline(never)]
fn measured_loadgen_logs(bodies: &[Bytes], contexts: &mut ContextCache) -> RecordBatch {
    logs_to_arrow(bodies, contexts)
}

#[inline(never)]
fn measured_loadgen_metrics(bodies: &[Bytes], contexts: &mut ContextCache) -> usize {
    metrics_to_arrow(bodies, contexts)
}

fn main() {
    // `cargo bench` passes `--bench`; nothing here takes arguments.
    let payload = TracePayload::flush();
    let body = Bytes::from(trace_request(&payload).encode_to_vec());
    let mut shard = Shard::default();

    black_box(measured_prost_decode(&body));
    assert_eq!(black_box(measured_prost_decode(&body)), payload.spans);

    black_box(stages::decode(&body));
    let spans = black_box(measured_decode(&body));
    assert_eq!(spans, payload.spans);

    black_box(stages::to_arrow(&body, &mut shard));
    let batch = black_box(measured_to_arrow(&body, &mut shard));
    assert_eq!(batch.num_rows(), spans, "every span becomes a row");

    let requests: Vec<Bytes> = (0..64)
        .map(|i| {
            let request = TracePayload {
                seed: 0xF1A5 + i,
                ..TracePayload::default()
            };
            Bytes::from(trace_request(&request).encode_to_vec())
        })
        .collect();
    let from_requests = black_box(measured_requests(&requests, &mut shard));
    assert_eq!(from_requests.num_rows(), 64 * TracePayload::default().spans);

    black_box(stages::to_parquet(&batch));
    let file = black_box(measured_to_parquet(&batch));
    assert!(file.starts_with(b"PAR1") && file.ends_with(b"PAR1"));

    let (loadgen, _) = trace_bodies(Some(1)).expect("the driver's arguments are valid");
    black_box(measured_loadgen_prost_decode(&loadgen));
    assert_eq!(black_box(measured_loadgen_prost_decode(&loadgen)), 64 * 512);
    for body in &loadgen {
        stages::hold(body, &mut shard);
    }
    black_box(shard.finish());
    let (loadgen_batch, _) = black_box(measured_loadgen_requests(&loadgen, &mut shard));
    assert_eq!(loadgen_batch.num_rows(), 64 * 512);
    black_box(stages::to_parquet(&loadgen_batch));
    black_box(measured_loadgen_to_parquet(&loadgen_batch));

    let (logs, records) = bodies("logs", Some(1)).expect("the driver's arguments are valid");
    let mut contexts = ContextCache::default();
    black_box(logs_to_arrow(&logs, &mut contexts));
    let log_batch = black_box(measured_loadgen_logs(&logs, &mut contexts));
    assert_eq!(
        log_batch.num_rows(),
        records,
        "every log record becomes a row"
    );
    let (metrics, points) = bodies("metrics", Some(1)).expect("the driver's arguments are valid");
    black_box(metrics_to_arrow(&metrics, &mut contexts));
    assert_eq!(
        black_box(measured_loadgen_metrics(&metrics, &mut contexts)),
        points
    );
    println!(
        "{spans} spans: protobuf body {} bytes, parquet file {} bytes",
        body.len(),
        file.len()
    );
}
