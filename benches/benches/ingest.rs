//! The ingest path of one OTLP/protobuf trace export, stage by stage.
//!
//! Input: the default [`TracePayload`] (512 spans, 2 resources, 10 mixed-type
//! attributes per span, a few events), encoded once as the protobuf body a
//! receiver gets after decompression. Each benchmark reports spans/s on one
//! core (criterion runs single-threaded), so `decode_to_parquet` is the
//! ceiling of one shard worker fed by one receiver thread:
//!
//! - `ingest/decode`: the receivers' decoding ([`sluice_otlp::decode_export`]):
//!   the protobuf body checked and its valid spans indexed in place
//!   ([`WireTraces`](sluice_model::traces::wire::WireTraces));
//! - `ingest/decode_messages`: the same body decoded into the prost messages
//!   of `opentelemetry-proto` (`ExportTraceServiceRequest`), for comparison:
//!   what a collector built on those messages pays, and what the receivers
//!   did before they read spans in place;
//! - `ingest/decode_to_arrow`: decode, [`retain_valid`](sluice_otlp::ExportRequest::retain_valid), then
//!   hold every span under its resource and scope context
//!   ([`HeldSpans`](sluice_model::traces::held::HeldSpans), with the contexts
//!   of the requests before as a shard keeps them) and `finish` the
//!   `RecordBatch` (the rows built in the file's order), as a shard worker
//!   does (one open batch: every span of the payload falls in one partition
//!   hour);
//! - `ingest/arrow_to_parquet`: [`sort_batch`](sluice_storage::sort_batch) (which finds the batch in order)
//!   and [`encode_parquet`](sluice_storage::encode_parquet) of that finished batch with the default storage
//!   settings (zstd level 3), as the Parquet writer does before its `put`;
//! - `ingest/decode_to_parquet`: all of it, body bytes to Parquet bytes;
//! - `ingest/route`: splitting a decoded request over 2 shards by trace id
//!   ([`sluice_pipeline::route::split`]; the request's clone is set-up, not
//!   measured);
//! - `ingest/sketch_insert`: recording every span's duration in the per-minute
//!   SLI rollup ([`SliRollup::record`]: a DDSketch insert and two counters).
//!
//! A 512-row file carries the fixed cost of a Parquet file (footer, column
//! chunk setup, a bloom filter per row group) on few rows, while a shard
//! writes up to `flush_rows` (100 000) per file. `flush/arrow_to_parquet`
//! therefore also encodes one 32 768-span batch (64 such payloads' worth, built
//! from a different seed so nothing repeats) to show the per-span cost of a
//! full-size file.
//!
//! Run with `cargo bench -p sluice-benches --bench ingest`.

mod stages;

/// The allocator the daemon runs with: allocation is part of every stage.
/// On glibc's malloc prost's decode of the 512 spans took half again as long
/// (607k against 939k spans/s), so a comparison on it was not the daemon's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use criterion::{BatchSize, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use prost::Message;
use sluice_benches::payload::{TracePayload, span_count, trace_request};
use sluice_model::otlp::collector::trace::v1::ExportTraceServiceRequest;
use sluice_pipeline::route::split;
use sluice_slo::SliRollup;
use stages::{Shard, decode, to_arrow, to_parquet, to_parquet_at};

fn ingest(c: &mut Criterion) {
    let request = trace_request(&TracePayload::default());
    let spans = span_count(&request) as u64;
    let body = Bytes::from(request.encode_to_vec());
    let batch = to_arrow(&body, &mut Shard::default());
    assert_eq!(batch.num_rows() as u64, spans, "no span may be rejected");
    let parquet = to_parquet(&batch);
    eprintln!(
        "payload: {spans} spans, protobuf body {} bytes, arrow batch {} bytes, parquet file {} bytes",
        body.len(),
        batch.get_array_memory_size(),
        parquet.len()
    );

    let mut group = c.benchmark_group("ingest");
    group
        .throughput(Throughput::Elements(spans))
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));

    group.bench_function("decode", |b| b.iter(|| decode(black_box(&body))));
    group.bench_function("decode_messages", |b| {
        b.iter(|| ExportTraceServiceRequest::decode(black_box(&body[..])).expect("valid"))
    });

    let mut builder = Shard::default();
    group.bench_function("decode_to_arrow", |b| {
        b.iter(|| to_arrow(black_box(&body), &mut builder));
    });

    group.bench_function("arrow_to_parquet", |b| {
        b.iter(|| to_parquet(black_box(&batch)))
    });

    group.bench_function("decode_to_parquet", |b| {
        b.iter(|| to_parquet(&to_arrow(black_box(&body), &mut builder)));
    });

    let decoded = decode(&body);
    group.bench_function("route", |b| {
        b.iter_batched(
            || decoded.clone(),
            |request| split(request, 2),
            BatchSize::SmallInput,
        );
    });

    let durations: Vec<(u64, bool)> = request
        .resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .flat_map(|ss| &ss.spans)
        .map(|span| {
            let duration = span
                .end_time_unix_nano
                .saturating_sub(span.start_time_unix_nano);
            let failed = span.status.as_ref().is_some_and(|s| s.code == 2);
            (duration, failed)
        })
        .collect();
    let mut rollup = SliRollup::default();
    group.bench_function("sketch_insert", |b| {
        b.iter(|| {
            for (duration, failed) in black_box(&durations) {
                rollup.record(*duration, *failed);
            }
        })
    });

    group.finish();
}

fn flush(c: &mut Criterion) {
    let payload = TracePayload::flush();
    let body = Bytes::from(trace_request(&payload).encode_to_vec());
    let batch = to_arrow(&body, &mut Shard::default());
    assert_eq!(batch.num_rows(), payload.spans);

    let mut group = c.benchmark_group("flush");
    group
        .throughput(Throughput::Elements(payload.spans as u64))
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    group.bench_function("arrow_to_parquet", |b| {
        b.iter(|| to_parquet(black_box(&batch)));
    });
    // The same at each zstd level, for `storage.zstd_level`'s trade-off.
    for level in [1, 3, 6] {
        let encode = |batch| to_parquet_at(batch, level);
        eprintln!(
            "flush: zstd level {level}: {} bytes for {} spans",
            encode(&batch).len(),
            payload.spans
        );
        group.bench_function(format!("arrow_to_parquet_zstd_{level}"), |b| {
            b.iter(|| encode(black_box(&batch)));
        });
    }
    group.finish();
}

criterion_group!(benches, ingest, flush);
criterion_main!(benches);
