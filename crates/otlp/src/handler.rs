//! What both transports do with a request once its body is read: decode,
//! validate, hand to the sink, count.

use std::sync::Arc;

use bytes::Bytes;
use sluice_model::budget::MemoryBudget;
use sluice_model::validate::Rejected;
use sluice_model::{Signal, Tenant};

use crate::decode::{BodyEncoding, decode_export};
use crate::metrics::{RECORDS_RECEIVED, RECORDS_REFUSED, REQUEST_SECONDS, REQUESTS};
use crate::{Export, ExportSink, ReceiverConfig, ReceiverError, SinkError};

/// What an accepted request came to.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Records dropped as invalid, for the response's `partial_success`.
    pub rejected: Rejected,
}

/// Admission control: the memory budget requests are charged to before they
/// are decoded.
#[derive(Debug, Clone)]
pub struct Admission {
    pub budget: Arc<MemoryBudget>,
    /// Bytes charged per byte of decompressed request: the decoded request and
    /// its rows in the shard builders take several times the protobuf size.
    pub bytes_per_request_byte: u64,
    /// The delay to ask refused clients to wait.
    pub retry_after: std::time::Duration,
}

impl Admission {
    /// The charge for a request of `bytes` decompressed bytes.
    pub fn cost(&self, bytes: usize) -> u64 {
        (bytes as u64).saturating_mul(self.bytes_per_request_byte)
    }

    /// Whether a request of `bytes` could be admitted now (without charging).
    pub fn has_room_for(&self, bytes: usize) -> bool {
        self.budget.used().saturating_add(self.cost(bytes)) <= self.budget.limit()
    }
}

/// Shared by the gRPC and HTTP receivers.
#[derive(Clone)]
pub struct ExportHandler {
    sink: Arc<dyn ExportSink>,
    config: Arc<ReceiverConfig>,
    admission: Admission,
}

impl std::fmt::Debug for ExportHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExportHandler")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The tenant named by an `X-Scope-OrgID` header value, `default` without one.
pub fn tenant_from_header(value: Option<&[u8]>) -> Result<Tenant, ReceiverError> {
    match value {
        None => Ok(Tenant::default_tenant()),
        Some(raw) => {
            let text = std::str::from_utf8(raw).map_err(|_| {
                ReceiverError::InvalidTenant(sluice_model::TenantError::InvalidCharacter {
                    id: String::from_utf8_lossy(raw).into_owned(),
                })
            })?;
            Ok(text.trim().parse()?)
        }
    }
}

impl ExportHandler {
    pub fn new(sink: Arc<dyn ExportSink>, config: ReceiverConfig, admission: Admission) -> Self {
        Self {
            sink,
            config: Arc::new(config),
            admission,
        }
    }

    pub fn admission(&self) -> &Admission {
        &self.admission
    }

    pub fn config(&self) -> &ReceiverConfig {
        &self.config
    }

    /// Counts a request refused before it reached [`export`](Self::export).
    pub fn count_refusal(&self, signal: Signal, transport: &'static str, error: &ReceiverError) {
        let labels = [
            ("signal", signal.as_str()),
            ("transport", transport),
            ("outcome", error.reason()),
        ];
        ::metrics::counter!(REQUESTS, &labels).increment(1);
        tracing::debug!(signal = signal.as_str(), transport, reason = error.reason(), %error, "request refused");
    }

    /// Decodes `body` (already decompressed), drops invalid records, and hands
    /// the rest to the sink. Counts the outcome either way.
    pub async fn export(
        &self,
        signal: Signal,
        transport: &'static str,
        tenant: Tenant,
        body: Bytes,
        encoding: BodyEncoding,
        wire_bytes: usize,
    ) -> Result<Outcome, ReceiverError> {
        let started = std::time::Instant::now();
        let result = self
            .decode_and_export(signal, tenant, body, encoding, wire_bytes)
            .await;
        let labels = |outcome: &'static str| {
            [
                ("signal", signal.as_str()),
                ("transport", transport),
                ("outcome", outcome),
            ]
        };
        match &result {
            Ok(outcome) => {
                let partial = !outcome.rejected.is_empty();
                ::metrics::counter!(REQUESTS, &labels(if partial { "partial" } else { "ok" }))
                    .increment(1);
                ::metrics::histogram!(REQUEST_SECONDS, "signal" => signal.as_str(), "transport" => transport)
                    .record(started.elapsed().as_secs_f64());
                ::metrics::counter!(RECORDS_RECEIVED, "signal" => signal.as_str(), "transport" => transport)
                    .increment(u64::try_from(outcome.rejected.accepted).unwrap_or(0));
                if outcome.rejected.count > 0 {
                    ::metrics::counter!(RECORDS_REFUSED, "signal" => signal.as_str(), "reason" => "invalid")
                        .increment(u64::try_from(outcome.rejected.count).unwrap_or(0));
                }
            }
            Err((error, records)) => {
                ::metrics::counter!(REQUESTS, &labels(error.reason())).increment(1);
                if *records > 0 {
                    ::metrics::counter!(RECORDS_REFUSED, "signal" => signal.as_str(), "reason" => error.reason())
                        .increment(*records as u64);
                }
                tracing::debug!(signal = signal.as_str(), transport, reason = error.reason(), %error, "request refused");
            }
        }
        result.map_err(|(error, _)| error)
    }

    /// On error, also returns how many records the refused request held (0 when
    /// it could not be decoded).
    async fn decode_and_export(
        &self,
        signal: Signal,
        tenant: Tenant,
        body: Bytes,
        encoding: BodyEncoding,
        wire_bytes: usize,
    ) -> Result<Outcome, (ReceiverError, usize)> {
        let charge = self
            .admission
            .budget
            .try_charge(self.admission.cost(body.len()))
            .ok_or_else(|| {
                let error = ReceiverError::Busy {
                    reason: "memory",
                    retry_after: self.admission.retry_after,
                };
                (error, 0)
            })?;
        let mut request = decode_export(signal, &body, encoding).map_err(|e| (e, 0))?;
        let rejected = request.retain_valid();
        let records = usize::try_from(rejected.accepted).unwrap_or(0);
        if records > 0 {
            let export = Export {
                tenant,
                request,
                protobuf: (encoding == BodyEncoding::Protobuf).then_some(body),
                charge: Some(charge),
                records,
                wire_bytes,
            };
            self.sink.export(export).await.map_err(|e| {
                let error = match e {
                    SinkError::Busy {
                        reason,
                        retry_after,
                    } => ReceiverError::Busy {
                        reason,
                        retry_after,
                    },
                    SinkError::ShuttingDown => ReceiverError::ShuttingDown,
                };
                (error, records)
            })?;
        }
        Ok(Outcome { rejected })
    }
}
