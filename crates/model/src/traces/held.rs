//! The spans of an open `otel_traces` batch, held as the bytes they came in
//! until the batch is written.
//!
//! A shard worker pushes each span of its share of a request
//! ([`WireTraces`](super::wire::WireTraces)) into the [`HeldSpans`] of its
//! tenant and hour: a reference to the request body (shared, not copied), the
//! span's place in it and where its fields lie (the index's `SpanLayout`, so
//! it is not parsed again), its resource and scope contexts (made once per
//! request) and its start time. [`HeldSpans::finish`],
//! at the flush, orders the spans as a file holds them (service, then start
//! time) and only then reads them into Arrow rows ([`TraceBatchBuilder`]), so
//! the rows are built once, already in order.
//!
//! Building the rows as spans arrived and sorting the finished batch instead
//! copied every string of it a second time (arrow's `take` over the attribute
//! maps, events and links): an eighth of the daemon's CPU. The bodies also
//! weigh less than the rows they become, where every row repeats its
//! resource's attributes.

use std::sync::Arc;

use arrow::array::RecordBatch;
use bytes::Bytes;

use super::wire::{At, SpanFacts, SpanLayout};
use super::{TraceBatchBuilder, TraceCapacity};
use crate::context::{ResourceContext, ScopeContext};
use crate::time::to_arrow_nanos;

/// One held span: where it lies, under which contexts, and its sort key.
#[derive(Debug, Clone, Copy)]
struct Held {
    /// From the high bits: its service's rank among the batch's (32 bits,
    /// set by [`HeldSpans::finish`] before sorting), its start time (the
    /// `Timestamp` column's value, as an unsigned number of the same order)
    /// and its place in arrival order, which is where its fields lie in
    /// `HeldSpans::layouts` (apart so that sorting moves less). One
    /// comparison of two words, where the three fields apart took three
    /// (`measured_loadgen_requests` 312.5M -> 308.0M instructions).
    key: u128,
    body: u32,
    context: u32,
    at: At,
}

impl Held {
    /// Where the span's fields lie in `HeldSpans::layouts`.
    fn layout(&self) -> usize {
        self.key as u32 as usize
    }
}

/// The spans of one open batch; see the module documentation.
#[derive(Debug, Default)]
pub struct HeldSpans {
    /// The request bodies the spans lie in, each once.
    bodies: Vec<Bytes>,
    /// The distinct (resource, scope) pairs of the spans, each once per run of
    /// spans sharing them.
    contexts: Vec<(Arc<ResourceContext>, Arc<ScopeContext>)>,
    spans: Vec<Held>,
    /// The index's [`SpanLayout`] of each span, in the order they came.
    layouts: Vec<SpanLayout>,
}

impl HeldSpans {
    pub fn new() -> Self {
        Self::default()
    }

    /// Spans held since the last [`finish`](Self::finish).
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Holds `span`, sent under `resource` and `scope`. The span must be one
    /// of a [`WireTraces`](super::wire::WireTraces) whose body is `body`.
    pub fn push(
        &mut self,
        body: &Bytes,
        span: &SpanFacts,
        resource: &Arc<ResourceContext>,
        scope: &Arc<ScopeContext>,
    ) {
        let same_body = self
            .bodies
            .last()
            .is_some_and(|b| b.as_ptr() == body.as_ptr() && b.len() == body.len());
        if !same_body {
            self.bodies.push(body.clone());
        }
        let same_context = self
            .contexts
            .last()
            .is_some_and(|(r, s)| Arc::ptr_eq(r, resource) && Arc::ptr_eq(s, scope));
        if !same_context {
            self.contexts
                .push((Arc::clone(resource), Arc::clone(scope)));
        }
        let time = to_arrow_nanos(span.start_time_unix_nano).cast_unsigned() ^ (1 << 63);
        let place = self.layouts.len() as u32;
        self.spans.push(Held {
            key: u128::from(time) << 32 | u128::from(place),
            // Fewer than 2^32 bodies, contexts and spans: each body and context
            // holds at least one span, and a batch is written long before it
            // holds that many.
            body: (self.bodies.len() - 1) as u32,
            context: (self.contexts.len() - 1) as u32,
            at: At::of(body, span.bytes),
        });
        self.layouts.push(span.layout);
    }

    /// The held spans as rows ordered by service name, then start time (spans
    /// equal in both keep the order they came in), leaving this empty.
    pub fn finish(&mut self) -> RecordBatch {
        let rank = self.service_ranks();
        for held in &mut self.spans {
            held.key |= u128::from(rank[held.context as usize]) << 96;
        }
        // A span's place in arrival order ends its key, so no two keys are
        // equal and the quicker unstable sort keeps ties as they came.
        self.spans.sort_unstable_by_key(|held| held.key);
        let mut builder = TraceBatchBuilder::with_capacity(&self.capacity());
        for (i, held) in self.spans.iter().enumerate() {
            // The spans lie in bodies that came in up to a flush interval
            // ago, long out of the caches, and are read in the file's order,
            // which jumps between bodies: asked for a few spans ahead, their
            // bytes and layouts are in cache by their turn (the shards' CPU
            // at 200,000 spans/s 7% lower; benches/RESULTS.md, twelfth
            // session).
            if let Some(ahead) = self.spans.get(i + PREFETCH_AHEAD) {
                let bytes = ahead.at.slice(&self.bodies[ahead.body as usize]);
                super::prefetch_lines(bytes.as_ptr(), bytes.len());
                super::prefetch_lines(
                    (&raw const self.layouts[ahead.layout()]).cast(),
                    std::mem::size_of::<SpanLayout>(),
                );
            }
            let (resource, scope) = &self.contexts[held.context as usize];
            let body = &self.bodies[held.body as usize];
            let layout = &self.layouts[held.layout()];
            builder.append(resource, scope, &layout.view(held.at.slice(body)));
        }
        self.spans.clear();
        self.layouts.clear();
        self.contexts.clear();
        self.bodies.clear();
        builder.finish()
    }

    /// What the held spans' rows will hold, to size the builders: the
    /// contexts' columns by the spans under each, the span attributes by
    /// their stretches.
    fn capacity(&self) -> TraceCapacity {
        let mut spans_of = vec![0usize; self.contexts.len()];
        for held in &self.spans {
            spans_of[held.context as usize] += 1;
        }
        let mut capacity = TraceCapacity::default();
        for ((resource, scope), &spans) in self.contexts.iter().zip(&spans_of) {
            capacity.add_spans(resource, scope, spans);
        }
        capacity.span_attribute_bytes = self.layouts.iter().map(SpanLayout::attributes_len).sum();
        capacity
    }

    /// For each context, the rank of its service name among the services held:
    /// comparing ranks compares the names.
    fn service_ranks(&self) -> Vec<u32> {
        let service = |i: u32| self.contexts[i as usize].0.service_name.as_str();
        let mut order: Vec<u32> = (0..self.contexts.len() as u32).collect();
        order.sort_by(|a, b| service(*a).cmp(service(*b)));
        let mut rank = vec![0; self.contexts.len()];
        let mut current = 0;
        for (i, pair) in order.windows(2).enumerate() {
            if service(pair[0]) != service(pair[1]) {
                current += 1;
            }
            rank[order[i + 1] as usize] = current;
        }
        rank
    }
}

/// How many spans ahead of the one being read [`HeldSpans::finish`] asks
/// for the memory of.
const PREFETCH_AHEAD: usize = 8;

#[cfg(test)]
mod tests;
