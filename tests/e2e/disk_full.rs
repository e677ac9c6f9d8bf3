//! A disk that fills up: below the free-space watermark Sluice refuses
//! retryably; when a write fails for lack of space anyway, the request is
//! refused (never acknowledged), no file under a final name is corrupt, and
//! ingestion resumes by itself once space is freed. Each test mounts its own
//! small tmpfs (root is needed to mount; CI runs as root).

#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use prost::Message;
use sluice_e2e::{Sluice, fixtures, parquet_files, read_table, strings};

/// A tmpfs of a fixed size, unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(
            status.success(),
            "cannot mount a tmpfs at {} (run as root)",
            dir.path().display()
        );
        Self { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn free(&self) -> u64 {
        let stat = rustix::fs::statvfs(self.path()).unwrap();
        stat.f_bavail * stat.f_frsize
    }

    /// Fills the filesystem until `leave` bytes are free; returns the filler.
    fn fill(&self, leave: u64) -> PathBuf {
        let path = self.path().join("filler");
        let mut file = std::fs::File::create(&path).unwrap();
        let chunk = vec![0xAB; 64 << 10];
        while self.free() > leave + chunk.len() as u64 {
            if file.write_all(&chunk).is_err() {
                break;
            }
        }
        file.sync_all().unwrap();
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// 50 spans with ids from `first`, about 20 KiB.
fn request(first: u64) -> Vec<u8> {
    let mut request = fixtures::traces("disk", 10, 5);
    for (i, span) in request.resource_spans[0].scope_spans[0]
        .spans
        .iter_mut()
        .enumerate()
    {
        span.span_id = fixtures::span_id(first + i as u64);
        span.name = "x".repeat(300);
    }
    request.encode_to_vec()
}

async fn send(client: &reqwest::Client, sluice: &Sluice, first: u64) -> (u16, String) {
    let response = client
        .post(sluice.http_url("/v1/traces"))
        .header("content-type", "application/x-protobuf")
        .body(request(first))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let retry = response.headers().contains_key("retry-after");
    let body = String::from_utf8_lossy(&response.bytes().await.unwrap()).into_owned();
    assert!(
        status == 200 || (status == 503 && retry),
        "status {status}: {body}"
    );
    (status, body)
}

/// Every acknowledged span id is stored exactly once, and every file reads.
fn check_stored(root: &Path, acknowledged: &[u64]) {
    for file in parquet_files(root) {
        let name = file.to_string_lossy();
        assert!(name.ends_with(".parquet"), "{name}");
    }
    let ids = strings(
        &read_table(root, "default", "otel_traces").unwrap(),
        "SpanId",
    );
    let mut counts = std::collections::HashMap::new();
    for id in ids {
        *counts.entry(id).or_insert(0) += 1;
    }
    assert!(counts.values().all(|n| *n == 1), "a span is stored twice");
    for first in acknowledged {
        for id in *first..first + 50 {
            let hex: String = fixtures::span_id(id)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            assert_eq!(counts.get(&hex), Some(&1), "acknowledged span {id} missing");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn below_the_watermark_requests_are_refused_retryably_until_space_returns() {
    let disk = Tmpfs::mount("64m");
    let root = disk.path().join("data");
    let mut sluice = Sluice::start_in(
        &root,
        &[
            ("SLUICE_STORAGE_MIN_FREE_BYTES", "16MiB"),
            ("SLUICE_STORAGE_FLUSH_INTERVAL", "200ms"),
        ],
    )
    .unwrap();
    let client = reqwest::Client::new();
    let mut acknowledged = Vec::new();
    let mut next = 0;
    for _ in 0..10 {
        assert_eq!(send(&client, &sluice, next).await.0, 200);
        acknowledged.push(next);
        next += 50;
    }
    let filler = disk.fill(8 << 20);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = send(&client, &sluice, next).await;
        if status == 200 {
            acknowledged.push(next);
        } else {
            assert!(body.contains("disk_full"), "{body}");
            break;
        }
        next += 50;
        assert!(Instant::now() < deadline, "no refusal below the watermark");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    next += 50;
    std::fs::remove_file(filler).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while send(&client, &sluice, next).await.0 != 200 {
        assert!(Instant::now() < deadline, "ingestion does not resume");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    acknowledged.push(next);
    sluice.stop_cleanly().unwrap();
    check_stored(&root, &acknowledged);
}

/// The `.spare` files in `wal`.
fn spares(wal: &Path) -> usize {
    std::fs::read_dir(wal)
        .unwrap()
        .filter(|entry| {
            let path = entry.as_ref().unwrap().path();
            path.extension().is_some_and(|e| e == "spare")
        })
        .count()
}

/// The WAL's spare segments are disk it can do without: below the watermark
/// they are deleted, and none is kept until space returns.
#[tokio::test(flavor = "multi_thread")]
async fn below_the_watermark_the_wal_gives_its_spares_back() {
    let disk = Tmpfs::mount("64m");
    let root = disk.path().join("data");
    let wal = root.join(".wal");
    let mut sluice = Sluice::start_in(
        &root,
        &[
            ("SLUICE_STORAGE_MIN_FREE_BYTES", "16MiB"),
            ("SLUICE_STORAGE_FLUSH_INTERVAL", "200ms"),
            ("SLUICE_WAL_SEGMENT_BYTES", "1MiB"),
        ],
    )
    .unwrap();
    let client = reqwest::Client::new();
    let mut acknowledged = Vec::new();
    let mut next = 0;
    // About 20 KiB a request: a segment every 50 or so, released once its
    // spans are written.
    let deadline = Instant::now() + Duration::from_secs(20);
    while spares(&wal) < 2 {
        assert_eq!(send(&client, &sluice, next).await.0, 200);
        acknowledged.push(next);
        next += 50;
        assert!(Instant::now() < deadline, "no spare kept");
    }

    let filler = disk.fill(8 << 20);
    let deadline = Instant::now() + Duration::from_secs(10);
    while spares(&wal) > 0 {
        assert!(
            Instant::now() < deadline,
            "the spares stay below the watermark"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, body) = send(&client, &sluice, next).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("disk_full"), "{body}");
    next += 50;

    std::fs::remove_file(filler).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while spares(&wal) == 0 {
        if send(&client, &sluice, next).await.0 == 200 {
            acknowledged.push(next);
        }
        next += 50;
        assert!(
            Instant::now() < deadline,
            "no spare kept once space returned"
        );
    }
    sluice.stop_cleanly().unwrap();
    check_stored(&root, &acknowledged);
}

#[tokio::test(flavor = "multi_thread")]
async fn writes_that_hit_a_full_disk_refuse_corrupt_nothing_and_recover() {
    let disk = Tmpfs::mount("32m");
    let root = disk.path().join("data");
    let mut sluice = Sluice::start_in(
        &root,
        &[
            // No watermark: the writes themselves run out of space.
            ("SLUICE_STORAGE_MIN_FREE_BYTES", "0"),
            ("SLUICE_STORAGE_FLUSH_ROWS", "200"),
            ("SLUICE_STORAGE_FLUSH_INTERVAL", "100ms"),
        ],
    )
    .unwrap();
    let client = reqwest::Client::new();
    let filler = disk.fill(512 << 10);
    let mut acknowledged = Vec::new();
    let mut refused = 0;
    let mut next = 0;
    for _ in 0..150 {
        let (status, _) = send(&client, &sluice, next).await;
        if status == 200 {
            acknowledged.push(next);
        } else {
            refused += 1;
        }
        next += 50;
    }
    assert!(refused > 0, "a full disk must lead to refusals");
    let metrics = sluice.metrics().await.unwrap();
    assert!(
        metrics.contains("sluice_wal_write_errors_total")
            || metrics.contains("sluice_storage_write_errors_total"),
        "a failed write is counted"
    );

    std::fs::remove_file(filler).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, _) = send(&client, &sluice, next).await;
        if status == 200 {
            acknowledged.push(next);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "ingestion does not resume once space is freed"
        );
        next += 50;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    sluice.stop_cleanly().unwrap();
    check_stored(&root, &acknowledged);
}
