//! OTLP requests with known contents, shared by the end-to-end tests.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, InstrumentationScope, KeyValue, any_value::Value,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram, HistogramDataPoint,
    Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, Summary, SummaryDataPoint,
    exponential_histogram_data_point, metric::Data, number_data_point,
    summary_data_point::ValueAtQuantile,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{
    ResourceSpans, ScopeSpans, Span, Status, status::StatusCode,
};

/// 2024-05-06T07:08:09Z in nanoseconds.
pub const T0: u64 = 1_714_979_289_000_000_000;

pub fn kv(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

pub fn resource(service: &str) -> Option<Resource> {
    Some(Resource {
        attributes: vec![kv("service.name", Value::StringValue(service.into()))],
        ..Default::default()
    })
}

fn scope() -> Option<InstrumentationScope> {
    Some(InstrumentationScope {
        name: "e2e".into(),
        version: "1.0".into(),
        ..Default::default()
    })
}

/// A trace id whose every byte is derived from `n` (never all zero).
pub fn trace_id(n: u64) -> Vec<u8> {
    let mut id = vec![0u8; 16];
    id[..8].copy_from_slice(&(n + 1).to_be_bytes());
    id[8..].copy_from_slice(&(n.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1).to_be_bytes());
    id
}

pub fn span_id(n: u64) -> Vec<u8> {
    (n + 1).to_be_bytes().to_vec()
}

/// `traces` traces of `spans_per_trace` spans each, for `service`; span
/// `i` of trace `t` is named `op-{i}`, starts at `T0 + t ms` and lasts `i+1` ms.
pub fn traces(service: &str, traces: u64, spans_per_trace: u64) -> ExportTraceServiceRequest {
    let mut spans = Vec::new();
    for t in 0..traces {
        for i in 0..spans_per_trace {
            let start = T0 + t * 1_000_000;
            spans.push(Span {
                trace_id: trace_id(t),
                span_id: span_id(t * 1000 + i),
                parent_span_id: if i == 0 { vec![] } else { span_id(t * 1000) },
                name: format!("op-{i}"),
                kind: if i == 0 { 2 } else { 3 },
                start_time_unix_nano: start,
                end_time_unix_nano: start + (i + 1) * 1_000_000,
                attributes: vec![
                    kv("http.status_code", Value::IntValue(200)),
                    kv("ok", Value::BoolValue(i % 2 == 0)),
                ],
                status: Some(Status {
                    code: if i == 1 {
                        StatusCode::Error as i32
                    } else {
                        StatusCode::Unset as i32
                    },
                    message: if i == 1 { "boom".into() } else { String::new() },
                }),
                ..Default::default()
            });
        }
    }
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: resource(service),
            scope_spans: vec![ScopeSpans {
                scope: scope(),
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// `n` log records for `service`.
pub fn logs(service: &str, n: u64) -> ExportLogsServiceRequest {
    let log_records = (0..n)
        .map(|i| LogRecord {
            time_unix_nano: T0 + i,
            observed_time_unix_nano: T0 + i + 5,
            severity_number: 17,
            severity_text: "ERROR".into(),
            body: Some(AnyValue {
                value: Some(Value::StringValue(format!("message {i}"))),
            }),
            attributes: vec![kv("i", Value::IntValue(i as i64))],
            trace_id: trace_id(i),
            span_id: span_id(i),
            ..Default::default()
        })
        .collect();
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: resource(service),
            scope_logs: vec![ScopeLogs {
                scope: scope(),
                log_records,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// One metric of every type, `points` data points each.
pub fn metrics(service: &str, points: u64) -> ExportMetricsServiceRequest {
    let number = |i: u64| NumberDataPoint {
        attributes: vec![kv("i", Value::IntValue(i as i64))],
        start_time_unix_nano: T0,
        time_unix_nano: T0 + i * 1_000_000_000,
        value: Some(number_data_point::Value::AsDouble(i as f64 + 0.5)),
        ..Default::default()
    };
    let metric = |name: &str, data: Data| Metric {
        name: name.into(),
        description: format!("{name} description"),
        unit: "1".into(),
        data: Some(data),
        ..Default::default()
    };
    let metrics = vec![
        metric(
            "e2e.gauge",
            Data::Gauge(Gauge {
                data_points: (0..points).map(number).collect(),
            }),
        ),
        metric(
            "e2e.sum",
            Data::Sum(Sum {
                data_points: (0..points).map(number).collect(),
                aggregation_temporality: 2,
                is_monotonic: true,
            }),
        ),
        metric(
            "e2e.histogram",
            Data::Histogram(Histogram {
                data_points: (0..points)
                    .map(|i| HistogramDataPoint {
                        time_unix_nano: T0 + i,
                        count: 6,
                        sum: Some(21.0),
                        bucket_counts: vec![1, 2, 3],
                        explicit_bounds: vec![1.0, 5.0],
                        min: Some(0.5),
                        max: Some(9.0),
                        ..Default::default()
                    })
                    .collect(),
                aggregation_temporality: 1,
            }),
        ),
        metric(
            "e2e.exponential",
            Data::ExponentialHistogram(ExponentialHistogram {
                data_points: (0..points)
                    .map(|i| ExponentialHistogramDataPoint {
                        time_unix_nano: T0 + i,
                        count: 3,
                        scale: 2,
                        zero_count: 1,
                        positive: Some(exponential_histogram_data_point::Buckets {
                            offset: -1,
                            bucket_counts: vec![1, 1],
                        }),
                        ..Default::default()
                    })
                    .collect(),
                aggregation_temporality: 2,
            }),
        ),
        metric(
            "e2e.summary",
            Data::Summary(Summary {
                data_points: (0..points)
                    .map(|i| SummaryDataPoint {
                        time_unix_nano: T0 + i,
                        count: 10,
                        sum: 55.0,
                        quantile_values: vec![
                            ValueAtQuantile {
                                quantile: 0.5,
                                value: 5.0,
                            },
                            ValueAtQuantile {
                                quantile: 0.99,
                                value: 9.9,
                            },
                        ],
                        ..Default::default()
                    })
                    .collect(),
            }),
        ),
    ];
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: resource(service),
            scope_metrics: vec![ScopeMetrics {
                scope: scope(),
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// `n` `POST /pay` server spans of `service` lasting 20–40 ms and ending in
/// `[start, start + width)`, the first `errors` failed, with random ids.
pub fn server_spans(
    service: &str,
    start: u64,
    width: u64,
    n: u64,
    errors: u64,
    rng: &mut crate::Rng,
) -> ExportTraceServiceRequest {
    let spans = (0..n)
        .map(|i| {
            let end = start + rng.range(0..width);
            let id = rng.next_u64();
            Span {
                trace_id: trace_id(id),
                span_id: span_id(id),
                name: "POST /pay".into(),
                kind: 2,
                start_time_unix_nano: end - rng.range(20..40) * 1_000_000,
                end_time_unix_nano: end,
                status: ok_or_error(i < errors),
                ..Default::default()
            }
        })
        .collect();
    one_resource(service, spans)
}

/// An OK or ERROR span status.
pub fn ok_or_error(error: bool) -> Option<Status> {
    Some(Status {
        code: if error {
            StatusCode::Error as i32
        } else {
            StatusCode::Ok as i32
        },
        message: String::new(),
    })
}

/// `spans` of `service` as one request (one resource, one scope).
pub fn one_resource(service: &str, spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: resource(service),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}
