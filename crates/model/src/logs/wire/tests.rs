//! `prost` is the oracle: whatever it decodes from a body, the in-place
//! readers must read the same, and they must refuse exactly the bodies it
//! refuses.

use proptest::collection::vec;
use proptest::prelude::*;

use super::*;
use crate::attributes::value_to_string;
use crate::context::{ResourceContext, ScopeContext};
use crate::otlp::common::v1::{AnyValue, any_value};
use crate::otlp::resource::v1::Resource;
use crate::protowire::check;
use crate::traces::wire::tests::{
    any_value, edits, id, key_value, message_pairs, mutated, requests, time, wire_pairs,
};

fn log_record() -> impl Strategy<Value = LogRecord> {
    let ids = (
        prop_oneof![Just(vec![]), id(16)],
        prop_oneof![Just(vec![]), id(8)],
    );
    let scalars = (
        time(),
        prop_oneof![3 => Just(0), 1 => time()],
        -1..25i32,
        "[A-Z]{0,5}",
        any::<u32>(),
        any::<u32>(),
        "[a-z.]{0,6}",
    );
    let rest = (
        proptest::option::weighted(0.9, any_value()),
        vec(key_value(), 0..4),
    );
    (ids, scalars, rest).prop_map(
        |(
            (trace_id, span_id),
            (
                observed_time_unix_nano,
                time_unix_nano,
                severity_number,
                severity_text,
                flags,
                dropped_attributes_count,
                event_name,
            ),
            (body, attributes),
        )| LogRecord {
            time_unix_nano,
            observed_time_unix_nano,
            severity_number,
            severity_text,
            body,
            attributes,
            dropped_attributes_count,
            flags,
            trace_id,
            span_id,
            event_name,
        },
    )
}

fn request() -> impl Strategy<Value = ExportLogsServiceRequest> {
    requests::<Logs, _>(log_record())
        .prop_map(|resource_logs| ExportLogsServiceRequest { resource_logs })
}

/// The rules of `validate::check_log`, restated on the message.
fn is_valid(record: &LogRecord) -> bool {
    let fits = |t: u64| i64::try_from(t).is_ok();
    matches!(record.trace_id.len(), 0 | 16)
        && matches!(record.span_id.len(), 0 | 8)
        && fits(record.time_unix_nano)
        && fits(record.observed_time_unix_nano)
}

/// The body's string form as a row of the body column holds it.
fn body_text(view: &LogView) -> String {
    let mut column = StringBuilder::new();
    view.write_body(&mut column);
    column.append_value("");
    column.finish().value(0).to_owned()
}

/// Asserts that `view` reads what prost decodes from the same bytes.
fn assert_reads_like_prost(view: &LogView, record: &LogRecord) -> Result<(), TestCaseError> {
    prop_assert_eq!(view.time_unix_nano, record.time_unix_nano);
    prop_assert_eq!(view.observed_time_unix_nano, record.observed_time_unix_nano);
    prop_assert_eq!(view.severity_number, record.severity_number);
    prop_assert_eq!(view.severity_text.as_str(), record.severity_text.as_str());
    prop_assert_eq!(view.flags, record.flags);
    prop_assert_eq!(view.trace_id, &record.trace_id[..]);
    prop_assert_eq!(view.span_id, &record.span_id[..]);
    prop_assert_eq!(view.event_name.as_str(), record.event_name.as_str());
    prop_assert_eq!(
        view.dropped_attributes_count,
        record.dropped_attributes_count
    );
    prop_assert_eq!(
        wire_pairs(view.attributes()),
        message_pairs(&record.attributes)
    );
    prop_assert_eq!(body_text(view), value_to_string(record.body.as_ref()));
    Ok(())
}

/// Asserts that each kept record of `logs` is under the resource and scope
/// `request` (prost's decoding of its body) holds it under.
fn assert_contexts_as_decoded(
    logs: &WireLogs,
    request: &ExportLogsServiceRequest,
) -> Result<(), TestCaseError> {
    let owners = request
        .resource_logs
        .iter()
        .flat_map(|r| r.scope_logs.iter().map(move |s| (r, s)))
        .flat_map(|(r, s)| s.log_records.iter().map(move |record| (r, s, record)))
        .filter(|(_, _, record)| is_valid(record));
    prop_assert_eq!(logs.len(), owners.clone().count());
    for (wire, (resource, scope, record)) in logs.records().zip(owners) {
        assert_reads_like_prost(&wire.record, record)?;
        prop_assert_eq!(
            logs.contexts().resource_context(logs.body(), wire.resource),
            ResourceContext::new(resource.resource.as_ref(), &resource.schema_url)
        );
        prop_assert_eq!(
            logs.contexts().scope_context(logs.body(), wire.scope),
            ScopeContext::new(scope.scope.as_ref(), &scope.schema_url)
        );
    }
    Ok(())
}

#[test]
fn bodies_of_every_kind_read_as_prost_decodes_them() {
    use any_value::Value as V;
    let bodies = [
        None,
        Some(AnyValue { value: None }),
        Some(AnyValue {
            value: Some(V::StringValue("disk full on /var".into())),
        }),
        Some(AnyValue {
            value: Some(V::IntValue(-42)),
        }),
        Some(AnyValue {
            value: Some(V::DoubleValue(0.25)),
        }),
        Some(AnyValue {
            value: Some(V::BoolValue(true)),
        }),
        Some(AnyValue {
            value: Some(V::BytesValue(vec![0, 1, 2, 255])),
        }),
    ];
    for body in bodies {
        let record = LogRecord {
            body: body.clone(),
            ..LogRecord::default()
        };
        let bytes = record.encode_to_vec();
        let view = LogView::checked(&bytes, 0).expect("valid");
        assert_eq!(body_text(&view), value_to_string(body.as_ref()), "{body:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn views_read_what_prost_decodes(a in log_record(), b in log_record()) {
        // One record, and two encoded one after the other: prost takes the
        // last scalars, appends the attributes and merges the bodies.
        let one = a.encode_to_vec();
        prop_assert_eq!(check(&one, &schema::LOG_RECORD, 0), Ok(()));
        assert_reads_like_prost(&LogView::checked(&one, 0).expect("valid"), &a)?;
        let mut two = one.clone();
        b.encode(&mut two).expect("a vector grows");
        let decoded = LogRecord::decode(&two[..]).expect("valid");
        let checked = LogView::checked(&two, 0).expect("valid");
        assert_reads_like_prost(&checked, &decoded)?;
        assert_reads_like_prost(&checked.layout().view(&two), &decoded)?;
    }

    #[test]
    fn indexing_keeps_the_valid_records_in_order(request in request()) {
        let logs = WireLogs::from_request(&request);
        let all = request
            .resource_logs
            .iter()
            .flat_map(|r| &r.scope_logs)
            .flat_map(|s| &s.log_records);
        let expected: Vec<&LogRecord> = all.clone().filter(|r| is_valid(r)).collect();
        prop_assert_eq!(logs.len(), expected.len());
        prop_assert_eq!(logs.rejected().accepted as usize, expected.len());
        prop_assert_eq!(logs.rejected().count as usize, all.count() - expected.len());
        let kept = logs.to_request();
        let records: Vec<&LogRecord> = kept
            .resource_logs
            .iter()
            .flat_map(|r| &r.scope_logs)
            .flat_map(|s| &s.log_records)
            .collect();
        prop_assert_eq!(records, expected);
        // Each kept record reads as prost decodes it, under the resource and
        // scope it was sent under.
        assert_contexts_as_decoded(&logs, &request)?;
    }

    #[test]
    fn shares_hold_every_record_once_by_resource_and_share_the_body(
        request in request(),
        parts in 1..5usize,
    ) {
        let logs = WireLogs::from_request(&request);
        let all: Vec<Vec<u8>> = logs.records().map(|r| r.record.bytes().to_vec()).collect();
        let body = logs.body().as_ptr();
        // By the resource's attribute count: resources with equal
        // attributes, sent apart, go to the same part.
        let part_of = |resource: Option<&Resource>| resource.map_or(0, |r| r.attributes.len()) % parts;
        let shares = logs.partition(parts, part_of);
        let mut seen = Vec::new();
        for (part, share) in &shares {
            prop_assert!(!share.is_empty());
            prop_assert_eq!(share.body().as_ptr(), body);
            prop_assert_eq!(share.rejected().accepted as usize, share.len());
            for r in share.records() {
                let (resource, _) = share.contexts().resource(share.body(), r.resource);
                prop_assert_eq!(part_of(resource.as_ref()), *part);
                seen.push(r.record.bytes().to_vec());
            }
        }
        seen.sort();
        let mut all = all;
        all.sort();
        prop_assert_eq!(seen, all);
    }

    #[test]
    fn indexing_refuses_exactly_what_prost_refuses(
        request in request(),
        edits in edits(),
    ) {
        let body = mutated(request.encode_to_vec(), &edits);
        let indexed = WireLogs::index(Bytes::from(body.clone()));
        let decoded = ExportLogsServiceRequest::decode(&body[..]);
        prop_assert_eq!(indexed.is_ok(), decoded.is_ok(), "{:?}", indexed.as_ref().err());
        // The index checks as it reads, and reports the fault `check` does.
        let checked = check(&body, &schema::EXPORT_LOGS_REQUEST, 0);
        prop_assert_eq!(indexed.as_ref().err(), checked.as_ref().err());
        if let (Ok(logs), Ok(decoded)) = (indexed, decoded) {
            assert_contexts_as_decoded(&logs, &decoded)?;
        }
    }
}
