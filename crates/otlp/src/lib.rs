//! OTLP receivers: the front door of the data path.
//!
//! [`grpc`] serves the three OTLP/gRPC `Export` services and [`http`] serves
//! `POST /v1/traces`, `/v1/metrics` and `/v1/logs`. Both read the request body
//! within the configured limits, decompress it (gzip, zstd) without ever
//! inflating past the limit, decode it (protobuf, or OTLP/JSON on HTTP;
//! protobuf bodies are checked and indexed in place rather than decoded), drop the
//! records that are individually invalid ([`sluice_model::validate`]), and hand
//! the rest to an [`ExportSink`] — the pipeline. The answer follows the OTLP
//! specification: `partial_success` for dropped records; `INVALID_ARGUMENT`/400
//! for a malformed body; `RESOURCE_EXHAUSTED`/413 for one over the limits;
//! `UNAVAILABLE`/503 with a retry delay when the sink is busy; never a 500 for a
//! transient condition.
//!
//! This crate knows nothing of storage: whatever the sink does with a request,
//! the receiver only learns whether it was accepted.

mod config;
mod decode;
mod error;
pub mod grpc;
mod handler;
pub mod http;
pub mod metrics;
mod response;
pub mod rpc_status;
mod sink;

pub use config::ReceiverConfig;
pub use decode::{BodyEncoding, Compression, decode_export, decompress};
pub use error::ReceiverError;
pub use handler::{Admission, ExportHandler, Outcome};
pub use sink::{Export, ExportRequest, ExportSink, SinkError, SinkFuture};

/// The header that selects the tenant, as in Mimir, Loki and Tempo.
pub const TENANT_HEADER: &str = "x-scope-orgid";
