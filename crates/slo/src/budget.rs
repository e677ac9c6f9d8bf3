//! Error budgets: from good and valid event counts over an SLO window to the
//! `error_budget` object of `/api/v1/slos`.
//!
//! # Place in the data path
//!
//! The query API sums rollups (or metric counters, for ratio SLIs) over the
//! SLO window into an [`EventCounts`], then [`ErrorBudget::compute`] turns it
//! into figures; [`crate::SloStatus::evaluate`] does both for a whole SLO.
//!
//! # Formulas
//!
//! With `bad = valid − good` and `total = 1 − objective`:
//!
//! - `sli_value = good / valid`
//! - `consumed = bad / (valid × total)`, the fraction of the budget spent
//!   (`(bad / valid) / total`, written to round less); 1.0 = all of it
//! - `remaining = 1 − consumed` (negative once overspent)
//! - `remaining_events = floor(total × valid) − bad`: bad events still allowed
//!   (negative once overspent)
//! - `remaining_minutes = remaining × total × window_minutes`: the budget left,
//!   as minutes of full outage
//!
//! # No traffic
//!
//! With no valid events nothing was spent: `sli_value` is `None` (JSON `null`,
//! "no data", rather than a made-up 100%), `consumed` is 0, `remaining` is 1,
//! `remaining_events` is 0 and `remaining_minutes` is the whole budget. Counts
//! with more good than valid events (counter resets in ratio SLIs) are read as
//! no bad events.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::SloError;

/// An SLO objective, strictly between 0 and 1 (`0.999` for 99.9%).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Objective(f64);

impl Objective {
    pub fn new(objective: f64) -> Result<Self, SloError> {
        if objective > 0.0 && objective < 1.0 {
            Ok(Self(objective))
        } else {
            Err(SloError::InvalidObjective { objective })
        }
    }

    pub fn get(self) -> f64 {
        self.0
    }

    /// The error budget as a ratio, `1 − objective`, rounded to 12 significant
    /// digits so that the binary error of a decimal objective cancels: 0.999
    /// gives 0.001, not 0.0010000000000000009.
    pub fn error_budget(self) -> f64 {
        round_significant(1.0 - self.0, 12)
    }
}

impl Serialize for Objective {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.0)
    }
}

impl<'de> Deserialize<'de> for Objective {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::new(f64::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

fn round_significant(x: f64, digits: i32) -> f64 {
    if !(x.is_finite() && x > 0.0) {
        return x;
    }
    let scale = 10f64.powi(digits - 1 - x.log10().floor() as i32);
    let rounded = (x * scale).round() / scale;
    if rounded.is_finite() && rounded > 0.0 {
        rounded
    } else {
        x
    }
}

/// Good and valid events over some window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct EventCounts {
    pub good: u64,
    pub valid: u64,
}

impl EventCounts {
    pub fn new(good: u64, valid: u64) -> Self {
        Self { good, valid }
    }

    /// Good events, at most `valid`.
    pub fn good(self) -> u64 {
        self.good.min(self.valid)
    }

    /// `valid − good`, never negative.
    pub fn bad(self) -> u64 {
        self.valid.saturating_sub(self.good)
    }

    /// `good / valid`, `None` without valid events.
    pub fn sli(self) -> Option<f64> {
        (self.valid > 0).then(|| self.good() as f64 / self.valid as f64)
    }

    /// `bad / valid`, 0 without valid events.
    pub fn error_ratio(self) -> f64 {
        if self.valid == 0 {
            0.0
        } else {
            self.bad() as f64 / self.valid as f64
        }
    }

    /// Adds another window's counts (saturating).
    pub fn add(&mut self, other: EventCounts) {
        self.good = self.good.saturating_add(other.good());
        self.valid = self.valid.saturating_add(other.valid);
    }
}

/// The `error_budget` object of `/api/v1/slos`; see the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ErrorBudget {
    /// `1 − objective`.
    pub total: f64,
    /// Fraction of the budget spent; above 1 once overspent.
    pub consumed: f64,
    /// `1 − consumed`; negative once overspent.
    pub remaining: f64,
    /// Bad events still allowed over the window's valid events.
    pub remaining_events: i64,
    /// `remaining × total × window length`, in minutes.
    pub remaining_minutes: f64,
}

impl ErrorBudget {
    /// The budget of `counts` against `objective`, for a window
    /// `window_minutes` long (a calendar month's full length, see
    /// [`crate::SloWindow::length_minutes`]).
    pub fn compute(objective: Objective, counts: EventCounts, window_minutes: f64) -> Self {
        let total = objective.error_budget();
        let consumed = burn_rate(objective, counts);
        let remaining = 1.0 - consumed;
        let bad = i64::try_from(counts.bad()).unwrap_or(i64::MAX);
        Self {
            total,
            consumed,
            remaining,
            remaining_events: allowed_bad_events(total, counts.valid).saturating_sub(bad),
            remaining_minutes: remaining * (total * window_minutes),
        }
    }

    /// Whether nothing of the budget is left (the deploy gate freezes).
    pub fn is_exhausted(&self) -> bool {
        self.remaining <= 0.0
    }
}

/// How fast `counts` spend the budget of `objective`: `(bad / valid) /
/// (1 − objective)`, computed as `bad / (valid × (1 − objective))`; 0 without
/// valid events. 1.0 spends exactly the budget over the window.
pub fn burn_rate(objective: Objective, counts: EventCounts) -> f64 {
    if counts.valid == 0 {
        return 0.0;
    }
    counts.bad() as f64 / (counts.valid as f64 * objective.error_budget())
}

/// `floor(total × valid)`, where a product within 1e-9 of an integer counts as
/// that integer (0.001 × 20000 is 20, whatever the last bits say).
fn allowed_bad_events(total: f64, valid: u64) -> i64 {
    let exact = total * valid as f64;
    let nearest = exact.round();
    let allowed = if (exact - nearest).abs() <= 1e-9 * nearest.max(1.0) {
        nearest
    } else {
        exact.floor()
    };
    // f64 -> i64 saturates.
    allowed as i64
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn objective(o: f64) -> Objective {
        Objective::new(o).expect("valid objective")
    }

    #[test]
    fn objectives_are_strictly_between_0_and_1() {
        for bad in [0.0, 1.0, -0.5, 99.9, f64::NAN, f64::INFINITY] {
            assert!(Objective::new(bad).is_err(), "{bad}");
        }
        assert_eq!(objective(0.999).error_budget(), 0.001);
        assert_eq!(objective(0.99).error_budget(), 0.01);
        assert_eq!(objective(0.9995).error_budget(), 0.0005);
        assert_eq!(objective(0.5).error_budget(), 0.5);
    }

    #[test]
    fn the_issue_example() {
        // 20000 valid, 19970 good, 99.9% over 30 days.
        let counts = EventCounts::new(19_970, 20_000);
        let b = ErrorBudget::compute(objective(0.999), counts, 30.0 * 1440.0);
        assert_eq!(counts.sli(), Some(0.9985));
        assert_eq!(
            b,
            ErrorBudget {
                total: 0.001,
                consumed: 1.5,
                remaining: -0.5,
                remaining_events: -10,
                remaining_minutes: -21.6,
            }
        );
        assert!(b.is_exhausted());
        let json = serde_json::to_string(&b).expect("serializes");
        assert_eq!(
            json,
            r#"{"total":0.001,"consumed":1.5,"remaining":-0.5,"remaining_events":-10,"remaining_minutes":-21.6}"#
        );
    }

    #[test]
    fn no_traffic_spends_nothing() {
        let counts = EventCounts::default();
        let b = ErrorBudget::compute(objective(0.99), counts, 1440.0);
        assert_eq!(counts.sli(), None);
        assert_eq!(burn_rate(objective(0.99), counts), 0.0);
        assert_eq!((b.consumed, b.remaining, b.remaining_events), (0.0, 1.0, 0));
        assert!((b.remaining_minutes - 14.4).abs() < 1e-12);
        assert!(!b.is_exhausted());
    }

    #[test]
    fn exactly_spent_budget_is_exhausted() {
        let b = ErrorBudget::compute(objective(0.999), EventCounts::new(19_980, 20_000), 43_200.0);
        assert_eq!((b.consumed, b.remaining, b.remaining_events), (1.0, 0.0, 0));
        assert!(b.is_exhausted());
    }

    #[test]
    fn more_good_than_valid_is_no_bad() {
        let counts = EventCounts::new(12, 10);
        assert_eq!(
            (counts.good(), counts.bad(), counts.sli()),
            (10, 0, Some(1.0))
        );
    }

    proptest! {
        #[test]
        fn budget_matches_the_textbook_formulas(
            valid in 1u64..10_000_000,
            bad_share in 0.0f64..1.0,
            o in 0.5f64..0.99999,
            window_minutes in 1.0f64..100_000.0,
        ) {
            let bad = (valid as f64 * bad_share) as u64;
            let counts = EventCounts::new(valid - bad, valid);
            let b = ErrorBudget::compute(objective(o), counts, window_minutes);
            // Relative to `scale`: the size of the figures the value is made of.
            let close = |got: f64, want: f64, scale: f64| (got - want).abs() <= 1e-9 * scale;
            let total = 1.0 - o;
            let consumed = (bad as f64 / valid as f64) / total;
            prop_assert!(close(b.total, total, total), "total {} vs {}", b.total, total);
            prop_assert!(close(b.consumed, consumed, consumed.max(1.0)), "consumed {} vs {}", b.consumed, consumed);
            prop_assert!(close(b.remaining, 1.0 - consumed, consumed.max(1.0)));
            prop_assert!(close(
                b.remaining_minutes,
                (1.0 - consumed) * total * window_minutes,
                consumed.max(1.0) * total * window_minutes,
            ));
            let allowed = (1.0 - o) * valid as f64;
            prop_assert!((b.remaining_events as f64 - (allowed - bad as f64)).abs() < 1.0 + 1e-6 * allowed);
            prop_assert!(b.remaining_events as f64 <= allowed - bad as f64 + 1e-6 * allowed.max(1.0));
            prop_assert_eq!(burn_rate(objective(o), counts), b.consumed);
            prop_assert_eq!(counts.sli(), Some((valid - bad) as f64 / valid as f64));
        }
    }
}
