//! Labelled synthetic series and a scorer: how the tests and the benchmark
//! measure whether the detectors find incidents quickly without paging for
//! noise.
//!
//! # Place in the data path
//!
//! None: this is the yardstick. [`Scenario::generate`] makes seeded series
//! (steady noisy traffic, latency spikes, error bursts, traffic drops, slow
//! drift toward a limit, daily seasonality with and without incidents), each
//! with its ground-truth incident intervals; [`evaluate`] runs a fresh
//! detector over each series the way the wiring would and [`ScenarioScore`]
//! counts detections, delays and false alarms.
//!
//! # Scoring
//!
//! Incident-level: an incident is detected when an anomaly opens within it
//! or within `late` steps after it ends (for forecasts, also up to `early`
//! steps before it starts, a warning being early by nature). The first such
//! anomaly is a true positive with delay `open step − start step` (0 when
//! early). Every other opened anomaly is a false positive; one that overlaps
//! no incident window at all is a *false alarm*. Precision = detected / opened,
//! recall = detected / incidents.
//!
//! The series are generated without knowledge of the detectors, and the
//! detectors are not told which scenario they run on.

mod generate;
mod rng;
mod run;
mod score;

pub use generate::EXHAUSTION_HORIZON_STEPS;
pub use rng::SplitMix64;
pub use run::{Case, DetectorUnderTest, evaluate, opened_steps};
pub use score::{ScenarioScore, Tolerance};

use crate::signal::{Observation, Signal};

/// Ten seconds: the default step of the wiring.
pub const STEP_NANOS: i64 = 10_000_000_000;
pub const STEPS_PER_DAY: usize = 8_640;
/// Monday 2026-01-05 00:00:00 UTC.
pub const START_NANOS: i64 = 1_767_571_200_000_000_000;
/// Points before the first incident may start (the detectors' warm-up, with
/// room to spare): incidents are placed from an hour after this.
pub const SCENARIO_WARMUP_STEPS: usize = 60;

/// A ground-truth incident: steps `start..end` of a series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Incident {
    pub start: usize,
    pub end: usize,
}

/// One generated series with its truth.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelledSeries {
    pub name: String,
    pub signal: Signal,
    pub start_nanos: i64,
    pub step_nanos: i64,
    pub values: Vec<f64>,
    /// What a series detector should find.
    pub incidents: Vec<Incident>,
    /// When the gauge is bound to reach `limit` within 4 hours: what a trend
    /// forecast should warn about.
    pub exhaustion: Vec<Incident>,
    /// The limit of a utilization-like gauge.
    pub limit: Option<f64>,
}

impl LabelledSeries {
    /// The series as the wiring would feed it: one observation per step.
    pub fn observations(&self) -> impl Iterator<Item = Observation> + '_ {
        self.values.iter().enumerate().map(|(i, &value)| {
            Observation::new(self.start_nanos + i as i64 * self.step_nanos, value)
        })
    }

    /// Length in days of event time.
    pub fn days(&self) -> f64 {
        self.values.len() as f64 * self.step_nanos as f64 / (86_400.0 * 1e9)
    }
}

/// A family of labelled series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scenario {
    /// A day of request rate with noise and glitches, no incident.
    SteadyTraffic,
    /// A day of p99 latency with GC-pause spikes and four 1.8–4× incidents.
    LatencySpike,
    /// A day of error ratio with blips and four bursts of +3–20 points.
    ErrorBurst,
    /// A day of request rate with glitches and four drops to 30–70%.
    TrafficDrop,
    /// A day of a utilization gauge climbing slowly, half of them to 1.0.
    SlowDrift,
    /// Four days of traffic with a daily cycle, no incident.
    DailySeasonality,
    /// Four days of traffic with a daily cycle and three drops after day 2.
    DailySeasonalityIncident,
}

impl Scenario {
    pub const ALL: [Scenario; 7] = [
        Self::SteadyTraffic,
        Self::LatencySpike,
        Self::ErrorBurst,
        Self::TrafficDrop,
        Self::SlowDrift,
        Self::DailySeasonality,
        Self::DailySeasonalityIncident,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::SteadyTraffic => "steady_traffic",
            Self::LatencySpike => "latency_spike",
            Self::ErrorBurst => "error_burst",
            Self::TrafficDrop => "traffic_drop",
            Self::SlowDrift => "slow_drift",
            Self::DailySeasonality => "daily_seasonality",
            Self::DailySeasonalityIncident => "daily_seasonality_incident",
        }
    }

    /// `count` series of this scenario from `seed`; the same arguments give
    /// the same series.
    pub fn generate(self, seed: u64, count: usize) -> Vec<LabelledSeries> {
        (0..count)
            .map(|i| {
                let mut rng = SplitMix64::derive(seed, &[self as u64, i as u64]);
                let name = format!("{}-{seed}-{i}", self.name());
                let warmup = SCENARIO_WARMUP_STEPS;
                match self {
                    Self::SteadyTraffic => generate::steady_traffic(&mut rng, name),
                    Self::LatencySpike => generate::latency_spike(&mut rng, name, warmup),
                    Self::ErrorBurst => generate::error_burst(&mut rng, name, warmup),
                    Self::TrafficDrop => generate::traffic_drop(&mut rng, name, warmup),
                    Self::SlowDrift => generate::slow_drift(&mut rng, name, i % 2 == 0),
                    Self::DailySeasonality => generate::daily_seasonality(&mut rng, name, 4, false),
                    Self::DailySeasonalityIncident => {
                        generate::daily_seasonality(&mut rng, name, 4, true)
                    }
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
