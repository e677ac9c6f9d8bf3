use super::*;
use crate::{DetectorConfig, TrendConfig};

#[test]
fn a_seed_names_the_same_series() {
    for scenario in Scenario::ALL {
        let a = scenario.generate(7, 2);
        assert_eq!(a, scenario.generate(7, 2), "{}", scenario.name());
        assert_ne!(a, scenario.generate(8, 2), "{}", scenario.name());
        assert_ne!(a[0].values, a[1].values, "{}", scenario.name());
    }
}

#[test]
fn incidents_are_labelled_inside_the_series_after_warm_up() {
    for scenario in Scenario::ALL {
        for series in scenario.generate(3, 4) {
            assert!(series.values.iter().all(|v| v.is_finite() && *v >= 0.0));
            for x in series.incidents.iter().chain(&series.exhaustion) {
                assert!(
                    x.start < x.end && x.end <= series.values.len(),
                    "{}",
                    series.name
                );
                assert!(x.start > SCENARIO_WARMUP_STEPS, "{}", series.name);
            }
            let mut sorted = series.incidents.clone();
            sorted.sort_by_key(|x| x.start);
            assert_eq!(sorted, series.incidents);
            assert!(sorted.windows(2).all(|w| w[0].end < w[1].start));
        }
    }
    let drift = Scenario::SlowDrift.generate(3, 4);
    assert_eq!(drift.iter().filter(|s| s.exhaustion.is_empty()).count(), 2);
    assert!(drift.iter().all(|s| s.limit == Some(1.0)));
}

/// The targets, for every scenario, with the default configs: F1 at
/// least 0.9 and a median delay of at most 3 steps where there are
/// incidents, at most one false alarm per series per day everywhere. A
/// forecast's "incident" is the moment the limit comes within 4 hours, which
/// no point marks: its warning is on time within a quarter of an hour.
#[test]
fn the_default_detectors_meet_the_targets() {
    for case in Case::ALL {
        let score = evaluate(
            case,
            &[11, 12],
            4,
            &DetectorConfig::for_signal,
            &TrendConfig::default(),
        )
        .expect("valid configs");
        let name = case.name();
        assert!(
            score.false_alarms_per_series_day() <= 1.0,
            "{name}: {score:?}"
        );
        if score.incidents > 0 {
            let f1 = score.f1().expect("incidents");
            assert!(f1 >= 0.9, "{name}: F1 {f1} {score:?}");
            let delay = score.median_delay().expect("detections");
            let target = match case.detector {
                DetectorUnderTest::Series => 3.0,
                DetectorUnderTest::Trend => 90.0,
            };
            assert!(delay <= target, "{name}: median delay {delay} {score:?}");
        }
    }
}
