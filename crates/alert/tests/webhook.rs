//! The webhook sink against a local HTTP receiver: the payload a receiver
//! gets, retries of a 503, no retry of a 400, anomalies kept off the sinks,
//! and a full queue that drops instead of blocking.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use serde_json::Value;
use sluice_alert::payload::WebhookMessage;
use sluice_alert::{Alert, AlertingConfig, AnomalySeverity, Notifier, Severity};
use sluice_model::units::Duration as ConfigDuration;

/// A webhook receiver that records every body and answers with the queued
/// statuses, then 200.
#[derive(Clone, Default)]
struct Receiver {
    bodies: Arc<Mutex<Vec<Value>>>,
    statuses: Arc<Mutex<VecDeque<u16>>>,
}

impl Receiver {
    async fn start(statuses: &[u16]) -> (Self, String) {
        let receiver = Self::default();
        receiver
            .statuses
            .lock()
            .expect("lock")
            .extend(statuses.iter().copied());
        let app = Router::new()
            .route("/hook", post(record))
            .with_state(receiver.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        (receiver, url)
    }

    fn bodies(&self) -> Vec<Value> {
        self.bodies.lock().expect("lock").clone()
    }

    /// Waits (up to 5 s) until `n` requests have arrived.
    async fn wait_for(&self, n: usize) -> Vec<Value> {
        for _ in 0..500 {
            let bodies = self.bodies();
            if bodies.len() >= n {
                return bodies;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("expected {n} requests, got {:?}", self.bodies());
    }
}

async fn record(State(receiver): State<Receiver>, body: Bytes) -> StatusCode {
    let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
    receiver.bodies.lock().expect("lock").push(json);
    let status = receiver.statuses.lock().expect("lock").pop_front();
    StatusCode::from_u16(status.unwrap_or(200)).unwrap_or(StatusCode::OK)
}

fn config(url: &str) -> AlertingConfig {
    AlertingConfig {
        webhook_urls: vec![url.to_owned()],
        external_url: "http://sluice.test:4319".to_owned(),
        group_wait: ConfigDuration::from_millis(20),
        group_interval: ConfigDuration::from_millis(20),
        retry_initial_backoff: ConfigDuration::from_millis(20),
        retry_max_backoff: ConfigDuration::from_millis(100),
        ..AlertingConfig::default()
    }
}

fn burn_alert() -> Alert {
    Alert::firing(
        "SloBurnRate",
        "checkout",
        Severity::Page,
        "checkout-availability burns its budget 14.4x too fast",
        1_700_000_000_000_000_000,
    )
    .with_label("slo", "checkout-availability")
    .with_runbook_url("http://runbooks.test/slo-burn")
    .with_api_url("/api/v1/slos/checkout-availability")
}

/// Stops the notifier and waits for its final flush.
async fn stop(notifier: Notifier, task: tokio::task::JoinHandle<()>) {
    notifier.shutdown();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("the dispatcher stops")
        .expect("the dispatcher does not panic");
}

#[tokio::test]
async fn a_receiver_gets_alertmanagers_webhook_payload_for_firing_then_resolved() {
    let (receiver, url) = Receiver::start(&[]).await;
    let (notifier, task) = Notifier::start(config(&url)).expect("starts");
    assert!(notifier.notify(burn_alert()));

    let bodies = receiver.wait_for(1).await;
    let message: WebhookMessage =
        serde_json::from_value(bodies[0].clone()).expect("a version 4 webhook payload");
    assert_eq!(message.version, "4");
    assert_eq!(message.status, "firing");
    assert_eq!(message.receiver, "sluice");
    assert_eq!(message.group_key, "{}:{service=\"checkout\"}");
    assert_eq!(message.group_labels["service"], "checkout");
    assert_eq!(message.external_url, "http://sluice.test:4319");
    assert_eq!(message.alerts.len(), 1);
    let alert = &message.alerts[0];
    assert_eq!(alert.status, "firing");
    assert_eq!(alert.labels["alertname"], "SloBurnRate");
    assert_eq!(alert.labels["severity"], "page");
    assert_eq!(alert.labels["slo"], "checkout-availability");
    assert_eq!(
        alert.annotations["api_url"],
        "http://sluice.test:4319/api/v1/slos/checkout-availability"
    );
    assert_eq!(
        alert.annotations["runbook_url"],
        "http://runbooks.test/slo-burn"
    );
    assert_eq!(alert.starts_at, "2023-11-14T22:13:20Z");
    assert_eq!(alert.ends_at, "0001-01-01T00:00:00Z");
    assert_eq!(alert.fingerprint, burn_alert().fingerprint().to_string());

    // The same alert again changes nothing a webhook hears of.
    assert!(notifier.notify(burn_alert()));
    let ends_at = 1_700_000_600_000_000_000;
    assert!(notifier.notify(burn_alert().resolved(ends_at)));
    let bodies = receiver.wait_for(2).await;
    assert_eq!(bodies[1]["status"], "resolved");
    assert_eq!(bodies[1]["alerts"][0]["status"], "resolved");
    assert_eq!(bodies[1]["alerts"][0]["endsAt"], "2023-11-14T22:23:20Z");

    stop(notifier, task).await;
    assert_eq!(receiver.bodies().len(), 2, "one request per change");
}

#[tokio::test]
async fn a_503_is_retried_until_the_receiver_takes_it() {
    let (receiver, url) = Receiver::start(&[503, 503]).await;
    let (notifier, task) = Notifier::start(config(&url)).expect("starts");
    notifier.notify(burn_alert());
    let bodies = receiver.wait_for(3).await;
    assert_eq!(bodies[0], bodies[2], "the retry carries the same group");
    stop(notifier, task).await;
    assert_eq!(
        receiver.bodies().len(),
        3,
        "nothing left to flush once delivered"
    );
}

#[tokio::test]
async fn a_400_is_not_retried() {
    let (receiver, url) = Receiver::start(&[400]).await;
    let (notifier, task) = Notifier::start(config(&url)).expect("starts");
    notifier.notify(burn_alert());
    receiver.wait_for(1).await;
    stop(notifier, task).await;
    assert_eq!(receiver.bodies().len(), 1);
}

#[tokio::test]
async fn anomalies_are_tickets_or_stay_on_dashboards_per_config() {
    let anomaly = || {
        Alert::firing(
            "LatencyAnomaly",
            "search",
            Severity::Page,
            "p99 latency of search is 5 sigma above its baseline",
            1_700_000_000_000_000_000,
        )
    };

    let (receiver, url) = Receiver::start(&[]).await;
    let (notifier, task) = Notifier::start(config(&url)).expect("starts");
    assert!(notifier.notify_anomaly(anomaly()));
    let bodies = receiver.wait_for(1).await;
    assert_eq!(bodies[0]["alerts"][0]["labels"]["severity"], "ticket");
    stop(notifier, task).await;

    let (receiver, url) = Receiver::start(&[]).await;
    let config = AlertingConfig {
        anomaly_severity: AnomalySeverity::Dashboard,
        ..config(&url)
    };
    let (notifier, task) = Notifier::start(config).expect("starts");
    assert!(!notifier.notify_anomaly(anomaly()));
    stop(notifier, task).await;
    assert!(
        receiver.bodies().is_empty(),
        "dashboard-only anomalies are not sent"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_full_queue_drops_instead_of_blocking() {
    let (receiver, url) = Receiver::start(&[]).await;
    let config = AlertingConfig {
        queue_capacity: 2,
        ..config(&url)
    };
    let (notifier, task) = Notifier::start(config).expect("starts");
    // On this single-threaded runtime the dispatcher cannot run before the
    // next await, so the queue fills.
    let accepted: Vec<bool> = (0..4)
        .map(|i| notifier.notify(burn_alert().with_label("n", i.to_string())))
        .collect();
    assert_eq!(accepted, [true, true, false, false]);
    let bodies = receiver.wait_for(1).await;
    assert_eq!(bodies[0]["alerts"].as_array().map(Vec::len), Some(2));
    stop(notifier, task).await;
}
