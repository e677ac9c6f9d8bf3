//! What a series measures and which way hurts: the vocabulary shared by the
//! detectors, their events and the wiring that feeds them.
//!
//! # Place in the data path
//!
//! The wiring (not this crate) turns records into one [`Observation`] per
//! series and step (10 s of event time by default) for each [`Signal`]: per
//! service and operation the request rate, error ratio and p99 latency; per
//! metric series a gauge value, the rate of a monotonic sum or a histogram's
//! p99; per service the rate of ERROR logs. A detector scores each observation
//! against its baseline and only a deviation in a [`DirectionPolicy`]'s
//! direction can open an anomaly, whose [`Severity`] follows from its score.

use std::fmt;

use serde::{Deserialize, Serialize};

/// One point of a series: its event time and value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Observation {
    /// Event time: nanoseconds since the Unix epoch, UTC, taken from the
    /// records themselves (never the clock), so a replay scores the same.
    pub time_nanos: i64,
    pub value: f64,
}

impl Observation {
    pub fn new(time_nanos: i64, value: f64) -> Self {
        Self { time_nanos, value }
    }
}

/// The kind of series a detector watches; the `signal` field of an anomaly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    /// Server requests per second of a service and operation.
    RequestRate,
    /// Failed over all requests of a service and operation, 0 to 1.
    ErrorRatio,
    /// The p99 latency of a service and operation.
    LatencyP99,
    /// A metric series: gauge value, rate of a monotonic sum, histogram p99.
    Metric,
    /// ERROR (and worse) log records per second of a service.
    LogErrors,
}

impl Signal {
    pub const ALL: [Signal; 5] = [
        Self::RequestRate,
        Self::ErrorRatio,
        Self::LatencyP99,
        Self::Metric,
        Self::LogErrors,
    ];

    /// The snake_case name used in events and config.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RequestRate => "request_rate",
            Self::ErrorRatio => "error_ratio",
            Self::LatencyP99 => "latency_p99",
            Self::Metric => "metric",
            Self::LogErrors => "log_errors",
        }
    }

    /// Which deviations hurt by default: less traffic, more errors, slower
    /// responses, more error logs. A metric can mean anything, so both ways
    /// count until its config says otherwise.
    pub fn default_policy(self) -> DirectionPolicy {
        match self {
            Self::RequestRate => DirectionPolicy::Down,
            Self::ErrorRatio | Self::LatencyP99 | Self::LogErrors => DirectionPolicy::Up,
            Self::Metric => DirectionPolicy::Both,
        }
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which way an observation left its expected value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Up,
    Down,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Up => "up",
            Self::Down => "down",
        }
    }

    /// `Up` for a positive deviation, `Down` for a negative one (and zero).
    pub fn of_deviation(deviation: f64) -> Self {
        if deviation > 0.0 {
            Self::Up
        } else {
            Self::Down
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The directions that may open an anomaly on a series (config key
/// `direction`: `"up"`, `"down"` or `"both"`). A request rate that should also
/// page on a surge (a retry storm) sets `"both"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DirectionPolicy {
    Up,
    Down,
    Both,
}

impl DirectionPolicy {
    pub fn hurts(self, direction: Direction) -> bool {
        matches!(
            (self, direction),
            (Self::Both, _) | (Self::Up, Direction::Up) | (Self::Down, Direction::Down)
        )
    }
}

/// How loudly an anomaly should be announced. The crate derives it from the
/// score only ([`Severity::from_score`]); whether a severity pages someone is
/// alerting config, not this crate's business.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Ticket,
    Page,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Ticket => "ticket",
            Self::Page => "page",
        }
    }

    /// `Page` from `page_score` up, `Ticket` from `ticket_score` up, else `Info`.
    pub fn from_score(score: f64, ticket_score: f64, page_score: f64) -> Self {
        if score >= page_score {
            Self::Page
        } else if score >= ticket_score {
            Self::Ticket
        } else {
            Self::Info
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_snake_case_in_json() {
        for signal in Signal::ALL {
            let json = serde_json::to_string(&signal).expect("serializes");
            assert_eq!(json, format!("\"{}\"", signal.as_str()));
            let back: Signal = serde_json::from_str(&json).expect("parses");
            assert_eq!(back, signal);
        }
        assert_eq!(
            serde_json::to_string(&Direction::Down).expect("serializes"),
            "\"down\""
        );
        assert_eq!(
            serde_json::to_string(&Severity::Page).expect("serializes"),
            "\"page\""
        );
    }

    #[test]
    fn what_hurts_per_signal() {
        use Direction::{Down, Up};
        let hurts = |s: Signal, d| s.default_policy().hurts(d);
        assert!(hurts(Signal::RequestRate, Down) && !hurts(Signal::RequestRate, Up));
        assert!(hurts(Signal::ErrorRatio, Up) && !hurts(Signal::ErrorRatio, Down));
        assert!(hurts(Signal::LatencyP99, Up) && !hurts(Signal::LatencyP99, Down));
        assert!(hurts(Signal::LogErrors, Up) && !hurts(Signal::LogErrors, Down));
        assert!(hurts(Signal::Metric, Up) && hurts(Signal::Metric, Down));
    }

    #[test]
    fn severity_follows_the_score() {
        assert_eq!(Severity::from_score(4.5, 6.0, 12.0), Severity::Info);
        assert_eq!(Severity::from_score(6.0, 6.0, 12.0), Severity::Ticket);
        assert_eq!(Severity::from_score(30.0, 6.0, 12.0), Severity::Page);
        assert!(Severity::Page > Severity::Ticket && Severity::Ticket > Severity::Info);
    }
}
