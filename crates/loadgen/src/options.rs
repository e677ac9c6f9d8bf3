//! The command line, which scripts rely on, and its validation into a [`Plan`].
//!
//! [`Options`] is both the clap parser of the binary and the input of
//! [`crate::run`], so a bench builds it with `Options::try_parse_from([...])`
//! or from [`Options::default`] and sets fields. [`Options::plan`] checks every
//! value and resolves the defaults that depend on others (the endpoint on the
//! protocol, the duration on `--requests`).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use sluice_model::units;

use crate::error::LoadgenError;
use crate::latency::LatencyDistribution;
use crate::phase::{Phase, Scenario};

const AFTER_HELP: &str = "\
Latency distributions (--latency, and latency= in a phase):
  fixed:50ms                always 50 ms
  uniform:10ms..200ms       uniform between the bounds
  lognormal:50ms,0.5        log-normal, median 50 ms, sigma 0.5 (p99 ≈ 3.2 × median)

Phases (--phase, repeatable; or one per line in --scenario FILE, # comments):
  START..[END] [service=NAME] [error_ratio=F] [latency=DIST] [rate=MULT]
  Offsets are from the start of the run; without END the phase lasts to the end;
  without service= it applies to every service. rate= multiplies the service's
  traffic (0 = silent), and the total rate with it. Later phases win where they
  overlap.
  e.g. --phase \"3m..5m service=checkout error_ratio=0.05\"
       --phase \"10m..12m service=checkout latency=lognormal:800ms,0.3 rate=0.2\"

Output: a progress line on stderr while running (unless --quiet or stderr is not a
terminal), then a summary: text on stderr, or with --json one JSON object on stdout.
Exit status: 0 when the run completed (refusals included), 1 when nothing could
connect, 2 for invalid arguments.";

/// OTLP load generator for Sluice or any OpenTelemetry collector.
///
/// Sends realistic traces, metrics or logs over OTLP/gRPC or OTLP/HTTP at a
/// fixed rate or as fast as possible, and reports what was acknowledged,
/// refused, and how fast.
#[derive(Debug, Clone, Parser)]
#[command(name = "sluice-loadgen", version, after_help = AFTER_HELP)]
pub struct Options {
    /// Where to send, http://HOST:PORT [default: http://127.0.0.1:4317 for grpc,
    /// http://127.0.0.1:4318 for http-*]. For HTTP, /v1/<signal> is appended
    /// unless the path already ends with it. https:// is not supported.
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,

    /// The OTLP transport and encoding.
    #[arg(long, value_enum, default_value_t = Protocol::Grpc)]
    pub protocol: Protocol,

    /// What to send.
    #[arg(long, value_enum, default_value_t = Signal::Traces)]
    pub signal: Signal,

    /// Records (spans, data points, log records) per second in total across
    /// workers; 0 = as fast as possible.
    #[arg(long, default_value_t = 1000.0, value_name = "RECORDS_PER_SEC")]
    pub rate: f64,

    /// How long to run, e.g. 30s, 2m [default: 30s, or unlimited with --requests].
    #[arg(long, value_name = "DURATION")]
    pub duration: Option<units::Duration>,

    /// Stop after this many requests (whichever of --duration and --requests
    /// comes first).
    #[arg(long, value_name = "N")]
    pub requests: Option<u64>,

    /// Requests in flight at once (one worker each).
    #[arg(long, default_value_t = 8, value_name = "N")]
    pub concurrency: usize,

    /// Records per request.
    #[arg(long, default_value_t = 512, value_name = "N")]
    pub batch: usize,

    /// Synthetic attributes (attr.0, attr.1, ...) per record, on top of the
    /// semantic ones.
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub attributes: usize,

    /// The length of each synthetic attribute's value.
    #[arg(long, default_value_t = 16, value_name = "BYTES")]
    pub attribute_bytes: usize,

    /// How unevenly the synthetic attributes' values are drawn from their
    /// pool of 256: the exponent of a Zipf distribution. 0 draws each value
    /// equally often; 1 draws a few values most of the time, as real
    /// attributes (routes, status codes, regions) are.
    #[arg(long, default_value_t = 0.0, value_name = "S")]
    pub attribute_skew: f64,

    /// Services: a count (named svc-0, svc-1, ...) or a comma-separated list of
    /// names.
    #[arg(long, default_value = "5", value_name = "N|NAMES")]
    pub services: ServiceNames,

    /// Operations (HTTP routes) per service.
    #[arg(long, default_value_t = 4, value_name = "N")]
    pub operations: usize,

    /// The share of requests that fail (0..1): ERROR spans with
    /// http.status_code 500 and an exception event, ERROR logs,
    /// outcome=error counts.
    #[arg(long, default_value_t = 0.01, value_name = "RATIO")]
    pub error_ratio: f64,

    /// The distribution of request latencies (root span durations, histogram
    /// values); see below.
    #[arg(long, default_value = "lognormal:50ms,0.5", value_name = "DIST")]
    pub latency: LatencyDistribution,

    /// Request body compression.
    #[arg(long, value_enum, default_value_t = Compression::None)]
    pub compression: Compression,

    /// The tenant: sent as the X-Scope-OrgID header (HTTP) or metadata (gRPC).
    #[arg(long, value_name = "ID")]
    pub tenant: Option<String>,

    /// Seed of the record generator [default: from the clock]; ids differ
    /// between runs unless it is set.
    #[arg(long)]
    pub seed: Option<u64>,

    /// A phase of an SLO or anomaly drill (repeatable); see below.
    #[arg(long = "phase", value_name = "PHASE")]
    pub phases: Vec<Phase>,

    /// A file of phases, one per line; added after the --phase ones.
    #[arg(long, value_name = "FILE")]
    pub scenario: Option<PathBuf>,

    /// Per-request timeout.
    #[arg(long, default_value = "10s", value_name = "DURATION")]
    pub timeout: units::Duration,

    /// Retry refusals the endpoint says are retryable (UNAVAILABLE, 429,
    /// 503, ...), after its RetryInfo / Retry-After or a backoff, up to 5 times.
    /// By default a refusal is counted and the run moves on.
    #[arg(long)]
    pub retry: bool,

    /// Print only the summary, as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,

    /// No progress line.
    #[arg(long)]
    pub quiet: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self::try_parse_from(["sluice-loadgen"]).expect("the defaults are valid arguments")
    }
}

/// The OTLP transport and encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    /// OTLP/gRPC (protobuf over HTTP/2).
    Grpc,
    /// OTLP/HTTP with protobuf bodies.
    HttpProto,
    /// OTLP/HTTP with JSON bodies.
    HttpJson,
}

/// The kind of records sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Signal {
    Traces,
    Metrics,
    Logs,
}

/// Request body compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

macro_rules! display_as_value_enum {
    ($($ty:ty),*) => {$(
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let value = self.to_possible_value().expect("no variant is skipped");
                f.write_str(value.get_name())
            }
        }
    )*};
}
display_as_value_enum!(Protocol, Signal, Compression);

impl Signal {
    /// The OTLP/HTTP path.
    pub fn http_path(self) -> &'static str {
        match self {
            Self::Traces => "/v1/traces",
            Self::Metrics => "/v1/metrics",
            Self::Logs => "/v1/logs",
        }
    }
}

/// `--services`: a count or a list of names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceNames(pub Vec<String>);

impl FromStr for ServiceNames {
    type Err = LoadgenError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let invalid = |reason: &str| LoadgenError::invalid("services", input, reason);
        if let Ok(count) = input.trim().parse::<usize>() {
            if !(1..=10_000).contains(&count) {
                return Err(invalid("the count must be between 1 and 10000"));
            }
            return Ok(Self((0..count).map(|i| format!("svc-{i}")).collect()));
        }
        let names: Vec<String> = input.split(',').map(|s| s.trim().to_owned()).collect();
        if names.iter().any(String::is_empty) {
            return Err(invalid("expected a count or comma-separated names"));
        }
        Ok(Self(names))
    }
}

/// Validated options: everything a run needs, defaults resolved.
#[derive(Debug, Clone)]
pub struct Plan {
    pub protocol: Protocol,
    pub signal: Signal,
    /// The URL requests go to (for HTTP, with the signal's path).
    pub endpoint: String,
    /// `host:port`, for the reachability check.
    pub authority: String,
    /// Records/s in total; 0 = as fast as possible.
    pub rate: f64,
    pub duration: Option<Duration>,
    pub requests: Option<u64>,
    pub concurrency: usize,
    pub batch: usize,
    pub attributes: usize,
    pub attribute_bytes: usize,
    pub attribute_skew: f64,
    pub services: Vec<String>,
    pub operations: usize,
    pub scenario: Scenario,
    pub compression: Compression,
    pub tenant: Option<String>,
    pub seed: u64,
    pub timeout: Duration,
    pub retry: bool,
}

impl Options {
    /// Checks every value and resolves the defaults.
    pub fn plan(&self) -> Result<Plan, LoadgenError> {
        let check = |ok: bool, option: &'static str, value: String, reason: &str| {
            if ok {
                Ok(())
            } else {
                Err(LoadgenError::invalid(option, value, reason))
            }
        };
        let rate = self.rate;
        check(
            rate.is_finite() && rate >= 0.0,
            "rate",
            rate.to_string(),
            "must be 0 or more",
        )?;
        check(
            self.concurrency >= 1,
            "concurrency",
            "0".into(),
            "must be at least 1",
        )?;
        check(self.batch >= 1, "batch", "0".into(), "must be at least 1")?;
        check(
            self.operations >= 1,
            "operations",
            "0".into(),
            "must be at least 1",
        )?;
        check(
            self.attribute_bytes <= 1 << 20,
            "attribute-bytes",
            self.attribute_bytes.to_string(),
            "must be at most 1048576",
        )?;
        check(
            self.attribute_skew.is_finite() && (0.0..=10.0).contains(&self.attribute_skew),
            "attribute-skew",
            self.attribute_skew.to_string(),
            "must be from 0 to 10",
        )?;
        check(
            (0.0..=1.0).contains(&self.error_ratio),
            "error-ratio",
            self.error_ratio.to_string(),
            "must be between 0 and 1",
        )?;
        check(
            self.requests != Some(0),
            "requests",
            "0".into(),
            "must be at least 1",
        )?;
        if let Some(d) = self.duration {
            check(
                !d.get().is_zero(),
                "duration",
                d.to_string(),
                "must be more than 0",
            )?;
        }
        check(
            !self.timeout.get().is_zero(),
            "timeout",
            self.timeout.to_string(),
            "must be more than 0",
        )?;
        if let Some(tenant) = &self.tenant {
            check(
                !tenant.is_empty() && http::HeaderValue::from_str(tenant).is_ok(),
                "tenant",
                tenant.clone(),
                "must be a non-empty header value",
            )?;
        }
        let mut phases = self.phases.clone();
        if let Some(path) = &self.scenario {
            let text = std::fs::read_to_string(path).map_err(|e| {
                LoadgenError::invalid("scenario", path.display().to_string(), e.to_string())
            })?;
            phases.extend(Phase::parse_lines(&text)?);
        }
        let (endpoint, authority) =
            resolve_endpoint(self.endpoint.as_deref(), self.protocol, self.signal)?;
        let duration = match (self.duration, self.requests) {
            (Some(d), _) => Some(d.get()),
            (None, Some(_)) => None,
            (None, None) => Some(Duration::from_secs(30)),
        };
        let seed = self.seed.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0x5EED, |d| d.as_nanos() as u64)
        });
        Ok(Plan {
            protocol: self.protocol,
            signal: self.signal,
            endpoint,
            authority,
            rate,
            duration,
            requests: self.requests,
            concurrency: self.concurrency,
            batch: self.batch,
            attributes: self.attributes,
            attribute_bytes: self.attribute_bytes,
            attribute_skew: self.attribute_skew,
            services: self.services.0.clone(),
            operations: self.operations,
            scenario: Scenario::new(self.error_ratio, self.latency, phases),
            compression: self.compression,
            tenant: self.tenant.clone(),
            seed,
            timeout: self.timeout.get(),
            retry: self.retry,
        })
    }
}

/// The request URL and `host:port` of `endpoint` for `protocol`.
fn resolve_endpoint(
    endpoint: Option<&str>,
    protocol: Protocol,
    signal: Signal,
) -> Result<(String, String), LoadgenError> {
    let default = match protocol {
        Protocol::Grpc => "http://127.0.0.1:4317",
        Protocol::HttpProto | Protocol::HttpJson => "http://127.0.0.1:4318",
    };
    let raw = endpoint.unwrap_or(default).trim();
    let invalid = |reason: &str| LoadgenError::invalid("endpoint", raw, reason);
    let with_scheme = if raw.contains("://") {
        raw.to_owned()
    } else {
        format!("http://{raw}")
    };
    let uri: http::Uri = with_scheme
        .parse()
        .map_err(|e: http::uri::InvalidUri| invalid(&e.to_string()))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err(invalid(
                "https is not supported: sluice-loadgen speaks plaintext only, use http://",
            ));
        }
        _ => return Err(invalid("expected http://HOST:PORT")),
    }
    let host = uri.host().ok_or_else(|| invalid("no host"))?;
    let port = uri.port_u16().unwrap_or(80);
    let authority = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let url = match protocol {
        Protocol::Grpc => format!("http://{authority}"),
        Protocol::HttpProto | Protocol::HttpJson => {
            let path = uri.path().trim_end_matches('/');
            if path.ends_with(signal.http_path()) {
                format!("http://{authority}{path}")
            } else {
                format!("http://{authority}{path}{}", signal.http_path())
            }
        }
    };
    Ok((url, authority))
}

#[cfg(test)]
mod tests;
