//! Alerts reach a real Alertmanager: an SLO burning its budget pages (and
//! resolves when the SLO is reloaded away), and an error burst found by the
//! anomaly detectors opens a ticket that resolves once traffic is healthy.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use serde_json::Value;
use sluice_e2e::alertmanager::Alertmanager;
use sluice_e2e::{Rng, Sluice, fixtures, seed};

const SECOND: u64 = 1_000_000_000;

fn config(alertmanager: &str, with_slo: bool) -> String {
    let slo = if with_slo {
        r#"
[[slo]]
name = "payments-availability"
service = "payments"
sli = "availability"
objective = 0.99
window = "30d"
runbook_url = "https://runbooks.example/payments"
"#
    } else {
        ""
    };
    format!(
        r#"
[alerting]
alertmanager_urls = ["{alertmanager}"]
group_wait = "100ms"
group_interval = "200ms"
repeat_interval = "1s"
slo_evaluation_interval = "300ms"

[anomaly]
step = "1s"
lateness = "2s"
min_requests = 10

[anomaly.detector]
warmup_points = 20
level_half_life = "20s"
spread_half_life = "40s"
open_points = 2
close_points = 3
cooldown = "30s"

[anomaly.detector.seasonality]
daily = false
weekly = false
{slo}"#
    )
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// Polls Alertmanager until `pick` finds an alert, or fails after `within`.
async fn find(
    am: &Alertmanager,
    within: Duration,
    what: &str,
    pick: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let alerts = am.alerts().await.unwrap();
        if let Some(alert) = alerts.iter().find(|a| pick(a)) {
            return alert.clone();
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not in {alerts:#?}\n{}",
            am.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Polls Alertmanager until no alert matches `pick`.
async fn gone(am: &Alertmanager, within: Duration, what: &str, pick: impl Fn(&Value) -> bool) {
    let deadline = Instant::now() + within;
    loop {
        let alerts = am.alerts().await.unwrap();
        if !alerts.iter().any(&pick) {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: still in {alerts:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn label<'a>(alert: &'a Value, name: &str) -> &'a str {
    alert["labels"][name].as_str().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn slo_pages_and_anomaly_tickets_reach_alertmanager_and_resolve() {
    let Some(am) = Alertmanager::start().await.unwrap() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("sluice.toml");
    std::fs::write(&config_path, config(&am.url, true)).unwrap();
    let sluice = Sluice::start_with(&[("SLUICE_CONFIG", config_path.to_str().unwrap())]).unwrap();
    let mut client = TraceServiceClient::connect(sluice.grpc_url())
        .await
        .unwrap();
    let mut rng = Rng::new(seed());

    // payments: 90% errors right now, far past every burn-rate threshold.
    client
        .export(fixtures::server_spans(
            "payments",
            now() - 30 * SECOND,
            30 * SECOND,
            2000,
            1800,
            &mut rng,
        ))
        .await
        .unwrap();
    // checkout: 40 s of healthy traffic replayed, then a 5 s burst of 50%
    // errors ending now, then live healthy traffic.
    let first = now() / SECOND * SECOND - 45 * SECOND;
    for step in 0..45 {
        let errors = if step >= 40 { 30 } else { rng.range(0..2) };
        client
            .export(fixtures::server_spans(
                "checkout",
                first + step * SECOND,
                SECOND,
                60,
                errors,
                &mut rng,
            ))
            .await
            .unwrap();
    }
    let live = {
        let mut client = client.clone();
        let mut rng = Rng::new(seed() + 1);
        tokio::spawn(async move {
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(30) {
                let _ = client
                    .export(fixtures::server_spans(
                        "checkout",
                        now() - SECOND / 4,
                        SECOND / 4,
                        15,
                        0,
                        &mut rng,
                    ))
                    .await;
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })
    };

    // The page, with what an on-call engineer needs.
    let page = find(&am, Duration::from_secs(20), "the SLO page", |a| {
        label(a, "alertname") == "ErrorBudgetBurn"
            && label(a, "severity") == "page"
            && label(a, "long_window") == "1h"
    })
    .await;
    assert_eq!(label(&page, "service"), "payments");
    assert_eq!(label(&page, "slo"), "payments-availability");
    assert_eq!(label(&page, "short_window"), "5m");
    assert_eq!(
        page["annotations"]["runbook_url"],
        "https://runbooks.example/payments"
    );
    assert!(
        page["annotations"]["api_url"]
            .as_str()
            .unwrap()
            .ends_with("/api/v1/slos/payments-availability"),
        "{page}"
    );
    assert_eq!(page["status"]["state"], "active");

    // The anomaly ticket, then its resolution once checkout is healthy again.
    let is_burst = |a: &Value| {
        label(a, "alertname") == "SluiceAnomaly"
            && label(a, "service") == "checkout"
            && label(a, "signal") == "error_ratio"
    };
    let ticket = find(&am, Duration::from_secs(20), "the anomaly ticket", is_burst).await;
    assert_eq!(
        label(&ticket, "severity"),
        "ticket",
        "anomalies never page: {ticket}"
    );
    assert_eq!(label(&ticket, "operation"), "POST /pay");
    assert!(
        ticket["annotations"]["summary"]
            .as_str()
            .unwrap()
            .contains("error_ratio up"),
        "{ticket}"
    );
    gone(
        &am,
        Duration::from_secs(20),
        "the resolved anomaly",
        is_burst,
    )
    .await;

    // Without the SLO (reloaded on SIGHUP) its alerts resolve.
    std::fs::write(&config_path, config(&am.url, false)).unwrap();
    sluice.signal("HUP").unwrap();
    gone(
        &am,
        Duration::from_secs(20),
        "the resolved SLO alerts",
        |a| label(a, "slo") == "payments-availability",
    )
    .await;
    live.abort();
}
