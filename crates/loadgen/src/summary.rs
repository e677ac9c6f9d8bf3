//! The result of a run: a [`Summary`] that prints as text for people (stderr)
//! and serializes as one JSON object for scripts (stdout with `--json`).
//!
//! # JSON fields
//!
//! `protocol`, `signal`, `endpoint`, `compression`, `tenant`, `seed`,
//! `concurrency`, `batch`, `duration_seconds`, `requests_sent`,
//! `records_sent`, `bytes_sent` (wire bytes after compression, retries
//! included), `requests_acknowledged`, `records_acknowledged`,
//! `records_rejected` (dropped per `partial_success`), `requests_refused`,
//! `records_refused`, `refused_by_status` (e.g. `{"UNAVAILABLE": 12, "503": 4}`),
//! `requests_failed`, `errors` (transport errors by kind), `retries`,
//! `target_records_per_second` (0 = as fast as possible),
//! `achieved_records_per_second` (records sent / duration),
//! `acknowledged_records_per_second`, `bytes_per_second`, `ack_latency_ms`
//! (`p50`, `p99`, `p999`, `max`; `null` without acknowledgements),
//! `first_error`.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Duration;

use serde::Serialize;

use crate::options::{Compression, Plan, Protocol, Signal};
use crate::stats::Totals;

/// Acknowledgement latency quantiles, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LatencyMs {
    pub p50: Option<f64>,
    pub p99: Option<f64>,
    pub p999: Option<f64>,
    pub max: Option<f64>,
}

/// What a run sent and what became of it; see the module docs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub protocol: Protocol,
    pub signal: Signal,
    pub endpoint: String,
    pub compression: Compression,
    pub tenant: Option<String>,
    pub seed: u64,
    pub concurrency: usize,
    pub batch: usize,
    pub duration_seconds: f64,
    pub requests_sent: u64,
    pub records_sent: u64,
    pub bytes_sent: u64,
    pub requests_acknowledged: u64,
    pub records_acknowledged: u64,
    pub records_rejected: u64,
    pub requests_refused: u64,
    pub records_refused: u64,
    pub refused_by_status: BTreeMap<String, u64>,
    pub requests_failed: u64,
    pub errors: BTreeMap<String, u64>,
    pub retries: u64,
    pub target_records_per_second: f64,
    pub achieved_records_per_second: f64,
    pub acknowledged_records_per_second: f64,
    pub bytes_per_second: f64,
    pub ack_latency_ms: LatencyMs,
    pub first_error: Option<String>,
}

/// Rounds to 3 decimals, for readable JSON.
fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

impl Summary {
    /// The summary of a run of `plan` that lasted `elapsed`.
    pub fn new(plan: &Plan, totals: &Totals, elapsed: Duration) -> Self {
        let secs = elapsed.as_secs_f64().max(1e-9);
        let per_second = |n: u64| round3(n as f64 / secs);
        let ms = |q: f64| totals.latency.quantile(q).map(|ns| round3(ns / 1e6));
        Self {
            protocol: plan.protocol,
            signal: plan.signal,
            endpoint: plan.endpoint.clone(),
            compression: plan.compression,
            tenant: plan.tenant.clone(),
            seed: plan.seed,
            concurrency: plan.concurrency,
            batch: plan.batch,
            duration_seconds: round3(elapsed.as_secs_f64()),
            requests_sent: totals.requests_sent,
            records_sent: totals.records_sent,
            bytes_sent: totals.bytes_sent,
            requests_acknowledged: totals.requests_acknowledged,
            records_acknowledged: totals.records_acknowledged,
            records_rejected: totals.records_rejected,
            requests_refused: totals.requests_refused,
            records_refused: totals.records_refused,
            refused_by_status: totals.refused_by_status.clone(),
            requests_failed: totals.requests_failed,
            errors: totals.errors.clone(),
            retries: totals.retries,
            target_records_per_second: plan.rate,
            achieved_records_per_second: per_second(totals.records_sent),
            acknowledged_records_per_second: per_second(totals.records_acknowledged),
            bytes_per_second: per_second(totals.bytes_sent),
            ack_latency_ms: LatencyMs {
                p50: ms(0.5),
                p99: ms(0.99),
                p999: ms(0.999),
                max: ms(1.0),
            },
            first_error: totals.first_error.clone(),
        }
    }

    /// The summary as one line of JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a summary always serializes")
    }

    /// The summary for people.
    pub fn to_text(&self) -> String {
        let ms = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.2} ms"));
        let map = |m: &BTreeMap<String, u64>| {
            if m.is_empty() {
                "none".to_owned()
            } else {
                m.iter()
                    .map(|(k, v)| format!("{k} {v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        };
        let target = if self.target_records_per_second > 0.0 {
            format!("{:.0} records/s", self.target_records_per_second)
        } else {
            "as fast as possible".to_owned()
        };
        let mut out = String::new();
        let _ = writeln!(
            out,
            "sluice-loadgen: {} {} to {} (compression {}, concurrency {}, batch {})",
            self.signal,
            self.protocol,
            self.endpoint,
            self.compression,
            self.concurrency,
            self.batch
        );
        let _ = writeln!(out, "  duration        {:.2} s", self.duration_seconds);
        let _ = writeln!(
            out,
            "  sent            {} requests, {} records, {:.1} MiB on the wire",
            self.requests_sent,
            self.records_sent,
            self.bytes_sent as f64 / (1 << 20) as f64
        );
        let _ = writeln!(
            out,
            "  acknowledged    {} requests, {} records ({} rejected by partial success)",
            self.requests_acknowledged, self.records_acknowledged, self.records_rejected
        );
        let _ = writeln!(
            out,
            "  refused         {} requests ({})",
            self.requests_refused,
            map(&self.refused_by_status)
        );
        let _ = writeln!(
            out,
            "  failed          {} requests ({})",
            self.requests_failed,
            map(&self.errors)
        );
        let _ = writeln!(out, "  retries         {}", self.retries);
        let _ = writeln!(
            out,
            "  rate            {:.0} records/s sent, {:.0} acknowledged (target {target}), {:.1} MiB/s",
            self.achieved_records_per_second,
            self.acknowledged_records_per_second,
            self.bytes_per_second / (1 << 20) as f64
        );
        let l = &self.ack_latency_ms;
        let _ = writeln!(
            out,
            "  ack latency     p50 {}, p99 {}, p99.9 {}, max {}",
            ms(l.p50),
            ms(l.p99),
            ms(l.p999),
            ms(l.max)
        );
        if let Some(error) = &self.first_error {
            let _ = writeln!(out, "  first error     {error}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::Options;

    #[test]
    fn json_summary_has_the_documented_shape() {
        let plan = Options::default().plan().expect("defaults are valid");
        let mut totals = Totals {
            requests_sent: 10,
            records_sent: 5120,
            bytes_sent: 1 << 20,
            requests_acknowledged: 8,
            records_acknowledged: 4096,
            requests_refused: 2,
            records_refused: 1024,
            ..Totals::default()
        };
        totals.refused_by_status.insert("UNAVAILABLE".into(), 1);
        totals.refused_by_status.insert("503".into(), 1);
        for ms in 1..=100 {
            totals.latency.add(ms as f64 * 1e6);
        }
        let summary = Summary::new(&plan, &totals, Duration::from_secs(2));
        let json: serde_json::Value = serde_json::from_str(&summary.to_json()).expect("valid JSON");
        for key in [
            "protocol",
            "signal",
            "endpoint",
            "duration_seconds",
            "requests_sent",
            "records_sent",
            "bytes_sent",
            "requests_acknowledged",
            "records_acknowledged",
            "requests_refused",
            "refused_by_status",
            "errors",
            "achieved_records_per_second",
            "target_records_per_second",
            "ack_latency_ms",
            "retries",
        ] {
            assert!(json.get(key).is_some(), "missing {key}: {json}");
        }
        assert_eq!(json["protocol"], "grpc");
        assert_eq!(json["signal"], "traces");
        assert_eq!(json["refused_by_status"]["UNAVAILABLE"], 1);
        assert_eq!(json["refused_by_status"]["503"], 1);
        assert_eq!(json["achieved_records_per_second"], 2560.0);
        assert_eq!(json["errors"], serde_json::json!({}));
        let p99 = json["ack_latency_ms"]["p99"].as_f64().expect("a number");
        assert!((p99 - 99.0).abs() < 1.5, "{p99}");
        assert_eq!(json["ack_latency_ms"]["max"], 100.0);
        assert!(
            summary
                .to_text()
                .contains("refused         2 requests (503 1, UNAVAILABLE 1)")
        );
    }

    #[test]
    fn without_acknowledgements_latencies_are_null() {
        let plan = Options::default().plan().expect("defaults are valid");
        let summary = Summary::new(&plan, &Totals::default(), Duration::from_secs(1));
        let json: serde_json::Value = serde_json::from_str(&summary.to_json()).expect("valid JSON");
        assert!(json["ack_latency_ms"]["p50"].is_null());
        assert!(summary.to_text().contains("p50 -"));
    }
}
