//! OTLP trace requests kept as the protobuf bytes they came in.
//!
//! A receiver turns a protobuf `ExportTraceServiceRequest` into [`WireTraces`]:
//! it checks the body as `prost` would, reading each span as it checks it
//! ([`protowire::CheckedFields`]), validates each span
//! ([`validate::check_span`]) and notes where each valid span lies,
//! with the few fields the shards need as spans arrive ([`SpanFacts`]: their
//! rollups, watch feed and batch). The routing stage splits that index over
//! the shards, all sharing the one body; each shard holds its spans as they
//! are (`held`) and reads them in place ([`SpanView`]) into Arrow rows when it
//! writes them. No span becomes a message of owned strings on the way: that
//! was a fifth of the daemon's CPU.
//!
//! Field semantics follow protobuf and `prost`: the last occurrence of a
//! scalar field wins, repeated fields append, and the occurrences of a
//! singular message field merge.

use bytes::Bytes;
use prost::Message;

use crate::otlp::collector::trace::v1::ExportTraceServiceRequest;
use crate::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span};
use crate::protowire::{self, CheckedFields, Fields, WireError, occurrences, otlp as schema};
use crate::validate::{self, Rejected};
use crate::wire::{Indexed, RequestSchemas, WireContexts, decode_checked, index_each, nesting};

pub(crate) use crate::wire::At;
pub use crate::wire::{ContextCache, Contexts};

/// The messages of a trace request.
static SCHEMAS: RequestSchemas = RequestSchemas {
    request: &schema::EXPORT_TRACE_REQUEST,
    resource: &schema::RESOURCE_SPANS,
    scope: &schema::SCOPE_SPANS,
};

/// A valid span of the request: its `ScopeSpans`, its bytes, and where its
/// fields lie in them ([`SpanLayout`]), from which the shards read it without
/// parsing it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SpanAt {
    scope: u32,
    span: At,
    layout: SpanLayout,
}

/// The valid spans of a protobuf `ExportTraceServiceRequest`, located in its
/// body, with their resources and scopes.
#[derive(Debug, Clone)]
pub struct WireTraces {
    body: Bytes,
    /// Each `ResourceSpans` and `ScopeSpans` message.
    contexts: WireContexts,
    spans: Vec<SpanAt>,
    rejected: Rejected,
}

impl PartialEq for WireTraces {
    fn eq(&self, other: &Self) -> bool {
        self.to_request() == other.to_request()
    }
}

/// One span of a [`WireTraces`], with the indices of its resource and scope.
#[derive(Debug, Clone, Copy)]
pub struct WireSpan<'a> {
    pub resource: usize,
    pub scope: usize,
    pub span: SpanView<'a>,
}

/// What the shards read of a span as it arrives (its SLI rollup, the watch,
/// the batch it goes to), noted by the receiver's index so that the span is
/// not parsed for it again.
#[derive(Debug, Clone, Copy)]
pub struct SpanFacts<'a> {
    pub resource: usize,
    pub scope: usize,
    pub name: &'a str,
    pub kind: i32,
    /// `STATUS_CODE_UNSET` (0) for a span without a status.
    pub status_code: i32,
    pub start_time_unix_nano: u64,
    pub end_time_unix_nano: u64,
    /// The span's protobuf bytes.
    pub bytes: &'a [u8],
    /// Where the span's fields lie in `bytes`, to read it again at the flush.
    pub layout: SpanLayout,
}

/// How many spans ahead of the one read [`WireTraces::facts`] asks for the
/// name of.
const FACTS_AHEAD: usize = 4;

impl WireTraces {
    /// Checks `body` and indexes its valid spans; the invalid ones are left
    /// out and counted in [`rejected`](Self::rejected). Fails, like `prost`,
    /// when the body is not a valid `ExportTraceServiceRequest`.
    pub fn index(body: Bytes) -> Result<Self, WireError> {
        const TOO_LARGE: &str = "a trace request must be under 4 GiB";
        // Each span is read as it is checked ([`SpanView::checked`]).
        let indexed = index_each(&body, &SCHEMAS, TOO_LARGE, |scope, span, depth, kept| {
            let view = SpanView::checked(span, depth)?;
            Ok(validate::check_span(&view).map(|()| {
                kept.push(SpanAt {
                    scope,
                    span: At::of(&body, span),
                    layout: view.layout(),
                })
            }))
        })?;
        Ok(Self {
            body,
            contexts: indexed.contexts,
            spans: indexed.records,
            rejected: indexed.rejected,
        })
    }

    /// Encodes `request` and indexes it.
    pub fn from_request(request: &ExportTraceServiceRequest) -> Self {
        Self::index(Bytes::from(request.encode_to_vec()))
            .expect("prost encodes valid messages under 4 GiB")
    }

    /// The request body, as received (invalid spans included).
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// What indexing left out.
    pub fn rejected(&self) -> &Rejected {
        &self.rejected
    }

    /// The spans kept.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The kept spans, in request order.
    pub fn spans(&self) -> impl Iterator<Item = WireSpan<'_>> {
        self.spans.iter().map(|at| WireSpan {
            resource: self.contexts.resource_of(at.scope as usize),
            scope: at.scope as usize,
            span: at.layout.view(at.span.slice(&self.body)),
        })
    }

    /// The [`SpanFacts`] of the kept spans, in request order.
    pub fn facts(&self) -> impl Iterator<Item = SpanFacts<'_>> {
        self.spans.iter().enumerate().map(|(i, at)| {
            // The body was written on the receivers' core: asked for a few
            // spans ahead, the names are in this core's cache by their turn
            // (`from_utf8` in the shards 3.7% -> 1.7% of the daemon's
            // samples at 200,000 spans/s; benches/RESULTS.md, sixteenth
            // session).
            if let Some(ahead) = self.spans.get(i + FACTS_AHEAD) {
                let name = ahead.layout.name.slice(ahead.span.slice(&self.body));
                super::prefetch(name.as_ptr());
            }
            let bytes = at.span.slice(&self.body);
            let layout = at.layout;
            SpanFacts {
                resource: self.contexts.resource_of(at.scope as usize),
                scope: at.scope as usize,
                name: text(layout.name.slice(bytes)),
                kind: layout.kind,
                status_code: layout.status.map_or(0, |(_, code)| code),
                start_time_unix_nano: layout.start_time_unix_nano,
                end_time_unix_nano: layout.end_time_unix_nano,
                bytes,
                layout,
            }
        })
    }

    /// Splits the spans into `parts` shares by `part_of(trace_id)`; every
    /// share keeps the whole body (shared, not copied) and the empty ones are
    /// left out. Returns `(part, share)` pairs in part order.
    pub fn partition(
        self,
        parts: usize,
        part_of: impl Fn(&[u8]) -> usize,
    ) -> Vec<(usize, WireTraces)> {
        if parts <= 1 {
            return if self.is_empty() {
                Vec::new()
            } else {
                vec![(0, self)]
            };
        }
        // Trace ids are random: each share takes about its part of the
        // spans, and with room for a quarter more rarely grows (copying).
        let room = (self.spans.len() + self.spans.len() / 4).div_ceil(parts);
        let mut shares: Vec<Vec<SpanAt>> = (0..parts).map(|_| Vec::with_capacity(room)).collect();
        for at in &self.spans {
            let part = part_of(at.layout.trace_id.slice(at.span.slice(&self.body)));
            shares[part.min(parts - 1)].push(*at);
        }
        shares
            .into_iter()
            .enumerate()
            .filter(|(_, spans)| !spans.is_empty())
            .map(|(part, spans)| {
                let share = Self {
                    body: self.body.clone(),
                    contexts: self.contexts.clone(),
                    rejected: Rejected::accepting(spans.len()),
                    spans,
                };
                (part, share)
            })
            .collect()
    }

    /// The kept spans as a message, grouped under their resources and scopes
    /// as they came (for OTLP/JSON and for tests).
    pub fn to_request(&self) -> ExportTraceServiceRequest {
        let spans = self.spans.iter().map(|at| {
            let span: Span = decode_checked(at.span.slice(&self.body));
            (at.scope, span)
        });
        ExportTraceServiceRequest {
            resource_spans: self.contexts.rebuild::<Traces>(&self.body, spans),
        }
    }
}

nesting!(Traces, ResourceSpans, scope_spans, ScopeSpans, spans, Span);

impl Indexed for WireTraces {
    fn body(&self) -> &Bytes {
        &self.body
    }

    fn contexts(&self) -> &WireContexts {
        &self.contexts
    }
}

/// A span read in place from its protobuf bytes (which must have passed
/// [`protowire::check`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct SpanView<'a> {
    pub trace_id: &'a [u8],
    pub span_id: &'a [u8],
    pub trace_state: Text<'a>,
    pub parent_span_id: &'a [u8],
    pub flags: u32,
    pub name: Text<'a>,
    pub kind: i32,
    pub start_time_unix_nano: u64,
    pub end_time_unix_nano: u64,
    pub dropped_attributes_count: u32,
    pub dropped_events_count: u32,
    pub dropped_links_count: u32,
    /// The status, `None` when the span has none.
    pub status: Option<StatusView<'a>>,
    bytes: &'a [u8],
    /// The stretches of `bytes` that hold the attributes, the events and the
    /// links (each empty when there are none), so that each is looked for
    /// only there. Encoders write fields in tag order, so these are short.
    regions: [At; 3],
}

/// A span's status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatusView<'a> {
    pub message: Text<'a>,
    pub code: i32,
}

/// A [`SpanView`] with the places of its fields in the span's bytes instead
/// of the fields' bytes: what the receivers' index keeps of a span, so that
/// the shard holding it reads it at the flush ([`SpanLayout::view`]) without
/// parsing it a second time (that parse was 4% of the daemon's
/// instructions).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpanLayout {
    trace_id: At,
    span_id: At,
    trace_state: At,
    parent_span_id: At,
    name: At,
    flags: u32,
    kind: i32,
    start_time_unix_nano: u64,
    end_time_unix_nano: u64,
    dropped_attributes_count: u32,
    dropped_events_count: u32,
    dropped_links_count: u32,
    /// The status's message and code, `None` when the span has none.
    status: Option<(At, i32)>,
    regions: [At; 3],
}

impl SpanLayout {
    /// The length of the stretch holding the span's attributes: what their
    /// keys and string values take at most.
    pub fn attributes_len(&self) -> usize {
        (self.regions[0].end - self.regions[0].start) as usize
    }

    /// The span laid out so in `bytes`, the bytes it was taken from.
    pub fn view<'a>(&self, bytes: &'a [u8]) -> SpanView<'a> {
        SpanView {
            trace_id: self.trace_id.slice(bytes),
            span_id: self.span_id.slice(bytes),
            trace_state: Text(self.trace_state.slice(bytes)),
            parent_span_id: self.parent_span_id.slice(bytes),
            flags: self.flags,
            name: Text(self.name.slice(bytes)),
            kind: self.kind,
            start_time_unix_nano: self.start_time_unix_nano,
            end_time_unix_nano: self.end_time_unix_nano,
            dropped_attributes_count: self.dropped_attributes_count,
            dropped_events_count: self.dropped_events_count,
            dropped_links_count: self.dropped_links_count,
            status: self.status.map(|(message, code)| StatusView {
                message: Text(message.slice(bytes)),
                code,
            }),
            bytes,
            regions: self.regions,
        }
    }
}

/// A string field of a checked body (so UTF-8; anything else reads as empty,
/// as [`protowire::Value::str`] reads it).
fn text(bytes: &[u8]) -> &str {
    protowire::as_str(bytes).unwrap_or_default()
}

/// A string field of a span, as its bytes: UTF-8 when the body was checked,
/// and not checked again where only its bytes are needed (a span's row
/// takes them as bytes, and its column checks all its strings at once as
/// it is finished).
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct Text<'a>(pub(crate) &'a [u8]);

impl<'a> Text<'a> {
    pub fn bytes(self) -> &'a [u8] {
        self.0
    }

    /// The string: empty where the bytes are not UTF-8, as
    /// [`protowire::Value::str`] reads them.
    pub fn as_str(self) -> &'a str {
        text(self.0)
    }
}

impl std::fmt::Debug for Text<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl<'a> SpanView<'a> {
    /// Reads a span of a checked body.
    pub fn parse(bytes: &'a [u8]) -> Self {
        let mut span = Self {
            bytes,
            ..Self::default()
        };
        let mut fields = Fields::new(bytes);
        loop {
            let start = bytes.len() - fields.remaining();
            let Some((tag, value)) = fields.next() else {
                break;
            };
            let end = bytes.len() - fields.remaining();
            span.note(tag, value, start, end);
        }
        span
    }

    /// Checks `bytes` as a span nested `depth` messages deep, as
    /// [`protowire::check`] does, and reads it in the same pass: one walk
    /// over the span's fields where the check and [`parse`](Self::parse)
    /// take two.
    pub fn checked(bytes: &'a [u8], depth: u32) -> Result<Self, WireError> {
        let mut span = Self {
            bytes,
            ..Self::default()
        };
        let mut fields = CheckedFields::new(bytes, &schema::SPAN, depth);
        while let Some(field) = fields.next()? {
            span.note(field.tag, field.value, field.start, field.end);
            field.check_nested()?;
        }
        Ok(span)
    }

    /// Takes field `tag`, lying at `start..end` of the span's bytes, as
    /// `prost` would: the last scalar wins, the attributes, events and links
    /// are noted by the stretch they lie in, the statuses merge.
    #[inline(always)]
    fn note(&mut self, tag: u32, value: protowire::Value<'a>, start: usize, end: usize) {
        match tag {
            1 => self.trace_id = value.bytes(),
            2 => self.span_id = value.bytes(),
            3 => self.trace_state = Text(value.bytes()),
            4 => self.parent_span_id = value.bytes(),
            5 => self.name = Text(value.bytes()),
            6 => self.kind = value.int() as i32,
            7 => self.start_time_unix_nano = value.int(),
            8 => self.end_time_unix_nano = value.int(),
            9 => self.regions[0].cover(start, end),
            10 => self.dropped_attributes_count = value.int() as u32,
            11 => self.regions[1].cover(start, end),
            12 => self.dropped_events_count = value.int() as u32,
            13 => self.regions[2].cover(start, end),
            14 => self.dropped_links_count = value.int() as u32,
            15 => {
                let status = self.status.get_or_insert_default();
                for (tag, value) in Fields::new(value.bytes()) {
                    match tag {
                        2 => status.message = Text(value.bytes()),
                        3 => status.code = value.int() as i32,
                        _ => {}
                    }
                }
            }
            16 => self.flags = value.int() as u32,
            _ => {}
        }
    }

    /// The span's protobuf bytes.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Where this view's fields lie in [`bytes`](Self::bytes).
    pub fn layout(&self) -> SpanLayout {
        let at = |part: &[u8]| At::of(self.bytes, part);
        SpanLayout {
            trace_id: at(self.trace_id),
            span_id: at(self.span_id),
            trace_state: at(self.trace_state.bytes()),
            parent_span_id: at(self.parent_span_id),
            name: at(self.name.bytes()),
            flags: self.flags,
            kind: self.kind,
            start_time_unix_nano: self.start_time_unix_nano,
            end_time_unix_nano: self.end_time_unix_nano,
            dropped_attributes_count: self.dropped_attributes_count,
            dropped_events_count: self.dropped_events_count,
            dropped_links_count: self.dropped_links_count,
            status: self
                .status
                .map(|status| (at(status.message.bytes()), status.code)),
            regions: self.regions,
        }
    }

    /// The status code (`STATUS_CODE_UNSET`, 0, without a status).
    pub fn status_code(&self) -> i32 {
        self.status.map_or(0, |s| s.code)
    }

    /// The stretch of the span's bytes holding the fields of `region`.
    fn region(&self, region: usize) -> &'a [u8] {
        self.regions[region].slice(self.bytes)
    }

    /// The attributes: `KeyValue` messages.
    pub fn attributes(&self) -> impl Iterator<Item = &'a [u8]> + Clone + use<'a> {
        occurrences(self.region(0), 9)
    }

    pub fn events(&self) -> impl Iterator<Item = EventView<'a>> + use<'a> {
        occurrences(self.region(1), 11).map(EventView::parse)
    }

    pub fn links(&self) -> impl Iterator<Item = LinkView<'a>> + use<'a> {
        occurrences(self.region(2), 13).map(LinkView::parse)
    }
}

/// A span event read in place.
#[derive(Debug, Clone, Copy, Default)]
pub struct EventView<'a> {
    pub time_unix_nano: u64,
    pub name: &'a str,
    pub dropped_attributes_count: u32,
    bytes: &'a [u8],
}

impl<'a> EventView<'a> {
    fn parse(bytes: &'a [u8]) -> Self {
        let mut event = Self {
            bytes,
            ..Self::default()
        };
        for (tag, value) in Fields::new(bytes) {
            match tag {
                1 => event.time_unix_nano = value.int(),
                2 => event.name = value.str(),
                4 => event.dropped_attributes_count = value.int() as u32,
                _ => {}
            }
        }
        event
    }

    /// The attributes: `KeyValue` messages.
    pub fn attributes(&self) -> impl Iterator<Item = &'a [u8]> + Clone + use<'a> {
        occurrences(self.bytes, 3)
    }
}

/// A span link read in place.
#[derive(Debug, Clone, Copy, Default)]
pub struct LinkView<'a> {
    pub trace_id: &'a [u8],
    pub span_id: &'a [u8],
    pub trace_state: &'a str,
    pub dropped_attributes_count: u32,
    pub flags: u32,
    bytes: &'a [u8],
}

impl<'a> LinkView<'a> {
    fn parse(bytes: &'a [u8]) -> Self {
        let mut link = Self {
            bytes,
            ..Self::default()
        };
        for (tag, value) in Fields::new(bytes) {
            match tag {
                1 => link.trace_id = value.bytes(),
                2 => link.span_id = value.bytes(),
                3 => link.trace_state = value.str(),
                5 => link.dropped_attributes_count = value.int() as u32,
                6 => link.flags = value.int() as u32,
                _ => {}
            }
        }
        link
    }

    /// The attributes: `KeyValue` messages.
    pub fn attributes(&self) -> impl Iterator<Item = &'a [u8]> + Clone + use<'a> {
        occurrences(self.bytes, 4)
    }
}

#[cfg(test)]
pub(crate) mod tests;
