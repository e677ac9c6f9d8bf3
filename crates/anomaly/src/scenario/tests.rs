use super::*;
use crate::{DetectorConfig, TrendConfig};

fn table(seeds: &[u64], count: usize) -> Vec<(Case, ScenarioScore)> {
    Case::ALL
        .iter()
        .map(|&case| {
            let score = evaluate(
                case,
                seeds,
                count,
                &DetectorConfig::for_signal,
                &TrendConfig::default(),
            )
            .expect("valid config");
            (case, score)
        })
        .collect()
}

#[test]
#[ignore]
fn print_table() {
    for (case, s) in table(&[1, 2, 3, 4], 8) {
        println!(
            "{:<28} days {:>5.0} inc {:>3} det {:>3} opened {:>3} fa {:>3} P {:?} R {:?} F1 {:?} delay {:?} fa/d {:.2}",
            case.name(),
            s.series_days,
            s.incidents,
            s.detected,
            s.opened,
            s.false_alarms,
            s.precision(),
            s.recall(),
            s.f1(),
            s.median_delay(),
            s.false_alarms_per_series_day()
        );
    }
}
