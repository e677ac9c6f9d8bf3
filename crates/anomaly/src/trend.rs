//! Time to exhaustion: a robust linear trend of a utilization-like gauge
//! (disk, memory, connection pool, quota use) and a warning when it is
//! forecast to reach its limit within a horizon.
//!
//! # Place in the data path
//!
//! The wiring keeps one [`TrendForecast`] per gauge series that has a limit
//! (1.0 for a ratio, or a configured maximum) and feeds it the gauge's value
//! once per step, like a [`crate::SeriesDetector`]. A slow drift that the
//! series detector rightly ignores is exactly what this one warns about.
//!
//! # Model
//!
//! Holt's double exponential smoothing in event time: a level and a slope
//! (units per second). Each point is compared with the forecast
//! `level + slope × dt`; the surprise is Huber-clipped at `clip` spreads (a
//! spike neither moves the level nor tilts the slope much), then the level
//! learns it at the rate of `level_half_life` and the slope learns the
//! level's change at the rate of `slope_half_life`. The spread is an EWMA of
//! the absolute surprise. O(1) memory.
//!
//! The time to limit is `(limit − level) / slope` when the level moves toward
//! the limit (0 once at or past it), none otherwise. A warning opens after
//! `open_points` consecutive points whose time to limit is within `horizon`,
//! and resolves after `close_points` consecutive points beyond
//! `close_horizon` (or moving away). Its score is `horizon / time to limit`
//! and it is a page within `page_horizon`, a ticket otherwise.
//!
//! # Ordering and gaps
//!
//! As for the series detector: points at or before the previous one, and
//! values that are not finite, are skipped; the elapsed time counts at most
//! `max_gap`, and a longer gap restarts the hysteresis runs.

use crate::AnomalyError;
use crate::baseline::{Decay, MAD_TO_SIGMA};
use crate::config::TrendConfig;
use crate::event::{AnomalyEvent, DetectorKind, Transition};
use crate::hysteresis::{Edge, Hysteresis};
use crate::signal::{Direction, Observation, Severity};

const NANOS_PER_SECOND: f64 = 1e9;
/// Points learned without clipping: the spread is not known yet.
const UNCLIPPED_POINTS: u32 = 8;

/// The forecast of a gauge toward its limit.
#[derive(Debug, Clone, PartialEq)]
pub struct TrendForecast {
    config: TrendConfig,
    level_decay: Decay,
    slope_decay: Decay,
    max_gap: i64,
    level: f64,
    /// Units per second.
    slope: f64,
    mean_abs_dev: f64,
    count: u32,
    last_time: Option<i64>,
    hysteresis: Hysteresis,
    open: Option<AnomalyEvent>,
}

fn nanos(d: sluice_model::units::Duration) -> i64 {
    i64::try_from(d.as_nanos_u64()).unwrap_or(i64::MAX)
}

impl TrendForecast {
    /// A forecast with `config`, validated here.
    pub fn new(config: &TrendConfig) -> Result<Self, AnomalyError> {
        config.validate()?;
        Ok(Self {
            config: *config,
            level_decay: Decay::new(nanos(config.level_half_life)),
            slope_decay: Decay::new(nanos(config.slope_half_life)),
            max_gap: nanos(config.max_gap),
            level: 0.0,
            slope: 0.0,
            mean_abs_dev: 0.0,
            count: 0,
            last_time: None,
            hysteresis: Hysteresis::new(
                config.open_points.get(),
                config.close_points.get(),
                0,
                nanos(config.max_gap),
            ),
            open: None,
        })
    }

    /// The smoothed level; `None` before the first point.
    pub fn level(&self) -> Option<f64> {
        (self.count > 0).then_some(self.level)
    }

    /// The slope in units per second.
    pub fn slope_per_second(&self) -> f64 {
        self.slope
    }

    /// Whether the forecast has learned enough to warn.
    pub fn is_warm(&self) -> bool {
        self.count >= self.config.warmup_points.get()
    }

    /// The open warning, if any.
    pub fn open_warning(&self) -> Option<&AnomalyEvent> {
        self.open.as_ref()
    }

    /// The forecast value `ahead_seconds` after the last point.
    pub fn forecast(&self, ahead_seconds: f64) -> Option<f64> {
        self.level().map(|l| l + self.slope * ahead_seconds)
    }

    /// The robust standard deviation of a point around the forecast.
    pub fn spread(&self) -> f64 {
        self.mean_abs_dev * MAD_TO_SIGMA
    }

    /// Seconds until the level reaches the limit: 0 when already there (within
    /// one spread), `None` when not warm or not moving toward it.
    pub fn time_to_limit_seconds(&self) -> Option<f64> {
        if !self.is_warm() {
            return None;
        }
        let (gap, speed) = match self.config.crossing {
            Direction::Up => (self.config.limit - self.level, self.slope),
            Direction::Down => (self.level - self.config.limit, -self.slope),
        };
        if gap <= self.spread() {
            // At the limit within the noise: a saturated gauge is exhausted.
            Some(0.0)
        } else if speed > 0.0 {
            Some(gap / speed)
        } else {
            None
        }
    }

    /// Feeds one point; returns the transition it caused, if any.
    pub fn observe(&mut self, observation: Observation) -> Option<Transition> {
        let Observation { time_nanos, value } = observation;
        if !value.is_finite() || self.last_time.is_some_and(|last| time_nanos <= last) {
            return None;
        }
        let dt = self
            .last_time
            .map_or(0, |last| (time_nanos - last).min(self.max_gap));
        self.learn(value, dt);
        self.last_time = Some(time_nanos);
        let ttl = self.time_to_limit_seconds();
        if !self.is_warm() {
            return None;
        }
        let secs = |d: sluice_model::units::Duration| d.get().as_secs_f64();
        let horizon = secs(self.config.horizon);
        let hot = ttl.is_some_and(|t| t <= horizon);
        let calm = ttl.is_none_or(|t| t > secs(self.config.close_horizon));
        let edge = self.hysteresis.step(time_nanos, hot, calm);
        let warning = |start: i64, ttl: f64| AnomalyEvent {
            start,
            end: None,
            observed: value,
            expected: self.config.limit,
            score: horizon / ttl.max(1.0),
            severity: if ttl <= secs(self.config.page_horizon) {
                Severity::Page
            } else {
                Severity::Ticket
            },
            direction: self.config.crossing,
            detector: DetectorKind::TrendForecast,
            time_to_limit_seconds: Some(ttl),
        };
        match edge {
            Edge::Open { start } => {
                let event = warning(start, ttl.unwrap_or(0.0));
                self.open = Some(event.clone());
                Some(Transition::Opened(event))
            }
            Edge::Close { end } => {
                let mut event = self.open.take()?;
                event.end = Some(end);
                Some(Transition::Resolved(event))
            }
            Edge::None => {
                let ttl = ttl?;
                let sooner = self
                    .open
                    .as_ref()
                    .and_then(|o| o.time_to_limit_seconds)
                    .is_some_and(|t| ttl < t);
                if !sooner {
                    return None;
                }
                let start = self.open.as_ref()?.start;
                let event = warning(start, ttl);
                let escalated = self
                    .open
                    .as_ref()
                    .is_some_and(|o| event.severity > o.severity);
                self.open = Some(event.clone());
                escalated.then_some(Transition::Updated(event))
            }
        }
    }

    fn learn(&mut self, value: f64, dt_nanos: i64) {
        if self.count == 0 {
            self.level = value;
            self.count = 1;
            return;
        }
        let dt = dt_nanos as f64 / NANOS_PER_SECOND;
        let running = 1.0 / (f64::from(self.count) + 1.0);
        let level_rate = self.level_decay.rate(dt_nanos).max(running);
        // No running-mean start for the slope: early level changes are mostly
        // noise, and a slope learned from them would warn falsely.
        let slope_rate = self.slope_decay.rate(dt_nanos);
        let forecast = self.level + self.slope * dt;
        let surprise = value - forecast;
        let spread = self.spread().max(1e-12 * (1.0 + self.level.abs()));
        let limit = self.config.clip.get() * spread;
        let (step, abs_dev) = if self.count < UNCLIPPED_POINTS {
            (surprise, surprise.abs())
        } else {
            (surprise.clamp(-limit, limit), surprise.abs().min(limit))
        };
        let level = forecast + level_rate * step;
        if dt > 0.0 {
            self.slope += slope_rate * ((level - self.level) / dt - self.slope);
        }
        self.level = level;
        self.mean_abs_dev += level_rate * (abs_dev - self.mean_abs_dev);
        self.count = self.count.saturating_add(1);
    }
}

#[cfg(test)]
mod tests;
