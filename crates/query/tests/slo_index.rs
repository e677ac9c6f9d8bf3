//! The SLO index against a real store: answers follow the rollup files as
//! they appear (new hours, late spans in old hours, other nodes' files), as
//! they disappear, and as the definitions change.

use std::path::Path;
use std::sync::Arc;

use object_store::local::LocalFileSystem;
use sluice_model::time::PartitionHour;
use sluice_model::{Table, Tenant};
use sluice_pipeline::shard::rollup_batch;
use sluice_query::{QueryConfig, SloEngine, SqlEngine};
use sluice_slo::{Minute, RollupKey, RollupRow, SliRollup, SloDefinitions, SpanKind};
use sluice_storage::{encode_parquet, sort_batch, writer_properties};

/// 2026-11-22T12:00:30Z.
const NOW: i64 = 1_795_348_830_000_000_000;
const MINUTE: i64 = 60_000_000_000;

fn definitions(text: &str) -> SloDefinitions {
    #[derive(serde::Deserialize)]
    struct File {
        slo: SloDefinitions,
    }
    toml::from_str::<File>(text).expect("valid definitions").slo
}

const SLOS: &str = r#"
[[slo]]
name = "checkout-availability"
service = "checkout"
sli = "availability"
objective = 0.99
window = "30d"

[[slo]]
name = "checkout-latency"
service = "checkout"
sli = "latency"
threshold = "300ms"
objective = 0.99
window = "30d"
"#;

/// `requests` server spans of `service` in `minute`, `errors` of them
/// failed; every tenth takes 500 ms, the others 10 ms.
fn row(service: &str, kind: SpanKind, minute: Minute, requests: u64, errors: u64) -> RollupRow {
    let mut rollup = SliRollup::default();
    for i in 0..requests {
        let millis = if i % 10 == 9 { 500 } else { 10 };
        rollup.record(millis * 1_000_000, i < errors);
    }
    RollupRow {
        key: RollupKey::new(Tenant::default_tenant(), service, "POST /pay", kind),
        minute,
        rollup,
    }
}

/// Writes `rows` (all in one hour) as a rollup file named `name`; returns
/// its path.
fn write(root: &Path, name: &str, rows: &[RollupRow]) -> std::path::PathBuf {
    let batch = sort_batch(Table::Rollups, &rollup_batch(rows)).expect("sort");
    let bytes = encode_parquet(
        Table::Rollups,
        &batch,
        writer_properties(Table::Rollups, 100_000, 3, vec![]),
    )
    .expect("encode");
    let hour = PartitionHour::of_nanos(rows[0].minute.start_nanos());
    let dir = root.join("default/sluice_rollups").join(hour.path());
    std::fs::create_dir_all(&dir).expect("mkdir");
    let path = dir.join(format!("{name}.parquet"));
    std::fs::write(&path, bytes).expect("write");
    path
}

/// `(valid, good)` of each SLO.
async fn counts(engine: &SloEngine) -> Vec<(u64, u64)> {
    engine
        .statuses(&Tenant::default_tenant(), NOW, |_| true)
        .await
        .expect("statuses")
        .iter()
        .map(|s| (s.valid_events, s.good_events))
        .collect()
}

#[tokio::test]
async fn answers_follow_the_rollup_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(LocalFileSystem::new_with_prefix(dir.path()).expect("store"));
    let engine = SloEngine::new(
        SqlEngine::new(store, QueryConfig::default()),
        definitions(SLOS),
    );
    let now = Minute::of_nanos(NOW);
    assert_eq!(counts(&engine).await, vec![(0, 0), (0, 0)], "no data yet");

    // Ten minutes of this hour; client spans and other services do not count.
    let rows: Vec<RollupRow> = (1..=10)
        .flat_map(|m| {
            [
                row("checkout", SpanKind::Server, now.plus(-m), 100, 2),
                row("checkout", SpanKind::Client, now.plus(-m), 50, 50),
                row("cart", SpanKind::Server, now.plus(-m), 70, 70),
            ]
        })
        .collect();
    let recent = write(dir.path(), "node-a-1", &rows);
    assert_eq!(counts(&engine).await, vec![(1000, 980), (1000, 900)]);

    // Another node's file for the same minutes, and late spans of two days ago.
    write(
        dir.path(),
        "node-b-1",
        &[row("checkout", SpanKind::Server, now.plus(-1), 10, 10)],
    );
    write(
        dir.path(),
        "node-a-2",
        &[row(
            "checkout",
            SpanKind::Server,
            now.plus(-2 * 24 * 60),
            100,
            0,
        )],
    );
    assert_eq!(counts(&engine).await, vec![(1110, 1080), (1110, 999)]);

    // Spans older than the window are not counted.
    write(
        dir.path(),
        "node-a-3",
        &[row(
            "checkout",
            SpanKind::Server,
            now.plus(-31 * 24 * 60),
            100,
            0,
        )],
    );
    assert_eq!(counts(&engine).await, vec![(1110, 1080), (1110, 999)]);

    // A file removed inside the window is no longer counted.
    std::fs::remove_file(recent).expect("remove");
    assert_eq!(counts(&engine).await, vec![(110, 100), (110, 99)]);

    // New definitions (a reload) are answered from the same files.
    engine.replace(definitions(
        &SLOS.replace("threshold = \"300ms\"", "threshold = \"1s\""),
    ));
    assert_eq!(counts(&engine).await, vec![(110, 100), (110, 110)]);
}

#[tokio::test]
async fn the_golden_signals_and_the_index_agree_with_sql() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(LocalFileSystem::new_with_prefix(dir.path()).expect("store"));
    let sql = SqlEngine::new(store, QueryConfig::default());
    let engine = SloEngine::new(sql.clone(), definitions(SLOS));
    let now = Minute::of_nanos(NOW);
    for hour in 0..5 {
        let rows: Vec<RollupRow> = (0..60)
            .map(|m| {
                row(
                    "checkout",
                    SpanKind::Server,
                    now.plus(-hour * 60 - m - 1),
                    10 + m as u64,
                    m as u64 % 3,
                )
            })
            .collect();
        write(dir.path(), &format!("node-a-{hour}"), &rows);
    }
    let stored = sql
        .query_unlimited(
            &Tenant::default_tenant(),
            "SELECT CAST(sum(\"Requests\") AS BIGINT) AS r, CAST(sum(\"Errors\") AS BIGINT) AS e FROM sluice_rollups WHERE \"SpanKind\" = 'Server'",
        )
        .await
        .expect("sql");
    let column = |name: &str| {
        stored.batches[0]
            .column_by_name(name)
            .and_then(|c| {
                c.as_any()
                    .downcast_ref::<arrow::array::Int64Array>()
                    .map(|a| a.value(0) as u64)
            })
            .expect("one sum")
    };
    let (requests, errors) = (column("r"), column("e"));
    assert_eq!(counts(&engine).await[0], (requests, requests - errors));

    let series = sluice_query::sli::golden_signals(
        &engine,
        &Tenant::default_tenant(),
        sluice_query::sli::SeriesRequest {
            service: "checkout".into(),
            operation: Some("POST /pay".into()),
            from: NOW - 6 * 60 * MINUTE,
            to: NOW,
            step: "1h".parse().expect("step"),
        },
    )
    .await
    .expect("series");
    let total: u64 = series.points.iter().map(|p| p.requests).sum();
    let failed: u64 = series.points.iter().map(|p| p.errors).sum();
    assert_eq!((total, failed), (requests, errors));
    assert!(series.points.len() >= 5, "{}", series.points.len());
}
