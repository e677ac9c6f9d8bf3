//! Burn rates and multi-window, multi-burn-rate alerts (the Google SRE
//! workbook, "Alerting on SLOs", recipe 6).
//!
//! # Place in the data path
//!
//! The query API counts good and valid events over each [`BurnWindow`] ending
//! now (from the same per-minute rollups as the SLO window), then
//! [`BurnRates::compute`] and [`evaluate_alerts`] give the `burn_rates` and
//! `alerts` of `/api/v1/slos`, the alert gauges of `/metrics`, and the paging
//! input of the deploy gate ([`crate::GateDecision`]).
//!
//! # Formulas
//!
//! Burn rate over a window = that window's error ratio / (1 − objective); 1.0
//! spends exactly the budget over the SLO window. A window without valid events
//! burns 0. Each window is that many whole minutes of rollups, the current,
//! partial minute included (see [`crate::MinuteRange::last_n`]).
//!
//! An alert fires when **both** its long and its short window burn strictly
//! faster than its threshold: the long window says the budget is really going,
//! the short one that it is still going now (so the alert resets quickly once
//! the problem is fixed).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::budget::{EventCounts, Objective, burn_rate};
use crate::minute::{Minute, MinuteRange};

/// The burn-rate windows, shortest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum BurnWindow {
    #[serde(rename = "5m")]
    M5,
    #[serde(rename = "30m")]
    M30,
    #[serde(rename = "1h")]
    H1,
    #[serde(rename = "2h")]
    H2,
    #[serde(rename = "6h")]
    H6,
    #[serde(rename = "1d")]
    D1,
    #[serde(rename = "3d")]
    D3,
}

impl BurnWindow {
    pub const ALL: [BurnWindow; 7] = [
        Self::M5,
        Self::M30,
        Self::H1,
        Self::H2,
        Self::H6,
        Self::D1,
        Self::D3,
    ];

    pub fn minutes(self) -> i64 {
        match self {
            Self::M5 => 5,
            Self::M30 => 30,
            Self::H1 => 60,
            Self::H2 => 120,
            Self::H6 => 360,
            Self::D1 => 1440,
            Self::D3 => 3 * 1440,
        }
    }

    /// `5m`, `30m`, `1h`, `2h`, `6h`, `1d`, `3d`: the JSON keys.
    pub fn label(self) -> &'static str {
        match self {
            Self::M5 => "5m",
            Self::M30 => "30m",
            Self::H1 => "1h",
            Self::H2 => "2h",
            Self::H6 => "6h",
            Self::D1 => "1d",
            Self::D3 => "3d",
        }
    }

    /// The minutes of rollups this window covers at `now_nanos`.
    pub fn range(self, now_nanos: i64) -> MinuteRange {
        MinuteRange::last_n(now_nanos, self.minutes())
    }

    fn position(self) -> usize {
        self as usize
    }
}

impl fmt::Display for BurnWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// Good and valid events per burn window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BurnCounts([EventCounts; 7]);

impl BurnCounts {
    pub fn get(&self, window: BurnWindow) -> EventCounts {
        self.0[window.position()]
    }

    pub fn set(&mut self, window: BurnWindow, counts: EventCounts) {
        self.0[window.position()] = counts;
    }

    /// Adds one minute's counts to every window whose range
    /// ([`BurnWindow::range`]) holds it: minutes after `now` count nowhere.
    pub fn add_minute(&mut self, now_nanos: i64, minute: Minute, counts: EventCounts) {
        let age = Minute::of_nanos(now_nanos)
            .index()
            .saturating_sub(minute.index());
        if age < 0 {
            return;
        }
        for window in BurnWindow::ALL {
            if age < window.minutes() {
                self.0[window.position()].add(counts);
            }
        }
    }
}

/// The `burn_rates` object of `/api/v1/slos`, keyed `"5m"` to `"3d"`.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct BurnRates {
    #[serde(rename = "5m")]
    pub m5: f64,
    #[serde(rename = "30m")]
    pub m30: f64,
    #[serde(rename = "1h")]
    pub h1: f64,
    #[serde(rename = "2h")]
    pub h2: f64,
    #[serde(rename = "6h")]
    pub h6: f64,
    #[serde(rename = "1d")]
    pub d1: f64,
    #[serde(rename = "3d")]
    pub d3: f64,
}

impl BurnRates {
    /// The burn rate of every window; see the module docs.
    pub fn compute(objective: Objective, counts: &BurnCounts) -> Self {
        let mut rates = Self::default();
        for window in BurnWindow::ALL {
            *rates.get_mut(window) = burn_rate(objective, counts.get(window));
        }
        rates
    }

    pub fn get(&self, window: BurnWindow) -> f64 {
        match window {
            BurnWindow::M5 => self.m5,
            BurnWindow::M30 => self.m30,
            BurnWindow::H1 => self.h1,
            BurnWindow::H2 => self.h2,
            BurnWindow::H6 => self.h6,
            BurnWindow::D1 => self.d1,
            BurnWindow::D3 => self.d3,
        }
    }

    fn get_mut(&mut self, window: BurnWindow) -> &mut f64 {
        match window {
            BurnWindow::M5 => &mut self.m5,
            BurnWindow::M30 => &mut self.m30,
            BurnWindow::H1 => &mut self.h1,
            BurnWindow::H2 => &mut self.h2,
            BurnWindow::H6 => &mut self.h6,
            BurnWindow::D1 => &mut self.d1,
            BurnWindow::D3 => &mut self.d3,
        }
    }
}

/// Who an alert wakes: `page` (a human, now) or `ticket` (working hours).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Page,
    Ticket,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Page => "page",
            Self::Ticket => "ticket",
        }
    }
}

/// One multi-window burn-rate alert.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AlertRule {
    pub severity: Severity,
    pub long_window: BurnWindow,
    pub short_window: BurnWindow,
    /// Fires when both windows burn faster than this.
    pub threshold: f64,
}

/// The four alerts of DESIGN.md, in the order `/api/v1/slos` lists them: 14.4×
/// over 1h and 5m (2% of a 30-day budget in an hour) and 6× over 6h and 30m
/// (5% in six hours) page; 3× over 1d and 2h (10% in a day) and 1× over 3d
/// and 6h (10% in three days) open a ticket.
pub const ALERT_RULES: [AlertRule; 4] = [
    AlertRule {
        severity: Severity::Page,
        long_window: BurnWindow::H1,
        short_window: BurnWindow::M5,
        threshold: 14.4,
    },
    AlertRule {
        severity: Severity::Page,
        long_window: BurnWindow::H6,
        short_window: BurnWindow::M30,
        threshold: 6.0,
    },
    AlertRule {
        severity: Severity::Ticket,
        long_window: BurnWindow::D1,
        short_window: BurnWindow::H2,
        threshold: 3.0,
    },
    AlertRule {
        severity: Severity::Ticket,
        long_window: BurnWindow::D3,
        short_window: BurnWindow::H6,
        threshold: 1.0,
    },
];

impl AlertRule {
    /// Whether both windows burn strictly faster than the threshold.
    pub fn is_firing(&self, rates: &BurnRates) -> bool {
        rates.get(self.long_window) > self.threshold
            && rates.get(self.short_window) > self.threshold
    }

    pub fn evaluate(&self, rates: &BurnRates) -> AlertStatus {
        AlertStatus {
            severity: self.severity,
            long_window: self.long_window,
            short_window: self.short_window,
            threshold: self.threshold,
            firing: self.is_firing(rates),
        }
    }
}

/// One entry of `alerts` in `/api/v1/slos`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AlertStatus {
    pub severity: Severity,
    pub long_window: BurnWindow,
    pub short_window: BurnWindow,
    pub threshold: f64,
    pub firing: bool,
}

/// The four [`ALERT_RULES`] against `rates`, in their order.
pub fn evaluate_alerts(rates: &BurnRates) -> Vec<AlertStatus> {
    ALERT_RULES
        .iter()
        .map(|rule| rule.evaluate(rates))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn objective(o: f64) -> Objective {
        Objective::new(o).expect("valid objective")
    }

    /// Burn counts with `bad` bad events out of `valid` in every window.
    fn uniform(bad: [u64; 7], valid: u64) -> BurnCounts {
        let mut c = BurnCounts::default();
        for (window, bad) in BurnWindow::ALL.into_iter().zip(bad) {
            c.set(window, EventCounts::new(valid - bad, valid));
        }
        c
    }

    fn firing(rates: &BurnRates) -> Vec<bool> {
        evaluate_alerts(rates).iter().map(|a| a.firing).collect()
    }

    #[test]
    fn burn_rate_is_error_ratio_over_budget() {
        // 99.9%: 1 bad in 1000 is 1×; 15 in 1000 is 15×; none is 0.
        let rates = BurnRates::compute(objective(0.999), &uniform([15, 0, 1, 2, 3, 6, 0], 1000));
        assert_eq!(rates.m5, 15.0);
        assert_eq!(rates.m30, 0.0);
        assert_eq!(rates.h1, 1.0);
        assert_eq!(rates.h2, 2.0);
        assert_eq!(rates.h6, 3.0);
        assert_eq!(rates.d1, 6.0);
        let mut empty = uniform([0; 7], 1000);
        empty.set(BurnWindow::D3, EventCounts::default());
        assert_eq!(
            BurnRates::compute(objective(0.999), &empty).d3,
            0.0,
            "no traffic burns 0"
        );
    }

    #[test]
    fn hand_computed_alerts() {
        let o = objective(0.999);
        // Windows:           5m  30m   1h   2h   6h   1d   3d   (bad per 10000)
        // A fast outage: 1h burns 15×, 5m 20×: the first page only.
        let rates = BurnRates::compute(o, &uniform([200, 150, 150, 80, 25, 10, 5], 10_000));
        assert_eq!(firing(&rates), [true, false, false, false]);
        // Exactly 14.4× in both windows is not faster than 14.4×.
        let rates = BurnRates::compute(o, &uniform([144, 144, 144, 0, 0, 0, 0], 10_000));
        assert_eq!(rates.h1, 14.4);
        assert_eq!(firing(&rates), [false, false, false, false]);
        // Recovered: 1h still 15×, but the last 5 minutes are clean.
        let rates = BurnRates::compute(o, &uniform([0, 150, 150, 80, 25, 10, 5], 10_000));
        assert_eq!(firing(&rates), [false, false, false, false]);
        // A slow leak: 6h 7× and 30m 8× page; 1d 3.5× and 2h 4× ticket; 3d 2× and 6h 7× ticket.
        let rates = BurnRates::compute(o, &uniform([90, 80, 75, 40, 70, 35, 20], 10_000));
        assert_eq!(firing(&rates), [false, true, true, true]);
        // A long low burn: 3d 1.2× and 6h 1.1× ticket only.
        let rates = BurnRates::compute(o, &uniform([20, 15, 12, 12, 11, 12, 12], 10_000));
        assert_eq!(firing(&rates), [false, false, false, true]);
    }

    #[test]
    fn alerts_serialize_as_the_api_shows_them() {
        let alerts = evaluate_alerts(&BurnRates::default());
        let json = serde_json::to_value(&alerts).expect("serializes");
        assert_eq!(
            json[0],
            serde_json::json!({"severity": "page", "long_window": "1h", "short_window": "5m",
                               "threshold": 14.4, "firing": false})
        );
        let windows: Vec<_> = alerts
            .iter()
            .map(|a| {
                (
                    a.severity.as_str(),
                    a.long_window.label(),
                    a.short_window.label(),
                    a.threshold,
                )
            })
            .collect();
        assert_eq!(
            windows,
            [
                ("page", "1h", "5m", 14.4),
                ("page", "6h", "30m", 6.0),
                ("ticket", "1d", "2h", 3.0),
                ("ticket", "3d", "6h", 1.0)
            ]
        );
        let rates = serde_json::to_string(&BurnRates::default()).expect("serializes");
        assert_eq!(
            rates,
            r#"{"5m":0.0,"30m":0.0,"1h":0.0,"2h":0.0,"6h":0.0,"1d":0.0,"3d":0.0}"#
        );
    }

    proptest::proptest! {
        #[test]
        fn rates_and_alerts_follow_the_formulas(
            o in 0.9f64..0.99999,
            windows in proptest::collection::vec((0u64..1_000, 0u64..100_000), 7),
        ) {
            let mut counts = BurnCounts::default();
            for (window, &(bad, extra)) in BurnWindow::ALL.into_iter().zip(&windows) {
                counts.set(window, EventCounts::new(extra, bad + extra));
            }
            let rates = BurnRates::compute(objective(o), &counts);
            for (window, &(bad, extra)) in BurnWindow::ALL.into_iter().zip(&windows) {
                let valid = bad + extra;
                let expected = if valid == 0 { 0.0 } else { (bad as f64 / valid as f64) / (1.0 - o) };
                let got = rates.get(window);
                proptest::prop_assert!((got - expected).abs() <= 1e-9 * expected.max(1.0), "{window}: {got} vs {expected}");
            }
            for (rule, alert) in ALERT_RULES.iter().zip(evaluate_alerts(&rates)) {
                let expected = rates.get(rule.long_window) > rule.threshold
                    && rates.get(rule.short_window) > rule.threshold;
                proptest::prop_assert_eq!(alert.firing, expected);
            }
        }
    }

    #[test]
    fn burn_windows_cover_whole_minutes_up_to_now() {
        let now = 1_700_000_070_000_000_000; // 30 s into a minute
        let current = Minute::of_nanos(now);
        let mut counts = BurnCounts::default();
        counts.add_minute(now, current, EventCounts::new(9, 10));
        counts.add_minute(now, current.plus(-5), EventCounts::new(0, 10));
        counts.add_minute(now, current.plus(-4320), EventCounts::new(0, 10));
        counts.add_minute(now, current.plus(1), EventCounts::new(0, 10)); // future: nowhere
        assert_eq!(counts.get(BurnWindow::M5), EventCounts::new(9, 10));
        assert_eq!(counts.get(BurnWindow::M30), EventCounts::new(9, 20));
        assert_eq!(counts.get(BurnWindow::D3), EventCounts::new(9, 20));
        for window in BurnWindow::ALL {
            let range = window.range(now);
            for age in [-1, 0, window.minutes() - 1, window.minutes()] {
                let minute = current.plus(-age);
                let mut one = BurnCounts::default();
                one.add_minute(now, minute, EventCounts::new(1, 1));
                assert_eq!(
                    one.get(window).valid == 1,
                    range.contains(minute),
                    "{window} {age}"
                );
            }
        }
    }
}
