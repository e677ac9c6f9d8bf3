//! Metrics: each request is a set of exports from simulated service instances,
//! as their SDKs' periodic readers would send them.
//!
//! An instance exports one point per series: `system.cpu.utilization` (a gauge
//! per `cpu`, a slow five-minute sine with noise, higher while the service
//! fails), `http.server.requests` (a monotonic cumulative sum per route and
//! `outcome`) and `http.server.duration` (a cumulative histogram per route, in
//! ms, with the SDK's default bounds). Between two exports each instance
//! "serves" 10–50 requests per route, drawn from the service's current latency
//! distribution and error ratio, which feed both the counter and the histogram.
//!
//! There are as many instances per service as a request needs for each to
//! export at most once per request, so no series has two points with the same
//! timestamp in one request.

use std::collections::HashMap;

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum, metric::Data, number_data_point,
};

use super::{Generator, kv, scope};
use crate::phase::ServiceSettings;

/// CPUs of each instance: gauge series per instance.
const CPUS: usize = 4;
/// The OpenTelemetry SDK's default histogram bounds, in ms.
const BOUNDS_MS: [f64; 14] = [
    5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 2500.0, 5000.0, 7500.0,
    10000.0,
];
/// The period of the CPU sine, in seconds.
const CPU_PERIOD_SECS: f64 = 300.0;

/// A cumulative histogram.
#[derive(Debug, Clone)]
struct CumulativeHistogram {
    counts: Vec<u64>,
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
}

impl Default for CumulativeHistogram {
    fn default() -> Self {
        Self {
            counts: vec![0; BOUNDS_MS.len() + 1],
            count: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }
}

impl CumulativeHistogram {
    fn record(&mut self, ms: f64) {
        let bucket = BOUNDS_MS.partition_point(|bound| *bound < ms);
        self.counts[bucket] += 1;
        self.count += 1;
        self.sum += ms;
        self.min = self.min.min(ms);
        self.max = self.max.max(ms);
    }
}

/// The cumulative state of one simulated instance.
#[derive(Debug, Clone)]
struct Instance {
    /// Requests per route: `[success, error]`.
    requests: Vec<[u64; 2]>,
    durations: Vec<CumulativeHistogram>,
    /// Seeds the series' synthetic attributes.
    series_base: u64,
    /// The instance's offset on the CPU sine.
    cpu_phase: f64,
}

/// The metric state of a worker: its instances, by `(service, instance)`.
#[derive(Debug, Default)]
pub(super) struct MetricState {
    instances: HashMap<(usize, usize), Instance>,
    /// Instances per service.
    per_service: usize,
    /// The next instance of each service to export.
    next: HashMap<usize, usize>,
}

/// The three metrics of one export, filled point by point.
#[derive(Debug, Default)]
struct Export {
    gauge: Vec<NumberDataPoint>,
    sum: Vec<NumberDataPoint>,
    histogram: Vec<HistogramDataPoint>,
}

impl Generator {
    pub(super) fn metrics(
        &mut self,
        records: usize,
        settings: &[ServiceSettings],
        now: u64,
    ) -> ExportMetricsServiceRequest {
        let series_per_instance = CPUS + 3 * self.operations.len();
        self.metrics.per_service = self
            .metrics
            .per_service
            .max(records.div_ceil(series_per_instance));
        let mut resource_metrics = Vec::new();
        let mut left = records;
        while left > 0 {
            let service = self.pick_service(settings);
            let current = super::settings_for(settings, service);
            let next = self.metrics.next.entry(service).or_insert(0);
            let instance = *next % self.metrics.per_service;
            *next = instance + 1;
            let export = self.export(service, instance, &current, now, left);
            left -= export.gauge.len() + export.sum.len() + export.histogram.len();
            resource_metrics.push(ResourceMetrics {
                resource: Some(self.resource(service, Some(instance))),
                scope_metrics: vec![ScopeMetrics {
                    scope: scope(),
                    metrics: export.into_metrics(),
                    ..Default::default()
                }],
                ..Default::default()
            });
        }
        ExportMetricsServiceRequest { resource_metrics }
    }

    /// One instance's export: at most `max_points` points (at least 1).
    fn export(
        &mut self,
        service: usize,
        instance: usize,
        settings: &ServiceSettings,
        now: u64,
        max_points: usize,
    ) -> Export {
        let routes = self.operations.len();
        let base = self.rng.next_u64();
        let phase = self.rng.unit() * std::f64::consts::TAU;
        let mut state = self
            .metrics
            .instances
            .remove(&(service, instance))
            .unwrap_or_else(|| Instance {
                requests: vec![[0; 2]; routes],
                durations: vec![CumulativeHistogram::default(); routes],
                series_base: base,
                cpu_phase: phase,
            });
        // The requests served since the last export.
        for route in 0..routes {
            for _ in 0..10 + self.rng.below(41) {
                let failed = self.rng.chance(settings.error_ratio);
                state.requests[route][usize::from(failed)] += 1;
                let ms = settings.latency.sample_nanos(&mut self.rng) as f64 / 1e6;
                state.durations[route].record(ms);
            }
        }
        let mut export = Export::default();
        let point_attrs = |g: &Generator, series: u64, mut attrs: Vec<_>| {
            g.series_attributes(state.series_base.wrapping_add(series), &mut attrs);
            attrs
        };
        let elapsed_secs = now as f64 / 1e9;
        for cpu in 0..CPUS {
            let wave =
                (std::f64::consts::TAU * elapsed_secs / CPU_PERIOD_SECS + state.cpu_phase).sin();
            let value =
                (0.35 + 0.25 * wave + 0.05 * self.rng.normal() + 0.3 * settings.error_ratio)
                    .clamp(0.0, 1.0);
            let attrs = point_attrs(
                self,
                cpu as u64,
                vec![kv("cpu", Value::IntValue(cpu as i64))],
            );
            export
                .gauge
                .push(self.number_point(attrs, now, value, false));
        }
        for route in 0..routes {
            for (outcome, name) in ["success", "error"].into_iter().enumerate() {
                let attrs = vec![
                    kv(
                        "http.route",
                        Value::StringValue(self.operations[route].route.clone()),
                    ),
                    kv("outcome", Value::StringValue(name.into())),
                ];
                let attrs = point_attrs(self, (100 + route * 2 + outcome) as u64, attrs);
                let value = state.requests[route][outcome] as f64;
                export.sum.push(self.number_point(attrs, now, value, true));
            }
        }
        for route in 0..routes {
            let attrs = vec![kv(
                "http.route",
                Value::StringValue(self.operations[route].route.clone()),
            )];
            let attrs = point_attrs(self, (10_000 + route) as u64, attrs);
            let h = &state.durations[route];
            export.histogram.push(HistogramDataPoint {
                attributes: attrs,
                start_time_unix_nano: self.started,
                time_unix_nano: now,
                count: h.count,
                sum: Some(h.sum),
                bucket_counts: h.counts.clone(),
                explicit_bounds: BOUNDS_MS.to_vec(),
                min: (h.count > 0).then_some(h.min),
                max: (h.count > 0).then_some(h.max),
                ..Default::default()
            });
        }
        self.metrics.instances.insert((service, instance), state);
        export.truncate(max_points);
        export
    }

    fn number_point(
        &self,
        attributes: Vec<opentelemetry_proto::tonic::common::v1::KeyValue>,
        now: u64,
        value: f64,
        cumulative: bool,
    ) -> NumberDataPoint {
        NumberDataPoint {
            attributes,
            start_time_unix_nano: if cumulative { self.started } else { 0 },
            time_unix_nano: now,
            value: Some(number_data_point::Value::AsDouble(value)),
            ..Default::default()
        }
    }
}

impl Export {
    /// Keeps the first `max` points: gauges, then sums, then histograms.
    fn truncate(&mut self, max: usize) {
        self.gauge.truncate(max);
        self.sum.truncate(max.saturating_sub(self.gauge.len()));
        self.histogram
            .truncate(max.saturating_sub(self.gauge.len() + self.sum.len()));
    }

    fn into_metrics(self) -> Vec<Metric> {
        let metric = |name: &str, description: &str, unit: &str, data: Data| Metric {
            name: name.into(),
            description: description.into(),
            unit: unit.into(),
            data: Some(data),
            ..Default::default()
        };
        let mut metrics = Vec::with_capacity(3);
        if !self.gauge.is_empty() {
            metrics.push(metric(
                "system.cpu.utilization",
                "The share of time each CPU was busy",
                "1",
                Data::Gauge(Gauge {
                    data_points: self.gauge,
                }),
            ));
        }
        if !self.sum.is_empty() {
            metrics.push(metric(
                "http.server.requests",
                "HTTP requests served, by route and outcome",
                "{request}",
                Data::Sum(Sum {
                    data_points: self.sum,
                    aggregation_temporality: AggregationTemporality::Cumulative as i32,
                    is_monotonic: true,
                }),
            ));
        }
        if !self.histogram.is_empty() {
            metrics.push(metric(
                "http.server.duration",
                "The duration of HTTP requests served",
                "ms",
                Data::Histogram(Histogram {
                    data_points: self.histogram,
                    aggregation_temporality: AggregationTemporality::Cumulative as i32,
                }),
            ));
        }
        metrics
    }
}
