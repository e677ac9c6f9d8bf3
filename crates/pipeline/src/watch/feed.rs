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

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crossbeam_channel::{Sender, TrySendError};
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value;
use opentelemetry_proto::tonic::metrics::v1::{AggregationTemporality, Metric, NumberDataPoint};
use sluice_model::attributes::{value_to_string, write_value};
use sluice_model::context::ResourceContext;
use sluice_model::time::to_arrow_nanos;
use sluice_model::{HashMap, Tenant};

use super::step::{MetricSeries, MetricStep, SeriesRef, StepBatch, StepSummary};
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
    /// Metric series by their key (see [`SeriesKeys`]): a point of a series
    /// seen before allocates nothing.
    series: HashMap<Vec<u8>, SeriesRef>,
    keys: SeriesKeys,
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
            pending: HashMap::default(),
            entries: 0,
            last_send: Instant::now(),
            series: HashMap::default(),
            keys: SeriesKeys::default(),
        }
    }

    /// The summary of `tenant`'s step holding `time`.
    fn summary(&mut self, tenant: &Tenant, time: i64) -> &mut StepSummary {
        let step = time.div_euclid(self.step) * self.step;
        if !self.pending.contains_key(tenant) {
            self.pending
                .insert(tenant.clone(), (time, HashMap::default()));
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
        // The series of a point: found by key, built only when new and
        // there is room for it. Every series the summaries hold is known
        // (the known ones are forgotten only in `send`, with the
        // summaries), so one not known while they are full would be left
        // out by `add_metric`: it is left out before it is built.
        let series = |feed: &mut Self, attributes: &[KeyValue]| -> Option<SeriesRef> {
            let key = feed
                .keys
                .key(&resource.service_name, host, &metric.name, attributes);
            if let Some(known) = feed.series.get(key) {
                return Some(known.clone());
            }
            if feed.entries >= feed.max_entries {
                return None;
            }
            let built = SeriesRef::new(build_series(
                &resource.service_name,
                host,
                &metric.name,
                attributes,
            ));
            feed.series.insert(key.to_vec(), built.clone());
            Some(built)
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
                    let Some(value) = number(p) else { continue };
                    let Some(series) = series(self, &p.attributes) else {
                        continue;
                    };
                    self.add_metric(tenant, time, &series, MetricStep::Gauge { time, value });
                }
            }
            Some(Data::Sum(s)) => {
                let delta = s.aggregation_temporality == AggregationTemporality::Delta as i32;
                for p in &s.data_points {
                    let time = to_arrow_nanos(p.time_unix_nano);
                    let Some(value) = number(p) else { continue };
                    let Some(series) = series(self, &p.attributes) else {
                        continue;
                    };
                    let step = match (s.is_monotonic, delta) {
                        (false, _) => MetricStep::Gauge { time, value },
                        (true, true) => MetricStep::DeltaSum { value },
                        (true, false) => MetricStep::CumulativeSum {
                            time,
                            start: to_arrow_nanos(p.start_time_unix_nano),
                            value,
                        },
                    };
                    self.add_metric(tenant, time, &series, step);
                }
            }
            Some(Data::Histogram(h)) => {
                let cumulative =
                    h.aggregation_temporality == AggregationTemporality::Cumulative as i32;
                for p in &h.data_points {
                    if p.bucket_counts.len() != p.explicit_bounds.len() + 1 {
                        continue;
                    }
                    let Some(series) = series(self, &p.attributes) else {
                        continue;
                    };
                    let time = to_arrow_nanos(p.time_unix_nano);
                    let step = MetricStep::Histogram {
                        time,
                        start: to_arrow_nanos(p.start_time_unix_nano),
                        cumulative,
                        bounds: p.explicit_bounds.clone(),
                        counts: p.bucket_counts.clone(),
                    };
                    self.add_metric(tenant, time, &series, step);
                }
            }
            _ => {}
        }
    }

    fn add_metric(&mut self, tenant: &Tenant, time: i64, series: &SeriesRef, step: MetricStep) {
        let full = self.full();
        let summary = self.summary(tenant, time);
        match summary.metrics.get_mut(series) {
            Some(mine) => mine.merge(step),
            None if full => {}
            None => {
                summary.entries += 1;
                summary.metrics.insert(series.clone(), step);
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
        // The known series are forgotten only here, with the summaries
        // that hold some of them (`record_metric` relies on it); at most
        // `max_entries` are added between two sends. Forgetting costs only
        // building them again.
        if self.series.len() >= self.max_entries.saturating_mul(2) {
            self.series.clear();
        }
        match self.sender.try_send(batch) {
            Ok(()) | Err(TrySendError::Disconnected(_)) => {}
            Err(TrySendError::Full(_)) => {
                ::metrics::counter!(ANOMALY_DROPPED, "reason" => "queue_full").increment(1);
            }
        }
    }
}

/// The series of a metric point: its attributes, the resource's host, and the
/// metric's name as labels.
fn build_series(
    service: &str,
    host: Option<&str>,
    metric: &str,
    attributes: &[KeyValue],
) -> MetricSeries {
    let mut labels: BTreeMap<String, String> = attributes
        .iter()
        .map(|kv| (kv.key.clone(), value_to_string(kv.value.as_ref())))
        .collect();
    if let Some(host) = host {
        labels.insert("host.name".into(), host.to_owned());
    }
    labels.insert("metric".into(), metric.to_owned());
    MetricSeries {
        service: service.to_owned(),
        labels,
    }
}

/// Builds the key of a metric point's series without allocating (once its
/// buffers have grown): everything a [`MetricSeries`] is made of, each part
/// length-prefixed and tagged (2: an attribute, 1: the host, 0: no host) so
/// that different parts never give the same bytes.
/// Attributes go in key order, the last of equal keys kept (as the series'
/// label map keeps them), leaving out the keys the resource's host and the
/// metric name replace. Equal keys mean equal series.
#[derive(Debug, Default)]
struct SeriesKeys {
    key: Vec<u8>,
    order: Vec<usize>,
    value: String,
}

impl SeriesKeys {
    fn key(
        &mut self,
        service: &str,
        host: Option<&str>,
        metric: &str,
        attributes: &[KeyValue],
    ) -> &[u8] {
        self.key.clear();
        push_part(&mut self.key, service.as_bytes());
        let replaced = |key: &str| key == "metric" || (host.is_some() && key == "host.name");
        // SDKs mostly send a point's attributes in key order, each key once:
        // then they go as they are, without sorting them.
        if attributes.windows(2).all(|pair| pair[0].key < pair[1].key) {
            for kv in attributes {
                if !replaced(&kv.key) {
                    self.push_attribute(kv);
                }
            }
        } else {
            self.order.clear();
            self.order.extend(0..attributes.len());
            // Stable: among equal keys the last one is the one kept.
            self.order
                .sort_by(|&a, &b| attributes[a].key.cmp(&attributes[b].key));
            for n in 0..self.order.len() {
                let kv = &attributes[self.order[n]];
                let shadowed = self
                    .order
                    .get(n + 1)
                    .is_some_and(|&next| attributes[next].key == kv.key);
                if !(replaced(&kv.key) || shadowed) {
                    self.push_attribute(kv);
                }
            }
        }
        match host {
            Some(host) => {
                self.key.push(1);
                push_part(&mut self.key, host.as_bytes());
            }
            None => self.key.push(0),
        }
        push_part(&mut self.key, metric.as_bytes());
        &self.key
    }
}

impl SeriesKeys {
    /// Appends an attribute, tagged 2, to the key.
    fn push_attribute(&mut self, kv: &KeyValue) {
        self.value.clear();
        write_value(kv.value.as_ref(), &mut self.value);
        self.key.push(2);
        push_part(&mut self.key, kv.key.as_bytes());
        push_part(&mut self.key, self.value.as_bytes());
    }
}

/// Appends `part` with its length (under 4 GiB: a request is).
fn push_part(key: &mut Vec<u8>, part: &[u8]) {
    key.extend_from_slice(&(part.len() as u32).to_le_bytes());
    key.extend_from_slice(part);
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::common::v1::AnyValue;
    use opentelemetry_proto::tonic::common::v1::any_value::Value as AttributeValue;
    use proptest::prelude::*;

    use super::*;

    /// A point's series inputs, from small alphabets so that equal series,
    /// duplicate keys and the replaced keys come up often.
    fn point() -> impl Strategy<Value = (String, Option<String>, String, Vec<KeyValue>)> {
        let key = prop_oneof![
            Just("a".to_owned()),
            Just("b".to_owned()),
            Just("metric".to_owned()),
            Just("host.name".to_owned()),
        ];
        let value = prop_oneof![
            (0i64..3).prop_map(AttributeValue::IntValue),
            "[12]".prop_map(AttributeValue::StringValue),
        ];
        let attribute = (key, value).prop_map(|(key, value)| KeyValue {
            key,
            value: Some(AnyValue { value: Some(value) }),
            ..Default::default()
        });
        (
            "[xy]",
            proptest::option::of("[hk]"),
            "[mn]",
            proptest::collection::vec(attribute, 0..5),
        )
    }

    proptest! {
        /// Equal keys mean equal series; with the host given or not given
        /// for both, equal series mean equal keys.
        #[test]
        fn keys_tell_series_apart(a in point(), b in point()) {
            let mut keys = SeriesKeys::default();
            let key_a = keys.key(&a.0, a.1.as_deref(), &a.2, &a.3).to_vec();
            let key_b = keys.key(&b.0, b.1.as_deref(), &b.2, &b.3).to_vec();
            let series_a = build_series(&a.0, a.1.as_deref(), &a.2, &a.3);
            let series_b = build_series(&b.0, b.1.as_deref(), &b.2, &b.3);
            if key_a == key_b {
                prop_assert_eq!(&series_a, &series_b);
            }
            if series_a == series_b && a.1.is_some() == b.1.is_some() {
                prop_assert_eq!(key_a, key_b);
            }
        }
    }

    /// A gauge `load` of one point per value of attribute `a`, at `time`.
    fn gauge(time: u64, values: &[(i64, f64)]) -> Metric {
        use opentelemetry_proto::tonic::metrics::v1::Gauge;
        let data_points = values
            .iter()
            .map(|&(a, value)| NumberDataPoint {
                attributes: vec![KeyValue {
                    key: "a".into(),
                    value: Some(AnyValue {
                        value: Some(AttributeValue::IntValue(a)),
                    }),
                    ..Default::default()
                }],
                time_unix_nano: time,
                value: Some(Value::AsDouble(value)),
                ..Default::default()
            })
            .collect();
        Metric {
            name: "load".into(),
            data: Some(Data::Gauge(Gauge { data_points })),
            ..Default::default()
        }
    }

    /// A full summary leaves new series out without building or keeping
    /// them, and still takes the points of the series it holds; the known
    /// series are forgotten at a send once twice the cap.
    #[test]
    fn a_full_summary_takes_its_own_series_and_keeps_no_others() {
        let (sender, receiver) = crossbeam_channel::unbounded();
        let config = crate::watch::WatchConfig {
            max_series: 2,
            ..Default::default()
        };
        let mut feed = StepFeed::new(0, sender, &config);
        let tenant = Tenant::default_tenant();
        let resource = ResourceContext::new(None, "");
        let second = 1_000_000_000;
        let record = |feed: &mut StepFeed, seconds: u64, values: &[(i64, f64)]| {
            feed.record_metric(&tenant, &resource, &gauge(seconds * second, values));
        };
        record(&mut feed, 1, &[(1, 1.0), (2, 2.0), (3, 3.0)]);
        assert_eq!(feed.series.len(), 2, "the third series is not kept");
        record(&mut feed, 2, &[(4, 4.0), (1, 10.0)]);
        assert_eq!(feed.series.len(), 2);
        feed.send();
        let batch = receiver.try_recv().expect("a batch");
        let [(_, _, summary)] = &batch.steps[..] else {
            panic!("one step: {:?}", batch.steps);
        };
        let mut held: Vec<(String, MetricStep)> = summary
            .metrics
            .iter()
            .map(|(series, step)| (series.labels["a"].clone(), step.clone()))
            .collect();
        held.sort_by(|a, b| a.0.cmp(&b.0));
        let gauge_at = |seconds: i64, value| MetricStep::Gauge {
            time: seconds * 1_000_000_000,
            value,
        };
        assert_eq!(
            held,
            [
                ("1".into(), gauge_at(2, 10.0)),
                ("2".into(), gauge_at(1, 2.0))
            ]
        );
        // Room again after the send: two more series, then four known, which
        // the next send forgets.
        record(&mut feed, 3, &[(3, 3.0), (4, 4.0)]);
        assert_eq!(feed.series.len(), 4);
        feed.send();
        assert!(feed.series.is_empty());
    }

    /// The last of each key in `attributes`, in their first order.
    fn last_of_each(attributes: &[KeyValue]) -> Vec<KeyValue> {
        let mut out: Vec<KeyValue> = Vec::new();
        for kv in attributes {
            match out.iter_mut().find(|o| o.key == kv.key) {
                Some(o) => o.value = kv.value.clone(),
                None => out.push(kv.clone()),
            }
        }
        out
    }

    proptest! {
        /// The same series sent with its attributes in another order, after
        /// earlier values of the same keys, has the same key.
        #[test]
        fn the_same_series_written_differently_has_one_key(
            (a, shuffled) in point().prop_flat_map(|a| {
                let unique = last_of_each(&a.3);
                (Just(a), Just(unique).prop_shuffle())
            }),
            junk in proptest::collection::vec((any::<prop::sample::Index>(), 0i64..9), 0..4),
        ) {
            let mut attributes: Vec<KeyValue> = junk
                .iter()
                .filter(|_| !shuffled.is_empty())
                .map(|(i, v)| KeyValue {
                    key: shuffled[i.index(shuffled.len())].key.clone(),
                    value: Some(AnyValue { value: Some(AttributeValue::IntValue(*v)) }),
                    ..Default::default()
                })
                .collect();
            attributes.extend(shuffled.iter().cloned());
            let mut keys = SeriesKeys::default();
            let original = keys.key(&a.0, a.1.as_deref(), &a.2, &a.3).to_vec();
            let rewritten = keys.key(&a.0, a.1.as_deref(), &a.2, &attributes).to_vec();
            prop_assert_eq!(
                build_series(&a.0, a.1.as_deref(), &a.2, &a.3),
                build_series(&a.0, a.1.as_deref(), &a.2, &attributes)
            );
            prop_assert_eq!(original, rewritten);
        }
    }
}
