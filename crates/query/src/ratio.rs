//! Ratio SLIs: good and total events from metric counters (`otel_metrics_sum`),
//! selected by metric name and attributes.
//!
//! Events are the increments of each counter series per minute of its point
//! time: a delta point is its own increment; a cumulative point adds what the
//! series grew since its previous point (after a reset — a new start time or a
//! lower value — what it counted since the reset). The first point of a
//! cumulative series counts whole only if the series started inside the range
//! read; otherwise it only sets the baseline.

use std::collections::BTreeMap;

use datafusion::arrow::array::{Array, AsArray, MapArray, RecordBatch};
use datafusion::arrow::datatypes::{Float64Type, Int32Type, TimestampNanosecondType};
use sluice_model::Tenant;
use sluice_model::time::PartitionHour;
use sluice_slo::{EventCounts, MetricSelector, Minute};

use crate::sql::{QueryError, SqlEngine};

/// `AggregationTemporality` of a delta sum.
const DELTA: i32 = 1;

/// One counter point.
#[derive(Debug)]
struct Point {
    series: String,
    metric: String,
    attributes: BTreeMap<String, String>,
    start: i64,
    time: i64,
    value: f64,
    temporality: i32,
}

fn matches(selector: &MetricSelector, point: &Point) -> bool {
    selector.metric == point.metric
        && selector
            .attributes
            .iter()
            .all(|(k, v)| point.attributes.get(k) == Some(v))
}

fn map_at(map: &MapArray, row: usize) -> BTreeMap<String, String> {
    let entries = map.value(row);
    let text = |column: usize, i: usize| -> String {
        let array = entries.column(column);
        array
            .as_string_opt::<i32>()
            .map(|a| a.value(i).to_owned())
            .or_else(|| array.as_string_view_opt().map(|a| a.value(i).to_owned()))
            .unwrap_or_default()
    };
    (0..entries.len())
        .map(|i| (text(0, i), text(1, i)))
        .collect()
}

fn read_points(batch: &RecordBatch, points: &mut Vec<Point>) -> Result<(), QueryError> {
    let bad =
        |what: &str| QueryError::Internal(format!("otel_metrics_sum: unexpected column {what}"));
    let metric = batch.column(0);
    let attributes = batch
        .column(1)
        .as_map_opt()
        .ok_or_else(|| bad("Attributes"))?;
    let resource = batch
        .column(2)
        .as_map_opt()
        .ok_or_else(|| bad("ResourceAttributes"))?;
    let start = batch
        .column(3)
        .as_primitive_opt::<TimestampNanosecondType>()
        .ok_or_else(|| bad("StartTimeUnix"))?;
    let time = batch
        .column(4)
        .as_primitive_opt::<TimestampNanosecondType>()
        .ok_or_else(|| bad("TimeUnix"))?;
    let value = batch
        .column(5)
        .as_primitive_opt::<Float64Type>()
        .ok_or_else(|| bad("Value"))?;
    let temporality = batch
        .column(6)
        .as_primitive_opt::<Int32Type>()
        .ok_or_else(|| bad("AggregationTemporality"))?;
    for i in 0..batch.num_rows() {
        let name = metric
            .as_string_opt::<i32>()
            .map(|a| a.value(i).to_owned())
            .or_else(|| metric.as_string_view_opt().map(|a| a.value(i).to_owned()))
            .ok_or_else(|| bad("MetricName"))?;
        let attrs = map_at(attributes, i);
        let series = format!("{name}\u{0}{attrs:?}\u{0}{:?}", map_at(resource, i));
        points.push(Point {
            series,
            metric: name,
            attributes: attrs,
            start: start.value(i),
            time: time.value(i),
            value: value.value(i),
            temporality: temporality.value(i),
        });
    }
    Ok(())
}

/// Good and valid events per minute from `oldest` on.
pub(crate) async fn ratio_counts(
    sql: &SqlEngine,
    tenant: &Tenant,
    service: &str,
    good: &MetricSelector,
    total: &MetricSelector,
    oldest: Minute,
) -> Result<BTreeMap<Minute, EventCounts>, QueryError> {
    let (y, m, d, _) = PartitionHour::of_nanos(oldest.start_nanos()).civil();
    let quote = |s: &str| s.replace('\'', "''");
    let query = format!(
        "SELECT \"MetricName\", \"Attributes\", \"ResourceAttributes\", \"StartTimeUnix\", \"TimeUnix\", \"Value\", \"AggregationTemporality\" \
         FROM otel_metrics_sum WHERE \"ServiceName\" = '{}' AND \"MetricName\" IN ('{}', '{}') \
         AND date >= '{y:04}-{m:02}-{d:02}' AND \"TimeUnix\" >= to_timestamp_nanos({})",
        quote(service),
        quote(&good.metric),
        quote(&total.metric),
        oldest.start_nanos()
    );
    let batches = sql.query_unlimited(tenant, &query).await?.batches;
    let mut points = Vec::new();
    for batch in &batches {
        read_points(batch, &mut points)?;
    }
    points.sort_by(|a, b| (&a.series, a.time).cmp(&(&b.series, b.time)));
    let mut sums: BTreeMap<Minute, (f64, f64)> = BTreeMap::new();
    let mut previous: Option<&Point> = None;
    for point in &points {
        let same_series = previous.filter(|p| p.series == point.series);
        let increment = if point.temporality == DELTA {
            Some(point.value)
        } else {
            match same_series {
                Some(p) if p.start == point.start && point.value >= p.value => {
                    Some(point.value - p.value)
                }
                // A reset: what the counter counted since it restarted.
                Some(_) => Some(point.value),
                None if point.start >= oldest.start_nanos() => Some(point.value),
                None => None,
            }
        };
        previous = Some(point);
        let Some(increment) = increment else { continue };
        let minute = sums.entry(Minute::of_nanos(point.time)).or_default();
        if matches(good, point) {
            minute.0 += increment;
        }
        if matches(total, point) {
            minute.1 += increment;
        }
    }
    Ok(sums
        .into_iter()
        .map(|(minute, (good, valid))| {
            let valid = valid.round().max(0.0) as u64;
            let good = (good.round().max(0.0) as u64).min(valid);
            (minute, EventCounts::new(good, valid))
        })
        .collect())
}
