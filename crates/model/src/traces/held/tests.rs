//! The oracle: every request's rows built as they come
//! ([`TraceBatchBuilder::append_all`]), concatenated, then sorted stably by
//! service name and start time. Held spans must finish to exactly that.

use arrow::array::{Array, AsArray, UInt32Array};
use arrow::compute::{concat_batches, take_record_batch};
use arrow::datatypes::{TimestampNanosecondType, UInt32Type};
use proptest::collection::vec;
use proptest::prelude::*;

use super::*;
use crate::Table;
use crate::otlp::collector::trace::v1::ExportTraceServiceRequest;
use crate::otlp::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use crate::otlp::resource::v1::Resource;
use crate::otlp::trace::v1::span::Event;
use crate::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span};
use crate::schema::{plain_batch, schema};
use crate::traces::wire::{Contexts, WireTraces};

fn text(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_owned())),
        }),
        ..KeyValue::default()
    }
}

/// Valid spans with few distinct start times, so that ties are common.
fn span() -> impl Strategy<Value = Span> {
    (
        1..=u8::MAX,
        1..=u8::MAX,
        0..4u64,
        "[a-z]{1,3}",
        vec(("[a-c]", "[a-z]{0,3}"), 0..3),
        0..2usize,
    )
        .prop_map(|(trace, span, start, name, attributes, events)| Span {
            trace_id: vec![trace; 16],
            span_id: vec![span; 8],
            name,
            start_time_unix_nano: 1_700_000_000_000_000_000 + start * 1_000,
            end_time_unix_nano: 1_700_000_000_000_000_000 + start * 1_000 + 500,
            attributes: attributes.iter().map(|(k, v)| text(k, v)).collect(),
            events: (0..events)
                .map(|i| Event {
                    name: format!("event-{i}"),
                    ..Event::default()
                })
                .collect(),
            ..Span::default()
        })
}

/// Requests whose resources name one of a few services (or none).
fn request() -> impl Strategy<Value = ExportTraceServiceRequest> {
    let scope = ("[a-z]{0,2}", vec(span(), 0..5)).prop_map(|(name, spans)| ScopeSpans {
        scope: Some(InstrumentationScope {
            name,
            ..InstrumentationScope::default()
        }),
        spans,
        schema_url: String::new(),
    });
    let service = prop_oneof![Just(None), Just(Some("checkout")), Just(Some("api"))];
    let resource = (service, vec(scope, 0..3)).prop_map(|(service, scope_spans)| ResourceSpans {
        resource: Some(Resource {
            attributes: service
                .map(|s| vec![text("service.name", s), text("host", "h")])
                .unwrap_or_default(),
            ..Resource::default()
        }),
        scope_spans,
        schema_url: String::new(),
    });
    vec(resource, 0..3).prop_map(|resource_spans| ExportTraceServiceRequest { resource_spans })
}

/// The rows of `requests` as they come, sorted stably by service, then
/// start time.
fn oracle(requests: &[WireTraces]) -> RecordBatch {
    let batches: Vec<RecordBatch> = requests
        .iter()
        .map(|traces| {
            let mut builder = TraceBatchBuilder::new();
            builder.append_all(traces);
            builder.finish()
        })
        .collect();
    let plain: Vec<RecordBatch> = batches
        .iter()
        .map(|batch| plain_batch(batch).expect("interned maps cast to strings"))
        .collect();
    let all = concat_batches(&schema(Table::Traces), &plain).expect("one schema");
    let services = all.column(7).as_string::<i32>();
    let times = all.column(0).as_primitive::<TimestampNanosecondType>();
    let mut order: Vec<u32> = (0..all.num_rows() as u32).collect();
    order.sort_by_key(|row| (services.value(*row as usize), times.value(*row as usize)));
    take_record_batch(&all, &UInt32Array::from(order)).expect("indices in bounds")
}

/// Holds every span of `traces`, as a shard does.
fn hold(held: &mut HeldSpans, traces: &WireTraces) {
    let mut contexts = Contexts::default();
    for s in traces.facts() {
        let (resource, scope) = contexts.get(traces, s.resource, s.scope);
        held.push(traces.body(), &s, resource, scope);
    }
}

proptest! {
    #[test]
    fn held_spans_finish_as_rows_sorted_by_service_then_time(
        requests in vec(request(), 0..4),
        parts in 1..3usize,
    ) {
        let indexed: Vec<WireTraces> = requests.iter().map(WireTraces::from_request).collect();
        // The shares of a split request hold the same body: each share is
        // pushed in turn, as the shards (here, one) receive them.
        let shares: Vec<WireTraces> = indexed
            .iter()
            .cloned()
            .flat_map(|traces| traces.partition(parts, |id| usize::from(id[0]) % parts))
            .map(|(_, share)| share)
            .collect();
        let mut held = HeldSpans::new();
        for share in &shares {
            hold(&mut held, share);
        }
        prop_assert_eq!(held.len(), shares.iter().map(WireTraces::len).sum::<usize>());
        let capacity = held.capacity();
        let batch = held.finish();
        prop_assert!(held.is_empty());
        prop_assert_eq!(&plain_batch(&batch).expect("casts"), &oracle(&shares));

        // The room counted is the rows' own: exact for the resources'
        // attributes, enough for the spans'.
        let entries = |column: usize| batch.column(column).as_map().entries().len();
        prop_assert_eq!(capacity.rows, batch.num_rows());
        prop_assert_eq!(entries(8), capacity.resource_attribute_entries);
        prop_assert_eq!(entries(19), capacity.scope_attribute_entries);
        prop_assert!(entries(11) <= capacity.span_attribute_entries());

        // Emptied by `finish`, it holds the next batch as a new one would.
        for traces in &indexed {
            hold(&mut held, traces);
        }
        prop_assert_eq!(plain_batch(&held.finish()).expect("casts"), oracle(&indexed));
    }
}

#[test]
fn spans_of_two_requests_interleave_by_time_within_a_service() {
    let request = |start: u64, name: &str| ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![text("service.name", "checkout")],
                ..Resource::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans: (0..2u64)
                    .map(|i| Span {
                        trace_id: vec![1; 16],
                        span_id: vec![2; 8],
                        name: name.to_owned(),
                        start_time_unix_nano: start + 2 * i,
                        end_time_unix_nano: start + 2 * i + 1,
                        ..Span::default()
                    })
                    .collect(),
                ..ScopeSpans::default()
            }],
            schema_url: String::new(),
        }],
    };
    let mut held = HeldSpans::new();
    hold(&mut held, &WireTraces::from_request(&request(10, "second")));
    hold(&mut held, &WireTraces::from_request(&request(9, "first")));
    let batch = held.finish();
    let names: Vec<&str> = batch
        .column(5)
        .as_string::<i32>()
        .iter()
        .flatten()
        .collect();
    assert_eq!(names, ["first", "second", "first", "second"]);
}

/// Spans of one service and one start time keep the order they came in,
/// however many there are: the proptest's small batches sort stably under
/// any sort (short runs are sorted by insertion), so this one has many
/// ties, across requests and times.
#[test]
fn ties_keep_the_order_the_spans_came_in() {
    let request = |first: u64| ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![text("service.name", "checkout")],
                ..Resource::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans: (first..first + 300)
                    .map(|i| Span {
                        trace_id: vec![1; 16],
                        span_id: (i + 1).to_be_bytes().to_vec(),
                        name: "GET".to_owned(),
                        // Three start times, in no order.
                        start_time_unix_nano: 100 + (i * 7) % 3,
                        end_time_unix_nano: 200,
                        ..Span::default()
                    })
                    .collect(),
                ..ScopeSpans::default()
            }],
            schema_url: String::new(),
        }],
    };
    let mut held = HeldSpans::new();
    for first in [0, 300, 600] {
        hold(&mut held, &WireTraces::from_request(&request(first)));
    }
    let batch = held.finish();
    let times = batch.column(0).as_primitive::<TimestampNanosecondType>();
    let ids = batch.column(2).as_string::<i32>();
    let arrival = |row: usize| u64::from_str_radix(ids.value(row), 16).expect("hex");
    for row in 1..batch.num_rows() {
        let (before, this) = (times.value(row - 1), times.value(row));
        assert!(before <= this, "row {row}: by start time");
        if before == this {
            assert!(
                arrival(row - 1) < arrival(row),
                "row {row}: a tie out of arrival order"
            );
        }
    }
}

/// The builders start at the counted sizes: the span attributes' values and
/// the resource attributes' keys end in buffers of the room counted, not of
/// a doubling's (checked against 64-byte rounding, as arrow allocates): the
/// span attributes' strings as the strings of the events' maps, their and
/// the resources' entries as the indices of the interned maps.
#[test]
fn builders_start_at_the_counted_size() {
    let spans = (0..2_000u64)
        .map(|i| Span {
            trace_id: vec![1; 16],
            span_id: vec![2; 8],
            name: "GET /".to_owned(),
            start_time_unix_nano: 1_700_000_000_000_000_000 + i,
            end_time_unix_nano: 1_700_000_000_000_000_001 + i,
            attributes: (0..3)
                .map(|k| text(&format!("attr.{k}"), &format!("{i:016}")))
                .collect(),
            ..Span::default()
        })
        .collect();
    let request = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![text("service.name", "checkout"), text("host", "h")],
                ..Resource::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..ScopeSpans::default()
            }],
            schema_url: String::new(),
        }],
    };
    let mut held = HeldSpans::new();
    hold(&mut held, &WireTraces::from_request(&request));
    let capacity = held.capacity();
    let batch = held.finish();
    let room = |column: usize, keys: bool| {
        let map = batch.column(column).as_map();
        let ids = if keys { map.keys() } else { map.values() };
        let ids = ids.as_dictionary::<UInt32Type>().keys().values();
        ids.inner().capacity() / size_of::<u32>()
    };
    let near = |room: usize, counted: usize| (counted..counted + 16).contains(&room);
    assert!(capacity.span_attribute_entries() > 6_000);
    assert!(near(room(11, false), capacity.span_attribute_entries()));
    assert!(near(room(8, true), capacity.resource_attribute_entries));
}
