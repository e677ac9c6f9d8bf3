#![allow(clippy::unwrap_used)]

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValueKind;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point;
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use serde_json::Value as Json;

use super::*;

/// 2025-01-01T00:00:00Z.
const NOW: u64 = 1_735_689_600_000_000_000;

fn generator(signal: Signal, attributes: usize) -> Generator {
    skewed_generator(signal, attributes, 0.0)
}

fn skewed_generator(signal: Signal, attributes: usize, attribute_skew: f64) -> Generator {
    worker_generator(signal, attributes, attribute_skew, 3)
}

fn worker_generator(
    signal: Signal,
    attributes: usize,
    attribute_skew: f64,
    worker: usize,
) -> Generator {
    let config = GeneratorConfig {
        signal,
        services: vec!["checkout".into(), "cart".into(), "search".into()],
        operations: 4,
        attributes,
        attribute_bytes: 12,
        attribute_skew,
        worker,
        run_id: 0xABCD,
        seed: 7,
    };
    Generator::new(config, NOW - 60_000_000_000)
}

/// A traces request as prost messages.
fn traces(request: &Request) -> ExportTraceServiceRequest {
    let Ok(ExportRequest::Traces(traces)) = request.to_message() else {
        panic!("a traces body prost decodes expected");
    };
    traces
}

/// Its spans, in order.
fn spans(request: &ExportTraceServiceRequest) -> Vec<&Span> {
    request
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .collect()
}

fn settings(error_ratio: f64) -> Vec<ServiceSettings> {
    vec![
        ServiceSettings {
            error_ratio,
            latency: LatencyDistribution::default(),
            rate_multiplier: 1.0,
        };
        3
    ]
}

#[test]
fn every_signal_holds_exactly_the_requested_records() {
    for signal in [Signal::Traces, Signal::Metrics, Signal::Logs] {
        let mut g = generator(signal, 3);
        for records in [1, 2, 7, 100, 512, 1000] {
            let request = g.generate(records, &settings(0.1), NOW);
            assert_eq!(request.records, records, "{signal:?}");
            assert_eq!(
                request.to_message().unwrap().records(),
                records,
                "{signal:?}"
            );
        }
    }
}

#[test]
fn traces_have_a_server_root_and_children_ending_no_later_than_now() {
    let mut g = generator(Signal::Traces, 2);
    let request = traces(&g.generate(600, &settings(0.2), NOW));
    let spans = spans(&request);
    let roots: Vec<_> = spans
        .iter()
        .filter(|s| s.parent_span_id.is_empty())
        .collect();
    assert!(
        roots.len() > 100 && roots.len() < 400,
        "{} roots",
        roots.len()
    );
    assert!(
        roots
            .iter()
            .all(|s| s.kind == 2 && s.end_time_unix_nano == NOW)
    );
    for span in &spans {
        assert_eq!((span.trace_id.len(), span.span_id.len()), (16, 8));
        assert!(span.start_time_unix_nano <= span.end_time_unix_nano);
        assert!(span.end_time_unix_nano <= NOW);
        // 3 or 4 semantic attributes, then the 2 synthetic ones.
        let synthetic = span
            .attributes
            .iter()
            .filter(|a| a.key.starts_with("attr."))
            .count();
        assert_eq!(synthetic, 2);
    }
    let errors = roots
        .iter()
        .filter(|s| s.status.as_ref().map(|s| s.code) == Some(StatusCode::Error as i32))
        .count();
    let ratio = errors as f64 / roots.len() as f64;
    assert!((0.1..0.3).contains(&ratio), "error ratio {ratio}");
    let resource = request.resource_spans[0].resource.as_ref().unwrap();
    let keys: Vec<_> = resource.attributes.iter().map(|a| a.key.as_str()).collect();
    for key in ["service.name", "service.instance.id", "host.name"] {
        assert!(keys.contains(&key), "{keys:?}");
    }
}

/// A failed span carries the one `exception` event an SDK records, at its
/// end; a span that did not fail carries none.
#[test]
fn failed_spans_record_their_exception() {
    let mut g = generator(Signal::Traces, 2);
    let request = traces(&g.generate(600, &settings(0.3), NOW));
    let mut failed = 0;
    for span in spans(&request) {
        let error = span.status.as_ref().map(|s| s.code) == Some(StatusCode::Error as i32);
        if !error {
            assert!(span.events.is_empty(), "{span:?}");
            continue;
        }
        failed += 1;
        let [event] = span.events.as_slice() else {
            panic!("one event expected: {span:?}");
        };
        assert_eq!(event.name, "exception");
        assert_eq!(event.time_unix_nano, span.end_time_unix_nano);
        let text = |key: &str| {
            event
                .attributes
                .iter()
                .find(|a| a.key == key)
                .and_then(|a| a.value.as_ref()?.value.as_ref())
                .map(|v| match v {
                    AnyValueKind::StringValue(s) => s.clone(),
                    other => panic!("{key} is not a string: {other:?}"),
                })
                .unwrap_or_else(|| panic!("no {key} in {event:?}"))
        };
        let message = span.status.as_ref().unwrap().message.clone();
        assert_eq!(text("exception.message"), message);
        let kind = text("exception.type");
        assert!(
            text("exception.stacktrace").starts_with(&format!("{kind}: {message}\n")),
            "{event:?}"
        );
    }
    assert!(failed > 50, "{failed} failed spans");
}

#[test]
fn a_silent_service_gets_no_records() {
    let mut g = generator(Signal::Logs, 0);
    let mut s = settings(0.0);
    s[1].rate_multiplier = 0.0;
    let Ok(ExportRequest::Logs(request)) = g.generate(300, &s, NOW).to_message() else {
        panic!("logs expected");
    };
    let names: Vec<String> = request
        .resource_logs
        .iter()
        .map(|r| format!("{:?}", r.resource.as_ref().unwrap().attributes[0].value))
        .collect();
    assert_eq!(names.len(), 2);
    assert!(names.iter().all(|n| !n.contains("\"cart\"")), "{names:?}");
}

#[test]
fn cumulative_metrics_grow_between_exports() {
    let mut g = generator(Signal::Metrics, 1);
    let total = |request: &Request| -> f64 {
        let Ok(ExportRequest::Metrics(r)) = request.to_message() else {
            panic!("metrics expected");
        };
        r.resource_metrics
            .iter()
            .flat_map(|r| &r.scope_metrics)
            .flat_map(|s| &s.metrics)
            .filter_map(|m| match &m.data {
                Some(Data::Sum(s)) => Some(&s.data_points),
                _ => None,
            })
            .flatten()
            .map(|p| match p.value {
                Some(
                    opentelemetry_proto::tonic::metrics::v1::number_data_point::Value::AsDouble(v),
                ) => v,
                _ => 0.0,
            })
            .sum()
    };
    // One service, so every request exports the same instances.
    let mut one = settings(0.05);
    one[1].rate_multiplier = 0.0;
    one[2].rate_multiplier = 0.0;
    let first = g.generate(64, &one, NOW);
    let second = g.generate(64, &one, NOW + 10_000_000_000);
    assert!(total(&second) > total(&first));
}

/// What the OTLP/JSON receivers (Sluice's, the Collector's) expect: hex ids,
/// integer enums, 64-bit integers as strings, lowerCamelCase keys.
#[test]
fn json_is_otlp_json_and_decodes_back_to_the_same_request() {
    let mut g = generator(Signal::Traces, 1);
    let request = g.generate(20, &settings(0.5), NOW);
    let bytes = request.encode_json().unwrap();
    let json: Json = serde_json::from_slice(&bytes).unwrap();
    let span = &json["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
    let trace_id = span["traceId"].as_str().unwrap();
    assert_eq!(trace_id.len(), 32);
    assert!(
        trace_id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    assert_eq!(span["spanId"].as_str().unwrap().len(), 16);
    assert_eq!(span["kind"], 2);
    assert_eq!(span["endTimeUnixNano"], NOW.to_string());
    let status_code = span["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["key"] == "http.status_code")
        .unwrap();
    assert!(
        status_code["value"]["intValue"].is_string()
            || status_code["value"]["intValue"].is_number()
    );
    let decoded: ExportTraceServiceRequest = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(decoded, traces(&request));

    let mut g = generator(Signal::Metrics, 1);
    let request = g.generate(40, &settings(0.1), NOW);
    let bytes = request.encode_json().unwrap();
    let json: Json = serde_json::from_slice(&bytes).unwrap();
    let metrics = &json["resourceMetrics"][0]["scopeMetrics"][0]["metrics"];
    assert!(metrics[0]["gauge"]["dataPoints"][0]["asDouble"].is_number());
    assert_eq!(metrics[1]["sum"]["aggregationTemporality"], 2);
    assert_eq!(metrics[1]["sum"]["isMonotonic"], true);
    // serde_json may parse a float 1 ulp off, so compare the shape, not the values.
    let decoded: ExportMetricsServiceRequest = serde_json::from_slice(&bytes).unwrap();
    let Ok(ExportRequest::Metrics(original)) = request.to_message() else {
        panic!("metrics expected");
    };
    assert_eq!(ExportRequest::Metrics(decoded.clone()).records(), 40);
    assert_eq!(
        decoded.resource_metrics[0].resource,
        original.resource_metrics[0].resource
    );

    let mut g = generator(Signal::Logs, 1);
    let request = g.generate(40, &settings(0.1), NOW);
    let bytes = request.encode_json().unwrap();
    let json: Json = serde_json::from_slice(&bytes).unwrap();
    let record = &json["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0];
    assert!(record["severityNumber"].is_number());
    assert!(record["body"]["stringValue"].is_string());
    let decoded: ExportLogsServiceRequest = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(ExportRequest::Logs(decoded), request.to_message().unwrap());
}

#[test]
fn sluice_validation_keeps_every_generated_record() {
    for signal in [Signal::Traces, Signal::Metrics, Signal::Logs] {
        let mut g = generator(signal, 4);
        let rejected = g
            .generate(512, &settings(0.1), NOW)
            .to_message()
            .unwrap()
            .retain_valid();
        assert!(rejected.is_empty(), "{signal:?}: {rejected:?}");
        assert_eq!(rejected.accepted, 512, "{signal:?}");
    }
}

/// The share of the most frequent value of `attr.0` over `records` spans.
fn top_value_share(skew: f64, records: usize) -> f64 {
    let mut g = skewed_generator(Signal::Traces, 1, skew);
    let request = traces(&g.generate(records, &settings(0.0), NOW));
    let mut counts = std::collections::HashMap::new();
    for span in spans(&request) {
        let value = span
            .attributes
            .iter()
            .find(|kv| kv.key == "attr.0")
            .and_then(|kv| kv.value.as_ref())
            .and_then(|v| v.value.clone());
        *counts.entry(format!("{value:?}")).or_insert(0usize) += 1;
    }
    let top = counts.values().max().copied().unwrap_or(0);
    top as f64 / records as f64
}

/// The values of the synthetic attributes over all of a run's workers come
/// from one pool of `ATTRIBUTE_POOL` strings, as the options say: a file or a
/// query that mixes the workers' records sees that many values, not that many
/// per worker.
#[test]
fn every_worker_draws_from_the_runs_one_pool() {
    let mut values = std::collections::HashSet::new();
    for worker in 0..8 {
        let mut g = worker_generator(Signal::Traces, 10, 0.0, worker);
        let request = traces(&g.generate(512, &settings(0.0), NOW));
        for span in spans(&request) {
            for kv in span
                .attributes
                .iter()
                .filter(|kv| kv.key.starts_with("attr."))
            {
                values.insert(format!("{:?}", kv.value));
            }
        }
    }
    // 8 x 512 x 10 uniform draws leave none of the 256 out but by a
    // vanishing chance; one pool per worker would give about 2048.
    assert_eq!(values.len(), ATTRIBUTE_POOL);
}

#[test]
fn attribute_skew_makes_a_few_values_common() {
    // Zipf(1) over 256 values: the first has 1/H(256) = 16% of the draws;
    // uniform: 1/256 = 0.4%.
    let skewed = top_value_share(1.0, 20_000);
    let uniform = top_value_share(0.0, 20_000);
    assert!((0.13..0.19).contains(&skewed), "skewed top share {skewed}");
    assert!(uniform < 0.01, "uniform top share {uniform}");
}

/// The body written field by field is the one prost encodes from the same
/// records: every length and tag right, every field where prost puts it.
#[test]
fn an_encoded_body_is_what_prost_encodes_from_its_records() {
    for signal in [Signal::Traces, Signal::Metrics, Signal::Logs] {
        for (attributes, skew, error_ratio) in [(0, 0.0, 0.0), (10, 0.0, 0.5), (3, 1.0, 1.0)] {
            let mut g = skewed_generator(signal, attributes, skew);
            for count in [1, 5, 512] {
                let request = g.generate(count, &settings(error_ratio), NOW);
                let Request { body, records, .. } = &request;
                assert_eq!(*records, count);
                let message = request.to_message().unwrap();
                assert_eq!(message.records(), count);
                assert_eq!(message.encode_protobuf(), body, "{signal:?}");
            }
        }
    }
}

#[test]
fn logs_name_their_severity_and_half_carry_a_trace_context() {
    let mut g = generator(Signal::Logs, 2);
    let Ok(ExportRequest::Logs(request)) = g.generate(2000, &settings(0.2), NOW).to_message()
    else {
        panic!("logs expected");
    };
    let records: Vec<_> = request
        .resource_logs
        .iter()
        .flat_map(|r| &r.scope_logs)
        .flat_map(|s| &s.log_records)
        .collect();
    assert_eq!(records.len(), 2000);
    let mut traced = 0;
    let mut errors = 0;
    for record in &records {
        let expected = match record.severity_number {
            9 => "INFO",
            13 => "WARN",
            17 => "ERROR",
            other => panic!("severity {other}"),
        };
        assert_eq!(record.severity_text, expected);
        errors += usize::from(expected == "ERROR");
        assert_eq!(
            (record.time_unix_nano, record.observed_time_unix_nano),
            (NOW, NOW)
        );
        let body = match record.body.as_ref().and_then(|b| b.value.as_ref()) {
            Some(Value::StringValue(text)) => text,
            other => panic!("body {other:?}"),
        };
        assert!(
            body.contains("/api/v1/") || body.starts_with("retrying"),
            "{body}"
        );
        let keys: Vec<_> = record.attributes.iter().map(|a| a.key.as_str()).collect();
        assert_eq!(keys, ["http.method", "http.route", "attr.0", "attr.1"]);
        if record.trace_id.is_empty() {
            assert!(record.span_id.is_empty() && record.flags == 0);
        } else {
            assert_eq!((record.trace_id.len(), record.span_id.len()), (16, 8));
            assert_eq!(record.flags, 1);
            traced += 1;
        }
    }
    assert!((800..1200).contains(&traced), "{traced} traced");
    assert!((300..500).contains(&errors), "{errors} errors");
}

#[test]
fn an_instance_exports_a_gauge_a_monotonic_sum_and_a_histogram() {
    let mut g = generator(Signal::Metrics, 1);
    let operations = 4;
    let per_instance = 4 + 3 * operations;
    let Ok(ExportRequest::Metrics(request)) = g
        .generate(5 * per_instance, &settings(0.1), NOW)
        .to_message()
    else {
        panic!("metrics expected");
    };
    assert_eq!(request.resource_metrics.len(), 5);
    for resource in &request.resource_metrics {
        let metrics = &resource.scope_metrics[0].metrics;
        let names: Vec<_> = metrics.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "system.cpu.utilization",
                "http.server.requests",
                "http.server.duration"
            ]
        );
        let Some(Data::Gauge(gauge)) = &metrics[0].data else {
            panic!("gauge expected");
        };
        assert_eq!(gauge.data_points.len(), 4);
        for (cpu, point) in gauge.data_points.iter().enumerate() {
            assert_eq!((point.start_time_unix_nano, point.time_unix_nano), (0, NOW));
            let Some(number_data_point::Value::AsDouble(v)) = point.value else {
                panic!("double expected");
            };
            assert!((0.0..=1.0).contains(&v), "{v}");
            assert_eq!(point.attributes[0].key, "cpu");
            assert_eq!(
                point.attributes[0]
                    .value
                    .as_ref()
                    .and_then(|v| v.value.clone()),
                Some(Value::IntValue(cpu as i64))
            );
            assert_eq!(point.attributes[1].key, "attr.0");
        }
        let Some(Data::Sum(sum)) = &metrics[1].data else {
            panic!("sum expected");
        };
        assert!(sum.is_monotonic && sum.aggregation_temporality == 2);
        assert_eq!(sum.data_points.len(), 2 * operations);
        assert!(sum.data_points.iter().all(|p| p.start_time_unix_nano > 0
            && p.start_time_unix_nano < NOW
            && p.attributes.iter().any(|a| a.key == "outcome")));
        let Some(Data::Histogram(histogram)) = &metrics[2].data else {
            panic!("histogram expected");
        };
        assert_eq!(histogram.aggregation_temporality, 2);
        assert_eq!(histogram.data_points.len(), operations);
        for point in &histogram.data_points {
            assert_eq!(point.explicit_bounds.len(), 14);
            assert_eq!(point.bucket_counts.len(), 15);
            assert_eq!(point.bucket_counts.iter().sum::<u64>(), point.count);
            assert!(point.count >= 10);
            let (min, max) = (point.min.unwrap(), point.max.unwrap());
            assert!(min <= max && point.sum.unwrap() >= min * point.count as f64 * 0.999);
            assert_eq!(point.attributes[0].key, "http.route");
        }
    }
}
