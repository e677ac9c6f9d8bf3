//! Response bodies: the `Export*ServiceResponse` with its `partial_success`, and
//! the `google.rpc.Status` error body of OTLP/HTTP, each in the request's encoding.

use prost::Message;
use serde_json::json;
use sluice_model::Signal;
use sluice_model::otlp::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceResponse,
};
use sluice_model::otlp::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceResponse,
};
use sluice_model::otlp::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceResponse,
};
use sluice_model::validate::Rejected;

use crate::ReceiverError;
use crate::decode::BodyEncoding;
use crate::rpc_status::{RpcStatus, retry_info};

/// The success response for `signal`, with a `partial_success` when records
/// were dropped or there is a warning.
pub fn export_response(signal: Signal, rejected: &Rejected, encoding: BodyEncoding) -> Vec<u8> {
    match encoding {
        BodyEncoding::Protobuf => export_response_proto(signal, rejected),
        BodyEncoding::Json => export_response_json(signal, rejected),
    }
}

fn export_response_proto(signal: Signal, rejected: &Rejected) -> Vec<u8> {
    let partial = !rejected.is_empty();
    let message = rejected.message.clone();
    match signal {
        Signal::Traces => ExportTraceServiceResponse {
            partial_success: partial.then_some(ExportTracePartialSuccess {
                rejected_spans: rejected.count,
                error_message: message,
            }),
        }
        .encode_to_vec(),
        Signal::Metrics => ExportMetricsServiceResponse {
            partial_success: partial.then_some(ExportMetricsPartialSuccess {
                rejected_data_points: rejected.count,
                error_message: message,
            }),
        }
        .encode_to_vec(),
        Signal::Logs => ExportLogsServiceResponse {
            partial_success: partial.then_some(ExportLogsPartialSuccess {
                rejected_log_records: rejected.count,
                error_message: message,
            }),
        }
        .encode_to_vec(),
    }
}

/// OTLP/JSON follows the proto3 JSON mapping: lowerCamelCase keys, 64-bit
/// integers as decimal strings, empty messages as `{}`.
fn export_response_json(signal: Signal, rejected: &Rejected) -> Vec<u8> {
    if rejected.is_empty() {
        return b"{}".to_vec();
    }
    let count_key = match signal {
        Signal::Traces => "rejectedSpans",
        Signal::Metrics => "rejectedDataPoints",
        Signal::Logs => "rejectedLogRecords",
    };
    let body = json!({
        "partialSuccess": {
            count_key: rejected.count.to_string(),
            "errorMessage": rejected.message,
        }
    });
    body.to_string().into_bytes()
}

/// The `google.rpc.Status` for `error`, with a `RetryInfo` when retryable.
pub fn rpc_status(error: &ReceiverError) -> RpcStatus {
    RpcStatus {
        code: error.grpc_code() as i32,
        message: error.to_string(),
        details: error.retry_after().map(retry_info).into_iter().collect(),
    }
}

/// The error body of an OTLP/HTTP response.
pub fn error_body(error: &ReceiverError, encoding: BodyEncoding) -> Vec<u8> {
    let status = rpc_status(error);
    match encoding {
        BodyEncoding::Protobuf => status.encode_to_vec(),
        BodyEncoding::Json => json!({"code": status.code, "message": status.message})
            .to_string()
            .into_bytes(),
    }
}
