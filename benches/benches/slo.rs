//! SLO answers over a month of rollups: `SloEngine::statuses` for 20 SLOs
//! (10 availability, 10 latency) over 30 days of per-minute rollups of 50
//! services, read from Parquet through DataFusion as `/api/v1/slos` does.
//!
//! Setup writes 30 × 24 hourly `sluice_rollups` files (50 services × 60
//! minutes each, 2.16 M rows in all) into a temporary directory, once.
//!
//! Run with `cargo bench -p sluice-benches --bench slo`.

use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use object_store::local::LocalFileSystem;
use sluice_model::Table;
use sluice_model::Tenant;
use sluice_model::time::PartitionHour;
use sluice_pipeline::shard::rollup_batch;
use sluice_query::{QueryConfig, SloEngine, SqlEngine};
use sluice_slo::{Minute, RollupKey, RollupRow, SliRollup, SloDefinitions, SpanKind};
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
    let engine = SloEngine::new(sql, definitions());
    let tenant = Tenant::default_tenant();

    let mut group = c.benchmark_group("slo");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    group.bench_function("statuses_20_slos_30_days_50_services", |b| {
        b.iter(|| {
            let statuses = runtime
                .block_on(engine.statuses(&tenant, now, |_| true))
                .expect("statuses");
            assert_eq!(statuses.len(), 20);
            assert!(statuses[0].valid_events > (DAYS - 1) as u64 * 24 * 60 * 100);
        })
    });
    group.finish();
}

criterion_group!(benches, bench_slos);
criterion_main!(benches);
