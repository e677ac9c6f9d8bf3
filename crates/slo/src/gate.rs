//! The deploy gate: may a service deploy now?
//!
//! # Place in the data path
//!
//! `GET /api/v1/gate?service=...` and `sluice gate --service ...` evaluate the
//! service's SLOs ([`crate::SloStatus`]) and answer with a [`GateDecision`]. A
//! service is frozen while any of its SLOs has a paging alert firing (it is
//! burning its budget fast right now) or has no budget left (remaining ≤ 0).
//! A service without SLOs, or without traffic, is never frozen.

use serde::{Deserialize, Serialize};

use crate::status::SloStatus;

/// The body of `/api/v1/gate`: `{"freeze": true, "reasons": [...]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateDecision {
    pub freeze: bool,
    /// One line per reason, naming the SLO; empty when not frozen.
    pub reasons: Vec<String>,
}

impl GateDecision {
    /// Decides for `service` from the statuses of (any number of) SLOs; those
    /// of other services are ignored.
    pub fn evaluate<'a>(service: &str, statuses: impl IntoIterator<Item = &'a SloStatus>) -> Self {
        let mut reasons = Vec::new();
        for status in statuses.into_iter().filter(|s| s.service == service) {
            for alert in status.firing_pages() {
                reasons.push(format!(
                    "slo {:?}: paging alert firing: burn rate {:.2} over {} and {:.2} over {}, threshold {}",
                    status.name,
                    status.burn_rates.get(alert.long_window),
                    alert.long_window,
                    status.burn_rates.get(alert.short_window),
                    alert.short_window,
                    alert.threshold,
                ));
            }
            let budget = &status.error_budget;
            if budget.is_exhausted() {
                reasons.push(format!(
                    "slo {:?}: error budget exhausted over {}: {:.1}% consumed, {} bad events over the allowance",
                    status.name,
                    status.window,
                    budget.consumed * 100.0,
                    budget.remaining_events.saturating_neg(),
                ));
            }
        }
        Self {
            freeze: !reasons.is_empty(),
            reasons,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::budget::EventCounts;
    use crate::status::SloCounts;
    use crate::{Minute, SloDefinitions};

    /// 2024-03-31T12:00:30Z.
    const NOW: i64 = 1_711_886_430_000_000_000;

    fn slos() -> SloDefinitions {
        let text = r#"
            [[slo]]
            name = "checkout-availability"
            service = "checkout"
            sli = "availability"
            objective = 0.999
            window = "30d"

            [[slo]]
            name = "checkout-latency"
            service = "checkout"
            sli = "latency"
            threshold = "300ms"
            objective = 0.99
            window = "30d"

            [[slo]]
            name = "api-availability"
            service = "api"
            sli = "availability"
            objective = 0.9
            window = "7d"
        "#;
        toml::from_str::<std::collections::BTreeMap<String, SloDefinitions>>(text)
            .expect("valid")
            .remove("slo")
            .expect("slo key")
    }

    /// Every SLO gets `minutes` (minute offset, good, valid).
    fn statuses(minutes: &[(i64, u64, u64)]) -> Vec<SloStatus> {
        slos()
            .iter()
            .map(|slo| {
                let mut counts = SloCounts::new(slo.window, NOW);
                for &(offset, good, valid) in minutes {
                    counts.add_minute(
                        Minute::of_nanos(NOW).plus(-offset),
                        EventCounts::new(good, valid),
                    );
                }
                SloStatus::evaluate(slo, &counts)
            })
            .collect()
    }

    #[test]
    fn open_without_slos_or_traffic() {
        let none = statuses(&[]);
        assert_eq!(
            GateDecision::evaluate("checkout", &none),
            GateDecision {
                freeze: false,
                reasons: vec![]
            }
        );
        assert!(!GateDecision::evaluate("unknown", &none).freeze);
    }

    #[test]
    fn frozen_by_a_spent_budget_without_a_page() {
        // 9 days ago, 5% errors over a day's traffic: budgets of 0.1% and 1%
        // are spent, no burn window sees it.
        let s = statuses(&[(9 * 1440, 95_000, 100_000)]);
        let gate = GateDecision::evaluate("checkout", &s);
        assert!(gate.freeze);
        assert_eq!(gate.reasons.len(), 2, "{:?}", gate.reasons);
        assert_eq!(
            gate.reasons[0],
            "slo \"checkout-availability\": error budget exhausted over 30d: 5000.0% consumed, 4900 bad events over the allowance"
        );
        // 9 days ago is outside api's 7-day window.
        assert!(!GateDecision::evaluate("api", &s).freeze);
    }

    #[test]
    fn frozen_by_a_page_with_budget_left() {
        // A month of clean traffic, then 2% errors over the last hour: 20×.
        let mut minutes = vec![(2 * 1440, 10_000_000, 10_000_000)];
        minutes.extend((0..60).map(|m| (m, 980, 1000)));
        let s = statuses(&minutes);
        let gate = GateDecision::evaluate("checkout", &s);
        assert!(gate.freeze);
        assert_eq!(
            gate.reasons,
            [
                "slo \"checkout-availability\": paging alert firing: burn rate 20.00 over 1h and 20.00 over 5m, threshold 14.4",
                "slo \"checkout-availability\": paging alert firing: burn rate 20.00 over 6h and 20.00 over 30m, threshold 6",
            ]
        );
        assert!(s[0].error_budget.remaining > 0.0);
    }
}
