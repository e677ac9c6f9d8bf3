//! Deterministic OTLP trace payloads shaped like an SDK's batch export.
//!
//! A benchmark result is only comparable with an earlier one if both measured
//! the same input, so requests come from a seeded xorshift generator instead of
//! a random source: the same [`TracePayload`] always gives the same request,
//! byte for byte, on every machine.
//!
//! The default shape is what a busy service's `BatchSpanProcessor` sends: 512
//! spans under 2 resources (a dozen resource attributes each) and 2
//! instrumentation scopes per resource; 10 span attributes of mixed types
//! (strings, integers, doubles, booleans, a string array); traces of 8 spans
//! with parent links; 0–3 events per span; an occasional span link; mostly
//! `Unset` status with a few errors; every span valid and within one hour, so
//! the whole request lands in one partition as it would in production.

use sluice_model::otlp::collector::trace::v1::ExportTraceServiceRequest;
use sluice_model::otlp::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, any_value::Value,
};
use sluice_model::otlp::resource::v1::Resource;
use sluice_model::otlp::trace::v1::{
    ResourceSpans, ScopeSpans, Span, Status,
    span::{Event, Link},
};

/// 2025-01-01T00:00:00Z in Unix nanoseconds: the start of every payload.
const BASE_TIME_NANOS: u64 = 1_735_689_600_000_000_000;
/// Spans start within this window after [`BASE_TIME_NANOS`] (one partition hour).
const START_WINDOW_NANOS: u64 = 30 * 60 * 1_000_000_000;
/// Spans per trace.
const TRACE_LENGTH: usize = 8;

/// The xorshift64 generator of Marsaglia (2003): tiny, fast and reproducible.
#[derive(Debug, Clone)]
pub struct XorShift64(u64);

impl XorShift64 {
    /// A generator from `seed`; zero (a fixed point of xorshift) is replaced.
    pub fn new(seed: u64) -> Self {
        Self(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number in `0..n` (`n` > 0; the modulo bias is irrelevant here).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// One of `items`, which must not be empty.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// `N` bytes, never all zero (xorshift never yields 0), as OTLP ids need.
    pub fn id<const N: usize>(&mut self) -> Vec<u8> {
        let mut id = Vec::with_capacity(N);
        while id.len() < N {
            let word = self.next_u64().to_le_bytes();
            id.extend_from_slice(&word[..(N - id.len()).min(8)]);
        }
        id
    }
}

/// The shape of a generated trace export request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TracePayload {
    pub spans: usize,
    pub resources: usize,
    pub scopes_per_resource: usize,
    pub attributes_per_span: usize,
    pub max_events_per_span: usize,
    pub seed: u64,
}

impl Default for TracePayload {
    fn default() -> Self {
        Self {
            spans: 512,
            resources: 2,
            scopes_per_resource: 2,
            attributes_per_span: 10,
            max_events_per_span: 3,
            seed: 0x51CE_5EED,
        }
    }
}

impl TracePayload {
    /// The batch of a full-size flush in the benchmarks that encode one
    /// (`ingest`'s `flush/`, `columns`, `instructions`): 32,768 spans, 64
    /// default payloads' worth, from another seed so nothing repeats.
    pub fn flush() -> Self {
        Self {
            spans: 32_768,
            seed: 0xF1A5,
            ..Self::default()
        }
    }
}

fn kv(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn string(s: impl Into<String>) -> Value {
    Value::StringValue(s.into())
}

const SERVICES: [&str; 4] = ["checkout", "frontend", "payments", "inventory"];
const SCOPES: [(&str, &str); 4] = [
    ("io.opentelemetry.instrumentation.http", "2.11.0"),
    ("io.opentelemetry.instrumentation.jdbc", "2.11.0"),
    ("com.example.orders", "1.4.2"),
    ("io.opentelemetry.instrumentation.grpc", "2.11.0"),
];
const ROUTES: [&str; 6] = [
    "/api/v1/orders/{id}",
    "/api/v1/orders",
    "/api/v1/cart",
    "/api/v1/cart/items/{id}",
    "/healthz",
    "/api/v1/products/{id}/reviews",
];
const METHODS: [&str; 4] = ["GET", "GET", "POST", "PUT"];
const STATUS_CODES: [i64; 6] = [200, 200, 200, 201, 404, 503];

fn resource(index: usize, rng: &mut XorShift64) -> Resource {
    let service = SERVICES[index % SERVICES.len()];
    let pod = format!(
        "{service}-7f9c{:04x}-{:05x}",
        rng.below(0x1_0000),
        rng.below(0x10_0000)
    );
    Resource {
        attributes: vec![
            kv("service.name", string(service)),
            kv("service.version", string("1.27.3")),
            kv("service.namespace", string("shop")),
            kv("service.instance.id", string(pod.clone())),
            kv("deployment.environment.name", string("production")),
            kv(
                "host.name",
                string(format!("node-{:02}.eu-west-1.compute.internal", index)),
            ),
            kv("host.arch", string("amd64")),
            kv("k8s.namespace.name", string("shop")),
            kv("k8s.pod.name", string(pod)),
            kv("process.pid", Value::IntValue(1 + rng.below(65_535) as i64)),
            kv("telemetry.sdk.name", string("opentelemetry")),
            kv("telemetry.sdk.language", string("java")),
            kv("telemetry.sdk.version", string("1.45.0")),
        ],
        ..Default::default()
    }
}

/// The attributes of one span: the HTTP semantic conventions plus application
/// ones, cycling through the value types.
fn span_attributes(count: usize, route: &str, rng: &mut XorShift64) -> Vec<KeyValue> {
    let status = *rng.pick(&STATUS_CODES);
    let mut attributes = vec![
        kv("http.request.method", string(*rng.pick(&METHODS))),
        kv("http.route", string(route)),
        kv("http.response.status_code", Value::IntValue(status)),
        kv(
            "url.path",
            string(route.replace("{id}", &rng.below(100_000).to_string())),
        ),
        kv("server.port", Value::IntValue(8080)),
        kv(
            "user_agent.original",
            string("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)"),
        ),
        kv(
            "app.cart.total",
            Value::DoubleValue(rng.below(1_000_000) as f64 / 100.0),
        ),
        kv("app.cache.hit", Value::BoolValue(rng.below(4) != 0)),
        kv(
            "app.feature_flags",
            Value::ArrayValue(ArrayValue {
                values: ["new-checkout", "fast-search"]
                    .iter()
                    .take(1 + rng.below(2) as usize)
                    .map(|f| AnyValue {
                        value: Some(string(*f)),
                    })
                    .collect(),
            }),
        ),
        kv("app.request.items", Value::IntValue(rng.below(20) as i64)),
    ];
    attributes.truncate(count);
    for extra in attributes.len()..count {
        attributes.push(kv(
            &format!("app.extra.{extra}"),
            string(format!("value-{}", rng.below(1_000))),
        ));
    }
    attributes
}

fn events(max: usize, start: u64, duration: u64, rng: &mut XorShift64) -> Vec<Event> {
    let count = rng.below(max as u64 + 1) as usize;
    (0..count)
        .map(|i| {
            let time_unix_nano = start + rng.below(duration.max(1));
            if i == 0 && rng.below(3) == 0 {
                Event {
                    time_unix_nano,
                    name: "exception".to_owned(),
                    attributes: vec![
                        kv("exception.type", string("java.net.SocketTimeoutException")),
                        kv("exception.message", string("Read timed out after 2000 ms")),
                    ],
                    dropped_attributes_count: 0,
                }
            } else {
                Event {
                    time_unix_nano,
                    name: "message".to_owned(),
                    attributes: vec![
                        kv("message.type", string("SENT")),
                        kv("message.id", Value::IntValue(i as i64 + 1)),
                    ],
                    dropped_attributes_count: 0,
                }
            }
        })
        .collect()
}

/// Builds the request described by `payload`.
pub fn trace_request(payload: &TracePayload) -> ExportTraceServiceRequest {
    let mut rng = XorShift64::new(payload.seed);
    let groups = (payload.resources * payload.scopes_per_resource).max(1);
    let mut trace_id = Vec::new();
    let mut root_span_id = Vec::new();
    let mut made = 0;
    let mut resource_spans = Vec::with_capacity(payload.resources);
    for r in 0..payload.resources {
        let resource = resource(r, &mut rng);
        let mut scope_spans = Vec::with_capacity(payload.scopes_per_resource);
        for s in 0..payload.scopes_per_resource {
            let group = r * payload.scopes_per_resource + s;
            // Spread the spans evenly; the last group takes the remainder.
            let count = if group + 1 == groups {
                payload.spans - made
            } else {
                payload.spans / groups
            };
            let (scope_name, scope_version) = SCOPES[group % SCOPES.len()];
            let spans = (0..count)
                .map(|i| {
                    let n = made + i;
                    if n.is_multiple_of(TRACE_LENGTH) {
                        trace_id = rng.id::<16>();
                        root_span_id = rng.id::<8>();
                    }
                    span(payload, n, &trace_id, &root_span_id, &mut rng)
                })
                .collect();
            made += count;
            scope_spans.push(ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: scope_name.to_owned(),
                    version: scope_version.to_owned(),
                    ..Default::default()
                }),
                spans,
                schema_url: "https://opentelemetry.io/schemas/1.26.0".to_owned(),
            });
        }
        resource_spans.push(ResourceSpans {
            resource: Some(resource),
            scope_spans,
            schema_url: "https://opentelemetry.io/schemas/1.26.0".to_owned(),
        });
    }
    ExportTraceServiceRequest { resource_spans }
}

/// The `n`th span of the request: the root of its trace when `n` starts one.
fn span(
    payload: &TracePayload,
    n: usize,
    trace_id: &[u8],
    root_span_id: &[u8],
    rng: &mut XorShift64,
) -> Span {
    let is_root = n.is_multiple_of(TRACE_LENGTH);
    let route = *rng.pick(&ROUTES);
    let start = BASE_TIME_NANOS + rng.below(START_WINDOW_NANOS);
    // 50 µs to ~250 ms, most of them short.
    let duration = 50_000 + rng.below(5_000_000) * (1 + rng.below(50));
    let is_error = rng.below(20) == 0;
    let links = if rng.below(16) == 0 {
        vec![Link {
            trace_id: rng.id::<16>(),
            span_id: rng.id::<8>(),
            ..Default::default()
        }]
    } else {
        Vec::new()
    };
    Span {
        trace_id: trace_id.to_vec(),
        span_id: if is_root {
            root_span_id.to_vec()
        } else {
            rng.id::<8>()
        },
        parent_span_id: if is_root {
            Vec::new()
        } else {
            root_span_id.to_vec()
        },
        flags: 0x100 | 1,
        name: if is_root {
            format!("{} {route}", rng.pick(&METHODS))
        } else {
            format!("SELECT shop.orders #{}", n % TRACE_LENGTH)
        },
        kind: if is_root { 2 } else { *rng.pick(&[1, 3, 3]) },
        start_time_unix_nano: start,
        end_time_unix_nano: start + duration,
        attributes: span_attributes(payload.attributes_per_span, route, rng),
        events: events(payload.max_events_per_span, start, duration, rng),
        links,
        status: Some(if is_error {
            Status {
                message: "upstream returned 503".to_owned(),
                code: 2,
            }
        } else {
            Status::default()
        }),
        ..Default::default()
    }
}

/// Spans in `request`.
pub fn span_count(request: &ExportTraceServiceRequest) -> usize {
    request
        .resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .map(|ss| ss.spans.len())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_model::traces::wire::WireTraces;

    #[test]
    fn the_default_payload_is_fully_valid() {
        let payload = TracePayload::default();
        let request = trace_request(&payload);
        assert_eq!(span_count(&request), 512);
        assert_eq!(request.resource_spans.len(), 2);
        let traces = WireTraces::from_request(&request);
        let rejected = traces.rejected();
        assert_eq!(rejected.count, 0, "{}", rejected.message);
        assert_eq!(rejected.accepted, 512);
        let spans = request.resource_spans[0].scope_spans[0].spans.iter();
        assert!(spans.clone().all(|s| s.attributes.len() == 10));
        assert!(spans.clone().any(|s| !s.events.is_empty()));
    }

    #[test]
    fn the_same_seed_gives_the_same_request() {
        let payload = TracePayload::default();
        assert_eq!(trace_request(&payload), trace_request(&payload));
        let other = TracePayload {
            seed: 7,
            ..payload.clone()
        };
        assert_ne!(trace_request(&payload), trace_request(&other));
    }

    #[test]
    fn odd_shapes_keep_the_span_count() {
        for (spans, resources, scopes) in [(1, 1, 1), (7, 2, 2), (1000, 3, 1), (5, 1, 3)] {
            let payload = TracePayload {
                spans,
                resources,
                scopes_per_resource: scopes,
                ..TracePayload::default()
            };
            assert_eq!(span_count(&trace_request(&payload)), spans);
        }
    }
}
