//! Data sent over every transport, encoding and compression lands in the
//! Parquet files with every record and field, and SIGTERM drains everything.

#![allow(clippy::unwrap_used)]

use std::io::Write;

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use prost::Message;
use sluice_e2e::{Sluice, count_rows, fixtures, parquet_files, read_table, strings};
use tonic::codec::CompressionEncoding;

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn grpc_stores_all_three_signals_with_every_field() {
    let mut sluice = Sluice::start().unwrap();
    let url = sluice.grpc_url();

    let mut traces = TraceServiceClient::connect(url.clone())
        .await
        .unwrap()
        .send_compressed(CompressionEncoding::Gzip);
    let response = traces
        .export(fixtures::traces("checkout", 20, 5))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.partial_success, None, "nothing was invalid");
    let mut metrics = MetricsServiceClient::connect(url.clone())
        .await
        .unwrap()
        .send_compressed(CompressionEncoding::Zstd);
    metrics
        .export(fixtures::metrics("checkout", 4))
        .await
        .unwrap();
    let mut logs = LogsServiceClient::connect(url).await.unwrap();
    let mut request = tonic::Request::new(fixtures::logs("checkout", 7));
    request
        .metadata_mut()
        .insert("x-scope-orgid", "team-a".parse().unwrap());
    logs.export(request).await.unwrap();

    sluice.stop_cleanly().unwrap();
    let root = &sluice.root;
    assert_eq!(count_rows(root, "default", "otel_traces").unwrap(), 100);
    for table in [
        "otel_metrics_gauge",
        "otel_metrics_sum",
        "otel_metrics_histogram",
        "otel_metrics_exponential_histogram",
        "otel_metrics_summary",
    ] {
        assert_eq!(count_rows(root, "default", table).unwrap(), 4, "{table}");
    }
    assert_eq!(
        count_rows(root, "team-a", "otel_logs").unwrap(),
        7,
        "the tenant header picks the directory"
    );
    assert_eq!(count_rows(root, "default", "otel_logs").unwrap(), 0);

    let spans = read_table(root, "default", "otel_traces").unwrap();
    let trace_ids = strings(&spans, "TraceId");
    let expected = sluice_e2e_hex(&fixtures::trace_id(3));
    assert_eq!(
        trace_ids.iter().filter(|t| **t == expected).count(),
        5,
        "a trace's 5 spans"
    );
    assert!(trace_ids.iter().all(|t| {
        t.len() == 32
            && t.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    }));
    let kinds = strings(&spans, "SpanKind");
    assert_eq!(kinds.iter().filter(|k| *k == "Server").count(), 20);
    assert_eq!(kinds.iter().filter(|k| *k == "Client").count(), 80);
    let statuses = strings(&spans, "StatusCode");
    assert_eq!(statuses.iter().filter(|s| *s == "Error").count(), 20);
    assert!(
        strings(&spans, "ServiceName")
            .iter()
            .all(|s| s == "checkout")
    );
    let durations = strings(&spans, "Duration");
    assert!(
        durations.contains(&"5000000".to_string()),
        "op-4 lasts 5 ms"
    );
    let attributes = strings(&spans, "SpanAttributes");
    assert!(
        attributes[0].contains("http.status_code: 200"),
        "{}",
        attributes[0]
    );

    let logs = read_table(root, "team-a", "otel_logs").unwrap();
    let bodies = strings(&logs, "Body");
    assert!(bodies.contains(&"message 6".to_string()), "{bodies:?}");
    assert!(strings(&logs, "SeverityText").iter().all(|s| s == "ERROR"));

    let summary = read_table(root, "default", "otel_metrics_summary").unwrap();
    let quantiles = strings(&summary, "ValueAtQuantiles");
    assert!(
        quantiles[0].contains("0.99") && quantiles[0].contains("9.9"),
        "{}",
        quantiles[0]
    );
    let histogram = read_table(root, "default", "otel_metrics_histogram").unwrap();
    assert_eq!(strings(&histogram, "BucketCounts")[0], "[1, 2, 3]");
    assert_eq!(strings(&histogram, "Min")[0], "0.5");
    let sums = read_table(root, "default", "otel_metrics_sum").unwrap();
    assert!(strings(&sums, "IsMonotonic").iter().all(|m| m == "true"));
    assert_eq!(strings(&sums, "MetricName")[0], "e2e.sum");
}

fn sluice_e2e_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn http_accepts_protobuf_and_json_plain_gzip_and_zstd() {
    let mut sluice = Sluice::start().unwrap();
    let client = reqwest::Client::new();
    let body = fixtures::traces("web", 3, 2).encode_to_vec();
    let bodies: [(&str, Vec<u8>); 3] = [
        ("identity", body.clone()),
        ("gzip", gzip(&body)),
        ("zstd", zstd::encode_all(&body[..], 3).unwrap()),
    ];
    for (encoding, payload) in bodies {
        let response = client
            .post(sluice.http_url("/v1/traces"))
            .header("content-type", "application/x-protobuf")
            .header("content-encoding", encoding)
            .body(payload)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{encoding}");
        assert_eq!(response.headers()["content-type"], "application/x-protobuf");
    }
    let json = r#"{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"web"}}]},
        "scopeLogs":[{"logRecords":[{"timeUnixNano":"1714979289000000000","severityNumber":9,"severityText":"INFO",
        "body":{"stringValue":"hello"},"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174"}]}]}]}"#;
    for encoding in ["identity", "gzip", "zstd"] {
        let payload = match encoding {
            "gzip" => gzip(json.as_bytes()),
            "zstd" => zstd::encode_all(json.as_bytes(), 3).unwrap(),
            _ => json.as_bytes().to_vec(),
        };
        let response = client
            .post(sluice.http_url("/v1/logs"))
            .header("content-type", "application/json")
            .header("content-encoding", encoding)
            .body(payload)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{encoding}");
        assert_eq!(response.headers()["content-type"], "application/json");
        assert_eq!(response.text().await.unwrap(), "{}");
    }
    sluice.stop_cleanly().unwrap();
    assert_eq!(
        count_rows(&sluice.root, "default", "otel_traces").unwrap(),
        18
    );
    let logs = read_table(&sluice.root, "default", "otel_logs").unwrap();
    assert_eq!(logs.iter().map(|b| b.num_rows()).sum::<usize>(), 3);
    assert!(
        strings(&logs, "TraceId")
            .iter()
            .all(|t| t == "5b8efff798038103d269b633813fc60c")
    );
    assert!(strings(&logs, "Body").iter().all(|b| b == "hello"));
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_writes_what_is_buffered_and_files_are_partitioned_by_event_time() {
    // Nothing would be written for an hour: only the shutdown drain writes.
    let mut sluice = Sluice::start_with(&[
        ("SLUICE_STORAGE_FLUSH_INTERVAL", "1h"),
        ("SLUICE_PIPELINE_SHARDS", "3"),
    ])
    .unwrap();
    let mut traces = TraceServiceClient::connect(sluice.grpc_url())
        .await
        .unwrap();
    traces
        .export(fixtures::traces("drain", 50, 4))
        .await
        .unwrap();
    assert!(
        parquet_files(&sluice.root).is_empty(),
        "nothing is written before the flush interval"
    );
    sluice.stop_cleanly().unwrap();
    assert_eq!(
        count_rows(&sluice.root, "default", "otel_traces").unwrap(),
        200
    );
    let files = parquet_files(&sluice.root.join("default/otel_traces"));
    for file in &files {
        let relative = file
            .strip_prefix(&sluice.root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert!(
            relative.starts_with("default/otel_traces/date=2024-05-06/hour=07/e2e-"),
            "{relative}"
        );
    }
    // The spans' rollups, by minute of end time, beside them.
    assert!(
        !parquet_files(
            &sluice
                .root
                .join("default/sluice_rollups/date=2024-05-06/hour=07")
        )
        .is_empty()
    );
    assert!(files.len() >= 2, "spans spread over the shards: {files:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn api_reports_health_readiness_and_metrics() {
    let mut sluice = Sluice::start().unwrap();
    let client = reqwest::Client::new();
    assert_eq!(
        client
            .get(sluice.api_url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        client
            .get(sluice.api_url("/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let mut traces = TraceServiceClient::connect(sluice.grpc_url())
        .await
        .unwrap();
    traces.export(fixtures::traces("m", 2, 3)).await.unwrap();
    let metrics = sluice.metrics().await.unwrap();
    assert!(
        metrics.contains(r#"sluice_records_received_total{signal="traces",transport="grpc"} 6"#),
        "{metrics}"
    );
    assert!(
        metrics.contains("sluice_shard_queue_depth{shard="),
        "{metrics}"
    );
    // Counted once the file is in place and synced: poll until then.
    let mut metrics = String::new();
    for _ in 0..200 {
        metrics = sluice.metrics().await.unwrap();
        if metrics.contains(r#"sluice_records_written_total{table="otel_traces"} 6"#) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        metrics.contains(r#"sluice_records_written_total{table="otel_traces"} 6"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"sluice_storage_files_written_total{table="otel_traces"}"#),
        "{metrics}"
    );
    // Times are histograms: exact counts per bucket, up to +Inf.
    assert!(
        metrics.contains(
            r#"sluice_receiver_request_seconds_bucket{signal="traces",transport="grpc",le="0.01"}"#
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"sluice_receiver_request_seconds_bucket{signal="traces",transport="grpc",le="+Inf"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"sluice_wal_fsync_seconds_bucket{le="0.005"}"#),
        "{metrics}"
    );
    assert!(!metrics.contains("quantile="), "{metrics}");
    sluice.stop_cleanly().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn retention_removes_partitions_past_their_age() {
    let mut sluice = Sluice::start_with(&[
        ("SLUICE_STORAGE_RETENTION", "30d"),
        ("SLUICE_STORAGE_RETENTION_INTERVAL", "200ms"),
        ("SLUICE_STORAGE_FLUSH_INTERVAL", "100ms"),
    ])
    .unwrap();
    let mut traces = TraceServiceClient::connect(sluice.grpc_url())
        .await
        .unwrap();
    // 2024: long past 30 days.
    traces.export(fixtures::traces("old", 2, 2)).await.unwrap();
    let mut recent = fixtures::traces("new", 1, 1);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    for span in &mut recent.resource_spans[0].scope_spans[0].spans {
        span.start_time_unix_nano = now;
        span.end_time_unix_nano = now + 1;
    }
    traces.export(recent).await.unwrap();
    // The 2024 partition is written, then removed by retention (spans of both
    // shards may take two passes). Done once every row is in a file (so no
    // shard still holds 2024 rows to write at shutdown) and none is in 2024.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let metrics = sluice.metrics().await.unwrap();
        let removed =
            sluice_e2e::metric_value(&metrics, "sluice_retention_partitions_removed_total", &[])
                .unwrap_or(0.0);
        let written = sluice_e2e::metric_value(
            &metrics,
            "sluice_records_written_total",
            &[r#"table="otel_traces""#],
        )
        .unwrap_or(0.0);
        let old_files = parquet_files(&sluice.root.join("default/otel_traces"))
            .iter()
            .filter(|f| f.to_string_lossy().contains("date=2024-05-06"))
            .count();
        if removed >= 1.0 && old_files == 0 && written >= 5.0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no partition removed:\n{metrics}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    sluice.stop_cleanly().unwrap();
    let files = parquet_files(&sluice.root.join("default/otel_traces"));
    assert!(
        files
            .iter()
            .all(|f| !f.to_string_lossy().contains("date=2024-05-06")),
        "the 2024 partition is gone: {files:?}"
    );
    assert_eq!(
        count_rows(&sluice.root, "default", "otel_traces").unwrap(),
        1
    );
}

/// The scheduler slice of each thread of `pid`, by thread name, in
/// nanoseconds, from `/proc/<pid>/task/*/sched`; `None` where the kernel
/// does not show it.
fn thread_slices(pid: u32) -> Option<Vec<(String, u64)>> {
    let mut slices = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let task = task.ok()?.path();
        let name = std::fs::read_to_string(task.join("comm")).ok()?;
        let sched = std::fs::read_to_string(task.join("sched")).ok()?;
        let slice = sched
            .lines()
            .find(|l| l.starts_with("se.slice"))?
            .rsplit(' ')
            .next()?
            .parse()
            .ok()?;
        slices.push((name.trim().to_owned(), slice));
    }
    Some(slices)
}

/// Whether the running kernel is `major.minor` or later.
fn kernel_at_least(major: u32, minor: u32) -> bool {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut numbers = release
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse::<u32>().ok());
    (numbers.next().unwrap_or(0), numbers.next().unwrap_or(0)) >= (major, minor)
}

#[tokio::test(flavor = "multi_thread")]
async fn threads_on_the_acknowledgement_path_run_with_short_slices() {
    let mut sluice = Sluice::start().unwrap();
    let Some(slices) = thread_slices(sluice.pid().unwrap()) else {
        eprintln!("this kernel shows no scheduler slices; skipped");
        return;
    };
    let of = |prefix: &str| -> Vec<u64> {
        slices
            .iter()
            .filter(|(name, _)| name.starts_with(prefix))
            .map(|(_, slice)| *slice)
            .collect()
    };
    let (io, wal, shards) = (of("sluice-io"), of("sluice-wal"), of("sluice-shard"));
    assert!(
        !io.is_empty() && !wal.is_empty() && !shards.is_empty(),
        "{slices:?}"
    );
    // The main thread never sets a slice: it has the kernel's default.
    let default = slices
        .iter()
        .find(|(name, _)| name == "sluice")
        .map(|(_, slice)| *slice)
        .unwrap_or_else(|| panic!("no main thread: {slices:?}"));
    if kernel_at_least(6, 12) {
        assert!(io.iter().chain(&wal).all(|s| *s == 100_000), "{slices:?}");
        assert_ne!(default, 100_000, "{slices:?}");
        assert!(
            shards.iter().all(|s| *s == default),
            "shards keep the default: {slices:?}"
        );
    } else {
        // Before 6.12 every thread has the one slice.
        assert!(slices.iter().all(|(_, s)| *s == default), "{slices:?}");
    }
    sluice.stop_cleanly().unwrap();

    let mut sluice = Sluice::start_with(&[
        ("SLUICE_RECEIVERS_IO_SLICE", "0s"),
        ("SLUICE_WAL_WRITER_SLICE", "0s"),
    ])
    .unwrap();
    let slices = thread_slices(sluice.pid().unwrap()).unwrap();
    assert!(
        slices.iter().all(|(_, s)| *s == default),
        "0s keeps the default everywhere: {slices:?}"
    );
    sluice.stop_cleanly().unwrap();
}

/// The shards take turns writing: with two shards, the first one writes its
/// first batch of an hour at half of `storage.flush_rows`, the second at all
/// of it, and every later batch of either holds `flush_rows` (and the few
/// rows of the request that filled it).
#[tokio::test(flavor = "multi_thread")]
async fn shards_write_their_first_batch_staggered() {
    const FLUSH_ROWS: usize = 200;
    let mut sluice = Sluice::start_with(&[
        ("SLUICE_PIPELINE_SHARDS", "2"),
        ("SLUICE_STORAGE_FLUSH_ROWS", "200"),
        // Only full batches are written while the requests come in.
        ("SLUICE_STORAGE_FLUSH_INTERVAL", "3600s"),
    ])
    .unwrap();
    let mut client = TraceServiceClient::connect(sluice.grpc_url())
        .await
        .unwrap();
    // 40 spans a request, in ten traces: each trace's spans go to one shard.
    let per_request = 40;
    for _ in 0..40 {
        client
            .export(fixtures::traces("checkout", 10, 4))
            .await
            .unwrap();
    }
    sluice.stop_cleanly().unwrap();

    // Each shard's files in the order it wrote them (`<node>-<shard>-<created
    // ms>-<seq>.parquet`); the last one is what shutdown wrote.
    let mut by_shard: [Vec<(u64, usize)>; 2] = Default::default();
    for file in parquet_files(&sluice.root.join("default").join("otel_traces")) {
        let name = file.file_stem().unwrap().to_str().unwrap().to_owned();
        let parts: Vec<&str> = name.rsplitn(4, '-').collect();
        let (seq, shard): (u64, usize) = (parts[0].parse().unwrap(), parts[2].parse().unwrap());
        let rows = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&file).unwrap())
            .unwrap()
            .metadata()
            .file_metadata()
            .num_rows();
        by_shard[shard].push((seq, usize::try_from(rows).unwrap()));
    }
    for files in &mut by_shard {
        files.sort();
        assert!(
            files.len() >= 3,
            "two full batches and the rest: {by_shard:?}"
        );
    }
    let full = |rows: usize, limit: usize| (limit..limit + per_request).contains(&rows);
    for (shard, files) in by_shard.iter().enumerate() {
        let first = FLUSH_ROWS * (shard + 1) / 2;
        assert!(full(files[0].1, first), "shard {shard}: {files:?}");
        let later = &files[1..files.len() - 1];
        assert!(
            later.iter().all(|f| full(f.1, FLUSH_ROWS)),
            "shard {shard}: {files:?}"
        );
    }
    assert_eq!(
        count_rows(&sluice.root, "default", "otel_traces").unwrap(),
        40 * per_request
    );
}
