//! Protobuf fields written straight into a request body: the generators
//! write every record this way rather than through prost's message structs
//! (see [`super::traces`] for why).
//!
//! Each writer emits what prost emits for the same field of a message: the
//! tag, then the value; scalars and strings that hold their default are left
//! out (proto3), a oneof's value and a present sub-message never are. So a
//! body written here is the one prost would encode from the same message,
//! byte for byte, which the generator's tests hold it to.

use prost::encoding::{encode_varint, encoded_len_varint};

const VARINT: u64 = 0;
const FIXED64: u64 = 1;
const LEN: u64 = 2;
const FIXED32: u64 = 5;

/// `KeyValue.key` and `.value`.
const KEY_VALUE_KEY: u32 = 1;
const KEY_VALUE_VALUE: u32 = 2;

/// `AnyValue.string_value` and `AnyValue.int_value`.
const ANY_STRING: u32 = 1;
const ANY_INT: u32 = 3;

fn key(out: &mut Vec<u8>, field: u32, wire_type: u64) {
    encode_varint(u64::from(field) << 3 | wire_type, out);
}

/// The bytes a length-delimited field of `len` bytes takes, tag included.
pub fn field_len(field: u32, len: usize) -> usize {
    encoded_len_varint(u64::from(field) << 3) + encoded_len_varint(len as u64) + len
}

/// The bytes [`int`] writes for `value` as field `field`, tag included.
pub fn int_len(field: u32, value: i64) -> usize {
    if value == 0 {
        0
    } else {
        encoded_len_varint(u64::from(field) << 3) + encoded_len_varint(value as u64)
    }
}

/// The bytes [`bytes`] writes for a value of `len` bytes as field `field`,
/// tag included.
pub fn bytes_len(field: u32, len: usize) -> usize {
    if len == 0 { 0 } else { field_len(field, len) }
}

/// The bytes [`fixed64`] writes for `value` as field `field`, tag included.
pub fn fixed64_len(field: u32, value: u64) -> usize {
    if value == 0 {
        0
    } else {
        encoded_len_varint(u64::from(field) << 3) + 8
    }
}

/// The tag and length of a length-delimited field whose `len` bytes follow.
pub fn open(out: &mut Vec<u8>, field: u32, len: usize) {
    key(out, field, LEN);
    encode_varint(len as u64, out);
}

/// A sub-message (or `bytes` value) that is present, even if empty.
pub fn message(out: &mut Vec<u8>, field: u32, encoded: &[u8]) {
    open(out, field, encoded.len());
    out.extend_from_slice(encoded);
}

/// A `string` or `bytes` field: left out when empty.
pub fn bytes(out: &mut Vec<u8>, field: u32, value: &[u8]) {
    if !value.is_empty() {
        message(out, field, value);
    }
}

/// A `string` field made of `parts`, one after the other: left out when empty.
pub fn joined(out: &mut Vec<u8>, field: u32, parts: &[&[u8]]) {
    let len = parts.iter().map(|p| p.len()).sum();
    if len > 0 {
        open(out, field, len);
        for part in parts {
            out.extend_from_slice(part);
        }
    }
}

/// A `fixed32` field: left out when 0.
pub fn fixed32(out: &mut Vec<u8>, field: u32, value: u32) {
    if value != 0 {
        key(out, field, FIXED32);
        out.extend_from_slice(&value.to_le_bytes());
    }
}

/// A `double` that is present (a oneof's or an `optional` one): written even
/// when 0.
pub fn double(out: &mut Vec<u8>, field: u32, value: f64) {
    key(out, field, FIXED64);
    out.extend_from_slice(&value.to_le_bytes());
}

/// A packed `repeated fixed64` or `repeated double`, each value given as its
/// eight little-endian bytes: left out when empty.
pub fn packed64(out: &mut Vec<u8>, field: u32, values: impl ExactSizeIterator<Item = [u8; 8]>) {
    if values.len() > 0 {
        open(out, field, 8 * values.len());
        values.for_each(|v| out.extend_from_slice(&v));
    }
}

/// An `AnyValue` holding a string, as field `field`.
pub fn string_value(out: &mut Vec<u8>, field: u32, value: &[u8]) {
    open(out, field, field_len(ANY_STRING, value.len()));
    message(out, ANY_STRING, value);
}

/// Buffers a generator writing protobuf reuses from one request to the next.
#[derive(Debug, Default)]
pub struct Buffers {
    /// Per service, its records as the records field of a scope message.
    pub by_service: Vec<Vec<u8>>,
    /// The record being written.
    pub record: Vec<u8>,
}

impl Buffers {
    /// Empty, with a buffer for each of `services` services.
    pub fn reset(&mut self, services: usize) {
        self.by_service.resize_with(services, Vec::new);
        self.by_service.iter_mut().for_each(Vec::clear);
    }
}

/// An export request of traces or logs (their messages share field numbers:
/// request.resource_x = 1, resource = 1, scope_x = 2, scope = 1, records =
/// 2) from each service's records, already written as the records field of
/// a scope message, with the resources and the scope encoded. Services
/// without records are left out.
pub fn export_request(by_service: &[Vec<u8>], resources: &[Vec<u8>], scope: &[u8]) -> Vec<u8> {
    const RESOURCE_X: u32 = 1;
    const RESOURCE: u32 = 1;
    const SCOPE_X: u32 = 2;
    const SCOPE: u32 = 1;
    let lengths = |records: &Vec<u8>, resource: &Vec<u8>| {
        let scope_x = field_len(SCOPE, scope.len()) + records.len();
        (
            scope_x,
            field_len(RESOURCE, resource.len()) + field_len(SCOPE_X, scope_x),
        )
    };
    let services = || {
        by_service
            .iter()
            .zip(resources)
            .filter(|(r, _)| !r.is_empty())
    };
    let total = services()
        .map(|(records, resource)| field_len(RESOURCE_X, lengths(records, resource).1))
        .sum();
    let mut body = Vec::with_capacity(total);
    for (records, resource) in services() {
        let (scope_x, resource_x) = lengths(records, resource);
        open(&mut body, RESOURCE_X, resource_x);
        message(&mut body, RESOURCE, resource);
        open(&mut body, SCOPE_X, scope_x);
        message(&mut body, SCOPE, scope);
        body.extend_from_slice(records);
    }
    body
}

/// An `int32`, `int64` or enum field: left out when 0. Negative values take
/// ten bytes, as protobuf's two's complement varints do.
pub fn int(out: &mut Vec<u8>, field: u32, value: i64) {
    if value != 0 {
        key(out, field, VARINT);
        encode_varint(value as u64, out);
    }
}

/// A `fixed64` field: left out when 0.
pub fn fixed64(out: &mut Vec<u8>, field: u32, value: u64) {
    if value != 0 {
        key(out, field, FIXED64);
        out.extend_from_slice(&value.to_le_bytes());
    }
}

/// A `KeyValue` with a string value, as repeated field `field`.
pub fn string_attribute(out: &mut Vec<u8>, field: u32, key: &str, value: &[u8]) {
    key_value_head(out, field, key, field_len(ANY_STRING, value.len()));
    string_value(out, KEY_VALUE_VALUE, value);
}

/// The bytes [`string_attribute`] writes for `key` and `value` as field
/// `field`, tag included.
pub fn string_attribute_len(field: u32, key: &str, value: &[u8]) -> usize {
    field_len(
        field,
        key_value_len(key, field_len(ANY_STRING, value.len())),
    )
}

/// A span `Event` named `name` at `time` with string `attributes`, as
/// repeated field `field`.
pub fn event(out: &mut Vec<u8>, field: u32, time: u64, name: &str, attributes: &[(&str, &[u8])]) {
    const TIME: u32 = 1;
    const NAME: u32 = 2;
    const ATTRIBUTES: u32 = 3;
    let attributes_len: usize = attributes
        .iter()
        .map(|(k, v)| string_attribute_len(ATTRIBUTES, k, v))
        .sum();
    let len = fixed64_len(TIME, time) + bytes_len(NAME, name.len()) + attributes_len;
    open(out, field, len);
    fixed64(out, TIME, time);
    bytes(out, NAME, name.as_bytes());
    for (key, value) in attributes {
        string_attribute(out, ATTRIBUTES, key, value);
    }
}

/// A `KeyValue` with an integer value, as repeated field `field`.
pub fn int_attribute(out: &mut Vec<u8>, field: u32, key: &str, value: i64) {
    let any = 1 + encoded_len_varint(value as u64);
    key_value_head(out, field, key, any);
    open(out, KEY_VALUE_VALUE, any);
    key_varint(out, ANY_INT, value);
}

/// A `KeyValue`'s tag and length, and its key, before its `AnyValue` of
/// `any` bytes.
fn key_value_head(out: &mut Vec<u8>, field: u32, key: &str, any: usize) {
    open(out, field, key_value_len(key, any));
    bytes(out, KEY_VALUE_KEY, key.as_bytes());
}

/// The bytes of a `KeyValue`'s body: its key, and an `AnyValue` of `any`
/// bytes.
fn key_value_len(key: &str, any: usize) -> usize {
    bytes_len(KEY_VALUE_KEY, key.len()) + field_len(KEY_VALUE_VALUE, any)
}

/// A oneof's integer: written even when 0.
fn key_varint(out: &mut Vec<u8>, field: u32, value: i64) {
    key(out, field, VARINT);
    encode_varint(value as u64, out);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
    use opentelemetry_proto::tonic::trace::v1::Span;
    use opentelemetry_proto::tonic::trace::v1::span::Event;
    use proptest::prelude::*;
    use prost::Message;

    use super::*;

    fn kv(key: &str, value: Value) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue { value: Some(value) }),
            ..Default::default()
        }
    }

    proptest! {
        /// Field by field, the bytes prost encodes from the same span.
        #[test]
        fn a_span_written_here_is_what_prost_encodes(
            trace_id in proptest::collection::vec(any::<u8>(), 0..17),
            name_parts in proptest::collection::vec("[a-z /]{0,12}", 0..3),
            kind in -3i32..6,
            start in any::<u64>(),
            attributes in proptest::collection::vec(
                ("[a-z.]{0,20}", prop_oneof![
                    "[ -~]{0,200}".prop_map(Value::StringValue),
                    any::<i64>().prop_map(Value::IntValue),
                ]),
                0..6,
            ),
            events in proptest::collection::vec(
                (
                    prop_oneof![Just(0u64), any::<u64>()],
                    "[a-z]{0,10}",
                    proptest::collection::vec(("[a-z.]{0,20}", "[ -~]{0,300}"), 0..4),
                ),
                0..3,
            ),
        ) {
            let name = name_parts.concat();
            let span = Span {
                trace_id: trace_id.clone(),
                name: name.clone(),
                kind,
                start_time_unix_nano: start,
                attributes: attributes.iter().map(|(k, v)| kv(k, v.clone())).collect(),
                events: events
                    .iter()
                    .map(|(time, name, attributes)| Event {
                        time_unix_nano: *time,
                        name: name.clone(),
                        attributes: attributes
                            .iter()
                            .map(|(k, v)| kv(k, Value::StringValue(v.clone())))
                            .collect(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            };
            let mut out = Vec::new();
            bytes(&mut out, 1, &trace_id);
            let parts: Vec<&[u8]> = name_parts.iter().map(|p| p.as_bytes()).collect();
            joined(&mut out, 5, &parts);
            int(&mut out, 6, i64::from(kind));
            fixed64(&mut out, 7, start);
            for (key, value) in &attributes {
                match value {
                    Value::StringValue(s) => string_attribute(&mut out, 9, key, s.as_bytes()),
                    Value::IntValue(i) => int_attribute(&mut out, 9, key, *i),
                    _ => unreachable!(),
                }
            }
            for (time, name, attributes) in &events {
                let attributes: Vec<(&str, &[u8])> =
                    attributes.iter().map(|(k, v)| (k.as_str(), v.as_bytes())).collect();
                event(&mut out, 11, *time, name, &attributes);
            }
            prop_assert_eq!(out, span.encode_to_vec());
        }
    }
}
