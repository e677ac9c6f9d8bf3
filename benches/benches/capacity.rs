//! How the capacity of a string column's buffers changes the time parquet-rs
//! takes to encode it: the same rows, the same file bytes, different times.
//!
//! Found when span names, trace states and status messages were built in
//! builders sized to the flush (benches/RESULTS.md, tenth session): parquet's
//! byte-array encoder (its dictionary interner and min/max statistics) spent
//! twice as long in `memcmp`. This rebuilds those three columns of one
//! 100,000-span batch in builders started at different capacities and times
//! `encode_parquet` of each, interleaved, twelve rounds:
//!
//! - `StringBuilder::new()` (1 KiB, doubling: how Sluice builds its rows);
//! - a `BinaryBuilder::new()` checked into a string column;
//! - `StringBuilder::with_capacity(0, 0)`;
//! - `with_capacity` of exactly the rows and bytes;
//! - `with_capacity` of those rounded up to a power of two;
//!
//! and then the whole batch put back in order by arrow's `take` (as logs and
//! metrics are at their flush; `take` sizes every buffer exactly) and by
//! `sort_batch`, which copies string columns into buffers of a power of two's
//! capacity for this reason.
//!
//! On the 2-core development VM the capacities that end at a power of two
//! (4 MiB of values here) encode in about 145 ms and the others in about
//! 180 ms; the batch in order by `take` about 190 ms, by `sort_batch` about
//! 145 ms. The cause (found in the fourteenth session) is glibc's EVEX
//! `memcmp`, which loads strings of up to 32 bytes with a mask: with its AVX2
//! `memcmp` instead (`GLIBC_TUNABLES=glibc.cpu.hwcaps=-AVX512BW,-AVX512VL`)
//! every capacity encodes alike, about 109 ms against 106 and 141 ms. (A
//! masked load that reaches memory not mapped costs a microcode assist, as
//! `sluice_storage`'s map encoder met on empty buffers; which pages these
//! buffers' loads reach was not traced.) The lesson stays: size builders as
//! doubling would.
//!
//! Run with `cargo bench -p sluice-benches --bench capacity`.

mod stages;

/// The allocator the daemon runs with: where buffers land is the question.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;
use std::time::Instant;

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryBuilder, RecordBatch, StringArray, StringBuilder, UInt32Array,
};
use arrow::compute::take_record_batch;
use bytes::Bytes;
use prost::Message;
use sluice_benches::payload::{TracePayload, trace_request};
use sluice_model::Table;
use sluice_storage::sort_batch;
use stages::Shard;

/// The text columns rebuilt: `TraceState`, `SpanName`, `StatusMessage`.
const COLUMNS: [usize; 3] = [4, 5, 14];

const BUILDERS: [&str; 5] = [
    "StringBuilder::new()",
    "BinaryBuilder::new(), checked",
    "StringBuilder::with_capacity(0, 0)",
    "with_capacity(exact)",
    "with_capacity(power of two)",
];

/// `column`'s strings in a builder of kind `builder` (an index of
/// [`BUILDERS`]).
fn rebuilt(column: &ArrayRef, builder: usize) -> ArrayRef {
    let text = column.as_string::<i32>();
    let values = text.iter().map(Option::unwrap_or_default);
    let (rows, bytes) = (text.len(), text.values().len());
    let strings = |mut b: StringBuilder| -> ArrayRef {
        values.clone().for_each(|v| b.append_value(v));
        Arc::new(b.finish())
    };
    match builder {
        0 => strings(StringBuilder::new()),
        1 => {
            let mut b = BinaryBuilder::new();
            values.clone().for_each(|v| b.append_value(v));
            Arc::new(StringArray::try_from_binary(b.finish()).expect("the strings were UTF-8"))
        }
        2 => strings(StringBuilder::with_capacity(0, 0)),
        3 => strings(StringBuilder::with_capacity(rows, bytes)),
        _ => strings(StringBuilder::with_capacity(
            rows.next_power_of_two(),
            bytes.next_power_of_two(),
        )),
    }
}

fn rebuild(batch: &RecordBatch, builder: usize) -> RecordBatch {
    let mut columns = batch.columns().to_vec();
    for i in COLUMNS {
        columns[i] = rebuilt(batch.column(i), builder);
    }
    RecordBatch::try_new(batch.schema(), columns).expect("the same schema")
}

fn main() {
    let payload = TracePayload {
        spans: 100_000,
        seed: 0xF1A5,
        ..TracePayload::default()
    };
    let body = Bytes::from(trace_request(&payload).encode_to_vec());
    let batch = stages::to_arrow(&body, &mut Shard::default());
    let file = stages::to_parquet(&batch);
    for (builder, name) in BUILDERS.iter().enumerate() {
        let rebuilt = rebuild(&batch, builder);
        let capacity = rebuilt.column(5).as_string::<i32>().values().capacity();
        assert_eq!(
            stages::to_parquet(&rebuilt),
            file,
            "the same rows make the same file"
        );
        println!("{name}: SpanName's values hold {capacity} bytes");
    }
    let mut millis = vec![Vec::new(); BUILDERS.len()];
    for _ in 0..12 {
        for (builder, times) in millis.iter_mut().enumerate() {
            let batch = rebuild(&batch, builder);
            let start = Instant::now();
            std::hint::black_box(stages::to_parquet(&batch));
            times.push(start.elapsed().as_secs_f64() * 1e3);
        }
    }
    // The batch put back in order by arrow's `take` (which sizes every buffer
    // exactly), as logs and metrics are at their flush, and by `sort_batch`,
    // which then copies string columns into buffers of a power of two's
    // capacity.
    let reversed = UInt32Array::from_iter_values((0..batch.num_rows() as u32).rev());
    let take = |batch: &RecordBatch| take_record_batch(batch, &reversed).expect("in bounds");
    let backwards = take(&batch);
    let taken = take(&backwards);
    assert_eq!(stages::to_parquet(&taken), file, "the same rows again");
    let sorted = sort_batch(Table::Traces, &backwards).expect("the traces schema");
    let mut taken_times = [Vec::new(), Vec::new()];
    for _ in 0..12 {
        for (batch, times) in [&taken, &sorted].into_iter().zip(taken_times.iter_mut()) {
            let start = Instant::now();
            std::hint::black_box(stages::to_parquet(batch));
            times.push(start.elapsed().as_secs_f64() * 1e3);
        }
    }
    let names = ["put in order by arrow's take", "put in order by sort_batch"];
    for (name, mut times) in BUILDERS
        .iter()
        .chain(&names)
        .zip(millis.into_iter().chain(taken_times))
    {
        times.sort_by(f64::total_cmp);
        println!(
            "{name}: encode median {:.1} ms (fastest {:.1}, slowest {:.1})",
            times[times.len() / 2],
            times[0],
            times[times.len() - 1]
        );
    }
}
