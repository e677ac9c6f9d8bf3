//! Traces: a SERVER root span per trace, ending now, with 1–3 children inside
//! it (a database call, a call to another service, some internal work).
//!
//! The root span's duration is drawn from the service's latency distribution;
//! with the service's error ratio the root fails (status ERROR,
//! `http.status_code` 500) and so does one child, the likely culprit.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};

use super::{Generator, kv, scope};
use crate::phase::ServiceSettings;

/// The most children of a root span.
const MAX_CHILDREN: u64 = 3;

/// What a child span does.
#[derive(Debug, Clone, Copy)]
enum ChildKind {
    Database,
    Downstream,
    Internal,
}

impl Generator {
    pub(super) fn traces(
        &mut self,
        records: usize,
        settings: &[ServiceSettings],
        now: u64,
    ) -> ExportTraceServiceRequest {
        let mut by_service: Vec<Vec<Span>> = vec![Vec::new(); self.config.services.len().max(1)];
        let mut left = records;
        while left > 0 {
            let service = self.pick_service(settings);
            let current = super::settings_for(settings, service);
            let spans = self.trace(service, &current, now, left);
            left -= spans.len();
            by_service[service].extend(spans);
        }
        let resource_spans = by_service
            .into_iter()
            .enumerate()
            .filter(|(_, spans)| !spans.is_empty())
            .map(|(service, spans)| ResourceSpans {
                resource: Some(self.resource(service, None)),
                scope_spans: vec![ScopeSpans {
                    scope: scope(),
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            })
            .collect();
        ExportTraceServiceRequest { resource_spans }
    }

    /// One trace of at most `max_spans` spans (at least 1).
    fn trace(
        &mut self,
        service: usize,
        settings: &ServiceSettings,
        now: u64,
        max_spans: usize,
    ) -> Vec<Span> {
        let operation = self.pick_operation();
        let operation = self.operations[operation].clone();
        let duration = settings.latency.sample_nanos(&mut self.rng);
        let failed = self.rng.chance(settings.error_ratio);
        let trace_id = self.rng.id::<16>();
        let root_id = self.rng.id::<8>();
        let start = now.saturating_sub(duration);
        let mut attributes = vec![
            kv("http.method", Value::StringValue(operation.method.into())),
            kv("http.route", Value::StringValue(operation.route.clone())),
            kv("http.scheme", Value::StringValue("http".into())),
            kv(
                "http.status_code",
                Value::IntValue(if failed { 500 } else { 200 }),
            ),
        ];
        self.synthetic_attributes(&mut attributes);
        let mut spans = vec![Span {
            trace_id: trace_id.clone(),
            span_id: root_id.clone(),
            name: operation.name,
            kind: SpanKind::Server as i32,
            start_time_unix_nano: start,
            end_time_unix_nano: now,
            attributes,
            status: Some(status(failed, "internal server error")),
            ..Default::default()
        }];
        let children = (1 + self.rng.below(MAX_CHILDREN)) as usize;
        let children = children.min(max_spans.saturating_sub(1));
        let culprit = self.rng.index(children.max(1));
        for i in 0..children {
            let kind = match self.rng.below(3) {
                0 => ChildKind::Database,
                1 => ChildKind::Downstream,
                _ => ChildKind::Internal,
            };
            // A child starts in the first half of its parent and ends before it.
            let offset = self.rng.below(duration / 2 + 1);
            let length = 1 + self.rng.below((duration - offset).max(1));
            let child_start = start + offset;
            let child_failed = failed && i == culprit;
            let mut span = self.child(service, kind, child_failed);
            span.trace_id = trace_id.clone();
            span.parent_span_id = root_id.clone();
            span.start_time_unix_nano = child_start;
            span.end_time_unix_nano = (child_start + length).min(now);
            spans.push(span);
        }
        spans
    }

    fn child(&mut self, service: usize, kind: ChildKind, failed: bool) -> Span {
        let mut attributes = Vec::with_capacity(4 + self.attribute_keys.len());
        let (name, span_kind, message) = match kind {
            ChildKind::Database => {
                attributes.push(kv("db.system", Value::StringValue("postgresql".into())));
                attributes.push(kv("db.name", Value::StringValue("orders".into())));
                attributes.push(kv("db.operation", Value::StringValue("SELECT".into())));
                (
                    "SELECT orders".to_owned(),
                    SpanKind::Client,
                    "deadlock detected",
                )
            }
            ChildKind::Downstream => {
                let services = self.config.services.len();
                let peer = (service + 1 + self.rng.index(services.max(1))) % services.max(1);
                let peer = self.service_name(peer).to_owned();
                attributes.push(kv("http.method", Value::StringValue("GET".into())));
                attributes.push(kv("peer.service", Value::StringValue(peer.clone())));
                attributes.push(kv(
                    "http.status_code",
                    Value::IntValue(if failed { 503 } else { 200 }),
                ));
                (
                    format!("GET {peer}"),
                    SpanKind::Client,
                    "upstream unavailable",
                )
            }
            ChildKind::Internal => (
                "render response".to_owned(),
                SpanKind::Internal,
                "template error",
            ),
        };
        self.synthetic_attributes(&mut attributes);
        Span {
            span_id: self.rng.id::<8>(),
            name,
            kind: span_kind as i32,
            attributes,
            status: Some(status(failed, message)),
            ..Default::default()
        }
    }
}

fn status(failed: bool, message: &str) -> Status {
    if failed {
        Status {
            code: StatusCode::Error as i32,
            message: message.to_owned(),
        }
    } else {
        Status {
            code: StatusCode::Unset as i32,
            message: String::new(),
        }
    }
}
