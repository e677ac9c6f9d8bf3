//! OTLP exporters: send one [`Request`] and say what became of it.
//!
//! # Place in the run
//!
//! Each worker owns one [`Client`]: over gRPC its own HTTP/2 connection (as
//! one SDK instance would have), over HTTP a handle on a shared HTTP/1.1
//! connection pool. [`Client::send`] encodes and compresses the request, sends
//! it, and classifies the answer as an [`Outcome`]:
//!
//! - acknowledged: gRPC `OK` or HTTP 2xx, with the `partial_success` rejected
//!   count if the endpoint dropped some records;
//! - refused: any other gRPC status or HTTP status the endpoint answered, with
//!   whether the OTLP specification lets the client retry it and after how
//!   long (`RetryInfo`, `Retry-After`);
//! - failed: no answer at all (connection refused or reset, timeout).
//!
//! The acknowledgement latency runs from handing the encoded request to the
//! transport to receiving the whole answer; over gRPC it includes tonic's
//! compression of the message, over HTTP the body is compressed before.
//! Wire bytes are the compressed body (over gRPC, with its 5-byte frame header).

mod grpc;
mod http;
mod rpc_status;

use std::io::Write;
use std::time::Duration;

use bytes::Bytes;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message;

use crate::error::LoadgenError;
use crate::generate::Request;
use crate::options::{Compression, Plan, Protocol, Signal};

/// What became of one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// gRPC `OK` or HTTP 2xx; `rejected` records were dropped by the endpoint
    /// (`partial_success`).
    Acknowledged { rejected: u64 },
    /// The endpoint answered with an error status: `"UNAVAILABLE"` (gRPC) or
    /// `"503"` (HTTP).
    Refused {
        status: String,
        /// What the endpoint said, if anything.
        message: String,
        retryable: bool,
        retry_after: Option<Duration>,
    },
    /// No answer: `kind` is `connect`, `timeout`, `connection_reset`,
    /// `transport`, `encode` or `bad_response`.
    Failed { kind: &'static str, message: String },
}

/// One attempt at sending a request.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    pub outcome: Outcome,
    /// Bytes of the request body on the wire.
    pub wire_bytes: u64,
    /// From sending to the whole answer.
    pub latency: Duration,
}

/// A worker's exporter; see the module docs.
#[derive(Debug)]
pub enum Client {
    Grpc(Box<grpc::GrpcClient>),
    Http(http::HttpClient),
}

/// What the clients of one run share: for HTTP, the connection pool.
#[derive(Debug, Clone)]
pub struct ClientFactory {
    plan: Plan,
    http: Option<reqwest::Client>,
}

impl ClientFactory {
    pub fn new(plan: &Plan) -> Result<Self, LoadgenError> {
        let http = match plan.protocol {
            Protocol::Grpc => None,
            Protocol::HttpProto | Protocol::HttpJson => Some(http::pool(plan)?),
        };
        Ok(Self {
            plan: plan.clone(),
            http,
        })
    }

    /// A client for one worker.
    pub fn client(&self) -> Result<Client, LoadgenError> {
        match &self.http {
            None => Ok(Client::Grpc(Box::new(grpc::GrpcClient::new(&self.plan)?))),
            Some(pool) => Ok(Client::Http(http::HttpClient::new(
                &self.plan,
                pool.clone(),
            ))),
        }
    }
}

impl Client {
    /// Sends `request` once.
    pub async fn send(&mut self, request: &Request) -> Attempt {
        match self {
            Self::Grpc(client) => client.send(request).await,
            Self::Http(client) => client.send(request).await,
        }
    }
}

/// The header (or gRPC metadata key) that names the tenant.
pub const TENANT_HEADER: &str = "x-scope-orgid";

/// The records a protobuf export response says were rejected.
fn rejected_proto(signal: Signal, body: &[u8]) -> Result<u64, prost::DecodeError> {
    let rejected = match signal {
        Signal::Traces => ExportTraceServiceResponse::decode(body)?
            .partial_success
            .map_or(0, |p| p.rejected_spans),
        Signal::Metrics => ExportMetricsServiceResponse::decode(body)?
            .partial_success
            .map_or(0, |p| p.rejected_data_points),
        Signal::Logs => ExportLogsServiceResponse::decode(body)?
            .partial_success
            .map_or(0, |p| p.rejected_log_records),
    };
    Ok(u64::try_from(rejected).unwrap_or(0))
}

/// The records a JSON export response says were rejected. The proto3 JSON
/// mapping writes the int64 count as a string; numbers are accepted too.
fn rejected_json(body: &[u8]) -> Result<u64, serde_json::Error> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(0);
    }
    let value: serde_json::Value = serde_json::from_slice(body)?;
    let Some(partial) = value.get("partialSuccess").and_then(|p| p.as_object()) else {
        return Ok(0);
    };
    let count = ["rejectedSpans", "rejectedDataPoints", "rejectedLogRecords"]
        .iter()
        .find_map(|key| partial.get(*key))
        .and_then(|v| match v {
            serde_json::Value::String(s) => s.parse::<u64>().ok(),
            other => other.as_u64(),
        });
    Ok(count.unwrap_or(0))
}

/// Compresses an encoded body for OTLP/HTTP (without compression, the body
/// itself, not a copy).
pub fn compress(body: Bytes, compression: Compression) -> std::io::Result<Bytes> {
    match compression {
        Compression::None => Ok(body),
        Compression::Gzip => {
            let mut encoder = flate2::write::GzEncoder::new(
                Vec::with_capacity(body.len() / 4),
                flate2::Compression::default(),
            );
            encoder.write_all(&body)?;
            Ok(encoder.finish()?.into())
        }
        Compression::Zstd => {
            Ok(zstd::bulk::compress(&body, zstd::DEFAULT_COMPRESSION_LEVEL)?.into())
        }
    }
}

/// The kind of a transport error, from its source chain.
fn failure_kind(error: &(dyn std::error::Error + 'static)) -> &'static str {
    let mut source = Some(error);
    let mut text = String::new();
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => return "connect",
                std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::ConnectionAborted
                | std::io::ErrorKind::BrokenPipe => return "connection_reset",
                std::io::ErrorKind::TimedOut => return "timeout",
                _ => {}
            }
        }
        text.push_str(&e.to_string().to_lowercase());
        text.push(' ');
        source = e.source();
    }
    if text.contains("timed out") || text.contains("timeout") {
        "timeout"
    } else if text.contains("connect") || text.contains("dns") {
        "connect"
    } else {
        "transport"
    }
}

/// A failed attempt from an error.
fn failed(error: &(dyn std::error::Error + 'static)) -> Outcome {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        message.push_str(": ");
        message.push_str(&e.to_string());
        source = e.source();
    }
    Outcome::Failed {
        kind: failure_kind(error),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compressed_bodies_decompress_to_the_original() {
        let body = Bytes::from(b"resourceSpans ".repeat(1000));
        let gz = compress(body.clone(), Compression::Gzip).expect("in memory");
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut out)
            .expect("valid gzip");
        assert_eq!(out, body);
        let zst = compress(body.clone(), Compression::Zstd).expect("in memory");
        assert_eq!(zstd::decode_all(&zst[..]).expect("valid zstd"), body);
        assert!(gz.len() < body.len() / 10 && zst.len() < body.len() / 10);
        assert_eq!(
            compress(body.clone(), Compression::None).expect("identity"),
            body
        );
    }

    #[test]
    fn partial_success_counts_are_read_in_either_encoding() {
        use opentelemetry_proto::tonic::collector::trace::v1::ExportTracePartialSuccess;
        let response = ExportTraceServiceResponse {
            partial_success: Some(ExportTracePartialSuccess {
                rejected_spans: 3,
                error_message: "bad ids".into(),
            }),
        };
        let body = response.encode_to_vec();
        assert_eq!(rejected_proto(Signal::Traces, &body).ok(), Some(3));
        assert_eq!(rejected_proto(Signal::Logs, b"").ok(), Some(0));
        let json = br#"{"partialSuccess":{"rejectedLogRecords":"4","errorMessage":"x"}}"#;
        assert_eq!(rejected_json(json).ok(), Some(4));
        assert_eq!(
            rejected_json(br#"{"partialSuccess":{"rejectedSpans":5}}"#).ok(),
            Some(5)
        );
        assert_eq!(rejected_json(b"{}").ok(), Some(0));
        assert_eq!(rejected_json(br#"{"partialSuccess":null}"#).ok(), Some(0));
        assert_eq!(rejected_json(b"").ok(), Some(0));
        assert!(rejected_json(b"<html>").is_err());
    }

    #[test]
    fn io_errors_are_classified_by_kind() {
        use std::io::{Error, ErrorKind};
        let kind = |k: ErrorKind| failure_kind(&Error::new(k, "x"));
        assert_eq!(kind(ErrorKind::ConnectionRefused), "connect");
        assert_eq!(kind(ErrorKind::ConnectionReset), "connection_reset");
        assert_eq!(kind(ErrorKind::TimedOut), "timeout");
        assert_eq!(kind(ErrorKind::Other), "transport");
    }
}
