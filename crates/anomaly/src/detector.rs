//! The detector of one series: robust (and, with history, seasonal) baseline,
//! direction-aware score, and hysteresis, turning a stream of observations
//! into anomaly transitions.
//!
//! # Place in the data path
//!
//! The wiring keeps one [`SeriesDetector`] per watched series (service ×
//! operation × signal, or metric series) in the shard worker that owns the
//! series and calls [`SeriesDetector::observe`] once per step with the step's
//! value. A returned [`Transition`] becomes an anomaly row and an alert.
//!
//! # One step
//!
//! 1. A point that is not finite, or not after the previous point, is
//!    skipped ([`StepOutcome`] says which); nothing changes.
//! 2. Once warm (`warmup_points` learned), the point is scored against what
//!    was learned *before* it: expected value and spread from the weekly or
//!    daily profile where it is ready, from the raw baseline otherwise. The
//!    spread is floored (`min_spread_abs`, `min_spread_rel` × |expected|), so
//!    a constant series scores 0 and never fires. A deviation smaller than
//!    `min_change_abs` / `min_change_rel` × |expected|, or in a direction
//!    that does not hurt, scores 0.
//! 3. The score steps the hysteresis (`open_score` / `open_points` to open,
//!    `close_score` / `close_points` to close, `cooldown` after a close). An
//!    open anomaly tracks its peak; it is re-announced when its severity
//!    rises.
//! 4. The point is learned, `learn_while_open` times as fast while an anomaly
//!    is open (the spread not at all), so a long incident does not become
//!    the new normal.
//!
//! # Ordering and gaps
//!
//! Detection runs on event time only. Points must come in time order; a
//! point at or before the previous one is skipped (the wiring closes a step
//! before feeding it, so this only drops late duplicates). A gap is not
//! filled: learning rates follow the elapsed time (capped at `max_gap`, so a
//! point after a long silence weighs as one after `max_gap`), and a gap longer
//! than `max_gap` restarts the hysteresis runs.

use crate::AnomalyError;
use crate::baseline::{Clipping, Decay, Rates, RobustBaseline};
use crate::config::DetectorConfig;
use crate::event::{AnomalyEvent, DetectorKind, Transition};
use crate::hysteresis::{Edge, Hysteresis};
use crate::seasonal::SeasonalProfile;
use crate::signal::{Direction, DirectionPolicy, Observation, Severity, Signal};

/// How one point was scored.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Evaluation {
    pub time_nanos: i64,
    pub observed: f64,
    pub expected: f64,
    /// The floored spread the deviation was divided by.
    pub spread: f64,
    pub direction: Direction,
    /// |observed − expected| / spread when the deviation counts (hurting
    /// direction, large enough), else 0.
    pub score: f64,
    pub detector: DetectorKind,
}

/// What [`SeriesDetector::observe_outcome`] did with a point.
#[derive(Debug, Clone, PartialEq)]
pub enum StepOutcome {
    /// The value was NaN or infinite.
    SkippedNotFinite,
    /// The point was at or before the previous one.
    SkippedOutOfOrder,
    /// Learned only: the detector is warming up.
    WarmingUp,
    /// Scored (and learned).
    Scored {
        evaluation: Evaluation,
        transition: Option<Transition>,
    },
}

/// The anomaly detector of one series. O(1) memory: two baselines, a
/// hysteresis state and, with seasonality on, 264 profile slots.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesDetector {
    config: DetectorConfig,
    policy: DirectionPolicy,
    level_decay: Decay,
    spread_decay: Decay,
    max_gap: i64,
    baseline: RobustBaseline,
    seasonal: Option<Box<SeasonalProfile>>,
    hysteresis: Hysteresis,
    /// The highest-scoring point of the current hot run.
    run_peak: Option<Evaluation>,
    open: Option<AnomalyEvent>,
    last_time: Option<i64>,
}

fn nanos(d: sluice_model::units::Duration) -> i64 {
    i64::try_from(d.as_nanos_u64()).unwrap_or(i64::MAX)
}

impl SeriesDetector {
    /// A detector for a series of `signal`; `config` is validated here.
    pub fn new(signal: Signal, config: &DetectorConfig) -> Result<Self, AnomalyError> {
        config.validate()?;
        let seasonality = config.seasonality;
        Ok(Self {
            config: *config,
            policy: config.policy(signal),
            level_decay: Decay::new(nanos(config.level_half_life)),
            spread_decay: Decay::new(nanos(config.spread_half_life)),
            max_gap: nanos(config.max_gap),
            baseline: RobustBaseline::new(),
            seasonal: (seasonality.daily || seasonality.weekly)
                .then(|| Box::new(SeasonalProfile::new(&seasonality))),
            hysteresis: Hysteresis::new(
                config.open_points.get(),
                config.close_points.get(),
                nanos(config.cooldown),
                nanos(config.max_gap),
            ),
            run_peak: None,
            open: None,
            last_time: None,
        })
    }

    /// The open anomaly, if any.
    pub fn open_anomaly(&self) -> Option<&AnomalyEvent> {
        self.open.as_ref()
    }

    /// The raw (non-seasonal) baseline.
    pub fn baseline(&self) -> &RobustBaseline {
        &self.baseline
    }

    /// Whether the detector has learned enough to score.
    pub fn is_warm(&self) -> bool {
        self.baseline.is_warm(self.config.warmup_points.get())
    }

    /// Feeds one point; returns the transition it caused, if any.
    pub fn observe(&mut self, observation: Observation) -> Option<Transition> {
        match self.observe_outcome(observation) {
            StepOutcome::Scored { transition, .. } => transition,
            _ => None,
        }
    }

    /// Feeds one point and says what was done with it.
    pub fn observe_outcome(&mut self, observation: Observation) -> StepOutcome {
        let Observation { time_nanos, value } = observation;
        if !value.is_finite() {
            return StepOutcome::SkippedNotFinite;
        }
        if self.last_time.is_some_and(|last| time_nanos <= last) {
            return StepOutcome::SkippedOutOfOrder;
        }
        let dt = self
            .last_time
            .map_or(0, |last| (time_nanos - last).min(self.max_gap));
        let evaluation = self.evaluate(time_nanos, value);
        let transition = evaluation.map(|e| self.step(e));
        self.learn(time_nanos, value, dt);
        self.last_time = Some(time_nanos);
        match evaluation {
            Some(evaluation) => StepOutcome::Scored {
                evaluation,
                transition: transition.flatten(),
            },
            None => StepOutcome::WarmingUp,
        }
    }

    /// Scores a point against the current baselines without learning it;
    /// `None` while warming up.
    pub fn evaluate(&self, time_nanos: i64, observed: f64) -> Option<Evaluation> {
        let warmup = self.config.warmup_points.get();
        if !self.baseline.is_warm(warmup) {
            return None;
        }
        let seasonal = self
            .seasonal
            .as_ref()
            .and_then(|s| s.expected(time_nanos, warmup));
        let (expected, spread, detector) = match seasonal {
            Some(s) => (s.expected, s.spread, s.kind),
            None => (
                self.baseline.level()?,
                self.baseline.spread(),
                DetectorKind::RobustBaseline,
            ),
        };
        let c = &self.config;
        let spread = spread
            .max(c.min_spread_abs.get())
            .max(c.min_spread_rel.get() * expected.abs());
        let deviation = observed - expected;
        let direction = Direction::of_deviation(deviation);
        let min_change = c
            .min_change_abs
            .get()
            .max(c.min_change_rel.get() * expected.abs());
        let counts = self.policy.hurts(direction) && deviation.abs() >= min_change;
        let score = if counts && spread > 0.0 {
            deviation.abs() / spread
        } else {
            0.0
        };
        Some(Evaluation {
            time_nanos,
            observed,
            expected,
            spread,
            direction,
            score,
            detector,
        })
    }

    fn severity(&self, score: f64) -> Severity {
        Severity::from_score(
            score,
            self.config.ticket_score.get(),
            self.config.page_score.get(),
        )
    }

    fn event_at(&self, start: i64, peak: &Evaluation) -> AnomalyEvent {
        AnomalyEvent {
            start,
            end: None,
            observed: peak.observed,
            expected: peak.expected,
            score: peak.score,
            severity: self.severity(peak.score),
            direction: peak.direction,
            detector: peak.detector,
            time_to_limit_seconds: None,
        }
    }

    fn step(&mut self, e: Evaluation) -> Option<Transition> {
        let hot = e.score >= self.config.open_score.get();
        let calm = e.score < self.config.close_score.get();
        let was_open = self.hysteresis.is_open();
        let edge = self.hysteresis.step(e.time_nanos, hot, calm);
        if !was_open {
            // The peak of the hot run, restarted with the run.
            let restarted = self.hysteresis.hot_run() == 1 && edge == Edge::None;
            self.run_peak = match self.run_peak {
                _ if !hot => None,
                Some(p) if !restarted && p.score >= e.score => Some(p),
                _ => Some(e),
            };
        }
        match edge {
            Edge::Open { start } => {
                let peak = self.run_peak.take().unwrap_or(e);
                let event = self.event_at(start, &peak);
                self.open = Some(event.clone());
                Some(Transition::Opened(event))
            }
            Edge::Close { end } => {
                let mut event = self.open.take()?;
                event.end = Some(end);
                Some(Transition::Resolved(event))
            }
            Edge::None => {
                let rising = self.open.as_ref().is_some_and(|o| e.score > o.score);
                if !rising {
                    return None;
                }
                let severity = self.severity(e.score);
                let open = self.open.as_mut()?;
                let escalated = severity > open.severity;
                open.observed = e.observed;
                open.expected = e.expected;
                open.score = e.score;
                open.severity = severity;
                open.direction = e.direction;
                escalated.then(|| Transition::Updated(open.clone()))
            }
        }
    }

    fn learn(&mut self, time_nanos: i64, value: f64, dt: i64) {
        let open = self.hysteresis.is_open();
        let scale = if open {
            self.config.learn_while_open.get()
        } else {
            1.0
        };
        let mut rates =
            Rates::new(self.level_decay.rate(dt), self.spread_decay.rate(dt)).scaled(scale);
        if open {
            // The spread learns nothing from an incident.
            rates.spread = 0.0;
        }
        let c = &self.config;
        let level = self.baseline.level().unwrap_or(value);
        let clipping = Clipping {
            clip: c.clip.get(),
            floor: c
                .min_spread_abs
                .get()
                .max(c.min_spread_rel.get() * level.abs()),
        };
        let fallback_spread = self.baseline.spread();
        self.baseline.learn(value, rates, clipping);
        if let Some(seasonal) = self.seasonal.as_mut() {
            seasonal.learn(time_nanos, value, dt, rates, clipping, fallback_spread);
        }
    }
}

#[cfg(test)]
mod tests;
