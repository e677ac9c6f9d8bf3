//! Record-level validation: the records of a request that are individually
//! invalid are removed before the request goes further, and counted for the
//! `partial_success` of the OTLP response, with a message saying what was wrong.
//!
//! The checks are deterministic, so the same request always keeps the same
//! records (replaying a request gives the same rows).

use crate::logs::wire::LogView;
use crate::metrics::wire::{EXPONENTIAL_HISTOGRAM, GAUGE, HISTOGRAM, SUM};
use crate::otlp::metrics::v1::{Metric, metric::Data};
use crate::protowire::{Fields, fixed64_count, occurrences};
use crate::traces::wire::SpanView;

/// What validation removed from a request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rejected {
    /// Records removed (spans, data points or log records).
    pub count: i64,
    /// Records kept.
    pub accepted: i64,
    /// The first few reasons, for the response's `error_message`; may be set
    /// with `count == 0` for a warning (a metric with no data, say).
    pub message: String,
    reasons: usize,
}

/// Reasons quoted in one message; the rest are only counted.
const MAX_REASONS: usize = 3;

impl Rejected {
    /// Nothing removed, `records` kept: what a share of a request reports.
    pub(crate) fn accepting(records: usize) -> Self {
        Self {
            accepted: records as i64,
            ..Self::default()
        }
    }

    pub(crate) fn reject(&mut self, records: i64, reason: impl FnOnce() -> String) {
        self.count += records;
        self.note(reason);
    }

    pub(crate) fn note(&mut self, reason: impl FnOnce() -> String) {
        self.reasons += 1;
        if self.reasons <= MAX_REASONS {
            if !self.message.is_empty() {
                self.message.push_str("; ");
            }
            self.message.push_str(&reason());
        } else if self.reasons == MAX_REASONS + 1 {
            self.message.push_str("; …");
        }
    }

    /// Whether the response must carry a `partial_success`.
    pub fn is_empty(&self) -> bool {
        self.count == 0 && self.message.is_empty()
    }
}

/// Nanosecond times past the year 2262 do not fit a signed 64-bit timestamp.
fn time_fits(nanos: u64) -> bool {
    i64::try_from(nanos).is_ok()
}

fn is_zero(id: &[u8]) -> bool {
    id.iter().all(|b| *b == 0)
}

/// Why `span` is invalid, if it is.
pub fn check_span(span: &SpanView) -> Result<(), String> {
    let name = span.name;
    if span.trace_id.len() != 16 {
        return Err(format!(
            "span {name:?}: trace_id must be 16 bytes, got {} bytes",
            span.trace_id.len()
        ));
    }
    if is_zero(span.trace_id) {
        return Err(format!("span {name:?}: trace_id is all zero"));
    }
    if span.span_id.len() != 8 {
        return Err(format!(
            "span {name:?}: span_id must be 8 bytes, got {} bytes",
            span.span_id.len()
        ));
    }
    if is_zero(span.span_id) {
        return Err(format!("span {name:?}: span_id is all zero"));
    }
    if !(span.parent_span_id.is_empty() || span.parent_span_id.len() == 8) {
        return Err(format!(
            "span {name:?}: parent_span_id must be empty or 8 bytes, got {} bytes",
            span.parent_span_id.len()
        ));
    }
    if !time_fits(span.start_time_unix_nano) || !time_fits(span.end_time_unix_nano) {
        return Err(format!("span {name:?}: timestamp beyond the year 2262"));
    }
    for link in span.links() {
        if link.trace_id.len() != 16 || link.span_id.len() != 8 {
            return Err(format!(
                "span {name:?}: a link needs a 16-byte trace_id and an 8-byte span_id, got {} and {} bytes",
                link.trace_id.len(),
                link.span_id.len()
            ));
        }
    }
    if span.events().any(|e| !time_fits(e.time_unix_nano)) {
        return Err(format!(
            "span {name:?}: event timestamp beyond the year 2262"
        ));
    }
    Ok(())
}

/// Why `record` is invalid, if it is.
pub fn check_log(record: &LogView) -> Result<(), String> {
    if !(record.trace_id.is_empty() || record.trace_id.len() == 16) {
        return Err(format!(
            "log record: trace_id must be empty or 16 bytes, got {} bytes",
            record.trace_id.len()
        ));
    }
    if !(record.span_id.is_empty() || record.span_id.len() == 8) {
        return Err(format!(
            "log record: span_id must be empty or 8 bytes, got {} bytes",
            record.span_id.len()
        ));
    }
    if !time_fits(record.time_unix_nano) || !time_fits(record.observed_time_unix_nano) {
        return Err("log record: timestamp beyond the year 2262".to_owned());
    }
    Ok(())
}

/// Why `exemplar`, an `Exemplar` message of a checked body, is invalid, if
/// it is.
fn check_exemplar(exemplar: &[u8]) -> Result<(), String> {
    let (mut time, mut span_id, mut trace_id): (u64, &[u8], &[u8]) = (0, &[], &[]);
    for (tag, value) in Fields::new(exemplar) {
        match tag {
            2 => time = value.int(),
            4 => span_id = value.bytes(),
            5 => trace_id = value.bytes(),
            _ => {}
        }
    }
    if !(trace_id.is_empty() || trace_id.len() == 16) || !(span_id.is_empty() || span_id.len() == 8)
    {
        return Err(format!(
            "exemplar ids must be empty or 16 (trace) and 8 (span) bytes, got {} and {} bytes",
            trace_id.len(),
            span_id.len()
        ));
    }
    if !time_fits(time) {
        return Err("exemplar timestamp beyond the year 2262".to_owned());
    }
    Ok(())
}

/// Why `point`, a data point of a checked body, is invalid, if it is;
/// `kind` is the field of `Metric`'s `data` oneof that holds it (see
/// [`MetricView::kind`](crate::metrics::wire::MetricView::kind)).
pub fn check_point(kind: u32, point: &[u8]) -> Result<(), String> {
    // Every point type keeps its start time in field 2 and its time in 3.
    let (mut start, mut time) = (0, 0);
    for (tag, value) in Fields::new(point) {
        match tag {
            2 => start = value.int(),
            3 => time = value.int(),
            _ => {}
        }
    }
    if kind == HISTOGRAM {
        let (buckets, bounds) = (fixed64_count(point, 6), fixed64_count(point, 7));
        if buckets != 0 && buckets != bounds + 1 {
            return Err(format!(
                "histogram has {buckets} bucket counts for {bounds} explicit bounds, expected {}",
                bounds + 1
            ));
        }
    }
    if !(time_fits(start) && time_fits(time)) {
        return Err("timestamp beyond the year 2262".to_owned());
    }
    let exemplars = match kind {
        GAUGE | SUM => 5,
        HISTOGRAM => 8,
        EXPONENTIAL_HISTOGRAM => 11,
        _ => return Ok(()),
    };
    occurrences(point, exemplars).try_for_each(check_exemplar)
}

/// The data points of `metric`, whatever its type.
pub fn point_count(metric: &Metric) -> usize {
    match &metric.data {
        Some(Data::Gauge(g)) => g.data_points.len(),
        Some(Data::Sum(s)) => s.data_points.len(),
        Some(Data::Histogram(h)) => h.data_points.len(),
        Some(Data::ExponentialHistogram(h)) => h.data_points.len(),
        Some(Data::Summary(s)) => s.data_points.len(),
        None => 0,
    }
}

#[cfg(test)]
mod tests {
    use crate::metrics::wire::WireMetrics;
    use crate::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
    use crate::otlp::collector::trace::v1::ExportTraceServiceRequest;
    use crate::otlp::metrics::v1::metric::Data;
    use crate::otlp::metrics::v1::{
        Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics,
        ScopeMetrics,
    };
    use crate::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span};
    use crate::traces::wire::WireTraces;

    fn span(trace_id: Vec<u8>, span_id: Vec<u8>) -> Span {
        Span {
            trace_id,
            span_id,
            name: "op".into(),
            ..Default::default()
        }
    }

    #[test]
    fn drops_spans_with_bad_ids_and_keeps_the_rest() {
        let request = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![
                        span(vec![1; 16], vec![2; 8]),
                        span(vec![1; 15], vec![2; 8]),
                        span(vec![0; 16], vec![2; 8]),
                        span(vec![1; 16], vec![2; 7]),
                        span(vec![3; 16], vec![4; 8]),
                    ],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let traces = WireTraces::from_request(&request);
        let rejected = traces.rejected();
        assert_eq!(rejected.count, 3);
        assert_eq!(rejected.accepted, 2);
        assert!(
            rejected.message.contains("trace_id must be 16 bytes"),
            "{}",
            rejected.message
        );
        assert!(
            rejected.message.contains("got 15 bytes"),
            "{}",
            rejected.message
        );
        let kept = traces.to_request();
        assert_eq!(kept.resource_spans[0].scope_spans[0].spans.len(), 2);
        assert_eq!(
            kept.resource_spans[0].scope_spans[0].spans[1].trace_id,
            vec![3; 16]
        );
    }

    #[test]
    fn a_metric_without_data_is_a_warning_and_bad_buckets_are_rejected() {
        let point = |bounds: usize, buckets: usize| HistogramDataPoint {
            explicit_bounds: vec![1.0; bounds],
            bucket_counts: vec![1; buckets],
            ..Default::default()
        };
        let request = ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                scope_metrics: vec![ScopeMetrics {
                    metrics: vec![
                        Metric {
                            name: "empty".into(),
                            ..Default::default()
                        },
                        Metric {
                            name: "h".into(),
                            data: Some(Data::Histogram(Histogram {
                                data_points: vec![point(2, 3), point(2, 2), point(0, 0)],
                                ..Default::default()
                            })),
                            ..Default::default()
                        },
                        Metric {
                            name: "g".into(),
                            data: Some(Data::Gauge(Gauge {
                                data_points: vec![NumberDataPoint::default()],
                            })),
                            ..Default::default()
                        },
                    ],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let metrics = WireMetrics::from_request(&request);
        let rejected = metrics.rejected();
        assert_eq!(rejected.count, 1);
        assert_eq!(rejected.accepted, 3);
        assert!(
            rejected.message.contains("\"empty\" has no data"),
            "{}",
            rejected.message
        );
        assert!(
            rejected
                .message
                .contains("2 bucket counts for 2 explicit bounds"),
            "{}",
            rejected.message
        );
        let kept = metrics.to_request();
        assert_eq!(kept.resource_metrics[0].scope_metrics[0].metrics.len(), 2);
    }
}
