//! Each table's row holds what its point says: the metrics of one request,
//! one of each type, read in place and appended as a shard appends them.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{Float64Type, Int32Type, TimestampNanosecondType, UInt32Type, UInt64Type};

use super::wire::WireMetrics;
use crate::batch::BatchBuilder;
use crate::context::{ResourceContext, ScopeContext};
use crate::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use crate::otlp::common::v1::{AnyValue, KeyValue, any_value};
use crate::otlp::metrics::v1::exponential_histogram_data_point::Buckets;
use crate::otlp::metrics::v1::metric::Data;
use crate::otlp::metrics::v1::summary_data_point::ValueAtQuantile;
use crate::otlp::metrics::v1::{
    Exemplar, ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram,
    HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, Summary,
    SummaryDataPoint, exemplar, number_data_point,
};
use crate::schema::plain_batch;

fn attribute(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn metric(name: &str, data: Data) -> Metric {
    Metric {
        name: name.into(),
        description: format!("{name} described"),
        unit: "ms".into(),
        data: Some(data),
        ..Default::default()
    }
}

/// The request: a gauge with an exemplar, a sum, a histogram, an
/// exponential histogram and a summary, one point each, at times 10-50 s.
fn request() -> ExportMetricsServiceRequest {
    let second = 1_000_000_000;
    let attributes = vec![
        attribute("k", any_value::Value::StringValue("v".into())),
        attribute("n", any_value::Value::IntValue(3)),
    ];
    let gauge = NumberDataPoint {
        attributes: attributes.clone(),
        start_time_unix_nano: 5 * second,
        time_unix_nano: 10 * second,
        value: Some(number_data_point::Value::AsInt(7)),
        flags: 1,
        exemplars: vec![Exemplar {
            filtered_attributes: vec![attribute("x", any_value::Value::StringValue("y".into()))],
            time_unix_nano: 9 * second,
            value: Some(exemplar::Value::AsDouble(2.5)),
            span_id: vec![0xab; 8],
            trace_id: vec![0xcd; 16],
        }],
    };
    let sum = NumberDataPoint {
        time_unix_nano: 20 * second,
        value: Some(number_data_point::Value::AsDouble(1.5)),
        ..Default::default()
    };
    let histogram = HistogramDataPoint {
        attributes,
        time_unix_nano: 30 * second,
        count: 3,
        sum: Some(6.0),
        bucket_counts: vec![1, 2],
        explicit_bounds: vec![10.0],
        min: Some(1.0),
        max: Some(4.0),
        ..Default::default()
    };
    let exponential = ExponentialHistogramDataPoint {
        time_unix_nano: 40 * second,
        count: 4,
        scale: 2,
        zero_count: 1,
        positive: Some(Buckets {
            offset: 1,
            bucket_counts: vec![1, 2],
        }),
        zero_threshold: 0.5,
        ..Default::default()
    };
    let summary = SummaryDataPoint {
        time_unix_nano: 50 * second,
        count: 2,
        sum: 3.0,
        quantile_values: vec![
            ValueAtQuantile {
                quantile: 0.5,
                value: 1.0,
            },
            ValueAtQuantile {
                quantile: 1.0,
                value: 2.0,
            },
        ],
        ..Default::default()
    };
    let metrics = vec![
        metric(
            "gauge",
            Data::Gauge(Gauge {
                data_points: vec![gauge],
            }),
        ),
        metric(
            "sum",
            Data::Sum(Sum {
                data_points: vec![sum],
                aggregation_temporality: 1,
                is_monotonic: true,
            }),
        ),
        metric(
            "histogram",
            Data::Histogram(Histogram {
                data_points: vec![histogram],
                aggregation_temporality: 2,
            }),
        ),
        metric(
            "exponential",
            Data::ExponentialHistogram(ExponentialHistogram {
                data_points: vec![exponential],
                aggregation_temporality: 1,
            }),
        ),
        metric(
            "summary",
            Data::Summary(Summary {
                data_points: vec![summary],
            }),
        ),
    ];
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// Each metric's row, as a file of it reads back, in request order.
fn rows() -> Vec<RecordBatch> {
    let metrics = WireMetrics::from_request(&request());
    let resource = Arc::new(ResourceContext::new(None, ""));
    let scope = Arc::new(ScopeContext::default());
    metrics
        .metrics()
        .map(|metric| {
            let table = metric.metric.table().expect("a metric with data");
            let mut builder = BatchBuilder::new(table).expect("a metric table");
            for point in metric.points() {
                assert!(builder.append_point(&resource, &scope, &metric, &point));
            }
            plain_batch(&builder.finish()).expect("casts")
        })
        .collect()
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> &'a ArrayRef {
    batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("{name} in {:?}", batch.schema()))
}

fn f64_at(batch: &RecordBatch, name: &str) -> Option<f64> {
    let values = column(batch, name).as_primitive::<Float64Type>();
    values.is_valid(0).then(|| values.value(0))
}

fn u64s(list: &ArrayRef) -> Vec<u64> {
    list.as_list::<i32>()
        .value(0)
        .as_primitive::<UInt64Type>()
        .values()
        .to_vec()
}

fn f64s(list: &ArrayRef) -> Vec<f64> {
    list.as_list::<i32>()
        .value(0)
        .as_primitive::<Float64Type>()
        .values()
        .to_vec()
}

/// The entries of row 0 of a map column.
fn entries(map: &ArrayRef) -> Vec<(String, String)> {
    let entries = map.as_map().value(0);
    let (keys, values) = (
        entries.column(0).as_string::<i32>(),
        entries.column(1).as_string::<i32>(),
    );
    (0..keys.len())
        .map(|i| (keys.value(i).to_owned(), values.value(i).to_owned()))
        .collect()
}

#[test]
fn each_row_holds_what_its_point_says() {
    let [gauge, sum, histogram, exponential, summary] = &rows()[..] else {
        panic!("a row for each metric");
    };
    let second = 1_000_000_000;
    let time = |batch: &RecordBatch, name: &str| {
        column(batch, name)
            .as_primitive::<TimestampNanosecondType>()
            .value(0)
    };
    for (batch, name) in [
        (gauge, "gauge"),
        (sum, "sum"),
        (histogram, "histogram"),
        (exponential, "exponential"),
        (summary, "summary"),
    ] {
        assert_eq!(batch.num_rows(), 1);
        let text = |column_name: &str| column(batch, column_name).as_string::<i32>().value(0);
        assert_eq!(text("MetricName"), name);
        assert_eq!(text("MetricDescription"), format!("{name} described"));
        assert_eq!(text("MetricUnit"), "ms");
    }
    let attributes = [("k".to_owned(), "v".to_owned()), ("n".into(), "3".into())];
    assert_eq!(entries(column(gauge, "Attributes")), attributes);
    assert_eq!(entries(column(histogram, "Attributes")), attributes);
    assert!(entries(column(sum, "Attributes")).is_empty());

    assert_eq!(time(gauge, "StartTimeUnix"), 5 * second);
    assert_eq!(time(gauge, "TimeUnix"), 10 * second);
    assert_eq!(f64_at(gauge, "Value"), Some(7.0));
    assert_eq!(
        column(gauge, "Flags").as_primitive::<UInt32Type>().value(0),
        1
    );
    let exemplars = column(gauge, "Exemplars").as_struct();
    let field = |name: &str| exemplars.column_by_name(name).expect("an exemplar field");
    assert_eq!(f64s(field("Value")), [2.5]);
    let ids = |name: &str| {
        let list = field(name).as_list::<i32>().value(0);
        list.as_string::<i32>().value(0).to_owned()
    };
    assert_eq!(ids("SpanId"), "ab".repeat(8));
    assert_eq!(ids("TraceId"), "cd".repeat(16));
    let times = field("TimeUnix").as_list::<i32>().value(0);
    assert_eq!(
        times.as_primitive::<TimestampNanosecondType>().value(0),
        9 * second
    );
    let filtered = field("FilteredAttributes").as_list::<i32>().value(0);
    assert_eq!(entries(&filtered), [("x".to_owned(), "y".to_owned())]);
    assert!(
        column(sum, "Exemplars")
            .as_struct()
            .column(0)
            .as_list::<i32>()
            .value(0)
            .is_empty(),
        "a point without exemplars has an empty list"
    );

    assert_eq!(time(sum, "TimeUnix"), 20 * second);
    assert_eq!(f64_at(sum, "Value"), Some(1.5));
    let temporality = |batch: &RecordBatch| {
        column(batch, "AggregationTemporality")
            .as_primitive::<Int32Type>()
            .value(0)
    };
    assert_eq!(temporality(sum), 1);
    assert!(column(sum, "IsMonotonic").as_boolean().value(0));

    assert_eq!(time(histogram, "TimeUnix"), 30 * second);
    assert_eq!(
        column(histogram, "Count")
            .as_primitive::<UInt64Type>()
            .value(0),
        3
    );
    assert_eq!(
        (
            f64_at(histogram, "Sum"),
            f64_at(histogram, "Min"),
            f64_at(histogram, "Max")
        ),
        (Some(6.0), Some(1.0), Some(4.0))
    );
    assert_eq!(u64s(column(histogram, "BucketCounts")), [1, 2]);
    assert_eq!(f64s(column(histogram, "ExplicitBounds")), [10.0]);
    assert_eq!(temporality(histogram), 2);

    assert_eq!(time(exponential, "TimeUnix"), 40 * second);
    assert_eq!(
        column(exponential, "Scale")
            .as_primitive::<Int32Type>()
            .value(0),
        2
    );
    assert_eq!(
        column(exponential, "ZeroCount")
            .as_primitive::<UInt64Type>()
            .value(0),
        1
    );
    assert_eq!(
        column(exponential, "PositiveOffset")
            .as_primitive::<Int32Type>()
            .value(0),
        1
    );
    assert_eq!(u64s(column(exponential, "PositiveBucketCounts")), [1, 2]);
    assert!(u64s(column(exponential, "NegativeBucketCounts")).is_empty());
    assert_eq!(f64_at(exponential, "ZeroThreshold"), Some(0.5));
    assert_eq!(f64_at(exponential, "Sum"), None);
    assert_eq!(temporality(exponential), 1);

    assert_eq!(time(summary, "TimeUnix"), 50 * second);
    assert_eq!(
        column(summary, "Count")
            .as_primitive::<UInt64Type>()
            .value(0),
        2
    );
    assert_eq!(f64_at(summary, "Sum"), Some(3.0));
    let quantiles = column(summary, "ValueAtQuantiles").as_struct();
    assert_eq!(f64s(quantiles.column(0)), [0.5, 1.0]);
    assert_eq!(f64s(quantiles.column(1)), [1.0, 2.0]);
}
