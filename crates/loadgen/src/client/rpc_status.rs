//! What a client reads in refusals: the message of an OTLP/HTTP error body,
//! the names of gRPC status codes, and which are retryable. The
//! `google.rpc.Status` types and the `RetryInfo` decoding are
//! `sluice_otlp::rpc_status`'s.

use prost::Message;
use sluice_otlp::rpc_status::RpcStatus;
pub use sluice_otlp::rpc_status::retry_delay;

/// The message of an OTLP/HTTP error body: a `google.rpc.Status` in protobuf
/// or JSON, or else the body itself if it is short text.
pub fn error_message(body: &[u8], json: bool) -> String {
    let message = if json {
        serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v.get("message")?.as_str().map(str::to_owned))
    } else {
        RpcStatus::decode(body).ok().map(|s| s.message)
    };
    message
        .filter(|m| !m.is_empty())
        .or_else(|| {
            std::str::from_utf8(body)
                .ok()
                .filter(|text| text.len() <= 200)
                .map(|text| text.trim().to_owned())
        })
        .unwrap_or_default()
}

/// The canonical name of a gRPC status code, as in `grpc-status` docs and
/// every gRPC library: `UNAVAILABLE`, `RESOURCE_EXHAUSTED`, ...
pub fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "OK",
        Cancelled => "CANCELLED",
        Unknown => "UNKNOWN",
        InvalidArgument => "INVALID_ARGUMENT",
        DeadlineExceeded => "DEADLINE_EXCEEDED",
        NotFound => "NOT_FOUND",
        AlreadyExists => "ALREADY_EXISTS",
        PermissionDenied => "PERMISSION_DENIED",
        ResourceExhausted => "RESOURCE_EXHAUSTED",
        FailedPrecondition => "FAILED_PRECONDITION",
        Aborted => "ABORTED",
        OutOfRange => "OUT_OF_RANGE",
        Unimplemented => "UNIMPLEMENTED",
        Internal => "INTERNAL",
        Unavailable => "UNAVAILABLE",
        DataLoss => "DATA_LOSS",
        Unauthenticated => "UNAUTHENTICATED",
    }
}

/// Whether the OTLP specification lets a client retry `code`:
/// `RESOURCE_EXHAUSTED` only when the server sent a retry delay.
pub fn is_retryable(code: tonic::Code, has_retry_info: bool) -> bool {
    use tonic::Code::*;
    match code {
        Cancelled | DeadlineExceeded | Aborted | OutOfRange | Unavailable | DataLoss => true,
        ResourceExhausted => has_retry_info,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn reads_the_retry_delay_of_a_status() {
        let status = RpcStatus {
            code: 14,
            message: "busy".into(),
            details: vec![sluice_otlp::rpc_status::retry_info(Duration::from_millis(
                2500,
            ))],
        };
        assert_eq!(
            retry_delay(&status.encode_to_vec()),
            Some(Duration::from_millis(2500))
        );
        assert_eq!(error_message(&status.encode_to_vec(), false), "busy");
        assert_eq!(
            error_message(br#"{"code":14,"message":"busy"}"#, true),
            "busy"
        );
        assert_eq!(error_message(b"Not Found", false), "Not Found");
        assert_eq!(retry_delay(b""), None);
        assert_eq!(retry_delay(b"\xff\xff"), None);
        assert_eq!(
            code_name(tonic::Code::ResourceExhausted),
            "RESOURCE_EXHAUSTED"
        );
        assert!(is_retryable(tonic::Code::Unavailable, false));
        assert!(!is_retryable(tonic::Code::ResourceExhausted, false));
        assert!(is_retryable(tonic::Code::ResourceExhausted, true));
        assert!(!is_retryable(tonic::Code::InvalidArgument, true));
    }
}
