//! A shard's side of the watch: it summarizes what streams by per tenant and
//! step of event time, and sends the summaries to the detector thread every
//! half second.
//!
//! # Backpressure
//!
//! Sending never waits: when the detector thread's queue is full, the shard
//! drops its summaries and counts them (`sluice_anomaly_dropped_total`).
//! Ingestion never slows down for the detectors. A summary holds at most
//! `anomaly.max_series` entries; records of further series are left out.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use crossbeam_channel::{Sender, TrySendError};
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value;
use opentelemetry_proto::tonic::metrics::v1::{AggregationTemporality, Metric, NumberDataPoint};
use sluice_model::Tenant;
use sluice_model::attributes::value_to_string;
use sluice_model::context::ResourceContext;
use sluice_model::time::to_arrow_nanos;

use super::step::{MetricSeries, MetricStep, StepBatch, StepSummary};
use crate::metrics::ANOMALY_DROPPED;

/// How often a shard sends its summaries.
const SEND_INTERVAL: Duration = Duration::from_millis(500);

/// `SeverityNumber` of ERROR.
const SEVERITY_ERROR: i32 = 17;

/// Summaries of one shard, waiting to be sent.
#[derive(Debug)]
pub struct StepFeed {
    shard: usize,
    sender: Sender<StepBatch>,
    step: i64,
    max_entries: usize,
    metrics: bool,
    logs: bool,
    /// Per tenant: the newest event time seen, and the summaries by step.
    pending: HashMap<Tenant, (i64, HashMap<i64, StepSummary>)>,
    entries: usize,
    last_send: Instant,
}

impl StepFeed {
    pub(crate) fn new(
        shard: usize,
        sender: Sender<StepBatch>,
        config: &super::WatchConfig,
    ) -> Self {
        Self {
            shard,
            sender,
            step: config.step_nanos(),
            max_entries: config.max_series,
            metrics: config.metrics,
            logs: config.logs,
            pending: HashMap::new(),
            entries: 0,
            last_send: Instant::now(),
        }
    }

    /// The summary of `tenant`'s step holding `time`.
    fn summary(&mut self, tenant: &Tenant, time: i64) -> &mut StepSummary {
        let step = time.div_euclid(self.step) * self.step;
        if !self.pending.contains_key(tenant) {
            self.pending.insert(tenant.clone(), (time, HashMap::new()));
        }
        let (newest, steps) = self.pending.get_mut(tenant).expect("inserted above");
        *newest = (*newest).max(time);
        steps.entry(step).or_default()
    }

    fn full(&self) -> bool {
        self.entries >= self.max_entries
    }

    /// Counts a server span ending at `end` (ns).
    pub fn record_span(
        &mut self,
        tenant: &Tenant,
        service: &str,
        operation: &str,
        end: u64,
        duration_nanos: u64,
        is_error: bool,
    ) {
        let full = self.full();
        let summary = self.summary(tenant, to_arrow_nanos(end));
        let operations = match summary.spans.get_mut(service) {
            Some(operations) => operations,
            None if full => return,
            None => summary.spans.entry(service.to_owned()).or_default(),
        };
        let mut added = 0;
        let step = match operations.get_mut(operation) {
            Some(step) => step,
            None if full => return,
            None => {
                summary.entries += 1;
                added = 1;
                operations.entry(operation.to_owned()).or_default()
            }
        };
        step.requests += 1;
        if is_error {
            step.errors += 1;
        }
        // u64 -> f64: exact below 2^53 ns (104 days).
        step.latency.add(duration_nanos as f64);
        self.entries += added;
    }

    /// Counts a log record of `severity_number` at `time` (ns).
    pub fn record_log(&mut self, tenant: &Tenant, service: &str, time: u64, severity_number: i32) {
        if !self.logs || severity_number < SEVERITY_ERROR {
            return;
        }
        let full = self.full();
        let summary = self.summary(tenant, to_arrow_nanos(time));
        match summary.error_logs.get_mut(service) {
            Some(count) => *count += 1,
            None if full => {}
            None => {
                summary.entries += 1;
                summary.error_logs.insert(service.to_owned(), 1);
                self.entries += 1;
            }
        }
    }

    /// Summarizes the points of `metric`: gauge values and non-monotonic
    /// sums as gauges, monotonic sums for their rate, histograms for p99.
    pub fn record_metric(&mut self, tenant: &Tenant, resource: &ResourceContext, metric: &Metric) {
        if !self.metrics {
            return;
        }
        let host = resource.attributes.get("host.name");
        let series = |attributes: &[KeyValue]| {
            let mut labels: BTreeMap<String, String> = attributes
                .iter()
                .map(|kv| (kv.key.clone(), value_to_string(kv.value.as_ref())))
                .collect();
            if let Some(host) = host {
                labels.insert("host.name".into(), host.to_owned());
            }
            labels.insert("metric".into(), metric.name.clone());
            MetricSeries {
                service: resource.service_name.clone(),
                labels,
            }
        };
        let number = |p: &NumberDataPoint| match p.value {
            Some(Value::AsDouble(v)) => Some(v),
            Some(Value::AsInt(v)) => Some(v as f64),
            None => None,
        };
        match &metric.data {
            Some(Data::Gauge(g)) => {
                for p in &g.data_points {
                    let time = to_arrow_nanos(p.time_unix_nano);
                    if let Some(value) = number(p) {
                        self.add_metric(
                            tenant,
                            time,
                            series(&p.attributes),
                            MetricStep::Gauge { time, value },
                        );
                    }
                }
            }
            Some(Data::Sum(s)) => {
                let delta = s.aggregation_temporality == AggregationTemporality::Delta as i32;
                for p in &s.data_points {
                    let time = to_arrow_nanos(p.time_unix_nano);
                    let Some(value) = number(p) else { continue };
                    let step = match (s.is_monotonic, delta) {
                        (false, _) => MetricStep::Gauge { time, value },
                        (true, true) => MetricStep::DeltaSum { value },
                        (true, false) => MetricStep::CumulativeSum {
                            time,
                            start: to_arrow_nanos(p.start_time_unix_nano),
                            value,
                        },
                    };
                    self.add_metric(tenant, time, series(&p.attributes), step);
                }
            }
            Some(Data::Histogram(h)) => {
                let cumulative =
                    h.aggregation_temporality == AggregationTemporality::Cumulative as i32;
                for p in &h.data_points {
                    if p.bucket_counts.len() != p.explicit_bounds.len() + 1 {
                        continue;
                    }
                    let time = to_arrow_nanos(p.time_unix_nano);
                    let step = MetricStep::Histogram {
                        time,
                        start: to_arrow_nanos(p.start_time_unix_nano),
                        cumulative,
                        bounds: p.explicit_bounds.clone(),
                        counts: p.bucket_counts.clone(),
                    };
                    self.add_metric(tenant, time, series(&p.attributes), step);
                }
            }
            _ => {}
        }
    }

    fn add_metric(&mut self, tenant: &Tenant, time: i64, series: MetricSeries, step: MetricStep) {
        let full = self.full();
        let summary = self.summary(tenant, time);
        match summary.metrics.get_mut(&series) {
            Some(mine) => mine.merge(step),
            None if full => {}
            None => {
                summary.entries += 1;
                summary.metrics.insert(series, step);
                self.entries += 1;
            }
        }
    }

    /// Sends the summaries if the last send is `SEND_INTERVAL` old.
    pub fn send_due(&mut self, now: Instant) {
        if now.duration_since(self.last_send) >= SEND_INTERVAL {
            self.send();
            self.last_send = now;
        }
    }

    /// Sends what is pending, dropping it if the detector thread is behind.
    pub fn send(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let mut steps = Vec::new();
        let mut newest = Vec::new();
        for (tenant, (time, summaries)) in std::mem::take(&mut self.pending) {
            newest.push((tenant.clone(), time));
            steps.extend(
                summaries
                    .into_iter()
                    .map(|(step, summary)| (tenant.clone(), step, summary)),
            );
        }
        let batch = StepBatch {
            shard: self.shard,
            steps,
            newest,
        };
        self.entries = 0;
        match self.sender.try_send(batch) {
            Ok(()) | Err(TrySendError::Disconnected(_)) => {}
            Err(TrySendError::Full(_)) => {
                ::metrics::counter!(ANOMALY_DROPPED, "reason" => "queue_full").increment(1);
            }
        }
    }
}
