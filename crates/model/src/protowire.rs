//! The protobuf wire format, read in place: the receivers check an OTLP
//! request as they index it ([`CheckedFields`], which [`check`] is made of)
//! and the shards read its spans' and log records' fields from the request's
//! own bytes ([`Fields`]), without building a message per record.
//!
//! [`check`] accepts exactly what `prost` accepts for the message it is given
//! a [`Schema`] of: varints of at most ten bytes, known fields with their
//! declared wire type (repeated scalars packed or not), UTF-8 strings,
//! unknown fields (groups included) skipped,
//! and messages nested at most [`RECURSION_LIMIT`] deep. So a body that passes
//! always decodes with `prost` too, and the other way round.

use std::fmt;

/// How deep messages may nest: `prost`'s limit, so both refuse the same bodies.
pub const RECURSION_LIMIT: u32 = 100;

/// Why a body is not a valid protobuf message; the text follows `prost`'s,
/// naming the message and field where [`check`] knows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireError {
    reason: &'static str,
    /// The message type and tag of the field at fault.
    field: Option<(&'static str, u32)>,
}

impl WireError {
    pub(crate) fn new(reason: &'static str) -> Self {
        Self {
            reason,
            field: None,
        }
    }

    fn at(schema: &Schema, tag: u32, reason: &'static str) -> Self {
        Self {
            reason,
            field: Some((schema.name, tag)),
        }
    }
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.field {
            Some((message, tag)) => write!(f, "{message} field {tag}: {}", self.reason),
            None => f.write_str(self.reason),
        }
    }
}

impl std::error::Error for WireError {}

/// A field's value as the wire carries it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'a [u8]),
    Fixed32(u32),
}

impl<'a> Value<'a> {
    /// The bytes of a length-delimited field, empty for any other.
    #[inline]
    pub fn bytes(self) -> &'a [u8] {
        match self {
            Self::Bytes(b) => b,
            _ => &[],
        }
    }

    /// The text of a string field. Only for checked bodies, where every
    /// string field is UTF-8; anything else reads as empty.
    #[inline]
    pub fn str(self) -> &'a str {
        as_str(self.bytes()).unwrap_or("")
    }

    /// A varint or fixed-width field as an integer (0 for bytes).
    #[inline]
    pub fn int(self) -> u64 {
        match self {
            Self::Varint(v) | Self::Fixed64(v) => v,
            Self::Fixed32(v) => u64::from(v),
            Self::Bytes(_) => 0,
        }
    }
}

const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const BYTES: u8 = 2;
const START_GROUP: u8 = 3;
const END_GROUP: u8 = 4;
const FIXED32: u8 = 5;

/// The fields of one message, in wire order. Groups (a deprecated encoding no
/// OTLP field uses) are skipped.
#[derive(Debug, Clone)]
pub struct Fields<'a> {
    buf: &'a [u8],
}

impl<'a> Fields<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    /// The bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.buf.len()
    }

    // One byte is the common case: inlined wherever fields are read.
    #[inline(always)]
    fn varint(&mut self) -> Result<u64, WireError> {
        // Tags and lengths mostly fit one byte.
        match self.buf.split_first() {
            Some((&byte, rest)) if byte < 0x80 => {
                self.buf = rest;
                Ok(u64::from(byte))
            }
            _ => self.long_varint(),
        }
    }

    fn long_varint(&mut self) -> Result<u64, WireError> {
        let mut value = 0u64;
        for i in 0..10 {
            let Some((&byte, rest)) = self.buf.split_first() else {
                return Err(WireError::new("buffer underflow"));
            };
            self.buf = rest;
            // The tenth byte may only hold the 64th bit.
            if i == 9 && byte > 1 {
                return Err(WireError::new("invalid varint"));
            }
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte < 0x80 {
                return Ok(value);
            }
        }
        Err(WireError::new("invalid varint"))
    }

    #[inline]
    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if n > self.buf.len() {
            return Err(WireError::new("buffer underflow"));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    #[inline]
    fn key(&mut self) -> Result<(u32, u8), WireError> {
        let key = self.varint()?;
        let key = u32::try_from(key).map_err(|_| WireError::new("invalid key value"))?;
        let wire_type = (key & 7) as u8;
        if wire_type > FIXED32 {
            return Err(WireError::new("invalid wire type value"));
        }
        let tag = key >> 3;
        if tag == 0 {
            return Err(WireError::new("invalid tag value: 0"));
        }
        Ok((tag, wire_type))
    }

    /// Skips a field of an unknown tag (a group through its end tag). `level`
    /// counts the messages and groups around it, as `prost` counts them.
    fn skip_field(&mut self, tag: u32, wire_type: u8, level: u32) -> Result<(), WireError> {
        if level >= RECURSION_LIMIT {
            return Err(WireError::new("recursion limit reached"));
        }
        match wire_type {
            START_GROUP => loop {
                let (inner, inner_type) = self.key()?;
                if inner_type == END_GROUP {
                    return if inner == tag {
                        Ok(())
                    } else {
                        Err(WireError::new("unexpected end group tag"))
                    };
                }
                self.skip_field(inner, inner_type, level + 1)?;
            },
            END_GROUP => Err(WireError::new("unexpected end group tag")),
            _ => self.value(wire_type).map(|_| ()),
        }
    }

    // Inlined into `check`'s loop: a call per field cost 12% of the decode.
    #[inline(always)]
    fn value(&mut self, wire_type: u8) -> Result<Value<'a>, WireError> {
        Ok(match wire_type {
            VARINT => Value::Varint(self.varint()?),
            FIXED64 => Value::Fixed64(u64::from_le_bytes(
                self.take(8)?.try_into().expect("took 8 bytes"),
            )),
            FIXED32 => Value::Fixed32(u32::from_le_bytes(
                self.take(4)?.try_into().expect("took 4 bytes"),
            )),
            _ => {
                let len = self.varint()?;
                let len = usize::try_from(len).map_err(|_| WireError::new("buffer underflow"))?;
                Value::Bytes(self.take(len)?)
            }
        })
    }

    /// The next field, or `None` at the end of the message.
    #[inline]
    pub fn next_field(&mut self) -> Result<Option<(u32, Value<'a>)>, WireError> {
        loop {
            if self.buf.is_empty() {
                return Ok(None);
            }
            let (tag, wire_type) = self.key()?;
            match wire_type {
                START_GROUP | END_GROUP => self.skip_field(tag, wire_type, 0)?,
                _ => return Ok(Some((tag, self.value(wire_type)?))),
            }
        }
    }
}

// The iterator's readers repeat `varint` and `take` without `Result`s. Sharing
// one copy between both paths was measured (criterion, `ingest/*`): the
// receivers' check got faster, building Arrow rows slower; they stay apart.
impl<'a> Fields<'a> {
    /// [`varint`](Self::varint) for [`Iterator::next`]: `None` where it fails.
    #[inline(always)]
    fn quick_varint(&mut self) -> Option<u64> {
        let (&byte, rest) = self.buf.split_first()?;
        if byte < 0x80 {
            self.buf = rest;
            return Some(u64::from(byte));
        }
        self.long_varint().ok()
    }

    #[inline(always)]
    fn quick_take(&mut self, n: u64) -> Option<&'a [u8]> {
        let n = usize::try_from(n).ok()?;
        if n > self.buf.len() {
            return None;
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Some(head)
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = (u32, Value<'a>);

    /// Fields of a checked body; stops at the first malformed byte, as
    /// [`next_field`](Self::next_field) would fail there. The readers of
    /// spans call this for every field: it goes without `Result`s, whose
    /// large error type the hot loops would otherwise carry around. Inlined
    /// into those loops, with its varint and take.
    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let key = u32::try_from(self.quick_varint()?).ok()?;
            let (tag, wire_type) = (key >> 3, (key & 7) as u8);
            if tag == 0 {
                return None;
            }
            let value = match wire_type {
                VARINT => Value::Varint(self.quick_varint()?),
                FIXED64 => Value::Fixed64(u64::from_le_bytes(self.quick_take(8)?.try_into().ok()?)),
                FIXED32 => Value::Fixed32(u32::from_le_bytes(self.quick_take(4)?.try_into().ok()?)),
                BYTES => {
                    let len = self.quick_varint()?;
                    Value::Bytes(self.quick_take(len)?)
                }
                START_GROUP => {
                    self.skip_field(tag, wire_type, 0).ok()?;
                    continue;
                }
                _ => return None,
            };
            return Some((tag, value));
        }
    }
}

/// The values of field `tag` in a checked message, in order.
pub fn occurrences(message: &[u8], tag: u32) -> impl Iterator<Item = &[u8]> + Clone {
    Occurrences {
        fields: Fields::new(message),
        tag,
    }
}

/// The iterator of [`occurrences`]: a filter of its own, so that its loop
/// inlines into the readers (std's `Filter` left a call per item).
#[derive(Clone)]
struct Occurrences<'a> {
    fields: Fields<'a>,
    tag: u32,
}

impl<'a> Iterator for Occurrences<'a> {
    type Item = &'a [u8];

    #[inline(always)]
    fn next(&mut self) -> Option<&'a [u8]> {
        loop {
            let (tag, value) = self.fields.next()?;
            if tag == self.tag {
                return Some(value.bytes());
            }
        }
    }
}

/// The message of singular field `tag` of a checked message, its
/// occurrences merged as `prost` merges them; `None` when the field is absent.
pub fn merged<M: prost::Message + Default>(message: &[u8], tag: u32) -> Option<M> {
    let mut out: Option<M> = None;
    for bytes in occurrences(message, tag) {
        let target = out.get_or_insert_with(M::default);
        // The body was checked, with a smaller nesting budget than prost's.
        if let Err(error) = target.merge(bytes) {
            debug_assert!(false, "a checked message failed to decode: {error}");
        }
    }
    out
}

/// How many values repeated 64-bit field `tag` ([`Kind::PackedFixed64`])
/// holds in a checked message: packed runs and single values alike, as
/// `prost` appends them all.
pub fn fixed64_count(message: &[u8], tag: u32) -> usize {
    Fields::new(message)
        .filter(|(t, _)| *t == tag)
        .map(|(_, value)| match value {
            Value::Bytes(run) => run.len() / 8,
            _ => 1,
        })
        .sum()
}

/// What a field of a [`Schema`] holds.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// Any varint scalar: integers, enums, booleans.
    Varint,
    Fixed32,
    Fixed64,
    Bytes,
    /// A string: must be UTF-8.
    Str,
    /// A nested message.
    Message(&'static Schema),
    /// A repeated varint scalar: packed (one length-delimited run of
    /// varints, the wire type it is declared with) or one value a field, as
    /// `prost` reads either.
    PackedVarint,
    /// A repeated 64-bit scalar (`fixed64`, `double`), packed or not.
    PackedFixed64,
}

impl Kind {
    const fn wire_type(self) -> u8 {
        match self {
            Self::Varint => VARINT,
            Self::Fixed32 => FIXED32,
            Self::Fixed64 => FIXED64,
            Self::Bytes
            | Self::Str
            | Self::Message(_)
            | Self::PackedVarint
            | Self::PackedFixed64 => BYTES,
        }
    }

    /// Whether `wire_type` is this repeated scalar's element type: one
    /// element, not packed.
    fn takes_unpacked(self, wire_type: u8) -> bool {
        matches!(
            (self, wire_type),
            (Self::PackedVarint, VARINT) | (Self::PackedFixed64, FIXED64)
        )
    }
}

/// Checks `run`, the packed run of field `tag` (of `kind`, a repeated
/// scalar) of a `schema` message, as `prost` reads it: whole 64-bit values,
/// or whole valid varints. Apart from the check's loop, which the scalars
/// of the other messages go through.
#[inline(never)]
fn check_run(schema: &Schema, tag: u32, kind: Kind, run: &[u8]) -> Result<(), WireError> {
    match kind {
        Kind::PackedFixed64 if !run.len().is_multiple_of(8) => {
            Err(WireError::at(schema, tag, "buffer underflow"))
        }
        Kind::PackedVarint => {
            let mut varints = Fields::new(run);
            while varints.remaining() > 0 {
                if varints.varint().is_err() {
                    return Err(WireError::at(schema, tag, "invalid varint"));
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// The known fields of a message type, by tag.
#[derive(Debug)]
pub struct Schema {
    pub name: &'static str,
    pub fields: &'static [(u32, Kind)],
    /// For each one-byte key (a tag below 16 and a wire type), one past the
    /// index in `fields` of the field it is the key of with the field's own
    /// wire type, 0 for any other key: the readers take nearly every field
    /// by one lookup here, not decoding the key, finding the field and
    /// comparing wire types.
    by_key: [u8; 128],
}

impl Schema {
    pub const fn new(name: &'static str, fields: &'static [(u32, Kind)]) -> Self {
        let mut by_key = [0; 128];
        let mut i = 0;
        while i < fields.len() {
            let (tag, kind) = fields[i];
            if tag < 16 {
                by_key[(tag << 3) as usize | kind.wire_type() as usize] = i as u8 + 1;
            }
            i += 1;
        }
        Self {
            name,
            fields,
            by_key,
        }
    }

    /// The field whose one-byte key opens `buf`, when it is one with its
    /// declared wire type: see `by_key`.
    #[inline(always)]
    fn field_at(&self, buf: &[u8]) -> Option<(u32, Kind)> {
        let &key = buf.first()?;
        let slot = *self.by_key.get(usize::from(key))?;
        (slot != 0).then(|| self.fields[usize::from(slot) - 1])
    }

    fn kind(&self, tag: u32) -> Option<Kind> {
        // Tables list tags in order, mostly from 1 without gaps: look where
        // the tag would be first.
        let at = (tag as usize).wrapping_sub(1);
        match self.fields.get(at) {
            Some((t, kind)) if *t == tag => Some(*kind),
            _ => self
                .fields
                .iter()
                .find(|(t, _)| *t == tag)
                .map(|(_, kind)| *kind),
        }
    }
}

/// Checks that `buf` is a valid `schema` message nested `depth` messages deep
/// (0 for the outermost), as `prost` would decode it.
pub fn check(buf: &[u8], schema: &Schema, depth: u32) -> Result<(), WireError> {
    let mut fields = CheckedFields::new(buf, schema, depth);
    while let Some(field) = fields.next()? {
        field.check_nested()?;
    }
    Ok(())
}

/// The known fields of a `schema` message nested `depth` deep, each checked
/// as [`check`] checks it as it is read: its wire type, a string's UTF-8,
/// the nesting limit (unknown fields are skipped, as `check` skips them).
/// A message a field holds is the reader's to check, with
/// [`Field::check_nested`] or by reading it with `CheckedFields` in turn.
/// So a reader that needs a message's fields (the receivers' index of
/// spans) reads them in the check's own pass instead of walking the body
/// again, and meets the first fault in the body's order, as `check` does.
#[derive(Debug)]
pub struct CheckedFields<'a, 's> {
    buf: &'a [u8],
    fields: Fields<'a>,
    schema: &'s Schema,
    depth: u32,
}

/// A known field read by [`CheckedFields`].
#[derive(Debug, Clone, Copy)]
pub struct Field<'a> {
    pub tag: u32,
    pub value: Value<'a>,
    /// Where the field, key and value, lies in its message.
    pub start: usize,
    pub end: usize,
    /// How deep a message the field holds lies.
    pub depth: u32,
    /// The schema of a message the field holds.
    nested: Option<&'static Schema>,
}

impl<'a, 's> CheckedFields<'a, 's> {
    pub fn new(buf: &'a [u8], schema: &'s Schema, depth: u32) -> Self {
        Self {
            buf,
            fields: Fields::new(buf),
            schema,
            depth,
        }
    }

    /// The next known field, `None` at the end of the message.
    #[inline(always)]
    #[allow(clippy::should_implement_trait)] // fallible: not an `Iterator`
    pub fn next(&mut self) -> Result<Option<Field<'a>>, WireError> {
        let fields = &mut self.fields;
        loop {
            if fields.buf.is_empty() {
                return Ok(None);
            }
            let start = self.buf.len() - fields.buf.len();
            let (tag, kind) = match self.schema.field_at(fields.buf) {
                Some(known) => {
                    fields.buf = &fields.buf[1..];
                    known
                }
                None => {
                    let (tag, wire_type) = fields.key()?;
                    let Some(kind) = self.schema.kind(tag) else {
                        fields.skip_field(tag, wire_type, self.depth)?;
                        continue;
                    };
                    if kind.wire_type() != wire_type {
                        if !kind.takes_unpacked(wire_type) {
                            return Err(WireError::at(self.schema, tag, "invalid wire type"));
                        }
                        // One element of a repeated scalar: nothing more to
                        // check.
                        return Ok(Some(Field {
                            tag,
                            value: fields.value(wire_type)?,
                            start,
                            end: self.buf.len() - fields.buf.len(),
                            depth: self.depth + 1,
                            nested: None,
                        }));
                    }
                    (tag, kind)
                }
            };
            let value = fields.value(kind.wire_type())?;
            let nested = match kind {
                Kind::Str if !is_utf8(value.bytes()) => {
                    return Err(WireError::at(
                        self.schema,
                        tag,
                        "invalid string value: data is not UTF-8 encoded",
                    ));
                }
                Kind::Message(_) if self.depth >= RECURSION_LIMIT => {
                    return Err(WireError::at(self.schema, tag, "recursion limit reached"));
                }
                Kind::Message(inner) => Some(inner),
                Kind::PackedFixed64 | Kind::PackedVarint => {
                    check_run(self.schema, tag, kind, value.bytes())?;
                    None
                }
                _ => None,
            };
            return Ok(Some(Field {
                tag,
                value,
                start,
                end: self.buf.len() - fields.buf.len(),
                depth: self.depth + 1,
                nested,
            }));
        }
    }
}

impl Field<'_> {
    /// Checks the message this field holds (nothing for other fields).
    #[inline(always)]
    pub fn check_nested(&self) -> Result<(), WireError> {
        let Some(inner) = self.nested else {
            return Ok(());
        };
        let bytes = self.value.bytes();
        if std::ptr::eq(inner, &otlp::KEY_VALUE) && is_plain_key_value(bytes, self.depth) {
            return Ok(());
        }
        check(bytes, inner, self.depth)
    }
}

/// The key and string of `key_value`, a `KeyValue` message with a string
/// value, when it is laid out as encoders write one (its key, then its value
/// holding the string alone, each length one byte): read at fixed places
/// rather than field by field, by the receivers' check and the interned
/// attribute maps. `None` for any other, which the field-by-field readers
/// take (`WireKeyValue::parse` in `attributes`); where this reads a pair,
/// they read the same.
#[inline(always)]
pub(crate) fn string_pair(key_value: &[u8]) -> Option<(&[u8], &[u8])> {
    // `KeyValue.key` (field 1), then `.value` (2) of an `AnyValue` whose
    // `string_value` (1) ends the message; lengths below 0x80 are one byte.
    let [0x0a, key_len, ref rest @ ..] = *key_value else {
        return None;
    };
    let key_len = usize::from(key_len);
    if key_len >= 0x80 || rest.len() < key_len {
        return None;
    }
    let (key, value) = rest.split_at(key_len);
    let [0x12, value_len, 0x0a, text_len, ref text @ ..] = *value else {
        return None;
    };
    let (value_len, text_len) = (usize::from(value_len), usize::from(text_len));
    (value_len < 0x80 && value_len == text.len() + 2 && text_len == text.len())
        .then_some((key, text))
}

/// Whether `buf`, a `KeyValue` nested `depth` messages deep, is valid with
/// a key and a scalar value only (nearly every attribute): checked in one
/// loop here, where [`check`] takes a call and a schema lookup for each of
/// the `KeyValue` and its `AnyValue` (this path took the decode of the
/// `instructions` bench from 316.9M to 272.5M instructions).
/// `false` says only that `check` must judge it (and name any fault): this
/// returns true for nothing `check` would refuse.
#[inline(always)]
fn is_plain_key_value(buf: &[u8], depth: u32) -> bool {
    // The AnyValue one level further down must be within the limit.
    if depth >= RECURSION_LIMIT {
        return false;
    }
    // Laid out as encoders write a string attribute, its framing bytes are
    // ASCII: the whole message is UTF-8 exactly when its key and string are.
    if string_pair(buf).is_some() {
        return is_utf8(buf);
    }
    each_field(buf, |fields, key| match key {
        // key
        (1, BYTES) => fields.value(BYTES).is_ok_and(|v| is_utf8(v.bytes())),
        // value
        (2, BYTES) => fields
            .value(BYTES)
            .is_ok_and(|v| is_plain_any_value(v.bytes())),
        // key_strindex
        (3, VARINT) => fields.value(VARINT).is_ok(),
        _ => false,
    })
}

/// Whether `buf`, an `AnyValue`, is valid and holds scalars only; see
/// [`is_plain_key_value`].
#[inline(always)]
fn is_plain_any_value(buf: &[u8]) -> bool {
    each_field(buf, |fields, key| match key {
        // string_value
        (1, BYTES) => fields.value(BYTES).is_ok_and(|v| is_utf8(v.bytes())),
        // bool_value, int_value, string_value_strindex
        (2 | 3 | 8, VARINT) => fields.value(VARINT).is_ok(),
        // double_value
        (4, FIXED64) => fields.value(FIXED64).is_ok(),
        // bytes_value
        (7, BYTES) => fields.value(BYTES).is_ok(),
        _ => false,
    })
}

/// Whether every field of `buf` reads and passes `valid`, which reads the
/// field's value from `fields` after its key.
#[inline(always)]
fn each_field(buf: &[u8], mut valid: impl FnMut(&mut Fields, (u32, u8)) -> bool) -> bool {
    let mut fields = Fields::new(buf);
    while !fields.buf.is_empty() {
        match fields.key() {
            Ok(key) if valid(&mut fields, key) => {}
            _ => return false,
        }
    }
    true
}

/// Whether `bytes` are UTF-8. Nearly every string of telemetry is ASCII,
/// short (keys, names, ids of services): checked a word at a time first,
/// which costs a fraction of the full check's set-up for each string.
#[inline(always)]
fn is_utf8(bytes: &[u8]) -> bool {
    is_ascii(bytes) || std::str::from_utf8(bytes).is_ok()
}

/// `bytes` as a string if they are UTF-8: the short ASCII strings of
/// telemetry (a span's name, read by the shards for every span) without the
/// set-up of std's full check (`from_utf8` took 155 instructions a span's
/// name; callgrind, `instructions` bench).
#[inline]
pub fn as_str(bytes: &[u8]) -> Option<&str> {
    if is_ascii(bytes) {
        // SAFETY: ASCII bytes are UTF-8.
        #[allow(unsafe_code)]
        return Some(unsafe { std::str::from_utf8_unchecked(bytes) });
    }
    std::str::from_utf8(bytes).ok()
}

/// Whether `bytes` are ASCII, for the short strings of telemetry: whole
/// words, the last one overlapping the one before, where std's check goes
/// byte by byte past the last aligned word (54 of the 117 instructions the
/// check of one of the load generator's span attributes took; callgrind,
/// `instructions` bench). Long strings go to std's.
#[inline(always)]
fn is_ascii(bytes: &[u8]) -> bool {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    const LONG: usize = 64;
    let len = bytes.len();
    let word = |at: usize| {
        let word: [u8; 8] = bytes[at..at + 8].try_into().expect("8 bytes");
        u64::from_le_bytes(word)
    };
    match len {
        0..4 => bytes.iter().all(u8::is_ascii),
        4..8 => {
            let half = |at: usize| {
                let half: [u8; 4] = bytes[at..at + 4].try_into().expect("4 bytes");
                u32::from_le_bytes(half)
            };
            (half(0) | half(len - 4)) & 0x8080_8080 == 0
        }
        8..=LONG => {
            let mut high = word(len - 8);
            let mut at = 0;
            while at + 8 < len {
                high |= word(at);
                at += 8;
            }
            high & HIGH == 0
        }
        _ => bytes.is_ascii(),
    }
}

/// The schemas of the OTLP trace, log and metric messages
/// (`opentelemetry-proto` 1.x).
pub mod otlp {
    use super::Kind::{Bytes, Fixed32, Fixed64, Message, PackedFixed64, PackedVarint, Str, Varint};
    use super::Schema;

    pub static ANY_VALUE: Schema = Schema::new(
        "AnyValue",
        &[
            (1, Str),
            (2, Varint),
            (3, Varint),
            (4, Fixed64),
            (5, Message(&ARRAY_VALUE)),
            (6, Message(&KEY_VALUE_LIST)),
            (7, Bytes),
            (8, Varint),
        ],
    );
    pub static ARRAY_VALUE: Schema = Schema::new("ArrayValue", &[(1, Message(&ANY_VALUE))]);
    pub static KEY_VALUE_LIST: Schema = Schema::new("KeyValueList", &[(1, Message(&KEY_VALUE))]);
    pub static KEY_VALUE: Schema = Schema::new(
        "KeyValue",
        &[(1, Str), (2, Message(&ANY_VALUE)), (3, Varint)],
    );
    pub static ENTITY_REF: Schema =
        Schema::new("EntityRef", &[(1, Str), (2, Str), (3, Str), (4, Str)]);
    pub static RESOURCE: Schema = Schema::new(
        "Resource",
        &[
            (1, Message(&KEY_VALUE)),
            (2, Varint),
            (3, Message(&ENTITY_REF)),
        ],
    );
    pub static SCOPE: Schema = Schema::new(
        "InstrumentationScope",
        &[(1, Str), (2, Str), (3, Message(&KEY_VALUE)), (4, Varint)],
    );
    pub static EVENT: Schema = Schema::new(
        "Span.Event",
        &[
            (1, Fixed64),
            (2, Str),
            (3, Message(&KEY_VALUE)),
            (4, Varint),
        ],
    );
    pub static LINK: Schema = Schema::new(
        "Span.Link",
        &[
            (1, Bytes),
            (2, Bytes),
            (3, Str),
            (4, Message(&KEY_VALUE)),
            (5, Varint),
            (6, Fixed32),
        ],
    );
    pub static STATUS: Schema = Schema::new("Status", &[(2, Str), (3, Varint)]);
    pub static SPAN: Schema = Schema::new(
        "Span",
        &[
            (1, Bytes),
            (2, Bytes),
            (3, Str),
            (4, Bytes),
            (5, Str),
            (6, Varint),
            (7, Fixed64),
            (8, Fixed64),
            (9, Message(&KEY_VALUE)),
            (10, Varint),
            (11, Message(&EVENT)),
            (12, Varint),
            (13, Message(&LINK)),
            (14, Varint),
            (15, Message(&STATUS)),
            (16, Fixed32),
        ],
    );
    pub static SCOPE_SPANS: Schema = Schema::new(
        "ScopeSpans",
        &[(1, Message(&SCOPE)), (2, Message(&SPAN)), (3, Str)],
    );
    pub static RESOURCE_SPANS: Schema = Schema::new(
        "ResourceSpans",
        &[
            (1, Message(&RESOURCE)),
            (2, Message(&SCOPE_SPANS)),
            (3, Str),
        ],
    );
    pub static EXPORT_TRACE_REQUEST: Schema = Schema::new(
        "ExportTraceServiceRequest",
        &[(1, Message(&RESOURCE_SPANS))],
    );
    pub static LOG_RECORD: Schema = Schema::new(
        "LogRecord",
        &[
            (1, Fixed64),
            (2, Varint),
            (3, Str),
            (5, Message(&ANY_VALUE)),
            (6, Message(&KEY_VALUE)),
            (7, Varint),
            (8, Fixed32),
            (9, Bytes),
            (10, Bytes),
            (11, Fixed64),
            (12, Str),
        ],
    );
    pub static SCOPE_LOGS: Schema = Schema::new(
        "ScopeLogs",
        &[(1, Message(&SCOPE)), (2, Message(&LOG_RECORD)), (3, Str)],
    );
    pub static RESOURCE_LOGS: Schema = Schema::new(
        "ResourceLogs",
        &[(1, Message(&RESOURCE)), (2, Message(&SCOPE_LOGS)), (3, Str)],
    );
    pub static EXPORT_LOGS_REQUEST: Schema =
        Schema::new("ExportLogsServiceRequest", &[(1, Message(&RESOURCE_LOGS))]);
    pub static EXEMPLAR: Schema = Schema::new(
        "Exemplar",
        &[
            (2, Fixed64),
            (3, Fixed64),
            (4, Bytes),
            (5, Bytes),
            (6, Fixed64),
            (7, Message(&KEY_VALUE)),
        ],
    );
    pub static NUMBER_DATA_POINT: Schema = Schema::new(
        "NumberDataPoint",
        &[
            (2, Fixed64),
            (3, Fixed64),
            (4, Fixed64),
            (5, Message(&EXEMPLAR)),
            (6, Fixed64),
            (7, Message(&KEY_VALUE)),
            (8, Varint),
        ],
    );
    pub static HISTOGRAM_DATA_POINT: Schema = Schema::new(
        "HistogramDataPoint",
        &[
            (2, Fixed64),
            (3, Fixed64),
            (4, Fixed64),
            (5, Fixed64),
            (6, PackedFixed64),
            (7, PackedFixed64),
            (8, Message(&EXEMPLAR)),
            (9, Message(&KEY_VALUE)),
            (10, Varint),
            (11, Fixed64),
            (12, Fixed64),
        ],
    );
    pub static BUCKETS: Schema = Schema::new(
        "ExponentialHistogramDataPoint.Buckets",
        &[(1, Varint), (2, PackedVarint)],
    );
    pub static EXPONENTIAL_HISTOGRAM_DATA_POINT: Schema = Schema::new(
        "ExponentialHistogramDataPoint",
        &[
            (1, Message(&KEY_VALUE)),
            (2, Fixed64),
            (3, Fixed64),
            (4, Fixed64),
            (5, Fixed64),
            (6, Varint),
            (7, Fixed64),
            (8, Message(&BUCKETS)),
            (9, Message(&BUCKETS)),
            (10, Varint),
            (11, Message(&EXEMPLAR)),
            (12, Fixed64),
            (13, Fixed64),
            (14, Fixed64),
        ],
    );
    pub static VALUE_AT_QUANTILE: Schema = Schema::new(
        "SummaryDataPoint.ValueAtQuantile",
        &[(1, Fixed64), (2, Fixed64)],
    );
    pub static SUMMARY_DATA_POINT: Schema = Schema::new(
        "SummaryDataPoint",
        &[
            (2, Fixed64),
            (3, Fixed64),
            (4, Fixed64),
            (5, Fixed64),
            (6, Message(&VALUE_AT_QUANTILE)),
            (7, Message(&KEY_VALUE)),
            (8, Varint),
        ],
    );
    pub static GAUGE: Schema = Schema::new("Gauge", &[(1, Message(&NUMBER_DATA_POINT))]);
    pub static SUM: Schema = Schema::new(
        "Sum",
        &[(1, Message(&NUMBER_DATA_POINT)), (2, Varint), (3, Varint)],
    );
    pub static HISTOGRAM: Schema = Schema::new(
        "Histogram",
        &[(1, Message(&HISTOGRAM_DATA_POINT)), (2, Varint)],
    );
    pub static EXPONENTIAL_HISTOGRAM: Schema = Schema::new(
        "ExponentialHistogram",
        &[(1, Message(&EXPONENTIAL_HISTOGRAM_DATA_POINT)), (2, Varint)],
    );
    pub static SUMMARY: Schema = Schema::new("Summary", &[(1, Message(&SUMMARY_DATA_POINT))]);
    pub static METRIC: Schema = Schema::new(
        "Metric",
        &[
            (1, Str),
            (2, Str),
            (3, Str),
            (5, Message(&GAUGE)),
            (7, Message(&SUM)),
            (9, Message(&HISTOGRAM)),
            (10, Message(&EXPONENTIAL_HISTOGRAM)),
            (11, Message(&SUMMARY)),
            (12, Message(&KEY_VALUE)),
        ],
    );
    pub static SCOPE_METRICS: Schema = Schema::new(
        "ScopeMetrics",
        &[(1, Message(&SCOPE)), (2, Message(&METRIC)), (3, Str)],
    );
    pub static RESOURCE_METRICS: Schema = Schema::new(
        "ResourceMetrics",
        &[
            (1, Message(&RESOURCE)),
            (2, Message(&SCOPE_METRICS)),
            (3, Str),
        ],
    );
    pub static EXPORT_METRICS_REQUEST: Schema = Schema::new(
        "ExportMetricsServiceRequest",
        &[(1, Message(&RESOURCE_METRICS))],
    );
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;
    use crate::otlp::trace::v1::Span;

    /// `check` and prost agree on `bytes` as a span.
    fn agrees(bytes: &[u8]) -> bool {
        let ours = check(bytes, &otlp::SPAN, 0);
        let theirs = Span::decode(bytes);
        ours.is_ok() == theirs.is_ok()
    }

    #[test]
    fn edge_cases_of_the_wire_format_are_judged_as_prost_judges_them() {
        let cases: &[(&str, &[u8], bool)] = &[
            ("empty", &[], true),
            (
                "a ten-byte varint",
                &[
                    0x30, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
                ],
                true,
            ),
            (
                "a varint past 64 bits",
                &[
                    0x30, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02,
                ],
                false,
            ),
            (
                "an eleven-byte varint",
                &[
                    0x30, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x80, 0x00,
                ],
                false,
            ),
            ("a truncated varint", &[0x30, 0xff], false),
            ("tag 0", &[0x00, 0x01], false),
            ("wire type 6", &[0x0e], false),
            ("wire type 7", &[0x0f], false),
            (
                "a key past 32 bits",
                &[0x80, 0x80, 0x80, 0x80, 0x10, 0x00],
                false,
            ),
            (
                "a known field of the wrong wire type",
                &[0x0d, 0, 0, 0, 0],
                false,
            ),
            ("a name that is not UTF-8", &[0x2a, 0x02, 0xc3, 0x28], false),
            ("a length past the end", &[0x0a, 0x05, 0x01], false),
            ("a fixed64 cut short", &[0x39, 0x01, 0x02], false),
            ("a stray end group", &[0x0c], false),
            ("an unknown field", &[0xf8, 0x07, 0x05], true),
            ("an unknown empty group", &[0xfb, 0x07, 0xfc, 0x07], true),
            (
                "a group ended by another tag",
                &[0xfb, 0x07, 0xf4, 0x07],
                false,
            ),
            ("an unterminated group", &[0xfb, 0x07, 0x08, 0x01], false),
            // Attributes laid out as encoders write string attributes (the
            // path of `string_pair`).
            (
                "a string attribute",
                &[
                    0x4a, 0x0b, 0x0a, 0x03, b'k', b'e', b'y', 0x12, 0x04, 0x0a, 0x02, b'o', b'k',
                ],
                true,
            ),
            (
                "a string attribute, its key not ASCII",
                &[
                    0x4a, 0x0c, 0x0a, 0x04, b'd', 0xc3, 0xa9, b'j', 0x12, 0x04, 0x0a, 0x02, b'o',
                    b'k',
                ],
                true,
            ),
            (
                "a string attribute, its key not UTF-8",
                &[
                    0x4a, 0x0a, 0x0a, 0x02, 0xc3, 0x28, 0x12, 0x04, 0x0a, 0x02, b'o', b'k',
                ],
                false,
            ),
            (
                "a string attribute, its string not UTF-8",
                &[
                    0x4a, 0x0b, 0x0a, 0x03, b'k', b'e', b'y', 0x12, 0x04, 0x0a, 0x02, 0xc3, 0x28,
                ],
                false,
            ),
        ];
        for (name, bytes, valid) in cases {
            assert_eq!(check(bytes, &otlp::SPAN, 0).is_ok(), *valid, "{name}");
            assert!(agrees(bytes), "{name}: prost disagrees");
        }
    }

    #[test]
    fn strings_are_read_as_std_reads_them() {
        let cases: [&[u8]; 6] = [
            b"",
            b"GET /cart",
            "caf\u{e9}".as_bytes(),
            &[0xc3, 0x28],
            &[b'a'; 70],
            &[0xff; 9],
        ];
        for bytes in cases {
            assert_eq!(as_str(bytes), std::str::from_utf8(bytes).ok(), "{bytes:?}");
        }
    }

    /// The word-wise check reads every byte: a byte past 0x7f at each place
    /// of strings of every length up to past the long ones.
    #[test]
    fn every_place_of_a_high_byte_is_seen() {
        for len in 0..80 {
            for at in 0..len {
                let mut bytes = vec![b'a'; len];
                bytes[at] = 0x80;
                assert!(!is_ascii(&bytes), "{len} bytes, 0x80 at {at}");
            }
            assert!(is_ascii(&vec![b'a'; len]), "{len} bytes");
        }
    }

    #[test]
    fn one_byte_keys_find_the_field_of_their_tag_and_wire_type() {
        use otlp::*;
        let schemas = [
            &ANY_VALUE,
            &ARRAY_VALUE,
            &KEY_VALUE_LIST,
            &KEY_VALUE,
            &ENTITY_REF,
            &RESOURCE,
            &SCOPE,
            &EVENT,
            &LINK,
            &STATUS,
            &SPAN,
            &SCOPE_SPANS,
            &RESOURCE_SPANS,
            &EXPORT_TRACE_REQUEST,
            &LOG_RECORD,
            &SCOPE_LOGS,
            &RESOURCE_LOGS,
            &EXPORT_LOGS_REQUEST,
            &EXEMPLAR,
            &NUMBER_DATA_POINT,
            &HISTOGRAM_DATA_POINT,
            &BUCKETS,
            &EXPONENTIAL_HISTOGRAM_DATA_POINT,
            &VALUE_AT_QUANTILE,
            &SUMMARY_DATA_POINT,
            &GAUGE,
            &SUM,
            &HISTOGRAM,
            &EXPONENTIAL_HISTOGRAM,
            &SUMMARY,
            &METRIC,
            &SCOPE_METRICS,
            &RESOURCE_METRICS,
            &EXPORT_METRICS_REQUEST,
        ];
        for schema in schemas {
            for key in 0..=u8::MAX {
                let (tag, wire_type) = (u32::from(key >> 3), key & 7);
                let expected = match schema.kind(tag) {
                    Some(kind) if key < 0x80 && tag > 0 && kind.wire_type() == wire_type => {
                        Some(kind.wire_type())
                    }
                    _ => None,
                };
                let found = schema.field_at(&[key]).map(|(t, kind)| {
                    assert_eq!(t, tag, "{} key {key:#x}", schema.name);
                    kind.wire_type()
                });
                assert_eq!(found, expected, "{} key {key:#x}", schema.name);
            }
        }
    }

    #[test]
    fn errors_name_the_message_and_field_at_fault() {
        let not_utf8 = check(&[0x2a, 0x02, 0xc3, 0x28], &otlp::SPAN, 0).err();
        assert_eq!(
            not_utf8.map(|e| e.to_string()).as_deref(),
            Some("Span field 5: invalid string value: data is not UTF-8 encoded")
        );
        // Inside a span's key-value: the innermost message is named; a
        // length past the end has no field to name.
        let bad_key = [0x4a, 0x02, 0x0a, 0x05];
        let error = check(&bad_key, &otlp::SPAN, 0).err().map(|e| e.to_string());
        assert_eq!(error.as_deref(), Some("buffer underflow"));
        let wrong_type = [0x4a, 0x02, 0x08, 0x01];
        let error = check(&wrong_type, &otlp::SPAN, 0)
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            error.as_deref(),
            Some("KeyValue field 1: invalid wire type")
        );
    }

    #[test]
    fn fields_read_scalars_and_bytes() {
        let span = Span {
            name: "GET /".into(),
            kind: -1,
            start_time_unix_nano: 7,
            flags: 0x0100,
            ..Span::default()
        };
        let bytes = span.encode_to_vec();
        let fields: Vec<(u32, Value)> = Fields::new(&bytes).collect();
        assert_eq!(
            fields,
            vec![
                (5, Value::Bytes(b"GET /")),
                (6, Value::Varint(u64::MAX)),
                (7, Value::Fixed64(7)),
                (16, Value::Fixed32(0x0100)),
            ]
        );
        assert_eq!(fields[1].1.int() as i32, -1);
        assert_eq!(fields[0].1.str(), "GET /");
    }

    /// Reads `bytes` with `next_field` until it ends or fails.
    fn fields_until_error(bytes: &[u8]) -> Vec<(u32, Value<'_>)> {
        let mut fields = Fields::new(bytes);
        std::iter::from_fn(|| fields.next_field().ok().flatten()).collect()
    }

    proptest::proptest! {
        /// The iterator reads what `next_field` reads and stops where it
        /// fails, on any bytes (mostly a span's fields with some damaged).
        #[test]
        fn the_iterator_stops_where_next_field_fails(
            mut bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
            valid in proptest::prelude::any::<bool>(),
        ) {
            if valid {
                let span = Span { name: "GET /".into(), kind: 2, start_time_unix_nano: 1 << 40, ..Span::default() };
                let mut encoded = span.encode_to_vec();
                encoded.extend_from_slice(&bytes[..bytes.len() / 4]);
                bytes = encoded;
            }
            let iterated: Vec<(u32, Value)> = Fields::new(&bytes).collect();
            proptest::prop_assert_eq!(iterated, fields_until_error(&bytes));
        }

        /// Attributes, valid or damaged in the ways a `KeyValue` can be, are
        /// judged as prost judges them: the plain path accepts nothing
        /// `check` refuses, and refuses only what `check` then judges.
        #[test]
        fn attributes_are_judged_as_prost_judges_them(
            key_values in proptest::collection::vec(
                (
                    proptest::collection::vec(0..KEY_VALUE_PARTS.len(), 0..4),
                    proptest::collection::vec(0..ANY_VALUE_PARTS.len(), 0..3),
                ),
                1..4,
            ),
        ) {
            let mut span = Vec::new();
            for (parts, value_parts) in &key_values {
                let any_value: Vec<u8> =
                    value_parts.iter().flat_map(|&i| ANY_VALUE_PARTS[i].iter().copied()).collect();
                let mut key_value: Vec<u8> =
                    parts.iter().flat_map(|&i| KEY_VALUE_PARTS[i].iter().copied()).collect();
                key_value.extend([0x12, any_value.len() as u8]);
                key_value.extend(any_value);
                span.extend([0x4a, key_value.len() as u8]);
                span.extend(key_value);
            }
            let ours = check(&span, &otlp::SPAN, 0);
            proptest::prop_assert_eq!(ours.is_ok(), Span::decode(&span[..]).is_ok(), "{:?}", ours);
        }
    }

    /// Fields of a `KeyValue`, valid and not (each under 128 bytes long).
    const KEY_VALUE_PARTS: &[&[u8]] = &[
        b"\x0a\x0bhttp.method",
        b"\x0a\x00",
        b"\x0a\x02\xc3\x28",          // a key not UTF-8
        b"\x0a\x04d\xc3\xa9j",        // a key not ASCII
        b"\x0a\x09",                  // a key past the end
        b"\x18\x07",                  // key_strindex
        b"\x08\x01",                  // the key as a varint
        b"\x78\x01",                  // an unknown field
        b"\x7b\x7c",                  // an unknown empty group
        b"\x12\x02\x08\x01",          // a value with an unknown field
        b"\x12\x03\x0a\x01",          // a value past its end
        b"\x12\x05\x2a\x03\x0a\x01x", // an array of one string
        b"\x12\x05\x32\x03\x0a\x01k", // a kvlist of one key
        b"\x0e",                      // wire type 6
    ];

    /// Fields of an `AnyValue`, valid and not.
    const ANY_VALUE_PARTS: &[&[u8]] = &[
        b"\x0a\x03GET",
        b"\x0a\x02\xc3\x28", // a string not UTF-8
        b"\x10\x01",
        b"\x18\xf4\x03",
        b"\x18\xff",                                     // a truncated varint
        b"\x18\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02", // a varint past 64 bits
        b"\x21\x00\x00\x00\x00\x00\x00\xf0\x3f",
        b"\x21\x00\x00",                         // a double cut short
        b"\x3a\x02\xc3\x28",                     // bytes, not UTF-8 and fine
        b"\x40\x03",                             // string_value_strindex
        b"\x09\x00\x00\x00\x00\x00\x00\x00\x00", // a string as a fixed64
        b"\x2a\x04\x0a\x02\x10\x01",             // an array of one bool
        b"\x2a\x02\x0a\x05",                     // an array past its end
        b"\x48\x01",                             // an unknown field
        b"\x4c",                                 // a stray end group
    ];
}
