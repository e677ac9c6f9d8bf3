use proptest::prelude::*;

use super::*;
use crate::config::{Fraction, Points};
use crate::scenario::SplitMix64;

const STEP: i64 = 10_000_000_000;
/// Monday 2026-01-05 00:00 UTC.
const T0: i64 = 1_767_571_200_000_000_000;

fn detector(signal: Signal) -> SeriesDetector {
    SeriesDetector::new(signal, &DetectorConfig::for_signal(signal)).expect("valid")
}

fn at(i: usize) -> i64 {
    T0 + i as i64 * STEP
}

/// Feeds `values` from step `from`; returns every transition with its step.
fn feed(d: &mut SeriesDetector, from: usize, values: &[f64]) -> Vec<(usize, Transition)> {
    values
        .iter()
        .enumerate()
        .filter_map(|(i, &v)| {
            d.observe(Observation::new(at(from + i), v))
                .map(|t| (from + i, t))
        })
        .collect()
}

fn noise(seed: u64, n: usize, mean: f64, sd: f64) -> Vec<f64> {
    let mut rng = SplitMix64::new(seed);
    (0..n).map(|_| mean + sd * rng.normal()).collect()
}

fn opened(transitions: &[(usize, Transition)]) -> Vec<usize> {
    transitions
        .iter()
        .filter(|(_, t)| matches!(t, Transition::Opened(_)))
        .map(|(i, _)| *i)
        .collect()
}

#[test]
fn a_latency_incident_opens_escalates_and_resolves() {
    let mut d = detector(Signal::LatencyP99);
    let mut values = noise(1, 2_000, 100.0, 5.0);
    for v in &mut values[1_000..1_060] {
        *v *= 3.0;
    }
    let transitions = feed(&mut d, 0, &values);
    let kinds: Vec<&str> = transitions.iter().map(|(_, t)| t.kind()).collect();
    assert_eq!(kinds.first(), Some(&"opened"));
    assert_eq!(kinds.last(), Some(&"resolved"));
    assert_eq!(opened(&transitions), vec![1_002], "three points to open");
    let (at_step, resolved) = transitions.last().expect("resolved");
    let event = resolved.event();
    assert_eq!(event.start, at(1_000));
    assert_eq!(event.end, Some(at(1_060)));
    assert_eq!(*at_step, 1_065, "six calm points to close");
    assert_eq!(event.direction, Direction::Up);
    assert_eq!(event.severity, Severity::Page);
    assert_eq!(event.detector, DetectorKind::RobustBaseline);
    assert!((event.expected - 100.0).abs() < 3.0, "{}", event.expected);
    assert!(event.observed > 250.0 && event.score > 10.0, "{event:?}");
    assert!(d.open_anomaly().is_none());
}

#[test]
fn severity_rises_with_the_peak() {
    let mut d = detector(Signal::LatencyP99);
    let mut values = noise(2, 1_200, 100.0, 5.0);
    for (k, v) in values[1_000..1_100].iter_mut().enumerate() {
        *v += if k < 20 { 30.0 } else { 120.0 };
    }
    let transitions = feed(&mut d, 0, &values);
    let kinds: Vec<&str> = transitions.iter().map(|(_, t)| t.kind()).collect();
    assert_eq!(kinds.first(), Some(&"opened"), "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"resolved"), "{kinds:?}");
    assert!(kinds[1..kinds.len() - 1].iter().all(|k| *k == "updated") && kinds.len() >= 3);
    assert!(transitions[0].1.event().severity < Severity::Page);
    let escalated = &transitions[kinds.len() - 2].1;
    assert_eq!(escalated.event().severity, Severity::Page);
    assert_eq!(escalated.event().start, at(1_000), "same anomaly");
}

#[test]
fn only_the_hurting_direction_opens() {
    let step = |signal, factor: f64| {
        let mut d = detector(signal);
        let mut values = noise(3, 1_500, 100.0, 3.0);
        for v in &mut values[1_000..1_100] {
            *v *= factor;
        }
        opened(&feed(&mut d, 0, &values)).len()
    };
    assert_eq!(step(Signal::LatencyP99, 3.0), 1);
    assert_eq!(
        step(Signal::LatencyP99, 0.3),
        0,
        "faster is not an incident"
    );
    assert_eq!(step(Signal::RequestRate, 0.3), 1);
    assert_eq!(
        step(Signal::RequestRate, 3.0),
        0,
        "a surge is not, by default"
    );
    assert_eq!(step(Signal::Metric, 0.3), 1);
    assert_eq!(step(Signal::Metric, 3.0), 1);
    let mut both = DetectorConfig::for_signal(Signal::RequestRate);
    both.direction = Some(DirectionPolicy::Both);
    let mut d = SeriesDetector::new(Signal::RequestRate, &both).expect("valid");
    let mut values = noise(3, 1_500, 100.0, 3.0);
    for v in &mut values[1_000..1_100] {
        *v *= 3.0;
    }
    assert_eq!(opened(&feed(&mut d, 0, &values)), vec![1_002]);
}

#[test]
fn one_noisy_point_does_not_open_and_does_not_move_the_baseline() {
    let mut d = detector(Signal::LatencyP99);
    let values = noise(4, 1_000, 100.0, 5.0);
    assert!(feed(&mut d, 0, &values).is_empty());
    let level = d.baseline().level().expect("warm");
    for k in 0..50 {
        // A GC pause every 20 steps.
        let mut burst = noise(100 + k, 20, 100.0, 5.0);
        burst[7] = 10_000.0;
        assert!(feed(&mut d, 1_000 + k as usize * 20, &burst).is_empty());
    }
    let moved = d.baseline().level().expect("warm") - level;
    assert!(moved.abs() < 3.0, "moved {moved}");
}

#[test]
fn a_flapping_series_pages_once() {
    let mut d = detector(Signal::LatencyP99);
    let mut values = noise(5, 1_000, 100.0, 5.0);
    // Four bad, four good, for an hour: opens once and stays open.
    values.extend((0..360).map(|i| if i % 8 < 4 { 400.0 } else { 100.0 }));
    values.extend(noise(6, 200, 100.0, 5.0));
    let transitions = feed(&mut d, 0, &values);
    assert_eq!(opened(&transitions).len(), 1, "{transitions:?}");
    // Bursts far enough apart to close each time still page at most once
    // per cool-down (15 minutes = 90 steps).
    let mut d = detector(Signal::LatencyP99);
    let mut values = noise(7, 1_000, 100.0, 5.0);
    values.extend((0..1_080).map(|i| if i % 20 < 5 { 400.0 } else { 100.0 }));
    let pages = opened(&feed(&mut d, 0, &values)).len();
    assert!(
        (1..=1_080 / 90 + 1).contains(&pages),
        "{pages} pages in 3 hours"
    );
}

#[test]
fn a_long_incident_is_not_absorbed() {
    let mut d = detector(Signal::RequestRate);
    let mut values = noise(8, 1_000, 100.0, 3.0);
    values.extend(noise(9, 6 * 360, 50.0, 3.0));
    let transitions = feed(&mut d, 0, &values);
    assert_eq!(opened(&transitions), vec![1_002]);
    assert!(d.open_anomaly().is_some(), "still open after six hours");
    let expected = d.evaluate(at(values.len()), 50.0).expect("warm").expected;
    assert!(expected > 80.0, "expected {expected}");
}

#[test]
fn out_of_order_and_non_finite_points_are_skipped() {
    let mut d = detector(Signal::LatencyP99);
    feed(&mut d, 0, &noise(10, 100, 100.0, 5.0));
    let before = d.clone();
    assert_eq!(
        d.observe_outcome(Observation::new(at(99), 1e6)),
        StepOutcome::SkippedOutOfOrder
    );
    assert_eq!(
        d.observe_outcome(Observation::new(at(50), 1e6)),
        StepOutcome::SkippedOutOfOrder
    );
    assert_eq!(
        d.observe_outcome(Observation::new(at(100), f64::NAN)),
        StepOutcome::SkippedNotFinite
    );
    assert_eq!(d, before);
}

#[test]
fn a_gap_restarts_the_run_to_open() {
    let mut d = detector(Signal::LatencyP99);
    feed(&mut d, 0, &noise(11, 500, 100.0, 5.0));
    // Two bad points, an hour of silence, one bad point: not three in a row.
    assert!(feed(&mut d, 500, &[400.0, 400.0]).is_empty());
    assert!(feed(&mut d, 502 + 360, &[400.0]).is_empty());
    assert_eq!(opened(&feed(&mut d, 863, &[400.0, 400.0])), vec![864]);
}

/// Quiet nights, a 3× business day with one-hour ramps at 08:00 and 18:00.
fn business_day(i: usize) -> f64 {
    let hour = (i % 8_640) as f64 / 360.0;
    let ramp = |h: f64| (hour - h).clamp(0.0, 1.0);
    100.0 * (1.0 + 2.0 * (ramp(8.0) - ramp(18.0)))
}

#[test]
fn the_daily_peak_does_not_fire_and_the_profile_follows_the_ramps() {
    let mut rng = SplitMix64::new(12);
    let mut values: Vec<f64> = (0..5 * 8_640)
        .map(|i| business_day(i) * (1.0 + 0.03 * rng.normal()))
        .collect();
    // Day 5: half the traffic for ten minutes in the evening ramp.
    let incident = 4 * 8_640 + 18 * 360 + 90;
    for v in &mut values[incident..incident + 60] {
        *v *= 0.5;
    }
    let mut d = detector(Signal::RequestRate);
    let day5 = 4 * 8_640;
    let transitions = feed(&mut d, 0, &values[..day5]);
    assert!(transitions.is_empty(), "four days: {transitions:?}");
    for (k, &v) in values[day5..incident].iter().enumerate() {
        let i = day5 + k;
        let StepOutcome::Scored {
            evaluation: e,
            transition,
        } = d.observe_outcome(Observation::new(at(i), v))
        else {
            panic!("warm");
        };
        assert_eq!(transition, None, "{e:?}");
        assert_eq!(e.detector, DetectorKind::SeasonalDaily);
        let truth = business_day(i);
        assert!(
            (e.expected - truth).abs() < 0.15 * truth,
            "{}h: {} vs {truth}",
            k as f64 / 360.0,
            e.expected
        );
    }
    let transitions = feed(&mut d, incident, &values[incident..]);
    assert_eq!(opened(&transitions), vec![incident + 2]);
    assert_eq!(
        transitions[0].1.event().detector,
        DetectorKind::SeasonalDaily
    );
}

#[test]
fn a_constant_series_never_fires_with_the_profiles_in_use() {
    let mut d = detector(Signal::LatencyP99);
    // Three days of one-minute steps: the daily profile takes over on day 3.
    let minute = |i: usize| Observation::new(T0 + i as i64 * 60_000_000_000, 250.0);
    for i in 0..3 * 1_440 {
        assert_eq!(d.observe(minute(i)), None);
    }
    let e = d
        .evaluate(T0 + 3 * 1_440 * 60_000_000_000, 250.0)
        .expect("warm");
    assert_eq!(e.detector, DetectorKind::SeasonalDaily);
    assert_eq!((e.expected, e.score), (250.0, 0.0));
    // A change below min_change_rel (10%) does not count either.
    let e = d
        .evaluate(T0 + 3 * 1_440 * 60_000_000_000, 270.0)
        .expect("warm");
    assert_eq!(e.score, 0.0);
}

fn replay(values: &[f64]) -> Vec<(usize, Transition)> {
    let mut d = detector(Signal::LatencyP99);
    feed(&mut d, 0, values)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn warm_up_never_fires(values in prop::collection::vec(-1e9f64..1e9, 1..60)) {
        let mut d = detector(Signal::Metric);
        for (i, &v) in values.iter().enumerate() {
            let outcome = d.observe_outcome(Observation::new(at(i), v));
            prop_assert_eq!(outcome, StepOutcome::WarmingUp);
        }
        prop_assert!(!d.is_warm());
    }

    #[test]
    fn a_constant_series_never_fires(
        value in prop_oneof![Just(0.0), -1e9f64..1e9],
        n in 60usize..3_000,
        signal in prop::sample::select(Signal::ALL.to_vec()),
    ) {
        let mut d = detector(signal);
        let values = vec![value; n];
        prop_assert!(feed(&mut d, 0, &values).is_empty());
        let e = d.evaluate(at(n), value).expect("warm");
        prop_assert_eq!(e.score, 0.0);
    }

    #[test]
    fn tiny_changes_on_a_near_zero_series_never_fire(
        base in 0.0f64..1e-3,
        bump in 0.0f64..5e-3,
        n in 100usize..1_000,
    ) {
        let mut d = detector(Signal::ErrorRatio);
        let mut values = vec![base; n];
        values.extend(vec![base + bump; 200]);
        prop_assert!(feed(&mut d, 0, &values).is_empty());
    }

    #[test]
    fn one_outlier_after_warm_up_does_not_shift_the_expected_value(
        seed in any::<u64>(),
        outlier in prop_oneof![-1e9f64..-100.0, 1000.0f64..1e9],
    ) {
        let mut d = detector(Signal::Metric);
        feed(&mut d, 0, &noise(seed, 600, 100.0, 5.0));
        let before = d.evaluate(at(601), 100.0).expect("warm");
        prop_assert!(feed(&mut d, 600, &[outlier]).is_empty());
        let after = d.evaluate(at(601), 100.0).expect("warm");
        prop_assert!((after.expected - before.expected).abs() < 0.2, "{:?} -> {:?}", before, after);
        prop_assert!(after.spread < before.spread * 1.05);
    }

    #[test]
    fn replay_gives_the_same_events(
        seed in any::<u64>(),
        incident_at in 100usize..900,
        late in prop::collection::vec((1usize..1_000, 0usize..50), 0..20),
    ) {
        let mut values = noise(seed, 1_000, 100.0, 5.0);
        for v in &mut values[incident_at..(incident_at + 30).min(1_000)] {
            *v *= 4.0;
        }
        let live = replay(&values);
        prop_assert_eq!(&live, &replay(&values));
        // The same stream with late duplicates of earlier steps mixed in.
        let mut d = detector(Signal::LatencyP99);
        let mut mixed = Vec::new();
        for (i, &v) in values.iter().enumerate() {
            if let Some(t) = d.observe(Observation::new(at(i), v)) {
                mixed.push((i, t));
            }
            for &(when, back) in &late {
                if when == i {
                    prop_assert!(d.observe(Observation::new(at(i.saturating_sub(back)), 1e9)).is_none());
                }
            }
        }
        prop_assert_eq!(live, mixed);
    }
}

#[test]
fn learn_while_open_zero_freezes_the_level() {
    let mut config = DetectorConfig::for_signal(Signal::RequestRate);
    config.learn_while_open = Fraction::new(0.0).expect("valid");
    config.warmup_points = Points::new(30).expect("valid");
    let mut d = SeriesDetector::new(Signal::RequestRate, &config).expect("valid");
    feed(&mut d, 0, &noise(13, 500, 100.0, 3.0));
    assert_eq!(opened(&feed(&mut d, 500, &[10.0; 3])), vec![502]);
    let level = d.baseline().level().expect("warm");
    assert!(feed(&mut d, 503, &vec![10.0; 5_000]).is_empty());
    assert!(d.open_anomaly().is_some());
    assert_eq!(d.baseline().level(), Some(level));
}
