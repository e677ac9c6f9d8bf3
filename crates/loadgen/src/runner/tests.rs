#![allow(clippy::unwrap_used)]

use clap::Parser as _;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use prost::Message as _;

use super::*;
use crate::Signal;

fn plan(args: &[&str]) -> Plan {
    Options::try_parse_from(std::iter::once("sluice-loadgen").chain(args.iter().copied()))
        .unwrap()
        .plan()
        .unwrap()
}

/// The `host.name` of a request's first resource: its worker's.
fn host(request: &ExportTraceServiceRequest) -> String {
    let resource = request.resource_spans[0].resource.as_ref().unwrap();
    let host = resource.attributes.iter().find(|kv| kv.key == "host.name");
    match host.and_then(|kv| kv.value.as_ref()?.value.as_ref()) {
        Some(Value::StringValue(name)) => name.clone(),
        other => panic!("host.name is {other:?}"),
    }
}

#[test]
fn sample_requests_are_the_runs_requests_unsent() {
    let plan = plan(&[
        "--signal",
        "traces",
        "--concurrency",
        "3",
        "--batch",
        "7",
        "--attributes",
        "4",
    ]);
    let requests = sample_requests(&plan, 2);
    assert_eq!(requests.len(), 6, "2 requests from each of 3 workers");
    let mut hosts = Vec::new();
    for request in &requests {
        assert_eq!(request.signal, Signal::Traces);
        assert_eq!(request.records, 7);
        let decoded = ExportTraceServiceRequest::decode(request.body.clone()).unwrap();
        let spans: Vec<_> = decoded
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
            .collect();
        assert_eq!(spans.len(), 7);
        for span in spans {
            let synthetic = span
                .attributes
                .iter()
                .filter(|kv| kv.key.starts_with("attr."));
            assert_eq!(synthetic.count(), 4, "--attributes 4 on {}", span.name);
        }
        hosts.push(host(&decoded));
    }
    assert_eq!(
        hosts,
        [
            "loadgen-0",
            "loadgen-0",
            "loadgen-1",
            "loadgen-1",
            "loadgen-2",
            "loadgen-2"
        ]
    );
}
