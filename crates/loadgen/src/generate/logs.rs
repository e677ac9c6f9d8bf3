//! Logs: the access and error log of each service.
//!
//! A record is ERROR with the service's error ratio, WARN one time in 30 of the
//! rest (slow requests, retries), INFO otherwise. The body is a line of text
//! naming the operation and its latency (drawn from the service's latency
//! distribution); half of the records carry a trace context, as logs written
//! inside a span do.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::AnyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs, SeverityNumber};

use super::{Generator, kv, scope};
use crate::phase::ServiceSettings;

/// The share of non-error records that are warnings.
const WARN_RATIO: f64 = 1.0 / 30.0;
/// The share of records with a trace context.
const TRACED_RATIO: f64 = 0.5;

impl Generator {
    pub(super) fn logs(
        &mut self,
        records: usize,
        settings: &[ServiceSettings],
        now: u64,
    ) -> ExportLogsServiceRequest {
        let mut by_service: Vec<Vec<LogRecord>> =
            vec![Vec::new(); self.config.services.len().max(1)];
        for _ in 0..records {
            let service = self.pick_service(settings);
            let current = super::settings_for(settings, service);
            let record = self.log_record(service, &current, now);
            by_service[service].push(record);
        }
        let resource_logs = by_service
            .into_iter()
            .enumerate()
            .filter(|(_, records)| !records.is_empty())
            .map(|(service, log_records)| ResourceLogs {
                resource: Some(self.resource(service, None)),
                scope_logs: vec![ScopeLogs {
                    scope: scope(),
                    log_records,
                    ..Default::default()
                }],
                ..Default::default()
            })
            .collect();
        ExportLogsServiceRequest { resource_logs }
    }

    fn log_record(&mut self, service: usize, settings: &ServiceSettings, now: u64) -> LogRecord {
        let operation = self.pick_operation();
        let operation = self.operations[operation].clone();
        let ms = settings.latency.sample_nanos(&mut self.rng) / 1_000_000;
        let services = self.config.services.len().max(1);
        let peer = (service + 1 + self.rng.index(services)) % services;
        let peer = self.service_name(peer).to_owned();
        let (severity, text, body) = if self.rng.chance(settings.error_ratio) {
            let body = match self.rng.below(3) {
                0 => format!(
                    "{} failed: upstream {peer} returned 503 after {ms} ms",
                    operation.name
                ),
                1 => format!(
                    "{} failed: database deadlock detected, transaction rolled back",
                    operation.name
                ),
                _ => format!("{} failed: request timed out after {ms} ms", operation.name),
            };
            (SeverityNumber::Error, "ERROR", body)
        } else if self.rng.chance(WARN_RATIO) {
            let body = match self.rng.below(2) {
                0 => format!("slow request: {} took {ms} ms", operation.name),
                _ => format!("retrying call to {peer} (attempt 2 of 3)"),
            };
            (SeverityNumber::Warn, "WARN", body)
        } else {
            let body = format!("{} completed with 200 in {ms} ms", operation.name);
            (SeverityNumber::Info, "INFO", body)
        };
        let mut attributes = vec![
            kv("http.method", Value::StringValue(operation.method.into())),
            kv("http.route", Value::StringValue(operation.route)),
        ];
        self.synthetic_attributes(&mut attributes);
        let (trace_id, span_id, flags) = if self.rng.chance(TRACED_RATIO) {
            (self.rng.id::<16>().to_vec(), self.rng.id::<8>().to_vec(), 1)
        } else {
            (Vec::new(), Vec::new(), 0)
        };
        LogRecord {
            time_unix_nano: now,
            observed_time_unix_nano: now,
            severity_number: severity as i32,
            severity_text: text.into(),
            body: Some(AnyValue {
                value: Some(Value::StringValue(body)),
            }),
            attributes,
            flags,
            trace_id,
            span_id,
            ..Default::default()
        }
    }
}
