//! The end-to-end benchmark: starts a release Sluice on loopback ports with a
//! fresh data root (WAL fsync on, the defaults otherwise), drives it with
//! `sluice-loadgen`, and writes `benches/RESULTS.md`.
//!
//! One command (it builds the release binaries it needs first):
//!
//! ```sh
//! cargo run --release -p sluice-benches --bin end_to_end
//! ```
//!
//! What it measures, all in one run so the ratios share the machine's state:
//!
//! - the highest sustained spans/s with under 0.1% refusals (the rate of an
//!   as-fast-as-possible run, then lowered by 10% until refusals stay under
//!   0.1%; or, if Sluice refused some of that run and its rate holds, raised
//!   by 10% until it does not), per core Sluice used (its CPU seconds over
//!   the wall time); every step starts once Sluice is idle, and a step's CPU
//!   seconds include writing what it left in the shards;
//! - logs/s and data points/s as fast as possible, and sustained and per
//!   core the same way;
//! - end-to-end spans/s per core over decode-only spans/s per core of the same
//!   payloads: requests the load generator makes with the steps' arguments
//!   ([`trace_bodies`], 64 of 512 spans), decoded in this process into the
//!   OTLP messages of `opentelemetry-proto` with the allocator Sluice uses
//!   (next to the speed of Sluice's own receiver stage, which reads the spans
//!   in place); the median of six samples, three before the rate search and
//!   three after it;
//! - acknowledgement latency p50/p99 at half the sustained rate, and Sluice's
//!   own side of it from its histograms (request time and WAL fsyncs) and
//!   from its threads' scheduler statistics (how long the WAL writer, the
//!   I/O threads and the shards waited for a core, Linux only);
//! - Sluice's peak resident memory;
//! - bytes on disk per span (`otel_traces` Parquet) next to the OTLP protobuf
//!   and protobuf+zstd bytes per span of the same requests (`bytes_sent` of
//!   the load generator with and without `--compression zstd`), for the
//!   generator's uniformly drawn attribute values and again for skewed ones
//!   (`--attribute-skew 1`, a Zipf distribution, as real attributes are),
//!   stored under their own tenant; and the bytes per span of the largest
//!   columns, from the files' footers ([`ParquetSizes`]).
//!
//! The load generator runs on the same machine and takes CPU too: the report
//! says how many cores each used. Set `E2E_SECONDS` (default 15) for longer
//! steps. `E2E_BASELINES_ONLY=<n>` measures only the two in-process
//! baselines (decode-only and the receiver stage), `n` times in a row, and
//! prints them: to see how much they move on this machine.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use prost::Message;
use sluice_benches::loadgen::{SHAPE, trace_bodies};
use sluice_benches::sched::{self, ThreadTimes};
use sluice_benches::scrape::{self, Histogram};
use sluice_benches::sizes::ParquetSizes;
use sluice_model::Signal;
use sluice_model::otlp::collector::trace::v1::ExportTraceServiceRequest;
use sluice_otlp::{BodyEncoding, decode_export};

type Error = Box<dyn std::error::Error>;

/// The allocator Sluice runs with, so that the decode-only baseline, which
/// allocates for every string it decodes, is not measured on a slower one.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A load generator run's JSON summary, the fields used here.
#[derive(Debug, Clone, serde::Deserialize)]
struct Summary {
    records_sent: u64,
    records_acknowledged: u64,
    records_refused: u64,
    bytes_sent: u64,
    duration_seconds: f64,
    acknowledged_records_per_second: f64,
    ack_latency_ms: Latency,
}

#[derive(Debug, Clone, serde::Deserialize)]
struct Latency {
    p50: Option<f64>,
    p99: Option<f64>,
}

impl Summary {
    fn refused_ratio(&self) -> f64 {
        self.records_refused as f64 / self.records_sent.max(1) as f64
    }
}

/// The running daemon.
struct Sluice {
    child: Child,
    grpc: String,
    api: u16,
    root: PathBuf,
}

/// Sluice's own latency figures over one step, from its `/metrics`.
struct ServerSide {
    requests: Histogram,
    fsyncs: Histogram,
}

impl ServerSide {
    /// What the traces' gRPC requests and the WAL's fsyncs added between two
    /// scrapes.
    fn between(before: &str, after: &str) -> Result<Self, Error> {
        let series = |text: &str, name: &str, labels: &[&str]| {
            Histogram::parse(text, name, labels)
                .ok_or_else(|| format!("no histogram {name} {labels:?} in /metrics"))
        };
        let traces_grpc = ["signal=\"traces\"", "transport=\"grpc\""];
        let request = "sluice_receiver_request_seconds";
        let fsync = "sluice_wal_fsync_seconds";
        Ok(Self {
            requests: series(after, request, &traces_grpc)?.since(&series(
                before,
                request,
                &traces_grpc,
            )?),
            fsyncs: series(after, fsync, &[])?.since(&series(before, fsync, &[])?),
        })
    }

    /// p50 and p99 as `histogram_quantile` estimates them (linear within a
    /// bucket), and the exact share over 10 ms.
    fn report(&self) -> String {
        let describe = |h: &Histogram| {
            format!(
                "p50 {:.1} ms, p99 {:.1} ms, {:.2}% over 10 ms",
                h.quantile(0.5).unwrap_or(f64::NAN) * 1e3,
                h.quantile(0.99).unwrap_or(f64::NAN) * 1e3,
                h.share_above(0.01).unwrap_or(f64::NAN) * 100.0
            )
        };
        format!(
            "requests {}; fsyncs {}",
            describe(&self.requests),
            describe(&self.fsyncs)
        )
    }
}

impl Sluice {
    fn start(bin: &Path, root: &Path) -> Result<Self, Error> {
        let port = || -> Result<u16, Error> {
            Ok(std::net::TcpListener::bind("127.0.0.1:0")?
                .local_addr()?
                .port())
        };
        let (grpc, http, api) = (port()?, port()?, port()?);
        let child = Command::new(bin)
            .env("SLUICE_STORAGE_ROOT", root)
            .env("SLUICE_RECEIVERS_GRPC_LISTEN", format!("127.0.0.1:{grpc}"))
            .env("SLUICE_RECEIVERS_HTTP_LISTEN", format!("127.0.0.1:{http}"))
            .env("SLUICE_API_LISTEN", format!("127.0.0.1:{api}"))
            .env("SLUICE_LOG_LEVEL", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()?;
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", api)).is_err() {
            if started.elapsed() > Duration::from_secs(30) {
                return Err("sluice did not open its API port within 30 s".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(Self {
            child,
            grpc: format!("http://127.0.0.1:{grpc}"),
            api,
            root: root.to_owned(),
        })
    }

    /// CPU seconds the process used so far (user + system).
    fn cpu_seconds(&self) -> f64 {
        cpu_seconds_of(&format!("/proc/{}/stat", self.child.id()))
    }

    /// Peak resident memory, bytes.
    /// Waits until Sluice has written what the previous step left in its
    /// shards (at least `SETTLE_MIN`, past the default flush interval, then
    /// until it is idle, at most `SETTLE_MAX`), so the next step neither pays
    /// for it nor waits behind it.
    fn settle(&self) {
        let started = Instant::now();
        let mut before = self.cpu_seconds();
        while started.elapsed() < SETTLE_MAX {
            std::thread::sleep(Duration::from_secs(1));
            let now = self.cpu_seconds();
            if started.elapsed() >= SETTLE_MIN && now - before < IDLE_CORES {
                return;
            }
            before = now;
        }
    }

    fn peak_rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    }

    fn stop(mut self) -> Result<(), Error> {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?;
        let status = self.child.wait()?;
        if !status.success() {
            return Err(format!("sluice exited with {status}").into());
        }
        Ok(())
    }
}

/// Runs the load generator against `endpoint`; its JSON summary.
fn loadgen(
    bin: &Path,
    endpoint: &str,
    signal: &str,
    rate: f64,
    seconds: u64,
    extra: &[&str],
) -> Result<Summary, Error> {
    let output = Command::new(bin)
        .args([
            "--endpoint",
            endpoint,
            "--protocol",
            "grpc",
            "--signal",
            signal,
            "--rate",
            &format!("{}", rate.round() as u64),
            "--duration",
            &format!("{seconds}s"),
            "--json",
            "--quiet",
        ])
        .args(SHAPE)
        .args(extra)
        .stderr(Stdio::inherit())
        .output()?;
    if !output.status.success() {
        return Err(format!("sluice-loadgen failed: {}", output.status).into());
    }
    Ok(serde_json::from_slice(&output.stdout)?)
}

/// The threads on the acknowledgement path and the shards, as the report
/// shows them: how long each kind waited for a core against how long it ran.
fn describe_threads(kinds: &std::collections::BTreeMap<String, ThreadTimes>) -> String {
    let shown: Vec<String> = ["sluice-wal", "sluice-io", "sluice-shard"]
        .iter()
        .filter_map(|kind| {
            let t = kinds.get(*kind)?;
            Some(format!(
                "{kind} {:.2} s / {:.2} s ({:.0} us)",
                t.waited.as_secs_f64(),
                t.ran.as_secs_f64(),
                t.mean_wait().as_secs_f64() * 1e6
            ))
        })
        .collect();
    if shown.is_empty() {
        "not available (no /proc/<pid>/task/*/schedstat)".to_owned()
    } else {
        shown.join("; ")
    }
}

/// CPU seconds (user + system) of the process or thread whose `stat` file
/// is at `path` (`/proc/<pid>/stat`, `/proc/thread-self/stat`).
fn cpu_seconds_of(path: &str) -> f64 {
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    // Fields after the command name, which is in parentheses.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the whole line, in ticks of
    // 1/100 s.
    (ticks(11) + ticks(12)) / 100.0
}

/// How long one sample of an in-process baseline runs: 200 of `/proc`'s
/// 1/100 s ticks of CPU time.
const SAMPLE: Duration = Duration::from_secs(2);

/// Samples of the two in-process baselines over the load generator's bodies.
/// One sample moves by up to a third from the next on this machine, quiet or
/// not (its host is shared), so the report takes the median of several, taken
/// alternately at the start and again after the sustained rate is found.
#[derive(Debug)]
struct Baselines {
    bodies: Vec<bytes::Bytes>,
    spans: usize,
    decode: Vec<f64>,
    receiver: Vec<f64>,
}

impl Baselines {
    fn new() -> Result<Self, Error> {
        let (bodies, spans) = trace_bodies(None)?;
        Ok(Self {
            bodies,
            spans,
            decode: Vec::new(),
            receiver: Vec::new(),
        })
    }

    /// Samples each baseline `rounds` times, alternating them.
    fn sample(&mut self, rounds: usize) {
        for _ in 0..rounds {
            self.decode.push(self.decode_only());
            self.receiver.push(self.receiver_only());
        }
    }

    /// Spans per CPU second of `work` over every body: like Sluice's, counted
    /// in CPU time (this thread's), so that time the machine gives to others
    /// does not count.
    fn spans_per_second(&self, work: impl Fn(&bytes::Bytes)) -> f64 {
        let thread_cpu = || cpu_seconds_of("/proc/thread-self/stat");
        let (started, cpu_before) = (Instant::now(), thread_cpu());
        let mut rounds = 0u64;
        while started.elapsed() < SAMPLE {
            self.bodies.iter().for_each(&work);
            rounds += 1;
        }
        let cpu = (thread_cpu() - cpu_before).max(0.01);
        (rounds * self.spans as u64) as f64 / cpu
    }

    /// Decode-only spans per CPU second: protobuf into the OTLP messages of
    /// `opentelemetry-proto`, as a collector built on them decodes.
    fn decode_only(&self) -> f64 {
        self.spans_per_second(|body| {
            let request =
                ExportTraceServiceRequest::decode(&body[..]).expect("the payload is valid OTLP");
            std::hint::black_box(request);
        })
    }

    /// Spans per CPU second of Sluice's own receiver stage: checking the body
    /// and indexing its valid spans in place.
    fn receiver_only(&self) -> f64 {
        self.spans_per_second(|body| {
            let request = decode_export(Signal::Traces, body, BodyEncoding::Protobuf)
                .expect("the payload is valid OTLP");
            std::hint::black_box(request);
        })
    }
}

/// The median of `samples` and their range, for the report.
fn median_and_range(samples: &[f64]) -> (f64, String) {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let median = match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    };
    let range = format!(
        "{median:.0} (median of {}; {:.0} - {:.0})",
        sorted.len(),
        sorted.first().copied().unwrap_or(f64::NAN),
        sorted.last().copied().unwrap_or(f64::NAN)
    );
    (median, range)
}

/// What [`rate_search`] found.
struct Sustained {
    /// The run at the highest rate with under 0.1% refusals.
    run: Summary,
    /// The cores Sluice used for it, writing what it left included.
    cores: f64,
    /// Records acknowledged over all the search's runs.
    acknowledged: u64,
}

/// The highest rate of `signal` Sluice takes with under 0.1% refusals,
/// starting from what it acknowledged as fast as possible (`fastest`). When
/// Sluice refused some of that load, it was the bottleneck there, and what it
/// acknowledged under overload (refused requests cost it too) may be below
/// what it sustains: a first rate that holds is raised by 10% until one does
/// not. Otherwise that rate is lowered by 10% until refusals stay under
/// 0.1%. Every step is at a fixed rate, so that Sluice's cores are measured
/// for the rate found.
fn rate_search(
    sluice: &Sluice,
    bin: &Path,
    signal: &str,
    fastest: &Summary,
    seconds: u64,
) -> Result<Sustained, Error> {
    let mut found = None;
    let mut acknowledged = 0;
    let mut rate = fastest.acknowledged_records_per_second;
    let mut may_rise = fastest.refused_ratio() >= 0.001;
    for _ in 0..RATE_STEPS {
        eprintln!("==> {signal} at {rate:.0} records/s ({seconds} s)");
        sluice.settle();
        let cpu_before = sluice.cpu_seconds();
        let run = loadgen(bin, &sluice.grpc, signal, rate, seconds, &[])?;
        acknowledged += run.records_acknowledged;
        // The step's work includes writing what it left in the shards.
        sluice.settle();
        let cores = (sluice.cpu_seconds() - cpu_before) / run.duration_seconds;
        if run.refused_ratio() < 0.001 {
            found = Some((run, cores));
            if !may_rise {
                break;
            }
            rate *= 1.1;
        } else if found.is_some() {
            break;
        } else {
            may_rise = false;
            rate *= 0.9;
        }
    }
    let (run, cores) =
        found.ok_or_else(|| format!("no {signal} rate sustained with under 0.1% refusals"))?;
    Ok(Sustained {
        run,
        cores,
        acknowledged,
    })
}

/// Samples of each baseline at the start, and again after the rate search.
const BASELINE_ROUNDS: usize = 3;

/// The most fixed-rate steps of the rate search.
const RATE_STEPS: usize = 6;

/// CPU use (cores over a second) below which Sluice counts as idle.
const IDLE_CORES: f64 = 0.05;
/// The shortest wait between steps: longer than the default
/// `storage.flush_interval` (10 s), after which the shards write what they hold.
const SETTLE_MIN: Duration = Duration::from_secs(12);
/// The longest wait for Sluice to become idle between steps.
const SETTLE_MAX: Duration = Duration::from_secs(40);

/// The tenant the skewed-attribute runs store under, apart from the rest.
const SKEWED_TENANT: &str = "skewed";

fn main() -> Result<(), Error> {
    let seconds: u64 = std::env::var("E2E_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(15);
    if let Some(times) = std::env::var("E2E_BASELINES_ONLY")
        .ok()
        .and_then(|s| s.parse::<u32>().ok())
    {
        let mut baselines = Baselines::new()?;
        baselines.sample(times as usize);
        println!("decode-only spans/s per core: {:.0?}", baselines.decode);
        println!(
            "receiver stage spans/s per core: {:.0?}",
            baselines.receiver
        );
        return Ok(());
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!("==> cargo build --release -p sluice -p sluice-loadgen");
    let built = Command::new(&cargo)
        .args(["build", "--release", "-p", "sluice", "-p", "sluice-loadgen"])
        .status()?;
    if !built.success() {
        return Err("cannot build the release binaries".into());
    }
    let release = std::env::current_exe()?
        .parent()
        .map(Path::to_owned)
        .ok_or("no directory for the current executable")?;
    let (sluice_bin, loadgen_bin) = (release.join("sluice"), release.join("sluice-loadgen"));
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());

    eprintln!("==> decode-only throughput (one core, in this process)");
    let mut baselines = Baselines::new()?;
    baselines.sample(BASELINE_ROUNDS);

    let dir = tempfile::tempdir()?;
    let sluice = Sluice::start(&sluice_bin, &dir.path().join("data"))?;
    let endpoint = sluice.grpc.clone();

    eprintln!("==> traces as fast as possible ({seconds} s)");
    let fastest = loadgen(&loadgen_bin, &endpoint, "traces", 0.0, seconds, &[])?;
    // Every span acknowledged in any traces run, for the bytes on disk.
    let mut spans_stored = fastest.records_acknowledged;
    let search = rate_search(&sluice, &loadgen_bin, "traces", &fastest, seconds)?;
    spans_stored += search.acknowledged;
    let sluice_cores = search.cores;
    let sustained = search.run;
    let per_core = sustained.acknowledged_records_per_second / sluice_cores.max(0.01);

    eprintln!("==> decode-only throughput again");
    baselines.sample(BASELINE_ROUNDS);
    let (decode, decode_report) = median_and_range(&baselines.decode);
    let (_, receiver_report) = median_and_range(&baselines.receiver);

    eprintln!("==> latency at half the sustained rate");
    sluice.settle();
    let before = scrape::metrics(sluice.api)?;
    let threads_before = sched::threads(sluice.child.id());
    let half = loadgen(
        &loadgen_bin,
        &endpoint,
        "traces",
        sustained.acknowledged_records_per_second / 2.0,
        seconds,
        &[],
    )?;
    let server_side = ServerSide::between(&before, &scrape::metrics(sluice.api)?)?;
    let thread_times = sched::by_kind_since(&threads_before, &sched::threads(sluice.child.id()));

    eprintln!("==> the same requests with zstd");
    let zstd = loadgen(
        &loadgen_bin,
        &endpoint,
        "traces",
        sustained.acknowledged_records_per_second / 2.0,
        seconds.min(5),
        &["--compression", "zstd"],
    )?;

    eprintln!("==> skewed attribute values (Zipf 1), without and with zstd");
    let skew = ["--tenant", SKEWED_TENANT, "--attribute-skew", "1"];
    let skewed_zstd_args = [&skew[..], &["--compression", "zstd"]].concat();
    let half_rate = sustained.acknowledged_records_per_second / 2.0;
    let skewed = loadgen(
        &loadgen_bin,
        &endpoint,
        "traces",
        half_rate,
        seconds.min(5),
        &skew,
    )?;
    let skewed_zstd = loadgen(
        &loadgen_bin,
        &endpoint,
        "traces",
        half_rate,
        seconds.min(5),
        &skewed_zstd_args,
    )?;

    eprintln!("==> logs and metrics as fast as possible");
    sluice.settle();
    let logs = loadgen(&loadgen_bin, &endpoint, "logs", 0.0, seconds, &[])?;
    let logs_search = rate_search(&sluice, &loadgen_bin, "logs", &logs, seconds)?;
    let (logs_sustained, logs_cores) = (logs_search.run, logs_search.cores);
    sluice.settle();
    let metrics = loadgen(&loadgen_bin, &endpoint, "metrics", 0.0, seconds, &[])?;
    let metrics_search = rate_search(&sluice, &loadgen_bin, "metrics", &metrics, seconds)?;
    let (metrics_sustained, metrics_cores) = (metrics_search.run, metrics_search.cores);

    let peak = sluice.peak_rss();
    let root = sluice.root.clone();
    sluice.stop()?;
    spans_stored += half.records_acknowledged + zstd.records_acknowledged;
    let disk = ParquetSizes::under(&root.join("default/otel_traces"))?;
    let disk_per_span = disk.file_bytes as f64 / spans_stored.max(1) as f64;
    let proto_per_span = half.bytes_sent as f64 / half.records_sent.max(1) as f64;
    let zstd_per_span = zstd.bytes_sent as f64 / zstd.records_sent.max(1) as f64;
    let skewed_disk = ParquetSizes::under(&root.join(SKEWED_TENANT).join("otel_traces"))?;
    let skewed_disk_per_span = skewed_disk.file_bytes as f64
        / (skewed.records_acknowledged + skewed_zstd.records_acknowledged).max(1) as f64;
    let skewed_proto_per_span = skewed.bytes_sent as f64 / skewed.records_sent.max(1) as f64;
    let skewed_zstd_per_span =
        skewed_zstd.bytes_sent as f64 / skewed_zstd.records_sent.max(1) as f64;

    let mut report = String::new();
    let _ = writeln!(report, "# End-to-end results\n");
    let _ = writeln!(
        report,
        "Produced by `cargo run --release -p sluice-benches --bin end_to_end` on {cores} cores; \
         Sluice with the default config (WAL fsync `always`), the load generator on the same \
         machine over loopback gRPC: 8 concurrent requests of 512 records with 10 attributes each, \
         {seconds} s per step.\n"
    );
    let _ = writeln!(report, "| measure | value |\n|---|---|");
    let mut row = |name: &str, value: String| {
        let _ = writeln!(report, "| {name} | {value} |");
    };
    row(
        "traces, as fast as possible",
        format!(
            "{:.0} spans/s acknowledged, {:.2}% refused",
            fastest.acknowledged_records_per_second,
            fastest.refused_ratio() * 100.0
        ),
    );
    row(
        "traces, sustained with < 0.1% refusals",
        format!("{:.0} spans/s", sustained.acknowledged_records_per_second),
    );
    row(
        "cores Sluice used at that rate",
        format!("{sluice_cores:.2}"),
    );
    row("sustained spans/s per core", format!("{per_core:.0}"));
    row(
        "decode-only spans/s per core (the load generator's requests, into prost messages)",
        decode_report,
    );
    row(
        "Sluice's receiver stage spans/s per core (the same requests, checked and indexed in place)",
        receiver_report,
    );
    row(
        "end-to-end / decode-only (per core, against the median)",
        format!("{:.3}", per_core / decode),
    );
    row(
        "ack latency at half the sustained rate",
        format!(
            "p50 {:.1} ms, p99 {:.1} ms",
            half.ack_latency_ms.p50.unwrap_or(f64::NAN),
            half.ack_latency_ms.p99.unwrap_or(f64::NAN)
        ),
    );
    row(
        "Sluice's own time at half the sustained rate (its histograms; from the decoded body to the answer, and the WAL's fsync)",
        server_side.report(),
    );
    row(
        "Sluice's threads at half the sustained rate (schedstat: waited for a core / ran, mean wait each time it ran)",
        describe_threads(&thread_times),
    );
    row(
        "logs, as fast as possible",
        format!(
            "{:.0} records/s acknowledged, {:.2}% refused",
            logs.acknowledged_records_per_second,
            logs.refused_ratio() * 100.0
        ),
    );
    row(
        "metrics, as fast as possible",
        format!(
            "{:.0} data points/s acknowledged, {:.2}% refused",
            metrics.acknowledged_records_per_second,
            metrics.refused_ratio() * 100.0
        ),
    );
    row(
        "logs, sustained with < 0.1% refusals",
        format!(
            "{:.0} records/s",
            logs_sustained.acknowledged_records_per_second
        ),
    );
    row(
        "metrics, sustained with < 0.1% refusals",
        format!(
            "{:.0} data points/s",
            metrics_sustained.acknowledged_records_per_second
        ),
    );
    row(
        "sustained logs/s per core (cores Sluice used at that rate)",
        format!(
            "{:.0} ({logs_cores:.2})",
            logs_sustained.acknowledged_records_per_second / logs_cores.max(0.01)
        ),
    );
    row(
        "sustained data points/s per core (cores Sluice used at that rate)",
        format!(
            "{:.0} ({metrics_cores:.2})",
            metrics_sustained.acknowledged_records_per_second / metrics_cores.max(0.01)
        ),
    );
    row(
        "peak resident memory",
        format!("{:.0} MiB", peak as f64 / 1048576.0),
    );
    row(
        "bytes per span: Parquet on disk",
        format!("{disk_per_span:.1}"),
    );
    row(
        "bytes per span by column: Parquet's six largest, the others, the files' structure",
        disk.per_record(spans_stored, 6),
    );
    row(
        "bytes per span: OTLP protobuf",
        format!("{proto_per_span:.1}"),
    );
    row(
        "bytes per span: OTLP protobuf + zstd",
        format!("{zstd_per_span:.1}"),
    );
    row(
        "Parquet / (protobuf + zstd)",
        format!("{:.2}", disk_per_span / zstd_per_span),
    );
    row(
        "skewed attribute values (Zipf 1), bytes per span: Parquet / protobuf / protobuf + zstd",
        format!(
            "{skewed_disk_per_span:.1} / {skewed_proto_per_span:.1} / {skewed_zstd_per_span:.1}"
        ),
    );
    row(
        "skewed attribute values: Parquet / (protobuf + zstd)",
        format!("{:.2}", skewed_disk_per_span / skewed_zstd_per_span),
    );
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("RESULTS.md");
    let previous = std::fs::read_to_string(&path).unwrap_or_default();
    let history = previous
        .split_once("\n## History\n")
        .map(|(_, h)| h.to_owned())
        .unwrap_or_default();
    let _ = writeln!(report, "\n## History\n{history}");
    std::fs::write(&path, &report)?;
    println!("{report}");
    Ok(())
}
