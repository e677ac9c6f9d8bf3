//! Record-level validation: the records of a request that are individually
//! invalid are removed before the request goes further, and counted for the
//! `partial_success` of the OTLP response, with a message saying what was wrong.
//!
//! The checks are deterministic, so the same request always keeps the same
//! records (replaying a request gives the same rows).

use std::fmt::Write;

use crate::logs::wire::LogView;
use crate::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use crate::otlp::metrics::v1::{Exemplar, HistogramDataPoint, Metric, metric::Data};
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
    pub(crate) fn reject(&mut self, records: i64, reason: impl FnOnce() -> String) {
        self.count += records;
        self.note(reason);
    }

    fn note(&mut self, reason: impl FnOnce() -> String) {
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
pub fn retain_valid_metrics(request: &mut ExportMetricsServiceRequest) -> Rejected {
    let mut rejected = Rejected::default();
    for resource in &mut request.resource_metrics {
        for scope in &mut resource.scope_metrics {
            scope.metrics.retain_mut(|metric| {
                if metric.name.is_empty() {
                    let points = point_count(metric) as i64;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::otlp::collector::trace::v1::ExportTraceServiceRequest;
    use crate::otlp::metrics::v1::{
        Gauge, Histogram, NumberDataPoint, ResourceMetrics, ScopeMetrics,
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
        let mut request = ExportMetricsServiceRequest {
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
        let rejected = retain_valid_metrics(&mut request);
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
        assert_eq!(
            request.resource_metrics[0].scope_metrics[0].metrics.len(),
            2
        );
    }
}
