//! SLO answers over a month of rollups: `SloEngine::statuses` for 20 SLOs
//! (10 availability, 10 latency) over 30 days of per-minute rollups of 50
//! services, as `/api/v1/slos` computes them, and golden-signal series of one
//! service as `/api/v1/sli` computes them.
//!
//! - `statuses_20_slos_30_days_50_services`: an answer of a running server,
//!   whose SLO index is up to date: it lists the rollup files, finds none new,
//!   and sums the per-minute counts.
//! - `first_statuses_after_start`: the first answer of a fresh engine, which
//!   reads the whole month into its index (a server does this once, in the
//!   background, at start and after a reload).
//! - `golden_signals_*`: one service's series over the last hour (1m step)
//!   and the last day (5m step).
//!
//! Setup writes 30 × 24 hourly `sluice_rollups` files (50 services × 60
//! minutes each, 2.16 M rows in all) into a temporary directory, once.
//!
//! Run with `cargo bench -p sluice-benches --bench slo`.

/// The allocator the daemon runs with.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use object_store::local::LocalFileSystem;
use sluice_model::Table;
use sluice_model::Tenant;
use sluice_model::time::PartitionHour;
use sluice_model::units::Duration as StepDuration;
use sluice_pipeline::shard::rollup_batch;
use sluice_query::sli::{SeriesRequest, golden_signals};
use sluice_query::{QueryConfig, SloEngine, SqlEngine};
use sluice_slo::{Minute, MinuteRange, RollupKey, RollupRow, SliRollup, SloDefinitions, SpanKind};
use sluice_storage::{encode_parquet, sort_batch, writer_properties};

const SERVICES: usize = 50;
const DAYS: i64 = 30;

/// One minute of a service: 100 requests, 1 error, latencies 5–500 ms.
fn template() -> SliRollup {
    let mut rollup = SliRollup::default();
    for i in 0..100u64 {
        rollup.record((5 + i * i % 500) * 1_000_000, i == 42);
    }
    rollup
}

fn write_month(root: &std::path::Path, now: i64) {
    let tenant = Tenant::default_tenant();
    let template = template();
    let first = Minute::of_nanos(now).plus(-(DAYS * 24 * 60));
    for hour in 0..DAYS * 24 {
        let mut rows = Vec::with_capacity(SERVICES * 60);
        for minute in 0..60 {
            let minute = first.plus(hour * 60 + minute);
            for s in 0..SERVICES {
                rows.push(RollupRow {
                    key: RollupKey::new(tenant.clone(), format!("svc-{s}"), "op", SpanKind::Server),
                    minute,
                    rollup: template.clone(),
                });
            }
        }
        let batch = sort_batch(Table::Rollups, &rollup_batch(&rows)).expect("sort");
        let bytes = encode_parquet(
            Table::Rollups,
            &batch,
            writer_properties(Table::Rollups, 100_000, 3, vec![]),
        )
        .expect("encode");
        let partition = PartitionHour::of_nanos(first.plus(hour * 60).start_nanos());
        let dir = root.join("default/sluice_rollups").join(partition.path());
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join("bench.parquet"), bytes).expect("write");
    }
}

fn definitions() -> SloDefinitions {
    #[derive(serde::Deserialize)]
    struct File {
        slo: SloDefinitions,
    }
    let mut text = String::new();
    for s in 0..20 {
        let sli = if s % 2 == 0 {
            "sli = \"availability\""
        } else {
            "sli = \"latency\"\nthreshold = \"300ms\""
        };
        text.push_str(&format!(
            "[[slo]]\nname = \"slo-{s}\"\nservice = \"svc-{s}\"\n{sli}\nobjective = 0.99\nwindow = \"30d\"\n\n"
        ));
    }
    toml::from_str::<File>(&text)
        .expect("valid definitions")
        .slo
}

fn bench_slos(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .expect("clock");
    write_month(dir.path(), now);
    let store = Arc::new(LocalFileSystem::new_with_prefix(dir.path()).expect("store"));
    let sql = SqlEngine::new(store, QueryConfig::default());
    let engine = SloEngine::new(sql.clone(), definitions());
    let tenant = Tenant::default_tenant();
    // Every written minute inside the 30-day window counts 100 requests.
    let window = MinuteRange::last_n(now, DAYS * 24 * 60);
    let first = Minute::of_nanos(now).plus(-(DAYS * 24 * 60));
    let expected = (0..DAYS * 24 * 60)
        .filter(|i| window.contains(first.plus(*i)))
        .count() as u64
        * 100;
    let check = |statuses: Vec<sluice_slo::SloStatus>| {
        assert_eq!(statuses.len(), 20);
        for status in &statuses {
            assert_eq!(status.valid_events, expected, "{}", status.name);
        }
    };

    let mut group = c.benchmark_group("slo");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    group.bench_function("first_statuses_after_start", |b| {
        b.iter(|| {
            let fresh = SloEngine::new(sql.clone(), definitions());
            check(
                runtime
                    .block_on(fresh.statuses(&tenant, now, |_| true))
                    .expect("statuses"),
            );
        })
    });
    runtime.block_on(engine.warm());
    group.bench_function("statuses_20_slos_30_days_50_services", |b| {
        b.iter(|| {
            check(
                runtime
                    .block_on(engine.statuses(&tenant, now, |_| true))
                    .expect("statuses"),
            );
        })
    });
    for (name, minutes, step) in [
        ("golden_signals_1_hour_1m_step", 60, "1m"),
        ("golden_signals_1_day_5m_step", 24 * 60, "5m"),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let request = SeriesRequest {
                    service: "svc-7".into(),
                    operation: None,
                    from: now - minutes * 60_000_000_000,
                    to: now,
                    step: step.parse::<StepDuration>().expect("step"),
                };
                let series = runtime
                    .block_on(golden_signals(&engine, &tenant, request))
                    .expect("series");
                let requests: u64 = series.points.iter().map(|p| p.requests).sum();
                assert!(requests >= (minutes as u64 - 1) * 100, "{requests}");
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_slos);
criterion_main!(benches);
