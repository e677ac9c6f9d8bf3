//! When storage cannot keep up, queues fill and clients are refused with
//! retryable statuses; nothing acknowledged is lost, and ingestion resumes by
//! itself once storage is back.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use prost::Message;
use sluice_e2e::{Sluice, count_rows, fixtures};

/// `google.rpc.Status` with its details.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
    #[prost(message, repeated, tag = "3")]
    details: Vec<Any>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Any {
    #[prost(string, tag = "1")]
    type_url: String,
    #[prost(bytes = "vec", tag = "2")]
    value: Vec<u8>,
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_store_turns_into_retryable_refusals_and_no_loss() {
    let mut sluice = Sluice::start_with(&[
        ("SLUICE_PIPELINE_SHARDS", "1"),
        ("SLUICE_PIPELINE_QUEUE_CAPACITY", "4"),
        ("SLUICE_STORAGE_FLUSH_ROWS", "1"),
    ])
    .unwrap();
    // A file where the tenant directory must go: every write fails until it is removed.
    let blocker = sluice.root.join("default");
    std::fs::write(&blocker, b"not a directory").unwrap();

    let client = reqwest::Client::new();
    let body = fixtures::traces("stall", 1, 3).encode_to_vec();
    let mut acknowledged = 0;
    let mut refusal = None;
    for _ in 0..50 {
        let response = client
            .post(sluice.http_url("/v1/traces"))
            .header("content-type", "application/x-protobuf")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        match response.status().as_u16() {
            200 => acknowledged += 1,
            503 => {
                refusal = Some(response);
                break;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    let refusal = refusal.expect("a stalled store must lead to a refusal");
    assert_eq!(refusal.headers()["retry-after"], "1");
    let status = RpcStatus::decode(refusal.bytes().await.unwrap()).unwrap();
    assert_eq!(status.code, 14, "UNAVAILABLE");
    assert!(status.message.contains("queue_full"), "{}", status.message);

    let mut grpc = TraceServiceClient::connect(sluice.grpc_url())
        .await
        .unwrap();
    let err = grpc
        .export(fixtures::traces("stall", 1, 3))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unavailable);
    let details = RpcStatus::decode(err.details()).unwrap();
    assert!(
        details
            .details
            .iter()
            .any(|d| d.type_url.ends_with("google.rpc.RetryInfo")),
        "UNAVAILABLE carries RetryInfo: {details:?}"
    );
    // The stalled shard keeps retrying its batch, and says so.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let metrics = sluice.metrics().await.unwrap();
        if metrics.contains("sluice_storage_write_errors_total") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no write error reported:\n{metrics}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Storage is back: the shard catches up on its own and takes requests again.
    std::fs::remove_file(&blocker).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = client
            .post(sluice.http_url("/v1/traces"))
            .header("content-type", "application/x-protobuf")
            .body(body.clone())
            .send()
            .await
            .unwrap()
            .status();
        if status == 200 {
            acknowledged += 1;
            break;
        }
        assert_eq!(
            status, 503,
            "refusals stay retryable while storage recovers"
        );
        assert!(
            Instant::now() < deadline,
            "ingestion resumes once storage is back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    sluice.stop_cleanly().unwrap();
    assert_eq!(
        count_rows(&sluice.root, "default", "otel_traces").unwrap(),
        acknowledged * 3
    );
}
