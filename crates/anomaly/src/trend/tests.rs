use proptest::prelude::*;

use super::*;
use crate::scenario::SplitMix64;

const STEP: i64 = 10_000_000_000;
const HOUR_STEPS: usize = 360;
const T0: i64 = 1_767_571_200_000_000_000;

fn forecast() -> TrendForecast {
    TrendForecast::new(&TrendConfig::default()).expect("valid")
}

fn feed(f: &mut TrendForecast, from: usize, values: &[f64]) -> Vec<(usize, Transition)> {
    values
        .iter()
        .enumerate()
        .filter_map(|(i, &v)| {
            f.observe(Observation::new(T0 + (from + i) as i64 * STEP, v))
                .map(|t| (from + i, t))
        })
        .collect()
}

/// `hours` of a gauge from `start` rising `per_hour`, with noise `sd`.
fn ramp(seed: u64, hours: usize, start: f64, per_hour: f64, sd: f64) -> Vec<f64> {
    let mut rng = SplitMix64::new(seed);
    (0..hours * HOUR_STEPS)
        .map(|i| start + per_hour * i as f64 / HOUR_STEPS as f64 + sd * rng.normal())
        .collect()
}

#[test]
fn estimates_time_to_limit_on_a_linear_ramp() {
    let mut f = forecast();
    // 0.2 rising 0.05 an hour: reaches 1.0 sixteen hours in.
    let values = ramp(1, 6, 0.2, 0.05, 0.01);
    feed(&mut f, 0, &values);
    let ttl = f.time_to_limit_seconds().expect("rising");
    let truth = (1.0 - (0.2 + 0.05 * 6.0)) / 0.05 * 3600.0;
    assert!((ttl - truth).abs() < 0.1 * truth, "ttl {ttl} truth {truth}");
    let per_hour = f.slope_per_second() * 3600.0;
    assert!((per_hour - 0.05).abs() < 0.005, "slope {per_hour}/h");
    let level = f.level().expect("learned");
    assert!((level - 0.5).abs() < 0.02, "level {level}");
    assert!((f.forecast(3600.0).expect("learned") - 0.55).abs() < 0.02);
}

#[test]
fn warns_before_the_limit_and_pages_when_close() {
    let mut f = forecast();
    let values = ramp(2, 16, 0.2, 0.05, 0.01);
    let transitions = feed(&mut f, 0, &values);
    let opened: Vec<_> = transitions
        .iter()
        .filter(|(_, t)| matches!(t, Transition::Opened(_)))
        .collect();
    assert_eq!(opened.len(), 1, "{transitions:?}");
    let (step, event) = (opened[0].0, opened[0].1.event());
    // The limit is 16 h in; a 4 h horizon warns around 12 h.
    let hours = step as f64 / HOUR_STEPS as f64;
    assert!((hours - 12.0).abs() < 0.5, "warned at {hours} h");
    assert_eq!(event.severity, Severity::Ticket);
    assert_eq!(event.detector, DetectorKind::TrendForecast);
    assert_eq!(event.direction, Direction::Up);
    assert!(
        event.score >= 1.0
            && event
                .time_to_limit_seconds
                .is_some_and(|t| t <= 4.0 * 3600.0)
    );
    let updated: Vec<_> = transitions
        .iter()
        .filter(|(_, t)| matches!(t, Transition::Updated(_)))
        .collect();
    assert_eq!(updated.len(), 1, "escalates to a page once");
    assert_eq!(updated[0].1.event().severity, Severity::Page);
    let hours = updated[0].0 as f64 / HOUR_STEPS as f64;
    assert!((hours - 15.0).abs() < 0.5, "paged at {hours} h");
}

#[test]
fn resolves_when_the_climb_stops() {
    let mut f = forecast();
    let mut values = ramp(3, 12, 0.2, 0.05, 0.01);
    values.extend(ramp(4, 12, 0.8, 0.0, 0.01));
    let transitions = feed(&mut f, 0, &values);
    let kinds: Vec<&str> = transitions.iter().map(|(_, t)| t.kind()).collect();
    assert_eq!(kinds, vec!["opened", "resolved"]);
    assert!(f.open_warning().is_none());
}

#[test]
fn a_draining_gauge_warns_on_the_way_down() {
    let config = TrendConfig {
        limit: 0.0,
        crossing: Direction::Down,
        ..TrendConfig::default()
    };
    let mut f = TrendForecast::new(&config).expect("valid");
    let transitions = feed(&mut f, 0, &ramp(5, 10, 0.8, -0.1, 0.01));
    let event = transitions.first().expect("warned").1.event();
    assert_eq!(event.direction, Direction::Down);
    assert!(f.time_to_limit_seconds().is_some_and(|t| t < 3.0 * 3600.0));
}

#[test]
fn spikes_do_not_tilt_the_slope() {
    let mut f = forecast();
    let mut values = ramp(6, 4, 0.5, 0.0, 0.01);
    for v in values.iter_mut().skip(500).step_by(97) {
        *v = 1.0;
    }
    assert!(feed(&mut f, 0, &values).is_empty());
    let per_hour = f.slope_per_second() * 3600.0;
    assert!(per_hour.abs() < 0.01, "slope {per_hour}/h");
}

#[test]
fn a_saturated_gauge_is_exhausted_now() {
    let mut f = forecast();
    feed(&mut f, 0, &ramp(7, 2, 1.0, 0.0, 0.0));
    assert_eq!(f.time_to_limit_seconds(), Some(0.0));
    assert!(
        f.open_warning()
            .is_some_and(|w| w.severity == Severity::Page)
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn a_flat_gauge_below_the_limit_never_warns(
        seed in any::<u64>(),
        level in 0.0f64..0.9,
        sd in 0.0f64..0.02,
    ) {
        let mut f = forecast();
        prop_assert!(feed(&mut f, 0, &ramp(seed, 8, level, 0.0, sd)).is_empty());
    }

    #[test]
    fn warm_up_never_warns(values in prop::collection::vec(0.0f64..10.0, 1..360)) {
        let mut f = forecast();
        prop_assert!(feed(&mut f, 0, &values).is_empty());
        prop_assert_eq!(f.time_to_limit_seconds(), None);
    }

    #[test]
    fn time_to_limit_within_tolerance_on_any_ramp(
        seed in any::<u64>(),
        start in 0.0f64..0.3,
        per_hour in 0.01f64..0.1,
    ) {
        let mut f = forecast();
        feed(&mut f, 0, &ramp(seed, 4, start, per_hour, 0.005));
        let now = start + per_hour * 4.0;
        prop_assume!(now < 0.95);
        let truth = (1.0 - now) / per_hour * 3600.0;
        let ttl = f.time_to_limit_seconds().expect("rising");
        prop_assert!((ttl - truth).abs() < 0.15 * truth, "ttl {} truth {}", ttl, truth);
    }

    #[test]
    fn replay_gives_the_same_warnings(seed in any::<u64>()) {
        let values = ramp(seed, 14, 0.3, 0.05, 0.01);
        let (mut a, mut b) = (forecast(), forecast());
        prop_assert_eq!(feed(&mut a, 0, &values), feed(&mut b, 0, &values));
    }
}
