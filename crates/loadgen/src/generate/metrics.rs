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
//!
//! Points are written as protobuf as they are drawn, as spans are (see
//! [`super::traces`]); each instance's resource is encoded once.

use std::collections::HashMap;

use bytes::Bytes;
use prost::Message;

use super::{Generator, wire};
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

/// Field numbers of `ResourceMetrics.resource` and `.scope_metrics`,
/// `ScopeMetrics.scope` and `.metrics`, and `ExportMetricsServiceRequest.resource_metrics`.
const RESOURCE_METRICS: u32 = 1;
const RESOURCE: u32 = 1;
const SCOPE_METRICS: u32 = 2;
const SCOPE: u32 = 1;
const METRICS: u32 = 2;

/// Field numbers of `Metric`, and of `Gauge`, `Sum` and `Histogram` in it.
const NAME: u32 = 1;
const DESCRIPTION: u32 = 2;
const UNIT: u32 = 3;
const GAUGE: u32 = 5;
const SUM: u32 = 7;
const HISTOGRAM: u32 = 9;
const DATA_POINTS: u32 = 1;
const TEMPORALITY: u32 = 2;
const MONOTONIC: u32 = 3;
/// `AggregationTemporality.CUMULATIVE`.
const CUMULATIVE: i64 = 2;

/// Field numbers of `NumberDataPoint` and `HistogramDataPoint`.
const START: u32 = 2;
const TIME: u32 = 3;
const AS_DOUBLE: u32 = 4;
const NUMBER_ATTRIBUTES: u32 = 7;
const COUNT: u32 = 4;
const HISTOGRAM_SUM: u32 = 5;
const BUCKET_COUNTS: u32 = 6;
const EXPLICIT_BOUNDS: u32 = 7;
const HISTOGRAM_ATTRIBUTES: u32 = 9;
const MIN: u32 = 11;
const MAX: u32 = 12;

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
    /// Each instance's `Resource`, encoded.
    resources: HashMap<(usize, usize), Vec<u8>>,
}

/// The three metrics of one export, their points written as the
/// `data_points` fields of a `Gauge`, a `Sum` and a `Histogram`.
#[derive(Debug, Default)]
struct Export {
    gauge: Vec<u8>,
    sum: Vec<u8>,
    histogram: Vec<u8>,
    points: usize,
}

impl Generator {
    /// An `ExportMetricsServiceRequest` of exactly `records` data points,
    /// encoded as the traces are (see [`super::traces`]).
    pub(super) fn metrics(
        &mut self,
        records: usize,
        settings: &[ServiceSettings],
        now: u64,
    ) -> Bytes {
        let series_per_instance = CPUS + 3 * self.operations.len();
        self.metrics.per_service = self
            .metrics
            .per_service
            .max(records.div_ceil(series_per_instance));
        let mut body = Vec::new();
        let (mut point, mut metrics) = (Vec::new(), Vec::new());
        let mut left = records;
        while left > 0 {
            let service = self.pick_service(settings);
            let current = super::settings_for(settings, service);
            let next = self.metrics.next.entry(service).or_insert(0);
            let instance = *next % self.metrics.per_service;
            *next = instance + 1;
            let export = self.export(&mut point, service, instance, &current, now, left);
            left -= export.points;
            metrics.clear();
            export.write_metrics(&mut metrics);
            if !self.metrics.resources.contains_key(&(service, instance)) {
                let resource = self.resource(service, Some(instance)).encode_to_vec();
                self.metrics.resources.insert((service, instance), resource);
            }
            let resource = &self.metrics.resources[&(service, instance)];
            let scope_metrics = wire::field_len(SCOPE, self.encoded_scope.len()) + metrics.len();
            let resource_metrics = wire::field_len(RESOURCE, resource.len())
                + wire::field_len(SCOPE_METRICS, scope_metrics);
            wire::open(&mut body, RESOURCE_METRICS, resource_metrics);
            wire::message(&mut body, RESOURCE, resource);
            wire::open(&mut body, SCOPE_METRICS, scope_metrics);
            wire::message(&mut body, SCOPE, &self.encoded_scope);
            body.extend_from_slice(&metrics);
        }
        Bytes::from(body)
    }

    /// One instance's export: at most `max_points` points (at least 1), the
    /// gauges first, then the sums, then the histograms.
    fn export(
        &mut self,
        point: &mut Vec<u8>,
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
        let series = |n: usize| state.series_base.wrapping_add(n as u64);
        let elapsed_secs = now as f64 / 1e9;
        for cpu in 0..CPUS {
            let wave =
                (std::f64::consts::TAU * elapsed_secs / CPU_PERIOD_SECS + state.cpu_phase).sin();
            let value =
                (0.35 + 0.25 * wave + 0.05 * self.rng.normal() + 0.3 * settings.error_ratio)
                    .clamp(0.0, 1.0);
            if export.points == max_points {
                continue;
            }
            point.clear();
            number_point(point, 0, now, value);
            wire::int_attribute(point, NUMBER_ATTRIBUTES, "cpu", cpu as i64);
            self.series_attributes(series(cpu), point, NUMBER_ATTRIBUTES);
            wire::message(&mut export.gauge, DATA_POINTS, point);
            export.points += 1;
        }
        for route in 0..routes {
            for (outcome, name) in ["success", "error"].into_iter().enumerate() {
                if export.points == max_points {
                    continue;
                }
                point.clear();
                let value = state.requests[route][outcome] as f64;
                number_point(point, self.started, now, value);
                let route_name = self.operations[route].route.as_bytes();
                wire::string_attribute(point, NUMBER_ATTRIBUTES, "http.route", route_name);
                wire::string_attribute(point, NUMBER_ATTRIBUTES, "outcome", name.as_bytes());
                self.series_attributes(series(100 + route * 2 + outcome), point, NUMBER_ATTRIBUTES);
                wire::message(&mut export.sum, DATA_POINTS, point);
                export.points += 1;
            }
        }
        for route in 0..routes {
            if export.points == max_points {
                continue;
            }
            let h = &state.durations[route];
            point.clear();
            wire::fixed64(point, START, self.started);
            wire::fixed64(point, TIME, now);
            wire::fixed64(point, COUNT, h.count);
            wire::double(point, HISTOGRAM_SUM, h.sum);
            wire::packed64(
                point,
                BUCKET_COUNTS,
                h.counts.iter().map(|c| c.to_le_bytes()),
            );
            wire::packed64(
                point,
                EXPLICIT_BOUNDS,
                BOUNDS_MS.iter().map(|b| b.to_le_bytes()),
            );
            let route_name = self.operations[route].route.as_bytes();
            wire::string_attribute(point, HISTOGRAM_ATTRIBUTES, "http.route", route_name);
            self.series_attributes(series(10_000 + route), point, HISTOGRAM_ATTRIBUTES);
            if h.count > 0 {
                wire::double(point, MIN, h.min);
                wire::double(point, MAX, h.max);
            }
            wire::message(&mut export.histogram, DATA_POINTS, point);
            export.points += 1;
        }
        self.metrics.instances.insert((service, instance), state);
        export
    }
}

/// A `NumberDataPoint`'s times and double value (`start` 0: none).
fn number_point(point: &mut Vec<u8>, start: u64, now: u64, value: f64) {
    wire::fixed64(point, START, start);
    wire::fixed64(point, TIME, now);
    wire::double(point, AS_DOUBLE, value);
}

impl Export {
    /// The export's `Metric` messages, as `ScopeMetrics.metrics` fields; a
    /// metric without points is left out.
    fn write_metrics(&self, out: &mut Vec<u8>) {
        let metrics = [
            (
                "system.cpu.utilization",
                "The share of time each CPU was busy",
                "1",
                GAUGE,
                &self.gauge,
            ),
            (
                "http.server.requests",
                "HTTP requests served, by route and outcome",
                "{request}",
                SUM,
                &self.sum,
            ),
            (
                "http.server.duration",
                "The duration of HTTP requests served",
                "ms",
                HISTOGRAM,
                &self.histogram,
            ),
        ];
        for (name, description, unit, kind, points) in metrics {
            if points.is_empty() {
                continue;
            }
            // After the points: sums and histograms are cumulative, a sum
            // monotonic too (0 leaves a field out).
            let temporality = if kind == GAUGE { 0 } else { CUMULATIVE };
            let monotonic = i64::from(kind == SUM);
            let data = points.len()
                + wire::int_len(TEMPORALITY, temporality)
                + wire::int_len(MONOTONIC, monotonic);
            // As `wire::bytes` writes them: an empty string is left out.
            let len = wire::bytes_len(NAME, name.len())
                + wire::bytes_len(DESCRIPTION, description.len())
                + wire::bytes_len(UNIT, unit.len())
                + wire::field_len(kind, data);
            wire::open(out, METRICS, len);
            wire::bytes(out, NAME, name.as_bytes());
            wire::bytes(out, DESCRIPTION, description.as_bytes());
            wire::bytes(out, UNIT, unit.as_bytes());
            wire::open(out, kind, data);
            out.extend_from_slice(points);
            wire::int(out, TEMPORALITY, temporality);
            wire::int(out, MONOTONIC, monotonic);
        }
    }
}
