//! Validated numbers of the detector config: a value that parses is in range,
//! so the detectors never check them again.
//!
//! Each type has `new` (the reason as a `&'static str` when out of range),
//! `get`, and deserializes through `new`, so a TOML error names the key and
//! line; [`super::DetectorConfig::validate`] then checks what relates two keys.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A score threshold in robust standard deviations: finite and above zero.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(try_from = "f64", into = "f64")]
pub struct Score(f64);

impl Score {
    pub fn new(value: f64) -> Result<Self, &'static str> {
        if value.is_finite() && value > 0.0 {
            Ok(Self(value))
        } else {
            Err("must be a finite number above 0")
        }
    }

    pub const fn get(self) -> f64 {
        self.0
    }

    /// For defaults known to be in range.
    pub(crate) const fn of(value: f64) -> Self {
        Self(value)
    }
}

/// A non-negative finite amount: a floor on the spread or on the change that
/// counts, absolute (in the series' unit) or relative (to the expected value).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(try_from = "f64", into = "f64")]
pub struct Amount(f64);

impl Amount {
    pub fn new(value: f64) -> Result<Self, &'static str> {
        if value.is_finite() && value >= 0.0 {
            Ok(Self(value))
        } else {
            Err("must be a finite number, 0 or above")
        }
    }

    pub const fn get(self) -> f64 {
        self.0
    }

    pub(crate) const fn of(value: f64) -> Self {
        Self(value)
    }
}

/// A fraction from 0 to 1, both included.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(try_from = "f64", into = "f64")]
pub struct Fraction(f64);

impl Fraction {
    pub fn new(value: f64) -> Result<Self, &'static str> {
        if (0.0..=1.0).contains(&value) {
            Ok(Self(value))
        } else {
            Err("must be between 0 and 1")
        }
    }

    pub const fn get(self) -> f64 {
        self.0
    }

    pub(crate) const fn of(value: f64) -> Self {
        Self(value)
    }
}

/// A number of points (steps) of a series: 1 to [`Points::MAX`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u64", into = "u64")]
pub struct Points(u32);

impl Points {
    /// A week of 10-second steps: more is surely a unit mistake.
    pub const MAX: u32 = 60_480;

    pub fn new(value: u64) -> Result<Self, &'static str> {
        match u32::try_from(value) {
            Ok(v) if (1..=Self::MAX).contains(&v) => Ok(Self(v)),
            _ => Err("must be between 1 and 60480 points"),
        }
    }

    pub const fn get(self) -> u32 {
        self.0
    }

    pub(crate) const fn of(value: u32) -> Self {
        Self(value)
    }
}

macro_rules! conversions {
    ($ty:ty, $raw:ty) => {
        impl TryFrom<$raw> for $ty {
            type Error = &'static str;
            fn try_from(value: $raw) -> Result<Self, Self::Error> {
                Self::new(value)
            }
        }
        impl From<$ty> for $raw {
            fn from(value: $ty) -> $raw {
                value.0.into()
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

conversions!(Score, f64);
conversions!(Amount, f64);
conversions!(Fraction, f64);
conversions!(Points, u64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_and_bad_values() {
        for good in [0.5, 4.0, 1e6] {
            assert_eq!(Score::new(good).map(Score::get), Ok(good));
        }
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(Score::new(bad).is_err(), "score {bad}");
        }
        for good in [0.0, 0.1, 1e9] {
            assert_eq!(Amount::new(good).map(Amount::get), Ok(good));
        }
        for bad in [-0.1, f64::NAN, f64::INFINITY] {
            assert!(Amount::new(bad).is_err(), "amount {bad}");
        }
        for good in [0.0, 0.25, 1.0] {
            assert_eq!(Fraction::new(good).map(Fraction::get), Ok(good));
        }
        for bad in [-0.01, 1.01, f64::NAN] {
            assert!(Fraction::new(bad).is_err(), "fraction {bad}");
        }
        for good in [1, 3, 60_480] {
            assert_eq!(Points::new(good).map(|p| u64::from(p.get())), Ok(good));
        }
        for bad in [0, 60_481, u64::MAX] {
            assert!(Points::new(bad).is_err(), "points {bad}");
        }
    }

    #[test]
    fn deserialize_through_new() {
        #[derive(Debug, Deserialize)]
        struct T {
            open_score: Score,
        }
        let err = toml::from_str::<T>("open_score = -1.0").expect_err("negative");
        let message = err.to_string();
        assert!(message.contains("open_score"), "{message}");
        assert!(message.contains("above 0"), "{message}");
        let t: T = toml::from_str("open_score = 4.5").expect("valid");
        assert_eq!(t.open_score, Score::of(4.5));
    }
}
