//! End to end against a real Prometheus Alertmanager (Debian package
//! `prometheus-alertmanager`): a firing alert sent through a [`Notifier`]
//! shows up in Alertmanager's own API with its labels, annotations and
//! fingerprint, then resolves.
//!
//! Skipped with a notice when `/usr/bin/prometheus-alertmanager` is missing,
//! unless `E2E_REQUIRE_ALERTMANAGER` is set, in which case it fails.

use std::time::Duration;

use serde_json::Value;
use sluice_alert::{Alert, AlertingConfig, Notifier, Severity};
use sluice_e2e::alertmanager::Alertmanager;
use sluice_model::units::Duration as ConfigDuration;

fn now_nanos() -> i64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970");
    i64::try_from(since_epoch.as_nanos()).expect("before 2262")
}

fn rfc3339_nanos(value: &Value) -> i64 {
    let text = value.as_str().expect("a time string");
    chrono::DateTime::parse_from_rfc3339(text)
        .expect("RFC 3339")
        .timestamp_nanos_opt()
        .expect("in range")
}

/// Polls Alertmanager (up to 5 s) until `found` accepts its alert list.
async fn wait_until(am: &Alertmanager, what: &str, found: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let mut alerts = Vec::new();
    for _ in 0..100 {
        alerts = am.alerts().await.expect("GET /api/v2/alerts");
        if found(&alerts) {
            return alerts;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what}: alertmanager has {alerts:#?}\n{}", am.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_firing_alert_reaches_alertmanager_then_resolves() {
    let Some(am) = Alertmanager::start().await.expect("alertmanager starts") else {
        return;
    };

    let config = AlertingConfig {
        alertmanager_urls: vec![am.url.clone()],
        external_url: "http://127.0.0.1:4319".to_owned(),
        group_wait: ConfigDuration::from_millis(100),
        group_interval: ConfigDuration::from_millis(100),
        repeat_interval: ConfigDuration::from_secs(1),
        ..AlertingConfig::default()
    };
    let (notifier, task) = Notifier::start(config).expect("starts");
    let starts_at = now_nanos();
    let alert = Alert::firing(
        "SloBurnRate",
        "checkout",
        Severity::Page,
        "checkout-availability burns its error budget 14.4x too fast",
        starts_at,
    )
    .with_label("slo", "checkout-availability")
    .with_description("1h and 5m burn rates above 14.4")
    .with_runbook_url("http://runbooks.test/slo-burn")
    .with_api_url("/api/v1/slos/checkout-availability");
    assert!(notifier.notify(alert.clone()));

    let fingerprint = alert.fingerprint().to_string();
    let alerts = wait_until(&am, "the firing alert", |alerts| {
        alerts
            .iter()
            .any(|a| a["fingerprint"] == fingerprint && a["status"]["state"] == "active")
    })
    .await;
    let found = alerts
        .iter()
        .find(|a| a["fingerprint"] == fingerprint)
        .expect("found");
    assert_eq!(
        found["labels"],
        serde_json::json!({
            "alertname": "SloBurnRate",
            "service": "checkout",
            "severity": "page",
            "slo": "checkout-availability",
        })
    );
    assert_eq!(
        found["annotations"],
        serde_json::json!({
            "summary": "checkout-availability burns its error budget 14.4x too fast",
            "description": "1h and 5m burn rates above 14.4",
            "runbook_url": "http://runbooks.test/slo-burn",
            "api_url": "http://127.0.0.1:4319/api/v1/slos/checkout-availability",
        })
    );
    assert_eq!(
        found["generatorURL"],
        "http://127.0.0.1:4319/api/v1/slos/checkout-availability"
    );
    assert_eq!(found["receivers"][0]["name"], "sluice-test");
    // Alertmanager keeps the start it was given, to the millisecond.
    let starts = rfc3339_nanos(&found["startsAt"]);
    assert!(
        (starts - starts_at).abs() < 1_000_000,
        "{starts} vs {starts_at}"
    );
    // endsAt = send time + 4 x repeat_interval: it resolves by itself if
    // Sluice stops refreshing it.
    let ends = rfc3339_nanos(&found["endsAt"]);
    let ahead = ends - now_nanos();
    assert!(
        (2_000_000_000..=4_000_000_000).contains(&ahead),
        "endsAt {ahead} ns ahead"
    );

    // Still firing: re-sent every repeat_interval, which moves endsAt on.
    wait_until(&am, "the repeat", |alerts| {
        alerts
            .iter()
            .any(|a| a["fingerprint"] == fingerprint && rfc3339_nanos(&a["endsAt"]) > ends)
    })
    .await;

    assert!(notifier.notify(alert.clone().resolved(now_nanos())));
    wait_until(&am, "the resolution", |alerts| {
        !alerts.iter().any(|a| a["fingerprint"] == fingerprint)
    })
    .await;

    notifier.shutdown();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("the dispatcher stops")
        .expect("the dispatcher does not panic");
}
