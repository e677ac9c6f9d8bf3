//! Retention: removes whole partitions, oldest first, once they are older than
//! `storage.retention` or while the stored data is larger than
//! `storage.max_total_bytes`.
//!
//! Runs on a timer through `object_store`, so it works the same on a local
//! directory and a bucket. Only paths of the storage layout are considered
//! (`<tenant>/<table>/date=…/hour=…/*.parquet`); anything else under the root,
//! such as the WAL directory, is left alone. The partition of the current hour
//! is never removed for size alone: data still arriving is not thrown away.

use std::collections::BTreeMap;
use std::path::Path as FsPath;
use std::sync::Arc;

use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use sluice_model::time::PartitionHour;
use sluice_model::{Table, Tenant};

use crate::StorageError;

const NANOS_PER_HOUR: i64 = 3_600 * 1_000_000_000;

/// What may stay.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Partitions whose hour ended longer ago than this go.
    pub max_age_nanos: Option<u64>,
    /// Oldest partitions go while the total is above this.
    pub max_total_bytes: Option<u64>,
}

/// What one pass removed and what is left.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionReport {
    pub partitions_removed: usize,
    pub bytes_removed: u64,
    pub bytes_kept: u64,
}

#[derive(Debug, Default)]
struct Partition {
    objects: Vec<Path>,
    bytes: u64,
}

/// The partition an object of the storage layout belongs to.
fn partition_of(path: &Path) -> Option<(PartitionHour, Tenant, Table)> {
    let parts: Vec<_> = path.parts().collect();
    if parts.len() != 5 || !parts[4].as_ref().ends_with(".parquet") {
        return None;
    }
    let tenant: Tenant = parts[0].as_ref().parse().ok()?;
    let table = Table::from_name(parts[1].as_ref())?;
    let hour = PartitionHour::from_path_segments(parts[2].as_ref(), parts[3].as_ref())?;
    Some((hour, tenant, table))
}

/// Applies `policy` once at time `now_nanos`. `local_dir` is the directory
/// behind `store` when it is one, so emptied partition directories go too.
pub async fn enforce(
    store: &Arc<dyn ObjectStore>,
    policy: RetentionPolicy,
    now_nanos: i64,
    local_dir: Option<&FsPath>,
) -> Result<RetentionReport, StorageError> {
    let mut report = RetentionReport::default();
    if policy == RetentionPolicy::default() {
        return Ok(report);
    }
    let list_err = |source| StorageError::Put {
        path: "/".into(),
        source,
    };
    let objects: Vec<_> = store.list(None).try_collect().await.map_err(list_err)?;
    let mut partitions: BTreeMap<(PartitionHour, Tenant, Table), Partition> = BTreeMap::new();
    let mut total = 0;
    for object in objects {
        if let Some(key) = partition_of(&object.location) {
            let partition = partitions.entry(key).or_default();
            partition.bytes += object.size;
            partition.objects.push(object.location);
            total += object.size;
        }
    }
    let current_hour = PartitionHour::of_nanos(now_nanos);
    for ((hour, tenant, table), partition) in partitions {
        let hour_end = hour.start_nanos().saturating_add(NANOS_PER_HOUR);
        let too_old = policy.max_age_nanos.is_some_and(|age| {
            now_nanos.saturating_sub(hour_end) > i64::try_from(age).unwrap_or(i64::MAX)
        });
        let too_big = policy.max_total_bytes.is_some_and(|max| total > max) && hour < current_hour;
        if !(too_old || too_big) {
            continue;
        }
        for object in &partition.objects {
            match store.delete(object).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(source) => {
                    return Err(StorageError::Put {
                        path: object.to_string(),
                        source,
                    });
                }
            }
        }
        if let Some(dir) = local_dir {
            let hour_dir = dir
                .join(tenant.as_str())
                .join(table.name())
                .join(hour.path());
            let _ = std::fs::remove_dir(&hour_dir);
            if let Some(date_dir) = hour_dir.parent() {
                let _ = std::fs::remove_dir(date_dir);
            }
        }
        tracing::info!(tenant = %tenant, table = table.name(), partition = %hour, bytes = partition.bytes, reason = if too_old { "age" } else { "size" }, "partition removed by retention");
        total -= partition.bytes;
        report.partitions_removed += 1;
        report.bytes_removed += partition.bytes;
    }
    report.bytes_kept = total;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::PutPayload;
    use object_store::local::LocalFileSystem;

    const HOUR: i64 = NANOS_PER_HOUR;

    async fn put(store: &Arc<dyn ObjectStore>, path: &str, bytes: usize) {
        store
            .put(&Path::from(path), PutPayload::from(vec![0u8; bytes]))
            .await
            .expect("put");
    }

    async fn layout(dir: &FsPath) -> Arc<dyn ObjectStore> {
        let store: Arc<dyn ObjectStore> =
            Arc::new(LocalFileSystem::new_with_prefix(dir).expect("store"));
        // 2024-05-06 hours 05, 06 and 07, plus things retention must not touch.
        put(
            &store,
            "default/otel_traces/date=2024-05-06/hour=05/a.parquet",
            100,
        )
        .await;
        put(
            &store,
            "default/otel_logs/date=2024-05-06/hour=06/b.parquet",
            200,
        )
        .await;
        put(
            &store,
            "team-a/otel_traces/date=2024-05-06/hour=07/c.parquet",
            300,
        )
        .await;
        put(&store, ".wal/wal-00000000000000000001.log", 1000).await;
        put(&store, "default/otel_traces/notes.txt", 10).await;
        store
    }

    /// 2024-05-06T07:30:00Z
    const NOW: i64 = 1_714_980_600_000_000_000;

    #[tokio::test]
    async fn removes_partitions_past_the_age_oldest_first() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = layout(dir.path()).await;
        let policy = RetentionPolicy {
            max_age_nanos: Some(HOUR as u64),
            max_total_bytes: None,
        };
        let report = enforce(&store, policy, NOW, Some(dir.path()))
            .await
            .expect("enforce");
        // Hour 05 ended 1.5 h ago; hour 06 ended 30 min ago.
        assert_eq!(report.partitions_removed, 1);
        assert_eq!(report.bytes_removed, 100);
        assert!(
            !dir.path()
                .join("default/otel_traces/date=2024-05-06/hour=05")
                .exists()
        );
        assert!(
            dir.path()
                .join("default/otel_logs/date=2024-05-06/hour=06/b.parquet")
                .exists()
        );
        assert!(
            dir.path()
                .join(".wal/wal-00000000000000000001.log")
                .exists()
        );
        assert!(dir.path().join("default/otel_traces/notes.txt").exists());
    }

    #[tokio::test]
    async fn removes_the_oldest_partitions_until_under_the_size_but_never_the_current_hour() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = layout(dir.path()).await;
        let policy = RetentionPolicy {
            max_age_nanos: None,
            max_total_bytes: Some(350),
        };
        let report = enforce(&store, policy, NOW, Some(dir.path()))
            .await
            .expect("enforce");
        assert_eq!(report.partitions_removed, 2, "{report:?}");
        assert_eq!(report.bytes_kept, 300);
        let report = enforce(
            &store,
            RetentionPolicy {
                max_age_nanos: None,
                max_total_bytes: Some(1),
            },
            NOW,
            None,
        )
        .await
        .expect("enforce");
        assert_eq!(report.partitions_removed, 0, "the current hour stays");
    }
}
