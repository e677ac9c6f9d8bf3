//! Sluice's own figures, read from its `/metrics` by the end-to-end driver:
//! a histogram's cumulative buckets for one series, the difference between
//! two scrapes, and the quantile Prometheus's `histogram_quantile` would give.
//!
//! The driver reports the server's side of the acknowledgement latency with
//! these, next to the load generator's, so a tail can be placed on one side
//! of the connection or the other.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// The body of `GET /metrics` from the API at `127.0.0.1:port`.
pub fn metrics(port: u16) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    // HTTP/1.0: the answer is delimited by the close, never chunked.
    stream.write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, "no end of headers"))?;
    if head.split(' ').nth(1) != Some("200") {
        let status = head.lines().next().unwrap_or_default();
        return Err(std::io::Error::other(format!("/metrics answered {status}")));
    }
    Ok(body.to_owned())
}

/// One series of a Prometheus histogram: cumulative counts by upper bound.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    /// `(le, cumulative count)`, in ascending `le`, `+Inf` last.
    pub buckets: Vec<(f64, f64)>,
}

impl Histogram {
    /// The series of `name` whose labels include every one of `labels` (each
    /// written `key="value"`), from the Prometheus text `text`.
    pub fn parse(text: &str, name: &str, labels: &[&str]) -> Option<Self> {
        let prefix = format!("{name}_bucket{{");
        let mut buckets = Vec::new();
        for line in text.lines().filter(|l| l.starts_with(&prefix)) {
            let (series, value) = line.rsplit_once(' ')?;
            if !labels.iter().all(|label| series.contains(label)) {
                continue;
            }
            let le = series.split("le=\"").nth(1)?.split('"').next()?;
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            buckets.push((le, value.parse().ok()?));
        }
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        (!buckets.is_empty()).then_some(Self { buckets })
    }

    /// What was added between `earlier` and this scrape of the same series.
    pub fn since(&self, earlier: &Self) -> Self {
        let buckets = self
            .buckets
            .iter()
            .map(|&(le, count)| {
                let before = earlier
                    .buckets
                    .iter()
                    .find(|(l, _)| *l == le)
                    .map_or(0.0, |(_, c)| *c);
                (le, count - before)
            })
            .collect();
        Self { buckets }
    }

    /// How many observations there are.
    pub fn count(&self) -> f64 {
        self.buckets.last().map_or(0.0, |(_, c)| *c)
    }

    /// The share of observations above `bound`, which must be a bucket's
    /// upper bound (exact, no estimate); `None` for another bound or none.
    pub fn share_above(&self, bound: f64) -> Option<f64> {
        let (_, at) = self.buckets.iter().find(|(le, _)| *le == bound)?;
        let count = self.count();
        (count > 0.0).then(|| (count - at) / count)
    }

    /// The `q` quantile as `histogram_quantile` estimates it: linear within
    /// the bucket that holds it, the highest finite bound when that is the
    /// `+Inf` bucket; `None` without observations.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let count = self.count();
        if count <= 0.0 {
            return None;
        }
        let rank = q * count;
        let mut lower = (0.0, 0.0);
        for &(le, cumulative) in &self.buckets {
            if cumulative >= rank {
                if le.is_infinite() {
                    return Some(lower.0);
                }
                let in_bucket = cumulative - lower.1;
                let fraction = if in_bucket > 0.0 {
                    (rank - lower.1) / in_bucket
                } else {
                    1.0
                };
                return Some(lower.0 + (le - lower.0) * fraction);
            }
            lower = (le, cumulative);
        }
        Some(lower.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
# TYPE sluice_receiver_request_seconds histogram
sluice_receiver_request_seconds_bucket{signal=\"traces\",transport=\"grpc\",le=\"0.005\"} 90
sluice_receiver_request_seconds_bucket{signal=\"traces\",transport=\"grpc\",le=\"0.01\"} 98
sluice_receiver_request_seconds_bucket{signal=\"traces\",transport=\"grpc\",le=\"+Inf\"} 100
sluice_receiver_request_seconds_bucket{signal=\"logs\",transport=\"grpc\",le=\"0.005\"} 7
sluice_receiver_request_seconds_bucket{signal=\"logs\",transport=\"grpc\",le=\"0.01\"} 7
sluice_receiver_request_seconds_bucket{signal=\"logs\",transport=\"grpc\",le=\"+Inf\"} 7
sluice_receiver_request_seconds_sum{signal=\"traces\",transport=\"grpc\"} 0.4
sluice_receiver_request_seconds_count{signal=\"traces\",transport=\"grpc\"} 100
";

    fn traces(text: &str) -> Histogram {
        Histogram::parse(
            text,
            "sluice_receiver_request_seconds",
            &["signal=\"traces\"", "transport=\"grpc\""],
        )
        .expect("the series")
    }

    #[test]
    fn one_series_is_parsed_by_its_labels() {
        assert_eq!(
            traces(TEXT).buckets,
            vec![(0.005, 90.0), (0.01, 98.0), (f64::INFINITY, 100.0)]
        );
        assert_eq!(
            Histogram::parse(TEXT, "sluice_wal_fsync_seconds", &[]),
            None
        );
    }

    #[test]
    fn quantiles_interpolate_as_histogram_quantile_does() {
        let h = traces(TEXT);
        // Rank 50 of 90 in the first bucket, from 0: 0.005 * 50/90.
        assert!((h.quantile(0.5).expect("p50") - 0.005 * 50.0 / 90.0).abs() < 1e-12);
        // Rank 94: 4 of the 8 between 5 and 10 ms.
        assert!((h.quantile(0.94).expect("p94") - 0.0075).abs() < 1e-12);
        // Rank 99 is in +Inf: the highest finite bound.
        assert_eq!(h.quantile(0.99), Some(0.01));
        assert_eq!(h.share_above(0.01), Some(0.02));
        assert_eq!(h.share_above(0.02), None, "not a bound");
    }

    #[test]
    fn since_takes_what_a_step_added() {
        let later = TEXT
            .replace("} 90", "} 189")
            .replace("} 98", "} 197")
            .replace("le=\"+Inf\"} 100", "le=\"+Inf\"} 200");
        let step = traces(&later).since(&traces(TEXT));
        assert_eq!(
            step.buckets,
            vec![(0.005, 99.0), (0.01, 99.0), (f64::INFINITY, 100.0)]
        );
        assert_eq!(step.share_above(0.01), Some(0.01));
        assert_eq!(Histogram { buckets: vec![] }.quantile(0.99), None);
    }
}
