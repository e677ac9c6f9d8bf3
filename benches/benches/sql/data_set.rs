//! The data set of the SQL bench: one day of `otel_traces` written as a
//! Sluice node writes it.
//!
//! Spans go through [`TraceBatchBuilder`] under their resource and scope, are
//! routed to 2 shards by trace id ([`shard_of_trace`]), and a shard's batch
//! becomes a file once it holds `storage.flush_rows` (100 000) rows, the rest
//! at the end of the hour; each file is [`sort_batch`]ed and
//! [`encode_parquet`]d with the default [`writer_properties`] into
//! `default/otel_traces/date=2025-01-01/hour=HH/`.
//!
//! In all 10 000 000 spans of 50 services (`svc-0` busiest, a long tail to
//! `svc-49`) with 3 instances each, 20 span names per service (8 server, 6
//! client, 6 internal), traces of 1–15 spans crossing services, ~1% errors
//! (with an exception event), 10 attributes per span, and a diurnal curve from
//! ~210 k spans at 03:00 to ~630 k at 15:00: 24 partitions of 4 to 8 files,
//! 129 files in all. The generator is seeded, so every machine builds the
//! same files; a change to what it writes needs a new [`DATA_SET`] name.
//!
//! As in production, a full batch is checked after the request (here: the
//! trace) that filled it, so it holds `flush_rows` and a few rows, and with
//! `row_group_rows` also 100 000 those few rows become a second, tiny row
//! group of the file. Unlike a node since the thirteenth session, the first
//! shard's first batch of an hour is not written early (at half of
//! `flush_rows`, the shards' stagger): a data set already measured stays
//! the same.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use arrow::array::RecordBatch;
use prost::Message;
use sluice_benches::payload::XorShift64;
use sluice_model::context::{ResourceContext, ScopeContext};
use sluice_model::otlp::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value::Value};
use sluice_model::otlp::resource::v1::Resource;
use sluice_model::otlp::trace::v1::{Span, Status, span::Event};
use sluice_model::time::PartitionHour;
use sluice_model::traces::TraceBatchBuilder;
use sluice_model::traces::wire::SpanView;
use sluice_model::{Table, Tenant};
use sluice_pipeline::route::shard_of_trace;
use sluice_storage::{
    FileName, StorageConfig, encode_parquet, keys, partition_prefix, sort_batch, writer_properties,
};

pub const SPANS: usize = 10_000_000;
pub const SERVICES: usize = 50;
/// Span names of each service: server, client and internal ones.
pub const NAMES_PER_SERVICE: usize = SERVER_NAMES.len() + CLIENT_NAMES.len() + INTERNAL_NAMES.len();
const INSTANCES: usize = 3;
/// The writing node's shards: one per core of a 2-core machine, fixed so the
/// files do not depend on the machine that generates them.
const SHARDS: usize = 2;
/// The day of the data set (UTC).
pub const DAY: (i64, u32, u32) = (2025, 1, 1);
const SEED: u64 = 0x5105_0B7E_0001;
const DATA_SET: &str = "otel_traces-10m-v1";
const MARKER: &str = "COMPLETE";
const HOUR_NANOS: u64 = 3_600_000_000_000;

const SERVER_NAMES: [&str; 8] = [
    "GET /api/v1/orders/{id}",
    "POST /api/v1/orders",
    "GET /api/v1/cart",
    "PUT /api/v1/cart/items/{id}",
    "GET /api/v1/products/{id}",
    "GET /api/v1/products",
    "POST /api/v1/checkout",
    "GET /healthz",
];
const CLIENT_NAMES: [&str; 6] = [
    "SELECT shop.orders",
    "INSERT shop.orders",
    "GET",
    "SET",
    "POST",
    "publish orders",
];
const INTERNAL_NAMES: [&str; 6] = [
    "render",
    "validate",
    "serialize",
    "cache lookup",
    "compute price",
    "apply discounts",
];

#[derive(Debug, Clone, Copy)]
enum Kind {
    Server,
    Client,
    Internal,
}

impl Kind {
    fn otlp(self) -> i32 {
        match self {
            Self::Internal => 1,
            Self::Server => 2,
            Self::Client => 3,
        }
    }

    fn names(self) -> &'static [&'static str] {
        match self {
            Self::Server => &SERVER_NAMES,
            Self::Client => &CLIENT_NAMES,
            Self::Internal => &INTERNAL_NAMES,
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

fn text(s: impl Into<String>) -> Value {
    Value::StringValue(s.into())
}

/// The resources (per service and instance) and scopes (per kind) spans are
/// sent under, turned into contexts once.
struct Senders {
    resources: Vec<Vec<Arc<ResourceContext>>>,
    scopes: [Arc<ScopeContext>; 3],
}

fn senders() -> Senders {
    let resources = (0..SERVICES)
        .map(|s| {
            (0..INSTANCES)
                .map(|i| {
                    let pod = format!("svc-{s}-7f9c4d-{i:05x}");
                    let resource = Resource {
                        attributes: vec![
                            kv("service.name", text(format!("svc-{s}"))),
                            kv("service.version", text(format!("1.{}.0", s % 7))),
                            kv("service.namespace", text("shop")),
                            kv("service.instance.id", text(pod.clone())),
                            kv("deployment.environment.name", text("production")),
                            kv("host.name", text(format!("node-{:02}", (s + i) % 12))),
                            kv("k8s.namespace.name", text("shop")),
                            kv("k8s.pod.name", text(pod)),
                            kv("telemetry.sdk.name", text("opentelemetry")),
                            kv("telemetry.sdk.language", text("java")),
                        ],
                        ..Default::default()
                    };
                    Arc::new(ResourceContext::new(
                        Some(&resource),
                        "https://opentelemetry.io/schemas/1.26.0",
                    ))
                })
                .collect()
        })
        .collect();
    let scope = |name: &str| {
        let scope = InstrumentationScope {
            name: name.to_owned(),
            version: "2.11.0".to_owned(),
            ..Default::default()
        };
        Arc::new(ScopeContext::new(Some(&scope), ""))
    };
    Senders {
        resources,
        scopes: [
            scope("io.opentelemetry.instrumentation.http"),
            scope("io.opentelemetry.instrumentation.jdbc"),
            scope("com.example.shop"),
        ],
    }
}

/// A service with a long tail: svc-0 takes ~9% of the traffic, svc-49 ~0.04%.
fn pick_service(rng: &mut XorShift64) -> usize {
    let bound = rng.below(SERVICES as u64) + 1;
    rng.below(bound) as usize
}

/// Ten attributes in the semantic conventions of the span's kind.
fn attributes(kind: Kind, name: &str, error: bool, rng: &mut XorShift64) -> Vec<KeyValue> {
    let n = |rng: &mut XorShift64, bound: u64| Value::IntValue(rng.below(bound) as i64);
    match kind {
        Kind::Server => {
            let (method, route) = name.split_once(' ').unwrap_or(("GET", name));
            let status = if error {
                503
            } else {
                *rng.pick(&[200, 200, 200, 201, 404])
            };
            vec![
                kv("http.request.method", text(method)),
                kv("http.route", text(route)),
                kv("http.response.status_code", Value::IntValue(status)),
                kv(
                    "url.path",
                    text(route.replace("{id}", &rng.below(100_000).to_string())),
                ),
                kv("url.scheme", text("https")),
                kv("server.address", text("shop.example.com")),
                kv("server.port", Value::IntValue(443)),
                kv(
                    "client.address",
                    text(format!("10.0.{}.{}", rng.below(256), rng.below(256))),
                ),
                kv(
                    "user_agent.original",
                    text("Mozilla/5.0 (X11; Linux x86_64)"),
                ),
                kv("app.request.items", n(rng, 20)),
            ]
        }
        Kind::Client => vec![
            kv(
                "db.system.name",
                text(*rng.pick(&["postgresql", "redis", "kafka"])),
            ),
            kv("db.namespace", text("shop")),
            kv(
                "db.operation.name",
                text(name.split(' ').next().unwrap_or(name)),
            ),
            kv("db.query.text", text("SELECT * FROM orders WHERE id = $1")),
            kv(
                "server.address",
                text(format!("db-{}.shop.internal", rng.below(3))),
            ),
            kv("server.port", Value::IntValue(5432)),
            kv(
                "network.peer.address",
                text(format!("10.1.0.{}", rng.below(256))),
            ),
            kv("app.rows", n(rng, 500)),
            kv("app.retry", Value::BoolValue(rng.below(20) == 0)),
            kv(
                "app.pool.wait_ms",
                Value::DoubleValue(rng.below(10_000) as f64 / 100.0),
            ),
        ],
        Kind::Internal => vec![
            kv("code.function.name", text(name.replace(' ', "_"))),
            kv(
                "code.file.path",
                text("src/main/java/com/example/shop/Handler.java"),
            ),
            kv("code.line.number", n(rng, 900)),
            kv("thread.name", text(format!("worker-{}", rng.below(16)))),
            kv("thread.id", n(rng, 200)),
            kv("app.cache.hit", Value::BoolValue(rng.below(4) != 0)),
            kv("app.items", n(rng, 20)),
            kv(
                "app.total",
                Value::DoubleValue(rng.below(1_000_000) as f64 / 100.0),
            ),
            kv(
                "app.feature_flag",
                text(*rng.pick(&["new-checkout", "fast-search", "none"])),
            ),
            kv("app.tenant", text(format!("tenant-{}", rng.below(100)))),
        ],
    }
}

/// One span; ~1% are errors, with an exception event.
fn span(
    rng: &mut XorShift64,
    trace_id: &[u8],
    parent: &[u8],
    kind: Kind,
    start: u64,
    duration: u64,
) -> Span {
    let name = *rng.pick(kind.names());
    let error = rng.below(100) == 0;
    Span {
        trace_id: trace_id.to_vec(),
        span_id: rng.id::<8>(),
        parent_span_id: parent.to_vec(),
        flags: 0x100 | 1,
        name: name.to_owned(),
        kind: kind.otlp(),
        start_time_unix_nano: start,
        end_time_unix_nano: start + duration,
        attributes: attributes(kind, name, error, rng),
        events: if error {
            vec![Event {
                time_unix_nano: start + duration / 2,
                name: "exception".to_owned(),
                attributes: vec![
                    kv("exception.type", text("java.net.SocketTimeoutException")),
                    kv("exception.message", text("Read timed out after 2000 ms")),
                ],
                dropped_attributes_count: 0,
            }]
        } else {
            Vec::new()
        },
        status: Some(if error {
            Status {
                message: "upstream timed out".to_owned(),
                code: 2,
            }
        } else {
            Status::default()
        }),
        ..Default::default()
    }
}

/// A span with the service and instance that sent it.
struct Sent {
    service: usize,
    instance: usize,
    kind: Kind,
    span: Span,
}

/// One trace starting within the hour at `hour_start`: a server span, then up
/// to 7 children, each an internal span of the same service or a client span
/// with the server span of the service it calls.
fn trace(rng: &mut XorShift64, hour_start: u64) -> Vec<Sent> {
    let trace_id = rng.id::<16>();
    let service = pick_service(rng);
    let start = hour_start + rng.below(HOUR_NANOS - 60_000_000_000);
    // 2 ms to ~800 ms, most of them short.
    let duration = 2_000_000 + rng.below(20_000_000) * (1 + rng.below(40));
    let sent = |rng: &mut XorShift64, service, kind, parent: &[u8], start, duration| Sent {
        service,
        instance: rng.below(INSTANCES as u64) as usize,
        kind,
        span: span(rng, &trace_id, parent, kind, start, duration),
    };
    let root = sent(rng, service, Kind::Server, &[], start, duration);
    let root_id = root.span.span_id.clone();
    let mut spans = vec![root];
    for _ in 0..rng.below(8) {
        let child_start = start + rng.below(duration / 2);
        let child_duration = 20_000 + rng.below(duration / 2);
        if rng.below(2) == 0 {
            spans.push(sent(
                rng,
                service,
                Kind::Internal,
                &root_id,
                child_start,
                child_duration,
            ));
        } else {
            let client = sent(
                rng,
                service,
                Kind::Client,
                &root_id,
                child_start,
                child_duration,
            );
            let callee = pick_service(rng);
            let server = sent(
                rng,
                callee,
                Kind::Server,
                &client.span.span_id,
                child_start + 10_000,
                child_duration - 10_000,
            );
            spans.extend([client, server]);
        }
    }
    spans
}

/// Parquet files and their bytes.
#[derive(Debug, Default, Clone, Copy)]
pub struct Files {
    pub count: usize,
    pub bytes: u64,
}

impl Files {
    fn add(&mut self, other: Files) {
        self.count += other.count;
        self.bytes += other.bytes;
    }
}

/// Sorts, encodes and writes one shard's batch as the Parquet writer does.
fn write_file(
    root: &Path,
    hour: PartitionHour,
    shard: usize,
    seq: u64,
    batch: &RecordBatch,
) -> Files {
    let storage = StorageConfig::default();
    let sorted = sort_batch(Table::Traces, batch).expect("the batch has the traces schema");
    let metadata = vec![
        (keys::NODE.to_owned(), "bench".to_owned()),
        (keys::SHARD.to_owned(), shard.to_string()),
    ];
    let properties = writer_properties(
        Table::Traces,
        storage.row_group_rows,
        storage.zstd_level,
        metadata,
    );
    let bytes =
        encode_parquet(Table::Traces, &sorted, properties).expect("encoding to memory cannot fail");
    let name = FileName {
        node: "bench".to_owned(),
        shard,
        created_ms: (hour.start_nanos() / 1_000_000) as u64,
        seq,
    };
    let dir = root.join(partition_prefix(&Tenant::default_tenant(), Table::Traces, hour).as_ref());
    std::fs::create_dir_all(&dir).expect("create the partition directory");
    std::fs::write(dir.join(name.to_file_name()), &bytes).expect("write a Parquet file");
    Files {
        count: 1,
        bytes: bytes.len() as u64,
    }
}

/// Writes `spans` spans of hour `hour` of [`DAY`], shard by shard: a file
/// whenever a shard's batch reaches `flush_rows` after a trace (a real shard
/// checks after each request), and the rest at the end of the hour.
fn write_hour(root: &Path, senders: &Senders, hour: u32, spans: usize) -> Files {
    let flush_rows = StorageConfig::default().flush_rows;
    let (y, m, d) = DAY;
    let partition = PartitionHour::from_civil(y, m, d, hour).expect("a valid hour");
    let mut rng = XorShift64::new(SEED ^ u64::from(hour + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut builders: Vec<TraceBatchBuilder> =
        (0..SHARDS).map(|_| TraceBatchBuilder::new()).collect();
    let mut seq = [0u64; SHARDS];
    let mut files = Files::default();
    let mut flush = |shard: usize, batch: RecordBatch| {
        seq[shard] += 1;
        files.add(write_file(root, partition, shard, seq[shard], &batch));
    };
    let mut left = spans;
    while left > 0 {
        let mut trace = trace(&mut rng, partition.start_nanos() as u64);
        trace.truncate(left);
        left -= trace.len();
        let shard = shard_of_trace(&trace[0].span.trace_id, SHARDS);
        let builder = &mut builders[shard];
        for sent in &trace {
            let resource = &senders.resources[sent.service][sent.instance];
            let bytes = sent.span.encode_to_vec();
            let span = SpanView::parse(&bytes);
            builder.append(resource, &senders.scopes[sent.kind as usize], &span);
        }
        if builder.len() >= flush_rows {
            flush(shard, builder.finish());
        }
    }
    for (shard, builder) in builders.iter_mut().enumerate() {
        if !builder.is_empty() {
            flush(shard, builder.finish());
        }
    }
    files
}

/// Spans per hour: a diurnal curve, 3× as many at 15:00 as at 03:00.
fn spans_per_hour() -> [usize; 24] {
    let weight = |h: usize| 2.0 + ((h as f64 - 9.0) * std::f64::consts::PI / 12.0).sin();
    let total: f64 = (0..24).map(weight).sum();
    let mut counts = [0; 24];
    for (h, count) in counts.iter_mut().enumerate() {
        *count = (SPANS as f64 * weight(h) / total) as usize;
    }
    counts[23] += SPANS - counts.iter().sum::<usize>();
    counts
}

/// Writes the data set, the hours spread over one thread per core.
fn generate(root: &Path, threads: usize) -> Files {
    let counts = spans_per_hour();
    let senders = senders();
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let senders = &senders;
                scope.spawn(move || {
                    let mut files = Files::default();
                    for hour in (t..24).step_by(threads) {
                        files.add(write_hour(root, senders, hour as u32, counts[hour]));
                    }
                    files
                })
            })
            .collect();
        let mut files = Files::default();
        for worker in workers {
            files.add(worker.join().expect("a generator thread panicked"));
        }
        files
    })
}

/// The Parquet files under `dir`.
fn parquet_files(dir: &Path) -> Files {
    let mut files = Files::default();
    for entry in std::fs::read_dir(dir).expect("read the data set").flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.add(parquet_files(&path));
        } else if path.extension().is_some_and(|e| e == "parquet") {
            let bytes = entry.metadata().expect("stat a Parquet file").len();
            files.add(Files { count: 1, bytes });
        }
    }
    files
}

/// Cargo's target directory: the bench runs as
/// `<target>/[<triple>/]release/deps/sql-<hash>`, and cargo marks the target
/// directory (and a triple's directory) with a `CACHEDIR.TAG`.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the bench knows its own path");
    exe.ancestors()
        .filter(|dir| dir.join("CACHEDIR.TAG").is_file())
        .last()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

/// The cached data set, generated first if it is missing or incomplete.
pub fn open(threads: usize) -> (PathBuf, Files) {
    let root = target_dir().join("sluice-bench-data").join(DATA_SET);
    if !root.join(MARKER).is_file() {
        if root.exists() {
            std::fs::remove_dir_all(&root).expect("remove an incomplete data set");
        }
        eprintln!("generating {SPANS} spans into {} (once)", root.display());
        let started = Instant::now();
        let files = generate(&root, threads);
        std::fs::write(
            root.join(MARKER),
            format!("{SPANS} spans in {} files\n", files.count),
        )
        .expect("write the marker");
        eprintln!("generated in {:.0} s", started.elapsed().as_secs_f64());
    }
    let files = parquet_files(&root);
    (root, files)
}
