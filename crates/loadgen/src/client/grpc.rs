//! OTLP/gRPC: the unary `Export` method of the trace, metrics or logs service,
//! over one HTTP/2 connection per worker.
//!
//! The request is encoded with prost before the call and handed to tonic as
//! raw bytes (as the receiver in `crates/otlp` reads them), so one code path
//! serves the three services; tonic frames and compresses it. A thin tower
//! layer over the channel counts the body bytes that go on the wire.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http_body_util::BodyExt;
use sluice_otlp::grpc::RawCodec;
use tonic::codec::CompressionEncoding;
use tonic::codegen::Service;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::metadata::{AsciiMetadataValue, MetadataKey};
use tonic::transport::{Channel, Endpoint};

use super::rpc_status::{code_name, is_retryable, retry_delay};
use super::{Attempt, Outcome, failed};
use crate::error::LoadgenError;
use crate::generate::Request;
use crate::options::{Compression, Plan, Signal};

/// Responses are tiny; this only bounds a misbehaving server.
const MAX_RESPONSE_BYTES: usize = 4 << 20;

type GrpcRequest = http::Request<tonic::body::Body>;

/// A channel that adds the bytes of every request body it sends to `sent`.
#[derive(Debug, Clone)]
struct CountingChannel {
    inner: Channel,
    sent: Arc<AtomicU64>,
}

impl Service<GrpcRequest> for CountingChannel {
    type Response = <Channel as Service<GrpcRequest>>::Response;
    type Error = <Channel as Service<GrpcRequest>>::Error;
    type Future = <Channel as Service<GrpcRequest>>::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: GrpcRequest) -> Self::Future {
        let sent = Arc::clone(&self.sent);
        let (parts, body) = request.into_parts();
        let body = body.map_frame(move |frame| {
            if let Some(data) = frame.data_ref() {
                sent.fetch_add(data.len() as u64, Ordering::Relaxed);
            }
            frame
        });
        self.inner.call(http::Request::from_parts(
            parts,
            tonic::body::Body::new(body),
        ))
    }
}

/// One worker's gRPC exporter.
#[derive(Debug)]
pub struct GrpcClient {
    grpc: tonic::client::Grpc<CountingChannel>,
    sent: Arc<AtomicU64>,
    path: PathAndQuery,
    signal: Signal,
    tenant: Option<AsciiMetadataValue>,
    timeout: Duration,
}

impl GrpcClient {
    /// A client with its own connection, opened on first use.
    pub fn new(plan: &Plan) -> Result<Self, LoadgenError> {
        let client_error = |reason: String| LoadgenError::Client {
            protocol: "grpc",
            reason,
        };
        let endpoint = Endpoint::from_shared(plan.endpoint.clone())
            .map_err(|e| client_error(e.to_string()))?
            .connect_timeout(plan.timeout)
            .tcp_nodelay(true);
        let sent = Arc::new(AtomicU64::new(0));
        let channel = CountingChannel {
            inner: endpoint.connect_lazy(),
            sent: Arc::clone(&sent),
        };
        let mut grpc =
            tonic::client::Grpc::new(channel).max_decoding_message_size(MAX_RESPONSE_BYTES);
        grpc = match plan.compression {
            Compression::None => grpc,
            Compression::Gzip => grpc.send_compressed(CompressionEncoding::Gzip),
            Compression::Zstd => grpc.send_compressed(CompressionEncoding::Zstd),
        };
        let service = match plan.signal {
            Signal::Traces => "opentelemetry.proto.collector.trace.v1.TraceService",
            Signal::Metrics => "opentelemetry.proto.collector.metrics.v1.MetricsService",
            Signal::Logs => "opentelemetry.proto.collector.logs.v1.LogsService",
        };
        let path = PathAndQuery::try_from(format!("/{service}/Export"))
            .map_err(|e| client_error(e.to_string()))?;
        let tenant = plan
            .tenant
            .as_deref()
            .map(|t| t.parse::<AsciiMetadataValue>())
            .transpose()
            .map_err(|e| {
                LoadgenError::invalid(
                    "tenant",
                    plan.tenant.clone().unwrap_or_default(),
                    e.to_string(),
                )
            })?;
        Ok(Self {
            grpc,
            sent,
            path,
            signal: plan.signal,
            tenant,
            timeout: plan.timeout,
        })
    }

    pub async fn send(&mut self, request: &Request) -> Attempt {
        let mut call = tonic::Request::new(request.body.clone());
        call.set_timeout(self.timeout);
        if let Some(tenant) = &self.tenant {
            call.metadata_mut().insert(
                MetadataKey::from_static(super::TENANT_HEADER),
                tenant.clone(),
            );
        }
        let before = self.sent.load(Ordering::Relaxed);
        let start = Instant::now();
        let grpc = &mut self.grpc;
        let path = self.path.clone();
        let result = tokio::time::timeout(self.timeout, async move {
            if let Err(e) = grpc.ready().await {
                return Err(failed(&e));
            }
            grpc.unary(call, path, RawCodec)
                .await
                .map_err(|status| refused_or_failed(&status))
        })
        .await;
        let latency = start.elapsed();
        let wire_bytes = self.sent.load(Ordering::Relaxed).saturating_sub(before);
        let outcome = match result {
            Err(_) => Outcome::Failed {
                kind: "timeout",
                message: format!("no answer within {:?}", self.timeout),
            },
            Ok(Err(outcome)) => outcome,
            Ok(Ok(response)) => match super::rejected_proto(self.signal, response.get_ref()) {
                Ok(rejected) => Outcome::Acknowledged { rejected },
                Err(e) => Outcome::Failed {
                    kind: "bad_response",
                    message: format!("undecodable export response: {e}"),
                },
            },
        };
        Attempt {
            outcome,
            wire_bytes,
            latency,
        }
    }
}

/// A status the server answered is a refusal; one tonic made up from a
/// transport error (it has a source) is a failure.
fn refused_or_failed(status: &tonic::Status) -> Outcome {
    if let Some(source) = std::error::Error::source(status) {
        let mut outcome = failed(source);
        if let Outcome::Failed { message, .. } = &mut outcome {
            *message = format!("{}: {message}", status.message());
        }
        return outcome;
    }
    let retry_after = retry_delay(status.details());
    Outcome::Refused {
        status: code_name(status.code()).to_owned(),
        message: status.message().to_owned(),
        retryable: is_retryable(status.code(), retry_after.is_some()),
        retry_after,
    }
}
