//! The resource and scope contexts of the records a shard holds.
//!
//! A shard worker reads each request's share of spans or log records with a
//! [`Contexts`], which makes each resource and scope once per run of records
//! under them. A
//! [`ContextCache`] kept by the worker finds the contexts of requests before
//! by their bytes: an SDK sends the same resource and scope with every
//! request, so they are decoded once, not once a request (decoding them with
//! `prost` and building their attribute pairs was 2.7% of the daemon's CPU
//! at 200,000 spans/s). Spans of different requests then share one context,
//! and a batch's attribute columns copy its row rather than look its
//! attributes up again (`ContextRows`).

use std::sync::Arc;

use hashbrown::HashTable;

use super::Indexed;
use crate::context::{ResourceContext, ScopeContext};

/// The resource and scope contexts of a request's records, each made once
/// for a run of records under the same scope (shared, so that the spans a
/// shard holds until a flush share them too); with a [`ContextCache`], found again
/// where a request before sent the same bytes.
#[derive(Debug, Default)]
pub struct Contexts<'c> {
    cache: Option<&'c mut ContextCache>,
    resource: Option<(usize, Arc<ResourceContext>)>,
    scope: Option<(usize, Arc<ScopeContext>)>,
}

impl<'c> Contexts<'c> {
    /// Contexts that look in `cache` before making one, and keep those made.
    pub fn cached(cache: &'c mut ContextCache) -> Self {
        Self {
            cache: Some(cache),
            resource: None,
            scope: None,
        }
    }

    /// The contexts of a record of `request` under resource `resource` and
    /// scope `scope` (the indices each record of an index carries, as
    /// [`SpanFacts`](crate::traces::wire::SpanFacts) does).
    pub fn get(
        &mut self,
        request: &impl Indexed,
        resource: usize,
        scope: usize,
    ) -> (&Arc<ResourceContext>, &Arc<ScopeContext>) {
        let (body, contexts) = (&request.body()[..], request.contexts());
        if self.resource.as_ref().is_none_or(|(i, _)| *i != resource) {
            let key = contexts.resources[resource].key(body);
            let make = || contexts.resource_context(body, resource);
            let context = match (&mut self.cache, key) {
                (Some(cache), Some(key)) => cache.resources.get(key, make),
                _ => Arc::new(make()),
            };
            self.resource = Some((resource, context));
        }
        if self.scope.as_ref().is_none_or(|(i, _)| *i != scope) {
            let key = contexts.scopes[scope].1.key(body);
            let make = || contexts.scope_context(body, scope);
            let context = match (&mut self.cache, key) {
                (Some(cache), Some(key)) => cache.scopes.get(key, make),
                _ => Arc::new(make()),
            };
            self.scope = Some((scope, context));
        }
        match (&self.resource, &self.scope) {
            (Some((_, resource)), Some((_, scope))) => (resource, scope),
            _ => unreachable!("both were set above"),
        }
    }
}

/// The resource and scope contexts made from requests, found by the bytes
/// they were made from (the message and the schema URL): equal bytes make
/// equal contexts. Holds up to [`MAX_KNOWN`] of each kind, made from up to
/// [`MAX_KNOWN_BYTES`], then starts afresh, so that a stream of distinct or
/// outsized resources costs a bounded amount of memory (and, past the
/// bound, what making each context costs anyway).
#[derive(Debug, Default)]
pub struct ContextCache {
    resources: Known<ResourceContext>,
    scopes: Known<ScopeContext>,
}

/// The most resources, and the most scopes, a [`ContextCache`] holds: a
/// node's or a cluster's services, far more than one shard meets between
/// flushes in practice.
pub const MAX_KNOWN: usize = 1024;

/// The most bytes the resources, and the scopes, a [`ContextCache`] holds
/// were made from (a context weighs about twice its bytes: its bytes, its
/// strings); a larger context is made afresh for each request, as without
/// the cache. A resource of a few dozen attributes is about a kilobyte.
pub const MAX_KNOWN_BYTES: usize = 1 << 20;

/// The contexts of one kind, keyed by their message's bytes followed by
/// their schema URL's (with the message's length, so that the two are told
/// apart).
#[derive(Debug)]
struct Known<T> {
    table: HashTable<Entry<T>>,
    /// The bytes of the entries' keys.
    bytes: usize,
    hasher: ahash::RandomState,
}

#[derive(Debug)]
struct Entry<T> {
    /// The message's bytes, then the schema URL's.
    bytes: Box<[u8]>,
    message_len: usize,
    context: Arc<T>,
}

impl<T> Entry<T> {
    fn key(&self) -> (&[u8], &[u8]) {
        self.bytes.split_at(self.message_len)
    }
}

impl<T> Default for Known<T> {
    fn default() -> Self {
        Self {
            table: HashTable::new(),
            bytes: 0,
            hasher: ahash::RandomState::new(),
        }
    }
}

impl<T> Known<T> {
    /// The context made from `key` (message, schema URL): the one made
    /// before, or `make`'s, kept.
    fn get(&mut self, key: (&[u8], &[u8]), make: impl FnOnce() -> T) -> Arc<T> {
        let hasher = &self.hasher;
        let hash = hasher.hash_one(key);
        if let Some(entry) = self.table.find(hash, |entry| entry.key() == key) {
            return Arc::clone(&entry.context);
        }
        let size = key.0.len() + key.1.len();
        if size > MAX_KNOWN_BYTES {
            return Arc::new(make());
        }
        if self.table.len() >= MAX_KNOWN || self.bytes + size > MAX_KNOWN_BYTES {
            self.table.clear();
            self.bytes = 0;
        }
        self.bytes += size;
        let context = Arc::new(make());
        let entry = Entry {
            bytes: [key.0, key.1].concat().into_boxed_slice(),
            message_len: key.0.len(),
            context: Arc::clone(&context),
        };
        self.table
            .insert_unique(hash, entry, |entry| hasher.hash_one(entry.key()));
        context
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.table.len()
    }

    #[cfg(test)]
    fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests;
