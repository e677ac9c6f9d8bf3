//! Bad input gets the answer the OTLP specification asks for and costs nothing
//! else: the rest of a partially invalid request is stored, and the process
//! keeps serving.

#![allow(clippy::unwrap_used)]

use std::io::Write;

use bytes::Bytes;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use prost::Message;
use sluice_e2e::{Sluice, count_rows, fixtures};
use sluice_otlp::grpc::RawCodec;
use tonic::codec::CompressionEncoding;

/// `google.rpc.Status`, the error body of OTLP/HTTP.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

const LIMITS: &[(&str, &str)] = &[
    ("SLUICE_RECEIVERS_MAX_REQUEST_BYTES", "64KiB"),
    ("SLUICE_RECEIVERS_MAX_DECOMPRESSED_BYTES", "1MiB"),
];

async fn post(
    sluice: &Sluice,
    path: &str,
    content_type: &str,
    encoding: Option<&str>,
    body: Vec<u8>,
) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(sluice.http_url(path))
        .header("content-type", content_type)
        .body(body);
    if let Some(encoding) = encoding {
        request = request.header("content-encoding", encoding);
    }
    request.send().await.unwrap()
}

async fn status_of(response: reqwest::Response) -> (u16, RpcStatus) {
    let code = response.status().as_u16();
    let body = response.bytes().await.unwrap();
    (
        code,
        RpcStatus::decode(body).expect("error bodies are google.rpc.Status"),
    )
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// A trace request with one span of a 15-byte trace id among `good` good ones.
fn traces_with_one_bad_span(good: u64) -> ExportTraceServiceRequest {
    let mut request = fixtures::traces("bad", good, 1);
    let spans = &mut request.resource_spans[0].scope_spans[0].spans;
    let mut bad = spans[0].clone();
    bad.trace_id.truncate(15);
    spans.push(bad);
    request
}

#[tokio::test(flavor = "multi_thread")]
async fn http_refuses_bad_requests_with_the_otlp_status_codes() {
    let mut sluice = Sluice::start_with(LIMITS).unwrap();
    let valid = fixtures::traces("ok", 1, 1).encode_to_vec();

    let (code, status) =
        status_of(post(&sluice, "/v1/traces", "text/plain", None, valid.clone()).await).await;
    assert_eq!(code, 415);
    assert!(
        status.message.contains("unsupported content type"),
        "{}",
        status.message
    );

    let (code, status) = status_of(
        post(
            &sluice,
            "/v1/traces",
            "application/x-protobuf",
            Some("br"),
            valid.clone(),
        )
        .await,
    )
    .await;
    assert_eq!(code, 415);
    assert!(status.message.contains("br"), "{}", status.message);

    let (code, status) = status_of(
        post(
            &sluice,
            "/v1/traces",
            "application/x-protobuf",
            None,
            vec![0xff; 32],
        )
        .await,
    )
    .await;
    assert_eq!(code, 400);
    assert_eq!(status.code, 3, "INVALID_ARGUMENT");
    assert!(
        status.message.contains("invalid protobuf"),
        "{}",
        status.message
    );

    let response = post(
        &sluice,
        "/v1/metrics",
        "application/json",
        None,
        b"{\"resourceMetrics\": [{]}".to_vec(),
    )
    .await;
    assert_eq!(response.status(), 400);
    assert_eq!(response.headers()["content-type"], "application/json");
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("invalid OTLP/JSON"),
        "{body}"
    );

    let (code, status) = status_of(
        post(
            &sluice,
            "/v1/logs",
            "application/x-protobuf",
            Some("gzip"),
            b"not gzip".to_vec(),
        )
        .await,
    )
    .await;
    assert_eq!(code, 400);
    assert!(status.message.contains("gzip"), "{}", status.message);

    let (code, status) = status_of(
        post(
            &sluice,
            "/v1/traces",
            "application/x-protobuf",
            None,
            vec![0; 100 << 10],
        )
        .await,
    )
    .await;
    assert_eq!(code, 413);
    assert!(status.message.contains("64KiB"), "{}", status.message);

    // 8 MiB of zeros: a few KiB compressed, over the 1 MiB decompressed limit.
    let bomb = gzip(&vec![0u8; 8 << 20]);
    assert!(bomb.len() < 64 << 10);
    let (code, status) = status_of(
        post(
            &sluice,
            "/v1/traces",
            "application/x-protobuf",
            Some("gzip"),
            bomb,
        )
        .await,
    )
    .await;
    assert_eq!(code, 413);
    assert!(
        status.message.contains("decompressed body"),
        "{}",
        status.message
    );

    let response = reqwest::Client::new()
        .post(sluice.http_url("/v1/traces"))
        .header("content-type", "application/x-protobuf")
        .header("x-scope-orgid", "../etc")
        .body(valid.clone())
        .send()
        .await
        .unwrap();
    let (code, status) = status_of(response).await;
    assert_eq!(code, 400);
    assert!(
        status.message.contains("X-Scope-OrgID"),
        "{}",
        status.message
    );

    // Still serving, nothing stored from the refused requests, no panic.
    let (code, _) = (
        post(&sluice, "/v1/traces", "application/x-protobuf", None, valid)
            .await
            .status(),
        (),
    );
    assert_eq!(code, 200);
    sluice.stop_cleanly().unwrap();
    assert_eq!(
        count_rows(&sluice.root, "default", "otel_traces").unwrap(),
        1
    );
    assert_eq!(count_rows(&sluice.root, "default", "otel_logs").unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_records_are_dropped_and_counted_in_partial_success() {
    let mut sluice = Sluice::start().unwrap();

    let response = post(
        &sluice,
        "/v1/traces",
        "application/x-protobuf",
        None,
        traces_with_one_bad_span(4).encode_to_vec(),
    )
    .await;
    assert_eq!(response.status(), 200);
    let body = ExportTraceServiceResponse::decode(response.bytes().await.unwrap()).unwrap();
    let partial = body.partial_success.expect("partial success");
    assert_eq!(partial.rejected_spans, 1);
    assert!(
        partial.error_message.contains("trace_id must be 16 bytes"),
        "{}",
        partial.error_message
    );

    let mut metrics = fixtures::metrics("bad", 2);
    if let Some(Data::Histogram(h)) =
        &mut metrics.resource_metrics[0].scope_metrics[0].metrics[2].data
    {
        h.data_points[0].bucket_counts.push(7);
    }
    let response = post(
        &sluice,
        "/v1/metrics",
        "application/x-protobuf",
        None,
        metrics.encode_to_vec(),
    )
    .await;
    let body = ExportMetricsServiceResponse::decode(response.bytes().await.unwrap()).unwrap();
    assert_eq!(
        body.partial_success.map(|p| p.rejected_data_points),
        Some(1)
    );

    let mut logs = fixtures::logs("bad", 3);
    logs.resource_logs[0].scope_logs[0].log_records[1].span_id = vec![1, 2, 3];
    let response = post(
        &sluice,
        "/v1/logs",
        "application/x-protobuf",
        None,
        logs.encode_to_vec(),
    )
    .await;
    let body = ExportLogsServiceResponse::decode(response.bytes().await.unwrap()).unwrap();
    assert_eq!(
        body.partial_success.map(|p| p.rejected_log_records),
        Some(1)
    );

    let json = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[
        {"traceId":"5b8efff798038103d269b633813fc6","spanId":"eee19b7ec3c1b174","name":"short"},
        {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"fine"}]}]}]}"#;
    let response = post(&sluice, "/v1/traces", "application/json", None, json.into()).await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["partialSuccess"]["rejectedSpans"], "1", "{body}");

    let mut grpc = TraceServiceClient::connect(sluice.grpc_url())
        .await
        .unwrap();
    let response = grpc
        .export(traces_with_one_bad_span(2))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.partial_success.map(|p| p.rejected_spans), Some(1));

    sluice.stop_cleanly().unwrap();
    assert_eq!(
        count_rows(&sluice.root, "default", "otel_traces").unwrap(),
        4 + 1 + 2
    );
    assert_eq!(
        count_rows(&sluice.root, "default", "otel_metrics_histogram").unwrap(),
        1
    );
    assert_eq!(
        count_rows(&sluice.root, "default", "otel_metrics_gauge").unwrap(),
        2
    );
    assert_eq!(count_rows(&sluice.root, "default", "otel_logs").unwrap(), 2);
}

async fn raw_export(
    sluice: &Sluice,
    body: Bytes,
    compression: Option<CompressionEncoding>,
) -> Result<Bytes, tonic::Status> {
    let channel = tonic::transport::Endpoint::new(sluice.grpc_url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = tonic::client::Grpc::new(channel);
    if let Some(c) = compression {
        client = client.send_compressed(c);
    }
    client.ready().await.unwrap();
    let path = http::uri::PathAndQuery::from_static(
        "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    );
    client
        .unary(tonic::Request::new(body), path, RawCodec)
        .await
        .map(tonic::Response::into_inner)
}

#[tokio::test(flavor = "multi_thread")]
async fn grpc_refuses_bad_messages_with_the_otlp_status_codes() {
    let mut sluice = Sluice::start_with(LIMITS).unwrap();

    let err = raw_export(&sluice, Bytes::from_static(&[0xff; 16]), None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err:?}");
    assert!(
        err.message().contains("invalid protobuf"),
        "{}",
        err.message()
    );

    // 2 MiB of one attribute: over the 1 MiB message limit, plain and gzipped
    // (where it is a few KiB on the wire and must be stopped while inflating).
    let mut big = fixtures::traces("big", 1, 1);
    big.resource_spans[0].scope_spans[0].spans[0]
        .attributes
        .push(fixtures::kv(
            "blob",
            Value::StringValue("a".repeat(2 << 20)),
        ));
    let big = Bytes::from(big.encode_to_vec());
    for compression in [
        None,
        Some(CompressionEncoding::Gzip),
        Some(CompressionEncoding::Zstd),
    ] {
        let err = raw_export(&sluice, big.clone(), compression)
            .await
            .unwrap_err();
        assert_eq!(
            err.code(),
            tonic::Code::ResourceExhausted,
            "{compression:?}: {err:?}"
        );
    }

    let mut client = TraceServiceClient::connect(sluice.grpc_url())
        .await
        .unwrap();
    let mut request = tonic::Request::new(fixtures::traces("t", 1, 1));
    request
        .metadata_mut()
        .insert("x-scope-orgid", "a/b".parse().unwrap());
    let err = client.export(request).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err:?}");

    let ok = raw_export(
        &sluice,
        Bytes::from(fixtures::traces("t", 1, 2).encode_to_vec()),
        None,
    )
    .await
    .unwrap();
    assert!(
        ExportTraceServiceResponse::decode(ok)
            .unwrap()
            .partial_success
            .is_none()
    );
    sluice.stop_cleanly().unwrap();
    assert_eq!(
        count_rows(&sluice.root, "default", "otel_traces").unwrap(),
        2
    );
}
