//! Anomalies as events: what a detector hands the wiring when an anomaly
//! opens, escalates or resolves.
//!
//! # Place in the data path
//!
//! [`crate::SeriesDetector::observe`] and [`crate::TrendForecast::observe`]
//! return a [`Transition`] on the step where an anomaly changes. The wiring
//! (later) adds the series' identity ([`SeriesKey`]) to make an
//! [`AnomalyRecord`], stores it as a Parquet row and sends it to the alert
//! webhooks; `end` is `null` while the anomaly is ongoing.
//!
//! # Times
//!
//! `start` and `end` are event time (the records' own timestamps), in
//! nanoseconds since the Unix epoch: `start` is the first point of the run of
//! points that opened the anomaly, `end` the first point of the calm run that
//! resolved it. Observed, expected and score are those of the anomaly's peak
//! so far (its highest score).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::signal::{Direction, Severity, Signal};

/// Which model produced an anomaly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DetectorKind {
    /// The robust level and spread of the raw series.
    RobustBaseline,
    /// The hour-of-day profile plus today's residual.
    SeasonalDaily,
    /// The day-of-week × hour profile plus this week's residual.
    SeasonalWeekly,
    /// The time-to-limit forecast of a utilization-like gauge.
    TrendForecast,
}

impl DetectorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RobustBaseline => "robust_baseline",
            Self::SeasonalDaily => "seasonal_daily",
            Self::SeasonalWeekly => "seasonal_weekly",
            Self::TrendForecast => "trend_forecast",
        }
    }
}

impl fmt::Display for DetectorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One anomaly of one series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnomalyEvent {
    /// Event time of the first anomalous point, ns since the epoch.
    pub start: i64,
    /// Event time the series came back, ns since the epoch; `None` while open.
    pub end: Option<i64>,
    /// The value at the peak.
    pub observed: f64,
    /// What was expected at the peak (for a forecast: the limit).
    pub expected: f64,
    /// The peak score: robust standard deviations from the expected value;
    /// for a forecast, the horizon over the time to limit (≥ 1 when warning).
    pub score: f64,
    pub severity: Severity,
    pub direction: Direction,
    pub detector: DetectorKind,
    /// For a forecast: seconds until the limit is reached at the peak (0 when
    /// already there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_to_limit_seconds: Option<f64>,
}

impl AnomalyEvent {
    pub fn is_open(&self) -> bool {
        self.end.is_none()
    }
}

/// A change in a series' anomaly, returned on the step it happens.
#[derive(Debug, Clone, PartialEq)]
pub enum Transition {
    /// A new anomaly: announce it.
    Opened(AnomalyEvent),
    /// The open anomaly's severity rose: announce it again.
    Updated(AnomalyEvent),
    /// The anomaly is over: `end` is set.
    Resolved(AnomalyEvent),
}

impl Transition {
    pub fn event(&self) -> &AnomalyEvent {
        match self {
            Self::Opened(e) | Self::Updated(e) | Self::Resolved(e) => e,
        }
    }

    pub fn into_event(self) -> AnomalyEvent {
        match self {
            Self::Opened(e) | Self::Updated(e) | Self::Resolved(e) => e,
        }
    }

    /// `opened`, `updated` or `resolved`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Opened(_) => "opened",
            Self::Updated(_) => "updated",
            Self::Resolved(_) => "resolved",
        }
    }
}

/// The identity of a watched series.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SeriesKey {
    pub service: String,
    /// `None` for series that are per service only (error logs, metrics).
    pub operation: Option<String>,
    pub signal: Signal,
    /// The metric name and attributes of a metric series; empty otherwise.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// An anomaly with its series: one row of the anomalies table, one alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnomalyRecord {
    #[serde(flatten)]
    pub series: SeriesKey,
    #[serde(flatten)]
    pub event: AnomalyEvent,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_one_flat_json_object() {
        let record = AnomalyRecord {
            series: SeriesKey {
                service: "checkout".into(),
                operation: Some("POST /pay".into()),
                signal: Signal::LatencyP99,
                labels: BTreeMap::new(),
            },
            event: AnomalyEvent {
                start: 1_000,
                end: None,
                observed: 0.9,
                expected: 0.3,
                score: 12.5,
                severity: Severity::Page,
                direction: Direction::Up,
                detector: DetectorKind::SeasonalDaily,
                time_to_limit_seconds: None,
            },
        };
        let json = serde_json::to_value(&record).expect("serializes");
        assert_eq!(
            json,
            serde_json::json!({
                "service": "checkout",
                "operation": "POST /pay",
                "signal": "latency_p99",
                "labels": {},
                "start": 1000,
                "end": null,
                "observed": 0.9,
                "expected": 0.3,
                "score": 12.5,
                "severity": "page",
                "direction": "up",
                "detector": "seasonal_daily",
            })
        );
        let back: AnomalyRecord = serde_json::from_value(json).expect("parses");
        assert_eq!(back, record);
    }
}
