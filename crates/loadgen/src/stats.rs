//! The counters of a run, shared by its workers and read by the progress line
//! and the summary.
//!
//! # Counting
//!
//! A request is counted as sent once, when first sent; retries of it count in
//! `retries` (and their bytes in `bytes_sent`). Its final attempt decides what
//! it became: acknowledged, refused (by status) or failed (by error kind), so
//! `requests_sent = acknowledged + refused + failed` once the run is over.
//! Acknowledgement latency is that of the acknowledged attempt, in a
//! [`DdSketch`] (1% relative accuracy).
//!
//! One mutex guards everything: workers take it twice per request, which is
//! nothing next to the cost of a request.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use sluice_slo::DdSketch;

use crate::client::{Attempt, Outcome};

/// Everything counted so far.
#[derive(Debug, Clone, Default)]
pub struct Totals {
    pub requests_sent: u64,
    pub records_sent: u64,
    /// Wire bytes of every attempt, retries included.
    pub bytes_sent: u64,
    pub requests_acknowledged: u64,
    /// Records of acknowledged requests, minus those the endpoint rejected.
    pub records_acknowledged: u64,
    /// Records an acknowledged request's `partial_success` said were dropped.
    pub records_rejected: u64,
    pub requests_refused: u64,
    pub records_refused: u64,
    /// Final refusals by status: `"UNAVAILABLE"`, `"503"`, ...
    pub refused_by_status: BTreeMap<String, u64>,
    pub requests_failed: u64,
    /// Final failures by kind: `connect`, `timeout`, ...
    pub errors: BTreeMap<String, u64>,
    pub retries: u64,
    /// Attempts the endpoint answered, whatever the answer.
    pub answered: u64,
    /// The first failure's or refusal's message, to say what went wrong.
    pub first_error: Option<String>,
    /// Acknowledgement latency, nanoseconds.
    pub latency: DdSketch,
}

/// The shared counters of a run.
#[derive(Debug, Default)]
pub struct Stats {
    totals: Mutex<Totals>,
}

impl Stats {
    fn with<T>(&self, f: impl FnOnce(&mut Totals) -> T) -> T {
        f(&mut self.totals.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Counts one attempt at sending a request of `records` records.
    pub fn attempt(&self, records: usize, attempt: &Attempt, is_retry: bool) {
        self.with(|t| {
            if is_retry {
                t.retries += 1;
            } else {
                t.requests_sent += 1;
                t.records_sent += records as u64;
            }
            t.bytes_sent += attempt.wire_bytes;
            if !matches!(attempt.outcome, Outcome::Failed { .. }) {
                t.answered += 1;
            }
        });
    }

    /// Counts what a request of `records` records finally became.
    pub fn finish(&self, records: usize, attempt: &Attempt) {
        let records = records as u64;
        self.with(|t| match &attempt.outcome {
            Outcome::Acknowledged { rejected } => {
                let rejected = (*rejected).min(records);
                t.requests_acknowledged += 1;
                t.records_acknowledged += records - rejected;
                t.records_rejected += rejected;
                t.latency.add(attempt.latency.as_nanos() as f64);
            }
            Outcome::Refused {
                status, message, ..
            } => {
                t.requests_refused += 1;
                t.records_refused += records;
                *t.refused_by_status.entry(status.clone()).or_default() += 1;
                t.first_error.get_or_insert_with(|| {
                    if message.is_empty() {
                        format!("refused with status {status}")
                    } else {
                        format!("refused with status {status}: {message}")
                    }
                });
            }
            Outcome::Failed { kind, message } => {
                t.requests_failed += 1;
                *t.errors.entry((*kind).to_owned()).or_default() += 1;
                t.first_error.get_or_insert_with(|| message.clone());
            }
        });
    }

    /// A copy of the counters.
    pub fn snapshot(&self) -> Totals {
        self.with(|t| t.clone())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn attempt(outcome: Outcome, ms: u64) -> Attempt {
        Attempt {
            outcome,
            wire_bytes: 100,
            latency: Duration::from_millis(ms),
        }
    }

    #[test]
    fn every_request_ends_in_exactly_one_outcome() {
        let stats = Stats::default();
        let ack = attempt(Outcome::Acknowledged { rejected: 2 }, 10);
        stats.attempt(10, &ack, false);
        stats.finish(10, &ack);
        let busy = attempt(
            Outcome::Refused {
                status: "UNAVAILABLE".into(),
                message: String::new(),
                retryable: true,
                retry_after: None,
            },
            1,
        );
        stats.attempt(10, &busy, false);
        stats.attempt(10, &busy, true);
        stats.finish(10, &busy);
        let down = attempt(
            Outcome::Failed {
                kind: "connect",
                message: "connection refused".into(),
            },
            1,
        );
        stats.attempt(10, &down, false);
        stats.finish(10, &down);
        let t = stats.snapshot();
        assert_eq!((t.requests_sent, t.records_sent, t.retries), (3, 30, 1));
        assert_eq!(t.bytes_sent, 400);
        assert_eq!(
            t.requests_sent,
            t.requests_acknowledged + t.requests_refused + t.requests_failed
        );
        assert_eq!((t.records_acknowledged, t.records_rejected), (8, 2));
        assert_eq!(t.refused_by_status.get("UNAVAILABLE"), Some(&1));
        assert_eq!(t.errors.get("connect"), Some(&1));
        assert_eq!(t.answered, 3);
        assert_eq!(
            t.first_error.as_deref(),
            Some("refused with status UNAVAILABLE")
        );
        assert_eq!(t.latency.count(), 1);
    }
}
