//! Runs detectors over labelled series as the wiring would: one fresh
//! detector per series, one observation per step, in time order.

use super::{LabelledSeries, STEP_NANOS, Scenario, ScenarioScore, Tolerance};
use crate::event::Transition;
use crate::signal::{Observation, Signal};
use crate::{AnomalyError, DetectorConfig, SeriesDetector, TrendConfig, TrendForecast};

/// Which detector a case measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DetectorUnderTest {
    /// [`SeriesDetector`] against the series' `incidents`.
    Series,
    /// [`TrendForecast`] against the series' `exhaustion` windows.
    Trend,
}

/// A scenario and the detector measured on it: one row of the benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Case {
    pub scenario: Scenario,
    pub detector: DetectorUnderTest,
}

impl Case {
    /// Every scenario under the series detector (slow drift included: a
    /// drift should not page), and slow drift under the trend forecast.
    pub const ALL: [Case; 8] = [
        Self::series(Scenario::SteadyTraffic),
        Self::series(Scenario::LatencySpike),
        Self::series(Scenario::ErrorBurst),
        Self::series(Scenario::TrafficDrop),
        Self::series(Scenario::SlowDrift),
        Case {
            scenario: Scenario::SlowDrift,
            detector: DetectorUnderTest::Trend,
        },
        Self::series(Scenario::DailySeasonality),
        Self::series(Scenario::DailySeasonalityIncident),
    ];

    const fn series(scenario: Scenario) -> Self {
        Self {
            scenario,
            detector: DetectorUnderTest::Series,
        }
    }

    /// `traffic_drop`, or `slow_drift/trend` for the forecast.
    pub fn name(self) -> String {
        match self.detector {
            DetectorUnderTest::Series => self.scenario.name().to_owned(),
            DetectorUnderTest::Trend => format!("{}/trend", self.scenario.name()),
        }
    }

    /// How early and late a detection may be: a forecast may warn up to an
    /// hour before its window; an anomaly may open up to 3 steps after its
    /// incident ends.
    pub fn tolerance(self) -> Tolerance {
        match self.detector {
            DetectorUnderTest::Series => Tolerance { early: 0, late: 3 },
            DetectorUnderTest::Trend => Tolerance {
                early: (3_600_000_000_000 / STEP_NANOS) as usize,
                late: 3,
            },
        }
    }
}

/// The steps at which `observe` opened an anomaly over `series`.
pub fn opened_steps(
    series: &LabelledSeries,
    mut observe: impl FnMut(Observation) -> Option<Transition>,
) -> Vec<usize> {
    series
        .observations()
        .enumerate()
        .filter_map(|(i, o)| matches!(observe(o), Some(Transition::Opened(_))).then_some(i))
        .collect()
}

/// Scores `case` over `count` series for each seed, with a series detector
/// configured by `config_for` or a forecast configured by `trend` (its
/// `limit` taken from each series).
pub fn evaluate(
    case: Case,
    seeds: &[u64],
    count: usize,
    config_for: &dyn Fn(Signal) -> DetectorConfig,
    trend: &TrendConfig,
) -> Result<ScenarioScore, AnomalyError> {
    let mut score = ScenarioScore::default();
    for &seed in seeds {
        for series in case.scenario.generate(seed, count) {
            let (truth, opened) = match case.detector {
                DetectorUnderTest::Series => {
                    let mut detector =
                        SeriesDetector::new(series.signal, &config_for(series.signal))?;
                    (
                        &series.incidents,
                        opened_steps(&series, |o| detector.observe(o)),
                    )
                }
                DetectorUnderTest::Trend => {
                    let config = TrendConfig {
                        limit: series.limit.unwrap_or(trend.limit),
                        ..*trend
                    };
                    let mut forecast = TrendForecast::new(&config)?;
                    (
                        &series.exhaustion,
                        opened_steps(&series, |o| forecast.observe(o)),
                    )
                }
            };
            score.add_series(truth, &opened, series.days(), case.tolerance());
        }
    }
    Ok(score)
}
