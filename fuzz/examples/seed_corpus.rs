//! Writes a small seed corpus for every fuzz target into `fuzz/corpus/<target>/`
//! (gitignored): one well-formed request per signal covering every attribute
//! value type and every metric kind, as protobuf, as OTLP/JSON, and gzip- and
//! zstd-compressed. Seeds let libFuzzer start from inputs that decode, so it
//! reaches validation and the Arrow conversion in seconds instead of hours.
//!
//! Run: `cargo run --manifest-path fuzz/Cargo.toml --example seed_corpus`.
//! Every seed is ingested once on the way, so a broken seed fails here.

use std::io::Write;
use std::path::Path;

use bytes::Bytes;
use prost::Message;
use sluice_model::Signal;
use sluice_model::otlp::collector::logs::v1::ExportLogsServiceRequest;
use sluice_model::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use sluice_model::otlp::collector::trace::v1::ExportTraceServiceRequest;
use sluice_model::otlp::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList, any_value::Value,
};
use sluice_model::otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use sluice_model::otlp::metrics::v1::{
    Exemplar, ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram,
    HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, Summary,
    SummaryDataPoint, exemplar, exponential_histogram_data_point::Buckets, metric::Data,
    number_data_point, summary_data_point::ValueAtQuantile,
};
use sluice_model::otlp::resource::v1::Resource;
use sluice_model::otlp::trace::v1::{
    ResourceSpans, ScopeSpans, Span, Status,
    span::{Event, Link},
};
use sluice_otlp::{BodyEncoding, Compression};

const T0: u64 = 1_735_689_600_000_000_000;
const TRACE_ID: [u8; 16] = *b"\x5b\x8e\xff\xf7\x98\x03\x81\x03\xd2\x69\xb6\x33\x81\x3f\xc6\x0c";
const SPAN_ID: [u8; 8] = *b"\xee\xe1\x9b\x7e\xc3\xc1\xb1\x74";

fn kv(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn any(value: Value) -> AnyValue {
    AnyValue { value: Some(value) }
}

/// One attribute of every `AnyValue` type.
fn attributes() -> Vec<KeyValue> {
    vec![
        kv("http.request.method", Value::StringValue("GET".into())),
        kv("http.response.status_code", Value::IntValue(200)),
        kv("app.ratio", Value::DoubleValue(0.25)),
        kv("app.cache.hit", Value::BoolValue(true)),
        kv("app.blob", Value::BytesValue(vec![0, 1, 2, 255])),
        kv(
            "app.tags",
            Value::ArrayValue(ArrayValue {
                values: vec![any(Value::StringValue("a".into())), any(Value::IntValue(1))],
            }),
        ),
        kv(
            "app.map",
            Value::KvlistValue(KeyValueList {
                values: vec![kv("nested", Value::BoolValue(false))],
            }),
        ),
    ]
}

fn resource() -> Option<Resource> {
    Some(Resource {
        attributes: vec![
            kv("service.name", Value::StringValue("checkout".into())),
            kv("host.name", Value::StringValue("node-1".into())),
        ],
        ..Default::default()
    })
}

fn scope() -> Option<InstrumentationScope> {
    Some(InstrumentationScope {
        name: "seed".into(),
        version: "1.0.0".into(),
        attributes: vec![kv("scope.attr", Value::StringValue("x".into()))],
        ..Default::default()
    })
}

fn traces() -> ExportTraceServiceRequest {
    let root = Span {
        trace_id: TRACE_ID.to_vec(),
        span_id: SPAN_ID.to_vec(),
        name: "GET /api/v1/orders/{id}".into(),
        kind: 2,
        start_time_unix_nano: T0,
        end_time_unix_nano: T0 + 1_500_000,
        attributes: attributes(),
        events: vec![Event {
            time_unix_nano: T0 + 1_000,
            name: "exception".into(),
            attributes: vec![kv("exception.type", Value::StringValue("Timeout".into()))],
            ..Default::default()
        }],
        links: vec![Link {
            trace_id: TRACE_ID.to_vec(),
            span_id: SPAN_ID.to_vec(),
            trace_state: "k=v".into(),
            ..Default::default()
        }],
        status: Some(Status {
            message: "upstream returned 503".into(),
            code: 2,
        }),
        ..Default::default()
    };
    let child = Span {
        span_id: b"\x01\x02\x03\x04\x05\x06\x07\x08".to_vec(),
        parent_span_id: SPAN_ID.to_vec(),
        name: "SELECT orders".into(),
        kind: 3,
        start_time_unix_nano: T0 + 100_000,
        end_time_unix_nano: T0 + 900_000,
        attributes: vec![kv("db.system", Value::StringValue("postgresql".into()))],
        events: Vec::new(),
        links: Vec::new(),
        status: None,
        ..root.clone()
    };
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: resource(),
            scope_spans: vec![ScopeSpans {
                scope: scope(),
                spans: vec![root, child],
                schema_url: "https://opentelemetry.io/schemas/1.26.0".into(),
            }],
            ..Default::default()
        }],
    }
}

fn number_point(value: number_data_point::Value) -> NumberDataPoint {
    NumberDataPoint {
        attributes: attributes(),
        start_time_unix_nano: T0,
        time_unix_nano: T0 + 60_000_000_000,
        value: Some(value),
        exemplars: vec![Exemplar {
            time_unix_nano: T0 + 1_000,
            span_id: SPAN_ID.to_vec(),
            trace_id: TRACE_ID.to_vec(),
            value: Some(exemplar::Value::AsDouble(12.5)),
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn metric(name: &str, data: Data) -> Metric {
    Metric {
        name: name.into(),
        description: format!("seed {name}"),
        unit: "ms".into(),
        data: Some(data),
        ..Default::default()
    }
}

fn metrics() -> ExportMetricsServiceRequest {
    let time = T0 + 60_000_000_000;
    let metrics = vec![
        metric(
            "queue.depth",
            Data::Gauge(Gauge {
                data_points: vec![number_point(number_data_point::Value::AsDouble(3.5))],
            }),
        ),
        metric(
            "requests",
            Data::Sum(Sum {
                data_points: vec![number_point(number_data_point::Value::AsInt(42))],
                aggregation_temporality: 2,
                is_monotonic: true,
            }),
        ),
        metric(
            "latency",
            Data::Histogram(Histogram {
                data_points: vec![HistogramDataPoint {
                    attributes: attributes(),
                    start_time_unix_nano: T0,
                    time_unix_nano: time,
                    count: 10,
                    sum: Some(123.0),
                    bucket_counts: vec![1, 4, 3, 2],
                    explicit_bounds: vec![1.0, 5.0, 10.0],
                    min: Some(0.5),
                    max: Some(30.0),
                    ..Default::default()
                }],
                aggregation_temporality: 1,
            }),
        ),
        metric(
            "latency.exp",
            Data::ExponentialHistogram(ExponentialHistogram {
                data_points: vec![ExponentialHistogramDataPoint {
                    attributes: attributes(),
                    start_time_unix_nano: T0,
                    time_unix_nano: time,
                    count: 6,
                    sum: Some(20.0),
                    scale: 2,
                    zero_count: 1,
                    positive: Some(Buckets {
                        offset: -1,
                        bucket_counts: vec![2, 3],
                    }),
                    negative: None,
                    ..Default::default()
                }],
                aggregation_temporality: 2,
            }),
        ),
        metric(
            "latency.summary",
            Data::Summary(Summary {
                data_points: vec![SummaryDataPoint {
                    attributes: attributes(),
                    start_time_unix_nano: T0,
                    time_unix_nano: time,
                    count: 5,
                    sum: 10.0,
                    quantile_values: vec![
                        ValueAtQuantile {
                            quantile: 0.5,
                            value: 1.5,
                        },
                        ValueAtQuantile {
                            quantile: 0.99,
                            value: 4.0,
                        },
                    ],
                    ..Default::default()
                }],
            }),
        ),
    ];
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: resource(),
            scope_metrics: vec![ScopeMetrics {
                scope: scope(),
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn logs() -> ExportLogsServiceRequest {
    let records = vec![
        LogRecord {
            time_unix_nano: T0,
            observed_time_unix_nano: T0 + 5,
            severity_number: 17,
            severity_text: "ERROR".into(),
            body: Some(any(Value::StringValue("payment failed".into()))),
            attributes: attributes(),
            flags: 1,
            trace_id: TRACE_ID.to_vec(),
            span_id: SPAN_ID.to_vec(),
            ..Default::default()
        },
        LogRecord {
            observed_time_unix_nano: T0 + 7_200_000_000_000,
            body: Some(any(Value::KvlistValue(KeyValueList {
                values: vec![kv("msg", Value::StringValue("structured".into()))],
            }))),
            ..Default::default()
        },
    ];
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: resource(),
            scope_logs: vec![ScopeLogs {
                scope: scope(),
                log_records: records,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn write(dir: &Path, target: &str, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let dir = dir.join(target);
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join(name), bytes)?;
    println!("{target}/{name}: {} bytes", bytes.len());
    Ok(())
}

fn main() -> std::io::Result<()> {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let seeds: [(&str, Signal, Vec<u8>, Vec<u8>); 3] = [
        (
            "traces",
            Signal::Traces,
            traces().encode_to_vec(),
            serde_json::to_vec(&traces())?,
        ),
        (
            "metrics",
            Signal::Metrics,
            metrics().encode_to_vec(),
            serde_json::to_vec(&metrics())?,
        ),
        (
            "logs",
            Signal::Logs,
            logs().encode_to_vec(),
            serde_json::to_vec(&logs())?,
        ),
    ];
    for (name, signal, proto, json) in &seeds {
        for (body, encoding) in [(proto, BodyEncoding::Protobuf), (json, BodyEncoding::Json)] {
            let bytes = bytes::Bytes::copy_from_slice(body);
            if let Err(e) = sluice_otlp::decode_export(*signal, &bytes, encoding) {
                panic!("the {name} {encoding:?} seed does not decode: {e}");
            }
            sluice_fuzz::ingest(*signal, body, encoding);
        }
        write(&corpus, &format!("decode_{name}_proto"), "seed.pb", proto)?;
        write(&corpus, &format!("decode_{name}_json"), "seed.json", json)?;

        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gzip.write_all(proto)?;
        let gzip = gzip.finish()?;
        // One-shot compression records the content size, so the frame's window
        // is the body's size. A streaming frame (`zstd::encode_all`) declares
        // the level's default window (2 MiB at level 3), which `decompress`
        // refuses under a limit smaller than that window, whatever the content.
        let zstd = zstd::bulk::compress(proto, 3)?;
        for (body, compression) in [(&gzip, Compression::Gzip), (&zstd, Compression::Zstd)] {
            let limit = sluice_fuzz::DECOMPRESSED_LIMIT;
            match sluice_otlp::decompress(Bytes::copy_from_slice(body), compression, limit) {
                Ok(inflated) => assert_eq!(&inflated[..], &proto[..]),
                Err(e) => panic!("the {name} {compression:?} seed does not decompress: {e}"),
            }
            sluice_fuzz::decompress_then_ingest(body, compression);
        }
        write(&corpus, "decompress_gzip", &format!("{name}.pb.gz"), &gzip)?;
        write(&corpus, "decompress_zstd", &format!("{name}.pb.zst"), &zstd)?;
    }
    Ok(())
}
