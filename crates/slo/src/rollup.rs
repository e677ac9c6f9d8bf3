//! Per-minute SLI rollups: for one tenant, service, operation (span name) and
//! span kind, the requests, errors, and latency sketches of successful and of
//! failed requests in one minute of event time.
//!
//! # Place in the data path
//!
//! Each shard worker (`sluice-pipeline`) owns a [`RollupTable`] and calls
//! [`RollupTable::record_span`] for every span it appends, bucketed by the
//! span's **end** time. It drains rows older than its write horizon with
//! [`RollupTable::drain_older_than`] and hands them to storage, which writes them
//! to the `sluice_rollups` table. The query API reads those rows back from every
//! shard and node, merges the rows of each key and minute with
//! [`RollupTable::merge_row`] (or [`SliRollup::merge`]), and derives SLO counts
//! with [`SliRollup::availability_counts`] and [`SliRollup::latency_counts`].
//!
//! # Ordering and late data
//!
//! A span updates the minute it belongs to whenever it arrives. If that minute
//! was already drained, the late span starts a new partial row for the same key
//! and minute, written in a later file. Rows are partial sums by design: counts
//! add and sketches merge exactly, so merging every row of a key and minute
//! gives the same totals as if all spans had arrived at once, on one shard.
//!
//! # Units
//!
//! Durations are `u64` nanoseconds (OTLP end − start); the sketches hold them as
//! `f64` nanoseconds, always at [`SketchConfig::DEFAULT`] so every rollup ever
//! written merges with every other.

mod table;

use std::sync::Arc;

use sluice_model::Tenant;
use sluice_model::compare::same_bytes;

use crate::SloError;
use crate::budget::EventCounts;
use crate::sketch::{DdSketch, SketchConfig};

pub use table::{RollupRow, RollupTable};

/// The OTLP span kind, with the Collector's names (`otel_traces.SpanKind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SpanKind {
    Unspecified,
    Internal,
    Server,
    Client,
    Producer,
    Consumer,
}

impl SpanKind {
    /// From the OTLP enum value; unknown values are `Unspecified`.
    pub fn from_otlp(kind: i32) -> Self {
        match kind {
            1 => Self::Internal,
            2 => Self::Server,
            3 => Self::Client,
            4 => Self::Producer,
            5 => Self::Consumer,
            _ => Self::Unspecified,
        }
    }

    /// `Server`, `Client`, ... as in `otel_traces.SpanKind`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unspecified => "Unspecified",
            Self::Internal => "Internal",
            Self::Server => "Server",
            Self::Client => "Client",
            Self::Producer => "Producer",
            Self::Consumer => "Consumer",
        }
    }

    /// Parses [`SpanKind::as_str`] output.
    pub fn from_name(name: &str) -> Option<Self> {
        [
            Self::Unspecified,
            Self::Internal,
            Self::Server,
            Self::Client,
            Self::Producer,
            Self::Consumer,
        ]
        .into_iter()
        .find(|k| k.as_str() == name)
    }
}

/// What a rollup is kept for. Cheap to clone (shared strings).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RollupKey {
    pub tenant: Tenant,
    /// `service.name` of the resource.
    pub service: Arc<str>,
    /// The span name.
    pub operation: Arc<str>,
    pub span_kind: SpanKind,
}

impl RollupKey {
    /// This key borrowed, to find its rollup in a [`RollupTable`].
    pub fn borrowed(&self) -> RollupKeyRef<'_> {
        RollupKeyRef {
            tenant: &self.tenant,
            service: &self.service,
            operation: &self.operation,
            span_kind: self.span_kind,
        }
    }

    pub fn new(
        tenant: Tenant,
        service: impl Into<Arc<str>>,
        operation: impl Into<Arc<str>>,
        span_kind: SpanKind,
    ) -> Self {
        Self {
            tenant,
            service: service.into(),
            operation: operation.into(),
            span_kind,
        }
    }
}

/// A [`RollupKey`] of borrowed strings: a shard finds a span's rollup with
/// it and builds the key itself (allocating its strings) only for a key new
/// in its minute. It hashes as the key it stands for hashes (the same
/// fields, in the same order, hashed as the same types).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RollupKeyRef<'a> {
    pub tenant: &'a Tenant,
    pub service: &'a str,
    pub operation: &'a str,
    pub span_kind: SpanKind,
}

impl RollupKeyRef<'_> {
    /// The key this stands for, its strings allocated.
    pub fn to_owned(self) -> RollupKey {
        RollupKey::new(
            self.tenant.clone(),
            self.service,
            self.operation,
            self.span_kind,
        )
    }
}

/// Compared field by field as bytes, without calls of `memcmp`: a shard
/// looks up a key once a span.
impl hashbrown::Equivalent<RollupKey> for RollupKeyRef<'_> {
    fn equivalent(&self, key: &RollupKey) -> bool {
        self.span_kind == key.span_kind
            && same_bytes(self.operation.as_bytes(), key.operation.as_bytes())
            && same_bytes(self.service.as_bytes(), key.service.as_bytes())
            && *self.tenant == key.tenant
    }
}

/// One key's requests in one minute. `requests` always equals the count of the
/// success sketch plus the count of the failure sketch, and `errors` the count
/// of the failure sketch.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SliRollup {
    requests: u64,
    errors: u64,
    success_latency: DdSketch,
    failure_latency: DdSketch,
}

impl SliRollup {
    pub fn new() -> Self {
        Self::default()
    }

    /// Rebuilds a rollup read from storage, checking that its parts agree.
    pub fn from_parts(
        requests: u64,
        errors: u64,
        success_latency: DdSketch,
        failure_latency: DdSketch,
    ) -> Result<Self, SloError> {
        let inconsistent = |reason| Err(SloError::InconsistentRollup { reason });
        if errors > requests {
            return inconsistent("more errors than requests");
        }
        if failure_latency.count() != errors {
            return inconsistent("failure sketch count differs from errors");
        }
        if success_latency.count() != requests - errors {
            return inconsistent("success sketch count differs from requests - errors");
        }
        if success_latency.config() != SketchConfig::DEFAULT
            || failure_latency.config() != SketchConfig::DEFAULT
        {
            return inconsistent("sketch accuracy or bucket bound differs from the rollup default");
        }
        Ok(Self {
            requests,
            errors,
            success_latency,
            failure_latency,
        })
    }

    /// Records one request that took `duration_nanos` and failed or not.
    pub fn record(&mut self, duration_nanos: u64, is_error: bool) {
        self.requests = self.requests.saturating_add(1);
        // u64 -> f64: exact below 2^53 ns (104 days).
        let duration = duration_nanos as f64;
        if is_error {
            self.errors = self.errors.saturating_add(1);
            self.failure_latency.add(duration);
        } else {
            self.success_latency.add(duration);
        }
    }

    /// Adds another partial rollup of the same key and minute. Either both
    /// sketches merge or nothing changes.
    pub fn merge(&mut self, other: &SliRollup) -> Result<(), SloError> {
        self.success_latency
            .check_mergeable(&other.success_latency)?;
        self.failure_latency
            .check_mergeable(&other.failure_latency)?;
        self.success_latency.merge(&other.success_latency)?;
        self.failure_latency.merge(&other.failure_latency)?;
        self.requests = self.requests.saturating_add(other.requests);
        self.errors = self.errors.saturating_add(other.errors);
        Ok(())
    }

    pub fn requests(&self) -> u64 {
        self.requests
    }

    pub fn errors(&self) -> u64 {
        self.errors
    }

    /// Latencies of requests whose status is not ERROR, in nanoseconds.
    pub fn success_latency(&self) -> &DdSketch {
        &self.success_latency
    }

    /// Latencies of requests whose status is ERROR, in nanoseconds.
    pub fn failure_latency(&self) -> &DdSketch {
        &self.failure_latency
    }

    /// Latencies of all requests: the two sketches merged.
    pub fn all_latency(&self) -> DdSketch {
        let mut all = self.success_latency.clone();
        // Both sketches of a rollup always share the default accuracy.
        let _ = all.merge(&self.failure_latency);
        all
    }

    /// Availability: every request is valid; good ones are not ERROR. Exact.
    pub fn availability_counts(&self) -> EventCounts {
        EventCounts {
            good: self.requests - self.errors.min(self.requests),
            valid: self.requests,
        }
    }

    /// Latency: every request is valid; good ones took at most
    /// `threshold_nanos`, whatever their status ("server spans faster than a
    /// threshold", as latency SLIs over histograms count). Estimated from the
    /// sketches: exact unless some durations lie within the sketch accuracy (1%)
    /// of the threshold.
    pub fn latency_counts(&self, threshold_nanos: u64) -> EventCounts {
        let threshold = threshold_nanos as f64;
        EventCounts {
            good: self
                .success_latency
                .count_at_most(threshold)
                .saturating_add(self.failure_latency.count_at_most(threshold)),
            valid: self.requests,
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// A table finds a key's rollup by its borrowed form only if the two
        /// hash alike and compare equal; and unequal keys stay apart.
        #[test]
        fn a_borrowed_key_hashes_and_compares_as_its_key(
            a in ("[a-c]{1,3}", "[a-c]{0,3}", "[a-c]{0,3}", 0i32..6),
            b in ("[a-c]{1,3}", "[a-c]{0,3}", "[a-c]{0,3}", 0i32..6),
        ) {
            let key = |(tenant, service, operation, kind): &(String, String, String, i32)| {
                RollupKey::new(
                    tenant.parse::<Tenant>().expect("a valid tenant"),
                    service.as_str(),
                    operation.as_str(),
                    SpanKind::from_otlp(*kind),
                )
            };
            let (ka, kb) = (key(&a), key(&b));
            let state = ahash::RandomState::new();
            prop_assert_eq!(state.hash_one(&ka), state.hash_one(ka.borrowed()));
            prop_assert_eq!(hashbrown::Equivalent::equivalent(&ka.borrowed(), &kb), ka == kb);
            prop_assert_eq!(ka.borrowed().to_owned(), ka);
        }
    }

    #[test]
    fn span_kinds_use_the_collector_names() {
        for otlp in -1..=6 {
            let kind = SpanKind::from_otlp(otlp);
            assert_eq!(
                kind.as_str(),
                sluice_model::traces::span_kind_name(otlp),
                "{otlp}"
            );
            assert_eq!(SpanKind::from_name(kind.as_str()), Some(kind));
        }
        assert_eq!(SpanKind::from_name("server"), None);
    }

    #[test]
    fn records_successes_and_failures_apart() {
        let mut r = SliRollup::new();
        for ms in [10, 20, 30, 40] {
            r.record(ms * 1_000_000, false);
        }
        r.record(2_000_000_000, true);
        assert_eq!((r.requests(), r.errors()), (5, 1));
        assert_eq!(r.success_latency().count(), 4);
        assert_eq!(r.failure_latency().max(), Some(2e9));
        assert_eq!(r.all_latency().count(), 5);
        assert_eq!(r.availability_counts(), EventCounts { good: 4, valid: 5 });
        // 300 ms: the four fast ones are good, the slow error is not.
        assert_eq!(
            r.latency_counts(300_000_000),
            EventCounts { good: 4, valid: 5 }
        );
        assert_eq!(
            r.latency_counts(5_000_000_000),
            EventCounts { good: 5, valid: 5 }
        );
    }

    #[test]
    fn merges_exactly() {
        let (mut a, mut b, mut both) = (SliRollup::new(), SliRollup::new(), SliRollup::new());
        for i in 0..100u64 {
            let (d, e) = (i * 7_919_000, i % 9 == 0);
            if i % 2 == 0 {
                a.record(d, e)
            } else {
                b.record(d, e)
            }
            both.record(d, e);
        }
        a.merge(&b).expect("same accuracy");
        assert_eq!((a.requests(), a.errors()), (both.requests(), both.errors()));
        assert_eq!(a.availability_counts(), both.availability_counts());
        for q in [0.5, 0.99] {
            assert_eq!(
                a.success_latency().quantile(q),
                both.success_latency().quantile(q)
            );
            assert_eq!(
                a.failure_latency().quantile(q),
                both.failure_latency().quantile(q)
            );
        }
    }

    #[test]
    fn from_parts_checks_consistency() {
        let mut r = SliRollup::new();
        r.record(5, false);
        r.record(6, true);
        let ok = SliRollup::from_parts(
            2,
            1,
            r.success_latency().clone(),
            r.failure_latency().clone(),
        );
        assert_eq!(ok, Ok(r.clone()));
        for (requests, errors) in [(3, 1), (2, 2), (1, 2)] {
            let bad = SliRollup::from_parts(
                requests,
                errors,
                r.success_latency().clone(),
                r.failure_latency().clone(),
            );
            assert!(bad.is_err(), "{requests} {errors}");
        }
    }
}
