//! OTLP/HTTP: `POST /v1/traces`, `/v1/metrics` and `/v1/logs` with protobuf or
//! JSON bodies, plain, gzip or zstd.
//!
//! The body is read up to `max_request_bytes` (a larger `Content-Length` is
//! refused before reading), decompressed up to `max_decompressed_bytes`, and
//! answered in the request's encoding: the export response on success, a
//! `google.rpc.Status` on error, with `Retry-After` when the client should retry.

use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, header};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use sluice_model::{Signal, Tenant};
use tokio::net::TcpListener;

use crate::decode::{BodyEncoding, Compression, decompress};
use crate::handler::tenant_from_header;
use crate::response::{error_body, export_response};
use crate::{ExportHandler, ReceiverError, TENANT_HEADER};

/// The OTLP/HTTP routes.
pub fn router(handler: ExportHandler) -> Router {
    Router::new()
        .route(
            "/v1/traces",
            post(|s, h, b| export(s, h, b, Signal::Traces)),
        )
        .route(
            "/v1/metrics",
            post(|s, h, b| export(s, h, b, Signal::Metrics)),
        )
        .route("/v1/logs", post(|s, h, b| export(s, h, b, Signal::Logs)))
        .with_state(handler)
}

/// Serves [`router`] on `listener` until `shutdown` resolves, then finishes the
/// requests in flight.
pub async fn serve(
    listener: TcpListener,
    handler: ExportHandler,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(handler))
        .with_graceful_shutdown(shutdown)
        .await
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

async fn export(
    State(handler): State<ExportHandler>,
    headers: HeaderMap,
    body: Body,
    signal: Signal,
) -> Response {
    let content_type = header_str(&headers, header::CONTENT_TYPE);
    let encoding = match BodyEncoding::from_content_type(content_type) {
        Ok(encoding) => encoding,
        Err(error) => {
            handler.count_refusal(signal, "http", &error);
            return error_response(&error, BodyEncoding::Protobuf);
        }
    };
    let (tenant, body, wire_bytes) = match read_body(&handler, &headers, body).await {
        Ok(read) => read,
        Err(error) => {
            handler.count_refusal(signal, "http", &error);
            return error_response(&error, encoding);
        }
    };
    match handler
        .export(signal, "http", tenant, body, encoding, wire_bytes)
        .await
    {
        Ok(outcome) => {
            let payload = export_response(signal, &outcome.rejected, encoding);
            ([(header::CONTENT_TYPE, encoding.content_type())], payload).into_response()
        }
        Err(error) => error_response(&error, encoding),
    }
}

/// Reads and decompresses the body within the limits; returns the tenant, the
/// decompressed body and the size as received.
async fn read_body(
    handler: &ExportHandler,
    headers: &HeaderMap,
    body: Body,
) -> Result<(Tenant, Bytes, usize), ReceiverError> {
    let compression = Compression::from_header(header_str(headers, header::CONTENT_ENCODING))?;
    let tenant = tenant_from_header(headers.get(TENANT_HEADER).map(HeaderValue::as_bytes))?;
    let config = handler.config();
    let limit = config.max_request_bytes;
    let too_large = || ReceiverError::TooLarge {
        what: "request body",
        limit,
    };
    let declared = header_str(headers, header::CONTENT_LENGTH).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit.as_u64()) {
        return Err(too_large());
    }
    // Refuse before reading a body that could not be admitted anyway.
    if let Some(len) = declared
        && !handler
            .admission()
            .has_room_for(usize::try_from(len).unwrap_or(usize::MAX))
    {
        return Err(ReceiverError::Busy {
            reason: "memory",
            retry_after: handler.admission().retry_after,
        });
    }
    let wire: Bytes = match Limited::new(body, limit.as_usize()).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<LengthLimitError>() => return Err(too_large()),
        Err(e) => {
            return Err(ReceiverError::Malformed {
                message: format!("cannot read request body: {e}"),
            });
        }
    };
    let wire_bytes = wire.len();
    let body = decompress(wire, compression, config.max_decompressed_bytes)?;
    Ok((tenant, body, wire_bytes))
}

/// The response to a refused request: its status, a `google.rpc.Status` body,
/// and `Retry-After` when the client should retry.
fn error_response(error: &ReceiverError, encoding: BodyEncoding) -> Response {
    let mut response = (error.http_status(), error_body(error, encoding)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(encoding.content_type()),
    );
    if let Some(delay) = error.retry_after() {
        headers.insert(
            header::RETRY_AFTER,
            HeaderValue::from(retry_after_secs(delay)),
        );
    }
    response
}

/// `Retry-After` carries whole seconds; round up so clients never come back early.
fn retry_after_secs(delay: Duration) -> u64 {
    delay.as_secs() + u64::from(delay.subsec_nanos() > 0)
}
