//! A shard's side of the watch: it summarizes what streams by per tenant and
//! step of event time, and sends the summaries to the detector thread every
//! half second.
//!
//! # Backpressure
//!
//! Sending never waits: when the detector thread's queue is full, the shard
//! drops its summaries and counts them (`sluice_anomaly_dropped_total`).
//! Ingestion never slows down for the detectors. A summary holds at most
//! `anomaly.max_series` entries, and at most that many metric series are
//! built between two sends; records of further series are left out.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crossbeam_channel::{Sender, TrySendError};
use hashbrown::hash_map::EntryRef;
use opentelemetry_proto::tonic::metrics::v1::AggregationTemporality;
use sluice_model::attributes::{wire_key, write_wire_value};
use sluice_model::context::ResourceContext;
use sluice_model::metrics::points::{PointCommon, PointView};
use sluice_model::metrics::wire::{DataFields, GAUGE, HISTOGRAM, SUM, WireMetric};
use sluice_model::time::to_arrow_nanos;
use sluice_model::{HashMap, Tenant};

use super::step::{MetricSeries, MetricStep, SeriesRef, StepBatch, StepSummary};
use crate::metrics::ANOMALY_DROPPED;

/// How often a shard sends its summaries.
const SEND_INTERVAL: Duration = Duration::from_millis(500);

/// `SeverityNumber` of ERROR.
const SEVERITY_ERROR: i32 = 17;

/// What the watch reads of a metric once for all its points
/// ([`StepFeed::watch_metric`]).
#[derive(Debug, Clone, Copy)]
pub struct WatchedMetric<'a> {
    service: &'a str,
    host: Option<&'a str>,
    name: &'a str,
    kind: u32,
    data: DataFields,
}

/// Summaries of one shard, waiting to be sent.
#[derive(Debug)]
pub struct StepFeed {
    shard: usize,
    sender: Sender<StepBatch>,
    metrics: bool,
    logs: bool,
    summaries: Summaries,
    known: KnownSeries,
    last_send: Instant,
}

/// The summaries not sent yet.
#[derive(Debug)]
struct Summaries {
    step: i64,
    max_entries: usize,
    /// Per tenant: the newest event time seen, and the summaries by step.
    pending: HashMap<Tenant, (i64, HashMap<i64, StepSummary>)>,
    entries: usize,
}

/// Metric series by their key (see [`SeriesKeys`]): a point of a series
/// seen before allocates nothing.
#[derive(Debug, Default)]
struct KnownSeries {
    series: hashbrown::HashMap<Vec<u8>, SeriesRef, ahash::RandomState>,
    /// Series built since the last send: at most `max_entries`, so that a
    /// series written in ever new ways does not grow the known ones.
    built: usize,
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
            metrics: config.metrics,
            logs: config.logs,
            summaries: Summaries {
                step: config.step_nanos(),
                max_entries: config.max_series,
                pending: HashMap::default(),
                entries: 0,
            },
            known: KnownSeries::default(),
            last_send: Instant::now(),
        }
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
        let summaries = &mut self.summaries;
        let full = summaries.full();
        let summary = summaries.summary(tenant, to_arrow_nanos(end));
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
        summaries.entries += added;
    }

    /// Counts a log record of `severity_number` at `time` (ns).
    pub fn record_log(&mut self, tenant: &Tenant, service: &str, time: u64, severity_number: i32) {
        if !self.logs || severity_number < SEVERITY_ERROR {
            return;
        }
        let summaries = &mut self.summaries;
        let full = summaries.full();
        let summary = summaries.summary(tenant, to_arrow_nanos(time));
        match summary.error_logs.get_mut(service) {
            Some(count) => *count += 1,
            None if full => {}
            None => {
                summary.entries += 1;
                summary.error_logs.insert(service.to_owned(), 1);
                summaries.entries += 1;
            }
        }
    }

    /// What the watch reads of `metric`, sent under `resource`, once for
    /// all its points; `None` when metrics are not watched or the metric's
    /// type is not (exponential histograms, summaries).
    pub fn watch_metric<'a>(
        &self,
        resource: &'a ResourceContext,
        metric: &WireMetric<'a>,
    ) -> Option<WatchedMetric<'a>> {
        let kind = metric.metric.kind()?;
        (self.metrics && matches!(kind, GAUGE | SUM | HISTOGRAM)).then(|| WatchedMetric {
            service: &resource.service_name,
            host: resource.attributes.get("host.name"),
            name: metric.metric.name,
            kind,
            data: metric.data,
        })
    }

    /// Summarizes `point`, a point of `metric`: gauge values and
    /// non-monotonic sums as gauges, monotonic sums for their rate,
    /// histograms for p99.
    pub fn record_point(&mut self, tenant: &Tenant, metric: &WatchedMetric, point: &PointView) {
        let cumulative =
            metric.data.aggregation_temporality == AggregationTemporality::Cumulative as i32;
        match point {
            PointView::Number(p) => {
                let Some(value) = p.value else { return };
                let Some(series) = self.known.find(metric, &p.common, &self.summaries) else {
                    return;
                };
                let time = to_arrow_nanos(p.common.time_unix_nano);
                let delta =
                    metric.data.aggregation_temporality == AggregationTemporality::Delta as i32;
                let step = match (metric.kind == SUM && metric.data.is_monotonic, delta) {
                    (false, _) => MetricStep::Gauge { time, value },
                    (true, true) => MetricStep::DeltaSum { value },
                    (true, false) => MetricStep::CumulativeSum {
                        time,
                        start: to_arrow_nanos(p.common.start_time_unix_nano),
                        value,
                    },
                };
                self.summaries.add_metric(tenant, time, series, step);
            }
            PointView::Histogram(p) => {
                let counts: Vec<u64> = p.bucket_counts().collect();
                let bounds: Vec<f64> = p.explicit_bounds().collect();
                if counts.len() != bounds.len() + 1 {
                    return;
                }
                let Some(series) = self.known.find(metric, &p.common, &self.summaries) else {
                    return;
                };
                let time = to_arrow_nanos(p.common.time_unix_nano);
                let step = MetricStep::Histogram {
                    time,
                    start: to_arrow_nanos(p.common.start_time_unix_nano),
                    cumulative,
                    bounds,
                    counts,
                };
                self.summaries.add_metric(tenant, time, series, step);
            }
            PointView::ExponentialHistogram(_) | PointView::Summary(_) => {}
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
        if self.summaries.pending.is_empty() {
            return;
        }
        let mut steps = Vec::new();
        let mut newest = Vec::new();
        for (tenant, (time, summaries)) in std::mem::take(&mut self.summaries.pending) {
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
        self.summaries.entries = 0;
        self.known.sent(self.summaries.max_entries);
        match self.sender.try_send(batch) {
            Ok(()) | Err(TrySendError::Disconnected(_)) => {}
            Err(TrySendError::Full(_)) => {
                ::metrics::counter!(ANOMALY_DROPPED, "reason" => "queue_full").increment(1);
            }
        }
    }
}

impl Summaries {
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
}

impl KnownSeries {
    /// The series of a point of `metric`: found by its key, built only
    /// when new and there is room for it. Every series the summaries hold
    /// is known (the known ones are forgotten only in [`sent`](Self::sent),
    /// with the summaries), so one not known while they are full would be
    /// left out by `add_metric`: it is left out before it is built. A
    /// point's key is its attributes as sent (see [`SeriesKeys`]), so a
    /// held series written in a way not seen before is built again; at
    /// most `max_entries` series are built between two sends, and past
    /// that, or while the summaries are full, such a point is left out too.
    /// Lent, not cloned: a point of a known series touches no reference
    /// count.
    fn find(
        &mut self,
        metric: &WatchedMetric,
        point: &PointCommon,
        summaries: &Summaries,
    ) -> Option<&SeriesRef> {
        let key = self.keys.key(metric, point.attributes());
        match self.series.entry_ref(key) {
            EntryRef::Occupied(known) => Some(known.into_mut()),
            EntryRef::Vacant(_) if summaries.full() || self.built >= summaries.max_entries => None,
            EntryRef::Vacant(new) => {
                self.built += 1;
                Some(new.insert(SeriesRef::new(build_series(metric, point.attributes()))))
            }
        }
    }

    /// Called at each send: the count of series built starts again, and
    /// the known series are forgotten once twice the cap (so they stay
    /// under three times it). Forgetting costs only building them again.
    fn sent(&mut self, max_entries: usize) {
        self.built = 0;
        if self.series.len() >= max_entries.saturating_mul(2) {
            self.series.clear();
        }
    }
}

/// The series of a point of `metric` with `attributes` (`KeyValue`
/// messages): its attributes (the last of equal keys kept), the resource's
/// host and the metric's name as labels.
fn build_series<'a>(
    metric: &WatchedMetric,
    attributes: impl Iterator<Item = &'a [u8]>,
) -> MetricSeries {
    let mut labels = BTreeMap::new();
    for kv in attributes {
        let mut value = String::new();
        write_wire_value(kv, &mut value);
        labels.insert(wire_key(kv).to_owned(), value);
    }
    if let Some(host) = metric.host {
        labels.insert("host.name".into(), host.to_owned());
    }
    labels.insert("metric".into(), metric.name.to_owned());
    MetricSeries {
        service: metric.service.to_owned(),
        labels,
    }
}

/// Builds the key of a metric point's series without allocating (once its
/// buffer has grown): the metric's service, host and name and the point's
/// attributes as they were sent, each part length-prefixed and the host
/// tagged (1: a host, 0: none) so that different parts never give the same
/// bytes. Equal keys mean equal series. The same series written another way
/// (its attributes in another order, a key repeated) has another key, and
/// so a second entry among the known series; equal series are one entry in
/// a summary all the same ([`SeriesRef`] compares them by content).
#[derive(Debug, Default)]
struct SeriesKeys {
    key: Vec<u8>,
}

impl SeriesKeys {
    fn key<'a>(
        &mut self,
        metric: &WatchedMetric,
        attributes: impl Iterator<Item = &'a [u8]>,
    ) -> &[u8] {
        self.key.clear();
        push_part(&mut self.key, metric.service.as_bytes());
        match metric.host {
            Some(host) => {
                self.key.push(1);
                push_part(&mut self.key, host.as_bytes());
            }
            None => self.key.push(0),
        }
        push_part(&mut self.key, metric.name.as_bytes());
        for kv in attributes {
            push_part(&mut self.key, kv);
        }
        &self.key
    }
}

/// Appends `part` with its length (under 4 GiB: a request is).
fn push_part(key: &mut Vec<u8>, part: &[u8]) {
    key.extend_from_slice(&(part.len() as u32).to_le_bytes());
    key.extend_from_slice(part);
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
    use opentelemetry_proto::tonic::common::v1::any_value::Value as AttributeValue;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
    use opentelemetry_proto::tonic::metrics::v1::metric::Data;
    use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value;
    use opentelemetry_proto::tonic::metrics::v1::{
        Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
    };
    use proptest::prelude::*;
    use prost::Message;
    use sluice_model::metrics::wire::WireMetrics;

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

    fn watched<'a>(service: &'a str, host: Option<&'a str>, name: &'a str) -> WatchedMetric<'a> {
        WatchedMetric {
            service,
            host,
            name,
            kind: GAUGE,
            data: DataFields::default(),
        }
    }

    /// `attributes` as the `KeyValue` messages of a body.
    fn encoded(attributes: &[KeyValue]) -> Vec<Vec<u8>> {
        attributes.iter().map(Message::encode_to_vec).collect()
    }

    /// The key and the series of a point of `(service, host, metric,
    /// attributes)`.
    fn key_and_series(
        point: &(String, Option<String>, String, Vec<KeyValue>),
    ) -> (Vec<u8>, MetricSeries) {
        let metric = watched(&point.0, point.1.as_deref(), &point.2);
        let attributes = encoded(&point.3);
        let mut keys = SeriesKeys::default();
        let key = keys.key(&metric, attributes.iter().map(|kv| &kv[..]));
        (
            key.to_vec(),
            build_series(&metric, attributes.iter().map(|kv| &kv[..])),
        )
    }

    proptest! {
        /// Equal keys mean equal series.
        #[test]
        fn keys_tell_series_apart(a in point(), b in point()) {
            let (key_a, series_a) = key_and_series(&a);
            let (key_b, series_b) = key_and_series(&b);
            if key_a == key_b {
                prop_assert_eq!(series_a, series_b);
            }
        }
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
        /// earlier values of the same keys, is the same series: one entry
        /// of a summary.
        #[test]
        fn the_same_series_written_differently_is_one_series(
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
            let rewritten = (a.0.clone(), a.1.clone(), a.2.clone(), attributes);
            let (_, original) = key_and_series(&a);
            let (_, again) = key_and_series(&rewritten);
            prop_assert_eq!(&original, &again);
            prop_assert_eq!(SeriesRef::new(original), SeriesRef::new(again));
        }
    }

    /// `a = <value>` as an attribute.
    fn attribute(key: &str, value: i64) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue {
                value: Some(AttributeValue::IntValue(value)),
            }),
            ..Default::default()
        }
    }

    /// A gauge `load` of one point per attribute list and value, at `time`.
    fn gauge(time: u64, points: &[(Vec<KeyValue>, f64)]) -> Metric {
        let data_points = points
            .iter()
            .map(|(attributes, value)| NumberDataPoint {
                attributes: attributes.clone(),
                time_unix_nano: time,
                value: Some(Value::AsDouble(*value)),
                ..Default::default()
            })
            .collect();
        Metric {
            name: "load".into(),
            data: Some(Data::Gauge(Gauge { data_points })),
            ..Default::default()
        }
    }

    /// Records the points of `metric` as a shard does.
    fn record(feed: &mut StepFeed, resource: &ResourceContext, metric: Metric) {
        let request = ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                scope_metrics: vec![ScopeMetrics {
                    metrics: vec![metric],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let metrics = WireMetrics::from_request(&request);
        for metric in metrics.metrics() {
            let watched = feed
                .watch_metric(resource, &metric)
                .expect("a watched gauge");
            for point in metric.points() {
                feed.record_point(&Tenant::default_tenant(), &watched, &point);
            }
        }
    }

    /// What the one step of `batch` holds of each series: the value of its
    /// attribute `a`, and its step.
    fn held(batch: &StepBatch) -> Vec<(String, MetricStep)> {
        let [(_, _, summary)] = &batch.steps[..] else {
            panic!("one step: {:?}", batch.steps);
        };
        let mut held: Vec<(String, MetricStep)> = summary
            .metrics
            .iter()
            .map(|(series, step)| (series.labels["a"].clone(), step.clone()))
            .collect();
        held.sort_by(|a, b| a.0.cmp(&b.0));
        held
    }

    fn gauge_at(seconds: i64, value: f64) -> MetricStep {
        MetricStep::Gauge {
            time: seconds * 1_000_000_000,
            value,
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
        let resource = ResourceContext::new(None, "");
        let second = 1_000_000_000;
        let points = |values: &[(i64, f64)]| -> Vec<(Vec<KeyValue>, f64)> {
            values
                .iter()
                .map(|&(a, value)| (vec![attribute("a", a)], value))
                .collect()
        };
        record(
            &mut feed,
            &resource,
            gauge(second, &points(&[(1, 1.0), (2, 2.0), (3, 3.0)])),
        );
        assert_eq!(feed.known.series.len(), 2, "the third series is not kept");
        record(
            &mut feed,
            &resource,
            gauge(2 * second, &points(&[(4, 4.0), (1, 10.0)])),
        );
        assert_eq!(feed.known.series.len(), 2);
        feed.send();
        let batch = receiver.try_recv().expect("a batch");
        assert_eq!(
            held(&batch),
            [
                ("1".into(), gauge_at(2, 10.0)),
                ("2".into(), gauge_at(1, 2.0))
            ]
        );
        // Room again after the send: two more series, then four known, which
        // the next send forgets.
        record(
            &mut feed,
            &resource,
            gauge(3 * second, &points(&[(3, 3.0), (4, 4.0)])),
        );
        assert_eq!(feed.known.series.len(), 4);
        feed.send();
        assert!(feed.known.series.is_empty());
    }

    /// A series written in ever new ways is built at most `max_series`
    /// times between two sends.
    #[test]
    fn a_series_written_many_ways_is_built_at_most_the_cap() {
        let (sender, _receiver) = crossbeam_channel::unbounded();
        let config = crate::watch::WatchConfig {
            max_series: 2,
            ..Default::default()
        };
        let mut feed = StepFeed::new(0, sender, &config);
        let resource = ResourceContext::new(None, "");
        let orders = [
            vec![attribute("a", 1), attribute("b", 2), attribute("c", 3)],
            vec![attribute("b", 2), attribute("a", 1), attribute("c", 3)],
            vec![attribute("c", 3), attribute("b", 2), attribute("a", 1)],
        ];
        for order in &orders {
            record(
                &mut feed,
                &resource,
                gauge(1_000_000_000, &[(order.clone(), 1.0)]),
            );
        }
        assert_eq!((feed.known.series.len(), feed.summaries.entries), (2, 1));
        feed.send();
        record(
            &mut feed,
            &resource,
            gauge(2_000_000_000, &[(orders[2].clone(), 1.0)]),
        );
        assert_eq!((feed.known.series.len(), feed.summaries.entries), (3, 1));
    }

    /// A series whose attributes come in two orders is known twice and held
    /// once.
    #[test]
    fn a_series_written_two_ways_is_held_once() {
        let (sender, receiver) = crossbeam_channel::unbounded();
        let mut feed = StepFeed::new(0, sender, &crate::watch::WatchConfig::default());
        let resource = ResourceContext::new(None, "");
        let ab = vec![attribute("a", 1), attribute("b", 2)];
        let ba = vec![attribute("b", 2), attribute("a", 1)];
        let second = 1_000_000_000;
        record(&mut feed, &resource, gauge(second, &[(ab, 1.0)]));
        record(&mut feed, &resource, gauge(2 * second, &[(ba, 2.0)]));
        assert_eq!(feed.known.series.len(), 2);
        assert_eq!(feed.summaries.entries, 1);
        feed.send();
        let batch = receiver.try_recv().expect("a batch");
        assert_eq!(held(&batch), [("1".into(), gauge_at(2, 2.0))]);
    }
}
