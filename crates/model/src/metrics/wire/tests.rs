//! `prost` is the oracle: the index must keep what the rules, applied to
//! what `prost` decodes, keep (the rules restated on the messages below, as
//! they were applied before metrics were indexed in place), and refuse
//! exactly the bodies `prost` refuses.

use std::fmt::Write;

use proptest::collection::vec;
use proptest::prelude::*;

use super::*;
use crate::metrics::points::{PointCommon, PointView};
use crate::otlp::common::v1::KeyValue;
use crate::otlp::metrics::v1::exponential_histogram_data_point::Buckets;
use crate::otlp::metrics::v1::summary_data_point::ValueAtQuantile;
use crate::otlp::metrics::v1::{
    Exemplar, ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram,
    HistogramDataPoint, NumberDataPoint, Sum, Summary, SummaryDataPoint, exemplar,
    number_data_point,
};
use crate::protowire::check;
use crate::traces::wire::tests::{edits, id, key_value, mutated, requests, time};

fn time_fits(nanos: u64) -> bool {
    i64::try_from(nanos).is_ok()
}

fn check_exemplars(exemplars: &[Exemplar]) -> Result<(), String> {
    for e in exemplars {
        if !(e.trace_id.is_empty() || e.trace_id.len() == 16)
            || !(e.span_id.is_empty() || e.span_id.len() == 8)
        {
            return Err(format!(
                "exemplar ids must be empty or 16 (trace) and 8 (span) bytes, got {} and {} bytes",
                e.trace_id.len(),
                e.span_id.len()
            ));
        }
        if !time_fits(e.time_unix_nano) {
            return Err("exemplar timestamp beyond the year 2262".to_owned());
        }
    }
    Ok(())
}

fn check_times(start: u64, time: u64) -> Result<(), String> {
    if time_fits(start) && time_fits(time) {
        Ok(())
    } else {
        Err("timestamp beyond the year 2262".to_owned())
    }
}

fn check_histogram(p: &HistogramDataPoint) -> Result<(), String> {
    if !p.bucket_counts.is_empty() && p.bucket_counts.len() != p.explicit_bounds.len() + 1 {
        return Err(format!(
            "histogram has {} bucket counts for {} explicit bounds, expected {}",
            p.bucket_counts.len(),
            p.explicit_bounds.len(),
            p.explicit_bounds.len() + 1
        ));
    }
    check_times(p.start_time_unix_nano, p.time_unix_nano)?;
    check_exemplars(&p.exemplars)
}

/// Keeps the points of `points` that `check` accepts, recording the others.
fn retain_points<P>(
    metric_name: &str,
    points: &mut Vec<P>,
    rejected: &mut Rejected,
    check: impl Fn(&P) -> Result<(), String>,
) {
    points.retain(|p| match check(p) {
        Ok(()) => true,
        Err(reason) => {
            rejected.reject(1, || format!("metric {metric_name:?}: {reason}"));
            false
        }
    });
    rejected.accepted += points.len() as i64;
}

fn retain_valid_points(metric: &mut Metric, rejected: &mut Rejected) {
    let name = metric.name.clone();
    match &mut metric.data {
        Some(Data::Gauge(g)) => retain_points(&name, &mut g.data_points, rejected, |p| {
            check_times(p.start_time_unix_nano, p.time_unix_nano)?;
            check_exemplars(&p.exemplars)
        }),
        Some(Data::Sum(s)) => retain_points(&name, &mut s.data_points, rejected, |p| {
            check_times(p.start_time_unix_nano, p.time_unix_nano)?;
            check_exemplars(&p.exemplars)
        }),
        Some(Data::Histogram(h)) => {
            retain_points(&name, &mut h.data_points, rejected, check_histogram)
        }
        Some(Data::ExponentialHistogram(h)) => {
            retain_points(&name, &mut h.data_points, rejected, |p| {
                check_times(p.start_time_unix_nano, p.time_unix_nano)?;
                check_exemplars(&p.exemplars)
            })
        }
        Some(Data::Summary(s)) => retain_points(&name, &mut s.data_points, rejected, |p| {
            check_times(p.start_time_unix_nano, p.time_unix_nano)
        }),
        None => {}
    }
}

/// Removes invalid data points (and metrics without a name or data) from `request`.
fn retain_valid_metrics(request: &mut ExportMetricsServiceRequest) -> Rejected {
    let mut rejected = Rejected::default();
    for resource in &mut request.resource_metrics {
        for scope in &mut resource.scope_metrics {
            scope.metrics.retain_mut(|metric| {
                if metric.name.is_empty() {
                    let points = validate::point_count(metric) as i64;
                    rejected.reject(points, || "metric without a name".to_owned());
                    return false;
                }
                if metric.data.is_none() {
                    let mut reason = String::new();
                    let _ = write!(reason, "metric {:?} has no data", metric.name);
                    rejected.note(|| reason);
                    return false;
                }
                retain_valid_points(metric, &mut rejected);
                true
            });
        }
    }
    rejected
}

fn exemplar() -> impl Strategy<Value = Exemplar> {
    (
        vec(key_value(), 0..2),
        time(),
        prop_oneof![Just(vec![]), id(8)],
        prop_oneof![Just(vec![]), id(16)],
        proptest::option::of(prop_oneof![
            any::<f64>().prop_map(exemplar::Value::AsDouble),
            any::<i64>().prop_map(exemplar::Value::AsInt),
        ]),
    )
        .prop_map(
            |(filtered_attributes, time_unix_nano, span_id, trace_id, value)| Exemplar {
                filtered_attributes,
                time_unix_nano,
                span_id,
                trace_id,
                value,
            },
        )
}

fn number_point() -> impl Strategy<Value = NumberDataPoint> {
    (
        vec(key_value(), 0..3),
        time(),
        time(),
        vec(exemplar(), 0..2),
        any::<u32>(),
        proptest::option::of(prop_oneof![
            any::<f64>().prop_map(number_data_point::Value::AsDouble),
            any::<i64>().prop_map(number_data_point::Value::AsInt),
        ]),
    )
        .prop_map(
            |(attributes, start_time_unix_nano, time_unix_nano, exemplars, flags, value)| {
                NumberDataPoint {
                    attributes,
                    start_time_unix_nano,
                    time_unix_nano,
                    exemplars,
                    flags,
                    value,
                }
            },
        )
}

fn histogram_point() -> impl Strategy<Value = HistogramDataPoint> {
    (
        (vec(key_value(), 0..3), time(), time(), any::<u64>()),
        (
            proptest::option::of(any::<f64>()),
            0..4usize,
            prop_oneof![3 => Just(None), 1 => (0..5usize).prop_map(Some)],
        ),
        (vec(exemplar(), 0..2), any::<u32>()),
    )
        .prop_map(
            |((attributes, start, time, count), (sum, bounds, buckets), (exemplars, flags))| {
                HistogramDataPoint {
                    attributes,
                    start_time_unix_nano: start,
                    time_unix_nano: time,
                    count,
                    sum,
                    bucket_counts: vec![1; buckets.unwrap_or(bounds + 1)],
                    explicit_bounds: (0..bounds).map(|b| b as f64).collect(),
                    exemplars,
                    flags,
                    min: sum,
                    max: None,
                }
            },
        )
}

fn buckets() -> impl Strategy<Value = Option<Buckets>> {
    proptest::option::of((any::<i32>(), vec(any::<u64>(), 0..4)).prop_map(
        |(offset, bucket_counts)| Buckets {
            offset,
            bucket_counts,
        },
    ))
}

fn exponential_point() -> impl Strategy<Value = ExponentialHistogramDataPoint> {
    (
        (vec(key_value(), 0..3), time(), time(), any::<u64>()),
        (any::<i32>(), any::<u64>(), buckets(), buckets()),
        (
            vec(exemplar(), 0..2),
            proptest::option::of(any::<f64>()),
            any::<f64>(),
        ),
    )
        .prop_map(
            |(
                (attributes, start, time, count),
                (scale, zero_count, positive, negative),
                (exemplars, sum, zero_threshold),
            )| ExponentialHistogramDataPoint {
                attributes,
                start_time_unix_nano: start,
                time_unix_nano: time,
                count,
                sum,
                scale,
                zero_count,
                positive,
                negative,
                flags: 0,
                exemplars,
                min: sum,
                max: None,
                zero_threshold,
            },
        )
}

fn summary_point() -> impl Strategy<Value = SummaryDataPoint> {
    (
        vec(key_value(), 0..3),
        time(),
        time(),
        any::<u64>(),
        vec((any::<f64>(), any::<f64>()), 0..3),
    )
        .prop_map(
            |(attributes, start, time, count, quantiles)| SummaryDataPoint {
                attributes,
                start_time_unix_nano: start,
                time_unix_nano: time,
                count,
                sum: 1.5,
                quantile_values: quantiles
                    .into_iter()
                    .map(|(quantile, value)| ValueAtQuantile { quantile, value })
                    .collect(),
                flags: 0,
            },
        )
}

fn data() -> impl Strategy<Value = Option<Data>> {
    proptest::option::weighted(
        0.9,
        prop_oneof![
            vec(number_point(), 0..3).prop_map(|data_points| Data::Gauge(Gauge { data_points })),
            (vec(number_point(), 0..3), 0..3i32, any::<bool>()).prop_map(
                |(data_points, aggregation_temporality, is_monotonic)| Data::Sum(Sum {
                    data_points,
                    aggregation_temporality,
                    is_monotonic,
                })
            ),
            (vec(histogram_point(), 0..3), 0..3i32).prop_map(
                |(data_points, aggregation_temporality)| Data::Histogram(Histogram {
                    data_points,
                    aggregation_temporality,
                })
            ),
            (vec(exponential_point(), 0..3), 0..3i32).prop_map(
                |(data_points, aggregation_temporality)| {
                    Data::ExponentialHistogram(ExponentialHistogram {
                        data_points,
                        aggregation_temporality,
                    })
                }
            ),
            vec(summary_point(), 0..3)
                .prop_map(|data_points| Data::Summary(Summary { data_points })),
        ],
    )
}

fn metric() -> impl Strategy<Value = Metric> {
    (
        prop_oneof![4 => "[a-z.]{1,8}", 1 => Just(String::new())],
        "[a-z ]{0,6}",
        "[a-zA-Z/{}]{0,3}",
        data(),
        vec(key_value(), 0..2),
    )
        .prop_map(|(name, description, unit, data, metadata)| Metric {
            name,
            description,
            unit,
            metadata,
            data,
        })
}

fn request() -> impl Strategy<Value = ExportMetricsServiceRequest> {
    requests::<Metrics, _>(metric())
        .prop_map(|resource_metrics| ExportMetricsServiceRequest { resource_metrics })
}

/// Asserts that indexing `body` keeps and rejects what the rules keep and
/// reject of `prost`'s decoding of it.
fn assert_kept_as_the_rules_keep(body: &[u8]) -> Result<(), TestCaseError> {
    let metrics = WireMetrics::index(Bytes::copy_from_slice(body)).expect("prost decodes it");
    let mut expected = ExportMetricsServiceRequest::decode(body).expect("valid");
    let rejected = retain_valid_metrics(&mut expected);
    // The index's message leaves out the resources and scopes left
    // without metrics.
    for resource in &mut expected.resource_metrics {
        resource.scope_metrics.retain(|s| !s.metrics.is_empty());
    }
    expected
        .resource_metrics
        .retain(|r| !r.scope_metrics.is_empty());
    prop_assert_eq!(metrics.rejected(), &rejected);
    prop_assert_eq!(&metrics.to_request(), &expected);
    prop_assert_eq!(metrics.points() as i64, rejected.accepted);
    assert_views_read_what_prost_decodes(&metrics, &expected)
}

/// Asserts that the shards' views of the kept metrics and points read what
/// `prost` decodes of them (`expected`, the rules applied).
fn assert_views_read_what_prost_decodes(
    metrics: &WireMetrics,
    expected: &ExportMetricsServiceRequest,
) -> Result<(), TestCaseError> {
    let expected: Vec<&Metric> = expected
        .resource_metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .collect();
    let views: Vec<WireMetric> = metrics.metrics().collect();
    prop_assert_eq!(views.len(), expected.len());
    for (view, metric) in views.iter().zip(expected) {
        let read = &view.metric;
        prop_assert_eq!(read.name, &metric.name);
        prop_assert_eq!(read.description, &metric.description);
        prop_assert_eq!(read.unit, &metric.unit);
        let points: Vec<PointView> = view.points().collect();
        let data = DataFields {
            aggregation_temporality: match &metric.data {
                Some(Data::Sum(s)) => s.aggregation_temporality,
                Some(Data::Histogram(h)) => h.aggregation_temporality,
                Some(Data::ExponentialHistogram(h)) => h.aggregation_temporality,
                _ => 0,
            },
            is_monotonic: matches!(&metric.data, Some(Data::Sum(s)) if s.is_monotonic),
        };
        prop_assert_eq!(view.data, data);
        match &metric.data {
            Some(Data::Gauge(Gauge { data_points }) | Data::Sum(Sum { data_points, .. })) => {
                prop_assert_eq!(points.len(), data_points.len());
                for (point, p) in points.iter().zip(data_points) {
                    let PointView::Number(read) = point else {
                        return Err(TestCaseError::fail("a number point"));
                    };
                    assert_common(&read.common, &p.attributes, &p.exemplars, p)?;
                    let value = p.value.map(|v| match v {
                        number_data_point::Value::AsDouble(d) => d,
                        number_data_point::Value::AsInt(i) => i as f64,
                    });
                    prop_assert_eq!(read.value.map(f64::to_bits), value.map(f64::to_bits));
                    prop_assert_eq!(read.flags, p.flags);
                }
            }
            Some(Data::Histogram(h)) => {
                prop_assert_eq!(points.len(), h.data_points.len());
                for (point, p) in points.iter().zip(&h.data_points) {
                    let PointView::Histogram(read) = point else {
                        return Err(TestCaseError::fail("a histogram point"));
                    };
                    assert_common(&read.common, &p.attributes, &p.exemplars, p)?;
                    prop_assert_eq!(read.count, p.count);
                    let bits = |v: Option<f64>| v.map(f64::to_bits);
                    prop_assert_eq!(bits(read.sum), bits(p.sum));
                    prop_assert_eq!(bits(read.min), bits(p.min));
                    prop_assert_eq!(bits(read.max), bits(p.max));
                    prop_assert_eq!(read.flags, p.flags);
                    prop_assert_eq!(
                        read.bucket_counts().collect::<Vec<_>>(),
                        p.bucket_counts.clone()
                    );
                    let bounds: Vec<u64> = read.explicit_bounds().map(f64::to_bits).collect();
                    let expected: Vec<u64> =
                        p.explicit_bounds.iter().map(|b| b.to_bits()).collect();
                    prop_assert_eq!(bounds, expected);
                }
            }
            Some(Data::ExponentialHistogram(h)) => {
                prop_assert_eq!(points.len(), h.data_points.len());
                for (point, p) in points.iter().zip(&h.data_points) {
                    let PointView::ExponentialHistogram(read) = point else {
                        return Err(TestCaseError::fail("an exponential histogram point"));
                    };
                    assert_common(&read.common, &p.attributes, &p.exemplars, p)?;
                    prop_assert_eq!(read.point.encode_to_vec(), p.encode_to_vec());
                }
            }
            Some(Data::Summary(s)) => {
                prop_assert_eq!(points.len(), s.data_points.len());
                for (point, p) in points.iter().zip(&s.data_points) {
                    let PointView::Summary(read) = point else {
                        return Err(TestCaseError::fail("a summary point"));
                    };
                    assert_common(&read.common, &p.attributes, &[], p)?;
                    prop_assert_eq!(read.point.encode_to_vec(), p.encode_to_vec());
                }
            }
            None => prop_assert!(false, "a kept metric has data"),
        }
    }
    Ok(())
}

/// Asserts that a point's common fields read what `prost` decodes of
/// `point`, whose attributes and exemplars are given.
fn assert_common<P: prost::Message>(
    read: &PointCommon,
    attributes: &[KeyValue],
    exemplars: &[Exemplar],
    point: &P,
) -> Result<(), TestCaseError> {
    // Every point type holds its times in fields 2 and 3.
    let mut times = (0, 0);
    for (tag, value) in crate::protowire::Fields::new(&point.encode_to_vec()) {
        match tag {
            2 => times.0 = value.int(),
            3 => times.1 = value.int(),
            _ => {}
        }
    }
    prop_assert_eq!((read.start_time_unix_nano, read.time_unix_nano), times);
    let read_attributes: Vec<KeyValue> = read
        .attributes()
        .map(|kv| KeyValue::decode(kv).expect("checked"))
        .collect();
    prop_assert_eq!(read_attributes, attributes.to_vec());
    let read_exemplars: Vec<Exemplar> = read
        .exemplars()
        .map(|e| Exemplar::decode(e).expect("checked"))
        .collect();
    prop_assert_eq!(read_exemplars, exemplars.to_vec());
    Ok(())
}

/// Packed and unpacked repeated fields, and runs of the wrong size: read,
/// and refused, as `prost` reads and refuses them.
#[test]
fn repeated_scalars_are_read_packed_or_not() {
    use prost::encoding::{WireType, encode_key, encode_varint};
    let mut point = Vec::new();
    // bucket_counts: one packed run of two, then one unpacked value.
    encode_key(6, WireType::LengthDelimited, &mut point);
    encode_varint(16, &mut point);
    point.extend(1u64.to_le_bytes());
    point.extend(2u64.to_le_bytes());
    encode_key(6, WireType::SixtyFourBit, &mut point);
    point.extend(3u64.to_le_bytes());
    // explicit_bounds: two unpacked values.
    for bound in [1.0f64, 2.0] {
        encode_key(7, WireType::SixtyFourBit, &mut point);
        point.extend(bound.to_le_bytes());
    }
    let decoded = HistogramDataPoint::decode(&point[..]).expect("valid");
    assert_eq!(decoded.bucket_counts, [1, 2, 3]);
    assert_eq!(check(&point, &schema::HISTOGRAM_DATA_POINT, 0), Ok(()));
    assert_eq!(crate::protowire::fixed64_count(&point, 6), 3);
    assert_eq!(crate::protowire::fixed64_count(&point, 7), 2);
    assert_eq!(validate::check_point(HISTOGRAM, &point), Ok(()));
    let read = crate::metrics::points::HistogramPoint::read(&point);
    assert_eq!(read.bucket_counts().collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(read.explicit_bounds().collect::<Vec<_>>(), [1.0, 2.0]);
    // A packed run of 7 bytes, and a varint run cut short.
    let mut bad = Vec::new();
    encode_key(6, WireType::LengthDelimited, &mut bad);
    encode_varint(7, &mut bad);
    bad.extend([0; 7]);
    assert!(HistogramDataPoint::decode(&bad[..]).is_err());
    assert!(check(&bad, &schema::HISTOGRAM_DATA_POINT, 0).is_err());
    let mut cut = Vec::new();
    encode_key(2, WireType::LengthDelimited, &mut cut);
    encode_varint(2, &mut cut);
    cut.extend([0x01, 0x80]);
    assert!(Buckets::decode(&cut[..]).is_err());
    assert!(check(&cut, &schema::BUCKETS, 0).is_err());
    cut[3] = 0x7f;
    assert_eq!(
        Buckets::decode(&cut[..]).map(|b| b.bucket_counts).ok(),
        Some(vec![1, 0x7f])
    );
    assert_eq!(check(&cut, &schema::BUCKETS, 0), Ok(()));
}

/// A metric field of `name`, `first` and `second` encoded one after the
/// other, in a request of its own.
fn merged_request(first: &Metric, second: &Metric, name: &str) -> Vec<u8> {
    let mut metric = first.encode_to_vec();
    second.encode(&mut metric).expect("a vector grows");
    prost::encoding::string::encode(1, &name.to_owned(), &mut metric);
    let mut scope = Vec::new();
    prost::encoding::bytes::encode(2, &metric, &mut scope);
    let mut resource = Vec::new();
    prost::encoding::bytes::encode(2, &scope, &mut resource);
    let mut body = Vec::new();
    prost::encoding::bytes::encode(1, &resource, &mut body);
    body
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn indexing_keeps_what_the_rules_keep(request in request()) {
        assert_kept_as_the_rules_keep(&request.encode_to_vec())?;
    }

    #[test]
    fn data_fields_merge_and_replace_as_prost_merges_them(
        first in metric(),
        second in metric(),
        name in "[a-z]{0,4}",
    ) {
        // prost keeps the last name, merges the data when both are of one
        // type and keeps the second's otherwise.
        assert_kept_as_the_rules_keep(&merged_request(&first, &second, &name))?;
    }

    #[test]
    fn shares_hold_every_metric_once_by_resource(request in request(), parts in 1..5usize) {
        let metrics = WireMetrics::from_request(&request);
        let points = metrics.points();
        let mut all: Vec<Vec<u8>> = metrics.metrics().map(|m| m.metric.bytes().to_vec()).collect();
        let part_of =
            |resource: Option<&Resource>| resource.map_or(0, |r| r.attributes.len()) % parts;
        let shares = metrics.partition(parts, part_of);
        let mut seen = Vec::new();
        let mut seen_points = 0;
        for (part, share) in &shares {
            prop_assert!(!share.is_empty());
            prop_assert_eq!(share.rejected().accepted as usize, share.points());
            seen_points += share.points();
            for m in share.metrics() {
                let (resource, _) = share.contexts().resource(share.body(), m.resource);
                prop_assert_eq!(part_of(resource.as_ref()), *part);
                seen.push(m.metric.bytes().to_vec());
            }
        }
        prop_assert_eq!(seen_points, points);
        all.sort();
        seen.sort();
        prop_assert_eq!(seen, all);
    }

    #[test]
    fn indexing_refuses_exactly_what_prost_refuses(
        request in request(),
        edits in edits(),
    ) {
        let body = mutated(request.encode_to_vec(), &edits);
        let indexed = WireMetrics::index(Bytes::from(body.clone()));
        let decoded = ExportMetricsServiceRequest::decode(&body[..]);
        prop_assert_eq!(indexed.is_ok(), decoded.is_ok(), "{:?}", indexed.as_ref().err());
        // The index checks as it reads, and reports the fault `check` does.
        let checked = check(&body, &schema::EXPORT_METRICS_REQUEST, 0);
        prop_assert_eq!(indexed.as_ref().err(), checked.as_ref().err());
        if decoded.is_ok() {
            assert_kept_as_the_rules_keep(&body)?;
        }
    }
}
