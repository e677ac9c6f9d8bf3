//! Spans to `otel_traces` rows.
//!
//! A shard worker holds the spans of each open partition as the bytes they
//! came in ([`held::HeldSpans`]); at the flush they are appended, in the
//! file's order, to a [`TraceBatchBuilder`], whose
//! [`finish`](TraceBatchBuilder::finish) hands the rows to storage as one
//! `RecordBatch`, its top-level attribute maps interned
//! ([`InternedMapBuilder`]; the batch's schema is
//! [`built_schema`], and the file's the table's).

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BinaryBuilder, ListBuilder, RecordBatch, StringArray, StringBuilder, StructArray,
    TimestampNanosecondBuilder, UInt32Builder, UInt64Builder,
};
use arrow::datatypes::Fields;

use crate::Table;
use crate::attributes::{
    ContextRows, InternedMapBuilder, MIN_BYTES, WireAttributesBuilder, append_wire_attributes,
    finish_wire_attribute_lists, wire_attributes_builder,
};
use crate::context::{ResourceContext, ScopeContext};
use crate::hex::{self, HexBuilder};
use crate::otlp::trace::v1::status::StatusCode;
use crate::schema::{built_schema, event_fields, link_fields};
use crate::time::to_arrow_nanos;

pub mod held;
pub mod wire;

use wire::{EventView, LinkView, SpanView, Text};

/// The `SpanKind` strings of the Collector (`ptrace.SpanKind.String()`).
pub fn span_kind_name(kind: i32) -> &'static str {
    match kind {
        1 => "Internal",
        2 => "Server",
        3 => "Client",
        4 => "Producer",
        5 => "Consumer",
        _ => "Unspecified",
    }
}

/// The `StatusCode` strings of the Collector (`ptrace.StatusCode.String()`).
pub fn status_code_name(code: i32) -> &'static str {
    match StatusCode::try_from(code) {
        Ok(StatusCode::Ok) => "Ok",
        Ok(StatusCode::Error) => "Error",
        _ => "Unset",
    }
}

pub(crate) fn utc_timestamps() -> TimestampNanosecondBuilder {
    TimestampNanosecondBuilder::new().with_timezone("UTC")
}

/// Builds the `Events` column: a struct of three equally long lists.
#[derive(Debug)]
struct EventsBuilder {
    timestamp: ListBuilder<TimestampNanosecondBuilder>,
    name: ListBuilder<StringBuilder>,
    attributes: ListBuilder<WireAttributesBuilder>,
}

impl EventsBuilder {
    fn new() -> Self {
        Self {
            timestamp: ListBuilder::new(utc_timestamps()),
            name: ListBuilder::new(StringBuilder::new()),
            attributes: ListBuilder::new(wire_attributes_builder()),
        }
    }

    fn append<'a>(&mut self, events: impl Iterator<Item = EventView<'a>>, prints: &mut Vec<u64>) {
        for event in events {
            self.timestamp
                .values()
                .append_value(to_arrow_nanos(event.time_unix_nano));
            self.name.values().append_value(event.name);
            append_wire_attributes(self.attributes.values(), event.attributes(), prints);
        }
        self.timestamp.append(true);
        self.name.append(true);
        self.attributes.append(true);
    }

    fn finish(&mut self) -> ArrayRef {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.timestamp.finish()),
            Arc::new(self.name.finish()),
            finish_wire_attribute_lists(&mut self.attributes),
        ];
        Arc::new(StructArray::new(
            Fields::from(event_fields()),
            columns,
            None,
        ))
    }
}

/// Builds the `Links` column: a struct of four equally long lists.
#[derive(Debug)]
struct LinksBuilder {
    trace_id: ListBuilder<StringBuilder>,
    span_id: ListBuilder<StringBuilder>,
    trace_state: ListBuilder<StringBuilder>,
    attributes: ListBuilder<WireAttributesBuilder>,
}

impl LinksBuilder {
    fn new() -> Self {
        Self {
            trace_id: ListBuilder::new(StringBuilder::new()),
            span_id: ListBuilder::new(StringBuilder::new()),
            trace_state: ListBuilder::new(StringBuilder::new()),
            attributes: ListBuilder::new(wire_attributes_builder()),
        }
    }

    fn append<'a>(&mut self, links: impl Iterator<Item = LinkView<'a>>, prints: &mut Vec<u64>) {
        for link in links {
            append_hex(self.trace_id.values(), link.trace_id);
            append_hex(self.span_id.values(), link.span_id);
            self.trace_state.values().append_value(link.trace_state);
            append_wire_attributes(self.attributes.values(), link.attributes(), prints);
        }
        self.trace_id.append(true);
        self.span_id.append(true);
        self.trace_state.append(true);
        self.attributes.append(true);
    }

    fn finish(&mut self) -> ArrayRef {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.trace_id.finish()),
            Arc::new(self.span_id.finish()),
            Arc::new(self.trace_state.finish()),
            finish_wire_attribute_lists(&mut self.attributes),
        ];
        Arc::new(StructArray::new(Fields::from(link_fields()), columns, None))
    }
}

/// Appends the lowercase hex form of an id (empty for an empty id).
pub(crate) fn append_hex(builder: &mut StringBuilder, id: &[u8]) {
    if id.len() <= hex::CHUNK {
        let mut buf = [0u8; 2 * hex::CHUNK];
        builder.append_value(hex::encode_chunk(id, &mut buf));
    } else {
        hex::encode_into(id, builder);
        builder.append_value("");
    }
}

/// Builds a string column of spans' string fields ([`Text`]): their bytes
/// go in as they lie in the checked body and are checked as UTF-8 once, over
/// the finished column, rather than once a field (a call of `from_utf8` for
/// each of a span's name, trace state and status message).
#[derive(Debug)]
struct TextBuilder(BinaryBuilder);

impl TextBuilder {
    fn append(&mut self, text: Text) {
        self.0.append_value(text.bytes());
    }

    /// The strings appended so far, leaving the builder empty. Bytes that
    /// are not UTF-8 (a body not checked) read as empty, as [`Text::as_str`]
    /// reads them.
    fn finish(&mut self) -> StringArray {
        let (offsets, bytes, nulls) = self.0.finish().into_parts();
        // Shared, not copied, with the array checked.
        StringArray::try_new(offsets.clone(), bytes.clone(), nulls).unwrap_or_else(|_| {
            offsets
                .windows(2)
                .map(|w| {
                    let text = &bytes[w[0] as usize..w[1] as usize];
                    Some(std::str::from_utf8(text).unwrap_or_default())
                })
                .collect()
        })
    }
}

/// What the rows of a batch of spans hold, as far as it is known before they
/// are built ([`held::HeldSpans`] counts it from the spans it holds): the builders
/// start at these sizes rather than grow into them. Each growth copies all
/// appended so far, and a large buffer's new pages are cleared by the kernel
/// as they are first written: together about a twentieth of a shard's time
/// building a batch of 32,768 spans.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TraceCapacity {
    pub rows: usize,
    /// The entries of the rows' resource and scope attribute maps.
    pub resource_attribute_entries: usize,
    pub scope_attribute_entries: usize,
    pub service_name_bytes: usize,
    pub scope_name_bytes: usize,
    pub scope_version_bytes: usize,
    pub resource_schema_url_bytes: usize,
    pub scope_schema_url_bytes: usize,
    /// The spans' attribute stretches ([`wire::SpanLayout::attributes_len`]).
    pub span_attribute_bytes: usize,
}

impl TraceCapacity {
    /// Counts `spans` spans sent under `resource` and `scope`, all but
    /// their own attributes (`span_attribute_bytes`).
    pub fn add_spans(&mut self, resource: &ResourceContext, scope: &ScopeContext, spans: usize) {
        self.rows += spans;
        self.resource_attribute_entries += resource.attributes.pairs().len() * spans;
        self.scope_attribute_entries += scope.attributes.pairs().len() * spans;
        self.service_name_bytes += resource.service_name.len() * spans;
        self.scope_name_bytes += scope.name.len() * spans;
        self.scope_version_bytes += scope.version.len() * spans;
        self.resource_schema_url_bytes += resource.schema_url.len() * spans;
        self.scope_schema_url_bytes += scope.schema_url.len() * spans;
    }

    /// Room for the span attributes' entries. Their stretch holds each
    /// entry in 8 bytes or more in practice (a `KeyValue`'s, its key's, its
    /// value's and its `AnyValue`'s tags and lengths, besides the key and
    /// value themselves). Room counted past the entries is never touched, so
    /// takes no memory; a guess short of the mark costs a growth.
    fn span_attribute_entries(&self) -> usize {
        self.span_attribute_bytes / 8
    }
}

/// Accumulates spans as `otel_traces` rows.
#[derive(Debug)]
pub struct TraceBatchBuilder {
    timestamp: TimestampNanosecondBuilder,
    trace_id: HexBuilder,
    span_id: HexBuilder,
    parent_span_id: HexBuilder,
    trace_state: TextBuilder,
    span_name: TextBuilder,
    span_kind: StringBuilder,
    service_name: StringBuilder,
    resource_attributes: InternedMapBuilder,
    scope_name: StringBuilder,
    scope_version: StringBuilder,
    span_attributes: InternedMapBuilder,
    duration: UInt64Builder,
    status_code: StringBuilder,
    status_message: TextBuilder,
    events: EventsBuilder,
    links: LinksBuilder,
    resource_schema_url: StringBuilder,
    scope_schema_url: StringBuilder,
    scope_attributes: InternedMapBuilder,
    flags: UInt32Builder,
    dropped_attributes: UInt32Builder,
    dropped_events: UInt32Builder,
    dropped_links: UInt32Builder,
    rows: usize,
    /// The first row of each resource and scope since the last
    /// [`finish`](Self::finish), whose attributes the rows after copy; see
    /// [`ContextRows`].
    resource_rows: ContextRows<ResourceContext>,
    scope_rows: ContextRows<ScopeContext>,
    /// Scratch space of [`append_wire_attributes`].
    prints: Vec<u64>,
}

impl Default for TraceBatchBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl TraceBatchBuilder {
    pub fn new() -> Self {
        Self::with_capacity(&TraceCapacity::default())
    }

    /// A builder whose columns start with room for `capacity`.
    pub fn with_capacity(capacity: &TraceCapacity) -> Self {
        let rows = capacity.rows;
        let strings = |bytes: usize| StringBuilder::with_capacity(rows, bytes.max(MIN_BYTES));
        let texts = || TextBuilder(BinaryBuilder::with_capacity(rows, MIN_BYTES));
        let hex_ids =
            |id_len: usize| HexBuilder::with_capacity(rows, (rows * 2 * id_len).max(MIN_BYTES));
        Self {
            timestamp: TimestampNanosecondBuilder::with_capacity(rows).with_timezone("UTC"),
            trace_id: hex_ids(16),
            span_id: hex_ids(8),
            parent_span_id: hex_ids(8),
            trace_state: texts(),
            span_name: texts(),
            span_kind: strings(rows * "Internal".len()),
            service_name: strings(capacity.service_name_bytes),
            resource_attributes: InternedMapBuilder::with_capacity(
                rows,
                capacity.resource_attribute_entries,
            ),
            scope_name: strings(capacity.scope_name_bytes),
            scope_version: strings(capacity.scope_version_bytes),
            span_attributes: InternedMapBuilder::with_capacity(
                rows,
                capacity.span_attribute_entries(),
            ),
            duration: UInt64Builder::with_capacity(rows),
            status_code: strings(rows * "Unset".len()),
            status_message: texts(),
            events: EventsBuilder::new(),
            links: LinksBuilder::new(),
            resource_schema_url: strings(capacity.resource_schema_url_bytes),
            scope_schema_url: strings(capacity.scope_schema_url_bytes),
            scope_attributes: InternedMapBuilder::with_capacity(
                rows,
                capacity.scope_attribute_entries,
            ),
            flags: UInt32Builder::with_capacity(rows),
            dropped_attributes: UInt32Builder::with_capacity(rows),
            dropped_events: UInt32Builder::with_capacity(rows),
            dropped_links: UInt32Builder::with_capacity(rows),
            rows: 0,
            resource_rows: ContextRows::default(),
            scope_rows: ContextRows::default(),
            prints: Vec::new(),
        }
    }

    /// Rows appended since the last [`finish`](Self::finish).
    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Appends one span sent under `resource` and `scope`.
    pub fn append(
        &mut self,
        resource: &Arc<ResourceContext>,
        scope: &Arc<ScopeContext>,
        span: &SpanView,
    ) {
        self.timestamp
            .append_value(to_arrow_nanos(span.start_time_unix_nano));
        self.trace_id.append(span.trace_id);
        self.span_id.append(span.span_id);
        self.parent_span_id.append(span.parent_span_id);
        self.trace_state.append(span.trace_state);
        self.span_name.append(span.name);
        self.span_kind.append_value(span_kind_name(span.kind));
        self.service_name.append_value(&resource.service_name);
        self.resource_rows
            .append(&mut self.resource_attributes, resource, |r| &r.attributes);
        self.scope_name.append_value(&scope.name);
        self.scope_version.append_value(&scope.version);
        self.span_attributes.append_wire(span.attributes());
        self.duration.append_value(
            span.end_time_unix_nano
                .saturating_sub(span.start_time_unix_nano),
        );
        self.status_code
            .append_value(status_code_name(span.status_code()));
        self.status_message
            .append(span.status.map_or(Text::default(), |s| s.message));
        self.events.append(span.events(), &mut self.prints);
        self.links.append(span.links(), &mut self.prints);
        self.resource_schema_url.append_value(&resource.schema_url);
        self.scope_schema_url.append_value(&scope.schema_url);
        self.scope_rows
            .append(&mut self.scope_attributes, scope, |s| &s.attributes);
        self.flags.append_value(span.flags);
        self.dropped_attributes
            .append_value(span.dropped_attributes_count);
        self.dropped_events.append_value(span.dropped_events_count);
        self.dropped_links.append_value(span.dropped_links_count);
        self.rows += 1;
    }

    /// Appends every span of `traces`.
    pub fn append_all(&mut self, traces: &wire::WireTraces) {
        let mut contexts = wire::Contexts::default();
        for s in traces.spans() {
            let (resource, scope) = contexts.get(traces, s.resource, s.scope);
            self.append(resource, scope, &s.span);
        }
    }

    /// Takes the rows appended so far as one batch, leaving the builder empty.
    pub fn finish(&mut self) -> RecordBatch {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.timestamp.finish()),
            Arc::new(self.trace_id.finish()),
            Arc::new(self.span_id.finish()),
            Arc::new(self.parent_span_id.finish()),
            Arc::new(self.trace_state.finish()),
            Arc::new(self.span_name.finish()),
            Arc::new(self.span_kind.finish()),
            Arc::new(self.service_name.finish()),
            self.resource_attributes.finish(),
            Arc::new(self.scope_name.finish()),
            Arc::new(self.scope_version.finish()),
            self.span_attributes.finish(),
            Arc::new(self.duration.finish()),
            Arc::new(self.status_code.finish()),
            Arc::new(self.status_message.finish()),
            self.events.finish(),
            self.links.finish(),
            Arc::new(self.resource_schema_url.finish()),
            Arc::new(self.scope_schema_url.finish()),
            self.scope_attributes.finish(),
            Arc::new(self.flags.finish()),
            Arc::new(self.dropped_attributes.finish()),
            Arc::new(self.dropped_events.finish()),
            Arc::new(self.dropped_links.finish()),
        ];
        self.rows = 0;
        self.resource_rows.clear();
        self.scope_rows.clear();
        RecordBatch::try_new(built_schema(Table::Traces), columns)
            .expect("the builders produce exactly the otel_traces schema")
    }
}

/// Asks the processor to bring in every cache line of the `len` bytes at
/// `at`, the last too wherever they start in a line. (Asking for the lines at
/// `at`, `at + 64` and so on misses the last line of bytes that start late in
/// one; a [`wire::SpanLayout`] covers two lines or three.)
#[inline(always)]
pub(crate) fn prefetch_lines(at: *const u8, len: usize) {
    const LINE: usize = 64;
    let skew = at.addr() % LINE;
    let first = at.wrapping_sub(skew);
    for offset in (0..skew + len).step_by(LINE) {
        prefetch(first.wrapping_add(offset));
    }
}

/// Asks the processor to bring the cache line at `at` in: a hint, with no
/// effect on what the program computes (an address that is not mapped is
/// ignored).
#[inline(always)]
pub(crate) fn prefetch(at: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `_mm_prefetch` needs SSE, which every x86_64 processor has;
    // a prefetch reads nothing the program sees and cannot fault.
    #[allow(unsafe_code)]
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(at.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = at;
}

#[cfg(test)]
mod tests {
    use arrow::array::Array;

    use super::*;

    /// Texts read as their strings, checked once as the column is
    /// finished; a value that is not UTF-8 reads as empty, and only it.
    #[test]
    fn texts_build_as_their_strings() {
        let mut texts = TextBuilder(BinaryBuilder::new());
        for round in 0..2 {
            let values: [&[u8]; 4] = [b"GET /cart", b"", "caf\u{e9}".as_bytes(), b"x"];
            values.iter().for_each(|v| texts.append(Text(v)));
            if round == 1 {
                texts.append(Text(b"bad \xff"));
            }
            let column = texts.finish();
            let read: Vec<&str> = column.iter().flatten().collect();
            let mut expected = vec!["GET /cart", "", "caf\u{e9}", "x"];
            if round == 1 {
                expected.push("");
            }
            assert_eq!(read, expected);
            assert_eq!(column.null_count(), 0);
        }
    }
}
