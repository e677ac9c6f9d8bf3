//! From a closed step's summary to one observation per watched series, and
//! the detectors that judge them.

use std::collections::{HashMap, HashSet};

use sluice_anomaly::{
    AnomalyError, Observation, SeriesDetector, SeriesKey, Signal, Transition, TrendForecast,
};

use super::WatchConfig;
use super::step::{MetricStep, StepSummary};

/// The state of one watched series.
#[derive(Debug)]
pub(super) struct Watched {
    detector: SeriesDetector,
    /// Utilization gauges only.
    trend: Option<TrendForecast>,
    /// The last step with data, for expiry.
    pub last_data: i64,
    /// The previous point of a cumulative metric, to take differences.
    previous: Option<MetricStep>,
}

impl Watched {
    fn new(key: &SeriesKey, config: &WatchConfig) -> Result<Self, AnomalyError> {
        let trend = (key.signal == Signal::Metric
            && key
                .labels
                .get("metric")
                .is_some_and(|m| m.ends_with(&config.utilization_suffix)))
        .then(|| TrendForecast::new(&config.trend))
        .transpose()?;
        Ok(Self {
            detector: SeriesDetector::new(key.signal, &config.detector_for(key.signal))?,
            trend,
            last_data: i64::MIN,
            previous: None,
        })
    }

    /// Judges one observation; the transitions it caused.
    fn observe(&mut self, observation: Observation, gauge: bool) -> Vec<Transition> {
        let mut transitions: Vec<Transition> =
            self.detector.observe(observation).into_iter().collect();
        if gauge && let Some(trend) = &mut self.trend {
            transitions.extend(trend.observe(observation));
        }
        transitions
    }

    /// The open anomalies, ended at `end` (the series expired or Sluice stops).
    pub fn close(&self, end: i64) -> Vec<Transition> {
        self.detector
            .open_anomaly()
            .into_iter()
            .chain(self.trend.as_ref().and_then(|t| t.open_warning()))
            .map(|open| {
                let mut event = open.clone();
                event.end = Some(end);
                Transition::Resolved(event)
            })
            .collect()
    }
}

/// The series of one tenant.
#[derive(Debug, Default)]
pub(super) struct TenantSeries {
    pub series: HashMap<SeriesKey, Watched>,
}

/// What observing one step produced.
#[derive(Debug, Default)]
pub(super) struct StepResult {
    pub transitions: Vec<(SeriesKey, Transition)>,
    /// New series the cap left out.
    pub refused: u64,
}

impl TenantSeries {
    /// Feeds the step starting at `start` to the detectors. `room` is how
    /// many new series may still be watched (over all tenants).
    pub fn observe_step(
        &mut self,
        config: &WatchConfig,
        start: i64,
        summary: StepSummary,
        room: &mut usize,
    ) -> StepResult {
        let seconds = config.step_nanos() as f64 / 1e9;
        let mut result = StepResult::default();
        let mut seen: HashSet<SeriesKey> = HashSet::new();
        let mut observe = |key: SeriesKey,
                           value: Option<f64>,
                           series: &mut HashMap<SeriesKey, Watched>,
                           result: &mut StepResult|
         -> Option<()> {
            let watched = match series.get_mut(&key) {
                Some(watched) => watched,
                None if *room == 0 => {
                    result.refused += 1;
                    return None;
                }
                None => {
                    let watched = Watched::new(&key, config).ok()?;
                    *room -= 1;
                    series.entry(key.clone()).or_insert(watched)
                }
            };
            watched.last_data = start;
            if let Some(value) = value {
                let gauge = key.signal == Signal::Metric;
                for transition in watched.observe(Observation::new(start, value), gauge) {
                    result.transitions.push((key.clone(), transition));
                }
            }
            Some(())
        };
        let key = |service: &str, operation: Option<&str>, signal| SeriesKey {
            service: service.to_owned(),
            operation: operation.map(str::to_owned),
            signal,
            labels: Default::default(),
        };
        for (service, operations) in &summary.spans {
            for (operation, step) in operations {
                let rate = step.requests as f64 / seconds;
                let rate_key = key(service, Some(operation), Signal::RequestRate);
                seen.insert(rate_key.clone());
                observe(rate_key, Some(rate), &mut self.series, &mut result);
                if step.requests >= config.min_requests {
                    let ratio = step.errors as f64 / step.requests as f64;
                    let p99 = step.latency.quantile(0.99).map(|nanos| nanos / 1e6);
                    let k = key(service, Some(operation), Signal::ErrorRatio);
                    observe(k, Some(ratio), &mut self.series, &mut result);
                    let k = key(service, Some(operation), Signal::LatencyP99);
                    observe(k, p99, &mut self.series, &mut result);
                }
            }
        }
        for (service, count) in &summary.error_logs {
            let k = key(service, None, Signal::LogErrors);
            seen.insert(k.clone());
            observe(
                k,
                Some(*count as f64 / seconds),
                &mut self.series,
                &mut result,
            );
        }
        // Rates of series with no data this step are zero: that is how a
        // traffic drop looks.
        let silent: Vec<SeriesKey> = self
            .series
            .keys()
            .filter(|k| matches!(k.signal, Signal::RequestRate | Signal::LogErrors))
            .filter(|k| !seen.contains(k))
            .cloned()
            .collect();
        for k in silent {
            if let Some(watched) = self.series.get_mut(&k) {
                for transition in watched.observe(Observation::new(start, 0.0), false) {
                    result.transitions.push((k.clone(), transition));
                }
            }
        }
        for (metric, step) in summary.metrics {
            let metric = metric.into_series();
            let k = SeriesKey {
                service: metric.service,
                operation: None,
                signal: Signal::Metric,
                labels: metric.labels,
            };
            let previous = self.series.get(&k).and_then(|w| w.previous.clone());
            let value = metric_value(&step, previous.as_ref(), seconds);
            if observe(k.clone(), value, &mut self.series, &mut result).is_some()
                && let Some(watched) = self.series.get_mut(&k)
            {
                watched.previous = Some(step);
            }
        }
        result
    }

    /// Forgets the series with no data since `expired_before`; their open
    /// anomalies end at `end`.
    pub fn expire(&mut self, expired_before: i64, end: i64) -> Vec<(SeriesKey, Transition)> {
        let mut transitions = Vec::new();
        self.series.retain(|key, watched| {
            let keep = watched.last_data >= expired_before;
            if !keep {
                transitions.extend(watched.close(end).into_iter().map(|t| (key.clone(), t)));
            }
            keep
        });
        transitions
    }
}

/// The value a metric series shows this step: a gauge's value, a monotonic
/// sum's rate per second, a histogram's p99 (of the observations since the
/// previous point, for cumulative ones). `None` when it cannot say (a first
/// cumulative point, a reset).
fn metric_value(step: &MetricStep, previous: Option<&MetricStep>, seconds: f64) -> Option<f64> {
    match step {
        MetricStep::Gauge { value, .. } => Some(*value),
        MetricStep::DeltaSum { value } => Some(value / seconds),
        MetricStep::CumulativeSum { time, start, value } => match previous {
            Some(MetricStep::CumulativeSum {
                time: t0,
                start: s0,
                value: v0,
            }) if s0 == start && value >= v0 && time > t0 => {
                Some((value - v0) / ((time - t0) as f64 / 1e9))
            }
            _ => None,
        },
        MetricStep::Histogram {
            cumulative: false,
            bounds,
            counts,
            ..
        } => histogram_quantile(bounds, counts, 0.99),
        MetricStep::Histogram {
            cumulative: true,
            bounds,
            counts,
            start,
            ..
        } => match previous {
            Some(MetricStep::Histogram {
                bounds: b0,
                counts: c0,
                start: s0,
                ..
            }) if b0 == bounds && s0 == start && c0.len() == counts.len() => {
                let diff: Option<Vec<u64>> = counts
                    .iter()
                    .zip(c0)
                    .map(|(c, p)| c.checked_sub(*p))
                    .collect();
                diff.and_then(|d| histogram_quantile(bounds, &d, 0.99))
            }
            _ => None,
        },
    }
}

/// The `q` quantile of an explicit-bounds histogram, interpolated inside
/// its bucket (the first bucket from 0, the overflow bucket at its lower
/// bound); `None` when empty.
pub(super) fn histogram_quantile(bounds: &[f64], counts: &[u64], q: f64) -> Option<f64> {
    let total: u64 = counts.iter().sum();
    if total == 0 || counts.len() != bounds.len() + 1 {
        return None;
    }
    let rank = q * total as f64;
    let mut below = 0u64;
    for (i, count) in counts.iter().enumerate() {
        if (below + count) as f64 >= rank && *count > 0 {
            if i == bounds.len() {
                return bounds.last().copied();
            }
            let upper = bounds[i];
            let lower = if i == 0 {
                0.0_f64.min(upper)
            } else {
                bounds[i - 1]
            };
            let within = (rank - below as f64) / *count as f64;
            return Some(lower + (upper - lower) * within);
        }
        below += count;
    }
    bounds.last().copied()
}

#[cfg(test)]
mod tests {
    use sluice_anomaly::{Direction, Points};

    use super::super::step::SpanStep;
    use super::*;

    fn config() -> WatchConfig {
        let mut config = WatchConfig::default();
        config.detector.warmup_points = Points::new(10).expect("a count");
        config.detector.seasonality.daily = false;
        config.detector.seasonality.weekly = false;
        config
    }

    /// One step of `checkout` `POST /pay`: `requests` spans of 30 ms.
    fn summary(requests: u64, errors: u64) -> StepSummary {
        let mut step = SpanStep {
            requests,
            errors,
            ..SpanStep::default()
        };
        for _ in 0..requests {
            step.latency.add(30e6);
        }
        let mut summary = StepSummary::default();
        summary
            .spans
            .entry("checkout".into())
            .or_default()
            .insert("POST /pay".into(), step);
        summary
    }

    fn opened(result: StepResult) -> Vec<(Signal, Direction)> {
        result
            .transitions
            .into_iter()
            .filter(|(_, t)| matches!(t, Transition::Opened(_)))
            .map(|(key, t)| (key.signal, t.event().direction))
            .collect()
    }

    #[test]
    fn an_error_burst_opens_one_anomaly_and_silence_is_a_traffic_drop() {
        let config = config();
        let step = config.step_nanos();
        let mut series = TenantSeries::default();
        let mut room = 100;
        let mut found = Vec::new();
        for i in 0..36 {
            let errors = if i >= 30 { 50 } else { i as u64 % 2 };
            found.extend(opened(series.observe_step(
                &config,
                i * step,
                summary(100, errors),
                &mut room,
            )));
        }
        assert_eq!(found, vec![(Signal::ErrorRatio, Direction::Up)]);
        // Steps with no spans at all: the request rate is observed as zero.
        let mut found = Vec::new();
        for i in 36..42 {
            found.extend(opened(series.observe_step(
                &config,
                i * step,
                StepSummary::default(),
                &mut room,
            )));
        }
        assert_eq!(found, vec![(Signal::RequestRate, Direction::Down)]);
        assert_eq!(room, 97, "three series: rate, error ratio, p99");
    }

    #[test]
    fn new_series_beyond_the_cap_are_refused() {
        let config = config();
        let mut series = TenantSeries::default();
        let mut room = 1;
        let result = series.observe_step(&config, 0, summary(100, 0), &mut room);
        assert_eq!((room, result.refused), (0, 2));
        assert_eq!(series.series.len(), 1);
    }

    #[test]
    fn histogram_quantiles_interpolate_inside_the_bucket() {
        let bounds = [10.0, 20.0, 40.0];
        assert_eq!(histogram_quantile(&bounds, &[0, 0, 0, 0], 0.99), None);
        // 100 observations, all between 20 and 40.
        let p99 = histogram_quantile(&bounds, &[0, 0, 100, 0], 0.99).expect("p99");
        assert!((p99 - 39.8).abs() < 1e-9, "{p99}");
        // The overflow bucket reports its lower bound.
        assert_eq!(histogram_quantile(&bounds, &[0, 0, 0, 5], 0.99), Some(40.0));
        let p50 = histogram_quantile(&bounds, &[50, 50, 0, 0], 0.5).expect("p50");
        assert!((p50 - 10.0).abs() < 1e-9, "{p50}");
    }

    #[test]
    fn cumulative_sums_become_rates_and_resets_say_nothing() {
        let point =
            |time: i64, start: i64, value: f64| MetricStep::CumulativeSum { time, start, value };
        let second = 1_000_000_000;
        assert_eq!(metric_value(&point(10 * second, 0, 50.0), None, 10.0), None);
        assert_eq!(
            metric_value(
                &point(20 * second, 0, 150.0),
                Some(&point(10 * second, 0, 50.0)),
                10.0
            ),
            Some(10.0)
        );
        assert_eq!(
            metric_value(
                &point(20 * second, 0, 10.0),
                Some(&point(10 * second, 0, 50.0)),
                10.0
            ),
            None
        );
    }
}
