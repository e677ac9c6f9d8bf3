//! Acknowledged means durable: `kill -9` at random moments, many times over,
//! loses no acknowledged record and duplicates none; a torn or corrupt WAL tail
//! costs only the records after the damage; a kill in the middle of deleting a
//! released WAL segment leaves nothing to lose or replay; a clean stop leaves
//! the WAL empty.
//!
//! `E2E_CRASH_CYCLES` sets the number of kill cycles (default 20; a longer run,
//! e.g. 300, is `E2E_CRASH_CYCLES=300 cargo test -p sluice-e2e --test crash`),
//! `E2E_SEED` the seed of the random moments and offsets.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use sluice_e2e::{Rng, Sluice, fixtures, metric_value, read_table, seed, strings};

const SPANS_PER_REQUEST: u64 = 8;

/// Writes often and routes over two shards, so kills land mid-flush too.
const ENV: &[(&str, &str)] = &[
    ("SLUICE_PIPELINE_SHARDS", "2"),
    ("SLUICE_STORAGE_FLUSH_ROWS", "64"),
    ("SLUICE_STORAGE_FLUSH_INTERVAL", "100ms"),
];

/// A request whose spans carry the ids `first..first + SPANS_PER_REQUEST`.
fn request(first: u64) -> Vec<u8> {
    padded_request(first, 0)
}

/// The same, each span with a `pad` attribute of `pad` bytes (0: none), to
/// fill WAL segments fast.
fn padded_request(first: u64, pad: usize) -> Vec<u8> {
    let attributes = if pad == 0 {
        Vec::new()
    } else {
        vec![KeyValue {
            key: "pad".into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue("x".repeat(pad))),
            }),
            ..Default::default()
        }]
    };
    let spans = (first..first + SPANS_PER_REQUEST)
        .map(|id| Span {
            trace_id: fixtures::trace_id(id / 3),
            span_id: fixtures::span_id(id),
            name: "crash".into(),
            start_time_unix_nano: fixtures::T0 + id,
            end_time_unix_nano: fixtures::T0 + id + 1000,
            attributes: attributes.clone(),
            ..Default::default()
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: fixtures::resource("crash"),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// How many times each span id is stored under `root`.
fn stored_span_ids(root: &Path) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for id in strings(
        &read_table(root, "default", "otel_traces").unwrap(),
        "SpanId",
    ) {
        *counts.entry(id).or_insert(0) += 1;
    }
    counts
}

/// Sends requests from `senders` tasks until told to stop; returns the ids of
/// the spans of every acknowledged request.
async fn send_until(
    sluice_url: String,
    senders: usize,
    next: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
) -> Vec<u64> {
    send_padded_until(sluice_url, senders, 0, next, stop).await
}

/// [`send_until`] with each span padded as [`padded_request`] does.
async fn send_padded_until(
    sluice_url: String,
    senders: usize,
    pad: usize,
    next: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
) -> Vec<u64> {
    let acked = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for _ in 0..senders {
        let (url, next, stop, acked) = (
            sluice_url.clone(),
            Arc::clone(&next),
            Arc::clone(&stop),
            Arc::clone(&acked),
        );
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .unwrap();
            while !stop.load(Ordering::Relaxed) {
                let first = next.fetch_add(SPANS_PER_REQUEST, Ordering::Relaxed);
                let response = client
                    .post(&url)
                    .header("content-type", "application/x-protobuf")
                    .body(padded_request(first, pad))
                    .send()
                    .await;
                match response {
                    Ok(r) if r.status() == 200 => acked
                        .lock()
                        .unwrap()
                        .extend(first..first + SPANS_PER_REQUEST),
                    Ok(r) => assert!(
                        r.status() == 503,
                        "only retryable refusals, got {}",
                        r.status()
                    ),
                    // The process is gone: this request was never acknowledged.
                    Err(_) => break,
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    Arc::try_unwrap(acked).unwrap().into_inner().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_at_random_moments_loses_and_duplicates_nothing_acknowledged() {
    let cycles: u64 = std::env::var("E2E_CRASH_CYCLES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(20);
    let mut rng = Rng::new(seed());
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    let next = Arc::new(AtomicU64::new(0));
    let mut acknowledged = Vec::new();
    for cycle in 0..cycles {
        let mut sluice = Sluice::start_in(&root, ENV).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let sender = tokio::spawn(send_until(
            sluice.http_url("/v1/traces"),
            4,
            Arc::clone(&next),
            Arc::clone(&stop),
        ));
        let alive = Duration::from_millis(rng.range(20..400));
        tokio::time::sleep(alive).await;
        sluice.kill9().unwrap();
        stop.store(true, Ordering::Relaxed);
        let acked = sender.await.unwrap();
        assert!(
            cycle > 0 || !acked.is_empty() || alive < Duration::from_millis(100),
            "nothing was acknowledged"
        );
        acknowledged.extend(acked);
    }
    // A last start replays what the last kill left, and a clean stop writes it.
    let mut sluice = Sluice::start_in(&root, ENV).unwrap();
    sluice.stop_cleanly().unwrap();

    let stored = stored_span_ids(&root);
    let duplicated: Vec<_> = stored.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        duplicated.is_empty(),
        "{} span ids stored twice or more, e.g. {:?}",
        duplicated.len(),
        duplicated.first()
    );
    let missing: Vec<u64> = acknowledged
        .iter()
        .copied()
        .filter(|id| !stored.contains_key(&hex(&fixtures::span_id(*id))))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged spans lost over {cycles} kill -9 cycles, e.g. {:?}",
        missing.len(),
        acknowledged.len(),
        &missing[..missing.len().min(5)]
    );
    assert!(
        acknowledged.len() > 1000,
        "the test must exercise something: {} acknowledged",
        acknowledged.len()
    );
    assert!(
        wal_segments(&root).is_empty(),
        "a clean stop empties the wal: {:?}\n{}",
        wal_segments(&root),
        sluice.logs()
    );
}

/// Segments of 8 MiB released in 1 MiB cuts 100 ms apart: each release takes
/// the better part of a second, and the kill lands in one.
const RELEASE_ENV: &[(&str, &str)] = &[
    ("SLUICE_PIPELINE_SHARDS", "2"),
    ("SLUICE_STORAGE_FLUSH_ROWS", "64"),
    ("SLUICE_STORAGE_FLUSH_INTERVAL", "100ms"),
    ("SLUICE_WAL_SEGMENT_BYTES", "8MiB"),
    ("SLUICE_WAL_RELEASE_CHUNK_BYTES", "1MiB"),
    ("SLUICE_WAL_RELEASE_PAUSE", "100ms"),
    // Every released segment is deleted, none kept to be written over.
    ("SLUICE_WAL_RECYCLE_SEGMENTS", "0"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_kill_9_while_a_segment_is_cut_back_loses_nothing_and_leaves_no_damage() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    let mut sluice = Sluice::start_in(&root, RELEASE_ENV).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let sender = tokio::spawn(send_padded_until(
        sluice.http_url("/v1/traces"),
        4,
        4096,
        Arc::new(AtomicU64::new(0)),
        Arc::clone(&stop),
    ));
    // Kill as soon as a released segment is being cut back.
    let deadline = Instant::now() + Duration::from_secs(60);
    while released_segments(&root).is_empty() {
        assert!(
            Instant::now() < deadline,
            "no segment released within 60 s:\n{}",
            sluice.logs()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The first cut follows the rename at once; the kill lands in the pause
    // after it, with six cuts still to come. Stopped first, so that no
    // write of the WAL is cut short: a torn record is damage (a kill -9 can
    // end a large write part way), and this test is about the released
    // segment.
    tokio::time::sleep(Duration::from_millis(50)).await;
    sluice.freeze().unwrap();
    sluice.kill9().unwrap();
    stop.store(true, Ordering::Relaxed);
    let acknowledged = sender.await.unwrap();
    let left = released_segments(&root);
    assert!(!left.is_empty(), "the kill landed after the cuts");
    let cut = std::fs::metadata(&left[0]).unwrap().len();
    assert!(
        cut <= 7 << 20,
        "a segment of at most 8 MiB cut at least once: {cut} bytes"
    );

    let mut sluice = Sluice::start_in(&root, RELEASE_ENV).unwrap();
    assert!(
        released_segments(&root).is_empty(),
        "the start deletes what a release left"
    );
    sluice.stop_cleanly().unwrap();
    assert!(
        !sluice.logs().contains("wal segment damaged"),
        "a released segment is no damaged one:\n{}",
        sluice.logs()
    );
    assert_stored_once(&root, &acknowledged);
}

/// Segments of 1 MiB and two spares: under padded requests the WAL rotates
/// several times a second, and after the first checkpoint every new segment
/// is a released one written over.
const RECYCLE_ENV: &[(&str, &str)] = &[
    ("SLUICE_PIPELINE_SHARDS", "2"),
    ("SLUICE_STORAGE_FLUSH_ROWS", "64"),
    ("SLUICE_STORAGE_FLUSH_INTERVAL", "100ms"),
    ("SLUICE_WAL_SEGMENT_BYTES", "1MiB"),
    ("SLUICE_WAL_RECYCLE_SEGMENTS", "2"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_over_recycled_segments_loses_nothing_and_replays_no_old_record() {
    let mut rng = Rng::new(seed() ^ 0x5EC7C1E);
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    let next = Arc::new(AtomicU64::new(0));
    let mut acknowledged = Vec::new();
    let mut recycled = 0.0;
    for _ in 0..4 {
        let mut sluice = Sluice::start_in(&root, RECYCLE_ENV).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let sender = tokio::spawn(send_padded_until(
            sluice.http_url("/v1/traces"),
            4,
            4096,
            Arc::clone(&next),
            Arc::clone(&stop),
        ));
        // Kill at a random moment after a spare was written over.
        let deadline = Instant::now() + Duration::from_secs(60);
        let reused = loop {
            let text = sluice.metrics().await.unwrap_or_default();
            let reused = metric_value(&text, "sluice_wal_segments_recycled_total", &[]);
            if reused.is_some_and(|n| n > 0.0) {
                break reused.unwrap_or(0.0);
            }
            assert!(
                Instant::now() < deadline,
                "no spare written over within 60 s:\n{}",
                sluice.logs()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        recycled += reused;
        tokio::time::sleep(Duration::from_millis(rng.range(0..300))).await;
        // Stopped first, so that no write is cut short: a torn record is
        // damage, and this test is about what follows the last whole one.
        sluice.freeze().unwrap();
        sluice.kill9().unwrap();
        stop.store(true, Ordering::Relaxed);
        acknowledged.extend(sender.await.unwrap());
        assert!(
            !sluice.logs().contains("wal segment damaged"),
            "a segment written over reads as its own records only:\n{}",
            sluice.logs()
        );
    }
    let mut sluice = Sluice::start_in(&root, RECYCLE_ENV).unwrap();
    sluice.stop_cleanly().unwrap();
    assert!(
        !sluice.logs().contains("wal segment damaged"),
        "{}",
        sluice.logs()
    );
    assert!(recycled >= 4.0, "{recycled} spares written over");

    assert_stored_once(&root, &acknowledged);
}

/// Checks that every span id in `acknowledged` is stored under `root`, and
/// none twice.
fn assert_stored_once(root: &Path, acknowledged: &[u64]) {
    let stored = stored_span_ids(root);
    let duplicated = stored.values().filter(|n| **n > 1).count();
    assert_eq!(duplicated, 0, "span ids stored twice or more");
    let missing = acknowledged
        .iter()
        .filter(|id| !stored.contains_key(&hex(&fixtures::span_id(**id))))
        .count();
    assert_eq!(missing, 0, "of {} acknowledged spans", acknowledged.len());
}

/// The WAL's segments, oldest first.
fn wal_segments(root: &Path) -> Vec<std::path::PathBuf> {
    wal_files(root, "log")
}

/// The segments renamed out of the WAL to be cut back and deleted.
fn released_segments(root: &Path) -> Vec<std::path::PathBuf> {
    wal_files(root, "released")
}

/// The files of the WAL directory with `extension`, sorted.
fn wal_files(root: &Path, extension: &str) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(root.join(".wal"))
        .map(|entries| entries.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == extension));
    files.sort();
    files
}

/// Where each record of a segment ends (the format: 8-byte magic, then records
/// of a 16-byte header whose first 4 bytes are the payload length, then a
/// header of zeros).
fn record_ends(segment: &[u8]) -> Vec<usize> {
    let mut ends = Vec::new();
    let mut offset = 8;
    while offset + 16 <= segment.len() {
        let len = u32::from_le_bytes(segment[offset..offset + 4].try_into().unwrap()) as usize;
        if len == 0 {
            // The header of zeros after the last record.
            break;
        }
        offset += 16 + len;
        if offset > segment.len() {
            break;
        }
        ends.push(offset);
    }
    ends
}

#[tokio::test(flavor = "multi_thread")]
async fn a_torn_or_corrupt_wal_tail_keeps_every_record_before_the_damage() {
    let mut rng = Rng::new(seed() ^ 0xDA4A6E);
    let client = reqwest::Client::new();
    for case in 0..6 {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("data");
        // Nothing reaches Parquet before the kill: the WAL holds everything.
        let env = [
            ("SLUICE_STORAGE_FLUSH_INTERVAL", "1h"),
            ("SLUICE_PIPELINE_SHARDS", "2"),
        ];
        let mut sluice = Sluice::start_in(&root, &env).unwrap();
        let requests = 12;
        for r in 0..requests {
            let response = client
                .post(sluice.http_url("/v1/traces"))
                .header("content-type", "application/x-protobuf")
                .body(request(r * SPANS_PER_REQUEST))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
        }
        sluice.kill9().unwrap();

        let segment = wal_segments(&root).pop().expect("a wal segment");
        let bytes = std::fs::read(&segment).unwrap();
        let ends = record_ends(&bytes);
        assert_eq!(ends.len() as u64, requests, "one record per request");
        let at = rng.range(8..bytes.len() as u64) as usize;
        if case % 2 == 0 {
            std::fs::write(&segment, &bytes[..at]).unwrap();
        } else {
            let mut damaged = bytes.clone();
            damaged[at] ^= 0x5A;
            std::fs::write(&segment, &damaged).unwrap();
        }
        let intact = ends.iter().filter(|end| **end <= at).count();

        let mut sluice = Sluice::start_in(&root, &env).unwrap();
        sluice.stop_cleanly().unwrap();
        let stored = stored_span_ids(&root);
        assert_eq!(
            stored.len(),
            intact * SPANS_PER_REQUEST as usize,
            "case {case}: damage at byte {at} of {}, {intact} records before it",
            bytes.len()
        );
        for id in 0..intact as u64 * SPANS_PER_REQUEST {
            assert_eq!(
                stored.get(&hex(&fixtures::span_id(id))),
                Some(&1),
                "case {case}: span {id}"
            );
        }
        assert!(
            intact == requests as usize || sluice.logs().contains("wal segment damaged"),
            "the damage is reported"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_sigterm_exits_at_once_and_the_wal_keeps_what_was_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    let env = [
        ("SLUICE_STORAGE_FLUSH_INTERVAL", "1h"),
        ("SLUICE_PIPELINE_SHARDS", "2"),
    ];
    let mut sluice = Sluice::start_in(&root, &env).unwrap();
    let client = reqwest::Client::new();
    for r in 0..20 {
        let response = client
            .post(sluice.http_url("/v1/traces"))
            .header("content-type", "application/x-protobuf")
            .body(request(r * SPANS_PER_REQUEST))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    // A stalled store keeps the drain from ever finishing (a file where the
    // tenant directory must go): only the second signal ends the process.
    let blocker = root.join("default");
    std::fs::write(&blocker, b"not a directory").unwrap();
    sluice.signal("TERM").unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !sluice.logs().contains("cannot write batch") {
        assert!(
            Instant::now() < deadline,
            "the drain never stalled:\n{}",
            sluice.logs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sluice.signal("TERM").unwrap();
    let status = sluice.wait().unwrap();
    assert_eq!(status.code(), Some(130), "the second signal exits at once");

    std::fs::remove_file(&blocker).unwrap();
    let mut sluice = Sluice::start_in(&root, &env).unwrap();
    sluice.stop_cleanly().unwrap();
    let stored = stored_span_ids(&root);
    assert_eq!(stored.len(), 20 * SPANS_PER_REQUEST as usize);
    assert!(stored.values().all(|n| *n == 1), "no span twice");
}
