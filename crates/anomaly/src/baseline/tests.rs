use proptest::prelude::*;

use super::*;
use crate::scenario::SplitMix64;

const STEP: i64 = 10_000_000_000;
const HALF_LIFE: i64 = 900_000_000_000;

fn rates() -> Rates {
    Rates::new(decay_rate(STEP, HALF_LIFE), decay_rate(STEP, 4 * HALF_LIFE))
}

const CLIP: Clipping = Clipping {
    clip: 3.0,
    floor: 1e-9,
};

/// A baseline that has learned `n` points of N(mean, sd).
fn learned(seed: u64, n: usize, mean: f64, sd: f64) -> RobustBaseline {
    let mut rng = SplitMix64::new(seed);
    let mut b = RobustBaseline::new();
    for _ in 0..n {
        b.learn(mean + sd * rng.normal(), rates(), CLIP);
    }
    b
}

#[test]
fn decay_rate_is_a_half_life() {
    assert!((decay_rate(HALF_LIFE, HALF_LIFE) - 0.5).abs() < 1e-12);
    assert!((decay_rate(2 * HALF_LIFE, HALF_LIFE) - 0.75).abs() < 1e-12);
    assert_eq!(decay_rate(0, HALF_LIFE), 0.0);
    assert_eq!(decay_rate(-5, HALF_LIFE), 0.0);
    let small = decay_rate(STEP, HALF_LIFE);
    assert!(small > 0.007 && small < 0.008, "{small}");
}

#[test]
fn learns_level_and_spread_of_gaussian_noise() {
    let b = learned(7, 5_000, 100.0, 5.0);
    let level = b.level().expect("learned");
    assert!((level - 100.0).abs() < 1.5, "level {level}");
    assert!((b.spread() - 5.0).abs() < 1.0, "spread {}", b.spread());
    assert_eq!(b.count(), 5_000);
    assert!(b.is_warm(60));
}

#[test]
fn first_points_are_a_running_mean() {
    let mut b = RobustBaseline::new();
    assert_eq!(b.level(), None);
    for v in [10.0, 20.0, 30.0] {
        b.learn(v, rates(), CLIP);
    }
    assert!((b.level().expect("learned") - 20.0).abs() < 1e-9);
}

#[test]
fn a_constant_series_has_its_level_and_no_spread() {
    let mut b = RobustBaseline::new();
    for _ in 0..1_000 {
        b.learn(42.0, rates(), CLIP);
    }
    assert_eq!(b.level(), Some(42.0));
    assert_eq!(b.spread(), 0.0);
}

#[test]
fn nothing_is_learned_frozen_or_from_non_finite_values() {
    let mut b = learned(3, 500, 10.0, 1.0);
    let before = b;
    b.learn(1_000.0, rates().scaled(0.0), CLIP);
    b.learn(f64::NAN, rates(), CLIP);
    b.learn(f64::INFINITY, rates(), CLIP);
    assert_eq!(b, before);
}

#[test]
fn a_level_shift_is_learned_at_the_clipped_pace() {
    let mut b = learned(5, 1_000, 100.0, 2.0);
    for _ in 0..5_000 {
        b.learn(150.0, rates(), CLIP);
    }
    let level = b.level().expect("learned");
    assert!(
        (level - 150.0).abs() < 1.0,
        "a lasting shift is the new normal: {level}"
    );
}

proptest! {
    #[test]
    fn one_outlier_does_not_shift_the_baseline(
        seed in any::<u64>(),
        mean in -1e6f64..1e6,
        sd in 0.01f64..1e3,
        outlier in prop_oneof![-1e12f64..-1.0, 1.0f64..1e12],
    ) {
        let mut b = learned(seed, 400, mean, sd);
        let (level, spread) = (b.level().expect("learned"), b.spread());
        b.learn(mean + outlier * sd.max(1.0), rates(), CLIP);
        let moved = (b.level().expect("learned") - level).abs();
        // At most rate × clip × spread: as if the point were 3 spreads away.
        let bound = rates().level.max(1.0 / 401.0) * CLIP.clip * spread.max(CLIP.floor) * 1.000_001;
        prop_assert!(moved <= bound, "moved {} bound {}", moved, bound);
        prop_assert!(b.spread() <= spread * (1.0 + 3.0 * rates().spread.max(1.0 / 401.0)) + 1e-9);
    }

    #[test]
    fn a_constant_series_never_moves(value in -1e12f64..1e12, n in 1usize..500) {
        let mut b = RobustBaseline::new();
        for _ in 0..n {
            b.learn(value, rates(), CLIP);
        }
        prop_assert_eq!(b.level(), Some(value));
        prop_assert_eq!(b.spread(), 0.0);
    }
}
