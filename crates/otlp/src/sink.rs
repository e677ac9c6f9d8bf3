//! The seam between receivers and the rest of the data path.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use prost::Message;

use sluice_model::budget::Charge;
use sluice_model::logs::wire::WireLogs;
use sluice_model::metrics::wire::WireMetrics;
use sluice_model::otlp::collector::logs::v1::ExportLogsServiceRequest;
use sluice_model::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use sluice_model::otlp::collector::trace::v1::ExportTraceServiceRequest;
use sluice_model::traces::wire::WireTraces;
use sluice_model::validate::{self, Rejected};
use sluice_model::{Signal, Tenant};

/// A decoded OTLP export request of any signal.
#[derive(Debug, Clone, PartialEq)]
pub enum ExportRequest {
    /// Traces as messages: what a client builds, and what OTLP/JSON decodes
    /// to. [`retain_valid`](Self::retain_valid) turns them into
    /// [`WireTraces`](Self::WireTraces).
    Traces(ExportTraceServiceRequest),
    /// Traces as protobuf bytes, checked and with their valid spans indexed:
    /// what the receivers make of a protobuf body, and what the pipeline takes.
    WireTraces(WireTraces),
    /// Metrics as messages (from OTLP/JSON);
    /// [`retain_valid`](Self::retain_valid) turns them into
    /// [`WireMetrics`](Self::WireMetrics).
    Metrics(ExportMetricsServiceRequest),
    /// Metrics as protobuf bytes, checked and with their metrics and valid
    /// data points indexed.
    WireMetrics(WireMetrics),
    /// Logs as messages (from OTLP/JSON); [`retain_valid`](Self::retain_valid)
    /// turns them into [`WireLogs`](Self::WireLogs).
    Logs(ExportLogsServiceRequest),
    /// Logs as protobuf bytes, checked and with their valid records indexed,
    /// as [`WireTraces`](Self::WireTraces) are.
    WireLogs(WireLogs),
}

impl ExportRequest {
    pub fn signal(&self) -> Signal {
        match self {
            Self::Traces(_) | Self::WireTraces(_) => Signal::Traces,
            Self::Metrics(_) | Self::WireMetrics(_) => Signal::Metrics,
            Self::Logs(_) | Self::WireLogs(_) => Signal::Logs,
        }
    }

    /// The request encoded as protobuf (for the requests indexed in place,
    /// the body as received, invalid records included).
    pub fn encode_protobuf(&self) -> Bytes {
        Bytes::from(match self {
            Self::Traces(r) => r.encode_to_vec(),
            Self::WireTraces(r) => return r.body().clone(),
            Self::Metrics(r) => r.encode_to_vec(),
            Self::WireMetrics(r) => return r.body().clone(),
            Self::Logs(r) => r.encode_to_vec(),
            Self::WireLogs(r) => return r.body().clone(),
        })
    }

    /// The records it holds: spans, data points or log records.
    pub fn records(&self) -> usize {
        match self {
            Self::Traces(r) => r
                .resource_spans
                .iter()
                .flat_map(|r| &r.scope_spans)
                .map(|s| s.spans.len())
                .sum(),
            Self::WireTraces(r) => r.len(),
            Self::Metrics(r) => r
                .resource_metrics
                .iter()
                .flat_map(|r| &r.scope_metrics)
                .flat_map(|s| &s.metrics)
                .map(validate::point_count)
                .sum(),
            Self::WireMetrics(r) => r.points(),
            Self::Logs(r) => r
                .resource_logs
                .iter()
                .flat_map(|r| &r.scope_logs)
                .map(|s| s.log_records.len())
                .sum(),
            Self::WireLogs(r) => r.len(),
        }
    }

    /// The request as OTLP/JSON (lowerCamelCase keys, hex trace and span ids,
    /// enums as integers, 64-bit integers as strings: the serde mapping of
    /// `opentelemetry-proto`, which the receivers decode).
    pub fn encode_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        match self {
            Self::Traces(r) => serde_json::to_vec(r),
            Self::WireTraces(r) => serde_json::to_vec(&r.to_request()),
            Self::Metrics(r) => serde_json::to_vec(r),
            Self::WireMetrics(r) => serde_json::to_vec(&r.to_request()),
            Self::Logs(r) => serde_json::to_vec(r),
            Self::WireLogs(r) => serde_json::to_vec(&r.to_request()),
        }
    }

    /// Drops the records that are individually invalid; see [`validate`].
    /// Requests of messages are indexed as protobuf bodies are
    /// ([`WireTraces`](Self::WireTraces), [`WireMetrics`](Self::WireMetrics),
    /// [`WireLogs`](Self::WireLogs)), which were validated when indexed: for
    /// those this reports what indexing left out.
    pub fn retain_valid(&mut self) -> Rejected {
        match self {
            Self::Traces(r) => {
                let traces = WireTraces::from_request(r);
                let rejected = traces.rejected().clone();
                *self = Self::WireTraces(traces);
                rejected
            }
            Self::WireTraces(r) => r.rejected().clone(),
            Self::Metrics(r) => {
                let metrics = WireMetrics::from_request(r);
                let rejected = metrics.rejected().clone();
                *self = Self::WireMetrics(metrics);
                rejected
            }
            Self::WireMetrics(r) => r.rejected().clone(),
            Self::Logs(r) => {
                let logs = WireLogs::from_request(r);
                let rejected = logs.rejected().clone();
                *self = Self::WireLogs(logs);
                rejected
            }
            Self::WireLogs(r) => r.rejected().clone(),
        }
    }
}

/// A validated request on its way into the pipeline.
#[derive(Debug)]
pub struct Export {
    pub tenant: Tenant,
    pub request: ExportRequest,
    /// The request as received (decompressed) when it came as protobuf.
    /// Validation is deterministic, so decoding and validating these bytes
    /// again gives `request`: they can be logged instead of re-encoding it.
    pub protobuf: Option<Bytes>,
    /// The memory this request is charged; released once its rows are written.
    pub charge: Option<Charge>,
    /// Records (spans, data points, log records) in `request`.
    pub records: usize,
    /// Size of the request body as received, before decompression.
    pub wire_bytes: usize,
}

/// Why the sink did not take a request. Both are transient.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SinkError {
    #[error("busy: {reason}")]
    Busy {
        /// Metric label, e.g. `queue_full`.
        reason: &'static str,
        retry_after: Duration,
    },
    #[error("shutting down")]
    ShuttingDown,
}

/// The future an [`ExportSink`] returns.
pub type SinkFuture<'a> = Pin<Box<dyn Future<Output = Result<(), SinkError>> + Send + 'a>>;

/// Takes validated requests. Resolving to `Ok` means the request is accepted
/// and the receiver may acknowledge it.
pub trait ExportSink: Send + Sync + 'static {
    fn export(&self, export: Export) -> SinkFuture<'_>;
}
