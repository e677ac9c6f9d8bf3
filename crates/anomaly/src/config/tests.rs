use super::*;

/// Every key with its default value, as the example config will hold it.
const ALL_DEFAULTS: &str = r#"
warmup_points = 60
level_half_life = "15m"
spread_half_life = "1h"
clip = 3.0
open_score = 4.0
close_score = 2.0
open_points = 3
close_points = 6
cooldown = "15m"
ticket_score = 6.0
page_score = 10.0
min_spread_abs = 1e-9
min_spread_rel = 0.01
min_change_abs = 0.0
min_change_rel = 0.1
learn_while_open = 0.1
max_gap = "5m"

[seasonality]
daily = true
weekly = true
min_periods = 2
half_life_periods = 3.0
"#;

const TREND_DEFAULTS: &str = r#"
limit = 1.0
crossing = "up"
horizon = "4h"
page_horizon = "1h"
close_horizon = "5h"
level_half_life = "15m"
slope_half_life = "1h"
warmup_points = 360
clip = 3.0
open_points = 3
close_points = 30
max_gap = "5m"
"#;

#[test]
fn defaults_are_valid_and_match_their_documentation() {
    let parsed: DetectorConfig = toml::from_str(ALL_DEFAULTS).expect("parses");
    assert_eq!(parsed, DetectorConfig::default());
    assert_eq!(toml::from_str::<DetectorConfig>("").expect("empty"), parsed);
    parsed.validate().expect("valid");
    let trend: TrendConfig = toml::from_str(TREND_DEFAULTS).expect("parses");
    assert_eq!(trend, TrendConfig::default());
    trend.validate().expect("valid");
    for signal in Signal::ALL {
        DetectorConfig::for_signal(signal)
            .validate()
            .expect("valid");
    }
    assert_eq!(
        DetectorConfig::for_signal(Signal::ErrorRatio).min_change_abs,
        Amount::of(0.01)
    );
}

#[test]
fn direction_defaults_to_the_signal_and_can_be_overridden() {
    let config = DetectorConfig::default();
    assert_eq!(config.policy(Signal::RequestRate), DirectionPolicy::Down);
    let both: DetectorConfig = toml::from_str(r#"direction = "both""#).expect("parses");
    assert_eq!(both.policy(Signal::RequestRate), DirectionPolicy::Both);
    assert_eq!(both.policy(Signal::LatencyP99), DirectionPolicy::Both);
}

#[test]
fn bad_values_name_their_key() {
    let bad = [
        ("open_score = 0", "open_score"),
        ("clip = -3.0", "clip"),
        ("open_points = 0", "open_points"),
        ("learn_while_open = 1.5", "learn_while_open"),
        ("min_change_rel = -0.1", "min_change_rel"),
        ("level_half_life = \"ten minutes\"", "level_half_life"),
        ("direction = \"sideways\"", "direction"),
        ("open_scor = 4.0", "open_scor"),
        ("[seasonality]\nmin_periods = 0", "min_periods"),
    ];
    for (text, key) in bad {
        let err = toml::from_str::<DetectorConfig>(text).expect_err(text);
        assert!(err.to_string().contains(key), "{text}: {err}");
    }
}

#[test]
fn contradictions_name_both_keys() {
    let cases = [
        ("close_score = 5.0", "close_score", "open_score"),
        ("ticket_score = 20.0", "ticket_score", "page_score"),
    ];
    for (text, key, other) in cases {
        let config: DetectorConfig = toml::from_str(text).expect(text);
        let err = config.validate().expect_err(text);
        assert_eq!(err.key(), key);
        let message = err.to_string();
        assert!(
            message.contains(key) && message.contains(other),
            "{message}"
        );
        assert_eq!((err.http_status(), err.is_retryable()), (400, false));
    }
    let single = [
        ("warmup_points = 1", "warmup_points"),
        ("level_half_life = 0", "level_half_life"),
        ("spread_half_life = \"0s\"", "spread_half_life"),
        ("max_gap = 0", "max_gap"),
        ("min_spread_abs = 0.0", "min_spread_abs"),
    ];
    for (text, key) in single {
        let config: DetectorConfig = toml::from_str(text).expect(text);
        let err = config.validate().expect_err(text);
        assert_eq!(err.key(), key, "{text}");
        assert!(err.to_string().contains(key), "{err}");
    }
}

#[test]
fn trend_horizons_must_be_ordered() {
    let cases = [
        ("page_horizon = \"5h\"", "page_horizon"),
        ("close_horizon = \"1h\"", "close_horizon"),
        ("limit = nan", "limit"),
        ("horizon = 0", "horizon"),
        ("warmup_points = 1", "warmup_points"),
    ];
    for (text, key) in cases {
        let config: TrendConfig = toml::from_str(text).expect(text);
        let err = config.validate().expect_err(text);
        assert_eq!(err.key(), key, "{text}");
    }
}
