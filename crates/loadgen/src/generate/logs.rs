//! Logs: the access and error log of each service.
//!
//! A record is ERROR with the service's error ratio, WARN one time in 30 of the
//! rest (slow requests, retries), INFO otherwise. The body is a line of text
//! naming the operation and its latency (drawn from the service's latency
//! distribution); half of the records carry a trace context, as logs written
//! inside a span do.

use std::io::Write as _;

use bytes::Bytes;

use super::{Generator, wire};
use crate::phase::ServiceSettings;

/// The share of non-error records that are warnings.
const WARN_RATIO: f64 = 1.0 / 30.0;
/// The share of records with a trace context.
const TRACED_RATIO: f64 = 0.5;

/// Field number of `ScopeLogs.log_records`.
const LOG_RECORDS: u32 = 2;

/// Field numbers of `LogRecord`.
const TIME: u32 = 1;
const SEVERITY_NUMBER: u32 = 2;
const SEVERITY_TEXT: u32 = 3;
const BODY: u32 = 5;
const ATTRIBUTES: u32 = 6;
const FLAGS: u32 = 8;
const TRACE_ID: u32 = 9;
const SPAN_ID: u32 = 10;
const OBSERVED_TIME: u32 = 11;

/// `SeverityNumber` values.
const INFO: i64 = 9;
const WARN: i64 = 13;
const ERROR: i64 = 17;

impl Generator {
    /// An `ExportLogsServiceRequest` of exactly `records` log records, encoded
    /// as the traces are (see [`super::traces`]).
    pub(super) fn logs(&mut self, records: usize, settings: &[ServiceSettings], now: u64) -> Bytes {
        self.encoded_request(|generator, buffers| {
            let mut text = Vec::new();
            for _ in 0..records {
                let service = generator.pick_service(settings);
                let current = super::settings_for(settings, service);
                let wire::Buffers { by_service, record } = &mut *buffers;
                record.clear();
                generator.log_record(record, &mut text, service, &current, now);
                wire::message(&mut by_service[service], LOG_RECORDS, record);
            }
        })
    }

    fn log_record(
        &mut self,
        out: &mut Vec<u8>,
        text: &mut Vec<u8>,
        service: usize,
        settings: &ServiceSettings,
        now: u64,
    ) {
        let operation = self.pick_operation();
        let ms = settings.latency.sample_nanos(&mut self.rng) / 1_000_000;
        let services = self.config.services.len().max(1);
        let peer = (service + 1 + self.rng.index(services)) % services;
        text.clear();
        // Writing to a `Vec` cannot fail.
        let severity = if self.rng.chance(settings.error_ratio) {
            let which = self.rng.below(3);
            let name = &self.operations[operation].name;
            let peer = self.service_name(peer);
            let _ = match which {
                0 => write!(
                    text,
                    "{name} failed: upstream {peer} returned 503 after {ms} ms"
                ),
                1 => write!(
                    text,
                    "{name} failed: database deadlock detected, transaction rolled back"
                ),
                _ => write!(text, "{name} failed: request timed out after {ms} ms"),
            };
            ERROR
        } else if self.rng.chance(WARN_RATIO) {
            let which = self.rng.below(2);
            let name = &self.operations[operation].name;
            let peer = self.service_name(peer);
            let _ = match which {
                0 => write!(text, "slow request: {name} took {ms} ms"),
                _ => write!(text, "retrying call to {peer} (attempt 2 of 3)"),
            };
            WARN
        } else {
            let name = &self.operations[operation].name;
            let _ = write!(text, "{name} completed with 200 in {ms} ms");
            INFO
        };
        wire::fixed64(out, TIME, now);
        wire::int(out, SEVERITY_NUMBER, severity);
        let severity_text: &[u8] = match severity {
            ERROR => b"ERROR",
            WARN => b"WARN",
            _ => b"INFO",
        };
        wire::bytes(out, SEVERITY_TEXT, severity_text);
        wire::string_value(out, BODY, text);
        let operation = &self.operations[operation];
        let method = operation.method.as_bytes();
        wire::string_attribute(out, ATTRIBUTES, "http.method", method);
        let route = operation.route.as_bytes();
        wire::string_attribute(out, ATTRIBUTES, "http.route", route);
        self.synthetic_attributes(out, ATTRIBUTES);
        if self.rng.chance(TRACED_RATIO) {
            wire::fixed32(out, FLAGS, 1);
            wire::bytes(out, TRACE_ID, &self.rng.id::<16>());
            wire::bytes(out, SPAN_ID, &self.rng.id::<8>());
        }
        wire::fixed64(out, OBSERVED_TIME, now);
    }
}
