//! A robust streaming baseline: the level a series is expected at and its
//! spread, learned in O(1) memory so that a single outlier cannot drag them.
//!
//! # Place in the data path
//!
//! Every [`crate::SeriesDetector`] holds one on the raw series, and the
//! seasonal profiles ([`crate::SeasonalProfile`]) one each on what is left
//! after the profile; the detector scores each point against the baseline
//! *before* the baseline learns it.
//!
//! # Estimator
//!
//! The level is an exponentially weighted moving average and the spread an
//! EWMA of the absolute deviation from it (a streaming stand-in for the median
//! absolute deviation), scaled by √(π/2) so it reads as a standard deviation
//! for Gaussian noise. Once past its first few points a deviation is
//! Huber-clipped at `clip` spreads before it is learned: an outlier moves the
//! level at most `rate × clip × spread`, as much as a point `clip` spreads
//! away would. Until the learning rate of the half-life is reached, every
//! point weighs `1 / (n + 1)` (a running mean), so the first points are not
//! forgotten at the slow rate they would otherwise be learned at.
//!
//! Learning rates come from event time: a point `dt` after the previous one
//! weighs `1 − 2^(−dt / half_life)` ([`decay_rate`]), so irregular steps and a
//! replay at any speed learn the same baseline.

/// Points learned without clipping: the spread is not known yet.
const UNCLIPPED_POINTS: u32 = 8;

/// √(π/2): the mean absolute deviation of a Gaussian times this is its
/// standard deviation.
pub const MAD_TO_SIGMA: f64 = 1.253_314_137_315_500_3;

/// The weight an EWMA of half-life `half_life_nanos` gives a point that comes
/// `dt_nanos` after the previous one, from 0 (dt = 0) toward 1 (dt ≫ half-life).
pub fn decay_rate(dt_nanos: i64, half_life_nanos: i64) -> f64 {
    if dt_nanos <= 0 {
        return 0.0;
    }
    if half_life_nanos <= 0 {
        return 1.0;
    }
    -(-(dt_nanos as f64) / half_life_nanos as f64 * std::f64::consts::LN_2).exp_m1()
}

/// [`decay_rate`] for one half-life, remembering the last step: a series
/// comes at a fixed step, so the exponential is computed once, not per point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decay {
    half_life_nanos: i64,
    dt_nanos: i64,
    rate: f64,
}

impl Decay {
    pub fn new(half_life_nanos: i64) -> Self {
        Self {
            half_life_nanos,
            dt_nanos: 0,
            rate: 0.0,
        }
    }

    /// The weight of a point `dt_nanos` after the previous one.
    pub fn rate(&mut self, dt_nanos: i64) -> f64 {
        if dt_nanos != self.dt_nanos {
            self.dt_nanos = dt_nanos;
            self.rate = decay_rate(dt_nanos, self.half_life_nanos);
        }
        self.rate
    }
}

/// The learning rates of one point: level and spread from their half-lives,
/// and a scale applied after the running-mean speed-up (0.1 while an anomaly
/// is open learns ten times slower however young the baseline is).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rates {
    pub level: f64,
    pub spread: f64,
    pub scale: f64,
}

impl Rates {
    pub fn new(level: f64, spread: f64) -> Self {
        Self {
            level,
            spread,
            scale: 1.0,
        }
    }

    /// The same rates, learned `factor` times as fast.
    pub fn scaled(self, factor: f64) -> Self {
        Self {
            scale: self.scale * factor,
            ..self
        }
    }
}

/// How a deviation is clipped before it is learned: at `clip` spreads, the
/// spread taken as at least `floor` (so a constant series can still move a
/// little).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Clipping {
    pub clip: f64,
    pub floor: f64,
}

/// Level and spread of one series (or one residual), 16 bytes and a count.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RobustBaseline {
    level: f64,
    mean_abs_dev: f64,
    count: u32,
}

impl RobustBaseline {
    pub const fn new() -> Self {
        Self {
            level: 0.0,
            mean_abs_dev: 0.0,
            count: 0,
        }
    }

    /// Points learned (saturating).
    pub fn count(&self) -> u32 {
        self.count
    }

    /// Whether at least `warmup` points have been learned.
    pub fn is_warm(&self, warmup: u32) -> bool {
        self.count >= warmup
    }

    /// The expected level; `None` before the first point.
    pub fn level(&self) -> Option<f64> {
        (self.count > 0).then_some(self.level)
    }

    /// The robust standard deviation; 0 before the second point.
    pub fn spread(&self) -> f64 {
        self.mean_abs_dev * MAD_TO_SIGMA
    }

    /// Learns `value` at `rates`, clipped by `clipping` once past its first
    /// points. A value that is not finite, or a scale of 0, learns nothing.
    pub fn learn(&mut self, value: f64, rates: Rates, clipping: Clipping) {
        if !value.is_finite() || rates.scale <= 0.0 {
            return;
        }
        if self.count == 0 {
            self.level = value;
            self.mean_abs_dev = 0.0;
            self.count = 1;
            return;
        }
        let running = 1.0 / (f64::from(self.count) + 1.0);
        let deviation = value - self.level;
        let (step, abs_dev) = if self.count < UNCLIPPED_POINTS {
            (deviation, deviation.abs())
        } else {
            let limit = clipping.clip * self.spread().max(clipping.floor);
            (deviation.clamp(-limit, limit), deviation.abs().min(limit))
        };
        // A rate of 0 stays 0: the running mean speeds learning up, it never
        // starts what the caller froze.
        let boost = |rate: f64| {
            if rate > 0.0 {
                rate.max(running) * rates.scale
            } else {
                0.0
            }
        };
        let (level_rate, spread_rate) = (boost(rates.level), boost(rates.spread));
        self.level += level_rate * step;
        self.mean_abs_dev += spread_rate * (abs_dev - self.mean_abs_dev);
        self.count = self.count.saturating_add(1);
    }
}

#[cfg(test)]
mod tests;
