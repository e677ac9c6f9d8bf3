//! Why a receiver refused a request, and how each reason is answered on either
//! transport.

use std::time::Duration;

use sluice_model::TenantError;
use sluice_model::units::ByteSize;

/// A refused request. Each variant maps to the status the OTLP specification
/// asks for, and says whether the client may retry.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ReceiverError {
    #[error(
        "unsupported content type {content_type:?}: send application/x-protobuf or application/json"
    )]
    UnsupportedMediaType { content_type: String },
    #[error("unsupported content encoding {encoding:?}: send gzip, zstd or identity")]
    UnsupportedEncoding { encoding: String },
    #[error("{what} is larger than the limit of {limit}")]
    TooLarge { what: &'static str, limit: ByteSize },
    #[error("malformed request: {message}")]
    Malformed { message: String },
    #[error("invalid X-Scope-OrgID header: {0}")]
    InvalidTenant(#[from] TenantError),
    #[error("sluice is busy ({reason}), retry after {retry_after:?}")]
    Busy {
        reason: &'static str,
        retry_after: Duration,
    },
    #[error("sluice is shutting down, retry against another node or later")]
    ShuttingDown,
}

impl ReceiverError {
    /// The metric label of this refusal.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::UnsupportedMediaType { .. } => "unsupported_media_type",
            Self::UnsupportedEncoding { .. } => "unsupported_encoding",
            Self::TooLarge { .. } => "too_large",
            Self::Malformed { .. } => "malformed",
            Self::InvalidTenant(_) => "invalid_tenant",
            Self::Busy { reason, .. } => reason,
            Self::ShuttingDown => "shutting_down",
        }
    }

    /// Whether an OTLP client should send the same request again.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Busy { .. } | Self::ShuttingDown)
    }

    /// The delay to ask retrying clients to wait.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Busy { retry_after, .. } => Some(*retry_after),
            Self::ShuttingDown => Some(Duration::from_secs(1)),
            _ => None,
        }
    }

    pub fn http_status(&self) -> http::StatusCode {
        use http::StatusCode as S;
        match self {
            Self::UnsupportedMediaType { .. } | Self::UnsupportedEncoding { .. } => {
                S::UNSUPPORTED_MEDIA_TYPE
            }
            Self::TooLarge { .. } => S::PAYLOAD_TOO_LARGE,
            Self::Malformed { .. } | Self::InvalidTenant(_) => S::BAD_REQUEST,
            Self::Busy { .. } | Self::ShuttingDown => S::SERVICE_UNAVAILABLE,
        }
    }

    pub fn grpc_code(&self) -> tonic::Code {
        use tonic::Code as C;
        match self {
            Self::UnsupportedMediaType { .. } | Self::UnsupportedEncoding { .. } => {
                C::Unimplemented
            }
            Self::TooLarge { .. } => C::ResourceExhausted,
            Self::Malformed { .. } | Self::InvalidTenant(_) => C::InvalidArgument,
            Self::Busy { .. } | Self::ShuttingDown => C::Unavailable,
        }
    }
}
