//! Traces: a SERVER root span per trace, ending now, with 1–3 children inside
//! it (a database call, a call to another service, some internal work).
//!
//! The root span's duration is drawn from the service's latency distribution;
//! with the service's error ratio the root fails (status ERROR,
//! `http.status_code` 500) and so does one child, the likely culprit. A
//! failed span carries the `exception` event an SDK's `record_exception`
//! adds (`exception.type`, `.message` and `.stacktrace`, at the span's end),
//! as instrumentations record the error that ends a request.
//!
//! Spans are written as protobuf as they are drawn ([`super::wire`]), each
//! service's into a buffer of its own, and the buffers then become one
//! `ExportTraceServiceRequest` body around each service's resource, encoded
//! once when the generator starts. Building prost's messages first (some 25
//! strings and vectors per span, then their sizes and encoding) cost the
//! generator more CPU per span than Sluice spent taking the spans in: on
//! one machine it measured itself as much as its target.

use bytes::Bytes;

use super::{Generator, settings_for, wire};
use crate::phase::ServiceSettings;

/// The most children of a root span.
const MAX_CHILDREN: u64 = 3;

/// Field number of `ScopeSpans.spans`.
const SPANS: u32 = 2;

/// Field numbers of `Span`, and of `Status` inside it.
const TRACE_ID: u32 = 1;
const SPAN_ID: u32 = 2;
const PARENT_SPAN_ID: u32 = 4;
const NAME: u32 = 5;
const KIND: u32 = 6;
const START: u32 = 7;
const END: u32 = 8;
const ATTRIBUTES: u32 = 9;
const EVENTS: u32 = 11;
const STATUS: u32 = 15;
const STATUS_MESSAGE: u32 = 2;
const STATUS_CODE: u32 = 3;

/// `Span.SpanKind` and `Status.StatusCode` values.
const INTERNAL: i64 = 1;
const SERVER: i64 = 2;
const CLIENT: i64 = 3;
const ERROR: i64 = 2;

/// What a child span does.
#[derive(Debug, Clone, Copy)]
enum ChildKind {
    Database,
    Downstream,
    Internal,
}

/// How a span fails: its status message, and the exception recorded.
#[derive(Debug, Clone, Copy)]
struct Failure {
    message: &'static str,
    /// `exception.type`.
    kind: &'static str,
    /// The function the exception is raised in, the top of its stack trace.
    function: &'static str,
}

const ROOT_FAILURE: Failure = Failure {
    message: "internal server error",
    kind: "InternalServerError",
    function: "handle_request",
};

impl Generator {
    /// An `ExportTraceServiceRequest` of exactly `records` spans, encoded.
    pub(super) fn traces(
        &mut self,
        records: usize,
        settings: &[ServiceSettings],
        now: u64,
    ) -> Bytes {
        self.encoded_request(|generator, buffers| {
            let mut left = records;
            while left > 0 {
                let service = generator.pick_service(settings);
                let current = settings_for(settings, service);
                left -= generator.trace(buffers, service, &current, now, left);
            }
        })
    }

    /// Writes one trace of at most `max_spans` spans (at least 1) into the
    /// buffer of `service`; returns how many.
    fn trace(
        &mut self,
        buffers: &mut wire::Buffers,
        service: usize,
        settings: &ServiceSettings,
        now: u64,
        max_spans: usize,
    ) -> usize {
        let wire::Buffers {
            by_service,
            record: span,
        } = buffers;
        let out = &mut by_service[service];
        let operation = self.pick_operation();
        let duration = settings.latency.sample_nanos(&mut self.rng);
        let failed = self.rng.chance(settings.error_ratio);
        let trace_id = self.rng.id::<16>();
        let root_id = self.rng.id::<8>();
        let start = now.saturating_sub(duration);

        span.clear();
        wire::bytes(span, TRACE_ID, &trace_id);
        wire::bytes(span, SPAN_ID, &root_id);
        let operation = &self.operations[operation];
        wire::bytes(span, NAME, operation.name.as_bytes());
        wire::int(span, KIND, SERVER);
        wire::fixed64(span, START, start);
        wire::fixed64(span, END, now);
        let method = operation.method.as_bytes();
        wire::string_attribute(span, ATTRIBUTES, "http.method", method);
        let route = operation.route.as_bytes();
        wire::string_attribute(span, ATTRIBUTES, "http.route", route);
        wire::string_attribute(span, ATTRIBUTES, "http.scheme", b"http");
        let code = if failed { 500 } else { 200 };
        wire::int_attribute(span, ATTRIBUTES, "http.status_code", code);
        self.synthetic_attributes(span, ATTRIBUTES);
        self.outcome(span, service, failed, now, ROOT_FAILURE);
        wire::message(out, SPANS, span);

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
            let child_end = (child_start + length).min(now);
            let child_failed = failed && i == culprit;
            span.clear();
            wire::bytes(span, TRACE_ID, &trace_id);
            wire::bytes(span, SPAN_ID, &self.rng.id::<8>());
            wire::bytes(span, PARENT_SPAN_ID, &root_id);
            self.child(span, service, kind, child_start, child_end, child_failed);
            wire::message(out, SPANS, span);
        }
        1 + children
    }

    /// A child span's fields from its name on.
    fn child(
        &mut self,
        span: &mut Vec<u8>,
        service: usize,
        kind: ChildKind,
        start: u64,
        end: u64,
        failed: bool,
    ) {
        let times = |span: &mut Vec<u8>, kind| {
            wire::int(span, KIND, kind);
            wire::fixed64(span, START, start);
            wire::fixed64(span, END, end);
        };
        let failure = match kind {
            ChildKind::Database => {
                wire::bytes(span, NAME, b"SELECT orders");
                times(span, CLIENT);
                wire::string_attribute(span, ATTRIBUTES, "db.system", b"postgresql");
                wire::string_attribute(span, ATTRIBUTES, "db.name", b"orders");
                wire::string_attribute(span, ATTRIBUTES, "db.operation", b"SELECT");
                Failure {
                    message: "deadlock detected",
                    kind: "DeadlockDetected",
                    function: "query_orders",
                }
            }
            ChildKind::Downstream => {
                let services = self.config.services.len().max(1);
                let peer = (service + 1 + self.rng.index(services)) % services;
                let peer = self.service_name(peer).as_bytes();
                wire::joined(span, NAME, &[b"GET ", peer]);
                times(span, CLIENT);
                wire::string_attribute(span, ATTRIBUTES, "http.method", b"GET");
                wire::string_attribute(span, ATTRIBUTES, "peer.service", peer);
                let code = if failed { 503 } else { 200 };
                wire::int_attribute(span, ATTRIBUTES, "http.status_code", code);
                Failure {
                    message: "upstream unavailable",
                    kind: "UpstreamUnavailable",
                    function: "call_peer",
                }
            }
            ChildKind::Internal => {
                wire::bytes(span, NAME, b"render response");
                times(span, INTERNAL);
                Failure {
                    message: "template error",
                    kind: "TemplateError",
                    function: "render",
                }
            }
        };
        self.synthetic_attributes(span, ATTRIBUTES);
        self.outcome(span, service, failed, end, failure);
    }

    /// A span's fields after its attributes: if it `failed`, the exception
    /// event at `end` and an ERROR status; else an UNSET status.
    fn outcome(
        &self,
        span: &mut Vec<u8>,
        service: usize,
        failed: bool,
        end: u64,
        failure: Failure,
    ) {
        if failed {
            let service = self.service_name(service);
            let Failure {
                message,
                kind,
                function,
            } = failure;
            let stacktrace =
                format!("{kind}: {message}\n    at {service}::{function}\n    at {service}::main");
            let attributes: [(&str, &[u8]); 3] = [
                ("exception.type", kind.as_bytes()),
                ("exception.message", message.as_bytes()),
                ("exception.stacktrace", stacktrace.as_bytes()),
            ];
            wire::event(span, EVENTS, end, "exception", &attributes);
        }
        status(span, failed, failure.message);
    }
}

/// The span's status: ERROR with `message` if it failed, else UNSET (an empty
/// `Status`, as SDKs send it).
fn status(span: &mut Vec<u8>, failed: bool, message: &str) {
    if failed {
        let len =
            wire::field_len(STATUS_MESSAGE, message.len()) + wire::int_len(STATUS_CODE, ERROR);
        wire::open(span, STATUS, len);
        wire::bytes(span, STATUS_MESSAGE, message.as_bytes());
        wire::int(span, STATUS_CODE, ERROR);
    } else {
        wire::open(span, STATUS, 0);
    }
}
