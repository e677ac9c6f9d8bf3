//! The query API: SQL over the stored tables (JSON, CSV, Arrow IPC), partition
//! columns, read-only enforcement, limits, tenants, trace lookup, and the
//! per-minute SLI rollups the shards derive from spans.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use serde_json::{Value, json};
use sluice_e2e::{Sluice, fixtures};

async fn sql(sluice: &Sluice, query: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(sluice.api_url("/api/v1/sql"))
        .json(&json!({ "sql": query }));
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    request.send().await.unwrap()
}

async fn rows(sluice: &Sluice, query: &str) -> Vec<Value> {
    let response = sql(sluice, query, &[]).await;
    assert_eq!(response.status(), 200, "{query}");
    response.json().await.unwrap()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn sql_and_trace_lookup_over_what_was_ingested() {
    let mut sluice = Sluice::start_with(&[("SLUICE_QUERY_MAX_ROWS", "50")]).unwrap();
    let mut traces = TraceServiceClient::connect(sluice.grpc_url())
        .await
        .unwrap();
    traces
        .export(fixtures::traces("checkout", 20, 5))
        .await
        .unwrap();

    // Files appear after the 1 s flush interval.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let counted = rows(&sluice, "SELECT count(*) AS n FROM otel_traces").await;
        if counted[0]["n"] == 100 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "spans never became queryable: {counted:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let grouped = rows(
        &sluice,
        "SELECT \"ServiceName\", \"SpanKind\", count(*) AS n FROM otel_traces GROUP BY 1, 2 ORDER BY 2",
    )
    .await;
    assert_eq!(
        grouped,
        vec![
            json!({"ServiceName": "checkout", "SpanKind": "Client", "n": 80}),
            json!({"ServiceName": "checkout", "SpanKind": "Server", "n": 20}),
        ]
    );
    let partitions = rows(&sluice, "SELECT DISTINCT date, hour FROM otel_traces").await;
    assert_eq!(
        partitions,
        vec![json!({"date": "2024-05-06", "hour": "07"})]
    );

    // The rollups the shards derived, merged over shards by SQL.
    let rollups = rows(
        &sluice,
        "SELECT sum(\"Requests\") AS requests, sum(\"Errors\") AS errors FROM sluice_rollups WHERE \"ServiceName\" = 'checkout'",
    )
    .await;
    assert_eq!(rollups, vec![json!({"requests": 100, "errors": 20})]);

    // Limits and formats.
    let response = sql(&sluice, "SELECT * FROM otel_traces", &[]).await;
    assert_eq!(response.headers()["sluice-truncated"], "true");
    assert_eq!(response.json::<Vec<Value>>().await.unwrap().len(), 50);
    // EXPLAIN ANALYZE runs (the row limit does not wrap the plan).
    let explained = rows(&sluice, "EXPLAIN ANALYZE SELECT count(*) FROM otel_traces").await;
    assert_eq!(
        explained[0]["plan_type"], "Plan with Metrics",
        "{explained:?}"
    );
    let csv = sql(
        &sluice,
        "SELECT \"SpanName\" FROM otel_traces WHERE \"SpanName\" = 'op-0' LIMIT 3",
        &[("accept", "text/csv")],
    )
    .await;
    assert_eq!(csv.headers()["content-type"], "text/csv");
    assert_eq!(csv.text().await.unwrap(), "SpanName\nop-0\nop-0\nop-0\n");
    let ipc = sql(
        &sluice,
        "SELECT \"SpanId\" FROM otel_traces LIMIT 7",
        &[("accept", "application/vnd.apache.arrow.stream")],
    )
    .await;
    let bytes = ipc.bytes().await.unwrap();
    let reader =
        arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(bytes), None).unwrap();
    assert_eq!(reader.map(|b| b.unwrap().num_rows()).sum::<usize>(), 7);

    // Errors are the client's, with DataFusion's message; nothing but reads runs.
    let response = sql(&sluice, "SELECT * FROM no_such_table", &[]).await;
    assert_eq!(response.status(), 400);
    assert!(
        response.json::<Value>().await.unwrap()["error"]
            .as_str()
            .unwrap()
            .contains("no_such_table")
    );
    for statement in [
        "CREATE EXTERNAL TABLE leak STORED AS CSV LOCATION '/etc/passwd'",
        "COPY (SELECT 1) TO '/tmp/sluice-copy.csv'",
        "SET datafusion.execution.batch_size = 1",
    ] {
        assert_eq!(
            sql(&sluice, statement, &[]).await.status(),
            400,
            "{statement}"
        );
    }

    // Another tenant sees nothing of this one.
    let other = sql(
        &sluice,
        "SELECT count(*) AS n FROM otel_traces",
        &[("x-scope-orgid", "team-a")],
    )
    .await;
    assert_eq!(
        other.json::<Vec<Value>>().await.unwrap(),
        vec![json!({"n": 0})]
    );

    // Trace lookup.
    let client = reqwest::Client::new();
    let id = hex(&fixtures::trace_id(3));
    let spans: Vec<Value> = client
        .get(sluice.api_url(&format!("/api/v1/traces/{id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(spans.len(), 5);
    assert!(spans.iter().all(|s| s["TraceId"] == id.as_str()));
    let missing = client
        .get(sluice.api_url(&format!("/api/v1/traces/{}", "ab".repeat(16))))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let bad = client
        .get(sluice.api_url("/api/v1/traces/xyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);

    sluice.stop_cleanly().unwrap();
}
