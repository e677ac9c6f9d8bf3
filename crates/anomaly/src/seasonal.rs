//! Time-of-day and day-of-week profiles: what a series usually is at this hour
//! (of this weekday), so that the daily peak and the Monday-morning ramp are
//! expected rather than anomalous.
//!
//! # Place in the data path
//!
//! A [`crate::SeriesDetector`] with seasonality on holds one
//! [`SeasonalProfile`] next to its raw [`RobustBaseline`]. Each point is first
//! scored, then learned by both. Once the profile has enough history at the
//! point's time of day (or week), the detector's expected value and spread
//! come from the profile instead of the raw baseline.
//!
//! # Model
//!
//! A profile has fixed slots over its period, UTC: 96 quarter hours for the
//! day, 168 hours for the week. A slot holds the robust level of the series
//! around its middle; the profile at a time is the linear interpolation of the two
//! nearest slots, and a point is learned by both in proportion to its nearness
//! (so the profile is piecewise linear, not a staircase). On top of the
//! profile, a [`RobustBaseline`] of the residual (value − profile) follows
//! what is different today: its level is added to the profile (a day that
//! runs 10% busier is not an anomaly all day long). A point is scored against
//! the larger of the residual's spread (today's noise) and the slots' typical
//! miss at this time of day: where the profile is hard to follow (a steep
//! morning ramp between two slot centres), it misses every day, the slots
//! learn that, and the ramp does not fire.
//!
//! A slot is learned with a half-life of `half_life_periods` periods, a
//! running mean until then, and Huber clipping once it has a few points'
//! weight. A profile is used at a time only once both nearest slots have been
//! visited in `min_periods` distinct periods (2 days, 2 weeks by default) and
//! its residual is warm. Where both are ready, the one with the smaller
//! spread at that time wins: the weekly profile on a series whose weekends
//! differ, the finer daily one otherwise. Memory is fixed: 264 slots of 24
//! bytes (6.3 KiB) per series with both profiles on.

use crate::baseline::{Clipping, Decay, MAD_TO_SIGMA, Rates, RobustBaseline};
use crate::config::SeasonalityConfig;
use crate::event::DetectorKind;

const NANOS_PER_HOUR: i64 = 3_600_000_000_000;
/// Quarter-hour slots: a one-hour ramp is followed to within a few percent.
const DAILY_SLOTS: usize = 96;
/// Hour slots: a week of quarter hours would be 672 slots per series.
const WEEKLY_SLOTS: usize = 168;
/// Slot weight learned without clipping.
const UNCLIPPED_WEIGHT: f32 = 8.0;
/// Slot weights stop growing here (the running mean is long over by then).
const MAX_WEIGHT: f32 = 1.0e6;

/// What a profile expects at one time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SeasonalExpectation {
    pub expected: f64,
    pub spread: f64,
    pub kind: DetectorKind,
}

/// The daily and weekly profiles of one series.
#[derive(Debug, Clone, PartialEq)]
pub struct SeasonalProfile {
    daily: Option<Profile>,
    weekly: Option<Profile>,
    min_periods: u16,
}

impl SeasonalProfile {
    /// The profiles `config` turns on, empty.
    pub fn new(config: &SeasonalityConfig) -> Self {
        let half_life_periods = config.half_life_periods.get();
        Self {
            daily: config.daily.then(|| {
                Profile::new(
                    DAILY_SLOTS,
                    NANOS_PER_HOUR / 4,
                    DetectorKind::SeasonalDaily,
                    half_life_periods,
                )
            }),
            weekly: config.weekly.then(|| {
                Profile::new(
                    WEEKLY_SLOTS,
                    NANOS_PER_HOUR,
                    DetectorKind::SeasonalWeekly,
                    half_life_periods,
                )
            }),
            min_periods: u16::try_from(config.min_periods.get()).unwrap_or(u16::MAX),
        }
    }

    /// What the profiles expect at `time_nanos`: of those ready there, the
    /// one with the smaller spread (the one that fits this series at this
    /// time better); `None` when neither is ready. A residual is ready after
    /// `warmup` points.
    pub fn expected(&self, time_nanos: i64, warmup: u32) -> Option<SeasonalExpectation> {
        [&self.daily, &self.weekly]
            .into_iter()
            .flatten()
            .filter_map(|p| p.expected(time_nanos, self.min_periods, warmup))
            .min_by(|a, b| a.spread.total_cmp(&b.spread))
    }

    /// Learns `value` at `time_nanos`, `dt_nanos` after the previous point.
    /// `rates` are the residual's (their scale applies to the slots too);
    /// slots are clipped at `clipping.clip` times the largest of the
    /// residual's spread, the slots' typical miss and `fallback_spread` (the
    /// raw series' spread).
    pub fn learn(
        &mut self,
        time_nanos: i64,
        value: f64,
        dt_nanos: i64,
        rates: Rates,
        clipping: Clipping,
        fallback_spread: f64,
    ) {
        if !value.is_finite() || rates.scale <= 0.0 {
            return;
        }
        for profile in [&mut self.daily, &mut self.weekly].into_iter().flatten() {
            let slot_rate = profile.slot_decay.rate(dt_nanos);
            profile.learn(
                time_nanos,
                value,
                rates,
                slot_rate,
                clipping,
                fallback_spread,
            );
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Default)]
struct Slot {
    level: f64,
    /// Mean absolute miss of the profile plus residual level around here.
    mean_abs_miss: f32,
    weight: f32,
    last_period: i32,
    periods: u16,
}

#[derive(Debug, Clone, PartialEq)]
struct Profile {
    kind: DetectorKind,
    slot_nanos: i64,
    period_nanos: i64,
    slots: Box<[Slot]>,
    residual: RobustBaseline,
    /// A slot's learning rate: visited for `slot_nanos` a period, it halves
    /// its memory over `half_life_periods` periods.
    slot_decay: Decay,
}

/// The two slots nearest a time and the weight of the second.
struct Position {
    first: usize,
    second: usize,
    weight: f64,
    period: i32,
}

impl Profile {
    fn new(slots: usize, slot_nanos: i64, kind: DetectorKind, half_life_periods: f64) -> Self {
        let count = i64::try_from(slots).expect("96 or 168 slots");
        Self {
            kind,
            slot_nanos,
            period_nanos: slot_nanos * count,
            slots: vec![Slot::default(); slots].into_boxed_slice(),
            residual: RobustBaseline::new(),
            slot_decay: Decay::new((half_life_periods * slot_nanos as f64) as i64),
        }
    }

    fn position(&self, time_nanos: i64) -> Position {
        let n = self.slots.len();
        let offset = time_nanos.rem_euclid(self.period_nanos);
        // Slot centres are in the middle of each slot.
        let mut u = offset as f64 / self.slot_nanos as f64 - 0.5;
        if u < 0.0 {
            u += n as f64;
        }
        let floor = u.floor();
        let first = (floor as usize) % n;
        let period = time_nanos.div_euclid(self.period_nanos);
        Position {
            first,
            second: (first + 1) % n,
            weight: u - floor,
            // Periods since the epoch fit easily; saturate rather than wrap.
            period: i32::try_from(period).unwrap_or(if period < 0 { i32::MIN } else { i32::MAX }),
        }
    }

    /// Linear interpolation of `f` over the two slots; `None` until both
    /// have learned something.
    fn interpolate(&self, at: &Position, f: impl Fn(&Slot) -> f64) -> Option<f64> {
        let (a, b) = (&self.slots[at.first], &self.slots[at.second]);
        (a.weight > 0.0 && b.weight > 0.0).then(|| f(a) + (f(b) - f(a)) * at.weight)
    }

    fn value_at(&self, at: &Position) -> Option<f64> {
        self.interpolate(at, |s| s.level)
    }

    /// The typical miss at this time of the period, as a standard deviation.
    fn miss_at(&self, at: &Position) -> f64 {
        self.interpolate(at, |s| f64::from(s.mean_abs_miss))
            .unwrap_or(0.0)
            * MAD_TO_SIGMA
    }

    fn expected(
        &self,
        time_nanos: i64,
        min_periods: u16,
        warmup: u32,
    ) -> Option<SeasonalExpectation> {
        let at = self.position(time_nanos);
        let ready = self.slots[at.first].periods >= min_periods
            && self.slots[at.second].periods >= min_periods
            && self.residual.is_warm(warmup);
        if !ready {
            return None;
        }
        let profile = self.value_at(&at)?;
        Some(SeasonalExpectation {
            expected: profile + self.residual.level()?,
            spread: self.residual.spread().max(self.miss_at(&at)),
            kind: self.kind,
        })
    }

    fn learn(
        &mut self,
        time_nanos: i64,
        value: f64,
        rates: Rates,
        slot_rate: f64,
        clipping: Clipping,
        fallback_spread: f64,
    ) {
        let at = self.position(time_nanos);
        // Slots are clipped generously: at least as wide as the raw series'
        // spread, so that a shape the profile has not learned yet (whose
        // misses are large) is still learned quickly.
        let spread = if self.residual.count() >= 8 {
            self.residual
                .spread()
                .max(self.miss_at(&at))
                .max(fallback_spread)
        } else {
            fallback_spread
        };
        let limit = clipping.clip * spread.max(clipping.floor);
        // How far the profile plus today's residual missed this point.
        let miss = self.value_at(&at).map(|profile| {
            let miss = value - profile - self.residual.level().unwrap_or(0.0);
            self.residual.learn(value - profile, rates, clipping);
            miss.abs().min(limit)
        });
        for (index, share) in [(at.first, 1.0 - at.weight), (at.second, at.weight)] {
            if share <= 0.0 {
                continue;
            }
            let slot = &mut self.slots[index];
            let weight = slot.weight + share as f32;
            let rate = ((slot_rate * share).max(share / f64::from(weight)) * rates.scale).min(1.0);
            if slot.weight == 0.0 {
                slot.level = value;
            } else {
                let deviation = value - slot.level;
                let step = if slot.weight < UNCLIPPED_WEIGHT {
                    deviation
                } else {
                    deviation.clamp(-limit, limit)
                };
                slot.level += rate * step;
            }
            // The miss is a spread: frozen while an anomaly is open.
            if let Some(miss) = miss.filter(|_| rates.spread > 0.0) {
                let current = f64::from(slot.mean_abs_miss);
                slot.mean_abs_miss = (current + rate * (miss - current)) as f32;
            }
            slot.weight = weight.min(MAX_WEIGHT);
            if share >= 0.5 && (slot.periods == 0 || slot.last_period != at.period) {
                slot.periods = slot.periods.saturating_add(1);
                slot.last_period = at.period;
            }
        }
    }
}

#[cfg(test)]
mod tests;
