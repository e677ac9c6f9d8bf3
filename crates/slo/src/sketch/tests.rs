use proptest::prelude::*;

use super::*;

/// The rank the sketch answers for, in a sorted copy of the input.
fn exact_quantile(sorted: &[f64], q: f64) -> f64 {
    let rank = (q * (sorted.len() - 1) as f64).floor() as usize;
    sorted[rank]
}

fn sketch_of(values: &[f64], config: SketchConfig) -> DdSketch {
    let mut s = DdSketch::new(config);
    for &v in values {
        s.add(v);
    }
    s
}

fn within(estimate: f64, exact: f64, accuracy: f64) -> bool {
    // A hair of slack for the last bits of ln/exp at bucket boundaries.
    (estimate - exact).abs() <= accuracy * exact * (1.0 + 1e-9) + f64::MIN_POSITIVE
}

const QUANTILES: [f64; 9] = [0.0, 0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0];

#[test]
fn empty_sketch_has_no_quantiles() {
    let s = DdSketch::default();
    assert_eq!(s.quantile(0.5), None);
    assert_eq!((s.min(), s.max(), s.mean()), (None, None, None));
    assert_eq!(s.count(), 0);
    assert_eq!(s.count_at_most(1e9), 0);
}

#[test]
fn latency_percentiles_within_one_percent() {
    // 1..=1000 ms in nanoseconds.
    let values: Vec<f64> = (1..=1000).map(|ms| ms as f64 * 1e6).collect();
    let s = sketch_of(&values, SketchConfig::default());
    assert_eq!(s.count(), 1000);
    assert_eq!(s.min(), Some(1e6));
    assert_eq!(s.max(), Some(1e9));
    assert_eq!(s.sum(), 500_500.0 * 1e6);
    for (q, exact_ms) in [(0.5, 500.0), (0.9, 900.0), (0.99, 990.0)] {
        let p = s.quantile(q).expect("not empty");
        assert!(within(p, exact_ms * 1e6, 0.01), "p{q}: {p}");
    }
    assert_eq!(s.quantile(1.0), Some(1e9));
    assert_eq!(s.quantile(0.0), Some(1e6));
    assert_eq!(s.quantile(1.5), None);
    assert_eq!(s.quantile(f64::NAN), None);
}

#[test]
fn zeros_negatives_and_non_finite_values() {
    let mut s = DdSketch::default();
    s.add(0.0);
    s.add(-5.0);
    s.add(f64::NAN);
    s.add(f64::INFINITY);
    s.add_n(10.0, 2);
    s.add_n(3.0, 0);
    assert_eq!(s.count(), 4, "NaN and inf are not counted");
    assert_eq!(s.zero_count(), 2, "0 and -5 count as 0");
    assert_eq!(s.min(), Some(0.0));
    assert_eq!(s.sum(), 20.0);
    assert_eq!(s.quantile(0.3), Some(0.0));
    let p = s.quantile(0.9).expect("not empty");
    assert!(within(p, 10.0, 0.01), "{p}");
}

#[test]
fn counts_at_most_a_threshold() {
    let values: Vec<f64> = (1..=100).map(|ms| ms as f64 * 1e6).collect();
    let s = sketch_of(&values, SketchConfig::default());
    // 300 ms is far from every bucket boundary that matters here.
    assert_eq!(s.count_at_most(300e6), 100);
    assert_eq!(s.count_at_most(0.5e6), 0);
    assert_eq!(s.count_at_most(f64::NAN), 0);
    // 50.5 ms lies between 50 and 51 ms, which are 2% apart: exact.
    assert_eq!(s.count_at_most(50.5e6), 50);
}

#[test]
fn merge_refuses_other_accuracies() {
    let mut a = DdSketch::default();
    let b = DdSketch::new(SketchConfig::new(0.02, 2048).expect("valid"));
    assert_eq!(
        a.merge(&b),
        Err(SloError::AccuracyMismatch {
            ours: 0.01,
            theirs: 0.02
        })
    );
}

#[test]
fn config_is_validated() {
    assert!(SketchConfig::new(0.01, 2048).is_ok());
    for (accuracy, buckets) in [
        (0.0, 2048),
        (f64::NAN, 2048),
        (0.6, 2048),
        (1e-7, 2048),
        (0.01, 0),
        (0.01, 1 << 20),
    ] {
        assert!(
            SketchConfig::new(accuracy, buckets).is_err(),
            "{accuracy} {buckets}"
        );
    }
}

#[test]
fn collapsing_keeps_high_quantiles() {
    // 1 ns .. ~1e12 ns spans ~1400 buckets at 1%; keep only 200.
    let values: Vec<f64> = (0..2000).map(|i| 1.014f64.powi(i)).collect();
    let config = SketchConfig::new(0.01, 200).expect("valid");
    let s = sketch_of(&values, config);
    assert!(s.buckets().count() <= 200);
    let mut sorted = values.clone();
    sorted.sort_by(f64::total_cmp);
    for q in [0.95, 0.99, 0.999] {
        let p = s.quantile(q).expect("not empty");
        assert!(within(p, exact_quantile(&sorted, q), 0.01), "p{q}: {p}");
    }
}

/// Values spread log-uniformly over 1 ns to ~17 minutes, with some zeros.
fn latencies() -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec(
        prop_oneof![1 => Just(0.0), 20 => (0.0f64..27.6).prop_map(f64::exp)],
        1..250,
    )
}

proptest! {
    #[test]
    fn quantiles_within_relative_accuracy(
        values in latencies(),
        accuracy in 0.001f64..0.1,
    ) {
        let config = SketchConfig::new(accuracy, SketchConfig::MAX_BUCKETS_LIMIT).expect("valid");
        let s = sketch_of(&values, config);
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        for q in QUANTILES {
            let estimate = s.quantile(q).expect("not empty");
            let exact = exact_quantile(&sorted, q);
            prop_assert!(within(estimate, exact, accuracy), "q={} estimate={} exact={}", q, estimate, exact);
        }
    }

    #[test]
    fn encoding_round_trips(values in latencies(), max_buckets in 1usize..3000) {
        let config = SketchConfig::new(0.01, max_buckets).expect("valid");
        let s = sketch_of(&values, config);
        let bytes = s.to_bytes();
        let decoded = DdSketch::from_bytes(&bytes).expect("own encoding decodes");
        prop_assert_eq!(&decoded, &s);
        prop_assert_eq!(decoded.to_bytes(), bytes);
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(s) = DdSketch::from_bytes(&bytes) {
            // Whatever decodes is a usable, canonical sketch.
            prop_assert_eq!(s.to_bytes(), bytes);
            let _ = s.quantile(0.5);
        }
    }

    #[test]
    fn decoding_corrupted_sketches_never_panics(
        values in latencies(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut bytes = sketch_of(&values, SketchConfig::default()).to_bytes();
        for (at, byte) in flips {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        if let Ok(s) = DdSketch::from_bytes(&bytes) {
            prop_assert_eq!(s.to_bytes(), bytes);
            let _ = (s.quantile(0.99), s.count_at_most(1e6));
            let mut merged = DdSketch::default();
            let _ = merged.merge(&s);
        }
    }
}

proptest! {
    // Three sketches and two merge orders per case: fewer cases, same reach.
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn merging_equals_sketching_everything(
        a in latencies(),
        b in latencies(),
        c in latencies(),
        max_buckets in prop_oneof![Just(2048usize), 8usize..64],
    ) {
        let config = SketchConfig::new(0.01, max_buckets).expect("valid");
        let all: Vec<f64> = [&a[..], &b[..], &c[..]].concat();
        let whole = sketch_of(&all, config);
        let (sa, sb, sc) = (sketch_of(&a, config), sketch_of(&b, config), sketch_of(&c, config));
        // (a + b) + c
        let mut left = sa.clone();
        left.merge(&sb).expect("same accuracy");
        left.merge(&sc).expect("same accuracy");
        // c + (b + a)
        let mut inner = sb.clone();
        inner.merge(&sa).expect("same accuracy");
        let mut right = sc.clone();
        right.merge(&inner).expect("same accuracy");
        for merged in [&left, &right] {
            prop_assert_eq!(merged.count(), whole.count());
            prop_assert_eq!(merged.zero_count(), whole.zero_count());
            prop_assert_eq!(merged.min(), whole.min());
            prop_assert_eq!(merged.max(), whole.max());
            prop_assert_eq!(merged.buckets().collect::<Vec<_>>(), whole.buckets().collect::<Vec<_>>());
            prop_assert!((merged.sum() - whole.sum()).abs() <= 1e-9 * whole.sum());
            for q in QUANTILES {
                prop_assert_eq!(merged.quantile(q), whole.quantile(q));
            }
        }
    }
}
