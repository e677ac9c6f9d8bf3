//! SQL time of a group-by over 10 million spans: Sluice's query path
//! (DataFusion through [`SqlEngine::query`], exactly what `POST /api/v1/sql`
//! runs) next to DuckDB on the same Parquet files.
//!
//! # The data set
//!
//! One day of `otel_traces`, 10 000 000 spans of 50 services, written as a
//! Sluice node writes them (see [`data_set`] for the shape). Generating it
//! takes a minute or two, so it is written once to
//! `<cargo target dir>/sluice-bench-data/otel_traces-10m-v1/` (the path and
//! size are printed) and reused; a `COMPLETE` marker is written last, so a
//! half-written set is regenerated. Delete the directory to rebuild it.
//!
//! # What is timed
//!
//! Two queries, each 1 warm-up run and 5 timed runs, median and minimum:
//! a group-by of every span by service and span name (count, errors, average
//! duration), and the same for one service over one hour (`svc-7`, 13:00),
//! where the `date`/`hour` partition columns prune all but one directory.
//! A Sluice run is one [`SqlEngine::query`]: a new session, file listing,
//! planning and execution; a DuckDB run (`benches/duckdb_groupby.py`) is a new
//! in-memory database, a view over `read_parquet(…, hive_partitioning = true)`
//! and the same SQL text. Both use one thread per core (DataFusion's default
//! `target_partitions`; DuckDB's `threads` is set to the same number). Files
//! come from the page cache after the warm-up, for both. The bench asserts
//! both engines counted all 10 000 000 spans and agree on the error count.
//!
//! DuckDB runs in the Python of the interop tests' venv: `$SLUICE_VENV`
//! (or `$E2E_VENV`), default `~/.cache/sluice-venv`, which `scripts/test`
//! creates. Without it the bench says so and prints the DataFusion figures.
//!
//! Run with `cargo bench -p sluice-benches --bench sql`.

/// The allocator the daemon runs with.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "sql/data_set.rs"]
mod data_set;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::Int64Type;
use object_store::local::LocalFileSystem;
use sluice_model::{Table, Tenant};
use sluice_query::{QueryConfig, SqlEngine};

use data_set::{DAY, NAMES_PER_SERVICE, SERVICES, SPANS};

const WARMUP: usize = 1;
const RUNS: usize = 5;
const SELECTIVE_SERVICE: &str = "svc-7";
const SELECTIVE_HOUR: u32 = 13;

const GROUP_BY: &str = r#"SELECT "ServiceName", "SpanName", count(*) AS spans, sum(CASE WHEN "StatusCode" = 'Error' THEN 1 ELSE 0 END) AS errors, avg("Duration") AS avg_ns FROM otel_traces GROUP BY "ServiceName", "SpanName" ORDER BY spans DESC"#;

/// One service over one hour: the partition columns prune 23 of 24 directories.
fn selective_sql() -> String {
    let (y, m, d) = DAY;
    format!(
        r#"SELECT "SpanName", count(*) AS spans, sum(CASE WHEN "StatusCode" = 'Error' THEN 1 ELSE 0 END) AS errors, avg("Duration") AS avg_ns FROM otel_traces WHERE "ServiceName" = '{SELECTIVE_SERVICE}' AND date = '{y:04}-{m:02}-{d:02}' AND hour = '{SELECTIVE_HOUR:02}' GROUP BY "SpanName" ORDER BY spans DESC"#
    )
}

/// Timings of one query on one engine, and what it counted.
#[derive(Debug)]
struct Timing {
    median_s: f64,
    min_s: f64,
    /// Result rows.
    groups: usize,
    /// Sum of the `spans` column: the spans the query aggregated.
    spans: i64,
    /// Sum of the `errors` column.
    errors: i64,
}

/// The value of `key` in the first flat JSON object of `text`, as written.
fn json_field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let start = text.find(&format!("\"{key}\": "))? + key.len() + 4;
    let rest = &text[start..];
    Some(rest[..rest.find([',', '}'])?].trim())
}

impl Timing {
    /// Reads one line of `duckdb_groupby.py`'s output: a flat JSON object
    /// of numbers (and DuckDB's version).
    fn from_json_line(line: &str) -> Option<Self> {
        let field = |key: &str| json_field(line, key);
        Some(Self {
            median_s: field("median_s")?.parse().ok()?,
            min_s: field("min_s")?.parse().ok()?,
            groups: field("groups")?.parse().ok()?,
            spans: field("spans")?.parse().ok()?,
            errors: field("errors")?.parse().ok()?,
        })
    }
}

fn column_sum(batches: &[RecordBatch], name: &str) -> i64 {
    batches
        .iter()
        .map(|b| {
            let column = b.column_by_name(name).expect("the query has the column");
            column
                .as_primitive::<Int64Type>()
                .iter()
                .flatten()
                .sum::<i64>()
        })
        .sum()
}

fn median(mut seconds: Vec<f64>) -> f64 {
    seconds.sort_by(f64::total_cmp);
    let mid = seconds.len() / 2;
    if seconds.len() % 2 == 1 {
        seconds[mid]
    } else {
        (seconds[mid - 1] + seconds[mid]) / 2.0
    }
}

fn time_datafusion(runtime: &tokio::runtime::Runtime, engine: &SqlEngine, sql: &str) -> Timing {
    let tenant = Tenant::default_tenant();
    let run = || {
        let started = Instant::now();
        let result = runtime
            .block_on(engine.query(&tenant, sql))
            .expect("the query runs");
        (started.elapsed().as_secs_f64(), result)
    };
    for _ in 0..WARMUP {
        run();
    }
    let (seconds, results): (Vec<f64>, Vec<_>) = (0..RUNS).map(|_| run()).unzip();
    let last = results.last().expect("RUNS > 0");
    assert!(!last.truncated, "the result fits query.max_rows");
    Timing {
        min_s: seconds.iter().copied().fold(f64::INFINITY, f64::min),
        median_s: median(seconds),
        groups: last.batches.iter().map(RecordBatch::num_rows).sum(),
        spans: column_sum(&last.batches, "spans"),
        errors: column_sum(&last.batches, "errors"),
    }
}

/// Runs `benches/duckdb_groupby.py` with the venv's Python; returns DuckDB's
/// version and the timings of `queries`.
fn time_duckdb(
    table_dir: &Path,
    threads: usize,
    queries: &[&str],
) -> Result<(String, Vec<Timing>), String> {
    let venv = std::env::var_os("SLUICE_VENV")
        .or_else(|| std::env::var_os("E2E_VENV"))
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|home| Path::new(&home).join(".cache/sluice-venv"))
        })
        .ok_or("neither SLUICE_VENV nor HOME is set")?;
    let python = venv.join("bin/python");
    if !python.is_file() {
        return Err(format!(
            "no Python venv at {0}: run scripts/test once, or `python3 -m venv {0} && {0}/bin/pip install -r tests/interop/requirements.txt`",
            venv.display()
        ));
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("duckdb_groupby.py");
    let mut command = Command::new(&python);
    command.arg(&script).arg(table_dir);
    command.args([
        "--threads",
        &threads.to_string(),
        "--warmup",
        &WARMUP.to_string(),
        "--runs",
        &RUNS.to_string(),
    ]);
    for sql in queries {
        command.arg("--sql").arg(sql);
    }
    let output = command
        .output()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    if !output.status.success() {
        return Err(format!(
            "{} failed: {}",
            script.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let timings: Option<Vec<Timing>> = stdout.lines().map(Timing::from_json_line).collect();
    let version = json_field(&stdout, "duckdb").map(|v| v.trim_matches('"').to_owned());
    match (version, timings) {
        (Some(version), Some(timings)) if timings.len() == queries.len() => Ok((version, timings)),
        _ => Err(format!(
            "unreadable output of {}: {stdout}",
            script.display()
        )),
    }
}

fn print_table(title: &str, datafusion: &Timing, duckdb: Option<&Timing>) {
    println!(
        "\n{title}: {} spans ({} errors) aggregated into {} groups",
        datafusion.spans, datafusion.errors, datafusion.groups
    );
    println!(
        "{:<12} {:>10} {:>10} {:>14}",
        "engine", "median", "min", "rows/s"
    );
    let row = |engine: &str, t: &Timing| {
        let rate = t.spans as f64 / t.median_s / 1e6;
        println!(
            "{engine:<12} {:>8.3} s {:>8.3} s {:>12.1} M",
            t.median_s, t.min_s, rate
        );
    };
    row("DataFusion", datafusion);
    if let Some(duckdb) = duckdb {
        row("DuckDB", duckdb);
        println!(
            "DataFusion / DuckDB: {:.2}x (median), {:.2}x (min)",
            datafusion.median_s / duckdb.median_s,
            datafusion.min_s / duckdb.min_s
        );
    }
}

fn main() {
    // `cargo test --benches` runs bench targets without `--bench`: nothing to
    // check there that is worth generating 10 M spans for.
    if !std::env::args().any(|arg| arg == "--bench") {
        eprintln!("the sql bench runs under `cargo bench -p sluice-benches --bench sql`; skipped");
        return;
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (root, files) = data_set::open(threads);
    println!(
        "data set: {} ({} Parquet files, {:.1} MiB)",
        root.display(),
        files.count,
        files.bytes as f64 / (1024.0 * 1024.0)
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let store =
        Arc::new(LocalFileSystem::new_with_prefix(&root).expect("the data set is a directory"));
    let engine = SqlEngine::new(store, QueryConfig::default());
    let selective = selective_sql();
    let queries = [GROUP_BY, selective.as_str()];
    println!("threads: {threads} (DataFusion target_partitions and tokio workers; DuckDB threads)");
    let datafusion: Vec<Timing> = queries
        .iter()
        .map(|sql| time_datafusion(&runtime, &engine, sql))
        .collect();

    let table_dir = root
        .join(Tenant::default_tenant().as_str())
        .join(Table::Traces.name());
    let duckdb = match time_duckdb(&table_dir, threads, &queries) {
        Ok((version, timings)) => {
            println!("duckdb: {version}");
            Some(timings)
        }
        Err(why) => {
            eprintln!("DuckDB side skipped: {why}");
            None
        }
    };

    let (all, one) = (&datafusion[0], &datafusion[1]);
    assert_eq!(all.spans, SPANS as i64, "DataFusion counted every span");
    assert_eq!(
        all.groups,
        SERVICES * NAMES_PER_SERVICE,
        "every service has all its names"
    );
    assert!(
        one.spans > 0 && one.spans < all.spans / 24,
        "the selective query reads one service-hour"
    );
    if let Some(duckdb) = &duckdb {
        for (d, f) in duckdb.iter().zip(&datafusion) {
            assert_eq!(
                (d.spans, d.errors, d.groups),
                (f.spans, f.errors, f.groups),
                "both engines agree"
            );
        }
    }
    let duckdb = |i: usize| duckdb.as_ref().map(|d| &d[i]);
    print_table("group-by over all spans", all, duckdb(0));
    let title = format!("{SELECTIVE_SERVICE}, hour {SELECTIVE_HOUR:02} (partition pruning)");
    print_table(&title, one, duckdb(1));
}
