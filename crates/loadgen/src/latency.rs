//! The distribution of generated request latencies: the duration of each
//! trace's root span, and the values of the `http.server.duration` histogram.
//!
//! # Syntax
//!
//! | written                 | meaning                                                      |
//! |-------------------------|--------------------------------------------------------------|
//! | `fixed:50ms`            | always 50 ms                                                 |
//! | `uniform:10ms..200ms`   | uniform between 10 ms and 200 ms                             |
//! | `lognormal:50ms,0.5`    | log-normal with median 50 ms and σ = 0.5 (of the logarithm)  |
//!
//! Durations use the units of [`sluice_model::units::Duration`] (`ns`, `us`,
//! `ms`, `s`, `m`, ...). A log-normal with σ = 0.5 has its p99 at about 3.2×
//! the median, σ = 1 at about 10×.

use std::fmt;
use std::str::FromStr;

use sluice_model::units::Duration;

use crate::error::LoadgenError;
use crate::rng::XorShift64;

/// The largest σ accepted: beyond it a log-normal's tail reaches centuries.
const MAX_SIGMA: f64 = 5.0;

/// A latency distribution; see the module docs for the syntax.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LatencyDistribution {
    Fixed(Duration),
    Uniform { low: Duration, high: Duration },
    LogNormal { median: Duration, sigma: f64 },
}

impl Default for LatencyDistribution {
    fn default() -> Self {
        Self::LogNormal {
            median: Duration::from_millis(50),
            sigma: 0.5,
        }
    }
}

impl LatencyDistribution {
    /// One latency, in nanoseconds (at least 1).
    pub fn sample_nanos(&self, rng: &mut XorShift64) -> u64 {
        let nanos = match *self {
            Self::Fixed(d) => d.as_nanos_u64() as f64,
            Self::Uniform { low, high } => {
                let (low, high) = (low.as_nanos_u64() as f64, high.as_nanos_u64() as f64);
                low + (high - low) * rng.unit()
            }
            Self::LogNormal { median, sigma } => {
                median.as_nanos_u64() as f64 * (sigma * rng.normal()).exp()
            }
        };
        // Saturating float-to-int conversion; an hour caps a pathological tail.
        (nanos as u64).clamp(1, 3_600_000_000_000)
    }
}

fn duration(input: &str, whole: &str) -> Result<Duration, LoadgenError> {
    input
        .trim()
        .parse::<Duration>()
        .map_err(|e| LoadgenError::invalid("latency", whole, e.to_string()))
}

impl FromStr for LatencyDistribution {
    type Err = LoadgenError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let invalid = |reason: &str| LoadgenError::invalid("latency", input, reason);
        let (kind, args) = input.trim().split_once(':').ok_or_else(|| {
            invalid("expected fixed:<d>, uniform:<d>..<d> or lognormal:<median>,<sigma>")
        })?;
        match kind.trim() {
            "fixed" => Ok(Self::Fixed(duration(args, input)?)),
            "uniform" => {
                let (low, high) = args
                    .split_once("..")
                    .ok_or_else(|| invalid("expected uniform:<low>..<high>"))?;
                let (low, high) = (duration(low, input)?, duration(high, input)?);
                if low > high {
                    return Err(invalid("the low bound is above the high bound"));
                }
                Ok(Self::Uniform { low, high })
            }
            "lognormal" => {
                let (median, sigma) = args
                    .split_once(',')
                    .ok_or_else(|| invalid("expected lognormal:<median>,<sigma>"))?;
                let median = duration(median, input)?;
                let sigma: f64 = sigma
                    .trim()
                    .parse()
                    .map_err(|_| invalid("sigma must be a number"))?;
                if !(0.0..=MAX_SIGMA).contains(&sigma) {
                    return Err(invalid("sigma must be between 0 and 5"));
                }
                Ok(Self::LogNormal { median, sigma })
            }
            _ => Err(invalid(
                "unknown distribution, expected fixed, uniform or lognormal",
            )),
        }
    }
}

impl fmt::Display for LatencyDistribution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Fixed(d) => write!(f, "fixed:{d}"),
            Self::Uniform { low, high } => write!(f, "uniform:{low}..{high}"),
            Self::LogNormal { median, sigma } => write!(f, "lognormal:{median},{sigma}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_forms_and_prints_them_back() {
        let good = [
            ("fixed:50ms", "fixed:50ms"),
            ("uniform:10ms..200ms", "uniform:10ms..200ms"),
            ("uniform: 1s .. 2s", "uniform:1s..2s"),
            ("lognormal:50ms,0.5", "lognormal:50ms,0.5"),
            ("lognormal:800ms, 0.3", "lognormal:800ms,0.3"),
        ];
        for (input, printed) in good {
            let parsed: LatencyDistribution = input.parse().expect(input);
            assert_eq!(parsed.to_string(), printed);
            assert_eq!(printed.parse::<LatencyDistribution>().ok(), Some(parsed));
        }
        let bad = [
            "50ms",
            "fixed:",
            "fixed:fast",
            "uniform:10ms",
            "uniform:200ms..10ms",
            "lognormal:50ms",
            "lognormal:50ms,x",
            "lognormal:50ms,-1",
            "lognormal:50ms,9",
            "pareto:1s",
        ];
        for input in bad {
            assert!(input.parse::<LatencyDistribution>().is_err(), "{input}");
        }
    }

    #[test]
    fn samples_follow_the_distribution() {
        let mut rng = XorShift64::new(1);
        let fixed: LatencyDistribution = "fixed:5ms".parse().expect("valid");
        assert_eq!(fixed.sample_nanos(&mut rng), 5_000_000);
        let uniform: LatencyDistribution = "uniform:10ms..20ms".parse().expect("valid");
        for _ in 0..1000 {
            let v = uniform.sample_nanos(&mut rng);
            assert!((10_000_000..=20_000_000).contains(&v), "{v}");
        }
        let lognormal: LatencyDistribution = "lognormal:50ms,0.5".parse().expect("valid");
        let mut samples: Vec<u64> = (0..20_001)
            .map(|_| lognormal.sample_nanos(&mut rng))
            .collect();
        samples.sort_unstable();
        let median = samples[10_000] as f64 / 1e6;
        let p99 = samples[19_800] as f64 / 1e6;
        assert!((median - 50.0).abs() < 2.5, "median {median} ms");
        // exp(0.5 × 2.326) ≈ 3.2
        assert!((p99 / 50.0 - 3.2).abs() < 0.3, "p99 {p99} ms");
    }
}
