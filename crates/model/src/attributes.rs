//! OTLP attributes as Arrow `map<string, string>` columns.
//!
//! Values are turned into strings the way the Collector's `pcommon.Value.AsString`
//! does (and so the ClickHouse exporter): strings as they are, integers in
//! decimal, doubles in their shortest exact form, booleans as `true`/`false`,
//! bytes in standard base64, arrays and key-value lists as JSON.

use std::collections::HashSet;
use std::fmt::Write;
use std::sync::Arc;

use arrow::array::{
    ArrayBuilder, ArrayRef, AsArray, BinaryBuilder, ListArray, ListBuilder, MapArray, MapBuilder,
    MapFieldNames, StringArray, StringBuilder, StructArray,
};
use arrow::datatypes::{DataType, Field, FieldRef, Fields as ArrowFields};
use base64::Engine;

use crate::otlp::common::v1::{AnyValue, KeyValue, any_value::Value};
use crate::protowire::{self, Fields, merged, occurrences, string_pair};

mod interned;

pub(crate) use interned::ContextRows;
pub use interned::{InternedMapBuilder, interned_map_type};

/// The field names Parquet's `MAP` logical type documents.
fn map_field_names() -> MapFieldNames {
    MapFieldNames {
        entry: "key_value".into(),
        key: "key".into(),
        value: "value".into(),
    }
}

/// The fields of a map's entries: a key and a value, both strings.
fn entry_fields() -> ArrowFields {
    vec![
        Field::new("key", DataType::Utf8, false),
        Field::new("value", DataType::Utf8, false),
    ]
    .into()
}

/// The field of a map's entries.
fn entries_field() -> FieldRef {
    Arc::new(Field::new(
        "key_value",
        DataType::Struct(entry_fields()),
        false,
    ))
}

/// The Arrow type of every attribute column.
pub fn map_type() -> DataType {
    DataType::Map(entries_field(), false)
}

/// Writes the string form of `value` to `out`.
pub fn write_value<W: Write>(value: Option<&AnyValue>, out: &mut W) {
    let Some(value) = value.and_then(|v| v.value.as_ref()) else {
        return;
    };
    // Writing to a String or an Arrow builder cannot fail.
    let _ = match value {
        Value::StringValue(s) => out.write_str(s),
        Value::BoolValue(b) => out.write_str(if *b { "true" } else { "false" }),
        Value::IntValue(i) => out.write_str(itoa::Buffer::new().format(*i)),
        Value::DoubleValue(d) => write_double(*d, out),
        Value::BytesValue(b) => out.write_str(&base64::engine::general_purpose::STANDARD.encode(b)),
        Value::ArrayValue(_) | Value::KvlistValue(_) => {
            let mut json = String::new();
            write_json(value, &mut json);
            out.write_str(&json)
        }
        Value::StringValueStrindex(_) => Ok(()),
    };
}

/// The string form of `value`.
pub fn value_to_string(value: Option<&AnyValue>) -> String {
    let mut s = String::new();
    write_value(value, &mut s);
    s
}

/// Doubles as the Collector prints them (ES6 number form): shortest exact
/// digits, with an exponent only below 1e-6 and from 1e21 (`1e-7`, `1e+21`).
/// NaN and infinities, which JSON cannot hold, print as `NaN`, `+Inf`, `-Inf`.
fn write_double<W: Write>(d: f64, out: &mut W) -> std::fmt::Result {
    if d.is_nan() {
        return out.write_str("NaN");
    }
    if d.is_infinite() {
        return out.write_str(if d > 0.0 { "+Inf" } else { "-Inf" });
    }
    let abs = d.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let text = format!("{d:e}");
        match text.split_once('e') {
            Some((mantissa, exponent)) if !exponent.starts_with('-') => {
                write!(out, "{mantissa}e+{exponent}")
            }
            _ => out.write_str(&text),
        }
    } else {
        write!(out, "{d}")
    }
}

fn write_json(value: &Value, out: &mut String) {
    match value {
        Value::StringValue(s) => write_json_string(s, out),
        Value::BoolValue(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::IntValue(i) => out.push_str(itoa::Buffer::new().format(*i)),
        Value::DoubleValue(d) if d.is_finite() => {
            let _ = write_double(*d, out);
        }
        Value::DoubleValue(d) => {
            let mut s = String::new();
            let _ = write_double(*d, &mut s);
            write_json_string(&s, out);
        }
        Value::BytesValue(b) => {
            write_json_string(&base64::engine::general_purpose::STANDARD.encode(b), out)
        }
        Value::ArrayValue(array) => {
            out.push('[');
            for (i, item) in array.values.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                match &item.value {
                    Some(v) => write_json(v, out),
                    None => out.push_str("null"),
                }
            }
            out.push(']');
        }
        Value::KvlistValue(list) => {
            // Go's encoding/json, and so the Collector, sorts object keys.
            let mut entries: Vec<&KeyValue> = list.values.iter().collect();
            entries.sort_by(|a, b| a.key.cmp(&b.key));
            out.push('{');
            for (i, kv) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_string(&kv.key, out);
                out.push(':');
                match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                    Some(v) => write_json(v, out),
                    None => out.push_str("null"),
                }
            }
            out.push('}');
        }
        Value::StringValueStrindex(_) => out.push_str("null"),
    }
}

fn write_json_string(s: &str, out: &mut String) {
    // Nearly every string is printable ASCII with nothing to escape: quoted
    // as it is, without serde_json's copy of it.
    let plain =
        |b: &u8| (0x20..0x7f).contains(b) && !matches!(b, b'"' | b'\\' | b'<' | b'>' | b'&');
    if s.as_bytes().iter().all(plain) {
        out.push('"');
        out.push_str(s);
        out.push('"');
        return;
    }
    // serde_json escapes exactly as JSON requires; a str always serializes.
    let json = serde_json::to_string(s).unwrap_or_default();
    // Go's encoding/json also escapes HTML-sensitive characters.
    if json.contains(['<', '>', '&']) {
        out.push_str(
            &json
                .replace('<', "\\u003c")
                .replace('>', "\\u003e")
                .replace('&', "\\u0026"),
        );
    } else {
        out.push_str(&json);
    }
}

/// Attributes already turned into strings, for values repeated on many rows
/// (a resource's or scope's attributes): kept as pairs and as the key and
/// value columns of one map, which [`append_pairs`] appends to a row with one
/// copy per column.
#[derive(Debug, Clone, PartialEq)]
pub struct StringPairs {
    pairs: Vec<(String, String)>,
    keys: StringArray,
    values: StringArray,
}

impl Default for StringPairs {
    fn default() -> Self {
        Self::new(Vec::new())
    }
}

impl StringPairs {
    /// `pairs`, which must not repeat a key.
    pub fn new(pairs: Vec<(String, String)>) -> Self {
        let keys = StringArray::from_iter_values(pairs.iter().map(|(k, _)| k));
        let values = StringArray::from_iter_values(pairs.iter().map(|(_, v)| v));
        Self {
            pairs,
            keys,
            values,
        }
    }

    pub fn from_key_values(attributes: &[KeyValue]) -> Self {
        let mut pairs: Vec<(String, String)> = Vec::with_capacity(attributes.len());
        for kv in unique(attributes) {
            pairs.push((kv.key.clone(), value_to_string(kv.value.as_ref())));
        }
        Self::new(pairs)
    }

    /// The pairs, in the order they came.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// The attributes with duplicate keys removed, first occurrence kept. OTLP
/// forbids duplicates, but a sender may still send them, and engines reading a
/// Parquet map (DuckDB among them) reject one with duplicate keys.
fn unique(attributes: &[KeyValue]) -> impl Iterator<Item = &KeyValue> {
    // A handful of keys is checked pairwise, on cheap fingerprints first (most
    // keys of a span differ in length or in their last bytes); more go
    // through a set.
    const PAIRWISE: usize = 16;
    let mut prints = [0u64; PAIRWISE];
    let pairwise = attributes.len() <= PAIRWISE;
    if pairwise {
        for (print, kv) in prints.iter_mut().zip(attributes) {
            *print = fingerprint(kv.key.as_bytes());
        }
    }
    let mut seen: Option<HashSet<&str>> = None;
    attributes
        .iter()
        .enumerate()
        .filter(move |(i, kv)| {
            if pairwise {
                !(0..*i).any(|j| prints[j] == prints[*i] && attributes[j].key == kv.key)
            } else {
                seen.get_or_insert_with(HashSet::new)
                    .insert(kv.key.as_str())
            }
        })
        .map(|(_, kv)| kv)
}

/// Equal keys have equal fingerprints: the length and up to 8 bytes from the end.
fn fingerprint(bytes: &[u8]) -> u64 {
    let tail = &bytes[bytes.len().saturating_sub(8)..];
    let mut last = [0u8; 8];
    last[..tail.len()].copy_from_slice(tail);
    u64::from_le_bytes(last) ^ (bytes.len() as u64).rotate_left(56)
}

/// The builder of one attribute column (or of the maps inside a list column).
pub type AttributesBuilder = MapBuilder<StringBuilder, StringBuilder>;

/// A builder whose output has the type of [`map_type`].
pub fn attributes_builder() -> AttributesBuilder {
    MapBuilder::with_capacity(
        Some(map_field_names()),
        StringBuilder::with_capacity(0, MIN_BYTES),
        StringBuilder::with_capacity(0, MIN_BYTES),
        0,
    )
    .with_values_field(Field::new("value", DataType::Utf8, false))
}

/// Appends one map holding `attributes`.
pub fn append_attributes(builder: &mut AttributesBuilder, attributes: &[KeyValue]) {
    for kv in unique(attributes) {
        builder.keys().append_value(&kv.key);
        let values = builder.values();
        write_value(kv.value.as_ref(), values);
        values.append_value("");
    }
    finish_map(builder);
}

/// The builder of an attribute column read in place from checked bodies
/// ([`append_wire_attributes`]). Keys and values go in as bytes: the body's
/// check already found its strings UTF-8, and [`finish_wire_attributes`]
/// checks each column again once, whole, rather than every string as it is
/// appended (a call per key and per value, a tenth of building the rows).
pub type WireAttributesBuilder = MapBuilder<BinaryBuilder, BinaryBuilder>;

/// A builder for [`append_wire_attributes`].
pub fn wire_attributes_builder() -> WireAttributesBuilder {
    MapBuilder::with_capacity(
        Some(map_field_names()),
        BinaryBuilder::with_capacity(0, MIN_BYTES),
        BinaryBuilder::with_capacity(0, MIN_BYTES),
        0,
    )
    .with_values_field(Field::new("value", DataType::Binary, false))
}

/// The least room a string builder starts with, as arrow's `new` gives it.
/// Never none: a buffer without room has a dangling pointer, and comparing
/// the empty strings of a column that never held a byte (parquet's writer
/// does, for statistics) then reaches past a page boundary: glibc's `memcmp`
/// loads short strings with a mask, and a masked load touching a page not
/// mapped costs a microcode assist each time (a fifth of a shard's time when
/// `TraceState` and `StatusMessage` were built so; see
/// [`crate::compare::same_bytes`]).
pub const MIN_BYTES: usize = 1024;

/// Appends one map holding the attributes of `key_values`, `KeyValue`
/// messages read in place from a checked body (see
/// [`protowire`]). Values print as [`write_value`] prints
/// them; duplicate keys are dropped as [`append_attributes`] drops them.
/// `prints` is scratch space, reused from call to call.
pub fn append_wire_attributes<'a>(
    builder: &mut WireAttributesBuilder,
    key_values: impl Iterator<Item = &'a [u8]>,
    prints: &mut Vec<u64>,
) {
    let mut seen = SeenKeys {
        first: builder.keys().offsets_slice().len() - 1,
        prints,
        mask: 0,
        many: None,
    };
    seen.prints.clear();
    for bytes in key_values {
        let kv = WireKeyValue::parse(bytes);
        if seen.is_duplicate(builder.keys(), kv.key) {
            continue;
        }
        builder.keys().append_value(kv.key);
        let values = builder.values();
        kv.write_value(&mut Utf8Out(values));
        values.append_value(b"");
    }
    finish_map(builder);
}

/// Where the string form of a value read in place goes.
pub(crate) trait TextOut: Write {
    /// Writes `text`, a string field of a checked body (so UTF-8).
    fn write_checked(&mut self, text: &[u8]);
}

/// The value being appended to a binary builder, as text.
struct Utf8Out<'b>(&'b mut BinaryBuilder);

impl Write for Utf8Out<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.write_checked(s.as_bytes());
        Ok(())
    }
}

impl TextOut for Utf8Out<'_> {
    fn write_checked(&mut self, text: &[u8]) {
        // Appending to a builder's buffer cannot fail.
        let _ = std::io::Write::write_all(self.0, text);
    }
}

/// A row of a string column being written.
impl TextOut for StringBuilder {
    fn write_checked(&mut self, text: &[u8]) {
        // Writing to a builder cannot fail.
        let _ = self.write_str(protowire::as_str(text).unwrap_or_default());
    }
}

impl TextOut for String {
    fn write_checked(&mut self, text: &[u8]) {
        self.push_str(protowire::as_str(text).unwrap_or_default());
    }
}

/// Finishes an attribute column of [`append_wire_attributes`], with the type
/// of [`map_type`]; see [`WireAttributesBuilder`].
pub fn finish_wire_attributes(builder: &mut WireAttributesBuilder) -> ArrayRef {
    Arc::new(checked_map(builder.finish()))
}

/// Finishes a column of lists of attribute maps (the events' or the links')
/// built with [`append_wire_attributes`].
pub fn finish_wire_attribute_lists(builder: &mut ListBuilder<WireAttributesBuilder>) -> ArrayRef {
    let (_, offsets, maps, nulls) = builder.finish().into_parts();
    let maps = checked_map(maps.as_map().clone());
    let field = Arc::new(Field::new_list_field(map_type(), true));
    Arc::new(ListArray::new(field, offsets, Arc::new(maps), nulls))
}

/// A map of binary keys and values holding UTF-8, as a map of strings.
fn checked_map(map: MapArray) -> MapArray {
    let (_, offsets, entries, nulls, ordered) = map.into_parts();
    let (_, columns, entry_nulls) = entries.into_parts();
    let columns = columns.iter().map(checked_text).collect();
    let entries = StructArray::new(entry_fields(), columns, entry_nulls);
    MapArray::new(entries_field(), offsets, entries, nulls, ordered)
}

/// A binary column holding UTF-8 as a string column, its buffers reused: one
/// check over all its bytes. Bytes that are not UTF-8, which a checked body
/// cannot hold, become U+FFFD rather than a panic.
fn checked_text(column: &ArrayRef) -> ArrayRef {
    let binary = column.as_binary::<i32>();
    match StringArray::try_from_binary(binary.clone()) {
        Ok(text) => Arc::new(text),
        Err(_) => Arc::new(
            binary
                .iter()
                .map(|v| v.map(String::from_utf8_lossy))
                .collect::<StringArray>(),
        ),
    }
}

/// The keys of the map being appended, to drop duplicates: their
/// fingerprints, checked pairwise against the keys already in the builder;
/// past [`SeenKeys::PAIRWISE`] keys, a set.
struct SeenKeys<'p> {
    /// Where this map's keys start in the keys builder.
    first: usize,
    prints: &'p mut Vec<u64>,
    /// One bit per fingerprint seen, from its top bits: a key whose bit is
    /// clear is new without comparing it to the others.
    mask: u64,
    many: Option<HashSet<Vec<u8>>>,
}

impl SeenKeys<'_> {
    const PAIRWISE: usize = 32;

    /// Whether `key` is already in the map; if not, it counts as added.
    fn is_duplicate(&mut self, keys: &BinaryBuilder, key: &[u8]) -> bool {
        if let Some(many) = &mut self.many {
            return !many.insert(key.to_vec());
        }
        let print = fingerprint(key);
        let bit = 1u64 << (print.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 58);
        let (offsets, bytes) = (keys.offsets_slice(), keys.values_slice());
        let key_at = |i: usize| &bytes[offsets[i] as usize..offsets[i + 1] as usize];
        // Equal fingerprints are rare among distinct keys; only then are the
        // keys themselves compared.
        let first = self.first;
        if self.mask & bit != 0
            && self
                .prints
                .iter()
                .enumerate()
                .any(|(j, p)| *p == print && key_at(first + j) == key)
        {
            return true;
        }
        self.mask |= bit;
        self.prints.push(print);
        if self.prints.len() > Self::PAIRWISE {
            let earlier = (0..self.prints.len() - 1).map(|j| key_at(first + j).to_vec());
            self.many = Some(earlier.chain([key.to_vec()]).collect());
        }
        false
    }
}

/// A `KeyValue` message read in place: its last `key`, and its value when
/// it has exactly one (nearly always).
struct WireKeyValue<'a> {
    /// UTF-8, as the body was checked.
    key: &'a [u8],
    value: Option<&'a [u8]>,
    values: u32,
    bytes: &'a [u8],
}

impl<'a> WireKeyValue<'a> {
    // Once per attribute of every span: inlined into the map builder's loop.
    #[inline(always)]
    fn parse(bytes: &'a [u8]) -> Self {
        let mut kv = Self {
            key: b"",
            value: None,
            values: 0,
            bytes,
        };
        for (tag, value) in Fields::new(bytes) {
            match tag {
                1 => kv.key = value.bytes(),
                2 => {
                    kv.value = Some(value.bytes());
                    kv.values += 1;
                }
                _ => {}
            }
        }
        kv
    }

    /// The value, when it is one string: its bytes in the body, as
    /// [`write_value`](Self::write_value) would write them.
    #[inline(always)]
    fn string_value(&self) -> Option<&'a [u8]> {
        let (1, Some(value)) = (self.values, self.value) else {
            return None;
        };
        let mut fields = Fields::new(value);
        match (fields.next(), fields.next()) {
            (Some((1, text)), None) => Some(text.bytes()),
            _ => None,
        }
    }

    /// Writes the value's string form: read in place when it is one scalar,
    /// decoded with `prost` otherwise.
    fn write_value<W: TextOut>(&self, out: &mut W) {
        write_wire_any_value(self.bytes, 2, self.values, self.value, out);
    }
}

/// Writes the string form of the `AnyValue` of field `tag` of `message`, a
/// message of a checked body where the field occurs `values` times, the last
/// `value`, as [`write_value`] writes the decoded value: read in place when
/// it is one scalar, decoded with `prost` otherwise (`prost` merges the
/// occurrences).
pub(crate) fn write_wire_any_value<W: TextOut>(
    message: &[u8],
    tag: u32,
    values: u32,
    value: Option<&[u8]>,
    out: &mut W,
) {
    let value = match (values, value) {
        (0, _) => return,
        (1, Some(value)) => value,
        _ => return write_merged_value(message, tag, out),
    };
    let mut fields = Fields::new(value);
    let (field, None) = (fields.next(), fields.next()) else {
        return write_merged_value(message, tag, out);
    };
    // Writing to a String or an Arrow builder cannot fail.
    let _ = match field {
        None | Some((8, _)) => Ok(()),
        Some((1, v)) => {
            out.write_checked(v.bytes());
            Ok(())
        }
        Some((2, v)) => out.write_str(if v.int() != 0 { "true" } else { "false" }),
        Some((3, v)) => out.write_str(itoa::Buffer::new().format(v.int() as i64)),
        Some((4, v)) => write_double(f64::from_bits(v.int()), out),
        Some((7, v)) => out.write_str(&base64::engine::general_purpose::STANDARD.encode(v.bytes())),
        Some((5 | 6, _)) => {
            let mut json = String::new();
            if write_wire_json(value, &mut json) {
                out.write_str(&json)
            } else {
                write_merged_value(message, tag, out);
                Ok(())
            }
        }
        // A field this version of OTLP does not know: no value.
        Some(_) => Ok(()),
    };
}

/// Writes an `AnyValue` message read in place as [`write_json`] writes the
/// decoded value. Returns false, leaving `out` unfinished, on a value whose
/// meaning needs `prost`'s merge rules (a value with several fields, a
/// key-value with several values).
fn write_wire_json(any_value: &[u8], out: &mut String) -> bool {
    let mut fields = Fields::new(any_value);
    let (field, None) = (fields.next(), fields.next()) else {
        return false;
    };
    match field {
        None | Some((8, _)) => out.push_str("null"),
        Some((1, v)) => write_json_string(v.str(), out),
        Some((2, v)) => out.push_str(if v.int() != 0 { "true" } else { "false" }),
        Some((3, v)) => out.push_str(itoa::Buffer::new().format(v.int() as i64)),
        Some((4, v)) => {
            let d = f64::from_bits(v.int());
            if d.is_finite() {
                let _ = write_double(d, out);
            } else {
                let mut s = String::new();
                let _ = write_double(d, &mut s);
                write_json_string(&s, out);
            }
        }
        Some((5, v)) => {
            out.push('[');
            for (i, item) in occurrences(v.bytes(), 1).enumerate() {
                if i > 0 {
                    out.push(',');
                }
                if !write_wire_json(item, out) {
                    return false;
                }
            }
            out.push(']');
        }
        Some((6, v)) => {
            let mut entries = Vec::new();
            for kv in occurrences(v.bytes(), 1) {
                let kv = WireKeyValue::parse(kv);
                if kv.values > 1 {
                    return false;
                }
                entries.push(kv);
            }
            // Go's encoding/json, and so the Collector, sorts object keys.
            entries.sort_by(|a, b| a.key.cmp(b.key));
            out.push('{');
            for (i, kv) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_string(std::str::from_utf8(kv.key).unwrap_or_default(), out);
                out.push(':');
                match kv.value {
                    Some(value) if Fields::new(value).next().is_some() => {
                        if !write_wire_json(value, out) {
                            return false;
                        }
                    }
                    _ => out.push_str("null"),
                }
            }
            out.push('}');
        }
        Some((7, v)) => write_json_string(
            &base64::engine::general_purpose::STANDARD.encode(v.bytes()),
            out,
        ),
        Some(_) => out.push_str("null"),
    }
    true
}

/// The key of a `KeyValue` message of a checked body, read in place: its
/// last `key` field.
pub fn wire_key(key_value: &[u8]) -> &str {
    std::str::from_utf8(WireKeyValue::parse(key_value).key).unwrap_or_default()
}

/// Writes the string form of the value of a `KeyValue` message of a checked
/// body, read in place, to `out`, as [`write_value`] writes the decoded
/// value.
pub fn write_wire_value(key_value: &[u8], out: &mut String) {
    WireKeyValue::parse(key_value).write_value(out);
}

/// The slow path of [`WireKeyValue::write_value`]: values that need
/// `prost`'s merge rules.
fn write_merged_value<W: Write>(message: &[u8], tag: u32, out: &mut W) {
    write_value(merged::<AnyValue>(message, tag).as_ref(), out);
}

/// Appends one map holding `pairs`.
///
/// # Panics
///
/// When a column of the batch would pass 2 GiB, as `append_value` does.
pub fn append_pairs(builder: &mut AttributesBuilder, pairs: &StringPairs) {
    let overflow = "an attribute column of one batch passed 2 GiB";
    builder.keys().append_array(&pairs.keys).expect(overflow);
    builder
        .values()
        .append_array(&pairs.values)
        .expect(overflow);
    finish_map(builder);
}

fn finish_map<K: ArrayBuilder, V: ArrayBuilder>(builder: &mut MapBuilder<K, V>) {
    // Keys and values are appended in pairs above, so the map is consistent.
    builder
        .append(true)
        .expect("keys and values are appended in pairs");
}

/// Finishes an attribute column.
pub fn finish_attributes(builder: &mut AttributesBuilder) -> ArrayRef {
    Arc::new(builder.finish())
}

/// Looks up `service.name` among resource attributes, as a string.
pub fn service_name(resource_attributes: &StringPairs) -> &str {
    resource_attributes.get("service.name").unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::otlp::common::v1::{ArrayValue, KeyValueList};
    use arrow::array::Array;
    use proptest::strategy::Strategy as _;

    fn any(v: Value) -> AnyValue {
        AnyValue { value: Some(v) }
    }

    #[test]
    fn values_print_like_the_collector() {
        let cases = [
            (Value::StringValue("a\"b".into()), "a\"b"),
            (Value::BoolValue(true), "true"),
            (Value::IntValue(-42), "-42"),
            (Value::DoubleValue(0.1), "0.1"),
            (Value::DoubleValue(1e21), "1e+21"),
            (Value::DoubleValue(1e20), "100000000000000000000"),
            (Value::DoubleValue(1.5e-7), "1.5e-7"),
            (Value::DoubleValue(0.000001), "0.000001"),
            (Value::DoubleValue(-2.5e300), "-2.5e+300"),
            (Value::DoubleValue(f64::INFINITY), "+Inf"),
            (Value::BytesValue(vec![1, 2, 3]), "AQID"),
            (
                Value::ArrayValue(ArrayValue {
                    values: vec![
                        any(Value::IntValue(1)),
                        any(Value::StringValue("x".into())),
                        AnyValue { value: None },
                    ],
                }),
                r#"[1,"x",null]"#,
            ),
            (
                Value::KvlistValue(KeyValueList {
                    values: vec![
                        KeyValue {
                            key: "k".into(),
                            value: Some(any(Value::BoolValue(false))),
                            ..Default::default()
                        },
                        KeyValue {
                            key: "b".into(),
                            value: Some(any(Value::StringValue("<&>".into()))),
                            ..Default::default()
                        },
                    ],
                }),
                r#"{"b":"\u003c\u0026\u003e","k":false}"#,
            ),
            (
                // Strings that leave the quoted-as-is path, and the extremes
                // of integers.
                Value::ArrayValue(ArrayValue {
                    values: vec![
                        any(Value::StringValue("say \"hi\" \\ now".into())),
                        any(Value::StringValue("tab\there\u{1}".into())),
                        any(Value::StringValue("déjà vu".into())),
                        any(Value::StringValue(String::new())),
                        any(Value::IntValue(i64::MIN)),
                        any(Value::IntValue(i64::MAX)),
                    ],
                }),
                r#"["say \"hi\" \\ now","tab\there\u0001","déjà vu","",-9223372036854775808,9223372036854775807]"#,
            ),
            (Value::IntValue(-42), "-42"),
        ];
        for (value, expected) in cases {
            assert_eq!(
                value_to_string(Some(&any(value.clone()))),
                expected,
                "{value:?}"
            );
        }
        assert_eq!(value_to_string(None), "");
    }

    #[test]
    fn binary_columns_become_text_and_stray_bytes_replacement_characters() {
        let column: ArrayRef = Arc::new(arrow::array::BinaryArray::from(vec![
            &b"ok"[..],
            &[0xff, b'a'][..],
        ]));
        let text = checked_text(&column);
        let values: Vec<Option<&str>> = text.as_string::<i32>().iter().collect();
        assert_eq!(values, [Some("ok"), Some("\u{fffd}a")]);
    }

    #[test]
    fn appended_pairs_are_the_rows_maps() {
        let pairs = |n: usize| {
            StringPairs::new(
                (0..n)
                    .map(|i| (format!("key.{i}"), format!("value {n}.{i}")))
                    .collect(),
            )
        };
        let rows = [pairs(3), pairs(0), pairs(7), pairs(3)];
        let mut builder = attributes_builder();
        for row in &rows {
            append_pairs(&mut builder, row);
        }
        let column = finish_attributes(&mut builder);
        let maps = column.as_map();
        assert_eq!(maps.len(), rows.len());
        for (i, row) in rows.iter().enumerate() {
            let entries = maps.value(i);
            let keys = entries.column(0).as_string::<i32>();
            let values = entries.column(1).as_string::<i32>();
            let read: Vec<(String, String)> = keys
                .iter()
                .zip(values)
                .map(|(k, v)| (k.expect("a key").to_owned(), v.expect("a value").to_owned()))
                .collect();
            assert_eq!(read, row.pairs(), "row {i}");
        }
    }

    #[test]
    fn duplicate_keys_keep_the_first() {
        let kv = |k: &str, v: &str| KeyValue {
            key: k.into(),
            value: Some(any(Value::StringValue(v.into()))),
            ..Default::default()
        };
        let attrs = vec![kv("a", "1"), kv("b", "2"), kv("a", "3")];
        let pairs = StringPairs::from_key_values(&attrs);
        assert_eq!(
            pairs.pairs(),
            [("a".into(), "1".into()), ("b".into(), "2".into())]
        );
        let many: Vec<KeyValue> = (0..40)
            .map(|i| kv(&format!("k{}", i % 20), &i.to_string()))
            .collect();
        let pairs = StringPairs::from_key_values(&many);
        assert_eq!(pairs.pairs().len(), 20);
        assert_eq!(pairs.get("k3"), Some("3"));
    }

    proptest::proptest! {
        /// Few or many keys, long or short, alike at the end or not: the first
        /// of each key is kept, in order.
        #[test]
        fn unique_keeps_the_first_of_each_key(
            keys in proptest::collection::vec("(service\\.|attr\\.|)[ab]{0,10}", 0..24),
        ) {
            let attrs: Vec<KeyValue> = keys
                .iter()
                .map(|k| KeyValue { key: k.clone(), ..Default::default() })
                .collect();
            let mut expected: Vec<&str> = Vec::new();
            for k in &keys {
                if !expected.contains(&k.as_str()) {
                    expected.push(k);
                }
            }
            let kept: Vec<&str> = unique(&attrs).map(|kv| kv.key.as_str()).collect();
            proptest::prop_assert_eq!(kept, expected);
        }

        /// Read at fixed places, a `KeyValue` gives the key and string the
        /// field-by-field reading gives; and encoders' string attributes
        /// (a key, and under 128 bytes) are read so.
        #[test]
        fn string_pairs_read_as_key_values_do(
            key in "[a-z.]{0,140}",
            value in proptest::prop_oneof![
                "[ -~]{0,140}".prop_map(Value::StringValue),
                proptest::prelude::any::<i64>().prop_map(Value::IntValue),
                proptest::prelude::any::<bool>().prop_map(Value::BoolValue),
            ],
            key_strindex in proptest::prop_oneof![3 => proptest::strategy::Just(0), 1 => 1..300i32],
            tail in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..3),
        ) {
            let kv = KeyValue { key: key.clone(), value: Some(any(value.clone())), key_strindex };
            let encoded = prost::Message::encode_to_vec(&kv);
            for bytes in [&encoded[..], &[&encoded[..], &tail[..]].concat()] {
                let read = WireKeyValue::parse(bytes);
                if let Some((k, text)) = string_pair(bytes) {
                    proptest::prop_assert_eq!(k, read.key);
                    proptest::prop_assert_eq!(Some(text), read.string_value());
                }
            }
            // (An empty key is left out of the message, as proto3 leaves
            // out any default: no longer this layout.)
            if let Value::StringValue(text) = &value
                && !key.is_empty()
                && key.len() < 0x80
                && text.len() < 0x7e
                && key_strindex == 0
            {
                proptest::prop_assert_eq!(
                    string_pair(&encoded),
                    Some((key.as_bytes(), text.as_bytes()))
                );
            }
        }
    }
}
