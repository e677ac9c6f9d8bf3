//! Realistic OTLP export requests: what a fleet of instrumented services
//! would send.
//!
//! # Place in the run
//!
//! Each worker owns one [`Generator`]. Before every request it asks the
//! [`crate::phase::Scenario`] for each service's current settings (error ratio,
//! latency distribution, share of traffic), then [`Generator::generate`] builds
//! a [`Request`] of exactly the requested number of records (spans, data
//! points or log records), written as OTLP protobuf as they are drawn
//! ([`wire`]), which the client sends (JSON decodes it first). Event times are
//! "now", so the endpoint sees live traffic (SLO windows and anomaly detectors
//! react in real time).
//!
//! # Shape
//!
//! - [`traces`]: one SERVER root span per trace plus 1–3 CLIENT or INTERNAL
//!   children; `http.method`, `http.route`, `http.status_code` (500 and status
//!   ERROR on errors).
//! - [`metrics`]: per instance, a gauge `system.cpu.utilization`, a monotonic
//!   cumulative sum `http.server.requests` by route and outcome, and a
//!   cumulative histogram `http.server.duration` by route.
//! - [`logs`]: mostly INFO, ERROR per the error ratio, some WARN; a body text;
//!   trace context on half of them.
//!
//! Every record also carries `--attributes` synthetic attributes `attr.0`,
//! `attr.1`, ... whose values are `--attribute-bytes` long, drawn from a pool of
//! 256 random strings per run, uniformly or, with `--attribute-skew`, from a
//! Zipf distribution (the pool's first strings most often).

mod logs;
mod metrics;
mod traces;
mod wire;

use bytes::Bytes;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, InstrumentationScope, KeyValue, any_value::Value,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;

use crate::latency::LatencyDistribution;
use crate::options::Signal;
use crate::phase::ServiceSettings;
use crate::rng::XorShift64;

/// Distinct values of each synthetic attribute.
const ATTRIBUTE_POOL: usize = 256;

/// Sets the seed of the attribute pool's random stream apart from the
/// workers' seeds.
const POOL_MIX: u64 = 0x5851_F42D_4C95_7F2D;

/// An HTTP operation of a service: `(method, route)`.
const OPERATIONS: [(&str, &str); 8] = [
    ("GET", "/api/v1/items"),
    ("POST", "/api/v1/orders"),
    ("GET", "/api/v1/orders/{id}"),
    ("PUT", "/api/v1/cart"),
    ("DELETE", "/api/v1/cart/{item}"),
    ("GET", "/api/v1/search"),
    ("POST", "/api/v1/payments"),
    ("GET", "/api/v1/recommendations"),
];

/// A request as prost messages (the receivers' own request type), for JSON.
pub use sluice_otlp::ExportRequest;

/// One generated request: an export request of `records` records of
/// `signal`, encoded as OTLP protobuf.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub signal: Signal,
    pub body: Bytes,
    pub records: usize,
}

impl Request {
    /// The request as prost messages, decoded from its body.
    pub fn to_message(&self) -> Result<ExportRequest, prost::DecodeError> {
        let body = self.body.clone();
        Ok(match self.signal {
            Signal::Traces => ExportRequest::Traces(ExportTraceServiceRequest::decode(body)?),
            Signal::Metrics => ExportRequest::Metrics(ExportMetricsServiceRequest::decode(body)?),
            Signal::Logs => ExportRequest::Logs(ExportLogsServiceRequest::decode(body)?),
        })
    }

    /// The OTLP/JSON body.
    pub fn encode_json(&self) -> std::io::Result<Vec<u8>> {
        Ok(self.to_message()?.encode_json()?)
    }
}

/// What a worker's generator makes.
#[derive(Debug, Clone)]
pub struct GeneratorConfig {
    pub signal: Signal,
    pub services: Vec<String>,
    pub operations: usize,
    pub attributes: usize,
    pub attribute_bytes: usize,
    /// Zipf exponent of the synthetic values' distribution; 0 = uniform.
    pub attribute_skew: f64,
    /// The worker's index: part of `host.name` and `service.instance.id`.
    pub worker: usize,
    /// Identifies the run in `service.instance.id`, so two runs never share
    /// a cumulative series.
    pub run_id: u64,
    pub seed: u64,
}

/// A service's operation.
#[derive(Debug, Clone)]
struct Operation {
    method: &'static str,
    route: String,
    /// `"GET /api/v1/items"`: the span name.
    name: String,
}

/// Builds requests for one worker; see the module docs.
#[derive(Debug)]
pub struct Generator {
    config: GeneratorConfig,
    rng: XorShift64,
    operations: Vec<Operation>,
    attribute_keys: Vec<String>,
    attribute_pool: Vec<String>,
    /// With a skew: the cumulative probability of each pool entry.
    attribute_cdf: Vec<f64>,
    /// Per service, its `Resource` as protobuf (traces and logs).
    encoded_resources: Vec<Vec<u8>>,
    /// The `InstrumentationScope` as protobuf (traces and logs).
    encoded_scope: Vec<u8>,
    buffers: wire::Buffers,
    /// Unix nanoseconds when the generator started: the start of cumulative
    /// metric series.
    started: u64,
    metrics: metrics::MetricState,
}

impl Generator {
    pub fn new(config: GeneratorConfig, now_nanos: u64) -> Self {
        let worker_mix = (config.worker as u64).wrapping_mul(0xA24B_AED4_963E_E407);
        let rng = XorShift64::new(config.seed ^ worker_mix);
        let operations = (0..config.operations.max(1))
            .map(|k| {
                let (method, route) = match OPERATIONS.get(k) {
                    Some((method, route)) => (*method, (*route).to_owned()),
                    None => ("GET", format!("/api/v1/op-{k}")),
                };
                Operation {
                    name: format!("{method} {route}"),
                    method,
                    route,
                }
            })
            .collect();
        let attribute_keys = (0..config.attributes)
            .map(|k| format!("attr.{k}"))
            .collect();
        // The pool is the run's: drawn from the seed alone, so every worker
        // draws from the same strings and each attribute has ATTRIBUTE_POOL
        // values in all, whatever the concurrency. (Mixed, so that no
        // worker's own stream is the pool's: worker 0's mix is 0.)
        let mut pool_rng = XorShift64::new(config.seed ^ POOL_MIX);
        let attribute_pool = (0..ATTRIBUTE_POOL)
            .map(|_| pool_rng.text(config.attribute_bytes))
            .collect();
        let attribute_cdf = zipf_cdf(config.attribute_skew, ATTRIBUTE_POOL);
        let mut generator = Self {
            config,
            rng,
            operations,
            attribute_keys,
            attribute_pool,
            attribute_cdf,
            encoded_resources: Vec::new(),
            encoded_scope: scope().unwrap_or_default().encode_to_vec(),
            buffers: wire::Buffers::default(),
            started: now_nanos,
            metrics: metrics::MetricState::default(),
        };
        generator.encoded_resources = (0..generator.config.services.len().max(1))
            .map(|service| generator.resource(service, None).encode_to_vec())
            .collect();
        generator
    }

    pub fn config(&self) -> &GeneratorConfig {
        &self.config
    }

    /// A request of exactly `records` records; `settings[i]` holds the current
    /// settings of service `i`, `now_nanos` is the event time.
    pub fn generate(
        &mut self,
        records: usize,
        settings: &[ServiceSettings],
        now_nanos: u64,
    ) -> Request {
        let signal = self.config.signal;
        let body = match signal {
            Signal::Traces => self.traces(records, settings, now_nanos),
            Signal::Metrics => self.metrics(records, settings, now_nanos),
            Signal::Logs => self.logs(records, settings, now_nanos),
        };
        Request {
            signal,
            body,
            records,
        }
    }

    /// A traces or logs request: `write` fills each service's buffer with its
    /// records, then the request is built around them.
    fn encoded_request(&mut self, write: impl FnOnce(&mut Self, &mut wire::Buffers)) -> Bytes {
        let mut buffers = std::mem::take(&mut self.buffers);
        buffers.reset(self.config.services.len().max(1));
        write(self, &mut buffers);
        let body = wire::export_request(
            &buffers.by_service,
            &self.encoded_resources,
            &self.encoded_scope,
        );
        self.buffers = buffers;
        Bytes::from(body)
    }

    /// A service index, weighted by the services' rate multipliers (evenly
    /// when they are all 0).
    fn pick_service(&mut self, settings: &[ServiceSettings]) -> usize {
        let n = self.config.services.len();
        let weight = |i: usize| settings.get(i).map_or(1.0, |s| s.rate_multiplier);
        let total: f64 = (0..n).map(weight).sum();
        if n <= 1 {
            return 0;
        }
        if total <= 0.0 {
            return self.rng.index(n);
        }
        let mut point = self.rng.unit() * total;
        for i in 0..n {
            point -= weight(i);
            if point < 0.0 {
                return i;
            }
        }
        n - 1
    }

    fn pick_operation(&mut self) -> usize {
        self.rng.index(self.operations.len())
    }

    /// The `--attributes` synthetic attributes of a record written as
    /// protobuf, as its repeated field `field`, values drawn at random.
    fn synthetic_attributes(&mut self, out: &mut Vec<u8>, field: u32) {
        for k in 0..self.attribute_keys.len() {
            let pick = self.pick_value();
            let value = self.attribute_pool[pick].as_bytes();
            wire::string_attribute(out, field, &self.attribute_keys[k], value);
        }
    }

    /// A synthetic value's index in the pool, drawn uniformly or by the skew.
    fn pick_value(&mut self) -> usize {
        if self.attribute_cdf.is_empty() {
            self.rng.index(ATTRIBUTE_POOL)
        } else {
            let u = self.rng.unit();
            self.pool_index(u)
        }
    }

    /// The synthetic attributes of a metric series, as repeated field
    /// `field` of its point: fixed for the series, so cumulative values stay
    /// one series.
    fn series_attributes(&self, series: u64, out: &mut Vec<u8>, field: u32) {
        for (k, key) in self.attribute_keys.iter().enumerate() {
            let mixed = (series ^ (k as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))
                .wrapping_mul(0xBF58_476D_1CE4_E5B9);
            let pick = if self.attribute_cdf.is_empty() {
                (mixed >> 56) as usize % ATTRIBUTE_POOL
            } else {
                self.pool_index((mixed >> 11) as f64 / (1u64 << 53) as f64)
            };
            wire::string_attribute(out, field, key, self.attribute_pool[pick].as_bytes());
        }
    }

    /// The pool entry at cumulative probability `u` (in [0, 1)) of the skewed
    /// distribution.
    fn pool_index(&self, u: f64) -> usize {
        self.attribute_cdf
            .partition_point(|&c| c <= u)
            .min(ATTRIBUTE_POOL - 1)
    }

    fn service_name(&self, service: usize) -> &str {
        self.config
            .services
            .get(service)
            .map_or("unknown_service", String::as_str)
    }

    /// The resource of `service` as run by this worker; `instance` tells apart
    /// the simulated instances of a metrics run.
    fn resource(&self, service: usize, instance: Option<usize>) -> Resource {
        let name = self.service_name(service);
        let GeneratorConfig { worker, run_id, .. } = self.config;
        let instance_id = match instance {
            Some(i) => format!("{name}-{run_id:08x}-{worker}-{i}"),
            None => format!("{name}-{run_id:08x}-{worker}"),
        };
        Resource {
            attributes: vec![
                kv("service.name", Value::StringValue(name.to_owned())),
                kv("service.instance.id", Value::StringValue(instance_id)),
                kv("service.version", Value::StringValue("1.4.2".into())),
                kv("host.name", Value::StringValue(format!("loadgen-{worker}"))),
                kv(
                    "deployment.environment",
                    Value::StringValue("load-test".into()),
                ),
                kv(
                    "telemetry.sdk.name",
                    Value::StringValue("sluice-loadgen".into()),
                ),
                kv("telemetry.sdk.language", Value::StringValue("rust".into())),
            ],
            ..Default::default()
        }
    }
}

/// The settings of service `i`, or the defaults if the caller passed fewer.
fn settings_for(settings: &[ServiceSettings], i: usize) -> ServiceSettings {
    settings.get(i).copied().unwrap_or(ServiceSettings {
        error_ratio: 0.0,
        latency: LatencyDistribution::default(),
        rate_multiplier: 1.0,
    })
}

fn kv(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn scope() -> Option<InstrumentationScope> {
    Some(InstrumentationScope {
        name: "sluice-loadgen".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests;

/// The cumulative probabilities of a Zipf distribution of exponent `skew`
/// over `n` values; empty for 0 (uniform, drawn directly).
fn zipf_cdf(skew: f64, n: usize) -> Vec<f64> {
    if skew <= 0.0 {
        return Vec::new();
    }
    let weights: Vec<f64> = (1..=n).map(|k| (k as f64).powf(-skew)).collect();
    let total: f64 = weights.iter().sum();
    let mut sum = 0.0;
    weights
        .iter()
        .map(|w| {
            sum += w / total;
            sum
        })
        .collect()
}
