//! Under load well above what it can sustain, resident memory stays within the
//! configured budget plus a small overhead, every refusal is retryable, nothing
//! acknowledged is lost, and throughput comes back as soon as the load ends.
//!
//! `E2E_OVERLOAD_SECS` sets how long the overload lasts (default 8; a longer
//! run, e.g. 180, is `E2E_OVERLOAD_SECS=180 cargo test -p sluice-e2e --test overload
//! -- --nocapture`, which also prints the figures). `E2E_WAL_FSYNC=never` runs
//! it without WAL fsync, and `E2E_SLUICE_BIN` points it at a release build.

#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use prost::Message;
use sluice_e2e::{Sluice, count_rows, fixtures};

/// The budget under test, and what the process may use beyond it: the async
/// runtime and its buffers, allocator slack, requests being read before they
/// are charged, Parquet encoding scratch, and the code itself.
const BUDGET_MIB: u64 = 96;
const OVERHEAD_MIB: u64 = 192;

/// About 200 KiB of protobuf: 400 spans with a few attributes each.
fn heavy_request(first: u64) -> Vec<u8> {
    let mut request = fixtures::traces("overload", 100, 4);
    for (i, span) in request.resource_spans[0].scope_spans[0]
        .spans
        .iter_mut()
        .enumerate()
    {
        span.span_id = fixtures::span_id(first + i as u64);
        span.trace_id = fixtures::trace_id((first + i as u64) / 4);
        span.attributes
            .push(fixtures::kv("payload", Value::StringValue("x".repeat(300))));
    }
    request.encode_to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn overload_stays_in_budget_refuses_retryably_and_recovers() {
    let seconds: u64 = std::env::var("E2E_OVERLOAD_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(8);
    let budget = format!("{BUDGET_MIB}MiB");
    // `E2E_WAL_FSYNC=never` compares throughput without the fsync.
    let fsync = std::env::var("E2E_WAL_FSYNC").unwrap_or_else(|_| "always".into());
    let mut sluice = Sluice::start_with(&[
        ("SLUICE_MEMORY_BUDGET", &budget),
        ("SLUICE_RECEIVERS_MAX_DECOMPRESSED_BYTES", "8MiB"),
        ("SLUICE_PIPELINE_SHARDS", "2"),
        ("SLUICE_WAL_FSYNC", &fsync),
    ])
    .unwrap();
    let url = sluice.http_url("/v1/traces");
    let stop = Arc::new(AtomicBool::new(false));
    let next = Arc::new(AtomicU64::new(0));
    let acked = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let bad = Arc::new(Mutex::new(Vec::new()));
    let mut senders = Vec::new();
    for _ in 0..48 {
        let (url, stop, next, acked, refused, bad) = (
            url.clone(),
            Arc::clone(&stop),
            Arc::clone(&next),
            Arc::clone(&acked),
            Arc::clone(&refused),
            Arc::clone(&bad),
        );
        senders.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            while !stop.load(Ordering::Relaxed) {
                let first = next.fetch_add(400, Ordering::Relaxed);
                let response = client
                    .post(&url)
                    .header("content-type", "application/x-protobuf")
                    .body(heavy_request(first))
                    .send()
                    .await
                    .unwrap();
                match response.status().as_u16() {
                    200 => {
                        acked.fetch_add(400, Ordering::Relaxed);
                    }
                    503 | 429 if response.headers().contains_key("retry-after") => {
                        refused.fetch_add(1, Ordering::Relaxed);
                        // A real client would back off; this one keeps the pressure on.
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    other => bad.lock().unwrap().push(other),
                }
            }
        }));
    }

    let started = Instant::now();
    let mut peak = 0;
    while started.elapsed() < Duration::from_secs(seconds) {
        peak = peak.max(sluice.rss_bytes().unwrap_or(0));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for sender in senders {
        sender.await.unwrap();
    }
    let peak_mib = peak >> 20;
    let acked = acked.load(Ordering::Relaxed);
    let refused = refused.load(Ordering::Relaxed);
    println!(
        "overload for {seconds}s (fsync {fsync}): {acked} spans acknowledged ({} spans/s), {refused} requests refused, peak rss {peak_mib} MiB (budget {BUDGET_MIB} MiB)",
        acked / seconds.max(1)
    );
    assert!(
        bad.lock().unwrap().is_empty(),
        "non-retryable answers: {:?}",
        bad.lock().unwrap()
    );
    assert!(
        refused > 0,
        "the offered load must exceed what sluice takes"
    );
    assert!(acked > 0, "some load must get through");
    assert!(
        peak_mib <= BUDGET_MIB + OVERHEAD_MIB,
        "peak rss {peak_mib} MiB above budget {BUDGET_MIB} MiB + overhead {OVERHEAD_MIB} MiB"
    );

    // The overload is over: the next request is taken at once.
    let client = reqwest::Client::new();
    let recovered = Instant::now();
    loop {
        let status = client
            .post(&url)
            .header("content-type", "application/x-protobuf")
            .body(heavy_request(u64::MAX / 2))
            .send()
            .await
            .unwrap()
            .status();
        if status == 200 {
            break;
        }
        assert!(
            recovered.elapsed() < Duration::from_secs(10),
            "throughput does not recover"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sluice.stop_cleanly().unwrap();
    let stored = count_rows(&sluice.root, "default", "otel_traces").unwrap() as u64;
    assert_eq!(
        stored,
        acked + 400,
        "every acknowledged span is stored, once"
    );
}
