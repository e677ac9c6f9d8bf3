//! The detector settings: how fast a baseline learns, what score opens and
//! closes an anomaly, what change is too small to matter, and when the
//! seasonal profile and the exhaustion forecast take over.
//!
//! # Place in the data path
//!
//! The binary reads these from its config file (later wiring: one
//! [`DetectorConfig`] per signal, [`DetectorConfig::for_signal`] giving the
//! defaults) and validates them once at start-up with
//! [`DetectorConfig::validate`]; every [`crate::SeriesDetector`] and
//! [`crate::TrendForecast`] then holds a copy. Unknown keys are refused.

pub mod values;

use serde::{Deserialize, Serialize};
use sluice_model::units::Duration;

use crate::AnomalyError;
use crate::signal::{Direction, DirectionPolicy, Signal};
pub use values::{Amount, Fraction, Points, Score};

/// How one series is scored and when its anomalies open and close.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DetectorConfig {
    /// Points learned before the detector may fire.
    pub warmup_points: Points,
    /// Half-life, in event time, of the expected level.
    pub level_half_life: Duration,
    /// Half-life, in event time, of the spread (robust standard deviation).
    pub spread_half_life: Duration,
    /// A point further than this many spreads from the level moves the
    /// baseline as if it were exactly this far (Huber clipping): one outlier
    /// cannot drag the level.
    pub clip: Score,
    /// Score at or above which a point counts toward opening an anomaly.
    pub open_score: Score,
    /// Score below which a point counts toward closing it.
    pub close_score: Score,
    /// Consecutive points at or above `open_score` that open an anomaly.
    pub open_points: Points,
    /// Consecutive points below `close_score` that resolve it.
    pub close_points: Points,
    /// After an anomaly resolves, none opens on the series for this long.
    pub cooldown: Duration,
    /// Peak score from which an anomaly is a ticket.
    pub ticket_score: Score,
    /// Peak score from which an anomaly is a page.
    pub page_score: Score,
    /// Floor on the spread, in the series' unit.
    pub min_spread_abs: Amount,
    /// Floor on the spread, as a fraction of the expected value.
    pub min_spread_rel: Amount,
    /// A deviation smaller than this (series' unit) never counts.
    pub min_change_abs: Amount,
    /// A deviation smaller than this fraction of the expected value never
    /// counts.
    pub min_change_rel: Amount,
    /// How fast the level learns while an anomaly is open, as a fraction of
    /// the normal rate (the spread learns nothing then). Small, so a long
    /// incident is not absorbed; above 0, so a permanent shift is accepted
    /// as the new normal after many hours instead of never.
    pub learn_while_open: Fraction,
    /// A silence longer than this restarts the open and close streaks.
    pub max_gap: Duration,
    /// Which deviations may open an anomaly; the signal's default when unset.
    pub direction: Option<DirectionPolicy>,
    pub seasonality: SeasonalityConfig,
}

/// The time-of-day and day-of-week profiles.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SeasonalityConfig {
    /// Learn a time-of-day profile (96 quarter-hour slots, UTC).
    pub daily: bool,
    /// Learn a day-of-week × hour profile (168 slots, UTC).
    pub weekly: bool,
    /// A profile is used at a time of day (week) once both of its nearest
    /// slots have seen this many days (weeks).
    pub min_periods: Points,
    /// Half-life of a slot, in days (weeks) of history.
    pub half_life_periods: Score,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        Self {
            warmup_points: Points::of(60),
            level_half_life: Duration::from_secs(15 * 60),
            spread_half_life: Duration::from_secs(60 * 60),
            clip: Score::of(3.0),
            open_score: Score::of(4.0),
            close_score: Score::of(2.0),
            open_points: Points::of(3),
            close_points: Points::of(6),
            cooldown: Duration::from_secs(15 * 60),
            ticket_score: Score::of(6.0),
            page_score: Score::of(10.0),
            min_spread_abs: Amount::of(1e-9),
            min_spread_rel: Amount::of(0.01),
            min_change_abs: Amount::of(0.0),
            min_change_rel: Amount::of(0.1),
            learn_while_open: Fraction::of(0.1),
            max_gap: Duration::from_secs(5 * 60),
            direction: None,
            seasonality: SeasonalityConfig::default(),
        }
    }
}

impl Default for SeasonalityConfig {
    fn default() -> Self {
        Self {
            daily: true,
            weekly: true,
            min_periods: Points::of(2),
            half_life_periods: Score::of(3.0),
        }
    }
}

fn positive(key: &'static str, d: Duration) -> Result<(), AnomalyError> {
    if d.as_nanos_u64() == 0 {
        return Err(AnomalyError::value(key, "must be above 0"));
    }
    if d.as_nanos_u64() > i64::MAX as u64 / 4 {
        return Err(AnomalyError::value(key, format!("{d} is too long")));
    }
    Ok(())
}

impl DetectorConfig {
    /// The defaults for one signal: the generic ones, plus a floor on the
    /// change that counts where near-zero series are common. An error ratio
    /// must move by a percentage point, error logs by one record per 10 s.
    pub fn for_signal(signal: Signal) -> Self {
        let mut config = Self::default();
        match signal {
            Signal::ErrorRatio => config.min_change_abs = Amount::of(0.01),
            Signal::LogErrors => config.min_change_abs = Amount::of(0.1),
            Signal::RequestRate | Signal::LatencyP99 | Signal::Metric => {}
        }
        config
    }

    /// The directions that open anomalies on a series of `signal`.
    pub fn policy(&self, signal: Signal) -> DirectionPolicy {
        self.direction.unwrap_or(signal.default_policy())
    }

    /// Checks what the types cannot: durations above zero, warm-up long
    /// enough to estimate a spread, and keys that must be ordered.
    pub fn validate(&self) -> Result<(), AnomalyError> {
        if self.warmup_points.get() < 2 {
            return Err(AnomalyError::value(
                "warmup_points",
                "must be at least 2: a spread needs two points",
            ));
        }
        positive("level_half_life", self.level_half_life)?;
        positive("spread_half_life", self.spread_half_life)?;
        positive("max_gap", self.max_gap)?;
        if self.cooldown.as_nanos_u64() > i64::MAX as u64 / 4 {
            return Err(AnomalyError::value("cooldown", "is too long"));
        }
        if self.close_score >= self.open_score {
            return Err(AnomalyError::inconsistent(
                "close_score",
                "open_score",
                format!(
                    "close_score ({}) must be below open_score ({}), or a point could both open and close",
                    self.close_score, self.open_score
                ),
            ));
        }
        if self.ticket_score > self.page_score {
            return Err(AnomalyError::inconsistent(
                "ticket_score",
                "page_score",
                format!(
                    "ticket_score ({}) must not be above page_score ({})",
                    self.ticket_score, self.page_score
                ),
            ));
        }
        if self.min_spread_abs.get() == 0.0 {
            return Err(AnomalyError::value(
                "min_spread_abs",
                "must be above 0, or a constant series would divide by zero",
            ));
        }
        Ok(())
    }
}

/// How a utilization-like gauge is forecast toward its limit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrendConfig {
    /// The value the gauge must not reach: 1.0 for a utilization ratio.
    pub limit: f64,
    /// `up`: the gauge fills toward the limit; `down`: it drains toward it.
    pub crossing: Direction,
    /// Warn when the limit is forecast within this.
    pub horizon: Duration,
    /// A warning whose time to limit is at most this is a page.
    pub page_horizon: Duration,
    /// A warning resolves when the forecast is beyond this (hysteresis).
    pub close_horizon: Duration,
    /// Half-life, in event time, of the smoothed level.
    pub level_half_life: Duration,
    /// Half-life, in event time, of the slope.
    pub slope_half_life: Duration,
    /// Points learned before the forecast may warn.
    pub warmup_points: Points,
    /// Huber clip of a point's surprise, in spreads.
    pub clip: Score,
    /// Consecutive points forecasting the limit within `horizon` that open a
    /// warning.
    pub open_points: Points,
    /// Consecutive points forecasting beyond `close_horizon` that resolve it.
    pub close_points: Points,
    /// A silence longer than this restarts the streaks.
    pub max_gap: Duration,
}

impl Default for TrendConfig {
    fn default() -> Self {
        Self {
            limit: 1.0,
            crossing: Direction::Up,
            horizon: Duration::from_secs(4 * 3600),
            page_horizon: Duration::from_secs(3600),
            close_horizon: Duration::from_secs(5 * 3600),
            level_half_life: Duration::from_secs(15 * 60),
            slope_half_life: Duration::from_secs(3600),
            warmup_points: Points::of(360),
            clip: Score::of(3.0),
            open_points: Points::of(3),
            close_points: Points::of(30),
            max_gap: Duration::from_secs(5 * 60),
        }
    }
}

impl TrendConfig {
    /// Checks the limit is finite, durations are above zero and the three
    /// horizons are ordered `page_horizon <= horizon <= close_horizon`.
    pub fn validate(&self) -> Result<(), AnomalyError> {
        if !self.limit.is_finite() {
            return Err(AnomalyError::value("limit", "must be a finite number"));
        }
        for (key, d) in [
            ("horizon", self.horizon),
            ("page_horizon", self.page_horizon),
            ("close_horizon", self.close_horizon),
            ("level_half_life", self.level_half_life),
            ("slope_half_life", self.slope_half_life),
            ("max_gap", self.max_gap),
        ] {
            positive(key, d)?;
        }
        if self.warmup_points.get() < 2 {
            return Err(AnomalyError::value(
                "warmup_points",
                "must be at least 2: a slope needs two points",
            ));
        }
        if self.page_horizon > self.horizon {
            return Err(AnomalyError::inconsistent(
                "page_horizon",
                "horizon",
                format!(
                    "page_horizon ({}) must not be beyond horizon ({})",
                    self.page_horizon, self.horizon
                ),
            ));
        }
        if self.close_horizon < self.horizon {
            return Err(AnomalyError::inconsistent(
                "close_horizon",
                "horizon",
                format!(
                    "close_horizon ({}) must not be before horizon ({})",
                    self.close_horizon, self.horizon
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
