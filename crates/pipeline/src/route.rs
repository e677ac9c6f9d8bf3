//! Splitting a request into per-shard shares.
//!
//! Spans go by trace id, so every span of a trace lands on the same shard (its
//! rollups and trace lookups stay local). Metrics and logs go by resource, so a
//! series is always on the same shard. Routing is deterministic: the same
//! request always splits the same way.

use std::hash::{DefaultHasher, Hash, Hasher};

use sluice_model::logs::wire::WireLogs;
use sluice_model::metrics::wire::WireMetrics;
use sluice_model::otlp::common::v1::{AnyValue, KeyValue, any_value::Value};
use sluice_model::otlp::resource::v1::Resource;
use sluice_model::traces::wire::WireTraces;
use sluice_otlp::ExportRequest;

/// One shard's share of a request.
#[derive(Debug, Clone, PartialEq)]
pub enum ShardRecords {
    /// A share of a protobuf request's spans, sharing its body.
    Traces(WireTraces),
    /// A share of a protobuf request's metrics, sharing its body.
    Metrics(WireMetrics),
    /// A share of a protobuf request's log records, sharing its body.
    Logs(WireLogs),
}

/// Splits `request` over `shards`; returns the non-empty shares with their shard.
pub fn split(request: ExportRequest, shards: usize) -> Vec<(usize, ShardRecords)> {
    match request {
        ExportRequest::Traces(r) => split_traces(WireTraces::from_request(&r), shards),
        ExportRequest::WireTraces(r) => split_traces(r, shards),
        ExportRequest::Metrics(r) => split_metrics(WireMetrics::from_request(&r), shards),
        ExportRequest::WireMetrics(r) => split_metrics(r, shards),
        ExportRequest::Logs(r) => split_logs(WireLogs::from_request(&r), shards),
        ExportRequest::WireLogs(r) => split_logs(r, shards),
    }
}

/// The shard of a trace id (a 16-byte id; shorter ones still route).
pub fn shard_of_trace(trace_id: &[u8], shards: usize) -> usize {
    // W3C trace ids are random in their low 8 bytes; mixing keeps sequential
    // test ids spread too.
    let mut low = [0u8; 8];
    let tail = &trace_id[trace_id.len().saturating_sub(8)..];
    low[8 - tail.len()..].copy_from_slice(tail);
    let mixed = u64::from_be_bytes(low).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    bucket(mixed, shards)
}

fn bucket(hash: u64, shards: usize) -> usize {
    // Multiply-shift maps the high bits evenly onto 0..shards.
    ((u128::from(hash) * shards as u128) >> 64) as usize
}

fn hash_value(value: &Value, h: &mut DefaultHasher) {
    match value {
        Value::StringValue(s) => s.hash(h),
        Value::BoolValue(b) => b.hash(h),
        Value::IntValue(i) => i.hash(h),
        Value::DoubleValue(d) => d.to_bits().hash(h),
        Value::BytesValue(b) => b.hash(h),
        Value::ArrayValue(a) => a.values.iter().for_each(|v| hash_any(v, h)),
        Value::KvlistValue(l) => hash_attributes(&l.values, h),
        Value::StringValueStrindex(i) => i.hash(h),
    }
}

fn hash_any(value: &AnyValue, h: &mut DefaultHasher) {
    if let Some(v) = &value.value {
        hash_value(v, h);
    }
}

fn hash_attributes(attributes: &[KeyValue], h: &mut DefaultHasher) {
    for kv in attributes {
        kv.key.hash(h);
        if let Some(v) = &kv.value {
            hash_any(v, h);
        }
    }
}

/// The shard of a resource: a hash of its attributes.
pub fn shard_of_resource(resource: Option<&Resource>, shards: usize) -> usize {
    if shards == 1 {
        return 0;
    }
    let mut h = DefaultHasher::new();
    if let Some(r) = resource {
        hash_attributes(&r.attributes, &mut h);
    }
    bucket(h.finish(), shards)
}

/// Splits spans by trace id; returns the non-empty shares with their shard.
pub fn split_traces(traces: WireTraces, shards: usize) -> Vec<(usize, ShardRecords)> {
    traces
        .partition(shards, |trace_id| shard_of_trace(trace_id, shards))
        .into_iter()
        .map(|(shard, share)| (shard, ShardRecords::Traces(share)))
        .collect()
}

/// Splits metrics by resource; returns the non-empty shares with their
/// shard.
pub fn split_metrics(metrics: WireMetrics, shards: usize) -> Vec<(usize, ShardRecords)> {
    metrics
        .partition(shards, |resource| shard_of_resource(resource, shards))
        .into_iter()
        .map(|(shard, share)| (shard, ShardRecords::Metrics(share)))
        .collect()
}

/// Splits log records by resource; returns the non-empty shares with their
/// shard.
pub fn split_logs(logs: WireLogs, shards: usize) -> Vec<(usize, ShardRecords)> {
    logs.partition(shards, |resource| shard_of_resource(resource, shards))
        .into_iter()
        .map(|(shard, share)| (shard, ShardRecords::Logs(share)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_model::otlp::collector::trace::v1::ExportTraceServiceRequest;
    use sluice_model::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span};

    fn span(trace: u8, id: u8) -> Span {
        let mut trace_id = vec![0u8; 16];
        trace_id[15] = trace;
        trace_id[0] = 1;
        Span {
            trace_id,
            span_id: vec![id + 1; 8],
            ..Default::default()
        }
    }

    #[test]
    fn a_trace_lands_on_one_shard_and_nothing_is_lost() {
        let spans: Vec<Span> = (0..200u8).map(|i| span(i % 50, i)).collect();
        let request = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let shares = split_traces(WireTraces::from_request(&request), 4);
        let mut seen = std::collections::HashMap::new();
        let mut total = 0;
        for (shard, share) in &shares {
            let ShardRecords::Traces(share) = share else {
                panic!("spans expected");
            };
            for s in share.spans() {
                total += 1;
                let previous = seen.insert(s.span.trace_id.to_vec(), *shard);
                assert!(
                    previous.is_none_or(|p| p == *shard),
                    "trace split across shards"
                );
            }
        }
        assert_eq!(total, 200);
        let used = shares.len();
        assert!(
            used >= 3,
            "50 traces should spread over the shards, used {used}"
        );
    }

    #[test]
    fn a_resource_lands_on_one_shard_and_nothing_is_lost() {
        use sluice_model::otlp::collector::logs::v1::ExportLogsServiceRequest;
        use sluice_model::otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
        let resource_logs = (0..40u8)
            .map(|i| ResourceLogs {
                resource: Some(Resource {
                    attributes: vec![KeyValue {
                        key: "service.name".into(),
                        value: Some(AnyValue {
                            value: Some(Value::StringValue(format!("svc-{}", i % 10))),
                        }),
                        key_strindex: 0,
                    }],
                    ..Default::default()
                }),
                scope_logs: vec![ScopeLogs {
                    log_records: vec![LogRecord::default(); 3],
                    ..Default::default()
                }],
                ..Default::default()
            })
            .collect();
        let request = ExportLogsServiceRequest { resource_logs };
        let shares = split(ExportRequest::Logs(request), 4);
        let mut seen = std::collections::HashMap::new();
        let mut total = 0;
        for (shard, share) in &shares {
            let ShardRecords::Logs(share) = share else {
                panic!("log records expected");
            };
            for log in share.records() {
                total += 1;
                let service = share
                    .contexts()
                    .resource_context(share.body(), log.resource)
                    .service_name
                    .clone();
                let previous = seen.insert(service, *shard);
                assert!(
                    previous.is_none_or(|p| p == *shard),
                    "a resource split across shards"
                );
            }
        }
        assert_eq!(total, 120);
        assert!(
            shares.len() >= 3,
            "10 services should spread over the shards"
        );
    }

    #[test]
    fn buckets_are_in_range() {
        for shards in 1..10 {
            for h in [0, 1, u64::MAX, u64::MAX / 2, 12345] {
                assert!(bucket(h, shards) < shards);
            }
        }
    }
}
