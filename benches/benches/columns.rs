//! Where a Parquet flush's time and bytes go, column by column.
//!
//! Encodes the 32,768-span batch of `ingest`'s `flush/arrow_to_parquet`
//! ([`TracePayload::flush`]) with the storage defaults, whole and then each
//! top-level column alone, the best of eight rounds each, and prints the time,
//! its share of the whole file's time and the bytes. The shares add up to a
//! little less than the whole: a file has costs of its own (footer, bloom
//! filter, row group set-up).
//!
//! A column's settings (dictionary, encoding, zstd level, statistics; see
//! `sluice_storage::writer_properties`) are best compared here, with the
//! file bytes beside the time. The payload is not the load generator's data,
//! though: check a change's bytes on that too (`benches/RESULTS.md` has the
//! recipe).
//!
//! Run with `cargo bench -p sluice-benches --bench columns`.

// Only `to_arrow` is used here.
#[allow(dead_code)]
mod stages;

/// The allocator the daemon runs with.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use bytes::Bytes;
use prost::Message;
use sluice_benches::payload::{TracePayload, trace_request};
use sluice_model::Table;
use sluice_storage::{StorageConfig, encode_parquet, writer_properties};
use stages::Shard;

/// Rounds per measurement; the quickest counts.
const ROUNDS: usize = 8;

/// The quickest of [`ROUNDS`] encodings of `batch`, and its bytes.
fn encode(batch: &RecordBatch) -> (Duration, usize) {
    let storage = StorageConfig::default();
    let mut quickest = Duration::MAX;
    let mut bytes = 0;
    for _ in 0..ROUNDS {
        let properties = writer_properties(
            Table::Traces,
            storage.row_group_rows,
            storage.zstd_level,
            vec![],
        );
        let started = Instant::now();
        bytes = encode_parquet(Table::Traces, batch, properties)
            .expect("encoding to memory cannot fail")
            .len();
        quickest = quickest.min(started.elapsed());
    }
    (quickest, bytes)
}

fn main() {
    let payload = TracePayload::flush();
    let body = Bytes::from(trace_request(&payload).encode_to_vec());
    let batch = stages::to_arrow(&body, &mut Shard::default());
    let schema = batch.schema();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;

    let (whole, bytes) = encode(&batch);
    println!(
        "{} spans: {:.2} ms, {bytes} bytes ({:.2} bytes/span)",
        payload.spans,
        ms(whole),
        bytes as f64 / payload.spans as f64
    );
    println!(
        "{:<24} {:>9} {:>6} {:>10}",
        "column", "ms", "share", "bytes"
    );
    for (index, field) in schema.fields().iter().enumerate() {
        let column = batch.project(&[index]).expect("the column exists");
        let (time, bytes) = encode(&column);
        println!(
            "{:<24} {:>9.2} {:>5.1}% {bytes:>10}",
            field.name(),
            ms(time),
            100.0 * time.as_secs_f64() / whole.as_secs_f64()
        );
    }
}
