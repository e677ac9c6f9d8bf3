use super::*;
use crate::baseline::decay_rate;
use crate::config::{Points, SeasonalityConfig};

const HOUR: i64 = NANOS_PER_HOUR;
const STEP: i64 = 60_000_000_000;
const HALF_LIFE: i64 = 15 * 60_000_000_000;
/// Monday 2026-01-05 00:00 UTC.
const MONDAY: i64 = 1_767_571_200_000_000_000;

fn rates() -> Rates {
    Rates::new(decay_rate(STEP, HALF_LIFE), decay_rate(STEP, 4 * HALF_LIFE))
}

const CLIP: Clipping = Clipping {
    clip: 3.0,
    floor: 1e-9,
};

/// 100 at midnight to 200 at noon and back, smoothly.
fn daily(t: i64) -> f64 {
    let hours = (t - MONDAY) as f64 / HOUR as f64;
    150.0 - 50.0 * (std::f64::consts::TAU * hours / 24.0).cos()
}

fn feed(profile: &mut SeasonalProfile, from: i64, to: i64, f: impl Fn(i64) -> f64) {
    let mut t = from;
    while t < to {
        profile.learn(t, f(t), STEP, rates(), CLIP, 10.0);
        t += STEP;
    }
}

fn daily_only() -> SeasonalityConfig {
    SeasonalityConfig {
        weekly: false,
        ..SeasonalityConfig::default()
    }
}

#[test]
fn slots_are_the_nearest_two_with_the_right_weight() {
    let p = Profile::new(96, HOUR / 4, DetectorKind::SeasonalDaily, 3.0);
    let at = p.position(MONDAY + 2 * HOUR);
    assert_eq!((at.first, at.second), (7, 8));
    assert!((at.weight - 0.5).abs() < 1e-12);
    let at = p.position(MONDAY + HOUR / 16);
    assert_eq!((at.first, at.second), (95, 0));
    assert!((at.weight - 0.75).abs() < 1e-12);
    let before_epoch = p.position(-HOUR / 16);
    assert_eq!((before_epoch.first, before_epoch.second), (95, 0));
    assert!((before_epoch.weight - 0.25).abs() < 1e-12);
    let weekly = Profile::new(168, HOUR, DetectorKind::SeasonalWeekly, 3.0);
    let at = weekly.position(MONDAY + 24 * HOUR + 2 * HOUR);
    assert!((at.weight - 0.5).abs() < 1e-12);
    assert_eq!(at.second - at.first, 1);
}

#[test]
fn not_used_before_enough_days() {
    let mut profile = SeasonalProfile::new(&daily_only());
    feed(&mut profile, MONDAY, MONDAY + 24 * HOUR, daily);
    assert_eq!(profile.expected(MONDAY + 24 * HOUR + 6 * HOUR, 60), None);
    feed(&mut profile, MONDAY + 24 * HOUR, MONDAY + 48 * HOUR, daily);
    assert!(
        profile
            .expected(MONDAY + 48 * HOUR + 6 * HOUR, 60)
            .is_some()
    );
}

#[test]
fn learns_the_daily_shape() {
    let mut profile = SeasonalProfile::new(&daily_only());
    feed(&mut profile, MONDAY, MONDAY + 72 * HOUR, daily);
    for hour in 0..24 {
        let t = MONDAY + 72 * HOUR + hour * HOUR + HOUR / 3;
        let e = profile.expected(t, 60).expect("ready after two days");
        assert_eq!(e.kind, DetectorKind::SeasonalDaily);
        let truth = daily(t);
        assert!(
            (e.expected - truth).abs() < 0.02 * truth,
            "{hour}h: {} vs {truth}",
            e.expected
        );
    }
}

#[test]
fn a_day_that_runs_busier_is_followed_by_the_residual() {
    let mut profile = SeasonalProfile::new(&daily_only());
    feed(&mut profile, MONDAY, MONDAY + 72 * HOUR, daily);
    let busier = |t| daily(t) * 1.1;
    feed(&mut profile, MONDAY + 72 * HOUR, MONDAY + 80 * HOUR, busier);
    let t = MONDAY + 80 * HOUR;
    let e = profile.expected(t, 60).expect("ready");
    assert!(
        (e.expected - busier(t)).abs() < 0.03 * busier(t),
        "{} vs {}",
        e.expected,
        busier(t)
    );
}

#[test]
fn the_weekly_profile_takes_over_after_two_weeks() {
    let config = SeasonalityConfig {
        min_periods: Points::of(2),
        ..SeasonalityConfig::default()
    };
    let mut profile = SeasonalProfile::new(&config);
    // Weekdays like `daily`, weekends at half.
    let weekly = |t: i64| {
        let weekday = (t - MONDAY).div_euclid(24 * HOUR).rem_euclid(7);
        daily(t) * if weekday >= 5 { 0.5 } else { 1.0 }
    };
    // Saturday noon of the third week: both nearest weekly slots (11:30 and
    // 12:30 on Saturdays) have two weeks behind them.
    let saturday = MONDAY + 14 * 24 * HOUR + 5 * 24 * HOUR + 12 * HOUR;
    feed(&mut profile, MONDAY, saturday - 7 * 24 * HOUR, weekly);
    assert_eq!(
        profile
            .expected(saturday - 7 * 24 * HOUR, 60)
            .map(|e| e.kind),
        Some(DetectorKind::SeasonalDaily),
        "a week and a half: still the daily profile"
    );
    feed(&mut profile, saturday - 7 * 24 * HOUR, saturday, weekly);
    let e = profile.expected(saturday, 60).expect("ready");
    assert_eq!(e.kind, DetectorKind::SeasonalWeekly);
    assert!(
        (e.expected - weekly(saturday)).abs() < 0.05 * weekly(saturday),
        "{} vs {}",
        e.expected,
        weekly(saturday)
    );
}

#[test]
fn an_outlier_barely_moves_a_slot() {
    let mut profile = SeasonalProfile::new(&daily_only());
    feed(&mut profile, MONDAY, MONDAY + 72 * HOUR, daily);
    let t = MONDAY + 72 * HOUR;
    let before = profile.expected(t + STEP, 60).expect("ready").expected;
    profile.learn(t, 1e9, STEP, rates(), CLIP, 10.0);
    let after = profile.expected(t + STEP, 60).expect("ready").expected;
    assert!((after - before).abs() < 1.0, "{before} -> {after}");
}
