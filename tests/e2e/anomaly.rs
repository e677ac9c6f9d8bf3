//! Anomaly detection end to end: traffic replayed with past event times
//! (as a backfill or a WAL replay would bring it) goes through the shards to
//! the detectors, and `/api/v1/anomalies` shows the error burst that was
//! injected, opened during the burst and ended after it, and nothing else.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use serde_json::Value;
use sluice_e2e::{Rng, Sluice, fixtures, seed};

const CONFIG: &str = r#"
[anomaly]
step = "10s"
lateness = "2s"
min_requests = 10

[anomaly.detector]
warmup_points = 20
level_half_life = "2m"
spread_half_life = "5m"
open_points = 2
close_points = 3
cooldown = "1m"

[anomaly.detector.seasonality]
daily = false
weekly = false
"#;

const STEP: u64 = 10_000_000_000;
const SPANS_PER_STEP: u64 = 60;

#[tokio::test(flavor = "multi_thread")]
async fn an_error_burst_in_replayed_traffic_is_found_and_ends() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("sluice.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let sluice = Sluice::start_with(&[("SLUICE_CONFIG", config.to_str().unwrap())]).unwrap();
    let mut client = TraceServiceClient::connect(sluice.grpc_url())
        .await
        .unwrap();
    let mut rng = Rng::new(seed());

    // 40 steady steps (about 1% errors), a 5-step burst of 50% errors, then 15
    // steady steps, starting 20 minutes ago.
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let first = (now - 20 * 60 * 1_000_000_000) / STEP * STEP;
    let burst = 40..45;
    for i in 0..60u64 {
        let errors = if burst.contains(&i) {
            SPANS_PER_STEP / 2
        } else {
            rng.range(0..2)
        };
        client
            .export(fixtures::server_spans(
                "checkout",
                first + i * STEP,
                STEP,
                SPANS_PER_STEP,
                errors,
                &mut rng,
            ))
            .await
            .unwrap();
    }

    let url = sluice.api_url(&format!(
        "/api/v1/anomalies?service=checkout&from={}",
        first / 1_000_000_000
    ));
    let deadline = Instant::now() + Duration::from_secs(30);
    let found = loop {
        let body: Value = reqwest::get(&url).await.unwrap().json().await.unwrap();
        let list = body.as_array().unwrap().clone();
        if list
            .iter()
            .any(|a| a["signal"] == "error_ratio" && !a["end"].is_null())
        {
            break list;
        }
        assert!(
            Instant::now() < deadline,
            "no ended error_ratio anomaly: {body}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let errors: Vec<&Value> = found
        .iter()
        .filter(|a| a["signal"] == "error_ratio")
        .collect();
    assert_eq!(errors.len(), 1, "one burst, one anomaly: {found:?}");
    let anomaly = errors[0];
    assert_eq!(anomaly["service"], "checkout");
    assert_eq!(anomaly["operation"], "POST /pay");
    assert_eq!(anomaly["direction"], "up");
    assert!(anomaly["observed"].as_f64().unwrap() >= 0.4, "{anomaly}");
    assert!(anomaly["expected"].as_f64().unwrap() < 0.05, "{anomaly}");
    let seconds = |field: &str| {
        chrono::DateTime::parse_from_rfc3339(anomaly[field].as_str().unwrap())
            .unwrap()
            .timestamp() as u64
            * 1_000_000_000
    };
    let burst_start = first + burst.start * STEP;
    let burst_end = first + burst.end * STEP;
    assert!(
        (burst_start..burst_start + 3 * STEP).contains(&seconds("start")),
        "opened within 3 steps of the burst: {anomaly}"
    );
    assert!(
        (burst_end..burst_end + 6 * STEP).contains(&seconds("end")),
        "ended after the burst: {anomaly}"
    );
    // Steady traffic and latency raised nothing.
    assert!(
        found.iter().all(|a| a["signal"] == "error_ratio"),
        "only the burst: {found:?}"
    );
    let bad: Value = reqwest::get(sluice.api_url("/api/v1/anomalies?severity=loud"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(bad["error"].as_str().unwrap().contains("severity"), "{bad}");
}
