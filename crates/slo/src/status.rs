//! The status of one SLO at one instant: the object `/api/v1/slos` returns.
//!
//! # Place in the data path
//!
//! The query API reads the rollups of the tenant for the last 3 days or the SLO
//! window (whichever is longer), feeds each minute's counts to
//! [`SloCounts::add_minute`] (via [`crate::SloDefinition::span_counts`] for
//! span-based SLIs, from metric sums for ratio SLIs), and calls
//! [`SloStatus::evaluate`]. The result serializes to exactly the JSON of issue
//! 4, and feeds the per-SLO gauges of `/metrics` and the deploy gate.

use serde::{Deserialize, Serialize};

use crate::budget::{ErrorBudget, EventCounts, Objective};
use crate::burn::{AlertStatus, BurnCounts, BurnRates, Severity, evaluate_alerts};
use crate::minute::{Minute, MinuteRange};
use crate::slo::{SliKind, SloDefinition, SloWindow};

/// Good and valid events over an SLO window and over each burn window, all
/// ending at the same `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SloCounts {
    now_nanos: i64,
    window: SloWindow,
    range: MinuteRange,
    pub total: EventCounts,
    pub burn: BurnCounts,
}

impl SloCounts {
    /// Empty counts for `window` ending at `now_nanos`.
    pub fn new(window: SloWindow, now_nanos: i64) -> Self {
        Self {
            now_nanos,
            window,
            range: window.range(now_nanos),
            total: EventCounts::default(),
            burn: BurnCounts::default(),
        }
    }

    /// Adds one minute's counts to the SLO window and to every burn window
    /// that holds the minute. Minutes after `now` (clock skew) count nowhere.
    pub fn add_minute(&mut self, minute: Minute, counts: EventCounts) {
        if self.range.contains(minute) {
            self.total.add(counts);
        }
        self.burn.add_minute(self.now_nanos, minute, counts);
    }

    pub fn now_nanos(&self) -> i64 {
        self.now_nanos
    }

    pub fn window(&self) -> SloWindow {
        self.window
    }

    /// The minutes of rollups the SLO window covers: what to read.
    pub fn range(&self) -> MinuteRange {
        self.range
    }
}

/// One element of `/api/v1/slos`, field for field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SloStatus {
    pub name: String,
    pub service: String,
    pub sli: SliKind,
    pub objective: Objective,
    pub window: SloWindow,
    pub valid_events: u64,
    pub good_events: u64,
    /// `good / valid`; `null` without valid events.
    pub sli_value: Option<f64>,
    pub error_budget: ErrorBudget,
    pub burn_rates: BurnRates,
    pub alerts: Vec<AlertStatus>,
    pub sla: Option<Objective>,
    pub runbook_url: Option<String>,
}

impl SloStatus {
    /// Evaluates `slo` on `counts`, which must have been collected for
    /// `slo.window` (their own window is what is used).
    pub fn evaluate(slo: &SloDefinition, counts: &SloCounts) -> Self {
        let total = counts.total;
        let burn_rates = BurnRates::compute(slo.objective, &counts.burn);
        Self {
            name: slo.name.clone(),
            service: slo.service.clone(),
            sli: slo.sli_kind(),
            objective: slo.objective,
            window: counts.window,
            valid_events: total.valid,
            good_events: total.good(),
            sli_value: total.sli(),
            error_budget: ErrorBudget::compute(
                slo.objective,
                total,
                counts.window.length_minutes(counts.now_nanos),
            ),
            alerts: evaluate_alerts(&burn_rates),
            burn_rates,
            sla: slo.sla,
            runbook_url: slo.runbook_url.clone(),
        }
    }

    /// The paging alerts that fire.
    pub fn firing_pages(&self) -> impl Iterator<Item = &AlertStatus> + '_ {
        self.alerts
            .iter()
            .filter(|a| a.firing && a.severity == Severity::Page)
    }

    /// Whether the SLA, if there is one, is breached over the window.
    pub fn sla_breached(&self) -> bool {
        match (self.sla, self.sli_value) {
            (Some(sla), Some(sli)) => sli < sla.get(),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SloDefinitions;

    const DAY: i64 = 86_400 * 1_000_000_000;
    /// 2024-03-31T12:00:30Z.
    const NOW: i64 = 1_711_886_430_000_000_000;

    fn definitions() -> SloDefinitions {
        toml::from_str::<std::collections::BTreeMap<String, SloDefinitions>>(
            r#"
            [[slo]]
            name = "checkout-availability"
            service = "checkout"
            sli = "availability"
            objective = 0.999
            window = "30d"
            runbook_url = "https://runbooks.example/checkout"

            [[slo]]
            name = "checkout-monthly"
            service = "checkout"
            sli = "availability"
            objective = 0.99
            window = "calendar-month"
            sla = 0.95
            "#,
        )
        .expect("valid")
        .remove("slo")
        .expect("slo key")
    }

    #[test]
    fn the_issue_example_field_for_field() {
        let slos = definitions();
        let slo = slos.get("checkout-availability").expect("defined");
        let mut counts = SloCounts::new(slo.window, NOW);
        let now = Minute::of_nanos(NOW);
        // 20000 requests over 20 days, 1000 a day; 30 bad ones 10 days ago,
        // outside every burn window but the SLO window.
        for day in 0..20 {
            let bad = if day == 10 { 30 } else { 0 };
            counts.add_minute(
                now.plus(-day * 1440 - 7),
                EventCounts::new(1000 - bad, 1000),
            );
        }
        // Older than 30 days: ignored.
        counts.add_minute(Minute::of_nanos(NOW - 31 * DAY), EventCounts::new(0, 1000));
        let status = SloStatus::evaluate(slo, &counts);
        let json = serde_json::to_value(&status).expect("serializes");
        let expected = serde_json::json!({
            "name": "checkout-availability", "service": "checkout", "sli": "availability",
            "objective": 0.999, "window": "30d",
            "valid_events": 20000, "good_events": 19970, "sli_value": 0.9985,
            "error_budget": {"total": 0.001, "consumed": 1.5, "remaining": -0.5,
                             "remaining_events": -10, "remaining_minutes": -21.6},
            "burn_rates": {"5m": 0.0, "30m": 0.0, "1h": 0.0, "2h": 0.0, "6h": 0.0,
                           "1d": 0.0, "3d": 0.0},
            "alerts": [
                {"severity": "page", "long_window": "1h", "short_window": "5m", "threshold": 14.4, "firing": false},
                {"severity": "page", "long_window": "6h", "short_window": "30m", "threshold": 6.0, "firing": false},
                {"severity": "ticket", "long_window": "1d", "short_window": "2h", "threshold": 3.0, "firing": false},
                {"severity": "ticket", "long_window": "3d", "short_window": "6h", "threshold": 1.0, "firing": false}
            ],
            "sla": null, "runbook_url": "https://runbooks.example/checkout"
        });
        assert_eq!(json, expected);
        let back: SloStatus = serde_json::from_value(json).expect("deserializes");
        assert_eq!(back, status);
    }

    #[test]
    fn calendar_month_budget_uses_the_whole_month() {
        let slos = definitions();
        let slo = slos.get("checkout-monthly").expect("defined");
        let mut counts = SloCounts::new(slo.window, NOW);
        // March 1st counts, February 29th does not.
        let march_first = Minute::of_nanos(NOW - 30 * DAY);
        counts.add_minute(march_first, EventCounts::new(90, 100));
        counts.add_minute(march_first.plus(-1440), EventCounts::new(0, 100));
        let status = SloStatus::evaluate(slo, &counts);
        assert_eq!((status.valid_events, status.good_events), (100, 90));
        assert_eq!(status.window.to_string(), "calendar-month");
        // 10% bad against a 1% budget: consumed 10×, remaining -9 of
        // 1% × 31 days × 1440 minutes.
        let b = status.error_budget;
        assert!((b.consumed - 10.0).abs() < 1e-12);
        assert!((b.remaining_minutes - -9.0 * 0.01 * 31.0 * 1440.0).abs() < 1e-9);
        assert_eq!(b.remaining_events, -9);
        assert!(status.sla_breached(), "90% < 95%");
    }

    #[test]
    fn a_fast_burn_pages() {
        let slos = definitions();
        let slo = slos.get("checkout-availability").expect("defined");
        let mut counts = SloCounts::new(slo.window, NOW);
        let now = Minute::of_nanos(NOW);
        // The last hour: 2% errors (20×) every minute.
        for m in 0..60 {
            counts.add_minute(now.plus(-m), EventCounts::new(980, 1000));
        }
        let status = SloStatus::evaluate(slo, &counts);
        assert_eq!(status.burn_rates.m5, 20.0);
        assert_eq!(status.burn_rates.h1, 20.0);
        assert!(
            (status.burn_rates.h6 - 20.0).abs() < 1e-12,
            "only one hour has traffic"
        );
        let firing: Vec<bool> = status.alerts.iter().map(|a| a.firing).collect();
        assert_eq!(firing, [true, true, true, true]);
        assert_eq!(status.firing_pages().count(), 2);
    }
}
