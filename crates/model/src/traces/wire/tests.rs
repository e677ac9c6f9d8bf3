//! `prost` is the oracle: whatever it decodes from a body, the in-place
//! readers must read the same, and they must refuse exactly the bodies it
//! refuses.

use std::sync::Arc;

use proptest::collection::vec;
use proptest::prelude::*;

use super::*;
use crate::attributes::{
    InternedMapBuilder, append_attributes, append_wire_attributes, attributes_builder,
    finish_attributes, finish_wire_attributes, map_type, value_to_string, wire_attributes_builder,
    wire_key, write_wire_value,
};
use crate::context::{ResourceContext, ScopeContext};
use crate::otlp::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList, any_value,
};
use crate::otlp::resource::v1::Resource;
use crate::otlp::trace::v1::span::{Event, Link};
use crate::otlp::trace::v1::{ResourceSpans, ScopeSpans, Status};
use crate::protowire::{RECURSION_LIMIT, check};
use crate::wire::Nesting;

pub(crate) fn any_value() -> impl Strategy<Value = AnyValue> {
    use any_value::Value as V;
    let leaf = prop_oneof![
        "[a-z<>&\"é ]{0,8}".prop_map(V::StringValue),
        any::<bool>().prop_map(V::BoolValue),
        any::<i64>().prop_map(V::IntValue),
        any::<f64>().prop_map(V::DoubleValue),
        vec(any::<u8>(), 0..6).prop_map(V::BytesValue),
        any::<i32>().prop_map(V::StringValueStrindex),
    ];
    let leaf = proptest::option::weighted(0.9, leaf).prop_map(|value| AnyValue { value });
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(|values| AnyValue {
                value: Some(V::ArrayValue(ArrayValue { values })),
            }),
            vec(("[ab]{0,2}", inner), 0..4).prop_map(|pairs| AnyValue {
                value: Some(V::KvlistValue(KeyValueList {
                    values: pairs
                        .into_iter()
                        .map(|(key, value)| KeyValue {
                            key,
                            value: Some(value),
                            key_strindex: 0,
                        })
                        .collect(),
                })),
            }),
        ]
    })
}

/// Keys from a small set, so that duplicates are common.
pub(crate) fn key_value() -> impl Strategy<Value = KeyValue> {
    (
        "(service\\.name|attr\\.[0-9]|[ab]{0,2})",
        proptest::option::weighted(0.95, any_value()),
        prop_oneof![9 => Just(0), 1 => any::<i32>()],
    )
        .prop_map(|(key, value, key_strindex)| KeyValue {
            key,
            value,
            key_strindex,
        })
}

/// Ids of the right length mostly, of any length sometimes.
pub(crate) fn id(len: usize) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => vec(any::<u8>(), len),
        1 => Just(vec![0; len]),
        1 => vec(any::<u8>(), 0..20),
    ]
}

/// Times that fit a timestamp mostly, past 2262 sometimes.
pub(crate) fn time() -> impl Strategy<Value = u64> {
    prop_oneof![9 => 0..i64::MAX as u64, 1 => any::<u64>()]
}

fn event() -> impl Strategy<Value = Event> {
    (time(), "[a-z]{0,6}", vec(key_value(), 0..3), any::<u32>()).prop_map(
        |(time_unix_nano, name, attributes, dropped_attributes_count)| Event {
            time_unix_nano,
            name,
            attributes,
            dropped_attributes_count,
        },
    )
}

fn link() -> impl Strategy<Value = Link> {
    (
        id(16),
        id(8),
        "[a-z=,]{0,6}",
        vec(key_value(), 0..3),
        any::<u32>(),
        any::<u32>(),
    )
        .prop_map(
            |(trace_id, span_id, trace_state, attributes, dropped_attributes_count, flags)| Link {
                trace_id,
                span_id,
                trace_state,
                attributes,
                dropped_attributes_count,
                flags,
            },
        )
}

fn span() -> impl Strategy<Value = Span> {
    let ids = (
        id(16),
        id(8),
        prop_oneof![Just(vec![]), id(8)],
        "[a-z=,]{0,6}",
    );
    let scalars = (any::<u32>(), "[a-zA-Z /]{0,10}", -1..7i32, time(), time());
    let nested = (
        vec(key_value(), 0..12),
        vec(event(), 0..3),
        vec(link(), 0..2),
        proptest::option::of((".{0,6}", -1..4i32)),
        (any::<u32>(), any::<u32>(), any::<u32>()),
    );
    (ids, scalars, nested).prop_map(
        |(
            (trace_id, span_id, parent_span_id, trace_state),
            (flags, name, kind, start_time_unix_nano, end_time_unix_nano),
            (attributes, events, links, status, (dropped_a, dropped_e, dropped_l)),
        )| Span {
            trace_id,
            span_id,
            trace_state,
            parent_span_id,
            flags,
            name,
            kind,
            start_time_unix_nano,
            end_time_unix_nano,
            attributes,
            dropped_attributes_count: dropped_a,
            events,
            dropped_events_count: dropped_e,
            links,
            dropped_links_count: dropped_l,
            status: status.map(|(message, code)| Status { message, code }),
        },
    )
}

fn request() -> impl Strategy<Value = ExportTraceServiceRequest> {
    requests::<Traces, _>(span())
        .prop_map(|resource_spans| ExportTraceServiceRequest { resource_spans })
}

/// Requests of up to 3 resources of up to 3 scopes of up to 4 `record`s
/// each, every signal's drawn alike: the resource and scope messages made
/// as [`Nesting`] makes them, with or without their context messages.
pub(crate) fn requests<N, R>(record: R) -> impl Strategy<Value = Vec<N::Resource>>
where
    N: Nesting,
    N::Resource: std::fmt::Debug,
    N::Scope: std::fmt::Debug,
    R: Strategy<Value = N::Record>,
{
    let scope = (
        proptest::option::of(("[a-z]{0,4}", "[0-9.]{0,4}", vec(key_value(), 0..3))),
        vec(record, 0..4),
        "[a-z:/]{0,4}",
    )
        .prop_map(|(scope, records, schema_url)| {
            let scope = scope.map(|(name, version, attributes)| InstrumentationScope {
                name,
                version,
                attributes,
                dropped_attributes_count: 0,
            });
            let mut message = N::scope(scope, schema_url);
            *N::records(&mut message) = records;
            message
        });
    let resource = (
        proptest::option::of(vec(key_value(), 0..4)),
        vec(scope, 0..3),
        "[a-z:/]{0,4}",
    )
        .prop_map(|(attributes, scopes, schema_url)| {
            let resource = attributes.map(|attributes| Resource {
                attributes,
                ..Resource::default()
            });
            let mut message = N::resource(resource, schema_url);
            *N::scopes(&mut message) = scopes;
            message
        });
    vec(resource, 0..3)
}

/// Up to three edits of a body: a byte flipped, the body cut, a byte
/// inserted or overwritten, at a place drawn anew for each.
pub(crate) fn edits() -> impl Strategy<Value = Vec<(prop::sample::Index, u8, u8)>> {
    vec((any::<prop::sample::Index>(), 0..4u8, any::<u8>()), 1..4)
}

/// `body` with `edits` made to it, one after the other.
pub(crate) fn mutated(mut body: Vec<u8>, edits: &[(prop::sample::Index, u8, u8)]) -> Vec<u8> {
    for &(at, edit, byte) in edits {
        if body.is_empty() {
            body.push(byte);
            continue;
        }
        let i = at.index(body.len());
        match edit {
            0 => body[i] ^= byte | 1,
            1 => body.truncate(i),
            2 => body.insert(i, byte),
            _ => body[i] = byte,
        }
    }
    body
}

/// The rules of `validate::check_span`, restated on the message.
fn is_valid(span: &Span) -> bool {
    let fits = |t: u64| i64::try_from(t).is_ok();
    let nonzero = |id: &[u8]| id.iter().any(|b| *b != 0);
    span.trace_id.len() == 16
        && nonzero(&span.trace_id)
        && span.span_id.len() == 8
        && nonzero(&span.span_id)
        && matches!(span.parent_span_id.len(), 0 | 8)
        && fits(span.start_time_unix_nano)
        && fits(span.end_time_unix_nano)
        && span
            .links
            .iter()
            .all(|l| l.trace_id.len() == 16 && l.span_id.len() == 8)
        && span.events.iter().all(|e| fits(e.time_unix_nano))
}

pub(crate) fn message_pairs(attributes: &[KeyValue]) -> Vec<(String, String)> {
    attributes
        .iter()
        .map(|kv| (kv.key.clone(), value_to_string(kv.value.as_ref())))
        .collect()
}

pub(crate) fn wire_pairs<'a>(key_values: impl Iterator<Item = &'a [u8]>) -> Vec<(String, String)> {
    key_values
        .map(|kv| {
            let mut value = String::new();
            write_wire_value(kv, &mut value);
            (wire_key(kv).to_owned(), value)
        })
        .collect()
}

/// Asserts that `view` reads what prost decodes from the same bytes.
fn assert_reads_like_prost(view: &SpanView, span: &Span) -> Result<(), TestCaseError> {
    prop_assert_eq!(view.trace_id, &span.trace_id[..]);
    prop_assert_eq!(view.span_id, &span.span_id[..]);
    prop_assert_eq!(view.parent_span_id, &span.parent_span_id[..]);
    prop_assert_eq!(view.trace_state.as_str(), span.trace_state.as_str());
    prop_assert_eq!(view.name.as_str(), span.name.as_str());
    prop_assert_eq!(view.kind, span.kind);
    prop_assert_eq!(view.flags, span.flags);
    prop_assert_eq!(view.start_time_unix_nano, span.start_time_unix_nano);
    prop_assert_eq!(view.end_time_unix_nano, span.end_time_unix_nano);
    prop_assert_eq!(view.dropped_attributes_count, span.dropped_attributes_count);
    prop_assert_eq!(view.dropped_events_count, span.dropped_events_count);
    prop_assert_eq!(view.dropped_links_count, span.dropped_links_count);
    prop_assert_eq!(
        view.status,
        span.status.as_ref().map(|s| StatusView {
            message: Text(s.message.as_bytes()),
            code: s.code
        })
    );
    prop_assert_eq!(
        wire_pairs(view.attributes()),
        message_pairs(&span.attributes)
    );
    let events: Vec<_> = view
        .events()
        .map(|e| {
            let attributes = wire_pairs(e.attributes());
            (
                e.time_unix_nano,
                e.name.to_owned(),
                attributes,
                e.dropped_attributes_count,
            )
        })
        .collect();
    let expected: Vec<_> = span
        .events
        .iter()
        .map(|e| {
            let attributes = message_pairs(&e.attributes);
            (
                e.time_unix_nano,
                e.name.clone(),
                attributes,
                e.dropped_attributes_count,
            )
        })
        .collect();
    prop_assert_eq!(events, expected);
    let links: Vec<_> = view
        .links()
        .map(|l| {
            let attributes = wire_pairs(l.attributes());
            let ids = (
                l.trace_id.to_vec(),
                l.span_id.to_vec(),
                l.trace_state.to_owned(),
            );
            (ids, attributes, l.dropped_attributes_count, l.flags)
        })
        .collect();
    let expected: Vec<_> = span
        .links
        .iter()
        .map(|l| {
            let attributes = message_pairs(&l.attributes);
            let ids = (l.trace_id.clone(), l.span_id.clone(), l.trace_state.clone());
            (ids, attributes, l.dropped_attributes_count, l.flags)
        })
        .collect();
    prop_assert_eq!(links, expected);
    Ok(())
}

/// A request whose one span attribute nests arrays `depth` values deep.
fn nested_request(depth: usize) -> Vec<u8> {
    let mut value = AnyValue {
        value: Some(any_value::Value::IntValue(1)),
    };
    for _ in 1..depth {
        value = AnyValue {
            value: Some(any_value::Value::ArrayValue(ArrayValue {
                values: vec![value],
            })),
        };
    }
    let span = Span {
        attributes: vec![KeyValue {
            key: "deep".into(),
            value: Some(value),
            key_strindex: 0,
        }],
        ..Span::default()
    };
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![span],
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        }],
    }
    .encode_to_vec()
}

fn agree(body: &[u8]) -> Result<(), String> {
    let ours = check(body, &schema::EXPORT_TRACE_REQUEST, 0);
    let theirs = ExportTraceServiceRequest::decode(body);
    if ours.is_ok() == theirs.is_ok() {
        Ok(())
    } else {
        Err(format!("check: {ours:?}, prost: {:?}", theirs.err()))
    }
}

#[test]
fn nesting_is_limited_where_prost_limits_it() {
    // The request is 0 deep, the span 3, the key-value 4, its value 5, and
    // each array around a value adds two (the array and its value): a value
    // `depth` deep is message 3 + 2 * depth, at the limit for depth 48.
    assert_eq!(RECURSION_LIMIT, 3 + 2 * 48 + 1);
    for depth in [1, 20, 46, 47, 48, 49, 50, 80] {
        let body = nested_request(depth);
        agree(&body).unwrap_or_else(|e| panic!("{depth} values deep: {e}"));
        let accepted = check(&body, &schema::EXPORT_TRACE_REQUEST, 0).is_ok();
        assert_eq!(accepted, depth <= 48, "{depth} values deep");
        let indexed = WireTraces::index(Bytes::from(body)).is_ok();
        assert_eq!(indexed, accepted, "{depth} values deep, indexed");
    }
}

#[test]
fn unknown_fields_and_groups_are_skipped_as_prost_skips_them() {
    let span = Span {
        trace_id: vec![1; 16],
        span_id: vec![2; 8],
        name: "op".into(),
        ..Span::default()
    };
    let plain = span.encode_to_vec();
    // Field 99 as a varint, as fixed32, as bytes; field 98 as a group holding
    // field 1 and a nested group.
    let extra: [&[u8]; 5] = [
        &[0x98, 0x06, 0x05],
        &[0x9d, 0x06, 1, 2, 3, 4],
        &[0x9a, 0x06, 0x02, 0xff, 0xfe],
        &[0x93, 0x06, 0x08, 0x01, 0x1b, 0x1c, 0x94, 0x06],
        &[0x93, 0x06, 0x08, 0x01, 0x1c, 0x94, 0x06],
    ];
    for (i, extra) in extra.iter().enumerate() {
        let mut bytes = plain.clone();
        bytes.extend_from_slice(extra);
        let prost = Span::decode(&bytes[..]);
        let ours = check(&bytes, &schema::SPAN, 3);
        assert_eq!(ours.is_ok(), prost.is_ok(), "case {i}: {ours:?} {prost:?}");
        let checked = SpanView::checked(&bytes, 3);
        assert_eq!(checked.as_ref().err(), ours.as_ref().err(), "case {i}");
        if let (Ok(decoded), Ok(checked)) = (prost, checked) {
            assert_reads_like_prost(&SpanView::parse(&bytes), &decoded)
                .unwrap_or_else(|e| panic!("case {i}: {e}"));
            assert_reads_like_prost(&checked, &decoded)
                .unwrap_or_else(|e| panic!("case {i}, checked: {e}"));
        }
    }
}

#[test]
fn values_with_unknown_fields_print_as_prost_decodes_them() {
    let unknown = [0x48, 0x01]; // field 9, varint 1
    let string = [0x0a, 0x01, b'x']; // string_value "x"
    let any = |fields: &[&[u8]]| fields.concat();
    let array = |items: &[Vec<u8>]| {
        let mut array = Vec::new();
        for item in items {
            array.push(0x0a);
            array.push(item.len() as u8);
            array.extend_from_slice(item);
        }
        let mut value = vec![0x2a, array.len() as u8];
        value.extend_from_slice(&array);
        value
    };
    let cases = [
        any(&[&unknown]),
        any(&[&string, &unknown]),
        any(&[&unknown, &string]),
        array(&[any(&[&unknown]), any(&[&string]), Vec::new()]),
        array(&[any(&[&string, &unknown])]),
    ];
    for value in cases {
        let kv = KeyValue {
            key: "k".into(),
            value: Some(AnyValue::decode(&value[..]).expect("valid")),
            key_strindex: 0,
        };
        let mut bytes = vec![0x0a, 0x01, b'k', 0x12, value.len() as u8];
        bytes.extend_from_slice(&value);
        assert_eq!(
            wire_pairs(std::iter::once(&bytes[..])),
            message_pairs(&[kv]),
            "{value:?}"
        );
    }
}

/// Each kept span of `traces` has the resource and scope contexts of the
/// resource and scope `request` (prost's decoding of its body) holds it under.
fn assert_contexts_as_decoded(
    traces: &WireTraces,
    request: &ExportTraceServiceRequest,
) -> Result<(), TestCaseError> {
    let owners = request
        .resource_spans
        .iter()
        .flat_map(|r| r.scope_spans.iter().map(move |s| (r, s)))
        .flat_map(|(r, s)| s.spans.iter().map(move |span| (r, s, span)))
        .filter(|(_, _, span)| is_valid(span));
    prop_assert_eq!(traces.len(), owners.clone().count());
    for (wire, (resource, scope, _)) in traces.spans().zip(owners) {
        prop_assert_eq!(
            traces
                .contexts
                .resource_context(traces.body(), wire.resource),
            ResourceContext::new(resource.resource.as_ref(), &resource.schema_url)
        );
        prop_assert_eq!(
            traces.contexts.scope_context(traces.body(), wire.scope),
            ScopeContext::new(scope.scope.as_ref(), &scope.schema_url)
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn views_read_what_prost_decodes(a in span(), b in span()) {
        let bytes = a.encode_to_vec();
        prop_assert!(check(&bytes, &schema::SPAN, 3).is_ok());
        assert_reads_like_prost(&SpanView::parse(&bytes), &a)?;
        // What the index keeps of a span reads as the span.
        assert_reads_like_prost(&SpanView::parse(&bytes).layout().view(&bytes), &a)?;
        // Two encodings back to back are one message: the last scalar wins,
        // repeated fields append, the statuses merge.
        let mut both = bytes.clone();
        both.extend_from_slice(&b.encode_to_vec());
        let merged = Span::decode(&both[..]).expect("valid");
        assert_reads_like_prost(&SpanView::parse(&both), &merged)?;
        assert_reads_like_prost(&SpanView::parse(&both).layout().view(&both), &merged)?;
        // Read as they are checked, the same.
        let checked = SpanView::checked(&bytes, 3).map_err(|e| TestCaseError::fail(e.to_string()))?;
        assert_reads_like_prost(&checked, &a)?;
        let checked = SpanView::checked(&both, 3).map_err(|e| TestCaseError::fail(e.to_string()))?;
        assert_reads_like_prost(&checked.layout().view(&both), &merged)?;
    }

    #[test]
    fn merged_key_values_print_as_prost_merges_them(a in key_value(), b in key_value()) {
        let mut both = a.encode_to_vec();
        both.extend_from_slice(&b.encode_to_vec());
        let merged = KeyValue::decode(&both[..]).expect("valid");
        prop_assert_eq!(wire_pairs(std::iter::once(&both[..])), message_pairs(&[merged]));
    }

    #[test]
    fn wire_attribute_maps_equal_message_attribute_maps(
        lists in vec(vec(key_value(), 0..80), 1..4)
    ) {
        let mut from_messages = attributes_builder();
        let mut from_wire = wire_attributes_builder();
        let mut keep = Vec::new();
        for list in &lists {
            append_attributes(&mut from_messages, list);
            let encoded: Vec<Vec<u8>> = list.iter().map(Message::encode_to_vec).collect();
            append_wire_attributes(&mut from_wire, encoded.iter().map(Vec::as_slice), &mut keep);
        }
        let (wire, messages) = (
            finish_wire_attributes(&mut from_wire),
            finish_attributes(&mut from_messages),
        );
        prop_assert_eq!(wire.as_ref(), messages.as_ref());
    }

    /// Interned, the same maps read the same once cast to strings: values
    /// printed alike, the first of each key kept, merged key-values merged,
    /// and a builder emptied by `finish` building the next batch anew.
    #[test]
    fn interned_attribute_maps_read_as_wire_attribute_maps(
        lists in vec(vec(key_value(), 0..40), 1..6),
        merged in vec((key_value(), key_value()), 0..4),
    ) {
        let mut rows: Vec<Vec<Vec<u8>>> = lists
            .iter()
            .map(|list| list.iter().map(Message::encode_to_vec).collect())
            .collect();
        rows.push(
            merged
                .iter()
                .map(|(a, b)| [a.encode_to_vec(), b.encode_to_vec()].concat())
                .collect(),
        );
        let mut interned = InternedMapBuilder::default();
        let mut from_wire = wire_attributes_builder();
        let mut keep = Vec::new();
        for batch in [&rows[..], &rows[1..]] {
            for row in batch {
                interned.append_wire(row.iter().map(Vec::as_slice));
                append_wire_attributes(&mut from_wire, row.iter().map(Vec::as_slice), &mut keep);
            }
            prop_assert_eq!(interned.len(), batch.len());
            let plain = arrow::compute::cast(&interned.finish(), &map_type()).expect("casts");
            prop_assert!(interned.is_empty());
            let expected = finish_wire_attributes(&mut from_wire);
            prop_assert_eq!(plain.as_ref(), expected.as_ref());
        }
    }

    #[test]
    fn the_facts_noted_by_the_index_are_what_the_spans_say(request in request(), parts in 1..3usize) {
        let traces = WireTraces::from_request(&request);
        for (_, share) in traces.partition(parts, |id| usize::from(id[0]) % parts) {
            prop_assert_eq!(share.facts().count(), share.len());
            for (facts, span) in share.facts().zip(share.spans()) {
                // The spans and the layouts the shards hold read as prost
                // decodes the span's own bytes, and the facts as its parse.
                let decoded = Span::decode(facts.bytes).expect("a kept span is valid");
                assert_reads_like_prost(&span.span, &decoded)?;
                assert_reads_like_prost(&facts.layout.view(facts.bytes), &decoded)?;
                prop_assert_eq!(span.span.bytes(), facts.bytes);
                let view = SpanView::parse(facts.bytes);
                prop_assert_eq!((facts.resource, facts.scope), (span.resource, span.scope));
                prop_assert_eq!(facts.name, view.name.as_str());
                prop_assert_eq!(facts.kind, view.kind);
                prop_assert_eq!(facts.status_code, view.status_code());
                prop_assert_eq!(facts.start_time_unix_nano, view.start_time_unix_nano);
                prop_assert_eq!(facts.end_time_unix_nano, view.end_time_unix_nano);
                prop_assert_eq!(facts.bytes, view.bytes());
            }
        }
    }

    #[test]
    fn indexing_keeps_the_valid_spans_in_order(request in request()) {
        let traces = WireTraces::from_request(&request);
        let expected: Vec<&Span> = request
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
            .filter(|s| is_valid(s))
            .collect();
        let total: usize = request
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum();
        prop_assert_eq!(traces.len(), expected.len());
        prop_assert_eq!(traces.rejected().accepted as usize, expected.len());
        prop_assert_eq!(traces.rejected().count as usize, total - expected.len());
        let kept = traces.to_request();
        let spans: Vec<&Span> = kept
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
            .collect();
        prop_assert_eq!(spans, expected);
        // Each kept span is under the resource and scope it was sent under.
        assert_contexts_as_decoded(&traces, &request)?;
    }

    #[test]
    fn contexts_read_what_prost_decodes_when_their_fields_repeat(
        request in request(),
        extra in vec(key_value(), 0..3),
        url in "[a-z]{0,6}",
    ) {
        // Each resource and scope field occurs again after the spans, with a
        // schema URL: prost merges the messages and keeps the last URL.
        let mut body = Vec::new();
        for rs in &request.resource_spans {
            let head = ResourceSpans {
                resource: rs.resource.clone(),
                schema_url: rs.schema_url.clone(),
                scope_spans: Vec::new(),
            };
            let mut rs_bytes = head.encode_to_vec();
            for ss in &rs.scope_spans {
                let mut ss_bytes = ss.encode_to_vec();
                let again = ScopeSpans {
                    scope: Some(InstrumentationScope { name: url.clone(), ..Default::default() }),
                    schema_url: url.clone(),
                    spans: Vec::new(),
                };
                again.encode(&mut ss_bytes).expect("a vector grows");
                prost::encoding::bytes::encode(2, &ss_bytes, &mut rs_bytes);
            }
            let again = ResourceSpans {
                resource: Some(Resource { attributes: extra.clone(), ..Default::default() }),
                schema_url: url.clone(),
                scope_spans: Vec::new(),
            };
            again.encode(&mut rs_bytes).expect("a vector grows");
            prost::encoding::bytes::encode(1, &rs_bytes, &mut body);
        }
        let decoded = ExportTraceServiceRequest::decode(&body[..]).expect("valid");
        let traces = WireTraces::index(Bytes::from(body)).expect("valid");
        assert_contexts_as_decoded(&traces, &decoded)?;
    }

    #[test]
    fn shares_hold_every_span_once_and_share_the_body(request in request(), parts in 1..5usize) {
        let traces = WireTraces::from_request(&request);
        let all: Vec<Vec<u8>> = traces.spans().map(|s| s.span.bytes().to_vec()).collect();
        let body = traces.body().as_ptr();
        let part_of = |trace_id: &[u8]| trace_id.first().map_or(0, |b| usize::from(*b) % parts);
        let shares = traces.partition(parts, part_of);
        let mut seen = Vec::new();
        for (part, share) in &shares {
            prop_assert!(!share.is_empty());
            prop_assert_eq!(share.body().as_ptr(), body);
            for s in share.spans() {
                prop_assert_eq!(part_of(s.span.trace_id) , *part);
                seen.push(s.span.bytes().to_vec());
            }
        }
        seen.sort();
        let mut all = all;
        all.sort();
        prop_assert_eq!(seen, all);
    }

    #[test]
    fn check_refuses_exactly_what_prost_refuses(
        request in request(),
        edits in edits(),
    ) {
        let body = mutated(request.encode_to_vec(), &edits);
        agree(&body).map_err(TestCaseError::fail)?;
        // The index checks as it reads, and reports the fault `check` does.
        let indexed = WireTraces::index(Bytes::from(body.clone()));
        let checked = check(&body, &schema::EXPORT_TRACE_REQUEST, 0);
        prop_assert_eq!(indexed.as_ref().err(), checked.as_ref().err());
        if let Ok(traces) = indexed {
            let decoded = ExportTraceServiceRequest::decode(&body[..]).expect("agreed");
            let valid = decoded
                .resource_spans
                .iter()
                .flat_map(|r| &r.scope_spans)
                .flat_map(|s| &s.spans)
                .filter(|s| is_valid(s))
                .count();
            prop_assert_eq!(traces.len(), valid);
        }
    }
}

proptest! {
    /// Contexts found in a cache kept across requests are the contexts made
    /// afresh for each span; a request sent again finds the contexts of its
    /// first sending (those its messages hold: a missing one is made anew).
    #[test]
    fn cached_contexts_are_those_made_afresh(requests in vec(request(), 1..5)) {
        let mut cache = ContextCache::default();
        let mut first: Vec<Vec<(Arc<ResourceContext>, Arc<ScopeContext>)>> = Vec::new();
        for (sending, request) in requests.iter().chain(&requests).enumerate() {
            let traces = WireTraces::from_request(request);
            let mut cached = Contexts::cached(&mut cache);
            let mut fresh = Contexts::default();
            let mut found = Vec::new();
            for span in traces.spans() {
                let (resource, scope) = cached.get(&traces, span.resource, span.scope);
                let (resource, scope) = (Arc::clone(resource), Arc::clone(scope));
                let (made_resource, made_scope) = fresh.get(&traces, span.resource, span.scope);
                prop_assert_eq!(&*resource, &**made_resource);
                prop_assert_eq!(&*scope, &**made_scope);
                found.push((span.resource, span.scope, resource, scope));
            }
            if sending < requests.len() {
                first.push(found.into_iter().map(|(_, _, r, s)| (r, s)).collect());
                continue;
            }
            let resources: Vec<bool> =
                request.resource_spans.iter().map(|r| r.resource.is_some()).collect();
            let scopes: Vec<bool> = request
                .resource_spans
                .iter()
                .flat_map(|r| r.scope_spans.iter().map(|s| s.scope.is_some()))
                .collect();
            let before = &first[sending - requests.len()];
            for ((r, s, resource, scope), (resource_before, scope_before)) in found.iter().zip(before) {
                prop_assert_eq!(Arc::ptr_eq(resource, resource_before), resources[*r]);
                prop_assert_eq!(Arc::ptr_eq(scope, scope_before), scopes[*s]);
            }
        }
    }
}
