//! Anomaly detection quality and cost: the labelled scenarios of
//! `sluice_anomaly::scenario` run through the default detectors, with
//! precision, recall, F1, median detection delay and false alarms per
//! series-day printed per scenario; then criterion times one detector step.
//!
//! Detection counts are incident-level (see `sluice_anomaly::scenario`): a
//! detection is the first anomaly opened within an incident (or 3 steps after
//! it; a forecast may also warn up to an hour early, counted as delay 0).
//!
//! Run with `cargo bench -p sluice-benches --bench anomaly`.

/// The allocator the daemon runs with.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use sluice_anomaly::scenario::{Case, STEP_NANOS, Scenario};
use sluice_anomaly::{
    DetectorConfig, Observation, SeriesDetector, Signal, TrendConfig, TrendForecast,
};

const SEEDS: [u64; 5] = [1, 2, 3, 4, 5];
const SERIES_PER_SEED: usize = 20;

fn format_ratio(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{v:.3}"))
}

fn print_quality() {
    println!(
        "\nanomaly detection: default configs, seeds {SEEDS:?}, {SERIES_PER_SEED} series per seed and scenario, 10 s steps\n"
    );
    println!(
        "{:<28} {:>6} {:>11} {:>9} {:>9} {:>9} {:>7} {:>13} {:>16}",
        "scenario",
        "series",
        "series-days",
        "incidents",
        "precision",
        "recall",
        "F1",
        "median delay",
        "false alarms/day"
    );
    for case in Case::ALL {
        let score = sluice_anomaly::scenario::evaluate(
            case,
            &SEEDS,
            SERIES_PER_SEED,
            &DetectorConfig::for_signal,
            &TrendConfig::default(),
        )
        .expect("default configs are valid");
        println!(
            "{:<28} {:>6} {:>11.0} {:>9} {:>9} {:>9} {:>7} {:>13} {:>16.3}",
            case.name(),
            score.series,
            score.series_days,
            score.incidents,
            // Without incidents every opened anomaly is a false alarm: the
            // last column says how many.
            format_ratio(score.precision().filter(|_| score.incidents > 0)),
            format_ratio(score.recall()),
            format_ratio(score.f1()),
            score
                .median_delay()
                .map_or_else(|| "-".to_owned(), |d| format!("{d:.1} steps")),
            score.false_alarms_per_series_day(),
        );
    }
    println!();
}

/// A detector warmed on three days of seasonal traffic (so the daily profile
/// is in use), then timed on the fourth.
fn bench_steps(c: &mut Criterion) {
    print_quality();
    let series = Scenario::DailySeasonality.generate(42, 1).remove(0);
    let config = DetectorConfig::for_signal(Signal::RequestRate);
    let warm = 3 * sluice_anomaly::scenario::STEPS_PER_DAY;
    let mut group = c.benchmark_group("anomaly");

    let mut detector = SeriesDetector::new(Signal::RequestRate, &config).expect("valid");
    for o in series.observations().take(warm) {
        detector.observe(o);
    }
    let mut i = warm;
    group.bench_function("series_detector_step_seasonal", |b| {
        b.iter(|| {
            let value = series.values[warm + i % (series.values.len() - warm)];
            let o = Observation::new(series.start_nanos + i as i64 * STEP_NANOS, value);
            i += 1;
            black_box(detector.observe(black_box(o)))
        })
    });

    let plain_config = DetectorConfig {
        seasonality: sluice_anomaly::SeasonalityConfig {
            daily: false,
            weekly: false,
            ..config.seasonality
        },
        ..config
    };
    let mut plain = SeriesDetector::new(Signal::RequestRate, &plain_config).expect("valid");
    for o in series.observations().take(warm) {
        plain.observe(o);
    }
    let mut i = warm;
    group.bench_function("series_detector_step_no_seasonality", |b| {
        b.iter(|| {
            let value = series.values[warm + i % (series.values.len() - warm)];
            let o = Observation::new(series.start_nanos + i as i64 * STEP_NANOS, value);
            i += 1;
            black_box(plain.observe(black_box(o)))
        })
    });

    let mut forecast = TrendForecast::new(&TrendConfig::default()).expect("valid");
    let mut i = 0usize;
    group.bench_function("trend_forecast_step", |b| {
        b.iter(|| {
            // A gauge at 0.5 with a little sawtooth: never near its limit.
            let value = 0.5 + 0.01 * ((i % 17) as f64 - 8.0) / 8.0;
            let o = Observation::new(i as i64 * STEP_NANOS, value);
            i += 1;
            black_box(forecast.observe(black_box(o)))
        })
    });
    group.finish();
}

criterion_group!(benches, bench_steps);
criterion_main!(benches);
