//! OTLP → Arrow → Parquet → Arrow is lossless: every field of every generated
//! span, log record and histogram point reads back from the Parquet bytes with
//! the value the storage contract promises.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Float64Type, TimestampNanosecondType, UInt64Type};
use bytes::Bytes;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::metrics::v1::{HistogramDataPoint, Metric};
use opentelemetry_proto::tonic::trace::v1::{Span, Status, span::Event, span::Link};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use proptest::prelude::*;
use prost::Message;
use sluice_model::Table;
use sluice_model::context::{ResourceContext, ScopeContext};
use sluice_model::hex;
use sluice_model::logs::LogBatchBuilder;
use sluice_model::logs::wire::LogView;
use sluice_model::metrics::HistogramBatchBuilder;
use sluice_model::metrics::points::HistogramPoint;
use sluice_model::metrics::wire::MetricView;
use sluice_model::otlp::resource::v1::Resource;
use sluice_model::schema::plain_batch;
use sluice_model::traces::wire::SpanView;
use sluice_model::traces::{TraceBatchBuilder, span_kind_name, status_code_name};
use sluice_storage::{encode_parquet, sort_batch, writer_properties};

/// Sorts, encodes and reads back `batch`, checking Parquet gave back exactly
/// the Arrow data it was given.
fn through_parquet(table: Table, batch: &RecordBatch) -> RecordBatch {
    let sorted = sort_batch(table, batch).unwrap();
    let bytes = encode_parquet(table, &sorted, writer_properties(table, 7, 3, vec![])).unwrap();
    let reader = ParquetRecordBatchReaderBuilder::try_new(Bytes::from(bytes))
        .unwrap()
        .build()
        .unwrap();
    let batches: Vec<RecordBatch> = reader.map(|b| b.unwrap()).collect();
    // Interned maps read back as the maps of strings they stand for.
    let sorted = plain_batch(&sorted).unwrap();
    let read = arrow::compute::concat_batches(&sorted.schema(), &batches).unwrap();
    assert_eq!(read, sorted, "parquet round trip changed the data");
    read
}

fn value() -> impl Strategy<Value = (Value, String)> {
    prop_oneof![
        ".{0,12}".prop_map(|s| (Value::StringValue(s.clone()), s)),
        any::<i64>().prop_map(|i| (Value::IntValue(i), i.to_string())),
        any::<bool>().prop_map(|b| (Value::BoolValue(b), b.to_string())),
        (-1e12f64..1e12).prop_map(|d| (Value::DoubleValue(d), d.to_string())),
    ]
}

/// Attributes with distinct keys, and the strings they must read back as.
fn attributes() -> impl Strategy<Value = (Vec<KeyValue>, HashMap<String, String>)> {
    proptest::collection::hash_map("[a-z.]{1,8}", value(), 0..5).prop_map(|m| {
        let mut kvs = Vec::new();
        let mut expected = HashMap::new();
        for (k, (v, s)) in m {
            kvs.push(KeyValue {
                key: k.clone(),
                value: Some(AnyValue { value: Some(v) }),
                ..Default::default()
            });
            expected.insert(k, s);
        }
        (kvs, expected)
    })
}

fn read_map(array: &dyn Array, row: usize) -> HashMap<String, String> {
    let map = array.as_map();
    let entries = map.value(row);
    let keys = entries.column(0).as_string::<i32>();
    let values = entries.column(1).as_string::<i32>();
    (0..entries.len())
        .map(|i| (keys.value(i).to_owned(), values.value(i).to_owned()))
        .collect()
}

fn col<'a>(batch: &'a RecordBatch, name: &str) -> &'a dyn Array {
    batch.column_by_name(name).unwrap().as_ref()
}

fn string(batch: &RecordBatch, name: &str, row: usize) -> String {
    col(batch, name).as_string::<i32>().value(row).to_owned()
}

/// Time, buckets, bounds, sum and min of one histogram row.
type HistogramRow = (i64, Vec<u64>, Vec<f64>, Option<f64>, Option<f64>);

const YEAR_2262: u64 = i64::MAX as u64;

prop_compose! {
    fn span()(
        trace_id in proptest::collection::vec(1u8.., 16),
        span_id in proptest::collection::vec(1u8.., 8),
        parent in proptest::option::of(proptest::collection::vec(any::<u8>(), 8)),
        name in ".{0,20}",
        kind in 0i32..6,
        start in 0u64..YEAR_2262 / 2,
        duration in 0u64..1_000_000_000_000,
        (attrs, expected) in attributes(),
        status in 0i32..3,
        message in ".{0,10}",
        events in proptest::collection::vec(("[a-z]{1,8}", 0u64..YEAR_2262 / 2), 0..3),
        links in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 16), 0..2),
        flags in any::<u32>(),
    ) -> (Span, HashMap<String, String>) {
        let span = Span {
            trace_id,
            span_id,
            parent_span_id: parent.unwrap_or_default(),
            name,
            kind,
            start_time_unix_nano: start,
            end_time_unix_nano: start + duration,
            attributes: attrs,
            status: Some(Status { code: status, message }),
            events: events.into_iter().map(|(name, t)| Event { name, time_unix_nano: t, ..Default::default() }).collect(),
            links: links.into_iter().map(|t| Link { trace_id: t, span_id: vec![7; 8], ..Default::default() }).collect(),
            flags,
            ..Default::default()
        };
        (span, expected)
    }
}

fn resource(service: &str) -> ResourceContext {
    let resource = Resource {
        attributes: vec![KeyValue {
            key: "service.name".into(),
            value: Some(AnyValue {
                value: Some(Value::StringValue(service.into())),
            }),
            ..Default::default()
        }],
        ..Default::default()
    };
    ResourceContext::new(Some(&resource), "https://schema")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn spans_round_trip(spans in proptest::collection::vec(span(), 1..20), service in "[a-z]{0,6}") {
        let resource = Arc::new(resource(&service));
        let scope = Arc::new(ScopeContext::default());
        let mut builder = TraceBatchBuilder::new();
        for (span, _) in &spans {
            let bytes = span.encode_to_vec();
            builder.append(&resource, &scope, &SpanView::parse(&bytes));
        }
        let batch = through_parquet(Table::Traces, &builder.finish());
        prop_assert_eq!(batch.num_rows(), spans.len());
        let rows: HashMap<(String, String), usize> = (0..batch.num_rows())
            .map(|r| ((string(&batch, "TraceId", r), string(&batch, "SpanId", r)), r))
            .collect();
        for (span, expected_attrs) in &spans {
            let key = (hex::encode(&span.trace_id), hex::encode(&span.span_id));
            // Generated ids may repeat; then any row with the id has equal fields by chance only.
            let Some(&row) = rows.get(&key) else { panic!("span {key:?} missing") };
            if spans.iter().filter(|(s, _)| s.trace_id == span.trace_id && s.span_id == span.span_id).count() > 1 {
                continue;
            }
            prop_assert_eq!(string(&batch, "ParentSpanId", row), hex::encode(&span.parent_span_id));
            prop_assert_eq!(string(&batch, "SpanName", row), span.name.clone());
            prop_assert_eq!(string(&batch, "SpanKind", row), span_kind_name(span.kind));
            prop_assert_eq!(string(&batch, "ServiceName", row), service.clone());
            let status = span.status.as_ref().unwrap();
            prop_assert_eq!(string(&batch, "StatusCode", row), status_code_name(status.code));
            prop_assert_eq!(string(&batch, "StatusMessage", row), status.message.clone());
            prop_assert_eq!(
                col(&batch, "Timestamp").as_primitive::<TimestampNanosecondType>().value(row),
                span.start_time_unix_nano as i64
            );
            prop_assert_eq!(
                col(&batch, "Duration").as_primitive::<UInt64Type>().value(row),
                span.end_time_unix_nano - span.start_time_unix_nano
            );
            prop_assert_eq!(&read_map(col(&batch, "SpanAttributes"), row), expected_attrs);
            let resource_attrs = read_map(col(&batch, "ResourceAttributes"), row);
            prop_assert_eq!(resource_attrs.get("service.name"), Some(&service));
            let events = col(&batch, "Events").as_struct();
            let names = events.column_by_name("Name").unwrap().as_list::<i32>().value(row);
            let names: Vec<&str> = names.as_string::<i32>().iter().map(|n| n.unwrap()).collect();
            let sent: Vec<&str> = span.events.iter().map(|e| e.name.as_str()).collect();
            prop_assert_eq!(names, sent);
            let links = col(&batch, "Links").as_struct();
            let link_ids = links.column_by_name("TraceId").unwrap().as_list::<i32>().value(row);
            let link_ids: Vec<String> = link_ids.as_string::<i32>().iter().map(|n| n.unwrap().to_owned()).collect();
            let sent: Vec<String> = span.links.iter().map(|l| hex::encode(&l.trace_id)).collect();
            prop_assert_eq!(link_ids, sent);
        }
        // Sorted by service, then time.
        let times = col(&batch, "Timestamp").as_primitive::<TimestampNanosecondType>();
        prop_assert!(times.values().windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn log_records_round_trip(
        records in proptest::collection::vec((0u64..YEAR_2262 / 2, 0u64..YEAR_2262 / 2, 0i32..25, ".{0,20}", attributes()), 1..20)
    ) {
        let resource = Arc::new(resource("logs"));
        let scope = Arc::new(ScopeContext::default());
        let mut builder = LogBatchBuilder::new();
        let sent: Vec<(LogRecord, HashMap<String, String>)> = records
            .into_iter()
            .map(|(time, observed, severity, body, (attrs, expected))| {
                let record = LogRecord {
                    time_unix_nano: time,
                    observed_time_unix_nano: observed,
                    severity_number: severity,
                    body: Some(AnyValue { value: Some(Value::StringValue(body)) }),
                    attributes: attrs,
                    ..Default::default()
                };
                (record, expected)
            })
            .collect();
        for (record, _) in &sent {
            let bytes = record.encode_to_vec();
            builder.append(&resource, &scope, &LogView::checked(&bytes, 0).unwrap());
        }
        let batch = through_parquet(Table::Logs, &builder.finish());
        let mut expected: Vec<(i64, String, HashMap<String, String>)> = sent
            .iter()
            .map(|(r, attrs)| {
                let t = if r.time_unix_nano != 0 { r.time_unix_nano } else { r.observed_time_unix_nano };
                let Some(Value::StringValue(body)) = r.body.as_ref().and_then(|b| b.value.clone()) else { unreachable!() };
                (t as i64, body, attrs.clone())
            })
            .collect();
        let mut read: Vec<(i64, String, HashMap<String, String>)> = (0..batch.num_rows())
            .map(|r| (
                col(&batch, "Timestamp").as_primitive::<TimestampNanosecondType>().value(r),
                string(&batch, "Body", r),
                read_map(col(&batch, "LogAttributes"), r),
            ))
            .collect();
        let by_key = |a: &(i64, String, HashMap<String, String>), b: &(i64, String, HashMap<String, String>)| {
            (a.0, &a.1, format!("{:?}", a.2.iter().collect::<std::collections::BTreeMap<_, _>>()))
                .cmp(&(b.0, &b.1, format!("{:?}", b.2.iter().collect::<std::collections::BTreeMap<_, _>>())))
        };
        expected.sort_by(by_key);
        read.sort_by(by_key);
        prop_assert_eq!(read, expected);
    }

    #[test]
    fn histogram_points_round_trip(
        points in proptest::collection::vec(
            (proptest::collection::vec(0u64..1000, 0..6), proptest::option::of(-1e9f64..1e9), proptest::option::of(-1e9f64..1e9), 0u64..YEAR_2262 / 2),
            1..10,
        )
    ) {
        let resource = Arc::new(resource("metrics"));
        let scope = Arc::new(ScopeContext::default());
        let metric = Metric { name: "latency".into(), unit: "ms".into(), ..Default::default() };
        let metric_bytes = metric.encode_to_vec();
        let metric = MetricView::read(&metric_bytes);
        let mut builder = HistogramBatchBuilder::new();
        let sent: Vec<HistogramDataPoint> = points
            .into_iter()
            .map(|(buckets, sum, min, time)| HistogramDataPoint {
                explicit_bounds: (1..buckets.len()).map(|b| b as f64 * 10.0).collect(),
                count: buckets.iter().sum(),
                bucket_counts: buckets,
                sum,
                min,
                max: min.map(|m| m + 1.0),
                time_unix_nano: time,
                ..Default::default()
            })
            .collect();
        let encoded: Vec<Vec<u8>> = sent.iter().map(Message::encode_to_vec).collect();
        for point in &encoded {
            builder.append(&resource, &scope, &metric, 2, &HistogramPoint::read(point));
        }
        let batch = through_parquet(Table::MetricsHistogram, &builder.finish());
        let mut read: Vec<HistogramRow> = (0..batch.num_rows())
            .map(|r| {
                let buckets = col(&batch, "BucketCounts").as_list::<i32>().value(r);
                let bounds = col(&batch, "ExplicitBounds").as_list::<i32>().value(r);
                let opt = |name: &str| {
                    let a = col(&batch, name).as_primitive::<Float64Type>();
                    a.is_valid(r).then(|| a.value(r))
                };
                (
                    col(&batch, "TimeUnix").as_primitive::<TimestampNanosecondType>().value(r),
                    buckets.as_primitive::<UInt64Type>().values().to_vec(),
                    bounds.as_primitive::<Float64Type>().values().to_vec(),
                    opt("Sum"),
                    opt("Min"),
                )
            })
            .collect();
        let mut expected: Vec<HistogramRow> = sent
            .iter()
            .map(|p| (p.time_unix_nano as i64, p.bucket_counts.clone(), p.explicit_bounds.clone(), p.sum, p.min))
            .collect();
        let order = |a: &HistogramRow, b: &HistogramRow| {
            format!("{a:?}").cmp(&format!("{b:?}"))
        };
        read.sort_by(order);
        expected.sort_by(order);
        prop_assert_eq!(read, expected);
        prop_assert!((0..batch.num_rows()).all(|r| string(&batch, "MetricName", r) == "latency"));
    }
}

/// In the file itself, the keys and values of a resource's and a span's
/// attributes each have a dictionary page.
#[test]
fn attribute_maps_are_written_with_dictionaries() {
    let resource = Arc::new(resource("checkout"));
    let scope = Arc::new(ScopeContext::default());
    let mut builder = TraceBatchBuilder::new();
    for i in 0..50u8 {
        let span = Span {
            trace_id: vec![i; 16],
            span_id: vec![i; 8],
            name: "GET /".into(),
            start_time_unix_nano: 1_700_000_000_000_000_000 + u64::from(i),
            end_time_unix_nano: 1_700_000_000_000_000_100 + u64::from(i),
            attributes: vec![KeyValue {
                key: "http.route".into(),
                value: Some(AnyValue {
                    value: Some(Value::StringValue("/".into())),
                }),
                ..Default::default()
            }],
            ..Default::default()
        };
        builder.append(&resource, &scope, &SpanView::parse(&span.encode_to_vec()));
    }
    let batch = sort_batch(Table::Traces, &builder.finish()).unwrap();
    let properties = writer_properties(Table::Traces, 1000, 3, vec![]);
    let bytes = encode_parquet(Table::Traces, &batch, properties).unwrap();
    let reader = ParquetRecordBatchReaderBuilder::try_new(Bytes::from(bytes)).unwrap();
    let has_dictionary = |path: &str| {
        let chunk = reader
            .metadata()
            .row_group(0)
            .columns()
            .iter()
            .find(|c| c.column_path().string() == path);
        chunk
            .unwrap_or_else(|| panic!("{path} is a column"))
            .dictionary_page_offset()
            .is_some()
    };
    for map in ["ResourceAttributes", "SpanAttributes"] {
        for leaf in ["key", "value"] {
            assert!(has_dictionary(&format!("{map}.key_value.{leaf}")));
        }
    }
}
