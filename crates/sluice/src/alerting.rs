//! Alerting wiring: anomalies from the detector thread and SLO burn-rate
//! alerts, evaluated every `alerting.slo_evaluation_interval`, go to the
//! notifier (`sluice-alert`), which groups, deduplicates, rate-limits and
//! retries them towards Alertmanager and webhooks.
//!
//! Only SLO alerts page (`ErrorBudgetBurn` with the severity of its rule,
//! `ErrorBudgetExhausted` as a ticket); anomalies (`SluiceAnomaly`) are
//! tickets or dashboard-only by `alerting.anomaly_severity`. Nothing here
//! blocks: the notifier's queue refuses (and counts) what it cannot take.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use sluice_alert::{Alert, Notifier, Severity};
use sluice_anomaly::AnomalyRecord;
use sluice_model::Tenant;
use sluice_pipeline::watch::AnomalySink;
use sluice_query::SloEngine;
use sluice_slo::SloStatus;

/// Anomalies to the notifier.
#[derive(Debug)]
pub struct AnomalyAlerts {
    pub notifier: Notifier,
}

impl AnomalySink for AnomalyAlerts {
    fn anomaly(&self, tenant: &Tenant, id: &str, record: &AnomalyRecord, change: &'static str) {
        let (series, event) = (&record.series, &record.event);
        let what = match &series.operation {
            Some(operation) => format!("{} {operation}", series.service),
            None => series.service.clone(),
        };
        let summary = format!(
            "{what}: {} {} to {:.4} (expected {:.4})",
            series.signal.as_str(),
            event.direction.as_str(),
            event.observed,
            event.expected
        );
        let mut alert = Alert::firing(
            "SluiceAnomaly",
            &series.service,
            Severity::Ticket,
            summary,
            event.start,
        )
        .with_label("signal", series.signal.as_str())
        .with_description(format!(
            "anomaly {id}, detector {}, score {:.1}",
            event.detector.as_str(),
            event.score
        ))
        .with_api_url(format!(
            "/api/v1/anomalies?service={}",
            query_value(&series.service)
        ));
        if let Some(operation) = &series.operation {
            alert = alert.with_label("operation", operation);
        }
        if *tenant != Tenant::default_tenant() {
            alert = alert.with_label("tenant", tenant.as_str());
        }
        for (key, value) in &series.labels {
            alert = alert.with_label(key, value);
        }
        if change == "resolved" {
            alert = alert.resolved(event.end.unwrap_or(event.start));
        }
        self.notifier.notify_anomaly(alert);
    }
}

/// Percent-encodes a query parameter value.
fn query_value(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Evaluates every tenant's SLOs every `interval` and notifies their alerts:
/// firing ones each time (the notifier deduplicates), and once as resolved
/// when they stop.
pub fn spawn_slo_alerts(slo: SloEngine, notifier: Notifier, interval: Duration) {
    tokio::spawn(async move {
        // The firing alerts, by tenant, SLO and rule.
        let mut firing: HashMap<(String, String, String), Alert> = HashMap::new();
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            if slo.definitions().is_empty() && firing.is_empty() {
                continue;
            }
            let now = now_nanos();
            let mut seen = HashSet::new();
            for tenant in slo.tenants().await {
                let statuses = match slo.statuses(&tenant, now, |_| true).await {
                    Ok(statuses) => statuses,
                    Err(error) => {
                        // Unknown is not resolved: keep what fired.
                        tracing::warn!(tenant = %tenant, %error, "cannot evaluate slo alerts");
                        seen.extend(firing.keys().filter(|k| k.0 == tenant.as_str()).cloned());
                        continue;
                    }
                };
                for status in &statuses {
                    for (name, mut alert) in slo_alerts(&tenant, status, now) {
                        let key = (tenant.as_str().to_owned(), status.name.clone(), name);
                        if let Some(previous) = firing.get(&key) {
                            alert.starts_at = previous.starts_at;
                        }
                        firing.insert(key.clone(), alert.clone());
                        notifier.notify(alert);
                        seen.insert(key);
                    }
                }
            }
            let ended: Vec<_> = firing
                .keys()
                .filter(|k| !seen.contains(k))
                .cloned()
                .collect();
            for key in ended {
                if let Some(alert) = firing.remove(&key) {
                    notifier.notify(alert.resolved(now));
                }
            }
        }
    });
}

/// The alerts `status` fires now, by a name unique within the SLO.
fn slo_alerts(tenant: &Tenant, status: &SloStatus, now: i64) -> Vec<(String, Alert)> {
    let with_common = |mut alert: Alert| {
        alert = alert
            .with_label("slo", &status.name)
            .with_api_url(format!("/api/v1/slos/{}", status.name));
        if let Some(runbook) = &status.runbook_url {
            alert = alert.with_runbook_url(runbook);
        }
        if *tenant != Tenant::default_tenant() {
            alert = alert.with_label("tenant", tenant.as_str());
        }
        alert
    };
    let mut alerts = Vec::new();
    for rule in status.alerts.iter().filter(|a| a.firing) {
        let (long, short) = (rule.long_window.label(), rule.short_window.label());
        let severity = match rule.severity {
            sluice_slo::Severity::Page => Severity::Page,
            sluice_slo::Severity::Ticket => Severity::Ticket,
        };
        let summary = format!(
            "{}: error budget burning {:.1}x over {long} and {:.1}x over {short} (threshold {}x)",
            status.name,
            status.burn_rates.get(rule.long_window),
            status.burn_rates.get(rule.short_window),
            rule.threshold
        );
        let alert = Alert::firing("ErrorBudgetBurn", &status.service, severity, summary, now)
            .with_label("long_window", long)
            .with_label("short_window", short);
        alerts.push((format!("burn-{long}-{short}"), with_common(alert)));
    }
    if status.error_budget.is_exhausted() {
        let summary = format!(
            "{}: error budget spent ({:.0}% consumed)",
            status.name,
            status.error_budget.consumed * 100.0
        );
        let alert = Alert::firing(
            "ErrorBudgetExhausted",
            &status.service,
            Severity::Ticket,
            summary,
            now,
        );
        alerts.push(("exhausted".into(), with_common(alert)));
    }
    alerts
}

fn now_nanos() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

/// The sink the pipeline hands anomalies to, when alerting is on.
pub fn anomaly_sink(notifier: Option<&Notifier>) -> Option<Arc<dyn AnomalySink>> {
    notifier.map(|notifier| {
        Arc::new(AnomalyAlerts {
            notifier: notifier.clone(),
        }) as Arc<dyn AnomalySink>
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(query_value("checkout"), "checkout");
        assert_eq!(query_value("a b/c&d"), "a%20b%2Fc%26d");
    }
}
