//! Metric names of the query side: per-SLO gauges, set at each scrape of
//! `/metrics` so Prometheus and Grafana chart SLOs with no recording rules.
//! Labels: `tenant`, `slo`, `service` (plus `window`, or the alert's
//! `severity`, `long_window` and `short_window`).

use sluice_model::Tenant;
use sluice_slo::{BurnWindow, SloStatus};

/// The SLO's objective.
pub const SLO_OBJECTIVE: &str = "sluice_slo_objective";
/// Good over valid events in the SLO window (absent without traffic).
pub const SLO_SLI: &str = "sluice_slo_sli";
/// Fraction of the error budget left; negative once overspent.
pub const SLO_BUDGET_REMAINING: &str = "sluice_slo_error_budget_remaining";
/// Burn rate per window.
pub const SLO_BURN_RATE: &str = "sluice_slo_burn_rate";
/// 1 while a multi-window alert fires, else 0.
pub const SLO_ALERT_FIRING: &str = "sluice_slo_alert_firing";

/// Sets the gauges of one SLO status.
pub fn record(tenant: &Tenant, status: &SloStatus) {
    let base = [
        ("tenant", tenant.to_string()),
        ("slo", status.name.clone()),
        ("service", status.service.clone()),
    ];
    ::metrics::gauge!(SLO_OBJECTIVE, &base).set(status.objective.get());
    if let Some(sli) = status.sli_value {
        ::metrics::gauge!(SLO_SLI, &base).set(sli);
    }
    ::metrics::gauge!(SLO_BUDGET_REMAINING, &base).set(status.error_budget.remaining);
    for window in BurnWindow::ALL {
        let mut labels = base.to_vec();
        labels.push(("window", window.label().to_owned()));
        ::metrics::gauge!(SLO_BURN_RATE, &labels).set(status.burn_rates.get(window));
    }
    for alert in &status.alerts {
        let mut labels = base.to_vec();
        labels.push(("severity", alert.severity.as_str().to_owned()));
        labels.push(("long_window", alert.long_window.label().to_owned()));
        labels.push(("short_window", alert.short_window.label().to_owned()));
        ::metrics::gauge!(SLO_ALERT_FIRING, &labels).set(if alert.firing { 1.0 } else { 0.0 });
    }
}
