//! OTLP/gRPC: the `Export` method of the trace, metrics and logs services.
//!
//! The services are served with tonic's server machinery and the message types
//! of `opentelemetry-proto`, but with a codec that hands over the raw message
//! bytes: decoding happens in [`ExportHandler`], so a malformed message is
//! answered `INVALID_ARGUMENT` as OTLP requires (tonic's protobuf codec would
//! answer `INTERNAL`), and the request size is known before decoding.
//!
//! tonic enforces the message limit while reading and decompressing (a
//! decompression bomb stops at the limit); its answer to an oversized message is
//! `OUT_OF_RANGE`, which [`align_status`] turns into the `RESOURCE_EXHAUSTED`
//! that gRPC and OTLP specify.

use std::convert::Infallible;
use std::future::Future;
use std::marker::PhantomData;
use std::task::{Context, Poll};

use bytes::{Buf, BufMut, Bytes};
use prost::Message;
use sluice_model::Signal;
use tokio::net::TcpListener;
use tonic::codec::{
    Codec, CompressionEncoding, DecodeBuf, Decoder, EnabledCompressionEncodings, EncodeBuf, Encoder,
};
use tonic::codegen::{BoxFuture, Service, StdError};
use tonic::server::{Grpc, NamedService, UnaryService};
use tonic::transport::server::TcpIncoming;

use crate::decode::BodyEncoding;
use crate::handler::tenant_from_header;
use crate::response::{export_response, rpc_status};
use crate::{ExportHandler, ReceiverError, TENANT_HEADER};

/// Passes message bytes through unchanged in both directions: the server
/// decodes them itself (so a malformed message gets OTLP's status), and
/// clients such as the load generator send bodies encoded once up front.
#[derive(Debug, Clone, Copy, Default)]
pub struct RawCodec;

#[derive(Debug, Clone, Copy, Default)]
pub struct RawEncoder;

#[derive(Debug, Clone, Copy, Default)]
pub struct RawDecoder;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawEncoder;
    type Decoder = RawDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        RawEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawDecoder
    }
}

impl Encoder for RawEncoder {
    type Item = Bytes;
    type Error = tonic::Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Self::Error> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for RawDecoder {
    type Item = Bytes;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Self::Error> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

/// One OTLP gRPC service.
pub trait OtlpService: Send + Sync + 'static {
    const NAME: &'static str;
    const SIGNAL: Signal;
}

/// `opentelemetry.proto.collector.trace.v1.TraceService`.
#[derive(Debug)]
pub enum TraceService {}
/// `opentelemetry.proto.collector.metrics.v1.MetricsService`.
#[derive(Debug)]
pub enum MetricsService {}
/// `opentelemetry.proto.collector.logs.v1.LogsService`.
#[derive(Debug)]
pub enum LogsService {}

impl OtlpService for TraceService {
    const NAME: &'static str =
        sluice_model::otlp::collector::trace::v1::trace_service_server::SERVICE_NAME;
    const SIGNAL: Signal = Signal::Traces;
}
impl OtlpService for MetricsService {
    const NAME: &'static str =
        sluice_model::otlp::collector::metrics::v1::metrics_service_server::SERVICE_NAME;
    const SIGNAL: Signal = Signal::Metrics;
}
impl OtlpService for LogsService {
    const NAME: &'static str =
        sluice_model::otlp::collector::logs::v1::logs_service_server::SERVICE_NAME;
    const SIGNAL: Signal = Signal::Logs;
}

fn to_status(error: &ReceiverError) -> tonic::Status {
    let status = rpc_status(error);
    let code = error.grpc_code();
    if status.details.is_empty() {
        tonic::Status::new(code, status.message)
    } else {
        let message = status.message.clone();
        tonic::Status::with_details(code, message, Bytes::from(status.encode_to_vec()))
    }
}

/// The unary `Export` method of service `S`.
struct ExportMethod<S> {
    handler: ExportHandler,
    service: PhantomData<fn() -> S>,
}

impl<S: OtlpService> UnaryService<Bytes> for ExportMethod<S> {
    type Response = Bytes;
    type Future = BoxFuture<tonic::Response<Bytes>, tonic::Status>;

    fn call(&mut self, request: tonic::Request<Bytes>) -> Self::Future {
        let handler = self.handler.clone();
        Box::pin(async move {
            let header = request.metadata().get(TENANT_HEADER).map(|v| v.as_bytes());
            let tenant = tenant_from_header(header).map_err(|e| to_status(&e))?;
            let body = request.into_inner();
            let wire_bytes = body.len();
            let outcome = handler
                .export(
                    S::SIGNAL,
                    "grpc",
                    tenant,
                    body,
                    BodyEncoding::Protobuf,
                    wire_bytes,
                )
                .await
                .map_err(|e| to_status(&e))?;
            let response = export_response(S::SIGNAL, &outcome.rejected, BodyEncoding::Protobuf);
            Ok(tonic::Response::new(Bytes::from(response)))
        })
    }
}

/// A tower service answering the `Export` method of `S`.
pub struct OtlpGrpcService<S> {
    handler: ExportHandler,
    service: PhantomData<fn() -> S>,
}

impl<S> Clone for OtlpGrpcService<S> {
    fn clone(&self) -> Self {
        Self {
            handler: self.handler.clone(),
            service: PhantomData,
        }
    }
}

impl<S> std::fmt::Debug for OtlpGrpcService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtlpGrpcService").finish_non_exhaustive()
    }
}

impl<S: OtlpService> OtlpGrpcService<S> {
    pub fn new(handler: ExportHandler) -> Self {
        Self {
            handler,
            service: PhantomData,
        }
    }
}

impl<S: OtlpService> NamedService for OtlpGrpcService<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, B> Service<http::Request<B>> for OtlpGrpcService<S>
where
    S: OtlpService,
    B: http_body::Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let expected = format!("/{}/Export", S::NAME);
        if request.uri().path() != expected {
            return Box::pin(async {
                Ok(tonic::Status::unimplemented("only the Export method exists").into_http())
            });
        }
        let handler = self.handler.clone();
        Box::pin(async move {
            let limit = handler.config().max_decompressed_bytes.as_usize();
            let mut accept = EnabledCompressionEncodings::default();
            accept.enable(CompressionEncoding::Gzip);
            accept.enable(CompressionEncoding::Zstd);
            let mut grpc = Grpc::new(RawCodec)
                .apply_compression_config(accept, EnabledCompressionEncodings::default())
                .apply_max_message_size_config(Some(limit), None);
            let method = ExportMethod::<S> {
                handler,
                service: PhantomData,
            };
            let response = grpc.unary(method, request).await;
            Ok(align_status(response))
        })
    }
}

/// Rewrites the status of the errors tonic raises itself while reading a
/// message to the codes the OTLP specification asks for: an oversized message
/// is `RESOURCE_EXHAUSTED`, an undecompressable or truncated one
/// `INVALID_ARGUMENT`.
fn align_status<B>(mut response: http::Response<B>) -> http::Response<B> {
    let headers = response.headers();
    let (Some(code), Some(message)) = (headers.get("grpc-status"), headers.get("grpc-message"))
    else {
        return response;
    };
    let message = String::from_utf8_lossy(message.as_bytes()).replace("%20", " ");
    let new_code = match code.as_bytes() {
        b"11" if message.contains("message length too large") => tonic::Code::ResourceExhausted,
        b"13"
            if message.starts_with("Error decompressing") || message.contains("Unexpected EOF") =>
        {
            tonic::Code::InvalidArgument
        }
        _ => return response,
    };
    response
        .headers_mut()
        .insert("grpc-status", http::HeaderValue::from(new_code as i32));
    response
}

/// Serves the three OTLP gRPC services on `listener` until `shutdown` resolves,
/// then finishes the requests in flight.
pub async fn serve(
    listener: TcpListener,
    handler: ExportHandler,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    tonic::transport::Server::builder()
        .add_service(OtlpGrpcService::<TraceService>::new(handler.clone()))
        .add_service(OtlpGrpcService::<MetricsService>::new(handler.clone()))
        .add_service(OtlpGrpcService::<LogsService>::new(handler))
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
}
