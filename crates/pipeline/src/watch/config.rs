//! The `[anomaly]` section of the config file.

use serde::{Deserialize, Serialize};
use sluice_anomaly::{AnomalyError, DetectorConfig, Signal, TrendConfig};
use sluice_model::units::Duration;

/// What the shards watch and how the detectors judge it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WatchConfig {
    /// Watch the data for anomalies at all.
    pub enabled: bool,
    /// The step of every watched series, in event time.
    pub step: Duration,
    /// How long a step stays open, behind the newest event time seen, for
    /// records that arrive late; later ones are not counted (and counted in
    /// `sluice_anomaly_late_total`).
    pub lateness: Duration,
    /// Series watched at most, over all tenants; new series beyond the cap
    /// are left out and counted in `sluice_anomaly_series_refused_total`.
    pub max_series: usize,
    /// A series with no data for this long (event time) is forgotten; an
    /// anomaly still open on it ends.
    pub series_expiry: Duration,
    /// Requests a step needs before its error ratio and p99 latency are
    /// judged: fewer make noise, not signal.
    pub min_requests: u64,
    /// Watch metric series (gauge values, rates of monotonic sums,
    /// histogram p99).
    pub metrics: bool,
    /// Watch the rate of ERROR (and worse) log records per service.
    pub logs: bool,
    /// Gauges whose metric name ends with this are utilizations: besides the
    /// baseline, a trend forecast warns before they reach `trend.limit`.
    pub utilization_suffix: String,
    /// Step summaries a shard may have waiting for the detector thread; when
    /// full, a shard drops its summary (counted in
    /// `sluice_anomaly_dropped_total`) rather than wait.
    pub queue_capacity: usize,
    /// The detectors' settings (warm-up, scores, hysteresis, seasonality);
    /// the same for every signal, except that error ratios must move by at
    /// least 0.01 and error-log rates by 0.1/s to count.
    pub detector: DetectorConfig,
    /// The time-to-limit forecast of utilization gauges.
    pub trend: TrendConfig,
}

impl Default for WatchConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            step: Duration::from_secs(10),
            lateness: Duration::from_secs(20),
            max_series: 10_000,
            series_expiry: Duration::from_secs(3600),
            min_requests: 20,
            metrics: true,
            logs: true,
            utilization_suffix: ".utilization".into(),
            queue_capacity: 1024,
            detector: DetectorConfig::default(),
            trend: TrendConfig::default(),
        }
    }
}

impl WatchConfig {
    /// Checks the values a type cannot; the error names the key.
    pub fn validate(&self) -> Result<(), String> {
        let step = self.step.as_nanos_u64();
        if step < 1_000_000_000 || !step.is_multiple_of(1_000_000_000) {
            return Err("anomaly.step: must be a whole number of seconds, at least 1s".into());
        }
        if self.series_expiry.as_nanos_u64() < step {
            return Err("anomaly.series_expiry: must be at least one step".into());
        }
        if self.max_series == 0 {
            return Err("anomaly.max_series: must be at least 1".into());
        }
        if self.queue_capacity == 0 {
            return Err("anomaly.queue_capacity: must be at least 1".into());
        }
        self.detector
            .validate()
            .map_err(|e| keyed("anomaly.detector", e))?;
        self.trend
            .validate()
            .map_err(|e| keyed("anomaly.trend", e))?;
        Ok(())
    }

    /// The step in nanoseconds.
    pub fn step_nanos(&self) -> i64 {
        i64::try_from(self.step.as_nanos_u64()).unwrap_or(i64::MAX)
    }

    /// The detector settings for series of `signal`.
    pub fn detector_for(&self, signal: Signal) -> DetectorConfig {
        let mut config = self.detector;
        let floor = DetectorConfig::for_signal(signal).min_change_abs;
        if floor.get() > config.min_change_abs.get() {
            config.min_change_abs = floor;
        }
        config
    }
}

/// A detector config error with its full key.
fn keyed(section: &str, error: AnomalyError) -> String {
    match error {
        AnomalyError::InvalidValue { key, message } => format!("{section}.{key}: {message}"),
        AnomalyError::Inconsistent {
            key,
            other,
            message,
        } => format!("{section}.{key} and {section}.{other}: {message}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_key() {
        let mut config = WatchConfig::default();
        assert_eq!(config.validate(), Ok(()));
        config.step = Duration::from_millis(1500);
        assert!(
            config
                .validate()
                .expect_err("invalid")
                .starts_with("anomaly.step:")
        );
        config.step = Duration::from_secs(10);
        config.detector.warmup_points = sluice_anomaly::Points::new(1).expect("a count");
        let error = config.validate().expect_err("invalid");
        assert!(
            error.starts_with("anomaly.detector.warmup_points:"),
            "{error}"
        );
    }

    #[test]
    fn error_ratios_keep_their_floor() {
        let config = WatchConfig::default();
        assert_eq!(
            config.detector_for(Signal::ErrorRatio).min_change_abs.get(),
            0.01
        );
        assert_eq!(
            config
                .detector_for(Signal::RequestRate)
                .min_change_abs
                .get(),
            0.0
        );
    }
}
