//! OTLP requests kept as the protobuf bytes they came in: what the in-place
//! indices of trace requests ([`WireTraces`](crate::traces::wire::WireTraces))
//! and log requests ([`WireLogs`](crate::logs::wire::WireLogs)) share.
//!
//! Both requests nest alike: resources (`ResourceSpans`, `ResourceLogs`),
//! each with scopes (`ScopeSpans`, `ScopeLogs`), each with records (spans,
//! log records), and each resource and scope message with a context message
//! (field 1), its records or scopes (field 2) and a schema URL (field 3). A
//! receiver checks the body as it indexes it ([`WireContexts`]),
//! noting where each resource's and scope's context lies; the shards make
//! each context once from those bytes ([`Contexts`], [`ContextCache`]).
//!
//! Field semantics follow protobuf and `prost`: the last occurrence of a
//! scalar field wins, repeated fields append, and the occurrences of a
//! singular message field merge.

use std::sync::Arc;

use bytes::Bytes;
use prost::Message;

use crate::context::{ResourceContext, ScopeContext};
use crate::otlp::common::v1::InstrumentationScope;
use crate::otlp::resource::v1::Resource;
use crate::protowire::{CheckedFields, Schema, WireError, merged};
use crate::validate::Rejected;

mod contexts;

pub use contexts::{ContextCache, Contexts, MAX_KNOWN, MAX_KNOWN_BYTES};

/// A byte range of a body, or of one record's bytes in it; bodies are under
/// 4 GiB.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct At {
    pub(crate) start: u32,
    pub(crate) end: u32,
}

impl At {
    /// Where `part`, a slice of `whole`, lies in it. An empty part (which
    /// may be a default `""` from elsewhere) is the empty range at 0.
    pub(crate) fn of(whole: &[u8], part: &[u8]) -> Self {
        if part.is_empty() {
            return Self { start: 0, end: 0 };
        }
        let start = (part.as_ptr() as usize).wrapping_sub(whole.as_ptr() as usize);
        debug_assert!(
            start
                .checked_add(part.len())
                .is_some_and(|end| end <= whole.len()),
            "part lies in whole"
        );
        // Bodies are checked to be under 4 GiB, so offsets fit.
        Self {
            start: start as u32,
            end: (start + part.len()) as u32,
        }
    }

    pub(crate) fn slice(self, whole: &[u8]) -> &[u8] {
        &whole[self.start as usize..self.end as usize]
    }

    /// Widens this range to cover `start..end` too (an empty range is
    /// nowhere yet): where the occurrences of one repeated field lie in a
    /// message under 4 GiB.
    pub(crate) fn cover(&mut self, start: usize, end: usize) {
        let (start, end) = (start as u32, end as u32);
        if self.start == self.end {
            *self = Self { start, end };
        } else {
            self.start = self.start.min(start);
            self.end = self.end.max(end);
        }
    }
}

/// Bodies are indexed with 32-bit offsets.
pub(crate) const MAX_BODY: usize = u32::MAX as usize;

/// The `resource` field of a resource message and the `scope` field of a
/// scope message.
const CONTEXT_FIELD: u32 = 1;
/// Their `schema_url` field.
const SCHEMA_URL_FIELD: u32 = 3;
/// The messages under them: a resource's scopes, a scope's records.
const CHILD_FIELD: u32 = 2;

/// A message of a checked body, decoded.
pub(crate) fn decode_checked<M: Message + Default>(bytes: &[u8]) -> M {
    let decoded = M::decode(bytes);
    debug_assert!(decoded.is_ok(), "a checked message failed to decode");
    decoded.unwrap_or_default()
}

/// Where a resource or scope message keeps the context of its records: its
/// `resource` (or `scope`) field and its `schema_url`, noted while indexing
/// so that reading them does not walk past every record again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ContextAt {
    /// The whole resource or scope message.
    whole: At,
    /// The resource or scope message, when the field occurs exactly once.
    message: Option<At>,
    /// The field occurs more than once, and `prost` merges the occurrences:
    /// read from `whole` then.
    repeated: bool,
    /// The last `schema_url`.
    schema_url: At,
}

impl ContextAt {
    /// Checks `message`, a resource or scope message (`schema`) of `whole`
    /// nested `depth` deep, noting where its context lies and handing each
    /// message of its field 2 (its scopes, or its records) to `child` with
    /// the depth it lies at, in the body's order.
    fn index(
        whole: &[u8],
        message: &[u8],
        schema: &Schema,
        depth: u32,
        mut child: impl FnMut(&[u8], u32) -> Result<(), WireError>,
    ) -> Result<Self, WireError> {
        let mut at = Self {
            whole: At::of(whole, message),
            message: None,
            repeated: false,
            schema_url: At::of(whole, b""),
        };
        let mut fields = CheckedFields::new(message, schema, depth);
        while let Some(field) = fields.next()? {
            match field.tag {
                CONTEXT_FIELD => {
                    at.repeated |= at.message.is_some();
                    at.message = Some(At::of(whole, field.value.bytes()));
                }
                SCHEMA_URL_FIELD => at.schema_url = At::of(whole, field.value.bytes()),
                CHILD_FIELD => {
                    child(field.value.bytes(), field.depth)?;
                    continue;
                }
                _ => {}
            }
            field.check_nested()?;
        }
        Ok(at)
    }

    /// The bytes that determine the context: the message and the schema
    /// URL; `None` when the field is missing or repeated (read afresh then).
    fn key<'b>(&self, body: &'b [u8]) -> Option<(&'b [u8], &'b [u8])> {
        match self.message {
            Some(at) if !self.repeated => Some((at.slice(body), self.schema_url.slice(body))),
            _ => None,
        }
    }

    /// The context message `M` and the schema URL, as `prost` would decode
    /// them.
    fn read<'b, M: Message + Default>(&self, body: &'b [u8]) -> (Option<M>, &'b str) {
        let message = match self.message {
            _ if self.repeated => merged(self.whole.slice(body), CONTEXT_FIELD),
            None => None,
            Some(at) => Some(decode_checked(at.slice(body))),
        };
        // Checked as UTF-8 with the body.
        let schema_url = std::str::from_utf8(self.schema_url.slice(body)).unwrap_or_default();
        (message, schema_url)
    }
}

/// The schemas of one signal's request, resource and scope messages.
pub(crate) struct RequestSchemas {
    pub(crate) request: &'static Schema,
    pub(crate) resource: &'static Schema,
    pub(crate) scope: &'static Schema,
}

/// The resources and scopes of a request indexed in place, by where their
/// contexts lie in its body; shared by the shares of the request, as its
/// body is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WireContexts {
    /// Each resource message.
    resources: Arc<[ContextAt]>,
    /// Each scope message, with the index of its resource.
    scopes: Arc<[(u32, ContextAt)]>,
}

/// The messages of one signal's request that hold its records, for
/// [`WireContexts::rebuild`]: its resource message (`ResourceSpans`,
/// `ResourceMetrics`, `ResourceLogs`) and its scope message; made for each
/// signal by [`nesting!`].
pub(crate) trait Nesting {
    type Resource;
    type Scope;
    type Record;
    fn resource(resource: Option<Resource>, schema_url: String) -> Self::Resource;
    fn scope(scope: Option<InstrumentationScope>, schema_url: String) -> Self::Scope;
    fn scopes(resource: &mut Self::Resource) -> &mut Vec<Self::Scope>;
    fn records(scope: &mut Self::Scope) -> &mut Vec<Self::Record>;
}

/// Implements [`Nesting`] for a signal: `nesting!(Name, resource message,
/// its scopes' field, scope message, its records' field, record message)`.
macro_rules! nesting {
    ($name:ident, $resource:ident, $scopes:ident, $scope:ident, $records:ident, $record:ident) => {
        /// The nesting of this signal's request messages.
        struct $name;

        impl $crate::wire::Nesting for $name {
            type Resource = $resource;
            type Scope = $scope;
            type Record = $record;

            fn resource(
                resource: Option<$crate::otlp::resource::v1::Resource>,
                schema_url: String,
            ) -> $resource {
                $resource {
                    resource,
                    $scopes: Vec::new(),
                    schema_url,
                }
            }

            fn scope(
                scope: Option<$crate::otlp::common::v1::InstrumentationScope>,
                schema_url: String,
            ) -> $scope {
                $scope {
                    scope,
                    $records: Vec::new(),
                    schema_url,
                }
            }

            fn scopes(resource: &mut $resource) -> &mut Vec<$scope> {
                &mut resource.$scopes
            }

            fn records(scope: &mut $scope) -> &mut Vec<$record> {
                &mut scope.$records
            }
        }
    };
}
pub(crate) use nesting;

impl WireContexts {
    /// Checks `whole`, a request of `schemas`, level by level, noting its
    /// resources and scopes and handing each record (each message of a
    /// scope's field 2) to `record` with its scope's index and the depth it
    /// lies at, in the body's order. A fault anywhere fails the whole
    /// request, as in `prost`; the first in the body's order is reported.
    pub(crate) fn index(
        whole: &[u8],
        schemas: &RequestSchemas,
        mut record: impl FnMut(u32, &[u8], u32) -> Result<(), WireError>,
    ) -> Result<Self, WireError> {
        let mut resources = Vec::new();
        let mut scopes = Vec::new();
        let mut fields = CheckedFields::new(whole, schemas.request, 0);
        while let Some(field) = fields.next()? {
            // resource_spans, resource_metrics or resource_logs, the only
            // field
            debug_assert_eq!(field.tag, 1);
            let resource = resources.len() as u32;
            let scopes = &mut scopes;
            let resource_at = ContextAt::index(
                whole,
                field.value.bytes(),
                schemas.resource,
                field.depth,
                |scope_message, depth| {
                    let scope = scopes.len() as u32;
                    let scope_at = ContextAt::index(
                        whole,
                        scope_message,
                        schemas.scope,
                        depth,
                        |r, depth| record(scope, r, depth),
                    )?;
                    scopes.push((resource, scope_at));
                    Ok(())
                },
            )?;
            resources.push(resource_at);
        }
        Ok(Self {
            resources: resources.into(),
            scopes: scopes.into(),
        })
    }

    /// How many resource messages the request has.
    pub fn resources(&self) -> usize {
        self.resources.len()
    }

    /// The resource of scope `scope`.
    pub fn resource_of(&self, scope: usize) -> usize {
        self.scopes[scope].0 as usize
    }

    /// The resource message `index` of `body` and its schema URL.
    pub fn resource<'b>(&self, body: &'b [u8], index: usize) -> (Option<Resource>, &'b str) {
        self.resources[index].read(body)
    }

    /// The scope message `index` of `body` and its schema URL.
    pub fn scope<'b>(
        &self,
        body: &'b [u8],
        index: usize,
    ) -> (Option<InstrumentationScope>, &'b str) {
        self.scopes[index].1.read(body)
    }

    /// The resource of `resources[index]`, ready for its records' rows.
    pub fn resource_context(&self, body: &[u8], index: usize) -> ResourceContext {
        let (resource, schema_url) = self.resource(body, index);
        ResourceContext::new(resource.as_ref(), schema_url)
    }

    /// The instrumentation scope of `scopes[index]`, ready for its records'
    /// rows.
    pub fn scope_context(&self, body: &[u8], index: usize) -> ScopeContext {
        let (scope, schema_url) = self.scope(body, index);
        ScopeContext::new(scope.as_ref(), schema_url)
    }

    /// Splits `records` (each under scope `scope_of(record)`) into `parts`
    /// shares by `part_of(resource)`, their resource as `prost` would
    /// decode it from `body` (each resource decoded once, and only when
    /// there are parts to choose from). Returns the non-empty shares with
    /// their part, in part order.
    pub(crate) fn split_by_resource<R: Copy>(
        &self,
        body: &[u8],
        records: Vec<R>,
        scope_of: impl Fn(&R) -> u32,
        parts: usize,
        part_of: impl Fn(Option<&Resource>) -> usize,
    ) -> Vec<(usize, Vec<R>)> {
        if parts <= 1 {
            return if records.is_empty() {
                Vec::new()
            } else {
                vec![(0, records)]
            };
        }
        let parts_of: Vec<usize> = (0..self.resources.len())
            .map(|index| {
                let (resource, _) = self.resource(body, index);
                part_of(resource.as_ref()).min(parts - 1)
            })
            .collect();
        let mut shares: Vec<Vec<R>> = (0..parts).map(|_| Vec::new()).collect();
        for record in records {
            let resource = self.resource_of(scope_of(&record) as usize);
            shares[parts_of[resource]].push(record);
        }
        shares
            .into_iter()
            .enumerate()
            .filter(|(_, records)| !records.is_empty())
            .collect()
    }

    /// The resource messages of a request holding `records` (each with its
    /// scope's index, in request order) under their resources and scopes of
    /// `body` as they came: for OTLP/JSON and for tests.
    pub(crate) fn rebuild<N: Nesting>(
        &self,
        body: &[u8],
        records: impl Iterator<Item = (u32, N::Record)>,
    ) -> Vec<N::Resource> {
        let mut resources: Vec<N::Resource> = Vec::new();
        let mut last_scope = None;
        for (scope, record) in records {
            if last_scope != Some(scope) {
                let resource = self.resource_of(scope as usize);
                if last_scope.is_none_or(|s| self.resource_of(s as usize) != resource) {
                    let (message, schema_url) = self.resource(body, resource);
                    resources.push(N::resource(message, schema_url.to_owned()));
                }
                let (message, schema_url) = self.scope(body, scope as usize);
                if let Some(last) = resources.last_mut() {
                    N::scopes(last).push(N::scope(message, schema_url.to_owned()));
                }
                last_scope = Some(scope);
            }
            if let Some(last) = resources.last_mut().and_then(|r| N::scopes(r).last_mut()) {
                N::records(last).push(record);
            }
        }
        resources
    }
}

/// The body bytes a record (a span, a log record) is taken to need when an
/// index reserves room for a request's records: a span with its ids, name,
/// times and a few attributes takes more, so such records fit the room
/// reserved, and the room is about half the body's size at most, given back
/// as the request is split. (The traces index's lists grew 35 times a
/// request of the load generator's, 1.5% of the instructions of receiving
/// and holding its spans; 10 times with the room reserved, for its resources
/// and scopes.)
const RECORD_BYTES_GUESS: usize = 256;

/// What [`index_each`] makes of a request: its resources and scopes, the
/// records kept, and what was left out.
pub(crate) struct EachIndexed<R> {
    pub(crate) contexts: WireContexts,
    pub(crate) records: Vec<R>,
    pub(crate) rejected: Rejected,
}

/// Checks `body`, a request of `schemas`, keeping or leaving out its records
/// one by one, as the trace and log indices do: `read` checks a record (given
/// its scope's index and its depth) and either pushes what to keep of it to
/// the list it is given or returns the reason it is left out, which is
/// counted in the `Rejected`. (Pushed by `read` rather than returned: a
/// span's layout moved through a returned value cost 0.6% more instructions
/// of the receivers' decode, `measured_decode`.) Fails with `too_large` for
/// a body over [`MAX_BODY`], and as [`WireContexts::index`] fails otherwise.
pub(crate) fn index_each<R>(
    body: &Bytes,
    schemas: &RequestSchemas,
    too_large: &'static str,
    mut read: impl FnMut(u32, &[u8], u32, &mut Vec<R>) -> Result<Result<(), String>, WireError>,
) -> Result<EachIndexed<R>, WireError> {
    if body.len() > MAX_BODY {
        return Err(WireError::new(too_large));
    }
    let mut records = Vec::with_capacity(body.len() / RECORD_BYTES_GUESS);
    let mut rejected = Rejected::default();
    let contexts = WireContexts::index(body, schemas, |scope, record, depth| {
        if let Err(reason) = read(scope, record, depth, &mut records)? {
            rejected.reject(1, || reason);
        }
        Ok(())
    })?;
    rejected.accepted = records.len() as i64;
    Ok(EachIndexed {
        contexts,
        records,
        rejected,
    })
}

/// A request indexed in place: its body, and its resources and scopes in it.
pub trait Indexed {
    fn body(&self) -> &Bytes;
    fn contexts(&self) -> &WireContexts;
}
