//! SLOs from `[[slo]]` config over real spans: the figures of `/api/v1/slos`
//! against the formulas, and the deploy gate (API and `sluice gate`).

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::trace::v1::Span;
use serde_json::Value;
use sluice_e2e::{Sluice, fixtures, metric_value};

const CONFIG: &str = r#"
[[slo]]
name = "checkout-availability"
service = "checkout"
operation = "POST /pay"
sli = "availability"
objective = 0.999
window = "30d"
runbook_url = "https://runbooks.example/checkout"

[[slo]]
name = "checkout-latency"
service = "checkout"
sli = "latency"
threshold = "300ms"
objective = 0.9
window = "30d"

[[slo]]
name = "api-availability"
service = "api"
sli = "availability"
objective = 0.99
window = "30d"
"#;

/// Spans of one service and operation, all ending `ago` before now.
struct Traffic<'a> {
    service: &'a str,
    operation: &'a str,
    ago: Duration,
    /// Spans, with ids from `first_id`.
    n: u64,
    first_id: u64,
    /// The first `errors` spans have an ERROR status.
    errors: u64,
    millis: u64,
    kind: i32,
}

impl Traffic<'_> {
    fn request(&self) -> ExportTraceServiceRequest {
        let end = (SystemTime::now() - self.ago)
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        let spans = (0..self.n)
            .map(|i| Span {
                trace_id: fixtures::trace_id(self.first_id + i),
                span_id: fixtures::span_id(self.first_id + i),
                name: self.operation.into(),
                kind: self.kind,
                start_time_unix_nano: end - self.millis * 1_000_000,
                end_time_unix_nano: end,
                status: fixtures::ok_or_error(i < self.errors),
                ..Default::default()
            })
            .collect();
        fixtures::one_resource(self.service, spans)
    }
}

/// `n` spans of `service`/`operation` ending a minute ago, lasting `millis`,
/// all failed when `error`.
fn spans(
    service: &str,
    operation: &str,
    n: u64,
    millis: u64,
    error: bool,
    first_id: u64,
    kind: i32,
) -> ExportTraceServiceRequest {
    Traffic {
        service,
        operation,
        ago: Duration::from_secs(60),
        n,
        first_id,
        errors: if error { n } else { 0 },
        millis,
        kind,
    }
    .request()
}

async fn get(sluice: &Sluice, path: &str) -> (u16, Value) {
    let response = reqwest::get(sluice.api_url(path)).await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

fn close(a: &Value, b: f64) -> bool {
    (a.as_f64().unwrap() - b).abs() < 1e-9
}

#[tokio::test(flavor = "multi_thread")]
async fn slo_figures_follow_the_formulas_and_the_gate_freezes() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("sluice.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let config_arg = config.to_str().unwrap();
    let mut sluice = Sluice::start_with(&[("SLUICE_CONFIG", config_arg)]).unwrap();
    let mut client = TraceServiceClient::connect(sluice.grpc_url())
        .await
        .unwrap();
    const SERVER: i32 = 2;
    const CLIENT: i32 = 3;
    // checkout POST /pay: 900 fast ok, 60 slow ok, 40 fast errors; and client
    // spans, which are no requests of the service.
    client
        .export(spans("checkout", "POST /pay", 900, 100, false, 0, SERVER))
        .await
        .unwrap();
    client
        .export(spans("checkout", "POST /pay", 60, 500, false, 1000, SERVER))
        .await
        .unwrap();
    client
        .export(spans("checkout", "POST /pay", 40, 100, true, 2000, SERVER))
        .await
        .unwrap();
    client
        .export(spans("checkout", "POST /pay", 500, 100, true, 3000, CLIENT))
        .await
        .unwrap();
    // api: healthy.
    client
        .export(spans("api", "GET /", 200, 10, false, 4000, SERVER))
        .await
        .unwrap();

    let deadline = Instant::now() + Duration::from_secs(20);
    let availability = loop {
        let (status, body) = get(&sluice, "/api/v1/slos/checkout-availability").await;
        assert_eq!(status, 200, "{body}");
        if body["valid_events"] == 1000 {
            break body;
        }
        assert!(Instant::now() < deadline, "rollups never arrived: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(availability["good_events"], 960);
    assert!(close(&availability["sli_value"], 0.96));
    let budget = &availability["error_budget"];
    assert!(close(&budget["total"], 0.001));
    // 40 bad of 1000 against a budget of 0.1% of 1000 = 1 event: 40 budgets.
    assert!(close(&budget["consumed"], 40.0), "{budget}");
    assert!(close(&budget["remaining"], -39.0), "{budget}");
    assert_eq!(budget["remaining_events"], -39);
    assert!(
        close(
            &budget["remaining_minutes"],
            -39.0 * 0.001 * 30.0 * 24.0 * 60.0
        ),
        "{budget}"
    );
    // Every burn window holds all of it: error ratio 4% over a 0.1% budget.
    for window in ["5m", "30m", "1h", "2h", "6h", "1d", "3d"] {
        assert!(
            close(&availability["burn_rates"][window], 40.0),
            "{window}: {availability}"
        );
    }
    let alerts = availability["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 4);
    assert!(
        alerts.iter().all(|a| a["firing"] == true),
        "40x burns past every threshold: {alerts:?}"
    );
    assert_eq!(
        availability["runbook_url"],
        "https://runbooks.example/checkout"
    );

    // Latency: good = not slower than 300 ms, whatever the status.
    let (_, latency) = get(&sluice, "/api/v1/slos/checkout-latency").await;
    assert_eq!(latency["valid_events"], 1000);
    assert_eq!(latency["good_events"], 940);

    // Golden signals of the operation: one minute with all 1000 requests.
    let (status, sli) = get(
        &sluice,
        "/api/v1/sli?service=checkout&operation=POST%20/pay&step=5m",
    )
    .await;
    assert_eq!(status, 200, "{sli}");
    let points = sli["points"].as_array().unwrap();
    assert_eq!(points.len(), 1, "{sli}");
    assert_eq!(points[0]["requests"], 1000);
    assert_eq!(points[0]["errors"], 40);
    assert!(close(&points[0]["error_ratio"], 0.04));
    assert!(close(&points[0]["throughput"], 1000.0 / 300.0));
    let within = |v: &Value, ms: f64| (v.as_f64().unwrap() - ms).abs() <= ms * 0.01;
    assert!(
        within(&points[0]["latency_ms"]["success"]["p50"], 100.0),
        "{sli}"
    );
    assert!(
        within(&points[0]["latency_ms"]["success"]["p99"], 500.0),
        "{sli}"
    );
    assert!(
        within(&points[0]["latency_ms"]["failure"]["p99"], 100.0),
        "{sli}"
    );
    assert!(
        within(&points[0]["latency_ms"]["all"]["p90"], 100.0),
        "{sli}"
    );
    assert_eq!(
        get(&sluice, "/api/v1/sli?service=checkout&step=30s")
            .await
            .0,
        400
    );
    assert_eq!(
        get(&sluice, "/api/v1/sli?service=checkout&from=yesterday")
            .await
            .0,
        400
    );

    let (_, all) = get(&sluice, "/api/v1/slos").await;
    let names: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "checkout-availability",
            "checkout-latency",
            "api-availability"
        ]
    );
    assert_eq!(get(&sluice, "/api/v1/slos/nope").await.0, 404);

    // The same figures as Prometheus gauges.
    let metrics = sluice.metrics().await.unwrap();
    let gauge = |name: &str, labels: &[&str]| metric_value(&metrics, name, labels);
    let slo = "slo=\"checkout-availability\"";
    assert_eq!(
        gauge("sluice_slo_burn_rate", &[slo, "window=\"1h\""]),
        Some(40.0),
        "{metrics}"
    );
    assert_eq!(
        gauge("sluice_slo_error_budget_remaining", &[slo]),
        Some(-39.0),
        "{metrics}"
    );
    assert_eq!(
        gauge("sluice_slo_objective", &[slo]),
        Some(0.999),
        "{metrics}"
    );
    assert_eq!(
        gauge(
            "sluice_slo_alert_firing",
            &[slo, "severity=\"page\"", "long_window=\"1h\""]
        ),
        Some(1.0),
        "{metrics}"
    );

    let (_, gate) = get(&sluice, "/api/v1/gate?service=checkout").await;
    assert_eq!(gate["freeze"], true, "{gate}");
    assert!(!gate["reasons"].as_array().unwrap().is_empty());
    let (_, gate) = get(&sluice, "/api/v1/gate?service=api").await;
    assert_eq!(gate["freeze"], false, "{gate}");

    // The CLI a CI/CD pipeline calls.
    let api = format!("http://{}", sluice.api);
    let frozen = std::process::Command::new(sluice_e2e::sluice_bin())
        .args(["gate", "--service", "checkout", "--api", &api])
        .env_remove("SLUICE_CONFIG")
        .output()
        .unwrap();
    assert_eq!(
        frozen.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&frozen.stdout)
    );
    let open = std::process::Command::new(sluice_e2e::sluice_bin())
        .args(["gate", "--service", "api", "--api", &api])
        .output()
        .unwrap();
    assert_eq!(
        open.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&open.stderr)
    );

    sluice.stop_cleanly().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_reloads_the_slo_definitions_and_a_bad_file_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("sluice.toml");
    let one = "[[slo]]\nname = \"a\"\nservice = \"s\"\nsli = \"availability\"\nobjective = 0.99\nwindow = \"30d\"\n";
    std::fs::write(&config, one).unwrap();
    let mut sluice = Sluice::start_with(&[("SLUICE_CONFIG", config.to_str().unwrap())]).unwrap();
    let names = |body: Value| -> Vec<String> {
        body.as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names(get(&sluice, "/api/v1/slos").await.1), ["a"]);

    let two = format!(
        "{one}[[slo]]\nname = \"b\"\nservice = \"s\"\nsli = \"latency\"\nthreshold = \"1s\"\nobjective = 0.9\nwindow = \"7d\"\n"
    );
    std::fs::write(&config, two).unwrap();
    sluice.signal("HUP").unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while names(get(&sluice, "/api/v1/slos").await.1) != ["a", "b"] {
        assert!(Instant::now() < deadline, "SIGHUP did not reload");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    std::fs::write(&config, "[[slo]]\nname = \"c\"\nsli = \"availability\"\n").unwrap();
    sluice.signal("HUP").unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !sluice.logs().contains("config reload failed") {
        assert!(Instant::now() < deadline, "the bad file is not reported");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        names(get(&sluice, "/api/v1/slos").await.1),
        ["a", "b"],
        "the running definitions stay"
    );
    sluice.stop_cleanly().unwrap();
}

/// `n` server spans of `service` ending `ago` before now, `errors` of them failed.
fn spans_ago(
    service: &str,
    ago: Duration,
    n: u64,
    errors: u64,
    first_id: u64,
) -> ExportTraceServiceRequest {
    Traffic {
        service,
        operation: "op",
        ago,
        n,
        first_id,
        errors,
        millis: 1,
        kind: 2,
    }
    .request()
}

#[tokio::test(flavor = "multi_thread")]
async fn burn_rates_count_each_window_over_several_days() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("sluice.toml");
    std::fs::write(
        &config,
        "[[slo]]\nname = \"days\"\nservice = \"days\"\nsli = \"availability\"\nobjective = 0.99\nwindow = \"30d\"\n",
    )
    .unwrap();
    let mut sluice = Sluice::start_with(&[("SLUICE_CONFIG", config.to_str().unwrap())]).unwrap();
    let mut client = TraceServiceClient::connect(sluice.grpc_url())
        .await
        .unwrap();
    let minutes = |m: u64| Duration::from_secs(m * 60);
    // (how long ago, requests, errors): each lands in a different set of windows.
    let traffic = [
        (minutes(60 * 60), 10_000, 100), // 2.5 days: 3d only
        (minutes(20 * 60), 5_000, 0),    // 20 h: 1d, 3d
        (minutes(3 * 60), 2_000, 20),    // 3 h: 6h and up
        (minutes(40), 1_000, 50),        // 40 min: 1h and up
        (minutes(2), 500, 25),           // 2 min: every window
    ];
    let mut id = 0;
    for (ago, n, errors) in traffic {
        client
            .export(spans_ago("days", ago, n, errors, id))
            .await
            .unwrap();
        id += n;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        let (code, body) = get(&sluice, "/api/v1/slos/days").await;
        assert_eq!(code, 200, "{body}");
        if body["valid_events"] == 18_500 {
            break body;
        }
        assert!(Instant::now() < deadline, "not all traffic counted: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(status["good_events"], 18_500 - 195);
    let expected = [
        ("5m", 25.0 / 500.0),
        ("30m", 25.0 / 500.0),
        ("1h", 75.0 / 1_500.0),
        ("2h", 75.0 / 1_500.0),
        ("6h", 95.0 / 3_500.0),
        ("1d", 95.0 / 8_500.0),
        ("3d", 195.0 / 18_500.0),
    ];
    for (window, error_ratio) in expected {
        let burn = error_ratio / 0.01;
        assert!(
            close(&status["burn_rates"][window], burn),
            "{window}: expected {burn}, got {}",
            status["burn_rates"][window]
        );
    }
    let firing: Vec<(String, String)> = status["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["firing"] == true)
        .map(|a| {
            (
                a["severity"].as_str().unwrap().to_owned(),
                a["long_window"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    // Only the slow ticket burns: 1.05x over 3d and 2.7x over 6h, both above 1.
    assert_eq!(firing, [("ticket".to_owned(), "3d".to_owned())]);
    let (_, gate) = get(&sluice, "/api/v1/gate?service=days").await;
    assert_eq!(
        gate["freeze"], true,
        "the budget is spent (195 bad of 185 allowed): {gate}"
    );
    sluice.stop_cleanly().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn ratio_slis_count_the_increments_of_counters() {
    use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
    use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
    use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
    use opentelemetry_proto::tonic::metrics::v1::{
        Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, metric::Data,
        number_data_point,
    };

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("sluice.toml");
    std::fs::write(
        &config,
        r#"
[[slo]]
name = "api-ratio"
service = "api"
sli = "ratio"
good = { metric = "http.server.requests", attributes = { outcome = "success" } }
total = { metric = "http.server.requests" }
objective = 0.995
window = "30d"
"#,
    )
    .unwrap();
    let mut sluice = Sluice::start_with(&[("SLUICE_CONFIG", config.to_str().unwrap())]).unwrap();
    // Two cumulative counter series, one point a minute for five minutes,
    // started (StartTimeUnix) just before the first point.
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let first = now - 6 * 60_000_000_000;
    let series = |outcome: &str, values: [f64; 5]| {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| NumberDataPoint {
                attributes: vec![fixtures::kv("outcome", Any::StringValue(outcome.into()))],
                start_time_unix_nano: first - 1_000_000_000,
                time_unix_nano: first + i as u64 * 60_000_000_000,
                value: Some(number_data_point::Value::AsDouble(*v)),
                ..Default::default()
            })
            .collect::<Vec<_>>()
    };
    let mut points = series("success", [100.0, 200.0, 300.0, 400.0, 500.0]);
    points.extend(series("failure", [0.0, 1.0, 2.0, 3.0, 5.0]));
    let request = ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: fixtures::resource("api"),
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "http.server.requests".into(),
                    data: Some(Data::Sum(Sum {
                        data_points: points,
                        aggregation_temporality: 2,
                        is_monotonic: true,
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    MetricsServiceClient::connect(sluice.grpc_url())
        .await
        .unwrap()
        .export(request)
        .await
        .unwrap();

    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        let (code, body) = get(&sluice, "/api/v1/slos/api-ratio").await;
        assert_eq!(code, 200, "{body}");
        if body["valid_events"] != 0 {
            break body;
        }
        assert!(
            Instant::now() < deadline,
            "no counter points counted: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // The series started inside the window: their whole counts are events.
    assert_eq!(status["valid_events"], 505, "{status}");
    assert_eq!(status["good_events"], 500, "{status}");
    assert!(close(&status["sli_value"], 500.0 / 505.0));
    assert_eq!(status["sli"], "ratio");
    sluice.stop_cleanly().unwrap();
}
